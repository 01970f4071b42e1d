//! Evidence bundles: export -> verify-bundle round trips, the bundle's own bash+openssl
//! checker, tampering with every file, stills, holds, exports while a station records, and
//! bad input.

use crate::common::*;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use packwitness::clock::RealClock;
use packwitness::config::Config;
use packwitness::recorder::Writer;

fn export(dir: &Path, code: &str, out: &Path) -> std::process::Output {
    run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "export",
        code,
        "-o",
        out.to_str().unwrap(),
        "--who",
        "cs-agent-7",
    ])
}

/// Checks a bundle with the station key of `dir`, as a platform that got it beforehand would.
fn verify_bundle(zip: &Path, key: &str) -> (Option<i32>, serde_json::Value) {
    let out = run(&[
        "verify-bundle",
        zip.to_str().unwrap(),
        "--json",
        "--key",
        key,
    ]);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)));
    (out.status.code(), v)
}

/// Every entry of a zip: (name, bytes, unix mode).
fn entries(zip: &Path) -> Vec<(String, Vec<u8>)> {
    let mut a = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    (0..a.len())
        .map(|i| {
            let mut f = a.by_index(i).unwrap();
            let mut b = Vec::new();
            f.read_to_end(&mut b).unwrap();
            (f.name().unwrap().into_owned(), b)
        })
        .collect()
}

fn write_zip(path: &Path, files: &[(String, Vec<u8>)]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in files {
        z.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

fn verify_sh(dir: &Path, key: &str) -> std::process::Output {
    std::process::Command::new("bash")
        .arg("verify.sh")
        .arg(key)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn bundle_round_trip_and_the_documented_steps_work() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let zip = tmp.path().join("DEMO-0002.zip");
    let out = export(&dir, " demo-0002 ", &zip);
    assert!(out.status.success(), "{}", show(&out));
    let (code, v) = verify_bundle(&zip, &station_key(&dir));
    // Files and records hold; with no time-stamp or witness the clip's time rests on the
    // station's clock: TIME NOT PROVEN, said per clip.
    assert_eq!(code, Some(5), "{v}");
    assert_eq!(v["verdict"], "TIME NOT PROVEN", "{v}");
    assert!(
        v["report"]["times"][0]
            .as_str()
            .unwrap()
            .contains("time not proven: claims"),
        "{v}"
    );
    assert_eq!(v["report"]["clips_ok"], 1, "{v}");
    // A reviewer who gives a TSA's certificates gets no more from a log that was never
    // anchored: still TIME NOT PROVEN.
    let ca_dir = tmp.path().join("ca");
    crate::anchor::make_tsa(&ca_dir);
    let out = run(&[
        "verify-bundle",
        zip.to_str().unwrap(),
        "--key",
        &station_key(&dir),
        "--tsa-ca",
        ca_dir.join("ca.pem").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", show(&out));
    assert!(
        stdout(&out).contains("not anchored outside the station")
            && stdout(&out).contains("no independent proof that it existed"),
        "{}",
        show(&out)
    );
    // clip_opened (saying whether its source is a test pattern), clip_sealed, the export's
    // own access record and the order's scan; not the station's start.
    assert_eq!(v["report"]["records_proven"], 4, "{v}");

    // The export is in the manifest, and the manifest still verifies.
    let access: Vec<_> = manifest(&dir)
        .into_iter()
        .filter(|r| r["kind"] == "access")
        .collect();
    assert_eq!(access.len(), 1);
    assert_eq!(access[0]["who"], "cs-agent-7");
    assert_eq!(access[0]["code"], "DEMO-0002");
    assert_eq!(access[0]["to"], "DEMO-0002.zip");
    assert_verifies(&dir);
    // Lookup shows who exported the clip.
    let table = run(&["--data-dir", dir.to_str().unwrap(), "lookup", "DEMO-0002"]);
    assert!(
        stdout(&table).contains("access    export by cs-agent-7 at "),
        "{}",
        show(&table)
    );

    // The bundle's evidence.json and its clip are the recorded ones.
    let files = entries(&zip);
    let get = |n: &str| &files.iter().find(|f| f.0 == n).unwrap().1;
    let ev: serde_json::Value = serde_json::from_slice(get("evidence.json")).unwrap();
    let sealed = sealed(&dir)
        .into_iter()
        .find(|r| r["order"] == "DEMO-0002")
        .unwrap();
    assert_eq!(ev["clips"][0]["sha256"], sealed["sha256"]);
    // The demo records a test pattern: the bundle says so, from the clip's proven opening;
    // the station's start (every source, the config's hash) stays on the station, and the
    // clip's group tells neither when the station started nor how many orders came before.
    assert_eq!(ev["clips"][0]["test_pattern"], true, "{ev}");
    assert_eq!(ev["clips"][0]["records"][0]["kind"], "clip_opened", "{ev}");
    let opening: serde_json::Value = serde_json::from_slice(get(ev["clips"][0]["records"][0]
        ["record"]
        .as_str()
        .unwrap()))
    .unwrap();
    assert_eq!(opening["test_pattern"], true, "{opening}");
    let group = opening["group"].as_str().unwrap();
    assert!(
        group.len() == 16 && group.bytes().all(|c| c.is_ascii_hexdigit()),
        "{group}"
    );
    for (name, bytes) in &files {
        if name.starts_with("records/") {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.contains("station_start") && !text.contains("config_sha256"),
                "{name}: {text}"
            );
        }
    }
    let clip_name = ev["clips"][0]["file"].as_str().unwrap();
    assert_eq!(
        get(clip_name),
        &std::fs::read(dir.join(sealed["file"].as_str().unwrap())).unwrap()
    );
    // The report is self-contained.
    let html = String::from_utf8(get("report.html").clone()).unwrap();
    assert!(html.contains("data:image/jpeg;base64,"));
    assert!(!html.contains("src=\"http") && !html.contains("<link"));
    assert!(html.contains(sealed["sha256"].as_str().unwrap()));
    assert!(html.contains("TEST PATTERN: not evidence"));

    // The documented checks, with bash, coreutils and openssl only.
    let u = tmp.path().join("unzipped");
    unzip_to(&zip, &u);
    let out = verify_sh(&u, &station_key(&dir));
    assert_eq!(out.status.code(), Some(5), "{}", show(&out));
    assert!(
        stdout(&out).contains("TIME NOT PROVEN: order DEMO-0002, 1 clips, 4 records")
            && stdout(&out).contains("time not proven: claims"),
        "{}",
        show(&out)
    );
    // The commands the report lists, in either language (the same commands, the comments
    // translated), run as a reviewer would paste them (in a copy: they leave files behind),
    // with the published key.
    for lang in ["en", "zh"] {
        let manual = html
            .split_once(&format!("<pre class=\"{lang}\">"))
            .and_then(|(_, r)| r.split_once("</pre>"))
            .unwrap()
            .0
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
            .replace("KEY='name+id+key'", &format!("KEY='{}'", station_key(&dir)));
        let u2 = tmp.path().join(format!("by-hand-{lang}"));
        unzip_to(&zip, &u2);
        let o = std::process::Command::new("bash")
            .args(["-e", "-c", &manual])
            .current_dir(&u2)
            .output()
            .unwrap();
        assert!(o.status.success(), "{manual}\n{}", show(&o));
        assert!(
            stdout(&o).contains("Signature Verified Successfully")
                && stdout(&o).contains(&format!("{clip_name}: OK")),
            "{}",
            show(&o)
        );
    }
    // A changed clip and a changed record fail the script, naming them.
    let clip = u.join(clip_name);
    let mut b = std::fs::read(&clip).unwrap();
    let i = b.len() / 2;
    b[i] ^= 1;
    std::fs::write(&clip, b).unwrap();
    let out = verify_sh(&u, &station_key(&dir));
    assert!(!out.status.success());
    assert!(stdout(&out).contains(clip_name), "{}", show(&out));
}

#[test]
fn any_changed_added_or_removed_file_fails_and_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let zip = tmp.path().join("b.zip");
    let out = export(&dir, "DEMO-0001", &zip);
    assert!(out.status.success(), "{}", show(&out));
    let files = entries(&zip);
    assert!(
        files.len() >= 14,
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (k, (name, bytes)) in files.iter().enumerate() {
        let mut changed = files.clone();
        let mut b = bytes.clone();
        let i = b.len() / 3;
        b[i] ^= 0x20;
        changed[k].1 = b;
        let bad = tmp.path().join(format!("bad{k}.zip"));
        write_zip(&bad, &changed);
        let (code, v) = verify_bundle(&bad, &station_key(&dir));
        assert_eq!(code, Some(3), "{name}: {v}");
        let named = v["report"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["file"] == name.as_str());
        // A changed evidence.json may stop short of naming a file (it is parsed first).
        assert!(
            named || name == "evidence.json" || name == "station.pub",
            "{name}: {v}"
        );
    }
    // A file slipped in, and one taken out.
    let mut more = files.clone();
    more.push(("clips/extra.mp4".into(), b"not evidence".to_vec()));
    let bad = tmp.path().join("more.zip");
    write_zip(&bad, &more);
    let (code, v) = verify_bundle(&bad, &station_key(&dir));
    assert_eq!(code, Some(3));
    assert_eq!(v["report"]["problems"][0]["file"], "clips/extra.mp4", "{v}");
    let fewer: Vec<_> = files
        .iter()
        .filter(|f| !f.0.starts_with("proofs/"))
        .cloned()
        .collect();
    let bad = tmp.path().join("fewer.zip");
    write_zip(&bad, &fewer);
    let (code, v) = verify_bundle(&bad, &station_key(&dir));
    assert_eq!(code, Some(3), "{v}");
    // Output into a pipe nobody reads any more (`| head -1` gone): the verdict's exit code
    // all the same, for the forged bundle and for the genuine one.
    for (zip, want) in [(&bad, 3), (&zip, 5)] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_packwitness"))
            .args([
                "verify-bundle",
                zip.to_str().unwrap(),
                "--key",
                &station_key(&dir),
            ])
            .env_remove("PACKWITNESS_CONFIG")
            .stdout(writer)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(want), "{}", zip.display());
    }
    // A key other than the station's is refused.
    let other = run(&["--data-dir", tmp.path().join("k").to_str().unwrap(), "key"]);
    let out = run(&[
        "verify-bundle",
        zip.to_str().unwrap(),
        "--key",
        stdout(&other).trim(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
}

#[test]
fn stills_are_the_first_and_last_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let zip = tmp.path().join("b.zip");
    assert!(export(&dir, "DEMO-0003", &zip).status.success());
    let u = tmp.path().join("u");
    unzip_to(&zip, &u);
    let ev: serde_json::Value =
        serde_json::from_slice(&std::fs::read(u.join("evidence.json")).unwrap()).unwrap();
    let c = &ev["clips"][0];
    let clip = u.join(c["file"].as_str().unwrap());
    let frames = c["frames"].as_u64().unwrap();
    let still_start = u.join(c["still_start"].as_str().unwrap());
    let still_end = u.join(c["still_end"].as_str().unwrap());
    let first = gray_frame(&["-i", clip.to_str().unwrap()], 0);
    let last = gray_frame(&["-i", clip.to_str().unwrap()], frames - 1);
    let before_last = gray_frame(&["-i", clip.to_str().unwrap()], frames - 5);
    let s = gray_frame(&["-i", still_start.to_str().unwrap()], 0);
    let e = gray_frame(&["-i", still_end.to_str().unwrap()], 0);
    let full = |a: &[u8], b: &[u8]| mean_diff(a, b, 1280, 0, 0, 1280, 720);
    assert!(full(&s, &first) < 3.0, "start still is the first frame");
    assert!(full(&e, &last) < 3.0, "end still is the last frame");
    assert!(
        full(&e, &last) < full(&e, &before_last),
        "and not an earlier one"
    );
}

#[test]
fn pruned_clips_export_their_proofs_and_holds_stop_pruning() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let d = dir.to_str().unwrap();
    let clip_of = |order: &str| {
        sealed(&dir)
            .into_iter()
            .find(|r| r["order"] == order)
            .unwrap()["clip"]
            .as_u64()
            .unwrap()
    };
    let (one, two) = (clip_of("DEMO-0001"), clip_of("DEMO-0002"));
    // A hold stops retention; releasing it lets retention go on.
    let out = run(&[
        "--data-dir",
        d,
        "hold",
        "demo-0001",
        "--reason",
        "dispute 4711",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let table = run(&["--data-dir", d, "lookup", "DEMO-0001"]);
    assert!(
        stdout(&table).contains("under legal hold"),
        "{}",
        show(&table)
    );
    {
        let mut ev = Writer::open(&dir, &Config::default(), RealClock::shared()).unwrap();
        let err = ev.prune(one, "retention").err().unwrap().to_string();
        assert!(err.contains("legal hold"), "{err}");
        ev.prune(two, "retention").unwrap();
    }
    let out = run(&["--data-dir", d, "hold", "DEMO-0001", "--release"]);
    assert!(out.status.success(), "{}", show(&out));
    {
        let mut ev = Writer::open(&dir, &Config::default(), RealClock::shared()).unwrap();
        ev.prune(one, "retention").unwrap();
    }
    // The pruned clip's bundle has no video, says so, and still proves its records.
    let zip = tmp.path().join("p.zip");
    let out = export(&dir, "DEMO-0002", &zip);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout(&out).contains("pruned by retention"),
        "{}",
        show(&out)
    );
    let (code, v) = verify_bundle(&zip, &station_key(&dir));
    assert_eq!(code, Some(5), "{v}");
    assert_eq!(v["report"]["clips_pruned"], 1, "{v}");
    assert_eq!(v["report"]["clips_ok"], 0, "{v}");
    let m = manifest(&dir);
    let holds: Vec<_> = m.iter().filter(|r| r["kind"] == "hold").collect();
    assert_eq!(holds.len(), 2);
    assert_eq!(holds[0]["reason"], "dispute 4711");
    assert_eq!(holds[1]["released"], true);
}

#[test]
fn bad_export_requests_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let d = dir.to_str().unwrap();
    let zip = tmp.path().join("x.zip");
    let out = export(&dir, "DEMO-9", &zip);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr(&out).contains("no clip found for code \"DEMO-9\""),
        "{}",
        show(&out)
    );
    assert!(
        stderr(&out).contains("DEMO-0001"),
        "suggestions: {}",
        show(&out)
    );
    let out = export(&dir, "DEMO-*", &zip);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr(&out).contains("wildcard"), "{}", show(&out));
    let out = export(&dir, "DEMO-0001", &tmp.path().join("no/such/dir/x.zip"));
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr(&out).contains("does not exist"), "{}", show(&out));
    assert!(!zip.exists());
    // Nothing was exported, so nothing was logged.
    assert!(manifest(&dir).iter().all(|r| r["kind"] != "access"));
    let out = run(&[
        "verify-bundle",
        tmp.path().join("missing.zip").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    std::fs::write(tmp.path().join("junk.zip"), b"PK junk").unwrap();
    let out = run(&[
        "verify-bundle",
        tmp.path().join("junk.zip").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr(&out).contains("not a zip"), "{}", show(&out));
    let _ = d;
}

#[test]
fn export_by_waybill_while_the_station_is_recording() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let mut r = spawn_station(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--source",
        "testsrc",
        "--scanner",
        "stdin",
    ]);
    r.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    r.scan("SO-1");
    r.scan("SF1234567890123");
    r.wait_record(&dir, "the waybill attached", |r| {
        r["kind"] == "code_attached"
    });
    packing(1500);
    r.scan("SO-2"); // SO-1 is sealed; SO-2 keeps recording during the export
    r.wait_record(&dir, "SO-1 sealed", |r| {
        r["kind"] == "clip_sealed" && r["order"] == "SO-1"
    });
    // The recorder holds the data dir: the export's record goes through its socket.
    let zip: PathBuf = tmp.path().join("waybill.zip");
    let out = export(&dir, "sf1234567890123", &zip);
    assert!(out.status.success(), "{}", show(&out));
    let (code, v) = verify_bundle(&zip, &station_key(&dir));
    assert_eq!(code, Some(5), "{v}");
    // opened, attached waybill, sealed, the access record and the order's two scans (the
    // order, the waybill).
    assert_eq!(v["report"]["records_proven"], 6, "{v}");
    let out = r.finish();
    assert!(out.status.success(), "{}", show(&out));
    let access: Vec<_> = manifest(&dir)
        .into_iter()
        .filter(|r| r["kind"] == "access")
        .collect();
    assert_eq!(access.len(), 1);
    assert_eq!(access[0]["code"], "SF1234567890123");
    assert!(
        !dir.join("spool").exists(),
        "records reach the recorder through its socket"
    );
    assert_verifies(&dir);
}

#[test]
fn burn_in_adds_a_stamped_copy_of_passthrough_clips() {
    let tmp = tempfile::tempdir().unwrap();
    // A "camera" that sends H.264: recorded in passthrough, the stamp goes to a text track.
    let cam = tmp.path().join("cam.mp4");
    h264_camera_file(&cam, 8);
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[camera]]\nid = \"cam-1\"\nsource = \"{}\"\nmode = \"passthrough\"\nrealtime = true\n",
            cam.display()
        ),
    )
    .unwrap();
    let dir = tmp.path().join("d");
    let mut r = spawn_station(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--scanner",
        "stdin",
    ]);
    r.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    r.scan("PT-1");
    r.wait_record(&dir, "PT-1 opened", |r| r["kind"] == "clip_opened");
    packing(3000);
    r.scan("PW-STOP");
    r.wait_record(&dir, "PT-1 sealed", |r| r["kind"] == "clip_sealed");
    let out = r.finish();
    assert!(out.status.success(), "{}", show(&out));

    let zip = tmp.path().join("pt.zip");
    let out = run(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "export",
        "PT-1",
        "-o",
        zip.to_str().unwrap(),
        "--burn-in",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout(&out).contains("burned in"), "{}", show(&out));
    let (code, v) = verify_bundle(&zip, &station_key(&dir));
    assert_eq!(code, Some(5), "{v}");
    let u = tmp.path().join("u");
    unzip_to(&zip, &u);
    let ev: serde_json::Value =
        serde_json::from_slice(&std::fs::read(u.join("evidence.json")).unwrap()).unwrap();
    let c = &ev["clips"][0];
    let original = u.join(c["file"].as_str().unwrap());
    let burned = u.join(c["burned_in"].as_str().unwrap());
    // Same frames; the burned copy differs from the original where the stamp is (bottom
    // left) and not in the middle of the picture.
    let (_, frames_o, _, _) = probe(&original);
    let (codec, frames_b, _, _) = probe(&burned);
    assert_eq!(codec, "h264");
    assert_eq!(frames_o, frames_b);
    let a = gray_frame(&["-i", original.to_str().unwrap()], 10);
    let b = gray_frame(&["-i", burned.to_str().unwrap()], 10);
    let stamp = mean_diff(&a, &b, 1280, 0, 680, 640, 715);
    let middle = mean_diff(&a, &b, 1280, 400, 300, 880, 420);
    assert!(
        stamp > 10.0 && stamp > 4.0 * middle,
        "stamp {stamp}, middle {middle}"
    );
    // And the bundle's own checker covers the copy too (files and records hold; no anchor).
    let out = verify_sh(&u, &station_key(&dir));
    assert_eq!(out.status.code(), Some(5), "{}", show(&out));
}
