//! The live case screen: the board of values against the protocol, clocks, reminders and
//! advisories, one-tap entries with undo, the trend chart, the timeline with artefact marks and
//! retractions, and the case end with its review and sign-off. Thin: what is shown is computed in
//! `domain::board`, `domain::quick`, `domain::trend` and `domain::summary`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use dioxus::prelude::*;

use super::state::UiState;
use crate::app::Services;
use crate::domain::advisory::ActiveAdvisory;
use crate::domain::board::{self, Level};
use crate::domain::checklist::Purpose;
use crate::domain::clock::format_clock;
use crate::domain::entry::ArtefactTarget;
use crate::domain::live::format_age;
use crate::domain::quick::{self, FieldKind, QuickKind};
use crate::domain::record::CaseView;
use crate::domain::reminder::Due;
use crate::domain::summary::summarise;
use crate::domain::timeline;
use crate::domain::trend::{self, Zoom};
use crate::domain::{CaseId, CaseKind, CaseStatus, EntryId, EntryPayload, EventKind};

/// How long a one-tap entry can be undone with one more tap.
pub const UNDO_SECS: i64 = 10;
/// Buckets per lane: about one per device pixel of a tablet-wide chart.
const CHART_BUCKETS: u32 = 600;

/// What the fixed action bar is doing.
#[derive(Debug, Clone, PartialEq)]
enum Bar {
    Actions,
    /// A one-tap entry form is open.
    Form(QuickKind),
    /// All entry kinds and the less frequent events.
    More,
    /// A reason is asked before marking an entry.
    Mark(EntryId, MarkKind),
    /// The case-end review.
    Review,
    /// What is about to be signed, with the deliberate second step (shown at).
    ConfirmSign(DateTime<Utc>),
}

/// Why bypass was held, with the override it takes.
#[derive(Debug, Clone, PartialEq)]
enum Gate {
    /// No signed pre-bypass checklist.
    Checklist,
    /// Heparin or the ACT is not there yet (why, in words).
    Anticoagulation(String),
}

/// The confirm button of a signature takes taps only this long after it appears: the tap that
/// opened the confirmation cannot land on it.
const CONFIRM_AFTER_MS: i64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq)]
enum MarkKind {
    Artefact,
    Retract,
}

/// Record `payload` on `case`; one-tap entries get an undo window. A held bypass opens the
/// checklist gate; any other refusal is said on screen.
fn submit(
    services: Services,
    state: UiState,
    case: CaseId,
    payload: EntryPayload,
    undoable: bool,
    mut gate: Signal<Option<Gate>>,
) {
    spawn(async move {
        let label = quick::describe(&payload);
        match state.record(&services, case, payload).await {
            Ok(entry) => {
                gate.set(None);
                if undoable {
                    let mut undo = state.undo;
                    undo.set(Some((
                        entry.id,
                        label,
                        Utc::now() + Duration::seconds(UNDO_SECS),
                    )));
                }
            }
            Err(e) if e.checklist_required() => {
                tracing::info!("bypass held: no signed pre-bypass checklist");
                gate.set(Some(Gate::Checklist));
            }
            Err(e) if e.anticoagulation_required().is_some() => {
                let why = e.anticoagulation_required().unwrap_or_default().to_string();
                tracing::info!(why = %why, "bypass held: anticoagulation");
                gate.set(Some(Gate::Anticoagulation(why)));
            }
            Err(e) => {
                state.report(&label, Err(e));
            }
        }
    });
}

#[component]
pub fn Live() -> Element {
    let state = use_context::<UiState>();
    let services = use_context::<Services>();
    let mut gate = use_signal(|| None::<Gate>);
    let mut override_reason = use_signal(String::new);
    let mut bar = use_signal(|| Bar::Actions);
    let mut form = use_signal(BTreeMap::<String, String>::new);
    let mut form_error = use_signal(|| None::<String>);
    let mut reason = use_signal(String::new);
    let now = *state.now.read();
    let case = state.case.read().clone();

    let Some(case) = case else {
        return rsx! {
            h1 { class: "screen-title", "Live case" }
            p { class: "muted", "The running case: live values with source and age, clocks, one-tap events." }
            p { class: "empty", "No running case. Start one from Cases, or run the demo (pumpside --demo)." }
        };
    };
    if case.status >= CaseStatus::Completed {
        // A completed or signed case takes no device values and no one-tap entries: say so,
        // and show its review, instead of an action bar that would be refused.
        let closed = if case.status == CaseStatus::Signed {
            "This case is signed: its record is closed and can only be amended."
        } else {
            "This case is completed: sign it on the review, or add what is missing."
        };
        let confirming = match *bar.read() {
            Bar::ConfirmSign(at) => Some(at),
            _ => None,
        };
        return rsx! {
            p { class: "empty", "data-closed": "{case.status.code()}",
                "{closed} Its devices were released. Start the next case from Cases." }
            if case.status == CaseStatus::Completed {
                match confirming {
                    None => rsx! {
                        button { class: "action", "data-action": "sign",
                            onclick: move |_| bar.set(Bar::ConfirmSign(Utc::now())), "Sign case…" }
                    },
                    Some(at) => rsx! {
                        SignConfirm { case: case.id, shown_at: at, on_back: move |_| bar.set(Bar::Actions) }
                    },
                }
            }
            Review {}
        };
    }
    let protocol = services.protocol().clone();
    let facts = state.facts.read().clone();
    let clocks = facts.clocks;
    let targets = state.targets.read().clone();
    let mut tiles = board::tiles_with(&state.live.read(), &facts, &protocol, targets.as_ref(), now);
    // The DO2i is calculated by the case monitor: say how old its oldest input is, or why
    // there is none.
    if let Some(t) = tiles
        .iter_mut()
        .find(|t| t.parameter == Some(crate::domain::Parameter::Do2i))
    {
        match &*state.do2i.read() {
            Some(Ok(d)) => {
                t.source = format!(
                    "calculated · oldest input {} old{}",
                    format_age(d.oldest_input),
                    if d.hb_from_hct { " · Hb from Hct" } else { "" }
                )
            }
            Some(Err(why)) if t.level == Level::Missing => t.source = why.clone(),
            _ => {}
        }
    }
    let on_bypass = clocks.bypass.is_running();
    let after_bypass = !on_bypass && clocks.bypass.starts > 0;
    let bypass_kind = if on_bypass {
        EventKind::BypassOff
    } else {
        EventKind::BypassOn
    };
    let clamp_kind = if clocks.cross_clamp.is_running() {
        EventKind::CrossClampOff
    } else {
        EventKind::CrossClampOn
    };
    let arrest_kind = if clocks.circ_arrest.is_running() {
        EventKind::CircArrestEnd
    } else {
        EventKind::CircArrestStart
    };
    // The clamp goes on during bypass; offering it before bypass invites a mis-tap.
    let clamp_enabled = on_bypass || clocks.cross_clamp.is_running();
    // ECMO speaks its own vocabulary: support on and off, pump stop, trial off; the More sheet
    // has clots, bleeding and decannulation instead of circulatory arrest and temperature.
    let ecmo = matches!(
        case.kind,
        CaseKind::EcmoVa | CaseKind::EcmoVv | CaseKind::Ecpr
    );
    let pump_kind = if clocks.pump_stop.is_running() {
        EventKind::PumpRestart
    } else {
        EventKind::PumpStop
    };
    let trial_kind = if clocks.trial_off.is_running() {
        EventKind::TrialOffEnd
    } else {
        EventKind::TrialOffStart
    };
    let event = {
        let services = services.clone();
        move |kind: EventKind| {
            submit(
                services.clone(),
                state,
                case.id,
                EntryPayload::Event { event: kind },
                true,
                gate,
            );
            bar.set(Bar::Actions);
        }
    };
    let open_form = {
        let protocol = protocol.clone();
        move |kind: QuickKind| {
            let entries = state.entries.peek();
            let view = CaseView::derive(&entries);
            let targets = state.targets.peek().clone();
            let defaults = kind
                .fields(&protocol, targets.as_ref(), &view)
                .into_iter()
                .map(|f| (f.key, f.default))
                .collect();
            form.set(defaults);
            form_error.set(None);
            bar.set(Bar::Form(kind));
        }
    };
    let do_override = {
        let services = services.clone();
        let event = event.clone();
        move |_| {
            let services = services.clone();
            let reason = override_reason.peek().trim().to_string();
            let mut event = event.clone();
            let held = gate.peek().clone();
            spawn(async move {
                let payload = match held {
                    Some(Gate::Anticoagulation(_)) => {
                        EntryPayload::AnticoagulationOverride { reason }
                    }
                    _ => EntryPayload::ChecklistOverride {
                        purpose: Purpose::PreBypass,
                        reason,
                    },
                };
                match state.record(&services, case.id, payload).await {
                    Ok(_) => {
                        override_reason.set(String::new());
                        event(EventKind::BypassOn);
                    }
                    Err(e) => {
                        let mut notice = state.notice;
                        notice.set(Some(format!("Override not recorded: {e}")))
                    }
                }
            });
        }
    };
    let reason_given = !override_reason.read().trim().is_empty();
    let mut save_form = {
        let services = services.clone();
        move |kind: QuickKind| match kind.build(&form.peek()) {
            Ok(payload) => {
                submit(services.clone(), state, case.id, payload, true, gate);
                bar.set(Bar::Actions);
            }
            Err(e) => form_error.set(Some(e.to_string())),
        }
    };
    let mut confirm_mark = {
        let services = services.clone();
        move |id: EntryId, kind: MarkKind| {
            let why = reason.peek().trim().to_string();
            if why.is_empty() {
                return;
            }
            let payload = match kind {
                MarkKind::Artefact => EntryPayload::ArtefactMark {
                    target: ArtefactTarget::Entry(id),
                    reason: why,
                },
                MarkKind::Retract => EntryPayload::Retraction {
                    target: id,
                    reason: why,
                },
            };
            submit(services.clone(), state, case.id, payload, false, gate);
            reason.set(String::new());
            bar.set(Bar::Actions);
        }
    };
    let current_bar = bar.read().clone();
    let mut event_a = event.clone();
    let mut event_b = event.clone();
    let mut event_c = event.clone();
    let event_e = event.clone();
    let mut open_a = open_form.clone();
    let mut open_b = open_form.clone();
    let open_c = open_form.clone();
    let temp_kind = if facts.rewarming {
        EventKind::CoolingStart
    } else {
        EventKind::RewarmingStart
    };
    let more_events = if ecmo {
        vec![
            EventKind::ClotsSeen,
            EventKind::Bleeding,
            EventKind::Decannulation,
        ]
    } else {
        vec![arrest_kind, temp_kind]
    };
    let mut event_d = event.clone();
    let mut event_f = event.clone();

    rsx! {
        if let Some(g) = gate() {
            div { class: "gate", role: "alert", "data-gate": match &g { Gate::Checklist => "checklist", Gate::Anticoagulation(_) => "anticoagulation" },
                match &g {
                    Gate::Checklist => rsx! {
                        strong { "Bypass not started: the pre-bypass checklist is not signed." }
                        p { "Complete it on Checklists, or start now with a reason (recorded on the timeline)." }
                    },
                    Gate::Anticoagulation(why) => rsx! {
                        strong { "Bypass not started: {why}." }
                        p { "The protocol wants heparin given and an ACT of at least {protocol.anticoagulation.act_target_s:.0} s after it. Record them (Heparin, ACT), or start now with a reason (recorded on the timeline)." }
                    },
                }
                input { key: "{g:?}", placeholder: "Reason for starting anyway", "data-field": "override-reason",
                    initial_value: "{override_reason}", oninput: move |e| override_reason.set(e.value()) }
                div { class: "gate-actions",
                    button { class: "action", "data-action": "override", disabled: !reason_given, onclick: do_override, "Override and start" }
                    button { class: "action secondary", "data-action": "close-gate", onclick: move |_| gate.set(None), "Not now" }
                }
            }
        }
        div { class: "live-grid",
            div { class: "live-main",
                div { class: "tiles",
                    for t in tiles {
                        div { key: "{t.key}", class: "tile {t.level.code()}", "data-param": "{t.key}", "data-level": "{t.level.code()}",
                            span { class: "tile-label", title: "{t.label}", "{t.label}" }
                            div { class: "tile-row",
                                span { class: "tile-value", "{t.text}" }
                                span { class: "tile-unit", "{t.unit}" }
                            }
                            span { class: "tile-meta",
                                match t.level {
                                    Level::Stale => rsx! { span { class: "stale-badge", "STALE " } },
                                    Level::Low => rsx! { span { class: "level-badge", "LOW " } },
                                    Level::High => rsx! { span { class: "level-badge", "HIGH " } },
                                    _ => rsx! {},
                                }
                                if let Some(b) = &t.band { "{b} · " }
                                if let Some(age) = t.age { "{t.source} · {format_age(age)}" } else { "{t.source}" }
                            }
                        }
                    }
                }
                TrendChart { case: case.id, kind: case.kind, started: case.created_at }
            }
            div { class: "live-side",
                super::lab_offers::LabOffers { case: case.id }
                if !on_bypass && !after_bypass {
                    Setup {}
                }
                if ecmo {
                    div { class: "clocks",
                        ClockTile { label: "On support", code: "support", running: on_bypass, value: format_clock(clocks.bypass.elapsed(now)) }
                        ClockTile { label: "Pump stopped", code: "pump-stop", running: clocks.pump_stop.is_running(), value: format_clock(clocks.pump_stop.elapsed(now)) }
                        ClockTile { label: "Trial off", code: "trial-off", running: clocks.trial_off.is_running(), value: format_clock(clocks.trial_off.elapsed(now)) }
                    }
                } else {
                    div { class: "clocks",
                        ClockTile { label: "Bypass", code: "bypass", running: on_bypass, value: format_clock(clocks.bypass.elapsed(now)) }
                        ClockTile { label: "Cross-clamp", code: "cross-clamp", running: clocks.cross_clamp.is_running(), value: format_clock(clocks.cross_clamp.elapsed(now)) }
                        ClockTile { label: "Circ. arrest", code: "circ-arrest", running: clocks.circ_arrest.is_running(), value: format_clock(clocks.circ_arrest.elapsed(now)) }
                    }
                }
                Timeline {
                    on_mark: move |(id, kind)| { reason.set(String::new()); bar.set(Bar::Mark(id, kind)); }
                }
                HandoverNotes { ecmo: matches!(case.kind, CaseKind::EcmoVa | CaseKind::EcmoVv | CaseKind::Ecpr) }
                if ecmo {
                    super::anticoag::AnticoagulationChart {}
                    OwnRanges {}
                }
            }
        }
        Sheet {
            bar: current_bar.clone(),
            form: form,
            error: form_error,
            on_event: event_e,
            on_kind: open_c,
            events: more_events,
            on_back: move |_| bar.set(Bar::Review),
            on_save: {
                let mut save_form = save_form.clone();
                move |k| save_form(k)
            },
        }
        div { class: "action-bar", "data-bar": match &current_bar { Bar::Actions => "actions", Bar::Form(_) => "form", Bar::More => "more", Bar::Mark(..) => "mark", Bar::Review => "review", Bar::ConfirmSign(_) => "confirm-sign" },
            match current_bar {
                Bar::Actions if ecmo => rsx! {
                    button { class: "action", "data-action": bypass_kind.code(),
                        onclick: move |_| event_a(bypass_kind), "{bypass_kind.action_for(case.kind)}" }
                    button { class: "action", "data-action": pump_kind.code(), disabled: !on_bypass && !clocks.pump_stop.is_running(),
                        onclick: move |_| event_d(pump_kind), "{pump_kind.action_for(case.kind)}" }
                    if after_bypass {
                        button { class: "action secondary", "data-action": "review",
                            onclick: move |_| bar.set(Bar::Review), "Review & sign" }
                    } else {
                        button { class: "action", "data-action": trial_kind.code(), disabled: !on_bypass && !clocks.trial_off.is_running(),
                            onclick: move |_| event_f(trial_kind), "{trial_kind.action_for(case.kind)}" }
                    }
                    button { class: "action", "data-action": "blood_gas",
                        onclick: move |_| open_b(QuickKind::BloodGas), "Blood gas" }
                    button { class: "action secondary", "data-action": "more",
                        onclick: move |_| bar.set(Bar::More), "More…" }
                    UndoButton {}
                },
                Bar::Actions => rsx! {
                    button { class: "action", "data-action": bypass_kind.code(),
                        onclick: move |_| event_a(bypass_kind), "{bypass_kind.label()}" }
                    if after_bypass {
                        button { class: "action secondary", "data-action": "review",
                            onclick: move |_| bar.set(Bar::Review), "Review & sign" }
                    } else {
                        button { class: "action", "data-action": clamp_kind.code(), disabled: !clamp_enabled,
                            onclick: move |_| event_b(clamp_kind), "{clamp_kind.label()}" }
                    }
                    button { class: "action", "data-action": "cardioplegia",
                        onclick: move |_| open_a(QuickKind::Cardioplegia), "Cardioplegia" }
                    button { class: "action", "data-action": "blood_gas",
                        onclick: move |_| open_b(QuickKind::BloodGas), "Blood gas" }
                    button { class: "action secondary", "data-action": "more",
                        onclick: move |_| bar.set(Bar::More), "More…" }
                    UndoButton {}
                },
                Bar::Form(kind) => rsx! {
                    button { class: "action ok", "data-action": "save",
                        onclick: move |_| save_form(kind), "Save {kind.label()}" }
                    button { class: "action secondary", "data-action": "cancel",
                        onclick: move |_| bar.set(Bar::Actions), "Cancel" }
                    if let Some(e) = form_error() {
                        span { class: "form-error", role: "alert", "{e}" }
                    }
                },
                Bar::More => rsx! {
                    button { class: "action secondary", "data-action": "cancel",
                        onclick: move |_| bar.set(Bar::Actions), "Close" }
                },
                Bar::Mark(id, kind) => rsx! {
                    input { class: "action-input wide", placeholder: "Reason (required)",
                        "data-action": "reason",
                        initial_value: "{reason}", oninput: move |e| reason.set(e.value()),
                        onmounted: move |e| async move { let _ = e.set_focus(true).await; } }
                    button { class: "action ok", "data-action": "confirm-mark",
                        disabled: reason.read().trim().is_empty(),
                        onclick: move |_| confirm_mark(id, kind),
                        if kind == MarkKind::Artefact { "Mark artefact" } else { "Retract entry" } }
                    button { class: "action secondary", "data-action": "cancel",
                        onclick: move |_| bar.set(Bar::Actions), "Cancel" }
                },
                // A second tap on "Review & sign" lands on Back, never on the bypass button.
                Bar::Review => rsx! {
                    button { class: "action ok", "data-action": "sign",
                        onclick: move |_| bar.set(Bar::ConfirmSign(Utc::now())), "Sign case…" }
                    button { class: "action secondary", "data-action": "cancel",
                        onclick: move |_| bar.set(Bar::Actions), "Back" }
                    button { class: "action", "data-action": bypass_kind.code(),
                        onclick: move |_| event_c(bypass_kind), "{bypass_kind.label()}" }
                },
                Bar::ConfirmSign(_) => rsx! {
                    button { class: "action secondary", "data-action": "cancel",
                        onclick: move |_| bar.set(Bar::Review), "Back" }
                },
            }
        }
    }
}

/// An ECMO run's own ranges in force: each with its value, who set it, when and why (set from
/// More… › ECMO range for this run; a retraction returns the protocol's).
#[component]
fn OwnRanges() -> Element {
    let state = use_context::<UiState>();
    let now = *state.now.read();
    let rules = state.facts.read().own_rules.clone();
    rsx! {
        section { class: "handover", "data-section": "own-ranges",
            h2 { class: "section-title", "This run's ranges" }
            if rules.is_empty() {
                p { class: "muted", "The protocol's ECMO ranges; set one for this run from More…." }
            }
            ul { class: "handover-list",
                for r in rules {
                    li { key: "{r.key}", "data-own-range": "{r.key}",
                        strong { "{r.key} = {r.value}" }
                        span { class: "muted", " · {r.by}, {format_age(now - r.at)} ago" }
                        p { class: "handover-text", "{r.why}" }
                    }
                }
            }
        }
    }
}

#[component]
fn ClockTile(label: &'static str, code: &'static str, running: bool, value: String) -> Element {
    rsx! {
        div { class: if running { "clock-tile running" } else { "clock-tile" },
            span { class: "clock-label", "{label}" }
            span { class: "clock-value", "data-clock": "{code}", "{value}" }
        }
    }
}

/// Before bypass: the patient, the computed targets and the circuit as recorded.
#[component]
fn Setup() -> Element {
    let state = use_context::<UiState>();
    let services = use_context::<Services>();
    let targets = state.targets.read().clone();
    let entries = state.entries.read();
    let view = CaseView::derive(&entries);
    let today = state.now.read().date_naive();
    let components: Vec<_> = view
        .entries
        .iter()
        .filter_map(|e| match e.payload {
            EntryPayload::Component(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let prime: f64 = view.fluid_balance().prime_ml;
    let predicted = state
        .patient
        .read()
        .as_ref()
        .and_then(|p| board::predicted_hct(p, services.protocol(), &view, prime).ok());
    rsx! {
        section { class: "setup", "data-section": "setup",
            h2 { class: "section-title", "Setup and targets" }
            match targets {
                None => rsx! { p { class: "muted", "No patient height and weight on this case: targets cannot be computed." } },
                Some(t) => rsx! {
                    div { class: "targets",
                        span { class: "target", "data-target": "bsa", "BSA {t.bsa_m2:.2} m² (DuBois)" }
                        span { class: "target", "data-target": "flow", "Target flow {t.flow_l_min:.2} L/min (CI {t.cardiac_index})" }
                        span { class: "target", "data-target": "heparin", "Heparin {t.heparin_units:.0} IU" }
                        if let Some((name, ml)) = &t.cardioplegia {
                            span { class: "target", "data-target": "cardioplegia", "{name} {ml:.0} mL first dose" }
                        }
                        match predicted {
                            Some(h) => rsx! { span { class: "target", "data-target": "predicted-hct", "Predicted on-bypass Hct {h:.1} %" } },
                            None => rsx! { span { class: "target muted", "Predicted Hct: needs a pre-bypass Hct and the prime" } },
                        }
                    }
                },
            }
            if components.is_empty() {
                p { class: "muted", "No circuit components recorded yet (More… → Circuit component)." }
            }
            ul { class: "components",
                for (i, c) in components.iter().enumerate() {
                    li { key: "{i}", class: if c.expiry < today { "component expired" } else { "component" },
                        "{c.manufacturer} {c.model} · lot {c.lot} · exp {c.expiry}"
                        if c.expiry < today { strong { class: "expired-badge", " EXPIRED: do not use" } }
                    }
                }
            }
            if prime > 0.0 { p { "Prime {prime:.0} mL" } }
        }
    }
}

/// The form of the open one-tap entry, or the grid of every kind.
#[component]
fn Sheet(
    bar: Bar,
    form: Signal<BTreeMap<String, String>>,
    error: Signal<Option<String>>,
    on_event: EventHandler<EventKind>,
    on_kind: EventHandler<QuickKind>,
    events: Vec<EventKind>,
    on_back: EventHandler<()>,
    on_save: EventHandler<QuickKind>,
) -> Element {
    let state = use_context::<UiState>();
    let services = use_context::<Services>();
    match bar {
        Bar::Form(kind) => {
            let entries = state.entries.read();
            let view = CaseView::derive(&entries);
            let targets = state.targets.read().clone();
            let fields = kind.fields(services.protocol(), targets.as_ref(), &view);
            let first_empty = quick::first_to_type(&fields).unwrap_or(usize::MAX);
            let heparin_given = !state.facts.read().anticoag.heparin.is_empty();
            let typed = form.read().clone();
            // Enter moves to the next field; on the last it saves (a keypad's Enter, a
            // barcode scanner's, a keyboard's).
            let enter = move |key: String| {
                spawn(async move {
                    let js = format!(
                        "const f = [...document.querySelectorAll('.sheet input[data-field], .sheet select[data-field]')]; \
                         const i = f.findIndex(x => x.dataset.field === {key:?}); \
                         if (i >= 0 && i + 1 < f.length) {{ f[i + 1].focus(); return false; }} return true;"
                    );
                    if let Ok(v) = document::eval(&js).await {
                        if v.as_bool() == Some(true) {
                            on_save.call(kind);
                        }
                    }
                });
            };
            rsx! {
                div { class: "sheet", "data-sheet": kind.code(),
                    h2 { class: "section-title", "{kind.label()}" }
                    div { class: "form-grid",
                        for (i, f) in fields.into_iter().enumerate() {
                            {
                                let key = f.key.clone();
                                let value = form.read().get(&f.key).cloned().unwrap_or_default();
                                let focus = i == first_empty;
                                rsx! {
                                    label { key: "{f.key}", class: "form-field",
                                        span { class: "form-label", "{f.label}" if f.required { " *" } }
                                        match f.kind {
                                            FieldKind::Choice(options) => rsx! {
                                                select { "data-field": "{f.key}",
                                                    onchange: move |e| { form.write().insert(key.clone(), e.value()); error.set(None); },
                                                    for (code, label) in options {
                                                        option { key: "{code}", value: "{code}", selected: code == value, "{label}" }
                                                    }
                                                }
                                            },
                                            FieldKind::Number => rsx! {
                                                input { class: "calc-input", "data-field": "{f.key}", inputmode: "decimal",
                                                    r#type: "text", enterkeyhint: "next", placeholder: "{f.hint}",
                                                    initial_value: "{value}",
                                                    oninput: move |e| { form.write().insert(key.clone(), e.value()); error.set(None); },
                                                    onkeydown: {
                                                        let key = f.key.clone();
                                                        move |e: KeyboardEvent| if e.key() == Key::Enter { e.prevent_default(); enter(key.clone()) }
                                                    },
                                                    onmounted: move |e| async move { if focus { let _ = e.set_focus(true).await; } } }
                                            },
                                            FieldKind::Text => rsx! {
                                                input { class: "calc-input", "data-field": "{f.key}",
                                                    enterkeyhint: "next", placeholder: "{f.hint}",
                                                    initial_value: "{value}",
                                                    oninput: move |e| { form.write().insert(key.clone(), e.value()); error.set(None); },
                                                    onkeydown: {
                                                        let key = f.key.clone();
                                                        move |e: KeyboardEvent| if e.key() == Key::Enter { e.prevent_default(); enter(key.clone()) }
                                                    },
                                                    onmounted: move |e| async move { if focus { let _ = e.set_focus(true).await; } } }
                                            },
                                        }
                                        match quick::typed_flag(kind, &f.key, &typed, services.protocol(), heparin_given) {
                                            Some((flag, range)) => rsx! {
                                                span { class: "calc-unit flagged", "data-typed-flag": "{f.key}", title: "{range}",
                                                    "{f.unit} " strong { class: "flag", "{flag.label()}" } }
                                            },
                                            None => rsx! { span { class: "calc-unit", "{f.unit}" } },
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        Bar::More => rsx! {
            div { class: "sheet", "data-sheet": "more",
                h2 { class: "section-title", "Record" }
                div { class: "more-grid",
                    for e in events {
                        button { key: "{e.code()}", class: "start-button", "data-more": e.code(),
                            onclick: move |_| on_event.call(e), "{e.label()}" }
                    }
                    for k in QuickKind::ALL {
                        button { key: "{k.code()}", class: "start-button", "data-more": k.code(),
                            onclick: move |_| on_kind.call(k), "{k.label()}" }
                    }
                }
            }
        },
        Bar::Review => rsx! { Review {} },
        Bar::ConfirmSign(at) => {
            let case = state.case.read().as_ref().map(|c| c.id);
            match case {
                Some(case) => rsx! {
                    div { class: "sheet", "data-sheet": "confirm-sign",
                        SignConfirm { case, shown_at: at, on_back: move |_| on_back.call(()) }
                    }
                },
                None => rsx! {},
            }
        }
        _ => rsx! {},
    }
}

/// The deliberate second step of signing a case: what is signed (patient, times, entries,
/// what is still open) and a Sign button that takes taps only after a moment, away from where
/// the finger was. Signing returns to the case list; the case on screen stays this one.
#[component]
fn SignConfirm(case: CaseId, shown_at: DateTime<Utc>, on_back: EventHandler<()>) -> Element {
    let state = use_context::<UiState>();
    let services = use_context::<Services>();
    let now = *state.now.read();
    let entries = state.entries.read();
    let s = summarise(&entries, services.protocol(), now);
    let patient = state
        .patient
        .read()
        .as_ref()
        .map(|p| {
            format!(
                "{}, {} · MRN {}",
                p.family_name.to_uppercase(),
                p.given_names,
                p.mrn.value
            )
        })
        .unwrap_or_else(|| "no patient on this case".into());
    let recorded = entries.iter().filter(|e| e.payload.is_clinical()).count();
    let open = s.open_advisories.len() + s.artefacts.len();
    let ready = now - shown_at >= Duration::milliseconds(CONFIRM_AFTER_MS);
    let mut signing = use_signal(|| false);
    let signer = services.author().user.clone();
    let sign = move |_| {
        if *signing.peek() || Utc::now() - shown_at < Duration::milliseconds(CONFIRM_AFTER_MS) {
            return;
        }
        signing.set(true);
        let services = services.clone();
        spawn(async move {
            match services.case().sign(case).await {
                Ok(_) => {
                    tracing::info!("case signed");
                    state.flash(
                        "Case signed. Its record is closed; later additions are amendments.".into(),
                    );
                    state.navigate(super::state::Screen::Cases);
                }
                Err(e) => {
                    let mut notice = state.notice;
                    notice.set(Some(format!("The case was NOT signed: {e}")));
                }
            }
            signing.set(false);
        });
    };
    rsx! {
        div { class: "sign-confirm", "data-confirm": "sign-case",
            h2 { class: "section-title", "Sign this case?" }
            div { class: "kv",
                span { class: "k", "Patient" } span { "data-confirm-field": "patient", "{patient}" }
                span { class: "k", "Bypass" } span { "{format_clock(s.bypass)} ({s.bypass_runs} run(s))" }
                span { class: "k", "Cross-clamp" } span { "{format_clock(s.cross_clamp)}" }
                span { class: "k", "Entries" } span { "{recorded} clinical entries" }
                span { class: "k", "Open questions" } span { "data-confirm-field": "open", "{open}" }
                span { class: "k", "Signed by" } span { "{signer}" }
            }
            p { class: "muted", "Signing completes the case, releases its devices and closes the record: later additions are amendments with a reason." }
            div { class: "confirm-actions",
                button { class: "action secondary", "data-action": "back", onclick: move |_| on_back.call(()), "Back" }
                button { class: "action ok confirm", "data-action": "confirm-sign", disabled: !ready || signing(),
                    onclick: sign, if ready { "Sign now" } else { "Read, then sign…" } }
            }
        }
    }
}

/// The case end: times, fluid balance, nadirs, quality, and what is still open.
#[component]
fn Review() -> Element {
    let state = use_context::<UiState>();
    let services = use_context::<Services>();
    let now = *state.now.read();
    let case = state.case.read().as_ref().map(|c| c.id);
    // Judged by the session on the record and what the devices monitored; re-read when the
    // record changes. Until it answers, the record alone is shown.
    let reviewer = services.clone();
    let judged = use_resource(move || {
        let services = reviewer.clone();
        let _changed = state.entries.read().len();
        async move {
            match case {
                Some(c) => services.case().review(c).await.ok(),
                None => None,
            }
        }
    });
    let s = match &*judged.read() {
        Some(Some(s)) => s.clone(),
        _ => summarise(&state.entries.read(), services.protocol(), now),
    };
    let open = s.open_advisories.len() + s.artefacts.len();
    let threshold = services.protocol().gdp.do2i_threshold;
    let loader = services.clone();
    let gdp = use_resource(move || {
        let services = loader.clone();
        async move {
            match case {
                Some(c) => services.case().gdp_report(c).await,
                None => Err("no case".to_string()),
            }
        }
    });
    let gdp_rows: Vec<(&str, String)> = match &*gdp.read() {
        None => vec![("DO₂i", "calculating…".to_string())],
        Some(Err(why)) => vec![("DO₂i", format!("not available: {why}"))],
        Some(Ok(r)) => vec![
            (
                "DO₂i nadir",
                match r.below.nadir {
                    Some((v, at)) => format!("{v:.0} mL/min/m² at {}", hhmm(at)),
                    None => "no DO₂i on bypass (flow and an arterial gas are needed)".into(),
                },
            ),
            (
                "DO₂i below threshold",
                format!(
                    "{} min, area {:.0} mL/m² (threshold {threshold:.0}; {} min covered, {} gap(s), {} flow value(s) before the first gas)",
                    r.below.time_below.num_minutes(),
                    r.below.area,
                    r.below.covered.num_minutes(),
                    r.below.gaps.len(),
                    r.without_gas
                ),
            ),
        ],
    };
    rsx! {
        div { class: "sheet", "data-sheet": "review",
            h2 { class: "section-title", "Case end: review and sign" }
            div { class: "kv",
                span { class: "k", "Bypass" } span { "data-summary": "bypass", "{format_clock(s.bypass)} ({s.bypass_runs} run(s))" }
                span { class: "k", "Cross-clamp" } span { "data-summary": "cross-clamp", "{format_clock(s.cross_clamp)}" }
                span { class: "k", "Circulatory arrest" } span { "{format_clock(s.circ_arrest)}" }
                span { class: "k", "Fluid in / out / net" }
                span { "data-summary": "fluid", "{s.fluid.total_in():.0} / {s.fluid.total_out():.0} / {s.fluid.net():+.0} mL" }
                for (label, text) in s.extremes.iter() {
                    span { class: "k", "{label}" } span { "{text}" }
                }
                for sc in s.scores.iter() {
                    span { class: "k", "{sc.name} v{sc.version}" }
                    span { "data-summary": "score", "{sc.total} / {sc.max} ({sc.missing().count()} rule(s) without a value on bypass)" }
                }
                for (k, v) in gdp_rows.iter() {
                    span { class: "k", "{k}" } span { "data-summary": "gdp", "{v}" }
                }
                for ind in s.indicators.iter() {
                    span { class: "k", "{ind.name}" }
                    span { match ind.passed { Some(true) => "met", Some(false) => "NOT met", None => "no value on bypass" } }
                }
            }
            GasTable {}
            h3 { "Open questions ({open})" }
            if open == 0 { p { class: "muted", "None: every advisory was acknowledged and nothing was marked as artefact." } }
            ul { class: "open-questions",
                for a in s.open_advisories.iter() {
                    li { "Advisory not acknowledged: {a.message} (raised {hhmm(a.raised_at)})" }
                }
                for a in s.artefacts.iter() {
                    li { "Marked artefact: {a.what}: {a.reason}" }
                }
            }
            p { class: "muted", "Signing closes the record: later additions are amendments with a reason." }
            CaseAudit {}
        }
    }
}

/// Who did what, when, on which device: every entry of the case and every security event about
/// it (an integrity finding shows here in the alarm colour).
#[component]
fn CaseAudit() -> Element {
    let state = use_context::<UiState>();
    let services = use_context::<Services>();
    let case = state.case.read().as_ref().map(|c| c.id);
    let loader = services.clone();
    let lines = use_resource(move || {
        let services = loader.clone();
        let _changed = state.entries.read().len();
        async move {
            match case {
                Some(c) => services.case_audit(c).await.map_err(|e| e.to_string()),
                None => Ok(Vec::new()),
            }
        }
    });
    let body = match &*lines.read() {
        None => rsx! { p { class: "muted", "Reading the audit…" } },
        Some(Err(e)) => {
            rsx! { p { class: "error", role: "alert", "The audit could not be read: {e}" } }
        }
        Some(Ok(lines)) => rsx! {
            table { class: "audit-table", "data-table": "audit",
                thead { tr { th { "Recorded" } th { "What" } th { "Who" } th { "Device" } } }
                tbody {
                    for (i, l) in lines.iter().enumerate() {
                        tr { key: "{i}", class: if l.security { "audit-security" } else { "" },
                            td { "{hhmm(l.at)}" } td { "{l.what}" } td { "{l.by}" } td { "{l.device}" }
                        }
                    }
                }
            }
        },
    };
    rsx! {
        h3 { "Audit: who did what, when, on which device" }
        div { class: "gas-table-wrap", {body} }
    }
}

/// Every blood gas of the case, one column each, one row per analyte: each analyte's trend reads
/// across its row, flagged against the protocol's ranges.
#[component]
fn GasTable() -> Element {
    let state = use_context::<UiState>();
    let services = use_context::<Services>();
    let entries = state.entries.read();
    let table = timeline::gas_table(&CaseView::derive(&entries), services.protocol());
    if table.columns.is_empty() {
        return rsx! { p { class: "muted", "No blood gas recorded." } };
    }
    rsx! {
        h3 { "Blood gases" }
        div { class: "gas-table-wrap",
            table { class: "gas-table", "data-table": "gases",
                thead {
                    tr {
                        th { "" }
                        for (i, (at, site)) in table.columns.iter().enumerate() {
                            th { key: "{i}", "{hhmm(*at)}" br {} span { class: "muted", "{site}" } }
                        }
                        th { "Range" }
                    }
                }
                tbody {
                    for (a, cells) in table.rows.iter() {
                        tr { key: "{a.code()}", "data-analyte": "{a.code()}",
                            th { "{a.label()}" }
                            for (i, cell) in cells.iter().enumerate() {
                                match cell {
                                    Some(p) => rsx! {
                                        td { key: "{i}", class: if p.flag.is_some() { "flagged" } else { "" },
                                            "data-flag": p.flag.map(|f| f.code()).unwrap_or("none"),
                                            "{p.value}"
                                            if p.unit != a.canonical_unit() { " {p.unit}" }
                                            if let Some(f) = p.flag { strong { class: "flag", " {f.label()}" } }
                                        }
                                    },
                                    None => rsx! { td { key: "{i}", class: "muted", "·" } },
                                }
                            }
                            td { class: "muted", {services.protocol().analyte_range_text(*a).unwrap_or_default()} }
                        }
                    }
                }
            }
        }
    }
}

/// "Undo ACT 380 s (8 s)" for the last one-tap entry: a button in the action bar's free slot,
/// never a message over the form fields.
#[component]
fn UndoButton() -> Element {
    let state = use_context::<UiState>();
    let services = use_context::<Services>();
    let now = *state.now.read();
    let undo = state.undo.read().clone();
    let case = state.case.read().as_ref().map(|c| c.id);
    let (Some((id, label, until)), Some(case)) = (undo, case) else {
        return rsx! {};
    };
    if now >= until {
        return rsx! {};
    }
    let left = (until - now).num_seconds().max(1);
    rsx! {
        button { class: "action undo", "data-action": "undo", title: "Recorded: {label}",
                onclick: move |_| {
                    let services = services.clone();
                    let mut undo = state.undo;
                    undo.set(None);
                    spawn(async move {
                        let payload = EntryPayload::Retraction {
                            target: id,
                            reason: format!("Undone within {UNDO_SECS} s of entry"),
                        };
                        if let Err(e) = state.record(&services, case, payload).await {
                            let mut notice = state.notice;
                            notice.set(Some(format!("Undo was NOT recorded: {e}")));
                        }
                    });
                },
                span { class: "undo-what", "Undo {label}" }
                span { class: "undo-left", " ({left} s)" }
        }
    }
}

/// The run's handover notes, newest first, each with who wrote it and when (corrections applied,
/// retracted notes left out). Written from More… › Handover note; shown on ECMO runs always,
/// on other cases once there is one.
#[component]
fn HandoverNotes(ecmo: bool) -> Element {
    let state = use_context::<UiState>();
    let entries = state.entries.read();
    let view = CaseView::derive(&entries);
    let notes: Vec<(EntryId, String, String, String)> = view
        .entries
        .iter()
        .rev()
        .filter_map(|e| match e.payload {
            EntryPayload::HandoverNote { text } => Some((
                e.original.id,
                e.occurred_at()
                    .with_timezone(&chrono::Local)
                    .format("%d %b %H:%M")
                    .to_string(),
                e.original.author.user.clone(),
                text.clone(),
            )),
            _ => None,
        })
        .collect();
    if notes.is_empty() && !ecmo {
        return rsx! {};
    }
    rsx! {
        section { class: "handover-notes", "data-section": "handover",
            h2 { class: "section-title", "Handover notes" }
            if notes.is_empty() {
                p { class: "empty", "No handover note yet: More… › Handover note." }
            }
            ul { class: "handover-list",
                for (id, at, who, text) in notes {
                    li { key: "{id}", "data-handover": "",
                        span { class: "muted", "{at} · {who}" }
                        p { class: "handover-text", "{text}" }
                    }
                }
            }
        }
    }
}

/// The newest clinical entries, with artefact marking and retraction.
#[component]
fn Timeline(on_mark: EventHandler<(EntryId, MarkKind)>) -> Element {
    let state = use_context::<UiState>();
    let services = use_context::<Services>();
    let protocol = services.protocol();
    let entries = state.entries.read();
    let view = CaseView::derive(&entries);
    let facts = state.facts.read();
    let anticoag = &facts.anticoag;
    let kind = state.case.read().as_ref().map_or(CaseKind::Cpb, |c| c.kind);
    // Clinical entries, and a device's link loss and return (which explain a gap in the trend).
    // Sorted first; only the rows shown are described (a long case has thousands of entries).
    enum Row<'a> {
        Clinical(&'a crate::domain::record::Effective<'a>),
        Link(&'a crate::domain::Entry),
    }
    let mut all: Vec<(DateTime<Utc>, Row)> = view
        .entries
        .iter()
        .map(|e| (e.occurred_at(), Row::Clinical(e)))
        .chain(
            entries
                .iter()
                .filter(|e| matches!(e.payload, EntryPayload::DeviceLink { .. }))
                .map(|e| (e.occurred_at, Row::Link(e))),
        )
        .collect();
    all.sort_by_key(|r| r.0);
    let rows: Vec<_> = all
        .iter()
        .rev()
        .take(12)
        .map(|(at, row)| match row {
            Row::Clinical(e) => {
                let markable = matches!(
                    e.payload,
                    EntryPayload::BloodGas(_)
                        | EntryPayload::Measurement { .. }
                        | EntryPayload::Act { .. }
                );
                (
                    e.original.id,
                    hhmm(*at),
                    {
                        let mut line = timeline::line(e, protocol, anticoag);
                        // An ECMO run's start of support is not "On bypass".
                        if let EntryPayload::Event { event } = e.payload {
                            line.head = event.label_for(kind).to_string();
                        }
                        line
                    },
                    e.artefact.map(str::to_string),
                    !e.corrections.is_empty(),
                    markable,
                    true,
                )
            }
            Row::Link(e) => (
                e.id,
                hhmm(*at),
                timeline::Line {
                    head: quick::describe(&e.payload),
                    parts: Vec::new(),
                },
                None,
                false,
                false,
                false,
            ),
        })
        .collect();
    rsx! {
        section { class: "timeline", "data-section": "timeline",
            h2 { class: "section-title", "Timeline" }
            if rows.is_empty() { p { class: "muted", "Nothing recorded yet." } }
            for (id, at, text, artefact, corrected, markable, retractable) in rows {
                div { key: "{id}", class: if artefact.is_some() { "timeline-row artefact" } else { "timeline-row" },
                    span { class: "timeline-time", "{at}" }
                    span { class: "timeline-text",
                        if !text.head.is_empty() { span { class: "timeline-head", "{text.head}" } }
                        if !text.parts.is_empty() {
                            span { class: "lab-parts",
                                for part in text.parts.iter() {
                                    span { key: "{part.key}", class: if part.flag.is_some() { "lab-part flagged" } else { "lab-part" },
                                        "data-lab": "{part.key}", "data-flag": part.flag.map(|f| f.code()).unwrap_or("none"),
                                        title: part.range.clone().unwrap_or_default(),
                                        "{part.label} {part.value}"
                                        if !part.unit.is_empty() { " {part.unit}" }
                                        if let Some(f) = part.flag { strong { class: "flag", " {f.label()}" } }
                                    }
                                }
                            }
                        }
                        if corrected { span { class: "chip", " corrected" } }
                        if let Some(r) = &artefact { span { class: "chip warn", "ARTEFACT: {r}" } }
                    }
                    span { class: "timeline-actions",
                        if markable && artefact.is_none() {
                            button { class: "small-button", "data-mark": "artefact",
                                onclick: move |_| on_mark.call((id, MarkKind::Artefact)), "Artefact" }
                        }
                        if retractable {
                            button { class: "small-button", "data-mark": "retract",
                                onclick: move |_| on_mark.call((id, MarkKind::Retract)), "Retract" }
                        }
                    }
                }
            }
        }
    }
}

/// The whole-case trend chart with zoom and tap-to-read.
#[component]
fn TrendChart(case: CaseId, kind: CaseKind, started: DateTime<Utc>) -> Element {
    let state = use_context::<UiState>();
    let services = use_context::<Services>();
    let zooms = Zoom::for_kind(kind);
    let mut zoom = use_signal(|| zooms[0]);
    let mut tapped = use_signal(|| None::<usize>);
    // Reload every 5 s of the clock (and on zoom): the store's bucketed trend is cheap.
    let tick = state.now.read().timestamp() / 5;
    let loader = services.clone();
    let data = use_resource(use_reactive!(|(case, tick)| {
        let services = loader.clone();
        let zoom = zoom();
        async move {
            let _ = tick;
            let now = Utc::now();
            let (from, to) = zoom.window(started, now);
            services
                .case()
                .trend_series(case, trend::parameters_for(kind), from, to, CHART_BUCKETS)
                .await
                .map(|s| (from, to, s))
        }
    }));
    let events = state.facts.read().events.clone();
    let guard = data.read();
    let body = match &*guard {
        None => rsx! { p { class: "muted", "Loading trends…" } },
        Some(Err(e)) => rsx! { p { class: "error", "Trends could not be read: {e}" } },
        Some(Ok((from, to, series))) => {
            let m = trend::chart(series, &events, services.protocol(), *from, *to);
            let plot_w = trend::WIDTH - trend::LEFT;
            let zone_w = plot_w / trend::TAP_ZONES as f64;
            let readout = tapped().map(|z| trend::values_at(series, *from, *to, z));
            rsx! {
                // The plot stretches to the room it has; its text is HTML laid over it at a
                // fixed 16 px (SVG text would stretch with the plot).
                div { class: "trend-plot",
                    svg { class: "trend-svg", view_box: "0 0 {trend::WIDTH} {m.height}", preserve_aspect_ratio: "none",
                        for lane in m.lanes.iter() {
                            g { key: "{lane.parameter.code()}", "data-lane": "{lane.parameter.code()}",
                                rect { x: "{trend::LEFT}", y: "{lane.top}", width: "{plot_w}", height: "{trend::LANE_HEIGHT}", class: "lane-bg" }
                                if let Some((y1, y2)) = lane.band {
                                    rect { x: "{trend::LEFT}", y: "{y1}", width: "{plot_w}", height: "{(y2 - y1).max(0.0)}", class: "lane-band" }
                                }
                                path { d: "{lane.envelope_path}", class: "lane-envelope" }
                                path { d: "{lane.mean_path}", class: "lane-mean" }
                            }
                        }
                        for (i, mk) in m.markers.iter().enumerate() {
                            line { key: "m{i}", x1: "{mk.x}", x2: "{mk.x}", y1: "0", y2: "{m.height}", class: "marker" }
                        }
                        for z in 0..trend::TAP_ZONES {
                            rect { key: "z{z}", x: "{trend::LEFT + z as f64 * zone_w}", y: "0", width: "{zone_w}", height: "{m.height}",
                                class: if tapped() == Some(z) { "tap-zone tapped" } else { "tap-zone" },
                                onclick: move |_| tapped.set(Some(z)) }
                        }
                    }
                    for (i, mk) in m.markers.iter().enumerate() {
                        // Alternate rows, so events close in time do not print over each other.
                        span { key: "k{i}", class: if i % 2 == 0 { "marker-label" } else { "marker-label upper" }, "data-chart-text": "marker",
                            style: "left: {mk.x / trend::WIDTH * 100.0}%;", "{mk.label}" }
                    }
                    for lane in m.lanes.iter() {
                        span { key: "l{lane.parameter.code()}", class: "lane-text", "data-chart-text": "lane",
                            style: "top: {lane.top / m.height * 100.0}%;",
                            "{lane.parameter.label()} "
                            span { class: "lane-scale", "{lane.scale.0:.0}–{lane.scale.1:.0}" }
                        }
                    }
                }
                div { class: "trend-axis",
                    for (x, label) in m.ticks.iter() {
                        span { key: "{label}", class: "tick", "data-chart-text": "tick",
                            style: "left: {x / trend::WIDTH * 100.0}%;", "{label}" }
                    }
                }
                if let Some((at, rows)) = readout {
                    div { class: "readout", "data-readout": "1",
                        strong { "{hhmmss(at)}" }
                        for (p, text) in rows {
                            span { key: "{p.code()}", " · {p.label()} {text}" }
                        }
                    }
                }
            }
        }
    };
    rsx! {
        section { class: "trend", "data-section": "trend",
            div { class: "trend-head",
                h2 { class: "section-title", "Trends" }
                for &z in zooms {
                    button { key: "{z.code()}", class: if zoom() == z { "small-button current" } else { "small-button" },
                        "data-zoom": z.code(), onclick: move |_| { zoom.set(z); tapped.set(None); }, "{z.label()}" }
                }
            }
            {body}
        }
    }
}

/// Reminders and advisories, shown above every screen while a case runs.
#[component]
pub fn AlertStrip() -> Element {
    let state = use_context::<UiState>();
    let services = use_context::<Services>();
    let now = *state.now.read();
    if state.case.read().is_none() {
        return rsx! {};
    }
    let reminders = state.facts.read().reminders.clone();
    // Derived from the record (the ACT entries), so it is the same on every device and clears
    // when an ACT at target is recorded.
    let act_advisory = state.facts.read().anticoag.advisory();
    let active: Vec<ActiveAdvisory> = state.advisories.read().active(now);
    let snooze =
        Duration::milliseconds((services.protocol().advisories.snooze_min * 60_000.0) as i64);
    let snooze_min = services.protocol().advisories.snooze_min;
    rsx! {
        div { class: "alert-strip", "data-strip": "alerts",
            if reminders.is_empty() && active.is_empty() && act_advisory.is_none() {
                span { class: "muted", "No reminders due · no advisories" }
            }
            span { class: "advisory-note", "Advisories only. The heart-lung machine keeps the primary alarms." }
            if let Some(text) = act_advisory {
                span { class: "advisory", "data-advisory": "act-low", "⚠ {text}: consider heparin (Heparin form suggests a top-up)" }
            }
            for r in reminders {
                match r {
                    Ok(r) => {
                        let (class, text) = match r.due(now) {
                            Due::In(d) if d <= Duration::minutes(2) => ("reminder soon", format!("{} in {}", r.label, format_clock(d))),
                            Due::In(d) => ("reminder", format!("{} in {}", r.label, format_clock(d))),
                            Due::Overdue(d) => ("reminder overdue", format!("{} OVERDUE {}", r.label, format_clock(d))),
                        };
                        rsx! { span { key: "{r.id}", class: "{class}", "data-reminder": "{r.id}", title: "{r.basis}", "{text}" } }
                    }
                    Err(why) => rsx! { span { class: "reminder muted", "{why}" } },
                }
            }
            for a in active {
                {
                    let id_ack = a.id.clone();
                    let id_snooze = a.id.clone();
                    let services_ack = services.clone();
                    let services_snooze = services.clone();
                    rsx! {
                        span { key: "{a.id}", class: if a.acknowledged { "advisory seen" } else { "advisory" }, "data-advisory": "{a.id}",
                            "⚠ {a.message} since {hhmmss(a.since)}"
                            if !a.acknowledged {
                                button { class: "small-button", onclick: move |_| {
                                    advisory_action(state, services_ack.clone(), id_ack.clone(), None);
                                }, "Acknowledge" }
                            }
                            button { class: "small-button", onclick: move |_| {
                                advisory_action(state, services_snooze.clone(), id_snooze.clone(), Some(Utc::now() + snooze));
                            }, "Snooze {snooze_min} min" }
                        }
                    }
                }
            }
        }
    }
}

/// Acknowledge (or snooze until) an advisory of the followed case: a command to the session.
fn advisory_action(
    state: UiState,
    services: Services,
    id: String,
    snooze_until: Option<DateTime<Utc>>,
) {
    let Some(case) = state.case.peek().as_ref().map(|c| c.id) else {
        return;
    };
    spawn(async move {
        services
            .case()
            .advisory_action(case, &id, snooze_until)
            .await
    });
}

fn hhmm(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono::Local).format("%H:%M").to_string()
}

fn hhmmss(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono::Local)
        .format("%H:%M:%S")
        .to_string()
}
