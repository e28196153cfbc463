//! The standard codes Pumpside sends, each with its source, pure. A receiving EHR charts by
//! these codes, so each one must mean exactly what was measured: the specimen (a venous pO₂ is
//! not a PaO₂), the temperature the value is reported at (a pH-stat gas is not a 37 °C gas) and
//! the kind of quantity (a glucose in mmol/L is a substance concentration, in mg/dL a mass
//! concentration). Where no verified standard code fits, only the Pumpside code is sent: no
//! code is better than a wrong one. docs/sync.md lists every code and its source.
//!
//! Sources (checked 2026-12-01):
//! - LOINC term pages (loinc.org/<code>), cross-checked against the DICOM PS3.16 context groups
//!   CID 3524 (blood gas pressure), 3526 (saturation) and 3528 (pH), the OHDSI Themis
//!   convention table of base-excess terms, the CMS eCQM value sets for arterial pH and pO₂
//!   (which list the temperature-adjusted terms 33254-4 and 19255-9) and the GECCO (German
//!   COVID-19 dataset) laboratory profiles for the unit-kind pairs (Hb, lactate, glucose).
//! - SNOMED CT International (browser.ihtsdotools.org) for procedures.
//! - HL7 FHIR R4 `observation-vitalsigns` for which codes carry the vital-signs category.

use crate::domain::bloodgas::{Analyte, SampleSite};
use crate::domain::{CaseKind, Parameter};

/// The specimen a blood gas was drawn from, as LOINC's System axis names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Specimen {
    /// BldA: the patient's artery.
    Arterial,
    /// BldV: a vein, or the circuit's venous line before the oxygenator (that blood is the
    /// patient's venous return, drained through the venous cannula).
    Venous,
    /// BldMV: the pulmonary artery.
    MixedVenous,
    /// BldC.
    Capillary,
    /// Bld, the specimen unspecified: blood leaving the oxygenator. It is neither the patient's
    /// arterial blood (native ejection, and on VV ECMO venous return, mix with it) nor venous,
    /// so an arterial code would make a receiver chart a post-oxygenator pO₂ of 350 as PaO₂.
    /// The site goes with it as a Pumpside coding in bodySite.
    Blood,
}

impl Specimen {
    pub fn of(site: SampleSite) -> Self {
        match site {
            SampleSite::PatientArtery => Specimen::Arterial,
            SampleSite::Venous | SampleSite::PreOxygenator => Specimen::Venous,
            SampleSite::MixedVenous => Specimen::MixedVenous,
            SampleSite::Capillary => Specimen::Capillary,
            SampleSite::PostOxygenator | SampleSite::Unspecified => Specimen::Blood,
        }
    }

    /// The gas panel (LOINC 24336-0 / 24339-4 / 24337-8 / 24338-6). LOINC has a mixed-venous
    /// gas panel, but its code could not be verified, so a mixed-venous panel goes up as a
    /// blood gas panel and its members carry the mixed-venous codes.
    pub fn panel(self) -> Code {
        match self {
            Specimen::Arterial => ("24336-0", "Gas panel - Arterial blood"),
            Specimen::Venous => ("24339-4", "Gas panel - Venous blood"),
            Specimen::Capillary => ("24337-8", "Gas panel - Capillary blood"),
            Specimen::MixedVenous | Specimen::Blood => ("24338-6", "Gas panel - Blood"),
        }
    }
}

/// A code and its display.
pub type Code = (&'static str, &'static str);

/// How a panel's temperature-dependent values (pH, pCO₂, pO₂) are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    /// Measured and reported at 37 °C (alpha-stat reading).
    At37,
    /// Adjusted to the patient's actual temperature (pH-stat reading).
    PatientTemperature,
}

/// The LOINC term for one analyte of a blood gas, or `None` when no verified term fits (the
/// Pumpside code is sent alone). `unit` is the unit as recorded: it picks the mass or the
/// substance term.
pub fn analyte(a: Analyte, unit: &str, specimen: Specimen, reported: Reported) -> Option<Code> {
    use Specimen::{Arterial, Blood, Capillary, MixedVenous, Venous};
    let mass = matches!(unit, "mg/dL" | "g/dL" | "g/L");
    let adjusted = reported == Reported::PatientTemperature;
    Some(match a {
        Analyte::Ph if adjusted => match specimen {
            Arterial => (
                "33254-4",
                "pH of Arterial blood adjusted to patient's actual temperature",
            ),
            // LOINC has "pH of Blood adjusted to patient's actual temperature"; its code could
            // not be verified. The 37 °C code would be wrong, so none is sent.
            _ => return None,
        },
        Analyte::Pco2 if adjusted => match specimen {
            Arterial => (
                "32771-8",
                "Carbon dioxide [Partial pressure] adjusted to patient's actual temperature in Arterial blood",
            ),
            _ => (
                "34705-4",
                "Carbon dioxide [Partial pressure] adjusted to patient's actual temperature in Blood",
            ),
        },
        Analyte::Po2 if adjusted => match specimen {
            Arterial => (
                "19255-9",
                "Oxygen [Partial pressure] adjusted to patient's actual temperature in Arterial blood",
            ),
            _ => (
                "19254-2",
                "Oxygen [Partial pressure] adjusted to patient's actual temperature in Blood",
            ),
        },
        Analyte::Ph => match specimen {
            Arterial => ("2744-1", "pH of Arterial blood"),
            Venous => ("2746-6", "pH of Venous blood"),
            MixedVenous => ("19213-8", "pH of Mixed venous blood"),
            Capillary => ("2745-8", "pH of Capillary blood"),
            Blood => ("11558-4", "pH of Blood"),
        },
        Analyte::Pco2 => match specimen {
            Arterial => ("2019-8", "Carbon dioxide [Partial pressure] in Arterial blood"),
            Venous => ("2021-4", "Carbon dioxide [Partial pressure] in Venous blood"),
            Capillary => ("2020-6", "Carbon dioxide [Partial pressure] in Capillary blood"),
            // The mixed-venous term's code could not be verified: the unspecified-blood term.
            MixedVenous | Blood => ("11557-6", "Carbon dioxide [Partial pressure] in Blood"),
        },
        Analyte::Po2 => match specimen {
            Arterial => ("2703-7", "Oxygen [Partial pressure] in Arterial blood"),
            Venous => ("2705-2", "Oxygen [Partial pressure] in Venous blood"),
            Capillary => ("2704-5", "Oxygen [Partial pressure] in Capillary blood"),
            MixedVenous | Blood => ("11556-8", "Oxygen [Partial pressure] in Blood"),
        },
        Analyte::Hco3 => match specimen {
            Arterial => ("1960-4", "Bicarbonate [Moles/volume] in Arterial blood"),
            Venous => ("14627-4", "Bicarbonate [Moles/volume] in Venous blood"),
            MixedVenous => ("19229-4", "Bicarbonate [Moles/volume] in Mixed venous blood"),
            Capillary => ("1961-2", "Bicarbonate [Moles/volume] in Capillary blood"),
            Blood => ("1959-6", "Bicarbonate [Moles/volume] in Blood"),
        },
        Analyte::BaseExcess => match specimen {
            Arterial => ("1925-7", "Base excess in Arterial blood by calculation"),
            Venous => ("1927-3", "Base excess in Venous blood by calculation"),
            Capillary => ("1926-5", "Base excess in Capillary blood by calculation"),
            MixedVenous | Blood => ("11555-0", "Base excess in Blood by calculation"),
        },
        Analyte::So2 => match specimen {
            Arterial => ("2708-6", "Oxygen saturation in Arterial blood"),
            Venous => ("2711-0", "Oxygen saturation in Venous blood"),
            MixedVenous => ("19224-5", "Oxygen saturation in Mixed venous blood"),
            Capillary => ("2709-4", "Oxygen saturation in Capillary blood"),
            Blood => ("20564-1", "Oxygen saturation in Blood"),
        },
        // Electrolytes, metabolites and haemoglobin do not depend on the site for their
        // meaning: the whole-blood terms, by the kind of the recorded unit.
        Analyte::Hb if mass => ("718-7", "Hemoglobin [Mass/volume] in Blood"),
        Analyte::Hb => ("59260-0", "Hemoglobin [Moles/volume] in Blood"),
        Analyte::Hct => ("20570-8", "Hematocrit [Volume Fraction] of Blood"),
        Analyte::Na => ("2947-0", "Sodium [Moles/volume] in Blood"),
        Analyte::K => ("6298-4", "Potassium [Moles/volume] in Blood"),
        Analyte::ICa if mass => ("38230-9", "Calcium.ionized [Mass/volume] in Blood"),
        Analyte::ICa => ("1994-3", "Calcium.ionized [Moles/volume] in Blood"),
        Analyte::Glucose if mass => ("2339-0", "Glucose [Mass/volume] in Blood"),
        Analyte::Glucose => ("15074-8", "Glucose [Moles/volume] in Blood"),
        // A blood-gas analyser measures lactate in whole blood, not serum or plasma (2524-7).
        Analyte::Lactate if mass => ("59032-3", "Lactate [Mass/volume] in Blood"),
        Analyte::Lactate => ("32693-4", "Lactate [Moles/volume] in Blood"),
    })
}

/// Whether `a` is reported at the patient's temperature in a pH-stat gas (the analyser adjusts
/// pH, pCO₂ and pO₂; the rest are reported as measured).
pub fn temperature_dependent(a: Analyte) -> bool {
    matches!(a, Analyte::Ph | Analyte::Pco2 | Analyte::Po2)
}

/// The patient temperature a pH-stat gas was adjusted to (LOINC 8310-5, a gas panel member).
pub const BODY_TEMPERATURE: Code = ("8310-5", "Body temperature");

/// Standard codes for a device or typed parameter, from the parameter catalogue (each code's
/// source is cited on its row in `assets/parameters.toml`): LOINC, then ISO/IEEE 11073 MDC.
pub fn parameter(p: Parameter) -> Vec<(&'static str, &'static str)> {
    use super::map::{LOINC, MDC, SNOMED};
    p.definition()
        .codes
        .iter()
        .map(|(system, code)| {
            let system: &'static str = match system.as_str() {
                "loinc" => LOINC,
                "mdc" => MDC,
                "snomed" => SNOMED,
                uri => uri,
            };
            (system, code.as_str())
        })
        .collect()
}

/// Whether an Observation of `p` with a valueQuantity in `ucum` meets an HL7 FHIR R4
/// vital-signs profile (body temperature in Cel or [degF], heart rate in /min). Only those
/// carry the vital-signs category; everything else measured during a run is `procedure`.
/// SampledData never does (the R4 profiles take valueQuantity only).
pub fn is_vital_sign(p: Parameter, ucum: Option<&str>) -> bool {
    match p {
        Parameter::PatientTemp => matches!(ucum, Some("Cel" | "[degF]")),
        Parameter::PulseRate => ucum == Some("/min"),
        _ => false,
    }
}

/// SNOMED CT code for a run of `kind`, where one is verified.
pub fn case_kind(kind: CaseKind) -> Option<Code> {
    Some(match kind {
        CaseKind::Cpb => ("63697000", "Cardiopulmonary bypass operation"),
        CaseKind::EcmoVa | CaseKind::EcmoVv | CaseKind::Ecpr => {
            ("233573008", "Extracorporeal membrane oxygenation")
        }
        // 423113003 |Maintenance of intraaortic balloon pump parameters (procedure)|: method
        // maintenance, direct device intra-aortic balloon pump, which is what an IABP run
        // records. Until 2026-12 this sent 399217008, which is not an IABP concept.
        CaseKind::Iabp => (
            "423113003",
            "Maintenance of intraaortic balloon pump parameters",
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GASES: [Analyte; 6] = [
        Analyte::Ph,
        Analyte::Pco2,
        Analyte::Po2,
        Analyte::Hco3,
        Analyte::BaseExcess,
        Analyte::So2,
    ];

    #[test]
    fn a_gas_analyte_is_coded_for_its_specimen_and_never_as_arterial_elsewhere() {
        let arterial: Vec<&str> = GASES
            .iter()
            .filter_map(|a| analyte(*a, "", Specimen::Arterial, Reported::At37))
            .map(|c| c.0)
            .collect();
        assert_eq!(
            arterial,
            ["2744-1", "2019-8", "2703-7", "1960-4", "1925-7", "2708-6"]
        );
        for s in [
            Specimen::Venous,
            Specimen::MixedVenous,
            Specimen::Capillary,
            Specimen::Blood,
        ] {
            for a in GASES {
                let c = analyte(a, "", s, Reported::At37).expect("every 37 °C gas term exists");
                assert!(!arterial.contains(&c.0), "{a:?} at {s:?} coded arterial");
                assert!(!c.1.contains("Arterial"), "{c:?}");
            }
        }
        assert_eq!(
            analyte(Analyte::Po2, "mmHg", Specimen::Venous, Reported::At37)
                .unwrap()
                .0,
            "2705-2"
        );
        assert_eq!(Specimen::of(SampleSite::PreOxygenator), Specimen::Venous);
        assert_eq!(Specimen::of(SampleSite::PostOxygenator), Specimen::Blood);
        assert_eq!(Specimen::of(SampleSite::Venous).panel().0, "24339-4");
    }

    #[test]
    fn a_ph_stat_gas_never_carries_a_37_degree_code() {
        for s in [
            Specimen::Arterial,
            Specimen::Venous,
            Specimen::MixedVenous,
            Specimen::Capillary,
            Specimen::Blood,
        ] {
            for a in [Analyte::Ph, Analyte::Pco2, Analyte::Po2] {
                let at37 = analyte(a, "", s, Reported::At37).map(|c| c.0);
                let adjusted = analyte(a, "", s, Reported::PatientTemperature);
                assert_ne!(adjusted.map(|c| c.0), at37, "{a:?} {s:?}");
                if let Some(c) = adjusted {
                    assert!(c.1.contains("adjusted to patient's actual temperature"));
                }
            }
        }
        assert_eq!(
            analyte(
                Analyte::Po2,
                "",
                Specimen::Arterial,
                Reported::PatientTemperature
            )
            .unwrap()
            .0,
            "19255-9"
        );
        // Not temperature-dependent: the same code either way.
        assert_eq!(
            analyte(
                Analyte::K,
                "mmol/L",
                Specimen::Arterial,
                Reported::PatientTemperature
            ),
            analyte(Analyte::K, "mmol/L", Specimen::Arterial, Reported::At37)
        );
    }

    #[test]
    fn the_code_agrees_with_the_kind_of_the_unit() {
        let code = |a, u| analyte(a, u, Specimen::Arterial, Reported::At37).unwrap();
        assert_eq!(code(Analyte::Glucose, "mmol/L").0, "15074-8");
        assert_eq!(code(Analyte::Glucose, "mg/dL").0, "2339-0");
        assert_eq!(code(Analyte::Hb, "g/dL").0, "718-7");
        assert_eq!(code(Analyte::Hb, "g/L").0, "718-7");
        assert_eq!(code(Analyte::Hb, "mmol/L").0, "59260-0");
        assert_eq!(code(Analyte::ICa, "mmol/L").0, "1994-3");
        assert_eq!(code(Analyte::ICa, "mg/dL").0, "38230-9");
        assert_eq!(code(Analyte::Lactate, "mmol/L").0, "32693-4");
        assert_eq!(code(Analyte::Lactate, "mg/dL").0, "59032-3");
        for (a, u) in [
            (Analyte::Glucose, "mmol/L"),
            (Analyte::Hb, "mmol/L"),
            (Analyte::ICa, "mmol/L"),
            (Analyte::Lactate, "mmol/L"),
        ] {
            assert!(code(a, u).1.contains("[Moles/volume]"));
        }
    }

    #[test]
    fn only_profiled_vital_signs_carry_the_category_and_sweep_fio2_is_not_inhaled_oxygen() {
        assert!(is_vital_sign(Parameter::PatientTemp, Some("Cel")));
        assert!(is_vital_sign(Parameter::PulseRate, Some("/min")));
        assert!(!is_vital_sign(Parameter::PatientTemp, None));
        for p in [
            Parameter::PumpFlow,
            Parameter::MeanArterialPressure,
            Parameter::VenousSaturation,
            Parameter::Fio2,
            Parameter::SweepGas,
        ] {
            assert!(!is_vital_sign(p, Some("%")) && !is_vital_sign(p, Some("L/min")));
        }
        assert!(parameter(Parameter::Fio2).is_empty());
        assert!(parameter(Parameter::PulseRate).contains(&(super::super::map::LOINC, "8867-4")));
        assert_eq!(case_kind(CaseKind::Iabp).unwrap().0, "423113003");
    }
}
