//! The wall-clock time of a camera's frames: the stream's own timestamps, anchored to the
//! system clock and kept there.
//!
//! Owns: the map `wall = offset + stream seconds` of one camera session, and how it is
//! corrected. Every frame is compared with the wall clock at its arrival; over each second of
//! stream the smallest difference is the best estimate of the map's error (a frame can arrive
//! late, never early). Frames arriving more than [`STEP_S`] earlier than their mapped time
//! mean the anchor was late (the first packets were buffered before the first reading, as an
//! RTSP camera's are): the map steps back, and the step is recorded. Otherwise the map slews
//! by at most [`MAX_SLEW`] (500 parts per million, as Moonfire does), so a camera clock that
//! drifts is followed while frames delayed by a loaded machine never move the times: they are
//! reported as how far the recorder is behind.
//! Never: reads a clock (the camera loop gives it the readings).

/// A frame more than this earlier than its mapped time steps the map.
pub const STEP_S: f64 = 0.1;
/// The most the map slews: seconds per second of stream.
pub const MAX_SLEW: f64 = 500e-6;
/// The stream seconds over which the smallest difference is taken.
pub const WINDOW_S: f64 = 1.0;

/// One camera session's map from stream time to wall-clock time.
#[derive(Debug, Clone)]
pub struct WallMap {
    /// Unix seconds at stream time 0.
    offset: f64,
    window_start: Option<f64>,
    window_min: f64,
    /// How far the last frame arrived after its mapped time (the recorder's lag).
    pub behind_s: f64,
    /// Everything stepped and slewed so far, in seconds.
    pub stepped_s: f64,
    pub slewed_s: f64,
}

/// What a frame's reading changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Adjust {
    /// The map stepped by this many seconds (negative: earlier).
    Step(f64),
    /// The map slewed by this many seconds.
    Slew(f64),
}

impl WallMap {
    /// A map whose stream time `first_s` is the wall-clock time `wall_s` (Unix seconds).
    pub fn new(wall_s: f64, first_s: f64) -> WallMap {
        WallMap {
            offset: wall_s - first_s,
            window_start: None,
            window_min: f64::INFINITY,
            behind_s: 0.0,
            stepped_s: 0.0,
            slewed_s: 0.0,
        }
    }

    /// Unix seconds at stream time 0.
    pub fn offset(&self) -> f64 {
        self.offset
    }

    /// The wall-clock time of stream time `s`.
    pub fn wall(&self, s: f64) -> f64 {
        self.offset + s
    }

    /// A frame of stream time `s` arrived at `now_s` (Unix seconds); returns the correction
    /// made at the end of a window, if any.
    pub fn observe(&mut self, s: f64, now_s: f64) -> Option<Adjust> {
        let err = now_s - self.wall(s);
        self.behind_s = err.max(0.0);
        self.window_min = self.window_min.min(err);
        let start = *self.window_start.get_or_insert(s);
        let span = s - start;
        if span < WINDOW_S {
            return None;
        }
        let m = self.window_min;
        self.window_start = Some(s);
        self.window_min = f64::INFINITY;
        if m < -STEP_S {
            self.offset += m;
            self.stepped_s += m;
            self.behind_s = (err - m).max(0.0);
            return Some(Adjust::Step(m));
        }
        let slew = m.clamp(-MAX_SLEW * span, MAX_SLEW * span);
        if slew == 0.0 {
            return None;
        }
        self.offset += slew;
        self.slewed_s += slew;
        Some(Adjust::Slew(slew))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `secs` of 30 fps frames: frame k was captured at `capture(k)` (Unix seconds) and
    /// arrives `delay(k)` later; returns the map and the worst error of the mapped times after
    /// the first `settle` seconds.
    fn run(
        map: &mut WallMap,
        secs: f64,
        capture: impl Fn(f64) -> f64,
        delay: impl Fn(usize) -> f64,
        settle: f64,
    ) -> f64 {
        let mut worst: f64 = 0.0;
        let n = (secs * 30.0) as usize;
        for k in 0..n {
            let s = k as f64 / 30.0;
            map.observe(s, capture(s) + delay(k));
            if s > settle {
                worst = worst.max((map.wall(s) - capture(s)).abs());
            }
        }
        worst
    }

    #[test]
    fn a_late_first_reading_is_stepped_back_within_a_second() {
        // The first frame was read 0.9 s after it was captured (a buffered RTSP start); the
        // ones after it came at once, then live.
        let t0 = 1_764_000_000.0;
        let mut map = WallMap::new(t0 + 0.9, 0.0);
        let delay = |k: usize| if k < 27 { 0.9 - k as f64 / 30.0 } else { 0.01 };
        let worst = run(&mut map, 10.0, |s| t0 + s, delay, 1.1);
        assert!(worst < 0.05, "times off by {worst:.3} s after the step");
        assert!((map.stepped_s + 0.89).abs() < 0.02, "{map:?}");
    }

    #[test]
    fn a_drifting_camera_clock_is_followed_and_a_busy_machine_is_not() {
        let t0 = 1_764_000_000.0;
        // The camera's clock runs 300 ppm slow: its stream seconds are real seconds * (1 - 3e-4).
        let mut map = WallMap::new(t0, 0.0);
        let worst = run(&mut map, 600.0, |s| t0 + s / (1.0 - 3e-4), |_| 0.005, 0.0);
        assert!(worst < 0.03, "drift not followed: {worst:.3} s");
        assert!(map.slewed_s > 0.15, "{map:?}");
        // A machine so busy that frames arrive later and later (up to 12 s): the times stay
        // the camera's, moved by no more than the slew allows, and the lag is reported.
        let mut map = WallMap::new(t0, 0.0);
        let worst = run(&mut map, 60.0, |s| t0 + s, |k| k as f64 * 0.0067, 0.0);
        assert!(worst <= MAX_SLEW * 60.0 + 1e-9, "moved by {worst:.3} s");
        assert_eq!(map.stepped_s, 0.0);
        assert!(map.behind_s > 11.0, "{map:?}");
    }
}
