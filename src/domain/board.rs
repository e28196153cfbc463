//! The live board: what the Live screen shows for each parameter at a moment, computed from the
//! live device values, the case record (values typed by hand, events) and the protocol. Pure:
//! the time comes in as an argument, so the tests drive it with fixed clocks.
//!
//! Colouring follows the protocol's bands, and only on bypass: the MAP band, the arterial outlet
//! maximum and the DO2i threshold are bypass targets, and a low MAP before cannulation is not
//! a perfusion finding. Off bypass a tile shows its value without a level.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::anticoag::Anticoagulation;
use super::bloodgas::Analyte;
use super::calc::body::{
    bsa, estimated_blood_volume, target_flow, BsaFormula, EbvModel, Sex as BodySex,
};
use super::calc::{anticoagulation, cardioplegia, haemodilution, CalcError};
use super::patient::Patient;
use super::patient::Sex;
use super::protocol::Flag;
use super::protocol::Protocol;
use super::record::CaseView;
use super::timeline::{latest_analytes, Part};
use super::{CaseKind, EntryPayload, EventKind, LiveSnapshot, Parameter};

/// A device value older than this is stale (1 Hz devices: five missed values).
pub const DEVICE_STALE_AFTER_S: i64 = 5;
/// A value typed by hand is stale after this (spot values: a blood gas, a manual reading).
pub const MANUAL_STALE_AFTER_MIN: i64 = 30;

/// How far under the target flow a flow may be before its tile is flagged low.
pub const FLOW_MARGIN: f64 = 0.10;

/// The CPB tiles, in reading order for a perfusionist (the catalogue's tiles for CPB, in this
/// order; other kinds of support take the catalogue's order, [`Parameter::tiles`]).
pub const BOARD: [Parameter; 12] = [
    Parameter::PumpFlow,
    Parameter::MeanArterialPressure,
    Parameter::Do2i,
    Parameter::VenousSaturation,
    Parameter::Haematocrit,
    Parameter::ArterialOutletTemp,
    Parameter::VenousInflowTemp,
    Parameter::PatientTemp,
    Parameter::ArterialLinePressure,
    Parameter::SweepGas,
    Parameter::Fio2,
    Parameter::Spo2,
];

/// Where a value stands against the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Inside the band, or no band applies now.
    Normal,
    Low,
    High,
    /// The newest value is older than its staleness limit: not coloured, marked stale.
    Stale,
    /// No value from any source.
    Missing,
}

impl Level {
    /// CSS class and test id.
    pub fn code(self) -> &'static str {
        match self {
            Level::Normal => "normal",
            Level::Low => "low",
            Level::High => "high",
            Level::Stale => "stale",
            Level::Missing => "missing",
        }
    }
}

/// One tile of the board.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    /// Stable key for the screen and tests (the parameter code, or "temp-gradient").
    pub key: &'static str,
    pub parameter: Option<Parameter>,
    pub label: &'static str,
    /// The value as displayed (`--` when missing).
    pub text: String,
    pub unit: &'static str,
    /// Device name, "typed by …", or "calculated".
    pub source: String,
    pub age: Option<Duration>,
    pub level: Level,
    /// The band or target the value is judged against, as text ("band 50–80").
    pub band: Option<String>,
    /// True when the value was typed by hand.
    pub manual: bool,
}

/// Targets computed before bypass from the patient and the protocol (clinical.md section 2).
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    /// Du Bois, m².
    pub bsa_m2: f64,
    /// BSA × the protocol's cardiac index, L/min.
    pub flow_l_min: f64,
    pub cardiac_index: f64,
    /// Weight × the protocol's units/kg.
    pub heparin_units: f64,
    /// The first cardioplegia solution of the protocol with its dose, if it is dosed by weight.
    pub cardioplegia: Option<(String, f64)>,
}

/// Targets for `patient` under `protocol`.
pub fn targets(patient: &Patient, protocol: &Protocol) -> Result<Targets, CalcError> {
    let h = patient.height_cm.to_f64();
    let w = patient.weight_kg.to_f64();
    let b = bsa(BsaFormula::DuBois, h, w)?.value;
    let ci = protocol.blood.target_cardiac_index;
    let flow = target_flow(ci, b)?.value;
    let heparin =
        anticoagulation::heparin_loading_dose(w, protocol.anticoagulation.heparin_units_per_kg)?
            .value;
    let plegia = protocol.cardioplegia.first().and_then(|c| {
        let per_kg = c.dose_ml_per_kg?;
        let cap = c.cap_ml.unwrap_or(f64::MAX);
        if c.name == "del Nido" {
            cardioplegia::del_nido(w, per_kg, cap)
                .ok()
                .map(|(d, _, _)| (c.name.clone(), d.value))
        } else {
            Some((c.name.clone(), (per_kg * w).min(cap)))
        }
    });
    Ok(Targets {
        bsa_m2: b,
        flow_l_min: flow,
        cardiac_index: ci,
        heparin_units: heparin,
        cardioplegia: plegia,
    })
}

/// Predicted haematocrit on bypass in percent (clinical.md 2.4, simple form): the latest
/// haematocrit before bypass (typed, or from a blood gas; artefacts excluded), the patient's EBV
/// by the protocol's model, and the recorded prime volume.
pub fn predicted_hct(
    patient: &Patient,
    protocol: &Protocol,
    view: &CaseView,
    prime_ml: f64,
) -> Result<f64, CalcError> {
    let bypass_on = view
        .events()
        .find(|(k, _)| *k == EventKind::BypassOn)
        .map(|(_, at)| at);
    let before = |at: DateTime<Utc>| bypass_on.is_none_or(|b| at < b);
    let hct_pre = view
        .entries
        .iter()
        .rev()
        .filter(|e| e.artefact.is_none() && before(e.occurred_at()))
        .find_map(|e| match e.payload {
            EntryPayload::Measurement {
                parameter: Parameter::Haematocrit,
                value,
                unit,
            } => Parameter::Haematocrit
                .to_internal("measurement", value.to_f64(), unit)
                .ok(),
            EntryPayload::BloodGas(g) => g
                .canonical(super::bloodgas::Analyte::Hct)
                .map(|pct| pct / 100.0),
            _ => None,
        })
        .ok_or(CalcError::Undefined("no haematocrit before bypass".into()))?;
    if prime_ml <= 0.0 {
        return Err(CalcError::Undefined("no prime recorded".into()));
    }
    let today = view
        .entries
        .last()
        .map(|e| e.occurred_at().date_naive())
        .unwrap_or(patient.birth_date);
    let age = today.years_since(patient.birth_date).unwrap_or(0) as f64;
    let sex = match (patient.sex, protocol.blood.ebv) {
        (Sex::Female, _) => BodySex::Female,
        (Sex::Male, _) => BodySex::Male,
        // Only a per-kg model can do without a binary sex.
        (_, EbvModel::PerKg { .. }) => BodySex::Male,
        _ => {
            return Err(CalcError::Undefined(
                "the protocol's blood-volume model needs sex recorded as female or male".into(),
            ))
        }
    };
    let ebv = estimated_blood_volume(
        protocol.blood.ebv,
        sex,
        age,
        patient.height_cm.to_f64(),
        patient.weight_kg.to_f64(),
    )?
    .value;
    Ok(haemodilution::predicted_hct(hct_pre, ebv, prime_ml)?.value * 100.0)
}

/// The latest value typed by hand for `p` (not marked artefact), in internal units.
fn manual_value(view: &CaseView, p: Parameter) -> Option<(f64, DateTime<Utc>, String)> {
    view.entries.iter().rev().find_map(|e| {
        if e.artefact.is_some() {
            return None;
        }
        match e.payload {
            EntryPayload::Measurement {
                parameter,
                value,
                unit,
            } if *parameter == p => {
                let v = p.to_internal("measurement", value.to_f64(), unit).ok()?;
                v.is_finite().then(|| {
                    (
                        v,
                        e.occurred_at(),
                        format!("typed by {}", e.original.author.user),
                    )
                })
            }
            // A blood gas's Hct feeds the Hct tile where no device measures it (and is the
            // newer value when it is newer than the device's).
            EntryPayload::BloodGas(g) if p == Parameter::Haematocrit => {
                let pct = g.canonical(Analyte::Hct)?;
                Some((
                    pct / 100.0,
                    e.occurred_at(),
                    format!("blood gas ({})", g.site.label()),
                ))
            }
            _ => None,
        }
    })
}

/// True once rewarming has started (the latest of cooling / rewarming is rewarming).
pub fn rewarming(view: &CaseView) -> bool {
    view.events()
        .filter(|(k, _)| matches!(k, EventKind::CoolingStart | EventKind::RewarmingStart))
        .last()
        .is_some_and(|(k, _)| k == EventKind::RewarmingStart)
}

/// The band for `p` now, as (low, high, text): the protocol's, or for pump flow the patient's
/// target. `None`: nothing to judge against.
fn band(
    p: Parameter,
    protocol: &Protocol,
    targets: Option<&Targets>,
) -> Option<(Option<f64>, Option<f64>, String)> {
    if p == Parameter::PumpFlow {
        // The flow target is a goal, not a limit: only more than 10 % under it is flagged.
        return targets.map(|t| {
            (
                Some(t.flow_l_min * (1.0 - FLOW_MARGIN)),
                None,
                format!("target {:.2}", t.flow_l_min),
            )
        });
    }
    let (low, high) = protocol.band(p)?;
    let text = match (low, high) {
        (Some(l), Some(h)) => format!("band {l}–{h}"),
        (Some(l), None) => format!("≥ {l}"),
        (None, Some(h)) => format!("max {h:.1}"),
        (None, None) => return None,
    };
    Some((low, high, text))
}

fn judge(v: f64, low: Option<f64>, high: Option<f64>) -> Level {
    if low.is_some_and(|l| v < l) {
        Level::Low
    } else if high.is_some_and(|h| v > h) {
        Level::High
    } else {
        Level::Normal
    }
}

/// What the board and the live screen need from the record, derived once per change of the
/// record (not on every one-second render): clocks, phase, the newest typed value of each
/// parameter, the reminders and the events for the trend chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveFacts {
    pub clocks: crate::domain::CaseClocks,
    pub rewarming: bool,
    /// Newest typed value of each parameter (internal units), when and by whom.
    pub manual: BTreeMap<Parameter, (f64, DateTime<Utc>, String)>,
    pub reminders: Vec<Result<super::reminder::Reminder, String>>,
    pub events: Vec<(crate::domain::EventKind, DateTime<Utc>)>,
    /// Heparin, ACTs and protamine against the protocol.
    pub anticoag: Anticoagulation,
    /// The newest value of each analyte from the case's blood gases.
    pub labs: BTreeMap<Analyte, (f64, Part, DateTime<Utc>)>,
    /// Where the patient is: the newest location entry.
    pub location: Option<String>,
    /// The tiles of the case's kind of support, in reading order.
    pub tiles: Vec<Parameter>,
    /// An ECMO run's own ranges in force (the team's, over the protocol's).
    pub own_rules: Vec<super::ecmo::RunRule>,
}

/// The tiles for a kind of support: CPB in [`BOARD`]'s order, the others from the catalogue.
pub fn tiles_for(kind: CaseKind) -> Vec<Parameter> {
    if kind == CaseKind::Cpb {
        BOARD.to_vec()
    } else {
        Parameter::tiles(kind)
    }
}

impl LiveFacts {
    pub fn derive(entries: &[crate::domain::Entry], protocol: &Protocol, kind: CaseKind) -> Self {
        let view = CaseView::derive(entries);
        Self::from_view(&view, protocol, kind)
    }

    pub fn from_view(view: &CaseView, protocol: &Protocol, kind: CaseKind) -> Self {
        let tiles = tiles_for(kind);
        Self {
            clocks: view.clocks(),
            rewarming: rewarming(view),
            manual: Parameter::all()
                .filter_map(|p| manual_value(view, p).map(|m| (p, m)))
                .collect(),
            tiles,
            own_rules: super::ecmo::rules_for(&protocol.ecmo, view).1,
            reminders: super::reminder::reminders(view, protocol),
            events: view.events().collect(),
            anticoag: Anticoagulation::derive(view, protocol),
            labs: latest_analytes(view, protocol),
            location: view.location(),
        }
    }
}

/// The board at `now`, deriving the record's facts here (see [`tiles_with`]).
pub fn tiles(
    live: &LiveSnapshot,
    view: &CaseView,
    protocol: &Protocol,
    targets: Option<&Targets>,
    now: DateTime<Utc>,
) -> Vec<Tile> {
    tiles_with(
        live,
        &LiveFacts::from_view(view, protocol, CaseKind::Cpb),
        protocol,
        targets,
        now,
    )
}

/// The board at `now` from live values and the record's facts derived once per change.
pub fn tiles_with(
    live: &LiveSnapshot,
    facts: &LiveFacts,
    protocol: &Protocol,
    targets: Option<&Targets>,
    now: DateTime<Utc>,
) -> Vec<Tile> {
    let on_bypass = facts.clocks.bypass.is_running();
    let device_stale = Duration::seconds(DEVICE_STALE_AFTER_S);
    let manual_stale = Duration::minutes(MANUAL_STALE_AFTER_MIN);
    // (value, at, source, manual) per parameter: the newer of device and hand.
    let current = |p: Parameter| {
        let device = live
            .latest(p)
            .map(|s| (s.value, s.at, s.source.clone(), false));
        let manual = facts
            .manual
            .get(&p)
            .map(|(v, at, src)| (*v, *at, src.clone(), true));
        match (device, manual) {
            (Some(d), Some(m)) => Some(if m.1 > d.1 { m } else { d }),
            (d, m) => d.or(m),
        }
    };
    let fresh = |at: DateTime<Utc>, manual: bool| {
        now - at <= if manual { manual_stale } else { device_stale }
    };
    let mut out: Vec<Tile> = facts
        .tiles
        .iter()
        .map(|&p| {
            let b = band(p, protocol, targets);
            let band_text = b.as_ref().map(|(_, _, t)| t.clone());
            match current(p) {
                None => Tile {
                    key: p.code(),
                    parameter: Some(p),
                    label: p.label(),
                    text: "--".into(),
                    unit: p.unit(),
                    source: "no source".into(),
                    age: None,
                    level: Level::Missing,
                    band: band_text,
                    manual: false,
                },
                Some((v, at, source, manual)) => {
                    let level = if !fresh(at, manual) {
                        Level::Stale
                    } else {
                        match (&b, on_bypass) {
                            (Some((lo, hi, _)), true) => judge(v, *lo, *hi),
                            _ => Level::Normal,
                        }
                    };
                    Tile {
                        key: p.code(),
                        parameter: Some(p),
                        label: p.label(),
                        text: p.format(v),
                        unit: p.unit(),
                        source,
                        age: Some((now - at).max(Duration::zero())),
                        level,
                        band: band_text,
                        manual,
                    }
                }
            }
        })
        .collect();

    // Arterial outlet − venous inflow, against the gradient limit for the phase.
    let rewarm = facts.rewarming;
    let limit = if rewarm {
        protocol.temperature.gradient_max_rewarming_c
    } else {
        protocol.temperature.gradient_max_c
    };
    let band_text = format!("|Δ| ≤ {limit:.1}{}", if rewarm { " rewarming" } else { "" });
    let gradient = match (
        current(Parameter::ArterialOutletTemp),
        current(Parameter::VenousInflowTemp),
    ) {
        (Some((a, at_a, _, ma)), Some((v, at_v, _, mv))) => {
            let g = a - v;
            let stale = !fresh(at_a, ma) || !fresh(at_v, mv);
            let level = if stale {
                Level::Stale
            } else if on_bypass && g.abs() > limit {
                Level::High
            } else {
                Level::Normal
            };
            Tile {
                key: "temp-gradient",
                parameter: None,
                label: "Art − ven temp",
                text: format!("{g:+.1}"),
                unit: "°C",
                source: "calculated".into(),
                age: Some((now - at_a.min(at_v)).max(Duration::zero())),
                level,
                band: Some(band_text),
                manual: false,
            }
        }
        _ => Tile {
            key: "temp-gradient",
            parameter: None,
            label: "Art − ven temp",
            text: "--".into(),
            unit: "°C",
            source: "needs arterial outlet and venous temperatures".into(),
            age: None,
            level: Level::Missing,
            band: Some(band_text),
            manual: false,
        },
    };
    if facts.tiles.contains(&Parameter::ArterialOutletTemp) {
        let at = out
            .iter()
            .position(|t| t.parameter == Some(Parameter::PatientTemp))
            .map_or(out.len(), |i| i + 1);
        out.insert(at, gradient);
    }
    if facts.tiles.contains(&Parameter::PreOxygenatorPressure) {
        // ΔP across the oxygenator: pre − post, taken together (within 5 s of each other).
        let tile = match (
            current(Parameter::PreOxygenatorPressure),
            current(Parameter::PostOxygenatorPressure),
        ) {
            (Some((pre, at_pre, _, mp)), Some((post, at_post, _, mq)))
                if (at_pre - at_post).abs() <= Duration::seconds(5) || mp || mq =>
            {
                let stale = !fresh(at_pre, mp) || !fresh(at_post, mq);
                Tile {
                    key: "oxygenator-dp",
                    parameter: None,
                    label: "ΔP oxygenator",
                    text: format!("{:.0}", pre - post),
                    unit: "mmHg",
                    source: "calculated".into(),
                    age: Some((now - at_pre.min(at_post)).max(Duration::zero())),
                    level: if stale { Level::Stale } else { Level::Normal },
                    band: Some("trend: ECMO board".into()),
                    manual: false,
                }
            }
            _ => Tile {
                key: "oxygenator-dp",
                parameter: None,
                label: "ΔP oxygenator",
                text: "--".into(),
                unit: "mmHg",
                source: "needs pre- and post-oxygenator pressures".into(),
                age: None,
                level: Level::Missing,
                band: None,
                manual: false,
            },
        };
        let at = out
            .iter()
            .position(|t| t.parameter == Some(Parameter::PostOxygenatorPressure))
            .map_or(out.len(), |i| i + 1);
        out.insert(at, tile);
    }
    out.extend(lab_tiles(facts, now));
    out
}

/// The laboratory tiles, fed by the record where no device measures them: ACT against the
/// anticoagulation target, and Hb, K⁺ and lactate from the newest blood gas against the
/// protocol's ranges. A laboratory value keeps its flag as it ages (the age is shown).
fn lab_tiles(facts: &LiveFacts, now: DateTime<Utc>) -> Vec<Tile> {
    let level = |flag: Option<Flag>| match flag {
        Some(Flag::Low) => Level::Low,
        Some(Flag::High) => Level::High,
        None => Level::Normal,
    };
    let a = &facts.anticoag;
    let act = match a.acts.last() {
        Some(x) => {
            let part = a.act_low(x.value, x.at).then_some(Flag::Low);
            Tile {
                key: "act",
                parameter: None,
                label: "ACT",
                text: format!("{:.0}", x.value),
                unit: "s",
                source: "typed".into(),
                age: Some((now - x.at).max(Duration::zero())),
                level: level(part),
                band: Some(format!("≥ {:.0}", a.target_s)),
                manual: true,
            }
        }
        None => Tile {
            key: "act",
            parameter: None,
            label: "ACT",
            text: "--".into(),
            unit: "s",
            source: "no ACT recorded".into(),
            age: None,
            level: Level::Missing,
            band: Some(format!("≥ {:.0}", a.target_s)),
            manual: false,
        },
    };
    let mut out = vec![act];
    for (analyte, key) in [
        (Analyte::Hb, "lab-hb"),
        (Analyte::K, "lab-k"),
        (Analyte::Lactate, "lab-lactate"),
    ] {
        out.push(match facts.labs.get(&analyte) {
            Some((canonical, part, at)) => Tile {
                key,
                parameter: None,
                label: analyte.label(),
                // As received when it came in the tile's unit, else converted for display.
                text: if part.unit == analyte.canonical_unit() {
                    part.value.clone()
                } else {
                    format!("{canonical:.1}")
                },
                unit: analyte.canonical_unit(),
                source: "blood gas".into(),
                age: Some((now - *at).max(Duration::zero())),
                level: level(part.flag),
                band: part.range.clone(),
                manual: true,
            },
            None => Tile {
                key,
                parameter: None,
                label: analyte.label(),
                text: "--".into(),
                unit: analyte.canonical_unit(),
                source: "no blood gas with it".into(),
                age: None,
                level: Level::Missing,
                band: None,
                manual: false,
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::entry::Entry;
    use crate::domain::ids::EntryId;
    use crate::domain::patient::{BloodGroup, Mrn, Sex};
    use crate::domain::{Author, CaseId, Decimal, LiveSample, Validity};
    use chrono::{NaiveDate, TimeZone};

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap() + Duration::seconds(s)
    }

    fn protocol() -> Protocol {
        Protocol::defaults().unwrap()
    }

    fn entry(seq: u64, at: DateTime<Utc>, payload: EntryPayload) -> Entry {
        Entry {
            id: EntryId::new(),
            case_id: CaseId::new(),
            seq,
            occurred_at: at,
            recorded_at: at,
            author: Author::new("A. Perfusionist", "unit"),
            payload,
            prev_hash: [0; 32],
            hash: [0; 32],
        }
    }

    fn sample(p: Parameter, v: f64, at: DateTime<Utc>) -> LiveSample {
        LiveSample::computed(p, v, at, "HLM console", Validity::Valid).unwrap()
    }

    fn tile<'a>(tiles: &'a [Tile], key: &str) -> &'a Tile {
        tiles.iter().find(|t| t.key == key).expect("tile")
    }

    fn bypass_on(at: DateTime<Utc>) -> Entry {
        entry(
            1,
            at,
            EntryPayload::Event {
                event: EventKind::BypassOn,
            },
        )
    }

    #[test]
    fn map_is_judged_against_the_protocol_band_only_on_bypass() {
        let p = protocol();
        let mut live = LiveSnapshot::default();
        live.apply(sample(Parameter::MeanArterialPressure, 42.0, t(100)))
            .unwrap();
        // Before bypass: shown, not judged.
        let none: Vec<Entry> = Vec::new();
        let tiles_off = tiles(&live, &CaseView::derive(&none), &p, None, t(101));
        let map = tile(&tiles_off, "mean-arterial-pressure");
        assert_eq!(map.level, Level::Normal);
        assert_eq!(map.band.as_deref(), Some("band 50–80"));
        // On bypass: low.
        let on = vec![bypass_on(t(0))];
        let tiles_on = tiles(&live, &CaseView::derive(&on), &p, None, t(101));
        assert_eq!(tile(&tiles_on, "mean-arterial-pressure").level, Level::Low);
        assert_eq!(tile(&tiles_on, "mean-arterial-pressure").text, "42");
        live.apply(sample(Parameter::MeanArterialPressure, 85.0, t(102)))
            .unwrap();
        let high = tiles(&live, &CaseView::derive(&on), &p, None, t(103));
        assert_eq!(tile(&high, "mean-arterial-pressure").level, Level::High);
        live.apply(sample(Parameter::MeanArterialPressure, 65.0, t(104)))
            .unwrap();
        let ok = tiles(&live, &CaseView::derive(&on), &p, None, t(105));
        assert_eq!(tile(&ok, "mean-arterial-pressure").level, Level::Normal);
    }

    #[test]
    fn a_device_value_goes_stale_after_five_seconds_and_is_no_longer_judged() {
        let p = protocol();
        let on = vec![bypass_on(t(0))];
        let mut live = LiveSnapshot::default();
        live.apply(sample(Parameter::MeanArterialPressure, 42.0, t(100)))
            .unwrap();
        let view = CaseView::derive(&on);
        assert_eq!(
            tile(
                &tiles(&live, &view, &p, None, t(105)),
                "mean-arterial-pressure"
            )
            .level,
            Level::Low
        );
        let stale = tiles(&live, &view, &p, None, t(106));
        assert_eq!(tile(&stale, "mean-arterial-pressure").level, Level::Stale);
        assert_eq!(
            tile(&stale, "mean-arterial-pressure").age,
            Some(Duration::seconds(6))
        );
        assert_eq!(tile(&stale, "pump-flow").level, Level::Missing);
        assert_eq!(tile(&stale, "pump-flow").text, "--");
    }

    #[test]
    fn a_value_typed_by_hand_fills_a_tile_without_a_device_and_stays_fresh_for_30_min() {
        let p = protocol();
        let typed = entry(
            2,
            t(60),
            EntryPayload::Measurement {
                parameter: Parameter::Haematocrit,
                value: Decimal::new(24, 0),
                unit: "%".into(),
            },
        );
        let entries = vec![bypass_on(t(0)), typed];
        let view = CaseView::derive(&entries);
        let live = LiveSnapshot::default();
        let board = tiles(&live, &view, &p, None, t(60 + 29 * 60));
        let hct = tile(&board, "haematocrit");
        assert!(hct.manual);
        assert_eq!(hct.text, "24");
        assert_eq!(hct.source, "typed by A. Perfusionist");
        assert_eq!(hct.level, Level::Normal);
        let later = tiles(&live, &view, &p, None, t(60 + 31 * 60));
        assert_eq!(tile(&later, "haematocrit").level, Level::Stale);
        // A newer device value wins over the typed one.
        let mut live = LiveSnapshot::default();
        live.apply(sample(Parameter::Haematocrit, 0.26, t(120)))
            .unwrap();
        let both = tiles(&live, &view, &p, None, t(121));
        assert!(!tile(&both, "haematocrit").manual);
        assert_eq!(tile(&both, "haematocrit").text, "26");
    }

    #[test]
    fn the_temperature_gradient_uses_the_rewarming_limit_after_rewarming_starts() {
        let p = protocol();
        let mut live = LiveSnapshot::default();
        live.apply(sample(Parameter::ArterialOutletTemp, 36.0, t(200)))
            .unwrap();
        live.apply(sample(Parameter::VenousInflowTemp, 31.0, t(200)))
            .unwrap();
        let cooling = vec![bypass_on(t(0))];
        let board = tiles(&live, &CaseView::derive(&cooling), &p, None, t(201));
        let g = tile(&board, "temp-gradient");
        assert_eq!(g.text, "+5.0");
        assert_eq!(g.level, Level::Normal, "5 °C is inside the 10 °C limit");
        let rewarming = vec![
            bypass_on(t(0)),
            entry(
                2,
                t(100),
                EntryPayload::Event {
                    event: EventKind::RewarmingStart,
                },
            ),
        ];
        let board = tiles(&live, &CaseView::derive(&rewarming), &p, None, t(201));
        let g = tile(&board, "temp-gradient");
        assert_eq!(
            g.level,
            Level::High,
            "5 °C is above the 4 °C rewarming limit"
        );
        assert_eq!(g.band.as_deref(), Some("|Δ| ≤ 4.0 rewarming"));
    }

    #[test]
    fn targets_follow_the_clinical_vectors_and_judge_pump_flow() {
        let p = protocol();
        let patient = Patient {
            mrn: Mrn {
                system: "urn:test".into(),
                value: "1".into(),
            },
            family_name: "Test".into(),
            given_names: "Pat".into(),
            birth_date: NaiveDate::from_ymd_opt(1960, 1, 1).unwrap(),
            sex: Sex::Male,
            height_cm: Decimal::new(175, 0),
            weight_kg: Decimal::new(80, 0),
            blood_group: BloodGroup::Unknown,
            allergies: vec![],
        };
        let tg = targets(&patient, &p).unwrap();
        // clinical.md 2.1/2.2: DuBois 175 cm / 80 kg = 1.9561 m²; × CI 2.4 = 4.69 L/min.
        assert!((tg.bsa_m2 - 1.9561).abs() < 0.0001, "{}", tg.bsa_m2);
        assert!((tg.flow_l_min - 4.69).abs() < 0.005, "{}", tg.flow_l_min);
        assert!((tg.heparin_units - 24_000.0).abs() < 1e-6);
        // del Nido 20 mL/kg × 80 kg = 1600, capped at 1000 mL.
        assert_eq!(tg.cardioplegia, Some(("del Nido".to_string(), 1000.0)));
        let mut live = LiveSnapshot::default();
        live.apply(sample(Parameter::PumpFlow, 4.2, t(10))).unwrap();
        let on = vec![bypass_on(t(0))];
        let board = tiles(&live, &CaseView::derive(&on), &p, Some(&tg), t(11));
        let flow = tile(&board, "pump-flow");
        assert_eq!(flow.level, Level::Low);
        assert_eq!(flow.band.as_deref(), Some("target 4.69"));
    }
}
