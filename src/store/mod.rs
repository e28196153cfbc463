//! The only module with SQL. One actor thread owns the `rusqlite::Connection` (it is `Send`, not
//! `Sync`); everyone else holds a cheap, cloneable [`Store`] handle and awaits typed calls. Every
//! write is one transaction; the database is in WAL mode with `synchronous = FULL`, so a commit
//! that returned survives a crash or power loss.

mod migrations;

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot};

use crate::domain::{
    Author, CaseId, CaseKind, CaseStatus, CaseSummary, EventId, EventKind, TimelineEvent,
};

pub use migrations::latest_version;

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
    #[error("unknown case {0}")]
    UnknownCase(CaseId),
    #[error("stored row is unreadable: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database worker has stopped")]
    Closed,
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

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

/// A new case as the caller describes it.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub kind: CaseKind,
    pub label: String,
    pub is_demo: bool,
    pub status: CaseStatus,
}

impl Store {
    /// Open (or create) the database file, apply migrations, start the actor thread.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
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
        // Bounded: a runaway producer waits instead of growing memory without limit.
        let (jobs, mut rx) = mpsc::channel::<Job>(1024);
        std::thread::Builder::new()
            .name("pumpside-store".into())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    job(&mut conn);
                }
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
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(move |conn| {
                // The caller may have gone away (its screen closed); the write still committed.
                let _ = reply.send(f(conn));
            }))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        self.call(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .await
    }

    /// Create a case and its first status entry in one transaction.
    pub async fn create_case(&self, new: NewCase, by: Author) -> Result<CaseSummary, StoreError> {
        self.call(move |c| {
            let id = CaseId::new();
            let now = Utc::now();
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO cases (id, kind, label, is_demo, created_us, created_by, created_on)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id.to_string(),
                    new.kind.code(),
                    new.label,
                    new.is_demo,
                    now.timestamp_micros(),
                    by.user,
                    by.device
                ],
            )?;
            insert_status(&tx, id, new.status, now, &by)?;
            tx.commit()?;
            Ok(CaseSummary {
                id,
                kind: new.kind,
                status: new.status,
                label: new.label,
                is_demo: new.is_demo,
                created_at: from_micros(now.timestamp_micros())?,
            })
        })
        .await
    }

    /// Append a lifecycle step for a case.
    pub async fn set_status(
        &self,
        case: CaseId,
        status: CaseStatus,
        by: Author,
    ) -> Result<(), StoreError> {
        self.call(move |c| {
            let tx = c.transaction()?;
            ensure_case(&tx, case)?;
            insert_status(&tx, case, status, Utc::now(), &by)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Every case, newest first, with its current status.
    pub async fn list_cases(&self) -> Result<Vec<CaseSummary>, StoreError> {
        self.call(|c| {
            let mut stmt = c.prepare(
                "SELECT c.id, c.kind, c.label, c.is_demo, c.created_us,
                        (SELECT s.status FROM case_status_log s
                          WHERE s.case_id = c.id ORDER BY s.seq DESC LIMIT 1)
                   FROM cases c ORDER BY c.created_us DESC, c.id DESC",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, kind, label, is_demo, created, status) = row?;
                out.push(CaseSummary {
                    id: id
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("case id {id:?}")))?,
                    kind: CaseKind::from_code(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("case kind {kind:?}")))?,
                    status: status
                        .as_deref()
                        .and_then(CaseStatus::from_code)
                        .ok_or_else(|| StoreError::Corrupt(format!("status of case {id}")))?,
                    label,
                    is_demo,
                    created_at: from_micros(created)?,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Record an event on a case's timeline.
    pub async fn append_event(
        &self,
        case: CaseId,
        kind: EventKind,
        at: DateTime<Utc>,
        by: Author,
    ) -> Result<TimelineEvent, StoreError> {
        self.call(move |c| {
            let tx = c.transaction()?;
            ensure_case(&tx, case)?;
            let id = EventId::new();
            tx.execute(
                "INSERT INTO timeline_events (id, case_id, kind, at_us, by_user, on_device)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    id.to_string(),
                    case.to_string(),
                    kind.code(),
                    at.timestamp_micros(),
                    by.user,
                    by.device
                ],
            )?;
            tx.commit()?;
            Ok(TimelineEvent {
                id,
                case_id: case,
                kind,
                at: from_micros(at.timestamp_micros())?,
                recorded_by: by.user,
                recorded_on: by.device,
            })
        })
        .await
    }

    /// A case's events in time order (ties in recording order).
    pub async fn events(&self, case: CaseId) -> Result<Vec<TimelineEvent>, StoreError> {
        self.call(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, kind, at_us, by_user, on_device FROM timeline_events
                  WHERE case_id = ?1 ORDER BY at_us, seq",
            )?;
            let rows = stmt.query_map([case.to_string()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, kind, at, by, on) = row?;
                out.push(TimelineEvent {
                    id: id
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("event id {id:?}")))?,
                    case_id: case,
                    kind: EventKind::from_code(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("event kind {kind:?}")))?,
                    at: from_micros(at)?,
                    recorded_by: by,
                    recorded_on: on,
                });
            }
            Ok(out)
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

fn ensure_case(c: &Connection, case: CaseId) -> Result<(), StoreError> {
    let found: Option<i64> = c
        .query_row(
            "SELECT 1 FROM cases WHERE id = ?1",
            [case.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    found.map(|_| ()).ok_or(StoreError::UnknownCase(case))
}

fn insert_status(
    c: &Connection,
    case: CaseId,
    status: CaseStatus,
    at: DateTime<Utc>,
    by: &Author,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO case_status_log (case_id, status, at_us, by_user, on_device)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            case.to_string(),
            status.code(),
            at.timestamp_micros(),
            by.user,
            by.device
        ],
    )?;
    Ok(())
}

fn from_micros(us: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_micros(us)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {us}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author() -> Author {
        Author::new("Test perfusionist", "test-tablet")
    }

    #[tokio::test]
    async fn migrates_a_new_database_to_the_latest_version() {
        let s = Store::open_in_memory().unwrap();
        assert_eq!(s.schema_version().await.unwrap(), latest_version());
        assert!(latest_version() >= 1);
    }

    #[tokio::test]
    async fn cases_list_newest_first_with_current_status() {
        let s = Store::open_in_memory().unwrap();
        let a = s
            .create_case(
                NewCase {
                    kind: CaseKind::Cpb,
                    label: "CABG x3".into(),
                    is_demo: false,
                    status: CaseStatus::Planned,
                },
                author(),
            )
            .await
            .unwrap();
        let b = s
            .create_case(
                NewCase {
                    kind: CaseKind::EcmoVa,
                    label: "VA run".into(),
                    is_demo: true,
                    status: CaseStatus::Running,
                },
                author(),
            )
            .await
            .unwrap();
        s.set_status(a.id, CaseStatus::Setup, author())
            .await
            .unwrap();
        let cases = s.list_cases().await.unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].id, b.id);
        assert!(cases[0].is_demo);
        assert_eq!(cases[1].status, CaseStatus::Setup);
        assert_eq!(cases[1].kind, CaseKind::Cpb);
    }

    #[tokio::test]
    async fn events_for_an_unknown_case_are_refused_and_nothing_is_written() {
        let s = Store::open_in_memory().unwrap();
        let ghost = CaseId::new();
        let err = s
            .append_event(ghost, EventKind::BypassOn, Utc::now(), author())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::UnknownCase(id) if id == ghost));
        assert!(s.events(ghost).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn events_come_back_in_time_order_with_author() {
        let s = Store::open_in_memory().unwrap();
        let case = s
            .create_case(
                NewCase {
                    kind: CaseKind::Cpb,
                    label: "AVR".into(),
                    is_demo: false,
                    status: CaseStatus::Running,
                },
                author(),
            )
            .await
            .unwrap();
        let t0 = Utc::now();
        s.append_event(
            case.id,
            EventKind::CrossClampOn,
            t0 + chrono::Duration::minutes(5),
            author(),
        )
        .await
        .unwrap();
        s.append_event(case.id, EventKind::BypassOn, t0, author())
            .await
            .unwrap();
        let evs = s.events(case.id).await.unwrap();
        let kinds: Vec<_> = evs.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![EventKind::BypassOn, EventKind::CrossClampOn]);
        assert_eq!(evs[0].recorded_by, "Test perfusionist");
        assert_eq!(evs[0].recorded_on, "test-tablet");
    }

    #[tokio::test]
    async fn the_database_refuses_to_edit_or_delete_timeline_rows() {
        let s = Store::open_in_memory().unwrap();
        let case = s
            .create_case(
                NewCase {
                    kind: CaseKind::Cpb,
                    label: "MVR".into(),
                    is_demo: false,
                    status: CaseStatus::Running,
                },
                author(),
            )
            .await
            .unwrap();
        s.append_event(case.id, EventKind::BypassOn, Utc::now(), author())
            .await
            .unwrap();
        let results = s
            .call(|c| {
                Ok((
                    c.execute("UPDATE timeline_events SET kind = 'bypass_off'", []),
                    c.execute("DELETE FROM timeline_events", []),
                    c.execute("DELETE FROM cases", []),
                ))
            })
            .await
            .unwrap();
        for r in [results.0, results.1, results.2] {
            let msg = r.unwrap_err().to_string();
            assert!(msg.contains("append-only"), "{msg}");
        }
        assert_eq!(s.events(case.id).await.unwrap().len(), 1);
    }
}
