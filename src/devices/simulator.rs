//! A simulated CPB case for demo, training and tests: a pump console, a temperature monitor and
//! an in-line blood monitor, each producing plausible, slowly drifting values once a second.
//! Every sample is marked [`Validity::Demo`] so it can never pass for patient data.

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::domain::{LiveSample, Parameter, Validity};

/// What the simulator plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// A CPB case: pre-bypass, going on, cooling to 32 °C, cross-clamp with two cardioplegia
    /// doses, rewarming, weaning, off bypass (about 70 minutes).
    Cpb,
    /// A VA-ECMO run whose oxygenator slowly clots: the pressure drop across it doubles every
    /// [`CpbSimulator::CLOT_DOUBLING_H`] hours at steady flow, the drainage pressure and the
    /// pump speed steady (days).
    EcmoVa,
    /// A VV-ECMO run whose recirculation climbs from 10 % to 45 % over 12 hours: the drainage
    /// (pre-oxygenator) saturation rises towards the return blood's while the patient's
    /// venous saturation stays (days).
    EcmoVv,
}

/// Piecewise-linear through `(t, value)` keyframes, flat before the first and after the last.
fn keyframes(t: f64, k: &[(f64, f64)]) -> f64 {
    let Some(&(t0, v0)) = k.first() else {
        return f64::NAN;
    };
    if t <= t0 {
        return v0;
    }
    for w in k.windows(2) {
        let ((ta, va), (tb, vb)) = (w[0], w[1]);
        if t <= tb {
            return if tb > ta {
                va + (vb - va) * (t - ta) / (tb - ta)
            } else {
                vb
            };
        }
    }
    k.last().map(|&(_, v)| v).unwrap_or(f64::NAN)
}

/// Deterministic: the same elapsed second gives the same values, so tests can assert on them.
#[derive(Debug, Clone)]
pub struct CpbSimulator {
    started: DateTime<Utc>,
    scenario: Scenario,
}

impl CpbSimulator {
    /// The CPB timeline's milestones, seconds from the start of the simulated case.
    pub const ON_BYPASS: f64 = 300.0;
    pub const FULL_FLOW: f64 = 420.0;
    pub const CROSS_CLAMP: f64 = 720.0;
    pub const CARDIOPLEGIA: [(f64, f64); 2] = [(720.0, 840.0), (2520.0, 2580.0)];
    pub const REWARM: f64 = 2700.0;
    pub const CLAMP_OFF: f64 = 3300.0;
    pub const WEAN: f64 = 3600.0;
    pub const OFF_BYPASS: f64 = 4020.0;
    /// The demo joins its CPB case ten minutes in: on bypass, cooling.
    pub const DEMO_JOIN: f64 = 600.0;

    /// A CPB case that started at `started`.
    pub fn new(started: DateTime<Utc>) -> Self {
        Self {
            started,
            scenario: Scenario::Cpb,
        }
    }

    /// An ECMO run (`Scenario::EcmoVa` or `Scenario::EcmoVv`) that started at `started`.
    pub fn ecmo(started: DateTime<Utc>, scenario: Scenario) -> Self {
        Self { started, scenario }
    }

    /// The clotting oxygenator's ΔP doubling time, hours.
    pub const CLOT_DOUBLING_H: f64 = 10.0;
    /// The clotting oxygenator's ΔP at the start of the run, mmHg.
    pub const CLOT_DP0: f64 = 18.0;
    /// The VV run's patient venous saturation (fraction) and return-blood saturation.
    pub const VV_SVO2: f64 = 0.62;
    pub const VV_POST_SAT: f64 = 1.0;

    /// The VV run's recirculation fraction `t` seconds in.
    pub fn vv_recirculation(t: f64) -> f64 {
        keyframes(t, &[(0.0, 0.10), (12.0 * 3600.0, 0.45)])
    }

    pub fn scenario(&self) -> Scenario {
        self.scenario
    }

    /// Seconds into the simulated case at `now`.
    pub fn elapsed(&self, now: DateTime<Utc>) -> f64 {
        (now - self.started).num_milliseconds() as f64 / 1000.0
    }

    /// The phase of the CPB timeline at `t` (ECMO: always "ECMO run").
    pub fn phase(&self, t: f64) -> &'static str {
        if self.scenario != Scenario::Cpb {
            return "ECMO run";
        }
        match t {
            t if t < Self::ON_BYPASS => "pre-bypass",
            t if t < Self::FULL_FLOW => "going on bypass",
            t if t < Self::CROSS_CLAMP => "cooling",
            t if t < Self::REWARM => "cross-clamp, cardioplegia",
            t if t < Self::WEAN => "rewarming",
            t if t < Self::OFF_BYPASS => "weaning",
            _ => "off bypass",
        }
    }

    /// Whether a cardioplegia dose is running at `t`.
    pub fn cardioplegia_running(&self, t: f64) -> bool {
        self.scenario == Scenario::Cpb && Self::CARDIOPLEGIA.iter().any(|(a, b)| t >= *a && t < *b)
    }

    /// DO2i = 10 × CaO2 × flow index (clinical.md 2.5) with the demo's SaO2 0.99, PaO2
    /// 250 mmHg, k 1.34, c 0.003, BSA 1.956 m², and Hb (g/dL) ≈ Hct% / 3.
    fn do2i(&self, t: f64) -> f64 {
        let hb = self.value(Parameter::Haematocrit, t) * 100.0 / 3.0;
        let cao2 = 1.34 * hb * 0.99 + 0.003 * 250.0;
        10.0 * cao2 * self.value(Parameter::PumpFlow, t) / 1.956
    }

    /// The value of `p` `t` seconds into the simulated case (internal units). NaN where the
    /// device has no value (a pulse oximeter on non-pulsatile flow).
    pub fn value(&self, p: Parameter, t: f64) -> f64 {
        // Slow physiological drift plus a small, repeatable jitter.
        let wave = |period: f64, phase: f64| (t / period * std::f64::consts::TAU + phase).sin();
        let jitter = |seed: f64| ((t * 12.9898 + seed).sin() * 43_758.545).fract() - 0.5;
        if self.scenario != Scenario::Cpb {
            let vv = self.scenario == Scenario::EcmoVv;
            let flow = (if vv { 4.5 } else { 4.0 }) + 0.08 * wave(3600.0, 0.0) + 0.02 * jitter(1.0);
            let post =
                (if vv { 190.0 } else { 230.0 }) + 6.0 * wave(5400.0, 0.5) + 2.0 * jitter(10.0);
            let dp = if vv {
                15.0 + 0.8 * jitter(11.0)
            } else {
                (Self::CLOT_DP0 * (t.max(0.0) / 3600.0 / Self::CLOT_DOUBLING_H).exp2()).min(150.0)
                    + 0.8 * jitter(11.0)
            };
            let svo2 = Self::VV_SVO2 + 0.01 * wave(10_800.0, 2.0);
            let pre_sat = if vv {
                svo2 + Self::vv_recirculation(t) * (Self::VV_POST_SAT - svo2)
            } else {
                0.68 + 0.02 * wave(10_800.0, 2.0)
            };
            return match p {
                Parameter::PumpFlow => flow,
                Parameter::PumpSpeed => (if vv { 3600.0 } else { 3300.0 }) + 20.0 * jitter(12.0),
                Parameter::DrainagePressure => -55.0 + 4.0 * wave(1800.0, 0.3) + jitter(13.0),
                Parameter::PostOxygenatorPressure => post,
                Parameter::PreOxygenatorPressure => post + dp,
                Parameter::MeanArterialPressure => {
                    72.0 + 5.0 * wave(7200.0, 1.0) + 1.5 * jitter(2.0)
                }
                Parameter::SweepGas => {
                    if vv {
                        5.0
                    } else {
                        3.0
                    }
                }
                Parameter::Fio2 => 0.60,
                Parameter::HeaterTemp => 37.0 + 0.05 * jitter(4.0),
                Parameter::PatientTemp => 36.9 + 0.1 * wave(5400.0, 0.4) + 0.05 * jitter(6.0),
                Parameter::PreOxygenatorSaturation => pre_sat,
                Parameter::PostOxygenatorSaturation => Self::VV_POST_SAT - 0.01,
                Parameter::VenousSaturation => svo2,
                Parameter::Haematocrit => 0.30 + 0.01 * wave(43_200.0, 0.0),
                Parameter::Spo2 => 0.95 + 0.01 * wave(3600.0, 0.7) + 0.003 * jitter(8.0),
                Parameter::PulseRate => 90.0 + 5.0 * wave(1800.0, 0.2) + 1.0 * jitter(9.0),
                Parameter::DistalPerfusionFlow if !vv => 0.15 + 0.01 * jitter(14.0),
                Parameter::LimbNirs if !vv => 0.64 + 0.01 * jitter(15.0),
                _ => f64::NAN,
            };
        }
        let on_bypass = (Self::ON_BYPASS..Self::OFF_BYPASS).contains(&t);
        let flow = keyframes(
            t,
            &[
                (0.0, 0.0),
                (Self::ON_BYPASS, 0.0),
                (Self::FULL_FLOW, 4.7),
                (Self::WEAN, 4.7),
                (Self::OFF_BYPASS, 0.0),
            ],
        );
        match p {
            Parameter::PumpFlow => {
                if flow > 0.0 {
                    (flow + 0.10 * wave(240.0, 0.0) + 0.03 * jitter(1.0)).max(0.0)
                } else {
                    0.0
                }
            }
            Parameter::MeanArterialPressure => {
                keyframes(
                    t,
                    &[
                        (0.0, 75.0),
                        (Self::ON_BYPASS, 75.0),
                        (Self::FULL_FLOW, 55.0),
                        (900.0, 65.0),
                        (Self::WEAN, 68.0),
                        (Self::OFF_BYPASS, 72.0),
                    ],
                ) + 3.0 * wave(300.0, 1.0)
                    + 1.5 * jitter(2.0)
            }
            Parameter::ArterialLinePressure => {
                if flow > 0.0 {
                    40.0 * flow + 6.0 * wave(300.0, 1.2) + 3.0 * jitter(3.0)
                } else {
                    0.0
                }
            }
            Parameter::SweepGas => keyframes(
                t,
                &[
                    (0.0, 0.0),
                    (Self::ON_BYPASS, 0.0),
                    (Self::FULL_FLOW, 2.5),
                    (1500.0, 2.0),
                    (Self::REWARM, 2.0),
                    (Self::WEAN, 3.0),
                    (Self::OFF_BYPASS, 0.0),
                ],
            ),
            Parameter::Fio2 => {
                if on_bypass {
                    0.60
                } else {
                    0.21
                }
            }
            Parameter::ArterialOutletTemp => {
                keyframes(
                    t,
                    &[
                        (0.0, 36.5),
                        (Self::FULL_FLOW, 36.0),
                        (1500.0, 32.0),
                        (Self::REWARM, 32.0),
                        (Self::WEAN, 37.0),
                    ],
                ) + 0.05 * jitter(4.0)
            }
            Parameter::VenousInflowTemp => {
                keyframes(
                    t,
                    &[
                        (0.0, 36.4),
                        (Self::FULL_FLOW, 35.8),
                        (1800.0, 32.6),
                        (2800.0, 32.8),
                        (3750.0, 36.2),
                        (Self::OFF_BYPASS, 36.4),
                    ],
                ) + 0.05 * jitter(5.0)
            }
            Parameter::PatientTemp => {
                keyframes(
                    t,
                    &[
                        (0.0, 36.5),
                        (Self::FULL_FLOW, 36.2),
                        (2000.0, 33.0),
                        (2800.0, 33.2),
                        (3900.0, 36.0),
                        (4200.0, 36.3),
                    ],
                ) + 0.05 * jitter(6.0)
            }
            Parameter::VenousSaturation => {
                keyframes(
                    t,
                    &[
                        (0.0, 0.72),
                        (Self::FULL_FLOW, 0.74),
                        (1500.0, 0.82),
                        (Self::REWARM, 0.82),
                        (Self::WEAN, 0.70),
                        (Self::OFF_BYPASS, 0.72),
                    ],
                ) + 0.01 * wave(420.0, 2.0)
                    + 0.005 * jitter(7.0)
            }
            // Haemodilution by the prime on going on bypass; ultrafiltration while rewarming.
            Parameter::Haematocrit => keyframes(
                t,
                &[
                    (0.0, 0.38),
                    (Self::ON_BYPASS, 0.38),
                    (480.0, 0.27),
                    (3000.0, 0.27),
                    (Self::WEAN, 0.29),
                    (Self::OFF_BYPASS, 0.30),
                ],
            ),
            // No pulse on full non-pulsatile bypass: the oximeter has no value.
            Parameter::Spo2 if on_bypass => f64::NAN,
            Parameter::PulseRate if on_bypass => f64::NAN,
            Parameter::Spo2 => 0.98 + 0.005 * wave(600.0, 0.7) + 0.003 * jitter(8.0),
            Parameter::PulseRate => 78.0 + 4.0 * wave(500.0, 0.2) + 1.0 * jitter(9.0),
            Parameter::Do2i => self.do2i(t),
            // The CPB case has no ECMO circuit or laboratory values.
            _ => f64::NAN,
        }
    }

    /// The value of `p` at `now` as a demo sample from `source` (for calculated values the demo
    /// supplies without a device).
    pub fn sample(&self, p: Parameter, now: DateTime<Utc>, source: &str) -> LiveSample {
        let v = self.value(p, self.elapsed(now));
        LiveSample::computed(p, v, now, source, Validity::Demo).unwrap_or(LiveSample {
            case: None,
            parameter: p,
            received: crate::domain::Decimal::integer(0),
            unit: p.unit(),
            value: v,
            at: now,
            source: source.to_string(),
            validity: Validity::Invalid,
            device_time: crate::domain::DeviceTime::Unknown,
            raw: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::LiveSnapshot;

    fn plausible(sim: &CpbSimulator, p: Parameter, t: f64) {
        let v = sim.value(p, t);
        let (lo, hi) = p.plausible_range();
        assert!(v.is_finite() && v >= lo && v <= hi, "{p:?} at {t}s = {v}");
    }

    #[test]
    fn every_simulated_value_is_finite_and_plausible_for_a_cpb_case_and_an_ecmo_day() {
        let cpb = CpbSimulator::new(Utc::now());
        for t in (0..12 * 3600).step_by(7) {
            let t = t as f64;
            for p in Parameter::all().filter(|p| !cpb.value(*p, 0.0).is_nan()) {
                let no_pulse = matches!(p, Parameter::Spo2 | Parameter::PulseRate)
                    && (CpbSimulator::ON_BYPASS..CpbSimulator::OFF_BYPASS).contains(&t);
                if no_pulse {
                    assert!(cpb.value(p, t).is_nan(), "no pulse on bypass: {p:?} at {t}");
                } else {
                    plausible(&cpb, p, t);
                }
            }
        }
        for scenario in [Scenario::EcmoVa, Scenario::EcmoVv] {
            let ecmo = CpbSimulator::ecmo(Utc::now(), scenario);
            for t in (0..72 * 3600).step_by(11) {
                for p in Parameter::all() {
                    if !ecmo.value(p, t as f64).is_nan() {
                        plausible(&ecmo, p, t as f64);
                    }
                }
            }
        }
        let mut snap = LiveSnapshot::default();
        for p in Parameter::all().filter(|p| !cpb.value(*p, 0.0).is_nan()) {
            let s = cpb.sample(p, Utc::now(), "Sim");
            assert_eq!(s.validity, Validity::Demo);
            snap.apply(s).unwrap();
        }
    }

    /// The run's signals as the ECMO rules read them, one value a minute for `hours`.
    fn run_data(
        sim: &CpbSimulator,
        started: DateTime<Utc>,
        hours: i64,
    ) -> crate::domain::ecmo::RunData {
        use crate::domain::ecmo::{Point, RunData, Signal};
        let mut series = std::collections::BTreeMap::<Signal, Vec<Point>>::new();
        for m in 0..hours * 60 {
            let t = (m * 60) as f64;
            let at = started + chrono::Duration::minutes(m);
            for p in Parameter::all() {
                let v = sim.value(p, t);
                let signal = match p {
                    Parameter::VenousSaturation if sim.scenario() == Scenario::EcmoVv => {
                        Some(Signal::VenousSat)
                    }
                    p => Signal::of(p),
                };
                if let (Some(signal), false) = (signal, v.is_nan()) {
                    series.entry(signal).or_default().push(Point {
                        at,
                        value: p.to_display_unit(v),
                    });
                }
            }
        }
        RunData {
            kind: if sim.scenario() == Scenario::EcmoVv {
                crate::domain::CaseKind::EcmoVv
            } else {
                crate::domain::CaseKind::EcmoVa
            },
            femoral_arterial: false,
            started,
            circuit_since: None,
            series,
            last_device_value: Some(started + chrono::Duration::minutes(hours * 60 - 1)),
            checks: Vec::new(),
        }
    }

    /// The VA run's oxygenator clots slowly: no ΔP finding in the first hours, then the rules
    /// see ΔP per flow rise (about +52 % over 6 h with a 10 h doubling time) and above the
    /// circuit's baseline; the VV run's recirculation climbs to 45 % and is reported.
    #[test]
    fn the_ecmo_scenarios_make_the_board_speak() {
        use crate::domain::ecmo::{self, EcmoRules, FindingKind};
        let rules = EcmoRules::default();
        let started = Utc::now() - chrono::Duration::hours(40);
        let va = CpbSimulator::ecmo(started, Scenario::EcmoVa);
        let kinds = |hours: i64, sim: &CpbSimulator| {
            let data = run_data(sim, started, hours);
            let now = started + chrono::Duration::minutes(hours * 60 - 1);
            rules.assess(&data, now)
        };
        let early = kinds(4, &va);
        assert!(early.is_empty(), "{early:?}");
        let later = kinds(10, &va);
        let rising = later
            .iter()
            .find(|f| f.kind == FindingKind::DeltaPRising)
            .unwrap_or_else(|| panic!("{later:?}"));
        assert!(rising.reason.starts_with("ΔP +"), "{}", rising.reason);
        let pct: f64 = rising.reason["ΔP +".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((45.0..=60.0).contains(&pct), "{}", rising.reason);
        assert!(later
            .iter()
            .any(|f| f.kind == FindingKind::DeltaPAboveBaseline));
        assert!(!later.iter().any(|f| f.kind == FindingKind::FlowLow));

        let vv = CpbSimulator::ecmo(started, Scenario::EcmoVv);
        let data = run_data(&vv, started, 13);
        let r = ecmo::recirculation(&data).unwrap();
        assert!((0.43..=0.47).contains(&r), "{r}");
        let found = kinds(13, &vv);
        assert!(
            found.iter().any(|f| f.kind == FindingKind::Recirculation),
            "{found:?}"
        );
        assert!(!found.iter().any(|f| f.kind == FindingKind::DeltaPRising));
        assert!(kinds(2, &vv).is_empty());
    }

    #[test]
    fn the_cpb_case_is_physiologically_coherent() {
        let sim = CpbSimulator::new(Utc::now());
        let v = |p, t| sim.value(p, t);
        // Pre-bypass: no pump flow, the patient warm, the pulse oximeter reading.
        assert_eq!(v(Parameter::PumpFlow, 100.0), 0.0);
        assert!(v(Parameter::Spo2, 100.0) > 0.95);
        assert_eq!(sim.phase(100.0), "pre-bypass");
        // On bypass: full flow, haemodilution by the prime.
        assert!((v(Parameter::PumpFlow, 1000.0) - 4.7).abs() < 0.2);
        assert!(v(Parameter::Haematocrit, 1000.0) < v(Parameter::Haematocrit, 100.0) - 0.08);
        // Cooled by the cross-clamp period; the patient lags the arterial outlet.
        assert!(v(Parameter::ArterialOutletTemp, 2000.0) < 32.5);
        assert!(v(Parameter::PatientTemp, 2000.0) > v(Parameter::ArterialOutletTemp, 2000.0));
        assert_eq!(sim.phase(2000.0), "cross-clamp, cardioplegia");
        assert!(sim.cardioplegia_running(750.0) && sim.cardioplegia_running(2550.0));
        assert!(!sim.cardioplegia_running(1500.0));
        // Rewarmed by weaning, with the outlet ahead of the patient; off bypass: no flow.
        assert!(v(Parameter::ArterialOutletTemp, CpbSimulator::WEAN) > 36.5);
        assert!(v(Parameter::PatientTemp, CpbSimulator::WEAN) < 36.5);
        assert_eq!(v(Parameter::PumpFlow, 4100.0), 0.0);
        assert_eq!(sim.phase(4100.0), "off bypass");
    }

    #[test]
    fn simulated_do2i_matches_the_formula_with_the_demo_inputs() {
        // On bypass Hct 0.27 → Hb 9.0 g/dL; CaO2 = 1.34·9·0.99 + 0.003·250 = 12.6894 mL/dL.
        let sim = CpbSimulator::new(Utc::now());
        let t = 1000.0;
        let flow = sim.value(Parameter::PumpFlow, t);
        let expected = 10.0 * 12.6894 * flow / 1.956;
        assert!((sim.value(Parameter::Do2i, t) - expected).abs() < 0.5);
        assert!(expected > 280.0, "a real DO2i on full flow: {expected}");
    }
}

/// Faults a virtual device can be told to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The radio link drops (the session must reconnect).
    LinkLoss,
    /// One notification of bytes that decode to nothing.
    Garbage,
    /// `n` notifications at once.
    Burst(u16),
    /// The device clock jumps by this many ms.
    ClockSkew(i64),
}

/// The virtual bedside devices of the demo, each a real GATT profile on an in-memory link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VirtualKind {
    /// Heart-lung machine console on the Pumpside telemetry profile.
    Console,
    /// Terumo CDI 500 (packet mode) behind a Nordic UART serial bridge.
    CdiBridge,
    /// Pulse oximeter, PLX continuous.
    Oximeter,
    /// Health thermometer (nasopharyngeal).
    Thermometer,
    /// Arterial line monitor on the Blood Pressure profile.
    ArterialPressure,
    /// An ECMO console on the Pumpside telemetry profile (the demo's VA run).
    EcmoVaConsole,
    /// An ECMO console on the Pumpside telemetry profile (the demo's VV run).
    EcmoVvConsole,
}

impl VirtualKind {
    pub const ALL: [VirtualKind; 5] = [
        VirtualKind::Console,
        VirtualKind::CdiBridge,
        VirtualKind::Oximeter,
        VirtualKind::Thermometer,
        VirtualKind::ArterialPressure,
    ];

    pub fn label(self) -> &'static str {
        match self {
            VirtualKind::Console => "Sim HLM console",
            VirtualKind::CdiBridge => "Sim CDI 500 bridge",
            VirtualKind::Oximeter => "Sim pulse oximeter",
            VirtualKind::Thermometer => "Sim thermometer",
            VirtualKind::ArterialPressure => "Sim arterial line",
            VirtualKind::EcmoVaConsole => "Sim ECMO console (VA)",
            VirtualKind::EcmoVvConsole => "Sim ECMO console (VV)",
        }
    }

    fn model_serial(self) -> (&'static str, &'static str) {
        match self {
            VirtualKind::Console => ("HLM console", "SIM-HLM-1"),
            VirtualKind::CdiBridge => ("CDI bridge", "SIM-CDI-1"),
            VirtualKind::Oximeter => ("Oximeter", "SIM-OXI-1"),
            VirtualKind::Thermometer => ("Thermometer", "SIM-THM-1"),
            VirtualKind::ArterialPressure => ("Arterial line", "SIM-ABP-1"),
            VirtualKind::EcmoVaConsole => ("ECMO console", "SIM-ECMO-VA-1"),
            VirtualKind::EcmoVvConsole => ("ECMO console", "SIM-ECMO-VV-1"),
        }
    }

    /// The device key the hub gives this virtual device (`DeviceIdentity::key`).
    pub fn device_key(self) -> String {
        let (model, serial) = self.model_serial();
        format!("sn:Pumpside Simulator|{model}|{serial}")
    }

    pub fn characteristic(self) -> uuid::Uuid {
        use super::gatt::characteristic as c;
        match self {
            VirtualKind::Console | VirtualKind::EcmoVaConsole | VirtualKind::EcmoVvConsole => {
                c::TELEMETRY_MEASUREMENT
            }
            VirtualKind::CdiBridge => c::UART_TX,
            VirtualKind::Oximeter => c::PLX_CONTINUOUS,
            VirtualKind::Thermometer => c::TEMPERATURE_MEASUREMENT,
            VirtualKind::ArterialPressure => c::BLOOD_PRESSURE_MEASUREMENT,
        }
    }

    /// The device side, with Device Information (and Current Time for the console).
    pub fn peer(self) -> super::memory::MemoryPeer {
        use super::gatt::characteristic as c;
        let p = super::memory::MemoryPeer::new(self.label(), &[self.characteristic()]);
        let (model, serial) = self.model_serial();
        p.set_value(c::MANUFACTURER_NAME, b"Pumpside Simulator");
        p.set_value(c::MODEL_NUMBER, model.as_bytes());
        p.set_value(c::SERIAL_NUMBER, serial.as_bytes());
        p.set_value(c::BATTERY_LEVEL, &[100]);
        p
    }

    /// The notifications (one or more chunks) this device sends `t` seconds into the case.
    pub fn notifications(
        self,
        sim: &CpbSimulator,
        t: f64,
        seq: u16,
        device_ms: i64,
    ) -> Vec<Vec<u8>> {
        use super::telemetry_profile::{self, Code};
        let dec = |p: Parameter, places: u8| {
            crate::domain::Decimal::from_f64(p.to_display_unit(sim.value(p, t)), places)
        };
        match self {
            VirtualKind::Console => {
                let values: Vec<(Code, u8, crate::domain::Decimal)> = [
                    (Code::PumpFlow, Parameter::PumpFlow, 2),
                    (
                        Code::ArterialLinePressure,
                        Parameter::ArterialLinePressure,
                        0,
                    ),
                    (Code::ArterialOutletTemp, Parameter::ArterialOutletTemp, 1),
                    (Code::VenousInflowTemp, Parameter::VenousInflowTemp, 1),
                    (Code::SweepGas, Parameter::SweepGas, 1),
                    (Code::Fio2, Parameter::Fio2, 0),
                ]
                .into_iter()
                .filter_map(|(code, p, places)| Some((code, 0u8, dec(p, places)?)))
                .chain(
                    sim.cardioplegia_running(t)
                        .then(|| {
                            [
                                (
                                    Code::CardioplegiaLinePressure,
                                    0u8,
                                    crate::domain::Decimal::new(180, 0),
                                ),
                                (
                                    Code::CardioplegiaTemp,
                                    0u8,
                                    crate::domain::Decimal::new(60, -1),
                                ),
                            ]
                        })
                        .into_iter()
                        .flatten(),
                )
                .collect();
                telemetry_profile::encode(seq, Some(device_ms), &values)
                    .into_iter()
                    .collect()
            }
            VirtualKind::EcmoVaConsole | VirtualKind::EcmoVvConsole => {
                let values: Vec<(Code, u8, crate::domain::Decimal)> = ECMO_CONSOLE
                    .into_iter()
                    .filter_map(|(code, p, places)| Some((code, 0u8, dec(p, places)?)))
                    .collect();
                telemetry_profile::encode(seq, Some(device_ms), &values)
                    .into_iter()
                    .collect()
            }
            VirtualKind::CdiBridge => {
                let (Some(svo2), Some(hct)) = (
                    dec(Parameter::VenousSaturation, 0),
                    dec(Parameter::Haematocrit, 0),
                ) else {
                    return Vec::new();
                };
                let hb = crate::domain::Decimal::from_f64(hct.to_f64() / 3.0, 1);
                let clock = chrono::DateTime::from_timestamp_millis(device_ms)
                    .map(|d| d.format("%H:%M:%S").to_string())
                    .unwrap_or_else(|| "00:00:00".into());
                let mut data = format!("{clock}\t0D00 {svo2}\t1000 {hct}");
                if let Some(hb) = hb {
                    data.push_str(&format!("\t1100 {hb}"));
                }
                let frame = super::cdi::packet((seq % 256) as u8, &data);
                // A bridge forwards serial bytes in MTU-sized pieces.
                frame.chunks(20).map(<[u8]>::to_vec).collect()
            }
            VirtualKind::Oximeter => {
                let sf = |p: Parameter| {
                    crate::domain::Decimal::from_f64(p.to_display_unit(sim.value(p, t)), 0)
                        .and_then(super::ieee11073::sfloat_bits)
                        .unwrap_or(0x07FF) // NaN: "no value", never a made-up number
                };
                let mut b = vec![0x00];
                b.extend_from_slice(&sf(Parameter::Spo2).to_le_bytes());
                b.extend_from_slice(&sf(Parameter::PulseRate).to_le_bytes());
                vec![b]
            }
            VirtualKind::Thermometer => {
                let Some(v) = dec(Parameter::PatientTemp, 1) else {
                    return Vec::new();
                };
                let mut b = vec![0x00];
                b.extend_from_slice(
                    &telemetry_profile::float_bytes(v).unwrap_or([0xFF, 0xFF, 0x7F, 0x00]),
                );
                vec![b]
            }
            VirtualKind::ArterialPressure => {
                // On bypass the flow is non-pulsatile: systolic and diastolic hug the mean.
                let map = sim.value(Parameter::MeanArterialPressure, t).round() as i64;
                let mut b = vec![0x00];
                for v in [map + 4, map - 4, map] {
                    let bits = super::ieee11073::sfloat_bits(crate::domain::Decimal::new(v, 0))
                        .unwrap_or(0x07FF);
                    b.extend_from_slice(&bits.to_le_bytes());
                }
                vec![b]
            }
        }
    }
}

/// What a simulated ECMO console sends: (profile code, parameter, decimals).
pub const ECMO_CONSOLE: [(super::telemetry_profile::Code, Parameter, u8); 7] = {
    use super::telemetry_profile::Code;
    [
        (Code::PumpFlow, Parameter::PumpFlow, 2),
        (Code::PumpSpeed, Parameter::PumpSpeed, 0),
        (Code::VenousLinePressure, Parameter::DrainagePressure, 0),
        (
            Code::PreOxygenatorPressure,
            Parameter::PreOxygenatorPressure,
            0,
        ),
        (
            Code::PostOxygenatorPressure,
            Parameter::PostOxygenatorPressure,
            0,
        ),
        (Code::SweepGas, Parameter::SweepGas, 1),
        (Code::Fio2, Parameter::Fio2, 0),
    ]
};

/// Drive a virtual device: every `period`, if the app is subscribed, send its notifications;
/// obey injected faults. Ends when `faults` closes.
pub async fn drive(
    kind: VirtualKind,
    peer: super::memory::MemoryPeer,
    sim: CpbSimulator,
    period: std::time::Duration,
    mut faults: mpsc::Receiver<Fault>,
) {
    let characteristic = kind.characteristic();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut seq: u16 = 0;
    let mut skew_ms: i64 = 0;
    let send = |seq: u16, skew_ms: i64| {
        let now = Utc::now();
        let t = sim.elapsed(now);
        kind.notifications(&sim, t, seq, now.timestamp_millis() + skew_ms)
    };
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if !peer.is_subscribed(characteristic) {
                    continue;
                }
                seq = seq.wrapping_add(1);
                for chunk in send(seq, skew_ms) {
                    peer.notify(characteristic, &chunk).await;
                }
            }
            f = faults.recv() => match f {
                None => return,
                Some(Fault::LinkLoss) => peer.drop_link().await,
                Some(Fault::Garbage) => {
                    peer.notify(characteristic, &[0xFF, 0x00, 0x13]).await;
                }
                Some(Fault::Burst(n)) => {
                    for _ in 0..n {
                        seq = seq.wrapping_add(1);
                        for chunk in send(seq, skew_ms) {
                            peer.notify(characteristic, &chunk).await;
                        }
                    }
                }
                Some(Fault::ClockSkew(ms)) => skew_ms += ms,
            },
        }
    }
}
