//! The device's master key and the data folder's permissions.
//!
//! The master key (32 random bytes) is what the record's seals are keyed with (through
//! [`StoreKeys::derive`]). It is made on first start and kept in `keys/device.key` under the data
//! folder, readable by the owner only (folder 0700, file 0600), never logged or shown. A
//! database whose key check does not match the key refuses to open (`StoreError::WrongKey`)
//! rather than report every seal as broken.
//!
//! Where this is going (issue 18): the key moves into the OS key store (Secret Service through
//! the `keyring` crate on desktop; Android Keystore; iOS Keychain) with a copy wrapped by the
//! administrator's recovery passphrase, and also becomes the database's encryption key.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::store::StoreKeys;

/// Why the device key cannot be read or made.
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
         device's keys, or the record's seals cannot be checked"
    )]
    Damaged { path: PathBuf, why: String },
}

const HEADER: &str = "pumpside-device-key-v1\n";

/// Where the key file is.
pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("device.key")
}

/// Read the device key, or make one on the first start (there is no record to check yet).
pub fn load_or_create(data_dir: &Path) -> Result<StoreKeys, KeyError> {
    let path = key_path(data_dir);
    let io = |source| KeyError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text)
            .map(|k| StoreKeys::derive(&k))
            .map_err(|why| KeyError::Damaged {
                path: path.clone(),
                why,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = path.parent().unwrap_or(data_dir);
            create_private_dir(dir).map_err(io)?;
            let mut key = [0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key).map_err(
                |_| {
                    io(std::io::Error::other(
                        "the system's random number generator failed",
                    ))
                },
            )?;
            write_private(&path, format!("{HEADER}{}\n", hex(&key)).as_bytes()).map_err(io)?;
            tracing::info!("made this device's key");
            Ok(StoreKeys::derive(&key))
        }
        Err(e) => Err(io(e)),
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
