//! Anchors: checkpoints stamped outside the station, so that a clip is proven to have existed
//! no later than a time the merchant does not control.
//!
//! Owns: the RFC 3161 time-stamp protocol ([`tsp`]), its POST over HTTP(S) ([`http`]), and the anchoring queue on disk with the thread that drains it ([`Anchorer`]).
//! Never: blocks or slows the recording (the writer only hands it checkpoint notes over a
//! channel); trusts a token it has not checked against `[anchor] tsa_ca`.
//!
//! On disk, in the data dir (format version 1):
//!   anchors/queue/<size>.note          a checkpoint note waiting for a TSA, byte for byte
//!   anchors/tsa/<day>/<size>.note      a stamped checkpoint note (`<size>`: 20 digits;
//!   anchors/tsa/<day>/<size>.tsr       `<day>`: the TSA's date, UTC) and the DER
//!                                      TimeStampResp whose imprint is the SHA-256 of the
//!                                      `.note` file (`openssl ts -verify -data X.note -in
//!                                      X.tsr -CAfile tsa_ca.pem` checks it)
//!   anchors/last                       the size of the last checkpoint queued
//!   anchors/tsa.idx                    one 32-byte line per stamped checkpoint, in size order:
//!                                      `<size, 20 digits> <day>\n` (found by binary search)

pub mod cosign;
pub mod http;
pub mod tsp;
pub mod witness;
pub mod witness_client;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::AnchorConfig;

/// What went wrong with an anchor.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("time-stamp token: {0}")]
    Token(String),
    #[error("{url}: {what}")]
    Http { url: String, what: String },
    #[error("{path}: {what}")]
    Io { path: String, what: String },
    #[error("[anchor] {0}")]
    Config(String),
}

pub(crate) fn io(path: &Path, what: impl std::fmt::Display) -> AnchorError {
    AnchorError::Io {
        path: path.display().to_string(),
        what: what.to_string(),
    }
}

/// The longest wait between two tries of a TSA that does not answer.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How anchoring is doing, for status, `/healthz` and `/metrics`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AnchorStatus {
    pub tsa: Vec<String>,
    /// Checkpoints waiting for a TSA, and since when the oldest waits (seconds).
    pub queued: u64,
    pub oldest_queued_s: Option<f64>,
    /// The last checkpoint stamped: its size and the TSA's time.
    pub last_size: Option<u64>,
    pub last_time: Option<String>,
    pub last_tsa: Option<String>,
    /// Why the last try failed, while the queue is not empty.
    pub last_error: Option<String>,
    /// The witnesses (`[[anchor.witness]]`).
    #[serde(default)]
    pub witnesses: Vec<witness_client::WitnessStatus>,
}

enum Msg {
    Checkpoint(u64, String),
    /// Where `anchored` records go (the writer, once it runs).
    Attach(Box<dyn crate::log::Appender>),
    /// Stamp no more (checkpoints are still queued); answered once a stamp under way has
    /// written its record.
    Quiesce(Sender<()>),
    Stop,
}

/// The anchoring thread of a recording process.
pub struct Anchorer {
    tx: Sender<Msg>,
    status: Arc<Mutex<AnchorStatus>>,
    thread: Option<JoinHandle<()>>,
}

/// The anchors folder of a data dir.
pub fn anchors_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("anchors")
}

fn note_name(size: u64) -> String {
    format!("{size:020}.note")
}

/// Writes `bytes` to `path` durably (a temporary file, fsync, rename, fsync of the folder).
pub(crate) fn write_durable(path: &Path, bytes: &[u8]) -> Result<(), AnchorError> {
    let dir = path.parent().ok_or_else(|| io(path, "no parent folder"))?;
    crate::datadir::create_dir_durable(dir).map_err(|e| io(dir, e))?;
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    crate::datadir::sync_dir(dir).map_err(|e| io(dir, e))
}

/// The anchoring settings checked: TSA URLs and the certificates their chains must reach.
struct Setup {
    dir: PathBuf,
    urls: Vec<String>,
    roots: Vec<x509_cert::Certificate>,
    every: Duration,
}

impl Setup {
    fn new(data_dir: &Path, cfg: &AnchorConfig) -> Result<Setup, AnchorError> {
        if cfg.tsa_ca.is_empty() {
            return Err(AnchorError::Config(
                "tsa is set but tsa_ca is not: name the PEM file of the CA certificates the TSA's chain must reach".into(),
            ));
        }
        for u in &cfg.tsa {
            http::Url::parse(u)?;
        }
        let pem = std::fs::read(&cfg.tsa_ca).map_err(|e| {
            AnchorError::Config(format!("tsa_ca = {:?} cannot be read: {e}", cfg.tsa_ca))
        })?;
        let roots = tsp::load_roots(&pem)
            .map_err(|e| AnchorError::Config(format!("tsa_ca = {:?}: {e}", cfg.tsa_ca)))?;
        Ok(Setup {
            dir: anchors_dir(data_dir),
            urls: cfg.tsa.clone(),
            roots,
            every: Duration::from_secs(cfg.every_s.max(1)),
        })
    }

    /// The checkpoints waiting, oldest first.
    fn queued(&self) -> Vec<(u64, PathBuf)> {
        let q = self.dir.join("queue");
        let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(&q)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let p = e.path();
                let size = p
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".note")?
                    .parse()
                    .ok()?;
                Some((size, p))
            })
            .collect();
        v.sort();
        v
    }

    fn last_queued(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("last"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    fn enqueue(&self, size: u64, note: &str) -> Result<(), AnchorError> {
        write_durable(
            &self.dir.join("queue").join(note_name(size)),
            note.as_bytes(),
        )?;
        write_durable(&self.dir.join("last"), format!("{size}\n").as_bytes())
    }

    /// Asks each TSA in turn to stamp one queued note; stores the first checked token.
    /// Returns what it says, the token's path relative to the data dir, and its SHA-256.
    fn stamp(&self, size: u64, path: &Path) -> Result<(tsp::Stamp, String, String), AnchorError> {
        let note = std::fs::read(path).map_err(|e| io(path, e))?;
        let mut errors = Vec::new();
        for url in &self.urls {
            let req = tsp::request(&note)?;
            let got = http::post(
                url,
                "application/timestamp-query",
                &req.der,
                REQUEST_TIMEOUT,
            )
            .and_then(|resp| {
                tsp::check(&resp, &note, Some(&req.nonce), &self.roots).map(|s| (s, resp))
            });
            match got {
                Ok((stamp, resp)) => {
                    let day = stamp.gen_time.get(..10).unwrap_or("unknown").to_string();
                    let dir = self.dir.join("tsa").join(&day);
                    let name = note_name(size);
                    write_durable(&dir.join(&name).with_extension("tsr"), &resp)?;
                    write_durable(&dir.join(&name), &note)?;
                    append_index(&self.dir, size, &day)?;
                    std::fs::remove_file(path).map_err(|e| io(path, e))?;
                    let file = format!(
                        "anchors/tsa/{day}/{}",
                        note_name(size).replace(".note", ".tsr")
                    );
                    return Ok((stamp, file, crate::digest::sha256_hex(&resp)));
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        Err(AnchorError::Token(errors.join("; ")))
    }
}

impl Anchorer {
    /// Starts anchoring when `[anchor] tsa` names a TSA (`None` otherwise). Checkpoints left
    /// in the queue by an earlier process are delivered first, in order.
    pub fn start(data_dir: &Path, cfg: &AnchorConfig) -> Result<Option<Anchorer>, AnchorError> {
        if cfg.tsa.is_empty() {
            return Ok(None);
        }
        let setup = Setup::new(data_dir, cfg)?;
        let status = Arc::new(Mutex::new(AnchorStatus {
            tsa: cfg.tsa.clone(),
            ..AnchorStatus::default()
        }));
        let (tx, rx) = mpsc::channel();
        let st = status.clone();
        let thread = std::thread::Builder::new()
            .name("anchor".into())
            .spawn(move || anchor_loop(setup, rx, st))
            .map_err(|e| io(data_dir, format!("cannot start the anchoring thread: {e}")))?;
        Ok(Some(Anchorer {
            tx,
            status,
            thread: Some(thread),
        }))
    }

    /// Records go to `appender` from now on: each stamp is an `anchored` record.
    pub fn attach(&self, appender: Box<dyn crate::log::Appender>) {
        let _ = self.tx.send(Msg::Attach(appender));
    }

    /// A function the writer calls with every checkpoint it signs (never blocks).
    pub fn feeder(&self) -> impl Fn(u64, &str) + Send + 'static {
        let tx = self.tx.clone();
        move |size, note| {
            let _ = tx.send(Msg::Checkpoint(size, note.to_string()));
        }
    }

    pub fn status(&self) -> AnchorStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// A handle on the status, for the process status.
    pub fn status_handle(&self) -> Arc<Mutex<AnchorStatus>> {
        self.status.clone()
    }

    /// Stops the thread: the newest checkpoint not queued yet is queued (delivered by the
    /// next start); a request under way is finished first.
    /// Before the writer stops: a stamp under way ends (its `anchored` record written while
    /// the writer still takes records) and no new one starts; checkpoints, the writer's
    /// shutdown checkpoint too, are still queued for the next start.
    pub fn quiesce(&self) {
        let (tx, rx) = mpsc::channel();
        if self.tx.send(Msg::Quiesce(tx)).is_ok() {
            let _ = rx.recv();
        }
    }

    pub fn stop(mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn anchor_loop(setup: Setup, rx: mpsc::Receiver<Msg>, status: Arc<Mutex<AnchorStatus>>) {
    let mut last_queued = setup.last_queued();
    let mut pending: Option<(u64, String)> = None;
    let mut queued_at: Option<Instant> = None;
    let mut backoff = Duration::ZERO;
    let mut next_try = Instant::now();
    let mut oldest_since: Option<Instant> = None;
    let mut records: Option<Box<dyn crate::log::Appender>> = None;
    let mut quiet = false;
    let set = |f: &mut dyn FnMut(&mut AnchorStatus)| {
        if let Ok(mut g) = status.lock() {
            f(&mut g);
        }
    };
    loop {
        let wait = next_try
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(1));
        let stop = match rx.recv_timeout(wait) {
            Ok(Msg::Checkpoint(size, note)) if size > last_queued => {
                pending = Some((size, note));
                false
            }
            Ok(Msg::Attach(a)) => {
                records = Some(a);
                false
            }
            Ok(Msg::Quiesce(done)) => {
                quiet = true;
                let _ = done.send(());
                false
            }
            Ok(Msg::Checkpoint(..)) | Err(RecvTimeoutError::Timeout) => false,
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => true,
        };
        let due = queued_at.is_none_or(|t| t.elapsed() >= setup.every);
        if pending.is_some() && (due || stop) {
            if let Some((size, note)) = pending.take() {
                match setup.enqueue(size, &note) {
                    Ok(()) => {
                        last_queued = size;
                        queued_at = Some(Instant::now());
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot queue a checkpoint for the TSA");
                        pending = Some((size, note));
                    }
                }
            }
        }
        if stop {
            return;
        }
        let queue = setup.queued();
        set(&mut |s| {
            s.queued = queue.len() as u64;
            s.oldest_queued_s = oldest_since.map(|t| t.elapsed().as_secs_f64());
        });
        if queue.is_empty() {
            oldest_since = None;
            continue;
        }
        oldest_since.get_or_insert_with(Instant::now);
        if quiet || Instant::now() < next_try {
            continue;
        }
        let (size, path) = &queue[0];
        match setup.stamp(*size, path) {
            Ok((stamp, file, sha256)) => {
                tracing::info!(size, time = %stamp.gen_time, tsa = %stamp.tsa, "checkpoint stamped by the TSA");
                // The log says so: every later line was written after the TSA's time.
                if let Some(r) = &records {
                    let body = crate::log::Body::Anchored {
                        size: *size,
                        tsa: stamp.tsa.clone(),
                        time: stamp.gen_time.clone(),
                        file,
                        sha256,
                    };
                    if let Err(e) = r.append(body) {
                        tracing::warn!(size, error = %e, "the anchored record could not be written (the token is kept)");
                    }
                }
                backoff = Duration::ZERO;
                oldest_since = None;
                set(&mut |s| {
                    s.last_size = Some(*size);
                    s.last_time = Some(stamp.gen_time.clone());
                    s.last_tsa = Some(stamp.tsa.clone());
                    s.last_error = None;
                    s.queued = s.queued.saturating_sub(1);
                });
            }
            Err(e) => {
                backoff = (backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
                next_try = Instant::now() + backoff;
                tracing::warn!(size, error = %e, retry_s = backoff.as_secs(), "no TSA stamped the checkpoint; it stays queued and is tried again");
                set(&mut |s| s.last_error = Some(e.to_string()));
            }
        }
    }
}

const IDX_LINE: u64 = 32;

/// Adds a stamped checkpoint to `anchors/tsa.idx` (fsynced).
fn append_index(dir: &Path, size: u64, day: &str) -> Result<(), AnchorError> {
    append_index_at(&dir.join("tsa.idx"), size, day)
}

/// Adds an entry to an anchor index file (fsynced).
pub(crate) fn append_index_at(path: &Path, size: u64, day: &str) -> Result<(), AnchorError> {
    use std::io::Write;
    let path = path.to_path_buf();
    if let Some(dir) = path.parent() {
        crate::datadir::create_dir_durable(dir).map_err(|e| io(dir, e))?;
    }
    let line = format!("{size:020} {day:<10}\n");
    debug_assert_eq!(line.len() as u64, IDX_LINE);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| io(&path, e))?;
    // A line torn by a crash is cut off: the index keeps whole lines only.
    let len = f.metadata().map_err(|e| io(&path, e))?.len();
    if len % IDX_LINE != 0 {
        f.set_len(len - len % IDX_LINE).map_err(|e| io(&path, e))?;
    }
    f.write_all(line.as_bytes())
        .and_then(|()| f.sync_data())
        .map_err(|e| io(&path, e))
}

/// A checkpoint a TSA stamped, in the data dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamped {
    pub size: u64,
    /// The exact note stamped, and the DER TimeStampResp.
    pub note: PathBuf,
    pub tsr: PathBuf,
}

/// The stamped checkpoints, through `anchors/tsa.idx` (a binary search: the cost does not
/// grow with the years of anchors).
pub struct StampIndex {
    /// The folder of the day folders.
    dir: PathBuf,
    file: Option<std::fs::File>,
    lines: u64,
    /// Entries have a token beside the note (TSA) or not (witness cosignatures).
    tokens: bool,
}

impl StampIndex {
    /// The TSA stamps of a data dir.
    pub fn open(data_dir: &Path) -> StampIndex {
        let dir = anchors_dir(data_dir);
        StampIndex::at(&dir.join("tsa.idx"), dir.join("tsa"), true)
    }

    /// The checkpoints the witness with key ID `id` cosigned.
    pub fn witness(data_dir: &Path, id: &str) -> StampIndex {
        let dir = witness_client::witness_dir(data_dir, id);
        StampIndex::at(&dir.with_extension("idx"), dir, false)
    }

    fn at(idx: &Path, dir: PathBuf, tokens: bool) -> StampIndex {
        let file = std::fs::File::open(idx).ok();
        let lines = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len() / IDX_LINE);
        StampIndex {
            dir,
            file,
            lines,
            tokens,
        }
    }

    fn entry(&self, i: u64) -> Option<Stamped> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; IDX_LINE as usize];
        self.file
            .as_ref()?
            .read_exact_at(&mut buf, i * IDX_LINE)
            .ok()?;
        let text = std::str::from_utf8(&buf).ok()?;
        let size: u64 = text.get(..20)?.parse().ok()?;
        let day = text.get(21..31)?.trim();
        let note = self.dir.join(day).join(note_name(size));
        Some(Stamped {
            size,
            tsr: note.with_extension("tsr"),
            note,
        })
    }

    /// The index of the first entry whose size is at least `size`.
    fn lower_bound(&self, size: u64) -> u64 {
        let (mut lo, mut hi) = (0, self.lines);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.entry(mid) {
                Some(e) if e.size < size => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }

    /// The entries of sizes `from ..= to`, at most `max` of them, in size order.
    pub fn between(&self, from: u64, to: u64, max: usize) -> Vec<Stamped> {
        let mut out = Vec::new();
        let mut i = self.lower_bound(from);
        while i < self.lines && out.len() < max {
            match self.entry(i) {
                Some(e) if e.size <= to => out.push(e),
                _ => break,
            }
            i += 1;
        }
        out
    }

    /// How many entries have sizes `from ..= to`.
    pub fn count_between(&self, from: u64, to: u64) -> u64 {
        if to < from {
            return 0;
        }
        self.lower_bound(to + 1) - self.lower_bound(from)
    }

    /// The earliest stamped checkpoint covering line `line` (size >= line) and at most
    /// `max_size`.
    pub fn first_covering(&self, line: u64, max_size: u64) -> Option<Stamped> {
        let i = self.lower_bound(line);
        self.entry(i)
            .filter(|e| e.size <= max_size && e.note.is_file() && (!self.tokens || e.tsr.is_file()))
    }
}

/// Where the writer's checkpoints go: the TSA's and the witnesses' threads.
pub type Feed = Box<dyn Fn(u64, &str) + Send>;

/// The writer's observer that hands each new checkpoint (its size and note) to `feeds`,
/// except one over nothing but `anchored` records since the last: anchoring an idle log
/// would otherwise go on forever.
pub fn checkpoint_observer(feeds: Vec<Feed>) -> Box<dyn Fn(&crate::log::Record) + Send> {
    let only_anchors = std::sync::atomic::AtomicBool::new(false);
    Box::new(move |rec| {
        use std::sync::atomic::Ordering::Relaxed;
        match &rec.body {
            crate::log::Body::Checkpoint { size, note, .. } => {
                if !only_anchors.swap(true, Relaxed) {
                    for feed in &feeds {
                        feed(*size, note);
                    }
                }
            }
            crate::log::Body::Anchored { .. } => {}
            _ => only_anchors.store(false, Relaxed),
        }
    })
}
