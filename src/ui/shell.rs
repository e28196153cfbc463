//! The frame around every screen: navigation rail (tablet) or menu drawer (phone), status bar,
//! demo banner and notices.

use chrono::{Duration, Local};
use dioxus::prelude::*;

use super::state::{Screen, UiState};
use crate::app::Services;

/// A device value older than this counts as stale (the live board's limit).
pub(crate) use crate::domain::board::DEVICE_STALE_AFTER_S as STALE_AFTER_SECS;

#[component]
pub fn Shell() -> Element {
    let state = use_context::<UiState>();
    let screen = *state.screen.read();
    let drawer_open = *state.drawer_open.read();
    let access = use_context::<Services>().access().clone();
    let access2 = access.clone();
    rsx! {
        div { class: "shell",
            // Any touch restarts the idle clock of the screen lock.
            onpointerdown: move |_| access.touch(),
            onkeydown: move |_| access2.touch(),
            super::access::AccessGate {}
            div { class: "brand", "Pumpside" }
            NavList { class: "nav-rail" }
            TopBar {}
            StatusBar {}
            div { class: "alerts-area",
                RecordHealthBanner {}
                Banner {}
                super::live::AlertStrip {}
            }
            if drawer_open {
                div { class: "drawer-scrim", onclick: move |_| { let mut s = state; s.drawer_open.set(false); } }
                NavList { class: "drawer" }
            }
            Flash {}
            main { class: "content", "data-screen": screen.slug(),
                Notice {}
                if matches!(screen, Screen::Live | Screen::Checklists | Screen::Calculator | Screen::Devices) {
                    super::case_banner::CaseBanner {}
                }
                // Each screen in its own boundary (a different template per arm, so a fresh one
                // per screen): a screen that fails is replaced by a sentence and the rest goes on.
                match screen {
                    Screen::Cases => rsx! { Guarded { screen, super::cases::Cases {} } },
                    Screen::Live => rsx! { Guarded { screen, super::live::Live {} } },
                    Screen::Checklists => rsx! { Guarded { screen, super::checklists::Checklists {} } },
                    Screen::Calculator => rsx! { Guarded { screen, super::calculator::Calculator {} } },
                    Screen::EcmoBoard => rsx! { Guarded { screen, super::ecmo_board::EcmoBoard {} } },
                    Screen::Devices => rsx! { Guarded { screen, super::devices::Devices {} } },
                    Screen::Sync => rsx! { Guarded { screen, super::sync_screen::SyncScreen {} } },
                    Screen::Settings => rsx! { Guarded { screen, super::settings::Settings {} } },
                }
            }
        }
    }
}

/// A screen inside an error boundary: a panic or an error while rendering it shows a sentence
/// instead of taking the window down; the shell, the alert strip and recording go on.
#[component]
fn Guarded(screen: Screen, children: Element) -> Element {
    rsx! {
        ErrorBoundary {
            handle_error: move |errors: ErrorContext| {
                let what = errors.error().map(|e| e.to_string()).unwrap_or_default();
                tracing::error!(screen = screen.slug(), error = %what, "screen failed to render");
                rsx! {
                    div { class: "notice", role: "alert", "data-screen-failed": screen.slug(),
                        span { "This screen could not be shown ({what}). Recording goes on; the other screens work. " }
                        button { class: "notice-dismiss", onclick: move |_| errors.clear_errors(), "Try again" }
                    }
                }
            },
            {children}
        }
    }
}

#[component]
fn NavList(class: &'static str) -> Element {
    let state = use_context::<UiState>();
    let current = *state.screen.read();
    rsx! {
        nav { class: "{class}",
            for s in Screen::ALL {
                button {
                    key: "{s.slug()}",
                    class: if s == current { "nav-item current" } else { "nav-item" },
                    "data-nav": s.slug(),
                    onclick: move |_| state.navigate(s),
                    span { class: "glyph", "{s.glyph()}" }
                    span { "{s.title()}" }
                }
            }
        }
    }
}

/// Phone only: a menu button and the current screen's title.
#[component]
fn TopBar() -> Element {
    let mut state = use_context::<UiState>();
    let screen = *state.screen.read();
    rsx! {
        header { class: "topbar",
            button {
                class: "menu-button",
                "aria-label": "Menu",
                "data-action": "menu",
                onclick: move |_| { let open = *state.drawer_open.peek(); state.drawer_open.set(!open); },
                "☰"
            }
            span { class: "topbar-title", "{screen.title()}" }
        }
    }
}

#[component]
fn StatusBar() -> Element {
    let state = use_context::<UiState>();
    let now = *state.now.read();
    let devices = state
        .live
        .read()
        .fresh_sources(now, Duration::seconds(STALE_AFTER_SECS))
        .len();
    let sync = state.sync.read().short();
    let clock = now.with_timezone(&Local).format("%H:%M:%S").to_string();
    let device_text = match devices {
        0 => "No devices".to_string(),
        1 => "1 device".to_string(),
        n => format!("{n} devices"),
    };
    rsx! {
        div { class: "status-bar",
            span { class: if devices > 0 { "status-item ok" } else { "status-item muted" },
                "data-status": "devices", "● {device_text}" }
            span { class: "status-item", "data-status": "sync", "⇅ {sync}" }
            super::access::UserStatus {}
            span { class: "status-item clock", "data-status": "clock", "{clock}" }
        }
    }
}

/// On every screen while the record cannot be written (a full disk, a damaged file): what is
/// held in memory and that it is not on disk yet. Read each render (the clock ticks every second).
#[component]
fn RecordHealthBanner() -> Element {
    let state = use_context::<UiState>();
    let services = use_context::<Services>();
    let _tick = state.now.read();
    let h = services.record_health();
    rsx! {
        if let Some(why) = h.failing {
            div { class: "record-failing", role: "alert", "data-record": "failing",
                strong { "The record is NOT being saved: {why}. " }
                "{h.held_values} device value(s) and {h.held_steps} entry step(s) are held in memory and will be written, in order, when the store works again. Keep the app open. "
                if h.lost > 0 { "{h.lost} value(s) could not be held and are lost." }
            }
        }
        if let Some(first) = h.altered.first() {
            div { class: "record-failing", role: "alert", "data-record": "altered",
                strong { "The record was changed outside Pumpside. " }
                "{first}. {h.altered.len()} finding(s) in the audit (Settings › Record integrity). An affected case is not signed or sent until it is reviewed."
            }
        }
    }
}

#[component]
fn Banner() -> Element {
    let state = use_context::<UiState>();
    let banner = state.mode.read().banner();
    rsx! {
        if let Some(text) = banner {
            div { class: "demo-banner", role: "status", "{text}" }
        }
    }
}

/// A short message for a few seconds (a second tap dropped, a case signed), at the top where it
/// covers no form field.
#[component]
fn Flash() -> Element {
    let state = use_context::<UiState>();
    let now = *state.now.read();
    let flash = state.flash.read().clone();
    rsx! {
        if let Some((text, until)) = flash {
            if now < until {
                div { class: "flash", role: "status", "data-flash": "1", "{text}" }
            }
        }
    }
}

#[component]
fn Notice() -> Element {
    let mut state = use_context::<UiState>();
    let notice = state.notice.read().clone();
    rsx! {
        if let Some(text) = notice {
            div { class: "notice", role: "alert",
                span { "{text}" }
                button { class: "notice-dismiss", onclick: move |_| state.notice.set(None), "Dismiss" }
            }
        }
    }
}
