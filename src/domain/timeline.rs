//! What the timeline, the review and the tiles show for laboratory values: every analyte of a
//! blood gas with its value as received, its unit and where it stands against the protocol's
//! range; an ACT against the anticoagulation target. Pure.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::anticoag::Anticoagulation;
use super::bloodgas::{Analyte, BloodGasPanel, GasTemperature};
use super::entry::EntryPayload;
use super::protocol::{Flag, Protocol};
use super::quick;
use super::record::{CaseView, Effective};

/// One value on a line: "K⁺ 5.9 mmol/L", flagged when outside the protocol's range.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// Stable key (the analyte code, or "act").
    pub key: &'static str,
    pub label: &'static str,
    /// As received.
    pub value: String,
    pub unit: String,
    pub flag: Option<Flag>,
    /// The range judged against, in words.
    pub range: Option<String>,
}

/// A timeline line: the heading and, for laboratory entries, every value.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub head: String,
    pub parts: Vec<Part>,
}

impl Line {
    pub fn flagged(&self) -> usize {
        self.parts.iter().filter(|p| p.flag.is_some()).count()
    }
}

/// Every analyte of `gas`, flagged against the protocol's ranges for its sample site.
pub fn gas_parts(gas: &BloodGasPanel, protocol: &Protocol) -> Vec<Part> {
    gas.results
        .iter()
        .map(|(a, v)| {
            let canonical = a.to_canonical(v.value, &v.unit).ok();
            Part {
                key: a.code(),
                label: a.label(),
                value: v.value.to_string(),
                unit: v.unit.clone(),
                flag: canonical.and_then(|c| protocol.analyte_flag(*a, gas.site, c)),
                range: protocol.analyte_range_text(*a),
            }
        })
        .collect()
}

/// The heading of a gas: site and how it was reported.
pub fn gas_head(gas: &BloodGasPanel) -> String {
    let temp = match gas.temperature {
        GasTemperature::At37 => "at 37 °C".to_string(),
        GasTemperature::Corrected { patient_temp_c } => {
            format!("corrected to {patient_temp_c} °C")
        }
    };
    format!("Blood gas · {} · {temp}", gas.site.label())
}

/// An ACT against the target: flagged low when heparin was given before it and it is below the
/// target (a baseline ACT before heparin is not low).
pub fn act_part(seconds: &super::Decimal, at: DateTime<Utc>, a: &Anticoagulation) -> Part {
    Part {
        key: "act",
        label: "ACT",
        value: seconds.to_string(),
        unit: "s".into(),
        flag: a.act_low(seconds.to_f64(), at).then_some(Flag::Low),
        range: Some(format!("≥ {:.0} s after heparin", a.target_s)),
    }
}

/// The line for one entry of the view.
pub fn line(e: &Effective, protocol: &Protocol, a: &Anticoagulation) -> Line {
    match e.payload {
        EntryPayload::BloodGas(g) => Line {
            head: gas_head(g),
            parts: gas_parts(g, protocol),
        },
        EntryPayload::Act { seconds } => Line {
            head: String::new(),
            parts: vec![act_part(seconds, e.occurred_at(), a)],
        },
        EntryPayload::AnticoagulationOverride { reason } => Line {
            head: format!("Bypass started without adequate anticoagulation: {reason}"),
            parts: Vec::new(),
        },
        p => Line {
            head: quick::describe(p),
            parts: Vec::new(),
        },
    }
}

/// The newest value of each analyte from the case's gases (artefacts excluded): canonical
/// value, the part as shown, when. Feeds the tiles where no device measures it.
pub fn latest_analytes(
    view: &CaseView,
    protocol: &Protocol,
) -> BTreeMap<Analyte, (f64, Part, DateTime<Utc>)> {
    let mut out = BTreeMap::new();
    for e in view.entries.iter().filter(|e| e.artefact.is_none()) {
        if let EntryPayload::BloodGas(g) = e.payload {
            // gas_parts walks the results in the same (analyte) order.
            for ((a, v), part) in g.results.iter().zip(gas_parts(g, protocol)) {
                if let Ok(c) = a.to_canonical(v.value, &v.unit) {
                    out.insert(*a, (c, part, e.occurred_at()));
                }
            }
        }
    }
    out
}

/// The gases of the case as a table: one column per gas (time, site), one row per analyte
/// measured in any of them, so that each analyte's trend reads across its row.
#[derive(Debug, Clone, PartialEq)]
pub struct GasTable {
    pub columns: Vec<(DateTime<Utc>, String)>,
    pub rows: Vec<(Analyte, Vec<Option<Part>>)>,
}

pub fn gas_table(view: &CaseView, protocol: &Protocol) -> GasTable {
    let gases: Vec<(DateTime<Utc>, &BloodGasPanel)> = view
        .entries
        .iter()
        .filter(|e| e.artefact.is_none())
        .filter_map(|e| match e.payload {
            EntryPayload::BloodGas(g) => Some((e.occurred_at(), g)),
            _ => None,
        })
        .collect();
    let columns = gases
        .iter()
        .map(|(at, g)| (*at, g.site.label().to_string()))
        .collect();
    let rows = Analyte::ALL
        .iter()
        .filter(|a| gases.iter().any(|(_, g)| g.results.contains_key(a)))
        .map(|a| {
            let cells = gases
                .iter()
                .map(|(_, g)| {
                    gas_parts(g, protocol)
                        .into_iter()
                        .find(|p| p.key == a.code())
                })
                .collect();
            (*a, cells)
        })
        .collect();
    GasTable { columns, rows }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::bloodgas::{AnalyteValue, SampleSite};

    fn gas(site: SampleSite, values: &[(Analyte, &str, &str)]) -> BloodGasPanel {
        BloodGasPanel {
            site,
            temperature: GasTemperature::At37,
            results: values
                .iter()
                .map(|(a, v, u)| {
                    (
                        *a,
                        AnalyteValue {
                            value: v.parse().unwrap(),
                            unit: u.to_string(),
                        },
                    )
                })
                .collect(),
            source: None,
        }
    }

    #[test]
    fn every_analyte_is_shown_as_received_and_flagged_against_the_protocol() {
        let p = Protocol::defaults().unwrap();
        let g = gas(
            SampleSite::PatientArtery,
            &[
                (Analyte::Ph, "7.380", ""),
                (Analyte::Pco2, "41", "mmHg"),
                (Analyte::Po2, "210", "mmHg"),
                (Analyte::Hco3, "23.1", "mmol/L"),
                (Analyte::BaseExcess, "-1.2", "mmol/L"),
                (Analyte::Hb, "8.4", "g/dL"),
                (Analyte::K, "5.9", "mmol/L"),
                (Analyte::Lactate, "3.4", "mmol/L"),
                (Analyte::Glucose, "7.2", "mmol/L"),
            ],
        );
        let parts = gas_parts(&g, &p);
        assert_eq!(parts.len(), 9, "the whole panel, not four values");
        let by = |k: &str| parts.iter().find(|x| x.key == k).unwrap();
        assert_eq!(by("ph").value, "7.380", "as received, trailing zero kept");
        assert_eq!(by("k").flag, Some(Flag::High));
        assert_eq!(by("lactate").flag, Some(Flag::High));
        assert_eq!(by("k").range.as_deref(), Some("3.5–5.5 mmol/L"));
        for k in ["ph", "pco2", "po2", "hco3", "base_excess", "hb", "glucose"] {
            assert_eq!(by(k).flag, None, "{k} is inside its range");
        }
        // A kPa value is judged after conversion: 3.0 kPa = 22.5 mmHg is a low PaCO2.
        let kpa = gas(SampleSite::PatientArtery, &[(Analyte::Pco2, "3.0", "kPa")]);
        assert_eq!(gas_parts(&kpa, &p)[0].flag, Some(Flag::Low));
    }

    #[test]
    fn a_venous_po2_of_40_is_not_low_but_its_potassium_is_judged() {
        let p = Protocol::defaults().unwrap();
        let g = gas(
            SampleSite::PreOxygenator,
            &[(Analyte::Po2, "40", "mmHg"), (Analyte::K, "2.9", "mmol/L")],
        );
        let parts = gas_parts(&g, &p);
        assert_eq!(parts[0].flag, None);
        assert_eq!(parts[1].flag, Some(Flag::Low));
        let post = gas(SampleSite::PostOxygenator, &[(Analyte::Po2, "60", "mmHg")]);
        assert_eq!(gas_parts(&post, &p)[0].flag, Some(Flag::Low));
    }
}
