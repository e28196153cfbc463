//! Reading a FHIR server's answer to a transaction, and sizing the next one. Pure: no I/O, no
//! clock, so every status and answer shape is unit-tested without a server (the engine does the
//! sending and the recording).
//!
//! | Answer | Verdict | What the engine does |
//! |---|---|---|
//! | 2xx | `Stored` | each entry acked with the id and version it names ([`acks`]); an entry that names none stays pending |
//! | 401, 403 | `Credentials` | sync pauses until the credentials change; nothing is marked |
//! | 404 | `WrongBase` | a transaction goes to the base, so the address is wrong: the rows wait, unmarked |
//! | 409, 412 on one update | `CheckConflict` | the server's copy is read: our own lost answer is acked, a real conflict kept for a person |
//! | 413 on several | `TooLarge` | the Bundle is split and the size that fits remembered |
//! | 413 on one | `TooLargeAlone` | that operation is rejected and named; the others go on |
//! | 400, 409, 412, 422 on several | `Split` | halved until the bad operation is alone |
//! | 400, 409, 412, 422 on one | `Refused` | that operation is rejected with the OperationOutcome |
//! | anything else (5xx, 429, 408, an unfollowed 3xx, 1xx) | `Transient` | every row retried later with backoff |

use serde_json::Value;

use crate::store::{Operation, OutboxRow, Outcome};

/// What a status on a transaction of `ops` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Stored,
    Credentials(u16),
    WrongBase,
    CheckConflict,
    TooLarge,
    TooLargeAlone,
    Split,
    Refused,
    Transient(u16),
}

/// The verdict on a transaction of `ops` (in Bundle order) answered with `status`.
pub fn classify(status: u16, ops: &[Operation]) -> Verdict {
    let alone = ops.len() == 1;
    match status {
        200..=299 => Verdict::Stored,
        401 | 403 => Verdict::Credentials(status),
        404 => Verdict::WrongBase,
        409 | 412 if ops == [Operation::Update] => Verdict::CheckConflict,
        413 if alone => Verdict::TooLargeAlone,
        413 => Verdict::TooLarge,
        400 | 409 | 412 | 422 if alone => Verdict::Refused,
        400 | 409 | 412 | 422 => Verdict::Split,
        code => Verdict::Transient(code),
    }
}

/// How many operations go in the next Bundle. It starts at the configured batch (or a size limit
/// learned earlier from a 413); a refusal of several halves it, to find a bad operation or to fit
/// a server's limit on conditional entries per transaction (Medplum allows 8); a success doubles
/// it back up to the ceiling; a 413 lowers the ceiling to half the size refused and says so, so
/// the engine remembers it for later runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSizer {
    batch: usize,
    limit: usize,
    ceiling: usize,
    best_ok: Option<usize>,
}

impl BatchSizer {
    /// `batch` from the settings; `learned` the size limit a 413 taught earlier, if any.
    pub fn new(batch: usize, learned: Option<usize>) -> Self {
        let batch = batch.min(learned.unwrap_or(usize::MAX)).max(1);
        Self {
            batch,
            limit: batch,
            ceiling: batch,
            best_ok: None,
        }
    }

    /// Operations to read from the outbox per pass.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The size of the next Bundle.
    pub fn next(&self) -> usize {
        self.limit
    }

    /// A Bundle of `n` was stored.
    pub fn stored(&mut self, n: usize) {
        self.best_ok = Some(self.best_ok.unwrap_or(0).max(n));
        self.limit = (self.limit * 2).min(self.ceiling);
    }

    /// A Bundle of `n` was too large (413): the new limit, to remember.
    pub fn too_large(&mut self, n: usize) -> usize {
        self.ceiling = (n / 2).max(1);
        self.limit = self.ceiling;
        self.ceiling
    }

    /// A Bundle of `n` was refused (400/409/412/422): halve to isolate the bad operation.
    pub fn split(&mut self, n: usize) {
        self.ceiling = (n / 2).max(1);
        self.limit = self.ceiling;
    }

    /// The bad operation was found and rejected alone: the others may go in Bundles as large as
    /// the largest that worked (or the batch, if none has yet).
    pub fn isolated(&mut self) {
        self.ceiling = self.best_ok.unwrap_or(self.batch);
        self.limit = self.ceiling;
    }
}

/// Outcomes from a transaction-response: one per operation, in order (the Provenance is last).
pub fn acks(rows: &[OutboxRow], body: &str) -> Vec<(i64, Outcome)> {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let entries = parsed["entry"].as_array().cloned().unwrap_or_default();
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let e = entries.get(i).cloned().unwrap_or(Value::Null);
            let location = e["response"]["location"].as_str().unwrap_or("");
            let (loc_id, loc_version) = match parse_location(location, &row.resource_type) {
                Some((id, version)) => (Some(id), version),
                None => (None, None),
            };
            let id = e["resource"]["id"]
                .as_str()
                .filter(|id| is_fhir_id(id))
                .map(String::from)
                .or(loc_id);
            let version = e["resource"]["meta"]["versionId"]
                .as_str()
                .map(String::from)
                .or(loc_version)
                .or_else(|| {
                    e["response"]["etag"]
                        .as_str()
                        .map(|t| t.trim_start_matches("W/").trim_matches('"').to_string())
                })
                .filter(|v| !v.is_empty());
            let outcome = match (id, version) {
                (Some(server_id), Some(version)) => Outcome::Acked { server_id, version },
                // A minimal answer may name the resource without its version: acked, and the
                // version is read from the server before this resource is ever updated.
                (Some(server_id), None) => Outcome::Acked {
                    server_id,
                    version: String::new(),
                },
                _ => Outcome::Retry {
                    error: "the server's answer did not name the stored resource".into(),
                },
            };
            (row.seq, outcome)
        })
        .collect()
}

/// A FHIR logical id: 1–64 of `A–Z a–z 0–9 - .` (R4 `id` datatype).
pub fn is_fhir_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// The id and version in a transaction answer's `Location`, relative (`Observation/12/_history/1`)
/// or absolute (`https://host/fhir/Observation/12/_history/1`, as HAPI and others send), with or
/// without the history part; `None` unless it names a resource of `resource_type` with a valid
/// id (an empty id once went up as `partOf: Procedure/`).
pub fn parse_location(location: &str, resource_type: &str) -> Option<(String, Option<String>)> {
    let path = location.split(['?', '#']).next()?.trim_end_matches('/');
    let parts: Vec<&str> = path.split('/').collect();
    let (rt, id, version) = match parts.as_slice() {
        [.., rt, id, "_history", v] => (*rt, *id, Some(v.to_string())),
        [.., rt, id] => (*rt, *id, None),
        _ => return None,
    };
    (rt == resource_type && is_fhir_id(id))
        .then(|| (id.to_string(), version.filter(|v| is_fhir_id(v))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OpSource;

    fn test_row(resource_type: &str) -> OutboxRow {
        OutboxRow {
            seq: 0,
            op_id: "op".into(),
            case_id: crate::domain::CaseId::new(),
            source: OpSource::Run,
            resource_type: resource_type.into(),
            resource_key: "k".into(),
            operation: Operation::Create,
            payload: "{}".into(),
            created_at: chrono::Utc::now(),
            state: crate::store::OutboxState::Pending,
            attempts: 0,
            last_error: None,
            detail: None,
        }
    }

    #[test]
    fn locations_relative_and_absolute_name_the_id_and_version() {
        let obs = "Observation";
        for (location, want) in [
            ("Observation/12/_history/3", Some(("12", Some("3")))),
            (
                "https://hapi.example/fhir/Observation/ab-9.x/_history/1",
                Some(("ab-9.x", Some("1"))),
            ),
            (
                "https://hapi.example/fhir/Observation/12",
                Some(("12", None)),
            ),
            ("Observation/12/", Some(("12", None))),
            (
                "https://h/fhir/Observation/12/_history/2?x=1",
                Some(("12", Some("2"))),
            ),
            ("https://h/fhir/Procedure/12/_history/1", None),
            ("https://h/fhir/Observation//_history/1", None),
            ("", None),
            ("Observation", None),
        ] {
            let got = parse_location(location, obs);
            let want = want.map(|(i, v)| (i.to_string(), v.map(String::from)));
            assert_eq!(got, want, "{location}");
        }
    }

    #[test]
    fn an_answer_without_a_usable_id_is_retried_not_acked_with_an_empty_id() {
        let row = |seq: i64| OutboxRow {
            seq,
            ..test_row("Observation")
        };
        let rows = [row(1), row(2)];
        let body = serde_json::json!({ "resourceType": "Bundle", "type": "transaction-response",
            "entry": [
                { "response": { "status": "201 Created",
                    "location": "https://hapi.example/fhir/Observation/77/_history/1" } },
                { "response": { "status": "201 Created", "location": "https://hapi.example/fhir/" } },
            ] })
        .to_string();
        let got = acks(&rows, &body);
        assert_eq!(
            got[0].1,
            Outcome::Acked {
                server_id: "77".into(),
                version: "1".into()
            }
        );
        assert!(matches!(got[1].1, Outcome::Retry { .. }), "{:?}", got[1]);
    }

    /// Minimal answers (no resource), with the version in the Location, the ETag, the resource,
    /// or nowhere: each names the stored resource; a missing version is left for later.
    #[test]
    fn minimal_and_representation_answers_are_acked_with_what_they_name() {
        let rows: Vec<OutboxRow> = (1..=4)
            .map(|seq| OutboxRow {
                seq,
                ..test_row("Observation")
            })
            .collect();
        let body = serde_json::json!({ "resourceType": "Bundle", "type": "transaction-response",
            "entry": [
                { "response": { "status": "201", "location": "Observation/a/_history/3" } },
                { "response": { "status": "200 OK", "location": "http://h/Observation/b", "etag": "W/\"5\"" } },
                { "resource": { "resourceType": "Observation", "id": "c", "meta": { "versionId": "7" } },
                  "response": { "status": "201 Created" } },
                { "response": { "status": "201 Created", "location": "http://h/fhir/Observation/d" } },
            ] })
        .to_string();
        let got: Vec<Outcome> = acks(&rows, &body).into_iter().map(|(_, o)| o).collect();
        let acked = |id: &str, v: &str| Outcome::Acked {
            server_id: id.into(),
            version: v.into(),
        };
        assert_eq!(
            got,
            [
                acked("a", "3"),
                acked("b", "5"),
                acked("c", "7"),
                acked("d", "")
            ]
        );
    }

    #[test]
    fn every_status_has_its_verdict() {
        use Operation::{Create, Update};
        use Verdict::*;
        let one_create: &[Operation] = &[Create];
        let one_update: &[Operation] = &[Update];
        let several: &[Operation] = &[Create, Update, Create];
        let two_updates: &[Operation] = &[Update, Update];
        let cases: &[(u16, &[Operation], Verdict)] = &[
            (200, several, Stored),
            (201, one_create, Stored),
            (204, one_update, Stored),
            (401, several, Credentials(401)),
            (403, one_update, Credentials(403)),
            (404, several, WrongBase),
            (404, one_update, WrongBase),
            (409, one_update, CheckConflict),
            (412, one_update, CheckConflict),
            (409, one_create, Refused),
            (412, two_updates, Split),
            (409, several, Split),
            (413, several, TooLarge),
            (413, one_create, TooLargeAlone),
            (413, one_update, TooLargeAlone),
            (400, one_create, Refused),
            (422, one_update, Refused),
            (400, several, Split),
            (422, several, Split),
            (429, several, Transient(429)),
            (408, one_create, Transient(408)),
            (500, several, Transient(500)),
            (502, one_create, Transient(502)),
            (503, several, Transient(503)),
            (504, several, Transient(504)),
            (307, several, Transient(307)),
            (100, several, Transient(100)),
            (405, several, Transient(405)),
        ];
        for (status, ops, want) in cases {
            assert_eq!(classify(*status, ops), *want, "{status} on {ops:?}");
        }
    }

    #[test]
    fn a_transaction_answer_that_is_not_a_bundle_acks_nothing() {
        let rows = [test_row("Observation"), test_row("Provenance")];
        for body in [
            "",
            "<html><body>Sign in to the hospital proxy</body></html>",
            r#"{"resourceType":"OperationOutcome","issue":[]}"#,
            r#"{"resourceType":"Bundle","type":"transaction-response"}"#,
            r#"{"resourceType":"Bundle","entry":[{"response":{"status":"201","location":"Procedure/9"}}]}"#,
        ] {
            for (_, o) in acks(&rows, body) {
                assert!(matches!(o, Outcome::Retry { .. }), "{body}: {o:?}");
            }
        }
    }

    #[test]
    fn the_sizer_halves_on_refusal_grows_back_and_remembers_a_size_limit() {
        let mut s = BatchSizer::new(40, None);
        assert_eq!((s.batch(), s.next()), (40, 40));
        // A refusal of 40 halves down to the bad operation ...
        s.split(40);
        assert_eq!(s.next(), 20);
        s.stored(20);
        assert_eq!(s.next(), 20, "no growth above the ceiling the refusal set");
        s.split(20);
        s.split(10);
        s.split(5);
        s.split(2);
        assert_eq!(s.next(), 1);
        s.split(1);
        assert_eq!(s.next(), 1, "never zero");
        // ... which is rejected alone; the rest go at the largest size that worked.
        s.isolated();
        assert_eq!(s.next(), 20);

        // A 413 on 40 teaches a limit of 20; a later run starts there.
        let mut s = BatchSizer::new(40, None);
        assert_eq!(s.too_large(40), 20);
        s.stored(20);
        assert_eq!(s.next(), 20);
        assert_eq!(s.too_large(20), 10);
        let later = BatchSizer::new(40, Some(10));
        assert_eq!((later.batch(), later.next()), (10, 10));
        // A limit above the configured batch does not raise it; a batch of 0 still sends one.
        assert_eq!(BatchSizer::new(8, Some(50)).next(), 8);
        assert_eq!(BatchSizer::new(0, None).next(), 1);
    }

    #[test]
    fn growth_after_a_split_doubles_up_to_the_largest_size_that_worked() {
        let mut s = BatchSizer::new(16, None);
        s.stored(16);
        s.split(16);
        s.split(8);
        s.split(4);
        assert_eq!(s.next(), 2);
        s.isolated();
        assert_eq!(s.next(), 16, "16 worked before");
        let mut s = BatchSizer::new(16, None);
        s.split(16);
        s.split(8);
        s.stored(4);
        s.stored(4);
        assert_eq!(s.next(), 4, "the ceiling stays at the refusal's half");
        s.isolated();
        assert_eq!(s.next(), 4, "the largest that worked");
    }
}
