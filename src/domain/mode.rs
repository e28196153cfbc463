//! Whether the app is recording real devices or running the demo simulator.

/// Why the app is in demo mode. Shown in the banner so nobody mistakes simulated values for a
/// patient's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoReason {
    /// The user asked for it (`--demo`).
    Requested,
    /// No Bluetooth adapter was found; the text says what the probe saw.
    NoBluetoothAdapter(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppMode {
    /// Looking for a Bluetooth adapter; nothing is simulated yet.
    Starting,
    /// Real devices: an adapter is present.
    Live { adapter: String },
    /// Simulated devices and a demo case.
    Demo(DemoReason),
}

impl AppMode {
    pub fn is_demo(&self) -> bool {
        matches!(self, AppMode::Demo(_))
    }

    /// The banner sentence for demo mode, `None` otherwise.
    pub fn banner(&self) -> Option<String> {
        match self {
            AppMode::Demo(DemoReason::Requested) => Some(
                "DEMO MODE: simulated devices and a demo case. Not patient data.".to_string(),
            ),
            AppMode::Demo(DemoReason::NoBluetoothAdapter(why)) => Some(format!(
                "DEMO MODE: no Bluetooth adapter found ({why}). Simulated devices, not patient data."
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_only_in_demo_and_names_the_reason() {
        assert_eq!(AppMode::Starting.banner(), None);
        assert_eq!(
            AppMode::Live {
                adapter: "hci0".into()
            }
            .banner(),
            None
        );
        let b = AppMode::Demo(DemoReason::NoBluetoothAdapter("no D-Bus system bus".into()))
            .banner()
            .unwrap();
        assert!(b.contains("no D-Bus system bus"));
        assert!(b.contains("Not patient data") || b.contains("not patient data"));
    }
}
