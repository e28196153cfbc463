//! The demo's ECMO runs: a VA run whose oxygenator slowly clots (ΔP rising over hours) and a
//! VV run whose recirculation climbs, each with its support start hours ago, a history of
//! simulated device values (one every 10 s, marked demo) and laboratory values, and a
//! simulated ECMO console, associated with it when it connects, that goes on recording. Made once; a later start
//! of demo mode reuses them. Simulated data only, in demo cases only.

use chrono::{DateTime, Duration, Utc};

use super::case::CaseSession;
use crate::devices::simulator::{Scenario, VirtualKind, ECMO_CONSOLE};
use crate::devices::CpbSimulator;
use crate::domain::bloodgas::{Analyte, AnalyteValue, BloodGasPanel, GasTemperature, SampleSite};
use crate::domain::{
    CaseKind, CaseStatus, Channel, ChannelId, Decimal, DeviceTime, EntryPayload, EventKind,
    Parameter, Sample, Validity,
};
use crate::store::{NewCase, StoreError};

/// One demo run: what it plays and how it is labelled.
struct DemoRun {
    scenario: Scenario,
    console: VirtualKind,
    kind: CaseKind,
    label: &'static str,
    bed: &'static str,
    /// Hours of support before demo mode first starts.
    hours: i64,
}

const RUNS: [DemoRun; 2] = [
    DemoRun {
        scenario: Scenario::EcmoVa,
        console: VirtualKind::EcmoVaConsole,
        kind: CaseKind::EcmoVa,
        label: "Demo VA ECMO: oxygenator clotting (simulated)",
        bed: "3",
        hours: 14,
    },
    DemoRun {
        scenario: Scenario::EcmoVv,
        console: VirtualKind::EcmoVvConsole,
        kind: CaseKind::EcmoVv,
        label: "Demo VV ECMO: recirculation (simulated)",
        bed: "7",
        hours: 16,
    },
];

/// The history's step: the rules read one-minute means.
const HISTORY_STEP_S: i64 = 10;

fn to_store(e: super::case::WriteError) -> StoreError {
    e.into_store_error()
}

/// Make the demo's ECMO runs if they are not there; the consoles to start, each with the
/// simulator of its run.
pub(super) async fn ensure_runs(
    session: &CaseSession,
) -> Result<Vec<(VirtualKind, CpbSimulator)>, StoreError> {
    let store = &session.store;
    let cases = store.list_cases().await?;
    let mut out = Vec::new();
    for run in &RUNS {
        if let Some(c) = cases
            .iter()
            .find(|c| c.is_demo && c.label == run.label && c.status == CaseStatus::Running)
        {
            // Reused: the simulator goes on from the run's support start.
            let entries = store.entries(c.id).await?;
            let started = crate::domain::record::CaseView::derive(&entries)
                .events()
                .find(|(k, _)| *k == EventKind::BypassOn)
                .map_or(c.created_at, |(_, at)| at);
            out.push((run.console, CpbSimulator::ecmo(started, run.scenario)));
            continue;
        }
        let by = session.access().system("demo");
        let patient = super::services::demo_patient(store, &by).await?;
        let case = store
            .create_case(
                NewCase {
                    kind: run.kind,
                    patient: Some(patient),
                    label: run.label.to_string(),
                    is_demo: true,
                    status: CaseStatus::Running,
                },
                by,
            )
            .await?;
        let now = Utc::now();
        let started = now - Duration::hours(run.hours);
        let sim = CpbSimulator::ecmo(started, run.scenario);
        let record = |payload: EntryPayload, at: DateTime<Utc>| {
            session.system_record_at(case.id, payload, at, "demo")
        };
        record(
            EntryPayload::Event {
                event: EventKind::BypassOn,
            },
            started,
        )
        .await
        .map_err(to_store)?;
        record(
            EntryPayload::Location {
                unit: "Cardiac ICU".into(),
                bed: run.bed.into(),
            },
            started + Duration::minutes(40),
        )
        .await
        .map_err(to_store)?;
        // Anti-Xa every 6 hours in range; the VV run's venous gas with each (for
        // recirculation, with the circuit saturations below).
        let mut h = 2;
        while h < run.hours {
            let at = started + Duration::hours(h);
            record(
                EntryPayload::Measurement {
                    parameter: Parameter::AntiXa,
                    value: Decimal::new(38 + (h % 5), -2),
                    unit: "IU/mL".into(),
                },
                at,
            )
            .await
            .map_err(to_store)?;
            if run.scenario == Scenario::EcmoVv {
                let t = (at - started).num_seconds() as f64;
                let so2 = sim.value(Parameter::VenousSaturation, t) * 100.0;
                record(venous_gas(so2), at).await.map_err(to_store)?;
            }
            h += 6;
        }
        if run.scenario == Scenario::EcmoVv {
            // The newest venous gas, with the circuit saturations of the moment.
            let at = now - Duration::minutes(10);
            let so2 = sim.value(
                Parameter::VenousSaturation,
                (at - started).num_seconds() as f64,
            );
            record(venous_gas(so2 * 100.0), at)
                .await
                .map_err(to_store)?;
        }
        backfill(session, case.id, &sim, started, now).await?;
        out.push((run.console, sim));
    }
    Ok(out)
}

/// The demo ECMO run a simulated console serves, by the console's device key (it is
/// associated with it when it connects, as the CPB demo's devices are with the CPB case).
pub(super) fn run_for_console(
    key: &str,
    cases: &[crate::domain::CaseSummary],
) -> Option<crate::domain::CaseSummary> {
    let run = RUNS.iter().find(|r| r.console.device_key() == key)?;
    cases
        .iter()
        .find(|c| c.is_demo && c.label == run.label && c.status == CaseStatus::Running)
        .cloned()
}

fn venous_gas(so2_pct: f64) -> EntryPayload {
    let v = |value: Decimal, unit: &str| AnalyteValue {
        value,
        unit: unit.into(),
    };
    let so2 = Decimal::from_f64(so2_pct, 0).unwrap_or(Decimal::integer(62));
    EntryPayload::BloodGas(BloodGasPanel {
        site: SampleSite::Venous,
        temperature: GasTemperature::At37,
        results: [
            (Analyte::Ph, v(Decimal::new(736, -2), "")),
            (Analyte::Pco2, v(Decimal::integer(46), "mmHg")),
            (Analyte::Po2, v(Decimal::integer(34), "mmHg")),
            (Analyte::So2, v(so2, "%")),
        ]
        .into_iter()
        .collect(),
        source: None,
    })
}

/// The run's history from its simulator: the console's parameters and, on the circuit, the
/// pre- and post-oxygenator saturations, one value every 10 s, marked demo.
async fn backfill(
    session: &CaseSession,
    case: crate::domain::CaseId,
    sim: &CpbSimulator,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(), StoreError> {
    let store = &session.store;
    let params: Vec<(Parameter, u8)> = ECMO_CONSOLE
        .iter()
        .map(|(_, p, places)| (*p, *places))
        .chain([
            (Parameter::PreOxygenatorSaturation, 0),
            (Parameter::PostOxygenatorSaturation, 0),
            (Parameter::HeaterTemp, 1),
        ])
        .collect();
    let mut batch = Vec::new();
    for (p, places) in params {
        let ch = Channel {
            id: ChannelId::new(),
            case_id: case,
            parameter: p,
            unit: p.unit().to_string(),
            source_device: "Sim ECMO console history (demo)".into(),
            expected_interval_ms: (HISTORY_STEP_S * 1000) as u32,
        };
        store.create_channel(ch.clone()).await?;
        let mut samples = Vec::new();
        let mut t = from;
        let mut seq = 0;
        while t < to {
            let v = sim.value(p, (t - from).num_seconds() as f64);
            if let Some(value) = Decimal::from_f64(p.to_display_unit(v), places) {
                seq += 1;
                samples.push(Sample {
                    seq,
                    received_at: t,
                    device_time: DeviceTime::Unknown,
                    value,
                    validity: Validity::Demo,
                });
            }
            t += Duration::seconds(HISTORY_STEP_S);
        }
        batch.push((ch.id, samples));
    }
    store.append_samples(batch).await?;
    Ok(())
}
