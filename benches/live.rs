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
use pumpside::domain::advisory::{rules_from_protocol, Advisories};
use pumpside::domain::protocol::Protocol;
use pumpside::domain::telemetry::Bucket;
use pumpside::domain::trend;
use pumpside::domain::{
    AppMode, Author, CaseId, CaseKind, CaseStatus, CaseSummary, Channel, ChannelId, Decimal,
    DemoReason, DeviceTime, Entry, EntryId, EntryPayload, EventKind, LiveSample, Parameter, Sample,
    Validity,
};
use pumpside::store::{NewCase, Store};
use pumpside::ui::{Screen, Shell, UiState};

const CHANNELS: usize = 32;
const SECONDS: i64 = 600;

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

/// Run the live screen for SECONDS simulated seconds; `per_sample` re-renders after each sample.
fn live_run(rt: &tokio::runtime::Runtime, per_sample: bool) -> (f64, u64, usize) {
    let case = CaseSummary {
        id: CaseId::new(),
        patient: None,
        kind: CaseKind::Cpb,
        status: CaseStatus::Running,
        label: "Bench CPB".into(),
        is_demo: true,
        created_at: t0(),
    };
    let entries = vec![Entry {
        id: EntryId::new(),
        case_id: case.id,
        seq: 1,
        occurred_at: t0(),
        recorded_at: t0(),
        author: Author::new("Bench", "bench"),
        payload: EntryPayload::Event {
            event: EventKind::BypassOn,
        },
        prev_hash: [0; 32],
        hash: [0; 32],
    }];
    let services = rt.block_on(async {
        Services::from_parts(
            Store::open_in_memory().unwrap(),
            AppConfig::parse(vec![], Some("/tmp/pumpside-bench".into()), None).unwrap(),
            AppMode::Demo(DemoReason::Requested),
            Author::new("Bench", "bench"),
            Arc::new(Protocol::defaults().unwrap()),
        )
    });
    let _guard = rt.enter();
    let mut dom =
        VirtualDom::new_with_props(Harness, Props { case, entries }).with_root_context(services);
    dom.rebuild_in_place();
    let state = STATE.with(|s| s.borrow().unwrap());
    let protocol = Protocol::defaults().unwrap();
    let mut advisories = Advisories::new(rules_from_protocol(&protocol));
    let mut renders = 0u64;
    let mut mutations = 0usize;
    let cpu0 = cpu_seconds();
    for s in 0..SECONDS {
        let batch = second(s);
        if per_sample {
            for sample in batch {
                dom.in_runtime(|| {
                    let mut st = state;
                    let (p, v, at) = (sample.parameter, sample.value, sample.at);
                    let _ = st.live.write().apply(sample);
                    advisories.observe(p, v, at);
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
                        let (p, v, at) = (sample.parameter, sample.value, sample.at);
                        let _ = live.apply(sample);
                        advisories.observe(p, v, at);
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
    let (cpu, renders, edits) = live_run(&rt, false);
    line(format!(
        "coalesced (one update per second): {cpu:.2} s CPU = {:.2} % of one core; {renders} renders, {edits} DOM edits",
        cpu / SECONDS as f64 * 100.0
    ));
    let (cpu_n, renders_n, edits_n) = live_run(&rt, true);
    line(format!(
        "naive (render per sample): {cpu_n:.2} s CPU = {:.2} % of one core; {renders_n} renders, {edits_n} DOM edits",
        cpu_n / SECONDS as f64 * 100.0
    ));

    // --- Trend redraw over a 12-hour case ---
    let hours = 12i64;
    let path = dir.join("live-trend.sqlite3");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let store = Store::open(&path).unwrap();
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
