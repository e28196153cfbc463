//! Laboratory and point-of-care results read back from the hospital's server for a case's
//! patient (pure): pulled Observations coded with a LOINC term Pumpside knows (`codes.rs`, read
//! backwards) become `domain::labs::LabResult`s. Pumpside's own uploads, results not final, a
//! temperature-adjusted value (its temperature is another resource) and anything unreadable are
//! left out; the value keeps the text the server sent (7.380 stays 7.380).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::codes::{self, Reported, Specimen};
use super::map::{self, LOINC, PUMPSIDE};
use crate::domain::bloodgas::{Analyte, AnalyteValue, GasTemperature, SampleSite};
use crate::domain::labs::LabResult;
use crate::store::Pulled;

/// Blood first: a term Pumpside sends for every specimen (K⁺ 6298-4, the blood pO₂ 11556-8 of a
/// mixed-venous gas) means unspecified blood, not the first site that happens to use it.
const SPECIMENS: [Specimen; 5] = [
    Specimen::Blood,
    Specimen::Arterial,
    Specimen::Venous,
    Specimen::MixedVenous,
    Specimen::Capillary,
];

/// Every LOINC term Pumpside sends for an analyte at 37 °C, with what it means.
pub fn known_codes() -> HashMap<&'static str, (Analyte, Specimen)> {
    let mut out = HashMap::new();
    for a in Analyte::ALL {
        for s in SPECIMENS {
            for unit in ["", "mmol/L", "mg/dL"] {
                if let Some((code, _)) = codes::analyte(a, unit, s, Reported::At37) {
                    out.entry(code).or_insert((a, s));
                }
            }
        }
    }
    out
}

pub(super) fn site(s: Specimen) -> SampleSite {
    match s {
        Specimen::Arterial => SampleSite::PatientArtery,
        Specimen::Venous => SampleSite::Venous,
        Specimen::MixedVenous => SampleSite::MixedVenous,
        Specimen::Capillary => SampleSite::Capillary,
        Specimen::Blood => SampleSite::Unspecified,
    }
}

/// A UCUM unit back to the spelling Pumpside records.
fn unit(ucum: &str) -> &str {
    match ucum {
        "mm[Hg]" => "mmHg",
        "[pH]" | "1" => "",
        "meq/L" => "mEq/L",
        other => other,
    }
}

fn is_ours(v: &Value) -> bool {
    let ours = |c: &Value| c["system"] == PUMPSIDE;
    v["code"]["coding"]
        .as_array()
        .is_some_and(|c| c.iter().any(ours))
        || v["meta"]["tag"]
            .as_array()
            .is_some_and(|t| t.iter().any(ours))
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The results among `pulled` (newest shown versions), read from `server`.
pub fn results(pulled: &[Pulled], server: &str) -> Vec<LabResult> {
    let known = known_codes();
    let mut out: Vec<(LabResult, Specimen)> = Vec::new();
    for p in pulled.iter().filter(|p| p.resource_type == "Observation") {
        // Numbers kept as the server wrote them.
        let Ok(v) = map::from_text(&p.body) else {
            continue;
        };
        if is_ours(&v)
            || !matches!(
                v["status"].as_str(),
                Some("final" | "amended" | "corrected")
            )
        {
            continue;
        }
        let Some((analyte, specimen)) = v["code"]["coding"].as_array().and_then(|c| {
            c.iter()
                .filter(|c| c["system"] == LOINC)
                .find_map(|c| c["code"].as_str().and_then(|code| known.get(code)).copied())
        }) else {
            continue;
        };
        let q = &v["valueQuantity"];
        let Some(value) = q["value"]
            .as_str()
            .and_then(|t| t.strip_prefix("\u{1}dec:"))
            .and_then(|t| t.parse().ok())
        else {
            continue;
        };
        let recorded_unit = q["unit"]
            .as_str()
            .or_else(|| q["code"].as_str())
            .map(unit)
            .unwrap_or("")
            .to_string();
        let Some(at) =
            time(&v["effectiveDateTime"]).or_else(|| time(&v["effectivePeriod"]["start"]))
        else {
            continue;
        };
        out.push((
            LabResult {
                analyte,
                value: AnalyteValue {
                    value,
                    unit: recorded_unit,
                },
                site: site(specimen),
                temperature: GasTemperature::At37,
                at,
                reference: format!("Observation/{}/_history/{}", p.server_id, p.version_id),
                server: server.to_string(),
                performer: v["performer"][0]["display"].as_str().map(String::from),
            },
            specimen,
        ));
    }
    // Electrolytes and metabolites are coded on "Blood" whatever the sample; measured at the
    // same time as a site-specific gas from one site, they belong to that sample.
    let sites: HashMap<DateTime<Utc>, Vec<SampleSite>> = out
        .iter()
        .filter(|(_, s)| *s != Specimen::Blood)
        .fold(HashMap::new(), |mut m, (r, _)| {
            let list: &mut Vec<SampleSite> = m.entry(r.at).or_default();
            if !list.contains(&r.site) {
                list.push(r.site);
            }
            m
        });
    out.into_iter()
        .map(|(mut r, s)| {
            if s == Specimen::Blood {
                if let Some([one]) = sites.get(&r.at).map(Vec::as_slice) {
                    r.site = *one;
                }
            }
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::patient::Mrn;
    use serde_json::json;

    fn pulled(id: &str, body: &str) -> Pulled {
        Pulled {
            mrn: Mrn {
                system: "urn:test".into(),
                value: "M1".into(),
            },
            resource_type: "Observation".into(),
            server_id: id.into(),
            version_id: "1".into(),
            last_updated: "2026-12-01T10:00:00Z".into(),
            record_key: None,
            body: body.into(),
        }
    }

    fn obs(code: &str, value: &str, unit: &str) -> String {
        format!(
            r#"{{"resourceType":"Observation","status":"final","code":{{"coding":[{{"system":"http://loinc.org","code":"{code}"}}]}},"effectiveDateTime":"2026-12-01T09:30:00Z","valueQuantity":{{"value":{value},"unit":"{unit}"}},"performer":[{{"display":"ABL90 in OR 3"}}]}}"#
        )
    }

    #[test]
    fn known_terms_become_results_with_the_numbers_as_sent() {
        let rows = vec![
            pulled("a", &obs("2744-1", "7.380", "[pH]")),
            pulled("b", &obs("2703-7", "88.0", "mm[Hg]")),
            pulled("c", &obs("6298-4", "4.60", "mmol/L")),
            // Unknown term, a preliminary result, one of Pumpside's own: left out.
            pulled("d", &obs("9999-9", "1", "")),
            pulled(
                "e",
                &obs("2744-1", "7.40", "").replace("\"final\"", "\"preliminary\""),
            ),
            pulled(
                "f",
                &json!({"resourceType":"Observation","status":"final","code":{"coding":[
                  {"system":"http://loinc.org","code":"2744-1"},{"system":PUMPSIDE,"code":"blood-gas-ph"}]},
                  "effectiveDateTime":"2026-12-01T09:30:00Z","valueQuantity":{"value":7.1}})
                .to_string(),
            ),
        ];
        let got = results(&rows, "https://fhir.example/");
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0].analyte, Analyte::Ph);
        assert_eq!(got[0].value.value.to_string(), "7.380");
        assert_eq!(got[0].value.unit, "");
        assert_eq!(got[1].value.unit, "mmHg");
        assert_eq!(got[1].value.value.to_string(), "88.0");
        assert_eq!(got[0].site, SampleSite::PatientArtery);
        // K⁺ is coded on unspecified blood but came with the arterial gas.
        assert_eq!(got[2].site, SampleSite::PatientArtery);
        assert_eq!(got[2].reference, "Observation/c/_history/1");
        assert_eq!(got[2].performer.as_deref(), Some("ABL90 in OR 3"));
    }
}
