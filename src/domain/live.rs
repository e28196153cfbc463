//! Live values: the latest reading of each monitored parameter, with its source, age and
//! validity. Saturations and haematocrit are fractions inside the code and shown as percent.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::telemetry::DeviceTime;
use super::validation::ValidationError;
use super::{CaseId, Decimal};

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

    /// Units a value of this parameter may arrive in, each with its conversion to the display
    /// unit ([`Parameter::unit`], listed first). A power-of-ten conversion is exact on a
    /// [`Decimal`] (a shift of its exponent); the others (kPa, °F) are not, so a value received
    /// in them is stored in the unit it arrived in and converted only for display.
    pub fn units(self) -> &'static [(&'static str, Conversion)] {
        use Conversion::{Affine, Pow10};
        const FRACTION: &[(&str, Conversion)] = &[("%", Pow10(0)), ("1", Pow10(2))];
        const FLOW: &[(&str, Conversion)] = &[("L/min", Pow10(0)), ("mL/min", Pow10(-3))];
        // 1 kPa = 1000 Pa / 133.322387415 Pa per mmHg (the conventional millimetre of mercury,
        // BIPM SI Brochure 9th ed., Table 8).
        const PRESSURE: &[(&str, Conversion)] = &[
            ("mmHg", Pow10(0)),
            ("mm[Hg]", Pow10(0)),
            (
                "kPa",
                Affine {
                    scale: 1000.0 / 133.322_387_415,
                    offset: 0.0,
                },
            ),
        ];
        // °F → °C: (F − 32) × 5/9.
        const FAHRENHEIT: Conversion = Affine {
            scale: 5.0 / 9.0,
            offset: -32.0 * 5.0 / 9.0,
        };
        const TEMP: &[(&str, Conversion)] = &[
            ("°C", Pow10(0)),
            ("Cel", Pow10(0)),
            ("[degF]", FAHRENHEIT),
            ("°F", FAHRENHEIT),
        ];
        const DO2I: &[(&str, Conversion)] = &[("mL/min/m²", Pow10(0)), ("mL/min/m2", Pow10(0))];
        const RATE: &[(&str, Conversion)] = &[("/min", Pow10(0)), ("{beats}/min", Pow10(0))];
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

    /// The conversion of `unit` to the display unit, or a unit error naming the field.
    pub fn conversion(self, field: &str, unit: &str) -> Result<Conversion, ValidationError> {
        self.units()
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, c)| *c)
            .ok_or_else(|| ValidationError::Unit {
                field: field.to_string(),
                unit: unit.to_string(),
                allowed: self
                    .units()
                    .iter()
                    .map(|(u, _)| format!("{u:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// A value in `unit` as an f64 in internal units (fractions for saturations), for display,
    /// advisories and calculations; never for storage.
    pub fn to_internal(self, field: &str, value: f64, unit: &str) -> Result<f64, ValidationError> {
        let display = self.conversion(field, unit)?.apply(value);
        Ok(if self.is_fraction() {
            display / 100.0
        } else {
            display
        })
    }

    /// The unit a channel stores values received in `unit` under: the display unit when the
    /// conversion is exact, else the received unit itself (the value is kept as received).
    pub fn storage_unit(self, unit: &str) -> Result<&'static str, ValidationError> {
        let field = format!("device.{}", self.code());
        match self.conversion(&field, unit)? {
            Conversion::Pow10(_) => Ok(self.unit()),
            Conversion::Affine { .. } => Ok(self
                .units()
                .iter()
                .find(|(u, _)| *u == unit)
                .map(|(u, _)| *u)
                .unwrap_or(self.unit())),
        }
    }

    /// A received value expressed exactly in [`Parameter::storage_unit`]: unchanged, or shifted
    /// by a power of ten (mL/min → L/min, fraction → %). Never rounded.
    pub fn to_storage(self, value: Decimal, unit: &str) -> Result<Decimal, ValidationError> {
        let field = format!("device.{}", self.code());
        match self.conversion(&field, unit)? {
            Conversion::Pow10(0) | Conversion::Affine { .. } => Ok(value),
            Conversion::Pow10(k) => value.shift(k).ok_or_else(|| {
                ValidationError::out_of_range(
                    field,
                    format!("{value} {unit}"),
                    "an exponent within ±127",
                )
            }),
        }
    }

    /// Check a value as received (in `unit`) is possible for this parameter.
    pub fn check_manual(self, value: Decimal, unit: &str) -> Result<(), ValidationError> {
        let field = format!("measurement.{}", self.code());
        self.check_plausible(&field, value, unit)
    }

    /// The value, in `unit`, lies in the parameter's plausible range (see
    /// [`Parameter::plausible_range`]); the error names the range in `unit`.
    pub fn check_plausible(
        self,
        field: &str,
        value: Decimal,
        unit: &str,
    ) -> Result<(), ValidationError> {
        let v = self.to_internal(field, value.to_f64(), unit)?;
        let (low, high) = self.plausible_range();
        if v.is_finite() && v >= low && v <= high {
            Ok(())
        } else {
            let c = self.conversion(field, unit)?;
            let f = if self.is_fraction() { 100.0 } else { 1.0 };
            Err(ValidationError::out_of_range(
                field.to_string(),
                format!("{value} {unit}"),
                format!(
                    "{} to {} {unit}",
                    trim(c.invert(low * f)),
                    trim(c.invert(high * f))
                ),
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

/// How a unit converts to its parameter's display unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Conversion {
    /// `display = value × 10^k`: exact on a decimal.
    Pow10(i8),
    /// `display = value × scale + offset`: not exact; the received value is kept as received.
    Affine { scale: f64, offset: f64 },
}

impl Conversion {
    pub fn apply(self, v: f64) -> f64 {
        match self {
            Conversion::Pow10(k) => {
                if k >= 0 {
                    v * 10f64.powi(i32::from(k))
                } else {
                    v / 10f64.powi(-i32::from(k))
                }
            }
            Conversion::Affine { scale, offset } => v * scale + offset,
        }
    }

    pub fn invert(self, display: f64) -> f64 {
        match self {
            Conversion::Pow10(k) => Conversion::Pow10(-k).apply(display),
            Conversion::Affine { scale, offset } => (display - offset) / scale,
        }
    }
}

/// A range end without float noise ("0.3", not "0.30000000000000004").
fn trim(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
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
