//! Handover notes written on this device for runs it follows from the hospital's server. Such a
//! run is not a local case, so its notes are not timeline entries: each is kept here (append-only,
//! sealed) until the server has it, with every try to send it in `remote_note_sends`. The note's
//! id is chosen when the form opens, so writing the same note twice (a double tap, a retry after
//! an error) keeps one.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{from_micros, Store, StoreError};
use crate::domain::patient::Mrn;
use crate::domain::Author;

/// A note to keep: for the run (its Procedure id on the server) of the patient with `mrn`.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteNoteNew {
    pub id: uuid::Uuid,
    pub mrn: Mrn,
    pub run_id: String,
    /// The Patient reference the server's run names (`Patient/123`).
    pub subject: String,
    pub demo: bool,
    pub text: String,
}

/// Where a note written here is on its way to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteState {
    /// Not on the server yet; `attempts` failed tries, the newest error.
    Waiting {
        attempts: u32,
        error: Option<String>,
    },
    /// On the server under this id.
    Sent { server_id: String },
    /// The server refused it (its OperationOutcome, in words).
    Refused { why: String },
}

/// A kept note with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteNote {
    pub seq: i64,
    pub id: uuid::Uuid,
    pub mrn: Mrn,
    pub run_id: String,
    pub subject: String,
    pub demo: bool,
    pub text: String,
    pub written: DateTime<Utc>,
    pub by: Author,
    pub state: NoteState,
}

/// What one try to send a note came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteOutcome {
    Retry { error: String },
    Acked { server_id: String },
    Rejected { why: String },
}

const SELECT: &str = "SELECT n.seq, n.id, n.mrn_system, n.mrn_value, n.run_id, n.subject, n.demo,
        n.text, n.written_us, n.by_user, n.on_device,
        (SELECT s.state FROM remote_note_sends s WHERE s.note_seq = n.seq ORDER BY s.seq DESC LIMIT 1),
        (SELECT s.detail FROM remote_note_sends s WHERE s.note_seq = n.seq ORDER BY s.seq DESC LIMIT 1),
        (SELECT s.server_id FROM remote_note_sends s WHERE s.note_seq = n.seq ORDER BY s.seq DESC LIMIT 1),
        (SELECT count(*) FROM remote_note_sends s WHERE s.note_seq = n.seq AND s.state = 'retry')
   FROM remote_notes n";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<RemoteNote, StoreError>> {
    let id: String = r.get(1)?;
    let state: Option<String> = r.get(11)?;
    let detail: Option<String> = r.get(12)?;
    let server_id: Option<String> = r.get(13)?;
    let attempts: i64 = r.get(14)?;
    let state = match (state.as_deref(), server_id) {
        (Some("acked"), Some(server_id)) => NoteState::Sent { server_id },
        (Some("rejected"), _) => NoteState::Refused {
            why: detail.unwrap_or_default(),
        },
        _ => NoteState::Waiting {
            attempts: attempts.max(0) as u32,
            error: detail,
        },
    };
    let note = (|| {
        Ok(RemoteNote {
            seq: r.get(0)?,
            id: uuid::Uuid::parse_str(&id)
                .map_err(|_| StoreError::Corrupt(format!("handover note id {id}")))?,
            mrn: Mrn {
                system: r.get(2)?,
                value: r.get(3)?,
            },
            run_id: r.get(4)?,
            subject: r.get(5)?,
            demo: r.get::<_, i64>(6)? == 1,
            text: r.get(7)?,
            written: from_micros(r.get(8)?)?,
            by: Author::new(r.get::<_, String>(9)?, r.get::<_, String>(10)?),
            state,
        })
    })();
    Ok(note)
}

impl Store {
    /// Keep a handover note for a followed run (sealed, in one transaction). The same id again
    /// keeps the first and answers `false`; a different note under a used id is refused.
    pub async fn write_remote_note(
        &self,
        note: RemoteNoteNew,
        by: Author,
    ) -> Result<bool, StoreError> {
        self.call(move |db| {
            crate::domain::validation::check_text("handover_note.text", &note.text, 10_000)?;
            let tx = db.conn.transaction()?;
            let existing: Option<(String, String)> = tx
                .query_row(
                    "SELECT run_id, text FROM remote_notes WHERE id = ?1",
                    [note.id.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((run, text)) = existing {
                return if run == note.run_id && text == note.text {
                    Ok(false)
                } else {
                    Err(StoreError::Corrupt(format!(
                        "handover note {} is already kept with other content",
                        note.id
                    )))
                };
            }
            tx.execute(
                "INSERT INTO remote_notes (id, mrn_system, mrn_value, run_id, subject, demo, text,
                                           written_us, by_user, on_device)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    note.id.to_string(),
                    note.mrn.system,
                    note.mrn.value,
                    note.run_id,
                    note.subject,
                    i64::from(note.demo),
                    note.text,
                    Utc::now().timestamp_micros(),
                    by.user,
                    by.device
                ],
            )?;
            super::seal::commit(tx, &db.keys)?;
            Ok(true)
        })
        .await
    }

    /// The notes written here for the patient's runs, oldest first, each with where it is.
    pub async fn remote_notes(&self, mrn: Mrn) -> Result<Vec<RemoteNote>, StoreError> {
        self.call(move |db| {
            let mut stmt = db.conn.prepare_cached(&format!(
                "{SELECT} WHERE n.mrn_system = ?1 AND n.mrn_value = ?2 ORDER BY n.seq"
            ))?;
            let rows = stmt.query_map(params![mrn.system, mrn.value], row)?;
            rows.map(|r| r?).collect()
        })
        .await
    }

    /// Notes not on the server yet (never sent, or the newest try asks for another), oldest
    /// first, at most `limit`.
    pub async fn unsent_remote_notes(&self, limit: usize) -> Result<Vec<RemoteNote>, StoreError> {
        self.call(move |db| {
            let mut stmt = db.conn.prepare_cached(&format!(
                "{SELECT} WHERE coalesce((SELECT s.state FROM remote_note_sends s
                                           WHERE s.note_seq = n.seq ORDER BY s.seq DESC LIMIT 1),
                                          'retry') = 'retry'
                 ORDER BY n.seq LIMIT ?1"
            ))?;
            let rows = stmt.query_map([limit as i64], row)?;
            rows.map(|r| r?).collect()
        })
        .await
    }

    /// Record what a try to send the note `seq` came to.
    pub async fn record_note_send(&self, seq: i64, outcome: NoteOutcome) -> Result<(), StoreError> {
        self.call(move |db| {
            let (state, detail, server_id) = match outcome {
                NoteOutcome::Retry { error } => ("retry", Some(error), None),
                NoteOutcome::Acked { server_id } => ("acked", None, Some(server_id)),
                NoteOutcome::Rejected { why } => ("rejected", Some(why), None),
            };
            db.conn.execute(
                "INSERT INTO remote_note_sends (note_seq, state, at_us, detail, server_id)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![seq, state, Utc::now().timestamp_micros(), detail, server_id],
            )?;
            Ok(())
        })
        .await
    }
}
