//! Where records go: `sync.toml` in the data directory. Without it, everything stays on this
//! device. HTTPS is required except for loopback; the token is never printed (not even by
//! `Debug`).
//!
//! ```toml
//! server = "https://fhir.example-hospital.org/R4/"
//! token = "…"                  # bearer token; or token_file = "/path/readable/by/the/app"
//! create_patients = false      # test and demo servers only: create a missing Patient
//! batch = 100                  # operations per transaction Bundle
//! timeout_s = 30
//! pull_page = 200              # resources per search page when pulling for the on-call view
//! pull_window_s = 300          # each poll re-reads this far before its cursor (late commits)
//!
//! # Instead of a token: OAuth2 client credentials, SMART Backend Services style (see `auth`).
//! [oauth]
//! token_url = "https://auth.example-hospital.org/token"
//! client_id = "pumpside-or-3"
//! key_file = "/path/to/private-key.pem"    # PKCS#8, EC P-384 (ES384) or RSA (RS384)
//! scope = "system/*.read system/*.write"   # the default
//! kid = "2026-11"                          # optional key id
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

#[derive(Clone, PartialEq)]
pub struct SyncConfig {
    /// Base URL of the FHIR server, ending with `/`.
    pub base: String,
    pub token: Option<String>,
    /// Only for test and demo servers: a Patient not found by MRN is created (conditional
    /// create). In production the hospital owns Patient and Encounter.
    pub create_patients: bool,
    pub batch: usize,
    pub timeout: Duration,
    /// OAuth2 client credentials instead of a fixed token.
    pub oauth: Option<super::auth::ClientCredentials>,
    /// `_count` of a pull's searches.
    pub pull_page: usize,
    /// How far before its cursor each poll starts again.
    pub pull_window: Duration,
    /// The hospital's own certificate authority, trusted in addition to the OS store and the
    /// built-in roots.
    pub ca: Option<CaBundle>,
}

/// A PEM file of CA certificates named in `sync.toml` (`ca_file`) or on the Settings screen.
#[derive(Debug, Clone, PartialEq)]
pub struct CaBundle {
    /// As given; a relative path is read from the data folder.
    pub path: String,
    pub pem: Vec<u8>,
    /// How many certificates the file holds (at least one).
    pub certificates: usize,
}

impl CaBundle {
    /// Read and check a CA file: readable, PEM, at least one certificate.
    pub fn read(path: &str, dir: Option<&Path>) -> Result<Self, ConfigError> {
        let p = Path::new(path.trim());
        let full = match dir {
            Some(d) if p.is_relative() => d.join(p),
            _ => p.to_path_buf(),
        };
        let bad = |why: String| ConfigError::CaFile {
            path: path.trim().to_string(),
            why,
        };
        let pem = std::fs::read(&full).map_err(|e| bad(e.to_string()))?;
        let certs = super::engine::ca_certificates(&pem)
            .map_err(|_| bad("it is not a PEM file of certificates".into()))?;
        if certs == 0 {
            return Err(bad(
                "it holds no certificate (expected -----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        Ok(Self {
            path: path.trim().to_string(),
            pem,
            certificates: certs,
        })
    }
}

impl std::fmt::Debug for SyncConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncConfig")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("create_patients", &self.create_patients)
            .field("batch", &self.batch)
            .field("timeout", &self.timeout)
            .field("pull_page", &self.pull_page)
            .field("pull_window", &self.pull_window)
            .field("oauth", &self.oauth)
            .field("ca", &self.ca.as_ref().map(|c| &c.path))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("sync.toml: {0}")]
    Syntax(String),
    #[error("sync.toml: server {0:?} is not an http(s) URL")]
    NotUrl(String),
    #[error("sync.toml: server {0:?} must use https (plain http is allowed for loopback only)")]
    NotHttps(String),
    #[error("sync.toml: cannot read token_file {path}: {why}")]
    TokenFile { path: String, why: String },
    #[error("sync.toml: batch must be between 1 and 1000, got {0}")]
    Batch(usize),
    #[error("sync.toml: pull_page must be between 1 and 1000, got {0}")]
    PullPage(usize),
    #[error("sync.toml: give either token/token_file or [oauth], not both")]
    TwoCredentials,
    #[error("sync.toml: [oauth] token_url {0:?} must be https (plain http is allowed for loopback only)")]
    TokenUrl(String),
    #[error("sync.toml: [oauth] key_file {path}: {why}")]
    KeyFile { path: String, why: String },
    #[error("sync.toml: ca_file {path}: {why}")]
    CaFile { path: String, why: String },
    #[error("sync.toml could not be written: {0}")]
    Write(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    server: String,
    token: Option<String>,
    token_file: Option<String>,
    #[serde(default)]
    create_patients: bool,
    batch: Option<usize>,
    timeout_s: Option<u64>,
    pull_page: Option<usize>,
    pull_window_s: Option<u64>,
    ca_file: Option<String>,
    oauth: Option<OAuthFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthFile {
    token_url: String,
    client_id: String,
    key_file: String,
    scope: Option<String>,
    kid: Option<String>,
}

/// Whether `url` is https, or http to this machine.
fn secure_url(url: &str) -> Option<&str> {
    if let Some(r) = url.strip_prefix("https://") {
        return Some(r);
    }
    let r = url.strip_prefix("http://")?;
    let host = r.split(['/', '?']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    is_loopback(host).then_some(r)
}

/// Whether `url` names this machine (plain http allowed).
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A TOML error in `text` said by line and key, never by quoting the file: toml's own message
/// shows the offending line (a bearer token on it would reach stderr and the Settings screen),
/// and a type error can quote the value. A message that still holds any fragment of a secret
/// value in the file is replaced by one that names the key only.
fn syntax_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let line = e
        .span()
        .map(|s| crate::domain::validation::line_at(text, s.start))
        .unwrap_or(1);
    let key = text
        .lines()
        .nth(line.saturating_sub(1))
        .and_then(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()))
        .filter(|k| !k.is_empty() && k.len() <= 40 && !k.contains(char::is_whitespace))
        .unwrap_or_else(|| "?".into());
    let mut problem = e.message().trim().to_string();
    let secret = |k: &str| {
        ["token", "secret", "password", "key"]
            .iter()
            .any(|w| k.contains(w))
    };
    let leaks = text.lines().any(|l| match l.split_once('=') {
        Some((k, v)) if secret(&k.trim().to_ascii_lowercase()) => {
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
            v.len() >= 4
                && (problem.contains(v)
                    || v.as_bytes()
                        .windows(6)
                        .any(|w| std::str::from_utf8(w).is_ok_and(|w| problem.contains(w))))
        }
        _ => false,
    });
    if leaks || secret(&key.to_ascii_lowercase()) {
        problem = "the value is not valid here (not shown: it may be a secret)".into();
    }
    ConfigError::Syntax(format!("line {line} ({key}): {problem}"))
}

impl SyncConfig {
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        Self::parse_in(text, None)
    }

    /// Parse with relative file names (the CA file) read from `dir`, the data folder.
    pub fn parse_in(text: &str, dir: Option<&Path>) -> Result<Self, ConfigError> {
        let f: File = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
        let server = f.server.trim().to_string();
        let rest = match secure_url(&server) {
            Some(r) => r,
            None if server.starts_with("http://") => return Err(ConfigError::NotHttps(server)),
            None => return Err(ConfigError::NotUrl(server)),
        };
        if rest.is_empty() || rest.starts_with('/') {
            return Err(ConfigError::NotUrl(server));
        }
        let token = match (f.token, f.token_file) {
            (Some(t), _) => Some(t.trim().to_string()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| ConfigError::TokenFile {
                        path: path.clone(),
                        why: e.to_string(),
                    })?
                    .trim()
                    .to_string(),
            ),
            (None, None) => None,
        };
        let batch = f.batch.unwrap_or(100);
        if !(1..=1000).contains(&batch) {
            return Err(ConfigError::Batch(batch));
        }
        let oauth = match f.oauth {
            None => None,
            Some(_) if token.is_some() => return Err(ConfigError::TwoCredentials),
            Some(o) => {
                let url = o.token_url.trim().to_string();
                if secure_url(&url).is_none_or(|r| r.is_empty() || r.starts_with('/')) {
                    return Err(ConfigError::TokenUrl(url));
                }
                let pem =
                    std::fs::read_to_string(&o.key_file).map_err(|e| ConfigError::KeyFile {
                        path: o.key_file.clone(),
                        why: e.to_string(),
                    })?;
                Some(
                    super::auth::ClientCredentials::new(
                        url,
                        o.client_id,
                        o.scope
                            .unwrap_or_else(|| "system/*.read system/*.write".to_string()),
                        o.kid,
                        &pem,
                    )
                    .map_err(|e| ConfigError::KeyFile {
                        path: o.key_file.clone(),
                        why: e.to_string(),
                    })?,
                )
            }
        };
        let pull_page = f.pull_page.unwrap_or(200);
        if !(1..=1000).contains(&pull_page) {
            return Err(ConfigError::PullPage(pull_page));
        }
        let base = if server.ends_with('/') {
            server
        } else {
            format!("{server}/")
        };
        Ok(Self {
            base,
            token,
            create_patients: f.create_patients,
            batch,
            timeout: Duration::from_secs(f.timeout_s.unwrap_or(30).clamp(1, 600)),
            oauth,
            pull_page,
            pull_window: Duration::from_secs(f.pull_window_s.unwrap_or(300).min(86_400)),
            ca: f
                .ca_file
                .filter(|p| !p.trim().is_empty())
                .map(|p| CaBundle::read(&p, dir))
                .transpose()?,
        })
    }

    /// `sync.toml` in `dir`: `Ok(None)` when there is none (sync off).
    pub fn load(dir: &Path) -> Result<Option<Self>, ConfigError> {
        match std::fs::read_to_string(dir.join(FILE)) {
            Ok(text) => Self::parse_in(&text, Some(dir)).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ConfigError::Syntax(e.to_string())),
        }
    }
}

pub const FILE: &str = "sync.toml";

/// How the app proves itself to the server, as typed on the Settings screen.
#[derive(Clone, PartialEq)]
pub enum AuthSetting {
    None,
    Token(String),
    ClientCredentials {
        token_url: String,
        client_id: String,
        key_file: String,
        scope: String,
    },
}

/// What the Settings screen edits; written to `sync.toml` only if it parses as a usable
/// configuration (the key file readable, https, …).
#[derive(Clone, PartialEq)]
pub struct SyncSettings {
    pub server: String,
    pub auth: AuthSetting,
    pub create_patients: bool,
    /// The hospital's CA file (PEM), empty for none.
    pub ca_file: String,
}

/// A TOML basic string.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.trim().chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl SyncSettings {
    pub fn to_toml(&self) -> String {
        let mut t = format!(
            "# Written by Pumpside's Settings screen.\nserver = {}\ncreate_patients = {}\n",
            quoted(&self.server),
            self.create_patients
        );
        if !self.ca_file.trim().is_empty() {
            t.push_str(&format!("ca_file = {}\n", quoted(&self.ca_file)));
        }
        match &self.auth {
            AuthSetting::None => {}
            AuthSetting::Token(tok) => t.push_str(&format!("token = {}\n", quoted(tok))),
            AuthSetting::ClientCredentials {
                token_url,
                client_id,
                key_file,
                scope,
            } => {
                t.push_str(&format!(
                    "\n[oauth]\ntoken_url = {}\nclient_id = {}\nkey_file = {}\n",
                    quoted(token_url),
                    quoted(client_id),
                    quoted(key_file)
                ));
                if !scope.trim().is_empty() {
                    t.push_str(&format!("scope = {}\n", quoted(scope)));
                }
            }
        }
        t
    }

    /// Check the settings, then replace `sync.toml` in `dir` atomically (a temporary file,
    /// fsync, rename), readable by this user only. Nothing is written if they are unusable.
    pub fn save(&self, dir: &Path) -> Result<SyncConfig, ConfigError> {
        let text = self.to_toml();
        let config = SyncConfig::parse_in(&text, Some(dir))?;
        let write = |e: std::io::Error| ConfigError::Write(e.to_string());
        let tmp = dir.join(format!("{FILE}.tmp"));
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp).map_err(write)?;
            f.write_all(text.as_bytes()).map_err(write)?;
            f.sync_all().map_err(write)?;
        }
        std::fs::rename(&tmp, dir.join(FILE)).map_err(write)?;
        Ok(config)
    }
}

impl SyncConfig {
    /// How the Settings screen describes the credentials in force (never the secret).
    pub fn auth_summary(&self) -> String {
        match (&self.oauth, &self.token) {
            (Some(cc), _) => format!(
                "OAuth2 client credentials: client {} at {} ({})",
                cc.client_id,
                cc.token_url,
                cc.alg.name()
            ),
            (None, Some(_)) => "bearer token (set, not shown)".to_string(),
            (None, None) => "none".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_required_except_for_loopback_and_the_token_never_prints() {
        let c = SyncConfig::parse("server = \"https://fhir.example.org/R4\"\ntoken = \"s3cret\"")
            .unwrap();
        assert_eq!(c.base, "https://fhir.example.org/R4/");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(SyncConfig::parse("server = \"http://127.0.0.1:8080/\"").is_ok());
        assert!(SyncConfig::parse("server = \"http://localhost/fhir\"").is_ok());
        assert_eq!(
            SyncConfig::parse("server = \"http://fhir.example.org/\"").unwrap_err(),
            ConfigError::NotHttps("http://fhir.example.org/".into())
        );
        assert!(matches!(
            SyncConfig::parse("server = \"ftp://x/\""),
            Err(ConfigError::NotUrl(_))
        ));
        assert!(matches!(
            SyncConfig::parse("server = \"https://x/\"\nbatch = 0"),
            Err(ConfigError::Batch(0))
        ));
        assert!(matches!(
            SyncConfig::parse("sever = \"https://x/\""),
            Err(ConfigError::Syntax(_))
        ));
    }

    /// Malformed files with a bearer token in them: the error names the line and key, and no
    /// piece of the token reaches the message (which goes to stderr and the Settings screen).
    #[test]
    fn a_malformed_file_is_reported_by_line_and_key_without_the_token() {
        let token = "eyJhbGciOiJSUzI1NiJ9.SECRET-PAYLOAD.sig";
        let cases = [
            format!("server = \"https://x/\"\ntoken = {token}\n"),
            format!("server = \"https://x/\"\ntoken = \"{token}\n"),
            format!("server = \"https://x/\"\ntoken = \"{token}\"\ntoken = \"{token}\"\n"),
            format!("server = \"https://x/\"\ntoken = [\"{token}\"]\n"),
            format!("server = \"https://x/\"\ntoken = \"{token}\"\nbatch = \"many\"\n"),
            format!("server = \"https://x/\"\ntoken = \"\u{7}{token}\"\n"),
            format!("[oauth]\ntoken_url = \"https://a/\"\nserver = \"{token}\"\n"),
        ];
        for text in cases {
            let e = SyncConfig::parse(&text).unwrap_err().to_string();
            for piece in ["SECRET", "eyJhbGci", "PAYLOAD", ".sig"] {
                assert!(!e.contains(piece), "{piece} printed in {e:?} for {text:?}");
            }
            assert!(e.starts_with("sync.toml: line "), "{e}");
        }
        // A mistake elsewhere is still said plainly.
        let e = SyncConfig::parse("server = \"https://x/\"\nbatch = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2 (batch)"), "{e}");
        assert!(e.contains("invalid type"), "{e}");
    }

    #[test]
    fn settings_are_written_only_when_usable_and_quoted_safely() {
        let dir = std::env::temp_dir().join(format!("pumpside-cfg-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = SyncSettings {
            server: "http://fhir.example.org/".into(),
            auth: AuthSetting::None,
            create_patients: false,
            ca_file: String::new(),
        };
        assert!(matches!(bad.save(&dir), Err(ConfigError::NotHttps(_))));
        assert!(!dir.join(FILE).exists(), "nothing written");
        let good = SyncSettings {
            server: " https://fhir.example.org/R4 ".into(),
            auth: AuthSetting::Token("a\"b\\c".into()),
            create_patients: false,
            ca_file: String::new(),
        };
        let c = good.save(&dir).unwrap();
        assert_eq!(c.token.as_deref(), Some("a\"b\\c"));
        assert_eq!(c.base, "https://fhir.example.org/R4/");
        assert_eq!(c.auth_summary(), "bearer token (set, not shown)");
        let again = SyncConfig::load(&dir).unwrap().unwrap();
        assert_eq!(again, c);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let missing_key = SyncSettings {
            server: "https://fhir.example.org/".into(),
            auth: AuthSetting::ClientCredentials {
                token_url: "https://auth.example.org/token".into(),
                client_id: "c".into(),
                key_file: dir.join("absent.pem").display().to_string(),
                scope: String::new(),
            },
            create_patients: false,
            ca_file: String::new(),
        };
        assert!(matches!(
            missing_key.save(&dir),
            Err(ConfigError::KeyFile { .. })
        ));
        assert_eq!(
            SyncConfig::load(&dir).unwrap().unwrap(),
            c,
            "the old file stands"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
