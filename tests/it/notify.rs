//! A followed run that becomes more urgent is announced through the desktop's real
//! notification service: `notify-rust` over libdbus to org.freedesktop.Notifications, here
//! python-dbusmock's notification daemon on a private session bus. The bus address is a
//! process-wide setting, so the scenario runs in a child process of this test binary (as the
//! key-store and BlueZ tests do); the child stops the daemon and the bus by PID.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pumpside::app::notify::{announcement, Notifier};
use pumpside::domain::ecmo::{Finding, FindingKind};

const CHILD_ENV: &str = "PUMPSIDE_NOTIFY_CHILD";

struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_more_urgent_run_is_announced_through_the_desktops_notification_service() {
    crate::run_child(
        "notify::notify_child_process",
        CHILD_ENV,
        "NOTIFY SCENARIO PASSED",
    );
}

#[test]
#[ignore = "child process of a_more_urgent_run_is_announced_through_the_desktops_notification_service"]
fn notify_child_process() {
    assert!(
        std::env::var_os(CHILD_ENV).is_some(),
        "run by the parent test"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (title, body) = announcement(
        "MRN ECMO-B1",
        &[Finding {
            kind: FindingKind::DeltaPRising,
            reason: "ΔP +42 % over 6 h (5.0 → 7.1 mmHg per L/min)".into(),
        }],
    );
    // No session bus: a named reason, no bus started behind our back.
    // This process runs only this test: changing the variable cannot disturb another.
    std::env::remove_var("DBUS_SESSION_BUS_ADDRESS");
    let e = rt.block_on(Notifier::Os.send(&title, &body)).unwrap_err();
    assert!(e.contains("no D-Bus session bus"), "{e}");

    let home = crate::temp_dir();
    let run = home.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let (bus, address) = crate::session_bus(home.path(), &run);
    let _bus = Stopped(bus);
    let log = home.path().join("calls.log");
    let daemon = Command::new("/usr/bin/python3")
        .args(["-m", "dbusmock", "--template", "notification_daemon", "-l"])
        .arg(&log)
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3-dbusmock (scripts/setup.sh installs it)");
    let _daemon = Stopped(daemon);
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &address);
    // The mock owns its name once it is up: retry the first announcement until then.
    let start = Instant::now();
    loop {
        match rt.block_on(Notifier::Os.send(&title, &body)) {
            Ok(()) => break,
            Err(e) => {
                assert!(start.elapsed() < Duration::from_secs(15), "{e}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.contains("Notify"), "{calls}");
    assert!(calls.contains("Pumpside"), "the app's name: {calls}");
    assert!(calls.contains("ECMO MRN ECMO-B1: more urgent"), "{calls}");
    assert!(calls.contains("over 6 h"), "{calls}");
    assert!(calls.contains("the console keeps the alarms"), "{calls}");
    println!("NOTIFY SCENARIO PASSED");
}
