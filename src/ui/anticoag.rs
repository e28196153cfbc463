//! An ECMO run's anticoagulation chart: the anticoagulant doses (heparin, bivalirudin,
//! argatroban) as marks, and the anti-Xa, aPTT and ACT results against the run's ranges, on one
//! time axis (the last three days); below it the same as a table, each result beside the newest
//! dose before it. The record holds doses as amounts; an infusion rate has no entry yet. Derived by `domain::anticoag::EcmoAnticoagulation`.

use chrono::{DateTime, Duration, Utc};
use dioxus::prelude::*;

use super::state::UiState;
use crate::app::Services;
use crate::domain::anticoag::{ChartItem, EcmoAnticoagulation, Standing, Test};
use crate::domain::ecmo;
use crate::domain::record::CaseView;

/// The chart's span: three days (a run's anticoagulation is adjusted over days).
const SPAN_H: i64 = 72;
const W: f64 = 600.0;
const LANE: f64 = 46.0;
const LEFT: f64 = 70.0;

fn standing_class(s: Standing) -> &'static str {
    match s {
        Standing::Low => "low",
        Standing::High => "high",
        Standing::InRange => "in-range",
        Standing::NoRange => "no-range",
    }
}

fn standing_text(s: Standing) -> &'static str {
    match s {
        Standing::Low => "below range",
        Standing::High => "above range",
        Standing::InRange => "in range",
        Standing::NoRange => "",
    }
}

#[component]
pub fn AnticoagulationChart() -> Element {
    let state = use_context::<UiState>();
    let services = use_context::<Services>();
    // Derived when the record changes, not on every clock tick (a run of weeks has many
    // entries); only the layout follows the clock.
    let chart = use_memo(move || {
        let entries = state.entries.read();
        let view = CaseView::derive(&entries);
        let (rules, _) = ecmo::rules_for(&services.protocol().ecmo, &view);
        EcmoAnticoagulation::derive(&view, &rules)
    });
    let chart = chart.read();
    let now = *state.now.read();
    let from = now - Duration::hours(SPAN_H);
    let x = move |t: DateTime<Utc>| {
        let f = (t - from).num_seconds() as f64 / (SPAN_H * 3600) as f64;
        LEFT + f.clamp(0.0, 1.0) * (W - LEFT - 6.0)
    };
    // Lanes: the doses, then each test that has a result or a range.
    let mut tests: Vec<Test> = vec![Test::AntiXa, Test::Aptt];
    if !chart.results(Test::Act).is_empty() {
        tests.push(Test::Act);
    }
    let height = LANE * (1 + tests.len()) as f64 + 14.0;
    let doses: Vec<(f64, String)> = chart
        .doses()
        .into_iter()
        .filter(|(at, _)| *at >= from)
        .map(|(at, what)| (x(at), what))
        .collect();
    // Per test lane: (label, band (y top, height) if a range, dots (x, y, class, title)).
    type Dot = (f64, f64, &'static str, String);
    type Lane = (String, Option<(f64, f64)>, Vec<Dot>);
    let lanes: Vec<Lane> = tests
        .iter()
        .enumerate()
        .map(|(i, test)| {
            let top = LANE * (i + 1) as f64;
            let results: Vec<_> = chart
                .results(*test)
                .into_iter()
                .filter(|(at, _, _)| *at >= from)
                .collect();
            let range = chart
                .ranges
                .iter()
                .find(|(t, _, _)| t == test)
                .map(|(_, lo, hi)| (*lo, *hi));
            let (mut lo, mut hi) = range.unwrap_or((f64::INFINITY, f64::NEG_INFINITY));
            for (_, v, _) in &results {
                lo = lo.min(*v);
                hi = hi.max(*v);
            }
            let pad = ((hi - lo) * 0.15).max(1e-6);
            let (lo, hi) = (lo - pad, hi + pad);
            let y = |v: f64| {
                if hi > lo {
                    top + LANE - 6.0 - (v - lo) / (hi - lo) * (LANE - 12.0)
                } else {
                    top + LANE / 2.0
                }
            };
            let band = range.map(|(a, b)| (y(b), (y(a) - y(b)).max(1.0)));
            let dots = results
                .iter()
                .map(|(at, v, s)| {
                    (
                        x(*at),
                        y(*v),
                        standing_class(*s),
                        format!("{} {v} {}", test.label(), test.unit()),
                    )
                })
                .collect();
            let label = match range {
                Some((a, b)) => format!("{} {a}–{b}", test.label()),
                None => test.label().to_string(),
            };
            (label, band, dots)
        })
        .collect();
    // The table: newest first, each result with the rate in force when it was taken.
    let rows: Vec<(String, String, String, String, &'static str)> = chart
        .items
        .iter()
        .rev()
        .take(12)
        .map(|i| {
            let when = i
                .at()
                .with_timezone(&chrono::Local)
                .format("%d %b %H:%M")
                .to_string();
            match i {
                ChartItem::Dose { drug, amount, .. } => (
                    when,
                    format!("{drug} {amount}"),
                    String::new(),
                    String::new(),
                    "dose",
                ),
                ChartItem::Result {
                    at,
                    test,
                    text,
                    standing,
                    ..
                } => (
                    when,
                    chart
                        .dose_before(*at)
                        .map(|(t, what)| {
                            format!(
                                "{what}, {} before",
                                crate::domain::live::format_age(*at - t)
                            )
                        })
                        .unwrap_or_default(),
                    format!("{} {text} {}", test.label(), test.unit()),
                    standing_text(*standing).to_string(),
                    standing_class(*standing),
                ),
            }
        })
        .collect();
    let empty = chart.items.is_empty();
    rsx! {
        section { class: "anticoag", "data-section": "anticoagulation",
            h2 { class: "section-title", "Anticoagulation" }
            if empty {
                p { class: "empty", "No anticoagulant dose or result yet: More… › Heparin or Drug, Measurement (anti-Xa, aPTT), ACT." }
            } else {
                svg { class: "anticoag-chart", view_box: "0 0 {W} {height}", role: "img",
                    "aria-label": "Anticoagulation over the last {SPAN_H} h: doses and results",
                    text { x: "2", y: "{LANE / 2.0}", class: "lane-label", "Doses" }
                    for (i, (bx, what)) in doses.iter().enumerate() {
                        path { key: "d{i}", "data-dose": "", d: "M{bx} 10 l-5 10 h10 z", class: "bolus",
                            title { "{what}" }
                        }
                    }
                    for (i, (label, band, dots)) in lanes.iter().enumerate() {
                        g { key: "{label}", "data-lane": "{label}",
                            text { x: "2", y: "{LANE * (i as f64 + 1.5)}", class: "lane-label", "{label}" }
                            if let Some((top, h)) = band {
                                rect { x: "{LEFT}", y: "{top}", width: "{W - LEFT - 6.0}", height: "{h}", class: "target-band" }
                            }
                            for (j, (dx, dy, class, what)) in dots.iter().enumerate() {
                                circle { key: "{j}", cx: "{dx}", cy: "{dy}", r: "4", class: "result {class}", "data-result": "{class}",
                                    title { "{what}" }
                                }
                            }
                        }
                    }
                    text { x: "{LEFT}", y: "{height - 2.0}", class: "axis", "−{SPAN_H} h" }
                    text { x: "{W - 30.0}", y: "{height - 2.0}", class: "axis", "now" }
                }
                table { class: "anticoag-table",
                    thead { tr { th { "When" } th { "Dose (newest before)" } th { "Result" } th { "" } } }
                    tbody {
                        for (i, (when, dose, result, standing, class)) in rows.into_iter().enumerate() {
                            tr { key: "{i}", class: "{class}", "data-anticoag-row": "{class}",
                                td { "{when}" } td { "{dose}" } td { "{result}" } td { "{standing}" }
                            }
                        }
                    }
                }
            }
        }
    }
}
