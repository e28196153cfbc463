//! Timeline entries with a per-case hash chain. `hash = SHA-256(prev_hash || canonical row
//! text)`; the payload is stored exactly as hashed, so verifying needs nothing but the rows.
//! Editing, inserting or deleting a row (with the triggers dropped, by someone with the file)
//! breaks the chain at that row.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};

use super::{cases::case_info, from_micros, parse_id, Store, StoreError};
use crate::domain::{
    Author, CaseId, CaseStatus, Entry, EntryId, EntryPayload, NewEntry, ValidationError,
};

/// Result of a successful chain verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub entries: u64,
    /// Hash of the newest entry (zeros for an empty case): anchor it elsewhere (a signature, a
    /// server) to make truncation detectable too.
    pub head: [u8; 32],
}

/// The text a row's hash covers: every stored column but the hashes themselves.
fn canonical(case: &str, r: &Row) -> String {
    // Unit separators (0x1f) delimit fields: JSON escapes control characters, and ids, kinds
    // and numbers never contain them, so no field can shift into another.
    let sep = '\u{1f}';
    format!(
        "pumpside-entry-v1{sep}{}{sep}{case}{sep}{}{sep}{}{sep}{}{sep}{}{sep}{}{sep}{}{sep}{}{sep}{}",
        r.id,
        r.case_seq,
        r.kind,
        r.target.as_deref().unwrap_or(""),
        r.occurred_us,
        r.recorded_us,
        serde_json::to_string(&r.user).unwrap_or_default(),
        serde_json::to_string(&r.device).unwrap_or_default(),
        r.payload,
    )
}

fn chain_hash(prev: &[u8; 32], canonical: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(canonical.as_bytes());
    h.finalize().into()
}

/// The case's current lifecycle status.
pub(super) fn current_status(
    tx: &rusqlite::Connection,
    case: CaseId,
) -> Result<Option<CaseStatus>, StoreError> {
    let payload: Option<String> = tx
        .query_row(
            "SELECT payload FROM entries WHERE case_id = ?1 AND kind = 'status'
              ORDER BY case_seq DESC LIMIT 1",
            [case.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    match payload.map(|p| serde_json::from_str::<EntryPayload>(&p)) {
        None => Ok(None),
        Some(Ok(EntryPayload::Status { status })) => Ok(Some(status)),
        Some(_) => Err(StoreError::Corrupt(format!("status entry of case {case}"))),
    }
}

/// Validate and insert one entry inside `tx`. The caller commits.
pub(super) fn insert(
    tx: &Transaction<'_>,
    new: NewEntry,
    now: DateTime<Utc>,
) -> Result<Entry, StoreError> {
    new.validate(now)?;
    let case = new.case_id;
    case_info(tx, case)?;
    let status = current_status(tx, case)?;
    match (&new.payload, status) {
        (EntryPayload::Status { status: next }, Some(current)) => {
            current.check_move(case, *next)?
        }
        (p, Some(CaseStatus::Signed)) if !p.allowed_after_signing() => {
            return Err(ValidationError::CaseSigned { case }.into())
        }
        _ => {}
    }
    check_checklist_rules(tx, case, &new.payload)?;
    super::devices::check_device_rules(tx, case, &new.payload)?;
    if let Some(target) = new.payload.target() {
        let found: Option<String> = tx
            .query_row(
                "SELECT kind FROM entries WHERE id = ?1 AND case_id = ?2",
                params![target.to_string(), case.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        match found.as_deref() {
            None => return Err(ValidationError::UnknownEntry(target).into()),
            Some("status") => {
                return Err(ValidationError::Invalid {
                    field: format!("{}.target", new.payload.kind()),
                    value: target.to_string(),
                    allowed: "a clinical entry (lifecycle steps cannot be corrected)".into(),
                }
                .into())
            }
            Some(kind)
                if matches!(
                    new.payload,
                    EntryPayload::ChecklistAnswer { .. } | EntryPayload::ChecklistSigned { .. }
                ) && kind != "checklist_started" =>
            {
                return Err(ValidationError::Invalid {
                    field: "checklist.run".into(),
                    value: target.to_string(),
                    allowed: "a checklist run started on this case".into(),
                }
                .into())
            }
            Some(_) => {}
        }
    }
    let (prev_seq, prev_hash): (u64, [u8; 32]) = tx
        .query_row(
            "SELECT case_seq, hash FROM entries WHERE case_id = ?1 ORDER BY case_seq DESC LIMIT 1",
            [case.to_string()],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?)),
        )
        .optional()?
        .map(|(s, h)| -> Result<_, StoreError> {
            Ok((
                s,
                h.try_into()
                    .map_err(|_| StoreError::Corrupt("entry hash length".into()))?,
            ))
        })
        .transpose()?
        .unwrap_or((0, [0u8; 32]));
    let id = EntryId::new();
    // Stored times are whole microseconds; hash exactly what is stored.
    let row = Row {
        id: id.to_string(),
        case_seq: (prev_seq + 1) as i64,
        kind: new.payload.kind().to_string(),
        target: new.payload.target().map(|t| t.to_string()),
        occurred_us: new.occurred_at.timestamp_micros(),
        recorded_us: now.timestamp_micros(),
        user: new.author.user.clone(),
        device: new.author.device.clone(),
        payload: serde_json::to_string(&new.payload)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        prev_hash: prev_hash.to_vec(),
        hash: Vec::new(),
    };
    let hash = chain_hash(&prev_hash, &canonical(&case.to_string(), &row));
    tx.execute(
        "INSERT INTO entries (id, case_id, case_seq, kind, target_id, occurred_us, recorded_us,
                              by_user, on_device, payload, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            row.id,
            case.to_string(),
            row.case_seq,
            row.kind,
            row.target,
            row.occurred_us,
            row.recorded_us,
            row.user,
            row.device,
            row.payload,
            row.prev_hash,
            hash.to_vec()
        ],
    )?;
    Ok(Entry {
        id,
        case_id: case,
        seq: row.case_seq as u64,
        occurred_at: from_micros(row.occurred_us)?,
        recorded_at: from_micros(row.recorded_us)?,
        author: new.author,
        payload: new.payload,
        prev_hash,
        hash,
    })
}

/// Checklist answers fit their template item, signing needs every mandatory answer, and a CPB
/// case starts bypass only after a signed pre-bypass checklist or an override.
fn check_checklist_rules(
    tx: &rusqlite::Connection,
    case: CaseId,
    payload: &EntryPayload,
) -> Result<(), StoreError> {
    use crate::domain::checklist::{bypass_gate, runs, RunState};
    match payload {
        EntryPayload::ChecklistStarted {
            template,
            version,
            digest,
            purpose,
        } => {
            let t = super::checklists::template_by_digest(tx, digest)?.ok_or_else(|| {
                ValidationError::Invalid {
                    field: "checklist.template".into(),
                    value: format!("{template} {version}"),
                    allowed: "an imported checklist template".into(),
                }
            })?;
            if &t.id != template || &t.version != version || &t.purpose != purpose {
                return Err(ValidationError::Invalid {
                    field: "checklist.template".into(),
                    value: format!("{template} {version}"),
                    allowed: format!("the template with that digest ({} {})", t.id, t.version),
                }
                .into());
            }
            Ok(())
        }
        EntryPayload::ChecklistAnswer { run, .. } | EntryPayload::ChecklistSigned { run } => {
            let entries = load_entries(tx, case)?;
            let Some(r) = runs(&entries).into_iter().find(|r| r.id == *run) else {
                return Ok(()); // the target check names the missing run
            };
            if r.signed.is_some() {
                return Err(ValidationError::Invalid {
                    field: "checklist.run".into(),
                    value: run.to_string(),
                    allowed: "a run not yet signed (add an amendment instead)".into(),
                }
                .into());
            }
            let t = super::checklists::template_by_digest(tx, &r.digest)?
                .ok_or_else(|| StoreError::Corrupt(format!("template {} missing", r.digest)))?;
            match payload {
                EntryPayload::ChecklistAnswer { item, answer, .. } => {
                    let it = t.item(item).ok_or_else(|| ValidationError::Invalid {
                        field: "checklist.item".into(),
                        value: item.clone(),
                        allowed: format!("an item of {} {}", t.id, t.version),
                    })?;
                    answer.validate(it)?;
                }
                _ => RunState::derive(&t, &r.recorded).check_can_sign(&t)?,
            }
            Ok(())
        }
        EntryPayload::Event {
            event: crate::domain::EventKind::BypassOn,
        } if super::cases::case_kind(tx, case)? == crate::domain::CaseKind::Cpb => {
            bypass_gate(&load_entries(tx, case)?)?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Every entry of a case, parsed.
pub(super) fn load_entries(
    conn: &rusqlite::Connection,
    case: CaseId,
) -> Result<Vec<Entry>, StoreError> {
    rows(conn, case)?
        .into_iter()
        .map(|r| {
            Ok(Entry {
                id: parse_id("entry id", &r.id)?,
                case_id: case,
                seq: r.case_seq as u64,
                occurred_at: from_micros(r.occurred_us)?,
                recorded_at: from_micros(r.recorded_us)?,
                author: Author::new(r.user, r.device),
                payload: serde_json::from_str(&r.payload)
                    .map_err(|e| StoreError::Corrupt(format!("entry {} payload: {e}", r.id)))?,
                prev_hash: hash32(&r.prev_hash, "prev_hash")?,
                hash: hash32(&r.hash, "hash")?,
            })
        })
        .collect()
}

struct Row {
    id: String,
    case_seq: i64,
    kind: String,
    target: Option<String>,
    occurred_us: i64,
    recorded_us: i64,
    user: String,
    device: String,
    payload: String,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

fn rows(conn: &rusqlite::Connection, case: CaseId) -> Result<Vec<Row>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, case_seq, kind, target_id, occurred_us, recorded_us, by_user, on_device,
                payload, prev_hash, hash
           FROM entries WHERE case_id = ?1 ORDER BY case_seq",
    )?;
    let rows = stmt.query_map([case.to_string()], |r| {
        Ok(Row {
            id: r.get(0)?,
            case_seq: r.get(1)?,
            kind: r.get(2)?,
            target: r.get(3)?,
            occurred_us: r.get(4)?,
            recorded_us: r.get(5)?,
            user: r.get(6)?,
            device: r.get(7)?,
            payload: r.get(8)?,
            prev_hash: r.get(9)?,
            hash: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn hash32(v: &[u8], what: &str) -> Result<[u8; 32], StoreError> {
    v.try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

impl Store {
    /// Validate and append an entry (one transaction).
    pub async fn append_entry(&self, new: NewEntry) -> Result<Entry, StoreError> {
        self.call(move |db| {
            let tx = db.conn.transaction()?;
            let e = insert(&tx, new, Utc::now())?;
            super::seal::commit(tx, &db.keys)?;
            Ok(e)
        })
        .await
    }

    /// Validate and append several entries (one transaction: all or none). A compound step
    /// (bypass on and running; release, completed and signed) is written this way so that a
    /// crash or a refusal can never leave half of it.
    pub async fn append_entries(&self, news: Vec<NewEntry>) -> Result<Vec<Entry>, StoreError> {
        self.call(move |db| {
            let tx = db.conn.transaction()?;
            let now = Utc::now();
            let mut out = Vec::with_capacity(news.len());
            for new in news {
                out.push(insert(&tx, new, now)?);
            }
            super::seal::commit(tx, &db.keys)?;
            Ok(out)
        })
        .await
    }

    /// The current lifecycle status of a case (`None`: no status entry yet).
    pub async fn case_status(&self, case: CaseId) -> Result<Option<CaseStatus>, StoreError> {
        self.call(move |db| {
            case_info(&db.conn, case)?;
            current_status(&db.conn, case)
        })
        .await
    }

    /// Append a lifecycle step.
    pub async fn set_status(
        &self,
        case: CaseId,
        status: CaseStatus,
        by: Author,
    ) -> Result<Entry, StoreError> {
        self.append_entry(NewEntry {
            case_id: case,
            occurred_at: Utc::now(),
            author: by,
            payload: EntryPayload::Status { status },
        })
        .await
    }

    /// All entries of a case in recording order.
    pub async fn entries(&self, case: CaseId) -> Result<Vec<Entry>, StoreError> {
        self.call(move |db| load_entries(&db.conn, case)).await
    }

    /// Recompute the case's hash chain from the stored rows.
    pub async fn verify_chain(&self, case: CaseId) -> Result<ChainReport, StoreError> {
        self.call(move |db| check_chain(&db.conn, case)).await
    }
}

/// Recompute a case's (unkeyed) content chain from its stored rows. The keyed seals
/// (`store/seal.rs`) are what an edit with a recomputed chain cannot pass.
pub(super) fn check_chain(
    conn: &rusqlite::Connection,
    case: CaseId,
) -> Result<ChainReport, StoreError> {
    let mut prev = [0u8; 32];
    let mut n = 0u64;
    for r in rows(conn, case)? {
        n += 1;
        let tampered = |why: String| StoreError::Tampered {
            case,
            case_seq: r.case_seq as u64,
            why,
        };
        if r.case_seq as u64 != n {
            return Err(tampered(format!(
                "expected entry {n}; an entry is missing or was inserted"
            )));
        }
        if r.prev_hash != prev {
            return Err(tampered("link to the previous entry is broken".into()));
        }
        let h = chain_hash(&prev, &canonical(&case.to_string(), &r));
        if r.hash != h {
            return Err(tampered("content does not match its hash".into()));
        }
        prev = h;
    }
    Ok(ChainReport {
        entries: n,
        head: prev,
    })
}
