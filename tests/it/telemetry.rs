//! Device telemetry in compact chunks: exact round trip, trends equal to a naive computation,
//! artefact ranges, stream ordering, demo separation, atomic batches, reopening.

use chrono::{DateTime, Duration, TimeZone, Utc};
use pumpside::domain::entry::ArtefactTarget;
use pumpside::domain::{
    Channel, ChannelId, Decimal, DeviceTime, EntryPayload, NewEntry, Parameter, Sample,
    ValidationError, Validity,
};
use pumpside::store::{Store, StoreError};

use crate::record::{new_case, open};

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap()
}

/// A plausible 1 Hz pump-flow stream with receive jitter, an occasional artefact and an
/// unknown device time now and then.
pub fn flow_samples(from_seq: u64, n: usize, validity: Validity) -> Vec<Sample> {
    (0..n)
        .map(|k| {
            let i = from_seq + k as u64;
            let jitter = ((i * 7919) % 41) as i64 - 20;
            Sample {
                seq: i,
                received_at: t0() + Duration::milliseconds(i as i64 * 1000 + jitter),
                device_time: if i % 300 == 0 {
                    DeviceTime::Unknown
                } else {
                    DeviceTime::Known(t0().timestamp_millis() - 2500 + i as i64 * 1000)
                },
                value: Decimal::new(450 + ((i * 37) % 31) as i64 - 15, -2),
                validity: if i % 211 == 5 && validity == Validity::Valid {
                    Validity::Artefact
                } else {
                    validity
                },
            }
        })
        .collect()
}

pub async fn flow_channel(s: &Store, demo: bool) -> Channel {
    let case = new_case(s, demo).await;
    let ch = Channel {
        id: ChannelId::new(),
        case_id: case,
        parameter: Parameter::PumpFlow,
        unit: "L/min".into(),
        source_device: "Acme HLM 8 SN 1234".into(),
        expected_interval_ms: 1000,
    };
    s.create_channel(ch.clone()).await.unwrap();
    ch
}

/// min/max/mean per bucket by brute force, the reference for the store's trend query.
fn naive_trend(
    samples: &[Sample],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    buckets: u32,
    skip: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Vec<(u64, f64, f64, f64)> {
    let (f, t) = (from.timestamp_millis(), to.timestamp_millis());
    let width = (t - f) as f64 / f64::from(buckets);
    let mut acc = vec![(0u64, f64::INFINITY, f64::NEG_INFINITY, 0.0); buckets as usize];
    for s in samples {
        let ms = s.received_at.timestamp_millis();
        if ms < f || ms > t || !s.validity.counts() {
            continue;
        }
        if skip
            .iter()
            .any(|(a, b)| s.received_at >= *a && s.received_at <= *b)
        {
            continue;
        }
        let b = (((ms - f) as f64 / width) as usize).min(buckets as usize - 1);
        let v = s.value.to_f64();
        let a = &mut acc[b];
        a.0 += 1;
        a.1 = a.1.min(v);
        a.2 = a.2.max(v);
        a.3 += v;
    }
    acc.into_iter()
        .filter(|a| a.0 > 0)
        .map(|(n, lo, hi, sum)| (n, lo, hi, sum / n as f64))
        .collect()
}

#[tokio::test]
async fn samples_round_trip_exactly_and_trends_match_a_naive_computation() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let ch = flow_channel(&s, false).await;
    let all = flow_samples(1, 5000, Validity::Valid);
    // Uneven batches, as a real session delivers them.
    let mut i = 0;
    for size in [1usize, 7, 600, 31, 1200, 2, 3000, 159] {
        let end = (i + size).min(all.len());
        s.append_samples(vec![(ch.id, all[i..end].to_vec())])
            .await
            .unwrap();
        i = end;
    }
    assert_eq!(i, all.len());
    let back = s
        .samples(ch.id, t0(), t0() + Duration::hours(3))
        .await
        .unwrap();
    assert_eq!(
        back, all,
        "every field, precision included, comes back exactly"
    );
    let stats = s.telemetry_stats().await.unwrap();
    assert_eq!(stats.samples, 5000);
    assert!((stats.blob_bytes as f64 / 5000.0) < 3.0, "{stats:?}");

    let mark_from = t0() + Duration::seconds(1000);
    let mark_to = t0() + Duration::seconds(1300);
    s.append_entry(NewEntry {
        case_id: ch.case_id,
        occurred_at: mark_to,
        author: pumpside::domain::Author::new("R. Perfusionist", "or-3-tablet"),
        payload: EntryPayload::ArtefactMark {
            target: ArtefactTarget::Samples {
                channel: ch.id.to_string(),
                from: mark_from,
                to: mark_to,
            },
            reason: "flow probe dislodged".into(),
        },
    })
    .await
    .unwrap();
    for (from, to, buckets) in [
        (t0(), t0() + Duration::seconds(5001), 1000u32),
        (t0(), t0() + Duration::seconds(5001), 7),
        (
            t0() + Duration::seconds(1234),
            t0() + Duration::seconds(4321),
            100,
        ),
        (
            t0() + Duration::seconds(4000),
            t0() + Duration::seconds(4600),
            600,
        ),
    ] {
        let got = s.trend(ch.id, from, to, buckets).await.unwrap();
        let want = naive_trend(&all, from, to, buckets, &[(mark_from, mark_to)]);
        assert_eq!(got.len(), want.len(), "{buckets} buckets");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!((g.n, g.min, g.max), (w.0, w.1, w.2));
            assert!((g.mean - w.3).abs() < 1e-9);
        }
    }
    assert!(
        s.trend(ch.id, t0(), t0(), 10).await.is_err(),
        "empty range is refused"
    );

    // Nadir and peak with their times, artefacts and the marked range excluded.
    let counted: Vec<&Sample> = all
        .iter()
        .filter(|x| {
            x.validity.counts() && !(x.received_at >= mark_from && x.received_at <= mark_to)
        })
        .collect();
    let lo = counted
        .iter()
        .map(|x| x.value.to_f64())
        .fold(f64::INFINITY, f64::min);
    let hi = counted
        .iter()
        .map(|x| x.value.to_f64())
        .fold(f64::NEG_INFINITY, f64::max);
    let first_at = |v: f64| {
        counted
            .iter()
            .find(|x| x.value.to_f64() == v)
            .unwrap()
            .received_at
    };
    let ex = s.channel_extremes(ch.id).await.unwrap().unwrap();
    assert_eq!(ex.nadir, (lo, first_at(lo)));
    assert_eq!(ex.peak, (hi, first_at(hi)));
}

#[tokio::test]
async fn extremes_use_chunk_summaries_without_artefact_marks() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let ch = flow_channel(&s, false).await;
    let mut all = flow_samples(1, 3000, Validity::Valid);
    all[1700].value = Decimal::new(123, -2); // a single low point
    all[2900].value = Decimal::new(899, -2);
    all[2901].value = Decimal::new(950, -2);
    all[2901].validity = Validity::Artefact; // higher, but an artefact
    s.append_samples(vec![(ch.id, all.clone())]).await.unwrap();
    let ex = s.channel_extremes(ch.id).await.unwrap().unwrap();
    assert_eq!(ex.nadir, (1.23, all[1700].received_at));
    assert_eq!(ex.peak, (8.99, all[2900].received_at));
}

#[tokio::test]
async fn out_of_order_and_impossible_samples_refuse_the_whole_batch() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let ch = flow_channel(&s, false).await;
    s.append_samples(vec![(ch.id, flow_samples(1, 10, Validity::Valid))])
        .await
        .unwrap();
    let mut batch = flow_samples(11, 10, Validity::Valid);
    batch[5].seq = 3; // a replayed sample in the middle
    let e = s.append_samples(vec![(ch.id, batch)]).await.unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::Invalid(ValidationError::TimeBackwards { .. })
        ),
        "{e}"
    );
    let mut batch = flow_samples(11, 10, Validity::Valid);
    batch[9].device_time = DeviceTime::Known(0);
    let e = s.append_samples(vec![(ch.id, batch)]).await.unwrap_err();
    assert!(e.to_string().contains("device time went backwards"), "{e}");
    let mut batch = flow_samples(11, 10, Validity::Valid);
    batch[0].value = Decimal::new(4500, 0);
    let e = s.append_samples(vec![(ch.id, batch)]).await.unwrap_err();
    assert!(
        e.to_string().contains("sample.pump-flow = 4500 L/min"),
        "{e}"
    );
    assert_eq!(
        s.telemetry_stats().await.unwrap().samples,
        10,
        "nothing half-written"
    );
    let ghost = ChannelId::new();
    assert!(matches!(
        s.append_samples(vec![(ghost, flow_samples(1, 1, Validity::Valid))])
            .await,
        Err(StoreError::UnknownChannel(_))
    ));
}

#[tokio::test]
async fn demo_samples_never_enter_a_patient_case_and_vice_versa() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let real = flow_channel(&s, false).await;
    let demo = flow_channel(&s, true).await;
    let e = s
        .append_samples(vec![(real.id, flow_samples(1, 3, Validity::Demo))])
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("cannot enter a patient's case"),
        "{e}"
    );
    let e = s
        .append_samples(vec![(demo.id, flow_samples(1, 3, Validity::Valid))])
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("demo case takes only demo samples"),
        "{e}"
    );
    s.append_samples(vec![(demo.id, flow_samples(1, 3, Validity::Demo))])
        .await
        .unwrap();
}

#[tokio::test]
async fn the_stream_order_is_enforced_across_a_reopen() {
    let dir = crate::temp_dir();
    let ch = {
        let s = open(&dir);
        let ch = flow_channel(&s, false).await;
        s.append_samples(vec![(ch.id, flow_samples(1, 700, Validity::Valid))])
            .await
            .unwrap();
        ch
    };
    let s = open(&dir);
    let e = s
        .append_samples(vec![(ch.id, flow_samples(700, 1, Validity::Valid))])
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("receive sequence went backwards"),
        "{e}"
    );
    s.append_samples(vec![(ch.id, flow_samples(701, 5, Validity::Valid))])
        .await
        .unwrap();
    assert_eq!(s.telemetry_stats().await.unwrap().samples, 705);
}

#[tokio::test]
async fn a_channel_needs_a_known_case_and_an_accepted_unit() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let case = new_case(&s, false).await;
    let mut ch = Channel {
        id: ChannelId::new(),
        case_id: case,
        parameter: Parameter::VenousSaturation,
        unit: "percent".into(),
        source_device: "CDI 550 SN 42".into(),
        expected_interval_ms: 6000,
    };
    let e = s.create_channel(ch.clone()).await.unwrap_err();
    assert!(e.to_string().contains("\"%\""), "{e}");
    ch.unit = "%".into();
    s.create_channel(ch.clone()).await.unwrap();
    assert_eq!(s.channels(case).await.unwrap(), vec![ch.clone()]);
    ch.id = ChannelId::new();
    ch.case_id = pumpside::domain::CaseId::new();
    assert!(s.create_channel(ch).await.is_err());
}
