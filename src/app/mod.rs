//! Wiring: configuration, the data directory, the services the UI receives as context, and the
//! background tasks (adapter probe, simulator). Nothing here renders.

pub mod calculator;
pub mod case;
pub mod config;
pub mod devices;
pub mod monitor;
pub mod recorder;
pub mod services;

pub use case::{CaseSession, CaseState, WriteError};
pub use config::{AppConfig, ConfigError};
pub use devices::{BoardDevice, DeviceHub, HubEvent};
pub use monitor::{Do2iShown, MonitorView};
pub use services::{Services, StartError};
