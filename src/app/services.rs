//! The services the UI receives through Dioxus context, and the background tasks behind them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::case::CaseSession;
use super::devices::DeviceHub;
use super::AppConfig;
use crate::devices::ble::{Discovered, Scanner};
use crate::devices::simulator::{drive, Fault, VirtualKind};
use crate::devices::{probe_adapter, AdapterProbe, CpbSimulator, SessionConfig};
use crate::domain::checklist;
use crate::domain::patient::{BloodGroup, Mrn, Sex};
use crate::domain::protocol::Protocol;
use crate::domain::{
    AppMode, Author, CaseKind, CaseStatus, CaseSummary, Decimal, DemoReason, EntryPayload,
    LiveSample, Patient, PatientId,
};
use crate::store::{NewCase, Store, StoreError};
use crate::sync::config::{ConfigError, SyncSettings};
use crate::sync::{remote, SyncConfig, SyncEngine, SyncState};

/// Capacity of the device → UI channel: several seconds of every parameter, so a UI stall
/// never blocks a device task for long.
const LIVE_CHANNEL: usize = 4096;
/// How long the start-up adapter probe may take before demo mode starts.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] super::keys::KeyError),
    #[error("the built-in protocol is broken: {0}")]
    Protocol(crate::domain::protocol::ProtocolError),
}

/// One line of a case's audit view: who did what, when, on which device.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditLine {
    /// When it was written (for an entry: recorded, not its clinical time).
    pub at: chrono::DateTime<chrono::Utc>,
    pub what: String,
    pub by: String,
    pub device: String,
    /// An integrity finding or another security event, not a clinical entry.
    pub security: bool,
}

/// Why settings were not saved.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Access(#[from] super::access::AccessError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("saved, but the audit could not record it: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] super::keys::KeyError),
    #[error("the two passphrases differ; type the same passphrase twice")]
    Mismatch,
    #[error("these services have no device key (a preview or a test over a bare store)")]
    NoDeviceKey,
}

/// Whether what is recorded reaches the disk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordHealth {
    /// Why writing fails, while it does.
    pub failing: Option<String>,
    /// Device values waiting in memory.
    pub held_values: usize,
    /// Entry steps (commands) waiting in memory.
    pub held_steps: usize,
    /// Values given up after the memory limit.
    pub lost: u64,
    /// What the integrity checks found changed outside Pumpside (kept in the audit; shown on
    /// every screen, never hidden).
    pub altered: Vec<String>,
}

/// The record's integrity checks as the Settings screen shows them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntegrityStatus {
    /// A whole-record check is running.
    pub running: bool,
    /// When the last whole-record check ended, with how many seals and rows it recomputed.
    pub checked: Option<(chrono::DateTime<chrono::Utc>, u64, u64)>,
    /// Every finding kept in the audit, oldest first, as "when: what: how".
    pub findings: Vec<String>,
    /// The check itself failed (the store could not be read).
    pub error: Option<String>,
}

/// Where a demo device takes its injected faults.
type FaultLine = (VirtualKind, mpsc::Sender<Fault>);

/// Everything a screen may use: a façade over the store, the devices, sync and the case session,
/// with private fields. Screens read through its methods and send commands through
/// [`CaseSession`]; they never hold the store, a device or the FHIR client. Cheap to clone;
/// shared by every component through context.
#[derive(Clone)]
pub struct Services {
    store: Store,
    config: AppConfig,
    /// Process start, for the first-frame figure.
    started: Instant,
    /// Protocol settings in force (the hospital's file from the data directory, else defaults).
    protocol: Arc<Protocol>,
    /// Why the hospital's protocol file was not used, if it was not.
    protocol_problem: Option<String>,
    /// The followed patients' pulled runs, decoded once per change.
    on_call: super::ecmo::OnCall,
    /// Checklist template files that could not be imported, each with file, line and problem.
    template_problems: Vec<String>,
    /// Device sessions, their board, and where their values go.
    devices: DeviceHub,
    /// Every clinical write, and the followed case's published state.
    case: CaseSession,
    /// Fault injection into the demo's virtual devices (training and tests).
    demo_faults: Arc<Mutex<Vec<FaultLine>>>,
    /// The last Bluetooth scan, for the Devices screen.
    scanned: Arc<Mutex<Vec<Discovered>>>,
    scanner: Arc<tokio::sync::Mutex<Option<Scanner>>>,
    mode: watch::Receiver<AppMode>,
    sync: watch::Receiver<SyncState>,
    live_tx: mpsc::Sender<LiveSample>,
    /// Taken once by the UI's root coroutine, the single writer of live UI state.
    live_rx: Arc<Mutex<Option<mpsc::Receiver<LiveSample>>>>,
    mode_tx: Arc<watch::Sender<AppMode>>,
    sync_tx: Arc<watch::Sender<SyncState>>,
    /// The sync engine and its tasks when `sync.toml` configures a server.
    sync_run: Arc<Mutex<Option<SyncRun>>>,
    integrity: Arc<Mutex<IntegrityStatus>>,
    /// The device key and where it lives (`None` for services built over a store in tests).
    device_key: Option<Arc<super::keys::DeviceKey>>,
}

/// A running sync engine: the settings it runs with and its two tasks (the engine loop and the
/// status forwarder), aborted when the settings change.
struct SyncRun {
    engine: SyncEngine,
    config: SyncConfig,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for SyncRun {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Services {
    /// The store, for tests, benchmarks and tools. Screens use the façade's methods.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    /// Who writes now: the signed-in user on this device (the demo's author in demo mode).
    pub fn author(&self) -> Author {
        self.case.author()
    }

    /// Sign-in, roles and the lock.
    pub fn access(&self) -> &super::access::Access {
        self.case.access()
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn protocol(&self) -> &Arc<Protocol> {
        &self.protocol
    }

    /// Why the hospital's protocol file was not used, if it was not.
    pub fn protocol_problem(&self) -> Option<&str> {
        self.protocol_problem.as_deref()
    }

    /// Checklist template files that could not be imported.
    pub fn template_problems(&self) -> &[String] {
        &self.template_problems
    }

    /// The device hub (sessions, routes, recorder health).
    pub fn devices(&self) -> &DeviceHub {
        &self.devices
    }

    /// The case session: every clinical write goes through it.
    pub fn case(&self) -> &CaseSession {
        &self.case
    }

    /// The Devices screen's board.
    pub fn device_board(&self) -> Vec<super::BoardDevice> {
        self.devices.board()
    }

    /// Send a device's measured name to another parameter (or to none).
    pub fn map_device(&self, id: u64, name: &str, parameter: Option<crate::domain::Parameter>) {
        self.devices.map(id, name, parameter)
    }

    /// Disconnect a device and take it off the board.
    pub fn forget_device(&self, id: u64) {
        self.devices.forget(id)
    }

    /// Every case, newest first.
    pub async fn list_cases(&self) -> Result<Vec<CaseSummary>, StoreError> {
        self.store.list_cases().await
    }

    /// The patient registered on this device under an MRN.
    pub async fn find_patient(
        &self,
        mrn: &Mrn,
    ) -> Result<Option<(PatientId, Patient)>, StoreError> {
        self.store.find_patient(&mrn.system, &mrn.value).await
    }

    /// Checklist templates imported on this device.
    pub async fn templates(&self) -> Result<Vec<crate::domain::checklist::Template>, StoreError> {
        self.store.templates().await
    }

    /// Outbox rows not settled with the server, for the Sync screen.
    pub async fn unsettled(
        &self,
        limit: usize,
    ) -> Result<Vec<crate::store::OutboxRow>, StoreError> {
        self.store.unsettled(limit).await
    }

    /// The database's schema version.
    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        self.store.schema_version().await
    }

    /// Open the store and start background work. Call inside the tokio runtime.
    pub async fn start(config: AppConfig, started: Instant) -> Result<Self, StartError> {
        let data_dir_error = |source| StartError::DataDir {
            path: config.data_dir.clone(),
            source,
        };
        super::keys::create_private_dir(&config.data_dir).map_err(data_dir_error)?;
        // A record with content never gets a new key (see `keys::open`).
        let had_record = std::fs::metadata(config.database_path()).is_ok_and(|m| m.len() > 0);
        super::keys::prepare_database_file(&config.database_path()).map_err(data_dir_error)?;
        let device_key = super::keys::open(&config.data_dir, config.key_store, had_record)?;
        // The hospital's parameters, before any value is read.
        let parameters_problem = load_parameters(&config.data_dir);
        let store = Store::open(&config.database_path(), &device_key.store_keys())?;
        let demo = config.demo;
        let (protocol, problem) = load_protocol(&config.data_dir)?;
        // Demo mode records only simulated cases: no sign-in. A real installation enrols an
        // administrator at its first start, and every command needs a signed-in user.
        let access = if demo {
            super::access::Access::open(device_author(true))
        } else {
            super::access::Access::with_users(store.clone(), device_author(false).device).await?
        };
        // The hospital's idle time (protocol file, [security]); checked to 1–60 min on load.
        access.set_idle_lock(Duration::from_secs_f64(
            protocol.security.idle_lock_min * 60.0,
        ));
        let mut services =
            Self::from_access(store, config, AppMode::Starting, access, Arc::new(protocol))
                .with_started(started);
        {
            // The idle lock: checked every second; locking stops commands, not recording.
            let access = services.access().clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    access.lock_if_idle(Instant::now()).await;
                }
            });
        }
        services.protocol_problem = match (problem, parameters_problem) {
            (Some(a), Some(b)) => Some(format!("{a} {b}")),
            (a, b) => a.or(b),
        };
        services.device_key = Some(Arc::new(device_key));
        services.template_problems =
            import_templates(&services.store, &services.config.data_dir).await?;
        {
            let s = services.clone();
            tokio::spawn(async move { s.verify_record().await });
        }
        services.start_sync();
        {
            // A followed ECMO run that becomes more urgent is announced while the app is open.
            let s = services.clone();
            tokio::spawn(async move { s.announce_escalations(super::notify::Notifier::Os).await });
        }
        if demo {
            // The demo case first, so that the session follows it.
            services.enter_demo(DemoReason::Requested).await?;
        }
        services.case.start().await?;
        if !demo {
            let s = services.clone();
            tokio::spawn(async move {
                match probe_adapter(PROBE_TIMEOUT).await {
                    AdapterProbe::Found {
                        description,
                        scanner,
                    } => {
                        tracing::info!(adapter = %description, "Bluetooth adapter found");
                        *s.scanner.lock().await = Some(scanner);
                        s.mode_tx.send_replace(AppMode::Live {
                            adapter: description,
                        });
                    }
                    AdapterProbe::NotFound(why) => {
                        tracing::warn!(%why, "no Bluetooth adapter; starting demo mode");
                        if let Err(e) = s.enter_demo(DemoReason::NoBluetoothAdapter(why)).await {
                            tracing::error!(error = %e, "cannot start demo mode");
                        }
                    }
                }
            });
        }
        Ok(services)
    }

    /// Services over an already-open store with no background tasks: for tests and previews.
    pub fn from_parts(
        store: Store,
        config: AppConfig,
        mode: AppMode,
        author: Author,
        protocol: Arc<Protocol>,
    ) -> Self {
        Self::from_access(
            store,
            config,
            mode,
            super::access::Access::open(author),
            protocol,
        )
    }

    /// [`from_parts`](Self::from_parts) with sign-in and roles as given.
    pub fn from_access(
        store: Store,
        config: AppConfig,
        mode: AppMode,
        access: super::access::Access,
        protocol: Arc<Protocol>,
    ) -> Self {
        let (mode_tx, mode) = watch::channel(mode);
        let (sync_tx, sync) = watch::channel(SyncState::NotConfigured);
        let (live_tx, live_rx) = mpsc::channel(LIVE_CHANNEL);
        let devices = DeviceHub::new(store.clone(), live_tx.clone());
        let case =
            CaseSession::with_access(store.clone(), access, protocol.clone(), devices.clone());
        let sync_run: Arc<Mutex<Option<SyncRun>>> = Arc::new(Mutex::new(None));
        let nudge = sync_run.clone();
        case.set_on_write(Arc::new(move || {
            if let Ok(run) = nudge.lock() {
                if let Some(r) = run.as_ref() {
                    r.engine.nudge();
                }
            }
        }));
        Self {
            devices,
            case,
            demo_faults: Arc::new(Mutex::new(Vec::new())),
            scanned: Arc::new(Mutex::new(Vec::new())),
            scanner: Arc::new(tokio::sync::Mutex::new(None)),
            store,
            config,
            started: Instant::now(),
            protocol,
            protocol_problem: None,
            on_call: super::ecmo::OnCall::default(),
            template_problems: Vec::new(),
            mode,
            sync,
            live_tx,
            live_rx: Arc::new(Mutex::new(Some(live_rx))),
            mode_tx: Arc::new(mode_tx),
            sync_tx: Arc::new(sync_tx),
            sync_run,
            integrity: Arc::new(Mutex::new(IntegrityStatus::default())),
            device_key: None,
        }
    }

    /// (Re)start the sync engine from `sync.toml`: a running engine is stopped first (an upload
    /// cut off mid-request is retried; creates are conditional). Its status feeds the status bar.
    fn start_sync(&self) {
        if let Ok(mut run) = self.sync_run.lock() {
            run.take();
        }
        let config = match SyncConfig::load(&self.config.data_dir) {
            Ok(Some(c)) => c,
            Ok(None) => {
                self.sync_tx.send_replace(SyncState::NotConfigured);
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "sync settings unusable; records stay on this device");
                self.sync_tx
                    .send_replace(SyncState::Misconfigured(e.to_string()));
                return;
            }
        };
        let engine = match SyncEngine::new(self.store.clone(), config.clone(), self.author()) {
            Ok(e) => e,
            Err(e) => {
                self.sync_tx
                    .send_replace(SyncState::Misconfigured(e.to_string()));
                return;
            }
        };
        let mut status = engine.status();
        let tx = self.sync_tx.clone();
        let forward = tokio::spawn(async move {
            loop {
                let s = status.borrow_and_update().clone();
                tx.send_replace(SyncState::Active(s));
                if status.changed().await.is_err() {
                    break;
                }
            }
        });
        let run = tokio::spawn(engine.clone().supervised());
        tracing::info!("sync started");
        if let Ok(mut slot) = self.sync_run.lock() {
            *slot = Some(SyncRun {
                engine,
                config,
                tasks: vec![run, forward],
            });
        }
    }

    /// Save the sync settings typed on the Settings screen (only if usable) and restart sync
    /// with them.
    /// Only an administrator may; the change is an audit event (server and kind of
    /// credentials, never a secret).
    pub async fn save_sync_settings(&self, settings: &SyncSettings) -> Result<(), SettingsError> {
        let by = self
            .access()
            .check(crate::domain::user::Action::ChangeSyncServer)
            .await?;
        let before = self
            .sync_config()
            .map(|c| format!("{} ({})", c.base, c.auth_summary()))
            .unwrap_or_else(|| "none".into());
        let config = settings.save(&self.config.data_dir)?;
        self.start_sync();
        self.store
            .record_audit(
                crate::store::AuditNew {
                    kind: "sync-settings",
                    case: None,
                    subject: None,
                    detail: format!(
                        "sync server set to {} ({}{}); was {before}",
                        config.base,
                        config.auth_summary(),
                        config
                            .ca
                            .as_ref()
                            .map(|c| format!(", CA file {}", c.path))
                            .unwrap_or_default()
                    ),
                },
                by,
            )
            .await?;
        Ok(())
    }

    /// Where the device key lives and whether a recovery copy exists (with its time), for
    /// Settings; `None` when these services were built over a store without a key.
    pub fn key_status(&self) -> Option<(super::keys::KeyHome, Option<std::time::SystemTime>)> {
        self.device_key.as_ref().map(|k| {
            (
                k.home.clone(),
                super::keys::recovery_made(&self.config.data_dir),
            )
        })
    }

    /// Set (or replace) the recovery passphrase for the device key: administrators only, and a
    /// recorded event (the passphrase itself is never stored or logged).
    pub async fn set_recovery_passphrase(
        &self,
        passphrase: &str,
        again: &str,
    ) -> Result<(), SettingsError> {
        let by = self
            .access()
            .check(crate::domain::user::Action::ManageKeys)
            .await?;
        if passphrase != again {
            return Err(SettingsError::Mismatch);
        }
        let key = self.device_key.clone().ok_or(SettingsError::NoDeviceKey)?;
        let dir = self.config.data_dir.clone();
        let pass = passphrase.to_string();
        let replaced = super::keys::recovery_made(&dir).is_some();
        // Argon2id at 64 MiB takes a moment: off the async workers.
        let path = super::keys::recovery_path(&dir);
        tokio::task::spawn_blocking(move || {
            super::keys::set_recovery_passphrase(&dir, &key, &pass)
        })
        .await
        .map_err(|e| super::keys::KeyError::Io {
            path,
            source: std::io::Error::other(format!("the recovery copy task stopped: {e}")),
        })??;
        self.store
            .record_audit(
                crate::store::AuditNew {
                    kind: "recovery-passphrase",
                    case: None,
                    subject: None,
                    detail: if replaced {
                        "the device key's recovery copy was made again under a new passphrase"
                    } else {
                        "a recovery copy of the device key was made under an administrator's passphrase"
                    }
                    .into(),
                },
                by,
            )
            .await?;
        Ok(())
    }

    /// The sync settings in force, if a server is configured.
    pub fn sync_config(&self) -> Option<SyncConfig> {
        self.sync_run
            .lock()
            .ok()
            .and_then(|r| r.as_ref().map(|r| r.config.clone()))
    }

    /// Where pulled laboratory results come from: the configured server.
    fn lab_server(&self) -> String {
        self.sync_config()
            .map(|c| c.base)
            .unwrap_or_else(|| "the hospital's FHIR server".into())
    }

    /// Laboratory results the hospital's server posted for the case's patient, not taken in yet.
    pub async fn lab_offers(
        &self,
        case: crate::domain::CaseId,
    ) -> Result<Vec<crate::domain::labs::LabOffer>, StoreError> {
        super::labs::offers(&self.store, case, &self.lab_server()).await
    }

    /// Take one offered laboratory result into the case (one tap; a second tap writes nothing).
    pub async fn accept_lab(
        &self,
        case: crate::domain::CaseId,
        key: &str,
    ) -> Result<crate::domain::Entry, super::case::WriteError> {
        super::labs::accept(&self.case, &self.store, case, key, &self.lab_server()).await
    }

    /// Follow (or stop following) a patient on the ECMO board; the sync engine pulls them next.
    pub async fn follow(&self, mrn: Mrn, follow: bool) -> Result<(), StoreError> {
        self.store.follow(mrn, follow, self.author()).await?;
        self.nudge_sync();
        Ok(())
    }

    /// The running ECMO cases on this tablet, most urgent first, each with its reasons (the
    /// protocol's `[ecmo]` rules).
    pub async fn local_ecmo_runs(&self) -> Result<Vec<super::ecmo::LocalRun>, StoreError> {
        super::ecmo::local_runs(&self.store, &self.protocol.ecmo, chrono::Utc::now()).await
    }

    /// After each pull, the followed ECMO runs ranked by the protocol's rules; a run that gained
    /// a finding since the last pull is announced through `notifier` (nothing for what a run
    /// already had when first seen). Runs until the sync state is dropped.
    pub async fn announce_escalations(self, notifier: super::notify::Notifier) {
        let mut sync = self.sync.clone();
        let mut watch = crate::domain::ecmo::UrgencyWatch::default();
        let mut last = None;
        while sync.changed().await.is_ok() {
            let pulled = match &*sync.borrow_and_update() {
                SyncState::Active(s) => s.last_pull,
                _ => None,
            };
            if pulled.is_none() || pulled == last {
                continue;
            }
            last = pulled;
            let followed = match self.on_call().await {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!(error = %e, "followed runs not read for announcements");
                    continue;
                }
            };
            let ranked =
                super::ecmo::remote_runs(&followed, &self.protocol.ecmo, chrono::Utc::now());
            let keys: Vec<_> = ranked.iter().map(|r| r.ranked.clone()).collect();
            for (key, findings) in watch.update(&keys) {
                let who = ranked
                    .iter()
                    .find(|r| r.ranked.key == key)
                    .map_or(key, |r| format!("MRN {}", r.mrn.value));
                let (title, body) = super::notify::announcement(&who, &findings);
                tracing::info!(%title, %body, "a followed run became more urgent");
                if let Err(e) = notifier.send(&title, &body).await {
                    tracing::warn!(error = %e, "notification not shown");
                }
            }
        }
    }

    /// The ECMO board: each followed patient with the runs pulled for them.
    pub async fn on_call(&self) -> Result<Vec<remote::Followed>, StoreError> {
        self.on_call.followed(&self.store).await
    }

    /// A handover note written on call for a run followed from the server: kept on this device
    /// (sealed) and sent with the next sync, even if the phone is offline now. `id` is chosen
    /// when the form opens, so a second tap or a retry keeps one note (`Ok(false)`).
    pub async fn write_handover_note(
        &self,
        id: uuid::Uuid,
        mrn: Mrn,
        run: &crate::sync::remote::RemoteRun,
        text: String,
    ) -> Result<bool, super::case::WriteError> {
        let kind = run.case_kind.unwrap_or(crate::domain::CaseKind::EcmoVa);
        let author = self
            .access()
            .check(crate::domain::user::Action::Record(kind))
            .await?;
        let Some(subject) = run.subject.clone() else {
            return Err(StoreError::Invalid(crate::domain::ValidationError::Invalid {
                field: "run".into(),
                value: format!("Procedure/{}", run.server_id),
                allowed: "a run whose server record names its patient (this one does not, so a note could not be linked to the patient)".into(),
            })
            .into());
        };
        let written = self
            .store
            .write_remote_note(
                crate::store::RemoteNoteNew {
                    id,
                    mrn,
                    run_id: run.server_id.clone(),
                    subject,
                    demo: run.demo,
                    text,
                },
                author,
            )
            .await?;
        self.nudge_sync();
        Ok(written)
    }

    /// A person resolves a sync conflict from the Sync screen (see `Store::resolve_conflict`).
    pub async fn resolve_conflict(&self, op_seq: i64, keep_ours: bool) -> Result<(), StoreError> {
        self.store
            .resolve_conflict(op_seq, keep_ours, self.author())
            .await?;
        self.nudge_sync();
        Ok(())
    }

    /// Tell the sync engine the record changed (it uploads soon; never waits).
    pub fn nudge_sync(&self) {
        if let Ok(run) = self.sync_run.lock() {
            if let Some(r) = run.as_ref() {
                r.engine.nudge();
            }
        }
    }

    /// Set the process start instant (for the first-frame log).
    pub fn with_started(mut self, started: Instant) -> Self {
        self.started = started;
        self
    }

    /// Create (or reuse) the running demo case, then start the virtual devices. Each is a real
    /// GATT profile on an in-memory link with its own session, so the demo runs the same
    /// decoding, mapping and recording as bedside devices; their values are marked demo.
    async fn enter_demo(&self, reason: DemoReason) -> Result<(), StoreError> {
        let case = ensure_demo_case(&self.case).await?;
        tracing::info!(case = %case.id, "demo case ready");
        if self.case.followed().is_none() {
            self.case.follow(case.id).await?;
        } else {
            self.case.refresh().await?;
        }
        // The demo joins a CPB case ten minutes in (on bypass, cooling) and plays it in real
        // time: cross-clamp and cardioplegia, rewarming, weaning, off bypass.
        let sim = CpbSimulator::new(
            chrono::Utc::now() - chrono::Duration::seconds(CpbSimulator::DEMO_JOIN as i64),
        );
        let period = Duration::from_secs(1);
        for kind in VirtualKind::ALL {
            let peer = kind.peer();
            let (tx, rx) = mpsc::channel(16);
            tokio::spawn(drive(kind, peer.clone(), sim.clone(), period, rx));
            self.devices
                .attach(peer.link(), SessionConfig::default(), true, Some(-50));
            if let Ok(mut f) = self.demo_faults.lock() {
                f.push((kind, tx));
            }
        }
        // And the demo's ECMO runs, each with its own simulated console.
        for (kind, sim) in super::demo_ecmo::ensure_runs(&self.case).await? {
            let peer = kind.peer();
            let (tx, rx) = mpsc::channel(16);
            tokio::spawn(drive(kind, peer.clone(), sim, period, rx));
            self.devices
                .attach(peer.link(), SessionConfig::default(), true, Some(-55));
            if let Ok(mut f) = self.demo_faults.lock() {
                f.push((kind, tx));
            }
        }
        self.mode_tx.send_replace(AppMode::Demo(reason));
        Ok(())
    }

    /// Make a demo device misbehave (link loss, garbage, burst, clock skew). False when the
    /// device is not running.
    pub fn inject_fault(&self, kind: VirtualKind, fault: Fault) -> bool {
        let tx = self
            .demo_faults
            .lock()
            .ok()
            .and_then(|f| f.iter().find(|(k, _)| *k == kind).map(|(_, tx)| tx.clone()));
        tx.is_some_and(|tx| tx.try_send(fault).is_ok())
    }

    /// Scan for Bluetooth LE devices offering a profile Pumpside reads.
    pub async fn scan(
        &self,
        window: Duration,
    ) -> Result<Vec<Discovered>, crate::devices::LinkError> {
        let mut guard = self.scanner.lock().await;
        if guard.is_none() {
            *guard = Some(Scanner::first_adapter(PROBE_TIMEOUT).await?.0);
        }
        let scanner = guard
            .clone()
            .ok_or(crate::devices::LinkError::NotConnected)?;
        drop(guard);
        let found = scanner
            .scan(&crate::devices::gatt::service::SCAN_FILTER, window)
            .await?;
        if let Ok(mut s) = self.scanned.lock() {
            *s = found.clone();
        }
        Ok(found)
    }

    pub fn scanned(&self) -> Vec<Discovered> {
        self.scanned.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Connect to a scanned device. Its values are shown on the Devices screen and recorded
    /// only once a person associates it with a case.
    pub async fn connect(&self, d: &Discovered) -> Result<u64, crate::devices::LinkError> {
        let scanner = self
            .scanner
            .lock()
            .await
            .clone()
            .ok_or(crate::devices::LinkError::NotConnected)?;
        // The hospital may require a bond with every real device (protocol [security]).
        let cfg = SessionConfig {
            require_bonding: self.protocol.security.require_bonding,
            ..SessionConfig::default()
        };
        Ok(self.devices.attach(scanner.link(d), cfg, false, d.rssi))
    }

    pub fn mode(&self) -> watch::Receiver<AppMode> {
        self.mode.clone()
    }

    pub fn sync_state(&self) -> watch::Receiver<SyncState> {
        self.sync.clone()
    }

    /// A sender for live samples (device sessions and tests feed the UI through it).
    pub fn live_sender(&self) -> mpsc::Sender<LiveSample> {
        self.live_tx.clone()
    }

    /// The live-sample receiver; `None` after the first call.
    pub fn take_live_feed(&self) -> Option<mpsc::Receiver<LiveSample>> {
        self.live_rx.lock().ok().and_then(|mut g| g.take())
    }

    /// Whether the record is being written: the recorder's and the case session's failures
    /// together (shown on every screen).
    pub fn record_health(&self) -> RecordHealth {
        let r = self.devices.recorder_health();
        let (write_error, held_steps) = self.case.write_problem();
        RecordHealth {
            failing: r.failing.or(write_error),
            held_values: r.held,
            held_steps,
            lost: r.lost,
            altered: self.integrity().findings,
        }
    }

    /// A case's audit: every entry (who, when recorded, on which device) and every audit event
    /// about the case (integrity findings), oldest first.
    pub async fn case_audit(
        &self,
        case: crate::domain::CaseId,
    ) -> Result<Vec<AuditLine>, StoreError> {
        let mut lines: Vec<AuditLine> = self
            .store
            .entries(case)
            .await?
            .into_iter()
            .map(|e| AuditLine {
                at: e.recorded_at,
                what: format!("#{} {}", e.seq, crate::domain::quick::describe(&e.payload)),
                by: e.author.user,
                device: e.author.device,
                security: false,
            })
            .collect();
        lines.extend(
            self.store
                .audit(Some(case))
                .await?
                .into_iter()
                .filter(|a| a.case == Some(case))
                .map(|a| AuditLine {
                    at: a.at,
                    what: format!("{}: {}", a.kind, a.detail),
                    by: a.by,
                    device: a.on_device,
                    security: true,
                }),
        );
        lines.sort_by_key(|l| l.at);
        Ok(lines)
    }

    /// The integrity checks' state (Settings › Record integrity).
    pub fn integrity(&self) -> IntegrityStatus {
        self.integrity.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Check the whole record against its seals (at start, in the background, and from
    /// Settings). What is found is kept in the audit and shown on every screen.
    pub async fn verify_record(&self) {
        if let Ok(mut s) = self.integrity.lock() {
            if s.running {
                return; // a second tap while a check runs changes nothing
            }
            s.running = true;
        }
        let report = self.store.verify_record().await;
        let kept = self.store.integrity_findings(None).await;
        if let Ok(mut s) = self.integrity.lock() {
            s.running = false;
            match (report, kept) {
                (Ok(r), Ok(kept)) => {
                    s.checked = Some((chrono::Utc::now(), r.seals, r.rows));
                    s.error = None;
                    s.findings = kept
                        .iter()
                        .map(|a| format!("{}: {}", a.at.format("%Y-%m-%d %H:%M UTC"), a.detail))
                        .collect();
                    if !kept.is_empty() {
                        tracing::error!(
                            findings = kept.len(),
                            "the record was changed outside Pumpside (see Settings)"
                        );
                    }
                }
                (Err(e), _) | (_, Err(e)) => s.error = Some(e.to_string()),
            }
        }
    }

    /// The case the screens follow (chosen by a person, or the newest live case at start-up).
    pub async fn current_case(&self) -> Result<Option<CaseSummary>, StoreError> {
        let Some(id) = self.case.followed() else {
            return Ok(None);
        };
        Ok(self
            .store
            .list_cases()
            .await?
            .into_iter()
            .find(|c| c.id == id))
    }

    /// Start a case for the patient with `mrn` from the Cases screen (see
    /// [`CaseSession::start_case`]). In demo mode the case is a demo case (simulated devices
    /// never write into a real record).
    pub async fn start_case(
        &self,
        mrn: &Mrn,
        register: Option<Patient>,
        kind: CaseKind,
        label: String,
    ) -> Result<CaseSummary, super::WriteError> {
        let is_demo = matches!(*self.mode.borrow(), AppMode::Demo(_));
        self.case
            .start_case(mrn, register, kind, label, is_demo)
            .await
    }
}

/// The demo case is reused across launches so that a demo database does not fill with copies.
/// Its entries (the protocol in force, the simulated arterial gas) go through the case session
/// like every clinical write.
pub async fn ensure_demo_case(session: &CaseSession) -> Result<CaseSummary, StoreError> {
    let store = &session.store;
    let existing = store
        .list_cases()
        .await?
        .into_iter()
        .find(|c| c.is_demo && c.kind == CaseKind::Cpb && c.status == CaseStatus::Running);
    if let Some(c) = existing {
        return Ok(c);
    }
    // The demo's set-up is Pumpside's, not a person's: it needs no sign-in.
    let by = session.access().system("demo");
    let patient = demo_patient(store, &by).await?;
    let case = store
        .create_case(
            NewCase {
                kind: CaseKind::Cpb,
                patient: Some(patient),
                label: "Demo CPB: CABG x3 (simulated)".to_string(),
                is_demo: true,
                status: CaseStatus::Running,
            },
            by.clone(),
        )
        .await?;
    let written = async {
        session.record_protocol(case.id, by.clone()).await?;
        // Simulated anticoagulation, so that the demo's bypass passes the same gate as a
        // patient's: a baseline ACT, the loading dose, an ACT at target.
        for payload in [
            EntryPayload::Act {
                seconds: Decimal::integer(124),
            },
            EntryPayload::Heparin {
                units: Decimal::integer(24_000),
            },
            EntryPayload::Act {
                seconds: Decimal::integer(512),
            },
        ] {
            session.system_record(case.id, payload, "demo").await?;
        }
        session.system_record(case.id, demo_gas(), "demo").await
    };
    written.await.map_err(super::WriteError::into_store_error)?;
    Ok(case)
}

/// The demo case's arterial blood gas (simulated, in a demo case only), so that the live DO2i is
/// computed by the same path as in a patient's case: simulated pump flow from the console, Hb,
/// SaO2 and PaO2 from this gas, the demo patient's BSA and the protocol's constants.
fn demo_gas() -> EntryPayload {
    use crate::domain::bloodgas::{
        Analyte, AnalyteValue, BloodGasPanel, GasTemperature, SampleSite,
    };
    let v = |value: Decimal, unit: &str| AnalyteValue {
        value,
        unit: unit.into(),
    };
    let results = [
        (Analyte::Ph, v(Decimal::new(738, -2), "")),
        (Analyte::Pco2, v(Decimal::integer(40), "mmHg")),
        (Analyte::Po2, v(Decimal::integer(250), "mmHg")),
        (Analyte::So2, v(Decimal::integer(99), "%")),
        (Analyte::Hb, v(Decimal::new(85, -1), "g/dL")),
    ]
    .into_iter()
    .collect();
    EntryPayload::BloodGas(BloodGasPanel {
        site: SampleSite::PatientArtery,
        temperature: GasTemperature::At37,
        results,
        source: None,
    })
}

/// The demo's synthetic patient (an MRN in Pumpside's demo namespace, never a real record), so
/// that the demo shows targets computed from height and weight.
pub(super) async fn demo_patient(store: &Store, by: &Author) -> Result<PatientId, StoreError> {
    if let Some((id, _)) = store.find_patient(DEMO_MRN_SYSTEM, "DEMO-0001").await? {
        return Ok(id);
    }
    store
        .create_patient(
            Patient {
                mrn: Mrn {
                    system: DEMO_MRN_SYSTEM.into(),
                    value: "DEMO-0001".into(),
                },
                family_name: "Demo".into(),
                given_names: "Simulated".into(),
                birth_date: chrono::NaiveDate::from_ymd_opt(1958, 3, 14).unwrap_or_default(),
                sex: Sex::Male,
                height_cm: Decimal::new(175, 0),
                weight_kg: Decimal::new(80, 0),
                blood_group: BloodGroup::Unknown,
                allergies: Vec::new(),
            },
            by.clone(),
        )
        .await
}

/// MRN system of synthetic demo patients.
pub const DEMO_MRN_SYSTEM: &str = "urn:pumpside:demo";
/// The MRN issuer offered on the Cases screen outside demo mode until the hospital's identifier
/// system is configured (it must match the Patient.identifier system on the FHIR server).
pub const LOCAL_MRN_SYSTEM: &str = "urn:pumpside:mrn";

/// Folder in the data directory where a hospital drops its own checklist templates.
pub const CHECKLIST_DIR: &str = "checklists";

/// Import the shipped templates and the hospital's; return the problems of those that failed.
/// The app keeps running with every valid template.
pub async fn import_templates(
    store: &Store,
    data_dir: &std::path::Path,
) -> Result<Vec<String>, StoreError> {
    let mut files = checklist::shipped();
    let dir = data_dir.join(CHECKLIST_DIR);
    if let Ok(read) = std::fs::read_dir(&dir) {
        let mut paths: Vec<_> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for p in paths {
            match std::fs::read_to_string(&p) {
                Ok(t) => files.push((p.display().to_string(), t)),
                Err(e) => files.push((p.display().to_string(), format!("# unreadable: {e}\n"))),
            }
        }
    }
    let (templates, errors) = checklist::load_all(&files);
    let mut problems: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    for t in templates {
        let name = format!("{} {}", t.id, t.version);
        match store.import_template(t).await {
            Ok(_) => {}
            Err(StoreError::Invalid(e)) => problems.push(format!("{name}: {e}")),
            Err(e) => return Err(e),
        }
    }
    for p in &problems {
        tracing::error!(problem = %p, "checklist template not imported");
    }
    Ok(problems)
}

/// The file a hospital drops into the data directory to replace the default protocol.
pub const PROTOCOL_FILE: &str = "protocol.toml";

/// The hospital's protocol if present and valid; otherwise the defaults and the reason.
fn load_protocol(data_dir: &std::path::Path) -> Result<(Protocol, Option<String>), StartError> {
    let defaults = Protocol::defaults().map_err(StartError::Protocol)?;
    let path = data_dir.join(PROTOCOL_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((defaults, None)),
        Err(e) => {
            let why = format!(
                "{} could not be read ({e}); using the defaults",
                path.display()
            );
            tracing::error!("{why}");
            return Ok((defaults, Some(why)));
        }
    };
    match Protocol::parse(&path.display().to_string(), &text) {
        Ok(p) => {
            tracing::info!(name = %p.name, version = %p.version, "protocol loaded");
            Ok((p, None))
        }
        Err(e) => {
            let why = format!(
                "{e}. Using the defaults ({} {}).",
                defaults.name, defaults.version
            );
            tracing::error!("{why}");
            Ok((defaults, Some(why)))
        }
    }
}

/// Add the hospital's parameter rows (`parameters.toml` in the data directory) to the
/// catalogue; the reason when they cannot be used (the built-in catalogue stays in force).
fn load_parameters(data_dir: &std::path::Path) -> Option<String> {
    use crate::domain::parameter;
    let path = data_dir.join(parameter::HOSPITAL_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            let why = format!(
                "{} could not be read ({e}); using the built-in parameters",
                path.display()
            );
            tracing::error!("{why}");
            return Some(why);
        }
    };
    match parameter::install_hospital(&path.display().to_string(), &text) {
        Ok(()) => {
            tracing::info!(
                parameters = parameter::catalogue().len(),
                "hospital parameters added"
            );
            None
        }
        Err(e) => {
            let why = format!("{e}. Using the built-in parameters.");
            tracing::error!("{why}");
            Some(why)
        }
    }
}

fn device_author(demo: bool) -> Author {
    let device = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this device".to_string());
    let user = if demo {
        "Demo perfusionist"
    } else {
        "not signed in"
    };
    Author::new(user, device)
}
