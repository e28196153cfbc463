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
    /// ECMO: the pre-oxygenator (drainage) saturation, fraction: the console's value, else the
    /// newest pre-oxygenator gas.
    PreOxySat,
    /// ECMO: the post-oxygenator saturation, fraction: the console's value, else the newest
    /// post-oxygenator gas.
    PostOxySat,
    /// ECMO: the true venous saturation, fraction, from the newest mixed venous (PA) gas, else
    /// central venous gas. Never the drainage line, which recirculation contaminates.
    TrueVenousSat,
    /// ECMO: PO₂ of the newest pre- and post-oxygenator gases, mmHg.
    PreOxyPo2,
    PostOxyPo2,
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
    /// The newest gas per site that an ECMO calculation reads: (SO₂ fraction, PO₂ mmHg).
    pub pre_oxy: Option<(Option<f64>, Option<f64>)>,
    pub post_oxy: Option<(Option<f64>, Option<f64>)>,
    pub true_venous_sat: Option<f64>,
}

/// The newest gas taken at one of `sites` (in that order of preference) that has an SO₂ or a
/// PO₂: (SO₂ fraction, PO₂ mmHg). Artefact-marked gases are left out.
fn newest_gas_at(
    view: &crate::domain::record::CaseView<'_>,
    sites: &[crate::domain::bloodgas::SampleSite],
) -> Option<(Option<f64>, Option<f64>)> {
    use crate::domain::bloodgas::Analyte;
    use crate::domain::EntryPayload;
    sites.iter().find_map(|site| {
        view.entries
            .iter()
            .rev()
            .filter(|e| e.artefact.is_none())
            .find_map(|e| match e.payload {
                EntryPayload::BloodGas(p) if p.site == *site => {
                    let so2 = p.canonical(Analyte::So2).map(|v| v / 100.0);
                    let po2 = p.canonical(Analyte::Po2);
                    (so2.is_some() || po2.is_some()).then_some((so2, po2))
                }
                _ => None,
            })
    })
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
        use crate::domain::bloodgas::{Analyte, SampleSite};
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
            pre_oxy: newest_gas_at(&view, &[SampleSite::PreOxygenator]),
            post_oxy: newest_gas_at(&view, &[SampleSite::PostOxygenator]),
            true_venous_sat: newest_gas_at(&view, &[SampleSite::MixedVenous, SampleSite::Venous])
                .and_then(|(s, _)| s),
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
        Prefill::PreOxySat => {
            live_value(Parameter::PreOxygenatorSaturation).or(case.pre_oxy.and_then(|(s, _)| s))
        }
        Prefill::PostOxySat => {
            live_value(Parameter::PostOxygenatorSaturation).or(case.post_oxy.and_then(|(s, _)| s))
        }
        Prefill::TrueVenousSat => case.true_venous_sat,
        Prefill::PreOxyPo2 => case.pre_oxy.and_then(|(_, p)| p),
        Prefill::PostOxyPo2 => case.post_oxy.and_then(|(_, p)| p),
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
        id: "recirculation",
        title: "VV ECMO recirculation fraction",
        inputs: RECIRCULATION,
        compute: |v, _| circuit::recirculation(v[0], v[1], v[2], v[3]).map(|(r, _)| r),
    },
    CalcSpec {
        id: "effective-flow",
        title: "VV ECMO effective flow (flow less recirculation)",
        inputs: RECIRCULATION,
        compute: |v, _| circuit::recirculation(v[0], v[1], v[2], v[3]).map(|(_, q)| q),
    },
    CalcSpec {
        id: "membrane-o2",
        title: "Membrane-lung O₂ transfer",
        inputs: &[
            p("Blood flow", "L/min", 4.0, Prefill::PumpFlow),
            p("Hb", "g/dL", 10.0, Prefill::HbGdl),
            p(
                "Pre-oxygenator SO₂ (fraction)",
                "",
                0.70,
                Prefill::PreOxySat,
            ),
            p("Pre-oxygenator PO₂", "mmHg", 40.0, Prefill::PreOxyPo2),
            p(
                "Post-oxygenator SO₂ (fraction)",
                "",
                1.00,
                Prefill::PostOxySat,
            ),
            p("Post-oxygenator PO₂", "mmHg", 350.0, Prefill::PostOxyPo2),
        ],
        compute: |v, p| {
            let pre = oxygen::o2_content(p.oxygen, v[1], v[2], v[3])?;
            let post = oxygen::o2_content(p.oxygen, v[1], v[4], v[5])?;
            Ok(circuit::membrane_o2_transfer(v[0], pre.value, post.value)?
                .input("Hb", v[1], "g/dL")
                .constant("k (mL O2/g Hb)", p.oxygen.hb_capacity)
                .constant("c (mL/dL/mmHg)", p.oxygen.dissolved))
        },
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

/// The inputs of recirculation and effective flow (one set, two results).
const RECIRCULATION: &[Input] = &[
    p(
        "Pre-oxygenator SO₂ (fraction)",
        "",
        0.80,
        Prefill::PreOxySat,
    ),
    p(
        "Post-oxygenator SO₂ (fraction)",
        "",
        1.00,
        Prefill::PostOxySat,
    ),
    p(
        "True venous SvO₂ (fraction; mixed or central venous gas, not the drainage line)",
        "",
        0.65,
        Prefill::TrueVenousSat,
    ),
    p("Blood flow", "L/min", 4.0, Prefill::PumpFlow),
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
            ..Default::default()
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

    /// The ECMO calculations: recirculation and effective flow from the run's gases (the true
    /// venous saturation from a mixed venous gas, never the drainage), membrane O₂ transfer from
    /// the pre- and post-oxygenator gases; the results match clinical.md 2.10's formulas.
    #[test]
    fn ecmo_calculations_are_pre_filled_from_the_runs_gases() {
        use crate::domain::bloodgas::{
            Analyte, AnalyteValue, BloodGasPanel, GasTemperature, SampleSite,
        };
        use crate::domain::entry::Entry;
        use crate::domain::{Author, CaseId, EntryId, EntryPayload, LiveSnapshot};
        let at = chrono::Utc::now();
        let gas = |i: i64, site: SampleSite, so2: &str, po2: &str| {
            let mut results = std::collections::BTreeMap::new();
            for (a, v, unit) in [(Analyte::So2, so2, "%"), (Analyte::Po2, po2, "mmHg")] {
                results.insert(
                    a,
                    AnalyteValue {
                        value: v.parse().unwrap(),
                        unit: unit.into(),
                    },
                );
            }
            Entry {
                id: EntryId::new(),
                case_id: CaseId::new(),
                seq: i as u64,
                occurred_at: at + chrono::Duration::minutes(i),
                recorded_at: at + chrono::Duration::minutes(i),
                author: Author::new("Test", "tablet"),
                payload: EntryPayload::BloodGas(BloodGasPanel {
                    site,
                    temperature: GasTemperature::At37,
                    results,
                    source: None,
                }),
                prev_hash: [0; 32],
                hash: [0; 32],
            }
        };
        let entries = vec![
            gas(1, SampleSite::PreOxygenator, "78", "41"),
            gas(2, SampleSite::PreOxygenator, "80", "43"),
            gas(3, SampleSite::PostOxygenator, "100", "380"),
            gas(4, SampleSite::Venous, "70", "38"),
            gas(5, SampleSite::MixedVenous, "65", "35"),
        ];
        let view = crate::domain::record::CaseView::derive(&entries);
        let case = CaseValues {
            pre_oxy: newest_gas_at(&view, &[SampleSite::PreOxygenator]),
            post_oxy: newest_gas_at(&view, &[SampleSite::PostOxygenator]),
            true_venous_sat: newest_gas_at(&view, &[SampleSite::MixedVenous, SampleSite::Venous])
                .and_then(|(s, _)| s),
            arterial_gas: crate::domain::gdp::newest_arterial_gas(&view),
            ..Default::default()
        };
        let live = LiveSnapshot::default();
        let spec = |id: &str| CATALOGUE.iter().find(|c| c.id == id).unwrap();
        let filled = |id: &str| -> Vec<Option<f64>> {
            spec(id)
                .inputs
                .iter()
                .map(|i| i.prefill.and_then(|f| prefill(f, &live, &case)))
                .collect()
        };
        assert_eq!(
            filled("recirculation"),
            [Some(0.80), Some(1.00), Some(0.65), None],
            "the newest pre-oxygenator gas; the mixed venous before the venous gas"
        );
        assert_eq!(filled("effective-flow"), filled("recirculation"));
        assert_eq!(
            filled("membrane-o2"),
            [None, None, Some(0.80), Some(43.0), Some(1.00), Some(380.0)]
        );
        let p = Protocol::defaults().unwrap();
        let typed = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // R = (0.80 − 0.65) / (1.00 − 0.65) = 0.4286; effective flow (1 − R) · 4 = 2.286 L/min.
        let r = run(
            spec("recirculation"),
            &typed(&["0.80", "1.00", "0.65", "4"]),
            &p,
        )
        .unwrap();
        assert!((r.value - 0.15 / 0.35).abs() < 1e-9, "{}", r.value);
        let q = run(
            spec("effective-flow"),
            &typed(&["0.80", "1.00", "0.65", "4"]),
            &p,
        )
        .unwrap();
        assert!(
            (q.value - 4.0 * (1.0 - 0.15 / 0.35)).abs() < 1e-9,
            "{}",
            q.value
        );
        // Contents from the protocol's constants, then Qb · (C_post − C_pre) · 10.
        let m = run(
            spec("membrane-o2"),
            &typed(&["4", "10", "0.80", "43", "1.00", "380"]),
            &p,
        )
        .unwrap();
        let c = |s: f64, po2: f64| p.oxygen.hb_capacity * 10.0 * s + p.oxygen.dissolved * po2;
        let expected = 4.0 * (c(1.00, 380.0) - c(0.80, 43.0)) * 10.0;
        assert!(
            (m.value - expected).abs() < 1e-9,
            "{} vs {expected}",
            m.value
        );
        assert_eq!(m.unit, "mL/min");
        // A true venous saturation above the post-oxygenator one is refused by name.
        assert!(run(
            spec("recirculation"),
            &typed(&["0.8", "0.6", "0.65", "4"]),
            &p
        )
        .is_err());
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
