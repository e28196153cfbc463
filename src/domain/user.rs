//! People on the device: roles, what each may do, PIN rules and the lock-out after failed
//! sign-ins. Pure; the application layer (`app/access.rs`) enforces it on every command.

use std::time::Duration;

use super::case::CaseKind;
use super::validation::ValidationError;

/// A user's identifier on this device (UUIDv7 text).
pub type UserId = String;

/// What a person is on this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Records and signs every kind of case.
    Perfusionist,
    /// Records and signs ECMO runs (VA, VV, ECPR), views the others.
    EcmoSpecialist,
    /// Reads: the live screen, cases, reviews, the ECMO board. Writes nothing.
    Viewer,
    /// Everything a perfusionist may, plus users, Settings, the sync server and credentials.
    Administrator,
}

/// What a command asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Any clinical write to a case (entries, checklist answers, device association, starting a
    /// case, accepting a laboratory result).
    Record(CaseKind),
    /// Signing a case (or a checklist run).
    Sign(CaseKind),
    /// Settings on this device (protocol file, templates, integrity check runs for all).
    ChangeSettings,
    /// The FHIR server and its credentials.
    ChangeSyncServer,
    /// Adding users, changing roles, resetting PINs.
    ManageUsers,
    /// The device key's recovery passphrase.
    ManageKeys,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Perfusionist,
        Role::EcmoSpecialist,
        Role::Viewer,
        Role::Administrator,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::Perfusionist => "perfusionist",
            Role::EcmoSpecialist => "ecmo-specialist",
            Role::Viewer => "viewer",
            Role::Administrator => "administrator",
        }
    }

    pub fn from_code(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Perfusionist => "Perfusionist",
            Role::EcmoSpecialist => "ECMO specialist",
            Role::Viewer => "Viewer",
            Role::Administrator => "Administrator",
        }
    }

    /// Whether this role may do `action`.
    pub fn may(self, action: Action) -> bool {
        let ecmo = |k: CaseKind| matches!(k, CaseKind::EcmoVa | CaseKind::EcmoVv | CaseKind::Ecpr);
        match (self, action) {
            (Role::Administrator, _) => true,
            (Role::Perfusionist, Action::Record(_) | Action::Sign(_)) => true,
            (Role::EcmoSpecialist, Action::Record(k) | Action::Sign(k)) => ecmo(k),
            _ => false,
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Record(k) => write!(f, "record in a {} case", k.label()),
            Action::Sign(k) => write!(f, "sign a {} case", k.label()),
            Action::ChangeSettings => f.write_str("change this device's settings"),
            Action::ChangeSyncServer => f.write_str("change the sync server or its credentials"),
            Action::ManageUsers => f.write_str("add or change users"),
            Action::ManageKeys => f.write_str("set the device key's recovery passphrase"),
        }
    }
}

/// A PIN as typed: 6 to 12 digits, not one digit repeated, not a straight run (123456,
/// 987654). Short enough for gloved hands, with Argon2id and the lock-out behind it.
pub fn check_pin(pin: &str) -> Result<(), ValidationError> {
    let bad = |allowed: &str| ValidationError::Invalid {
        field: "PIN".into(),
        value: "(not shown)".into(),
        allowed: allowed.into(),
    };
    if !(6..=12).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("6 to 12 digits"));
    }
    let b = pin.as_bytes();
    if b.iter().all(|&d| d == b[0]) {
        return Err(bad("not one digit repeated"));
    }
    let step = |s: i16| b.windows(2).all(|w| i16::from(w[1]) - i16::from(w[0]) == s);
    if step(1) || step(-1) {
        return Err(bad("not a straight run of digits such as 123456"));
    }
    Ok(())
}

/// A display name: 1 to 80 characters of text.
pub fn check_name(name: &str) -> Result<(), ValidationError> {
    // Refuses an empty or blank name too.
    super::validation::check_text("user.name", name, 80)
}

/// Failed sign-ins allowed before the first lock-out.
pub const FREE_FAILURES: u32 = 5;

/// How long sign-in is refused after `failures` consecutive failures: nothing for the first
/// five, then 1 minute, doubling with each further failure, at most an hour (so a found tablet
/// cannot be walked through the PIN space, and a tired colleague is not locked out for a shift).
pub fn lockout(failures: u32) -> Option<Duration> {
    if failures < FREE_FAILURES {
        return None;
    }
    let doublings = (failures - FREE_FAILURES).min(6);
    Some(Duration::from_secs((60u64 << doublings).min(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_may_do_exactly_its_part() {
        use Action::*;
        let cpb = CaseKind::Cpb;
        let va = CaseKind::EcmoVa;
        let table = [
            (
                Role::Perfusionist,
                [true, true, true, false, false, false, false],
            ),
            (
                Role::EcmoSpecialist,
                [false, false, true, false, false, false, false],
            ),
            (
                Role::Viewer,
                [false, false, false, false, false, false, false],
            ),
            (
                Role::Administrator,
                [true, true, true, true, true, true, true],
            ),
        ];
        for (role, want) in table {
            let got = [
                role.may(Record(cpb)),
                role.may(Sign(cpb)),
                role.may(Record(va)) && role.may(Sign(va)),
                role.may(ChangeSettings),
                role.may(ChangeSyncServer),
                role.may(ManageUsers),
                role.may(ManageKeys),
            ];
            assert_eq!(got, want, "{role:?}");
            assert_eq!(Role::from_code(role.code()), Some(role));
        }
    }

    #[test]
    fn pins_are_digits_of_reasonable_length_and_not_trivial() {
        assert!(check_pin("284913").is_ok());
        assert!(check_pin("20261201").is_ok());
        for bad in [
            "12345",
            "1234567890123",
            "28491a",
            "000000",
            "123456",
            "987654",
            "",
        ] {
            assert!(check_pin(bad).is_err(), "{bad:?} accepted");
        }
        assert!(!check_pin("111111")
            .unwrap_err()
            .to_string()
            .contains("111111"));
    }

    #[test]
    fn lockout_starts_after_five_failures_and_doubles_to_an_hour() {
        assert_eq!(lockout(4), None);
        assert_eq!(lockout(5), Some(Duration::from_secs(60)));
        assert_eq!(lockout(6), Some(Duration::from_secs(120)));
        assert_eq!(lockout(10), Some(Duration::from_secs(1920)));
        assert_eq!(lockout(11), Some(Duration::from_secs(3600)));
        assert_eq!(lockout(1000), Some(Duration::from_secs(3600)));
    }
}
