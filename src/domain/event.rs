//! Point events on a case timeline that carry no quantity: the moments clocks are built from.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    BypassOn,
    BypassOff,
    CrossClampOn,
    CrossClampOff,
    CircArrestStart,
    CircArrestEnd,
    CoolingStart,
    RewarmingStart,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::BypassOn,
        EventKind::BypassOff,
        EventKind::CrossClampOn,
        EventKind::CrossClampOff,
        EventKind::CircArrestStart,
        EventKind::CircArrestEnd,
        EventKind::CoolingStart,
        EventKind::RewarmingStart,
    ];

    /// Stable storage code.
    pub fn code(self) -> &'static str {
        match self {
            EventKind::BypassOn => "bypass_on",
            EventKind::BypassOff => "bypass_off",
            EventKind::CrossClampOn => "cross_clamp_on",
            EventKind::CrossClampOff => "cross_clamp_off",
            EventKind::CircArrestStart => "circ_arrest_start",
            EventKind::CircArrestEnd => "circ_arrest_end",
            EventKind::CoolingStart => "cooling_start",
            EventKind::RewarmingStart => "rewarming_start",
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
            EventKind::CircArrestStart => "Circulatory arrest start",
            EventKind::CircArrestEnd => "Circulatory arrest end",
            EventKind::CoolingStart => "Cooling start",
            EventKind::RewarmingStart => "Rewarming start",
        }
    }
}
