//! An ECMO day: recorded on one tablet, uploaded once to the real FHIR peer, pulled by the
//! on-call phone (paged, by `_lastUpdated` cursor), and the pull rules on the recording tablet
//! itself (a pulled version never shows over a pending local change).

use chrono::{DateTime, Utc};
use pumpside::domain::patient::Mrn;
use pumpside::domain::{
    Author, CaseId, CaseKind, CaseStatus, Channel, ChannelId, Decimal, DeviceTime, EntryPayload,
    Parameter, Sample, Validity,
};
use pumpside::store::{NewCase, Store};
use pumpside::sync::remote;
use pumpside::sync::SyncEngine;
use serde_json::Value;

use crate::sync::{
    add, author, config, d, expected_on_server, open, planned_creates, sync_until_done,
    test_patient, validate_everywhere, without_provenance, FhirPeer, Proxy, TEST_MRN_SYSTEM,
};

struct EcmoDay {
    case: CaseId,
    /// The last valid pump-flow sample, as recorded.
    last_flow: String,
    chunks: usize,
}

/// A VA ECMO run of `hours` at 1 Hz on pump flow, sweep gas and venous saturation (artefacts
/// every 97th second), ending on a closed 10-minute boundary; heparin, an ACT every 4 hours, a
/// blood gas, a note.
async fn record_ecmo_day(s: &Store, mrn: &str, hours: i64) -> EcmoDay {
    let patient = test_patient(s, mrn).await;
    let case = s
        .create_case(
            NewCase {
                kind: CaseKind::EcmoVa,
                patient: Some(patient),
                label: format!("VA ECMO · MRN {mrn}"),
                is_demo: false,
                status: CaseStatus::Running,
            },
            author(),
        )
        .await
        .unwrap()
        .id;
    let end = DateTime::from_timestamp_millis(pumpside::sync::map::chunk_start(
        Utc::now() - chrono::Duration::minutes(2),
    ))
    .unwrap();
    let start = end - chrono::Duration::hours(hours);
    add(s, case, start, EntryPayload::Heparin { units: d("5000") }).await;
    for h in (0..hours).step_by(4) {
        add(
            s,
            case,
            start + chrono::Duration::hours(h) + chrono::Duration::minutes(30),
            EntryPayload::Act {
                seconds: Decimal::new(180 + h * 2, 0),
            },
        )
        .await;
    }
    add(
        s,
        case,
        start + chrono::Duration::hours(hours / 2),
        EntryPayload::Note {
            text: "Cannula position checked on echo".into(),
        },
    )
    .await;
    let n = (hours * 3600) as usize;
    let mut last_flow = String::new();
    for (p, unit, base, exp) in [
        (Parameter::PumpFlow, "L/min", 420i64, -2),
        (Parameter::SweepGas, "L/min", 30, -1),
        (Parameter::VenousSaturation, "%", 70, 0),
    ] {
        let ch = Channel {
            id: ChannelId::new(),
            case_id: case,
            parameter: p,
            unit: unit.into(),
            source_device: "Acme ECMO console SN 77".into(),
            expected_interval_ms: 1000,
        };
        s.create_channel(ch.clone()).await.unwrap();
        let all: Vec<Sample> = (0..n)
            .map(|i| Sample {
                seq: i as u64 + 1,
                received_at: start + chrono::Duration::milliseconds(i as i64 * 1000 + 211),
                device_time: DeviceTime::Unknown,
                value: Decimal::new(base + (i % 9) as i64, exp),
                validity: if i % 97 == 5 {
                    Validity::Artefact
                } else {
                    Validity::Valid
                },
            })
            .collect();
        if p == Parameter::PumpFlow {
            let last = all
                .iter()
                .rev()
                .find(|x| x.validity == Validity::Valid)
                .unwrap();
            last_flow = last.value.to_string();
        }
        for part in all.chunks(3600) {
            s.append_samples(vec![(ch.id, part.to_vec())])
                .await
                .unwrap();
        }
    }
    EcmoDay {
        case,
        last_flow,
        chunks: 3 * (hours as usize) * 6,
    }
}

fn mrn(value: &str) -> Mrn {
    Mrn {
        system: TEST_MRN_SYSTEM.into(),
        value: value.into(),
    }
}

async fn view(s: &Store, m: &str) -> Vec<remote::RemoteRun> {
    remote::runs(&s.pulled(mrn(m)).await.unwrap())
}

#[tokio::test]
async fn an_ecmo_day_uploads_once_and_the_on_call_phone_pulls_it_from_another_tablet() {
    let peer = FhirPeer::start(None);
    let tablet_dir = crate::temp_dir();
    let tablet = open(tablet_dir.path());
    let day = record_ecmo_day(&tablet, "ECMO-24", 24).await;

    // Upload the day through a capturing proxy: everything once, everything valid.
    let proxy = Proxy::start(peer.port, vec![]).await;
    let up = SyncEngine::new(tablet.clone(), config(&proxy.base(), ""), author()).unwrap();
    up.plan(Utc::now()).await.unwrap();
    let planned = planned_creates(&tablet).await;
    // 3 channels × 24 h × 6 chunks, 6 ACTs, the note.
    assert_eq!(planned.get("Observation"), Some(&(day.chunks as u64 + 7)));
    let errors = sync_until_done(&up, &tablet, 3).await;
    assert!(errors.is_empty(), "{errors:?}");
    let counts = peer.counts().await;
    assert_eq!(without_provenance(&counts), expected_on_server(&planned));
    let bundles: Vec<Value> = proxy
        .bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    let emitted = tablet_dir.path().join("emitted.json");
    std::fs::write(&emitted, serde_json::to_string(&bundles).unwrap()).unwrap();
    validate_everywhere(&emitted);
    up.sync_once().await.unwrap();
    assert_eq!(peer.counts().await, counts, "a second run adds nothing");

    // The on-call phone: a different device, its own empty database, follows the MRN. Small
    // pages: the peer gives no next links, so the pull pages by moving its _lastUpdated bound.
    // No re-read window (the default re-reads 5 minutes, which here is the whole upload).
    let phone_dir = crate::temp_dir();
    let phone = open(phone_dir.path());
    let on_call = Author::new("On-call perfusionist", "phone-7");
    phone
        .follow(mrn("ECMO-24"), true, on_call.clone())
        .await
        .unwrap();
    let pull = SyncEngine::new(
        phone.clone(),
        config(&peer.base(), "pull_page = 100\npull_window_s = 0"),
        on_call.clone(),
    )
    .unwrap();
    let first = pull.pull().await.unwrap();
    let on_server =
        counts["Procedure"] + counts["Observation"] + counts["MedicationAdministration"];
    assert_eq!(first.added as u64, on_server, "{first:?}");
    assert_eq!((first.held, first.missing.len()), (0, 0));
    assert!(first.requests > 5, "paged: {first:?}");
    let runs = view(&phone, "ECMO-24").await;
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.kind, CaseKind::EcmoVa.label());
    assert_eq!(run.status, "in-progress");
    let flow = run
        .latest
        .iter()
        .find(|v| v.name == Parameter::PumpFlow.label())
        .unwrap();
    assert_eq!(flow.value, day.last_flow);
    assert_eq!(flow.unit, "L/min");
    let act = run.latest.iter().find(|v| v.name.contains("ACT")).unwrap();
    assert_eq!(act.value, "220", "the newest of the six ACTs");
    assert!(run
        .timeline
        .iter()
        .any(|e| e.text.contains("Cannula position checked")));

    // The tablet records a new ACT and ends the run; the phone's next pull reads from its
    // cursor and brings just that.
    let now = Utc::now();
    add(
        &tablet,
        day.case,
        now,
        EntryPayload::Act { seconds: d("241") },
    )
    .await;
    add(
        &tablet,
        day.case,
        now,
        EntryPayload::Status {
            status: CaseStatus::Completed,
        },
    )
    .await;
    sync_until_done(&up, &tablet, 3).await;
    let second = pull.pull().await.unwrap();
    assert_eq!(
        second.added, 2,
        "the new ACT and the Procedure's new version: {second:?}"
    );
    // `ge` the cursor: what shares the cursor's instant is read again (one per type at most
    // here, plus the run's first version), never the whole day.
    assert!(second.received <= 8, "{second:?} after {first:?}");
    let runs = view(&phone, "ECMO-24").await;
    assert_eq!(runs[0].status, "completed");
    let act = runs[0]
        .latest
        .iter()
        .find(|v| v.name.contains("ACT"))
        .unwrap();
    assert_eq!(act.value, "241");
    // A third pull with nothing new adds nothing.
    assert_eq!(pull.pull().await.unwrap().added, 0);

    // The recording tablet follows the patient too, and signs the run while it cannot reach
    // the server (planned, not uploaded). Its pull keeps the server's (older) version of the
    // run but holds it: a pulled version never shows over a pending local change.
    tablet.follow(mrn("ECMO-24"), true, author()).await.unwrap();
    add(
        &tablet,
        day.case,
        Utc::now(),
        EntryPayload::Status {
            status: CaseStatus::Signed,
        },
    )
    .await;
    up.plan(Utc::now()).await.unwrap();
    assert!(tablet.outbox_summary().await.unwrap().pending > 0);
    let own = up.pull().await.unwrap();
    assert_eq!(own.held, 1, "the run's server version is held: {own:?}");
    assert!(
        view(&tablet, "ECMO-24").await.is_empty(),
        "no run shown from a held version"
    );
    assert_eq!(tablet.held_count(mrn("ECMO-24")).await.unwrap(), 1);
    let local = tablet.list_cases().await.unwrap();
    assert_eq!(
        local.iter().find(|c| c.id == day.case).unwrap().status,
        CaseStatus::Signed,
        "the local record is untouched"
    );
    // Once the upload is acknowledged, the next pull brings the signed version (rebase).
    sync_until_done(&up, &tablet, 3).await;
    up.pull().await.unwrap();
    let runs = view(&tablet, "ECMO-24").await;
    assert_eq!(runs.len(), 1);
    assert!(
        runs[0].signed && runs[0].status == "completed",
        "{:?}",
        runs[0]
    );
    // And the phone sees the signature too.
    pull.pull().await.unwrap();
    assert!(view(&phone, "ECMO-24").await[0].signed);

    // Following an MRN the server does not have says so, and stopping following is recorded.
    phone
        .follow(mrn("NOBODY"), true, on_call.clone())
        .await
        .unwrap();
    assert_eq!(
        pull.pull().await.unwrap().missing,
        vec!["NOBODY".to_string()]
    );
    phone.follow(mrn("NOBODY"), false, on_call).await.unwrap();
    let followed: Vec<String> = phone
        .followed()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.value)
        .collect();
    assert_eq!(followed, vec!["ECMO-24".to_string()]);
}
