//! The Sync screen: progress, conflicts with both versions, rejections, what stays local.

use chrono::{DateTime, Utc};
use dioxus::prelude::*;

use super::common::*;
use super::state::UiState;
use crate::app::view::OutboxState;
use crate::app::view::SyncState;
use crate::app::Services;
use crate::domain::live::format_age;

/// A stored FHIR payload, indented for reading (as stored if it is not JSON).
fn pretty(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| text.to_string())
}

/// The issue texts of an OperationOutcome, or the text itself.
fn outcome_text(text: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return text.to_string();
    };
    let issues: Vec<String> = v["issue"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| {
                    let what = i["details"]["text"]
                        .as_str()
                        .or(i["diagnostics"].as_str())
                        .unwrap_or("no details");
                    match i["expression"][0].as_str() {
                        Some(at) => format!("{what} (at {at})"),
                        None => what.to_string(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if issues.is_empty() {
        text.to_string()
    } else {
        issues.join("; ")
    }
}

#[component]
pub fn SyncScreen() -> Element {
    let services = use_context::<Services>();
    let state = use_context::<UiState>();
    let sync = state.sync.read().clone();
    let short = sync.short();
    let loader = services.clone();
    let mut resolved = use_signal(|| 0u64);
    let mut resolve_error = use_signal(|| None::<String>);
    // Re-read the rows a person must look at whenever the sync state changes or one is resolved.
    let unsettled = use_resource(move || {
        let store = loader.clone();
        let _ = state.sync.read();
        let _ = resolved.read();
        async move { store.unsettled(50).await }
    });
    let now = *state.now.read();
    let ago = |t: DateTime<Utc>| format_age(now - t);
    let body = match &sync {
        SyncState::NotConfigured => rsx! {
            p { class: "empty", "data-sync": "off",
                "No server is configured: every record stays on this device. To sync, put sync.toml in the data directory (see docs/sync.md): the server's address (https, or http on this machine for tests) and a bearer token." }
        },
        SyncState::Misconfigured(why) => rsx! {
            p { class: "error", role: "alert", "data-sync": "misconfigured", "{why}" }
        },
        SyncState::Active(s) => rsx! {
            div { class: "kv",
                span { class: "k", "Server" } span { class: "v mono", "{s.server}" }
                span { class: "k", "Waiting to upload" } span { class: "v", "data-sync": "pending", "{s.pending}" }
                span { class: "k", "On the server" } span { class: "v", "data-sync": "acked", "{s.acked}" }
                span { class: "k", "Last success" }
                span { class: "v", match s.last_success { Some(t) => ago(t) + " ago", None => "never".to_string() } }
                if let Some((done, total)) = s.progress {
                    span { class: "k", "Uploading" }
                    progress { class: "run-progress", max: "{total}", value: "{done}" }
                }
                if let Some(f) = &s.task_fault {
                    span { class: "k", "Sync task" }
                    span { class: "v error", "data-sync": "task-fault",
                        if s.task_down { "{f}; restarting it" } else { "{f}; it was restarted" } }
                }
                if let Some(e) = &s.last_error {
                    span { class: "k", "Last error" } span { class: "v error", "data-sync": "error", "{e}" }
                }
                if let Some(t) = s.next_try {
                    if s.pending > 0 {
                        span { class: "k", "Next try" } span { class: "v", "in {format_age(t - now)}" }
                    }
                }
                if let Some(p) = &s.paused {
                    span { class: "k", "Paused" } span { class: "v error", "{p}: enter the credentials in Settings" }
                }
                if let Some(r) = &s.pull {
                    for (i, p) in r.problems.iter().enumerate() {
                        span { key: "pp{i}", class: "k", "Pull" } span { class: "v error", "data-sync": "pull-problem", "{p}" }
                    }
                    for (i, why) in r.skipped.iter().enumerate() {
                        span { key: "ps{i}", class: "k", "Not kept" } span { class: "v error", "data-sync": "pull-skipped", "{why}" }
                    }
                }
            }
        },
    };
    let rows = match &*unsettled.read() {
        Some(Ok(rows)) => rows.clone(),
        _ => Vec::new(),
    };
    rsx! {
        ScreenHeader {
            title: "Sync",
            purpose: "Upload of records to the hospital's FHIR R4 server, exactly once, with conflicts shown to a person."
        }
        div { class: "kv",
            span { class: "k", "State" }
            span { class: "v", "data-sync": "state", "{short}" }
        }
        {body}
        if let Some(e) = resolve_error() {
            p { class: "error", role: "alert", "The decision was NOT recorded: {e}" }
        }
        if !rows.is_empty() {
            h2 { class: "section-title", "Needs a person ({rows.len()})" }
            for r in rows {
                section { key: "{r.op_id}", class: "sync-issue", "data-sync-issue": if r.state == OutboxState::Conflict { "conflict" } else { "rejected" },
                    if r.state == OutboxState::Conflict {
                        h3 { "Conflict: {r.resource_type} changed on the server since this tablet last saw it" }
                        p { class: "muted", "Neither version was overwritten. Compare them, then decide; the decision is recorded with your name." }
                        div { class: "choice-row",
                            for (keep_ours, action, text) in [
                                (true, "keep-ours", "Send this tablet's version over the server's"),
                                (false, "accept-theirs", "Keep the server's version"),
                            ] {
                                button { key: "{action}", class: "choice", "data-action": action,
                                    onclick: {
                                        let services = services.clone();
                                        let seq = r.seq;
                                        move |_| {
                                            let services = services.clone();
                                            spawn(async move {
                                                resolve_error.set(services.resolve_conflict(seq, keep_ours).await.err().map(|e| e.to_string()));
                                                *resolved.write() += 1;
                                            });
                                        }
                                    },
                                    "{text}" }
                            }
                        }
                        div { class: "versions",
                            div { h4 { "This tablet" } pre { class: "mono", "{pretty(&r.payload)}" } }
                            div { h4 { "The server" } pre { class: "mono", "{pretty(r.detail.as_deref().unwrap_or(\"\"))}" } }
                        }
                    } else {
                        h3 { "Rejected by the server: {r.resource_type}" }
                        p { class: "error", "{outcome_text(r.detail.as_deref().unwrap_or(\"\"))}" }
                        p { class: "muted", "Kept on this tablet unchanged. The record itself is intact; this copy needs a fix of the mapping or of the server's profile." }
                        pre { class: "mono", "{pretty(&r.payload)}" }
                    }
                }
            }
        }
        p { class: "muted",
            "Kept on this device in this version: {crate::app::view::LOCAL_ONLY.join(\", \")}. Cases without a patient are not uploaded; demo cases go only to a test server (one that may create patients)." }
    }
}
