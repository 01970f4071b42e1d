//! A station: its cameras, its state machine, and what a scan does.
//!
//! Owns: starting a camera loop and a clip assembly per camera (two threads each, joined by
//! a bounded channel), deciding what each scan does (the state machine, on the station's
//! clock), writing that decision as a `scan` record before anyone is told (the record is the
//! acknowledgement), telling the cameras, timeouts, and shutting the cameras down cleanly.
//! Never: reads scanners or serves HTTP (the app does) or writes a clip (assembly does).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::assembly::{Assembly, ClipFiles, Context, OpenOrder, RecordSink};
use super::camera::{self, CameraCommand, CameraLoop, Opener};
use super::health::{CameraHealth, CameraState, CameraStatus};
use super::state::{Action, Settings, StateMachine};
use crate::clock::{format_time, SharedClock};
use crate::codes::{Rejected, Scan};
use crate::config::{Config, StationConfig};
use crate::error::Error;
use crate::log::{Body, Record, SealReason};

/// Events that may wait between a camera and its clip writer: about a quarter second of
/// packets at 30 fps (a bounded channel: a slow disk slows capture, which counts the frames
/// that come late, instead of holding seconds of video that a crash would lose).
const EVENT_QUEUE: usize = 8;

/// What a station is started with, besides its config.
pub struct StationDeps {
    pub records: Arc<dyn RecordSink>,
    pub opener: Arc<dyn Opener>,
    pub files: Arc<dyn ClipFiles>,
    pub clock: SharedClock,
    pub data_dir: std::path::PathBuf,
    /// Where the cameras' live pictures are kept for the station screen.
    pub previews: Arc<super::preview::Previews>,
    /// Whether the data disk can be written (the writer looks).
    pub disk: Arc<super::disk::DataDisk>,
}

/// A running station.
pub struct Station {
    id: String,
    records: Arc<dyn RecordSink>,
    clock: SharedClock,
    commands: Vec<Sender<CameraCommand>>,
    capture: Vec<(String, JoinHandle<Result<(), Error>>)>,
    clips: Vec<(String, JoinHandle<Result<(), Error>>)>,
    /// Clip-group ids are opaque: 16 hex digits of SHA-256(`session` || scan number), where
    /// `session` is random per start. A bundle cites a group; it must not tell when the
    /// station started or how many orders came before (docs/format.md).
    session: [u8; 16],
    scans: AtomicU64,
    /// What scans do; with the clip group being recorded.
    machine: Mutex<(StateMachine, Option<String>)>,
    health: Vec<Arc<CameraHealth>>,
    seen: Mutex<Seen>,
    disk: Arc<super::disk::DataDisk>,
}

/// What became of a scan, for the packer's feedback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub action: Action,
    /// The order and box open after the scan.
    pub recording: Option<(String, u32)>,
    pub operator: Option<String>,
    /// An order is open but no camera of the station delivers frames: why (NOT RECORDING).
    pub not_recording: Option<String>,
}

/// How long an order scanned while every camera is still starting waits for one to deliver
/// frames before it gets a `no_video` record.
pub const NO_VIDEO_GRACE: Duration = Duration::from_secs(3);

/// An order scanned while no camera delivered frames, watched until one does.
#[derive(Debug, Clone)]
struct Unseen {
    order: String,
    box_no: u32,
    group: String,
    scanned_at: String,
    /// Monotonic time after which it gets its `no_video` record.
    deadline: Duration,
    /// Resumed after a crash (it has clips from before): a stop before any camera delivered
    /// does not make it an order without video.
    resumed: bool,
}

/// What the station saw lately, for its status.
#[derive(Debug, Default)]
struct Seen {
    unseen: Option<Unseen>,
    /// The open order: its group, and since when (wall, monotonic).
    order_since: Option<(String, Duration)>,
    last_scan: Option<LastScan>,
    last_rejection: Option<LastRejection>,
    scans: u64,
    rejects: u64,
    no_video: u64,
}

/// The last accepted scan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LastScan {
    pub code: String,
    pub action: String,
    pub at: String,
}

/// The last refused scan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LastRejection {
    pub scan: String,
    pub error: String,
    pub at: String,
    /// The reason's name (`codes::CodeError::name`), for the screen's words.
    #[serde(default)]
    pub why: String,
    /// A code rule's own message, when a rule refused it.
    #[serde(default)]
    pub rule_message: Option<String>,
}

/// What a station does with its open order now (its name on the wire and in the pages'
/// words is the snake_case one).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StationState {
    /// No order is open.
    #[default]
    Idle,
    /// An order is open, a camera delivers, and its clip opens at the next frame or keyframe.
    Starting,
    /// An order is open and a camera's clip writer writes its clip.
    Recording,
    /// An order is open and nothing of it can be recorded now: no camera delivers, or the
    /// data disk cannot be written.
    NotRecording,
}

impl StationState {
    pub fn as_str(self) -> &'static str {
        match self {
            StationState::Idle => "idle",
            StationState::Starting => "starting",
            StationState::Recording => "recording",
            StationState::NotRecording => "not_recording",
        }
    }
}

/// A station now, as status, the web page, `/healthz` and `/metrics` show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StationReport {
    pub id: String,
    pub state: StationState,
    pub order: Option<String>,
    #[serde(rename = "box")]
    pub box_no: Option<u32>,
    pub operator: Option<String>,
    /// When the open order was scanned, and seconds since.
    pub order_since: Option<String>,
    pub elapsed_s: Option<f64>,
    /// Why nothing is recorded of the open order.
    pub not_recording: Option<String>,
    pub last_scan: Option<LastScan>,
    pub last_rejection: Option<LastRejection>,
    pub scans: u64,
    pub rejects: u64,
    /// Orders that got a `no_video` record since the process started.
    pub no_video: u64,
    pub cameras: Vec<CameraStatus>,
}

/// The clip-group id of scan `n` of a session: opaque, unique in practice (64 bits), the same
/// on every camera of the scan.
fn group_id(session: &[u8; 16], n: u64) -> String {
    let mut input = session.to_vec();
    input.extend_from_slice(&n.to_be_bytes());
    let mut id = crate::digest::sha256_hex(&input);
    id.truncate(16);
    id
}

/// Writes the `station_start` record of a station's session.
pub fn record_start(
    records: &dyn RecordSink,
    station: &StationConfig,
    config_sha256: &str,
    key: &str,
) -> Result<Record, Error> {
    records.append(Body::StationStart {
        station: station.id.clone(),
        software: format!("packwitness {}", env!("CARGO_PKG_VERSION")),
        config_sha256: config_sha256.to_string(),
        cameras: station.cameras.iter().map(|c| c.id.clone()).collect(),
        key: key.to_string(),
        sources: station
            .cameras
            .iter()
            .map(|c| crate::media::source::redacted(&c.source))
            .collect(),
    })
}

impl Station {
    /// Starts every camera of `station` (idle until the first order). `config` gives what the
    /// stations of a process share (encoding).
    pub fn start(
        config: &Config,
        station: &StationConfig,
        deps: StationDeps,
    ) -> Result<Station, Error> {
        // A file or test source that cannot be opened is a configuration error; a network
        // camera that is down at start is retried by its camera loop, like a lost one.
        for cam in &station.cameras {
            camera::check_source(cam).map_err(|e| e.context(format!("camera {}", cam.id)))?;
        }
        let settings = Settings {
            rescan: station.rescan_same_order,
            debounce_ms: station.debounce_ms,
            max_clip_ms: u64::from(station.max_clip_s) * 1000,
        };
        let mut started = Station {
            id: station.id.clone(),
            records: deps.records.clone(),
            clock: deps.clock.clone(),
            commands: Vec::new(),
            capture: Vec::new(),
            clips: Vec::new(),
            session: {
                let mut secret = [0u8; 16];
                getrandom::getrandom(&mut secret).map_err(|e| {
                    Error::internal(format!(
                        "station {}: no randomness for clip-group ids ({e}); check the system's random source",
                        station.id
                    ))
                })?;
                secret
            },
            scans: AtomicU64::new(0),
            machine: Mutex::new((StateMachine::new(settings), None)),
            health: Vec::new(),
            seen: Mutex::new(Seen::default()),
            disk: deps.disk.clone(),
        };
        for cam in &station.cameras {
            let (cmd_tx, cmd_rx) = mpsc::channel();
            let (ev_tx, ev_rx) = camera::event_channel(EVENT_QUEUE);
            let health = CameraHealth::new(
                &cam.id,
                &crate::media::source::redacted(&cam.source),
                deps.clock.clone(),
            );
            started.health.push(health.clone());
            let preview = deps
                .previews
                .camera(&station.id, &cam.id)
                .map_err(|e| Error::internal(format!("cannot start a preview thread: {e}")))?;
            let looper = CameraLoop {
                preview,
                cam: cam.clone(),
                station: station.clone(),
                stamp_template: config.encode.stamp_template.clone(),
                opener: deps.opener.clone(),
                clock: deps.clock.clone(),
                health: health.clone(),
            };
            let id = station.id.clone();
            let handle = std::thread::Builder::new()
                .name(format!("capture-{}", cam.id))
                .spawn(move || {
                    // Every log line of this camera names its station.
                    let _span = tracing::info_span!("station", id = %id).entered();
                    looper.run(cmd_rx, ev_tx)
                })
                .map_err(|e| Error::internal(format!("cannot start a capture thread: {e}")))?;
            started.capture.push((cam.id.clone(), handle));
            let ctx = Context {
                station: station.id.clone(),
                camera: cam.id.clone(),
                stamp_template: config.encode.stamp_template.clone(),
                max_clip_s: station.max_clip_s,
                pre_roll_s: station.pre_roll_s,
                test_pattern: crate::media::SourceSpec::parse(&cam.source).is_test_pattern(),
                data_dir: deps.data_dir.clone(),
                records: deps.records.clone(),
                files: deps.files.clone(),
                health,
                disk: deps.disk.clone(),
            };
            let id = station.id.clone();
            let handle = std::thread::Builder::new()
                .name(format!("clips-{}", cam.id))
                .spawn(move || {
                    let _span = tracing::info_span!("station", id = %id).entered();
                    Assembly::new(ctx).run(ev_rx)
                })
                .map_err(|e| Error::internal(format!("cannot start a clip thread: {e}")))?;
            started.clips.push((cam.id.clone(), handle));
            started.commands.push(cmd_tx);
        }
        Ok(started)
    }

    fn now_ms(&self) -> u64 {
        self.clock.monotonic().as_millis() as u64
    }

    fn machine(&self) -> Result<std::sync::MutexGuard<'_, (StateMachine, Option<String>)>, Error> {
        self.machine
            .lock()
            .map_err(|_| Error::internal("the station state panicked earlier; restart"))
    }

    /// Acts on one scan from scanner `scanner`: decides what it does, writes that to the
    /// manifest, then tells the cameras. The returned outcome is the acknowledgement.
    pub fn scan(&self, scanner: &str, scan: &Scan) -> Result<Outcome, Error> {
        let scanned_at = format_time(self.clock.now());
        let mut guard = self.machine()?;
        let action = guard.0.scan(self.now_ms(), scan);
        if matches!(action, Action::Open(_) | Action::Switch { .. }) {
            let n = self.scans.fetch_add(1, Ordering::Relaxed) + 1;
            guard.1 = Some(group_id(&self.session, n));
        } else if matches!(action, Action::Seal { .. }) {
            guard.1 = None;
        }
        let machine = &guard.0;
        let recording = machine.recording().map(|(o, b)| (o.to_string(), b));
        let mut outcome = Outcome {
            action: action.clone(),
            not_recording: recording.as_ref().and_then(|_| self.why_not_recording()),
            recording,
            operator: machine.operator().map(str::to_string),
        };
        if let Some(written) = action.scan_action() {
            // Never waits on a missing disk: the record is kept and written first when the
            // manifest can be written again, and the packer is told NOT RECORDING now.
            let deferred = self.records.append_or_defer(Body::Scan {
                station: self.id.clone(),
                scanner: scanner.to_string(),
                code: scan.code.clone(),
                code_kind: scan.kind.as_str().to_string(),
                rule: scan.rule.clone(),
                action: written,
                detail: action.detail().map(str::to_string),
                order: outcome.recording.as_ref().map(|r| r.0.clone()),
                box_no: outcome.recording.as_ref().map(|r| r.1),
                group: guard.1.clone(),
                operator: outcome.operator.clone(),
                scanned_at: scanned_at.clone(),
            })?;
            if deferred.is_none() && outcome.not_recording.is_none() {
                outcome.not_recording = Some(self.disk.why().unwrap_or_else(|| {
                    "the manifest cannot be written now; the scan is kept and written when it can"
                        .into()
                }));
            }
        }
        let group = guard.1.clone();
        drop(guard);
        self.after_scan(&action, &outcome, group.as_deref(), &scan.code, &scanned_at)?;
        self.apply(&action, group);
        Ok(outcome)
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True when a camera delivers frames (whether they can be written or not): an order
    /// scanned now has video, or will have once clips can be written.
    fn delivering(&self) -> bool {
        self.health.iter().any(|h| h.state() == CameraState::Live)
    }

    /// Why no camera records now, if none delivers frames (`None`: one does).
    fn why_not_recording(&self) -> Option<String> {
        if let Some(why) = self.disk.why() {
            return Some(why);
        }
        if self.health.iter().any(|h| h.can_record()) {
            return None;
        }
        let down: Vec<_> = self.health.iter().map(|h| h.down()).collect();
        Some(super::health::down_text(&down))
    }

    /// Keeps what the status shows, and watches an order scanned while no camera delivers
    /// frames: it gets its `no_video` record now when every camera is down, or after
    /// [`NO_VIDEO_GRACE`] if the cameras still starting do not deliver by then.
    fn after_scan(
        &self,
        action: &Action,
        outcome: &Outcome,
        group: Option<&str>,
        code: &str,
        scanned_at: &str,
    ) -> Result<(), Error> {
        let now = self.clock.monotonic();
        let ended = {
            let mut seen = self.seen();
            seen.scans += 1;
            seen.last_scan = Some(LastScan {
                code: code.to_string(),
                action: action.name().to_string(),
                at: scanned_at.to_string(),
            });
            match action {
                Action::Open(_) | Action::Switch { .. } | Action::Seal { .. } => {
                    let ended = seen.unseen.take();
                    seen.order_since = None;
                    if let (Some((order, box_no)), Some(group)) = (&outcome.recording, group) {
                        seen.order_since = Some((scanned_at.to_string(), now));
                        if !self.delivering() {
                            seen.unseen = Some(Unseen {
                                order: order.clone(),
                                box_no: *box_no,
                                group: group.to_string(),
                                scanned_at: scanned_at.to_string(),
                                deadline: now + NO_VIDEO_GRACE,
                                resumed: false,
                            });
                        }
                    }
                    ended
                }
                _ => None,
            }
        };
        // An order that ended before any camera delivered a frame has no video.
        if let Some(u) = ended.filter(|u| !u.resumed) {
            if !self.delivering() {
                self.no_video(u)?;
            }
        }
        // Every camera down (none merely starting): no need to wait.
        let all_down = self
            .health
            .iter()
            .all(|h| matches!(h.state(), CameraState::Lost | CameraState::Stalled));
        if all_down {
            let u = self.seen().unseen.take();
            if let Some(u) = u.filter(|u| !u.resumed) {
                self.no_video(u)?;
            }
        }
        Ok(())
    }

    /// Writes the `no_video` record of an order.
    fn no_video(&self, u: Unseen) -> Result<(), Error> {
        let down: Vec<_> = self.health.iter().map(|h| h.down()).collect();
        tracing::error!(station = %self.id, order = %u.order, cameras = %super::health::down_text(&down), "NOT RECORDING: an order was scanned while no camera delivers frames; it has no video");
        self.records.append_or_defer(Body::NoVideo {
            station: self.id.clone(),
            order: u.order,
            box_no: u.box_no,
            group: u.group,
            scanned_at: u.scanned_at,
            down,
        })?;
        self.seen().no_video += 1;
        Ok(())
    }

    /// An order watched since its scan: a camera delivered (nothing to write), or the grace
    /// ran out (its `no_video` record).
    fn watch_unseen(&self) -> Result<(), Error> {
        let now = self.clock.monotonic();
        let due = {
            let mut seen = self.seen();
            match &seen.unseen {
                Some(_) if self.delivering() => {
                    seen.unseen = None;
                    None
                }
                Some(u) if now >= u.deadline => seen.unseen.take(),
                _ => None,
            }
        };
        match due {
            // A resumed order has its clips from before; its cameras' gaps say the rest.
            Some(u) if !u.resumed => self.no_video(u),
            _ => Ok(()),
        }
    }

    /// The station now.
    pub fn report(&self) -> StationReport {
        let (recording, operator) = self.recording();
        let now = self.clock.monotonic();
        let not_recording = recording.as_ref().and_then(|_| self.why_not_recording());
        let seen = self.seen();
        let (order_since, elapsed_s) = match &seen.order_since {
            Some((at, mono)) if recording.is_some() => (
                Some(at.clone()),
                Some(now.saturating_sub(*mono).as_secs_f64()),
            ),
            _ => (None, None),
        };
        StationReport {
            id: self.id.clone(),
            state: match (&recording, &not_recording) {
                (None, _) => StationState::Idle,
                // "recording" only once a clip writer says it writes this order's clip.
                (Some(_), None) if self.clip_open() => StationState::Recording,
                (Some(_), None) => StationState::Starting,
                (Some(_), Some(_)) => StationState::NotRecording,
            },
            order: recording.as_ref().map(|r| r.0.clone()),
            box_no: recording.as_ref().map(|r| r.1),
            operator,
            order_since,
            elapsed_s,
            not_recording,
            last_scan: seen.last_scan.clone(),
            last_rejection: seen.last_rejection.clone(),
            scans: seen.scans,
            rejects: seen.rejects,
            no_video: seen.no_video,
            cameras: self.health.iter().map(|h| h.status()).collect(),
        }
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
                    gap: None,
                },
                reason: match action {
                    Action::Switch { reason, .. } => *reason,
                    _ => SealReason::NextOrder,
                },
            },
            Action::Seal { reason, post_roll } => CameraCommand::Stop {
                reason: *reason,
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

    /// Resumes the order the station had open when the process before died: an
    /// `order_resumed` record, then its cameras record it as its next part (until its stop
    /// code, the next scan or `max_clip_s`), watched like a scanned order when no camera
    /// delivers yet.
    pub fn resume(&self, o: &crate::log::state::OpenOrderState) -> Result<(), Error> {
        let now = self.clock.monotonic();
        let mut guard = self.machine()?;
        self.records.append(Body::OrderResumed {
            station: self.id.clone(),
            order: o.order.clone(),
            box_no: o.box_no,
            group: o.group.clone(),
            scanned_at: o.scanned_at.clone(),
            reason:
                "the process died while the order was open; it is recorded again from its restart"
                    .into(),
        })?;
        guard
            .0
            .resume(self.now_ms(), &o.order, o.box_no, o.operator.clone());
        guard.1 = Some(o.group.clone());
        drop(guard);
        tracing::warn!(station = %self.id, order = %o.order, "order resumed after a crash");
        {
            let at = format_time(self.clock.now());
            let mut seen = self.seen();
            seen.order_since = Some((at.clone(), now));
            if !self.delivering() {
                seen.unseen = Some(Unseen {
                    order: o.order.clone(),
                    box_no: o.box_no,
                    group: o.group.clone(),
                    scanned_at: at,
                    deadline: now + NO_VIDEO_GRACE,
                    // Only an order with a clip from before the crash has video already.
                    resumed: o.part > 0,
                });
            }
        }
        let cmd = CameraCommand::Order {
            next: OpenOrder {
                code: o.order.clone(),
                group: o.group.clone(),
                part: o.part + 1,
                box_no: o.box_no,
                operator: o.operator.clone(),
                codes: Vec::new(),
                gap: None,
            },
            reason: SealReason::NextOrder,
        };
        for tx in &self.commands {
            let _ = tx.send(cmd.clone());
        }
        Ok(())
    }

    /// The station's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Reports a refused scan; recording is not touched.
    pub fn reject(&self, scanner: &str, rejected: &Rejected) {
        tracing::warn!(station = %self.id, scanner, scan = %rejected.raw, error = %rejected.error, "scan rejected");
        let mut seen = self.seen();
        seen.rejects += 1;
        seen.last_rejection = Some(LastRejection {
            scan: rejected.raw.clone(),
            error: rejected.error.to_string(),
            at: format_time(self.clock.now()),
            why: rejected.error.name().to_string(),
            rule_message: rejected.error.rule_message().map(str::to_string),
        });
    }

    /// True when a camera's clip writer has the open order's clip open (frames of it reach
    /// the disk now).
    fn clip_open(&self) -> bool {
        let group = match self.machine.lock() {
            Ok(g) => g.1.clone(),
            Err(_) => None,
        };
        group.is_some_and(|g| {
            self.health
                .iter()
                .any(|h| h.recording_group().as_deref() == Some(g.as_str()))
        })
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

    /// True while every camera loop is still running.
    pub fn running(&self) -> bool {
        self.capture.iter().all(|(_, h)| !h.is_finished())
    }

    /// Seals a clip past `max_clip_s` (on the station's clock) and writes the `no_video`
    /// record of an order whose cameras did not come up. Call it on a timer.
    pub fn tick(&self) -> Result<(), Error> {
        self.watch_unseen()?;
        self.tick_timeout();
        Ok(())
    }

    fn tick_timeout(&self) {
        let timed_out = match self.machine.lock() {
            Ok(mut g) => {
                let a = g.0.tick(self.now_ms());
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
    }

    /// Seals open clips (reason `shutdown`) and waits for every thread. Returns the first
    /// error.
    pub fn shutdown(self) -> Result<(), Error> {
        // An order no camera delivered for, stopped before its grace ran out, has no video.
        let unseen = self.seen().unseen.take();
        if let Some(u) = unseen.filter(|u| {
            if u.resumed {
                tracing::warn!(station = %self.id, order = %u.order, "stopped before a camera delivered the resumed order; its clips from before the crash stand, and nothing was recorded after it");
            }
            !u.resumed
        }) {
            if !self.delivering() {
                if let Err(e) = self.no_video(u) {
                    tracing::error!(station = %self.id, error = %e, "could not write the no_video record of the open order");
                }
            }
        }
        for tx in &self.commands {
            let _ = tx.send(CameraCommand::Shutdown);
        }
        let mut first_err = None;
        // Clip threads first: their errors (a write that failed) say more than the capture
        // thread's "clip writer stopped" that follows from them.
        for (cam, h) in self.clips.into_iter().chain(self.capture) {
            let res = h.join().unwrap_or_else(|_| {
                Err(Error::internal(format!("camera {cam}: a thread panicked")))
            });
            if let Err(e) = res {
                tracing::error!(camera = %cam, error = %e, "camera stopped with an error");
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod disk_faults;
#[cfg(test)]
mod tests;
