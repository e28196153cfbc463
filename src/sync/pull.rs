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
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A searchset's resources as versions to store, with the newest `lastUpdated` among them.
fn versions(bundle: &Value) -> (Vec<PulledNew>, Option<DateTime<Utc>>) {
    let mut out = Vec::new();
    let mut newest: Option<DateTime<Utc>> = None;
    for e in bundle["entry"].as_array().into_iter().flatten() {
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
            body: r.to_string(),
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
        let cursor = self
            .store
            .pull_cursor(mrn.clone(), resource_type.to_string())
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
                "{resource_type}?subject=Patient/{}&_sort=_lastUpdated&_count={page}",
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
            if !read.insert(path.clone()) {
                return Err(SyncError::Transient(format!(
                    "the server's {resource_type} search repeats a page already read (its next link loops); paging stopped"
                )));
            }
            if read.len() > MAX_PAGES {
                return Err(SyncError::Transient(format!(
                    "more than {MAX_PAGES} pages of {resource_type} in one pull; paging stopped"
                )));
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
            let (found, page_newest) = versions(&bundle);
            let full = found.len() >= page;
            report.received += found.len();
            newest = newest.max(page_newest);
            let ack = self
                .store
                .record_pull(
                    mrn.clone(),
                    resource_type.to_string(),
                    found,
                    newest.map(stamp),
                )
                .await?;
            report.added += ack.added;
            report.held += ack.held;
            if let Some(next) = next_link(&bundle) {
                path = next
                    .strip_prefix(self.transport.config.base.as_str())
                    .ok_or_else(|| {
                        SyncError::Transient(
                            "the server's next link points to another server; not followed"
                                .to_string(),
                        )
                    })?
                    .to_string();
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
        let (v, newest) = versions(&b);
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
}
