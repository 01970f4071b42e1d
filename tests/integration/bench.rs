//! The benchmark runs, reports against its reference, and leaves nothing behind. (Its numbers
//! are printed, never asserted: tests check behaviour, not wall-clock time.)

use crate::common::*;

#[test]
fn bench_verify_reports_ratios_and_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&[
        "bench",
        "verify",
        "--files",
        "3",
        "--mb",
        "2",
        "--runs",
        "1",
        "--work-dir",
        tmp.path().to_str().unwrap(),
    ]);
    // PASS or FAIL is the machine's business; the output must carry the reference and the ratios.
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{}",
        show(&out)
    );
    let text = stdout(&out);
    for needle in [
        "sha256sum (reference, 1 core)",
        "verify --threads 1",
        "ratio",
        "target >= 0.90",
    ] {
        assert!(text.contains(needle), "missing {needle:?}: {}", show(&out));
    }
    assert!(
        text.contains("PASS") || text.contains("FAIL"),
        "{}",
        show(&out)
    );
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "bench left files behind"
    );
    let bad = run(&["bench", "nothing"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("unknown benchmark"), "{}", show(&bad));
}

#[test]
fn bench_transcode_compares_with_the_ffmpeg_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&[
        "bench",
        "transcode",
        "--seconds",
        "1",
        "--runs",
        "1",
        "--work-dir",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{}",
        show(&out)
    );
    let text = stdout(&out);
    for needle in [
        "720p30  packwitness",
        "1080p30  packwitness",
        "ffmpeg",
        "target <= 1.05",
    ] {
        assert!(text.contains(needle), "missing {needle:?}: {}", show(&out));
    }
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "bench left files behind"
    );
}

#[test]
fn bench_passthrough_compares_with_ffmpeg_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&[
        "bench",
        "passthrough",
        "--seconds",
        "2",
        "--runs",
        "1",
        "--work-dir",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{}",
        show(&out)
    );
    let text = stdout(&out);
    for needle in [
        "1080p30 passthrough  packwitness",
        "ffmpeg -rtsp_transport tcp -c copy",
        "start-up (connect",
        "once running",
        "target <= 1.0",
    ] {
        assert!(text.contains(needle), "missing {needle:?}: {}", show(&out));
    }
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "bench left files behind"
    );
}

#[test]
fn bench_station_reports_cpu_memory_and_late_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&[
        "bench",
        "station",
        "--seconds",
        "5",
        "--work-dir",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{}",
        show(&out)
    );
    let text = stdout(&out);
    for needle in [
        "station, 2 x 720p30 transcode",
        "peak RSS",
        "target < 150",
        "late (would-be dropped) frames",
    ] {
        assert!(text.contains(needle), "missing {needle:?}: {}", show(&out));
    }
    // Both cameras delivered frames for about 5 s.
    let frames: u64 = text
        .split(" of ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(frames > 200, "{text}");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "bench left files behind"
    );
}

#[test]
fn bench_lookup_reports_reindex_and_lookup_latency() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&[
        "bench",
        "lookup",
        "--clips",
        "3000",
        "--lookups",
        "300",
        "--work-dir",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{}",
        show(&out)
    );
    let text = stdout(&out);
    for needle in [
        "manifest: 6301 lines",
        "parsing every line alone (reference)",
        "records/s",
        "target >= 100000 records/s",
        "p99",
        "target p99 < 5 ms",
    ] {
        assert!(text.contains(needle), "missing {needle:?}: {}", show(&out));
    }
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "bench left files behind"
    );
}
