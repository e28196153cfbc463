//! Users on the device (every version kept) and the audit of who did what outside the clinical
//! record: sign-ins, refusals, locks, user and sync-server changes.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::{from_micros, Store, StoreError};
use crate::domain::user::{Role, UserId};
use crate::domain::{Author, CaseId};

/// A user as in force (the newest version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    /// Argon2id PHC string; never the PIN.
    pub pin_hash: String,
    pub active: bool,
    /// When this version was written.
    pub since: DateTime<Utc>,
}

/// An audit event to record.
#[derive(Debug, Clone)]
pub struct AuditNew {
    pub kind: &'static str,
    pub case: Option<CaseId>,
    /// The user the event is about (sign-in attempts, user changes).
    pub subject: Option<UserId>,
    pub detail: String,
}

pub(super) fn insert_audit(
    conn: &Connection,
    a: &AuditNew,
    by: &Author,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO audit (at_us, kind, case_id, subject, detail, by_user, on_device)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        at.timestamp_micros(),
        a.kind,
        a.case.map(|c| c.to_string()),
        a.subject,
        a.detail,
        by.user,
        by.device
    ])?;
    Ok(())
}

fn users(conn: &Connection) -> Result<Vec<UserRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT user_id, name, role, pin_hash, active, at_us FROM users u
          WHERE seq = (SELECT max(seq) FROM users v WHERE v.user_id = u.user_id)
          ORDER BY (SELECT min(seq) FROM users w WHERE w.user_id = u.user_id)",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for r in rows {
        let (id, name, role, pin_hash, active, at) = r?;
        out.push(UserRecord {
            role: Role::from_code(&role)
                .ok_or_else(|| StoreError::Corrupt(format!("user {id} has role {role:?}")))?,
            id,
            name,
            pin_hash,
            active: active == 1,
            since: from_micros(at)?,
        });
    }
    Ok(out)
}

impl Store {
    /// Every user of this device as in force, in the order they were added.
    pub async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.call(|db| users(&db.conn)).await
    }

    /// Write a new version of a user (added, changed, PIN reset, deactivated) and its audit
    /// event, in one transaction.
    pub async fn save_user(
        &self,
        user: UserRecord,
        audit: AuditNew,
        by: Author,
    ) -> Result<(), StoreError> {
        self.call(move |db| {
            crate::domain::user::check_name(&user.name)?;
            let tx = db.conn.transaction()?;
            let now = Utc::now();
            tx.execute(
                "INSERT INTO users (user_id, name, role, pin_hash, active, at_us, by_user, on_device)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    user.id,
                    user.name.trim(),
                    user.role.code(),
                    user.pin_hash,
                    i64::from(user.active),
                    now.timestamp_micros(),
                    by.user,
                    by.device
                ],
            )?;
            insert_audit(&tx, &audit, &by, now)?;
            super::seal::commit(tx, &db.keys)
        })
        .await
    }

    /// Record an audit event (sealed like every row).
    pub async fn record_audit(&self, audit: AuditNew, by: Author) -> Result<(), StoreError> {
        self.call(move |db| {
            let tx = db.conn.transaction()?;
            insert_audit(&tx, &audit, &by, Utc::now())?;
            super::seal::commit(tx, &db.keys)
        })
        .await
    }

    /// A user's failed sign-ins since their last successful one, and when the last failed: the
    /// lock-out survives a restart because it is counted from the audit.
    pub async fn sign_in_failures(
        &self,
        user: UserId,
    ) -> Result<(u32, Option<DateTime<Utc>>), StoreError> {
        self.call(move |db| {
            let (n, last): (i64, Option<i64>) = db.conn.query_row(
                "SELECT count(*), max(at_us) FROM audit
                  WHERE subject = ?1 AND kind = 'sign-in-failed'
                    AND seq > coalesce((SELECT max(seq) FROM audit
                                         WHERE subject = ?1 AND kind = 'sign-in'), 0)",
                [&user],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok((n as u32, last.map(from_micros).transpose()?))
        })
        .await
    }
}
