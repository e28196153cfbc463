//! An in-memory peripheral implementing [`Link`]: the simulators drive it with encoded bytes,
//! and the session tests use it to script faults (a hanging connect, link loss, bursts, clock
//! skew, repeated notifications). Its [`MemoryPeer`] handle is the device's side.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;
use uuid::Uuid;

use super::link::{Link, LinkError, LinkEvent};

/// How the next connect attempt behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectBehaviour {
    Succeed,
    Fail,
    /// Never answers (the btleplug hang the session's timeout exists for).
    Hang,
}

#[derive(Debug, Default)]
struct State {
    label: String,
    characteristics: Vec<Uuid>,
    values: HashMap<Uuid, Vec<u8>>,
    next_connects: VecDeque<ConnectBehaviour>,
    connected: bool,
    subscribed: Vec<Uuid>,
    events: Option<mpsc::Sender<LinkEvent>>,
    writes: Vec<(Uuid, Vec<u8>)>,
    connects: u32,
    events_opened: u32,
    bonded: Option<bool>,
}

/// The device side of a [`MemoryLink`].
#[derive(Debug, Clone, Default)]
pub struct MemoryPeer {
    state: Arc<Mutex<State>>,
}

/// The app side: what a session holds.
#[derive(Debug, Clone)]
pub struct MemoryLink {
    state: Arc<Mutex<State>>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding this lock is a test failure already; keep the state readable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MemoryPeer {
    pub fn new(label: &str, characteristics: &[Uuid]) -> Self {
        let p = MemoryPeer::default();
        {
            let mut s = lock(&p.state);
            s.label = label.to_string();
            s.characteristics = characteristics.to_vec();
        }
        p
    }

    pub fn link(&self) -> MemoryLink {
        MemoryLink {
            state: self.state.clone(),
        }
    }

    /// The value a read of `characteristic` returns.
    /// What the link reports about a bond (`None`: the platform does not say; the default).
    pub fn set_bonded(&self, bonded: Option<bool>) {
        lock(&self.state).bonded = bonded;
    }

    pub fn set_value(&self, characteristic: Uuid, value: &[u8]) {
        lock(&self.state)
            .values
            .insert(characteristic, value.to_vec());
    }

    /// Queue behaviours for the next connect attempts (afterwards: succeed).
    pub fn script_connects(&self, behaviours: &[ConnectBehaviour]) {
        lock(&self.state).next_connects.extend(behaviours);
    }

    pub fn is_connected(&self) -> bool {
        lock(&self.state).connected
    }

    pub fn is_subscribed(&self, characteristic: Uuid) -> bool {
        let s = lock(&self.state);
        s.connected && s.subscribed.contains(&characteristic)
    }

    pub fn connects(&self) -> u32 {
        lock(&self.state).connects
    }

    pub fn events_opened(&self) -> u32 {
        lock(&self.state).events_opened
    }

    pub fn writes(&self) -> Vec<(Uuid, Vec<u8>)> {
        lock(&self.state).writes.clone()
    }

    /// Notify subscribers. Returns false when nobody is listening (not connected or not
    /// subscribed): a real device's notification would be lost in the air the same way.
    pub async fn notify(&self, characteristic: Uuid, value: &[u8]) -> bool {
        let tx = {
            let s = lock(&self.state);
            if !s.connected || !s.subscribed.contains(&characteristic) {
                return false;
            }
            s.events.clone()
        };
        match tx {
            Some(tx) => tx
                .send(LinkEvent::Notification {
                    characteristic,
                    value: value.to_vec(),
                })
                .await
                .is_ok(),
            None => false,
        }
    }

    /// Drop the link as a device walking out of range would.
    pub async fn drop_link(&self) {
        let tx = {
            let mut s = lock(&self.state);
            s.connected = false;
            s.subscribed.clear();
            s.events.take()
        };
        if let Some(tx) = tx {
            let _ = tx.send(LinkEvent::Disconnected).await;
        }
    }

    /// Stop notifying without dropping the link (the silent stall of some stacks).
    pub fn go_silent(&self) {
        let mut s = lock(&self.state);
        s.subscribed.clear();
    }
}

impl Link for MemoryLink {
    fn label(&self) -> String {
        lock(&self.state).label.clone()
    }

    async fn connect(&self) -> Result<(), LinkError> {
        let behaviour = {
            let mut s = lock(&self.state);
            s.connects += 1;
            s.next_connects
                .pop_front()
                .unwrap_or(ConnectBehaviour::Succeed)
        };
        match behaviour {
            ConnectBehaviour::Succeed => {
                lock(&self.state).connected = true;
                Ok(())
            }
            ConnectBehaviour::Fail => Err(LinkError::Stack("connection refused".into())),
            ConnectBehaviour::Hang => std::future::pending().await,
        }
    }

    async fn discover(&self) -> Result<Vec<Uuid>, LinkError> {
        let s = lock(&self.state);
        if !s.connected {
            return Err(LinkError::NotConnected);
        }
        let mut all = s.characteristics.clone();
        all.extend(s.values.keys().copied());
        all.sort();
        all.dedup();
        Ok(all)
    }

    async fn read(&self, characteristic: Uuid) -> Result<Vec<u8>, LinkError> {
        let s = lock(&self.state);
        if !s.connected {
            return Err(LinkError::NotConnected);
        }
        s.values
            .get(&characteristic)
            .cloned()
            .ok_or(LinkError::NoCharacteristic(characteristic))
    }

    async fn write(&self, characteristic: Uuid, value: Vec<u8>) -> Result<(), LinkError> {
        let mut s = lock(&self.state);
        if !s.connected {
            return Err(LinkError::NotConnected);
        }
        s.writes.push((characteristic, value));
        Ok(())
    }

    async fn subscribe(&self, characteristic: Uuid) -> Result<(), LinkError> {
        let mut s = lock(&self.state);
        if !s.connected {
            return Err(LinkError::NotConnected);
        }
        if !s.characteristics.contains(&characteristic) {
            return Err(LinkError::NoCharacteristic(characteristic));
        }
        s.subscribed.push(characteristic);
        Ok(())
    }

    async fn events(&self, capacity: usize) -> Result<mpsc::Receiver<LinkEvent>, LinkError> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let mut s = lock(&self.state);
        s.events_opened += 1;
        s.events = Some(tx);
        Ok(rx)
    }

    async fn is_connected(&self) -> Result<bool, LinkError> {
        Ok(lock(&self.state).connected)
    }

    async fn bonded(&self) -> Result<Option<bool>, LinkError> {
        Ok(lock(&self.state).bonded)
    }

    async fn disconnect(&self) -> Result<(), LinkError> {
        let mut s = lock(&self.state);
        s.connected = false;
        s.subscribed.clear();
        s.events = None;
        Ok(())
    }
}
