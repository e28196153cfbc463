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
}

impl std::fmt::Debug for SyncConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncConfig")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("create_patients", &self.create_patients)
            .field("batch", &self.batch)
            .field("timeout", &self.timeout)
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
}

/// Whether `url` names this machine (plain http allowed).
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl SyncConfig {
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let f: File = toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        let server = f.server.trim().to_string();
        let rest = if let Some(r) = server.strip_prefix("https://") {
            r
        } else if let Some(r) = server.strip_prefix("http://") {
            let host = r.split(['/', '?']).next().unwrap_or("");
            let host = match host.rsplit_once(':') {
                Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
                _ => host,
            };
            if !is_loopback(host) {
                return Err(ConfigError::NotHttps(server));
            }
            r
        } else {
            return Err(ConfigError::NotUrl(server));
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
        })
    }

    /// `sync.toml` in `dir`: `Ok(None)` when there is none (sync off).
    pub fn load(dir: &Path) -> Result<Option<Self>, ConfigError> {
        match std::fs::read_to_string(dir.join(FILE)) {
            Ok(text) => Self::parse(&text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ConfigError::Syntax(e.to_string())),
        }
    }
}

pub const FILE: &str = "sync.toml";

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
}
