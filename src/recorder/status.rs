//! The recorder's status: what `packwitness status`, `/healthz`, `/metrics`, the station
//! screens and the alarms are told about a recording process, as one typed value.
//!
//! Owns: composing the status of a recording process (its stations as their loops keep
//! them, the writer, the data disk, the last checkpoint, the clock, what was sent outside)
//! and the list of what is wrong with it (alarms, sorted into problems and warnings). The
//! socket carries this value to other processes as it is (`socket::recorder_status`).
//! Never: claims health it did not see: a data dir whose recorder does not answer is a
//! problem, and a station is `recording` only once a clip writer writes its order's clip.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::health::CameraState;
use super::station::Outcome;
pub use super::station::StationState;
use super::WriterHandle;
use crate::clock::SharedClock;
use crate::config::Config;

/// What a station is doing now, as the page and `/api/status` show it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StationStatus {
    pub id: String,
    pub cameras: Vec<String>,
    /// The order and box being recorded.
    pub order: Option<String>,
    #[serde(rename = "box")]
    pub box_no: Option<u32>,
    pub operator: Option<String>,
    /// Every camera's capture thread is running.
    pub running: bool,
    /// The last accepted scan: code, action, local time.
    pub last_scan: Option<(String, String, String)>,
    /// From the cameras' clip writers, not from intent.
    #[serde(default)]
    pub state: StationState,
    /// The station's health: each camera's state and figures, why nothing is recorded,
    /// refreshed five times a second.
    #[serde(default)]
    pub health: Option<crate::recorder::station::StationReport>,
}

impl StationStatus {
    /// Brings the status up to date after a scan's outcome (at local time `at`, `HH:MM:SS`).
    pub fn update(&mut self, outcome: &Outcome, code: &str, at: String) {
        self.order = outcome.recording.as_ref().map(|r| r.0.clone());
        self.box_no = outcome.recording.as_ref().map(|r| r.1);
        self.operator = outcome.operator.clone();
        self.last_scan = Some((code.to_string(), outcome.action.name().to_string(), at));
    }
}

/// A recording process now.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProcessStatus {
    /// False when no recording process answered (the status of a data dir nobody records).
    pub recording_process: bool,
    pub pid: u32,
    pub data_dir: String,
    pub disk_free_mb: u64,
    /// Bytes a second the cameras deliver (as if every one recorded all the time) and the
    /// hours of recording the free space holds at that rate.
    pub bytes_per_s: f64,
    pub hours_left: Option<f64>,
    /// The free space retention keeps: `min_free_mb` or `reserve_minutes` of recording at
    /// the rate the sealed clips were measured at, whichever is larger.
    #[serde(default)]
    pub free_floor_mb: u64,
    pub last_checkpoint_at: Option<String>,
    pub last_checkpoint_age_s: Option<f64>,
    /// Whether the system clock is synchronised (NTP); `null` when it cannot be told.
    pub clock_synced: Option<bool>,
    /// Set when a manifest write failed: records wait (in memory) until it can be written
    /// again, which the writer tries every few seconds.
    pub writer_broken: Option<String>,
    /// The data disk is missing, unwritable or replaced: what, since when, and what was found.
    #[serde(default)]
    pub data_disk: Option<crate::recorder::disk::Detail>,
    /// Records kept in memory until the manifest can be written again (scans, gaps).
    #[serde(default)]
    pub deferred_records: usize,
    /// Times the lookup indexer stopped and was started again since the process started.
    #[serde(default)]
    pub indexer_restarts: u64,
    pub stations: Vec<StationStatus>,
    /// What is wrong, for people; empty when every camera delivers and nothing else is.
    pub problems: Vec<String>,
    /// What is not right but does not stop the recording (an unsynchronised clock).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Checkpoints stamped by a TSA (`[anchor]`): the queue and the last stamp.
    #[serde(default)]
    pub anchor: Option<crate::anchor::AnchorStatus>,
    /// The archive (`[archive]`): what it confirmed, what waits, the last error.
    #[serde(default)]
    pub archive: Option<crate::archive::push::ArchiveStatus>,
    /// The webhooks (`[[notify]]`): what each delivered, and its failure.
    #[serde(default)]
    pub notify: Vec<crate::notify::HookStatus>,
}

/// What the station sent outside: checkpoints to TSAs and witnesses, evidence to the archive.
#[derive(Debug, Clone, Default)]
pub struct Outside {
    pub anchor: Option<crate::anchor::AnchorStatus>,
    pub archive: Option<crate::archive::push::ArchiveStatus>,
    pub notify: Vec<crate::notify::HookStatus>,
}

/// Recording with less than this many hours of free space left is a problem.
pub const LOW_DISK_HOURS: f64 = 2.0;
/// Frames arriving this long after their time: the recorder is behind real time.
pub const MAX_BEHIND_S: f64 = 2.0;
/// Packets queued for longer than this between capture and a clip file is a problem.
pub const MAX_WRITER_LAG_S: f64 = 1.0;

impl ProcessStatus {
    /// The status of this process: its stations (as the station loops keep them), the
    /// writer, the disk of `data_dir`, the clock.
    pub fn compose(
        data_dir: &Path,
        config: &Config,
        stations: Vec<StationStatus>,
        writer: Option<&WriterHandle>,
        clock: &SharedClock,
        uptime_s: f64,
        outside: Outside,
    ) -> ProcessStatus {
        let Outside {
            anchor,
            archive,
            notify,
        } = outside;
        let free = crate::datadir::free_bytes(data_dir).unwrap_or(0);
        let bytes: u64 = stations
            .iter()
            .filter_map(|s| s.health.as_ref())
            .flat_map(|h| h.cameras.iter().map(|c| c.bytes))
            .sum();
        let bytes_per_s = bytes as f64 / uptime_s.max(1.0);
        let stats = writer.map(|w| w.stats()).unwrap_or_default();
        let reserve = match writer {
            Some(_) => stats.free_floor,
            None => config.retention.min_free_mb.saturating_mul(1024 * 1024),
        };
        let hours_left =
            (bytes_per_s > 0.0).then(|| free.saturating_sub(reserve) as f64 / bytes_per_s / 3600.0);
        let now = clock.monotonic();
        let mut p = ProcessStatus {
            recording_process: true,
            pid: std::process::id(),
            data_dir: data_dir.display().to_string(),
            disk_free_mb: free / (1024 * 1024),
            bytes_per_s,
            hours_left,
            free_floor_mb: reserve / (1024 * 1024),
            last_checkpoint_at: stats.last_checkpoint_at,
            last_checkpoint_age_s: stats
                .last_checkpoint_mono
                .map(|t| now.saturating_sub(t).as_secs_f64()),
            clock_synced: clock.synchronised(),
            writer_broken: stats.broken,
            data_disk: writer.and_then(|w| w.disk().problem()),
            deferred_records: stats.deferred,
            indexer_restarts: stats.indexer_restarts,
            stations,
            problems: Vec::new(),
            warnings: Vec::new(),
            anchor,
            archive,
            notify,
        };
        if let Some(a) = p.anchor.as_ref().filter(|a| a.queued > 0) {
            let late = a
                .oldest_queued_s
                .is_some_and(|s| s > 2.0 * config.anchor.every_s as f64);
            if late || a.last_error.is_some() {
                p.warnings.push(format!(
                    "anchoring: {} checkpoint(s) wait for a TSA{}{}",
                    a.queued,
                    a.oldest_queued_s
                        .map(|s| format!(" (the oldest for {s:.0} s)"))
                        .unwrap_or_default(),
                    a.last_error
                        .as_ref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ));
            }
        }
        if p.indexer_restarts > 0 {
            p.warnings.push(format!(
                "the lookup index stopped {} time(s) and was started again: lookups may lag (the log says why; `packwitness reindex` rebuilds it)",
                p.indexer_restarts
            ));
        }
        for w in p.anchor.iter().flat_map(|a| a.witnesses.iter()) {
            if let Some(e) = &w.last_error {
                p.warnings
                    .push(format!("witness {} ({}): {e}", w.name, w.url));
            }
        }
        if let Some(e) = p.archive.as_ref().and_then(|a| a.last_error.as_ref()) {
            p.warnings.push(format!(
                "archive: cannot send now ({e}); the station records on and sends later"
            ));
        }
        p.sort_alarms(config);
        p
    }

    /// The status of a data dir whose recorder did not answer.
    /// The health rule (docs/operations.md): every alarm is a problem (`/healthz` 503) or a
    /// warning (200, listed), by its kind; `[alarm] strict` makes the warnings it names
    /// problems.
    pub fn sort_alarms(&mut self, config: &Config) {
        for a in alarms(self, config) {
            if config.alarm.is_problem(&a.kind) {
                self.problems.push(a.reason);
            } else {
                self.warnings.push(a.reason);
            }
        }
    }

    pub fn no_recorder(data_dir: &Path, why: &str) -> ProcessStatus {
        ProcessStatus {
            data_dir: data_dir.display().to_string(),
            problems: vec![format!("no recording process answers: {why}")],
            ..ProcessStatus::default()
        }
    }

    pub fn healthy(&self) -> bool {
        self.recording_process && self.problems.is_empty()
    }
}

/// Something wrong with a recording process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    /// `no_station`, `camera_starting`, `camera_stalled`, `camera_lost`, `camera_stopped`,
    /// `not_recording`, `write_failed`, `writer_lag`, `writer_broken`, `disk_low`,
    /// `data_disk_missing`, `data_disk_unwritable`, `data_dir_replaced`, `clock_unsynchronised`,
    /// `archive_lag`, `archive_refused`, `notify_failing`.
    pub kind: String,
    pub station: Option<String>,
    pub camera: Option<String>,
    /// For people: what is wrong, and since when.
    pub reason: String,
}

impl Alarm {
    /// What identifies an alarm across checks (its reason may change while it lasts).
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.kind,
            self.station.as_deref().unwrap_or(""),
            self.camera.as_deref().unwrap_or("")
        )
    }
}

/// What is wrong with a recording process.
pub fn alarms(p: &ProcessStatus, config: &Config) -> Vec<Alarm> {
    let mut out = Vec::new();
    let mut push = |kind: &str, station: Option<&str>, camera: Option<&str>, reason: String| {
        out.push(Alarm {
            kind: kind.into(),
            station: station.map(str::to_string),
            camera: camera.map(str::to_string),
            reason,
        })
    };
    if p.stations.is_empty() {
        push(
            "no_station",
            None,
            None,
            "this process records no station".into(),
        );
    }
    for s in &p.stations {
        let id = Some(s.id.as_str());
        let Some(h) = &s.health else {
            push(
                "camera_starting",
                id,
                None,
                format!("station {}: no health yet", s.id),
            );
            continue;
        };
        if !s.running {
            push(
                "camera_stopped",
                id,
                None,
                format!("station {}: a camera thread stopped", s.id),
            );
        }
        if let (Some(order), Some(why)) = (&h.order, &h.not_recording) {
            push(
                "not_recording",
                id,
                None,
                format!(
                    "station {}: order {order} is open and NOT RECORDING: {why}",
                    s.id
                ),
            );
        }
        for c in &h.cameras {
            let cam = Some(c.camera.as_str());
            if c.state != CameraState::Live {
                let mut t = format!(
                    "station {} camera {} is {}",
                    s.id,
                    c.camera,
                    c.state.as_str()
                );
                if let Some(since) = &c.down_since {
                    t.push_str(&format!(" since {since}"));
                }
                if let Some(r) = &c.reason {
                    t.push_str(&format!(": {r}"));
                }
                push(&format!("camera_{}", c.state.as_str()), id, cam, t);
            } else if let Some(e) = &c.write_error {
                push("write_failed", id, cam, format!(
                    "station {} camera {}: clips cannot be written ({e}); recording resumes by itself when they can",
                    s.id, c.camera
                ));
            } else if c.behind_s > MAX_BEHIND_S {
                push("behind", id, cam, format!(
                    "station {} camera {}: frames arrive {:.1} s after their time (the machine cannot keep up)",
                    s.id, c.camera, c.behind_s
                ));
            } else if c.writer_lag_s > MAX_WRITER_LAG_S {
                push("writer_lag", id, cam, format!(
                    "station {} camera {}: {:.1} s of video wait to be written (the disk or the CPU cannot keep up)",
                    s.id, c.camera, c.writer_lag_s
                ));
            }
        }
    }
    if let Some(d) = &p.data_disk {
        push(
            d.problem.as_str(),
            None,
            None,
            format!(
                "NOT RECORDING: {} ({}, since {}); {} record(s) wait in memory",
                d.problem.advice(),
                d.what,
                d.since,
                p.deferred_records
            ),
        );
    } else if let Some(b) = &p.writer_broken {
        push(
            "writer_broken",
            None,
            None,
            format!("the manifest cannot be written ({b}); records wait in memory and it is tried again every few seconds"),
        );
    }
    let floor = p.free_floor_mb;
    if p.data_disk.is_some() {
        // The free space of a disk that is not there says nothing.
    } else if p.recording_process && floor > 0 && p.disk_free_mb < floor {
        push(
            "disk_low",
            None,
            None,
            format!(
                "disk: {} MB free, under the {floor} MB retention keeps ([retention] min_free_mb = {}, reserve_minutes = {})",
                p.disk_free_mb, config.retention.min_free_mb, config.retention.reserve_minutes
            ),
        );
    } else if let Some(h) = p.hours_left.filter(|h| *h < LOW_DISK_HOURS) {
        push(
            "disk_low",
            None,
            None,
            format!(
                "disk: {} MB free, about {h:.1} hours of recording at the current rate",
                p.disk_free_mb
            ),
        );
    }
    if let Some(a) = &p.archive {
        if let Some(why) = &a.refused {
            push(
                "archive_refused",
                None,
                None,
                format!("the archive {} refused this station's log: {why}", a.url),
            );
        }
        if a.lagging {
            push(
                "archive_lag",
                None,
                None,
                format!(
                    "the archive {} has not confirmed what was sealed since {} ({} clip(s), {} line(s) wait; [archive] max_lag_minutes = {})",
                    a.url,
                    a.oldest_unconfirmed.as_deref().unwrap_or("?"),
                    a.clips_pending,
                    a.log_lines.saturating_sub(a.confirmed_lines),
                    config.archive.max_lag_minutes
                ),
            );
        }
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    for h in &p.notify {
        if let (Some(since), Some(e)) = (h.failing_since_ms, &h.last_error) {
            if now_ms - since > crate::notify::FAILING_ALARM_MS {
                push(
                    "notify_failing",
                    None,
                    None,
                    format!(
                        "the webhook {} has not taken an event for {} min: {e} (events wait, in order)",
                        h.url,
                        (now_ms - since) / 60_000
                    ),
                );
            }
        }
    }
    if p.clock_synced == Some(false) {
        push(
            "clock_unsynchronised",
            None,
            None,
            "the system clock is not synchronised (NTP): recorded times may be off".into(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A webhook failing for more than ten minutes is a warning, not before.
    #[test]
    fn a_webhook_failing_for_ten_minutes_is_a_warning() {
        let now = chrono::Utc::now().timestamp_millis();
        let hook = |minutes: i64| crate::notify::HookStatus {
            url: "https://wms.example/hook".into(),
            last_error: Some("https://wms.example/hook answered 503".into()),
            failing_since_ms: Some(now - minutes * 60_000),
            ..Default::default()
        };
        let config = Config::default();
        let kinds = |p: &ProcessStatus| -> Vec<String> {
            alarms(p, &config).into_iter().map(|a| a.kind).collect()
        };
        let mut p = ProcessStatus {
            recording_process: true,
            notify: vec![hook(2)],
            ..ProcessStatus::default()
        };
        assert!(!kinds(&p).contains(&"notify_failing".to_string()));
        p.notify = vec![hook(11)];
        assert!(kinds(&p).contains(&"notify_failing".to_string()));
        p.sort_alarms(&config);
        assert!(
            p.warnings.iter().any(|w| w.contains("wms.example")),
            "{:?}",
            p.warnings
        );
    }

    /// The health rule: an unsynchronised clock is a warning (healthy, listed) unless
    /// `[alarm] strict` names it; a station that records nothing is always a problem.
    #[test]
    fn warnings_leave_the_station_healthy_unless_strict() {
        // No station (a problem of its own, always) and a clock not synchronised.
        let clock_off = || ProcessStatus {
            recording_process: true,
            clock_synced: Some(false),
            ..ProcessStatus::default()
        };
        let mut config = Config::default();
        let mut p = clock_off();
        p.sort_alarms(&config);
        assert!(p.problems.iter().any(|r| r.contains("records no station")));
        assert!(p.warnings.iter().any(|r| r.contains("not synchronised")));
        assert_eq!(p.problems.len(), 1, "{p:?}");
        config.alarm.strict = vec!["clock_unsynchronised".into()];
        let mut q = clock_off();
        q.sort_alarms(&config);
        assert!(
            q.problems.iter().any(|r| r.contains("not synchronised")),
            "{q:?}"
        );
        assert!(q.warnings.is_empty());
        // Every alarm kind is one or the other; only the listed ones are warnings.
        for kind in [
            "camera_lost",
            "disk_low",
            "not_recording",
            "data_disk_missing",
        ] {
            assert!(Config::default().alarm.is_problem(kind));
        }
        for kind in crate::config::AlarmConfig::WARNINGS {
            assert!(!Config::default().alarm.is_problem(kind));
        }
    }
}

/// The status crosses the writer's socket as the value the recorder composed: the same
/// types on both sides, no field lost or renamed on the way.
#[cfg(test)]
mod socket_tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::SimClock;
    use crate::recorder::health::CameraHealth;
    use crate::recorder::station::StationReport;
    use crate::recorder::writer::{recorder_status, Writer, WriterThread};

    #[test]
    fn the_status_crosses_the_socket_typed_and_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        crate::datadir::create(&dir).unwrap();
        let clock = SimClock::at_test_epoch();
        let writer = Writer::open(&dir, &Config::default(), Arc::new(clock.clone())).unwrap();
        let thread = WriterThread::spawn(writer, true).unwrap();
        let camera = CameraHealth::new("cam1", "lavfi:testsrc", clock.shared());
        camera.session_started(30.0);
        camera.frame(1000);
        let report = StationReport {
            id: "st1".into(),
            state: StationState::Recording,
            order: Some("SF1234567890".into()),
            box_no: Some(2),
            operator: None,
            order_since: Some("2026-12-04T10:00:00.000+08:00".into()),
            elapsed_s: Some(12.5),
            not_recording: None,
            last_scan: None,
            last_rejection: None,
            scans: 3,
            rejects: 1,
            no_video: 0,
            cameras: vec![camera.status()],
        };
        let station = StationStatus {
            id: "st1".into(),
            cameras: vec!["cam1".into()],
            order: report.order.clone(),
            box_no: Some(2),
            running: true,
            state: StationState::Recording,
            health: Some(report),
            ..Default::default()
        };
        let sent = ProcessStatus {
            recording_process: true,
            pid: 42,
            data_dir: dir.display().to_string(),
            stations: vec![station],
            warnings: vec!["the system clock is not synchronised".into()],
            ..Default::default()
        };
        let composed = sent.clone();
        thread
            .handle()
            .set_status(Box::new(move || composed.clone()));
        let got = recorder_status(&dir).unwrap();
        assert_eq!(
            serde_json::to_value(&got).unwrap(),
            serde_json::to_value(&sent).unwrap()
        );
        let st = &got.stations[0];
        assert_eq!(st.state, StationState::Recording);
        let h = st.health.as_ref().unwrap();
        assert_eq!((h.box_no, h.scans, h.rejects), (Some(2), 3, 1));
        assert_eq!(h.cameras[0].state, CameraState::Live);
        assert_eq!(h.cameras[0].frames, 1);
        thread.stop().unwrap();
        // No recorder: an error that says so, never a status made up.
        let e = recorder_status(&dir).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Unavailable, "{e}");
    }
}
