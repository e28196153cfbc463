//! Writes live device values into the case record: batches samples per channel and commits them
//! once a second (one transaction per case, with the raw notifications they were decoded from),
//! creating a case's channels on first sight. Runs on tokio; the store actor does the SQL.
//!
//! Each sample carries its case, decided from the record by `domain::routing` before it gets
//! here; the recorder never chooses a case. The store refuses values for a case that is not set
//! up or running, so a value in flight when its case was signed goes nowhere.
//!
//! Each sample is checked against its stream before it is batched (plausible range, order), so
//! one bad value never makes the store refuse the whole second of every channel. A value that
//! fails is logged; its notification's bytes are still stored, with the reason.
//!
//! When the store cannot write (a full disk, a damaged file) nothing is dropped: the batch stays
//! in memory, [`RecorderHealth`] says so on every screen, and the next tick tries again, so what
//! was held reaches the disk once it can, in order and once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};

use crate::domain::telemetry::StreamHead;
use crate::domain::{
    CaseId, Channel, ChannelId, DeviceTime, LiveSample, Parameter, Sample, ValidationError,
};
use crate::store::{Store, StoreError, StoredFrame};

/// How often buffered samples are committed. A crash loses at most this much unacknowledged
/// data; acknowledged (committed) samples are never lost.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Samples held in memory while the store cannot write, at most: a day of 32 channels at 1 Hz
/// fits (~2.8 M, about 100 MB); beyond it one channel's held samples are given up at a time,
/// counted and said on screen.
const MAX_HELD: usize = 3_000_000;

/// What the recorder is given.
#[derive(Debug, Clone, PartialEq)]
pub enum Recordable {
    Sample(LiveSample),
    /// A notification that did not decode, kept with why in the case its device feeds.
    Refused {
        case: CaseId,
        device: String,
        characteristic: String,
        at: DateTime<Utc>,
        bytes: Vec<u8>,
        reason: String,
    },
}

/// Whether recorded values reach the disk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecorderHealth {
    /// Why the last write failed, while it keeps failing.
    pub failing: Option<String>,
    /// Samples waiting in memory for the store.
    pub held: usize,
    /// Samples given up after the memory limit (never silently).
    pub lost: u64,
    /// Values refused because their case no longer takes samples.
    pub refused_closed: u64,
}

struct Stream {
    channel: Channel,
    head: StreamHead,
    /// Written to the store yet? (A full disk can refuse the channel row too.)
    created: bool,
}

type StreamKey = (CaseId, String, Parameter, &'static str);

/// One case's share of a flush: its samples per channel and its notifications.
type CaseBatch = (Vec<(ChannelId, Vec<Sample>)>, Vec<StoredFrame>);

#[derive(Default)]
struct Pending {
    samples: HashMap<ChannelId, Vec<Sample>>,
    frames: Vec<StoredFrame>,
    count: usize,
}

pub async fn run_recorder(
    store: Store,
    mut rx: mpsc::Receiver<Recordable>,
    health: Arc<watch::Sender<RecorderHealth>>,
) {
    let mut streams: HashMap<StreamKey, Stream> = HashMap::new();
    let mut loaded: Vec<CaseId> = Vec::new();
    let mut pending = Pending::default();
    let mut last_raw: Option<Arc<[u8]>> = None;
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            got = rx.recv() => match got {
                Some(Recordable::Sample(s)) => {
                    let Some(case) = s.case else { continue };
                    if !loaded.contains(&case) {
                        match load_streams(&store, case, &mut streams).await {
                            Ok(()) => loaded.push(case),
                            Err(e) => {
                                tracing::error!(error = %e, "cannot read the case's channels; holding the value");
                            }
                        }
                    }
                    // Values decoded from one notification share its bytes: store them once.
                    let mut frame_at = None;
                    if let Some(raw) = &s.raw {
                        let same = last_raw.as_ref().is_some_and(|l| Arc::ptr_eq(l, &raw.bytes));
                        if !same {
                            pending.frames.push(StoredFrame {
                                case_id: case,
                                device: raw.device.clone(),
                                characteristic: raw.characteristic.clone(),
                                received_at: s.at,
                                bytes: raw.bytes.to_vec(),
                                refused: None,
                            });
                            last_raw = Some(raw.bytes.clone());
                        }
                        frame_at = pending.frames.len().checked_sub(1);
                    }
                    match admit(&mut streams, case, &s) {
                        Ok((id, sample)) => {
                            pending.samples.entry(id).or_default().push(sample);
                            pending.count += 1;
                        }
                        Err(why) => {
                            tracing::warn!(error = %why, source = %s.source, "value not recorded");
                            if let Some(f) = frame_at.and_then(|i| pending.frames.get_mut(i)) {
                                f.refused = Some(why.to_string());
                            }
                        }
                    }
                }
                Some(Recordable::Refused { case, device, characteristic, at, bytes, reason }) => {
                    pending.frames.push(StoredFrame {
                        case_id: case,
                        device,
                        characteristic,
                        received_at: at,
                        bytes,
                        refused: Some(reason),
                    });
                }
                None => {
                    flush(&store, &mut streams, &mut pending, &health).await;
                    return;
                }
            },
            _ = tick.tick() => flush(&store, &mut streams, &mut pending, &health).await,
        }
    }
}

/// The channels a case already has (from an earlier launch), so its streams continue.
async fn load_streams(
    store: &Store,
    case: CaseId,
    streams: &mut HashMap<StreamKey, Stream>,
) -> Result<(), StoreError> {
    for c in store.channels(case).await? {
        let Some(unit) = c
            .parameter
            .units()
            .iter()
            .map(|(u, _)| *u)
            .find(|u| *u == c.unit)
        else {
            continue;
        };
        streams
            .entry((case, c.source_device.clone(), c.parameter, unit))
            .or_insert(Stream {
                channel: c,
                head: StreamHead::default(),
                created: true,
            });
    }
    Ok(())
}

/// The sample to record in its stream, or why not. The receive time in ms is the sequence,
/// bumped by one when two values arrive within the same millisecond. The value is the one
/// received, in the channel's unit exactly (`LiveSample::stored`), never rounded.
fn admit(
    streams: &mut HashMap<StreamKey, Stream>,
    case: CaseId,
    s: &LiveSample,
) -> Result<(ChannelId, Sample), ValidationError> {
    let (value, unit) = s.stored()?;
    let key = (case, s.source.clone(), s.parameter, unit);
    let stream = streams.entry(key).or_insert_with(|| Stream {
        channel: Channel {
            id: ChannelId::new(),
            case_id: case,
            parameter: s.parameter,
            unit: unit.to_string(),
            source_device: s.source.clone(),
            expected_interval_ms: 1000,
        },
        head: StreamHead::default(),
        created: false,
    });
    let ms = u64::try_from(s.at.timestamp_millis())
        .map_err(|_| ValidationError::out_of_range("sample.received_at", s.at, "after 1970"))?;
    let seq = match stream.head.seq {
        Some(prev) if ms <= prev => prev + 1,
        _ => ms,
    };
    let mut sample = Sample {
        seq,
        received_at: s.at,
        device_time: s.device_time,
        value,
        validity: s.validity,
    };
    let mut head = stream.head;
    if let Err(e) = head.accept(&stream.channel, &sample) {
        // A device clock set back mid-case: keep the value on the receive time; the device's
        // time stays in the stored notification bytes.
        let retry = matches!(s.device_time, DeviceTime::Known(_)) && {
            sample.device_time = DeviceTime::Unknown;
            head = stream.head;
            head.accept(&stream.channel, &sample).is_ok()
        };
        if !retry {
            return Err(e);
        }
        tracing::warn!(source = %s.source, "device time went backwards; recorded on receive time");
    }
    stream.head = head;
    Ok((stream.channel.id, sample))
}

use super::case::is_write_failure;

async fn flush(
    store: &Store,
    streams: &mut HashMap<StreamKey, Stream>,
    pending: &mut Pending,
    health: &watch::Sender<RecorderHealth>,
) {
    if pending.samples.is_empty() && pending.frames.is_empty() {
        return;
    }
    let mut failing: Option<String> = None;
    let mut refused_closed = 0u64;
    // Channels first: a stream whose row cannot be written keeps its samples held.
    for stream in streams.values_mut().filter(|s| !s.created) {
        if !pending.samples.contains_key(&stream.channel.id) {
            continue;
        }
        match store.create_channel(stream.channel.clone()).await {
            Ok(()) => stream.created = true,
            Err(e) if is_write_failure(&e) => failing = Some(e.to_string()),
            Err(e) => {
                tracing::error!(error = %e, "channel refused; its values are not recorded");
                let n = pending
                    .samples
                    .remove(&stream.channel.id)
                    .map_or(0, |v| v.len());
                pending.count -= n;
                if matches!(e, StoreError::Invalid(ValidationError::CaseNotLive { .. })) {
                    refused_closed += n as u64;
                }
            }
        }
    }
    let case_of: HashMap<ChannelId, (CaseId, bool)> = streams
        .values()
        .map(|s| (s.channel.id, (s.channel.case_id, s.created)))
        .collect();
    // One transaction per case: a case that was just signed refuses only its own values.
    let mut by_case: HashMap<CaseId, CaseBatch> = HashMap::new();
    let mut keep: HashMap<ChannelId, Vec<Sample>> = HashMap::new();
    for (id, samples) in pending.samples.drain() {
        match case_of.get(&id) {
            Some((case, true)) => by_case.entry(*case).or_default().0.push((id, samples)),
            _ => {
                keep.insert(id, samples);
            }
        }
    }
    for f in pending.frames.drain(..) {
        by_case.entry(f.case_id).or_default().1.push(f);
    }
    let mut keep_frames = Vec::new();
    for (case, (batch, frames)) in by_case {
        let n: usize = batch.iter().map(|(_, s)| s.len()).sum();
        match store.append_recording(batch.clone(), frames.clone()).await {
            Ok(_) => {
                pending.count -= n;
                tracing::debug!(samples = n, frames = frames.len(), "recorded");
            }
            Err(e) if is_write_failure(&e) => {
                failing = Some(e.to_string());
                for (id, s) in batch {
                    keep.entry(id).or_default().extend(s);
                }
                keep_frames.extend(frames);
            }
            Err(StoreError::Invalid(ValidationError::CaseNotLive { .. })) => {
                tracing::info!(%case, samples = n, "case no longer takes device values");
                pending.count -= n;
                refused_closed += n as u64;
            }
            Err(e) => {
                // Should not happen after `admit`; keep what can be kept, channel by channel.
                tracing::error!(error = %e, samples = n, "batch refused; recording channel by channel");
                if let Err(e) = store.append_recording(Vec::new(), frames).await {
                    tracing::error!(error = %e, "device frames not recorded");
                }
                for (id, samples) in batch {
                    let len = samples.len();
                    if let Err(e) = store.append_samples(vec![(id, samples)]).await {
                        tracing::error!(error = %e, samples = len, "samples not recorded");
                    }
                }
                pending.count -= n;
            }
        }
    }
    // Held values go first next time: values arriving later are appended behind them.
    pending.samples = keep;
    pending.frames = keep_frames;
    let mut lost = 0u64;
    while pending.count > MAX_HELD {
        let Some(id) = pending.samples.keys().next().copied() else {
            break;
        };
        let n = pending.samples.remove(&id).map_or(0, |v| v.len());
        pending.count -= n;
        lost += n as u64;
    }
    if lost > 0 {
        tracing::error!(
            lost,
            "store unavailable too long; oldest held samples given up"
        );
    }
    if let Some(why) = &failing {
        tracing::error!(error = %why, held = pending.count, "record not written; values held in memory");
    }
    health.send_modify(|h| {
        h.failing = failing;
        h.held = pending.count;
        h.lost += lost;
        h.refused_closed += refused_closed;
    });
}
