//! Health over HTTP: `/healthz` (200 only when every camera of every station delivers frames
//! and nothing else is wrong, 503 with the reasons otherwise) and `/metrics` (Prometheus
//! text), from the same [`ProcessStatus`] that `packwitness status` prints.
//!
//! Owns: composing the status of a recording process (its stations, the disk, the last
//! checkpoint, the clock), the list of what is wrong with it, and the metrics text.
//! Never: claims health it did not see: a `serve` with no recorder on its data dir is 503.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::StationStatus;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::recorder::health::CameraState;
use crate::recorder::WriterHandle;

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

/// `name{labels} value` lines of the Prometheus text format.
struct Metrics(String);

impl Metrics {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        self.0.push_str(&format!(
            "# HELP packwitness_{name} {help}\n# TYPE packwitness_{name} {kind}\n"
        ));
    }

    fn value(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| {
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                format!("{k}=\"{v}\"")
            })
            .collect();
        let l = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", labels.join(","))
        };
        self.0.push_str(&format!("packwitness_{name}{l} {v}\n"));
    }
}

/// The process's figures in the Prometheus text exposition format (`packwitness_` prefix).
pub fn metrics_text(p: &ProcessStatus) -> String {
    let mut m = Metrics(String::new());
    let cams: Vec<(&str, &crate::recorder::health::CameraStatus)> = p
        .stations
        .iter()
        .filter_map(|s| s.health.as_ref().map(|h| (s.id.as_str(), h)))
        .flat_map(|(id, h)| h.cameras.iter().map(move |c| (id, c)))
        .collect();
    type CamFn = fn(&crate::recorder::health::CameraStatus) -> f64;
    let per_camera: [(&str, &str, &str, CamFn); 11] = [
        (
            "camera_clips_total",
            "counter",
            "Clips sealed and recorded in the manifest.",
            |c| c.clips as f64,
        ),
        (
            "camera_frames_total",
            "counter",
            "Frames that reached the clip writer.",
            |c| c.frames as f64,
        ),
        (
            "camera_late_frames_total",
            "counter",
            "Frames that came more than 100 ms late.",
            |c| c.late_frames as f64,
        ),
        (
            "camera_dropped_frames_total",
            "counter",
            "Frames left out because the recorder was behind real time.",
            |c| c.dropped_frames as f64,
        ),
        (
            "camera_fps",
            "gauge",
            "Frames a second over the last second.",
            |c| c.fps,
        ),
        (
            "camera_writer_lag_seconds",
            "gauge",
            "Video queued between capture and the clip file.",
            |c| c.writer_lag_s,
        ),
        (
            "camera_last_frame_age_seconds",
            "gauge",
            "Seconds since the last frame reached the clip writer.",
            |c| c.last_frame_age_s.unwrap_or(f64::INFINITY),
        ),
        (
            "camera_reconnects_total",
            "counter",
            "Times the camera came back after a loss.",
            |c| c.reconnects as f64,
        ),
        (
            "camera_bytes_total",
            "counter",
            "Bytes of video that reached the clip writer.",
            |c| c.bytes as f64,
        ),
        (
            "camera_behind_seconds",
            "gauge",
            "How long after their time frames arrive.",
            |c| c.behind_s,
        ),
        (
            "camera_clock_adjusted_seconds",
            "gauge",
            "How much the camera's time map was stepped and slewed.",
            |c| c.clock_adjusted_s,
        ),
    ];
    for (name, kind, help, f) in per_camera {
        m.family(name, kind, help);
        for (st, c) in &cams {
            m.value(name, &[("station", st), ("camera", &c.camera)], f(c));
        }
    }
    m.family(
        "camera_up",
        "gauge",
        "1 when the camera is live (frames reach the clip writer).",
    );
    for (st, c) in &cams {
        m.value(
            "camera_up",
            &[("station", st), ("camera", &c.camera)],
            f64::from(u8::from(c.state == CameraState::Live)),
        );
    }
    m.family(
        "camera_state",
        "gauge",
        "1 for the camera's state (starting, live, stalled, lost).",
    );
    for (st, c) in &cams {
        for state in [
            CameraState::Starting,
            CameraState::Live,
            CameraState::Stalled,
            CameraState::Lost,
        ] {
            m.value(
                "camera_state",
                &[
                    ("station", st),
                    ("camera", &c.camera),
                    ("state", state.as_str()),
                ],
                f64::from(u8::from(c.state == state)),
            );
        }
    }
    let stations: Vec<_> = p
        .stations
        .iter()
        .filter_map(|s| s.health.as_ref().map(|h| (s, h)))
        .collect();
    m.family(
        "station_scans_total",
        "counter",
        "Scans the station accepted.",
    );
    for (s, h) in &stations {
        m.value("station_scans_total", &[("station", &s.id)], h.scans as f64);
    }
    m.family(
        "station_rejects_total",
        "counter",
        "Scans the station refused.",
    );
    for (s, h) in &stations {
        m.value(
            "station_rejects_total",
            &[("station", &s.id)],
            h.rejects as f64,
        );
    }
    m.family(
        "station_no_video_total",
        "counter",
        "Orders that got a no_video record.",
    );
    for (s, h) in &stations {
        m.value(
            "station_no_video_total",
            &[("station", &s.id)],
            h.no_video as f64,
        );
    }
    m.family(
        "station_recording",
        "gauge",
        "1 while an order is open and a camera delivers frames.",
    );
    for (s, h) in &stations {
        m.value(
            "station_recording",
            &[("station", &s.id)],
            f64::from(u8::from(h.state == "recording")),
        );
    }
    m.family(
        "station_not_recording",
        "gauge",
        "1 while an order is open and no camera delivers frames.",
    );
    for (s, h) in &stations {
        m.value(
            "station_not_recording",
            &[("station", &s.id)],
            f64::from(u8::from(h.state == "not_recording")),
        );
    }
    m.family(
        "disk_free_bytes",
        "gauge",
        "Free space of the data dir's file system.",
    );
    m.value(
        "disk_free_bytes",
        &[],
        (p.disk_free_mb * 1024 * 1024) as f64,
    );
    m.family(
        "disk_floor_bytes",
        "gauge",
        "Free space retention keeps (min_free_mb or reserve_minutes at the measured rate).",
    );
    m.value(
        "disk_floor_bytes",
        &[],
        (p.free_floor_mb * 1024 * 1024) as f64,
    );
    if let Some(h) = p.hours_left {
        m.family(
            "disk_hours_left",
            "gauge",
            "Hours of recording the free space above the floor holds at the current rate.",
        );
        m.value("disk_hours_left", &[], h);
    }
    if let Some(a) = &p.anchor {
        m.family(
            "anchor_queued",
            "gauge",
            "Checkpoints waiting for a TSA's time-stamp.",
        );
        m.value("anchor_queued", &[], a.queued as f64);
        m.family(
            "anchor_last_size",
            "gauge",
            "Size of the last checkpoint a TSA stamped (0: none yet).",
        );
        m.value("anchor_last_size", &[], a.last_size.unwrap_or(0) as f64);
        type WitnessFn = fn(&crate::anchor::witness_client::WitnessStatus) -> f64;
        let per_witness: [(&str, &str, WitnessFn); 2] = [
            (
                "witness_last_size",
                "Size of the last checkpoint the witness cosigned (0: none yet).",
                |w| w.last_size.unwrap_or(0) as f64,
            ),
            (
                "witness_failing",
                "1 while the witness's last answer was not a cosignature.",
                |w| f64::from(u8::from(w.last_error.is_some())),
            ),
        ];
        for (name, help, f) in per_witness.iter().filter(|_| !a.witnesses.is_empty()) {
            m.family(name, "gauge", help);
            for w in &a.witnesses {
                m.value(name, &[("witness", &w.name)], f(w));
            }
        }
    }
    if let Some(a) = &p.archive {
        let gauges: [(&str, &str, f64); 5] = [
            (
                "archive_confirmed_lines",
                "Lines of the log the archive confirmed (cosigned).",
                a.confirmed_lines as f64,
            ),
            (
                "archive_unconfirmed_lines",
                "Lines of the log the archive has not confirmed yet.",
                a.log_lines.saturating_sub(a.confirmed_lines) as f64,
            ),
            (
                "archive_clips_pending",
                "Sealed clips whose bytes the archive lacks.",
                a.clips_pending as f64,
            ),
            (
                "archive_oldest_unconfirmed_seconds",
                "Age of the oldest seal or line the archive has not confirmed (0: none).",
                a.oldest_unconfirmed_age_s.unwrap_or(0) as f64,
            ),
            (
                "archive_failing",
                "1 while the last try to reach the archive failed.",
                f64::from(u8::from(a.last_error.is_some())),
            ),
        ];
        for (name, help, v) in gauges {
            m.family(name, "gauge", help);
            m.value(name, &[], v);
        }
    }
    if let Some(a) = p.last_checkpoint_age_s {
        m.family(
            "last_checkpoint_age_seconds",
            "gauge",
            "Seconds since this process signed a checkpoint.",
        );
        m.value("last_checkpoint_age_seconds", &[], a);
    }
    m.family(
        "clock_synchronised",
        "gauge",
        "1 when the system clock is NTP-synchronised, 0 when not, -1 when unknown.",
    );
    m.value(
        "clock_synchronised",
        &[],
        p.clock_synced.map_or(-1.0, |s| f64::from(u8::from(s))),
    );
    m.family("healthy", "gauge", "1 when /healthz answers 200.");
    m.value("healthy", &[], f64::from(u8::from(p.healthy())));
    m.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::push::ArchiveStatus;

    #[test]
    fn the_archive_is_in_metrics_and_its_lag_is_an_alarm() {
        let archive = ArchiveStatus {
            url: "https://archive.example".into(),
            confirmed_lines: 40,
            log_lines: 45,
            clips_pending: 2,
            oldest_unconfirmed_age_s: Some(7200),
            lagging: true,
            last_error: Some("archive https://archive.example: connection refused".into()),
            ..ArchiveStatus::default()
        };
        let p = ProcessStatus {
            recording_process: true,
            archive: Some(archive),
            ..ProcessStatus::default()
        };
        let text = metrics_text(&p);
        for line in [
            "packwitness_archive_confirmed_lines 40\n",
            "packwitness_archive_unconfirmed_lines 5\n",
            "packwitness_archive_clips_pending 2\n",
            "packwitness_archive_oldest_unconfirmed_seconds 7200\n",
            "packwitness_archive_failing 1\n",
        ] {
            assert!(text.contains(line), "{line:?} not in:\n{text}");
        }
        let config = Config::default();
        let kinds: Vec<String> = alarms(&p, &config).into_iter().map(|a| a.kind).collect();
        assert!(kinds.contains(&"archive_lag".to_string()), "{kinds:?}");
    }

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
