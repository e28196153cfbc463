//! The on-call view of runs recorded elsewhere, built from pulled FHIR resources (pure). A run is
//! a Procedure; what is `partOf` it (Observations, MedicationAdministrations) gives its newest
//! value per measured concept and its recent timeline. Read generically (code text, value,
//! units), so records another FHIR client wrote show too. Entered-in-error versions are left out.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::domain::patient::Mrn;
use crate::store::Pulled;

/// One run as the server has it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteRun {
    pub mrn: Mrn,
    pub server_id: String,
    pub kind: String,
    /// The kind of support when the run carries Pumpside's kind code (another client's run
    /// may not).
    pub case_kind: Option<crate::domain::CaseKind>,
    /// FHIR Procedure status (preparation, in-progress, completed, …).
    pub status: String,
    pub label: Option<String>,
    /// Where the patient is, as the server has it (`Procedure.location.display`).
    pub location: Option<String>,
    pub started: Option<DateTime<Utc>>,
    pub ended: Option<DateTime<Utc>>,
    /// The newest `meta.lastUpdated` among the run and its parts.
    pub updated: String,
    pub demo: bool,
    /// Signed off by the perfusionist who ran it (Pumpside's extension).
    pub signed: bool,
    /// The newest value of each measured concept, by name.
    pub latest: Vec<RemoteValue>,
    /// Events, doses and notes, newest first.
    pub timeline: Vec<RemoteEvent>,
    /// Every numeric value pulled for the run, per concept, as one-minute means (the
    /// SampledData decoded back, typed values as they are), oldest first.
    pub trends: Vec<RemoteSeries>,
    /// The run's own ECMO ranges as the team set them (protocol key, value, why, when), oldest
    /// first.
    pub rules: Vec<(String, f64, String, DateTime<Utc>)>,
    /// The Patient the server's run names (`Patient/123`), for what is written about the run
    /// on call.
    pub subject: Option<String>,
    /// Handover notes on the server, newest first.
    pub notes: Vec<RemoteNote>,
}

/// A handover note as the server has it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteNote {
    /// The Pumpside record key (the note's `urn:uuid:` identifier), when it has one.
    pub key: Option<String>,
    pub at: DateTime<Utc>,
    /// Who wrote it (the performer's display), when the server says.
    pub by: Option<String>,
    pub text: String,
}

/// One concept's pulled values, for the board's rules and the run's charts.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSeries {
    pub name: String,
    /// The Pumpside code, when the values carry one.
    pub code: Option<String>,
    /// The unit the values came in.
    pub unit: String,
    /// For a blood-gas value: the analyte (by its LOINC term) and where the blood was taken
    /// (Pumpside's body site for the circuit, else the term's specimen).
    pub gas: Option<(
        crate::domain::bloodgas::Analyte,
        crate::domain::bloodgas::SampleSite,
    )>,
    /// (start of the minute, mean of the values in it), oldest first.
    pub points: Vec<(DateTime<Utc>, f64)>,
}

/// A followed patient on the ECMO board.
#[derive(Debug, Clone, PartialEq)]
pub struct Followed {
    pub mrn: Mrn,
    pub runs: Vec<RemoteRun>,
    /// Pulled versions not shown because this device has unsettled changes to those records.
    pub held: u64,
    /// Handover notes written on this device for the patient's runs, with where each is on
    /// its way to the server.
    pub written_here: Vec<crate::store::RemoteNote>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RemoteValue {
    pub name: String,
    /// The value's Pumpside code (a parameter's code for device values), when it has one.
    pub code: Option<String>,
    /// As the server sent it (no rounding here).
    pub value: String,
    pub unit: String,
    pub at: DateTime<Utc>,
    /// The server's copy was corrected after it was first sent (FHIR status `corrected` or
    /// `amended`).
    pub corrected: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RemoteEvent {
    pub at: DateTime<Utc>,
    pub text: String,
}

/// An Observation marked as artefact: Pumpside's tag or interpretation (another client may use
/// either).
fn is_artefact(v: &Value) -> bool {
    let ours = |c: &Value| c["system"] == super::map::PUMPSIDE && c["code"] == "artefact";
    v["meta"]["tag"]
        .as_array()
        .is_some_and(|t| t.iter().any(ours))
        || v["interpretation"].as_array().is_some_and(|i| {
            i.iter()
                .filter_map(|c| c["coding"].as_array())
                .flatten()
                .any(ours)
        })
}

/// A blood-gas member's analyte and site: the LOINC term Pumpside sends (at 37 °C) and the
/// circuit site in `bodySite` (pre- or post-oxygenator), else the term's specimen.
fn gas_of(
    v: &Value,
    known: &std::collections::HashMap<
        &'static str,
        (crate::domain::bloodgas::Analyte, super::codes::Specimen),
    >,
) -> Option<(
    crate::domain::bloodgas::Analyte,
    crate::domain::bloodgas::SampleSite,
)> {
    use crate::domain::bloodgas::SampleSite;
    let (analyte, specimen) = v["code"]["coding"].as_array()?.iter().find_map(|c| {
        (c["system"] == super::map::LOINC)
            .then(|| c["code"].as_str().and_then(|code| known.get(code)))
            .flatten()
    })?;
    let site = match pumpside_code(&v["bodySite"]).as_deref() {
        Some("site-pre-oxygenator") => SampleSite::PreOxygenator,
        Some("site-post-oxygenator") => SampleSite::PostOxygenator,
        _ => super::labs::site(*specimen),
    };
    Some((*analyte, site))
}

/// The Pumpside code among a CodeableConcept's codings.
fn pumpside_code(code: &Value) -> Option<String> {
    code["coding"]
        .as_array()?
        .iter()
        .find(|c| c["system"] == super::map::PUMPSIDE)
        .and_then(|c| c["code"].as_str())
        .map(String::from)
}

fn name(code: &Value) -> String {
    code["text"]
        .as_str()
        .or_else(|| code["coding"][0]["display"].as_str())
        .or_else(|| code["coding"][0]["code"].as_str())
        .unwrap_or("unnamed")
        .to_string()
}

fn at(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn number(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The newest valid sample of a SampledData (tokens other than numbers are `E`, `L`, `U`).
fn last_sample(sd: &Value, start: DateTime<Utc>) -> Option<(String, DateTime<Utc>)> {
    let data = sd["data"].as_str()?;
    let period = sd["period"]
        .as_f64()
        .filter(|p| p.is_finite() && *p > 0.0)?;
    let dims = sd["dimensions"].as_u64().unwrap_or(1).max(1) as usize;
    let tokens: Vec<&str> = data.split_whitespace().collect();
    let (i, token) = tokens
        .iter()
        .enumerate()
        .rev()
        .find(|(_, t)| t.parse::<f64>().is_ok_and(f64::is_finite))?;
    let origin = sd["origin"]["value"].as_f64().unwrap_or(0.0);
    let factor = sd["factor"].as_f64().unwrap_or(1.0);
    let value = if origin == 0.0 && factor == 1.0 {
        (*token).to_string()
    } else {
        let x = origin + factor * token.parse::<f64>().ok()?;
        if !x.is_finite() {
            return None;
        }
        format!("{x}")
    };
    // Checked arithmetic: a pulled chunk with an absurd period (or one sample at the end of a
    // huge chunk) once overflowed the clock and crashed the board every time it opened.
    let offset_ms = (i / dims) as f64 * period;
    if !(0.0..=MAX_OFFSET_MS).contains(&offset_ms) {
        return None;
    }
    let at = start.checked_add_signed(Duration::try_milliseconds(offset_ms as i64)?)?;
    Some((value, at))
}

/// Every valid sample of a SampledData (first dimension) with its time, added to per-minute
/// sums. Tokens other than numbers (`E`, `L`, `U`) and absurd offsets are skipped.
fn add_samples(sd: &Value, start: DateTime<Utc>, bins: &mut BTreeMap<i64, (f64, u32)>) {
    let Some(data) = sd["data"].as_str() else {
        return;
    };
    let Some(period) = sd["period"].as_f64().filter(|p| p.is_finite() && *p > 0.0) else {
        return;
    };
    let dims = sd["dimensions"].as_u64().unwrap_or(1).clamp(1, 64) as usize;
    let origin = sd["origin"]["value"].as_f64().unwrap_or(0.0);
    let factor = sd["factor"].as_f64().unwrap_or(1.0);
    for (i, token) in data.split_whitespace().enumerate().step_by(dims) {
        let Ok(x) = token.parse::<f64>() else {
            continue;
        };
        let x = origin + factor * x;
        let offset_ms = (i / dims) as f64 * period;
        if !x.is_finite() || !(0.0..=MAX_OFFSET_MS).contains(&offset_ms) {
            continue;
        }
        let Some(at) =
            Duration::try_milliseconds(offset_ms as i64).and_then(|d| start.checked_add_signed(d))
        else {
            continue;
        };
        let bin = bins.entry(at.timestamp().div_euclid(60)).or_default();
        bin.0 += x;
        bin.1 += 1;
    }
}

/// The furthest a sample may lie from its chunk's start: a year (the board shows days).
const MAX_OFFSET_MS: f64 = 366.0 * 86_400_000.0;

fn unit_of(q: &Value) -> String {
    q["unit"]
        .as_str()
        .or_else(|| q["code"].as_str())
        .unwrap_or("")
        .to_string()
}

/// Build the runs of every followed patient from the newest shown version of each resource.
pub fn runs(pulled: &[Pulled]) -> Vec<RemoteRun> {
    let parsed: Vec<(&Pulled, Value)> = pulled
        .iter()
        .filter_map(|p| serde_json::from_str(&p.body).ok().map(|v| (p, v)))
        .filter(|(_, v): &(&Pulled, Value)| v["status"] != "entered-in-error")
        // A copy kept by an older version before pulled data was checked is checked again.
        .filter(|(p, v)| super::pull::check_pulled(v, p.body.len()).is_ok())
        .collect();
    let mut runs: BTreeMap<String, RemoteRun> = BTreeMap::new();
    for (p, v) in parsed
        .iter()
        .filter(|(p, _)| p.resource_type == "Procedure")
    {
        let period = &v["performedPeriod"];
        runs.insert(
            format!("Procedure/{}", p.server_id),
            RemoteRun {
                mrn: p.mrn.clone(),
                server_id: p.server_id.clone(),
                kind: name(&v["code"]),
                case_kind: pumpside_code(&v["code"])
                    .and_then(|c| c.strip_prefix("case-kind-").map(String::from))
                    .and_then(|c| crate::domain::CaseKind::from_code(&c)),
                status: v["status"].as_str().unwrap_or("unknown").to_string(),
                label: v["note"][0]["text"].as_str().map(String::from),
                location: v["location"]["display"]
                    .as_str()
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| s.chars().take(120).collect()),
                started: at(&period["start"]).or_else(|| at(&v["performedDateTime"])),
                ended: at(&period["end"]),
                updated: p.last_updated.clone(),
                demo: v["meta"]["tag"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|c| c["code"] == "demo")),
                signed: v["extension"].as_array().is_some_and(|x| {
                    x.iter().any(|e| {
                        e["url"] == "https://pumpside.org/fhir/StructureDefinition/signed"
                            && e["valueBoolean"] == true
                    })
                }),
                latest: Vec::new(),
                timeline: Vec::new(),
                trends: Vec::new(),
                rules: Vec::new(),
                subject: v["subject"]["reference"]
                    .as_str()
                    .filter(|r| r.starts_with("Patient/"))
                    .map(String::from),
                notes: Vec::new(),
            },
        );
    }
    let mut latest: BTreeMap<(String, String), RemoteValue> = BTreeMap::new();
    // (run, name) → (code, unit, minute → (sum, n)).
    type Bins = (
        Option<String>,
        String,
        Option<(
            crate::domain::bloodgas::Analyte,
            crate::domain::bloodgas::SampleSite,
        )>,
        BTreeMap<i64, (f64, u32)>,
    );
    let known = super::labs::known_codes();
    let mut trends: BTreeMap<(String, String), Bins> = BTreeMap::new();
    for (p, v) in &parsed {
        let Some(run_ref) = v["partOf"].as_array().and_then(|a| {
            a.iter()
                .filter_map(|r| r["reference"].as_str())
                .find(|r| runs.contains_key(*r))
        }) else {
            continue;
        };
        let Some(run) = runs.get_mut(run_ref) else {
            continue;
        };
        if p.last_updated > run.updated {
            run.updated = p.last_updated.clone();
        }
        match p.resource_type.as_str() {
            "Observation" => {
                let when = at(&v["effectiveDateTime"])
                    .or_else(|| at(&v["effectivePeriod"]["start"]))
                    .or_else(|| at(&v["issued"]));
                let Some(when) = when else { continue };
                let what = name(&v["code"]);
                if pumpside_code(&v["code"]).as_deref() == Some("ecmo-rule") {
                    // A range of this run: a rule, not a measured value.
                    let key = v["extension"].as_array().and_then(|x| {
                        x.iter()
                            .find(|e| e["url"] == super::map::ECMO_RULE_KEY)
                            .and_then(|e| e["valueCode"].as_str())
                    });
                    if let (Some(key), Some(value)) = (key, v["valueQuantity"]["value"].as_f64()) {
                        let why = v["note"][0]["text"].as_str().unwrap_or("").to_string();
                        run.rules.push((key.to_string(), value, why, when));
                    }
                    continue;
                }
                if pumpside_code(&v["code"]).as_deref() == Some("handover-note") {
                    if let Some(text) = v["valueString"].as_str() {
                        run.notes.push(RemoteNote {
                            key: p.record_key.clone(),
                            at: when,
                            by: v["performer"][0]["display"]
                                .as_str()
                                .map(|s| s.chars().take(120).collect()),
                            text: text.to_string(),
                        });
                    }
                    continue;
                }
                let value = if let Some(n) = number(&v["valueQuantity"]["value"]) {
                    Some((n, unit_of(&v["valueQuantity"]), when))
                } else if v["valueSampledData"].is_object() {
                    last_sample(&v["valueSampledData"], when)
                        .map(|(x, t)| (x, unit_of(&v["valueSampledData"]["origin"]), t))
                } else {
                    None
                };
                if is_artefact(v) {
                    // Marked artefact by the team: never a newest value, said on the timeline.
                    let shown = value
                        .map(|(x, u, _)| format!(" {x} {u}"))
                        .unwrap_or_default();
                    run.timeline.push(RemoteEvent {
                        at: when,
                        text: format!("{what}{} marked artefact", shown.trim_end()),
                    });
                    continue;
                }
                {
                    let (unit, quantity) = if v["valueSampledData"].is_object() {
                        (unit_of(&v["valueSampledData"]["origin"]), None)
                    } else {
                        (
                            unit_of(&v["valueQuantity"]),
                            v["valueQuantity"]["value"].as_f64(),
                        )
                    };
                    // A gas value per site: pre- and post-oxygenator blood share a term.
                    let series_name = match v["bodySite"]["text"].as_str() {
                        Some(site) => format!("{what} · {site}"),
                        None => what.clone(),
                    };
                    let (_, _, _, bins) = trends
                        .entry((run_ref.to_string(), series_name))
                        .or_insert_with(|| {
                            (
                                pumpside_code(&v["code"]),
                                unit,
                                gas_of(v, &known),
                                BTreeMap::new(),
                            )
                        });
                    if v["valueSampledData"].is_object() {
                        add_samples(&v["valueSampledData"], when, bins);
                    } else if let Some(x) = quantity.filter(|x| x.is_finite()) {
                        let bin = bins.entry(when.timestamp().div_euclid(60)).or_default();
                        bin.0 += x;
                        bin.1 += 1;
                    }
                }
                let corrected = matches!(v["status"].as_str(), Some("corrected" | "amended"));
                match (value, v["valueString"].as_str()) {
                    (Some((value, unit, at)), _) => {
                        let k = (run_ref.to_string(), what.clone());
                        if latest.get(&k).is_none_or(|old| at >= old.at) {
                            latest.insert(
                                k,
                                RemoteValue {
                                    name: what,
                                    code: pumpside_code(&v["code"]),
                                    value,
                                    unit,
                                    at,
                                    corrected,
                                },
                            );
                        }
                    }
                    (None, Some(text)) => run.timeline.push(RemoteEvent {
                        at: when,
                        text: format!("{what}: {text}"),
                    }),
                    // A panel (its members carry the values) or an event marker.
                    (None, None) if v["hasMember"].is_array() => {}
                    (None, None) => run.timeline.push(RemoteEvent {
                        at: when,
                        text: what,
                    }),
                }
            }
            "MedicationAdministration" => {
                let Some(when) =
                    at(&v["effectiveDateTime"]).or_else(|| at(&v["effectivePeriod"]["start"]))
                else {
                    continue;
                };
                let dose = &v["dosage"]["dose"];
                let amount = number(&dose["value"])
                    .map(|n| format!(" {n} {}", unit_of(dose)))
                    .unwrap_or_default();
                run.timeline.push(RemoteEvent {
                    at: when,
                    text: format!("{}{}", name(&v["medicationCodeableConcept"]), amount)
                        .trim_end()
                        .to_string(),
                });
            }
            _ => {}
        }
    }
    for ((run_ref, _), value) in latest {
        if let Some(run) = runs.get_mut(&run_ref) {
            run.latest.push(value);
        }
    }
    for ((run_ref, name), (code, unit, gas, bins)) in trends {
        let Some(run) = runs.get_mut(&run_ref) else {
            continue;
        };
        let points: Vec<(DateTime<Utc>, f64)> = bins
            .into_iter()
            .filter_map(|(minute, (sum, n))| {
                let at = DateTime::from_timestamp(minute.checked_mul(60)?, 0)?;
                let mean = sum / f64::from(n);
                mean.is_finite().then_some((at, mean))
            })
            .collect();
        if !points.is_empty() {
            run.trends.push(RemoteSeries {
                name,
                code,
                unit,
                gas,
                points,
            });
        }
    }
    let mut out: Vec<RemoteRun> = runs.into_values().collect();
    for r in &mut out {
        r.timeline.sort_by_key(|e| std::cmp::Reverse(e.at));
        r.rules.sort_by_key(|(_, _, _, at)| *at);
        r.notes.sort_by_key(|n| std::cmp::Reverse(n.at));
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.started));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pulled(t: &str, id: &str, updated: &str, body: Value) -> Pulled {
        Pulled {
            mrn: Mrn {
                system: "urn:test".into(),
                value: "M1".into(),
            },
            resource_type: t.into(),
            server_id: id.into(),
            version_id: "1".into(),
            last_updated: updated.into(),
            record_key: None,
            body: body.to_string(),
        }
    }

    /// A gas marked artefact on another tablet is never a newest value here (the older valid
    /// one is) and says so on the timeline; a corrected value says it was corrected.
    #[test]
    fn artefact_marks_and_corrections_from_the_server_show_as_such() {
        let proc = pulled(
            "Procedure",
            "p1",
            "2026-11-26T10:00:00Z",
            json!({"resourceType":"Procedure","status":"in-progress","code":{"text":"VA ECMO"},
              "performedPeriod":{"start":"2026-11-26T08:00:00Z"}}),
        );
        let obs = |id: &str, at: &str, value: u32, extra: Value| {
            let mut o = json!({"resourceType":"Observation","status":"final",
              "code":{"text":"pO₂"},"partOf":[{"reference":"Procedure/p1"}],
              "effectiveDateTime":at,"valueQuantity":{"value":value,"unit":"mmHg"}});
            for (k, v) in extra.as_object().unwrap() {
                o[k] = v.clone();
            }
            pulled("Observation", id, "2026-11-26T10:05:00Z", o)
        };
        let older = obs("o1", "2026-11-26T09:00:00Z", 180, json!({}));
        let artefact = obs(
            "o2",
            "2026-11-26T09:30:00Z",
            610,
            json!({"status":"amended","meta":{"tag":[{"system":crate::sync::map::PUMPSIDE,"code":"artefact"}]}}),
        );
        let runs = runs(&[proc.clone(), older.clone(), artefact]);
        let run = &runs[0];
        assert_eq!(run.latest.len(), 1);
        assert_eq!(
            (run.latest[0].value.as_str(), run.latest[0].corrected),
            ("180", false)
        );
        assert_eq!(run.timeline[0].text, "pO₂ 610 mmHg marked artefact");
        // Another client's interpretation coding counts too; a correction is flagged.
        let by_interpretation = obs(
            "o3",
            "2026-11-26T09:40:00Z",
            612,
            json!({"interpretation":[{"coding":[{"system":crate::sync::map::PUMPSIDE,"code":"artefact"}]}]}),
        );
        let corrected = obs(
            "o4",
            "2026-11-26T09:45:00Z",
            190,
            json!({"status":"corrected"}),
        );
        let runs = super::runs(&[proc, older, by_interpretation, corrected]);
        assert_eq!(
            (
                runs[0].latest[0].value.as_str(),
                runs[0].latest[0].corrected
            ),
            ("190", true)
        );
        assert!(runs[0]
            .timeline
            .iter()
            .any(|e| e.text.contains("612 mmHg marked artefact")));
    }

    #[test]
    fn a_run_gathers_its_newest_values_events_and_doses() {
        let rows = vec![
            pulled(
                "Procedure",
                "p1",
                "2026-11-26T10:00:00Z",
                json!({"resourceType":"Procedure","status":"in-progress",
                  "code":{"text":"VA ECMO"},"performedPeriod":{"start":"2026-11-26T08:00:00Z"}}),
            ),
            pulled(
                "Observation",
                "o1",
                "2026-11-26T10:01:00Z",
                json!({"resourceType":"Observation","status":"final","code":{"text":"Pump flow"},
                  "partOf":[{"reference":"Procedure/p1"}],
                  "effectivePeriod":{"start":"2026-11-26T09:50:00.000Z"},
                  "valueSampledData":{"origin":{"value":0,"unit":"L/min"},"period":1000,
                    "dimensions":1,"data":"4.10 4.20 4.25 E E"}}),
            ),
            pulled(
                "Observation",
                "o2",
                "2026-11-26T10:02:00Z",
                json!({"resourceType":"Observation","status":"final","code":{"text":"ACT"},
                  "partOf":[{"reference":"Procedure/p1"}],
                  "effectiveDateTime":"2026-11-26T09:55:00Z",
                  "valueQuantity":{"value":212,"unit":"s"}}),
            ),
            pulled(
                "Observation",
                "o3",
                "2026-11-26T10:03:00Z",
                json!({"resourceType":"Observation","status":"entered-in-error",
                  "code":{"text":"ACT"},"partOf":[{"reference":"Procedure/p1"}],
                  "effectiveDateTime":"2026-11-26T09:58:00Z","valueQuantity":{"value":999,"unit":"s"}}),
            ),
            pulled(
                "MedicationAdministration",
                "m1",
                "2026-11-26T10:04:00Z",
                json!({"resourceType":"MedicationAdministration","status":"completed",
                  "medicationCodeableConcept":{"text":"Heparin"},
                  "partOf":[{"reference":"Procedure/p1"}],
                  "effectiveDateTime":"2026-11-26T09:40:00Z",
                  "dosage":{"dose":{"value":5000,"unit":"[iU]"}}}),
            ),
            pulled(
                "Observation",
                "o4",
                "2026-11-26T10:05:00Z",
                json!({"resourceType":"Observation","status":"final","code":{"text":"Other run"},
                  "partOf":[{"reference":"Procedure/elsewhere"}],
                  "effectiveDateTime":"2026-11-26T09:58:00Z","valueQuantity":{"value":1}}),
            ),
        ];
        let runs = runs(&rows);
        assert_eq!(runs.len(), 1);
        let r = &runs[0];
        assert_eq!(
            (r.kind.as_str(), r.status.as_str()),
            ("VA ECMO", "in-progress")
        );
        assert_eq!(r.updated, "2026-11-26T10:04:00Z");
        let flow = r.latest.iter().find(|v| v.name == "Pump flow").unwrap();
        // The last valid sample, third slot: start + 2 s, text as sent.
        assert_eq!(flow.value, "4.25");
        assert_eq!(flow.at.to_rfc3339(), "2026-11-26T09:50:02+00:00");
        let act = r.latest.iter().find(|v| v.name == "ACT").unwrap();
        assert_eq!((act.value.as_str(), act.unit.as_str()), ("212", "s"));
        assert_eq!(r.timeline.len(), 1);
        assert_eq!(r.timeline[0].text, "Heparin 5000 [iU]");
    }

    #[test]
    fn sampled_data_with_origin_and_factor_and_no_valid_sample() {
        let t0 = at(&json!("2026-11-26T09:00:00Z")).unwrap();
        let sd = json!({"origin":{"value":10},"factor":0.5,"period":2000,"dimensions":1,
                        "data":"2 4 E"});
        let (v, t) = last_sample(&sd, t0).unwrap();
        assert_eq!(v, "12");
        assert_eq!(t, t0 + Duration::seconds(2));
        assert!(last_sample(&json!({"period":1000,"data":"E E L"}), t0).is_none());
        assert!(last_sample(&json!({"period":0,"data":"1"}), t0).is_none());
        assert!(last_sample(&json!({"period":1000,"data":"NaN inf 1e999"}), t0).is_none());
        // Absurd periods from outside: no sample, never a panic.
        for period in [1e300, 9.3e15, f64::MAX] {
            assert!(
                last_sample(&json!({"period": period, "data": "1 2 3"}), t0).is_none(),
                "{period}"
            );
        }
        assert!(
            last_sample(&json!({"period": 1e300, "data": "7"}), t0).is_some(),
            "the first sample is at the start"
        );
    }
}
