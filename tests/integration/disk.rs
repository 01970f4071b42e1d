//! The data disk that goes away (issue 28), with the real binary: it vanishes mid-order and
//! comes back, a different empty directory takes its place, and SIGTERM ends the process in
//! every bad state, within the systemd unit's stop timeout.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;

fn start(dir: &Path, extra: &[&str]) -> Station {
    let mut args = vec!["--data-dir", dir.to_str().unwrap(), "run"];
    args.extend_from_slice(extra);
    if !extra.contains(&"--source") {
        args.extend(["--source", "testsrc"]);
    }
    spawn_station(&args)
}

/// `packwitness status --json` of the recorder, reached through the socket in `dir` (the data
/// dir, or wherever it was moved to).
fn status(dir: &Path) -> serde_json::Value {
    let out = run(&["--data-dir", dir.to_str().unwrap(), "status", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

fn sigterm(st: &Station) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(st.pid() as i32, libc::SIGTERM) };
}

/// SIGTERM ends it within 10 s (well inside the unit's 30 s) with one of `codes` (README,
/// "Exit codes"); returns its output.
fn stops_in_time(st: &mut Station, codes: &[i32]) -> std::process::Output {
    let (took, out) = stop(st);
    assert!(
        took < Duration::from_secs(10),
        "took {took:?}: {}",
        show(&out)
    );
    assert!(
        out.status.code().is_some_and(|c| codes.contains(&c)),
        "{}",
        show(&out)
    );
    out
}

/// SIGTERM, then the time the process took to exit and its output.
fn stop(st: &mut Station) -> (Duration, std::process::Output) {
    let t = Instant::now();
    sigterm(st);
    let out = st.finish_after(Duration::from_secs(40));
    (t.elapsed(), out)
}

/// A station recording `order` for a moment, then its data dir moved away (as a disk
/// unmounted): the data dir's path, where it went, the station.
fn recording_then_moved(tmp: &Path, order: &str) -> (PathBuf, PathBuf, Station) {
    let (dir, away) = (tmp.join("data"), tmp.join("unplugged"));
    let mut st = start(&dir, &[]);
    st.scan(order);
    st.wait_record(&dir, "the order's clip", |r| r["kind"] == "clip_opened");
    packing(800);
    std::fs::rename(&dir, &away).unwrap();
    (dir, away, st)
}

#[test]
fn the_data_disk_vanishes_mid_order_and_comes_back() {
    let tmp = tempfile::tempdir().unwrap();
    // Unplugged mid-order (the path is gone; the files live on elsewhere).
    let (dir, away, mut st) = recording_then_moved(tmp.path(), "DISK-1");
    wait_until("the recorder to say the data disk is missing", || {
        status(&away)["data_disk"]["problem"] == "missing"
    });
    let s = status(&away);
    assert!(
        s["problems"][0]
            .as_str()
            .unwrap_or_default()
            .contains("data disk missing"),
        "{s}"
    );
    // A scan meanwhile is answered NOT RECORDING and kept.
    st.scan("DISK-2");
    wait_until("the scan to wait in memory", || {
        status(&away)["deferred_records"].as_u64() >= Some(1)
    });
    let s = status(&away);
    assert_eq!(s["stations"][0]["health"]["state"], "not_recording", "{s}");
    assert!(!dir.exists(), "nothing may recreate the data dir");
    // Plugged back in: the scan's record, then the order's clip after a gap.
    std::fs::rename(&away, &dir).unwrap();
    let back = Instant::now();
    st.wait_record(&dir, "DISK-2's clip", |r| {
        r["kind"] == "clip_opened" && r["order"] == "DISK-2"
    });
    eprintln!(
        "recording resumed {:?} after the data disk came back",
        back.elapsed()
    );
    assert!(
        back.elapsed() < Duration::from_secs(10),
        "recording resumed {:?} after the disk came back",
        back.elapsed()
    );
    packing(600);
    let out = st.finish();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let m = manifest(&dir);
    let kinds = |k: &str| m.iter().filter(|r| r["kind"] == k).count();
    // DISK-1's part 1 was sealed from disk by the writer (reason error); DISK-2 was scanned
    // (its record written late, its scan time kept) and recorded after a gap naming the disk.
    let seal1 = m
        .iter()
        .find(|r| r["kind"] == "clip_sealed" && r["order"] == "DISK-1")
        .expect("DISK-1 sealed");
    assert_eq!(seal1["reason"], "error", "{seal1}");
    assert!(seal1["frames"].as_u64().unwrap() > 0);
    assert!(m
        .iter()
        .any(|r| r["kind"] == "scan" && r["code"] == "DISK-2"));
    let gap = m
        .iter()
        .find(|r| r["kind"] == "camera_gap" && r["order"] == "DISK-2")
        .expect("DISK-2's gap");
    assert!(
        gap["reason"]
            .as_str()
            .unwrap()
            .contains("data disk missing"),
        "{gap}"
    );
    assert_eq!(kinds("no_video"), 0);
    assert_eq!(kinds("clip_opened"), kinds("clip_sealed"));
    assert_verifies(&dir);
}

#[test]
fn an_empty_directory_in_place_of_the_data_dir_is_refused_and_sigterm_still_ends_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, away, mut st) = recording_then_moved(tmp.path(), "SWAP-1");
    std::fs::create_dir(&dir).unwrap();
    wait_until("the recorder to say the data dir was replaced", || {
        status(&away)["data_disk"]["problem"] == "replaced"
    });
    st.scan("SWAP-2");
    wait_until("the scan to wait in memory", || {
        status(&away)["deferred_records"].as_u64() >= Some(1)
    });
    let written: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        written.is_empty(),
        "nothing is written into the directory that replaced the data dir: {written:?}"
    );
    // Asked to stop in that state: it ends within the unit's 30 s, with a documented code
    // (1: the last checkpoint could not be written; the next start on the disk signs it).
    stops_in_time(&mut st, &[0, 1, 4]);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    // The original disk back: the next start seals what was open and verifies.
    std::fs::remove_dir(&dir).unwrap();
    std::fs::rename(&away, &dir).unwrap();
    let out = run(&["--data-dir", dir.to_str().unwrap(), "verify"]);
    let _ = out; // the unsigned tail is expected before a start
    let mut again = start(&dir, &[]);
    again.wait_record(&dir, "the restart", |r| {
        r["kind"] == "station_start" && r["seq"].as_u64() > Some(5)
    });
    let out = again.finish();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_verifies(&dir);
}

/// SIGTERM in each bad state ends the process within 10 s: a camera that never answers, a
/// TSA and a witness that cannot be reached, a web client holding a station screen's event
/// stream, a manifest that cannot be written (a full disk); a second SIGTERM at once.
#[test]
fn sigterm_ends_the_process_in_every_state() {
    let tmp = tempfile::tempdir().unwrap();
    // A camera that is never there, a TSA and a witness nobody answers for.
    let dir = tmp.path().join("down");
    let config = tmp.path().join("down.toml");
    let ca = tmp.path().join("ca.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(tmp.path().join("ca.key"))
        .arg("-out")
        .arg(&ca)
        .args(["-subj", "/CN=unreachable TSA CA", "-days", "2"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", show(&made));
    // A witness key of a witness that is never started.
    let wk = run(&[
        "witness",
        "--data-dir",
        tmp.path().join("witness").to_str().unwrap(),
        "--key",
    ]);
    assert!(wk.status.success(), "{}", show(&wk));
    let witness_key = stdout(&wk).trim().to_string();
    std::fs::write(
        &config,
        r#"
[server]
listen = "127.0.0.1:0"

[anchor]
tsa = ["http://127.0.0.1:9/tsa"]
tsa_ca = "CA"
every_s = 1

[[anchor.witness]]
url = "http://127.0.0.1:9"
key = "WITNESS"

[[station]]
id = "s1"

[[station.camera]]
id = "cam"
source = "rtsp://127.0.0.1:9/nothing"
"#
        .replace("CA", ca.to_str().unwrap())
        .replace("WITNESS", &witness_key),
    )
    .unwrap();
    let mut st = spawn_station(&[
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
    ]);
    st.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    st.scan("DOWN-1");
    st.wait_record(&dir, "the scan", |r| r["kind"] == "scan");
    stops_in_time(&mut st, &[0]);

    // A full manifest disk (ulimit -f): the writer failed, the process must still stop.
    let dir = tmp.path().join("full");
    let mut st = spawn_on_a_small_disk(&dir, 3000);
    st.scan("FULL-1");
    wait_until("a write to fail", || {
        status(&dir)["stations"][0]["health"]["cameras"][0]["write_error"].is_string()
    });
    stops_in_time(&mut st, &[0, 1, 4]);

    // Two signals: the second ends it at once, with the documented code 4.
    let dir = tmp.path().join("twice");
    let mut st = start(&dir, &[]);
    st.scan("TWICE-1");
    st.wait_record(&dir, "TWICE-1's clip", |r| r["kind"] == "clip_opened");
    sigterm(&st);
    sigterm(&st);
    let out = st.finish_after(Duration::from_secs(20));
    assert!(matches!(out.status.code(), Some(0 | 4)), "{}", show(&out));
}
