//! Validation at the domain boundary. Every refusal names the field, the value and what is
//! allowed, in words a perfusionist can act on; nothing is written when validation fails.

use std::fmt;

use super::{CaseId, CaseStatus, EntryId};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidationError {
    /// A value outside what is physically possible (not a clinical threshold).
    #[error("{field} = {value} is not possible: allowed {allowed}")]
    OutOfRange {
        field: String,
        value: String,
        allowed: String,
    },
    #[error("{field}: unit {unit:?} is not accepted; use one of {allowed}")]
    Unit {
        field: String,
        unit: String,
        allowed: String,
    },
    #[error("{field} is required")]
    Missing { field: String },
    #[error("{field} = {value:?} is not valid: {allowed}")]
    Invalid {
        field: String,
        value: String,
        allowed: String,
    },
    #[error(
        "{stream}: {what} went backwards ({previous} then {got}); samples must arrive in order"
    )]
    TimeBackwards {
        stream: String,
        what: &'static str,
        previous: String,
        got: String,
    },
    #[error("case {0} does not exist")]
    UnknownCase(CaseId),
    #[error("entry {0} does not exist in this case")]
    UnknownEntry(EntryId),
    #[error("case {case} is signed: only amendments can be added")]
    CaseSigned { case: CaseId },
    #[error("case {case} cannot go from {from:?} to {to:?}; allowed next: {allowed}")]
    Lifecycle {
        case: CaseId,
        from: CaseStatus,
        to: CaseStatus,
        allowed: String,
    },
    #[error("{0}")]
    DemoMismatch(String),
    /// Device values go only to a case being set up or running.
    #[error(
        "case {case} is {status:?}: it takes no device values (only set-up and running cases do)"
    )]
    CaseNotLive { case: CaseId, status: CaseStatus },
    #[error("starting bypass needs {what}, or an override with a reason")]
    ChecklistRequired { what: String },
    /// Heparin given and an ACT at the protocol's target are wanted before bypass.
    #[error("bypass held: {why}; starting needs heparin and an ACT of at least {target_s} s after it, or an override with a reason")]
    AnticoagulationRequired { why: String, target_s: f64 },
}

impl ValidationError {
    pub fn out_of_range(
        field: impl Into<String>,
        value: impl fmt::Display,
        allowed: impl Into<String>,
    ) -> Self {
        Self::OutOfRange {
            field: field.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }

    pub fn missing(field: impl Into<String>) -> Self {
        Self::Missing {
            field: field.into(),
        }
    }

    /// The field the error is about, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::OutOfRange { field, .. }
            | Self::Unit { field, .. }
            | Self::Missing { field }
            | Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Check `value` (in the field's unit) lies in `[low, high]`.
pub fn check_range(
    field: &str,
    value: f64,
    shown: impl fmt::Display,
    low: f64,
    high: f64,
    unit: &str,
) -> Result<(), ValidationError> {
    if value.is_finite() && value >= low && value <= high {
        Ok(())
    } else {
        Err(ValidationError::out_of_range(
            field,
            format!("{shown} {unit}").trim_end(),
            format!("{low} to {high} {unit}").trim_end().to_string(),
        ))
    }
}

/// Check a free-text field is present and not absurdly long.
pub fn check_text(field: &str, text: &str, max_chars: usize) -> Result<(), ValidationError> {
    let n = text.trim().chars().count();
    if n == 0 {
        Err(ValidationError::missing(field))
    } else if n > max_chars {
        Err(ValidationError::out_of_range(
            field,
            format!("{n} characters"),
            format!("at most {max_chars} characters"),
        ))
    } else if let Some((i, c)) = text
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        // A control character (pasted from another program) is not valid in a FHIR string
        // (`[ \r\n\t\S]+`): it is refused here, with where it is, instead of reaching the
        // outbox and being rejected by the server.
        Err(ValidationError::Invalid {
            field: field.into(),
            value: format!(
                "a control character U+{:04X} at character {}",
                c as u32,
                i + 1
            ),
            allowed: "text without control characters (line breaks and tabs are fine)".into(),
        })
    } else {
        Ok(())
    }
}

/// The 1-based line of byte `offset` in `text`, for errors in files people edit.
pub fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_with_a_control_character_is_refused_with_where_it_is() {
        let e = check_text("note.text", "\u{7}clamp on", 2000).unwrap_err();
        let said = e.to_string();
        assert!(
            said.contains("U+0007") && said.contains("character 1"),
            "{said}"
        );
        assert!(check_text("note.text", "line one\nline two\tindented\r\n", 2000).is_ok());
        assert!(check_text("note.text", "ACT 480 s · ΔP 12 mmHg", 2000).is_ok());
        assert!(check_text("note.text", "ok\u{1b}[31m", 2000).is_err());
    }
}
