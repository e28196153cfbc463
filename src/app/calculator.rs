//! The calculator screen's catalogue: which calculations it offers, their inputs with units,
//! and how each maps onto `calc`. The UI renders these specs; it computes nothing itself.

use crate::calc::body::{self, BsaFormula, Sex};
use crate::calc::{
    anticoagulation, cardioplegia, circuit, haemodilution, oxygen, temperature, CalcError,
    Calculated,
};
use crate::domain::protocol::Protocol;

/// One input field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Input {
    pub label: &'static str,
    pub unit: &'static str,
    pub default: f64,
    /// Which live value, if any, pre-fills this input.
    pub prefill: Option<Prefill>,
}

/// Case values that can pre-fill an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefill {
    PumpFlow,
    HctFraction,
    ArterialOutletTemp,
    VenousInflowTemp,
    Map,
    /// The patient's height and weight as registered, and their DuBois BSA.
    HeightCm,
    WeightKg,
    Bsa,
    /// Heparin recorded on the case so far (retracted doses and artefacts excluded).
    HeparinGivenU,
    /// From the newest arterial-side blood gas of the case (artefacts excluded).
    HbGdl,
    Sao2Fraction,
    Pao2,
    /// From the newest blood gas with a K⁺.
    KSerum,
}

/// What the followed case knows that can pre-fill an input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseValues {
    pub height_cm: Option<f64>,
    pub weight_kg: Option<f64>,
    pub bsa_m2: Option<f64>,
    pub heparin_given_u: Option<f64>,
    /// The newest arterial gas: Hb (g/dL), SaO₂ (fraction), PaO₂ (mmHg).
    pub arterial_gas: Option<crate::domain::gdp::ArterialGas>,
    /// The newest K⁺ (mmol/L) and Hct (fraction) from any gas.
    pub k_mmol_l: Option<f64>,
    pub gas_hct: Option<f64>,
}

impl CaseValues {
    /// From the followed case: its patient, targets, the record's derived facts (heparin given,
    /// newest laboratory values) and its entries (the newest arterial gas).
    pub fn of(
        patient: Option<&crate::domain::Patient>,
        targets: Option<&crate::domain::board::Targets>,
        facts: &crate::domain::board::LiveFacts,
        entries: &[crate::domain::Entry],
    ) -> Self {
        use crate::domain::bloodgas::Analyte;
        let view = crate::domain::record::CaseView::derive(entries);
        // The heparin actually given (the same figure the protamine form uses).
        let given = facts.anticoag.heparin_given();
        Self {
            height_cm: patient.map(|p| p.height_cm.to_f64()),
            weight_kg: patient.map(|p| p.weight_kg.to_f64()),
            bsa_m2: targets.map(|t| t.bsa_m2),
            heparin_given_u: (given > 0.0).then_some(given),
            arterial_gas: crate::domain::gdp::newest_arterial_gas(&view),
            k_mmol_l: facts.labs.get(&Analyte::K).map(|(v, ..)| *v),
            gas_hct: facts.labs.get(&Analyte::Hct).map(|(v, ..)| v / 100.0),
        }
    }
}

/// The case's value for `from`, if it has one: live values for monitored parameters, the
/// patient and the record for the rest.
pub fn prefill(
    from: Prefill,
    live: &crate::domain::LiveSnapshot,
    case: &CaseValues,
) -> Option<f64> {
    use crate::domain::Parameter;
    let live_value = |p: Parameter| live.latest(p).map(|s| s.value);
    match from {
        Prefill::PumpFlow => live_value(Parameter::PumpFlow),
        Prefill::HctFraction => live_value(Parameter::Haematocrit).or(case.gas_hct),
        Prefill::ArterialOutletTemp => live_value(Parameter::ArterialOutletTemp),
        Prefill::VenousInflowTemp => live_value(Parameter::VenousInflowTemp),
        Prefill::Map => live_value(Parameter::MeanArterialPressure),
        Prefill::HeightCm => case.height_cm,
        Prefill::WeightKg => case.weight_kg,
        Prefill::Bsa => case.bsa_m2,
        Prefill::HeparinGivenU => case.heparin_given_u,
        Prefill::HbGdl => case.arterial_gas.map(|g| g.hb_g_dl),
        Prefill::Sao2Fraction => case.arterial_gas.map(|g| g.sao2),
        Prefill::Pao2 => case.arterial_gas.map(|g| g.pao2),
        Prefill::KSerum => case.k_mmol_l,
    }
}

type Compute = fn(&[f64], &Protocol) -> Result<Calculated, CalcError>;

#[derive(Clone, Copy)]
pub struct CalcSpec {
    pub id: &'static str,
    pub title: &'static str,
    pub inputs: &'static [Input],
    pub compute: Compute,
}

impl std::fmt::Debug for CalcSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id)
    }
}

const fn i(label: &'static str, unit: &'static str, default: f64) -> Input {
    Input {
        label,
        unit,
        default,
        prefill: None,
    }
}

const fn p(label: &'static str, unit: &'static str, default: f64, from: Prefill) -> Input {
    Input {
        label,
        unit,
        default,
        prefill: Some(from),
    }
}

pub const CATALOGUE: &[CalcSpec] = &[
    CalcSpec {
        id: "bsa",
        title: "Body surface area (Mosteller)",
        inputs: &[
            p("Height", "cm", 175.0, Prefill::HeightCm),
            p("Weight", "kg", 80.0, Prefill::WeightKg),
        ],
        compute: |v, _| body::bsa(BsaFormula::Mosteller, v[0], v[1]),
    },
    CalcSpec {
        id: "bsa-dubois",
        title: "Body surface area (DuBois)",
        inputs: &[
            p("Height", "cm", 175.0, Prefill::HeightCm),
            p("Weight", "kg", 80.0, Prefill::WeightKg),
        ],
        compute: |v, _| body::bsa(BsaFormula::DuBois, v[0], v[1]),
    },
    CalcSpec {
        id: "target-flow",
        title: "Target pump flow",
        inputs: &[
            i("Cardiac index", "L/min/m²", 2.4),
            p("BSA", "m²", 1.956, Prefill::Bsa),
        ],
        compute: |v, _| body::target_flow(v[0], v[1]),
    },
    CalcSpec {
        id: "ebv-male",
        title: "Estimated blood volume, male (protocol model)",
        inputs: &[
            i("Age", "years", 65.0),
            p("Height", "cm", 175.0, Prefill::HeightCm),
            p("Weight", "kg", 80.0, Prefill::WeightKg),
        ],
        compute: |v, p| body::estimated_blood_volume(p.blood.ebv, Sex::Male, v[0], v[1], v[2]),
    },
    CalcSpec {
        id: "predicted-hct",
        title: "Predicted Hct on bypass",
        inputs: &[
            i("Hct before (fraction)", "", 0.40),
            i("Blood volume", "mL", 5600.0),
            i("Prime", "mL", 1500.0),
        ],
        compute: |v, _| haemodilution::predicted_hct(v[0], v[1], v[2]),
    },
    CalcSpec {
        id: "rbc",
        title: "Red cells to a target Hct",
        inputs: &[
            i("Total volume", "mL", 7100.0),
            p("Hct now (fraction)", "", 0.20, Prefill::HctFraction),
            i("Hct target (fraction)", "", 0.24),
        ],
        compute: |v, p| {
            haemodilution::red_cells_to_target(v[0], v[1], v[2], p.blood.red_cell_unit_hct)
        },
    },
    CalcSpec {
        id: "uf",
        title: "Volume to remove by ultrafiltration",
        inputs: &[
            i("Circulating volume", "mL", 5000.0),
            p("Hct now (fraction)", "", 0.21, Prefill::HctFraction),
            i("Hct target (fraction)", "", 0.25),
        ],
        compute: |v, _| haemodilution::ultrafiltration_volume(v[0], v[1], v[2]),
    },
    CalcSpec {
        id: "do2i",
        title: "DO₂i from Hb, SaO₂, PaO₂ and flow",
        inputs: &[
            p("Hb", "g/dL", 8.5, Prefill::HbGdl),
            p("SaO₂ (fraction)", "", 0.99, Prefill::Sao2Fraction),
            p("PaO₂", "mmHg", 250.0, Prefill::Pao2),
            p("Pump flow", "L/min", 4.69, Prefill::PumpFlow),
            p("BSA", "m²", 1.956, Prefill::Bsa),
        ],
        compute: |v, p| {
            let ca = oxygen::o2_content(p.oxygen, v[0], v[1], v[2])?;
            let r = oxygen::do2i(ca.value, v[3] / v[4].max(0.05))?;
            Ok(r.input("pump flow", v[3], "L/min")
                .input("BSA", v[4], "m²")
                .constant("k (mL O2/g Hb)", p.oxygen.hb_capacity)
                .constant("c (mL/dL/mmHg)", p.oxygen.dissolved))
        },
    },
    CalcSpec {
        id: "heparin",
        title: "Heparin loading dose",
        inputs: &[p("Weight", "kg", 80.0, Prefill::WeightKg)],
        compute: |v, p| {
            anticoagulation::heparin_loading_dose(v[0], p.anticoagulation.heparin_units_per_kg)
        },
    },
    CalcSpec {
        id: "protamine",
        title: "Protamine dose",
        inputs: &[p("Heparin given", "U", 32000.0, Prefill::HeparinGivenU)],
        compute: |v, p| {
            anticoagulation::protamine_dose(v[0], p.anticoagulation.protamine_mg_per_100u)
        },
    },
    CalcSpec {
        id: "del-nido",
        title: "del Nido cardioplegia dose",
        inputs: &[p("Weight", "kg", 80.0, Prefill::WeightKg)],
        compute: |v, p| {
            let plan = p.cardioplegia("del Nido");
            let per_kg = plan.and_then(|c| c.dose_ml_per_kg).unwrap_or(20.0);
            let cap = plan.and_then(|c| c.cap_ml).unwrap_or(1000.0);
            cardioplegia::del_nido(v[0], per_kg, cap).map(|(c, ..)| c)
        },
    },
    CalcSpec {
        id: "calafiore",
        title: "Calafiore potassium syringe rate",
        inputs: &[
            i("K target", "mmol/L", 20.0),
            p("K serum", "mmol/L", 4.0, Prefill::KSerum),
            i("Cardioplegia blood flow", "mL/min", 250.0),
            i("Syringe K", "mmol/mL", 2.0),
        ],
        compute: |v, _| cardioplegia::calafiore_k_rate(v[0], v[1], v[2], v[3]),
    },
    CalcSpec {
        id: "gradient-cooling",
        title: "Arterial–venous temperature gradient while cooling",
        inputs: &[
            p("Arterial outlet", "°C", 30.0, Prefill::ArterialOutletTemp),
            p("Venous inflow", "°C", 34.0, Prefill::VenousInflowTemp),
        ],
        compute: |v, p| {
            temperature::arterial_venous_gradient(v[0], v[1], p.temperature.gradient_max_c)
        },
    },
    CalcSpec {
        id: "gradient-rewarming",
        title: "Arterial–venous temperature gradient while rewarming",
        inputs: &[
            p("Arterial outlet", "°C", 36.5, Prefill::ArterialOutletTemp),
            p("Venous inflow", "°C", 33.0, Prefill::VenousInflowTemp),
        ],
        compute: |v, p| {
            temperature::arterial_venous_gradient(
                v[0],
                v[1],
                p.temperature.gradient_max_rewarming_c,
            )
        },
    },
    CalcSpec {
        id: "ph-correction",
        title: "pH at patient temperature (Severinghaus)",
        inputs: &[
            i("pH at 37 °C", "", 7.40),
            i("Patient temperature", "°C", 28.0),
        ],
        compute: |v, _| temperature::ph_at_temperature(v[0], v[1]),
    },
    CalcSpec {
        id: "svr",
        title: "Systemic vascular resistance",
        inputs: &[
            p("MAP", "mmHg", 65.0, Prefill::Map),
            i("CVP", "mmHg", 5.0),
            p("Pump flow", "L/min", 4.7, Prefill::PumpFlow),
        ],
        compute: |v, _| circuit::svr(v[0], v[1], v[2]),
    },
    CalcSpec {
        id: "tmp",
        title: "Haemofilter transmembrane pressure",
        inputs: &[
            i("Inlet pressure", "mmHg", 200.0),
            i("Outlet pressure", "mmHg", 150.0),
            i("Suction", "mmHg", -100.0),
        ],
        compute: |v, _| circuit::haemofilter_tmp(v[0], v[1], v[2]),
    },
    CalcSpec {
        id: "sweep",
        title: "Sweep gas for a PaCO₂ target (heuristic)",
        inputs: &[
            i("Sweep now", "L/min", 3.0),
            i("PaCO₂ now", "mmHg", 55.0),
            i("PaCO₂ target", "mmHg", 45.0),
        ],
        compute: |v, _| circuit::sweep_for_paco2(v[0], v[1], v[2]),
    },
    CalcSpec {
        id: "ebv-female",
        title: "Estimated blood volume, female (protocol model)",
        inputs: &[
            i("Age", "years", 65.0),
            p("Height", "cm", 162.0, Prefill::HeightCm),
            p("Weight", "kg", 65.0, Prefill::WeightKg),
        ],
        compute: |v, p| body::estimated_blood_volume(p.blood.ebv, Sex::Female, v[0], v[1], v[2]),
    },
];

/// Parse the typed inputs and compute. A field that is not a number names itself.
pub fn run(spec: &CalcSpec, typed: &[String], protocol: &Protocol) -> Result<Calculated, String> {
    let mut values = Vec::with_capacity(spec.inputs.len());
    for (input, text) in spec.inputs.iter().zip(typed) {
        let v: f64 = text
            .trim()
            .replace(',', ".")
            .parse()
            .map_err(|_| format!("{}: {text:?} is not a number", input.label))?;
        if !v.is_finite() {
            return Err(format!("{}: {text:?} is not a number", input.label));
        }
        values.push(v);
    }
    if values.len() != spec.inputs.len() {
        return Err("every field is needed".into());
    }
    (spec.compute)(&values, protocol).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_calculator_computes_its_defaults_and_refuses_rubbish() {
        let p = Protocol::defaults().unwrap();
        for spec in CATALOGUE {
            let typed: Vec<String> = spec.inputs.iter().map(|i| i.default.to_string()).collect();
            let r = run(spec, &typed, &p).unwrap_or_else(|e| panic!("{}: {e}", spec.id));
            assert!(r.value.is_finite(), "{}", spec.id);
            let mut bad = typed.clone();
            bad[0] = "abc".into();
            assert!(run(spec, &bad, &p)
                .unwrap_err()
                .contains(spec.inputs[0].label));
        }
        let mut ids: Vec<_> = CATALOGUE.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CATALOGUE.len());
    }

    /// No panic, NaN or infinity on any finite input: every calculator either answers with a
    /// finite number or refuses with a sentence.
    #[test]
    fn no_finite_input_panics_or_yields_nan() {
        let p = Protocol::defaults().unwrap();
        let interesting = [
            -1e12,
            -1000.0,
            -1.0,
            -1e-9,
            0.0,
            1e-12,
            0.01,
            0.5,
            0.99,
            1.0,
            1.5,
            7.4,
            37.0,
            99.0,
            250.0,
            4000.0,
            1e6,
            1e300,
            f64::MIN_POSITIVE,
            f64::MAX,
        ];
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for spec in CATALOGUE {
            for _ in 0..3000 {
                let typed: Vec<String> = spec
                    .inputs
                    .iter()
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        interesting[(x % interesting.len() as u64) as usize].to_string()
                    })
                    .collect();
                if let Ok(r) = run(spec, &typed, &p) {
                    assert!(r.value.is_finite(), "{}: {typed:?}", spec.id);
                }
            }
        }
    }

    #[test]
    fn the_gradient_uses_the_protocols_limit_for_the_phase() {
        let mut p = Protocol::defaults().unwrap();
        let cooling = CATALOGUE
            .iter()
            .find(|c| c.id == "gradient-cooling")
            .unwrap();
        let rewarming = CATALOGUE
            .iter()
            .find(|c| c.id == "gradient-rewarming")
            .unwrap();
        // Cooling: arterial 31 °C, venous 36 °C: 5 °C is inside the 10 °C cooling limit even
        // though the arterial outlet is above 30 °C.
        let typed: Vec<String> = ["31", "36"].map(String::from).to_vec();
        assert!(run(cooling, &typed, &p).unwrap().warnings.is_empty());
        assert!(!run(rewarming, &typed, &p).unwrap().warnings.is_empty());
        p.temperature.gradient_max_c = 4.5;
        assert!(!run(cooling, &typed, &p).unwrap().warnings.is_empty());
    }

    #[test]
    fn blood_volume_uses_the_sex_given() {
        let mut p = Protocol::defaults().unwrap();
        p.blood.ebv = body::EbvModel::Nadler;
        let typed: Vec<String> = ["60", "170", "70"].map(String::from).to_vec();
        let male = CATALOGUE.iter().find(|c| c.id == "ebv-male").unwrap();
        let female = CATALOGUE.iter().find(|c| c.id == "ebv-female").unwrap();
        let m = run(male, &typed, &p).unwrap().value;
        let f = run(female, &typed, &p).unwrap().value;
        assert!(m > f, "male {m} female {f}");
    }

    #[test]
    fn del_nido_uses_the_protocols_dose_per_kg() {
        let mut p = Protocol::defaults().unwrap();
        let spec = CATALOGUE.iter().find(|c| c.id == "del-nido").unwrap();
        let typed = vec!["30".to_string()];
        assert_eq!(run(spec, &typed, &p).unwrap().value, 600.0);
        for c in p.cardioplegia.iter_mut().filter(|c| c.name == "del Nido") {
            c.dose_ml_per_kg = Some(15.0);
        }
        assert_eq!(run(spec, &typed, &p).unwrap().value, 450.0);
    }

    #[test]
    fn inputs_come_from_the_patient_and_the_record_when_the_case_has_them() {
        use crate::domain::LiveSnapshot;
        let case = CaseValues {
            height_cm: Some(162.0),
            weight_kg: Some(58.5),
            bsa_m2: Some(1.62),
            heparin_given_u: Some(21_000.0),
            arterial_gas: Some(crate::domain::gdp::ArterialGas {
                at: chrono::Utc::now(),
                hb_g_dl: 7.9,
                sao2: 0.98,
                pao2: 212.0,
            }),
            k_mmol_l: Some(5.9),
            gas_hct: Some(0.24),
        };
        let live = LiveSnapshot::default();
        // The DO2i calculator takes the newest arterial gas, not 8.5 / 0.99 / 250.
        let do2i = CATALOGUE.iter().find(|c| c.id == "do2i").unwrap();
        let filled: Vec<Option<f64>> = do2i
            .inputs
            .iter()
            .map(|i| i.prefill.and_then(|f| prefill(f, &live, &case)))
            .collect();
        assert_eq!(
            filled,
            [Some(7.9), Some(0.98), Some(212.0), None, Some(1.62)]
        );
        assert_eq!(prefill(Prefill::KSerum, &live, &case), Some(5.9));
        assert_eq!(
            prefill(Prefill::HctFraction, &live, &case),
            Some(0.24),
            "no in-line Hct: the gas's"
        );
        assert_eq!(prefill(Prefill::WeightKg, &live, &case), Some(58.5));
        assert_eq!(prefill(Prefill::Bsa, &live, &case), Some(1.62));
        assert_eq!(
            prefill(Prefill::HeparinGivenU, &live, &case),
            Some(21_000.0)
        );
        assert_eq!(prefill(Prefill::PumpFlow, &live, &case), None);
        let protamine = CATALOGUE
            .iter()
            .find(|c| c.title == "Protamine dose")
            .unwrap();
        assert_eq!(protamine.inputs[0].prefill, Some(Prefill::HeparinGivenU));
        // Every input that asks for the patient's size is pre-filled from it.
        for spec in CATALOGUE {
            for input in spec.inputs {
                if input.label == "Weight" {
                    assert_eq!(input.prefill, Some(Prefill::WeightKg), "{}", spec.id);
                }
            }
        }
    }

    #[test]
    fn the_do2i_calculator_matches_the_worked_vector() {
        let p = Protocol::defaults().unwrap();
        let spec = CATALOGUE.iter().find(|c| c.id == "do2i").unwrap();
        let typed: Vec<String> = ["8.5", "0.99", "250", "4.6944", "1.956"]
            .map(String::from)
            .to_vec();
        let r = run(spec, &typed, &p).unwrap();
        assert!((r.value - 288.6).abs() < 0.5, "{}", r.value);
        let pct: Vec<String> = ["8.5", "99", "250", "4.6944", "1.956"]
            .map(String::from)
            .to_vec();
        assert!(run(spec, &pct, &p)
            .unwrap_err()
            .contains("looks like a percentage"));
    }
}
