//! The Pumpside Perfusion Telemetry GATT profile (spec: docs/telemetry-profile.md): decoder and
//! encoder of the Telemetry Measurement characteristic. The encoder serves the simulators and
//! the round-trip tests; the decoder never panics.

use uuid::Uuid;

use super::ieee11073::{float, Bytes, DecodeError, MedFloat};
use crate::domain::{Decimal, DeviceTime, Parameter, Validity};

pub const SERVICE: Uuid = Uuid::from_u128(0x7A5E_0000_5053_4964_8E0D_7075_6D70_7369);
pub const MEASUREMENT: Uuid = Uuid::from_u128(0x7A5E_0001_5053_4964_8E0D_7075_6D70_7369);
pub const CHANNEL_MAP: Uuid = Uuid::from_u128(0x7A5E_0002_5053_4964_8E0D_7075_6D70_7369);

const WHAT: &str = "Pumpside Telemetry Measurement";

/// Parameter codes of the profile, with their fixed units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    PumpFlow,
    PumpSpeed,
    ArterialLinePressure,
    VenousLinePressure,
    PreOxygenatorPressure,
    PostOxygenatorPressure,
    CardioplegiaLinePressure,
    ArterialOutletTemp,
    VenousInflowTemp,
    NasopharyngealTemp,
    BladderTemp,
    RectalTemp,
    CardioplegiaTemp,
    SweepGas,
    Fio2,
    ReservoirLevel,
    BubbleDetector,
}

impl Code {
    pub const ALL: [Code; 17] = [
        Code::PumpFlow,
        Code::PumpSpeed,
        Code::ArterialLinePressure,
        Code::VenousLinePressure,
        Code::PreOxygenatorPressure,
        Code::PostOxygenatorPressure,
        Code::CardioplegiaLinePressure,
        Code::ArterialOutletTemp,
        Code::VenousInflowTemp,
        Code::NasopharyngealTemp,
        Code::BladderTemp,
        Code::RectalTemp,
        Code::CardioplegiaTemp,
        Code::SweepGas,
        Code::Fio2,
        Code::ReservoirLevel,
        Code::BubbleDetector,
    ];

    pub fn byte(self) -> u8 {
        match self {
            Code::PumpFlow => 0x01,
            Code::PumpSpeed => 0x02,
            Code::ArterialLinePressure => 0x03,
            Code::VenousLinePressure => 0x04,
            Code::PreOxygenatorPressure => 0x05,
            Code::PostOxygenatorPressure => 0x06,
            Code::CardioplegiaLinePressure => 0x07,
            Code::ArterialOutletTemp => 0x10,
            Code::VenousInflowTemp => 0x11,
            Code::NasopharyngealTemp => 0x12,
            Code::BladderTemp => 0x13,
            Code::RectalTemp => 0x14,
            Code::CardioplegiaTemp => 0x15,
            Code::SweepGas => 0x20,
            Code::Fio2 => 0x21,
            Code::ReservoirLevel => 0x30,
            Code::BubbleDetector => 0x31,
        }
    }

    pub fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.byte() == b)
    }

    /// UCUM unit of the value (states are unitless codes).
    pub fn unit(self) -> &'static str {
        match self {
            Code::PumpFlow | Code::SweepGas => "L/min",
            Code::PumpSpeed => "{rpm}",
            Code::ArterialLinePressure
            | Code::VenousLinePressure
            | Code::PreOxygenatorPressure
            | Code::PostOxygenatorPressure
            | Code::CardioplegiaLinePressure => "mm[Hg]",
            Code::ArterialOutletTemp
            | Code::VenousInflowTemp
            | Code::NasopharyngealTemp
            | Code::BladderTemp
            | Code::RectalTemp
            | Code::CardioplegiaTemp => "Cel",
            Code::Fio2 => "%",
            Code::ReservoirLevel | Code::BubbleDetector => "{state}",
        }
    }

    /// The field's name in the parameter catalogue's `devices` ("telemetry:<name>").
    pub fn name(self) -> &'static str {
        match self {
            Code::PumpFlow => "pump-flow",
            Code::PumpSpeed => "pump-speed",
            Code::ArterialLinePressure => "arterial-line-pressure",
            Code::VenousLinePressure => "venous-line-pressure",
            Code::PreOxygenatorPressure => "pre-oxygenator-pressure",
            Code::PostOxygenatorPressure => "post-oxygenator-pressure",
            Code::CardioplegiaLinePressure => "cardioplegia-line-pressure",
            Code::ArterialOutletTemp => "arterial-outlet-temp",
            Code::VenousInflowTemp => "venous-inflow-temp",
            Code::NasopharyngealTemp => "nasopharyngeal-temp",
            Code::BladderTemp => "bladder-temp",
            Code::RectalTemp => "rectal-temp",
            Code::CardioplegiaTemp => "cardioplegia-temp",
            Code::SweepGas => "sweep-gas",
            Code::Fio2 => "fio2",
            Code::ReservoirLevel => "reservoir-level",
            Code::BubbleDetector => "bubble-detector",
        }
    }

    /// The monitored parameter this code feeds, where the parameter catalogue maps one.
    pub fn parameter(self) -> Option<Parameter> {
        Parameter::for_device(&format!("telemetry:{}", self.name()))
    }
}

/// Status bits of one value.
pub mod status {
    pub const INVALID: u8 = 0x01;
    pub const QUESTIONABLE: u8 = 0x02;
    pub const CALIBRATING: u8 = 0x04;
    pub const SIMULATED: u8 = 0x08;
    pub const SOURCE_ALARM: u8 = 0x10;
}

fn validity(s: u8) -> Validity {
    if s & status::SIMULATED != 0 {
        Validity::Demo
    } else if s & status::INVALID != 0 {
        Validity::Invalid
    } else if s & status::CALIBRATING != 0 {
        Validity::Calibrating
    } else if s & status::QUESTIONABLE != 0 {
        Validity::Questionable
    } else {
        Validity::Valid
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryValue {
    /// `Err(byte)` for a code this build does not know (kept, not dropped).
    pub code: Result<Code, u8>,
    pub status: u8,
    pub validity: Validity,
    pub value: MedFloat,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryRecord {
    pub sequence: u16,
    pub device_time: DeviceTime,
    pub values: Vec<TelemetryValue>,
    pub raw: Vec<u8>,
}

/// Decode one Telemetry Measurement notification.
pub fn decode(raw: &[u8]) -> Result<TelemetryRecord, DecodeError> {
    let mut b = Bytes::new(WHAT, raw);
    let flags = b.u8()?;
    let sequence = b.u16()?;
    let device_time = if flags & 0x01 != 0 {
        let t = b.date_time()?;
        let ms = b.u16()?;
        if ms > 999 {
            return Err(DecodeError::new(
                WHAT,
                format!("milliseconds {ms} above 999"),
            ));
        }
        match t {
            DeviceTime::Known(base) => DeviceTime::Known(base + i64::from(ms)),
            other => other,
        }
    } else {
        DeviceTime::Unknown
    };
    let n = usize::from(b.u8()?);
    if b.remaining() != n * 6 {
        return Err(DecodeError::new(
            WHAT,
            format!("{n} values need {} bytes, {} present", n * 6, b.remaining()),
        ));
    }
    let mut values = Vec::with_capacity(n);
    for _ in 0..n {
        let code = b.u8()?;
        let status = b.u8()?;
        let value = float(b.u32()?);
        values.push(TelemetryValue {
            code: Code::from_byte(code).ok_or(code),
            status,
            validity: validity(status),
            value,
        });
    }
    Ok(TelemetryRecord {
        sequence,
        device_time,
        values,
        raw: raw.to_vec(),
    })
}

/// Encode a FLOAT from a decimal (mantissa must fit 24 bits signed).
pub fn float_bytes(d: Decimal) -> Option<[u8; 4]> {
    if !(-0x7F_FFFD..=0x7F_FFFD).contains(&d.mantissa) {
        return None;
    }
    let m = (d.mantissa as i32 as u32) & 0x00FF_FFFF;
    Some((m | (u32::from(d.exponent as u8) << 24)).to_le_bytes())
}

/// Encode a record (device time as full Date Time + ms when known).
pub fn encode(
    sequence: u16,
    device_ms: Option<i64>,
    values: &[(Code, u8, Decimal)],
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(12 + values.len() * 6);
    out.push(if device_ms.is_some() { 0x01 } else { 0x00 });
    out.extend_from_slice(&sequence.to_le_bytes());
    if let Some(ms) = device_ms {
        let t = chrono::DateTime::from_timestamp_millis(ms)?.naive_utc();
        use chrono::{Datelike, Timelike};
        out.extend_from_slice(&(t.year() as u16).to_le_bytes());
        out.extend_from_slice(&[
            t.month() as u8,
            t.day() as u8,
            t.hour() as u8,
            t.minute() as u8,
            t.second() as u8,
        ]);
        out.extend_from_slice(&((ms.rem_euclid(1000)) as u16).to_le_bytes());
    }
    out.push(u8::try_from(values.len()).ok()?);
    for (code, status, v) in values {
        out.push(code.byte());
        out.push(*status);
        out.extend_from_slice(&float_bytes(*v)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|h| u8::from_str_radix(h, 16).unwrap())
            .collect()
    }

    /// Vector 1 of docs/telemetry-profile.md: no device time, flow 4.50 L/min, arterial line
    /// 185 mmHg.
    const V1: &str = "00 2A 00 02 01 00 C2 01 00 FE 03 00 B9 00 00 00";
    /// Vector 2: device time 2026-11-25 08:30:15.250, arterial outlet 36.5 °C questionable,
    /// bubble detector state 0, sweep 2.5 L/min simulated.
    const V2: &str = "01 FF FF EA 07 0B 19 08 1E 0F FA 00 03 10 02 6D 01 00 FF 31 00 00 00 00 00 20 08 19 00 00 FF";

    #[test]
    fn the_spec_vectors_decode() {
        let r = decode(&hex(V1)).unwrap();
        assert_eq!(r.sequence, 42);
        assert_eq!(r.device_time, DeviceTime::Unknown);
        assert_eq!(r.values[0].code, Ok(Code::PumpFlow));
        assert_eq!(r.values[0].value.number().unwrap().to_string(), "4.50");
        assert_eq!(r.values[1].value.number().unwrap().to_string(), "185");
        assert_eq!(r.values[1].validity, Validity::Valid);

        let r = decode(&hex(V2)).unwrap();
        assert_eq!(r.sequence, 0xFFFF);
        let want = chrono::NaiveDate::from_ymd_opt(2026, 11, 25)
            .unwrap()
            .and_hms_milli_opt(8, 30, 15, 250)
            .unwrap();
        assert_eq!(
            r.device_time,
            DeviceTime::Known(want.and_utc().timestamp_millis())
        );
        assert_eq!(
            (r.values[0].code, r.values[0].validity),
            (Ok(Code::ArterialOutletTemp), Validity::Questionable)
        );
        assert_eq!(r.values[0].value.number().unwrap().to_string(), "36.5");
        assert_eq!(r.values[1].code, Ok(Code::BubbleDetector));
        assert_eq!(
            (r.values[2].code, r.values[2].validity),
            (Ok(Code::SweepGas), Validity::Demo)
        );
        assert_eq!(r.values[2].value.number().unwrap().to_string(), "2.5");
    }

    #[test]
    fn encoding_round_trips_and_matches_the_vectors() {
        let v1 = encode(
            42,
            None,
            &[
                (Code::PumpFlow, 0, Decimal::new(450, -2)),
                (Code::ArterialLinePressure, 0, Decimal::new(185, 0)),
            ],
        )
        .unwrap();
        assert_eq!(v1, hex(V1));
        let ms = chrono::NaiveDate::from_ymd_opt(2026, 11, 25)
            .unwrap()
            .and_hms_milli_opt(8, 30, 15, 250)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        let v2 = encode(
            0xFFFF,
            Some(ms),
            &[
                (
                    Code::ArterialOutletTemp,
                    status::QUESTIONABLE,
                    Decimal::new(365, -1),
                ),
                (Code::BubbleDetector, 0, Decimal::new(0, 0)),
                (Code::SweepGas, status::SIMULATED, Decimal::new(25, -1)),
            ],
        )
        .unwrap();
        assert_eq!(v2, hex(V2));
        for code in Code::ALL {
            for m in [-8_388_605i64, -1, 0, 1, 12345, 8_388_605] {
                let bytes = encode(7, None, &[(code, 0, Decimal::new(m, -3))]).unwrap();
                let back = decode(&bytes).unwrap();
                assert_eq!(back.values[0].value, MedFloat::Number(Decimal::new(m, -3)));
                assert_eq!(back.values[0].code, Ok(code));
            }
        }
        assert!(
            float_bytes(Decimal::new(9_000_000, 0)).is_none(),
            "does not fit 24 bits"
        );
    }

    #[test]
    fn unknown_codes_are_kept_and_bad_lengths_refused_without_panic() {
        let mut b = hex(V1);
        b[4] = 0x7E; // an unknown parameter code
        assert_eq!(decode(&b).unwrap().values[0].code, Err(0x7E));
        let e = decode(&hex(V1)[..15]).unwrap_err();
        assert!(
            e.to_string().contains("2 values need 12 bytes, 11 present"),
            "{e}"
        );
        let mut x: u64 = 99;
        for _ in 0..50_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            let len = (x >> 60) as usize + (x as usize % 20);
            let bytes: Vec<u8> = (0..len).map(|i| (x >> (i % 8 * 8)) as u8).collect();
            let _ = decode(&bytes);
        }
    }
}
