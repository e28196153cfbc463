//! ECMO run advisories and the on-call board's urgency rule, from the run's own data.
//!
//! Pure: a run's observations ([`RunData`]: time series by [`Signal`], the checks due, when
//! the run's last device value arrived) and the rules ([`EcmoRules`], the protocol file's
//! `[ecmo]` section, editable per run by the ECMO team) give [`Finding`]s, each with a
//! sentence that says why; [`rank`] orders runs by urgency with the rule's weights, also data.
//!
//! Sources (see ../shared/clinical.md §2.7 and §2.10, and the protocol file's comments):
//! - ΔP = P_pre − P_post (mmHg), per flow ΔP / Qb (mmHg per L/min), trended against the run's
//!   own earlier values, not one fixed limit (clot warning).
//! - Minimum circuit flow about 1.0–1.5 L/min; post-oxygenator PO2 target about 150 mmHg (ELSO).
//! - Anti-Xa 0.3–0.5 IU/mL (one ELSO-derived heparin protocol).
//! - Recirculation (VV) R = (S_pre − SvO2) / (S_post − SvO2), all saturations in %.
//!
//! Settings without a publication behind their default (aPTT range, the rise percentages,
//! recirculation and limb perfusion limits, stale and overdue times) are Pumpside defaults the
//! ECMO team sets; the protocol file says so next to each.
//!
//! Advisories only: the ECMO console keeps the primary alarms.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::case::CaseKind;

/// What a rule reads from a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Blood flow, L/min.
    Flow,
    /// Pre-oxygenator pressure, mmHg.
    PrePressure,
    /// Post-oxygenator pressure, mmHg.
    PostPressure,
    /// Post-oxygenator blood gas PO2, mmHg.
    PostOxyPo2,
    /// Anti-factor Xa activity, IU/mL.
    AntiXa,
    /// Activated partial thromboplastin time, s.
    Aptt,
    /// Plasma-free haemoglobin, mg/dL.
    PlasmaFreeHb,
    /// Lactate dehydrogenase, U/L.
    Ldh,
    /// Pre-oxygenator (drainage) saturation, %.
    PreOxySat,
    /// Post-oxygenator saturation, %.
    PostOxySat,
    /// The patient's venous saturation (SvO2), %.
    VenousSat,
    /// Distal perfusion catheter flow (femoral VA), L/min.
    DistalFlow,
    /// Cannulated limb NIRS, %.
    LimbNirs,
    /// Pump speed, rpm (shown, not judged).
    Speed,
    /// Sweep gas flow, L/min (shown, not judged).
    Sweep,
    /// FdO₂ of the sweep gas, % (shown, not judged).
    Fdo2,
}

impl Signal {
    /// The signal a catalogue parameter feeds, if the rules read it. Its values go in the
    /// parameter's display unit (saturations and NIRS in %), as [`Signal`] documents.
    pub fn of(p: super::Parameter) -> Option<Signal> {
        use super::Parameter as P;
        Some(match p {
            P::PumpFlow => Signal::Flow,
            P::PreOxygenatorPressure => Signal::PrePressure,
            P::PostOxygenatorPressure => Signal::PostPressure,
            P::AntiXa => Signal::AntiXa,
            P::Aptt => Signal::Aptt,
            P::PlasmaFreeHb => Signal::PlasmaFreeHb,
            P::Ldh => Signal::Ldh,
            P::PreOxygenatorSaturation => Signal::PreOxySat,
            P::PostOxygenatorSaturation => Signal::PostOxySat,
            P::DistalPerfusionFlow => Signal::DistalFlow,
            P::LimbNirs => Signal::LimbNirs,
            P::PumpSpeed => Signal::Speed,
            P::SweepGas => Signal::Sweep,
            P::Fio2 => Signal::Fdo2,
            _ => return None,
        })
    }
}

/// One value with its time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub at: DateTime<Utc>,
    pub value: f64,
}

/// A check that falls due (the hourly circuit check, a shift checklist).
#[derive(Debug, Clone, PartialEq)]
pub struct DueCheck {
    pub name: String,
    pub due: DateTime<Utc>,
}

/// What the rules read about one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunData {
    pub kind: CaseKind,
    /// Femoral arterial cannulation (VA): the limb perfusion rules apply.
    pub femoral_arterial: bool,
    pub started: DateTime<Utc>,
    /// The last oxygenator or circuit change: ΔP is compared with values after it only.
    pub circuit_since: Option<DateTime<Utc>>,
    /// Each signal's values, oldest first.
    pub series: BTreeMap<Signal, Vec<Point>>,
    /// When the newest device value of the run arrived (`None`: never).
    pub last_device_value: Option<DateTime<Utc>>,
    pub checks: Vec<DueCheck>,
}

impl RunData {
    fn newest(&self, s: Signal) -> Option<Point> {
        self.series.get(&s).and_then(|v| v.last().copied())
    }

    fn values(&self, s: Signal) -> &[Point] {
        self.series.get(&s).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// The protocol's ECMO rules (`[ecmo]`), editable per run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EcmoRules {
    /// L/min.
    pub flow_min: f64,
    /// mmHg.
    pub post_oxy_po2_min: f64,
    /// IU/mL.
    pub anti_xa_low: f64,
    pub anti_xa_high: f64,
    /// s.
    pub aptt_low: f64,
    pub aptt_high: f64,
    /// Hours after which the newest anticoagulation result is too old (or none was taken).
    pub anticoag_every_h: f64,
    /// ΔP per flow: the last hour's median against the hour `dp_window_h` earlier, %.
    pub dp_rise_pct: f64,
    pub dp_window_h: f64,
    /// ΔP per flow: the last hour's median against the run's first `dp_baseline_h` hours (after
    /// the last circuit change), %.
    pub dp_baseline_rise_pct: f64,
    pub dp_baseline_h: f64,
    /// Newest against the lowest of the last `marker_window_h` hours, %.
    pub pfhb_rise_pct: f64,
    pub ldh_rise_pct: f64,
    pub marker_window_h: f64,
    /// Fraction 0–1 (VV).
    pub recirculation_max: f64,
    /// L/min (femoral VA).
    pub distal_flow_min: f64,
    /// % (femoral VA).
    pub limb_nirs_min: f64,
    /// Minutes without a device value.
    pub stale_min: f64,
    /// Minutes past due before a check is overdue.
    pub check_grace_min: f64,
    /// How each finding weighs in the board's order (higher first).
    pub urgency: BTreeMap<FindingKind, u32>,
}

impl Default for EcmoRules {
    fn default() -> Self {
        use FindingKind::*;
        Self {
            flow_min: 1.5,
            post_oxy_po2_min: 150.0,
            anti_xa_low: 0.3,
            anti_xa_high: 0.5,
            aptt_low: 60.0,
            aptt_high: 80.0,
            anticoag_every_h: 6.0,
            dp_rise_pct: 30.0,
            dp_window_h: 6.0,
            dp_baseline_rise_pct: 50.0,
            dp_baseline_h: 6.0,
            pfhb_rise_pct: 50.0,
            ldh_rise_pct: 30.0,
            marker_window_h: 48.0,
            recirculation_max: 0.3,
            distal_flow_min: 0.1,
            limb_nirs_min: 50.0,
            stale_min: 30.0,
            check_grace_min: 15.0,
            urgency: [
                (FlowLow, 100),
                (NoData, 95),
                (PostOxyPo2Low, 90),
                (LimbPerfusion, 85),
                (DeltaPRising, 80),
                (DeltaPAboveBaseline, 75),
                (AnticoagulationOut, 70),
                (Recirculation, 60),
                (HaemolysisRising, 55),
                (AnticoagulationDue, 40),
                (CheckOverdue, 30),
            ]
            .into_iter()
            .collect(),
        }
    }
}

/// What a rule found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    FlowLow,
    NoData,
    PostOxyPo2Low,
    LimbPerfusion,
    DeltaPRising,
    DeltaPAboveBaseline,
    AnticoagulationOut,
    AnticoagulationDue,
    Recirculation,
    HaemolysisRising,
    CheckOverdue,
}

impl FindingKind {
    pub const ALL: [FindingKind; 11] = [
        FindingKind::FlowLow,
        FindingKind::NoData,
        FindingKind::PostOxyPo2Low,
        FindingKind::LimbPerfusion,
        FindingKind::DeltaPRising,
        FindingKind::DeltaPAboveBaseline,
        FindingKind::AnticoagulationOut,
        FindingKind::AnticoagulationDue,
        FindingKind::Recirculation,
        FindingKind::HaemolysisRising,
        FindingKind::CheckOverdue,
    ];
}

/// One finding with the sentence the board shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub kind: FindingKind,
    pub reason: String,
}

impl EcmoRules {
    /// The settings' plausible ranges: (key, value, low, high). Checked when the protocol
    /// file is read; the names are the file's keys.
    pub fn ranges(&self) -> [(&'static str, f64, f64, f64); 19] {
        [
            ("flow_min", self.flow_min, 0.1, 8.0),
            ("post_oxy_po2_min", self.post_oxy_po2_min, 50.0, 600.0),
            ("anti_xa_low", self.anti_xa_low, 0.0, 2.0),
            ("anti_xa_high", self.anti_xa_high, 0.0, 2.0),
            ("aptt_low", self.aptt_low, 20.0, 200.0),
            ("aptt_high", self.aptt_high, 20.0, 200.0),
            ("anticoag_every_h", self.anticoag_every_h, 0.5, 48.0),
            ("dp_rise_pct", self.dp_rise_pct, 1.0, 500.0),
            ("dp_window_h", self.dp_window_h, 1.0, 72.0),
            (
                "dp_baseline_rise_pct",
                self.dp_baseline_rise_pct,
                1.0,
                500.0,
            ),
            ("dp_baseline_h", self.dp_baseline_h, 1.0, 72.0),
            ("pfhb_rise_pct", self.pfhb_rise_pct, 1.0, 1000.0),
            ("ldh_rise_pct", self.ldh_rise_pct, 1.0, 1000.0),
            ("marker_window_h", self.marker_window_h, 1.0, 240.0),
            ("recirculation_max", self.recirculation_max, 0.01, 1.0),
            ("distal_flow_min", self.distal_flow_min, 0.0, 2.0),
            ("limb_nirs_min", self.limb_nirs_min, 0.0, 100.0),
            ("stale_min", self.stale_min, 1.0, 1440.0),
            ("check_grace_min", self.check_grace_min, 0.0, 240.0),
        ]
    }

    /// Set one range or rule by its protocol key, checked against the key's bounds (and the
    /// cross-field rules); what is allowed when refused.
    pub fn set(&mut self, key: &str, value: f64) -> Result<(), String> {
        let Some((_, _, low, high)) = self.ranges().into_iter().find(|(k, ..)| *k == key) else {
            let keys: Vec<&str> = self.ranges().iter().map(|(k, ..)| *k).collect();
            return Err(format!("one of the ECMO rules: {}", keys.join(", ")));
        };
        if !(value.is_finite() && value >= low && value <= high) {
            return Err(format!("{low} to {high}"));
        }
        let mut next = self.clone();
        let field = match key {
            "flow_min" => &mut next.flow_min,
            "post_oxy_po2_min" => &mut next.post_oxy_po2_min,
            "anti_xa_low" => &mut next.anti_xa_low,
            "anti_xa_high" => &mut next.anti_xa_high,
            "aptt_low" => &mut next.aptt_low,
            "aptt_high" => &mut next.aptt_high,
            "anticoag_every_h" => &mut next.anticoag_every_h,
            "dp_rise_pct" => &mut next.dp_rise_pct,
            "dp_window_h" => &mut next.dp_window_h,
            "dp_baseline_rise_pct" => &mut next.dp_baseline_rise_pct,
            "dp_baseline_h" => &mut next.dp_baseline_h,
            "pfhb_rise_pct" => &mut next.pfhb_rise_pct,
            "ldh_rise_pct" => &mut next.ldh_rise_pct,
            "marker_window_h" => &mut next.marker_window_h,
            "recirculation_max" => &mut next.recirculation_max,
            "distal_flow_min" => &mut next.distal_flow_min,
            "limb_nirs_min" => &mut next.limb_nirs_min,
            "stale_min" => &mut next.stale_min,
            "check_grace_min" => &mut next.check_grace_min,
            _ => return Err("a key with a field".into()),
        };
        *field = value;
        if let Some((_, problem)) = next.inconsistency() {
            return Err(format!(
                "a value that keeps the rules consistent ({problem})"
            ));
        }
        *self = next;
        Ok(())
    }

    /// Cross-field rules; `(key, problem)`.
    pub fn inconsistency(&self) -> Option<(&'static str, String)> {
        if self.anti_xa_low >= self.anti_xa_high {
            return Some((
                "anti_xa_high",
                format!(
                    "{} must be above anti_xa_low ({})",
                    self.anti_xa_high, self.anti_xa_low
                ),
            ));
        }
        if self.aptt_low >= self.aptt_high {
            return Some((
                "aptt_high",
                format!(
                    "{} must be above aptt_low ({})",
                    self.aptt_high, self.aptt_low
                ),
            ));
        }
        if let Some(k) = FindingKind::ALL
            .iter()
            .find(|k| !self.urgency.contains_key(k))
        {
            return Some((
                "urgency",
                format!(
                    "gives no weight for {}",
                    serde_json::to_string(k).unwrap_or_default()
                ),
            ));
        }
        None
    }

    /// Every finding for `run` at `now`, heaviest first.
    pub fn assess(&self, run: &RunData, now: DateTime<Utc>) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut add = |kind, reason: String| out.push(Finding { kind, reason });

        match run.last_device_value {
            Some(at) if minutes(now - at) >= self.stale_min => add(
                FindingKind::NoData,
                format!("no data for {}", span(now - at)),
            ),
            None if minutes(now - run.started) >= self.stale_min => add(
                FindingKind::NoData,
                format!(
                    "no data since the run started {} ago",
                    span(now - run.started)
                ),
            ),
            _ => {}
        }
        if let Some(q) = run.newest(Signal::Flow) {
            if q.value < self.flow_min {
                add(
                    FindingKind::FlowLow,
                    format!("flow {} L/min, below {}", num(q.value), num(self.flow_min)),
                );
            }
        }
        if let Some(p) = run.newest(Signal::PostOxyPo2) {
            if p.value < self.post_oxy_po2_min {
                add(
                    FindingKind::PostOxyPo2Low,
                    format!(
                        "post-oxygenator pO2 {} mmHg, below {}",
                        num(p.value),
                        num(self.post_oxy_po2_min)
                    ),
                );
            }
        }
        self.delta_p(run, now, &mut add);
        self.anticoagulation(run, now, &mut add);
        for (signal, name, unit, pct, kind) in [
            (
                Signal::PlasmaFreeHb,
                "plasma-free Hb",
                "mg/dL",
                self.pfhb_rise_pct,
                FindingKind::HaemolysisRising,
            ),
            (
                Signal::Ldh,
                "LDH",
                "U/L",
                self.ldh_rise_pct,
                FindingKind::HaemolysisRising,
            ),
        ] {
            let from = now - hours(self.marker_window_h);
            let recent: Vec<Point> = run
                .values(signal)
                .iter()
                .copied()
                .filter(|p| p.at >= from)
                .collect();
            if let (Some(newest), Some(lowest)) = (
                recent.last(),
                recent.iter().map(|p| p.value).reduce(f64::min),
            ) {
                if lowest > 0.0 && (newest.value - lowest) / lowest * 100.0 >= pct {
                    add(
                        kind,
                        format!(
                            "{name} {} {unit}, +{:.0} % over {} h",
                            num(newest.value),
                            (newest.value - lowest) / lowest * 100.0,
                            num(self.marker_window_h)
                        ),
                    );
                }
            }
        }
        if run.kind == CaseKind::EcmoVv {
            if let Some(r) = recirculation(run) {
                if r > self.recirculation_max {
                    add(
                        FindingKind::Recirculation,
                        format!(
                            "recirculation {:.0} %, above {:.0} %",
                            r * 100.0,
                            self.recirculation_max * 100.0
                        ),
                    );
                }
            }
        }
        if run.femoral_arterial && matches!(run.kind, CaseKind::EcmoVa | CaseKind::Ecpr) {
            if let Some(d) = run.newest(Signal::DistalFlow) {
                if d.value < self.distal_flow_min {
                    add(
                        FindingKind::LimbPerfusion,
                        format!(
                            "distal perfusion flow {} L/min, below {}",
                            num(d.value),
                            num(self.distal_flow_min)
                        ),
                    );
                }
            }
            if let Some(n) = run.newest(Signal::LimbNirs) {
                if n.value < self.limb_nirs_min {
                    add(
                        FindingKind::LimbPerfusion,
                        format!(
                            "limb NIRS {} %, below {}",
                            num(n.value),
                            num(self.limb_nirs_min)
                        ),
                    );
                }
            }
        }
        for c in &run.checks {
            let late = now - c.due;
            if minutes(late) > self.check_grace_min {
                add(
                    FindingKind::CheckOverdue,
                    format!("{} overdue by {}", c.name, span(late)),
                );
            }
        }
        out.sort_by_key(|f| std::cmp::Reverse(self.weight(f.kind)));
        out
    }

    fn weight(&self, kind: FindingKind) -> u32 {
        self.urgency.get(&kind).copied().unwrap_or(0)
    }

    fn delta_p(
        &self,
        run: &RunData,
        now: DateTime<Utc>,
        add: &mut impl FnMut(FindingKind, String),
    ) {
        let since = run.circuit_since.unwrap_or(run.started).max(run.started);
        let per_flow = delta_p_per_flow(run, since);
        let hour = |end: DateTime<Utc>| {
            median(
                per_flow
                    .iter()
                    .filter(|p| p.at > end - Duration::hours(1) && p.at <= end)
                    .map(|p| p.value),
            )
        };
        let Some(last) = hour(now) else { return };
        let window_end = now - hours(self.dp_window_h);
        if window_end - Duration::hours(1) >= since {
            if let Some(before) = hour(window_end) {
                let rise = (last - before) / before * 100.0;
                if before > 0.0 && rise >= self.dp_rise_pct {
                    add(
                        FindingKind::DeltaPRising,
                        format!(
                            "ΔP +{rise:.0} % over {} h ({} → {} mmHg per L/min)",
                            num(self.dp_window_h),
                            num1(before),
                            num1(last)
                        ),
                    );
                }
            }
        }
        let baseline_end = since + hours(self.dp_baseline_h);
        if baseline_end <= now - Duration::hours(1) {
            let baseline = median(
                per_flow
                    .iter()
                    .filter(|p| p.at <= baseline_end)
                    .map(|p| p.value),
            );
            if let Some(b) = baseline.filter(|b| *b > 0.0) {
                let rise = (last - b) / b * 100.0;
                if rise >= self.dp_baseline_rise_pct {
                    add(
                        FindingKind::DeltaPAboveBaseline,
                        format!(
                            "ΔP +{rise:.0} % above this circuit's baseline ({} → {} mmHg per L/min)",
                            num1(b),
                            num1(last)
                        ),
                    );
                }
            }
        }
    }

    fn anticoagulation(
        &self,
        run: &RunData,
        now: DateTime<Utc>,
        add: &mut impl FnMut(FindingKind, String),
    ) {
        // The run follows anti-Xa where it has any, else aPTT.
        let followed = [
            (
                Signal::AntiXa,
                "anti-Xa",
                "",
                self.anti_xa_low,
                self.anti_xa_high,
            ),
            (Signal::Aptt, "aPTT", " s", self.aptt_low, self.aptt_high),
        ]
        .into_iter()
        .find(|(s, ..)| run.newest(*s).is_some());
        let Some((signal, name, unit, low, high)) = followed else {
            if hours_f(now - run.started) >= self.anticoag_every_h {
                add(
                    FindingKind::AnticoagulationDue,
                    format!(
                        "no anti-Xa or aPTT result in {} of support",
                        span(now - run.started)
                    ),
                );
            }
            return;
        };
        let Some(p) = run.newest(signal) else { return };
        if p.value < low {
            add(
                FindingKind::AnticoagulationOut,
                format!("{name} {}{unit}, below {}", num(p.value), num(low)),
            );
        } else if p.value > high {
            add(
                FindingKind::AnticoagulationOut,
                format!("{name} {}{unit}, above {}", num(p.value), num(high)),
            );
        }
        if hours_f(now - p.at) >= self.anticoag_every_h {
            add(
                FindingKind::AnticoagulationDue,
                format!("last {name} {} ago", span(now - p.at)),
            );
        }
    }
}

/// ΔP per flow (mmHg per L/min) at each time both pressures and a flow are known: pre and post
/// pressures taken together (the post value nearest the pre value, within 30 s), the newest
/// flow at or before it (within 5 min).
pub fn delta_p_per_flow(run: &RunData, since: DateTime<Utc>) -> Vec<Point> {
    let flows = run.values(Signal::Flow);
    delta_p(run, since)
        .into_iter()
        .filter_map(|dp| {
            let i = flows.partition_point(|q| q.at <= dp.at);
            let q = flows.get(i.checked_sub(1)?)?;
            if dp.at - q.at > Duration::minutes(5) || q.value <= 0.0 {
                return None;
            }
            let per_flow = dp.value / q.value;
            per_flow.is_finite().then_some(Point {
                at: dp.at,
                value: per_flow,
            })
        })
        .collect()
}

/// ΔP across the oxygenator (pre − post, mmHg) at each pre-oxygenator value since `since`, with
/// the post-oxygenator value nearest it (within 30 s).
pub fn delta_p(run: &RunData, since: DateTime<Utc>) -> Vec<Point> {
    let post: BTreeMap<DateTime<Utc>, f64> = run
        .values(Signal::PostPressure)
        .iter()
        .map(|p| (p.at, p.value))
        .collect();
    let near = Duration::seconds(30);
    run.values(Signal::PrePressure)
        .iter()
        .filter(|p| p.at >= since)
        .filter_map(|pre| {
            let post = post
                .range(pre.at - near..=pre.at + near)
                .min_by_key(|(at, _)| (**at - pre.at).abs())
                .map(|(_, v)| *v)?;
            let dp = pre.value - post;
            dp.is_finite().then_some(Point {
                at: pre.at,
                value: dp,
            })
        })
        .collect()
}

/// One headline value of a run on the board: the newest, with its time.
#[derive(Debug, Clone, PartialEq)]
pub struct GlanceValue {
    pub key: &'static str,
    pub label: &'static str,
    /// As shown ("--" when there is none).
    pub text: String,
    pub unit: &'static str,
    pub at: Option<DateTime<Utc>>,
    /// The value itself, for calculations (never parsed back from `text`).
    pub value: Option<f64>,
}

/// What the board shows of a run at a glance: the newest flow, speed, sweep, FdO₂, ΔP,
/// post-oxygenator pO₂ and anticoagulation value, each with its time, and the last 24 hours
/// of flow and ΔP for sparklines (means of 15-minute slots, `None` where there is no value).
#[derive(Debug, Clone, PartialEq)]
pub struct Glance {
    pub values: Vec<GlanceValue>,
    pub flow_24h: Vec<Option<f64>>,
    pub dp_24h: Vec<Option<f64>>,
}

/// Slots of a 24-hour sparkline (15 minutes each).
pub const SPARK_SLOTS: usize = 96;

/// Means of `points` in `n` equal slots of `[from, to)`.
pub fn slots(
    points: &[Point],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    n: usize,
) -> Vec<Option<f64>> {
    let mut sums = vec![(0.0, 0u32); n];
    let span_ms = (to - from).num_milliseconds().max(1) as f64;
    for p in points.iter().filter(|p| p.at >= from && p.at < to) {
        let i = (((p.at - from).num_milliseconds() as f64 / span_ms) * n as f64) as usize;
        if let Some(slot) = sums.get_mut(i.min(n.saturating_sub(1))) {
            slot.0 += p.value;
            slot.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(s, c)| (c > 0).then(|| s / f64::from(c)))
        .collect()
}

pub fn glance(run: &RunData, now: DateTime<Utc>) -> Glance {
    let dp = delta_p(run, run.started.min(now - Duration::hours(26)));
    let value = |key, label, unit, p: Option<Point>, decimals: usize| GlanceValue {
        key,
        label,
        text: p.map_or("--".into(), |p| format!("{:.decimals$}", p.value)),
        unit,
        at: p.map(|p| p.at),
        value: p.map(|p| p.value),
    };
    let anticoag = match (run.newest(Signal::AntiXa), run.newest(Signal::Aptt)) {
        (Some(x), Some(a)) if a.at > x.at => value("anticoag", "aPTT", "s", Some(a), 0),
        (Some(x), _) => value("anticoag", "anti-Xa", "IU/mL", Some(x), 2),
        (None, Some(a)) => value("anticoag", "aPTT", "s", Some(a), 0),
        (None, None) => value("anticoag", "anti-Xa / aPTT", "", None, 0),
    };
    let from = now - Duration::hours(24);
    Glance {
        values: vec![
            value("flow", "Flow", "L/min", run.newest(Signal::Flow), 2),
            value("speed", "Speed", "rpm", run.newest(Signal::Speed), 0),
            value("sweep", "Sweep", "L/min", run.newest(Signal::Sweep), 1),
            value("fdo2", "FdO₂", "%", run.newest(Signal::Fdo2), 0),
            value("dp", "ΔP", "mmHg", dp.last().copied(), 0),
            value(
                "post-po2",
                "Post-oxy pO₂",
                "mmHg",
                run.newest(Signal::PostOxyPo2),
                0,
            ),
            anticoag,
        ],
        flow_24h: slots(run.values(Signal::Flow), from, now, SPARK_SLOTS),
        dp_24h: slots(&dp, from, now, SPARK_SLOTS),
    }
}

/// VV recirculation from the newest pre-oxygenator, post-oxygenator and venous saturations
/// (each within 30 min of the others); `None` when they do not allow it.
pub fn recirculation(run: &RunData) -> Option<f64> {
    let pre = run.newest(Signal::PreOxySat)?;
    let post = run.newest(Signal::PostOxySat)?;
    let sv = run.newest(Signal::VenousSat)?;
    let times = [pre.at, post.at, sv.at];
    let spread = *times.iter().max()? - *times.iter().min()?;
    if spread > Duration::minutes(30) || post.value <= sv.value {
        return None;
    }
    let r = (pre.value - sv.value) / (post.value - sv.value);
    r.is_finite().then_some(r.clamp(0.0, 1.0))
}

/// The signal a gas value feeds, by where the blood was taken: post-oxygenator pO2 and SO2,
/// pre-oxygenator SO2, the patient's venous (or mixed venous) SO2. The same rule for gases
/// recorded here and gases pulled from the server.
pub fn gas_signal(
    site: super::bloodgas::SampleSite,
    analyte: super::bloodgas::Analyte,
) -> Option<Signal> {
    use super::bloodgas::{Analyte, SampleSite};
    Some(match (site, analyte) {
        (SampleSite::PostOxygenator, Analyte::Po2) => Signal::PostOxyPo2,
        (SampleSite::PostOxygenator, Analyte::So2) => Signal::PostOxySat,
        (SampleSite::PreOxygenator, Analyte::So2) => Signal::PreOxySat,
        (SampleSite::Venous | SampleSite::MixedVenous, Analyte::So2) => Signal::VenousSat,
        _ => return None,
    })
}

/// The blood gases of a run as the rules read them: post-oxygenator pO2 and SO2,
/// pre-oxygenator SO2, the patient's venous (or mixed venous) SO2. Corrections applied,
/// retracted entries and entries marked artefact left out (the derived case view).
pub fn gases_into(view: &super::record::CaseView<'_>, series: &mut BTreeMap<Signal, Vec<Point>>) {
    use super::bloodgas::Analyte;
    use super::entry::EntryPayload;
    for e in &view.entries {
        let EntryPayload::BloodGas(panel) = e.payload else {
            continue;
        };
        if e.artefact.is_some() {
            continue;
        }
        for analyte in [Analyte::Po2, Analyte::So2] {
            let Some(signal) = gas_signal(panel.site, analyte) else {
                continue;
            };
            if let Some(value) = panel.canonical(analyte) {
                series.entry(signal).or_default().push(Point {
                    at: e.occurred_at(),
                    value,
                });
            }
        }
    }
    for v in series.values_mut() {
        v.sort_by_key(|p| p.at);
    }
}

/// The values typed by hand (laboratory results, a distal flow read off a flow probe) of the
/// parameters the rules read, in each signal's unit; entries marked artefact or retracted
/// left out, corrections applied (the derived case view).
pub fn measurements_into(
    view: &super::record::CaseView<'_>,
    series: &mut BTreeMap<Signal, Vec<Point>>,
) {
    use super::entry::EntryPayload;
    for e in &view.entries {
        let EntryPayload::Measurement {
            parameter,
            value,
            unit,
        } = e.payload
        else {
            continue;
        };
        if e.artefact.is_some() {
            continue;
        }
        let Some(signal) = Signal::of(*parameter) else {
            continue;
        };
        let Ok(v) = parameter.to_internal("measurement", value.to_f64(), unit) else {
            continue;
        };
        let v = parameter.to_display_unit(v);
        if v.is_finite() {
            series.entry(signal).or_default().push(Point {
                at: e.occurred_at(),
                value: v,
            });
        }
    }
    for v in series.values_mut() {
        v.sort_by_key(|p| p.at);
    }
}

/// One of a run's own ranges, as the ECMO team set it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRule {
    pub key: String,
    pub value: f64,
    pub why: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// The rules for one run: the protocol's, with the run's own ranges applied in the order they
/// were set (retracted ones left out by the derived case view); the ranges in force, one per
/// key, newest last. A range the protocol's rules no longer take (a later protocol changed
/// another bound) is skipped, never applied half.
pub fn rules_for(
    protocol: &EcmoRules,
    view: &super::record::CaseView<'_>,
) -> (EcmoRules, Vec<RunRule>) {
    use super::entry::EntryPayload;
    let mut rules = protocol.clone();
    let mut in_force: Vec<RunRule> = Vec::new();
    for e in &view.entries {
        let EntryPayload::EcmoRule { key, value, why } = e.payload else {
            continue;
        };
        if rules.set(key, value.to_f64()).is_ok() {
            in_force.retain(|r| r.key != *key);
            in_force.push(RunRule {
                key: key.clone(),
                value: value.to_f64(),
                why: why.clone(),
                by: e.original.author.user.clone(),
                at: e.occurred_at(),
            });
        }
    }
    (rules, in_force)
}

/// Order runs that each have their own rules: as [`rank`], each run assessed by its own.
pub fn rank_each<K: Ord + Clone>(
    runs: &[(K, RunData, EcmoRules)],
    now: DateTime<Utc>,
) -> Vec<Ranked<K>> {
    let mut out: Vec<Ranked<K>> = runs
        .iter()
        .flat_map(|(key, run, rules)| rank(rules, &[(key.clone(), run.clone())], now))
        .collect();
    out.sort_by(|a, b| b.urgency.cmp(&a.urgency).then_with(|| a.key.cmp(&b.key)));
    out
}

/// The recurring checks an ECMO run has (templates for ECMO shifts with `every_hours`), each
/// due `every_hours` after its newest signed run on this case, or after support started when
/// none has been signed yet.
pub fn checks_due(
    entries: &[super::Entry],
    templates: &[super::checklist::Template],
    started: DateTime<Utc>,
) -> Vec<DueCheck> {
    use super::checklist::{runs, Purpose};
    let runs = runs(entries);
    templates
        .iter()
        .filter(|t| t.purpose == Purpose::EcmoShift)
        .filter_map(|t| {
            let every = t.every_hours.filter(|h| h.is_finite() && *h > 0.0)?;
            let last = runs
                .iter()
                .filter(|r| r.template_id == t.id)
                .filter_map(|r| r.signed.as_ref().map(|(_, at)| *at))
                .max();
            let due = super::checklist::due_status(every, last, started, started).due_at;
            Some(DueCheck {
                name: t.title.clone(),
                due,
            })
        })
        .collect()
}

/// Whether the run's newest cannulation returns blood to a femoral artery (the limb perfusion
/// rules apply), from the derived case view.
pub fn femoral_arterial(view: &super::record::CaseView<'_>) -> bool {
    use super::entry::EntryPayload;
    view.entries
        .iter()
        .rev()
        .find_map(|e| match e.payload {
            EntryPayload::Cannulation { return_site, .. } => Some(return_site.is_femoral_artery()),
            _ => None,
        })
        .unwrap_or(false)
}

/// When the membrane in use went in: the newest circuit change that replaced the oxygenator or
/// the whole circuit (tubing pack), corrections applied, retracted changes left out.
pub fn circuit_since(view: &super::record::CaseView<'_>) -> Option<DateTime<Utc>> {
    use super::entry::{ComponentKind, EntryPayload};
    view.entries
        .iter()
        .filter(|e| {
            matches!(e.payload, EntryPayload::CircuitChange { component, .. }
                if matches!(component.kind, ComponentKind::Oxygenator | ComponentKind::TubingPack))
        })
        .map(|e| e.occurred_at())
        .max()
}

/// A run's place on the board: its findings and the weight that orders it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked<K> {
    pub key: K,
    pub findings: Vec<Finding>,
    /// The heaviest finding's weight, then the sum of all (0 with none).
    pub urgency: (u32, u32),
}

impl<K> Ranked<K> {
    /// The reason for the rank in words: the findings, heaviest first.
    pub fn reason(&self) -> String {
        if self.findings.is_empty() {
            return "nothing found".into();
        }
        self.findings
            .iter()
            .map(|f| f.reason.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// What the board last saw of each run's findings, to tell when a run becomes more urgent: a
/// finding it did not have before. The first sight of a run sets what it has (nothing is
/// announced for what was already there); a finding that clears and comes back is new again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UrgencyWatch<K: Ord> {
    seen: BTreeMap<K, Vec<FindingKind>>,
}

impl<K: Ord + Clone> UrgencyWatch<K> {
    /// Take the newest ranking; the runs with findings they did not have before, each with
    /// those findings (heaviest first). Runs no longer ranked are forgotten.
    pub fn update(&mut self, ranked: &[Ranked<K>]) -> Vec<(K, Vec<Finding>)> {
        let mut out = Vec::new();
        let mut seen = BTreeMap::new();
        for r in ranked {
            let kinds: Vec<FindingKind> = r.findings.iter().map(|f| f.kind).collect();
            if let Some(before) = self.seen.get(&r.key) {
                let new: Vec<Finding> = r
                    .findings
                    .iter()
                    .filter(|f| !before.contains(&f.kind))
                    .cloned()
                    .collect();
                if !new.is_empty() {
                    out.push((r.key.clone(), new));
                }
            }
            seen.insert(r.key.clone(), kinds);
        }
        self.seen = seen;
        out
    }
}

/// Order runs by urgency: the heaviest finding first, then the sum of the weights, then the
/// key (so equal runs keep a stable order).
pub fn rank<K: Ord + Clone>(
    rules: &EcmoRules,
    runs: &[(K, RunData)],
    now: DateTime<Utc>,
) -> Vec<Ranked<K>> {
    let mut out: Vec<Ranked<K>> = runs
        .iter()
        .map(|(key, run)| {
            let findings = rules.assess(run, now);
            let weights: Vec<u32> = findings.iter().map(|f| rules.weight(f.kind)).collect();
            Ranked {
                key: key.clone(),
                urgency: (
                    weights.iter().copied().max().unwrap_or(0),
                    weights.iter().sum(),
                ),
                findings,
            }
        })
        .collect();
    out.sort_by(|a, b| b.urgency.cmp(&a.urgency).then_with(|| a.key.cmp(&b.key)));
    out
}

fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn hours(h: f64) -> Duration {
    Duration::seconds((h * 3600.0) as i64)
}

fn minutes(d: Duration) -> f64 {
    d.num_seconds() as f64 / 60.0
}

fn hours_f(d: Duration) -> f64 {
    d.num_seconds() as f64 / 3600.0
}

/// "47 min", "3 h 05 min", "2 d 4 h".
fn span(d: Duration) -> String {
    let m = d.num_minutes().max(0);
    if m < 60 {
        format!("{m} min")
    } else if m < 48 * 60 {
        format!("{} h {:02} min", m / 60, m % 60)
    } else {
        format!("{} d {} h", m / 1440, (m % 1440) / 60)
    }
}

/// A value as people write it: no trailing zeros.
fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn num1(v: f64) -> String {
    format!("{v:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn at(min: i64) -> DateTime<Utc> {
        t0() + Duration::minutes(min)
    }

    /// A VA run of `hours` with a sample a minute: flow 4.0, post 215, pre 250 + `extra(min)`
    /// (a clotting oxygenator raises it), anti-Xa every 6 h at 0.4, post-oxygenator pO2 every
    /// 6 h at 300.
    fn run(kind: CaseKind, hours: i64, extra: impl Fn(i64) -> f64) -> RunData {
        let mut series: BTreeMap<Signal, Vec<Point>> = BTreeMap::new();
        let end = hours * 60;
        for m in 0..=end {
            let p = |v| Point {
                at: at(m),
                value: v,
            };
            series.entry(Signal::Flow).or_default().push(p(4.0));
            series
                .entry(Signal::PostPressure)
                .or_default()
                .push(p(215.0));
            series
                .entry(Signal::PrePressure)
                .or_default()
                .push(p(250.0 + extra(m)));
            if m % 360 == 0 {
                series.entry(Signal::AntiXa).or_default().push(p(0.4));
                series.entry(Signal::PostOxyPo2).or_default().push(p(300.0));
            }
        }
        RunData {
            kind,
            femoral_arterial: false,
            started: t0(),
            circuit_since: None,
            series,
            last_device_value: Some(at(end)),
            checks: Vec::new(),
        }
    }

    fn kinds(f: &[Finding]) -> Vec<FindingKind> {
        f.iter().map(|f| f.kind).collect()
    }

    /// A run becomes more urgent when it gains a finding: announced once; nothing on first
    /// sight; a finding that clears and returns is announced again; a finding that stays is
    /// not repeated.
    #[test]
    fn the_watch_announces_a_run_that_gains_a_finding_once() {
        let rules = EcmoRules::default();
        let steady = run(CaseKind::EcmoVa, 10, |_| 0.0);
        let clotting = run(
            CaseKind::EcmoVa,
            10,
            |m| if m > 5 * 60 { 40.0 } else { 0.0 },
        );
        let now = at(10 * 60);
        let mut watch = UrgencyWatch::default();
        let first = rank(
            &rules,
            &[("a", steady.clone()), ("b", clotting.clone())],
            now,
        );
        assert!(watch.update(&first).is_empty(), "nothing on first sight");
        let mut worse = steady.clone();
        worse
            .series
            .get_mut(&Signal::Flow)
            .unwrap()
            .last_mut()
            .unwrap()
            .value = 1.0;
        let second = rank(
            &rules,
            &[("a", worse.clone()), ("b", clotting.clone())],
            now,
        );
        let told = watch.update(&second);
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(told[0].0, "a");
        assert_eq!(kinds(&told[0].1), vec![FindingKind::FlowLow]);
        assert!(
            told[0].1[0].reason.starts_with("flow 1 L/min"),
            "{:?}",
            told[0].1
        );
        // Still low: not repeated. Recovered, then low again: announced again.
        assert!(watch.update(&second).is_empty());
        let third = rank(
            &rules,
            &[("a", steady.clone()), ("b", clotting.clone())],
            now,
        );
        assert!(watch.update(&third).is_empty());
        assert_eq!(watch.update(&second).len(), 1);
    }

    /// The shift check of the shipped templates falls due 8 h after support started when none
    /// has been signed, and is then reported overdue with how late; other purposes are not
    /// ECMO checks.
    #[test]
    fn the_ecmo_shift_check_falls_due_from_the_start_of_support() {
        use super::super::checklist::{shipped, Template};
        let templates: Vec<Template> = shipped()
            .iter()
            .map(|(name, text)| Template::parse(name, text).unwrap())
            .collect();
        let checks = checks_due(&[], &templates, t0());
        assert_eq!(checks.len(), 1, "{checks:?}");
        assert_eq!(checks[0].name, "ECMO shift check");
        assert_eq!(checks[0].due, at(8 * 60));
        let mut r = run(CaseKind::EcmoVa, 10, |_| 0.0);
        r.checks = checks;
        let found = EcmoRules::default().assess(&r, at(10 * 60));
        let overdue = found
            .iter()
            .find(|f| f.kind == FindingKind::CheckOverdue)
            .unwrap();
        assert_eq!(overdue.reason, "ECMO shift check overdue by 2 h 00 min");
    }

    /// A run's own range is checked like the protocol's: the key must be one of the rules, the
    /// value inside its bounds, and the rules consistent afterwards (anti-Xa low under high).
    #[test]
    fn a_runs_own_range_is_checked_before_it_is_taken() {
        let mut r = EcmoRules::default();
        r.set("anti_xa_low", 0.2).unwrap();
        assert_eq!(r.anti_xa_low, 0.2);
        let e = r.set("anti_xa_low", 0.6).unwrap_err();
        assert!(e.contains("must be above"), "{e}");
        assert_eq!(r.anti_xa_low, 0.2, "a refused value changes nothing");
        assert!(r.set("flow_min", f64::NAN).is_err());
        assert!(r.set("flow_min", 99.0).unwrap_err().contains(" to "));
        assert!(r.set("urgency", 1.0).unwrap_err().contains("flow_min"));
        // Every key of the protocol's ranges can be set to its own value.
        let d = EcmoRules::default();
        for (k, v, ..) in d.ranges() {
            let mut x = d.clone();
            x.set(k, v).unwrap_or_else(|e| panic!("{k}: {e}"));
            assert_eq!(x, d, "{k}");
        }
    }

    /// The board's glance: the newest of each headline value with its time ("--" without
    /// one), ΔP from pressures taken together, and 24 h sparklines in 15-minute slots.
    #[test]
    fn the_glance_shows_newest_values_with_their_time_and_24_hour_sparklines() {
        let r = run(CaseKind::EcmoVa, 30, |m| m as f64 / 60.0);
        let now = at(30 * 60);
        let g = glance(&r, now);
        let v = |k: &str| g.values.iter().find(|v| v.key == k).unwrap().clone();
        assert_eq!((v("flow").text.as_str(), v("flow").at), ("4.00", Some(now)));
        // 250 + 30 − 215.
        assert_eq!(v("dp").text, "65");
        assert_eq!(v("anticoag").label, "anti-Xa");
        assert_eq!(v("anticoag").text, "0.40");
        assert_eq!(v("anticoag").at, Some(at(30 * 60)));
        assert_eq!((v("speed").text.as_str(), v("speed").at), ("--", None));
        assert_eq!(g.flow_24h.len(), SPARK_SLOTS);
        assert!(g.flow_24h.iter().all(|x| *x == Some(4.0)));
        // ΔP rises through the day: the first slot lower than the last.
        let (first, last) = (g.dp_24h[0].unwrap(), g.dp_24h[SPARK_SLOTS - 1].unwrap());
        assert!(
            first < last && (last - first - 23.75).abs() < 0.5,
            "{first} {last}"
        );
        // A gap leaves its slots empty, never a made-up value.
        let mut gap = r.clone();
        for s in gap.series.values_mut() {
            s.retain(|p| p.at < at(20 * 60) || p.at >= at(22 * 60));
        }
        let g = glance(&gap, now);
        assert_eq!(g.flow_24h.iter().filter(|x| x.is_none()).count(), 8);
        // A run with no laboratory values shows none.
        let mut no_labs = r;
        no_labs.series.remove(&Signal::AntiXa);
        assert_eq!(glance(&no_labs, now).values[6].text, "--");
    }

    #[test]
    fn delta_p_per_flow_matches_the_worked_vector() {
        // clinical.md §2.10: 250 − 215 = 35 mmHg at 4.0 L/min → 8.75 mmHg per L/min.
        let r = run(CaseKind::EcmoVa, 1, |_| 0.0);
        let dp = delta_p_per_flow(&r, t0());
        assert_eq!(dp.len(), 61);
        assert!(dp.iter().all(|p| (p.value - 8.75).abs() < 1e-12));
    }

    #[test]
    fn a_steady_run_gives_nothing() {
        let rules = EcmoRules::default();
        let r = run(CaseKind::EcmoVa, 24, |_| 0.0);
        assert_eq!(rules.assess(&r, at(24 * 60)), vec![]);
    }

    #[test]
    fn a_clotting_oxygenator_raises_delta_p_against_its_own_baseline() {
        let rules = EcmoRules::default();
        // ΔP rises from 35 to 35 + 20 mmHg over the last 6 h of a 24 h run (linear).
        let r = run(CaseKind::EcmoVa, 24, |m| {
            if m > 18 * 60 {
                (m - 18 * 60) as f64 / 360.0 * 20.0
            } else {
                0.0
            }
        });
        let f = rules.assess(&r, at(24 * 60));
        assert_eq!(
            kinds(&f),
            [FindingKind::DeltaPRising, FindingKind::DeltaPAboveBaseline],
            "{f:?}"
        );
        // By hand: the last hour's 60 values rise 16.72 → 20 mmHg over 35; their median is
        // 35 + 18.36 = 53.36 mmHg → 13.34 per L/min; 6 h earlier and at the start 8.75;
        // 13.34 / 8.75 = 1.5246 → +52 %.
        assert_eq!(f[0].reason, "ΔP +52 % over 6 h (8.8 → 13.3 mmHg per L/min)");
        assert!(f[1]
            .reason
            .starts_with("ΔP +52 % above this circuit's baseline (8.8 → 13.3"));

        // A fixed high ΔP that never changed is not a clot warning: the run's own values are
        // the reference, not one fixed limit.
        let high = run(CaseKind::EcmoVa, 24, |_| 30.0);
        assert_eq!(rules.assess(&high, at(24 * 60)), vec![]);

        // After an oxygenator change the new circuit is its own baseline.
        let mut changed = r.clone();
        changed.circuit_since = Some(at(23 * 60));
        assert_eq!(rules.assess(&changed, at(24 * 60)), vec![]);
    }

    #[test]
    fn low_flow_low_post_oxygenator_po2_and_anticoagulation_out_of_range() {
        let rules = EcmoRules::default();
        let mut r = run(CaseKind::EcmoVa, 8, |_| 0.0);
        let now = at(8 * 60);
        r.series
            .get_mut(&Signal::Flow)
            .unwrap()
            .last_mut()
            .unwrap()
            .value = 1.2;
        r.series.get_mut(&Signal::PostOxyPo2).unwrap().push(Point {
            at: now,
            value: 120.0,
        });
        r.series.get_mut(&Signal::AntiXa).unwrap().push(Point {
            at: now,
            value: 0.12,
        });
        let f = rules.assess(&r, now);
        let reasons: Vec<&str> = f.iter().map(|f| f.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "flow 1.2 L/min, below 1.5",
                "post-oxygenator pO2 120 mmHg, below 150",
                "anti-Xa 0.12, below 0.3",
            ]
        );
        r.series.get_mut(&Signal::AntiXa).unwrap().push(Point {
            at: now,
            value: 0.75,
        });
        assert!(rules
            .assess(&r, now)
            .iter()
            .any(|f| f.reason == "anti-Xa 0.75, above 0.5"));
    }

    #[test]
    fn a_run_without_laboratory_values_says_so_and_an_aptt_run_is_judged_by_aptt() {
        let rules = EcmoRules::default();
        let mut r = run(CaseKind::EcmoVv, 8, |_| 0.0);
        r.series.remove(&Signal::AntiXa);
        r.series.remove(&Signal::PostOxyPo2);
        let f = rules.assess(&r, at(8 * 60));
        assert_eq!(kinds(&f), [FindingKind::AnticoagulationDue]);
        assert_eq!(
            f[0].reason,
            "no anti-Xa or aPTT result in 8 h 00 min of support"
        );
        // Young runs are not nagged.
        assert_eq!(rules.assess(&r, at(5 * 60)), vec![]);

        r.series.insert(
            Signal::Aptt,
            vec![Point {
                at: at(7 * 60),
                value: 95.0,
            }],
        );
        let f = rules.assess(&r, at(8 * 60));
        assert_eq!(f[0].reason, "aPTT 95 s, above 80");
        let f = rules.assess(&r, at(14 * 60));
        assert!(
            f.iter().any(|f| f.reason == "last aPTT 7 h 00 min ago"),
            "{f:?}"
        );
    }

    #[test]
    fn a_data_gap_is_named_with_its_length_and_never_read_as_values() {
        let rules = EcmoRules::default();
        let r = run(CaseKind::EcmoVa, 6, |_| 0.0);
        let now = at(6 * 60 + 47);
        let f = rules.assess(&r, now);
        assert_eq!(kinds(&f), [FindingKind::NoData]);
        assert_eq!(f[0].reason, "no data for 47 min");
        let mut never = r.clone();
        never.series.clear();
        never.last_device_value = None;
        let f = rules.assess(&never, at(45));
        assert_eq!(f[0].reason, "no data since the run started 45 min ago");
    }

    #[test]
    fn haemolysis_markers_rising_and_vv_recirculation() {
        let rules = EcmoRules::default();
        let mut r = run(CaseKind::EcmoVv, 12, |_| 0.0);
        let now = at(12 * 60);
        r.series.insert(
            Signal::PlasmaFreeHb,
            vec![
                Point {
                    at: at(0),
                    value: 10.0,
                },
                Point {
                    at: at(360),
                    value: 8.0,
                },
                Point {
                    at: at(700),
                    value: 21.0,
                },
            ],
        );
        r.series.insert(
            Signal::Ldh,
            vec![
                Point {
                    at: at(0),
                    value: 400.0,
                },
                Point {
                    at: at(700),
                    value: 480.0,
                },
            ],
        );
        // clinical.md §2.10: R = (S_pre − SvO2) / (S_post − SvO2) = (80 − 65) / (100 − 65) = 43 %.
        for (s, v) in [
            (Signal::PreOxySat, 80.0),
            (Signal::PostOxySat, 100.0),
            (Signal::VenousSat, 65.0),
        ] {
            r.series.insert(s, vec![Point { at: now, value: v }]);
        }
        assert!((recirculation(&r).unwrap() - 15.0 / 35.0).abs() < 1e-12);
        let reasons: Vec<String> = rules
            .assess(&r, now)
            .into_iter()
            .map(|f| f.reason)
            .collect();
        assert_eq!(
            reasons,
            [
                "recirculation 43 %, above 30 %",
                "plasma-free Hb 21 mg/dL, +162 % over 48 h",
            ],
            "LDH +20 % stays under its 30 %"
        );
        // The same saturations on a VA run are not recirculation.
        r.kind = CaseKind::EcmoVa;
        assert!(!kinds(&rules.assess(&r, now)).contains(&FindingKind::Recirculation));
    }

    #[test]
    fn limb_perfusion_on_femoral_va_and_overdue_checks() {
        let rules = EcmoRules::default();
        let mut r = run(CaseKind::EcmoVa, 4, |_| 0.0);
        let now = at(4 * 60);
        r.series.insert(
            Signal::LimbNirs,
            vec![Point {
                at: now,
                value: 41.0,
            }],
        );
        r.checks.push(DueCheck {
            name: "hourly circuit check".into(),
            due: now - Duration::minutes(25),
        });
        r.checks.push(DueCheck {
            name: "shift check".into(),
            due: now - Duration::minutes(10),
        });
        assert_eq!(
            kinds(&rules.assess(&r, now)),
            [FindingKind::CheckOverdue],
            "not femoral: the limb is not judged; the shift check is within its grace"
        );
        r.femoral_arterial = true;
        let f = rules.assess(&r, now);
        assert_eq!(f[0].reason, "limb NIRS 41 %, below 50");
        assert_eq!(f[1].reason, "hourly circuit check overdue by 25 min");
    }

    #[test]
    fn the_board_order_follows_the_weights_with_the_reason_in_words() {
        let rules = EcmoRules::default();
        let now = at(24 * 60);
        let steady = run(CaseKind::EcmoVa, 24, |_| 0.0);
        let clotting = run(CaseKind::EcmoVa, 24, |m| {
            if m > 18 * 60 {
                (m - 18 * 60) as f64 / 360.0 * 20.0
            } else {
                0.0
            }
        });
        let mut silent = run(CaseKind::EcmoVv, 24, |_| 0.0);
        silent.last_device_value = Some(now - Duration::minutes(47));
        let mut low_xa = run(CaseKind::EcmoVv, 24, |_| 0.0);
        low_xa.series.get_mut(&Signal::AntiXa).unwrap().push(Point {
            at: now,
            value: 0.12,
        });
        let runs = vec![
            ("bed 1", steady),
            ("bed 2", low_xa),
            ("bed 3", clotting),
            ("bed 4", silent),
        ];
        let ranked = rank(&rules, &runs, now);
        let order: Vec<&str> = ranked.iter().map(|r| r.key).collect();
        assert_eq!(order, ["bed 4", "bed 3", "bed 2", "bed 1"]);
        assert_eq!(ranked[0].reason(), "no data for 47 min");
        assert!(ranked[1].reason().starts_with("ΔP +52 % over 6 h"));
        assert_eq!(ranked[2].reason(), "anti-Xa 0.12, below 0.3");
        assert_eq!(ranked[3].reason(), "nothing found");

        // The weights are data: a team that puts anticoagulation first gets that order.
        let mut own = rules.clone();
        own.urgency.insert(FindingKind::AnticoagulationOut, 200);
        let order: Vec<&str> = rank(&own, &runs, now).iter().map(|r| r.key).collect();
        assert_eq!(order, ["bed 2", "bed 4", "bed 3", "bed 1"]);
    }

    #[test]
    fn the_newest_oxygenator_or_circuit_change_starts_a_new_baseline() {
        use crate::domain::entry::{CircuitComponent, ComponentKind, Entry, EntryPayload};
        use crate::domain::record::CaseView;
        use crate::domain::{Author, CaseId, EntryId};
        let case = CaseId::new();
        let change = |seq: u64, min: i64, kind: ComponentKind| Entry {
            id: EntryId::new(),
            case_id: case,
            seq,
            occurred_at: at(min),
            recorded_at: at(min),
            author: Author::new("Nia Night", "icu-tablet-2"),
            payload: EntryPayload::CircuitChange {
                component: CircuitComponent {
                    kind,
                    manufacturer: "Acme".into(),
                    model: "Oxy 8000".into(),
                    lot: format!("L{seq}"),
                    expiry: chrono::NaiveDate::from_ymd_opt(2027, 6, 30).unwrap(),
                    udi: None,
                    size: None,
                },
                why: "ΔP rising, clots seen".into(),
            },
            prev_hash: [0; 32],
            hash: [0; 32],
        };
        let entries = vec![
            change(1, 60, ComponentKind::Oxygenator),
            change(2, 300, ComponentKind::TubingPack),
            change(3, 400, ComponentKind::VenousCannula),
        ];
        assert_eq!(circuit_since(&CaseView::derive(&entries)), Some(at(300)));
        assert_eq!(circuit_since(&CaseView::derive(&entries[2..])), None);
    }

    #[test]
    fn a_femoral_arterial_return_from_the_cannulation_form_brings_the_limb_rules() {
        use crate::domain::entry::{Entry, EntryPayload};
        use crate::domain::quick::{cannulation_text, QuickKind};
        use crate::domain::record::CaseView;
        use crate::domain::{Author, CaseId, EntryId};
        let form = |drain: &str, ret: &str, fr: &str| {
            let values: BTreeMap<String, String> = [
                ("drainage", drain),
                ("drainage_fr", "25"),
                ("return_site", ret),
                ("return_fr", fr),
                ("distal_perfusion", "yes"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            QuickKind::Cannulation.build(&values)
        };
        let payload = form("right_femoral_vein", "left_femoral_artery", "17").unwrap();
        assert_eq!(
            cannulation_text(&payload).unwrap(),
            "Drainage 25 Fr right femoral vein; return 17 Fr left femoral artery; distal perfusion cannula"
        );
        // A size no cannula has is refused with the range.
        let e = form("right_femoral_vein", "left_femoral_artery", "170")
            .and_then(|p| p.validate().map(|_| p))
            .unwrap_err();
        assert!(e.to_string().contains("6 to 34 Fr"), "{e}");
        assert!(form("nowhere", "aorta", "17").is_err());

        let case = CaseId::new();
        let entry = |seq: u64, payload: EntryPayload| Entry {
            id: EntryId::new(),
            case_id: case,
            seq,
            occurred_at: at(seq as i64),
            recorded_at: at(seq as i64),
            author: Author::new("Nia Night", "icu-tablet-2"),
            payload,
            prev_hash: [0; 32],
            hash: [0; 32],
        };
        let femoral = vec![entry(1, payload)];
        assert!(femoral_arterial(&CaseView::derive(&femoral)));
        // Re-cannulated to the axillary artery: the newest cannulation counts.
        let mut moved = femoral.clone();
        moved.push(entry(
            2,
            form("right_femoral_vein", "right_axillary_artery", "17").unwrap(),
        ));
        assert!(!femoral_arterial(&CaseView::derive(&moved)));
        assert!(!femoral_arterial(&CaseView::derive(&[])));
    }

    #[test]
    fn the_default_rules_are_consistent_and_inside_their_ranges() {
        let rules = EcmoRules::default();
        assert_eq!(rules.inconsistency(), None);
        for (key, v, lo, hi) in rules.ranges() {
            assert!(v >= lo && v <= hi, "{key} {v} outside {lo}..{hi}");
        }
        let mut bad = rules.clone();
        bad.urgency.remove(&FindingKind::NoData);
        assert_eq!(bad.inconsistency().unwrap().0, "urgency");
    }
}
