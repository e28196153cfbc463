//! Who wrote an entry and on which device. Every write to the record carries one.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// The signed-in user's display name (sign-in with roles comes with the security work).
    pub user: String,
    /// This installation's device label (tablet name).
    pub device: String,
}

impl Author {
    pub fn new(user: impl Into<String>, device: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            device: device.into(),
        }
    }
}
