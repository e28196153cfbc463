//! Patients, identified by a medical record number and the system that issued it.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::validation::{check_range, check_text, ValidationError};
use super::Decimal;

/// A medical record number is only unique within the system (hospital, FHIR identifier system)
/// that issued it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Mrn {
    pub system: String,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BloodGroup {
    #[serde(rename = "O+")]
    OPos,
    #[serde(rename = "O-")]
    ONeg,
    #[serde(rename = "A+")]
    APos,
    #[serde(rename = "A-")]
    ANeg,
    #[serde(rename = "B+")]
    BPos,
    #[serde(rename = "B-")]
    BNeg,
    #[serde(rename = "AB+")]
    AbPos,
    #[serde(rename = "AB-")]
    AbNeg,
    #[serde(rename = "unknown")]
    Unknown,
}

/// A patient as recorded at one point in time. A change (new weight, corrected birth date) is a
/// new version; earlier versions stay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patient {
    pub mrn: Mrn,
    pub family_name: String,
    pub given_names: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub height_cm: Decimal,
    pub weight_kg: Decimal,
    pub blood_group: BloodGroup,
    /// Free-text allergies as documented ("penicillin: rash"); empty means none known.
    pub allergies: Vec<String>,
}

impl Patient {
    /// Validate against what is physically possible on `today`.
    pub fn validate(&self, today: NaiveDate) -> Result<(), ValidationError> {
        check_text("patient.mrn.system", &self.mrn.system, 200)?;
        check_text("patient.mrn.value", &self.mrn.value, 64)?;
        check_text("patient.family_name", &self.family_name, 200)?;
        if self.given_names.chars().count() > 200 {
            return Err(ValidationError::out_of_range(
                "patient.given_names",
                "too long",
                "at most 200 characters",
            ));
        }
        if self.birth_date > today {
            return Err(ValidationError::out_of_range(
                "patient.birth_date",
                self.birth_date,
                format!("on or before {today}"),
            ));
        }
        if today.years_since(self.birth_date).unwrap_or(0) > 130 {
            return Err(ValidationError::out_of_range(
                "patient.birth_date",
                self.birth_date,
                "within the last 130 years",
            ));
        }
        // Extremes: a 22-week preterm neonate to the tallest and heaviest adults recorded.
        check_range(
            "patient.height_cm",
            self.height_cm.to_f64(),
            self.height_cm,
            20.0,
            280.0,
            "cm",
        )?;
        check_range(
            "patient.weight_kg",
            self.weight_kg.to_f64(),
            self.weight_kg,
            0.3,
            650.0,
            "kg",
        )?;
        for (i, a) in self.allergies.iter().enumerate() {
            check_text(&format!("patient.allergies[{i}]"), a, 500)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn patient() -> Patient {
        Patient {
            mrn: Mrn {
                system: "urn:oid:1.2.3.4".into(),
                value: "MRN0001".into(),
            },
            family_name: "Test".into(),
            given_names: "Pat".into(),
            birth_date: NaiveDate::from_ymd_opt(1960, 5, 1).unwrap(),
            sex: Sex::Female,
            height_cm: "160".parse().unwrap(),
            weight_kg: "60.5".parse().unwrap(),
            blood_group: BloodGroup::APos,
            allergies: vec!["penicillin: rash".into()],
        }
    }

    #[test]
    fn a_plausible_patient_passes_and_impossible_values_name_their_field() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        patient().validate(today).unwrap();
        let mut p = patient();
        p.height_cm = "1600".parse().unwrap();
        let e = p.validate(today).unwrap_err();
        assert_eq!(e.field(), Some("patient.height_cm"));
        assert!(
            e.to_string().contains("1600 cm") && e.to_string().contains("20 to 280 cm"),
            "{e}"
        );
        let mut p = patient();
        p.weight_kg = "0".parse().unwrap();
        assert_eq!(
            p.validate(today).unwrap_err().field(),
            Some("patient.weight_kg")
        );
        let mut p = patient();
        p.birth_date = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        assert_eq!(
            p.validate(today).unwrap_err().field(),
            Some("patient.birth_date")
        );
        let mut p = patient();
        p.mrn.value = "  ".into();
        assert_eq!(
            p.validate(today).unwrap_err().field(),
            Some("patient.mrn.value")
        );
    }
}
