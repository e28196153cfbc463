//! Sending the handover notes written on call for runs followed from the server (kept by
//! `Store::write_remote_note`). Each goes alone in a transaction with its Provenance, as a
//! conditional create on the note's identifier: a try whose answer was lost is found by the next
//! one instead of making a second note. The references are the server's own (the pulled run's
//! Patient and Procedure), so nothing waits for another upload.

use serde_json::{json, Value};

use super::answer::{self, Verdict};
use super::engine::{SyncEngine, SyncError};
use super::map;
use crate::store::{NoteOutcome, Operation};

/// The most notes sent per pass (they are few; the rest go on the next pass).
const PER_PASS: usize = 50;

/// A refusal in words: the first issue's diagnostics or text, else the status.
pub fn refusal(status: u16, body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let issue = &v["issue"][0];
    let said = issue["diagnostics"]
        .as_str()
        .or_else(|| issue["details"]["text"].as_str())
        .map(|s| s.chars().take(300).collect::<String>());
    match said {
        Some(s) if !s.trim().is_empty() => {
            format!("the server refused the note (HTTP {status}): {s}")
        }
        _ => format!("the server refused the note (HTTP {status})"),
    }
}

impl SyncEngine {
    /// Send the notes that are not on the server yet; how many were stored. A network or server
    /// failure leaves the note waiting (the try recorded) and ends the pass; a refusal is kept
    /// with the server's reason and the others go on.
    pub async fn send_notes(&self) -> Result<usize, SyncError> {
        let mut sent = 0;
        for note in self.store.unsent_remote_notes(PER_PASS).await? {
            let key = note.id.to_string();
            let full_url = format!("urn:uuid:{}", map::derived_uuid(&key, "full-url"));
            let provenance_id = map::derived_uuid(&key, "provenance");
            let provenance = self.provenance(
                &provenance_id,
                std::slice::from_ref(&full_url),
                &note.by.user,
                None,
                false,
            );
            let bundle = json!({
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {
                        "fullUrl": full_url,
                        "resource": map::remote_note(&note),
                        "request": {
                            "method": "POST",
                            "url": "Observation",
                            "ifNoneExist": format!("identifier={}|urn:uuid:{key}", map::URI),
                        },
                    },
                    {
                        "fullUrl": format!("urn:uuid:{provenance_id}"),
                        "resource": provenance,
                        "request": { "method": "POST", "url": "Provenance" },
                    }
                ],
            });
            let reply = match self.transport.post("", map::to_text(&bundle), &[]).await {
                Ok(r) => r,
                Err(e) => {
                    self.store
                        .record_note_send(
                            note.seq,
                            NoteOutcome::Retry {
                                error: e.to_string(),
                            },
                        )
                        .await?;
                    return Err(e);
                }
            };
            // Err: the note waits for another try, and this pass ends.
            let outcome = match answer::classify(reply.status, &[Operation::Create]) {
                Verdict::Stored => stored_id(&reply.body)
                    .map(|server_id| NoteOutcome::Acked { server_id })
                    .ok_or_else(|| "the server's answer did not name the stored note".to_string()),
                Verdict::Credentials(code) => return Err(SyncError::Auth(code)),
                Verdict::TooLargeAlone | Verdict::Refused | Verdict::CheckConflict => {
                    tracing::warn!(
                        status = reply.status,
                        "sync: server refused a handover note"
                    );
                    Ok(NoteOutcome::Rejected {
                        why: refusal(reply.status, &reply.body),
                    })
                }
                Verdict::WrongBase => Err(format!(
                    "the server has no FHIR endpoint at {} (HTTP 404): check the server address in Settings",
                    self.transport.config.base
                )),
                Verdict::TooLarge | Verdict::Split | Verdict::Transient(_) => {
                    Err(format!("HTTP {} from the server", reply.status))
                }
            };
            let outcome = match outcome {
                Ok(o) => o,
                Err(error) => {
                    self.store
                        .record_note_send(
                            note.seq,
                            NoteOutcome::Retry {
                                error: error.clone(),
                            },
                        )
                        .await?;
                    return Err(SyncError::Transient(error));
                }
            };
            if matches!(outcome, NoteOutcome::Acked { .. }) {
                sent += 1;
            }
            self.store.record_note_send(note.seq, outcome).await?;
        }
        Ok(sent)
    }
}

/// The id of the Observation a transaction-response names first (its resource or its Location,
/// relative or absolute).
fn stored_id(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let e = &v["entry"][0];
    e["resource"]["id"]
        .as_str()
        .filter(|id| e["resource"]["resourceType"] == "Observation" && answer::is_fhir_id(id))
        .map(String::from)
        .or_else(|| {
            answer::parse_location(e["response"]["location"].as_str()?, "Observation")
                .map(|(id, _)| id)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal answer (no resource, an absolute Location) still names the note; an answer that
    /// names another type or nothing does not.
    #[test]
    fn the_stored_note_is_found_in_every_answer_shape() {
        let full = r#"{"entry":[{"resource":{"resourceType":"Observation","id":"n1"},"response":{"status":"201"}}]}"#;
        assert_eq!(stored_id(full).as_deref(), Some("n1"));
        let minimal = r#"{"entry":[{"response":{"status":"201 Created","location":"https://h/fhir/Observation/n2/_history/1"}}]}"#;
        assert_eq!(stored_id(minimal).as_deref(), Some("n2"));
        let other = r#"{"entry":[{"response":{"location":"Provenance/p1"}}]}"#;
        assert_eq!(stored_id(other), None);
        assert_eq!(stored_id("not json"), None);
    }

    #[test]
    fn a_refusal_says_what_the_server_said() {
        let oo = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","diagnostics":"Observation.subject: unknown Patient/9"}]}"#;
        assert_eq!(
            refusal(422, oo),
            "the server refused the note (HTTP 422): Observation.subject: unknown Patient/9"
        );
        assert_eq!(refusal(400, ""), "the server refused the note (HTTP 400)");
    }
}
