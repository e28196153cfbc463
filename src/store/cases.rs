//! Patients and cases.

use chrono::Utc;
use rusqlite::{params, OptionalExtension};

use super::{entries, from_micros, parse_id, Store, StoreError};
use crate::domain::{
    Author, CaseId, CaseKind, CaseStatus, CaseSummary, EntryPayload, NewEntry, Patient, PatientId,
    ValidationError,
};

/// A new case as the caller describes it.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub kind: CaseKind,
    pub patient: Option<PatientId>,
    pub label: String,
    pub is_demo: bool,
    pub status: CaseStatus,
}

impl Store {
    /// Register a patient (first version of their demographics).
    pub async fn create_patient(&self, p: Patient, by: Author) -> Result<PatientId, StoreError> {
        self.call(move |db| {
            let now = Utc::now();
            p.validate(now.date_naive())?;
            let tx = db.conn.transaction()?;
            let exists: Option<String> = tx
                .query_row(
                    "SELECT id FROM patients WHERE mrn_system = ?1 AND mrn_value = ?2",
                    params![p.mrn.system, p.mrn.value],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_some() {
                return Err(StoreError::DuplicateMrn {
                    system: p.mrn.system.clone(),
                    value: p.mrn.value.clone(),
                });
            }
            let id = PatientId::new();
            tx.execute(
                "INSERT INTO patients (id, mrn_system, mrn_value, created_us, by_user, on_device)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    id.to_string(),
                    p.mrn.system,
                    p.mrn.value,
                    now.timestamp_micros(),
                    by.user,
                    by.device
                ],
            )?;
            insert_patient_version(&tx, id, &p, now.timestamp_micros(), &by)?;
            super::seal::commit(tx, &db.keys)?;
            Ok(id)
        })
        .await
    }

    /// Record new demographics for a patient; earlier versions stay.
    pub async fn update_patient(
        &self,
        id: PatientId,
        p: Patient,
        by: Author,
    ) -> Result<(), StoreError> {
        self.call(move |db| {
            let now = Utc::now();
            p.validate(now.date_naive())?;
            let tx = db.conn.transaction()?;
            let mrn: Option<(String, String)> = tx
                .query_row(
                    "SELECT mrn_system, mrn_value FROM patients WHERE id = ?1",
                    [id.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let (system, value) = mrn.ok_or_else(|| ValidationError::Invalid {
                field: "patient".into(),
                value: id.to_string(),
                allowed: "a registered patient".into(),
            })?;
            if system != p.mrn.system || value != p.mrn.value {
                return Err(ValidationError::Invalid {
                    field: "patient.mrn".into(),
                    value: format!("{}|{}", p.mrn.system, p.mrn.value),
                    allowed: format!("the patient's MRN {system}|{value} (an MRN never changes)"),
                }
                .into());
            }
            insert_patient_version(&tx, id, &p, now.timestamp_micros(), &by)?;
            super::seal::commit(tx, &db.keys)?;
            Ok(())
        })
        .await
    }

    /// The current demographics of the patient with this MRN.
    pub async fn find_patient(
        &self,
        system: &str,
        value: &str,
    ) -> Result<Option<(PatientId, Patient)>, StoreError> {
        let (system, value) = (system.to_string(), value.to_string());
        self.call(move |db| {
            let row: Option<(String, String)> = db
                .conn
                .query_row(
                    "SELECT p.id, v.data FROM patients p
                       JOIN patient_versions v ON v.patient_id = p.id
                      WHERE p.mrn_system = ?1 AND p.mrn_value = ?2
                      ORDER BY v.seq DESC LIMIT 1",
                    params![system, value],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            match row {
                None => Ok(None),
                Some((id, data)) => Ok(Some((
                    parse_id("patient id", &id)?,
                    serde_json::from_str(&data)
                        .map_err(|e| StoreError::Corrupt(format!("patient {id}: {e}")))?,
                ))),
            }
        })
        .await
    }

    /// The current demographics of a registered patient.
    pub async fn patient(&self, id: PatientId) -> Result<Option<Patient>, StoreError> {
        self.call(move |db| {
            let data: Option<String> = db
                .conn
                .query_row(
                    "SELECT data FROM patient_versions WHERE patient_id = ?1
                      ORDER BY seq DESC LIMIT 1",
                    params![id.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            data.map(|d| {
                serde_json::from_str(&d)
                    .map_err(|e| StoreError::Corrupt(format!("patient {id}: {e}")))
            })
            .transpose()
        })
        .await
    }

    /// Create a case and its first lifecycle entry in one transaction.
    pub async fn create_case(&self, new: NewCase, by: Author) -> Result<CaseSummary, StoreError> {
        self.call(move |db| {
            crate::domain::validation::check_text("case.label", &new.label, 200)?;
            let id = CaseId::new();
            let now = Utc::now();
            let tx = db.conn.transaction()?;
            if let Some(p) = new.patient {
                let known: Option<i64> = tx
                    .query_row("SELECT 1 FROM patients WHERE id = ?1", [p.to_string()], |r| {
                        r.get(0)
                    })
                    .optional()?;
                if known.is_none() {
                    return Err(ValidationError::Invalid {
                        field: "case.patient".into(),
                        value: p.to_string(),
                        allowed: "a registered patient".into(),
                    }
                    .into());
                }
            }
            tx.execute(
                "INSERT INTO cases (id, patient_id, kind, label, is_demo, created_us, created_by, created_on)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    id.to_string(),
                    new.patient.map(|p| p.to_string()),
                    new.kind.code(),
                    new.label,
                    new.is_demo,
                    now.timestamp_micros(),
                    by.user,
                    by.device
                ],
            )?;
            entries::insert(
                &tx,
                NewEntry {
                    case_id: id,
                    occurred_at: now,
                    author: by,
                    payload: EntryPayload::Status { status: new.status },
                },
                now,
            )?;
            super::seal::commit(tx, &db.keys)?;
            Ok(CaseSummary {
                id,
                patient: new.patient,
                kind: new.kind,
                status: new.status,
                label: new.label,
                is_demo: new.is_demo,
                created_at: from_micros(now.timestamp_micros())?,
            })
        })
        .await
    }

    /// Every case, newest first, with its current status.
    pub async fn list_cases(&self) -> Result<Vec<CaseSummary>, StoreError> {
        self.call(|db| {
            let mut stmt = db.conn.prepare(
                "SELECT c.id, c.patient_id, c.kind, c.label, c.is_demo, c.created_us,
                        (SELECT e.payload FROM entries e
                          WHERE e.case_id = c.id AND e.kind = 'status'
                          ORDER BY e.case_seq DESC LIMIT 1)
                   FROM cases c ORDER BY c.created_us DESC, c.id DESC",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, bool>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, patient, kind, label, is_demo, created, status) = row?;
                let status = match status.map(|s| serde_json::from_str::<EntryPayload>(&s)) {
                    Some(Ok(EntryPayload::Status { status })) => status,
                    _ => return Err(StoreError::Corrupt(format!("status of case {id}"))),
                };
                out.push(CaseSummary {
                    id: parse_id("case id", &id)?,
                    patient: patient.map(|p| parse_id("patient id", &p)).transpose()?,
                    kind: CaseKind::from_code(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("case kind {kind:?}")))?,
                    status,
                    label,
                    is_demo,
                    created_at: from_micros(created)?,
                });
            }
            Ok(out)
        })
        .await
    }
}

fn insert_patient_version(
    tx: &rusqlite::Transaction<'_>,
    id: PatientId,
    p: &Patient,
    at_us: i64,
    by: &Author,
) -> Result<(), StoreError> {
    let data = serde_json::to_string(p).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.execute(
        "INSERT INTO patient_versions (patient_id, data, at_us, by_user, on_device)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id.to_string(), data, at_us, by.user, by.device],
    )?;
    Ok(())
}

/// The kind of a known case.
impl Store {
    /// What kind of case `case` is.
    pub async fn case_kind(&self, case: CaseId) -> Result<CaseKind, StoreError> {
        self.call(move |db| case_kind(&db.conn, case)).await
    }
}

pub(super) fn case_kind(db: &rusqlite::Connection, case: CaseId) -> Result<CaseKind, StoreError> {
    let code: String = db
        .query_row(
            "SELECT kind FROM cases WHERE id = ?1",
            [case.to_string()],
            |r| r.get(0),
        )
        .optional()?
        .ok_or(StoreError::Invalid(ValidationError::UnknownCase(case)))?;
    CaseKind::from_code(&code).ok_or_else(|| StoreError::Corrupt(format!("case kind {code:?}")))
}

/// Is the case known, and is it a demo case? Shared by entries and telemetry.
pub(super) fn case_info(db: &rusqlite::Connection, case: CaseId) -> Result<bool, StoreError> {
    db.query_row(
        "SELECT is_demo FROM cases WHERE id = ?1",
        [case.to_string()],
        |r| r.get::<_, bool>(0),
    )
    .optional()?
    .ok_or(StoreError::Invalid(ValidationError::UnknownCase(case)))
}
