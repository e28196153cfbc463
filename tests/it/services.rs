//! Start-up wiring against a real data directory.

use std::time::Instant;

use pumpside::app::{AppConfig, Services};
use pumpside::domain::{AppMode, CaseStatus, DemoReason, Validity};

fn demo_config(dir: &std::path::Path) -> AppConfig {
    AppConfig::parse(
        vec!["--demo".into(), "--key-store".into(), "file".into()],
        Some(dir.to_path_buf()),
        None,
    )
    .unwrap()
}

#[tokio::test]
async fn demo_start_creates_one_demo_case_reused_on_the_next_launch_and_feeds_live_values() {
    let dir = crate::temp_dir();
    let data = dir.path().join("nested").join("data");
    let first = Services::start(demo_config(&data), Instant::now())
        .await
        .unwrap();
    assert!(data
        .join(if cfg!(debug_assertions) {
            "pumpside-debug.sqlite3"
        } else {
            "pumpside.sqlite3"
        })
        .exists());
    assert_eq!(*first.mode().borrow(), AppMode::Demo(DemoReason::Requested));
    let case = first.current_case().await.unwrap().expect("demo case");
    assert!(case.is_demo);
    assert_eq!(case.status, CaseStatus::Running);

    let mut feed = first.take_live_feed().expect("feed");
    assert!(first.take_live_feed().is_none(), "one consumer only");
    let sample = tokio::time::timeout(std::time::Duration::from_secs(3), feed.recv())
        .await
        .expect("a simulated sample within 3 s")
        .expect("sample");
    assert_eq!(sample.validity, Validity::Demo);

    // The simulated values are recorded in the demo case, as demo samples.
    eventually("the recorder committed simulated samples", async || {
        for ch in first.store().channels(case.id).await.unwrap() {
            if first
                .store()
                .newest_sample_at(ch.id)
                .await
                .unwrap()
                .is_some()
            {
                return true;
            }
        }
        false
    })
    .await;
    // Each virtual device is associated with the demo case as it connects (the demo rule).
    eventually("one channel per simulated parameter", async || {
        first.store().channels(case.id).await.unwrap().len() >= 10
    })
    .await;

    let second = Services::start(demo_config(&data), Instant::now())
        .await
        .unwrap();
    let cases = second.store().list_cases().await.unwrap();
    let before = first.store().list_cases().await.unwrap();
    assert_eq!(
        cases.len(),
        3,
        "the CPB demo case and the two ECMO demo runs"
    );
    assert_eq!(cases, before, "the demo cases are reused, not copied");
    assert!(cases.iter().any(|c| c.id == case.id));
}

/// Demo mode plays two ECMO runs besides the CPB case: a VA run whose oxygenator clots and a
/// VV run with rising recirculation, each with hours of history and its own simulated console
/// associated with it. The board ranks them by the protocol's rules and says why.
#[tokio::test]
async fn demo_mode_plays_a_clotting_va_run_and_a_vv_run_with_recirculation_on_the_board() {
    let dir = crate::temp_dir();
    let s = Services::start(demo_config(dir.path()), Instant::now())
        .await
        .unwrap();
    let runs = s.local_ecmo_runs().await.unwrap();
    let labels: Vec<&str> = runs.iter().map(|r| r.case.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "Demo VA ECMO: oxygenator clotting (simulated)",
            "Demo VV ECMO: recirculation (simulated)"
        ],
        "{runs:#?}"
    );
    let va = runs[0].ranked.reason();
    assert!(va.starts_with("ΔP +") && va.contains("over 6 h"), "{va}");
    let vv = runs[1].ranked.reason();
    assert!(vv.contains("recirculation"), "{vv}");
    assert_eq!(runs[0].location.as_deref(), Some("Cardiac ICU, bed 3"));
    let dp = runs[0]
        .glance
        .values
        .iter()
        .find(|v| v.key == "dp")
        .unwrap();
    assert!(dp.text.parse::<f64>().unwrap() > 40.0, "{dp:?}");
    // Each console records into its own run, never into the CPB case.
    let cpb = s.current_case().await.unwrap().expect("the CPB demo case");
    for run in &runs {
        let id = run.case.id;
        eventually("the run's console records into it", async || {
            for ch in s.store().channels(id).await.unwrap() {
                if ch.source_device.starts_with("ECMO console SIM-ECMO-V")
                    && s.store().newest_sample_at(ch.id).await.unwrap().is_some()
                {
                    return true;
                }
            }
            false
        })
        .await;
    }
    assert!(s
        .store()
        .channels(cpb.id)
        .await
        .unwrap()
        .iter()
        .all(|c| !c.source_device.contains("ECMO")));
}

#[tokio::test]
async fn a_data_dir_that_cannot_be_created_is_reported() {
    let dir = crate::temp_dir();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let err = match Services::start(demo_config(&blocker.join("data")), Instant::now()).await {
        Ok(_) => panic!("start should fail"),
        Err(e) => e,
    };
    assert!(err.to_string().contains("data directory"), "{err}");
}

/// Wait (up to 10 s) until `f` holds.
pub async fn eventually(what: &str, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if f().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("not within 10 s: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_devices_run_real_sessions_into_the_record_and_survive_injected_faults() {
    use pumpside::devices::simulator::{Fault, VirtualKind};
    use pumpside::domain::Parameter;

    let dir = crate::temp_dir();
    let s = Services::start(demo_config(dir.path()), Instant::now())
        .await
        .unwrap();
    let case = s.current_case().await.unwrap().unwrap();
    // The CPB case's five devices and the two ECMO demo runs' consoles.
    eventually("seven connected devices", async || {
        let b = s.devices().board();
        b.len() == 7 && b.iter().all(|d| d.connected && d.key.is_ok())
    })
    .await;
    let board = s.devices().board();
    let thermo = board
        .iter()
        .find(|d| d.label == "Sim thermometer")
        .unwrap()
        .clone();
    assert_eq!(
        thermo.key,
        Ok("sn:Pumpside Simulator|Thermometer|SIM-THM-1".into())
    );
    assert_eq!(thermo.battery, Some(100));

    // Every kind of device lands in the case record, on its own channel, with its bytes.
    eventually("channels of every device", async || {
        let chans = s.store().channels(case.id).await.unwrap();
        [
            Parameter::PumpFlow,
            Parameter::VenousSaturation,
            Parameter::Haematocrit,
            Parameter::PatientTemp,
            Parameter::MeanArterialPressure,
        ]
        .iter()
        .all(|p| chans.iter().any(|c| c.parameter == *p))
    })
    .await;
    // DO2i is calculated, never simulated: none before bypass; once bypass starts, the case
    // monitor computes it from the console's flow and the demo case's arterial gas, and it is
    // recorded on its own channel of the case.
    assert!(!s
        .store()
        .channels(case.id)
        .await
        .unwrap()
        .iter()
        .any(|c| c.parameter == Parameter::Do2i));
    s.case()
        .record(
            case.id,
            pumpside::domain::EntryPayload::ChecklistOverride {
                purpose: pumpside::domain::checklist::Purpose::PreBypass,
                reason: "demo test".into(),
            },
        )
        .await
        .unwrap();
    s.case()
        .record(
            case.id,
            pumpside::domain::EntryPayload::Event {
                event: pumpside::domain::EventKind::BypassOn,
            },
        )
        .await
        .unwrap();
    eventually("a calculated DO2i channel", async || {
        s.store()
            .channels(case.id)
            .await
            .unwrap()
            .iter()
            .any(|c| c.parameter == Parameter::Do2i && c.source_device.contains("calculated"))
    })
    .await;
    // On full bypass there is no pulse: the oximeter sends "no value" (NaN), which is shown on the
    // board and never recorded as a number.
    let oxi = s
        .devices()
        .board()
        .into_iter()
        .find(|d| d.label == "Sim pulse oximeter")
        .unwrap();
    assert!(
        oxi.last
            .get("SpO2")
            .is_some_and(|(text, _)| text.contains("NaN")),
        "{oxi:?}"
    );
    let chans = s.store().channels(case.id).await.unwrap();
    assert!(!chans.iter().any(|c| c.parameter == Parameter::Spo2));
    let temp = chans
        .iter()
        .find(|c| c.parameter == Parameter::PatientTemp)
        .unwrap();
    assert_eq!(temp.source_device, "Thermometer SIM-THM-1");
    eventually("raw notifications stored next to the samples", async || {
        let frames = s.store().device_frames(case.id).await.unwrap();
        frames.iter().any(|f| {
            f.device == "sn:Pumpside Simulator|Thermometer|SIM-THM-1"
                && f.characteristic == "00002a1c-0000-1000-8000-00805f9b34fb"
                && f.bytes.len() == 5
        }) && frames
            .iter()
            .any(|f| f.bytes.first() == Some(&0x02) && f.bytes.last() == Some(&0x03))
    })
    .await;

    // Link loss: the session reconnects and values keep coming.
    assert!(s.inject_fault(VirtualKind::Thermometer, Fault::LinkLoss));
    eventually("the thermometer reconnects", async || {
        s.devices()
            .board()
            .iter()
            .any(|d| d.label == "Sim thermometer" && d.connected)
            && s.store()
                .device_sessions("sn:Pumpside Simulator|Thermometer|SIM-THM-1".into())
                .await
                .unwrap()
                .len()
                >= 2
    })
    .await;
    // Garbage is refused with a reason and counted; the device carries on.
    assert!(s.inject_fault(VirtualKind::ArterialPressure, Fault::Garbage));
    eventually("garbage is counted", async || {
        s.devices()
            .board()
            .iter()
            .any(|d| d.label == "Sim arterial line" && d.rejected == 1 && !d.notices.is_empty())
    })
    .await;
    // A burst of 40 console records all reach the record (none dropped on the way).
    let before = s.store().device_frames(case.id).await.unwrap().len();
    assert!(s.inject_fault(VirtualKind::Console, Fault::Burst(40)));
    eventually("the burst is recorded", async || {
        s.store().device_frames(case.id).await.unwrap().len() >= before + 40
    })
    .await;
}

#[tokio::test]
async fn a_case_started_by_mrn_registers_the_patient_once_and_becomes_the_followed_case() {
    use pumpside::domain::intake;
    use pumpside::domain::patient::{BloodGroup, Sex};
    use pumpside::domain::{CaseKind, EntryPayload};

    let dir = crate::temp_dir();
    let services = Services::start(demo_config(dir.path()), Instant::now())
        .await
        .unwrap();
    let demo = services.current_case().await.unwrap().expect("demo case");
    // The CPB demo case and the two ECMO demo runs.
    let before = services.store().list_cases().await.unwrap().len();
    assert_eq!(before, 3);
    let mrn = intake::mrn("urn:oid:1.2.3", "MRN-4712").unwrap();

    // Unknown MRN and nothing to register: refused, nothing written.
    let e = services
        .start_case(&mrn, None, CaseKind::EcmoVa, "x".into())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("register them first"), "{e}");
    assert_eq!(services.store().list_cases().await.unwrap().len(), before);

    let typed = [
        ("family", "Lovelace"),
        ("birth", "1961-05-24"),
        ("height", "172"),
        ("weight", "64"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let today = chrono::Utc::now().date_naive();
    let p = intake::patient(mrn.clone(), &typed, Sex::Female, BloodGroup::ONeg, today).unwrap();
    let case = services
        .start_case(
            &mrn,
            Some(p),
            CaseKind::EcmoVa,
            intake::default_label(CaseKind::EcmoVa, &mrn),
        )
        .await
        .unwrap();
    assert_eq!(case.status, CaseStatus::Setup);
    assert_eq!(case.kind, CaseKind::EcmoVa);
    assert!(case.is_demo, "started in demo mode, so a demo case");
    let followed = services.current_case().await.unwrap().unwrap();
    assert_eq!(followed.id, case.id, "the newest open case is followed");
    assert_ne!(followed.id, demo.id);
    let entries = services.store().entries(case.id).await.unwrap();
    assert!(entries
        .iter()
        .any(|e| matches!(e.payload, EntryPayload::Protocol { .. })));

    // The same MRN again finds the registered patient: no second registration.
    let (pid, found) = services
        .store()
        .find_patient("urn:oid:1.2.3", "MRN-4712")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.family_name, "Lovelace");
    let second = services
        .start_case(&mrn, None, CaseKind::Cpb, "second".into())
        .await
        .unwrap();
    assert_eq!(second.patient, Some(pid));
    assert_eq!(case.patient, Some(pid));
}
