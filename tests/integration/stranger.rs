//! A stranger's check: `verify.sh KEY` and `verify-bundle --key KEY` with the key the merchant
//! published cannot be fooled by a bundle signed with another key, relabelled to another
//! order, or with records left out; and they accept a checkpoint a witness cosigned.

use crate::common::*;

use std::collections::BTreeMap;
use std::path::Path;

use packwitness::config::Config;
use packwitness::log::note::{NoteVerifier, StationKey};

/// A bundle unzipped into a map of its files.
pub(crate) type Files = BTreeMap<String, Vec<u8>>;

pub(crate) fn read_zip(zip: &Path) -> Files {
    use std::io::Read;
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

pub(crate) fn write_zip(path: &Path, files: &Files) {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in files {
        z.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

/// Re-signs bundle.note over the files as they are now, with `key`: what anyone holding
/// that key can do.
pub(crate) fn resign(files: &mut Files, key: &StationKey) {
    let mut list = String::from("packwitness-bundle v1\n");
    for (name, bytes) in files.iter().filter(|f| f.0 != "bundle.note") {
        list.push_str(&format!(
            "{}  {name}\n",
            packwitness::digest::sha256_hex(bytes)
        ));
    }
    files.insert("bundle.note".into(), key.sign(&list).into_bytes());
}

/// Puts a new checkpoint note in place, in checkpoint.note and inside every proof.
fn replace_checkpoint(files: &mut Files, note: &str) {
    let old = String::from_utf8(files["checkpoint.note"].clone()).unwrap();
    for (name, bytes) in files.iter_mut() {
        if name.starts_with("proofs/") {
            let text = String::from_utf8(bytes.clone()).unwrap();
            *bytes = text.replace(&old, note).into_bytes();
        }
    }
    files.insert("checkpoint.note".into(), note.as_bytes().to_vec());
}

/// The signed text of a note (up to its last blank line).
fn note_body(note: &[u8]) -> String {
    let t = String::from_utf8(note.to_vec()).unwrap();
    let i = t.rfind("\n\n").unwrap();
    t[..i + 1].to_string()
}

fn unzip_to(files: &Files, to: &Path) {
    for (name, bytes) in files {
        let p = to.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

/// verify.sh with `args`, in `files` unzipped; and verify-bundle of them zipped, with `key`.
fn check(
    tmp: &Path,
    tag: &str,
    files: &Files,
    key: &str,
) -> (std::process::Output, std::process::Output) {
    let u = tmp.join(tag);
    unzip_to(files, &u);
    let sh = std::process::Command::new("bash")
        .arg("verify.sh")
        .arg(key)
        .current_dir(&u)
        .output()
        .unwrap();
    let zip = tmp.join(format!("{tag}.zip"));
    write_zip(&zip, files);
    let vb = run(&["verify-bundle", zip.to_str().unwrap(), "--key", key]);
    (sh, vb)
}

struct Case {
    tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    key: String,
    files: Files,
}

fn exported(code: &str) -> Case {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let zip = tmp.path().join("genuine.zip");
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "export",
        code,
        "-o",
        zip.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let key = station_key(&dir);
    let files = read_zip(&zip);
    Case {
        tmp,
        dir,
        key,
        files,
    }
}

fn genuine_key(dir: &Path) -> StationKey {
    StationKey::for_data_dir(dir, &Config::default()).unwrap()
}

#[test]
fn without_the_published_key_nothing_is_said_ok() {
    let c = exported("DEMO-0002");
    let u = c.tmp.path().join("u");
    unzip_to(&c.files, &u);
    let out = std::process::Command::new("bash")
        .arg("verify.sh")
        .current_dir(&u)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert!(stdout(&out).starts_with("NOT VERIFIED"), "{}", show(&out));
    assert!(!stdout(&out).contains("VERIFIED: order"));
    // The key may come from a file the platform keeps. Files and records hold; with no
    // anchor, both say the time is not proven (exit 5), per clip.
    let kf = c.tmp.path().join("merchant.pub");
    std::fs::write(&kf, format!("{}\n", c.key)).unwrap();
    let (sh, vb) = check(c.tmp.path(), "file", &c.files, kf.to_str().unwrap());
    assert_eq!(sh.status.code(), Some(5), "{}", show(&sh));
    assert_eq!(vb.status.code(), Some(5), "{}", show(&vb));
    assert!(
        stdout(&sh).contains("TIME NOT PROVEN: order DEMO-0002"),
        "{}",
        show(&sh)
    );
    assert!(stdout(&vb).starts_with("TIME NOT PROVEN"), "{}", show(&vb));
    for o in [&sh, &vb] {
        assert!(
            stdout(o).contains("time not proven: claims 20")
                && stdout(o).contains("no independent proof that it existed"),
            "{}",
            show(o)
        );
    }
    // The one-line statement is the same in both checks.
    let line = |o: &std::process::Output| {
        stdout(o)
            .lines()
            .find(|l| l.starts_with("recorded between"))
            .map(str::to_string)
    };
    assert!(line(&sh).is_some(), "{}", show(&sh));
    assert_eq!(line(&sh), line(&vb), "{}\n{}", show(&sh), show(&vb));
}

#[test]
fn a_bundle_signed_by_another_key_under_the_genuine_name_fails() {
    let c = exported("DEMO-0002");
    let genuine = NoteVerifier::parse(&c.key).unwrap();
    let forged = StationKey::generate_named(&genuine.name).unwrap();
    let forged_v = NoteVerifier::parse(&forged.verifier()).unwrap();
    // Every note re-signed by the forged key; the genuine key pasted into station.pub and
    // evidence.json (as they are), the forged one in station.pem for openssl.
    let mut f = c.files.clone();
    let cp = forged.sign(&note_body(&f["checkpoint.note"]));
    replace_checkpoint(&mut f, &cp);
    f.insert(
        "station.pem".into(),
        packwitness::export::pem(&forged_v).into_bytes(),
    );
    resign(&mut f, &forged);
    let (sh, vb) = check(c.tmp.path(), "pem", &f, &c.key);
    assert_eq!(sh.status.code(), Some(3), "{}", show(&sh));
    assert!(
        stdout(&sh).contains("station.pem is not the key given"),
        "{}",
        show(&sh)
    );
    assert_eq!(vb.status.code(), Some(3), "{}", show(&vb));
    // With the genuine station.pem, the signatures are not the genuine key's.
    f.insert("station.pem".into(), c.files["station.pem"].clone());
    resign(&mut f, &forged);
    let (sh, vb) = check(c.tmp.path(), "sig", &f, &c.key);
    assert_eq!(sh.status.code(), Some(3), "{}", show(&sh));
    assert!(
        stdout(&sh).contains("bundle.note: no signature by the station key"),
        "{}",
        show(&sh)
    );
    assert_eq!(vb.status.code(), Some(3), "{}", show(&vb));
    // Checked with the forger's key, the bundle's keys are not it.
    let (sh, _) = check(c.tmp.path(), "theirs", &f, &forged.verifier());
    assert!(
        stdout(&sh).contains("station.pub is not the key given"),
        "{}",
        show(&sh)
    );
}

#[test]
fn a_checkpoint_cosigned_by_a_witness_still_verifies() {
    let c = exported("DEMO-0002");
    let station = genuine_key(&c.dir);
    let witness = StationKey::generate_named("witness.example/w1").unwrap();
    // The witness's signature line before and after the station's: both are fine.
    let body = note_body(&c.files["checkpoint.note"]);
    let theirs = witness.sign(&body);
    let theirs = theirs.rsplit_once("\n\n").unwrap().1;
    let ours = String::from_utf8(c.files["checkpoint.note"].clone()).unwrap();
    let ours = ours.rsplit_once("\n\n").unwrap().1;
    for (tag, sigs) in [
        ("after", format!("{ours}{theirs}")),
        ("before", format!("{theirs}{ours}")),
    ] {
        let mut f = c.files.clone();
        replace_checkpoint(&mut f, &format!("{body}\n{sigs}"));
        resign(&mut f, &station);
        let (sh, vb) = check(c.tmp.path(), tag, &f, &c.key);
        assert_eq!(sh.status.code(), Some(5), "{tag}: {}", show(&sh));
        assert!(
            stdout(&sh).contains("TIME NOT PROVEN: order"),
            "{}",
            show(&sh)
        );
        assert_eq!(vb.status.code(), Some(5), "{tag}: {}", show(&vb));
    }
}

#[test]
fn a_relabelled_bundle_fails() {
    let c = exported("DEMO-0002");
    let station = genuine_key(&c.dir);
    let mut f = c.files.clone();
    for name in ["evidence.json", "report.html"] {
        let t = String::from_utf8(f[name].clone()).unwrap();
        f.insert(
            name.into(),
            t.replace("DEMO-0002", "DEMO-0003").into_bytes(),
        );
    }
    resign(&mut f, &station);
    let (sh, vb) = check(c.tmp.path(), "relabel", &f, &c.key);
    assert_eq!(sh.status.code(), Some(3), "{}", show(&sh));
    assert!(
        stdout(&sh).contains("evidence.json says DEMO-0003, but the export"),
        "{}",
        show(&sh)
    );
    assert_eq!(vb.status.code(), Some(3), "{}", show(&vb));
    assert!(stdout(&vb).contains("not of DEMO-0003"), "{}", show(&vb));
    // Relabelled with the access record too (it is in the signed log: its proof fails).
    let acc = f
        .keys()
        .find(|n| {
            n.starts_with("records/")
                && String::from_utf8_lossy(&f[n.as_str()]).contains("\"kind\":\"access\"")
        })
        .unwrap()
        .clone();
    let t = String::from_utf8(f[&acc].clone()).unwrap();
    f.insert(
        acc.clone(),
        t.replace("DEMO-0002", "DEMO-0003").into_bytes(),
    );
    resign(&mut f, &station);
    let (sh, vb) = check(c.tmp.path(), "relabel2", &f, &c.key);
    assert_eq!(sh.status.code(), Some(3), "{}", show(&sh));
    assert!(
        stdout(&sh).contains(&format!("{acc} is not the record")),
        "{}",
        show(&sh)
    );
    assert_eq!(vb.status.code(), Some(3), "{}", show(&vb));
}

/// Takes a record (and its proof) out of the bundle and out of evidence.json, and re-signs.
fn without(c: &Case, kind: &str) -> Files {
    let station = genuine_key(&c.dir);
    let mut f = c.files.clone();
    let rec = f
        .keys()
        .find(|n| {
            n.starts_with("records/")
                && String::from_utf8_lossy(&f[n.as_str()]).contains(&format!("\"kind\":\"{kind}\""))
        })
        .unwrap_or_else(|| panic!("no {kind} record"))
        .clone();
    let line: u64 = rec
        .trim_start_matches("records/line-")
        .trim_end_matches(".jsonl")
        .parse()
        .unwrap();
    f.remove(&rec);
    f.remove(&format!("proofs/line-{line}.tlog-proof"));
    let mut ev: serde_json::Value = serde_json::from_slice(&f["evidence.json"]).unwrap();
    for clip in ev["clips"].as_array_mut().unwrap() {
        clip["records"]
            .as_array_mut()
            .unwrap()
            .retain(|r| r["line"] != line);
        // A clip's pointer to the anchored record before it goes too.
        if clip["anchors"]["anchored_line"] == line {
            clip["anchors"]["anchored_line"] = serde_json::Value::Null;
        }
    }
    if ev["access_line"] == line {
        ev["access_line"] = serde_json::Value::Null;
    }
    f.insert(
        "evidence.json".into(),
        serde_json::to_vec_pretty(&ev).unwrap(),
    );
    resign(&mut f, &station);
    f
}

#[test]
fn a_bundle_with_records_left_out_fails() {
    let c = exported("DEMO-0002");
    for (kind, says) in [
        ("access", "no access record"),
        (
            "clip_opened",
            "whose clip_opened record is not in the bundle",
        ),
        ("clip_sealed", "has no clip_sealed record"),
    ] {
        let f = without(&c, kind);
        let (sh, vb) = check(c.tmp.path(), kind, &f, &c.key);
        assert_eq!(sh.status.code(), Some(3), "{kind}: {}", show(&sh));
        assert!(stdout(&sh).contains(says), "{kind}: {}", show(&sh));
        assert_eq!(vb.status.code(), Some(3), "{kind}: {}", show(&vb));
    }
}

/// The bundle `zip` with its first `kind` record (and that record's proof) taken out and
/// re-signed with the station key of `dir`, written to `out`: what a merchant holding the key
/// can do.
pub(crate) fn strip_and_resign(zip: &Path, dir: &Path, kind: &str, out: &Path) {
    let c = Case {
        tmp: tempfile::tempdir().unwrap(),
        dir: dir.to_owned(),
        key: String::new(),
        files: read_zip(zip),
    };
    write_zip(out, &without(&c, kind));
}

/// Issue 20: what a seal says of frames left out and of the encoder's preset steps reaches
/// the bundle (evidence.json) and its report, and a bundle re-signed with the station key to
/// claim other steps than the proven record's fails.
#[test]
fn preset_steps_reach_the_bundle_and_a_changed_claim_fails() {
    use packwitness::log::{Body, PresetStep};
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    // A clip of real video, sealed with frames left out and a step to superfast.
    let file = "clips/station-1/2026-12-04/STEP-1_cam-1_000900.mp4";
    std::fs::create_dir_all(dir.join(file).parent().unwrap()).unwrap();
    h264_camera_file(&dir.join(file), 1);
    seal_file(&dir, &Config::default(), "station-1", "STEP-1", file, |b| {
        if let Body::ClipSealed {
            dropped_frames,
            presets,
            ended_at,
            ..
        } = b
        {
            *dropped_frames = Some(7);
            presets.push(PresetStep {
                at: ended_at.clone(),
                preset: "superfast".into(),
                why: "1.2 s behind real time, 5 frames left out".into(),
            });
        }
    });
    let zip = tmp.path().join("step.zip");
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "export",
        "STEP-1",
        "-o",
        zip.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let mut files = read_zip(&zip);
    let mut ev: serde_json::Value = serde_json::from_slice(&files["evidence.json"]).unwrap();
    let clip = &ev["clips"][0];
    assert_eq!(clip["dropped_frames"], 7, "{clip}");
    assert_eq!(clip["presets"][0]["preset"], "superfast", "{clip}");
    let report = String::from_utf8_lossy(&files["report.html"]).into_owned();
    assert!(
        report.contains("7 frames left out") && report.contains("preset superfast from"),
        "the report shows neither"
    );
    let key = station_key(&dir);
    let (_, vb) = check(tmp.path(), "genuine", &files, &key);
    assert_eq!(
        vb.status.code(),
        Some(5),
        "time not proven, nothing failed: {}",
        show(&vb)
    );
    // The merchant claims the clip kept its preset throughout: re-signed, it fails.
    ev["clips"][0]["presets"][0]["preset"] = "veryfast".into();
    files.insert(
        "evidence.json".into(),
        serde_json::to_vec_pretty(&ev).unwrap(),
    );
    resign(&mut files, &genuine_key(&dir));
    let (_, vb) = check(tmp.path(), "claimed", &files, &key);
    assert_eq!(vb.status.code(), Some(3), "{}", show(&vb));
    assert!(stdout(&vb).contains("preset steps"), "{}", show(&vb));
}

/// A bundle of test-pattern clips passed off as camera video: evidence.json re-signed to say
/// "not a test pattern" fails, because the clip's proven opening says it is one.
#[test]
fn a_test_pattern_passed_off_as_camera_video_fails() {
    let c = exported("DEMO-0002");
    let mut f = c.files.clone();
    let mut ev: serde_json::Value = serde_json::from_slice(&f["evidence.json"]).unwrap();
    assert_eq!(ev["clips"][0]["test_pattern"], true, "{ev}");
    ev["clips"][0]["test_pattern"] = false.into();
    f.insert(
        "evidence.json".into(),
        serde_json::to_vec_pretty(&ev).unwrap(),
    );
    resign(&mut f, &genuine_key(&c.dir));
    let (_, vb) = check(c.tmp.path(), "hidden", &f, &c.key);
    assert_eq!(vb.status.code(), Some(3), "{}", show(&vb));
    assert!(
        stdout(&vb).contains("is from a test pattern, evidence.json that it is not"),
        "{}",
        show(&vb)
    );
}
