//! Thin Dioxus components. They read [`UiState`] signals and call [`crate::app::Services`]; they
//! hold no SQL, no btleplug and no FHIR. Logic worth testing lives in `domain` or `app`.

mod access;
mod anticoag;
mod calculator;
mod case_banner;
mod cases;
mod checklists;
mod common;
mod devices;
mod ecmo_board;
mod lab_offers;
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
    use_layout_probe();
    rsx! { Shell {} }
}

/// What the layout probe measures in the webview, as JSON: the screen, the viewport, every
/// displayed control's box with its test ids (and whether a tap on its middle reaches it, not a
/// fixed bar or sheet over it), tile values wider than their tile, and the
/// computed font size of the chart's text.
const PROBE_JS: &str = r#"
const content = document.querySelector('.content');
const out = { screen: content ? content.dataset.screen : null, width: innerWidth, height: innerHeight,
  scrollTop: content ? content.scrollTop : 0, scrollHeight: content ? content.scrollHeight : 0,
  clientHeight: content ? content.clientHeight : 0, controls: [], clipped: [], chartText: [] };
for (const el of document.querySelectorAll('button, input, select, [role=button]')) {
  const r = el.getBoundingClientRect();
  const st = getComputedStyle(el);
  if (r.width === 0 || r.height === 0 || st.visibility === 'hidden' || st.display === 'none') continue;
  const d = el.dataset;
  out.controls.push({ tag: el.tagName.toLowerCase(), text: (el.innerText || el.value || el.placeholder || '').trim().slice(0, 60),
    action: d.action || null, nav: d.nav || null, field: d.field || null, mark: d.mark || null, more: d.more || null,
    zoom: d.zoom || null, start: d.start || null, switchCase: d.switchCase || null, calc: d.calc || null,
    x: r.x, y: r.y, w: r.width, h: r.height, disabled: !!el.disabled,
    inView: (() => { const cx = r.x + r.width / 2, cy = r.y + r.height / 2;
      if (cx < 0 || cy < 0 || cx >= innerWidth || cy >= innerHeight) return false;
      const hit = document.elementFromPoint(cx, cy); return !!hit && (hit === el || el.contains(hit)); })() });
}
for (const el of document.querySelectorAll('.tile-value')) {
  const tile = el.closest('.tile');
  const inner = tile ? tile.getBoundingClientRect().right - parseFloat(getComputedStyle(tile).paddingRight) : Infinity;
  const r = el.getBoundingClientRect();
  if (el.scrollWidth > el.clientWidth + 1 || r.right > inner + 1) {
    out.clipped.push({ tile: tile ? tile.dataset.param : null, text: el.innerText, right: r.right, inner: inner });
  }
}
for (const el of document.querySelectorAll('[data-chart-text]')) {
  const r = el.getBoundingClientRect();
  out.chartText.push({ kind: el.dataset.chartText, px: parseFloat(getComputedStyle(el).fontSize), bottom: r.bottom });
}
const tiles = [...document.querySelectorAll('.tile')].map(t => t.getBoundingClientRect());
out.tiles = { count: tiles.length, lowest: tiles.reduce((m, r) => Math.max(m, r.bottom), 0) };
const plot = document.querySelector('.trend');
out.chart = plot ? plot.getBoundingClientRect().bottom : null;
const bar = document.querySelector('.action-bar');
out.barTop = bar ? bar.getBoundingClientRect().top : null;
return out;
"#;

/// A test hook, off unless `PUMPSIDE_PROBE` names a file: four times a second the webview's
/// layout is measured with [`PROBE_JS`] and written there (atomically), so the end-to-end tour
/// can find controls by their test ids and check their size in the real webview.
fn use_layout_probe() {
    use_future(move || async move {
        let Some(path) = std::env::var_os("PUMPSIDE_PROBE").map(std::path::PathBuf::from) else {
            return;
        };
        tracing::info!(path = %path.display(), "layout probe on (test hook)");
        let tmp = path.with_extension("tmp");
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let Ok(v) = document::eval(PROBE_JS).await else {
                continue;
            };
            let text = v.to_string();
            if std::fs::write(&tmp, text).is_ok() {
                let _ = std::fs::rename(&tmp, &path);
            }
        }
    });
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
