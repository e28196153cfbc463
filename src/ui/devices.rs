//! The Devices screen: scan, connect, map, assign to a case, forget; where each device's values go.

use chrono::{DateTime, Duration, Utc};
use dioxus::prelude::*;

use super::common::*;
use super::shell::STALE_AFTER_SECS;
use super::state::UiState;
use crate::app::Services;
use crate::domain::live::format_age;
use crate::domain::routing::Command;
use crate::domain::{AppMode, Parameter};

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
    // Releasing or forgetting a device that feeds a case stops its record: ask first.
    let mut asking = use_signal(|| None::<&'static str>);
    let feeding = d.case.is_some();
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
                                    for p in Parameter::all() {
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
            if let Some(what) = asking() {
                div { class: "device-confirm", role: "alert", "data-confirm": what,
                    span {
                        if what == "release" {
                            "Release {d.label}? Its values will no longer be recorded into this case."
                        } else {
                            "Forget {d.label}? It is disconnected and its values are no longer recorded."
                        }
                    }
                    if what == "release" {
                        button { class: "action", onclick: move |e| { asking.set(None); release(e) }, "Release" }
                    } else {
                        button { class: "action", onclick: move |e| { asking.set(None); forget(e) }, "Forget" }
                    }
                    button { class: "action secondary", onclick: move |_| asking.set(None), "Keep it" }
                }
            } else {
                div { class: "device-actions",
                    match (d.case == case_id && d.case.is_some(), d.case.is_some(), case_id.is_some() && key.is_some()) {
                        (true, _, _) => rsx! { button { class: "action", "data-action": "release", onclick: move |_| asking.set(Some("release")), "Release" } },
                        (false, true, true) => rsx! { button { class: "action", "data-action": "assign", onclick: assign, "Move to this case" } },
                        (false, false, true) => rsx! { button { class: "action", "data-action": "assign", onclick: assign, "Assign to case" } },
                        (false, _, false) => rsx! {},
                    }
                    if feeding {
                        button { class: "action secondary", "data-action": "forget", onclick: move |_| asking.set(Some("forget")), "Forget" }
                    } else {
                        button { class: "action secondary", "data-action": "forget", onclick: forget, "Forget" }
                    }
                }
            }
        }
    }
}
