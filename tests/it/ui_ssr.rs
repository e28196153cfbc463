//! Server-side renders of the shell and every screen with fixture state.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use dioxus::prelude::*;
use pumpside::app::{AppConfig, Services};
use pumpside::domain::advisory::{rules_from_protocol, Advisories};
use pumpside::domain::board::Targets;
use pumpside::domain::protocol::Protocol;
use pumpside::domain::{
    AppMode, Author, CaseId, CaseKind, CaseStatus, CaseSummary, DemoReason, Entry, EntryId,
    EntryPayload, EventKind, LiveSample, LiveSnapshot, Parameter, Validity,
};
use pumpside::store::{NewCase, Store};
use pumpside::sync::SyncState;
use pumpside::ui::{Screen, Shell, UiState};

#[derive(Clone, PartialEq)]
pub struct Fixture {
    screen: Screen,
    mode: AppMode,
    now: DateTime<Utc>,
    samples: Vec<LiveSample>,
    case: Option<CaseSummary>,
    entries: Vec<Entry>,
    targets: Option<Targets>,
    advisories: Option<Advisories>,
    pub sync: SyncState,
    patient: Option<pumpside::domain::Patient>,
    open_run: Option<String>,
}

#[component]
fn Harness(fixture: Fixture) -> Element {
    use_context_provider(move || {
        let mut live = LiveSnapshot::default();
        for s in fixture.samples.clone() {
            live.apply(s).expect("fixture sample");
        }
        let protocol = Protocol::defaults().unwrap();
        let base = UiState::new(fixture.screen, &protocol);
        UiState {
            mode: Signal::new(fixture.mode.clone()),
            sync: Signal::new(fixture.sync.clone()),
            live: Signal::new(live),
            now: Signal::new(fixture.now),
            case: Signal::new(fixture.case.clone()),
            entries: Signal::new(fixture.entries.clone()),
            facts: Signal::new(std::sync::Arc::new(
                pumpside::domain::board::LiveFacts::derive(
                    &fixture.entries,
                    &protocol,
                    fixture
                        .case
                        .as_ref()
                        .map_or(pumpside::domain::CaseKind::Cpb, |c| c.kind),
                ),
            )),
            targets: Signal::new(fixture.targets.clone()),
            patient: Signal::new(fixture.patient.clone()),
            advisories: Signal::new(
                fixture
                    .advisories
                    .clone()
                    .unwrap_or_else(|| Advisories::new(rules_from_protocol(&protocol))),
            ),
            open_run: Signal::new(fixture.open_run.clone()),
            ..base
        }
    });
    rsx! { Shell {} }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap()
}

fn demo_case() -> CaseSummary {
    CaseSummary {
        id: CaseId::new(),
        patient: None,
        kind: CaseKind::Cpb,
        status: CaseStatus::Running,
        label: "Fixture CABG".into(),
        is_demo: true,
        created_at: t0(),
    }
}

fn sample(p: Parameter, v: f64, at: DateTime<Utc>, source: &str) -> LiveSample {
    LiveSample::computed(p, v, at, source, Validity::Demo).unwrap()
}

fn event(case: &CaseSummary, kind: EventKind, at: DateTime<Utc>, seq: u64) -> Entry {
    Entry {
        id: EntryId::new(),
        case_id: case.id,
        seq,
        occurred_at: at,
        recorded_at: at,
        author: Author::new("Fixture", "fixture-tablet"),
        payload: EntryPayload::Event { event: kind },
        prev_hash: [0; 32],
        hash: [0; 32],
    }
}

pub fn fixture(screen: Screen) -> Fixture {
    Fixture {
        screen,
        mode: AppMode::Demo(DemoReason::Requested),
        now: t0() + Duration::minutes(30),
        samples: vec![],
        case: None,
        entries: vec![],
        targets: None,
        advisories: None,
        sync: SyncState::NotConfigured,
        patient: None,
        open_run: None,
    }
}

async fn services() -> Services {
    let store = Store::open_in_memory().unwrap();
    let config = AppConfig::parse(
        vec!["--key-store".into(), "file".into()],
        Some("/tmp/pumpside-ssr".into()),
        None,
    )
    .unwrap();
    Services::from_parts(
        store,
        config,
        AppMode::Demo(DemoReason::Requested),
        Author::new("SSR perfusionist", "ssr-tablet"),
        std::sync::Arc::new(pumpside::domain::protocol::Protocol::defaults().unwrap()),
    )
}

/// Render, let async resources settle, render again.
pub async fn render_with(fixture: Fixture, services: Services) -> String {
    let mut dom =
        VirtualDom::new_with_props(Harness, HarnessProps { fixture }).with_root_context(services);
    dom.rebuild_in_place();
    for _ in 0..4 {
        if tokio::time::timeout(StdDuration::from_millis(300), dom.wait_for_work())
            .await
            .is_err()
        {
            break;
        }
        dom.render_immediate_to_vec();
    }
    dioxus_ssr::render(&dom)
}

async fn render(fixture: Fixture) -> String {
    render_with(fixture, services().await).await
}

#[tokio::test]
async fn every_screen_renders_inside_the_shell_and_says_what_it_holds() {
    for screen in Screen::ALL {
        let html = render(fixture(screen)).await;
        assert!(
            html.contains(&format!("data-screen=\"{}\"", screen.slug())),
            "{screen:?}"
        );
        assert!(html.contains(screen.title()), "{screen:?} title");
        for s in Screen::ALL {
            assert!(
                html.contains(&format!("data-nav=\"{}\"", s.slug())),
                "{screen:?} lacks nav to {s:?}"
            );
        }
        assert!(html.contains("User: SSR perfusionist"), "{screen:?}");
        assert!(html.contains("Sync off (local only)"), "{screen:?}");
        assert!(html.contains("data-status=\"clock\""), "{screen:?}");
        assert!(html.contains("DEMO MODE"), "{screen:?} demo banner");
    }
}

#[tokio::test]
async fn no_demo_banner_with_real_devices() {
    let mut f = fixture(Screen::Live);
    f.mode = AppMode::Live {
        adapter: "hci0".into(),
    };
    let html = render(f).await;
    assert!(!html.contains("DEMO MODE"));
}

#[tokio::test]
async fn the_no_adapter_banner_names_the_reason() {
    let mut f = fixture(Screen::Cases);
    f.mode = AppMode::Demo(DemoReason::NoBluetoothAdapter("no adapter present".into()));
    let html = render(f).await;
    assert!(html.contains("no Bluetooth adapter found (no adapter present)"));
}

#[tokio::test]
async fn live_values_show_value_unit_source_and_age_and_stale_ones_are_marked() {
    let mut f = fixture(Screen::Live);
    let now = f.now;
    f.case = Some(demo_case());
    f.samples = vec![
        sample(
            Parameter::PumpFlow,
            4.714,
            now - Duration::seconds(1),
            "Pump A",
        ),
        sample(
            Parameter::VenousSaturation,
            0.731,
            now - Duration::seconds(2),
            "Blood B",
        ),
        sample(
            Parameter::ArterialOutletTemp,
            34.04,
            now - Duration::seconds(40),
            "Temp C",
        ),
    ];
    let html = render(f).await;
    assert!(html.contains("4.71"), "flow value");
    assert!(html.contains("L/min"));
    assert!(tile(&html, "pump-flow").contains("Pump A · 1 s"));
    assert!(
        tile(&html, "venous-saturation").contains(">73<")
            || tile(&html, "venous-saturation").contains("73<!--"),
        "SvO2 as percent: {html}"
    );
    // The old temperature is stale, the fresh flow is not.
    assert!(tile(&html, "arterial-outlet-temp").contains(r#"data-level="stale""#));
    assert!(tile(&html, "arterial-outlet-temp").contains("STALE"));
    assert!(tile(&html, "pump-flow").contains(r#"data-level="normal""#));
    assert!(!tile(&html, "pump-flow").contains("STALE"));
    // A parameter with no source says so instead of showing a number.
    assert!(tile(&html, "do2i").contains("no source"));
    assert!(tile(&html, "do2i").contains(r#"data-level="missing""#));
    // The gradient needs both temperatures.
    assert!(tile(&html, "temp-gradient").contains("needs arterial outlet and venous"));
    assert!(html.contains("The heart-lung machine keeps the primary alarms"));
    assert!(
        html.contains("2 devices"),
        "only fresh sources count as connected"
    );
}

fn on_bypass_fixture() -> Fixture {
    let case = demo_case();
    let mut f = fixture(Screen::Live);
    let now = f.now;
    f.case = Some(case.clone());
    f.entries = vec![
        event(&case, EventKind::BypassOn, now - Duration::minutes(20), 2),
        event(
            &case,
            EventKind::CrossClampOn,
            now - Duration::minutes(5),
            3,
        ),
    ];
    f.targets = Some(Targets {
        bsa_m2: 1.9561,
        flow_l_min: 4.69,
        cardiac_index: 2.4,
        heparin_units: 24_000.0,
        cardioplegia: Some(("del Nido".into(), 1000.0)),
    });
    f
}

#[tokio::test]
async fn a_normal_case_on_bypass_shows_every_value_inside_its_band() {
    let mut f = on_bypass_fixture();
    let now = f.now;
    let at = now - Duration::seconds(1);
    f.samples = vec![
        sample(Parameter::PumpFlow, 4.8, at, "HLM"),
        sample(Parameter::MeanArterialPressure, 65.0, at, "Art line"),
        sample(Parameter::Do2i, 320.0, at, "HLM"),
        sample(Parameter::ArterialOutletTemp, 32.0, at, "HLM"),
        sample(Parameter::VenousInflowTemp, 30.5, at, "HLM"),
    ];
    let html = render(f).await;
    for key in [
        "pump-flow",
        "mean-arterial-pressure",
        "do2i",
        "arterial-outlet-temp",
        "temp-gradient",
    ] {
        assert!(
            tile(&html, key).contains(r#"data-level="normal""#),
            "{key}: {}",
            tile(&html, key)
        );
    }
    assert!(tile(&html, "mean-arterial-pressure").contains("band 50–80"));
    assert!(tile(&html, "pump-flow").contains("target 4.69"));
    assert!(tile(&html, "temp-gradient").contains("+1.5"));
    // No advisories; the cardioplegia reminder says why it has no countdown.
    assert!(html.contains("cross-clamp on and no cardioplegia dose recorded since"));
    assert!(!html.contains("data-advisory="));
    // The ACT re-check counts down from bypass-on (30 min in the default protocol).
    assert!(html.contains(r#"data-reminder="act""#));
    assert!(html.contains("10:00"), "ACT due in 10 min: {html}");
}

#[tokio::test]
async fn an_out_of_band_case_colours_the_tiles_and_shows_the_advisory_to_acknowledge() {
    let mut f = on_bypass_fixture();
    let now = f.now;
    let at = now - Duration::seconds(1);
    f.samples = vec![
        sample(Parameter::PumpFlow, 3.9, at, "HLM"),
        sample(Parameter::MeanArterialPressure, 41.0, at, "Art line"),
        sample(Parameter::ArterialOutletTemp, 37.6, at, "HLM"),
        sample(Parameter::VenousInflowTemp, 36.0, at, "HLM"),
    ];
    // MAP below 50 for 40 s: past the protocol's 30 s delay.
    let protocol = Protocol::defaults().unwrap();
    let mut adv = Advisories::new(rules_from_protocol(&protocol));
    for s in 0..=40 {
        adv.observe(
            Parameter::MeanArterialPressure,
            41.0,
            now - Duration::seconds(41 - s),
        );
    }
    f.advisories = Some(adv);
    let html = render(f).await;
    assert!(tile(&html, "mean-arterial-pressure").contains(r#"data-level="low""#));
    assert!(tile(&html, "mean-arterial-pressure").contains("LOW"));
    assert!(tile(&html, "pump-flow").contains(r#"data-level="low""#));
    assert!(tile(&html, "arterial-outlet-temp").contains(r#"data-level="high""#));
    assert!(tile(&html, "arterial-outlet-temp").contains("HIGH"));
    let strip = &html[html.find(r#"data-strip="alerts""#).expect("alert strip")..];
    assert!(strip.contains(r#"data-advisory="map-low""#));
    assert!(strip.contains("MAP below 50 mmHg"));
    assert!(strip.contains("Acknowledge"));
    assert!(strip.contains("Snooze 5 min"));
}

#[tokio::test]
async fn a_stale_device_is_marked_and_not_judged_even_when_out_of_band() {
    let mut f = on_bypass_fixture();
    let now = f.now;
    f.samples = vec![sample(
        Parameter::MeanArterialPressure,
        30.0,
        now - Duration::seconds(12),
        "Art line",
    )];
    let html = render(f).await;
    let map = tile(&html, "mean-arterial-pressure");
    assert!(map.contains(r#"data-level="stale""#), "{map}");
    assert!(map.contains("STALE"));
    assert!(map.contains("Art line · 12 s"));
    assert!(!map.contains("LOW"));
    assert!(html.contains("No devices"), "a stale source is not counted");
}

/// The HTML of one live tile.
fn tile<'a>(html: &'a str, param: &str) -> &'a str {
    let start = html
        .find(&format!("data-param=\"{param}\""))
        .unwrap_or_else(|| panic!("no tile {param}"));
    let tail = &html[start..];
    let end = tail[1..]
        .find("data-param=")
        .map(|e| e + 1)
        .unwrap_or(tail.len());
    &tail[..end]
}

#[tokio::test]
async fn clocks_and_actions_follow_the_timeline() {
    let case = demo_case();
    let mut f = fixture(Screen::Live);
    f.case = Some(case.clone());
    let html = render(f.clone()).await;
    assert!(html.contains("data-action=\"bypass_on\""));
    assert!(
        html.contains(r#"data-action="cross_clamp_on" disabled=true"#),
        "cross-clamp is offered only on bypass"
    );

    f.entries = vec![
        event(&case, EventKind::BypassOn, f.now - Duration::minutes(20), 2),
        event(
            &case,
            EventKind::CrossClampOn,
            f.now - Duration::minutes(5),
            3,
        ),
    ];
    let html = render(f).await;
    assert!(html.contains("data-action=\"bypass_off\""));
    assert!(html.contains("data-action=\"cross_clamp_off\""));
    assert!(
        !html.contains("disabled=true"),
        "everything enabled on bypass"
    );
    assert!(html.contains("20:00"), "bypass clock");
    assert!(html.contains("05:00"), "cross-clamp clock");
}

#[tokio::test]
async fn a_device_link_loss_and_return_show_on_the_timeline() {
    let case = demo_case();
    let mut f = fixture(Screen::Live);
    f.case = Some(case.clone());
    let link = |connected: bool, reason: &str, at: DateTime<Utc>, seq: u64| Entry {
        payload: EntryPayload::DeviceLink {
            device_key: "sn:Pumpside|Sim HLM|H-7".into(),
            connected,
            reason: reason.into(),
        },
        ..event(&case, EventKind::BypassOn, at, seq)
    };
    f.entries = vec![
        event(&case, EventKind::BypassOn, f.now - Duration::minutes(20), 2),
        link(false, "link lost", f.now - Duration::minutes(3), 3),
        link(
            true,
            "link back after 33 s",
            f.now - Duration::minutes(2),
            4,
        ),
    ];
    let html = render(f).await;
    assert!(html.contains("Device H-7 link lost: link lost"), "{html}");
    assert!(html.contains("Device H-7 back: link back after 33 s"));
    assert!(
        html.contains("20:00"),
        "still on bypass: link events are not events"
    );
}

#[tokio::test]
async fn a_signed_case_says_it_is_closed_and_offers_no_one_tap_entries() {
    let mut case = demo_case();
    case.status = CaseStatus::Signed;
    let mut f = fixture(Screen::Live);
    f.case = Some(case.clone());
    f.entries = vec![event(
        &case,
        EventKind::BypassOn,
        f.now - Duration::minutes(20),
        2,
    )];
    let html = render(f).await;
    assert!(html.contains("data-closed=\"signed\""), "{html}");
    assert!(html.contains("can only be amended"));
    assert!(
        !html.contains("data-action=\"bypass_off\""),
        "no action bar on a signed case"
    );
    assert!(
        html.contains("data-sheet=\"review\""),
        "its review is shown"
    );
}

#[tokio::test]
async fn live_without_a_running_case_explains_how_to_get_one() {
    let html = render(fixture(Screen::Live)).await;
    assert!(html.contains("No running case"));
}

#[tokio::test]
async fn cases_screen_lists_cases_from_the_store_with_demo_flag() {
    let services = services().await;
    services
        .store()
        .create_case(
            NewCase {
                kind: CaseKind::EcmoVv,
                patient: None,
                label: "VV run bed 4".into(),
                is_demo: true,
                status: CaseStatus::Running,
            },
            services.author().clone(),
        )
        .await
        .unwrap();
    let html = render_with(fixture(Screen::Cases), services).await;
    assert!(html.contains("VV run bed 4"), "{html}");
    assert!(html.contains("data-case=\""), "each row opens its case");
    assert!(html.contains("VV ECMO"));
    assert!(html.contains("chip demo"));
    // Starting a case begins with the MRN; the kind and Start appear once a patient is found.
    assert!(html.contains("Start a case"));
    assert!(html.contains(r#"data-field="mrn""#), "{html}");
    assert!(html.contains(r#"data-action="find-patient""#));
    assert!(!html.contains(r#"data-action="start-case""#));
}

#[tokio::test]
async fn the_calculator_shows_result_unit_formula_source_and_constants() {
    let mut f = fixture(Screen::Calculator);
    f.samples = vec![sample(Parameter::PumpFlow, 4.52, f.now, "Pump A")];
    let html = render(f).await;
    assert!(html.contains("Body surface area (Mosteller)"));
    assert!(
        html.contains("data-calc=\"do2i\""),
        "every calculator is listed"
    );
    // Mosteller 175 cm / 80 kg = 1.972 m².
    assert!(html.contains(">1.972<"), "{html}");
    assert!(html.contains("√(H · W / 3600)"));
    assert!(html.contains("Mosteller RD"));
    assert!(
        html.contains("Pumpside defaults 2026-12-01.1"),
        "protocol named"
    );
    assert!(
        html.contains("default: the case has no value"),
        "without a patient the defaults say so"
    );

    // With a patient, height and weight come from the case and say so: 162 cm / 58.5 kg.
    let mut f = fixture(Screen::Calculator);
    f.patient = Some(pumpside::domain::Patient {
        mrn: pumpside::domain::patient::Mrn {
            system: "urn:pumpside:mrn".into(),
            value: "CALC-1".into(),
        },
        family_name: "Calc".into(),
        given_names: "Ada".into(),
        birth_date: chrono::NaiveDate::from_ymd_opt(1961, 5, 24).unwrap(),
        sex: pumpside::domain::patient::Sex::Female,
        height_cm: "162".parse().unwrap(),
        weight_kg: "58.5".parse().unwrap(),
        blood_group: pumpside::domain::patient::BloodGroup::APos,
        allergies: vec![],
    });
    let html = render(f).await;
    assert!(html.contains(r#"data-prefilled="0""#) && html.contains(r#"data-prefilled="1""#));
    assert!(html.contains("from the case"));
    // Mosteller 162 cm / 58.5 kg = √(162 · 58.5 / 3600) = 1.622 m².
    assert!(html.contains(">1.622<"), "{html}");
}

#[tokio::test]
async fn settings_show_where_the_record_lives_and_the_schema_version() {
    let html = render(fixture(Screen::Settings)).await;
    assert!(html.contains("/tmp/pumpside-ssr"));
    assert!(
        html.contains(&format!(
            "Schema version</span><span class=\"v\">{}",
            pumpside::store::latest_version()
        )),
        "{html}"
    );
    assert!(html.contains("not cleared for clinical use"));
    assert!(
        html.contains("not required (protocol [security] require_bonding)"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_devices_screen_shows_state_signal_battery_last_value_mapping_and_problems() {
    use pumpside::devices::gatt::characteristic as ch;
    use pumpside::devices::memory::MemoryPeer;
    use pumpside::devices::SessionConfig;

    let services = services().await;
    // A thermometer with an identity and a battery, and one without a serial number.
    let thermo = MemoryPeer::new("Thermo T1", &[ch::TEMPERATURE_MEASUREMENT]);
    thermo.set_value(ch::MANUFACTURER_NAME, b"Acme");
    thermo.set_value(ch::MODEL_NUMBER, b"Thermo 2");
    thermo.set_value(ch::SERIAL_NUMBER, b"T-1");
    thermo.set_value(ch::BATTERY_LEVEL, &[64]);
    let anon = MemoryPeer::new("Cuff", &[ch::BLOOD_PRESSURE_MEASUREMENT]);
    anon.set_value(ch::MANUFACTURER_NAME, b"Acme");
    anon.set_value(ch::MODEL_NUMBER, b"BP-2");
    let spot = SessionConfig {
        expected_interval: None,
        ..SessionConfig::default()
    };
    services
        .devices()
        .attach(thermo.link(), SessionConfig::default(), false, Some(-57));
    services.devices().attach(anon.link(), spot, false, None);
    for _ in 0..100 {
        if thermo.is_subscribed(ch::TEMPERATURE_MEASUREMENT)
            && anon.is_subscribed(ch::BLOOD_PRESSURE_MEASUREMENT)
        {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    assert!(
        thermo
            .notify(ch::TEMPERATURE_MEASUREMENT, &[0, 0x6c, 1, 0, 0xff])
            .await
    );
    assert!(anon.notify(ch::BLOOD_PRESSURE_MEASUREMENT, &[0xff]).await);
    for _ in 0..100 {
        let b = services.devices().board();
        if b.iter().any(|d| !d.last.is_empty()) && b.iter().any(|d| d.rejected == 1) {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    let mut f = fixture(Screen::Devices);
    f.mode = AppMode::Live {
        adapter: "hci0".into(),
    };
    f.now = Utc::now();
    f.case = Some(CaseSummary {
        is_demo: false,
        ..demo_case()
    });
    let html = render_with(f, services).await;
    assert!(html.contains("Scan for devices"));
    assert!(html.contains(r#"data-device="Thermo T1""#));
    assert!(html.contains("sn:Acme|Thermo 2|T-1"));
    assert!(html.contains("battery 64 %"));
    assert!(html.contains("signal -57 dBm"));
    assert!(
        html.contains("temperature: 36.4 °C"),
        "units read as people write them: {html}"
    );
    assert!(!html.contains("Cel"), "no UCUM spelling on screen");
    // The thermometer feeds the patient temperature unless mapped elsewhere.
    assert!(html.contains(r#"value="patient-temp" selected"#), "{html}");
    assert!(html.contains("Assign to case"));
    assert!(
        html.contains("not recorded: assign it to a case"),
        "a device associated with nothing says it records nowhere"
    );
    // The cuff has no serial: it says why it cannot be identified, and its bad bytes are counted.
    assert!(html.contains("cannot be identified"));
    assert!(html.contains("1 refused, 0 duplicates suppressed"));
    assert!(
        html.contains("Blood Pressure"),
        "the refusal reason is shown"
    );
    assert!(html.contains("Pumpside cannot pair"));
}

#[tokio::test]
async fn the_sync_screen_shows_progress_figures_and_a_conflict_with_both_versions() {
    use pumpside::store::{OutboxNew, Outcome};
    use pumpside::sync::SyncStatus;
    let services = services().await;
    let case = services
        .store()
        .create_case(
            NewCase {
                kind: CaseKind::Cpb,
                patient: None,
                label: "conflicted".into(),
                is_demo: false,
                status: CaseStatus::Running,
            },
            services.author().clone(),
        )
        .await
        .unwrap();
    services
        .store()
        .enqueue(
            case.id,
            vec![OutboxNew {
                source: pumpside::store::OpSource::Run,
                resource_type: "Procedure".into(),
                resource_key: "k1".into(),
                operation: pumpside::store::Operation::Update,
                payload: r#"{"resourceType":"Procedure","status":"completed"}"#.into(),
            }],
            1,
            0,
            services.author().clone(),
        )
        .await
        .unwrap();
    let seq = services.store().pending(10).await.unwrap()[0].seq;
    services
        .store()
        .record_outcomes(vec![(
            seq,
            Outcome::Conflict {
                server_version: r#"{"resourceType":"Procedure","status":"in-progress","note":[{"text":"edited on the ICU tablet"}]}"#.into(),
            },
        )])
        .await
        .unwrap();
    let mut f = fixture(Screen::Sync);
    f.sync = SyncState::Active(SyncStatus {
        server: "https://fhir.example.org/R4/".into(),
        pending: 3,
        acked: 120,
        conflicts: 1,
        last_error: Some("the server cannot be reached".into()),
        ..SyncStatus::default()
    });
    let html = render_with(f, services).await;
    assert!(html.contains("1 conflict(s) to resolve"), "{html}");
    assert!(html.contains(r#"data-sync="pending">3<"#));
    assert!(html.contains("the server cannot be reached"));
    assert!(html.contains(r#"data-sync-issue="conflict""#));
    assert!(html.contains("edited on the ICU tablet"), "theirs shown");
    let ours = html.find("This tablet").expect("ours");
    let theirs = html.find("The server</h4>").expect("theirs");
    assert!(html[ours..theirs].contains("completed"), "ours shown");
    assert!(html.contains("Kept on this device in this version"));
    assert!(
        html.contains(r#"data-action="keep-ours""#),
        "a person can decide"
    );
    assert!(html.contains(r#"data-action="accept-theirs""#));
}

#[tokio::test]
async fn the_ecmo_board_shows_followed_runs_pulled_from_the_server_with_their_age() {
    use pumpside::domain::patient::Mrn;
    use pumpside::store::PulledNew;
    let services = services().await;
    let mrn = Mrn {
        system: "urn:test:mrn".into(),
        value: "ECMO-77".into(),
    };
    services
        .store()
        .follow(mrn.clone(), true, services.author().clone())
        .await
        .unwrap();
    let at = |m: i64| (t0() + Duration::minutes(m)).to_rfc3339();
    let run = serde_json::json!({"resourceType":"Procedure","id":"r1","status":"in-progress",
        "code":{"text":"VA ECMO"},"performedPeriod":{"start": at(-600)},
        "location":{"display":"Cardiac ICU, bed 7"}});
    let flow = serde_json::json!({"resourceType":"Observation","id":"o1","status":"final",
        "code":{"text":"Pump flow"},"partOf":[{"reference":"Procedure/r1"}],
        "effectiveDateTime": at(25),"valueQuantity":{"value":3.85,"unit":"L/min"}});
    let pulled = [("Procedure", "r1", run), ("Observation", "o1", flow)]
        .into_iter()
        .map(|(t, id, body)| PulledNew {
            resource_type: t.into(),
            server_id: id.into(),
            version_id: "1".into(),
            last_updated: at(26),
            record_key: None,
            body: body.to_string(),
        })
        .collect();
    services
        .store()
        .record_pull(mrn, "Procedure".into(), pulled, None)
        .await
        .unwrap();
    let html = render_with(fixture(Screen::EcmoBoard), services).await;
    assert!(html.contains(r#"data-followed="ECMO-77""#), "{html}");
    assert!(html.contains("VA ECMO · running"));
    assert!(html.contains("3.85 L/min"));
    assert!(
        html.contains(r#"data-location="">Cardiac ICU, bed 7<"#),
        "where the patient is: {html}"
    );
    assert!(html.contains("(5 min ago)"), "age of the value: {html}");
    assert!(html.contains("the bedside console and its alarms are primary"));
    assert!(
        html.contains("No server is configured"),
        "says why nothing is pulled"
    );
}

#[tokio::test]
async fn settings_offer_the_fhir_server_and_credentials_without_showing_secrets() {
    let html = render(fixture(Screen::Settings)).await;
    assert!(html.contains("FHIR server and credentials"), "{html}");
    assert!(html.contains("no server: records stay on this device"));
    assert!(html.contains(r#"data-action="save-sync""#));
    assert!(html.contains("OAuth2 client credentials"));
}

/// The live screen of a case on bypass with heparin, a low ACT and a gas with a high K⁺ and
/// lactate: the patient banner names the patient; the whole gas panel is on the timeline with the
/// two values flagged; the ACT advisory is in the alert strip; the laboratory tiles carry the
/// gas's values and the ACT against the target.
#[tokio::test]
async fn the_live_case_names_the_patient_and_flags_the_gas_and_the_act() {
    use pumpside::domain::bloodgas::{
        Analyte, AnalyteValue, BloodGasPanel, GasTemperature, SampleSite,
    };
    let case = demo_case();
    let mut f = fixture(Screen::Live);
    f.case = Some(case.clone());
    f.patient = Some(pumpside::domain::Patient {
        mrn: pumpside::domain::patient::Mrn {
            system: "urn:pumpside:mrn".into(),
            value: "LIVE-7".into(),
        },
        family_name: "Hopper".into(),
        given_names: "Grace".into(),
        birth_date: chrono::NaiveDate::from_ymd_opt(1946, 12, 9).unwrap(),
        sex: pumpside::domain::patient::Sex::Female,
        height_cm: "168".parse().unwrap(),
        weight_kg: "61".parse().unwrap(),
        blood_group: pumpside::domain::patient::BloodGroup::ONeg,
        allergies: vec!["protamine: anaphylaxis".into()],
    });
    let at = |min: i64| f.now - Duration::minutes(min);
    let with = |payload: EntryPayload, min: i64, seq: u64| Entry {
        payload,
        ..event(&case, EventKind::BypassOn, at(min), seq)
    };
    let gas = BloodGasPanel {
        site: SampleSite::PatientArtery,
        temperature: GasTemperature::At37,
        results: [
            (Analyte::Ph, "7.380", ""),
            (Analyte::Pco2, "41", "mmHg"),
            (Analyte::Po2, "245", "mmHg"),
            (Analyte::Hco3, "24.1", "mmol/L"),
            (Analyte::Hb, "8.4", "g/dL"),
            (Analyte::Hct, "25", "%"),
            (Analyte::K, "5.9", "mmol/L"),
            (Analyte::Lactate, "3.4", "mmol/L"),
        ]
        .into_iter()
        .map(|(a, v, u)| {
            (
                a,
                AnalyteValue {
                    value: v.parse().unwrap(),
                    unit: u.into(),
                },
            )
        })
        .collect(),
        source: None,
    };
    f.entries = vec![
        with(
            EntryPayload::Heparin {
                units: "18000".parse().unwrap(),
            },
            40,
            2,
        ),
        with(
            EntryPayload::Act {
                seconds: "510".parse().unwrap(),
            },
            35,
            3,
        ),
        event(&case, EventKind::BypassOn, at(30), 4),
        with(EntryPayload::BloodGas(gas), 10, 5),
        with(
            EntryPayload::Act {
                seconds: "420".parse().unwrap(),
            },
            5,
            6,
        ),
    ];
    let html = render(f).await;
    for field in [
        "HOPPER, Grace",
        "79 y",
        "Female",
        "61 kg",
        "O−",
        "MRN LIVE-7",
        "Allergies: protamine: anaphylaxis",
    ] {
        assert!(html.contains(field), "banner shows {field}: {html}");
    }
    // Every analyte on the timeline, as typed; K⁺ and lactate flagged high, pH not.
    for lab in ["ph", "pco2", "po2", "hco3", "hb", "hct", "k", "lactate"] {
        assert!(
            html.contains(&format!("data-lab=\"{lab}\"")),
            "{lab} on the timeline"
        );
    }
    assert!(html.contains("pH 7.380"), "as typed, trailing zero kept");
    assert!(html.contains(r#"data-lab="k" data-flag="high""#), "{html}");
    assert!(html.contains(r#"data-lab="lactate" data-flag="high""#));
    assert!(html.contains(r#"data-lab="ph" data-flag="none""#));
    // The ACT of 420 s after heparin, on bypass: flagged low and an advisory.
    assert!(html.contains(r#"data-lab="act" data-flag="low""#));
    assert!(html.contains(r#"data-advisory="act-low""#), "{html}");
    assert!(html.contains("ACT 420 s at"));
    // Laboratory tiles: fed by the gas and the ACT.
    assert!(tile(&html, "lab-k").contains(r#"data-level="high""#));
    assert!(tile(&html, "lab-k").contains("5.9"));
    assert!(tile(&html, "lab-lactate").contains(r#"data-level="high""#));
    assert!(tile(&html, "act").contains(r#"data-level="low""#));
    assert!(tile(&html, "act").contains("420"));
    assert!(tile(&html, "haematocrit").contains("blood gas (arterial)"));
    assert!(tile(&html, "haematocrit").contains(">25<"));
}

/// Results the hospital's laboratory posted for the live case's patient are offered beside the
/// live values with an Accept button (48 px, `accept-lab`), summarised with their source.
#[tokio::test]
async fn laboratory_results_for_the_patient_are_offered_in_the_live_case() {
    use pumpside::domain::patient::{BloodGroup, Mrn, Sex};
    use pumpside::store::PulledNew;
    let services = services().await;
    let mrn = Mrn {
        system: "urn:pumpside:mrn".into(),
        value: "LAB-9".into(),
    };
    let patient = services
        .store()
        .create_patient(
            pumpside::domain::Patient {
                mrn: mrn.clone(),
                family_name: "Lovelace".into(),
                given_names: "Ada".into(),
                birth_date: chrono::NaiveDate::from_ymd_opt(1952, 12, 10).unwrap(),
                sex: Sex::Female,
                height_cm: "165".parse().unwrap(),
                weight_kg: "58".parse().unwrap(),
                blood_group: BloodGroup::APos,
                allergies: vec![],
            },
            services.author().clone(),
        )
        .await
        .unwrap();
    let case = services
        .store()
        .create_case(
            NewCase {
                kind: CaseKind::Cpb,
                patient: Some(patient),
                label: "CABG · labs".into(),
                is_demo: false,
                status: CaseStatus::Running,
            },
            services.author().clone(),
        )
        .await
        .unwrap();
    let taken = (Utc::now() - Duration::minutes(4)).to_rfc3339();
    let lab = |id: &str, code: &str, value: &str, unit: &str| PulledNew {
        resource_type: "Observation".into(),
        server_id: id.into(),
        version_id: "1".into(),
        last_updated: taken.clone(),
        record_key: None,
        body: format!(
            r#"{{"resourceType":"Observation","id":"{id}","status":"final","code":{{"coding":[{{"system":"http://loinc.org","code":"{code}"}}]}},"effectiveDateTime":"{taken}","performer":[{{"display":"Central laboratory"}}],"valueQuantity":{{"value":{value},"unit":"{unit}"}}}}"#
        ),
    };
    services
        .store()
        .record_pull(
            mrn,
            "Observation:lab".into(),
            vec![
                lab("k1", "6298-4", "5.80", "mmol/L"),
                lab("l1", "32693-4", "2.1", "mmol/L"),
            ],
            None,
        )
        .await
        .unwrap();
    let mut f = fixture(Screen::Live);
    f.now = Utc::now();
    f.case = Some(case);
    let html = render_with(f, services).await;
    assert!(html.contains(r#"data-lab-offers="1""#), "{html}");
    assert!(html.contains("laboratory</h3>"), "{html}");
    assert!(html.contains("K⁺ 5.80 mmol/L"), "as sent: {html}");
    assert!(html.contains("Lactate 2.1 mmol/L"));
    assert!(html.contains("(Central laboratory)"));
    assert!(html.contains(r#"data-testid="accept-lab""#));
}

/// Malformed `sync.toml` files carrying a bearer token, each given to the real start-up: the app
/// starts and keeps recording on this device (offline), the Sync screen, the Settings screen and
/// the status bar name the problem by line and key, and neither they nor the log (everything
/// the app writes to stderr, at every level) carry any piece of the token.
#[tokio::test]
async fn a_malformed_sync_toml_is_named_without_the_token_and_the_app_keeps_recording() {
    use pumpside::app::AppConfig;
    let token = "eyJhbGciOiJSUzI1NiJ9.SECRET-PAYLOAD.sig";
    let files = [
        format!("server = \"https://fhir.example.org/\"\ntoken = {token}\n"),
        format!("server = \"https://fhir.example.org/\"\ntoken = \"{token}\n"),
        format!(
            "server = \"https://fhir.example.org/\"\ntoken = \"{token}\"\ntoken = \"{token}\"\n"
        ),
        format!("server = \"https://fhir.example.org/\"\ntoken = \"{token}\"\nbatch = \"many\"\n"),
    ];
    for text in files {
        let (sink, _log) = crate::capture_log();

        let dir = crate::temp_dir();
        std::fs::write(dir.path().join("sync.toml"), &text).unwrap();
        let config = AppConfig::parse(
            vec!["--demo".into(), "--key-store".into(), "file".into()],
            Some(dir.path().to_path_buf()),
            None,
        )
        .unwrap();
        let services = Services::start(config, std::time::Instant::now())
            .await
            .expect("a bad sync.toml does not stop the app");
        let state = services.sync_state().borrow().clone();
        let SyncState::Misconfigured(why) = &state else {
            panic!("{state:?} for {text:?}")
        };
        assert!(why.starts_with("sync.toml: line "), "{why}");

        // Offline, the record goes on: the demo case records samples.
        let case = services.current_case().await.unwrap().expect("demo case");
        let mut recorded = 0;
        for _ in 0..50 {
            recorded = services.store().telemetry_stats().await.unwrap().samples;
            if recorded > 0 {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
        assert!(recorded > 0, "recording goes on in {:?}", case.id);

        let mut screens = String::new();
        for screen in [Screen::Sync, Screen::Settings] {
            let mut f = fixture(screen);
            f.sync = state.clone();
            screens.push_str(&render_with(f, services.clone()).await);
        }
        assert!(
            screens.contains(r#"data-sync="misconfigured""#),
            "{screens}"
        );
        assert!(screens.contains("Sync settings invalid"), "status bar");
        assert!(
            screens.contains("not in force: sync.toml: line"),
            "settings"
        );
        let log = sink.text();
        assert!(log.contains("sync settings unusable"), "{log}");
        for piece in ["SECRET", "eyJhbGci", "PAYLOAD", ".sig"] {
            assert!(!screens.contains(piece), "{piece} on screen for {text:?}");
            assert!(
                !log.contains(piece),
                "{piece} in the log for {text:?}: {log}"
            );
        }
    }
}

/// A record changed while the app was closed, started the real way: the dropped protection is
/// restored at open, the whole-record check that start-up runs in the background finds the
/// edited entry, and every screen says so plainly (banner), with the findings, when the check ran
/// and what it covered on Settings. The data folder and database are owner-only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_changed_while_closed_is_shown_on_every_screen_after_start() {
    use pumpside::app::AppConfig;
    let dir = crate::temp_dir();
    let start = || async {
        let config = AppConfig::parse(
            vec!["--demo".into(), "--key-store".into(), "file".into()],
            Some(dir.path().to_path_buf()),
            None,
        )
        .unwrap();
        Services::start(config, std::time::Instant::now())
            .await
            .unwrap()
    };
    // The first run in a runtime of its own, shut down afterwards: every task and store handle
    // of that run is gone, as when the app closes.
    let first_dir = dir.path().to_path_buf();
    let (case, db_path) = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let out = rt.block_on(async {
            let config = AppConfig::parse(
                vec!["--demo".into(), "--key-store".into(), "file".into()],
                Some(first_dir),
                None,
            )
            .unwrap();
            let services = Services::start(config, std::time::Instant::now())
                .await
                .unwrap();
            let case = services
                .current_case()
                .await
                .unwrap()
                .expect("demo case")
                .id;
            (case, services.config().database_path())
        });
        rt.shutdown_timeout(StdDuration::from_secs(5));
        out
    })
    .join()
    .unwrap();
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    {
        let keys =
            pumpside::app::keys::open(dir.path(), pumpside::app::config::KeyStore::File, true)
                .unwrap()
                .store_keys();
        let db = crate::raw_db(&db_path, &keys);
        db.execute_batch("DROP TRIGGER entries_no_update;").unwrap();
        db.execute(
            "UPDATE entries SET by_user = 'someone else' WHERE case_id = ?1 AND case_seq = 1",
            [case.to_string()],
        )
        .unwrap();
    }
    let services = start().await;
    let mut status = services.integrity();
    for _ in 0..100 {
        status = services.integrity();
        if status.checked.is_some() {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert!(
        status.checked.is_some(),
        "the start-up check ran: {status:?}"
    );
    let text = status.findings.join("\n");
    assert!(
        text.contains("entries_no_update: was removed outside Pumpside; restored")
            && text.contains(&format!(
                "timeline entry number 1 of case {case}: does not match its seal"
            )),
        "{text}"
    );
    let audit = services.case_audit(case).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|l| l.security && l.what.contains("does not match its seal")),
        "the case's audit view shows the finding: {audit:?}"
    );
    for screen in [Screen::Live, Screen::Cases, Screen::Settings] {
        let html = render_with(fixture(screen), services.clone()).await;
        assert!(
            html.contains(r#"data-record="altered""#)
                && html.contains("The record was changed outside Pumpside"),
            "{screen:?}: {html}"
        );
        if screen == Screen::Settings {
            assert!(html.contains(r#"data-integrity="altered""#), "{html}");
            assert!(html.contains("does not match its seal"), "{html}");
            assert!(html.contains("Check the whole record now"));
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.path()), 0o700, "data folder");
        assert_eq!(mode(&db_path), 0o600, "database");
        let wal = db_path.with_extension("sqlite3-wal");
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600, "write-ahead log");
        }
        let key = pumpside::app::keys::key_path(dir.path());
        assert_eq!(mode(&key), 0o600, "device key");
        assert_eq!(mode(key.parent().unwrap()), 0o700, "key folder");
    }
}

/// A real installation's screens behind the sign-in sheet: enrolment at the first start, the
/// lock screen listing who may sign in, the status bar naming who is signed in, and nothing of
/// it in demo mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_installation_asks_for_enrolment_then_sign_in_and_demo_mode_does_not() {
    use pumpside::app::AppConfig;
    use pumpside::domain::user::Role;
    let dir = crate::temp_dir();
    let config = AppConfig::parse(
        vec!["--key-store".into(), "file".into()],
        Some(dir.path().to_path_buf()),
        None,
    )
    .unwrap();
    let services = Services::start(config, std::time::Instant::now())
        .await
        .unwrap();
    let html = render_with(fixture(Screen::Live), services.clone()).await;
    assert!(html.contains(r#"data-access="enrol""#), "{html}");
    assert!(
        html.contains("Enrol this device&#39;s administrator")
            || html.contains("Enrol this device's administrator")
    );
    assert!(html.contains("Recording goes on while the screen is locked"));

    let access = services.access().clone();
    access
        .enrol_administrator("Grace Admin", "284913")
        .await
        .unwrap();
    access
        .add_user("Paul Perfusionist", Role::Perfusionist, "730184")
        .await
        .unwrap();
    let html = render_with(fixture(Screen::Live), services.clone()).await;
    assert!(!html.contains("data-access="), "signed in: no sheet");
    assert!(html.contains("User: Grace Admin · Administrator"), "{html}");
    assert!(html.contains(r#"data-action="lock""#));
    let settings = render_with(fixture(Screen::Settings), services.clone()).await;
    assert!(
        settings.contains(r#"data-section="users""#)
            && settings.contains(r#"data-user-row="Paul Perfusionist""#)
            && settings.contains("Paul Perfusionist · Perfusionist")
            && settings.contains(r#"data-action="add-user""#)
            && settings.matches(r#"data-action="edit-user""#).count() == 2,
        "{settings}"
    );
    assert!(
        settings.contains("after 5 min without a touch (protocol [security])"),
        "{settings}"
    );
    // Where the device key lives, and the administrator's recovery form; then a copy is made.
    assert!(
        settings.contains(r#"data-section="device-key""#)
            && settings.contains("(not in the OS key store: chosen with --key-store file)")
            && settings.contains("none yet: if the key store loses the key")
            && settings.contains(r#"data-action="set-recovery""#),
        "{settings}"
    );
    services
        .set_recovery_passphrase("perfusion record key", "perfusion record key")
        .await
        .unwrap();
    let settings = render_with(fixture(Screen::Settings), services.clone()).await;
    assert!(
        settings.contains("Recovery copy</span><span class=\"v\">made 20"),
        "{settings}"
    );

    access.lock("tapped Lock").await;
    let html = render_with(fixture(Screen::Settings), services.clone()).await;
    assert!(html.contains(r#"data-access="sign-in""#), "{html}");
    assert!(
        html.contains("Locked. Grace Admin or another user: sign in"),
        "{html}"
    );
    assert!(html.contains(r#"data-user="Paul Perfusionist""#));

    let demo_dir = crate::temp_dir();
    let demo = AppConfig::parse(
        vec!["--demo".into(), "--key-store".into(), "file".into()],
        Some(demo_dir.path().to_path_buf()),
        None,
    )
    .unwrap();
    let demo = Services::start(demo, std::time::Instant::now())
        .await
        .unwrap();
    let html = render_with(fixture(Screen::Live), demo.clone()).await;
    assert!(!html.contains("data-access="), "no sign-in in demo mode");
    let demo_settings = render_with(fixture(Screen::Settings), demo.clone()).await;
    assert!(!demo_settings.contains(r#"data-section="users""#));
    assert!(html.contains("User: Demo perfusionist"));
}

/// The ECMO board ranks the running ECMO cases on this tablet with the protocol's rules: low
/// flow (weight 100 in the default protocol) before a run whose device went silent 47 minutes
/// ago (95), each saying why in words; a steady run is last with nothing found; a CPB case is
/// not on the board.
#[tokio::test]
async fn the_ecmo_board_ranks_runs_on_this_tablet_by_urgency_with_reasons() {
    use pumpside::domain::telemetry::{Channel, DeviceTime, Sample};
    use pumpside::domain::{ChannelId, Decimal};
    let services = services().await;
    let store = services.store().clone();
    let now = chrono::Utc::now();
    let run = |label: &'static str, kind, flow: i64, silent_min: i64| {
        let store = store.clone();
        async move {
            let case = store
                .create_case(
                    NewCase {
                        kind,
                        patient: None,
                        label: label.into(),
                        is_demo: false,
                        status: CaseStatus::Running,
                    },
                    Author::new("SSR perfusionist", "ssr-tablet"),
                )
                .await
                .unwrap()
                .id;
            let ch = Channel {
                id: ChannelId::new(),
                case_id: case,
                parameter: Parameter::PumpFlow,
                unit: "L/min".into(),
                source_device: "Acme ECMO console SN 7".into(),
                expected_interval_ms: 1000,
            };
            store.create_channel(ch.clone()).await.unwrap();
            // An hour of flow a minute apart, ending `silent_min` minutes ago.
            let samples = (0..60)
                .map(|i| Sample {
                    seq: i as u64 + 1,
                    received_at: now - Duration::minutes(silent_min + 59 - i),
                    device_time: DeviceTime::Unknown,
                    value: Decimal::new(flow, -2),
                    validity: Validity::Valid,
                })
                .collect();
            store.append_samples(vec![(ch.id, samples)]).await.unwrap();
        }
    };
    run("Bed 3 VA", CaseKind::EcmoVa, 120, 0).await;
    let bed3 = store
        .list_cases()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.label == "Bed 3 VA")
        .unwrap();
    store
        .append_entry(pumpside::domain::NewEntry {
            case_id: bed3.id,
            occurred_at: now - Duration::minutes(5),
            author: Author::new("SSR perfusionist", "ssr-tablet"),
            payload: EntryPayload::Location {
                unit: "Cardiac ICU".into(),
                bed: "3".into(),
            },
        })
        .await
        .unwrap();
    run("Bed 7 VV", CaseKind::EcmoVv, 400, 47).await;
    run("Bed 9 VA", CaseKind::EcmoVa, 380, 0).await;
    run("OR 2 CABG", CaseKind::Cpb, 100, 0).await;
    let html = render_with(fixture(Screen::EcmoBoard), services).await;
    let order: Vec<&str> = html
        .match_indices(r#"data-ranked-run=""#)
        .map(|(i, m)| {
            let rest = &html[i + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(order, ["Bed 3 VA", "Bed 7 VV", "Bed 9 VA"], "{html}");
    assert!(html.contains("no data for 47 min"), "{html}");
    assert!(html.contains("flow 1.2 L/min, below 1.5"), "{html}");
    assert!(html.contains("VA ECMO · day 1"), "{html}");
    assert!(
        html.contains(r#"data-location="">Cardiac ICU, bed 3<"#),
        "{html}"
    );
    assert!(html.contains("nothing found"));
    assert!(html.contains("the ECMO console keeps the primary alarms"));
}

/// An ECMO run's handover notes: newest first, each with who and when; a retracted note is
/// gone; a CPB case without a handover note shows no panel.
#[tokio::test]
async fn an_ecmo_runs_handover_notes_show_newest_first_with_who_and_when() {
    let case = CaseSummary {
        kind: CaseKind::EcmoVa,
        label: "Bed 3 VA".into(),
        ..demo_case()
    };
    let note = |seq: u64, min: i64, who: &str, text: &str| Entry {
        id: EntryId::new(),
        case_id: case.id,
        seq,
        occurred_at: t0() + Duration::minutes(min),
        recorded_at: t0() + Duration::minutes(min),
        author: Author::new(who, "icu-tablet-2"),
        payload: EntryPayload::HandoverNote { text: text.into() },
        prev_hash: [0; 32],
        hash: [0; 32],
    };
    let first = note(
        1,
        0,
        "Nia Night",
        "Sweep 3 L/min, clots seen at the connector.",
    );
    let second = note(2, 10, "Dev Day", "Oxygenator changed 09:40, lot 4471.");
    let wrong = note(3, 12, "Dev Day", "Wrong patient");
    let retraction = Entry {
        id: EntryId::new(),
        seq: 4,
        payload: EntryPayload::Retraction {
            target: wrong.id,
            reason: "written on the wrong run".into(),
        },
        ..note(4, 13, "Dev Day", "")
    };
    let moved = Entry {
        id: EntryId::new(),
        payload: EntryPayload::Location {
            unit: "Cardiac ICU".into(),
            bed: "7".into(),
        },
        ..note(5, 14, "Dev Day", "")
    };
    let html = render(Fixture {
        case: Some(case.clone()),
        entries: vec![first, second, wrong, retraction, moved],
        ..fixture(Screen::Live)
    })
    .await;
    assert!(
        html.contains(r#"<span class="chip" data-location="">Cardiac ICU, bed 7</span>"#),
        "the banner says where the patient is: {html}"
    );
    let newer = html
        .find("Oxygenator changed 09:40")
        .expect("the newer note");
    let older = html.find("Sweep 3 L/min").expect("the older note");
    assert!(newer < older, "newest first: {html}");
    assert!(html.contains("Dev Day"), "{html}");
    assert!(html.contains("Nia Night"));
    assert_eq!(html.matches("data-handover").count(), 2, "{html}");
    assert!(
        !html.contains(">Wrong patient<"),
        "a retracted note is gone"
    );

    let cpb = render(Fixture {
        case: Some(demo_case()),
        ..fixture(Screen::Live)
    })
    .await;
    assert!(!cpb.contains(r#"data-section="handover""#));
}

/// Followed runs pulled from the server are ranked by the same rules, from their newest values:
/// low flow first, then a run whose newest device value is 50 minutes old; a completed run and
/// a run of another client without Pumpside's kind code are not ranked.
#[tokio::test]
async fn followed_ecmo_runs_are_ranked_from_what_was_pulled() {
    use pumpside::domain::patient::Mrn;
    use pumpside::store::PulledNew;
    let services = services().await;
    let at = |m: i64| (t0() + Duration::minutes(m)).to_rfc3339();
    let kind = |k: &str| {
        serde_json::json!({"coding":[{"system":"https://pumpside.org/fhir/CodeSystem/pumpside",
            "code": format!("case-kind-{k}")}],"text":"ECMO"})
    };
    let flow = |run: &str, id: &str, value: f64, minute: i64| {
        serde_json::json!({"resourceType":"Observation","id":id,"status":"final",
            "code":{"coding":[{"system":"https://pumpside.org/fhir/CodeSystem/pumpside","code":"pump-flow"}],"text":"Pump flow"},
            "partOf":[{"reference":format!("Procedure/{run}")}],
            "effectiveDateTime": at(minute),"valueQuantity":{"value":value,"unit":"L/min"}})
    };
    for (mrn, run, k, status, value, minute) in [
        ("ECMO-1", "r1", "ecmo-va", "in-progress", 1.1, 25),
        ("ECMO-2", "r2", "ecmo-vv", "in-progress", 4.0, -20),
        ("ECMO-3", "r3", "ecmo-va", "completed", 0.5, 25),
    ] {
        let mrn = Mrn {
            system: "urn:test:mrn".into(),
            value: mrn.into(),
        };
        services
            .store()
            .follow(mrn.clone(), true, services.author().clone())
            .await
            .unwrap();
        let procedure = serde_json::json!({"resourceType":"Procedure","id":run,"status":status,
            "code": kind(k),"performedPeriod":{"start": at(-600)}});
        let pulled = [
            ("Procedure", run.to_string(), procedure),
            (
                "Observation",
                format!("o-{run}"),
                flow(run, &format!("o-{run}"), value, minute),
            ),
        ]
        .into_iter()
        .map(|(t, id, body)| PulledNew {
            resource_type: t.into(),
            server_id: id,
            version_id: "1".into(),
            last_updated: at(26),
            record_key: None,
            body: body.to_string(),
        })
        .collect();
        services
            .store()
            .record_pull(mrn, "Procedure".into(), pulled, None)
            .await
            .unwrap();
    }
    let html = render_with(fixture(Screen::EcmoBoard), services).await;
    let order: Vec<&str> = html
        .match_indices(r#"data-ranked-remote=""#)
        .map(|(i, m)| {
            let rest = &html[i + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(order, ["ECMO-1", "ECMO-2"], "{html}");
    assert!(html.contains("flow 1.1 L/min, below 1.5"), "{html}");
    assert!(html.contains("no data for 50 min"), "{html}");
}

/// The board on a phone: followed runs pulled as SampledData chunks are ranked with their
/// reasons, each card shows the headline values with their ages, flow and ΔP sparklines and the
/// time since the run's last upload; the open run's detail shows every pulled trend decoded
/// back, the calculations and the timeline. The phone layout is a CSS rule at 480 px.
#[tokio::test]
async fn the_on_call_board_and_a_runs_detail_at_phone_width() {
    use pumpside::domain::patient::Mrn;
    use pumpside::store::PulledNew;
    let services = services().await;
    let now = t0() + Duration::minutes(30);
    let start = now - Duration::hours(8);
    let code = |c: &str, text: &str| {
        serde_json::json!({"coding":[{"system":"https://pumpside.org/fhir/CodeSystem/pumpside",
            "code": c}],"text": text})
    };
    // 8 hours of 10-minute chunks at 1 Hz: flow 4.00, post 230, pre 230 + ΔP, ΔP rising from
    // 20 to 32 mmHg on ECMO-R (steady 20 on ECMO-S).
    for (mrn, run, rising) in [("ECMO-S", "s1", false), ("ECMO-R", "r1", true)] {
        let mrn = Mrn {
            system: "urn:test:mrn".into(),
            value: mrn.into(),
        };
        services
            .store()
            .follow(mrn.clone(), true, services.author().clone())
            .await
            .unwrap();
        let mut pulled = vec![(
            "Procedure".to_string(),
            run.to_string(),
            serde_json::json!({"resourceType":"Procedure","id":run,"status":"in-progress",
                "code": code("case-kind-ecmo-va", "VA ECMO"),
                "location": {"display": "Cardiac ICU, bed 4"},
                "subject": {"reference": format!("Patient/p-{run}")},
                "performedPeriod":{"start": start.to_rfc3339()}}),
        )];
        // A handover note from the bedside, as the server has it.
        pulled.push((
            "Observation".into(),
            format!("{run}-note"),
            serde_json::json!({"resourceType":"Observation","id":format!("{run}-note"),
                "status":"final","code": code("handover-note", "Handover note"),
                "partOf":[{"reference":format!("Procedure/{run}")}],
                "effectiveDateTime": (now - Duration::hours(2)).to_rfc3339(),
                "performer":[{"display":"Night perfusionist"}],
                "valueString":"Cannula sites dry. Heparin unchanged."}),
        ));
        for chunk in 0..48 {
            let at = start + Duration::minutes(10 * chunk);
            let dp = if rising { 20 + chunk / 4 } else { 20 };
            for (c, text, unit, value) in [
                ("pump-flow", "Pump flow", "L/min", "4.00".to_string()),
                (
                    "post-oxygenator-pressure",
                    "Post-oxygenator",
                    "mmHg",
                    "230".to_string(),
                ),
                (
                    "pre-oxygenator-pressure",
                    "Pre-oxygenator",
                    "mmHg",
                    (230 + dp).to_string(),
                ),
            ] {
                let id = format!("{run}-{c}-{chunk}");
                let data = vec![value.as_str(); 600].join(" ");
                pulled.push((
                    "Observation".into(),
                    id.clone(),
                    serde_json::json!({"resourceType":"Observation","id":id,"status":"final",
                        "code": code(c, text),
                        "partOf":[{"reference":format!("Procedure/{run}")}],
                        "effectivePeriod":{"start": at.to_rfc3339()},
                        "valueSampledData":{"origin":{"value":0,"unit":unit},"period":1000,
                            "dimensions":1,"data":data}}),
                ));
            }
        }
        let pulled = pulled
            .into_iter()
            .map(|(t, id, body)| PulledNew {
                resource_type: t,
                server_id: id,
                version_id: "1".into(),
                last_updated: (now - Duration::minutes(3)).to_rfc3339(),
                record_key: None,
                body: body.to_string(),
            })
            .collect();
        services
            .store()
            .record_pull(mrn, "Procedure".into(), pulled, None)
            .await
            .unwrap();
    }
    // A note written on this phone, not sent yet (no server): listed with where it is.
    services
        .store()
        .write_remote_note(
            pumpside::store::RemoteNoteNew {
                id: uuid::Uuid::now_v7(),
                mrn: Mrn {
                    system: "urn:test:mrn".into(),
                    value: "ECMO-R".into(),
                },
                run_id: "r1".into(),
                subject: "Patient/p-r1".into(),
                demo: false,
                text: "Called about the rising ΔP: circuit change planned 08:00.".into(),
            },
            services.author().clone(),
        )
        .await
        .unwrap();
    let html = render_with(
        Fixture {
            now,
            open_run: Some("ECMO-R".into()),
            ..fixture(Screen::EcmoBoard)
        },
        services,
    )
    .await;
    let order: Vec<&str> = html
        .match_indices(r#"data-ranked-remote=""#)
        .map(|(i, m)| {
            let rest = &html[i + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(order, ["ECMO-R", "ECMO-S"], "{html}");
    // 20 → 31 mmHg at 4 L/min: +55 % over 6 h (the hour ending 6 h ago against the last).
    assert!(html.contains("ΔP +"), "{html}");
    assert!(html.contains("over 6 h"), "{html}");
    assert!(html.contains("VA ECMO · day 1"), "{html}");
    assert!(html.contains("Cardiac ICU, bed 4"), "{html}");
    // Headline values with their ages; what was not pulled says so.
    let card = &html[html.find(r#"data-ranked-remote="ECMO-R""#).unwrap()..];
    assert!(card.contains(r#"data-glance="flow""#), "{card}");
    assert!(card.contains("4.00"), "{card}");
    assert!(
        card.contains(">31<") || card.contains(">31 <") || card.contains("31<small>"),
        "ΔP now: {card}"
    );
    assert!(card.contains("no value"), "speed was not pulled: {card}");
    assert!(card.contains("Last upload 3 min ago"), "{card}");
    // Two sparklines per card, drawn (a polyline each).
    assert!(card.contains(r#"data-spark="Flow 24 h""#) && card.contains(r#"data-spark="ΔP 24 h""#));
    assert!(card.contains("<polyline"), "{card}");
    // The open run's detail: every pulled trend, the calculations, 24 h / 7 days.
    let detail = &html[html
        .find(r#"data-run-detail="ECMO-R""#)
        .expect("the run's detail")..];
    for t in ["Pump flow", "Pre-oxygenator", "Post-oxygenator"] {
        assert!(
            detail.contains(&format!(r#"data-trend="{t}""#)),
            "{t}: {detail}"
        );
    }
    assert!(detail.contains("ΔP per flow"), "{detail}");
    assert!(detail.contains("7.8 mmHg per L/min"), "{detail}");
    assert!(detail.contains(r#"data-action="range-7d""#));
    // Handover notes, newest first: this phone's (waiting to send) above the bedside's; a form
    // to write one; a note is not an event.
    assert!(
        detail.contains(r#"data-action="save-handover-note""#),
        "{detail}"
    );
    let mine = detail
        .find("circuit change planned 08:00")
        .expect("this phone's note");
    let theirs = detail
        .find("Cannula sites dry")
        .expect("the bedside's note");
    assert!(mine < theirs, "newest first");
    assert!(detail.contains("Night perfusionist"), "{detail}");
    assert!(detail.contains("waiting to send"), "{detail}");
    let events = &detail[detail.find("<h3>Events</h3>").expect("events")..];
    assert!(!events.contains("Cannula sites dry"), "{events}");
    // Phone first: the card's value grid has a rule for narrow screens.
    let css = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/pumpside.css"))
        .unwrap();
    assert!(
        css.contains("@media (max-width: 480px)")
            && css.contains(".glance { grid-template-columns: repeat(3, 1fr); }")
    );
}

/// An ECMO run's live screen speaks ECMO: support, pump stop and trial off instead of bypass
/// and cross-clamp, the ECMO clocks, the circuit's tiles (speed, drainage, pre- and
/// post-oxygenator pressures and the ΔP across the oxygenator from the two) and no CPB-only
/// tile.
#[tokio::test]
async fn an_ecmo_runs_live_screen_speaks_ecmo() {
    let case = CaseSummary {
        kind: CaseKind::EcmoVa,
        label: "Bed 3 VA".into(),
        ..demo_case()
    };
    let now = t0() + Duration::minutes(30);
    let sample = |p: Parameter, v: &str, unit: &'static str| {
        let mut s = LiveSample::received(
            p,
            v.parse().unwrap(),
            unit,
            now,
            "ECMO console",
            Validity::Valid,
        )
        .unwrap();
        s.case = Some(case.id);
        s
    };
    let support = Entry {
        id: EntryId::new(),
        case_id: case.id,
        seq: 1,
        occurred_at: t0(),
        recorded_at: t0(),
        author: Author::new("SSR perfusionist", "ssr-tablet"),
        payload: EntryPayload::Event {
            event: pumpside::domain::EventKind::BypassOn,
        },
        prev_hash: [0; 32],
        hash: [0; 32],
    };
    let own = Entry {
        id: EntryId::new(),
        seq: 2,
        payload: EntryPayload::EcmoRule {
            key: "anti_xa_low".into(),
            value: "0.2".parse().unwrap(),
            why: "bleeding: low heparin".into(),
        },
        ..support.clone()
    };
    // Anticoagulation: a heparin bolus, an anti-Xa (0.25: inside this run's own range from
    // 0.2), a heparin dose as a drug, an aPTT above range.
    let at = |seq: u64, min: i64, payload: EntryPayload| {
        payload.validate().unwrap();
        Entry {
            id: EntryId::new(),
            seq,
            occurred_at: t0() + Duration::minutes(min),
            recorded_at: t0() + Duration::minutes(min),
            payload,
            ..support.clone()
        }
    };
    let measured = |p: Parameter, v: &str, unit: &str| EntryPayload::Measurement {
        parameter: p,
        value: v.parse().unwrap(),
        unit: unit.into(),
    };
    let anticoag = vec![
        at(
            3,
            1,
            EntryPayload::Heparin {
                units: "5000".parse().unwrap(),
            },
        ),
        at(4, 10, measured(Parameter::AntiXa, "0.25", "IU/mL")),
        at(
            5,
            12,
            EntryPayload::Drug {
                name: "Heparin".into(),
                dose: "2000".parse().unwrap(),
                unit: "[iU]".into(),
                volume_ml: None,
            },
        ),
        at(6, 20, measured(Parameter::Aptt, "96", "s")),
    ];
    let mut entries = vec![support, own];
    entries.extend(anticoag);
    let html = render(Fixture {
        case: Some(case.clone()),
        entries,
        now,
        samples: vec![
            sample(Parameter::PumpFlow, "4.10", "L/min"),
            sample(Parameter::PumpSpeed, "3350", "{rpm}"),
            sample(Parameter::PreOxygenatorPressure, "262", "mm[Hg]"),
            sample(Parameter::PostOxygenatorPressure, "231", "mm[Hg]"),
        ],
        ..fixture(Screen::Live)
    })
    .await;
    for action in [
        "bypass_off",
        "pump_stop",
        "trial_off_start",
        "blood_gas",
        "more",
    ] {
        assert!(
            html.contains(&format!(r#"data-action="{action}""#)),
            "{action}: {html}"
        );
    }
    assert!(html.contains(">End support<"), "{html}");
    assert!(
        html.contains("Support started"),
        "the timeline says support: {html}"
    );
    assert!(!html.contains("On bypass"), "{html}");
    assert!(
        html.contains(">Pump stop<") && html.contains(">Start trial off<"),
        "{html}"
    );
    assert!(
        !html.contains(r#"data-action="cross_clamp_on""#),
        "no cross-clamp on ECMO"
    );
    for clock in ["support", "pump-stop", "trial-off"] {
        assert!(
            html.contains(&format!(r#"data-clock="{clock}""#)),
            "{clock}"
        );
    }
    assert!(!html.contains(r#"data-clock="cross-clamp""#));
    for tile in [
        "pump-speed",
        "drainage-pressure",
        "pre-oxygenator-pressure",
        "post-oxygenator-pressure",
        "oxygenator-dp",
        "heater-temp",
    ] {
        assert!(
            html.contains(&format!(r#"data-param="{tile}""#)),
            "{tile}: {html}"
        );
    }
    assert!(
        !html.contains(r#"data-param="arterial-outlet-temp""#),
        "CPB-only tile"
    );
    assert!(
        !html.contains(r#"data-param="temp-gradient""#),
        "CPB-only tile"
    );
    // ΔP = 262 − 231.
    let dp = &html[html.find(r#"data-param="oxygenator-dp""#).unwrap()..];
    assert!(dp[..400].contains(">31<"), "{}", &dp[..400]);
    let speed = &html[html.find(r#"data-param="pump-speed""#).unwrap()..];
    assert!(speed[..300].contains(">3350<"), "{}", &speed[..300]);
    // The run's own range, with who, when and why.
    let own = &html[html
        .find(r#"data-own-range="anti_xa_low""#)
        .expect("own range")..];
    assert!(
        own[..400].contains("anti_xa_low = 0.2") && own[..400].contains("bleeding: low heparin"),
        "{}",
        &own[..400]
    );
    // The anticoagulation chart: both doses, each result against the run's range (anti-Xa in
    // range under the run's own low of 0.2, aPTT high) and, in the table, each result beside
    // the newest dose before it.
    let chart = &html[html
        .find(r#"data-section="anticoagulation""#)
        .expect("anticoagulation chart")..];
    assert_eq!(chart.matches("data-dose").count(), 2, "{chart}");
    assert!(
        chart.contains("anti-Xa 0.2–0.5"),
        "the run's own range: {chart}"
    );
    assert!(chart.contains(r#"data-result="in-range""#), "{chart}");
    assert!(chart.contains(r#"data-result="high""#), "{chart}");
    let table = &chart[chart.find("anticoag-table").expect("the table")..];
    let row = |text: &str| {
        let end = table
            .find(text)
            .unwrap_or_else(|| panic!("{text}: {table}"));
        let start = table[..end].rfind("<tr").unwrap();
        &table[start..end]
    };
    assert!(
        row("aPTT 96 s").contains("Heparin 2000 IU, 8 min"),
        "{}",
        row("aPTT 96 s")
    );
    assert!(
        row("anti-Xa 0.25 IU/mL").contains("Heparin 5000 IU, 9 min"),
        "{}",
        row("anti-Xa 0.25 IU/mL")
    );
    // A run of weeks is read by the day and the week (24 h first).
    let z24 = html.find(r#"data-zoom="24h""#).expect("24 h");
    let z7 = html.find(r#"data-zoom="7d""#).expect("7 days");
    assert!(z24 < z7);
    assert!(
        html[z24 - 80..z24].contains("current"),
        "24 h is the default"
    );
}
