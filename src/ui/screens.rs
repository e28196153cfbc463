//! One component per main screen. Screens that later issues fill say what they will hold.

use chrono::{DateTime, Duration, Utc};
use dioxus::prelude::*;

use std::collections::BTreeMap;

use super::shell::STALE_AFTER_SECS;
use super::state::{Screen, UiState};
use crate::app::calculator::{self, Prefill, CATALOGUE};
use crate::app::services::{DEMO_MRN_SYSTEM, LOCAL_MRN_SYSTEM};
use crate::app::view::OutboxState;
use crate::app::view::SyncState;
use crate::app::Services;
use crate::domain::intake;
use crate::domain::live::format_age;
use crate::domain::patient::{BloodGroup, Mrn, Sex};
use crate::domain::routing::Command;
use crate::domain::{AppMode, CaseStatus, Parameter};
use crate::domain::{CaseKind, Patient};

/// Heading plus a sentence saying what the screen holds (or will hold).
#[component]
fn ScreenHeader(title: &'static str, purpose: &'static str) -> Element {
    rsx! {
        h1 { class: "screen-title", "{title}" }
        p { class: "screen-purpose", "{purpose}" }
    }
}

#[component]
fn Planned(items: Vec<&'static str>) -> Element {
    rsx! {
        section { class: "planned",
            h2 { "Coming to this screen" }
            ul {
                for item in items {
                    li { key: "{item}", "{item}" }
                }
            }
        }
    }
}

#[component]
pub fn Cases() -> Element {
    let services = use_context::<Services>();
    let state = use_context::<UiState>();
    // Re-read when the followed case or its events change (e.g. demo case created).
    let cases = use_resource(move || {
        let services = services.clone();
        let _ = state.case.read();
        async move { services.list_cases().await }
    });
    let listing = match &*cases.read() {
        None => rsx! { p { class: "muted", "Loading cases…" } },
        Some(Err(e)) => rsx! { p { class: "error", "Cases could not be read: {e}" } },
        Some(Ok(list)) if list.is_empty() => rsx! {
            p { class: "empty", "No cases yet. Start the demo (pumpside --demo) to see one." }
        },
        Some(Ok(list)) => rsx! {
            ul { class: "case-list",
                for c in list.iter() {
                    li { key: "{c.id}", class: "case-row",
                        span { class: "case-label", "{c.label}" }
                        span { class: "chip", "{c.kind.label()}" }
                        span { class: if c.status == CaseStatus::Running { "chip running" } else { "chip" },
                            "{c.status.label()}" }
                        if c.is_demo { span { class: "chip demo", "DEMO" } }
                    }
                }
            }
        },
    };
    rsx! {
        ScreenHeader {
            title: "Cases",
            purpose: "Every case on this device: CPB, ECMO (VA, VV, ECPR), IABP, VAD, isolated perfusion and cell-saver cases, with their lifecycle from planned to signed."
        }
        StartCase {}
        h2 { class: "section-title", "On this device" }
        {listing}
    }
}

/// What looking up the typed MRN found.
#[derive(Debug, Clone, PartialEq)]
enum Lookup {
    NotYet,
    Found(Mrn, Patient),
    /// Not on this device: the demographics are typed from the hospital's record.
    New(Mrn),
}

/// Find the patient by MRN (or register them), choose the kind of case, start it in setup and
/// go to the live screen, where components, prime and targets come before bypass.
#[component]
fn StartCase() -> Element {
    let services = use_context::<Services>();
    let state = use_context::<UiState>();
    let default_system = if matches!(*state.mode.peek(), AppMode::Demo(_)) {
        DEMO_MRN_SYSTEM
    } else {
        LOCAL_MRN_SYSTEM
    };
    let mut system = use_signal(|| default_system.to_string());
    let mut mrn_text = use_signal(String::new);
    let mut lookup = use_signal(|| Lookup::NotYet);
    let mut typed = use_signal(BTreeMap::<String, String>::new);
    let mut sex = use_signal(|| Sex::Unknown);
    let mut blood = use_signal(|| BloodGroup::Unknown);
    let mut kind = use_signal(|| CaseKind::Cpb);
    let mut label = use_signal(String::new);
    let mut error = use_signal(|| None::<String>);
    let mut busy = use_signal(|| false);

    let find = {
        let services = services.clone();
        move || {
            let m = match intake::mrn(&system.peek(), &mrn_text.peek()) {
                Ok(m) => m,
                Err(e) => return error.set(Some(e.to_string())),
            };
            error.set(None);
            let services = services.clone();
            spawn(async move {
                match services.find_patient(&m).await {
                    Ok(Some((_, p))) => lookup.set(Lookup::Found(m, p)),
                    Ok(None) => {
                        typed.set(BTreeMap::new());
                        lookup.set(Lookup::New(m));
                    }
                    Err(e) => error.set(Some(format!("The patient list could not be read: {e}"))),
                }
            });
        }
    };
    let start = {
        let services = services.clone();
        move || {
            if *busy.peek() {
                return;
            }
            let today = state.now.peek().date_naive();
            let (m, register) = match lookup.peek().clone() {
                Lookup::NotYet => return,
                Lookup::Found(m, _) => (m, None),
                Lookup::New(m) => {
                    match intake::patient(
                        m.clone(),
                        &typed.peek(),
                        *sex.peek(),
                        *blood.peek(),
                        today,
                    ) {
                        Ok(p) => (m, Some(p)),
                        Err(e) => return error.set(Some(e.to_string())),
                    }
                }
            };
            let k = *kind.peek();
            let text = label.peek().trim().to_string();
            let name = if text.is_empty() {
                intake::default_label(k, &m)
            } else {
                text
            };
            busy.set(true);
            let services = services.clone();
            spawn(async move {
                match services.start_case(&m, register, k, name).await {
                    Ok(_) => {
                        error.set(None);
                        lookup.set(Lookup::NotYet);
                        mrn_text.set(String::new());
                        label.set(String::new());
                        state.navigate(Screen::Live);
                    }
                    Err(e) => error.set(Some(format!("The case was NOT started: {e}"))),
                }
                busy.set(false);
            });
        }
    };
    let mut find_key = find.clone();
    let mut find_tap = find;
    let mut start_key = start.clone();
    let mut start_tap = start;
    let current = lookup.read().clone();
    let chosen = kind();
    rsx! {
        section { class: "start-case", "data-section": "start-case",
            h2 { class: "section-title", "Start a case" }
            div { class: "form-grid",
                label { class: "form-field",
                    span { class: "form-label", "MRN issuer" }
                    input { class: "calc-input", "data-field": "mrn-system", initial_value: "{system}",
                        oninput: move |e| { system.set(e.value()); lookup.set(Lookup::NotYet); } }
                    span {}
                }
                label { class: "form-field",
                    span { class: "form-label", "MRN" }
                    input { class: "calc-input", "data-field": "mrn", initial_value: "{mrn_text}",
                        placeholder: "from the wristband",
                        oninput: move |e| { mrn_text.set(e.value()); lookup.set(Lookup::NotYet); },
                        onkeydown: move |e: KeyboardEvent| if e.key() == Key::Enter { find_key() },
                        // Ready for the wristband: a barcode scanner types the MRN and Enter.
                        onmounted: move |e| async move { let _ = e.set_focus(true).await; } }
                    span {}
                }
            }
            button { class: "start-button", "data-action": "find-patient", onclick: move |_| find_tap(), "Find patient" }
            match current.clone() {
                Lookup::NotYet => rsx! {},
                Lookup::Found(_, p) => rsx! {
                    p { class: "patient-found", "data-patient": "found", "{intake::describe(&p)}" }
                },
                Lookup::New(m) => rsx! {
                    p { class: "muted", "data-patient": "new",
                        "No patient with MRN {m.value} on this device. Type the demographics from the hospital's record:" }
                    div { class: "form-grid",
                        for (i, f) in intake::FIELDS.iter().enumerate() {
                            label { key: "{f.key}", class: "form-field",
                                span { class: "form-label", "{f.label}" }
                                input { class: "calc-input", "data-field": "{f.key}",
                                    placeholder: "{f.hint}",
                                    initial_value: typed.peek().get(f.key).cloned().unwrap_or_default(),
                                    oninput: move |e| { typed.write().insert(f.key.to_string(), e.value()); error.set(None); },
                                    onkeydown: {
                                        let mut start_key = start_key.clone();
                                        move |e: KeyboardEvent| if e.key() == Key::Enter { start_key() }
                                    },
                                    onmounted: move |e| async move { if i == 0 { let _ = e.set_focus(true).await; } } }
                                span {}
                            }
                        }
                    }
                    div { class: "choice-row", role: "group", "aria-label": "Sex",
                        span { class: "form-label", "Sex" }
                        for s in intake::SEXES {
                            button { key: "{s:?}", class: if sex() == s { "choice chosen" } else { "choice" },
                                "aria-pressed": "{sex() == s}", onclick: move |_| sex.set(s), "{intake::sex_label(s)}" }
                        }
                    }
                    div { class: "choice-row", role: "group", "aria-label": "Blood group",
                        span { class: "form-label", "Blood group" }
                        for b in intake::BLOOD_GROUPS {
                            button { key: "{b:?}", class: if blood() == b { "choice chosen" } else { "choice" },
                                "aria-pressed": "{blood() == b}", onclick: move |_| blood.set(b), "{intake::blood_group_label(b)}" }
                        }
                    }
                },
            }
            if current != Lookup::NotYet {
                div { class: "choice-row", role: "group", "aria-label": "Kind of case",
                    span { class: "form-label", "Kind" }
                    for k in CaseKind::ALL {
                        button { key: "{k.code()}", "data-kind": k.code(),
                            class: if chosen == k { "choice chosen" } else { "choice" },
                            "aria-pressed": "{chosen == k}", onclick: move |_| kind.set(k), "{k.label()}" }
                    }
                }
                label { class: "form-field",
                    span { class: "form-label", "Label" }
                    input { class: "calc-input", "data-field": "label", initial_value: "{label}",
                        placeholder: "default: kind and MRN",
                        oninput: move |e| label.set(e.value()),
                        onkeydown: move |e: KeyboardEvent| if e.key() == Key::Enter { start_key() } }
                    span {}
                }
                button { class: "start-button primary", "data-action": "start-case", disabled: busy(),
                    onclick: move |_| start_tap(), "Start case" }
            }
            if let Some(e) = error() {
                p { class: "form-error", role: "alert", "{e}" }
            }
        }
    }
}

/// The value of a live parameter that can pre-fill a calculator input.
fn prefill_value(live: &crate::domain::LiveSnapshot, from: Prefill) -> Option<f64> {
    let p = match from {
        Prefill::PumpFlow => Parameter::PumpFlow,
        Prefill::HctFraction => Parameter::Haematocrit,
        Prefill::ArterialOutletTemp => Parameter::ArterialOutletTemp,
        Prefill::VenousInflowTemp => Parameter::VenousInflowTemp,
        Prefill::Map => Parameter::MeanArterialPressure,
    };
    live.latest(p).map(|s| s.value)
}

/// Inputs of calculator `i`, pre-filled from the case where a live value exists.
fn calculator_inputs(i: usize, live: &crate::domain::LiveSnapshot) -> Vec<String> {
    CATALOGUE[i]
        .inputs
        .iter()
        .map(|input| {
            let v = input
                .prefill
                .and_then(|f| prefill_value(live, f))
                .unwrap_or(input.default);
            let s = format!("{v:.3}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        })
        .collect()
}

/// A result shown with sensible precision; fractions also as percent.
fn format_result(value: f64, unit: &str) -> String {
    let digits = if value.abs() >= 100.0 {
        0
    } else if value.abs() >= 10.0 {
        1
    } else {
        3
    };
    let s = format!("{value:.digits$}");
    if unit.is_empty() && (0.0..=1.0).contains(&value) {
        format!("{s} ({:.1} %)", value * 100.0)
    } else {
        s
    }
}

#[component]
pub fn Calculator() -> Element {
    let services = use_context::<Services>();
    let state = use_context::<UiState>();
    let mut selected = use_signal(|| 0usize);
    let mut typed = use_signal(|| calculator_inputs(0, &state.live.peek()));
    let index = selected().min(CATALOGUE.len() - 1);
    let spec = &CATALOGUE[index];
    let result = calculator::run(spec, &typed.read(), &services.protocol());
    let protocol = format!(
        "{} {}",
        services.protocol().name,
        services.protocol().version
    );
    rsx! {
        ScreenHeader {
            title: "Calculator",
            purpose: "Perfusion calculations with their formula and source, using this installation's protocol constants. Inputs are pre-filled from the running case where a value is known."
        }
        div { class: "calc",
            div { class: "calc-list",
                for (i, c) in CATALOGUE.iter().enumerate() {
                    button {
                        key: "{c.id}",
                        class: if i == index { "calc-item current" } else { "calc-item" },
                        "data-calc": c.id,
                        onclick: move |_| {
                            selected.set(i);
                            typed.set(calculator_inputs(i, &state.live.peek()));
                        },
                        "{c.title}"
                    }
                }
            }
            div { class: "calc-form",
                h2 { class: "calc-title", "{spec.title}" }
                for (k, input) in spec.inputs.iter().enumerate() {
                    label { key: "{spec.id}-{k}", class: "calc-field",
                        span { class: "calc-label", "{input.label}" }
                        input {
                            class: "calc-input",
                            r#type: "text",
                            inputmode: "decimal",
                            initial_value: "{typed.peek().get(k).cloned().unwrap_or_default()}",
                            oninput: move |e| {
                                if let Some(slot) = typed.write().get_mut(k) {
                                    *slot = e.value();
                                }
                            },
                        }
                        span { class: "calc-unit", "{input.unit}" }
                    }
                }
                match result {
                    Ok(r) => rsx! {
                        div { class: "calc-result", "data-result": spec.id,
                            span { class: "calc-value", "{format_result(r.value, r.unit)}" }
                            span { class: "calc-result-unit", " {r.unit}" }
                            p { class: "calc-formula", "{r.formula}" }
                            p { class: "muted", "Source: {r.source}" }
                            for (name, v) in r.constants.iter() {
                                p { key: "{name}", class: "muted", "Constant: {name} = {v}" }
                            }
                            for w in r.warnings.iter() {
                                p { key: "{w}", class: "calc-warning", "Advisory: {w}" }
                            }
                        }
                    },
                    Err(e) => rsx! { div { class: "calc-error", role: "alert", "{e}" } },
                }
                p { class: "note", "Protocol: {protocol}. Guidance only: check against your institution's protocol." }
            }
        }
    }
}

/// The ECMO board for the on-call team: patients followed by MRN, their runs as the hospital's
/// server has them (pulled by the sync engine), newest values with their age.
#[component]
pub fn EcmoBoard() -> Element {
    let services = use_context::<Services>();
    let state = use_context::<UiState>();
    let default_system = if matches!(*state.mode.peek(), AppMode::Demo(_)) {
        DEMO_MRN_SYSTEM
    } else {
        LOCAL_MRN_SYSTEM
    };
    let mut system = use_signal(|| default_system.to_string());
    let mut mrn_text = use_signal(String::new);
    let mut error = use_signal(|| None::<String>);
    let mut changed = use_signal(|| 0u64);
    let mut form_key = use_signal(|| 0u64);
    let svc = services.clone();
    // Re-read when a pull finishes and when the followed list changes (not on every status
    // change: an upload changes the status after each Bundle, and the board parses every
    // pulled version).
    let last_pull = use_memo(move || match &*state.sync.read() {
        SyncState::Active(s) => s.last_pull,
        _ => None,
    });
    let board = use_resource(move || {
        let svc = svc.clone();
        let _ = last_pull.read();
        let _ = changed.read();
        async move { svc.on_call().await }
    });
    let follow = {
        let services = services.clone();
        move |m: Mrn, on: bool| {
            let services = services.clone();
            spawn(async move {
                match services.follow(m, on).await {
                    Ok(()) => {
                        error.set(None);
                        *changed.write() += 1;
                    }
                    Err(e) => error.set(Some(format!("Not saved: {e}"))),
                }
            });
        }
    };
    let add = {
        let follow = follow.clone();
        move || {
            let parsed = intake::mrn(&system.peek(), &mrn_text.peek());
            match parsed {
                Ok(m) => {
                    follow(m, true);
                    mrn_text.set(String::new());
                    *form_key.write() += 1;
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        }
    };
    let add_key = add.clone();
    let mut add_tap = add;
    let now = *state.now.read();
    let sync = state.sync.read().clone();
    let pull_note = match &sync {
        SyncState::Active(s) => match (s.last_pull, &s.pull) {
            (Some(t), Some(r)) if !r.missing.is_empty() => format!(
                "Last pull {} ago. Not on the server: {}.",
                format_age(now - t),
                r.missing.join(", ")
            ),
            (Some(t), _) => format!("Last pull {} ago.", format_age(now - t)),
            _ => "Not pulled yet.".to_string(),
        },
        _ => "No server is configured (sync.toml): nothing can be pulled.".to_string(),
    };
    let followed = match &*board.read() {
        Some(Ok(f)) => f.clone(),
        _ => Vec::new(),
    };
    rsx! {
        ScreenHeader {
            title: "ECMO board",
            purpose: "Runs of the patients you follow, as the hospital's server has them, for the on-call team."
        }
        p { class: "note", "Values are copies from the server and can be minutes old: the bedside console and its alarms are primary." }
        // Keyed so that a followed MRN clears the (uncontrolled) field.
        for k in [form_key()] {
            div { key: "{k}", class: "form-grid",
                label { class: "form-field",
                    span { class: "form-label", "MRN issuer" }
                    input { class: "calc-input", "data-field": "follow-system", initial_value: "{system}",
                        oninput: move |e| system.set(e.value()) }
                    span {}
                }
                label { class: "form-field",
                    span { class: "form-label", "Follow MRN" }
                    input { class: "calc-input", "data-field": "follow-mrn", placeholder: "MRN",
                        oninput: move |e| { mrn_text.set(e.value()); error.set(None); },
                        // Ready for a wristband scanner or a typed MRN, as on the Cases screen.
                        onmounted: move |e| async move { let _ = e.set_focus(true).await; },
                        onkeydown: {
                            let mut add_key = add_key.clone();
                            move |e: KeyboardEvent| if e.key() == Key::Enter { add_key() }
                        } }
                    span {}
                }
            }
        }
        button { class: "start-button", "data-action": "follow", onclick: move |_| add_tap(), "Follow" }
        if let Some(e) = error() {
            p { class: "error", role: "alert", "{e}" }
        }
        p { class: "muted", "data-board": "pull", "{pull_note}" }
        if followed.is_empty() {
            p { class: "empty", "No patients followed on this device." }
        }
        for f in followed {
            section { key: "{f.mrn.system}|{f.mrn.value}", class: "remote-patient", "data-followed": "{f.mrn.value}",
                div { class: "remote-head",
                    h2 { class: "section-title", "MRN {f.mrn.value}" }
                    button { class: "choice", "data-action": "unfollow",
                        onclick: {
                            let follow = follow.clone();
                            let m = f.mrn.clone();
                            move |_| follow(m.clone(), false)
                        },
                        "Stop following" }
                }
                if f.held > 0 {
                    p { class: "muted", "{f.held} server version(s) of records this device is still uploading are not shown (they are older than this device's changes)." }
                }
                if f.runs.is_empty() {
                    p { class: "empty", "No runs on the server for this patient yet." }
                }
                for r in f.runs {
                    RemoteRunCard { key: "{r.server_id}", run: r, now }
                }
            }
        }
        Planned { items: vec![
            "Most urgent first: oxygenator pressure drop against the run's own baseline, overdue circuit checks, open advisories",
            "Run detail with 24 h and 7 d trends, check history and handover notes",
        ] }
    }
}

#[component]
fn RemoteRunCard(run: crate::app::view::RemoteRun, now: DateTime<Utc>) -> Element {
    let age = |t: DateTime<Utc>| format_age(now - t);
    let started = run
        .started
        .map(|t| format!("started {} ago", age(t)))
        .unwrap_or_default();
    let status = match (run.status.as_str(), run.signed) {
        ("in-progress", _) => "running".to_string(),
        ("preparation", _) => "in set-up".to_string(),
        ("completed", true) => "completed, signed".to_string(),
        (s, _) => s.to_string(),
    };
    rsx! {
        article { class: "remote-run", "data-run-status": "{run.status}",
            h3 {
                "{run.kind} · {status}"
                if run.demo { span { class: "badge", " demo" } }
            }
            p { class: "muted", "{run.label.clone().unwrap_or_default()} {started}" }
            if !run.latest.is_empty() {
                div { class: "kv",
                    for v in run.latest.iter() {
                        span { key: "k{v.name}", class: "k", "{v.name}" }
                        span { class: "v", "data-remote-value": "{v.name}",
                            "{v.value} {v.unit} " span { class: "muted", "({age(v.at)} ago)" } }
                    }
                }
            }
            if !run.timeline.is_empty() {
                ul { class: "remote-timeline",
                    for (i, e) in run.timeline.iter().take(6).enumerate() {
                        li { key: "{i}", "{e.text} " span { class: "muted", "({age(e.at)} ago)" } }
                    }
                }
            }
        }
    }
}

#[component]
pub fn Devices() -> Element {
    let services = use_context::<Services>();
    let state = use_context::<UiState>();
    let now = *state.now.read();
    let mode = state.mode.read().clone();
    let board = services.device_board();
    let mut scanning = use_signal(|| false);
    let mut scan_error = use_signal(|| None::<String>);
    let scanned = services.scanned();
    let can_scan = matches!(mode, AppMode::Live { .. });
    let case = state.case.read().clone();

    let scan = {
        let services = services.clone();
        move |_| {
            let services = services.clone();
            scanning.set(true);
            spawn(async move {
                let r = services.scan(std::time::Duration::from_secs(5)).await;
                scan_error.set(r.err().map(|e| format!("Scan failed: {e}")));
                scanning.set(false);
            });
        }
    };

    rsx! {
        ScreenHeader {
            title: "Devices",
            purpose: "Bedside devices: connection, signal, battery, last value and freshness; which case they serve and where their values go."
        }
        if let AppMode::Demo(_) = mode {
            p { class: "muted", "data-devices": "demo",
                "Demo: five virtual devices speak real Bluetooth profiles over an in-memory link. Their values are marked demo and never enter a patient's case."
            }
        }
        if can_scan {
            div { class: "scan-bar",
                button { class: "action", disabled: scanning(), onclick: scan,
                    if scanning() { "Scanning…" } else { "Scan for devices" }
                }
                if let Some(e) = scan_error() { span { class: "error", "{e}" } }
            }
            if !scanned.is_empty() {
                ul { class: "device-list",
                    for d in scanned {
                        {
                            let services = services.clone();
                            let label = d.name.clone().unwrap_or_else(|| "unnamed device".into());
                            let signal = d.rssi.map(|r| format!("{r} dBm")).unwrap_or_else(|| "signal unknown".into());
                            let connected = board.iter().any(|b| Some(&b.label) == d.name.as_ref());
                            rsx! {
                                li { class: "device-row",
                                    span { class: "device-name", "{label}" }
                                    span { class: "muted", "{signal}" }
                                    button { class: "action", disabled: connected,
                                        onclick: move |_| {
                                            let services = services.clone();
                                            let d = d.clone();
                                            spawn(async move {
                                                if let Err(e) = services.connect(&d).await {
                                                    tracing::warn!(error = %e, "connect failed");
                                                }
                                            });
                                        },
                                        if connected { "Connected" } else { "Connect" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if board.is_empty() {
            p { class: "empty", "No devices are connected." }
        } else {
            ul { class: "device-list",
                for d in board {
                    DeviceRow { device: d, now, case_id: case.as_ref().map(|c| c.id) }
                }
            }
        }
        p { class: "note",
            "Bonding (pairing) happens in the operating system's Bluetooth settings; Pumpside cannot pair. It connects to devices that are bonded or need no bond."
        }
    }
}

#[component]
fn DeviceRow(
    device: crate::app::BoardDevice,
    now: DateTime<Utc>,
    case_id: Option<crate::domain::CaseId>,
) -> Element {
    let services = use_context::<Services>();
    let state = use_context::<UiState>();
    let d = device;
    let id = d.id;
    let chip = if d.stale {
        "chip warn"
    } else if d.connected {
        "chip running"
    } else {
        "chip"
    };
    let latest = d.latest().map(|(name, (text, at))| {
        let age = now - *at;
        (
            format!("{name}: {text}"),
            format_age(age),
            age > Duration::seconds(STALE_AFTER_SECS),
        )
    });
    let identity = match &d.key {
        Ok(k) => k.clone(),
        Err(e) => format!("cannot be identified: {e}"),
    };
    let battery = d.battery.map(|b| format!("battery {b} %"));
    let signal = d.rssi.map(|r| format!("signal {r} dBm"));
    let offset = d
        .clock_offset_ms
        .map(|ms| format!("clock {:+.1} s", ms as f64 / 1000.0));
    let row_class = if d.stale || latest.as_ref().is_some_and(|l| l.2) {
        "device-row stale"
    } else {
        "device-row"
    };
    let key = d.key.clone().ok();
    let role: String = d
        .mapping
        .iter()
        .filter_map(|(n, p)| p.map(|p| format!("{n} → {}", p.label())))
        .collect::<Vec<_>>()
        .join(", ");
    let assign = {
        let services = services.clone();
        let key = key.clone();
        let role = role.clone();
        move |_| {
            let (Some(case), Some(key)) = (case_id, key.clone()) else {
                return;
            };
            let services = services.clone();
            let role = if role.is_empty() {
                "unmapped".to_string()
            } else {
                role.clone()
            };
            let mut notice = state.notice;
            spawn(async move {
                let cmd = Command::Associate {
                    device_key: key,
                    role: role.clone(),
                };
                if let Err(e) = services.case().command(case, cmd).await {
                    notice.set(Some(format!("Device not assigned: {e}")));
                }
            });
        }
    };
    let release = {
        let services = services.clone();
        let key = key.clone();
        move |_| {
            let (Some(case), Some(key)) = (case_id, key.clone()) else {
                return;
            };
            let services = services.clone();
            let mut notice = state.notice;
            spawn(async move {
                let cmd = Command::Release { device_key: key };
                if let Err(e) = services.case().command(case, cmd).await {
                    notice.set(Some(format!("Device not released: {e}")));
                }
            });
        }
    };
    let forget = {
        let services = services.clone();
        move |_| services.forget_device(id)
    };
    rsx! {
        li { class: "{row_class}", "data-device": "{d.label}",
            div { class: "device-main",
                span { class: "device-name", "{d.label}" }
                span { class: "{chip}", "{d.state}" }
                if d.simulated { span { class: "chip demo", "SIMULATED" } }
            }
            div { class: "device-meta muted",
                span { "{d.model}" }
                span { "{identity}" }
                if let Some(b) = battery { span { "{b}" } }
                if let Some(s) = signal { span { "{s}" } }
                if let Some(o) = offset { span { "{o}" } }
            }
            if let Some((text, age, stale)) = latest {
                div { class: if stale { "device-last stale" } else { "device-last" },
                    "{text} · {age} ago"
                }
            }
            div { class: "device-map",
                for (name, target) in d.mapping.clone() {
                    {
                        let services = services.clone();
                        let current = target.map(|p| p.code()).unwrap_or("none");
                        let name2 = name.clone();
                        rsx! {
                            label { class: "map-row",
                                span { "{name} →" }
                                select {
                                    value: "{current}",
                                    onchange: move |e| services.map_device(id, &name2, Parameter::from_code(&e.value())),
                                    option { value: "none", selected: target.is_none(), "not recorded" }
                                    for p in Parameter::ALL {
                                        option { value: "{p.code()}", selected: target == Some(p), "{p.label()}" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if d.rejected > 0 || d.duplicates > 0 {
                div { class: "muted", "{d.rejected} refused, {d.duplicates} duplicates suppressed" }
            }
            for n in d.notices.clone() { div { class: "device-notice", "{n}" } }
            div { class: "device-route",
                match (d.case, &d.assigned) {
                    (Some(c), Some(r)) if Some(c) == case_id => rsx! {
                        span { class: "chip running", "data-route": "this-case", "recording into this case: {r}" }
                    },
                    (Some(_), _) => rsx! {
                        span { class: "chip", "data-route": "other-case", "recording into another case" }
                    },
                    (None, _) => rsx! {
                        span { class: "chip warn", "data-route": "none", "not recorded: assign it to a case" }
                    },
                }
            }
            div { class: "device-actions",
                match (d.case == case_id && d.case.is_some(), d.case.is_some(), case_id.is_some() && key.is_some()) {
                    (true, _, _) => rsx! { button { class: "action", onclick: release, "Release" } },
                    (false, true, true) => rsx! { button { class: "action", "data-action": "assign", onclick: assign, "Move to this case" } },
                    (false, false, true) => rsx! { button { class: "action", "data-action": "assign", onclick: assign, "Assign to case" } },
                    (false, _, false) => rsx! {},
                }
                button { class: "action secondary", onclick: forget, "Forget" }
            }
        }
    }
}

/// A stored FHIR payload, indented for reading (as stored if it is not JSON).
fn pretty(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| text.to_string())
}

/// The issue texts of an OperationOutcome, or the text itself.
fn outcome_text(text: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return text.to_string();
    };
    let issues: Vec<String> = v["issue"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| {
                    let what = i["details"]["text"]
                        .as_str()
                        .or(i["diagnostics"].as_str())
                        .unwrap_or("no details");
                    match i["expression"][0].as_str() {
                        Some(at) => format!("{what} (at {at})"),
                        None => what.to_string(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if issues.is_empty() {
        text.to_string()
    } else {
        issues.join("; ")
    }
}

#[component]
pub fn SyncScreen() -> Element {
    let services = use_context::<Services>();
    let state = use_context::<UiState>();
    let sync = state.sync.read().clone();
    let short = sync.short();
    let loader = services.clone();
    let mut resolved = use_signal(|| 0u64);
    let mut resolve_error = use_signal(|| None::<String>);
    // Re-read the rows a person must look at whenever the sync state changes or one is resolved.
    let unsettled = use_resource(move || {
        let store = loader.clone();
        let _ = state.sync.read();
        let _ = resolved.read();
        async move { store.unsettled(50).await }
    });
    let now = *state.now.read();
    let ago = |t: DateTime<Utc>| format_age(now - t);
    let body = match &sync {
        SyncState::NotConfigured => rsx! {
            p { class: "empty", "data-sync": "off",
                "No server is configured: every record stays on this device. To sync, put sync.toml in the data directory (see docs/sync.md): the server's address (https, or http on this machine for tests) and a bearer token." }
        },
        SyncState::Misconfigured(why) => rsx! {
            p { class: "error", role: "alert", "data-sync": "misconfigured", "{why}" }
        },
        SyncState::Active(s) => rsx! {
            div { class: "kv",
                span { class: "k", "Server" } span { class: "v mono", "{s.server}" }
                span { class: "k", "Waiting to upload" } span { class: "v", "data-sync": "pending", "{s.pending}" }
                span { class: "k", "On the server" } span { class: "v", "data-sync": "acked", "{s.acked}" }
                span { class: "k", "Last success" }
                span { class: "v", match s.last_success { Some(t) => ago(t) + " ago", None => "never".to_string() } }
                if let Some((done, total)) = s.progress {
                    span { class: "k", "Uploading" }
                    progress { class: "run-progress", max: "{total}", value: "{done}" }
                }
                if let Some(e) = &s.last_error {
                    span { class: "k", "Last error" } span { class: "v error", "data-sync": "error", "{e}" }
                }
                if let Some(t) = s.next_try {
                    if s.pending > 0 {
                        span { class: "k", "Next try" } span { class: "v", "in {format_age(t - now)}" }
                    }
                }
                if let Some(p) = &s.paused {
                    span { class: "k", "Paused" } span { class: "v error", "{p}: enter the credentials in Settings" }
                }
            }
        },
    };
    let rows = match &*unsettled.read() {
        Some(Ok(rows)) => rows.clone(),
        _ => Vec::new(),
    };
    rsx! {
        ScreenHeader {
            title: "Sync",
            purpose: "Upload of records to the hospital's FHIR R4 server, exactly once, with conflicts shown to a person."
        }
        div { class: "kv",
            span { class: "k", "State" }
            span { class: "v", "data-sync": "state", "{short}" }
        }
        {body}
        if let Some(e) = resolve_error() {
            p { class: "error", role: "alert", "The decision was NOT recorded: {e}" }
        }
        if !rows.is_empty() {
            h2 { class: "section-title", "Needs a person ({rows.len()})" }
            for r in rows {
                section { key: "{r.op_id}", class: "sync-issue", "data-sync-issue": if r.state == OutboxState::Conflict { "conflict" } else { "rejected" },
                    if r.state == OutboxState::Conflict {
                        h3 { "Conflict: {r.resource_type} changed on the server since this tablet last saw it" }
                        p { class: "muted", "Neither version was overwritten. Compare them, then decide; the decision is recorded with your name." }
                        div { class: "choice-row",
                            for (keep_ours, action, text) in [
                                (true, "keep-ours", "Send this tablet's version over the server's"),
                                (false, "accept-theirs", "Keep the server's version"),
                            ] {
                                button { key: "{action}", class: "choice", "data-action": action,
                                    onclick: {
                                        let services = services.clone();
                                        let seq = r.seq;
                                        move |_| {
                                            let services = services.clone();
                                            spawn(async move {
                                                resolve_error.set(services.resolve_conflict(seq, keep_ours).await.err().map(|e| e.to_string()));
                                                *resolved.write() += 1;
                                            });
                                        }
                                    },
                                    "{text}" }
                            }
                        }
                        div { class: "versions",
                            div { h4 { "This tablet" } pre { class: "mono", "{pretty(&r.payload)}" } }
                            div { h4 { "The server" } pre { class: "mono", "{pretty(r.detail.as_deref().unwrap_or(\"\"))}" } }
                        }
                    } else {
                        h3 { "Rejected by the server: {r.resource_type}" }
                        p { class: "error", "{outcome_text(r.detail.as_deref().unwrap_or(\"\"))}" }
                        p { class: "muted", "Kept on this tablet unchanged. The record itself is intact; this copy needs a fix of the mapping or of the server's profile." }
                        pre { class: "mono", "{pretty(&r.payload)}" }
                    }
                }
            }
        }
        p { class: "muted",
            "Kept on this device in this version: {crate::app::view::LOCAL_ONLY.join(\", \")}. Cases without a patient are not uploaded; demo cases go only to a test server (one that may create patients)." }
    }
}

#[component]
pub fn Settings() -> Element {
    let services = use_context::<Services>();
    let state = use_context::<UiState>();
    let loader = services.clone();
    let schema = use_resource(move || {
        let services = loader.clone();
        async move { services.schema_version().await }
    });
    let schema_text = match &*schema.read() {
        None => "…".to_string(),
        Some(Ok(v)) => v.to_string(),
        Some(Err(e)) => format!("unreadable: {e}"),
    };
    let mode = match &*state.mode.read() {
        crate::domain::AppMode::Starting => "Starting (looking for Bluetooth)".to_string(),
        crate::domain::AppMode::Live { adapter } => format!("Live devices ({adapter})"),
        crate::domain::AppMode::Demo(_) => "Demo (simulated devices)".to_string(),
    };
    let protocol = format!(
        "{} {}",
        services.protocol().name,
        services.protocol().version
    );
    let protocol_problem = services.protocol_problem().clone();
    let data_dir = services.config().data_dir.display().to_string();
    let db = services.config().database_path().display().to_string();
    let version = env!("CARGO_PKG_VERSION");
    rsx! {
        ScreenHeader {
            title: "Settings",
            purpose: "This installation: where the record is kept, the mode, and (soon) protocol settings."
        }
        div { class: "kv-grid",
            span { class: "k", "Mode" } span { class: "v", "{mode}" }
            span { class: "k", "Signed in" } span { class: "v", "{services.author().user}" }
            span { class: "k", "Device" } span { class: "v", "{services.author().device}" }
            span { class: "k", "Data directory" } span { class: "v mono", "{data_dir}" }
            span { class: "k", "Database" } span { class: "v mono", "{db}" }
            span { class: "k", "Schema version" } span { class: "v", "{schema_text}" }
            span { class: "k", "Protocol" } span { class: "v", "{protocol}" }
            span { class: "k", "Pumpside" } span { class: "v", "{version} · not cleared for clinical use" }
        }
        if let Some(problem) = protocol_problem {
            p { class: "error", role: "alert", "{problem}" }
        }
        p { class: "note", "A hospital protocol file (protocol.toml in the data directory) replaces the defaults without a rebuild." }
        SyncSettingsForm {}
        Planned { items: vec![
            "Editing protocol settings on the tablet (thresholds, constants, cardioplegia re-dose intervals)",
            "Sign-in with roles and auto-lock",
        ] }
    }
}

/// Which credentials the form edits.
#[derive(Debug, Clone, Copy, PartialEq)]
enum AuthKind {
    None,
    Token,
    ClientCredentials,
}

/// The FHIR server and credentials (written to sync.toml, only when usable; sync restarts).
/// Secrets are typed, never shown back.
#[component]
fn SyncSettingsForm() -> Element {
    use crate::app::view::{AuthSetting, SyncSettings};
    let services = use_context::<Services>();
    let state = use_context::<UiState>();
    let current = services.sync_config();
    let mut fields = use_signal(BTreeMap::<&'static str, String>::new);
    let mut kind = use_signal(|| match &current {
        Some(c) if c.oauth.is_some() => AuthKind::ClientCredentials,
        Some(c) if c.token.is_some() => AuthKind::Token,
        _ => AuthKind::None,
    });
    let mut create_patients = use_signal(|| current.as_ref().is_some_and(|c| c.create_patients));
    let mut message = use_signal(|| None::<(bool, String)>);
    let initial_server = current.as_ref().map(|c| c.base.clone()).unwrap_or_default();
    let initial = {
        let c = current.clone();
        move |key: &str| -> String {
            match (key, c.as_ref().and_then(|c| c.oauth.as_ref())) {
                ("token_url", Some(o)) => o.token_url.clone(),
                ("client_id", Some(o)) => o.client_id.clone(),
                ("scope", Some(o)) => o.scope.clone(),
                _ => String::new(),
            }
        }
    };
    let in_force = match (&current, &*state.sync.read()) {
        (Some(c), _) => format!("{} · credentials: {}", c.base, c.auth_summary()),
        (None, SyncState::Misconfigured(why)) => format!("not in force: {why}"),
        (None, _) => "no server: records stay on this device".to_string(),
    };
    let save = {
        let services = services.clone();
        let server_default = initial_server.clone();
        move |_| {
            let f = fields.peek().clone();
            let get = |k: &str| f.get(k).cloned().unwrap_or_default();
            let server = f
                .get("server")
                .cloned()
                .unwrap_or_else(|| server_default.clone());
            let auth = match *kind.peek() {
                AuthKind::None => AuthSetting::None,
                AuthKind::Token => AuthSetting::Token(get("token")),
                AuthKind::ClientCredentials => AuthSetting::ClientCredentials {
                    token_url: get("token_url"),
                    client_id: get("client_id"),
                    key_file: get("key_file"),
                    scope: get("scope"),
                },
            };
            let settings = SyncSettings {
                server,
                auth,
                create_patients: *create_patients.peek(),
            };
            message.set(Some(match services.save_sync_settings(&settings) {
                Ok(()) => (
                    true,
                    "Saved; sync restarted with these settings.".to_string(),
                ),
                Err(e) => (false, format!("NOT saved: {e}")),
            }));
        }
    };
    let field = move |key: &'static str,
                      label: &'static str,
                      hint: &'static str,
                      secret: bool,
                      value: String| {
        rsx! {
            label { class: "form-field",
                span { class: "form-label", "{label}" }
                input { class: "calc-input", "data-field": "sync-{key}", placeholder: "{hint}",
                    r#type: if secret { "password" } else { "text" },
                    initial_value: "{value}",
                    oninput: move |e| { fields.write().insert(key, e.value()); } }
                span {}
            }
        }
    };
    let k = kind();
    rsx! {
        section { class: "sync-settings", "data-section": "sync-settings",
            h2 { class: "section-title", "FHIR server and credentials" }
            p { class: "muted", "data-sync-settings": "in-force", "In force: {in_force}" }
            div { class: "form-grid",
                {field("server", "Server (FHIR R4 base)", "https://fhir.hospital.org/R4/", false, initial_server.clone())}
            }
            div { class: "choice-row", role: "group", "aria-label": "Credentials",
                span { class: "form-label", "Credentials" }
                for (choice, text) in [(AuthKind::None, "None"), (AuthKind::Token, "Bearer token"), (AuthKind::ClientCredentials, "OAuth2 client credentials")] {
                    button { key: "{text}", class: if k == choice { "choice chosen" } else { "choice" },
                        "aria-pressed": "{k == choice}", onclick: move |_| kind.set(choice), "{text}" }
                }
            }
            div { class: "form-grid",
                if k == AuthKind::Token {
                    {field("token", "Token", "typed, never shown again", true, String::new())}
                }
                if k == AuthKind::ClientCredentials {
                    {field("token_url", "Token URL", "https://auth.hospital.org/token", false, initial("token_url"))}
                    {field("client_id", "Client ID", "registered for this device", false, initial("client_id"))}
                    {field("key_file", "Private key file (PKCS#8 PEM, EC P-384 or RSA)", "/path/on/this/device.pem", false, String::new())}
                    {field("scope", "Scope", "system/*.read system/*.write", false, initial("scope"))}
                }
            }
            label { class: "check-row",
                input { r#type: "checkbox", checked: create_patients(), onchange: move |e| create_patients.set(e.checked()) }
                " Test or demo server: create a patient the server does not have (never for a hospital server)"
            }
            button { class: "start-button", "data-action": "save-sync", onclick: save, "Save and restart sync" }
            if let Some((ok, text)) = message() {
                p { class: if ok { "note" } else { "error" }, role: if ok { "status" } else { "alert" }, "{text}" }
            }
        }
    }
}
