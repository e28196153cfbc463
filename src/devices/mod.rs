//! Bedside devices. The only module that knows btleplug. Today: the adapter probe that decides
//! between real devices and demo mode, the demo simulator, and the pure decoders of the
//! Bluetooth SIG health profiles (`ieee11073`, `profiles`), the CDI serial protocol (`cdi`), our
//! telemetry profile, the per-connection decoder (`gatt`), device sessions over a small
//! [`Link`] trait (`session`), its btleplug implementation (`ble`) and an in-memory one
//! (`memory`) that the simulators and tests drive.

pub mod adapter;
#[cfg(target_os = "android")]
pub mod android;
pub mod ble;
pub mod cdi;
pub mod gatt;
pub mod ieee11073;
pub mod link;
pub mod memory;
pub mod profiles;
#[cfg(test)]
mod proptests;
pub mod session;
pub mod simulator;
pub mod telemetry_profile;

pub use adapter::{probe_adapter, AdapterProbe};
pub use link::{Link, LinkError, LinkEvent};
pub use session::{run_session, DeviceInfo, LinkState, Measurement, SessionConfig, SessionEvent};
pub use simulator::CpbSimulator;
