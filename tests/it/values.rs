//! Values as received: any decimal a device can send, in any unit Pumpside takes, is stored
//! and sent exactly (mantissa and exponent), converted only by an exact power-of-ten shift, and
//! a value outside its parameter's plausible range is refused, never rounded into range.

use chrono::{DateTime, Utc};
use pumpside::domain::live::Conversion;
use pumpside::domain::{
    CaseKind, CaseStatus, Channel, ChannelId, Decimal, DeviceTime, LiveSample, Parameter, Sample,
    Validity,
};
use pumpside::store::{NewCase, Store, StoreError};
use pumpside::sync::map::{trend_chunk, ucum, CHUNK_MS};

#[tokio::test]
async fn any_received_decimal_in_any_unit_is_stored_and_sent_exactly() {
    let store = Store::open_in_memory().unwrap();
    let patient = crate::sync::test_patient(&store, "VALUES-1").await;
    let case = store
        .create_case(
            NewCase {
                kind: CaseKind::Cpb,
                patient: Some(patient),
                label: "values".into(),
                is_demo: false,
                status: CaseStatus::Running,
            },
            pumpside::domain::Author::new("R. Perfusionist", "or-3-tablet"),
        )
        .await
        .unwrap();
    // One chunk window, a sample per second in it per channel.
    let start_ms = (Utc::now().timestamp_millis() / CHUNK_MS - 1) * CHUNK_MS;
    let mut channels: Vec<(Parameter, &'static str, Channel, i64)> = Vec::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut stored_n, mut refused_n, mut shifted_n, mut kept_unit_n) = (0, 0, 0, 0);
    let all: Vec<Parameter> = Parameter::all().collect();
    for _ in 0..3000 {
        let p = all[(next() % all.len() as u64) as usize];
        let (unit, conversion) = p.units()[(next() % p.units().len() as u64) as usize];
        // What a device sends: SFLOAT/FLOAT-sized mantissas, exponents −8..7.
        let mantissa = (next() % 20_000) as i64 - 2_000;
        let exponent = (next() % 16) as i8 - 8;
        let received = Decimal::new(mantissa, exponent);
        let at = Utc::now();
        let sample = LiveSample::received(p, received, unit, at, "device", Validity::Valid)
            .expect("every listed unit is taken");
        let (value, storage_unit) = sample.stored().unwrap();
        match conversion {
            Conversion::Pow10(k) => {
                assert_eq!(value.mantissa, received.mantissa, "{received} {unit}");
                assert_eq!(
                    i32::from(value.exponent),
                    i32::from(received.exponent) + i32::from(k)
                );
                assert_eq!(storage_unit, p.unit());
                if k != 0 {
                    shifted_n += 1;
                }
            }
            Conversion::Affine { .. } => {
                assert_eq!(value, received, "kept as received");
                assert_eq!(storage_unit, unit, "in the unit it arrived in");
                kept_unit_n += 1;
            }
        }
        assert!(
            ucum(storage_unit).is_some(),
            "{storage_unit} has a UCUM code"
        );
        let idx = match channels
            .iter()
            .position(|(cp, cu, ..)| *cp == p && *cu == storage_unit)
        {
            Some(i) => i,
            None => {
                let ch = Channel {
                    id: ChannelId::new(),
                    case_id: case.id,
                    parameter: p,
                    unit: storage_unit.to_string(),
                    source_device: format!("device {}", channels.len()),
                    expected_interval_ms: 1000,
                };
                store.create_channel(ch.clone()).await.unwrap();
                channels.push((p, storage_unit, ch, 0));
                channels.len() - 1
            }
        };
        let (_, _, ch, n) = &mut channels[idx];
        if *n >= 600 {
            continue;
        }
        let received_at = DateTime::from_timestamp_millis(start_ms + *n * 1000).unwrap();
        let s = Sample {
            seq: (start_ms + *n * 1000) as u64,
            received_at,
            device_time: DeviceTime::Unknown,
            value,
            validity: Validity::Valid,
        };
        let plausible = p.check_plausible("sample", value, storage_unit).is_ok();
        match store.append_samples(vec![(ch.id, vec![s])]).await {
            Ok(_) => {
                assert!(plausible, "{value} {storage_unit} is implausible for {p:?}");
                *n += 1;
                stored_n += 1;
                // Read back bit for bit, and sent as the same text.
                let back = store
                    .samples(ch.id, received_at, received_at)
                    .await
                    .unwrap();
                assert_eq!(back.last().map(|b| b.value), Some(value));
                let mapped = trend_chunk(&case, ch, start_ms, &back).unwrap().unwrap();
                let data = mapped.payload["valueSampledData"]["data"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let token = data.split(' ').nth(((*n - 1) % 600) as usize).unwrap();
                assert_eq!(token, value.to_string());
                let parsed = token.parse::<Decimal>().unwrap();
                if value.exponent <= 0 {
                    assert_eq!(parsed, value, "the digits sent are the digits received");
                } else {
                    // 3e2 is written "300": the same number, never fewer digits.
                    assert_eq!(parsed.to_f64(), value.to_f64());
                }
                assert_eq!(
                    mapped.payload["valueSampledData"]["origin"]["unit"],
                    storage_unit
                );
            }
            Err(StoreError::Invalid(e)) => {
                assert!(
                    !plausible,
                    "refused a plausible {value} {storage_unit}: {e}"
                );
                assert!(e.to_string().contains("not possible"), "{e}");
                refused_n += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(stored_n > 300, "stored {stored_n}");
    assert!(refused_n > 100, "refused {refused_n}");
    assert!(
        shifted_n > 50 && kept_unit_n > 50,
        "{shifted_n} {kept_unit_n}"
    );
}

#[test]
fn the_pulse_oximeter_bug_value_is_stored_as_received_not_as_zero() {
    // SFLOAT 62 80 is 98e-8: stored as 98e-8 %, never as 0 %.
    let d = Decimal::new(98, -8);
    let s = LiveSample::received(
        Parameter::Spo2,
        d,
        "%",
        Utc::now(),
        "oximeter",
        Validity::Valid,
    )
    .unwrap();
    assert_eq!(s.stored().unwrap(), (d, "%"));
    // 97.5 % stays 97.5, 36.85 °C stays 36.85.
    let spo2 = LiveSample::received(
        Parameter::Spo2,
        Decimal::new(975, -1),
        "%",
        Utc::now(),
        "oximeter",
        Validity::Valid,
    )
    .unwrap();
    assert_eq!(spo2.stored().unwrap().0.to_string(), "97.5");
    let t = LiveSample::received(
        Parameter::PatientTemp,
        Decimal::new(3685, -2),
        "Cel",
        Utc::now(),
        "thermometer",
        Validity::Valid,
    )
    .unwrap();
    assert_eq!(t.stored().unwrap(), (Decimal::new(3685, -2), "°C"));
    // kPa and °F are kept as received, in their unit; display converts.
    let kpa = LiveSample::received(
        Parameter::MeanArterialPressure,
        Decimal::new(111, -1),
        "kPa",
        Utc::now(),
        "cuff",
        Validity::Valid,
    )
    .unwrap();
    assert_eq!(kpa.stored().unwrap(), (Decimal::new(111, -1), "kPa"));
    assert!((kpa.value - 83.26).abs() < 0.01, "{}", kpa.value);
    let f = LiveSample::received(
        Parameter::PatientTemp,
        Decimal::new(986, -1),
        "[degF]",
        Utc::now(),
        "thermometer",
        Validity::Valid,
    )
    .unwrap();
    assert_eq!(f.stored().unwrap(), (Decimal::new(986, -1), "[degF]"));
    assert!((f.value - 37.0).abs() < 1e-9, "{}", f.value);
}
