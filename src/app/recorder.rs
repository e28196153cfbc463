//! Writes live device values into the case record: batches samples per channel and commits them
//! once a second (one transaction, with the raw notifications they were decoded from), creating
//! the case's channels on first sight. Runs on tokio; the store actor does the SQL.
//!
//! Each sample is checked against its stream before it is batched (plausible range, order), so
//! one bad value never makes the store refuse the whole second of every channel. A value that
//! fails is logged and counted; its notification's bytes are still stored.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::domain::telemetry::StreamHead;
use crate::domain::{
    CaseId, Channel, ChannelId, Decimal, DeviceTime, LiveSample, Parameter, Sample,
};
use crate::store::{Store, StoreError, StoredFrame};

/// How often buffered samples are committed. A crash loses at most this much unacknowledged
/// data; acknowledged (committed) samples are never lost.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

struct Stream {
    channel: Channel,
    head: StreamHead,
}

pub async fn run_recorder(store: Store, case: CaseId, mut rx: mpsc::Receiver<LiveSample>) {
    let mut streams: HashMap<(String, Parameter), Stream> = match store.channels(case).await {
        Ok(list) => list
            .into_iter()
            .map(|c| {
                (
                    (c.source_device.clone(), c.parameter),
                    Stream {
                        channel: c,
                        head: StreamHead::default(),
                    },
                )
            })
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "recorder cannot read the case's channels; not recording");
            return;
        }
    };
    let mut pending: HashMap<ChannelId, Vec<Sample>> = HashMap::new();
    let mut frames: Vec<StoredFrame> = Vec::new();
    let mut last_raw: Option<Arc<[u8]>> = None;
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            got = rx.recv() => match got {
                Some(s) => {
                    // Values decoded from one notification share its bytes: store them once.
                    if let Some(raw) = &s.raw {
                        let same = last_raw.as_ref().is_some_and(|l| Arc::ptr_eq(l, &raw.bytes));
                        if !same {
                            frames.push(StoredFrame {
                                case_id: case,
                                device: raw.device.clone(),
                                characteristic: raw.characteristic.clone(),
                                received_at: s.at,
                                bytes: raw.bytes.to_vec(),
                            });
                            last_raw = Some(raw.bytes.clone());
                        }
                    }
                    match stream_for(&store, case, &mut streams, &s).await {
                        Ok(stream) => {
                            if let Some(sample) = admit(stream, &s) {
                                pending.entry(stream.channel.id).or_default().push(sample);
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "cannot create a channel; sample not recorded"),
                    }
                }
                None => {
                    flush(&store, &mut pending, &mut frames).await;
                    return;
                }
            },
            _ = tick.tick() => flush(&store, &mut pending, &mut frames).await,
        }
    }
}

async fn stream_for<'a>(
    store: &Store,
    case: CaseId,
    streams: &'a mut HashMap<(String, Parameter), Stream>,
    s: &LiveSample,
) -> Result<&'a mut Stream, StoreError> {
    let key = (s.source.clone(), s.parameter);
    if !streams.contains_key(&key) {
        let ch = Channel {
            id: ChannelId::new(),
            case_id: case,
            parameter: s.parameter,
            unit: s.parameter.unit().to_string(),
            source_device: s.source.clone(),
            expected_interval_ms: 1000,
        };
        store.create_channel(ch.clone()).await?;
        streams.insert(
            key.clone(),
            Stream {
                channel: ch,
                head: StreamHead::default(),
            },
        );
    }
    streams
        .get_mut(&key)
        .ok_or_else(|| StoreError::Corrupt("channel vanished".into()))
}

/// The sample to record, or `None` (logged) when it cannot enter its stream. The receive time in
/// ms is the sequence, bumped by one when two values arrive within the same millisecond.
fn admit(stream: &mut Stream, s: &LiveSample) -> Option<Sample> {
    let p = s.parameter;
    let value = Decimal::from_f64(p.to_display_unit(s.value), p.decimals() as u8)?;
    let ms = u64::try_from(s.at.timestamp_millis()).ok()?;
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
            tracing::warn!(error = %e, source = %s.source, "value not recorded");
            return None;
        }
        tracing::warn!(source = %s.source, "device time went backwards; recorded on receive time");
    }
    stream.head = head;
    Some(sample)
}

async fn flush(
    store: &Store,
    pending: &mut HashMap<ChannelId, Vec<Sample>>,
    frames: &mut Vec<StoredFrame>,
) {
    if pending.is_empty() && frames.is_empty() {
        return;
    }
    let batch: Vec<(ChannelId, Vec<Sample>)> = pending.drain().collect();
    let raw = std::mem::take(frames);
    let n: usize = batch.iter().map(|(_, s)| s.len()).sum();
    match store.append_recording(batch.clone(), raw.clone()).await {
        Ok(_) => tracing::debug!(samples = n, frames = raw.len(), "recorded"),
        Err(e) => {
            // Should not happen after `admit`; keep what can be kept, channel by channel.
            tracing::error!(error = %e, samples = n, "batch refused; recording channel by channel");
            let _ = store.append_recording(Vec::new(), raw).await;
            for (id, samples) in batch {
                let len = samples.len();
                if let Err(e) = store.append_samples(vec![(id, samples)]).await {
                    tracing::error!(error = %e, samples = len, "samples not recorded");
                }
            }
        }
    }
}
