//! Cases: what kind of support, where in its lifecycle, and whether it is demo data.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::validation::ValidationError;
use super::{CaseId, PatientId};

/// The kind of extracorporeal support a case records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaseKind {
    Cpb,
    EcmoVa,
    EcmoVv,
    Ecpr,
    Iabp,
    Vad,
    IsolatedPerfusion,
    CellSaverOnly,
}

impl CaseKind {
    pub const ALL: [CaseKind; 8] = [
        CaseKind::Cpb,
        CaseKind::EcmoVa,
        CaseKind::EcmoVv,
        CaseKind::Ecpr,
        CaseKind::Iabp,
        CaseKind::Vad,
        CaseKind::IsolatedPerfusion,
        CaseKind::CellSaverOnly,
    ];

    /// Stable code used in storage and exports; never change a published code.
    pub fn code(self) -> &'static str {
        match self {
            CaseKind::Cpb => "cpb",
            CaseKind::EcmoVa => "ecmo-va",
            CaseKind::EcmoVv => "ecmo-vv",
            CaseKind::Ecpr => "ecpr",
            CaseKind::Iabp => "iabp",
            CaseKind::Vad => "vad",
            CaseKind::IsolatedPerfusion => "isolated-perfusion",
            CaseKind::CellSaverOnly => "cell-saver",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            CaseKind::Cpb => "Cardiopulmonary bypass",
            CaseKind::EcmoVa => "VA ECMO",
            CaseKind::EcmoVv => "VV ECMO",
            CaseKind::Ecpr => "ECPR",
            CaseKind::Iabp => "Intra-aortic balloon pump",
            CaseKind::Vad => "Ventricular assist device",
            CaseKind::IsolatedPerfusion => "Isolated limb/organ perfusion",
            CaseKind::CellSaverOnly => "Cell saver only",
        }
    }
}

/// Lifecycle: planned → setup → running → completed → signed (amendments follow signing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Planned,
    Setup,
    Running,
    Completed,
    Signed,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 5] = [
        CaseStatus::Planned,
        CaseStatus::Setup,
        CaseStatus::Running,
        CaseStatus::Completed,
        CaseStatus::Signed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            CaseStatus::Planned => "planned",
            CaseStatus::Setup => "setup",
            CaseStatus::Running => "running",
            CaseStatus::Completed => "completed",
            CaseStatus::Signed => "signed",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Whether a case may move from `self` to `next`. Steps may be skipped going forward (an
    /// ECPR goes from nothing to running), never backwards, and only a completed case can be
    /// signed.
    pub fn can_move_to(self, next: CaseStatus) -> bool {
        match next {
            CaseStatus::Signed => self == CaseStatus::Completed,
            _ => next > self,
        }
    }

    /// Check a lifecycle step, naming what would have been allowed.
    pub fn check_move(self, case: CaseId, next: CaseStatus) -> Result<(), ValidationError> {
        if self.can_move_to(next) {
            return Ok(());
        }
        let allowed: Vec<&str> = Self::ALL
            .into_iter()
            .filter(|s| self.can_move_to(*s))
            .map(|s| s.code())
            .collect();
        Err(ValidationError::Lifecycle {
            case,
            from: self,
            to: next,
            allowed: if allowed.is_empty() {
                "none (amendments only)".to_string()
            } else {
                allowed.join(", ")
            },
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            CaseStatus::Planned => "Planned",
            CaseStatus::Setup => "Setup",
            CaseStatus::Running => "Running",
            CaseStatus::Completed => "Completed",
            CaseStatus::Signed => "Signed",
        }
    }
}

/// What the case list shows about a case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSummary {
    pub id: CaseId,
    pub patient: Option<PatientId>,
    pub kind: CaseKind,
    pub status: CaseStatus,
    /// Human label (procedure or run name), never the patient's name in demo data.
    pub label: String,
    /// Demo and training cases are flagged at creation and can never become patient records.
    pub is_demo: bool,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_and_status_code_round_trips_and_codes_are_unique() {
        for k in CaseKind::ALL {
            assert_eq!(CaseKind::from_code(k.code()), Some(k));
        }
        for s in CaseStatus::ALL {
            assert_eq!(CaseStatus::from_code(s.code()), Some(s));
        }
        let mut codes: Vec<_> = CaseKind::ALL.iter().map(|k| k.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), CaseKind::ALL.len());
        assert_eq!(CaseKind::from_code("CPB"), None, "codes are case-sensitive");
    }

    #[test]
    fn lifecycle_moves_forward_and_signing_needs_a_completed_case() {
        use CaseStatus::*;
        assert!(Planned.can_move_to(Running));
        assert!(Running.can_move_to(Completed));
        assert!(Completed.can_move_to(Signed));
        assert!(!Running.can_move_to(Signed));
        assert!(!Running.can_move_to(Setup));
        assert!(!Signed.can_move_to(Completed));
        let e = Running.check_move(CaseId::new(), Setup).unwrap_err();
        assert!(e.to_string().contains("allowed next: completed"), "{e}");
        let e = Signed.check_move(CaseId::new(), Running).unwrap_err();
        assert!(e.to_string().contains("amendments only"), "{e}");
    }
}
