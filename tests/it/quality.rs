//! Scores and quality indicators computed from a recorded case timeline.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use pumpside::domain::bloodgas::{
    Analyte, AnalyteValue, BloodGasPanel, GasTemperature, SampleSite,
};
use pumpside::domain::entry::ArtefactTarget;
use pumpside::domain::protocol::Protocol;
use pumpside::domain::quality::pass_rates;
use pumpside::domain::record::CaseView;
use pumpside::domain::{
    Author, CaseId, Decimal, Entry, EntryPayload, EventKind, NewEntry, Parameter,
};
use pumpside::store::Store;

use crate::record::{new_case, open};
use crate::telemetry::t0;

fn d(v: f64) -> Decimal {
    Decimal::from_f64(v, 2).unwrap()
}

async fn add(s: &Store, case: CaseId, minute: i64, payload: EntryPayload) -> Entry {
    s.append_entry(NewEntry {
        case_id: case,
        occurred_at: t0() + Duration::minutes(minute),
        author: Author::new("R. Perfusionist", "or-3-tablet"),
        payload,
    })
    .await
    .unwrap()
}

fn gas(ph: f64, be: f64, pco2: f64, po2: f64, glucose_mmol: f64) -> EntryPayload {
    let mut r = BTreeMap::new();
    for (a, v, u) in [
        (Analyte::Ph, ph, ""),
        (Analyte::BaseExcess, be, "mmol/L"),
        (Analyte::Pco2, pco2, "mmHg"),
        (Analyte::Po2, po2, "mmHg"),
        (Analyte::Glucose, glucose_mmol, "mmol/L"),
    ] {
        r.insert(
            a,
            AnalyteValue {
                value: d(v),
                unit: u.into(),
            },
        );
    }
    EntryPayload::BloodGas(BloodGasPanel {
        site: SampleSite::PatientArtery,
        temperature: GasTemperature::At37,
        results: r,
    })
}

fn temp(c: f64) -> EntryPayload {
    EntryPayload::Measurement {
        parameter: Parameter::PatientTemp,
        value: d(c),
        unit: "°C".into(),
    }
}

fn map(mmhg: f64) -> EntryPayload {
    EntryPayload::Measurement {
        parameter: Parameter::MeanArterialPressure,
        value: d(mmhg),
        unit: "mmHg".into(),
    }
}

/// The clinical.md worked example (pH 7.31, BE −4.0, PaCO2 44, PaO2 320, ACT 610, temperature
/// 37.3 → 6/12), recorded as a case: several gases and ACTs, values before and after bypass
/// that must not count, and an artefact that must not count either.
async fn worked_example_case(s: &Store) -> CaseId {
    let case = new_case(s, false).await;
    add(s, case, 0, gas(7.10, -9.0, 60.0, 500.0, 12.0)).await; // before bypass: ignored
    add(s, case, 1, EntryPayload::Act { seconds: d(130.0) }).await; // baseline: ignored
    add(
        s,
        case,
        5,
        EntryPayload::Event {
            event: EventKind::BypassOn,
        },
    )
    .await;
    add(s, case, 10, gas(7.38, -1.0, 40.0, 180.0, 7.0)).await;
    add(s, case, 12, EntryPayload::Act { seconds: d(560.0) }).await;
    add(s, case, 15, temp(37.2)).await;
    add(s, case, 20, map(62.0)).await;
    add(s, case, 30, gas(7.31, -4.0, 44.0, 320.0, 8.0)).await;
    add(s, case, 35, map(38.0)).await; // 38 mmHg from 35 to 43 min: 8 min below 40
    add(s, case, 40, EntryPayload::Act { seconds: d(610.0) }).await;
    add(s, case, 43, map(58.0)).await;
    add(s, case, 45, temp(37.3)).await;
    let bad = add(s, case, 50, gas(6.90, -15.0, 80.0, 600.0, 20.0)).await;
    add(
        s,
        case,
        51,
        EntryPayload::ArtefactMark {
            target: ArtefactTarget::Entry(bad.id),
            reason: "sample drawn through the cardioplegia line".into(),
        },
    )
    .await;
    add(s, case, 60, gas(7.42, -2.0, 38.0, 250.0, 9.0)).await;
    add(s, case, 70, EntryPayload::Act { seconds: d(520.0) }).await;
    add(
        s,
        case,
        90,
        EntryPayload::Event {
            event: EventKind::BypassOff,
        },
    )
    .await;
    add(s, case, 95, gas(7.20, -6.0, 55.0, 100.0, 14.0)).await; // after bypass: ignored
    case
}

#[tokio::test]
async fn perfscore_v1_reproduces_the_worked_example_from_a_case_timeline() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let case = worked_example_case(&s).await;
    let entries = s.entries(case).await.unwrap();
    let view = CaseView::derive(&entries);
    let protocol = Protocol::defaults().unwrap();
    let score = protocol.scores[0].evaluate(&view, Utc::now());
    let points: Vec<(String, Option<u32>, Option<f64>)> = score
        .rules
        .iter()
        .map(|r| (r.name.clone(), r.points, r.value))
        .collect();
    assert_eq!(
        points,
        vec![
            ("pH".to_string(), Some(1), Some(7.31)),
            ("Base excess".to_string(), Some(1), Some(-4.0)),
            ("PaCO2".to_string(), Some(1), Some(44.0)),
            ("PaO2".to_string(), Some(2), Some(320.0)),
            ("ACT".to_string(), Some(1), Some(610.0)),
            ("Temperature".to_string(), Some(0), Some(37.3)),
        ]
    );
    assert_eq!((score.total, score.max), (6, 12));
    // Evidence points at the recorded entries.
    let ph = &score.rules[0].evidence[0];
    assert_eq!(ph.at, t0() + Duration::minutes(30));
    assert!(entries.iter().any(|e| e.id == ph.entry));
    assert_eq!(score.missing().count(), 0);
}

#[tokio::test]
async fn indicators_pass_or_fail_with_evidence_and_roll_up_to_pass_rates() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let case = worked_example_case(&s).await;
    let entries = s.entries(case).await.unwrap();
    let view = CaseView::derive(&entries);
    let protocol = Protocol::defaults().unwrap();
    let results: Vec<_> = protocol
        .indicators
        .iter()
        .map(|i| i.evaluate(&view, Utc::now()))
        .collect();
    let by_name = |n: &str| results.iter().find(|r| r.name.starts_with(n)).unwrap();
    let map = by_name("MAP not below 40");
    assert_eq!(map.passed, Some(false));
    assert_eq!(map.longest_below, Some(Duration::minutes(8)));
    assert_eq!(map.failing[0].value, 38.0);
    let pco2 = by_name("PaCO2 35-45");
    assert_eq!(
        pco2.passed,
        Some(true),
        "the artefact gas (PaCO2 80) does not count"
    );
    let act = by_name("ACT at least 480");
    assert_eq!(
        act.passed,
        Some(true),
        "baseline ACT before bypass does not count"
    );
    let glucose = by_name("Glucose below 10");
    assert_eq!(glucose.passed, Some(true));
    assert_eq!(
        by_name("Arterial outlet").passed,
        None,
        "no values: not evaluated"
    );

    // A second case where glucose fails.
    let case2 = new_case(&s, false).await;
    add(
        &s,
        case2,
        0,
        EntryPayload::Event {
            event: EventKind::BypassOn,
        },
    )
    .await;
    add(&s, case2, 10, gas(7.40, 0.0, 40.0, 200.0, 11.5)).await;
    add(
        &s,
        case2,
        20,
        EntryPayload::Event {
            event: EventKind::BypassOff,
        },
    )
    .await;
    let entries2 = s.entries(case2).await.unwrap();
    let view2 = CaseView::derive(&entries2);
    let results2: Vec<_> = protocol
        .indicators
        .iter()
        .map(|i| i.evaluate(&view2, Utc::now()))
        .collect();
    let rates = pass_rates(&[results, results2]);
    let glucose = rates
        .iter()
        .find(|(n, ..)| n.starts_with("Glucose"))
        .unwrap();
    assert_eq!((glucose.1, glucose.2), (1, 2));
    let outlet = rates
        .iter()
        .find(|(n, ..)| n.starts_with("Arterial outlet"))
        .unwrap();
    assert_eq!((outlet.1, outlet.2), (0, 0));
}
