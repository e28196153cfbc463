//! Notifications while the app is open: a followed ECMO run that becomes more urgent (it gains
//! a finding of the protocol's ECMO rules after a pull) is announced with the reason in words.
//! Desktop: the operating system's notification through `notify-rust` (Linux: the
//! org.freedesktop.Notifications service on the session bus; macOS and Windows: their own).
//! Android and iOS: not built here; the platform path is written in `platforms/README.md`.
//! Advisory only: the ECMO console keeps the primary alarms.

use std::sync::{Arc, Mutex};

/// Where announcements go.
#[derive(Clone, Debug)]
pub enum Notifier {
    /// The operating system's notifications.
    Os,
    /// Kept in memory (tests, and platforms without a notification path yet).
    Kept(Arc<Mutex<Vec<(String, String)>>>),
}

impl Notifier {
    /// Announce; the reason when the platform could not (logged by the caller, never fatal).
    pub async fn send(&self, title: &str, body: &str) -> Result<(), String> {
        match self {
            Notifier::Kept(list) => {
                list.lock()
                    .map_err(|_| "notification list poisoned".to_string())?
                    .push((title.to_string(), body.to_string()));
                Ok(())
            }
            Notifier::Os => {
                let (title, body) = (title.to_string(), body.to_string());
                tokio::task::spawn_blocking(move || os_notify(&title, &body))
                    .await
                    .map_err(|e| format!("notification task failed: {e}"))?
            }
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
fn os_notify(title: &str, body: &str) -> Result<(), String> {
    #[cfg(target_os = "linux")]
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        // libdbus would try to start a bus of its own: say why instead.
        return Err("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)".into());
    }
    notify_rust::Notification::new()
        .appname("Pumpside")
        .summary(title)
        .body(body)
        .show()
        .map(|_| ())
        .map_err(|e| format!("the desktop did not take the notification: {e}"))
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
fn os_notify(_title: &str, _body: &str) -> Result<(), String> {
    Err("notifications are not built for this platform yet (platforms/README.md)".into())
}

/// The announcement of a run that became more urgent: title and body.
pub fn announcement(who: &str, findings: &[crate::domain::ecmo::Finding]) -> (String, String) {
    let reasons: Vec<&str> = findings.iter().map(|f| f.reason.as_str()).collect();
    (
        format!("ECMO {who}: more urgent"),
        format!(
            "{}. Advisory from the protocol's rules; the console keeps the alarms.",
            reasons.join("; ")
        ),
    )
}
