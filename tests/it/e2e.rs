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
    /// Where the app's layout probe (the `PUMPSIDE_PROBE` test hook) writes what the webview
    /// measured.
    probe: PathBuf,
}

/// One displayed control as the webview measured it (CSS px from the window's top left).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Control {
    tag: String,
    text: String,
    action: Option<String>,
    nav: Option<String>,
    field: Option<String>,
    mark: Option<String>,
    more: Option<String>,
    start: Option<String>,
    calc: Option<String>,
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    disabled: bool,
    in_view: bool,
}

impl Control {
    fn is(&self, id: &str) -> bool {
        [
            &self.action,
            &self.nav,
            &self.field,
            &self.mark,
            &self.more,
            &self.start,
            &self.calc,
        ]
        .iter()
        .any(|v| v.as_deref() == Some(id))
    }
}

#[derive(Debug, Clone, serde::Deserialize)]
struct ChartText {
    kind: String,
    px: f64,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct Tiles {
    count: usize,
    lowest: f64,
}

/// What the layout probe measured.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    screen: Option<String>,
    width: f64,
    height: f64,
    controls: Vec<Control>,
    clipped: Vec<serde_json::Value>,
    chart_text: Vec<ChartText>,
    tiles: Tiles,
    chart: Option<f64>,
    bar_top: Option<f64>,
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
    let probe = data.join(format!("{log_name}.probe.json"));
    let _ = fs::remove_file(&probe);
    cmd.env("PUMPSIDE_PROBE", &probe);
    let proc = Reaped::spawn("pumpside", &mut cmd);
    let app = App {
        proc,
        log,
        display: screen.display.clone(),
        probe,
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
            .args(["type", "--delay", "50", "--", text])
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

    /// The newest measurement written after now (so it shows what the last step drew).
    fn probe(&self) -> Probe {
        let asked = std::time::SystemTime::now();
        let start = Instant::now();
        loop {
            let fresh = fs::metadata(&self.probe)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t > asked);
            if fresh {
                if let Ok(p) = serde_json::from_str::<Probe>(&read(&self.probe)) {
                    return p;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no layout probe written (PUMPSIDE_PROBE):\n{}",
                self.log_text()
            );
            sleep(Duration::from_millis(50));
        }
    }

    /// The first enabled control with test id `id` (data-action, data-nav, data-field, ...),
    /// waiting up to 8 s for it to be drawn.
    fn find(&self, id: &str) -> Control {
        let start = Instant::now();
        loop {
            let p = self.probe();
            if let Some(c) = p
                .controls
                .iter()
                .find(|c| c.is(id) && !c.disabled && c.in_view)
            {
                // Still, not sliding by (a scroll or a sheet animating): the same box twice.
                let again = self.probe();
                if again
                    .controls
                    .iter()
                    .any(|d| d.is(id) && !d.disabled && d.x == c.x && d.y == c.y)
                {
                    return c.clone();
                }
                continue;
            }
            // Drawn but scrolled out of view: scroll the screen to it as a finger would.
            if let Some(c) = p.controls.iter().find(|c| c.is(id) && !c.disabled) {
                let button = if c.y > p.height / 2.0 { "5" } else { "4" };
                let status = Command::new("xdotool")
                    .args([
                        "mousemove",
                        &((p.width / 2.0) as u32).to_string(),
                        &((p.height / 3.0) as u32).to_string(),
                        "click",
                        "--repeat",
                        "3",
                        "--delay",
                        "30",
                        button,
                    ])
                    .env("DISPLAY", &self.display)
                    .status()
                    .expect("xdotool");
                assert!(status.success(), "xdotool scroll failed");
                sleep(Duration::from_millis(300));
            }
            assert!(
                start.elapsed() < Duration::from_secs(8),
                "no enabled control {id:?} on {:?}; controls: {:?}",
                p.screen,
                p.controls
                    .iter()
                    .map(|c| (
                        c.action.clone(),
                        c.nav.clone(),
                        c.field.clone(),
                        c.text.clone()
                    ))
                    .collect::<Vec<_>>()
            );
        }
    }

    /// Tap the middle of control `id`.
    fn press(&self, id: &str) {
        let c = self.find(id);
        self.tap((c.x + c.w / 2.0) as u32, (c.y + c.h / 2.0) as u32);
    }

    /// Two clicks 120 ms apart on control `id`: a gloved double tap.
    fn double_tap(&self, id: &str) {
        let c = self.find(id);
        let (x, y) = ((c.x + c.w / 2.0) as u32, (c.y + c.h / 2.0) as u32);
        let status = Command::new("xdotool")
            .args([
                "mousemove",
                &x.to_string(),
                &y.to_string(),
                "click",
                "--repeat",
                "2",
                "--delay",
                "120",
                "1",
            ])
            .env("DISPLAY", &self.display)
            .status()
            .expect("xdotool");
        assert!(status.success(), "xdotool failed");
        sleep(Duration::from_millis(900));
    }

    /// Go to `screen` by the rail (tablet) or the menu drawer (phone).
    fn go(&self, screen: Screen) {
        let p = self.probe();
        if p.screen.as_deref() == Some(screen.slug()) {
            return;
        }
        if p.width <= 700.0 {
            self.press("menu");
        }
        self.press(screen.slug());
        let start = Instant::now();
        while self.probe().screen.as_deref() != Some(screen.slug()) {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{screen:?} not shown"
            );
        }
    }

    /// Every displayed control on this screen is at least 48 x 48 px, no tile's value is wider
    /// than its tile, and chart text is at least 16 px; returns the measurement.
    fn check_layout(&self, what: &str) -> Probe {
        let p = self.probe();
        let small: Vec<String> = p
            .controls
            .iter()
            .filter(|c| c.w < 47.5 || c.h < 47.5)
            .map(|c| {
                format!(
                    "{} {:?} {:?} {:.0}x{:.0}",
                    c.tag,
                    c.text,
                    c.action.as_ref().or(c.field.as_ref()),
                    c.w,
                    c.h
                )
            })
            .collect();
        assert!(
            small.is_empty(),
            "{what}: touch targets under 48x48 px: {small:#?}"
        );
        assert!(
            p.clipped.is_empty(),
            "{what}: tile values clipped: {:?}",
            p.clipped
        );
        let tiny: Vec<String> = p
            .chart_text
            .iter()
            .filter(|t| t.px < 16.0)
            .map(|t| format!("{} label at {} px", t.kind, t.px))
            .collect();
        assert!(tiny.is_empty(), "{what}: chart text under 16 px: {tiny:?}");
        eprintln!(
            "e2e layout {what}: {} controls at least 48x48 px, {} chart labels at least 16 px",
            p.controls.len(),
            p.chart_text.len()
        );
        p
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
    let c = rusqlite::Connection::open_with_flags(
        db_path(data),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let keys = pumpside::app::keys::open(data, pumpside::app::config::KeyStore::File, true)
        .unwrap()
        .store_keys();
    c.execute_batch(&keys.sqlcipher_key_statement().unwrap())
        .unwrap();
    c
}

fn db_path(data: &Path) -> PathBuf {
    // The release binary writes the release file name.
    data.join("pumpside.sqlite3")
}

/// The clinical entry kinds of the signed demo case (a later launch starts a new demo case with
/// the same label).
fn event_kinds(data: &Path) -> Vec<String> {
    let conn = read_db(data);
    let mut stmt = conn
        .prepare(
            "SELECT e.kind FROM entries e JOIN cases c ON c.id = e.case_id
              WHERE c.label = 'Demo CPB: CABG x3 (simulated)'
                AND c.id IN (SELECT case_id FROM entries WHERE kind = 'status' AND payload LIKE '%signed%')
              ORDER BY e.seq",
        )
        .unwrap();
    let kinds: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    kinds
        .into_iter()
        .filter(|k| {
            !matches!(k.as_str(), "status" | "protocol" | "advisory")
                && !k.starts_with("checklist")
                && !k.starts_with("device")
        })
        .collect()
}

/// The clinical entries of the signed demo case, in order: the demo case's simulated
/// anticoagulation and arterial gas (so that its bypass passes the gate and its DO2i is
/// computed), then what the tour records.
fn case_flow() -> Vec<&'static str> {
    vec![
        "act",
        "heparin",
        "act",
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
/// action bar (typing the ACT), then sign with the confirmation. The first item gets a gloved
/// double tap (two clicks 120 ms apart): one answer, the second tap dropped.
fn complete_pre_bypass(app: &App, data: &Path) {
    use pumpside::domain::checklist::ItemKind;
    app.press("start-pre-bypass");
    for (n, item) in pre_bypass_items().into_iter().enumerate() {
        if n == 12 {
            app.screenshot("tablet-3-checklists-in-progress");
        }
        match item.kind {
            ItemKind::Check if n == 0 => {
                app.double_tap("check");
                let answers = all_kinds(data)
                    .iter()
                    .filter(|k| *k == "checklist_answer")
                    .count();
                assert_eq!(
                    answers, 1,
                    "a double tap on a checklist item answers it once"
                );
                app.screenshot("tablet-3-checklists-double-tap-dropped");
            }
            ItemKind::Check => app.press("check"),
            ItemKind::Number { .. } => {
                app.press("value");
                app.type_text("520");
                app.press("save");
            }
            ref other => panic!("the tour does not answer {other:?} items"),
        }
        // The next item is on screen only once this answer is recorded; a tap sent before
        // that would land on this item's button again (and be dropped as a double tap).
        wait_for_answers(data, n + 1);
    }
    app.press("sign");
    app.screenshot("tablet-3-checklists-confirm-sign");
    sleep(Duration::from_millis(1100));
    app.press("confirm-sign");
}

/// Wait (up to 8 s) until the record holds `count` checklist answers.
fn wait_for_answers(data: &Path, count: usize) {
    let start = Instant::now();
    loop {
        let answers = all_kinds(data)
            .iter()
            .filter(|k| *k == "checklist_answer")
            .count();
        if answers >= count {
            assert_eq!(answers, count, "one tap recorded more than one answer");
            // Let the screen draw the next item before the next tap.
            sleep(Duration::from_millis(150));
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "the checklist answer {count} was not recorded within 8 s ({answers} recorded)"
        );
        sleep(Duration::from_millis(50));
    }
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

/// The kinds of one case's entries in recording order (the case whose label is `label`).
fn kinds_of_case(data: &Path, label: &str) -> Vec<String> {
    let conn = read_db(data);
    let mut stmt = conn
        .prepare(
            "SELECT e.kind FROM entries e JOIN cases c ON c.id = e.case_id
              WHERE c.label = ?1 ORDER BY e.seq",
        )
        .unwrap();
    stmt.query_map([label], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn count(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| *k == kind).count()
}

/// Type `values` into a form, Enter after each (the cursor moves to the next field; Enter on the
/// last field saves).
fn type_with_enter(app: &App, values: &[&str]) {
    for v in values {
        if !v.is_empty() {
            app.type_text(v);
        }
        app.key("Return");
        sleep(Duration::from_millis(150));
    }
}

/// The live screen at tablet size shows every tile and the whole trend chart above the action
/// bar, without scrolling.
fn assert_board_fits(p: &Probe, what: &str) {
    let bar = p.bar_top.expect("the action bar");
    assert!(p.tiles.count >= 17, "{what}: {} tiles", p.tiles.count);
    assert!(
        p.tiles.lowest <= bar,
        "{what}: the last tile ends at {} px, under the action bar at {bar} px",
        p.tiles.lowest
    );
    let chart = p.chart.expect("the trend chart");
    assert!(
        chart <= bar,
        "{what}: the chart ends at {chart} px, under the action bar at {bar} px"
    );
    eprintln!(
        "e2e layout {what}: {} tiles end at {:.0} px and the chart at {chart:.0} px, above the action bar at {bar:.0} px ({}x{})",
        p.tiles.count, p.tiles.lowest, p.width, p.height
    );
}

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
    let demo_label = "Demo CPB: CABG x3 (simulated)";

    // Tablet landscape, demo mode.
    {
        let screen = start_xvfb(1280, 800);
        let mut app = start_app(
            &screen,
            data,
            "tablet.log",
            &["--demo", "--window", "1280x800", "--key-store", "file"],
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
            app.go(s);
            sleep(Duration::from_millis(400));
            app.check_layout(&format!("tablet {}", s.slug()));
            match s {
                Screen::Calculator => {
                    app.screenshot(&format!("tablet-{}-{}", i + 1, s.slug()));
                    app.press("do2i");
                    app.screenshot(&format!("tablet-{}-{}-do2i-prefilled", i + 1, s.slug()));
                }
                Screen::Live => {
                    let p = app.check_layout("tablet live before bypass");
                    app.screenshot(&format!("tablet-{}-{}-before-bypass", i + 1, s.slug()));
                    assert_board_fits(&p, "tablet live before bypass");
                    // No signed pre-bypass checklist yet: bypass is held and the override asked.
                    app.press("bypass_on");
                    app.find("close-gate");
                    app.screenshot(&format!("tablet-{}-{}-bypass-held", i + 1, s.slug()));
                    app.press("close-gate");
                }
                Screen::Checklists => {
                    app.screenshot(&format!("tablet-{}-{}", i + 1, s.slug()));
                    complete_pre_bypass(&app, data);
                    app.screenshot(&format!("tablet-{}-{}-signed", i + 1, s.slug()));
                }
                _ => {
                    app.screenshot(&format!("tablet-{}-{}", i + 1, s.slug()));
                }
            }
        }
        // Checklist signed: the CPB case on the live screen, from setup to sign-off.
        app.go(Screen::Live);
        app.screenshot("tablet-live-1-setup-targets");
        app.press("bypass_on");
        sleep(Duration::from_millis(900));
        // A gloved double tap on the clamp button, whose label flips to "Cross-clamp off"
        // under the finger: one clamp-on, the second tap dropped and said.
        app.double_tap("cross_clamp_on");
        let kinds = kinds_of_case(data, demo_label);
        assert_eq!(count(&kinds, "cross_clamp_on"), 1, "{kinds:?}");
        assert_eq!(count(&kinds, "cross_clamp_off"), 0, "{kinds:?}");
        assert!(app
            .log_text()
            .contains("second tap within its window dropped"));
        app.screenshot("tablet-live-2-on-bypass-clamp-on-double-tap-dropped");
        let p = app.check_layout("tablet live on bypass");
        assert_board_fits(&p, "tablet live on bypass");
        // Two cardioplegia doses with the defaults (plan, then half as a re-dose).
        app.press("cardioplegia");
        app.screenshot("tablet-live-3-cardioplegia-form");
        app.press("save");
        sleep(Duration::from_millis(1700));
        app.press("cardioplegia");
        app.press("save");
        sleep(Duration::from_millis(1700));
        // A blood gas: the cursor starts in pH; Tab between fields.
        app.press("blood_gas");
        sleep(Duration::from_millis(500));
        for (i, v) in ["7.38", "41", "245"].into_iter().enumerate() {
            if i > 0 {
                app.key("Tab");
            }
            app.type_text(v);
        }
        app.check_layout("tablet blood-gas form");
        app.screenshot("tablet-live-4-blood-gas-form");
        app.press("save");
        sleep(Duration::from_millis(1500));
        app.screenshot("tablet-live-5-timeline");
        // The gas turns out clotted: mark it artefact with a reason (the newest row's button).
        app.press("artefact");
        sleep(Duration::from_millis(500));
        // No doubled letters: xdotool can drop the second of a repeated key under load.
        app.type_text("clot in sample");
        app.press("confirm-mark");
        sleep(Duration::from_millis(1200));
        app.screenshot("tablet-live-6-artefact-marked");
        app.press("cross_clamp_off");
        sleep(Duration::from_millis(2100));
        app.press("bypass_off");
        sleep(Duration::from_millis(1500));
        app.screenshot("tablet-live-7-off-bypass");
        app.press("review");
        sleep(Duration::from_millis(800));
        app.check_layout("tablet review");
        app.screenshot("tablet-live-8-review");
        app.press("sign");
        app.screenshot("tablet-live-8-confirm-sign");
        sleep(Duration::from_millis(1100));
        app.press("confirm-sign");
        sleep(Duration::from_millis(1500));
        // Signing returns to the case list; the case stays the one on screen.
        assert_eq!(app.probe().screen.as_deref(), Some("cases"));
        app.screenshot("tablet-live-9-signed-case-list");
        // The CPB demo case's record (the ECMO demo runs keep their own consoles).
        let kinds = kinds_of_case(data, "Demo CPB: CABG x3 (simulated)");
        assert_eq!(
            kinds.iter().filter(|k| *k == "device_associated").count(),
            5,
            "each virtual device associated with the demo case once"
        );
        let everywhere = all_kinds(data);
        assert_eq!(
            everywhere
                .iter()
                .filter(|k| *k == "device_associated")
                .count(),
            7,
            "and each ECMO demo run's console with its run"
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
        app.go(Screen::Cases);
        sleep(Duration::from_millis(600));
        app.press("mrn");
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
        app.go(Screen::Devices);
        sleep(Duration::from_millis(800));
        app.screenshot("tablet-devices-after-signing");
        let before = console_samples_in_new_case(data);
        assert_eq!(before, 0, "nothing recorded before the console is assigned");
        app.press("assign");
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
        app.go(Screen::EcmoBoard);
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
        // Three runs on this tablet on the board, most urgent first: the demo's clotting VA
        // run, its VV run with recirculation, and the VA run just started by MRN.
        app.check_layout("tablet ECMO board");
        app.screenshot("tablet-ecmo-board-three-runs");
        // The new ECMO run's live screen: ECMO tiles (speed, circuit pressures, ΔP).
        app.go(Screen::Live);
        sleep(Duration::from_millis(1200));
        app.screenshot("tablet-ecmo-run-live");
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
        (4, 4),
        "the signed demo case, the one started by MRN (demo mode) and the two ECMO demo runs"
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
    assert_eq!(
        devices, 7,
        "five virtual devices and two simulated ECMO consoles"
    );
    assert!(frames > 50, "raw notifications stored: {frames}");

    // Phone portrait, same data directory: the signed case stays as it is; a new demo case runs.
    // A whole CPB case recorded by taps and typing only, on a 390 x 844 screen.
    let phone_label = "Cardiopulmonary bypass · MRN MRN-5150";
    {
        let screen = start_xvfb(390, 844);
        let mut app = start_app(
            &screen,
            data,
            "phone.log",
            &["--demo", "--window", "390x844", "--key-store", "file"],
            &[],
        );
        eprintln!(
            "e2e: first frame after {:.0} ms (phone)",
            app.first_frame_ms()
        );
        sleep(Duration::from_millis(2500));
        app.press("menu");
        app.screenshot("phone-0-menu-open");
        app.press("menu"); // close again
        for (i, s) in Screen::ALL.into_iter().enumerate() {
            app.go(s);
            sleep(Duration::from_millis(400));
            app.check_layout(&format!("phone {}", s.slug()));
            app.screenshot(&format!("phone-{}-{}", i + 1, s.slug()));
        }

        // The patient: MRN, demographics, a CPB case (the default kind).
        app.go(Screen::Cases);
        sleep(Duration::from_millis(600));
        app.press("mrn");
        app.type_text("MRN-5150");
        app.key("Return");
        sleep(Duration::from_millis(800));
        for (i, v) in ["Hopper", "Grace", "1946-12-09", "168", "61"]
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
        app.press("start-case");
        sleep(Duration::from_millis(1500));
        assert_eq!(app.probe().screen.as_deref(), Some("live"));
        app.check_layout("phone live, setup");
        app.screenshot("phone-live-1-setup");

        // Heparin (the loading dose from her weight is pre-filled), then an ACT below target.
        app.press("more");
        app.press("heparin");
        app.screenshot("phone-live-2-heparin-form");
        app.check_layout("phone heparin form");
        app.press("save");
        sleep(Duration::from_millis(1700));
        app.press("more");
        app.press("act");
        type_with_enter(&app, &["380"]);
        sleep(Duration::from_millis(1700));
        // The gate refuses bypass: ACT below the protocol's target.
        app.press("bypass_on");
        app.find("close-gate");
        app.screenshot("phone-live-3-gate-act-below-target");
        let kinds = kinds_of_case(data, phone_label);
        assert_eq!(count(&kinds, "bypass_on"), 0, "held by the gate: {kinds:?}");
        app.press("override-reason");
        app.type_text("surgeon decision, ACT repeat on bypass");
        app.press("override");
        sleep(Duration::from_millis(1000));
        // Then the checklist gate (no pre-bypass checklist on this device's case).
        app.find("close-gate");
        app.screenshot("phone-live-4-gate-checklist");
        app.press("override-reason");
        app.type_text("paper list signed in theatre");
        app.press("override");
        sleep(Duration::from_millis(2100));
        let kinds = kinds_of_case(data, phone_label);
        assert_eq!(count(&kinds, "anticoagulation_override"), 1, "{kinds:?}");
        assert_eq!(count(&kinds, "checklist_override"), 1, "{kinds:?}");
        assert_eq!(count(&kinds, "bypass_on"), 1, "{kinds:?}");
        app.press("cross_clamp_on");
        sleep(Duration::from_millis(2100));
        app.press("cardioplegia");
        app.check_layout("phone cardioplegia form");
        app.screenshot("phone-live-5-cardioplegia-form");
        app.press("save");
        sleep(Duration::from_millis(1700));
        // A blood gas by keypad: Enter moves to the next field and saves after the last.
        app.press("blood_gas");
        sleep(Duration::from_millis(500));
        type_with_enter(
            &app,
            &[
                "7.38", "41", "245", "24.1", "-0.5", "98", "8.4", "25", "138", "5.9", "1.1", "7.2",
            ],
        );
        app.type_text("3.4"); // lactate, then the patient temperature stays empty
        app.key("Return");
        sleep(Duration::from_millis(300));
        app.screenshot("phone-live-6-blood-gas-flags");
        app.key("Return");
        sleep(Duration::from_millis(1700));
        app.screenshot("phone-live-7-gas-on-timeline");
        app.press("more");
        app.press("act");
        type_with_enter(&app, &["510"]);
        sleep(Duration::from_millis(1700));
        app.press("cross_clamp_off");
        sleep(Duration::from_millis(2100));
        app.press("bypass_off");
        sleep(Duration::from_millis(2100));
        app.press("review");
        app.check_layout("phone review");
        app.screenshot("phone-live-8-review");
        app.press("sign");
        sleep(Duration::from_millis(1100));
        app.check_layout("phone confirm sign");
        app.screenshot("phone-live-9-confirm-sign");
        app.press("confirm-sign");
        sleep(Duration::from_millis(1500));
        assert_eq!(app.probe().screen.as_deref(), Some("cases"));
        app.screenshot("phone-live-10-signed-case-list");
        // The on-call board at phone width: the three ECMO runs, ranked with their reasons.
        app.go(Screen::EcmoBoard);
        sleep(Duration::from_millis(1500));
        app.check_layout("phone ECMO board");
        app.screenshot("phone-ecmo-board-three-runs");
        assert!(
            app.proc.alive(),
            "the app exited during the tour:\n{}",
            app.log_text()
        );
        app.navigated_to_all_screens();
    }
    let kinds = kinds_of_case(data, phone_label);
    let clinical: Vec<&str> = kinds
        .iter()
        .map(String::as_str)
        .filter(|k| !matches!(*k, "status" | "protocol" | "advisory") && !k.starts_with("device"))
        .collect();
    assert_eq!(
        clinical,
        [
            "heparin",
            "act",
            "anticoagulation_override",
            "checklist_override",
            "bypass_on",
            "cross_clamp_on",
            "cardioplegia",
            "blood_gas",
            "act",
            "cross_clamp_off",
            "bypass_off",
        ],
        "the phone case as recorded"
    );
    assert_eq!(
        count(&kinds, "status"),
        4,
        "set-up (started by MRN), running, completed, signed: {kinds:?}"
    );
    let gas: String = read_db(data)
        .query_row(
            "SELECT e.payload FROM entries e JOIN cases c ON c.id = e.case_id
              WHERE c.label = ?1 AND e.kind = 'blood_gas'",
            [phone_label],
            |r| r.get(0),
        )
        .unwrap();
    // Stored exactly as typed (decimal mantissa and exponent, no float round trip).
    for (analyte, mantissa, exponent) in [
        ("ph", 738, -2),
        ("k", 59, -1),
        ("lactate", 34, -1),
        ("base_excess", -5, -1),
        ("hco3", 241, -1),
    ] {
        let stored = format!(
            "\"{analyte}\":{{\"value\":{{\"mantissa\":{mantissa},\"exponent\":{exponent}}}"
        );
        assert!(gas.contains(&stored), "{stored} stored as typed: {gas}");
    }
    let (total, demo, integrity) = demo_cases(data);
    assert_eq!(
        (total, demo),
        (6, 6),
        "the signed demo case, the set-up one, a new demo case, the phone's case and the two ECMO demo runs"
    );
    assert_eq!(integrity, "ok");
    assert_eq!(
        event_kinds(data),
        case_flow(),
        "the signed demo case is unchanged"
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
            &["--key-store", "file"],
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

    // No patient data in any log: every log file of the tour (the app's stderr at tablet and
    // phone size and without an adapter, at RUST_LOG=info) scanned for what was typed about
    // the tour's patients: family names, MRNs, birth dates.
    let mut scanned = 0usize;
    let mut files = 0;
    for e in fs::read_dir(data).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "log") {
            let text = read(&p);
            scanned += text.len();
            files += 1;
            for needle in [
                "Lovelace",
                "Hopper",
                "MRN-4712",
                "MRN-5150",
                "1961-05-24",
                "1946-12-09",
            ] {
                assert!(
                    !text.contains(needle),
                    "{needle} in {}:\n{}",
                    p.display(),
                    text.lines()
                        .filter(|l| l.contains(needle))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
        }
    }
    assert!(
        files >= 3 && scanned > 10_000,
        "{files} log files, {scanned} bytes"
    );
    eprintln!("e2e: {files} log files ({scanned} bytes) hold no patient name, MRN or birth date");
}
