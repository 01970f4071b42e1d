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
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest;

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
}

impl Ledger {
    /// Opens (or creates) the manifest of `data_dir` for appending and takes the writer lock.
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
        let (next_seq, prev) = match last_line(&mut file).map_err(io("reading its last line"))? {
            None => (1, GENESIS.to_string()),
            Some(line) => {
                if !line.ends_with(b"\n") {
                    return Err(LedgerError::Corrupt {
                        path,
                        line: 0,
                        what: "the last line is incomplete (a write was cut short)".into(),
                    });
                }
                let rec: Record =
                    serde_json::from_slice(&line).map_err(|e| LedgerError::Corrupt {
                        path: path.clone(),
                        line: 0,
                        what: format!("the last line is not a valid record: {e}"),
                    })?;
                (rec.seq + 1, digest::sha256_hex(&line))
            }
        };
        Ok(Ledger {
            path,
            file,
            _lock: lock,
            next_seq,
            prev,
        })
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
        Ok(rec)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `seq` the next appended record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

/// The last line of a file (with its newline if it has one), or `None` for an empty file.
fn last_line(file: &mut File) -> std::io::Result<Option<Vec<u8>>> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(None);
    }
    let mut window = 4096u64;
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        Read::by_ref(file).take(len - start).read_to_end(&mut buf)?;
        // Ignore the final byte (the last line's own newline) when looking for the line start.
        let search = &buf[..buf.len() - 1];
        if let Some(pos) = search.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(buf[pos + 1..].to_vec()));
        }
        if start == 0 {
            return Ok(Some(buf));
        }
        window *= 4;
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
    pub bytes_hashed: u64,
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

/// Outcome of checking one sealed clip file against its record.
pub fn check_clip(
    data_dir: &Path,
    file: &str,
    size: u64,
    sha256: &str,
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
            return Err((ProblemKind::ClipMissing, format!("{file} is missing")));
        }
        Err(e) => {
            return Err((
                ProblemKind::ClipMissing,
                format!("{file} cannot be read: {e}"),
            ))
        }
    };
    let (actual, _) = digest::sha256_file(&path).map_err(|e| {
        (
            ProblemKind::ClipMissing,
            format!("{file} cannot be read: {e}"),
        )
    })?;
    if actual_size < size {
        return Err((
            ProblemKind::ClipTruncated,
            format!("{file} is {actual_size} bytes, the record says {size}"),
        ));
    }
    if actual != sha256 || actual_size != size {
        return Err((
            ProblemKind::ClipModified,
            format!("{file} was modified: SHA-256 is {actual} ({actual_size} bytes), the record says {sha256} ({size} bytes)"),
        ));
    }
    Ok(())
}

/// Checks the whole manifest of `data_dir`: the chain, and every sealed clip's size and hash.
pub fn verify(data_dir: &Path) -> Result<Report, LedgerError> {
    let mut lines = open_manifest(data_dir)?;
    let path = data_dir.join(MANIFEST);
    let mut report = Report::default();
    let mut prev_hash = GENESIS.to_string();
    let mut prev_seq = 0u64;
    let mut open: std::collections::BTreeSet<u64> = Default::default();
    let mut flagged: std::collections::BTreeSet<u64> = Default::default();
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
            problem(
                &mut report,
                n,
                ProblemKind::TornLine,
                None,
                format!("line {n} is incomplete (no newline): a write was cut short"),
            );
            break;
        }
        let hash = digest::sha256_hex(&bytes);
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
            Body::ClipOpened { .. } => {
                open.insert(rec.seq);
            }
            Body::ClipSealed {
                clip,
                file,
                size,
                sha256,
                ..
            } => {
                open.remove(clip);
                report.clips_sealed += 1;
                match check_clip(data_dir, file, *size, sha256) {
                    Ok(()) => {
                        report.clips_ok += 1;
                        report.bytes_hashed += size;
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
            Body::StationStart { .. } => {}
        }
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

    fn start() -> Body {
        Body::StationStart {
            station: "s".into(),
            software: "t".into(),
            config_sha256: digest::sha256_hex(b""),
            cameras: vec!["c".into()],
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
        assert!(verify(dir.path()).unwrap().ok());
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
            },
        };
        let line = serde_json::to_string(&rec).unwrap() + "\n";
        assert_eq!(
            line,
            "{\"v\":1,\"seq\":1,\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"at\":\"2026-11-25T20:31:02.054+08:00\",\"kind\":\"station_start\",\"station\":\"station-1\",\"software\":\"packwitness 0.1.0\",\"config_sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"cameras\":[\"cam-1\"]}\n"
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
