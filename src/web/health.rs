//! Health over HTTP: `/healthz` (200 only when every camera of every station delivers frames
//! and nothing else is wrong, 503 with the reasons otherwise) and `/metrics` (Prometheus
//! text), from the same [`ProcessStatus`] that `packwitness status` prints.
//!
//! Owns: the metrics text and the `/healthz` verdict, rendered from the recorder's typed
//! status (`recorder::status`), which composes it and lists what is wrong.
//! Never: composes or second-guesses the status: a `serve` with no recorder on its data dir
//! renders the status that says so (503).

use crate::recorder::health::CameraState;
use crate::recorder::status::{ProcessStatus, StationState};

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
            f64::from(u8::from(h.state == StationState::Recording)),
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
            f64::from(u8::from(h.state == StationState::NotRecording)),
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
    use crate::config::Config;
    use crate::recorder::status::alarms;

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
}
