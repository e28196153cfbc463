//! ECMO benchmarks (issue 19), release build, figures to stdout and target/bench/ecmo.md:
//!
//! A. A 30-day run's screen: the 24-hour and 7-day trends of its 8 device channels (480
//!    min–max–mean buckets each) from the stored chunks' summaries, against the naive way in the
//!    same run: read every sample of the window and bucket it.
//! B. The pull of 10 followed runs (24 h × 6 channels at 1 Hz, recorded and uploaded by the
//!    real engine to the loopback FHIR peer) through a proxy that adds 300 ms to every round
//!    trip: the first pull, an incremental refresh after 10 more minutes on every run, and a
//!    refresh with nothing new; requests, bytes both ways, seconds. Baseline: a full re-pull.
//! C. The board refreshed from local data with those 10 runs (read every followed patient's
//!    pulled resources, decode the SampledData back into one-minute means, rank by the
//!    protocol's rules), against a naive board in the same run that decodes every second and
//!    runs the rules on per-second series.
//!
//!     cargo bench --bench ecmo          (needs scripts/setup.sh for the peer)
//!     PUMPSIDE_BENCH_DAYS=3 PUMPSIDE_BENCH_FOLLOWED_HOURS=6 cargo bench --bench ecmo  # quick

#[path = "common/peer.rs"]
mod common_peer;
use common_peer::peer;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use pumpside::domain::ecmo::{EcmoRules, Point, RunData, Signal};
use pumpside::domain::patient::{BloodGroup, Mrn, Sex};
use pumpside::domain::{
    Author, CaseId, CaseKind, CaseStatus, Channel, ChannelId, Decimal, DeviceTime, EntryPayload,
    EventKind, NewEntry, Parameter, Patient, Sample, Validity,
};
use pumpside::store::{NewCase, Store, StoreKeys};
use pumpside::sync::{SyncConfig, SyncEngine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MRN_SYSTEM: &str = "urn:oid:1.2.826.0.1.3680043.9.7";

/// (parameter, unit, decimals, centre) of an ECMO console.
const CHANNELS: [(Parameter, &str, u8, f64); 8] = [
    (Parameter::PumpFlow, "L/min", 2, 4.0),
    (Parameter::PumpSpeed, "rpm", 0, 3300.0),
    (Parameter::DrainagePressure, "mmHg", 0, -55.0),
    (Parameter::PreOxygenatorPressure, "mmHg", 0, 250.0),
    (Parameter::PostOxygenatorPressure, "mmHg", 0, 230.0),
    (Parameter::SweepGas, "L/min", 1, 3.0),
    (Parameter::Fio2, "%", 0, 60.0),
    (Parameter::HeaterTemp, "°C", 1, 37.0),
];

fn author() -> Author {
    Author::new("Bench perfusionist", "bench-tablet")
}

fn open(dir: &std::path::Path, name: &str) -> Store {
    Store::open(&dir.join(name), &StoreKeys::derive(&[7u8; 32])).expect("store")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn new_run(
    store: &Store,
    mrn: &str,
    started: DateTime<Utc>,
    n: usize,
) -> (CaseId, Vec<Channel>) {
    let patient = store
        .create_patient(
            Patient {
                mrn: Mrn {
                    system: MRN_SYSTEM.into(),
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
                kind: CaseKind::EcmoVa,
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
    store
        .append_entry(NewEntry {
            case_id: case,
            occurred_at: started,
            author: author(),
            payload: EntryPayload::Event {
                event: EventKind::BypassOn,
            },
        })
        .await
        .expect("support start");
    let mut chans = Vec::new();
    for (p, unit, _, _) in CHANNELS.iter().take(n) {
        let ch = Channel {
            id: ChannelId::new(),
            case_id: case,
            parameter: *p,
            unit: (*unit).into(),
            source_device: format!("bench console {mrn}"),
            expected_interval_ms: 1000,
        };
        store.create_channel(ch.clone()).await.expect("channel");
        chans.push(ch);
    }
    (case, chans)
}

/// 1 Hz on every channel over `[from, to)`, in one-hour transactions; `seq` carries on.
async fn record(
    store: &Store,
    chans: &[Channel],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    seq: &mut u64,
) -> u64 {
    let mut n = 0;
    let mut t = from;
    while t < to {
        let end = (t + Duration::hours(1)).min(to);
        let mut batch = Vec::new();
        for (i, ch) in chans.iter().enumerate() {
            let (_, _, places, centre) = CHANNELS[i];
            let mut samples = Vec::new();
            let mut s = t;
            let mut k = *seq;
            while s < end {
                k += 1;
                let x = s.timestamp() as f64;
                let wander = (x / 600.0 + i as f64).sin() * 0.04 * centre.abs();
                samples.push(Sample {
                    seq: k,
                    received_at: s + Duration::milliseconds(250),
                    device_time: DeviceTime::Unknown,
                    value: Decimal::from_f64(centre + wander, places).expect("decimal"),
                    validity: Validity::Valid,
                });
                s += Duration::seconds(1);
            }
            n += samples.len() as u64;
            batch.push((ch.id, samples));
        }
        *seq += (end - t).num_seconds() as u64;
        store.append_samples(batch).await.expect("samples");
        t = end;
    }
    n
}

// ---------------------------------------------------------------------------------------------
// A. The 30-day run's screen.

async fn run_screen(days: i64) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), "run.sqlite3");
    let now = Utc::now();
    let start = now - Duration::days(days);
    let (_, chans) = new_run(&store, "RUN-30", start, CHANNELS.len()).await;
    let t = Instant::now();
    let mut seq = 0;
    let n = record(&store, &chans, start, now, &mut seq).await;
    let ingest = t.elapsed().as_secs_f64();
    println!(
        "A: {n} samples ({days} d × {} channels) in {ingest:.1} s",
        chans.len()
    );
    let mut rows = vec![format!(
        "| recorded | {n} samples ({days} d × {} channels at 1 Hz) in {ingest:.1} s | | |",
        chans.len()
    )];
    for (label, window) in [
        ("24 hours", Duration::hours(24)),
        ("7 days", Duration::days(7)),
    ] {
        let from = now - window;
        let mut ours = Vec::new();
        for _ in 0..11 {
            let t = Instant::now();
            for ch in &chans {
                let b = store.trend(ch.id, from, now, 480).await.expect("trend");
                assert!(!b.is_empty());
            }
            ours.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let mut naive = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            for ch in &chans {
                let samples = store.samples(ch.id, from, now).await.expect("samples");
                let width = window.num_milliseconds() as f64 / 480.0;
                let mut b = vec![(f64::INFINITY, f64::NEG_INFINITY, 0.0, 0u32); 480];
                for s in samples.iter().filter(|s| s.validity.counts()) {
                    let i = (((s.received_at - from).num_milliseconds() as f64) / width) as usize;
                    let v = s.value.to_f64();
                    let slot = &mut b[i.min(479)];
                    slot.0 = slot.0.min(v);
                    slot.1 = slot.1.max(v);
                    slot.2 += v;
                    slot.3 += 1;
                }
                assert!(b.iter().any(|s| s.3 > 0));
            }
            naive.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let (o, v) = (median(ours), median(naive));
        println!("A: {label}: {o:.1} ms (chunks) vs {v:.1} ms (every sample)");
        rows.push(format!(
            "| {label}, 8 channels × 480 buckets (median) | {o:.1} ms | {v:.1} ms | < 100 ms |"
        ));
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// B. Pull over a slow link.

/// A loopback proxy that delays each request and each answer by half the round trip (the first
/// bytes after the other side spoke) and counts the bytes both ways.
struct SlowLink {
    port: u16,
    bytes: Arc<AtomicU64>,
}

async fn slow_link(upstream: u16, rtt: std::time::Duration) -> SlowLink {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let bytes = Arc::new(AtomicU64::new(0));
    let counted = bytes.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            let last = Arc::new(AtomicU8::new(0));
            for (mut from, mut to, dir) in [
                (
                    Box::new(cr) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                    Box::new(sw) as Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
                    1u8,
                ),
                (Box::new(sr), Box::new(cw), 2u8),
            ] {
                let last = last.clone();
                let counted = counted.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match from.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if last.swap(dir, Ordering::SeqCst) != dir {
                            tokio::time::sleep(rtt / 2).await;
                        }
                        counted.fetch_add(n as u64, Ordering::Relaxed);
                        if to.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown().await;
                });
            }
        }
    });
    SlowLink { port, bytes }
}

fn config(port: u16, extra: &str) -> SyncConfig {
    SyncConfig::parse(&format!(
        "server = \"http://127.0.0.1:{port}\"\ncreate_patients = true\ntimeout_s = 60\n{extra}"
    ))
    .expect("config")
}

async fn upload(engine: &SyncEngine, store: &Store, at: DateTime<Utc>) {
    engine
        .plan(
            at + Duration::milliseconds(pumpside::sync::engine::TREND_GRACE_MS)
                + Duration::seconds(1),
        )
        .await
        .expect("plan");
    for _ in 0..5 {
        engine.upload().await.expect("upload");
        if store.outbox_summary().await.expect("outbox").pending == 0 {
            return;
        }
    }
    panic!("upload did not finish");
}

struct Measured {
    requests: usize,
    added: usize,
    bytes: u64,
    seconds: f64,
}

async fn pull(engine: &SyncEngine, link: &SlowLink) -> Measured {
    let before = link.bytes.load(Ordering::Relaxed);
    let t = Instant::now();
    let r = engine.pull().await.expect("pull");
    Measured {
        requests: r.requests,
        added: r.added,
        bytes: link.bytes.load(Ordering::Relaxed) - before,
        seconds: t.elapsed().as_secs_f64(),
    }
}

fn mb(b: u64) -> String {
    if b >= 1_000_000 {
        format!("{:.1} MB", b as f64 / 1e6)
    } else {
        format!("{:.1} kB", b as f64 / 1e3)
    }
}

// ---------------------------------------------------------------------------------------------
// C. The board from local data.

/// The board as the app refreshes it: every followed patient's pulled resources read, the runs
/// built (SampledData decoded into one-minute means) and ranked.
async fn board(
    on_call: &pumpside::app::ecmo::OnCall,
    phone: &Store,
    rules: &EcmoRules,
    now: DateTime<Utc>,
) -> usize {
    let followed = on_call.followed(phone).await.expect("followed");
    pumpside::app::ecmo::remote_runs(&followed, rules, now).len()
}

/// The naive board: every SampledData decoded second by second into per-second series, the
/// rules run on those.
async fn naive_board(phone: &Store, rules: &EcmoRules, now: DateTime<Utc>) -> usize {
    let mut runs = Vec::new();
    for mrn in phone.followed().await.expect("followed") {
        let pulled = phone.pulled(mrn.clone()).await.expect("pulled");
        let mut series: BTreeMap<Signal, Vec<Point>> = BTreeMap::new();
        let mut started = now;
        for p in &pulled {
            let v: serde_json::Value = serde_json::from_str(&p.body).expect("json");
            if p.resource_type == "Procedure" {
                if let Some(s) = v["performedPeriod"]["start"].as_str() {
                    started = DateTime::parse_from_rfc3339(s)
                        .expect("time")
                        .with_timezone(&Utc);
                }
                continue;
            }
            let code = v["code"]["coding"].as_array().and_then(|c| {
                c.iter()
                    .find_map(|c| c["code"].as_str().and_then(Parameter::from_pumpside_code))
            });
            let (Some(param), Some(data)) = (code, v["valueSampledData"]["data"].as_str()) else {
                continue;
            };
            let Some(signal) = Signal::of(param) else {
                continue;
            };
            let start = DateTime::parse_from_rfc3339(
                v["effectivePeriod"]["start"].as_str().expect("start"),
            )
            .expect("time")
            .with_timezone(&Utc);
            let points = series.entry(signal).or_default();
            for (i, token) in data.split_whitespace().enumerate() {
                if let Ok(x) = token.parse::<f64>() {
                    points.push(Point {
                        at: start + Duration::seconds(i as i64),
                        value: param.to_display_unit(
                            param.to_internal("naive", x, param.unit()).unwrap_or(x),
                        ),
                    });
                }
            }
        }
        for s in series.values_mut() {
            s.sort_by_key(|p| p.at);
        }
        let last = series.values().filter_map(|s| s.last().map(|p| p.at)).max();
        runs.push((
            mrn.value.clone(),
            RunData {
                kind: CaseKind::EcmoVa,
                femoral_arterial: false,
                started,
                circuit_since: None,
                series,
                last_device_value: last,
                checks: Vec::new(),
            },
        ));
    }
    pumpside::domain::ecmo::rank(rules, &runs, now).len()
}

async fn followed_runs(hours: i64) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let tablet = open(dir.path(), "tablet.sqlite3");
    let server = peer();
    let e2 = DateTime::<Utc>::from_timestamp_millis(pumpside::sync::map::chunk_start(
        Utc::now() - Duration::minutes(2),
    ))
    .expect("boundary");
    let e1 = e2 - Duration::minutes(10);
    let start = e1 - Duration::hours(hours);
    let mut runs = Vec::new();
    let mut samples = 0;
    for i in 0..10 {
        let (_, chans) = new_run(&tablet, &format!("FOLLOW-{i:02}"), start, 6).await;
        let mut seq = 0;
        samples += record(&tablet, &chans, start, e1, &mut seq).await;
        runs.push((chans, seq));
    }
    let up = SyncEngine::new(tablet.clone(), config(server.1, ""), author()).expect("engine");
    let t = Instant::now();
    upload(&up, &tablet, e1).await;
    println!(
        "B: 10 runs, {samples} samples uploaded in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let phone = open(dir.path(), "phone.sqlite3");
    let on_call = Author::new("On-call perfusionist", "phone");
    for i in 0..10 {
        phone
            .follow(
                Mrn {
                    system: MRN_SYSTEM.into(),
                    value: format!("FOLLOW-{i:02}"),
                },
                true,
                on_call.clone(),
            )
            .await
            .expect("follow");
    }
    let link = slow_link(server.1, std::time::Duration::from_millis(300)).await;
    // No re-read window: the whole upload above happened within the default 5 minutes, which
    // would make every refresh re-read everything; at the bedside the window holds only the
    // last 5 minutes of server changes.
    let engine = SyncEngine::new(
        phone.clone(),
        config(link.port, "pull_window_s = 0"),
        on_call.clone(),
    )
    .expect("engine");
    let first = pull(&engine, &link).await;
    // Ten more minutes on every run, uploaded; then the incremental refresh; then one with
    // nothing new.
    for (chans, seq) in &mut runs {
        record(&tablet, chans, e1, e2, seq).await;
    }
    upload(&up, &tablet, e2).await;
    let incremental = pull(&engine, &link).await;
    let idle = pull(&engine, &link).await;
    // Baseline: a full re-pull by a device with nothing pulled yet.
    let fresh = open(dir.path(), "fresh.sqlite3");
    for mrn in phone.followed().await.expect("followed") {
        fresh
            .follow(mrn, true, on_call.clone())
            .await
            .expect("follow");
    }
    let full_engine = SyncEngine::new(
        fresh.clone(),
        config(link.port, "pull_window_s = 0"),
        on_call,
    )
    .expect("engine");
    let full = pull(&full_engine, &link).await;
    let row = |what: &str, m: &Measured| {
        format!(
            "| {what} | {} | {} | {} | {:.1} s |",
            m.requests,
            m.added,
            mb(m.bytes),
            m.seconds
        )
    };
    let mut out = vec![
        "| pull of 10 followed runs, 300 ms per round trip | requests | versions added | bytes (both ways) | time |".to_string(),
        "| --- | ---: | ---: | ---: | ---: |".to_string(),
        row(&format!("first pull ({hours} h × 6 channels each)"), &first),
        row("refresh after 10 more minutes on every run", &incremental),
        row("refresh with nothing new", &idle),
        row("naive: full re-pull", &full),
        String::new(),
    ];
    for m in [
        ("first", &first),
        ("incremental", &incremental),
        ("idle", &idle),
        ("full", &full),
    ] {
        println!(
            "B: {}: {} requests, {} added, {}, {:.1} s",
            m.0,
            m.1.requests,
            m.1.added,
            mb(m.1.bytes),
            m.1.seconds
        );
    }

    // C. The board from what the phone pulled.
    let rules = EcmoRules::default();
    let now = e2;
    let fresh_cache = pumpside::app::ecmo::OnCall::default;
    assert_eq!(board(&fresh_cache(), &phone, &rules, now).await, 10);
    assert_eq!(naive_board(&phone, &rules, now).await, 10);
    // Right after a pull: every followed patient's resources read and decoded again.
    let mut cold = Vec::new();
    for _ in 0..5 {
        let on_call = fresh_cache();
        let t = Instant::now();
        board(&on_call, &phone, &rules, now).await;
        cold.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    // The board's refresh between pulls (every 30 s on screen): nothing pulled since.
    let on_call = fresh_cache();
    board(&on_call, &phone, &rules, now).await;
    let mut ours = Vec::new();
    for _ in 0..11 {
        let t = Instant::now();
        board(&on_call, &phone, &rules, now).await;
        ours.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let mut naive = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        naive_board(&phone, &rules, now).await;
        naive.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (o, c, v) = (median(ours), median(cold), median(naive));
    println!("C: board of 10 followed runs: {o:.1} ms (refresh), {c:.1} ms (after a pull), naive {v:.1} ms");
    out.push("| board from local data, 10 followed runs | Pumpside | naive (per-second series, every time) | target |".into());
    out.push("| --- | ---: | ---: | ---: |".into());
    out.push(format!(
        "| refresh between pulls (median of 11) | {o:.1} ms | {v:.1} ms | < 50 ms |"
    ));
    out.push(format!("| first view after a pull: every resource decoded (median of 5) | {c:.1} ms | {v:.1} ms | |"));
    drop(server);
    out
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<i64>().ok());
    let days = var("PUMPSIDE_BENCH_DAYS").unwrap_or(30);
    let hours = var("PUMPSIDE_BENCH_FOLLOWED_HOURS").unwrap_or(24);
    let mut md = vec![
        format!(
            "ECMO benchmarks, {}",
            Utc::now().format("%Y-%m-%d %H:%M UTC")
        ),
        String::new(),
        "| run screen trends | Pumpside (chunk summaries) | naive (every sample) | target |".into(),
        "| --- | ---: | ---: | ---: |".into(),
    ];
    md.extend(run_screen(days).await);
    md.push(String::new());
    md.extend(followed_runs(hours).await);
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).expect("target/bench");
    let mut f = std::fs::File::create(out.join("ecmo.md")).expect("ecmo.md");
    writeln!(f, "{}", md.join("\n")).expect("write");
    println!("\n{}", md.join("\n"));
}
