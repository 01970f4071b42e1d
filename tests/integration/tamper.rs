//! `verify` and `lookup` against tampered evidence: every change is found and located.

use crate::common::*;

fn verify_json(dir: &std::path::Path) -> (Option<i32>, serde_json::Value) {
    // --full: these tests change clips that an earlier verify (the demo's) already hashed.
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "verify",
        "--json",
        "--full",
    ]);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)));
    (out.status.code(), v)
}

fn lines(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

/// Index (0-based) of the first manifest line of `kind` (and of `order`, if given).
fn find(lines: &[String], kind: &str, order: Option<&str>) -> usize {
    lines
        .iter()
        .position(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["kind"] == kind && order.is_none_or(|o| v["order"] == o)
        })
        .unwrap_or_else(|| panic!("no {kind} line for {order:?}"))
}

fn write_lines(dir: &std::path::Path, lines: &[String]) {
    std::fs::write(dir.join("manifest.jsonl"), lines.join("\n") + "\n").unwrap();
}

#[test]
fn untouched_demo_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let (code, v) = verify_json(&dir);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["ok"], true);
    assert_eq!(v["report"]["clips_ok"], 3);
}

#[test]
fn flipped_clip_byte_names_the_sealed_line_and_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    // The clip_sealed record of DEMO-0002.
    let l = lines(&dir);
    let at = find(&l, "clip_sealed", Some("DEMO-0002"));
    let n = at as u64 + 1;
    let rec: serde_json::Value = serde_json::from_str(&l[at]).unwrap();
    assert_eq!(rec["kind"], "clip_sealed");
    let file = rec["file"].as_str().unwrap().to_string();
    let path = dir.join(&file);
    let mut bytes = std::fs::read(&path).unwrap();
    let i = bytes.len() * 2 / 3;
    bytes[i] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();

    let (code, v) = verify_json(&dir);
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(v["first_problem"]["line"], n, "{v}");
    assert_eq!(v["first_problem"]["kind"], "clip_modified", "{v}");
    assert_eq!(v["first_problem"]["file"], file.as_str(), "{v}");
    let text = run(&["--data-dir", dir.to_str().unwrap(), "verify", "--full"]);
    assert!(
        stdout(&text).contains(&format!("FAILED at manifest line {n}")),
        "{}",
        show(&text)
    );
    assert!(stdout(&text).contains(&file), "{}", show(&text));
    // A plain lookup compares sizes only (and says it did not hash); `lookup --check`
    // re-hashes and says so, without failing the lookup itself.
    let out = run(&["--data-dir", dir.to_str().unwrap(), "lookup", "demo-0002"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout(&out).contains("not re-hashed"), "{}", show(&out));
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "lookup",
        "demo-0002",
        "--check",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout(&out).contains("MODIFIED"), "{}", show(&out));

    // A truncated and a missing clip are told apart.
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let (_, v) = verify_json(&dir);
    assert_eq!(v["first_problem"]["kind"], "clip_truncated", "{v}");
    std::fs::remove_file(&path).unwrap();
    let (_, v) = verify_json(&dir);
    assert_eq!(v["first_problem"]["kind"], "clip_missing", "{v}");
    assert_eq!(v["first_problem"]["line"], n, "{v}");
}

#[test]
fn edited_line_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let mut l = lines(&dir);
    // Re-date the first clip: still valid JSON, still a valid record.
    let at = find(&l, "clip_opened", None);
    let started: serde_json::Value = serde_json::from_str(&l[at]).unwrap();
    let old = started["started_at"].as_str().unwrap().to_string();
    let year: i32 = old[..4].parse().unwrap();
    let new = format!("{}{}", year - 1, &old[4..]);
    assert_ne!(old, new);
    l[at] = l[at].replace(&old, &new);
    write_lines(&dir, &l);
    let (code, v) = verify_json(&dir);
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(v["first_problem"]["line"], at as u64 + 1, "{v}");
    assert_eq!(v["first_problem"]["kind"], "line_modified", "{v}");
}

#[test]
fn edited_hash_in_sealed_record_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let mut l = lines(&dir);
    let at = find(&l, "clip_sealed", None);
    let mut rec: serde_json::Value = serde_json::from_str(&l[at]).unwrap();
    rec["frames"] = serde_json::json!(rec["frames"].as_u64().unwrap() + 30);
    l[at] = serde_json::to_string(&rec).unwrap();
    write_lines(&dir, &l);
    let (_, v) = verify_json(&dir);
    assert_eq!(v["first_problem"]["line"], at as u64 + 1, "{v}");
}

#[test]
fn deleted_line_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let mut l = lines(&dir);
    let at = find(&l, "clip_opened", Some("DEMO-0002"));
    let n = at + 1;
    l.remove(at);
    write_lines(&dir, &l);
    let (code, v) = verify_json(&dir);
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(v["first_problem"]["line"], n as u64, "{v}");
    assert_eq!(v["first_problem"]["kind"], "lines_missing", "{v}");
    assert!(
        v["first_problem"]["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("seq {n}..={n}")),
        "{v}"
    );
}

#[test]
fn torn_and_garbage_lines_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let mut text = std::fs::read(dir.join("manifest.jsonl")).unwrap();
    let whole = text.iter().filter(|&&b| b == b'\n').count() as u64;
    text.extend_from_slice(b"{\"v\":1,\"seq\":9,\"pre");
    std::fs::write(dir.join("manifest.jsonl"), &text).unwrap();
    let (code, v) = verify_json(&dir);
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(v["first_problem"]["line"], whole + 1, "{v}");
    assert_eq!(v["first_problem"]["kind"], "torn_line", "{v}");

    let mut l = lines(&dir);
    l.pop();
    l[5] = "not json at all".into();
    write_lines(&dir, &l);
    let (_, v) = verify_json(&dir);
    assert_eq!(v["first_problem"]["line"], 6, "{v}");
    assert_eq!(v["first_problem"]["kind"], "malformed", "{v}");
}

#[test]
fn index_is_rebuilt_from_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    for f in ["index.sqlite3", "index.sqlite3-wal", "index.sqlite3-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "lookup",
        "DEMO-0003",
        "--json",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    let rec = &sealed(&dir)[2];
    for key in [
        "order",
        "file",
        "sha256",
        "started_at",
        "ended_at",
        "frames",
        "duration_ms",
        "camera",
        "station",
    ] {
        assert_eq!(rows[0][key], rec[key], "{key}");
    }
    assert_eq!(rows[0]["file_status"], "ok");
}

/// 1,000 seeded random bit flips across the clips and the manifest: every one is detected, and
/// the first problem names the line (and for a clip, the file) that was changed.
#[test]
fn a_thousand_random_flips_are_all_found_and_located() {
    use packwitness::verify::{verify, VerifyOptions};
    let trials: u64 = std::env::var("PACKWITNESS_FLIP_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let manifest_path = dir.join("manifest.jsonl");
    let manifest = std::fs::read(&manifest_path).unwrap();
    // Byte ranges of each manifest line (1-based line numbers).
    let mut line_of = Vec::new();
    let mut n = 1u64;
    for &b in &manifest {
        line_of.push(n);
        if b == b'\n' {
            n += 1;
        }
    }
    let clips: Vec<(u64, String)> = lines(&dir)
        .iter()
        .filter_map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).ok()?;
            (r["kind"] == "clip_sealed").then(|| {
                (
                    r["seq"].as_u64().unwrap(),
                    r["file"].as_str().unwrap().to_string(),
                )
            })
        })
        .collect();
    let clip_bytes: Vec<Vec<u8>> = clips
        .iter()
        .map(|(_, f)| std::fs::read(dir.join(f)).unwrap())
        .collect();
    let total_clip: usize = clip_bytes.iter().map(Vec::len).sum();
    let mut state = 0x5eed_u64;
    let mut rand = |below: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % below
    };
    let opts = VerifyOptions {
        full: true,
        ..VerifyOptions::default()
    };
    assert!(verify(&dir, &opts).unwrap().ok());
    for t in 0..trials {
        let bit = 1u8 << rand(8);
        // Half the flips in the manifest (small, but it is what holds everything together).
        if t % 2 == 0 {
            let at = rand(manifest.len());
            let mut m = manifest.clone();
            m[at] ^= bit;
            std::fs::write(&manifest_path, &m).unwrap();
            let report = verify(&dir, &opts).unwrap();
            std::fs::write(&manifest_path, &manifest).unwrap();
            let first = report.first_problem().unwrap_or_else(|| {
                panic!("flip {t}: manifest byte {at} bit {bit:#x} not detected")
            });
            assert_eq!(
                first.line, line_of[at],
                "flip {t}: manifest byte {at} (line {}) bit {bit:#x}: {first:?}",
                line_of[at]
            );
        } else {
            let mut at = rand(total_clip);
            let mut i = 0;
            while at >= clip_bytes[i].len() {
                at -= clip_bytes[i].len();
                i += 1;
            }
            let path = dir.join(&clips[i].1);
            let mut b = clip_bytes[i].clone();
            b[at] ^= bit;
            std::fs::write(&path, &b).unwrap();
            let report = verify(&dir, &opts).unwrap();
            std::fs::write(&path, &clip_bytes[i]).unwrap();
            let first = report
                .first_problem()
                .unwrap_or_else(|| panic!("flip {t}: {} byte {at} not detected", clips[i].1));
            assert_eq!(
                (first.line, first.file.as_deref()),
                (clips[i].0, Some(clips[i].1.as_str())),
                "flip {t}: {first:?}"
            );
            assert_eq!(first.kind, packwitness::verify::ProblemKind::ClipModified);
            // The fragment list narrows it down to the piece holding the changed byte.
            let range = first
                .detail
                .split("in bytes ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .unwrap_or_else(|| panic!("flip {t}: no byte range in {:?}", first.detail));
            let (lo, hi) = range.split_once("..").unwrap();
            let (lo, hi): (usize, usize) = (lo.parse().unwrap(), hi.parse().unwrap());
            assert!(
                lo <= at && at < hi,
                "flip {t}: byte {at} outside the reported range {lo}..{hi}"
            );
            assert!(
                hi - lo < clip_bytes[i].len(),
                "the range is smaller than the whole file"
            );
        }
    }
    assert!(
        verify(&dir, &opts).unwrap().ok(),
        "restored data verifies again"
    );
}

#[test]
fn extra_files_and_bad_signatures_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let extra = dir.join("clips/station-1/planted.mp4");
    std::fs::write(&extra, b"not evidence").unwrap();
    let (code, v) = verify_json(&dir);
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(v["first_problem"]["kind"], "extra_file", "{v}");
    assert_eq!(
        v["first_problem"]["file"], "clips/station-1/planted.mp4",
        "{v}"
    );
    std::fs::remove_file(&extra).unwrap();
    // Pinning another key makes every checkpoint fail.
    let other = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "verify",
        "--json",
        "--key",
        other,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["first_problem"]["kind"], "bad_signature", "{v}");
    // The right key passes, and --quick checks sizes only.
    let key = run(&["--data-dir", dir.to_str().unwrap(), "key"]);
    let key = stdout(&key).trim().to_string();
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "verify",
        "--key",
        &key,
        "--quick",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout(&out).contains("--quick: not hashed"),
        "{}",
        show(&out)
    );
}

#[test]
fn a_changed_fragment_list_is_found_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let l = lines(&dir);
    let at = find(&l, "clip_sealed", Some("DEMO-0001"));
    let rec: serde_json::Value = serde_json::from_str(&l[at]).unwrap();
    let list = dir.join(format!("{}.fragments", rec["file"].as_str().unwrap()));
    let mut bytes = std::fs::read(&list).unwrap();
    // A digit of a piece's SHA-256 (the last field of the second line).
    let second = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let i = second + bytes[second..].iter().position(|&b| b == b'\n').unwrap() - 3;
    bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
    std::fs::write(&list, &bytes).unwrap();
    let (code, v) = verify_json(&dir);
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(v["first_problem"]["kind"], "fragments_modified", "{v}");
    assert_eq!(v["first_problem"]["line"], at as u64 + 1, "{v}");
    // A list that is gone is named too.
    std::fs::remove_file(&list).unwrap();
    let (_, v) = verify_json(&dir);
    assert_eq!(v["first_problem"]["kind"], "fragments_modified", "{v}");
    assert!(
        v["first_problem"]["detail"]
            .as_str()
            .unwrap()
            .contains("missing"),
        "{v}"
    );
}
