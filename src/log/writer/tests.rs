//! The ledger's appends, failures and reopening, on real files.
use super::*;
use crate::clock::SimClock;

/// A public key in signed-note verifier form (from Go's sumdb/note documentation).
const TEST_KEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

fn start() -> Body {
    Body::StationStart {
        station: "s".into(),
        software: "t".into(),
        config_sha256: digest::sha256_hex(b""),
        cameras: vec!["c".into()],
        key: TEST_KEY.into(),
        sources: Vec::new(),
    }
}

#[test]
fn chain_links_exact_line_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = SimClock::at_test_epoch();
    {
        let mut l = Ledger::open(dir.path(), &clock).unwrap();
        let r1 = l.append(start(), &clock).unwrap();
        assert_eq!((r1.seq, r1.prev.as_str()), (1, GENESIS));
        assert_eq!(r1.at, "2026-11-25T20:31:02.054+08:00");
        l.append(start(), &clock).unwrap();
    }
    let text = std::fs::read(dir.path().join(MANIFEST)).unwrap();
    let first_len = text.iter().position(|&b| b == b'\n').unwrap() + 1;
    let line2: Record = serde_json::from_slice(&text[first_len..]).unwrap();
    assert_eq!(line2.prev, digest::sha256_hex(&text[..first_len]));
    // Reopening continues the chain.
    let mut l = Ledger::open(dir.path(), &clock).unwrap();
    let r3 = l.append(start(), &clock).unwrap();
    assert_eq!(r3.seq, 3);
    assert_eq!(r3.prev, digest::sha256_hex(&text[first_len..]));
    let seq = l.append_with(start_named, &clock).unwrap();
    assert!(matches!(&seq.body, Body::StationStart { station, .. } if station == "s4"));
}

#[test]
fn the_same_record_twice_hashes_differently() {
    let dir = tempfile::tempdir().unwrap();
    let clock = SimClock::at_test_epoch();
    let mut l = Ledger::open(dir.path(), &clock).unwrap();
    let (a, b) = (
        l.append(start(), &clock).unwrap(),
        l.append(start(), &clock).unwrap(),
    );
    // Same body, same time: only seq, prev and the salt tell them apart, and the salt alone
    // is 128 bits nobody outside can guess.
    assert_eq!(a.at, b.at);
    let (sa, sb) = (a.salt.clone().unwrap(), b.salt.clone().unwrap());
    assert_eq!(sa.len(), 32);
    assert_ne!(sa, sb);
    let text = std::fs::read(dir.path().join(MANIFEST)).unwrap();
    let lines: Vec<&[u8]> = text.split_inclusive(|&c| c == b'\n').collect();
    // Line 1 with line 2's salt is not line 1: a guess of every other field is not enough.
    let guessed = String::from_utf8_lossy(lines[0]).replace(&sa, &sb);
    assert_ne!(
        merkle::leaf_hash(guessed.as_bytes()),
        merkle::leaf_hash(lines[0])
    );
    assert_ne!(merkle::leaf_hash(lines[0]), merkle::leaf_hash(lines[1]));
}

fn start_named(seq: u64) -> Body {
    match start() {
        Body::StationStart {
            software,
            config_sha256,
            cameras,
            key,
            ..
        } => Body::StationStart {
            station: format!("s{seq}"),
            software,
            config_sha256,
            cameras,
            key,
            sources: Vec::new(),
        },
        b => b,
    }
}

#[test]
fn second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = SimClock::at_test_epoch();
    let _a = Ledger::open(dir.path(), &clock).unwrap();
    let err = Ledger::open(dir.path(), &clock).err().unwrap();
    assert_eq!(err.kind(), crate::ErrorKind::Conflict);
    assert!(
        err.to_string()
            .contains("in use by another packwitness process"),
        "{err}"
    );
}

/// A manifest write that fails (the disk full at a chosen byte: the line that crosses it is
/// torn; an I/O error; an fsync that fails after the whole line was written) leaves the
/// manifest as it was before the failed record, and no later record is appended until it
/// is reopened; reopened, no seq is reused and the chain goes on.
#[test]
fn a_failed_append_is_cut_back_and_refuses_more() {
    use crate::diskfile::FaultPlan;
    let line = {
        let dir = tempfile::tempdir().unwrap();
        let clock = SimClock::at_test_epoch();
        let mut l = Ledger::open(dir.path(), &clock).unwrap();
        l.append(start(), &clock).unwrap();
        std::fs::metadata(dir.path().join(MANIFEST)).unwrap().len()
    };
    type Fault = Box<dyn Fn(&FaultPlan)>;
    let faults: Vec<(String, Fault)> = vec![
        (
            "full at its first byte".into(),
            Box::new(|p| {
                p.full_after(0);
            }),
        ),
        (
            "full after one byte".into(),
            Box::new(|p| {
                p.full_after(1);
            }),
        ),
        (
            "full mid-line".into(),
            Box::new(move |p| {
                p.full_after(line / 2);
            }),
        ),
        (
            "full before the newline".into(),
            Box::new(move |p| {
                p.full_after(line - 1);
            }),
        ),
        (
            "an I/O error".into(),
            Box::new(|p| {
                p.failing_writes();
            }),
        ),
        (
            "a failed fsync".into(),
            Box::new(|p| {
                p.failing_syncs(1);
            }),
        ),
    ];
    for (what, fault) in faults {
        let dir = tempfile::tempdir().unwrap();
        let clock = SimClock::at_test_epoch();
        let mut l = Ledger::open(dir.path(), &clock).unwrap();
        l.append(start(), &clock).unwrap();
        let good = std::fs::read(dir.path().join(MANIFEST)).unwrap();
        let plan = FaultPlan::new();
        l.set_faults(Some(plan.clone()));
        fault(&plan);
        let good_state = l.state().clone();
        assert!(l.append(start(), &clock).is_err(), "{what}");
        let err = l.append(start(), &clock).unwrap_err().to_string();
        assert!(err.contains("refuses more records"), "{what}: {err}");
        assert_eq!(
            std::fs::read(dir.path().join(MANIFEST)).unwrap(),
            good,
            "{what}"
        );
        assert_eq!(LogState::load(dir.path()), Some(good_state), "{what}");
        // Reopened in place once the disk takes writes again (as the writer does every 2 s):
        // no seq is reused, the chain goes on.
        plan.heal();
        l.reopen(&clock).unwrap();
        assert_eq!(l.append(start(), &clock).unwrap().seq, 2, "{what}");
        drop(l);
        let mut l = Ledger::open(dir.path(), &clock).unwrap();
        assert_eq!(l.append(start(), &clock).unwrap().seq, 3, "{what}");
        // Every line links to the one before it: nothing torn was left in between.
        let text = std::fs::read(dir.path().join(MANIFEST)).unwrap();
        let mut prev = GENESIS.to_string();
        for line in text.split_inclusive(|b| *b == b'\n') {
            let rec: Record = serde_json::from_slice(line).unwrap();
            assert_eq!(rec.prev, prev, "{what}");
            prev = digest::sha256_hex(line);
        }
    }
}

use crate::log::SealReason;

fn scan(action: ScanAction, order: &str, box_no: u32, group: &str) -> Body {
    Body::Scan {
        station: "s".into(),
        scanner: "stdin".into(),
        code: order.into(),
        code_kind: "order".into(),
        rule: String::new(),
        action,
        detail: None,
        order: Some(order.into()),
        box_no: Some(box_no),
        group: Some(group.into()),
        operator: None,
        scanned_at: "2026-11-25T20:31:02.054+08:00".into(),
    }
}

fn opened(order: &str, box_no: u32, group: &str) -> Body {
    Body::ClipOpened {
        order: order.into(),
        station: "s".into(),
        camera: "c".into(),
        operator: None,
        group: group.into(),
        part: 1,
        box_no,
        file: format!("clips/s/2026-11-25/{order}_{box_no}.mp4"),
        started_at: "2026-11-25T20:31:02.054+08:00".into(),
        scanned_at: "2026-11-25T20:31:02.054+08:00".into(),
        first_frame: 0,
        clock_synced: None,
        test_pattern: None,
    }
}

fn sealed(clip: u64, order: &str, reason: SealReason) -> Body {
    Body::ClipSealed {
        clip,
        order: order.into(),
        station: "s".into(),
        camera: "c".into(),
        file: String::new(),
        reason,
        started_at: "2026-11-25T20:31:02.054+08:00".into(),
        ended_at: "2026-11-25T20:31:03.054+08:00".into(),
        duration_ms: 1000,
        frames: 30,
        first_frame: 0,
        size: 1,
        sha256: digest::sha256_hex(b""),
        fragments: 1,
        fragments_sha256: digest::sha256_hex(b""),
        dropped_frames: None,
        presets: Vec::new(),
    }
}

/// Issue 20: box 1's seal (reason next_box) is written after the scan that opened box 2
/// of the same order; the order stays open in the state (box 2), so a crash during box 2
/// resumes it. A seal no scan caused (a timeout) ends it.
#[test]
fn box_2_stays_resumable_after_box_1_is_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = SimClock::at_test_epoch();
    let mut l = Ledger::open(dir.path(), &clock).unwrap();
    l.append(scan(ScanAction::Open, "A", 1, "g1"), &clock)
        .unwrap();
    let c1 = l.append(opened("A", 1, "g1"), &clock).unwrap().seq;
    l.append(scan(ScanAction::Switch, "A", 2, "g2"), &clock)
        .unwrap();
    l.append(sealed(c1, "A", SealReason::NextBox), &clock)
        .unwrap();
    let c2 = l.append(opened("A", 2, "g2"), &clock).unwrap().seq;
    let orders = &l.state().orders;
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(
        (orders[0].box_no, orders[0].group.as_str(), orders[0].part),
        (2, "g2", 1)
    );
    l.append(sealed(c2, "A", SealReason::Timeout), &clock)
        .unwrap();
    assert!(l.state().orders.is_empty());
}
