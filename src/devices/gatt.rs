//! GATT identifiers the app knows, and the per-connection decoder that turns a notification of
//! any of them into values. Pure: no btleplug here, so the session code and the tests share it.

use std::sync::Arc;

use uuid::Uuid;

use super::cdi::{AsciiTable, CdiOutput, CdiParameter, CdiStream};
use super::ieee11073::{DecodeError, MedFloat};
use super::{profiles, telemetry_profile};
use crate::domain::{DeviceTime, Parameter, Validity};

/// A 16-bit Bluetooth SIG number on the Bluetooth Base UUID.
pub const fn sig(short: u16) -> Uuid {
    Uuid::from_u128(((short as u128) << 96) | 0x0000_1000_8000_0080_5F9B_34FB)
}

pub mod service {
    use super::{sig, Uuid};
    pub const HEALTH_THERMOMETER: Uuid = sig(0x1809);
    pub const BLOOD_PRESSURE: Uuid = sig(0x1810);
    pub const PULSE_OXIMETER: Uuid = sig(0x1822);
    pub const GLUCOSE: Uuid = sig(0x1808);
    pub const WEIGHT_SCALE: Uuid = sig(0x181D);
    pub const DEVICE_INFORMATION: Uuid = sig(0x180A);
    pub const BATTERY: Uuid = sig(0x180F);
    pub const CURRENT_TIME: Uuid = sig(0x1805);
    /// Nordic UART Service, the de-facto serial-over-BLE bridge.
    pub const NORDIC_UART: Uuid = Uuid::from_u128(0x6E40_0001_B5A3_F393_E0A9_E50E_24DC_CA9E);
    pub const TELEMETRY: Uuid = super::telemetry_profile::SERVICE;

    /// The services a scan looks for: any of these makes a device worth listing.
    pub const SCAN_FILTER: [Uuid; 7] = [
        HEALTH_THERMOMETER,
        BLOOD_PRESSURE,
        PULSE_OXIMETER,
        GLUCOSE,
        WEIGHT_SCALE,
        NORDIC_UART,
        TELEMETRY,
    ];
}

pub mod characteristic {
    use super::{sig, Uuid};
    pub const TEMPERATURE_MEASUREMENT: Uuid = sig(0x2A1C);
    pub const INTERMEDIATE_TEMPERATURE: Uuid = sig(0x2A1E);
    pub const BLOOD_PRESSURE_MEASUREMENT: Uuid = sig(0x2A35);
    pub const INTERMEDIATE_CUFF_PRESSURE: Uuid = sig(0x2A36);
    pub const PLX_SPOT_CHECK: Uuid = sig(0x2A5E);
    pub const PLX_CONTINUOUS: Uuid = sig(0x2A5F);
    pub const GLUCOSE_MEASUREMENT: Uuid = sig(0x2A18);
    pub const RACP: Uuid = sig(0x2A52);
    pub const WEIGHT_MEASUREMENT: Uuid = sig(0x2A9D);
    pub const MANUFACTURER_NAME: Uuid = sig(0x2A29);
    pub const MODEL_NUMBER: Uuid = sig(0x2A24);
    pub const SERIAL_NUMBER: Uuid = sig(0x2A25);
    pub const FIRMWARE_REVISION: Uuid = sig(0x2A26);
    pub const SYSTEM_ID: Uuid = sig(0x2A23);
    pub const UDI: Uuid = sig(0x2BFF);
    pub const BATTERY_LEVEL: Uuid = sig(0x2A19);
    pub const CURRENT_TIME: Uuid = sig(0x2A2B);
    /// Nordic UART TX: the bridge notifies the serial bytes it receives.
    pub const UART_TX: Uuid = Uuid::from_u128(0x6E40_0003_B5A3_F393_E0A9_E50E_24DC_CA9E);
    pub const TELEMETRY_MEASUREMENT: Uuid = super::telemetry_profile::MEASUREMENT;

    /// Characteristics whose notifications (or indications) carry measurements.
    pub const MEASUREMENTS: [Uuid; 10] = [
        TEMPERATURE_MEASUREMENT,
        INTERMEDIATE_TEMPERATURE,
        BLOOD_PRESSURE_MEASUREMENT,
        INTERMEDIATE_CUFF_PRESSURE,
        PLX_SPOT_CHECK,
        PLX_CONTINUOUS,
        GLUCOSE_MEASUREMENT,
        WEIGHT_MEASUREMENT,
        UART_TX,
        TELEMETRY_MEASUREMENT,
    ];
}

/// One decoded value with the unit the device sent it in.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// What it is, as the profile names it ("temperature", "SpO2", "PumpFlow", "VenousSo2").
    pub name: String,
    /// The live parameter it feeds unless the user maps it elsewhere on the Devices screen.
    pub suggested: Option<Parameter>,
    pub value: MedFloat,
    pub unit: &'static str,
    pub validity: Validity,
    pub device_time: DeviceTime,
    /// The bytes the value was decoded from when they span several notifications (a serial
    /// frame reassembled by the bridge); otherwise the notification's own bytes are the source.
    pub record_bytes: Option<Arc<[u8]>>,
}

/// What one notification produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frame {
    pub values: Vec<Decoded>,
    /// The bytes identify one measurement (they carry a sequence number or a time stamp), so
    /// receiving the same bytes again is a duplicate, not a repeated reading.
    pub unique: bool,
    /// Problems that did not stop decoding (a CDI CRC mismatch, discarded serial bytes).
    pub problems: Vec<String>,
}

/// Per-connection decoding state: the serial bridge reassembles a byte stream across
/// notifications, everything else decodes notification by notification.
#[derive(Debug, Default)]
pub struct Decoder {
    cdi: CdiStream,
    ascii: AsciiTable,
}

/// The parameter a Bluetooth SIG field feeds, from the parameter catalogue ("sig:<field>").
/// A thermometer is the patient's unless mapped to a circuit site on the Devices screen.
fn suggested_sig(name: &str) -> Option<Parameter> {
    Parameter::for_device(&format!("sig:{name}"))
}

/// The parameter a CDI field feeds, from the parameter catalogue ("cdi:<field>").
fn suggested_cdi(p: CdiParameter) -> Option<Parameter> {
    Parameter::for_device(&format!("cdi:{}", p.name()))
}

/// A CDI value; dashes (out of the monitor's measuring range) are "not at this resolution".
fn cdi_value(v: Option<crate::domain::Decimal>) -> MedFloat {
    v.map_or(
        MedFloat::Special(super::ieee11073::Special::NRes),
        MedFloat::Number,
    )
}

impl Decoder {
    pub fn decode(&mut self, char_uuid: Uuid, raw: &[u8]) -> Result<Frame, DecodeError> {
        use self::characteristic as c;
        let sig_reading = |r: profiles::Reading| Frame {
            unique: r.device_time != DeviceTime::Unknown
                || r.notes.iter().any(|(k, _)| *k == "sequence"),
            values: r
                .values
                .into_iter()
                .map(|v| {
                    // The device's own site field wins over the default mapping: a
                    // thermometer that says where it measures (armpit, ear, ...) is not the
                    // nasopharyngeal probe; it is shown under its site and recorded only when
                    // a person maps it on the Devices screen.
                    let site = r.notes.iter().find(|(k, _)| *k == "site").map(|(_, s)| s);
                    let (name, suggested) = match site {
                        Some(site) if v.name == "temperature" => {
                            (format!("temperature at {site}"), None)
                        }
                        _ => (v.name.to_string(), suggested_sig(v.name)),
                    };
                    Decoded {
                        name,
                        suggested,
                        value: v.value,
                        unit: v.unit,
                        validity: r.validity,
                        device_time: r.device_time,
                        record_bytes: None,
                    }
                })
                .collect(),
            problems: Vec::new(),
        };
        Ok(match char_uuid {
            x if x == c::TEMPERATURE_MEASUREMENT || x == c::INTERMEDIATE_TEMPERATURE => {
                sig_reading(profiles::temperature_measurement(raw)?)
            }
            x if x == c::BLOOD_PRESSURE_MEASUREMENT => {
                sig_reading(profiles::blood_pressure(raw, false)?)
            }
            x if x == c::INTERMEDIATE_CUFF_PRESSURE => {
                sig_reading(profiles::blood_pressure(raw, true)?)
            }
            x if x == c::PLX_SPOT_CHECK => sig_reading(profiles::plx_spot_check(raw)?),
            x if x == c::PLX_CONTINUOUS => sig_reading(profiles::plx_continuous(raw)?),
            x if x == c::GLUCOSE_MEASUREMENT => sig_reading(profiles::glucose_measurement(raw)?),
            x if x == c::WEIGHT_MEASUREMENT => sig_reading(profiles::weight_measurement(raw)?),
            x if x == c::TELEMETRY_MEASUREMENT => {
                let r = telemetry_profile::decode(raw)?;
                Frame {
                    unique: true,
                    values: r
                        .values
                        .into_iter()
                        .map(|v| match v.code {
                            Ok(code) => Decoded {
                                name: format!("{code:?}"),
                                suggested: code.parameter(),
                                value: v.value,
                                unit: code.unit(),
                                validity: v.validity,
                                device_time: r.device_time,
                                record_bytes: None,
                            },
                            Err(byte) => Decoded {
                                name: format!("code 0x{byte:02X}"),
                                suggested: None,
                                value: v.value,
                                unit: "",
                                validity: v.validity,
                                device_time: r.device_time,
                                record_bytes: None,
                            },
                        })
                        .collect(),
                    problems: Vec::new(),
                }
            }
            x if x == c::UART_TX => self.serial(raw),
            other => {
                return Err(DecodeError::new(
                    "notification",
                    format!("characteristic {other} carries no measurement this build decodes"),
                ))
            }
        })
    }

    /// Serial bytes from the bridge: CDI 500/550 packet or ASCII mode (devices.md section 4).
    /// Another serial protocol is another parser here.
    fn serial(&mut self, chunk: &[u8]) -> Frame {
        let discarded_before = self.cdi.discarded;
        // Serial chunks are cut arbitrarily: the same bytes twice can be two readings.
        let mut frame = Frame::default();
        for out in self.cdi.push(chunk) {
            match out {
                CdiOutput::Packet(rec) => {
                    frame.problems.extend(rec.problems.iter().cloned());
                    let bytes: Arc<[u8]> = rec.raw.clone().into();
                    for (p, v) in rec.values {
                        frame.values.push(Decoded {
                            name: format!("CDI {p:?}"),
                            suggested: suggested_cdi(p),
                            value: cdi_value(v),
                            unit: p.unit(),
                            validity: rec.validity,
                            device_time: rec.device_time,
                            record_bytes: Some(bytes.clone()),
                        });
                    }
                }
                CdiOutput::Line(fields) => match self.ascii.line(&fields) {
                    Ok(Some(row)) => {
                        for (col, v) in row {
                            frame.values.push(Decoded {
                                name: format!("CDI {col}"),
                                suggested: None,
                                value: cdi_value(v),
                                unit: "",
                                validity: Validity::Questionable,
                                device_time: DeviceTime::Unknown,
                                record_bytes: None,
                            });
                        }
                    }
                    Ok(None) => {}
                    Err(e) => frame.problems.push(format!("CDI ASCII line: {e}")),
                },
            }
        }
        let discarded = self.cdi.discarded - discarded_before;
        if discarded > 0 {
            frame
                .problems
                .push(format!("{discarded} serial bytes belonged to no CDI frame"));
        }
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sig_numbers_sit_on_the_base_uuid() {
        assert_eq!(
            sig(0x2A1C).to_string(),
            "00002a1c-0000-1000-8000-00805f9b34fb"
        );
        assert_eq!(
            characteristic::UART_TX.to_string(),
            "6e400003-b5a3-f393-e0a9-e50e24dcca9e"
        );
    }

    #[test]
    fn a_thermometer_notification_decodes_to_a_unique_patient_temperature() {
        // Flags 0x02: a time stamp, no site.
        let raw = [
            0x02, 0xB0, 0x0E, 0x00, 0xFE, 0xDC, 0x07, 0x0C, 0x05, 0x0B, 0x32, 0x1B,
        ];
        let f = Decoder::default()
            .decode(characteristic::TEMPERATURE_MEASUREMENT, &raw)
            .unwrap();
        assert!(f.unique, "it carries a time stamp");
        assert_eq!(f.values.len(), 1);
        assert_eq!(f.values[0].suggested, Some(Parameter::PatientTemp));
        assert_eq!(f.values[0].unit, "Cel");
    }

    #[test]
    fn a_thermometer_that_names_its_site_is_not_taken_for_the_nasopharyngeal_probe() {
        // Flags 0x06: a time stamp and the site; 0x01 armpit, 0x04 finger.
        for (site, name) in [
            (0x01, "temperature at armpit"),
            (0x04, "temperature at finger"),
        ] {
            let raw = [
                0x06, 0xB0, 0x0E, 0x00, 0xFE, 0xDC, 0x07, 0x0C, 0x05, 0x0B, 0x32, 0x1B, site,
            ];
            let f = Decoder::default()
                .decode(characteristic::TEMPERATURE_MEASUREMENT, &raw)
                .unwrap();
            assert_eq!(f.values[0].name, name);
            assert_eq!(
                f.values[0].suggested, None,
                "recorded only when a person maps it"
            );
        }
    }

    #[test]
    fn unknown_characteristics_and_garbage_are_errors_not_panics() {
        let mut d = Decoder::default();
        assert!(d.decode(sig(0x2A00), &[1, 2, 3]).is_err());
        for c in characteristic::MEASUREMENTS {
            for len in 0..24u8 {
                let bytes: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37) ^ 0xA5).collect();
                let _ = d.decode(c, &bytes);
            }
        }
    }

    #[test]
    fn the_bridge_reassembles_a_cdi_packet_split_across_notifications() {
        let data = "10:15:30\t0D00 72\t1000 27";
        let bytes = super::super::cdi::packet(1, data);
        let mut d = Decoder::default();
        let mut values = Vec::new();
        for chunk in bytes.chunks(7) {
            values.extend(d.decode(characteristic::UART_TX, chunk).unwrap().values);
        }
        let svo2 = values
            .iter()
            .find(|v| v.suggested == Some(Parameter::VenousSaturation))
            .expect("venous SO2 decoded");
        assert_eq!(svo2.value.number().unwrap().to_f64(), 72.0);
        assert_eq!(svo2.unit, "%");
    }
}
