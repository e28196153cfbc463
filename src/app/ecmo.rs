//! ECMO runs on this tablet for the on-call board: each running ECMO case's data as the ECMO
//! rules read it (`domain::ecmo`), ranked by urgency with the reasons in words.
//!
//! What a run gives: each device channel the rules read (flow, circuit pressures, saturations,
//! distal flow, limb NIRS; `ecmo::Signal::of`) as one-minute means over the last 26 hours from
//! the stored chunks' summaries (min, max, mean per bucket, artefact ranges left out), the time
//! of its newest device value on any channel, its blood gases, its laboratory values typed as
//! measurements, its newest oxygenator or circuit change from the derived case view, and its
//! recurring ECMO checks due (the shift checklist, from its newest signed run).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::domain::case::{CaseKind, CaseStatus, CaseSummary};
use crate::domain::ecmo::{self, EcmoRules, Glance, Point, Ranked, RunData, Signal};
use crate::domain::record::CaseView;
use crate::domain::{CaseId, Parameter};
use crate::store::{Store, StoreError};

/// One ECMO run on the board.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalRun {
    pub case: CaseSummary,
    /// 1 on the day support started.
    pub day: i64,
    /// Where the patient is (the newest location entry).
    pub location: Option<String>,
    pub ranked: Ranked<CaseId>,
    /// The headline values with their times and the 24-hour sparklines.
    pub glance: Glance,
    /// The run's own ranges in force (the ECMO team's, over the protocol's).
    pub own_rules: Vec<ecmo::RunRule>,
}

/// How far back flow is read for the rules (the ΔP and stale windows are shorter).
const WINDOW_H: i64 = 26;

pub fn is_ecmo(kind: CaseKind) -> bool {
    matches!(kind, CaseKind::EcmoVa | CaseKind::EcmoVv | CaseKind::Ecpr)
}

/// Every running ECMO case on this tablet, most urgent first (equal runs: the older first).
pub async fn local_runs(
    store: &Store,
    rules: &EcmoRules,
    now: DateTime<Utc>,
) -> Result<Vec<LocalRun>, StoreError> {
    let mut runs = Vec::new();
    let mut cases = BTreeMap::new();
    let mut locations = BTreeMap::new();
    let mut glances = BTreeMap::new();
    let templates = store.templates().await?;
    for case in store.list_cases().await? {
        let open = matches!(case.status, CaseStatus::Setup | CaseStatus::Running);
        if !is_ecmo(case.kind) || !open {
            continue;
        }
        let (data, location, (own, in_force)) =
            run_data(store, &case, &templates, rules, now).await?;
        locations.insert(case.id, location);
        glances.insert(case.id, (data.started, ecmo::glance(&data, now), in_force));
        runs.push((case.id, data, own));
        cases.insert(case.id, case);
    }
    Ok(ecmo::rank_each(&runs, now)
        .into_iter()
        .filter_map(|ranked| {
            let case = cases.remove(&ranked.key)?;
            let (started, glance, own_rules) = glances.remove(&ranked.key)?;
            Some(LocalRun {
                day: day_of_support(started, now),
                location: locations.remove(&ranked.key).flatten(),
                ranked,
                case,
                glance,
                own_rules,
            })
        })
        .collect())
}

/// The day of support, 1 on the day it started (24-hour days from the start).
pub fn day_of_support(started: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (now - started).num_days().max(0) + 1
}

async fn run_data(
    store: &Store,
    case: &CaseSummary,
    templates: &[crate::domain::checklist::Template],
    protocol: &EcmoRules,
    now: DateTime<Utc>,
) -> Result<(RunData, Option<String>, (EcmoRules, Vec<ecmo::RunRule>)), StoreError> {
    let mut series: BTreeMap<Signal, Vec<Point>> = BTreeMap::new();
    let mut last_device_value: Option<DateTime<Utc>> = None;
    let from = now - Duration::hours(WINDOW_H);
    for ch in store.channels(case.id).await? {
        last_device_value = last_device_value.max(store.newest_sample_at(ch.id).await?);
        let Some(signal) = Signal::of(ch.parameter) else {
            continue;
        };
        // One bucket per minute on one grid for every channel, so pre- and post-oxygenator
        // pressures pair by time.
        let buckets = store
            .trend(ch.id, from, now, (WINDOW_H * 60) as u32)
            .await?;
        let points = series.entry(signal).or_default();
        for b in buckets.iter().filter(|b| b.n > 0) {
            if let Ok(v) = ch.to_internal(b.mean) {
                let value = ch.parameter.to_display_unit(v);
                if value.is_finite() {
                    points.push(Point { at: b.start, value });
                }
            }
        }
    }
    for v in series.values_mut() {
        v.sort_by_key(|p| p.at);
    }
    let entries = store.entries(case.id).await?;
    let view = CaseView::derive(&entries);
    ecmo::gases_into(&view, &mut series);
    ecmo::measurements_into(&view, &mut series);
    let location = view.location();
    let circuit_since = ecmo::circuit_since(&view);
    let femoral_arterial = ecmo::femoral_arterial(&view);
    let data = RunData {
        kind: case.kind,
        femoral_arterial,
        // Support started at the first "on" event (as the run's FHIR Procedure says), else
        // when the case was opened.
        started: view
            .events()
            .find(|(k, _)| *k == crate::domain::EventKind::BypassOn)
            .map_or(case.created_at, |(_, at)| at),
        circuit_since,
        series,
        last_device_value,
        checks: Vec::new(),
    };
    let data = RunData {
        checks: ecmo::checks_due(&entries, templates, data.started),
        ..data
    };
    let own = ecmo::rules_for(protocol, &view);
    Ok((data, location, own))
}

/// A followed run pulled from the server, placed on the board by the same rules.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteRanked {
    pub mrn: crate::domain::patient::Mrn,
    pub run: crate::sync::remote::RemoteRun,
    pub ranked: Ranked<String>,
    pub glance: Glance,
    /// The day of support (from the run's start as the server has it).
    pub day: Option<i64>,
    /// The server's newest change to the run or its parts (`meta.lastUpdated`).
    pub uploaded: Option<DateTime<Utc>>,
    /// Handover notes, newest first: the server's, and those written here that the server
    /// has not given back yet (with where they are).
    pub notes: Vec<NoteLine>,
}

/// One handover note of a followed run, as the run detail lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteLine {
    pub at: DateTime<Utc>,
    pub by: Option<String>,
    pub text: String,
    /// `None` when the server has it; else where it is ("waiting to send", "refused: …").
    pub state: Option<String>,
}

/// A run's notes: the server's, then this device's not yet pulled back (matched by the note's
/// identifier), newest first.
pub fn note_lines(
    run: &crate::sync::remote::RemoteRun,
    written_here: &[crate::store::RemoteNote],
) -> Vec<NoteLine> {
    use crate::store::NoteState;
    let mut out: Vec<NoteLine> = run
        .notes
        .iter()
        .map(|n| NoteLine {
            at: n.at,
            by: n.by.clone(),
            text: n.text.clone(),
            state: None,
        })
        .collect();
    for n in written_here.iter().filter(|n| n.run_id == run.server_id) {
        let id = n.id.to_string();
        if run
            .notes
            .iter()
            .any(|s| s.key.as_deref() == Some(id.as_str()))
        {
            continue;
        }
        let state = match &n.state {
            NoteState::Waiting { attempts: 0, .. } => "waiting to send".to_string(),
            NoteState::Waiting { attempts, error } => format!(
                "waiting to send ({attempts} tr{} failed{})",
                if *attempts == 1 { "y" } else { "ies" },
                error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
            ),
            NoteState::Sent { .. } => "sent; on the server after the next pull".to_string(),
            NoteState::Refused { why } => format!("not sent: {why}"),
        };
        out.push(NoteLine {
            at: n.written,
            by: Some(n.by.user.clone()),
            text: n.text.clone(),
            state: Some(state),
        });
    }
    out.sort_by_key(|n| std::cmp::Reverse(n.at));
    out
}

/// The running ECMO runs among the followed patients' pulled runs, most urgent first, read by
/// the same rules as local runs: the pulled values decoded back into one-minute means
/// (`sync::remote::RemoteSeries`), the pulled blood gases by site (post-oxygenator pO₂,
/// saturations for recirculation), the newest device value's time for staleness. Not read from
/// the server yet: the cannulation (limb rules) and circuit changes (ΔP baseline), which stay
/// silent for pulled runs.
pub fn remote_runs(
    followed: &[crate::sync::remote::Followed],
    rules: &EcmoRules,
    now: DateTime<Utc>,
) -> Vec<RemoteRanked> {
    let mut runs = Vec::new();
    let mut by_id = BTreeMap::new();
    for f in followed {
        for run in &f.runs {
            let ecmo = run.case_kind.is_some_and(is_ecmo);
            if !ecmo || run.status != "in-progress" {
                continue;
            }
            let mut series: BTreeMap<Signal, Vec<Point>> = BTreeMap::new();
            let mut last_device_value: Option<DateTime<Utc>> = None;
            for v in &run.latest {
                if v.code
                    .as_deref()
                    .and_then(Parameter::from_pumpside_code)
                    .is_some()
                {
                    last_device_value = last_device_value.max(Some(v.at));
                }
            }
            // The pulled values decoded back (one-minute means), in each signal's unit: device
            // and typed values by their parameter, blood gases (post-oxygenator pO₂, circuit and
            // venous saturations) by the same site rule as the tablet's, in the analyte's
            // canonical unit. A unit the concept does not take: none of its values.
            for t in &run.trends {
                let gas = t
                    .gas
                    .and_then(|(a, site)| Some((ecmo::gas_signal(site, a)?, a)));
                let param = t
                    .code
                    .as_deref()
                    .and_then(Parameter::from_pumpside_code)
                    .and_then(|p| Some((Signal::of(p)?, p)));
                let Some(signal) = gas.map(|g| g.0).or(param.map(|p| p.0)) else {
                    continue;
                };
                let field = param.map(|(_, p)| format!("pulled.{}", p.code()));
                let points = series.entry(signal).or_default();
                for (at, x) in &t.points {
                    let value = match (gas, param, &field) {
                        (Some((_, a)), _, _) => format!("{x}")
                            .parse::<crate::domain::Decimal>()
                            .ok()
                            .and_then(|d| {
                                a.to_canonical(d, crate::domain::live::readable_unit(&t.unit))
                                    .ok()
                            }),
                        (None, Some((_, p)), Some(field)) => p
                            .to_internal(field, *x, &t.unit)
                            .ok()
                            .map(|v| p.to_display_unit(v)),
                        _ => None,
                    };
                    let Some(value) = value else {
                        break;
                    };
                    if value.is_finite() {
                        points.push(Point { at: *at, value });
                    }
                }
            }
            for v in series.values_mut() {
                v.sort_by_key(|p| p.at);
            }
            let data = RunData {
                kind: run.case_kind.unwrap_or(CaseKind::EcmoVa),
                femoral_arterial: false,
                started: run.started.unwrap_or(now),
                circuit_since: None,
                series,
                last_device_value,
                checks: Vec::new(),
            };
            let glance = ecmo::glance(&data, now);
            // The run's own ranges, as its team set them on the tablet (refused ones skipped).
            let mut own = rules.clone();
            for (key, value, _, _) in &run.rules {
                let _ = own.set(key, *value);
            }
            runs.push((run.server_id.clone(), data, own));
            let notes = note_lines(run, &f.written_here);
            by_id.insert(
                run.server_id.clone(),
                (f.mrn.clone(), run.clone(), glance, notes),
            );
        }
    }
    ecmo::rank_each(&runs, now)
        .into_iter()
        .filter_map(|ranked| {
            let (mrn, run, glance, notes) = by_id.remove(&ranked.key)?;
            let uploaded = DateTime::parse_from_rfc3339(&run.updated)
                .ok()
                .map(|t| t.with_timezone(&Utc));
            Some(RemoteRanked {
                day: run.started.map(|t| day_of_support(t, now)),
                uploaded,
                mrn,
                run,
                ranked,
                glance,
                notes,
            })
        })
        .collect()
}

/// A pulled series in `n` equal slots of `[from, to)` (means; `None` where it has no value).
pub fn series_slots(
    t: &crate::sync::remote::RemoteSeries,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    n: usize,
) -> Vec<Option<f64>> {
    let points: Vec<Point> = t
        .points
        .iter()
        .map(|(at, value)| Point {
            at: *at,
            value: *value,
        })
        .collect();
    ecmo::slots(&points, from, to, n)
}

/// The ECMO calculations a followed run's pulled data allows, as (what, value in words):
/// ΔP and ΔP per flow now, the ΔP per flow 6 h ago, and the day of support.
pub fn remote_calculations(run: &RemoteRanked, now: DateTime<Utc>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let v = |k: &str| run.glance.values.iter().find(|v| v.key == k);
    if let (Some(dp), Some(flow)) = (v("dp"), v("flow")) {
        if let (Some(d), Some(q)) = (dp.value, flow.value) {
            if q > 0.0 {
                out.push((
                    "ΔP per flow".to_string(),
                    format!(
                        "{:.1} mmHg per L/min (ΔP {d:.0} mmHg at {q:.2} L/min)",
                        d / q
                    ),
                ));
            }
        }
    }
    if let Some(day) = run.day {
        out.push(("Day of support".to_string(), format!("day {day}")));
    }
    if let Some(t) = run.uploaded {
        out.push((
            "Last upload".to_string(),
            format!("{} ago", crate::domain::live::format_age(now - t)),
        ));
    }
    out
}

/// A pulled run's own ECMO ranges in force (the newest per key), in words.
pub fn remote_own_rules(run: &crate::sync::remote::RemoteRun) -> Vec<String> {
    let mut newest: BTreeMap<&str, (f64, &str)> = BTreeMap::new();
    for (key, value, why, _) in &run.rules {
        newest.insert(key.as_str(), (*value, why.as_str()));
    }
    newest
        .into_iter()
        .map(|(k, (v, why))| format!("{k} = {v} ({why})"))
        .collect()
}

/// The followed patients' runs as last pulled, decoded once per change: a patient's pulled
/// resources are re-read and decoded (SampledData back into one-minute means) only when their
/// pulled versions moved (`Store::pulled_mark`), so the board's refresh between pulls reads ten
/// small index ranges instead of megabytes of JSON.
/// One followed patient's decoded runs with the pulled mark they were decoded at.
type Decoded = ((i64, i64, i64), Vec<crate::sync::remote::RemoteRun>);

#[derive(Clone, Default)]
pub struct OnCall {
    cache: std::sync::Arc<std::sync::Mutex<BTreeMap<(String, String), Decoded>>>,
}

impl OnCall {
    /// Each followed patient with the runs pulled for them.
    pub async fn followed(
        &self,
        store: &Store,
    ) -> Result<Vec<crate::sync::remote::Followed>, StoreError> {
        use crate::sync::remote;
        let mut out = Vec::new();
        for mrn in store.followed().await? {
            let mark = store.pulled_mark(mrn.clone()).await?;
            let key = (mrn.system.clone(), mrn.value.clone());
            let cached = self.cache.lock().ok().and_then(|c| {
                c.get(&key)
                    .filter(|(m, _)| *m == mark)
                    .map(|(_, r)| r.clone())
            });
            let runs = match cached {
                Some(runs) => runs,
                None => {
                    let runs = remote::runs(&store.pulled(mrn.clone()).await?);
                    if let Ok(mut c) = self.cache.lock() {
                        c.insert(key, (mark, runs.clone()));
                    }
                    runs
                }
            };
            let written_here = store.remote_notes(mrn.clone()).await?;
            out.push(remote::Followed {
                mrn,
                runs,
                held: mark.2.max(0) as u64,
                written_here,
            });
        }
        Ok(out)
    }
}
