//! Is there a Bluetooth adapter? Asked once at start-up, off the UI thread, with a timeout,
//! because BlueZ over D-Bus can hang when the system bus is missing or wedged. The adapter found
//! is kept for scanning, so the stack is opened once.

use std::time::Duration;

use super::ble::Scanner;
use super::LinkError;

pub enum AdapterProbe {
    /// An adapter answered: its description, and the scanner over it.
    Found {
        description: String,
        scanner: Scanner,
    },
    /// None usable; why, in words for the demo banner.
    NotFound(String),
}

pub async fn probe_adapter(timeout: Duration) -> AdapterProbe {
    let gave_up = || {
        AdapterProbe::NotFound(format!(
            "the Bluetooth stack did not answer within {} s",
            timeout.as_secs()
        ))
    };
    match tokio::time::timeout(timeout, Scanner::first_adapter(timeout)).await {
        Ok(Ok((scanner, description))) => AdapterProbe::Found {
            description,
            scanner,
        },
        Ok(Err(LinkError::Stack(why))) => AdapterProbe::NotFound(why),
        Ok(Err(LinkError::Timeout { .. })) | Err(_) => gave_up(),
        Ok(Err(other)) => AdapterProbe::NotFound(other.to_string()),
    }
}
