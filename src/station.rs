//! Station: one packing station's recording session: cameras, clips and their evidence.
//!
//! Owns: the per-camera threads (source -> encoder) and clip threads (clip writer -> ledger ->
//! index), and the rule that turns commands into clip boundaries.
//! Never: parses config or scans (trigger does), or formats anything for people (cli does).
//!
//! Data flows one way. Per camera:
//!   capture thread: source -> stamp + encoder -> `CameraEvent`s (packets and cut marks)
//!   clip thread:    cut marks + packets -> clip writer -> ledger (+ index, + observer)
//! A command reaches the capture thread, which asks the encoder for an IDR at the next frame
//! and sends a cut mark carrying that frame's pts ahead of the packets. The clip thread cuts
//! when the first packet at or after that pts arrives, so encoder delay never misroutes a frame.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset};
use ffmpeg_next::codec;

use crate::capture::{AnySource, FfmpegSource, FrameSource, SourceSpec, StreamInfo};
use crate::clip::{self, ClipWriter};
use crate::config::{CameraConfig, CaptureMode, Config, EncodeConfig, StationConfig};
use crate::encode::{EncodedPacket, Encoder, Passthrough, StampText};
use crate::index::Index;
use crate::ledger::note::StationKey;
use crate::ledger::{self, Body, Ledger, Record};
use crate::trigger::{Rejected, Scan};
use crate::Error;

pub mod run;
pub mod state;

use state::{Action, Settings, StateMachine};

/// Called with every record after it is durable in the manifest.
pub type Observer = Box<dyn Fn(&Record) + Send>;

/// The manifest writer and the index, shared by the clip threads of a process.
pub struct Evidence {
    ledger: Ledger,
    index: Option<Index>,
    data_dir: PathBuf,
    observer: Option<Observer>,
    key: StationKey,
    checkpoint_every: u64,
    checkpoint_interval: Duration,
    last_checkpoint: Instant,
    retention: crate::config::RetentionConfig,
    /// When retention last ran (it runs at the first tick, then every minute).
    last_retention: Option<Instant>,
}

/// Records asked for by other processes while a recorder holds the data dir wait here.
pub const SPOOL: &str = "spool";

/// Appends `body` (an `access` or `hold` record) to the manifest of `data_dir` and writes a
/// checkpoint covering it. When a recording process holds the data dir, the record is left in
/// its spool and this waits (up to `wait`) until that process has appended and checkpointed it.
pub fn append_or_spool(
    data_dir: &Path,
    config: &Config,
    body: Body,
    wait: Duration,
) -> Result<(), Error> {
    match Ledger::open(data_dir) {
        Ok(mut ledger) => {
            let key = load_key(data_dir, config)?;
            ledger.append(body)?;
            ledger.checkpoint(&key)?;
            Ok(())
        }
        Err(ledger::LedgerError::Locked { .. }) => {
            let dir = data_dir.join(SPOOL);
            clip::create_dir_durable(&dir).map_err(|e| Error::DataDir {
                path: dir.clone(),
                what: format!("cannot create the spool directory: {e}"),
            })?;
            let name = format!(
                "{}-{}.json",
                chrono::Utc::now().timestamp_millis(),
                std::process::id()
            );
            let tmp = dir.join(format!("{name}.tmp"));
            let path = dir.join(&name);
            let bytes = serde_json::to_vec(&body).map_err(|e| Error::Thread(e.to_string()))?;
            let io = |e: std::io::Error| Error::DataDir {
                path: path.clone(),
                what: format!("cannot write the spool file: {e}"),
            };
            std::fs::write(&tmp, bytes).map_err(io)?;
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
            let _ = clip::sync_dir(&dir);
            let deadline = Instant::now() + wait;
            while path.exists() {
                if Instant::now() > deadline {
                    return Err(Error::DataDir {
                        path: data_dir.to_owned(),
                        what: format!("the recording process holding this data dir did not take the request in {:?} (it is left in {}); is it running?", wait, path.display()),
                    });
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Where the station key of a data dir lives (a relative `key_file` is inside the data dir).
pub fn key_path(data_dir: &Path, config: &Config) -> PathBuf {
    data_dir.join(&config.ledger.key_file)
}

/// Loads the data dir's signing key, creating it (named after the first station) if missing.
/// One key signs the manifest of a data dir, whatever the number of its stations.
pub fn load_key(data_dir: &Path, config: &Config) -> Result<StationKey, Error> {
    Ok(StationKey::load_or_create(
        &key_path(data_dir, config),
        &config.first_station().id,
    )?)
}

impl Evidence {
    /// Opens the data dir for recording: takes the writer lock, repairs a torn manifest line,
    /// loads (or creates) the station key, and seals every clip a crash left open.
    pub fn open(
        data_dir: &Path,
        config: &Config,
        observer: Option<Observer>,
    ) -> Result<Evidence, Error> {
        let ledger = Ledger::open(data_dir)?;
        let index = Index::open(data_dir)?;
        let key = load_key(data_dir, config)?;
        let mut ev = Evidence {
            ledger,
            index: Some(index),
            data_dir: data_dir.to_owned(),
            observer,
            key,
            checkpoint_every: config.ledger.checkpoint_every,
            checkpoint_interval: Duration::from_secs(config.ledger.checkpoint_minutes * 60),
            last_checkpoint: Instant::now(),
            retention: config.retention.clone(),
            last_retention: None,
        };
        ev.recover()?;
        ev.ingest_spool()?;
        Ok(ev)
    }

    /// Appends a record durably, then brings the index up to date, and writes a checkpoint
    /// when one is due.
    pub fn append(&mut self, body: Body) -> Result<Record, Error> {
        let rec = self.write(body)?;
        self.tick()?;
        Ok(rec)
    }

    fn write(&mut self, body: Body) -> Result<Record, Error> {
        let rec = self.ledger.append(body)?;
        self.after_append(&rec);
        Ok(rec)
    }

    /// Index and observer, after a record is durable. An index failure is logged, never fatal:
    /// the index can always be rebuilt, the manifest is what counts.
    fn after_append(&mut self, rec: &Record) {
        if let Some(index) = self.index.as_mut() {
            if let Err(e) = index.catch_up() {
                tracing::error!(error = %e, "index update failed; it will be rebuilt from the manifest on next open");
                self.index = None;
            }
        }
        if let Some(observer) = &self.observer {
            observer(rec);
        }
    }

    /// Writes a checkpoint if `checkpoint_every` records or `checkpoint_minutes` have passed.
    pub fn tick(&mut self) -> Result<(), Error> {
        let since = self.ledger.since_checkpoint();
        if since >= self.checkpoint_every
            || (since > 0 && self.last_checkpoint.elapsed() >= self.checkpoint_interval)
        {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Appends the records other processes left in `spool/` while this one held the data dir
    /// (exports and holds asked for during recording), oldest first, and removes them. Only
    /// `access` and `hold` records are taken; anything else is set aside as `.rejected`.
    pub fn ingest_spool(&mut self) -> Result<usize, Error> {
        let dir = self.data_dir.join(SPOOL);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(0);
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let mut n = 0;
        for path in files {
            let body = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Body>(&b).ok());
            match body {
                Some(body @ (Body::Access { .. } | Body::Hold { .. })) => {
                    self.append(body)?;
                    n += 1;
                    if let Err(e) = std::fs::remove_file(&path) {
                        tracing::error!(file = %path.display(), error = %e, "cannot remove an ingested spool file");
                    }
                }
                _ => {
                    tracing::warn!(file = %path.display(), "spool file is not an access or hold record; set aside");
                    let _ = std::fs::rename(&path, path.with_extension("rejected"));
                }
            }
        }
        Ok(n)
    }

    /// Writes a signed checkpoint over everything so far (nothing if the last line is one).
    pub fn checkpoint(&mut self) -> Result<Option<Record>, Error> {
        let rec = self.ledger.checkpoint(&self.key)?;
        self.last_checkpoint = Instant::now();
        if let Some(r) = &rec {
            self.after_append(r);
        }
        Ok(rec)
    }

    /// The station's public key, in signed-note verifier form.
    pub fn verifier(&self) -> String {
        self.key.verifier()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Applies the retention policy when a minute has passed since it last ran. A failure is
    /// logged: recording goes on.
    pub fn retention_tick(&mut self) {
        if self
            .last_retention
            .is_some_and(|t| t.elapsed() < Duration::from_secs(60))
        {
            return;
        }
        self.last_retention = Some(Instant::now());
        let policy = self.retention.clone();
        if let Err(e) = crate::retention::apply(self, &policy, false) {
            tracing::error!(error = %e, "retention could not remove clips; it tries again in a minute");
        }
    }

    /// Sealed clips retention may remove, oldest first (see `retention`).
    pub fn retention_candidates(&self) -> Result<Vec<crate::retention::Candidate>, Error> {
        match &self.index {
            Some(index) => Ok(index.retention_candidates()?),
            None => Err(Error::Thread(
                "the index is unavailable; restart packwitness to rebuild it".into(),
            )),
        }
    }

    /// Attaches another code (a tracking number) to clip `clip`, so lookup finds it by that code.
    pub fn attach_code(&mut self, clip: u64, code: &str, code_kind: &str) -> Result<Record, Error> {
        self.append(Body::CodeAttached {
            clip,
            code: code.to_string(),
            code_kind: code_kind.to_string(),
        })
    }

    /// Removes a sealed clip's file for retention. The `pruned` record is written (and fsynced)
    /// first, then the file and its fragment list are deleted: a crash in between leaves a file
    /// that is merely still there, never one that is missing without a record.
    pub fn prune(&mut self, clip: u64, reason: &str) -> Result<Record, Error> {
        let Some(index) = &self.index else {
            return Err(Error::Thread(
                "the index is unavailable; restart packwitness to rebuild it".into(),
            ));
        };
        if index.held(clip)? {
            return Err(Error::DataDir {
                path: self.data_dir.clone(),
                what: format!("clip {clip} is under legal hold and is never pruned; lift the hold with `packwitness hold CODE --release` first"),
            });
        }
        let file = index.sealed_file(clip)?.ok_or_else(|| Error::DataDir {
            path: self.data_dir.clone(),
            what: format!("clip {clip} is not a sealed clip of this data dir; nothing pruned"),
        })?;
        let rec = self.append(Body::Pruned {
            clip,
            file: file.clone(),
            reason: reason.to_string(),
        })?;
        let path = self.data_dir.join(&file);
        for p in [clip::fragments_path(&path), path.clone()] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::error!(file = %p.display(), error = %e, "pruned clip file could not be removed")
                }
            }
        }
        if let Some(dir) = path.parent() {
            let _ = clip::sync_dir(dir);
        }
        Ok(rec)
    }

    /// Seals, with reason `interrupted`, every clip opened but never sealed (the process died):
    /// its file is cut to the last complete fragment, hashed and renamed (see `clip::recover`).
    fn recover(&mut self) -> Result<(), Error> {
        let open = match &self.index {
            Some(index) => index.unsealed()?,
            None => return Ok(()),
        };
        for c in open {
            if !ledger::is_safe_clip_path(&c.file) {
                tracing::error!(clip = c.clip, file = %c.file, "unsealed clip names a file outside clips/; left as it is");
                continue;
            }
            let recovered = match clip::recover(&self.data_dir.join(&c.file)) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(clip = c.clip, error = %e, "cannot recover an interrupted clip; it stays unsealed (verify reports it)");
                    continue;
                }
            };
            let r = recovered.unwrap_or(clip::Recovered {
                size: 0,
                sha256: crate::digest::sha256_hex(b""),
                fragments: Vec::new(),
                frames: 0,
                span_s: 0.0,
                duration_s: 0.0,
                cut_bytes: 0,
            });
            let ended_at = match DateTime::parse_from_rfc3339(&c.started_at) {
                Ok(t) => ledger::format_time(
                    t + chrono::Duration::microseconds((r.span_s * 1e6).round() as i64),
                ),
                Err(_) => c.started_at.clone(),
            };
            tracing::warn!(order = %c.order, file = %c.file, frames = r.frames, cut_bytes = r.cut_bytes,
                "clip interrupted by a crash recovered and sealed");
            self.write(Body::ClipSealed {
                clip: c.clip,
                order: c.order,
                station: c.station,
                camera: c.camera,
                file: c.file,
                reason: "interrupted".into(),
                started_at: c.started_at,
                ended_at,
                duration_ms: (r.duration_s * 1000.0).round() as u64,
                frames: r.frames,
                first_frame: c.first_frame,
                size: r.size,
                sha256: r.sha256,
                fragments: r.fragments.len() as u64,
                fragments_sha256: clip::fragments_digest(&r.fragments),
            })?;
        }
        Ok(())
    }
}

/// What a station tells each of its capture threads.
#[derive(Debug, Clone)]
enum CameraCommand {
    /// Start (or switch to) this order, sealing the open clip for `reason`.
    Order {
        next: OpenOrder,
        reason: &'static str,
    },
    /// Seal the open clip for `reason`, after the post-roll when `post_roll`.
    Stop {
        reason: &'static str,
        post_roll: bool,
    },
    /// Attach a code to the open clip (and show it in the stamp).
    Attach {
        code: String,
        kind: String,
    },
    Shutdown,
}

/// Messages from a capture thread to its clip thread.
enum CameraEvent {
    Started {
        info: StreamInfo,
        params: codec::Parameters,
        /// Wall-clock time of the frame with pts `pts0` (one clock reading per session).
        wall0: DateTime<FixedOffset>,
        pts0: i64,
        /// Passthrough: the stamp goes into a text track, not the picture.
        text_track: bool,
    },
    /// From the frame with this pts on, the open clip (if any) is sealed for `reason`, and a clip
    /// of `next` (if any) starts, with its pre-roll.
    Cut {
        pts: i64,
        next: Option<OpenOrder>,
        reason: &'static str,
    },
    /// A code to attach to the open clip (or to the one about to open).
    Attach {
        code: String,
        kind: String,
    },
    Packet(EncodedPacket),
    /// The session ended; seal for this reason.
    End {
        reason: &'static str,
    },
}

/// A running station.
pub struct Station {
    id: String,
    evidence: Arc<Mutex<Evidence>>,
    commands: Vec<Sender<CameraCommand>>,
    capture: Vec<(String, JoinHandle<Result<(), Error>>)>,
    clips: Vec<(String, JoinHandle<Result<(), Error>>)>,
    /// Clip-group ids: `<session start, unix ms>-<scan number>`.
    session: i64,
    scans: AtomicU64,
    /// What scans do; with the clip group being recorded.
    machine: Mutex<(StateMachine, Option<String>)>,
    /// The clock of the state machine.
    epoch: Instant,
}

/// What became of a scan, for the packer's feedback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub action: Action,
    /// The order and box recording after the scan.
    pub recording: Option<(String, u32)>,
    pub operator: Option<String>,
}

impl Station {
    /// Opens every camera of station `station` and starts recording (idle until the first
    /// order). `config` gives what the stations of a process share (encoding).
    pub fn start(
        config: &Config,
        station: &StationConfig,
        evidence: Arc<Mutex<Evidence>>,
    ) -> Result<Station, Error> {
        // A file or test source that cannot be opened is a configuration error; a network
        // camera that is down at start is retried by its capture thread, like a lost one.
        let mut sources = Vec::new();
        for cam in &station.cameras {
            if let SourceSpec::Usb(index) = SourceSpec::parse(&cam.source) {
                // A USB camera lives on the thread that opened it: its capture thread opens it.
                match crate::capture::usb_cameras() {
                    Ok(list) if list.iter().any(|c| c.0 == index) => {}
                    Ok(_) => {
                        tracing::warn!(camera = %cam.id, source = %cam.source, "no such USB camera now (`packwitness cameras` lists them); waiting for it")
                    }
                    Err(e) => {
                        tracing::warn!(camera = %cam.id, error = %e, "cannot list USB cameras; trying to open it anyway")
                    }
                }
                sources.push((cam.clone(), None));
                continue;
            }
            let source: Option<FfmpegSource> = match FfmpegSource::open_with_timeout(
                &cam.source,
                cam.realtime,
                cam.stall_timeout_s,
            ) {
                Ok(s) => Some(s),
                Err(e) if crate::capture::SourceSpec::parse(&cam.source).is_live() => {
                    tracing::warn!(camera = %cam.id, error = %e, "camera unavailable at start; retrying in the background");
                    None
                }
                Err(e) => return Err(e.into()),
            };
            sources.push((cam.clone(), source));
        }
        let settings = Settings {
            rescan: station.rescan_same_order,
            debounce_ms: station.debounce_ms,
            max_clip_ms: u64::from(station.max_clip_s) * 1000,
        };
        let mut started = Station {
            id: station.id.clone(),
            evidence: evidence.clone(),
            commands: Vec::new(),
            capture: Vec::new(),
            clips: Vec::new(),
            session: chrono::Utc::now().timestamp_millis(),
            scans: AtomicU64::new(0),
            machine: Mutex::new((StateMachine::new(settings), None)),
            epoch: Instant::now(),
        };
        for (cam, source) in sources {
            let (cmd_tx, cmd_rx) = mpsc::channel();
            // Bounded: a stalled disk slows capture instead of growing memory without limit.
            let (ev_tx, ev_rx) = mpsc::sync_channel(256);
            let settings = config.encode.clone();
            let station_cfg = station.clone();
            let camera = cam.clone();
            let handle = std::thread::Builder::new()
                .name(format!("capture-{}", cam.id))
                .spawn(move || {
                    // Every log line of this camera names its station.
                    let _span = tracing::info_span!("station", id = %station_cfg.id).entered();
                    capture_loop(source, &camera, &station_cfg, &settings, cmd_rx, ev_tx)
                })
                .map_err(|e| Error::Thread(format!("cannot start capture thread: {e}")))?;
            started.capture.push((cam.id.clone(), handle));
            let ctx = ClipContext {
                station: station.id.clone(),
                stamp_template: config.encode.stamp_template.clone(),
                camera: cam.id.clone(),
                max_clip_s: station.max_clip_s,
                pre_roll_s: station.pre_roll_s,
                evidence: evidence.clone(),
            };
            let handle = std::thread::Builder::new()
                .name(format!("clips-{}", cam.id))
                .spawn(move || {
                    let _span = tracing::info_span!("station", id = %ctx.station).entered();
                    clip_loop(ctx, ev_rx)
                })
                .map_err(|e| Error::Thread(format!("cannot start clip thread: {e}")))?;
            started.clips.push((cam.id.clone(), handle));
            started.commands.push(cmd_tx);
        }
        Ok(started)
    }

    /// Acts on one scan from scanner `scanner`: decides what it does, writes that to the
    /// manifest, then tells the cameras. The returned outcome is the acknowledgement.
    pub fn scan(&self, scanner: &str, scan: &Scan) -> Result<Outcome, Error> {
        let scanned_at = ledger::now_string();
        let mut guard = self
            .machine
            .lock()
            .map_err(|_| Error::Thread("the station state panicked earlier; restart".into()))?;
        let ms = self.epoch.elapsed().as_millis() as u64;
        let action = guard.0.scan(ms, scan);
        if matches!(action, Action::Open(_) | Action::Switch { .. }) {
            let n = self.scans.fetch_add(1, Ordering::Relaxed) + 1;
            guard.1 = Some(format!("{}-{n}", self.session));
        } else if matches!(action, Action::Seal { .. }) {
            guard.1 = None;
        }
        let machine = &guard.0;
        let outcome = Outcome {
            action: action.clone(),
            recording: machine.recording().map(|(o, b)| (o.to_string(), b)),
            operator: machine.operator().map(str::to_string),
        };
        if action != Action::Debounced {
            lock(&self.evidence)?.append(Body::Scan {
                station: self.id.clone(),
                scanner: scanner.to_string(),
                code: scan.code.clone(),
                code_kind: scan.kind.as_str().to_string(),
                rule: scan.rule.clone(),
                action: action.name().to_string(),
                detail: action.detail().map(str::to_string),
                order: outcome.recording.as_ref().map(|r| r.0.clone()),
                box_no: outcome.recording.as_ref().map(|r| r.1),
                group: guard.1.clone(),
                operator: outcome.operator.clone(),
                scanned_at,
            })?;
        }
        let group = guard.1.clone();
        drop(guard);
        self.apply(&action, group);
        Ok(outcome)
    }

    /// Tells the cameras what an action means for them.
    fn apply(&self, action: &Action, group: Option<String>) {
        let cmd = match action {
            Action::Open(o) | Action::Switch { next: o, .. } => CameraCommand::Order {
                next: OpenOrder {
                    code: o.order.clone(),
                    group: group.unwrap_or_default(),
                    part: 1,
                    box_no: o.box_no,
                    operator: o.operator.clone(),
                    codes: Vec::new(),
                },
                reason: action.detail().unwrap_or("next_order"),
            },
            Action::Seal { reason, post_roll } => CameraCommand::Stop {
                reason,
                post_roll: *post_roll,
            },
            Action::Attach { code, .. } => CameraCommand::Attach {
                code: code.clone(),
                kind: "tracking".into(),
            },
            Action::Operator(_) | Action::Ignored(_) | Action::Debounced => return,
        };
        for tx in &self.commands {
            let _ = tx.send(cmd.clone());
        }
    }

    /// The station's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Reports a refused scan; recording is not touched.
    pub fn reject(&self, scanner: &str, rejected: &Rejected) {
        tracing::warn!(station = %self.id, scanner, scan = %rejected.raw, error = %rejected.error, "scan rejected");
    }

    /// The order and box being recorded, and the operator of the next clips.
    pub fn recording(&self) -> (Option<(String, u32)>, Option<String>) {
        match self.machine.lock() {
            Ok(g) => (
                g.0.recording().map(|(o, b)| (o.to_string(), b)),
                g.0.operator().map(str::to_string),
            ),
            Err(_) => (None, None),
        }
    }

    /// True while every camera is still recording.
    pub fn running(&self) -> bool {
        self.capture.iter().all(|(_, h)| !h.is_finished())
    }

    /// Seals open clips (reason `shutdown`) and waits for every thread. Returns the first error.
    pub fn shutdown(self) -> Result<(), Error> {
        for tx in &self.commands {
            let _ = tx.send(CameraCommand::Shutdown);
        }
        let mut first_err = None;
        // Clip threads first: their errors (a write that failed) say more than the capture
        // thread's "clip writer stopped" that follows from them.
        for (cam, h) in self.clips.into_iter().chain(self.capture) {
            let res = h
                .join()
                .unwrap_or_else(|_| Err(Error::Thread(format!("camera {cam}: a thread panicked"))));
            if let Err(e) = res {
                tracing::error!(camera = %cam, error = %e, "camera stopped with an error");
                first_err.get_or_insert(e);
            }
        }
        // The shutdown checkpoint: everything recorded is covered by a signature.
        if let Err(e) = lock(&self.evidence).and_then(|mut ev| ev.checkpoint()) {
            tracing::error!(error = %e, "could not write the shutdown checkpoint");
            first_err.get_or_insert(e);
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Seals a clip past `max_clip_s` and writes a checkpoint when one is due; call it now
    /// and then while idle.
    pub fn tick(&self) -> Result<(), Error> {
        let ms = self.epoch.elapsed().as_millis() as u64;
        let timed_out = match self.machine.lock() {
            Ok(mut g) => {
                let a = g.0.tick(ms);
                if a.is_some() {
                    g.1 = None;
                }
                a
            }
            Err(_) => None,
        };
        if let Some(action) = timed_out {
            tracing::warn!(station = %self.id, "clip reached max_clip_s; sealed with reason timeout");
            self.apply(&action, None);
        }
        let mut ev = lock(&self.evidence)?;
        if ev.ingest_spool()? > 0 {
            // Whoever asked (an export) waits for a checkpoint that covers its record.
            ev.checkpoint()?;
        }
        ev.retention_tick();
        ev.tick()
    }
}

/// Writes the `station_start` record of a session.
pub fn record_start(
    evidence: &Mutex<Evidence>,
    station: &StationConfig,
    config_sha256: &str,
) -> Result<Record, Error> {
    let mut ev = lock(evidence)?;
    let key = ev.verifier();
    ev.append(Body::StationStart {
        station: station.id.clone(),
        software: format!("packwitness {}", env!("CARGO_PKG_VERSION")),
        config_sha256: config_sha256.to_string(),
        cameras: station.cameras.iter().map(|c| c.id.clone()).collect(),
        key,
    })
}

fn lock(evidence: &Mutex<Evidence>) -> Result<std::sync::MutexGuard<'_, Evidence>, Error> {
    evidence.lock().map_err(|_| {
        Error::Thread("the evidence writer panicked earlier; restart packwitness".into())
    })
}

/// The order a camera is recording, carried across reconnections.
#[derive(Debug, Clone)]
struct OpenOrder {
    code: String,
    group: String,
    /// 1, then 2, 3, ... for each reconnection while the order stays open.
    part: u32,
    box_no: u32,
    operator: Option<String>,
    /// Codes attached so far (code, kind): attached again to every part.
    codes: Vec<(String, String)>,
}

/// How one camera session (one opening of the source) ended.
enum SessionEnd {
    Shutdown,
    /// A file or test source reached its end.
    Ended,
    /// The camera failed or vanished; reconnect.
    Lost(String),
}

/// Runs one camera for the whole station session: a `run_session` per opening of the source,
/// reconnecting after a loss with capped backoff (1 s doubling to 30 s), forever, until
/// shutdown. An order open when the camera was lost continues as its next part.
fn capture_loop(
    first: Option<FfmpegSource>,
    cam: &CameraConfig,
    station: &StationConfig,
    settings: &EncodeConfig,
    commands: Receiver<CameraCommand>,
    events: SyncSender<CameraEvent>,
) -> Result<(), Error> {
    let send = |ev| {
        events
            .send(ev)
            .map_err(|_| Error::Thread(format!("camera {}: clip writer stopped", cam.id)))
    };
    let live = crate::capture::SourceSpec::parse(&cam.source).is_live();
    let mut source = first;
    let mut open: Option<OpenOrder> = None;
    let mut backoff = Duration::from_secs(1);
    loop {
        let src: AnySource = match source.take() {
            Some(s) => AnySource::Ffmpeg(s),
            None => match crate::capture::open_source(cam) {
                Ok(s) => {
                    tracing::warn!(camera = %cam.id, source = %cam.source, "camera reconnected");
                    s
                }
                Err(e) => {
                    tracing::warn!(camera = %cam.id, error = %e, retry_in = ?backoff, "camera unavailable; retrying");
                    // Wait, but keep taking commands: a scan while the camera is down is
                    // recorded as soon as it is back.
                    let deadline = Instant::now() + backoff;
                    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                        match commands.recv_timeout(left) {
                            Ok(CameraCommand::Shutdown)
                            | Err(mpsc::RecvTimeoutError::Disconnected) => {
                                send(CameraEvent::End { reason: "shutdown" })?;
                                return Ok(());
                            }
                            Ok(CameraCommand::Order { next, .. }) => open = Some(next),
                            Ok(CameraCommand::Stop { .. }) => open = None,
                            Ok(CameraCommand::Attach { code, kind }) => {
                                if let Some(o) = open.as_mut() {
                                    o.codes.push((code, kind));
                                }
                            }
                            Err(mpsc::RecvTimeoutError::Timeout) => break,
                        }
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            },
        };
        let started = Instant::now();
        let end = run_session(src, cam, station, settings, &commands, &send, &mut open)?;
        match end {
            SessionEnd::Shutdown => {
                send(CameraEvent::End { reason: "shutdown" })?;
                return Ok(());
            }
            SessionEnd::Ended if !live => {
                send(CameraEvent::End {
                    reason: "source_ended",
                })?;
                return Ok(());
            }
            SessionEnd::Ended | SessionEnd::Lost(_) => {
                let why = match &end {
                    SessionEnd::Lost(e) => e.clone(),
                    _ => "the stream ended".to_string(),
                };
                tracing::warn!(camera = %cam.id, source = %cam.source, error = %why, "camera lost; the open clip is sealed and recording resumes when it is back");
                send(CameraEvent::End {
                    reason: "camera_lost",
                })?;
                if let Some(o) = open.as_mut() {
                    o.part += 1;
                }
                if started.elapsed() > Duration::from_secs(60) {
                    backoff = Duration::from_secs(1);
                }
                std::thread::sleep(backoff.min(Duration::from_secs(1)));
            }
        }
    }
}

/// One unit of input: a raw frame to encode, or a camera's own packet to copy.
enum Unit {
    Frame(ffmpeg_next::frame::Video),
    Packet(EncodedPacket),
}

impl Unit {
    fn pts(&self) -> i64 {
        match self {
            Unit::Frame(f) => f.pts().unwrap_or(0),
            Unit::Packet(p) => p.pts,
        }
    }
}

/// A camera session's media path: transcode (decode, stamp, libx264) or passthrough.
enum Media {
    Transcode {
        source: Box<dyn FrameSource>,
        encoder: Option<Encoder>,
        /// Frames inside the encoder, oldest first: (pts, frame number). No B-frames, so
        /// packets come out in this order.
        in_flight: VecDeque<(i64, u64)>,
    },
    Passthrough(Passthrough),
}

impl Media {
    fn open(source: AnySource, cam: &CameraConfig) -> Media {
        let source = match source {
            AnySource::Ffmpeg(s) => s,
            AnySource::Usb(usb) => {
                return Media::Transcode {
                    source: usb,
                    encoder: None,
                    in_flight: VecDeque::new(),
                };
            }
        };
        let live = crate::capture::SourceSpec::parse(&cam.source).is_live();
        let pass = match cam.mode {
            CaptureMode::Passthrough => true,
            CaptureMode::Transcode => false,
            CaptureMode::Auto => live && crate::encode::can_pass_through(source.codec_id()),
        };
        if pass && !crate::encode::can_pass_through(source.codec_id()) {
            tracing::warn!(camera = %cam.id, codec = ?source.codec_id(), "passthrough needs H.264 or H.265; transcoding instead");
        } else if pass {
            tracing::info!(camera = %cam.id, codec = ?source.codec_id(), "passthrough: packets copied, stamp as a text track");
            return Media::Passthrough(Passthrough::new(source));
        }
        Media::Transcode {
            source: Box::new(source),
            encoder: None,
            in_flight: VecDeque::new(),
        }
    }

    fn info(&self) -> StreamInfo {
        match self {
            Media::Transcode { source, .. } => source.info(),
            Media::Passthrough(p) => p.info(),
        }
    }

    fn next(&mut self) -> Result<Option<Unit>, crate::capture::CaptureError> {
        match self {
            Media::Transcode { source, .. } => Ok(source.next_frame()?.map(Unit::Frame)),
            Media::Passthrough(p) => Ok(p.next_packet()?.map(Unit::Packet)),
        }
    }

    /// Starts the session's encoder (transcode) and returns the stream's codec parameters.
    fn start(
        &mut self,
        settings: &EncodeConfig,
        wall_offset_s: f64,
        stamp: &StampText,
    ) -> Result<codec::Parameters, Error> {
        match self {
            Media::Transcode {
                source, encoder, ..
            } => {
                let e = Encoder::open(source.info(), settings, wall_offset_s, stamp)?;
                let params = e.parameters();
                *encoder = Some(e);
                Ok(params)
            }
            Media::Passthrough(p) => Ok(p.parameters()),
        }
    }

    /// Turns a unit into packets (numbered with their frame), appended to `out`.
    fn process(
        &mut self,
        unit: Unit,
        frame_no: u64,
        keyframe: bool,
        stamp: Option<&StampText>,
        out: &mut Vec<EncodedPacket>,
    ) -> Result<(), Error> {
        match (self, unit) {
            (
                Media::Transcode {
                    encoder: Some(encoder),
                    in_flight,
                    ..
                },
                Unit::Frame(mut frame),
            ) => {
                if let Some(stamp) = stamp {
                    encoder.set_stamp(stamp)?;
                }
                in_flight.push_back((frame.pts().unwrap_or(0), frame_no));
                let mut packets = Vec::new();
                encoder.encode(&mut frame, keyframe, &mut packets)?;
                out.extend(packets.into_iter().map(|p| number(p, in_flight)));
                Ok(())
            }
            (Media::Passthrough(_), Unit::Packet(mut p)) => {
                p.frame_no = frame_no;
                out.push(p);
                Ok(())
            }
            _ => Err(Error::Thread(
                "internal: media path and input unit disagree".into(),
            )),
        }
    }

    fn finish(&mut self, out: &mut Vec<EncodedPacket>) -> Result<(), Error> {
        if let Media::Transcode {
            encoder: Some(encoder),
            in_flight,
            ..
        } = self
        {
            let mut packets = Vec::new();
            encoder.finish(&mut packets)?;
            out.extend(packets.into_iter().map(|p| number(p, in_flight)));
        }
        Ok(())
    }

    fn is_passthrough(&self) -> bool {
        matches!(self, Media::Passthrough(_))
    }
}

/// One opening of a source: one clock reading, one encoder (or none, in passthrough), frames
/// until it ends or fails.
fn run_session(
    source: AnySource,
    cam: &CameraConfig,
    station: &StationConfig,
    settings: &EncodeConfig,
    commands: &Receiver<CameraCommand>,
    send: &dyn Fn(CameraEvent) -> Result<(), Error>,
    open: &mut Option<OpenOrder>,
) -> Result<SessionEnd, Error> {
    let mut media = Media::open(source, cam);
    let info = media.info();
    let mut unit = match media.next() {
        Ok(Some(u)) => u,
        Ok(None) => return Ok(SessionEnd::Ended),
        Err(e) => return Ok(SessionEnd::Lost(e.to_string())),
    };
    // The one clock reading of this camera session; every frame's time derives from it.
    let wall0 = chrono::Local::now().fixed_offset();
    let pts0 = unit.pts();
    let wall_offset_s = wall0.timestamp_micros() as f64 / 1e6 - info.seconds(pts0);
    let ticks = |s: f64| (s / info.seconds(1).max(1e-9)).round() as i64;
    let post_roll = ticks(station.post_roll_s);
    let mut stamp = StampText {
        station: station.id.clone(),
        camera: cam.id.clone(),
        order: None,
        operator: None,
        tracking: Vec::new(),
        template: settings.stamp_template.clone(),
    };
    let params = media.start(settings, wall_offset_s, &stamp)?;
    send(CameraEvent::Started {
        info,
        params,
        wall0,
        pts0,
        text_track: media.is_passthrough(),
    })?;
    let mut packets = Vec::new();
    let mut frame_no = 0u64;
    // After a stop code, the stamp keeps the order until the post-roll ends.
    let mut idle_from: Option<i64> = None;
    // An order open before this session (scanned while the camera was down, or lost mid-clip).
    let mut resume = open.clone();
    let end = loop {
        let pts = unit.pts();
        let mut keyframe = false;
        let mut shutdown = false;
        let mut restamp = false;
        if idle_from.is_some_and(|t| pts >= t) {
            idle_from = None;
            stamp.order = None;
            stamp.tracking.clear();
            *open = None;
            restamp = true;
        }
        if let Some(o) = resume.take() {
            show(&mut stamp, &o);
            keyframe = true;
            restamp = true;
            send(CameraEvent::Cut {
                pts,
                next: Some(o),
                reason: "next_order",
            })?;
        }
        while let Ok(cmd) = commands.try_recv() {
            match cmd {
                CameraCommand::Order { next, reason } => {
                    show(&mut stamp, &next);
                    *open = Some(next.clone());
                    idle_from = None;
                    keyframe = true;
                    restamp = true;
                    send(CameraEvent::Cut {
                        pts,
                        next: Some(next),
                        reason,
                    })?;
                }
                CameraCommand::Stop {
                    reason,
                    post_roll: true,
                } => {
                    if stamp.order.is_some() {
                        idle_from = Some(pts + post_roll);
                    }
                    send(CameraEvent::Cut {
                        pts: pts + post_roll,
                        next: None,
                        reason,
                    })?;
                }
                CameraCommand::Stop {
                    reason,
                    post_roll: false,
                } => {
                    idle_from = None;
                    stamp.order = None;
                    stamp.tracking.clear();
                    *open = None;
                    restamp = true;
                    send(CameraEvent::Cut {
                        pts,
                        next: None,
                        reason,
                    })?;
                }
                CameraCommand::Attach { code, kind } => {
                    if let Some(o) = open.as_mut() {
                        o.codes.push((code.clone(), kind.clone()));
                    }
                    stamp.tracking.push(code.clone());
                    restamp = true;
                    send(CameraEvent::Attach { code, kind })?;
                }
                CameraCommand::Shutdown => shutdown = true,
            }
        }
        if shutdown {
            break SessionEnd::Shutdown;
        }
        media.process(
            unit,
            frame_no,
            keyframe,
            restamp.then_some(&stamp),
            &mut packets,
        )?;
        for p in packets.drain(..) {
            send(CameraEvent::Packet(p))?;
        }
        frame_no += 1;
        match media.next() {
            Ok(Some(u)) => unit = u,
            Ok(None) => break SessionEnd::Ended,
            Err(e) => break SessionEnd::Lost(e.to_string()),
        }
    };
    let late = match &media {
        Media::Transcode { source, .. } => source.late_frames(),
        Media::Passthrough(_) => 0,
    };
    tracing::info!(camera = %cam.id, frames = frame_no, late, "camera session ended");
    // Whatever was encoded goes into the clip before it is sealed.
    media.finish(&mut packets)?;
    for p in packets.drain(..) {
        send(CameraEvent::Packet(p))?;
    }
    if idle_from.is_some() {
        *open = None; // stopped during the post-roll: nothing to resume
    }
    Ok(end)
}

/// Puts an order into the stamp: its code (with the box number from box 2 on), operator and
/// attached codes.
fn show(stamp: &mut StampText, o: &OpenOrder) {
    stamp.order = Some(order_label(&o.code, o.box_no));
    stamp.operator = o.operator.clone();
    stamp.tracking = o.codes.iter().map(|c| c.0.clone()).collect();
}

fn order_label(code: &str, box_no: u32) -> String {
    if box_no > 1 {
        format!("{code} box {box_no}")
    } else {
        code.to_string()
    }
}

/// Gives a packet the camera-session number of its frame.
fn number(mut p: EncodedPacket, in_flight: &mut VecDeque<(i64, u64)>) -> EncodedPacket {
    while let Some(&(pts, n)) = in_flight.front() {
        if pts < p.pts {
            in_flight.pop_front();
            continue;
        }
        if pts == p.pts {
            in_flight.pop_front();
            p.frame_no = n;
        }
        break;
    }
    p
}

struct ClipContext {
    station: String,
    stamp_template: String,
    camera: String,
    max_clip_s: u32,
    pre_roll_s: f64,
    evidence: Arc<Mutex<Evidence>>,
}

struct Session {
    info: StreamInfo,
    params: codec::Parameters,
    wall0: DateTime<FixedOffset>,
    pts0: i64,
    text_track: bool,
}

impl Session {
    fn wall(&self, pts: i64) -> DateTime<FixedOffset> {
        let micros = (self.info.seconds(pts - self.pts0) * 1e6).round() as i64;
        self.wall0 + chrono::Duration::microseconds(micros)
    }
}

struct OpenClip {
    writer: ClipWriter,
    /// Passthrough: the pts from which the next one-second stamp sample is due.
    next_text: i64,
    opened_seq: u64,
    order: String,
    box_no: u32,
    operator: Option<String>,
    /// Attached codes, for the stamp of the text track.
    codes: Vec<String>,
    file: String,
    started_at: String,
    first_frame: u64,
}

/// The last seconds of encoded video, from a keyframe on: the pre-roll of the next clip.
struct PreRoll {
    packets: VecDeque<EncodedPacket>,
    /// Pre-roll asked for, in time-base ticks (may be 0).
    want: i64,
    /// Kept: `want`, but in passthrough at least the current GOP (a clip must start on the
    /// camera's keyframe before the scan).
    keep: i64,
}

impl PreRoll {
    fn push(&mut self, p: &EncodedPacket) {
        if self.keep <= 0 {
            return;
        }
        if self.packets.is_empty() && !p.key {
            return; // a pre-roll starts on a keyframe
        }
        self.packets.push_back(p.clone());
        // Drop whole GOPs while the next keyframe is still at least `keep` before the newest.
        let newest = p.pts;
        while let Some(second) = self.packets.iter().skip(1).position(|q| q.key) {
            let second = second + 1;
            if newest - self.packets[second].pts >= self.keep {
                self.packets.drain(..second);
            } else {
                break;
            }
        }
    }

    fn has_keyframe(&self) -> bool {
        self.packets.front().is_some_and(|p| p.key)
    }

    /// Packets from the latest keyframe at least `want` before `at` (or the oldest kept), up
    /// to `at`; none when `at` is itself a keyframe and no pre-roll is wanted.
    fn take_before(&self, at: i64, at_is_key: bool) -> Vec<EncodedPacket> {
        if at_is_key && self.want == 0 {
            return Vec::new();
        }
        let start = self
            .packets
            .iter()
            .rposition(|q| q.key && at - q.pts >= self.want.max(1))
            .unwrap_or(0);
        self.packets
            .iter()
            .skip(start)
            .filter(|q| q.pts < at)
            .cloned()
            .collect()
    }

    fn clear(&mut self) {
        self.packets.clear();
    }
}

/// A cut waiting for its frame: (pts, next order, reason to seal the open clip).
type PendingCut = (i64, Option<OpenOrder>, &'static str);

fn clip_loop(ctx: ClipContext, events: Receiver<CameraEvent>) -> Result<(), Error> {
    let mut session: Option<Session> = None;
    let mut current: Option<OpenClip> = None;
    let mut pending: VecDeque<PendingCut> = VecDeque::new();
    // An order waiting for its first keyframe.
    let mut waiting: Option<OpenOrder> = None;
    let mut pre_roll = PreRoll {
        packets: VecDeque::new(),
        want: 0,
        keep: 0,
    };
    let result = (|| {
        for ev in events.iter() {
            match ev {
                CameraEvent::Started {
                    info,
                    params,
                    wall0,
                    pts0,
                    text_track,
                } => {
                    pre_roll.want = (ctx.pre_roll_s / info.seconds(1).max(1e-9)).round() as i64;
                    pre_roll.keep = if text_track {
                        pre_roll.want.max(1)
                    } else {
                        pre_roll.want
                    };
                    pre_roll.clear();
                    session = Some(Session {
                        info,
                        params,
                        wall0,
                        pts0,
                        text_track,
                    });
                }
                CameraEvent::Cut { pts, next, reason } => {
                    // A cut supersedes later ones still pending (a new order during a post-roll).
                    while pending.back().is_some_and(|c| c.0 >= pts) {
                        pending.pop_back();
                    }
                    pending.push_back((pts, next, reason));
                }
                CameraEvent::Packet(p) => {
                    let Some(s) = session.as_ref() else { continue };
                    while pending.front().is_some_and(|c| p.pts >= c.0) {
                        let Some((_, next, reason)) = pending.pop_front() else {
                            break;
                        };
                        if let Some(open) = current.take() {
                            seal(&ctx, s, open, reason)?;
                        }
                        if let Some(skipped) = waiting.take() {
                            tracing::warn!(order = %skipped.code, "order replaced before its first frame; no clip recorded");
                        }
                        waiting = next;
                    }
                    // A clip starts on a keyframe: the scan's own (transcode forces one), or in
                    // passthrough the camera's last one before the scan, from the pre-roll ring.
                    if waiting.is_some() && (p.key || pre_roll.has_keyframe()) {
                        if let Some(order) = waiting.take() {
                            let earlier = pre_roll.take_before(p.pts, p.key);
                            let first = earlier.first().unwrap_or(&p);
                            let (first_ts, first_frame) = ((first.pts, first.dts), first.frame_no);
                            let mut open =
                                open_clip(&ctx, s, &order, first_ts, first_frame, p.pts)?;
                            for q in earlier {
                                write_packet(s, &ctx, &mut open, q)?;
                            }
                            current = Some(open);
                        }
                    }
                    pre_roll.push(&p);
                    if let Some(open) = current.as_mut() {
                        let elapsed = s.info.seconds(p.pts - open.writer.first_pts());
                        if elapsed >= ctx.max_clip_s as f64 {
                            if let Some(open) = current.take() {
                                seal(&ctx, s, open, "timeout")?;
                            }
                        } else {
                            write_packet(s, &ctx, open, p)?;
                        }
                    }
                }
                CameraEvent::Attach { code, kind } => {
                    // To the clip about to open if a cut is on its way, else to the open one.
                    let upcoming = match pending.back_mut() {
                        Some((_, next, _)) => next.as_mut(),
                        None => waiting.as_mut(),
                    };
                    if let Some(next) = upcoming {
                        next.codes.push((code, kind));
                    } else if let Some(open) = current.as_mut() {
                        lock(&ctx.evidence)?.attach_code(open.opened_seq, &code, &kind)?;
                        open.codes.push(code);
                    } else {
                        tracing::warn!(camera = %ctx.camera, code = %code, "no clip open to attach the code to; it is in the scan record");
                    }
                }
                CameraEvent::End { reason } => {
                    // A cut whose frame never came (stop, then shutdown) still gives its reason.
                    let seal_reason = pending.front().map_or(reason, |c| c.2);
                    if let (Some(s), Some(open)) = (session.as_ref(), current.take()) {
                        seal(&ctx, s, open, seal_reason)?;
                    }
                    if reason != "camera_lost" {
                        return Ok(());
                    }
                    // The camera session is over; the next one has its own clock and encoder.
                    session = None;
                    pending.clear();
                    waiting = None;
                    pre_roll.clear();
                }
            }
        }
        // The capture thread vanished without an End: seal what we have.
        if let (Some(s), Some(open)) = (session.as_ref(), current.take()) {
            seal(&ctx, s, open, "source_ended")?;
        }
        Ok(())
    })();
    if result.is_err() {
        if let (Some(s), Some(open)) = (session.as_ref(), current.take()) {
            // Best effort: keep the evidence written so far, sealed, before reporting the error.
            if let Err(e) = seal(&ctx, s, open, "error") {
                tracing::error!(error = %e, "could not seal the open clip after an error");
            }
        }
    }
    result
}

#[allow(clippy::too_many_arguments)]
/// Writes a packet to an open clip; in passthrough, first the stamp samples (one a second,
/// the same text the picture would carry) that are due by its time.
fn write_packet(
    s: &Session,
    ctx: &ClipContext,
    open: &mut OpenClip,
    p: EncodedPacket,
) -> Result<(), Error> {
    if s.text_track {
        let second = (1.0 / s.info.seconds(1).max(1e-9)).round().max(1.0) as i64;
        while open.next_text <= p.pts {
            let wall = s.wall(open.next_text);
            let stamp = StampText {
                station: ctx.station.clone(),
                camera: ctx.camera.clone(),
                order: Some(order_label(&open.order, open.box_no)),
                operator: open.operator.clone(),
                tracking: open.codes.clone(),
                template: ctx.stamp_template.clone(),
            };
            let text = stamp.render(
                &wall.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
                &wall.format("%z").to_string(),
            );
            open.writer.write_text(open.next_text, second, &text)?;
            open.next_text += second;
        }
    }
    open.writer.write(p)?;
    Ok(())
}

fn open_clip(
    ctx: &ClipContext,
    s: &Session,
    order: &OpenOrder,
    (first_pts, first_dts): (i64, i64),
    first_frame: u64,
    scan_pts: i64,
) -> Result<OpenClip, Error> {
    let code = order.code.as_str();
    let started = s.wall(first_pts);
    let started_at = ledger::format_time(started);
    let mut ev = lock(&ctx.evidence)?;
    let seq = ev.ledger.next_seq();
    let file = format!(
        "clips/{}/{}/{}_{}_{:06}.mp4",
        ctx.station,
        started.format("%Y-%m-%d"),
        clip::safe_name(code),
        ctx.camera,
        seq
    );
    let path = ev.data_dir().join(&file);
    // The record first: a recording can never exist without a trace in the manifest.
    let rec = ev.append(Body::ClipOpened {
        order: code.to_string(),
        station: ctx.station.clone(),
        camera: ctx.camera.clone(),
        operator: order.operator.clone(),
        group: order.group.clone(),
        part: order.part,
        box_no: order.box_no,
        file: file.clone(),
        started_at: started_at.clone(),
        scanned_at: ledger::format_time(s.wall(scan_pts)),
        first_frame,
        clock_synced: crate::capture::clock_synchronised(),
    })?;
    // Codes scanned before the clip's first frame, or during an earlier part of the order.
    for (c, kind) in &order.codes {
        ev.attach_code(rec.seq, c, kind)?;
    }
    drop(ev);
    let writer = ClipWriter::create(
        &path,
        &s.params,
        s.info.time_base,
        (first_pts, first_dts),
        s.text_track,
    )?;
    tracing::info!(order = code, camera = %ctx.camera, file = %file, "clip opened");
    Ok(OpenClip {
        writer,
        opened_seq: rec.seq,
        order: code.to_string(),
        box_no: order.box_no,
        operator: order.operator.clone(),
        codes: order.codes.iter().map(|c| c.0.clone()).collect(),
        file,
        started_at,
        first_frame,
        next_text: first_pts,
    })
}

fn seal(ctx: &ClipContext, s: &Session, open: OpenClip, reason: &str) -> Result<(), Error> {
    let OpenClip {
        writer,
        opened_seq,
        order,
        file,
        started_at,
        first_frame,
        ..
    } = open;
    let sealed = writer.finish()?;
    let frame = s.info.frame_duration();
    let duration_ms =
        (s.info.seconds(sealed.last_pts - sealed.first_pts + frame) * 1000.0).round() as u64;
    let body = Body::ClipSealed {
        clip: opened_seq,
        order: order.clone(),
        station: ctx.station.clone(),
        camera: ctx.camera.clone(),
        file: file.clone(),
        reason: reason.to_string(),
        started_at,
        ended_at: ledger::format_time(s.wall(sealed.last_pts)),
        duration_ms,
        frames: sealed.frames,
        first_frame,
        size: sealed.size,
        sha256: sealed.sha256,
        fragments: sealed.fragments.len() as u64,
        fragments_sha256: clip::fragments_digest(&sealed.fragments),
    };
    lock(&ctx.evidence)?.append(body)?;
    tracing::info!(order = %order, camera = %ctx.camera, file = %file, reason, frames = sealed.frames, "clip sealed");
    Ok(())
}
