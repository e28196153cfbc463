//! Laboratory and point-of-care results the hospital's systems posted for the case's patient,
//! offered for one-tap acceptance into the case so nothing is typed twice (pure). Results taken
//! at the same time from the same specimen make one offer, which becomes one blood-gas panel
//! naming its source. An offer already accepted is not offered again.

use chrono::{DateTime, Duration, Utc};

use super::bloodgas::{
    Analyte, AnalyteValue, BloodGasPanel, GasTemperature, ResultSource, SampleSite,
};
use super::{Entry, EntryPayload};

/// One result as the hospital's server has it (read by `sync::labs`).
#[derive(Debug, Clone, PartialEq)]
pub struct LabResult {
    pub analyte: Analyte,
    /// As the server sent it (the number's text kept), in `value.unit`.
    pub value: AnalyteValue,
    pub site: SampleSite,
    pub temperature: GasTemperature,
    /// When the sample was taken.
    pub at: DateTime<Utc>,
    /// `Observation/<id>/_history/<version>` on `server`.
    pub reference: String,
    pub server: String,
    pub performer: Option<String>,
}

/// Results offered together: one specimen at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct LabOffer {
    pub at: DateTime<Utc>,
    /// The panel to record, its source filled in.
    pub panel: BloodGasPanel,
}

impl LabOffer {
    /// A stable key for the offer (its server references), for the screen and for idempotence.
    pub fn key(&self) -> String {
        self.panel
            .source
            .as_ref()
            .map(|s| s.resources.join(","))
            .unwrap_or_default()
    }

    /// "10:42 arterial: pH 7.380, pO₂ 88 mmHg, K⁺ 4.6 mmol/L (Central laboratory)".
    pub fn summary(&self) -> String {
        let values: Vec<String> = self
            .panel
            .results
            .iter()
            .map(|(a, v)| {
                format!("{} {} {}", a.label(), v.value, v.unit)
                    .trim_end()
                    .to_string()
            })
            .collect();
        let by = self
            .panel
            .source
            .as_ref()
            .and_then(|s| s.performer.clone())
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        format!(
            "{} {}: {}{by}",
            self.at.format("%H:%M"),
            self.panel.site.label(),
            values.join(", ")
        )
    }
}

/// How long before the case's start a result is still offered (a gas drawn in the anaesthetic
/// room before the case was opened on the tablet).
pub const OFFER_BEFORE_START: Duration = Duration::hours(2);

/// The offers for a case: `results` taken since `start` minus [`OFFER_BEFORE_START`], grouped by
/// time, specimen and temperature mode, without those whose server resources an entry of the
/// case already took in (a retracted acceptance counts as taken: the person said no).
pub fn offers(results: &[LabResult], entries: &[Entry], start: DateTime<Utc>) -> Vec<LabOffer> {
    let taken: Vec<&str> = entries
        .iter()
        .filter_map(|e| match &e.payload {
            EntryPayload::BloodGas(p) => p.source.as_ref(),
            EntryPayload::Correction { replacement, .. } => match replacement.as_ref() {
                EntryPayload::BloodGas(p) => p.source.as_ref(),
                _ => None,
            },
            _ => None,
        })
        .flat_map(|s| s.resources.iter().map(String::as_str))
        .collect();
    let mut out: Vec<LabOffer> = Vec::new();
    let mut sorted: Vec<&LabResult> = results
        .iter()
        .filter(|r| r.at >= start - OFFER_BEFORE_START)
        .filter(|r| !taken.contains(&r.reference.as_str()))
        .collect();
    sorted.sort_by(|a, b| (a.at, &a.reference).cmp(&(b.at, &b.reference)));
    for r in sorted {
        let same = out.iter_mut().find(|o| {
            o.at == r.at
                && o.panel.site == r.site
                && o.panel.temperature == r.temperature
                && !o.panel.results.contains_key(&r.analyte)
                && o.panel.source.as_ref().map(|s| s.server.as_str()) == Some(r.server.as_str())
        });
        match same {
            Some(o) => {
                o.panel.results.insert(r.analyte, r.value.clone());
                if let Some(s) = o.panel.source.as_mut() {
                    s.resources.push(r.reference.clone());
                    if s.performer.is_none() {
                        s.performer = r.performer.clone();
                    }
                }
            }
            None => out.push(LabOffer {
                at: r.at,
                panel: BloodGasPanel {
                    site: r.site,
                    temperature: r.temperature,
                    results: [(r.analyte, r.value.clone())].into_iter().collect(),
                    source: Some(ResultSource {
                        server: r.server.clone(),
                        resources: vec![r.reference.clone()],
                        performer: r.performer.clone(),
                    }),
                },
            }),
        }
    }
    // A panel the domain would refuse (an impossible value) is not offered.
    out.retain(|o| o.panel.validate().is_ok());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Author, CaseId, EntryId};

    fn result(a: Analyte, v: &str, unit: &str, at: i64, id: &str) -> LabResult {
        LabResult {
            analyte: a,
            value: AnalyteValue {
                value: v.parse().unwrap(),
                unit: unit.into(),
            },
            site: SampleSite::PatientArtery,
            temperature: GasTemperature::At37,
            at: DateTime::from_timestamp(1_780_000_000 + at, 0).unwrap(),
            reference: format!("Observation/{id}/_history/1"),
            server: "https://fhir.example/".into(),
            performer: Some("Central laboratory".into()),
        }
    }

    fn entry(payload: EntryPayload) -> Entry {
        Entry {
            id: EntryId::new(),
            case_id: CaseId::new(),
            seq: 1,
            occurred_at: DateTime::from_timestamp(1_780_000_000, 0).unwrap(),
            recorded_at: DateTime::from_timestamp(1_780_000_000, 0).unwrap(),
            author: Author::new("R. Perfusionist", "tablet"),
            payload,
            prev_hash: [0; 32],
            hash: [0; 32],
        }
    }

    #[test]
    fn results_of_one_sample_are_one_offer_naming_its_source_and_taken_ones_are_not_offered() {
        let start = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let results = vec![
            result(Analyte::Ph, "7.380", "", 600, "a"),
            result(Analyte::Po2, "88", "mmHg", 600, "b"),
            result(Analyte::K, "4.6", "mmol/L", 600, "c"),
            result(Analyte::K, "4.9", "mmol/L", 1800, "d"),
            // Before the case (more than two hours): not offered.
            result(Analyte::K, "3.9", "mmol/L", -3 * 3600, "old"),
        ];
        let got = offers(&results, &[], start);
        assert_eq!(got.len(), 2, "{got:?}");
        let first = &got[0];
        assert_eq!(first.panel.results.len(), 3);
        assert_eq!(first.panel.results[&Analyte::Ph].value.to_string(), "7.380");
        let source = first.panel.source.as_ref().unwrap();
        assert_eq!(source.resources.len(), 3);
        assert_eq!(source.performer.as_deref(), Some("Central laboratory"));
        assert!(first.summary().contains("pH 7.380"), "{}", first.summary());
        // Once accepted (an entry with that source), it is not offered again.
        let accepted = entry(EntryPayload::BloodGas(first.panel.clone()));
        let again = offers(&results, &[accepted], start);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].panel.results[&Analyte::K].value.to_string(), "4.9");
    }

    #[test]
    fn an_impossible_pulled_value_is_not_offered() {
        let start = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let got = offers(&[result(Analyte::Ph, "74", "", 60, "x")], &[], start);
        assert!(got.is_empty());
    }
}
