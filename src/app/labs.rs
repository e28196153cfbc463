//! Laboratory results from the hospital's server, offered in a live case and taken in with one
//! tap (the workflow; the FHIR reading is `sync::labs`, the grouping and the "already taken"
//! rule `domain::labs`).

use crate::app::case::{CaseSession, WriteError};
use crate::domain::labs::{self, LabOffer};
use crate::domain::routing::Command;
use crate::domain::{CaseId, CaseStatus, Entry, EntryPayload};
use crate::store::{Store, StoreError};

/// What the hospital's server (`server`) has posted for the case's patient that the case has
/// not taken in yet, oldest first. Nothing for a case without a patient or that has ended.
pub async fn offers(
    store: &Store,
    case: CaseId,
    server: &str,
) -> Result<Vec<LabOffer>, StoreError> {
    let Some(summary) = store.list_cases().await?.into_iter().find(|c| c.id == case) else {
        return Ok(Vec::new());
    };
    if !matches!(summary.status, CaseStatus::Setup | CaseStatus::Running) {
        return Ok(Vec::new());
    }
    let Some(patient) = summary.patient else {
        return Ok(Vec::new());
    };
    let Some(p) = store.patient(patient).await? else {
        return Ok(Vec::new());
    };
    let pulled = store.pulled(p.mrn).await?;
    let results = crate::sync::labs::results(&pulled, server);
    let entries = store.entries(case).await?;
    Ok(labs::offers(&results, &entries, summary.created_at))
}

/// Take the offer `key` into the case as one blood-gas panel at the time the sample was taken,
/// naming its source. An offer no longer there (taken already, by a double tap or another
/// screen) writes nothing and says so (`WriteError::Unchanged`).
pub async fn accept(
    session: &CaseSession,
    store: &Store,
    case: CaseId,
    key: &str,
    server: &str,
) -> Result<Entry, WriteError> {
    let offer = offers(store, case, server)
        .await?
        .into_iter()
        .find(|o| o.key() == key)
        .ok_or(WriteError::Unchanged)?;
    let written = session
        .command_at(
            case,
            Command::Record(EntryPayload::BloodGas(offer.panel)),
            offer.at,
        )
        .await?;
    written
        .into_iter()
        .find(|e| matches!(e.payload, EntryPayload::BloodGas(_)))
        .ok_or(WriteError::Unchanged)
}
