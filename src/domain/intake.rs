//! Starting a case from the Cases screen: the MRN that finds the patient, the registration form
//! for a patient not yet on this device (typed from the hospital's record), and the case label.
//! Pure: the screen passes typed text in and gets a checked patient or an error naming the field.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

use super::patient::{BloodGroup, Mrn, Sex};
use super::validation::ValidationError;
use super::{CaseKind, Decimal, Patient};

/// A field of the registration form: key, label, placeholder.
pub struct Field {
    pub key: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
}

/// The typed fields, in tab order. Sex and blood group are chosen with buttons.
pub const FIELDS: [Field; 5] = [
    Field {
        key: "family",
        label: "Family name",
        hint: "as on the wristband",
    },
    Field {
        key: "given",
        label: "Given names",
        hint: "",
    },
    Field {
        key: "birth",
        label: "Birth date",
        hint: "YYYY-MM-DD",
    },
    Field {
        key: "height",
        label: "Height (cm)",
        hint: "e.g. 175",
    },
    Field {
        key: "weight",
        label: "Weight (kg)",
        hint: "e.g. 80",
    },
];

/// The MRN as typed: surrounding space trimmed, never empty.
pub fn mrn(system: &str, value: &str) -> Result<Mrn, ValidationError> {
    let (system, value) = (system.trim(), value.trim());
    if system.is_empty() {
        return Err(ValidationError::missing("MRN issuer"));
    }
    if value.is_empty() {
        return Err(ValidationError::missing("MRN"));
    }
    if value.chars().any(char::is_whitespace) {
        return Err(ValidationError::Invalid {
            field: "MRN".into(),
            value: value.into(),
            allowed: "no spaces inside an MRN".into(),
        });
    }
    Ok(Mrn {
        system: system.into(),
        value: value.into(),
    })
}

pub const SEXES: [Sex; 4] = [Sex::Female, Sex::Male, Sex::Other, Sex::Unknown];

pub fn sex_label(s: Sex) -> &'static str {
    match s {
        Sex::Female => "Female",
        Sex::Male => "Male",
        Sex::Other => "Other",
        Sex::Unknown => "Unknown",
    }
}

pub const BLOOD_GROUPS: [BloodGroup; 9] = [
    BloodGroup::OPos,
    BloodGroup::ONeg,
    BloodGroup::APos,
    BloodGroup::ANeg,
    BloodGroup::BPos,
    BloodGroup::BNeg,
    BloodGroup::AbPos,
    BloodGroup::AbNeg,
    BloodGroup::Unknown,
];

pub fn blood_group_label(b: BloodGroup) -> &'static str {
    match b {
        BloodGroup::OPos => "O+",
        BloodGroup::ONeg => "O−",
        BloodGroup::APos => "A+",
        BloodGroup::ANeg => "A−",
        BloodGroup::BPos => "B+",
        BloodGroup::BNeg => "B−",
        BloodGroup::AbPos => "AB+",
        BloodGroup::AbNeg => "AB−",
        BloodGroup::Unknown => "Unknown",
    }
}

/// A patient from the registration form, checked against what is possible on `today`. The
/// error names the form's field as the screen shows it.
pub fn patient(
    mrn: Mrn,
    typed: &BTreeMap<String, String>,
    sex: Sex,
    blood_group: BloodGroup,
    today: NaiveDate,
) -> Result<Patient, ValidationError> {
    let text = |key: &str| typed.get(key).map(|s| s.trim()).unwrap_or("");
    let required = |key: &'static str, label: &'static str| {
        let t = text(key);
        if t.is_empty() {
            Err(ValidationError::missing(label))
        } else {
            Ok(t.to_string())
        }
    };
    let number = |key: &'static str, label: &'static str| -> Result<Decimal, ValidationError> {
        required(key, label)?
            .parse::<Decimal>()
            .map_err(|e| ValidationError::Invalid {
                field: label.into(),
                value: text(key).into(),
                allowed: format!("a number ({e})"),
            })
    };
    let family_name = required("family", "Family name")?;
    let birth = required("birth", "Birth date")?;
    let birth_date =
        NaiveDate::parse_from_str(&birth, "%Y-%m-%d").map_err(|_| ValidationError::Invalid {
            field: "Birth date".into(),
            value: birth.clone(),
            allowed: "a date written YYYY-MM-DD".into(),
        })?;
    let p = Patient {
        mrn,
        family_name,
        given_names: text("given").to_string(),
        birth_date,
        sex,
        height_cm: number("height", "Height (cm)")?,
        weight_kg: number("weight", "Weight (kg)")?,
        blood_group,
        allergies: Vec::new(),
    };
    p.validate(today)?;
    Ok(p)
}

/// One line naming the patient on the screen: "LOVELACE, Ada · 1961-05-24 · 172 cm · 64 kg".
pub fn describe(p: &Patient) -> String {
    let given = if p.given_names.is_empty() {
        String::new()
    } else {
        format!(", {}", p.given_names)
    };
    format!(
        "{}{given} · born {} · {} cm · {} kg · {}",
        p.family_name.to_uppercase(),
        p.birth_date,
        p.height_cm,
        p.weight_kg,
        blood_group_label(p.blood_group)
    )
}

/// The patient banner on every case screen, in reading order: (test id, text). Age in whole
/// years on `today` (months under two years), so the right patient is recognised at a glance.
pub fn banner(p: &Patient, today: NaiveDate) -> Vec<(&'static str, String)> {
    let given = if p.given_names.is_empty() {
        String::new()
    } else {
        format!(", {}", p.given_names)
    };
    let age = match today.years_since(p.birth_date) {
        Some(y) if y >= 2 => format!("{y} y"),
        _ => {
            let months = (today.year() - p.birth_date.year()) * 12 + today.month() as i32
                - p.birth_date.month() as i32
                - i32::from(today.day() < p.birth_date.day());
            format!("{} mo", months.max(0))
        }
    };
    let mut out = vec![
        ("name", format!("{}{given}", p.family_name.to_uppercase())),
        ("age", age),
        ("sex", sex_label(p.sex).to_string()),
        ("weight", format!("{} kg", p.weight_kg)),
        ("height", format!("{} cm", p.height_cm)),
        ("blood-group", blood_group_label(p.blood_group).to_string()),
        ("mrn", format!("MRN {}", p.mrn.value)),
    ];
    if !p.allergies.is_empty() {
        out.push((
            "allergies",
            format!("Allergies: {}", p.allergies.join("; ")),
        ));
    }
    out
}

/// The case label offered by default: the kind and the MRN, never the name (labels show in
/// lists and logs).
pub fn default_label(kind: CaseKind, mrn: &Mrn) -> String {
    format!("{} · MRN {}", kind.label(), mrn.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
    }

    fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_mrn_is_trimmed_and_must_have_an_issuer_and_a_value_without_spaces() {
        let m = mrn(" urn:oid:1.2.3 ", " A-17 ").unwrap();
        assert_eq!(
            (m.system.as_str(), m.value.as_str()),
            ("urn:oid:1.2.3", "A-17")
        );
        assert_eq!(mrn("urn:x", " ").unwrap_err().field(), Some("MRN"));
        assert_eq!(mrn("", "A1").unwrap_err().field(), Some("MRN issuer"));
        assert!(mrn("urn:x", "A 1")
            .unwrap_err()
            .to_string()
            .contains("no spaces"));
    }

    #[test]
    fn a_registration_becomes_a_checked_patient_and_errors_name_the_form_field() {
        let m = mrn("urn:x", "MRN-4712").unwrap();
        let typed = form(&[
            ("family", " Lovelace "),
            ("given", "Ada"),
            ("birth", "1961-05-24"),
            ("height", "172"),
            ("weight", "64,5"),
        ]);
        let p = patient(m.clone(), &typed, Sex::Female, BloodGroup::APos, today()).unwrap();
        assert_eq!(p.family_name, "Lovelace");
        assert_eq!(p.weight_kg.to_string(), "64.5");
        assert_eq!(
            describe(&p),
            "LOVELACE, Ada · born 1961-05-24 · 172 cm · 64.5 kg · A+"
        );

        let mut bad = typed.clone();
        bad.insert("birth".into(), "24.05.1961".into());
        let e = patient(m.clone(), &bad, Sex::Female, BloodGroup::APos, today()).unwrap_err();
        assert_eq!(e.field(), Some("Birth date"));
        assert!(e.to_string().contains("YYYY-MM-DD"), "{e}");

        let mut bad = typed.clone();
        bad.insert("height".into(), "tall".into());
        let e = patient(m.clone(), &bad, Sex::Female, BloodGroup::APos, today()).unwrap_err();
        assert_eq!(e.field(), Some("Height (cm)"));

        let mut bad = typed.clone();
        bad.insert("weight".into(), "6400".into());
        let e = patient(m.clone(), &bad, Sex::Female, BloodGroup::APos, today()).unwrap_err();
        assert_eq!(e.field(), Some("patient.weight_kg"), "{e}");

        let mut bad = typed;
        bad.remove("family");
        let e = patient(m, &bad, Sex::Female, BloodGroup::APos, today()).unwrap_err();
        assert_eq!(e, ValidationError::missing("Family name"));
    }

    #[test]
    fn the_default_label_names_the_kind_and_mrn_not_the_patient() {
        let m = mrn("urn:x", "MRN-4712").unwrap();
        assert_eq!(
            default_label(CaseKind::EcmoVa, &m),
            "VA ECMO · MRN MRN-4712"
        );
    }
}
