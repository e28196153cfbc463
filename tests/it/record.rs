//! The clinical record against a real SQLite file: every entry kind, corrections, retractions,
//! artefact marks, amendments, lifecycle, tamper detection, validation, derived views.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, Utc};
use pumpside::domain::bloodgas::{
    Analyte, AnalyteValue, BloodGasPanel, GasTemperature, SampleSite,
};
use pumpside::domain::entry::*;
use pumpside::domain::patient::{BloodGroup, Mrn, Sex};
use pumpside::domain::record::CaseView;
use pumpside::domain::{
    Author, CaseId, CaseKind, CaseStatus, Decimal, Entry, EntryId, EntryPayload, EventKind,
    NewEntry, Parameter, Patient, ValidationError,
};
use pumpside::store::{NewCase, Store, StoreError};

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn author() -> Author {
    Author::new("R. Perfusionist", "or-3-tablet")
}

pub fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("record.sqlite3"), &crate::keys()).unwrap()
}

/// A running CPB case. Checklists are not under test here, so the pre-bypass gate is passed
/// the way a perfusionist would without one: an override with a reason.
pub async fn new_case(s: &Store, is_demo: bool) -> CaseId {
    let id = s
        .create_case(
            NewCase {
                kind: CaseKind::Cpb,
                patient: None,
                label: "CABG x3".into(),
                is_demo,
                status: CaseStatus::Running,
            },
            author(),
        )
        .await
        .unwrap()
        .id;
    s.append_entry(NewEntry {
        case_id: id,
        occurred_at: crate::telemetry::t0() - Duration::minutes(30),
        author: author(),
        payload: EntryPayload::ChecklistOverride {
            purpose: pumpside::domain::checklist::Purpose::PreBypass,
            reason: "test fixture: checklists are tested in checklist.rs".into(),
        },
    })
    .await
    .unwrap();
    id
}

async fn add(
    s: &Store,
    case: CaseId,
    minutes: i64,
    payload: EntryPayload,
) -> Result<Entry, StoreError> {
    s.append_entry(NewEntry {
        case_id: case,
        occurred_at: crate::telemetry::t0() + Duration::minutes(minutes),
        author: author(),
        payload,
    })
    .await
}

fn gas(hct: &str) -> EntryPayload {
    let mut r = BTreeMap::new();
    for (a, v, u) in [
        (Analyte::Ph, "7.38", ""),
        (Analyte::Pco2, "41", "mmHg"),
        (Analyte::Po2, "245", "mmHg"),
        (Analyte::Hco3, "24.1", "mmol/L"),
        (Analyte::BaseExcess, "-1.2", "mmol/L"),
        (Analyte::So2, "99.6", "%"),
        (Analyte::Hb, "8.5", "g/dL"),
        (Analyte::Hct, hct, "%"),
        (Analyte::Na, "138", "mmol/L"),
        (Analyte::K, "4.6", "mmol/L"),
        (Analyte::ICa, "1.12", "mmol/L"),
        (Analyte::Glucose, "142", "mg/dL"),
        (Analyte::Lactate, "1.4", "mmol/L"),
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
        temperature: GasTemperature::Corrected {
            patient_temp_c: d("32.0"),
        },
        results: r,
        source: None,
    })
}

/// One of every clinical entry kind (clinical.md events, blood gas, manual measurement, circuit).
fn every_kind() -> Vec<EntryPayload> {
    let mut v: Vec<EntryPayload> = EventKind::ALL
        .iter()
        .map(|e| EntryPayload::Event { event: *e })
        .collect();
    v.extend([
        EntryPayload::Cardioplegia(CardioplegiaDose {
            solution: "del Nido".into(),
            volume_ml: d("1000"),
            crystalloid_ml: d("800"),
            route: CardioplegiaRoute::Antegrade,
            temperature_c: d("8.0"),
        }),
        EntryPayload::Heparin { units: d("24000") },
        EntryPayload::Protamine { mg: d("240") },
        EntryPayload::Act { seconds: d("512") },
        EntryPayload::Drug {
            name: "Phenylephrine".into(),
            dose: d("100"),
            unit: "mcg".into(),
            volume_ml: Some(d("1")),
        },
        EntryPayload::Fluid {
            kind: FluidKind::Crystalloid,
            name: "Plasma-Lyte 148".into(),
            volume_ml: d("300"),
        },
        EntryPayload::BloodProduct {
            product: BloodProductKind::RedCells,
            unit_numbers: vec!["G123456789012".into()],
            volume_ml: d("280"),
        },
        EntryPayload::Ultrafiltration {
            mode: UltrafiltrationMode::Conventional,
            volume_ml: d("900"),
        },
        EntryPayload::CellSaverCollected {
            volume_ml: d("600"),
        },
        EntryPayload::CellSaverReturned {
            volume_ml: d("500"),
        },
        EntryPayload::Urine {
            volume_ml: d("300"),
        },
        EntryPayload::ResidualVolume {
            volume_ml: d("500"),
        },
        EntryPayload::Note {
            text: "Venous line chatter, volume given".into(),
        },
        gas("25"),
        EntryPayload::Measurement {
            parameter: Parameter::MeanArterialPressure,
            value: d("62"),
            unit: "mmHg".into(),
        },
        EntryPayload::Component(CircuitComponent {
            kind: ComponentKind::Oxygenator,
            manufacturer: "Acme".into(),
            model: "Oxy 8000".into(),
            lot: "L2411".into(),
            expiry: NaiveDate::from_ymd_opt(2028, 1, 31).unwrap(),
            udi: Some("(01)00812345678901(17)280131(10)L2411".into()),
            size: None,
        }),
        EntryPayload::Component(CircuitComponent {
            kind: ComponentKind::ArterialCannula,
            manufacturer: "Acme".into(),
            model: "Aortic".into(),
            lot: "C77".into(),
            expiry: NaiveDate::from_ymd_opt(2027, 6, 30).unwrap(),
            udi: None,
            size: Some("24 Fr".into()),
        }),
        EntryPayload::Prime {
            components: vec![
                PrimeComponent {
                    name: "Plasma-Lyte 148".into(),
                    volume_ml: d("1200"),
                },
                PrimeComponent {
                    name: "Mannitol 20%".into(),
                    volume_ml: d("200"),
                },
            ],
        },
    ]);
    v
}

#[tokio::test]
async fn every_entry_kind_round_trips_with_author_and_a_valid_chain() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let case = new_case(&s, false).await;
    let kinds = every_kind();
    for (i, p) in kinds.iter().enumerate() {
        add(&s, case, i as i64, p.clone()).await.unwrap();
    }
    drop(s);
    let s = open(&dir); // from the file, not from memory
    let entries = s.entries(case).await.unwrap();
    assert_eq!(
        entries.len(),
        kinds.len() + 2,
        "status + override + every kind"
    );
    for (e, p) in entries[2..].iter().zip(&kinds) {
        assert_eq!(&e.payload, p);
        assert_eq!(e.author, author());
        assert!(e.recorded_at >= e.occurred_at);
    }
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=entries.len() as u64).collect::<Vec<_>>());
    let report = s.verify_chain(case).await.unwrap();
    assert_eq!(report.entries, entries.len() as u64);
    assert_eq!(report.head, entries.last().unwrap().hash);
}

#[tokio::test]
async fn derived_views_give_durations_fluid_balance_and_nadirs() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let case = new_case(&s, false).await;
    let ev = |e| EntryPayload::Event { event: e };
    add(&s, case, 0, ev(EventKind::BypassOn)).await.unwrap();
    add(&s, case, 10, ev(EventKind::CrossClampOn))
        .await
        .unwrap();
    add(&s, case, 30, ev(EventKind::CircArrestStart))
        .await
        .unwrap();
    add(&s, case, 48, ev(EventKind::CircArrestEnd))
        .await
        .unwrap();
    add(&s, case, 70, ev(EventKind::CrossClampOff))
        .await
        .unwrap();
    add(&s, case, 95, ev(EventKind::BypassOff)).await.unwrap();
    // clinical.md 2.11: in 1400 + 800 + 500 + 300 = 3000; out 500 + 600 + 300 + 900 = 2300.
    add(
        &s,
        case,
        1,
        EntryPayload::Prime {
            components: vec![PrimeComponent {
                name: "Plasma-Lyte".into(),
                volume_ml: d("1400"),
            }],
        },
    )
    .await
    .unwrap();
    add(
        &s,
        case,
        12,
        EntryPayload::Cardioplegia(CardioplegiaDose {
            solution: "del Nido".into(),
            volume_ml: d("1000"),
            crystalloid_ml: d("800"),
            route: CardioplegiaRoute::Antegrade,
            temperature_c: d("8"),
        }),
    )
    .await
    .unwrap();
    add(
        &s,
        case,
        60,
        EntryPayload::CellSaverReturned {
            volume_ml: d("500"),
        },
    )
    .await
    .unwrap();
    add(
        &s,
        case,
        20,
        EntryPayload::Fluid {
            kind: FluidKind::Crystalloid,
            name: "NaCl 0.9%".into(),
            volume_ml: d("300"),
        },
    )
    .await
    .unwrap();
    add(
        &s,
        case,
        96,
        EntryPayload::ResidualVolume {
            volume_ml: d("500"),
        },
    )
    .await
    .unwrap();
    add(
        &s,
        case,
        90,
        EntryPayload::CellSaverCollected {
            volume_ml: d("600"),
        },
    )
    .await
    .unwrap();
    add(
        &s,
        case,
        94,
        EntryPayload::Urine {
            volume_ml: d("300"),
        },
    )
    .await
    .unwrap();
    add(
        &s,
        case,
        80,
        EntryPayload::Ultrafiltration {
            mode: UltrafiltrationMode::Conventional,
            volume_ml: d("900"),
        },
    )
    .await
    .unwrap();
    add(&s, case, 15, gas("27")).await.unwrap();
    let low = add(&s, case, 40, gas("21")).await.unwrap();
    add(&s, case, 85, gas("29")).await.unwrap();

    let entries = s.entries(case).await.unwrap();
    let view = CaseView::derive(&entries);
    let end = Utc::now();
    let clocks = view.clocks();
    assert_eq!(clocks.bypass.elapsed(end), Duration::minutes(95));
    assert_eq!(clocks.cross_clamp.elapsed(end), Duration::minutes(60));
    assert_eq!(clocks.circ_arrest.elapsed(end), Duration::minutes(18));
    let fb = view.fluid_balance();
    assert_eq!(
        (fb.total_in(), fb.total_out(), fb.net()),
        (3000.0, 2300.0, 700.0)
    );
    let hct = view.analyte_extremes(Analyte::Hct).unwrap();
    assert_eq!((hct.nadir.value, hct.nadir.entry), (21.0, low.id));
    assert_eq!(hct.peak.value, 29.0);
    // Glucose typed in mg/dL is compared in mmol/L.
    let glu = view.analyte_extremes(Analyte::Glucose).unwrap();
    assert!((glu.nadir.value - 142.0 / 18.016).abs() < 1e-9);
}

#[tokio::test]
async fn corrections_retractions_and_artefact_marks_are_new_entries_and_the_original_stays() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let case = new_case(&s, false).await;
    let hep = add(&s, case, 0, EntryPayload::Heparin { units: d("2400") })
        .await
        .unwrap();
    let corr = add(
        &s,
        case,
        1,
        EntryPayload::Correction {
            target: hep.id,
            replacement: Box::new(EntryPayload::Heparin { units: d("24000") }),
            reason: "typing error: missed a zero".into(),
        },
    )
    .await
    .unwrap();
    let urine = add(
        &s,
        case,
        2,
        EntryPayload::Urine {
            volume_ml: d("150"),
        },
    )
    .await
    .unwrap();
    add(
        &s,
        case,
        3,
        EntryPayload::Retraction {
            target: urine.id,
            reason: "wrong patient's bag".into(),
        },
    )
    .await
    .unwrap();
    let g = add(&s, case, 4, gas("12")).await.unwrap();
    add(
        &s,
        case,
        5,
        EntryPayload::ArtefactMark {
            target: ArtefactTarget::Entry(g.id),
            reason: "sample drawn from the line during flush".into(),
        },
    )
    .await
    .unwrap();
    add(&s, case, 6, gas("24")).await.unwrap();

    let entries = s.entries(case).await.unwrap();
    // Nothing was changed: the original heparin entry still says 2400 and carries its author.
    let original = entries.iter().find(|e| e.id == hep.id).unwrap();
    assert_eq!(original.payload, EntryPayload::Heparin { units: d("2400") });
    let view = CaseView::derive(&entries);
    let shown = view
        .entries
        .iter()
        .find(|e| e.original.id == hep.id)
        .unwrap();
    assert_eq!(shown.payload, &EntryPayload::Heparin { units: d("24000") });
    assert_eq!(shown.corrections[0].id, corr.id);
    assert!(view.entries.iter().all(|e| e.original.id != urine.id));
    assert_eq!(view.retracted[0].0.id, urine.id);
    assert_eq!(view.fluid_balance().urine_ml, 0.0);
    let marked = view.entries.iter().find(|e| e.original.id == g.id).unwrap();
    assert_eq!(
        marked.artefact,
        Some("sample drawn from the line during flush")
    );
    assert_eq!(
        view.analyte_extremes(Analyte::Hct).unwrap().nadir.value,
        24.0,
        "artefact ignored"
    );
    s.verify_chain(case).await.unwrap();
}

#[tokio::test]
async fn a_signed_case_takes_only_amendments_and_refusals_write_nothing() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let case = new_case(&s, false).await;
    let act = add(&s, case, 0, EntryPayload::Act { seconds: d("480") })
        .await
        .unwrap();
    let e = s
        .set_status(case, CaseStatus::Signed, author())
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ValidationError::Lifecycle { .. })),
        "{e}"
    );
    s.set_status(case, CaseStatus::Completed, author())
        .await
        .unwrap();
    s.set_status(case, CaseStatus::Signed, author())
        .await
        .unwrap();
    let before = s.entries(case).await.unwrap().len();
    let e = add(
        &s,
        case,
        1,
        EntryPayload::Urine {
            volume_ml: d("100"),
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ValidationError::CaseSigned { .. })),
        "{e}"
    );
    let e = add(
        &s,
        case,
        1,
        EntryPayload::Correction {
            target: act.id,
            replacement: Box::new(EntryPayload::Act { seconds: d("408") }),
            reason: "transposed digits".into(),
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ValidationError::CaseSigned { .. })),
        "{e}"
    );
    assert_eq!(
        s.entries(case).await.unwrap().len(),
        before,
        "nothing half-written"
    );
    let amend = add(
        &s,
        case,
        2,
        EntryPayload::Amendment {
            target: Some(act.id),
            text: "ACT was 408 s (transposed digits), confirmed with the analyser log".into(),
            reason: "transcription error found at review".into(),
        },
    )
    .await
    .unwrap();
    let entries = s.entries(case).await.unwrap();
    let view = CaseView::derive(&entries);
    assert_eq!(view.amendments[0].id, amend.id);
    let e = s
        .set_status(case, CaseStatus::Running, author())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("amendments only"), "{e}");
}

#[tokio::test]
async fn each_validation_error_names_what_is_wrong() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let case = new_case(&s, false).await;
    let ghost = CaseId::new();
    let e = add(&s, ghost, 0, EntryPayload::Note { text: "x".into() })
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ValidationError::UnknownCase(c)) if c == ghost),
        "{e}"
    );
    let e = add(
        &s,
        case,
        0,
        EntryPayload::Retraction {
            target: EntryId::new(),
            reason: "x".into(),
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ValidationError::UnknownEntry(_))),
        "{e}"
    );
    let e = s
        .append_entry(NewEntry {
            case_id: case,
            occurred_at: Utc::now() + Duration::hours(1),
            author: author(),
            payload: EntryPayload::Note {
                text: "from the future".into(),
            },
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("occurred_at"), "{e}");
    let e = add(
        &s,
        case,
        0,
        EntryPayload::Measurement {
            parameter: Parameter::PumpFlow,
            value: d("4.5"),
            unit: "mL/s".into(),
        },
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string().contains("unit \"mL/s\"") && e.to_string().contains("L/min"),
        "{e}"
    );
    let e = add(
        &s,
        case,
        0,
        EntryPayload::Measurement {
            parameter: Parameter::VenousSaturation,
            value: d("99"),
            unit: "1".into(),
        },
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("measurement.venous-saturation = 99 1"),
        "saturation 99 typed as a fraction: {e}"
    );
    let e = add(&s, case, 0, EntryPayload::Heparin { units: d("0") })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("heparin.units"), "{e}");
    // Only the status and override entries exist: every refusal wrote nothing.
    assert_eq!(s.entries(case).await.unwrap().len(), 2);
}

#[tokio::test]
async fn patients_are_found_by_mrn_versioned_and_never_duplicated() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let p = Patient {
        mrn: Mrn {
            system: "urn:oid:2.16.840.1.113883.19.5".into(),
            value: "000123".into(),
        },
        family_name: "Doe".into(),
        given_names: "Jane".into(),
        birth_date: NaiveDate::from_ymd_opt(1958, 3, 14).unwrap(),
        sex: Sex::Female,
        height_cm: d("162"),
        weight_kg: d("71.4"),
        blood_group: BloodGroup::ONeg,
        allergies: vec!["heparin: HIT 2019".into()],
    };
    let id = s.create_patient(p.clone(), author()).await.unwrap();
    let e = s.create_patient(p.clone(), author()).await.unwrap_err();
    assert!(matches!(e, StoreError::DuplicateMrn { .. }), "{e}");
    let mut heavier = p.clone();
    heavier.weight_kg = d("73.0");
    s.update_patient(id, heavier.clone(), author())
        .await
        .unwrap();
    let (found, current) = s
        .find_patient(&p.mrn.system, &p.mrn.value)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found, current), (id, heavier.clone()));
    let mut other = heavier.clone();
    other.mrn.value = "999".into();
    assert!(
        s.update_patient(id, other, author()).await.is_err(),
        "an MRN never changes"
    );
    let mut bad = heavier;
    bad.height_cm = d("16.2");
    let e = s.update_patient(id, bad, author()).await.unwrap_err();
    assert!(e.to_string().contains("patient.height_cm"), "{e}");
    let case = s
        .create_case(
            NewCase {
                kind: CaseKind::EcmoVa,
                patient: Some(id),
                label: "VA ECMO bed 4".into(),
                is_demo: false,
                status: CaseStatus::Planned,
            },
            author(),
        )
        .await
        .unwrap();
    assert_eq!(
        s.list_cases().await.unwrap()[0].patient,
        Some(case.patient.unwrap())
    );
    assert!(
        s.find_patient("urn:other", "000123")
            .await
            .unwrap()
            .is_none(),
        "MRNs are per issuing system"
    );
}

/// Someone with the file drops the triggers and edits or deletes a row: the chain shows where.
/// (The store restores dropped triggers as soon as it notices another connection wrote, so the
/// attacker drops them again before each edit; see integrity.rs for that and the keyed seals.)
#[tokio::test]
async fn tampering_with_a_stored_entry_is_detected_at_that_entry() {
    let dir = crate::temp_dir();
    let path = dir.path().join("record.sqlite3");
    let s = Store::open(&path, &crate::keys()).unwrap();
    let case = new_case(&s, false).await;
    for units in ["24000", "5000", "3000"] {
        add(&s, case, 0, EntryPayload::Heparin { units: d(units) })
            .await
            .unwrap();
    }
    s.verify_chain(case).await.unwrap();
    let raw = crate::raw_db(&path, &crate::keys());
    raw.execute_batch("DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete;")
        .unwrap();
    raw.execute(
        "UPDATE entries SET payload = replace(payload, '5000', '500') WHERE case_id = ?1 AND case_seq = 4",
        [case.to_string()],
    )
    .unwrap();
    match s.verify_chain(case).await {
        Err(StoreError::Tampered {
            case_seq: 4, why, ..
        }) => assert!(why.contains("hash"), "{why}"),
        other => panic!("edit not detected: {other:?}"),
    }
    raw.execute_batch(
        "DROP TRIGGER IF EXISTS entries_no_update; DROP TRIGGER IF EXISTS entries_no_delete;",
    )
    .unwrap();
    raw.execute(
        "UPDATE entries SET payload = replace(payload, '500', '5000') WHERE case_id = ?1 AND case_seq = 4",
        [case.to_string()],
    )
    .unwrap();
    s.verify_chain(case).await.unwrap();
    raw.execute_batch(
        "DROP TRIGGER IF EXISTS entries_no_update; DROP TRIGGER IF EXISTS entries_no_delete;",
    )
    .unwrap();
    raw.execute(
        "DELETE FROM entries WHERE case_id = ?1 AND case_seq = 3",
        [case.to_string()],
    )
    .unwrap();
    match s.verify_chain(case).await {
        Err(StoreError::Tampered { case_seq: 4, .. }) => {}
        other => panic!("deletion not detected: {other:?}"),
    }
}
