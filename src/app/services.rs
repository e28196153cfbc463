//! The services the UI receives through Dioxus context, and the background tasks behind them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::recorder::run_recorder;
use super::AppConfig;
use crate::devices::{probe_adapter, AdapterProbe, CpbSimulator};
use crate::domain::checklist;
use crate::domain::protocol::Protocol;
use crate::domain::{
    AppMode, Author, CaseKind, CaseStatus, CaseSummary, DemoReason, EntryPayload, LiveSample,
    NewEntry,
};
use crate::store::{NewCase, Store, StoreError};
use crate::sync::SyncState;

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
    #[error("the built-in protocol is broken: {0}")]
    Protocol(crate::domain::protocol::ProtocolError),
}

/// Everything a screen may use. Cheap to clone; shared by every component through context.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub config: AppConfig,
    /// Who is writing on this device (sign-in with roles arrives with the security work).
    pub author: Author,
    /// Process start, for the first-frame figure.
    pub started: Instant,
    /// Protocol settings in force (the hospital's file from the data directory, else defaults).
    pub protocol: Arc<Protocol>,
    /// Why the hospital's protocol file was not used, if it was not.
    pub protocol_problem: Option<String>,
    /// Checklist template files that could not be imported, each with file, line and problem.
    pub template_problems: Vec<String>,
    mode: watch::Receiver<AppMode>,
    sync: watch::Receiver<SyncState>,
    live_tx: mpsc::Sender<LiveSample>,
    /// Taken once by the UI's root coroutine, the single writer of live UI state.
    live_rx: Arc<Mutex<Option<mpsc::Receiver<LiveSample>>>>,
    mode_tx: Arc<watch::Sender<AppMode>>,
    _sync_tx: Arc<watch::Sender<SyncState>>,
}

impl Services {
    /// Open the store and start background work. Call inside the tokio runtime.
    pub async fn start(config: AppConfig, started: Instant) -> Result<Self, StartError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let store = Store::open(&config.database_path())?;
        let demo = config.demo;
        let (protocol, problem) = load_protocol(&config.data_dir)?;
        let mut services = Self::from_parts(
            store,
            config,
            AppMode::Starting,
            device_author(demo),
            Arc::new(protocol),
        )
        .with_started(started);
        services.protocol_problem = problem;
        services.template_problems =
            import_templates(&services.store, &services.config.data_dir).await?;
        if demo {
            services.enter_demo(DemoReason::Requested).await?;
        } else {
            let s = services.clone();
            tokio::spawn(async move {
                match probe_adapter(PROBE_TIMEOUT).await {
                    AdapterProbe::Found(adapter) => {
                        tracing::info!(%adapter, "Bluetooth adapter found");
                        s.mode_tx.send_replace(AppMode::Live { adapter });
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
        let (mode_tx, mode) = watch::channel(mode);
        let (sync_tx, sync) = watch::channel(SyncState::NotConfigured);
        let (live_tx, live_rx) = mpsc::channel(LIVE_CHANNEL);
        Self {
            store,
            config,
            author,
            started: Instant::now(),
            protocol,
            protocol_problem: None,
            template_problems: Vec::new(),
            mode,
            sync,
            live_tx,
            live_rx: Arc::new(Mutex::new(Some(live_rx))),
            mode_tx: Arc::new(mode_tx),
            _sync_tx: Arc::new(sync_tx),
        }
    }

    /// Set the process start instant (for the first-frame log).
    pub fn with_started(mut self, started: Instant) -> Self {
        self.started = started;
        self
    }

    /// Create (or reuse) the running demo case, then start the simulator. Its values go to the
    /// live screen and, through the recorder, into the case record.
    async fn enter_demo(&self, reason: DemoReason) -> Result<(), StoreError> {
        let case = ensure_demo_case(&self.store, &self.author, &self.protocol).await?;
        tracing::info!(case = %case.id, "demo case ready");
        let (sim_tx, mut sim_rx) = mpsc::channel::<LiveSample>(LIVE_CHANNEL);
        let (rec_tx, rec_rx) = mpsc::channel::<LiveSample>(LIVE_CHANNEL);
        tokio::spawn(CpbSimulator::new(chrono::Utc::now()).run(sim_tx, Duration::from_secs(1)));
        tokio::spawn(run_recorder(self.store.clone(), case.id, rec_rx));
        let live_tx = self.live_tx.clone();
        tokio::spawn(async move {
            let mut display_skipped = 0u64;
            while let Some(s) = sim_rx.recv().await {
                // The record never drops: a slow recorder slows the simulator. The screen shows
                // only the latest value, so when it lags it skips (counted), never the record.
                if rec_tx.send(s.clone()).await.is_err() {
                    tracing::error!("recorder stopped; demo values are no longer recorded");
                    break;
                }
                if let Err(mpsc::error::TrySendError::Full(_)) = live_tx.try_send(s) {
                    display_skipped += 1;
                    if display_skipped.is_power_of_two() {
                        tracing::warn!(
                            display_skipped,
                            "screen is behind; skipping display updates"
                        );
                    }
                }
            }
        });
        self.mode_tx.send_replace(AppMode::Demo(reason));
        Ok(())
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

    /// The case the live screen follows: the newest running case.
    pub async fn current_case(&self) -> Result<Option<CaseSummary>, StoreError> {
        Ok(self
            .store
            .list_cases()
            .await?
            .into_iter()
            .find(|c| c.status == CaseStatus::Running))
    }
}

/// The demo case is reused across launches so that a demo database does not fill with copies.
pub async fn ensure_demo_case(
    store: &Store,
    by: &Author,
    protocol: &Protocol,
) -> Result<CaseSummary, StoreError> {
    let existing = store
        .list_cases()
        .await?
        .into_iter()
        .find(|c| c.is_demo && c.status == CaseStatus::Running);
    match existing {
        Some(c) => Ok(c),
        None => {
            let case = store
                .create_case(
                    NewCase {
                        kind: CaseKind::Cpb,
                        patient: None,
                        label: "Demo CPB: CABG x3 (simulated)".to_string(),
                        is_demo: true,
                        status: CaseStatus::Running,
                    },
                    by.clone(),
                )
                .await?;
            store
                .append_entry(NewEntry {
                    case_id: case.id,
                    occurred_at: chrono::Utc::now(),
                    author: by.clone(),
                    payload: EntryPayload::Protocol {
                        name: protocol.name.clone(),
                        version: protocol.version.clone(),
                    },
                })
                .await?;
            Ok(case)
        }
    }
}

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
