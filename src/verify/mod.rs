//! Verify: the whole evidence of a data dir checked against itself: the manifest's chain, its
//! signed checkpoints, the stored tiles, and every sealed clip's file.
//!
//! Owns: `packwitness verify`: reading every line once ([`chain`]: links, seq numbers, record
//! shapes and the fields that must agree, keys and their rotation, checkpoint roots and
//! signatures, lines left unsigned), comparing the tiles with the tree the lines make, the
//! consistency of the checkpoints through proofs from the tiles, checking clip files
//! ([`clips`]: sizes, and with hashing their SHA-256 and fragment lists, in parallel), and
//! files no record names. What it fully checked it remembers in `verify.state`
//! ([`remember`]), so that the next run re-hashes only clips sealed since and notices a log
//! rewritten behind it. Problems are reported with the line they are attached to; the work
//! is linear in the lines and in the problems.
//! Never: changes the evidence; a damaged data dir is reported, never repaired here.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::datadir::{self, MANIFEST};
use crate::log::tiles::TileStore;
use crate::log::{merkle, note, open_manifest, Body, LedgerError, Record};

mod chain;
mod clips;
mod remember;

pub use clips::check_clip;

/// What is wrong, found by [`verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
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
    /// A checkpoint's tree size or root does not match the lines before it, or it does not
    /// extend the checkpoint before it.
    CheckpointMismatch,
    /// A checkpoint's signature does not verify with the station key.
    BadSignature,
    /// A file under `clips/` that no record names.
    ExtraFile,
    /// A record's fields disagree with each other or with the records before it.
    Inconsistent,
    /// The station key changes without a rotation signed by the key in force.
    KeyChanged,
    /// The log has lines but no signed checkpoint at all.
    NoCheckpoint,
    /// Lines waited longer than the checkpoint interval for a signature.
    StaleCheckpoint,
    /// The log ends with lines no checkpoint covers while no recorder runs.
    UnsignedTail,
    /// A stored tile disagrees with the lines.
    TileMismatch,
    /// A clip's fragment list disagrees with its sealed record.
    FragmentsModified,
    /// The log no longer holds the checkpoint a previous verify checked.
    LogRewritten,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// 1-based manifest line the problem is attached to.
    pub line: u64,
    pub kind: ProblemKind,
    /// The clip file (or tile) involved, relative to the data dir.
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
    /// Clips whose SHA-256 was computed in this run.
    pub clips_hashed: u64,
    /// Clips not re-hashed because a previous verify hashed them (sizes were checked).
    pub clips_hashed_before: u64,
    /// The checkpoint line up to which a previous verify had checked everything, and that
    /// this run found unchanged.
    pub remembered_line: Option<u64>,
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
    /// Hash every clip, even those a previous verify hashed.
    pub full: bool,
    /// Pin the station key (verifier form): checkpoints must be signed by it.
    pub key: Option<String>,
    /// Threads hashing clips; 0 = one per CPU.
    pub threads: usize,
    /// `ledger.checkpoint_minutes`: how long lines may wait for a signature.
    pub checkpoint_interval: Option<Duration>,
}

/// A sealed clip whose file is checked.
#[derive(Debug, Clone)]
pub struct ClipJob {
    pub line: u64,
    pub clip: u64,
    pub file: String,
    pub size: u64,
    pub sha256: String,
    pub fragments_sha256: String,
}

/// Checks the whole data dir (see the module's header).
pub fn verify(data_dir: &Path, opts: &VerifyOptions) -> Result<Report, LedgerError> {
    verify_with_progress(data_dir, opts, &mut |_, _| {})
}

/// Files below `clips/` of a data dir, relative to it with `/` separators, with their sizes.
fn clip_files(data_dir: &Path) -> HashMap<String, u64> {
    fn walk(root: &Path, dir: &Path, out: &mut HashMap<String, u64>) {
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
    let mut out = HashMap::new();
    walk(data_dir, &data_dir.join("clips"), &mut out);
    out
}

/// What the chain pass leaves for the checks after it.
struct Passed {
    checkpoints: Vec<(u64, u64, merkle::Hash, String)>,
    tail: Option<(u64, String, bool)>,
    tail_late: Option<String>,
    interval: Option<Duration>,
    seen_hash: Option<String>,
    sealed_at: std::collections::BTreeMap<u64, chain::SealedAt>,
    pruned: chain::Bits,
    open_files: Vec<String>,
}

fn problem(
    report: &mut Report,
    line: u64,
    kind: ProblemKind,
    file: Option<String>,
    detail: String,
) {
    report.problems.push(Problem {
        line,
        kind,
        file,
        detail,
    });
}

/// [`verify`], calling `progress(bytes hashed, bytes to hash at most)` as clips are hashed.
pub fn verify_with_progress(
    data_dir: &Path,
    opts: &VerifyOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, LedgerError> {
    // --quick hashes nothing, but still checks that the log holds what was checked before.
    let remembered = if opts.full {
        None
    } else {
        remember::Remembered::load(data_dir)
    };
    let mut files = clip_files(data_dir);
    let mut report = Report {
        quick: opts.quick,
        ..Report::default()
    };
    let passed = pass(
        data_dir,
        opts,
        remembered.as_ref().map(|r| r.line),
        &mut report,
    )?;
    log_checks(data_dir, &passed, &mut report);
    // What a previous verify checked must still be there.
    let mut hashed_through = 0;
    if let Some(r) = &remembered {
        if passed.seen_hash.as_deref() == Some(r.line_sha256.as_str()) {
            report.remembered_line = Some(r.line);
            hashed_through = r.hashed_through;
        } else {
            let line = r.line.min(report.lines.max(1));
            problem(&mut report, line, ProblemKind::LogRewritten, None, format!(
                "the checkpoint verify checked at line {} on {} (a log of {} lines, root {}) is not in the log any more: the log was changed or replaced since",
                r.line, r.verified_at, r.size, r.root));
        }
    }
    let last_sealed = file_checks(
        data_dir,
        opts,
        &passed,
        hashed_through,
        &mut files,
        &mut report,
        progress,
    )?;
    let mut extra: Vec<String> = files.into_keys().collect();
    extra.sort();
    let lines = report.lines;
    for file in extra {
        problem(&mut report, lines, ProblemKind::ExtraFile, Some(file.clone()),
            format!("{file} is not named by any manifest record (added by hand, or its records were removed)"));
    }
    report.problems.sort_by_key(|p| p.line);
    if report.ok() && !opts.quick {
        if let Some((line, size, root, _)) = passed.checkpoints.last() {
            let through = last_sealed.max(hashed_through);
            remember::Remembered::save(data_dir, *line, *size, root, through);
        }
    }
    Ok(report)
}

/// Lines in a chunk of the pipeline.
const CHUNK: usize = 2048;

/// Reads the manifest and prepares its lines (hashes, parsing) on `threads` threads, handing
/// them to `apply` in order; stops when `apply` says so. Memory stays a few chunks.
fn read_prepared<R: std::io::BufRead + Send>(
    mut reader: crate::log::LineReader<R>,
    threads: usize,
    path: &Path,
    apply: &mut dyn FnMut(u64, u64, chain::Prepared) -> bool,
) -> Result<(), LedgerError> {
    type Chunk = (usize, Vec<(u64, u64, Vec<u8>)>);
    type Done = (usize, Vec<(u64, u64, chain::Prepared)>);
    let workers = threads.clamp(1, 8);
    let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<Chunk>(workers * 2);
    let job_rx = std::sync::Mutex::new(job_rx);
    let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<Done>(workers * 2);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (rx, tx) = (&job_rx, done_tx.clone());
            scope.spawn(move || loop {
                let job = match rx.lock() {
                    Ok(r) => r.recv(),
                    Err(_) => return,
                };
                let Ok((k, lines)) = job else { return };
                let out = lines
                    .into_iter()
                    .map(|(n, off, bytes)| (n, off, chain::Prepared::of(&bytes)))
                    .collect();
                if tx.send((k, out)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let feeder = scope.spawn(move || -> Result<(), LedgerError> {
            let mut k = 0;
            loop {
                let mut lines = Vec::with_capacity(CHUNK);
                while lines.len() < CHUNK {
                    match reader.next_line().map_err(|source| LedgerError::Io {
                        path: path.to_owned(),
                        what: "reading",
                        source,
                    })? {
                        Some(l) => lines.push(l),
                        None => break,
                    }
                }
                let last = lines.len() < CHUNK;
                if !lines.is_empty() && job_tx.send((k, lines)).is_err() {
                    return Ok(());
                }
                k += 1;
                if last {
                    return Ok(());
                }
            }
        });
        let mut next = 0usize;
        let mut waiting = std::collections::BTreeMap::new();
        let mut stopped = false;
        for (k, chunk) in done_rx.iter() {
            waiting.insert(k, chunk);
            while let Some(chunk) = waiting.remove(&next) {
                next += 1;
                if stopped {
                    continue;
                }
                for (n, off, p) in chunk {
                    if !apply(n, off, p) {
                        stopped = true;
                        break;
                    }
                }
            }
        }
        feeder.join().unwrap_or(Ok(()))
    })
}

/// Reads every line once through the chain checks.
fn pass(
    data_dir: &Path,
    opts: &VerifyOptions,
    want_line: Option<u64>,
    report: &mut Report,
) -> Result<Passed, LedgerError> {
    let path = data_dir.join(MANIFEST);
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
    let store = data_dir
        .join("tile")
        .is_dir()
        .then(|| TileStore::new(data_dir));
    let mut chain = chain::Chain::new(report, pinned, opts.checkpoint_interval, store);
    chain.want_line = want_line;
    let reader = open_manifest(data_dir)?;
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    read_prepared(reader, threads, &path, &mut |n, offset, prepared| {
        chain.offset = offset;
        chain.apply(n, prepared)
    })?;
    chain.finish();
    let now = crate::clock::format_time(chrono::Local::now().fixed_offset());
    Ok(Passed {
        checkpoints: std::mem::take(&mut chain.checkpoints),
        tail: chain.uncovered_tail(),
        tail_late: chain.tail_late(&now),
        interval: chain.interval(),
        seen_hash: chain.seen_line_hash.take(),
        sealed_at: std::mem::take(&mut chain.sealed_at),
        pruned: std::mem::take(&mut chain.pruned),
        open_files: chain.open_files(),
    })
}

/// The checks of the log as a whole: something signed it, nothing after the last signature
/// waited too long, the checkpoints are consistent.
fn log_checks(data_dir: &Path, p: &Passed, report: &mut Report) {
    let lines = report.lines;
    if lines > 0 && p.checkpoints.is_empty() && report.checkpoints == 0 {
        problem(report, lines, ProblemKind::NoCheckpoint, None,
            format!("the log has {lines} lines and no signed checkpoint: nothing in it is signed (the only checkpoint was removed?)"));
    }
    if let Some((first, _, crashed)) = &p.tail {
        if !datadir::writer_running(data_dir) && report.checkpoints > 0 {
            let why = if *crashed {
                "the recorder recovered from a crash and stopped before signing them"
            } else {
                "the recorder died (its next start records that and signs them), or the last checkpoint was removed"
            };
            problem(report, *first, ProblemKind::UnsignedTail, None, format!(
                "lines {first}..={lines} are not covered by a signed checkpoint and no recorder is running: {why}"));
        } else if let (Some(late), Some(interval)) = (&p.tail_late, p.interval) {
            problem(report, *first, ProblemKind::StaleCheckpoint, None, format!(
                "lines {first}..={lines} have waited {late} for a signed checkpoint (ledger.checkpoint_minutes is {} min)",
                interval.as_secs() / 60));
        }
    }
    consistency(data_dir, &p.checkpoints, report);
}

/// The file of every sealed clip not pruned: its size, and its SHA-256 and fragment list when
/// it was not hashed by an earlier clean verify (or with `--full`). Returns the last sealed
/// line checked.
fn file_checks(
    data_dir: &Path,
    opts: &VerifyOptions,
    p: &Passed,
    hashed_through: u64,
    files: &mut HashMap<String, u64>,
    report: &mut Report,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64, LedgerError> {
    let path = data_dir.join(MANIFEST);
    let manifest = std::fs::File::open(&path).map_err(|source| LedgerError::Io {
        path: path.clone(),
        what: "opening",
        source,
    })?;
    let mut jobs = Vec::new();
    for s in p.sealed_at.values().filter(|s| !p.pruned.contains(s.clip)) {
        let bytes =
            crate::log::state::read_at(&manifest, s.offset, s.len as usize).map_err(|source| {
                LedgerError::Io {
                    path: path.clone(),
                    what: "reading a sealed record again",
                    source,
                }
            })?;
        let named = match serde_json::from_slice::<Record>(&bytes).map(|r| r.body) {
            Ok(Body::ClipSealed {
                file,
                size,
                sha256,
                fragments_sha256,
                ..
            })
            | Ok(Body::OrphanRecovered {
                file,
                size,
                sha256,
                fragments_sha256,
                ..
            }) => Some((file, size, sha256, fragments_sha256)),
            _ => None,
        };
        if let Some((file, size, sha256, fragments_sha256)) = named {
            files.remove(&file);
            files.remove(&format!("{file}.fragments"));
            jobs.push(ClipJob {
                line: s.line,
                clip: s.clip,
                file,
                size,
                sha256,
                fragments_sha256,
            });
        }
    }
    for f in &p.open_files {
        files.remove(&format!("{f}.partial"));
        files.remove(f);
    }
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let hash = |j: &ClipJob| !opts.quick && (opts.full || j.line > hashed_through);
    let total: u64 = jobs.iter().filter(|j| hash(j)).map(|j| j.size).sum();
    let mut done = 0u64;
    let mut results = clips::check_all(data_dir, jobs, threads, &hash, &mut |n| {
        done += n;
        progress(done.min(total), total);
    });
    results.sort_by_key(|r| r.0.line);
    let mut last_sealed = 0;
    for (job, result, hashed) in results {
        last_sealed = last_sealed.max(job.line);
        match result {
            Ok(()) => {
                report.clips_ok += 1;
                if hashed {
                    report.clips_hashed += 1;
                    report.bytes_hashed += job.size;
                } else if !opts.quick {
                    report.clips_hashed_before += 1;
                }
            }
            Err((kind, detail)) => problem(
                report,
                job.line,
                kind,
                Some(job.file.clone()),
                format!("line {}: {detail}", job.line),
            ),
        }
    }
    Ok(last_sealed)
}

/// Every checkpoint extends the one before it. The pass already proved it (each checkpoint's
/// root is the tree of the very lines before it); this also checks RFC 9162 consistency
/// proofs computed from the stored tiles, between the first and the last checkpoint and
/// between the last two, as a monitor with only the tiles would.
fn consistency(data_dir: &Path, cps: &[(u64, u64, merkle::Hash, String)], report: &mut Report) {
    if cps.len() < 2 || !data_dir.join("tile").is_dir() {
        return;
    }
    let Ok(reader) = crate::log::reader::LogReader::open(data_dir) else {
        return;
    };
    let last = &cps[cps.len() - 1];
    for old in [&cps[0], &cps[cps.len() - 2]] {
        if old.1 == last.1 || last.1 > reader.size() {
            continue;
        }
        let ok = reader
            .consistency(old.1, last.1)
            .is_ok_and(|p| merkle::verify_consistency(old.1, last.1, &old.2, &last.2, &p));
        if !ok {
            report.problems.push(Problem {
                line: last.0,
                kind: ProblemKind::CheckpointMismatch,
                file: None,
                detail: format!(
                    "line {}: the consistency proof from the checkpoint at line {} ({} lines), computed from the stored tiles, does not verify; the tiles are damaged (`packwitness reindex` rebuilds them)",
                    last.0, old.0, old.1
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests;
