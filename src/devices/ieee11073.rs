//! IEEE 11073-20601 SFLOAT/FLOAT and the Bluetooth Date Time, decoded without loss: a number
//! keeps its mantissa and exponent (the exponent is the precision), special values stay
//! distinct "no value, because …" states, unknown date parts stay unknown. Never panics.

use crate::domain::{Decimal, DeviceTime};

/// A reserved or special value: there is no number, and this says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Special {
    NaN,
    /// Not at this resolution.
    NRes,
    PositiveInfinity,
    NegativeInfinity,
    Reserved,
}

impl Special {
    /// What the device meant, in words for the Devices screen.
    pub fn describe(self) -> &'static str {
        match self {
            Special::NaN => "no value (NaN: the device has none now)",
            Special::NRes => "not at this resolution (NRes)",
            Special::PositiveInfinity => "above the measuring range (+INF)",
            Special::NegativeInfinity => "below the measuring range (-INF)",
            Special::Reserved => "reserved value (not a measurement)",
        }
    }
}

/// A decoded medical float.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MedFloat {
    Number(Decimal),
    Special(Special),
}

impl MedFloat {
    pub fn number(self) -> Option<Decimal> {
        match self {
            MedFloat::Number(d) => Some(d),
            MedFloat::Special(_) => None,
        }
    }
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {problem}")]
pub struct DecodeError {
    pub what: &'static str,
    pub problem: String,
}

impl DecodeError {
    pub fn new(what: &'static str, problem: impl Into<String>) -> Self {
        Self {
            what,
            problem: problem.into(),
        }
    }
}

/// SFLOAT (16 bits, little-endian): 4-bit exponent, 12-bit mantissa, both two's complement.
pub fn sfloat(raw: u16) -> MedFloat {
    match raw {
        0x07FF => return MedFloat::Special(Special::NaN),
        0x0800 => return MedFloat::Special(Special::NRes),
        0x07FE => return MedFloat::Special(Special::PositiveInfinity),
        0x0802 => return MedFloat::Special(Special::NegativeInfinity),
        0x0801 => return MedFloat::Special(Special::Reserved),
        _ => {}
    }
    let mut mantissa = i64::from(raw & 0x0FFF);
    if mantissa >= 0x0800 {
        mantissa -= 0x1000;
    }
    let mut exponent = i16::from((raw >> 12) as u8);
    if exponent >= 8 {
        exponent -= 16;
    }
    MedFloat::Number(Decimal::new(mantissa, exponent as i8))
}

/// Encode an SFLOAT (for the simulators and round-trip tests): `None` when the mantissa does not
/// fit 12 bits (outside the reserved special values) or the exponent 4 bits.
pub fn sfloat_bits(d: Decimal) -> Option<u16> {
    // ±2046, -2047 and -2048 are the special values (+INF 0x7FE, -INF 0x802, reserved 0x801,
    // NRes 0x800); 2047 is NaN.
    if !(-2045..=2045).contains(&d.mantissa) || !(-8..=7).contains(&d.exponent) {
        return None;
    }
    let m = (d.mantissa as i16 as u16) & 0x0FFF;
    Some(m | (((d.exponent as u8) & 0x0F) as u16) << 12)
}

/// FLOAT (32 bits, little-endian): 8-bit exponent, 24-bit mantissa, both two's complement.
pub fn float(raw: u32) -> MedFloat {
    // The special values are whole words with exponent 0 (IEEE 11073-20601 §F.8); the same
    // mantissa under another exponent is an ordinary number.
    let m = raw & 0x00FF_FFFF;
    match raw {
        0x007F_FFFF => return MedFloat::Special(Special::NaN),
        0x0080_0000 => return MedFloat::Special(Special::NRes),
        0x007F_FFFE => return MedFloat::Special(Special::PositiveInfinity),
        0x0080_0002 => return MedFloat::Special(Special::NegativeInfinity),
        0x0080_0001 => return MedFloat::Special(Special::Reserved),
        _ => {}
    }
    let mut mantissa = i64::from(m);
    if mantissa >= 0x0080_0000 {
        mantissa -= 0x0100_0000;
    }
    let exponent = (raw >> 24) as u8 as i8;
    MedFloat::Number(Decimal::new(mantissa, exponent))
}

/// A little-endian reader that checks every length before reading.
pub struct Bytes<'a> {
    what: &'static str,
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Bytes<'a> {
    pub fn new(what: &'static str, buf: &'a [u8]) -> Self {
        Self { what, buf, pos: 0 }
    }

    /// Fail unless exactly `n` bytes are present in total (flags decide `n`).
    pub fn expect_len(&self, n: usize) -> Result<(), DecodeError> {
        if self.buf.len() < n {
            Err(DecodeError::new(
                self.what,
                format!("{} bytes, but the flags promise {n}", self.buf.len()),
            ))
        } else {
            Ok(())
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos + n;
        let s = self.buf.get(self.pos..end).ok_or_else(|| {
            DecodeError::new(
                self.what,
                format!("needs {end} bytes, got {}", self.buf.len()),
            )
        })?;
        self.pos = end;
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(self.u16()? as i16)
    }

    pub fn u24(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(3)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], 0]))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn sfloat(&mut self) -> Result<MedFloat, DecodeError> {
        Ok(sfloat(self.u16()?))
    }

    pub fn float(&mut self) -> Result<MedFloat, DecodeError> {
        Ok(float(self.u32()?))
    }

    pub fn date_time(&mut self) -> Result<DeviceTime, DecodeError> {
        date_time(self.what, self.take(7)?)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let r = &self.buf[self.pos.min(self.buf.len())..];
        self.pos = self.buf.len();
        r
    }

    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }
}

/// Date Time (7 bytes: year u16, month, day, hours, minutes, seconds). Year, month or day 0 mean
/// unknown; a fully known time becomes [`DeviceTime::Known`] (ms since the epoch, device clock).
pub fn date_time(what: &'static str, b: &[u8]) -> Result<DeviceTime, DecodeError> {
    if b.len() != 7 {
        return Err(DecodeError::new(what, "a Date Time is 7 bytes"));
    }
    let year = u16::from_le_bytes([b[0], b[1]]);
    let (month, day, h, m, s) = (b[2], b[3], b[4], b[5], b[6]);
    if month > 12
        || day > 31
        || h > 23
        || m > 59
        || s > 59
        || (year != 0 && !(1582..=9999).contains(&year))
    {
        return Err(DecodeError::new(
            what,
            format!("impossible date/time {year}-{month}-{day} {h}:{m}:{s}"),
        ));
    }
    if year != 0 && month != 0 && day != 0 {
        let known =
            chrono::NaiveDate::from_ymd_opt(i32::from(year), u32::from(month), u32::from(day))
                .and_then(|d| d.and_hms_opt(u32::from(h), u32::from(m), u32::from(s)))
                .ok_or_else(|| {
                    DecodeError::new(what, format!("no such date {year}-{month}-{day}"))
                })?;
        return Ok(DeviceTime::Known(known.and_utc().timestamp_millis()));
    }
    Ok(DeviceTime::Partial {
        year: (year != 0).then_some(year),
        month: (month != 0).then_some(month),
        day: (day != 0).then_some(day),
        hour: h,
        minute: m,
        second: s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sf(b: [u8; 2]) -> MedFloat {
        sfloat(u16::from_le_bytes(b))
    }

    fn fl(b: [u8; 4]) -> MedFloat {
        float(u32::from_le_bytes(b))
    }

    #[test]
    fn sfloat_and_float_vectors_keep_their_precision() {
        assert_eq!(sf([0x14, 0xF0]), MedFloat::Number(Decimal::new(20, -1)));
        assert_eq!(sf([0x14, 0xF0]).number().unwrap().to_string(), "2.0");
        assert_eq!(sf([0xC8, 0xE0]).number().unwrap().to_string(), "2.00");
        assert_eq!(sf([0x02, 0x10]).number().unwrap().to_f64(), 20.0);
        assert_eq!(sf([0x2E, 0x0B]).number().unwrap().to_f64(), -1234.0);
        assert_eq!(
            fl([0x14, 0x00, 0x00, 0xFF]).number().unwrap().to_string(),
            "2.0"
        );
        assert_eq!(
            fl([0x2E, 0xFB, 0xFF, 0x00]).number().unwrap().to_f64(),
            -1234.0
        );
        assert_eq!(
            fl([0xFE, 0xFF, 0x7F, 0x00]),
            MedFloat::Special(Special::PositiveInfinity)
        );
        // Two public decoders get these wrong (devices.md 1.1).
        assert_eq!(
            fl([0xFF, 0xFF, 0xFF, 0x7F]),
            MedFloat::Number(Decimal::new(-1, 127))
        );
        assert_eq!(sf([0x62, 0x00]).number().unwrap().to_f64(), 98.0);
        assert_eq!(sf([0x62, 0x80]), MedFloat::Number(Decimal::new(98, -8)));
    }

    #[test]
    fn special_values_are_distinct_states() {
        assert_eq!(sfloat(0x07FF), MedFloat::Special(Special::NaN));
        assert_eq!(sfloat(0x0800), MedFloat::Special(Special::NRes));
        assert_eq!(sfloat(0x07FE), MedFloat::Special(Special::PositiveInfinity));
        assert_eq!(sfloat(0x0802), MedFloat::Special(Special::NegativeInfinity));
        assert_eq!(sfloat(0x0801), MedFloat::Special(Special::Reserved));
        assert_eq!(float(0x007F_FFFF), MedFloat::Special(Special::NaN));
        // Matched on the whole word: the NaN mantissa under exponent -1 is a number.
        assert_eq!(
            float(0xFF7F_FFFF),
            MedFloat::Number(Decimal::new(0x7F_FFFF, -1))
        );
        assert_eq!(
            float(0x0180_0000),
            MedFloat::Number(Decimal::new(-0x80_0000, 1))
        );
        assert_eq!(float(0x0080_0000), MedFloat::Special(Special::NRes));
        assert_eq!(
            float(0x0080_0002),
            MedFloat::Special(Special::NegativeInfinity)
        );
        assert_eq!(float(0x0080_0001), MedFloat::Special(Special::Reserved));
    }

    #[test]
    fn every_sfloat_decodes_to_a_finite_number_or_a_special() {
        for raw in 0..=u16::MAX {
            if let MedFloat::Number(d) = sfloat(raw) {
                assert!(d.to_f64().is_finite());
                assert!((-2048..=2047).contains(&d.mantissa) && (-8..=7).contains(&d.exponent));
            }
        }
    }

    #[test]
    fn date_times_with_unknown_parts_stay_unknown() {
        let t = date_time("t", &[0xE2, 0x07, 0x04, 0x11, 0x0F, 0x33, 0x00]).unwrap();
        let want = chrono::NaiveDate::from_ymd_opt(2018, 4, 17)
            .unwrap()
            .and_hms_opt(15, 51, 0)
            .unwrap();
        assert_eq!(t, DeviceTime::Known(want.and_utc().timestamp_millis()));
        let p = date_time("t", &[0x00, 0x00, 0x00, 0x00, 0x12, 0x1A, 0x20]).unwrap();
        assert_eq!(
            p,
            DeviceTime::Partial {
                year: None,
                month: None,
                day: None,
                hour: 18,
                minute: 26,
                second: 32
            }
        );
        assert!(
            date_time("t", &[0xE2, 0x07, 0x0D, 0x01, 0, 0, 0]).is_err(),
            "month 13"
        );
        assert!(
            date_time("t", &[0xE2, 0x07, 0x02, 0x1E, 0, 0, 0]).is_err(),
            "30 February"
        );
        assert!(date_time("t", &[0xE2, 0x07]).is_err());
    }
}
