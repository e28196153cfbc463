//! Live values: the latest reading of each monitored parameter, with its source, age and
//! validity. Saturations and haematocrit are fractions inside the code and shown as percent.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub use super::parameter::{Conversion, Parameter};
use super::telemetry::DeviceTime;
use super::validation::ValidationError;
use super::{CaseId, Decimal};

/// A unit as a person reads it: UCUM spellings from devices ("Cel", "mm[Hg]") in the way the
/// screens write units ("°C", "mmHg"); anything else unchanged.
pub fn readable_unit(unit: &str) -> &str {
    match unit {
        "Cel" => "°C",
        "[degF]" => "°F",
        "mm[Hg]" => "mmHg",
        "{beats}/min" => "/min",
        "[lb_av]" => "lb",
        "mL/min/m2" => "mL/min/m²",
        "[iU]" => "IU",
        "1" => "",
        other => other,
    }
}

/// How far a value can be trusted (IEEE 11073 measurement status, simplified).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Validity {
    Valid,
    Questionable,
    Invalid,
    Artefact,
    Calibrating,
    /// Produced by a simulator: demo, training or test. Never patient data.
    Demo,
}

impl Validity {
    pub const ALL: [Validity; 6] = [
        Validity::Valid,
        Validity::Questionable,
        Validity::Invalid,
        Validity::Artefact,
        Validity::Calibrating,
        Validity::Demo,
    ];

    /// Compact storage code (never renumber).
    pub fn code(self) -> u8 {
        match self {
            Validity::Valid => 0,
            Validity::Questionable => 1,
            Validity::Invalid => 2,
            Validity::Artefact => 3,
            Validity::Calibrating => 4,
            Validity::Demo => 5,
        }
    }

    pub fn from_code(c: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.code() == c)
    }

    /// Whether a value with this validity counts in trends, nadirs and statistics.
    pub fn counts(self) -> bool {
        matches!(
            self,
            Validity::Valid | Validity::Questionable | Validity::Demo
        )
    }
}

/// One reading as it reaches the app: the value exactly as received with its unit (what the
/// record stores and sync sends), and the same value as an f64 in internal units for display and
/// advisory arithmetic only.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSample {
    /// The case the value is recorded into, decided by the record's device associations
    /// (`domain::routing`); `None`: shown on the Devices screen, recorded nowhere.
    pub case: Option<CaseId>,
    pub parameter: Parameter,
    /// The value as received, never rounded.
    pub received: Decimal,
    /// The unit it was received in (one of [`Parameter::units`]).
    pub unit: &'static str,
    /// Internal units (see [`Parameter::unit`]; fractions for saturations), for display and
    /// arithmetic. Never stored.
    pub value: f64,
    /// Receive time (UTC).
    pub at: DateTime<Utc>,
    /// The device (or person) that produced it, as shown to the user.
    pub source: String,
    pub validity: Validity,
    /// The device's own time stamp of the value, when it sent one.
    pub device_time: DeviceTime,
    /// The bytes the value was decoded from (stored with it), for device values.
    pub raw: Option<RawRef>,
}

impl LiveSample {
    /// A value received from a device in `unit`; refused when the unit is not one the
    /// parameter takes.
    pub fn received(
        parameter: Parameter,
        received: Decimal,
        unit: &'static str,
        at: DateTime<Utc>,
        source: impl Into<String>,
        validity: Validity,
    ) -> Result<Self, ValidationError> {
        let field = format!("device.{}", parameter.code());
        let value = parameter.to_internal(&field, received.to_f64(), unit)?;
        Ok(Self {
            case: None,
            parameter,
            received,
            unit,
            value,
            at,
            source: source.into(),
            validity,
            device_time: DeviceTime::Unknown,
            raw: None,
        })
    }

    /// A value Pumpside computed (or simulated) in internal units: its recorded form is the f64
    /// rounded to the parameter's display precision in the display unit (a computed figure has
    /// no received precision to keep). `None` for a non-finite value.
    pub fn computed(
        parameter: Parameter,
        value: f64,
        at: DateTime<Utc>,
        source: impl Into<String>,
        validity: Validity,
    ) -> Option<Self> {
        let received =
            Decimal::from_f64(parameter.to_display_unit(value), parameter.decimals() as u8)?;
        Some(Self {
            case: None,
            parameter,
            received,
            unit: parameter.unit(),
            value,
            at,
            source: source.into(),
            validity,
            device_time: DeviceTime::Unknown,
            raw: None,
        })
    }

    /// The value to store, exactly, in the channel unit [`Parameter::storage_unit`].
    pub fn stored(&self) -> Result<(Decimal, &'static str), ValidationError> {
        Ok((
            self.parameter.to_storage(self.received, self.unit)?,
            self.parameter.storage_unit(self.unit)?,
        ))
    }
}

/// The notification a device value came from: stored once per notification, next to the
/// samples decoded from it, so a fixed decoder can re-run.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRef {
    /// Device key (identity) or, for a device that cannot be identified, its label.
    pub device: String,
    /// GATT characteristic UUID.
    pub characteristic: String,
    pub bytes: Arc<[u8]>,
}

/// Why a sample was not taken into the live view.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SampleRejected {
    #[error("{parameter:?}: value {value} is not a finite number")]
    NotFinite { parameter: Parameter, value: f64 },
    #[error("{parameter:?}: value {value} is outside the plausible range {low}..={high}")]
    Implausible {
        parameter: Parameter,
        value: f64,
        low: f64,
        high: f64,
    },
    #[error("{parameter:?}: sample at {at} is older than the one shown ({shown})")]
    OutOfOrder {
        parameter: Parameter,
        at: DateTime<Utc>,
        shown: DateTime<Utc>,
    },
}

/// A reading ready for display.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub parameter: Parameter,
    pub text: String,
    pub unit: &'static str,
    pub source: String,
    pub age: Duration,
    pub stale: bool,
    pub validity: Validity,
}

/// The latest accepted sample of every parameter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveSnapshot {
    latest: BTreeMap<Parameter, LiveSample>,
    rejected: u64,
}

impl LiveSnapshot {
    /// Take a sample if it is finite, plausible and not older than what is shown.
    pub fn apply(&mut self, sample: LiveSample) -> Result<(), SampleRejected> {
        let p = sample.parameter;
        let v = sample.value;
        let outcome = if !v.is_finite() {
            Err(SampleRejected::NotFinite {
                parameter: p,
                value: v,
            })
        } else {
            let (low, high) = p.plausible_range();
            if v < low || v > high {
                Err(SampleRejected::Implausible {
                    parameter: p,
                    value: v,
                    low,
                    high,
                })
            } else {
                match self.latest.get(&p) {
                    Some(shown) if shown.at > sample.at => Err(SampleRejected::OutOfOrder {
                        parameter: p,
                        at: sample.at,
                        shown: shown.at,
                    }),
                    _ => Ok(()),
                }
            }
        };
        match outcome {
            Ok(()) => {
                self.latest.insert(p, sample);
                Ok(())
            }
            Err(e) => {
                self.rejected += 1;
                Err(e)
            }
        }
    }

    /// How many samples were refused so far (shown on the Devices screen).
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    pub fn latest(&self, p: Parameter) -> Option<&LiveSample> {
        self.latest.get(&p)
    }

    /// The reading of `p` at `now`; stale when older than `stale_after`.
    pub fn reading(
        &self,
        p: Parameter,
        now: DateTime<Utc>,
        stale_after: Duration,
    ) -> Option<Reading> {
        self.latest.get(&p).map(|s| {
            let age = (now - s.at).max(Duration::zero());
            Reading {
                parameter: p,
                text: p.format(s.value),
                unit: p.unit(),
                source: s.source.clone(),
                age,
                stale: age > stale_after,
                validity: s.validity,
            }
        })
    }

    /// Distinct sources that delivered a sample within `stale_after` of `now`.
    pub fn fresh_sources(&self, now: DateTime<Utc>, stale_after: Duration) -> Vec<String> {
        let mut sources: Vec<String> = self
            .latest
            .values()
            .filter(|s| now - s.at <= stale_after)
            .map(|s| s.source.clone())
            .collect();
        sources.sort();
        sources.dedup();
        sources
    }

    /// All sources ever seen, with the time of their latest sample.
    pub fn sources(&self) -> Vec<(String, DateTime<Utc>)> {
        let mut by_source: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
        for s in self.latest.values() {
            let e = by_source.entry(s.source.clone()).or_insert(s.at);
            if s.at > *e {
                *e = s.at;
            }
        }
        by_source.into_iter().collect()
    }
}

/// "12 s", "3 min", "2 h" — the age of a value at a glance.
pub fn format_age(age: Duration) -> String {
    let s = age.num_seconds().max(0);
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", s / 60)
    } else {
        format!("{} h", s / 3600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn sample(p: Parameter, v: f64, at: i64) -> LiveSample {
        let mut s = LiveSample::computed(p, 0.0, t(at), "Sim pump", Validity::Demo).unwrap();
        s.value = v;
        s
    }

    #[test]
    fn device_units_read_as_people_write_them() {
        assert_eq!(readable_unit("Cel"), "°C");
        assert_eq!(readable_unit("mm[Hg]"), "mmHg");
        assert_eq!(readable_unit("L/min"), "L/min");
    }

    #[test]
    fn fractions_display_as_percent_and_precision_follows_parameter() {
        assert_eq!(Parameter::VenousSaturation.format(0.724), "72");
        assert_eq!(Parameter::PumpFlow.format(4.6849), "4.68");
        assert_eq!(Parameter::ArterialOutletTemp.format(36.54), "36.5");
        assert_eq!(Parameter::MeanArterialPressure.format(64.6), "65");
    }

    #[test]
    fn rejects_nan_implausible_and_out_of_order_and_keeps_the_shown_value() {
        let mut snap = LiveSnapshot::default();
        snap.apply(sample(Parameter::PumpFlow, 4.5, 10)).unwrap();
        assert!(matches!(
            snap.apply(sample(Parameter::PumpFlow, f64::NAN, 11)),
            Err(SampleRejected::NotFinite { .. })
        ));
        assert!(matches!(
            snap.apply(sample(Parameter::VenousSaturation, 72.0, 11)),
            Err(SampleRejected::Implausible { .. })
        ));
        assert!(matches!(
            snap.apply(sample(Parameter::PumpFlow, 4.0, 9)),
            Err(SampleRejected::OutOfOrder { .. })
        ));
        assert_eq!(snap.latest(Parameter::PumpFlow).unwrap().value, 4.5);
        assert_eq!(snap.rejected(), 3);
    }

    #[test]
    fn staleness_and_age_follow_the_clock() {
        let mut snap = LiveSnapshot::default();
        snap.apply(sample(Parameter::PumpFlow, 4.5, 0)).unwrap();
        let limit = Duration::seconds(3);
        let fresh = snap.reading(Parameter::PumpFlow, t(3), limit).unwrap();
        assert!(!fresh.stale);
        assert_eq!(fresh.text, "4.50");
        let old = snap.reading(Parameter::PumpFlow, t(4), limit).unwrap();
        assert!(old.stale);
        assert_eq!(format_age(old.age), "4 s");
        assert_eq!(
            snap.fresh_sources(t(3), limit),
            vec!["Sim pump".to_string()]
        );
        assert!(snap.fresh_sources(t(4), limit).is_empty());
        assert!(snap.reading(Parameter::Do2i, t(4), limit).is_none());
    }

    #[test]
    fn ages_read_at_a_glance() {
        assert_eq!(format_age(Duration::seconds(59)), "59 s");
        assert_eq!(format_age(Duration::seconds(125)), "2 min");
        assert_eq!(format_age(Duration::seconds(7300)), "2 h");
        assert_eq!(format_age(Duration::seconds(-5)), "0 s");
    }
}
