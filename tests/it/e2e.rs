//! Desktop end to end: the release binary in a real window under Xvfb, driven by xdotool like a
//! finger, screenshots under target/e2e/, results checked in the app's SQLite file and log.
//!
//! Opt-in locally with PUMPSIDE_E2E=1 (needs `scripts/setup.sh` and `cargo build --release`);
//! `tests/run-all.sh` (the README test command, and CI) always sets it.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use pumpside::ui::Screen;

/// Kills and reaps a child process (by PID) when dropped, also when a test panics.
struct Reaped {
    child: Child,
    name: &'static str,
}

impl Reaped {
    fn spawn(name: &'static str, cmd: &mut Command) -> Self {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e} (run scripts/setup.sh)"));
        Self { child, name }
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("e2e: stopped {} (pid {})", self.name, self.child.id());
    }
}

fn enabled() -> bool {
    std::env::var_os("PUMPSIDE_E2E").is_some_and(|v| v != "0")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn release_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let bin = target.join("release").join("pumpside");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --release` first (tests/run-all.sh does)",
        bin.display()
    );
    bin
}

/// A display number nobody is using.
fn free_display() -> u32 {
    (90..400)
        .find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })
        .expect("a free X display number")
}

struct Screenful {
    display: String,
    _xvfb: Reaped,
}

fn start_xvfb(width: u32, height: u32) -> Screenful {
    let n = free_display();
    let display = format!(":{n}");
    let xvfb = Reaped::spawn(
        "Xvfb",
        Command::new("Xvfb")
            .args([
                display.as_str(),
                "-screen",
                "0",
                &format!("{width}x{height}x24"),
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let socket = format!("/tmp/.X11-unix/X{n}");
    wait_for("Xvfb socket", Duration::from_secs(10), || {
        Path::new(&socket).exists()
    });
    Screenful {
        display,
        _xvfb: xvfb,
    }
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        sleep(Duration::from_millis(100));
    }
}

fn read(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

struct App {
    proc: Reaped,
    log: PathBuf,
    display: String,
}

fn start_app(
    screen: &Screenful,
    data: &Path,
    log_name: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> App {
    let log = data.join(log_name);
    let out = fs::File::create(&log).unwrap();
    let mut cmd = Command::new(release_binary());
    cmd.args(args)
        .env("DISPLAY", &screen.display)
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .env("NO_AT_BRIDGE", "1")
        .env("PUMPSIDE_DATA_DIR", data)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(out);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let proc = Reaped::spawn("pumpside", &mut cmd);
    let app = App {
        proc,
        log,
        display: screen.display.clone(),
    };
    wait_for("the first frame", Duration::from_secs(60), || {
        app.log_text().contains("first frame rendered")
    });
    app
}

impl App {
    fn log_text(&self) -> String {
        read(&self.log)
    }

    fn tap(&self, x: u32, y: u32) {
        let status = Command::new("xdotool")
            .args(["mousemove", &x.to_string(), &y.to_string(), "click", "1"])
            .env("DISPLAY", &self.display)
            .status()
            .expect("xdotool (run scripts/setup.sh)");
        assert!(status.success(), "xdotool failed");
        sleep(Duration::from_millis(600));
    }

    fn type_text(&self, text: &str) {
        let status = Command::new("xdotool")
            .args(["type", "--delay", "50", text])
            .env("DISPLAY", &self.display)
            .status()
            .expect("xdotool");
        assert!(status.success(), "xdotool type failed");
        sleep(Duration::from_millis(300));
    }

    fn key(&self, key: &str) {
        let status = Command::new("xdotool")
            .args(["key", key])
            .env("DISPLAY", &self.display)
            .status()
            .expect("xdotool");
        assert!(status.success(), "xdotool key failed");
        sleep(Duration::from_millis(150));
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        let dir = repo().join("target").join("e2e");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        let status = Command::new("import")
            .args(["-window", "root", path.to_str().unwrap()])
            .env("DISPLAY", &self.display)
            .status()
            .expect("imagemagick import (run scripts/setup.sh)");
        assert!(status.success(), "screenshot failed");
        assert!(
            fs::metadata(&path).unwrap().len() > 10_000,
            "{name}.png is empty"
        );
        path
    }

    /// The figure the app logged for process start → first painted frame, in ms.
    fn first_frame_ms(&self) -> f64 {
        self.logged_ms("first frame rendered")
    }

    /// The `ms=` figure of the first log line containing `what`.
    fn logged_ms(&self, what: &str) -> f64 {
        let log = self.log_text();
        let line = log
            .lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?} line in the log:\n{log}"));
        let after = &line[line.find("ms=").expect("ms= field") + 3..];
        after
            .trim_matches(|c: char| !c.is_ascii_digit() && c != '.')
            .split(|c: char| !c.is_ascii_digit() && c != '.')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a number of ms")
    }

    fn navigated_to_all_screens(&self) {
        let log = self.log_text();
        for s in Screen::ALL {
            assert!(
                log.contains(&format!("screen=\"{}\"", s.slug())),
                "no navigation to {s:?} logged:\n{log}"
            );
        }
    }
}

/// The app's database, opened read-only beside (or after) the app.
fn read_db(data: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(db_path(data), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap()
}

fn db_path(data: &Path) -> PathBuf {
    // The release binary writes the release file name.
    data.join("pumpside.sqlite3")
}

fn event_kinds(data: &Path) -> Vec<String> {
    let conn = read_db(data);
    let mut stmt = conn
        .prepare("SELECT kind FROM entries WHERE kind NOT IN ('status', 'protocol', 'advisory') AND kind NOT LIKE 'checklist%' AND kind NOT LIKE 'device%'
                    AND case_id IN (SELECT case_id FROM entries WHERE kind = 'status' AND payload LIKE '%signed%')
                  ORDER BY seq")
        .unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// The clinical entries of the signed demo case, in order: the demo case's simulated arterial
/// gas (so that its DO2i is computed), then what the tour records.
fn case_flow() -> Vec<&'static str> {
    vec![
        "blood_gas",
        "bypass_on",
        "cross_clamp_on",
        "cardioplegia",
        "cardioplegia",
        "blood_gas",
        "artefact_mark",
        "cross_clamp_off",
        "bypass_off",
    ]
}

fn pulled_procedures(data: &Path, mrn: &str) -> i64 {
    read_db(data)
        .query_row(
            "SELECT count(*) FROM sync_pulled WHERE mrn_value = ?1 AND resource_type = 'Procedure'",
            [mrn],
            |r| r.get(0),
        )
        .unwrap_or(0)
}

fn signed_cases(data: &Path) -> i64 {
    read_db(data)
        .query_row(
            "SELECT count(*) FROM entries WHERE kind = 'status' AND payload LIKE '%signed%'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

/// Samples the recorder committed, all of them demo samples (validity code 5 in every chunk).
fn recorded_samples(data: &Path) -> i64 {
    let conn = read_db(data);
    conn.query_row(
        "SELECT coalesce(sum(n), 0) FROM telemetry_chunks",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

/// Samples of the MRN-4712 case from the heart-lung machine console.
fn console_samples_in_new_case(data: &Path) -> i64 {
    read_db(data)
        .query_row(
            "SELECT coalesce(sum(t.n), 0) FROM telemetry_chunks t
               JOIN channels ch ON ch.num = t.channel
               JOIN cases c ON c.id = ch.case_id
               JOIN patients p ON p.id = c.patient_id
              WHERE p.mrn_value = 'MRN-4712' AND ch.source_device LIKE 'HLM console%'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

/// Samples received by a signed case after its signature was recorded.
fn samples_after_signing(data: &Path) -> i64 {
    read_db(data)
        .query_row(
            "SELECT count(*) FROM telemetry_chunks t
               JOIN channels ch ON ch.num = t.channel
               JOIN entries e ON e.case_id = ch.case_id
              WHERE e.kind = 'status' AND e.payload LIKE '%signed%'
                AND t.t_last * 1000 > e.recorded_us",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

/// Every entry kind in recording order.
fn all_kinds(data: &Path) -> Vec<String> {
    let conn = read_db(data);
    let mut stmt = conn
        .prepare("SELECT kind FROM entries ORDER BY seq")
        .unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// The shipped pre-bypass template's items, in order.
fn pre_bypass_items() -> Vec<pumpside::domain::checklist::Item> {
    let files = pumpside::domain::checklist::shipped();
    let (name, text) = files
        .iter()
        .find(|(f, _)| f.contains("pre-bypass"))
        .unwrap();
    pumpside::domain::checklist::Template::parse(name, text)
        .unwrap()
        .items()
        .cloned()
        .collect()
}

/// Start the pre-bypass checklist and answer every item with one tap each from the fixed
/// action bar (typing the ACT), then sign.
fn complete_pre_bypass(app: &App) {
    use pumpside::domain::checklist::ItemKind;
    app.tap(SLOT1.0, SLOT1.1); // Start pre-bypass
    for (n, item) in pre_bypass_items().into_iter().enumerate() {
        if n == 12 {
            app.screenshot("tablet-3-checklists-in-progress");
        }
        match item.kind {
            ItemKind::Check => app.tap(SLOT1.0, SLOT1.1),
            ItemKind::Number { .. } => {
                app.tap(SLOT1.0, SLOT1.1); // the value field
                app.type_text("520");
                app.tap(SLOT2.0, SLOT2.1); // Save
            }
            ref other => panic!("the tour does not answer {other:?} items"),
        }
    }
    app.tap(SLOT1.0, SLOT1.1); // Sign
}

fn demo_cases(data: &Path) -> (i64, i64, String) {
    let conn = read_db(data);
    let total: i64 = conn
        .query_row("SELECT count(*) FROM cases", [], |r| r.get(0))
        .unwrap();
    let demo: i64 = conn
        .query_row("SELECT count(*) FROM cases WHERE is_demo = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    (total, demo, integrity)
}

// Layout constants from assets/pumpside.css (tablet: 200 px rail, 56 px rows of 64 px items;
// phone: 56 px top bar with the menu button, drawer rows of 64 px).
fn rail_item(i: usize) -> (u32, u32) {
    (100, 56 + 64 * i as u32 + 32)
}
fn drawer_item(i: usize) -> (u32, u32) {
    (150, 56 + 64 * i as u32 + 32)
}
const MENU_BUTTON: (u32, u32) = (28, 28);
/// The first and second buttons of the bottom action bar (live case, checklists).
const SLOT1: (u32, u32) = (306, 752);
const SLOT2: (u32, u32) = (498, 752);
const SLOT3: (u32, u32) = (690, 752);
const SLOT4: (u32, u32) = (882, 752);
const BYPASS_BUTTON: (u32, u32) = SLOT1;
/// With a form open the bar holds Save (slot 1) and Cancel; off bypass slot 2 is Review & sign,
/// and in the review slot 1 signs.
const SAVE: (u32, u32) = SLOT1;
const REVIEW: (u32, u32) = SLOT2;
const SIGN: (u32, u32) = SLOT1;
/// "Artefact" on the newest timeline row (right column, under the three clocks), and the
/// confirm button after the 372 px reason field.
const FIRST_TIMELINE_ARTEFACT: (u32, u32) = (1032, 615);
const CONFIRM_MARK: (u32, u32) = SLOT3;
const CLAMP_BUTTON: (u32, u32) = SLOT2;
/// "Assign to case" on the first device row of the Devices screen (tablet), under its "not
/// recorded" chip.
const ASSIGN_FIRST_DEVICE: (u32, u32) = (327, 661);

/// The DO2i entry in the calculator's list (eighth row of 54 px from y = 299, under the alert strip).
const CALC_DO2I: (u32, u32) = (380, 299 + 54 * 7);

#[test]
fn desktop_tour_at_tablet_and_phone_size() {
    if !enabled() {
        eprintln!("skipped: set PUMPSIDE_E2E=1 to run the desktop end-to-end tour");
        return;
    }
    let data_dir = crate::temp_dir();
    let data = data_dir.path();
    // Screenshots of this run only.
    let _ = fs::remove_dir_all(repo().join("target").join("e2e"));
    // The FHIR test peer as the hospital's server, configured the way a hospital engineer
    // deploys it (sync.toml in the data directory); a test server, so demo cases may go up.
    let peer = crate::sync::FhirPeer::start(None);
    fs::write(
        data.join("sync.toml"),
        format!("server = \"{}\"\ncreate_patients = true\n", peer.base()),
    )
    .unwrap();

    // Tablet landscape, demo mode.
    {
        let screen = start_xvfb(1280, 800);
        let mut app = start_app(
            &screen,
            data,
            "tablet.log",
            &["--demo", "--window", "1280x800"],
            &[],
        );
        eprintln!(
            "e2e: first frame after {:.0} ms (tablet)",
            app.first_frame_ms()
        );
        wait_for("live values", Duration::from_secs(10), || {
            app.log_text().contains("first live values on screen")
        });
        let live_ms = app.logged_ms("first live values on screen");
        eprintln!("e2e: live values on screen after {live_ms:.0} ms (tablet)");
        assert!(
            live_ms < 5000.0,
            "live values within 5 s of start, took {live_ms} ms"
        );
        sleep(Duration::from_millis(2000)); // a few simulated samples arrive
        for (i, s) in Screen::ALL.into_iter().enumerate() {
            let (x, y) = rail_item(i);
            app.tap(x, y);
            match s {
                Screen::Calculator => {
                    app.screenshot(&format!("tablet-{}-{}", i + 1, s.slug()));
                    app.tap(CALC_DO2I.0, CALC_DO2I.1);
                    app.screenshot(&format!("tablet-{}-{}-do2i-prefilled", i + 1, s.slug()));
                }
                Screen::Live => {
                    app.screenshot(&format!("tablet-{}-{}-before-bypass", i + 1, s.slug()));
                    // No signed pre-bypass checklist yet: bypass is held and the override asked.
                    app.tap(BYPASS_BUTTON.0, BYPASS_BUTTON.1);
                    sleep(Duration::from_millis(800));
                    app.screenshot(&format!("tablet-{}-{}-bypass-held", i + 1, s.slug()));
                }
                Screen::Checklists => {
                    app.screenshot(&format!("tablet-{}-{}", i + 1, s.slug()));
                    complete_pre_bypass(&app);
                    app.screenshot(&format!("tablet-{}-{}-signed", i + 1, s.slug()));
                }
                Screen::Devices => {
                    // Each virtual device joined the demo case as it connected (the demo
                    // rule); the screen says where each one's values go.
                    app.screenshot(&format!("tablet-{}-{}", i + 1, s.slug()));
                }
                _ => {
                    app.screenshot(&format!("tablet-{}-{}", i + 1, s.slug()));
                }
            }
        }
        // Checklist signed: the CPB case on the live screen, from setup to sign-off.
        let (x, y) = rail_item(1);
        app.tap(x, y);
        app.screenshot("tablet-live-1-setup-targets");
        app.tap(BYPASS_BUTTON.0, BYPASS_BUTTON.1);
        sleep(Duration::from_millis(1500));
        app.tap(CLAMP_BUTTON.0, CLAMP_BUTTON.1);
        sleep(Duration::from_millis(1500));
        app.screenshot("tablet-live-2-on-bypass-clamp-on");
        // Two cardioplegia doses with the defaults (plan, then half as a re-dose).
        app.tap(SLOT3.0, SLOT3.1);
        app.screenshot("tablet-live-3-cardioplegia-form");
        app.tap(SAVE.0, SAVE.1);
        sleep(Duration::from_millis(1200));
        app.tap(SLOT3.0, SLOT3.1);
        app.tap(SAVE.0, SAVE.1);
        sleep(Duration::from_millis(1200));
        // A blood gas: the cursor starts in pH.
        app.tap(SLOT4.0, SLOT4.1);
        sleep(Duration::from_millis(500));
        for (i, v) in ["7.38", "41", "245"].into_iter().enumerate() {
            if i > 0 {
                app.key("Tab");
            }
            app.type_text(v);
        }
        app.screenshot("tablet-live-4-blood-gas-form");
        app.tap(SAVE.0, SAVE.1);
        sleep(Duration::from_millis(1500));
        app.screenshot("tablet-live-5-timeline");
        // The gas turns out clotted: mark it artefact with a reason.
        app.tap(FIRST_TIMELINE_ARTEFACT.0, FIRST_TIMELINE_ARTEFACT.1);
        sleep(Duration::from_millis(500));
        // No doubled letters: xdotool can drop the second of a repeated key under load.
        app.type_text("clot in sample");
        app.tap(CONFIRM_MARK.0, CONFIRM_MARK.1);
        sleep(Duration::from_millis(1200));
        app.screenshot("tablet-live-6-artefact-marked");
        app.tap(CLAMP_BUTTON.0, CLAMP_BUTTON.1);
        sleep(Duration::from_millis(1200));
        app.tap(BYPASS_BUTTON.0, BYPASS_BUTTON.1);
        sleep(Duration::from_millis(1500));
        app.screenshot("tablet-live-7-off-bypass");
        app.tap(REVIEW.0, REVIEW.1);
        sleep(Duration::from_millis(800));
        app.screenshot("tablet-live-8-review");
        app.tap(SIGN.0, SIGN.1);
        sleep(Duration::from_millis(2000));
        app.screenshot("tablet-live-9-signed");
        let kinds = all_kinds(data);
        assert_eq!(
            kinds.iter().filter(|k| *k == "device_associated").count(),
            5,
            "each virtual device associated with the demo case once"
        );
        assert_eq!(
            kinds.iter().filter(|k| *k == "device_released").count(),
            5,
            "signing released every device"
        );
        let answers = kinds.iter().filter(|k| *k == "checklist_answer").count();
        assert_eq!(answers, pre_bypass_items().len(), "one answer per item");
        assert_eq!(kinds.iter().filter(|k| *k == "checklist_signed").count(), 1);
        assert!(!kinds.iter().any(|k| k == "checklist_override"));
        assert!(
            app.proc.alive(),
            "the app exited during the tour:\n{}",
            app.log_text()
        );
        app.navigated_to_all_screens();
        assert_eq!(event_kinds(data), case_flow());
        assert_eq!(
            kinds.iter().filter(|k| *k == "status").count(),
            3,
            "running, completed, signed"
        );
        assert_eq!(signed_cases(data), 1);

        // The next patient: start a case by MRN from the Cases screen, by keyboard only (the
        // cursor waits in the MRN field, as for a wristband scanner). No doubled letters typed.
        let (x, y) = rail_item(0);
        app.tap(x, y);
        sleep(Duration::from_millis(600));
        app.type_text("MRN-4712");
        app.key("Return");
        sleep(Duration::from_millis(800));
        app.screenshot("tablet-cases-1-new-patient");
        for (i, v) in ["Lovelace", "Ada", "1961-05-24", "172", "64"]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                app.key("Tab");
            }
            app.type_text(v);
        }
        app.key("Tab"); // Female
        app.key("space");
        for _ in 0..14 {
            app.key("Tab"); // Male, Other, Unknown, 9 blood groups, CPB, then VA ECMO
        }
        app.key("space");
        for _ in 0..7 {
            app.key("Tab"); // the other kinds, then the label
        }
        app.screenshot("tablet-cases-2-registered");
        app.key("Return");
        sleep(Duration::from_millis(1500));
        app.screenshot("tablet-cases-3-started-setup");
        let (kind, status, family): (String, String, String) = read_db(data)
            .query_row(
                "SELECT c.kind,
                        (SELECT payload FROM entries e WHERE e.case_id = c.id AND e.kind = 'status'
                          ORDER BY seq DESC LIMIT 1),
                        (SELECT data FROM patient_versions v WHERE v.patient_id = c.patient_id)
                   FROM cases c JOIN patients p ON p.id = c.patient_id
                  WHERE p.mrn_value = 'MRN-4712'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap_or_else(|e| panic!("no case for MRN-4712 ({e}):\n{}", app.log_text()));
        assert_eq!(kind, "ecmo-va");
        assert!(status.contains("setup"), "{status}");
        assert!(
            family.contains("Lovelace")
                && family.contains("1961-05-24")
                && family.contains("female"),
            "{family}"
        );
        assert!(app.log_text().contains("case started"));

        // The devices still connected record nowhere now; assign the console to the new case
        // on the Devices screen, and the signed case receives nothing after its signing.
        let (x, y) = rail_item(5);
        app.tap(x, y);
        sleep(Duration::from_millis(800));
        app.screenshot("tablet-devices-after-signing");
        let before = console_samples_in_new_case(data);
        assert_eq!(before, 0, "nothing recorded before the console is assigned");
        app.tap(ASSIGN_FIRST_DEVICE.0, ASSIGN_FIRST_DEVICE.1);
        sleep(Duration::from_millis(800));
        app.screenshot("tablet-devices-console-assigned");
        wait_for(
            "console values in the new case",
            Duration::from_secs(10),
            || console_samples_in_new_case(data) > 0,
        );
        assert_eq!(
            samples_after_signing(data),
            0,
            "the signed case received nothing after its signing"
        );

        // On call: follow that patient on the ECMO board (the cursor waits in the MRN field);
        // the engine uploads the case, pulls it back from the server and the board shows it.
        let (x, y) = rail_item(4);
        app.tap(x, y);
        sleep(Duration::from_millis(600));
        app.type_text("MRN-4712");
        app.key("Return");
        wait_for(
            "the followed run pulled from the server",
            Duration::from_secs(30),
            || pulled_procedures(data, "MRN-4712") > 0,
        );
        sleep(Duration::from_millis(1500));
        app.screenshot("tablet-ecmo-board-followed");
        let acked: i64 = read_db(data)
            .query_row(
                "SELECT count(*) FROM sync_events WHERE state = 'acked'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(acked > 5, "records acknowledged by the server: {acked}");
        // SIGKILL, the worst way to stop: committed rows must survive it.
    }
    let (total, demo, integrity) = demo_cases(data);
    assert_eq!(
        (total, demo),
        (2, 2),
        "the signed demo case and the one started by MRN (demo mode)"
    );
    let artefact_reason: String = read_db(data)
        .query_row(
            "SELECT payload FROM entries WHERE kind = 'artefact_mark'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        artefact_reason.contains("clot in sample"),
        "{artefact_reason}"
    );
    assert_eq!(integrity, "ok");
    let after_tablet = recorded_samples(data);
    assert!(
        after_tablet > 100,
        "simulated values were recorded: {after_tablet}"
    );
    // They came through device sessions: each virtual device connected and was identified, and
    // the notifications' bytes are stored next to the samples.
    let (devices, frames) = {
        let conn = read_db(data);
        let devices: i64 = conn
            .query_row(
                "SELECT count(DISTINCT device_key) FROM device_sessions",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let frames: i64 = conn
            .query_row("SELECT count(*) FROM device_frames", [], |r| r.get(0))
            .unwrap();
        (devices, frames)
    };
    assert_eq!(devices, 5, "five virtual devices");
    assert!(frames > 50, "raw notifications stored: {frames}");

    // Phone portrait, same data directory: the signed case stays as it is; a new demo case runs.
    {
        let screen = start_xvfb(390, 844);
        let mut app = start_app(
            &screen,
            data,
            "phone.log",
            &["--demo", "--window", "390x844"],
            &[],
        );
        eprintln!(
            "e2e: first frame after {:.0} ms (phone)",
            app.first_frame_ms()
        );
        sleep(Duration::from_millis(2500));
        app.tap(MENU_BUTTON.0, MENU_BUTTON.1);
        app.screenshot("phone-0-menu-open");
        app.tap(MENU_BUTTON.0, MENU_BUTTON.1); // close again
        for (i, s) in Screen::ALL.into_iter().enumerate() {
            app.tap(MENU_BUTTON.0, MENU_BUTTON.1);
            let (x, y) = drawer_item(i);
            app.tap(x, y);
            app.screenshot(&format!("phone-{}-{}", i + 1, s.slug()));
        }
        assert!(
            app.proc.alive(),
            "the app exited during the tour:\n{}",
            app.log_text()
        );
        app.navigated_to_all_screens();
    }
    let (total, demo, integrity) = demo_cases(data);
    assert_eq!(
        (total, demo),
        (3, 3),
        "the signed demo case and the set-up one are kept and a new demo case runs"
    );
    assert_eq!(integrity, "ok");
    assert_eq!(
        event_kinds(data),
        case_flow(),
        "the signed case is unchanged"
    );
    assert!(
        recorded_samples(data) > after_tablet,
        "the second launch kept recording"
    );

    // No Bluetooth (no system D-Bus): demo mode starts by itself, with the reason in the banner.
    {
        let screen = start_xvfb(1280, 800);
        let mut app = start_app(
            &screen,
            data,
            "no-adapter.log",
            &[],
            &[(
                "DBUS_SYSTEM_BUS_ADDRESS",
                "unix:path=/nonexistent/pumpside-e2e",
            )],
        );
        wait_for("automatic demo mode", Duration::from_secs(15), || {
            app.log_text().contains("starting demo mode")
        });
        sleep(Duration::from_millis(2500));
        app.screenshot("tablet-0-no-adapter-demo");
        assert!(app.proc.alive());
    }
}
