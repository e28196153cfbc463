//! Oxygen content, delivery and consumption; CO2 production (clinical.md 2.5). Hb in g/dL,
//! saturations as fractions, partial pressures in mmHg, flow index in L/min/m².

use super::{check, fraction, CalcError, Calculated, OxygenConstants};

const SOURCE_CONTENT: &str =
    "Oxygen content: k·Hb·S + c·PO2 (Hüfner constant k and solubility c are settings)";

fn hb(v: f64) -> Result<f64, CalcError> {
    check("hb_g_dl", v, 1.0, 25.0, "g/dL")
}

fn po2(name: &'static str, v: f64) -> Result<f64, CalcError> {
    check(name, v, 0.0, 800.0, "mmHg")
}

/// Oxygen content (mL O2/dL blood) = k · Hb · SO2 + c · PO2. Used for arterial (CaO2), venous
/// (CvO2) and pre/post-oxygenator blood alike.
pub fn o2_content(
    c: OxygenConstants,
    hb_g_dl: f64,
    so2: f64,
    po2_mmhg: f64,
) -> Result<Calculated, CalcError> {
    c.validate()?;
    let h = hb(hb_g_dl)?;
    let s = fraction("so2", so2)?;
    let p = po2("po2_mmhg", po2_mmhg)?;
    Ok(Calculated::new(
        c.hb_capacity * h * s + c.dissolved * p,
        "mL/dL",
        "CxO2 = k · Hb · SO2 + c · PO2",
        SOURCE_CONTENT,
    )?
    .input("Hb", h, "g/dL")
    .input("SO2", s, "")
    .input("PO2", p, "mmHg")
    .constant("k (mL O2/g Hb)", c.hb_capacity)
    .constant("c (mL/dL/mmHg)", c.dissolved))
}

/// Indexed oxygen delivery (mL/min/m²) = 10 · CaO2 · pump flow index. GDP threshold is a
/// setting (default 280; 272 Ranucci 2005, 262 de Somer 2011, 270 Newland 2019, 300 Magruder
/// 2017).
pub fn do2i(cao2_ml_dl: f64, flow_index: f64) -> Result<Calculated, CalcError> {
    let ca = check("cao2", cao2_ml_dl, 0.0, 40.0, "mL/dL")?;
    let qi = check("flow_index", flow_index, 0.0, 6.0, "L/min/m²")?;
    Ok(Calculated::new(
        10.0 * ca * qi,
        "mL/min/m²",
        "DO2i = 10 · CaO2 · Qi",
        "Ranucci M et al. Ann Thorac Surg 2005; de Somer F et al. Crit Care 2011",
    )?
    .input("CaO2", ca, "mL/dL")
    .input("flow index", qi, "L/min/m²"))
}

/// The flow index (L/min/m²) that reaches a DO2i target: Qi = target / (10 · CaO2).
pub fn flow_index_for_do2i(target_do2i: f64, cao2_ml_dl: f64) -> Result<Calculated, CalcError> {
    let t = check("target_do2i", target_do2i, 100.0, 1000.0, "mL/min/m²")?;
    let ca = check("cao2", cao2_ml_dl, 1.0, 40.0, "mL/dL")?;
    Ok(Calculated::new(
        t / (10.0 * ca),
        "L/min/m²",
        "Qi = DO2i_target / (10 · CaO2)",
        "Rearranged DO2i definition; clinical.md 2.5",
    )?
    .input("DO2i target", t, "mL/min/m²")
    .input("CaO2", ca, "mL/dL"))
}

/// Indexed oxygen consumption (mL/min/m²) = 10 · Qi · (CaO2 − CvO2).
pub fn vo2i(flow_index: f64, cao2: f64, cvo2: f64) -> Result<Calculated, CalcError> {
    let qi = check("flow_index", flow_index, 0.0, 6.0, "L/min/m²")?;
    let ca = check("cao2", cao2, 0.0, 40.0, "mL/dL")?;
    let cv = check("cvo2", cvo2, 0.0, ca, "mL/dL")?;
    Ok(Calculated::new(
        10.0 * qi * (ca - cv),
        "mL/min/m²",
        "VO2i = 10 · Qi · (CaO2 − CvO2)",
        "Fick principle",
    )?
    .input("flow index", qi, "L/min/m²")
    .input("CaO2", ca, "mL/dL")
    .input("CvO2", cv, "mL/dL"))
}

/// Oxygen extraction ratio = (CaO2 − CvO2) / CaO2 (fraction).
pub fn o2_extraction(cao2: f64, cvo2: f64) -> Result<Calculated, CalcError> {
    let ca = check("cao2", cao2, 0.1, 40.0, "mL/dL")?;
    let cv = check("cvo2", cvo2, 0.0, ca, "mL/dL")?;
    Ok(Calculated::new(
        (ca - cv) / ca,
        "",
        "O2ER = (CaO2 − CvO2) / CaO2",
        "Fick principle",
    )?
    .input("CaO2", ca, "mL/dL")
    .input("CvO2", cv, "mL/dL"))
}

/// The constant in the VCO2 estimate. Marked unverified in clinical.md: shown with every result.
pub const VCO2_CONSTANT: f64 = 1.15;

/// CO2 production (mL/min) ≈ sweep (L/min) · exhaust PCO2 (mmHg) · 1.15 [constant unverified].
pub fn vco2(sweep_l_min: f64, exhaust_pco2_mmhg: f64) -> Result<Calculated, CalcError> {
    let s = check("sweep_l_min", sweep_l_min, 0.0, 20.0, "L/min")?;
    let p = check("exhaust_pco2_mmhg", exhaust_pco2_mmhg, 0.0, 100.0, "mmHg")?;
    Ok(Calculated::new(
        s * p * VCO2_CONSTANT,
        "mL/min",
        "VCO2 ≈ sweep · exhaust PCO2 · 1.15",
        "Oxygenator exhaust capnometry; constant 1.15 not verified against a primary source",
    )?
    .input("sweep", s, "L/min")
    .input("exhaust PCO2", p, "mmHg")
    .constant("VCO2 constant [unverified]", VCO2_CONSTANT)
    .warn_if(true, "the 1.15 constant is unverified"))
}

/// DO2i / VCO2i (dimensionless). Below 5.3 is associated with acute kidney injury
/// (de Somer et al. Crit Care 2011).
pub fn do2i_vco2i_ratio(do2i: f64, vco2i: f64) -> Result<Calculated, CalcError> {
    let d = check("do2i", do2i, 0.0, 2000.0, "mL/min/m²")?;
    let v = check("vco2i", vco2i, 1.0, 1000.0, "mL/min/m²")?;
    let r = d / v;
    Ok(
        Calculated::new(r, "", "DO2i / VCO2i", "de Somer F et al. Crit Care 2011")?
            .input("DO2i", d, "mL/min/m²")
            .input("VCO2i", v, "mL/min/m²")
            .warn_if(r < 5.3, "below 5.3 (associated with acute kidney injury)"),
    )
}

#[cfg(test)]
mod tests {
    use super::super::close;
    use super::*;

    const K134: OxygenConstants = OxygenConstants {
        hb_capacity: 1.34,
        dissolved: 0.003,
    };
    const K136: OxygenConstants = OxygenConstants {
        hb_capacity: 1.36,
        dissolved: 0.0031,
    };
    const K139: OxygenConstants = OxygenConstants {
        hb_capacity: 1.39,
        dissolved: 0.003,
    };

    #[test]
    fn content_and_delivery_vectors_name_their_constants() {
        for (k, want) in [(K134, 12.026), (K136, 12.219), (K139, 12.447)] {
            let c = o2_content(k, 8.5, 0.99, 250.0).unwrap();
            assert!(close(c.value, want, 0.001), "{k:?}: {}", c.value);
            assert_eq!(c.constants[0].1, k.hb_capacity);
            assert_eq!(c.constants[1].1, k.dissolved);
        }
        assert!(close(do2i(12.026, 2.4).unwrap().value, 288.6, 0.5));
        let ca136 = o2_content(K136, 8.5, 0.99, 250.0).unwrap().value;
        assert!(close(do2i(ca136, 2.4).unwrap().value, 293.3, 0.5));
        let low = o2_content(K134, 7.0, 0.99, 250.0).unwrap().value;
        assert!(close(low, 10.036, 0.001));
        assert!(close(do2i(low, 2.2).unwrap().value, 220.8, 0.5));
        let qi = flow_index_for_do2i(280.0, 10.036).unwrap().value;
        assert!(close(qi, 2.79, 0.005));
        assert!(close(qi * 1.956, 5.46, 0.01));
    }

    #[test]
    fn consumption_extraction_and_co2() {
        let ca = 12.0;
        let cv = 8.0;
        assert!(close(vo2i(2.4, ca, cv).unwrap().value, 96.0, 1e-9));
        assert!(close(o2_extraction(ca, cv).unwrap().value, 1.0 / 3.0, 1e-9));
        let v = vco2(3.0, 30.0).unwrap();
        assert!(close(v.value, 103.5, 1e-9));
        assert!(v.constants.iter().any(|(n, _)| n.contains("unverified")));
        assert!(!do2i_vco2i_ratio(280.0, 60.0).unwrap().warnings.is_empty());
        assert!(do2i_vco2i_ratio(350.0, 60.0).unwrap().warnings.is_empty());
        assert!(
            vo2i(2.4, 8.0, 12.0).is_err(),
            "venous above arterial content"
        );
    }

    #[test]
    fn delivery_rises_with_hb_saturation_and_flow() {
        for hb10 in 30..200 {
            let h = f64::from(hb10) / 10.0;
            let a = o2_content(K134, h, 0.95, 200.0).unwrap().value;
            let b = o2_content(K134, h + 0.1, 0.95, 200.0).unwrap().value;
            assert!(b > a);
            assert!(do2i(a, 2.5).unwrap().value > do2i(a, 2.4).unwrap().value);
        }
        assert_eq!(
            o2_content(K134, 8.5, 99.0, 250.0).unwrap_err().input(),
            Some("so2")
        );
        let bad = OxygenConstants {
            hb_capacity: 13.4,
            dissolved: 0.003,
        };
        assert!(o2_content(bad, 8.5, 0.99, 250.0).is_err());
    }
}
