//! Bad input gets a clear error, and nothing is ever written outside the data dir.

use crate::common::*;

use std::path::Path;

/// Every file below `root`, relative to it.
fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    walk(root, root, &mut out);
    out.sort();
    out
}

#[test]
fn missing_config_file() {
    let out = run(&[
        "--config",
        "/nonexistent/packwitness.toml",
        "--data-dir",
        "/tmp",
        "verify",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = stderr(&out);
    assert!(
        err.contains("cannot read config file /nonexistent/packwitness.toml"),
        "{err}"
    );
}

#[test]
fn unknown_config_key_names_file_line_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(&cfg, "[station]\nid = \"s1\"\n\n[encode]\ncfr = 20\n").unwrap();
    let out = run(&[
        "--config",
        cfg.to_str().unwrap(),
        "demo",
        "--data-dir",
        tmp.path().join("d").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = stderr(&out);
    assert!(err.contains(cfg.to_str().unwrap()), "{err}");
    assert!(err.contains("line 5"), "{err}");
    assert!(err.contains("cfr"), "{err}");
    assert!(
        !tmp.path().join("d").exists(),
        "nothing recorded with a bad config"
    );
}

#[test]
fn invalid_config_values_are_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(&cfg, "[station]\nid = \"../evil\"\n").unwrap();
    let out = run(&[
        "--config",
        cfg.to_str().unwrap(),
        "demo",
        "--data-dir",
        tmp.path().join("d").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr(&out).contains("station.id"), "{}", show(&out));
}

#[test]
fn unusable_data_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    // Missing.
    let missing = tmp.path().join("nope");
    let out = run(&["--data-dir", missing.to_str().unwrap(), "lookup", "A1"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr(&out).contains("does not exist"), "{}", show(&out));
    assert!(!missing.exists(), "lookup must not create a data dir");
    // A file, not a directory: for reading and for recording.
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let out = run(&["--data-dir", file.to_str().unwrap(), "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr(&out).contains("is not a directory"),
        "{}",
        show(&out)
    );
    let out = run(&[
        "--data-dir",
        file.to_str().unwrap(),
        "demo",
        "--clip-seconds",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr(&out).contains("is not a directory"),
        "{}",
        show(&out)
    );
    // A directory without a manifest.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = run(&["--data-dir", empty.to_str().unwrap(), "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr(&out).contains("no manifest.jsonl"), "{}", show(&out));
    // Unreadable (only meaningful when not root: root reads everything).
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| stdout(&o).trim() == "0")
        .unwrap_or(true);
    if !is_root {
        use std::os::unix::fs::PermissionsExt;
        let locked = tmp.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let out = run(&["--data-dir", locked.to_str().unwrap(), "verify"]);
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        assert!(stderr(&out).contains("cannot be read"), "{}", show(&out));
    }
    // No data dir at all.
    let out = run(&["lookup", "A1"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr(&out).contains("no data dir"), "{}", show(&out));
}

#[test]
fn refused_order_codes_record_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let long = "9".repeat(500);
    for (code, expect) in [
        (long.as_str(), "500 characters long"),
        ("A\u{1b}[2J", "control character"),
        ("   ", "empty code"),
    ] {
        let out = run(&[
            "--data-dir",
            dir.to_str().unwrap(),
            "demo",
            "--order",
            code,
            "--clip-seconds",
            "1",
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        assert!(stderr(&out).contains(expect), "{}", show(&out));
        assert!(!dir.exists(), "a refused code must not start a recording");
        let out = run(&[
            "--data-dir",
            crate::common::demo_fixture().to_str().unwrap(),
            "lookup",
            code,
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        assert!(stderr(&out).contains(expect), "{}", show(&out));
    }
}

#[test]
fn codes_no_rule_accepts_record_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    for (code, expect) in [
        ("HELLO WORLD", "matches no rule"),
        ("6901234567892", "product barcode"),
        ("OP-ALICE", "is not an order code"),
    ] {
        let out = run(&[
            "--data-dir",
            dir.to_str().unwrap(),
            "demo",
            "--order",
            code,
            "--clip-seconds",
            "1",
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        assert!(stderr(&out).contains(expect), "{}", show(&out));
        assert!(!dir.exists(), "a refused code must not start a recording");
    }
}

#[test]
fn path_like_order_codes_get_safe_file_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let codes = ["../../escape", "a/b/c", "..", "/abs", "O'Brien %{pts} \\"];
    // The default rules refuse such codes; a merchant's own rule may accept anything.
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("pw.toml");
    std::fs::write(
        &cfg,
        "[[codes.rule]]\nname = \"anything\"\nkind = \"order\"\npattern = '.+'\n",
    )
    .unwrap();
    let mut args = vec![
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "demo",
        "--clip-seconds",
        "1",
    ];
    for c in &codes {
        args.push("--order");
        args.push(c);
    }
    let out = bin().args(&args).current_dir(tmp.path()).output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    // Only the data dir and, beside it, its key were created next to it.
    let mut top: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    top.sort();
    assert_eq!(
        top,
        vec![
            std::ffi::OsString::from("d"),
            std::ffi::OsString::from("d.key")
        ]
    );
    for f in tree(&dir) {
        assert!(
            f.starts_with("clips/station-1/")
                || f.starts_with("tile/0/")
                || [
                    "manifest.jsonl",
                    "index.sqlite3",
                    "index.sqlite3-wal",
                    "index.sqlite3-shm",
                    "packwitness.lock",
                    "index.lock",
                    "ledger.state",
                    "verify.state",
                    "manifest.offsets",
                    "keys/station.key"
                ]
                .contains(&f.as_str()),
            "unexpected file {f}"
        );
        if let Some(name) = f.strip_prefix("clips/station-1/") {
            assert_eq!(name.matches('/').count(), 1, "clip nested too deep: {f}");
        }
    }
    let sealed = sealed(&dir);
    assert_eq!(sealed.len(), codes.len());
    for (rec, code) in sealed.iter().zip(codes) {
        assert_eq!(
            rec["order"],
            code.to_uppercase().replace(' ', ""),
            "the code is kept in the manifest exactly as normalised (inner spaces are not part of it)"
        );
        let out = run(&[
            "--data-dir",
            dir.to_str().unwrap(),
            "lookup",
            code,
            "--json",
        ]);
        assert!(out.status.success(), "{}", show(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v[0]["file_status"], "ok", "{v}");
    }
    assert_verifies(&dir);
}

#[test]
fn lookup_of_unknown_order_exits_1() {
    let out = run(&[
        "--data-dir",
        demo_fixture().to_str().unwrap(),
        "lookup",
        "NO-SUCH-ORDER",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr(&out).contains("no clip found for code \"NO-SUCH-ORDER\""),
        "{}",
        show(&out)
    );
    let out = run(&[
        "--data-dir",
        demo_fixture().to_str().unwrap(),
        "lookup",
        "NO-SUCH-ORDER",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out).trim(), "[]");
}

#[test]
fn a_stamp_the_font_cannot_draw_is_refused_and_chinese_draws_with_the_default() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("zh.toml");
    std::fs::write(
        &cfg,
        "[encode]\nstamp_template = \"订单 {order}  {station} {camera}  {time}\"\nfont_file = \"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf\"\n",
    )
    .unwrap();
    let d = tmp.path().join("d");
    let out = run(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        d.to_str().unwrap(),
        "demo",
        "--clip-seconds",
        "0.5",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr(&out).contains("订 (U+8BA2)") && stderr(&out).contains("单 (U+5355)"),
        "{}",
        show(&out)
    );
    assert!(!d.join("manifest.jsonl").exists(), "nothing recorded");
    // With the default font (fonts-wqy-microhei, installed by .ci/deps) the same stamp records.
    std::fs::write(
        &cfg,
        "[encode]\nstamp_template = \"订单 {order}  {station} {camera}  {time}\"\n",
    )
    .unwrap();
    let out = run(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        d.to_str().unwrap(),
        "demo",
        "--clip-seconds",
        "0.5",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    assert_verifies(&d);
}
