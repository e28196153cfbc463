//! Keyed seals over every append-only table of the record, and the checks that read them.
//!
//! The triggers (migrations) refuse UPDATE and DELETE, and generated BEFORE INSERT guards refuse
//! an insert that would replace a row (`REPLACE INTO`, `INSERT OR REPLACE`, an UPSERT). Someone
//! with the file can still drop a trigger and edit a row, and an unkeyed hash chain can simply be
//! recomputed. So every transaction that appends rows ends by sealing them: per table and scope
//! (a case, or a table-wide scope), one seal row holds the rowid range it covers, how many rows,
//! and `HMAC-SHA256(key, previous seal of the scope ‖ table ‖ scope ‖ range ‖ count ‖ SHA-256 of
//! the rows' canonical bytes)`. The key is the device's (from the key store, `crate::keys`), so
//! an edit with a recomputed chain does not verify. Verifying recomputes every seal; a row
//! changed, removed or added outside Pumpside, a seal removed, or a trigger dropped becomes a
//! [`Finding`] that is kept in the audit table and shown, never repaired silently.
//!
//! Level-0 telemetry chunks are merged into level-1 chunks and deleted (migrations, store
//! telemetry): each is sealed on its own in the `chunk0` scope and its seal goes with it; the
//! level-1 chunk that replaces them is sealed in its case's scope.
//!
//! Seals cover rows by rowid. The record is never `VACUUM`ed (that may renumber the rowids of
//! `patients` and `cases`, which have text keys); a copy must keep rowids.

use std::sync::OnceLock;

use chrono::Utc;
use ring::hmac;
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};

use super::StoreError;
use crate::domain::CaseId;

/// The store's secrets, derived from the device's master key: the seal (HMAC) key and the
/// database encryption (SQLCipher) key. Never logged.
#[derive(Clone)]
pub struct StoreKeys {
    seal: [u8; 32],
    /// `None` only for the benchmark's unencrypted comparison ([`StoreKeys::unencrypted`]).
    pub(super) cipher: Option<[u8; 32]>,
}

impl std::fmt::Debug for StoreKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKeys(..)")
    }
}

impl StoreKeys {
    /// Derive the store's keys from the device's 32-byte master key (HKDF-SHA256, one label per
    /// use, so the seal key is never the key of anything else).
    pub fn derive(master: &[u8; 32]) -> Self {
        let prk =
            ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"pumpside-store-v1").extract(master);
        let expand = |label: &[u8]| {
            let mut out = [0u8; 32];
            let info = [label];
            // HKDF-SHA256 expands up to 255 × 32 bytes; 32 always fits.
            if let Ok(okm) = prk.expand(&info, Len32) {
                let _ = okm.fill(&mut out);
            }
            out
        };
        Self {
            seal: expand(b"seal-hmac-sha256"),
            cipher: Some(expand(b"sqlcipher-raw-key")),
        }
    }

    /// The same seal key with no database encryption: only for measuring what encryption costs
    /// (`benches/record.rs`). Pumpside itself never opens a database this way.
    #[doc(hidden)]
    pub fn unencrypted(master: &[u8; 32]) -> Self {
        Self {
            cipher: None,
            ..Self::derive(master)
        }
    }

    /// The SQLCipher statement that opens the database with these keys (a raw 256-bit key, no
    /// passphrase derivation), for a tool run by someone who holds the device key (tests, an
    /// administrator's recovery with the `sqlcipher` shell). `None` for an unencrypted store.
    pub fn sqlcipher_key_statement(&self) -> Option<String> {
        self.cipher.map(|k| {
            let hex: String = k.iter().map(|b| format!("{b:02x}")).collect();
            format!("PRAGMA key = \"x'{hex}'\";")
        })
    }

    /// Fresh random keys (an in-memory store that nothing reopens).
    pub fn random() -> Self {
        let mut master = [0u8; 32];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut master);
        Self::derive(&master)
    }

    /// What the database keeps to recognise its key (not the key, nor enough to find it).
    pub(super) fn check(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(hmac::sign(&self.hmac_key(), b"pumpside-key-check-v1").as_ref());
        out
    }

    fn hmac_key(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &self.seal)
    }
}

struct Len32;
impl ring::hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

/// One append-only table under seal: how a row's scope is named and which rows range seals
/// cover.
struct Sealed {
    table: &'static str,
    /// SQL giving a row's scope (evaluated on the table's row).
    scope: &'static str,
    /// Extra condition for rows under range seals (level-1 chunks only).
    filter: &'static str,
    /// The case a scope belongs to is `case:<id>`.
    what: &'static str,
}

const SEALED: &[Sealed] = &[
    Sealed {
        table: "patients",
        scope: "'patients'",
        filter: "1",
        what: "patient",
    },
    Sealed {
        table: "patient_versions",
        scope: "'patients'",
        filter: "1",
        what: "patient demographics",
    },
    Sealed {
        table: "cases",
        scope: "'cases'",
        filter: "1",
        what: "case",
    },
    Sealed {
        table: "entries",
        scope: "'case:' || case_id",
        filter: "1",
        what: "timeline entry",
    },
    Sealed {
        table: "channels",
        scope: "'case:' || case_id",
        filter: "1",
        what: "telemetry channel",
    },
    Sealed {
        table: "telemetry_chunks",
        scope:
            "'case:' || (SELECT c.case_id FROM channels c WHERE c.num = telemetry_chunks.channel)",
        filter: "level = 1",
        what: "telemetry chunk",
    },
    Sealed {
        table: "device_frames",
        scope: "'case:' || case_id",
        filter: "1",
        what: "device notification",
    },
    Sealed {
        table: "checklist_templates",
        scope: "'templates'",
        filter: "1",
        what: "checklist template",
    },
    Sealed {
        table: "devices",
        scope: "'devices'",
        filter: "1",
        what: "device",
    },
    Sealed {
        table: "device_sessions",
        scope: "'devices'",
        filter: "1",
        what: "device connection",
    },
    Sealed {
        table: "audit",
        scope: "'audit'",
        filter: "1",
        what: "audit event",
    },
    Sealed {
        table: "users",
        scope: "'users'",
        filter: "1",
        what: "user",
    },
    Sealed {
        table: "remote_notes",
        scope: "'remote_notes'",
        filter: "1",
        what: "handover note for a followed run",
    },
];

/// The scope of level-0 telemetry chunks, each sealed alone (no chain) until it is merged.
const CHUNK0: &str = "chunk0";

/// Something the checks found that Pumpside did not write, or that was changed after it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The case it affects, when it is inside one case's record.
    pub case: Option<CaseId>,
    /// What it is, in words a reviewer reads ("timeline entry rows 12–14 of case …").
    pub what: String,
    /// What happened to it.
    pub how: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.how)
    }
}

/// The outcome of a verification: how much was checked and what was found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrityReport {
    pub seals: u64,
    pub rows: u64,
    pub findings: Vec<Finding>,
    /// The newest seal of the scope (a case's verification code), when one scope was checked.
    pub head: Option<[u8; 32]>,
    /// That seal's number, from which a later check may continue ([`Reach::CaseSince`]).
    pub head_seq: Option<i64>,
}

fn scope_case(scope: &str) -> Option<CaseId> {
    scope.strip_prefix("case:").and_then(|s| s.parse().ok())
}

fn spec(table: &str) -> Option<&'static Sealed> {
    SEALED.iter().find(|s| s.table == table)
}

/// SHA-256 over the canonical bytes of the rows of `table` with rowid in `first..=last` in
/// `scope` (and the table's filter): rowid, then each non-NULL column as name, type and value.
/// NULL columns are left out so that a column added later (NULL in old rows) changes nothing.
fn digest_rows(
    conn: &Connection,
    s: &Sealed,
    scope: &str,
    first: i64,
    last: i64,
    level0: bool,
) -> Result<([u8; 32], u64), StoreError> {
    let filter = if level0 { "level = 0" } else { s.filter };
    let sql = format!(
        "SELECT rowid, * FROM {t} WHERE rowid BETWEEN ?1 AND ?2 AND ({scope_sql}) = ?3 AND {filter}
          ORDER BY rowid",
        t = s.table,
        scope_sql = if level0 { "'chunk0'" } else { s.scope },
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let names: Vec<String> = stmt.column_names().iter().map(|n| n.to_string()).collect();
    let mut rows = stmt.query(params![first, last, scope])?;
    let mut h = Sha256::new();
    let mut n = 0u64;
    while let Some(r) = rows.next()? {
        n += 1;
        h.update(b"row");
        h.update(r.get::<_, i64>(0)?.to_be_bytes());
        for (i, name) in names.iter().enumerate().skip(1) {
            let (tag, bytes): (u8, Vec<u8>) = match r.get_ref(i)? {
                ValueRef::Null => continue,
                ValueRef::Integer(v) => (b'i', v.to_be_bytes().to_vec()),
                ValueRef::Real(v) => (b'r', v.to_bits().to_be_bytes().to_vec()),
                ValueRef::Text(t) => (b't', t.to_vec()),
                ValueRef::Blob(b) => (b'b', b.to_vec()),
            };
            h.update((name.len() as u32).to_be_bytes());
            h.update(name.as_bytes());
            h.update([tag]);
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(&bytes);
        }
    }
    Ok((h.finalize().into(), n))
}

#[allow(clippy::too_many_arguments)]
fn mac(
    key: &hmac::Key,
    prev: &[u8; 32],
    table: &str,
    scope: &str,
    first: i64,
    last: i64,
    n: u64,
    digest: &[u8; 32],
) -> [u8; 32] {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(b"pumpside-seal-v1\0");
    ctx.update(prev);
    ctx.update(table.as_bytes());
    ctx.update(b"\0");
    ctx.update(scope.as_bytes());
    ctx.update(b"\0");
    ctx.update(&first.to_be_bytes());
    ctx.update(&last.to_be_bytes());
    ctx.update(&n.to_be_bytes());
    ctx.update(digest);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

fn prev_mac(conn: &Connection, scope: &str) -> Result<[u8; 32], StoreError> {
    if scope == CHUNK0 {
        return Ok([0u8; 32]);
    }
    let v: Option<Vec<u8>> = conn
        .prepare_cached("SELECT mac FROM seals WHERE scope = ?1 ORDER BY seq DESC LIMIT 1")?
        .query_row([scope], |r| r.get(0))
        .optional()?;
    match v {
        None => Ok([0u8; 32]),
        Some(v) => v
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("a seal of {scope} is not 32 bytes"))),
    }
}

fn last_sealed(conn: &Connection, table: &str) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT coalesce(max(last_row), 0) FROM seals WHERE tbl = ?1")?
        .query_row([table], |r| r.get(0))?)
}

fn write_seal(
    conn: &Connection,
    key: &hmac::Key,
    s: &Sealed,
    scope: &str,
    first: i64,
    last: i64,
    level0: bool,
) -> Result<(), StoreError> {
    let (digest, n) = digest_rows(conn, s, scope, first, last, level0)?;
    let prev = prev_mac(conn, scope)?;
    let m = mac(key, &prev, s.table, scope, first, last, n, &digest);
    conn.prepare_cached(
        "INSERT INTO seals (tbl, scope, first_row, last_row, n, at_us, mac)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        s.table,
        scope,
        first,
        last,
        n as i64,
        Utc::now().timestamp_micros(),
        m.as_slice()
    ])?;
    Ok(())
}

/// Seal every row appended since the last seal, per table and scope. Called inside the write's
/// transaction (see [`commit`]), so a row and its seal commit together or not at all.
pub(super) fn seal_new(conn: &Connection, keys: &StoreKeys) -> Result<(), StoreError> {
    seal_tables(conn, keys, |_| true)
}

/// [`seal_new`] over the sealed tables `include` names (a migration seals the tables that exist
/// at its version).
pub(super) fn seal_tables(
    conn: &Connection,
    keys: &StoreKeys,
    include: impl Fn(&str) -> bool,
) -> Result<(), StoreError> {
    let key = keys.hmac_key();
    for s in SEALED.iter().filter(|s| include(s.table)) {
        let after = last_sealed(conn, s.table)?;
        let max: Option<i64> = conn
            .prepare_cached(&format!("SELECT max(rowid) FROM {}", s.table))?
            .query_row([], |r| r.get(0))?;
        let Some(last) = max.filter(|m| *m > after) else {
            continue;
        };
        let first = after + 1;
        let scopes: Vec<String> = {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT DISTINCT {scope} FROM {t} WHERE rowid BETWEEN ?1 AND ?2 AND {filter}",
                scope = s.scope,
                t = s.table,
                filter = s.filter
            ))?;
            let rows = stmt.query_map(params![first, last], |r| r.get::<_, Option<String>>(0))?;
            rows.collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .map(|s| s.unwrap_or_else(|| "case:?".into()))
                .collect()
        };
        for scope in scopes {
            write_seal(conn, &key, s, &scope, first, last, false)?;
        }
        if s.table == "telemetry_chunks" {
            let ids: Vec<i64> = conn
                .prepare_cached(
                    "SELECT id FROM telemetry_chunks WHERE id BETWEEN ?1 AND ?2 AND level = 0",
                )?
                .query_map(params![first, last], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for id in ids {
                write_seal(conn, &key, s, CHUNK0, id, id, true)?;
            }
        }
    }
    Ok(())
}

/// Whether `keys` are the ones this database was sealed with (`None`: no key check yet, a
/// database from before seals). Reads only.
pub(super) fn key_matches(conn: &Connection, keys: &StoreKeys) -> Result<Option<bool>, StoreError> {
    let has_table: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'key_check')",
        [],
        |r| r.get(0),
    )?;
    if !has_table {
        return Ok(None);
    }
    let stored: Option<Vec<u8>> = conn
        .query_row("SELECT mac FROM key_check WHERE id = 1", [], |r| r.get(0))
        .optional()?;
    Ok(stored.map(|m| m.as_slice() == keys.check()))
}

/// Seal what the transaction appended, then commit it.
pub(super) fn commit(tx: Transaction<'_>, keys: &StoreKeys) -> Result<(), StoreError> {
    seal_new(&tx, keys)?;
    tx.commit()?;
    Ok(())
}

/// Remove the seals of level-0 chunks that a merge deleted (the seals table allows exactly this).
pub(super) fn drop_chunk0_seals(conn: &Connection, ids: &[i64]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "DELETE FROM seals WHERE tbl = 'telemetry_chunks' AND scope = 'chunk0' AND first_row = ?1",
    )?;
    for id in ids {
        stmt.execute([id])?;
    }
    Ok(())
}

/// Which seals to verify.
#[derive(Debug, Clone, Copy)]
pub(super) enum Reach {
    Everything,
    Case(CaseId),
    /// A case's seals newer than one already verified (seal number and its MAC), and rows
    /// appended after the newest seal: cheap, for the checks before each upload.
    CaseSince(CaseId, i64, [u8; 32]),
}

/// Recompute seals and look for rows no seal covers. Read-only.
pub(super) fn verify(
    conn: &Connection,
    keys: &StoreKeys,
    reach: Reach,
) -> Result<IntegrityReport, StoreError> {
    let key = keys.hmac_key();
    let mut report = IntegrityReport::default();
    let (case_scope, since) = match reach {
        Reach::Case(c) => (Some(format!("case:{c}")), None),
        Reach::CaseSince(c, seq, mac) => (Some(format!("case:{c}")), Some((seq, mac))),
        Reach::Everything => (None, None),
    };
    let mut stmt = conn.prepare_cached(
        "SELECT seq, tbl, scope, first_row, last_row, n, mac FROM seals
          WHERE (?1 IS NULL OR scope = ?1) AND seq > ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![&case_scope, since.map(|s| s.0).unwrap_or(0)])?;
    let mut prev: std::collections::HashMap<String, [u8; 32]> = Default::default();
    if let (Some(scope), Some((seq, mac))) = (&case_scope, since) {
        prev.insert(scope.clone(), mac);
        report.head_seq = Some(seq);
    }
    while let Some(r) = rows.next()? {
        let table: String = r.get(1)?;
        let scope: String = r.get(2)?;
        let first: i64 = r.get(3)?;
        let last: i64 = r.get(4)?;
        let n: i64 = r.get(5)?;
        let stored: Vec<u8> = r.get(6)?;
        report.seals += 1;
        let range = describe_range(conn, &table, &scope, first, last)?;
        let Some(s) = spec(&table) else {
            report.findings.push(Finding {
                case: scope_case(&scope),
                what: format!("a seal over table {table:?}"),
                how: "names a table Pumpside does not seal (added outside Pumpside)".into(),
            });
            continue;
        };
        let level0 = scope == CHUNK0;
        let p = if level0 {
            [0u8; 32]
        } else {
            prev.get(&scope).copied().unwrap_or([0u8; 32])
        };
        let (digest, count) = digest_rows(conn, s, &scope, first, last, level0)?;
        report.rows += count;
        let expect = mac(
            &key,
            &p,
            s.table,
            &scope,
            first,
            last,
            n.max(0) as u64,
            &digest,
        );
        let what = || format!("{} {range}{}", s.what, in_case(&scope));
        if count != n.max(0) as u64 {
            report.findings.push(Finding {
                case: scope_case(&scope),
                what: what(),
                how: format!(
                    "sealed with {n} rows, {count} found (rows removed or added outside Pumpside)"
                ),
            });
        } else if stored.as_slice() != expect {
            report.findings.push(Finding {
                case: scope_case(&scope),
                what: what(),
                how: "does not match its seal (changed outside Pumpside, or an earlier seal of the same record was removed)".into(),
            });
        }
        if let Ok(m) = <[u8; 32]>::try_from(stored.as_slice()) {
            if !level0 {
                prev.insert(scope.clone(), m);
                if case_scope.as_deref() == Some(scope.as_str()) {
                    report.head_seq = Some(r.get(0)?);
                }
            }
        }
    }
    drop(rows);
    drop(stmt);
    report.head = case_scope.as_ref().and_then(|s| prev.get(s).copied());
    match reach {
        Reach::CaseSince(..) => report.findings.extend(unsealed_tail(conn)?),
        _ => report.findings.extend(unsealed(conn, reach)?),
    }
    Ok(report)
}

/// A sealed range as a reviewer reads it: timeline entries by their number in the case (what
/// the review screen shows), other rows by row number.
fn describe_range(
    conn: &Connection,
    table: &str,
    scope: &str,
    first: i64,
    last: i64,
) -> Result<String, StoreError> {
    let numbered: Option<(i64, i64)> = if table == "entries" {
        conn.prepare_cached(
            "SELECT min(case_seq), max(case_seq) FROM entries
              WHERE seq BETWEEN ?1 AND ?2 AND 'case:' || case_id = ?3",
        )?
        .query_row(params![first, last, scope], |r| {
            Ok(r.get::<_, Option<i64>>(0)?.zip(r.get::<_, Option<i64>>(1)?))
        })?
    } else {
        None
    };
    Ok(match numbered {
        Some((a, b)) if a == b => format!("number {a}"),
        Some((a, b)) => format!("numbers {a}–{b}"),
        None if first == last => format!("row {first}"),
        None => format!("rows {first}–{last}"),
    })
}

fn in_case(scope: &str) -> String {
    match scope_case(scope) {
        Some(c) => format!(" of case {c}"),
        None => String::new(),
    }
}

/// Rows that no seal of their scope covers: added outside Pumpside.
fn unsealed(conn: &Connection, reach: Reach) -> Result<Vec<Finding>, StoreError> {
    let mut out = Vec::new();
    for s in SEALED {
        let scope = s.scope.replace(&format!("{}.", s.table), "t.");
        let case_only = match reach {
            Reach::Case(_) | Reach::CaseSince(..) if !s.scope.starts_with("'case:'") => continue,
            Reach::Case(c) | Reach::CaseSince(c, ..) => format!("({scope}) = 'case:{c}'"),
            Reach::Everything => "1".into(),
        };
        let level = if s.table == "telemetry_chunks" {
            // A level-0 chunk is covered by its own seal in the chunk0 scope.
            "AND NOT (level = 0 AND EXISTS (SELECT 1 FROM seals z WHERE z.tbl = 'telemetry_chunks'
                       AND z.scope = 'chunk0' AND z.first_row = t.rowid))"
        } else {
            ""
        };
        let sql = format!(
            "SELECT count(*), min(t.rowid), max(t.rowid), min({scope}) FROM {table} t
              WHERE {case_only} {level} AND NOT EXISTS (
                SELECT 1 FROM seals s WHERE s.tbl = '{table}' AND s.scope = ({scope})
                   AND t.rowid BETWEEN s.first_row AND s.last_row)",
            table = s.table,
        );
        let (n, lo, hi, scope): (i64, Option<i64>, Option<i64>, Option<String>) = conn
            .prepare_cached(&sql)?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        if n > 0 {
            let scope = scope.unwrap_or_default();
            out.push(Finding {
                case: scope_case(&scope),
                what: format!(
                    "{n} {} row(s) between {} and {}{}",
                    s.what,
                    lo.unwrap_or_default(),
                    hi.unwrap_or_default(),
                    in_case(&scope)
                ),
                how: "not sealed by Pumpside (added outside Pumpside)".into(),
            });
        }
    }
    Ok(out)
}

/// Rows appended after the newest seal of their table: added while Pumpside was not writing.
/// Cheap (one indexed lookup per table), so it runs at every open before anything is written.
pub(super) fn unsealed_tail(conn: &Connection) -> Result<Vec<Finding>, StoreError> {
    let mut out = Vec::new();
    for s in SEALED {
        let after = last_sealed(conn, s.table)?;
        let (n, lo, hi): (i64, Option<i64>, Option<i64>) = conn
            .prepare_cached(&format!(
                "SELECT count(*), min(rowid), max(rowid) FROM {} WHERE rowid > ?1",
                s.table
            ))?
            .query_row([after], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        if n > 0 {
            out.push(Finding {
                case: None,
                what: format!(
                    "{n} {} row(s), rows {}–{}",
                    s.what,
                    lo.unwrap_or_default(),
                    hi.unwrap_or_default()
                ),
                how: "added after Pumpside last wrote (outside Pumpside)".into(),
            });
        }
    }
    Ok(out)
}

/// The tables whose triggers forbid rewriting rows; each also gets a guard against inserts that
/// would replace a row (the tables of migration 9; later migrations guard their own).
pub(super) const GUARDED: &[&str] = &[
    "patients",
    "patient_versions",
    "cases",
    "entries",
    "channels",
    "telemetry_chunks",
    "device_frames",
    "checklist_templates",
    "devices",
    "device_sessions",
    "audit",
    "seals",
    "key_check",
];

/// Generate the BEFORE INSERT guards: an insert whose rowid or any unique key is already taken
/// is refused before SQLite's conflict handling could delete the old row (REPLACE, INSERT OR
/// REPLACE) or update it (UPSERT). Derived from the schema so a new unique key is covered.
pub(super) fn create_guards(conn: &Connection, tables: &[&str]) -> Result<(), StoreError> {
    for t in tables {
        let mut conds = vec![format!(
            "EXISTS (SELECT 1 FROM {t} WHERE rowid = NEW.rowid)"
        )];
        let indexes: Vec<(String, bool)> = conn
            .prepare(&format!("PRAGMA index_list({t})"))?
            .query_map([], |r| {
                Ok((r.get::<_, String>(1)?, r.get::<_, i64>(2)? == 1))
            })?
            .collect::<Result<_, _>>()?;
        for (idx, unique) in indexes {
            if !unique {
                continue;
            }
            let cols: Vec<String> = conn
                .prepare(&format!("PRAGMA index_info({idx})"))?
                .query_map([], |r| r.get::<_, String>(2))?
                .collect::<Result<_, _>>()?;
            let eq = cols
                .iter()
                .map(|c| format!("{c} = NEW.{c}"))
                .collect::<Vec<_>>()
                .join(" AND ");
            conds.push(format!("EXISTS (SELECT 1 FROM {t} WHERE {eq})"));
        }
        conn.execute_batch(&format!(
            "CREATE TRIGGER {t}_no_replace BEFORE INSERT ON {t} WHEN {}
                BEGIN SELECT RAISE(ABORT, '{t} rows are append-only: an insert may not replace one'); END;",
            conds.join(" OR ")
        ))?;
    }
    Ok(())
}

/// The triggers a database of this build has, by name with their SQL: the migrations applied to
/// an empty in-memory database, computed once.
fn expected_triggers() -> &'static Vec<(String, String)> {
    static EXPECTED: OnceLock<Vec<(String, String)>> = OnceLock::new();
    EXPECTED.get_or_init(|| {
        let build = || -> Result<Vec<(String, String)>, StoreError> {
            let mut conn = Connection::open_in_memory()?;
            super::migrations::migrate(&mut conn, &StoreKeys::random())?;
            triggers(&conn)
        };
        build().unwrap_or_default()
    })
}

fn triggers(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    Ok(conn
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?)
}

/// Compare the file's triggers with this build's: a missing or changed one is restored and
/// reported; an unknown one is removed and reported. Runs at every open.
pub(super) fn check_triggers(conn: &Connection) -> Result<Vec<Finding>, StoreError> {
    let expected = expected_triggers();
    if expected.is_empty() {
        return Err(StoreError::Corrupt(
            "cannot build the reference schema to check the database's protections".into(),
        ));
    }
    let found = triggers(conn)?;
    let mut out = Vec::new();
    for (name, sql) in expected {
        match found.iter().find(|(n, _)| n == name) {
            Some((_, s)) if s == sql => {}
            Some(_) => {
                conn.execute_batch(&format!("DROP TRIGGER {name}; {sql};"))?;
                out.push(Finding {
                    case: None,
                    what: format!("the protection {name}"),
                    how: "was changed outside Pumpside; restored".into(),
                });
            }
            None => {
                conn.execute_batch(&format!("{sql};"))?;
                out.push(Finding {
                    case: None,
                    what: format!("the protection {name}"),
                    how: "was removed outside Pumpside; restored".into(),
                });
            }
        }
    }
    for (name, _) in found
        .iter()
        .filter(|(n, _)| !expected.iter().any(|(e, _)| e == n))
    {
        conn.execute_batch(&format!("DROP TRIGGER {name};"))?;
        out.push(Finding {
            case: None,
            what: format!("the trigger {name}"),
            how: "was added outside Pumpside; removed".into(),
        });
    }
    Ok(out)
}

/// Keep findings in the audit table (sealed like every other row), once per distinct finding.
pub(super) fn record_findings(
    tx: &Transaction<'_>,
    findings: &[Finding],
) -> Result<usize, StoreError> {
    let mut added = 0;
    for f in findings {
        let detail = f.to_string();
        let known: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM audit WHERE kind = 'integrity' AND detail = ?1)",
            )?
            .query_row([&detail], |r| r.get(0))?;
        if known {
            continue;
        }
        tx.prepare_cached(
            "INSERT INTO audit (at_us, kind, case_id, detail, by_user, on_device)
             VALUES (?1, 'integrity', ?2, ?3, 'Pumpside integrity check', 'this device')",
        )?
        .execute(params![
            Utc::now().timestamp_micros(),
            f.case.map(|c| c.to_string()),
            detail
        ])?;
        added += 1;
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrations::{migrate, MIGRATIONS};

    /// A database from before seals (schema 8) with rows in it: migration 9 seals what is there,
    /// except that an entry chain already broken is recorded as a finding, not sealed over
    /// silently.
    #[test]
    fn a_database_from_before_seals_is_sealed_and_an_already_broken_chain_is_reported() {
        let mut conn = Connection::open_in_memory().unwrap();
        for m in MIGRATIONS.iter().filter(|m| m.version <= 8) {
            conn.execute_batch(m.sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 8).unwrap();
        let (good, bad) = (CaseId::new(), CaseId::new());
        for c in [good, bad] {
            conn.execute(
                "INSERT INTO cases VALUES (?1, NULL, 'cpb', 'CABG', 0, 0, 'a', 'd')",
                [c.to_string()],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO device_frames (case_id, device, characteristic, received_us, raw)
                 VALUES (?1, 'pump', '2a37', 1, x'01')",
                [c.to_string()],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO entries (id, case_id, case_seq, kind, occurred_us, recorded_us, by_user,
                                  on_device, payload, prev_hash, hash)
             VALUES ('e1', ?1, 1, 'status', 0, 0, '\"a\"', '\"d\"', '{}', zeroblob(32), zeroblob(32))",
            [bad.to_string()],
        )
        .unwrap();
        let keys = StoreKeys::derive(&[3u8; 32]);
        migrate(&mut conn, &keys).unwrap();

        let report = verify(&conn, &keys, Reach::Everything).unwrap();
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        assert_eq!(
            report.rows, 6,
            "two cases, two frames, one entry and the audit row of the finding under seal"
        );
        let audit: Vec<(Option<String>, String)> = conn
            .prepare("SELECT case_id, detail FROM audit")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(audit.len(), 1, "{audit:?}");
        assert_eq!(audit[0].0, Some(bad.to_string()));
        assert!(audit[0].1.contains("already altered before it was sealed"));
        assert_eq!(key_matches(&conn, &keys).unwrap(), Some(true));
        assert_eq!(
            key_matches(&conn, &StoreKeys::derive(&[4u8; 32])).unwrap(),
            Some(false)
        );
    }

    /// The generated guards cover every unique key of a guarded table, whatever its name.
    #[test]
    fn every_guarded_table_has_a_replace_guard_naming_its_unique_keys() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, &StoreKeys::random()).unwrap();
        for t in GUARDED.iter().chain(&["users", "remote_notes"]) {
            let sql: String = conn
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
                    [format!("{t}_no_replace")],
                    |r| r.get(0),
                )
                .unwrap_or_else(|_| panic!("{t} has no replace guard"));
            assert!(sql.contains("rowid = NEW.rowid"), "{sql}");
        }
        let patients: String = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'patients_no_replace'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            patients.contains("mrn_system = NEW.mrn_system AND mrn_value = NEW.mrn_value")
                && patients.contains("id = NEW.id"),
            "{patients}"
        );
    }
}
