//! Who is using the device, and whether they may do what they ask.
//!
//! Two modes. *Open* (demo mode, tests of other layers): one fixed author and every action
//! allowed, since nothing written there is a patient's. *Users* (a real installation): the first
//! start enrols an administrator; people sign in with a PIN (Argon2id, checked off the async
//! threads); after `FREE_FAILURES` wrong PINs sign-in for that user pauses, longer with each
//! further failure, counted from the audit so a restart does not reset it; the screen locks after
//! an idle time and anyone may sign in from the lock screen (the quick switch at shift change).
//! Locking stops commands, not recording: device values, the recorder, advisories and sync run
//! on without a person. Every command asks [`Access::check`], which says who writes (the author
//! stamped on the entry) or why not, and refusals go to the audit.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Utc};

use crate::domain::user::{self, Action, Role, UserId};
use crate::domain::{Author, ValidationError};
use crate::store::{AuditNew, Store, StoreError, UserRecord};

/// Who is signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub id: UserId,
    pub name: String,
    pub role: Role,
}

/// What an administrator changes about a user.
#[derive(Clone, PartialEq)]
pub enum UserChange {
    Role(Role),
    /// A new PIN (checked like any PIN; never printed).
    Pin(String),
    Deactivate,
}

impl std::fmt::Debug for UserChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserChange::Role(r) => write!(f, "Role({r:?})"),
            UserChange::Pin(_) => f.write_str("Pin(..)"),
            UserChange::Deactivate => f.write_str("Deactivate"),
        }
    }
}

/// Why a command or a sign-in is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AccessError {
    #[error("no administrator is enrolled on this device yet: enrol one first")]
    NeedsEnrolment,
    #[error("nobody is signed in: sign in to do this (recording goes on)")]
    NotSignedIn,
    #[error("the screen is locked: sign in to continue (recording goes on)")]
    Locked,
    #[error("{name} ({role}) may not {action}")]
    NotPermitted {
        name: String,
        role: &'static str,
        action: String,
    },
    #[error("wrong PIN: {left} more attempt(s) before sign-in pauses")]
    WrongPin { left: u32 },
    #[error("too many wrong PINs: sign-in for {name} is paused until {until} UTC")]
    LockedOut { name: String, until: String },
    #[error("no such active user on this device")]
    UnknownUser,
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Store(String),
}

impl From<StoreError> for AccessError {
    fn from(e: StoreError) -> Self {
        AccessError::Store(e.to_string())
    }
}

impl From<ValidationError> for AccessError {
    fn from(e: ValidationError) -> Self {
        AccessError::Invalid(e.to_string())
    }
}

enum Mode {
    Open(Author),
    Users,
}

struct State {
    mode: Mode,
    users: Vec<UserRecord>,
    signed_in: Option<SignedIn>,
    locked: bool,
    last_activity: Instant,
    idle_lock: Duration,
}

/// The default idle time before the screen locks (a setting: [`Access::set_idle_lock`]).
pub const IDLE_LOCK: Duration = Duration::from_secs(5 * 60);

/// Cheap to clone; one per installation.
#[derive(Clone)]
pub struct Access {
    state: Arc<Mutex<State>>,
    store: Option<Store>,
    device: String,
    /// User changes one at a time (a double tap on Enrol makes one administrator).
    writing: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("current", &self.current())
            .finish()
    }
}

fn hash_pin(pin: &str) -> Result<String, AccessError> {
    let mut salt = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| AccessError::Store("the random number generator failed".into()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AccessError::Store(e.to_string()))?;
    Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccessError::Store(e.to_string()))
}

fn pin_matches(pin: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(pin.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Argon2id off the async threads (tens of milliseconds in release, by design).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AccessError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AccessError::Store(format!("PIN check stopped: {e}")))
}

impl Access {
    /// Every action allowed as `author` (demo mode; tests of other layers).
    pub fn open(author: Author) -> Self {
        let device = author.device.clone();
        Self {
            state: Arc::new(Mutex::new(State {
                mode: Mode::Open(author),
                users: Vec::new(),
                signed_in: None,
                locked: false,
                last_activity: Instant::now(),
                idle_lock: IDLE_LOCK,
            })),
            store: None,
            device,
            writing: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Users from the store, nobody signed in.
    pub async fn with_users(store: Store, device: String) -> Result<Self, StoreError> {
        let users = store.users().await?;
        Ok(Self {
            state: Arc::new(Mutex::new(State {
                mode: Mode::Users,
                users,
                signed_in: None,
                locked: false,
                last_activity: Instant::now(),
                idle_lock: IDLE_LOCK,
            })),
            store: Some(store),
            device,
            writing: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether sign-in is enforced (false in demo mode).
    pub fn enforced(&self) -> bool {
        matches!(self.lock_state().mode, Mode::Users)
    }

    /// No active administrator yet: the first start's enrolment is due.
    pub fn needs_enrolment(&self) -> bool {
        let s = self.lock_state();
        matches!(s.mode, Mode::Users)
            && !s
                .users
                .iter()
                .any(|u| u.active && u.role == Role::Administrator)
    }

    /// Who is signed in (`None` in open mode, or before sign-in).
    pub fn current(&self) -> Option<SignedIn> {
        self.lock_state().signed_in.clone()
    }

    pub fn is_locked(&self) -> bool {
        let s = self.lock_state();
        matches!(s.mode, Mode::Users) && (s.locked || s.signed_in.is_none())
    }

    /// Active users (for the sign-in screen): id, name, role.
    pub fn users(&self) -> Vec<(UserId, String, Role)> {
        self.lock_state()
            .users
            .iter()
            .filter(|u| u.active)
            .map(|u| (u.id.clone(), u.name.clone(), u.role))
            .collect()
    }

    /// The author stamped on what is written now: the signed-in user on this device.
    pub fn author(&self) -> Author {
        let s = self.lock_state();
        match (&s.mode, &s.signed_in) {
            (Mode::Open(a), _) => a.clone(),
            (Mode::Users, Some(u)) => Author::new(u.name.clone(), self.device.clone()),
            (Mode::Users, None) => Author::new("not signed in", self.device.clone()),
        }
    }

    /// Pumpside itself as the author of what it writes without a person (advisories, the
    /// integrity checks): never a signed-in user's name.
    pub fn system(&self, what: &str) -> Author {
        Author::new(format!("Pumpside ({what})"), self.device.clone())
    }

    /// May the person at the device do `action` now? The author to stamp, or why not.
    pub fn authorize(&self, action: Action) -> Result<Author, AccessError> {
        let s = self.lock_state();
        let user = match &s.mode {
            Mode::Open(a) => return Ok(a.clone()),
            Mode::Users if s.users.is_empty() => return Err(AccessError::NeedsEnrolment),
            Mode::Users => s.signed_in.as_ref().ok_or(AccessError::NotSignedIn)?,
        };
        if s.locked {
            return Err(AccessError::Locked);
        }
        if !user.role.may(action) {
            return Err(AccessError::NotPermitted {
                name: user.name.clone(),
                role: user.role.label(),
                action: action.to_string(),
            });
        }
        Ok(Author::new(user.name.clone(), self.device.clone()))
    }

    /// [`authorize`](Self::authorize), with a refusal kept in the audit (who tried what).
    pub async fn check(&self, action: Action) -> Result<Author, AccessError> {
        let result = self.authorize(action);
        if let (Err(e @ AccessError::NotPermitted { .. }), Some(store)) = (&result, &self.store) {
            let subject = self.current().map(|u| u.id);
            let _ = store
                .record_audit(
                    AuditNew {
                        kind: "refused",
                        case: None,
                        subject,
                        detail: e.to_string(),
                    },
                    self.author(),
                )
                .await;
        }
        result
    }

    /// A person touched the screen: the idle clock starts again.
    pub fn touch(&self) {
        self.lock_state().last_activity = Instant::now();
    }

    pub fn set_idle_lock(&self, after: Duration) {
        self.lock_state().idle_lock = after;
    }

    /// How long the screen waits without a touch before it locks.
    pub fn idle_lock(&self) -> Duration {
        self.lock_state().idle_lock
    }

    /// Lock the screen if nobody touched it for the idle time; whether it locked now.
    pub async fn lock_if_idle(&self, now: Instant) -> bool {
        let idle = {
            let s = self.lock_state();
            matches!(s.mode, Mode::Users)
                && s.signed_in.is_some()
                && !s.locked
                && now.duration_since(s.last_activity) >= s.idle_lock
        };
        if idle {
            self.lock("idle").await;
        }
        idle
    }

    /// Lock the screen (a tap on Lock, or idle). Recording goes on.
    pub async fn lock(&self, why: &str) {
        let who = {
            let mut s = self.lock_state();
            if s.locked || s.signed_in.is_none() {
                return;
            }
            s.locked = true;
            s.signed_in.clone()
        };
        if let (Some(store), Some(u)) = (&self.store, who) {
            let _ = store
                .record_audit(
                    AuditNew {
                        kind: "lock",
                        case: None,
                        subject: Some(u.id.clone()),
                        detail: format!("screen locked ({why}) for {}", u.name),
                    },
                    Author::new(u.name, self.device.clone()),
                )
                .await;
        }
    }

    fn store(&self) -> Result<&Store, AccessError> {
        self.store.as_ref().ok_or(AccessError::UnknownUser)
    }

    async fn reload(&self) -> Result<(), AccessError> {
        let users = self.store()?.users().await?;
        let mut s = self.lock_state();
        // The signed-in user's new version is in force at once: a new role, or signed out
        // when deactivated.
        if let Some(me) = s.signed_in.clone() {
            match users.iter().find(|u| u.id == me.id && u.active) {
                Some(u) => {
                    s.signed_in = Some(SignedIn {
                        id: u.id.clone(),
                        name: u.name.clone(),
                        role: u.role,
                    })
                }
                None => {
                    s.signed_in = None;
                    s.locked = true;
                }
            }
        }
        s.users = users;
        Ok(())
    }

    /// An administrator changes a user: a new role, a new PIN, or deactivation. Each is a new
    /// version of the user (the old ones stay) and an audit event. The last active administrator
    /// can be neither demoted nor deactivated.
    pub async fn change_user(&self, id: &UserId, change: UserChange) -> Result<(), AccessError> {
        let by = self.check(Action::ManageUsers).await?;
        let _one_at_a_time = self.writing.lock().await;
        let (current, admins) = {
            let s = self.lock_state();
            let current = s
                .users
                .iter()
                .find(|u| &u.id == id && u.active)
                .cloned()
                .ok_or(AccessError::UnknownUser)?;
            let admins = s
                .users
                .iter()
                .filter(|u| u.active && u.role == Role::Administrator)
                .count();
            (current, admins)
        };
        let mut next = UserRecord {
            since: Utc::now(),
            ..current.clone()
        };
        let detail = match &change {
            UserChange::Role(role) => {
                next.role = *role;
                format!(
                    "{}: role changed from {} to {}",
                    current.name,
                    current.role.label(),
                    role.label()
                )
            }
            UserChange::Pin(pin) => {
                user::check_pin(pin)?;
                let pin = pin.clone();
                next.pin_hash = blocking(move || hash_pin(&pin)).await??;
                format!("{}: PIN reset by an administrator", current.name)
            }
            UserChange::Deactivate => {
                next.active = false;
                format!("{}: deactivated", current.name)
            }
        };
        let demotes = current.role == Role::Administrator
            && (!next.active || next.role != Role::Administrator);
        if demotes && admins <= 1 {
            return Err(AccessError::Invalid(
                "the last administrator stays: add another administrator first".into(),
            ));
        }
        self.store()?
            .save_user(
                next,
                AuditNew {
                    kind: "user",
                    case: None,
                    subject: Some(id.clone()),
                    detail,
                },
                by,
            )
            .await?;
        self.reload().await
    }

    /// The first start: make the first administrator and sign them in. Refused once anyone is
    /// enrolled (then an administrator adds users).
    pub async fn enrol_administrator(
        &self,
        name: &str,
        pin: &str,
    ) -> Result<SignedIn, AccessError> {
        let _one_at_a_time = self.writing.lock().await;
        if !self.lock_state().users.is_empty() {
            return Err(AccessError::Invalid(
                "an administrator is already enrolled: ask them to add you".into(),
            ));
        }
        let by = Author::new(name.trim(), self.device.clone());
        let id = self
            .write_user(None, name, Role::Administrator, pin, by)
            .await?;
        self.sign_in(&id, pin).await
    }

    /// An administrator adds a user.
    pub async fn add_user(&self, name: &str, role: Role, pin: &str) -> Result<UserId, AccessError> {
        let by = self.check(Action::ManageUsers).await?;
        let _one_at_a_time = self.writing.lock().await;
        self.write_user(None, name, role, pin, by).await
    }

    async fn write_user(
        &self,
        id: Option<UserId>,
        name: &str,
        role: Role,
        pin: &str,
        by: Author,
    ) -> Result<UserId, AccessError> {
        user::check_name(name)?;
        user::check_pin(pin)?;
        let pin = pin.to_string();
        let pin_hash = blocking(move || hash_pin(&pin)).await??;
        let id = id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let record = UserRecord {
            id: id.clone(),
            name: name.trim().to_string(),
            role,
            pin_hash,
            active: true,
            since: Utc::now(),
        };
        self.store()?
            .save_user(
                record,
                AuditNew {
                    kind: "user",
                    case: None,
                    subject: Some(id.clone()),
                    detail: format!("{} enrolled as {}", name.trim(), role.label()),
                },
                by,
            )
            .await?;
        self.reload().await?;
        Ok(id)
    }

    /// Sign in (or switch to) `user` with their PIN. Wrong PINs count towards the lock-out,
    /// which is read from the audit, so it survives a restart.
    pub async fn sign_in(&self, user: &UserId, pin: &str) -> Result<SignedIn, AccessError> {
        let record = self
            .lock_state()
            .users
            .iter()
            .find(|u| &u.id == user && u.active)
            .cloned()
            .ok_or(AccessError::UnknownUser)?;
        let store = self.store()?.clone();
        let (failures, last) = store.sign_in_failures(record.id.clone()).await?;
        if let (Some(pause), Some(last)) = (user::lockout(failures), last) {
            let until = last
                + chrono::Duration::from_std(pause).unwrap_or_else(|_| chrono::Duration::hours(1));
            if Utc::now() < until {
                return Err(AccessError::LockedOut {
                    name: record.name,
                    until: until.format("%H:%M:%S").to_string(),
                });
            }
        }
        let (p, h) = (pin.to_string(), record.pin_hash.clone());
        let ok = blocking(move || pin_matches(&p, &h)).await?;
        let by = Author::new(record.name.clone(), self.device.clone());
        if !ok {
            store
                .record_audit(
                    AuditNew {
                        kind: "sign-in-failed",
                        case: None,
                        subject: Some(record.id.clone()),
                        detail: format!("wrong PIN for {}", record.name),
                    },
                    by,
                )
                .await?;
            let n = failures + 1;
            return Err(match user::lockout(n) {
                Some(pause) => AccessError::LockedOut {
                    name: record.name,
                    until: (Utc::now() + chrono::Duration::from_std(pause).unwrap_or_default())
                        .format("%H:%M:%S")
                        .to_string(),
                },
                None => AccessError::WrongPin {
                    left: user::FREE_FAILURES - n,
                },
            });
        }
        let previous = self.current();
        let signed = SignedIn {
            id: record.id.clone(),
            name: record.name.clone(),
            role: record.role,
        };
        store
            .record_audit(
                AuditNew {
                    kind: "sign-in",
                    case: None,
                    subject: Some(record.id.clone()),
                    detail: match previous {
                        Some(p) if p.id != signed.id => {
                            format!("{} signed in (switched from {})", signed.name, p.name)
                        }
                        _ => format!("{} signed in", signed.name),
                    },
                },
                by,
            )
            .await?;
        let mut s = self.lock_state();
        s.signed_in = Some(signed.clone());
        s.locked = false;
        s.last_activity = Instant::now();
        Ok(signed)
    }

    /// When the audit says a user's lock-out ends (for the sign-in screen).
    pub async fn locked_out_until(&self, user: &UserId) -> Option<DateTime<Utc>> {
        let (failures, last) = self
            .store()
            .ok()?
            .sign_in_failures(user.clone())
            .await
            .ok()?;
        let until = last? + chrono::Duration::from_std(user::lockout(failures)?).ok()?;
        (Utc::now() < until).then_some(until)
    }
}
