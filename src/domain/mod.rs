//! Pure domain types and rules. No I/O, no Dioxus, tokio, rusqlite, btleplug or reqwest types.

pub mod advisory;
pub mod author;
pub mod bloodgas;
pub mod board;
pub mod calc;
pub mod case;
pub mod checklist;
pub mod clock;
pub mod decimal;
pub mod device;
pub mod entry;
pub mod event;
pub mod gdp;
pub mod ids;
pub mod live;
pub mod mode;
pub mod patient;
pub mod protocol;
pub mod quality;
pub mod quick;
pub mod record;
pub mod reminder;
pub mod telemetry;
pub mod validation;

pub use author::Author;
pub use case::{CaseKind, CaseStatus, CaseSummary};
pub use clock::CaseClocks;
pub use decimal::Decimal;
pub use entry::{Entry, EntryPayload, NewEntry};
pub use event::EventKind;
pub use ids::{CaseId, ChannelId, EntryId, PatientId};
pub use live::{LiveSample, LiveSnapshot, Parameter, RawRef, Validity};
pub use mode::{AppMode, DemoReason};
pub use patient::Patient;
pub use telemetry::{Channel, DeviceTime, Sample};
pub use validation::ValidationError;
