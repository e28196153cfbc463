//! The sign-in sheet over every screen of a real installation: the first administrator's
//! enrolment, then sign-in by PIN, the lock screen after idle and the quick switch at shift
//! change. It only sends the person's request to `Access`; who may do what is decided there.
//! Recording goes on behind it, and the sheet says so.

use dioxus::prelude::*;

use super::state::UiState;
use crate::app::Services;
use crate::domain::user::Role;

/// Shown instead of the screens while nobody may give commands (nobody enrolled, nobody signed
/// in, or locked). Nothing in demo mode.
#[component]
pub fn AccessGate() -> Element {
    let services = use_context::<Services>();
    let state = use_context::<UiState>();
    let _tick = state.now.read();
    let access = services.access().clone();
    if !access.enforced() || !access.is_locked() {
        return rsx! {};
    }
    rsx! {
        div { class: "access-gate", role: "dialog", "aria-modal": "true", "data-access": if access.needs_enrolment() { "enrol" } else { "sign-in" },
            div { class: "access-sheet",
                h1 { class: "section-title", "Pumpside" }
                p { class: "note", "Recording goes on while the screen is locked: device values, advisories and sync do not wait for a sign-in. The heart-lung machine keeps the primary alarms." }
                if access.needs_enrolment() {
                    Enrol {}
                } else {
                    SignIn {}
                }
            }
        }
    }
}

#[component]
fn Enrol() -> Element {
    let services = use_context::<Services>();
    let mut name = use_signal(String::new);
    let mut pin = use_signal(String::new);
    let mut again = use_signal(String::new);
    let mut message = use_signal(|| None::<String>);
    let mut busy = use_signal(|| false);
    let enrol = move |_| {
        if *busy.peek() {
            return; // a double tap enrols once
        }
        if *pin.peek() != *again.peek() {
            message.set(Some("The two PINs differ: type the same PIN twice.".into()));
            return;
        }
        busy.set(true);
        let services = services.clone();
        let (n, p) = (name.peek().clone(), pin.peek().clone());
        spawn(async move {
            if let Err(e) = services.access().enrol_administrator(&n, &p).await {
                message.set(Some(format!("Not enrolled: {e}")));
            }
            busy.set(false);
        });
    };
    rsx! {
        h2 { class: "section-title", "Enrol this device's administrator" }
        p { class: "muted", "The first person enrolled administers the device: adds users, chooses the sync server. Everyone signs in with a PIN of 6 to 12 digits." }
        div { class: "form-grid",
            label { class: "form-field",
                span { class: "form-label", "Name" }
                input { class: "calc-input", "data-field": "enrol-name", initial_value: "", oninput: move |e| name.set(e.value()) }
                span {}
            }
            label { class: "form-field",
                span { class: "form-label", "PIN" }
                input { class: "calc-input", "data-field": "enrol-pin", r#type: "password", inputmode: "numeric", initial_value: "", oninput: move |e| pin.set(e.value()) }
                span {}
            }
            label { class: "form-field",
                span { class: "form-label", "PIN again" }
                input { class: "calc-input", "data-field": "enrol-pin-again", r#type: "password", inputmode: "numeric", initial_value: "", oninput: move |e| again.set(e.value()) }
                span {}
            }
        }
        button { class: "start-button", "data-action": "enrol", disabled: busy(), onclick: enrol, "Enrol administrator" }
        if let Some(m) = message() {
            p { class: "error", role: "alert", "{m}" }
        }
    }
}

#[component]
fn SignIn() -> Element {
    let services = use_context::<Services>();
    let access = services.access().clone();
    let users = access.users();
    let current = access.current();
    let mut chosen = use_signal(|| current.as_ref().map(|u| u.id.clone()));
    let mut pin = use_signal(String::new);
    let mut message = use_signal(|| None::<String>);
    let mut busy = use_signal(|| false);
    // The PIN field remounts (empty) after each attempt.
    let mut attempt = use_signal(|| 0u32);
    let sign_in = move |_| {
        if *busy.peek() {
            return;
        }
        let Some(user) = chosen.peek().clone() else {
            message.set(Some("Choose who you are first.".into()));
            return;
        };
        busy.set(true);
        let services = services.clone();
        let p = pin.peek().clone();
        spawn(async move {
            let result = services.access().sign_in(&user, &p).await;
            message.set(result.err().map(|e| e.to_string()));
            pin.set(String::new());
            attempt += 1;
            busy.set(false);
        });
    };
    let heading = match &current {
        Some(u) => format!("Locked. {} or another user: sign in", u.name),
        None => "Sign in".to_string(),
    };
    rsx! {
        h2 { class: "section-title", "{heading}" }
        div { class: "choice-row", role: "group", "aria-label": "Who are you",
            for (id, name, role) in users {
                button {
                    key: "{id}",
                    class: if chosen().as_deref() == Some(id.as_str()) { "choice chosen" } else { "choice" },
                    "data-user": "{name}",
                    onclick: {
                        let id = id.clone();
                        move |_| chosen.set(Some(id.clone()))
                    },
                    "{name} · {role.label()}"
                }
            }
        }
        div { class: "form-grid",
            label { class: "form-field", key: "{attempt}",
                span { class: "form-label", "PIN" }
                input { class: "calc-input", "data-field": "sign-in-pin", r#type: "password", inputmode: "numeric", initial_value: "", oninput: move |e| pin.set(e.value()) }
                span {}
            }
        }
        button { class: "start-button", "data-action": "sign-in", disabled: busy(), onclick: sign_in, "Sign in" }
        if let Some(m) = message() {
            p { class: "error", role: "alert", "{m}" }
        }
    }
}

/// The signed-in user and a Lock button, in the status bar.
#[component]
pub fn UserStatus() -> Element {
    let services = use_context::<Services>();
    let access = services.access().clone();
    let text = match access.current() {
        Some(u) => format!("{} · {}", u.name, u.role.label()),
        None => services.author().user,
    };
    rsx! {
        span { class: "status-item", "data-status": "user", "User: {text}" }
        if access.enforced() && access.current().is_some() {
            button {
                class: "status-lock",
                "data-action": "lock",
                onclick: move |_| {
                    let access = access.clone();
                    spawn(async move { access.lock("tapped Lock").await });
                },
                "Lock"
            }
        }
    }
}

/// Settings › Users: who may sign in on this device, and an administrator's form to add one.
/// The form is shown to everyone; the service refuses anyone but an administrator, by name.
#[component]
pub fn UsersSection() -> Element {
    let services = use_context::<Services>();
    let access = services.access().clone();
    let users = access.users();
    let mut name = use_signal(String::new);
    let mut role = use_signal(|| Role::Perfusionist);
    let mut pin = use_signal(String::new);
    let mut again = use_signal(String::new);
    let mut message = use_signal(|| None::<(bool, String)>);
    let mut busy = use_signal(|| false);
    // The form's fields remount (empty) after a user is added.
    let mut added = use_signal(|| 0u32);
    let mut editing = use_signal(|| None::<String>);
    let mut confirm_off = use_signal(|| false);
    let add = move |_| {
        if *busy.peek() {
            return;
        }
        if *pin.peek() != *again.peek() {
            message.set(Some((
                false,
                "The two PINs differ: type the same PIN twice.".into(),
            )));
            return;
        }
        busy.set(true);
        let access = access.clone();
        let (n, r, p) = (name.peek().clone(), *role.peek(), pin.peek().clone());
        spawn(async move {
            match access.add_user(&n, r, &p).await {
                Ok(_) => {
                    message.set(Some((
                        true,
                        format!("{} added as {}.", n.trim(), r.label()),
                    )));
                    added += 1;
                    pin.set(String::new());
                    again.set(String::new());
                    name.set(String::new());
                }
                Err(e) => message.set(Some((false, format!("Not added: {e}")))),
            }
            busy.set(false);
        });
    };
    let chosen = role();
    let edited = editing().and_then(|e| users.iter().find(|(i, _, _)| *i == e).cloned());
    rsx! {
        section { class: "users", "data-section": "users",
            h2 { class: "section-title", "Users on this device" }
            ul { class: "user-list",
                for (id, n, r) in users {
                    li { key: "{id}", "data-user-row": "{n}", "{n} · {r.label()}"
                        button { class: "choice", "data-action": "edit-user",
                            onclick: { let id = id.clone(); move |_| { editing.set(Some(id.clone())); confirm_off.set(false); } },
                            "Change…" }
                    }
                }
            }
            if let Some((id, n, r)) = edited {
                UserEditor { key: "{id}", id, name: n, role: r, message, on_done: move |_| editing.set(None), confirm_off }
            }
            p { class: "muted", "An administrator adds people here; each signs in with their own PIN. Sign-ins, locks and refusals are kept in the audit." }
            div { class: "form-grid", key: "{added}",
                label { class: "form-field",
                    span { class: "form-label", "Name" }
                    input { class: "calc-input", "data-field": "user-name", initial_value: "", oninput: move |e| name.set(e.value()) }
                    span {}
                }
                label { class: "form-field",
                    span { class: "form-label", "PIN" }
                    input { class: "calc-input", "data-field": "user-pin", r#type: "password", inputmode: "numeric", initial_value: "", oninput: move |e| pin.set(e.value()) }
                    span {}
                }
                label { class: "form-field",
                    span { class: "form-label", "PIN again" }
                    input { class: "calc-input", "data-field": "user-pin-again", r#type: "password", inputmode: "numeric", initial_value: "", oninput: move |e| again.set(e.value()) }
                    span {}
                }
            }
            div { class: "choice-row", role: "group", "aria-label": "Role",
                span { class: "form-label", "Role" }
                for r in Role::ALL {
                    button { key: "{r.code()}", class: if chosen == r { "choice chosen" } else { "choice" },
                        "aria-pressed": "{chosen == r}", onclick: move |_| role.set(r), "{r.label()}" }
                }
            }
            button { class: "start-button", "data-action": "add-user", disabled: busy(), onclick: add, "Add user" }
            if let Some((ok, text)) = message() {
                p { class: if ok { "note" } else { "error" }, role: if ok { "status" } else { "alert" }, "{text}" }
            }
        }
    }
}

/// One user's changes: another role, a new PIN, or deactivation (a second, deliberate tap).
/// The service decides who may (administrators) and keeps the last administrator.
#[component]
fn UserEditor(
    id: String,
    name: String,
    role: Role,
    message: Signal<Option<(bool, String)>>,
    on_done: EventHandler<()>,
    confirm_off: Signal<bool>,
) -> Element {
    let services = use_context::<Services>();
    let access = services.access().clone();
    let mut pin = use_signal(String::new);
    let mut again = use_signal(String::new);
    let mut busy = use_signal(|| false);
    let mut message = message;
    let mut confirm_off = confirm_off;
    let apply = {
        let access = access.clone();
        let id = id.clone();
        move |change: crate::app::access::UserChange, done: String| {
            if *busy.peek() {
                return;
            }
            busy.set(true);
            let access = access.clone();
            let id = id.clone();
            spawn(async move {
                match access.change_user(&id, change).await {
                    Ok(()) => {
                        message.set(Some((true, done)));
                        on_done.call(());
                    }
                    Err(e) => message.set(Some((false, format!("Not changed: {e}")))),
                }
                busy.set(false);
            });
        }
    };
    let set_role = apply.clone();
    let mut reset = apply.clone();
    let mut deactivate = apply;
    let who = name.clone();
    rsx! {
        div { class: "user-editor", "data-editing": "{name}",
            h3 { class: "section-title", "Change {name}" }
            div { class: "choice-row", role: "group", "aria-label": "Role",
                span { class: "form-label", "Role" }
                for r in Role::ALL {
                    button { key: "{r.code()}", class: if role == r { "choice chosen" } else { "choice" },
                        "aria-pressed": "{role == r}", disabled: busy() || role == r,
                        onclick: {
                            let mut set_role = set_role.clone();
                            let who = who.clone();
                            move |_| set_role(crate::app::access::UserChange::Role(r), format!("{who} is now {}.", r.label()))
                        },
                        "{r.label()}" }
                }
            }
            div { class: "form-grid",
                label { class: "form-field",
                    span { class: "form-label", "New PIN" }
                    input { class: "calc-input", "data-field": "reset-pin", r#type: "password", inputmode: "numeric", initial_value: "", oninput: move |e| pin.set(e.value()) }
                    span {}
                }
                label { class: "form-field",
                    span { class: "form-label", "New PIN again" }
                    input { class: "calc-input", "data-field": "reset-pin-again", r#type: "password", inputmode: "numeric", initial_value: "", oninput: move |e| again.set(e.value()) }
                    span {}
                }
            }
            button { class: "start-button", "data-action": "reset-pin", disabled: busy(),
                onclick: {
                    let who = who.clone();
                    move |_| {
                        if *pin.peek() != *again.peek() {
                            message.set(Some((false, "The two PINs differ: type the same PIN twice.".into())));
                            return;
                        }
                        reset(crate::app::access::UserChange::Pin(pin.peek().clone()), format!("{who}'s PIN was reset."))
                    }
                },
                "Reset PIN" }
            if confirm_off() {
                button { class: "start-button", "data-action": "confirm-deactivate", disabled: busy(),
                    onclick: {
                        let who = who.clone();
                        move |_| deactivate(crate::app::access::UserChange::Deactivate, format!("{who} was deactivated."))
                    },
                    "Tap again: deactivate {name}" }
            } else {
                button { class: "start-button", "data-action": "deactivate", disabled: busy(),
                    onclick: move |_| confirm_off.set(true), "Deactivate…" }
            }
        }
    }
}
