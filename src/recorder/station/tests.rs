//! A station in-process: its state machine, camera loops and clip assembly on replayed
//! sources (no FFmpeg, no camera), records in memory.

use std::sync::Arc;

use super::*;
use crate::clock::SimClock;
use crate::config::CameraConfig;
use crate::log::state::OpenOrderState;
use crate::media::replay::Replay;
use crate::media::PacketSource;
use crate::recorder::assembly::tests::{Collect, MemFiles};

/// A camera that is unplugged: every opening fails at once (a source with no packet that
/// fails at its end), so the camera loop is `lost` and takes commands between retries.
struct Unplugged;

impl Opener for Unplugged {
    fn open(&self, _cam: &CameraConfig) -> Result<Box<dyn PacketSource>, Error> {
        Ok(Box::new(
            Replay::synthetic(0, 30, 30).failing_at_end("unplugged"),
        ))
    }
}

fn station(records: Arc<Collect>) -> Station {
    let config = Config::default();
    let st = StationConfig {
        id: "st".into(),
        cameras: vec![CameraConfig {
            id: "cam".into(),
            // A network camera: down at start is retried, never a config error.
            source: "rtsp://127.0.0.1:9/replay".into(),
            ..CameraConfig::default()
        }],
        ..StationConfig::default()
    };
    Station::start(
        &config,
        &st,
        StationDeps {
            records,
            opener: Arc::new(Unplugged),
            files: Arc::new(MemFiles::default()),
            clock: Arc::new(SimClock::at_test_epoch()),
            data_dir: std::path::PathBuf::from("/nonexistent"),
            previews: Arc::default(),
            disk: Arc::default(),
        },
    )
    .unwrap()
}

fn kinds(records: &Collect) -> Vec<&'static str> {
    records
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|b| match b {
            Body::OrderResumed { .. } => "order_resumed",
            Body::NoVideo { .. } => "no_video",
            Body::CameraGap { .. } => "camera_gap",
            Body::Scan { .. } => "scan",
            _ => "other",
        })
        .collect()
}

fn resumed(part: u32) -> OpenOrderState {
    OpenOrderState {
        station: "st".into(),
        order: "R-1".into(),
        box_no: 1,
        group: "g-1".into(),
        operator: None,
        scanned_at: "2026-11-25T20:31:02.054+08:00".into(),
        part,
    }
}

/// Issue 20: a restart that stops before any camera delivered (standard input at its end)
/// wrote `no_video` for the order it had just resumed, although its clips from before the
/// crash stand. Now the camera's gap says what was not recorded, and no `no_video`.
#[test]
fn a_resumed_order_with_clips_stopped_at_once_gets_no_no_video() {
    let records = Arc::new(Collect::default());
    let s = station(records.clone());
    s.resume(&resumed(1)).unwrap();
    s.shutdown().unwrap();
    let k = kinds(&records);
    assert!(k.contains(&"order_resumed"), "{k:?}");
    assert!(!k.contains(&"no_video"), "{k:?}");
}

/// An order resumed that had no clip yet (killed before its first frame) and stopped before
/// any camera delivered has no video at all: it gets its `no_video` record.
#[test]
fn a_resumed_order_without_clips_stopped_at_once_gets_no_video() {
    let records = Arc::new(Collect::default());
    let s = station(records.clone());
    s.resume(&resumed(0)).unwrap();
    s.shutdown().unwrap();
    assert!(kinds(&records).contains(&"no_video"));
}
