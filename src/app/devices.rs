//! The device hub: one [`run_session`] per device (real btleplug or simulated), a consumer task
//! per session that maps what the device measures onto the case's parameters and hands values to
//! the live screen (newest only, may skip) and the recorder (never drops), and the board the
//! Devices screen shows. The session tasks never touch SQLite; the consumer registers devices and
//! records their sessions through the store actor.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};

use super::recorder::{run_recorder, Recordable, RecorderHealth};
use crate::devices::session::{DeviceInfo, LinkState, Measurement, SessionConfig, SessionEvent};
use crate::devices::{run_session, Link};
use crate::domain::routing::Routes;
use crate::domain::{CaseId, LiveSample, Parameter, RawRef, Validity};
use crate::store::Store;

/// Capacity of a session's event channel and of the hub → recorder channel.
const CHANNEL: usize = 1024;
/// Capacity of the hub → case monitor channel: several seconds of every parameter.
const MONITOR_CHANNEL: usize = 4096;

/// One device as the Devices screen shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardDevice {
    pub id: u64,
    pub label: String,
    pub simulated: bool,
    pub state: String,
    pub connected: bool,
    pub stale: bool,
    /// The identity key, or why the device cannot be identified.
    pub key: Result<String, String>,
    pub model: String,
    pub battery: Option<u8>,
    pub rssi: Option<i16>,
    pub clock_offset_ms: Option<i64>,
    /// Last value of each measured name: (text with unit, when).
    pub last: BTreeMap<String, (String, DateTime<Utc>)>,
    /// Where each measured name goes (`None`: shown here, not recorded).
    pub mapping: BTreeMap<String, Option<Parameter>>,
    pub rejected: u64,
    pub duplicates: u64,
    pub notices: Vec<String>,
    /// The role under which it serves a case, from the case's record (`None`: its values are
    /// shown here and recorded nowhere).
    pub assigned: Option<String>,
    /// The case its values are recorded into.
    pub case: Option<CaseId>,
}

impl BoardDevice {
    fn new(id: u64, label: String, simulated: bool, rssi: Option<i16>) -> Self {
        Self {
            id,
            label,
            simulated,
            state: "starting".into(),
            connected: false,
            stale: false,
            key: Err("not connected yet".into()),
            model: String::new(),
            battery: None,
            rssi,
            clock_offset_ms: None,
            last: BTreeMap::new(),
            mapping: BTreeMap::new(),
            rejected: 0,
            duplicates: 0,
            notices: Vec::new(),
            assigned: None,
            case: None,
        }
    }

    /// The most recent value of any kind.
    pub fn latest(&self) -> Option<(&String, &(String, DateTime<Utc>))> {
        self.last.iter().max_by_key(|(_, (_, at))| *at)
    }
}

/// What the hub tells the application about devices, for the record.
#[derive(Debug, Clone, PartialEq)]
pub enum HubEvent {
    /// A device identified itself.
    Connected {
        id: u64,
        key: String,
        simulated: bool,
    },
    /// A device that had been connected lost its link (the session is reconnecting).
    LinkLost {
        key: String,
        at: DateTime<Utc>,
        reason: String,
    },
    /// The link is back.
    LinkRestored {
        key: String,
        at: DateTime<Utc>,
        lost_at: DateTime<Utc>,
    },
    /// After a reconnection the device behind the link identified as another one: its session
    /// stopped.
    IdentityChanged {
        was: String,
        now: String,
        at: DateTime<Utc>,
    },
}

#[derive(Default)]
struct Shared {
    board: BTreeMap<u64, BoardDevice>,
    overrides: HashMap<(u64, String), Option<Parameter>>,
    recorder: Option<mpsc::Sender<Recordable>>,
    routes: Routes,
    stops: HashMap<u64, watch::Sender<bool>>,
}

/// Cheap to clone; shared by the services and the UI.
#[derive(Clone)]
pub struct DeviceHub {
    store: Store,
    live: mpsc::Sender<LiveSample>,
    shared: Arc<Mutex<Shared>>,
    next: Arc<AtomicU64>,
    display_skipped: Arc<AtomicU64>,
    events: mpsc::Sender<HubEvent>,
    events_rx: Arc<Mutex<Option<mpsc::Receiver<HubEvent>>>>,
    health: Arc<watch::Sender<RecorderHealth>>,
    /// Every value that has a case, for the case monitor (advisories, live DO2i).
    monitor: mpsc::Sender<LiveSample>,
    monitor_rx: Arc<Mutex<Option<mpsc::Receiver<LiveSample>>>>,
    monitor_skipped: Arc<AtomicU64>,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DeviceHub {
    pub fn new(store: Store, live: mpsc::Sender<LiveSample>) -> Self {
        let (events, events_rx) = mpsc::channel(CHANNEL);
        let (monitor, monitor_rx) = mpsc::channel(MONITOR_CHANNEL);
        Self {
            monitor,
            monitor_rx: Arc::new(Mutex::new(Some(monitor_rx))),
            monitor_skipped: Arc::new(AtomicU64::new(0)),
            store,
            live,
            shared: Arc::new(Mutex::new(Shared::default())),
            next: Arc::new(AtomicU64::new(1)),
            display_skipped: Arc::new(AtomicU64::new(0)),
            events,
            events_rx: Arc::new(Mutex::new(Some(events_rx))),
            health: Arc::new(watch::channel(RecorderHealth::default()).0),
        }
    }

    /// Where device values go from now on: set by the case session from the record after every
    /// change to associations or status. A device with no route is shown and not recorded.
    pub fn set_routes(&self, routes: Routes) {
        let mut s = lock(&self.shared);
        for d in s.board.values_mut() {
            let key = d.key.as_ref().ok();
            d.case = key.and_then(|k| routes.case_of(k));
            d.assigned = key.and_then(|k| routes.role_of(k)).map(str::to_string);
        }
        s.routes = routes;
    }

    /// The routes in force.
    pub fn routes(&self) -> Routes {
        lock(&self.shared).routes.clone()
    }

    /// Values with a case, for the case monitor (taken once).
    pub fn take_monitor_feed(&self) -> Option<mpsc::Receiver<LiveSample>> {
        self.monitor_rx.lock().ok().and_then(|mut g| g.take())
    }

    /// Device events for the case session (taken once).
    pub fn take_events(&self) -> Option<mpsc::Receiver<HubEvent>> {
        self.events_rx.lock().ok().and_then(|mut g| g.take())
    }

    /// Whether recorded values reach the disk (a full disk or a damaged file holds them in
    /// memory and says so here).
    pub fn recorder_health(&self) -> RecorderHealth {
        self.health.borrow().clone()
    }

    /// The recorder's inbox, started on first use (inside the runtime).
    fn recorder(&self) -> mpsc::Sender<Recordable> {
        let mut s = lock(&self.shared);
        if let Some(tx) = &s.recorder {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(CHANNEL);
        tokio::spawn(run_recorder(self.store.clone(), rx, self.health.clone()));
        s.recorder = Some(tx.clone());
        tx
    }

    /// Start a session on `link`; returns the board id.
    pub fn attach<L: Link>(
        &self,
        link: L,
        cfg: SessionConfig,
        simulated: bool,
        rssi: Option<i16>,
    ) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(CHANNEL);
        let (stop, stop_rx) = watch::channel(false);
        {
            let mut s = lock(&self.shared);
            s.board
                .insert(id, BoardDevice::new(id, link.label(), simulated, rssi));
            s.stops.insert(id, stop);
        }
        tokio::spawn(run_session(Arc::new(link), cfg, tx, stop_rx));
        tokio::spawn(self.clone().consume(id, simulated, rx));
        id
    }

    /// Disconnect and remove a device from the board.
    pub fn forget(&self, id: u64) {
        let mut s = lock(&self.shared);
        if let Some(stop) = s.stops.remove(&id) {
            let _ = stop.send(true);
        }
        s.board.remove(&id);
        s.overrides.retain(|(d, _), _| *d != id);
    }

    /// Send a measured name to another parameter (or to none).
    pub fn map(&self, id: u64, name: &str, parameter: Option<Parameter>) {
        let mut s = lock(&self.shared);
        s.overrides.insert((id, name.to_string()), parameter);
        if let Some(d) = s.board.get_mut(&id) {
            d.mapping.insert(name.to_string(), parameter);
        }
    }

    /// Hand a value to the recorder when it has a case (never dropped: a slow recorder slows
    /// the sender) and to the live screen (newest wins; skips are counted). Device values come
    /// here from their sessions; calculated values are fed directly, with their case.
    pub async fn feed(&self, sample: LiveSample) {
        if sample.case.is_some() {
            let tx = self.recorder();
            if tx.send(Recordable::Sample(sample.clone())).await.is_err() {
                tracing::error!("recorder stopped; values are not recorded");
            }
            if let Err(mpsc::error::TrySendError::Full(_)) = self.monitor.try_send(sample.clone()) {
                let skipped = self.monitor_skipped.fetch_add(1, Ordering::Relaxed) + 1;
                if skipped.is_power_of_two() {
                    tracing::warn!(skipped, "case monitor is behind; skipping values");
                }
            }
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = self.live.try_send(sample) {
            let skipped = self.display_skipped.fetch_add(1, Ordering::Relaxed) + 1;
            if skipped.is_power_of_two() {
                tracing::warn!(skipped, "screen is behind; skipping display updates");
            }
        }
    }

    pub fn board(&self) -> Vec<BoardDevice> {
        lock(&self.shared).board.values().cloned().collect()
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut BoardDevice)) {
        if let Some(d) = lock(&self.shared).board.get_mut(&id) {
            f(d);
        }
    }

    async fn consume(self, id: u64, simulated: bool, mut rx: mpsc::Receiver<SessionEvent>) {
        let mut source = String::new();
        let mut device_ref = String::new();
        let mut identified: Option<String> = None;
        let mut connected_once = false;
        let mut lost_at: Option<DateTime<Utc>> = None;
        while let Some(event) = rx.recv().await {
            match event {
                SessionEvent::State(state) => {
                    self.update(id, |d| apply_state(d, &state));
                    let now = Utc::now();
                    match (&state, &identified) {
                        (LinkState::Connected, Some(key)) if lost_at.is_some() => {
                            if let Some(lost) = lost_at.take() {
                                self.event(HubEvent::LinkRestored {
                                    key: key.clone(),
                                    at: now,
                                    lost_at: lost,
                                });
                            }
                        }
                        (LinkState::Retrying { reason, .. }, Some(key))
                            if connected_once && lost_at.is_none() =>
                        {
                            lost_at = Some(now);
                            self.event(HubEvent::LinkLost {
                                key: key.clone(),
                                at: now,
                                reason: reason.clone(),
                            });
                        }
                        (LinkState::Connecting { attempt }, Some(key))
                            if *attempt > 1 && connected_once && lost_at.is_none() =>
                        {
                            lost_at = Some(now);
                            self.event(HubEvent::LinkLost {
                                key: key.clone(),
                                at: now,
                                reason: "link lost".into(),
                            });
                        }
                        _ => {}
                    }
                }
                SessionEvent::Connected(info) => {
                    connected_once = true;
                    source = source_name(&info);
                    let key = info.identity.key().map_err(|e| e.to_string());
                    device_ref = key.clone().unwrap_or_else(|_| info.label.clone());
                    if key.is_ok() {
                        if let Err(e) = self
                            .store
                            .record_session(
                                info.identity.clone(),
                                info.connected_at,
                                info.clock_offset_ms,
                                info.offset_source.clone(),
                            )
                            .await
                        {
                            tracing::error!(error = %e, device = %info.label, "device session not recorded");
                        }
                    }
                    let routes = self.routes();
                    self.update(id, |d| {
                        d.key = key.clone();
                        d.model = format!("{} {}", info.identity.manufacturer, info.identity.model)
                            .trim()
                            .to_string();
                        d.battery = info.battery;
                        d.clock_offset_ms = info.clock_offset_ms;
                        let k = key.as_ref().ok();
                        d.case = k.and_then(|k| routes.case_of(k));
                        d.assigned = k.and_then(|k| routes.role_of(k)).map(str::to_string);
                        for p in &info.problems {
                            push_notice(d, p.clone());
                        }
                    });
                    if let Ok(k) = key {
                        identified = Some(k.clone());
                        self.event(HubEvent::Connected {
                            id,
                            key: k,
                            simulated,
                        });
                    }
                }
                SessionEvent::Measurement(m) => {
                    let Some(sample) = self.to_sample(id, simulated, &source, &device_ref, &m)
                    else {
                        continue;
                    };
                    self.feed(sample).await;
                }
                SessionEvent::Rejected {
                    reason,
                    raw,
                    characteristic,
                } => {
                    tracing::warn!(device = %source, %reason, bytes = raw.len(), "notification refused");
                    self.update(id, |d| {
                        d.rejected += 1;
                        push_notice(d, reason.clone());
                    });
                    // Kept with why, in the case the device feeds (bytes without a case are
                    // shown here and kept nowhere, like the device's values).
                    let case = identified.as_ref().and_then(|k| self.routes().case_of(k));
                    if let Some(case) = case {
                        let item = Recordable::Refused {
                            case,
                            device: device_ref.clone(),
                            characteristic: characteristic.to_string(),
                            at: Utc::now(),
                            bytes: raw,
                            reason,
                        };
                        if self.recorder().send(item).await.is_err() {
                            tracing::error!("recorder stopped; refused bytes not kept");
                        }
                    }
                }
                SessionEvent::Duplicate { .. } => self.update(id, |d| d.duplicates += 1),
                SessionEvent::Notice(n) => self.update(id, |d| push_notice(d, n)),
                SessionEvent::IdentityChanged { was, now } => {
                    tracing::error!("a device identified as another one after reconnecting; its session stopped");
                    self.update(id, |d| {
                        push_notice(
                            d,
                            format!(
                                "identity changed on reconnect (was {was}, now {now}): recording from it stopped; check the device and connect it again"
                            ),
                        )
                    });
                    self.event(HubEvent::IdentityChanged {
                        was,
                        now,
                        at: Utc::now(),
                    });
                }
                SessionEvent::NotBonded { why } => {
                    tracing::warn!(
                        "a device is not bonded and bonding is required; its session stopped"
                    );
                    self.update(id, |d| push_notice(d, why.clone()));
                    // A device already known (a reconnection): its case's timeline says why
                    // its values stopped.
                    if let Some(key) = identified.clone() {
                        self.event(HubEvent::LinkLost {
                            key,
                            at: Utc::now(),
                            reason: why,
                        });
                    }
                }
            }
        }
    }

    fn event(&self, e: HubEvent) {
        if self.events.try_send(e).is_err() {
            tracing::warn!("device event not delivered to the case session");
        }
    }

    /// Map, convert and check one measurement; `None` (shown on the board) when it goes nowhere.
    fn to_sample(
        &self,
        id: u64,
        simulated: bool,
        source: &str,
        device_ref: &str,
        m: &Measurement,
    ) -> Option<LiveSample> {
        let d = &m.decoded;
        let parameter = {
            let mut s = lock(&self.shared);
            let chosen = s.overrides.get(&(id, d.name.clone())).copied();
            let p = chosen.unwrap_or(d.suggested);
            if let Some(b) = s.board.get_mut(&id) {
                let text = match d.value {
                    crate::devices::ieee11073::MedFloat::Number(n) => {
                        format!("{n} {}", crate::domain::live::readable_unit(d.unit))
                            .trim_end()
                            .to_string()
                    }
                    crate::devices::ieee11073::MedFloat::Special(sp) => sp.describe().to_string(),
                };
                b.last.insert(d.name.clone(), (text, m.received_at));
                b.mapping.entry(d.name.clone()).or_insert(p);
            }
            p?
        };
        let Some(number) = d.value.number() else {
            // A special value (NaN, NRes, ±INF) is no measurement: shown above, never recorded.
            return None;
        };
        let validity = if simulated {
            Validity::Demo
        } else {
            d.validity
        };
        let mut sample = match LiveSample::received(
            parameter,
            number,
            d.unit,
            m.received_at,
            source,
            validity,
        ) {
            Ok(s) => s,
            Err(e) => {
                self.update(id, |b| push_notice(b, e.to_string()));
                return None;
            }
        };
        sample.case = lock(&self.shared).routes.case_of(device_ref);
        sample.device_time = d.device_time;
        sample.raw = Some(RawRef {
            device: device_ref.to_string(),
            characteristic: m.characteristic.to_string(),
            bytes: m.raw.clone(),
        });
        Some(sample)
    }
}

/// The name a device's values carry in the record: its model and serial when it has them, so
/// two thermometers of one model stay apart.
fn source_name(info: &DeviceInfo) -> String {
    let id = &info.identity;
    let tag = id
        .serial
        .as_deref()
        .or(id.udi.as_deref())
        .or(id.system_id.as_deref());
    match (id.model.is_empty(), tag) {
        (false, Some(t)) => format!("{} {}", id.model, t),
        (false, None) => id.model.clone(),
        (true, _) => info.label.clone(),
    }
}

fn apply_state(d: &mut BoardDevice, state: &LinkState) {
    let (text, connected, stale) = match state {
        LinkState::Connecting { attempt } if *attempt == 1 => {
            ("connecting".to_string(), false, false)
        }
        LinkState::Connecting { attempt } => {
            (format!("reconnecting (attempt {attempt})"), false, false)
        }
        LinkState::Connected => ("connected".to_string(), true, false),
        LinkState::Stale { silent_for } => (
            format!("no values for {} s", silent_for.as_secs()),
            true,
            true,
        ),
        LinkState::Retrying { after, reason } => (
            format!(
                "{reason}; retrying in {} s",
                after.as_secs_f32().ceil() as u64
            ),
            false,
            false,
        ),
        LinkState::Stopped => ("disconnected".to_string(), false, false),
    };
    d.state = text;
    d.connected = connected;
    d.stale = stale;
}

fn push_notice(d: &mut BoardDevice, n: String) {
    if d.notices.last() != Some(&n) {
        d.notices.push(n);
    }
    if d.notices.len() > 4 {
        d.notices.remove(0);
    }
}
