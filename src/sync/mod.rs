//! Sync to the hospital's FHIR R4 server. The only module that knows FHIR JSON: `map` turns the
//! record into resources, `engine` plans them into the store's append-only outbox and uploads
//! them as transaction Bundles, `config` reads `sync.toml`, `fhir` maps checklists to
//! Questionnaire / QuestionnaireResponse, `pull` reads followed patients' runs back for the
//! on-call view (and laboratory results for a live case) and `remote` turns them into what that
//! view shows. Pure parts, tested without a server: `codes` (every code sent, with its source),
//! `answer` (a server's answer → a verdict; the Bundle sizer), `capability` (what a
//! CapabilityStatement lacks) and `labs` (pulled laboratory Observations → results to offer).

pub mod answer;
pub mod auth;
pub mod capability;
pub mod codes;
pub mod codesystem;
pub mod config;
pub mod engine;
pub mod fhir;
pub mod labs;
pub mod map;
pub mod notes;
pub mod pull;
pub mod remote;

pub use config::SyncConfig;
pub use engine::{SyncEngine, SyncError, SyncStatus};

/// What the status bar and the Sync screen say about sync.
#[derive(Debug, Clone, PartialEq)]
// One value lives in a watch channel; its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum SyncState {
    /// No server configured: everything stays on this device.
    NotConfigured,
    /// `sync.toml` is present but unusable; the reason.
    Misconfigured(String),
    Active(SyncStatus),
}

impl SyncState {
    pub fn short(&self) -> String {
        match self {
            SyncState::NotConfigured => "Sync off (local only)".to_string(),
            SyncState::Misconfigured(_) => "Sync settings invalid".to_string(),
            SyncState::Active(s) => {
                if s.task_down {
                    "Sync stopped: restarting".to_string()
                } else if s.paused.is_some() {
                    "Sync paused: credentials".to_string()
                } else if s.conflicts > 0 {
                    format!("{} conflict(s) to resolve", s.conflicts)
                } else if let Some((done, total)) = s.progress {
                    format!("Uploading {done}/{total}")
                } else if s.pending == 0
                    && s.rejected == 0
                    && s.last_error.is_none()
                    && s.task_fault.is_none()
                {
                    "Synced".to_string()
                } else if s.pending == 0 && s.rejected == 0 {
                    // Nothing waits, but the last run failed (a pull, a search): never "Synced".
                    "Sync problem: see Sync".to_string()
                } else if s.rejected > 0 && s.pending == 0 {
                    format!("{} rejected: see Sync", s.rejected)
                } else if s.last_error.is_some() {
                    format!("{} to sync (retrying)", s.pending)
                } else {
                    format!("{} to sync", s.pending)
                }
            }
        }
    }
}

/// Percent-encode everything but ASCII letters, digits, `-._~` and the bytes in `keep`.
fn percent_encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status bar says "Synced" only when nothing waits, nothing was refused and the last
    /// run ended without an error.
    #[test]
    fn synced_only_when_nothing_waits_and_nothing_failed() {
        let status = |pending, rejected, error: Option<&str>| {
            SyncState::Active(SyncStatus {
                pending,
                rejected,
                last_error: error.map(String::from),
                ..SyncStatus::default()
            })
            .short()
        };
        assert_eq!(status(0, 0, None), "Synced");
        assert_eq!(
            status(0, 0, Some("redirect refused")),
            "Sync problem: see Sync"
        );
        assert_eq!(status(0, 2, None), "2 rejected: see Sync");
        assert_eq!(status(3, 0, Some("HTTP 503")), "3 to sync (retrying)");
        assert_eq!(status(3, 0, None), "3 to sync");
        // The task died: never "Synced", while it waits and until a run ends well after it.
        let down = SyncState::Active(SyncStatus {
            task_down: true,
            task_fault: Some("internal fault".into()),
            ..SyncStatus::default()
        });
        assert_eq!(down.short(), "Sync stopped: restarting");
        let restarted = SyncState::Active(SyncStatus {
            task_fault: Some("internal fault".into()),
            ..SyncStatus::default()
        });
        assert_eq!(restarted.short(), "Sync problem: see Sync");
    }
}
