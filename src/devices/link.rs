//! The small trait a device session needs from one BLE peripheral. btleplug implements it in
//! [`super::ble`]; the simulators and the session tests implement it in memory. Keeping it this
//! narrow is what lets the same session code run against BlueZ, a mock and the demo.

use std::future::Future;

use tokio::sync::mpsc;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("{op} did not finish within {ms} ms")]
    Timeout { op: &'static str, ms: u64 },
    #[error("the device is not connected")]
    NotConnected,
    #[error("the device does not offer characteristic {0}")]
    NoCharacteristic(Uuid),
    #[error("Bluetooth: {0}")]
    Stack(String),
}

/// What arrives from a connected peripheral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    Notification {
        characteristic: Uuid,
        value: Vec<u8>,
    },
    /// The link dropped (the stack said so, or the notification stream ended).
    Disconnected,
}

/// One peripheral, by whatever handle the platform uses (never shown, never stored).
pub trait Link: Send + Sync + 'static {
    /// A name for people: the advertised local name, or the simulator's name.
    fn label(&self) -> String;
    fn connect(&self) -> impl Future<Output = Result<(), LinkError>> + Send;
    /// Discover services; returns the characteristics offered.
    fn discover(&self) -> impl Future<Output = Result<Vec<Uuid>, LinkError>> + Send;
    fn read(&self, characteristic: Uuid)
        -> impl Future<Output = Result<Vec<u8>, LinkError>> + Send;
    fn write(
        &self,
        characteristic: Uuid,
        value: Vec<u8>,
    ) -> impl Future<Output = Result<(), LinkError>> + Send;
    fn subscribe(&self, characteristic: Uuid)
        -> impl Future<Output = Result<(), LinkError>> + Send;
    /// A fresh stream of notifications and link loss, drained by a dedicated task into a bounded
    /// channel of `capacity`. Opened anew after every (re)connection.
    fn events(
        &self,
        capacity: usize,
    ) -> impl Future<Output = Result<mpsc::Receiver<LinkEvent>, LinkError>> + Send;
    fn is_connected(&self) -> impl Future<Output = Result<bool, LinkError>> + Send;
    /// Whether the platform holds a bond (pairing keys) with the device; `None` where the
    /// platform does not say (btleplug has no pairing API; BlueZ reports it over D-Bus).
    fn bonded(&self) -> impl Future<Output = Result<Option<bool>, LinkError>> + Send;
    fn disconnect(&self) -> impl Future<Output = Result<(), LinkError>> + Send;
}
