//! Devices by identity, sessions with clock offsets, and device-to-case association.

use chrono::Duration;
use pumpside::domain::device::{associations, clock_offset_ms, DeviceIdentity};
use pumpside::domain::{Author, DeviceTime, EntryPayload, NewEntry};
use pumpside::store::StoreError;

use crate::record::{new_case, open};

fn thermometer(serial: &str, firmware: &str) -> DeviceIdentity {
    DeviceIdentity {
        manufacturer: "Acme".into(),
        model: "Thermo 2".into(),
        serial: Some(serial.into()),
        system_id: None,
        udi: None,
        firmware: Some(firmware.into()),
    }
}

#[tokio::test]
async fn devices_are_known_by_identity_with_sessions_and_case_associations() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let case = new_case(&s, false).await;
    let t0 = crate::telemetry::t0();

    // Two connections of the same thermometer (firmware updated in between) are one device.
    let rx = t0;
    let offset = clock_offset_ms(DeviceTime::Known(rx.timestamp_millis() + 1500), rx);
    let key = s
        .record_session(
            thermometer("SN-1", "1.0"),
            rx,
            offset,
            Some("Current Time 0x2A2B".into()),
        )
        .await
        .unwrap();
    let key2 = s
        .record_session(
            thermometer("SN-1", "1.1"),
            rx + Duration::minutes(30),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(key, key2);
    let sessions = s.device_sessions(key.clone()).await.unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0].clock_offset_ms, Some(1500));
    assert_eq!(sessions[1].identity.firmware.as_deref(), Some("1.1"));
    let other = s.register_device(thermometer("SN-2", "1.0")).await.unwrap();
    assert_ne!(other, key, "a sibling of the same model is another device");

    let add = |payload: EntryPayload, minutes: i64| {
        let s = s.clone();
        async move {
            s.append_entry(NewEntry {
                case_id: case,
                occurred_at: t0 + Duration::minutes(minutes),
                author: Author::new("R. Perfusionist", "or-3-tablet"),
                payload,
            })
            .await
        }
    };
    // Release before association, unknown device, double association: refused.
    assert!(add(
        EntryPayload::DeviceReleased {
            device_key: key.clone()
        },
        1
    )
    .await
    .is_err());
    let e = add(
        EntryPayload::DeviceAssociated {
            device_key: "sn:Nobody|X|1".into(),
            role: "x".into(),
        },
        1,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(_)) && e.to_string().contains("registered device"),
        "{e}"
    );
    add(
        EntryPayload::DeviceAssociated {
            device_key: key.clone(),
            role: "arterial outlet temperature".into(),
        },
        2,
    )
    .await
    .unwrap();
    assert!(add(
        EntryPayload::DeviceAssociated {
            device_key: key.clone(),
            role: "again".into()
        },
        3
    )
    .await
    .is_err());
    add(
        EntryPayload::DeviceReleased {
            device_key: key.clone(),
        },
        50,
    )
    .await
    .unwrap();
    add(
        EntryPayload::DeviceAssociated {
            device_key: key.clone(),
            role: "venous inflow temperature".into(),
        },
        55,
    )
    .await
    .unwrap();

    let entries = s.entries(case).await.unwrap();
    let a = associations(&entries);
    assert_eq!(a.len(), 2);
    assert_eq!(
        (a[0].started, a[0].ended),
        (t0 + Duration::minutes(2), Some(t0 + Duration::minutes(50)))
    );
    assert_eq!(
        (a[1].role.as_str(), a[1].ended),
        ("venous inflow temperature", None)
    );
    s.verify_chain(case).await.unwrap();
}
