//! The Cases screen: the cases on this device and starting one by MRN.

use dioxus::prelude::*;

use std::collections::BTreeMap;

use super::common::*;
use super::state::{Screen, UiState};
use crate::app::services::{DEMO_MRN_SYSTEM, LOCAL_MRN_SYSTEM};
use crate::app::Services;
use crate::domain::intake;
use crate::domain::patient::{BloodGroup, Mrn, Sex};
use crate::domain::{AppMode, CaseStatus};
use crate::domain::{CaseKind, Patient};

#[component]
pub fn Cases() -> Element {
    let services = use_context::<Services>();
    let state = use_context::<UiState>();
    // Re-read when the followed case or its events change (e.g. demo case created).
    let loader = services.clone();
    let cases = use_resource(move || {
        let services = loader.clone();
        let _ = state.case.read();
        async move { services.list_cases().await }
    });
    let followed = state.case.read().as_ref().map(|c| c.id);
    // A person chooses the case on screen: tapping a row follows it (nothing else moves it).
    let open = move |id: crate::domain::CaseId| {
        let services = services.clone();
        spawn(async move {
            match services.case().follow(id).await {
                Ok(()) => state.navigate(Screen::Live),
                Err(e) => {
                    let mut notice = state.notice;
                    notice.set(Some(format!("The case could not be opened: {e}")));
                }
            }
        });
    };
    let listing = match &*cases.read() {
        None => rsx! { p { class: "muted", "Loading cases…" } },
        Some(Err(e)) => rsx! { p { class: "error", "Cases could not be read: {e}" } },
        Some(Ok(list)) if list.is_empty() => rsx! {
            p { class: "empty", "No cases yet. Start the demo (pumpside --demo) to see one." }
        },
        Some(Ok(list)) => rsx! {
            ul { class: "case-list",
                for c in list.iter() {
                    li { key: "{c.id}", class: if Some(c.id) == followed { "case-row followed" } else { "case-row" },
                        "data-case": "{c.id}",
                        onclick: {
                            let id = c.id;
                            let open = open.clone();
                            move |_| open(id)
                        },
                        span { class: "case-label", "{c.label}" }
                        if Some(c.id) == followed { span { class: "chip running", "on screen" } }
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
