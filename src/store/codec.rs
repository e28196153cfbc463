//! The telemetry chunk format. A chunk holds up to a few hundred samples of one channel as
//! columns; each column is transformed (delta, or delta-of-delta for clocks) and written as
//! zigzag varints, with runs of equal values collapsed. Regular 1 Hz streams cost about two
//! bytes a sample: one for the receive-time jitter, one for the value change; sequence, device
//! clock, exponent and validity collapse into runs.
//!
//! Layout (version 1): `01`, varint n, then the columns in this order: receive ms (DoD),
//! validity (raw), mantissa (delta), exponent (raw), sequence (delta), device-time kind (raw),
//! device-time value (DoD). A trend query decodes only the first four.
//!
//! Every value written is bounded well below 2^62 by the domain checks, so `zigzag << 1` fits a
//! u64. Decoding never panics: a corrupt chunk is an error, not a crash.

use crate::domain::{Decimal, DeviceTime, Sample, Validity};

const VERSION: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("telemetry chunk is corrupt: {0}")]
pub struct CorruptChunk(pub &'static str);

#[inline]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    #[inline]
    fn varint(&mut self) -> Result<u64, CorruptChunk> {
        let mut v: u64 = 0;
        let mut shift = 0;
        loop {
            let b = *self.buf.get(self.pos).ok_or(CorruptChunk("truncated"))?;
            self.pos += 1;
            if shift > 63 {
                return Err(CorruptChunk("varint too long"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    /// Read `n` values of one column (before the inverse transform).
    fn column(&mut self, n: usize, out: &mut Vec<i64>) -> Result<(), CorruptChunk> {
        out.clear();
        out.reserve(n.min(1 << 16));
        while out.len() < n {
            let w = self.varint()?;
            let v = unzigzag(w >> 1);
            if w & 1 == 1 {
                let run = self.varint()? as usize + 2;
                if out.len() + run > n {
                    return Err(CorruptChunk("run past the end"));
                }
                out.extend(std::iter::repeat_n(v, run));
            } else {
                out.push(v);
            }
        }
        Ok(())
    }
}

fn put_column(out: &mut Vec<u8>, values: &[i64]) {
    let mut i = 0;
    while i < values.len() {
        let v = values[i];
        let mut run = 1;
        while i + run < values.len() && values[i + run] == v {
            run += 1;
        }
        let z = zigzag(v) << 1;
        if run >= 2 {
            put_varint(out, z | 1);
            put_varint(out, (run - 2) as u64);
        } else {
            put_varint(out, z);
        }
        i += run;
    }
}

fn delta(values: &mut [i64]) {
    for i in (1..values.len()).rev() {
        values[i] = values[i].wrapping_sub(values[i - 1]);
    }
}

fn undelta(values: &mut [i64]) {
    for i in 1..values.len() {
        values[i] = values[i].wrapping_add(values[i - 1]);
    }
}

/// Encode samples (in stream order) into one chunk.
pub fn encode(samples: &[Sample]) -> Vec<u8> {
    let n = samples.len();
    let mut out = Vec::with_capacity(16 + n * 3);
    out.push(VERSION);
    put_varint(&mut out, n as u64);

    let mut col: Vec<i64> = samples
        .iter()
        .map(|s| s.received_at.timestamp_millis())
        .collect();
    delta(&mut col);
    delta(&mut col);
    put_column(&mut out, &col);

    col = samples
        .iter()
        .map(|s| i64::from(s.validity.code()))
        .collect();
    put_column(&mut out, &col);

    col = samples.iter().map(|s| s.value.mantissa).collect();
    delta(&mut col);
    put_column(&mut out, &col);

    col = samples
        .iter()
        .map(|s| i64::from(s.value.exponent))
        .collect();
    put_column(&mut out, &col);

    col = samples.iter().map(|s| s.seq as i64).collect();
    delta(&mut col);
    put_column(&mut out, &col);

    col = samples
        .iter()
        .map(|s| match s.device_time {
            DeviceTime::Unknown => 0,
            DeviceTime::Known(_) => 1,
            DeviceTime::Partial { .. } => 2,
        })
        .collect();
    put_column(&mut out, &col);

    // Unknown device times repeat the previous value so they cost nothing in the DoD column.
    let mut last = 0i64;
    col = samples
        .iter()
        .map(|s| {
            last = match s.device_time {
                DeviceTime::Unknown => last,
                DeviceTime::Known(ms) => ms,
                t @ DeviceTime::Partial { .. } => t.pack_partial().unwrap_or(last),
            };
            last
        })
        .collect();
    delta(&mut col);
    delta(&mut col);
    put_column(&mut out, &col);
    out
}

/// The columns a trend needs: receive ms, validity code, value.
pub struct TrendColumns {
    pub received_ms: Vec<i64>,
    pub validity: Vec<i64>,
    pub mantissa: Vec<i64>,
    pub exponent: Vec<i64>,
}

fn header(buf: &[u8]) -> Result<(Reader<'_>, usize), CorruptChunk> {
    let mut r = Reader { buf, pos: 0 };
    match buf.first() {
        Some(&VERSION) => r.pos = 1,
        Some(_) => return Err(CorruptChunk("unknown version")),
        None => return Err(CorruptChunk("empty")),
    }
    let n = r.varint()? as usize;
    if n > 10_000_000 {
        return Err(CorruptChunk("implausible sample count"));
    }
    Ok((r, n))
}

/// Decode what a trend query needs, reusing `cols`' buffers.
pub fn decode_trend(buf: &[u8], cols: &mut TrendColumns) -> Result<usize, CorruptChunk> {
    let (mut r, n) = header(buf)?;
    r.column(n, &mut cols.received_ms)?;
    undelta(&mut cols.received_ms);
    undelta(&mut cols.received_ms);
    r.column(n, &mut cols.validity)?;
    r.column(n, &mut cols.mantissa)?;
    undelta(&mut cols.mantissa);
    r.column(n, &mut cols.exponent)?;
    Ok(n)
}

impl TrendColumns {
    pub fn new() -> Self {
        Self {
            received_ms: Vec::new(),
            validity: Vec::new(),
            mantissa: Vec::new(),
            exponent: Vec::new(),
        }
    }

    /// The value of sample `i` as an f64.
    #[inline]
    pub fn value(&self, i: usize) -> f64 {
        let e = self.exponent[i];
        let m = self.mantissa[i] as f64;
        match e {
            0 => m,
            -1 => m / 10.0,
            -2 => m / 100.0,
            -3 => m / 1000.0,
            _ => Decimal::new(self.mantissa[i], e as i8).to_f64(),
        }
    }
}

impl Default for TrendColumns {
    fn default() -> Self {
        Self::new()
    }
}

/// Decode every sample of a chunk.
pub fn decode(buf: &[u8]) -> Result<Vec<Sample>, CorruptChunk> {
    let mut t = TrendColumns::new();
    let n = decode_trend(buf, &mut t)?;
    let (mut r, _) = header(buf)?;
    // Skip the four trend columns by decoding them again into scratch (cheap, rare path).
    let mut scratch = Vec::new();
    for _ in 0..4 {
        r.column(n, &mut scratch)?;
    }
    let mut seq = Vec::new();
    r.column(n, &mut seq)?;
    undelta(&mut seq);
    let mut kind = Vec::new();
    r.column(n, &mut kind)?;
    let mut dev = Vec::new();
    r.column(n, &mut dev)?;
    undelta(&mut dev);
    undelta(&mut dev);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let received_at = chrono::DateTime::from_timestamp_millis(t.received_ms[i])
            .ok_or(CorruptChunk("receive time out of range"))?;
        let validity = u8::try_from(t.validity[i])
            .ok()
            .and_then(Validity::from_code)
            .ok_or(CorruptChunk("unknown validity"))?;
        let exponent = i8::try_from(t.exponent[i]).map_err(|_| CorruptChunk("exponent"))?;
        let device_time = match kind[i] {
            0 => DeviceTime::Unknown,
            1 => DeviceTime::Known(dev[i]),
            2 => DeviceTime::unpack_partial(dev[i]),
            _ => return Err(CorruptChunk("unknown device-time kind")),
        };
        out.push(Sample {
            seq: u64::try_from(seq[i]).map_err(|_| CorruptChunk("negative sequence"))?,
            received_at,
            device_time,
            value: Decimal::new(t.mantissa[i], exponent),
            validity,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn samples(n: usize) -> Vec<Sample> {
        let t0 = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        (0..n)
            .map(|i| Sample {
                seq: 1000 + i as u64,
                received_at: t0
                    + chrono::Duration::milliseconds(1000 * i as i64 + (i as i64 * 7919) % 41 - 20),
                device_time: match i % 50 {
                    0 => DeviceTime::Unknown,
                    1 => DeviceTime::Partial {
                        year: None,
                        month: Some(3),
                        day: None,
                        hour: 4,
                        minute: 5,
                        second: 6,
                    },
                    _ => DeviceTime::Known(1_799_999_000_000 + 1000 * i as i64),
                },
                value: Decimal::new(
                    470 + ((i as i64 * 31) % 9) - 4,
                    if i == 7 { -1 } else { -2 },
                ),
                validity: if i % 97 == 3 {
                    Validity::Artefact
                } else {
                    Validity::Valid
                },
            })
            .collect()
    }

    #[test]
    fn round_trips_every_field_exactly() {
        for n in [0, 1, 2, 3, 600, 1234] {
            let s = samples(n);
            let enc = encode(&s);
            assert_eq!(decode(&enc).unwrap(), s, "n = {n}");
        }
    }

    #[test]
    fn a_regular_stream_costs_about_two_bytes_a_sample() {
        let s = samples(600);
        let per = encode(&s).len() as f64 / 600.0;
        assert!(per < 2.6, "{per} bytes/sample");
    }

    #[test]
    fn corrupt_or_truncated_chunks_are_errors_not_panics() {
        let enc = encode(&samples(100));
        for cut in 0..enc.len() {
            let _ = decode(&enc[..cut]); // must not panic
        }
        assert!(decode(&enc[..enc.len() / 2]).is_err());
        assert!(decode(&[]).is_err());
        assert!(decode(&[9, 1, 0]).is_err());
        let mut bad = enc.clone();
        bad[1] = 0x7f; // claims fewer samples than the columns hold: still decodes n values
        let _ = decode(&bad);
        // Arbitrary bytes never panic.
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..2000 {
            let len = (x % 64) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = decode(&bytes);
        }
    }
}
