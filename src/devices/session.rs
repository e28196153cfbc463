//! One device session over any [`Link`]: connect, discover, identify (Device Information,
//! Battery, Current Time), subscribe, decode, watch for silence, and reconnect with backoff —
//! opening a fresh notification stream after every reconnection (btleplug #413).
//!
//! Every await on the link has a timeout. Notifications arrive through the link's bounded
//! channel, drained by its own task; the session only decodes and forwards [`SessionEvent`]s into
//! another bounded channel. Nothing here touches SQLite: the app's device hub records.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use uuid::Uuid;

use super::gatt::{characteristic as ch, Decoded, Decoder};
use super::link::{Link, LinkError, LinkEvent};
use super::profiles;
use crate::domain::device::{clock_offset_ms, DeviceIdentity};
use crate::domain::DeviceTime;

#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    pub connect_timeout: Duration,
    /// For every other operation (discover, read, write, subscribe).
    pub op_timeout: Duration,
    pub backoff_first: Duration,
    pub backoff_max: Duration,
    /// The sample interval of a continuous device; `None` for spot-check devices (a blood
    /// pressure cuff is silent for minutes by design and is never "stale").
    pub expected_interval: Option<Duration>,
    /// Stale after this many expected intervals without a sample.
    pub stale_after: u32,
    /// Reconnect after this many intervals of silence even while the stack says the link is up:
    /// notifications can stop silently after a reconnect on some platforms.
    pub reopen_after: u32,
    pub event_capacity: usize,
    /// How many recent unique notifications per characteristic are remembered for duplicate
    /// suppression.
    pub dedup_window: usize,
    /// A device clock further than this from the tablet's is reported.
    pub skew_warning: Duration,
    /// Take nothing from a device the platform does not report as bonded (the hospital's
    /// `[security] require_bonding`): checked after every connection, before anything is read.
    pub require_bonding: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            op_timeout: Duration::from_secs(5),
            backoff_first: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            expected_interval: Some(Duration::from_secs(1)),
            stale_after: 3,
            reopen_after: 15,
            event_capacity: 256,
            dedup_window: 64,
            skew_warning: Duration::from_secs(60),
            require_bonding: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum LinkState {
    Connecting {
        attempt: u32,
    },
    Connected,
    /// Connected, but no sample for `silent_for` (k × the expected interval or more).
    Stale {
        silent_for: Duration,
    },
    Retrying {
        after: Duration,
        reason: String,
    },
    Stopped,
}

/// What the session learned when it connected.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    pub label: String,
    /// As read from Device Information; `identity.key()` fails when the device offers no serial,
    /// System ID or UDI.
    pub identity: DeviceIdentity,
    pub battery: Option<u8>,
    /// Device clock minus tablet clock, ms, and where it came from.
    pub clock_offset_ms: Option<i64>,
    pub offset_source: Option<String>,
    pub characteristics: Vec<Uuid>,
    pub connected_at: DateTime<Utc>,
    /// Reads that failed (kept for the Devices screen, never fatal).
    pub problems: Vec<String>,
}

/// One decoded value as it reached the tablet.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub characteristic: Uuid,
    pub received_at: DateTime<Utc>,
    pub decoded: Decoded,
    /// The notification's bytes, kept with every value decoded from it.
    pub raw: Arc<[u8]>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    State(LinkState),
    Connected(DeviceInfo),
    Measurement(Measurement),
    /// A notification that did not decode, with why; its bytes are kept.
    Rejected {
        characteristic: Uuid,
        reason: String,
        raw: Vec<u8>,
    },
    /// The same measurement received again (same bytes carrying a sequence or time stamp).
    Duplicate {
        characteristic: Uuid,
    },
    /// Something worth showing that does not stop the session (CRC mismatch, clock skew, a
    /// glucose meter's record transfer result).
    Notice(String),
    /// After a reconnection the device identified as another one (another serial number or UDI
    /// behind the same link: a swapped device, a spoofer). The session stops: nothing from it
    /// is recorded under the first device's name.
    IdentityChanged {
        was: String,
        now: String,
    },
    /// Bonding is required and the device is not bonded (or the platform cannot say): the
    /// session stops before anything is read; `why` says which and what to do.
    NotBonded {
        why: String,
    },
}

/// Run until `stop` turns true or the receiver of `out` goes away.
pub async fn run_session<L: Link>(
    link: Arc<L>,
    cfg: SessionConfig,
    out: mpsc::Sender<SessionEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let mut attempt = 0u32;
    let mut backoff = cfg.backoff_first;
    let mut dedup = Dedup::new(cfg.dedup_window);
    // The identity read at the first connection; every reconnection must read the same.
    let mut known: Option<String> = None;
    loop {
        attempt += 1;
        if out
            .send(SessionEvent::State(LinkState::Connecting { attempt }))
            .await
            .is_err()
        {
            return;
        }
        let phase = tokio::select! {
            p = connected_phase(&*link, &cfg, &out, &mut dedup, &mut known) => p,
            _ = stopped(&mut stop) => Phase::Stop,
        };
        let reason = match phase {
            Phase::Stop | Phase::OutputClosed | Phase::IdentityChanged | Phase::NotBonded => {
                let _ = tokio::time::timeout(cfg.op_timeout, link.disconnect()).await;
                let _ = out.send(SessionEvent::State(LinkState::Stopped)).await;
                return;
            }
            Phase::Lost { reason, delivered } => {
                if delivered {
                    backoff = cfg.backoff_first;
                }
                reason
            }
        };
        // Leave the link in a known state before trying again.
        let _ = tokio::time::timeout(cfg.op_timeout, link.disconnect()).await;
        if out
            .send(SessionEvent::State(LinkState::Retrying {
                after: backoff,
                reason,
            }))
            .await
            .is_err()
        {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped(&mut stop) => {
                let _ = out.send(SessionEvent::State(LinkState::Stopped)).await;
                return;
            }
        }
        backoff = (backoff * 2).min(cfg.backoff_max);
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // A dropped sender means nobody can stop us any more: wait forever, not stop at once.
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

enum Phase {
    Stop,
    OutputClosed,
    /// Said with `SessionEvent::IdentityChanged`; the session ends.
    IdentityChanged,
    /// Said with `SessionEvent::NotBonded`; the session ends.
    NotBonded,
    Lost {
        reason: String,
        delivered: bool,
    },
}

fn lost(e: LinkError) -> Phase {
    Phase::Lost {
        reason: e.to_string(),
        delivered: false,
    }
}

async fn timed<T>(
    op: &'static str,
    limit: Duration,
    fut: impl Future<Output = Result<T, LinkError>>,
) -> Result<T, LinkError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(LinkError::Timeout {
            op,
            ms: limit.as_millis() as u64,
        }),
    }
}

async fn connected_phase<L: Link>(
    link: &L,
    cfg: &SessionConfig,
    out: &mpsc::Sender<SessionEvent>,
    dedup: &mut Dedup,
    known: &mut Option<String>,
) -> Phase {
    if let Err(e) = timed("connect", cfg.connect_timeout, link.connect()).await {
        return lost(e);
    }
    if cfg.require_bonding {
        let why = match timed("bond check", cfg.op_timeout, link.bonded()).await {
            Ok(Some(true)) => None,
            Ok(Some(false)) => Some(
                "bonding is required here and this device is not bonded: pair it in the \
                 tablet's Bluetooth settings, then connect it again"
                    .to_string(),
            ),
            Ok(None) => Some(
                "bonding is required here and this platform does not report whether the device \
                 is bonded, so nothing is taken from it"
                    .to_string(),
            ),
            Err(e) => Some(format!(
                "bonding is required here and the bond could not be checked ({e})"
            )),
        };
        if let Some(why) = why {
            let _ = out.send(SessionEvent::NotBonded { why }).await;
            return Phase::NotBonded;
        }
    }
    let chars = match timed("service discovery", cfg.op_timeout, link.discover()).await {
        Ok(c) => c,
        Err(e) => return lost(e),
    };
    let info = identify(link, cfg, chars.clone()).await;
    // The identity is checked again on every reconnection, before anything is taken from it.
    match (known.as_ref(), info.identity.key()) {
        (None, Ok(key)) => *known = Some(key),
        (None, Err(_)) => {}
        (Some(was), Ok(now)) if *was == now => {}
        (Some(was), Ok(now)) => {
            let _ = out
                .send(SessionEvent::IdentityChanged {
                    was: was.clone(),
                    now,
                })
                .await;
            return Phase::IdentityChanged;
        }
        (Some(_), Err(e)) => {
            return Phase::Lost {
                reason: format!(
                    "the device's identity could not be read again ({e}); nothing is taken from it until it is"
                ),
                delivered: false,
            }
        }
    }
    let skew = info.clock_offset_ms;
    if out.send(SessionEvent::Connected(info)).await.is_err() {
        return Phase::OutputClosed;
    }
    if let Some(ms) = skew {
        if ms.unsigned_abs() > cfg.skew_warning.as_millis() as u64 {
            let notice = format!(
                "device clock is {} s {} this tablet; times are kept as sent with the offset recorded",
                ms.unsigned_abs() / 1000,
                if ms > 0 { "ahead of" } else { "behind" }
            );
            if out.send(SessionEvent::Notice(notice)).await.is_err() {
                return Phase::OutputClosed;
            }
        }
    }
    // Open the stream before subscribing so nothing sent right after subscription is missed.
    let mut rx = match timed(
        "open notifications",
        cfg.op_timeout,
        link.events(cfg.event_capacity),
    )
    .await
    {
        Ok(rx) => rx,
        Err(e) => return lost(e),
    };
    let wanted: Vec<Uuid> = ch::MEASUREMENTS
        .iter()
        .chain(std::iter::once(&ch::RACP))
        .filter(|u| chars.contains(u))
        .copied()
        .collect();
    for c in &wanted {
        if let Err(e) = timed("subscribe", cfg.op_timeout, link.subscribe(*c)).await {
            return lost(e);
        }
    }
    if wanted.contains(&ch::RACP) && wanted.contains(&ch::GLUCOSE_MEASUREMENT) {
        let req = profiles::RACP_REPORT_ALL.to_vec();
        if let Err(e) = timed(
            "request stored records",
            cfg.op_timeout,
            link.write(ch::RACP, req),
        )
        .await
        {
            return lost(e);
        }
    }
    if out
        .send(SessionEvent::State(LinkState::Connected))
        .await
        .is_err()
    {
        return Phase::OutputClosed;
    }

    let mut decoder = Decoder::default();
    let mut last = Instant::now();
    let mut stale = false;
    let mut delivered = false;
    let period = cfg.expected_interval.unwrap_or(Duration::from_secs(5));
    let mut tick = tokio::time::interval_at(Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(LinkEvent::Notification { characteristic, value }) => {
                    last = Instant::now();
                    if stale {
                        stale = false;
                        if out.send(SessionEvent::State(LinkState::Connected)).await.is_err() {
                            return Phase::OutputClosed;
                        }
                    }
                    let events = handle(&mut decoder, dedup, characteristic, value);
                    delivered |= events.iter().any(|e| matches!(e, SessionEvent::Measurement(_)));
                    for e in events {
                        if out.send(e).await.is_err() {
                            return Phase::OutputClosed;
                        }
                    }
                }
                Some(LinkEvent::Disconnected) | None => {
                    return Phase::Lost { reason: "link lost".into(), delivered };
                }
            },
            _ = tick.tick() => {
                let Some(interval) = cfg.expected_interval else { continue };
                let silent = last.elapsed();
                if silent >= interval * cfg.reopen_after {
                    return Phase::Lost {
                        reason: format!(
                            "no samples for {} s; reconnecting to re-open notifications",
                            silent.as_secs()
                        ),
                        delivered,
                    };
                }
                if silent >= interval * cfg.stale_after && !stale {
                    stale = true;
                    if out.send(SessionEvent::State(LinkState::Stale { silent_for: silent })).await.is_err() {
                        return Phase::OutputClosed;
                    }
                    match timed("connection check", cfg.op_timeout, link.is_connected()).await {
                        Ok(true) => {}
                        Ok(false) => return Phase::Lost {
                            reason: "no samples and the link is down".into(),
                            delivered,
                        },
                        Err(e) => return Phase::Lost { reason: e.to_string(), delivered },
                    }
                }
            }
        }
    }
}

/// Decode one notification into the events it produces.
fn handle(
    decoder: &mut Decoder,
    dedup: &mut Dedup,
    characteristic: Uuid,
    value: Vec<u8>,
) -> Vec<SessionEvent> {
    let received_at = Utc::now();
    if characteristic == ch::RACP {
        return vec![match profiles::racp_response(&value) {
            Ok(r) if r.is_success() => SessionEvent::Notice(format!("stored records: {r:?}")),
            Ok(r) => SessionEvent::Notice(format!("stored records not transferred: {r:?}")),
            Err(e) => SessionEvent::Rejected {
                characteristic,
                reason: e.to_string(),
                raw: value,
            },
        }];
    }
    match decoder.decode(characteristic, &value) {
        Err(e) => vec![SessionEvent::Rejected {
            characteristic,
            reason: e.to_string(),
            raw: value,
        }],
        Ok(frame) => {
            if frame.unique && !dedup.first_time(characteristic, &value) {
                return vec![SessionEvent::Duplicate { characteristic }];
            }
            let raw: Arc<[u8]> = value.into();
            let mut events: Vec<SessionEvent> = frame
                .problems
                .into_iter()
                .map(SessionEvent::Notice)
                .collect();
            events.extend(frame.values.into_iter().map(|decoded| {
                SessionEvent::Measurement(Measurement {
                    characteristic,
                    received_at,
                    raw: decoded.record_bytes.clone().unwrap_or_else(|| raw.clone()),
                    decoded,
                })
            }));
            events
        }
    }
}

/// Read Device Information, Battery and Current Time, each with its own timeout. Failures are
/// recorded in `problems`, never fatal: a thermometer without a battery service still measures.
async fn identify<L: Link>(link: &L, cfg: &SessionConfig, chars: Vec<Uuid>) -> DeviceInfo {
    let mut problems = Vec::new();
    let read = |c: Uuid| {
        let present = chars.contains(&c);
        async move {
            if present {
                Some(timed("read", cfg.op_timeout, link.read(c)).await)
            } else {
                None
            }
        }
    };
    let text = |problems: &mut Vec<String>, name: &'static str, raw| {
        decoded(problems, name, raw, |b| profiles::dis_string(name, b)).filter(|s| !s.is_empty())
    };
    let manufacturer = text(
        &mut problems,
        "Manufacturer Name",
        read(ch::MANUFACTURER_NAME).await,
    );
    let model = text(&mut problems, "Model Number", read(ch::MODEL_NUMBER).await);
    let serial = text(
        &mut problems,
        "Serial Number",
        read(ch::SERIAL_NUMBER).await,
    );
    let firmware = text(
        &mut problems,
        "Firmware Revision",
        read(ch::FIRMWARE_REVISION).await,
    );
    let system_id = decoded(&mut problems, "System ID", read(ch::SYSTEM_ID).await, |b| {
        profiles::system_id(b).map(|(m, o)| format!("{:016x}", (u64::from(o) << 40) | m))
    });
    // UDI 0x2BFF: a flags byte, then NUL-separated strings; the first is the UDI label.
    let udi = decoded(&mut problems, "UDI", read(ch::UDI).await, |b| {
        Ok::<_, LinkError>(
            b.get(1..)
                .and_then(|rest| rest.split(|x| *x == 0).find(|s| !s.is_empty()))
                .and_then(|s| std::str::from_utf8(s).ok())
                .map(|s| s.trim().to_string()),
        )
    })
    .flatten();
    let battery = decoded(
        &mut problems,
        "Battery Level",
        read(ch::BATTERY_LEVEL).await,
        profiles::battery_level,
    );
    // The device read its clock somewhere within the round trip: take the midpoint.
    let before = Utc::now();
    let cts = read(ch::CURRENT_TIME).await;
    let mid = before + (Utc::now() - before) / 2;
    let clock_offset_ms =
        decoded(
            &mut problems,
            "Current Time",
            cts,
            |b| match profiles::current_time(b).map_err(|e| e.to_string())? {
                (t @ DeviceTime::Known(_), _) => Ok(clock_offset_ms(t, mid)),
                _ => Err("Current Time: the device clock is not fully set".to_string()),
            },
        )
        .flatten();
    let offset_source = clock_offset_ms.map(|_| "Current Time 0x2A2B at connection".to_string());
    DeviceInfo {
        label: link.label(),
        identity: DeviceIdentity {
            manufacturer: manufacturer.unwrap_or_default(),
            model: model.unwrap_or_default(),
            serial,
            system_id,
            udi,
            firmware,
        },
        battery,
        clock_offset_ms,
        offset_source,
        characteristics: chars,
        connected_at: Utc::now(),
        problems,
    }
}

/// A read decoded: `None` when the characteristic is absent; a failed read or decode is noted in
/// `problems` (never fatal) and gives `None`.
fn decoded<T, E: std::fmt::Display>(
    problems: &mut Vec<String>,
    name: &str,
    raw: Option<Result<Vec<u8>, LinkError>>,
    decode: impl FnOnce(&[u8]) -> Result<T, E>,
) -> Option<T> {
    match raw? {
        Ok(bytes) => decode(&bytes)
            .map_err(|e| problems.push(e.to_string()))
            .ok(),
        Err(e) => {
            problems.push(format!("{name}: {e}"));
            None
        }
    }
}

/// Remembers the last few unique notifications per characteristic. Survives reconnection,
/// which is exactly when devices re-send their last measurement.
struct Dedup {
    window: usize,
    seen: HashMap<Uuid, VecDeque<Vec<u8>>>,
}

impl Dedup {
    fn new(window: usize) -> Self {
        Self {
            window: window.max(1),
            seen: HashMap::new(),
        }
    }

    fn first_time(&mut self, characteristic: Uuid, raw: &[u8]) -> bool {
        let q = self.seen.entry(characteristic).or_default();
        if q.iter().any(|r| r == raw) {
            return false;
        }
        if q.len() == self.window {
            q.pop_front();
        }
        q.push_back(raw.to_vec());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::memory::{ConnectBehaviour, MemoryPeer};
    use crate::devices::telemetry_profile::{self, Code};
    use crate::domain::Decimal;
    use chrono::{Datelike, Timelike};

    const FLOW: Uuid = ch::TELEMETRY_MEASUREMENT;

    fn console() -> MemoryPeer {
        let p = MemoryPeer::new("HLM console", &[FLOW]);
        p.set_value(ch::MANUFACTURER_NAME, b"Pumpside Sim");
        p.set_value(ch::MODEL_NUMBER, b"HLM-1");
        p.set_value(ch::SERIAL_NUMBER, b"SN-0001\0");
        p.set_value(ch::BATTERY_LEVEL, &[87]);
        p
    }

    fn flow(seq: u16, centi: i64) -> Vec<u8> {
        telemetry_profile::encode(seq, None, &[(Code::PumpFlow, 0, Decimal::new(centi, -2))])
            .unwrap()
    }

    fn cts(t: DateTime<Utc>) -> Vec<u8> {
        let mut b = (t.year() as u16).to_le_bytes().to_vec();
        b.extend_from_slice(&[
            t.month() as u8,
            t.day() as u8,
            t.hour() as u8,
            t.minute() as u8,
            t.second() as u8,
            t.weekday().number_from_monday() as u8,
            0,
            0,
        ]);
        b
    }

    struct Run {
        rx: mpsc::Receiver<SessionEvent>,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
    }

    fn start(peer: &MemoryPeer, cfg: SessionConfig) -> Run {
        let (tx, rx) = mpsc::channel(16);
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run_session(Arc::new(peer.link()), cfg, tx, stop_rx));
        Run { rx, stop, task }
    }

    impl Run {
        /// Events up to and including the first that satisfies `pred`.
        async fn until(&mut self, pred: impl Fn(&SessionEvent) -> bool) -> Vec<SessionEvent> {
            let mut seen = Vec::new();
            loop {
                let e = tokio::time::timeout(Duration::from_secs(600), self.rx.recv())
                    .await
                    .expect("event within 10 simulated minutes")
                    .expect("session alive");
                let done = pred(&e);
                seen.push(e);
                if done {
                    return seen;
                }
            }
        }

        async fn connected(&mut self) -> Vec<SessionEvent> {
            self.until(|e| matches!(e, SessionEvent::State(LinkState::Connected)))
                .await
        }

        async fn finish(mut self) {
            self.stop.send(true).unwrap();
            self.until(|e| matches!(e, SessionEvent::State(LinkState::Stopped)))
                .await;
            self.task.await.unwrap();
        }
    }

    /// What the session said when it connected.
    fn info_of(events: &[SessionEvent]) -> DeviceInfo {
        events
            .iter()
            .find_map(|e| match e {
                SessionEvent::Connected(i) => Some(i.clone()),
                _ => None,
            })
            .expect("a Connected event")
    }

    fn flows(events: &[SessionEvent]) -> Vec<f64> {
        events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Measurement(m) => m.decoded.value.number().map(|d| d.to_f64()),
                _ => None,
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn connects_identifies_subscribes_and_decodes() {
        let peer = console();
        let mut run = start(&peer, SessionConfig::default());
        let events = run.connected().await;
        let info = info_of(&events);
        assert_eq!(
            info.identity.key().unwrap(),
            "sn:Pumpside Sim|HLM-1|SN-0001"
        );
        assert_eq!(info.battery, Some(87));
        assert_eq!(info.clock_offset_ms, None, "no Current Time service");
        assert!(peer.is_subscribed(FLOW));
        assert!(peer.notify(FLOW, &flow(1, 450)).await);
        let got = run
            .until(|e| matches!(e, SessionEvent::Measurement(_)))
            .await;
        let SessionEvent::Measurement(m) = got.last().unwrap() else {
            unreachable!()
        };
        assert_eq!(m.decoded.name, "PumpFlow");
        assert_eq!(m.decoded.value.number().unwrap().to_f64(), 4.5);
        assert_eq!(
            &*m.raw,
            &flow(1, 450)[..],
            "raw bytes travel with the value"
        );
        run.finish().await;
        assert!(!peer.is_connected(), "stopping disconnects");
    }

    /// With bonding required, a device the platform reports as not bonded, or whose bond the
    /// platform cannot report, gives nothing: the session says why and stops before reading
    /// anything; a bonded one connects. Without the requirement nothing is asked.
    #[tokio::test(start_paused = true)]
    async fn bonding_required_takes_nothing_from_a_device_without_a_bond() {
        let required = SessionConfig {
            require_bonding: true,
            ..SessionConfig::default()
        };
        for (bond, says) in [
            (Some(false), "pair it in the tablet's Bluetooth settings"),
            (None, "does not report whether the device is bonded"),
        ] {
            let peer = console();
            peer.set_bonded(bond);
            let mut run = start(&peer, required.clone());
            let events = run
                .until(|e| matches!(e, SessionEvent::State(LinkState::Stopped)))
                .await;
            let why = events
                .iter()
                .find_map(|e| match e {
                    SessionEvent::NotBonded { why } => Some(why.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("no NotBonded for {bond:?}: {events:?}"));
            assert!(why.contains(says), "{why}");
            assert!(
                !events
                    .iter()
                    .any(|e| matches!(e, SessionEvent::Connected(_))),
                "identified a device without a bond: {events:?}"
            );
            assert!(!peer.is_subscribed(FLOW));
            assert!(!peer.is_connected(), "the link is closed");
            run.task.await.unwrap();
        }
        let peer = console();
        peer.set_bonded(Some(true));
        let mut run = start(&peer, required);
        run.connected().await;
        run.finish().await;
        let peer = console();
        let mut run = start(&peer, SessionConfig::default());
        run.connected().await;
        run.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_connect_times_out_and_is_retried_with_backoff() {
        let peer = console();
        peer.script_connects(&[ConnectBehaviour::Hang, ConnectBehaviour::Fail]);
        let t0 = Instant::now();
        let mut run = start(&peer, SessionConfig::default());
        let events = run.connected().await;
        let retries: Vec<(Duration, String)> = events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::State(LinkState::Retrying { after, reason }) => {
                    Some((*after, reason.clone()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(retries.len(), 2, "{events:?}");
        assert_eq!(retries[0].0, Duration::from_secs(1));
        assert!(retries[0]
            .1
            .contains("connect did not finish within 10000 ms"));
        assert_eq!(retries[1].0, Duration::from_secs(2), "backoff doubles");
        assert!(retries[1].1.contains("connection refused"));
        // 10 s timeout + 1 s + 2 s of backoff.
        assert_eq!(t0.elapsed().as_secs(), 13);
        assert_eq!(peer.connects(), 3);
        run.finish().await;
    }

    /// Another device answers behind the same link after a reconnection (another serial
    /// number): the session says so and stops; nothing it sends is taken.
    #[tokio::test(start_paused = true)]
    async fn a_device_that_identifies_as_another_after_reconnecting_is_stopped() {
        let peer = console();
        let mut run = start(&peer, SessionConfig::default());
        run.connected().await;
        peer.set_value(ch::SERIAL_NUMBER, b"SN-0666\0");
        peer.drop_link().await;
        let events = run
            .until(|e| matches!(e, SessionEvent::State(LinkState::Stopped)))
            .await;
        assert!(
            events.iter().any(|e| matches!(
                e,
                SessionEvent::IdentityChanged { was, now }
                    if was == "sn:Pumpside Sim|HLM-1|SN-0001" && now == "sn:Pumpside Sim|HLM-1|SN-0666"
            )),
            "{events:?}"
        );
        assert!(!events
            .iter()
            .any(|e| matches!(e, SessionEvent::State(LinkState::Connected))));
        run.task.await.unwrap();
        assert!(!peer.is_connected(), "disconnected, not retried");
        assert_eq!(peer.connects(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn link_loss_reconnects_and_reopens_the_notification_stream() {
        let peer = console();
        let mut run = start(&peer, SessionConfig::default());
        run.connected().await;
        assert!(peer.notify(FLOW, &flow(1, 450)).await);
        run.until(|e| matches!(e, SessionEvent::Measurement(_)))
            .await;
        peer.drop_link().await;
        let events = run.connected().await;
        assert!(events.iter().any(|e| matches!(
            e,
            SessionEvent::State(LinkState::Retrying { reason, after })
                if reason == "link lost" && *after == Duration::from_secs(1)
        )));
        assert_eq!(peer.events_opened(), 2, "a fresh stream per connection");
        assert!(peer.is_subscribed(FLOW), "subscribed again");
        assert!(peer.notify(FLOW, &flow(2, 460)).await);
        let got = run
            .until(|e| matches!(e, SessionEvent::Measurement(_)))
            .await;
        assert_eq!(flows(&got), vec![4.6]);
        run.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_far_beyond_16_notifications_arrives_complete_and_in_order() {
        let peer = console();
        let cfg = SessionConfig {
            event_capacity: 8,
            ..SessionConfig::default()
        };
        let mut run = start(&peer, cfg);
        run.connected().await;
        let sender = peer.clone();
        let burst = tokio::spawn(async move {
            for i in 0..200u16 {
                assert!(sender.notify(FLOW, &flow(i, 300 + i64::from(i))).await);
            }
        });
        let mut got = Vec::new();
        while got.len() < 200 {
            let e = run
                .until(|e| matches!(e, SessionEvent::Measurement(_)))
                .await;
            got.extend(flows(&e));
        }
        burst.await.unwrap();
        let want: Vec<f64> = (0..200).map(|i| (300.0 + f64::from(i)) / 100.0).collect();
        assert_eq!(got, want);
        run.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn clock_skew_is_measured_and_reported() {
        let peer = console();
        peer.set_value(
            ch::CURRENT_TIME,
            &cts(Utc::now() + chrono::Duration::minutes(5)),
        );
        let mut run = start(&peer, SessionConfig::default());
        let events = run.connected().await;
        let info = info_of(&events);
        let off = info.clock_offset_ms.unwrap();
        // Whole seconds on the wire: within 1.5 s of five minutes.
        assert!((off - 300_000).abs() <= 1_500, "offset {off}");
        assert!(info.offset_source.unwrap().contains("Current Time"));
        assert!(events.iter().any(|e| matches!(
            e,
            SessionEvent::Notice(n) if n.contains("300 s ahead of this tablet")
                || n.contains("299 s ahead of this tablet")
        )));
        run.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn duplicates_are_suppressed_across_a_reconnect_but_repeated_values_are_not() {
        let peer = console();
        let mut run = start(&peer, SessionConfig::default());
        run.connected().await;
        assert!(peer.notify(FLOW, &flow(7, 450)).await);
        assert!(peer.notify(FLOW, &flow(7, 450)).await);
        let e = run
            .until(|e| matches!(e, SessionEvent::Duplicate { .. }))
            .await;
        assert_eq!(flows(&e), vec![4.5]);
        peer.drop_link().await;
        run.connected().await;
        // The device re-sends its last record after reconnecting, then a new one with the same
        // value but the next sequence number: the first is a duplicate, the second a reading.
        assert!(peer.notify(FLOW, &flow(7, 450)).await);
        assert!(peer.notify(FLOW, &flow(8, 450)).await);
        let e = run
            .until(|e| matches!(e, SessionEvent::Measurement(_)))
            .await;
        assert!(e
            .iter()
            .any(|e| matches!(e, SessionEvent::Duplicate { .. })));
        assert_eq!(flows(&e), vec![4.5]);
        run.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn silence_turns_stale_then_forces_a_reconnect() {
        let peer = console();
        let mut run = start(&peer, SessionConfig::default());
        run.connected().await;
        assert!(peer.notify(FLOW, &flow(1, 450)).await);
        run.until(|e| matches!(e, SessionEvent::Measurement(_)))
            .await;
        let t0 = Instant::now();
        peer.go_silent();
        let e = run
            .until(|e| matches!(e, SessionEvent::State(LinkState::Stale { .. })))
            .await;
        assert_eq!(t0.elapsed().as_secs(), 3, "stale after 3 × 1 s: {e:?}");
        let e = run
            .until(|e| matches!(e, SessionEvent::State(LinkState::Retrying { .. })))
            .await;
        assert!(matches!(
            e.last(),
            Some(SessionEvent::State(LinkState::Retrying { reason, .. }))
                if reason.contains("re-open notifications")
        ));
        assert_eq!(t0.elapsed().as_secs(), 15);
        run.connected().await;
        assert!(peer.notify(FLOW, &flow(2, 455)).await, "resubscribed");
        run.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_spot_check_device_is_never_stale_and_garbage_is_rejected_with_a_reason() {
        let peer = MemoryPeer::new("cuff", &[ch::BLOOD_PRESSURE_MEASUREMENT]);
        peer.set_value(ch::MANUFACTURER_NAME, b"Acme");
        peer.set_value(ch::MODEL_NUMBER, b"BP-2");
        let cfg = SessionConfig {
            expected_interval: None,
            ..SessionConfig::default()
        };
        let mut run = start(&peer, cfg);
        let e = run.connected().await;
        let info = info_of(&e);
        assert!(
            info.identity.key().is_err(),
            "no serial: cannot be told apart"
        );
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(
            peer.notify(ch::BLOOD_PRESSURE_MEASUREMENT, &[0xFF, 0x01])
                .await
        );
        let e = run
            .until(|e| matches!(e, SessionEvent::Rejected { .. }))
            .await;
        assert!(
            !e.iter().any(|e| matches!(e, SessionEvent::State(_))),
            "no state change in an hour of silence: {e:?}"
        );
        let SessionEvent::Rejected { reason, raw, .. } = e.last().unwrap() else {
            unreachable!()
        };
        assert!(reason.contains("Blood Pressure"), "{reason}");
        assert_eq!(raw, &vec![0xFF, 0x01]);
        run.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_glucose_meter_is_asked_for_its_stored_records() {
        let peer = MemoryPeer::new("meter", &[ch::GLUCOSE_MEASUREMENT, ch::RACP]);
        let cfg = SessionConfig {
            expected_interval: None,
            ..SessionConfig::default()
        };
        let mut run = start(&peer, cfg);
        run.connected().await;
        assert_eq!(peer.writes(), vec![(ch::RACP, vec![0x01, 0x01])]);
        assert!(peer.notify(ch::RACP, &[0x06, 0x00, 0x01, 0x06]).await);
        let e = run.until(|e| matches!(e, SessionEvent::Notice(_))).await;
        assert!(
            matches!(e.last(), Some(SessionEvent::Notice(n)) if n.contains("no records found"))
        );
        run.finish().await;
    }
}
