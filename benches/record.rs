//! Telemetry storage benchmark: a generated ECMO run (default 30 days at 1 Hz on 32 channels,
//! ~83 million samples) written through the real store, against a naive one-row-per-sample
//! SQLite table fed the same samples in the same run.
//!
//!     cargo bench --bench record                       # the full 30-day run (~30 min here)
//!     PUMPSIDE_BENCH_DAYS=1 cargo bench --bench record # a quick look
//!
//! The store is written twice with the same samples: encrypted (SQLCipher, as the app runs) and
//! unencrypted (the same code with no database key), to measure what encryption costs.
//!
//! Figures go to stdout and to target/bench/record.md; BENCHMARKS.md quotes a run.

use std::path::{Path, PathBuf};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, TimeZone, Utc};
use pumpside::domain::{
    Author, CaseKind, CaseStatus, Channel, ChannelId, Decimal, DeviceTime, Parameter, Sample,
    Validity,
};
use pumpside::store::{NewCase, Store, StoreKeys};

const MASTER: [u8; 32] = [7u8; 32];

const CHANNELS: usize = 32;
/// Seconds of data per transaction while ingesting (32 channels × 60 s = 1920 samples).
const BATCH_SECS: u64 = 60;

/// What each channel measures, with the precision a device sends and a typical level.
fn channel_spec(i: usize) -> (Parameter, &'static str, i8, f64, f64) {
    // (parameter, unit, exponent, centre, wander)
    const SPECS: [(Parameter, &str, i8, f64, f64); 8] = [
        (Parameter::PumpFlow, "L/min", -2, 4.2, 0.3),
        (Parameter::MeanArterialPressure, "mmHg", 0, 70.0, 8.0),
        (Parameter::ArterialLinePressure, "mmHg", 0, 210.0, 15.0),
        (Parameter::ArterialOutletTemp, "°C", -1, 36.8, 0.3),
        (Parameter::VenousInflowTemp, "°C", -1, 36.5, 0.3),
        (Parameter::VenousSaturation, "%", 0, 72.0, 4.0),
        (Parameter::SweepGas, "L/min", -1, 3.0, 0.5),
        (Parameter::Fio2, "%", 0, 60.0, 5.0),
    ];
    SPECS[i % SPECS.len()]
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap()
}

/// Deterministic pseudo-random numbers (xorshift), so both stores get identical samples.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One channel's signal: a mean-reverting random walk quantised to the device's precision.
struct Signal {
    level: f64,
    rng: Rng,
    spec: (Parameter, &'static str, i8, f64, f64),
}

impl Signal {
    fn sample(&mut self, second: u64) -> Sample {
        let (_, _, exp, centre, wander) = self.spec;
        let step = wander * 0.02 * (self.rng.unit() - 0.5);
        self.level += step + (centre - self.level) * 0.001;
        let scale = 10f64.powi(-i32::from(exp));
        let mantissa = (self.level * scale).round() as i64;
        let jitter_ms = (self.rng.next() % 41) as i64 - 20;
        Sample {
            seq: second + 1,
            received_at: t0() + Duration::milliseconds(second as i64 * 1000 + jitter_ms),
            device_time: DeviceTime::Known(t0().timestamp_millis() - 1800 + second as i64 * 1000),
            value: Decimal::new(mantissa, exp),
            validity: if self.rng.next() % 5000 == 0 {
                Validity::Artefact
            } else {
                Validity::Valid
            },
        }
    }
}

fn signals() -> Vec<Signal> {
    (0..CHANNELS)
        .map(|i| {
            let spec = channel_spec(i);
            Signal {
                level: spec.3,
                rng: Rng(0x9E37_79B9_7F4A_7C15 ^ ((i as u64 + 1) * 0x1000_0000_01B3)),
                spec,
            }
        })
        .collect()
}

/// A running ECMO case with the 32 bench channels; their ids in channel order.
fn bench_channels(rt: &tokio::runtime::Runtime, store: &Store, label: &str) -> Vec<ChannelId> {
    let case = rt
        .block_on(store.create_case(
            NewCase {
                kind: CaseKind::EcmoVa,
                patient: None,
                label: label.into(),
                is_demo: false,
                status: CaseStatus::Running,
            },
            Author::new("bench", "bench"),
        ))
        .unwrap();
    (0..CHANNELS)
        .map(|i| {
            let (parameter, unit, ..) = channel_spec(i);
            let ch = Channel {
                id: ChannelId::new(),
                case_id: case.id,
                parameter,
                unit: unit.into(),
                source_device: format!("bench device {i}"),
                expected_interval_ms: 1000,
            };
            rt.block_on(store.create_channel(ch.clone())).unwrap();
            ch.id
        })
        .collect()
}

/// Write the whole run through the real store at `path`; the time spent in the store and the
/// channel ids.
fn ingest_ours(
    rt: &tokio::runtime::Runtime,
    path: &Path,
    keys: &StoreKeys,
    seconds: u64,
) -> (StdDuration, Vec<ChannelId>) {
    let store = Store::open(path, keys).unwrap();
    let ids = bench_channels(rt, &store, "bench run");
    let mut sig = signals();
    let mut ingest = StdDuration::ZERO;
    let mut sec = 0;
    while sec < seconds {
        let end = (sec + BATCH_SECS).min(seconds);
        let batch: Vec<(ChannelId, Vec<Sample>)> = ids
            .iter()
            .zip(sig.iter_mut())
            .map(|(id, s)| (*id, (sec..end).map(|t| s.sample(t)).collect()))
            .collect();
        let start = Instant::now();
        store.append_samples_blocking(batch).unwrap();
        ingest += start.elapsed();
        sec = end;
    }
    drop(store);
    std::thread::sleep(StdDuration::from_millis(200));
    (ingest, ids)
}

fn file_bytes(path: &Path) -> u64 {
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

fn checkpoint(path: &Path, keys: Option<&StoreKeys>) {
    let c = rusqlite::Connection::open(path).unwrap();
    if let Some(stmt) = keys.and_then(|k| k.sqlcipher_key_statement()) {
        c.execute_batch(&stmt).unwrap();
    }
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
}

/// Median and 95th percentile of `runs` timings of `f`, after one warm-up.
fn time_it(runs: usize, mut f: impl FnMut()) -> (StdDuration, StdDuration) {
    f();
    let mut t: Vec<StdDuration> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    (t[runs / 2], t[(runs * 95 / 100).min(runs - 1)])
}

fn ms(d: StdDuration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

struct Report(Vec<String>);
impl Report {
    fn line(&mut self, s: String) {
        println!("{s}");
        self.0.push(s);
    }
}

fn main() {
    // `cargo bench` passes --bench; ignore arguments.
    let days: u64 = std::env::var("PUMPSIDE_BENCH_DAYS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(30);
    let seconds = days * 86_400;
    let total = seconds * CHANNELS as u64;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("bench");
    std::fs::create_dir_all(&dir).unwrap();
    let ours = dir.join("pumpside.sqlite3");
    let plain = dir.join("unencrypted.sqlite3");
    let naive = dir.join("naive.sqlite3");
    for p in [&ours, &plain, &naive] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
        }
    }
    let mut r = Report(Vec::new());
    r.line(format!(
        "# Telemetry benchmark: {days} day(s) x {CHANNELS} channels at 1 Hz = {total} samples"
    ));
    r.line(format!(
        "batch: {BATCH_SECS} s of all channels per transaction ({} samples), synchronous=FULL, WAL",
        BATCH_SECS * CHANNELS as u64
    ));

    // --- Pumpside store, encrypted as the app runs it, then unencrypted ---
    let rt = tokio::runtime::Runtime::new().unwrap();
    let enc_keys = StoreKeys::derive(&MASTER);
    let plain_keys = StoreKeys::unencrypted(&MASTER);
    let (ingest, ids) = ingest_ours(&rt, &ours, &enc_keys, seconds);
    checkpoint(&ours, Some(&enc_keys));
    let ours_bytes = file_bytes(&ours);
    let (plain_ingest, plain_ids) = ingest_ours(&rt, &plain, &plain_keys, seconds);
    checkpoint(&plain, None);

    // --- naive baseline: one row per sample ---
    let mut conn = rusqlite::Connection::open(&naive).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE samples (channel INTEGER NOT NULL, seq INTEGER NOT NULL,
             received_ms INTEGER NOT NULL, device_ms INTEGER, mantissa INTEGER NOT NULL,
             exponent INTEGER NOT NULL, validity INTEGER NOT NULL, value REAL NOT NULL);
         CREATE INDEX samples_channel_time ON samples(channel, received_ms);",
    )
    .unwrap();
    let mut sig = signals();
    let mut naive_ingest = StdDuration::ZERO;
    let mut sec = 0;
    while sec < seconds {
        let end = (sec + BATCH_SECS).min(seconds);
        let batch: Vec<(usize, Vec<Sample>)> = sig
            .iter_mut()
            .enumerate()
            .map(|(c, s)| (c, (sec..end).map(|t| s.sample(t)).collect()))
            .collect();
        let start = Instant::now();
        let tx = conn.transaction().unwrap();
        {
            let mut ins = tx
                .prepare_cached("INSERT INTO samples VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
                .unwrap();
            for (c, samples) in &batch {
                for s in samples {
                    let dev = match s.device_time {
                        DeviceTime::Known(ms) => Some(ms),
                        _ => None,
                    };
                    ins.execute(rusqlite::params![
                        *c as i64,
                        s.seq as i64,
                        s.received_at.timestamp_millis(),
                        dev,
                        s.value.mantissa,
                        i64::from(s.value.exponent),
                        i64::from(s.validity.code()),
                        s.value.to_f64()
                    ])
                    .unwrap();
                }
            }
        }
        tx.commit().unwrap();
        naive_ingest += start.elapsed();
        sec = end;
    }
    drop(conn);
    checkpoint(&naive, None);
    let naive_bytes = file_bytes(&naive);

    r.line(String::new());
    r.line("| measure | Pumpside chunks | naive row per sample | target |".into());
    r.line("| --- | --- | --- | --- |".into());
    r.line(format!(
        "| sustained ingest | {:.0} samples/s | {:.0} samples/s | >= 250,000 samples/s |",
        total as f64 / ingest.as_secs_f64(),
        total as f64 / naive_ingest.as_secs_f64()
    ));
    r.line(format!(
        "| database size (file incl. indexes) | {:.1} MB | {:.1} MB | |",
        ours_bytes as f64 / 1e6,
        naive_bytes as f64 / 1e6
    ));
    r.line(format!(
        "| bytes per sample | {:.2} | {:.2} | <= 4 |",
        ours_bytes as f64 / total as f64,
        naive_bytes as f64 / total as f64
    ));

    // --- queries ---
    let store = Store::open(&ours, &enc_keys).unwrap();
    let plain_store = Store::open(&plain, &plain_keys).unwrap();
    let mut encryption = Vec::new();
    let conn = rusqlite::Connection::open(&naive).unwrap();
    let run_end = t0() + Duration::seconds(seconds as i64);
    let ranges = [
        ("whole run", t0(), run_end),
        ("last hour", run_end - Duration::hours(1), run_end),
    ];
    for (name, from, to) in ranges {
        let mut n_ours = 0usize;
        let (med, p95) = time_it(21, || {
            n_ours = store.trend_blocking(ids[0], from, to, 1000).unwrap().len();
        });
        let (pmed, _) = time_it(21, || {
            plain_store
                .trend_blocking(plain_ids[0], from, to, 1000)
                .unwrap();
        });
        encryption.push((format!("1000-bucket trend, {name} (median)"), med, pmed));
        let (f, t) = (from.timestamp_millis(), to.timestamp_millis());
        let width = (t - f) as f64 / 1000.0;
        let mut stmt = conn
            .prepare(
                "SELECT min(CAST((received_ms - ?2) / ?4 AS INTEGER), 999) AS b, count(*),
                        min(value), max(value), avg(value)
                   FROM samples
                  WHERE channel = ?1 AND received_ms BETWEEN ?2 AND ?3 AND validity IN (0, 1, 5)
                  GROUP BY b",
            )
            .unwrap();
        let mut n_naive = 0usize;
        let (nmed, np95) = time_it(if name == "whole run" { 5 } else { 21 }, || {
            n_naive = stmt
                .query_map(rusqlite::params![0i64, f, t, width], |_| Ok(()))
                .unwrap()
                .count();
        });
        let target = if name == "whole run" {
            "<= 50 ms"
        } else {
            "<= 5 ms"
        };
        r.line(format!(
            "| 1000-bucket trend, {name} (median / p95) | {} / {} ({n_ours} buckets) | {} / {} ({n_naive} buckets) | {target} |",
            ms(med),
            ms(p95),
            ms(nmed),
            ms(np95)
        ));
    }

    r.line(String::new());
    r.line("## What encryption at rest costs (same samples, same run)".into());
    r.line(String::new());
    r.line("| measure | encrypted (SQLCipher) | unencrypted | cost | limit |".into());
    r.line("| --- | --- | --- | --- | --- |".into());
    let (enc_rate, plain_rate) = (
        total as f64 / ingest.as_secs_f64(),
        total as f64 / plain_ingest.as_secs_f64(),
    );
    r.line(format!(
        "| sustained ingest | {enc_rate:.0} samples/s | {plain_rate:.0} samples/s | {:.1} % | <= 30 % |",
        (1.0 - enc_rate / plain_rate) * 100.0
    ));
    for (name, enc, plain) in &encryption {
        r.line(format!(
            "| {name} | {} | {} | {:.1} % | <= 30 % |",
            ms(*enc),
            ms(*plain),
            (enc.as_secs_f64() / plain.as_secs_f64() - 1.0) * 100.0
        ));
    }
    r.line(String::new());

    // --- live rate: what one acknowledgement costs when every second is its own commit ---
    let live = dir.join("live.sqlite3");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", live.display()));
    }
    let store = Store::open(&live, &enc_keys).unwrap();
    let ids = bench_channels(&rt, &store, "live-rate run");
    let mut sig = signals();
    let mut lat: Vec<StdDuration> = (0..1200u64)
        .map(|sec| {
            let batch: Vec<(ChannelId, Vec<Sample>)> = ids
                .iter()
                .zip(sig.iter_mut())
                .map(|(id, s)| (*id, vec![s.sample(sec)]))
                .collect();
            let start = Instant::now();
            store.append_samples_blocking(batch).unwrap();
            start.elapsed()
        })
        .collect();
    lat.sort();
    r.line(format!(
        "| one commit of 1 s x {CHANNELS} channels (live rate), median / p95 | {} / {} | | |",
        ms(lat[lat.len() / 2]),
        ms(lat[lat.len() * 95 / 100])
    ));
    std::fs::write(dir.join("record.md"), r.0.join("\n") + "\n").unwrap();
}
