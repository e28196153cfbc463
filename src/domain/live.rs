//! Live values: the latest reading of each monitored parameter, with its source, age and
//! validity. Saturations and haematocrit are fractions inside the code and shown as percent.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::telemetry::DeviceTime;
use super::validation::ValidationError;
use super::Decimal;

/// A monitored parameter (live screen, device channels, values typed by hand).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Parameter {
    PumpFlow,
    MeanArterialPressure,
    ArterialOutletTemp,
    VenousInflowTemp,
    PatientTemp,
    VenousSaturation,
    Haematocrit,
    Do2i,
    SweepGas,
    Fio2,
    ArterialLinePressure,
    /// Peripheral oxygen saturation (pulse oximeter).
    Spo2,
    /// Pulse rate (pulse oximeter, blood pressure monitor).
    PulseRate,
}

impl Parameter {
    pub const ALL: [Parameter; 13] = [
        Parameter::PumpFlow,
        Parameter::MeanArterialPressure,
        Parameter::ArterialOutletTemp,
        Parameter::VenousInflowTemp,
        Parameter::PatientTemp,
        Parameter::VenousSaturation,
        Parameter::Haematocrit,
        Parameter::Do2i,
        Parameter::SweepGas,
        Parameter::Fio2,
        Parameter::ArterialLinePressure,
        Parameter::Spo2,
        Parameter::PulseRate,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Parameter::PumpFlow => "Pump flow",
            Parameter::MeanArterialPressure => "MAP",
            Parameter::ArterialOutletTemp => "Arterial outlet",
            Parameter::VenousInflowTemp => "Venous inflow",
            Parameter::PatientTemp => "Nasopharyngeal",
            Parameter::VenousSaturation => "SvO₂",
            Parameter::Haematocrit => "Hct",
            Parameter::Do2i => "DO₂i",
            Parameter::SweepGas => "Sweep gas",
            Parameter::Fio2 => "FiO₂",
            Parameter::ArterialLinePressure => "Arterial line",
            Parameter::Spo2 => "SpO₂",
            Parameter::PulseRate => "Pulse rate",
        }
    }

    /// Unit as displayed (UCUM-compatible spelling where one exists).
    pub fn unit(self) -> &'static str {
        match self {
            Parameter::PumpFlow | Parameter::SweepGas => "L/min",
            Parameter::MeanArterialPressure | Parameter::ArterialLinePressure => "mmHg",
            Parameter::ArterialOutletTemp
            | Parameter::VenousInflowTemp
            | Parameter::PatientTemp => "°C",
            Parameter::VenousSaturation
            | Parameter::Haematocrit
            | Parameter::Fio2
            | Parameter::Spo2 => "%",
            Parameter::Do2i => "mL/min/m²",
            Parameter::PulseRate => "/min",
        }
    }

    /// Fractions are stored 0–1 and displayed as percent.
    fn is_fraction(self) -> bool {
        matches!(
            self,
            Parameter::VenousSaturation
                | Parameter::Haematocrit
                | Parameter::Fio2
                | Parameter::Spo2
        )
    }

    /// A value in internal units expressed in the display unit ([`Parameter::unit`]).
    pub fn to_display_unit(self, value: f64) -> f64 {
        if self.is_fraction() {
            value * 100.0
        } else {
            value
        }
    }

    /// Decimal places shown (and recorded for simulated values).
    pub fn decimals(self) -> usize {
        match self {
            Parameter::PumpFlow => 2,
            Parameter::ArterialOutletTemp
            | Parameter::VenousInflowTemp
            | Parameter::PatientTemp
            | Parameter::SweepGas => 1,
            _ => 0,
        }
    }

    /// The plausible physical range (in internal units) a value must fall in to be shown at
    /// all; anything outside is a device or typing fault, not physiology.
    pub fn plausible_range(self) -> (f64, f64) {
        match self {
            Parameter::PumpFlow => (0.0, 10.0),
            Parameter::MeanArterialPressure => (0.0, 300.0),
            Parameter::ArterialLinePressure => (-100.0, 600.0),
            Parameter::ArterialOutletTemp
            | Parameter::VenousInflowTemp
            | Parameter::PatientTemp => (4.0, 45.0),
            Parameter::VenousSaturation
            | Parameter::Haematocrit
            | Parameter::Fio2
            | Parameter::Spo2 => (0.0, 1.0),
            Parameter::Do2i => (0.0, 2000.0),
            Parameter::SweepGas => (0.0, 15.0),
            Parameter::PulseRate => (0.0, 350.0),
        }
    }

    /// Stable code for storage and channel names.
    pub fn code(self) -> &'static str {
        match self {
            Parameter::PumpFlow => "pump-flow",
            Parameter::MeanArterialPressure => "mean-arterial-pressure",
            Parameter::ArterialOutletTemp => "arterial-outlet-temp",
            Parameter::VenousInflowTemp => "venous-inflow-temp",
            Parameter::PatientTemp => "patient-temp",
            Parameter::VenousSaturation => "venous-saturation",
            Parameter::Haematocrit => "haematocrit",
            Parameter::Do2i => "do2i",
            Parameter::SweepGas => "sweep-gas",
            Parameter::Fio2 => "fio2",
            Parameter::ArterialLinePressure => "arterial-line-pressure",
            Parameter::Spo2 => "spo2",
            Parameter::PulseRate => "pulse-rate",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == code)
    }

    /// Units a value of this parameter may arrive in, with the factor to internal units.
    /// Fractions arrive as `%` or as `1` (a plain fraction); UCUM spellings are accepted.
    pub fn accepted_units(self) -> &'static [(&'static str, f64)] {
        const FRACTION: &[(&str, f64)] = &[("%", 0.01), ("1", 1.0)];
        const FLOW: &[(&str, f64)] = &[("L/min", 1.0)];
        const PRESSURE: &[(&str, f64)] = &[("mmHg", 1.0), ("mm[Hg]", 1.0)];
        const TEMP: &[(&str, f64)] = &[("°C", 1.0), ("Cel", 1.0)];
        const DO2I: &[(&str, f64)] = &[("mL/min/m²", 1.0), ("mL/min/m2", 1.0)];
        const RATE: &[(&str, f64)] = &[("/min", 1.0), ("{beats}/min", 1.0)];
        match self {
            Parameter::VenousSaturation
            | Parameter::Haematocrit
            | Parameter::Fio2
            | Parameter::Spo2 => FRACTION,
            Parameter::PulseRate => RATE,
            Parameter::PumpFlow | Parameter::SweepGas => FLOW,
            Parameter::MeanArterialPressure | Parameter::ArterialLinePressure => PRESSURE,
            Parameter::ArterialOutletTemp
            | Parameter::VenousInflowTemp
            | Parameter::PatientTemp => TEMP,
            Parameter::Do2i => DO2I,
        }
    }

    /// The factor from `unit` to internal units, or a unit error naming the field.
    pub fn unit_factor(self, field: &str, unit: &str) -> Result<f64, ValidationError> {
        self.accepted_units()
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, f)| *f)
            .ok_or_else(|| ValidationError::Unit {
                field: field.to_string(),
                unit: unit.to_string(),
                allowed: self
                    .accepted_units()
                    .iter()
                    .map(|(u, _)| format!("{u:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Check a value as received (in `unit`) is possible for this parameter.
    pub fn check_manual(self, value: Decimal, unit: &str) -> Result<(), ValidationError> {
        let field = format!("measurement.{}", self.code());
        let factor = self.unit_factor(&field, unit)?;
        let (low, high) = self.plausible_range();
        let v = value.to_f64() * factor;
        if v.is_finite() && v >= low && v <= high {
            Ok(())
        } else {
            Err(ValidationError::out_of_range(
                field,
                format!("{value} {unit}"),
                format!("{} to {} {unit}", low / factor, high / factor),
            ))
        }
    }

    /// Display text for a value in internal units, without the unit.
    pub fn format(self, value: f64) -> String {
        let shown = if self.is_fraction() {
            value * 100.0
        } else {
            value
        };
        format!("{shown:.prec$}", prec = self.decimals())
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

/// One reading as it reaches the app.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSample {
    pub parameter: Parameter,
    /// Internal units (see [`Parameter::unit`]; fractions for saturations).
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
        LiveSample {
            parameter: p,
            value: v,
            at: t(at),
            source: "Sim pump".into(),
            validity: Validity::Demo,
            device_time: DeviceTime::Unknown,
            raw: None,
        }
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
