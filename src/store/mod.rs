//! The only module with SQL. One actor thread owns the `rusqlite::Connection` (it is `Send`, not
//! `Sync`); everyone else holds a cheap, cloneable [`Store`] handle and awaits typed calls. Every
//! write is one transaction; the database is in WAL mode with `synchronous = FULL`, so a call
//! that returned `Ok` survives a crash or power loss.

mod cases;
mod checklists;
mod cipher;
pub mod codec;
mod devices;
mod entries;
mod migrations;
mod notes;
mod pull;
mod seal;
mod sync;
mod telemetry;
mod users;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::domain::telemetry::StreamHead;
use crate::domain::{CaseId, Channel, ChannelId, ValidationError};

pub use cases::NewCase;
pub use devices::DeviceSession;
pub use entries::ChainReport;
pub use migrations::latest_version;
pub use notes::{NoteOutcome, NoteState, RemoteNote, RemoteNoteNew};
pub use pull::{PullAck, Pulled, PulledNew};
pub use seal::{Finding, IntegrityReport, StoreKeys};
pub use users::{AuditNew, UserRecord};

pub use sync::{
    OpSource, Operation, OutboxNew, OutboxRow, OutboxState, OutboxSummary, Outcome, SyncWork,
};
pub use telemetry::{AppendAck, ChannelExtremes, StoredFrame, TelemetryStats};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database at {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("schema migration {version} ({name}) failed: {source}")]
    Migration {
        version: u32,
        name: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the database has schema version {found}, newer than this build supports ({supported}); \
         update Pumpside rather than risk the record"
    )]
    NewerSchema { found: u32, supported: u32 },
    #[error(
        "the database {path} was encrypted and sealed with another device key; nothing was \
         written to it. Restore this device's key (or open the file on the device it came from)"
    )]
    WrongKey { path: String },
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("unknown telemetry channel {0}")]
    UnknownChannel(ChannelId),
    #[error("a patient with MRN {system}|{value} already exists")]
    DuplicateMrn { system: String, value: String },
    #[error("the record of case {case} has been altered at entry {case_seq} ({why})")]
    Tampered {
        case: CaseId,
        case_seq: u64,
        why: String,
    },
    #[error(
        "{action} refused: the record of case {case} was changed outside Pumpside ({}); the \
         findings are in the case's audit",
        findings.join("; ")
    )]
    Altered {
        case: CaseId,
        action: &'static str,
        findings: Vec<String>,
    },
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database worker has stopped")]
    Closed,
}

impl From<rusqlite::types::FromSqlError> for StoreError {
    fn from(e: rusqlite::types::FromSqlError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl From<codec::CorruptChunk> for StoreError {
    fn from(e: codec::CorruptChunk) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// What the actor thread owns: the connection and caches that only it touches.
pub(crate) struct Db {
    conn: Connection,
    /// Channels by id, with their row number and whether their case is a demo.
    channels: HashMap<ChannelId, (i64, Channel, bool)>,
    /// The last accepted sample of each channel's stream (loaded on first use).
    heads: HashMap<ChannelId, StreamHead>,
    /// The seal key (store/seal.rs).
    keys: StoreKeys,
    /// What the checks at open found (also kept in the audit table).
    at_open: Vec<Finding>,
    /// Per case, the newest seal a check found sound (its number and MAC): the check before an
    /// upload continues from there.
    verified: HashMap<CaseId, (i64, [u8; 32])>,
    /// `PRAGMA data_version` as of our last look: it changes only when another connection
    /// commits to the file, which only someone outside Pumpside does.
    data_version: i64,
}

type Job = Box<dyn FnOnce(&mut Db) + Send>;

/// Opening and closing a database file happen one at a time in this process. SQLite's unix VFS
/// deadlocked (seen once in the integration tests) when one thread closed a WAL database while
/// another opened the same file: the closer held the file's lock mutex and waited for the VFS's
/// global mutex, the opener the other way round. Opens and closes are rare (once per launch in
/// the app), so serialising them costs nothing and removes the race.
static OPEN_CLOSE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn open_close_lock() -> std::sync::MutexGuard<'static, ()> {
    OPEN_CLOSE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A handle to the store actor. Clone freely; the actor stops when the last handle is dropped.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Open (or create) the database file, apply migrations, check its protections and seals
    /// (see [`Store::outside_findings`]), start the actor thread. `keys` must be the same for
    /// every open of a file: with other keys every seal fails to verify.
    pub fn open(path: &Path, keys: &StoreKeys) -> Result<Self, StoreError> {
        let conn = {
            let _one_at_a_time = open_close_lock();
            let plain = cipher::is_plaintext(path)
                .map_err(|e| StoreError::Corrupt(format!("cannot read {}: {e}", path.display())))?;
            if plain && keys.cipher.is_some() {
                cipher::encrypt_plaintext(path, keys)?;
            }
            let conn = Connection::open(path).map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?;
            cipher::unlock(&conn, keys, path)?;
            conn
        };
        Self::start(conn, Some(path.to_path_buf()), keys.clone())
    }

    /// A private in-memory database with fresh keys, for tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: PathBuf::from(":memory:"),
            source,
        })?;
        Self::start(conn, None, StoreKeys::random())
    }

    fn start(
        mut conn: Connection,
        path: Option<PathBuf>,
        keys: StoreKeys,
    ) -> Result<Self, StoreError> {
        configure(&conn)?;
        if seal::key_matches(&conn, &keys)? == Some(false) {
            return Err(StoreError::WrongKey {
                path: path
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| ":memory:".into()),
            });
        }
        migrations::migrate(&mut conn, &keys)?;
        let at_open = checks_at_open(&mut conn, &keys)?;
        let mut db = Db {
            conn,
            channels: HashMap::new(),
            heads: HashMap::new(),
            keys,
            at_open,
            verified: HashMap::new(),
            data_version: 0,
        };
        db.data_version = data_version(&db.conn)?;
        // Bounded: a runaway producer waits instead of growing memory without limit.
        let (jobs, mut rx) = mpsc::channel::<Job>(1024);
        std::thread::Builder::new()
            .name("pumpside-store".into())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    if let Err(e) = notice_foreign_writes(&mut db) {
                        tracing::error!(error = %e, "cannot check the file for outside writes");
                    }
                    job(&mut db);
                    // Every write seals what it appended in its own transaction; in tests a
                    // write that forgot is caught at once rather than reported at next start.
                    #[cfg(debug_assertions)]
                    if let Ok(missed) = seal::unsealed_tail(&db.conn) {
                        assert!(
                            missed.is_empty(),
                            "a store write left rows unsealed: {missed:?}"
                        );
                    }
                }
                let _one_at_a_time = open_close_lock();
                drop(db);
                tracing::debug!("store actor stopped");
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot start the store thread: {e}")))?;
        Ok(Self { jobs, path })
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Run `f` on the actor thread and await its result.
    async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Db) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(move |db| {
                // The caller may have gone away (its screen closed); the write still committed.
                let _ = reply.send(f(db));
            }))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Run `f` and block the calling (non-async) thread until it is done.
    fn call_blocking<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Db) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .blocking_send(Box::new(move |db| {
                let _ = reply.send(f(db));
            }))
            .map_err(|_| StoreError::Closed)?;
        answer.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        self.call(|db| Ok(db.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .await
    }

    /// What the checks at open, and again whenever another connection wrote to the file, found:
    /// protections dropped or changed, rows appended outside Pumpside. Empty for a file only
    /// Pumpside wrote.
    pub async fn outside_findings(&self) -> Result<Vec<Finding>, StoreError> {
        self.call(|db| Ok(db.at_open.clone())).await
    }

    /// Verify every seal of the record and look for rows no seal covers (read-only; slow on a
    /// large record, so the app runs it in the background after start). New findings are kept
    /// in the audit.
    pub async fn verify_record(&self) -> Result<IntegrityReport, StoreError> {
        self.call(|db| verify_and_record(db, seal::Reach::Everything))
            .await
    }

    /// Verify one case's record: its content chain and every seal of its scope (entries,
    /// channels, level-1 telemetry chunks, device notifications). Run before signing and
    /// upload; the report's `head` is the case's verification code.
    pub async fn verify_case(&self, case: CaseId) -> Result<IntegrityReport, StoreError> {
        self.call(move |db| {
            let mut report = verify_and_record(db, seal::Reach::Case(case))?;
            remember_sound(db, case, &report);
            if let Err(e) = entries::check_chain(&db.conn, case) {
                report.findings.push(Finding {
                    case: Some(case),
                    what: format!("the timeline of case {case}"),
                    how: e.to_string(),
                });
            }
            Ok(report)
        })
        .await
    }

    /// The check before an upload: the case's seals added since the last sound check (all of
    /// them the first time), rows appended outside Pumpside, and any finding already kept for
    /// the case. Cheap on a weeks-long run; the full check runs at start and before signing.
    pub async fn check_case(&self, case: CaseId) -> Result<Vec<Finding>, StoreError> {
        self.call(move |db| {
            let reach = match db.verified.get(&case) {
                Some((seq, mac)) => seal::Reach::CaseSince(case, *seq, *mac),
                None => seal::Reach::Case(case),
            };
            let report = verify_and_record(db, reach)?;
            remember_sound(db, case, &report);
            let mut findings = report.findings;
            for kept in audit_events(&db.conn, Some("integrity"), Some(case))? {
                if kept.case == Some(case) && !findings.iter().any(|f| f.to_string() == kept.detail)
                {
                    findings.push(Finding {
                        case: Some(case),
                        what: format!("case {case}"),
                        how: format!(
                            "was found altered on {}: {}",
                            kept.at.format("%Y-%m-%d %H:%M UTC"),
                            kept.detail
                        ),
                    });
                }
            }
            Ok(findings)
        })
        .await
    }

    /// Every integrity finding kept in the audit, oldest first (all cases, or one case and the
    /// findings that concern the whole record).
    pub async fn integrity_findings(
        &self,
        case: Option<CaseId>,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.call(move |db| audit_events(&db.conn, Some("integrity"), case))
            .await
    }

    /// The audit of a case (who did what, when, on which device), with the events that concern
    /// the whole record.
    pub async fn audit(&self, case: Option<CaseId>) -> Result<Vec<AuditEvent>, StoreError> {
        self.call(move |db| audit_events(&db.conn, None, case))
            .await
    }

    /// `PRAGMA integrity_check`: "ok" for a sound file.
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        self.call(|db| {
            Ok(db
                .conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
        })
        .await
    }
}

/// At every open, before anything is written: the triggers as this build made them (a dropped
/// or changed one is restored), and no rows appended after the newest seal. What is found is
/// recorded in the audit once and the rows are then sealed, so the finding, not the rows' later
/// seal, is what a reviewer sees.
fn checks_at_open(conn: &mut Connection, keys: &StoreKeys) -> Result<Vec<Finding>, StoreError> {
    let tx = conn.transaction()?;
    let mut findings = seal::check_triggers(&tx)?;
    findings.extend(seal::unsealed_tail(&tx)?);
    if !findings.is_empty() {
        tracing::error!(
            findings = findings.len(),
            "the record was changed outside Pumpside; see the audit"
        );
        seal::record_findings(&tx, &findings)?;
    }
    seal::commit(tx, keys)?;
    Ok(findings)
}

fn data_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
}

/// Before each job: if another connection committed to the file since our last look (someone
/// with the file and a SQLite tool while the app runs), run the checks of an open again before
/// anything of ours is written and sealed, and forget which cases were checked, so that the
/// next check of a case recomputes all of it.
fn notice_foreign_writes(db: &mut Db) -> Result<(), StoreError> {
    let now = data_version(&db.conn)?;
    if now == db.data_version {
        return Ok(());
    }
    db.verified.clear();
    let found = checks_at_open(&mut db.conn, &db.keys)?;
    db.at_open.extend(found);
    db.data_version = data_version(&db.conn)?;
    Ok(())
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    // WAL: readers never block the writer. FULL: a returned commit is on disk. A 32 MiB page
    // cache (allocated only as pages are read): with encryption a page that stays in the cache
    // is not decrypted again when the live screen asks for the same trend a second later.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if mode != "wal" && mode != "memory" {
        tracing::warn!(mode, "database did not switch to WAL");
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;
         PRAGMA recursive_triggers = ON; PRAGMA cache_size = -32768;",
    )?;
    Ok(())
}

fn from_micros(us: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_micros(us)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {us}")))
}

fn parse_id<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what} {s:?}")))
}

fn remember_sound(db: &mut Db, case: CaseId, report: &IntegrityReport) {
    match (report.findings.is_empty(), report.head_seq, report.head) {
        (true, Some(seq), Some(mac)) => {
            db.verified.insert(case, (seq, mac));
        }
        (true, ..) => {}
        (false, ..) => {
            db.verified.remove(&case);
        }
    }
}

fn verify_and_record(db: &mut Db, reach: seal::Reach) -> Result<IntegrityReport, StoreError> {
    let report = seal::verify(&db.conn, &db.keys, reach)?;
    if !report.findings.is_empty() {
        let tx = db.conn.transaction()?;
        seal::record_findings(&tx, &report.findings)?;
        seal::commit(tx, &db.keys)?;
    }
    Ok(report)
}

/// One row of the audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub case: Option<CaseId>,
    pub detail: String,
    pub by: String,
    pub on_device: String,
}

fn audit_events(
    conn: &Connection,
    kind: Option<&str>,
    case: Option<CaseId>,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT at_us, kind, case_id, detail, by_user, on_device FROM audit
          WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR case_id IS NULL OR case_id = ?2)
          ORDER BY seq",
    )?;
    let rows = stmt.query_map(rusqlite::params![kind, case.map(|c| c.to_string())], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for r in rows {
        let (at, kind, case, detail, by, on_device) = r?;
        out.push(AuditEvent {
            at: from_micros(at)?,
            kind,
            case: case.map(|c| parse_id("audit case", &c)).transpose()?,
            detail,
            by,
            on_device,
        });
    }
    Ok(out)
}
