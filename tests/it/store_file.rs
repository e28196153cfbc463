//! The store against real SQLite files: reopening, WAL, refusing a newer schema.

use pumpside::domain::{Author, CaseKind, CaseStatus, EntryPayload, EventKind, NewEntry};
use pumpside::store::{latest_version, NewCase, Store, StoreError};

fn author() -> Author {
    Author::new("IT perfusionist", "it-tablet")
}

#[tokio::test]
async fn a_reopened_file_keeps_every_committed_row_and_is_not_migrated_twice() {
    let dir = crate::temp_dir();
    let path = dir.path().join("record.sqlite3");
    let case_id = {
        let s = Store::open(&path, &crate::keys()).unwrap();
        let case = s
            .create_case(
                NewCase {
                    kind: CaseKind::Cpb,
                    patient: None,
                    label: "CABG".into(),
                    is_demo: false,
                    status: CaseStatus::Running,
                },
                author(),
            )
            .await
            .unwrap();
        s.append_entry(NewEntry {
            case_id: case.id,
            occurred_at: chrono::Utc::now(),
            author: author(),
            payload: EntryPayload::Event {
                event: EventKind::CoolingStart,
            },
        })
        .await
        .unwrap();
        case.id
    };
    let s = Store::open(&path, &crate::keys()).unwrap();
    assert_eq!(s.schema_version().await.unwrap(), latest_version());
    assert_eq!(s.list_cases().await.unwrap().len(), 1);
    assert_eq!(s.entries(case_id).await.unwrap().len(), 2, "status + event");
    s.verify_chain(case_id).await.unwrap();

    let conn = crate::raw_db(&path, &crate::keys());
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn a_database_from_a_newer_build_is_refused_and_left_untouched() {
    let dir = crate::temp_dir();
    let path = dir.path().join("future.sqlite3");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE from_the_future (x); PRAGMA user_version = 999;")
            .unwrap();
    }
    let err = Store::open(&path, &crate::keys()).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 999, supported } if supported == latest_version()),
        "{err}"
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 999);
}

#[tokio::test]
async fn an_unwritable_location_is_a_clear_open_error() {
    let dir = crate::temp_dir();
    let path = dir.path().join("no-such-dir").join("x.sqlite3");
    let err = Store::open(&path, &crate::keys()).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}
