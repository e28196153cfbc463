//! Device telemetry: channels (one parameter from one device on one case) and their samples.
//! A 30-day ECMO run at 1 Hz on 32 channels is ~83 million samples, so samples are not timeline
//! entries: the store keeps them in compact chunks (see `store::telemetry`).

use chrono::{DateTime, Utc};

use super::validation::ValidationError;
use super::{CaseId, ChannelId, Decimal, Parameter, Validity};

/// A stream of one parameter from one device on one case.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub id: ChannelId,
    pub case_id: CaseId,
    pub parameter: Parameter,
    /// The unit the device sends, as received.
    pub unit: String,
    /// The device identity (manufacturer/model/serial key from the devices module, or a
    /// simulator name), never a MAC address.
    pub source_device: String,
    /// Expected interval between samples, for staleness and gap detection.
    pub expected_interval_ms: u32,
}

/// A device's own timestamp, which may be missing or partly unknown (a BLE Date Time with year
/// 0 or month 0 means "not known").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceTime {
    Unknown,
    /// Milliseconds since the Unix epoch, by the device's clock.
    Known(i64),
    Partial {
        year: Option<u16>,
        month: Option<u8>,
        day: Option<u8>,
        hour: u8,
        minute: u8,
        second: u8,
    },
}

impl DeviceTime {
    /// Pack a partial time into one integer (BLE convention: 0 = unknown for y/m/d).
    pub fn pack_partial(self) -> Option<i64> {
        match self {
            DeviceTime::Partial {
                year,
                month,
                day,
                hour,
                minute,
                second,
            } => Some(
                (i64::from(year.unwrap_or(0)) << 40)
                    | (i64::from(month.unwrap_or(0)) << 32)
                    | (i64::from(day.unwrap_or(0)) << 24)
                    | (i64::from(hour) << 16)
                    | (i64::from(minute) << 8)
                    | i64::from(second),
            ),
            _ => None,
        }
    }

    pub fn unpack_partial(v: i64) -> Self {
        let opt = |x: i64| if x == 0 { None } else { Some(x) };
        DeviceTime::Partial {
            year: opt((v >> 40) & 0xffff).map(|x| x as u16),
            month: opt((v >> 32) & 0xff).map(|x| x as u8),
            day: opt((v >> 24) & 0xff).map(|x| x as u8),
            hour: ((v >> 16) & 0xff) as u8,
            minute: ((v >> 8) & 0xff) as u8,
            second: (v & 0xff) as u8,
        }
    }
}

/// One sample as received.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Receive sequence within the channel's stream: strictly increasing, so order survives a
    /// wall clock that jumps backwards.
    pub seq: u64,
    /// Receive time, UTC, stored to the millisecond.
    pub received_at: DateTime<Utc>,
    pub device_time: DeviceTime,
    pub value: Decimal,
    pub validity: Validity,
}

impl Channel {
    /// A value of this channel (in its unit as received: kPa, °F, ...) as an f64 in its
    /// parameter's internal units, for display and arithmetic.
    pub fn to_internal(&self, v: f64) -> Result<f64, ValidationError> {
        self.parameter
            .to_internal(&format!("channel.{}", self.parameter.code()), v, &self.unit)
    }
}

/// The last accepted sample of a stream, for ordering checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamHead {
    pub seq: Option<u64>,
    pub device_ms: Option<i64>,
}

impl StreamHead {
    /// Check `s` may follow this head in `channel`; on success, advance the head.
    pub fn accept(&mut self, channel: &Channel, s: &Sample) -> Result<(), ValidationError> {
        let stream = format!(
            "{} from {}",
            channel.parameter.code(),
            channel.source_device
        );
        if let Some(prev) = self.seq {
            if s.seq <= prev {
                return Err(ValidationError::TimeBackwards {
                    stream,
                    what: "receive sequence",
                    previous: prev.to_string(),
                    got: s.seq.to_string(),
                });
            }
        }
        if let (Some(prev), DeviceTime::Known(ms)) = (self.device_ms, s.device_time) {
            if ms < prev {
                return Err(ValidationError::TimeBackwards {
                    stream,
                    what: "device time",
                    previous: fmt_ms(prev),
                    got: fmt_ms(ms),
                });
            }
        }
        channel.parameter.check_plausible(
            &format!("sample.{}", channel.parameter.code()),
            s.value,
            &channel.unit,
        )?;
        self.seq = Some(s.seq);
        if let DeviceTime::Known(ms) = s.device_time {
            self.device_ms = Some(ms);
        }
        Ok(())
    }
}

fn fmt_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| ms.to_string())
}

/// One bucket of a downsampled trend, in the channel's unit as received.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Samples that counted (valid, questionable or demo; not in an artefact range).
    pub n: u64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn channel() -> Channel {
        Channel {
            id: ChannelId::new(),
            case_id: CaseId::new(),
            parameter: Parameter::PumpFlow,
            unit: "L/min".into(),
            source_device: "Pump 1".into(),
            expected_interval_ms: 1000,
        }
    }

    fn s(seq: u64, device: DeviceTime, v: &str) -> Sample {
        Sample {
            seq,
            received_at: Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
            device_time: device,
            value: v.parse().unwrap(),
            validity: Validity::Valid,
        }
    }

    #[test]
    fn streams_refuse_reordered_sequence_backwards_device_time_and_impossible_values() {
        let c = channel();
        let mut head = StreamHead::default();
        head.accept(&c, &s(1, DeviceTime::Known(10_000), "4.5"))
            .unwrap();
        head.accept(&c, &s(2, DeviceTime::Unknown, "4.6")).unwrap();
        let e = head
            .accept(&c, &s(2, DeviceTime::Unknown, "4.6"))
            .unwrap_err();
        assert!(
            e.to_string().contains("receive sequence went backwards"),
            "{e}"
        );
        let e = head
            .accept(&c, &s(3, DeviceTime::Known(9_000), "4.6"))
            .unwrap_err();
        assert!(e.to_string().contains("device time went backwards"), "{e}");
        let e = head
            .accept(&c, &s(3, DeviceTime::Known(11_000), "45"))
            .unwrap_err();
        assert_eq!(e.field(), Some("sample.pump-flow"));
        assert_eq!(head.seq, Some(2), "refused samples do not move the head");
        head.accept(&c, &s(3, DeviceTime::Known(11_000), "4.7"))
            .unwrap();
    }

    #[test]
    fn a_channel_in_an_unknown_unit_is_refused() {
        let mut c = channel();
        c.unit = "mL/s".into();
        let e = StreamHead::default()
            .accept(&c, &s(1, DeviceTime::Unknown, "70"))
            .unwrap_err();
        assert!(matches!(e, ValidationError::Unit { .. }), "{e}");
    }

    #[test]
    fn partial_device_times_pack_losslessly() {
        let t = DeviceTime::Partial {
            year: None,
            month: Some(11),
            day: Some(25),
            hour: 8,
            minute: 30,
            second: 59,
        };
        assert_eq!(DeviceTime::unpack_partial(t.pack_partial().unwrap()), t);
    }
}
