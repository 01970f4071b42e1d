//! Ledger: the append-only, hash-chained manifest (`manifest.jsonl`) and its verification.
//!
//! Owns: the record format (version 1, documented in README.md, "Manifest format"), appending
//! records durably, reading them back, and checking the chain and every sealed clip's hash.
//! Never: rewrites or deletes a line. One writer per data dir, enforced by a lock file.
//!
//! Each line is one JSON object followed by `\n`. Its `prev` is the lowercase-hex SHA-256 of
//! the previous line's exact bytes, including that line's `\n`; the first line's `prev` is
//! [`GENESIS`]. So `sed -n 1p manifest.jsonl | sha256sum` must equal `prev` of line 2.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest;

pub mod merkle;
pub mod note;
pub mod proof;

/// Manifest format version written in every record's `v`.
pub const FORMAT_VERSION: u32 = 1;
/// `prev` of the first record: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// File name of the manifest inside the data dir.
pub const MANIFEST: &str = "manifest.jsonl";
/// File name of the writer lock inside the data dir.
pub const LOCK: &str = "packwitness.lock";

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("manifest {path}: {what}: {source}")]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("data dir {dir} is in use by another packwitness process (lock file {lock}); stop it first, or use another --data-dir")]
    Locked { dir: PathBuf, lock: PathBuf },
    #[error("manifest {path}, line {line}: {what}; run `packwitness verify` for a full report")]
    Corrupt {
        path: PathBuf,
        line: u64,
        what: String,
    },
}

/// One manifest line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// Format version, [`FORMAT_VERSION`].
    pub v: u32,
    /// 1 for the first line, then +1 per line.
    pub seq: u64,
    /// SHA-256 (hex) of the previous line's bytes including its newline; [`GENESIS`] for line 1.
    pub prev: String,
    /// Local time the record was written, RFC 3339 with milliseconds and UTC offset.
    pub at: String,
    #[serde(flatten)]
    pub body: Body,
}

/// What a record says. The `kind` field names the variant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// A recording process started on this data dir.
    StationStart {
        station: String,
        software: String,
        /// SHA-256 of the config text in force (of the empty string when defaults were used).
        config_sha256: String,
        cameras: Vec<String>,
        /// The station's public signing key (signed-note verifier form) for checkpoints.
        key: String,
    },
    /// Recording of a clip began; written before the first byte of video is.
    ClipOpened {
        order: String,
        station: String,
        camera: String,
        /// Path relative to the data dir, `/`-separated.
        file: String,
        /// Wall-clock time of the first frame.
        started_at: String,
        /// Camera-session frame number of the first frame.
        first_frame: u64,
    },
    /// A clip file is complete, fsynced and in place; `clip` is the `seq` of its `clip_opened`.
    ClipSealed {
        clip: u64,
        order: String,
        station: String,
        camera: String,
        file: String,
        /// `next_order`, `stop_code`, `timeout`, `shutdown` or `source_ended`.
        reason: String,
        started_at: String,
        /// Wall-clock time of the last frame.
        ended_at: String,
        duration_ms: u64,
        frames: u64,
        /// Camera-session frame number of the first frame (0 = first frame the camera delivered).
        first_frame: u64,
        size: u64,
        sha256: String,
    },
    /// A signed tree head over every line before this one (RFC 6962 tree, C2SP checkpoint).
    Checkpoint {
        /// Number of lines covered: lines 1..=size.
        size: u64,
        /// Merkle tree hash of those lines, lowercase hex.
        root: String,
        /// The signed checkpoint note, as text.
        note: String,
    },
    /// On start, the manifest ended in an incomplete line (a write cut short by a crash). The
    /// bytes were moved to `kept_in` (relative to the data dir) and the chain continues.
    TornLineRemoved {
        bytes: u64,
        sha256: String,
        kept_in: String,
    },
}

/// Current local time in the manifest's format.
pub fn now_string() -> String {
    format_time(chrono::Local::now().fixed_offset())
}

/// RFC 3339 with milliseconds and numeric offset, e.g. `2026-11-25T20:31:02.054+08:00`.
pub fn format_time(t: chrono::DateTime<chrono::FixedOffset>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

/// The appending side: one per data dir, holding the lock.
pub struct Ledger {
    path: PathBuf,
    file: File,
    _lock: File,
    next_seq: u64,
    prev: String,
    frontier: merkle::Frontier,
    since_checkpoint: u64,
}

impl Ledger {
    /// Opens (or creates) the manifest of `data_dir` for appending and takes the writer lock.
    ///
    /// Reads every line once to rebuild the Merkle frontier. A last line cut short by a crash
    /// (no newline) is moved to `manifest.torn-<unix ms>`, the manifest is truncated to its
    /// last whole line, and a `torn_line_removed` record says so. Any other damage is an error
    /// (run `packwitness verify`): the ledger never appends to a chain it cannot extend.
    pub fn open(data_dir: &Path) -> Result<Ledger, LedgerError> {
        let path = data_dir.join(MANIFEST);
        let io = |what| {
            let path = path.clone();
            move |source| LedgerError::Io { path, what, source }
        };
        let lock_path = data_dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("creating the lock file"))?;
        if lock.try_lock().is_err() {
            return Err(LedgerError::Locked {
                dir: data_dir.to_owned(),
                lock: lock_path,
            });
        }
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io("opening"))?;
        if !existed {
            crate::clip::sync_dir(data_dir).map_err(io("fsync of the data dir"))?;
        }
        let mut frontier = merkle::Frontier::default();
        let mut next_seq = 1;
        let mut prev = GENESIS.to_string();
        let mut since_checkpoint = 0;
        let mut torn = None;
        {
            let mut reader = LineReader::new(BufReader::new(&mut file));
            while let Some((n, offset, line)) = reader.next_line().map_err(io("reading"))? {
                if !line.ends_with(b"\n") {
                    torn = Some((offset, line));
                    break;
                }
                let rec: Record =
                    serde_json::from_slice(&line).map_err(|e| LedgerError::Corrupt {
                        path: path.clone(),
                        line: n,
                        what: format!("not a valid record ({e})"),
                    })?;
                if rec.seq != n {
                    return Err(LedgerError::Corrupt {
                        path: path.clone(),
                        line: n,
                        what: format!("seq {} where {n} was expected", rec.seq),
                    });
                }
                since_checkpoint = if matches!(rec.body, Body::Checkpoint { .. }) {
                    0
                } else {
                    since_checkpoint + 1
                };
                frontier.push(merkle::leaf_hash(&line));
                prev = digest::sha256_hex(&line);
                next_seq = n + 1;
            }
        }
        let mut ledger = Ledger {
            path: path.clone(),
            file,
            _lock: lock,
            next_seq,
            prev,
            frontier,
            since_checkpoint,
        };
        if let Some((offset, bytes)) = torn {
            let kept = format!("manifest.torn-{}", chrono::Utc::now().timestamp_millis());
            let kept_path = data_dir.join(&kept);
            std::fs::write(&kept_path, &bytes)
                .and_then(|_| File::open(&kept_path)?.sync_all())
                .map_err(io("keeping the torn last line aside"))?;
            crate::clip::sync_dir(data_dir).map_err(io("fsync of the data dir"))?;
            ledger
                .file
                .set_len(offset)
                .map_err(io("cutting the torn last line"))?;
            ledger
                .file
                .sync_all()
                .map_err(io("fsync after cutting the torn line"))?;
            tracing::warn!(bytes = bytes.len(), kept = %kept, "manifest ended in a torn line; kept aside and removed");
            ledger.append(Body::TornLineRemoved {
                bytes: bytes.len() as u64,
                sha256: digest::sha256_hex(&bytes),
                kept_in: kept,
            })?;
        }
        Ok(ledger)
    }

    /// Appends a record and fsyncs it; returns it with its `seq`. When this returns, the
    /// record survives a crash or power cut.
    pub fn append(&mut self, body: Body) -> Result<Record, LedgerError> {
        let rec = Record {
            v: FORMAT_VERSION,
            seq: self.next_seq,
            prev: self.prev.clone(),
            at: now_string(),
            body,
        };
        let mut line = serde_json::to_vec(&rec).map_err(|e| LedgerError::Corrupt {
            path: self.path.clone(),
            line: rec.seq,
            what: format!("cannot serialise record: {e}"),
        })?;
        line.push(b'\n');
        let io = |what| {
            let path = self.path.clone();
            move |source| LedgerError::Io { path, what, source }
        };
        self.file
            .write_all(&line)
            .map_err(io("appending a record"))?;
        self.file.sync_data().map_err(io("fsync after append"))?;
        self.prev = digest::sha256_hex(&line);
        self.next_seq += 1;
        self.frontier.push(merkle::leaf_hash(&line));
        self.since_checkpoint = if matches!(rec.body, Body::Checkpoint { .. }) {
            0
        } else {
            self.since_checkpoint + 1
        };
        Ok(rec)
    }

    /// Appends a signed checkpoint over every line so far, unless the last line already is one.
    pub fn checkpoint(&mut self, key: &note::StationKey) -> Result<Option<Record>, LedgerError> {
        if self.since_checkpoint == 0 {
            return Ok(None);
        }
        let cp = note::Checkpoint {
            origin: key.name().to_string(),
            size: self.frontier.size(),
            root: self.frontier.root(),
        };
        let signed = key.sign(&cp.body());
        self.append(Body::Checkpoint {
            size: cp.size,
            root: digest::hex(&cp.root),
            note: signed,
        })
        .map(Some)
    }

    /// Records appended since the last checkpoint.
    pub fn since_checkpoint(&self) -> u64 {
        self.since_checkpoint
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `seq` the next appended record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

/// Reads manifest lines in order with their 1-based number and byte offset.
pub struct LineReader<R> {
    reader: R,
    line: u64,
    offset: u64,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(reader: R) -> Self {
        LineReader {
            reader,
            line: 0,
            offset: 0,
        }
    }

    /// Starts at `offset`, which must be the start of line `line + 1`.
    pub fn starting_at(reader: R, line: u64, offset: u64) -> Self {
        LineReader {
            reader,
            line,
            offset,
        }
    }

    /// Next line's (number, offset, bytes including the newline if present).
    pub fn next_line(&mut self) -> std::io::Result<Option<(u64, u64, Vec<u8>)>> {
        let mut buf = Vec::new();
        let n = self.reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        let at = self.offset;
        self.offset += n as u64;
        Ok(Some((self.line, at, buf)))
    }
}

/// Opens the manifest of a data dir for reading.
pub fn open_manifest(data_dir: &Path) -> Result<LineReader<BufReader<File>>, LedgerError> {
    let path = data_dir.join(MANIFEST);
    let file = File::open(&path).map_err(|source| LedgerError::Io {
        path: path.clone(),
        what: "opening (is this a packwitness data dir?)",
        source,
    })?;
    Ok(LineReader::new(BufReader::new(file)))
}

/// True when a manifest `file` value is a plain relative path under `clips/`.
pub fn is_safe_clip_path(file: &str) -> bool {
    let p = Path::new(file);
    file.starts_with("clips/")
        && !file.contains('\\')
        && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// What is wrong, found by [`verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The line is not a valid record.
    Malformed,
    /// The line's bytes changed since the next line was written.
    LineModified,
    /// Records were removed before this line.
    LinesMissing,
    /// The last line was cut short.
    TornLine,
    /// A clip's bytes differ from its recorded hash.
    ClipModified,
    /// A clip is shorter than recorded.
    ClipTruncated,
    /// A clip file is gone.
    ClipMissing,
    /// A record names a file outside `clips/`.
    BadPath,
    /// A checkpoint's tree size or root does not match the lines before it.
    CheckpointMismatch,
    /// A checkpoint's signature does not verify with the station key.
    BadSignature,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// 1-based manifest line the problem is attached to.
    pub line: u64,
    pub kind: ProblemKind,
    /// The clip file involved, relative to the data dir.
    pub file: Option<String>,
    pub detail: String,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Report {
    pub lines: u64,
    pub clips_sealed: u64,
    pub clips_ok: u64,
    /// Clips opened but never sealed (recording in progress, or interrupted).
    pub clips_open: u64,
    /// Interrupted clips recovered after a crash.
    pub clips_interrupted: u64,
    pub checkpoints: u64,
    /// Lines after the last checkpoint (not yet covered by a signature).
    pub uncovered_lines: u64,
    pub bytes_hashed: u64,
    /// True when clip contents were not hashed (`--quick`: sizes only).
    pub quick: bool,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
    /// The problem on the earliest line.
    pub fn first_problem(&self) -> Option<&Problem> {
        self.problems.iter().min_by_key(|p| p.line)
    }
}

/// How much [`verify`] checks.
#[derive(Debug, Default, Clone)]
pub struct VerifyOptions {
    /// Check clip sizes only, not their hashes.
    pub quick: bool,
    /// Pin the station key (verifier form): checkpoints must be signed by it.
    pub key: Option<String>,
}

/// Outcome of checking one sealed clip file against its record.
pub fn check_clip(
    data_dir: &Path,
    file: &str,
    size: u64,
    sha256: &str,
    quick: bool,
) -> Result<(), (ProblemKind, String)> {
    if !is_safe_clip_path(file) {
        return Err((
            ProblemKind::BadPath,
            format!("file {file:?} is not a path under clips/"),
        ));
    }
    let path = data_dir.join(file);
    let actual_size = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A clip interrupted before its first frame has no file and records size 0.
            if size == 0 {
                return Ok(());
            }
            return Err((ProblemKind::ClipMissing, format!("{file} is missing")));
        }
        Err(e) => {
            return Err((
                ProblemKind::ClipMissing,
                format!("{file} cannot be read: {e}"),
            ))
        }
    };
    if actual_size < size {
        return Err((
            ProblemKind::ClipTruncated,
            format!("{file} is {actual_size} bytes, the record says {size}"),
        ));
    }
    if actual_size != size {
        return Err((
            ProblemKind::ClipModified,
            format!("{file} was modified: {actual_size} bytes, the record says {size}"),
        ));
    }
    if quick {
        return Ok(());
    }
    let (actual, _) = digest::sha256_file(&path).map_err(|e| {
        (
            ProblemKind::ClipMissing,
            format!("{file} cannot be read: {e}"),
        )
    })?;
    if actual != sha256 {
        return Err((
            ProblemKind::ClipModified,
            format!("{file} was modified: its SHA-256 is {actual}, the record says {sha256}"),
        ));
    }
    Ok(())
}

/// Checks the whole manifest of `data_dir`: the chain, every checkpoint (tree root and
/// signature), and every sealed clip's size and hash.
pub fn verify(data_dir: &Path, opts: &VerifyOptions) -> Result<Report, LedgerError> {
    let mut lines = open_manifest(data_dir)?;
    let path = data_dir.join(MANIFEST);
    let mut report = Report {
        quick: opts.quick,
        ..Report::default()
    };
    let mut prev_hash = GENESIS.to_string();
    let mut prev_seq = 0u64;
    let mut open: std::collections::BTreeSet<u64> = Default::default();
    let mut flagged: std::collections::BTreeSet<u64> = Default::default();
    let mut frontier = merkle::Frontier::default();
    let pinned = match &opts.key {
        Some(k) => Some(
            note::NoteVerifier::parse(k).map_err(|e| LedgerError::Corrupt {
                path: path.clone(),
                line: 0,
                what: format!("--key: {e}"),
            })?,
        ),
        None => None,
    };
    let mut station_key: Option<note::NoteVerifier> = None;
    while let Some((n, _, bytes)) = lines.next_line().map_err(|source| LedgerError::Io {
        path: path.clone(),
        what: "reading",
        source,
    })? {
        report.lines = n;
        let mut problem =
            |report: &mut Report, line: u64, kind, file: Option<String>, detail: String| {
                if kind == ProblemKind::LineModified && !flagged.insert(line) {
                    return;
                }
                flagged.insert(line);
                report.problems.push(Problem {
                    line,
                    kind,
                    file,
                    detail,
                });
            };
        if !bytes.ends_with(b"\n") {
            problem(&mut report, n, ProblemKind::TornLine, None,
                format!("line {n} is incomplete (no newline): a write was cut short; starting packwitness on this data dir repairs it"));
            break;
        }
        let hash = digest::sha256_hex(&bytes);
        let leaf = merkle::leaf_hash(&bytes);
        let rec: Record = match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => {
                problem(
                    &mut report,
                    n,
                    ProblemKind::Malformed,
                    None,
                    format!("line {n} is not a valid record: {e}"),
                );
                prev_hash = hash;
                prev_seq += 1;
                frontier.push(leaf);
                continue;
            }
        };
        if rec.v != FORMAT_VERSION {
            problem(
                &mut report,
                n,
                ProblemKind::Malformed,
                None,
                format!(
                    "line {n} has format version {} (this program reads {FORMAT_VERSION})",
                    rec.v
                ),
            );
        }
        if rec.prev != prev_hash {
            if rec.seq > prev_seq + 1 {
                problem(
                    &mut report,
                    n,
                    ProblemKind::LinesMissing,
                    None,
                    format!(
                        "record(s) seq {}..={} are missing before line {n}: lines were deleted",
                        prev_seq + 1,
                        rec.seq - 1
                    ),
                );
            } else if n == 1 {
                problem(
                    &mut report,
                    n,
                    ProblemKind::LineModified,
                    None,
                    "line 1 does not start the chain (its prev is not the genesis value)"
                        .to_string(),
                );
            } else {
                problem(
                    &mut report,
                    n - 1,
                    ProblemKind::LineModified,
                    None,
                    format!(
                    "line {} was modified: its SHA-256 {} differs from prev recorded in line {n}",
                    n - 1, prev_hash),
                );
            }
        } else if rec.seq != prev_seq + 1 {
            problem(
                &mut report,
                n,
                ProblemKind::Malformed,
                None,
                format!(
                    "line {n} has seq {} where {} was expected",
                    rec.seq,
                    prev_seq + 1
                ),
            );
        }
        match &rec.body {
            Body::StationStart { key, .. } => match note::NoteVerifier::parse(key) {
                Ok(v) => {
                    if let Some(p) = &pinned {
                        if p.name != v.name
                            || key.trim() != opts.key.as_deref().unwrap_or("").trim()
                        {
                            problem(
                                &mut report,
                                n,
                                ProblemKind::BadSignature,
                                None,
                                format!("line {n}: the station key {key} is not the pinned key"),
                            );
                        }
                    }
                    station_key = Some(v);
                }
                Err(e) => problem(
                    &mut report,
                    n,
                    ProblemKind::Malformed,
                    None,
                    format!("line {n}: {e}"),
                ),
            },
            Body::ClipOpened { .. } => {
                open.insert(rec.seq);
            }
            Body::ClipSealed {
                clip,
                file,
                size,
                sha256,
                reason,
                ..
            } => {
                open.remove(clip);
                report.clips_sealed += 1;
                if reason == "interrupted" {
                    report.clips_interrupted += 1;
                }
                match check_clip(data_dir, file, *size, sha256, opts.quick) {
                    Ok(()) => {
                        report.clips_ok += 1;
                        if !opts.quick {
                            report.bytes_hashed += size;
                        }
                    }
                    Err((kind, detail)) => problem(
                        &mut report,
                        n,
                        kind,
                        Some(file.clone()),
                        format!("line {n}: {detail}"),
                    ),
                }
            }
            Body::Checkpoint {
                size,
                root,
                note: text,
            } => {
                report.checkpoints += 1;
                let actual = frontier.root();
                if *size != frontier.size() || *root != digest::hex(&actual) {
                    problem(&mut report, n, ProblemKind::CheckpointMismatch, None, format!(
                        "line {n}: checkpoint says {size} lines with root {root}; the {} lines before it hash to {}",
                        frontier.size(), digest::hex(&actual)));
                }
                let verifier = pinned.as_ref().or(station_key.as_ref());
                match verifier.map(|v| v.open(text)) {
                    None => problem(&mut report, n, ProblemKind::BadSignature, None,
                        format!("line {n}: checkpoint with no station key before it")),
                    Some(Err(e)) => problem(&mut report, n, ProblemKind::BadSignature, None, format!("line {n}: {e}")),
                    Some(Ok(body)) => match note::Checkpoint::parse(body) {
                        Ok(cp) if cp.size == *size && digest::hex(&cp.root) == *root => {}
                        _ => problem(&mut report, n, ProblemKind::CheckpointMismatch, None,
                            format!("line {n}: the signed note does not match the record's size and root")),
                    },
                }
            }
            Body::TornLineRemoved { .. } => {}
        }
        report.uncovered_lines = if matches!(rec.body, Body::Checkpoint { .. }) {
            0
        } else {
            report.uncovered_lines + 1
        };
        frontier.push(leaf);
        prev_hash = hash;
        prev_seq = rec.seq;
    }
    report.clips_open = open.len() as u64;
    report.problems.sort_by_key(|p| p.line);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A public key in signed-note verifier form (from Go's sumdb/note documentation).
    const TEST_KEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

    fn start() -> Body {
        Body::StationStart {
            station: "s".into(),
            software: "t".into(),
            config_sha256: digest::sha256_hex(b""),
            cameras: vec!["c".into()],
            key: TEST_KEY.into(),
        }
    }

    #[test]
    fn chain_links_exact_line_bytes() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut l = Ledger::open(dir.path()).unwrap();
            let r1 = l.append(start()).unwrap();
            assert_eq!((r1.seq, r1.prev.as_str()), (1, GENESIS));
            l.append(start()).unwrap();
        }
        let text = std::fs::read(dir.path().join(MANIFEST)).unwrap();
        let first_len = text.iter().position(|&b| b == b'\n').unwrap() + 1;
        let line2: Record = serde_json::from_slice(&text[first_len..]).unwrap();
        assert_eq!(line2.prev, digest::sha256_hex(&text[..first_len]));
        // Reopening continues the chain.
        let mut l = Ledger::open(dir.path()).unwrap();
        let r3 = l.append(start()).unwrap();
        assert_eq!(r3.seq, 3);
        assert_eq!(r3.prev, digest::sha256_hex(&text[first_len..]));
        assert!(verify(dir.path(), &VerifyOptions::default()).unwrap().ok());
    }

    #[test]
    fn second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _a = Ledger::open(dir.path()).unwrap();
        let err = Ledger::open(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("in use by another packwitness process"),
            "{err}"
        );
    }

    #[test]
    fn fixed_vector_record_layout() {
        // The exact bytes of a record are a public contract (README, "Manifest format").
        let rec = Record {
            v: 1,
            seq: 1,
            prev: GENESIS.into(),
            at: "2026-11-25T20:31:02.054+08:00".into(),
            body: Body::StationStart {
                station: "station-1".into(),
                software: "packwitness 0.1.0".into(),
                config_sha256: digest::sha256_hex(b""),
                cameras: vec!["cam-1".into()],
                key: TEST_KEY.into(),
            },
        };
        let line = serde_json::to_string(&rec).unwrap() + "\n";
        assert_eq!(
            line,
            "{\"v\":1,\"seq\":1,\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"at\":\"2026-11-25T20:31:02.054+08:00\",\"kind\":\"station_start\",\"station\":\"station-1\",\"software\":\"packwitness 0.1.0\",\"config_sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"cameras\":[\"cam-1\"],\"key\":\"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\"}\n"
        );
        assert_eq!(
            digest::sha256_hex(line.as_bytes()),
            include_str!("../tests/vectors/station_start.sha256").trim()
        );
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(back, rec);
    }

    #[test]
    fn clip_paths_must_stay_under_clips() {
        assert!(is_safe_clip_path("clips/s/2026-11-25/A_cam-1_00000002.mp4"));
        for bad in [
            "/etc/passwd",
            "clips/../manifest.jsonl",
            "../x",
            "clips\\a",
            "x/clips/a",
        ] {
            assert!(!is_safe_clip_path(bad), "{bad}");
        }
    }
}
