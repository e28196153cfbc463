//! Versioned schema migrations. `PRAGMA user_version` holds the applied version. A migration is
//! never edited once released: fix forward with a new one.

use rusqlite::Connection;

use super::StoreError;

pub(super) struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

pub(super) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "2026-11-25 cases, status log, timeline events",
    sql: r#"
CREATE TABLE cases (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    label       TEXT NOT NULL,
    is_demo     INTEGER NOT NULL CHECK (is_demo IN (0, 1)),
    created_us  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    created_on  TEXT NOT NULL
) STRICT;

-- Case lifecycle as an append-only log; the current status is the latest row.
CREATE TABLE case_status_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id     TEXT NOT NULL REFERENCES cases(id),
    status      TEXT NOT NULL,
    at_us       INTEGER NOT NULL,
    by_user     TEXT NOT NULL,
    on_device   TEXT NOT NULL
) STRICT;
CREATE INDEX case_status_log_case ON case_status_log(case_id, seq);

CREATE TABLE timeline_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    case_id     TEXT NOT NULL REFERENCES cases(id),
    kind        TEXT NOT NULL,
    at_us       INTEGER NOT NULL,
    by_user     TEXT NOT NULL,
    on_device   TEXT NOT NULL
) STRICT;
CREATE INDEX timeline_events_case ON timeline_events(case_id, at_us);

-- The record is append-only: the database itself refuses edits and deletions.
CREATE TRIGGER cases_no_update BEFORE UPDATE ON cases
    BEGIN SELECT RAISE(ABORT, 'cases are append-only'); END;
CREATE TRIGGER cases_no_delete BEFORE DELETE ON cases
    BEGIN SELECT RAISE(ABORT, 'cases are append-only'); END;
CREATE TRIGGER case_status_log_no_update BEFORE UPDATE ON case_status_log
    BEGIN SELECT RAISE(ABORT, 'case status log is append-only'); END;
CREATE TRIGGER case_status_log_no_delete BEFORE DELETE ON case_status_log
    BEGIN SELECT RAISE(ABORT, 'case status log is append-only'); END;
CREATE TRIGGER timeline_events_no_update BEFORE UPDATE ON timeline_events
    BEGIN SELECT RAISE(ABORT, 'timeline entries are append-only'); END;
CREATE TRIGGER timeline_events_no_delete BEFORE DELETE ON timeline_events
    BEGIN SELECT RAISE(ABORT, 'timeline entries are append-only'); END;
"#,
}];

/// The schema version this build writes.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map(|m| m.version).unwrap_or(0)
}

/// Apply every pending migration, each in its own transaction. Refuses a database written by a
/// newer build rather than guessing at its schema.
pub(super) fn migrate(conn: &mut Connection) -> Result<u32, StoreError> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let latest = latest_version();
    if current > latest {
        return Err(StoreError::NewerSchema {
            found: current,
            supported: latest,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(m.sql)
            .and_then(|_| tx.pragma_update(None, "user_version", m.version))
            .map_err(|source| StoreError::Migration {
                version: m.version,
                name: m.name,
                source,
            })?;
        tx.commit()?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied schema migration"
        );
    }
    Ok(latest)
}
