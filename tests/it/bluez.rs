//! The real btleplug → bluez-async → D-Bus path against a mocked BlueZ on a private bus
//! (python-dbusmock's bluez5 template with GATT objects; recipe in ../shared/devices.md §3).
//!
//! btleplug finds BlueZ through DBUS_SYSTEM_BUS_ADDRESS, a process-wide setting, so the scenario
//! runs in a child process of this test binary: the other tests (and the desktop end-to-end
//! runs they spawn) keep the machine's own bus. The child starts tests/peers/bluez/mock_bluez.py,
//! which starts and stops its own dbus-daemon; the child stops the mock when it finishes, and
//! the mock also stops when its stdin closes, so nothing outlives the test.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use pumpside::app::{CaseSession, DeviceHub};
use pumpside::devices::ble::Scanner;
use pumpside::devices::gatt::{characteristic as ch, service};
use pumpside::devices::telemetry_profile::{self, Code};
use pumpside::devices::{run_session, LinkState, SessionConfig, SessionEvent};
use pumpside::domain::protocol::Protocol;
use pumpside::domain::routing::Command as RouteCommand;
use pumpside::domain::{Author, Decimal, EntryPayload, Parameter};
use tokio::sync::{mpsc, watch};

const CHILD_ENV: &str = "PUMPSIDE_BLUEZ_CHILD";
const THERMO: &str = "C0:FF:EE:00:00:01";
const OXI: &str = "C0:FF:EE:00:00:02";
const CONSOLE: &str = "C0:FF:EE:00:00:03";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Device Information characteristics with the given serial.
fn dis(maker: &str, model: &str, serial: &str) -> serde_json::Value {
    serde_json::json!({
        "uuid": service::DEVICE_INFORMATION.to_string(),
        "chars": [
            {"uuid": ch::MANUFACTURER_NAME.to_string(), "flags": ["read"], "value": hex(maker.as_bytes())},
            {"uuid": ch::MODEL_NUMBER.to_string(), "flags": ["read"], "value": hex(model.as_bytes())},
            {"uuid": ch::SERIAL_NUMBER.to_string(), "flags": ["read"], "value": hex(serial.as_bytes())},
        ]
    })
}

fn spec() -> serde_json::Value {
    serde_json::json!({"devices": [
        {"address": THERMO, "name": "Thermo T1", "rssi": -48, "services": [
            {"uuid": service::HEALTH_THERMOMETER.to_string(), "chars": [
                {"uuid": ch::TEMPERATURE_MEASUREMENT.to_string(), "flags": ["indicate"]}]},
            dis("Acme", "Thermo 2", "T-0001"),
            {"uuid": service::BATTERY.to_string(), "chars": [
                {"uuid": ch::BATTERY_LEVEL.to_string(), "flags": ["read"], "value": "5a"}]},
        ]},
        {"address": OXI, "name": "Oxi O1", "rssi": -63, "services": [
            {"uuid": service::PULSE_OXIMETER.to_string(), "chars": [
                {"uuid": ch::PLX_CONTINUOUS.to_string(), "flags": ["notify"]}]},
            dis("Acme", "Oxi 5", "O-0042"),
        ]},
        {"address": CONSOLE, "name": "HLM console", "rssi": -40, "services": [
            {"uuid": telemetry_profile::SERVICE.to_string(), "chars": [
                {"uuid": ch::TELEMETRY_MEASUREMENT.to_string(), "flags": ["notify"]}]},
            dis("Pumpside", "Sim HLM", "H-7"),
        ]},
    ]})
}

/// The mock BlueZ process and its command pipe. Dropping it closes stdin (the mock then stops
/// its bus and exits) and waits for it, killing it by PID if it does not go.
struct MockBluez {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    address: String,
}

impl MockBluez {
    fn start() -> MockBluez {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/bluez/mock_bluez.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start /usr/bin/python3 (scripts/setup.sh installs python3-dbusmock)");
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        writeln!(stdin, "{}", spec()).unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let address = line
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("mock BlueZ did not start: {line:?}"))
            .trim()
            .to_string();
        MockBluez {
            child,
            stdin: Some(stdin),
            stdout,
            address,
        }
    }

    fn cmd(&mut self, command: &str) -> String {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let line = line.trim().to_string();
        assert!(line.starts_with("OK"), "mock BlueZ: {command} → {line}");
        line
    }
}

impl Drop for MockBluez {
    fn drop(&mut self) {
        drop(self.stdin.take());
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run a blocking mock command off the runtime's threads.
async fn mock_cmd(mock: &Arc<std::sync::Mutex<MockBluez>>, command: String) -> String {
    let m = mock.clone();
    tokio::task::spawn_blocking(move || m.lock().unwrap().cmd(&command))
        .await
        .unwrap()
}

async fn next_matching(
    rx: &mut mpsc::Receiver<SessionEvent>,
    what: &str,
    pred: impl Fn(&SessionEvent) -> bool,
) -> Vec<SessionEvent> {
    let mut seen = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} within 20 s; saw {seen:?}"))
            .expect("session alive");
        let done = pred(&e);
        seen.push(e);
        if done {
            return seen;
        }
    }
}

fn values(events: &[SessionEvent]) -> Vec<(String, f64)> {
    events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Measurement(m) => {
                Some((m.decoded.name.clone(), m.decoded.value.number()?.to_f64()))
            }
            _ => None,
        })
        .collect()
}

#[test]
#[ignore = "child process of the_real_ble_stack_works_against_a_mocked_bluez"]
fn bluez_child_process() {
    assert!(
        std::env::var_os(CHILD_ENV).is_some(),
        "run by the parent test"
    );
    let mock = MockBluez::start();
    // This process runs only this test: setting the variable cannot disturb another.
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &mock.address);
    let mock = Arc::new(std::sync::Mutex::new(mock));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(scenario(mock.clone()));
    drop(rt);
    let mock = Arc::try_unwrap(mock).ok().unwrap().into_inner().unwrap();
    drop(mock);
    println!("BLUEZ SCENARIO PASSED");
}

async fn scenario(mock: Arc<std::sync::Mutex<MockBluez>>) {
    let (scanner, _adapter) = Scanner::first_adapter(Duration::from_secs(5))
        .await
        .expect("the mocked adapter");
    let found = scanner
        .scan(&service::SCAN_FILTER, Duration::from_millis(500))
        .await
        .expect("scan");
    let mut names: Vec<String> = found.iter().filter_map(|d| d.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["HLM console", "Oxi O1", "Thermo T1"]);
    let thermo = found
        .iter()
        .find(|d| d.name.as_deref() == Some("Thermo T1"))
        .unwrap();
    assert_eq!(thermo.rssi, Some(-48));
    // A scan for one service lists only the devices offering it.
    let only = scanner
        .scan(&[service::PULSE_OXIMETER], Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(only.len(), 1);

    let cfg = SessionConfig {
        backoff_first: Duration::from_millis(200),
        ..SessionConfig::default()
    };
    let (stop, stop_rx) = watch::channel(false);
    let mut rxs: Vec<mpsc::Receiver<SessionEvent>> = Vec::new();
    let mut tasks = Vec::new();
    for name in ["Thermo T1", "Oxi O1", "HLM console"] {
        let d = found
            .iter()
            .find(|d| d.name.as_deref() == Some(name))
            .unwrap();
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(run_session(
            Arc::new(scanner.link(d)),
            cfg.clone(),
            tx,
            stop_rx.clone(),
        ));
        rxs.push(rx);
        tasks.push(task);
    }

    // Connect and identify all three.
    let mut keys = Vec::new();
    for rx in rxs.iter_mut() {
        let events = next_matching(rx, "connection", |e| {
            matches!(e, SessionEvent::State(LinkState::Connected))
        })
        .await;
        let info = events
            .iter()
            .find_map(|e| match e {
                SessionEvent::Connected(i) => Some(i.clone()),
                _ => None,
            })
            .unwrap();
        keys.push(info.identity.key().unwrap());
        if info.label == "Thermo T1" {
            assert_eq!(info.battery, Some(90));
        }
    }
    assert_eq!(
        keys,
        [
            "sn:Acme|Thermo 2|T-0001",
            "sn:Acme|Oxi 5|O-0042",
            "sn:Pumpside|Sim HLM|H-7"
        ]
    );

    // Notifications of each kind arrive decoded.
    let thermo_char = ch::TEMPERATURE_MEASUREMENT.to_string();
    let oxi_char = ch::PLX_CONTINUOUS.to_string();
    let hlm_char = ch::TELEMETRY_MEASUREMENT.to_string();
    for (addr, c) in [
        (THERMO, &thermo_char),
        (OXI, &oxi_char),
        (CONSOLE, &hlm_char),
    ] {
        mock_cmd(&mock, format!("wait-notifying {addr} {c} 10")).await;
    }
    // 36.4 °C, FLOAT mantissa 364 exponent -1, no time stamp.
    mock_cmd(&mock, format!("notify {THERMO} {thermo_char} 006c0100ff")).await;
    // SpO2 97 %, pulse 72 /min (SFLOAT exponent 0).
    mock_cmd(&mock, format!("notify {OXI} {oxi_char} 0061004800")).await;
    let tele = telemetry_profile::encode(
        1,
        None,
        &[
            (Code::PumpFlow, 0, Decimal::new(452, -2)),
            (Code::ArterialOutletTemp, 0, Decimal::new(342, -1)),
        ],
    )
    .unwrap();
    mock_cmd(&mock, format!("notify {CONSOLE} {hlm_char} {}", hex(&tele))).await;

    let e = next_matching(&mut rxs[0], "temperature", |e| {
        matches!(e, SessionEvent::Measurement(_))
    })
    .await;
    assert_eq!(values(&e), [("temperature".to_string(), 36.4)]);
    let e = next_matching(
        &mut rxs[1],
        "oximetry",
        |e| matches!(e, SessionEvent::Measurement(m) if m.decoded.name == "pulse rate"),
    )
    .await;
    assert_eq!(
        values(&e),
        [("SpO2".to_string(), 97.0), ("pulse rate".to_string(), 72.0)]
    );
    let e = next_matching(
        &mut rxs[2],
        "telemetry",
        |e| matches!(e, SessionEvent::Measurement(m) if m.decoded.name == "ArterialOutletTemp"),
    )
    .await;
    assert_eq!(
        values(&e),
        [
            ("PumpFlow".to_string(), 4.52),
            ("ArterialOutletTemp".to_string(), 34.2)
        ]
    );

    // Link loss of the thermometer: the session notices, reconnects, subscribes again.
    mock_cmd(&mock, format!("drop {THERMO}")).await;
    let e = next_matching(&mut rxs[0], "reconnection", |e| {
        matches!(e, SessionEvent::State(LinkState::Connected))
    })
    .await;
    assert!(
        e.iter()
            .any(|e| matches!(e, SessionEvent::State(LinkState::Retrying { .. }))),
        "{e:?}"
    );
    mock_cmd(&mock, format!("wait-notifying {THERMO} {thermo_char} 10")).await;
    let calls = mock_cmd(&mock, format!("calls {THERMO} Connect")).await;
    assert_eq!(calls, "OK 2", "connected twice");
    mock_cmd(&mock, format!("notify {THERMO} {thermo_char} 006d0100ff")).await;
    let e = next_matching(&mut rxs[0], "temperature after reconnect", |e| {
        matches!(e, SessionEvent::Measurement(_))
    })
    .await;
    assert_eq!(values(&e), [("temperature".to_string(), 36.5)]);

    stop.send(true).unwrap();
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(20), t)
            .await
            .unwrap()
            .unwrap();
    }

    bonding_as_bluez_reports_it(&mock, &scanner, &found).await;
    into_the_case_record(&mock, &scanner, &found).await;
}

#[test]
fn the_real_ble_stack_works_against_a_mocked_bluez() {
    crate::run_child(
        "bluez::bluez_child_process",
        CHILD_ENV,
        "BLUEZ SCENARIO PASSED",
    );
}

/// With bonding required, the session reads BlueZ's `Paired` for the device: an unpaired
/// oximeter gives nothing and the session stops saying so; once paired it connects.
async fn bonding_as_bluez_reports_it(
    mock: &Arc<std::sync::Mutex<MockBluez>>,
    scanner: &Scanner,
    found: &[pumpside::devices::ble::Discovered],
) {
    let oxi = found
        .iter()
        .find(|d| d.name.as_deref() == Some("Oxi O1"))
        .unwrap();
    let cfg = SessionConfig {
        backoff_first: Duration::from_millis(200),
        require_bonding: true,
        ..SessionConfig::default()
    };
    let (_stop, stop_rx) = watch::channel(false);
    let (tx, mut rx) = mpsc::channel(64);
    let task = tokio::spawn(run_session(
        Arc::new(scanner.link(oxi)),
        cfg.clone(),
        tx,
        stop_rx.clone(),
    ));
    let events = next_matching(&mut rx, "the refusal", |e| {
        matches!(e, SessionEvent::State(LinkState::Stopped))
    })
    .await;
    assert!(
        events.iter().any(|e| matches!(e,
            SessionEvent::NotBonded { why } if why.contains("this device is not bonded"))),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, SessionEvent::Connected(_))),
        "{events:?}"
    );
    task.await.unwrap();

    mock_cmd(mock, format!("pair {OXI}")).await;
    let (stop, stop_rx) = watch::channel(false);
    let (tx, mut rx) = mpsc::channel(64);
    let task = tokio::spawn(run_session(Arc::new(scanner.link(oxi)), cfg, tx, stop_rx));
    next_matching(&mut rx, "the bonded device's connection", |e| {
        matches!(e, SessionEvent::State(LinkState::Connected))
    })
    .await;
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap();
}

/// Phase two: the same devices through the app's device hub, into a case in a real SQLite file.
async fn into_the_case_record(
    mock: &Arc<std::sync::Mutex<MockBluez>>,
    scanner: &Scanner,
    found: &[pumpside::devices::ble::Discovered],
) {
    let dir = crate::temp_dir();
    let store = crate::record::open(&dir);
    let case = crate::record::new_case(&store, false).await;
    let (live_tx, mut live_rx) = mpsc::channel(1024);
    let hub = DeviceHub::new(store.clone(), live_tx);
    let session = CaseSession::new(
        store.clone(),
        Author::new("R. Perfusionist", "or-3-tablet"),
        std::sync::Arc::new(Protocol::defaults().unwrap()),
        hub.clone(),
    );
    session.start().await.unwrap();
    let cfg = SessionConfig {
        backoff_first: Duration::from_millis(200),
        ..SessionConfig::default()
    };
    for d in found {
        hub.attach(scanner.link(d), cfg.clone(), false, d.rssi);
    }
    let thermo_char = ch::TEMPERATURE_MEASUREMENT.to_string();
    let oxi_char = ch::PLX_CONTINUOUS.to_string();
    let hlm_char = ch::TELEMETRY_MEASUREMENT.to_string();
    for (addr, c) in [
        (THERMO, &thermo_char),
        (OXI, &oxi_char),
        (CONSOLE, &hlm_char),
    ] {
        mock_cmd(mock, format!("wait-notifying {addr} {c} 10")).await;
    }
    // Connected devices are recorded nowhere until the record associates them with the case.
    let mut keys = Vec::new();
    for _ in 0..100 {
        keys = hub.board().into_iter().filter_map(|d| d.key.ok()).collect();
        if keys.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(keys.len(), 3, "{:?}", hub.board());
    assert!(hub.board().iter().all(|d| d.case.is_none()));
    for key in keys {
        session
            .command(
                case,
                RouteCommand::Associate {
                    device_key: key,
                    role: "monitoring".into(),
                },
            )
            .await
            .unwrap();
    }
    assert!(hub.board().iter().all(|d| d.case == Some(case)));
    for i in 0..3u16 {
        mock_cmd(
            mock,
            format!("notify {THERMO} {thermo_char} 00{:02x}0100ff", 0x6c + i),
        )
        .await;
        mock_cmd(
            mock,
            format!("notify {OXI} {oxi_char} 00{:02x}004800", 0x60 + i),
        )
        .await;
        let tele = telemetry_profile::encode(
            10 + i,
            None,
            &[(Code::PumpFlow, 0, Decimal::new(450 + i64::from(i), -2))],
        )
        .unwrap();
        mock_cmd(mock, format!("notify {CONSOLE} {hlm_char} {}", hex(&tele))).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Link loss and reconnection of the console, then one more record.
    mock_cmd(mock, format!("drop {CONSOLE}")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    mock_cmd(mock, format!("wait-notifying {CONSOLE} {hlm_char} 10")).await;
    let tele =
        telemetry_profile::encode(20, None, &[(Code::PumpFlow, 0, Decimal::new(461, -2))]).unwrap();
    mock_cmd(mock, format!("notify {CONSOLE} {hlm_char} {}", hex(&tele))).await;

    // The live screen saw them...
    let mut live = Vec::new();
    while live.len() < 13 {
        let Ok(s) = tokio::time::timeout(Duration::from_secs(20), live_rx.recv()).await else {
            panic!(
                "live values: only {:?}; board {:?}",
                live.iter()
                    .map(|s: &pumpside::domain::LiveSample| (s.parameter, s.value))
                    .collect::<Vec<_>>(),
                hub.board()
            );
        };
        let s = s.unwrap();
        live.push(s);
    }
    // ...and the recorder commits them (once a second) into the case, with their bytes.
    let want = [
        (
            Parameter::PatientTemp,
            "Thermo 2 T-0001",
            vec![36.4, 36.5, 36.6],
        ),
        (Parameter::Spo2, "Oxi 5 O-0042", vec![96.0, 97.0, 98.0]),
        (Parameter::PulseRate, "Oxi 5 O-0042", vec![72.0, 72.0, 72.0]),
        (
            Parameter::PumpFlow,
            "Sim HLM H-7",
            vec![4.5, 4.51, 4.52, 4.61],
        ),
    ];
    let mut last = String::new();
    for _ in 0..100 {
        let chans = store.channels(case).await.unwrap();
        last.clear();
        for (p, source, values) in &want {
            let Some(c) = chans
                .iter()
                .find(|c| c.parameter == *p && c.source_device == *source)
            else {
                last.push_str(&format!("no channel {p:?} from {source}; "));
                continue;
            };
            let now = chrono::Utc::now();
            let got: Vec<f64> = store
                .samples(c.id, now - chrono::Duration::hours(1), now)
                .await
                .unwrap()
                .iter()
                .map(|s| s.value.to_f64())
                .collect();
            if &got != values {
                last.push_str(&format!("{p:?}: {got:?}; "));
            }
        }
        if last.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(last.is_empty(), "case record: {last}");
    let frames = store.device_frames(case).await.unwrap();
    assert_eq!(frames.len(), 10, "one stored notification per received one");
    assert!(frames
        .iter()
        .any(|f| f.device == "sn:Acme|Thermo 2|T-0001" && f.bytes == [0, 0x6c, 1, 0, 0xff]));
    // Every connection is recorded with the identity as read; the console connected twice.
    let sessions = store
        .device_sessions("sn:Pumpside|Sim HLM|H-7".into())
        .await
        .unwrap();
    assert_eq!(sessions.len(), 2);
    // The console's link loss and return are on the case timeline.
    let mut links: Vec<bool> = Vec::new();
    for _ in 0..50 {
        links = store
            .entries(case)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|e| match e.payload {
                EntryPayload::DeviceLink {
                    device_key,
                    connected,
                    ..
                } if device_key == "sn:Pumpside|Sim HLM|H-7" => Some(connected),
                _ => None,
            })
            .collect();
        if links.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(links, [false, true], "link lost, then back");
    let board = hub.board();
    let console = board.iter().find(|d| d.label == "HLM console").unwrap();
    assert!(console.connected, "{console:?}");
    assert_eq!(console.rssi, Some(-40));
    for d in board {
        hub.forget(d.id);
    }
}
