//! The camera loop: one camera for the whole life of a station, reconnecting forever.
//!
//! Owns: opening the camera's source through an [`Opener`] (so tests replay recorded packets
//! instead), one session per opening (one wall-clock reading, one encoder), turning the
//! station's commands into cut marks at the frame where they take effect (forcing a keyframe
//! there when transcoding), the stamp text, the post-roll, and reconnecting after a loss with
//! a capped backoff that starts again from one second after every session that delivered
//! frames (and is at most a second while an order is open, or a scan arrives). An order open
//! when the camera was lost continues as its next part; the time it recorded nothing is sent
//! as a gap (before the part that resumes it, or when the order ends first). A source that
//! reads better in bursts is left to fill once caught up, and a command that comes meanwhile
//! is held until the frames that arrived before it are processed. It tells the camera's
//! [`CameraHealth`] when a source fails and when a session starts.
//! Never: writes files or records (clip assembly does, from the events this loop sends).

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use super::assembly::{CameraEvent, Gap, OpenOrder};
use super::health::{short_time, CameraHealth};
use super::wallclock::{Adjust, WallMap};
use crate::clock::{format_time, SharedClock};
use crate::config::{CameraConfig, CaptureMode, EncodeConfig, StationConfig};
use crate::error::Error;
use crate::log::SealReason;
use crate::media::encoder::Transcode;
use crate::media::passthrough::Passthrough;
use crate::media::source::{self, AnySource, FfmpegSource, SourceSpec};
use crate::media::{PacketSource, StampText};

/// Opens a camera's source, once per session, on the camera's own thread.
pub trait Opener: Send + Sync {
    fn open(&self, cam: &CameraConfig) -> Result<Box<dyn PacketSource>, Error>;
}

/// The real cameras: USB through nokhwa, everything else through FFmpeg; transcode or
/// passthrough by the camera's `mode`.
pub struct MediaOpener {
    pub encode: EncodeConfig,
}

impl Opener for MediaOpener {
    fn open(&self, cam: &CameraConfig) -> Result<Box<dyn PacketSource>, Error> {
        // An rtsp:// camera whose packets are copied goes through retina unless told
        // otherwise; a codec retina cannot copy (MJPEG) is transcoded through FFmpeg.
        let retina = cam.rtsp_client == crate::config::RtspClient::Retina
            && cam.mode != CaptureMode::Transcode
            && cam.source.trim().starts_with("rtsp://");
        if retina {
            let opts = crate::media::rtsp::RtspOptions {
                udp: cam.rtsp_transport == crate::config::RtspTransport::Udp,
                stall: std::time::Duration::from_secs(u64::from(cam.stall_timeout_s.max(1))),
            };
            if let Some(s) = crate::media::rtsp::RtspPassthrough::open(&cam.source, &opts)? {
                return Ok(Box::new(s));
            }
        }
        let src = match source::open_source(cam)? {
            AnySource::Usb(usb) => return Ok(Box::new(Transcode::new(usb, &self.encode))),
            AnySource::Ffmpeg(s) => s,
        };
        Ok(media_path(src, cam, &self.encode))
    }
}

/// Transcode or passthrough for an opened FFmpeg source.
pub fn media_path(
    src: FfmpegSource,
    cam: &CameraConfig,
    settings: &EncodeConfig,
) -> Box<dyn PacketSource> {
    let live = SourceSpec::parse(&cam.source).is_live();
    let can = crate::media::passthrough::can_pass_through(src.codec_id());
    let pass = match cam.mode {
        CaptureMode::Passthrough => true,
        CaptureMode::Transcode => false,
        CaptureMode::Auto => live && can,
    };
    if pass && !can {
        tracing::warn!(camera = %cam.id, codec = ?src.codec_id(), "passthrough needs H.264 or H.265; transcoding instead");
    } else if pass {
        tracing::info!(camera = %cam.id, codec = ?src.codec_id(), "passthrough: packets copied, stamp as a text track");
        return Box::new(Passthrough::new(src));
    }
    Box::new(Transcode::new(Box::new(src), settings))
}

/// How far behind real time a frame may come before frames are left out (transcoding only:
/// a camera's own packets depend on each other and are never left out). Kept small, since a
/// crash loses what waits: this lag, the encoder's lookahead and the fragment being written.
pub const DROP_BEHIND_S: f64 = 0.2;

/// Frames left out since the last step (and at least [`STEP_MIN_S`] after it) before the
/// encoder steps to a faster preset.
pub const STEP_DOWN_DROPS: u64 = 5;
/// Seconds of stream time between two steps of the preset.
pub const STEP_MIN_S: f64 = 2.0;
/// Seconds without a frame left out before the encoder steps back up.
pub const STEP_UP_QUIET_S: f64 = 60.0;

/// When a transcoding camera's encoder steps its preset: down when frames keep being left
/// out, back up after a quiet minute (times in stream seconds).
struct Pace {
    /// Steps below the configured preset.
    level: u32,
    last_change_s: Option<f64>,
    last_drop_s: Option<f64>,
    drops_since_change: u64,
}

impl Pace {
    fn new() -> Pace {
        Pace {
            level: 0,
            last_change_s: None,
            last_drop_s: None,
            drops_since_change: 0,
        }
    }

    /// A frame left out at `t`: whether to step down now.
    fn dropped(&mut self, t: f64) -> bool {
        let since = t - *self.last_change_s.get_or_insert(t);
        self.last_drop_s = Some(t);
        self.drops_since_change += 1;
        self.drops_since_change >= STEP_DOWN_DROPS && since >= STEP_MIN_S
    }

    /// A frame encoded at `t`: whether to step back up now.
    fn encoded(&self, t: f64) -> bool {
        // Stepped down at all means a step was taken, so `last_change_s` is set.
        self.level > 0
            && self.last_change_s.is_some_and(|c| t - c >= STEP_UP_QUIET_S)
            && self.last_drop_s.is_none_or(|d| t - d >= STEP_UP_QUIET_S)
    }

    /// A step was asked for at `t` (taken when `to` is the level it reached).
    fn stepped(&mut self, t: f64, to: Option<u32>) {
        if let Some(level) = to {
            self.level = level;
        }
        self.last_change_s = Some(t);
        self.drops_since_change = 0;
    }
}

/// What a station tells each of its cameras.
#[derive(Debug, Clone)]
pub enum CameraCommand {
    /// Start (or switch to) this order, sealing the open clip for `reason`.
    Order {
        next: OpenOrder,
        reason: SealReason,
    },
    /// Seal the open clip for `reason`, after the post-roll when `post_roll`.
    Stop {
        reason: SealReason,
        post_roll: bool,
    },
    /// Attach a code to the open clip (and show it in the stamp).
    Attach {
        code: String,
        kind: String,
    },
    Shutdown,
}

/// How one camera session (one opening of the source) ended.
enum SessionEnd {
    Shutdown,
    /// A file or test source reached its end.
    Ended,
    /// The camera failed or vanished; reconnect.
    Lost(String),
}

/// What a camera loop needs.
pub struct CameraLoop {
    pub cam: CameraConfig,
    pub station: StationConfig,
    pub stamp_template: String,
    pub opener: std::sync::Arc<dyn Opener>,
    pub clock: SharedClock,
    pub health: std::sync::Arc<CameraHealth>,
    /// The live picture for the station screen (taken only while someone watches).
    pub preview: std::sync::Arc<super::preview::Preview>,
}

/// The station's commands to one camera, with those taken early and held back: a command
/// that came while the camera loop let a source's socket fill applies after the frames that
/// had arrived before it (see [`PacketSource::coalesce`]).
struct Commands {
    rx: Receiver<CameraCommand>,
    held: std::cell::RefCell<std::collections::VecDeque<CameraCommand>>,
}

impl Commands {
    /// The next command waiting, without waiting for one.
    fn try_take(&self) -> Option<CameraCommand> {
        let held = self.held.borrow_mut().pop_front();
        held.or_else(|| self.rx.try_recv().ok())
    }

    /// The next command, waiting up to `d` on `clock` for one.
    fn recv_timeout(
        &self,
        clock: &dyn crate::clock::Clock,
        d: Duration,
    ) -> Result<CameraCommand, RecvTimeoutError> {
        if let Some(c) = self.held.borrow_mut().pop_front() {
            return Ok(c);
        }
        crate::clock::recv_timeout(clock, &self.rx, d)
    }

    /// Keeps a command taken early, to apply before any that come after it.
    fn hold(&self, cmd: CameraCommand) {
        self.held.borrow_mut().push_back(cmd);
    }
}

/// A camera that is down: since when (wall-clock) and why.
struct Down {
    since: String,
    why: String,
}

impl CameraLoop {
    /// Waits up to `wait` while the camera is down, taking commands: an order scanned now is
    /// recorded as soon as the camera is back, with a gap from now; an order that ends now
    /// ends its gap. True when told to shut down.
    fn wait_taking_commands(
        &self,
        commands: &Commands,
        wait: Duration,
        open: &mut Option<OpenOrder>,
        down: &Down,
        send: &dyn Fn(CameraEvent) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        // On the station's clock, which a test simulates.
        let deadline = self.clock.monotonic() + wait;
        while let Some(left) = deadline
            .checked_sub(self.clock.monotonic())
            .filter(|l| !l.is_zero())
        {
            let cmd = match commands.recv_timeout(self.clock.as_ref(), left) {
                Ok(c) => c,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => CameraCommand::Shutdown,
            };
            let now = format_time(self.clock.now());
            match cmd {
                CameraCommand::Shutdown => {
                    self.end_gap(open.take(), &now, send)?;
                    return Ok(true);
                }
                CameraCommand::Order { mut next, .. } => {
                    self.end_gap(open.take(), &now, send)?;
                    next.gap = Some(Gap {
                        from: now,
                        reason: format!(
                            "{} down since {}: {}",
                            self.cam.id,
                            short_time(&down.since),
                            down.why
                        ),
                    });
                    *open = Some(next);
                    // Try the camera again now: an order waits for it.
                    return Ok(false);
                }
                CameraCommand::Stop { .. } => self.end_gap(open.take(), &now, send)?,
                CameraCommand::Attach { code, kind } => {
                    if let Some(o) = open.as_mut() {
                        o.codes.push((code, kind));
                    }
                }
            }
        }
        Ok(false)
    }

    /// An order that ends while the camera is down: its gap ends `now`.
    fn end_gap(
        &self,
        order: Option<OpenOrder>,
        now: &str,
        send: &dyn Fn(CameraEvent) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if let Some(mut o) = order {
            if let Some(gap) = o.gap.take() {
                send(CameraEvent::GapEnded {
                    order: o,
                    gap,
                    to: now.to_string(),
                })?;
            }
        }
        Ok(())
    }

    /// Runs the camera until shutdown (or, for a file or test source, its end).
    pub fn run(
        &self,
        commands: Receiver<CameraCommand>,
        events: SyncSender<CameraEvent>,
    ) -> Result<(), Error> {
        let commands = Commands {
            rx: commands,
            held: Default::default(),
        };
        let cam = &self.cam;
        let send = |ev| {
            events
                .send(ev)
                .map_err(|_| Error::internal(format!("camera {}: its clip writer stopped", cam.id)))
        };
        let live = SourceSpec::parse(&cam.source).is_live();
        let mut open: Option<OpenOrder> = None;
        let mut backoff = Duration::from_secs(1);
        let mut first = true;
        let mut down = Down {
            since: format_time(self.clock.now()),
            why: "starting".into(),
        };
        let shutdown = |open: &mut Option<OpenOrder>| -> Result<(), Error> {
            self.end_gap(open.take(), &format_time(self.clock.now()), &send)?;
            send(CameraEvent::End {
                reason: SealReason::Shutdown,
            })
        };
        loop {
            let src = match self.opener.open(cam) {
                Ok(s) => {
                    if !first {
                        tracing::warn!(camera = %cam.id, source = %cam.source, "camera reconnected");
                    }
                    s
                }
                Err(e) if first && !live => return Err(e),
                Err(e) => {
                    tracing::warn!(camera = %cam.id, error = %e, retry_in = ?backoff, "camera unavailable; retrying");
                    self.health.lost(&e.to_string());
                    down.why = crate::media::source::redacted_text(&e.to_string());
                    // While an order is open the camera is tried every second, so that it
                    // records again within a second or two of coming back.
                    let wait = if open.is_some() {
                        backoff.min(Duration::from_secs(1))
                    } else {
                        backoff
                    };
                    if self.wait_taking_commands(&commands, wait, &mut open, &down, &send)? {
                        return shutdown(&mut open);
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    first = false;
                    continue;
                }
            };
            first = false;
            let (end, delivered) = self.run_session(src, &commands, &send, &mut open)?;
            if delivered {
                backoff = Duration::from_secs(1);
            }
            match end {
                SessionEnd::Shutdown => return shutdown(&mut open),
                SessionEnd::Ended if !live => {
                    send(CameraEvent::End {
                        reason: SealReason::SourceEnded,
                    })?;
                    return Ok(());
                }
                SessionEnd::Ended | SessionEnd::Lost(_) => {
                    let why = match &end {
                        SessionEnd::Lost(e) => crate::media::source::redacted_text(e),
                        _ => "the stream ended".to_string(),
                    };
                    tracing::warn!(camera = %cam.id, source = %cam.source, error = %why, "camera lost; the open clip is sealed and recording resumes when it is back");
                    self.health.lost(&why);
                    down = Down {
                        since: format_time(self.clock.now()),
                        why: why.clone(),
                    };
                    send(CameraEvent::End {
                        reason: SealReason::CameraLost,
                    })?;
                    if let Some(o) = open.as_mut() {
                        o.part += 1;
                        o.gap = Some(Gap {
                            from: down.since.clone(),
                            reason: format!("{} lost: {why}", cam.id),
                        });
                    }
                    if self.wait_taking_commands(
                        &commands,
                        backoff.min(Duration::from_secs(1)),
                        &mut open,
                        &down,
                        &send,
                    )? {
                        return shutdown(&mut open);
                    }
                }
            }
        }
    }

    /// One opening of a source: one clock reading, one encoder (or none, in passthrough),
    /// frames until it ends or fails. Also says whether any frame came.
    fn run_session(
        &self,
        mut media: Box<dyn PacketSource>,
        commands: &Commands,
        send: &dyn Fn(CameraEvent) -> Result<(), Error>,
        open: &mut Option<OpenOrder>,
    ) -> Result<(SessionEnd, bool), Error> {
        let (cam, station) = (&self.cam, &self.station);
        let info = media.info();
        let mut unit = match media.next_unit() {
            Ok(Some(u)) => u,
            Ok(None) => return Ok((SessionEnd::Ended, false)),
            Err(e) => return Ok((SessionEnd::Lost(e.to_string()), false)),
        };
        self.health.session_started(info.fps());
        // The one clock reading of this camera session; every frame's time derives from it.
        let wall0 = self.clock.now();
        let clock_synced = self.clock.synchronised();
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
            template: self.stamp_template.clone(),
        };
        // An encoder that cannot start is a lost session (retried), never the camera's end.
        let params = match media.start(wall_offset_s, &stamp) {
            Ok(p) => p,
            Err(e) => return Ok((SessionEnd::Lost(e.to_string()), false)),
        };
        self.preview.session(&params);
        send(CameraEvent::Started {
            info,
            params,
            wall0,
            pts0,
            text_track: media.text_track(),
            clock_synced,
        })?;
        let mut clock = SessionClock {
            map: WallMap::new(unix_s(wall0), info.seconds(pts0)),
            stamped: wall_offset_s,
        };
        let mut packets = Vec::new();
        let mut frame_no = 0u64;
        // Frames left out while the recorder was behind real time, and a stamp change that a
        // left-out frame still owes to the next one encoded.
        let mut dropped = 0u64;
        let mut owed_restamp = false;
        let mut pace = Pace::new();
        let can_drop = media.can_drop();
        let burns_stamp = !media.text_track();
        // After a stop code, the stamp keeps the order until the post-roll ends.
        let mut idle_from: Option<i64> = None;
        // An order open before this session (scanned while the camera was down, or lost
        // mid-clip).
        let mut resume = open.clone();
        // The frame in hand had arrived before a command that is held (taken early).
        let mut before_held = false;
        if let Some(o) = open.as_mut() {
            o.gap = None; // the resumed clip's record ends the gap
        }
        let end = loop {
            let pts = unit.pts();
            let mut keyframe = false;
            let mut shutdown = false;
            let mut restamp = self.keep_time(&mut clock, pts, &info, media.as_mut(), send)?;
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
                    reason: SealReason::NextOrder,
                })?;
            }
            let at = Frame {
                pts,
                post_roll,
                commands,
                send,
            };
            // Frames that had arrived before a command taken early come before it.
            let taken = if before_held {
                Taken::default()
            } else {
                at.take_commands(&mut stamp, open, &mut idle_from)?
            };
            keyframe |= taken.keyframe;
            restamp |= taken.restamp;
            shutdown |= taken.shutdown;
            if shutdown {
                break SessionEnd::Shutdown;
            }
            // The screen's picture: a transcoded frame once its stamp is drawn (as the clip
            // gets it), a camera's own packets as they come. One look at the preview a frame.
            if !burns_stamp {
                self.preview.tap(&unit);
            } else if self.preview.due() {
                media.keep_stamped();
            }
            if !keyframe && can_drop && clock.map.behind_s > DROP_BEHIND_S {
                // Behind real time (busy CPUs, a slow disk): this frame is left out so that
                // the clip keeps up with the clock; its number stays used, so the clip's
                // record counts the gap (`dropped_frames`).
                if dropped == 0 {
                    tracing::warn!(camera = %cam.id, behind_ms = (clock.map.behind_s * 1000.0).round(), "encoding is behind real time: frames are left out until it catches up");
                }
                dropped += 1;
                owed_restamp |= restamp;
                self.health.dropped_frame(clock.map.behind_s);
                let t = info.seconds(pts);
                if pace.dropped(t) {
                    let left_out = pace.drops_since_change;
                    let stepped = media.step_preset(true);
                    pace.stepped(t, stepped.as_ref().map(|_| pace.level + 1));
                    if let Some(preset) = stepped {
                        send(CameraEvent::Preset {
                            pts,
                            preset,
                            why: format!(
                                "{:.1} s behind real time, {left_out} frames left out",
                                clock.map.behind_s
                            ),
                            configured: false,
                        })?;
                    }
                }
            } else {
                let restamp = restamp || std::mem::take(&mut owed_restamp);
                if let Err(e) = media.process(
                    unit,
                    frame_no,
                    keyframe,
                    restamp.then_some(&stamp),
                    &mut packets,
                ) {
                    break SessionEnd::Lost(format!("encoding failed: {e}"));
                }
                if let Some(f) = media.take_stamped() {
                    self.preview.offer_stamped(f);
                }
                let t = info.seconds(pts);
                if pace.encoded(t) {
                    let stepped = media.step_preset(false);
                    let to = pace.level - 1;
                    pace.stepped(t, stepped.as_ref().map(|_| to));
                    if let Some(preset) = stepped {
                        send(CameraEvent::Preset {
                            pts,
                            preset,
                            why: format!("caught up: no frame left out for {STEP_UP_QUIET_S:.0} s"),
                            configured: to == 0,
                        })?;
                    }
                }
                self.health.sent(packets.len() as u64);
                for p in packets.drain(..) {
                    send(CameraEvent::Packet(p))?;
                }
            }
            frame_no += 1;
            if frame_no.is_multiple_of(32) {
                self.health.late_frames(media.late_frames());
            }
            before_held =
                wait_to_coalesce(self.clock.as_ref(), media.as_mut(), commands, before_held);
            match media.next_unit() {
                Ok(Some(u)) => unit = u,
                Ok(None) => break SessionEnd::Ended,
                Err(e) => break SessionEnd::Lost(e.to_string()),
            }
        };
        tracing::info!(camera = %cam.id, frames = frame_no, dropped, late = media.late_frames(), "camera session ended");
        // Whatever was encoded goes into the clip before it is sealed.
        if let Err(e) = media.finish(&mut packets) {
            tracing::error!(camera = %cam.id, error = %e, "the encoder's last frames are lost");
        }
        self.health.sent(packets.len() as u64);
        for p in packets.drain(..) {
            send(CameraEvent::Packet(p))?;
        }
        if idle_from.is_some() {
            *open = None; // stopped during the post-roll: nothing to resume
        }
        Ok((end, true))
    }
}

/// A session's wall-clock map and the offset its stamp was last drawn with.
struct SessionClock {
    map: WallMap,
    stamped: f64,
}

fn unix_s(t: chrono::DateTime<chrono::FixedOffset>) -> f64 {
    t.timestamp_micros() as f64 / 1e6
}

impl CameraLoop {
    /// Compares a frame with the wall clock at its arrival and corrects the session's map
    /// ([`WallMap`]): the clip writer and the stamp follow. True when the stamp must be
    /// drawn again (its time moved by more than 20 ms).
    fn keep_time(
        &self,
        clock: &mut SessionClock,
        pts: i64,
        info: &crate::media::StreamInfo,
        media: &mut dyn PacketSource,
        send: &dyn Fn(CameraEvent) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        let now = self.clock.now();
        let s = info.seconds(pts);
        let Some(adjust) = clock.map.observe(s, unix_s(now)) else {
            return Ok(false);
        };
        let micros = (clock.map.wall(s) * 1e6).round() as i64;
        let wall = chrono::DateTime::from_timestamp_micros(micros)
            .map_or(now, |t| t.with_timezone(now.offset()));
        let step_s = match adjust {
            Adjust::Step(x) => {
                tracing::warn!(camera = %self.cam.id, step_ms = (x * 1000.0).round(), "frames came earlier than their time: the camera's clock map stepped");
                Some(x)
            }
            Adjust::Slew(_) => None,
        };
        send(CameraEvent::Reanchor { pts, wall, step_s })?;
        self.health
            .clock(clock.map.behind_s, clock.map.stepped_s + clock.map.slewed_s);
        media.set_wall_offset(clock.map.offset());
        if (clock.map.offset() - clock.stamped).abs() > 0.02 {
            clock.stamped = clock.map.offset();
            return Ok(true);
        }
        Ok(false)
    }
}

/// What the commands taken at a frame ask of it.
#[derive(Default)]
struct Taken {
    /// A clip starts here: force a keyframe.
    keyframe: bool,
    /// The stamp text changed.
    restamp: bool,
    shutdown: bool,
}

/// A frame about to be processed, and what commands are applied with.
struct Frame<'a> {
    pts: i64,
    /// The post-roll, in time-base ticks.
    post_roll: i64,
    commands: &'a Commands,
    send: &'a dyn Fn(CameraEvent) -> Result<(), Error>,
}

/// Before the next unit is read: a source that has caught up and reads better in bursts
/// ([`PacketSource::coalesce`]) is left to fill while the loop waits for a command. A
/// command that comes meanwhile is held until the frames that arrived before it are
/// processed, so that it takes effect at the first frame after it, as it would without
/// the wait. Returns whether the next unit arrived before a held command.
fn wait_to_coalesce(
    clock: &dyn crate::clock::Clock,
    media: &mut dyn PacketSource,
    commands: &Commands,
    before_held: bool,
) -> bool {
    let Some(window) = media.coalesce() else {
        return false;
    };
    if media.buffered() {
        return before_held;
    }
    if before_held {
        // The frames that came before the held commands are done: they apply next.
        return false;
    }
    match commands.recv_timeout(clock, window) {
        Ok(cmd) => {
            commands.hold(cmd);
            media.buffered()
        }
        Err(_) => false,
    }
}

impl Frame<'_> {
    /// Applies every command waiting at this frame: cut marks at this frame (or, after a stop
    /// with post-roll, at the end of the post-roll), stamp text, attached codes.
    fn take_commands(
        &self,
        stamp: &mut StampText,
        open: &mut Option<OpenOrder>,
        idle_from: &mut Option<i64>,
    ) -> Result<Taken, Error> {
        let (pts, send) = (self.pts, self.send);
        let mut t = Taken::default();
        while let Some(cmd) = self.commands.try_take() {
            match cmd {
                CameraCommand::Order { next, reason } => {
                    show(stamp, &next);
                    *open = Some(next.clone());
                    *idle_from = None;
                    t.keyframe = true;
                    t.restamp = true;
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
                        *idle_from = Some(pts + self.post_roll);
                    }
                    send(CameraEvent::Cut {
                        pts: pts + self.post_roll,
                        next: None,
                        reason,
                    })?;
                }
                CameraCommand::Stop {
                    reason,
                    post_roll: false,
                } => {
                    *idle_from = None;
                    stamp.order = None;
                    stamp.tracking.clear();
                    *open = None;
                    t.restamp = true;
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
                    t.restamp = true;
                    send(CameraEvent::Attach { code, kind })?;
                }
                CameraCommand::Shutdown => t.shutdown = true,
            }
        }
        Ok(t)
    }
}

/// Puts an order into the stamp: its code (with the box number from box 2 on), operator and
/// attached codes.
fn show(stamp: &mut StampText, o: &OpenOrder) {
    stamp.order = Some(o.label());
    stamp.operator = o.operator.clone();
    stamp.tracking = o.codes.iter().map(|c| c.0.clone()).collect();
}

/// Checks at start that a file or test source can be opened (a typo in the config is an
/// error now, not a camera retried forever); a network or USB camera down at start is
/// retried in the background instead.
pub fn check_source(cam: &CameraConfig) -> Result<(), Error> {
    match SourceSpec::parse(&cam.source) {
        SourceSpec::Usb(index) => {
            match source::usb_cameras() {
                Ok(list) if list.iter().any(|c| c.0 == index) => {}
                Ok(_) => {
                    tracing::warn!(camera = %cam.id, source = %cam.source, "no such USB camera now (`packwitness cameras` lists them); waiting for it")
                }
                Err(e) => {
                    tracing::warn!(camera = %cam.id, error = %e, "cannot list USB cameras; trying to open it anyway")
                }
            }
            Ok(())
        }
        s if s.is_live() => Ok(()),
        _ => FfmpegSource::open_with_timeout(&cam.source, false, cam.stall_timeout_s)
            .map(drop)
            .map_err(Error::from),
    }
}

/// A bounded channel from a camera loop to its clip assembly.
pub fn event_channel(
    bound: usize,
) -> (
    SyncSender<CameraEvent>,
    std::sync::mpsc::Receiver<CameraEvent>,
) {
    mpsc::sync_channel(bound)
}

#[cfg(test)]
mod tests;
