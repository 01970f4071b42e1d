//! Verify: the whole evidence of a data dir checked against itself: the manifest's chain, its
//! signed checkpoints, and every sealed clip's file.
//!
//! Owns: `packwitness verify`: reading every line once (chain links, seq numbers, record
//! shapes, checkpoint roots and signatures), checking clip files (sizes, and with hashing
//! their SHA-256, in parallel), locating the first changed fragment of a modified clip, and
//! files no record names. Problems are reported with the line they are attached to.
//! Never: changes anything; a damaged data dir is reported, never repaired here.

use std::path::Path;

use serde::Serialize;

use crate::datadir::MANIFEST;
use crate::digest;
use crate::log::{
    merkle, note, open_manifest, Body, LedgerError, Record, SealReason, FORMAT_VERSION, GENESIS,
};
use crate::media::fmp4::{self, FileProblem};

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
    /// A file under `clips/` that no record names.
    ExtraFile,
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
    /// Clips whose files retention removed (their records stay provable).
    pub clips_pruned: u64,
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
    /// Threads hashing clips; 0 = one per CPU.
    pub threads: usize,
}

/// Outcome of checking one sealed clip file against its record (`quick`: the size only).
pub fn check_clip(
    data_dir: &Path,
    file: &str,
    size: u64,
    sha256: &str,
    quick: bool,
) -> Result<(), (ProblemKind, String)> {
    fmp4::check_file(data_dir, file, size, sha256, !quick).map_err(|(p, detail)| {
        let kind = match p {
            FileProblem::BadPath => ProblemKind::BadPath,
            FileProblem::Missing => ProblemKind::ClipMissing,
            FileProblem::Truncated => ProblemKind::ClipTruncated,
            FileProblem::Modified => ProblemKind::ClipModified,
        };
        (kind, detail)
    })
}

/// Checks the whole manifest of `data_dir`: the chain, every checkpoint (tree root, signature
/// and signed time), every sealed clip's size and hash, and that no clip file is unaccounted
/// for.
pub fn verify(data_dir: &Path, opts: &VerifyOptions) -> Result<Report, LedgerError> {
    verify_with_progress(data_dir, opts, &mut |_, _| {})
}

/// Files below `clips/` of a data dir, relative to it with `/` separators, with their sizes.
fn clip_files(data_dir: &Path) -> std::collections::BTreeMap<String, u64> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, u64>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => walk(root, &p, out),
                Ok(_) => {
                    if let Ok(rel) = p.strip_prefix(root) {
                        let rel: Vec<String> = rel
                            .components()
                            .map(|c| c.as_os_str().to_string_lossy().into_owned())
                            .collect();
                        out.insert(rel.join("/"), e.metadata().map(|m| m.len()).unwrap_or(0));
                    }
                }
                Err(_) => {}
            }
        }
    }
    let mut out = Default::default();
    walk(data_dir, &data_dir.join("clips"), &mut out);
    out
}

type ClipResult = (u64, String, Result<(), (ProblemKind, String)>);
/// (line, file, size, sha256, fragments_sha256) of a sealed clip.
type ClipCheck = (u64, String, u64, String, String);

/// Checks clips on `opts.threads` threads (one per CPU by default), largest work first.
fn check_clips(
    data_dir: &Path,
    checks: &[ClipCheck],
    opts: &VerifyOptions,
    total: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Vec<ClipResult> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .clamp(1, checks.len().max(1));
    let next = AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel();
    let mut out = Vec::with_capacity(checks.len());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((line, file, size, sha, frags)) = checks.get(i) else {
                    break;
                };
                let result = check_clip(data_dir, file, *size, sha, opts.quick).map_err(|(kind, detail)| {
                    // Point at the first piece that changed, when the fragment list allows it.
                    let located = match kind {
                        ProblemKind::ClipModified | ProblemKind::ClipTruncated => {
                            fmp4::first_bad_fragment(&data_dir.join(file), frags)
                        }
                        _ => None,
                    };
                    match located {
                        Some((i, f)) => (kind, format!("{detail}; the first difference is in bytes {}..{} (piece {} of the file)", f.offset, f.offset + f.len, i + 1)),
                        None => (kind, detail),
                    }
                });
                if tx.send((*line, file.clone(), *size, result)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut done = 0;
        for (line, file, size, result) in rx {
            if !opts.quick {
                done += size;
                progress(done.min(total), total);
            }
            out.push((line, file, result));
        }
    });
    out
}

/// [`verify`], calling `progress(bytes hashed, bytes to hash)` as clips are hashed.
pub fn verify_with_progress(
    data_dir: &Path,
    opts: &VerifyOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, LedgerError> {
    let mut lines = open_manifest(data_dir)?;
    let path = data_dir.join(MANIFEST);
    let files = clip_files(data_dir);
    let total: u64 = if opts.quick { 0 } else { files.values().sum() };
    let mut referenced: std::collections::BTreeSet<String> = Default::default();
    let mut report = Report {
        quick: opts.quick,
        ..Report::default()
    };
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
    let mut open: std::collections::BTreeMap<u64, String> = Default::default();
    let mut frontier = merkle::Frontier::default();
    let mut prev_hash = GENESIS.to_string();
    let mut prev_seq = 0u64;
    // Line k whose link to line k-1 is broken, while seq numbers run on: either line k-1 was
    // changed, or line k's own `prev` was. The next link tells which (see the README).
    let mut pending: Option<u64> = None;
    // Whether the last line was a checkpoint whose root matched the lines before it.
    let mut last_checkpoint_ok = false;
    let mut problems: Vec<Problem> = Vec::new();
    // (line, file, size, sha256) of every sealed clip, hashed in parallel after the chain pass.
    let mut clip_checks: Vec<ClipCheck> = Vec::new();
    let mut known_clips: std::collections::BTreeSet<u64> = Default::default();
    let mut pruned: std::collections::BTreeSet<u64> = Default::default();
    // clip id of each sealed record, to skip the file checks of clips pruned later.
    let mut sealed_clip: std::collections::BTreeMap<u64, u64> = Default::default();
    let mut add = |line: u64, kind: ProblemKind, file: Option<String>, detail: String| {
        if !problems
            .iter()
            .any(|p| p.line == line && p.kind == kind && p.file == file)
        {
            problems.push(Problem {
                line,
                kind,
                file,
                detail,
            });
        }
    };
    let modified = |k: u64| {
        format!(
            "line {k} was modified (its SHA-256 no longer matches the prev recorded in line {})",
            k + 1
        )
    };
    while let Some((n, _, bytes)) = lines.next_line().map_err(|source| LedgerError::Io {
        path: path.clone(),
        what: "reading",
        source,
    })? {
        report.lines = n;
        if !bytes.ends_with(b"\n") {
            add(n, ProblemKind::TornLine, None,
                format!("line {n} is incomplete (no newline): a write was cut short; starting packwitness on this data dir repairs it"));
            break;
        }
        let hash = digest::sha256_hex(&bytes);
        let leaf = merkle::leaf_hash(&bytes);
        let parsed: Result<Record, String> =
            serde_json::from_slice(&bytes).map_err(|e| e.to_string());
        let link_broken = matches!(&parsed, Ok(r) if r.prev != prev_hash);
        let seq_gap = matches!(&parsed, Ok(r) if r.seq > prev_seq + 1);
        let mut explained = false;
        if let Some(p) = pending.take() {
            if link_broken && !seq_gap {
                // Both links of line p are broken: line p itself changed (its prev field).
                add(
                    p,
                    ProblemKind::LineModified,
                    None,
                    format!(
                        "line {p} was modified (its prev field no longer matches line {})",
                        p - 1
                    ),
                );
                explained = true;
            } else {
                add(p - 1, ProblemKind::LineModified, None, modified(p - 1));
            }
        }
        if link_broken && !explained {
            if seq_gap {
                if let Ok(r) = &parsed {
                    add(
                        n,
                        ProblemKind::LinesMissing,
                        None,
                        format!(
                            "record(s) seq {}..={} are missing before line {n}: lines were deleted",
                            prev_seq + 1,
                            r.seq - 1
                        ),
                    );
                }
            } else if n == 1 {
                add(
                    1,
                    ProblemKind::LineModified,
                    None,
                    "line 1 does not start the chain (its prev is not the genesis value)".into(),
                );
            } else {
                pending = Some(n);
            }
        }
        last_checkpoint_ok = false;
        match &parsed {
            Err(e) => {
                add(
                    n,
                    ProblemKind::Malformed,
                    None,
                    format!("line {n} is not a valid record: {e}"),
                );
                prev_seq += 1;
            }
            Ok(rec) => {
                if !(1..=FORMAT_VERSION).contains(&rec.v) {
                    add(
                        n,
                        ProblemKind::Malformed,
                        None,
                        format!(
                            "line {n} has format version {} (this program reads 1 to {FORMAT_VERSION}; a newer packwitness wrote it?)",
                            rec.v
                        ),
                    );
                }
                if !link_broken && rec.seq != prev_seq + 1 {
                    add(
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
                    Body::StationStart { key, .. } => {
                        match note::NoteVerifier::parse(key) {
                            Ok(v) => {
                                if let Some(p) = &opts.key {
                                    if key.trim() != p.trim() {
                                        add(n, ProblemKind::BadSignature, None, format!("line {n}: the station key {key} is not the pinned key"));
                                    }
                                }
                                station_key = Some(v);
                            }
                            Err(e) => {
                                add(n, ProblemKind::Malformed, None, format!("line {n}: {e}"))
                            }
                        }
                    }
                    Body::ClipOpened { file, .. } => {
                        known_clips.insert(rec.seq);
                        open.insert(rec.seq, file.clone());
                        referenced.insert(file.clone());
                    }
                    Body::ClipSealed {
                        clip,
                        file,
                        size,
                        sha256,
                        reason,
                        fragments_sha256,
                        ..
                    } => {
                        open.remove(clip);
                        referenced.insert(file.clone());
                        report.clips_sealed += 1;
                        if *reason == SealReason::Interrupted {
                            report.clips_interrupted += 1;
                        }
                        referenced.insert(format!("{file}.fragments"));
                        sealed_clip.insert(n, *clip);
                        clip_checks.push((
                            n,
                            file.clone(),
                            *size,
                            sha256.clone(),
                            fragments_sha256.clone(),
                        ));
                    }
                    Body::Checkpoint {
                        size,
                        root,
                        note: text,
                    } => {
                        report.checkpoints += 1;
                        let actual = frontier.root();
                        let root_ok = *size == frontier.size() && *root == digest::hex(&actual);
                        if !root_ok {
                            add(n, ProblemKind::CheckpointMismatch, None, format!(
                                "line {n}: checkpoint says {size} lines with root {root}; the {} lines before it hash to {}",
                                frontier.size(), digest::hex(&actual)));
                        }
                        match pinned.as_ref().or(station_key.as_ref()).map(|v| v.open(text)) {
                            None => add(n, ProblemKind::BadSignature, None, format!("line {n}: checkpoint with no station key before it")),
                            Some(Err(e)) => add(n, ProblemKind::BadSignature, None, format!("line {n}: {e}")),
                            Some(Ok(body)) => match note::Checkpoint::parse(body) {
                                Ok(cp) if cp.size == *size && digest::hex(&cp.root) == *root && cp.time.as_deref() == Some(rec.at.as_str()) && cp.salt == rec.salt => {
                                    last_checkpoint_ok = root_ok;
                                }
                                _ => add(n, ProblemKind::CheckpointMismatch, None,
                                    format!("line {n}: the signed note does not match the record's size, root or time")),
                            },
                        }
                    }
                    Body::CodeAttached { clip, .. } => {
                        if !known_clips.contains(clip) {
                            add(n, ProblemKind::Malformed, None, format!("line {n}: attaches a code to clip {clip}, which no earlier line opened"));
                        }
                    }
                    Body::Pruned { clip, .. } => {
                        if !known_clips.contains(clip) {
                            add(
                                n,
                                ProblemKind::Malformed,
                                None,
                                format!(
                                    "line {n}: prunes clip {clip}, which no earlier line opened"
                                ),
                            );
                        }
                        pruned.insert(*clip);
                        report.clips_pruned += 1;
                    }
                    Body::TornLineRemoved { .. }
                    | Body::CrashRecovered { .. }
                    | Body::Scan { .. }
                    | Body::Access { .. }
                    | Body::Hold { .. } => {}
                }
                prev_seq = rec.seq;
            }
        }
        report.uncovered_lines = if matches!(
            &parsed,
            Ok(Record {
                body: Body::Checkpoint { .. },
                ..
            })
        ) {
            0
        } else {
            report.uncovered_lines + 1
        };
        frontier.push(leaf);
        prev_hash = hash;
    }
    if let Some(k) = pending {
        // The break is at the last line: if it is a checkpoint that vouches for the lines
        // before it, the last line itself changed; otherwise the one before it did.
        if last_checkpoint_ok && k == report.lines {
            add(
                k,
                ProblemKind::LineModified,
                None,
                format!(
                    "line {k} was modified (its prev field no longer matches line {})",
                    k - 1
                ),
            );
        } else {
            add(k - 1, ProblemKind::LineModified, None, modified(k - 1));
        }
    }
    clip_checks.retain(|c| {
        !sealed_clip
            .get(&c.0)
            .is_some_and(|clip| pruned.contains(clip))
    });
    for (line, file, result) in check_clips(data_dir, &clip_checks, opts, total, progress) {
        match result {
            Ok(()) => report.clips_ok += 1,
            Err((kind, detail)) => add(line, kind, Some(file), format!("line {line}: {detail}")),
        }
    }
    if !opts.quick {
        report.bytes_hashed = clip_checks
            .iter()
            .map(|c| files.get(&c.1).copied().unwrap_or(0))
            .sum();
    }
    for file in open.values() {
        referenced.insert(format!("{file}.partial"));
    }
    for (file, _) in files.iter().filter(|(f, _)| !referenced.contains(*f)) {
        add(report.lines, ProblemKind::ExtraFile, Some(file.clone()),
            format!("{file} is not named by any manifest record (added by hand, or its records were removed)"));
    }
    report.clips_open = open.len() as u64;
    problems.sort_by_key(|p| p.line);
    report.problems = problems;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimClock;
    use crate::log::Ledger;

    const TEST_KEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

    #[test]
    fn a_fresh_chain_verifies_and_a_changed_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let clock = SimClock::at_test_epoch();
        {
            let mut l = Ledger::open(dir.path(), &clock).unwrap();
            for _ in 0..3 {
                l.append(
                    Body::StationStart {
                        station: "s".into(),
                        software: "t".into(),
                        config_sha256: digest::sha256_hex(b""),
                        cameras: vec!["c".into()],
                        key: TEST_KEY.into(),
                    },
                    &clock,
                )
                .unwrap();
            }
        }
        assert!(verify(dir.path(), &VerifyOptions::default()).unwrap().ok());
        let path = dir.path().join(MANIFEST);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replacen("\"station\":\"s\"", "\"station\":\"x\"", 1),
        )
        .unwrap();
        let report = verify(dir.path(), &VerifyOptions::default()).unwrap();
        let first = report.first_problem().unwrap();
        assert_eq!((first.line, first.kind), (1, ProblemKind::LineModified));
    }
}
