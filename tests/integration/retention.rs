//! Retention: `prune` and a recording `run` remove the oldest sealed clips by the
//! `[retention]` policy, always with a `pruned` record first, never a held clip, and the
//! manifest still verifies.

use crate::common::*;

/// A floor no disk meets, and no minimum age: every clip that may go, goes.
const SQUEEZED: &str = "[retention]\nmin_free_mb = 1000000000\nmin_age_hours = 0\n";

fn file_of(dir: &std::path::Path, order: &str) -> std::path::PathBuf {
    let rec = sealed(dir)
        .into_iter()
        .find(|r| r["order"] == order)
        .unwrap();
    dir.join(rec["file"].as_str().unwrap())
}

fn pruned(dir: &std::path::Path) -> Vec<serde_json::Value> {
    manifest(dir)
        .into_iter()
        .filter(|r| r["kind"] == "pruned")
        .collect()
}

#[test]
fn prune_removes_oldest_unheld_clips_on_the_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(&cfg, SQUEEZED).unwrap();
    let d = dir.to_str().unwrap();
    let c = cfg.to_str().unwrap();
    let out = run(&[
        "--data-dir",
        d,
        "hold",
        "DEMO-0002",
        "--reason",
        "dispute 77",
    ]);
    assert!(out.status.success(), "{}", show(&out));

    let lines_before = manifest(&dir).len();
    let out = run(&["--config", c, "--data-dir", d, "prune", "--dry-run"]);
    assert!(out.status.success(), "{}", show(&out));
    let text = stdout(&out);
    assert!(
        text.contains("would remove clip")
            && text.contains("DEMO-0001")
            && text.contains("DEMO-0003"),
        "{text}"
    );
    assert!(
        !text.contains("DEMO-0002"),
        "a held clip is never chosen: {text}"
    );
    assert_eq!(
        manifest(&dir).len(),
        lines_before,
        "a dry run writes nothing"
    );
    assert!(file_of(&dir, "DEMO-0001").exists());

    let out = run(&["--config", c, "--data-dir", d, "prune"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout(&out).contains("2 clip(s)"), "{}", show(&out));
    for order in ["DEMO-0001", "DEMO-0003"] {
        assert!(!file_of(&dir, order).exists(), "{order} removed");
    }
    assert!(file_of(&dir, "DEMO-0002").exists(), "the held clip stays");
    let p = pruned(&dir);
    assert_eq!(p.len(), 2);
    assert!(
        p[0]["reason"].as_str().unwrap().contains("min_free_mb"),
        "{p:?}"
    );
    // Oldest first.
    let clip_of = |order: &str| {
        sealed(&dir)
            .into_iter()
            .find(|r| r["order"] == order)
            .unwrap()["clip"]
            .clone()
    };
    assert_eq!(p[0]["clip"], clip_of("DEMO-0001"));
    // Lookup says so; verify counts them and passes.
    let out = run(&["--data-dir", d, "lookup", "DEMO-0001", "--json"]);
    let found: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(found[0]["pruned"], true);
    assert_verifies(&dir);
    // Again: nothing left that may go.
    let out = run(&["--config", c, "--data-dir", d, "prune"]);
    assert!(stdout(&out).contains("0 clip(s)"), "{}", show(&out));
}

#[test]
fn a_recording_station_applies_retention_by_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(&cfg, SQUEEZED).unwrap();
    let d = dir.to_str().unwrap();
    let out = run(&["--data-dir", d, "hold", "DEMO-0003"]);
    assert!(out.status.success(), "{}", show(&out));
    let mut r = spawn_station(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        d,
        "run",
        "--source",
        "testsrc",
    ]);
    wait_records(&dir, "two clips pruned by retention", 2, |r| {
        r["kind"] == "pruned"
    });
    // A clip recorded now is younger than nothing (min_age_hours = 0) but still open: kept.
    r.scan("ORD-900");
    r.wait_record(&dir, "ORD-900 opened", |r| {
        r["kind"] == "clip_opened" && r["order"] == "ORD-900"
    });
    packing(1500);
    r.scan("PW-STOP");
    r.wait_record(&dir, "ORD-900 sealed", |r| {
        r["kind"] == "clip_sealed" && r["order"] == "ORD-900"
    });
    let out = r.finish();
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stderr(&out).contains("removed by retention"),
        "{}",
        show(&out)
    );
    let orders: Vec<String> = pruned(&dir)
        .iter()
        .map(|p| {
            sealed(&dir)
                .into_iter()
                .find(|s| s["clip"] == p["clip"])
                .unwrap()["order"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        orders.contains(&"DEMO-0001".to_string()) && orders.contains(&"DEMO-0002".to_string()),
        "{orders:?}"
    );
    assert!(
        !orders.contains(&"DEMO-0003".to_string()),
        "held: {orders:?}"
    );
    assert!(file_of(&dir, "DEMO-0003").exists());
    assert!(sealed(&dir).iter().any(|s| s["order"] == "ORD-900"));
    assert_verifies(&dir);
}

#[test]
fn reserve_minutes_set_the_floor_from_the_measured_rate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let cfg = tmp.path().join("pw.toml");
    // No fixed floor: only the reserve, at the rate of the demo's sealed clips (read from
    // the index at start), asks for more room than any disk has.
    std::fs::write(
        &cfg,
        "[retention]\nmin_free_mb = 0\nmin_age_hours = 0\nreserve_minutes = 100000000\n",
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let mut r = spawn_station(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        d,
        "run",
        "--source",
        "testsrc",
    ]);
    wait_records(&dir, "the demo clips pruned for the reserve", 1, |r| {
        r["kind"] == "pruned"
    });
    let reason = pruned(&dir)[0]["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("reserve_minutes = 100000000") && reason.contains("min_free_mb = 0"),
        "{reason}"
    );
    let out = run(&["--data-dir", d, "status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let free = v["disk_free_mb"].as_u64().unwrap();
    assert!(v["free_floor_mb"].as_u64().unwrap() > free, "{v}");
    assert!(
        v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().contains("reserve_minutes = 100000000")),
        "{v}"
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "disk_low makes the status unhealthy"
    );
    let out = r.finish();
    assert!(out.status.success(), "{}", show(&out));
    assert_verifies(&dir);
}
