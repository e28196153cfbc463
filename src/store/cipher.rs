//! Encryption at rest: the database file is SQLCipher (AES-256-CBC pages, each with an
//! HMAC-SHA512; rusqlite's `bundled-sqlcipher`), keyed with a raw 256-bit key derived from the
//! device's master key, so opening costs no passphrase derivation. A file written before
//! encryption (plain SQLite) is converted once, at its first open by this build: exported into
//! an encrypted copy, the copy checked (same rows in every table, every seal sound, SQLite's own
//! integrity check), and only then renamed over the original. A wrong key is found by the first
//! read, before anything is written, and the file is left byte for byte as it was.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::seal::{self, StoreKeys};
use super::StoreError;

/// What a plain SQLite file starts with (an encrypted one starts with random salt).
const PLAIN_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Whether the file at `path` is a plain (unencrypted) SQLite database.
pub(super) fn is_plaintext(path: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut head = [0u8; 16];
    match f.read_exact(&mut head) {
        Ok(()) => Ok(&head == PLAIN_HEADER),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// Give a fresh connection its key and prove it fits with a first read. Nothing is written:
/// with a wrong key SQLCipher cannot decrypt page 1 and says "file is not a database".
pub(super) fn unlock(conn: &Connection, keys: &StoreKeys, path: &Path) -> Result<(), StoreError> {
    if let Some(stmt) = keys.sqlcipher_key_statement() {
        // SQLCipher would also print its own "hmac check failed" lines to stderr for a wrong
        // key; the error below says it in words, so its log stays quiet.
        conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
        conn.execute_batch(&stmt)?;
    }
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            Err(StoreError::WrongKey {
                path: path.display().to_string(),
            })
        }
        Err(e) => Err(e.into()),
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("encrypting {}: {e}", path.display()))
}

/// Every table's row count, the measure of "every record kept".
fn row_counts(conn: &Connection, schema: &str) -> Result<Vec<(String, i64)>, StoreError> {
    let names: Vec<String> = conn
        .prepare(&format!(
            "SELECT name FROM {schema}.sqlite_master WHERE type = 'table' ORDER BY name"
        ))?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let c: i64 =
            conn.query_row(&format!("SELECT count(*) FROM {schema}.\"{n}\""), [], |r| {
                r.get(0)
            })?;
        out.push((n, c));
    }
    Ok(out)
}

/// Convert a plain database into an encrypted one in place, keeping every row. The schema is
/// brought up to date (and sealed) first; the encrypted copy replaces the original only after
/// it has been checked. On any failure the original is untouched and the copy removed.
pub(super) fn encrypt_plaintext(path: &Path, keys: &StoreKeys) -> Result<(), StoreError> {
    let Some(key_stmt) = keys.sqlcipher_key_statement() else {
        return Ok(());
    };
    let key_expr = key_stmt
        .trim_start_matches("PRAGMA key = ")
        .trim_end_matches(';')
        .to_string();
    let tmp: PathBuf = {
        let mut p = path.as_os_str().to_owned();
        p.push(".encrypting");
        p.into()
    };
    let _ = std::fs::remove_file(&tmp);
    let result = (|| -> Result<(), StoreError> {
        let mut conn = Connection::open(path)?;
        super::migrations::migrate(&mut conn, keys)?;
        let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let before = row_counts(&conn, "main")?;
        conn.execute(
            &format!("ATTACH DATABASE ?1 AS encrypted KEY {key_expr}"),
            [tmp.to_string_lossy()],
        )?;
        conn.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))?;
        conn.execute_batch(&format!("PRAGMA encrypted.user_version = {version};"))?;
        let after = row_counts(&conn, "encrypted")?;
        conn.execute_batch("DETACH DATABASE encrypted;")?;
        drop(conn);
        if before != after {
            return Err(StoreError::Corrupt(format!(
                "the encrypted copy does not hold the same rows ({before:?} → {after:?})"
            )));
        }
        let copy = Connection::open(&tmp)?;
        unlock(&copy, keys, &tmp)?;
        let ok: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if ok != "ok" {
            return Err(StoreError::Corrupt(format!(
                "the encrypted copy fails SQLite's integrity check: {ok}"
            )));
        }
        let report = seal::verify(&copy, keys, seal::Reach::Everything)?;
        if !report.findings.is_empty() {
            return Err(StoreError::Corrupt(format!(
                "the encrypted copy does not verify against its seals: {}",
                report.findings[0]
            )));
        }
        drop(copy);
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io(path))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
                .map_err(io(path))?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(path))?;
    }
    tracing::info!("the database was encrypted; every row was kept and every seal verified");
    Ok(())
}
