//! Case quality: scores defined as data (PerfSCORE v1, v2 or a hospital's own) and quality
//! indicators with the evidence behind each pass or fail (clinical.md section 4).
//!
//! A score is a list of rules. Each rule takes one parameter's values *on bypass* from the case
//! view (blood-gas analytes, ACT results, values typed by hand; artefact-marked entries never
//! count), aggregates them (worst, mean, first, last) and scores the result (z-score bands
//! around an ideal, or a band with points outside it).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::bloodgas::Analyte;
use super::entry::EntryPayload;
use super::record::CaseView;
use super::{ChannelId, EntryId, EventKind, Parameter};

/// Where a rule's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A blood-gas analyte, in its canonical unit (see `bloodgas`).
    Analyte(Analyte),
    /// ACT results (s).
    Act,
    /// Values typed by hand for a monitored parameter (display unit, e.g. °C, %).
    Measurement(Parameter),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// The value farthest from the ideal (or outside the band by the most).
    Worst,
    Mean,
    First,
    Last,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scoring {
    /// z = |v − ideal| / sd; points = number of `cutoffs` z exceeds (PerfSCORE v1: [1, 2]).
    ZScore {
        ideal: f64,
        sd: f64,
        cutoffs: Vec<f64>,
    },
    /// 0 points inside [low, high], `points` outside.
    Band { low: f64, high: f64, points: u32 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    pub source: Source,
    pub aggregation: Aggregation,
    pub scoring: Scoring,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreDefinition {
    pub name: String,
    pub version: String,
    pub reference: String,
    pub rules: Vec<Rule>,
}

/// Where a value a rule used came from: an entry of the record, or a device sample (its channel
/// and, in `Evidence::at`, its receive time).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Origin {
    Entry(EntryId),
    Sample(ChannelId),
}

/// One value that a rule used, with where it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    pub value: f64,
    pub at: DateTime<Utc>,
    pub from: Origin,
}

impl Evidence {
    /// The entry behind the value, when it was an entry.
    pub fn entry(&self) -> Option<EntryId> {
        match self.from {
            Origin::Entry(id) => Some(id),
            Origin::Sample(_) => None,
        }
    }
}

/// A device channel's counted samples, in the parameter's display unit (°C, %, mmHg), in time
/// order: what was monitored, for rules whose source is a monitored parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitored {
    pub parameter: Parameter,
    pub channel: ChannelId,
    pub samples: Vec<(DateTime<Utc>, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleResult {
    pub name: String,
    /// `None` when the case has no value for the rule on bypass.
    pub points: Option<u32>,
    pub max_points: u32,
    /// The aggregated value scored.
    pub value: Option<f64>,
    /// The entry behind the value (for worst/first/last); all values for mean.
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScoreResult {
    pub name: String,
    pub version: String,
    pub total: u32,
    pub max: u32,
    pub rules: Vec<RuleResult>,
}

impl ScoreResult {
    /// Rules that could not be scored (no value on bypass).
    pub fn missing(&self) -> impl Iterator<Item = &str> {
        self.rules
            .iter()
            .filter(|r| r.points.is_none())
            .map(|r| r.name.as_str())
    }
}

/// The bypass intervals of a case (an open interval runs to `now`).
pub fn bypass_intervals(
    view: &CaseView<'_>,
    now: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut open: Option<DateTime<Utc>> = None;
    for (kind, at) in view.events() {
        match kind {
            EventKind::BypassOn if open.is_none() => open = Some(at),
            EventKind::BypassOff => {
                if let Some(s) = open.take() {
                    out.push((s, at));
                }
            }
            _ => {}
        }
    }
    if let Some(s) = open {
        out.push((s, now));
    }
    out
}

/// Values of `source` in the case, in time order, artefact-marked entries excluded.
pub fn values(view: &CaseView<'_>, source: Source) -> Vec<Evidence> {
    values_with(view, &[], source)
}

/// Values of `source` from the record and, for a monitored parameter, from its device
/// channels too. Which source wins: every valid measurement counts at its own time, typed or
/// monitored, and each holds until the next (so a typed spot check between device samples is
/// judged like them, and a device run with no typed value is judged at all).
pub fn values_with(view: &CaseView<'_>, monitored: &[Monitored], source: Source) -> Vec<Evidence> {
    let mut out: Vec<Evidence> = view
        .entries
        .iter()
        .filter(|e| e.artefact.is_none())
        .filter_map(|e| {
            let v = match (source, e.payload) {
                (Source::Analyte(a), EntryPayload::BloodGas(p)) => p.canonical(a),
                (Source::Act, EntryPayload::Act { seconds }) => Some(seconds.to_f64()),
                (
                    Source::Measurement(want),
                    EntryPayload::Measurement {
                        parameter,
                        value,
                        unit,
                    },
                ) if *parameter == want => parameter
                    .to_internal("", value.to_f64(), unit)
                    .ok()
                    .map(|v| parameter.to_display_unit(v)),
                _ => None,
            }?;
            Some(Evidence {
                value: v,
                at: e.occurred_at(),
                from: Origin::Entry(e.original.id),
            })
        })
        .collect();
    if let Source::Measurement(want) = source {
        for m in monitored.iter().filter(|m| m.parameter == want) {
            out.extend(m.samples.iter().map(|(at, v)| Evidence {
                value: *v,
                at: *at,
                from: Origin::Sample(m.channel),
            }));
        }
        out.sort_by_key(|e| e.at);
    }
    out
}

fn on_bypass(v: &[Evidence], intervals: &[(DateTime<Utc>, DateTime<Utc>)]) -> Vec<Evidence> {
    v.iter()
        .filter(|e| intervals.iter().any(|(a, b)| e.at >= *a && e.at <= *b))
        .copied()
        .collect()
}

impl Scoring {
    fn max_points(&self) -> u32 {
        match self {
            Scoring::ZScore { cutoffs, .. } => cutoffs.len() as u32,
            Scoring::Band { points, .. } => *points,
        }
    }

    /// How far `v` is from good (0 = ideal or inside the band); used to find the worst value.
    fn distance(&self, v: f64) -> f64 {
        match self {
            Scoring::ZScore { ideal, sd, .. } => (v - ideal).abs() / sd,
            Scoring::Band { low, high, .. } => (low - v).max(v - high).max(0.0),
        }
    }

    fn points(&self, v: f64) -> u32 {
        match self {
            Scoring::ZScore { ideal, sd, cutoffs } => cutoffs
                .iter()
                .filter(|c| beyond(v, *ideal, *sd, **c))
                .count() as u32,
            Scoring::Band { points, .. } => {
                if self.distance(v) > 0.0 {
                    *points
                } else {
                    0
                }
            }
        }
    }
}

/// `|v − ideal| > cutoff × sd`, decided on the decimals as written (a value of 7.35 against
/// 7.40 ± 0.05 is exactly one SD away, which f64 division puts at 1.0000000000000142). Each
/// number is taken at its shortest round-trip decimal form; numbers with no such form of 16
/// digits or fewer fall back to f64.
fn beyond(v: f64, ideal: f64, sd: f64, cutoff: f64) -> bool {
    exact_beyond(v, ideal, sd, cutoff).unwrap_or_else(|| (v - ideal).abs() > cutoff * sd)
}

fn exact_beyond(v: f64, ideal: f64, sd: f64, cutoff: f64) -> Option<bool> {
    let d = |x: f64| x.to_string().parse::<super::Decimal>().ok();
    let (v, ideal, sd, cutoff) = (d(v)?, d(ideal)?, d(sd)?, d(cutoff)?);
    // Everything as integers over 10^-e, e the smallest exponent in play.
    let limit_exp = i32::from(sd.exponent) + i32::from(cutoff.exponent);
    let e = i32::from(v.exponent)
        .min(i32::from(ideal.exponent))
        .min(limit_exp);
    let scale = |m: i128, exp: i32| -> Option<i128> {
        m.checked_mul(10i128.checked_pow(u32::try_from(exp - e).ok()?)?)
    };
    let diff = scale(i128::from(v.mantissa), i32::from(v.exponent))?
        .checked_sub(scale(
            i128::from(ideal.mantissa),
            i32::from(ideal.exponent),
        )?)?
        .checked_abs()?;
    let limit = scale(
        i128::from(sd.mantissa).checked_mul(i128::from(cutoff.mantissa))?,
        limit_exp,
    )?;
    Some(diff > limit)
}

impl ScoreDefinition {
    /// Score a case from its view. Only values during bypass count.
    pub fn evaluate(&self, view: &CaseView<'_>, now: DateTime<Utc>) -> ScoreResult {
        self.evaluate_with(view, &[], now)
    }

    /// Score a case from its view and what its devices monitored.
    pub fn evaluate_with(
        &self,
        view: &CaseView<'_>,
        monitored: &[Monitored],
        now: DateTime<Utc>,
    ) -> ScoreResult {
        let intervals = bypass_intervals(view, now);
        let rules: Vec<RuleResult> = self
            .rules
            .iter()
            .map(|rule| {
                let vals = on_bypass(&values_with(view, monitored, rule.source), &intervals);
                let (value, evidence) = match rule.aggregation {
                    Aggregation::Worst => {
                        let worst =
                            vals.iter()
                                .copied()
                                .fold(None::<Evidence>, |acc, e| match acc {
                                    Some(a)
                                        if rule.scoring.distance(a.value)
                                            >= rule.scoring.distance(e.value) =>
                                    {
                                        Some(a)
                                    }
                                    _ => Some(e),
                                });
                        (worst.map(|e| e.value), worst.into_iter().collect())
                    }
                    Aggregation::Mean if !vals.is_empty() => (
                        Some(vals.iter().map(|e| e.value).sum::<f64>() / vals.len() as f64),
                        vals.clone(),
                    ),
                    Aggregation::Mean => (None, vec![]),
                    Aggregation::First => (
                        vals.first().map(|e| e.value),
                        vals.first().copied().into_iter().collect(),
                    ),
                    Aggregation::Last => (
                        vals.last().map(|e| e.value),
                        vals.last().copied().into_iter().collect(),
                    ),
                };
                RuleResult {
                    name: rule.name.clone(),
                    points: value.map(|v| rule.scoring.points(v)),
                    max_points: rule.scoring.max_points(),
                    value,
                    evidence,
                }
            })
            .collect();
        ScoreResult {
            name: self.name.clone(),
            version: self.version.clone(),
            total: rules.iter().filter_map(|r| r.points).sum(),
            max: rules.iter().map(|r| r.max_points).sum(),
            rules,
        }
    }
}

/// A quality indicator as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum IndicatorCheck {
    /// Every value on bypass below `limit` (e.g. arterial outlet < 37 °C).
    AllBelow { limit: f64 },
    /// Every value on bypass at or above `limit` (e.g. ACT ≥ 480 s).
    AllAtLeast { limit: f64 },
    /// Every value on bypass within [low, high] (e.g. PaCO2 35–45 mmHg).
    AllWithin { low: f64, high: f64 },
    /// Never below `limit` for longer than `minutes` (each value holds until the next).
    NotBelowFor { limit: f64, minutes: f64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    pub name: String,
    pub source: Source,
    #[serde(flatten)]
    pub check: IndicatorCheck,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorResult {
    pub name: String,
    /// `None`: no value on bypass, so not evaluated.
    pub passed: Option<bool>,
    /// The values that failed the check (empty when passed).
    pub failing: Vec<Evidence>,
    /// For `NotBelowFor`: the longest time below the limit.
    pub longest_below: Option<Duration>,
}

impl Indicator {
    pub fn evaluate(&self, view: &CaseView<'_>, now: DateTime<Utc>) -> IndicatorResult {
        self.evaluate_with(view, &[], now)
    }

    /// Evaluate on the record and what the case's devices monitored.
    pub fn evaluate_with(
        &self,
        view: &CaseView<'_>,
        monitored: &[Monitored],
        now: DateTime<Utc>,
    ) -> IndicatorResult {
        let intervals = bypass_intervals(view, now);
        let vals = on_bypass(&values_with(view, monitored, self.source), &intervals);
        let mut r = IndicatorResult {
            name: self.name.clone(),
            passed: None,
            failing: vec![],
            longest_below: None,
        };
        if vals.is_empty() {
            return r;
        }
        let bad = |v: f64| match self.check {
            IndicatorCheck::AllBelow { limit } => v >= limit,
            IndicatorCheck::AllAtLeast { limit } => v < limit,
            IndicatorCheck::AllWithin { low, high } => v < low || v > high,
            IndicatorCheck::NotBelowFor { .. } => false,
        };
        if let IndicatorCheck::NotBelowFor { limit, minutes } = self.check {
            let end = intervals.last().map(|i| i.1).unwrap_or(now);
            let mut longest = Duration::zero();
            let mut run: Option<(DateTime<Utc>, Vec<Evidence>)> = None;
            let mut worst_run = vec![];
            for (i, e) in vals.iter().enumerate() {
                let next = vals.get(i + 1).map(|n| n.at).unwrap_or(end);
                if e.value < limit {
                    let start = run.get_or_insert((e.at, vec![]));
                    start.1.push(*e);
                    let len = next - start.0;
                    if len > longest {
                        longest = len;
                        worst_run = start.1.clone();
                    }
                } else {
                    run = None;
                }
            }
            let allowed = Duration::milliseconds((minutes * 60_000.0) as i64);
            r.passed = Some(longest <= allowed);
            r.longest_below = Some(longest);
            if longest > allowed {
                r.failing = worst_run;
            }
            return r;
        }
        r.failing = vals.iter().filter(|e| bad(e.value)).copied().collect();
        r.passed = Some(r.failing.is_empty());
        r
    }
}

/// Pass rate of each indicator across cases: (name, passed, evaluated).
pub fn pass_rates(results: &[Vec<IndicatorResult>]) -> Vec<(String, u32, u32)> {
    let mut out: Vec<(String, u32, u32)> = Vec::new();
    for case in results {
        for r in case {
            let i = match out.iter().position(|(n, ..)| *n == r.name) {
                Some(i) => i,
                None => {
                    out.push((r.name.clone(), 0, 0));
                    out.len() - 1
                }
            };
            let slot = &mut out[i];
            if let Some(p) = r.passed {
                slot.2 += 1;
                if p {
                    slot.1 += 1;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_band_edges_score_in_the_lower_band() {
        let ph = Scoring::ZScore {
            ideal: 7.40,
            sd: 0.05,
            cutoffs: vec![1.0, 2.0],
        };
        assert_eq!(ph.points(7.35), 0, "one SD exactly is not beyond one SD");
        assert_eq!(ph.points(7.45), 0);
        assert_eq!(ph.points(7.34), 1);
        assert_eq!(ph.points(7.30), 1, "two SD exactly");
        assert_eq!(ph.points(7.29), 2);
        let temp = Scoring::ZScore {
            ideal: 37.2,
            sd: 0.2,
            cutoffs: vec![1.0, 2.0],
        };
        assert_eq!(temp.points(37.0), 0);
        assert_eq!(temp.points(36.8), 1);
        assert_eq!(temp.points(36.79), 2);
        // A value with no short decimal form still scores (on f64).
        assert_eq!(temp.points(0.1 + 0.2), 2);
    }
}
