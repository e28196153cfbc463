//! The loopback FHIR test peer for the benches (tests/peers/fhir), started per use and
//! stopped by PID when dropped. Included by the benches that need it (`#[path]`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct Peer(Child, pub u16);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn peer() -> Peer {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/fhir");
    let mut child = Command::new("node")
        .arg("server.mjs")
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("node: run scripts/setup.sh first");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("peer output");
    let port = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .expect("peer port");
    Peer(child, port)
}
