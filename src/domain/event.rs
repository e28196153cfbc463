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
    /// ECMO: the pump stopped (hand-crank, emergency); ended by `PumpRestart`.
    PumpStop,
    PumpRestart,
    /// ECMO: a trial off support (sweep off or flow weaned, clamped); ended by `TrialOffEnd`.
    TrialOffStart,
    TrialOffEnd,
    /// ECMO: clots seen in the circuit.
    ClotsSeen,
    /// ECMO: bleeding (cannula site, surgical, other).
    Bleeding,
    /// ECMO: the cannulae are out: support has ended.
    Decannulation,
}

impl EventKind {
    pub const ALL: [EventKind; 15] = [
        EventKind::BypassOn,
        EventKind::BypassOff,
        EventKind::CrossClampOn,
        EventKind::CrossClampOff,
        EventKind::CircArrestStart,
        EventKind::CircArrestEnd,
        EventKind::CoolingStart,
        EventKind::RewarmingStart,
        EventKind::PumpStop,
        EventKind::PumpRestart,
        EventKind::TrialOffStart,
        EventKind::TrialOffEnd,
        EventKind::ClotsSeen,
        EventKind::Bleeding,
        EventKind::Decannulation,
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
            EventKind::PumpStop => "pump_stop",
            EventKind::PumpRestart => "pump_restart",
            EventKind::TrialOffStart => "trial_off_start",
            EventKind::TrialOffEnd => "trial_off_end",
            EventKind::ClotsSeen => "clots_seen",
            EventKind::Bleeding => "bleeding",
            EventKind::Decannulation => "decannulation",
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
            EventKind::PumpStop => "Pump stopped",
            EventKind::PumpRestart => "Pump restarted",
            EventKind::TrialOffStart => "Trial off start",
            EventKind::TrialOffEnd => "Trial off end",
            EventKind::ClotsSeen => "Clots seen in circuit",
            EventKind::Bleeding => "Bleeding",
            EventKind::Decannulation => "Decannulation",
        }
    }

    /// What a button that records this event says (an order, where the label is a fact).
    pub fn action_for(self, kind: super::CaseKind) -> &'static str {
        use super::CaseKind::{EcmoVa, EcmoVv, Ecpr};
        match (self, kind) {
            (EventKind::BypassOn, EcmoVa | EcmoVv | Ecpr) => "Start support",
            (EventKind::BypassOff, EcmoVa | EcmoVv | Ecpr) => "End support",
            (EventKind::PumpStop, _) => "Pump stop",
            (EventKind::PumpRestart, _) => "Pump restart",
            (EventKind::TrialOffStart, _) => "Start trial off",
            (EventKind::TrialOffEnd, _) => "End trial off",
            _ => self.label(),
        }
    }

    /// The label in the vocabulary of the kind of support: on ECMO the bypass events are the
    /// start and end of support.
    pub fn label_for(self, kind: super::CaseKind) -> &'static str {
        use super::CaseKind::{EcmoVa, EcmoVv, Ecpr};
        match (self, kind) {
            (EventKind::BypassOn, EcmoVa | EcmoVv | Ecpr) => "Support started",
            (EventKind::BypassOff, EcmoVa | EcmoVv | Ecpr) => "Support ended",
            _ => self.label(),
        }
    }
}
