//! Pull for the on-call view: for each followed patient (by MRN), Procedures, Observations and
//! MedicationAdministrations changed on the server since a cursor:
//! `<Type>?subject=Patient/<id>&_lastUpdated=ge<cursor − safety window>&_sort=_lastUpdated`
//! (the window is `pull_window_s` in sync.toml, 5 minutes by default).
//! `next` links are followed (same server only); a server that pages without them is paged by
//! moving the `_lastUpdated` bound to the newest version of the last full page (and widening the
//! page when one instant fills it). Versions are deduplicated by type, id and version in the
//! store; the window re-reads what a slow transaction may have committed with an earlier
//! timestamp. Pulled versions never replace a local record (see `store::pull`).

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::Value;

use super::engine::{check_auth, enc, is_patient_with, mrn_query, SyncEngine, SyncError};
use crate::domain::patient::Mrn;
use crate::domain::CaseStatus;
use crate::store::PulledNew;

/// What a pull reads for a followed patient.
pub const PULLED_TYPES: [&str; 3] = ["Procedure", "Observation", "MedicationAdministration"];

/// The largest page a pull asks for when one instant fills a whole page.
const MAX_PAGE: usize = 10_000;
/// Pages of one resource type read in one pull, at most.
const MAX_PAGES: usize = 500;

/// What one pull did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PullReport {
    pub patients: usize,
    /// Search requests sent.
    pub requests: usize,
    /// Resource versions received (repeats included).
    pub received: usize,
    /// Versions not seen before.
    pub added: usize,
    /// Of those, versions held back because this device has unsettled changes to the record.
    pub held: usize,
    /// Followed MRNs the server has no (single) Patient for.
    pub missing: Vec<String>,
    /// Pulled resources not kept, each named with why (an absurd number, period or size).
    pub skipped: Vec<String>,
    /// Searches whose paging was stopped (a looping or foreign next link, too many pages): what
    /// was read is kept, the other types are still pulled.
    pub problems: Vec<String>,
}

/// Largest pulled resource kept (a whole day of SampledData at 1 Hz is about 600 kB).
const MAX_RESOURCE_BYTES: usize = 1 << 20;
/// Largest magnitude of a pulled number (no perfusion value comes near it).
const MAX_MAGNITUDE: f64 = 1e9;
/// A SampledData period longer than a day, or slots more than a day of 1 Hz data, is absurd.
const MAX_PERIOD_MS: f64 = 86_400_000.0;
const MAX_SLOTS: usize = 86_400;

/// Why a pulled resource is not kept, if it is not: every number finite and within bounds,
/// SampledData with a plausible period, factor and length, times that parse, a bounded size.
/// What another client wrote must never crash the board (a huge period once did, every time
/// the ECMO board opened, offline too, because the pulled copy was kept).
pub fn check_pulled(r: &Value, size: usize) -> Result<(), String> {
    if size > MAX_RESOURCE_BYTES {
        return Err(format!(
            "{size} bytes, over the {MAX_RESOURCE_BYTES}-byte limit"
        ));
    }
    fn numbers(v: &Value, path: &str) -> Result<(), String> {
        match v {
            Value::Number(n) => match n.as_f64() {
                Some(x) if x.is_finite() && x.abs() <= MAX_MAGNITUDE => Ok(()),
                _ => Err(format!("{path} = {n} is out of bounds")),
            },
            Value::Array(a) => a.iter().try_for_each(|x| numbers(x, path)),
            Value::Object(m) => m
                .iter()
                .try_for_each(|(k, x)| numbers(x, &format!("{path}.{k}"))),
            _ => Ok(()),
        }
    }
    numbers(r, r["resourceType"].as_str().unwrap_or("resource"))?;
    let sd = &r["valueSampledData"];
    if sd.is_object() {
        let period = sd["period"].as_f64().unwrap_or(0.0);
        if !(period > 0.0 && period <= MAX_PERIOD_MS) {
            return Err(format!(
                "SampledData period {} ms is not plausible",
                sd["period"]
            ));
        }
        if let Some(f) = sd["factor"].as_f64() {
            if f == 0.0 {
                return Err("SampledData factor 0".into());
            }
        }
        let slots = sd["data"]
            .as_str()
            .map_or(0, |d| d.split_whitespace().count());
        if slots > MAX_SLOTS {
            return Err(format!("SampledData with {slots} slots, over {MAX_SLOTS}"));
        }
    }
    for field in ["effectiveDateTime", "issued"] {
        if let Some(t) = r[field].as_str() {
            if parse_time(t).is_none() && chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").is_err()
            {
                return Err(format!("{field} {t:?} is not a date-time"));
            }
        }
    }
    Ok(())
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A searchset's resources as versions to store, with the newest `lastUpdated` among them;
/// resources that fail [`check_pulled`] go to `skipped` with why, not to the store.
/// `exact` is the same page read with every number as written (`map::from_text`): the stored
/// copy keeps the server's text (7.380 stays 7.380).
///
/// With `patient`, a resource whose `subject` is not that patient (relative, absolute or
/// versioned reference) is skipped and named too: a search answer about someone else is never
/// kept under the patient asked for.
fn versions(
    bundle: &Value,
    exact: &Value,
    patient: Option<&str>,
    skipped: &mut Vec<String>,
) -> (Vec<PulledNew>, Option<DateTime<Utc>>) {
    let mut out = Vec::new();
    let mut newest: Option<DateTime<Utc>> = None;
    for (i, e) in bundle["entry"].as_array().into_iter().flatten().enumerate() {
        let r = &e["resource"];
        if e["search"]["mode"] == "include" || e["search"]["mode"] == "outcome" {
            continue;
        }
        let (Some(t), Some(id), Some(updated)) = (
            r["resourceType"].as_str(),
            r["id"].as_str(),
            r["meta"]["lastUpdated"].as_str(),
        ) else {
            continue;
        };
        let Some(at) = parse_time(updated) else {
            continue;
        };
        newest = newest.max(Some(at));
        let body = match &exact["entry"][i]["resource"] {
            Value::Object(_) => super::map::to_text(&exact["entry"][i]["resource"]),
            _ => r.to_string(),
        };
        if let Err(why) = check_pulled(r, body.len()) {
            skipped.push(format!("{t}/{id}: {why}"));
            continue;
        }
        if let Some(p) = patient {
            let subject = r["subject"]["reference"].as_str();
            // A reference is read like a Location: relative, absolute or versioned.
            let about = subject.and_then(|r| super::answer::parse_location(r, "Patient"));
            if about.as_ref().map(|(id, _)| id.as_str()) != Some(p) {
                skipped.push(format!(
                    "{t}/{id}: about {}, not the patient asked for (Patient/{p})",
                    subject.unwrap_or("no patient")
                ));
                continue;
            }
        }
        let record_key = r["identifier"].as_array().and_then(|ids| {
            ids.iter().find_map(|i| {
                (i["system"] == super::map::URI)
                    .then(|| i["value"].as_str()?.strip_prefix("urn:uuid:"))
                    .flatten()
                    .map(String::from)
            })
        });
        out.push(PulledNew {
            resource_type: t.to_string(),
            server_id: id.to_string(),
            version_id: r["meta"]["versionId"]
                .as_str()
                .unwrap_or(updated)
                .to_string(),
            last_updated: stamp(at),
            record_key,
            body,
        });
    }
    (out, newest)
}

fn next_link(bundle: &Value) -> Option<&str> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")?["url"]
        .as_str()
}

impl SyncEngine {
    /// Pull what changed on the server for every followed patient.
    pub async fn pull(&self) -> Result<PullReport, SyncError> {
        let mut report = PullReport::default();
        for mrn in self.store.followed().await? {
            report.patients += 1;
            let Some(patient) = self.find_patient(&mrn, &mut report).await? else {
                continue;
            };
            for t in PULLED_TYPES {
                self.pull_type(&mrn, &patient, t, &mut report).await?;
            }
        }
        self.pull_labs(&mut report).await?;
        Ok(report)
    }

    async fn find_patient(
        &self,
        mrn: &Mrn,
        report: &mut PullReport,
    ) -> Result<Option<String>, SyncError> {
        let ids = self
            .search_ids(
                &format!("Patient?{}", mrn_query(mrn)),
                "a followed patient",
                &|r| is_patient_with(r, mrn),
            )
            .await?;
        report.requests += 1;
        match ids.as_slice() {
            [one] => Ok(Some(one.to_string())),
            _ => {
                report.missing.push(mrn.value.clone());
                Ok(None)
            }
        }
    }

    async fn pull_type(
        &self,
        mrn: &Mrn,
        patient: &str,
        resource_type: &str,
        report: &mut PullReport,
    ) -> Result<(), SyncError> {
        self.pull_search(mrn, patient, resource_type, "", resource_type, report)
            .await
    }

    /// Laboratory and point-of-care results for the patients of live cases on this device
    /// (set-up or running, with a patient, not demo): Observations coded with a LOINC term
    /// Pumpside knows, since two hours before the case opened, for one-tap acceptance into
    /// the case (`domain::labs`). Stored with the other pulled versions, under their own cursor.
    async fn pull_labs(&self, report: &mut PullReport) -> Result<(), SyncError> {
        let mut codes: Vec<&str> = super::labs::known_codes().into_keys().collect();
        codes.sort_unstable();
        let filter = format!(
            "&code={}",
            codes
                .iter()
                .map(|c| format!("{}|{c}", super::map::LOINC))
                .collect::<Vec<_>>()
                .join(",")
        );
        let mut done: Vec<Mrn> = Vec::new();
        for case in self.store.list_cases().await? {
            if !matches!(case.status, CaseStatus::Setup | CaseStatus::Running) || case.is_demo {
                continue;
            }
            let Some(patient) = case.patient else {
                continue;
            };
            let Some(p) = self.store.patient(patient).await? else {
                continue;
            };
            if done.contains(&p.mrn) {
                continue;
            }
            done.push(p.mrn.clone());
            // A case's patient missing on the server is the upload's to say, not the board's.
            let mut lookup = PullReport::default();
            let found = self.find_patient(&p.mrn, &mut lookup).await?;
            report.requests += lookup.requests;
            let Some(server_patient) = found else {
                continue;
            };
            let since = case.created_at - crate::domain::labs::OFFER_BEFORE_START;
            let filter = format!("{filter}&date=ge{}", enc(&stamp(since)));
            self.pull_search(
                &p.mrn,
                &server_patient,
                "Observation",
                &filter,
                "Observation:lab",
                report,
            )
            .await?;
        }
        Ok(())
    }

    /// Page through `resource_type` for the patient (with `filter` added to the query), from
    /// the cursor stored under `cursor_key`.
    async fn pull_search(
        &self,
        mrn: &Mrn,
        patient: &str,
        resource_type: &str,
        filter: &str,
        cursor_key: &str,
        report: &mut PullReport,
    ) -> Result<(), SyncError> {
        let cursor = self
            .store
            .pull_cursor(mrn.clone(), cursor_key.to_string())
            .await?
            .and_then(|c| parse_time(&c));
        let mut page = self.transport.config.pull_page;
        // Servers stamp lastUpdated when a write starts; one that commits late can appear
        // behind versions already pulled, so each poll re-reads a window before its cursor.
        let window =
            Duration::from_std(self.transport.config.pull_window).unwrap_or(Duration::minutes(5));
        let mut lower = cursor.map(|c| c - window);
        let mut newest = cursor;
        let query = |lower: Option<DateTime<Utc>>, page: usize| {
            let mut q = format!(
                "{resource_type}?subject=Patient/{}{filter}&_sort=_lastUpdated&_count={page}",
                enc(patient)
            );
            if let Some(l) = lower {
                q.push_str(&format!("&_lastUpdated=ge{}", enc(&stamp(l))));
            }
            q
        };
        let mut path = query(lower, page);
        // Paging is bounded and loop-proof: a page already read is never asked for again in
        // this pull (a `next` link to itself once looped at ~900 requests a second), and a
        // pull reads at most MAX_PAGES pages of one type.
        let mut read = std::collections::HashSet::new();
        loop {
            // What was read is kept and the other types are still pulled; the stop is named.
            if !read.insert(path.clone()) {
                report.problems.push(format!(
                    "the server's {resource_type} search repeats a page already read (its next link loops); paging stopped"
                ));
                return Ok(());
            }
            if read.len() > MAX_PAGES {
                report.problems.push(format!(
                    "more than {MAX_PAGES} pages of {resource_type} in one pull; paging stopped"
                ));
                return Ok(());
            }
            let reply = self.transport.get(&path).await?;
            report.requests += 1;
            check_auth(reply.status)?;
            if reply.status != 200 {
                return Err(SyncError::Transient(format!(
                    "HTTP {} pulling {resource_type}",
                    reply.status
                )));
            }
            let bundle: Value = serde_json::from_str(&reply.body)
                .map_err(|e| SyncError::Transient(format!("{resource_type} search answer: {e}")))?;
            let exact = super::map::from_text(&reply.body).unwrap_or(Value::Null);
            let (found, page_newest) =
                versions(&bundle, &exact, Some(patient), &mut report.skipped);
            let full = found.len() >= page;
            report.received += found.len();
            newest = newest.max(page_newest);
            let ack = self
                .store
                .record_pull(
                    mrn.clone(),
                    cursor_key.to_string(),
                    found,
                    newest.map(stamp),
                )
                .await?;
            report.added += ack.added;
            report.held += ack.held;
            if let Some(next) = next_link(&bundle) {
                let Some(same) = next.strip_prefix(self.transport.config.base.as_str()) else {
                    report.problems.push(format!(
                        "the server's {resource_type} next link points to another server; not followed"
                    ));
                    return Ok(());
                };
                path = same.to_string();
                continue;
            }
            if !full {
                return Ok(());
            }
            // A full page and no next link: move the bound to the page's newest version; when
            // one instant filled the page, ask for a bigger one instead.
            if page_newest.is_some() && page_newest > lower {
                lower = page_newest;
            } else if page < MAX_PAGE {
                page = (page * 2).min(MAX_PAGE);
            } else {
                return Err(SyncError::Transient(format!(
                    "more than {MAX_PAGE} {resource_type} versions share one lastUpdated and the server gives no next link"
                )));
            }
            path = query(lower, page);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_take_ids_versions_and_the_record_key_and_skip_includes() {
        let b = json!({"resourceType":"Bundle","type":"searchset","entry":[
            {"resource":{"resourceType":"Observation","id":"a","meta":{"versionId":"7","lastUpdated":"2026-11-26T10:00:00.5+01:00"},
              "identifier":[{"system":"urn:ietf:rfc:3986","value":"urn:uuid:0193-k"}]}},
            {"resource":{"resourceType":"Observation","id":"b","meta":{"lastUpdated":"2026-11-26T09:30:00Z"}}},
            {"resource":{"resourceType":"Patient","id":"p","meta":{"lastUpdated":"2026-11-26T11:00:00Z"}},"search":{"mode":"include"}},
            {"resource":{"resourceType":"Observation","id":"c"}}
        ],"link":[{"relation":"next","url":"https://s/Observation?page=2"}]});
        let mut skipped = Vec::new();
        let (v, newest) = versions(&b, &Value::Null, None, &mut skipped);
        assert!(skipped.is_empty());
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].record_key.as_deref(), Some("0193-k"));
        assert_eq!(v[0].version_id, "7");
        assert_eq!(v[0].last_updated, "2026-11-26T09:00:00.500Z");
        // No versionId: lastUpdated stands in for it.
        assert_eq!(v[1].version_id, "2026-11-26T09:30:00Z");
        assert_eq!(
            newest.map(stamp).as_deref(),
            Some("2026-11-26T09:30:00.000Z")
        );
        assert_eq!(next_link(&b), Some("https://s/Observation?page=2"));
    }

    #[test]
    fn a_search_answer_about_another_patient_is_skipped_and_named() {
        let obs = |id: &str, subject: Value| {
            json!({"resource":{"resourceType":"Observation","id":id,
              "meta":{"versionId":"1","lastUpdated":"2026-11-26T10:00:00Z"},"subject":subject}})
        };
        let b = json!({"resourceType":"Bundle","type":"searchset","entry":[
            obs("rel", json!({"reference":"Patient/p1"})),
            obs("abs", json!({"reference":"https://h/fhir/Patient/p1/_history/4"})),
            obs("other", json!({"reference":"Patient/p2"})),
            obs("group", json!({"reference":"Group/p1"})),
            obs("none", Value::Null),
        ]});
        let mut skipped = Vec::new();
        let (v, _) = versions(&b, &Value::Null, Some("p1"), &mut skipped);
        let kept: Vec<&str> = v.iter().map(|p| p.server_id.as_str()).collect();
        assert_eq!(kept, ["rel", "abs"]);
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert!(
            skipped[0]
                .starts_with("Observation/other: about Patient/p2, not the patient asked for"),
            "{skipped:?}"
        );
        assert!(skipped[2].contains("about no patient"), "{skipped:?}");
        let patient_id =
            |r: &str| super::super::answer::parse_location(r, "Patient").map(|(id, _)| id);
        assert_eq!(patient_id("Patient/"), None);
        assert_eq!(patient_id("http://h/Patient/9?x=1").as_deref(), Some("9"));
    }

    #[test]
    fn absurd_pulled_resources_are_skipped_and_named_and_sound_ones_kept() {
        let obs = |extra: Value| {
            let mut o = json!({"resourceType":"Observation","id":"x",
              "meta":{"versionId":"1","lastUpdated":"2026-11-26T10:00:00Z"},"status":"final",
              "code":{"text":"Pump flow"},"effectiveDateTime":"2026-11-26T09:00:00Z"});
            for (k, v) in extra.as_object().unwrap() {
                o[k] = v.clone();
            }
            o
        };
        let sound = obs(
            json!({"valueSampledData":{"origin":{"value":0},"period":1000,"dimensions":1,"data":"4.1 4.2 E"}}),
        );
        assert_eq!(check_pulled(&sound, 300), Ok(()));
        let bad = [
            (
                json!({"valueSampledData":{"origin":{"value":0},"period":1e300,"dimensions":1,"data":"1"}}),
                "period",
            ),
            (
                json!({"valueSampledData":{"origin":{"value":0},"period":0,"dimensions":1,"data":"1"}}),
                "period",
            ),
            (
                json!({"valueSampledData":{"origin":{"value":0},"period":1000,"factor":0,"dimensions":1,"data":"1"}}),
                "factor",
            ),
            (
                json!({"valueQuantity":{"value":1e300,"unit":"L/min"}}),
                "out of bounds",
            ),
            (json!({"valueQuantity":{"value":-5e12}}), "out of bounds"),
            (
                json!({"effectiveDateTime":"yesterday-ish"}),
                "not a date-time",
            ),
        ];
        for (extra, why) in bad {
            let r = obs(extra);
            let e = check_pulled(&r, 300).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        assert!(check_pulled(&sound, 2 << 20).unwrap_err().contains("bytes"));
        let b = json!({"resourceType":"Bundle","type":"searchset","entry":[
            {"resource": sound},
            {"resource": obs(json!({"id":"huge","valueSampledData":{"origin":{"value":0},"period":1e300,"dimensions":1,"data":"1"}}))}
        ]});
        let mut skipped = Vec::new();
        let (v, _) = versions(&b, &Value::Null, None, &mut skipped);
        assert_eq!(v.len(), 1);
        assert_eq!(skipped.len(), 1);
        assert!(
            skipped[0].starts_with("Observation/huge: ") && skipped[0].contains("period"),
            "{skipped:?}"
        );
    }
}
