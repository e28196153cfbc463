//! The device key in a real OS key store: GNOME Keyring's Secret Service on a private D-Bus
//! session bus, through the real start-up.
//!
//! The `keyring` crate finds the Secret Service through DBUS_SESSION_BUS_ADDRESS, a
//! process-wide setting, so the scenario runs in a child process of this test binary (as the
//! BlueZ test does). The child starts its own dbus-daemon and gnome-keyring-daemon (HOME and
//! XDG folders in a temporary folder, so no one's own key ring is touched) and stops both by
//! PID when it ends.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pumpside::app::config::KeyStore;
use pumpside::app::keys::{self, KeyError, KeyHome};
use pumpside::app::{AppConfig, Services, StartError};

const CHILD_ENV: &str = "PUMPSIDE_KEYSTORE_CHILD";
const PASSPHRASE: &str = "cannula twelve french";

/// A process stopped (and reaped) when dropped.
struct Stopped(Child, &'static str);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        eprintln!("keystore: stopped {} (pid {})", self.1, self.0.id());
    }
}

/// A private session bus with GNOME Keyring's Secret Service on it, unlocked.
struct KeyRing {
    address: String,
    daemon: Option<Stopped>,
    _bus: Stopped,
    _home: tempfile::TempDir,
}

impl KeyRing {
    fn start() -> Self {
        let home = crate::temp_dir();
        let run = home.path().join("run");
        std::fs::create_dir(&run).unwrap();
        keys::restrict(&run, 0o700).unwrap();
        // A session bus with no service directories: nothing is started on demand, so when
        // the test stops the key ring it stays stopped.
        let (bus, address) = crate::session_bus(home.path(), &run);
        let bus = Stopped(bus, "dbus-daemon");
        let mut daemon = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--components=secrets", "--unlock"])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("HOME", home.path())
            .env("XDG_RUNTIME_DIR", &run)
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon (scripts/setup.sh installs gnome-keyring)");
        // --unlock reads the key ring's password from standard input, up to its end.
        {
            let mut stdin = daemon.stdin.take().unwrap();
            stdin.write_all(b"key-ring-password").unwrap();
        }
        let daemon = Stopped(daemon, "gnome-keyring-daemon");
        let ring = Self {
            address,
            daemon: Some(daemon),
            _bus: bus,
            _home: home,
        };
        let start = Instant::now();
        while !ring.secrets_on_bus() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the Secret Service did not appear on the private bus"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        ring
    }

    fn secrets_on_bus(&self) -> bool {
        Command::new("dbus-send")
            .args([
                &format!("--bus={}", self.address),
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"))
    }
}

/// Start the app's services over `dir` with the default key store (the OS one), in a runtime
/// of its own that is dropped at the end (so each call is a fresh start of the app). Returns
/// where the key lives, or why start-up stopped.
fn start(
    dir: &Path,
    then: impl FnOnce(&Services, &tokio::runtime::Runtime),
) -> Result<KeyHome, StartError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = AppConfig::parse(vec!["--demo".into()], Some(dir.to_path_buf()), None).unwrap();
    assert_eq!(config.key_store, KeyStore::System);
    let services = rt.block_on(Services::start(config, Instant::now()))?;
    let (home, _) = services
        .key_status()
        .expect("a started app has a device key");
    then(&services, &rt);
    drop(services);
    rt.shutdown_timeout(Duration::from_secs(5));
    Ok(home)
}

#[test]
#[ignore = "child process of the_device_key_lives_in_the_os_key_store"]
fn keystore_child_process() {
    assert!(
        std::env::var_os(CHILD_ENV).is_some(),
        "run by the parent test"
    );
    let ring = KeyRing::start();
    // This process runs only this test: setting the variable cannot disturb another.
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &ring.address);
    scenario(ring);
    println!("KEYSTORE SCENARIO PASSED");
}

fn scenario(mut ring: KeyRing) {
    let secret_service = KeyHome::System {
        store: "Secret Service key ring".into(),
    };

    // 1. A record made by an earlier build, its key in keys/device.key: the key moves into the
    //    key ring (stored, read back, then the file removed) and the record opens with it.
    let dir = crate::temp_dir();
    let d = dir.path();
    let old = keys::open(d, KeyStore::File, false).unwrap();
    let db = pumpside::app::config::database_path(d);
    drop(pumpside::store::Store::open(&db, &old.store_keys()).unwrap());
    assert!(keys::key_path(d).exists());
    let home = start(d, |_, _| {}).expect("start with the key moved");
    assert_eq!(home, secret_service);
    assert!(!keys::key_path(d).exists(), "the key file is still on disk");

    // 2. The next start reads it from the key ring; an administrator (demo: open access) sets
    //    the recovery passphrase.
    let home = start(d, |s, rt| {
        rt.block_on(s.set_recovery_passphrase(PASSPHRASE, PASSPHRASE))
            .unwrap();
    })
    .expect("second start");
    assert_eq!(home, secret_service);
    assert!(!keys::key_path(d).exists());
    assert!(keys::recovery_path(d).exists());
    let installation = std::fs::read_to_string(d.join("keys").join("installation")).unwrap();
    let entry =
        keyring::Entry::new("Pumpside", &format!("device key {}", installation.trim())).unwrap();
    assert_eq!(entry.get_secret().unwrap().len(), 32);

    // 3. The key ring loses the entry (a reset profile, a new desktop account): start-up stops
    //    and says how to recover; no new key is made over the record.
    entry.delete_credential().unwrap();
    let e = start(d, |_, _| {}).unwrap_err();
    assert!(
        matches!(e, StartError::Key(KeyError::Missing { recovery: true, .. })),
        "{e}"
    );
    assert!(e.to_string().contains("--recover-key"), "{e}");
    assert!(
        !keys::key_path(d).exists(),
        "a key file was made over a record"
    );
    let e = keys::recover(d, KeyStore::System, "not the passphrase").unwrap_err();
    assert!(matches!(e, KeyError::WrongPassphrase { .. }), "{e}");
    assert_eq!(
        keys::recover(d, KeyStore::System, PASSPHRASE).unwrap(),
        secret_service
    );
    let home = start(d, |_, _| {}).expect("start after recovery");
    assert_eq!(home, secret_service);

    // 4. A new installation makes its key in the key ring; no key file is written.
    let fresh = crate::temp_dir();
    assert_eq!(start(fresh.path(), |_, _| {}).unwrap(), secret_service);
    assert!(!keys::key_path(fresh.path()).exists());

    // 5. The key ring stops answering: a record whose key lives there is not opened, and the
    //    reason is named; a new installation falls back to a key file and says why.
    drop(ring.daemon.take());
    let e = start(d, |_, _| {}).unwrap_err();
    assert!(
        matches!(e, StartError::Key(KeyError::StoreUnavailable { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("did not answer"), "{e}");
    assert!(!keys::key_path(d).exists());
    let other = crate::temp_dir();
    match start(other.path(), |_, _| {}).unwrap() {
        KeyHome::File { why, .. } => assert!(why.contains("not in the OS key store"), "{why}"),
        home => panic!("without a key ring the key went to {home:?}"),
    }
    assert!(keys::key_path(other.path()).exists());
}

/// The device key lives in the OS key store (a real GNOME Keyring on a private bus), moves
/// there from an earlier build's key file, is never replaced over a record, and comes back with
/// the administrator's recovery passphrase.
#[test]
fn the_device_key_lives_in_the_os_key_store() {
    let (stdout, stderr) = crate::run_child(
        "keystore::keystore_child_process",
        CHILD_ENV,
        "KEYSTORE SCENARIO PASSED",
    );
    assert!(
        !stdout.contains(PASSPHRASE) && !stderr.contains(PASSPHRASE),
        "the recovery passphrase was printed"
    );
}
