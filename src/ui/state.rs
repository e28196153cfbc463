//! UI state: a bundle of signals shared through context. The background coroutines in
//! `ui::App` are the only writers of `live`, `mode`, `sync` and `now`.

use chrono::{DateTime, Utc};
use dioxus::prelude::*;

use crate::app::Services;
use crate::domain::advisory::{rules_from_protocol, Advisories, AdvisoryChange};
use crate::domain::board::{targets, Targets};
use crate::domain::protocol::Protocol;
use crate::domain::record::CaseView;
use crate::domain::{
    AppMode, CaseClocks, CaseId, CaseSummary, Entry, EntryId, EntryPayload, LiveSnapshot, NewEntry,
    Patient,
};
use crate::store::StoreError;
use crate::sync::SyncState;

/// The main screens, in navigation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Screen {
    Cases,
    Live,
    Checklists,
    Calculator,
    EcmoBoard,
    Devices,
    Sync,
    Settings,
}

impl Screen {
    pub const ALL: [Screen; 8] = [
        Screen::Cases,
        Screen::Live,
        Screen::Checklists,
        Screen::Calculator,
        Screen::EcmoBoard,
        Screen::Devices,
        Screen::Sync,
        Screen::Settings,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Cases => "Cases",
            Screen::Live => "Live case",
            Screen::Checklists => "Checklists",
            Screen::Calculator => "Calculator",
            Screen::EcmoBoard => "ECMO board",
            Screen::Devices => "Devices",
            Screen::Sync => "Sync",
            Screen::Settings => "Settings",
        }
    }

    /// Stable name for logs and test ids.
    pub fn slug(self) -> &'static str {
        match self {
            Screen::Cases => "cases",
            Screen::Live => "live",
            Screen::Checklists => "checklists",
            Screen::Calculator => "calculator",
            Screen::EcmoBoard => "ecmo",
            Screen::Devices => "devices",
            Screen::Sync => "sync",
            Screen::Settings => "settings",
        }
    }

    pub fn glyph(self) -> &'static str {
        match self {
            Screen::Cases => "▤",
            Screen::Live => "♥",
            Screen::Checklists => "☑",
            Screen::Calculator => "∑",
            Screen::EcmoBoard => "◎",
            Screen::Devices => "⌁",
            Screen::Sync => "⇅",
            Screen::Settings => "⚙",
        }
    }
}

#[derive(Clone, Copy)]
pub struct UiState {
    pub screen: Signal<Screen>,
    pub drawer_open: Signal<bool>,
    pub mode: Signal<AppMode>,
    pub sync: Signal<SyncState>,
    pub live: Signal<LiveSnapshot>,
    pub now: Signal<DateTime<Utc>>,
    pub case: Signal<Option<CaseSummary>>,
    /// Every entry of the followed case, in recording order.
    pub entries: Signal<Vec<Entry>>,
    /// A sentence for the user when something failed (shown until dismissed).
    pub notice: Signal<Option<String>>,
    /// The followed case's patient and the targets computed for them.
    pub patient: Signal<Option<Patient>>,
    pub targets: Signal<Option<Targets>>,
    /// Advisory state for the followed case (watched only on bypass; written by the live
    /// coroutine and the acknowledge/snooze buttons).
    pub advisories: Signal<Advisories>,
    /// The last entry recorded from a one-tap button, with the end of its undo window.
    pub undo: Signal<Option<(EntryId, String, DateTime<Utc>)>>,
}

impl UiState {
    /// Create the signals. Call inside a component.
    pub fn new(screen: Screen, protocol: &Protocol) -> Self {
        Self {
            screen: Signal::new(screen),
            drawer_open: Signal::new(false),
            mode: Signal::new(AppMode::Starting),
            sync: Signal::new(SyncState::NotConfigured),
            live: Signal::new(LiveSnapshot::default()),
            now: Signal::new(Utc::now()),
            case: Signal::new(None),
            entries: Signal::new(Vec::new()),
            notice: Signal::new(None),
            patient: Signal::new(None),
            targets: Signal::new(None),
            advisories: Signal::new(Advisories::new(rules_from_protocol(protocol))),
            undo: Signal::new(None),
        }
    }

    pub fn navigate(mut self, to: Screen) {
        self.screen.set(to);
        self.drawer_open.set(false);
        tracing::info!(screen = to.slug(), "navigated");
    }

    pub fn clocks(&self) -> CaseClocks {
        CaseView::derive(&self.entries.read()).clocks()
    }

    /// Record an entry on `case` as the signed-in user, now. On success it joins the case's
    /// entries; the caller turns an error into a sentence. No signal guard is held across the
    /// await.
    pub async fn record(
        mut self,
        services: &Services,
        case: CaseId,
        payload: EntryPayload,
    ) -> Result<Entry, StoreError> {
        let entry = services
            .store
            .append_entry(NewEntry {
                case_id: case,
                occurred_at: Utc::now(),
                author: services.author.clone(),
                payload,
            })
            .await?;
        tracing::info!(kind = entry.payload.kind(), "entry recorded");
        services.nudge_sync();
        self.entries.write().push(entry.clone());
        Ok(entry)
    }

    /// Reload the followed case and its events from the store.
    pub async fn reload_case(mut self, services: &Services) {
        services.nudge_sync();
        let loaded = match services.current_case().await {
            Ok(Some(case)) => services
                .store
                .entries(case.id)
                .await
                .map(|entries| (Some(case), entries)),
            Ok(None) => Ok((None, Vec::new())),
            Err(e) => Err(e),
        };
        let patient = match loaded.as_ref().ok().and_then(|(c, _)| c.as_ref()?.patient) {
            Some(id) => match services.store.patient(id).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "cannot load the case's patient");
                    None
                }
            },
            None => None,
        };
        let computed = patient
            .as_ref()
            .and_then(|p| match targets(p, &services.protocol) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::warn!(error = %e, "no targets for this patient");
                    None
                }
            });
        self.patient.set(patient);
        self.targets.set(computed);
        match loaded {
            Ok((case, entries)) => {
                self.case.set(case);
                self.entries.set(entries);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot load the current case");
                self.notice
                    .set(Some(format!("The case could not be loaded: {e}")));
            }
        }
    }
}

impl UiState {
    /// Log advisory changes on the case timeline. A change that cannot be written is said on
    /// screen: the advisory itself still shows.
    pub async fn log_advisories(
        self,
        services: &Services,
        case: CaseId,
        changes: Vec<AdvisoryChange>,
    ) {
        for change in changes {
            let message = self
                .advisories
                .peek()
                .message(change.rule())
                .unwrap_or(change.rule())
                .to_string();
            if let Err(e) = self
                .record(services, case, change.to_payload(&message))
                .await
            {
                tracing::error!(error = %e, "advisory change not logged");
                let mut notice = self.notice;
                notice.set(Some(format!("An advisory change was NOT logged: {e}")));
            }
        }
    }
}
