//! Cardioplegia volumes and potassium rates (clinical.md 2.8).

use super::{check, CalcError, Calculated};

/// del Nido dose: 20 mL/kg capped (adult cap a setting, default 1000 mL) [verify], 1 part blood
/// to 4 parts crystalloid. Returns (total, blood, crystalloid) in mL.
pub fn del_nido(
    weight_kg: f64,
    ml_per_kg: f64,
    cap_ml: f64,
) -> Result<(Calculated, f64, f64), CalcError> {
    let w = check("weight_kg", weight_kg, 0.3, 650.0, "kg")?;
    let per_kg = check("ml_per_kg", ml_per_kg, 5.0, 40.0, "mL/kg")?;
    let cap = check("cap_ml", cap_ml, 100.0, 2000.0, "mL")?;
    let total = (per_kg * w).min(cap);
    let c = Calculated::new(
        total,
        "mL",
        "dose = min(mL/kg · W, cap); blood : crystalloid = 1 : 4",
        "del Nido cardioplegia (Matte GS, del Nido PJ. J Extra Corpor Technol 2012) [verify cap]",
    )?
    .input("weight", w, "kg")
    .constant("del Nido dose (mL/kg)", per_kg)
    .constant("del Nido cap (mL)", cap);
    Ok((c, total / 5.0, total * 4.0 / 5.0))
}

/// Buckberg blood cardioplegia 4 : 1 blood : crystalloid. Returns (blood, crystalloid) mL.
pub fn buckberg_split(total_ml: f64) -> Result<(f64, f64), CalcError> {
    let t = check("total_ml", total_ml, 1.0, 5000.0, "mL")?;
    Ok((t * 0.8, t * 0.2))
}

/// Plegisol (St Thomas) delivery rate (mL/min) = 300 mL/m²/min · BSA, for 2–4 min, repeated
/// every 20–30 min.
pub fn plegisol_rate(bsa_m2: f64) -> Result<Calculated, CalcError> {
    let b = check("bsa", bsa_m2, 0.05, 4.0, "m²")?;
    Ok(Calculated::new(
        300.0 * b,
        "mL/min",
        "rate = 300 mL/m²/min · BSA",
        "St Thomas' Hospital solution (Plegisol) dosing; clinical.md 2.8",
    )?
    .input("BSA", b, "m²"))
}

/// Calafiore potassium syringe rate (mL/h) = (K_target − K_serum) · blood flow (mL/min) · 60 /
/// (1000 · syringe K (mmol/mL)).
pub fn calafiore_k_rate(
    k_target_mmol_l: f64,
    k_serum_mmol_l: f64,
    flow_ml_min: f64,
    syringe_k_mmol_ml: f64,
) -> Result<Calculated, CalcError> {
    let t = check("k_target", k_target_mmol_l, 1.0, 40.0, "mmol/L")?;
    let s = check("k_serum", k_serum_mmol_l, 1.0, 12.0, "mmol/L")?;
    let q = check("flow_ml_min", flow_ml_min, 10.0, 1000.0, "mL/min")?;
    let k = check("syringe_k", syringe_k_mmol_ml, 0.1, 4.0, "mmol/mL")?;
    Ok(Calculated::new(
        ((t - s) * q * 60.0 / (1000.0 * k)).max(0.0),
        "mL/h",
        "rate = (K_target − K_serum) · Q · 60 / (1000 · K_syringe)",
        "Calafiore AM et al. Ann Thorac Surg 1995 (microplegia)",
    )?
    .input("K target", t, "mmol/L")
    .input("K serum", s, "mmol/L")
    .input("blood flow", q, "mL/min")
    .input("syringe K", k, "mmol/mL"))
}

#[cfg(test)]
mod tests {
    use super::super::close;
    use super::*;

    #[test]
    fn worked_vectors() {
        for (w, total, blood, cryst) in [
            (30.0, 600.0, 120.0, 480.0),
            (80.0, 1000.0, 200.0, 800.0),
            (12.0, 240.0, 48.0, 192.0),
        ] {
            let (c, b, x) = del_nido(w, 20.0, 1000.0).unwrap();
            assert!(
                close(c.value, total, 1.0) && close(b, blood, 1.0) && close(x, cryst, 1.0),
                "{w}"
            );
        }
        // A protocol's own mL/kg is used, not a fixed 20.
        let (c, ..) = del_nido(30.0, 15.0, 1000.0).unwrap();
        assert!(close(c.value, 450.0, 0.01), "{}", c.value);
        assert_eq!(buckberg_split(1000.0).unwrap(), (800.0, 200.0));
        assert!(close(plegisol_rate(1.956).unwrap().value, 587.0, 1.0));
        assert!(close(
            calafiore_k_rate(20.0, 4.0, 250.0, 2.0).unwrap().value,
            120.0,
            0.01
        ));
    }
}
