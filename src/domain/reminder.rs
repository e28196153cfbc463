//! Reminders derived from the timeline and the protocol: the cardioplegia re-dose countdown
//! while the cross-clamp is on, and the ACT re-check while on bypass. Derived, never stored: a
//! corrected dose time corrects the reminder. Pure: `now` is an argument.

use chrono::{DateTime, Duration, Utc};

use super::entry::EntryPayload;
use super::protocol::Protocol;
use super::record::CaseView;

#[derive(Debug, Clone, PartialEq)]
pub struct Reminder {
    /// "cardioplegia" or "act".
    pub id: &'static str,
    pub label: String,
    pub due_at: DateTime<Utc>,
    /// What the due time is computed from, for the screen ("last dose 09:12, del Nido every 90 min").
    pub basis: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    In(Duration),
    Overdue(Duration),
}

impl Reminder {
    pub fn due(&self, now: DateTime<Utc>) -> Due {
        if now < self.due_at {
            Due::In(self.due_at - now)
        } else {
            Due::Overdue(now - self.due_at)
        }
    }
}

fn minutes(m: f64) -> Duration {
    Duration::milliseconds((m * 60_000.0).round() as i64)
}

/// The reminders in force for this view of a case. Where a countdown cannot be computed (no dose
/// since the clamp went on, a solution the protocol does not know) the item is an `Err` with the
/// reason, so the screen says why there is no countdown instead of silently showing none.
pub fn reminders(view: &CaseView, protocol: &Protocol) -> Vec<Result<Reminder, String>> {
    let clocks = view.clocks();
    let mut out = Vec::new();
    if let Some(clamp_on) = clocks.cross_clamp.running_since {
        let last = view
            .entries
            .iter()
            .filter(|e| e.artefact.is_none() && e.occurred_at() >= clamp_on)
            .filter_map(|e| match e.payload {
                EntryPayload::Cardioplegia(d) => Some((e.occurred_at(), d)),
                _ => None,
            })
            .max_by_key(|(at, _)| *at);
        out.push(match last {
            None => Err("cross-clamp on and no cardioplegia dose recorded since".to_string()),
            Some((at, dose)) => match protocol.cardioplegia(&dose.solution) {
                Some(p) => Ok(Reminder {
                    id: "cardioplegia",
                    label: format!("Cardioplegia re-dose ({})", p.name),
                    due_at: at + minutes(p.redose_interval_min),
                    basis: format!(
                        "last dose {}, {} every {} min",
                        at.format("%H:%M"),
                        p.name,
                        p.redose_interval_min
                    ),
                }),
                None => Err(format!(
                    "no re-dose interval for \"{}\" in the protocol",
                    dose.solution
                )),
            },
        });
    }
    if let Some(bypass_on) = clocks.bypass.running_since {
        // From the latest ACT on bypass, else from going on bypass.
        let last_act = view
            .entries
            .iter()
            .filter(|e| e.artefact.is_none() && e.occurred_at() >= bypass_on)
            .filter(|e| matches!(e.payload, EntryPayload::Act { .. }))
            .map(|e| e.occurred_at())
            .max();
        let (from, what) = match last_act {
            Some(at) => (at, "last ACT"),
            None => (bypass_on, "bypass on"),
        };
        let every = protocol.anticoagulation.act_recheck_min;
        out.push(Ok(Reminder {
            id: "act",
            label: "ACT re-check".into(),
            due_at: from + minutes(every),
            basis: format!("{what} {}, every {every} min", from.format("%H:%M")),
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::entry::{CardioplegiaDose, CardioplegiaRoute, Entry};
    use crate::domain::{Author, CaseId, Decimal, EntryId, EventKind};
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

    fn event(seq: u64, min: i64, event: EventKind) -> Entry {
        entry(seq, min, EntryPayload::Event { event })
    }

    fn dose(seq: u64, min: i64, solution: &str) -> Entry {
        entry(
            seq,
            min,
            EntryPayload::Cardioplegia(CardioplegiaDose {
                solution: solution.into(),
                volume_ml: Decimal::new(1000, 0),
                crystalloid_ml: Decimal::new(200, 0),
                route: CardioplegiaRoute::Antegrade,
                temperature_c: Decimal::new(4, 0),
            }),
        )
    }

    #[test]
    fn cardioplegia_countdown_follows_the_last_dose_and_the_protocol_interval() {
        let p = Protocol::defaults().unwrap();
        let entries = vec![
            event(1, 0, EventKind::BypassOn),
            event(2, 5, EventKind::CrossClampOn),
            dose(3, 6, "Buckberg 4:1"),
            dose(4, 24, "Buckberg 4:1"),
        ];
        let r = reminders(&CaseView::derive(&entries), &p);
        let cp = r.iter().flatten().find(|r| r.id == "cardioplegia").unwrap();
        assert_eq!(cp.due_at, t(44), "20 min after the last dose");
        assert_eq!(cp.due(t(40)), Due::In(Duration::minutes(4)));
        assert_eq!(cp.due(t(50)), Due::Overdue(Duration::minutes(6)));
        assert!(cp.basis.contains("every 20 min"), "{}", cp.basis);
        // ACT: none yet, so 30 min from bypass on.
        let act = r.iter().flatten().find(|r| r.id == "act").unwrap();
        assert_eq!(act.due_at, t(30));
    }

    #[test]
    fn an_act_restarts_its_countdown_and_clamp_off_ends_the_cardioplegia_one() {
        let p = Protocol::defaults().unwrap();
        let entries = vec![
            event(1, 0, EventKind::BypassOn),
            event(2, 5, EventKind::CrossClampOn),
            dose(3, 6, "del Nido"),
            entry(
                4,
                25,
                EntryPayload::Act {
                    seconds: Decimal::new(520, 0),
                },
            ),
            event(5, 70, EventKind::CrossClampOff),
        ];
        let r = reminders(&CaseView::derive(&entries), &p);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].as_ref().unwrap().due_at, t(55));
    }

    #[test]
    fn missing_doses_and_unknown_solutions_say_why_there_is_no_countdown() {
        let p = Protocol::defaults().unwrap();
        let clamp_only = vec![
            event(1, 0, EventKind::BypassOn),
            event(2, 5, EventKind::CrossClampOn),
        ];
        let r = reminders(&CaseView::derive(&clamp_only), &p);
        assert!(r.iter().any(|r| r
            .as_ref()
            .is_err_and(|e| e.contains("no cardioplegia dose"))));
        let unknown = vec![
            event(1, 0, EventKind::BypassOn),
            event(2, 5, EventKind::CrossClampOn),
            dose(3, 6, "House mix"),
        ];
        let r = reminders(&CaseView::derive(&unknown), &p);
        assert!(r
            .iter()
            .any(|r| r.as_ref().is_err_and(|e| e.contains("House mix"))));
        assert!(
            reminders(&CaseView::derive(&[]), &p).is_empty(),
            "nothing off bypass"
        );
    }
}
