//! Encryption at rest against real files: no patient identifier readable in any file of the data
//! folder, a plain database from an earlier build converted with every record kept and every
//! seal sound, and the conversion left undone (original untouched) when it cannot finish.

use pumpside::domain::{Channel, ChannelId, Parameter, Validity};
use pumpside::store::{Store, StoreKeys};

use crate::sync::record_cpb_case;
use crate::telemetry::flow_samples;

const MASTER: [u8; 32] = [7u8; 32];

fn all() -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    (
        chrono::DateTime::UNIX_EPOCH,
        chrono::Utc::now() + chrono::Duration::days(365),
    )
}

/// Every file in the folder (database, WAL, shared memory), concatenated.
fn folder_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            all.extend(std::fs::read(&p).unwrap());
        }
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The identifiers the sync tests' patient carries (`crate::sync::test_patient`).
const IDENTIFIERS: [&str; 4] = [
    "Testpatient",
    "ENC-MRN-4711",
    "1961-05-24",
    "SQLite format 3",
];

/// A recorded case with its patient, open and after closing: no name, MRN or birth date in any
/// file of the folder, nor SQLite's plain header; reopened with the key, all of it reads back.
#[tokio::test]
async fn no_patient_identifier_is_readable_in_the_data_folder() {
    let dir = crate::temp_dir();
    let path = dir.path().join("pumpside.sqlite3");
    let keys = StoreKeys::derive(&MASTER);
    let s = Store::open(&path, &keys).unwrap();
    let rec = record_cpb_case(&s, "ENC-MRN-4711", 12).await;
    // While open (the WAL holds the newest pages).
    let open_bytes = folder_bytes(dir.path());
    assert!(open_bytes.len() > 50_000, "something was written");
    for id in IDENTIFIERS {
        assert!(!contains(&open_bytes, id), "{id:?} readable while open");
    }
    drop(s);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let closed = folder_bytes(dir.path());
    for id in IDENTIFIERS {
        assert!(!contains(&closed, id), "{id:?} readable after closing");
    }
    let s = Store::open(&path, &keys).unwrap();
    let (_, patient) = s
        .find_patient(crate::sync::TEST_MRN_SYSTEM, "ENC-MRN-4711")
        .await
        .unwrap()
        .expect("the patient reads back with the key");
    assert_eq!(patient.family_name, "Testpatient");
    assert!(!s.entries(rec.case).await.unwrap().is_empty());
    assert!(s.verify_record().await.unwrap().findings.is_empty());
}

/// A database written by an earlier build (plain SQLite, the same device key for the seals):
/// opened by this build it is encrypted in place, every row of every table kept, the content
/// chain and every seal sound, the plain header and identifiers gone from the folder.
#[tokio::test]
async fn a_plain_database_is_encrypted_at_first_open_keeping_every_record() {
    let dir = crate::temp_dir();
    let path = dir.path().join("pumpside.sqlite3");
    let (case, entries, samples, patient) = {
        let s = Store::open(&path, &StoreKeys::unencrypted(&MASTER)).unwrap();
        let rec = record_cpb_case(&s, "ENC-MRN-4711", 12).await;
        let ch = Channel {
            id: ChannelId::new(),
            case_id: rec.case,
            parameter: Parameter::PumpFlow,
            unit: "L/min".into(),
            source_device: "Acme HLM 8 SN 1234".into(),
            expected_interval_ms: 1000,
        };
        s.create_channel(ch.clone()).await.unwrap();
        s.append_samples(vec![(ch.id, flow_samples(1, 700, Validity::Valid))])
            .await
            .unwrap();
        (
            rec.case,
            s.entries(rec.case).await.unwrap(),
            s.samples(ch.id, all().0, all().1).await.unwrap(),
            s.find_patient(crate::sync::TEST_MRN_SYSTEM, "ENC-MRN-4711")
                .await
                .unwrap()
                .unwrap(),
        )
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let plain = folder_bytes(dir.path());
    assert!(
        contains(&plain, "SQLite format 3") && contains(&plain, "ENC-MRN-4711"),
        "the earlier build's file is plain"
    );

    let keys = StoreKeys::derive(&MASTER);
    let s = Store::open(&path, &keys).unwrap();
    assert_eq!(s.entries(case).await.unwrap(), entries);
    let chans = s.channels(case).await.unwrap();
    let mut stored = Vec::new();
    for ch in &chans {
        stored.extend(s.samples(ch.id, all().0, all().1).await.unwrap());
    }
    assert!(
        samples.len() == 700 && samples.iter().all(|w| stored.contains(w)),
        "every sample kept"
    );
    assert_eq!(
        s.find_patient(crate::sync::TEST_MRN_SYSTEM, "ENC-MRN-4711")
            .await
            .unwrap()
            .unwrap(),
        patient
    );
    s.verify_chain(case).await.unwrap();
    let report = s.verify_record().await.unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert!(s.outside_findings().await.unwrap().is_empty());
    drop(s);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after = folder_bytes(dir.path());
    for id in IDENTIFIERS {
        assert!(!contains(&after, id), "{id:?} still readable");
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("encrypting")),
        "no copy left behind"
    );
}

/// A plain database this build cannot convert (written by a newer build): refused with the
/// reason, left exactly as it was, no half-made copy beside it.
#[tokio::test]
async fn a_plain_database_that_cannot_be_converted_is_left_as_it_was() {
    let dir = crate::temp_dir();
    let path = dir.path().join("pumpside.sqlite3");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1); PRAGMA user_version = 999;")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path, &StoreKeys::derive(&MASTER)).unwrap_err();
    assert!(err.to_string().contains("newer than this build"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["pumpside.sqlite3"]);
}
