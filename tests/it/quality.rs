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
        source: None,
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
    assert!(entries.iter().any(|e| Some(e.id) == ph.entry()));
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

/// DO2i over a recorded case: flow samples on bypass, blood gases as they arrive, a gap in the
/// flow stream, an artefact gas; checked against hand-computed values.
#[tokio::test]
async fn goal_directed_perfusion_over_a_case_timeline() {
    use pumpside::calc::OxygenConstants;
    use pumpside::domain::gdp::do2i_over_case;

    let dir = crate::temp_dir();
    let s = open(&dir);
    let case = new_case(&s, false).await;
    let ev = |e| EntryPayload::Event { event: e };
    add(&s, case, 0, ev(EventKind::BypassOn)).await;
    // Gas at minute 1: Hb 8.5, SaO2 99 %, PaO2 250 → CaO2 12.026 → DO2i 288.6 at Qi 2.4.
    let gas1 = |hb: f64, so2: f64, po2: f64| {
        let mut r = BTreeMap::new();
        r.insert(
            Analyte::Hb,
            AnalyteValue {
                value: d(hb),
                unit: "g/dL".into(),
            },
        );
        r.insert(
            Analyte::So2,
            AnalyteValue {
                value: d(so2),
                unit: "%".into(),
            },
        );
        r.insert(
            Analyte::Po2,
            AnalyteValue {
                value: d(po2),
                unit: "mmHg".into(),
            },
        );
        EntryPayload::BloodGas(BloodGasPanel {
            site: SampleSite::PatientArtery,
            temperature: GasTemperature::At37,
            results: r,
            source: None,
        })
    };
    add(&s, case, 1, gas1(8.5, 99.0, 250.0)).await;
    // Gas at minute 10: Hb 7.0 → CaO2 10.036 → at Qi 2.2: 220.8 (below 280).
    add(&s, case, 10, gas1(7.0, 99.0, 250.0)).await;
    // An artefact gas at minute 12 (Hb 3) must not be used.
    let bad = add(&s, case, 12, gas1(3.0, 99.0, 250.0)).await;
    add(
        &s,
        case,
        12,
        EntryPayload::ArtefactMark {
            target: ArtefactTarget::Entry(bad.id),
            reason: "diluted sample".into(),
        },
    )
    .await;
    add(&s, case, 20, ev(EventKind::BypassOff)).await;
    let entries = s.entries(case).await.unwrap();
    let view = CaseView::derive(&entries);

    let bsa = 1.956;
    let mut flow = vec![];
    // Before bypass (ignored), then every 30 s; flow index 2.4 until minute 10, then 2.2.
    flow.push((t0() - Duration::minutes(1), 2.4 * bsa));
    for k in 0..=40 {
        let t = t0() + Duration::seconds(30 * k);
        if (24..28).contains(&k) {
            continue; // flow probe silent from 12:00 to 14:00: a 2.5-minute gap
        }
        let qi = if k < 20 { 2.4 } else { 2.2 };
        flow.push((t, qi * bsa));
    }
    let report = do2i_over_case(
        &view,
        &flow,
        bsa,
        OxygenConstants::default(),
        280.0,
        Duration::seconds(90),
        Utc::now(),
    )
    .unwrap();
    assert_eq!(
        report.without_gas, 2,
        "samples at 0:00 and 0:30 precede the first gas"
    );
    let first = report.series[0];
    assert_eq!(first.0, t0() + Duration::minutes(1));
    assert!((first.1 - 288.6).abs() < 0.5, "{}", first.1);
    let at_15 = report
        .series
        .iter()
        .find(|(t, _)| *t == t0() + Duration::minutes(15))
        .unwrap();
    assert!(
        (at_15.1 - 220.8).abs() < 0.5,
        "artefact gas ignored: {}",
        at_15.1
    );
    assert_eq!(report.below.gaps.len(), 1);
    // Below 280 from 10:00 to 20:00 = 10 min, minus the 2.5-min gap (11:30 → 14:00) = 7.5 min.
    assert_eq!(report.below.time_below, Duration::seconds(450));
    let d220 = 10.0 * 10.036 * 2.2;
    assert!(
        (report.below.area - (280.0 - d220) * 7.5).abs() < 1.0,
        "{}",
        report.below.area
    );
    assert!((report.below.nadir.unwrap().0 - 220.8).abs() < 0.5);
}

/// A hospital's own score, written as data with band rules and other aggregations, evaluates
/// with the same engine (the shape PerfSCORE v2's ten parameters need).
#[tokio::test]
async fn a_hospital_score_in_toml_runs_on_the_same_engine() {
    use pumpside::domain::quality::ScoreDefinition;
    let toml_text = r#"
name = "St Elsewhere bypass score"
version = "3"
reference = "local quality committee, 2026"
rules = [
  { name = "Mean PaCO2 in band", source = { analyte = "pco2" }, aggregation = "mean", scoring = { kind = "band", low = 35, high = 45, points = 2 } },
  { name = "Last glucose in band", source = { analyte = "glucose" }, aggregation = "last", scoring = { kind = "band", low = 4, high = 10, points = 1 } },
  { name = "First ACT", source = "act", aggregation = "first", scoring = { kind = "z_score", ideal = 540, sd = 60, cutoffs = [1, 2, 3] } },
  { name = "Lactate", source = { analyte = "lactate" }, aggregation = "worst", scoring = { kind = "band", low = 0, high = 2, points = 2 } },
]
"#;
    let def: ScoreDefinition = toml::from_str(toml_text).unwrap();
    let dir = crate::temp_dir();
    let s = open(&dir);
    let case = worked_example_case(&s).await;
    let entries = s.entries(case).await.unwrap();
    let view = CaseView::derive(&entries);
    let r = def.evaluate(&view, Utc::now());
    // PaCO2 on bypass (artefact excluded): 40, 44, 38 → mean 40.67, in band → 0.
    assert_eq!(r.rules[0].points, Some(0));
    assert!((r.rules[0].value.unwrap() - 122.0 / 3.0).abs() < 1e-9);
    assert_eq!(r.rules[0].evidence.len(), 3);
    // Last glucose on bypass: 9.0 mmol/L → 0.
    assert_eq!((r.rules[1].points, r.rules[1].value), (Some(0), Some(9.0)));
    // First ACT on bypass: 560 → z 0.33 → 0 of 3.
    assert_eq!(
        (r.rules[2].points, r.rules[2].value),
        (Some(0), Some(560.0))
    );
    // No lactate measured: not scored, reported as missing.
    assert_eq!(r.rules[3].points, None);
    assert_eq!(r.missing().collect::<Vec<_>>(), vec!["Lactate"]);
    assert_eq!((r.total, r.max), (0, 8));
}
