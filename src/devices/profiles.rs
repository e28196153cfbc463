//! Bluetooth SIG health profiles, byte by byte (devices.md section 1). Every decoder checks the
//! length the flags promise before reading, never panics, keeps device units as received and
//! maps status bits to measurement validity. The raw bytes travel with each reading so a fixed
//! decoder can re-run.

use super::ieee11073::{Bytes, DecodeError, MedFloat};
use crate::domain::{DeviceTime, Validity};

/// A decoded value with its unit as the device sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub name: &'static str,
    pub value: MedFloat,
    pub unit: &'static str,
}

/// One decoded characteristic value.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub values: Vec<Value>,
    pub device_time: DeviceTime,
    pub validity: Validity,
    /// Profile-specific extras (measurement site, user id, sequence number…).
    pub notes: Vec<(&'static str, String)>,
    pub raw: Vec<u8>,
}

fn reading(raw: &[u8]) -> Reading {
    Reading {
        values: Vec::new(),
        device_time: DeviceTime::Unknown,
        validity: Validity::Valid,
        notes: Vec::new(),
        raw: raw.to_vec(),
    }
}

fn value(name: &'static str, value: MedFloat, unit: &'static str) -> Value {
    Value { name, value, unit }
}

/// Health Thermometer Temperature Measurement 0x2A1C (also Intermediate Temperature 0x2A1E).
pub fn temperature_measurement(raw: &[u8]) -> Result<Reading, DecodeError> {
    const WHAT: &str = "Temperature Measurement 0x2A1C";
    let mut b = Bytes::new(WHAT, raw);
    let flags = b.u8()?;
    let len = 5 + if flags & 0x02 != 0 { 7 } else { 0 } + if flags & 0x04 != 0 { 1 } else { 0 };
    b.expect_len(len)?;
    let mut r = reading(raw);
    let unit = if flags & 0x01 != 0 { "[degF]" } else { "Cel" };
    r.values.push(value("temperature", b.float()?, unit));
    if flags & 0x02 != 0 {
        r.device_time = b.date_time()?;
    }
    if flags & 0x04 != 0 {
        let site = match b.u8()? {
            1 => "armpit",
            2 => "body",
            3 => "ear",
            4 => "finger",
            5 => "gastro-intestinal tract",
            6 => "mouth",
            7 => "rectum",
            8 => "toe",
            9 => "tympanum",
            _ => "reserved",
        };
        r.notes.push(("site", site.into()));
    }
    Ok(r)
}

/// Blood Pressure Measurement 0x2A35; with `cuff_only` the Intermediate Cuff Pressure 0x2A36.
pub fn blood_pressure(raw: &[u8], cuff_only: bool) -> Result<Reading, DecodeError> {
    let what = if cuff_only {
        "Intermediate Cuff Pressure 0x2A36"
    } else {
        "Blood Pressure Measurement 0x2A35"
    };
    let mut b = Bytes::new(what, raw);
    let flags = b.u8()?;
    let len = 7
        + if flags & 0x02 != 0 { 7 } else { 0 }
        + if flags & 0x04 != 0 { 2 } else { 0 }
        + if flags & 0x08 != 0 { 1 } else { 0 }
        + if flags & 0x10 != 0 { 2 } else { 0 };
    b.expect_len(len)?;
    let unit = if flags & 0x01 != 0 { "kPa" } else { "mm[Hg]" };
    let mut r = reading(raw);
    let (a, s, m) = (b.sfloat()?, b.sfloat()?, b.sfloat()?);
    if cuff_only {
        r.values.push(value("cuff pressure", a, unit));
    } else {
        r.values.push(value("systolic", a, unit));
        r.values.push(value("diastolic", s, unit));
        r.values.push(value("mean arterial pressure", m, unit));
    }
    if flags & 0x02 != 0 {
        r.device_time = b.date_time()?;
    }
    if flags & 0x04 != 0 {
        r.values.push(value("pulse rate", b.sfloat()?, "/min"));
    }
    if flags & 0x08 != 0 {
        let user = b.u8()?;
        r.notes.push((
            "user",
            if user == 255 {
                "unknown".into()
            } else {
                user.to_string()
            },
        ));
    }
    if flags & 0x10 != 0 {
        let status = b.u16()?;
        r.notes.push(("status", format!("0x{status:04X}")));
        // Body movement, cuff loose, improper position: the reading is questionable.
        if status & (0x0001 | 0x0002 | 0x0020) != 0 {
            r.validity = Validity::Questionable;
        }
        if status & 0x0004 != 0 {
            r.notes.push(("pulse", "irregular".into()));
        }
        // Bits 3–4: the pulse rate against the device's own range (Blood Pressure Service).
        match (status >> 3) & 0x03 {
            0 => {}
            1 => {
                r.notes
                    .push(("pulse rate range", "above the upper limit".into()));
                r.validity = Validity::Questionable;
            }
            2 => {
                r.notes
                    .push(("pulse rate range", "below the lower limit".into()));
                r.validity = Validity::Questionable;
            }
            _ => r.notes.push(("pulse rate range", "reserved value".into())),
        }
    }
    Ok(r)
}

/// PLX measurement status (bits 5–15) to validity. Demo and testing data are never patient data.
fn plx_validity(status: u16) -> Validity {
    let bit = |n: u16| status & (1 << n) != 0;
    if bit(10) || bit(11) {
        Validity::Demo
    } else if bit(15) || bit(13) {
        Validity::Invalid
    } else if bit(12) {
        Validity::Calibrating
    } else if bit(14) || bit(6) {
        Validity::Questionable
    } else {
        Validity::Valid
    }
}

/// PLX device and sensor status (bits 0–15) to validity.
fn plx_device_validity(status: u32) -> Validity {
    let bad = 0x0002 | 0x0800 | 0x1000 | 0x4000 | 0x8000; // malfunction, unconnected, unknown, malfunctioning, disconnected
    let doubtful = 0x0004 | 0x0008 | 0x0010 | 0x0020 | 0x0040 | 0x0080 | 0x0100 | 0x0400 | 0x2000;
    if status & bad != 0 {
        Validity::Invalid
    } else if status & doubtful != 0 {
        Validity::Questionable
    } else {
        Validity::Valid
    }
}

/// The worse of two validities.
fn worse(a: Validity, b: Validity) -> Validity {
    let rank = |v: Validity| match v {
        Validity::Valid => 0,
        Validity::Questionable => 1,
        Validity::Calibrating => 2,
        Validity::Artefact => 3,
        Validity::Invalid => 4,
        Validity::Demo => 5,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// PLX Spot-Check Measurement 0x2A5E.
pub fn plx_spot_check(raw: &[u8]) -> Result<Reading, DecodeError> {
    const WHAT: &str = "PLX Spot-Check 0x2A5E";
    let mut b = Bytes::new(WHAT, raw);
    let flags = b.u8()?;
    let len = 5
        + if flags & 0x01 != 0 { 7 } else { 0 }
        + if flags & 0x02 != 0 { 2 } else { 0 }
        + if flags & 0x04 != 0 { 3 } else { 0 }
        + if flags & 0x08 != 0 { 2 } else { 0 };
    b.expect_len(len)?;
    let mut r = reading(raw);
    r.values.push(value("SpO2", b.sfloat()?, "%"));
    r.values.push(value("pulse rate", b.sfloat()?, "/min"));
    if flags & 0x01 != 0 {
        r.device_time = b.date_time()?;
    }
    if flags & 0x02 != 0 {
        let s = b.u16()?;
        r.notes.push(("measurement status", format!("0x{s:04X}")));
        r.validity = worse(r.validity, plx_validity(s));
    }
    if flags & 0x04 != 0 {
        let s = b.u24()?;
        r.notes.push(("device status", format!("0x{s:06X}")));
        r.validity = worse(r.validity, plx_device_validity(s));
    }
    if flags & 0x08 != 0 {
        r.values.push(value("perfusion index", b.sfloat()?, "%"));
    }
    if flags & 0x10 != 0 {
        // The device's clock is not set: its time stamp means nothing; the value keeps its
        // receive time only.
        r.notes.push(("clock", "not set".into()));
        r.device_time = DeviceTime::Unknown;
    }
    Ok(r)
}

/// PLX Continuous Measurement 0x2A5F.
pub fn plx_continuous(raw: &[u8]) -> Result<Reading, DecodeError> {
    const WHAT: &str = "PLX Continuous 0x2A5F";
    let mut b = Bytes::new(WHAT, raw);
    let flags = b.u8()?;
    let len = 5
        + if flags & 0x01 != 0 { 4 } else { 0 }
        + if flags & 0x02 != 0 { 4 } else { 0 }
        + if flags & 0x04 != 0 { 2 } else { 0 }
        + if flags & 0x08 != 0 { 3 } else { 0 }
        + if flags & 0x10 != 0 { 2 } else { 0 };
    b.expect_len(len)?;
    let mut r = reading(raw);
    r.values.push(value("SpO2", b.sfloat()?, "%"));
    r.values.push(value("pulse rate", b.sfloat()?, "/min"));
    if flags & 0x01 != 0 {
        r.values.push(value("SpO2 fast", b.sfloat()?, "%"));
        r.values.push(value("pulse rate fast", b.sfloat()?, "/min"));
    }
    if flags & 0x02 != 0 {
        r.values.push(value("SpO2 slow", b.sfloat()?, "%"));
        r.values.push(value("pulse rate slow", b.sfloat()?, "/min"));
    }
    if flags & 0x04 != 0 {
        let s = b.u16()?;
        r.notes.push(("measurement status", format!("0x{s:04X}")));
        r.validity = worse(r.validity, plx_validity(s));
    }
    if flags & 0x08 != 0 {
        let s = b.u24()?;
        r.notes.push(("device status", format!("0x{s:06X}")));
        r.validity = worse(r.validity, plx_device_validity(s));
    }
    if flags & 0x10 != 0 {
        r.values.push(value("perfusion index", b.sfloat()?, "%"));
    }
    Ok(r)
}

/// PLX Features 0x2A60: (supported features, measurement-status support, device-status support).
pub fn plx_features(raw: &[u8]) -> Result<(u16, Option<u16>, Option<u32>), DecodeError> {
    let mut b = Bytes::new("PLX Features 0x2A60", raw);
    let f = b.u16()?;
    let len = 2 + if f & 0x01 != 0 { 2 } else { 0 } + if f & 0x02 != 0 { 3 } else { 0 };
    b.expect_len(len)?;
    let ms = if f & 0x01 != 0 { Some(b.u16()?) } else { None };
    let ds = if f & 0x02 != 0 { Some(b.u24()?) } else { None };
    Ok((f, ms, ds))
}

/// Glucose Measurement 0x2A18.
pub fn glucose_measurement(raw: &[u8]) -> Result<Reading, DecodeError> {
    const WHAT: &str = "Glucose Measurement 0x2A18";
    let mut b = Bytes::new(WHAT, raw);
    let flags = b.u8()?;
    let len = 10
        + if flags & 0x01 != 0 { 2 } else { 0 }
        + if flags & 0x02 != 0 { 3 } else { 0 }
        + if flags & 0x08 != 0 { 2 } else { 0 };
    b.expect_len(len)?;
    let mut r = reading(raw);
    let seq = b.u16()?;
    r.notes.push(("sequence", seq.to_string()));
    let base = b.date_time()?;
    // The measurement time is the base time plus the offset; both are kept in the notes.
    r.device_time = base;
    if flags & 0x01 != 0 {
        let off = b.i16()?;
        r.notes.push(("time offset min", off.to_string()));
        if let DeviceTime::Known(ms) = base {
            r.device_time = DeviceTime::Known(ms + i64::from(off) * 60_000);
        }
    }
    if flags & 0x02 != 0 {
        let unit = if flags & 0x04 != 0 { "mol/L" } else { "kg/L" };
        r.values.push(value("glucose", b.sfloat()?, unit));
        let tl = b.u8()?;
        r.notes.push(("type", (tl & 0x0F).to_string()));
        let loc = match tl >> 4 {
            1 => "finger",
            2 => "alternate site",
            3 => "earlobe",
            4 => "control solution",
            15 => "not available",
            _ => "reserved",
        };
        r.notes.push(("location", loc.into()));
        if tl >> 4 == 4 {
            r.validity = Validity::Demo; // control solution: a test, never a patient value
        }
    }
    if flags & 0x08 != 0 {
        let s = b.u16()?;
        r.notes.push(("sensor status", format!("0x{s:04X}")));
        if s != 0 {
            r.validity = worse(r.validity, Validity::Questionable);
        }
    }
    if flags & 0x10 != 0 {
        r.notes.push(("context", "follows".into()));
    }
    Ok(r)
}

/// Record Access Control Point 0x2A52 (Glucose profile): "report stored records — all".
/// Written after subscribing to Glucose Measurement and RACP so a meter that stored readings
/// while out of range hands them over; they arrive as ordinary measurement notifications.
pub const RACP_REPORT_ALL: [u8; 2] = [0x01, 0x01];

/// What a meter answers on the RACP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RacpResponse {
    /// Op code 0x05: how many records match.
    NumberOfRecords(u16),
    /// Op code 0x06: the request `request` finished with `code`.
    Done {
        request: u8,
        code: u8,
        meaning: &'static str,
    },
}

impl RacpResponse {
    pub fn is_success(&self) -> bool {
        // 0x06 "no records found" is a normal outcome for a meter with nothing stored.
        matches!(self, RacpResponse::NumberOfRecords(_))
            || matches!(self, RacpResponse::Done { code: 1 | 6, .. })
    }
}

pub fn racp_response(raw: &[u8]) -> Result<RacpResponse, DecodeError> {
    const WHAT: &str = "Record Access Control Point 0x2A52";
    let mut b = Bytes::new(WHAT, raw);
    let op = b.u8()?;
    let _operator = b.u8()?;
    match op {
        0x05 => {
            b.expect_len(4)?;
            Ok(RacpResponse::NumberOfRecords(b.u16()?))
        }
        0x06 => {
            b.expect_len(4)?;
            let request = b.u8()?;
            let code = b.u8()?;
            let meaning = match code {
                1 => "success",
                2 => "op code not supported",
                3 => "invalid operator",
                4 => "operator not supported",
                5 => "invalid operand",
                6 => "no records found",
                7 => "abort unsuccessful",
                8 => "procedure not completed",
                9 => "operand not supported",
                _ => "reserved response code",
            };
            Ok(RacpResponse::Done {
                request,
                code,
                meaning,
            })
        }
        other => Err(DecodeError::new(
            WHAT,
            format!("op code 0x{other:02X} is not a response"),
        )),
    }
}

/// Weight Measurement 0x2A9D.
pub fn weight_measurement(raw: &[u8]) -> Result<Reading, DecodeError> {
    const WHAT: &str = "Weight Measurement 0x2A9D";
    let mut b = Bytes::new(WHAT, raw);
    let flags = b.u8()?;
    let len = 3
        + if flags & 0x02 != 0 { 7 } else { 0 }
        + if flags & 0x04 != 0 { 1 } else { 0 }
        + if flags & 0x08 != 0 { 4 } else { 0 };
    b.expect_len(len)?;
    let imperial = flags & 0x01 != 0;
    let mut r = reading(raw);
    let w = i64::from(b.u16()?);
    // 0xFFFF is "Measurement Unsuccessful" (Weight Scale Service), never 327.675 kg. Otherwise
    // the resolution is 0.005 kg or 0.01 lb, kept exact as a decimal.
    let weight = if w == 0xFFFF {
        r.notes.push(("status", "measurement unsuccessful".into()));
        r.validity = Validity::Invalid;
        MedFloat::Special(super::ieee11073::Special::NaN)
    } else if imperial {
        MedFloat::Number(crate::domain::Decimal::new(w, -2))
    } else {
        MedFloat::Number(crate::domain::Decimal::new(w * 5, -3))
    };
    r.values.push(value(
        "weight",
        weight,
        if imperial { "[lb_av]" } else { "kg" },
    ));
    if flags & 0x02 != 0 {
        r.device_time = b.date_time()?;
    }
    if flags & 0x04 != 0 {
        r.notes.push(("user", b.u8()?.to_string()));
    }
    if flags & 0x08 != 0 {
        let bmi = i64::from(b.u16()?);
        let h = i64::from(b.u16()?);
        r.values.push(value(
            "BMI",
            MedFloat::Number(crate::domain::Decimal::new(bmi, -1)),
            "kg/m2",
        ));
        r.values.push(if imperial {
            value(
                "height",
                MedFloat::Number(crate::domain::Decimal::new(h, -1)),
                "[in_i]",
            )
        } else {
            value(
                "height",
                MedFloat::Number(crate::domain::Decimal::new(h, -3)),
                "m",
            )
        });
    }
    Ok(r)
}

/// Device Information strings: UTF-8 without terminator; trailing NULs trimmed.
pub fn dis_string(what: &'static str, raw: &[u8]) -> Result<String, DecodeError> {
    let end = raw
        .iter()
        .rposition(|b| *b != 0)
        .map(|i| i + 1)
        .unwrap_or(0);
    String::from_utf8(raw[..end].to_vec())
        .map(|s| s.trim().to_string())
        .map_err(|_| DecodeError::new(what, "not UTF-8 text"))
}

/// PnP ID 0x2A50: (vendor id source, vendor id, product id, product version).
pub fn pnp_id(raw: &[u8]) -> Result<(u8, u16, u16, u16), DecodeError> {
    let mut b = Bytes::new("PnP ID 0x2A50", raw);
    b.expect_len(7)?;
    Ok((b.u8()?, b.u16()?, b.u16()?, b.u16()?))
}

/// System ID 0x2A23: (manufacturer-defined id, 40 bits; organizationally unique id, 24 bits).
pub fn system_id(raw: &[u8]) -> Result<(u64, u32), DecodeError> {
    if raw.len() != 8 {
        return Err(DecodeError::new(
            "System ID 0x2A23",
            format!("{} bytes, expected 8", raw.len()),
        ));
    }
    let v = u64::from_le_bytes([
        raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
    ]);
    Ok((v & 0xFF_FFFF_FFFF, (v >> 40) as u32))
}

/// Battery Level 0x2A19: exactly one byte, 0–100 %.
pub fn battery_level(raw: &[u8]) -> Result<u8, DecodeError> {
    match raw {
        [v] if *v <= 100 => Ok(*v),
        [v] => Err(DecodeError::new(
            "Battery Level 0x2A19",
            format!("{v} % is above 100"),
        )),
        _ => Err(DecodeError::new(
            "Battery Level 0x2A19",
            format!("{} bytes, expected 1", raw.len()),
        )),
    }
}

/// Current Time 0x2A2B: the device clock (ms since the epoch when fully known) and the adjust
/// reason byte.
pub fn current_time(raw: &[u8]) -> Result<(DeviceTime, u8), DecodeError> {
    let mut b = Bytes::new("Current Time 0x2A2B", raw);
    b.expect_len(10)?;
    let t = b.date_time()?;
    let _day_of_week = b.u8()?;
    let fractions = b.u8()?;
    let reason = b.u8()?;
    let t = match t {
        DeviceTime::Known(ms) => DeviceTime::Known(ms + i64::from(fractions) * 1000 / 256),
        other => other,
    };
    Ok((t, reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Decimal;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|h| u8::from_str_radix(h, 16).unwrap())
            .collect()
    }

    fn num(v: &Value) -> f64 {
        v.value.number().unwrap().to_f64()
    }

    fn ms(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        chrono::NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, s)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    #[test]
    fn thermometer_vectors() {
        let r = temperature_measurement(&hex("06 B0 0E 00 FE DC 07 0C 05 0B 32 1B 04")).unwrap();
        assert_eq!(r.values[0].value, MedFloat::Number(Decimal::new(3760, -2)));
        assert_eq!(r.values[0].unit, "Cel");
        assert_eq!(
            r.device_time,
            DeviceTime::Known(ms(2012, 12, 5, 11, 50, 27))
        );
        assert_eq!(r.notes, vec![("site", "finger".to_string())]);
        let e = temperature_measurement(&hex("06 B0 0E 00 FE DC 07 0C 05 0B 32 1B")).unwrap_err();
        assert!(
            e.to_string().contains("12 bytes, but the flags promise 13"),
            "{e}"
        );
        assert_eq!(
            num(&temperature_measurement(&hex("00 C4 09 00 FE"))
                .unwrap()
                .values[0]),
            25.0
        );
        let f = temperature_measurement(&hex("01 DA 03 00 FF")).unwrap();
        assert_eq!((num(&f.values[0]), f.values[0].unit), (98.6, "[degF]"));
    }

    #[test]
    fn blood_pressure_vectors() {
        let r = blood_pressure(
            &hex("1E 8A 00 58 00 78 00 00 00 04 11 14 29 3B 3C 00 01 27 00"),
            false,
        )
        .unwrap();
        let v: Vec<f64> = r.values.iter().map(num).collect();
        assert_eq!(v, vec![138.0, 88.0, 120.0, 60.0]);
        assert_eq!(r.values[0].unit, "mm[Hg]");
        assert_eq!(
            r.device_time,
            DeviceTime::Partial {
                year: None,
                month: Some(4),
                day: Some(17),
                hour: 20,
                minute: 41,
                second: 59
            }
        );
        assert!(r.notes.contains(&("user", "1".to_string())));
        assert!(r.notes.contains(&("status", "0x0027".to_string())));
        assert_eq!(
            r.validity,
            Validity::Questionable,
            "body movement and cuff loose"
        );
        let m = blood_pressure(&hex("00 BD F0 0B 00 9F F0"), false).unwrap();
        assert_eq!(
            m.values.iter().map(num).collect::<Vec<_>>(),
            vec![18.9, 11.0, 15.9]
        );
        assert!(blood_pressure(&hex("01 02 03 04 05 06"), false).is_err());
        assert!(blood_pressure(&hex("03 02 03 04 05 06 07"), false).is_err());
        let icp = blood_pressure(&hex("15 6F F0 00 00 00 00 3C 00 12 00"), true).unwrap();
        assert_eq!(
            (icp.values[0].unit, num(&icp.values[0]), num(&icp.values[1])),
            ("kPa", 11.1, 60.0)
        );
        assert!(icp.notes.contains(&("status", "0x0012".to_string())));
    }

    #[test]
    fn blood_pressure_pulse_range_and_irregular_pulse_are_read_not_kept_raw() {
        // Flags 0x14: pulse rate and status; status 0x0008 = pulse above the upper limit.
        let hi = blood_pressure(&hex("14 78 00 50 00 64 00 48 00 08 00"), false).unwrap();
        assert!(hi
            .notes
            .contains(&("pulse rate range", "above the upper limit".to_string())));
        assert_eq!(hi.validity, Validity::Questionable);
        let lo = blood_pressure(&hex("14 78 00 50 00 64 00 48 00 14 00"), false).unwrap();
        assert!(lo
            .notes
            .contains(&("pulse rate range", "below the lower limit".to_string())));
        assert!(lo.notes.contains(&("pulse", "irregular".to_string())));
        let ok = blood_pressure(&hex("14 78 00 50 00 64 00 48 00 00 00"), false).unwrap();
        assert_eq!(ok.validity, Validity::Valid);
        assert!(!ok.notes.iter().any(|(k, _)| *k == "pulse rate range"));
    }

    #[test]
    fn a_pulse_oximeter_whose_clock_is_not_set_gives_no_device_time() {
        // Flags 0x11: time stamp present, device clock not set.
        let r = plx_spot_check(&hex("11 AC F3 BE F5 E8 07 0B 1D 17 08 39")).unwrap();
        assert_eq!(r.device_time, DeviceTime::Unknown);
        assert!(r.notes.contains(&("clock", "not set".to_string())));
    }

    #[test]
    fn pulse_oximeter_vectors_map_status_to_validity() {
        let r = plx_spot_check(&hex(
            "0F AC F3 BE F5 E8 07 0B 1D 17 08 39 20 40 22 00 00 66 E3",
        ))
        .unwrap();
        assert_eq!((num(&r.values[0]), num(&r.values[1])), (94.0, 147.0));
        assert_eq!(
            r.device_time,
            DeviceTime::Known(ms(2024, 11, 29, 23, 8, 57))
        );
        assert!(r
            .notes
            .contains(&("measurement status", "0x4020".to_string())));
        assert!(r.notes.contains(&("device status", "0x000022".to_string())));
        assert!((num(&r.values[2]) - 8.70).abs() < 1e-9);
        assert_eq!(r.validity, Validity::Invalid, "device malfunction");
        let c = plx_continuous(&hex("00 64 00 5A 00")).unwrap();
        assert_eq!((num(&c.values[0]), num(&c.values[1])), (100.0, 90.0));
        let c2 = plx_continuous(&hex("00 E8 F3 84 F3")).unwrap();
        assert_eq!((num(&c2.values[0]), num(&c2.values[1])), (100.0, 90.0));
        let c3 = plx_continuous(&hex("1C 5F 00 5A 00 20 00 00 00 00 57 F0")).unwrap();
        assert_eq!(
            (num(&c3.values[0]), num(&c3.values[1]), num(&c3.values[2])),
            (95.0, 90.0, 8.7)
        );
        assert_eq!(
            c3.validity,
            Validity::Valid,
            "status 0x0020 = measurement ongoing"
        );
        assert_eq!(
            plx_features(&hex("A3 00 40 10 80 01 00")).unwrap(),
            (0x00A3, Some(0x1040), Some(0x000180))
        );
        // Demo/testing bits make the reading demo data.
        let demo = plx_continuous(&hex("04 64 00 5A 00 00 04")).unwrap();
        assert_eq!(demo.validity, Validity::Demo);
    }

    #[test]
    fn glucose_weight_dis_battery_time_vectors() {
        let g = glucose_measurement(&hex("1B 01 00 E3 07 02 1B 0B 0A 1E FB FF 1E 00 12 05 01"))
            .unwrap();
        assert!(g.notes.contains(&("sequence", "1".to_string())));
        assert_eq!(
            g.device_time,
            DeviceTime::Known(ms(2019, 2, 27, 11, 5, 30)),
            "base − 5 min"
        );
        assert_eq!((num(&g.values[0]), g.values[0].unit), (30.0, "kg/L"));
        assert!(
            g.notes.contains(&("type", "2".to_string()))
                && g.notes.contains(&("location", "finger".to_string()))
        );
        assert!(g.notes.contains(&("sensor status", "0x0105".to_string())));
        assert!(glucose_measurement(&hex("1B 00 00 E2 07 04 1A 0B 09 1E 1E 00 12 05 01")).is_err());
        // 0xFFFF is "Measurement Unsuccessful", never 327.675 kg (or 655.35 lb).
        for raw in ["00 FF FF", "01 FF FF"] {
            let w = weight_measurement(&hex(raw)).unwrap();
            assert_eq!(w.values[0].value.number(), None, "{raw}");
            assert_eq!(w.validity, Validity::Invalid);
            assert!(w
                .notes
                .contains(&("status", "measurement unsuccessful".to_string())));
        }
        let w = weight_measurement(&hex("00 40 38")).unwrap();
        assert_eq!((num(&w.values[0]), w.values[0].unit), (72.0, "kg"));
        let lb = weight_measurement(&hex("01 40 38")).unwrap();
        assert_eq!((num(&lb.values[0]), lb.values[0].unit), (144.0, "[lb_av]"));
        assert_eq!(
            pnp_id(&hex("01 12 00 23 01 BC AA")).unwrap(),
            (1, 0x0012, 0x0123, 0xAABC)
        );
        assert_eq!(
            system_id(&hex("55 44 33 22 11 CC BB AA")).unwrap(),
            (0x11_2233_4455, 0xAABBCC)
        );
        assert_eq!(dis_string("Model 0x2A24", b"HLM-8\0\0").unwrap(), "HLM-8");
        assert!(dis_string("Model 0x2A24", &[0xFF, 0xFE]).is_err());
        assert_eq!(battery_level(&hex("64")).unwrap(), 100);
        assert_eq!(battery_level(&hex("0F")).unwrap(), 15);
        assert!(battery_level(&hex("65")).is_err());
        assert!(battery_level(&hex("64 00")).is_err());
        let (t, reason) = current_time(&hex("E7 07 01 02 14 16 07 01 FF 01")).unwrap();
        assert_eq!(t, DeviceTime::Known(ms(2023, 1, 2, 20, 22, 7) + 996));
        assert_eq!(reason, 1, "manual adjust");
    }

    #[test]
    fn no_decoder_panics_on_any_bytes() {
        let mut x: u64 = 0x0123_4567_89AB_CDEF;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| (x >> ((i % 8) * 8)) as u8 ^ i as u8)
                .collect();
            let _ = temperature_measurement(&bytes);
            let _ = blood_pressure(&bytes, false);
            let _ = blood_pressure(&bytes, true);
            let _ = plx_spot_check(&bytes);
            let _ = plx_continuous(&bytes);
            let _ = plx_features(&bytes);
            let _ = glucose_measurement(&bytes);
            let _ = weight_measurement(&bytes);
            let _ = pnp_id(&bytes);
            let _ = system_id(&bytes);
            let _ = battery_level(&bytes);
            let _ = current_time(&bytes);
            let _ = dis_string("x", &bytes);
        }
    }

    #[test]
    fn racp_responses() {
        assert_eq!(
            racp_response(&[0x05, 0x00, 0x03, 0x00]).unwrap(),
            RacpResponse::NumberOfRecords(3)
        );
        let done = racp_response(&[0x06, 0x00, 0x01, 0x01]).unwrap();
        assert!(done.is_success());
        let none = racp_response(&[0x06, 0x00, 0x01, 0x06]).unwrap();
        assert!(none.is_success(), "no records is a normal answer");
        let bad = racp_response(&[0x06, 0x00, 0x01, 0x05]).unwrap();
        assert!(!bad.is_success());
        assert!(matches!(
            bad,
            RacpResponse::Done {
                meaning: "invalid operand",
                ..
            }
        ));
        assert!(racp_response(&[0x01, 0x01]).is_err());
        assert!(racp_response(&[0x06, 0x00]).is_err());
    }
}
