//! Heparin and protamine (clinical.md 2.7).

use super::{check, CalcError, Calculated};

/// Heparin loading dose (units) = weight · U/kg. U/kg is a setting (300–400; default 300).
pub fn heparin_loading_dose(weight_kg: f64, units_per_kg: f64) -> Result<Calculated, CalcError> {
    let w = check("weight_kg", weight_kg, 0.3, 650.0, "kg")?;
    let u = check("units_per_kg", units_per_kg, 100.0, 600.0, "U/kg")?;
    Ok(Calculated::new(
        w * u,
        "U",
        "dose = W · U/kg",
        "Systemic heparinisation for CPB, 300–400 U/kg (EACTS/EACTA/EBCP 2019)",
    )?
    .input("weight", w, "kg")
    .constant("heparin U/kg", u))
}

/// Additional heparin (units) from the Bull dose–response line through the baseline and the
/// post-dose ACT: slope = (ACT_post − ACT_base) / dose; extra = (ACT_target − ACT_now) / slope.
/// [Verify against Bull BS et al. J Thorac Cardiovasc Surg 1975.]
pub fn bull_additional_heparin(
    act_baseline_s: f64,
    dose_given_u: f64,
    act_after_dose_s: f64,
    act_target_s: f64,
    act_now_s: f64,
) -> Result<Calculated, CalcError> {
    let base = check("act_baseline_s", act_baseline_s, 30.0, 400.0, "s")?;
    let dose = check("dose_given_u", dose_given_u, 100.0, 200_000.0, "U")?;
    let post = check("act_after_dose_s", act_after_dose_s, 30.0, 1500.0, "s")?;
    let target = check("act_target_s", act_target_s, 100.0, 1500.0, "s")?;
    let now = check("act_now_s", act_now_s, 30.0, 1500.0, "s")?;
    if post <= base {
        return Err(CalcError::Undefined(
            "the ACT after the dose must exceed the baseline for a dose–response line".into(),
        ));
    }
    let slope = (post - base) / dose;
    Ok(Calculated::new(
        ((target - now) / slope).max(0.0),
        "U",
        "slope = (ACT_post − ACT_base) / dose; extra = (ACT_target − ACT_now) / slope",
        "Bull BS et al. J Thorac Cardiovasc Surg 1975 [verify]",
    )?
    .input("baseline ACT", base, "s")
    .input("dose given", dose, "U")
    .input("ACT after dose", post, "s")
    .input("target ACT", target, "s")
    .input("ACT now", now, "s"))
}

/// Protamine (mg) = heparin (U) / 100 · ratio (mg per 100 U; setting, default 1.0). A ratio
/// above 2.6 is flagged.
pub fn protamine_dose(heparin_units: f64, mg_per_100u: f64) -> Result<Calculated, CalcError> {
    let h = check("heparin_units", heparin_units, 0.0, 200_000.0, "U")?;
    let r = check("mg_per_100u", mg_per_100u, 0.1, 5.0, "mg/100 U")?;
    Ok(Calculated::new(
        h / 100.0 * r,
        "mg",
        "protamine = heparin / 100 · ratio",
        "Protamine neutralisation ratio (setting); clinical.md 2.7",
    )?
    .input("heparin", h, "U")
    .constant("protamine mg per 100 U", r)
    .warn_if(r > 2.6, "ratio above 2.6 mg per 100 U"))
}

#[cfg(test)]
mod tests {
    use super::super::close;
    use super::*;

    #[test]
    fn worked_vectors() {
        assert!(close(
            heparin_loading_dose(80.0, 300.0).unwrap().value,
            24_000.0,
            0.5
        ));
        assert!(close(
            heparin_loading_dose(80.0, 400.0).unwrap().value,
            32_000.0,
            0.5
        ));
        let extra = bull_additional_heparin(120.0, 24_000.0, 400.0, 480.0, 400.0).unwrap();
        assert!(close(extra.value, 6857.0, 1.0), "{}", extra.value);
        assert!(close(
            protamine_dose(32_000.0, 1.0).unwrap().value,
            320.0,
            0.01
        ));
        assert!(close(
            protamine_dose(32_000.0, 0.8).unwrap().value,
            256.0,
            0.01
        ));
        assert!(!protamine_dose(32_000.0, 3.0).unwrap().warnings.is_empty());
        assert!(bull_additional_heparin(120.0, 24_000.0, 110.0, 480.0, 400.0).is_err());
        assert_eq!(
            bull_additional_heparin(120.0, 24_000.0, 400.0, 480.0, 500.0)
                .unwrap()
                .value,
            0.0
        );
    }
}
