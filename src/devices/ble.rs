//! The real stack: [`Link`] on btleplug (BlueZ over D-Bus on Linux, CoreBluetooth, WinRT,
//! Android). Scanning with a service filter, and one [`BleLink`] per peripheral. The peripheral
//! is fetched again from the adapter on every connect and a new notification stream opened
//! (btleplug #413); the streams are drained by a dedicated task into a bounded channel (on
//! several platforms they are 16-slot broadcast channels that drop on overflow).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use btleplug::api::{
    Central, CentralEvent, Characteristic, Manager as _, Peripheral as _, ScanFilter, WriteType,
};
use btleplug::platform::{Adapter, Manager, Peripheral, PeripheralId};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::link::{Link, LinkError, LinkEvent};

fn stack(e: btleplug::Error) -> LinkError {
    LinkError::Stack(e.to_string())
}

async fn timed<T>(
    op: &'static str,
    limit: Duration,
    fut: impl std::future::Future<Output = btleplug::Result<T>>,
) -> Result<T, LinkError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(stack),
        Err(_) => Err(LinkError::Timeout {
            op,
            ms: limit.as_millis() as u64,
        }),
    }
}

/// A peripheral seen by a scan.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub id: PeripheralId,
    pub name: Option<String>,
    pub rssi: Option<i16>,
    pub services: Vec<Uuid>,
}

/// The first Bluetooth adapter, for scanning and making links.
#[derive(Clone)]
pub struct Scanner {
    adapter: Adapter,
}

impl Scanner {
    /// The first adapter and its description. Errors say why in words for the demo banner.
    pub async fn first_adapter(limit: Duration) -> Result<(Scanner, String), LinkError> {
        #[cfg(target_os = "android")]
        if !super::android::initialised() {
            return Err(LinkError::Stack(
                "Bluetooth was not initialised by the app's activity (permission refused?)".into(),
            ));
        }
        let why = |what: &str, e: LinkError| match e {
            LinkError::Stack(m) => LinkError::Stack(format!("{what}: {m}")),
            other => other,
        };
        let manager = timed("open Bluetooth", limit, Manager::new())
            .await
            .map_err(|e| why("Bluetooth unavailable", e))?;
        let adapter = timed("list adapters", limit, manager.adapters())
            .await
            .map_err(|e| why("cannot list adapters", e))?
            .into_iter()
            .next()
            .ok_or_else(|| LinkError::Stack("no adapter present".into()))?;
        let description = timed("describe adapter", limit, adapter.adapter_info())
            .await
            .unwrap_or_else(|_| "Bluetooth adapter".to_string());
        Ok((Scanner { adapter }, description))
    }

    /// Scan for `window` for devices offering any of `services`; returns what was seen.
    pub async fn scan(
        &self,
        services: &[Uuid],
        window: Duration,
    ) -> Result<Vec<Discovered>, LinkError> {
        let op = Duration::from_secs(5);
        let filter = ScanFilter {
            services: services.to_vec(),
        };
        timed("start scan", op, self.adapter.start_scan(filter)).await?;
        tokio::time::sleep(window).await;
        let _ = timed("stop scan", op, self.adapter.stop_scan()).await;
        let mut out = Vec::new();
        for p in timed("list peripherals", op, self.adapter.peripherals()).await? {
            let props = timed("read advertisement", op, p.properties()).await?;
            let Some(props) = props else { continue };
            if !services.is_empty() && !props.services.iter().any(|s| services.contains(s)) {
                continue;
            }
            out.push(Discovered {
                id: p.id(),
                name: props.local_name.or(props.advertisement_name),
                rssi: props.rssi,
                services: props.services,
            });
        }
        Ok(out)
    }

    pub fn link(&self, d: &Discovered) -> BleLink {
        BleLink {
            adapter: self.adapter.clone(),
            id: d.id.clone(),
            label: d.name.clone().unwrap_or_else(|| "unnamed device".into()),
            peripheral: Arc::new(Mutex::new(None)),
            op_timeout: Duration::from_secs(5),
        }
    }
}

/// One peripheral through btleplug.
#[derive(Clone)]
pub struct BleLink {
    adapter: Adapter,
    id: PeripheralId,
    label: String,
    peripheral: Arc<Mutex<Option<Peripheral>>>,
    /// Bounds the calls made inside other operations (the session times the operations).
    op_timeout: Duration,
}

impl BleLink {
    fn current(&self) -> Result<Peripheral, LinkError> {
        self.peripheral
            .lock()
            .map_err(|_| LinkError::Stack("peripheral lock poisoned".into()))?
            .clone()
            .ok_or(LinkError::NotConnected)
    }

    fn characteristic(&self, p: &Peripheral, uuid: Uuid) -> Result<Characteristic, LinkError> {
        p.characteristics()
            .into_iter()
            .find(|c| c.uuid == uuid)
            .ok_or(LinkError::NoCharacteristic(uuid))
    }
}

impl Link for BleLink {
    fn label(&self) -> String {
        self.label.clone()
    }

    async fn connect(&self) -> Result<(), LinkError> {
        let p = timed(
            "find peripheral",
            self.op_timeout,
            self.adapter.peripheral(&self.id),
        )
        .await?;
        if let Ok(slot) = self.peripheral.lock().as_deref_mut() {
            *slot = Some(p.clone());
        }
        if !timed("connection check", self.op_timeout, p.is_connected()).await? {
            p.connect().await.map_err(stack)?;
        }
        Ok(())
    }

    async fn discover(&self) -> Result<Vec<Uuid>, LinkError> {
        let p = self.current()?;
        p.discover_services().await.map_err(stack)?;
        Ok(p.characteristics().into_iter().map(|c| c.uuid).collect())
    }

    async fn read(&self, characteristic: Uuid) -> Result<Vec<u8>, LinkError> {
        let p = self.current()?;
        let c = self.characteristic(&p, characteristic)?;
        p.read(&c).await.map_err(stack)
    }

    async fn write(&self, characteristic: Uuid, value: Vec<u8>) -> Result<(), LinkError> {
        let p = self.current()?;
        let c = self.characteristic(&p, characteristic)?;
        p.write(&c, &value, WriteType::WithResponse)
            .await
            .map_err(stack)
    }

    async fn subscribe(&self, characteristic: Uuid) -> Result<(), LinkError> {
        let p = self.current()?;
        let c = self.characteristic(&p, characteristic)?;
        p.subscribe(&c).await.map_err(stack)
    }

    async fn events(&self, capacity: usize) -> Result<mpsc::Receiver<LinkEvent>, LinkError> {
        let p = self.current()?;
        let mut notes = timed("open notifications", self.op_timeout, p.notifications()).await?;
        let mut central = timed(
            "open adapter events",
            self.op_timeout,
            self.adapter.events(),
        )
        .await?;
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let id = self.id.clone();
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    n = notes.next() => match n {
                        Some(n) => LinkEvent::Notification { characteristic: n.uuid, value: n.value },
                        None => LinkEvent::Disconnected,
                    },
                    e = central.next() => match e {
                        Some(CentralEvent::DeviceDisconnected(d)) if d == id => LinkEvent::Disconnected,
                        Some(_) => continue,
                        None => LinkEvent::Disconnected,
                    },
                    _ = tx.closed() => return,
                };
                let last = event == LinkEvent::Disconnected;
                if tx.send(event).await.is_err() || last {
                    return;
                }
            }
        });
        Ok(rx)
    }

    async fn is_connected(&self) -> Result<bool, LinkError> {
        let p = self.current()?;
        p.is_connected().await.map_err(stack)
    }

    /// BlueZ keeps the bond as the device object's `Paired` property; btleplug does not expose
    /// it, so it is read over the system bus (the same bus btleplug uses). Other platforms do
    /// not say (`None`); see platforms/README.md.
    async fn bonded(&self) -> Result<Option<bool>, LinkError> {
        #[cfg(target_os = "linux")]
        {
            let path = format!("/org/bluez/{}", self.id);
            let limit = self.op_timeout;
            let read = tokio::task::spawn_blocking(move || -> Result<bool, String> {
                use dbus::blocking::stdintf::org_freedesktop_dbus::Properties;
                let conn = dbus::blocking::Connection::new_system().map_err(|e| e.to_string())?;
                conn.with_proxy("org.bluez", path, limit)
                    .get::<bool>("org.bluez.Device1", "Paired")
                    .map_err(|e| e.to_string())
            });
            match read.await {
                Ok(Ok(paired)) => Ok(Some(paired)),
                Ok(Err(e)) => Err(LinkError::Stack(format!("BlueZ Paired property: {e}"))),
                Err(e) => Err(LinkError::Stack(e.to_string())),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            Ok(None)
        }
    }

    async fn disconnect(&self) -> Result<(), LinkError> {
        let p = match self.current() {
            Ok(p) => p,
            Err(_) => return Ok(()),
        };
        if let Ok(slot) = self.peripheral.lock().as_deref_mut() {
            *slot = None;
        }
        p.disconnect().await.map_err(stack)
    }
}
