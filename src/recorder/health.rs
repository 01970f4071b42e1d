//! Health: what each camera is doing, told by the frames that reach its clip writer, never by
//! what was asked of it.
//!
//! Owns: the shared state of a camera ([`CameraHealth`]): the capture loop says when it opens
//! a source, when a session starts and when it is lost; clip assembly says when a frame
//! reaches it and when a clip opens or is sealed. From that alone a camera is `starting` (a
//! session is opening, no frame yet), `live` (frames arrive), `stalled` (no frame for
//! [`STALL`]) or `lost` (its source failed or vanished), with its frame rate, frames, late
//! frames, the packets queued between capture and the clip writer, reconnections and bytes.
//! Never: decides anything; the station, the status page and the alarms read it.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::{format_time, SharedClock};
use crate::log::CameraDown;

/// A live camera whose last frame is older than this is `stalled`.
pub const STALL: Duration = Duration::from_secs(2);

/// What a camera is doing, from its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// Its source is being opened, or opened with no frame yet.
    Starting,
    /// Frames reach the clip writer.
    Live,
    /// No frame for [`STALL`] although the source has not failed.
    Stalled,
    /// Its source failed or vanished; it is being reconnected.
    Lost,
}

impl CameraState {
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Starting => "starting",
            CameraState::Live => "live",
            CameraState::Stalled => "stalled",
            CameraState::Lost => "lost",
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// The last failure of the source while it is down.
    lost: Option<String>,
    /// Since when (monotonic, wall) the camera delivered no frame: set when it goes down.
    down_since: Option<(Duration, String)>,
    /// When the current session started (monotonic).
    session_at: Option<Duration>,
    frames: u64,
    /// Packets the capture loop sent to the clip writer, and the ones it took.
    sent: u64,
    taken: u64,
    last_frame: Option<Duration>,
    last_frame_wall: Option<String>,
    reconnects: u64,
    late: u64,
    /// Frames left out since the process started because the recorder was behind real time.
    dropped: u64,
    bytes: u64,
    /// Clips sealed and recorded in the manifest.
    clips: u64,
    last_saved: Option<SavedClip>,
    /// Frames counted in the current one-second window, and when it started.
    window: (u64, Duration),
    fps: f64,
    nominal_fps: f64,
    /// The clip being written now: its clip group and order.
    recording: Option<(String, String)>,
    /// Clips cannot be written now (a full disk, an I/O error): why.
    sink_failed: Option<String>,
    /// How far frames arrive after their time, and how much the session's time map was
    /// corrected (s).
    behind_s: f64,
    clock_adjusted_s: f64,
}

/// A clip sealed and recorded in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedClip {
    pub order: String,
    /// The clip's length (s) and the seal's reason.
    pub seconds: f64,
    pub reason: String,
    /// When its seal was recorded, and its number since the process started.
    pub at: String,
    pub n: u64,
}

/// The shared health of one camera.
pub struct CameraHealth {
    pub camera: String,
    pub source: String,
    clock: SharedClock,
    inner: Mutex<Inner>,
}

/// A camera's health at one moment, as status, `/healthz` and `/metrics` show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CameraStatus {
    pub camera: String,
    pub source: String,
    pub state: CameraState,
    /// Since when the camera delivered no frame (when it is not live).
    pub down_since: Option<String>,
    /// The last failure of its source, while it is down.
    pub reason: Option<String>,
    /// Frames a second over the last second (0 when not live).
    pub fps: f64,
    /// Frames that reached the clip writer since the process started.
    pub frames: u64,
    /// Frames that came more than 100 ms late (a real camera would have dropped them).
    pub late_frames: u64,
    /// Frames left out since the process started because the recorder was behind real time
    /// (the frame rate stepped down; each clip's record counts its own).
    #[serde(default)]
    pub dropped_frames: u64,
    /// Seconds since the last frame reached the clip writer.
    pub last_frame_age_s: Option<f64>,
    pub last_frame_at: Option<String>,
    /// Packets waiting between capture and the clip writer, and the video they hold (s).
    pub queued: u64,
    pub writer_lag_s: f64,
    pub reconnects: u64,
    /// Bytes of video that reached the clip writer since the process started.
    pub bytes: u64,
    /// Clips of this camera sealed and recorded since the process started.
    #[serde(default)]
    pub clips: u64,
    /// The last clip sealed and recorded (the station screen's "saved").
    #[serde(default)]
    pub last_saved: Option<SavedClip>,
    /// The order whose clip is being written now.
    pub recording: Option<String>,
    /// Clips cannot be written now: why (the camera may be live all the same).
    #[serde(default)]
    pub write_error: Option<String>,
    /// Seconds frames arrive after their time: how far the recorder is behind real time.
    #[serde(default)]
    pub behind_s: f64,
    /// Seconds the session's time map was stepped and slewed so far.
    #[serde(default)]
    pub clock_adjusted_s: f64,
}

impl CameraHealth {
    pub fn new(camera: &str, source: &str, clock: SharedClock) -> Arc<CameraHealth> {
        let now = clock.monotonic();
        Arc::new(CameraHealth {
            camera: camera.to_string(),
            source: source.to_string(),
            inner: Mutex::new(Inner {
                down_since: Some((now, format_time(clock.now()))),
                window: (0, now),
                nominal_fps: 30.0,
                ..Inner::default()
            }),
            clock,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not blind the status: the data is counters.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mark_down(&self, g: &mut Inner) {
        if g.down_since.is_none() {
            g.down_since = Some((self.clock.monotonic(), format_time(self.clock.now())));
        }
    }

    /// The capture loop could not open the source, or its session failed: `why`.
    pub fn lost(&self, why: &str) {
        let mut g = self.lock();
        self.mark_down(&mut g);
        g.lost = Some(crate::media::source::redacted_text(why));
        g.session_at = None;
        g.recording = None;
    }

    /// A session started (the source opened and gave its first unit) at `fps`.
    pub fn session_started(&self, fps: f64) {
        let mut g = self.lock();
        if g.frames > 0 {
            g.reconnects += 1;
        }
        g.lost = None;
        g.session_at = Some(self.clock.monotonic());
        g.nominal_fps = if fps > 0.0 { fps } else { 30.0 };
        // Packets of an earlier session still queued are not this one's lag.
        g.sent = g.taken;
    }

    /// The capture loop sent `n` packets toward the clip writer.
    pub fn sent(&self, n: u64) {
        self.lock().sent += n;
    }

    /// Frames that came late so far in this session (the media path counts them).
    pub fn late_frames(&self, late: u64) {
        let mut g = self.lock();
        g.late = g.late.max(late);
    }

    /// A frame was left out because it came `behind_s` after its time.
    pub fn dropped_frame(&self, behind_s: f64) {
        let mut g = self.lock();
        g.dropped += 1;
        g.behind_s = behind_s;
    }

    /// A frame of `bytes` reached the clip writer.
    pub fn frame(&self, bytes: usize) {
        let now = self.clock.monotonic();
        let mut g = self.lock();
        g.frames += 1;
        g.taken += 1;
        g.bytes += bytes as u64;
        g.last_frame = Some(now);
        g.down_since = None;
        g.window.0 += 1;
        let span = now.saturating_sub(g.window.1);
        if span >= Duration::from_secs(1) {
            g.fps = g.window.0 as f64 / span.as_secs_f64();
            g.window = (0, now);
        }
    }

    /// The wall-clock time of the last frame (from the stream), for the status.
    pub fn frame_time(&self, wall: &str) {
        self.lock().last_frame_wall = Some(wall.to_string());
    }

    /// A clip of `order` (clip group `group`) is being written.
    pub fn clip_opened(&self, group: &str, order: &str) {
        self.lock().recording = Some((group.to_string(), order.to_string()));
    }

    /// The clip being written was sealed.
    pub fn clip_sealed(&self) {
        self.lock().recording = None;
    }

    /// A clip's `clip_sealed` record is in the manifest: of `order`, `duration_ms` long.
    pub fn clip_recorded(&self, order: &str, duration_ms: u64, reason: &str) {
        let at = format_time(self.clock.now());
        let mut g = self.lock();
        g.clips += 1;
        g.last_saved = Some(SavedClip {
            order: order.to_string(),
            seconds: duration_ms as f64 / 1000.0,
            reason: reason.to_string(),
            at,
            n: g.clips,
        });
    }

    /// The session's time map: how far frames arrive after their time, and how much it was
    /// corrected so far.
    pub fn clock(&self, behind_s: f64, adjusted_s: f64) {
        let mut g = self.lock();
        g.behind_s = behind_s;
        g.clock_adjusted_s = adjusted_s;
    }

    /// Clips of this camera cannot be written (`Some(why)`), or can again (`None`).
    pub fn sink_failed(&self, why: Option<&str>) {
        let mut g = self.lock();
        g.sink_failed = why.map(crate::media::source::redacted_text);
        if g.sink_failed.is_some() {
            g.recording = None;
        }
    }

    /// True when frames arrive and can be written: what "recording" needs.
    pub fn can_record(&self) -> bool {
        let live = self.state() == CameraState::Live;
        live && self.lock().sink_failed.is_none()
    }

    /// The clip group being written now, if any, and the camera is live.
    pub fn recording_group(&self) -> Option<String> {
        let live = self.state() == CameraState::Live;
        let g = self.lock();
        g.recording.as_ref().filter(|_| live).map(|r| r.0.clone())
    }

    fn state_of(&self, g: &Inner, now: Duration) -> CameraState {
        if g.lost.is_some() {
            return CameraState::Lost;
        }
        match (g.last_frame, g.session_at) {
            (None, _) => CameraState::Starting,
            (Some(f), Some(s)) if f < s => CameraState::Starting,
            (Some(f), _) if now.saturating_sub(f) > STALL => CameraState::Stalled,
            _ => CameraState::Live,
        }
    }

    pub fn state(&self) -> CameraState {
        let now = self.clock.monotonic();
        let g = self.lock();
        self.state_of(&g, now)
    }

    pub fn status(&self) -> CameraStatus {
        let now = self.clock.monotonic();
        let g = self.lock();
        let state = self.state_of(&g, now);
        let queued = g.sent.saturating_sub(g.taken);
        let stalled_since = g
            .last_frame
            .filter(|_| state == CameraState::Stalled)
            .map(|f| {
                let ago = now.saturating_sub(f);
                format_time(self.clock.now() - chrono::Duration::from_std(ago).unwrap_or_default())
            });
        CameraStatus {
            camera: self.camera.clone(),
            source: self.source.clone(),
            state,
            down_since: match state {
                CameraState::Live => None,
                CameraState::Stalled => stalled_since,
                _ => g.down_since.as_ref().map(|d| d.1.clone()),
            },
            reason: g.lost.clone(),
            fps: if state == CameraState::Live {
                g.fps
            } else {
                0.0
            },
            frames: g.frames,
            late_frames: g.late,
            dropped_frames: g.dropped,
            last_frame_age_s: g.last_frame.map(|f| now.saturating_sub(f).as_secs_f64()),
            last_frame_at: g.last_frame_wall.clone(),
            queued,
            writer_lag_s: queued as f64 / g.nominal_fps.max(1.0),
            reconnects: g.reconnects,
            bytes: g.bytes,
            clips: g.clips,
            last_saved: g.last_saved.clone(),
            recording: g
                .recording
                .as_ref()
                .filter(|_| state == CameraState::Live)
                .map(|r| r.1.clone()),
            write_error: g.sink_failed.clone(),
            behind_s: g.behind_s,
            clock_adjusted_s: g.clock_adjusted_s,
        }
    }

    /// The camera as a `no_video` record names it.
    pub fn down(&self) -> CameraDown {
        let s = self.status();
        let unwritable = s.state == CameraState::Live && s.write_error.is_some();
        CameraDown {
            camera: s.camera,
            state: if unwritable {
                "unwritable"
            } else {
                s.state.as_str()
            }
            .to_string(),
            since: s.down_since,
            reason: s.write_error.or(s.reason),
        }
    }
}

pub use crate::clock::short_time;
pub use crate::log::down_text;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimClock;

    #[test]
    fn a_camera_is_what_its_frames_say() {
        let clock = SimClock::at_test_epoch();
        let h = CameraHealth::new("cam-1", "rtsp://x", Arc::new(clock.clone()));
        assert_eq!(h.state(), CameraState::Starting);
        h.lost("connection refused");
        assert_eq!(h.state(), CameraState::Lost);
        let s = h.status();
        assert_eq!(s.reason.as_deref(), Some("connection refused"));
        assert_eq!(
            s.down_since.as_deref(),
            Some("2026-11-25T20:31:02.054+08:00")
        );
        clock.advance(Duration::from_secs(5));
        h.session_started(25.0);
        // Opened, but no frame yet: not live.
        assert_eq!(h.state(), CameraState::Starting);
        h.sent(3);
        h.frame(1000);
        assert_eq!(h.state(), CameraState::Live);
        let s = h.status();
        assert_eq!((s.frames, s.queued, s.reconnects), (1, 2, 0));
        assert!((s.writer_lag_s - 2.0 / 25.0).abs() < 1e-9);
        assert_eq!(s.down_since, None);
        for _ in 0..25 {
            clock.advance(Duration::from_millis(40));
            h.frame(1000);
        }
        assert!((h.status().fps - 25.0).abs() < 1.5, "{}", h.status().fps);
        h.clip_opened("g-1", "SO-1");
        assert_eq!(h.recording_group().as_deref(), Some("g-1"));
        assert_eq!(h.status().clips, 0);
        h.clip_sealed();
        h.clip_recorded("SO-1", 12_500, "stop_code");
        assert_eq!((h.status().clips, h.status().recording), (1, None));
        let saved = h.status().last_saved.expect("saved");
        assert_eq!(
            (saved.order.as_str(), saved.seconds, saved.n),
            ("SO-1", 12.5, 1)
        );
        h.clip_opened("g-1", "SO-1");
        // No frame for longer than STALL: stalled, and not recording whatever was asked.
        clock.advance(STALL + Duration::from_millis(1));
        assert_eq!(h.state(), CameraState::Stalled);
        assert_eq!(h.recording_group(), None);
        assert_eq!(h.status().fps, 0.0);
        assert!(h.status().down_since.is_some());
        // Lost and back: a reconnection.
        h.lost("end of stream");
        h.session_started(25.0);
        h.frame(1000);
        assert_eq!((h.state(), h.status().reconnects), (CameraState::Live, 1));
        let d = CameraHealth::new("cam-2", "x", Arc::new(clock.clone()));
        d.lost("no route to host");
        assert_eq!(
            down_text(&[d.down()]),
            "cam-2 lost since 20:31:10 (no route to host)"
        );
    }
}
