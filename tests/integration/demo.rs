//! The walking skeleton end to end: `demo` records real clips; ffprobe, ffmpeg, sha256sum and
//! jq check them independently of our code.

use crate::common::*;

use std::process::Command;

#[test]
fn demo_records_valid_clips_back_to_back() {
    let dir = demo_fixture();
    let sealed = sealed(dir);
    let orders: Vec<_> = sealed
        .iter()
        .map(|r| r["order"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(orders, ["DEMO-0001", "DEMO-0002", "DEMO-0003"]);
    let reasons: Vec<_> = sealed
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["next_order", "next_order", "stop_code"]);
    let mut next_frame = None;
    for r in &sealed {
        let file = dir.join(r["file"].as_str().unwrap());
        let (codec, frames, duration, flags) = probe(&file);
        let recorded = r["frames"].as_u64().unwrap();
        assert_eq!(codec, "h264", "{}", file.display());
        assert!(
            recorded >= 30,
            "a 2 s clip has at least 30 frames, got {recorded}"
        );
        assert!(
            frames.abs_diff(recorded) <= 1,
            "{}: ffprobe counts {frames}, manifest says {recorded}",
            file.display()
        );
        let ms = r["duration_ms"].as_u64().unwrap() as f64 / 1000.0;
        assert!(
            (duration - ms).abs() <= 1.0 / 30.0 + 1e-6,
            "{}: duration {duration} vs recorded {ms}",
            file.display()
        );
        assert!(
            flags.starts_with('K'),
            "first packet of {} is not a keyframe: {flags:?}",
            file.display()
        );
        // Back to back: each clip starts at the frame of its scan, the first after the previous
        // clip's last, so no frame between scans is lost or shown twice (a pre-roll never
        // reaches back into the previous order's clip).
        let first = r["first_frame"].as_u64().unwrap();
        let scanned = scan_frame(dir, r);
        if let Some(expected) = next_frame {
            assert_eq!(scanned, expected, "frames lost or duplicated between clips");
            assert_eq!(
                first, expected,
                "a switch starts at its scan frame, no pre-roll"
            );
        }
        next_frame = Some(frame_after(r));
        // Times: start + (frames - 1) frame periods = end.
        let start =
            chrono::DateTime::parse_from_rfc3339(r["started_at"].as_str().unwrap()).unwrap();
        let end = chrono::DateTime::parse_from_rfc3339(r["ended_at"].as_str().unwrap()).unwrap();
        let span = (end - start).num_milliseconds() as f64 / 1000.0;
        assert!(
            (span - (frame_after(r) - first - 1) as f64 / 30.0).abs() < 0.002,
            "start/end inconsistent: {span}"
        );
    }
}

#[test]
fn stamp_is_in_the_picture() {
    let dir = demo_fixture();
    let r = &sealed(dir)[1];
    let file = dir.join(r["file"].as_str().unwrap());
    let first = r["first_frame"].as_u64().unwrap();
    // The clip's first frame: never left out (a clip starts on it), so it is the source's
    // frame `first_frame` even if the recorder fell behind and left out later frames.
    let n = 0;
    let clip = gray_frame(&["-i", file.to_str().unwrap()], n);
    let pattern = gray_frame(
        &["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"],
        first + n,
    );
    assert_eq!(clip.len(), 1280 * 720);
    assert_eq!(pattern.len(), 1280 * 720);
    // The stamp sits in the bottom-left corner; font size 720/24 = 30 px.
    let stamp = mean_diff(&clip, &pattern, 1280, 10, 680, 600, 715);
    // Away from the stamp, the clip is the same frame of the pattern up to compression noise:
    // this also proves the clip starts at the recorded source frame.
    let elsewhere = mean_diff(&clip, &pattern, 1280, 200, 100, 1200, 600);
    assert!(
        stamp > 25.0,
        "stamp region barely differs from the pattern: {stamp}"
    );
    assert!(
        elsewhere < 6.0,
        "picture differs from pattern frame {}: {elsewhere}",
        first + n
    );
    // The same frame one step off differs much more (the pattern moves): alignment is exact.
    let off = gray_frame(
        &["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"],
        first + n + 1,
    );
    let off_diff = mean_diff(&clip, &off, 1280, 200, 100, 1200, 600);
    assert!(
        off_diff > elsewhere,
        "frame alignment not distinguishable: {off_diff} vs {elsewhere}"
    );
}

/// The hand check of docs/reference.md, run exactly as documented, with coreutils and jq only.
#[test]
fn manifest_chain_checks_with_sha256sum_and_jq() {
    let script = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/check-manifest.sh"
    ))
    .unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reference.md")).unwrap();
    let body: String = script
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        readme.contains(body.trim()),
        "docs/reference.md must show tests/check-manifest.sh verbatim"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let ok = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/check-manifest.sh"
        ))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", show(&ok));
    assert!(stdout(&ok).contains("chain OK: 12 lines"), "{}", show(&ok));
    assert_eq!(stdout(&ok).matches(": OK").count(), 3, "{}", show(&ok));
    // And the same script catches a changed clip.
    let clip = dir.join(sealed(&dir)[0]["file"].as_str().unwrap());
    let mut bytes = std::fs::read(&clip).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 1;
    std::fs::write(&clip, bytes).unwrap();
    let bad = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/check-manifest.sh"
        ))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!bad.status.success(), "{}", show(&bad));
}

#[test]
fn demo_prints_lookup_verify_and_next_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let out = run(&[
        "demo",
        "--data-dir",
        dir.to_str().unwrap(),
        "--clip-seconds",
        "1",
        "--order",
        "A-1",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let text = stdout(&out);
    assert!(text.contains("lookup A-1"), "{text}");
    assert!(text.contains("status    ok"), "{text}");
    assert!(
        text.contains(
            "OK: 6 manifest lines chain correctly; 1 signed checkpoints verify; 1 sealed clips"
        ),
        "{text}"
    );
    assert!(text.contains("Next:"), "{text}");
}

#[test]
fn demo_without_data_dir_makes_a_new_one_in_the_current_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["demo", "--clip-seconds", "0.5", "--order", "X1"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let mut made: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    made.sort();
    // The data dir, and its key beside it (never inside).
    assert_eq!(made.len(), 2, "{made:?}");
    assert!(made[0].starts_with("packwitness-demo-"), "{made:?}");
    assert_eq!(made[1], format!("{}.key", made[0]), "{made:?}");
    let key = tmp.path().join(&made[1]).join("station.key");
    assert!(key.is_file());
    assert!(!tmp.path().join(&made[0]).join("keys").exists());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        stdout(&out).contains(&made[0]),
        "the demo prints its data dir"
    );
}
