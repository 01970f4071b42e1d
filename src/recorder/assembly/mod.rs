//! Clip assembly: one camera's stream of packets cut into clips, one per order.
//!
//! Owns: the pre-roll ring (the last seconds of packets, from a keyframe on), cuts at exact
//! frames (a cut mark carries the pts of the first frame of the next clip, so encoder delay
//! never misroutes a frame), the `max_clip_s` timeout, the stamp samples of the text track in
//! passthrough, and the records of a clip: `clip_opened` before its first byte, codes attached
//! during it, `clip_sealed` after its file is fsynced and in place.
//! Never: reads a clock or a camera. Times come from the stream (the session's one wall-clock
//! reading plus stream time), packets come through the [`CameraEvent`] channel, files go
//! through [`ClipFiles`] and records through [`RecordSink`], so all of it is tested with
//! made-up packets and no FFmpeg.
//!
//! A clip's pre-roll never reaches back past the frame at which the previous clip of the
//! camera was sealed: no bundle opens with another customer's parcel.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use ffmpeg_next::{codec, Rational};

use super::health::CameraHealth;
use super::writer::{MakeRecord, WriterHandle};
use crate::clock::format_time;
use crate::datadir::safe_name;
use crate::error::Error;
use crate::log::{Appender, Body, PresetStep, Record, SealReason};
use crate::media::fmp4::{self, ClipWriter, SealedFile};
use crate::media::{EncodedPacket, StampText, StreamInfo};

mod failure;
mod preroll;
#[cfg(test)]
pub(crate) mod tests;

pub use preroll::PreRoll;

/// Where records go: the writer thread, or a collector in tests.
pub trait RecordSink: Send + Sync {
    /// Appends the record `make` builds for its `seq`; returns once it is durable.
    fn append_with(&self, make: MakeRecord) -> Result<Record, Error>;

    fn append(&self, body: Body) -> Result<Record, Error> {
        self.append_with(Box::new(move |_| body))
    }

    /// Appends `body` now, or keeps it to write first when the manifest can be written again
    /// (`Ok(None)`): for records that must not be lost and need not wait (scans, gaps).
    fn append_or_defer(&self, body: Body) -> Result<Option<Record>, Error>;

    /// Hands over the open clip `clip` whose file could not be finished: it is sealed from
    /// what is on disk as soon as the disk can be written. The caller never touches the file
    /// again.
    fn abandon(&self, clip: u64) -> Result<(), Error>;
}

impl RecordSink for WriterHandle {
    fn append_with(&self, make: MakeRecord) -> Result<Record, Error> {
        WriterHandle::append_with(self, make)
    }

    fn append(&self, body: Body) -> Result<Record, Error> {
        Appender::append(self, body)
    }

    fn append_or_defer(&self, body: Body) -> Result<Option<Record>, Error> {
        WriterHandle::append_or_defer(self, body)
    }

    fn abandon(&self, clip: u64) -> Result<(), Error> {
        WriterHandle::abandon(self, clip)
    }
}

/// An open clip file.
pub trait ClipOut {
    /// Writes a packet (in decode order).
    fn write(&mut self, p: EncodedPacket) -> Result<(), Error>;
    /// Writes a stamp sample of the text track from `pts` for `duration` ticks.
    fn write_text(&mut self, pts: i64, duration: i64, text: &str) -> Result<(), Error>;
    /// pts of the clip's first frame.
    fn first_pts(&self) -> i64;
    /// Completes the file: durable and in place when this returns.
    fn finish(self: Box<Self>) -> Result<SealedFile, Error>;
}

/// Makes clip files.
pub trait ClipFiles: Send + Sync {
    /// Creates the file of a clip whose first packet has pts/dts `first` in time base `tb`.
    fn create(
        &self,
        path: &Path,
        params: &codec::Parameters,
        tb: Rational,
        first: (i64, i64),
        text_track: bool,
    ) -> Result<Box<dyn ClipOut>, Error>;
}

/// Fragmented MP4 files on disk (`media::fmp4`); with `faults`, on a disk that fails as
/// told (tests).
#[derive(Default, Clone)]
pub struct Fmp4Files {
    pub faults: Option<crate::diskfile::SharedFaults>,
}

impl ClipOut for ClipWriter {
    fn write(&mut self, p: EncodedPacket) -> Result<(), Error> {
        Ok(ClipWriter::write(self, p)?)
    }

    fn write_text(&mut self, pts: i64, duration: i64, text: &str) -> Result<(), Error> {
        Ok(ClipWriter::write_text(self, pts, duration, text)?)
    }

    fn first_pts(&self) -> i64 {
        ClipWriter::first_pts(self)
    }

    fn finish(self: Box<Self>) -> Result<SealedFile, Error> {
        Ok(ClipWriter::finish(*self)?)
    }
}

impl ClipFiles for Fmp4Files {
    fn create(
        &self,
        path: &Path,
        params: &codec::Parameters,
        tb: Rational,
        first: (i64, i64),
        text_track: bool,
    ) -> Result<Box<dyn ClipOut>, Error> {
        Ok(Box::new(ClipWriter::create_on(
            path,
            params,
            tb,
            first,
            text_track,
            self.faults.clone(),
        )?))
    }
}

/// The order a camera records, carried across reconnections.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenOrder {
    pub code: String,
    pub group: String,
    /// 1, then 2, 3, ... for each reconnection while the order stays open.
    pub part: u32,
    pub box_no: u32,
    pub operator: Option<String>,
    /// Codes attached so far (code, kind): attached again to every part.
    pub codes: Vec<(String, String)>,
    /// The camera recorded nothing of the order since this time, for this reason (it was
    /// lost during the order, or down when it was scanned): the next clip of the order is
    /// preceded by a `camera_gap` record.
    pub gap: Option<Gap>,
}

/// A time a camera recorded nothing of an open order.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    /// Wall-clock time (RFC 3339) from which nothing was recorded.
    pub from: String,
    pub reason: String,
}

impl OpenOrder {
    /// What the stamp shows of the order: its code, with the box number from box 2 on.
    pub fn label(&self) -> String {
        order_label(&self.code, self.box_no)
    }
}

pub fn order_label(code: &str, box_no: u32) -> String {
    if box_no > 1 {
        format!("{code} box {box_no}")
    } else {
        code.to_string()
    }
}

/// Messages from a camera's capture loop to its clip assembly.
pub enum CameraEvent {
    /// A camera session began: its stream, codec parameters and the wall-clock time of the
    /// frame with pts `pts0` (one clock reading per session).
    Started {
        info: StreamInfo,
        params: codec::Parameters,
        wall0: DateTime<FixedOffset>,
        pts0: i64,
        /// The stamp goes into a text track, not the picture.
        text_track: bool,
        /// Whether the clock was synchronised at `wall0`.
        clock_synced: Option<bool>,
    },
    /// From the frame with this pts on, the open clip (if any) is sealed for `reason`, and a
    /// clip of `next` (if any) starts, with its pre-roll.
    Cut {
        pts: i64,
        next: Option<OpenOrder>,
        reason: SealReason,
    },
    /// The session's wall-clock map was corrected: from the frame with pts `pts` on, that
    /// frame's time is `wall` (a step of `step_s` seconds when the map stepped, else a slew).
    Reanchor {
        pts: i64,
        wall: DateTime<FixedOffset>,
        step_s: Option<f64>,
    },
    /// A code to attach to the open clip (or to the one about to open).
    Attach {
        code: String,
        kind: String,
    },
    Packet(EncodedPacket),
    /// An order ended (or was replaced) while the camera was down: it recorded nothing of it
    /// from `gap.from` to `to`.
    GapEnded {
        order: OpenOrder,
        gap: Gap,
        to: String,
    },
    /// From the frame after the one with this pts, the encoder uses `preset` (`configured`:
    /// the configured one again), for `why`.
    Preset {
        pts: i64,
        preset: String,
        why: String,
        configured: bool,
    },
    /// The session ended; seal for this reason.
    End {
        reason: SealReason,
    },
}

/// What clip assembly needs to know of its camera.
pub struct Context {
    pub station: String,
    pub camera: String,
    pub stamp_template: String,
    pub max_clip_s: u32,
    pub pre_roll_s: f64,
    /// The camera's source is a test pattern: its `clip_opened` records say so.
    pub test_pattern: bool,
    pub data_dir: PathBuf,
    pub records: Arc<dyn RecordSink>,
    pub files: Arc<dyn ClipFiles>,
    /// Told of every frame that arrives and every clip opened and sealed.
    pub health: Arc<CameraHealth>,
    /// Whether the data disk is there and can be written (the writer looks).
    pub disk: Arc<super::disk::DataDisk>,
}

struct Session {
    info: StreamInfo,
    params: codec::Parameters,
    wall0: DateTime<FixedOffset>,
    pts0: i64,
    text_track: bool,
    clock_synced: Option<bool>,
    /// The encoder's preset when it is not the configured one (stepped down while behind).
    preset: Option<String>,
}

impl Session {
    fn wall(&self, pts: i64) -> DateTime<FixedOffset> {
        let micros = (self.info.seconds(pts - self.pts0) * 1e6).round() as i64;
        self.wall0 + chrono::Duration::microseconds(micros)
    }
}

struct OpenClip {
    out: Box<dyn ClipOut>,
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
    /// The number the next frame has if none is left out, and the frames left out so far
    /// (the camera loop numbers every frame, encoded or not).
    next_frame: u64,
    dropped: u64,
    /// The encoder's preset steps during the clip.
    presets: Vec<PresetStep>,
    /// The order it records (to resume it as the next part if writing fails).
    order_ref: OpenOrder,
}

/// A cut waiting for its frame.
struct PendingCut {
    pts: i64,
    next: Option<OpenOrder>,
    reason: SealReason,
}

/// Clip assembly of one camera: events in, clips and records out, until the channel closes
/// or the session ends for good.
pub struct Assembly {
    ctx: Context,
    session: Option<Session>,
    current: Option<OpenClip>,
    pending: VecDeque<PendingCut>,
    /// An order waiting for its first keyframe.
    waiting: Option<OpenOrder>,
    pre_roll: PreRoll,
    /// Clips cannot be written now ([`failure`]).
    failed: Option<failure::Failed>,
    /// A `clip_sealed` record that could not be written yet.
    pending_seal: Option<Body>,
}

impl Assembly {
    pub fn new(ctx: Context) -> Assembly {
        Assembly {
            ctx,
            session: None,
            current: None,
            pending: VecDeque::new(),
            waiting: None,
            pre_roll: PreRoll::default(),
            failed: None,
            pending_seal: None,
        }
    }

    /// Runs until the capture loop ends. A record or a clip that fails is logged and
    /// survived, never the end of the camera (the failure policy, docs/design.md): clip
    /// writing failures go through [`failure`], records that cannot wait are deferred.
    pub fn run(mut self, events: Receiver<CameraEvent>) -> Result<(), Error> {
        for ev in events.iter() {
            match self.handle(ev) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) => {
                    tracing::error!(camera = %self.ctx.camera, error = %e, "a clip record could not be written; recording goes on");
                }
            }
        }
        // The capture loop vanished without an End: seal what we have.
        self.seal_current(SealReason::SourceEnded)
    }

    /// Acts on one event; false when the camera is done for good.
    pub fn handle(&mut self, ev: CameraEvent) -> Result<bool, Error> {
        match ev {
            CameraEvent::Started {
                info,
                params,
                wall0,
                pts0,
                text_track,
                clock_synced,
            } => {
                let want = (self.ctx.pre_roll_s / info.seconds(1).max(1e-9)).round() as i64;
                self.pre_roll = PreRoll::new(want, text_track);
                self.session = Some(Session {
                    info,
                    params,
                    wall0,
                    pts0,
                    text_track,
                    clock_synced,
                    preset: None,
                });
            }
            CameraEvent::Preset {
                pts,
                preset,
                why,
                configured,
            } => {
                if let Some(s) = self.session.as_mut() {
                    tracing::warn!(camera = %self.ctx.camera, preset = %preset, why = %why, "the encoder's preset stepped");
                    s.preset = (!configured).then(|| preset.clone());
                    let at = format_time(s.wall(pts));
                    if let Some(c) = self.current.as_mut() {
                        c.presets.push(PresetStep { at, preset, why });
                    }
                }
            }
            CameraEvent::Cut { pts, next, reason } => {
                // A cut supersedes later ones still pending (a new order during a post-roll,
                // or scans faster than frames); an order it drops gets its gap record.
                while self.pending.back().is_some_and(|c| c.pts >= pts) {
                    if let Some(c) = self.pending.pop_back() {
                        if let Some(dropped) = c.next {
                            self.never_recorded(dropped, c.pts.min(pts), pts);
                        }
                    }
                }
                self.pending.push_back(PendingCut { pts, next, reason });
            }
            CameraEvent::Packet(p) => {
                self.ctx.health.frame(p.packet.size());
                if self.pending_seal.is_some() && p.key {
                    self.retry_pending_seal();
                }
                self.take_packet(p)?;
            }
            CameraEvent::GapEnded { order, gap, to } => self.gap_record(&order, &gap, to, None)?,
            CameraEvent::Reanchor { pts, wall, step_s } => {
                if let Some(s) = self.session.as_mut() {
                    s.wall0 = wall;
                    s.pts0 = pts;
                }
                if let Some(step) = step_s {
                    self.ctx.records.append_or_defer(Body::ClockAdjusted {
                        station: self.ctx.station.clone(),
                        camera: self.ctx.camera.clone(),
                        step_ms: (step * 1000.0).round() as i64,
                        reason: "frames arrived earlier than their mapped time: the first reading of the session was late (buffered packets)".into(),
                    })?;
                }
            }
            CameraEvent::Attach { code, kind } => self.attach(code, kind)?,
            CameraEvent::End { reason } => {
                // A cut whose frame never came (stop, then shutdown) still gives its reason.
                let seal_reason = self.pending.front().map_or(reason, |c| c.reason);
                self.end_failed();
                self.retry_pending_seal();
                if let Err(e) = self.seal_current(seal_reason) {
                    tracing::error!(camera = %self.ctx.camera, error = %e, "the open clip could not be sealed now; the writer seals it from disk");
                }
                if reason != SealReason::CameraLost {
                    return Ok(false);
                }
                // The camera session is over; the next one has its own clock and encoder.
                self.session = None;
                self.pending.clear();
                self.waiting = None;
                self.pre_roll.clear();
            }
        }
        Ok(true)
    }

    fn packet(&mut self, p: EncodedPacket) -> Result<(), Error> {
        if self.session.is_none() {
            return Ok(());
        }
        while self.pending.front().is_some_and(|c| p.pts >= c.pts) {
            let Some(cut) = self.pending.pop_front() else {
                break;
            };
            if self.current.is_some() {
                let sealed = self.seal_current(cut.reason);
                self.pre_roll.set_floor(cut.pts);
                if let Err(e) = sealed {
                    // The next order is not lost with the seal that failed: failure.rs
                    // records it when records can be written again.
                    self.waiting = cut.next;
                    return Err(e);
                }
            }
            if let Some(skipped) = self.waiting.take() {
                self.never_recorded(skipped, cut.pts, cut.pts);
            }
            self.waiting = cut.next;
        }
        // A clip starts on a keyframe: the scan's own (transcode forces one), or in
        // passthrough the camera's last one before the scan, from the pre-roll ring.
        if self.waiting.is_some() && (p.key || self.pre_roll.has_keyframe()) {
            if let Some(order) = self.waiting.take() {
                let earlier = self.pre_roll.take_before(p.pts, p.key);
                if earlier.is_empty() && !p.key {
                    // Nothing before the scan may be used (the previous clip ended there):
                    // wait for the camera's next keyframe.
                    self.waiting = Some(order);
                } else {
                    let first = earlier.first().unwrap_or(&p);
                    let (first_ts, first_frame) = ((first.pts, first.dts), first.frame_no);
                    let mut open = match self.open_clip(&order, first_ts, first_frame, p.pts) {
                        Ok(o) => o,
                        Err((e, recorded)) => {
                            // The order stays the one to record (failure.rs takes it up); a
                            // part whose opening was recorded is given to the writer.
                            let mut order = order;
                            if recorded {
                                order.part += 1;
                            }
                            self.waiting = Some(order);
                            return Err(e);
                        }
                    };
                    for q in earlier {
                        self.write_packet(&mut open, q)?;
                    }
                    self.current = Some(open);
                }
            }
        }
        self.pre_roll.push(&p);
        let Some(s) = self.session.as_ref() else {
            return Ok(());
        };
        if let Some(first) = self.current.as_ref().map(|o| o.out.first_pts()) {
            let elapsed = s.info.seconds(p.pts - first);
            if elapsed >= self.ctx.max_clip_s as f64 {
                self.seal_current(SealReason::Timeout)?;
                self.pre_roll.set_floor(p.pts);
            } else if let Some(mut open) = self.current.take() {
                let written = self.write_packet(&mut open, p);
                self.current = Some(open);
                written?;
            }
        }
        Ok(())
    }

    fn attach(&mut self, code: String, kind: String) -> Result<(), Error> {
        if self.attach_while_failed(&code, &kind) {
            return Ok(());
        }
        // To the clip about to open if a cut is on its way, else to the open one.
        let upcoming = match self.pending.back_mut() {
            Some(cut) => cut.next.as_mut(),
            None => self.waiting.as_mut(),
        };
        if let Some(next) = upcoming {
            next.codes.push((code, kind));
        } else if let Some(open) = self.current.as_mut() {
            self.ctx.records.append_or_defer(Body::CodeAttached {
                clip: open.opened_seq,
                code: code.clone(),
                code_kind: kind,
            })?;
            open.codes.push(code);
        } else {
            tracing::warn!(camera = %self.ctx.camera, code = %code, "no clip open to attach the code to; it is in the scan record");
        }
        Ok(())
    }

    /// Writes a packet to an open clip; in passthrough, first the stamp samples (one a second,
    /// the same text the picture would carry) that are due by its time.
    fn write_packet(&self, open: &mut OpenClip, p: EncodedPacket) -> Result<(), Error> {
        let Some(s) = self.session.as_ref() else {
            return Ok(());
        };
        if s.text_track {
            let second = (1.0 / s.info.seconds(1).max(1e-9)).round().max(1.0) as i64;
            while open.next_text <= p.pts {
                let wall = s.wall(open.next_text);
                let stamp = StampText {
                    station: self.ctx.station.clone(),
                    camera: self.ctx.camera.clone(),
                    order: Some(order_label(&open.order, open.box_no)),
                    operator: open.operator.clone(),
                    tracking: open.codes.clone(),
                    template: self.ctx.stamp_template.clone(),
                };
                let text = stamp.render(
                    &wall.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
                    &wall.format("%z").to_string(),
                );
                open.out.write_text(open.next_text, second, &text)?;
                open.next_text += second;
            }
        }
        if p.frame_no > open.next_frame {
            open.dropped += p.frame_no - open.next_frame;
        }
        open.next_frame = open.next_frame.max(p.frame_no + 1);
        open.out.write(p)
    }

    /// Opens a clip of `order`: its record, then its file. On failure, whether its
    /// `clip_opened` record was written (the file is then handed to the writer).
    fn open_clip(
        &self,
        order: &OpenOrder,
        (first_pts, first_dts): (i64, i64),
        first_frame: u64,
        scan_pts: i64,
    ) -> Result<OpenClip, (Error, bool)> {
        self.room_for_a_clip().map_err(|e| (e, false))?;
        let s = self.session.as_ref().ok_or_else(|| {
            (
                Error::internal("a clip opened outside a camera session"),
                false,
            )
        })?;
        let code = order.code.clone();
        let started = s.wall(first_pts);
        let started_at = format_time(started);
        let (station, camera) = (self.ctx.station.clone(), self.ctx.camera.clone());
        let day = started.format("%Y-%m-%d").to_string();
        let file_for = {
            let (station, camera, code, day) =
                (station.clone(), camera.clone(), code.clone(), day.clone());
            move |seq: u64| {
                format!(
                    "clips/{station}/{day}/{}_{camera}_{seq:06}.mp4",
                    safe_name(&code)
                )
            }
        };
        // The record first: a recording can never exist without a trace in the manifest.
        let body = {
            let file_for = file_for.clone();
            let (operator, group, part, box_no) = (
                order.operator.clone(),
                order.group.clone(),
                order.part,
                order.box_no,
            );
            let (code, started_at) = (code.clone(), started_at.clone());
            let scanned_at = format_time(s.wall(scan_pts));
            let clock_synced = s.clock_synced;
            let test_pattern = Some(self.ctx.test_pattern);
            move |seq: u64| Body::ClipOpened {
                order: code,
                station,
                camera,
                operator,
                group,
                part,
                box_no,
                file: file_for(seq),
                started_at,
                scanned_at,
                first_frame,
                clock_synced,
                test_pattern,
            }
        };
        let rec = self
            .ctx
            .records
            .append_with(Box::new(body))
            .map_err(|e| (e, false))?;
        let file = file_for(rec.seq);
        let given_up = |e: Error| {
            if let Err(e) = self.ctx.records.abandon(rec.seq) {
                tracing::error!(clip = rec.seq, error = %e, "cannot hand the clip to the writer; the next start seals it");
            }
            (e, true)
        };
        // Codes scanned before the clip's first frame, or during an earlier part of the order.
        for (c, kind) in &order.codes {
            self.ctx
                .records
                .append_or_defer(Body::CodeAttached {
                    clip: rec.seq,
                    code: c.clone(),
                    code_kind: kind.clone(),
                })
                .map_err(given_up)?;
        }
        if let Some(gap) = &order.gap {
            self.gap_record(order, gap, started_at.clone(), Some(rec.seq))
                .map_err(given_up)?;
        }
        if !self.ctx.disk.still_there(&self.ctx.data_dir) {
            return Err(given_up(Error::msg(
                crate::error::ErrorKind::Unavailable,
                format!(
                    "{}: the data dir changed or went away just now; no clip file is made there",
                    self.ctx.data_dir.display()
                ),
            )));
        }
        let out = self
            .ctx
            .files
            .create(
                &self.ctx.data_dir.join(&file),
                &s.params,
                s.info.time_base,
                (first_pts, first_dts),
                s.text_track,
            )
            .map_err(given_up)?;
        self.ctx.health.clip_opened(&order.group, &code);
        tracing::info!(order = %code, camera = %self.ctx.camera, file = %file, "clip opened");
        let presets = s
            .preset
            .clone()
            .map(|preset| {
                vec![PresetStep {
                    at: started_at.clone(),
                    preset,
                    why: "the encoder was at a faster preset when the clip began (the recorder was behind real time)".into(),
                }]
            })
            .unwrap_or_default();
        Ok(OpenClip {
            out,
            opened_seq: rec.seq,
            presets,
            order: code,
            box_no: order.box_no,
            operator: order.operator.clone(),
            codes: order.codes.iter().map(|c| c.0.clone()).collect(),
            file,
            started_at,
            first_frame,
            next_frame: first_frame,
            dropped: 0,
            next_text: first_pts,
            order_ref: order.clone(),
        })
    }

    /// An order replaced by the next scan before this camera recorded a frame of it (scans
    /// faster than frames, or before a keyframe in passthrough): never silent, its
    /// `camera_gap` record says it, from its scan to the one that replaced it at `pts`.
    fn never_recorded(&self, order: OpenOrder, from: i64, to: i64) {
        let Some(s) = self.session.as_ref() else {
            return;
        };
        let to = format_time(s.wall(to));
        let gap = order.gap.clone().unwrap_or(Gap {
            from: format_time(s.wall(from)),
            reason: String::new(),
        });
        let reason = format!(
            "{}: the next scan came before the camera's next {}; no clip of the order{}",
            self.ctx.camera,
            if s.text_track { "keyframe" } else { "frame" },
            if gap.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", gap.reason)
            }
        );
        let gap = Gap {
            from: gap.from,
            reason,
        };
        if let Err(e) = self.gap_record(&order, &gap, to, None) {
            tracing::error!(order = %order.code, error = %e, "could not write the gap record of an order replaced before its first frame");
        }
    }

    /// The `camera_gap` record of an order: nothing recorded from `gap.from` to `to`; `clip`
    /// is the clip that resumed it, if one did.
    fn gap_record(
        &self,
        order: &OpenOrder,
        gap: &Gap,
        to: String,
        clip: Option<u64>,
    ) -> Result<(), Error> {
        tracing::warn!(order = %order.code, camera = %self.ctx.camera, from = %gap.from, to = %to, reason = %gap.reason, "nothing recorded of the order for a while");
        self.ctx.records.append_or_defer(Body::CameraGap {
            station: self.ctx.station.clone(),
            camera: self.ctx.camera.clone(),
            order: order.code.clone(),
            group: order.group.clone(),
            from: gap.from.clone(),
            to,
            clip,
            reason: gap.reason.clone(),
        })?;
        Ok(())
    }

    /// Seals the open clip, if any: the file is completed (fsynced, in place), then its
    /// `clip_sealed` record is written.
    fn seal_current(&mut self, reason: SealReason) -> Result<(), Error> {
        let (Some(s), Some(open)) = (self.session.as_ref(), self.current.take()) else {
            return Ok(());
        };
        let OpenClip {
            out,
            opened_seq,
            order,
            file,
            started_at,
            first_frame,
            dropped,
            presets,
            ..
        } = open;
        self.ctx.health.clip_sealed();
        let sealed = match out.finish() {
            Ok(s) => s,
            Err(e) => {
                // The file could not be completed (its fragment list, its rename, an fsync):
                // the writer seals it from what is on disk, as after a crash, so that a clean
                // stop never leaves a clip unsealed.
                if let Err(e) = self.ctx.records.abandon(opened_seq) {
                    tracing::error!(clip = opened_seq, error = %e, "cannot hand the clip to the writer; the next start seals it");
                }
                return Err(e);
            }
        };
        let frame = s.info.frame_duration();
        let duration_ms =
            (s.info.seconds(sealed.last_pts - sealed.first_pts + frame) * 1000.0).round() as u64;
        let body = Body::ClipSealed {
            clip: opened_seq,
            order: order.clone(),
            station: self.ctx.station.clone(),
            camera: self.ctx.camera.clone(),
            file: file.clone(),
            reason,
            started_at,
            ended_at: format_time(s.wall(sealed.last_pts)),
            duration_ms,
            frames: sealed.frames,
            first_frame,
            size: sealed.size,
            sha256: sealed.sha256,
            fragments: sealed.fragments.len() as u64,
            fragments_sha256: fmp4::fragments_digest(&sealed.fragments),
            dropped_frames: (dropped > 0).then_some(dropped),
            presets,
        };
        if let Err(e) = self.ctx.records.append(body.clone()) {
            self.pending_seal = Some(body);
            return Err(e);
        }
        self.ctx
            .health
            .clip_recorded(&order, duration_ms, reason.as_str());
        tracing::info!(order = %order, camera = %self.ctx.camera, file = %file, reason = %reason, frames = sealed.frames, "clip sealed");
        Ok(())
    }
}
