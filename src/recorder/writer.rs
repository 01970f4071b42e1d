//! The writer: the one place of a process that appends to the manifest.
//!
//! Owns: the [`Writer`] (the ledger, the index it keeps current, the signing key, checkpoints
//! on a count and on a timer, the data disk check, the prunes the pruner thread sends), the writer thread that cameras, scanners and the web
//! server of a process talk to by message ([`WriterHandle`]), what it did lately (the last
//! checkpoint, a failed write) for the status, and [`open_appender`], which gives a command
//! the writer or, when a recorder holds the data dir, its socket ([`super::socket`]).
//! Never: holds a lock that a camera waits on while it fsyncs: a camera sends its record and
//! waits for that record's reply only; clip files are written and fsynced by each camera's
//! own thread.
//!
//! Group commit: the writer thread takes every request waiting in its queue, writes their
//! records together and fsyncs once, then answers each.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::SharedClock;
use crate::config::{Config, RetentionConfig};
use crate::datadir;
use crate::error::{Error, ErrorKind};
use crate::index::Index;
use crate::log::note::StationKey;
use crate::log::{Body, Ledger, Record};
use crate::media::fmp4;
use crate::retention;

use super::disk::{self, DataDisk, DiskProblem};
pub use super::socket::recorder_status;

/// Called with every record once it is durable (on the writer's thread).
pub type Observer = Box<dyn Fn(&Record) + Send>;

/// Builds a record for the `seq` it will get.
pub type MakeRecord = Box<dyn FnOnce(u64) -> Body + Send>;

/// With anchoring on, a seal is checkpointed (and so anchored) this long after it: the seals
/// of one scan's cameras share a checkpoint.
const SEAL_BURST: Duration = Duration::from_secs(1);
/// How often a manifest whose write failed is opened again.
const REOPEN_EVERY: Duration = Duration::from_secs(2);

/// Loads the data dir's signing key, creating it (named after the first station) if missing.
/// One key signs the manifest of a data dir, whatever the number of its stations.
pub fn load_key(data_dir: &Path, config: &Config) -> Result<StationKey, Error> {
    Ok(StationKey::for_data_dir(data_dir, config)?)
}

/// What the writer did lately, for the status (shared with its handles).
#[derive(Debug, Clone, Default)]
pub struct WriterStats {
    /// Time (`at`) of the last checkpoint written by this process, and when (monotonic).
    pub last_checkpoint_at: Option<String>,
    pub last_checkpoint_mono: Option<Duration>,
    /// Set when a write failed: records wait in memory until the manifest, opened again
    /// every [`REOPEN_EVERY`], can be written.
    pub broken: Option<String>,
    /// The free space retention keeps (`min_free_mb` or `reserve_minutes` at the measured
    /// rate), and that rate (bytes a second while every camera records).
    pub free_floor: u64,
    pub recording_bytes_per_s: f64,
    /// Records kept in memory until the manifest can be written again.
    pub deferred: usize,
    /// Times the indexer thread stopped (the index could not be updated) and was started
    /// again: lookups lag meanwhile; nothing recorded waits on it.
    pub indexer_restarts: u64,
}

/// How often a stopped indexer is started again.
const INDEXER_RETRY: Duration = Duration::from_secs(30);

/// The recording process's status now, for `packwitness status` over the socket.
pub type StatusFn = Box<dyn Fn() -> super::status::ProcessStatus + Send + Sync>;

/// The appending side of a data dir, with everything that must happen around an append.
pub struct Writer {
    stats: Arc<Mutex<WriterStats>>,
    /// The orders the stations had open when the process before died.
    resumable: Vec<crate::log::state::OpenOrderState>,
    ledger: Ledger,
    /// Keeps the lookup index up to date on its own thread.
    indexer: Option<super::indexer::Indexer>,
    data_dir: PathBuf,
    key: StationKey,
    clock: SharedClock,
    checkpoint_every: u64,
    checkpoint_interval: Duration,
    /// Monotonic time of the last checkpoint.
    last_checkpoint: Duration,
    /// With anchoring or archiving on (`[anchor]`, `[archive]`), when the first seal after the last checkpoint was
    /// written: a burst of seals gets its checkpoint (and so its anchor) a second later.
    anchoring: bool,
    seal_burst: Option<Duration>,
    /// `[archive]` is set: retention removes for age only what the archive confirmed.
    archiving: bool,
    retention: RetentionConfig,
    /// The recording rate measured from the sealed clips: what `reserve_minutes` is.
    rate: retention::RecordingRate,
    last_reopen: Option<Duration>,
    observer: Option<Observer>,
    /// The data disk as last looked at, shared with cameras and stations.
    disk: Arc<DataDisk>,
    last_look: Option<Duration>,
    /// Records that could not be written yet (the disk is missing or the manifest failed),
    /// written first, in order, when it can be written again.
    deferred: VecDeque<Body>,
    /// Clips whose camera gave up on their file (it could not be finished): sealed here from
    /// what is on disk, as after a crash, once the disk can be written.
    abandoned: Vec<u64>,
    /// Clips put under hold (and not released) by records this writer appended: a prune the
    /// pruner chose from an index that had not seen the hold yet is refused.
    held_here: std::collections::HashSet<u64>,
    last_indexer_start: Duration,
}

/// Records kept in memory while the manifest cannot be written: about a day of a busy
/// station's scans; past it, a scan is refused rather than the process growing without end.
const DEFERRED_MAX: usize = 100_000;
/// How often the data dir's path is looked at (besides before every append).
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// The recording rate of the last clips the index knows (the newest 200, so a start reads
/// no more for a log of years); nothing when the index cannot be read yet.
fn seed_rate(data_dir: &Path) -> retention::RecordingRate {
    let mut rate = retention::RecordingRate::default();
    let recent =
        Index::open_read(data_dir).and_then(|i| i.recent_sealed_sizes(200).map_err(Error::from));
    match recent {
        Ok(clips) => {
            // Oldest first, so the newest weigh most in the average.
            for c in clips.iter().rev() {
                rate.observe(&c.0, &c.1, c.2, c.3);
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, "no recording rate from the index yet");
        }
    }
    rate
}

impl Writer {
    /// Opens the data dir for writing: takes the writer lock, repairs a torn manifest line,
    /// brings the index up to date, loads (or creates) the signing key, and seals every clip
    /// a crash left open.
    pub fn open(data_dir: &Path, config: &Config, clock: SharedClock) -> Result<Writer, Error> {
        let ledger = Ledger::open(data_dir, clock.as_ref())?;
        let opened = ledger.opened.clone();
        let key = load_key(data_dir, config)?;
        let resumable = if opened.unclean {
            ledger.state().orders.clone()
        } else {
            Vec::new()
        };
        let mut w = Writer {
            stats: Arc::default(),
            resumable,
            ledger,
            indexer: Some(super::indexer::Indexer::start(data_dir)?),
            data_dir: data_dir.to_owned(),
            key,
            last_checkpoint: clock.monotonic(),
            anchoring: !config.anchor.tsa.is_empty()
                || !config.anchor.witness.is_empty()
                || !config.archive.url.is_empty(),
            seal_burst: None,
            archiving: !config.archive.url.is_empty(),
            clock,
            checkpoint_every: config.ledger.checkpoint_every,
            checkpoint_interval: Duration::from_secs(config.ledger.checkpoint_minutes * 60),
            retention: config.retention.clone(),
            rate: seed_rate(data_dir),
            last_reopen: None,
            observer: None,
            disk: Arc::default(),
            last_look: None,
            deferred: VecDeque::new(),
            abandoned: Vec::new(),
            held_here: Default::default(),
            last_indexer_start: Duration::ZERO,
        };
        if let Some(why) = &opened.rebuilt {
            tracing::warn!(why = %why, lines = opened.lines_read, "tiles and line offsets rebuilt from the manifest");
        }
        if opened.unclean {
            // The process before died: say so, seal what it left open, and sign it all.
            let state = w.ledger.state();
            let (last_checkpoint, to) = (state.last_checkpoint, state.size);
            w.append(Body::CrashRecovered {
                last_checkpoint,
                from: last_checkpoint + 1,
                to,
            })?;
        }
        w.publish_floor();
        super::recovery::seal_interrupted(&mut w)?;
        let orphans = super::recovery::recover_orphans(&mut w)?;
        if opened.unclean || orphans > 0 {
            w.checkpoint()?;
        }
        Ok(w)
    }

    /// The orders the stations had open when the process before this one died (empty after a
    /// clean stop): a recorder resumes them.
    pub fn take_resumable(&mut self) -> Vec<crate::log::state::OpenOrderState> {
        std::mem::take(&mut self.resumable)
    }

    /// Calls `observer` with every record from now on, once it is durable.
    pub fn set_observer(&mut self, observer: Observer) {
        self.observer = Some(observer);
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The station's public key, in signed-note verifier form.
    pub fn verifier(&self) -> String {
        self.key.verifier()
    }

    /// From now on the manifest's writes and fsyncs ask `faults` first (tests of a disk that
    /// fails).
    pub fn set_faults(&mut self, faults: Option<crate::diskfile::SharedFaults>) {
        self.ledger.set_faults(faults);
    }

    /// What the ledger knows of its log: the open clips, the last checkpoint, the key.
    pub fn log_state(&self) -> &crate::log::state::LogState {
        self.ledger.state()
    }

    /// Appends a record durably, brings the index up to date, and writes a checkpoint when
    /// `checkpoint_every` records have passed.
    pub fn append(&mut self, body: Body) -> Result<Record, Error> {
        let mut recs = self.append_batch(vec![Box::new(move |_| body)])?;
        recs.pop()
            .ok_or_else(|| Error::internal("an append returned no record"))
    }

    /// Appends the records `makers` build, with one fsync (see [`Ledger::append_batch`]),
    /// after the records deferred before them. Refused at once while the data disk is
    /// missing, replaced or unwritable.
    pub fn append_batch(&mut self, makers: Vec<MakeRecord>) -> Result<Vec<Record>, Error> {
        self.writable()?;
        let recs = self.ledger.append_batch(makers, self.clock.as_ref())?;
        self.after_append(&recs);
        if self.ledger.since_checkpoint() >= self.checkpoint_every {
            self.checkpoint()?;
        }
        Ok(recs)
    }

    /// The data disk this writer watches (shared with cameras and stations).
    pub fn disk(&self) -> Arc<DataDisk> {
        self.disk.clone()
    }

    /// Ok when records can be appended now: the data disk was looked at (see
    /// [`disk::look`]), a disk that came back was opened again, and the records deferred
    /// meanwhile are written. Else why not.
    fn writable(&mut self) -> Result<(), Error> {
        self.look_at_disk();
        if let Some(d) = self.disk.problem() {
            return Err(Error::msg(
                ErrorKind::Unavailable,
                format!("{} ({})", d.problem.advice(), d.what),
            ));
        }
        if let Some(b) = self.ledger.broken() {
            return Err(Error::msg(
                ErrorKind::Unavailable,
                format!(
                    "the manifest cannot be written ({b}); it is tried again every few seconds"
                ),
            ));
        }
        self.drain_deferred()
    }

    /// Looks at the data dir (see [`disk::look`]) and acts on what changed: a disk gone is
    /// published at once; one that came back is opened again (the ledger, the indexer) before
    /// anything is written to it.
    fn look_at_disk(&mut self) {
        let now = self.clock.monotonic();
        self.last_look = Some(now);
        let found = match self.ledger.identity() {
            Ok((file, last_start)) => {
                let st = self.ledger.state();
                let sha = st.last_sha256.clone();
                let known = disk::Known {
                    file,
                    end: st.end,
                    last_line: (st.size > 0).then_some((last_start, sha.as_str())),
                };
                disk::look(&self.data_dir, &known)
            }
            Err(e) => Err((
                DiskProblem::Unwritable,
                format!("cannot stat the open manifest: {e}"),
            )),
        };
        let at = crate::clock::format_time(self.clock.now());
        let found = match found {
            Ok(looked) => {
                self.disk.seen_dir(looked.dir);
                match looked.seen {
                    // Back, a failed write, or derived files left behind: open the manifest
                    // again (which also catches the tiles and offsets up while it runs).
                    disk::Seen::Same
                        if self.disk.ok()
                            && self.ledger.broken().is_none()
                            && !self.ledger.derived_stale() =>
                    {
                        Ok(())
                    }
                    _ => self.open_again(now),
                }
            }
            Err(e) => Err(e),
        };
        let was_ok = self.disk.ok();
        if self.disk.set(found, &at) {
            match self.disk.problem() {
                Some(d) => {
                    tracing::error!(dir = %self.data_dir.display(), what = %d.what, "NOT RECORDING: {}", d.problem.advice())
                }
                None if !was_ok => {
                    tracing::warn!(dir = %self.data_dir.display(), "the data disk is back: recording resumes")
                }
                None => {}
            }
        }
    }

    /// Opens the manifest again after the disk came back or a write failed (at most every
    /// [`REOPEN_EVERY`]), and the indexer with it.
    fn open_again(&mut self, now: Duration) -> Result<(), (DiskProblem, String)> {
        if self.last_reopen.is_some_and(|t| {
            now.saturating_sub(t) < REOPEN_EVERY
                && (self.ledger.broken().is_some() || self.ledger.derived_stale())
        }) {
            if self.ledger.broken().is_none() {
                return Ok(()); // derived files only: tried again shortly
            }
            return Err((
                DiskProblem::Unwritable,
                self.ledger.broken().unwrap_or_default().to_string(),
            ));
        }
        self.last_reopen = Some(now);
        let before = self.ledger.state().size;
        if let Err(e) = self.ledger.reopen(self.clock.as_ref()) {
            tracing::error!(error = %e, "the manifest is still not writable; trying again in a few seconds");
            return Err((DiskProblem::Unwritable, e.to_string()));
        }
        if self.ledger.state().size < before {
            // Never: look() checked that the file ends with our last line.
            return Err((
                DiskProblem::Replaced,
                "the manifest there is shorter than the one written".into(),
            ));
        }
        if let Ok(mut st) = self.stats.lock() {
            st.broken = None;
        }
        // The index lives on the same disk: its connection went with it.
        if let Some(old) = self.indexer.take() {
            old.stop();
        }
        match super::indexer::Indexer::start(&self.data_dir) {
            Ok(i) => self.indexer = Some(i),
            Err(e) => {
                tracing::error!(error = %e, "the indexer could not start again; lookups lag until the next start")
            }
        }
        Ok(())
    }

    /// Starts the indexer again when its thread stopped (at most every [`INDEXER_RETRY`]),
    /// and says so: never waited on, always reported.
    fn keep_indexer(&mut self, now: Duration) {
        if self.indexer.as_ref().is_some_and(|i| i.alive())
            || now.saturating_sub(self.last_indexer_start) < INDEXER_RETRY
        {
            return;
        }
        self.last_indexer_start = now;
        if let Some(old) = self.indexer.take() {
            old.stop();
        }
        match super::indexer::Indexer::start(&self.data_dir) {
            Ok(i) => {
                self.indexer = Some(i);
                if let Ok(mut st) = self.stats.lock() {
                    st.indexer_restarts += 1;
                }
                tracing::warn!(dir = %self.data_dir.display(), "the lookup indexer had stopped; started again");
            }
            Err(e) => {
                tracing::error!(error = %e, "the lookup indexer cannot start; lookups lag until it can")
            }
        }
    }

    /// Writes the deferred records, oldest first, in one batch.
    fn drain_deferred(&mut self) -> Result<(), Error> {
        if self.deferred.is_empty() {
            return Ok(());
        }
        let bodies: Vec<Body> = self.deferred.iter().cloned().collect();
        let makers: Vec<MakeRecord> = bodies
            .into_iter()
            .map(|b| Box::new(move |_| b) as MakeRecord)
            .collect();
        let n = makers.len();
        let recs = self.ledger.append_batch(makers, self.clock.as_ref())?;
        self.deferred.clear();
        if let Ok(mut st) = self.stats.lock() {
            st.deferred = 0;
        }
        tracing::warn!(
            records = n,
            "records kept while the manifest could not be written are written now"
        );
        self.after_append(&recs);
        Ok(())
    }

    /// Appends `body` now if the manifest can be written, else keeps it to write first when
    /// it can (`Ok(None)`). Refused only when [`DEFERRED_MAX`] records wait already.
    pub fn append_or_defer(&mut self, body: Body) -> Result<Option<Record>, Error> {
        if self.writable().is_ok() {
            let b = body.clone();
            match self.append(b) {
                Ok(r) => return Ok(Some(r)),
                Err(e) => {
                    tracing::error!(error = %e, "a record could not be written; it is kept and written when the manifest can be");
                }
            }
        }
        if self.deferred.len() >= DEFERRED_MAX {
            return Err(Error::msg(
                ErrorKind::Unavailable,
                format!("{DEFERRED_MAX} records already wait for the manifest to be writable; this one is refused"),
            ));
        }
        self.deferred.push_back(body);
        if let Ok(mut st) = self.stats.lock() {
            st.deferred = self.deferred.len();
        }
        Ok(None)
    }

    /// Records waiting for the manifest to be writable.
    pub fn deferred(&self) -> usize {
        self.deferred.len()
    }

    /// Takes over a clip whose camera could not finish its file: it is sealed from what is on
    /// disk (reason `error`) as soon as the disk can be written.
    pub fn abandon(&mut self, clip: u64) {
        if !self.abandoned.contains(&clip) {
            self.abandoned.push(clip);
        }
        self.seal_abandoned();
    }

    fn seal_abandoned(&mut self) {
        if self.abandoned.is_empty() || self.writable().is_err() {
            return;
        }
        let clips = std::mem::take(&mut self.abandoned);
        match super::recovery::seal_clips(self, &clips, crate::log::SealReason::Error) {
            Ok(left) => self.abandoned = left,
            Err(e) => {
                tracing::error!(error = %e, "clips given up by their camera could not be sealed yet; trying again");
                self.abandoned = clips;
            }
        }
    }

    /// Tells the status the free-space floor in force and the rate it comes from.
    fn publish_floor(&self) {
        if let Ok(mut st) = self.stats.lock() {
            st.free_floor = self.rate.floor_bytes(&self.retention);
            st.recording_bytes_per_s = self.rate.bytes_per_s();
        }
    }

    /// Index and observer, after records are durable. The indexer is only told (it never
    /// makes an append wait); the index can always be rebuilt: the manifest is what counts.
    fn after_append(&mut self, recs: &[Record]) {
        if self.anchoring
            && self.seal_burst.is_none()
            && recs
                .iter()
                .any(|r| matches!(r.body, Body::ClipSealed { .. }))
        {
            self.seal_burst = Some(self.clock.monotonic());
        }
        if let Ok(mut st) = self.stats.lock() {
            if let Some(cp) = recs
                .iter()
                .rev()
                .find(|r| matches!(r.body, Body::Checkpoint { .. }))
            {
                st.last_checkpoint_at = Some(cp.at.clone());
                st.last_checkpoint_mono = Some(self.clock.monotonic());
            }
            st.broken = self.ledger.broken().map(str::to_string);
        }
        for r in recs {
            if let Body::Hold {
                clips, released, ..
            } = &r.body
            {
                for c in clips {
                    if *released {
                        self.held_here.remove(c);
                    } else {
                        self.held_here.insert(*c);
                    }
                }
            }
            if let Body::ClipSealed {
                station,
                camera,
                size,
                duration_ms,
                ..
            } = &r.body
            {
                self.rate.observe(station, camera, *size, *duration_ms);
            }
        }
        self.publish_floor();
        if let Some(indexer) = &self.indexer {
            indexer.appended();
        }
        if let Some(observer) = &self.observer {
            for r in recs {
                observer(r);
            }
        }
    }

    /// Writes a signed checkpoint over everything so far (nothing if the last line is one).
    pub fn checkpoint(&mut self) -> Result<Option<Record>, Error> {
        self.writable()?;
        let rec = self.ledger.checkpoint(&self.key, self.clock.as_ref())?;
        self.last_checkpoint = self.clock.monotonic();
        self.seal_burst = None;
        if let Some(r) = &rec {
            self.after_append(std::slice::from_ref(r));
        }
        Ok(rec)
    }

    /// What the timer does: the data disk looked at, what waited written, a checkpoint when
    /// `checkpoint_minutes` passed with records after the last one (or a second after a
    /// burst of seals while anchoring). Returns how long until it is due again. Retention is
    /// not the writer's: the pruner thread sends it prunes ([`Writer::prune_file`]).
    pub fn tick(&mut self) -> Result<Duration, Error> {
        let now = self.clock.monotonic();
        // The data disk (gone, back, replaced) and a failed write (a full disk): looked at a
        // few times a second, the manifest opened again when it can be.
        if self
            .last_look
            .is_none_or(|t| now.saturating_sub(t) >= LOOK_EVERY)
            || self.ledger.broken().is_some()
            || self.ledger.derived_stale()
        {
            self.look_at_disk();
        }
        if !self.disk.ok() || self.ledger.broken().is_some() {
            return Ok(LOOK_EVERY);
        }
        if let Err(e) = self.drain_deferred() {
            tracing::error!(error = %e, "the records kept while the manifest could not be written are not written yet");
            return Ok(LOOK_EVERY);
        }
        self.seal_abandoned();
        self.keep_indexer(now);
        let since = now.saturating_sub(self.last_checkpoint);
        let burst_due = self
            .seal_burst
            .is_some_and(|t| now.saturating_sub(t) >= SEAL_BURST);
        if self.ledger.since_checkpoint() > 0 && (since >= self.checkpoint_interval || burst_due) {
            self.checkpoint()?;
        }
        let now = self.clock.monotonic();
        let to_checkpoint = self
            .checkpoint_interval
            .saturating_sub(now.saturating_sub(self.last_checkpoint))
            .min(self.seal_burst.map_or(Duration::MAX, |t| {
                SEAL_BURST.saturating_sub(now.saturating_sub(t))
            }));
        Ok(to_checkpoint.min(LOOK_EVERY).max(Duration::from_millis(50)))
    }

    /// Replaces the station key: the key in force signs a `key_rotation` record naming the new
    /// one, the next checkpoint is signed by the new key, and the old key file is kept aside
    /// (`<key file>.old-<unix ms>`). Returns (old, new) verifier keys.
    pub fn rotate_key(&mut self, config: &Config) -> Result<(String, String), Error> {
        let path = datadir::key_path(&self.data_dir, &config.ledger.key_file);
        let new = StationKey::generate(&config.first_station().id).map_err(Error::internal)?;
        let (old_v, new_v) = (self.key.verifier(), new.verifier());
        let body = format!("packwitness key rotation\nold {old_v}\nnew {new_v}\n");
        let note = self.key.sign(&body);
        self.append(Body::KeyRotation {
            old: old_v.clone(),
            new: new_v.clone(),
            note,
        })?;
        let aside = path.with_extension(format!("old-{}", self.clock.now().timestamp_millis()));
        std::fs::rename(&path, &aside).map_err(|e| {
            Error::msg(
                ErrorKind::Io,
                format!("cannot keep the old key aside as {}: {e}", aside.display()),
            )
        })?;
        new.save_new(&path)?;
        self.key = new;
        self.checkpoint()?;
        Ok((old_v, new_v))
    }

    /// Applies a retention policy now: plans, and (unless `dry_run`) prunes each chosen clip.
    /// Returns what was (or would be) removed. Under the free-space floor with nothing left
    /// that may be removed, says so in the log.
    pub fn apply_retention(
        &mut self,
        policy: &RetentionConfig,
        dry_run: bool,
    ) -> Result<Vec<retention::Planned>, Error> {
        let floor = self.rate.floor_bytes(policy);
        if policy.keep_days == 0 && policy.keep_days_after_archive == 0 && floor == 0 {
            return Ok(Vec::new());
        }
        let index = Index::open_read(&self.data_dir)?;
        let now_ms = self.clock.now().timestamp_millis();
        // Offline (`packwitness prune`) the archive is not asked: with one, no clip counts as
        // confirmed, so nothing goes for age.
        let archive = if self.archiving {
            super::pruner::Archive::On(None)
        } else {
            super::pruner::Archive::Off
        };
        let planned =
            super::pruner::plan_from_index(&index, &self.data_dir, policy, floor, now_ms, archive)?;
        drop(index);
        if !dry_run {
            for p in &planned {
                self.prune(p.clip, &p.reason)?;
                tracing::warn!(clip = p.clip, order = %p.order, bytes = p.size, reason = %p.reason, "clip removed by retention (its records and hashes stay in the manifest)");
            }
        }
        Ok(planned)
    }

    /// Removes a sealed clip's file for retention. The `pruned` record is written (and
    /// fsynced) first, then the file and its fragment list are deleted: a crash in between
    /// leaves a file that is merely still there, never one missing without a record.
    pub fn prune(&mut self, clip: u64, reason: &str) -> Result<Record, Error> {
        let index = Index::open_read(&self.data_dir)?;
        if index.held(clip)? {
            return Err(Error::msg(
                ErrorKind::Conflict,
                format!("clip {clip} is under legal hold and is never pruned; lift the hold with `packwitness hold CODE --release` first"),
            ));
        }
        let file = index.sealed_file(clip)?.ok_or_else(|| {
            Error::msg(
                ErrorKind::NotFound,
                format!("clip {clip} is not a sealed clip of this data dir; nothing pruned"),
            )
        })?;
        drop(index);
        self.prune_file(clip, &file, reason)
    }

    /// Removes the file `file` of sealed clip `clip` for retention, as [`Writer::prune`] but
    /// with no index read (the pruner thread looked): the writer never waits on the index. A
    /// clip put under hold by a record of this writer is refused.
    pub fn prune_file(&mut self, clip: u64, file: &str, reason: &str) -> Result<Record, Error> {
        if self.held_here.contains(&clip) {
            return Err(Error::msg(
                ErrorKind::Conflict,
                format!("clip {clip} was put under legal hold; it is never pruned"),
            ));
        }
        if !datadir::is_safe_clip_path(file) {
            return Err(Error::msg(
                ErrorKind::Invalid,
                format!("{file:?} is not a clip path under clips/; nothing pruned"),
            ));
        }
        let file = file.to_string();
        let rec = self.append(Body::Pruned {
            clip,
            file: file.clone(),
            reason: reason.to_string(),
        })?;
        let path = self.data_dir.join(&file);
        for p in [fmp4::fragments_path(&path), path.clone()] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::error!(file = %p.display(), error = %e, "pruned clip file could not be removed")
                }
            }
        }
        if let Some(dir) = path.parent() {
            let _ = datadir::sync_dir(dir);
        }
        Ok(rec)
    }
}

mod thread;
pub use thread::{open_appender, WriterHandle, WriterThread};

#[cfg(test)]
mod tests;
