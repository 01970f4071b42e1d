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

/// A camera whose sessions are scripted: the first opening waits for the test's go, then
/// delivers `first` frames and is lost ("cable pulled"); one opening fails; the next
/// delivers `second` frames and is lost; every later opening fails. Each frame moves the
/// simulated clock by a frame's time, as a live camera would.
struct Scripted {
    clock: SimClock,
    go: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    opened: std::sync::atomic::AtomicUsize,
    first: usize,
    second: usize,
}

impl Opener for Scripted {
    fn open(&self, _cam: &CameraConfig) -> Result<Box<dyn PacketSource>, Error> {
        let n = self
            .opened
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(go) = self.go.lock().unwrap().take() {
            let _ = go.recv();
        }
        let frames = match n {
            0 => self.first,
            2 => self.second,
            _ => {
                return Err(Error::msg(
                    crate::error::ErrorKind::Unavailable,
                    "no route to the camera",
                ))
            }
        };
        let clock = self.clock.clone();
        Ok(Box::new(
            Replay::synthetic(frames, 30, 30)
                .with_hook(move |_| clock.advance(std::time::Duration::from_micros(33_333)))
                .failing_at_end("cable pulled"),
        ))
    }
}

/// Waits (real time, bounded) until the records satisfy `done`.
fn wait_for(records: &Collect, what: &str, done: impl Fn(&[Body]) -> bool) {
    let t = std::time::Instant::now();
    while !done(&records.0.lock().unwrap()) {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "waited for {what}: {:?}",
            kinds(records)
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// A camera lost during an order and back a simulated second later (its reconnect waits run
/// on the simulated clock): part 1 sealed `camera_lost` with every frame it got, a
/// `camera_gap` naming the clip that resumed the order and why, part 2 with every frame of
/// the new session; the order's end while the camera is down again closes a second gap.
#[test]
fn a_camera_lost_mid_order_resumes_it_as_the_next_part_after_a_gap() {
    let records = Arc::new(Collect::default());
    let files = Arc::new(MemFiles::default());
    let clock = SimClock::at_test_epoch();
    let (go, wait) = std::sync::mpsc::channel();
    let config = Config::default();
    let st = StationConfig {
        id: "st".into(),
        post_roll_s: 0.0,
        pre_roll_s: 0.0,
        cameras: vec![CameraConfig {
            id: "cam".into(),
            source: "rtsp://127.0.0.1:9/replay".into(),
            ..CameraConfig::default()
        }],
        ..StationConfig::default()
    };
    let s = Station::start(
        &config,
        &st,
        StationDeps {
            records: records.clone(),
            opener: Arc::new(Scripted {
                clock: clock.clone(),
                go: std::sync::Mutex::new(Some(wait)),
                opened: Default::default(),
                first: 90,
                second: 60,
            }),
            files: files.clone(),
            clock: Arc::new(clock.clone()),
            data_dir: std::path::PathBuf::from("/nonexistent"),
            previews: Arc::default(),
            disk: Arc::default(),
        },
    )
    .unwrap();
    let scan = crate::codes::Scan {
        code: "ORDER-1".into(),
        kind: crate::codes::CodeKind::Order,
        rule: String::new(),
    };
    s.scan("test", &scan).unwrap();
    go.send(()).unwrap();
    wait_for(&records, "part 2 sealed", |r| {
        r.iter()
            .filter(|b| {
                matches!(
                    b,
                    Body::ClipSealed {
                        reason: SealReason::CameraLost,
                        ..
                    }
                )
            })
            .count()
            == 2
    });
    s.shutdown().unwrap();
    let recs = records.0.lock().unwrap().clone();
    let opened: Vec<(u32, u64)> = recs
        .iter()
        .enumerate()
        .filter_map(|(i, b)| match b {
            Body::ClipOpened { part, .. } => Some((*part, i as u64 + 1)),
            _ => None,
        })
        .collect();
    assert_eq!(
        opened.iter().map(|o| o.0).collect::<Vec<_>>(),
        [1, 2],
        "{recs:?}"
    );
    let frames: Vec<u64> = recs
        .iter()
        .filter_map(|b| match b {
            Body::ClipSealed { frames, .. } => Some(*frames),
            _ => None,
        })
        .collect();
    assert_eq!(frames, [90, 60]);
    let gaps: Vec<(Option<u64>, String)> = recs
        .iter()
        .filter_map(|b| match b {
            Body::CameraGap { clip, reason, .. } => Some((*clip, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(gaps.len(), 2, "{gaps:?}");
    assert_eq!(gaps[0].0, Some(opened[1].1));
    assert!(gaps[0].1.contains("cable pulled"), "{}", gaps[0].1);
    assert_eq!(gaps[1].0, None, "the order ended while the camera was down");
    assert_eq!(files.0.lock().unwrap().len(), 2);
}
