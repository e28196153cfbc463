//! The only module with SQL. One actor thread owns the `rusqlite::Connection` (it is `Send`, not
//! `Sync`); everyone else holds a cheap, cloneable [`Store`] handle and awaits typed calls. Every
//! write is one transaction; the database is in WAL mode with `synchronous = FULL`, so a call
//! that returned `Ok` survives a crash or power loss.

mod cases;
mod checklists;
pub mod codec;
mod devices;
mod entries;
mod migrations;
mod pull;
mod sync;
mod telemetry;

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
pub use pull::{PullAck, Pulled, PulledNew};
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
    /// Open (or create) the database file, apply migrations, start the actor thread.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = {
            let _one_at_a_time = open_close_lock();
            Connection::open(path).map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?
        };
        Self::start(conn, Some(path.to_path_buf()))
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: PathBuf::from(":memory:"),
            source,
        })?;
        Self::start(conn, None)
    }

    fn start(mut conn: Connection, path: Option<PathBuf>) -> Result<Self, StoreError> {
        configure(&conn)?;
        migrations::migrate(&mut conn)?;
        let mut db = Db {
            conn,
            channels: HashMap::new(),
            heads: HashMap::new(),
        };
        // Bounded: a runaway producer waits instead of growing memory without limit.
        let (jobs, mut rx) = mpsc::channel::<Job>(1024);
        std::thread::Builder::new()
            .name("pumpside-store".into())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    job(&mut db);
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

fn configure(conn: &Connection) -> Result<(), StoreError> {
    // WAL: readers never block the writer. FULL: a returned commit is on disk.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if mode != "wal" && mode != "memory" {
        tracing::warn!(mode, "database did not switch to WAL");
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
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
