//! The one integration-test binary. Modules by area; the desktop end-to-end tour is opt-in
//! locally (PUMPSIDE_E2E=1) and always on in CI (`tests/run-all.sh` sets it).

mod access;
mod bluez;
mod checklist;
mod crash;
mod devices;
mod disk_full;
mod e2e;
mod ecmo_board;
mod encryption;
mod fake_fhir;
mod integrity;
mod keystore;
mod notify;
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
/// The seal key every test store file is opened with (a reopened file needs the same one).
pub fn keys() -> pumpside::store::StoreKeys {
    pumpside::store::StoreKeys::derive(&[7u8; 32])
}

/// A plain SQLite connection to an encrypted store file, keyed as someone holding the device key
/// would (the tests' tamperer and reader).
pub fn raw_db(path: &std::path::Path, keys: &pumpside::store::StoreKeys) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(&keys.sqlcipher_key_statement().unwrap())
        .unwrap();
    c
}

/// Run the ignored test `test` of this binary in a child process with `env` set (for scenarios
/// that need a process-wide setting such as a D-Bus address); it must print `passed`. Returns
/// the child's stdout and stderr.
pub fn run_child(test: &str, env: &str, passed: &str) -> (String, String) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--ignored", "--nocapture"])
        .env(env, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && stdout.contains(passed),
        "child failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    (stdout, stderr)
}

/// A private D-Bus session bus listening in `run`, with no service directories (nothing is
/// started on demand), its configuration written in `dir`: the daemon (the caller stops it by
/// PID) and its address.
pub fn session_bus(dir: &std::path::Path, run: &std::path::Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let config = dir.join("bus.conf");
    std::fs::write(
        &config,
        format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
            run.display()
        ),
    )
    .unwrap();
    let mut bus = std::process::Command::new("dbus-daemon")
        .arg(format!("--config-file={}", config.display()))
        .args(["--nofork", "--print-address=1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("dbus-daemon (scripts/setup.sh installs it)");
    let mut line = String::new();
    std::io::BufReader::new(bus.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line.trim().to_string();
    assert!(address.starts_with("unix:"), "bus address {address:?}");
    (bus, address)
}

pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pumpside-it-")
        .tempdir()
        .expect("temp dir")
}

/// What the app logs on this test's thread (the tokio test runtime's tasks run on it too): the
/// text stderr would carry, at every level.
#[derive(Clone, Default)]
pub struct LogSink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogSink {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log sink")).into_owned()
    }
}

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures the log of this thread until the guard is dropped.
pub fn capture_log() -> (LogSink, tracing::subscriber::DefaultGuard) {
    let sink = LogSink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (sink, tracing::subscriber::set_default(subscriber))
}
