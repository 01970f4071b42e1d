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

/// The fast tier: kills beside the rest of the suite (other recorders, Chromium, PostgreSQL,
/// an S3 server), a load nobody controls on 2 cores; it checks recovery and a looser bound.
/// The 1 s bound under a known load is the slow tier's.
#[test]
#[ignore = "slow tier: a crash trial (kill -9 at random moments, each restart checked); run with `cargo test --test integration -- --ignored --test-threads=1`"]
fn kill_9_at_random_moments() {
    kill_trials(12, 0, 1.5);
}

/// The slow tier (`cargo test --test integration -- --ignored --test-threads=1`, run by .ci/run after the fast one): every kill
/// with two busy loops per core beside the recorder, as on a PC that does other work. Each of
/// at least 20 kills loses at most 1 s (issue 20).
#[test]
#[ignore = "slow tier: busy loops; run with `cargo test --test integration -- --ignored --test-threads=1`"]
fn kill_9_under_load_loses_at_most_a_second() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    kill_trials(20, 2 * cores, 1.0);
}

/// `trials` kills (PACKWITNESS_CRASH_TRIALS overrides), each with `hogs` spinning shells;
/// each may lose at most `max_loss` seconds of video.
fn kill_trials(default_trials: u64, hogs: usize, max_loss: f64) {
    let trials: u64 = std::env::var("PACKWITNESS_CRASH_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_trials);
    let seed: u64 = std::env::var("PACKWITNESS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261125);
    let mut rng = Lcg(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let mut kills = Vec::new();
    for t in 0..trials {
        // Spinning shells beside the recorder: what a crash loses must not grow with the load.
        let _load: Vec<Station> = (0..hogs)
            .map(|_| {
                Station(Some(
                    std::process::Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .spawn()
                        .unwrap(),
                ))
            })
            .collect();
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
        // A quarter of the kills come at any moment from the start (often before the first
        // frame, however slow the start is under load); the others once the clip is open, at
        // any moment of its first seconds, sometimes after a switch.
        if rng.next(4) != 0 {
            let order = format!("CRASH-{t}");
            wait_record(&dir, "the trial's clip opened", |r| {
                r["kind"] == "clip_opened" && r["order"] == order.as_str()
            });
        }
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

    let m = manifest(&dir);
    // Every scan that was acknowledged (it is in the manifest) got a clip, a no_video record
    // or a camera_gap record saying why it has none, whenever the kill came.
    for scan in m
        .iter()
        .filter(|r| r["kind"] == "scan" && (r["action"] == "open" || r["action"] == "switch"))
    {
        let order = &scan["order"];
        assert!(
            m.iter().any(|r| (r["kind"] == "clip_opened"
                || r["kind"] == "no_video"
                || r["kind"] == "camera_gap")
                && r["order"] == *order),
            "{scan} has neither a clip nor a no_video or camera_gap record"
        );
    }
    let resumed = m.iter().filter(|r| r["kind"] == "order_resumed").count();
    assert!(resumed > 0, "no order was resumed after a crash");
    let sealed = sealed(&dir);
    let mut worst: f64 = 0.0;
    let mut interrupted = 0;
    for (t, killed_at) in &kills {
        // The clip the kill interrupted (the order itself may have been resumed after it).
        let (a, b) = (format!("CRASH-{t}"), format!("CRASH-{t}-B"));
        let last = sealed.iter().rev().find(|r| {
            (r["order"] == a.as_str() || r["order"] == b.as_str()) && r["reason"] == "interrupted"
        });
        let Some(rec) = last else { continue }; // killed before the first frame: nothing to lose
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
        assert!(lost <= max_loss, "trial {t}: {lost:.3} s of video lost, more than {max_loss} s (killed {killed_at}, clip kept until {kept_until})");
    }
    println!("{trials} kills ({hogs} busy loops beside each), {interrupted} interrupted clips recovered, {resumed} orders resumed, worst loss {worst:.3} s");
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
#[ignore = "slow tier: the whole process on a disk limit (ulimit -f); the fast tier has the same in-process (recorder::station::disk_faults); run with `cargo test --test integration -- --ignored --test-threads=1`"]
fn a_write_that_fails_keeps_complete_fragments_and_recording_resumes() {
    // A full disk, made small: RLIMIT_FSIZE (bash `ulimit -f`, in KiB) with SIGXFSZ ignored,
    // so a write past 3000 KiB fails with EFBIG as a full disk's would with ENOSPC.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let mut reaper = spawn_on_a_small_disk(&dir, 3000);
    reaper.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    reaper.scan("FULL-1");
    // testsrc at 720p fills 3000 KiB in a few seconds: the clip is sealed with what is on
    // disk, the process stays up, and the order goes on as part 2 once clips can be written.
    let failed = reaper.wait_record(&dir, "the failed clip's seal", |r| {
        r["kind"] == "clip_sealed" && r["reason"] == "error"
    });
    let part2 = reaper.wait_record(&dir, "recording to resume", |r| {
        r["kind"] == "clip_opened" && r["part"] == 2
    });
    let gap = reaper.wait_record(&dir, "the gap record", |r| r["kind"] == "camera_gap");
    assert_eq!(gap["clip"], part2["seq"], "{gap}");
    assert_eq!(part2["order"], "FULL-1");
    reaper.scan("PW-STOP");
    reaper.wait_record(&dir, "part 2 sealed", |r| {
        r["kind"] == "clip_sealed" && r["clip"] == part2["seq"]
    });
    let out = reaper.finish();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let err = stderr(&out);
    assert!(err.contains("is the disk full?"), "{err}");
    let path = dir.join(failed["file"].as_str().unwrap());
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 1_000_000 && size <= 3000 * 1024, "{size}");
    assert_eq!(failed["size"].as_u64(), Some(size));
    // What the record says is what plays: the torn fragment was cut off.
    let (_, frames, _, flags) = probe(&path);
    assert_eq!(Some(frames), failed["frames"].as_u64());
    assert!(flags.starts_with('K'));
    assert_verifies(&dir);
}

/// Top-level MP4 boxes: (type, offset, size).
fn boxes(data: &[u8]) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= data.len() {
        let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        if size < 8 || at + size > data.len() {
            break;
        }
        out.push((data[at + 4..at + 8].try_into().unwrap(), at, size));
        at += size;
    }
    out
}

#[test]
fn a_last_fragment_left_unwritten_is_cut_off_at_recovery() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let mut st = spawn_station(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--source",
        "testsrc",
    ]);
    st.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    st.scan("ZERO-1");
    let opened = st.wait_record(&dir, "the clip", |r| r["kind"] == "clip_opened");
    let partial = dir.join(format!("{}.partial", opened["file"].as_str().unwrap()));
    wait_until("a few fragments on disk", || {
        let data = std::fs::read(&partial).unwrap_or_default();
        boxes(&data).iter().filter(|b| &b.0 == b"moof").count() >= 6
    });
    st.0.as_mut().unwrap().kill().unwrap(); // SIGKILL
    st.0.take().unwrap().wait().unwrap();
    // As a power cut can leave it: the last complete fragment's media data never written.
    let mut data = std::fs::read(&partial).unwrap();
    let b = boxes(&data);
    let (_, at, size) = *b.iter().rev().find(|b| &b.0 == b"mdat").unwrap();
    let whole: usize = b.last().map(|l| l.1 + l.2).unwrap();
    data[at + 8..at + size].fill(0);
    std::fs::write(&partial, &data).unwrap();
    let moof_at = b.iter().rev().find(|b| &b.0 == b"moof").unwrap().1;

    let out = restart_and_stop(&dir);
    assert!(out.status.success(), "{}", show(&out));
    let rec = sealed(&dir)
        .into_iter()
        .find(|r| r["order"] == "ZERO-1" && r["reason"] == "interrupted")
        .expect("the interrupted clip is sealed");
    let path = dir.join(rec["file"].as_str().unwrap());
    let kept = std::fs::metadata(&path).unwrap().len() as usize;
    assert!(
        kept <= moof_at,
        "the zeroed fragment is cut off: kept {kept} of {whole}, it began at {moof_at}"
    );
    // What the record says is what decodes.
    let (_, frames, _, _) = probe(&path);
    assert_eq!(Some(frames), rec["frames"].as_u64(), "{rec}");
    assert_verifies(&dir);
}

#[test]
fn a_clip_whose_opening_line_was_lost_is_recovered_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let mut st = spawn_station(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--source",
        "testsrc",
    ]);
    st.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    st.scan("ORPHAN-1");
    let opened = st.wait_record(&dir, "the clip", |r| r["kind"] == "clip_opened");
    let partial = dir.join(format!("{}.partial", opened["file"].as_str().unwrap()));
    wait_until("a few fragments on disk", || {
        let data = std::fs::read(&partial).unwrap_or_default();
        boxes(&data).iter().filter(|b| &b.0 == b"moof").count() >= 3
    });
    st.0.as_mut().unwrap().kill().unwrap(); // SIGKILL
    st.0.take().unwrap().wait().unwrap();
    // The crash took the clip_opened line with it (it never reached the disk).
    let text = std::fs::read_to_string(dir.join("manifest.jsonl")).unwrap();
    let keep: String = text
        .split_inclusive('\n')
        .take_while(|l| !l.contains("\"kind\":\"clip_opened\""))
        .collect();
    std::fs::write(dir.join("manifest.jsonl"), keep).unwrap();
    for derived in ["ledger.state", "manifest.offsets", "index.sqlite3"] {
        let _ = std::fs::remove_file(dir.join(derived));
    }
    let out = restart_and_stop(&dir);
    assert!(out.status.success(), "{}", show(&out));
    let rec = manifest(&dir)
        .into_iter()
        .find(|r| r["kind"] == "orphan_recovered")
        .expect("the file is named by an orphan_recovered record");
    assert_eq!(rec["order"], "ORPHAN-1", "{rec}");
    assert_eq!(rec["camera"], "cam-1", "{rec}");
    assert_eq!(rec["file"], opened["file"], "{rec}");
    let path = dir.join(rec["file"].as_str().unwrap());
    assert!(path.exists() && !partial.exists());
    let (_, frames, _, _) = probe(&path);
    assert_eq!(Some(frames), rec["frames"].as_u64(), "{rec}");
    // It is evidence now: verify hashes it (no stray file), and lookup finds it.
    let v = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "verify",
        "--json",
        "--full",
    ]);
    assert!(v.status.success(), "{}", show(&v));
    let out = run(&["--data-dir", dir.to_str().unwrap(), "lookup", "ORPHAN-1"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout(&out).contains("orphan_recovered"), "{}", show(&out));
}

#[test]
fn an_invalid_complete_last_line_is_moved_aside_and_the_start_goes_on() {
    for bad in [
        &b"\0\0\0\0\0\0\0\0\n"[..],
        &b"{\"v\":3,\"seq\":99,\"bogus\n"[..],
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = demo_copy(tmp.path());
        let path = dir.join("manifest.jsonl");
        let mut text = std::fs::read(&path).unwrap();
        text.extend_from_slice(bad);
        std::fs::write(&path, &text).unwrap();
        // A crash loop under systemd is what this must never be: the start succeeds.
        let out = restart_and_stop(&dir);
        assert!(out.status.success(), "{}", show(&out));
        let rec = manifest(&dir)
            .into_iter()
            .find(|r| r["kind"] == "torn_line_removed")
            .expect("a record says so");
        assert_eq!(rec["bytes"], bad.len(), "{rec}");
        assert_eq!(rec["reason"], "complete but not a valid record", "{rec}");
        let kept = std::fs::read(dir.join(rec["kept_in"].as_str().unwrap())).unwrap();
        assert_eq!(kept, bad);
        assert_verifies(&dir);
    }
}
