//! Telemetry channels and samples, stored as compact chunks (see `codec.rs`).
//!
//! Write path: one transaction per batch; per channel the batch becomes a level-0 chunk, and
//! once a channel's level-0 chunks hold `CHUNK_TARGET` samples they are merged into one level-1
//! chunk in the same transaction. Nothing is buffered outside SQLite, so every acknowledged
//! sample is on disk.
//!
//! Read path: chunks overlapping the range come from the summary index (`channel, t_last`, then
//! the summary columns: migration 11), so a trend reads no table page for them. A chunk that
//! falls inside one bucket and touches no artefact range is folded in from its stored summary
//! without reading its blob; the others are decoded.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction};

use super::{codec, parse_id, Db, Store, StoreError};
use crate::domain::entry::ArtefactTarget;
use crate::domain::telemetry::{Bucket, StreamHead};
use crate::domain::{
    CaseId, Channel, ChannelId, DeviceTime, EntryPayload, Parameter, Sample, ValidationError,
    Validity,
};

/// Samples per merged (level-1) chunk: 10 minutes at 1 Hz. Small enough that a trend bucket
/// usually covers whole chunks, large enough that per-row overhead stays under 0.2 byte/sample.
pub const CHUNK_TARGET: usize = 600;

/// What a committed batch acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendAck {
    pub samples: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TelemetryStats {
    pub chunks: u64,
    pub samples: u64,
    pub blob_bytes: u64,
}

pub(super) fn channel(db: &mut Db, id: ChannelId) -> Result<&(i64, Channel, bool), StoreError> {
    if !db.channels.contains_key(&id) {
        let row = db
            .conn
            .query_row(
                "SELECT ch.num, ch.case_id, ch.parameter, ch.unit, ch.source_device,
                        ch.expected_interval_ms, c.is_demo
                   FROM channels ch JOIN cases c ON c.id = ch.case_id WHERE ch.id = ?1",
                [id.to_string()],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, bool>(6)?,
                    ))
                },
            )
            .optional()?
            .ok_or(StoreError::UnknownChannel(id))?;
        let (num, case, parameter, unit, source_device, interval, is_demo) = row;
        let ch = Channel {
            id,
            case_id: parse_id("case id", &case)?,
            parameter: Parameter::from_code(&parameter)
                .ok_or_else(|| StoreError::Corrupt(format!("parameter {parameter:?}")))?,
            unit,
            source_device,
            expected_interval_ms: u32::try_from(interval)
                .map_err(|_| StoreError::Corrupt("expected interval".into()))?,
        };
        db.channels.insert(id, (num, ch, is_demo));
    }
    db.channels.get(&id).ok_or(StoreError::UnknownChannel(id))
}

/// The stream head from the newest stored chunk of a channel.
fn load_head(conn: &rusqlite::Connection, num: i64) -> Result<StreamHead, StoreError> {
    let data: Option<Vec<u8>> = conn
        .query_row(
            "SELECT data FROM telemetry_chunks WHERE channel = ?1 ORDER BY seq_last DESC LIMIT 1",
            [num],
            |r| r.get(0),
        )
        .optional()?;
    let Some(data) = data else {
        return Ok(StreamHead::default());
    };
    let samples = codec::decode(&data)?;
    Ok(StreamHead {
        seq: samples.last().map(|s| s.seq),
        device_ms: samples.iter().rev().find_map(|s| match s.device_time {
            DeviceTime::Known(ms) => Some(ms),
            _ => None,
        }),
    })
}

fn insert_chunk(
    tx: &Transaction<'_>,
    num: i64,
    level: u8,
    samples: &[Sample],
) -> Result<(), StoreError> {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return Ok(());
    };
    let mut counted = 0i64;
    let (mut lo, mut hi, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
    for s in samples.iter().filter(|s| s.validity.counts()) {
        let v = s.value.to_f64();
        counted += 1;
        lo = lo.min(v);
        hi = hi.max(v);
        sum += v;
    }
    let summary = |x: f64| if counted > 0 { Some(x) } else { None };
    let t_first = samples
        .iter()
        .map(|s| s.received_at.timestamp_millis())
        .min();
    let t_last = samples
        .iter()
        .map(|s| s.received_at.timestamp_millis())
        .max();
    tx.prepare_cached(
        "INSERT INTO telemetry_chunks (channel, level, t_first, t_last, seq_first, seq_last, n,
                                       n_counted, vmin, vmax, vsum, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        num,
        level,
        t_first,
        t_last,
        first.seq as i64,
        last.seq as i64,
        samples.len() as i64,
        counted,
        summary(lo),
        summary(hi),
        summary(sum),
        codec::encode(samples)
    ])?;
    Ok(())
}

/// Merge a channel's level-0 chunks into one level-1 chunk once they hold enough samples.
fn maybe_compact(tx: &Transaction<'_>, num: i64) -> Result<(), StoreError> {
    let pending: i64 = tx
        .prepare_cached(
            "SELECT coalesce(sum(n), 0) FROM telemetry_chunks WHERE channel = ?1 AND level = 0",
        )?
        .query_row([num], |r| r.get(0))?;
    if (pending as usize) < CHUNK_TARGET {
        return Ok(());
    }
    let mut merged = Vec::with_capacity(pending as usize);
    {
        let mut stmt = tx.prepare_cached(
            "SELECT data FROM telemetry_chunks WHERE channel = ?1 AND level = 0 ORDER BY seq_first",
        )?;
        let mut rows = stmt.query([num])?;
        while let Some(r) = rows.next()? {
            merged.extend(codec::decode(r.get_ref(0)?.as_blob()?)?);
        }
    }
    insert_chunk(tx, num, 1, &merged)?;
    let merged_ids: Vec<i64> = tx
        .prepare_cached("SELECT id FROM telemetry_chunks WHERE channel = ?1 AND level = 0")?
        .query_map([num], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    tx.prepare_cached("DELETE FROM telemetry_chunks WHERE channel = ?1 AND level = 0")?
        .execute([num])?;
    super::seal::drop_chunk0_seals(tx, &merged_ids)?;
    Ok(())
}

/// A device notification as stored (see migration 4).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFrame {
    pub case_id: CaseId,
    pub device: String,
    pub characteristic: String,
    pub received_at: DateTime<Utc>,
    pub bytes: Vec<u8>,
    /// Why the notification was refused by its decoder; `None` when values were decoded from it.
    pub refused: Option<String>,
}

fn append(db: &mut Db, batch: Vec<(ChannelId, Vec<Sample>)>) -> Result<AppendAck, StoreError> {
    append_with_frames(db, batch, Vec::new())
}

fn append_with_frames(
    db: &mut Db,
    batch: Vec<(ChannelId, Vec<Sample>)>,
    frames: Vec<StoredFrame>,
) -> Result<AppendAck, StoreError> {
    // Validate the whole batch before writing anything. Device values go only into a case
    // being set up or running: a signed or completed case takes nothing more.
    let mut cases: Vec<CaseId> = frames.iter().map(|f| f.case_id).collect();
    for (id, _) in &batch {
        cases.push(channel(db, *id)?.1.case_id);
    }
    cases.sort_by_key(|c| c.to_string());
    cases.dedup();
    for case in cases {
        super::cases::case_info(&db.conn, case)?;
        let status = super::entries::current_status(&db.conn, case)?
            .ok_or_else(|| StoreError::Corrupt(format!("case {case} has no status")))?;
        if !crate::domain::routing::takes_samples(status) {
            return Err(ValidationError::CaseNotLive { case, status }.into());
        }
    }
    let mut heads: HashMap<ChannelId, StreamHead> = HashMap::new();
    let mut nums = Vec::with_capacity(batch.len());
    for (id, samples) in &batch {
        let (num, ch, is_demo) = channel(db, *id)?.clone();
        let mut head = match heads.get(id).or_else(|| db.heads.get(id)) {
            Some(h) => *h,
            None => load_head(&db.conn, num)?,
        };
        for s in samples {
            if (s.validity == Validity::Demo) != is_demo {
                return Err(ValidationError::DemoMismatch(if is_demo {
                    format!(
                        "{} from {}: a demo case takes only demo samples",
                        ch.parameter.code(),
                        ch.source_device
                    )
                } else {
                    format!(
                        "{} from {}: demo or test samples cannot enter a patient's case",
                        ch.parameter.code(),
                        ch.source_device
                    )
                })
                .into());
            }
            head.accept(&ch, s)?;
        }
        heads.insert(*id, head);
        nums.push(num);
    }
    let tx = db.conn.transaction()?;
    let mut count = 0u64;
    for ((_, samples), num) in batch.iter().zip(&nums) {
        insert_chunk(&tx, *num, 0, samples)?;
        maybe_compact(&tx, *num)?;
        count += samples.len() as u64;
    }
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO device_frames (case_id, device, characteristic, received_us, raw, refused)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for f in &frames {
            stmt.execute(rusqlite::params![
                f.case_id.to_string(),
                f.device,
                f.characteristic,
                f.received_at.timestamp_micros(),
                f.bytes,
                f.refused
            ])?;
        }
    }
    super::seal::commit(tx, &db.keys)?;
    db.heads.extend(heads);
    Ok(AppendAck { samples: count })
}

/// Telemetry ranges of `channel` marked as artefact on its case, in receive ms.
fn artefact_ranges(
    conn: &rusqlite::Connection,
    case: CaseId,
    channel: ChannelId,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT payload FROM entries WHERE case_id = ?1 AND kind = 'artefact_mark'",
    )?;
    let mut rows = stmt.query([case.to_string()])?;
    let key = channel.to_string();
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let p: EntryPayload = serde_json::from_str(r.get_ref(0)?.as_str()?)
            .map_err(|e| StoreError::Corrupt(format!("artefact mark: {e}")))?;
        if let EntryPayload::ArtefactMark {
            target: ArtefactTarget::Samples { channel, from, to },
            ..
        } = p
        {
            if channel == key {
                out.push((from.timestamp_millis(), to.timestamp_millis()));
            }
        }
    }
    Ok(out)
}

#[derive(Clone, Copy)]
struct Acc {
    n: u64,
    min: f64,
    max: f64,
    sum: f64,
}

impl Acc {
    const EMPTY: Acc = Acc {
        n: 0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        sum: 0.0,
    };

    #[inline]
    fn add(&mut self, v: f64) {
        self.n += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v;
    }
}

fn trend(
    db: &mut Db,
    id: ChannelId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    buckets: u32,
) -> Result<Vec<Bucket>, StoreError> {
    if buckets == 0 || buckets > 100_000 || to <= from {
        return Err(ValidationError::Invalid {
            field: "trend".into(),
            value: format!("{buckets} buckets from {from} to {to}"),
            allowed: "1 to 100000 buckets over a range that ends after it starts".into(),
        }
        .into());
    }
    let (num, ch, _) = channel(db, id)?.clone();
    let artefacts = artefact_ranges(&db.conn, ch.case_id, id)?;
    let (f, t) = (from.timestamp_millis(), to.timestamp_millis());
    let width = (t - f) as f64 / f64::from(buckets);
    let last = buckets as usize - 1;
    let bucket_of = |ms: i64| (((ms - f) as f64 / width) as usize).min(last);
    let mut acc = vec![Acc::EMPTY; buckets as usize];
    let mut to_decode = Vec::new();
    {
        let mut stmt = db.conn.prepare_cached(
            "SELECT id, t_first, t_last, n_counted, vmin, vmax, vsum FROM telemetry_chunks
              WHERE channel = ?1 AND t_last >= ?2 AND t_first <= ?3",
        )?;
        let mut rows = stmt.query(params![num, f, t])?;
        while let Some(r) = rows.next()? {
            let (cid, t_first, t_last): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let inside = t_first >= f && t_last <= t && bucket_of(t_first) == bucket_of(t_last);
            let clean = !artefacts.iter().any(|&(a, b)| a <= t_last && b >= t_first);
            if inside && clean {
                let n: i64 = r.get(3)?;
                if n > 0 {
                    let a = &mut acc[bucket_of(t_first)];
                    a.n += n as u64;
                    a.min = a.min.min(r.get(4)?);
                    a.max = a.max.max(r.get(5)?);
                    a.sum += r.get::<_, f64>(6)?;
                }
            } else {
                to_decode.push(cid);
            }
        }
    }
    let mut cols = codec::TrendColumns::new();
    let mut stmt = db
        .conn
        .prepare_cached("SELECT data FROM telemetry_chunks WHERE id = ?1")?;
    for cid in to_decode {
        let mut rows = stmt.query([cid])?;
        let Some(r) = rows.next()? else { continue };
        let n = codec::decode_trend(r.get_ref(0)?.as_blob()?, &mut cols)?;
        for i in 0..n {
            let ms = cols.received_ms[i];
            if ms < f || ms > t {
                continue;
            }
            let counts = u8::try_from(cols.validity[i])
                .ok()
                .and_then(Validity::from_code)
                .is_some_and(Validity::counts);
            if !counts || artefacts.iter().any(|&(a, b)| ms >= a && ms <= b) {
                continue;
            }
            acc[bucket_of(ms)].add(cols.value(i));
        }
    }
    Ok(acc
        .iter()
        .enumerate()
        .filter(|(_, a)| a.n > 0)
        .map(|(i, a)| {
            let start = f + (i as f64 * width) as i64;
            let end = if i == last {
                t
            } else {
                f + ((i + 1) as f64 * width) as i64
            };
            Bucket {
                start: DateTime::from_timestamp_millis(start).unwrap_or(from),
                end: DateTime::from_timestamp_millis(end).unwrap_or(to),
                n: a.n,
                min: a.min,
                max: a.max,
                mean: a.sum / a.n as f64,
            }
        })
        .collect())
}

/// Lowest and highest counted value of a channel, with the receive time of the first sample
/// at each. Chunks are ranked by their summaries, so only the two chunks that hold the extremes
/// are decoded, unless artefact ranges force a full scan.
fn extremes(db: &mut Db, id: ChannelId) -> Result<Option<ChannelExtremes>, StoreError> {
    let (num, ch, _) = channel(db, id)?.clone();
    let artefacts = artefact_ranges(&db.conn, ch.case_id, id)?;
    let counted = |ms: i64, v: i64| {
        u8::try_from(v)
            .ok()
            .and_then(Validity::from_code)
            .is_some_and(Validity::counts)
            && !artefacts.iter().any(|&(a, b)| ms >= a && ms <= b)
    };
    let chunk_ids: Vec<i64> = if artefacts.is_empty() {
        let mut ids = Vec::new();
        for order in ["vmin ASC", "vmax DESC"] {
            let sql = format!(
                "SELECT id FROM telemetry_chunks WHERE channel = ?1 AND n_counted > 0
                  ORDER BY {order}, t_first LIMIT 1"
            );
            if let Some(cid) = db
                .conn
                .query_row(&sql, [num], |r| r.get::<_, i64>(0))
                .optional()?
            {
                ids.push(cid);
            }
        }
        ids
    } else {
        let mut stmt = db
            .conn
            .prepare_cached("SELECT id FROM telemetry_chunks WHERE channel = ?1")?;
        let ids = stmt
            .query_map([num], |r| r.get::<_, i64>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        ids
    };
    let mut best: Option<ChannelExtremes> = None;
    let mut cols = codec::TrendColumns::new();
    let mut stmt = db
        .conn
        .prepare_cached("SELECT data FROM telemetry_chunks WHERE id = ?1")?;
    for cid in chunk_ids {
        let data: Vec<u8> = stmt.query_row([cid], |r| r.get(0))?;
        let n = codec::decode_trend(&data, &mut cols)?;
        for i in 0..n {
            let ms = cols.received_ms[i];
            if !counted(ms, cols.validity[i]) {
                continue;
            }
            let v = cols.value(i);
            let at = DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| StoreError::Corrupt("receive time".into()))?;
            let b = best.get_or_insert(ChannelExtremes {
                nadir: (v, at),
                peak: (v, at),
            });
            if v < b.nadir.0 || (v == b.nadir.0 && at < b.nadir.1) {
                b.nadir = (v, at);
            }
            if v > b.peak.0 || (v == b.peak.0 && at < b.peak.1) {
                b.peak = (v, at);
            }
        }
    }
    Ok(best)
}

/// Nadir and peak of a channel: (value in the channel's unit, when).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelExtremes {
    pub nadir: (f64, DateTime<Utc>),
    pub peak: (f64, DateTime<Utc>),
}

impl Store {
    /// Nadir and peak of a channel's counted samples (artefacts and marked ranges excluded).
    pub async fn channel_extremes(
        &self,
        channel: ChannelId,
    ) -> Result<Option<ChannelExtremes>, StoreError> {
        self.call(move |db| extremes(db, channel)).await
    }

    /// Register a channel for a case. The unit must be one the parameter accepts.
    pub async fn create_channel(&self, ch: Channel) -> Result<(), StoreError> {
        self.call(move |db| {
            super::cases::case_info(&db.conn, ch.case_id)?;
            ch.parameter
                .conversion(&format!("channel.{}", ch.parameter.code()), &ch.unit)?;
            crate::domain::validation::check_text("channel.source_device", &ch.source_device, 200)?;
            if ch.expected_interval_ms == 0 {
                return Err(ValidationError::out_of_range(
                    "channel.expected_interval_ms",
                    0,
                    "at least 1 ms",
                )
                .into());
            }
            let tx = db.conn.transaction()?;
            tx.execute(
                "INSERT INTO channels (id, case_id, parameter, unit, source_device,
                                       expected_interval_ms, created_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    ch.id.to_string(),
                    ch.case_id.to_string(),
                    ch.parameter.code(),
                    ch.unit,
                    ch.source_device,
                    i64::from(ch.expected_interval_ms),
                    Utc::now().timestamp_micros()
                ],
            )?;
            super::seal::commit(tx, &db.keys)
        })
        .await
    }

    /// Validate and store samples of one or more channels in one transaction. Either every
    /// sample is stored or none is.
    pub async fn append_samples(
        &self,
        batch: Vec<(ChannelId, Vec<Sample>)>,
    ) -> Result<AppendAck, StoreError> {
        self.call(move |db| append(db, batch)).await
    }

    /// The same, for a plain (non-async) writer thread.
    /// Samples and the device notifications they were decoded from, in one transaction.
    pub async fn append_recording(
        &self,
        batch: Vec<(ChannelId, Vec<Sample>)>,
        frames: Vec<StoredFrame>,
    ) -> Result<AppendAck, StoreError> {
        self.call(move |db| append_with_frames(db, batch, frames))
            .await
    }

    /// The stored notifications of a case, oldest first.
    pub async fn device_frames(&self, case: CaseId) -> Result<Vec<StoredFrame>, StoreError> {
        self.call(move |db| {
            let mut stmt = db.conn.prepare(
                "SELECT device, characteristic, received_us, raw, refused FROM device_frames
                  WHERE case_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([case.to_string()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (device, characteristic, us, bytes, refused) = row?;
                out.push(StoredFrame {
                    case_id: case,
                    device,
                    characteristic,
                    received_at: super::from_micros(us)?,
                    bytes,
                    refused,
                });
            }
            Ok(out)
        })
        .await
    }

    pub fn append_samples_blocking(
        &self,
        batch: Vec<(ChannelId, Vec<Sample>)>,
    ) -> Result<AppendAck, StoreError> {
        self.call_blocking(move |db| append(db, batch))
    }

    /// Min/max/mean per bucket over `[from, to]`; empty buckets are left out.
    pub async fn trend(
        &self,
        channel: ChannelId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        buckets: u32,
    ) -> Result<Vec<Bucket>, StoreError> {
        self.call(move |db| trend(db, channel, from, to, buckets))
            .await
    }

    /// Blocking form of [`Store::trend`], for benchmarks and tools.
    pub fn trend_blocking(
        &self,
        channel: ChannelId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        buckets: u32,
    ) -> Result<Vec<Bucket>, StoreError> {
        self.call_blocking(move |db| trend(db, channel, from, to, buckets))
    }

    /// When the channel's newest stored sample was received (`None`: none yet). One index
    /// lookup, for the board's staleness rule over runs of weeks.
    pub async fn newest_sample_at(
        &self,
        channel_id: ChannelId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.call(move |db| {
            let num = channel(db, channel_id)?.0;
            let ms: Option<i64> = db.conn.query_row(
                "SELECT max(t_last) FROM telemetry_chunks WHERE channel = ?1",
                [num],
                |r| r.get(0),
            )?;
            Ok(ms.and_then(DateTime::from_timestamp_millis))
        })
        .await
    }

    /// Every stored sample of a channel received in `[from, to]`, in stream order.
    pub async fn samples(
        &self,
        channel_id: ChannelId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Sample>, StoreError> {
        self.call(move |db| samples_between(db, channel_id, from, to))
            .await
    }

    /// The samples of a channel that count (valid, questionable or demo) and lie in no range
    /// marked artefact: what a calculation or a quality rule may use.
    pub async fn counted_samples(
        &self,
        channel_id: ChannelId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Sample>, StoreError> {
        self.call(move |db| {
            let case = channel(db, channel_id)?.1.case_id;
            let marked = artefact_ranges(&db.conn, case, channel_id)?;
            Ok(samples_between(db, channel_id, from, to)?
                .into_iter()
                .filter(|s| {
                    let ms = s.received_at.timestamp_millis();
                    s.validity.counts() && !marked.iter().any(|(a, b)| ms >= *a && ms <= *b)
                })
                .collect())
        })
        .await
    }

    /// Channels of a case.
    pub async fn channels(&self, case: CaseId) -> Result<Vec<Channel>, StoreError> {
        self.call(move |db| {
            let ids = {
                let mut stmt = db
                    .conn
                    .prepare("SELECT id FROM channels WHERE case_id = ?1 ORDER BY num")?;
                let ids = stmt
                    .query_map([case.to_string()], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                ids
            };
            ids.iter()
                .map(|s| {
                    let id = parse_id("channel id", s)?;
                    Ok(channel(db, id)?.1.clone())
                })
                .collect()
        })
        .await
    }

    pub async fn telemetry_stats(&self) -> Result<TelemetryStats, StoreError> {
        self.call(|db| {
            Ok(db.conn.query_row(
                "SELECT count(*), coalesce(sum(n), 0), coalesce(sum(length(data)), 0)
                   FROM telemetry_chunks",
                [],
                |r| {
                    Ok(TelemetryStats {
                        chunks: r.get::<_, i64>(0)? as u64,
                        samples: r.get::<_, i64>(1)? as u64,
                        blob_bytes: r.get::<_, i64>(2)? as u64,
                    })
                },
            )?)
        })
        .await
    }
}

/// Every stored sample of a channel received in `[from, to]`, in stream order.
pub(super) fn samples_between(
    db: &mut Db,
    channel_id: ChannelId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Sample>, StoreError> {
    let num = channel(db, channel_id)?.0;
    let (f, t) = (from.timestamp_millis(), to.timestamp_millis());
    let mut stmt = db.conn.prepare_cached(
        "SELECT data FROM telemetry_chunks
                  WHERE channel = ?1 AND t_last >= ?2 AND t_first <= ?3 ORDER BY seq_first",
    )?;
    let mut rows = stmt.query(params![num, f, t])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.extend(
            codec::decode(r.get_ref(0)?.as_blob()?)?
                .into_iter()
                .filter(|s| {
                    let ms = s.received_at.timestamp_millis();
                    ms >= f && ms <= t
                }),
        );
    }
    Ok(out)
}
