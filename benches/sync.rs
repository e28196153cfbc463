//! Sync benchmark against the loopback FHIR test peer (tests/peers/fhir, a fresh one started for
//! each upload and stopped by PID after it): a 6-hour CPB case (1 Hz, 20 channels) and a 24-hour
//! ECMO day (1 Hz, 10 channels) planned and uploaded by the real engine; resources, bytes and
//! seconds. Baseline in the same run: a naive mapping of one Observation per sample, posted as
//! transaction Bundles of 8 conditional creates (the peer's limit), over the whole case.
//!
//!     cargo bench --bench sync        (needs scripts/setup.sh for the peer)
//!     PUMPSIDE_BENCH_CPB_HOURS=1 PUMPSIDE_BENCH_ECMO_HOURS=2 PUMPSIDE_BENCH_NAIVE_MINUTES=10 \
//!         cargo bench --bench sync    # quick: the naive upload is then extrapolated, labelled so
//!
//! Figures go to stdout and to target/bench/sync.md; BENCHMARKS.md quotes a run.

#[path = "common/peer.rs"]
mod common_peer;
use common_peer::peer;
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use pumpside::domain::patient::{BloodGroup, Mrn, Sex};
use pumpside::domain::{
    Author, CaseKind, CaseStatus, Channel, ChannelId, Decimal, DeviceTime, EntryPayload, EventKind,
    NewEntry, Parameter, Patient, Sample, Validity,
};
use pumpside::store::{NewCase, Store};
use pumpside::sync::{SyncConfig, SyncEngine};
use serde_json::{json, Value};

const PARAMS: [(Parameter, &str, i8, f64); 10] = [
    (Parameter::PumpFlow, "L/min", -2, 4.2),
    (Parameter::MeanArterialPressure, "mmHg", 0, 70.0),
    (Parameter::ArterialLinePressure, "mmHg", 0, 210.0),
    (Parameter::ArterialOutletTemp, "°C", -1, 36.8),
    (Parameter::VenousInflowTemp, "°C", -1, 36.5),
    (Parameter::VenousSaturation, "%", 0, 72.0),
    (Parameter::SweepGas, "L/min", -1, 3.0),
    (Parameter::Fio2, "%", 0, 60.0),
    (Parameter::Spo2, "%", 0, 94.0),
    (Parameter::PulseRate, "/min", 0, 80.0),
];

async fn peer_stats(port: u16) -> Value {
    let body = reqwest::get(format!("http://127.0.0.1:{port}/_peer/stats"))
        .await
        .expect("stats")
        .text()
        .await
        .expect("stats body");
    serde_json::from_str(&body).expect("stats json")
}

fn author() -> Author {
    Author::new("Bench perfusionist", "bench-tablet")
}

/// A case of `hours` at 1 Hz on `channels` channels, ending on the last closed chunk boundary.
async fn record(
    store: &Store,
    mrn: &str,
    kind: CaseKind,
    hours: i64,
    channels: usize,
) -> (pumpside::domain::CaseId, Vec<(Channel, Vec<Sample>)>) {
    let patient = store
        .create_patient(
            Patient {
                mrn: Mrn {
                    system: "urn:oid:1.2.826.0.1.3680043.9.7".into(),
                    value: mrn.into(),
                },
                family_name: "Bench".into(),
                given_names: "Pat".into(),
                birth_date: chrono::NaiveDate::from_ymd_opt(1960, 1, 1).expect("date"),
                sex: Sex::Unknown,
                height_cm: "175".parse().expect("height"),
                weight_kg: "80".parse().expect("weight"),
                blood_group: BloodGroup::Unknown,
                allergies: vec![],
            },
            author(),
        )
        .await
        .expect("patient");
    let case = store
        .create_case(
            NewCase {
                kind,
                patient: Some(patient),
                label: format!("bench {mrn}"),
                is_demo: false,
                status: CaseStatus::Running,
            },
            author(),
        )
        .await
        .expect("case")
        .id;
    // End on a closed chunk boundary so that every chunk with samples is planned.
    let end = DateTime::<Utc>::from_timestamp_millis(pumpside::sync::map::chunk_start(
        Utc::now() - Duration::minutes(2),
    ))
    .expect("boundary");
    let start = end - Duration::hours(hours);
    if kind == CaseKind::Cpb {
        store
            .append_entry(NewEntry {
                case_id: case,
                occurred_at: start,
                author: author(),
                payload: EntryPayload::ChecklistOverride {
                    purpose: pumpside::domain::checklist::Purpose::PreBypass,
                    reason: "bench".into(),
                },
            })
            .await
            .expect("override");
        for (m, event) in [
            (0, EventKind::BypassOn),
            (5, EventKind::CrossClampOn),
            (hours * 60 - 10, EventKind::CrossClampOff),
            (hours * 60 - 2, EventKind::BypassOff),
        ] {
            store
                .append_entry(NewEntry {
                    case_id: case,
                    occurred_at: start + Duration::minutes(m),
                    author: author(),
                    payload: EntryPayload::Event { event },
                })
                .await
                .expect("event");
        }
    }
    let mut chans = Vec::new();
    for i in 0..channels {
        let (parameter, unit, _, _) = PARAMS[i % PARAMS.len()];
        let ch = Channel {
            id: ChannelId::new(),
            case_id: case,
            parameter,
            unit: unit.into(),
            source_device: format!("bench device {}", i / PARAMS.len()),
            expected_interval_ms: 1000,
        };
        store.create_channel(ch.clone()).await.expect("channel");
        chans.push(ch);
    }
    let n = hours * 3600;
    let mut kept = Vec::new();
    for (i, ch) in chans.iter().enumerate() {
        let (_, _, exp, centre) = PARAMS[i % PARAMS.len()];
        let samples: Vec<Sample> = (0..n)
            .map(|k| {
                let wander = ((k as f64) / 300.0 + i as f64).sin() * 0.05 * centre;
                Sample {
                    seq: k as u64 + 1,
                    received_at: start + Duration::milliseconds(k * 1000 + 250),
                    device_time: DeviceTime::Unknown,
                    value: Decimal::from_f64(centre + wander, (-exp) as u8).expect("decimal"),
                    validity: Validity::Valid,
                }
            })
            .collect();
        for part in samples.chunks(3600) {
            store
                .append_samples(vec![(ch.id, part.to_vec())])
                .await
                .expect("samples");
        }
        kept.push((ch.clone(), samples));
    }
    (case, kept)
}

struct Figures {
    what: String,
    samples: u64,
    resources: u64,
    bytes: u64,
    plan_s: f64,
    upload_s: f64,
}

async fn upload(port: u16, store: &Store, what: &str, samples: u64) -> Figures {
    let config = SyncConfig::parse(&format!(
        "server = \"http://127.0.0.1:{port}/\"\ncreate_patients = true\nbatch = 100\ntimeout_s = 120"
    ))
    .expect("config");
    let engine = SyncEngine::new(store.clone(), config, author()).expect("engine");
    let before = peer_stats(port).await;
    let t = Instant::now();
    engine.plan(Utc::now()).await.expect("plan");
    let plan_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    engine.upload().await.expect("upload");
    let upload_s = t.elapsed().as_secs_f64();
    let after = peer_stats(port).await;
    let summary = store.outbox_summary().await.expect("summary");
    assert_eq!(summary.pending, 0, "everything uploaded");
    Figures {
        what: what.into(),
        samples,
        resources: summary.acked,
        bytes: after["bytes_in"].as_u64().unwrap_or(0) - before["bytes_in"].as_u64().unwrap_or(0),
        plan_s,
        upload_s,
    }
}

/// Entries per naive transaction Bundle: the peer (Medplum) takes at most 8 conditional creates
/// in one transaction; the engine finds the same ceiling by itself.
const NAIVE_BUNDLE: usize = 8;

/// The naive mapping: one Observation per sample, transaction Bundles of [`NAIVE_BUNDLE`] with
/// ifNoneExist.
async fn naive(port: u16, chans: &[(Channel, Vec<Sample>)], seconds: usize, what: &str) -> Figures {
    let http = reqwest::Client::new();
    let mut bytes = 0u64;
    let mut resources = 0u64;
    let mut entries = Vec::new();
    let whole = chans.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
    let t = Instant::now();
    let flush = |entries: &mut Vec<Value>| {
        let bundle = json!({ "resourceType": "Bundle", "type": "transaction", "entry": std::mem::take(entries) });
        bundle.to_string()
    };
    for (ch, samples) in chans {
        for s in samples.iter().take(seconds) {
            let id = uuid::Uuid::now_v7();
            let at: DateTime<Utc> = s.received_at;
            entries.push(json!({
                "fullUrl": format!("urn:uuid:{}", uuid::Uuid::now_v7()),
                "resource": {
                    "resourceType": "Observation",
                    "identifier": [{ "system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{id}") }],
                    "status": "final",
                    "code": { "coding": [{ "system": "https://pumpside.org/fhir/CodeSystem/pumpside", "code": ch.parameter.code() }] },
                    "subject": { "display": "bench" },
                    "effectiveDateTime": at.to_rfc3339(),
                    "valueQuantity": { "value": s.value.to_f64(), "unit": ch.unit },
                },
                "request": { "method": "POST", "url": "Observation", "ifNoneExist": format!("identifier=urn:ietf:rfc:3986|urn:uuid:{id}") },
            }));
            resources += 1;
            if entries.len() == NAIVE_BUNDLE {
                let body = flush(&mut entries);
                bytes += body.len() as u64;
                post(&http, port, body).await;
            }
        }
    }
    if !entries.is_empty() {
        let body = flush(&mut entries);
        bytes += body.len() as u64;
        post(&http, port, body).await;
    }
    Figures {
        what: if seconds >= whole {
            format!("naive, {what}")
        } else {
            format!("naive, {what}, first {} min", seconds / 60)
        },
        samples: resources,
        resources,
        bytes,
        plan_s: 0.0,
        upload_s: t.elapsed().as_secs_f64(),
    }
}

async fn post(http: &reqwest::Client, port: u16, body: String) {
    let r = http
        .post(format!("http://127.0.0.1:{port}/"))
        .header("Content-Type", "application/fhir+json")
        .body(body)
        .send()
        .await
        .expect("naive post");
    assert!(
        r.status().is_success(),
        "naive bundle refused: {}",
        r.status()
    );
}

fn row(f: &Figures) -> String {
    format!(
        "| {} | {} | {} | {:.1} MB | {:.1} | {:.1} |",
        f.what,
        f.samples,
        f.resources,
        f.bytes as f64 / 1e6,
        f.plan_s,
        f.upload_s
    )
}

#[tokio::main]
async fn main() {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<i64>().ok());
    let scenarios = [
        (
            "CPB",
            CaseKind::Cpb,
            var("PUMPSIDE_BENCH_CPB_HOURS").unwrap_or(6),
            20,
        ),
        (
            "ECMO",
            CaseKind::EcmoVa,
            var("PUMPSIDE_BENCH_ECMO_HOURS").unwrap_or(24),
            10,
        ),
    ];
    // The naive upload covers the whole case unless limited (then extrapolated and labelled so).
    let naive_minutes = var("PUMPSIDE_BENCH_NAIVE_MINUTES");
    let mut rows = Vec::new();
    for (name, kind, hours, channels) in scenarios {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(
            &dir.path().join("bench.sqlite3"),
            &pumpside::store::StoreKeys::derive(&[7u8; 32]),
        )
        .expect("store");
        let (_, chans) = record(&store, &format!("BENCH-{name}"), kind, hours, channels).await;
        let samples: u64 = chans.iter().map(|(_, s)| s.len() as u64).sum();
        let what = format!("{name} {hours} h × {channels} channels");
        // Each upload goes to a fresh peer, so neither pays for what the other stored.
        let peer_a = peer();
        let ours = upload(peer_a.1, &store, &format!("Pumpside, {what}"), samples).await;
        drop(peer_a);
        eprintln!("{}", row(&ours));
        rows.push(row(&ours));
        let seconds = naive_minutes.map_or(hours as usize * 3600, |m| {
            (m as usize * 60).min(hours as usize * 3600)
        });
        let peer_b = peer();
        let n = naive(peer_b.1, &chans, seconds, &what).await;
        drop(peer_b);
        eprintln!("{}", row(&n));
        rows.push(row(&n));
        if n.samples < samples {
            let scale = samples as f64 / n.samples as f64;
            rows.push(row(&Figures {
                what: format!("naive, {what} (extrapolated ×{scale:.0} from the line above)"),
                samples,
                resources: samples,
                bytes: (n.bytes as f64 * scale) as u64,
                plan_s: 0.0,
                upload_s: n.upload_s * scale,
            }));
        }
    }
    let table = [
        "| upload | samples | resources | bytes sent | plan s | upload s |".to_string(),
        "| --- | ---: | ---: | ---: | ---: | ---: |".to_string(),
    ]
    .into_iter()
    .chain(rows)
    .collect::<Vec<_>>()
    .join("\n");
    println!("{table}");
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).ok();
    std::fs::write(out.join("sync.md"), format!("{table}\n")).ok();
}
