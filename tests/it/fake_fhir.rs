//! A scripted FHIR server for what the real peer (Medplum's MemoryRepository) does not do:
//! it pages searches with `next` links, and it applies part of a transaction before failing
//! (MemoryRepository transactions are not atomic). Each answer is decided by a closure over the
//! request; every request is kept for the assertions.

use std::sync::{Arc, Mutex};

use chrono::Utc;
use pumpside::domain::patient::Mrn;
use pumpside::domain::{Author, EntryPayload};
use pumpside::store::Store;
use pumpside::sync::{remote, SyncEngine};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use crate::sync::{add, author, config, d, open, read_request, record_cpb_case};

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: String,
}

/// (this request, the requests before it, the server's own base URL) → (status, body).
type Script = dyn Fn(&Seen, &[Seen], &str) -> (u16, String) + Send + Sync;

pub struct FakeFhir {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeFhir {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeFhir {
    pub async fn start(script: Box<Script>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        let script: Arc<Script> = script.into();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                let script = script.clone();
                let me = format!("http://127.0.0.1:{port}/");
                tokio::spawn(async move {
                    while let Some(raw) = read_request(&mut s).await {
                        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                        let head = String::from_utf8_lossy(&raw[..end]).to_string();
                        let mut first = head.lines().next().unwrap_or("").split(' ');
                        let req = Seen {
                            method: first.next().unwrap_or("").to_string(),
                            path: first.next().unwrap_or("").to_string(),
                            body: String::from_utf8_lossy(&raw[end + 4..]).to_string(),
                        };
                        let before = log.lock().unwrap().clone();
                        let (status, body) = script(&req, &before, &me);
                        log.lock().unwrap().push(req);
                        // A 3xx answer's body is its Location.
                        let (location, body) = if (300..400).contains(&status) {
                            (format!("Location: {body}\r\n"), String::new())
                        } else {
                            (String::new(), body)
                        };
                        let resp = format!(
                            "HTTP/1.1 {status} X\r\n{location}Content-Type: application/fhir+json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if s.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { port, seen, task }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

/// The Patient a `Patient?identifier=system|value` search asks for (id pat-1), carrying that
/// identifier as a real server's would (the engine checks it).
fn asked_patient(req: &Seen) -> Value {
    let query = req.path.split_once('?').map_or("", |(_, q)| q);
    let asked = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("identifier="))
        .unwrap_or("");
    let decoded = percent_decode(asked);
    let (system, value) = decoded.split_once('|').unwrap_or(("", ""));
    json!({ "resourceType": "Patient", "id": "pat-1",
        "identifier": [{ "system": system, "value": value }] })
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn searchset(entries: Vec<Value>, next: Option<String>) -> String {
    let mut b = json!({ "resourceType": "Bundle", "type": "searchset",
        "entry": entries.into_iter().map(|r| json!({ "resource": r, "search": { "mode": "match" } })).collect::<Vec<_>>() });
    if let Some(n) = next {
        b["link"] = json!([{ "relation": "next", "url": n }]);
    }
    b.to_string()
}

fn observation(id: &str, minute: u32, value: u32) -> Value {
    json!({ "resourceType": "Observation", "id": id,
        "meta": { "versionId": "1", "lastUpdated": format!("2026-11-26T08:{minute:02}:00.000Z") },
        "status": "final", "code": { "text": "Pump flow" },
        "subject": { "reference": "Patient/pat-1" },
        "partOf": [{ "reference": "Procedure/run-1" }],
        "effectiveDateTime": format!("2026-11-26T08:{minute:02}:00Z"),
        "valueQuantity": { "value": value, "unit": "L/min" } })
}

/// A followed patient with one run and five pump-flow Observations served two per page, the
/// pages linked by `next` links under `link_base` (the server's own address, or another).
fn paged(req: &Seen, link_base: &str) -> (u16, String) {
    let p = req.path.as_str();
    if p.starts_with("/Patient?") {
        return (200, searchset(vec![asked_patient(req)], None));
    }
    if p.starts_with("/Procedure?") {
        let run = json!({ "resourceType": "Procedure", "id": "run-1",
            "meta": { "versionId": "3", "lastUpdated": "2026-11-26T08:00:00.000Z" },
            "status": "in-progress", "code": { "text": "VV ECMO" },
            "subject": { "reference": "Patient/pat-1" },
            "performedPeriod": { "start": "2026-11-25T20:00:00Z" } });
        return (200, searchset(vec![run], None));
    }
    if p.starts_with("/Observation?") {
        let (page, next) = if p.contains("page=2") {
            (
                vec![observation("o3", 3, 43), observation("o4", 4, 44)],
                Some(3),
            )
        } else if p.contains("page=3") {
            (vec![observation("o5", 5, 45)], None)
        } else {
            (
                vec![observation("o1", 1, 41), observation("o2", 2, 42)],
                Some(2),
            )
        };
        let link = next.map(|n| format!("{link_base}Observation?page={n}"));
        return (200, searchset(page, link));
    }
    (200, searchset(vec![], None))
}

/// An on-call phone's fresh store following one MRN (under `urn:test:mrn`); keep the directory.
async fn on_call_following(value: &str) -> (tempfile::TempDir, Store, Author, Mrn) {
    let dir = crate::temp_dir();
    let s = open(dir.path());
    let who = Author::new("On call", "phone-1");
    let m = Mrn {
        system: "urn:test:mrn".into(),
        value: value.into(),
    };
    s.follow(m.clone(), true, who.clone()).await.unwrap();
    (dir, s, who, m)
}

#[tokio::test]
async fn a_pull_follows_next_links_on_the_same_server_only() {
    let (_dir, s, who, m) = on_call_following("VV-1").await;

    // Links to another host are not followed: the patient's query does not go elsewhere.
    let foreign = FakeFhir::start(Box::new(|req: &Seen, _: &[Seen], _: &str| {
        paged(req, "https://elsewhere.example/")
    }))
    .await;
    let engine = SyncEngine::new(s.clone(), config(&foreign.base(), ""), who.clone()).unwrap();
    let report = engine.pull().await.unwrap();
    assert!(
        report.problems.iter().any(|p| p.contains("another server")),
        "{report:?}"
    );
    assert!(!foreign
        .seen
        .lock()
        .unwrap()
        .iter()
        .any(|r| r.path.contains("page=")));
    drop(foreign);

    // The same server's links: all three pages are read.
    let fake = FakeFhir::start(Box::new(|req: &Seen, _: &[Seen], me: &str| paged(req, me))).await;
    let engine = SyncEngine::new(s.clone(), config(&fake.base(), ""), who).unwrap();
    let report = engine.pull().await.unwrap();
    // The refused attempt had stored the first page and the run; nothing is stored twice.
    assert_eq!(
        report.received, 6,
        "the run and five observations: {report:?}"
    );
    assert_eq!(report.added, 3, "{report:?}");
    let paths: Vec<String> = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert!(
        paths.iter().any(|p| p.ends_with("Observation?page=3")),
        "{paths:?}"
    );
    let runs = remote::runs(&s.pulled(m.clone()).await.unwrap());
    assert_eq!(runs.len(), 1);
    let flow = runs[0]
        .latest
        .iter()
        .find(|v| v.name == "Pump flow")
        .unwrap();
    assert_eq!(flow.value, "45", "the newest value, from the last page");
    // The next poll starts at the cursor (08:05) minus the 5-minute safety window.
    fake.seen.lock().unwrap().clear();
    let again = engine.pull().await.unwrap();
    assert_eq!(again.added, 0, "{again:?}");
    let obs_query = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.path.starts_with("/Observation?"))
        .map(|r| r.path.clone())
        .unwrap();
    assert!(
        obs_query.contains("_lastUpdated=ge2026-11-26T08:00:00.000Z"),
        "{obs_query}"
    );
}

/// A search answer that mixes in another patient's Observation (a server ignoring the
/// `patient` parameter, or a proxy's cache): that one is skipped and named on the report, the
/// patient's own are kept, and the followed run shows only the patient's values.
#[tokio::test]
async fn a_pulled_observation_about_another_patient_is_skipped_and_named() {
    let (_dir, s, who, m) = on_call_following("VV-MIX").await;
    let fake = FakeFhir::start(Box::new(|req: &Seen, _: &[Seen], me: &str| {
        if req.path.starts_with("/Observation?") {
            let mut stranger = observation("o9", 9, 99);
            stranger["subject"] = json!({ "reference": "Patient/someone-else" });
            let page = vec![observation("o1", 1, 41), stranger];
            return (200, searchset(page, None));
        }
        paged(req, me)
    }))
    .await;
    let engine = SyncEngine::new(s.clone(), config(&fake.base(), ""), who).unwrap();
    let report = engine.pull().await.unwrap();
    assert!(
        report
            .skipped
            .iter()
            .any(|p| p.starts_with("Observation/o9") && p.contains("Patient/someone-else")),
        "{report:?}"
    );
    let runs = remote::runs(&s.pulled(m).await.unwrap());
    assert_eq!(runs.len(), 1);
    let flow = runs[0]
        .latest
        .iter()
        .find(|v| v.name == "Pump flow")
        .unwrap();
    assert_eq!(
        flow.value, "41",
        "the patient's own value, not the stranger's 99"
    );
}

/// A server whose `next` link points at the page just read: the pull reads it once, stops with
/// a named message, and neither loops nor writes a cursor row per request.
#[tokio::test]
async fn a_next_link_that_points_at_its_own_page_ends_the_paging() {
    let (_dir, s, who, _) = on_call_following("VV-LOOP").await;
    let fake = FakeFhir::start(Box::new(|req: &Seen, _: &[Seen], me: &str| {
        if req.path.starts_with("/Observation?") {
            let own = format!("{me}{}", req.path.trim_start_matches('/'));
            return (200, searchset(vec![observation("o1", 1, 41)], Some(own)));
        }
        paged(req, me)
    }))
    .await;
    let engine = SyncEngine::new(s.clone(), config(&fake.base(), ""), who).unwrap();
    let report = tokio::time::timeout(std::time::Duration::from_secs(20), engine.pull())
        .await
        .expect("the pull ends")
        .unwrap();
    // Named, and the page read is kept: the loop costs that type its paging, not the pull.
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("repeats a page already read")),
        "{report:?}"
    );
    assert!(report.added >= 1, "{report:?}");
    let observation_requests = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path.starts_with("/Observation?"))
        .count();
    assert!(
        observation_requests <= 2,
        "the looping page was asked for {observation_requests} times"
    );
}

#[tokio::test]
async fn a_transaction_that_failed_half_applied_is_retried_with_the_same_conditional_creates() {
    // The first transaction "applies" and then fails with 500 (as a non-atomic server may); the
    // retry must carry the same identifiers and ifNoneExist conditions, so the half that was
    // applied is matched instead of created twice. The second try succeeds.
    let fake = FakeFhir::start(Box::new(|req: &Seen, before: &[Seen], _: &str| {
        if req.path.starts_with("/Patient?") {
            return (200, searchset(vec![asked_patient(req)], None));
        }
        if req.method == "POST" && req.path == "/" {
            let tries = before.iter().filter(|r| r.method == "POST" && r.path == "/").count();
            if tries == 0 {
                return (500, json!({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]}).to_string());
            }
            return created(req, before);
        }
        (200, searchset(vec![], None))
    }))
    .await;
    let dir = crate::temp_dir();
    let s = open(dir.path());
    let rec = record_cpb_case(&s, "HALF-1", 0).await;
    add(
        &s,
        rec.case,
        Utc::now(),
        EntryPayload::Act { seconds: d("455") },
    )
    .await;
    let engine = SyncEngine::new(s.clone(), config(&fake.base(), "batch = 5"), author()).unwrap();
    assert!(engine.sync_once().await.is_err(), "the 500 is reported");
    let pending = s.outbox_summary().await.unwrap().pending;
    assert!(pending > 0);
    engine.sync_once().await.unwrap();
    let seen = fake.seen.lock().unwrap().clone();
    let posts: Vec<Value> = seen
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/")
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert!(posts.len() >= 2);
    let conditions = |b: &Value| -> Vec<(String, String)> {
        b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["request"]["ifNoneExist"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    e["resource"]["identifier"][0]["value"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        conditions(&posts[0]),
        conditions(&posts[1]),
        "the retry is the same operations"
    );
    assert!(conditions(&posts[0])
        .iter()
        .filter(|(c, _)| !c.is_empty())
        .all(|(c, id)| c.ends_with(id.as_str())));
    assert_eq!(s.outbox_summary().await.unwrap().pending, 0);
}

/// The bytes on the wire carry every decimal as typed: an ACT of 480.0 s and a gas with pH 7.380
/// and a base excess of -0.50 go up with their trailing zeros (the outbox kept them; re-parsing
/// the row into floats dropped them on the way out).
#[tokio::test]
async fn decimals_go_on_the_wire_exactly_as_typed() {
    use pumpside::domain::bloodgas::{
        Analyte, AnalyteValue, BloodGasPanel, GasTemperature, SampleSite,
    };
    let fake = FakeFhir::start(Box::new(|req: &Seen, before: &[Seen], _: &str| {
        if req.path.starts_with("/Patient?") {
            return (200, searchset(vec![asked_patient(req)], None));
        }
        if req.method == "POST" && req.path == "/" {
            return created(req, before);
        }
        (200, searchset(vec![], None))
    }))
    .await;
    let dir = crate::temp_dir();
    let s = open(dir.path());
    let rec = record_cpb_case(&s, "WIRE-1", 0).await;
    add(
        &s,
        rec.case,
        Utc::now(),
        EntryPayload::Act {
            seconds: d("480.0"),
        },
    )
    .await;
    let v = |value: &str, unit: &str| AnalyteValue {
        value: d(value),
        unit: unit.into(),
    };
    add(
        &s,
        rec.case,
        Utc::now(),
        EntryPayload::BloodGas(BloodGasPanel {
            site: SampleSite::PatientArtery,
            temperature: GasTemperature::At37,
            results: [
                (Analyte::Ph, v("7.380", "")),
                (Analyte::BaseExcess, v("-0.50", "mmol/L")),
                (Analyte::Po2, v("245.0", "mmHg")),
            ]
            .into_iter()
            .collect(),
            source: None,
        }),
    )
    .await;
    let engine = SyncEngine::new(s.clone(), config(&fake.base(), "batch = 50"), author()).unwrap();
    engine.sync_once().await.unwrap();
    let wire: String = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.body.clone())
        .collect();
    for typed in ["480.0", "7.380", "-0.50", "245.0"] {
        assert!(
            wire.contains(&format!("\"value\":{typed}")),
            "{typed} on the wire as typed: {wire}"
        );
    }
}

/// A server that answers a transaction with absolute `Location`s and no resources (allowed;
/// HAPI and others do this): every operation is acknowledged with the id in the Location, and a
/// resource sent later refers to the run by that id, never `Procedure/`. An answer that names
/// nothing usable leaves the rows pending and ends the pass (no hot loop).
#[tokio::test]
async fn absolute_locations_without_resources_are_acknowledged_by_their_id() {
    let fake = FakeFhir::start(Box::new(|req: &Seen, before: &[Seen], me: &str| {
        if req.path.starts_with("/Patient?") {
            return (200, searchset(vec![asked_patient(req)], None));
        }
        if req.method == "POST" && req.path == "/" {
            let bundle: Value = serde_json::from_str(&req.body).unwrap();
            let n = before.len();
            let entries: Vec<Value> = bundle["entry"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let rt = e["resource"]["resourceType"].as_str().unwrap_or("");
                    json!({ "response": { "status": "201 Created",
                        "location": format!("{me}{rt}/srv-{n}-{i}/_history/1") } })
                })
                .collect();
            return (
                200,
                json!({"resourceType":"Bundle","type":"transaction-response","entry": entries})
                    .to_string(),
            );
        }
        (200, searchset(vec![], None))
    }))
    .await;
    let dir = crate::temp_dir();
    let s = open(dir.path());
    let rec = record_cpb_case(&s, "ABS-1", 0).await;
    let engine = SyncEngine::new(s.clone(), config(&fake.base(), "batch = 50"), author()).unwrap();
    engine.sync_once().await.unwrap();
    assert_eq!(s.outbox_summary().await.unwrap().pending, 0);
    add(
        &s,
        rec.case,
        Utc::now(),
        EntryPayload::Act { seconds: d("455") },
    )
    .await;
    engine.sync_once().await.unwrap();
    let last = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|r| r.method == "POST")
        .map(|r| r.body.clone())
        .unwrap();
    assert!(
        last.contains("\"reference\":\"Procedure/srv-"),
        "the run by its server id: {last}"
    );
    assert!(!last.contains("\"Procedure/\""), "{last}");

    // A server whose answer names nothing: the rows stay pending, the pass ends with a message.
    let mute = FakeFhir::start(Box::new(|req: &Seen, _: &[Seen], _: &str| {
        if req.method == "POST" {
            return (
                200,
                json!({"resourceType":"Bundle","type":"transaction-response","entry":[]})
                    .to_string(),
            );
        }
        if req.path.starts_with("/Patient?") {
            return (200, searchset(vec![asked_patient(req)], None));
        }
        (200, searchset(vec![], None))
    }))
    .await;
    let dir2 = crate::temp_dir();
    let s2 = open(dir2.path());
    record_cpb_case(&s2, "ABS-2", 0).await;
    let engine = SyncEngine::new(s2.clone(), config(&mute.base(), "batch = 50"), author()).unwrap();
    let err = tokio::time::timeout(std::time::Duration::from_secs(10), engine.sync_once())
        .await
        .expect("the pass ends")
        .unwrap_err();
    assert!(err.to_string().contains("did not name"), "{err}");
    assert!(s2.outbox_summary().await.unwrap().pending > 0);
    let posts = mute
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 1, "one try per pass");
}

/// Answers every transaction with one created entry per resource (relative Locations).
fn created(req: &Seen, before: &[Seen]) -> (u16, String) {
    let bundle: Value = serde_json::from_str(&req.body).unwrap();
    let n = before.len();
    let entries: Vec<Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let rt = e["resource"]["resourceType"].as_str().unwrap_or("");
            json!({ "response": { "status": "201 Created",
                "location": format!("{rt}/r-{n}-{i}/_history/1") } })
        })
        .collect();
    (
        200,
        json!({"resourceType":"Bundle","type":"transaction-response","entry": entries}).to_string(),
    )
}

/// A gateway that refuses Bundles of more than 3 entries with 413: the engine halves until they
/// fit, uploads everything, and starts the next pass at the size that worked. A wrong base path
/// (404 on the transaction) leaves every record pending, says to check the address, and the
/// records go up once the address is fixed.
#[tokio::test]
async fn a_size_limit_splits_bundles_and_a_wrong_base_waits_for_the_fix() {
    let fake = FakeFhir::start(Box::new(|req: &Seen, before: &[Seen], _: &str| {
        // Under /wrong/ searches are answered (a proxy that passes GETs) but the transaction
        // endpoint is not there.
        if req.path.starts_with("/wrong") && req.method == "POST" {
            return (404, "<html>Not Found</html>".into());
        }
        let path = req.path.strip_prefix("/wrong").unwrap_or(&req.path);
        if path.starts_with("/Patient?") {
            return (200, searchset(vec![asked_patient(req)], None));
        }
        if req.method == "POST" && req.path == "/" {
            let bundle: Value = serde_json::from_str(&req.body).unwrap();
            if bundle["entry"].as_array().map_or(0, Vec::len) > 3 {
                return (413, "<html>Request Entity Too Large</html>".into());
            }
            return created(req, before);
        }
        (200, searchset(vec![], None))
    }))
    .await;
    let dir = crate::temp_dir();
    let s = open(dir.path());
    let rec = record_cpb_case(&s, "SIZE-1", 0).await;

    // The wrong base first: nothing is rejected, the message names the address.
    let wrong = SyncEngine::new(
        s.clone(),
        config(&format!("{}wrong/", fake.base()), "batch = 20"),
        author(),
    )
    .unwrap();
    let err = wrong.sync_once().await.unwrap_err().to_string();
    assert!(err.contains("check the server address"), "{err}");
    assert!(
        err.contains("(HTTP 404)"),
        "the transaction's 404, not a search's: {err}"
    );
    let summary = s.outbox_summary().await.unwrap();
    assert_eq!(summary.rejected, 0, "{summary:?}");
    assert!(summary.pending > 3, "{summary:?}");

    // The address fixed: Bundles split to fit, everything goes up.
    let engine = SyncEngine::new(s.clone(), config(&fake.base(), "batch = 20"), author()).unwrap();
    let errors = crate::sync::sync_until_done(&engine, &s, 5).await;
    assert!(errors.is_empty(), "{errors:?}");
    let summary = s.outbox_summary().await.unwrap();
    assert_eq!((summary.pending, summary.rejected), (0, 0), "{summary:?}");
    // The next pass starts at the size that worked: no 413 in it.
    add(
        &s,
        rec.case,
        Utc::now(),
        EntryPayload::Act { seconds: d("455") },
    )
    .await;
    add(
        &s,
        rec.case,
        Utc::now(),
        EntryPayload::Act { seconds: d("470") },
    )
    .await;
    let before = fake.seen.lock().unwrap().len();
    engine.sync_once().await.unwrap();
    let statuses: Vec<usize> = fake.seen.lock().unwrap()[before..]
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap()["entry"]
                .as_array()
                .map_or(0, Vec::len)
        })
        .collect();
    assert!(
        !statuses.is_empty() && statuses.iter().all(|n| *n <= 3),
        "Bundle sizes after learning the limit: {statuses:?}"
    );
}

/// A redirect to another server (here another port: another origin) is not followed, so the
/// MRN search never leaves for it; a redirect on the same server is followed.
#[tokio::test]
async fn redirects_to_another_server_are_refused_and_same_server_ones_followed() {
    let elsewhere = FakeFhir::start(Box::new(|_: &Seen, _: &[Seen], _: &str| {
        (200, searchset(vec![], None))
    }))
    .await;
    let other = elsewhere.base();
    let fake = FakeFhir::start(Box::new(move |req: &Seen, before: &[Seen], me: &str| {
        if let Some(rest) = req.path.strip_prefix("/Patient?") {
            return (302, format!("{other}Patient?{rest}"));
        }
        if req.method == "POST" {
            return created(req, before);
        }
        let _ = me;
        (200, searchset(vec![], None))
    }))
    .await;
    let dir = crate::temp_dir();
    let s = open(dir.path());
    record_cpb_case(&s, "REDIR-1", 0).await;
    let engine = SyncEngine::new(s.clone(), config(&fake.base(), ""), author()).unwrap();
    let err = engine.sync_once().await.unwrap_err().to_string();
    assert!(err.contains("redirect"), "{err}");
    assert!(
        elsewhere.seen.lock().unwrap().is_empty(),
        "the MRN search went to another server"
    );
    assert!(s.outbox_summary().await.unwrap().pending > 0);

    // The same server moving its search: followed.
    let moved = FakeFhir::start(Box::new(|req: &Seen, before: &[Seen], me: &str| {
        if let Some(rest) = req.path.strip_prefix("/Patient?") {
            return (302, format!("{me}moved/Patient?{rest}"));
        }
        if req.path.starts_with("/moved/Patient?") {
            return (200, searchset(vec![asked_patient(req)], None));
        }
        if req.method == "POST" {
            return created(req, before);
        }
        (200, searchset(vec![], None))
    }))
    .await;
    let engine = SyncEngine::new(s.clone(), config(&moved.base(), "batch = 50"), author()).unwrap();
    let errors = crate::sync::sync_until_done(&engine, &s, 3).await;
    assert!(errors.is_empty(), "{errors:?}");
}

/// A server that answers a Patient search by MRN with someone else (another identifier): the
/// answer is not believed, nothing is uploaded under that patient, and the message says why.
#[tokio::test]
async fn a_search_answer_with_another_patient_is_not_used() {
    let fake = FakeFhir::start(Box::new(|req: &Seen, before: &[Seen], _: &str| {
        if req.path.starts_with("/Patient?") {
            let other = json!({ "resourceType": "Patient", "id": "someone-else",
                "identifier": [{ "system": "urn:test:mrn", "value": "NOT-ASKED" }] });
            return (200, searchset(vec![other], None));
        }
        if req.method == "POST" {
            return created(req, before);
        }
        (200, searchset(vec![], None))
    }))
    .await;
    let dir = crate::temp_dir();
    let s = open(dir.path());
    record_cpb_case(&s, "WHO-1", 0).await;
    let engine = SyncEngine::new(s.clone(), config(&fake.base(), ""), author()).unwrap();
    let err = engine.sync_once().await.unwrap_err().to_string();
    assert!(err.contains("not what was asked for"), "{err}");
    assert!(
        !fake.seen.lock().unwrap().iter().any(|r| r.method == "POST"),
        "nothing uploaded under another patient"
    );
    assert!(s.outbox_summary().await.unwrap().pending > 0);
}
