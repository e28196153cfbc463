//! Device identity, keyed on what the device says about itself (Device Information: maker,
//! model, serial, System ID, UDI), never on a MAC address or a platform peripheral id (those
//! differ per phone, per OS, per pairing). And the clock offset of a connection.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::validation::{check_text, ValidationError};
use super::DeviceTime;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceIdentity {
    pub manufacturer: String,
    pub model: String,
    pub serial: Option<String>,
    /// System ID as 16 hex digits.
    pub system_id: Option<String>,
    /// Unique Device Identifier as read (GS1/HIBCC string).
    pub udi: Option<String>,
    pub firmware: Option<String>,
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl DeviceIdentity {
    /// The stable key: the UDI when there is one, else maker + model + System ID, else maker +
    /// model + serial. A device offering none of these cannot be told apart from its siblings.
    pub fn key(&self) -> Result<String, ValidationError> {
        check_text("device.manufacturer", &self.manufacturer, 200)?;
        check_text("device.model", &self.model, 200)?;
        let base = format!("{}|{}", self.manufacturer.trim(), self.model.trim());
        if let Some(udi) = present(&self.udi) {
            return Ok(format!("udi:{udi}"));
        }
        if let Some(sid) = present(&self.system_id) {
            return Ok(format!("sid:{base}|{}", sid.to_ascii_lowercase()));
        }
        if let Some(sn) = present(&self.serial) {
            return Ok(format!("sn:{base}|{sn}"));
        }
        Err(ValidationError::Invalid {
            field: "device.identity".into(),
            value: base,
            allowed: "a serial number, System ID or UDI, so that this device can be told apart from others of its model".into(),
        })
    }
}

/// Device clock minus tablet clock (ms) from a fully known device time received at `received`.
pub fn clock_offset_ms(device: DeviceTime, received: DateTime<Utc>) -> Option<i64> {
    match device {
        DeviceTime::Known(ms) => Some(ms - received.timestamp_millis()),
        _ => None,
    }
}

/// A device's association with a case, derived from the case's entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Association {
    pub device_key: String,
    /// What the device measures on this case ("arterial outlet temperature").
    pub role: String,
    pub started: DateTime<Utc>,
    pub ended: Option<DateTime<Utc>>,
}

/// Associations of a case, from its `DeviceAssociated` / `DeviceReleased` entries.
pub fn associations(entries: &[super::Entry]) -> Vec<Association> {
    let mut by_seq: Vec<&super::Entry> = entries.iter().collect();
    by_seq.sort_by_key(|e| e.seq);
    let mut out: Vec<Association> = Vec::new();
    for e in by_seq {
        match &e.payload {
            super::EntryPayload::DeviceAssociated { device_key, role } => out.push(Association {
                device_key: device_key.clone(),
                role: role.clone(),
                started: e.occurred_at,
                ended: None,
            }),
            super::EntryPayload::DeviceReleased { device_key } => {
                if let Some(a) = out
                    .iter_mut()
                    .rev()
                    .find(|a| &a.device_key == device_key && a.ended.is_none())
                {
                    a.ended = Some(e.occurred_at);
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn id() -> DeviceIdentity {
        DeviceIdentity {
            manufacturer: "Acme".into(),
            model: "Thermo 2".into(),
            serial: Some("SN-77".into()),
            system_id: None,
            udi: None,
            firmware: Some("1.2".into()),
        }
    }

    #[test]
    fn keys_prefer_udi_then_system_id_then_serial_and_never_an_address() {
        assert_eq!(id().key().unwrap(), "sn:Acme|Thermo 2|SN-77");
        let mut d = id();
        d.system_id = Some("AABBCC1122334455".into());
        assert_eq!(d.key().unwrap(), "sid:Acme|Thermo 2|aabbcc1122334455");
        d.udi = Some("(01)00812345678901(21)77".into());
        assert_eq!(d.key().unwrap(), "udi:(01)00812345678901(21)77");
        let mut anonymous = id();
        anonymous.serial = Some("  ".into());
        let e = anonymous.key().unwrap_err();
        assert!(e.to_string().contains("told apart"), "{e}");
        let mut firmware_update = id();
        firmware_update.firmware = Some("1.3".into());
        assert_eq!(
            firmware_update.key(),
            id().key(),
            "a firmware update is the same device"
        );
    }

    #[test]
    fn clock_offset_is_device_minus_tablet() {
        let rx = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        assert_eq!(
            clock_offset_ms(DeviceTime::Known(rx.timestamp_millis() - 2500), rx),
            Some(-2500)
        );
        assert_eq!(clock_offset_ms(DeviceTime::Unknown, rx), None);
    }
}
