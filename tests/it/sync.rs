//! Sync against a real FHIR R4 server (tests/peers/fhir: Medplum's router over node:http on
//! 127.0.0.1, validating every resource it receives), through a fault-injecting proxy where the
//! test needs the network to misbehave.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pumpside::domain::bloodgas::{
    Analyte, AnalyteValue, BloodGasPanel, GasTemperature, SampleSite,
};
use pumpside::domain::checklist::{Answer, Purpose};
use pumpside::domain::entry::{
    CardioplegiaDose, CardioplegiaRoute, CircuitComponent, ComponentKind, FluidKind,
};
use pumpside::domain::patient::{BloodGroup, Mrn, Sex};
use pumpside::domain::{
    Author, CaseId, CaseKind, CaseStatus, Channel, ChannelId, Decimal, DeviceTime, Entry,
    EntryPayload, EventKind, NewEntry, Parameter, Patient, Sample, Validity,
};
use pumpside::store::{NewCase, OutboxState, Store};
use pumpside::sync::{SyncConfig, SyncEngine, SyncError};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The FHIR test peer, stopped (by PID) when dropped.
pub struct FhirPeer {
    child: Child,
    pub port: u16,
}

impl FhirPeer {
    pub fn start(token: Option<&str>) -> Self {
        match token {
            Some(t) => Self::start_env(&[("PEER_TOKEN", t)]),
            None => Self::start_env(&[]),
        }
    }

    /// Started with these environment variables (see server.mjs).
    pub fn start_env(env: &[(&str, &str)]) -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/fhir");
        assert!(
            dir.join("node_modules/@medplum/fhir-router").exists(),
            "the FHIR peer is not installed: run scripts/setup.sh (npm ci in tests/peers/fhir)"
        );
        let mut cmd = Command::new("node");
        cmd.arg("server.mjs")
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("node (run scripts/setup.sh)");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("peer output");
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("peer did not start: {line:?}"));
        Self { child, port }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Started serving HTTPS with the test hospital CA's certificate for 127.0.0.1
    /// (tests/fixtures/tls).
    pub fn start_tls() -> Self {
        let tls = tls_fixtures();
        Self::start_env(&[
            ("PEER_TLS_CERT", tls.join("server.pem").to_str().unwrap()),
            ("PEER_TLS_KEY", tls.join("server.key").to_str().unwrap()),
        ])
    }

    pub fn https_base(&self) -> String {
        format!("https://127.0.0.1:{}/", self.port)
    }

    /// Distinct resources of each type on the server.
    pub async fn counts(&self) -> BTreeMap<String, u64> {
        let body = reqwest::get(format!("{}_peer/stats", self.base()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        v["counts"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
            .collect()
    }

    /// The peer's own figures (requests, tokens issued and refused, …).
    pub async fn stats(&self) -> Value {
        let body = reqwest::get(format!("{}_peer/stats", self.base()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&body).unwrap()
    }

    /// Write to the server as another client would (no proxy): the status and the answer.
    pub async fn write(&self, method: reqwest::Method, path: &str, body: &Value) -> (u16, Value) {
        let r = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base()))
            .header("Content-Type", "application/fhir+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> Value {
        let body = reqwest::get(format!("{}{path}", self.base()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for FhirPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("sync: stopped the FHIR peer (pid {})", self.child.id());
    }
}

/// What the proxy does with one request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Forward and answer.
    Pass,
    /// Answer 500 without forwarding.
    Http500,
    /// Forward, let the server do it, then close without answering (a timeout or reset after
    /// the server committed).
    LoseAnswer,
    /// Close the connection before forwarding.
    Reset,
    /// Wait, then forward and answer.
    Slow(Duration),
}

/// A loopback HTTP proxy in front of the peer that applies a script of faults, one per request,
/// then passes everything. Each connection carries one request (`Connection: close`).
pub struct Proxy {
    pub port: u16,
    /// A request whose body contains this text is answered 422 (a server-side validation
    /// failure) without forwarding.
    pub reject: Arc<Mutex<Option<String>>>,
    /// Every request body that passed through (what the app emitted).
    pub bodies: Arc<Mutex<Vec<String>>>,
    pub requests: Arc<Mutex<u64>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn read_request(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(buf);
        }
    }
}

/// The request with `Connection: close`, so the server closes after answering.
fn closing(req: &[u8]) -> Vec<u8> {
    let end = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&req[..end]);
    let mut out: Vec<String> = head
        .lines()
        .filter(|l| !l.to_lowercase().starts_with("connection:"))
        .map(String::from)
        .collect();
    out.push("Connection: close".into());
    let mut bytes = out.join("\r\n").into_bytes();
    bytes.extend_from_slice(b"\r\n\r\n");
    bytes.extend_from_slice(&req[end + 4..]);
    bytes
}

impl Proxy {
    pub async fn start(upstream: u16, script: Vec<Fault>) -> Self {
        Self::start_on(upstream, script, false).await
    }

    /// Faults only on writes (POST, PUT, DELETE); reads pass. The script then stays aligned with
    /// the uploads whatever the engine reads in between (the capability check, patient lookups,
    /// the pull of laboratory results during a live case).
    pub async fn start_writes(upstream: u16, script: Vec<Fault>) -> Self {
        Self::start_on(upstream, script, true).await
    }

    async fn start_on(upstream: u16, script: Vec<Fault>, writes_only: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let requests = Arc::new(Mutex::new(0u64));
        let counter = requests.clone();
        let reject: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let rule = reject.clone();
        let bodies: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
        let seen = bodies.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let script = script.clone();
                let counter = counter.clone();
                let rule = rule.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Some(req) = read_request(&mut client).await else {
                        return;
                    };
                    *counter.lock().unwrap() += 1;
                    if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                        if req.len() > end + 4 {
                            seen.lock()
                                .unwrap()
                                .push(String::from_utf8_lossy(&req[end + 4..]).into_owned());
                        }
                    }
                    let marker = rule.lock().unwrap().clone();
                    if marker.is_some_and(|m| String::from_utf8_lossy(&req).contains(&m)) {
                        let body = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","details":{"text":"rejected by the hospital's profile"}}]}"#;
                        let _ = client
                            .write_all(
                                format!(
                                    "HTTP/1.1 422 Unprocessable Entity\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                    body.len()
                                )
                                .as_bytes(),
                            )
                            .await;
                        let _ = client.shutdown().await;
                        return;
                    }
                    let read = req.starts_with(b"GET ") || req.starts_with(b"HEAD ");
                    let fault = if writes_only && read {
                        Fault::Pass
                    } else {
                        script.lock().unwrap().pop_front().unwrap_or(Fault::Pass)
                    };
                    let forward = |req: Vec<u8>| async move {
                        let mut up = TcpStream::connect(("127.0.0.1", upstream)).await.ok()?;
                        up.write_all(&closing(&req)).await.ok()?;
                        let mut answer = Vec::new();
                        up.read_to_end(&mut answer).await.ok()?;
                        Some(answer)
                    };
                    match fault {
                        Fault::Pass => {
                            if let Some(a) = forward(req).await {
                                let _ = client.write_all(&a).await;
                            }
                        }
                        Fault::Http500 => {
                            let body = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]}"#;
                            let _ = client
                                .write_all(
                                    format!(
                                        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                        body.len()
                                    )
                                    .as_bytes(),
                                )
                                .await;
                        }
                        Fault::LoseAnswer => {
                            let _ = forward(req).await;
                        }
                        Fault::Reset => {}
                        Fault::Slow(d) => {
                            tokio::time::sleep(d).await;
                            if let Some(a) = forward(req).await {
                                let _ = client.write_all(&a).await;
                            }
                        }
                    }
                    let _ = client.shutdown().await;
                });
            }
        });
        Self {
            port,
            reject,
            bodies,
            requests,
            task,
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

pub fn config(base: &str, extra: &str) -> SyncConfig {
    SyncConfig::parse(&format!(
        "server = \"{base}\"\ncreate_patients = true\ntimeout_s = 5\n{extra}"
    ))
    .unwrap()
}

pub fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub fn author() -> Author {
    Author::new("R. Perfusionist", "or-3-tablet")
}

pub async fn add(s: &Store, case: CaseId, at: DateTime<Utc>, payload: EntryPayload) -> Entry {
    s.append_entry(NewEntry {
        case_id: case,
        occurred_at: at,
        author: author(),
        payload,
    })
    .await
    .unwrap()
}

pub struct Recorded {
    pub case: CaseId,
    pub note: Entry,
    /// Trend samples per channel.
    pub samples: usize,
}

/// A CPB case as a tablet records it: patient by MRN, the clinical timeline (events, drugs,
/// fluids, a blood gas, an ACT, values, a component, a note later retracted) and `minutes` of
/// two 1 Hz device trends ending on the last closed 10-minute boundary.
/// The MRN issuer of the sync tests' patients.
pub const TEST_MRN_SYSTEM: &str = "urn:oid:1.2.826.0.1.3680043.9.7";

/// A test patient with this MRN.
pub async fn test_patient(s: &Store, mrn: &str) -> pumpside::domain::PatientId {
    s.create_patient(
        Patient {
            mrn: Mrn {
                system: TEST_MRN_SYSTEM.into(),
                value: mrn.into(),
            },
            family_name: "Testpatient".into(),
            given_names: "Ada".into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(1961, 5, 24).unwrap(),
            sex: Sex::Female,
            height_cm: d("172"),
            weight_kg: d("64"),
            blood_group: BloodGroup::APos,
            allergies: vec![],
        },
        author(),
    )
    .await
    .unwrap()
}

pub async fn record_cpb_case(s: &Store, mrn: &str, minutes: i64) -> Recorded {
    let now = Utc::now();
    let patient = test_patient(s, mrn).await;
    let case = s
        .create_case(
            NewCase {
                kind: CaseKind::Cpb,
                patient: Some(patient),
                label: format!("CABG x3 · MRN {mrn}"),
                is_demo: false,
                status: CaseStatus::Running,
            },
            author(),
        )
        .await
        .unwrap()
        .id;
    let t = |m: i64| now - chrono::Duration::minutes(minutes + 5) + chrono::Duration::minutes(m);
    add(
        s,
        case,
        t(0),
        EntryPayload::ChecklistOverride {
            purpose: Purpose::PreBypass,
            reason: "test record".into(),
        },
    )
    .await;
    // A signed pre-bypass checklist (goes as Questionnaire + QuestionnaireResponse).
    let template = pumpside::domain::checklist::Template::parse(
        "sync-test.toml",
        r#"id = "sync-test"
version = "1"
title = "Sync test checklist"
purpose = "pre_bypass"

[[sections]]
title = "Circuit"
items = [
  { id = "circuit.primed", text = "Circuit primed and de-aired", kind = "check" },
  { id = "circuit.sweep", text = "Sweep gas", kind = "number", unit = "L/min", min = 0, max = 15 },
  { id = "circuit.note", text = "Comment", kind = "text" },
]
"#,
    )
    .unwrap();
    s.import_template(template.clone()).await.ok();
    let run = add(
        s,
        case,
        t(0),
        EntryPayload::ChecklistStarted {
            template: template.id.clone(),
            version: template.version.clone(),
            digest: template.digest.clone(),
            purpose: template.purpose,
        },
    )
    .await
    .id;
    for (item, answer) in [
        ("circuit.primed", Answer::Checked),
        ("circuit.sweep", Answer::Number(d("2.50"))),
        (
            "circuit.note",
            Answer::Text("Venous line clamped until go".into()),
        ),
    ] {
        add(
            s,
            case,
            t(0),
            EntryPayload::ChecklistAnswer {
                run,
                item: item.into(),
                answer,
            },
        )
        .await;
    }
    add(s, case, t(0), EntryPayload::ChecklistSigned { run }).await;
    add(s, case, t(0), EntryPayload::Heparin { units: d("25600") }).await;
    add(s, case, t(1), EntryPayload::Act { seconds: d("512") }).await;
    add(
        s,
        case,
        t(2),
        EntryPayload::Event {
            event: EventKind::BypassOn,
        },
    )
    .await;
    add(
        s,
        case,
        t(3),
        EntryPayload::Event {
            event: EventKind::CrossClampOn,
        },
    )
    .await;
    add(
        s,
        case,
        t(3),
        EntryPayload::Cardioplegia(CardioplegiaDose {
            solution: "del Nido".into(),
            volume_ml: d("1000"),
            crystalloid_ml: d("800"),
            route: CardioplegiaRoute::Antegrade,
            temperature_c: d("4"),
        }),
    )
    .await;
    let mut results = BTreeMap::new();
    for (a, v, u) in [
        (Analyte::Ph, "7.380", ""),
        (Analyte::Pco2, "41", "mmHg"),
        (Analyte::Po2, "245", "mmHg"),
        (Analyte::Hb, "8.9", "g/dL"),
        (Analyte::Lactate, "1.4", "mmol/L"),
    ] {
        results.insert(
            a,
            AnalyteValue {
                value: d(v),
                unit: u.into(),
            },
        );
    }
    add(
        s,
        case,
        t(4),
        EntryPayload::BloodGas(BloodGasPanel {
            site: SampleSite::PatientArtery,
            temperature: GasTemperature::At37,
            results,
            source: None,
        }),
    )
    .await;
    add(
        s,
        case,
        t(5),
        EntryPayload::Measurement {
            parameter: Parameter::PatientTemp,
            value: d("32.5"),
            unit: "°C".into(),
        },
    )
    .await;
    add(
        s,
        case,
        t(5),
        EntryPayload::Drug {
            name: "Phenylephrine".into(),
            dose: d("100"),
            unit: "mcg".into(),
            volume_ml: None,
        },
    )
    .await;
    add(
        s,
        case,
        t(6),
        EntryPayload::Fluid {
            kind: FluidKind::Crystalloid,
            name: "Plasma-Lyte".into(),
            volume_ml: d("500"),
        },
    )
    .await;
    add(
        s,
        case,
        t(7),
        EntryPayload::Urine {
            volume_ml: d("150"),
        },
    )
    .await;
    add(
        s,
        case,
        t(0),
        EntryPayload::Component(CircuitComponent {
            kind: ComponentKind::Oxygenator,
            manufacturer: "Acme".into(),
            model: "Oxy 8000".into(),
            lot: "L4711".into(),
            expiry: chrono::NaiveDate::from_ymd_opt(2027, 6, 30).unwrap(),
            udi: None,
            size: None,
        }),
    )
    .await;
    let note = add(
        s,
        case,
        t(8),
        EntryPayload::Note {
            text: "Venous line chatter".into(),
        },
    )
    .await;
    add(
        s,
        case,
        t(9),
        EntryPayload::Retraction {
            target: note.id,
            reason: "wrong case".into(),
        },
    )
    .await;
    add(
        s,
        case,
        t(minutes - 2),
        EntryPayload::Event {
            event: EventKind::CrossClampOff,
        },
    )
    .await;
    add(
        s,
        case,
        t(minutes - 1),
        EntryPayload::Event {
            event: EventKind::BypassOff,
        },
    )
    .await;
    let samples = trends(s, case, now, minutes).await;
    Recorded {
        case,
        note,
        samples,
    }
}

/// Two 1 Hz channels (pump flow, MAP) for `minutes`, ending on the last closed chunk boundary.
async fn trends(s: &Store, case: CaseId, now: DateTime<Utc>, minutes: i64) -> usize {
    // End on a chunk boundary that has already closed, so every chunk with samples is planned
    // by the first run and a clock crossing a boundary mid-test cannot close another one.
    let end = DateTime::from_timestamp_millis(pumpside::sync::map::chunk_start(
        now - chrono::Duration::minutes(2),
    ))
    .unwrap();
    let start = end - chrono::Duration::minutes(minutes);
    let n = (minutes * 60) as usize;
    for (p, unit, base) in [
        (Parameter::PumpFlow, "L/min", 450),
        (Parameter::MeanArterialPressure, "mmHg", 65),
    ] {
        let ch = Channel {
            id: ChannelId::new(),
            case_id: case,
            parameter: p,
            unit: unit.into(),
            source_device: "Acme HLM 8 SN 1234".into(),
            expected_interval_ms: 1000,
        };
        s.create_channel(ch.clone()).await.unwrap();
        let all: Vec<Sample> = (0..n)
            .map(|i| Sample {
                seq: i as u64 + 1,
                received_at: start + chrono::Duration::milliseconds(i as i64 * 1000 + 137),
                device_time: DeviceTime::Unknown,
                value: if p == Parameter::PumpFlow {
                    Decimal::new(base + (i % 7) as i64, -2)
                } else {
                    Decimal::new(base + (i % 5) as i64, 0)
                },
                validity: if i % 97 == 3 {
                    Validity::Artefact
                } else {
                    Validity::Valid
                },
            })
            .collect();
        for part in all.chunks(600) {
            s.append_samples(vec![(ch.id, part.to_vec())])
                .await
                .unwrap();
        }
    }
    n
}

/// Resources the outbox planned, by type (creates only: one server resource each).
pub async fn planned_creates(s: &Store) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in s.pending(100_000).await.unwrap() {
        if r.operation == pumpside::store::Operation::Create {
            *out.entry(r.resource_type).or_insert(0) += 1;
        }
    }
    out
}

/// Run the peer's validator (@medplum/core) and Python's fhir.resources (R4B) on a file.
pub fn validate_everywhere(file: &Path) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers");
    let python = root.join("python/.venv/bin/python");
    assert!(
        python.exists(),
        "the Python FHIR validator is not installed: run scripts/setup.sh"
    );
    for (what, mut cmd) in [
        ("@medplum/core", {
            let mut c = Command::new("node");
            c.arg(root.join("fhir/validate.mjs")).arg(file);
            c
        }),
        ("fhir.resources R4B", {
            let mut c = Command::new(&python);
            c.arg(root.join("python/validate_r4b.py")).arg(file);
            c
        }),
    ] {
        let out = cmd.output().expect("validator");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{what} found invalid resources:\n{}",
            text.lines()
                .filter(|l| l.starts_with("INVALID"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        eprintln!("sync: {what}: {}", text.lines().last().unwrap_or("ok"));
    }
}

pub fn open(dir: &Path) -> Store {
    Store::open(&dir.join("pumpside.sqlite3"), &crate::keys()).unwrap()
}

/// Sync until nothing is pending or `tries` runs failed; the errors seen.
pub async fn sync_until_done(engine: &SyncEngine, s: &Store, tries: usize) -> Vec<String> {
    let mut errors = Vec::new();
    for _ in 0..tries {
        match engine.sync_once().await {
            Ok(()) => {
                if s.outbox_summary().await.unwrap().pending == 0 {
                    return errors;
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    panic!("still pending after {tries} runs; errors: {errors:?}");
}

pub fn expected_on_server(planned: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut e = planned.clone();
    e.insert("Patient".into(), 1);
    e
}

/// Every type but Provenance (one per transaction, counted separately).
pub fn without_provenance(c: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    c.iter()
        .filter(|(k, _)| *k != "Provenance")
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

#[tokio::test]
async fn a_cpb_case_uploads_once_and_a_second_run_adds_nothing() {
    let peer = FhirPeer::start(None);
    let dir = crate::temp_dir();
    let s = open(dir.path());
    let rec = record_cpb_case(&s, "SYNC-1", 25).await;
    let proxy = Proxy::start(peer.port, vec![]).await;
    let engine = SyncEngine::new(s.clone(), config(&proxy.base(), ""), author()).unwrap();
    engine.plan(Utc::now()).await.unwrap();
    let planned = planned_creates(&s).await;
    assert_eq!(planned.get("Procedure"), Some(&1), "{planned:?}");
    assert_eq!(planned.get("Device"), Some(&1));
    assert_eq!(planned.get("Questionnaire"), Some(&1));
    assert_eq!(planned.get("QuestionnaireResponse"), Some(&1));
    assert_eq!(
        planned.get("MedicationAdministration"),
        Some(&4),
        "heparin, cardioplegia, drug, fluid"
    );
    // Observations: ACT, 4 events, 5 analytes + panel, temperature, urine, note, and trend
    // chunks (2 channels × the closed 10-minute windows the 25 minutes touch).
    let chunks = planned.get("Observation").unwrap() - 14;
    assert!(
        (4..=8).contains(&chunks) && chunks % 2 == 0,
        "trend chunks: {chunks}"
    );

    let errors = sync_until_done(&engine, &s, 3).await;
    assert!(errors.is_empty(), "{errors:?}");
    // Everything the app emitted validates in both validators (the peer already refused
    // invalid resources with 400).
    let emitted = dir.path().join("emitted.json");
    let bundles: Vec<Value> = proxy
        .bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    assert!(bundles.len() >= 2, "patient and at least one transaction");
    // Every Pumpside coding sent is a concept of the published CodeSystem, which is itself
    // validated with the rest.
    let mut ours = Vec::new();
    pumpside_codes(&Value::Array(bundles.clone()), &mut ours);
    assert!(ours.len() > 20, "{ours:?}");
    let unknown: Vec<&String> = ours
        .iter()
        .filter(|c| !pumpside::sync::codesystem::contains(c))
        .collect();
    assert!(unknown.is_empty(), "not in the CodeSystem: {unknown:?}");
    let mut checked = bundles.clone();
    checked.push(pumpside::sync::codesystem::code_system());
    std::fs::write(&emitted, serde_json::to_string(&checked).unwrap()).unwrap();
    validate_everywhere(&emitted);
    let counts = peer.counts().await;
    assert_eq!(without_provenance(&counts), expected_on_server(&planned));
    assert!(counts["Provenance"] >= 1);

    // The retracted note is on the server as entered-in-error, never deleted.
    let notes = peer
        .get(&format!(
            "Observation?identifier=urn:ietf:rfc:3986|urn:uuid:{}",
            rec.note.id
        ))
        .await;
    assert_eq!(notes["entry"][0]["resource"]["status"], "entered-in-error");
    // Decimals keep their precision, the panel links its members, trends are SampledData.
    let all = peer.get("Observation?_count=1000").await;
    let text = all.to_string();
    assert!(text.contains("\"hasMember\""));
    let sampled: Vec<&Value> = all["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["resource"].get("valueSampledData"))
        .collect();
    assert_eq!(sampled.len() as u64, chunks);
    for sd in &sampled {
        assert_eq!(sd["period"], 1000);
        assert_eq!(sd["data"].as_str().unwrap().split(' ').count(), 600);
    }
    assert!(sampled
        .iter()
        .any(|sd| sd["data"].as_str().unwrap().contains('E')));

    // A second run (and a re-plan) adds nothing.
    let requests_before = peer.counts().await;
    engine.sync_once().await.unwrap();
    engine.plan(Utc::now()).await.unwrap();
    assert_eq!(s.outbox_summary().await.unwrap().pending, 0);
    assert_eq!(peer.counts().await, requests_before);
    assert!(rec.samples > 0);
}

#[tokio::test]
async fn faults_mid_upload_end_with_every_record_on_the_server_exactly_once() {
    fault_matrix(FhirPeer::start(None), false).await;
}

/// The same faults against a server that behaves like other servers at their least helpful
/// (the peer's strict mode): minimal answers with absolute Locations and no versions, no
/// update-as-create, a 12,000-byte body limit (413), a next link to itself on every search, and
/// its first transaction redirected to another origin.
#[tokio::test]
async fn faults_against_a_strict_server_end_with_every_record_there_once_and_nothing_stuck() {
    fault_matrix(
        FhirPeer::start_env(&[("PEER_STRICT", "1"), ("PEER_MAX_BODY", "12000")]),
        true,
    )
    .await;
}

async fn fault_matrix(peer: FhirPeer, strict: bool) {
    let dir = crate::temp_dir();
    let s = open(dir.path());
    let rec = record_cpb_case(&s, "SYNC-2", 25).await;
    // Server down first: nothing listens on the configured port.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let engine = SyncEngine::new(
        s.clone(),
        config(&format!("http://127.0.0.1:{down}/"), "batch = 10"),
        author(),
    )
    .unwrap();
    let e = engine.sync_once().await.unwrap_err();
    assert!(matches!(e, SyncError::Transient(_)), "{e}");
    let planned = planned_creates(&s).await;
    let total = s.outbox_summary().await.unwrap().pending;
    assert!(total > 20, "{total}");
    drop(engine);

    // Restart (a new store handle on the same file, a new engine) behind a proxy that fails,
    // loses answers after the server committed, resets and stalls.
    drop(s);
    let s = open(dir.path());
    assert_eq!(s.outbox_summary().await.unwrap().pending, total);
    let proxy = Proxy::start_writes(
        peer.port,
        vec![
            Fault::Pass, // the test server's patient is created
            Fault::Http500,
            Fault::LoseAnswer,
            Fault::Pass,
            Fault::Reset,
            Fault::LoseAnswer,
            Fault::Slow(Duration::from_millis(1500)),
            Fault::Http500,
            Fault::LoseAnswer,
        ],
    )
    .await;
    let engine = SyncEngine::new(s.clone(), config(&proxy.base(), "batch = 10"), author()).unwrap();
    let errors = sync_until_done(&engine, &s, 20).await;
    assert!(errors.len() >= 4, "the faults were felt: {errors:?}");
    let counts = peer.counts().await;
    assert_eq!(without_provenance(&counts), expected_on_server(&planned));
    let summary = s.outbox_summary().await.unwrap();
    let unsettled = s.unsettled(5).await.unwrap();
    assert!(
        unsettled.is_empty(),
        "{:?}",
        unsettled
            .iter()
            .map(|r| (&r.payload, &r.detail))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        (summary.pending, summary.rejected, summary.conflicts),
        (0, 0, 0)
    );
    assert_eq!(summary.acked, total);
    assert!(summary.last_ack.is_some());
    // Every failed try is on record next to the row (the outbox is also the audit).
    let retries: i64 = crate::raw_db(&dir.path().join("pumpside.sqlite3"), &crate::keys())
        .query_row(
            "SELECT count(*) FROM sync_events WHERE state = 'retry'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(retries >= 4, "{retries}");
    assert!(*proxy.requests.lock().unwrap() > 5);

    // A 413 taught a size limit: it is kept, so a restarted engine starts below it. Twelve
    // 1,500-character notes would make a 10-operation Bundle over the strict peer's 12,000 bytes.
    let too_large_before = peer.stats().await["too_large"].as_u64().unwrap_or(0);
    if strict {
        let kept = s.size_limit(proxy.base()).await.unwrap();
        assert!(matches!(kept, Some(n) if n < 10), "{kept:?}");
        for i in 0..12 {
            add(
                &s,
                rec.case,
                Utc::now(),
                EntryPayload::Note {
                    text: format!("handover note {i}: {}", "x".repeat(1500)),
                },
            )
            .await;
        }
    }
    // Updates after version-less answers: the run completes and a note is retracted later.
    add(
        &s,
        rec.case,
        Utc::now(),
        EntryPayload::Status {
            status: CaseStatus::Completed,
        },
    )
    .await;
    let engine = SyncEngine::new(s.clone(), config(&proxy.base(), "batch = 10"), author()).unwrap();
    let errors = sync_until_done(&engine, &s, 6).await;
    let run = peer
        .get(&format!(
            "Procedure?identifier=urn:ietf:rfc:3986|urn:uuid:{}",
            rec.case
        ))
        .await;
    assert_eq!(
        run["entry"][0]["resource"]["status"], "completed",
        "{errors:?}"
    );
    let summary = s.outbox_summary().await.unwrap();
    assert_eq!(
        (summary.pending, summary.rejected, summary.conflicts),
        (0, 0, 0)
    );
    if strict {
        let stats = peer.stats().await;
        assert!(
            stats["too_large"].as_u64().unwrap() >= 1,
            "the size limit was met: {stats}"
        );
        assert_eq!(stats["redirects"], 1, "{stats}");
        assert_eq!(
            stats["too_large"].as_u64().unwrap(),
            too_large_before,
            "the restarted engine started at the kept limit: {stats}"
        );
        assert_eq!(
            stats["update_create_refused"], 0,
            "nothing asked for update-as-create"
        );
        assert!(
            errors.is_empty() || errors.iter().all(|e| !e.contains("update as create")),
            "{errors:?}"
        );
        // The on-call phone pulls from it: each search's self-referencing next link is named
        // and stops that search's paging; what was read is kept and shown.
        let phone_dir = crate::temp_dir();
        let phone = open(phone_dir.path());
        let mrn = pumpside::domain::patient::Mrn {
            system: TEST_MRN_SYSTEM.into(),
            value: "SYNC-2".into(),
        };
        let who = Author::new("On call", "phone-1");
        phone.follow(mrn.clone(), true, who.clone()).await.unwrap();
        let on_call = SyncEngine::new(phone.clone(), config(&peer.base(), ""), who).unwrap();
        let report = tokio::time::timeout(Duration::from_secs(30), on_call.pull())
            .await
            .expect("the pull ends")
            .unwrap();
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("repeats a page already read")),
            "{report:?}"
        );
        assert!(report.added > 20, "{report:?}");
        let runs = pumpside::sync::remote::runs(&phone.pulled(mrn).await.unwrap());
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].status, "completed");
        assert!(!runs[0].latest.is_empty());
    }
}

/// A server whose CapabilityStatement lacks transactions is named before anything is sent, and
/// every record waits on the device.
#[tokio::test]
async fn a_server_without_transactions_is_named_before_anything_is_sent() {
    let peer = FhirPeer::start_env(&[("PEER_CAPS", "no-transaction")]);
    let dir = crate::temp_dir();
    let s = open(dir.path());
    record_cpb_case(&s, "SYNC-CAPS", 5).await;
    let engine = SyncEngine::new(s.clone(), config(&peer.base(), ""), author()).unwrap();
    let e = engine.sync_once().await.unwrap_err();
    assert!(matches!(e, SyncError::Capability(_)), "{e}");
    assert!(
        e.to_string().contains("does not take transaction Bundles")
            && e.to_string().contains("Nothing was sent"),
        "{e}"
    );
    let summary = s.outbox_summary().await.unwrap();
    assert!(summary.pending > 10 && summary.acked == 0, "{summary:?}");
    let counts = peer.counts().await;
    assert_eq!(
        counts.get("Observation").copied().unwrap_or(0),
        0,
        "{counts:?}"
    );
    assert!(engine
        .status()
        .borrow()
        .last_error
        .as_deref()
        .unwrap_or("")
        .contains("transaction"));
}

#[tokio::test]
async fn a_stale_update_becomes_a_conflict_with_both_versions_and_is_not_overwritten() {
    let peer = FhirPeer::start(None);
    let dir = crate::temp_dir();
    let s = open(dir.path());
    let rec = record_cpb_case(&s, "SYNC-3", 5).await;
    let engine = SyncEngine::new(s.clone(), config(&peer.base(), ""), author()).unwrap();
    sync_until_done(&engine, &s, 3).await;

    // Another tablet changes the run on the server.
    let found = peer
        .get(&format!(
            "Procedure?identifier=urn:ietf:rfc:3986|urn:uuid:{}",
            rec.case
        ))
        .await;
    let mut theirs = found["entry"][0]["resource"].clone();
    let id = theirs["id"].as_str().unwrap().to_string();
    theirs["note"] = serde_json::json!([{ "text": "edited on the ICU tablet" }]);
    let (put, _) = peer
        .write(reqwest::Method::PUT, &format!("Procedure/{id}"), &theirs)
        .await;
    assert_eq!(put, 200);

    // This tablet completes the case: its update carries the version it last saw.
    s.set_status(rec.case, CaseStatus::Completed, author())
        .await
        .unwrap();
    engine.sync_once().await.unwrap();
    let summary = s.outbox_summary().await.unwrap();
    assert_eq!(summary.conflicts, 1, "{summary:?}");
    let conflict = s.unsettled(10).await.unwrap();
    assert_eq!(conflict.len(), 1);
    assert_eq!(conflict[0].state, OutboxState::Conflict);
    assert!(conflict[0].payload.contains("\"completed\""), "ours kept");
    let server_version = conflict[0].detail.as_deref().unwrap();
    assert!(
        server_version.contains("edited on the ICU tablet"),
        "theirs kept: {server_version}"
    );
    // The server still holds the other tablet's version.
    let now = peer.get(&format!("Procedure/{id}")).await;
    assert_eq!(now["note"][0]["text"], "edited on the ICU tablet");
    assert_eq!(now["status"], "in-progress");

    // A person keeps this tablet's version: it goes over the server's, on that version.
    s.resolve_conflict(conflict[0].seq, true, author())
        .await
        .unwrap();
    assert!(
        s.resolve_conflict(conflict[0].seq, true, author())
            .await
            .is_err(),
        "a conflict is resolved once"
    );
    sync_until_done(&engine, &s, 3).await;
    let summary = s.outbox_summary().await.unwrap();
    assert_eq!((summary.conflicts, summary.pending), (0, 0), "{summary:?}");
    let now = peer.get(&format!("Procedure/{id}")).await;
    assert_eq!(now["status"], "completed");
    assert!(now["meta"]["versionId"].is_string());
    let history = peer.get(&format!("Procedure/{id}/_history")).await;
    assert_eq!(
        history["entry"].as_array().unwrap().len(),
        4,
        "ours (opened, then bypass started), theirs, ours again"
    );

    // The other tablet edits again; this tablet signs: a second conflict, and this time the
    // person accepts the server's version. Nothing is sent over it; the local record stays.
    let mut theirs = now.clone();
    theirs["note"] = serde_json::json!([{ "text": "second edit on the ICU tablet" }]);
    let (put, _) = peer
        .write(reqwest::Method::PUT, &format!("Procedure/{id}"), &theirs)
        .await;
    assert_eq!(put, 200);
    s.set_status(rec.case, CaseStatus::Signed, author())
        .await
        .unwrap();
    engine.sync_once().await.unwrap();
    let second = s.unsettled(10).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].state, OutboxState::Conflict);
    s.resolve_conflict(second[0].seq, false, author())
        .await
        .unwrap();
    engine.sync_once().await.unwrap();
    let summary = s.outbox_summary().await.unwrap();
    assert_eq!((summary.conflicts, summary.pending), (0, 0), "{summary:?}");
    let now = peer.get(&format!("Procedure/{id}")).await;
    assert_eq!(now["note"][0]["text"], "second edit on the ICU tablet");
    let local = s.list_cases().await.unwrap();
    assert_eq!(
        local.iter().find(|c| c.id == rec.case).unwrap().status,
        CaseStatus::Signed
    );
}

#[tokio::test]
async fn wrong_credentials_pause_sync_and_lose_nothing() {
    let peer = FhirPeer::start(Some("right-token"));
    let dir = crate::temp_dir();
    let s = open(dir.path());
    record_cpb_case(&s, "SYNC-4", 5).await;
    let engine = SyncEngine::new(
        s.clone(),
        config(&peer.base(), "token = \"wrong-token\""),
        author(),
    )
    .unwrap();
    let e = engine.sync_once().await.unwrap_err();
    assert!(matches!(e, SyncError::Auth(401)), "{e}");
    let status = engine.status().borrow().clone();
    assert!(status.paused.is_some());
    let pending = s.outbox_summary().await.unwrap().pending;
    assert!(pending > 10);
    let engine = SyncEngine::new(
        s.clone(),
        config(&peer.base(), "token = \"right-token\""),
        author(),
    )
    .unwrap();
    sync_until_done(&engine, &s, 3).await;
    assert_eq!(s.outbox_summary().await.unwrap().acked, pending);
}

#[tokio::test]
async fn an_invalid_resource_is_isolated_and_rejected_with_the_server_outcome_and_the_rest_go() {
    let peer = FhirPeer::start(None);
    let dir = crate::temp_dir();
    let s = open(dir.path());
    record_cpb_case(&s, "SYNC-5", 5).await;
    // The hospital's server refuses one resource (its profile, say, wants a coded drug).
    let proxy = Proxy::start(peer.port, vec![]).await;
    *proxy.reject.lock().unwrap() = Some("Phenylephrine".into());
    let engine = SyncEngine::new(s.clone(), config(&proxy.base(), ""), author()).unwrap();
    let _ = sync_until_done(&engine, &s, 5).await;
    let summary = s.outbox_summary().await.unwrap();
    assert_eq!(summary.rejected, 1, "{summary:?}");
    let bad = s.unsettled(10).await.unwrap();
    assert_eq!(bad[0].resource_type, "MedicationAdministration");
    assert!(bad[0]
        .detail
        .as_deref()
        .unwrap()
        .contains("OperationOutcome"));
    let counts: HashMap<String, u64> = peer.counts().await.into_iter().collect();
    assert_eq!(
        counts["MedicationAdministration"], 3,
        "the valid three went"
    );
    assert!(bad[0].payload.contains("Phenylephrine"));
}

/// A new P-384 key: its PKCS#8 PEM and its public JWK.
fn p384_key() -> (String, String) {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, doc.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let jwk = serde_json::json!({
        "kty": "EC", "crv": "P-384",
        "x": URL_SAFE_NO_PAD.encode(&point[1..49]),
        "y": URL_SAFE_NO_PAD.encode(&point[49..97]),
    });
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(doc.as_ref())
    );
    (pem, jwk.to_string())
}

#[tokio::test]
async fn oauth_client_credentials_get_a_token_once_renew_it_and_a_wrong_key_pauses() {
    let (pem, jwk) = p384_key();
    let (other_pem, _) = p384_key();
    // Tokens live 62 s; the app renews 60 s before expiry, so a token is reused for 2 s.
    let peer = FhirPeer::start_env(&[
        ("PEER_CLIENT_ID", "pumpside-it"),
        ("PEER_CLIENT_JWK", &jwk),
        ("PEER_TOKEN_TTL", "62"),
    ]);
    let dir = crate::temp_dir();
    let s = open(dir.path());
    let rec = record_cpb_case(&s, "SYNC-OAUTH", 5).await;
    let key_file = dir.path().join("key.pem");
    let wrong_file = dir.path().join("wrong.pem");
    std::fs::write(&key_file, &pem).unwrap();
    std::fs::write(&wrong_file, &other_pem).unwrap();
    let oauth = |file: &Path| {
        format!(
            "[oauth]\ntoken_url = \"{}oauth2/token\"\nclient_id = \"pumpside-it\"\nkey_file = \"{}\"\n",
            peer.base(),
            file.display()
        )
    };

    // A key the server does not know: refused at the token endpoint, sync paused, nothing lost.
    let wrong = SyncEngine::new(
        s.clone(),
        config(&peer.base(), &oauth(&wrong_file)),
        author(),
    )
    .unwrap();
    let err = wrong.sync_once().await.unwrap_err();
    assert!(
        matches!(&err, SyncError::TokenRefused(why) if why.contains("invalid_client")),
        "{err}"
    );
    let status = wrong.status().borrow().clone();
    assert!(status.paused.is_some(), "{status:?}");
    let pending = s.outbox_summary().await.unwrap().pending;
    assert!(pending > 10, "{pending}");
    assert_eq!(peer.stats().await["token_refusals"], 1);
    assert!(!peer.counts().await.contains_key("Observation"));

    // The registered key: one token for the whole upload, every record acked.
    let right =
        SyncEngine::new(s.clone(), config(&peer.base(), &oauth(&key_file)), author()).unwrap();
    let errors = sync_until_done(&right, &s, 3).await;
    assert!(errors.is_empty(), "{errors:?}");
    let stats = peer.stats().await;
    assert_eq!(stats["tokens_issued"], 1, "{stats}");
    assert!(stats["requests"].as_u64().unwrap() > 3);
    assert_eq!(s.outbox_summary().await.unwrap().acked, pending);

    // Past its renewal point the token is replaced before the next request.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    add(
        &s,
        rec.case,
        Utc::now(),
        EntryPayload::Act { seconds: d("480") },
    )
    .await;
    sync_until_done(&right, &s, 3).await;
    assert_eq!(peer.stats().await["tokens_issued"], 2);
    // No token, no data: the server itself refuses a request without one.
    let bare = reqwest::get(format!("{}Observation", peer.base()))
        .await
        .unwrap();
    assert_eq!(bare.status().as_u16(), 401);
}

/// Every code sent under the Pumpside CodeSystem (codings and meta tags).
fn pumpside_codes(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if m.get("system").and_then(Value::as_str) == Some(pumpside::sync::map::PUMPSIDE) {
                if let Some(c) = m.get("code").and_then(Value::as_str) {
                    out.push(c.to_string());
                }
            }
            for x in m.values() {
                pumpside_codes(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| pumpside_codes(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn settings_saved_on_the_tablet_restart_sync_and_unusable_ones_change_nothing() {
    use pumpside::app::{AppConfig, Services};
    use pumpside::sync::config::{AuthSetting, SyncSettings};
    use pumpside::sync::SyncState;
    let peer = FhirPeer::start(Some("tablet-token"));
    let dir = crate::temp_dir();
    let config = AppConfig::parse(
        vec!["--demo".into(), "--key-store".into(), "file".into()],
        Some(dir.path().to_path_buf()),
        None,
    )
    .unwrap();
    let services = Services::start(config, std::time::Instant::now())
        .await
        .unwrap();
    assert_eq!(*services.sync_state().borrow(), SyncState::NotConfigured);

    // Unusable: plain http to another host. Nothing written, nothing started.
    let bad = SyncSettings {
        server: "http://fhir.example.org/".into(),
        auth: AuthSetting::Token("tablet-token".into()),
        create_patients: true,
        ca_file: String::new(),
    };
    assert!(services.save_sync_settings(&bad).await.is_err());
    assert!(!dir.path().join("sync.toml").exists());

    // The loopback peer with its token: sync starts and the demo case's run goes up.
    let good = SyncSettings {
        server: peer.base(),
        auth: AuthSetting::Token("tablet-token".into()),
        create_patients: true,
        ca_file: String::new(),
    };
    services.save_sync_settings(&good).await.unwrap();
    assert!(services
        .sync_config()
        .is_some_and(|c| c.auth_summary() == "bearer token (set, not shown)"));
    // The demo's three runs go up: the CPB case and the two ECMO runs.
    crate::services::eventually("the restarted engine uploaded", async || {
        peer.counts().await.get("Procedure") == Some(&3)
    })
    .await;

    // A wrong token saved later pauses sync; the right one again resumes it.
    let wrong = SyncSettings {
        auth: AuthSetting::Token("stale".into()),
        ..good.clone()
    };
    services.save_sync_settings(&wrong).await.unwrap();
    // Following a patient makes the engine ask the server (the demo case has nothing new).
    services
        .follow(
            Mrn {
                system: "urn:test".into(),
                value: "X".into(),
            },
            true,
        )
        .await
        .unwrap();
    let state = |f: fn(&pumpside::sync::SyncStatus) -> bool| matches!(&*services.sync_state().borrow(), SyncState::Active(s) if f(s));
    crate::services::eventually("a wrong token pauses sync", async || {
        state(|s| s.paused.is_some())
    })
    .await;
    services.save_sync_settings(&good).await.unwrap();
    crate::services::eventually("the right token resumes it", async || {
        state(|s| s.paused.is_none() && s.last_pull.is_some())
    })
    .await;
}

#[tokio::test]
async fn a_patient_missing_on_the_server_holds_only_their_case_and_demo_cases_stay_local() {
    let peer = FhirPeer::start(None);
    let dir = crate::temp_dir();
    let s = open(dir.path());
    let here = record_cpb_case(&s, "ON-SERVER", 0).await;
    let absent = record_cpb_case(&s, "NOT-ON-SERVER", 0).await;
    // The hospital's server knows one of the two patients.
    let (status, created) = peer
        .write(
            reqwest::Method::POST,
            "Patient",
            &serde_json::json!({"resourceType": "Patient", "identifier": [{
                "system": TEST_MRN_SYSTEM, "value": "ON-SERVER"}]}),
        )
        .await;
    assert_eq!(status, 201);
    let patient_id = created["id"].as_str().unwrap().to_string();
    // The patient is in hospital: one in-progress Encounter, which the records link to.
    let (_, encounter) = peer
        .write(
            reqwest::Method::POST,
            "Encounter",
            &serde_json::json!({"resourceType": "Encounter", "status": "in-progress",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
                "subject": {"reference": format!("Patient/{patient_id}")}}),
        )
        .await;
    let encounter_ref = format!("Encounter/{}", encounter["id"].as_str().unwrap());
    // A demo (training) case of the same patient: simulated data, never for this server.
    let (pid, _) = s
        .find_patient(TEST_MRN_SYSTEM, "ON-SERVER")
        .await
        .unwrap()
        .unwrap();
    let demo = s
        .create_case(
            NewCase {
                kind: CaseKind::Cpb,
                patient: Some(pid),
                label: "training".into(),
                is_demo: true,
                status: CaseStatus::Running,
            },
            author(),
        )
        .await
        .unwrap()
        .id;
    let engine = SyncEngine::new(
        s.clone(),
        SyncConfig::parse(&format!("server = \"{}\"\ntimeout_s = 5", peer.base())).unwrap(),
        author(),
    )
    .unwrap();
    let err = engine.sync_once().await.unwrap_err();
    assert!(
        matches!(&err, SyncError::PatientMissing(m) if m == "NOT-ON-SERVER"),
        "{err}"
    );
    // The Sync screen names the MRN a person must act on; the log does not carry it.
    let (log, guard) = crate::capture_log();
    let _ = tokio::time::timeout(Duration::from_secs(3), engine.clone().run()).await;
    drop(guard);
    let log = log.text();
    assert!(log.contains("sync run failed"), "{log}");
    assert!(log.contains("1 patient(s) the record needs"), "{log}");
    assert!(!log.contains("NOT-ON-SERVER"), "an MRN in the log: {log}");
    let shown = engine
        .status()
        .borrow()
        .last_error
        .clone()
        .unwrap_or_default();
    assert!(shown.contains("NOT-ON-SERVER"), "{shown}");
    let rows = s.pending(1000).await.unwrap();
    assert!(
        rows.iter().all(|r| r.case_id == absent.case),
        "only that case waits"
    );
    assert!(!rows.is_empty());
    assert!(
        s.outbox_summary().await.unwrap().acked > 10,
        "the other case went up"
    );
    assert_eq!(peer.counts().await.get("Procedure"), Some(&1));
    assert_eq!(
        peer.counts().await.get("Patient"),
        Some(&1),
        "no patient created"
    );
    let runs: Vec<String> = s
        .planned_for(pumpside::store::OpSource::Run)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, key, _)| key)
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.contains(&here.case.to_string()));
    assert!(
        !runs.contains(&demo.to_string()),
        "the demo case was not planned"
    );
    // The uploaded records are linked to the patient's current Encounter.
    let run = peer
        .get(&format!(
            "Procedure?identifier=urn:ietf:rfc:3986|urn:uuid:{}",
            here.case
        ))
        .await;
    assert_eq!(
        run["entry"][0]["resource"]["encounter"]["reference"],
        encounter_ref.as_str()
    );
    let meds = peer.get("MedicationAdministration?_count=100").await;
    assert!(meds["entry"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["resource"]["context"]["reference"] == encounter_ref.as_str()));
}

/// Rows an earlier version rejected because of the configuration (a wrong base path answered
/// with a web server's 404 page) go again when sync starts; a verdict on the record itself (an
/// invalid resource) stays for a person.
#[tokio::test]
async fn rejections_caused_by_configuration_go_again_and_verdicts_on_the_record_stay() {
    use pumpside::store::Outcome;
    let peer = FhirPeer::start(None);
    let dir = crate::temp_dir();
    let s = open(dir.path());
    record_cpb_case(&s, "SYNC-RQ", 5).await;
    let engine = SyncEngine::new(s.clone(), config(&peer.base(), ""), author()).unwrap();
    engine.plan(Utc::now()).await.unwrap();
    let rows = s.pending(100).await.unwrap();
    let (wrong_address, invalid) = (rows[0].seq, rows[1].seq);
    s.record_outcomes(vec![
        (
            wrong_address,
            Outcome::Rejected {
                outcome: "<html><body><h1>404 Not Found</h1></body></html>".into(),
            },
        ),
        (
            invalid,
            Outcome::Rejected {
                outcome: r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"a verdict on the record"}]}"#.into(),
            },
        ),
    ])
    .await
    .unwrap();
    assert_eq!(s.outbox_summary().await.unwrap().rejected, 2);
    assert_eq!(engine.requeue_configuration_rejections().await.unwrap(), 1);
    assert_eq!(
        engine.requeue_configuration_rejections().await.unwrap(),
        0,
        "once"
    );
    let errors = sync_until_done(&engine, &s, 4).await;
    assert!(errors.is_empty(), "{errors:?}");
    let summary = s.outbox_summary().await.unwrap();
    assert_eq!((summary.pending, summary.rejected), (0, 1), "{summary:?}");
    let unsettled: Vec<i64> = s
        .unsettled(10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(unsettled, [invalid]);
    // The rejection stays on record before the retry that put it back.
    let states: Vec<String> = crate::raw_db(&dir.path().join("pumpside.sqlite3"), &crate::keys())
        .prepare("SELECT state FROM sync_events WHERE op_seq = ?1 ORDER BY seq")
        .unwrap()
        .query_map([wrong_address], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(states, ["rejected", "retry", "acked"]);
}

pub fn tls_fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls")
}

/// A FHIR server on loopback with a certificate from the hospital's private CA: without the CA
/// file the app refuses it and says it is the certificate (not "cannot be reached"), nothing is
/// sent and nothing is lost; with the CA file named in sync.toml, relative to the data folder,
/// the same records go. Then the real start-up with such a sync.toml: the Sync screen names the
/// refusal, and saving the CA file on the Settings path lets sync through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_refused_without_its_file_named_on_screen_and_accepted_with_it() {
    let peer = FhirPeer::start_tls();
    let dir = crate::temp_dir();
    let s = open(dir.path());
    record_cpb_case(&s, "TLS-1", 12).await;

    let plain = SyncConfig::parse(&format!(
        "server = \"{}\"\ncreate_patients = true\n",
        peer.https_base()
    ))
    .unwrap();
    let engine = SyncEngine::new(s.clone(), plain, author()).unwrap();
    let err = engine.sync_once().await.unwrap_err();
    assert!(matches!(err, SyncError::Certificate(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("certificate is not accepted")
            && text.contains("UnknownIssuer")
            && text.contains("ca_file"),
        "{text}"
    );
    assert_eq!(s.outbox_summary().await.unwrap().acked, 0);

    std::fs::copy(
        tls_fixtures().join("hospital-ca.pem"),
        dir.path().join("hospital-ca.pem"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("sync.toml"),
        format!(
            "server = \"{}\"\ncreate_patients = true\nca_file = \"hospital-ca.pem\"\n",
            peer.https_base()
        ),
    )
    .unwrap();
    let trusted = SyncConfig::load(dir.path()).unwrap().unwrap();
    assert_eq!(trusted.ca.as_ref().map(|c| c.certificates), Some(1));
    let engine = SyncEngine::new(s.clone(), trusted, author()).unwrap();
    let errors = sync_until_done(&engine, &s, 3).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert!(s.outbox_summary().await.unwrap().acked > 10);

    // A CA file that is not one is named when the settings are read.
    std::fs::write(dir.path().join("not-a-ca.pem"), "hello").unwrap();
    let e = SyncConfig::parse_in(
        "server = \"https://fhir.example.org/\"\nca_file = \"not-a-ca.pem\"\n",
        Some(dir.path()),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("sync.toml: ca_file not-a-ca.pem: it holds no certificate"),
        "{e}"
    );

    // The app, started the real way against the same server without the CA file.
    use pumpside::app::view::{AuthSetting, SyncSettings};
    use pumpside::app::{AppConfig, Services};
    let app_dir = crate::temp_dir();
    std::fs::write(
        app_dir.path().join("sync.toml"),
        format!(
            "server = \"{}\"\ncreate_patients = true\n",
            peer.https_base()
        ),
    )
    .unwrap();
    let config = AppConfig::parse(
        vec!["--demo".into(), "--key-store".into(), "file".into()],
        Some(app_dir.path().to_path_buf()),
        None,
    )
    .unwrap();
    let services = Services::start(config, std::time::Instant::now())
        .await
        .unwrap();
    let mut sync = services.sync_state();
    crate::services::eventually("the refusal is reported", async || {
        matches!(&*sync.borrow_and_update(), pumpside::sync::SyncState::Active(st)
            if st.last_error.as_deref().is_some_and(|e| e.contains("certificate is not accepted")))
    })
    .await;
    let mut f = crate::ui_ssr::fixture(pumpside::ui::Screen::Sync);
    f.sync = services.sync_state().borrow().clone();
    let html = crate::ui_ssr::render_with(f, services.clone()).await;
    assert!(
        html.contains("certificate is not accepted") && html.contains("UnknownIssuer"),
        "{html}"
    );
    assert!(!html.contains("cannot be reached"), "{html}");

    std::fs::copy(
        tls_fixtures().join("hospital-ca.pem"),
        app_dir.path().join("hospital-ca.pem"),
    )
    .unwrap();
    services
        .save_sync_settings(&SyncSettings {
            server: peer.https_base(),
            auth: AuthSetting::None,
            create_patients: true,
            ca_file: "hospital-ca.pem".into(),
        })
        .await
        .unwrap();
    crate::services::eventually(
        "the demo case's run is sent over the trusted link",
        async || services.store().outbox_summary().await.unwrap().acked > 0,
    )
    .await;
}
