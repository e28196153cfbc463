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

use super::recorder::run_recorder;
use crate::devices::session::{DeviceInfo, LinkState, Measurement, SessionConfig, SessionEvent};
use crate::devices::{run_session, Link};
use crate::domain::{CaseId, LiveSample, Parameter, RawRef, Validity};
use crate::store::Store;

/// Capacity of a session's event channel and of the hub → recorder channel.
const CHANNEL: usize = 1024;

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
    /// The role under which it serves the recording case, once assigned.
    pub assigned: Option<String>,
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
        }
    }

    /// The most recent value of any kind.
    pub fn latest(&self) -> Option<(&String, &(String, DateTime<Utc>))> {
        self.last.iter().max_by_key(|(_, (_, at))| *at)
    }
}

#[derive(Default)]
struct Shared {
    board: BTreeMap<u64, BoardDevice>,
    overrides: HashMap<(u64, String), Option<Parameter>>,
    recorder: Option<(CaseId, mpsc::Sender<LiveSample>)>,
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
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DeviceHub {
    pub fn new(store: Store, live: mpsc::Sender<LiveSample>) -> Self {
        Self {
            store,
            live,
            shared: Arc::new(Mutex::new(Shared::default())),
            next: Arc::new(AtomicU64::new(1)),
            display_skipped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Record device values into `case` from now on (starts its recorder).
    pub fn record_into(&self, case: CaseId) {
        let (tx, rx) = mpsc::channel(CHANNEL);
        tokio::spawn(run_recorder(self.store.clone(), case, rx));
        lock(&self.shared).recorder = Some((case, tx));
    }

    pub fn recording_case(&self) -> Option<CaseId> {
        lock(&self.shared).recorder.as_ref().map(|(c, _)| *c)
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

    /// Hand a value to the recorder (never dropped: a slow recorder slows the sender) and the live
    /// screen (newest wins; skips are counted). Device values come here from their sessions;
    /// calculated values are fed directly.
    pub async fn feed(&self, sample: LiveSample) {
        let recorder = lock(&self.shared)
            .recorder
            .as_ref()
            .map(|(_, tx)| tx.clone());
        if let Some(tx) = recorder {
            if tx.send(sample.clone()).await.is_err() {
                tracing::error!("recorder stopped; values are not recorded");
            }
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = self.live.try_send(sample) {
            let skipped = self.display_skipped.fetch_add(1, Ordering::Relaxed) + 1;
            if skipped.is_power_of_two() {
                tracing::warn!(skipped, "screen is behind; skipping display updates");
            }
        }
    }

    /// Note that a device now serves (or no longer serves) the case under `role`.
    pub fn set_assigned(&self, id: u64, role: Option<String>) {
        self.update(id, |d| d.assigned = role);
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
        while let Some(event) = rx.recv().await {
            match event {
                SessionEvent::State(state) => self.update(id, |d| apply_state(d, &state)),
                SessionEvent::Connected(info) => {
                    source = source_name(&info);
                    let key = info.identity.key().map_err(|e| e.to_string());
                    device_ref = key.clone().unwrap_or_else(|_| info.label.clone());
                    // A device already serving the case (from an earlier launch) says so.
                    let case = self.recording_case();
                    let assigned = match (&key, case) {
                        (Ok(k), Some(case)) => match self.store.entries(case).await {
                            Ok(entries) => crate::domain::device::associations(&entries)
                                .into_iter()
                                .find(|a| &a.device_key == k && a.ended.is_none())
                                .map(|a| a.role),
                            Err(e) => {
                                tracing::warn!(error = %e, "cannot read the case's device associations");
                                None
                            }
                        },
                        _ => None,
                    };
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
                    self.update(id, |d| {
                        d.key = key;
                        d.model = format!("{} {}", info.identity.manufacturer, info.identity.model)
                            .trim()
                            .to_string();
                        d.battery = info.battery;
                        d.clock_offset_ms = info.clock_offset_ms;
                        d.assigned = assigned;
                        for p in &info.problems {
                            push_notice(d, p.clone());
                        }
                    });
                }
                SessionEvent::Measurement(m) => {
                    let Some(sample) = self.to_sample(id, simulated, &source, &device_ref, &m)
                    else {
                        continue;
                    };
                    self.feed(sample).await;
                }
                SessionEvent::Rejected { reason, raw, .. } => {
                    tracing::warn!(device = %source, %reason, bytes = raw.len(), "notification refused");
                    self.update(id, |d| {
                        d.rejected += 1;
                        push_notice(d, reason);
                    });
                }
                SessionEvent::Duplicate { .. } => self.update(id, |d| d.duplicates += 1),
                SessionEvent::Notice(n) => self.update(id, |d| push_notice(d, n)),
            }
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
                let text = match d.value.number() {
                    Some(n) => format!("{n} {}", d.unit),
                    None => format!("{:?}", d.value),
                };
                b.last.insert(d.name.clone(), (text, m.received_at));
                b.mapping.entry(d.name.clone()).or_insert(p);
            }
            p?
        };
        let number = d.value.number()?;
        let factor = match parameter.unit_factor(&format!("device.{}", d.name), d.unit) {
            Ok(f) => f,
            Err(e) => {
                self.update(id, |b| push_notice(b, e.to_string()));
                return None;
            }
        };
        Some(LiveSample {
            parameter,
            value: number.to_f64() * factor,
            at: m.received_at,
            source: source.to_string(),
            validity: if simulated {
                Validity::Demo
            } else {
                d.validity
            },
            device_time: d.device_time,
            raw: Some(RawRef {
                device: device_ref.to_string(),
                characteristic: m.characteristic.to_string(),
                bytes: m.raw.clone(),
            }),
        })
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
