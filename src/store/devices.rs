//! Devices by identity, and their connection sessions with the clock offset.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{entries, from_micros, Store, StoreError};
use crate::domain::device::{associations, DeviceIdentity};
use crate::domain::{CaseId, EntryPayload, ValidationError};

/// One recorded connection.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSession {
    pub connected_at: DateTime<Utc>,
    pub identity: DeviceIdentity,
    pub clock_offset_ms: Option<i64>,
    pub offset_source: Option<String>,
}

/// Association entries name a registered device; a device is released only while associated,
/// and associated only once at a time per case.
pub(super) fn check_device_rules(
    conn: &rusqlite::Connection,
    case: CaseId,
    payload: &EntryPayload,
) -> Result<(), StoreError> {
    let key = match payload {
        EntryPayload::DeviceAssociated { device_key, .. }
        | EntryPayload::DeviceReleased { device_key } => device_key,
        _ => return Ok(()),
    };
    let known: Option<i64> = conn
        .query_row("SELECT 1 FROM devices WHERE key = ?1", [key], |r| r.get(0))
        .optional()?;
    if known.is_none() {
        return Err(ValidationError::Invalid {
            field: "device.key".into(),
            value: key.clone(),
            allowed: "a registered device".into(),
        }
        .into());
    }
    let active = associations(&entries::load_entries(conn, case)?)
        .iter()
        .any(|a| &a.device_key == key && a.ended.is_none());
    match (payload, active) {
        (EntryPayload::DeviceAssociated { .. }, true) => Err(ValidationError::Invalid {
            field: "device.key".into(),
            value: key.clone(),
            allowed: "a device not already associated with this case".into(),
        }
        .into()),
        (EntryPayload::DeviceReleased { .. }, false) => Err(ValidationError::Invalid {
            field: "device.key".into(),
            value: key.clone(),
            allowed: "a device associated with this case".into(),
        }
        .into()),
        _ => Ok(()),
    }
}

/// A device's first sighting, once: a repeated key changes nothing (the insert guard would refuse
/// an `INSERT OR IGNORE` of a taken key, so the check is explicit).
fn insert_device(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
    json: &str,
    at_us: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO devices (key, identity, first_us)
         SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM devices WHERE key = ?1)",
        params![key, json, at_us],
    )?;
    Ok(())
}

impl Store {
    /// Register a device (idempotent); returns its key.
    pub async fn register_device(&self, identity: DeviceIdentity) -> Result<String, StoreError> {
        self.call(move |db| {
            let key = identity.key()?;
            let json =
                serde_json::to_string(&identity).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let tx = db.conn.transaction()?;
            insert_device(&tx, &key, &json, Utc::now().timestamp_micros())?;
            super::seal::commit(tx, &db.keys)?;
            Ok(key)
        })
        .await
    }

    /// Record a connection with the identity as read and the clock offset, if measured.
    pub async fn record_session(
        &self,
        identity: DeviceIdentity,
        connected_at: DateTime<Utc>,
        clock_offset_ms: Option<i64>,
        offset_source: Option<String>,
    ) -> Result<String, StoreError> {
        self.call(move |db| {
            let key = identity.key()?;
            let json = serde_json::to_string(&identity).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let tx = db.conn.transaction()?;
            insert_device(&tx, &key, &json, connected_at.timestamp_micros())?;
            tx.execute(
                "INSERT INTO device_sessions (device_key, connected_us, identity, clock_offset_ms, offset_source)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key, connected_at.timestamp_micros(), json, clock_offset_ms, offset_source],
            )?;
            super::seal::commit(tx, &db.keys)?;
            Ok(key)
        })
        .await
    }

    /// A device's sessions, oldest first.
    pub async fn device_sessions(&self, key: String) -> Result<Vec<DeviceSession>, StoreError> {
        self.call(move |db| {
            let mut stmt = db.conn.prepare(
                "SELECT connected_us, identity, clock_offset_ms, offset_source FROM device_sessions
                  WHERE device_key = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([key], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (us, identity, offset, source) = row?;
                out.push(DeviceSession {
                    connected_at: from_micros(us)?,
                    identity: serde_json::from_str(&identity)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    clock_offset_ms: offset,
                    offset_source: source,
                });
            }
            Ok(out)
        })
        .await
    }
}
