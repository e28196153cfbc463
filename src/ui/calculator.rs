//! The Calculator screen: the catalogue of calculations with inputs pre-filled from the case.

use dioxus::prelude::*;

use super::common::*;
use super::state::UiState;
use crate::app::calculator::{self, CaseValues, CATALOGUE};
use crate::app::Services;

/// Inputs of calculator `i`, pre-filled from the case where it has a value, and which were.
fn calculator_inputs(
    i: usize,
    live: &crate::domain::LiveSnapshot,
    case: &CaseValues,
) -> (Vec<String>, Vec<bool>) {
    CATALOGUE[i]
        .inputs
        .iter()
        .map(|input| {
            let from_case = input
                .prefill
                .and_then(|f| calculator::prefill(f, live, case));
            let v = from_case.unwrap_or(input.default);
            let s = format!("{v:.3}");
            (
                s.trim_end_matches('0').trim_end_matches('.').to_string(),
                from_case.is_some(),
            )
        })
        .unzip()
}

/// What the followed case can pre-fill (patient size, BSA, heparin given, the newest gas).
fn case_values(state: &UiState) -> CaseValues {
    CaseValues::of(
        state.patient.peek().as_ref(),
        state.targets.peek().as_ref(),
        &state.facts.peek(),
        &state.entries.peek(),
    )
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
    let mut typed = use_signal(|| calculator_inputs(0, &state.live.peek(), &case_values(&state)).0);
    let mut from_case =
        use_signal(|| calculator_inputs(0, &state.live.peek(), &case_values(&state)).1);
    let index = selected().min(CATALOGUE.len() - 1);
    let spec = &CATALOGUE[index];
    let result = calculator::run(spec, &typed.read(), services.protocol());
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
                            let (values, filled) =
                                calculator_inputs(i, &state.live.peek(), &case_values(&state));
                            typed.set(values);
                            from_case.set(filled);
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
                        if from_case.read().get(k).copied().unwrap_or(false) {
                            span { class: "chip", "data-prefilled": "{k}", "from the case" }
                        } else if input.prefill.is_some() {
                            span { class: "muted", "default: the case has no value" }
                        }
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
