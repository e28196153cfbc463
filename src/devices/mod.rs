//! Bedside devices. The only module that knows btleplug. Today: the adapter probe that decides
//! between real devices and demo mode, the demo simulator, and the pure decoders of the
//! Bluetooth SIG health profiles (`ieee11073`, `profiles`). Sessions and the serial bridge come
//! with the rest of the devices work.

pub mod adapter;
pub mod cdi;
pub mod ieee11073;
pub mod profiles;
pub mod simulator;
pub mod telemetry_profile;

pub use adapter::{probe_adapter, AdapterProbe};
pub use simulator::{CpbSimulator, SimulatedDevice};
