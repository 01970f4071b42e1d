//! The writer: the one place of a process that appends to the manifest.
//!
//! Owns: the [`Writer`] (the ledger, the index it keeps current, the signing key, checkpoints
//! on a count and on a timer, retention), the writer thread that cameras, scanners and the web
//! server of a process talk to by message ([`WriterHandle`]), what it did lately (the last
//! checkpoint, a failed write) for the status, and [`open_appender`], which gives a command
//! the writer or, when a recorder holds the data dir, its socket ([`super::socket`]).
//! Never: holds a lock that a camera waits on while it fsyncs: a camera sends its record and
//! waits for that record's reply only; clip files are written and fsynced by each camera's
//! own thread.
//!
//! Group commit: the writer thread takes every request waiting in its queue, writes their
//! records together and fsyncs once, then answers each.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::clock::SharedClock;
use crate::config::{Config, RetentionConfig};
use crate::datadir;
use crate::error::{Error, ErrorKind};
use crate::index::Index;
use crate::log::note::StationKey;
use crate::log::{Appender, Body, Ledger, Record};
use crate::media::fmp4;
use crate::retention;

pub use super::socket::recorder_status;
use super::socket::{SocketAppender, SocketServer};

/// Called with every record once it is durable (on the writer's thread).
pub type Observer = Box<dyn Fn(&Record) + Send>;

/// Builds a record for the `seq` it will get.
pub type MakeRecord = Box<dyn FnOnce(u64) -> Body + Send>;

/// How often retention runs while recording.
const RETENTION_EVERY: Duration = Duration::from_secs(60);
/// With anchoring on, a seal is checkpointed (and so anchored) this long after it: the seals
/// of one scan's cameras share a checkpoint.
const SEAL_BURST: Duration = Duration::from_secs(1);
/// How often the free space is compared with `min_free_mb`.
const SPACE_EVERY: Duration = Duration::from_secs(5);
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
    /// Set when a write failed: no more records until the process restarts.
    pub broken: Option<String>,
    /// The free space retention keeps (`min_free_mb` or `reserve_minutes` at the measured
    /// rate), and that rate (bytes a second while every camera records).
    pub free_floor: u64,
    pub recording_bytes_per_s: f64,
}

/// A status of the recording process, as JSON, for `packwitness status` over the socket.
pub type StatusFn = Box<dyn Fn() -> serde_json::Value + Send + Sync>;

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
    /// With anchoring on (`[anchor]`), when the first seal after the last checkpoint was
    /// written: a burst of seals gets its checkpoint (and so its anchor) a second later.
    anchoring: bool,
    seal_burst: Option<Duration>,
    retention: RetentionConfig,
    /// The recording rate measured from the sealed clips: what `reserve_minutes` is.
    rate: retention::RecordingRate,
    last_retention: Option<Duration>,
    last_space_check: Option<Duration>,
    last_reopen: Option<Duration>,
    observer: Option<Observer>,
}

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
            anchoring: !config.anchor.tsa.is_empty() || !config.anchor.witness.is_empty(),
            seal_burst: None,
            clock,
            checkpoint_every: config.ledger.checkpoint_every,
            checkpoint_interval: Duration::from_secs(config.ledger.checkpoint_minutes * 60),
            retention: config.retention.clone(),
            rate: seed_rate(data_dir),
            last_retention: None,
            last_space_check: None,
            last_reopen: None,
            observer: None,
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

    /// Appends the records `makers` build, with one fsync (see [`Ledger::append_batch`]).
    pub fn append_batch(&mut self, makers: Vec<MakeRecord>) -> Result<Vec<Record>, Error> {
        let recs = self.ledger.append_batch(makers, self.clock.as_ref())?;
        self.after_append(&recs);
        if self.ledger.since_checkpoint() >= self.checkpoint_every {
            self.checkpoint()?;
        }
        Ok(recs)
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
        let rec = self.ledger.checkpoint(&self.key, self.clock.as_ref())?;
        self.last_checkpoint = self.clock.monotonic();
        self.seal_burst = None;
        if let Some(r) = &rec {
            self.after_append(std::slice::from_ref(r));
        }
        Ok(rec)
    }

    /// What the timer does: a checkpoint when `checkpoint_minutes` passed with records after
    /// the last one, and retention once a minute. Returns how long until it is due again.
    pub fn tick(&mut self) -> Result<Duration, Error> {
        let now = self.clock.monotonic();
        // A failed write (a full disk): open the manifest again every few seconds.
        if self.ledger.broken().is_some()
            && self
                .last_reopen
                .is_none_or(|t| now.saturating_sub(t) >= REOPEN_EVERY)
        {
            self.last_reopen = Some(now);
            match self.ledger.reopen(self.clock.as_ref()) {
                Ok(()) => {
                    if let Ok(mut st) = self.stats.lock() {
                        st.broken = None;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "the manifest is still not writable; trying again in a few seconds");
                    return Ok(REOPEN_EVERY);
                }
            }
        }
        // The free-space floor is looked at every few seconds, not once a minute: a disk that
        // fills up is made room on before a write fails.
        let floor = self.rate.floor_bytes(&self.retention);
        let low = floor > 0
            && self
                .last_space_check
                .is_none_or(|t| now.saturating_sub(t) >= SPACE_EVERY)
            && {
                self.last_space_check = Some(now);
                datadir::free_bytes(&self.data_dir).is_ok_and(|b| b < floor)
            };
        if low {
            tracing::warn!(dir = %self.data_dir.display(), floor_mb = floor / (1024 * 1024), "free space under the [retention] floor (min_free_mb, reserve_minutes): applying retention now");
            self.last_retention = None;
        }
        let since = now.saturating_sub(self.last_checkpoint);
        let burst_due = self
            .seal_burst
            .is_some_and(|t| now.saturating_sub(t) >= SEAL_BURST);
        if self.ledger.since_checkpoint() > 0 && (since >= self.checkpoint_interval || burst_due) {
            self.checkpoint()?;
        }
        let due_retention = self
            .last_retention
            .is_none_or(|t| now.saturating_sub(t) >= RETENTION_EVERY);
        if due_retention {
            self.last_retention = Some(now);
            let policy = self.retention.clone();
            if let Err(e) = self.apply_retention(&policy, false) {
                tracing::error!(error = %e, "retention could not remove clips; it tries again in a minute");
            }
        }
        let now = self.clock.monotonic();
        let to_checkpoint = self
            .checkpoint_interval
            .saturating_sub(now.saturating_sub(self.last_checkpoint))
            .min(self.seal_burst.map_or(Duration::MAX, |t| {
                SEAL_BURST.saturating_sub(now.saturating_sub(t))
            }));
        let to_retention = self.last_retention.map_or(Duration::ZERO, |t| {
            RETENTION_EVERY.saturating_sub(now.saturating_sub(t))
        });
        Ok(to_checkpoint
            .min(to_retention)
            .clamp(Duration::from_millis(50), Duration::from_secs(1)))
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
        if policy.keep_days == 0 && floor == 0 {
            return Ok(Vec::new());
        }
        let index = Index::open_read(&self.data_dir)?;
        let candidates: Vec<retention::Candidate> = index
            .retention_candidates()?
            .into_iter()
            .map(|c| retention::Candidate {
                clip: c.clip,
                order: c.order,
                scanned_ms: c.scanned_ms,
                size: c.size,
            })
            .collect();
        let free = match datadir::free_bytes(&self.data_dir) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(dir = %self.data_dir.display(), error = %e, "cannot read the free space; only the age limit applies");
                u64::MAX
            }
        };
        let now_ms = self.clock.now().timestamp_millis();
        let planned = retention::plan(&candidates, now_ms, policy, free, floor);
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

/// What the writer thread is asked.
enum Request {
    Append {
        make: MakeRecord,
        reply: Sender<Result<Record, Error>>,
    },
    Checkpoint {
        reply: Sender<Result<Option<Record>, Error>>,
    },
    Stop,
}

/// How a process reaches its writer thread. Cheap to clone; every call waits for its reply.
#[derive(Clone)]
pub struct WriterHandle {
    tx: Sender<Request>,
    verifier: String,
    data_dir: PathBuf,
    stats: Arc<Mutex<WriterStats>>,
    status: Arc<Mutex<Option<StatusFn>>>,
}

fn gone() -> Error {
    Error::msg(
        ErrorKind::Unavailable,
        "the manifest writer has stopped (see the log for why); restart packwitness",
    )
}

impl WriterHandle {
    /// Appends the record `make` builds for the `seq` it gets.
    pub fn append_with(&self, make: MakeRecord) -> Result<Record, Error> {
        let (reply, rx) = mpsc::channel();
        self.tx
            .send(Request::Append { make, reply })
            .map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?
    }

    /// What the writer did lately.
    pub fn stats(&self) -> WriterStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The status `set_status` gave, now.
    pub fn status_now(&self) -> Option<serde_json::Value> {
        self.status
            .lock()
            .ok()
            .and_then(|f| f.as_ref().map(|f| f()))
    }

    /// Answers `packwitness status` over the socket with what `f` says.
    pub fn set_status(&self, f: StatusFn) {
        if let Ok(mut s) = self.status.lock() {
            *s = Some(f);
        }
    }

    /// The station's public key, in signed-note verifier form.
    pub fn verifier(&self) -> &str {
        &self.verifier
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

impl Appender for WriterHandle {
    fn append(&self, body: Body) -> Result<Record, Error> {
        self.append_with(Box::new(move |_| body))
    }

    fn checkpoint(&self) -> Result<Option<Record>, Error> {
        let (reply, rx) = mpsc::channel();
        self.tx
            .send(Request::Checkpoint { reply })
            .map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?
    }
}

/// The writer running on a thread of its own (and, with a socket, serving other processes).
pub struct WriterThread {
    handle: WriterHandle,
    thread: Option<JoinHandle<Result<(), Error>>>,
    socket: Option<SocketServer>,
}

impl WriterThread {
    /// Starts the writer thread; with `serve_socket`, also the socket other processes use.
    pub fn spawn(writer: Writer, serve_socket: bool) -> Result<WriterThread, Error> {
        let (tx, rx) = mpsc::channel();
        let handle = WriterHandle {
            tx,
            verifier: writer.verifier(),
            data_dir: writer.data_dir.clone(),
            stats: writer.stats.clone(),
            status: Arc::default(),
        };
        let thread = std::thread::Builder::new()
            .name("manifest-writer".into())
            .spawn(move || writer_loop(writer, rx))
            .map_err(|e| {
                Error::internal(format!("cannot start the manifest writer thread: {e}"))
            })?;
        let mut me = WriterThread {
            handle,
            thread: Some(thread),
            socket: None,
        };
        if serve_socket {
            me.socket = Some(SocketServer::start(&me.handle)?);
        }
        Ok(me)
    }

    pub fn handle(&self) -> WriterHandle {
        self.handle.clone()
    }

    /// Writes the last checkpoint (everything recorded is covered by a signature) and stops
    /// the thread; returns the first error the writer met.
    pub fn stop(mut self) -> Result<(), Error> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), Error> {
        if let Some(s) = self.socket.take() {
            s.stop();
        }
        let last = self.handle.checkpoint().map(|_| ());
        let _ = self.handle.tx.send(Request::Stop);
        let joined = match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(Error::internal("the manifest writer thread panicked"))),
            None => Ok(()),
        };
        joined.and(last)
    }
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        if self.thread.is_some() {
            if let Err(e) = self.finish() {
                tracing::error!(error = %e, "the manifest writer stopped with an error");
            }
        }
    }
}

fn writer_loop(mut w: Writer, rx: Receiver<Request>) -> Result<(), Error> {
    let mut wait = Duration::ZERO;
    loop {
        let first = match rx.recv_timeout(wait) {
            Ok(r) => Some(r),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        let mut pending: Vec<Request> = first.into_iter().collect();
        while pending.len() < 256 {
            match rx.try_recv() {
                Ok(r) => pending.push(r),
                Err(_) => break,
            }
        }
        let mut stop = false;
        let mut makers = Vec::new();
        let mut replies = Vec::new();
        let mut checkpoints = Vec::new();
        for r in pending {
            match r {
                Request::Append { make, reply } => {
                    makers.push(make);
                    replies.push(reply);
                }
                Request::Checkpoint { reply } => checkpoints.push(reply),
                Request::Stop => stop = true,
            }
        }
        if !makers.is_empty() {
            match w.append_batch(makers) {
                Ok(recs) => {
                    for (rec, reply) in recs.into_iter().zip(replies) {
                        let _ = reply.send(Ok(rec));
                    }
                }
                Err(e) => {
                    let text = e.to_string();
                    let kind = e.kind();
                    if let Ok(mut st) = w.stats.lock() {
                        st.broken = Some(text.clone());
                    }
                    for reply in replies {
                        let _ = reply.send(Err(Error::msg(kind, text.clone())));
                    }
                }
            }
        }
        for reply in checkpoints {
            let _ = reply.send(w.checkpoint());
        }
        if stop {
            return Ok(());
        }
        wait = match w.tick() {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "a timed checkpoint failed; trying again");
                Duration::from_secs(1)
            }
        };
    }
}

/// A writer opened by a command for its own records (no recorder holds the data dir).
struct DirectAppender(Mutex<Writer>);

impl DirectAppender {
    fn with<T>(&self, f: impl FnOnce(&mut Writer) -> Result<T, Error>) -> Result<T, Error> {
        let mut w = self
            .0
            .lock()
            .map_err(|_| Error::internal("the manifest writer panicked earlier"))?;
        f(&mut w)
    }
}

impl Appender for DirectAppender {
    fn append(&self, body: Body) -> Result<Record, Error> {
        self.with(|w| w.append(body))
    }

    fn checkpoint(&self) -> Result<Option<Record>, Error> {
        self.with(|w| w.checkpoint())
    }
}

/// An appender for a command's own records (an export's `access`, a `hold`): the data dir's
/// writer opened here when nothing else holds it, else the socket of the recorder that does.
pub fn open_appender(
    data_dir: &Path,
    config: &Config,
    clock: SharedClock,
) -> Result<Box<dyn Appender>, Error> {
    match Writer::open(data_dir, config, clock) {
        Ok(w) => Ok(Box::new(DirectAppender(Mutex::new(w)))),
        Err(e) if e.kind() == ErrorKind::Conflict => Ok(Box::new(SocketAppender {
            data_dir: data_dir.to_owned(),
        })),
        Err(e) => Err(e),
    }
}
