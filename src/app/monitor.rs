//! The case monitor: application work fed by the device hub, not by a screen. For every case
//! that device values are routed to it keeps the latest values, runs the advisory watcher on
//! bypass (changes go on that case's timeline through the case session) and computes the live
//! DO2i once a second from the pump flow, the newest arterial blood gas (or an in-line Hct), the
//! patient's BSA and the protocol's constants. The DO2i is fed back through the hub as a
//! calculated value of the case: recorded on its own channel, shown, and watched like any other.
//!
//! What the followed case's screens need (advisory state, the DO2i with the age of its oldest
//! input or why there is none) is published on a watch channel.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use tokio::sync::mpsc;

use super::case::CaseSession;
use crate::domain::advisory::{rules_from_protocol, Advisories, AdvisoryChange};
use crate::domain::board::targets;
use crate::domain::calc::threshold::live_do2i;
use crate::domain::gdp::{live_inputs, newest_arterial_gas, ArterialGas};
use crate::domain::record::CaseView;
use crate::domain::routing;
use crate::domain::{CaseId, LiveSample, LiveSnapshot, Parameter, Validity};

/// The source name of the calculated DO2i channel (constant: one channel per case).
pub const DO2I_SOURCE: &str = "Pumpside DO₂i (calculated)";
/// Pump flow older than this gives no live DO2i (the board calls a device value stale at 5 s).
const FLOW_STALE_AFTER_S: i64 = 5;

/// The live DO2i as the screen shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Do2iShown {
    pub value: f64,
    pub at: DateTime<Utc>,
    /// Age of the oldest input (usually the blood gas) when it was calculated.
    pub oldest_input: Duration,
    /// Hb estimated from a haematocrit (Hct / 3).
    pub hb_from_hct: bool,
}

/// What the screens of the followed case show from the monitor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonitorView {
    pub case: Option<CaseId>,
    pub advisories: Option<Advisories>,
    /// The live DO2i, or why there is none.
    pub do2i: Option<Result<Do2iShown, String>>,
}

/// One case being watched.
pub(super) struct Watched {
    live: LiveSnapshot,
    advisories: Advisories,
    /// Derived from the record when it is (re)loaded after a write to the case: on bypass,
    /// the newest arterial gas; with BSA and demo flag.
    on_bypass: bool,
    gas: Option<ArterialGas>,
    bsa_m2: Option<f64>,
    is_demo: bool,
    takes_samples: bool,
    loaded: bool,
    do2i: Option<Result<Do2iShown, String>>,
}

impl Watched {
    fn new(advisories: Advisories) -> Self {
        Self {
            live: LiveSnapshot::default(),
            advisories,
            on_bypass: false,
            gas: None,
            bsa_m2: None,
            is_demo: false,
            takes_samples: false,
            loaded: false,
            do2i: None,
        }
    }
}

/// The monitor's state: cases watched and cases whose record changed since they were loaded.
#[derive(Default)]
pub(super) struct MonitorState {
    pub(super) cases: HashMap<CaseId, Watched>,
    pub(super) dirty: HashSet<CaseId>,
}

impl CaseSession {
    /// The monitor task: samples as they come (coalesced), DO2i and advisories once a second.
    pub(super) async fn run_monitor(self, mut rx: mpsc::Receiver<LiveSample>) {
        let mut batch = Vec::with_capacity(256);
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut batch, 1024) => {
                    if n == 0 {
                        return;
                    }
                    let samples: Vec<LiveSample> = std::mem::take(&mut batch);
                    self.observe(samples).await;
                }
                _ = tick.tick() => self.calculate().await,
            }
        }
    }

    /// Reload a case's record into the monitor when it was written to.
    async fn load(&self, case: CaseId) {
        let needs = {
            let m = self.lock_monitor();
            m.dirty.contains(&case) || m.cases.get(&case).is_none_or(|w| !w.loaded)
        };
        if !needs {
            return;
        }
        let summary = match self.summary(case).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "monitor cannot read the case");
                return;
            }
        };
        let entries = match self.store.entries(case).await {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "monitor cannot read the case's entries");
                return;
            }
        };
        let bsa = match summary.patient {
            Some(p) => match self.store.patient(p).await {
                Ok(Some(p)) => targets(&p, &self.protocol).ok().map(|t| t.bsa_m2),
                _ => None,
            },
            None => None,
        };
        let rules = rules_from_protocol(&self.protocol);
        let mut m = self.lock_monitor();
        m.dirty.remove(&case);
        let w = m
            .cases
            .entry(case)
            .or_insert_with(|| Watched::new(Advisories::new(rules)));
        let view = CaseView::derive(&entries);
        w.on_bypass = view.clocks().bypass.is_running();
        w.gas = newest_arterial_gas(&view);
        w.bsa_m2 = bsa;
        w.is_demo = summary.is_demo;
        w.takes_samples = routing::takes_samples(summary.status);
        w.loaded = true;
    }

    /// Apply samples to their cases' live values and run the advisory watcher on them.
    async fn observe(&self, samples: Vec<LiveSample>) {
        let mut cases: Vec<CaseId> = samples.iter().filter_map(|s| s.case).collect();
        cases.sort_by_key(|c| c.to_string());
        cases.dedup();
        for c in &cases {
            self.load(*c).await;
        }
        let mut changes: Vec<(CaseId, AdvisoryChange, String)> = Vec::new();
        {
            let mut m = self.lock_monitor();
            let mut accepted: HashMap<CaseId, Vec<(Parameter, f64, DateTime<Utc>)>> =
                HashMap::new();
            for s in samples {
                let Some(case) = s.case else { continue };
                let Some(w) = m.cases.get_mut(&case) else {
                    continue;
                };
                let seen = (s.parameter, s.value, s.at);
                if w.live.apply(s).is_ok() {
                    accepted.entry(case).or_default().push(seen);
                }
            }
            for (case, values) in accepted {
                let Some(w) = m.cases.get_mut(&case) else {
                    continue;
                };
                let found = if w.on_bypass {
                    values
                        .iter()
                        .flat_map(|(p, v, at)| w.advisories.observe(*p, *v, *at))
                        .collect::<Vec<_>>()
                } else if !w.advisories.is_quiet() {
                    w.advisories.reset(Utc::now())
                } else {
                    Vec::new()
                };
                for c in found {
                    let message = w
                        .advisories
                        .message(c.rule())
                        .unwrap_or(c.rule())
                        .to_string();
                    changes.push((case, c, message));
                }
            }
        }
        self.log_changes(changes).await;
        self.publish_monitor();
    }

    /// Record advisory changes on their cases' timelines. A change that cannot be written is
    /// said in the log; the advisory itself still shows.
    async fn log_changes(&self, changes: Vec<(CaseId, AdvisoryChange, String)>) {
        for (case, change, message) in changes {
            if let Err(e) = self
                .system_record(case, change.to_payload(&message), "advisory monitor")
                .await
            {
                tracing::error!(error = %e, "advisory change not logged");
            }
        }
    }

    /// Once a second: the live DO2i of every watched case on bypass.
    async fn calculate(&self) {
        let ids: Vec<CaseId> = self.lock_monitor().cases.keys().copied().collect();
        for c in &ids {
            self.load(*c).await;
        }
        let now = Utc::now();
        let mut feeds = Vec::new();
        {
            let mut m = self.lock_monitor();
            for (case, w) in m.cases.iter_mut() {
                if !w.takes_samples || !w.on_bypass {
                    w.do2i = None;
                    continue;
                }
                let inputs =
                    live_inputs(w.gas, &w.live, now, Duration::seconds(FLOW_STALE_AFTER_S));
                let result = match w.bsa_m2 {
                    None => Err("no BSA: the case has no patient height and weight".to_string()),
                    Some(bsa) => live_do2i(&inputs, bsa, self.protocol.oxygen, now)
                        .map_err(|e| e.to_string()),
                };
                w.do2i = Some(result.map(|r| Do2iShown {
                    value: r.do2i.value,
                    at: now,
                    oldest_input: r.oldest_input,
                    hb_from_hct: r.hb_from_hct,
                }));
                if let Some(Ok(d)) = &w.do2i {
                    let validity = if w.is_demo {
                        Validity::Demo
                    } else {
                        Validity::Valid
                    };
                    if let Some(mut s) =
                        LiveSample::computed(Parameter::Do2i, d.value, now, DO2I_SOURCE, validity)
                    {
                        s.case = Some(*case);
                        feeds.push(s);
                    }
                }
            }
        }
        for s in feeds {
            self.hub.feed(s).await;
        }
        self.publish_monitor();
    }

    /// Acknowledge or snooze an advisory of `case` (a person did); logged on the timeline.
    pub async fn advisory_action(
        &self,
        case: CaseId,
        id: &str,
        snooze_until: Option<DateTime<Utc>>,
    ) {
        let change = {
            let mut m = self.lock_monitor();
            m.cases.get_mut(&case).and_then(|w| {
                let c = match snooze_until {
                    Some(until) => w.advisories.snooze(id, until),
                    None => w.advisories.acknowledge(id, Utc::now()),
                }?;
                let message = w
                    .advisories
                    .message(c.rule())
                    .unwrap_or(c.rule())
                    .to_string();
                Some((case, c, message))
            })
        };
        self.log_changes(change.into_iter().collect()).await;
        self.publish_monitor();
    }

    /// The followed case's monitor view.
    pub(super) fn publish_monitor(&self) {
        let followed = self.followed();
        let view = {
            let m = self.lock_monitor();
            match followed.and_then(|c| m.cases.get(&c).map(|w| (c, w))) {
                Some((c, w)) => MonitorView {
                    case: Some(c),
                    advisories: Some(w.advisories.clone()),
                    do2i: w.do2i.clone(),
                },
                None => MonitorView {
                    case: followed,
                    ..MonitorView::default()
                },
            }
        };
        self.monitor_view.send_if_modified(|v| {
            if *v == view {
                false
            } else {
                *v = view;
                true
            }
        });
    }
}
