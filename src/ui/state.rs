//! UI state: a bundle of signals shared through context. The background coroutines in
//! `ui::App` are the only writers of `live`, `mode`, `sync` and `now`.

use chrono::{DateTime, Utc};
use dioxus::prelude::*;

use crate::app::view::SyncState;
use crate::app::{CaseState, Do2iShown, MonitorView, Services, WriteError};
use crate::domain::advisory::{rules_from_protocol, Advisories};
use std::sync::Arc;

use crate::domain::board::{LiveFacts, Targets};
use crate::domain::protocol::Protocol;
use crate::domain::{
    AppMode, CaseClocks, CaseId, CaseSummary, Entry, EntryId, EntryPayload, LiveSnapshot, Patient,
};

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
    /// The record's facts for the live screen, derived once per change by the case session.
    pub facts: Signal<Arc<LiveFacts>>,
    /// A sentence for the user when something failed (shown until dismissed).
    pub notice: Signal<Option<String>>,
    /// The followed case's patient and the targets computed for them.
    pub patient: Signal<Option<Patient>>,
    pub targets: Signal<Option<Targets>>,
    /// Advisory state of the followed case, mirrored from the case monitor (the application
    /// watches values on bypass and logs changes; the buttons send commands).
    pub advisories: Signal<Advisories>,
    /// The live DO2i of the followed case (calculated by the case monitor), or why there is none.
    pub do2i: Signal<Option<Result<Do2iShown, String>>>,
    /// The last entry recorded from a one-tap button, with the end of its undo window.
    pub undo: Signal<Option<(EntryId, String, DateTime<Utc>)>>,
    /// A short message shown for a few seconds (a second tap dropped), until when.
    pub flash: Signal<Option<(String, DateTime<Utc>)>>,
    /// The followed ECMO run open in detail on the board (by MRN).
    pub open_run: Signal<Option<String>>,
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
            facts: Signal::new(Arc::new(LiveFacts::default())),
            notice: Signal::new(None),
            patient: Signal::new(None),
            targets: Signal::new(None),
            advisories: Signal::new(Advisories::new(rules_from_protocol(protocol))),
            do2i: Signal::new(None),
            undo: Signal::new(None),
            flash: Signal::new(None),
            open_run: Signal::new(None),
        }
    }

    pub fn navigate(mut self, to: Screen) {
        self.screen.set(to);
        self.drawer_open.set(false);
        tracing::info!(screen = to.slug(), "navigated");
    }

    pub fn clocks(&self) -> CaseClocks {
        self.facts.read().clocks
    }

    /// Record an entry on `case` from a tap, through the case session (author, time, follow-on
    /// steps and dropping a double tap are the session's). The entry reaches `entries` through
    /// the session's published state; the caller turns an error into a sentence. No signal
    /// guard is held across the await.
    pub async fn record(
        self,
        services: &Services,
        case: CaseId,
        payload: EntryPayload,
    ) -> Result<Entry, WriteError> {
        services.case().record_tap(case, payload).await
    }

    /// Say `text` for a few seconds (not an error to dismiss).
    pub fn flash(self, text: String) {
        let mut flash = self.flash;
        flash.set(Some((text, Utc::now() + chrono::Duration::seconds(4))));
    }

    /// Turn a write outcome into what the screen says: a dropped second tap is flashed, an
    /// entry already in effect is only logged; anything else is a notice. `true` when written.
    pub fn report(self, what: &str, result: Result<(), WriteError>) -> bool {
        match result {
            Ok(()) => true,
            Err(WriteError::Repeated {
                previous,
                window_ms,
            }) => {
                self.flash(format!(
                    "Second tap ignored: {previous} was just recorded (a repeat within {:.1} s counts once)",
                    window_ms as f64 / 1000.0
                ));
                false
            }
            Err(WriteError::Unchanged) => {
                tracing::info!(entry = %what, "already in effect; not recorded again");
                false
            }
            Err(e) => {
                let mut notice = self.notice;
                notice.set(Some(format!("{what} was NOT recorded: {e}")));
                false
            }
        }
    }

    /// Reload the followed case from the store (the session publishes it).
    pub async fn reload_case(self, services: &Services) {
        if let Err(e) = services.case().refresh().await {
            tracing::error!(error = %e, "cannot load the current case");
            let mut notice = self.notice;
            notice.set(Some(format!("The case could not be loaded: {e}")));
        }
    }

    /// Mirror the case monitor's view (advisories, live DO2i) into the signals.
    pub fn mirror_monitor(mut self, v: &MonitorView) {
        if let Some(a) = &v.advisories {
            if *self.advisories.peek() != *a {
                self.advisories.set(a.clone());
            }
        }
        if *self.do2i.peek() != v.do2i {
            self.do2i.set(v.do2i.clone());
        }
    }

    /// Mirror the session's published case state into the signals.
    pub fn mirror(mut self, s: &CaseState) {
        if *self.case.peek() != s.case {
            // Another case: the previous case's live values are not this one's.
            let other = self.case.peek().as_ref().map(|c| c.id) != s.case.as_ref().map(|c| c.id);
            if other {
                self.live.set(LiveSnapshot::default());
                self.undo.set(None);
            }
            self.case.set(s.case.clone());
        }
        self.entries.set(s.entries.as_ref().clone());
        if !Arc::ptr_eq(&self.facts.peek(), &s.facts) {
            self.facts.set(s.facts.clone());
        }
        if *self.patient.peek() != s.patient {
            self.patient.set(s.patient.clone());
        }
        self.targets.set(s.targets.clone());
    }
}
