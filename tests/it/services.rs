//! Start-up wiring against a real data directory.

use std::time::Instant;

use pumpside::app::{AppConfig, Services};
use pumpside::domain::{AppMode, CaseStatus, DemoReason, Validity};

fn demo_config(dir: &std::path::Path) -> AppConfig {
    AppConfig::parse(vec!["--demo".to_string()], Some(dir.to_path_buf()), None).unwrap()
}

#[tokio::test]
async fn demo_start_creates_one_demo_case_reused_on_the_next_launch_and_feeds_live_values() {
    let dir = crate::temp_dir();
    let data = dir.path().join("nested").join("data");
    let first = Services::start(demo_config(&data), Instant::now())
        .await
        .unwrap();
    assert!(data
        .join(if cfg!(debug_assertions) {
            "pumpside-debug.sqlite3"
        } else {
            "pumpside.sqlite3"
        })
        .exists());
    assert_eq!(*first.mode().borrow(), AppMode::Demo(DemoReason::Requested));
    let case = first.current_case().await.unwrap().expect("demo case");
    assert!(case.is_demo);
    assert_eq!(case.status, CaseStatus::Running);

    let mut feed = first.take_live_feed().expect("feed");
    assert!(first.take_live_feed().is_none(), "one consumer only");
    let sample = tokio::time::timeout(std::time::Duration::from_secs(3), feed.recv())
        .await
        .expect("a simulated sample within 3 s")
        .expect("sample");
    assert_eq!(sample.validity, Validity::Demo);

    // The simulated values are recorded in the demo case, as demo samples.
    let mut recorded = 0;
    for _ in 0..50 {
        recorded = first.store.telemetry_stats().await.unwrap().samples;
        if recorded > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recorded > 0, "the recorder committed simulated samples");
    let channels = first.store.channels(case.id).await.unwrap();
    assert!(
        channels.len() >= 11,
        "one channel per simulated parameter: {}",
        channels.len()
    );

    let second = Services::start(demo_config(&data), Instant::now())
        .await
        .unwrap();
    let cases = second.store.list_cases().await.unwrap();
    assert_eq!(cases.len(), 1, "the demo case is reused, not copied");
    assert_eq!(cases[0].id, case.id);
}

#[tokio::test]
async fn a_data_dir_that_cannot_be_created_is_reported() {
    let dir = crate::temp_dir();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let err = match Services::start(demo_config(&blocker.join("data")), Instant::now()).await {
        Ok(_) => panic!("start should fail"),
        Err(e) => e,
    };
    assert!(err.to_string().contains("data directory"), "{err}");
}
