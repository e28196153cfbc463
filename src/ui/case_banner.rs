//! The case on screen, always explicit: the patient banner (name, age, sex, weight, blood group,
//! MRN) with the case's label, kind and status on every case screen, and the other live cases
//! one tap away. Only a person changes the case on screen (a tap here or on a case row).

use dioxus::prelude::*;

use super::state::UiState;
use crate::app::Services;
use crate::domain::intake;
use crate::domain::routing::takes_samples;
use crate::domain::CaseId;

#[component]
pub fn CaseBanner() -> Element {
    let state = use_context::<UiState>();
    let services = use_context::<Services>();
    let case = state.case.read().clone();
    let Some(case) = case else {
        return rsx! {};
    };
    let today = state.now.read().with_timezone(&chrono::Local).date_naive();
    let patient = state.patient.read().clone();
    // Where the patient is: the newest location entry (More… › Location), derived once per
    // change with the other facts (this banner redraws every second).
    let location = state.facts.read().location.clone();
    // Other set-up and running cases, re-read when the followed case changes.
    let loader = services.clone();
    let others = use_resource(move || {
        let services = loader.clone();
        let _ = state.case.read();
        async move { services.list_cases().await }
    });
    let others: Vec<(CaseId, String, String)> = match &*others.read() {
        Some(Ok(list)) => list
            .iter()
            .filter(|c| c.id != case.id && takes_samples(c.status))
            .map(|c| (c.id, c.label.clone(), c.status.label().to_string()))
            .collect(),
        _ => Vec::new(),
    };
    let n_others = others.len();
    let switch = move |id: CaseId| {
        let services = services.clone();
        spawn(async move {
            if let Err(e) = services.case().follow(id).await {
                let mut notice = state.notice;
                notice.set(Some(format!("The case could not be opened: {e}")));
            }
        });
    };
    rsx! {
        div { class: "case-banner", "data-banner": "{case.id}",
            div { class: "banner-patient",
                match patient {
                    Some(p) => rsx! {
                        for (key, text) in intake::banner(&p, today) {
                            span { key: "{key}", class: "banner-{key}", "data-banner-field": "{key}", "{text}" }
                        }
                    },
                    None => rsx! { span { class: "banner-name", "data-banner-field": "name", "No patient on this case" } },
                }
            }
            div { class: "banner-case",
                span { class: "banner-label", "{case.label}" }
                span { class: "chip", "{case.kind.label()}" }
                if let Some(place) = location {
                    span { class: "chip", "data-location": "", "{place}" }
                }
                span { class: "chip", "data-status": "{case.status.code()}", "{case.status.label()}" }
                if case.is_demo { span { class: "chip demo", "DEMO" } }
                // One other live case: a button; several (an ICU tablet with runs in several
                // beds): one chooser, so the banner stays one line and the board keeps its room.
                if others.len() == 1 {
                    for (id, label, status) in others.clone() {
                        button { key: "{id}", class: "switch-case", "data-switch-case": "{id}",
                            onclick: {
                                let switch = switch.clone();
                                move |_| switch(id)
                            },
                            "Switch to {label} ({status})" }
                    }
                } else if others.len() > 1 {
                    select { class: "switch-case switch-select", "data-switch-select": "{n_others}",
                        "aria-label": "Switch to another live case",
                        onchange: {
                            let switch = switch.clone();
                            move |e: FormEvent| {
                                if let Ok(id) = e.value().parse::<CaseId>() {
                                    switch(id);
                                }
                            }
                        },
                        option { value: "", selected: true, "Other live cases ({n_others})…" }
                        for (id, label, status) in others {
                            option { key: "{id}", value: "{id}", "{label} ({status})" }
                        }
                    }
                }
            }
        }
    }
}
