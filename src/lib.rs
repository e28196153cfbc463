//! Pumpside: an open, vendor-neutral companion app for clinical perfusionists.
//!
//! Not cleared for clinical use. See `ARCHITECTURE.md` for the codemap and the invariants each
//! module keeps.

pub mod app;
pub mod devices;
pub mod domain;
pub mod store;
pub mod sync;
pub mod ui;

/// The perfusion calculations, for use as a library (see [`domain::calc`]).
pub use domain::calc;
