//! The case session: the one path for every clinical write, and the published state of the case
//! on screen.
//!
//! Every command (an entry, associating or releasing a device, completing, signing) comes here.
//! The session stamps author and time, plans the follow-on steps with `domain::routing::plan`
//! (first bypass ⇒ running; completing ⇒ devices released; signing ⇒ completed + signed;
//! associating ⇒ released from any other live case) and writes them in one store transaction,
//! so a crash or a refusal never leaves half a step. After a write that touches associations or
//! status, the device routes are recomputed from the record and handed to the hub.
//!
//! The case the screens show is chosen by a person (`follow`), or at start-up the newest live
//! case; nothing moves it on its own. Its state (case, entries, patient, targets) is published on
//! a watch channel; the UI mirrors it into signals.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::devices::{DeviceHub, HubEvent};
use super::monitor::{MonitorState, MonitorView};
use crate::domain::anticoag::Anticoagulation;
use crate::domain::board::{targets, LiveFacts, Targets};
use crate::domain::gdp::{do2i_over_case, GdpReport};
use crate::domain::patient::Mrn;
use crate::domain::protocol::Protocol;
use crate::domain::quality::{Monitored, Source as QualitySource};
use crate::domain::record::CaseView;
use crate::domain::routing::{self, CaseFacts, Command};
use crate::domain::summary::{summarise_with, CaseEndSummary};
use crate::domain::telemetry::Bucket;
use crate::domain::user::Action;
use crate::domain::{
    Author, CaseId, CaseKind, CaseStatus, CaseSummary, Entry, EntryPayload, EventKind, NewEntry,
    Parameter, Patient, ValidationError,
};
use crate::store::{NewCase, Store, StoreError};

/// The state of the followed case, as the screens show it.
#[derive(Debug, Clone, Default)]
pub struct CaseState {
    pub case: Option<CaseSummary>,
    /// Every entry of the case, in recording order.
    pub entries: Arc<Vec<Entry>>,
    pub patient: Option<Patient>,
    pub targets: Option<Targets>,
    /// What the live screen needs from the record (clocks, typed values, reminders, events),
    /// derived once per change here, not by every component on every render.
    pub facts: Arc<LiveFacts>,
    /// Bumped on every change, so a mirror can tell a new state from the same one.
    pub version: u64,
}

/// Cheap to clone.
#[derive(Clone)]
pub struct CaseSession {
    pub(super) store: Store,
    /// Who may write, and the author stamped on what they write (`access.rs`).
    access: super::access::Access,
    pub(super) protocol: Arc<Protocol>,
    pub(super) hub: DeviceHub,
    /// The advisory watcher and live calculations (see `monitor.rs`).
    monitor: Arc<Mutex<MonitorState>>,
    pub(super) monitor_view: Arc<watch::Sender<MonitorView>>,
    state: Arc<watch::Sender<CaseState>>,
    followed: Arc<Mutex<Option<CaseId>>>,
    /// Commands are planned and written one at a time, so two taps cannot both plan from the
    /// same facts (a double tap on Sign writes one signature).
    writing: Arc<tokio::sync::Mutex<()>>,
    /// Commands the store could not write yet, oldest first.
    held: Arc<Mutex<std::collections::VecDeque<HeldCommand>>>,
    write_error: Arc<watch::Sender<Option<String>>>,
    /// Called after every write (the sync engine's nudge).
    on_write: Arc<Mutex<Option<WriteHook>>>,
    /// The last tap from a screen (a double tap within its window is dropped).
    last_tap: Arc<Mutex<Option<LastTap>>>,
}

/// Run after every successful write.
pub type WriteHook = Arc<dyn Fn() + Send + Sync>;

/// Why a command is not (yet) in the record.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Refused (a validation rule, an unknown case): nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store cannot write now: the command is held in memory, in order, and written when it
    /// works again. It is not on disk yet.
    #[error("not on disk yet: the record cannot be written ({why}); {held} step(s) held in memory will be written when it works again")]
    Held { why: String, held: usize },
    /// Already in effect (a repeated tap): nothing was written, nothing needed to be.
    #[error("already recorded: nothing changed")]
    Unchanged,
    /// A second tap of the same button within its window: taken as the same intent and dropped.
    #[error("second tap within {window_ms} ms of \"{previous}\" ignored: nothing recorded")]
    Repeated { previous: String, window_ms: i64 },
    /// The person at the device may not do this (role, lock, nobody signed in): nothing written.
    #[error("not recorded: {0}")]
    Access(#[from] super::access::AccessError),
}

impl WriteError {
    /// For a caller that reports store errors only (start-up, starting a case): a held or
    /// unchanged step becomes a sentence saying so.
    pub fn into_store_error(self) -> StoreError {
        match self {
            WriteError::Store(e) => e,
            other => StoreError::Corrupt(other.to_string()),
        }
    }

    /// Bypass was held by the anticoagulation gate: why (heparin, ACT) in words.
    pub fn anticoagulation_required(&self) -> Option<&str> {
        match self {
            WriteError::Store(StoreError::Invalid(ValidationError::AnticoagulationRequired {
                why,
                ..
            })) => Some(why),
            _ => None,
        }
    }

    /// Bypass was held by the pre-bypass checklist gate.
    pub fn checklist_required(&self) -> bool {
        matches!(
            self,
            WriteError::Store(StoreError::Invalid(
                ValidationError::ChecklistRequired { .. }
            ))
        )
    }
}

/// The disk or file failing (hold and retry), as opposed to a refusal of the data itself.
pub fn is_write_failure(e: &StoreError) -> bool {
    matches!(e, StoreError::Sqlite(_) | StoreError::Closed)
}

/// The last tap taken from a screen (for dropping a double tap).
#[derive(Debug, Clone)]
struct LastTap {
    case: CaseId,
    key: String,
    label: String,
    at: DateTime<Utc>,
}

/// A command waiting for the store, with the time it was given.
#[derive(Debug, Clone)]
struct HeldCommand {
    case: CaseId,
    command: Command,
    at: DateTime<Utc>,
    /// Who gave it (authorised when given).
    author: Author,
}

impl CaseSession {
    /// A session where every command is allowed as `author` (demo mode; tests of other layers).
    pub fn new(store: Store, author: Author, protocol: Arc<Protocol>, hub: DeviceHub) -> Self {
        Self::with_access(store, super::access::Access::open(author), protocol, hub)
    }

    /// A session whose commands are authorised by `access` (a real installation).
    pub fn with_access(
        store: Store,
        access: super::access::Access,
        protocol: Arc<Protocol>,
        hub: DeviceHub,
    ) -> Self {
        Self {
            store,
            access,
            protocol,
            hub,
            monitor: Arc::new(Mutex::new(MonitorState::default())),
            monitor_view: Arc::new(watch::channel(MonitorView::default()).0),
            state: Arc::new(watch::channel(CaseState::default()).0),
            followed: Arc::new(Mutex::new(None)),
            writing: Arc::new(tokio::sync::Mutex::new(())),
            held: Arc::new(Mutex::new(std::collections::VecDeque::new())),
            write_error: Arc::new(watch::channel(None).0),
            on_write: Arc::new(Mutex::new(None)),
            last_tap: Arc::new(Mutex::new(None)),
        }
    }

    /// Run `f` after every successful write (from the write's task; must not block).
    pub fn set_on_write(&self, f: WriteHook) {
        if let Ok(mut g) = self.on_write.lock() {
            *g = Some(f);
        }
    }

    /// The author stamped on a command given now (the signed-in user on this device).
    pub fn author(&self) -> Author {
        self.access.author()
    }

    /// Sign-in, roles and the lock.
    pub fn access(&self) -> &super::access::Access {
        &self.access
    }

    /// Record `payload` as Pumpside itself (advisories, device link changes, the demo's set-up):
    /// not a person's command, so neither the lock nor a role stops it.
    /// A write by Pumpside itself at a clinical time of its own (the demo's history).
    pub(super) async fn system_record_at(
        &self,
        case: CaseId,
        payload: EntryPayload,
        at: chrono::DateTime<Utc>,
        what: &str,
    ) -> Result<Vec<Entry>, WriteError> {
        self.write_as(case, Command::Record(payload), at, self.access.system(what))
            .await
    }

    pub(super) async fn system_record(
        &self,
        case: CaseId,
        payload: EntryPayload,
        what: &str,
    ) -> Result<Vec<Entry>, WriteError> {
        self.write_as(
            case,
            Command::Record(payload),
            Utc::now(),
            self.access.system(what),
        )
        .await
    }

    /// The published state of the followed case.
    pub fn state(&self) -> watch::Receiver<CaseState> {
        self.state.subscribe()
    }

    /// What the monitor publishes for the followed case (advisories, live DO2i).
    pub fn monitor(&self) -> watch::Receiver<MonitorView> {
        self.monitor_view.subscribe()
    }

    pub(super) fn lock_monitor(&self) -> std::sync::MutexGuard<'_, MonitorState> {
        self.monitor.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The followed case's id.
    pub fn followed(&self) -> Option<CaseId> {
        self.followed.lock().ok().and_then(|g| *g)
    }

    /// Follow the newest live case when none is followed yet (start-up), compute the routes
    /// from the record and start listening to the device hub. Call inside the runtime.
    pub async fn start(&self) -> Result<(), StoreError> {
        if self.followed().is_none() {
            let newest = self
                .store
                .list_cases()
                .await?
                .into_iter()
                .find(|c| routing::takes_samples(c.status))
                .map(|c| c.id);
            self.set_followed(newest);
        }
        self.refresh().await?;
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                let waiting = me.held.lock().map(|h| !h.is_empty()).unwrap_or(false);
                if waiting {
                    me.drain_held().await;
                }
            }
        });
        if let Some(samples) = self.hub.take_monitor_feed() {
            tokio::spawn(self.clone().run_monitor(samples));
        }
        if let Some(mut events) = self.hub.take_events() {
            let me = self.clone();
            tokio::spawn(async move {
                while let Some(e) = events.recv().await {
                    me.on_hub_event(e).await;
                }
            });
        }
        Ok(())
    }

    fn set_followed(&self, case: Option<CaseId>) {
        if let Ok(mut g) = self.followed.lock() {
            *g = case;
        }
    }

    /// Show `case` on the screens (a person chose it).
    pub async fn follow(&self, case: CaseId) -> Result<(), StoreError> {
        self.store.case_status(case).await?;
        self.set_followed(Some(case));
        self.publish_monitor();
        self.publish().await
    }

    /// Reload the routes and the followed case from the store.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        self.reroute().await?;
        self.publish().await
    }

    /// One case as listed (status derived from its record).
    pub(super) async fn summary(&self, case: CaseId) -> Result<CaseSummary, StoreError> {
        self.store
            .list_cases()
            .await?
            .into_iter()
            .find(|c| c.id == case)
            .ok_or_else(|| ValidationError::UnknownCase(case).into())
    }

    /// Every case with its facts (status, associations), for routing and planning.
    async fn facts(&self, cases: &[CaseSummary]) -> Result<Vec<CaseFacts>, StoreError> {
        let mut out = Vec::new();
        for c in cases {
            let entries = self.store.entries(c.id).await?;
            out.push(CaseFacts::from_entries(c.id, c.status, c.is_demo, &entries));
        }
        Ok(out)
    }

    /// Recompute where each device's values go from the record of every live case.
    async fn reroute(&self) -> Result<(), StoreError> {
        let live: Vec<CaseSummary> = self
            .store
            .list_cases()
            .await?
            .into_iter()
            .filter(|c| routing::takes_samples(c.status))
            .collect();
        let facts = self.facts(&live).await?;
        let routes = routing::routes(&facts);
        tracing::info!(devices = routes.len(), "device routes from the record");
        self.hub.set_routes(routes);
        Ok(())
    }

    /// Publish the followed case's state.
    async fn publish(&self) -> Result<(), StoreError> {
        let Some(id) = self.followed() else {
            self.state.send_modify(|s| {
                *s = CaseState {
                    version: s.version + 1,
                    ..CaseState::default()
                }
            });
            return Ok(());
        };
        let case = self.summary(id).await?;
        let entries = self.store.entries(id).await?;
        let patient = match case.patient {
            Some(p) => self.store.patient(p).await?,
            None => None,
        };
        let computed = patient
            .as_ref()
            .and_then(|p| match targets(p, &self.protocol) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::warn!(error = %e, "no targets for this patient");
                    None
                }
            });
        let facts = Arc::new(LiveFacts::derive(&entries, &self.protocol, case.kind));
        self.state.send_modify(|s| {
            *s = CaseState {
                case: Some(case),
                entries: Arc::new(entries),
                patient,
                targets: computed,
                facts,
                version: s.version + 1,
            }
        });
        Ok(())
    }

    /// Record `payload` on `case` as the signed-in user, now, with its follow-on steps. Returns
    /// the entry for `payload` itself.
    pub async fn record(&self, case: CaseId, payload: EntryPayload) -> Result<Entry, WriteError> {
        let kind = payload.kind();
        let written = self.command(case, Command::Record(payload)).await?;
        if written.is_empty() {
            return Err(WriteError::Unchanged);
        }
        written
            .into_iter()
            .find(|e| e.case_id == case && e.payload.kind() == kind)
            .ok_or_else(|| StoreError::Corrupt("the entry written was not returned".into()).into())
    }

    /// Record `payload` from a tap on a screen. A second tap of the same button within its
    /// window (`routing::tap_intent`: a gloved double tap, the event button whose label flipped
    /// under the finger, the next checklist item drawn under it) is dropped and said
    /// (`WriteError::Repeated`); an entry already in effect is `Unchanged`. The tap is claimed
    /// before the write, so a second tap arriving while the first is still being written is
    /// dropped too; a tap whose write fails does not count.
    pub async fn record_tap(
        &self,
        case: CaseId,
        payload: EntryPayload,
    ) -> Result<Entry, WriteError> {
        let (key, window) = routing::tap_intent(&payload);
        let label = crate::domain::quick::describe(&payload);
        let now = Utc::now();
        let previous = {
            let mut last = self.last_tap.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(t) = last.as_ref() {
                if t.case == case && t.key == key && now - t.at < window {
                    tracing::info!(button = %key, "second tap within its window dropped");
                    return Err(WriteError::Repeated {
                        previous: t.label.clone(),
                        window_ms: window.num_milliseconds(),
                    });
                }
            }
            last.replace(LastTap {
                case,
                key,
                label,
                at: now,
            })
        };
        let result = self.record(case, payload).await;
        if matches!(result, Err(ref e) if !matches!(e, WriteError::Unchanged | WriteError::Held { .. }))
        {
            *self.last_tap.lock().unwrap_or_else(|p| p.into_inner()) = previous;
        }
        result
    }

    /// Carry out a command on `case`: plan its steps from the record and write them in one
    /// transaction, stamped now. An empty result means it was already in effect (a repeated
    /// tap). When the store cannot write (a full disk, a damaged file) the command is held in
    /// memory, in order behind any held before it, and written by the retry task once the store
    /// takes writes again; the caller is told it is not on disk yet (`WriteError::Held`).
    pub async fn command(&self, case: CaseId, command: Command) -> Result<Vec<Entry>, WriteError> {
        self.command_at(case, command, Utc::now()).await
    }

    /// [`command`](Self::command) with its clinical time given: a result taken in from the
    /// hospital's laboratory happened when the sample was taken, not when it was accepted.
    pub async fn command_at(
        &self,
        case: CaseId,
        command: Command,
        at: DateTime<Utc>,
    ) -> Result<Vec<Entry>, WriteError> {
        let kind = self.store.case_kind(case).await?;
        let action = match &command {
            Command::Sign | Command::Record(EntryPayload::ChecklistSigned { .. }) => {
                Action::Sign(kind)
            }
            _ => Action::Record(kind),
        };
        let author = self.access.check(action).await?;
        self.write_as(case, command, at, author).await
    }

    /// Write a command as `author` (already authorised, or Pumpside itself).
    pub(super) async fn write_as(
        &self,
        case: CaseId,
        command: Command,
        at: DateTime<Utc>,
        author: Author,
    ) -> Result<Vec<Entry>, WriteError> {
        if matches!(command, Command::Sign) {
            // A signature attests the record as it is: the whole case is checked against its
            // seals first, and a record changed outside Pumpside is not signed.
            self.store.verify_case(case).await?;
            let findings = self.store.check_case(case).await?;
            if !findings.is_empty() {
                return Err(StoreError::Altered {
                    case,
                    action: "signing",
                    findings: findings.iter().map(|f| f.to_string()).collect(),
                }
                .into());
            }
        }
        let _one_at_a_time = self.writing.lock().await;
        let held_before = self.held.lock().map(|h| h.len()).unwrap_or(0);
        if held_before > 0 {
            return Err(self.hold(case, command, at, author, None));
        }
        match self
            .execute(case, command.clone(), at, author.clone())
            .await
        {
            Ok(written) => {
                self.write_error.send_if_modified(|e| e.take().is_some());
                Ok(written)
            }
            Err(e) if is_write_failure(&e) => {
                Err(self.hold(case, command, at, author, Some(e.to_string())))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn hold(
        &self,
        case: CaseId,
        command: Command,
        at: DateTime<Utc>,
        author: Author,
        why: Option<String>,
    ) -> WriteError {
        let held = match self.held.lock() {
            Ok(mut h) => {
                h.push_back(HeldCommand {
                    case,
                    command,
                    at,
                    author,
                });
                h.len()
            }
            Err(_) => 0,
        };
        if let Some(w) = why {
            self.write_error.send_replace(Some(w));
        }
        let why = self
            .write_error
            .borrow()
            .clone()
            .unwrap_or_else(|| "earlier steps are still waiting".into());
        tracing::error!(held, error = %why, "record not written; step held in memory");
        WriteError::Held { why, held }
    }

    /// Write held commands, oldest first, while the store takes them. One refused on its
    /// merits (the record moved on) is dropped with a named message; a write failure stops.
    async fn drain_held(&self) {
        let _one_at_a_time = self.writing.lock().await;
        loop {
            let next = self.held.lock().ok().and_then(|h| h.front().cloned());
            let Some(h) = next else {
                self.write_error.send_if_modified(|e| e.take().is_some());
                return;
            };
            match self
                .execute(h.case, h.command.clone(), h.at, h.author.clone())
                .await
            {
                Ok(_) => {}
                Err(e) if is_write_failure(&e) => {
                    self.write_error.send_replace(Some(e.to_string()));
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "a step held during the outage was refused");
                    self.write_error.send_replace(Some(format!(
                        "a step held while the record could not be written was refused: {e}"
                    )));
                }
            }
            if let Ok(mut q) = self.held.lock() {
                q.pop_front();
            }
        }
    }

    /// Why the record cannot be written now (`None` when it can), and how many steps wait.
    pub fn write_problem(&self) -> (Option<String>, usize) {
        (
            self.write_error.borrow().clone(),
            self.held.lock().map(|h| h.len()).unwrap_or(0),
        )
    }

    async fn execute(
        &self,
        case: CaseId,
        command: Command,
        at: DateTime<Utc>,
        author: Author,
    ) -> Result<Vec<Entry>, StoreError> {
        let cases = self.store.list_cases().await?;
        let this = cases
            .iter()
            .find(|c| c.id == case)
            .cloned()
            .ok_or(ValidationError::UnknownCase(case))?;
        // Associations matter only to device commands and the end of a case, clocks only to
        // events; an ordinary entry needs the status alone, so the hot path reads no entries.
        let needs_record = !matches!(
            &command,
            Command::Record(p) if !matches!(p, EntryPayload::Event { .. })
        );
        let (facts, others) = if needs_record {
            // Other live cases matter only when a device moves between cases.
            let others: Vec<CaseSummary> = if matches!(command, Command::Associate { .. }) {
                cases
                    .iter()
                    .filter(|c| c.id != case && routing::takes_samples(c.status))
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            };
            let mut facts = self.facts(std::slice::from_ref(&this)).await?;
            (facts.remove(0), self.facts(&others).await?)
        } else {
            (
                CaseFacts {
                    id: this.id,
                    status: this.status,
                    is_demo: this.is_demo,
                    associations: Vec::new(),
                    clocks: Default::default(),
                },
                Vec::new(),
            )
        };
        // Starting bypass wants heparin given and an ACT at the protocol's target after it
        // (or an override with a reason): decided from the record here, before anything is
        // written. The pre-bypass checklist gate is the store's, in the same transaction.
        let starts_bypass = matches!(
            &command,
            Command::Record(EntryPayload::Event {
                event: EventKind::BypassOn
            })
        ) && !facts.clocks.bypass.is_running();
        if starts_bypass && this.kind == CaseKind::Cpb {
            let entries = self.store.entries(case).await?;
            let a = Anticoagulation::derive(&CaseView::derive(&entries), &self.protocol);
            if let Err(held) = a.bypass_gate() {
                return Err(ValidationError::AnticoagulationRequired {
                    why: held.to_string(),
                    target_s: a.target_s,
                }
                .into());
            }
        }
        let steps = routing::plan(&facts, &others, command);
        if steps.is_empty() {
            return Ok(Vec::new());
        }
        let reroute = steps.iter().any(|(_, p)| {
            matches!(
                p,
                EntryPayload::Status { .. }
                    | EntryPayload::DeviceAssociated { .. }
                    | EntryPayload::DeviceReleased { .. }
            )
        });
        let news = steps
            .into_iter()
            .map(|(case_id, payload)| NewEntry {
                case_id,
                occurred_at: at,
                author: author.clone(),
                payload,
            })
            .collect();
        let written = self.store.append_entries(news).await?;
        {
            let mut m = self.lock_monitor();
            for e in &written {
                tracing::info!(kind = e.payload.kind(), "entry recorded");
                m.dirty.insert(e.case_id);
            }
        }
        // On disk from here: what follows only refreshes views, and its failure is logged,
        // never reported as a failed write.
        if reroute {
            if let Err(e) = self.reroute().await {
                tracing::error!(error = %e, "device routes not refreshed");
            }
        }
        if let Err(e) = self.after_write(&written).await {
            tracing::error!(error = %e, "case view not refreshed");
        }
        Ok(written)
    }

    /// Publish the new entries of the followed case (appended, not reloaded, unless its status
    /// changed) and tell sync.
    async fn after_write(&self, written: &[Entry]) -> Result<(), StoreError> {
        let followed = self.followed();
        let status_changed = written.iter().any(|e| {
            Some(e.case_id) == followed && matches!(e.payload, EntryPayload::Status { .. })
        });
        if status_changed {
            self.publish().await?;
        } else if written.iter().any(|e| Some(e.case_id) == followed) {
            let protocol = self.protocol.clone();
            self.state.send_modify(|s| {
                let entries = Arc::make_mut(&mut s.entries);
                entries.extend(
                    written
                        .iter()
                        .filter(|e| Some(e.case_id) == followed)
                        .cloned(),
                );
                // Derived once here, per change, for every screen.
                let kind = s.case.as_ref().map_or(CaseKind::Cpb, |c| c.kind);
                s.facts = Arc::new(LiveFacts::derive(entries, &protocol, kind));
                s.version += 1;
            });
        }
        let hook = self.on_write.lock().ok().and_then(|g| g.clone());
        if let Some(f) = hook {
            f();
        }
        Ok(())
    }

    /// The trend of each of `parameters` between `from` and `to` in `buckets` buckets: per
    /// parameter the case channel with the most recent data, its buckets converted from the
    /// channel's unit (as received: kPa, °F, ...) to internal units for drawing.
    pub async fn trend_series(
        &self,
        case: CaseId,
        parameters: &[Parameter],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        buckets: u32,
    ) -> Result<Vec<(Parameter, Vec<Bucket>)>, StoreError> {
        let channels = self.store.channels(case).await?;
        let mut out = Vec::with_capacity(parameters.len());
        for &p in parameters {
            let mut best: Vec<Bucket> = Vec::new();
            for ch in channels.iter().filter(|c| c.parameter == p) {
                let mut b = self.store.trend(ch.id, from, to, buckets).await?;
                for x in &mut b {
                    x.min = ch.to_internal(x.min)?;
                    x.max = ch.to_internal(x.max)?;
                    x.mean = ch.to_internal(x.mean)?;
                }
                if b.last().map(|x| x.end) > best.last().map(|x| x.end) {
                    best = b;
                }
            }
            out.push((p, best));
        }
        Ok(out)
    }

    /// Goal-directed perfusion over the case for its review: DO2i at every recorded pump-flow
    /// sample on bypass with the latest arterial gas at that moment, then nadir, time and area
    /// below the protocol's threshold, gaps reported (`domain::gdp`). `Err` says why there is
    /// none (no patient size, no flow, ...).
    pub async fn gdp_report(&self, case: CaseId) -> Result<GdpReport, String> {
        let fail = |e: StoreError| e.to_string();
        let summary = self.summary(case).await.map_err(fail)?;
        let patient = match summary.patient {
            Some(p) => self.store.patient(p).await.map_err(fail)?,
            None => None,
        };
        let bsa = patient.as_ref().ok_or("no patient: BSA unknown")?;
        let bsa = targets(bsa, &self.protocol)
            .map_err(|e| e.to_string())?
            .bsa_m2;
        let entries = self.store.entries(case).await.map_err(fail)?;
        let now = Utc::now();
        let mut flow: Vec<(DateTime<Utc>, f64)> = Vec::new();
        for ch in self
            .store
            .channels(case)
            .await
            .map_err(fail)?
            .into_iter()
            .filter(|c| c.parameter == Parameter::PumpFlow)
        {
            for s in self
                .store
                .counted_samples(ch.id, summary.created_at, now)
                .await
                .map_err(fail)?
            {
                let v = ch
                    .to_internal(s.value.to_f64())
                    .map_err(|e| e.to_string())?;
                flow.push((s.received_at, v));
            }
        }
        flow.sort_by_key(|(t, _)| *t);
        let view = crate::domain::record::CaseView::derive(&entries);
        do2i_over_case(
            &view,
            &flow,
            bsa,
            self.protocol.oxygen,
            self.protocol.gdp.do2i_threshold,
            chrono::Duration::milliseconds((self.protocol.gdp.max_gap_s * 1000.0) as i64),
            now,
        )
        .map_err(|e| e.to_string())
    }

    /// What the case's devices monitored for the parameters its protocol judges (scores and
    /// indicators whose source is a monitored parameter), in display units, counted samples only.
    pub async fn monitored(&self, case: CaseId) -> Result<Vec<Monitored>, StoreError> {
        let mut wanted: Vec<Parameter> = Vec::new();
        let mut want = |s: &QualitySource| {
            if let QualitySource::Measurement(p) = s {
                if !wanted.contains(p) {
                    wanted.push(*p);
                }
            }
        };
        for sc in &self.protocol.scores {
            for r in &sc.rules {
                want(&r.source);
            }
        }
        for i in &self.protocol.indicators {
            want(&i.source);
        }
        let summary = self.summary(case).await?;
        let now = Utc::now();
        let mut out = Vec::new();
        for ch in self
            .store
            .channels(case)
            .await?
            .into_iter()
            .filter(|c| wanted.contains(&c.parameter))
        {
            let p = ch.parameter;
            let mut samples = Vec::new();
            for s in self
                .store
                .counted_samples(ch.id, summary.created_at, now)
                .await?
            {
                let v = ch.to_internal(s.value.to_f64())?;
                samples.push((s.received_at, p.to_display_unit(v)));
            }
            out.push(Monitored {
                parameter: p,
                channel: ch.id,
                samples,
            });
        }
        Ok(out)
    }

    /// The case-end review: times, balance, extremes, and scores and indicators judged on the
    /// record and what the devices monitored.
    pub async fn review(&self, case: CaseId) -> Result<CaseEndSummary, StoreError> {
        let entries = self.store.entries(case).await?;
        let monitored = self.monitored(case).await?;
        Ok(summarise_with(
            &entries,
            &monitored,
            &self.protocol,
            Utc::now(),
        ))
    }

    /// Sign the case (completing it first when needed). Idempotent.
    pub async fn sign(&self, case: CaseId) -> Result<Vec<Entry>, WriteError> {
        self.command(case, Command::Sign).await
    }

    /// Start a case for the patient with `mrn`: register them first when `register` carries
    /// the demographics typed from the hospital's record, then create the case in set-up, record
    /// the protocol in force, and follow it. `is_demo` cases take only simulated values.
    pub async fn start_case(
        &self,
        mrn: &Mrn,
        register: Option<Patient>,
        kind: CaseKind,
        label: String,
        is_demo: bool,
    ) -> Result<CaseSummary, WriteError> {
        let author = self.access.check(Action::Record(kind)).await?;
        let patient = match self.store.find_patient(&mrn.system, &mrn.value).await? {
            Some((id, _)) => id,
            None => match register {
                Some(p) => self.store.create_patient(p, author.clone()).await?,
                None => {
                    return Err(WriteError::Store(
                        ValidationError::Invalid {
                            field: "MRN".into(),
                            value: mrn.value.clone(),
                            allowed: "a patient registered on this device (register them first)"
                                .into(),
                        }
                        .into(),
                    ))
                }
            },
        };
        let case = self
            .store
            .create_case(
                NewCase {
                    kind,
                    patient: Some(patient),
                    label,
                    is_demo,
                    status: CaseStatus::Setup,
                },
                author.clone(),
            )
            .await?;
        self.record_protocol(case.id, author).await?;
        tracing::info!(kind = kind.code(), is_demo, "case started");
        self.set_followed(Some(case.id));
        self.refresh().await?;
        Ok(case)
    }

    /// Record on a case which protocol version is in force.
    pub async fn record_protocol(&self, case: CaseId, author: Author) -> Result<(), WriteError> {
        self.write_as(
            case,
            Command::Record(EntryPayload::Protocol {
                name: self.protocol.name.clone(),
                version: self.protocol.version.clone(),
            }),
            Utc::now(),
            author,
        )
        .await
        .map(|_| ())
    }

    /// Device events: a simulated device serves the live demo case (the documented demo rule;
    /// a real device serves only the case a person associated it with), and link loss and
    /// return of a device serving a case go on that case's timeline.
    async fn on_hub_event(&self, e: HubEvent) {
        match e {
            HubEvent::Connected {
                key,
                simulated: true,
                ..
            } => {
                // A demo ECMO console serves its own demo run; the other demo devices the
                // CPB demo case.
                let demo = match self.store.list_cases().await {
                    Ok(cases) => super::demo_ecmo::run_for_console(&key, &cases).or_else(|| {
                        cases.into_iter().find(|c| {
                            c.is_demo
                                && c.kind == crate::domain::CaseKind::Cpb
                                && routing::takes_samples(c.status)
                        })
                    }),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot list cases for the demo device");
                        None
                    }
                };
                if let Some(demo) = demo {
                    let cmd = Command::Associate {
                        device_key: key,
                        role: "simulated device (demo)".into(),
                    };
                    let demo_author = self.access.system("demo");
                    if let Err(e) = self.write_as(demo.id, cmd, Utc::now(), demo_author).await {
                        tracing::error!(error = %e, "demo device not associated");
                    }
                }
            }
            HubEvent::Connected { .. } => {}
            HubEvent::LinkLost { key, reason, .. } => {
                self.link_event(key, false, reason).await;
            }
            HubEvent::IdentityChanged { was, now, .. } => {
                self.link_event(
                    was,
                    false,
                    format!("identity changed on reconnect (now {now}): recording from it stopped"),
                )
                .await;
            }
            HubEvent::LinkRestored { key, at, lost_at } => {
                let secs = (at - lost_at).num_seconds().max(0);
                self.link_event(key, true, format!("link back after {secs} s"))
                    .await;
            }
        }
    }

    async fn link_event(&self, device_key: String, connected: bool, reason: String) {
        let Some(case) = self.hub.routes().case_of(&device_key) else {
            return;
        };
        let payload = EntryPayload::DeviceLink {
            device_key,
            connected,
            reason,
        };
        if let Err(e) = self.system_record(case, payload, "device link").await {
            tracing::error!(error = %e, "device link change not recorded");
        }
    }
}
