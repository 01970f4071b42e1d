//! `run --source SPEC --scanner stdin`: a station from one source, scans from a pipe.

use crate::common::*;

use std::process::Stdio;
use std::time::Duration;

fn start(dir: &std::path::Path) -> Station {
    spawn_station(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--source",
        "testsrc",
        "--scanner",
        "stdin",
    ])
}

#[test]
fn scans_from_stdin_switch_and_stop() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let mut r = start(&dir);
    r.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    r.scan("ord-1");
    r.wait_record(&dir, "ORD-1 opened", |r| r["kind"] == "clip_opened");
    packing(1500);
    r.scan("\u{7}junk"); // refused, never disturbs the clip
    r.scan("ORD-2");
    r.wait_record(&dir, "ORD-1 sealed", |r| r["kind"] == "clip_sealed");
    packing(1500);
    r.scan("pw-stop");
    r.wait_record(&dir, "the stop scan", |r| {
        r["kind"] == "scan" && r["code"] == "PW-STOP"
    });
    drop(r.0.as_mut().unwrap().stdin.take()); // end of input stops the station
    let out = r.finish_after(Duration::from_secs(20));
    assert!(out.status.success(), "{}", show(&out));
    assert!(stderr(&out).contains("scan rejected"), "{}", show(&out));
    let sealed = sealed(&dir);
    let got: Vec<_> = sealed
        .iter()
        .map(|r| (r["order"].as_str().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(got, [("ORD-1", "next_order"), ("ORD-2", "stop_code")]);
    let a = &sealed[0];
    let b = &sealed[1];
    assert_eq!(scan_frame(&dir, b), frame_after(a));
    assert_verifies(&dir);
}

#[test]
fn sigterm_seals_the_open_clip_and_exits_0() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let mut r = start(&dir);
    r.scan("SIG-1");
    // Wait until the clip is open, record a while, then ask the process to stop.
    r.wait_record(&dir, "SIG-1 opened", |r| r["kind"] == "clip_opened");
    packing(1200);
    let pid = r.0.as_ref().unwrap().id().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = r.finish_after(Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let sealed = sealed(&dir);
    assert_eq!(sealed.len(), 1, "{}", show(&out));
    assert_eq!(sealed[0]["reason"], "shutdown");
    assert!(sealed[0]["frames"].as_u64().unwrap() >= 20);
    let (_, frames, _, flags) = probe(&dir.join(sealed[0]["file"].as_str().unwrap()));
    assert_eq!(Some(frames), sealed[0]["frames"].as_u64());
    assert!(flags.starts_with('K'));
}

#[test]
fn second_station_on_the_same_data_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let mut first = start(&dir);
    first.wait_record(&dir, "the first station's start", |r| {
        r["kind"] == "station_start"
    });
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--source",
        "testsrc",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr(&out).contains("in use by another packwitness process"),
        "{}",
        show(&out)
    );
    drop(first.0.as_mut().unwrap().stdin.take());
    let out = first.finish_after(Duration::from_secs(20));
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
fn a_clock_behind_the_last_record_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    // The data dir's last record was written a day from now (this clock is a day behind it).
    packwitness::datadir::create(&dir).unwrap();
    let clock = packwitness::clock::SimClock::new(
        (chrono::Utc::now() + chrono::Duration::days(1)).fixed_offset(),
    );
    let mut l = packwitness::log::Ledger::open(&dir, &clock).unwrap();
    l.append(
        packwitness::log::Body::StationStart {
            station: "station-1".into(),
            software: "packwitness test".into(),
            config_sha256: packwitness::digest::sha256_hex(b""),
            cameras: vec!["cam-1".into()],
            key: station_key(&dir),
            sources: Vec::new(),
        },
        &clock,
    )
    .unwrap();
    drop(l);
    let lines = manifest(&dir).len();
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--source",
        "testsrc",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr(&out).contains("before the last record of") && stderr(&out).contains("timedatectl"),
        "{}",
        show(&out)
    );
    // Nothing was recorded with the wrong time.
    assert_eq!(manifest(&dir).len(), lines);
}

#[test]
fn unknown_scanner_kind_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&[
        "--data-dir",
        tmp.path().to_str().unwrap(),
        "run",
        "--scanner",
        "bluetooth",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr(&out).contains("--scanner \"bluetooth\" is not a scanner"),
        "{}",
        show(&out)
    );
}

#[test]
fn cameras_lists_none_here_with_a_hint() {
    // These machines have no V4L2 devices: the list is empty, with a hint, and exit 0.
    let out = run(&["cameras"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = stdout(&out);
    if text.starts_with("no USB cameras found") {
        assert!(text.contains("hint:"), "{text}");
        let json = run(&["cameras", "--json"]);
        assert_eq!(stdout(&json).trim(), "[]");
    } else {
        assert!(
            text.contains("source = \"usb:"),
            "a camera is listed with its source spec: {text}"
        );
    }
}

#[test]
fn a_missing_usb_camera_is_waited_for_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let out = bin()
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "run",
            "--source",
            "/dev/video97",
        ])
        .stdin(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "end of input stops a station waiting for its camera: {}",
        show(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("no such USB camera") && err.contains("packwitness cameras"),
        "{err}"
    );
    assert!(sealed(&dir).is_empty());
}

#[test]
fn a_stdin_scanner_on_dev_null_is_refused_before_recording() {
    // Under systemd standard input is /dev/null: a stdin scanner would end at once and the
    // service would restart in a loop. It is refused with what to do instead.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let out = bin()
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "run",
            "--source",
            "testsrc",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = stderr(&out);
    assert!(
        err.contains("/dev/null") && err.contains("[[station.scanner]]"),
        "{err}"
    );
    assert!(!dir.join("manifest.jsonl").exists(), "nothing recorded");
}
