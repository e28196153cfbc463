//! OAuth2 client credentials, SMART Backend Services style: the app proves who it is with a
//! short-lived JWT signed by its own private key (ES384 or RS384, `private_key_jwt`), posted to
//! the token endpoint with `grant_type=client_credentials`; the access token that comes back is
//! cached and renewed a minute before it expires. The key never leaves the device; neither the
//! key, the assertion nor the access token is logged or printed by `Debug`.
//!
//! Reference: HL7 SMART App Launch 2.x, "Backend Services" (client_assertion_type
//! `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`; claims iss = sub = client id,
//! aud = token URL, exp at most five minutes ahead, a unique jti).

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use serde_json::{json, Value};
use tokio::sync::Mutex;

/// Renew this long before the token's stated expiry.
const RENEW_BEFORE: Duration = Duration::from_secs(60);
/// The longest a token is kept, whatever the server says (an absurd `expires_in` once overflowed
/// the clock and ended the sync task).
const LONGEST_TOKEN_LIFE: Duration = Duration::from_secs(24 * 3600);

/// How long the token endpoint's answer may be used: its `expires_in` (RFC 6749: recommended,
/// not required; five minutes when absent or not a whole number of seconds), at most a day.
fn token_life(answer: &serde_json::Value) -> Duration {
    let secs = answer["expires_in"]
        .as_u64()
        .or_else(|| answer["expires_in"].as_str()?.trim().parse().ok())
        .unwrap_or(300);
    Duration::from_secs(secs).min(LONGEST_TOKEN_LIFE)
}
/// Lifetime of a client assertion (the specification's maximum).
const ASSERTION_SECONDS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Es384,
    Rs384,
}

impl Alg {
    pub fn name(self) -> &'static str {
        match self {
            Alg::Es384 => "ES384",
            Alg::Rs384 => "RS384",
        }
    }
}

/// The `[oauth]` table of sync.toml, with the key read and checked.
#[derive(Clone, PartialEq)]
pub struct ClientCredentials {
    pub token_url: String,
    pub client_id: String,
    pub scope: String,
    /// The key id registered with the server (JWT header `kid`), if the server needs it.
    pub kid: Option<String>,
    pub alg: Alg,
    /// PKCS#8 DER of the private key.
    key: Vec<u8>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("key", &"<hidden>")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KeyError {
    #[error("the key file is not a PEM \"PRIVATE KEY\" (PKCS#8)")]
    NotPem,
    #[error("the key is neither an EC P-384 nor an RSA (2048 bits or more) PKCS#8 key")]
    Unsupported,
}

/// PKCS#8 DER from a PEM "PRIVATE KEY" document.
fn pem_der(pem: &str) -> Result<Vec<u8>, KeyError> {
    let body = pem
        .split("-----BEGIN PRIVATE KEY-----")
        .nth(1)
        .and_then(|r| r.split("-----END PRIVATE KEY-----").next())
        .ok_or(KeyError::NotPem)?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).map_err(|_| KeyError::NotPem)
}

impl ClientCredentials {
    pub fn new(
        token_url: String,
        client_id: String,
        scope: String,
        kid: Option<String>,
        key_pem: &str,
    ) -> Result<Self, KeyError> {
        let key = pem_der(key_pem)?;
        let rng = SystemRandom::new();
        let alg =
            if EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &key, &rng)
                .is_ok()
            {
                Alg::Es384
            } else if RsaKeyPair::from_pkcs8(&key).is_ok() {
                Alg::Rs384
            } else {
                return Err(KeyError::Unsupported);
            };
        Ok(Self {
            token_url,
            client_id,
            scope,
            kid,
            alg,
            key,
        })
    }

    /// A signed client assertion for the token endpoint.
    pub fn assertion(&self, now: chrono::DateTime<chrono::Utc>) -> Result<String, KeyError> {
        let mut header = json!({ "alg": self.alg.name(), "typ": "JWT" });
        if let Some(k) = &self.kid {
            header["kid"] = json!(k);
        }
        let claims = json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_url,
            "iat": now.timestamp(),
            "exp": now.timestamp() + ASSERTION_SECONDS,
            "jti": uuid::Uuid::now_v7().to_string(),
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = SystemRandom::new();
        let sig = match self.alg {
            Alg::Es384 => EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                &self.key,
                &rng,
            )
            .map_err(|_| KeyError::Unsupported)?
            .sign(&rng, input.as_bytes())
            .map_err(|_| KeyError::Unsupported)?
            .as_ref()
            .to_vec(),
            Alg::Rs384 => {
                let pair = RsaKeyPair::from_pkcs8(&self.key).map_err(|_| KeyError::Unsupported)?;
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA384,
                    &rng,
                    input.as_bytes(),
                    &mut out,
                )
                .map_err(|_| KeyError::Unsupported)?;
                out
            }
        };
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

/// Why no access token could be had.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TokenError {
    /// The token endpoint could not be reached or failed (retry later).
    #[error("token endpoint: {0}")]
    Unavailable(String),
    /// The token endpoint refused this client (its OAuth error, never the assertion).
    #[error("the token endpoint refused this client: {0}")]
    Refused(String),
}

/// A cached access token.
#[derive(Clone, Default)]
pub struct TokenCache {
    slot: Arc<Mutex<Option<(String, Instant)>>>,
}

/// Percent-encode a form value.
fn form(s: &str) -> String {
    super::percent_encode(s, b"")
}

impl TokenCache {
    /// Forget the token (the server answered 401 with it).
    pub async fn clear(&self) {
        *self.slot.lock().await = None;
    }

    /// A valid access token: the cached one, or a new one from the token endpoint.
    pub async fn get(
        &self,
        http: &reqwest::Client,
        cc: &ClientCredentials,
    ) -> Result<String, TokenError> {
        let mut slot = self.slot.lock().await;
        if let Some((t, until)) = slot.as_ref() {
            if Instant::now() + RENEW_BEFORE < *until {
                return Ok(t.clone());
            }
        }
        let assertion = cc
            .assertion(chrono::Utc::now())
            .map_err(|e| TokenError::Refused(e.to_string()))?;
        let body = format!(
            "grant_type=client_credentials&scope={}&client_assertion_type={}&client_assertion={}",
            form(&cc.scope),
            form("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            assertion
        );
        let resp = http
            .post(&cc.token_url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                TokenError::Unavailable(if let Some(why) = super::engine::tls_problem(&e) {
                    format!("has a certificate that is not accepted ({why}); name the hospital's CA file in Settings")
                } else if e.is_timeout() {
                    "did not answer in time".into()
                } else {
                    "cannot be reached".into()
                })
            })?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|_| TokenError::Unavailable("the answer was cut off".into()))?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match status {
            200 => {
                let token = v["access_token"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        TokenError::Unavailable("answer without an access_token".into())
                    })?;
                *slot = Some((token.to_string(), Instant::now() + token_life(&v)));
                Ok(token.to_string())
            }
            400 | 401 | 403 => Err(TokenError::Refused(format!(
                "HTTP {status} {}{}",
                v["error"].as_str().unwrap_or("(no error code)"),
                v["error_description"]
                    .as_str()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ))),
            code => Err(TokenError::Unavailable(format!("HTTP {code}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absurd_expires_in_is_capped_and_never_overflows_the_clock() {
        use serde_json::json;
        let day = Duration::from_secs(86_400);
        for (answer, life) in [
            (json!({ "expires_in": 3600 }), Duration::from_secs(3600)),
            (json!({ "expires_in": u64::MAX }), day),
            (json!({ "expires_in": "7200" }), Duration::from_secs(7200)),
            (json!({ "expires_in": -5 }), Duration::from_secs(300)),
            (json!({ "expires_in": 1e300 }), Duration::from_secs(300)),
            (json!({}), Duration::from_secs(300)),
        ] {
            assert_eq!(token_life(&answer), life, "{answer}");
            // The deadline is computable (this overflowed and ended the sync task).
            let _ = Instant::now() + token_life(&answer);
        }
    }

    fn p384_pem() -> (String, Vec<u8>) {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
            .unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            doc.as_ref(),
            &rng,
        )
        .unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(doc.as_ref())
        );
        use ring::signature::KeyPair;
        (pem, pair.public_key().as_ref().to_vec())
    }

    #[test]
    fn the_assertion_is_an_es384_jwt_with_the_backend_services_claims_and_verifies() {
        let (pem, public) = p384_pem();
        let cc = ClientCredentials::new(
            "https://auth.example.org/token".into(),
            "pumpside-or-3".into(),
            "system/Observation.write".into(),
            Some("k1".into()),
            &pem,
        )
        .unwrap();
        assert_eq!(cc.alg, Alg::Es384);
        assert!(!format!("{cc:?}").contains(&pem[30..60]));
        let now = chrono::Utc::now();
        let jwt = cc.assertion(now).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES384");
        assert_eq!(header["kid"], "k1");
        assert_eq!(claims["iss"], "pumpside-or-3");
        assert_eq!(claims["sub"], "pumpside-or-3");
        assert_eq!(claims["aud"], "https://auth.example.org/token");
        assert_eq!(claims["exp"].as_i64().unwrap() - now.timestamp(), 300);
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let key = signature::UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, public);
        key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .expect("signature verifies with the public key");
        // Each assertion is unique (jti).
        assert_ne!(cc.assertion(now).unwrap(), jwt);
    }

    #[test]
    fn a_key_that_is_not_pkcs8_is_refused_with_a_reason() {
        let e = ClientCredentials::new(
            "https://a/t".into(),
            "c".into(),
            "s".into(),
            None,
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----",
        )
        .unwrap_err();
        assert_eq!(e, KeyError::NotPem);
        let junk = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----",
            STANDARD.encode([1u8, 2, 3, 4])
        );
        assert_eq!(
            ClientCredentials::new("https://a/t".into(), "c".into(), "s".into(), None, &junk)
                .unwrap_err(),
            KeyError::Unsupported
        );
    }
}
