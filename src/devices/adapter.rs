//! Is there a Bluetooth adapter? Asked once at start-up, off the UI thread, with a timeout,
//! because BlueZ over D-Bus can hang when the system bus is missing or wedged.

use std::time::Duration;

use btleplug::api::{Central, Manager as _};
use btleplug::platform::Manager;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdapterProbe {
    /// An adapter answered; its description.
    Found(String),
    /// None usable; why, in words for the demo banner.
    NotFound(String),
}

pub async fn probe_adapter(timeout: Duration) -> AdapterProbe {
    match tokio::time::timeout(timeout, probe()).await {
        Ok(p) => p,
        Err(_) => AdapterProbe::NotFound(format!(
            "the Bluetooth stack did not answer within {} s",
            timeout.as_secs()
        )),
    }
}

async fn probe() -> AdapterProbe {
    #[cfg(target_os = "android")]
    if !super::android::initialised() {
        return AdapterProbe::NotFound(
            "Bluetooth was not initialised by the app's activity (permission refused?)".into(),
        );
    }
    let manager = match Manager::new().await {
        Ok(m) => m,
        Err(e) => return AdapterProbe::NotFound(format!("Bluetooth unavailable: {e}")),
    };
    let adapters = match manager.adapters().await {
        Ok(a) => a,
        Err(e) => return AdapterProbe::NotFound(format!("cannot list adapters: {e}")),
    };
    match adapters.into_iter().next() {
        None => AdapterProbe::NotFound("no adapter present".to_string()),
        Some(a) => AdapterProbe::Found(
            a.adapter_info()
                .await
                .unwrap_or_else(|_| "Bluetooth adapter".to_string()),
        ),
    }
}
