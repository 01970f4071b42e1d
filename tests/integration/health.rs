//! Never blind, never silent: a station whose camera is down says so to the packer, in the
//! manifest, in `status`, `/healthz`, `/metrics` and through the alarm command, and records
//! again, after a gap record, as soon as the camera is back.

use crate::common::*;
use crate::rtsp::{free_port, start_server};

fn camera_state(v: &serde_json::Value) -> String {
    v["stations"][0]["health"]["cameras"][0]["state"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn a_camera_down_is_said_everywhere_and_back_it_records_after_a_gap() {
    let (cam_port, web_port) = (free_port(), free_port());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let alarms = tmp.path().join("alarms.log");
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(
        &cfg,
        format!(
            "[station]\npre_roll_s = 0.5\npost_roll_s = 0.5\n\n[server]\nlisten = \"127.0.0.1:{web_port}\"\n\n\
             [alarm]\ncommand = [\"sh\", \"-c\", \"echo \\\"$PACKWITNESS_ALARM $PACKWITNESS_ALARM_STATE $PACKWITNESS_CAMERA\\\" >> {}\"]\n",
            alarms.display()
        ),
    )
    .unwrap();
    // Nothing listens on the camera's address yet.
    let url = format!("rtsp://127.0.0.1:{cam_port}/cam");
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
    let web = format!("127.0.0.1:{web_port}");
    wait_until("the camera to be seen lost", || {
        camera_state(&status_json(&dir).1) == "lost"
    });

    // A scan while the camera is down: accepted, recorded, and a no_video record says why.
    station.scan("SO-1001-DOWN");
    let nv = station.wait_record(&dir, "the no_video record", |r| r["kind"] == "no_video");
    assert_eq!(nv["order"], "SO-1001-DOWN", "{nv}");
    assert_eq!(nv["down"][0]["camera"], "cam-1", "{nv}");
    assert_eq!(nv["down"][0]["state"], "lost", "{nv}");
    assert!(
        nv["down"][0]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("refused"),
        "{nv}"
    );
    let scan = manifest(&dir)
        .into_iter()
        .find(|r| r["kind"] == "scan" && r["code"] == "SO-1001-DOWN")
        .unwrap();
    assert!(
        scan["seq"].as_u64() < nv["seq"].as_u64(),
        "the scan is written first"
    );

    // status, /healthz and /metrics say the same.
    let (code, v) = status_json(&dir);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["stations"][0]["state"], "not_recording", "{v}");
    assert_eq!(camera_state(&v), "lost", "{v}");
    let text = run(&["--data-dir", dir.to_str().unwrap(), "status"]);
    assert!(
        stdout(&text).contains("NOT RECORDING SO-1001-DOWN"),
        "{}",
        show(&text)
    );
    let h = http(&web, "GET", "/healthz", &[], b"");
    assert_eq!(h.status, 503, "{}", h.text());
    let problems = h.json()["problems"].to_string();
    assert!(
        problems.contains("NOT RECORDING") && problems.contains("cam-1 is lost"),
        "{problems}"
    );
    let m = http(&web, "GET", "/metrics", &[], b"").text();
    assert!(
        m.contains("packwitness_camera_up{station=\"station-1\",camera=\"cam-1\"} 0"),
        "{m}"
    );
    assert!(
        m.contains("packwitness_station_not_recording{station=\"station-1\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("packwitness_station_no_video_total{station=\"station-1\"} 1"),
        "{m}"
    );
    // The app's recent activity and a prefix search show the order, marked, with why.
    for page in ["/", "/?q=so-10"] {
        let html = http(&web, "GET", page, &[], b"").text();
        let at = html
            .find("SO-1001-DOWN</a>")
            .unwrap_or_else(|| panic!("{page}: no SO-1001-DOWN in {html}"));
        let line = &html[html[..at].rfind("<p").unwrap()..];
        let line = &line[..line.find("</p>").unwrap()];
        assert!(
            line.contains("NO VIDEO") && line.contains("refused"),
            "{page}: {line}"
        );
    }
    // The stations' board marks the station, its camera's state in words.
    let board = http(&web, "GET", "/", &[], b"").text();
    let row = &board[board.find("data-station=\"station-1\"").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains("NO VIDEO ×1") && row.contains("cam-1 lost"),
        "{row}"
    );
    // A `serve` beside the recorder asks it over the socket: the same answer.
    let (_serve, serve_addr) = serve(&dir, None);
    let h = http(&serve_addr, "GET", "/healthz", &[], b"");
    assert_eq!(h.status, 503, "{}", h.text());
    assert!(h.text().contains("NOT RECORDING"), "{}", h.text());
    // The alarm command ran for both.
    wait_until("the alarm command to run", || {
        let log = std::fs::read_to_string(&alarms).unwrap_or_default();
        log.contains("camera_lost raised cam-1") && log.contains("not_recording raised")
    });

    // The camera comes back while the order is open: recording resumes by itself, after a
    // gap record that ends where the clip starts.
    let back = chrono::Local::now();
    let _camera = start_server(cam_port);
    let opened = station.wait_record(&dir, "the order's clip", |r| {
        r["kind"] == "clip_opened" && r["order"] == "SO-1001-DOWN"
    });
    let started =
        chrono::DateTime::parse_from_rfc3339(opened["started_at"].as_str().unwrap()).unwrap();
    let resume_s = (started.timestamp_millis() - back.timestamp_millis()) as f64 / 1000.0;
    eprintln!("recording resumed {resume_s:.2} s after the camera came back");
    assert!(
        resume_s < 5.0,
        "resumed {resume_s:.2} s after the camera was back"
    );
    let gap = station.wait_record(&dir, "the gap record", |r| r["kind"] == "camera_gap");
    assert_eq!(gap["clip"], opened["seq"], "{gap}");
    assert_eq!(gap["to"], opened["started_at"], "{gap}");
    assert_eq!(gap["camera"], "cam-1");
    // From the scan (the camera was already down) to the clip's first frame.
    assert!(
        gap["from"].as_str() >= scan["scanned_at"].as_str(),
        "{gap} {scan}"
    );
    assert!(gap["from"].as_str() < gap["to"].as_str(), "{gap}");
    wait_until("/healthz to answer 200", || {
        http(&web, "GET", "/healthz", &[], b"").status == 200
    });
    wait_until("the alarms to clear", || {
        let log = std::fs::read_to_string(&alarms).unwrap_or_default();
        log.contains("camera_lost cleared cam-1") && log.contains("not_recording cleared")
    });
    let (code, v) = status_json(&dir);
    assert_eq!(
        (code, v["stations"][0]["state"].as_str()),
        (Some(0), Some("recording")),
        "{v}"
    );
    packing(1000);
    station.scan("PW-STOP");
    station.wait_record(&dir, "the clip sealed", |r| r["kind"] == "clip_sealed");
    let out = station.finish();
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stderr(&out).contains("NOT RECORDING SO-1001-DOWN"),
        "the packer is told: {}",
        show(&out)
    );

    // Lookup shows the order: the clip, the gap before it, and why the start has no video.
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "lookup",
        "SO-1001-DOWN",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout(&out).contains("NO VIDEO"), "{}", show(&out));
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "lookup",
        "SO-1001-DOWN",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["clip", "no_video", "gap"], "{v}");
    assert_eq!(v[1]["no_video"], true);
    assert!(
        v[1]["reason"].as_str().unwrap().contains("cam-1 lost"),
        "{v}"
    );
    assert_verifies(&dir);
}

#[test]
fn with_no_recorder_status_and_healthz_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let (code, v) = status_json(&dir);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["recording_process"], false, "{v}");
    assert!(
        v["problems"][0].as_str().unwrap().contains("no recorder"),
        "{v}"
    );
    let (_serve, addr) = serve(&dir, None);
    let h = http(&addr, "GET", "/healthz", &[], b"");
    assert_eq!(h.status, 503, "{}", h.text());
    assert!(h.text().contains("no recording process"), "{}", h.text());
}

/// A camera recording normally: live in every view, and the lag and frame figures add up.
#[test]
fn a_live_camera_is_healthy_with_figures_that_agree() {
    let web_port = free_port();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(
        &cfg,
        format!("[server]\nlisten = \"127.0.0.1:{web_port}\"\n"),
    )
    .unwrap();
    let mut station = spawn_station(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--source",
        "lavfi:testsrc2=size=320x240:rate=15",
    ]);
    station.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    let web = format!("127.0.0.1:{web_port}");
    wait_until("/healthz to answer 200", || {
        http(&web, "GET", "/healthz", &[], b"").status == 200
    });
    station.scan("SO-1002-LIVE");
    station.wait_record(&dir, "the clip", |r| r["kind"] == "clip_opened");
    wait_until("the station to be recording", || {
        status_json(&dir).1["stations"][0]["state"] == "recording"
    });
    let (code, v) = status_json(&dir);
    assert_eq!(code, Some(0), "{v}");
    let cam = &v["stations"][0]["health"]["cameras"][0];
    assert_eq!(cam["state"], "live", "{v}");
    assert_eq!(cam["recording"], "SO-1002-LIVE", "{v}");
    assert!(cam["frames"].as_u64().unwrap() > 0, "{v}");
    assert!(cam["last_frame_age_s"].as_f64().unwrap() < 2.0, "{v}");
    assert_eq!(v["stations"][0]["health"]["order"], "SO-1002-LIVE");
    assert!(manifest(&dir).iter().all(|r| r["kind"] != "no_video"));
    let m = http(&web, "GET", "/metrics", &[], b"").text();
    assert!(
        m.contains("packwitness_camera_up{station=\"station-1\",camera=\"cam-1\"} 1"),
        "{m}"
    );
    assert!(m.contains("packwitness_healthy 1"), "{m}");
    assert!(
        m.contains("packwitness_camera_clips_total{station=\"station-1\",camera=\"cam-1\"} 0"),
        "{m}"
    );
    station.scan("PW-STOP");
    station.wait_record(&dir, "the clip sealed", |r| r["kind"] == "clip_sealed");
    // The clip counted once its seal is in the manifest.
    wait_until("the sealed clip to be counted", || {
        status_json(&dir).1["stations"][0]["health"]["cameras"][0]["clips"] == 1
    });
    let m = http(&web, "GET", "/metrics", &[], b"").text();
    assert!(
        m.contains("packwitness_camera_clips_total{station=\"station-1\",camera=\"cam-1\"} 1"),
        "{m}"
    );
    let out = station.finish();
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
fn run_without_a_camera_is_refused_and_a_test_pattern_is_marked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(&cfg, "[station]\nid = \"pack-1\"\n").unwrap();
    let out = run(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr(&out).contains("station pack-1 has no camera")
            && stderr(&out).contains("[[camera]]"),
        "{}",
        show(&out)
    );
    assert!(!dir.join("manifest.jsonl").exists(), "nothing was recorded");

    // Asked for explicitly, a test pattern records, and every view says what it is.
    let mut station = spawn_station(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--source",
        "lavfi:testsrc2=size=320x240:rate=15",
    ]);
    let start = station.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    assert_eq!(
        start["sources"][0], "lavfi:testsrc2=size=320x240:rate=15",
        "{start}"
    );
    station.scan("SO-1003-TEST");
    station.wait_record(&dir, "the clip", |r| r["kind"] == "clip_opened");
    station.scan("PW-STOP");
    station.wait_record(&dir, "the seal", |r| r["kind"] == "clip_sealed");
    let out = station.finish();
    assert!(out.status.success(), "{}", show(&out));
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "lookup",
        "SO-1003-TEST",
    ]);
    assert!(stdout(&out).contains("TEST PATTERN"), "{}", show(&out));
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "lookup",
        "SO-1003-TEST",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["test_pattern"], true, "{v}");
}

#[test]
fn camera_passwords_stay_out_of_the_manifest_and_the_status() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let url = format!("rtsp://admin:s3cret-pw@127.0.0.1:{}/cam", free_port());
    let mut station =
        spawn_station(&["--data-dir", dir.to_str().unwrap(), "run", "--source", &url]);
    let start = station.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    assert!(
        start["sources"][0]
            .as_str()
            .unwrap()
            .starts_with("rtsp://admin:***@127.0.0.1:"),
        "{start}"
    );
    station.scan("SO-1004-PW");
    station.wait_record(&dir, "the no_video record", |r| r["kind"] == "no_video");
    let (_, v) = status_json(&dir);
    let out = station.finish();
    assert!(out.status.success(), "{}", show(&out));
    let manifest = std::fs::read_to_string(dir.join("manifest.jsonl")).unwrap();
    assert!(!manifest.contains("s3cret-pw"), "{manifest}");
    assert!(!v.to_string().contains("s3cret-pw"), "{v}");
}

/// A USB camera given by a stable path (`/dev/v4l/by-id/...`, a udev link) that is not
/// there: the station starts and waits for it, and every view says to plug it in.
#[test]
fn a_camera_by_a_stable_path_that_is_missing_is_waited_for_as_unplugged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let mut station = spawn_without_camera(&dir);
    wait_until("the camera said to be unplugged", || {
        let (_, s) = status_json(&dir);
        s["stations"][0]["health"]["cameras"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("plug the camera in"))
    });
    let _ = station.finish();
}

/// The packer is told in the system's language (`[feedback] lang = "auto"`): on a PC whose
/// locale is Chinese, a scan while the camera is down reads 未在录制 with the order;
/// `lang = "en"` keeps English whatever the locale.
#[test]
fn the_packer_is_told_in_the_systems_language() {
    let tmp = tempfile::tempdir().unwrap();
    for (lang, says) in [
        ("auto", "未在录制 SO-1002-ZH"),
        ("en", "NOT RECORDING SO-1002-ZH"),
    ] {
        let dir = tmp.path().join(lang);
        let cfg = tmp.path().join(format!("{lang}.toml"));
        std::fs::write(&cfg, format!("[feedback]\nlang = \"{lang}\"\n")).unwrap();
        // Nothing listens on the camera's address.
        let url = format!("rtsp://127.0.0.1:{}/cam", free_port());
        let mut station = spawn_station_env(
            &[
                "--config",
                cfg.to_str().unwrap(),
                "--data-dir",
                dir.to_str().unwrap(),
                "run",
                "--source",
                &url,
            ],
            &[("LANG", "zh_CN.UTF-8")],
        );
        station.wait_record(&dir, "the station's start", |r| {
            r["kind"] == "station_start"
        });
        station.scan("SO-1002-ZH");
        station.wait_record(&dir, "the no_video record", |r| r["kind"] == "no_video");
        let out = station.finish();
        assert!(
            stderr(&out).contains(says),
            "[feedback] lang = {lang}: {}",
            show(&out)
        );
    }
}
