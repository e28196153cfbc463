//! Blood gas panels: every analyte with its value and unit as received, the sample site, and
//! whether the analyser reported at 37 °C or temperature corrected.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::validation::{check_range, ValidationError};
use super::Decimal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Analyte {
    Ph,
    Pco2,
    Po2,
    Hco3,
    BaseExcess,
    So2,
    Hb,
    Hct,
    Na,
    K,
    /// Stored as `i_ca`; `ica` (its code) is accepted too, e.g. in a protocol file.
    #[serde(alias = "ica")]
    ICa,
    Glucose,
    Lactate,
}

/// One accepted unit: its spelling and the factor to the analyte's canonical unit.
struct UnitRule {
    unit: &'static str,
    to_canonical: f64,
}

const fn u(unit: &'static str, to_canonical: f64) -> UnitRule {
    UnitRule { unit, to_canonical }
}

impl Analyte {
    pub const ALL: [Analyte; 13] = [
        Analyte::Ph,
        Analyte::Pco2,
        Analyte::Po2,
        Analyte::Hco3,
        Analyte::BaseExcess,
        Analyte::So2,
        Analyte::Hb,
        Analyte::Hct,
        Analyte::Na,
        Analyte::K,
        Analyte::ICa,
        Analyte::Glucose,
        Analyte::Lactate,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Analyte::Ph => "pH",
            Analyte::Pco2 => "pCO₂",
            Analyte::Po2 => "pO₂",
            Analyte::Hco3 => "HCO₃⁻",
            Analyte::BaseExcess => "Base excess",
            Analyte::So2 => "SO₂",
            Analyte::Hb => "Hb",
            Analyte::Hct => "Hct",
            Analyte::Na => "Na⁺",
            Analyte::K => "K⁺",
            Analyte::ICa => "iCa²⁺",
            Analyte::Glucose => "Glucose",
            Analyte::Lactate => "Lactate",
        }
    }

    /// Accepted units; the first is canonical. Factors: kPa→mmHg 7.50062; Hb g/L ÷10, mmol/L
    /// (monomer) ×1.611; iCa mg/dL ×0.2495; glucose mg/dL ÷18.016; lactate mg/dL ÷9.008.
    fn units(self) -> &'static [UnitRule] {
        const PH: &[UnitRule] = &[u("", 1.0), u("pH", 1.0)];
        const PRESSURE: &[UnitRule] = &[u("mmHg", 1.0), u("kPa", 7.500_62)];
        const MMOL: &[UnitRule] = &[u("mmol/L", 1.0), u("mEq/L", 1.0)];
        const PERCENT: &[UnitRule] = &[u("%", 1.0)];
        const HB: &[UnitRule] = &[u("g/dL", 1.0), u("g/L", 0.1), u("mmol/L", 1.611)];
        const ICA: &[UnitRule] = &[u("mmol/L", 1.0), u("mg/dL", 0.2495)];
        const GLUCOSE: &[UnitRule] = &[u("mmol/L", 1.0), u("mg/dL", 1.0 / 18.016)];
        const LACTATE: &[UnitRule] = &[u("mmol/L", 1.0), u("mg/dL", 1.0 / 9.008)];
        match self {
            Analyte::Ph => PH,
            Analyte::Pco2 | Analyte::Po2 => PRESSURE,
            Analyte::Hco3 | Analyte::BaseExcess | Analyte::Na | Analyte::K => MMOL,
            Analyte::So2 | Analyte::Hct => PERCENT,
            Analyte::Hb => HB,
            Analyte::ICa => ICA,
            Analyte::Glucose => GLUCOSE,
            Analyte::Lactate => LACTATE,
        }
    }

    pub fn canonical_unit(self) -> &'static str {
        self.units()[0].unit
    }

    /// Physically possible range in the canonical unit (a blood sample outside it is an entry
    /// or analyser error, whatever the patient's state).
    fn possible(self) -> (f64, f64) {
        match self {
            Analyte::Ph => (6.5, 8.0),
            Analyte::Pco2 => (5.0, 200.0),
            Analyte::Po2 => (5.0, 800.0),
            Analyte::Hco3 => (1.0, 60.0),
            Analyte::BaseExcess => (-40.0, 40.0),
            Analyte::So2 => (0.0, 100.0),
            Analyte::Hb => (1.0, 25.0),
            Analyte::Hct => (5.0, 75.0),
            Analyte::Na => (90.0, 200.0),
            Analyte::K => (1.0, 12.0),
            Analyte::ICa => (0.2, 3.0),
            Analyte::Glucose => (0.5, 100.0),
            Analyte::Lactate => (0.0, 40.0),
        }
    }

    /// `value` in `unit` converted to the canonical unit.
    pub fn to_canonical(self, value: Decimal, unit: &str) -> Result<f64, ValidationError> {
        let rule = self
            .units()
            .iter()
            .find(|r| r.unit == unit)
            .ok_or_else(|| ValidationError::Unit {
                field: format!("blood_gas.{}", self.code()),
                unit: unit.to_string(),
                allowed: self
                    .units()
                    .iter()
                    .map(|r| format!("{:?}", r.unit))
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        Ok(value.to_f64() * rule.to_canonical)
    }

    pub fn code(self) -> &'static str {
        match self {
            Analyte::Ph => "ph",
            Analyte::Pco2 => "pco2",
            Analyte::Po2 => "po2",
            Analyte::Hco3 => "hco3",
            Analyte::BaseExcess => "base_excess",
            Analyte::So2 => "so2",
            Analyte::Hb => "hb",
            Analyte::Hct => "hct",
            Analyte::Na => "na",
            Analyte::K => "k",
            Analyte::ICa => "ica",
            Analyte::Glucose => "glucose",
            Analyte::Lactate => "lactate",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleSite {
    PatientArtery,
    PreOxygenator,
    PostOxygenator,
    Venous,
    /// Pulmonary artery blood (a PA catheter sample).
    MixedVenous,
    Capillary,
    /// A laboratory result whose specimen the laboratory did not say (LOINC's "Blood").
    Unspecified,
}

impl SampleSite {
    /// The site from its form code (`patient_artery`, `post_oxygenator`, ...).
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "patient_artery" => SampleSite::PatientArtery,
            "post_oxygenator" => SampleSite::PostOxygenator,
            "pre_oxygenator" => SampleSite::PreOxygenator,
            "venous" => SampleSite::Venous,
            "mixed_venous" => SampleSite::MixedVenous,
            "capillary" => SampleSite::Capillary,
            "unspecified" => SampleSite::Unspecified,
            _ => return None,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            SampleSite::PatientArtery => "arterial",
            SampleSite::PostOxygenator => "post-oxygenator",
            SampleSite::PreOxygenator => "pre-oxygenator (venous line)",
            SampleSite::Venous => "venous",
            SampleSite::MixedVenous => "mixed venous",
            SampleSite::Capillary => "capillary",
            SampleSite::Unspecified => "blood (site not given)",
        }
    }

    /// Arterial-side blood: the patient's artery, or the circuit after the oxygenator. A
    /// capillary sample only estimates arterial values, so it is not judged as arterial.
    pub fn is_arterial(self) -> bool {
        matches!(self, SampleSite::PatientArtery | SampleSite::PostOxygenator)
    }
}

/// How the analyser reported gas values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GasTemperature {
    /// Measured and reported at 37 °C (alpha-stat reading).
    At37,
    /// Corrected to the patient's temperature (pH-stat reading).
    Corrected { patient_temp_c: Decimal },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyteValue {
    pub value: Decimal,
    pub unit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BloodGasPanel {
    pub site: SampleSite,
    pub temperature: GasTemperature,
    pub results: BTreeMap<Analyte, AnalyteValue>,
    /// Where the values came from when they were not typed here: the hospital system that
    /// posted them (absent on typed panels, and on every panel recorded before this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ResultSource>,
}

/// A result accepted from the hospital's laboratory or point-of-care system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultSource {
    /// The server it was read from.
    pub server: String,
    /// The server's resources, each `Observation/<id>/_history/<version>`.
    pub resources: Vec<String>,
    /// Who or what the server names as performer (a laboratory, an analyser).
    pub performer: Option<String>,
}

impl BloodGasPanel {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.results.is_empty() {
            return Err(ValidationError::missing("blood_gas.results"));
        }
        if let GasTemperature::Corrected { patient_temp_c } = self.temperature {
            check_range(
                "blood_gas.patient_temp_c",
                patient_temp_c.to_f64(),
                patient_temp_c,
                10.0,
                43.0,
                "°C",
            )?;
        }
        for (a, v) in &self.results {
            let canonical = a.to_canonical(v.value, &v.unit)?;
            let (low, high) = a.possible();
            if !(low..=high).contains(&canonical) {
                return Err(ValidationError::out_of_range(
                    format!("blood_gas.{}", a.code()),
                    format!("{} {}", v.value, v.unit).trim_end().to_string(),
                    format!("{low} to {high} {}", a.canonical_unit())
                        .trim_end()
                        .to_string(),
                ));
            }
        }
        Ok(())
    }

    /// The value of `a` in its canonical unit, if measured.
    pub fn canonical(&self, a: Analyte) -> Option<f64> {
        self.results
            .get(&a)
            .and_then(|v| a.to_canonical(v.value, &v.unit).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(value: &str, unit: &str) -> AnalyteValue {
        AnalyteValue {
            value: value.parse().unwrap(),
            unit: unit.into(),
        }
    }

    pub(crate) fn full_panel() -> BloodGasPanel {
        let mut r = BTreeMap::new();
        r.insert(Analyte::Ph, v("7.38", ""));
        r.insert(Analyte::Pco2, v("41", "mmHg"));
        r.insert(Analyte::Po2, v("245", "mmHg"));
        r.insert(Analyte::Hco3, v("24.1", "mmol/L"));
        r.insert(Analyte::BaseExcess, v("-1.2", "mmol/L"));
        r.insert(Analyte::So2, v("99.6", "%"));
        r.insert(Analyte::Hb, v("8.5", "g/dL"));
        r.insert(Analyte::Hct, v("25", "%"));
        r.insert(Analyte::Na, v("138", "mmol/L"));
        r.insert(Analyte::K, v("4.6", "mmol/L"));
        r.insert(Analyte::ICa, v("1.12", "mmol/L"));
        r.insert(Analyte::Glucose, v("7.9", "mmol/L"));
        r.insert(Analyte::Lactate, v("1.4", "mmol/L"));
        BloodGasPanel {
            site: SampleSite::PatientArtery,
            temperature: GasTemperature::At37,
            results: r,
            source: None,
        }
    }

    #[test]
    fn a_full_panel_is_valid_and_units_convert() {
        let p = full_panel();
        p.validate().unwrap();
        assert_eq!(p.results.len(), Analyte::ALL.len());
        let kpa = Analyte::Pco2
            .to_canonical("5.47".parse().unwrap(), "kPa")
            .unwrap();
        assert!((kpa - 41.03).abs() < 0.01);
        let glu = Analyte::Glucose
            .to_canonical("180".parse().unwrap(), "mg/dL")
            .unwrap();
        assert!((glu - 9.99).abs() < 0.01);
    }

    #[test]
    fn wrong_units_and_impossible_values_name_the_analyte() {
        let mut p = full_panel();
        p.results.insert(Analyte::Hct, v("0.25", "fraction"));
        let e = p.validate().unwrap_err();
        assert!(
            matches!(&e, ValidationError::Unit { field, .. } if field == "blood_gas.hct"),
            "{e}"
        );
        let mut p = full_panel();
        p.results.insert(Analyte::K, v("45", "mmol/L"));
        let e = p.validate().unwrap_err();
        assert_eq!(e.field(), Some("blood_gas.k"));
        assert!(
            e.to_string().contains("45 mmol/L") && e.to_string().contains("1 to 12"),
            "{e}"
        );
        let mut p = full_panel();
        p.results.insert(Analyte::Ph, v("74", ""));
        assert_eq!(p.validate().unwrap_err().field(), Some("blood_gas.ph"));
        let empty = BloodGasPanel {
            results: BTreeMap::new(),
            ..full_panel()
        };
        assert_eq!(
            empty.validate().unwrap_err().field(),
            Some("blood_gas.results")
        );
    }
}
