//! Advisories for out-of-band values, with a delay and hysteresis so that a single artefact or a
//! value hovering on the limit does not make noise (clinical.md section 1: "alarms are noise").
//! Pumpside only advises: the heart-lung machine keeps the primary alarms.
//!
//! A rule watches one parameter against a band from the protocol. A value outside the band starts
//! a *pending* period; only if every value for `delay` stays outside does the advisory *raise*.
//! Once raised it *clears* only when a value is back inside the band by the hysteresis margin.
//! Acknowledging keeps it listed (marked seen); snoozing hides it until a time. Every change is
//! returned as an [`AdvisoryChange`] so the caller can log it on the case timeline.
//!
//! Pure: time comes in as arguments, so the tests drive it with fixed clocks.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use serde::{Deserialize, Serialize};

use super::decimal::Decimal;
use super::protocol::Protocol;
use super::{EntryPayload, Parameter};

/// One watched band.
#[derive(Debug, Clone, PartialEq)]
pub struct AdvisoryRule {
    /// Stable id, e.g. "map-low".
    pub id: String,
    pub parameter: Parameter,
    /// In internal units (fractions for saturations). `None`: no limit on that side.
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// How far back inside the band a value must be to clear (internal units).
    pub hysteresis: f64,
    /// How long a value must stay outside before the advisory raises.
    pub delay: Duration,
    /// What the advisory says, e.g. "MAP below 50 mmHg".
    pub message: String,
}

impl AdvisoryRule {
    fn outside(&self, v: f64) -> bool {
        self.low.is_some_and(|l| v < l) || self.high.is_some_and(|h| v > h)
    }

    fn clearly_inside(&self, v: f64) -> bool {
        self.low.is_none_or(|l| v >= l + self.hysteresis)
            && self.high.is_none_or(|h| v <= h - self.hysteresis)
    }
}

/// The rules the protocol implies: MAP band, arterial outlet maximum, DO2i threshold.
pub fn rules_from_protocol(p: &Protocol) -> Vec<AdvisoryRule> {
    let v = &p.advisories;
    let secs = |s: f64| Duration::milliseconds((s * 1000.0).round() as i64);
    let delay = secs(v.map_delay_s);
    vec![
        AdvisoryRule {
            id: "map-low".into(),
            parameter: Parameter::MeanArterialPressure,
            low: Some(p.map.low),
            high: None,
            hysteresis: v.map_hysteresis,
            delay,
            message: format!("MAP below {} mmHg", p.map.low),
        },
        AdvisoryRule {
            id: "map-high".into(),
            parameter: Parameter::MeanArterialPressure,
            low: None,
            high: Some(p.map.high),
            hysteresis: v.map_hysteresis,
            delay,
            message: format!("MAP above {} mmHg", p.map.high),
        },
        AdvisoryRule {
            id: "arterial-outlet-high".into(),
            parameter: Parameter::ArterialOutletTemp,
            low: None,
            high: Some(p.temperature.arterial_outlet_max_c),
            hysteresis: v.arterial_outlet_hysteresis,
            delay: secs(v.arterial_outlet_delay_s),
            message: format!(
                "Arterial outlet above {} °C",
                p.temperature.arterial_outlet_max_c
            ),
        },
        AdvisoryRule {
            id: "do2i-low".into(),
            parameter: Parameter::Do2i,
            low: Some(p.gdp.do2i_threshold),
            high: None,
            hysteresis: v.do2i_hysteresis,
            delay: secs(v.do2i_delay_s),
            message: format!("DO₂i below {} mL/min/m²", p.gdp.do2i_threshold),
        },
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Normal,
    Pending {
        since: DateTime<Utc>,
    },
    Raised {
        since: DateTime<Utc>,
        acknowledged: bool,
        snoozed_until: Option<DateTime<Utc>>,
    },
}

/// Something to log on the case timeline.
#[derive(Debug, Clone, PartialEq)]
pub enum AdvisoryChange {
    Raised {
        id: String,
        at: DateTime<Utc>,
        value: f64,
    },
    Cleared {
        id: String,
        at: DateTime<Utc>,
        /// `None` when bypass ended with the advisory raised.
        value: Option<f64>,
    },
    Acknowledged {
        id: String,
        at: DateTime<Utc>,
    },
    Snoozed {
        id: String,
        until: DateTime<Utc>,
    },
}

/// What happened to an advisory, as logged on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdvisoryAction {
    Raised,
    Cleared,
    Acknowledged,
    Snoozed,
}

impl AdvisoryAction {
    pub fn label(self) -> &'static str {
        match self {
            AdvisoryAction::Raised => "raised",
            AdvisoryAction::Cleared => "cleared",
            AdvisoryAction::Acknowledged => "acknowledged",
            AdvisoryAction::Snoozed => "snoozed",
        }
    }
}

impl AdvisoryChange {
    pub fn rule(&self) -> &str {
        match self {
            AdvisoryChange::Raised { id, .. }
            | AdvisoryChange::Cleared { id, .. }
            | AdvisoryChange::Acknowledged { id, .. }
            | AdvisoryChange::Snoozed { id, .. } => id,
        }
    }

    /// The timeline entry for this change; `message` is the rule's text.
    pub fn to_payload(&self, message: &str) -> EntryPayload {
        let (action, value, until) = match self {
            AdvisoryChange::Raised { value, .. } => (AdvisoryAction::Raised, Some(*value), None),
            AdvisoryChange::Cleared { value, .. } => (AdvisoryAction::Cleared, *value, None),
            AdvisoryChange::Acknowledged { .. } => (AdvisoryAction::Acknowledged, None, None),
            AdvisoryChange::Snoozed { until, .. } => (AdvisoryAction::Snoozed, None, Some(*until)),
        };
        EntryPayload::Advisory {
            rule: self.rule().to_string(),
            action,
            message: message.to_string(),
            value: value.and_then(|v| Decimal::from_f64(v, 3)),
            until,
        }
    }
}

/// A raised advisory as the screen shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAdvisory {
    pub id: String,
    pub message: String,
    pub since: DateTime<Utc>,
    pub acknowledged: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Advisories {
    rules: Vec<AdvisoryRule>,
    states: BTreeMap<String, State>,
}

impl Advisories {
    pub fn new(rules: Vec<AdvisoryRule>) -> Self {
        let states = rules
            .iter()
            .map(|r| (r.id.clone(), State::Normal))
            .collect();
        Self { rules, states }
    }

    /// Feed a value of `parameter` received at `at` (values must come in time order). Not
    /// finite values are ignored: they are refused before they get here.
    pub fn observe(
        &mut self,
        parameter: Parameter,
        value: f64,
        at: DateTime<Utc>,
    ) -> Vec<AdvisoryChange> {
        let mut out = Vec::new();
        if !value.is_finite() {
            return out;
        }
        for rule in self.rules.iter().filter(|r| r.parameter == parameter) {
            let Some(state) = self.states.get_mut(&rule.id) else {
                continue;
            };
            *state = match *state {
                State::Normal if rule.outside(value) => {
                    if rule.delay <= Duration::zero() {
                        out.push(AdvisoryChange::Raised {
                            id: rule.id.clone(),
                            at,
                            value,
                        });
                        State::Raised {
                            since: at,
                            acknowledged: false,
                            snoozed_until: None,
                        }
                    } else {
                        State::Pending { since: at }
                    }
                }
                State::Normal => State::Normal,
                State::Pending { since } if rule.outside(value) => {
                    if at - since >= rule.delay {
                        out.push(AdvisoryChange::Raised {
                            id: rule.id.clone(),
                            at,
                            value,
                        });
                        State::Raised {
                            since: at,
                            acknowledged: false,
                            snoozed_until: None,
                        }
                    } else {
                        State::Pending { since }
                    }
                }
                // Back inside before the delay ran out: nothing happened.
                State::Pending { .. } => State::Normal,
                raised @ State::Raised { .. } => {
                    if rule.clearly_inside(value) {
                        out.push(AdvisoryChange::Cleared {
                            id: rule.id.clone(),
                            at,
                            value: Some(value),
                        });
                        State::Normal
                    } else {
                        raised
                    }
                }
            };
        }
        out
    }

    pub fn acknowledge(&mut self, id: &str, at: DateTime<Utc>) -> Option<AdvisoryChange> {
        match self.states.get_mut(id) {
            Some(State::Raised { acknowledged, .. }) if !*acknowledged => {
                *acknowledged = true;
                Some(AdvisoryChange::Acknowledged {
                    id: id.to_string(),
                    at,
                })
            }
            _ => None,
        }
    }

    pub fn snooze(&mut self, id: &str, until: DateTime<Utc>) -> Option<AdvisoryChange> {
        match self.states.get_mut(id) {
            Some(State::Raised { snoozed_until, .. }) => {
                *snoozed_until = Some(until);
                Some(AdvisoryChange::Snoozed {
                    id: id.to_string(),
                    until,
                })
            }
            _ => None,
        }
    }

    /// The rule's message.
    pub fn message(&self, id: &str) -> Option<&str> {
        self.rules
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.message.as_str())
    }

    /// True when nothing is pending or raised (nothing for [`Advisories::reset`] to do).
    pub fn is_quiet(&self) -> bool {
        self.states.values().all(|s| matches!(s, State::Normal))
    }

    /// Bypass ended: nothing is watched until the next bypass; raised advisories clear (the
    /// returned changes say so, with the last value seen).
    pub fn reset(&mut self, at: DateTime<Utc>) -> Vec<AdvisoryChange> {
        let mut out = Vec::new();
        for (id, state) in self.states.iter_mut() {
            if matches!(state, State::Raised { .. }) {
                out.push(AdvisoryChange::Cleared {
                    id: id.clone(),
                    at,
                    value: None,
                });
            }
            *state = State::Normal;
        }
        out
    }

    /// Raised advisories not snoozed at `now`, oldest first.
    pub fn active(&self, now: DateTime<Utc>) -> Vec<ActiveAdvisory> {
        let mut out: Vec<ActiveAdvisory> = self
            .rules
            .iter()
            .filter_map(|r| match self.states.get(&r.id) {
                Some(State::Raised {
                    since,
                    acknowledged,
                    snoozed_until,
                }) if snoozed_until.is_none_or(|u| now >= u) => Some(ActiveAdvisory {
                    id: r.id.clone(),
                    message: r.message.clone(),
                    since: *since,
                    acknowledged: *acknowledged,
                }),
                _ => None,
            })
            .collect();
        out.sort_by_key(|a| a.since);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap() + Duration::seconds(s)
    }

    fn engine() -> Advisories {
        Advisories::new(rules_from_protocol(&Protocol::defaults().unwrap()))
    }

    fn map(a: &mut Advisories, v: f64, s: i64) -> Vec<AdvisoryChange> {
        a.observe(Parameter::MeanArterialPressure, v, t(s))
    }

    #[test]
    fn a_short_dip_below_the_band_raises_nothing() {
        let mut a = engine();
        assert!(map(&mut a, 45.0, 0).is_empty());
        assert!(map(&mut a, 44.0, 20).is_empty());
        assert!(
            map(&mut a, 55.0, 29).is_empty(),
            "back inside within the 30 s delay"
        );
        assert!(
            map(&mut a, 45.0, 40).is_empty(),
            "a new dip starts a new delay"
        );
        assert!(a.active(t(60)).is_empty());
    }

    #[test]
    fn a_sustained_dip_raises_once_and_clears_only_past_the_hysteresis() {
        let mut a = engine();
        map(&mut a, 45.0, 0);
        let raised = map(&mut a, 46.0, 30);
        assert_eq!(
            raised,
            vec![AdvisoryChange::Raised {
                id: "map-low".into(),
                at: t(30),
                value: 46.0
            }]
        );
        assert!(map(&mut a, 44.0, 31).is_empty(), "raised once");
        assert_eq!(a.active(t(31))[0].message, "MAP below 50 mmHg");
        // Hovering just above the limit (within 3 mmHg) keeps it raised.
        assert!(map(&mut a, 51.0, 40).is_empty());
        assert!(map(&mut a, 52.9, 41).is_empty());
        assert_eq!(a.active(t(41)).len(), 1);
        let cleared = map(&mut a, 53.0, 42);
        assert!(matches!(&cleared[..], [AdvisoryChange::Cleared { id, .. }] if id == "map-low"));
        assert!(a.active(t(42)).is_empty());
    }

    #[test]
    fn acknowledge_and_snooze_are_changes_to_log() {
        let mut a = engine();
        map(&mut a, 90.0, 0);
        map(&mut a, 91.0, 30);
        assert_eq!(
            a.acknowledge("map-high", t(35)),
            Some(AdvisoryChange::Acknowledged {
                id: "map-high".into(),
                at: t(35)
            })
        );
        assert_eq!(a.acknowledge("map-high", t(36)), None, "once");
        assert!(a.active(t(36))[0].acknowledged);
        assert!(a.snooze("map-high", t(335)).is_some());
        assert!(a.active(t(100)).is_empty(), "snoozed");
        assert_eq!(a.active(t(335)).len(), 1, "back after the snooze");
        assert_eq!(a.snooze("map-low", t(400)), None, "not raised");
    }

    #[test]
    fn rules_follow_the_protocol_and_ignore_other_parameters_and_nan() {
        let mut p = Protocol::defaults().unwrap();
        p.map.low = 60.0;
        let mut a = Advisories::new(rules_from_protocol(&p));
        a.observe(Parameter::MeanArterialPressure, 55.0, t(0));
        a.observe(Parameter::MeanArterialPressure, f64::NAN, t(10));
        let r = a.observe(Parameter::MeanArterialPressure, 55.0, t(30));
        assert!(matches!(&r[..], [AdvisoryChange::Raised { .. }]), "{r:?}");
        assert!(a.observe(Parameter::PumpFlow, 0.0, t(31)).is_empty());
        let mut b = engine();
        b.observe(Parameter::ArterialOutletTemp, 37.4, t(0));
        let r = b.observe(Parameter::ArterialOutletTemp, 37.3, t(10));
        assert!(
            matches!(&r[..], [AdvisoryChange::Raised { id, .. }] if id == "arterial-outlet-high")
        );
    }
}
