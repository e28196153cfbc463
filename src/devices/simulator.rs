//! A simulated CPB case for demo, training and tests: a pump console, a temperature monitor and
//! an in-line blood monitor, each producing plausible, slowly drifting values once a second.
//! Every sample is marked [`Validity::Demo`] so it can never pass for patient data.

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::domain::{LiveSample, Parameter, Validity};

/// The simulated devices and what each reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimulatedDevice {
    PumpConsole,
    TemperatureMonitor,
    BloodMonitor,
}

impl SimulatedDevice {
    pub const ALL: [SimulatedDevice; 3] = [
        SimulatedDevice::PumpConsole,
        SimulatedDevice::TemperatureMonitor,
        SimulatedDevice::BloodMonitor,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SimulatedDevice::PumpConsole => "Demo pump",
            SimulatedDevice::TemperatureMonitor => "Demo temp monitor",
            SimulatedDevice::BloodMonitor => "Demo blood monitor",
        }
    }

    pub fn parameters(self) -> &'static [Parameter] {
        match self {
            SimulatedDevice::PumpConsole => &[
                Parameter::PumpFlow,
                Parameter::MeanArterialPressure,
                Parameter::ArterialLinePressure,
                Parameter::SweepGas,
                Parameter::Fio2,
            ],
            SimulatedDevice::TemperatureMonitor => &[
                Parameter::ArterialOutletTemp,
                Parameter::VenousInflowTemp,
                Parameter::PatientTemp,
            ],
            SimulatedDevice::BloodMonitor => &[
                Parameter::VenousSaturation,
                Parameter::Haematocrit,
                Parameter::Do2i,
            ],
        }
    }
}

/// Deterministic: the same elapsed second gives the same values, so tests can assert on them.
#[derive(Debug, Clone)]
pub struct CpbSimulator {
    started: DateTime<Utc>,
}

impl CpbSimulator {
    pub fn new(started: DateTime<Utc>) -> Self {
        Self { started }
    }

    /// The value of `p` `t` seconds into the simulated case (internal units).
    pub fn value(&self, p: Parameter, t: f64) -> f64 {
        // Slow physiological drift plus a small, repeatable jitter.
        let wave = |period: f64, phase: f64| (t / period * std::f64::consts::TAU + phase).sin();
        let jitter = |seed: f64| ((t * 12.9898 + seed).sin() * 43_758.545).fract() - 0.5;
        match p {
            Parameter::PumpFlow => 4.70 + 0.10 * wave(240.0, 0.0) + 0.03 * jitter(1.0),
            Parameter::MeanArterialPressure => 64.0 + 6.0 * wave(300.0, 1.0) + 1.5 * jitter(2.0),
            Parameter::ArterialLinePressure => 185.0 + 10.0 * wave(300.0, 1.2) + 3.0 * jitter(3.0),
            Parameter::SweepGas => 2.5,
            Parameter::Fio2 => 0.60,
            Parameter::ArterialOutletTemp => 34.0 + 0.4 * wave(900.0, 0.0) + 0.05 * jitter(4.0),
            Parameter::VenousInflowTemp => 33.2 + 0.4 * wave(900.0, 0.3) + 0.05 * jitter(5.0),
            Parameter::PatientTemp => 33.6 + 0.3 * wave(900.0, 0.5) + 0.05 * jitter(6.0),
            Parameter::VenousSaturation => 0.74 + 0.03 * wave(420.0, 2.0) + 0.005 * jitter(7.0),
            Parameter::Haematocrit => 0.27 + 0.01 * wave(1200.0, 0.0),
            Parameter::Spo2 => 0.98 + 0.005 * wave(600.0, 0.7) + 0.003 * jitter(8.0),
            Parameter::PulseRate => 72.0 + 4.0 * wave(500.0, 0.2) + 1.0 * jitter(9.0),
            Parameter::Do2i => {
                // DO2i = 10 × CaO2 × flow index (clinical.md 2.5) with the demo's SaO2 0.99,
                // PaO2 250 mmHg, k 1.34, c 0.003, BSA 1.956 m², and Hb (g/dL) ≈ Hct% / 3.
                let hb = self.value(Parameter::Haematocrit, t) * 100.0 / 3.0;
                let cao2 = 1.34 * hb * 0.99 + 0.003 * 250.0;
                10.0 * cao2 * self.value(Parameter::PumpFlow, t) / 1.956
            }
        }
    }

    /// One sample per parameter of `device` at `now`.
    pub fn samples(&self, device: SimulatedDevice, now: DateTime<Utc>) -> Vec<LiveSample> {
        let t = (now - self.started).num_milliseconds() as f64 / 1000.0;
        device
            .parameters()
            .iter()
            .map(|&p| LiveSample {
                parameter: p,
                value: self.value(p, t),
                at: now,
                source: device.name().to_string(),
                validity: Validity::Demo,
            })
            .collect()
    }

    /// Emit every device's samples into `tx` every `period` until the receiver goes away.
    pub async fn run(self, tx: mpsc::Sender<LiveSample>, period: std::time::Duration) {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let now = Utc::now();
            for d in SimulatedDevice::ALL {
                for s in self.samples(d, now) {
                    if tx.send(s).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::LiveSnapshot;

    #[test]
    fn every_simulated_value_is_finite_and_plausible_for_a_long_case() {
        let sim = CpbSimulator::new(Utc::now());
        let mut snap = LiveSnapshot::default();
        for t in (0..12 * 3600).step_by(7) {
            for d in SimulatedDevice::ALL {
                for &p in d.parameters() {
                    let v = sim.value(p, t as f64);
                    let (lo, hi) = p.plausible_range();
                    assert!(v.is_finite() && v >= lo && v <= hi, "{p:?} at {t}s = {v}");
                }
            }
        }
        for d in SimulatedDevice::ALL {
            for s in sim.samples(d, Utc::now()) {
                assert_eq!(s.validity, Validity::Demo);
                snap.apply(s).unwrap();
            }
        }
    }

    #[test]
    fn simulated_do2i_matches_the_formula_with_the_demo_inputs() {
        // Hct 0.27 → Hb 9.0 g/dL; CaO2 = 1.34·9·0.99 + 0.003·250 = 12.6894 mL/dL.
        let sim = CpbSimulator::new(Utc::now());
        let t = 0.0;
        let flow = sim.value(Parameter::PumpFlow, t);
        let expected = 10.0 * 12.6894 * flow / 1.956;
        assert!((sim.value(Parameter::Do2i, t) - expected).abs() < 0.5);
    }

    #[tokio::test(start_paused = true)]
    async fn run_emits_every_parameter_each_period_and_stops_when_nobody_listens() {
        let (tx, mut rx) = mpsc::channel(64);
        let task =
            tokio::spawn(CpbSimulator::new(Utc::now()).run(tx, std::time::Duration::from_secs(1)));
        let per_tick: usize = SimulatedDevice::ALL
            .iter()
            .map(|d| d.parameters().len())
            .sum();
        for _ in 0..per_tick * 2 {
            rx.recv().await.unwrap();
        }
        drop(rx);
        tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
}
