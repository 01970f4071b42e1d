//! The writer on a real data dir that goes away and comes back.
use super::*;
use crate::clock::SimClock;
use crate::log::ScanAction;

fn scan(code: &str) -> Body {
    Body::Scan {
        station: "s".into(),
        scanner: "stdin".into(),
        code: code.into(),
        code_kind: "order".into(),
        rule: String::new(),
        action: ScanAction::Open,
        detail: None,
        order: Some(code.into()),
        box_no: Some(1),
        group: Some(format!("g-{code}")),
        operator: None,
        scanned_at: "2026-11-25T20:31:02.054+08:00".into(),
    }
}

fn codes(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(datadir::MANIFEST))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["code"].as_str().map(str::to_string)
        })
        .collect()
}

fn open(dir: &Path, clock: &SimClock) -> Writer {
    datadir::create(dir).unwrap();
    Writer::open(dir, &Config::default(), Arc::new(clock.clone())).unwrap()
}

/// The data dir vanishes (moved away, as an unmounted disk) and comes back: records are
/// kept meanwhile and written first, in order, when it is back; nothing goes into files
/// that are no longer at the data dir's path.
#[test]
fn records_wait_for_a_data_disk_that_comes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, away) = (tmp.path().join("data"), tmp.path().join("away"));
    let clock = SimClock::at_test_epoch();
    let mut w = open(&dir, &clock);
    assert!(w.append_or_defer(scan("A")).unwrap().is_some());
    std::fs::rename(&dir, &away).unwrap();
    assert!(w.append_or_defer(scan("B")).unwrap().is_none());
    assert!(w.append_or_defer(scan("C")).unwrap().is_none());
    let refused = w.append(scan("X")).unwrap_err().to_string();
    assert!(refused.contains("data disk missing"), "{refused}");
    assert!(w.checkpoint().is_err());
    assert_eq!(w.disk().problem().unwrap().problem, DiskProblem::Missing);
    assert_eq!((w.deferred(), codes(&away)), (2, vec!["A".to_string()]));
    // Back: the next tick writes what waited, then appends go on after it.
    std::fs::rename(&away, &dir).unwrap();
    clock.advance(Duration::from_secs(1));
    w.tick().unwrap();
    assert!(w.disk().ok());
    w.append(scan("D")).unwrap();
    assert_eq!(codes(&dir), ["A", "B", "C", "D"]);
    assert!(w.checkpoint().unwrap().is_some());
    drop(w);
    // One chain, no seq twice, every line linked to the one before.
    let text = std::fs::read(dir.join(datadir::MANIFEST)).unwrap();
    let mut prev = crate::log::GENESIS.to_string();
    for (i, line) in text.split_inclusive(|&b| b == b'\n').enumerate() {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        assert_eq!(
            (v["seq"].as_u64(), v["prev"].as_str()),
            (Some(i as u64 + 1), Some(prev.as_str()))
        );
        prev = crate::digest::sha256_hex(line);
    }
}

/// An empty directory appears where the data dir was: it is never written into (no new
/// log is started there), the state says `replaced`, and the original coming back is
/// taken up again.
#[test]
fn an_empty_directory_in_place_of_the_data_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, away) = (tmp.path().join("data"), tmp.path().join("away"));
    let clock = SimClock::at_test_epoch();
    let mut w = open(&dir, &clock);
    w.append(scan("A")).unwrap();
    std::fs::rename(&dir, &away).unwrap();
    std::fs::create_dir(&dir).unwrap();
    assert!(w.append_or_defer(scan("B")).unwrap().is_none());
    clock.advance(Duration::from_secs(3));
    w.tick().unwrap();
    assert_eq!(w.disk().problem().unwrap().problem, DiskProblem::Replaced);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing is written into a replaced data dir"
    );
    std::fs::remove_dir(&dir).unwrap();
    std::fs::rename(&away, &dir).unwrap();
    clock.advance(Duration::from_secs(1));
    w.tick().unwrap();
    assert!(w.disk().ok());
    assert_eq!(codes(&dir), ["A", "B"]);
}

/// The pruner chooses from the index, which may not have seen a hold written a moment ago:
/// the writer refuses to prune a clip put under hold by a record it appended.
#[test]
fn a_clip_held_since_the_pruner_looked_is_not_pruned() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let clock = SimClock::at_test_epoch();
    let mut w = open(&dir, &clock);
    w.append(Body::Hold {
        code: "A".into(),
        clips: vec![7],
        released: false,
        who: "lin".into(),
        reason: None,
    })
    .unwrap();
    let e = w
        .prune_file(7, "clips/s/2026-11-25/A_c_000007.mp4", "age")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(w.prune_file(8, "../../etc/passwd", "age").is_err());
    w.append(Body::Hold {
        code: "A".into(),
        clips: vec![7],
        released: true,
        who: "lin".into(),
        reason: None,
    })
    .unwrap();
    let r = w
        .prune_file(7, "clips/s/2026-11-25/A_c_000007.mp4", "age")
        .unwrap();
    assert!(matches!(r.body, Body::Pruned { clip: 7, .. }));
}

/// Issue 20: an indexer thread that stopped is started again and counted, never waited on:
/// records are appended meanwhile as ever.
#[test]
fn a_stopped_indexer_is_started_again_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let clock = SimClock::at_test_epoch();
    let mut w = open(&dir, &clock);
    // An index that cannot be opened: the indexer thread ends.
    if let Some(i) = w.indexer.take() {
        i.stop();
    }
    std::fs::remove_file(dir.join(datadir::INDEX)).ok();
    std::fs::create_dir(dir.join(datadir::INDEX)).unwrap();
    w.append(scan("A")).unwrap();
    clock.advance(Duration::from_secs(31));
    w.tick().unwrap();
    assert_eq!(w.stats.lock().unwrap().indexer_restarts, 1);
    w.append(scan("B")).unwrap();
    assert_eq!(codes(&dir), ["A", "B"]);
}

/// Issue 20: tiles that could not be written (here: a file where their folder goes) were left
/// stale until the next start; the writer now catches them up while it runs.
#[test]
fn stale_tiles_are_caught_up_while_the_writer_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let clock = SimClock::at_test_epoch();
    let mut w = open(&dir, &clock);
    w.append(scan("A")).unwrap();
    std::fs::remove_dir_all(dir.join("tile")).unwrap();
    std::fs::write(dir.join("tile"), b"not a folder").unwrap();
    w.append(scan("B")).unwrap();
    assert!(w.ledger.derived_stale());
    std::fs::remove_file(dir.join("tile")).unwrap();
    clock.advance(Duration::from_secs(1));
    w.tick().unwrap();
    assert!(!w.ledger.derived_stale());
    assert!(dir.join("tile").is_dir());
    let state = crate::log::state::LogState::load(&dir).unwrap();
    assert_eq!(state.size, w.log_state().size);
    w.append(scan("C")).unwrap();
    assert_eq!(codes(&dir), ["A", "B", "C"]);
}
