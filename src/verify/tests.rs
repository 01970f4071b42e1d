//! Verify against logs written by the ledger itself, so that every line chains and is signed:
//! what is left to find is what a careful forger would do (records that disagree, a
//! signature removed, a key swapped, a late checkpoint).

use std::time::Duration;

use super::*;
use crate::clock::{Clock, SimClock};
use crate::log::note::StationKey;
use crate::log::Ledger;
use crate::log::SealReason;

const TEST_KEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

/// A data dir being written by a ledger under a station key, on a simulated clock.
struct Log {
    dir: tempfile::TempDir,
    clock: SimClock,
    key: StationKey,
    ledger: Option<Ledger>,
}

fn start(key: &StationKey) -> Body {
    Body::StationStart {
        station: "s".into(),
        software: "t".into(),
        config_sha256: crate::digest::sha256_hex(b""),
        cameras: vec!["c".into()],
        key: key.verifier(),
        sources: Vec::new(),
    }
}

/// The seal a recorder would write for an opening at `opened` that lasted `ms`.
fn seal(opened: &Record, ms: i64) -> Body {
    let Body::ClipOpened {
        order,
        station,
        camera,
        file,
        started_at,
        ..
    } = &opened.body
    else {
        panic!("not an opening: {opened:?}");
    };
    let start = chrono::DateTime::parse_from_rfc3339(started_at).unwrap();
    Body::ClipSealed {
        clip: opened.seq,
        order: order.clone(),
        station: station.clone(),
        camera: camera.clone(),
        file: file.clone(),
        reason: SealReason::NextOrder,
        started_at: started_at.clone(),
        ended_at: crate::clock::format_time(start + chrono::Duration::milliseconds(ms)),
        duration_ms: ms as u64 + 33,
        frames: (ms as u64 * 30 / 1000) + 1,
        first_frame: 0,
        size: 0,
        sha256: crate::digest::sha256_hex(b""),
        fragments: 0,
        fragments_sha256: crate::digest::sha256_hex(b""),
        dropped_frames: None,
        presets: Vec::new(),
    }
}

impl Log {
    /// Started two minutes ago: verify compares the unsigned tail of a running recorder
    /// with now.
    fn new() -> Log {
        Log::started(2)
    }

    fn started(minutes_ago: i64) -> Log {
        let dir = tempfile::tempdir().unwrap();
        let clock = SimClock::new(
            (chrono::Local::now() - chrono::Duration::minutes(minutes_ago)).fixed_offset(),
        );
        let key = StationKey::generate("s").unwrap();
        let ledger = Ledger::open(dir.path(), &clock).unwrap();
        let mut log = Log {
            dir,
            clock,
            key,
            ledger: Some(ledger),
        };
        let b = start(&log.key);
        log.add(b);
        log
    }

    fn ledger(&mut self) -> &mut Ledger {
        self.ledger.as_mut().expect("the ledger was closed")
    }

    fn add(&mut self, body: Body) -> Record {
        let clock = self.clock.clone();
        self.ledger().append(body, &clock).unwrap()
    }

    /// Opens a clip of `order` (its file, empty, is written).
    fn open(&mut self, order: &str) -> Record {
        let file = format!("clips/s/{order}.mp4");
        let path = self.dir.path().join(&file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"").unwrap();
        let at = crate::clock::format_time(self.clock.now());
        self.add(Body::ClipOpened {
            order: order.into(),
            station: "s".into(),
            camera: "c".into(),
            operator: None,
            group: format!("g-{order}"),
            part: 1,
            box_no: 1,
            file,
            started_at: at.clone(),
            scanned_at: at,
            first_frame: 0,
            clock_synced: Some(true),
            test_pattern: Some(false),
        })
    }

    /// A clip as the recorder writes it: opened, packed for `ms`, sealed.
    fn clip(&mut self, order: &str, ms: i64) -> Record {
        let opened = self.open(order);
        self.clock.advance(Duration::from_millis(ms as u64));
        self.add(seal(&opened, ms))
    }

    fn sign(&mut self) {
        let clock = self.clock.clone();
        let ledger = self.ledger.as_mut().expect("the ledger was closed");
        ledger.checkpoint(&self.key, &clock).unwrap();
    }

    /// The recorder stops (its lock is released).
    fn close(&mut self) {
        self.ledger = None;
    }

    fn verify(&self) -> Report {
        verify(
            self.dir.path(),
            &VerifyOptions {
                checkpoint_interval: Some(Duration::from_secs(600)),
                full: true,
                ..VerifyOptions::default()
            },
        )
        .unwrap()
    }
}

/// The kinds of the problems found, in line order.
fn kinds(r: &Report) -> Vec<(u64, ProblemKind)> {
    let mut k: Vec<_> = r.problems.iter().map(|p| (p.line, p.kind)).collect();
    k.sort_by_key(|p| p.0);
    k
}

#[test]
fn a_log_as_the_recorder_writes_it_verifies() {
    let mut log = Log::new();
    log.clip("A-1", 20_000);
    log.clip("A-2", 35_000);
    log.sign();
    log.close();
    let r = log.verify();
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!((r.clips_sealed, r.clips_ok, r.checkpoints), (2, 2, 1));
}

#[test]
fn a_changed_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let clock = SimClock::at_test_epoch();
    {
        let mut l = Ledger::open(dir.path(), &clock).unwrap();
        for _ in 0..3 {
            l.append(
                Body::StationStart {
                    station: "s".into(),
                    software: "t".into(),
                    config_sha256: crate::digest::sha256_hex(b""),
                    cameras: vec!["c".into()],
                    key: TEST_KEY.into(),
                    sources: Vec::new(),
                },
                &clock,
            )
            .unwrap();
        }
    }
    let report = verify(dir.path(), &VerifyOptions::default()).unwrap();
    // Nothing is signed: that is reported, and only that.
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].kind, ProblemKind::NoCheckpoint);
    let path = dir.path().join(MANIFEST);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("\"station\":\"s\"", "\"station\":\"x\"", 1),
    )
    .unwrap();
    let report = verify(dir.path(), &VerifyOptions::default()).unwrap();
    let first = report.first_problem().unwrap();
    assert_eq!((first.line, first.kind), (1, ProblemKind::LineModified));
}

#[test]
fn a_seal_without_its_opening_is_inconsistent() {
    let mut log = Log::new();
    let opened = log.open("B-1");
    let mut forged = seal(&opened, 10_000);
    if let Body::ClipSealed { clip, .. } = &mut forged {
        *clip = 999;
    }
    let n = log.add(forged).seq;
    log.add(seal(&opened, 10_000));
    log.sign();
    log.close();
    let r = log.verify();
    assert_eq!(kinds(&r), vec![(n, ProblemKind::Inconsistent)], "{r:?}");
    assert!(r.problems[0].detail.contains("no earlier line opened"));
}

#[test]
fn a_seal_that_disagrees_with_its_opening_or_itself_is_inconsistent() {
    for (what, edit) in [
        (
            "another order",
            Box::new(|b: &mut Body| {
                if let Body::ClipSealed { order, .. } = b {
                    *order = "OTHER".into();
                }
            }) as Box<dyn Fn(&mut Body)>,
        ),
        (
            "ends before it starts",
            Box::new(|b: &mut Body| {
                if let Body::ClipSealed {
                    started_at,
                    ended_at,
                    ..
                } = b
                {
                    std::mem::swap(started_at, ended_at);
                }
            }),
        ),
        (
            "a duration its times deny",
            Box::new(|b: &mut Body| {
                if let Body::ClipSealed { duration_ms, .. } = b {
                    *duration_ms *= 3;
                }
            }),
        ),
        (
            "impossible frames a second",
            Box::new(|b: &mut Body| {
                if let Body::ClipSealed { frames, .. } = b {
                    *frames *= 100;
                }
            }),
        ),
    ] {
        let mut log = Log::new();
        let opened = log.open("C-1");
        log.clock.advance(Duration::from_secs(12));
        let mut body = seal(&opened, 12_000);
        edit(&mut body);
        let n = log.add(body).seq;
        log.sign();
        log.close();
        let r = log.verify();
        assert!(
            kinds(&r).contains(&(n, ProblemKind::Inconsistent)),
            "{what}: {r:?}"
        );
    }
}

#[test]
fn a_clip_sealed_twice_is_inconsistent() {
    let mut log = Log::new();
    let opened = log.open("D-1");
    log.clock.advance(Duration::from_secs(5));
    log.add(seal(&opened, 5_000));
    let n = log.add(seal(&opened, 5_000)).seq;
    log.sign();
    log.close();
    let r = log.verify();
    assert!(kinds(&r).contains(&(n, ProblemKind::Inconsistent)), "{r:?}");
}

#[test]
fn lines_after_the_last_signature_are_named_once_no_recorder_runs() {
    let mut log = Log::new();
    log.clip("E-1", 8_000);
    log.sign();
    let n = log.clip("E-2", 8_000).seq - 1;
    // While the recorder runs, its next checkpoint is still to come.
    let r = log.verify();
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!(r.uncovered_lines, 2);
    log.close();
    let r = log.verify();
    assert_eq!(kinds(&r), vec![(n, ProblemKind::UnsignedTail)], "{r:?}");
}

#[test]
fn a_checkpoint_later_than_the_interval_is_stale_unless_a_crash_explains_it() {
    let mut log = Log::new();
    log.sign();
    let n = log.clip("F-1", 8_000).seq - 1;
    log.clock.advance(Duration::from_secs(25 * 60));
    log.clip("F-2", 8_000);
    log.sign();
    log.close();
    let r = log.verify();
    assert_eq!(kinds(&r), vec![(n, ProblemKind::StaleCheckpoint)], "{r:?}");

    // The same wait, with the crash that explains it recorded before the signature.
    let mut log = Log::new();
    log.sign();
    let first = log.clip("G-1", 8_000).seq - 1;
    log.clock.advance(Duration::from_secs(25 * 60));
    let to = log.ledger().next_seq() - 1;
    log.add(Body::CrashRecovered {
        last_checkpoint: first - 1,
        from: first,
        to,
    });
    log.sign();
    log.close();
    let r = log.verify();
    assert!(r.ok(), "{:?}", r.problems);
}

#[test]
fn a_key_swapped_without_a_rotation_is_named() {
    let mut log = Log::new();
    log.clip("H-1", 8_000);
    log.sign();
    // Someone with another key goes on writing the log.
    log.key = StationKey::generate("s").unwrap();
    let n = log.add(start(&log.key)).seq;
    log.clip("H-2", 8_000);
    log.sign();
    log.close();
    let r = log.verify();
    assert_eq!(kinds(&r), vec![(n, ProblemKind::KeyChanged)], "{r:?}");
}

#[test]
fn a_rotation_signed_by_the_key_in_force_hands_over_and_a_self_signed_one_does_not() {
    for signed_by_old in [true, false] {
        let mut log = Log::new();
        log.clip("K-1", 8_000);
        log.sign();
        let new = StationKey::generate("s").unwrap();
        let (old_v, new_v) = (log.key.verifier(), new.verifier());
        let body = format!("packwitness key rotation\nold {old_v}\nnew {new_v}\n");
        let note = if signed_by_old {
            log.key.sign(&body)
        } else {
            new.sign(&body)
        };
        let n = log
            .add(Body::KeyRotation {
                old: old_v,
                new: new_v,
                note,
            })
            .seq;
        log.key = new;
        log.sign();
        let b = start(&log.key);
        log.add(b);
        log.clip("K-2", 8_000);
        log.sign();
        log.close();
        let r = log.verify();
        if signed_by_old {
            assert!(r.ok(), "{:?}", r.problems);
            assert_eq!(r.checkpoints, 3);
        } else {
            assert_eq!(
                kinds(&r).first(),
                Some(&(n, ProblemKind::BadSignature)),
                "{r:?}"
            );
        }
    }
}

#[test]
fn a_pinned_key_refuses_the_station_own_key() {
    let mut log = Log::new();
    log.clip("P-1", 8_000);
    log.sign();
    log.close();
    let other = StationKey::generate("s").unwrap();
    let r = verify(
        log.dir.path(),
        &VerifyOptions {
            key: Some(other.verifier()),
            ..VerifyOptions::default()
        },
    )
    .unwrap();
    assert!(
        r.problems
            .iter()
            .any(|p| p.kind == ProblemKind::BadSignature),
        "{r:?}"
    );
    let r = verify(
        log.dir.path(),
        &VerifyOptions {
            key: Some(log.key.verifier()),
            ..VerifyOptions::default()
        },
    )
    .unwrap();
    assert!(r.ok(), "{:?}", r.problems);
}

#[test]
fn a_running_recorder_that_stopped_signing_is_stale() {
    // Lines written half an hour ago, still unsigned, with the recorder's lock held.
    let mut log = Log::started(30);
    log.sign();
    let n = log.clip("S-1", 8_000).seq - 1;
    let r = log.verify();
    assert_eq!(kinds(&r), vec![(n, ProblemKind::StaleCheckpoint)], "{r:?}");
}
