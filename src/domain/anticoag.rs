//! Anticoagulation as the protocol says (clinical.md 2.7), derived from the record alone: the
//! heparin given, the ACTs and where they stand against the protocol's target, the gate before
//! bypass, the top-up a low ACT suggests, the ACT advisory on bypass and the protamine dose from
//! the heparin actually given.
//!
//! Which ACT counts: the newest one taken after the newest heparin dose and after any protamine.
//! A dose after the last ACT needs a new ACT before it tells anything; protamine reverses what
//! came before it. Entries marked artefact or retracted count for nothing. Pure: the record and
//! the protocol come in as arguments.

use chrono::{DateTime, Utc};

use super::calc::anticoagulation::{bull_additional_heparin, protamine_dose};
use super::calc::{CalcError, Calculated};
use super::entry::EntryPayload;
use super::protocol::Protocol;
use super::record::CaseView;
use super::EventKind;

/// One dose or reading with its clinical time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timed {
    pub at: DateTime<Utc>,
    pub value: f64,
}

/// The anticoagulation of a case as its record stands.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Anticoagulation {
    /// Heparin doses, oldest first (IU).
    pub heparin: Vec<Timed>,
    /// Protamine doses, oldest first (mg).
    pub protamine: Vec<Timed>,
    /// Every ACT, oldest first (s).
    pub acts: Vec<Timed>,
    /// The target from the protocol (s).
    pub target_s: f64,
    /// The newest override of the anticoagulation gate since the newest bypass start: when, why.
    pub override_reason: Option<(DateTime<Utc>, String)>,
    /// Bypass running now.
    pub on_bypass: bool,
}

/// Why bypass may not start yet, in words a perfusionist reads in a second.
#[derive(Debug, Clone, PartialEq)]
pub enum Held {
    NoHeparin,
    /// Heparin given, no ACT since (the dose's time).
    NoActSince {
        dose_at: DateTime<Utc>,
    },
    /// Protamine given after the last heparin or ACT.
    Reversed {
        at: DateTime<Utc>,
    },
    /// The counting ACT is below target.
    Low {
        act_s: f64,
        target_s: f64,
    },
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Held::NoHeparin => write!(f, "no heparin recorded"),
            Held::NoActSince { dose_at } => write!(
                f,
                "no ACT recorded since the heparin at {}",
                dose_at.format("%H:%M")
            ),
            Held::Reversed { at } => write!(
                f,
                "protamine was given at {}: heparin and a new ACT are needed",
                at.format("%H:%M")
            ),
            Held::Low { act_s, target_s } => {
                write!(f, "ACT {act_s:.0} s is below the target of {target_s:.0} s")
            }
        }
    }
}

/// The heparin form's suggestion.
#[derive(Debug, Clone, PartialEq)]
pub enum HeparinSuggestion {
    /// Nothing given yet: the loading dose for the patient's weight.
    Loading,
    /// The counting ACT is below target: the Bull top-up (IU) and how it was computed.
    TopUp(Calculated),
    /// Below target, but no dose–response line can be drawn (why).
    TopUpUnknown(String),
    /// Given, and the ACT (if any) is at target: no dose suggested.
    None,
}

impl Anticoagulation {
    pub fn derive(view: &CaseView, protocol: &Protocol) -> Self {
        let mut out = Anticoagulation {
            target_s: protocol.anticoagulation.act_target_s,
            ..Default::default()
        };
        let mut last_bypass_on = None;
        let mut running = false;
        for e in view.entries.iter() {
            let at = e.occurred_at();
            match e.payload {
                EntryPayload::Event { event } => match event {
                    EventKind::BypassOn => {
                        running = true;
                        last_bypass_on = Some(at);
                    }
                    EventKind::BypassOff => running = false,
                    _ => {}
                },
                // An override is recorded whatever the entry's artefact mark.
                EntryPayload::AnticoagulationOverride { reason } => {
                    out.override_reason = Some((at, reason.clone()))
                }
                _ => {}
            }
            if e.artefact.is_some() {
                continue;
            }
            match e.payload {
                EntryPayload::Heparin { units } => out.heparin.push(Timed {
                    at,
                    value: units.to_f64(),
                }),
                EntryPayload::Protamine { mg } => out.protamine.push(Timed {
                    at,
                    value: mg.to_f64(),
                }),
                EntryPayload::Act { seconds } => out.acts.push(Timed {
                    at,
                    value: seconds.to_f64(),
                }),
                _ => {}
            }
        }
        // An override covers the next start only.
        if let (Some((at, _)), Some(on)) = (&out.override_reason, last_bypass_on) {
            if *at <= on {
                out.override_reason = None;
            }
        }
        out.on_bypass = running;
        out
    }

    /// Total heparin given (IU).
    pub fn heparin_given(&self) -> f64 {
        self.heparin.iter().map(|d| d.value).sum()
    }

    fn last_reversal(&self) -> Option<DateTime<Utc>> {
        self.protamine.last().map(|p| p.at)
    }

    /// The ACT that tells where the patient stands now: the newest, when it was taken after
    /// the newest heparin dose and after any protamine.
    pub fn counting_act(&self) -> Option<Timed> {
        let act = *self.acts.last()?;
        let dose_after = self.heparin.last().is_some_and(|d| d.at > act.at);
        let reversed_after = self.last_reversal().is_some_and(|p| p > act.at);
        (!dose_after && !reversed_after).then_some(act)
    }

    /// The newest ACT before any heparin (the baseline of the dose–response line).
    pub fn baseline(&self) -> Option<Timed> {
        let first = self.heparin.first().map(|d| d.at);
        self.acts
            .iter()
            .rev()
            .find(|a| first.is_none_or(|f| a.at < f))
            .copied()
    }

    /// Heparin may be considered adequate for bypass: `Ok`, or what is missing.
    pub fn adequacy(&self) -> Result<Timed, Held> {
        let Some(last_dose) = self.heparin.last() else {
            return Err(Held::NoHeparin);
        };
        if let Some(p) = self.last_reversal() {
            if p > last_dose.at {
                return Err(Held::Reversed { at: p });
            }
        }
        match self.counting_act() {
            None => Err(Held::NoActSince {
                dose_at: last_dose.at,
            }),
            Some(act) if act.value < self.target_s => Err(Held::Low {
                act_s: act.value,
                target_s: self.target_s,
            }),
            Some(act) => Ok(act),
        }
    }

    /// The bypass gate: starting bypass wants heparin given and an ACT at or above the
    /// protocol's target after it, or an override (with a reason) recorded since the last start.
    pub fn bypass_gate(&self) -> Result<(), Held> {
        match self.adequacy() {
            Ok(_) => Ok(()),
            Err(_) if self.override_reason.is_some() => Ok(()),
            Err(h) => Err(h),
        }
    }

    /// On bypass with the counting ACT below target: the advisory's text. Pumpside advises
    /// only; the heart-lung machine keeps the primary alarms.
    pub fn advisory(&self) -> Option<String> {
        if !self.on_bypass {
            return None;
        }
        let act = self.counting_act()?;
        (act.value < self.target_s).then(|| {
            format!(
                "ACT {:.0} s at {} is below the target of {:.0} s on bypass",
                act.value,
                act.at.format("%H:%M"),
                self.target_s
            )
        })
    }

    /// What the heparin form suggests.
    pub fn heparin_suggestion(&self) -> HeparinSuggestion {
        if self.heparin.is_empty() {
            return HeparinSuggestion::Loading;
        }
        let Some(act) = self.counting_act() else {
            return HeparinSuggestion::None;
        };
        if act.value >= self.target_s {
            return HeparinSuggestion::None;
        }
        let Some(base) = self.baseline() else {
            return HeparinSuggestion::TopUpUnknown(
                "no baseline ACT before the first heparin: no dose–response line".into(),
            );
        };
        // The line through the baseline and the counting ACT with all heparin given before it.
        let given: f64 = self
            .heparin
            .iter()
            .filter(|d| d.at <= act.at)
            .map(|d| d.value)
            .sum();
        match bull_additional_heparin(base.value, given, act.value, self.target_s, act.value) {
            Ok(c) => HeparinSuggestion::TopUp(c),
            Err(e) => HeparinSuggestion::TopUpUnknown(e.to_string()),
        }
    }

    /// Protamine for the heparin actually given, at the protocol's ratio.
    pub fn protamine(&self, protocol: &Protocol) -> Result<Calculated, CalcError> {
        let given = self.heparin_given();
        if given <= 0.0 {
            return Err(CalcError::Undefined(
                "no heparin recorded on this case".into(),
            ));
        }
        protamine_dose(given, protocol.anticoagulation.protamine_mg_per_100u)
    }

    /// An ACT of `seconds` taken at `at` is low: heparin had been given and it is below the
    /// target (a baseline ACT before heparin is not low).
    pub fn act_low(&self, seconds: f64, at: DateTime<Utc>) -> bool {
        self.heparin.iter().any(|d| d.at <= at) && seconds < self.target_s
    }
}

/// An anticoagulation test an ECMO run follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Test {
    /// Anti-factor Xa activity, IU/mL.
    AntiXa,
    /// Activated partial thromboplastin time, s.
    Aptt,
    /// Activated clotting time, s.
    Act,
}

impl Test {
    pub fn label(self) -> &'static str {
        match self {
            Test::AntiXa => "anti-Xa",
            Test::Aptt => "aPTT",
            Test::Act => "ACT",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Test::AntiXa => "IU/mL",
            Test::Aptt | Test::Act => "s",
        }
    }
}

/// Where a result stands against the run's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Low,
    InRange,
    High,
    /// The protocol sets no range for this test on ECMO (the ACT: its bypass target is not an
    /// ECMO target).
    NoRange,
}

/// One line of the chart: a dose given or set, or a result.
#[derive(Debug, Clone, PartialEq)]
pub enum ChartItem {
    Dose {
        at: DateTime<Utc>,
        /// The drug as recorded ("Heparin" for a bolus).
        drug: String,
        /// The dose as recorded, with its unit ("5000 IU", "5 mg").
        amount: String,
    },
    Result {
        at: DateTime<Utc>,
        test: Test,
        /// As recorded (the record's decimal, not a float's rounding).
        text: String,
        value: f64,
        standing: Standing,
    },
}

impl ChartItem {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            ChartItem::Dose { at, .. } | ChartItem::Result { at, .. } => *at,
        }
    }
}

/// An ECMO run's anticoagulation, doses and results together, oldest first: heparin doses,
/// every drug entry of an anticoagulant (heparin, bivalirudin, argatroban), the anti-Xa and aPTT
/// results (against the run's range: the protocol's
/// `[ecmo]` rules with the run's own ranges applied) and the ACTs. Entries marked artefact count
/// for nothing; corrections are applied (the view's).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EcmoAnticoagulation {
    pub items: Vec<ChartItem>,
    /// (low, high) per test the rules set a range for.
    pub ranges: Vec<(Test, f64, f64)>,
}

/// Whether a recorded drug is an anticoagulant the chart shows (by name, as the Drug form lets
/// it be typed: the generic names of the anticoagulants ELSO's guideline lists for ECMO).
pub fn is_anticoagulant(name: &str) -> bool {
    let n = name.to_lowercase();
    ["heparin", "bivalirudin", "argatroban"]
        .iter()
        .any(|d| n.contains(d))
}

impl EcmoAnticoagulation {
    pub fn derive(view: &CaseView, rules: &super::ecmo::EcmoRules) -> Self {
        use super::Parameter;
        let ranges = vec![
            (Test::AntiXa, rules.anti_xa_low, rules.anti_xa_high),
            (Test::Aptt, rules.aptt_low, rules.aptt_high),
        ];
        let standing = |test: Test, v: f64| match ranges.iter().find(|(t, _, _)| *t == test) {
            Some((_, lo, _)) if v < *lo => Standing::Low,
            Some((_, _, hi)) if v > *hi => Standing::High,
            Some(_) => Standing::InRange,
            None => Standing::NoRange,
        };
        let mut items = Vec::new();
        for e in view.entries.iter().filter(|e| e.artefact.is_none()) {
            let at = e.occurred_at();
            let item = match e.payload {
                EntryPayload::Heparin { units } => ChartItem::Dose {
                    at,
                    drug: "Heparin".into(),
                    amount: format!("{units} IU"),
                },
                EntryPayload::Drug {
                    name, dose, unit, ..
                } if is_anticoagulant(name) => ChartItem::Dose {
                    at,
                    drug: name.clone(),
                    amount: format!("{dose} {}", super::live::readable_unit(unit)),
                },
                EntryPayload::Act { seconds } => ChartItem::Result {
                    at,
                    test: Test::Act,
                    text: seconds.to_string(),
                    value: seconds.to_f64(),
                    standing: Standing::NoRange,
                },
                EntryPayload::Measurement {
                    parameter,
                    value,
                    unit,
                } => {
                    let test = match *parameter {
                        Parameter::AntiXa => Test::AntiXa,
                        Parameter::Aptt => Test::Aptt,
                        _ => continue,
                    };
                    // In the test's own unit (a result typed in another unit is converted).
                    let Ok(v) = parameter.to_internal("measurement", value.to_f64(), unit) else {
                        continue;
                    };
                    let v = parameter.to_display_unit(v);
                    if !v.is_finite() {
                        continue;
                    }
                    ChartItem::Result {
                        at,
                        test,
                        text: value.to_string(),
                        value: v,
                        standing: standing(test, v),
                    }
                }
                _ => continue,
            };
            items.push(item);
        }
        items.sort_by_key(|i| i.at());
        EcmoAnticoagulation { items, ranges }
    }

    /// The doses, oldest first: (when, drug and amount).
    pub fn doses(&self) -> Vec<(DateTime<Utc>, String)> {
        self.items
            .iter()
            .filter_map(|i| match i {
                ChartItem::Dose { at, drug, amount } => Some((*at, format!("{drug} {amount}"))),
                _ => None,
            })
            .collect()
    }

    /// The results of one test, oldest first.
    pub fn results(&self, test: Test) -> Vec<(DateTime<Utc>, f64, Standing)> {
        self.items
            .iter()
            .filter_map(|i| match i {
                ChartItem::Result {
                    at,
                    test: t,
                    value,
                    standing,
                    ..
                } if *t == test => Some((*at, *value, *standing)),
                _ => None,
            })
            .collect()
    }

    /// The newest dose given at or before `at` and how long before, for the table's "dose and
    /// result together".
    pub fn dose_before(&self, at: DateTime<Utc>) -> Option<(DateTime<Utc>, String)> {
        self.doses().into_iter().rev().find(|(t, _)| *t <= at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::entry::Entry;
    use crate::domain::ids::EntryId;
    use crate::domain::{Author, CaseId, Decimal};
    use chrono::{Duration, TimeZone};

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap() + Duration::minutes(min)
    }

    /// A fixture case: (minute, payload) in order.
    fn case(steps: Vec<(i64, EntryPayload)>) -> Vec<Entry> {
        steps
            .into_iter()
            .enumerate()
            .map(|(i, (m, payload))| Entry {
                id: EntryId::new(),
                case_id: CaseId::new(),
                seq: i as u64 + 1,
                occurred_at: t(m),
                recorded_at: t(m),
                author: Author::new("Test perfusionist", "tablet"),
                payload,
                prev_hash: [0; 32],
                hash: [0; 32],
            })
            .collect()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }
    fn heparin(u: &str) -> EntryPayload {
        EntryPayload::Heparin { units: d(u) }
    }
    fn act(s: &str) -> EntryPayload {
        EntryPayload::Act { seconds: d(s) }
    }
    fn on() -> EntryPayload {
        EntryPayload::Event {
            event: EventKind::BypassOn,
        }
    }

    /// An ECMO run's chart: heparin doses (and a bivalirudin dose) with the anti-Xa, aPTT and
    /// ACT results, each result against the run's range and beside the newest dose before it;
    /// an artefact result and a drug that is not an anticoagulant are left out; the run's own
    /// anti-Xa range moves the standing.
    #[test]
    fn an_ecmo_runs_chart_puts_doses_and_results_together() {
        use crate::domain::ecmo::EcmoRules;
        use crate::domain::Parameter;
        let drug = |name: &str, dose: &str, unit: &str| EntryPayload::Drug {
            name: name.into(),
            dose: d(dose),
            unit: unit.into(),
            volume_ml: None,
        };
        let measured = |p: Parameter, v: &str, unit: &str| EntryPayload::Measurement {
            parameter: p,
            value: d(v),
            unit: unit.into(),
        };
        let mut entries = case(vec![
            (0, heparin("5000")),
            (300, measured(Parameter::AntiXa, "0.18", "IU/mL")),
            (310, drug("Heparin", "2000", "[iU]")),
            (320, drug("Noradrenaline", "0.1", "mg")),
            (600, measured(Parameter::AntiXa, "0.35", "IU/mL")),
            (610, measured(Parameter::Aptt, "95", "s")),
            (615, drug("Bivalirudin", "5", "mg")),
            (620, act("190")),
            (630, measured(Parameter::AntiXa, "0.90", "IU/mL")),
        ]);
        for e in &entries {
            e.payload.validate().unwrap();
        }
        // The last anti-Xa is marked artefact (drawn from the heparin line).
        let target = entries.last().unwrap().id;
        let mut mark = entries[0].clone();
        mark.id = EntryId::new();
        mark.seq = 99;
        mark.payload = EntryPayload::ArtefactMark {
            target: crate::domain::entry::ArtefactTarget::Entry(target),
            reason: "drawn from the heparin line".into(),
        };
        entries.push(mark);
        let view = CaseView::derive(&entries);
        let rules = EcmoRules::default();
        let chart = EcmoAnticoagulation::derive(&view, &rules);
        assert_eq!(chart.items.len(), 7, "{:#?}", chart.items);
        assert_eq!(
            chart.doses(),
            vec![
                (t(0), "Heparin 5000 IU".to_string()),
                (t(310), "Heparin 2000 IU".to_string()),
                (t(615), "Bivalirudin 5 mg".to_string())
            ]
        );
        assert_eq!(
            chart.results(Test::AntiXa),
            vec![
                (t(300), 0.18, Standing::Low),
                (t(600), 0.35, Standing::InRange)
            ]
        );
        assert_eq!(
            chart.results(Test::Aptt),
            vec![(t(610), 95.0, Standing::High)]
        );
        assert_eq!(
            chart.results(Test::Act),
            vec![(t(620), 190.0, Standing::NoRange)]
        );
        assert_eq!(
            chart.dose_before(t(300)),
            Some((t(0), "Heparin 5000 IU".to_string()))
        );
        assert_eq!(
            chart.dose_before(t(620)),
            Some((t(615), "Bivalirudin 5 mg".to_string()))
        );
        assert_eq!(chart.dose_before(t(-1)), None);
        // The run's own range (kept low for bleeding): 0.18 is in range.
        let mut own = rules.clone();
        own.set("anti_xa_low", 0.15).unwrap();
        let chart = EcmoAnticoagulation::derive(&view, &own);
        assert_eq!(chart.results(Test::AntiXa)[0].2, Standing::InRange);
        assert!(is_anticoagulant("Bivalirudin") && !is_anticoagulant("Noradrenaline"));
    }

    fn derive(entries: &[Entry]) -> Anticoagulation {
        let p = Protocol::defaults().unwrap();
        Anticoagulation::derive(&CaseView::derive(entries), &p)
    }

    #[test]
    fn the_gate_wants_heparin_then_an_act_at_target_after_it() {
        assert_eq!(derive(&case(vec![])).bypass_gate(), Err(Held::NoHeparin));
        let given = case(vec![(0, act("120")), (5, heparin("24000"))]);
        assert_eq!(
            derive(&given).bypass_gate(),
            Err(Held::NoActSince { dose_at: t(5) })
        );
        // The ACT of 250 s the checklist once accepted in green.
        let low = case(vec![
            (0, act("120")),
            (5, heparin("24000")),
            (8, act("250")),
        ]);
        assert_eq!(
            derive(&low).bypass_gate(),
            Err(Held::Low {
                act_s: 250.0,
                target_s: 480.0
            })
        );
        let ok = case(vec![
            (0, act("120")),
            (5, heparin("24000")),
            (8, act("480")),
        ]);
        assert_eq!(derive(&ok).bypass_gate(), Ok(()));
        // A top-up after the adequate ACT needs an ACT of its own.
        let topped = case(vec![
            (5, heparin("24000")),
            (8, act("520")),
            (9, heparin("5000")),
        ]);
        assert_eq!(
            derive(&topped).bypass_gate(),
            Err(Held::NoActSince { dose_at: t(9) })
        );
    }

    #[test]
    fn protamine_reverses_and_an_artefact_act_counts_for_nothing() {
        let reversed = case(vec![
            (5, heparin("24000")),
            (8, act("520")),
            (60, EntryPayload::Protamine { mg: d("240") }),
        ]);
        assert_eq!(
            derive(&reversed).bypass_gate(),
            Err(Held::Reversed { at: t(60) })
        );
        let mut marked = case(vec![(5, heparin("24000")), (8, act("520"))]);
        let target = marked[1].id;
        marked.extend(case(vec![(
            9,
            EntryPayload::ArtefactMark {
                target: crate::domain::entry::ArtefactTarget::Entry(target),
                reason: "sample from the flush line".into(),
            },
        )]));
        for (i, e) in marked.iter_mut().enumerate() {
            e.seq = i as u64 + 1;
        }
        assert_eq!(
            derive(&marked).bypass_gate(),
            Err(Held::NoActSince { dose_at: t(5) })
        );
    }

    #[test]
    fn an_override_with_a_reason_opens_the_gate_for_the_next_start_only() {
        let over = case(vec![
            (5, heparin("24000")),
            (8, act("400")),
            (
                9,
                EntryPayload::AnticoagulationOverride {
                    reason: "emergency: surgeon's decision, ACT repeated on bypass".into(),
                },
            ),
        ]);
        assert_eq!(derive(&over).bypass_gate(), Ok(()));
        let mut then_started = over.clone();
        then_started.extend(case(vec![(10, on())]));
        for (i, e) in then_started.iter_mut().enumerate() {
            e.seq = i as u64 + 1;
        }
        let a = derive(&then_started);
        assert!(a.override_reason.is_none(), "used by the start at 08:10");
        assert!(a.bypass_gate().is_err());
    }

    #[test]
    fn top_up_from_the_bull_line_matches_the_worked_vector() {
        // clinical.md 2.7: base 120, 24,000 U → 400 s, target 480 → 6,857 U.
        let low = case(vec![
            (0, act("120")),
            (5, heparin("24000")),
            (8, act("400")),
        ]);
        match derive(&low).heparin_suggestion() {
            HeparinSuggestion::TopUp(c) => assert!((c.value - 6857.0).abs() < 1.0, "{}", c.value),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            derive(&case(vec![])).heparin_suggestion(),
            HeparinSuggestion::Loading
        );
        let fine = case(vec![
            (0, act("120")),
            (5, heparin("24000")),
            (8, act("500")),
        ]);
        assert_eq!(derive(&fine).heparin_suggestion(), HeparinSuggestion::None);
        let no_base = case(vec![(5, heparin("24000")), (8, act("400"))]);
        assert!(matches!(
            derive(&no_base).heparin_suggestion(),
            HeparinSuggestion::TopUpUnknown(_)
        ));
    }

    #[test]
    fn protamine_follows_the_heparin_given_and_the_protocol_ratio() {
        let p = Protocol::defaults().unwrap();
        let given = case(vec![(5, heparin("24000")), (40, heparin("5000"))]);
        let a = derive(&given);
        assert_eq!(a.protamine(&p).unwrap().value, 290.0);
        let mut q = p.clone();
        q.anticoagulation.protamine_mg_per_100u = 0.8;
        // clinical.md 2.7: 32,000 U at 0.8 → 256 mg.
        let vector = derive(&case(vec![(5, heparin("32000"))]));
        assert!((vector.protamine(&q).unwrap().value - 256.0).abs() < 1e-9);
        assert!(derive(&case(vec![])).protamine(&p).is_err());
    }

    #[test]
    fn act_below_target_on_bypass_is_an_advisory() {
        let steps = vec![
            (5, heparin("24000")),
            (8, act("520")),
            (10, on()),
            (40, act("420")),
        ];
        let a = derive(&case(steps.clone()));
        let text = a.advisory().expect("ACT 420 on bypass raises an advisory");
        assert!(text.contains("420") && text.contains("480"), "{text}");
        let mut after = steps;
        after.push((45, heparin("5000")));
        after.push((48, act("500")));
        assert!(derive(&case(after)).advisory().is_none());
        // Before bypass the gate speaks, not the advisory.
        assert!(derive(&case(vec![(5, heparin("24000")), (8, act("420"))]))
            .advisory()
            .is_none());
    }
}
