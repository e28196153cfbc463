//! Tamper evidence against a real SQLite file and someone holding it with the `sqlite3` tool:
//! statements that rewrite a row are refused, a dropped trigger is found and restored at open,
//! an edit with a recomputed unkeyed chain fails the keyed seals, rows added outside Pumpside
//! are named, and a wrong key is refused without touching the file.

use pumpside::domain::{EntryPayload, NewEntry};
use pumpside::store::{Store, StoreError, StoredFrame};
use sha2::{Digest, Sha256};

use crate::record::{new_case, open};
use crate::telemetry::{flow_channel, flow_samples, t0};

fn raw(dir: &tempfile::TempDir) -> rusqlite::Connection {
    crate::raw_db(&dir.path().join("record.sqlite3"), &crate::keys())
}

fn heparin(units: &str) -> EntryPayload {
    EntryPayload::Heparin {
        units: units.parse().unwrap(),
    }
}

async fn add(s: &Store, case: pumpside::domain::CaseId, p: EntryPayload) {
    s.append_entry(NewEntry {
        case_id: case,
        occurred_at: t0(),
        author: pumpside::domain::Author::new("R. Perfusionist", "or-3-tablet"),
        payload: p,
    })
    .await
    .unwrap();
}

fn refused(r: rusqlite::Result<usize>, what: &str) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(n) => panic!("{what} was not refused ({n} rows changed)"),
    }
}

/// Every SQL statement that rewrites a stored row is refused, from any connection: REPLACE and
/// INSERT OR REPLACE (which delete the old row without firing delete triggers unless recursive
/// triggers are on, and the sqlite3 tool does not turn them on), an UPSERT, UPDATE and DELETE.
#[tokio::test]
async fn statements_that_rewrite_a_row_are_refused_from_any_connection() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let case = new_case(&s, false).await;
    add(&s, case, heparin("24000")).await;
    let before = s.entries(case).await.unwrap();
    let db = raw(&dir);
    let heparin_row = "SELECT seq, id, case_id, case_seq, kind, target_id, occurred_us, \
                       recorded_us, by_user, on_device, payload, prev_hash, hash \
                       FROM entries WHERE kind = 'heparin'";
    let attempts = [
        (
            "REPLACE INTO",
            format!(
                "REPLACE INTO entries SELECT seq, id, case_id, case_seq, kind, target_id, \
                 occurred_us, recorded_us, by_user, on_device, \
                 replace(payload, '24000', '2400'), prev_hash, hash FROM ({heparin_row})"
            ),
        ),
        (
            "INSERT OR REPLACE with a new rowid but the same entry id",
            format!(
                "INSERT OR REPLACE INTO entries (id, case_id, case_seq, kind, target_id, \
                 occurred_us, recorded_us, by_user, on_device, payload, prev_hash, hash) \
                 SELECT id, case_id, case_seq, kind, target_id, occurred_us, recorded_us, \
                 by_user, on_device, replace(payload, '24000', '2400'), prev_hash, hash \
                 FROM ({heparin_row})"
            ),
        ),
        (
            "UPSERT",
            format!(
                "INSERT INTO entries SELECT * FROM ({heparin_row}) WHERE 1 \
                 ON CONFLICT (id) DO UPDATE SET payload = replace(payload, '24000', '2400')"
            ),
        ),
        (
            "UPDATE",
            "UPDATE entries SET payload = replace(payload, '24000', '2400')".to_string(),
        ),
        ("DELETE", "DELETE FROM entries".to_string()),
        (
            "REPLACE INTO patients' and cases' text keys",
            "REPLACE INTO cases SELECT * FROM cases".to_string(),
        ),
        (
            "REPLACE INTO the seals",
            "REPLACE INTO seals SELECT * FROM seals".to_string(),
        ),
        ("DELETE of the seals", "DELETE FROM seals".to_string()),
    ];
    for (what, sql) in attempts {
        let why = refused(db.execute(&sql, []), what);
        assert!(
            why.contains("append-only"),
            "{what}: refused for another reason: {why}"
        );
    }
    drop(db);
    assert_eq!(
        s.entries(case).await.unwrap(),
        before,
        "the record is intact"
    );
    let report = s.verify_record().await.unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

/// The attack an unkeyed chain cannot see: drop the triggers, edit an entry, recompute the
/// SHA-256 chain from the published canonical form. The content chain verifies; the keyed seal
/// does not, and the case's verification names the case. Reopening finds the dropped triggers,
/// restores them and records all of it in the audit.
#[tokio::test]
async fn an_edit_with_a_recomputed_unkeyed_chain_fails_the_keyed_seal() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let case = new_case(&s, false).await;
    for units in ["24000", "5000", "3000"] {
        add(&s, case, heparin(units)).await;
    }
    let clean = s.verify_case(case).await.unwrap();
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    assert!(clean.head.is_some(), "a case has a verification code");

    let db = raw(&dir);
    db.execute_batch("DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete;")
        .unwrap();
    db.execute(
        "UPDATE entries SET payload = replace(payload, '5000', '500') WHERE case_id = ?1",
        [case.to_string()],
    )
    .unwrap();
    recompute_unkeyed_chain(&db, &case.to_string());
    drop(db);

    // The next call notices that another connection wrote to the file: the dropped triggers
    // are restored before anything else happens.
    s.verify_chain(case)
        .await
        .expect("the attacker recomputed the unkeyed chain");
    let noticed = s.outside_findings().await.unwrap();
    let names: Vec<&str> = noticed.iter().map(|f| f.what.as_str()).collect();
    assert!(
        names.contains(&"the protection entries_no_update")
            && names.contains(&"the protection entries_no_delete"),
        "{noticed:?}"
    );
    assert!(noticed.iter().all(|f| f.how.contains("restored")));
    let report = s.verify_case(case).await.unwrap();
    // Entry 4 was edited; entry 5 too, since the attacker rewrote its link to entry 4.
    let whats: Vec<&str> = report.findings.iter().map(|f| f.what.as_str()).collect();
    assert_eq!(
        whats,
        [
            format!("timeline entry number 4 of case {case}"),
            format!("timeline entry number 5 of case {case}")
        ]
    );
    for f in &report.findings {
        assert_eq!(f.case, Some(case));
        assert!(f.how.contains("does not match its seal"), "{f}");
    }
    drop(s);

    // Dropped again while Pumpside is closed: found and restored at the next open, before
    // anything is written; every finding is in the audit.
    raw(&dir)
        .execute_batch("DROP TRIGGER entries_no_delete;")
        .unwrap();
    let s = open(&dir);
    let at_open = s.outside_findings().await.unwrap();
    assert_eq!(
        at_open.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
        ["the protection entries_no_delete: was removed outside Pumpside; restored"]
    );
    let db = raw(&dir);
    let why = refused(
        db.execute("DELETE FROM entries", []),
        "DELETE after the trigger was restored",
    );
    assert!(why.contains("append-only"), "{why}");
    let audit = s.integrity_findings(Some(case)).await.unwrap();
    let details: Vec<&str> = audit.iter().map(|a| a.detail.as_str()).collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("does not match its seal")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.contains("entries_no_update")),
        "{details:?}"
    );
    assert!(audit.iter().all(|a| a.kind == "integrity"));
    // The finding stays: verifying again adds no duplicate, and still reports it.
    let again = s.verify_record().await.unwrap();
    assert!(!again.findings.is_empty());
    assert_eq!(
        s.integrity_findings(Some(case)).await.unwrap().len(),
        audit.len()
    );
}

/// What an attacker who read our source would do to the SHA-256 chain (entries.rs's canonical
/// form) after editing a row.
fn recompute_unkeyed_chain(db: &rusqlite::Connection, case: &str) {
    type Row = (
        i64,
        String,
        i64,
        String,
        Option<String>,
        i64,
        i64,
        String,
        String,
        String,
    );
    let rows: Vec<Row> = db
        .prepare(
            "SELECT seq, id, case_seq, kind, target_id, occurred_us, recorded_us, by_user,
                    on_device, payload FROM entries WHERE case_id = ?1 ORDER BY case_seq",
        )
        .unwrap()
        .query_map([case], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut prev = [0u8; 32];
    for (seq, id, case_seq, kind, target, occ, rec, user, device, payload) in rows {
        let sep = '\u{1f}';
        let text = format!(
            "pumpside-entry-v1{sep}{id}{sep}{case}{sep}{case_seq}{sep}{kind}{sep}{}{sep}{occ}{sep}{rec}{sep}{}{sep}{}{sep}{payload}",
            target.unwrap_or_default(),
            serde_json::to_string(&user).unwrap(),
            serde_json::to_string(&device).unwrap(),
        );
        let mut h = Sha256::new();
        h.update(prev);
        h.update(text.as_bytes());
        let hash: [u8; 32] = h.finalize().into();
        db.execute(
            "UPDATE entries SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![prev.as_slice(), hash.as_slice(), seq],
        )
        .unwrap();
        prev = hash;
    }
}

/// Rows inserted by someone else (the triggers allow inserts) carry no seal: found at open,
/// before Pumpside writes anything that could seal them, and kept in the audit.
#[tokio::test]
async fn rows_added_outside_pumpside_are_found_at_open() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let case = new_case(&s, false).await;
    add(&s, case, heparin("24000")).await;
    drop(s);
    let db = raw(&dir);
    db.execute(
        "INSERT INTO device_frames (case_id, device, characteristic, received_us, raw)
         VALUES (?1, 'forged', '2a37', 0, x'00')",
        [case.to_string()],
    )
    .unwrap();
    drop(db);
    let s = open(&dir);
    let at_open = s.outside_findings().await.unwrap();
    assert_eq!(at_open.len(), 1, "{at_open:?}");
    assert!(
        at_open[0].what.contains("device notification") && at_open[0].how.contains("outside"),
        "{}",
        at_open[0]
    );
    assert_eq!(s.integrity_findings(None).await.unwrap().len(), 1);
}

/// Telemetry under seal: level-0 chunks merged into level-1 chunks and their seals removed with
/// them leave a record that verifies; changing one stored sample chunk does not.
#[tokio::test]
async fn merged_telemetry_verifies_and_an_edited_chunk_does_not() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let ch = flow_channel(&s, false).await;
    let samples = flow_samples(1, 1500, pumpside::domain::Validity::Valid);
    for batch in samples.chunks(10) {
        s.append_recording(
            vec![(ch.id, batch.to_vec())],
            vec![StoredFrame {
                case_id: ch.case_id,
                device: "Acme HLM 8 SN 1234".into(),
                characteristic: "pumpside-telemetry".into(),
                received_at: batch[0].received_at,
                bytes: vec![1, 2, 3],
                refused: None,
            }],
        )
        .await
        .unwrap();
    }
    let report = s.verify_record().await.unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert!(
        report.rows > 150,
        "frames and chunks were checked: {report:?}"
    );
    let case = s.verify_case(ch.case_id).await.unwrap();
    assert!(case.findings.is_empty(), "{:?}", case.findings);

    let db = raw(&dir);
    db.execute_batch(
        "DROP TRIGGER telemetry_no_update;
         UPDATE telemetry_chunks SET vmax = vmax + 1
          WHERE id = (SELECT min(id) FROM telemetry_chunks WHERE level = 1);",
    )
    .unwrap();
    drop(db);
    let report = s.verify_case(ch.case_id).await.unwrap();
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.what.contains("telemetry chunk") && f.case == Some(ch.case_id)),
        "{:?}",
        report.findings
    );
}

/// Opened with another key: a clear error, and the file is byte for byte what it was.
#[tokio::test]
async fn a_wrong_key_is_refused_and_the_file_is_left_byte_for_byte() {
    let dir = crate::temp_dir();
    let path = dir.path().join("record.sqlite3");
    {
        let s = open(&dir);
        let case = new_case(&s, false).await;
        add(&s, case, heparin("24000")).await;
    }
    // Let the last handle's actor close the file (WAL checkpoint on close).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let files = |p: &std::path::Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|f| {
                (
                    f.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&f).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = files(&path);
    let other = pumpside::store::StoreKeys::derive(&[9u8; 32]);
    match Store::open(&path, &other) {
        Err(e @ StoreError::WrongKey { .. }) => {
            let text = e.to_string();
            assert!(text.contains("another device key") && text.contains("nothing was written"));
        }
        other => panic!("a wrong key was not refused: {other:?}"),
    }
    assert_eq!(files(&path), before, "the data folder is untouched");
    let s = open(&dir);
    assert!(s.verify_record().await.unwrap().findings.is_empty());
}

/// Edit one entry of case A with the triggers dropped, after sync planned it: the checks before
/// upload hold every operation of A (including those planned before the edit) and name why;
/// case B goes to the real FHIR server; signing A is refused with the finding, signing B works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_case_is_neither_sent_nor_signed_and_the_others_are() {
    use crate::sync::{author, config, record_cpb_case, FhirPeer};
    let peer = FhirPeer::start(None);
    let dir = crate::temp_dir();
    let s = crate::sync::open(dir.path());
    let a = record_cpb_case(&s, "ALTERED-A", 12).await.case;
    let b = record_cpb_case(&s, "SOUND-B", 12).await.case;
    let engine =
        pumpside::sync::SyncEngine::new(s.clone(), config(&peer.base(), ""), author()).unwrap();
    engine.plan(chrono::Utc::now()).await.unwrap();

    let db = crate::raw_db(&dir.path().join("pumpside.sqlite3"), &crate::keys());
    db.execute_batch("DROP TRIGGER entries_no_update;").unwrap();
    let changed = db
        .execute(
            "UPDATE entries SET payload = payload || ' ' WHERE case_id = ?1 AND kind = 'note'",
            [a.to_string()],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(db);

    let mut errors = Vec::new();
    for _ in 0..3 {
        if let Err(e) = engine.sync_once().await {
            errors.push(e);
        }
    }
    let last = errors.last().expect("the held case is named");
    assert!(
        matches!(last, pumpside::sync::SyncError::Altered(_)),
        "{last:?}"
    );
    let text = last.to_string();
    assert!(
        text.contains("1 case(s) not sent") && text.contains(&a.to_string()),
        "{text}"
    );
    let procedures = peer.get("Procedure?_count=100").await;
    let sent: Vec<String> = procedures["entry"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|e| e["resource"]["identifier"].to_string())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        sent.len(),
        1,
        "only case B's run is on the server: {sent:?}"
    );
    assert!(sent[0].contains(&b.to_string()), "{sent:?}");
    let pending_a = s
        .pending(10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.case_id == a)
        .count();
    assert!(pending_a > 0, "case A's operations wait on the device");

    // Signing: A is refused with the finding, nothing written; B signs.
    let (live_tx, _live_rx) = tokio::sync::mpsc::channel(16);
    let hub = pumpside::app::devices::DeviceHub::new(s.clone(), live_tx);
    let session = pumpside::app::case::CaseSession::new(
        s.clone(),
        author(),
        std::sync::Arc::new(pumpside::domain::protocol::Protocol::defaults().unwrap()),
        hub,
    );
    let before = s.entries(a).await.unwrap().len();
    match session.sign(a).await {
        Err(pumpside::app::case::WriteError::Store(e @ StoreError::Altered { .. })) => {
            let why = e.to_string();
            assert!(
                why.starts_with("signing refused") && why.contains("timeline entry number"),
                "{why}"
            );
        }
        other => panic!("an altered case was signed: {other:?}"),
    }
    assert_eq!(s.entries(a).await.unwrap().len(), before);
    let signed = session.sign(b).await.unwrap();
    assert!(signed
        .iter()
        .any(|e| matches!(e.payload, EntryPayload::Status { .. })));
}
