//! Thin Dioxus components. They read [`UiState`] signals and call [`crate::app::Services`]; they
//! hold no SQL, no btleplug and no FHIR. Logic worth testing lives in `domain` or `app`.

mod calculator;
mod case_banner;
mod cases;
mod checklists;
mod common;
mod devices;
mod ecmo_board;
mod live;
mod settings;
mod shell;
mod state;
mod style;
mod sync_screen;

pub use shell::Shell;
pub use state::{Screen, UiState};
pub use style::CSS;

use std::time::Duration;

use chrono::Utc;
use dioxus::prelude::*;

use crate::app::Services;

/// The root component. Expects [`Services`] in the root context.
#[component]
pub fn App() -> Element {
    let services = use_context::<Services>();
    let protocol = services.protocol().clone();
    let state = use_context_provider(|| UiState::new(Screen::Live, &protocol));
    use_background_tasks(services.clone(), state);
    use_first_frame_log(services);
    use_scroll_to_top_on_navigation(state);
    rsx! { Shell {} }
}

/// The app-lifetime coroutines: the single writer of live values (batched), the mode watcher
/// and the clock.
fn use_background_tasks(services: Services, mut state: UiState) {
    let live_services = services.clone();
    use_future(move || {
        let services = live_services.clone();
        async move {
            let Some(mut feed) = services.take_live_feed() else {
                return;
            };
            let mut batch = Vec::with_capacity(256);
            let mut first = true;
            while feed.recv_many(&mut batch, 1024).await > 0 {
                if first {
                    first = false;
                    let ms = services.started().elapsed().as_secs_f64() * 1000.0;
                    tracing::info!(ms = format!("{ms:.0}"), "first live values on screen");
                }
                // Only the followed case's values: another live case's devices (or a device
                // associated with nothing) never show on this case's screen.
                let followed = services.case().followed();
                let rejected: Vec<_> = {
                    let mut live = state.live.write();
                    batch
                        .drain(..)
                        .filter(|s| s.case.is_some() && s.case == followed)
                        .filter_map(|s| live.apply(s).err())
                        .collect()
                };
                for r in rejected {
                    tracing::warn!(error = %r, "sample refused");
                }
                // Coalesce: a burst of samples costs at most four renders a second.
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    });

    let case_services = services.clone();
    use_future(move || {
        let services = case_services.clone();
        async move {
            let mut states = services.case().state();
            loop {
                let s = states.borrow_and_update().clone();
                state.mirror(&s);
                if states.changed().await.is_err() {
                    break;
                }
            }
        }
    });

    let monitor_services = services.clone();
    use_future(move || {
        let services = monitor_services.clone();
        async move {
            let mut views = services.case().monitor();
            loop {
                let v = views.borrow_and_update().clone();
                state.mirror_monitor(&v);
                if views.changed().await.is_err() {
                    break;
                }
            }
        }
    });

    let mode_services = services.clone();
    use_future(move || {
        let services = mode_services.clone();
        async move {
            let mut modes = services.mode();
            loop {
                let mode = modes.borrow_and_update().clone();
                state.mode.set(mode);
                state.reload_case(&services).await;
                if modes.changed().await.is_err() {
                    break;
                }
            }
        }
    });

    use_future(move || {
        let services = services.clone();
        async move {
            let mut sync = services.sync_state();
            loop {
                let s = sync.borrow_and_update().clone();
                state.sync.set(s);
                if sync.changed().await.is_err() {
                    break;
                }
            }
        }
    });

    use_future(move || async move {
        loop {
            state.now.set(Utc::now());
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

/// A screen opens at its top, not where the previous one was scrolled (the content pane is one
/// element shared by every screen; a long form left it scrolled down).
fn use_scroll_to_top_on_navigation(state: UiState) {
    use_effect(move || {
        let _screen = state.screen.read();
        spawn(async move {
            let _ = document::eval(
                "const c = document.querySelector('.content'); if (c) { c.scrollTop = 0; }",
            )
            .await;
        });
    });
}

/// Log the time from process start to the first frame the webview actually painted.
fn use_first_frame_log(services: Services) {
    let mut logged = use_signal(|| false);
    use_effect(move || {
        if *logged.peek() {
            return;
        }
        logged.set(true);
        let started = services.started();
        spawn(async move {
            let painted = document::eval(
                "await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))); \
                 return true;",
            )
            .await;
            if painted.is_ok() {
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                tracing::info!(ms = format!("{ms:.0}"), "first frame rendered");
            }
        });
    });
}
