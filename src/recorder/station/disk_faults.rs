//! A station in-process on a disk that fails as told: real H.264 replayed on the simulated
//! clock, real fragmented MP4 files and the real writer and manifest in a temporary data
//! dir, with the faults of `diskfile::FaultPlan` (no space left at a chosen byte, an I/O
//! error, a failed fsync) injected into the clip files or the manifest mid-order. Each test
//! checks what the log says against what the disk holds.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::clock::SimClock;
use crate::config::CameraConfig;
use crate::diskfile::FaultPlan;
use crate::log::Record;
use crate::media::replay::Replay;
use crate::media::PacketSource;
use crate::recorder::assembly::Fmp4Files;
use crate::recorder::writer::{Writer, WriterThread};

/// Called before packet `i` is delivered, once the clock is at its time.
type OnPacket = Arc<dyn Fn(usize) + Send + Sync>;

/// One network camera replaying `src` at 30 frames/s on the simulated clock once `go` says
/// so; afterwards it is unplugged, and its next opening waits until the test lets go.
struct Camera {
    src: PathBuf,
    clock: SimClock,
    go: Mutex<Option<Receiver<()>>>,
    park: Mutex<Option<Receiver<()>>>,
    opened: Mutex<usize>,
    on_packet: OnPacket,
}

impl Opener for Camera {
    fn open(&self, _cam: &CameraConfig) -> Result<Box<dyn PacketSource>, Error> {
        let n = {
            let mut n = self.opened.lock().unwrap();
            *n += 1;
            *n
        };
        if n > 1 {
            if let Some(park) = self.park.lock().unwrap().take() {
                let _ = park.recv();
            }
            return Err(Error::msg(
                crate::error::ErrorKind::Unavailable,
                "no route to the camera",
            ));
        }
        if let Some(go) = self.go.lock().unwrap().take() {
            let _ = go.recv();
        }
        let (clock, on_packet) = (self.clock.clone(), self.on_packet.clone());
        Ok(Box::new(
            Replay::from_file(&self.src)?
                .with_hook(move |i| {
                    if i > 0 {
                        clock.advance(Duration::from_micros(33_333));
                    }
                    on_packet(i);
                })
                .failing_at_end("unplugged"),
        ))
    }
}

/// A station recording one order on a disk that fails as `on_packet` says.
struct Rig {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    station: Option<Station>,
    writer: Option<WriterThread>,
    go: Option<Sender<()>>,
    park: Option<Sender<()>>,
}

impl Rig {
    /// A data dir whose clip files and manifest both ask `plan`; a station whose camera
    /// replays `seconds` of video.
    fn new(seconds: u32, plan: &Arc<FaultPlan>, on_packet: OnPacket) -> Rig {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        crate::datadir::create(&dir).unwrap();
        let clock = SimClock::at_test_epoch();
        let config = Config::default();
        let mut writer = Writer::open(&dir, &config, Arc::new(clock.clone())).unwrap();
        writer.set_faults(Some(plan.clone()));
        let writer = WriterThread::spawn(writer, false).unwrap();
        let handle = writer.handle();
        let (go, go_rx) = std::sync::mpsc::channel();
        let (park, park_rx) = std::sync::mpsc::channel();
        let camera = Camera {
            src: Replay::test_file(tmp.path(), seconds),
            clock: clock.clone(),
            go: Mutex::new(Some(go_rx)),
            park: Mutex::new(Some(park_rx)),
            opened: Mutex::new(0),
            on_packet,
        };
        let station = Station::start(
            &config,
            &super::tests::one_camera(),
            StationDeps {
                records: Arc::new(handle.clone()),
                opener: Arc::new(camera),
                files: Arc::new(Fmp4Files {
                    faults: Some(plan.clone()),
                }),
                clock: Arc::new(clock),
                data_dir: dir.clone(),
                previews: Arc::default(),
                disk: handle.disk(),
            },
        )
        .unwrap();
        Rig {
            _tmp: tmp,
            dir,
            station: Some(station),
            writer: Some(writer),
            go: Some(go),
            park: Some(park),
        }
    }

    fn station(&self) -> &Station {
        self.station.as_ref().unwrap()
    }

    /// Scans `code` and lets the camera deliver.
    fn record(&mut self, code: &str) {
        let scan = crate::codes::Scan {
            code: code.into(),
            kind: crate::codes::CodeKind::Order,
            rule: String::new(),
        };
        self.station().scan("test", &scan).unwrap();
        if let Some(go) = self.go.take() {
            go.send(()).unwrap();
        }
    }

    /// The manifest's records now.
    fn records(&self) -> Vec<Record> {
        std::fs::read_to_string(self.dir.join(crate::datadir::MANIFEST))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits (real time, bounded) until the camera was unplugged at the end of its video
    /// and its last clip is sealed, then stops everything: every record is in the manifest.
    fn finish(mut self) -> (Vec<Record>, PathBuf, tempfile::TempDir) {
        let t = std::time::Instant::now();
        while !self.records().iter().any(|r| {
            matches!(
                &r.body,
                Body::ClipSealed {
                    reason: SealReason::CameraLost,
                    ..
                }
            )
        }) {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "no clip sealed camera_lost: {:#?}",
                self.records()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(self.park.take());
        self.station.take().unwrap().shutdown().unwrap();
        self.writer.take().unwrap().stop().unwrap();
        let records = self.records();
        let Rig { _tmp, dir, .. } = self;
        (records, dir, _tmp)
    }
}

/// A clip's seal: its part, reason, frames, file, size and SHA-256.
#[derive(Debug)]
struct Seal {
    part: u32,
    reason: SealReason,
    frames: u64,
    file: String,
    size: u64,
    sha256: String,
}

/// The order's clips, in the order they were sealed, each checked against its file: the
/// size and SHA-256 the log gives are those of the bytes on disk, and the fragment list
/// beside it is the file's.
fn seals(records: &[Record], dir: &Path) -> Vec<Seal> {
    let mut parts = std::collections::HashMap::new();
    let mut out = Vec::new();
    for r in records {
        match &r.body {
            Body::ClipOpened { part, .. } => {
                parts.insert(r.seq, *part);
            }
            Body::ClipSealed {
                clip,
                reason,
                frames,
                file,
                size,
                sha256,
                ..
            } => {
                let (digest, len, fragments) =
                    crate::media::fmp4::hash_fragments(&dir.join(file)).unwrap();
                assert_eq!(
                    (&digest, len),
                    (sha256, *size),
                    "{file}: the log and the disk"
                );
                let listed =
                    crate::media::fmp4::read_fragments(&dir.join(file)).expect("a fragment list");
                assert_eq!(listed, fragments, "{file}: its fragment list");
                out.push(Seal {
                    part: parts[clip],
                    reason: *reason,
                    frames: *frames,
                    file: file.clone(),
                    size: *size,
                    sha256: sha256.clone(),
                });
            }
            _ => {}
        }
    }
    out
}

/// Every `seq` once, in order, and every line linked to the one before it.
fn assert_chain(dir: &Path) {
    let text = std::fs::read(dir.join(crate::datadir::MANIFEST)).unwrap();
    let mut prev = crate::log::GENESIS.to_string();
    for (i, line) in text.split_inclusive(|b| *b == b'\n').enumerate() {
        let rec: Record = serde_json::from_slice(line).unwrap();
        assert_eq!((rec.seq, &rec.prev), (i as u64 + 1, &prev));
        prev = crate::digest::sha256_hex(line);
    }
}

/// The gaps of the order: the clip each one names and why.
fn gaps(records: &[Record]) -> Vec<(Option<u64>, String)> {
    records
        .iter()
        .filter_map(|r| match &r.body {
            Body::CameraGap { clip, reason, .. } => Some((*clip, reason.clone())),
            _ => None,
        })
        .collect()
}

/// The clip file fills the disk mid-fragment (the write that crosses the last free byte is
/// short, the next fails): the clip is sealed `error` with its whole fragments only, the
/// log's size and hash are those of the file, and once there is room again the order is
/// recorded on as its part 2 after a gap that says why.
#[test]
fn a_disk_full_at_a_chosen_byte_keeps_whole_fragments_and_the_order_goes_on() {
    let plan = FaultPlan::new();
    let p = plan.clone();
    let rig = Rig::new(
        8,
        &plan,
        Arc::new(move |i| match i {
            // Mid second fragment: the disk takes 300 more bytes of clips.
            45 => {
                p.only("/clips/").full_after(300);
            }
            // Retention made room.
            75 => p.heal(),
            _ => {}
        }),
    );
    let mut rig = rig;
    rig.record("ORDER-FULL");
    let (records, dir, _tmp) = rig.finish();
    assert_chain(&dir);
    let seals = seals(&records, &dir);
    assert_eq!(seals.len(), 2, "{seals:#?}");
    let (one, two) = (&seals[0], &seals[1]);
    assert_eq!((one.part, one.reason), (1, SealReason::Error));
    // What was whole before the disk filled (at packet 45, 300 bytes on): no more, and
    // nothing torn (`seals` checked the file against its fragment list).
    assert!(one.frames > 0 && one.frames < 45, "{one:?}");
    assert_eq!((two.part, two.reason), (2, SealReason::CameraLost));
    assert!(two.frames >= 90, "{two:?}");
    // The gap before part 2 names the clip that resumed the order and why; the second is
    // the camera unplugged at the end of its video while the order was still open.
    let gaps = gaps(&records);
    assert_eq!(gaps.len(), 2, "{gaps:?}");
    assert!(gaps[0].1.contains("no space left"), "{}", gaps[0].1);
    assert!(gaps[0].0.is_some() && gaps[1].0.is_none(), "{gaps:?}");
    assert!(plan.counts().2 >= 1);
    assert!(one.size > 0 && one.sha256 != two.sha256 && one.file != two.file);
}

/// An fsync of the clip file fails: the file is poisoned as by a failed write (nothing more
/// goes into it), sealed `error` with what is whole on disk, and the order goes on as part 2.
#[test]
fn a_failed_fsync_poisons_the_clip_like_a_failed_write() {
    let plan = FaultPlan::new();
    let p = plan.clone();
    let mut rig = Rig::new(
        8,
        &plan,
        Arc::new(move |i| {
            if i == 45 {
                p.only("/clips/").failing_syncs(1);
            }
        }),
    );
    rig.record("ORDER-FSYNC");
    let (records, dir, _tmp) = rig.finish();
    assert_chain(&dir);
    let seals = seals(&records, &dir);
    assert_eq!(seals.len(), 2, "{seals:#?}");
    assert_eq!((seals[0].part, seals[0].reason), (1, SealReason::Error));
    assert!(
        seals[0].frames >= 30 && seals[0].frames <= 60,
        "{:?}",
        seals[0]
    );
    assert_eq!(seals[1].part, 2);
    let gaps = gaps(&records);
    assert_eq!(gaps.len(), 2, "{gaps:?}");
    assert!(
        gaps[0]
            .1
            .contains("fsync of a complete fragment: fsync failed"),
        "{}",
        gaps[0].1
    );
}

/// The manifest's disk fails (every write an I/O error) while an order records and the
/// packer scans the next order: the clip goes on, the scan is kept, the seal waits; when the
/// disk is back the writer reopens the manifest and writes them in order, no `seq` reused,
/// and both orders have their clips.
#[test]
fn a_manifest_that_fails_mid_order_loses_no_scan_and_no_clip() {
    let plan = FaultPlan::new();
    let (p, at) = (plan.clone(), Arc::new(Mutex::new(None::<Sender<usize>>)));
    let (tx, rx) = std::sync::mpsc::channel::<usize>();
    *at.lock().unwrap() = Some(tx);
    let (cont_tx, cont_rx) = std::sync::mpsc::channel::<()>();
    let cont = Arc::new(Mutex::new(cont_rx));
    let a = at.clone();
    let mut rig = Rig::new(
        8,
        &plan,
        Arc::new(move |i| match i {
            45 => {
                p.only("manifest.jsonl").failing_writes();
            }
            // The packer scans the next order while the manifest cannot be written.
            90 => {
                if let Some(tx) = a.lock().unwrap().take() {
                    let _ = tx.send(i);
                    let _ = cont.lock().unwrap().recv();
                }
            }
            150 => p.heal(),
            _ => {}
        }),
    );
    rig.record("ORDER-A");
    assert_eq!(rx.recv_timeout(Duration::from_secs(30)).unwrap(), 90);
    let scan = crate::codes::Scan {
        code: "ORDER-B".into(),
        kind: crate::codes::CodeKind::Order,
        rule: String::new(),
    };
    let outcome = rig.station().scan("test", &scan).unwrap();
    assert!(
        outcome.not_recording.is_some(),
        "told NOT RECORDING at once"
    );
    cont_tx.send(()).unwrap();
    let (records, dir, _tmp) = rig.finish();
    assert_chain(&dir);
    let scans: Vec<&str> = records
        .iter()
        .filter_map(|r| match &r.body {
            Body::Scan { code, .. } => Some(code.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(scans, ["ORDER-A", "ORDER-B"]);
    let orders: Vec<(String, SealReason)> = records
        .iter()
        .filter_map(|r| match &r.body {
            Body::ClipSealed { order, reason, .. } => Some((order.clone(), *reason)),
            _ => None,
        })
        .collect();
    assert!(
        orders.contains(&("ORDER-A".into(), SealReason::NextOrder)),
        "{orders:?}"
    );
    assert!(
        orders.iter().any(|(o, _)| o == "ORDER-B"),
        "ORDER-B has a clip: {orders:?}"
    );
    let seals = seals(&records, &dir);
    assert!(seals.iter().all(|s| s.frames > 0), "{seals:#?}");
    assert!(plan.counts().2 >= 1);
}
