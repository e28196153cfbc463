//! UI state: a bundle of signals shared through context. The background coroutines in
//! `ui::App` are the only writers of `live`, `mode`, `sync` and `now`.

use chrono::{DateTime, Utc};
use dioxus::prelude::*;

use crate::app::Services;
use crate::domain::record::CaseView;
use crate::domain::{
    AppMode, CaseClocks, CaseId, CaseSummary, Entry, EntryPayload, LiveSnapshot, NewEntry,
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
}

impl UiState {
    /// Create the signals. Call inside a component.
    pub fn new(screen: Screen) -> Self {
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
        self.entries.write().push(entry.clone());
        Ok(entry)
    }

    /// Reload the followed case and its events from the store.
    pub async fn reload_case(mut self, services: &Services) {
        let loaded = match services.current_case().await {
            Ok(Some(case)) => services
                .store
                .entries(case.id)
                .await
                .map(|entries| (Some(case), entries)),
            Ok(None) => Ok((None, Vec::new())),
            Err(e) => Err(e),
        };
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
