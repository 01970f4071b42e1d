//! The MP4 for upload (`export CODE --mp4 FILE`): a two-box order on two cameras (one
//! encoded with the stamp, one in passthrough whose stamp is burned in from its records)
//! becomes one fast-start MP4 under its size cap, whose first frame shows the order number;
//! how it was made is in the manifest, cited by the order's bundle, and printed by both
//! checkers. And the same from the order page, by an agent in Chromium: the file plays.

use crate::common::*;

use std::path::Path;

use packwitness::config::EncodeConfig;
use packwitness::media::upload::{render_card, title_rows, Card};

/// The luma plane of an MP4's first frame, with its size.
fn first_frame_luma(mp4: &Path) -> (Vec<u8>, u32, u32) {
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(mp4)
        .output()
        .unwrap();
    let text = stdout(&probe);
    let (w, h) = text.trim().split_once(',').unwrap();
    let (w, h): (u32, u32) = (w.parse().unwrap(), h.parse().unwrap());
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(mp4)
        .args([
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(out.stdout.len(), (w * h * 3 / 2) as usize);
    (out.stdout[..(w * h) as usize].to_vec(), w, h)
}

/// Mean absolute difference of two grey pictures over rows `rows`.
fn difference(a: &[u8], b: &[u8], w: u32, rows: (u32, u32)) -> f64 {
    let (from, to) = ((rows.0 * w) as usize, (rows.1 * w) as usize);
    let sum: u64 = a[from..to]
        .iter()
        .zip(&b[from..to])
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / (to - from) as f64
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap();
    let d = sha2::Sha256::digest(&bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
#[ignore = "slow tier: re-encodes long clips under caps; the fast tier makes one from the order page; run with `cargo test --test integration -- --ignored --test-threads=1`"]
fn an_mp4_for_upload_fits_its_cap_starts_with_the_order_and_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    // A camera that sends H.264 (recorded in passthrough: its stamp is a text track).
    let cam = tmp.path().join("cam.mp4");
    h264_camera_file(&cam, 30);
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(
        &cfg,
        format!(
            "[station]\npre_roll_s = 0.5\npost_roll_s = 0.5\n\n[[camera]]\nid = \"cam-1\"\nsource = \"testsrc\"\n\n[[camera]]\nid = \"cam-2\"\nsource = \"{}\"\nmode = \"passthrough\"\nrealtime = true\n\n[upload.presets.tiny]\nlabel = \"A small platform\"\nmax_mb = 0.3\nfrom_scan = true\n",
            cam.display()
        ),
    )
    .unwrap();
    let dir = tmp.path().join("d");
    let d = dir.to_str().unwrap();
    let c = cfg.to_str().unwrap();
    let mut r = spawn_station(&["--config", c, "--data-dir", d, "run", "--scanner", "stdin"]);
    r.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    // The camera has run a while before the first order: its clip opens with pre-roll.
    wait_camera_frames(&dir, 40);
    r.scan("UP-1");
    wait_records(&dir, "box 1 opened on both cameras", 2, |r| {
        r["kind"] == "clip_opened" && r["order"] == "UP-1"
    });
    // The waybill is scanned while box 1 is packed.
    r.scan("SF1234567890123");
    packing(1500);
    r.scan("PW-BOX");
    wait_records(&dir, "box 2 opened on both cameras", 2, |r| {
        r["kind"] == "clip_opened" && r["order"] == "UP-1" && r["box"] == 2
    });
    packing(1500);
    r.scan("PW-STOP");
    let sealed = wait_records(&dir, "four clips sealed", 4, |r| {
        r["kind"] == "clip_sealed" && r["order"] == "UP-1"
    });
    let out = r.finish();
    assert!(out.status.success(), "{}", show(&out));

    let export_mp4 = |to: &str, more: &[&str]| {
        let mut args = vec![
            "--config",
            c,
            "--data-dir",
            d,
            "export",
            "UP-1",
            "--mp4",
            to,
        ];
        args.extend(more);
        run(&args)
    };
    // With a cap of 0.5 MB: under it, fast start, every frame decodes.
    let mp4 = tmp.path().join("UP-1.mp4");
    let out = export_mp4(
        mp4.to_str().unwrap(),
        &["--max-mb", "0.5", "--who", "cs-lin"],
    );
    assert!(out.status.success(), "{}", show(&out));
    let bytes = std::fs::read(&mp4).unwrap();
    assert!(
        bytes.len() <= 500_000,
        "{} bytes: {}",
        bytes.len(),
        show(&out)
    );
    let at = |tag: &[u8]| bytes.windows(4).position(|w| w == tag).unwrap();
    assert!(at(b"moov") < at(b"mdat"), "not fast start");
    let (codec, frames, seconds, _) = probe(&mp4);
    assert_eq!(codec, "h264");
    let decoded = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&mp4)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        decoded.status.success() && decoded.stderr.is_empty(),
        "{}",
        show(&decoded)
    );
    // Two cards of 1.5 s and four clips of well over a second each, one after the other.
    assert!(seconds > 3.0 + 4.0, "{seconds} s");
    assert!(
        frames as f64 >= seconds * 25.0 * 0.9,
        "{frames} frames in {seconds} s"
    );

    // Its first frame is the card with the order number.
    starts_with_the_card_of(&mp4, "UP-1");

    // The derivation record: the file's SHA-256, and every clip with the hash it was sealed
    // with, the passthrough camera's stamp burned in from its records.
    let access = wait_record(&dir, "the upload_mp4 record", |r| {
        r["kind"] == "access" && r["action"] == "upload_mp4"
    });
    assert_eq!(access["who"], "cs-lin");
    assert_eq!(access["to"], "UP-1.mp4");
    let derived = &access["derived"];
    assert_eq!(derived["sha256"], sha256_hex(&mp4));
    assert_eq!(derived["size"], bytes.len() as u64);
    let sources = derived["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 4, "{derived}");
    for s in sealed.iter() {
        let src = sources
            .iter()
            .find(|x| x["clip"] == s["clip"])
            .unwrap_or_else(|| panic!("clip {} not in {derived}", s["clip"]));
        assert_eq!(src["sha256"], s["sha256"]);
        assert_eq!(src["burned_in"], s["camera"] == "cam-2", "{src}");
        assert_eq!(src["from_ms"], 0);
    }
    // Box by box: both of box 1's clips before box 2's.
    let opened = manifest(&dir);
    let box_of = |clip: &serde_json::Value| {
        opened.iter().find(|r| r["seq"] == *clip).unwrap()["box"]
            .as_u64()
            .unwrap()
    };
    let boxes: Vec<u64> = sources.iter().map(|s| box_of(&s["clip"])).collect();
    assert_eq!(boxes, [1, 1, 2, 2]);

    // A platform's preset from the config: its cap, only from the scan to the seal.
    let small = tmp.path().join("UP-1-small.mp4");
    let out = export_mp4(small.to_str().unwrap(), &["--preset", "tiny"]);
    assert!(out.status.success(), "{}", show(&out));
    let size = std::fs::metadata(&small).unwrap().len();
    assert!(size <= 300_000, "{size} bytes");
    let rec = manifest(&dir)
        .into_iter()
        .rfind(|r| r["action"] == "upload_mp4")
        .unwrap();
    assert!(
        rec["derived"]["encoder"]
            .as_str()
            .unwrap()
            .contains("from the scan to the seal"),
        "{rec}"
    );
    // Each clip from its scan (box 1 after its pre-roll; box 2 began at its scan), the last
    // box up to the stop code (before its post-roll).
    let ms = |t: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    for s in rec["derived"]["sources"].as_array().unwrap() {
        let o = opened.iter().find(|r| r["seq"] == s["clip"]).unwrap();
        let pre = (ms(&o["scanned_at"]) - ms(&o["started_at"])) as u64;
        assert_eq!(s["from_ms"], pre, "{s} {o}");
        if box_of(&s["clip"]) == 1 {
            assert!(pre > 0, "box 1 has its pre-roll: {o}");
        }
    }
    let stop = opened
        .iter()
        .find(|r| r["kind"] == "scan" && r["code"] == "PW-STOP")
        .unwrap();
    for s in rec["derived"]["sources"].as_array().unwrap() {
        let seal = sealed.iter().find(|x| x["clip"] == s["clip"]).unwrap();
        if box_of(&s["clip"]) == 2 {
            let o = opened.iter().find(|r| r["seq"] == s["clip"]).unwrap();
            let to = (ms(&stop["scanned_at"]) - ms(&o["started_at"])) as u64;
            assert_eq!(s["to_ms"], to, "{s}");
            assert!(to < seal["duration_ms"].as_u64().unwrap(), "{s} {seal}");
        }
    }

    // Refused, with what to do: a length the order does not fit, an unknown preset.
    let out = export_mp4(
        tmp.path().join("x.mp4").to_str().unwrap(),
        &["--max-seconds", "2"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr(&out).contains("over the limit of 2 s") && stderr(&out).contains("--from-scan"),
        "{}",
        show(&out)
    );
    let out = export_mp4(
        tmp.path().join("x.mp4").to_str().unwrap(),
        &["--preset", "taobao"],
    );
    assert!(
        !out.status.success() && stderr(&out).contains("[upload.presets.taobao]"),
        "{}",
        show(&out)
    );
    assert!(!tmp.path().join("x.mp4").exists());

    // The order's bundle cites both records; verify-bundle and verify.sh print them.
    let zip = tmp.path().join("b.zip");
    let out = run(&[
        "--data-dir",
        d,
        "export",
        "UP-1",
        "-o",
        zip.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let key = station_key(&dir);
    let checked = run(&["verify-bundle", zip.to_str().unwrap(), "--key", &key]);
    assert_eq!(checked.status.code(), Some(5), "{}", show(&checked));
    let sha = derived["sha256"].as_str().unwrap();
    assert!(
        stdout(&checked).contains(&format!("MP4 for upload UP-1.mp4: SHA-256 {sha}")),
        "{}",
        show(&checked)
    );
    let u = tmp.path().join("u");
    unzip_to(&zip, &u);
    let sh = std::process::Command::new("bash")
        .arg("verify.sh")
        .arg(&key)
        .current_dir(&u)
        .output()
        .unwrap();
    assert_eq!(sh.status.code(), Some(5), "{}", show(&sh));
    assert!(
        stdout(&sh).contains(&format!("MP4 for upload UP-1.mp4: SHA-256 {sha}")),
        "{}",
        show(&sh)
    );
    let report = std::fs::read_to_string(u.join("report.html")).unwrap();
    assert!(report.contains("MP4s made for upload") && report.contains(sha));
    // The report names the waybill and every code scanned, explains the pre-roll, and gives
    // times in the station's zone and in UTC.
    assert!(report.contains("Waybills: </span>") || report.contains("Waybills: "));
    let waybills = report.split("pw-waybills").nth(1).unwrap_or("");
    assert!(waybills[..waybills.find("</p>").unwrap()].contains("SF1234567890123"));
    assert!(report.contains("Codes scanned for this order"));
    for code in ["UP-1", "PW-BOX", "PW-STOP", "SF1234567890123"] {
        assert!(report.contains(&format!("<code>{code}</code>")), "{code}");
    }
    assert!(report.contains("pre-roll") && report.contains(" UTC)"));
}

/// The first frame of `mp4` is the opening card of `order`: closer to a card that says it
/// than to one that says another order, where the order number is drawn.
fn starts_with_the_card_of(mp4: &Path, order: &str) {
    let (first, w, h) = first_frame_luma(mp4);
    let card = |code: &str| {
        render_card(
            &Card {
                lines: vec![code.to_string()],
            },
            w,
            h,
            &EncodeConfig::default(),
        )
        .unwrap()
    };
    let rows = title_rows(h);
    let same = difference(&first, &card(order), w, rows);
    let other = difference(&first, &card("QX-8"), w, rows);
    assert!(
        same < 3.0 && other > same * 3.0,
        "the first frame against the card of {order}: {same:.2}, against another order's: {other:.2}"
    );
}

/// What the page's fetch of `url` got: base64, with the status and the file name.
const FETCH_FILE: &str = "const done = arguments[arguments.length - 1];
fetch(arguments[0]).then(async (r) => {
  const b = new Uint8Array(await r.arrayBuffer());
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  done({status: r.status, disposition: r.headers.get('content-disposition'), b64: btoa(s)});
}).catch((e) => done({error: String(e)}));";

#[test]
fn an_agent_makes_an_mp4_for_upload_on_the_order_page_and_it_plays() {
    use crate::browser::Browser;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let cfg = tmp.path().join("pw.toml");
    let (mut station, port) = spawn_web_station(
        &dir,
        &cfg,
        "[upload.presets.tiny]
label = \"A small platform\"
max_mb = 1
",
    );
    add_user(&dir, "lin", "agent");
    station.scan("UP-7");
    station.wait_record(&dir, "box 1", |r| {
        r["kind"] == "clip_opened" && r["order"] == "UP-7"
    });
    packing(1500);
    station.scan("PW-BOX");
    station.wait_record(&dir, "box 2", |r| {
        r["kind"] == "clip_opened" && r["order"] == "UP-7" && r["box"] == 2
    });
    packing(1500);
    station.scan("PW-STOP");
    wait_records(&dir, "both boxes sealed", 2, |r| {
        r["kind"] == "clip_sealed" && r["order"] == "UP-7"
    });

    let web = format!("http://127.0.0.1:{port}");
    let b = Browser::start("en-US", 1280, 900);
    b.log_in(&web, "lin");
    b.go(&format!("{web}/order/UP-7"));
    b.wait_js(
        "the upload form with the config's preset",
        "const f = document.querySelector('form.upload'); return !!f && [...f.querySelectorAll('option')].some((o) => o.value === 'tiny' && o.textContent === 'A small platform');",
    );
    b.js(
        "document.querySelector('details.upload-panel').open = true;",
        serde_json::json!([]),
    );
    b.type_into("form.upload input[name=max_mb]", "5");
    b.screenshot("order-upload-form");
    let url = b.js(
        "const f = document.querySelector('form.upload'); return f.getAttribute('action') + '?' + new URLSearchParams(new FormData(f));",
        serde_json::json!([]),
    );
    let url = url.as_str().unwrap().to_string();
    assert!(url.contains("max_mb=5"), "{url}");
    let got = b.js_async(FETCH_FILE, serde_json::json!([url]));
    assert_eq!(got["status"], 200, "{}", got["error"]);
    assert!(
        got["disposition"]
            .as_str()
            .unwrap_or("")
            .contains("UP-7-upload.mp4"),
        "{}",
        got["disposition"]
    );
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(got["b64"].as_str().unwrap())
        .unwrap();
    assert!(bytes.len() <= 5_000_000, "{} bytes", bytes.len());
    let mp4 = tmp.path().join("UP-7-upload.mp4");
    std::fs::write(&mp4, &bytes).unwrap();
    starts_with_the_card_of(&mp4, "UP-7");
    // It plays in the browser, past the opening card: as a file opened on a blank page (the
    // app's own pages allow media from the app only).
    b.go("about:blank");
    b.js(
        "const b = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0)); const v = document.createElement('video'); v.id = 'pw-up'; v.muted = true; v.src = URL.createObjectURL(new Blob([b], {type: 'video/mp4'})); document.body.append(v); v.play();",
        serde_json::json!([got["b64"]]),
    );
    b.wait_js(
        "the MP4 for upload to play",
        "const v = document.getElementById('pw-up'); return v.readyState >= 2 && v.currentTime > 2 && v.videoWidth > 0;",
    );
    // Its derivation, with the agent's name, in the manifest; both boxes in it.
    let rec = wait_record(&dir, "the upload_mp4 record", |r| {
        r["kind"] == "access" && r["action"] == "upload_mp4"
    });
    assert_eq!(rec["who"], "lin");
    assert_eq!(rec["derived"]["sha256"], sha256_hex(&mp4));
    assert_eq!(rec["derived"]["sources"].as_array().unwrap().len(), 2);
    // The order page lists it in the access history, in words.
    b.go(&format!("{web}/order/UP-7"));
    b.wait_js(
        "the access history",
        "return document.body.innerText.includes('MP4 for upload made');",
    );
    drop(b);
    let out = station.finish();
    assert!(out.status.success(), "{}", show(&out));
}
