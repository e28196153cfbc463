//! What the on-call view pulls from the hospital's server: the patients this device follows (by
//! MRN), every resource version pulled for them (once per type, id and version) and a cursor per
//! patient and resource type. All append-only. Pulled versions live only here and never replace a
//! local record; a version of a record this device still has unsettled changes to is kept but
//! marked held, and is not shown (the device's own upload, once acknowledged, is pulled back and
//! supersedes it).

use chrono::Utc;
use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};
use crate::domain::patient::Mrn;
use crate::domain::Author;

/// One version of one resource as the server returned it.
#[derive(Debug, Clone, PartialEq)]
pub struct PulledNew {
    pub resource_type: String,
    pub server_id: String,
    /// `meta.versionId`, opaque (or `meta.lastUpdated` when the server keeps no versions).
    pub version_id: String,
    pub last_updated: String,
    /// The Pumpside record key from an `urn:uuid:` business identifier, when there is one.
    pub record_key: Option<String>,
    pub body: String,
}

/// A stored pulled version.
#[derive(Debug, Clone, PartialEq)]
pub struct Pulled {
    pub mrn: Mrn,
    pub resource_type: String,
    pub server_id: String,
    pub version_id: String,
    pub last_updated: String,
    pub record_key: Option<String>,
    pub body: String,
}

/// What one page of a pull changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PullAck {
    /// Versions not seen before.
    pub added: usize,
    /// Of those, versions held back (this device has unsettled changes to the record).
    pub held: usize,
}

impl Store {
    /// Follow (or stop following) a patient on call. Recorded with who and when.
    pub async fn follow(&self, mrn: Mrn, follow: bool, by: Author) -> Result<(), StoreError> {
        self.call(move |db| {
            db.conn.execute(
                "INSERT INTO sync_follows (mrn_system, mrn_value, follow, by_user, on_device, at_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    mrn.system,
                    mrn.value,
                    follow,
                    by.user,
                    by.device,
                    Utc::now().timestamp_micros()
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// The patients followed now, in the order they were first followed.
    pub async fn followed(&self) -> Result<Vec<Mrn>, StoreError> {
        self.call(|db| {
            let mut stmt = db.conn.prepare(
                "SELECT f.mrn_system, f.mrn_value FROM sync_follows f
                  WHERE f.seq = (SELECT max(g.seq) FROM sync_follows g
                                  WHERE g.mrn_system = f.mrn_system AND g.mrn_value = f.mrn_value)
                    AND f.follow = 1
                  ORDER BY (SELECT min(g.seq) FROM sync_follows g
                             WHERE g.mrn_system = f.mrn_system AND g.mrn_value = f.mrn_value)",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(Mrn {
                        system: r.get(0)?,
                        value: r.get(1)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// The newest `meta.lastUpdated` pulled for this patient and type, if any.
    pub async fn pull_cursor(
        &self,
        mrn: Mrn,
        resource_type: String,
    ) -> Result<Option<String>, StoreError> {
        self.call(move |db| {
            Ok(db
                .conn
                .query_row(
                    "SELECT cursor FROM sync_cursors
                      WHERE mrn_system = ?1 AND mrn_value = ?2 AND resource_type = ?3
                      ORDER BY seq DESC LIMIT 1",
                    params![mrn.system, mrn.value, resource_type],
                    |r| r.get(0),
                )
                .optional()?)
        })
        .await
    }

    /// Store one page of pulled versions and the cursor it reached, in one transaction. A version
    /// seen before is ignored; a version of a record with unsettled outbox rows on this device
    /// (pending, retrying, rejected or in conflict) is kept as held.
    pub async fn record_pull(
        &self,
        mrn: Mrn,
        resource_type: String,
        versions: Vec<PulledNew>,
        cursor: Option<String>,
    ) -> Result<PullAck, StoreError> {
        self.call(move |db| {
            let tx = db.conn.transaction()?;
            let now = Utc::now().timestamp_micros();
            let mut ack = PullAck::default();
            {
                let mut unsettled = tx.prepare_cached(
                    "SELECT EXISTS (
                       SELECT 1 FROM sync_outbox o
                        WHERE o.resource_key = ?1
                          AND coalesce((SELECT e.state FROM sync_events e WHERE e.op_seq = o.seq
                                         ORDER BY e.seq DESC LIMIT 1), 'pending') <> 'acked')",
                )?;
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO sync_pulled
                       (mrn_system, mrn_value, resource_type, server_id, version_id, last_updated,
                        record_key, held, body, pulled_us)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?;
                for v in &versions {
                    let held: bool = match &v.record_key {
                        Some(k) => unsettled.query_row([k], |r| r.get(0))?,
                        None => false,
                    };
                    let n = insert.execute(params![
                        mrn.system,
                        mrn.value,
                        v.resource_type,
                        v.server_id,
                        v.version_id,
                        v.last_updated,
                        v.record_key,
                        held,
                        v.body,
                        now
                    ])?;
                    ack.added += n;
                    if n > 0 && held {
                        ack.held += 1;
                    }
                }
            }
            if let Some(c) = cursor {
                tx.execute(
                    "INSERT INTO sync_cursors (mrn_system, mrn_value, resource_type, cursor, at_us)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![mrn.system, mrn.value, resource_type, c, now],
                )?;
            }
            tx.commit()?;
            Ok(ack)
        })
        .await
    }

    /// For each resource pulled for this patient, its newest version that is not held.
    pub async fn pulled(&self, mrn: Mrn) -> Result<Vec<Pulled>, StoreError> {
        self.call(move |db| {
            let mut stmt = db.conn.prepare(
                "SELECT resource_type, server_id, version_id, last_updated, record_key, body
                   FROM sync_pulled p
                  WHERE mrn_system = ?1 AND mrn_value = ?2 AND held = 0
                    AND NOT EXISTS (SELECT 1 FROM sync_pulled q
                                     WHERE q.resource_type = p.resource_type
                                       AND q.server_id = p.server_id AND q.held = 0
                                       AND (q.last_updated > p.last_updated
                                            OR (q.last_updated = p.last_updated AND q.seq > p.seq)))
                  ORDER BY last_updated, seq",
            )?;
            let rows = stmt
                .query_map(params![mrn.system, mrn.value], |r| {
                    Ok(Pulled {
                        mrn: mrn.clone(),
                        resource_type: r.get(0)?,
                        server_id: r.get(1)?,
                        version_id: r.get(2)?,
                        last_updated: r.get(3)?,
                        record_key: r.get(4)?,
                        body: r.get(5)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// What changes whenever this patient's pulled versions change (a new version, one held or
    /// released): (rows, newest row, rows held). One index range read: the on-call board
    /// re-reads and decodes a patient's runs only when it moved.
    pub async fn pulled_mark(&self, mrn: Mrn) -> Result<(i64, i64, i64), StoreError> {
        self.call(move |db| {
            Ok(db.conn.query_row(
                "SELECT count(*), coalesce(max(seq), 0), coalesce(sum(held), 0)
                   FROM sync_pulled WHERE mrn_system = ?1 AND mrn_value = ?2",
                params![mrn.system, mrn.value],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
        .await
    }

    /// How many versions are held for this patient (shown on the on-call view).
    pub async fn held_count(&self, mrn: Mrn) -> Result<u64, StoreError> {
        self.call(move |db| {
            let n: i64 = db.conn.query_row(
                "SELECT count(*) FROM sync_pulled WHERE mrn_system = ?1 AND mrn_value = ?2 AND held = 1",
                params![mrn.system, mrn.value],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })
        .await
    }
}
