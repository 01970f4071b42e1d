//! `verify` and `lookup` against tampered evidence: every change is found and located.

mod common;
use common::*;

fn verify_json(dir: &std::path::Path) -> (Option<i32>, serde_json::Value) {
    let out = run(&["--data-dir", dir.to_str().unwrap(), "verify", "--json"]);
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
    // Line 5 is the clip_sealed record of DEMO-0002.
    let rec: serde_json::Value = serde_json::from_str(&lines(&dir)[4]).unwrap();
    assert_eq!(rec["kind"], "clip_sealed");
    let file = rec["file"].as_str().unwrap().to_string();
    let path = dir.join(&file);
    let mut bytes = std::fs::read(&path).unwrap();
    let i = bytes.len() * 2 / 3;
    bytes[i] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();

    let (code, v) = verify_json(&dir);
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(v["first_problem"]["line"], 5, "{v}");
    assert_eq!(v["first_problem"]["kind"], "clip_modified", "{v}");
    assert_eq!(v["first_problem"]["file"], file.as_str(), "{v}");
    let text = run(&["--data-dir", dir.to_str().unwrap(), "verify"]);
    assert!(
        stdout(&text).contains("FAILED at manifest line 5"),
        "{}",
        show(&text)
    );
    assert!(stdout(&text).contains(&file), "{}", show(&text));
    // lookup says so too, without failing the lookup itself.
    let out = run(&["--data-dir", dir.to_str().unwrap(), "lookup", "demo-0002"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout(&out).contains("MODIFIED"), "{}", show(&out));

    // A truncated and a missing clip are told apart.
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let (_, v) = verify_json(&dir);
    assert_eq!(v["first_problem"]["kind"], "clip_truncated", "{v}");
    std::fs::remove_file(&path).unwrap();
    let (_, v) = verify_json(&dir);
    assert_eq!(v["first_problem"]["kind"], "clip_missing", "{v}");
    assert_eq!(v["first_problem"]["line"], 5, "{v}");
}

#[test]
fn edited_line_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let mut l = lines(&dir);
    // Re-date the first clip: still valid JSON, still a valid record.
    let started: serde_json::Value = serde_json::from_str(&l[1]).unwrap();
    let old = started["started_at"].as_str().unwrap().to_string();
    let year: i32 = old[..4].parse().unwrap();
    let new = format!("{}{}", year - 1, &old[4..]);
    assert_ne!(old, new);
    l[1] = l[1].replace(&old, &new);
    write_lines(&dir, &l);
    let (code, v) = verify_json(&dir);
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(v["first_problem"]["line"], 2, "{v}");
    assert_eq!(v["first_problem"]["kind"], "line_modified", "{v}");
}

#[test]
fn edited_hash_in_sealed_record_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let mut l = lines(&dir);
    let mut rec: serde_json::Value = serde_json::from_str(&l[2]).unwrap();
    rec["frames"] = serde_json::json!(rec["frames"].as_u64().unwrap() + 30);
    l[2] = serde_json::to_string(&rec).unwrap();
    write_lines(&dir, &l);
    let (_, v) = verify_json(&dir);
    assert_eq!(v["first_problem"]["line"], 3, "{v}");
}

#[test]
fn deleted_line_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let mut l = lines(&dir);
    l.remove(3); // line 4: DEMO-0002 clip_opened
    write_lines(&dir, &l);
    let (code, v) = verify_json(&dir);
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(v["first_problem"]["line"], 4, "{v}");
    assert_eq!(v["first_problem"]["kind"], "lines_missing", "{v}");
    assert!(
        v["first_problem"]["detail"]
            .as_str()
            .unwrap()
            .contains("seq 4..=4"),
        "{v}"
    );
}

#[test]
fn torn_and_garbage_lines_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let mut text = std::fs::read(dir.join("manifest.jsonl")).unwrap();
    text.extend_from_slice(b"{\"v\":1,\"seq\":9,\"pre");
    std::fs::write(dir.join("manifest.jsonl"), &text).unwrap();
    let (code, v) = verify_json(&dir);
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(v["first_problem"]["line"], 9, "{v}");
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
