//! Sync to the hospital's FHIR R4 server. The only module that will know FHIR JSON. Today it
//! only reports its state to the status bar; the sync issue adds the outbox, the mapping and the
//! transport here. `fhir` maps checklists to Questionnaire / QuestionnaireResponse.

pub mod fhir;

/// What the status bar and the Sync screen say about sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncState {
    /// No server configured: everything stays on this device.
    NotConfigured,
    /// Configured and idle, with the number of records waiting to upload.
    Idle { pending: u64 },
}

impl SyncState {
    pub fn short(&self) -> String {
        match self {
            SyncState::NotConfigured => "Sync off (local only)".to_string(),
            SyncState::Idle { pending: 0 } => "Synced".to_string(),
            SyncState::Idle { pending } => format!("{pending} to sync"),
        }
    }
}
