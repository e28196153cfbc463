//! Body size, target flow and blood volume (clinical.md 2.1–2.3).

use serde::{Deserialize, Serialize};

use super::{check, CalcError, Calculated};

const H: (f64, f64) = (20.0, 280.0);
const W: (f64, f64) = (0.3, 650.0);

fn hw(height_cm: f64, weight_kg: f64) -> Result<(f64, f64), CalcError> {
    Ok((
        check("height_cm", height_cm, H.0, H.1, "cm")?,
        check("weight_kg", weight_kg, W.0, W.1, "kg")?,
    ))
}

/// Body-surface-area formulas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BsaFormula {
    /// 0.007184 · H^0.725 · W^0.425 (DuBois & DuBois 1916). Adults; underestimates obese.
    DuBois,
    /// √(H · W / 3600) (Mosteller 1987). Adults and children.
    Mosteller,
    /// 0.024265 · H^0.3964 · W^0.5378 (Haycock 1978). Infants and children.
    Haycock,
    /// 0.0235 · H^0.42246 · W^0.51456 (Gehan & George 1970).
    GehanGeorge,
}

impl BsaFormula {
    pub const ALL: [BsaFormula; 4] = [
        BsaFormula::DuBois,
        BsaFormula::Mosteller,
        BsaFormula::Haycock,
        BsaFormula::GehanGeorge,
    ];

    fn formula(self) -> &'static str {
        match self {
            BsaFormula::DuBois => "BSA = 0.007184 · H^0.725 · W^0.425",
            BsaFormula::Mosteller => "BSA = √(H · W / 3600)",
            BsaFormula::Haycock => "BSA = 0.024265 · H^0.3964 · W^0.5378",
            BsaFormula::GehanGeorge => "BSA = 0.0235 · H^0.42246 · W^0.51456",
        }
    }

    fn source(self) -> &'static str {
        match self {
            BsaFormula::DuBois => "DuBois D, DuBois EF. Arch Intern Med 1916",
            BsaFormula::Mosteller => "Mosteller RD. N Engl J Med 1987",
            BsaFormula::Haycock => "Haycock GB et al. J Pediatr 1978",
            BsaFormula::GehanGeorge => "Gehan EA, George SL. Cancer Chemother Rep 1970",
        }
    }
}

/// Body surface area (m²) from height (cm) and weight (kg).
pub fn bsa(formula: BsaFormula, height_cm: f64, weight_kg: f64) -> Result<Calculated, CalcError> {
    let (h, w) = hw(height_cm, weight_kg)?;
    let v = match formula {
        BsaFormula::DuBois => 0.007184 * h.powf(0.725) * w.powf(0.425),
        BsaFormula::Mosteller => (h * w / 3600.0).sqrt(),
        BsaFormula::Haycock => 0.024265 * h.powf(0.3964) * w.powf(0.5378),
        BsaFormula::GehanGeorge => 0.0235 * h.powf(0.42246) * w.powf(0.51456),
    };
    Ok(
        Calculated::new(v, "m²", formula.formula(), formula.source())?
            .input("height", h, "cm")
            .input("weight", w, "kg"),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sex {
    Male,
    Female,
}

/// Ideal body weight (kg), Devine: 50 (male) or 45.5 (female) + 2.3 kg per inch over 5 ft.
/// For BSA on ideal weight in obese adults (EACTS allows flow on lean mass). Adults ≥ 152 cm.
pub fn ideal_weight(sex: Sex, height_cm: f64) -> Result<Calculated, CalcError> {
    let h = check("height_cm", height_cm, 152.4, H.1, "cm")?;
    let base = match sex {
        Sex::Male => 50.0,
        Sex::Female => 45.5,
    };
    let v = base + 2.3 * (h - 152.4) / 2.54;
    Ok(Calculated::new(
        v,
        "kg",
        "IBW = 50 (m) / 45.5 (f) + 2.3 · (H − 152.4) / 2.54",
        "Devine BJ. Drug Intell Clin Pharm 1974",
    )?
    .input("height", h, "cm"))
}

/// Lean body weight (kg), Janmahasatian: 9270·W / (6680 + 216·BMI) male,
/// 9270·W / (8780 + 244·BMI) female. Adults.
pub fn lean_weight(sex: Sex, height_cm: f64, weight_kg: f64) -> Result<Calculated, CalcError> {
    let (h, w) = hw(height_cm, weight_kg)?;
    let bmi = w / (h / 100.0).powi(2);
    let v = match sex {
        Sex::Male => 9270.0 * w / (6680.0 + 216.0 * bmi),
        Sex::Female => 9270.0 * w / (8780.0 + 244.0 * bmi),
    };
    Ok(Calculated::new(
        v,
        "kg",
        "LBW = 9270·W / (6680 + 216·BMI) (m), 9270·W / (8780 + 244·BMI) (f)",
        "Janmahasatian S et al. Clin Pharmacokinet 2005",
    )?
    .input("height", h, "cm")
    .input("weight", w, "kg"))
}

/// Target pump flow (L/min) = cardiac index (L/min/m²) × BSA (m²). Typical CI 2.2–2.4
/// normothermic, ~1.8 hypothermic (Tuble 2009; EACTS/EACTA/EBCP 2019).
pub fn target_flow(cardiac_index: f64, bsa_m2: f64) -> Result<Calculated, CalcError> {
    let ci = check("cardiac_index", cardiac_index, 0.5, 5.0, "L/min/m²")?;
    let b = check("bsa", bsa_m2, 0.05, 4.0, "m²")?;
    Ok(Calculated::new(
        ci * b,
        "L/min",
        "Q = CI × BSA",
        "EACTS/EACTA/EBCP guidelines on cardiopulmonary bypass 2019",
    )?
    .input("cardiac index", ci, "L/min/m²")
    .input("BSA", b, "m²"))
}

/// Estimated-blood-volume models (a protocol setting).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "kebab-case")]
pub enum EbvModel {
    /// A fixed mL/kg (70 common for adults, 65 for women).
    PerKg { ml_per_kg: f64 },
    /// Nadler 1962 (adults).
    Nadler,
    /// Linderkamp 1977 (children).
    Linderkamp,
    /// mL/kg by age band.
    AgeBands,
}

/// Estimated blood volume (mL). `age_years` and `sex` are used by the models that need them.
/// - PerKg: W · mL/kg.
/// - Nadler: male BV(L) = 0.3669·H(m)³ + 0.03219·W + 0.6041; female 0.3561·H³ + 0.03308·W +
///   0.1833 [coefficients to verify against the paper].
/// - Linderkamp: < 2 y log10 BV = 0.7891·log10 W + 0.004132·H + 1.8117; boys 2–14 y and girls
///   2–6 y log10 BV = 0.6459·log10 W + 0.002743·H + 2.0324.
/// - Age bands (mL/kg): preterm 95, term neonate 85, infant 75, child 72, adult 70 (midpoints of
///   clinical.md 2.3's ranges; preterm means `age_years < 0`).
pub fn estimated_blood_volume(
    model: EbvModel,
    sex: Sex,
    age_years: f64,
    height_cm: f64,
    weight_kg: f64,
) -> Result<Calculated, CalcError> {
    let (h, w) = hw(height_cm, weight_kg)?;
    let age = check("age_years", age_years, -0.5, 130.0, "years")?;
    let (v, formula, source): (f64, &'static str, &'static str) = match model {
        EbvModel::PerKg { ml_per_kg } => {
            let k = check("ml_per_kg", ml_per_kg, 40.0, 110.0, "mL/kg")?;
            (
                w * k,
                "EBV = W × mL/kg",
                "clinical.md 2.3 (protocol setting)",
            )
        }
        EbvModel::Nadler => {
            let hm = h / 100.0;
            let l = match sex {
                Sex::Male => 0.3669 * hm.powi(3) + 0.03219 * w + 0.6041,
                Sex::Female => 0.3561 * hm.powi(3) + 0.03308 * w + 0.1833,
            };
            (
                l * 1000.0,
                "BV(L) = 0.3669·H³ + 0.03219·W + 0.6041 (m); 0.3561·H³ + 0.03308·W + 0.1833 (f)",
                "Nadler SB et al. Surgery 1962 [verify coefficients]",
            )
        }
        EbvModel::Linderkamp => {
            let under2 = age < 2.0;
            let in_range = match sex {
                Sex::Male => age <= 14.0,
                Sex::Female => age <= 6.0,
            };
            if !under2 && !in_range {
                return Err(CalcError::Undefined(
                    "Linderkamp covers < 2 y, boys 2–14 y and girls 2–6 y".into(),
                ));
            }
            let log = if under2 {
                0.7891 * w.log10() + 0.004132 * h + 1.8117
            } else {
                0.6459 * w.log10() + 0.002743 * h + 2.0324
            };
            (
                10f64.powf(log),
                "log10 BV = 0.7891·log10 W + 0.004132·H + 1.8117 (< 2 y); 0.6459·log10 W + 0.002743·H + 2.0324 (2–14 y)",
                "Linderkamp O et al. Eur J Pediatr 1977",
            )
        }
        EbvModel::AgeBands => {
            let k = if age < 0.0 {
                95.0
            } else if age < 1.0 / 12.0 {
                85.0
            } else if age < 1.0 {
                75.0
            } else if age < 16.0 {
                72.0
            } else {
                70.0
            };
            (
                w * k,
                "EBV = W × mL/kg for the age band",
                "clinical.md 2.3 age bands",
            )
        }
    };
    Ok(Calculated::new(v, "mL", formula, source)?
        .input("height", h, "cm")
        .input("weight", w, "kg")
        .input("age", age, "years"))
}

#[cfg(test)]
mod tests {
    use super::super::close;
    use super::*;

    #[test]
    fn bsa_reproduces_the_worked_vectors_within_0_001() {
        let table = [
            (175.0, 80.0, [1.9561, 1.9720, 1.9843, 1.9857]),
            (160.0, 60.0, [1.6221, 1.6330, 1.6405, 1.6489]),
            (110.0, 18.0, [0.7411, 0.7416, 0.7401, 0.7575]),
        ];
        for (h, w, want) in table {
            for (f, expect) in BsaFormula::ALL.iter().zip(want) {
                let got = bsa(*f, h, w).unwrap().value;
                assert!(
                    close(got, expect, 0.001),
                    "{f:?} {h}/{w}: {got} vs {expect}"
                );
            }
        }
    }

    #[test]
    fn target_flow_vectors() {
        for (ci, want) in [(2.4, 4.69), (2.2, 4.30), (1.8, 3.52)] {
            let q = target_flow(ci, 1.956).unwrap().value;
            assert!(close(q, want, 0.005), "{ci}: {q}");
        }
    }

    #[test]
    fn blood_volume_vectors() {
        let per_kg = estimated_blood_volume(
            EbvModel::PerKg { ml_per_kg: 70.0 },
            Sex::Male,
            60.0,
            175.0,
            80.0,
        )
        .unwrap();
        assert!(close(per_kg.value, 5600.0, 1.0));
        let m = estimated_blood_volume(EbvModel::Nadler, Sex::Male, 60.0, 175.0, 80.0).unwrap();
        assert!(close(m.value, 5146.0, 1.0), "{}", m.value);
        let f = estimated_blood_volume(EbvModel::Nadler, Sex::Female, 60.0, 160.0, 60.0).unwrap();
        assert!(close(f.value, 3627.0, 1.0), "{}", f.value);
        let baby = estimated_blood_volume(EbvModel::Linderkamp, Sex::Male, 0.1, 50.0, 3.5).unwrap();
        assert!(close(baby.value, 280.3, 1.0), "{}", baby.value);
        let child =
            estimated_blood_volume(EbvModel::Linderkamp, Sex::Male, 5.0, 110.0, 18.0).unwrap();
        assert!(close(child.value, 1396.0, 1.0), "{}", child.value);
        assert!(
            estimated_blood_volume(EbvModel::Linderkamp, Sex::Female, 10.0, 140.0, 30.0).is_err()
        );
    }

    #[test]
    fn bsa_grows_with_height_and_weight_and_never_panics() {
        let mut x: u64 = 42;
        for _ in 0..2000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let h = 20.0 + (x >> 11) as f64 / (1u64 << 53) as f64 * 250.0;
            let w = 0.5 + ((x >> 3) % 10_000) as f64 / 10_000.0 * 300.0;
            for f in BsaFormula::ALL {
                let a = bsa(f, h, w).unwrap().value;
                assert!(bsa(f, h + 1.0, w).unwrap().value > a);
                assert!(bsa(f, h, w + 1.0).unwrap().value > a);
            }
        }
        for bad in [f64::NAN, f64::INFINITY, -1.0, 0.0, 1e9] {
            assert!(bsa(BsaFormula::Mosteller, bad, 70.0).is_err());
            assert!(bsa(BsaFormula::Mosteller, 170.0, bad).is_err());
        }
    }

    #[test]
    fn lean_and_ideal_weight() {
        let ibw = ideal_weight(Sex::Male, 175.0).unwrap().value;
        assert!(close(ibw, 70.47, 0.01), "{ibw}");
        let lbw = lean_weight(Sex::Male, 175.0, 80.0).unwrap().value;
        assert!(lbw < 80.0 && lbw > 50.0, "{lbw}");
        assert!(ideal_weight(Sex::Female, 140.0).is_err());
    }
}
