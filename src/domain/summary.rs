//! The case-end summary a perfusionist reviews before signing: times, fluid balance, nadirs,
//! quality (the protocol's scores and indicators), and the open questions — advisories never
//! acknowledged and values marked as artefact — so that nothing is signed unseen. Pure.

use chrono::{DateTime, Duration, Utc};

use super::advisory::AdvisoryAction;
use super::bloodgas::Analyte;
use super::entry::{ArtefactTarget, Entry};
use super::protocol::Protocol;
use super::quality::{IndicatorResult, Monitored, ScoreResult};
use super::record::{CaseView, FluidBalance};
use super::{EntryId, EntryPayload};

#[derive(Debug, Clone, PartialEq)]
pub struct OpenAdvisory {
    pub rule: String,
    pub message: String,
    pub raised_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ArtefactNote {
    /// What was marked ("Blood gas at 09:40", "pump-flow 09:10–09:12").
    pub what: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CaseEndSummary {
    pub bypass: Duration,
    pub cross_clamp: Duration,
    pub circ_arrest: Duration,
    pub bypass_runs: u32,
    pub fluid: FluidBalance,
    /// (label, text) nadirs and peaks from blood gases, artefacts excluded.
    pub extremes: Vec<(String, String)>,
    pub scores: Vec<ScoreResult>,
    pub indicators: Vec<IndicatorResult>,
    pub open_advisories: Vec<OpenAdvisory>,
    pub artefacts: Vec<ArtefactNote>,
}

/// Advisories raised and never acknowledged, in the order they were raised.
pub fn unacknowledged(entries: &[Entry]) -> Vec<OpenAdvisory> {
    let mut by_seq: Vec<&Entry> = entries.iter().collect();
    by_seq.sort_by_key(|e| e.seq);
    let mut open: Vec<OpenAdvisory> = Vec::new();
    for e in by_seq {
        if let EntryPayload::Advisory {
            rule,
            action,
            message,
            ..
        } = &e.payload
        {
            match action {
                AdvisoryAction::Raised => open.push(OpenAdvisory {
                    rule: rule.clone(),
                    message: message.clone(),
                    raised_at: e.occurred_at,
                }),
                AdvisoryAction::Acknowledged => open.retain(|o| o.rule != *rule),
                AdvisoryAction::Cleared | AdvisoryAction::Snoozed => {}
            }
        }
    }
    open
}

pub fn summarise(entries: &[Entry], protocol: &Protocol, now: DateTime<Utc>) -> CaseEndSummary {
    summarise_with(entries, &[], protocol, now)
}

/// The case-end summary judged on the record and what the case's devices monitored (scores and
/// indicators whose source is a monitored parameter read its device channels too).
pub fn summarise_with(
    entries: &[Entry],
    monitored: &[Monitored],
    protocol: &Protocol,
    now: DateTime<Utc>,
) -> CaseEndSummary {
    let view = CaseView::derive(entries);
    let clocks = view.clocks();
    let mut extremes = Vec::new();
    for (a, nadir, peak) in [
        (Analyte::Hct, true, false),
        (Analyte::Hb, true, false),
        (Analyte::Lactate, false, true),
        (Analyte::Glucose, false, true),
    ] {
        if let Some(x) = view.analyte_extremes(a) {
            let unit = a.canonical_unit();
            if nadir {
                extremes.push((
                    format!("{} nadir", a.label()),
                    format!("{} {unit} at {}", x.nadir.value, x.nadir.at.format("%H:%M")),
                ));
            }
            if peak {
                extremes.push((
                    format!("{} peak", a.label()),
                    format!("{} {unit} at {}", x.peak.value, x.peak.at.format("%H:%M")),
                ));
            }
        }
    }
    let label_of = |id: EntryId| {
        entries
            .iter()
            .find(|e| e.id == id)
            .map(|e| {
                format!(
                    "{} at {}",
                    super::quick::describe(&e.payload),
                    e.occurred_at.format("%H:%M")
                )
            })
            .unwrap_or_else(|| format!("entry {id}"))
    };
    let artefacts = entries
        .iter()
        .filter_map(|e| match &e.payload {
            EntryPayload::ArtefactMark { target, reason } => Some(ArtefactNote {
                what: match target {
                    ArtefactTarget::Entry(id) => label_of(*id),
                    ArtefactTarget::Samples { channel, from, to } => format!(
                        "{channel} {}–{}",
                        from.format("%H:%M:%S"),
                        to.format("%H:%M:%S")
                    ),
                },
                reason: reason.clone(),
            }),
            _ => None,
        })
        .collect();
    CaseEndSummary {
        bypass: clocks.bypass.elapsed(now),
        cross_clamp: clocks.cross_clamp.elapsed(now),
        circ_arrest: clocks.circ_arrest.elapsed(now),
        bypass_runs: clocks.bypass.starts,
        fluid: view.fluid_balance(),
        extremes,
        scores: protocol
            .scores
            .iter()
            .map(|s| s.evaluate_with(&view, monitored, now))
            .collect(),
        indicators: protocol
            .indicators
            .iter()
            .map(|i| i.evaluate_with(&view, monitored, now))
            .collect(),
        open_advisories: unacknowledged(entries),
        artefacts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Author, CaseId, Decimal, EventKind};
    use chrono::TimeZone;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap() + Duration::minutes(min)
    }

    fn entry(seq: u64, min: i64, payload: EntryPayload) -> Entry {
        Entry {
            id: EntryId::new(),
            case_id: CaseId::new(),
            seq,
            occurred_at: t(min),
            recorded_at: t(min),
            author: Author::new("Test", "unit"),
            payload,
            prev_hash: [0; 32],
            hash: [0; 32],
        }
    }

    fn advisory(seq: u64, min: i64, rule: &str, action: AdvisoryAction) -> Entry {
        entry(
            seq,
            min,
            EntryPayload::Advisory {
                rule: rule.into(),
                action,
                message: format!("{rule} message"),
                value: None,
                until: None,
            },
        )
    }

    #[test]
    fn the_summary_has_the_times_and_lists_what_is_still_open() {
        let p = Protocol::defaults().unwrap();
        let note = entry(
            5,
            40,
            EntryPayload::Act {
                seconds: Decimal::new(480, 0),
            },
        );
        let entries = vec![
            entry(
                1,
                0,
                EntryPayload::Event {
                    event: EventKind::BypassOn,
                },
            ),
            entry(
                2,
                10,
                EntryPayload::Event {
                    event: EventKind::CrossClampOn,
                },
            ),
            advisory(3, 20, "map-low", AdvisoryAction::Raised),
            advisory(4, 21, "do2i-low", AdvisoryAction::Raised),
            note.clone(),
            advisory(6, 45, "map-low", AdvisoryAction::Acknowledged),
            advisory(7, 50, "do2i-low", AdvisoryAction::Cleared),
            entry(
                8,
                55,
                EntryPayload::ArtefactMark {
                    target: ArtefactTarget::Entry(note.id),
                    reason: "sample clotted".into(),
                },
            ),
            entry(
                9,
                70,
                EntryPayload::Event {
                    event: EventKind::CrossClampOff,
                },
            ),
            entry(
                10,
                90,
                EntryPayload::Event {
                    event: EventKind::BypassOff,
                },
            ),
        ];
        let s = summarise(&entries, &p, t(120));
        assert_eq!(s.bypass, Duration::minutes(90));
        assert_eq!(s.cross_clamp, Duration::minutes(60));
        assert_eq!(s.circ_arrest, Duration::zero());
        assert_eq!(s.bypass_runs, 1);
        // map-low was acknowledged; do2i-low cleared on its own but nobody saw it.
        assert_eq!(s.open_advisories.len(), 1);
        assert_eq!(s.open_advisories[0].rule, "do2i-low");
        assert_eq!(s.artefacts.len(), 1);
        assert_eq!(s.artefacts[0].what, "ACT 480 s at 08:40");
        assert_eq!(s.artefacts[0].reason, "sample clotted");
        assert_eq!(s.scores.len(), p.scores.len());
    }
}
