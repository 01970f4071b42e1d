//! Record kinds beyond the recording path: codes attached to a clip, and clips pruned by
//! retention (their records stay provable; verify reports them as pruned, not missing).

use crate::common::*;

use packwitness::clock::RealClock;
use packwitness::config::Config;
use packwitness::log::Body;
use packwitness::recorder::Writer;

#[test]
fn attached_codes_and_pruned_clips() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let d = dir.to_str().unwrap();
    let sealed_before = sealed(&dir);
    let pruned_file = sealed_before[1]["file"].as_str().unwrap().to_string();
    {
        let mut ev = Writer::open(&dir, &Config::default(), RealClock::shared()).unwrap();
        let first = sealed_before[0]["clip"].as_u64().unwrap();
        let second = sealed_before[1]["clip"].as_u64().unwrap();
        ev.append(Body::CodeAttached {
            clip: first,
            code: "SF1234567890123".into(),
            code_kind: "tracking".into(),
        })
        .unwrap();
        ev.prune(second, "retention: older than 90 days").unwrap();
        assert!(ev.prune(second, "again").is_err(), "a clip is pruned once");
        assert!(
            ev.prune(999, "nothing").is_err(),
            "unknown clips are refused"
        );
        ev.checkpoint().unwrap();
    }
    assert!(!dir.join(&pruned_file).exists());
    assert!(!dir.join(format!("{pruned_file}.fragments")).exists());

    // Lookup by the attached tracking number finds the clip of DEMO-0001.
    let out = run(&["--data-dir", d, "lookup", "sf1234567890123", "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["order"], "DEMO-0001", "{v}");

    // The pruned clip is reported as pruned by lookup and verify, not as missing.
    let out = run(&["--data-dir", d, "lookup", "DEMO-0002", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["file_status"], "pruned", "{v}");
    let out = run(&["--data-dir", d, "verify", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["report"]["clips_pruned"], 1, "{v}");
    assert_eq!(v["report"]["clips_ok"], 2, "{v}");

    // Its record is still provable.
    let proofs = tmp.path().join("proofs");
    let out = run(&[
        "--data-dir",
        d,
        "prove",
        "DEMO-0002",
        "-o",
        proofs.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let key = std::fs::read_to_string(proofs.join("station.pub")).unwrap();
    let proof = std::fs::read_dir(&proofs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "tlog-proof"))
        .unwrap();
    let out = run(&["verify-proof", proof.to_str().unwrap(), "--key", key.trim()]);
    assert!(out.status.success(), "{}", show(&out));

    // A clip deleted without a pruned record is still missing.
    std::fs::remove_file(dir.join(sealed_before[2]["file"].as_str().unwrap())).unwrap();
    let out = run(&["--data-dir", d, "verify", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["first_problem"]["kind"], "clip_missing", "{v}");
}

#[test]
fn proofs_check_offline_and_fail_when_tampered() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let d = dir.to_str().unwrap();
    let proofs = tmp.path().join("p");
    let out = run(&[
        "--data-dir",
        d,
        "prove",
        "demo-0003",
        "-o",
        proofs.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let key = std::fs::read_to_string(proofs.join("station.pub"))
        .unwrap()
        .trim()
        .to_string();
    let out = run(&["--data-dir", d, "key"]);
    assert_eq!(stdout(&out).trim(), key, "the proof names the station key");
    let proof = std::fs::read_dir(&proofs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "tlog-proof"))
        .unwrap();
    let rec = &sealed(&dir)[2];
    let clip = dir.join(rec["file"].as_str().unwrap());
    // Copied away from the data dir, proof + key + clip are enough.
    let alone = tmp.path().join("alone");
    std::fs::create_dir(&alone).unwrap();
    std::fs::copy(&clip, alone.join("clip.mp4")).unwrap();
    std::fs::copy(&proof, alone.join("clip.tlog-proof")).unwrap();
    let p = alone.join("clip.tlog-proof");
    let c = alone.join("clip.mp4");
    let ok = run(&[
        "verify-proof",
        p.to_str().unwrap(),
        "--key",
        &key,
        "--clip",
        c.to_str().unwrap(),
    ]);
    assert!(ok.status.success(), "{}", show(&ok));
    assert!(stdout(&ok).contains("matches the record"), "{}", show(&ok));

    // A different clip file fails.
    let other = dir.join(sealed(&dir)[0]["file"].as_str().unwrap());
    let bad = run(&[
        "verify-proof",
        p.to_str().unwrap(),
        "--key",
        &key,
        "--clip",
        other.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(3), "{}", show(&bad));
    // Another key fails.
    let stranger = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    let bad = run(&["verify-proof", p.to_str().unwrap(), "--key", stranger]);
    assert_eq!(bad.status.code(), Some(3), "{}", show(&bad));
    // Any change to the proof text fails: the record, the path, or the checkpoint.
    let text = std::fs::read_to_string(&p).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for i in [1, 3, lines.len() - 4, lines.len() - 1] {
        let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        let mut bytes = l[i].clone().into_bytes();
        let j = bytes.len() / 2;
        bytes[j] = if bytes[j] == b'A' { b'B' } else { b'A' };
        l[i] = String::from_utf8(bytes).unwrap();
        std::fs::write(&p, l.join("\n") + "\n").unwrap();
        let bad = run(&["verify-proof", p.to_str().unwrap(), "--key", &key]);
        assert_eq!(
            bad.status.code(),
            Some(3),
            "changed line {i}: {}",
            show(&bad)
        );
    }
}
