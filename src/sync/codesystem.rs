//! The Pumpside CodeSystem: every code Pumpside sends under [`PUMPSIDE`] for concepts without a
//! LOINC, SNOMED or MDC term (pump flow, sweep gas, …) or next to one (receivers match the coding
//! they know). Published in the repository as `docs/fhir/CodeSystem-pumpside.json`; a test keeps
//! that file equal to [`code_system`] and checks every Pumpside coding the app emits is in it.

use serde_json::{json, Value};

use super::map::PUMPSIDE;
use crate::domain::bloodgas::Analyte;
use crate::domain::entry::{BloodProductKind, FluidKind};
use crate::domain::{CaseKind, EventKind, Parameter};

/// Where the published copy lives, from the repository root.
pub const PUBLISHED: &str = "docs/fhir/CodeSystem-pumpside.json";

pub const FLUIDS: [FluidKind; 3] = [
    FluidKind::Crystalloid,
    FluidKind::Colloid,
    FluidKind::Albumin,
];
pub const BLOOD_PRODUCTS: [BloodProductKind; 5] = [
    BloodProductKind::RedCells,
    BloodProductKind::Plasma,
    BloodProductKind::Platelets,
    BloodProductKind::Cryoprecipitate,
    BloodProductKind::WholeBlood,
];

pub fn fluid(k: FluidKind) -> (&'static str, &'static str) {
    match k {
        FluidKind::Crystalloid => ("fluid-crystalloid", "Crystalloid"),
        FluidKind::Colloid => ("fluid-colloid", "Colloid"),
        FluidKind::Albumin => ("fluid-albumin", "Albumin"),
    }
}

pub fn blood_product(k: BloodProductKind) -> (&'static str, &'static str) {
    match k {
        BloodProductKind::RedCells => ("blood-product-red-cells", "Red cells"),
        BloodProductKind::Plasma => ("blood-product-plasma", "Plasma"),
        BloodProductKind::Platelets => ("blood-product-platelets", "Platelets"),
        BloodProductKind::Cryoprecipitate => ("blood-product-cryoprecipitate", "Cryoprecipitate"),
        BloodProductKind::WholeBlood => ("blood-product-whole-blood", "Whole blood"),
    }
}

/// Codes written literally in the mapping, with their display and definition.
pub const FIXED: [(&str, &str, &str); 12] = [
    (
        "act",
        "ACT",
        "Activated clotting time of whole blood, seconds (LOINC 3184-9 sent too).",
    ),
    (
        "urine-output",
        "Urine output",
        "Urine volume recorded since the previous entry, mL.",
    ),
    (
        "ultrafiltration-volume",
        "Ultrafiltration volume",
        "Volume removed by (modified) ultrafiltration, mL; the mode is in the text.",
    ),
    (
        "cell-saver-collected",
        "Cell saver collected",
        "Volume collected by the cell saver, mL.",
    ),
    (
        "cell-saver-returned",
        "Cell saver returned",
        "Processed volume returned from the cell saver, mL.",
    ),
    (
        "residual-volume",
        "Residual pump volume",
        "Volume left in the circuit at the end of bypass, mL.",
    ),
    (
        "note",
        "Perfusion note",
        "Free-text note on the perfusion record.",
    ),
    (
        "blood-gas-panel",
        "Blood gas",
        "A blood gas panel; its analytes are members (LOINC 24336-0 sent too).",
    ),
    (
        "cardioplegia",
        "Cardioplegia",
        "A dose of cardioplegia solution (SNOMED 8290005 induced cardioplegia).",
    ),
    (
        "heparin",
        "Heparin",
        "Heparin given for anticoagulation (RxNorm 5224 sent too).",
    ),
    (
        "protamine",
        "Protamine",
        "Protamine given to reverse heparin.",
    ),
    (
        "demo",
        "Demo data, not a patient record",
        "Tag: written by Pumpside's demo mode from simulated devices.",
    ),
];

/// Every concept: (code, display, definition).
pub fn concepts() -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    for p in Parameter::ALL {
        out.push((
            p.code().into(),
            p.label().into(),
            format!("{}, measured or set on a bedside device.", p.label()),
        ));
    }
    for a in Analyte::ALL {
        out.push((
            format!("blood-gas-{}", a.code()),
            a.label().into(),
            format!("{} in a blood gas panel.", a.label()),
        ));
    }
    for k in CaseKind::ALL {
        out.push((
            format!("case-kind-{}", k.code()),
            k.label().into(),
            format!("A Pumpside run of kind {}.", k.label()),
        ));
    }
    for e in EventKind::ALL {
        out.push((
            e.code().replace('_', "-"),
            e.label().into(),
            format!("Timeline event: {}.", e.label()),
        ));
    }
    for (c, d, def) in FIXED {
        out.push((c.into(), d.into(), def.into()));
    }
    for f in FLUIDS {
        let (c, d) = fluid(f);
        out.push((
            c.into(),
            d.into(),
            format!("{d} given into the circuit or to the patient, mL."),
        ));
    }
    for b in BLOOD_PRODUCTS {
        let (c, d) = blood_product(b);
        out.push((
            c.into(),
            d.into(),
            format!("{d} transfused into the circuit or to the patient, mL."),
        ));
    }
    out
}

/// The CodeSystem resource.
pub fn code_system() -> Value {
    let concepts = concepts();
    json!({
        "resourceType": "CodeSystem",
        "id": "pumpside",
        "url": PUMPSIDE,
        "version": env!("CARGO_PKG_VERSION"),
        "name": "PumpsideConcepts",
        "title": "Pumpside perfusion concepts",
        "status": "draft",
        "experimental": true,
        "publisher": "Pumpside (open source)",
        "description": "Concepts Pumpside records for perfusion (cardiopulmonary bypass, ECMO, IABP, VAD) that have no LOINC, SNOMED CT or ISO/IEEE 11073 MDC code, or that Pumpside sends next to such a code. Not cleared for clinical use; to be mapped to standard terms as they appear.",
        "caseSensitive": true,
        "content": "complete",
        "count": concepts.len(),
        "concept": concepts.iter().map(|(c, d, def)| json!({ "code": c, "display": d, "definition": def })).collect::<Vec<_>>(),
    })
}

/// Whether `code` is in the CodeSystem.
pub fn contains(code: &str) -> bool {
    concepts().iter().any(|(c, _, _)| c == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_the_published_file_is_current() {
        let all = concepts();
        let mut codes: Vec<&str> = all.iter().map(|(c, _, _)| c.as_str()).collect();
        codes.sort_unstable();
        let n = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), n, "duplicate codes");
        assert!(codes
            .iter()
            .all(|c| !c.is_empty() && !c.contains(char::is_whitespace)));
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(PUBLISHED);
        let text = format!(
            "{}\n",
            serde_json::to_string_pretty(&code_system()).unwrap()
        );
        if std::env::var_os("PUMPSIDE_WRITE_CODESYSTEM").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
        }
        let published = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            published == text,
            "{PUBLISHED} is out of date: run PUMPSIDE_WRITE_CODESYSTEM=1 cargo test --lib codesystem"
        );
    }
}
