//! Live case screen benchmark (issue 6).
//!
//!     cargo bench --bench live
//!
//! 1. Live updates: 32 channels at 1 Hz for 10 simulated minutes through the real UI state and
//!    the real `Shell` on the Live screen in a Dioxus VirtualDom (values applied, advisories
//!    watched, the screen diffed into the mutations the desktop renderer sends to the webview).
//!    Pumpside coalesces a second of values into one update; the naive baseline re-renders on
//!    every sample. CPU time (user + system, from /proc/self/stat) over the simulated 600 s gives
//!    the share of one core. The webview's own paint is not in this figure.
//! 2. Trend redraw: a 12-hour case at 1 Hz in a real SQLite file; a redraw is the store's
//!    bucketed trend for the five charted parameters plus the chart geometry (the SVG path
//!    data). Baseline: the same chart drawn from every raw sample.
//!
//! Figures go to stdout and target/bench/live.md; BENCHMARKS.md quotes a run.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use dioxus::prelude::*;
use pumpside::app::{AppConfig, Services};
use pumpside::domain::protocol::Protocol;
use pumpside::domain::telemetry::Bucket;
use pumpside::domain::trend;
use pumpside::domain::{
    AppMode, Author, CaseKind, CaseStatus, CaseSummary, Channel, ChannelId, Decimal, DemoReason,
    DeviceTime, Entry, EntryPayload, EventKind, LiveSample, NewEntry, Parameter, Sample, Validity,
};
use pumpside::store::{NewCase, Store};
use pumpside::ui::{Screen, Shell, UiState};

const CHANNELS: usize = 32;
const SECONDS: i64 = 600;
/// Simulated seconds run before measuring (see `live_run`).
const WARMUP: i64 = 10;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap()
}

/// CPU seconds (user + system) this process has used so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields after the command: state is [0]; utime is [11], stime [12] (clock ticks).
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

thread_local! {
    static STATE: RefCell<Option<UiState>> = const { RefCell::new(None) };
}

#[derive(Clone, PartialEq)]
struct Props {
    case: CaseSummary,
    entries: Vec<Entry>,
}

#[component]
fn Harness(props: Props) -> Element {
    use_context_provider(move || {
        let protocol = Protocol::defaults().unwrap();
        let base = UiState::new(Screen::Live, &protocol);
        let state = UiState {
            mode: Signal::new(AppMode::Demo(DemoReason::Requested)),
            case: Signal::new(Some(props.case.clone())),
            entries: Signal::new(props.entries.clone()),
            facts: Signal::new(Arc::new(pumpside::domain::board::LiveFacts::derive(
                &props.entries,
                &protocol,
                props.case.kind,
            ))),
            now: Signal::new(t0()),
            ..base
        };
        STATE.with(|s| *s.borrow_mut() = Some(state));
        state
    });
    rsx! { Shell {} }
}

const PARAMS: [Parameter; 8] = [
    Parameter::PumpFlow,
    Parameter::MeanArterialPressure,
    Parameter::ArterialLinePressure,
    Parameter::ArterialOutletTemp,
    Parameter::VenousInflowTemp,
    Parameter::VenousSaturation,
    Parameter::SweepGas,
    Parameter::Haematocrit,
];

fn value(p: Parameter, s: i64, ch: usize) -> f64 {
    let w = ((s as f64) / 17.0 + ch as f64).sin();
    match p {
        Parameter::PumpFlow => 4.6 + 0.2 * w,
        Parameter::MeanArterialPressure => 62.0 + 8.0 * w,
        Parameter::ArterialLinePressure => 210.0 + 10.0 * w,
        Parameter::ArterialOutletTemp => 34.0 + 0.5 * w,
        Parameter::VenousInflowTemp => 33.0 + 0.5 * w,
        Parameter::VenousSaturation => 0.72 + 0.03 * w,
        Parameter::SweepGas => 3.0 + 0.2 * w,
        _ => 0.27 + 0.01 * w,
    }
}

/// One second of 32 channels: 8 parameters from 4 sources each.
fn second(s: i64) -> Vec<LiveSample> {
    let at = t0() + Duration::seconds(s);
    (0..CHANNELS)
        .map(|ch| {
            let p = PARAMS[ch % PARAMS.len()];
            LiveSample::computed(
                p,
                value(p, s, ch),
                at + Duration::milliseconds(ch as i64),
                format!("Device {}", ch / PARAMS.len()),
                Validity::Demo,
            )
            .expect("finite")
        })
        .collect()
}

/// Run the live screen for SECONDS simulated seconds over a case of `n_entries` entries;
/// `per_sample` re-renders after each sample. Every sample goes through the real device hub with
/// its case: the recorder writes it to the store and the case session's monitor watches it
/// (advisories), as in the app; the screen's coroutine work (applying a batch to the live
/// snapshot) is done here, then the VirtualDom renders.
fn live_run(rt: &tokio::runtime::Runtime, per_sample: bool, n_entries: usize) -> (f64, u64, usize) {
    let store = Store::open_in_memory().unwrap();
    let author = Author::new("Bench", "bench");
    let case = rt.block_on(async {
        let case = store
            .create_case(
                NewCase {
                    kind: CaseKind::Cpb,
                    patient: None,
                    label: "Bench CPB".into(),
                    is_demo: true,
                    status: CaseStatus::Running,
                },
                author.clone(),
            )
            .await
            .unwrap();
        let mut news = vec![
            NewEntry {
                case_id: case.id,
                occurred_at: t0(),
                author: author.clone(),
                payload: EntryPayload::ChecklistOverride {
                    purpose: pumpside::domain::checklist::Purpose::PreBypass,
                    reason: "benchmark".into(),
                },
            },
            NewEntry {
                case_id: case.id,
                occurred_at: t0(),
                author: author.clone(),
                payload: EntryPayload::Event {
                    event: EventKind::BypassOn,
                },
            },
        ];
        for i in 2..n_entries.max(2) {
            news.push(NewEntry {
                case_id: case.id,
                occurred_at: t0() + Duration::milliseconds(i as i64),
                author: author.clone(),
                payload: EntryPayload::Note {
                    text: format!("bench note {i}"),
                },
            });
        }
        for chunk in news.chunks(500) {
            store.append_entries(chunk.to_vec()).await.unwrap();
        }
        case
    });
    let entries = rt.block_on(store.entries(case.id)).unwrap();
    let services = rt.block_on(async {
        let s = Services::from_parts(
            store.clone(),
            AppConfig::parse(vec![], Some("/tmp/pumpside-bench".into()), None).unwrap(),
            AppMode::Demo(DemoReason::Requested),
            author.clone(),
            Arc::new(Protocol::defaults().unwrap()),
        );
        s.case().start().await.unwrap();
        s.case().follow(case.id).await.unwrap();
        s
    });
    let hub = services.devices().clone();
    let _guard = rt.enter();
    let mut dom = VirtualDom::new_with_props(
        Harness,
        Props {
            case: case.clone(),
            entries,
        },
    )
    .with_root_context(services);
    dom.rebuild_in_place();
    let state = STATE.with(|s| s.borrow().unwrap());
    let mut renders = 0u64;
    let mut mutations = 0usize;
    // The first WARMUP simulated seconds load the case once (the monitor reads the record on
    // its first value); the figures are the steady state after them.
    let mut cpu0 = cpu_seconds();
    for s in 0..SECONDS + WARMUP {
        if s == WARMUP {
            cpu0 = cpu_seconds();
            renders = 0;
            mutations = 0;
        }
        let mut batch = second(s);
        for sample in &mut batch {
            sample.case = Some(case.id);
        }
        rt.block_on(async {
            for sample in batch.iter().cloned() {
                hub.feed(sample).await;
            }
        });
        if per_sample {
            for sample in batch {
                dom.in_runtime(|| {
                    let mut st = state;
                    let at = sample.at;
                    let _ = st.live.write().apply(sample);
                    st.now.set(at);
                });
                dom.mark_dirty(ScopeId::APP);
                mutations += dom.render_immediate_to_vec().edits.len();
                renders += 1;
            }
        } else {
            dom.in_runtime(|| {
                let mut st = state;
                let at = batch[0].at;
                {
                    let mut live = st.live.write();
                    for sample in batch {
                        let _ = live.apply(sample);
                    }
                }
                st.now.set(at);
            });
            mutations += dom.render_immediate_to_vec().edits.len();
            renders += 1;
        }
    }
    let cpu = cpu_seconds() - cpu0;
    (cpu, renders, mutations)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn p95(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 * 0.95).ceil() as usize).min(v.len()) - 1]
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("bench");
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = String::new();
    let mut line = |s: String| {
        println!("{s}");
        out.push_str(&s);
        out.push('\n');
    };
    let rt = tokio::runtime::Runtime::new().unwrap();

    line(format!(
        "# Live screen: {CHANNELS} channels at 1 Hz for {SECONDS} simulated seconds"
    ));
    let (cpu, renders, edits) = live_run(&rt, false, 1);
    line(format!(
        "coalesced (one update per second): {cpu:.2} s CPU = {:.2} % of one core; {renders} renders, {edits} DOM edits",
        cpu / SECONDS as f64 * 100.0
    ));
    let (cpu_n, renders_n, edits_n) = live_run(&rt, true, 1);
    line(format!(
        "naive (render per sample): {cpu_n:.2} s CPU = {:.2} % of one core; {renders_n} renders, {edits_n} DOM edits",
        cpu_n / SECONDS as f64 * 100.0
    ));
    let big = 5_000;
    let (cpu_b, renders_b, _) = live_run(&rt, false, big);
    line(format!(
        "coalesced, a case of {big} entries: {cpu_b:.2} s CPU = {:.2} % of one core; {:.2} ms per render (1 entry: {:.2} ms)",
        cpu_b / SECONDS as f64 * 100.0,
        cpu_b / renders_b as f64 * 1000.0,
        cpu / renders as f64 * 1000.0
    ));

    // --- Trend redraw over a 12-hour case ---
    let hours = 12i64;
    let path = dir.join("live-trend.sqlite3");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let store = Store::open(&path, &pumpside::store::StoreKeys::derive(&[7u8; 32])).unwrap();
    let channels = rt.block_on(async {
        let case = store
            .create_case(
                NewCase {
                    kind: CaseKind::Cpb,
                    patient: None,
                    label: "Bench 12 h".into(),
                    is_demo: true,
                    status: CaseStatus::Running,
                },
                Author::new("Bench", "bench"),
            )
            .await
            .unwrap();
        let mut channels = Vec::new();
        for p in trend::PARAMETERS {
            let ch = Channel {
                id: ChannelId::new(),
                case_id: case.id,
                parameter: p,
                unit: p.unit().into(),
                source_device: "Bench".into(),
                expected_interval_ms: 1000,
            };
            store.create_channel(ch.clone()).await.unwrap();
            channels.push(ch);
        }
        channels
    });
    let start = t0();
    let total = hours * 3600;
    for chunk in (0..total).collect::<Vec<_>>().chunks(600) {
        let batch: Vec<(ChannelId, Vec<Sample>)> = channels
            .iter()
            .enumerate()
            .map(|(i, ch)| {
                let samples = chunk
                    .iter()
                    .map(|&s| {
                        let v = value(ch.parameter, s, i);
                        let display = ch.parameter.to_display_unit(v);
                        Sample {
                            seq: s as u64,
                            received_at: start + Duration::seconds(s),
                            device_time: DeviceTime::Unknown,
                            value: Decimal::from_f64(display, 2).unwrap(),
                            validity: Validity::Demo,
                        }
                    })
                    .collect();
                (ch.id, samples)
            })
            .collect();
        store.append_samples_blocking(batch).unwrap();
    }
    let end = start + Duration::seconds(total);
    let protocol = Protocol::defaults().unwrap();
    let events = vec![
        (EventKind::BypassOn, start + Duration::minutes(30)),
        (EventKind::CrossClampOn, start + Duration::minutes(45)),
        (EventKind::BypassOff, end - Duration::minutes(30)),
    ];
    let mut ours = Vec::new();
    let mut size = 0usize;
    for _ in 0..21 {
        let t = Instant::now();
        let series: Vec<(Parameter, Vec<Bucket>)> = channels
            .iter()
            .map(|ch| {
                (
                    ch.parameter,
                    store.trend_blocking(ch.id, start, end, 600).unwrap(),
                )
            })
            .collect();
        let m = trend::chart(&series, &events, &protocol, start, end);
        size = m
            .lanes
            .iter()
            .map(|l| l.mean_path.len() + l.envelope_path.len())
            .sum();
        ours.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let mut naive = Vec::new();
    let mut naive_size = 0usize;
    for _ in 0..5 {
        let t = Instant::now();
        let series: Vec<(Parameter, Vec<Bucket>)> = channels
            .iter()
            .map(|ch| {
                let samples = rt.block_on(store.samples(ch.id, start, end)).unwrap();
                let buckets = samples
                    .iter()
                    .map(|s| {
                        // Stored in display units; the chart takes internal units.
                        let v = s.value.to_f64() / ch.parameter.to_display_unit(1.0);
                        Bucket {
                            start: s.received_at,
                            end: s.received_at + Duration::milliseconds(999),
                            n: 1,
                            min: v,
                            max: v,
                            mean: v,
                        }
                    })
                    .collect();
                (ch.parameter, buckets)
            })
            .collect();
        let m = trend::chart(&series, &events, &protocol, start, end);
        naive_size = m
            .lanes
            .iter()
            .map(|l| l.mean_path.len() + l.envelope_path.len())
            .sum();
        naive.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    line(format!(
        "# Trend redraw: {hours} h at 1 Hz, {} charted channels ({} samples)",
        channels.len(),
        total * channels.len() as i64
    ));
    line(format!(
        "bucketed (600 per lane): median {:.2} ms, p95 {:.2} ms, path data {} kB",
        median(&mut ours.clone()),
        p95(&mut ours),
        size / 1024
    ));
    line(format!(
        "naive (every sample drawn): median {:.2} ms, p95 {:.2} ms, path data {} kB",
        median(&mut naive.clone()),
        p95(&mut naive),
        naive_size / 1024
    ));
    std::fs::write(dir.join("live.md"), out).unwrap();
}
