//! The clip files of sealed records, checked on a few threads: size, and when asked SHA-256
//! and the fragment list.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{ClipJob, ProblemKind};
use crate::media::fmp4::{self, FileProblem};

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

/// The fragment list beside a clip must be the one its record names: the SHA-256 over the
/// pieces' digests, and pieces that follow each other from byte 0 to the end of the file.
fn check_fragments(data_dir: &Path, job: &ClipJob) -> Result<(), (ProblemKind, String)> {
    if job.size == 0 {
        return Ok(());
    }
    let path = data_dir.join(&job.file);
    let list = format!("{}.fragments", job.file);
    let Some(frags) = fmp4::read_fragments(&path) else {
        return Err((
            ProblemKind::FragmentsModified,
            format!("{list} is missing or unreadable"),
        ));
    };
    if fmp4::fragments_digest(&frags) != job.fragments_sha256 {
        return Err((
            ProblemKind::FragmentsModified,
            format!("{list} was modified: its pieces do not hash to the sealed record's fragments_sha256"),
        ));
    }
    let mut at = 0;
    for f in &frags {
        if f.offset != at {
            return Err((
                ProblemKind::FragmentsModified,
                format!(
                    "{list}: a piece starts at byte {} where {at} was expected",
                    f.offset
                ),
            ));
        }
        at += f.len;
    }
    if at != job.size {
        return Err((
            ProblemKind::FragmentsModified,
            format!(
                "{list}: the pieces cover {at} bytes, the clip has {}",
                job.size
            ),
        ));
    }
    Ok(())
}

/// The result of one clip: `Err` with what is wrong.
pub type Checked = (ClipJob, Result<(), (ProblemKind, String)>, bool);

/// Checks clips on `threads` threads; `hash(job)` says which to hash. Returns each job with
/// its result and whether it was hashed.
pub fn check_all(
    data_dir: &Path,
    jobs: Vec<ClipJob>,
    threads: usize,
    hash: &(dyn Fn(&ClipJob) -> bool + Sync),
    progress: &mut dyn FnMut(u64),
) -> Vec<Checked> {
    let threads = threads.clamp(1, jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel();
    let mut out = Vec::with_capacity(jobs.len());
    let jobs = &jobs;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let hashed = hash(job);
                let mut result =
                    check_clip(data_dir, &job.file, job.size, &job.sha256, !hashed);
                if let Err((kind, detail)) = &result {
                    // Point at the first piece that changed, when the fragment list allows it.
                    if matches!(kind, ProblemKind::ClipModified | ProblemKind::ClipTruncated) {
                        if let Some((i, f)) = fmp4::first_bad_fragment(
                            &data_dir.join(&job.file),
                            &job.fragments_sha256,
                        ) {
                            result = Err((*kind, format!(
                                "{detail}; the first difference is in bytes {}..{} (piece {} of the file)",
                                f.offset, f.offset + f.len, i + 1)));
                        }
                    }
                } else if hashed {
                    result = check_fragments(data_dir, job);
                }
                if tx.send((job.clone(), result, hashed)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for r in rx {
            if r.2 {
                progress(r.0.size);
            }
            out.push(r);
        }
    });
    out
}
