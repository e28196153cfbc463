//! The device key, where it lives, its recovery copy, and the data folder's permissions.
//!
//! The device key (32 random bytes, made at the first start) is the root of the record's
//! protection: [`StoreKeys::derive`] turns it into the database's SQLCipher key and the seals'
//! HMAC key. It is never logged or shown.
//!
//! **Where it lives.** In the OS key store where there is one: the Secret Service over the D-Bus
//! session bus on Linux (GNOME Keyring, KWallet), the Keychain on macOS and iOS, the Credential
//! Manager on Windows, all through the `keyring` crate, one entry per installation ("Pumpside",
//! "device key <installation id>"; the id is in `keys/installation`, not a secret). Android's
//! Keystore is written down in `platforms/README.md` and not wired yet. Where no key store
//! answers at the first start (a kiosk without a desktop session), or with
//! `--key-store file`, the key is in `keys/device.key` (folder 0700, file 0600) and Settings
//! says so and why. A key file left by an earlier build is moved into the key store at the next
//! start (stored, read back, compared, and only then the file removed).
//!
//! **When it is missing.** A record that exists with no key in the store and no key file is
//! never replaced by a new key (that would make the record unreadable for good): start-up stops
//! with [`KeyError::Missing`], and `pumpside --recover-key` asks for the administrator's
//! recovery passphrase.
//!
//! **The recovery copy.** An administrator sets a recovery passphrase (Settings; at least 12
//! characters). `keys/recovery.key` then holds the device key sealed with AES-256-GCM under a
//! key stretched from the passphrase with Argon2id (64 MiB, 3 passes), the installation id as
//! associated data. It is useless without the passphrase, so it stays in the data folder, and an
//! administrator can keep a copy elsewhere. Recovery unseals it (a wrong passphrase fails the
//! tag check and is named as such), puts the key back where keys live, and the record opens.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::store::StoreKeys;

use super::config::KeyStore;

/// Why the device key cannot be read, made or recovered.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write the device key at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the device key at {path} is damaged ({why}); restore it from the backup of this \
         device's keys, or recover it with `pumpside --recover-key`"
    )]
    Damaged { path: PathBuf, why: String },
    #[error(
        "this device's record exists but its key is neither in the {store} nor in a key file; \
         {}",
        if *recovery {
            "run `pumpside --recover-key` and type the administrator's recovery passphrase"
        } else {
            "no recovery copy was made on this device: restore the key from a backup of this \
             device's keys"
        }
    )]
    Missing { store: String, recovery: bool },
    #[error(
        "the {store} did not answer ({why}); this device's key is kept there, so the record \
         cannot be opened until it does (unlock the key ring, or sign in to the desktop)"
    )]
    StoreUnavailable { store: String, why: String },
    #[error("the recovery passphrase does not open the recovery copy at {path}")]
    WrongPassphrase { path: PathBuf },
    #[error("there is no recovery copy of the device key at {path}")]
    NoRecoveryCopy { path: PathBuf },
    #[error(
        "a recovery passphrase needs at least 12 characters and more than one kind of character"
    )]
    WeakPassphrase,
}

const HEADER: &str = "pumpside-device-key-v1\n";
const RECOVERY_HEADER: &str = "pumpside-recovery-v1";
/// The key store's service name for our entries.
const SERVICE: &str = "Pumpside";

/// The device key in memory, and where it is kept.
pub struct DeviceKey {
    master: [u8; 32],
    installation: String,
    pub home: KeyHome,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKey")
            .field("installation", &self.installation)
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

impl DeviceKey {
    /// The record's encryption and seal keys.
    pub fn store_keys(&self) -> StoreKeys {
        StoreKeys::derive(&self.master)
    }
}

/// Where the device key is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyHome {
    /// In the OS key store (its name).
    System { store: String },
    /// In `keys/device.key`, and why not in the OS key store.
    File { path: PathBuf, why: String },
}

impl KeyHome {
    /// For Settings.
    pub fn describe(&self) -> String {
        match self {
            KeyHome::System { store } => format!("in the {store}"),
            KeyHome::File { path, why } => {
                format!("in the owner-only file {} ({why})", path.display())
            }
        }
    }
}

/// Where the key file is.
pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("device.key")
}

/// Where the recovery copy is.
pub fn recovery_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("recovery.key")
}

fn installation_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("installation")
}

/// Read the device key from where it lives, or make one when there is no record yet.
/// `had_record`: a database with content exists in the data folder.
pub fn open(data_dir: &Path, choice: KeyStore, had_record: bool) -> Result<DeviceKey, KeyError> {
    let path = key_path(data_dir);
    let dir = path.parent().unwrap_or(data_dir).to_path_buf();
    create_private_dir(&dir).map_err(|source| KeyError::Io {
        path: dir.clone(),
        source,
    })?;
    let installation = installation_id(data_dir)?;
    let from_file = read_key_file(&path)?;
    let system = match choice {
        KeyStore::File => Err("chosen with --key-store file".to_string()),
        KeyStore::System => system::entry(&installation),
    };
    let store_name = system::NAME.to_string();
    let file_home = |why: String| KeyHome::File {
        path: path.clone(),
        why: format!("not in the OS key store: {why}"),
    };
    let (master, home) = match system.and_then(|e| e.get().map(|k| (e, k))) {
        Ok((entry, Some(bytes))) => {
            let master: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Damaged {
                path: PathBuf::from(format!("{store_name} entry \"device key {installation}\"")),
                why: "it does not hold 32 bytes".into(),
            })?;
            match from_file {
                // A move interrupted after the store took the key: finish it.
                Some(k) if k == master => remove_key_file(&path)?,
                Some(_) => {
                    return Err(KeyError::Damaged {
                        path: path.clone(),
                        why: format!(
                            "it holds a different key from the {store_name}'s; keep both and \
                             ask support which one the record was made with"
                        ),
                    })
                }
                None => {}
            }
            drop(entry);
            (master, KeyHome::System { store: store_name })
        }
        Ok((entry, None)) => match from_file {
            Some(k) => match entry.put(&k) {
                Ok(()) => {
                    remove_key_file(&path)?;
                    tracing::info!(
                        store = system::NAME,
                        "moved the device key into the OS key store"
                    );
                    (k, KeyHome::System { store: store_name })
                }
                Err(why) => (k, file_home(why)),
            },
            None if had_record => {
                return Err(KeyError::Missing {
                    store: store_name,
                    recovery: recovery_path(data_dir).exists(),
                })
            }
            None => {
                let k = new_key(&path)?;
                match entry.put(&k) {
                    Ok(()) => {
                        tracing::info!(
                            store = system::NAME,
                            "made this device's key in the OS key store"
                        );
                        (k, KeyHome::System { store: store_name })
                    }
                    Err(why) => {
                        write_key_file(&path, &k)?;
                        (k, file_home(why))
                    }
                }
            }
        },
        Err(why) => match from_file {
            Some(k) => (k, file_home(why)),
            None if had_record && choice == KeyStore::System => {
                return Err(KeyError::StoreUnavailable {
                    store: store_name,
                    why,
                })
            }
            None if had_record => {
                return Err(KeyError::Missing {
                    store: "OS key store (not asked: --key-store file)".into(),
                    recovery: recovery_path(data_dir).exists(),
                })
            }
            None => {
                let k = new_key(&path)?;
                write_key_file(&path, &k)?;
                tracing::info!("made this device's key in a key file");
                (k, file_home(why))
            }
        },
    };
    Ok(DeviceKey {
        master,
        installation,
        home,
    })
}

/// The installation's id (made once; names the key store entry and binds the recovery copy).
fn installation_id(data_dir: &Path) -> Result<String, KeyError> {
    let path = installation_path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = text.trim();
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                return Err(KeyError::Damaged {
                    path,
                    why: "it does not hold an installation id".into(),
                });
            }
            Ok(id.to_string())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = uuid::Uuid::now_v7().to_string();
            write_private(&path, format!("{id}\n").as_bytes())
                .map_err(|source| KeyError::Io { path, source })?;
            Ok(id)
        }
        Err(source) => Err(KeyError::Io { path, source }),
    }
}

fn read_key_file(path: &Path) -> Result<Option<[u8; 32]>, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text).map(Some).map_err(|why| KeyError::Damaged {
            path: path.to_path_buf(),
            why,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KeyError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn write_key_file(path: &Path, key: &[u8; 32]) -> Result<(), KeyError> {
    write_private(path, format!("{HEADER}{}\n", hex(key)).as_bytes()).map_err(|source| {
        KeyError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

fn remove_key_file(path: &Path) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::remove_file(path).map_err(io)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(())
}

fn random<const N: usize>() -> Result<[u8; N], std::io::Error> {
    let mut out = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut out)
        .map_err(|_| std::io::Error::other("the system's random number generator failed"))?;
    Ok(out)
}

fn new_key(path: &Path) -> Result<[u8; 32], KeyError> {
    random().map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Whether a recovery copy exists, and when it was made.
pub fn recovery_made(data_dir: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(recovery_path(data_dir))
        .and_then(|m| m.modified())
        .ok()
}

/// Argon2id at 64 MiB and 3 passes: the copy lives next to the record, so a guess must cost.
fn stretch(passphrase: &str, salt: &[u8]) -> Result<[u8; 32], KeyError> {
    let params =
        argon2::Params::new(64 * 1024, 3, 1, Some(32)).map_err(|_| KeyError::WeakPassphrase)?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = [0u8; 32];
    argon
        .hash_password_into(passphrase.as_bytes(), salt, &mut out)
        .map_err(|_| KeyError::WeakPassphrase)?;
    Ok(out)
}

/// A passphrase is at least 12 characters and not one character repeated.
pub fn check_passphrase(passphrase: &str) -> Result<(), KeyError> {
    let mut chars = passphrase.chars();
    let first = chars.clone().next();
    if passphrase.chars().count() < 12 || chars.all(|c| Some(c) == first) {
        return Err(KeyError::WeakPassphrase);
    }
    Ok(())
}

/// Write (or replace) the recovery copy of `key` sealed under `passphrase`.
pub fn set_recovery_passphrase(
    data_dir: &Path,
    key: &DeviceKey,
    passphrase: &str,
) -> Result<(), KeyError> {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    check_passphrase(passphrase)?;
    let path = recovery_path(data_dir);
    let io = |source| KeyError::Io {
        path: path.clone(),
        source,
    };
    let salt: [u8; 16] = random().map_err(io)?;
    let nonce: [u8; 12] = random().map_err(io)?;
    let wrap = stretch(passphrase, &salt)?;
    let sealer = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &wrap).map_err(|_| io(std::io::Error::other("AES key")))?,
    );
    let mut sealed = key.master.to_vec();
    sealer
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(key.installation.as_bytes()),
            &mut sealed,
        )
        .map_err(|_| io(std::io::Error::other("sealing failed")))?;
    let text = format!(
        "{RECOVERY_HEADER}\ninstallation {}\nkdf argon2id m=65536 t=3 p=1\nsalt {}\nnonce {}\nsealed {}\n",
        key.installation,
        hex(&salt),
        hex(&nonce),
        hex(&sealed)
    );
    write_private(&path, text.as_bytes()).map_err(io)
}

/// Unseal the recovery copy with `passphrase` and put the key back where keys live (the OS key
/// store, or the key file with `--key-store file` or when there is no key store). Returns where.
pub fn recover(data_dir: &Path, choice: KeyStore, passphrase: &str) -> Result<KeyHome, KeyError> {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    let path = recovery_path(data_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeyError::NoRecoveryCopy { path })
        }
        Err(source) => return Err(KeyError::Io { path, source }),
    };
    let damaged = |why: &str| KeyError::Damaged {
        path: path.clone(),
        why: why.into(),
    };
    let mut lines = text.lines();
    if lines.next() != Some(RECOVERY_HEADER) {
        return Err(damaged("it does not start with the recovery header"));
    }
    let mut field = |name: &str| {
        lines
            .next()
            .and_then(|l| l.strip_prefix(name))
            .and_then(|l| l.strip_prefix(' '))
            .map(str::to_string)
            .ok_or_else(|| damaged(&format!("its {name} line is missing")))
    };
    let installation = field("installation")?;
    if field("kdf")? != "argon2id m=65536 t=3 p=1" {
        return Err(damaged(
            "it names a key stretching this build does not know",
        ));
    }
    let salt = unhex(&field("salt")?).ok_or_else(|| damaged("its salt is not hexadecimal"))?;
    let nonce: [u8; 12] = unhex(&field("nonce")?)
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| damaged("its nonce is not 12 bytes"))?;
    let mut sealed =
        unhex(&field("sealed")?).ok_or_else(|| damaged("its sealed key is not hexadecimal"))?;
    let wrap = stretch(passphrase, &salt)?;
    let opener =
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &wrap).map_err(|_| damaged("AES key"))?);
    let master: [u8; 32] = opener
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(installation.as_bytes()),
            &mut sealed,
        )
        .map_err(|_| KeyError::WrongPassphrase { path: path.clone() })?
        .try_into()
        .map_err(|_| damaged("the sealed key is not 32 bytes"))?;
    // The installation id names the key store entry: put it back if it was lost too.
    let id_path = installation_path(data_dir);
    if !id_path.exists() {
        write_private(&id_path, format!("{installation}\n").as_bytes()).map_err(|source| {
            KeyError::Io {
                path: id_path.clone(),
                source,
            }
        })?;
    }
    let key_file = key_path(data_dir);
    let system = match choice {
        KeyStore::File => Err("chosen with --key-store file".to_string()),
        KeyStore::System => system::entry(&installation),
    };
    match system.and_then(|e| e.put(&master)) {
        Ok(()) => Ok(KeyHome::System {
            store: system::NAME.into(),
        }),
        Err(why) => {
            write_key_file(&key_file, &master)?;
            Ok(KeyHome::File {
                path: key_file,
                why: format!("not in the OS key store: {why}"),
            })
        }
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The OS key store through `keyring`.
#[cfg(any(
    target_os = "linux",
    target_os = "macos",
    target_os = "ios",
    target_os = "windows"
))]
mod system {
    #[cfg(target_os = "linux")]
    pub const NAME: &str = "Secret Service key ring";
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    pub const NAME: &str = "Keychain";
    #[cfg(target_os = "windows")]
    pub const NAME: &str = "Windows Credential Manager";

    pub struct Entry(keyring::Entry);

    pub fn entry(installation: &str) -> Result<Entry, String> {
        // Without a session bus libdbus would try to autolaunch one (dbus-launch); refuse
        // instead, and say why.
        #[cfg(target_os = "linux")]
        if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
            return Err(
                "there is no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)".into(),
            );
        }
        keyring::Entry::new(super::SERVICE, &format!("device key {installation}"))
            .map(Entry)
            .map_err(|e| e.to_string())
    }

    impl Entry {
        pub fn get(&self) -> Result<Option<Vec<u8>>, String> {
            match self.0.get_secret() {
                Ok(s) => Ok(Some(s)),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(e.to_string()),
            }
        }

        /// Store the key and read it back: only a key the store gives back counts as kept.
        pub fn put(&self, key: &[u8; 32]) -> Result<(), String> {
            self.0.set_secret(key).map_err(|e| e.to_string())?;
            match self.get()? {
                Some(back) if back == key => Ok(()),
                _ => Err("the key store did not give the key back as stored".into()),
            }
        }
    }
}

/// Platforms whose key store is not wired yet (Android: see platforms/README.md).
#[cfg(not(any(
    target_os = "linux",
    target_os = "macos",
    target_os = "ios",
    target_os = "windows"
)))]
mod system {
    pub const NAME: &str = "platform key store";

    pub struct Entry;

    pub fn entry(_installation: &str) -> Result<Entry, String> {
        Err("the platform key store is not wired on this platform yet".into())
    }

    impl Entry {
        pub fn get(&self) -> Result<Option<Vec<u8>>, String> {
            Ok(None)
        }
        pub fn put(&self, _key: &[u8; 32]) -> Result<(), String> {
            Err("the platform key store is not wired on this platform yet".into())
        }
    }
}

fn parse(text: &str) -> Result<[u8; 32], String> {
    let body = text
        .strip_prefix(HEADER)
        .ok_or("it does not start with the key header")?
        .trim();
    if body.len() != 64 || !body.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("it does not hold 64 hexadecimal digits".into());
    }
    let mut key = [0u8; 32];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(&body[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(key)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Create a folder (and its parents) and make it the owner's only (0700 on Unix).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    restrict(dir, 0o700)
}

/// Make an existing file or folder the owner's only.
pub fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Create the database file (owner only) before SQLite opens it, so that SQLite's WAL and
/// shared-memory files, made with the main file's permissions, are owner-only too; tighten an
/// existing file and its companions.
pub fn prepare_database_file(path: &Path) -> std::io::Result<()> {
    let mut open = std::fs::OpenOptions::new();
    open.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    drop(open.open(path)?);
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        if p.exists() {
            restrict(&p, 0o600)?;
        }
    }
    Ok(())
}

/// Write a new file readable by the owner only, durably (temporary file, fsync, rename).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let mut f = open.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_key_is_never_replaced_and_comes_back_with_the_recovery_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let first = open(d, KeyStore::File, false).unwrap();
        assert!(matches!(first.home, KeyHome::File { .. }));
        assert!(matches!(
            set_recovery_passphrase(d, &first, "short"),
            Err(KeyError::WeakPassphrase)
        ));
        assert!(matches!(
            set_recovery_passphrase(d, &first, "aaaaaaaaaaaaaaaa"),
            Err(KeyError::WeakPassphrase)
        ));
        set_recovery_passphrase(d, &first, "correct horse battery").unwrap();
        let copy = std::fs::read_to_string(recovery_path(d)).unwrap();
        assert!(
            !copy.contains(&hex(&first.master)),
            "the copy holds the key in clear"
        );

        // The key file is lost; the record is there: no new key, the reason, the way back.
        std::fs::remove_file(key_path(d)).unwrap();
        let e = open(d, KeyStore::File, true).unwrap_err();
        assert!(matches!(e, KeyError::Missing { recovery: true, .. }), "{e}");
        assert!(e.to_string().contains("--recover-key"), "{e}");
        assert!(!key_path(d).exists(), "a new key was made over a record");

        let e = recover(d, KeyStore::File, "correct horse battery!").unwrap_err();
        assert!(matches!(e, KeyError::WrongPassphrase { .. }), "{e}");
        let home = recover(d, KeyStore::File, "correct horse battery").unwrap();
        assert!(matches!(home, KeyHome::File { .. }));
        let back = open(d, KeyStore::File, true).unwrap();
        assert_eq!(back.master, first.master);

        // The copy is bound to its installation: another id on its line fails the tag check.
        let moved = copy.replacen("installation ", "installation 0", 1);
        std::fs::write(recovery_path(d), moved).unwrap();
        let e = recover(d, KeyStore::File, "correct horse battery").unwrap_err();
        assert!(matches!(e, KeyError::WrongPassphrase { .. }), "{e}");
    }

    #[test]
    fn a_key_file_round_trips_and_a_damaged_one_is_named() {
        let key = [0xa5u8; 32];
        let text = format!("{HEADER}{}\n", hex(&key));
        assert_eq!(parse(&text).unwrap(), key);
        assert!(parse("nonsense").unwrap_err().contains("header"));
        assert!(parse(&format!("{HEADER}abc\n"))
            .unwrap_err()
            .contains("64 hexadecimal"));
        assert!(parse(&format!("{HEADER}{}\n", "zz".repeat(32)))
            .unwrap_err()
            .contains("64 hexadecimal"));
    }
}
