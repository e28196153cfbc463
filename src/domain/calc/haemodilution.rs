//! Haemodilution, red cells, ultrafiltration and prime (clinical.md 2.4, 2.11). Predictions are
//! guidance, not transfusion triggers: estimation errors are large.

use super::{check, haematocrit, CalcError, Calculated};

const VOL: (f64, f64) = (0.0, 50_000.0);

/// Predicted haematocrit on bypass (fraction), simple form: Hct_pre · EBV / (EBV + prime).
/// Source: Terumo/PerfusionCalc hemodilution formula; clinical.md 2.4.
pub fn predicted_hct(hct_pre: f64, ebv_ml: f64, prime_ml: f64) -> Result<Calculated, CalcError> {
    let hct = haematocrit("hct_pre", hct_pre)?;
    let ebv = check("ebv_ml", ebv_ml, 50.0, VOL.1, "mL")?;
    let prime = check("prime_ml", prime_ml, VOL.0, VOL.1, "mL")?;
    Ok(Calculated::new(
        hct * ebv / (ebv + prime),
        "",
        "Hct_cpb = Hct_pre · EBV / (EBV + prime)",
        "Haemodilution estimate, clinical.md 2.4",
    )?
    .input("Hct before", hct, "")
    .input("EBV", ebv, "mL")
    .input("prime", prime, "mL"))
}

/// Predicted haematocrit, full form (Terumo calculator): Hct_pre · BV / (BV + anaesthesia
/// fluids + prime + cardioplegia crystalloid − retrograde autologous priming).
pub fn predicted_hct_full(
    hct_pre: f64,
    ebv_ml: f64,
    anaesthesia_fluids_ml: f64,
    prime_ml: f64,
    cardioplegia_crystalloid_ml: f64,
    rap_ml: f64,
) -> Result<Calculated, CalcError> {
    let hct = haematocrit("hct_pre", hct_pre)?;
    let ebv = check("ebv_ml", ebv_ml, 50.0, VOL.1, "mL")?;
    let fl = check(
        "anaesthesia_fluids_ml",
        anaesthesia_fluids_ml,
        VOL.0,
        VOL.1,
        "mL",
    )?;
    let prime = check("prime_ml", prime_ml, VOL.0, VOL.1, "mL")?;
    let cp = check(
        "cardioplegia_crystalloid_ml",
        cardioplegia_crystalloid_ml,
        VOL.0,
        VOL.1,
        "mL",
    )?;
    let rap = check("rap_ml", rap_ml, 0.0, prime + fl + cp, "mL")?;
    Ok(Calculated::new(
        hct * ebv / (ebv + fl + prime + cp - rap),
        "",
        "Hct_cpb = Hct_pre · BV / (BV + fluids + prime + cardioplegia − RAP)",
        "Terumo hemodilution calculator; clinical.md 2.4",
    )?
    .input("Hct before", hct, "")
    .input("BV", ebv, "mL")
    .input("anaesthesia fluids", fl, "mL")
    .input("prime", prime, "mL")
    .input("cardioplegia crystalloid", cp, "mL")
    .input("retrograde autologous priming", rap, "mL"))
}

/// Red cells (mL) to add to reach a target haematocrit:
/// V_RBC = V_total · (Hct_target − Hct_now) / (Hct_RBC − Hct_target). Hct_RBC is a setting.
pub fn red_cells_to_target(
    total_volume_ml: f64,
    hct_now: f64,
    hct_target: f64,
    hct_rbc: f64,
) -> Result<Calculated, CalcError> {
    let v = check("total_volume_ml", total_volume_ml, 50.0, VOL.1, "mL")?;
    let now = haematocrit("hct_now", hct_now)?;
    let target = haematocrit("hct_target", hct_target)?;
    let rbc = check("hct_rbc", hct_rbc, 0.45, 0.85, "")?;
    if target >= rbc {
        return Err(CalcError::Undefined(
            "the target haematocrit must be below the red-cell unit's".into(),
        ));
    }
    let ml = (v * (target - now) / (rbc - target)).max(0.0);
    Ok(Calculated::new(
        ml,
        "mL",
        "V_RBC = V_total · (Hct_target − Hct_now) / (Hct_RBC − Hct_target)",
        "Mass balance of red-cell volume; clinical.md 2.4",
    )?
    .input("total volume", v, "mL")
    .input("Hct now", now, "")
    .input("Hct target", target, "")
    .constant("Hct of a red-cell unit", rbc))
}

/// Red cells (mL) to put in a neonatal prime so bypass starts at a target haematocrit, the red
/// cells replacing crystalloid (prime volume unchanged):
/// V_RBC = (Hct_target · (BV + prime) − Hct_patient · BV) / Hct_RBC.
pub fn neonatal_prime_red_cells(
    ebv_ml: f64,
    hct_patient: f64,
    prime_ml: f64,
    hct_target: f64,
    hct_rbc: f64,
) -> Result<Calculated, CalcError> {
    let bv = check("ebv_ml", ebv_ml, 50.0, 5000.0, "mL")?;
    let hct = haematocrit("hct_patient", hct_patient)?;
    let prime = check("prime_ml", prime_ml, 50.0, 5000.0, "mL")?;
    let target = haematocrit("hct_target", hct_target)?;
    let rbc = check("hct_rbc", hct_rbc, 0.45, 0.85, "")?;
    let ml = ((target * (bv + prime) - hct * bv) / rbc).max(0.0);
    if ml > prime {
        return Err(CalcError::Undefined(format!(
            "{ml:.0} mL of red cells would exceed the {prime:.0} mL prime"
        )));
    }
    Ok(Calculated::new(
        ml,
        "mL",
        "V_RBC = (Hct_target · (BV + prime) − Hct_pt · BV) / Hct_RBC",
        "Red-cell mass balance with red cells replacing crystalloid; clinical.md 2.4",
    )?
    .input("blood volume", bv, "mL")
    .input("Hct patient", hct, "")
    .input("prime", prime, "mL")
    .input("Hct target", target, "")
    .constant("Hct of a red-cell unit", rbc))
}

/// Volume (mL) to remove by ultrafiltration to reach a target haematocrit:
/// V · (1 − Hct_now / Hct_target).
pub fn ultrafiltration_volume(
    volume_ml: f64,
    hct_now: f64,
    hct_target: f64,
) -> Result<Calculated, CalcError> {
    let v = check("volume_ml", volume_ml, 50.0, VOL.1, "mL")?;
    let now = haematocrit("hct_now", hct_now)?;
    let target = haematocrit("hct_target", hct_target)?;
    if target <= 0.0 {
        return Err(CalcError::Undefined(
            "target haematocrit must be above 0".into(),
        ));
    }
    Ok(Calculated::new(
        (v * (1.0 - now / target)).max(0.0),
        "mL",
        "V_remove = V · (1 − Hct_now / Hct_target)",
        "Mass balance; clinical.md 2.11",
    )?
    .input("circulating volume", v, "mL")
    .input("Hct now", now, "")
    .input("Hct target", target, ""))
}

/// Net prime volume index (mL/m²) = (prime − retrograde autologous priming) / BSA.
pub fn net_prime_volume_index(
    prime_ml: f64,
    rap_ml: f64,
    bsa_m2: f64,
) -> Result<Calculated, CalcError> {
    let prime = check("prime_ml", prime_ml, 0.0, 10_000.0, "mL")?;
    let rap = check("rap_ml", rap_ml, 0.0, prime, "mL")?;
    let bsa = check("bsa", bsa_m2, 0.05, 4.0, "m²")?;
    Ok(Calculated::new(
        (prime - rap) / bsa,
        "mL/m²",
        "NPVI = (prime − RAP) / BSA",
        "clinical.md 2.11",
    )?
    .input("prime", prime, "mL")
    .input("RAP", rap, "mL")
    .input("BSA", bsa, "m²"))
}

#[cfg(test)]
mod tests {
    use super::super::close;
    use super::*;

    #[test]
    fn worked_vectors() {
        assert!(close(
            predicted_hct(0.40, 5600.0, 1500.0).unwrap().value,
            0.315,
            0.001
        ));
        assert!(close(
            predicted_hct(0.35, 1350.0, 600.0).unwrap().value,
            0.242,
            0.001
        ));
        assert!(close(
            predicted_hct(0.45, 297.5, 350.0).unwrap().value,
            0.207,
            0.001
        ));
        let rbc = red_cells_to_target(7100.0, 0.20, 0.24, 0.60).unwrap();
        assert!(close(rbc.value, 789.0, 1.0), "{}", rbc.value);
        assert_eq!(rbc.constants, vec![("Hct of a red-cell unit", 0.60)]);
        let neo = neonatal_prime_red_cells(297.5, 0.45, 350.0, 0.28, 0.60).unwrap();
        assert!(close(neo.value, 79.0, 1.0), "{}", neo.value);
        assert!(close(
            ultrafiltration_volume(5000.0, 0.21, 0.25).unwrap().value,
            800.0,
            1.0
        ));
        let full = predicted_hct_full(0.40, 5600.0, 0.0, 1500.0, 0.0, 0.0).unwrap();
        assert!(close(full.value, 0.315, 0.001));
        assert!(close(
            net_prime_volume_index(1400.0, 400.0, 2.0).unwrap().value,
            500.0,
            0.01
        ));
    }

    #[test]
    fn more_prime_means_lower_predicted_hct_and_percentages_are_refused() {
        let mut last = 1.0;
        for prime in (0..3000).step_by(100) {
            let v = predicted_hct(0.40, 5000.0, f64::from(prime)).unwrap().value;
            assert!(v < last || prime == 0);
            last = v;
        }
        let e = predicted_hct(40.0, 5000.0, 1500.0).unwrap_err();
        assert_eq!(e.input(), Some("hct_pre"));
        assert!(red_cells_to_target(7100.0, 0.2, 0.7, 0.6).is_err());
        assert!(neonatal_prime_red_cells(297.5, 0.45, 100.0, 0.55, 0.60).is_err());
    }
}
