//! Bedside devices. The only module that knows btleplug. Today: the adapter probe that decides
//! between real devices and demo mode, and the demo simulator. The devices issue adds sessions,
//! profiles and the serial bridge here.

pub mod adapter;
pub mod simulator;

pub use adapter::{probe_adapter, AdapterProbe};
pub use simulator::{CpbSimulator, SimulatedDevice};
