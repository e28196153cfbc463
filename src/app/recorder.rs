//! Writes live device values into the case record: batches samples per channel and commits them
//! once a second (one transaction), creating the case's channels on first sight. Runs on tokio;
//! the store actor does the SQL.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::domain::{
    CaseId, Channel, ChannelId, Decimal, DeviceTime, LiveSample, Parameter, Sample,
};
use crate::store::{Store, StoreError};

/// How often buffered samples are committed. A crash loses at most this much unacknowledged
/// data; acknowledged (committed) samples are never lost.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

pub async fn run_recorder(store: Store, case: CaseId, mut rx: mpsc::Receiver<LiveSample>) {
    let mut channels: HashMap<(String, Parameter), ChannelId> = match store.channels(case).await {
        Ok(list) => list
            .into_iter()
            .map(|c| ((c.source_device, c.parameter), c.id))
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "recorder cannot read the case's channels; not recording");
            return;
        }
    };
    let mut pending: HashMap<ChannelId, Vec<Sample>> = HashMap::new();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            got = rx.recv() => match got {
                Some(s) => {
                    match channel_for(&store, case, &mut channels, &s).await {
                        Ok(id) => pending.entry(id).or_default().extend(to_sample(&s)),
                        Err(e) => tracing::error!(error = %e, "cannot create a channel; sample not recorded"),
                    }
                }
                None => {
                    flush(&store, &mut pending).await;
                    return;
                }
            },
            _ = tick.tick() => flush(&store, &mut pending).await,
        }
    }
}

async fn channel_for(
    store: &Store,
    case: CaseId,
    channels: &mut HashMap<(String, Parameter), ChannelId>,
    s: &LiveSample,
) -> Result<ChannelId, StoreError> {
    let key = (s.source.clone(), s.parameter);
    if let Some(id) = channels.get(&key) {
        return Ok(*id);
    }
    let ch = Channel {
        id: ChannelId::new(),
        case_id: case,
        parameter: s.parameter,
        unit: s.parameter.unit().to_string(),
        source_device: s.source.clone(),
        expected_interval_ms: 1000,
    };
    store.create_channel(ch.clone()).await?;
    channels.insert(key, ch.id);
    Ok(ch.id)
}

/// A live value (f64, internal units) as a record sample in the display unit, rounded to the
/// precision the parameter is shown with. The receive time in ms is the stream sequence.
fn to_sample(s: &LiveSample) -> Option<Sample> {
    let p = s.parameter;
    let value = Decimal::from_f64(p.to_display_unit(s.value), p.decimals() as u8)?;
    Some(Sample {
        seq: u64::try_from(s.at.timestamp_millis()).ok()?,
        received_at: s.at,
        device_time: DeviceTime::Unknown,
        value,
        validity: s.validity,
    })
}

async fn flush(store: &Store, pending: &mut HashMap<ChannelId, Vec<Sample>>) {
    if pending.is_empty() {
        return;
    }
    let batch: Vec<(ChannelId, Vec<Sample>)> = pending.drain().collect();
    let n: usize = batch.iter().map(|(_, s)| s.len()).sum();
    match store.append_samples(batch).await {
        Ok(_) => tracing::debug!(samples = n, "recorded"),
        Err(e) => tracing::error!(error = %e, samples = n, "samples not recorded"),
    }
}
