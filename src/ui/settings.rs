//! The Settings screen: where the record lives, the protocol, and the FHIR server and credentials.

use dioxus::prelude::*;

use std::collections::BTreeMap;

use super::common::*;
use super::state::UiState;
use crate::app::view::SyncState;
use crate::app::Services;

#[component]
pub fn Settings() -> Element {
    let services = use_context::<Services>();
    let state = use_context::<UiState>();
    let loader = services.clone();
    let schema = use_resource(move || {
        let services = loader.clone();
        async move { services.schema_version().await }
    });
    let schema_text = match &*schema.read() {
        None => "…".to_string(),
        Some(Ok(v)) => v.to_string(),
        Some(Err(e)) => format!("unreadable: {e}"),
    };
    let mode = match &*state.mode.read() {
        crate::domain::AppMode::Starting => "Starting (looking for Bluetooth)".to_string(),
        crate::domain::AppMode::Live { adapter } => format!("Live devices ({adapter})"),
        crate::domain::AppMode::Demo(_) => "Demo (simulated devices)".to_string(),
    };
    let protocol = format!(
        "{} {}",
        services.protocol().name,
        services.protocol().version
    );
    let protocol_problem = services.protocol_problem().map(str::to_string);
    let data_dir = services.config().data_dir.display().to_string();
    let db = services.config().database_path().display().to_string();
    let version = env!("CARGO_PKG_VERSION");
    rsx! {
        ScreenHeader {
            title: "Settings",
            purpose: "This installation: where the record is kept, the mode, and (soon) protocol settings."
        }
        div { class: "kv-grid",
            span { class: "k", "Mode" } span { class: "v", "{mode}" }
            span { class: "k", "Signed in" } span { class: "v", "{services.author().user}" }
            span { class: "k", "Device" } span { class: "v", "{services.author().device}" }
            span { class: "k", "Data directory" } span { class: "v mono", "{data_dir}" }
            span { class: "k", "Database" } span { class: "v mono", "{db}" }
            span { class: "k", "Schema version" } span { class: "v", "{schema_text}" }
            span { class: "k", "Protocol" } span { class: "v", "{protocol}" }
            span { class: "k", "Bluetooth bonding" }
            span { class: "v", if services.protocol().security.require_bonding { "required: values only from devices the tablet holds a bond with" } else { "not required (protocol [security] require_bonding)" } }
            if services.access().enforced() {
                span { class: "k", "Screen lock" }
                span { class: "v", "data-idle-lock": "", "after {services.access().idle_lock().as_secs_f64() / 60.0} min without a touch (protocol [security]); recording goes on" }
            }
            span { class: "k", "Pumpside" } span { class: "v", "{version} · not cleared for clinical use" }
        }
        if let Some(problem) = protocol_problem {
            p { class: "error", role: "alert", "{problem}" }
        }
        p { class: "note", "A hospital protocol file (protocol.toml in the data directory) replaces the defaults without a rebuild; parameters.toml there adds parameters to the built-in catalogue ({crate::domain::parameter::catalogue().len()} in force)." }
        RecordIntegrity {}
        DeviceKeySection {}
        if services.access().enforced() {
            super::access::UsersSection {}
        }
        SyncSettingsForm {}
        Planned { items: vec![
            "Editing protocol settings on the tablet (thresholds, constants, cardioplegia re-dose intervals)",
        ] }
    }
}

/// Which credentials the form edits.
#[derive(Debug, Clone, Copy, PartialEq)]
enum AuthKind {
    None,
    Token,
    ClientCredentials,
}

/// The FHIR server and credentials (written to sync.toml, only when usable; sync restarts).
/// Secrets are typed, never shown back.
#[component]
fn SyncSettingsForm() -> Element {
    use crate::app::view::{AuthSetting, SyncSettings};
    let services = use_context::<Services>();
    let state = use_context::<UiState>();
    let current = services.sync_config();
    let mut fields = use_signal(BTreeMap::<&'static str, String>::new);
    let mut kind = use_signal(|| match &current {
        Some(c) if c.oauth.is_some() => AuthKind::ClientCredentials,
        Some(c) if c.token.is_some() => AuthKind::Token,
        _ => AuthKind::None,
    });
    let mut create_patients = use_signal(|| current.as_ref().is_some_and(|c| c.create_patients));
    let mut message = use_signal(|| None::<(bool, String)>);
    let initial_server = current.as_ref().map(|c| c.base.clone()).unwrap_or_default();
    let initial_ca = current
        .as_ref()
        .and_then(|c| c.ca.as_ref().map(|ca| ca.path.clone()))
        .unwrap_or_default();
    let initial = {
        let c = current.clone();
        move |key: &str| -> String {
            match (key, c.as_ref().and_then(|c| c.oauth.as_ref())) {
                ("token_url", Some(o)) => o.token_url.clone(),
                ("client_id", Some(o)) => o.client_id.clone(),
                ("scope", Some(o)) => o.scope.clone(),
                _ => String::new(),
            }
        }
    };
    let in_force = match (&current, &*state.sync.read()) {
        (Some(c), _) => format!("{} · credentials: {}", c.base, c.auth_summary()),
        (None, SyncState::Misconfigured(why)) => format!("not in force: {why}"),
        (None, _) => "no server: records stay on this device".to_string(),
    };
    let save = {
        let services = services.clone();
        let server_default = initial_server.clone();
        let ca_default = initial_ca.clone();
        move |_| {
            let f = fields.peek().clone();
            let get = |k: &str| f.get(k).cloned().unwrap_or_default();
            let server = f
                .get("server")
                .cloned()
                .unwrap_or_else(|| server_default.clone());
            let auth = match *kind.peek() {
                AuthKind::None => AuthSetting::None,
                AuthKind::Token => AuthSetting::Token(get("token")),
                AuthKind::ClientCredentials => AuthSetting::ClientCredentials {
                    token_url: get("token_url"),
                    client_id: get("client_id"),
                    key_file: get("key_file"),
                    scope: get("scope"),
                },
            };
            let settings = SyncSettings {
                server,
                auth,
                create_patients: *create_patients.peek(),
                ca_file: f
                    .get("ca_file")
                    .cloned()
                    .unwrap_or_else(|| ca_default.clone()),
            };
            let services = services.clone();
            spawn(async move {
                message.set(Some(match services.save_sync_settings(&settings).await {
                    Ok(()) => (
                        true,
                        "Saved; sync restarted with these settings.".to_string(),
                    ),
                    Err(e) => (false, format!("NOT saved: {e}")),
                }));
            });
        }
    };
    let field = move |key: &'static str,
                      label: &'static str,
                      hint: &'static str,
                      secret: bool,
                      value: String| {
        rsx! {
            label { class: "form-field",
                span { class: "form-label", "{label}" }
                input { class: "calc-input", "data-field": "sync-{key}", placeholder: "{hint}",
                    r#type: if secret { "password" } else { "text" },
                    initial_value: "{value}",
                    oninput: move |e| { fields.write().insert(key, e.value()); } }
                span {}
            }
        }
    };
    let k = kind();
    rsx! {
        section { class: "sync-settings", "data-section": "sync-settings",
            h2 { class: "section-title", "FHIR server and credentials" }
            p { class: "muted", "data-sync-settings": "in-force", "In force: {in_force}" }
            div { class: "form-grid",
                {field("server", "Server (FHIR R4 base)", "https://fhir.hospital.org/R4/", false, initial_server.clone())}
                {field("ca_file", "Hospital CA file (PEM; trusted besides the system's)", "hospital-ca.pem in the data folder, or a full path", false, initial_ca.clone())}
            }
            div { class: "choice-row", role: "group", "aria-label": "Credentials",
                span { class: "form-label", "Credentials" }
                for (choice, text) in [(AuthKind::None, "None"), (AuthKind::Token, "Bearer token"), (AuthKind::ClientCredentials, "OAuth2 client credentials")] {
                    button { key: "{text}", class: if k == choice { "choice chosen" } else { "choice" },
                        "aria-pressed": "{k == choice}", onclick: move |_| kind.set(choice), "{text}" }
                }
            }
            div { class: "form-grid",
                if k == AuthKind::Token {
                    {field("token", "Token", "typed, never shown again", true, String::new())}
                }
                if k == AuthKind::ClientCredentials {
                    {field("token_url", "Token URL", "https://auth.hospital.org/token", false, initial("token_url"))}
                    {field("client_id", "Client ID", "registered for this device", false, initial("client_id"))}
                    {field("key_file", "Private key file (PKCS#8 PEM, EC P-384 or RSA)", "/path/on/this/device.pem", false, String::new())}
                    {field("scope", "Scope", "system/*.read system/*.write", false, initial("scope"))}
                }
            }
            label { class: "check-row",
                input { r#type: "checkbox", checked: create_patients(), onchange: move |e| create_patients.set(e.checked()) }
                " Test or demo server: create a patient the server does not have (never for a hospital server)"
            }
            button { class: "start-button", "data-action": "save-sync", onclick: save, "Save and restart sync" }
            if let Some((ok, text)) = message() {
                p { class: if ok { "note" } else { "error" }, role: if ok { "status" } else { "alert" }, "{text}" }
            }
        }
    }
}

/// The record's integrity: the last whole-record check against the keyed seals, what it found,
/// and a button to check again.
#[component]
fn RecordIntegrity() -> Element {
    let services = use_context::<Services>();
    let state = use_context::<UiState>();
    let _tick = state.now.read();
    let status = services.integrity();
    let checked = match (&status.checked, status.running) {
        (_, true) => "checking now…".to_string(),
        (Some((at, seals, rows)), false) => format!(
            "{} · {seals} seal(s) over {rows} row(s) recomputed",
            at.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        (None, false) => "not yet".to_string(),
    };
    let verdict = if status.findings.is_empty() && status.checked.is_some() {
        "sound: every row matches its seal"
    } else if status.findings.is_empty() {
        "—"
    } else {
        "changed outside Pumpside (below)"
    };
    rsx! {
        section { class: "integrity", "data-section": "integrity",
            h2 { class: "section-title", "Record integrity" }
            p { class: "note", "Every row of the record is sealed with this device's key when it is written. The whole record is checked at start, a case before it is signed and before it is sent." }
            div { class: "kv-grid",
                span { class: "k", "Last whole check" } span { class: "v", "{checked}" }
                span { class: "k", "Result" } span { class: "v", "data-integrity": if status.findings.is_empty() { "sound" } else { "altered" }, "{verdict}" }
            }
            if let Some(e) = status.error {
                p { class: "error", role: "alert", "The check could not run: {e}" }
            }
            if !status.findings.is_empty() {
                ul { class: "integrity-findings",
                    for f in status.findings.iter() {
                        li { "{f}" }
                    }
                }
            }
            button {
                class: "start-button",
                "data-action": "verify-record",
                disabled: status.running,
                onclick: move |_| {
                    let services = services.clone();
                    spawn(async move { services.verify_record().await });
                },
                "Check the whole record now"
            }
        }
    }
}

/// Where the device key lives, whether a recovery copy exists, and an administrator's form to
/// set the recovery passphrase (the service refuses anyone else).
#[component]
fn DeviceKeySection() -> Element {
    let services = use_context::<Services>();
    let mut pass = use_signal(String::new);
    let mut again = use_signal(String::new);
    let mut message = use_signal(|| None::<(bool, String)>);
    let mut busy = use_signal(|| false);
    let mut made = use_signal(|| 0u32);
    // Read on every render, so a copy made here shows at once.
    let _ = made();
    let Some((home, recovery)) = services.key_status() else {
        return rsx! {};
    };
    let recovery_text = match recovery {
        Some(t) => format!(
            "made {}",
            chrono::DateTime::<chrono::Utc>::from(t).format("%Y-%m-%d %H:%M UTC")
        ),
        None => "none yet: if the key store loses the key, the record cannot be opened".into(),
    };
    let set = move |_| {
        if *busy.peek() {
            return;
        }
        busy.set(true);
        let services = services.clone();
        let (p, a) = (pass.peek().clone(), again.peek().clone());
        spawn(async move {
            match services.set_recovery_passphrase(&p, &a).await {
                Ok(()) => {
                    message.set(Some((
                        true,
                        "Recovery copy made. Keep the passphrase where the department keeps its other recovery secrets.".into(),
                    )));
                    made += 1;
                    pass.set(String::new());
                    again.set(String::new());
                }
                Err(e) => message.set(Some((false, format!("Not set: {e}")))),
            }
            busy.set(false);
        });
    };
    rsx! {
        section { class: "device-key", "data-section": "device-key",
            h2 { class: "section-title", "Device key" }
            div { class: "kv-grid",
                span { class: "k", "Kept" } span { class: "v", "data-key-home": "", "{home.describe()}" }
                span { class: "k", "Recovery copy" } span { class: "v", "{recovery_text}" }
            }
            p { class: "muted", "The key encrypts this device's record and seals it. An administrator's recovery passphrase (at least 12 characters) lets `pumpside --recover-key` put it back if the key store loses it." }
            div { class: "form-grid", key: "{made}",
                label { class: "form-field",
                    span { class: "form-label", "Recovery passphrase" }
                    input { class: "calc-input", "data-field": "recovery-passphrase", r#type: "password", initial_value: "", oninput: move |e| pass.set(e.value()) }
                    span {}
                }
                label { class: "form-field",
                    span { class: "form-label", "Passphrase again" }
                    input { class: "calc-input", "data-field": "recovery-passphrase-again", r#type: "password", initial_value: "", oninput: move |e| again.set(e.value()) }
                    span {}
                }
            }
            button { class: "start-button", "data-action": "set-recovery", disabled: busy(), onclick: set, "Set the recovery passphrase" }
            if let Some((ok, text)) = message() {
                p { class: if ok { "note" } else { "error" }, role: if ok { "status" } else { "alert" }, "{text}" }
            }
        }
    }
}
