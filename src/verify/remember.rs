//! `verify.state`: what the last verify that found nothing wrong checked, so that the next one
//! re-hashes only the clips sealed since, and notices a log rewritten behind its back.
//!
//! The file names the last checkpoint that run checked (its line, the SHA-256 of that line's
//! bytes, its size and root) and the last sealed record whose clip it hashed. The next run
//! still reads every line and checks every size; it trusts the file only if that line is
//! still there with the same bytes (so a rewritten log is reported, not skipped), and
//! `verify --full` ignores it. It is verify's own note, never evidence: deleting it only
//! makes the next verify hash everything again.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::log::merkle::Hash;

const FILE: &str = "verify.state";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Remembered {
    pub version: u32,
    /// The line of the last checkpoint checked.
    pub line: u64,
    pub line_sha256: String,
    /// That checkpoint's tree size and root (hex).
    pub size: u64,
    pub root: String,
    /// Clips sealed at or before this line were hashed and matched.
    pub hashed_through: u64,
    pub verified_at: String,
}

impl Remembered {
    pub fn load(data_dir: &Path) -> Option<Remembered> {
        let r: Remembered =
            serde_json::from_slice(&std::fs::read(data_dir.join(FILE)).ok()?).ok()?;
        (r.version == 1).then_some(r)
    }

    /// Remembers a clean run (best effort: a read-only data dir just means no memory).
    pub fn save(data_dir: &Path, line: u64, size: u64, root: &Hash, hashed_through: u64) {
        let Some(line_sha256) = line_hash(data_dir, line) else {
            return;
        };
        let r = Remembered {
            version: 1,
            line,
            line_sha256,
            size,
            root: crate::digest::hex(root),
            hashed_through,
            verified_at: crate::clock::format_time(chrono::Local::now().fixed_offset()),
        };
        let Ok(bytes) = serde_json::to_vec_pretty(&r) else {
            return;
        };
        let tmp = data_dir.join(format!("{FILE}.tmp"));
        if std::fs::write(&tmp, bytes).is_ok() {
            let _ = std::fs::rename(&tmp, data_dir.join(FILE));
        }
    }
}

/// The SHA-256 of line `line` of the manifest (read through the line offsets when they
/// reach it, else by scanning).
fn line_hash(data_dir: &Path, line: u64) -> Option<String> {
    if let Ok(reader) = crate::log::reader::LogReader::open(data_dir) {
        if let Ok(bytes) = reader.line(line) {
            return Some(crate::digest::sha256_hex(&bytes));
        }
    }
    let mut lines = crate::log::open_manifest(data_dir).ok()?;
    while let Ok(Some((n, _, bytes))) = lines.next_line() {
        if n == line {
            return Some(crate::digest::sha256_hex(&bytes));
        }
    }
    None
}
