//! kill -9 at random moments, then restart: the manifest verifies, every clip plays to its last
//! fragment, and at most about a second of video is lost.
//!
//! `PACKWITNESS_CRASH_TRIALS=100 cargo test --test crash -- --nocapture` runs more trials.

use crate::common::*;

use std::io::Write;
use std::process::Stdio;

/// A small deterministic generator (64-bit LCG): the same seed gives the same kill moments.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

fn restart_and_stop(dir: &std::path::Path) -> std::process::Output {
    // stdin an empty pipe: the station recovers, starts, and stops at once.
    bin()
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "run",
            "--source",
            "testsrc",
        ])
        .stdin(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn kill_9_at_random_moments() {
    let trials: u64 = std::env::var("PACKWITNESS_CRASH_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("PACKWITNESS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261125);
    let mut rng = Lcg(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let mut kills = Vec::new();
    for t in 0..trials {
        let mut child = Station(Some(
            bin()
                .args([
                    "--data-dir",
                    dir.to_str().unwrap(),
                    "run",
                    "--source",
                    "testsrc",
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ));
        let c = child.0.as_mut().unwrap();
        let stdin = c.stdin.as_mut().unwrap();
        writeln!(stdin, "CRASH-{t}").unwrap();
        // Kill anywhere from before the first frame to a few seconds in, sometimes after a switch.
        let first = rng.next(2500);
        input_gap(first);
        if rng.next(3) == 0 {
            writeln!(stdin, "CRASH-{t}-B").unwrap();
            input_gap(rng.next(1500));
        }
        c.kill().unwrap(); // SIGKILL
        let killed_at = chrono::Local::now();
        c.wait().unwrap();
        child.0 = None;
        kills.push((t, killed_at));
        // Every third trial, restart right away (recovery between crashes); otherwise the next
        // trial's start does the recovery, so crashes also pile up.
        if t % 3 == 0 {
            let out = restart_and_stop(&dir);
            assert!(
                out.status.success(),
                "restart after trial {t}: {}",
                show(&out)
            );
        }
    }
    let out = restart_and_stop(&dir);
    assert!(out.status.success(), "final restart: {}", show(&out));

    let v = run(&["--data-dir", dir.to_str().unwrap(), "verify", "--json"]);
    assert_eq!(v.status.code(), Some(0), "{}", show(&v));
    let report: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(
        report["report"]["clips_open"], 0,
        "every interrupted clip was sealed: {report}"
    );

    let sealed = sealed(&dir);
    let mut worst: f64 = 0.0;
    let mut interrupted = 0;
    for (t, killed_at) in &kills {
        // The last clip of each trial is the one the kill interrupted.
        let (a, b) = (format!("CRASH-{t}"), format!("CRASH-{t}-B"));
        let last = sealed
            .iter()
            .rev()
            .find(|r| r["order"] == a.as_str() || r["order"] == b.as_str());
        let Some(rec) = last else { continue }; // killed before the first frame: nothing to lose
        assert_eq!(rec["reason"], "interrupted", "trial {t}: {rec}");
        interrupted += 1;
        let path = dir.join(rec["file"].as_str().unwrap());
        let frames = rec["frames"].as_u64().unwrap();
        if frames > 0 {
            let (codec, probed, _, flags) = probe(&path);
            assert_eq!(codec, "h264");
            assert_eq!(
                probed,
                frames,
                "trial {t}: {} plays {probed} frames, record says {frames}",
                path.display()
            );
            assert!(
                flags.starts_with('K'),
                "trial {t}: first packet not a keyframe"
            );
        }
        let started =
            chrono::DateTime::parse_from_rfc3339(rec["started_at"].as_str().unwrap()).unwrap();
        let kept_until =
            started + chrono::Duration::milliseconds(rec["duration_ms"].as_i64().unwrap());
        let lost = (*killed_at - kept_until.with_timezone(&chrono::Local)).num_milliseconds()
            as f64
            / 1000.0;
        worst = worst.max(lost);
        // Quarter-second fragments plus the encoder's lookahead and the frame in flight.
        assert!(lost <= 1.0, "trial {t}: {lost:.3} s of video lost (killed {killed_at}, clip kept until {kept_until})");
    }
    println!("{trials} kills, {interrupted} interrupted clips recovered, worst loss {worst:.3} s");
    assert!(
        interrupted >= trials / 2,
        "too few kills hit a recording ({interrupted} of {trials}): the test would prove little"
    );
}

#[test]
fn torn_manifest_line_is_kept_aside_and_the_chain_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let mut text = std::fs::read(dir.join("manifest.jsonl")).unwrap();
    let before = text.len();
    let torn = b"{\"v\":1,\"seq\":9,\"prev\":\"abc";
    text.extend_from_slice(torn);
    std::fs::write(dir.join("manifest.jsonl"), &text).unwrap();
    let out = restart_and_stop(&dir);
    assert!(out.status.success(), "{}", show(&out));
    let m = manifest(&dir);
    let rec = m
        .iter()
        .find(|r| r["kind"] == "torn_line_removed")
        .expect("a record says so");
    assert_eq!(rec["bytes"], torn.len());
    let lines_before = text[..before].iter().filter(|&&b| b == b'\n').count();
    assert_eq!(
        rec["seq"],
        lines_before as u64 + 1,
        "the next line after the whole ones"
    );
    let kept = std::fs::read(dir.join(rec["kept_in"].as_str().unwrap())).unwrap();
    assert_eq!(kept, torn);
    assert!(std::fs::read(dir.join("manifest.jsonl")).unwrap().len() > before);
    assert_verifies(&dir);
}

#[test]
fn a_write_that_fails_keeps_complete_fragments_and_the_manifest_verifies() {
    // A full disk, made small: RLIMIT_FSIZE (bash `ulimit -f`, in KiB) with SIGXFSZ ignored,
    // so a write past 3000 KiB fails with EFBIG as a full disk's would with ENOSPC.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let child = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 3000; exec '{}' --data-dir '{}' run --source testsrc",
            env!("CARGO_BIN_EXE_packwitness"),
            dir.display()
        ))
        .env_remove("PACKWITNESS_CONFIG")
        .env("PACKWITNESS_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reaper = Station(Some(child));
    reaper.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    reaper.scan("FULL-1");
    // testsrc at 720p fills 3000 KiB in a few seconds; the station stops on the error.
    let out = reaper.finish_after(std::time::Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = stderr(&out);
    assert!(err.contains("is the disk full?"), "{err}");
    let sealed = sealed(&dir);
    assert_eq!(sealed.len(), 1, "the clip is sealed, not left open");
    assert_eq!(sealed[0]["reason"], "error");
    let path = dir.join(sealed[0]["file"].as_str().unwrap());
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 1_000_000 && size <= 3000 * 1024, "{size}");
    assert_eq!(sealed[0]["size"].as_u64(), Some(size));
    // What the record says is what plays: the torn fragment was cut off.
    let (_, frames, _, flags) = probe(&path);
    assert_eq!(Some(frames), sealed[0]["frames"].as_u64());
    assert!(flags.starts_with('K'));
    assert_verifies(&dir);
}
