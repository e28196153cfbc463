//! Perfusion calculations, usable as a library. Every function documents its formula, units and
//! source, validates its inputs (a typed [`CalcError`] names the input and the allowed range),
//! never returns NaN or infinity, and returns a [`Calculated`] that carries the inputs and
//! constants that produced it, so a result can be traced and re-checked.
//!
//! Units: height cm, weight kg, volumes mL, flows L/min, pressures mmHg, temperatures °C,
//! haematocrit and saturations as fractions (0.40, not 40), Hb g/dL, unless a function says
//! otherwise. Worked vectors from `shared/clinical.md` are the unit tests.

pub mod anticoagulation;
pub mod body;
pub mod cardioplegia;
pub mod circuit;
pub mod haemodilution;
pub mod oxygen;
pub mod temperature;
pub mod threshold;

use std::fmt;

/// An input outside what the formula accepts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalcError {
    #[error("{input} = {value} {unit} is outside the allowed range {low} to {high} {unit}{hint}")]
    OutOfRange {
        input: &'static str,
        value: f64,
        unit: &'static str,
        low: f64,
        high: f64,
        /// A likely cause, e.g. "a saturation of 99 looks like percent: give 0.99".
        hint: String,
    },
    #[error("{input} is not a finite number")]
    NotFinite { input: &'static str },
    #[error("{0}")]
    Undefined(String),
}

impl CalcError {
    pub fn input(&self) -> Option<&'static str> {
        match self {
            CalcError::OutOfRange { input, .. } | CalcError::NotFinite { input } => Some(input),
            CalcError::Undefined(_) => None,
        }
    }
}

/// Check an input lies in `[low, high]`.
pub fn check(
    input: &'static str,
    value: f64,
    low: f64,
    high: f64,
    unit: &'static str,
) -> Result<f64, CalcError> {
    if !value.is_finite() {
        return Err(CalcError::NotFinite { input });
    }
    if value < low || value > high {
        return Err(CalcError::OutOfRange {
            input,
            value,
            unit,
            low,
            high,
            hint: String::new(),
        });
    }
    Ok(value)
}

/// Check a fraction (saturation, haematocrit, FiO2). A value that looks like a percentage gets
/// a hint instead of a silently wrong result.
pub fn fraction(input: &'static str, value: f64) -> Result<f64, CalcError> {
    fraction_in(input, value, 0.0, 1.0)
}

/// A haematocrit as a fraction: 0.05 to 0.75 is what blood can be (a plausibility range, not a
/// clinical threshold), so 0.01 is refused and 1.2 is not taken for 1.2 %.
pub fn haematocrit(input: &'static str, value: f64) -> Result<f64, CalcError> {
    fraction_in(input, value, 0.05, 0.75)
}

/// A fraction within `[low, high]`; a value that, read as a percentage, would fall in the range
/// gets the exact fraction as a hint (never rounded to two places: 1.2 is not "0.01").
fn fraction_in(input: &'static str, value: f64, low: f64, high: f64) -> Result<f64, CalcError> {
    check(input, value, low, high, "").map_err(|e| match e {
        CalcError::OutOfRange { .. } if (low * 100.0..=high * 100.0).contains(&value) => {
            let exact = value
                .to_string()
                .parse::<super::Decimal>()
                .ok()
                .and_then(|d| d.shift(-2))
                .map_or_else(|| format!("{}", value / 100.0), |d| d.to_string());
            CalcError::OutOfRange {
                input,
                value,
                unit: "",
                low,
                high,
                hint: format!(" ({value} looks like a percentage: give {exact})"),
            }
        }
        e => e,
    })
}

/// A result with everything that produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct Calculated {
    pub value: f64,
    pub unit: &'static str,
    /// The formula as written in the documentation.
    pub formula: &'static str,
    pub source: &'static str,
    pub inputs: Vec<(&'static str, f64, &'static str)>,
    /// Constants that differ between publications, with the value used.
    pub constants: Vec<(&'static str, f64)>,
    /// Advisories about the result (an unusual constant, a flagged rate). Never alarms.
    pub warnings: Vec<String>,
}

impl Calculated {
    /// Build a result; a non-finite value (which validated inputs should never produce) is an
    /// error rather than a NaN on screen.
    pub fn new(
        value: f64,
        unit: &'static str,
        formula: &'static str,
        source: &'static str,
    ) -> Result<Self, CalcError> {
        if !value.is_finite() {
            return Err(CalcError::Undefined(format!(
                "{formula} gave no finite result"
            )));
        }
        Ok(Self {
            value,
            unit,
            formula,
            source,
            inputs: Vec::new(),
            constants: Vec::new(),
            warnings: Vec::new(),
        })
    }

    pub fn input(mut self, name: &'static str, value: f64, unit: &'static str) -> Self {
        self.inputs.push((name, value, unit));
        self
    }

    pub fn constant(mut self, name: &'static str, value: f64) -> Self {
        self.constants.push((name, value));
        self
    }

    pub fn warn_if(mut self, condition: bool, warning: impl Into<String>) -> Self {
        if condition {
            self.warnings.push(warning.into());
        }
        self
    }
}

impl fmt::Display for Calculated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.value, self.unit, self.formula)
    }
}

/// Oxygen constants that differ between publications (clinical.md 2.5).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OxygenConstants {
    /// Hüfner's number, mL O2 per g Hb: 1.34, 1.36 or 1.39.
    pub hb_capacity: f64,
    /// Dissolved O2, mL/dL/mmHg: 0.003 or 0.0031.
    pub dissolved: f64,
}

impl Default for OxygenConstants {
    fn default() -> Self {
        Self {
            hb_capacity: 1.34,
            dissolved: 0.003,
        }
    }
}

impl OxygenConstants {
    pub fn validate(&self) -> Result<(), CalcError> {
        check("hb_capacity", self.hb_capacity, 1.3, 1.4, "mL/g")?;
        check("dissolved", self.dissolved, 0.0028, 0.0032, "mL/dL/mmHg")?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_haematocrit_is_checked_for_what_blood_can_be() {
        assert!(
            haematocrit("hct", 0.01).is_err(),
            "0.01 is not a haematocrit"
        );
        let e = haematocrit("hct", 1.2).unwrap_err().to_string();
        assert!(!e.contains("0.01"), "{e}");
        assert!(
            !e.contains("percentage"),
            "1.2 % is no haematocrit either: {e}"
        );
        let e = haematocrit("hct", 32.5).unwrap_err().to_string();
        assert!(e.contains("give 0.325"), "{e}");
        assert_eq!(haematocrit("hct", 0.325).unwrap(), 0.325);
    }

    #[test]
    fn a_percentage_given_as_a_fraction_gets_a_hint() {
        let e = fraction("sao2", 99.0).unwrap_err();
        assert_eq!(e.input(), Some("sao2"));
        assert!(
            e.to_string().contains("looks like a percentage: give 0.99"),
            "{e}"
        );
        assert!(fraction("hct", 1.2).is_err());
        assert!(matches!(
            fraction("hct", f64::NAN),
            Err(CalcError::NotFinite { .. })
        ));
        assert_eq!(fraction("hct", 0.3), Ok(0.3));
    }

    #[test]
    fn results_never_carry_nan() {
        assert!(Calculated::new(f64::NAN, "", "x", "y").is_err());
        assert!(Calculated::new(f64::INFINITY, "", "x", "y").is_err());
    }
}
