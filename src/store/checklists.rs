//! Checklist templates: every imported version is kept, so a run can always be shown with the
//! exact template it used.

use chrono::Utc;
use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};
use crate::domain::checklist::Template;
use crate::domain::ValidationError;

pub(super) fn template_by_digest(
    conn: &rusqlite::Connection,
    digest: &str,
) -> Result<Option<Template>, StoreError> {
    let source: Option<String> = conn
        .query_row(
            "SELECT source FROM checklist_templates WHERE digest = ?1",
            [digest],
            |r| r.get(0),
        )
        .optional()?;
    source
        .map(|s| {
            Template::parse(&format!("stored template {digest}"), &s)
                .map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .transpose()
}

impl Store {
    /// Keep a template. Importing the same file again is a no-op (returns false); a different
    /// file with an id and version already stored is refused: its version must change.
    pub async fn import_template(&self, t: Template) -> Result<bool, StoreError> {
        self.call(move |db| {
            let existing: Option<String> = db
                .conn
                .query_row(
                    "SELECT digest FROM checklist_templates WHERE id = ?1 AND version = ?2",
                    params![t.id, t.version],
                    |r| r.get(0),
                )
                .optional()?;
            match existing {
                Some(d) if d == t.digest => Ok(false),
                Some(_) => Err(ValidationError::Invalid {
                    field: "checklist.version".into(),
                    value: format!("{} {}", t.id, t.version),
                    allowed: "a new version number for changed content".into(),
                }
                .into()),
                None => {
                    let tx = db.conn.transaction()?;
                    tx.execute(
                        "INSERT INTO checklist_templates (digest, id, version, source, imported_us)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![
                            t.digest,
                            t.id,
                            t.version,
                            t.source,
                            Utc::now().timestamp_micros()
                        ],
                    )?;
                    super::seal::commit(tx, &db.keys)?;
                    Ok(true)
                }
            }
        })
        .await
    }

    /// Every stored template version, newest import last.
    pub async fn templates(&self) -> Result<Vec<Template>, StoreError> {
        self.call(|db| {
            let mut stmt = db
                .conn
                .prepare("SELECT digest FROM checklist_templates ORDER BY imported_us, id")?;
            let digests = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            digests
                .iter()
                .filter_map(|d| template_by_digest(&db.conn, d).transpose())
                .collect()
        })
        .await
    }

    /// The stored template with this digest.
    pub async fn template(&self, digest: String) -> Result<Option<Template>, StoreError> {
        self.call(move |db| template_by_digest(&db.conn, &digest))
            .await
    }
}
