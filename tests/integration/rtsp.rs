//! A network camera for real: GStreamer's RTSP server on loopback, started and killed by the
//! test. Covers recording (transcode) from RTSP, and the camera lost mid-clip and coming back:
//! the clip is sealed as `camera_lost` and the order continues as part 2.

use crate::common::*;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the RTSP server and waits until it serves.
pub fn start_server(port: u16) -> Station {
    start_server_env(port, &[])
}

/// Starts the RTSP server with the camera quirks `env` asks for (tests/rtsp_server.py:
/// `PW_RTSP_CODEC`, `PW_RTSP_AUTH`, `PW_RTSP_RESIZE_S`) and waits until it serves.
pub fn start_server_env(port: u16, env: &[(&str, &str)]) -> Station {
    let mut child: Child = Command::new("/usr/bin/python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rtsp_server.py"))
        .arg(port.to_string())
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("Debian's /usr/bin/python3 with python3-gi (bash .ci/deps installs it)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "RTSP server did not start");
    Station(Some(child))
}

pub fn wait_for(dir: &std::path::Path, what: &str) {
    wait_until(what, || {
        std::fs::read_to_string(dir.join("manifest.jsonl"))
            .unwrap_or_default()
            .contains(what)
    });
}

#[test]
fn rtsp_camera_lost_mid_clip_continues_as_part_2() {
    let port = free_port();
    let server = start_server(port);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let url = format!("rtsp://127.0.0.1:{port}/cam");
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(&cfg, "[station]\npre_roll_s = 1.0\npost_roll_s = 0.5\n").unwrap();
    let mut station = spawn_station(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--source",
        &url,
    ]);
    station.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    station.scan("RTSP-1");
    wait_for(&dir, "clip_opened");
    packing(3000);
    // The camera dies mid-clip...
    drop(server); // kills it
    wait_for(&dir, "camera_lost");
    // ...and comes back on the same address.
    let _server = start_server(port);
    wait_records(
        &dir,
        "recording to resume after the camera came back",
        2,
        |r| r["kind"] == "clip_opened",
    );
    packing(3000);
    station.scan("PW-STOP");
    wait_records(&dir, "part 2 sealed", 2, |r| r["kind"] == "clip_sealed");
    let out = station.finish();
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stderr(&out).contains("camera lost") || stderr(&out).contains("reconnected"),
        "the log says so: {}",
        show(&out)
    );

    let m = manifest(&dir);
    let opened: Vec<_> = m.iter().filter(|r| r["kind"] == "clip_opened").collect();
    assert_eq!(opened.len(), 2, "{m:#?}");
    assert_eq!(opened[0]["part"], 1);
    assert_eq!(opened[1]["part"], 2);
    assert_eq!(
        opened[0]["group"], opened[1]["group"],
        "both parts belong to the same scan"
    );
    let sealed = sealed(&dir);
    let reasons: Vec<_> = sealed
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["camera_lost", "stop_code"]);
    for r in &sealed {
        assert_eq!(r["order"], "RTSP-1");
        let (codec, frames, duration, flags) = probe(&dir.join(r["file"].as_str().unwrap()));
        assert_eq!(codec, "h264");
        assert_eq!(Some(frames), r["frames"].as_u64());
        assert!(frames >= 30 && duration >= 1.0, "{r}");
        assert!(flags.starts_with('K'));
    }
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "lookup",
        "rtsp-1",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = v.as_array().unwrap();
    let clips: Vec<_> = entries.iter().filter(|e| e["kind"] == "clip").collect();
    let parts: Vec<_> = clips.iter().map(|c| c["part"].as_u64().unwrap()).collect();
    assert_eq!(parts, [1, 2], "lookup finds both parts, in order");
    // The time between them is a gap of its own, naming the part that resumed the order.
    let gaps: Vec<_> = entries.iter().filter(|e| e["kind"] == "gap").collect();
    assert_eq!(gaps.len(), 1, "{v}");
    assert_eq!(gaps[0]["clip"], clips[1]["clip"], "{v}");
    assert!(gaps[0]["from"].as_str() < gaps[0]["to"].as_str(), "{v}");
    assert_eq!(gaps[0]["to"], clips[1]["started_at"], "{v}");
    assert_verifies(&dir);
}

/// Records one order from the RTSP camera with the given camera mode; returns the data dir.
fn record_one(mode: &str, tmp: &std::path::Path, order: &str) -> (std::path::PathBuf, String) {
    let port = free_port();
    let _server = start_server(port);
    let dir = tmp.join("d");
    let cfg = tmp.join("pw.toml");
    std::fs::write(
        &cfg,
        format!("[station]\npre_roll_s = 1.0\npost_roll_s = 0.5\n\n[[camera]]\nid = \"door\"\nsource = \"rtsp://127.0.0.1:{port}/cam\"\nmode = \"{mode}\"\n"),
    )
    .unwrap();
    // The camera connects and delivers a second of video before the order is scanned.
    let out = record_order(&cfg, &dir, order, 30, 3000);
    (dir, stderr(&out))
}

/// Runs a station with `cfg` on `dir` (its log at info), waits for `frames` frames of its
/// first camera, records `order` for `packing_ms` and stops it with the stop code; its output
/// once it ended well.
pub fn record_order(
    cfg: &std::path::Path,
    dir: &std::path::Path,
    order: &str,
    frames: u64,
    packing_ms: u64,
) -> std::process::Output {
    let mut station = spawn_station_logging(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--data-dir",
            dir.to_str().unwrap(),
            "run",
        ],
        "info",
    );
    station.wait_record(dir, "the station's start", |r| r["kind"] == "station_start");
    wait_camera_frames(dir, frames);
    station.scan(order);
    wait_for(dir, "clip_opened");
    packing(packing_ms);
    station.scan("PW-STOP");
    station.wait_record(dir, "the clip sealed", |r| r["kind"] == "clip_sealed");
    let out = station.finish();
    assert!(out.status.success(), "{}", show(&out));
    out
}

pub fn streams(path: &std::path::Path) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn rtsp_h264_is_passed_through_with_the_stamp_as_a_text_track() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, log) = record_one("auto", tmp.path(), "PASS-1");
    assert!(
        log.contains("passthrough"),
        "auto picks passthrough for an H.264 camera: {log}"
    );
    let sealed = sealed(&dir);
    assert_eq!(sealed.len(), 1);
    // The frame at which the order was scanned carries the time of the scan: the camera's
    // times are anchored to the wall clock, not to when its first packet happened to arrive.
    let m = manifest(&dir);
    let scan = m.iter().find(|r| r["kind"] == "scan").unwrap();
    let opened = m.iter().find(|r| r["kind"] == "clip_opened").unwrap();
    let t = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    let off = t(&opened["scanned_at"]) - t(&scan["scanned_at"]);
    eprintln!("clip time of the scan - wall clock at the scan: {off} ms");
    assert!(
        off.abs() <= 150,
        "the clip's time of the scan is {off} ms off the wall clock"
    );
    let clip = dir.join(sealed[0]["file"].as_str().unwrap());
    assert_eq!(streams(&clip), ["h264", "mov_text"]);
    let (_, frames, duration, flags) = probe(&clip);
    assert_eq!(Some(frames), sealed[0]["frames"].as_u64());
    assert!(flags.starts_with('K') && duration > 2.0, "{duration}");
    // The stamp is there, as timed text: order, station, camera, local time.
    let srt = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&clip)
        .args(["-map", "0:s:0", "-f", "srt", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&srt.stdout);
    assert!(text.contains("PASS-1  station-1 door  "), "{text}");
    assert!(
        text.matches("PASS-1").count() >= 3,
        "a stamp every second: {text}"
    );
    // Each stamp sample lasts until the next one, in the file's own boxes (FFmpeg's demuxer
    // shows no durations for fragmented text tracks; players that read the boxes do). The
    // muxer's empty 2-byte samples last no time.
    let samples = text_samples(&clip);
    let stamps: Vec<_> = samples.iter().filter(|s| s.2 > 2).collect();
    assert!(stamps.len() >= 3, "{samples:?}");
    for w in stamps.windows(2) {
        let (start, dur, _) = *w[0];
        assert!(dur > 0.5, "a stamp with no time on screen: {samples:?}");
        assert!(
            (start + dur - w[1].0).abs() < 0.002,
            "stamps must follow each other without gap: {samples:?}"
        );
    }
    assert!(samples.iter().all(|s| s.2 > 2 || s.1 == 0.0), "{samples:?}");
    assert_verifies(&dir);
}

#[test]
fn rtsp_transcode_burns_the_stamp_in() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, log) = record_one("transcode", tmp.path(), "TRANS-1");
    assert!(!log.contains("passthrough:"), "{log}");
    let sealed = sealed(&dir);
    assert_eq!(sealed.len(), 1);
    let clip = dir.join(sealed[0]["file"].as_str().unwrap());
    assert_eq!(
        streams(&clip),
        ["h264"],
        "the stamp is in the picture, no text track"
    );
    let (_, frames, _, flags) = probe(&clip);
    assert_eq!(Some(frames), sealed[0]["frames"].as_u64());
    assert!(flags.starts_with('K'));
}
