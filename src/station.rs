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

use crate::capture::{FfmpegSource, FrameSource, StreamInfo};
use crate::clip::{self, ClipWriter};
use crate::config::{CameraConfig, Config, EncodeConfig, StationConfig};
use crate::encode::{EncodedPacket, Encoder, StampText};
use crate::index::Index;
use crate::ledger::note::StationKey;
use crate::ledger::{self, Body, Ledger, Record};
use crate::trigger::Command;
use crate::Error;

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
}

/// Where the station key of a data dir lives (a relative `key_file` is inside the data dir).
pub fn key_path(data_dir: &Path, config: &Config) -> PathBuf {
    data_dir.join(&config.ledger.key_file)
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
        let key = StationKey::load_or_create(&key_path(data_dir, config), &config.station.id)?;
        let mut ev = Evidence {
            ledger,
            index: Some(index),
            data_dir: data_dir.to_owned(),
            observer,
            key,
            checkpoint_every: config.ledger.checkpoint_every,
            checkpoint_interval: Duration::from_secs(config.ledger.checkpoint_minutes * 60),
            last_checkpoint: Instant::now(),
        };
        ev.recover()?;
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
    /// Start (or switch to) this order; `group` is shared by the clips of one scan.
    Order {
        code: String,
        group: String,
    },
    /// Seal the open clip after the post-roll.
    Stop,
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
    },
    /// From the frame with this pts on, the open clip (if any) is sealed for `reason`, and a clip
    /// of `next` (if any) starts, with its pre-roll.
    Cut {
        pts: i64,
        next: Option<(String, String)>,
        reason: &'static str,
    },
    Packet(EncodedPacket),
    /// The session ended; seal for this reason.
    End {
        reason: &'static str,
    },
}

/// A running station.
pub struct Station {
    evidence: Arc<Mutex<Evidence>>,
    commands: Vec<Sender<CameraCommand>>,
    capture: Vec<(String, JoinHandle<Result<(), Error>>)>,
    clips: Vec<(String, JoinHandle<Result<(), Error>>)>,
    /// Clip-group ids: `<session start, unix ms>-<scan number>`.
    session: i64,
    scans: AtomicU64,
}

impl Station {
    /// Opens every camera of the config and starts recording (idle until the first order).
    pub fn start(config: &Config, evidence: Arc<Mutex<Evidence>>) -> Result<Station, Error> {
        let mut sources = Vec::new();
        for cam in &config.cameras {
            let source = FfmpegSource::open(&cam.source, cam.realtime)?;
            sources.push((cam.clone(), source));
        }
        let mut station = Station {
            evidence: evidence.clone(),
            commands: Vec::new(),
            capture: Vec::new(),
            clips: Vec::new(),
            session: chrono::Utc::now().timestamp_millis(),
            scans: AtomicU64::new(0),
        };
        for (cam, source) in sources {
            let (cmd_tx, cmd_rx) = mpsc::channel();
            // Bounded: a stalled disk slows capture instead of growing memory without limit.
            let (ev_tx, ev_rx) = mpsc::sync_channel(256);
            let settings = config.encode.clone();
            let station_cfg = config.station.clone();
            let camera = cam.clone();
            let handle = std::thread::Builder::new()
                .name(format!("capture-{}", cam.id))
                .spawn(move || {
                    capture_loop(
                        Box::new(source),
                        &camera,
                        &station_cfg,
                        &settings,
                        cmd_rx,
                        ev_tx,
                    )
                })
                .map_err(|e| Error::Thread(format!("cannot start capture thread: {e}")))?;
            station.capture.push((cam.id.clone(), handle));
            let ctx = ClipContext {
                station: config.station.id.clone(),
                camera: cam.id.clone(),
                max_clip_s: config.station.max_clip_s,
                pre_roll_s: config.station.pre_roll_s,
                evidence: evidence.clone(),
            };
            let handle = std::thread::Builder::new()
                .name(format!("clips-{}", cam.id))
                .spawn(move || clip_loop(ctx, ev_rx))
                .map_err(|e| Error::Thread(format!("cannot start clip thread: {e}")))?;
            station.clips.push((cam.id.clone(), handle));
            station.commands.push(cmd_tx);
        }
        Ok(station)
    }

    /// Sends a command to every camera of the station.
    pub fn send(&self, cmd: &Command) {
        let cmd = match cmd {
            Command::Order(code) => {
                let n = self.scans.fetch_add(1, Ordering::Relaxed) + 1;
                CameraCommand::Order {
                    code: code.clone(),
                    group: format!("{}-{n}", self.session),
                }
            }
            Command::Stop => CameraCommand::Stop,
            Command::Shutdown => CameraCommand::Shutdown,
        };
        for tx in &self.commands {
            let _ = tx.send(cmd.clone());
        }
    }

    /// True while every camera is still recording.
    pub fn running(&self) -> bool {
        self.capture.iter().all(|(_, h)| !h.is_finished())
    }

    /// Seals open clips (reason `shutdown`) and waits for every thread. Returns the first error.
    pub fn shutdown(self) -> Result<(), Error> {
        self.send(&Command::Shutdown);
        let mut first_err = None;
        for (cam, h) in self.capture.into_iter().chain(self.clips) {
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

    /// Writes a checkpoint when one is due; call it now and then while idle.
    pub fn tick(&self) -> Result<(), Error> {
        lock(&self.evidence)?.tick()
    }
}

/// Writes the `station_start` record of a session.
pub fn record_start(
    evidence: &Mutex<Evidence>,
    config: &Config,
    config_sha256: &str,
) -> Result<Record, Error> {
    let mut ev = lock(evidence)?;
    let key = ev.verifier();
    ev.append(Body::StationStart {
        station: config.station.id.clone(),
        software: format!("packwitness {}", env!("CARGO_PKG_VERSION")),
        config_sha256: config_sha256.to_string(),
        cameras: config.cameras.iter().map(|c| c.id.clone()).collect(),
        key,
    })
}

fn lock(evidence: &Mutex<Evidence>) -> Result<std::sync::MutexGuard<'_, Evidence>, Error> {
    evidence.lock().map_err(|_| {
        Error::Thread("the evidence writer panicked earlier; restart packwitness".into())
    })
}

fn capture_loop(
    mut source: Box<dyn FrameSource>,
    cam: &CameraConfig,
    station: &StationConfig,
    settings: &EncodeConfig,
    commands: Receiver<CameraCommand>,
    events: SyncSender<CameraEvent>,
) -> Result<(), Error> {
    let info = source.info();
    let send = |ev| {
        events
            .send(ev)
            .map_err(|_| Error::Thread(format!("camera {}: clip writer stopped", cam.id)))
    };
    let Some(mut frame) = source.next_frame()? else {
        send(CameraEvent::End {
            reason: "source_ended",
        })?;
        return Ok(());
    };
    // The one clock reading of this camera session; every frame's time derives from it.
    let wall0 = chrono::Local::now().fixed_offset();
    let pts0 = frame.pts().unwrap_or(0);
    let wall_offset_s = wall0.timestamp_micros() as f64 / 1e6 - info.seconds(pts0);
    let ticks = |s: f64| (s / info.seconds(1).max(1e-9)).round() as i64;
    let post_roll = ticks(station.post_roll_s);
    let mut stamp = StampText {
        station: station.id.clone(),
        camera: cam.id.clone(),
        order: None,
    };
    let mut encoder = Encoder::open(info, settings, wall_offset_s, &stamp)?;
    send(CameraEvent::Started {
        info,
        params: encoder.parameters(),
        wall0,
        pts0,
    })?;
    let mut packets = Vec::new();
    // Frames inside the encoder, oldest first: (pts, frame number). No B-frames, so packets
    // come out in this order.
    let mut in_flight: VecDeque<(i64, u64)> = VecDeque::new();
    let mut frame_no = 0u64;
    // After a stop code, the stamp keeps the order until the post-roll ends.
    let mut idle_from: Option<i64> = None;
    let end_reason = loop {
        let pts = frame.pts().unwrap_or(0);
        let mut keyframe = false;
        let mut shutdown = false;
        let mut restamp = false;
        if idle_from.is_some_and(|t| pts >= t) {
            idle_from = None;
            stamp.order = None;
            restamp = true;
        }
        while let Ok(cmd) = commands.try_recv() {
            match cmd {
                CameraCommand::Order { code, group } => {
                    stamp.order = Some(code.clone());
                    idle_from = None;
                    keyframe = true;
                    restamp = true;
                    send(CameraEvent::Cut {
                        pts,
                        next: Some((code, group)),
                        reason: "next_order",
                    })?;
                }
                CameraCommand::Stop => {
                    if stamp.order.is_some() {
                        idle_from = Some(pts + post_roll);
                    }
                    send(CameraEvent::Cut {
                        pts: pts + post_roll,
                        next: None,
                        reason: "stop_code",
                    })?;
                }
                CameraCommand::Shutdown => shutdown = true,
            }
        }
        if shutdown {
            break "shutdown";
        }
        if restamp {
            encoder.set_stamp(&stamp)?;
        }
        in_flight.push_back((pts, frame_no));
        encoder.encode(&mut frame, keyframe, &mut packets)?;
        for p in packets.drain(..) {
            send(CameraEvent::Packet(number(p, &mut in_flight)))?;
        }
        frame_no += 1;
        match source.next_frame()? {
            Some(f) => frame = f,
            None => break "source_ended",
        }
    };
    encoder.finish(&mut packets)?;
    for p in packets.drain(..) {
        send(CameraEvent::Packet(number(p, &mut in_flight)))?;
    }
    send(CameraEvent::End { reason: end_reason })?;
    Ok(())
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
}

impl Session {
    fn wall(&self, pts: i64) -> DateTime<FixedOffset> {
        let micros = (self.info.seconds(pts - self.pts0) * 1e6).round() as i64;
        self.wall0 + chrono::Duration::microseconds(micros)
    }
}

struct OpenClip {
    writer: ClipWriter,
    opened_seq: u64,
    order: String,
    file: String,
    started_at: String,
    first_frame: u64,
}

/// The last seconds of encoded video, from a keyframe on: the pre-roll of the next clip.
struct PreRoll {
    packets: VecDeque<EncodedPacket>,
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

    /// Packets from the latest keyframe at least `keep` before `at` (or the oldest kept).
    fn take_before(&self, at: i64) -> Vec<EncodedPacket> {
        let start = self
            .packets
            .iter()
            .rposition(|q| q.key && at - q.pts >= self.keep)
            .unwrap_or(0);
        self.packets
            .iter()
            .skip(start)
            .filter(|q| q.pts < at)
            .cloned()
            .collect()
    }
}

/// A cut waiting for its frame: (pts, next order and group, reason to seal the open clip).
type PendingCut = (i64, Option<(String, String)>, &'static str);

fn clip_loop(ctx: ClipContext, events: Receiver<CameraEvent>) -> Result<(), Error> {
    let mut session: Option<Session> = None;
    let mut current: Option<OpenClip> = None;
    let mut pending: VecDeque<PendingCut> = VecDeque::new();
    // An order waiting for its first keyframe: (code, group).
    let mut waiting: Option<(String, String)> = None;
    let mut pre_roll = PreRoll {
        packets: VecDeque::new(),
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
                } => {
                    pre_roll.keep = (ctx.pre_roll_s / info.seconds(1).max(1e-9)).round() as i64;
                    session = Some(Session {
                        info,
                        params,
                        wall0,
                        pts0,
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
                        if let Some((skipped, _)) = waiting.take() {
                            tracing::warn!(order = %skipped, "order replaced before its first frame; no clip recorded");
                        }
                        waiting = next;
                    }
                    if waiting.is_some() && p.key {
                        if let Some((code, group)) = waiting.take() {
                            let earlier = pre_roll.take_before(p.pts);
                            let first = earlier.first().unwrap_or(&p);
                            let (first_pts, first_frame) = (first.pts, first.frame_no);
                            let mut open =
                                open_clip(&ctx, s, &code, &group, first_pts, first_frame, p.pts)?;
                            for q in earlier {
                                open.writer.write(q)?;
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
                            open.writer.write(p)?;
                        }
                    }
                }
                CameraEvent::End { reason } => {
                    // A cut whose frame never came (stop, then shutdown) still gives its reason.
                    let reason = pending.front().map_or(reason, |c| c.2);
                    if let (Some(s), Some(open)) = (session.as_ref(), current.take()) {
                        seal(&ctx, s, open, reason)?;
                    }
                    return Ok(());
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
fn open_clip(
    ctx: &ClipContext,
    s: &Session,
    code: &str,
    group: &str,
    first_pts: i64,
    first_frame: u64,
    scan_pts: i64,
) -> Result<OpenClip, Error> {
    let started = s.wall(first_pts);
    let started_at = ledger::format_time(started);
    let mut ev = lock(&ctx.evidence)?;
    let seq = ev.ledger_next_seq();
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
        operator: None,
        group: group.to_string(),
        file: file.clone(),
        started_at: started_at.clone(),
        scanned_at: ledger::format_time(s.wall(scan_pts)),
        first_frame,
    })?;
    drop(ev);
    let writer = ClipWriter::create(&path, &s.params, s.info.time_base, first_pts)?;
    tracing::info!(order = code, camera = %ctx.camera, file = %file, "clip opened");
    Ok(OpenClip {
        writer,
        opened_seq: rec.seq,
        order: code.to_string(),
        file,
        started_at,
        first_frame,
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

impl Evidence {
    fn ledger_next_seq(&self) -> u64 {
        self.ledger.next_seq()
    }
}
