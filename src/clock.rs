//! Clocks: every place that reads the time reads it through [`Clock`], so tests run the
//! recorder on a simulated clock.
//!
//! Owns: the wall clock (local time with its UTC offset, the form every record carries), the
//! monotonic clock (timeouts, intervals), whether the system clock is synchronised (NTP/PTP),
//! the manifest's time format, and parsing the local dates and times people type.
//! Never: depends on another module of the crate.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, TimeZone};

/// A source of time.
pub trait Clock: Send + Sync {
    /// Wall-clock time now, in the local time zone.
    fn now(&self) -> DateTime<FixedOffset>;
    /// Time since a fixed point of this clock (never goes back).
    fn monotonic(&self) -> Duration;
    /// Whether the wall clock is synchronised to a time source; `None` when that cannot be
    /// told.
    fn synchronised(&self) -> Option<bool>;
    /// Waits `d` on this clock: the real one sleeps; a simulated one moves forward by `d`
    /// at once (so a test of reconnects and timeouts takes no real time).
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
    /// True for a clock whose waits are simulated ([`SimClock`]).
    fn simulated(&self) -> bool {
        false
    }
}

/// Waits up to `d` on `clock` for a message: on the real clock a plain
/// `recv_timeout`; on a simulated one, a message already there is taken, else the clock moves
/// forward by `d` and the wait times out (after a moment of real time, for the threads that
/// send to catch up).
pub fn recv_timeout<T>(
    clock: &dyn Clock,
    rx: &std::sync::mpsc::Receiver<T>,
    d: Duration,
) -> Result<T, std::sync::mpsc::RecvTimeoutError> {
    use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
    if !clock.simulated() {
        return rx.recv_timeout(d);
    }
    let take = |r: Result<T, TryRecvError>| match r {
        Ok(v) => Some(Ok(v)),
        Err(TryRecvError::Disconnected) => Some(Err(RecvTimeoutError::Disconnected)),
        Err(TryRecvError::Empty) => None,
    };
    if let Some(r) = take(rx.try_recv()) {
        return r;
    }
    // Real time just long enough for a thread about to send to do so.
    if let Ok(v) = rx.recv_timeout(Duration::from_millis(2).min(d)) {
        return Ok(v);
    }
    clock.sleep(d);
    take(rx.try_recv()).unwrap_or(Err(RecvTimeoutError::Timeout))
}

/// A shared clock.
pub type SharedClock = Arc<dyn Clock>;

/// The system's clocks.
#[derive(Debug)]
pub struct RealClock {
    epoch: Instant,
}

impl RealClock {
    pub fn new() -> RealClock {
        RealClock {
            epoch: Instant::now(),
        }
    }

    /// A shared real clock.
    pub fn shared() -> SharedClock {
        Arc::new(RealClock::new())
    }
}

impl Default for RealClock {
    fn default() -> Self {
        RealClock::new()
    }
}

impl Clock for RealClock {
    fn now(&self) -> DateTime<FixedOffset> {
        Local::now().fixed_offset()
    }

    fn monotonic(&self) -> Duration {
        self.epoch.elapsed()
    }

    fn synchronised(&self) -> Option<bool> {
        system_clock_synchronised()
    }
}

/// A clock that moves only when told to: wall and monotonic time advance together.
#[derive(Debug, Clone)]
pub struct SimClock {
    state: Arc<Mutex<SimState>>,
}

#[derive(Debug)]
struct SimState {
    wall: DateTime<FixedOffset>,
    mono: Duration,
    synced: Option<bool>,
}

impl SimClock {
    /// A clock that reads `start` now.
    pub fn new(start: DateTime<FixedOffset>) -> SimClock {
        SimClock {
            state: Arc::new(Mutex::new(SimState {
                wall: start,
                mono: Duration::ZERO,
                synced: Some(true),
            })),
        }
    }

    /// A clock at 2026-11-25 20:31:02.054 +08:00 (the date of the fixed test vectors).
    pub fn at_test_epoch() -> SimClock {
        let start = DateTime::parse_from_rfc3339("2026-11-25T20:31:02.054+08:00")
            .unwrap_or_else(|_| Local::now().fixed_offset());
        SimClock::new(start)
    }

    fn with<T>(&self, f: impl FnOnce(&mut SimState) -> T) -> T {
        let mut s = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut s)
    }

    /// Moves both clocks forward.
    pub fn advance(&self, d: Duration) {
        self.with(|s| {
            s.mono += d;
            s.wall += chrono::Duration::from_std(d).unwrap_or_default();
        });
    }

    /// Sets the wall clock alone (a step of the system clock); the monotonic clock is kept.
    pub fn set_wall(&self, wall: DateTime<FixedOffset>) {
        self.with(|s| s.wall = wall);
    }

    pub fn set_synchronised(&self, synced: Option<bool>) {
        self.with(|s| s.synced = synced);
    }

    /// This clock, shared.
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }
}

impl Clock for SimClock {
    fn now(&self) -> DateTime<FixedOffset> {
        self.with(|s| s.wall)
    }

    fn monotonic(&self) -> Duration {
        self.with(|s| s.mono)
    }

    fn synchronised(&self) -> Option<bool> {
        self.with(|s| s.synced)
    }

    fn sleep(&self, d: Duration) {
        self.advance(d);
    }

    fn simulated(&self) -> bool {
        true
    }
}

/// A Unix time in whole seconds as RFC 3339 UTC, e.g. `2026-12-01T11:09:48Z`: the form of a
/// witness cosignature's time (empty when out of range).
pub fn utc_seconds(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// RFC 3339 with milliseconds and numeric offset, e.g. `2026-11-25T20:31:02.054+08:00`: the
/// form of every time in the manifest.
pub fn format_time(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

/// The clock's time now, in the manifest's format.
pub fn now_string(clock: &dyn Clock) -> String {
    format_time(clock.now())
}

/// Whether the system clock is synchronised (NTP or PTP), as the kernel reports it through
/// `adjtimex`; `None` where that cannot be asked.
pub fn system_clock_synchronised() -> Option<bool> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: adjtimex with modes = 0 only reads the kernel clock state into `tx`.
        let mut tx: libc::timex = unsafe { std::mem::zeroed() };
        let state = unsafe { libc::adjtimex(&mut tx) };
        if state < 0 {
            return None;
        }
        Some(state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

/// Why a typed time was not understood.
#[derive(Debug, thiserror::Error)]
pub enum TimeError {
    #[error("{0:?} is not a date or time; use 2026-11-25, \"2026-11-25 14:30\" or RFC 3339 (2026-11-25T14:30:00+08:00)")]
    Unreadable(String),
    #[error("{0:?} does not exist in the local time zone (a daylight-saving gap?)")]
    NoSuchLocalTime(String),
}

impl From<TimeError> for crate::Error {
    fn from(e: TimeError) -> crate::Error {
        crate::Error::new(crate::ErrorKind::Invalid, e)
    }
}

/// A local date or time as people type it (`--since`, `--until`), as Unix milliseconds. A
/// bare date is the start of that day; with `end_of_day`, the start of the next day, so that
/// an `--until` date includes the day.
pub fn parse_local_time(text: &str, end_of_day: bool) -> Result<i64, TimeError> {
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_millis());
    }
    let local = |naive: NaiveDateTime| -> Result<i64, TimeError> {
        Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|d| d.timestamp_millis())
            .ok_or_else(|| TimeError::NoSuchLocalTime(t.to_string()))
    };
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
            return local(n);
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let d = if end_of_day {
            d.succ_opt().unwrap_or(d)
        } else {
            d
        };
        return local(d.and_time(chrono::NaiveTime::MIN));
    }
    Err(TimeError::Unreadable(t.to_string()))
}

/// `HH:MM:SS` of an RFC 3339 time (the whole text when it is not one).
pub fn short_time(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.format("%H:%M:%S").to_string())
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_clock_moves_only_when_told() {
        let c = SimClock::at_test_epoch();
        let t0 = c.now();
        assert_eq!(format_time(t0), "2026-11-25T20:31:02.054+08:00");
        assert_eq!(c.monotonic(), Duration::ZERO);
        c.advance(Duration::from_millis(1500));
        assert_eq!(format_time(c.now()), "2026-11-25T20:31:03.554+08:00");
        assert_eq!(c.monotonic(), Duration::from_millis(1500));
        // A wall-clock step leaves the monotonic clock alone.
        c.set_wall(t0 - chrono::Duration::hours(1));
        assert_eq!(c.monotonic(), Duration::from_millis(1500));
        assert_eq!(format_time(c.now()), "2026-11-25T19:31:02.054+08:00");
    }

    #[test]
    fn typed_times() {
        assert_eq!(
            parse_local_time("2026-11-25T14:30:00+08:00", false).unwrap(),
            DateTime::parse_from_rfc3339("2026-11-25T14:30:00+08:00")
                .unwrap()
                .timestamp_millis()
        );
        let day = parse_local_time("2026-11-25", false).unwrap();
        let next = parse_local_time("2026-11-25", true).unwrap();
        assert!(next > day);
        assert!(parse_local_time("2026-11-25 14:30", false).unwrap() > day);
        assert!(parse_local_time("yesterday", false).is_err());
    }
}
