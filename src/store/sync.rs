//! The sync outbox: what leaves this device for the hospital's FHIR server, append-only. A row is
//! an operation (create or update of one resource, its payload fixed when it was planned); its
//! state is the newest of its `sync_events` (none or `retry` = pending; `acked`, `rejected` or
//! `conflict` = settled). Rows and events are never updated or deleted: the outbox is also the
//! audit of what left the tablet. Scans record how far each case's entries and trends have been
//! planned, so planning resumes where it stopped after a restart.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{entries, from_micros, parse_id, Store, StoreError};
use crate::domain::{
    Author, CaseId, Channel, ChannelId, Entry, EntryId, PatientId, Sample, ValidationError,
};

/// Create a resource or update the server's copy of one created earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    Update,
}

impl Operation {
    /// The text kept in the outbox's `operation` column.
    pub fn code(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        match s {
            "create" => Some(Operation::Create),
            "update" => Some(Operation::Update),
            _ => None,
        }
    }
}

/// What a planned operation came from (the outbox's `source` column). Planning compares these,
/// never their text; the text form exists only for the column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OpSource {
    /// The case's run (its Procedure as the opening entry describes it).
    Run,
    /// One timeline entry.
    Entry(EntryId),
    /// One closed 10-minute chunk of a device channel, by its start (ms since the epoch).
    Trend { channel: ChannelId, start_ms: i64 },
    /// A checklist template, by the digest of its file.
    Questionnaire { digest: String },
    /// A person's decision on a conflict to keep this device's version (the conflicting row's
    /// op id).
    Resolve { op_id: String },
}

impl OpSource {
    pub fn code(&self) -> String {
        match self {
            OpSource::Run => "run".into(),
            OpSource::Entry(id) => format!("entry:{id}"),
            OpSource::Trend { channel, start_ms } => format!("trend:{channel}:{start_ms}"),
            OpSource::Questionnaire { digest } => format!("questionnaire:{digest}"),
            OpSource::Resolve { op_id } => format!("resolve:{op_id}"),
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        if s == "run" {
            return Some(OpSource::Run);
        }
        let (kind, rest) = s.split_once(':')?;
        match kind {
            "entry" => rest.parse().ok().map(OpSource::Entry),
            "trend" => {
                let (channel, start) = rest.rsplit_once(':')?;
                Some(OpSource::Trend {
                    channel: channel.parse().ok()?,
                    start_ms: start.parse().ok()?,
                })
            }
            "questionnaire" if !rest.is_empty() => Some(OpSource::Questionnaire {
                digest: rest.into(),
            }),
            "resolve" if !rest.is_empty() => Some(OpSource::Resolve { op_id: rest.into() }),
            _ => None,
        }
    }
}

/// A planned operation to append.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxNew {
    pub source: OpSource,
    pub resource_type: String,
    pub resource_key: String,
    pub operation: Operation,
    pub payload: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    Pending,
    Acked,
    Rejected,
    Conflict,
}

impl OutboxState {
    fn from_code(s: Option<&str>) -> Self {
        match s {
            Some("acked") => OutboxState::Acked,
            Some("rejected") => OutboxState::Rejected,
            Some("conflict") => OutboxState::Conflict,
            _ => OutboxState::Pending,
        }
    }
}

/// One outbox row with its current state.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub seq: i64,
    pub op_id: String,
    pub case_id: CaseId,
    pub source: OpSource,
    pub resource_type: String,
    pub resource_key: String,
    pub operation: Operation,
    pub payload: String,
    pub created_at: DateTime<Utc>,
    pub state: OutboxState,
    /// Failed tries so far.
    pub attempts: u32,
    pub last_error: Option<String>,
    /// The OperationOutcome (rejected) or the server's version (conflict).
    pub detail: Option<String>,
}

/// What happened to one operation on one try.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Retry { error: String },
    Acked { server_id: String, version: String },
    Rejected { outcome: String },
    Conflict { server_version: String },
}

/// The sync figures the status bar and the Sync screen show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboxSummary {
    pub pending: u64,
    pub acked: u64,
    pub rejected: u64,
    pub conflicts: u64,
    pub last_ack: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// A case with work for the planner: entries after `scanned_seq`, trends from `trend_to_ms`.
#[derive(Debug, Clone)]
pub struct SyncWork {
    pub case_id: CaseId,
    pub entries: Vec<Entry>,
    pub scanned_seq: u64,
    pub trend_to_ms: i64,
    pub channels: Vec<(Channel, Vec<Sample>)>,
}

/// (op id, case id, resource type, key, payload, newest state, newest detail).
type ConflictRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

impl Store {
    /// Cases whose entries or closed trend chunks (before `boundary_ms`) have not been planned,
    /// with what the planner needs to map them.
    pub async fn sync_work(&self, boundary_ms: i64) -> Result<Vec<SyncWork>, StoreError> {
        self.call(move |db| {
            let cases: Vec<(String, i64, i64)> = {
                let mut stmt = db.conn.prepare(
                    "SELECT c.id, coalesce(w.s, 0), coalesce(w.t, 0)
                       FROM cases c
                       LEFT JOIN (SELECT case_id, max(case_seq) s, max(trend_to_ms) t
                                    FROM sync_scans GROUP BY case_id) w ON w.case_id = c.id
                      WHERE (SELECT max(case_seq) FROM entries e WHERE e.case_id = c.id)
                              > coalesce(w.s, 0)
                         OR EXISTS (SELECT 1 FROM channels ch
                                      JOIN telemetry_chunks t ON t.channel = ch.num
                                     WHERE ch.case_id = c.id
                                       AND t.t_last >= coalesce(w.t, 0) AND t.t_first < ?1)
                      ORDER BY c.created_us",
                )?;
                let rows = stmt
                    .query_map([boundary_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                rows
            };
            let mut out = Vec::new();
            for (id, scanned, trend_to) in cases {
                let case_id: CaseId = parse_id("case id", &id)?;
                let entries = entries::load_entries(&db.conn, case_id)?;
                let channel_ids: Vec<String> = {
                    let mut stmt = db
                        .conn
                        .prepare("SELECT id FROM channels WHERE case_id = ?1 ORDER BY num")?;
                    let ids = stmt
                        .query_map([&id], |r| r.get(0))?
                        .collect::<Result<Vec<_>, _>>()?;
                    ids
                };
                let mut channels = Vec::new();
                for cid in channel_ids {
                    let cid = parse_id("channel id", &cid)?;
                    let from = DateTime::from_timestamp_millis(trend_to).unwrap_or_default();
                    let to = DateTime::from_timestamp_millis(boundary_ms - 1).unwrap_or_default();
                    let samples = if boundary_ms > trend_to {
                        super::telemetry::samples_between(db, cid, from, to)?
                    } else {
                        Vec::new()
                    };
                    let ch = super::telemetry::channel(db, cid)?.1.clone();
                    channels.push((ch, samples));
                }
                out.push(SyncWork {
                    case_id,
                    entries,
                    scanned_seq: scanned as u64,
                    trend_to_ms: trend_to,
                    channels,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Append planned operations and the scan mark in one transaction. An operation already in
    /// the outbox (same source, resource and operation) is not added twice.
    pub async fn enqueue(
        &self,
        case: CaseId,
        rows: Vec<OutboxNew>,
        scanned_seq: u64,
        trend_to_ms: i64,
        by: Author,
    ) -> Result<usize, StoreError> {
        self.call(move |db| {
            let tx = db.conn.transaction()?;
            let now = Utc::now().timestamp_micros();
            let mut added = 0;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO sync_outbox
                       (op_id, case_id, source, resource_type, resource_key, operation, payload,
                        created_us, by_user, on_device)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?;
                for r in &rows {
                    added += stmt.execute(params![
                        uuid::Uuid::now_v7().to_string(),
                        case.to_string(),
                        r.source.code(),
                        r.resource_type,
                        r.resource_key,
                        r.operation.code(),
                        r.payload,
                        now,
                        by.user,
                        by.device
                    ])?;
                }
            }
            tx.execute(
                "INSERT INTO sync_scans (case_id, case_seq, trend_to_ms, at_us)
                 VALUES (?1, ?2, ?3, ?4)",
                params![case.to_string(), scanned_seq as i64, trend_to_ms, now],
            )?;
            tx.commit()?;
            Ok(added)
        })
        .await
    }

    /// Pending operations in outbox order, at most `limit`.
    pub async fn pending(&self, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        // Pending: no event yet, or the latest is a retry (a rejected row put back in the queue
        // gets a retry event after its rejection).
        self.outbox_rows(
            "WHERE coalesce((SELECT e.state FROM sync_events e WHERE e.op_seq = o.seq
                              ORDER BY e.seq DESC LIMIT 1), 'retry') = 'retry'
             ORDER BY o.seq LIMIT ?1",
            limit as i64,
        )
        .await
    }

    /// Operations whose latest event is a rejection, with its detail (the server's answer).
    pub async fn rejected(&self) -> Result<Vec<(i64, String)>, StoreError> {
        self.call(move |db| {
            let mut stmt = db.conn.prepare_cached(
                "SELECT o.seq, coalesce(e.detail, '') FROM sync_outbox o
                   JOIN sync_events e ON e.seq = (SELECT max(x.seq) FROM sync_events x
                                                   WHERE x.op_seq = o.seq)
                  WHERE e.state = 'rejected' ORDER BY o.seq",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Put rejected operations back in the queue, in one transaction: each gets a retry event
    /// saying why, after its rejection (which stays on record).
    pub async fn requeue(&self, seqs: Vec<i64>, why: String) -> Result<usize, StoreError> {
        self.call(move |db| {
            let tx = db.conn.transaction()?;
            let now = Utc::now().timestamp_micros();
            let mut n = 0;
            for seq in seqs {
                n += tx.execute(
                    "INSERT INTO sync_events (op_seq, state, at_us, detail)
                     SELECT ?1, 'retry', ?2, ?3
                      WHERE (SELECT state FROM sync_events WHERE op_seq = ?1
                              ORDER BY seq DESC LIMIT 1) = 'rejected'",
                    params![seq, now, why],
                )?;
            }
            tx.commit()?;
            Ok(n)
        })
        .await
    }

    /// Operations a person must look at (rejected or in conflict), newest first.
    pub async fn unsettled(&self, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        self.outbox_rows(
            "WHERE (SELECT e.state FROM sync_events e WHERE e.op_seq = o.seq
                      ORDER BY e.seq DESC LIMIT 1) IN ('rejected', 'conflict')
             ORDER BY o.seq DESC LIMIT ?1",
            limit as i64,
        )
        .await
    }

    async fn outbox_rows(
        &self,
        filter: &'static str,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        self.call(move |db| {
            let sql = format!(
                "SELECT o.seq, o.op_id, o.case_id, o.source, o.resource_type, o.resource_key,
                        o.operation, o.payload, o.created_us,
                        (SELECT count(*) FROM sync_events e WHERE e.op_seq = o.seq
                           AND e.state = 'retry'),
                        (SELECT e.detail FROM sync_events e WHERE e.op_seq = o.seq
                           AND e.state = 'retry' ORDER BY e.seq DESC LIMIT 1),
                        (SELECT e.state FROM sync_events e WHERE e.op_seq = o.seq
                           ORDER BY e.seq DESC LIMIT 1),
                        (SELECT e.detail FROM sync_events e WHERE e.op_seq = o.seq
                           ORDER BY e.seq DESC LIMIT 1)
                   FROM sync_outbox o {filter}"
            );
            let mut stmt = db.conn.prepare_cached(&sql)?;
            let rows = stmt
                .query_map([limit], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, i64>(8)?,
                        r.get::<_, i64>(9)?,
                        r.get::<_, Option<String>>(10)?,
                        r.get::<_, Option<String>>(11)?,
                        r.get::<_, Option<String>>(12)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|r| {
                    let state = OutboxState::from_code(r.11.as_deref());
                    Ok(OutboxRow {
                        seq: r.0,
                        op_id: r.1,
                        case_id: parse_id("case id", &r.2)?,
                        source: OpSource::from_code(&r.3).ok_or_else(|| {
                            StoreError::Corrupt(format!("outbox source {:?}", r.3))
                        })?,
                        resource_type: r.4,
                        resource_key: r.5,
                        operation: Operation::from_code(&r.6).ok_or_else(|| {
                            StoreError::Corrupt(format!("outbox operation {:?}", r.6))
                        })?,
                        payload: r.7,
                        created_at: from_micros(r.8)?,
                        state,
                        attempts: r.9 as u32,
                        last_error: r.10,
                        detail: if matches!(state, OutboxState::Rejected | OutboxState::Conflict) {
                            r.12
                        } else {
                            None
                        },
                    })
                })
                .collect()
        })
        .await
    }

    /// Record what happened to operations on one try, in one transaction.
    pub async fn record_outcomes(&self, outcomes: Vec<(i64, Outcome)>) -> Result<(), StoreError> {
        self.call(move |db| {
            let tx = db.conn.transaction()?;
            let now = Utc::now().timestamp_micros();
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO sync_events (op_seq, state, at_us, detail, server_id, server_version)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for (op, o) in &outcomes {
                    let (state, detail, id, version) = match o {
                        Outcome::Retry { error } => ("retry", Some(error.as_str()), None, None),
                        Outcome::Acked { server_id, version } => {
                            ("acked", None, Some(server_id.as_str()), Some(version.as_str()))
                        }
                        Outcome::Rejected { outcome } => {
                            ("rejected", Some(outcome.as_str()), None, None)
                        }
                        Outcome::Conflict { server_version } => {
                            ("conflict", Some(server_version.as_str()), None, None)
                        }
                    };
                    stmt.execute(params![op, state, now, detail, id, version])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The server's id and newest known version of the resource with this client key, from the
    /// latest acknowledged operation on it.
    /// A person resolves a conflict (a row whose newest event is `conflict`), in one
    /// transaction. Both ways settle the row with an `acked` event on the server's version (so
    /// later updates of the record build on it) whose detail says who decided what and when:
    /// - `keep_ours`: this device's payload is queued again as a new update (source
    ///   `resolve:<op id>`), sent with If-Match on the server's version; if the server's copy
    ///   changed again meanwhile, that becomes a new conflict;
    /// - otherwise the server's version stands; the local record is not changed (a correction
    ///   of the record, if one is needed, is a new entry like any other).
    pub async fn resolve_conflict(
        &self,
        op_seq: i64,
        keep_ours: bool,
        by: Author,
    ) -> Result<(), StoreError> {
        self.call(move |db| {
            let tx = db.conn.transaction()?;
            let row: Option<ConflictRow> = tx
                .query_row(
                    "SELECT o.op_id, o.case_id, o.resource_type, o.resource_key, o.payload,
                            (SELECT e.state FROM sync_events e WHERE e.op_seq = o.seq
                              ORDER BY e.seq DESC LIMIT 1),
                            (SELECT e.detail FROM sync_events e WHERE e.op_seq = o.seq
                              ORDER BY e.seq DESC LIMIT 1)
                       FROM sync_outbox o WHERE o.seq = ?1",
                    [op_seq],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                        ))
                    },
                )
                .optional()?;
            let Some((op_id, case_id, rtype, key, payload, state, detail)) = row else {
                return Err(StoreError::Invalid(ValidationError::Invalid {
                    field: "conflict".into(),
                    value: op_seq.to_string(),
                    allowed: "an operation in the outbox".into(),
                }));
            };
            if state.as_deref() != Some("conflict") {
                return Err(StoreError::Invalid(ValidationError::Invalid {
                    field: "conflict".into(),
                    value: op_seq.to_string(),
                    allowed: "an operation still in conflict (this one is not: already resolved?)"
                        .into(),
                }));
            }
            let server: serde_json::Value =
                serde_json::from_str(detail.as_deref().unwrap_or(""))
                    .map_err(|e| StoreError::Corrupt(format!("conflict copy: {e}")))?;
            let (Some(id), Some(version)) =
                (server["id"].as_str(), server["meta"]["versionId"].as_str())
            else {
                return Err(StoreError::Corrupt(
                    "the server's copy in the conflict has no id or version".into(),
                ));
            };
            let now = Utc::now().timestamp_micros();
            let decision = if keep_ours {
                "kept this device's version (sent again over the server's)"
            } else {
                "accepted the server's version"
            };
            tx.execute(
                "INSERT INTO sync_events (op_seq, state, at_us, detail, server_id, server_version)
                 VALUES (?1, 'acked', ?2, ?3, ?4, ?5)",
                params![
                    op_seq,
                    now,
                    format!(
                        "conflict resolved by {} on {}: {decision}",
                        by.user, by.device
                    ),
                    id,
                    version
                ],
            )?;
            if keep_ours {
                tx.execute(
                    "INSERT INTO sync_outbox
                       (op_id, case_id, source, resource_type, resource_key, operation, payload,
                        created_us, by_user, on_device)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'update', ?6, ?7, ?8, ?9)",
                    params![
                        uuid::Uuid::now_v7().to_string(),
                        case_id,
                        OpSource::Resolve {
                            op_id: op_id.clone()
                        }
                        .code(),
                        rtype,
                        key,
                        payload,
                        now,
                        by.user,
                        by.device
                    ],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn server_ref(&self, key: String) -> Result<Option<(String, String)>, StoreError> {
        self.call(move |db| {
            Ok(db
                .conn
                .query_row(
                    "SELECT e.server_id, e.server_version FROM sync_events e
                       JOIN sync_outbox o ON o.seq = e.op_seq
                      WHERE o.resource_key = ?1 AND e.state = 'acked'
                      ORDER BY e.seq DESC LIMIT 1",
                    [key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        })
        .await
    }

    /// The resources planned for an entry (its creates), for a retraction.
    pub async fn planned_for(
        &self,
        source: OpSource,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let source = source.code();
        self.call(move |db| {
            let mut stmt = db.conn.prepare_cached(
                "SELECT resource_type, resource_key, payload FROM sync_outbox
                  WHERE source = ?1 AND operation = 'create' ORDER BY seq",
            )?;
            let rows = stmt
                .query_map([source], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    pub async fn outbox_summary(&self) -> Result<OutboxSummary, StoreError> {
        self.call(|db| {
            let (pending, acked, rejected, conflicts): (i64, i64, i64, i64) = db.conn.query_row(
                "SELECT coalesce(sum(s IS NULL OR s = 'retry'), 0), coalesce(sum(s = 'acked'), 0),
                        coalesce(sum(s = 'rejected'), 0), coalesce(sum(s = 'conflict'), 0)
                   FROM (SELECT (SELECT state FROM sync_events e WHERE e.op_seq = o.seq
                                  ORDER BY e.seq DESC LIMIT 1) s
                           FROM sync_outbox o)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?;
            let last_ack: Option<i64> = db.conn.query_row(
                "SELECT max(at_us) FROM sync_events WHERE state = 'acked'",
                [],
                |r| r.get(0),
            )?;
            let last_error: Option<String> = db
                .conn
                .query_row(
                    "SELECT detail FROM sync_events WHERE state = 'retry'
                        AND seq > coalesce((SELECT max(seq) FROM sync_events WHERE state = 'acked'), 0)
                      ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(OutboxSummary {
                pending: pending as u64,
                acked: acked as u64,
                rejected: rejected as u64,
                conflicts: conflicts as u64,
                last_ack: last_ack.map(from_micros).transpose()?,
                last_error,
            })
        })
        .await
    }

    /// The server id this patient was found under, if looked up before.
    pub async fn server_patient(&self, patient: PatientId) -> Result<Option<String>, StoreError> {
        self.call(move |db| {
            Ok(db
                .conn
                .query_row(
                    "SELECT server_id FROM sync_patients WHERE patient_id = ?1
                      ORDER BY seq DESC LIMIT 1",
                    [patient.to_string()],
                    |r| r.get(0),
                )
                .optional()?)
        })
        .await
    }

    /// The Bundle size (operations) a server's 413 taught, newest first; `None` if it never
    /// refused one for size.
    pub async fn size_limit(&self, server: String) -> Result<Option<usize>, StoreError> {
        self.call(move |db| {
            let n: Option<i64> = db
                .conn
                .query_row(
                    "SELECT operations FROM sync_limits WHERE server = ?1
                      ORDER BY seq DESC LIMIT 1",
                    [server],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(n.and_then(|n| usize::try_from(n).ok()).filter(|n| *n > 0))
        })
        .await
    }

    /// Keeps the Bundle size a 413 taught for this server, so a restart does not meet it again.
    pub async fn remember_size_limit(
        &self,
        server: String,
        operations: usize,
    ) -> Result<(), StoreError> {
        let operations = i64::try_from(operations.max(1)).unwrap_or(i64::MAX);
        self.call(move |db| {
            db.conn.execute(
                "INSERT INTO sync_limits (server, operations, at_us) VALUES (?1, ?2, ?3)",
                params![server, operations, Utc::now().timestamp_micros()],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn remember_server_patient(
        &self,
        patient: PatientId,
        server_id: String,
    ) -> Result<(), StoreError> {
        self.call(move |db| {
            db.conn.execute(
                "INSERT INTO sync_patients (patient_id, server_id, at_us) VALUES (?1, ?2, ?3)",
                params![
                    patient.to_string(),
                    server_id,
                    Utc::now().timestamp_micros()
                ],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_sources_and_operations_read_back_as_written() {
        let sources = [
            OpSource::Run,
            OpSource::Entry(EntryId::new()),
            OpSource::Trend {
                channel: ChannelId::new(),
                start_ms: 1_764_547_200_000,
            },
            OpSource::Questionnaire {
                digest: "ab12".into(),
            },
            OpSource::Resolve {
                op_id: "0190-op".into(),
            },
        ];
        for s in sources {
            assert_eq!(OpSource::from_code(&s.code()), Some(s.clone()), "{s:?}");
        }
        for op in [Operation::Create, Operation::Update] {
            assert_eq!(Operation::from_code(op.code()), Some(op));
        }
        for bad in [
            "",
            "entry",
            "entry:not-a-uuid",
            "trend:x",
            "questionnaire:",
            "chunk:1",
        ] {
            assert_eq!(OpSource::from_code(bad), None, "{bad}");
        }
        assert_eq!(Operation::from_code("delete"), None);
    }
}
