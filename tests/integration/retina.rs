//! Network cameras through retina (the default RTSP client of passthrough), against
//! GStreamer's RTSP server on loopback with the quirks real cameras have: H.265, digest
//! authentication (right, wrong and missing credentials), a picture size that changes
//! mid-clip, and RTP over UDP. The camera lost and back mid-order, and H.264 with the stamp as a text track, are
//! in `rtsp` (which goes through retina too).

use crate::common::*;
use crate::rtsp::{free_port, record_order, start_server_env, streams, wait_for};

use std::process::Command;

/// A station config of `cameras` (id, source) copied as they come, each with the keys
/// `extra` (TOML lines).
fn config(tmp: &std::path::Path, cameras: &[(&str, String)], extra: &str) -> std::path::PathBuf {
    let mut text = String::from("[station]\npre_roll_s = 1.0\npost_roll_s = 0.5\n");
    for (id, source) in cameras {
        text.push_str(&format!(
            "\n[[camera]]\nid = \"{id}\"\nsource = \"{source}\"\nmode = \"passthrough\"\n{extra}"
        ));
    }
    let cfg = tmp.join("pw.toml");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// A GStreamer camera with the quirks `env`, and a station config recording it as `door` with
/// the keys `extra`: the server (killed when dropped), the temporary dir, the data dir inside
/// it and the config.
fn door(
    env: &[(&str, &str)],
    extra: &str,
) -> (
    Station,
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let port = free_port();
    let server = start_server_env(port, env);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let cfg = config(
        tmp.path(),
        &[("door", format!("rtsp://127.0.0.1:{port}/cam"))],
        extra,
    );
    (server, tmp, dir, cfg)
}

/// The status of camera `id` of the station on `dir`.
fn camera(dir: &std::path::Path, id: &str) -> serde_json::Value {
    let (_, v) = status_json(dir);
    v["stations"][0]["health"]["cameras"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["camera"] == id).cloned())
        .unwrap_or_default()
}

/// The picture sizes of a clip's decoded frames, in order, each once (`WxH`), and how many
/// frames decoded.
fn sizes(path: &std::path::Path) -> (Vec<String>, usize) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let all: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end_matches(',').replace(',', "x"))
        // ffprobe prints a blank line for a frame's side data.
        .filter(|l| !l.is_empty())
        .collect();
    let mut seen = all.clone();
    seen.dedup();
    (seen, all.len())
}

/// H.265 behind digest authentication: the camera with the right user and password is
/// copied (hevc and the stamp's text track, every frame decodable, the password in no
/// status or log); the one with a wrong password and the one with none are down with a
/// reason that says to check the user and password.
#[test]
fn h265_behind_digest_auth_is_copied_and_bad_credentials_are_named() {
    let port = free_port();
    let _server = start_server_env(
        port,
        &[("PW_RTSP_CODEC", "h265"), ("PW_RTSP_AUTH", "alice:s3cr%t")],
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let at = format!("127.0.0.1:{port}/cam");
    let cfg = config(
        tmp.path(),
        &[
            ("door", format!("rtsp://alice:s3cr%25t@{at}")),
            ("wrong", format!("rtsp://alice:guess@{at}")),
            ("none", format!("rtsp://{at}")),
        ],
        "",
    );
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
    station.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    wait_until("the door camera's frames", || {
        camera(&dir, "door")["frames"]
            .as_u64()
            .is_some_and(|n| n >= 30)
    });
    for id in ["wrong", "none"] {
        wait_until(&format!("camera {id} refused"), || {
            camera(&dir, id)["reason"]
                .as_str()
                .is_some_and(|r| r.contains("401"))
        });
        let c = camera(&dir, id);
        let reason = c["reason"].as_str().unwrap();
        assert!(
            reason.contains("check them in the source URL") && !reason.contains("guess"),
            "{id}: {c}"
        );
        assert_ne!(c["state"], "live", "{id}: {c}");
    }
    station.scan("HEVC-1");
    wait_for(&dir, "clip_opened");
    packing(2000);
    station.scan("PW-STOP");
    station.wait_record(&dir, "the clip sealed", |r| r["kind"] == "clip_sealed");
    let out = station.finish();
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        !stderr(&out).contains("s3cr") && !stderr(&out).contains("guess"),
        "no password in the log: {}",
        show(&out)
    );
    let sealed = sealed(&dir);
    assert_eq!(sealed.len(), 1, "{sealed:?}");
    assert_eq!(sealed[0]["camera"], "door");
    let clip = dir.join(sealed[0]["file"].as_str().unwrap());
    assert_eq!(streams(&clip), ["hevc", "mov_text"]);
    let (codec, frames, duration, flags) = probe(&clip);
    assert_eq!(codec, "hevc");
    assert_eq!(Some(frames), sealed[0]["frames"].as_u64());
    assert!(flags.starts_with('K') && duration > 1.5, "{duration}");
    let (_, decoded) = sizes(&clip);
    assert_eq!(decoded as u64, frames, "every frame decodes");
    // The order's record says the two other cameras gave nothing.
    let m = manifest(&dir);
    assert!(
        m.iter().any(
            |r| r["kind"] == "no_video" || (r["kind"] == "camera_gap" && r["camera"] != "door")
        ),
        "{m:#?}"
    );
    assert_verifies(&dir);
}

/// The camera changes its picture size mid-clip: the clip stays one file, every frame of it
/// decodes, and both sizes are in it (the new parameter sets go in-band at each keyframe).
#[test]
fn a_picture_size_changed_mid_clip_stays_one_playable_clip() {
    let (_server, tmp, dir, cfg) = door(&[("PW_RTSP_RESIZE_S", "2.5")], "");
    // Recorded until the camera has sent frames of the new size for a second: the size shows
    // in the sealed clip.
    record_order(&cfg, &dir, "RESIZE-1", 15, 4000);
    let sealed = sealed(&dir);
    assert_eq!(sealed.len(), 1, "one clip: {sealed:?}");
    assert_eq!(sealed[0]["reason"], "stop_code");
    let clip = dir.join(sealed[0]["file"].as_str().unwrap());
    let (_, frames, _, _) = probe(&clip);
    assert_eq!(Some(frames), sealed[0]["frames"].as_u64());
    let (seen, decoded) = sizes(&clip);
    assert_eq!(decoded as u64, frames, "every frame decodes: {seen:?}");
    assert_eq!(seen, ["640x360", "480x270"], "both sizes, in order");
    // And it plays through in Chromium, showing both sizes.
    let page = tmp.path().join("play.html");
    std::fs::write(
        &page,
        format!(
            "<video id=v muted playsinline src=\"file://{}\"></video><script>\
             window.widths = []; const v = document.getElementById('v');\
             const seen = () => {{ if (v.videoWidth && window.widths[window.widths.length - 1] !== v.videoWidth) window.widths.push(v.videoWidth); v.requestVideoFrameCallback(seen); }};\
             v.requestVideoFrameCallback(seen); v.playbackRate = 2; v.play();</script>",
            clip.display()
        ),
    )
    .unwrap();
    let b = crate::browser::Browser::start("en-US", 800, 600);
    b.go(&format!("file://{}", page.display()));
    let played = b.wait_js(
        "the clip to play to its end",
        "const v = document.getElementById('v'); return v.error ? 'error ' + v.error.code : (v.ended ? window.widths : '');",
    );
    assert_eq!(played, serde_json::json!([640, 480]), "{played}");
    drop(b);
    assert_verifies(&dir);
}

/// RTP over UDP (`rtsp_transport = "udp"`) on loopback: the clip is recorded, every frame of
/// it decodes, and the data dir verifies.
#[test]
fn rtp_over_udp_is_recorded_when_asked_for() {
    let (_server, _tmp, dir, cfg) = door(&[], "rtsp_transport = \"udp\"\n");
    let out = record_order(&cfg, &dir, "UDP-1", 15, 2000);
    assert!(
        stderr(&out).contains("transport=\"udp\""),
        "the log names the transport: {}",
        show(&out)
    );
    let sealed = sealed(&dir);
    assert_eq!(sealed.len(), 1, "{sealed:?}");
    let clip = dir.join(sealed[0]["file"].as_str().unwrap());
    let (codec, frames, duration, _) = probe(&clip);
    assert_eq!(codec, "h264");
    assert_eq!(Some(frames), sealed[0]["frames"].as_u64());
    assert!(duration > 1.5, "{duration}");
    let (_, decoded) = sizes(&clip);
    assert_eq!(decoded as u64, frames, "every frame decodes");
    assert_verifies(&dir);
}

/// A camera whose first frames come untimed (their RTP time does not advance, as a camera
/// that starts its clock late sends them): every frame is kept and timed at the frame rate,
/// none is dropped, and the clip, which starts at the camera's first keyframe, decodes
/// without a single decoder error (a dropped frame leaves the ones after it without their
/// reference).
#[test]
fn frames_whose_rtp_time_does_not_advance_are_kept_and_timed() {
    let (_server, _tmp, dir, cfg) = door(&[("PW_RTSP_UNTIMED", "20")], "");
    // Scanned at the camera's 15th frame: with a second of pre-roll the clip begins at its
    // first keyframe, among the untimed frames.
    let out = record_order(&cfg, &dir, "UNTIMED-1", 15, 2000);
    let log = stderr(&out);
    assert!(
        log.contains("RTP time does not advance"),
        "the log says so: {}",
        show(&out)
    );
    // The server strips the times of its first 20 frames: all but the first are timed here
    // (a frame or so less when the session joined a moment late).
    let timed: u64 = log
        .lines()
        .find(|l| l.contains("advances again"))
        .and_then(|l| l.split("frames=").nth(1))
        .and_then(|n| n.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        (15..=19).contains(&timed),
        "{timed} frames timed: {}",
        show(&out)
    );
    assert!(
        !log.contains("one dropped") && log.contains("dropped=0"),
        "{}",
        show(&out)
    );
    let sealed = sealed(&dir);
    assert_eq!(sealed.len(), 1, "{sealed:?}");
    let clip = dir.join(sealed[0]["file"].as_str().unwrap());
    let (_, frames, _, _) = probe(&clip);
    assert_eq!(Some(frames), sealed[0]["frames"].as_u64());
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&clip)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(decode.status.success(), "{}", show(&decode));
    assert_eq!(
        String::from_utf8_lossy(&decode.stderr).trim(),
        "",
        "no decoder error"
    );
    let (_, decoded) = sizes(&clip);
    assert_eq!(decoded as u64, frames, "every frame decodes");
    assert_verifies(&dir);
}
