//! Versioned schema migrations. `PRAGMA user_version` holds the applied version. A migration is
//! never edited once released: fix forward with a new one.

use rusqlite::{Connection, Transaction};

use super::seal::{self, StoreKeys};
use super::StoreError;

pub(super) struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
    /// A step that needs Rust (the seal key, the schema as it stands), run after `sql` in the
    /// same transaction.
    pub then: Option<MigrationStep>,
}

type MigrationStep = fn(&Transaction<'_>, &StoreKeys) -> Result<(), StoreError>;

pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "2026-11-25 patients, cases, hash-chained entries, telemetry chunks",
        sql: r#"
CREATE TABLE patients (
    id          TEXT PRIMARY KEY,
    mrn_system  TEXT NOT NULL,
    mrn_value   TEXT NOT NULL,
    created_us  INTEGER NOT NULL,
    by_user     TEXT NOT NULL,
    on_device   TEXT NOT NULL,
    UNIQUE (mrn_system, mrn_value)
) STRICT;

-- Demographics change (weight, a corrected birth date): each change is a new version.
CREATE TABLE patient_versions (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id  TEXT NOT NULL REFERENCES patients(id),
    data        TEXT NOT NULL,
    at_us       INTEGER NOT NULL,
    by_user     TEXT NOT NULL,
    on_device   TEXT NOT NULL
) STRICT;
CREATE INDEX patient_versions_patient ON patient_versions(patient_id, seq);

CREATE TABLE cases (
    id          TEXT PRIMARY KEY,
    patient_id  TEXT REFERENCES patients(id),
    kind        TEXT NOT NULL,
    label       TEXT NOT NULL,
    is_demo     INTEGER NOT NULL CHECK (is_demo IN (0, 1)),
    created_us  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    created_on  TEXT NOT NULL
) STRICT;

-- Every clinical write of a case, lifecycle steps included, hash-chained per case:
-- hash = SHA-256(prev_hash || canonical text of the row).
CREATE TABLE entries (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    case_id     TEXT NOT NULL REFERENCES cases(id),
    case_seq    INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    target_id   TEXT,
    occurred_us INTEGER NOT NULL,
    recorded_us INTEGER NOT NULL,
    by_user     TEXT NOT NULL,
    on_device   TEXT NOT NULL,
    payload     TEXT NOT NULL,
    prev_hash   BLOB NOT NULL,
    hash        BLOB NOT NULL,
    UNIQUE (case_id, case_seq)
) STRICT;
CREATE INDEX entries_case_kind ON entries(case_id, kind, case_seq);

CREATE TABLE channels (
    num                  INTEGER PRIMARY KEY,
    id                   TEXT NOT NULL UNIQUE,
    case_id              TEXT NOT NULL REFERENCES cases(id),
    parameter            TEXT NOT NULL,
    unit                 TEXT NOT NULL,
    source_device        TEXT NOT NULL,
    expected_interval_ms INTEGER NOT NULL,
    created_us           INTEGER NOT NULL
) STRICT;

-- Telemetry in compact chunks (store/codec.rs). Level 0 holds the latest few samples of a
-- channel as they are committed; once enough accumulate they are merged into one level-1 chunk
-- in the same transaction. Summaries (over samples that count) let trends skip decoding.
CREATE TABLE telemetry_chunks (
    id          INTEGER PRIMARY KEY,
    channel     INTEGER NOT NULL REFERENCES channels(num),
    level       INTEGER NOT NULL CHECK (level IN (0, 1)),
    t_first     INTEGER NOT NULL,
    t_last      INTEGER NOT NULL,
    seq_first   INTEGER NOT NULL,
    seq_last    INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    n_counted   INTEGER NOT NULL,
    vmin        REAL,
    vmax        REAL,
    vsum        REAL,
    data        BLOB NOT NULL
) STRICT;
CREATE INDEX telemetry_chunks_channel_time ON telemetry_chunks(channel, t_last);
CREATE INDEX telemetry_chunks_level0 ON telemetry_chunks(channel) WHERE level = 0;

-- The record is append-only: the database itself refuses edits and deletions. The one
-- exception is merging level-0 telemetry chunks into a level-1 chunk (same samples, same
-- transaction).
CREATE TRIGGER patients_no_update BEFORE UPDATE ON patients
    BEGIN SELECT RAISE(ABORT, 'patients are append-only'); END;
CREATE TRIGGER patients_no_delete BEFORE DELETE ON patients
    BEGIN SELECT RAISE(ABORT, 'patients are append-only'); END;
CREATE TRIGGER patient_versions_no_update BEFORE UPDATE ON patient_versions
    BEGIN SELECT RAISE(ABORT, 'patient versions are append-only'); END;
CREATE TRIGGER patient_versions_no_delete BEFORE DELETE ON patient_versions
    BEGIN SELECT RAISE(ABORT, 'patient versions are append-only'); END;
CREATE TRIGGER cases_no_update BEFORE UPDATE ON cases
    BEGIN SELECT RAISE(ABORT, 'cases are append-only'); END;
CREATE TRIGGER cases_no_delete BEFORE DELETE ON cases
    BEGIN SELECT RAISE(ABORT, 'cases are append-only'); END;
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
    BEGIN SELECT RAISE(ABORT, 'timeline entries are append-only'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
    BEGIN SELECT RAISE(ABORT, 'timeline entries are append-only'); END;
CREATE TRIGGER channels_no_update BEFORE UPDATE ON channels
    BEGIN SELECT RAISE(ABORT, 'channels are append-only'); END;
CREATE TRIGGER channels_no_delete BEFORE DELETE ON channels
    BEGIN SELECT RAISE(ABORT, 'channels are append-only'); END;
CREATE TRIGGER telemetry_no_update BEFORE UPDATE ON telemetry_chunks
    BEGIN SELECT RAISE(ABORT, 'telemetry is append-only'); END;
CREATE TRIGGER telemetry_no_delete BEFORE DELETE ON telemetry_chunks WHEN OLD.level <> 0
    BEGIN SELECT RAISE(ABORT, 'telemetry is append-only'); END;
"#,
        then: None,
    },
    Migration {
        version: 2,
        name: "2026-11-25 checklist templates, every imported version kept",
        sql: r#"
CREATE TABLE checklist_templates (
    digest      TEXT PRIMARY KEY,
    id          TEXT NOT NULL,
    version     TEXT NOT NULL,
    source      TEXT NOT NULL,
    imported_us INTEGER NOT NULL,
    UNIQUE (id, version)
) STRICT;
CREATE TRIGGER checklist_templates_no_update BEFORE UPDATE ON checklist_templates
    BEGIN SELECT RAISE(ABORT, 'checklist templates are append-only'); END;
CREATE TRIGGER checklist_templates_no_delete BEFORE DELETE ON checklist_templates
    BEGIN SELECT RAISE(ABORT, 'checklist templates are append-only'); END;
"#,
        then: None,
    },
    Migration {
        version: 3,
        name: "2026-11-26 devices by identity, connection sessions with clock offset",
        sql: r#"
-- A device is known by the key derived from its Device Information, never by its address.
CREATE TABLE devices (
    key         TEXT PRIMARY KEY,
    identity    TEXT NOT NULL,
    first_us    INTEGER NOT NULL
) STRICT;
-- One row per connection: the identity as read then (firmware may change) and the clock offset
-- (device minus tablet, ms) with where it came from.
CREATE TABLE device_sessions (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    device_key      TEXT NOT NULL REFERENCES devices(key),
    connected_us    INTEGER NOT NULL,
    identity        TEXT NOT NULL,
    clock_offset_ms INTEGER,
    offset_source   TEXT
) STRICT;
CREATE TRIGGER devices_no_update BEFORE UPDATE ON devices
    BEGIN SELECT RAISE(ABORT, 'devices are append-only'); END;
CREATE TRIGGER devices_no_delete BEFORE DELETE ON devices
    BEGIN SELECT RAISE(ABORT, 'devices are append-only'); END;
CREATE TRIGGER device_sessions_no_update BEFORE UPDATE ON device_sessions
    BEGIN SELECT RAISE(ABORT, 'device sessions are append-only'); END;
CREATE TRIGGER device_sessions_no_delete BEFORE DELETE ON device_sessions
    BEGIN SELECT RAISE(ABORT, 'device sessions are append-only'); END;
"#,
        then: None,
    },
    Migration {
        version: 4,
        name: "2026-11-26 raw device notifications kept next to the samples decoded from them",
        sql: r#"
-- One row per notification (not per value): the bytes as received, so a corrected decoder can
-- re-run. Written in the same transaction as the samples decoded from it.
CREATE TABLE device_frames (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id        TEXT NOT NULL REFERENCES cases(id),
    device         TEXT NOT NULL,
    characteristic TEXT NOT NULL,
    received_us    INTEGER NOT NULL,
    raw            BLOB NOT NULL
) STRICT;
CREATE INDEX device_frames_by_case ON device_frames (case_id, received_us);
CREATE TRIGGER device_frames_no_update BEFORE UPDATE ON device_frames
    BEGIN SELECT RAISE(ABORT, 'device frames are append-only'); END;
CREATE TRIGGER device_frames_no_delete BEFORE DELETE ON device_frames
    BEGIN SELECT RAISE(ABORT, 'device frames are append-only'); END;
"#,
        then: None,
    },
    Migration {
        version: 5,
        name: "2026-11-26 sync outbox, its events, planning scans, server patient ids",
        sql: r#"
-- What leaves this device: one row per operation, payload fixed when planned. Never updated or
-- deleted; the state of a row is its newest event.
CREATE TABLE sync_outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    op_id         TEXT NOT NULL UNIQUE,
    case_id       TEXT NOT NULL REFERENCES cases(id),
    source        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_key  TEXT NOT NULL,
    operation     TEXT NOT NULL CHECK (operation IN ('create', 'update')),
    payload       TEXT NOT NULL,
    created_us    INTEGER NOT NULL,
    by_user       TEXT NOT NULL,
    on_device     TEXT NOT NULL,
    UNIQUE (source, resource_key, operation)
) STRICT;
CREATE INDEX sync_outbox_key ON sync_outbox (resource_key, seq);

CREATE TABLE sync_events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    op_seq         INTEGER NOT NULL REFERENCES sync_outbox(seq),
    state          TEXT NOT NULL CHECK (state IN ('retry', 'acked', 'rejected', 'conflict')),
    at_us          INTEGER NOT NULL,
    detail         TEXT,
    server_id      TEXT,
    server_version TEXT
) STRICT;
CREATE INDEX sync_events_op ON sync_events (op_seq, seq);
CREATE INDEX sync_events_state ON sync_events (state, seq);

-- How far each case has been planned: entries up to case_seq, trends before trend_to_ms.
CREATE TABLE sync_scans (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id     TEXT NOT NULL REFERENCES cases(id),
    case_seq    INTEGER NOT NULL,
    trend_to_ms INTEGER NOT NULL,
    at_us       INTEGER NOT NULL
) STRICT;
CREATE INDEX sync_scans_case ON sync_scans (case_id, seq);

-- The hospital's Patient id found for a local patient (looked up by MRN, never created in
-- production).
CREATE TABLE sync_patients (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    server_id  TEXT NOT NULL,
    at_us      INTEGER NOT NULL
) STRICT;

CREATE TRIGGER sync_outbox_no_update BEFORE UPDATE ON sync_outbox
    BEGIN SELECT RAISE(ABORT, 'the sync outbox is append-only'); END;
CREATE TRIGGER sync_outbox_no_delete BEFORE DELETE ON sync_outbox
    BEGIN SELECT RAISE(ABORT, 'the sync outbox is append-only'); END;
CREATE TRIGGER sync_events_no_update BEFORE UPDATE ON sync_events
    BEGIN SELECT RAISE(ABORT, 'sync events are append-only'); END;
CREATE TRIGGER sync_events_no_delete BEFORE DELETE ON sync_events
    BEGIN SELECT RAISE(ABORT, 'sync events are append-only'); END;
CREATE TRIGGER sync_scans_no_update BEFORE UPDATE ON sync_scans
    BEGIN SELECT RAISE(ABORT, 'sync scans are append-only'); END;
CREATE TRIGGER sync_scans_no_delete BEFORE DELETE ON sync_scans
    BEGIN SELECT RAISE(ABORT, 'sync scans are append-only'); END;
CREATE TRIGGER sync_patients_no_update BEFORE UPDATE ON sync_patients
    BEGIN SELECT RAISE(ABORT, 'sync patients are append-only'); END;
CREATE TRIGGER sync_patients_no_delete BEFORE DELETE ON sync_patients
    BEGIN SELECT RAISE(ABORT, 'sync patients are append-only'); END;
"#,
        then: None,
    },
    Migration {
        version: 6,
        name: "2026-11-26 pull for the on-call view: followed patients, pulled versions, cursors",
        sql: r#"
-- Patients this device follows on call, by MRN; the newest row per MRN decides.
CREATE TABLE sync_follows (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    mrn_system TEXT NOT NULL,
    mrn_value  TEXT NOT NULL,
    follow     INTEGER NOT NULL CHECK (follow IN (0, 1)),
    by_user    TEXT NOT NULL,
    on_device  TEXT NOT NULL,
    at_us      INTEGER NOT NULL
) STRICT;

-- Every resource version pulled from the server, once (deduplicated by type, id and version).
-- Pulled data lives only here: it never replaces a local record. `held` = 1 when this device
-- had unsettled changes to the same record at pull time: that version is not shown.
CREATE TABLE sync_pulled (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    mrn_system    TEXT NOT NULL,
    mrn_value     TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    server_id     TEXT NOT NULL,
    version_id    TEXT NOT NULL,
    last_updated  TEXT NOT NULL,
    record_key    TEXT,
    held          INTEGER NOT NULL CHECK (held IN (0, 1)),
    body          TEXT NOT NULL,
    pulled_us     INTEGER NOT NULL,
    UNIQUE (resource_type, server_id, version_id)
) STRICT;
CREATE INDEX sync_pulled_patient ON sync_pulled (mrn_system, mrn_value, resource_type, server_id, seq);

-- The newest meta.lastUpdated seen per followed patient and resource type.
CREATE TABLE sync_cursors (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    mrn_system    TEXT NOT NULL,
    mrn_value     TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    cursor        TEXT NOT NULL,
    at_us         INTEGER NOT NULL
) STRICT;
CREATE INDEX sync_cursors_key ON sync_cursors (mrn_system, mrn_value, resource_type, seq);

CREATE TRIGGER sync_follows_no_update BEFORE UPDATE ON sync_follows
    BEGIN SELECT RAISE(ABORT, 'followed patients are append-only'); END;
CREATE TRIGGER sync_follows_no_delete BEFORE DELETE ON sync_follows
    BEGIN SELECT RAISE(ABORT, 'followed patients are append-only'); END;
CREATE TRIGGER sync_pulled_no_update BEFORE UPDATE ON sync_pulled
    BEGIN SELECT RAISE(ABORT, 'pulled versions are append-only'); END;
CREATE TRIGGER sync_pulled_no_delete BEFORE DELETE ON sync_pulled
    BEGIN SELECT RAISE(ABORT, 'pulled versions are append-only'); END;
CREATE TRIGGER sync_cursors_no_update BEFORE UPDATE ON sync_cursors
    BEGIN SELECT RAISE(ABORT, 'pull cursors are append-only'); END;
CREATE TRIGGER sync_cursors_no_delete BEFORE DELETE ON sync_cursors
    BEGIN SELECT RAISE(ABORT, 'pull cursors are append-only'); END;
"#,
        then: None,
    },
    Migration {
        version: 7,
        name: "2026-12-01 refused device notifications kept with their reason",
        sql: r#"
-- A notification that did not decode is kept with why (NULL: it decoded), so a fixed decoder
-- can re-run over it and a reviewer can see what the device sent.
ALTER TABLE device_frames ADD COLUMN refused TEXT;
"#,
        then: None,
    },
    Migration {
        version: 8,
        name: "2026-12-01 a server's Bundle size limit, learned from a 413, kept across restarts",
        sql: r#"
-- How many operations one transaction Bundle may hold for a server (base URL), as a 413 taught
-- it. The newest row per server counts; a restart starts at that size, not at the setting.
CREATE TABLE sync_limits (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    server        TEXT NOT NULL,
    operations    INTEGER NOT NULL CHECK (operations > 0),
    at_us         INTEGER NOT NULL
) STRICT;
CREATE INDEX sync_limits_server ON sync_limits (server, seq);
CREATE TRIGGER sync_limits_no_update BEFORE UPDATE ON sync_limits
    BEGIN SELECT RAISE(ABORT, 'learned size limits are append-only'); END;
CREATE TRIGGER sync_limits_no_delete BEFORE DELETE ON sync_limits
    BEGIN SELECT RAISE(ABORT, 'learned size limits are append-only'); END;
"#,
        then: None,
    },
    Migration {
        version: 9,
        name: "2026-12-02 keyed seals over the append-only tables, the audit, insert guards",
        sql: r#"
-- Security and integrity events (findings of the checks, later sign-in and settings changes).
CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at_us      INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    case_id    TEXT,
    subject    TEXT,
    detail     TEXT NOT NULL,
    by_user    TEXT NOT NULL,
    on_device  TEXT NOT NULL
) STRICT;
CREATE INDEX audit_case ON audit (case_id, seq);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit is append-only'); END;

-- Which key the seals are made with: HMAC(seal key, a fixed label). A different key is refused
-- at open, before anything is written, instead of reporting every seal as broken.
CREATE TABLE key_check (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    mac  BLOB NOT NULL
) STRICT;
CREATE TRIGGER key_check_no_update BEFORE UPDATE ON key_check
    BEGIN SELECT RAISE(ABORT, 'the key check is written once'); END;
CREATE TRIGGER key_check_no_delete BEFORE DELETE ON key_check
    BEGIN SELECT RAISE(ABORT, 'the key check is written once'); END;

-- Keyed seals over appended rows (store/seal.rs): one per transaction, table and scope.
CREATE TABLE seals (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl        TEXT NOT NULL,
    scope      TEXT NOT NULL,
    first_row  INTEGER NOT NULL,
    last_row   INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    at_us      INTEGER NOT NULL,
    mac        BLOB NOT NULL
) STRICT;
CREATE INDEX seals_table ON seals (tbl, last_row);
CREATE INDEX seals_scope ON seals (scope, seq);
CREATE INDEX seals_range ON seals (tbl, scope, first_row);
CREATE TRIGGER seals_no_update BEFORE UPDATE ON seals
    BEGIN SELECT RAISE(ABORT, 'seals are append-only'); END;
-- The one deletion allowed: the seal of a level-0 chunk once a merge has removed the chunk.
CREATE TRIGGER seals_no_delete BEFORE DELETE ON seals
    WHEN NOT (OLD.tbl = 'telemetry_chunks' AND OLD.scope = 'chunk0'
              AND NOT EXISTS (SELECT 1 FROM telemetry_chunks WHERE id = OLD.first_row))
    BEGIN SELECT RAISE(ABORT, 'seals are append-only'); END;
"#,
        then: Some(seal_existing),
    },
    Migration {
        version: 10,
        name: "2026-12-02 users on the device: every version of a user, PIN hashes",
        sql: r#"
-- Every version of a user (added, role changed, PIN reset, deactivated); the newest per
-- user_id is in force. PINs are Argon2id hashes (PHC strings), never the PIN.
CREATE TABLE users (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    pin_hash   TEXT NOT NULL,
    active     INTEGER NOT NULL CHECK (active IN (0, 1)),
    at_us      INTEGER NOT NULL,
    by_user    TEXT NOT NULL,
    on_device  TEXT NOT NULL
) STRICT;
CREATE INDEX users_id ON users (user_id, seq);
CREATE INDEX audit_subject ON audit (subject, seq);
CREATE TRIGGER users_no_update BEFORE UPDATE ON users
    BEGIN SELECT RAISE(ABORT, 'users are append-only: a change is a new version'); END;
CREATE TRIGGER users_no_delete BEFORE DELETE ON users
    BEGIN SELECT RAISE(ABORT, 'users are append-only: a change is a new version'); END;
"#,
        // Seals only the tables that exist at this version (a later table is sealed by its own
        // migration).
        then: Some(|tx, keys| {
            seal::create_guards(tx, &["users"])?;
            seal::seal_tables(tx, keys, |t| seal::GUARDED.contains(&t) || t == "users")
        }),
    },
    Migration {
        version: 11,
        name: "2026-12-02 trend summaries read from one index",
        sql: r#"
-- A trend over a long run reads only the chunk summaries. Rows in telemetry_chunks carry their
-- sample data, so the summaries of one channel are spread over most of the table's pages, and
-- with encryption every page read is also a page decrypted. This index holds the summaries
-- themselves, a few hundred entries to a page, so a whole-run trend reads the index alone.
-- It replaces the (channel, t_last) index, which is its prefix.
CREATE INDEX telemetry_chunks_summary
    ON telemetry_chunks (channel, t_last, t_first, n_counted, vmin, vmax, vsum);
DROP INDEX telemetry_chunks_channel_time;
"#,
        then: None,
    },
    Migration {
        version: 12,
        name: "2026-12-06 handover notes written on call for runs followed from the server",
        sql: r#"
-- A handover note written on this device for a run it follows from the hospital's server (the
-- run is not a local case, so the note is not a timeline entry). Append-only and sealed; `id`
-- is the note's business identifier on the server, chosen when the form opened, so a repeated
-- tap or a lost answer never makes two notes.
CREATE TABLE remote_notes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    mrn_system TEXT NOT NULL,
    mrn_value  TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    demo       INTEGER NOT NULL CHECK (demo IN (0, 1)),
    text       TEXT NOT NULL,
    written_us INTEGER NOT NULL,
    by_user    TEXT NOT NULL,
    on_device  TEXT NOT NULL
) STRICT;
CREATE INDEX remote_notes_patient ON remote_notes (mrn_system, mrn_value, seq);

-- What happened to each try to send one (none or `retry` = waiting; `acked`, `rejected` settled).
CREATE TABLE remote_note_sends (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    note_seq   INTEGER NOT NULL REFERENCES remote_notes(seq),
    state      TEXT NOT NULL CHECK (state IN ('retry', 'acked', 'rejected')),
    at_us      INTEGER NOT NULL,
    detail     TEXT,
    server_id  TEXT
) STRICT;
CREATE INDEX remote_note_sends_note ON remote_note_sends (note_seq, seq);

CREATE TRIGGER remote_notes_no_update BEFORE UPDATE ON remote_notes
    BEGIN SELECT RAISE(ABORT, 'handover notes are append-only'); END;
CREATE TRIGGER remote_notes_no_delete BEFORE DELETE ON remote_notes
    BEGIN SELECT RAISE(ABORT, 'handover notes are append-only'); END;
CREATE TRIGGER remote_note_sends_no_update BEFORE UPDATE ON remote_note_sends
    BEGIN SELECT RAISE(ABORT, 'note sends are append-only'); END;
CREATE TRIGGER remote_note_sends_no_delete BEFORE DELETE ON remote_note_sends
    BEGIN SELECT RAISE(ABORT, 'note sends are append-only'); END;
"#,
        then: Some(|tx, keys| {
            seal::create_guards(tx, &["remote_notes"])?;
            seal::seal_new(tx, keys)
        }),
    },
];

/// Migration 9's step: guards against replacing inserts; the unkeyed entry chains checked (a
/// break becomes an audit finding, not a silent re-seal); then every existing row sealed.
fn seal_existing(tx: &Transaction<'_>, keys: &StoreKeys) -> Result<(), StoreError> {
    seal::create_guards(tx, seal::GUARDED)?;
    tx.execute(
        "INSERT INTO key_check (id, mac) VALUES (1, ?1)",
        [keys.check().as_slice()],
    )?;
    let cases: Vec<String> = tx
        .prepare("SELECT id FROM cases ORDER BY rowid")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut findings = Vec::new();
    for c in cases {
        let Ok(case) = c.parse() else { continue };
        if let Err(e) = super::entries::check_chain(tx, case) {
            findings.push(seal::Finding {
                case: Some(case),
                what: format!("the timeline of case {case}"),
                how: format!("was already altered before it was sealed ({e})"),
            });
        }
    }
    seal::record_findings(tx, &findings)?;
    seal::seal_tables(tx, keys, |t| seal::GUARDED.contains(&t))
}

/// The schema version this build writes.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map(|m| m.version).unwrap_or(0)
}

/// Apply every pending migration, each in its own transaction. Refuses a database written by a
/// newer build rather than guessing at its schema.
pub(super) fn migrate(conn: &mut Connection, keys: &StoreKeys) -> Result<u32, StoreError> {
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
        if let Some(then) = m.then {
            then(&tx, keys)?;
        }
        tx.commit()?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied schema migration"
        );
    }
    Ok(latest)
}
