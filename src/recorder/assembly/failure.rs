//! When clips cannot be written (a full disk, an I/O error): the open clip is sealed with
//! what is on disk (reason `error`), nothing more is written, the camera's health says so
//! (the station is NOT RECORDING), and recording resumes by itself, as the order's next part
//! after a `camera_gap`, at the first keyframe [`RETRY_S`] after the failure when the disk
//! has [`LOW_WATER`] free. A seal whose record could not be written (the manifest failed too)
//! is written as soon as the writer takes records again.

use super::{Assembly, Gap, OpenClip, OpenOrder};
use crate::clock::format_time;
use crate::error::{Error, ErrorKind};
use crate::log::{Body, SealReason};
use crate::media::EncodedPacket;

/// Seconds of stream time after a failure before a clip is tried again.
pub const RETRY_S: f64 = 2.0;
/// Free bytes the data dir's disk needs before a clip is started.
pub const LOW_WATER: u64 = 64 * 1024 * 1024;

/// Clips cannot be written since `since` (a pts of the session).
pub(super) struct Failed {
    since: i64,
    last: i64,
    why: String,
    /// The order to record again when clips can be written.
    order: Option<OpenOrder>,
}

impl Assembly {
    /// A packet, with clip-writing failures survived: see the module comment.
    pub(super) fn take_packet(&mut self, p: EncodedPacket) -> Result<(), Error> {
        if self.failed.is_some() {
            return self.while_failed(p);
        }
        if let Some(why) = self.ctx.disk.why() {
            self.disk_gone(&why, p.pts);
            return self.while_failed(p);
        }
        let pts = p.pts;
        match self.packet(p) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.fail(&e, pts);
                Ok(())
            }
        }
    }

    /// Checks the disk before a clip is started.
    pub(super) fn room_for_a_clip(&self) -> Result<(), Error> {
        match crate::datadir::free_bytes(&self.ctx.data_dir) {
            Ok(free) if free < LOW_WATER => Err(Error::msg(
                ErrorKind::Io,
                format!(
                    "{}: only {} MB free, under the {} MB a clip needs to start",
                    self.ctx.data_dir.display(),
                    free / (1024 * 1024),
                    LOW_WATER / (1024 * 1024)
                ),
            )),
            _ => Ok(()),
        }
    }

    fn wall(&self, pts: i64) -> Option<String> {
        self.session.as_ref().map(|s| format_time(s.wall(pts)))
    }

    /// The data disk is gone (or replaced, or unwritable) at `pts`: the open clip's file is
    /// let go without another byte (it may be a deleted file, or on a disk that is not
    /// there) and handed to the writer, which seals it from what is on disk when the disk is
    /// back; the order waits, as its next part, for the disk.
    fn disk_gone(&mut self, why: &str, pts: i64) {
        tracing::error!(camera = %self.ctx.camera, why, "NOT RECORDING: the data disk cannot be written; the open clip is left as it is on disk and recording resumes when the disk is back");
        self.ctx.health.sink_failed(Some(why));
        let order = match self.current.take() {
            Some(open) => {
                let OpenClip {
                    out,
                    opened_seq,
                    mut order_ref,
                    ..
                } = open;
                drop(out);
                if let Err(e) = self.ctx.records.abandon(opened_seq) {
                    tracing::error!(clip = opened_seq, error = %e, "cannot hand the clip to the writer; the next start seals it");
                }
                self.ctx.health.clip_sealed();
                order_ref.part += 1;
                Some(order_ref)
            }
            None => self.waiting.take(),
        };
        self.wait_for_disk(why.to_string(), order, pts);
    }

    /// Clips cannot be written from `pts` on, for `why`: `order` (the one recording, or
    /// about to) is recorded again when they can, after a gap.
    fn wait_for_disk(&mut self, why: String, order: Option<OpenOrder>, pts: i64) {
        let from = self.wall(pts).unwrap_or_default();
        let reason = format!("{} could not write clips: {why}", self.ctx.camera);
        self.failed = Some(Failed {
            since: pts,
            last: pts,
            why,
            order: order.map(|mut o| {
                if o.gap.is_none() {
                    o.gap = Some(Gap {
                        from: from.clone(),
                        reason: reason.clone(),
                    });
                }
                o
            }),
        });
        self.pre_roll.set_floor(pts);
    }

    /// Clips cannot be written from `pts` on: seal what is on disk and wait.
    fn fail(&mut self, e: &Error, pts: i64) {
        let why = e.to_string();
        tracing::error!(camera = %self.ctx.camera, error = %why, "clips cannot be written (is the disk full?); the open clip is sealed with what is on disk, and recording resumes by itself when it can");
        self.ctx.health.sink_failed(Some(&why));
        // The order recording goes on as its next part; one still waiting for its first
        // clip (a clip that could not be opened) keeps its part.
        let order = match self.current.as_ref() {
            Some(c) => {
                let mut o = c.order_ref.clone();
                o.part += 1;
                Some(o)
            }
            None => self.waiting.take(),
        };
        if self.current.is_some() {
            if let Err(e) = self.seal_current(SealReason::Error) {
                tracing::error!(camera = %self.ctx.camera, error = %e, "the failed clip could not be sealed now; it is sealed when the writer takes records again");
            }
        }
        self.wait_for_disk(why, order, pts);
    }

    /// A packet while clips cannot be written: cuts still change the order to record, and at
    /// a keyframe after [`RETRY_S`] with room on the disk, recording resumes.
    fn while_failed(&mut self, p: EncodedPacket) -> Result<(), Error> {
        let Some(mut f) = self.failed.take() else {
            return self.packet(p);
        };
        f.last = p.pts;
        while self.pending.front().is_some_and(|c| p.pts >= c.pts) {
            let Some(cut) = self.pending.pop_front() else {
                break;
            };
            let at = self.wall(cut.pts).unwrap_or_default();
            self.end_gap(f.order.take(), &at);
            f.order = cut.next.map(|mut o| {
                o.gap = Some(Gap {
                    from: at.clone(),
                    reason: format!("{} could not write clips: {}", self.ctx.camera, f.why),
                });
                o
            });
        }
        let waited = self
            .session
            .as_ref()
            .is_some_and(|s| s.info.seconds(p.pts - f.since) >= RETRY_S);
        if p.key
            && waited
            && self.ctx.disk.ok()
            && self.room_for_a_clip().is_ok()
            && self.retry_pending_seal()
        {
            tracing::warn!(camera = %self.ctx.camera, "clips can be written again");
            self.ctx.health.sink_failed(None);
            self.waiting = f.order;
            return self.take_packet(p);
        }
        self.pre_roll.push(&p);
        self.failed = Some(f);
        Ok(())
    }

    /// An order that ended while clips could not be written: its gap ends `at`.
    fn end_gap(&self, order: Option<OpenOrder>, at: &str) {
        if let Some(mut o) = order {
            if let Some(gap) = o.gap.take() {
                // Deferred while the disk is gone: written when it is back.
                if let Err(e) = self.gap_record(&o, &gap, at.to_string(), None) {
                    tracing::error!(camera = %self.ctx.camera, error = %e, "could not write the gap record");
                }
            }
        }
    }

    /// The session ends while clips cannot be written.
    pub(super) fn end_failed(&mut self) {
        if let Some(f) = self.failed.take() {
            let at = self.wall(f.last).unwrap_or_default();
            self.end_gap(f.order, &at);
        }
    }

    /// Writes a seal whose record could not be written before; true when none is left.
    pub(super) fn retry_pending_seal(&mut self) -> bool {
        let Some(body) = self.pending_seal.take() else {
            return true;
        };
        match self.ctx.records.append(body.clone()) {
            Ok(_) => {
                if let Body::ClipSealed {
                    order,
                    duration_ms,
                    reason,
                    ..
                } = &body
                {
                    self.ctx
                        .health
                        .clip_recorded(order, *duration_ms, reason.as_str());
                }
                tracing::warn!(camera = %self.ctx.camera, "the seal of the failed clip is written");
                true
            }
            Err(_) => {
                self.pending_seal = Some(body);
                false
            }
        }
    }

    /// A code attached while clips cannot be written goes with the order to record.
    pub(super) fn attach_while_failed(&mut self, code: &str, kind: &str) -> bool {
        match self.failed.as_mut().and_then(|f| f.order.as_mut()) {
            Some(o) => {
                o.codes.push((code.to_string(), kind.to_string()));
                true
            }
            None => false,
        }
    }
}
