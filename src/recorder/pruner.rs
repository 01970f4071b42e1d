//! The pruner: retention while recording, on a thread of its own.
//!
//! Owns: when retention runs (at start, once a minute, and at once when the free space falls
//! under the floor, which it looks at every 5 s), which clips it removes (the oldest
//! [`retention::CANDIDATES`] the index offers, planned by [`retention::plan`]), and sending each
//! prune to the writer ([`WriterHandle::prune`]), which writes the `pruned` record, then
//! deletes the file.
//! Never: writes a record or deletes a file itself, or makes the writer wait on the index
//! (this thread reads it; the writer only appends).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::writer::WriterHandle;
use crate::clock::SharedClock;
use crate::config::RetentionConfig;
use crate::datadir;
use crate::error::Error;
use crate::index::Index;
use crate::retention;

/// How often retention runs while recording.
const EVERY: Duration = Duration::from_secs(60);
/// How often the free space is compared with the floor: a disk that fills up is made room
/// on before a write fails.
const SPACE_EVERY: Duration = Duration::from_secs(5);

/// The pruner thread of a recording process.
pub struct Pruner {
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Pruner {
    /// Starts retention on `data_dir` with `policy`, sending prunes to `writer`.
    /// With `[archive]` (`archiving`), `receipts` asks the archive which clips it holds.
    pub fn start(
        data_dir: &Path,
        policy: RetentionConfig,
        writer: WriterHandle,
        clock: SharedClock,
        archiving: bool,
        receipts: Option<Receipts>,
    ) -> Result<Pruner, Error> {
        let (stop, rx) = mpsc::channel();
        let dir = data_dir.to_owned();
        let thread = std::thread::Builder::new()
            .name("pruner".into())
            .spawn(move || {
                let p = Pass {
                    dir,
                    policy,
                    writer,
                    clock,
                    archiving,
                    receipts,
                };
                let mut last: Option<Duration> = None;
                loop {
                    let low = p.under_floor();
                    let now = p.clock.monotonic();
                    if low || last.is_none_or(|t| now.saturating_sub(t) >= EVERY) {
                        last = Some(now);
                        if let Err(e) = p.run(&rx) {
                            tracing::error!(error = %e, "retention could not remove clips; it tries again in a minute");
                        }
                    }
                    match crate::clock::recv_timeout(p.clock.as_ref(), &rx, SPACE_EVERY) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                }
            })
            .map_err(|e| Error::internal(format!("cannot start the pruner thread: {e}")))?;
        Ok(Pruner {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops it (between two prunes at most).
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Pruner {
    fn drop(&mut self) {
        self.finish();
    }
}

/// What one retention pass needs.
struct Pass {
    dir: PathBuf,
    policy: RetentionConfig,
    writer: WriterHandle,
    clock: SharedClock,
    archiving: bool,
    receipts: Option<Receipts>,
}

impl Pass {
    /// The floor in force (the writer measures the rate it comes from).
    fn floor(&self) -> u64 {
        self.writer.stats().free_floor
    }

    fn under_floor(&self) -> bool {
        let floor = self.floor();
        let low = floor > 0
            && self.writer.disk().ok()
            && datadir::free_bytes(&self.dir).is_ok_and(|b| b < floor);
        if low {
            tracing::warn!(dir = %self.dir.display(), floor_mb = floor / (1024 * 1024), "free space under the [retention] floor (min_free_mb, reserve_minutes): applying retention now");
        }
        low
    }

    /// One pass: plan from the oldest candidates, prune each (stopping early when asked).
    fn run(&self, stop: &mpsc::Receiver<()>) -> Result<usize, Error> {
        let floor = self.floor();
        let by_age = self.policy.keep_days > 0 || self.policy.keep_days_after_archive > 0;
        if (!by_age && floor == 0) || !self.writer.disk().ok() {
            return Ok(0);
        }
        let index = Index::open_read(&self.dir)?;
        let now_ms = self.clock.now().timestamp_millis();
        let archive = if self.archiving {
            Archive::On(self.receipts.as_ref())
        } else {
            Archive::Off
        };
        let planned = plan_from_index(&index, &self.dir, &self.policy, floor, now_ms, archive)?;
        let mut done = 0;
        for p in &planned {
            if !matches!(stop.try_recv(), Err(mpsc::TryRecvError::Empty)) {
                break;
            }
            // Looked at again just before: a hold since the candidates were read wins.
            if index.held(p.clip)? {
                continue;
            }
            let Some(file) = index.sealed_file(p.clip)? else {
                continue;
            };
            match self.writer.prune(p.clip, &file, &p.reason) {
                Ok(_) => {
                    done += 1;
                    tracing::warn!(clip = p.clip, order = %p.order, bytes = p.size, reason = %p.reason, "clip removed by retention (its records and hashes stay in the manifest)");
                }
                Err(e) => {
                    tracing::error!(clip = p.clip, error = %e, "retention could not remove a clip");
                }
            }
        }
        Ok(done)
    }
}

/// Asks the archive whether it holds a clip (its SHA-256): the receipt to name in the
/// `pruned` record when it does, `None` when it does not; an error when it cannot say now.
pub type Receipts = Arc<dyn Fn(&str) -> Result<Option<String>, String> + Send + Sync>;

/// Whether clips are archived, and how to ask.
#[derive(Clone, Copy)]
pub enum Archive<'a> {
    /// No `[archive]`: retention goes by age and space alone.
    Off,
    /// `[archive]`: only clips the archive confirmed go for age, and they go first for space;
    /// `None` when the archive cannot be asked here (no clip is then confirmed).
    On(Option<&'a Receipts>),
}

/// At most this many clips are asked about in one pass (a minute apart).
const ASK_PER_PASS: usize = 100;
/// The time one pass may spend asking, and under the free-space floor.
const ASK_BUDGET: Duration = Duration::from_secs(30);
const ASK_WHEN_LOW: Duration = Duration::from_secs(3);

/// Fills in `archived` for the oldest candidates retention could remove now.
fn ask_archive(
    candidates: &mut [retention::Candidate],
    receipts: &Receipts,
    policy: &RetentionConfig,
    floor: u64,
    dir: &Path,
    now_ms: i64,
) {
    const DAY_MS: i64 = 24 * 3600 * 1000;
    let days = [policy.keep_days, policy.keep_days_after_archive]
        .into_iter()
        .filter(|d| *d > 0)
        .min();
    let low = floor > 0 && datadir::free_bytes(dir).is_ok_and(|f| f < floor);
    // A disk filling up does not wait on a slow archive: then the questions get a few
    // seconds in all, and what was not confirmed counts as not archived.
    let budget = std::time::Instant::now() + if low { ASK_WHEN_LOW } else { ASK_BUDGET };
    let mut asked = 0;
    for c in candidates.iter_mut() {
        if std::time::Instant::now() > budget {
            break;
        }
        let age = now_ms - c.scanned_ms;
        let by_age = days.is_some_and(|d| age > i64::from(d) * DAY_MS);
        let by_space = low && age >= i64::from(policy.min_age_hours) * 3600 * 1000;
        if !(by_age || by_space) {
            // Oldest first: the rest are younger still.
            break;
        }
        if c.sha256.is_empty() || asked == ASK_PER_PASS {
            continue;
        }
        asked += 1;
        match receipts(&c.sha256) {
            Ok(r) => c.archived = r,
            Err(e) => {
                tracing::info!(error = %e, "cannot ask the archive which clips it holds; no clip is removed for age until it answers");
                break;
            }
        }
    }
}

/// What retention removes now: the plan ([`retention::plan`]) over the oldest
/// [`retention::CANDIDATES`] clips the index offers, at the free space of `dir` and the
/// floor `floor`; says so in the log when even that will not bring the disk above the floor.
pub(super) fn plan_from_index(
    index: &Index,
    dir: &Path,
    policy: &RetentionConfig,
    floor: u64,
    now_ms: i64,
    archive: Archive<'_>,
) -> Result<Vec<retention::Planned>, Error> {
    let mut candidates: Vec<retention::Candidate> = index
        .retention_candidates(retention::CANDIDATES)?
        .into_iter()
        .map(|c| retention::Candidate {
            clip: c.clip,
            order: c.order,
            scanned_ms: c.scanned_ms,
            size: c.size,
            sha256: c.sha256,
            archived: None,
        })
        .collect();
    if let Archive::On(Some(receipts)) = archive {
        ask_archive(&mut candidates, receipts, policy, floor, dir, now_ms);
    }
    let free = match datadir::free_bytes(dir) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(dir = %dir.display(), error = %e, "cannot read the free space; only the age limit applies");
            u64::MAX
        }
    };
    let archiving = !matches!(archive, Archive::Off);
    let planned = retention::plan(&candidates, now_ms, policy, free, floor, archiving);
    let freed: u64 = planned.iter().map(|p| p.size).sum();
    if floor > 0 && free.saturating_add(freed) < floor {
        tracing::error!(
            free_mb = free / (1024 * 1024),
            floor_mb = floor / (1024 * 1024),
            min_free_mb = policy.min_free_mb,
            reserve_minutes = policy.reserve_minutes,
            "the disk is nearly full and no more clips may be removed (held, or younger than min_age_hours); free space or add disk before recording stops"
        );
    }
    Ok(planned)
}
