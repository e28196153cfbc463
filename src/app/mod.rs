//! Wiring: configuration, the data directory, the services the UI receives as context, and the
//! background tasks (adapter probe, simulator). Nothing here renders.

pub mod access;
pub mod calculator;
pub mod case;
pub mod config;
pub mod demo_ecmo;
pub mod devices;
pub mod ecmo;
pub mod keys;
pub mod labs;
pub mod monitor;
pub mod notify;
pub mod recorder;
pub mod services;

pub use case::{CaseSession, CaseState, WriteError};
pub use config::{AppConfig, ConfigError};
pub use devices::{BoardDevice, DeviceHub, HubEvent};
pub use monitor::{Do2iShown, MonitorView};
pub use services::{Services, StartError};

/// What the screens render from the adapters, named here so that `ui` imports only `app` and
/// `domain` (the tidy test in `tests/it/tidy.rs` holds it to that).
pub mod view {
    pub use super::services::{AuditLine, IntegrityStatus, RecordHealth};
    pub use crate::store::{OutboxRow, OutboxState};
    pub use crate::sync::config::{AuthSetting, SyncSettings};
    pub use crate::sync::map::LOCAL_ONLY;
    pub use crate::sync::remote::RemoteRun;
    pub use crate::sync::{SyncState, SyncStatus};
}
