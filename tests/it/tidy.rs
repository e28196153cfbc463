//! The house's absences as a test (after rust-analyzer's tidy test): which module may name
//! which crate, what the UI may import, what the domain may not do, and that the record → FHIR
//! mapping decides every kind of entry. Comments and string literals are ignored, so a doc
//! comment saying "no rusqlite here" is not a violation.

use std::path::{Path, PathBuf};

/// One rule: in files `applies` selects (by path relative to the crate root, `/`-separated),
/// none of `forbidden` may appear in code (before the first `#[cfg(test)]` when `non_test`).
struct Rule {
    name: &'static str,
    applies: fn(&str) -> bool,
    forbidden: &'static [&'static str],
    non_test: bool,
}

const RULES: &[Rule] = &[
    Rule {
        name: "rusqlite only under src/store/",
        applies: |p| !p.starts_with("src/store/"),
        forbidden: &["rusqlite"],
        non_test: false,
    },
    Rule {
        name: "btleplug only in the devices link and adapter files (ble.rs, android.rs)",
        applies: |p| p != "src/devices/ble.rs" && p != "src/devices/android.rs",
        forbidden: &["btleplug"],
        non_test: false,
    },
    Rule {
        name: "reqwest only in sync's transport and auth (engine.rs, auth.rs)",
        applies: |p| p != "src/sync/engine.rs" && p != "src/sync/auth.rs",
        forbidden: &["reqwest"],
        non_test: false,
    },
    Rule {
        name: "ui imports nothing from store, sync or devices and never holds the store",
        applies: |p| p.starts_with("src/ui/"),
        forbidden: &[
            "crate::store",
            "crate::sync",
            "crate::devices",
            "pumpside::store",
            "pumpside::sync",
            "pumpside::devices",
            ".store()",
            ".devices()",
        ],
        non_test: false,
    },
    Rule {
        name: "every clinical write goes through the case session (app/case.rs)",
        applies: |p| !p.starts_with("src/store/") && p != "src/app/case.rs",
        forbidden: &[".append_entry(", ".append_entries(", ".set_status("],
        non_test: true,
    },
    Rule {
        name: "domain does no I/O and reads no clock outside tests",
        applies: |p| p.starts_with("src/domain/"),
        forbidden: &[
            "tokio",
            "std::fs",
            "Utc::now()",
            "dioxus",
            "rusqlite",
            "btleplug",
            "reqwest",
        ],
        non_test: true,
    },
];

/// The source with comments, string and char literals blanked out (newlines kept).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == b'/' && next == Some(b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && next == Some(b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c == b'r' && (next == Some(b'"') || next == Some(b'#')) && {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            while b.get(j) == Some(&b'#') {
                j += 1;
            }
            b.get(j) == Some(&b'"') && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
        } {
            let mut hashes = 0;
            i += 1;
            while b[i] == b'#' {
                hashes += 1;
                i += 1;
            }
            i += 1;
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            while i < b.len() && !b[i..].starts_with(&close) {
                if b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += close.len();
            out.push_str("\"\"");
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if b.get(i) == Some(&b'\n') {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' && {
            // A char literal ('x', '\n', '"'), not a lifetime.
            (b.get(i + 2) == Some(&b'\'') && next != Some(b'\\'))
                || (next == Some(b'\\') && b[i + 2..].iter().take(10).any(|&x| x == b'\''))
        } {
            i += 1;
            if b[i] == b'\\' {
                i += 1;
            }
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            // Copy one UTF-8 character whole.
            let len = match c {
                0x00..=0x7F => 1,
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            out.push_str(std::str::from_utf8(&b[i..(i + len).min(b.len())]).unwrap_or(" "));
            i += len;
        }
    }
    out
}

fn rust_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every violation under `root`: "rule: file:line: token".
fn violations(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for file in rust_files(root) {
        let rel = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let src = std::fs::read_to_string(&file).unwrap();
        let code = code_only(&src);
        for rule in RULES.iter().filter(|r| (r.applies)(&rel)) {
            let scope = if rule.non_test {
                code.split("#[cfg(test)]").next().unwrap_or("")
            } else {
                code.as_str()
            };
            for (n, line) in scope.lines().enumerate() {
                for token in rule.forbidden {
                    if line.contains(token) {
                        out.push(format!("{}: {rel}:{}: {token}", rule.name, n + 1));
                    }
                }
            }
        }
    }
    // The record → FHIR mapping decides every kind of entry: no catch-all arm.
    let map = root.join("src/sync/map.rs");
    if let Ok(src) = std::fs::read_to_string(&map) {
        let code = code_only(&src);
        if let Some(start) = code.find("pub fn map_entry(") {
            let body = &code[start..];
            let end = body.find("\n}\n").unwrap_or(body.len());
            if body[..end].contains("_ =>") {
                out.push(
                    "no `_ =>` arm in the record → FHIR entry mapping: src/sync/map.rs".into(),
                );
            }
        } else {
            out.push("src/sync/map.rs has no map_entry".into());
        }
    }
    out
}

#[test]
fn the_houses_absences_hold() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let v = violations(root);
    assert!(v.is_empty(), "tidy:\n{}", v.join("\n"));
}

/// The checker itself fails on a broken rule (and not on a comment or a string).
#[test]
fn tidy_catches_a_deliberately_broken_rule() {
    let dir = crate::temp_dir();
    let root = dir.path();
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "src/ui/bad.rs",
        "use crate::store::Store;\nfn f(s: &Services) { let _ = s.store(); }\n",
    );
    write(
        "src/domain/clock.rs",
        "// Utc::now() is mentioned here only\nfn f() -> i64 { Utc::now().timestamp() }\n#[cfg(test)]\nmod tests { fn g() { let _ = Utc::now(); } }\n",
    );
    write(
        "src/app/fine.rs",
        "/// not rusqlite: a comment\nconst S: &str = \"btleplug and reqwest in a string\";\nconst C: char = '\"';\nfn f() { let _ = crate::store::Store::open; }\n",
    );
    write("src/devices/session.rs", "use btleplug::api::Peripheral;\n");
    write(
        "src/app/services.rs",
        "async fn f(s: &Store) { s.append_entry(e).await; }\n",
    );
    write(
        "src/sync/map.rs",
        "pub fn map_entry(p: &P) -> R {\n    match p {\n        P::A => a(),\n        _ => b(),\n    }\n}\n",
    );
    let mut v = violations(root);
    v.sort();
    let want = [
        "btleplug only in the devices link and adapter files (ble.rs, android.rs): src/devices/session.rs:1: btleplug",
        "domain does no I/O and reads no clock outside tests: src/domain/clock.rs:2: Utc::now()",
        "every clinical write goes through the case session (app/case.rs): src/app/services.rs:1: .append_entry(",
        "no `_ =>` arm in the record → FHIR entry mapping: src/sync/map.rs",
        "ui imports nothing from store, sync or devices and never holds the store: src/ui/bad.rs:1: crate::store",
        "ui imports nothing from store, sync or devices and never holds the store: src/ui/bad.rs:2: .store()",
    ];
    assert_eq!(v, want);
}
