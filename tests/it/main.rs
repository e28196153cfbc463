//! The one integration-test binary. Modules by area; the desktop end-to-end tour is opt-in
//! locally (PUMPSIDE_E2E=1) and always on in CI (`tests/run-all.sh` sets it).

mod bluez;
mod checklist;
mod crash;
mod devices;
mod disk_full;
mod e2e;
mod fake_fhir;
mod project_files;
mod pull;
mod quality;
mod record;
mod routing;
mod services;
mod store_file;
mod sync;
mod sync_codes;
mod telemetry;
mod tidy;
mod ui_ssr;
mod values;

/// A throwaway data directory.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pumpside-it-")
        .tempdir()
        .expect("temp dir")
}
