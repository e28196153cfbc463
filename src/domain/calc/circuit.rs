//! Haemodynamics, ECMO circuit and haemofilter (clinical.md 2.6, 2.10, 2.11).

use super::{check, fraction, CalcError, Calculated};

/// Systemic vascular resistance (dyn·s·cm⁻⁵) = (MAP − CVP) · 80 / flow (L/min).
pub fn svr(map_mmhg: f64, cvp_mmhg: f64, flow_l_min: f64) -> Result<Calculated, CalcError> {
    let map = check("map_mmhg", map_mmhg, 0.0, 300.0, "mmHg")?;
    let cvp = check("cvp_mmhg", cvp_mmhg, -20.0, 60.0, "mmHg")?;
    let q = check("flow_l_min", flow_l_min, 0.1, 10.0, "L/min")?;
    Ok(Calculated::new(
        (map - cvp) * 80.0 / q,
        "dyn·s·cm⁻⁵",
        "SVR = (MAP − CVP) · 80 / Q",
        "Ohm's law for the circulation; 80 converts mmHg·min/L to dyn·s·cm⁻⁵",
    )?
    .input("MAP", map, "mmHg")
    .input("CVP", cvp, "mmHg")
    .input("flow", q, "L/min"))
}

/// Pressure drop across the oxygenator (mmHg) and per flow (mmHg per L/min). Trend it against
/// the run's own baseline (clot warning) rather than one fixed limit.
pub fn oxygenator_pressure_drop(
    pre_mmhg: f64,
    post_mmhg: f64,
    flow_l_min: f64,
) -> Result<(Calculated, Calculated), CalcError> {
    let pre = check("pre_mmhg", pre_mmhg, -100.0, 800.0, "mmHg")?;
    let post = check("post_mmhg", post_mmhg, -100.0, 800.0, "mmHg")?;
    let q = check("flow_l_min", flow_l_min, 0.1, 10.0, "L/min")?;
    let dp = Calculated::new(
        pre - post,
        "mmHg",
        "ΔP = P_pre − P_post",
        "ELSO; clinical.md 2.10",
    )?
    .input("pre-oxygenator", pre, "mmHg")
    .input("post-oxygenator", post, "mmHg");
    let per = Calculated::new(
        (pre - post) / q,
        "mmHg/(L/min)",
        "ΔP / Qb",
        "ELSO; clinical.md 2.10",
    )?
    .input("ΔP", pre - post, "mmHg")
    .input("blood flow", q, "L/min");
    Ok((dp, per))
}

/// Membrane-lung O2 transfer (mL/min) = Qb (L/min) · (C_post − C_pre) (mL/dL) · 10.
pub fn membrane_o2_transfer(
    flow_l_min: f64,
    c_pre: f64,
    c_post: f64,
) -> Result<Calculated, CalcError> {
    let q = check("flow_l_min", flow_l_min, 0.0, 10.0, "L/min")?;
    let pre = check("c_pre", c_pre, 0.0, 40.0, "mL/dL")?;
    let post = check("c_post", c_post, 0.0, 40.0, "mL/dL")?;
    Ok(Calculated::new(
        q * (post - pre) * 10.0,
        "mL/min",
        "VO2_ML = Qb · (C_post − C_pre) · 10",
        "ELSO; clinical.md 2.10",
    )?
    .input("blood flow", q, "L/min")
    .input("pre-oxygenator content", pre, "mL/dL")
    .input("post-oxygenator content", post, "mL/dL"))
}

/// VV ECMO recirculation fraction R = (S_pre − SvO2) / (S_post − SvO2), and effective flow
/// (1 − R) · Qb. Returns (R, effective flow).
pub fn recirculation(
    s_pre: f64,
    s_post: f64,
    svo2: f64,
    flow_l_min: f64,
) -> Result<(Calculated, Calculated), CalcError> {
    let pre = fraction("s_pre", s_pre)?;
    let post = fraction("s_post", s_post)?;
    let sv = fraction("svo2", svo2)?;
    let q = check("flow_l_min", flow_l_min, 0.0, 10.0, "L/min")?;
    if post <= sv {
        return Err(CalcError::Undefined(
            "post-oxygenator saturation must exceed the true venous saturation".into(),
        ));
    }
    let r = ((pre - sv) / (post - sv)).clamp(0.0, 1.0);
    let rc = Calculated::new(
        r,
        "",
        "R = (S_pre − SvO2) / (S_post − SvO2)",
        "Sindhu et al.; ELSO",
    )?
    .input("pre-oxygenator saturation", pre, "")
    .input("post-oxygenator saturation", post, "")
    .input("SvO2", sv, "");
    let eff = Calculated::new((1.0 - r) * q, "L/min", "Q_eff = (1 − R) · Qb", "ELSO")?
        .input("R", r, "")
        .input("blood flow", q, "L/min");
    Ok((rc, eff))
}

/// Sweep-gas heuristic (labelled as such): new sweep ≈ sweep · PaCO2_now / PaCO2_target.
pub fn sweep_for_paco2(
    sweep_l_min: f64,
    paco2_now: f64,
    paco2_target: f64,
) -> Result<Calculated, CalcError> {
    let s = check("sweep_l_min", sweep_l_min, 0.1, 20.0, "L/min")?;
    let now = check("paco2_now", paco2_now, 10.0, 150.0, "mmHg")?;
    let target = check("paco2_target", paco2_target, 20.0, 80.0, "mmHg")?;
    Ok(Calculated::new(
        s * now / target,
        "L/min",
        "sweep_new ≈ sweep · PaCO2_now / PaCO2_target (heuristic)",
        "Heuristic: CO2 removal roughly proportional to sweep; clinical.md 2.10",
    )?
    .input("sweep", s, "L/min")
    .input("PaCO2 now", now, "mmHg")
    .input("PaCO2 target", target, "mmHg")
    .warn_if(true, "heuristic: confirm with a blood gas"))
}

/// Haemofilter transmembrane pressure (mmHg) = (P_in + P_out) / 2 + |P_suction|.
pub fn haemofilter_tmp(p_in: f64, p_out: f64, p_suction: f64) -> Result<Calculated, CalcError> {
    let i = check("p_in", p_in, -100.0, 800.0, "mmHg")?;
    let o = check("p_out", p_out, -100.0, 800.0, "mmHg")?;
    let s = check("p_suction", p_suction, -500.0, 0.0, "mmHg")?;
    Ok(Calculated::new(
        (i + o) / 2.0 + s.abs(),
        "mmHg",
        "TMP = (P_in + P_out) / 2 + |P_suction|",
        "Haemofilter manufacturers' TMP definition; clinical.md 2.11",
    )?
    .input("inlet", i, "mmHg")
    .input("outlet", o, "mmHg")
    .input("suction", s, "mmHg"))
}

#[cfg(test)]
mod tests {
    use super::super::close;
    use super::*;

    #[test]
    fn worked_vectors() {
        assert!(close(svr(65.0, 5.0, 4.7).unwrap().value, 1021.0, 0.5));
        let (dp, per) = oxygenator_pressure_drop(250.0, 215.0, 4.0).unwrap();
        assert_eq!((dp.value, per.value), (35.0, 8.75));
        assert!(close(
            sweep_for_paco2(3.0, 55.0, 45.0).unwrap().value,
            3.67,
            0.005
        ));
        assert!(close(
            haemofilter_tmp(200.0, 150.0, -100.0).unwrap().value,
            275.0,
            1e-9
        ));
        assert!(close(
            membrane_o2_transfer(4.0, 10.0, 15.0).unwrap().value,
            200.0,
            1e-9
        ));
        let (r, eff) = recirculation(0.80, 1.00, 0.65, 4.0).unwrap();
        assert!(close(r.value, 15.0 / 35.0, 1e-9));
        assert!(close(eff.value, (1.0 - 15.0 / 35.0) * 4.0, 1e-9));
        assert!(recirculation(0.8, 0.6, 0.65, 4.0).is_err());
    }
}
