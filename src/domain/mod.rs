//! Pure domain types and rules. No I/O, no Dioxus, tokio, rusqlite, btleplug or reqwest types.

pub mod author;
pub mod case;
pub mod clock;
pub mod event;
pub mod ids;
pub mod live;
pub mod mode;

pub use author::Author;
pub use case::{CaseKind, CaseStatus, CaseSummary};
pub use clock::CaseClocks;
pub use event::{EventKind, TimelineEvent};
pub use ids::{CaseId, EventId};
pub use live::{LiveSample, LiveSnapshot, Parameter, Validity};
pub use mode::{AppMode, DemoReason};
