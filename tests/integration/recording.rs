//! The recording engine's rules, checked by decoding the clips: pre-roll, post-roll, a
//! frame-exact switch between back-to-back orders, several cameras per scan, and the
//! maximum clip duration.

use crate::common::*;

use std::path::Path;

fn demo_with(config: &str, tmp: &Path, args: &[&str]) -> std::path::PathBuf {
    let cfg = tmp.join("pw.toml");
    std::fs::write(&cfg, config).unwrap();
    let dir = tmp.join("d");
    let mut all = vec![
        "--config",
        cfg.to_str().unwrap(),
        "demo",
        "--data-dir",
        dir.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let out = run(&all);
    assert!(out.status.success(), "{}", show(&out));
    dir
}

fn opened(dir: &Path, clip: &serde_json::Value) -> serde_json::Value {
    manifest(dir)
        .into_iter()
        .find(|r| r["kind"] == "clip_opened" && r["seq"] == *clip)
        .unwrap()
}

fn seconds_between(a: &str, b: &str) -> f64 {
    let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
    (t(b) - t(a)).num_milliseconds() as f64 / 1000.0
}

/// True when frame `n` of `clip` is frame `source_frame` of the test pattern rather than a
/// neighbour (the pattern moves every frame). Compared away from the burned-in stamp.
fn is_pattern_frame(clip: &Path, n: u64, source_frame: u64) -> bool {
    let pattern = "testsrc2=size=1280x720:rate=30";
    let got = gray_frame(&["-i", clip.to_str().unwrap()], n);
    let diff = |f: u64| {
        mean_diff(
            &got,
            &gray_frame(&["-f", "lavfi", "-i", pattern], f),
            1280,
            0,
            0,
            1280,
            600,
        )
    };
    let exact = diff(source_frame);
    exact < diff(source_frame + 1) && (source_frame == 0 || exact < diff(source_frame - 1))
}

#[test]
fn post_roll_and_a_frame_exact_switch() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_with(
        "[station]\npre_roll_s = 2.0\npost_roll_s = 1.0\n",
        tmp.path(),
        &["--clip-seconds", "3.5", "--order", "P-1", "--order", "P-2"],
    );
    let sealed = sealed(&dir);
    assert_eq!(sealed.len(), 2);
    let (a, b) = (&sealed[0], &sealed[1]);
    let ob = opened(&dir, &b["clip"]);
    // A switch: B starts at the frame of its scan. Its pre-roll would be A's video (another
    // customer's parcel), so it has none.
    let pre = seconds_between(
        ob["started_at"].as_str().unwrap(),
        ob["scanned_at"].as_str().unwrap(),
    );
    assert_eq!(pre, 0.0, "a switch has no pre-roll");
    // The stopped clip keeps recording for the post-roll.
    let after_scan = b["duration_ms"].as_f64().unwrap() / 1000.0 - pre;
    assert!(
        after_scan >= 3.5 + 1.0 - 0.3,
        "post-roll missing: {after_scan} s after the scan"
    );
    assert_eq!(b["reason"], "stop_code");
    // Frame-exact: clip A ends with the frame before B's scan, and B's first frame is that
    // scan frame.
    let scan = scan_frame(&dir, b);
    let a_first = a["first_frame"].as_u64().unwrap();
    let a_frames = a["frames"].as_u64().unwrap();
    assert_eq!(a_first + a_frames, scan);
    let b_first = b["first_frame"].as_u64().unwrap();
    assert_eq!(b_first, scan);
    let fa = dir.join(a["file"].as_str().unwrap());
    let fb = dir.join(b["file"].as_str().unwrap());
    assert!(
        is_pattern_frame(&fa, a_frames - 1, scan - 1),
        "clip A's last frame is not the frame before the scan"
    );
    assert!(
        is_pattern_frame(&fb, 0, scan),
        "clip B's first frame is not the scan frame"
    );
    for f in [&fa, &fb] {
        let (_, frames, _, flags) = probe(f);
        assert!(
            flags.starts_with('K'),
            "{} does not start on a keyframe",
            f.display()
        );
        assert!(frames > 0);
    }
}

/// An order scanned while the station is idle starts with its pre-roll, from the keyframe at
/// least `pre_roll_s` before the scan, but never earlier than the end of the previous clip.
#[test]
fn pre_roll_starts_before_the_scan_but_not_before_the_previous_clip_ended() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(&cfg, "[station]\npre_roll_s = 2.0\npost_roll_s = 0.5\n").unwrap();
    let dir = tmp.path().join("d");
    let mut st = Station::start(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--source",
        "testsrc",
    ]);
    st.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    st.scan("PRE-1");
    st.wait_record(&dir, "PRE-1 opened", |r| {
        r["kind"] == "clip_opened" && r["order"] == "PRE-1"
    });
    packing(1000);
    st.scan("PW-STOP");
    st.wait_record(&dir, "PRE-1 sealed", |r| r["kind"] == "clip_sealed");
    // Idle, so that 2 s of pre-roll fit after PRE-1's end: then an order that reaches back
    // less far than that, one right after the first: at most up to where PRE-1 ended.
    packing(2600);
    st.scan("PRE-2");
    st.wait_record(&dir, "PRE-2 opened", |r| {
        r["kind"] == "clip_opened" && r["order"] == "PRE-2"
    });
    packing(300);
    st.scan("PW-STOP");
    st.wait_record(&dir, "PRE-2 sealed", |r| {
        r["kind"] == "clip_sealed" && r["order"] == "PRE-2"
    });
    st.scan("PRE-3");
    st.wait_record(&dir, "PRE-3 opened", |r| {
        r["kind"] == "clip_opened" && r["order"] == "PRE-3"
    });
    packing(300);
    let out = st.finish();
    assert!(out.status.success(), "{}", show(&out));
    let s = sealed(&dir);
    assert_eq!(s.len(), 3, "{}", show(&out));
    let o2 = opened(&dir, &s[1]["clip"]);
    let pre = seconds_between(
        o2["started_at"].as_str().unwrap(),
        o2["scanned_at"].as_str().unwrap(),
    );
    assert!((2.0..=3.05).contains(&pre), "pre-roll of {pre} s");
    let end = frame_after;
    assert!(s[1]["first_frame"].as_u64().unwrap() >= end(&s[0]));
    // PRE-3 came right after PRE-2 ended: its pre-roll is cut at PRE-2's end.
    assert!(
        s[2]["first_frame"].as_u64().unwrap() >= end(&s[1]),
        "PRE-3 starts at frame {}, inside PRE-2 (which ended at {})",
        s[2]["first_frame"],
        end(&s[1])
    );
    assert_verifies(&dir);
}

#[test]
fn two_cameras_record_every_scan_in_one_group() {
    let tmp = tempfile::tempdir().unwrap();
    let config = "[station]\npre_roll_s = 0.0\npost_roll_s = 0.0\n\n[[camera]]\nid = \"top\"\nsource = \"testsrc\"\n\n[[camera]]\nid = \"side\"\nsource = \"lavfi:testsrc2=size=640x360:rate=25\"\n";
    let dir = demo_with(
        config,
        tmp.path(),
        &["--clip-seconds", "2", "--order", "G-1", "--order", "G-2"],
    );
    let sealed = sealed(&dir);
    assert_eq!(sealed.len(), 4, "one clip per camera per order");
    for order in ["G-1", "G-2"] {
        let clips: Vec<_> = sealed.iter().filter(|r| r["order"] == order).collect();
        let mut cams: Vec<_> = clips
            .iter()
            .map(|r| r["camera"].as_str().unwrap())
            .collect();
        cams.sort();
        assert_eq!(cams, ["side", "top"]);
        let groups: Vec<_> = clips
            .iter()
            .map(|r| opened(&dir, &r["clip"])["group"].clone())
            .collect();
        assert_eq!(groups[0], groups[1], "the clips of one scan share a group");
        for r in clips {
            let (codec, frames, _, flags) = probe(&dir.join(r["file"].as_str().unwrap()));
            assert_eq!(codec, "h264");
            assert_eq!(Some(frames), r["frames"].as_u64());
            assert!(flags.starts_with('K'));
        }
    }
    let g1 = opened(
        &dir,
        &sealed.iter().find(|r| r["order"] == "G-1").unwrap()["clip"],
    )["group"]
        .clone();
    let g2 = opened(
        &dir,
        &sealed.iter().find(|r| r["order"] == "G-2").unwrap()["clip"],
    )["group"]
        .clone();
    assert_ne!(g1, g2);
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "lookup",
        "g-2",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
    assert_verifies(&dir);
}

#[test]
fn a_clip_open_too_long_is_sealed_by_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_with(
        "[station]\nmax_clip_s = 2\npre_roll_s = 0.0\npost_roll_s = 0.0\n",
        tmp.path(),
        &["--clip-seconds", "4", "--order", "LONG-1"],
    );
    let sealed = sealed(&dir);
    assert_eq!(sealed.len(), 1);
    assert_eq!(sealed[0]["reason"], "timeout");
    let d = sealed[0]["duration_ms"].as_u64().unwrap();
    assert!((1900..=2034).contains(&d), "a 2 s limit gave {d} ms");
    let (_, frames, _, _) = probe(&dir.join(sealed[0]["file"].as_str().unwrap()));
    assert_eq!(Some(frames), sealed[0]["frames"].as_u64());
}
