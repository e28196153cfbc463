//! Temperature management and blood-gas temperature correction (clinical.md 2.9).

use super::{check, CalcError, Calculated};

/// Arterial-outlet minus venous-inflow gradient (°C). Limits (STS/SCA/AmSECT 2015): ≤ 10 °C;
/// ≤ 4 °C once the arterial outlet is ≥ 30 °C while rewarming. Flagged in `warnings`.
/// `limit_c` is the protocol's limit for the phase the case is in (cooling or rewarming); the
/// caller says which, and the limit used is listed with the result.
pub fn arterial_venous_gradient(
    arterial_c: f64,
    venous_c: f64,
    limit_c: f64,
) -> Result<Calculated, CalcError> {
    let a = check("arterial_c", arterial_c, 4.0, 45.0, "°C")?;
    let v = check("venous_c", venous_c, 4.0, 45.0, "°C")?;
    let limit = check("limit_c", limit_c, 0.5, 20.0, "°C")?;
    let g = a - v;
    Ok(Calculated::new(
        g,
        "°C",
        "gradient = T_arterial − T_venous",
        "Engelman R et al. STS/SCA/AmSECT temperature guidelines, Ann Thorac Surg 2015",
    )?
    .input("arterial outlet", a, "°C")
    .input("venous inflow", v, "°C")
    .constant("gradient limit (°C)", limit)
    .warn_if(g.abs() > limit, format!("gradient above {limit} °C")))
}

/// Rewarming rate (°C/min) between two arterial-outlet readings; flagged above 0.5 °C/min once
/// the arterial outlet is ≥ 30 °C (STS/SCA/AmSECT 2015).
pub fn rewarming_rate(t1_c: f64, t2_c: f64, minutes: f64) -> Result<Calculated, CalcError> {
    let a = check("t1_c", t1_c, 4.0, 45.0, "°C")?;
    let b = check("t2_c", t2_c, 4.0, 45.0, "°C")?;
    let m = check("minutes", minutes, 0.1, 600.0, "min")?;
    let rate = (b - a) / m;
    Ok(Calculated::new(
        rate,
        "°C/min",
        "rate = (T2 − T1) / Δt",
        "Engelman R et al. Ann Thorac Surg 2015",
    )?
    .input("T1", a, "°C")
    .input("T2", b, "°C")
    .input("interval", m, "min")
    .warn_if(b >= 30.0 && rate > 0.5, "rewarming faster than 0.5 °C/min"))
}

/// Severinghaus temperature correction: pH(T) = pH37 − 0.0147 · (T − 37).
pub fn ph_at_temperature(ph_37: f64, temp_c: f64) -> Result<Calculated, CalcError> {
    let ph = check("ph_37", ph_37, 6.5, 8.0, "")?;
    let t = check("temp_c", temp_c, 10.0, 43.0, "°C")?;
    Ok(Calculated::new(
        ph - 0.0147 * (t - 37.0),
        "",
        "pH(T) = pH37 − 0.0147 · (T − 37)",
        "Severinghaus JW. J Appl Physiol 1966",
    )?
    .input("pH at 37 °C", ph, "")
    .input("temperature", t, "°C"))
}

/// Severinghaus temperature correction: PCO2(T) = PCO2(37) · 10^(0.0185 · (T − 37)).
pub fn pco2_at_temperature(pco2_37: f64, temp_c: f64) -> Result<Calculated, CalcError> {
    let p = check("pco2_37", pco2_37, 5.0, 200.0, "mmHg")?;
    let t = check("temp_c", temp_c, 10.0, 43.0, "°C")?;
    Ok(Calculated::new(
        p * 10f64.powf(0.0185 * (t - 37.0)),
        "mmHg",
        "PCO2(T) = PCO2(37) · 10^(0.0185 · (T − 37))",
        "Severinghaus JW. J Appl Physiol 1966",
    )?
    .input("PCO2 at 37 °C", p, "mmHg")
    .input("temperature", t, "°C"))
}

#[cfg(test)]
mod tests {
    use super::super::close;
    use super::*;

    #[test]
    fn worked_vectors() {
        let g = arterial_venous_gradient(36.5, 33.0, 4.0).unwrap();
        assert!(close(g.value, 3.5, 1e-9) && g.warnings.is_empty());
        assert!(!arterial_venous_gradient(36.5, 31.0, 4.0)
            .unwrap()
            .warnings
            .is_empty());
        let r = rewarming_rate(34.0, 36.0, 3.0).unwrap();
        assert!(close(r.value, 0.67, 0.005) && !r.warnings.is_empty());
        assert!(close(
            ph_at_temperature(7.40, 28.0).unwrap().value,
            7.532,
            0.001
        ));
        assert!(close(
            pco2_at_temperature(40.0, 28.0).unwrap().value,
            27.3,
            0.05
        ));
    }

    #[test]
    fn correction_is_monotonic_and_identity_at_37() {
        assert!(close(
            ph_at_temperature(7.4, 37.0).unwrap().value,
            7.4,
            1e-12
        ));
        assert!(close(
            pco2_at_temperature(40.0, 37.0).unwrap().value,
            40.0,
            1e-12
        ));
        let mut last = f64::INFINITY;
        for t in 10..=43 {
            let p = pco2_at_temperature(40.0, f64::from(t)).unwrap().value;
            assert!(p > 0.0 && (t == 10 || p > last || last == f64::INFINITY));
            last = p;
        }
    }
}
