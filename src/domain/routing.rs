//! Where a device's values go, decided by the record alone. A device feeds the one live case
//! (set-up or running) it is associated with; a device associated with nothing, or only with a
//! case that has ended, feeds nothing. Nothing else (which case is on screen, which case was
//! started last, which case was running when the device connected) moves a value.
//!
//! And the workflow rule of every compound step: the follow-on entries a command implies
//! (first bypass ⇒ running; completing ⇒ devices released; signing ⇒ completed + signed;
//! associating a device ⇒ released from any other live case), planned here and written by the
//! application in one transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::device::{associations, Association};
use super::record::CaseView;
use super::{CaseClocks, CaseId, CaseStatus, Entry, EntryPayload, EventKind};

/// What routing and the workflow need to know about one case, derived from its entries.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseFacts {
    pub id: CaseId,
    pub status: CaseStatus,
    pub is_demo: bool,
    pub associations: Vec<Association>,
    /// Bypass, cross-clamp and circulatory-arrest clocks (an event already in effect is not
    /// written again).
    pub clocks: CaseClocks,
}

impl CaseFacts {
    pub fn from_entries(id: CaseId, status: CaseStatus, is_demo: bool, entries: &[Entry]) -> Self {
        Self {
            id,
            status,
            is_demo,
            associations: associations(entries),
            clocks: CaseView::derive(entries).clocks(),
        }
    }

    /// Set-up and running cases take device values (pre-bypass monitoring matters); planned,
    /// completed and signed cases take none.
    pub fn takes_samples(&self) -> bool {
        takes_samples(self.status)
    }

    /// The open association of `device_key`, if any.
    pub fn open(&self, device_key: &str) -> Option<&Association> {
        self.associations
            .iter()
            .rev()
            .find(|a| a.device_key == device_key && a.ended.is_none())
    }

    pub fn open_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .associations
            .iter()
            .filter(|a| a.ended.is_none())
            .map(|a| a.device_key.clone())
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

/// Whether a case in `status` accepts telemetry.
pub fn takes_samples(status: CaseStatus) -> bool {
    matches!(status, CaseStatus::Setup | CaseStatus::Running)
}

/// Device key → the case its values go to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Routes {
    by_key: BTreeMap<String, (CaseId, String)>,
}

impl Routes {
    /// The case `device_key` feeds, if any.
    pub fn case_of(&self, device_key: &str) -> Option<CaseId> {
        self.by_key.get(device_key).map(|(c, _)| *c)
    }

    /// The role the device serves under on that case.
    pub fn role_of(&self, device_key: &str) -> Option<&str> {
        self.by_key.get(device_key).map(|(_, r)| r.as_str())
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// The routes implied by the record of every case. A device open on several live cases (only
/// possible in a database written by an older version: associating releases it elsewhere in
/// the same transaction) goes to its newest association; ties go to neither, never a guess.
pub fn routes(cases: &[CaseFacts]) -> Routes {
    let mut best: BTreeMap<String, Vec<(DateTime<Utc>, CaseId, String)>> = BTreeMap::new();
    for c in cases.iter().filter(|c| c.takes_samples()) {
        for a in c.associations.iter().filter(|a| a.ended.is_none()) {
            best.entry(a.device_key.clone())
                .or_default()
                .push((a.started, c.id, a.role.clone()));
        }
    }
    let mut by_key = BTreeMap::new();
    for (key, mut open) in best {
        open.sort_by_key(|(at, _, _)| *at);
        let newest = open.last().map(|(at, _, _)| *at);
        let tied = open.iter().filter(|(at, _, _)| Some(*at) == newest).count();
        if tied == 1 {
            if let Some((_, case, role)) = open.pop() {
                by_key.insert(key, (case, role));
            }
        }
    }
    Routes { by_key }
}

/// A second tap of the same button within this window is the same intent (a gloved double tap
/// lands about 120 ms after the first): the event buttons, whose label flips after the first tap
/// (On bypass → Off bypass).
pub const EVENT_TAP_WINDOW_MS: i64 = 2_000;
/// Checklist answers: an item shown for less than this was not read (the next item appears under
/// the finger that answered the previous one).
pub const ANSWER_TAP_WINDOW_MS: i64 = 700;
/// Any other entry saved twice in a row (a double tap on Save).
pub const SAVE_TAP_WINDOW_MS: i64 = 1_500;

/// What a tap means, for dropping a repeat: the button it came from (events that share a button
/// share a key: bypass on and off, clamp on and off; every answer of one checklist run shares
/// one) and how long a second tap of it is taken as the same intent.
pub fn tap_intent(payload: &EntryPayload) -> (String, chrono::Duration) {
    use chrono::Duration;
    match payload {
        EntryPayload::Event { event } => {
            let button = match event {
                EventKind::BypassOn | EventKind::BypassOff => "bypass",
                EventKind::CrossClampOn | EventKind::CrossClampOff => "cross_clamp",
                EventKind::CircArrestStart | EventKind::CircArrestEnd => "circ_arrest",
                EventKind::CoolingStart | EventKind::RewarmingStart => "temperature",
                EventKind::PumpStop | EventKind::PumpRestart => "pump_stop",
                EventKind::TrialOffStart | EventKind::TrialOffEnd => "trial_off",
                EventKind::ClotsSeen => "clots_seen",
                EventKind::Bleeding => "bleeding",
                EventKind::Decannulation => "decannulation",
            };
            (
                format!("event:{button}"),
                Duration::milliseconds(EVENT_TAP_WINDOW_MS),
            )
        }
        EntryPayload::ChecklistAnswer { run, .. } => (
            format!("answer:{run}"),
            Duration::milliseconds(ANSWER_TAP_WINDOW_MS),
        ),
        p => (
            p.kind().to_string(),
            Duration::milliseconds(SAVE_TAP_WINDOW_MS),
        ),
    }
}

/// A command on a case, as a screen or a task sends it.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A clinical entry (event, dose, gas, note, checklist answer, mark, ...).
    Record(EntryPayload),
    /// The device serves this case under `role` from now on.
    Associate { device_key: String, role: String },
    /// The device no longer serves this case.
    Release { device_key: String },
    /// The case has ended: devices released, status completed.
    Complete,
    /// The case is signed: completed first if it was not, then signed.
    Sign,
}

/// The entries a command writes, in order, each with its case. Empty when the command is
/// already in effect (a gloved double tap on Sign, Associate or Release changes nothing).
pub fn plan(
    case: &CaseFacts,
    others: &[CaseFacts],
    command: Command,
) -> Vec<(CaseId, EntryPayload)> {
    let mut out = Vec::new();
    match command {
        Command::Record(payload) => {
            // A start or stop already in effect (a second "On bypass" from a gloved double tap,
            // or from two screens) is not written again.
            if let EntryPayload::Event { event } = &payload {
                let c = &case.clocks;
                let in_effect = match event {
                    EventKind::BypassOn => c.bypass.is_running(),
                    EventKind::BypassOff => !c.bypass.is_running(),
                    EventKind::CrossClampOn => c.cross_clamp.is_running(),
                    EventKind::CrossClampOff => !c.cross_clamp.is_running(),
                    EventKind::CircArrestStart => c.circ_arrest.is_running(),
                    EventKind::CircArrestEnd => !c.circ_arrest.is_running(),
                    EventKind::PumpStop => c.pump_stop.is_running(),
                    EventKind::PumpRestart => !c.pump_stop.is_running(),
                    EventKind::TrialOffStart => c.trial_off.is_running(),
                    EventKind::TrialOffEnd => !c.trial_off.is_running(),
                    EventKind::CoolingStart
                    | EventKind::RewarmingStart
                    | EventKind::ClotsSeen
                    | EventKind::Bleeding
                    | EventKind::Decannulation => false,
                };
                if in_effect {
                    return out;
                }
            }
            let starts_run = matches!(
                payload,
                EntryPayload::Event {
                    event: EventKind::BypassOn
                }
            );
            out.push((case.id, payload));
            if starts_run && case.status == CaseStatus::Setup {
                out.push((
                    case.id,
                    EntryPayload::Status {
                        status: CaseStatus::Running,
                    },
                ));
            }
        }
        Command::Associate { device_key, role } => {
            if case.open(&device_key).is_some() {
                return out;
            }
            for other in others.iter().filter(|o| o.id != case.id) {
                if other.open(&device_key).is_some() && other.status < CaseStatus::Signed {
                    out.push((
                        other.id,
                        EntryPayload::DeviceReleased {
                            device_key: device_key.clone(),
                        },
                    ));
                }
            }
            out.push((case.id, EntryPayload::DeviceAssociated { device_key, role }));
        }
        Command::Release { device_key } => {
            if case.open(&device_key).is_some() {
                out.push((case.id, EntryPayload::DeviceReleased { device_key }));
            }
        }
        Command::Complete => complete(case, &mut out),
        Command::Sign => {
            if case.status == CaseStatus::Signed {
                return out;
            }
            complete(case, &mut out);
            out.push((
                case.id,
                EntryPayload::Status {
                    status: CaseStatus::Signed,
                },
            ));
        }
    }
    out
}

fn complete(case: &CaseFacts, out: &mut Vec<(CaseId, EntryPayload)>) {
    if case.status >= CaseStatus::Completed {
        return;
    }
    for device_key in case.open_keys() {
        out.push((case.id, EntryPayload::DeviceReleased { device_key }));
    }
    out.push((
        case.id,
        EntryPayload::Status {
            status: CaseStatus::Completed,
        },
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn assoc(key: &str, started: i64, ended: Option<i64>) -> Association {
        Association {
            device_key: key.into(),
            role: "role".into(),
            started: t(started),
            ended: ended.map(t),
        }
    }

    fn case(status: CaseStatus, a: Vec<Association>) -> CaseFacts {
        CaseFacts {
            id: CaseId::new(),
            status,
            is_demo: false,
            associations: a,
            clocks: CaseClocks::default(),
        }
    }

    #[test]
    fn a_device_feeds_only_the_live_case_it_is_associated_with() {
        let a = case(CaseStatus::Signed, vec![assoc("pump", 0, None)]);
        let b = case(CaseStatus::Running, vec![assoc("oxi", 5, None)]);
        let c = case(CaseStatus::Setup, vec![assoc("pump", 10, None)]);
        let r = routes(&[a.clone(), b.clone(), c.clone()]);
        assert_eq!(r.case_of("pump"), Some(c.id), "not the signed case");
        assert_eq!(r.case_of("oxi"), Some(b.id));
        assert_eq!(r.case_of("thermo"), None, "associated with nothing");
        let ended = case(CaseStatus::Running, vec![assoc("thermo", 0, Some(9))]);
        assert_eq!(routes(&[ended]).case_of("thermo"), None);
        let planned = case(CaseStatus::Planned, vec![assoc("x", 0, None)]);
        assert_eq!(routes(&[planned]).case_of("x"), None);
    }

    #[test]
    fn a_device_open_on_two_live_cases_goes_to_the_newest_and_a_tie_to_neither() {
        let a = case(CaseStatus::Running, vec![assoc("pump", 0, None)]);
        let b = case(CaseStatus::Running, vec![assoc("pump", 7, None)]);
        assert_eq!(routes(&[a.clone(), b.clone()]).case_of("pump"), Some(b.id));
        let c = case(CaseStatus::Running, vec![assoc("pump", 7, None)]);
        assert_eq!(routes(&[b, c]).case_of("pump"), None);
    }

    #[test]
    fn first_bypass_moves_a_set_up_case_to_running_in_the_same_step() {
        let on = EntryPayload::Event {
            event: EventKind::BypassOn,
        };
        let setup = case(CaseStatus::Setup, vec![]);
        let steps = plan(&setup, &[], Command::Record(on.clone()));
        assert_eq!(steps.len(), 2);
        assert_eq!(
            steps[1].1,
            EntryPayload::Status {
                status: CaseStatus::Running
            }
        );
        let running = case(CaseStatus::Running, vec![]);
        assert_eq!(plan(&running, &[], Command::Record(on)).len(), 1);
    }

    #[test]
    fn a_start_or_stop_already_in_effect_is_not_written_again() {
        let ev = |event| Command::Record(EntryPayload::Event { event });
        let mut running = case(CaseStatus::Running, vec![]);
        assert!(plan(&running, &[], ev(EventKind::BypassOff)).is_empty());
        assert!(plan(&running, &[], ev(EventKind::CrossClampOff)).is_empty());
        running.clocks = CaseClocks::from_events([(EventKind::BypassOn, t(0))]);
        assert!(
            plan(&running, &[], ev(EventKind::BypassOn)).is_empty(),
            "a second On bypass is a double tap"
        );
        assert_eq!(plan(&running, &[], ev(EventKind::BypassOff)).len(), 1);
        assert_eq!(plan(&running, &[], ev(EventKind::CrossClampOn)).len(), 1);
    }

    #[test]
    fn signing_releases_devices_completes_and_signs_once() {
        let c = case(
            CaseStatus::Running,
            vec![assoc("pump", 0, None), assoc("oxi", 0, Some(3))],
        );
        let steps: Vec<_> = plan(&c, &[], Command::Sign)
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        assert_eq!(
            steps,
            vec![
                EntryPayload::DeviceReleased {
                    device_key: "pump".into()
                },
                EntryPayload::Status {
                    status: CaseStatus::Completed
                },
                EntryPayload::Status {
                    status: CaseStatus::Signed
                },
            ]
        );
        let signed = case(CaseStatus::Signed, vec![]);
        assert!(
            plan(&signed, &[], Command::Sign).is_empty(),
            "double tap is a no-op"
        );
        let completed = case(CaseStatus::Completed, vec![]);
        assert_eq!(plan(&completed, &[], Command::Sign).len(), 1);
    }

    #[test]
    fn associating_moves_a_device_off_another_live_case_and_is_idempotent() {
        let a = case(CaseStatus::Running, vec![assoc("pump", 0, None)]);
        let b = case(CaseStatus::Setup, vec![]);
        let steps = plan(
            &b,
            std::slice::from_ref(&a),
            Command::Associate {
                device_key: "pump".into(),
                role: "console".into(),
            },
        );
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].0, a.id);
        assert_eq!(steps[1].0, b.id);
        assert!(plan(
            &a,
            &[],
            Command::Associate {
                device_key: "pump".into(),
                role: "console".into()
            }
        )
        .is_empty());
        assert!(plan(
            &b,
            &[],
            Command::Release {
                device_key: "pump".into()
            }
        )
        .is_empty());
    }
}
