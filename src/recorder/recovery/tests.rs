//! A crash at each step of a clip's life (docs/design.md, "The life of a clip"), made by
//! dropping a writer and a real fragmented MP4 clip at that step, then the recovery of the
//! next open: the log always ends with the clip sealed as what its file holds.

use std::path::PathBuf;
use std::sync::Arc;

use crate::clock::SimClock;
use crate::config::Config;
use crate::log::{Body, SealReason};
use crate::media::fmp4::ClipWriter;
use crate::media::replay::Replay;
use crate::media::{PacketSource, StampText, Unit};
use crate::recorder::writer::{MakeRecord, Writer};

/// Where a crash comes in the life of a clip.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// After `clip_opened` is durable, before the file exists.
    Opened,
    /// With `n` packets written (complete fragments fsynced, the last one maybe not).
    Writing(usize),
    /// After the file is complete and renamed into place, before `clip_sealed`.
    Renamed,
}

fn crash_at(step: Step) -> (Body, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    crate::datadir::create(&dir).unwrap();
    let clock = SimClock::at_test_epoch();
    let config = Config::default();
    let src = Replay::test_file(tmp.path(), 2);
    let mut w = Writer::open(&dir, &config, Arc::new(clock.clone())).unwrap();
    let file_for = |seq: u64| format!("clips/st/2026-11-25/A_cam_{seq:06}.mp4");
    let make: MakeRecord = Box::new(move |seq| Body::ClipOpened {
        order: "A".into(),
        station: "st".into(),
        camera: "cam".into(),
        operator: None,
        group: "g".into(),
        part: 1,
        box_no: 1,
        file: file_for(seq),
        started_at: "2026-11-25T20:31:02.054+08:00".into(),
        scanned_at: "2026-11-25T20:31:02.054+08:00".into(),
        first_frame: 0,
        clock_synced: Some(true),
        test_pattern: Some(false),
    });
    let opened = w.append_batch(vec![make]).unwrap().remove(0);
    let file = dir.join(file_for(opened.seq));
    let mut replay = Replay::from_file(&src).unwrap();
    let stamp = StampText {
        station: "st".into(),
        camera: "cam".into(),
        order: None,
        operator: None,
        tracking: Vec::new(),
        template: crate::config::DEFAULT_STAMP.into(),
    };
    let params = replay.start(0.0, &stamp).unwrap();
    let tb = replay.info().time_base;
    let mut packets = Vec::new();
    while let Ok(Some(Unit::Packet(p))) = replay.next_unit() {
        packets.push(p);
    }
    let first = (packets[0].pts, packets[0].dts);
    let n = match step {
        Step::Opened => 0,
        Step::Writing(n) => n,
        Step::Renamed => packets.len(),
    };
    if n > 0 {
        let mut cw = ClipWriter::create(&file, &params, tb, first, false).unwrap();
        for p in packets.into_iter().take(n) {
            cw.write(p).unwrap();
        }
        match step {
            Step::Renamed => {
                cw.finish().unwrap();
            }
            _ => drop(cw), // the process dies: no trailer, no fragment list, no rename
        }
    }
    drop(w); // no clip_sealed, no checkpoint: the next open finds a crash
    let mut w = Writer::open(&dir, &config, Arc::new(clock)).unwrap();
    assert!(w.log_state().open.is_empty(), "every open clip sealed");
    w.checkpoint().unwrap();
    let text = std::fs::read_to_string(dir.join(crate::datadir::MANIFEST)).unwrap();
    let sealed = text
        .lines()
        .filter_map(|l| serde_json::from_str::<crate::log::Record>(l).ok())
        .find_map(|r| match r.body {
            b @ Body::ClipSealed { .. } => Some(b),
            _ => None,
        })
        .expect("the clip's seal");
    // Kept for the checks below.
    let keep = tmp.keep();
    (sealed, keep.join("data").join(file_for(opened.seq)))
}

fn check(step: Step, frames: impl Fn(u64) -> bool) {
    let (sealed, path) = crash_at(step);
    let Body::ClipSealed {
        reason,
        frames: f,
        size,
        sha256,
        ..
    } = sealed
    else {
        unreachable!()
    };
    assert_eq!(reason, SealReason::Interrupted, "{step:?}");
    assert!(frames(f), "{step:?}: {f} frames sealed");
    if size > 0 {
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, size, "{step:?}");
        assert_eq!(crate::digest::sha256_hex(&bytes), sha256, "{step:?}");
    } else {
        assert!(!path.exists(), "{step:?}: a clip sealed empty has no file");
    }
    let _ = std::fs::remove_dir_all(path.ancestors().nth(5).unwrap());
}

#[test]
fn a_crash_after_the_opening_record_seals_an_empty_clip() {
    check(Step::Opened, |f| f == 0);
}

#[test]
fn a_crash_mid_clip_seals_its_complete_fragments() {
    // 45 packets: the fragments of frames 0-29 are complete; the rest may not be.
    check(Step::Writing(45), |f| (30..=45).contains(&f));
}

#[test]
fn a_crash_after_the_rename_seals_the_whole_clip() {
    check(Step::Renamed, |f| f == 60);
}
