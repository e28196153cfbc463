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

/// The edition of the CodeSystem; every Pumpside coding carries it (`Coding.version`). A new
/// edition that renames a code keeps the old one, inactive, with `replacedBy` (see [`RENAMED`]).
pub const VERSION: &str = "2026-12-02";

/// Codes of earlier editions and the codes that replace them: (old, new, why). Kept in the
/// CodeSystem as inactive concepts so a receiver holding old data can map it.
pub const RENAMED: [(&str, &str, &str); 2] = [
    (
        "blood-gas-base_excess",
        "blood-gas-base-excess",
        "Spelling: Pumpside codes use hyphens only.",
    ),
    (
        "fio2",
        "sweep-gas-fio2",
        "The parameter is the oxygen fraction of the oxygenator's sweep gas, not the patient's inhaled oxygen.",
    ),
];

/// The Pumpside code and display of a parameter.
pub fn parameter(p: Parameter) -> (&'static str, &'static str) {
    let d = p.definition();
    (
        d.pumpside.as_deref().unwrap_or(p.code()),
        d.display.as_deref().unwrap_or(p.label()),
    )
}

/// The Pumpside code of a blood-gas analyte.
pub fn analyte(a: Analyte) -> String {
    format!("blood-gas-{}", a.code().replace('_', "-"))
}

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
pub const FIXED: [(&str, &str, &str); 23] = [
    (
        "amendment",
        "Amendment",
        "Text added to a signed perfusion record, with the reason; its focus is the record it amends.",
    ),
    (
        "artefact",
        "Artefact: not a valid measurement",
        "Interpretation and tag: the perfusionist marked this value as an artefact (sampling error, air, a disturbed sensor). The value is kept as measured; it is not a valid reading.",
    ),
    (
        "site-pre-oxygenator",
        "Pre-oxygenator (venous line)",
        "Blood sampled from the circuit's venous line before the oxygenator: the patient's venous return (LOINC venous-blood terms are sent with it).",
    ),
    (
        "site-post-oxygenator",
        "Post-oxygenator (arterial line)",
        "Blood sampled from the circuit after the oxygenator. Not the patient's arterial blood, so LOINC's unspecified-blood terms are sent with it, never the arterial ones.",
    ),
    (
        "gas-reported-at-37",
        "Reported at 37 °C (alpha-stat)",
        "The blood gas's pH, pCO2 and pO2 are as measured at 37 °C.",
    ),
    (
        "gas-reported-at-patient-temperature",
        "Adjusted to the patient's temperature (pH-stat)",
        "The blood gas's pH, pCO2 and pO2 are adjusted to the patient's temperature, which is a member of the panel (LOINC 8310-5).",
    ),
    (
        "blood-gas-patient-temperature",
        "Patient temperature for the blood gas",
        "The patient temperature, Cel, a pH-stat blood gas was adjusted to.",
    ),
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
        "cannulation",
        "ECMO cannulation",
        "Where an ECMO run's cannulae sit and their sizes (French), as text: drainage, return, \
         distal perfusion.",
    ),
    (
        "circuit-change",
        "Circuit change",
        "A part of a running circuit replaced (oxygenator, circuit, pump head); the new part is \
         the Observation's device, the reason its value.",
    ),
    (
        "ecmo-rule",
        "ECMO rule for this run",
        "A range or rule of the ECMO advisories set for this run only by the ECMO team: the \
         protocol key in the extension ecmo-rule-key, the value as valueQuantity (the key's \
         unit), why in note; the newest per key is in force.",
    ),
    (
        "handover-note",
        "Handover note",
        "Free-text handover to the next team taking the run or the patient; the author and time \
         are the Observation's performer and effective time.",
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
    for p in Parameter::all() {
        let (code, display) = parameter(p);
        out.push((
            code.into(),
            display.into(),
            format!("{display}, measured or set on a bedside device."),
        ));
    }
    for a in Analyte::ALL {
        out.push((
            analyte(a),
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

/// The CodeSystem resource: the active concepts, then the renamed codes of earlier editions
/// as inactive concepts pointing at their replacements.
pub fn code_system() -> Value {
    let concepts = concepts();
    let mut listed: Vec<Value> = concepts
        .iter()
        .map(|(c, d, def)| json!({ "code": c, "display": d, "definition": def }))
        .collect();
    for (old, new, why) in RENAMED {
        listed.push(json!({
            "code": old,
            "display": format!("{old} (renamed {new})"),
            "definition": format!("Inactive since {VERSION}: use {new}. {why}"),
            "property": [
                { "code": "inactive", "valueBoolean": true },
                { "code": "replacedBy", "valueCode": new },
            ],
        }));
    }
    json!({
        "resourceType": "CodeSystem",
        "id": "pumpside",
        "url": PUMPSIDE,
        "version": VERSION,
        "name": "PumpsideConcepts",
        "title": "Pumpside perfusion concepts",
        "status": "draft",
        "experimental": true,
        "publisher": "Pumpside (open source)",
        "description": "Concepts Pumpside records for perfusion (cardiopulmonary bypass, ECMO, IABP, VAD) that have no LOINC, SNOMED CT or ISO/IEEE 11073 MDC code, or that Pumpside sends next to such a code. Not cleared for clinical use; to be mapped to standard terms as they appear.",
        "caseSensitive": true,
        "content": "complete",
        "count": listed.len(),
        "property": [
            { "code": "inactive", "uri": "http://hl7.org/fhir/concept-properties#inactive", "description": "The code is no longer used; see replacedBy.", "type": "boolean" },
            { "code": "replacedBy", "uri": "https://pumpside.org/fhir/CodeSystem/pumpside#replacedBy", "description": "The code that replaces this one.", "type": "code" },
        ],
        "concept": listed,
    })
}

/// Whether `code` is an active code of the CodeSystem (a renamed code is not).
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
        for (old, new, _) in RENAMED {
            assert!(!contains(old) && contains(new), "{old} → {new}");
        }
        assert!(
            codes.iter().all(|c| !c.contains('_')),
            "Pumpside codes use hyphens only"
        );
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
