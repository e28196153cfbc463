//! Command line and environment: where the data lives, demo or not, the window size.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct AppConfig {
    pub demo: bool,
    pub data_dir: PathBuf,
    /// Logical window size (width, height); 1280x800 is the tablet-landscape reference.
    pub window: (f64, f64),
    /// Where the device key lives (see `app::keys`).
    pub key_store: KeyStore,
    /// `--recover-key`: restore the device key from its recovery copy (the passphrase on
    /// standard input) instead of starting.
    pub recover_key: bool,
}

/// Where the device key (the record's encryption and seal key) is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStore {
    /// The OS key store (Secret Service, Keychain, Credential Manager); a key file in the data
    /// folder only when there is none at the first start, and said so on Settings.
    System,
    /// A key file in the data folder, owner-only (kiosks without a key store, and tests that
    /// must not write into a developer's own key ring).
    File,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown option {0:?} (try --help)")]
    UnknownOption(String),
    #[error("{option} needs a value")]
    MissingValue { option: &'static str },
    #[error("--key-store wants \"system\" or \"file\", got {0:?}")]
    BadKeyStore(String),
    #[error("--window wants WIDTHxHEIGHT between 320x480 and 3840x2160, got {0:?}")]
    BadWindow(String),
    #[error("no data directory: set PUMPSIDE_DATA_DIR or pass --data-dir")]
    NoDataDir,
    #[error("--help")]
    HelpRequested,
}

pub const USAGE: &str = "\
pumpside [--demo] [--data-dir DIR] [--window WIDTHxHEIGHT] [--key-store system|file]
         [--recover-key]

  --demo            simulated devices and a demo CPB case (also automatic without Bluetooth)
  --data-dir DIR    where the database lives (default: PUMPSIDE_DATA_DIR, else the OS data dir)
  --window WxH      window size in logical pixels (default 1280x800, tablet landscape)
  --key-store KIND  where the device key lives: system (the OS key store, default) or file
                    (keys/device.key in the data folder, owner-only)
  --recover-key     put the device key back from its recovery copy: reads the administrator's
                    recovery passphrase from standard input, then exits

Not cleared for clinical use.";

impl AppConfig {
    /// Parse arguments (without the program name). `env_data_dir` is PUMPSIDE_DATA_DIR and
    /// `os_data_dir` the platform's local data directory; passed in so this stays testable.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        env_data_dir: Option<PathBuf>,
        os_data_dir: Option<PathBuf>,
    ) -> Result<Self, ConfigError> {
        let mut demo = false;
        let mut data_dir = None;
        let mut window = (1280.0, 800.0);
        let mut key_store = KeyStore::System;
        let mut recover_key = false;
        let mut args = args.into_iter();
        while let Some(a) = args.next() {
            match a.as_str() {
                "--demo" => demo = true,
                "--recover-key" => recover_key = true,
                "--data-dir" => {
                    data_dir = Some(PathBuf::from(args.next().ok_or(
                        ConfigError::MissingValue {
                            option: "--data-dir",
                        },
                    )?))
                }
                "--window" => {
                    let v = args
                        .next()
                        .ok_or(ConfigError::MissingValue { option: "--window" })?;
                    window = parse_window(&v)?;
                }
                "--key-store" => {
                    let v = args.next().ok_or(ConfigError::MissingValue {
                        option: "--key-store",
                    })?;
                    key_store = match v.as_str() {
                        "system" => KeyStore::System,
                        "file" => KeyStore::File,
                        _ => return Err(ConfigError::BadKeyStore(v)),
                    };
                }
                "-h" | "--help" => return Err(ConfigError::HelpRequested),
                other => return Err(ConfigError::UnknownOption(other.to_string())),
            }
        }
        let data_dir = data_dir
            .or(env_data_dir)
            .or_else(|| os_data_dir.map(|d| d.join("pumpside")))
            .ok_or(ConfigError::NoDataDir)?;
        Ok(Self {
            demo,
            data_dir,
            window,
            key_store,
            recover_key,
        })
    }

    /// The database file. Debug builds use their own file so a developer's experiments never
    /// touch the record a release build keeps.
    pub fn database_path(&self) -> PathBuf {
        database_path(&self.data_dir)
    }
}

pub fn database_path(data_dir: &Path) -> PathBuf {
    let name = if cfg!(debug_assertions) {
        "pumpside-debug.sqlite3"
    } else {
        "pumpside.sqlite3"
    };
    data_dir.join(name)
}

fn parse_window(v: &str) -> Result<(f64, f64), ConfigError> {
    let bad = || ConfigError::BadWindow(v.to_string());
    let (w, h) = v.split_once('x').ok_or_else(bad)?;
    let w: u32 = w.trim().parse().map_err(|_| bad())?;
    let h: u32 = h.trim().parse().map_err(|_| bad())?;
    if !(320..=3840).contains(&w) || !(480..=2160).contains(&h) {
        return Err(bad());
    }
    Ok((f64::from(w), f64::from(h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn data_dir_precedence_is_flag_then_env_then_os() {
        let env = Some(PathBuf::from("/env"));
        let os = Some(PathBuf::from("/os"));
        let c = AppConfig::parse(args("--data-dir /flag"), env.clone(), os.clone()).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/flag"));
        let c = AppConfig::parse(args(""), env, os.clone()).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/env"));
        let c = AppConfig::parse(args("--demo"), None, os).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/os/pumpside"));
        assert!(c.demo);
        assert_eq!(
            AppConfig::parse(args(""), None, None),
            Err(ConfigError::NoDataDir)
        );
    }

    #[test]
    fn window_sizes_are_checked() {
        let os = Some(PathBuf::from("/os"));
        let c = AppConfig::parse(args("--window 390x844"), None, os.clone()).unwrap();
        assert_eq!(c.window, (390.0, 844.0));
        for bad in ["390", "0x844", "abcxdef", "99999x800"] {
            assert_eq!(
                AppConfig::parse(vec!["--window".into(), bad.into()], None, os.clone()),
                Err(ConfigError::BadWindow(bad.into()))
            );
        }
        assert!(matches!(
            AppConfig::parse(args("--window"), None, os.clone()),
            Err(ConfigError::MissingValue { .. })
        ));
        assert!(matches!(
            AppConfig::parse(args("--frobnicate"), None, os),
            Err(ConfigError::UnknownOption(_))
        ));
    }

    #[test]
    fn debug_and_release_builds_use_different_files() {
        let p = database_path(Path::new("/d"));
        if cfg!(debug_assertions) {
            assert!(p.ends_with("pumpside-debug.sqlite3"));
        } else {
            assert!(p.ends_with("pumpside.sqlite3"));
        }
    }
}
