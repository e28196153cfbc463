//! The ECMO board: followed patients and their runs pulled from the FHIR server.

use chrono::{DateTime, Utc};
use dioxus::prelude::*;

use super::common::*;
use super::state::UiState;
use crate::app::services::{DEMO_MRN_SYSTEM, LOCAL_MRN_SYSTEM};
use crate::app::view::SyncState;
use crate::app::Services;
use crate::domain::intake;
use crate::domain::live::format_age;
use crate::domain::patient::Mrn;
use crate::domain::AppMode;

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
    // The followed run opened in detail (by MRN).
    let mut selected = state.open_run;
    let svc = services.clone();
    // Re-read when a pull finishes and when the followed list changes (not on every status
    // change: an upload changes the status after each Bundle, and the board parses every
    // pulled version).
    let last_pull = use_memo(move || match &*state.sync.read() {
        SyncState::Active(s) => s.last_pull,
        _ => None,
    });
    // Runs on this tablet, re-ranked every 30 s and after each pull.
    let tick = use_memo(move || state.now.read().timestamp() / 30);
    let local = {
        let svc = services.clone();
        use_resource(move || {
            let svc = svc.clone();
            let _ = tick.read();
            let _ = last_pull.read();
            async move { svc.local_ecmo_runs().await }
        })
    };
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
            (Some(t), Some(r)) => {
                let mut note = format!("Last pull {} ago.", format_age(now - t));
                if !r.missing.is_empty() {
                    note.push_str(&format!(" Not on the server: {}.", r.missing.join(", ")));
                }
                if !r.skipped.is_empty() {
                    note.push_str(&format!(
                        " {} pulled record(s) not kept as implausible (listed on the Sync screen).",
                        r.skipped.len()
                    ));
                }
                note
            }
            (Some(t), None) => format!("Last pull {} ago.", format_age(now - t)),
            _ => "Not pulled yet.".to_string(),
        },
        _ => "No server is configured (sync.toml): nothing can be pulled.".to_string(),
    };
    let (local_runs, local_error) = match &*local.read() {
        Some(Ok(r)) => (r.clone(), None),
        Some(Err(e)) => (
            Vec::new(),
            Some(format!("Runs on this tablet could not be read: {e}")),
        ),
        None => (Vec::new(), None),
    };
    let followed = match &*board.read() {
        Some(Ok(f)) => f.clone(),
        _ => Vec::new(),
    };
    // The followed running ECMO runs ranked by the same rules, from what was last pulled.
    let remote_ranked = crate::app::ecmo::remote_runs(&followed, &services.protocol().ecmo, now);
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
        div { class: "remote-head",
            p { class: "muted", "data-board": "pull", "{pull_note}" }
            if matches!(sync, SyncState::Active(_)) {
                // Offline the board shows what was last pulled, its age above; this asks now.
                button { class: "choice", "data-action": "pull-now",
                    onclick: {
                        let services = services.clone();
                        move |_| services.nudge_sync()
                    },
                    "Pull now" }
            }
        }
        if !local_runs.is_empty() || local_error.is_some() {
            section { class: "local-runs", "data-board": "local",
                h2 { class: "section-title", "Runs on this tablet, most urgent first" }
                if let Some(e) = local_error {
                    p { class: "error", role: "alert", "{e}" }
                }
                ol { class: "ranked-runs",
                    for run in local_runs {
                        RankedCard { key: "{run.case.id}",
                            data_key: run.case.label.clone(),
                            remote: false,
                            title: run.case.label.clone(),
                            mode: format!("{} · day {}", run.case.kind.label(), run.day),
                            location: run.location.clone(),
                            reasons: run.ranked.findings.iter().map(|f| f.reason.clone()).collect::<Vec<_>>(),
                            glance: run.glance.clone(),
                            own: run.own_rules.iter().map(|r| format!("{} = {} ({})", r.key, r.value, r.why)).collect::<Vec<_>>(),
                            uploaded: None,
                            now,
                        }
                    }
                }
                p { class: "muted", "Advisories from the protocol's ECMO rules; the ECMO console keeps the primary alarms." }
            }
        }
        if !remote_ranked.is_empty() {
            section { class: "local-runs", "data-board": "followed-ranked",
                h2 { class: "section-title", "Followed runs, most urgent first" }
                ol { class: "ranked-runs",
                    for r in remote_ranked.iter() {
                        RankedCard { key: "{r.run.server_id}",
                            data_key: r.mrn.value.clone(),
                            remote: true,
                            title: format!("MRN {}", r.mrn.value),
                            mode: match r.day {
                                Some(d) => format!("{} · day {d}", r.run.kind),
                                None => r.run.kind.clone(),
                            },
                            location: r.run.location.clone(),
                            reasons: r.ranked.findings.iter().map(|f| f.reason.clone()).collect::<Vec<_>>(),
                            glance: r.glance.clone(),
                            own: crate::app::ecmo::remote_own_rules(&r.run),
                            uploaded: r.uploaded,
                            now,
                            on_open: move |k: String| selected.set(Some(k)),
                        }
                    }
                }
            }
        }
        if let Some(r) = selected().and_then(|k| remote_ranked.iter().find(|r| r.mrn.value == k).cloned()) {
            RunDetail { run: r, now, on_close: move |_| selected.set(None), on_changed: move |_| *changed.write() += 1 }
        }
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
            "Checks due and overdue on the board (hourly circuit checks, shift checklists)",
            "Blood gases, cannulation and circuit changes read from the server for followed runs",
            "A handover note written on the phone sent to the server",
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
            if let Some(place) = &run.location {
                p { class: "run-location", "data-location": "", "{place}" }
            }
            if !run.latest.is_empty() {
                div { class: "kv",
                    for v in run.latest.iter() {
                        span { key: "k{v.name}", class: "k", "{v.name}" }
                        span { class: "v", "data-remote-value": "{v.name}",
                            "{v.value} {v.unit} "
                            if v.corrected { span { class: "badge", "data-corrected": "true", "corrected " } }
                            span { class: "muted", "({age(v.at)} ago)" } }
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

/// One run on the board: why it is where it is, its headline values with their ages, and 24 h
/// sparklines of flow and ΔP. The same card for runs on this tablet and runs pulled.
#[component]
fn RankedCard(
    data_key: String,
    remote: bool,
    title: String,
    mode: String,
    location: Option<String>,
    reasons: Vec<String>,
    glance: crate::domain::ecmo::Glance,
    /// The run's own ranges, in words.
    own: Vec<String>,
    uploaded: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    on_open: Option<EventHandler<String>>,
) -> Element {
    let flagged = !reasons.is_empty();
    let open_key = data_key.clone();
    rsx! {
        li { class: if flagged { "ranked-run flagged" } else { "ranked-run" },
            "data-ranked-run": if !remote { "{data_key}" },
            "data-ranked-remote": if remote { "{data_key}" },
            div { class: "run-head",
                span { class: "run-title", "{title}" }
                span { class: "run-mode", "{mode}" }
                if let Some(place) = &location {
                    span { class: "run-location", "data-location": "", "{place}" }
                }
            }
            if reasons.is_empty() {
                span { class: "run-reason", "data-reason": "", "nothing found by the protocol's rules" }
            } else {
                ul { class: "run-reasons", "data-reason": "",
                    for (i, r) in reasons.iter().enumerate() {
                        li { key: "{i}", "{r}" }
                    }
                }
            }
            div { class: "glance",
                for v in glance.values.iter() {
                    div { key: "{v.key}", class: "glance-value", "data-glance": "{v.key}",
                        span { class: "k", "{v.label}" }
                        span { class: "v", "{v.text}" small { " {v.unit}" } }
                        span { class: "muted age",
                            match v.at {
                                Some(t) => format!("{} ago", format_age(now - t)),
                                None => "no value".to_string(),
                            }
                        }
                    }
                }
            }
            if !own.is_empty() {
                p { class: "muted", "data-own-ranges": "",
                    "This run's own ranges: {own.join(\"; \")}"
                }
            }
            div { class: "sparks",
                Sparkline { label: "Flow 24 h".to_string(), values: glance.flow_24h.clone() }
                Sparkline { label: "ΔP 24 h".to_string(), values: glance.dp_24h.clone() }
            }
            if let Some(t) = uploaded {
                span { class: "muted", "data-uploaded": "", "Last upload {format_age(now - t)} ago" }
            }
            if let Some(open) = on_open {
                button { class: "choice", "data-action": "open-run", onclick: move |_| open.call(open_key.clone()), "Open run" }
            }
        }
    }
}

/// A line over equal time slots, broken where a slot has no value.
#[component]
fn Sparkline(label: String, values: Vec<Option<f64>>) -> Element {
    let shown: Vec<f64> = values.iter().flatten().copied().collect();
    let (lo, hi) = shown
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    let n = values.len().max(2) as f64 - 1.0;
    let y = |v: f64| {
        if hi > lo {
            22.0 - (v - lo) / (hi - lo) * 20.0
        } else {
            12.0
        }
    };
    let mut segments: Vec<String> = Vec::new();
    let mut current = String::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => current.push_str(&format!("{:.1},{:.1} ", i as f64 / n * 100.0, y(*v))),
            None if !current.is_empty() => segments.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        segments.push(current);
    }
    let range = if shown.is_empty() {
        "no values".to_string()
    } else {
        format!("{lo:.1}–{hi:.1}")
    };
    rsx! {
        figure { class: "sparkline", "data-spark": "{label}",
            svg { view_box: "0 0 100 24", preserve_aspect_ratio: "none", role: "img",
                "aria-label": "{label}: {range}",
                for (i, pts) in segments.iter().enumerate() {
                    polyline { key: "{i}", points: "{pts}", fill: "none", stroke: "currentColor", stroke_width: "1.5" }
                }
            }
            figcaption { class: "muted", "{label} · {range}" }
        }
    }
}

/// A followed run in detail: every pulled trend (24 h or 7 days, one-minute means decoded from
/// the server's SampledData), the ECMO calculations, and the run's events and notes.
#[component]
fn RunDetail(
    run: crate::app::ecmo::RemoteRanked,
    now: DateTime<Utc>,
    on_close: EventHandler<()>,
    on_changed: EventHandler<()>,
) -> Element {
    let services = use_context::<Services>();
    let mut days = use_signal(|| 1i64);
    // The note being written: its id is chosen when the form opens, so a second tap on Save (or
    // a retry after an error) keeps one note.
    let mut note_id = use_signal(uuid::Uuid::now_v7);
    let mut note_text = use_signal(String::new);
    let mut note_key = use_signal(|| 0u64);
    let mut note_error = use_signal(|| None::<String>);
    let save_note = {
        let run = run.clone();
        move |_| {
            let services = services.clone();
            let run = run.clone();
            let id = *note_id.peek();
            let text = note_text.peek().clone();
            spawn(async move {
                match services
                    .write_handover_note(id, run.mrn.clone(), &run.run, text)
                    .await
                {
                    Ok(_) => {
                        note_error.set(None);
                        note_text.set(String::new());
                        note_id.set(uuid::Uuid::now_v7());
                        *note_key.write() += 1;
                        on_changed.call(());
                    }
                    Err(e) => note_error.set(Some(format!("Not saved: {e}"))),
                }
            });
        }
    };
    let from = now - chrono::Duration::days(days());
    let slots = if days() == 1 { 96 } else { 168 };
    let calc = crate::app::ecmo::remote_calculations(&run, now);
    rsx! {
        section { class: "run-detail", "data-run-detail": "{run.mrn.value}",
            div { class: "remote-head",
                h2 { class: "section-title", "MRN {run.mrn.value} · {run.run.kind}" }
                button { class: "choice", "data-action": "close-run", onclick: move |_| on_close.call(()), "Close" }
            }
            p { class: "run-reason", "{run.ranked.reason()}" }
            div { class: "segmented",
                button { class: if days() == 1 { "choice selected" } else { "choice" }, "data-action": "range-24h", onclick: move |_| days.set(1), "24 h" }
                button { class: if days() == 7 { "choice selected" } else { "choice" }, "data-action": "range-7d", onclick: move |_| days.set(7), "7 days" }
            }
            div { class: "detail-trends",
                for t in run.run.trends.iter() {
                    div { key: "{t.name}", class: "detail-trend", "data-trend": "{t.name}",
                        Sparkline {
                            label: format!("{} · {}", t.name, if days() == 1 { "last 24 h" } else { "last 7 days" }),
                            values: crate::app::ecmo::series_slots(t, from, now, slots),
                        }
                        span { class: "k", "{t.name} ({crate::domain::live::readable_unit(&t.unit)})" }
                    }
                }
            }
            h3 { "Calculations" }
            div { class: "kv", "data-calculations": "",
                for (k, v) in calc {
                    span { key: "k{k}", class: "k", "{k}" }
                    span { class: "v", "{v}" }
                }
            }
            h3 { "Handover notes" }
            div { class: "note-form", key: "{note_key}",
                textarea { class: "note-text", "data-field": "handover-note", rows: 3,
                    placeholder: "Handover note for the team at the bedside",
                    oninput: move |e| note_text.set(e.value()),
                }
                button { class: "primary", "data-action": "save-handover-note", onclick: save_note, "Save note" }
                if let Some(e) = note_error() {
                    p { class: "error", role: "alert", "{e}" }
                }
                p { class: "muted", "Kept on this device and sent to the hospital's server with the next sync." }
            }
            if run.notes.is_empty() {
                p { class: "empty", "No handover note yet." }
            }
            ul { class: "handover-list",
                for (i, n) in run.notes.iter().enumerate() {
                    li { key: "{i}", "data-handover": "",
                        span { class: "muted",
                            "{format_age(now - n.at)} ago"
                            if let Some(by) = &n.by { " · {by}" }
                        }
                        p { class: "handover-text", "{n.text}" }
                        if let Some(st) = &n.state {
                            span { class: "note-state", "data-note-state": "", "{st}" }
                        }
                    }
                }
            }
            h3 { "Events" }
            ul { class: "remote-timeline",
                for (i, e) in run.run.timeline.iter().take(30).enumerate() {
                    li { key: "{i}", "{e.text} " span { class: "muted", "({format_age(now - e.at)} ago)" } }
                }
            }
        }
    }
}
