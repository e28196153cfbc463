//! The on-call ECMO board end to end: two tablets record three ECMO runs and upload them to
//! the real FHIR peer; a third installation follows the three patients, pulls, and ranks the
//! runs by the protocol's rules from the pulled data alone (the SampledData decoded back); a new
//! ΔP rise on one tablet reorders the board after the next pull. The recording tablet's own
//! board ranks its runs the same way from its local chunks.

use chrono::{DateTime, Duration, Utc};
use pumpside::app::ecmo::{local_runs, remote_runs};
use pumpside::domain::ecmo::{EcmoRules, FindingKind, UrgencyWatch};
use pumpside::domain::patient::Mrn;
use pumpside::domain::{
    Author, CaseId, CaseKind, CaseStatus, Channel, ChannelId, Decimal, DeviceTime, EntryPayload,
    EventKind, Parameter, Sample, Validity,
};
use pumpside::store::{NewCase, Store};
use pumpside::sync::{remote, SyncEngine};

use crate::sync::{add, author, config, open, test_patient, FhirPeer};

/// One run's device channels (pump flow, pre- and post-oxygenator pressure).
struct Run {
    case: CaseId,
    flow: ChannelId,
    pre: ChannelId,
    post: ChannelId,
    seq: u64,
}

/// Samples every 10 s (the rules read one-minute means).
const STEP_S: i64 = 10;

async fn start_run(s: &Store, mrn: &str, kind: CaseKind, started: DateTime<Utc>) -> Run {
    let patient = test_patient(s, mrn).await;
    let case = s
        .create_case(
            NewCase {
                kind,
                patient: Some(patient),
                label: format!("{} · MRN {mrn}", kind.label()),
                is_demo: false,
                status: CaseStatus::Running,
            },
            author(),
        )
        .await
        .unwrap()
        .id;
    // Support started hours ago (documented then): the run's start for the rules and the
    // Procedure's performedPeriod.
    add(
        s,
        case,
        started,
        EntryPayload::Event {
            event: EventKind::BypassOn,
        },
    )
    .await;
    let mut ids = Vec::new();
    for (p, unit) in [
        (Parameter::PumpFlow, "L/min"),
        (Parameter::PreOxygenatorPressure, "mmHg"),
        (Parameter::PostOxygenatorPressure, "mmHg"),
    ] {
        let ch = Channel {
            id: ChannelId::new(),
            case_id: case,
            parameter: p,
            unit: unit.into(),
            source_device: format!("Acme ECMO console {mrn}"),
            expected_interval_ms: 1000,
        };
        s.create_channel(ch.clone()).await.unwrap();
        ids.push(ch.id);
    }
    Run {
        case,
        flow: ids[0],
        pre: ids[1],
        post: ids[2],
        seq: 0,
    }
}

/// Record `[from, to)`: flow in L/min, the post-oxygenator pressure steady, the pre-oxygenator
/// pressure the post one plus `dp(t)`.
async fn record(
    s: &Store,
    run: &mut Run,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    flow: &str,
    dp: impl Fn(DateTime<Utc>) -> f64,
) {
    let mut flows = Vec::new();
    let mut pres = Vec::new();
    let mut posts = Vec::new();
    let mut t = from;
    while t < to {
        run.seq += 1;
        let sample = |value: Decimal| Sample {
            seq: run.seq,
            received_at: t,
            device_time: DeviceTime::Unknown,
            value,
            validity: Validity::Valid,
        };
        flows.push(sample(flow.parse().unwrap()));
        posts.push(sample(Decimal::integer(230)));
        pres.push(sample(Decimal::integer(230 + dp(t).round() as i64)));
        t += Duration::seconds(STEP_S);
    }
    s.append_samples(vec![(run.flow, flows), (run.pre, pres), (run.post, posts)])
        .await
        .unwrap();
}

/// Upload what a tablet had recorded by `at` (its trend chunks closed by then), as its sync
/// engine would have at that time.
async fn upload_as_of(engine: &SyncEngine, store: &Store, at: DateTime<Utc>) {
    engine
        .plan(
            at + Duration::milliseconds(pumpside::sync::engine::TREND_GRACE_MS)
                + Duration::seconds(1),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        engine.upload().await.unwrap();
        if store.outbox_summary().await.unwrap().pending == 0 {
            return;
        }
    }
    panic!("still pending after 3 uploads");
}

fn mrn(value: &str) -> Mrn {
    Mrn {
        system: crate::sync::TEST_MRN_SYSTEM.into(),
        value: value.into(),
    }
}

/// The followed patients' runs ranked as the phone's board ranks them.
async fn ranked(phone: &Store, at: DateTime<Utc>) -> Vec<pumpside::app::ecmo::RemoteRanked> {
    let mut followed = Vec::new();
    for m in phone.followed().await.unwrap() {
        let runs = remote::runs(&phone.pulled(m.clone()).await.unwrap());
        let written_here = phone.remote_notes(m.clone()).await.unwrap();
        followed.push(remote::Followed {
            mrn: m,
            runs,
            held: 0,
            written_here,
        });
    }
    remote_runs(&followed, &EcmoRules::default(), at)
}

/// What a board's announcer says after a ranking: (MRN, the new findings' kinds).
fn announced(
    watch: &mut UrgencyWatch<String>,
    ranked: &[pumpside::app::ecmo::RemoteRanked],
) -> Vec<(String, Vec<FindingKind>)> {
    let keys: Vec<_> = ranked.iter().map(|r| r.ranked.clone()).collect();
    watch
        .update(&keys)
        .into_iter()
        .map(|(k, f)| {
            let mrn = ranked
                .iter()
                .find(|r| r.ranked.key == k)
                .unwrap()
                .mrn
                .value
                .clone();
            (mrn, f.iter().map(|f| f.kind).collect())
        })
        .collect()
}

/// The followed patients' runs as the phone's board reads them: (MRN, findings, reason).
async fn board(phone: &Store, at: DateTime<Utc>) -> Vec<(String, Vec<FindingKind>, String)> {
    ranked(phone, at)
        .await
        .into_iter()
        .map(|r| {
            let kinds = r.ranked.findings.iter().map(|f| f.kind).collect();
            (r.mrn.value.clone(), kinds, r.ranked.reason())
        })
        .collect()
}

#[tokio::test]
async fn two_tablets_upload_three_runs_and_the_on_call_board_ranks_them_and_reorders() {
    let peer = FhirPeer::start(None);
    // The second period ends on the last closed 10-minute boundary; the first ends 7 h before.
    let e2 = DateTime::from_timestamp_millis(pumpside::sync::map::chunk_start(
        Utc::now() - Duration::minutes(2),
    ))
    .unwrap();
    let e1 = e2 - Duration::hours(7);
    let s0 = e1 - Duration::hours(8);
    let hours = |t: DateTime<Utc>| (t - s0).num_seconds() as f64 / 3600.0;

    // Tablet A: a VA run whose oxygenator clots (ΔP doubles every 10 h) and a VV run with a
    // low anti-Xa. Tablet B: a VA run, steady for now.
    let a_dir = crate::temp_dir();
    let a = open(a_dir.path());
    let b_dir = crate::temp_dir();
    let b = open(b_dir.path());
    let clotting = |t: DateTime<Utc>| 18.0 * (hours(t) / 10.0).exp2();
    let steady = |_: DateTime<Utc>| 15.0;
    let mut a1 = start_run(&a, "ECMO-A1", CaseKind::EcmoVa, s0).await;
    let mut a2 = start_run(&a, "ECMO-A2", CaseKind::EcmoVv, s0).await;
    let mut b1 = start_run(&b, "ECMO-B1", CaseKind::EcmoVa, s0).await;
    record(&a, &mut a1, s0, e1, "4.00", clotting).await;
    record(&a, &mut a2, s0, e1, "4.50", steady).await;
    record(&b, &mut b1, s0, e1, "4.00", |_| 20.0).await;
    add(
        &a,
        a2.case,
        e1 - Duration::minutes(30),
        EntryPayload::Measurement {
            parameter: Parameter::AntiXa,
            value: "0.12".parse().unwrap(),
            unit: "IU/mL".into(),
        },
    )
    .await;

    // The recording tablet's own board, from its local chunks.
    let local = local_runs(&a, &EcmoRules::default(), e1).await.unwrap();
    let order: Vec<CaseId> = local.iter().map(|r| r.case.id).collect();
    assert_eq!(order, vec![a1.case, a2.case]);
    let reason = local[0].ranked.reason();
    assert!(reason.starts_with("ΔP +5"), "{reason}");
    assert_eq!(local[1].ranked.reason(), "anti-Xa 0.12, below 0.3");
    assert_eq!(local[0].day, 1, "8 hours of support: day 1");

    // Both tablets upload; a third installation follows the three patients and pulls.
    let up_a = SyncEngine::new(a.clone(), config(&peer.base(), ""), author()).unwrap();
    let tablet_b = Author::new("S. Perfusionist", "icu-2-tablet");
    let up_b = SyncEngine::new(b.clone(), config(&peer.base(), ""), tablet_b).unwrap();
    for (engine, store) in [(&up_a, &a), (&up_b, &b)] {
        upload_as_of(engine, store, e1).await;
    }
    let phone_dir = crate::temp_dir();
    let phone = open(phone_dir.path());
    let on_call = Author::new("On-call perfusionist", "phone-7");
    for m in ["ECMO-A1", "ECMO-A2", "ECMO-B1"] {
        phone.follow(mrn(m), true, on_call.clone()).await.unwrap();
    }
    let pull = SyncEngine::new(
        phone.clone(),
        config(&peer.base(), "pull_window_s = 0"),
        on_call,
    )
    .unwrap();
    pull.pull().await.unwrap();
    let first = board(&phone, e1).await;
    // The app's cache of decoded runs: the same runs as decoding afresh, until the next pull.
    let on_call = pumpside::app::ecmo::OnCall::default();
    let cached_first = on_call.followed(&phone).await.unwrap();
    assert_eq!(cached_first.len(), 3);
    assert_eq!(on_call.followed(&phone).await.unwrap(), cached_first);
    // The phone's announcer sees the three runs for the first time: nothing to announce.
    let mut watch = UrgencyWatch::default();
    assert!(announced(&mut watch, &ranked(&phone, e1).await).is_empty());
    let names: Vec<&str> = first.iter().map(|(m, _, _)| m.as_str()).collect();
    assert_eq!(names, ["ECMO-A1", "ECMO-A2", "ECMO-B1"], "{first:#?}");
    // Neither VA run has an anti-Xa or aPTT in 8 h: that is said too, after the ΔP.
    assert_eq!(
        first[0].1,
        vec![FindingKind::DeltaPRising, FindingKind::AnticoagulationDue]
    );
    // The same words as the tablet's own board: the pulled trends say what the chunks say.
    assert_eq!(first[0].2, reason, "{first:#?}");
    assert_eq!(first[1].2, "anti-Xa 0.12, below 0.3");
    assert_eq!(
        first[2].2,
        "no anti-Xa or aPTT result in 8 h 00 min of support"
    );

    // Seven hours on: tablet A keeps recording (its runs as before), tablet B's oxygenator
    // starts to clot an hour into it (ΔP 20 → 28.5 mmHg). Both upload; the next pull reorders.
    record(&a, &mut a1, e1, e2, "4.00", clotting).await;
    record(&a, &mut a2, e1, e2, "4.50", steady).await;
    let rise_from = e1 + Duration::hours(1);
    let rise_to = e2 - Duration::hours(1);
    record(&b, &mut b1, e1, e2, "4.00", |t| {
        let f = ((t - rise_from).num_seconds() as f64 / (rise_to - rise_from).num_seconds() as f64)
            .clamp(0.0, 1.0);
        20.0 + 8.5 * f
    })
    .await;
    for (engine, store) in [(&up_a, &a), (&up_b, &b)] {
        upload_as_of(engine, store, e2).await;
    }
    // Before the pull the phone still ranks from what it has (and at e2 those runs have had
    // no data for 7 h).
    let stale = board(&phone, e2).await;
    assert!(
        stale
            .iter()
            .all(|(_, k, _)| k.contains(&FindingKind::NoData)),
        "{stale:#?}"
    );
    let second_pull = pull.pull().await.unwrap();
    assert!(second_pull.added > 0, "{second_pull:?}");
    let second = board(&phone, e2).await;
    // The cache sees the pull: B1's newest flow is from the second period now.
    let cached_second = on_call.followed(&phone).await.unwrap();
    assert_ne!(cached_second, cached_first);
    let newest_flow = |f: &[pumpside::sync::remote::Followed]| {
        f.iter()
            .find(|x| x.mrn.value == "ECMO-B1")
            .and_then(|x| x.runs[0].latest.iter().find(|v| v.name == "Pump flow"))
            .map(|v| v.at)
            .unwrap()
    };
    assert!(
        newest_flow(&cached_second) > e1,
        "decoded again after the pull"
    );
    assert!(newest_flow(&cached_first) < e1);
    // After the pull, B1 is announced for its ΔP rise (A1 for its membrane's baseline, A2 for
    // its overdue anti-Xa); the stale state before the pull was a local view, not announced.
    let mut told = announced(&mut watch, &ranked(&phone, e2).await);
    told.sort();
    assert_eq!(
        told,
        vec![
            (
                "ECMO-A1".to_string(),
                vec![FindingKind::DeltaPAboveBaseline]
            ),
            ("ECMO-A2".to_string(), vec![FindingKind::AnticoagulationDue]),
            ("ECMO-B1".to_string(), vec![FindingKind::DeltaPRising]),
        ]
    );
    let names: Vec<&str> = second.iter().map(|(m, _, _)| m.as_str()).collect();
    assert_eq!(names, ["ECMO-A1", "ECMO-B1", "ECMO-A2"], "{second:#?}");
    // A1's membrane has now doubled its ΔP against its first hours too.
    assert!(
        second[0].1.contains(&FindingKind::DeltaPAboveBaseline),
        "{second:#?}"
    );
    assert_eq!(
        second[1].1,
        vec![FindingKind::DeltaPRising, FindingKind::AnticoagulationDue],
        "{second:#?}"
    );
    assert!(
        second[1].2.starts_with("ΔP +4") && second[1].2.contains("over 6 h"),
        "{second:#?}"
    );
    assert!(
        second[2].2.starts_with("anti-Xa 0.12, below 0.3"),
        "{second:#?}"
    );
    assert!(
        second
            .iter()
            .all(|(_, k, _)| !k.contains(&FindingKind::NoData)),
        "{second:#?}"
    );

    // The ECMO team sets A2's own anti-Xa range on tablet A (heparin kept low for bleeding):
    // A2's low anti-Xa is no longer out of range, on the tablet and, after the upload and the
    // next pull, on the phone; the range travels with its reason.
    add(
        &a,
        a2.case,
        e2 - Duration::minutes(5),
        EntryPayload::EcmoRule {
            key: "anti_xa_low".into(),
            value: "0.1".parse().unwrap(),
            why: "bleeding from the cannula site: low heparin (ECMO consultant)".into(),
        },
    )
    .await;
    let local = local_runs(&a, &EcmoRules::default(), e2).await.unwrap();
    let a2_local = local.iter().find(|r| r.case.id == a2.case).unwrap();
    assert!(
        !a2_local
            .ranked
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::AnticoagulationOut),
        "{:?}",
        a2_local.ranked.findings
    );
    assert_eq!(a2_local.own_rules.len(), 1);
    assert_eq!(a2_local.own_rules[0].key, "anti_xa_low");
    upload_as_of(&up_a, &a, e2).await;
    pull.pull().await.unwrap();
    let third = board(&phone, e2).await;
    let a2_remote = third.iter().find(|(m, _, _)| m == "ECMO-A2").unwrap();
    assert!(
        !a2_remote.1.contains(&FindingKind::AnticoagulationOut),
        "{third:#?}"
    );
    let pulled = ranked(&phone, e2).await;
    let a2_run = &pulled
        .iter()
        .find(|r| r.mrn.value == "ECMO-A2")
        .unwrap()
        .run;
    assert_eq!(a2_run.rules.len(), 1, "{:?}", a2_run.rules);
    assert!(a2_run.rules[0].2.contains("bleeding"));
    assert!(
        !a2_run.latest.iter().any(|v| v.name.contains("ECMO rule")),
        "a rule is not a measured value"
    );
}

/// A handover note written on the phone for a followed run reaches the server exactly once: kept
/// on the phone while the network fails (shown as waiting, with why), a second tap keeps one
/// note, an answer lost after the server stored it is found by the conditional create, and the
/// next pull shows it as the server has it, with who wrote it. The note validates in both FHIR
/// validators.
#[tokio::test]
async fn a_handover_note_written_on_call_goes_to_the_server_once() {
    use crate::sync::{validate_everywhere, Fault, Proxy};
    use pumpside::store::NoteState;
    let peer = FhirPeer::start(None);
    let end = DateTime::from_timestamp_millis(pumpside::sync::map::chunk_start(
        Utc::now() - Duration::minutes(2),
    ))
    .unwrap();
    let start = end - Duration::hours(2);
    let tablet_dir = crate::temp_dir();
    let tablet = open(tablet_dir.path());
    let mut run = start_run(&tablet, "ECMO-N1", CaseKind::EcmoVa, start).await;
    record(&tablet, &mut run, start, end, "4.00", |_| 20.0).await;
    // A post-oxygenator gas with a failing membrane's pO₂, and a pre-oxygenator one (the same
    // LOINC terms as a venous gas: the site tells them apart on the server).
    use pumpside::domain::bloodgas::{
        Analyte, AnalyteValue, BloodGasPanel, GasTemperature, SampleSite,
    };
    let v = |value: &str, unit: &str| AnalyteValue {
        value: value.parse().unwrap(),
        unit: unit.into(),
    };
    for (site, po2, so2) in [
        (SampleSite::PreOxygenator, "38", "68"),
        (SampleSite::PostOxygenator, "12.7", "97"),
    ] {
        add(
            &tablet,
            run.case,
            end - Duration::minutes(20),
            EntryPayload::BloodGas(BloodGasPanel {
                site,
                temperature: GasTemperature::At37,
                // The post-oxygenator pO₂ in kPa (12.7 kPa = 95.26 mmHg).
                results: [
                    (
                        Analyte::Po2,
                        v(
                            po2,
                            if site == SampleSite::PostOxygenator {
                                "kPa"
                            } else {
                                "mmHg"
                            },
                        ),
                    ),
                    (Analyte::So2, v(so2, "%")),
                ]
                .into_iter()
                .collect(),
                source: None,
            }),
        )
        .await;
    }
    let local = local_runs(&tablet, &EcmoRules::default(), end)
        .await
        .unwrap();
    let local_reason = local[0].ranked.reason();
    assert!(
        local_reason.contains("post-oxygenator pO2 95.26 mmHg, below 150"),
        "{local_reason}"
    );
    let up = SyncEngine::new(tablet.clone(), config(&peer.base(), ""), author()).unwrap();
    upload_as_of(&up, &tablet, end).await;

    let phone_dir = crate::temp_dir();
    let phone = open(phone_dir.path());
    let on_call = Author::new("On-call perfusionist", "phone-7");
    phone
        .follow(mrn("ECMO-N1"), true, on_call.clone())
        .await
        .unwrap();
    // Writes through a proxy that resets the first try and loses the answer to the second.
    let proxy = Proxy::start_writes(
        peer.port,
        vec![Fault::Reset, Fault::LoseAnswer, Fault::Pass],
    )
    .await;
    let engine = SyncEngine::new(
        phone.clone(),
        config(&proxy.base(), "pull_window_s = 0"),
        on_call.clone(),
    )
    .unwrap();
    engine.pull().await.unwrap();
    let before = ranked(&phone, end).await;
    assert_eq!(before.len(), 1);
    let server_run = before[0].run.clone();
    assert!(server_run.subject.is_some(), "the run names its patient");
    assert!(before[0].notes.is_empty());
    // The pulled gases are read by site: the phone says what the tablet says.
    let reasons: Vec<String> = before[0]
        .ranked
        .findings
        .iter()
        .map(|f| f.reason.clone())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r == "post-oxygenator pO2 95.26 mmHg, below 150"),
        "{reasons:?}"
    );
    assert!(
        before[0]
            .run
            .trends
            .iter()
            .any(|t| t.gas == Some((Analyte::So2, SampleSite::PreOxygenator))),
        "the pre-oxygenator SO₂ is not taken for a venous one"
    );

    let id = uuid::Uuid::now_v7();
    let note = pumpside::store::RemoteNoteNew {
        id,
        mrn: mrn("ECMO-N1"),
        run_id: server_run.server_id.clone(),
        subject: server_run.subject.clone().unwrap(),
        demo: false,
        text: "Oxygenator ΔP creeping up since 02:00; circuit check hourly. Family aware.".into(),
    };
    assert!(phone
        .write_remote_note(note.clone(), on_call.clone())
        .await
        .unwrap());
    // The second tap: the same note, kept once.
    assert!(!phone
        .write_remote_note(note.clone(), on_call.clone())
        .await
        .unwrap());
    // Another text under the same id is not taken silently.
    let mut other = note.clone();
    other.text = "something else".into();
    assert!(phone
        .write_remote_note(other, on_call.clone())
        .await
        .is_err());
    // An empty note is refused by name.
    let mut empty = note.clone();
    empty.id = uuid::Uuid::now_v7();
    empty.text = "  ".into();
    let e = phone
        .write_remote_note(empty, on_call.clone())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("handover_note.text"), "{e}");

    let observations = |c: std::collections::BTreeMap<String, u64>| c["Observation"];
    let before_send = observations(peer.counts().await);
    let by_id = format!("Observation?identifier=urn:ietf:rfc:3986%7Curn:uuid:{id}");
    // First try: the connection is reset. The note waits, and says why.
    assert!(engine.send_notes().await.is_err());
    let kept = phone.remote_notes(mrn("ECMO-N1")).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert!(
        matches!(
            &kept[0].state,
            NoteState::Waiting {
                attempts: 1,
                error: Some(_)
            }
        ),
        "{:?}",
        kept[0].state
    );
    let waiting = ranked(&phone, end).await;
    assert_eq!(waiting[0].notes.len(), 1);
    let state = waiting[0].notes[0].state.clone().unwrap();
    assert!(
        state.starts_with("waiting to send (1 try failed"),
        "{state}"
    );
    // Second try: the server stores it, the answer is lost.
    assert!(engine.send_notes().await.is_err());
    assert_eq!(
        observations(peer.counts().await),
        before_send + 1,
        "stored by the second try"
    );
    // Third try: the conditional create finds it; acked, not stored again.
    assert_eq!(engine.send_notes().await.unwrap(), 1);
    let kept = phone.remote_notes(mrn("ECMO-N1")).await.unwrap();
    let NoteState::Sent { server_id } = &kept[0].state else {
        panic!("{:?}", kept[0].state)
    };
    assert_eq!(
        observations(peer.counts().await),
        before_send + 1,
        "not stored twice"
    );
    let on_server = peer.get(&by_id).await;
    assert_eq!(
        on_server["entry"].as_array().map(Vec::len),
        Some(1),
        "{on_server:#}"
    );
    assert_eq!(&on_server["entry"][0]["resource"]["id"], server_id.as_str());
    let o = &on_server["entry"][0]["resource"];
    assert_eq!(
        o["partOf"][0]["reference"],
        format!("Procedure/{}", server_run.server_id)
    );
    assert_eq!(
        o["subject"]["reference"],
        server_run.subject.clone().unwrap()
    );
    assert_eq!(o["performer"][0]["display"], "On-call perfusionist");
    assert_eq!(o["valueString"], note.text);
    // Nothing is sent again once acked.
    assert_eq!(engine.send_notes().await.unwrap(), 0);

    // The next pull brings it back: shown once, as the server has it, with who wrote it.
    engine.pull().await.unwrap();
    let after = ranked(&phone, end).await;
    assert_eq!(after[0].notes.len(), 1, "{:?}", after[0].notes);
    assert_eq!(after[0].notes[0].state, None);
    assert_eq!(
        after[0].notes[0].by.as_deref(),
        Some("On-call perfusionist")
    );
    assert_eq!(after[0].notes[0].text, note.text);
    // Not an event, not a value.
    assert!(!after[0]
        .run
        .timeline
        .iter()
        .any(|e| e.text.contains("ΔP creeping")));

    // What left the phone is valid FHIR in both validators.
    let sent: Vec<serde_json::Value> = proxy
        .bodies
        .lock()
        .unwrap()
        .iter()
        .filter(|b| b.contains("handover-note"))
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(sent.len(), 3, "three tries of one note");
    let file = phone_dir.path().join("notes-sent.json");
    std::fs::write(&file, serde_json::to_string(&sent).unwrap()).unwrap();
    validate_everywhere(&file);
}
