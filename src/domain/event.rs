//! Timeline events the shell can record today. The clinical-record issue widens this into the
//! full entry model (drugs, fluids, blood gases, corrections).

use chrono::{DateTime, Utc};

use super::{CaseId, EventId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    BypassOn,
    BypassOff,
    CrossClampOn,
    CrossClampOff,
}

impl EventKind {
    pub const ALL: [EventKind; 4] = [
        EventKind::BypassOn,
        EventKind::BypassOff,
        EventKind::CrossClampOn,
        EventKind::CrossClampOff,
    ];

    /// Stable storage code.
    pub fn code(self) -> &'static str {
        match self {
            EventKind::BypassOn => "bypass_on",
            EventKind::BypassOff => "bypass_off",
            EventKind::CrossClampOn => "cross_clamp_on",
            EventKind::CrossClampOff => "cross_clamp_off",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            EventKind::BypassOn => "On bypass",
            EventKind::BypassOff => "Off bypass",
            EventKind::CrossClampOn => "Cross-clamp on",
            EventKind::CrossClampOff => "Cross-clamp off",
        }
    }
}

/// One recorded event: who, when, on which device.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEvent {
    pub id: EventId,
    pub case_id: CaseId,
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    pub recorded_by: String,
    pub recorded_on: String,
}
