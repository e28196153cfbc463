//! The checklist screen: start a run, answer the current item with one tap from a fixed action
//! bar (big targets, gloves on), see progress and every item, sign when complete.

use dioxus::prelude::*;

use super::state::UiState;
use crate::app::Services;
use crate::domain::checklist::{self, Answer, ItemKind, Purpose, RunState, Template};
use crate::domain::live::format_age;
use crate::domain::{Decimal, EntryId, EntryPayload};

/// The confirm button of a signature takes taps only this long after it appears.
const CONFIRM_AFTER_MS: i64 = 1_000;

/// Latest version of each template id (the store keeps every version ever imported).
fn latest(templates: &[Template]) -> Vec<Template> {
    let mut out: Vec<Template> = Vec::new();
    for t in templates {
        match out.iter_mut().find(|o| o.id == t.id) {
            Some(o) => *o = t.clone(),
            None => out.push(t.clone()),
        }
    }
    out
}

fn answer_text(a: &Answer) -> String {
    match a {
        Answer::Checked => "✓".into(),
        Answer::Yes => "Yes".into(),
        Answer::No => "No".into(),
        Answer::Number(d) => d.to_string(),
        Answer::Text(t) => t.clone(),
        Answer::Choice(c) => c.clone(),
        Answer::NotApplicable { reason } => format!("N/A: {reason}"),
    }
}

#[component]
pub fn Checklists() -> Element {
    let services = use_context::<Services>();
    let state = use_context::<UiState>();
    let loader = services.clone();
    let templates = use_resource(move || {
        let services = loader.clone();
        async move { services.templates().await }
    });
    let mut typed = use_signal(String::new);
    let mut na_reason = use_signal(String::new);
    // The run whose signature is being confirmed, and since when.
    let mut confirm_sign = use_signal(|| None::<(EntryId, chrono::DateTime<chrono::Utc>)>);

    let all: Vec<Template> = match &*templates.read() {
        Some(Ok(t)) => t.clone(),
        _ => Vec::new(),
    };
    let problems = services.template_problems().to_vec();
    let case = state.case.read().clone();
    let entries = state.entries.read().clone();
    let now = *state.now.read();

    let append = {
        let services = services.clone();
        move |payload: EntryPayload| {
            let services = services.clone();
            let Some(case) = state.case.peek().clone() else {
                return;
            };
            let what = crate::domain::quick::describe(&payload);
            spawn(async move {
                let r = state.record(&services, case.id, payload).await;
                state.report(&what, r.map(|_| ()));
            });
        }
    };

    let header = rsx! {
        h1 { class: "screen-title", "Checklists" }
        p { class: "screen-purpose",
            "Versioned checklists; each answer is recorded with who and when, and a completed run is signed. Starting bypass without a signed pre-bypass checklist needs an override with a reason."
        }
        for p in problems.iter() {
            p { key: "{p}", class: "error", role: "alert", "Template not loaded: {p}" }
        }
    };
    let Some(case) = case else {
        return rsx! {
            {header}
            p { class: "empty", "No running case. Checklists belong to a case." }
        };
    };

    let runs = checklist::runs(&entries);
    let template_of = |digest: &str| all.iter().find(|t| t.digest == digest).cloned();
    let active = runs
        .iter()
        .rev()
        .find(|r| r.signed.is_none())
        .and_then(|r| template_of(&r.digest).map(|t| (r.clone(), t)));
    let startable = latest(&all);

    // The bottom bar: what one tap does now.
    let bar = match &active {
        None => {
            let pre = startable
                .iter()
                .find(|t| t.purpose == Purpose::PreBypass)
                .cloned();
            let pre_signed = runs
                .iter()
                .any(|r| r.purpose == Purpose::PreBypass && r.signed.is_some());
            match pre {
                Some(t) if !pre_signed => {
                    let append = append.clone();
                    rsx! {
                        button { class: "action wide", "data-action": "start-pre-bypass",
                            onclick: move |_| append(EntryPayload::ChecklistStarted {
                                template: t.id.clone(), version: t.version.clone(),
                                digest: t.digest.clone(), purpose: t.purpose,
                            }),
                            "Start pre-bypass"
                        }
                    }
                }
                _ => rsx! { span { class: "muted", "No checklist in progress." } },
            }
        }
        Some((run, t)) => {
            let st = RunState::derive(t, &run.recorded);
            let progress = format!("{} / {}", st.answered, st.total);
            let run_id: EntryId = run.id;
            match st.next_mandatory().and_then(|id| t.item(id)).cloned() {
                None => {
                    // Signing takes a deliberate second step: the first tap shows what is
                    // signed; the Sign button takes taps only a moment later.
                    let append = append.clone();
                    let asked = confirm_sign()
                        .filter(|(r, _)| *r == run_id)
                        .map(|(_, at)| at);
                    match asked {
                        None => rsx! {
                            button { class: "action secondary", "data-action": "sign",
                                onclick: move |_| confirm_sign.set(Some((run_id, chrono::Utc::now()))),
                                "Sign checklist…"
                            }
                            span { class: "progress", "{progress}" }
                        },
                        Some(at) => {
                            let ready =
                                now - at >= chrono::Duration::milliseconds(CONFIRM_AFTER_MS);
                            let na = st
                                .answers
                                .values()
                                .filter(|r| matches!(r.answer, Answer::NotApplicable { .. }))
                                .count();
                            rsx! {
                                button { class: "action secondary", "data-action": "back",
                                    onclick: move |_| confirm_sign.set(None), "Back" }
                                span { class: "confirm-text", "data-confirm": "sign-checklist",
                                    "Sign {t.title} v{t.version}: {st.answered} of {st.total} answered, {na} not applicable, as {services.author().user}?" }
                                button { class: "action ok", "data-action": "confirm-sign", disabled: !ready,
                                    onclick: move |_| {
                                        if chrono::Utc::now() - at < chrono::Duration::milliseconds(CONFIRM_AFTER_MS) {
                                            return;
                                        }
                                        confirm_sign.set(None);
                                        append(EntryPayload::ChecklistSigned { run: run_id });
                                    },
                                    if ready { "Sign now" } else { "Read, then sign…" }
                                }
                            }
                        }
                    }
                }
                Some(item) => {
                    let answer = {
                        let append = append.clone();
                        let id = item.id.clone();
                        move |a: Answer| {
                            append(EntryPayload::ChecklistAnswer {
                                run: run_id,
                                item: id.clone(),
                                answer: a,
                            });
                        }
                    };
                    let na = {
                        let answer = answer.clone();
                        move |_| {
                            let reason = na_reason.peek().trim().to_string();
                            na_reason.set(String::new());
                            answer(Answer::NotApplicable { reason });
                        }
                    };
                    let na_ready = !na_reason.read().trim().is_empty();
                    let main = match &item.kind {
                        ItemKind::Check => {
                            let answer = answer.clone();
                            rsx! { button { class: "action wide ok", "data-action": "check", onclick: move |_| answer(Answer::Checked), "✓ Checked" } }
                        }
                        ItemKind::YesNo => {
                            let (a1, a2) = (answer.clone(), answer.clone());
                            rsx! {
                                button { class: "action", "data-action": "yes", onclick: move |_| a1(Answer::Yes), "Yes" }
                                button { class: "action", "data-action": "no", onclick: move |_| a2(Answer::No), "No" }
                            }
                        }
                        ItemKind::Choice { options } => rsx! {
                            for o in options.clone() {
                                {
                                    let answer = answer.clone();
                                    let label = o.clone();
                                    rsx! { button { key: "{o}", class: "action", onclick: move |_| answer(Answer::Choice(o.clone())), "{label}" } }
                                }
                            }
                        },
                        ItemKind::Number { .. } | ItemKind::Text => {
                            let unit = match &item.kind {
                                ItemKind::Number { unit, .. } => unit.clone(),
                                _ => String::new(),
                            };
                            let is_number = matches!(item.kind, ItemKind::Number { .. });
                            let answer = answer.clone();
                            rsx! {
                                input { class: "action-input", "data-action": "value", inputmode: if is_number { "decimal" } else { "text" },
                                    placeholder: if is_number { "value" } else { "text" },
                                    key: "{item.id}", initial_value: "{typed}", oninput: move |e| typed.set(e.value()) }
                                button { class: "action", "data-action": "save",
                                    onclick: move |_| {
                                        let text = typed.peek().trim().to_string();
                                        if is_number {
                                            match text.parse::<Decimal>() {
                                                Ok(d) => { typed.set(String::new()); answer(Answer::Number(d)); }
                                                Err(e) => { let mut st = state; st.notice.set(Some(e.to_string())); }
                                            }
                                        } else {
                                            typed.set(String::new());
                                            answer(Answer::Text(text));
                                        }
                                    },
                                    "Save {unit}"
                                }
                            }
                        }
                    };
                    rsx! {
                        {main}
                        button { class: "action", "data-action": "na", disabled: !na_ready, onclick: na, "N/A" }
                        span { class: "progress", "{progress}" }
                    }
                }
            }
        }
    };

    let current = active.as_ref().map(|(run, t)| {
        let st = RunState::derive(t, &run.recorded);
        let next = st.next_mandatory().and_then(|id| t.item(id)).cloned();
        let section = next
            .as_ref()
            .and_then(|n| {
                t.sections
                    .iter()
                    .find(|s| s.items.iter().any(|i| i.id == n.id))
            })
            .map(|s| s.title.clone())
            .unwrap_or_default();
        (run.clone(), t.clone(), st, next, section)
    });

    rsx! {
        {header}
        if let Some((run, t, st, next, section)) = current {
            div { class: "run-card",
                div { class: "run-head",
                    span { class: "run-title", "{t.title}" }
                    span { class: "chip", "version {t.version}" }
                    span { class: "chip", "{st.answered} of {st.total} answered" }
                }
                progress { class: "run-progress", max: "{st.total}", value: "{st.answered}" }
                match next {
                    Some(item) => rsx! {
                        div { class: "current-item", "data-item": "{item.id}",
                            span { class: "muted", "{section}" }
                            span { class: "current-text", "{item.text}" }
                            if let Some(h) = item.help.clone() { span { class: "muted", "{h}" } }
                            input { class: "na-reason", placeholder: "Reason, if not applicable",
                                key: "{item.id}", initial_value: "{na_reason}", oninput: move |e| na_reason.set(e.value()) }
                        }
                    },
                    None => rsx! { p { class: "current-text", "All mandatory items answered: sign the checklist." } },
                }
                for s in t.sections.iter() {
                    h2 { key: "{s.title}", class: "run-section", "{s.title}" }
                    ul { class: "run-items",
                        for i in s.items.iter() {
                            li { key: "{i.id}", class: if st.answers.contains_key(&i.id) { "run-item done" } else { "run-item" },
                                span { "{i.text}" }
                                span { class: "run-answer",
                                    match st.answers.get(&i.id) {
                                        Some(r) => format!("{} · {} · {}", answer_text(&r.answer), r.by.user, r.at.format("%H:%M")),
                                        None if i.mandatory => "—".to_string(),
                                        None => "optional".to_string(),
                                    }
                                    // A number the protocol wants at least (the ACT before bypass):
                                    // below it is flagged, never shown as done.
                                    if let Some(target) = st.answers.get(&i.id).and_then(|r| i.short_of(&r.answer, services.protocol())) {
                                        strong { class: "flag", "data-below-target": "{i.id}", " BELOW TARGET (≥ {target})" }
                                    }
                                }
                            }
                        }
                    }
                }
                p { class: "muted", "Run started {format_age(now - run.started)} ago." }
            }
        }
        h2 { class: "run-section", "Runs on this case" }
        if runs.is_empty() {
            p { class: "empty", "No checklist run yet on {case.label}." }
        }
        ul { class: "case-list",
            for r in runs.iter() {
                {
                    let title = template_of(&r.digest).map(|t| t.title.clone()).unwrap_or(r.template_id.clone());
                    let status = match &r.signed {
                        Some((by, at)) => format!("signed by {} at {}", by.user, at.format("%H:%M")),
                        None => "in progress".to_string(),
                    };
                    let due = template_of(&r.digest).and_then(|t| t.every_hours).map(|h| {
                        let d = checklist::due_status(h, r.signed.as_ref().map(|s| s.1), r.started, now);
                        if d.overdue { format!("OVERDUE by {}", format_age(d.overdue_by)) } else { format!("next due {}", d.due_at.format("%H:%M")) }
                    });
                    rsx! {
                        li { key: "{r.id}", class: "case-row",
                            span { class: "case-label", "{title}" }
                            span { class: "chip", "v {r.version}" }
                            span { class: if r.signed.is_some() { "chip running" } else { "chip" }, "{status}" }
                            if let Some(d) = due { span { class: "chip", "{d}" } }
                        }
                    }
                }
            }
        }
        h2 { class: "run-section", "Start a checklist" }
        div { class: "start-grid",
            for t in startable.iter() {
                {
                    let append = append.clone();
                    let t2 = t.clone();
                    rsx! {
                        button { key: "{t.id}", class: "start-button", "data-start": "{t.id}",
                            onclick: move |_| append(EntryPayload::ChecklistStarted {
                                template: t2.id.clone(), version: t2.version.clone(),
                                digest: t2.digest.clone(), purpose: t2.purpose,
                            }),
                            "{t.title}"
                            span { class: "muted", " v{t.version}" }
                        }
                    }
                }
            }
        }
        div { class: "action-bar", {bar} }
    }
}
