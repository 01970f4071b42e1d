//! Helpers shared by the integration tests: run the real binary (`bin`, `run`, [`Station`]),
//! wait for the recorder's state (a manifest record, a process exit) instead of sleeping,
//! read manifests, probe clips, and the demo fixture recorded once per test run.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_packwitness"));
    // English output whatever the machine's locale (tests that want Chinese set LANG).
    c.env_remove("PACKWITNESS_CONFIG")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "C.UTF-8")
        .env("PACKWITNESS_LOG", "warn");
    c
}

/// Runs packwitness with these args and returns its output (never panics on a non-zero exit).
/// Standard input is an empty pipe (closed at once), not /dev/null, which `run` refuses.
pub fn run(args: &[&str]) -> Output {
    let out = bin()
        .args(args)
        .stdin(Stdio::piped())
        .output()
        .expect("running packwitness");
    out
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    )
}

/// Manifest lines as JSON values.
pub fn manifest(dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("manifest.jsonl")).expect("reading manifest");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("manifest line is JSON"))
        .collect()
}

pub fn sealed(dir: &Path) -> Vec<serde_json::Value> {
    manifest(dir)
        .into_iter()
        .filter(|r| r["kind"] == "clip_sealed")
        .collect()
}

/// A demo data dir recorded once per test binary run (3 orders x 2 s), to copy and tamper with.
pub fn demo_fixture() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        // Fixtures of test runs that are over (their process is gone) are removed.
        for e in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("demo-fixture-") {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let base = tmp.join(format!("demo-fixture-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let dir = base.join("data");
        let out = run(&[
            "demo",
            "--data-dir",
            dir.to_str().unwrap(),
            "--clip-seconds",
            "2",
        ]);
        assert!(out.status.success(), "demo failed: {}", show(&out));
        dir
    })
}

/// A private copy of the demo fixture.
/// The station key of a data dir, as `packwitness key` prints it for publishing.
pub fn station_key(dir: &Path) -> String {
    let out = run(&["--data-dir", dir.to_str().unwrap(), "key"]);
    assert!(out.status.success(), "{}", show(&out));
    stdout(&out).trim().to_string()
}

pub fn demo_copy(tmp: &Path) -> PathBuf {
    let dst = tmp.join("data");
    copy_station(demo_fixture(), &dst);
    dst
}

/// The key folder beside a data dir (the default `<data dir>.key`).
pub fn key_dir(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap().to_os_string();
    name.push(".key");
    dir.with_file_name(name)
}

/// The station key file of a data dir: inside it for data dirs made before the key moved
/// out, beside it otherwise.
pub fn station_key_file(dir: &Path) -> PathBuf {
    let legacy = dir.join("keys/station.key");
    if legacy.is_file() {
        legacy
    } else {
        key_dir(dir).join("station.key")
    }
}

/// A copy of a station: its data dir and the key beside it.
pub fn copy_station(src: &Path, dst: &Path) {
    copy_dir(src, dst);
    if key_dir(src).is_dir() {
        copy_dir(&key_dir(src), &key_dir(dst));
    }
}

pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// ffprobe's view of a clip: (codec, frames counted by decoding, duration in s, first packet flags).
pub fn probe(path: &Path) -> (String, u64, f64, String) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,nb_read_frames,duration",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe (Debian package ffmpeg) must be installed");
    assert!(
        out.status.success(),
        "ffprobe failed on {}: {}",
        path.display(),
        stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["streams"][0];
    let codec = s["codec_name"].as_str().unwrap_or("").to_string();
    let frames = s["nb_read_frames"].as_str().unwrap_or("0").parse().unwrap();
    let duration = s["duration"].as_str().unwrap_or("0").parse().unwrap();
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=flags",
            "-read_intervals",
            "%+#1",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    let flags = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    (codec, frames, duration, flags)
}

/// Decodes frame `n` of a video (or lavfi graph) as 8-bit gray pixels.
pub fn gray_frame(input_args: &[&str], n: u64) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error"])
        .args(input_args)
        .args([
            "-vf",
            &format!("select=eq(n\\,{n})"),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ])
        .output()
        .expect("ffmpeg CLI must be installed");
    assert!(out.status.success(), "ffmpeg failed: {}", stderr(&out));
    out.stdout
}

/// Mean absolute difference of two gray 1280-wide frames over a rectangle.
pub fn mean_diff(
    a: &[u8],
    b: &[u8],
    width: usize,
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
) -> f64 {
    let mut sum = 0u64;
    for y in y0..y1 {
        for x in x0..x1 {
            let i = y * width + x;
            sum += (a[i] as i64 - b[i] as i64).unsigned_abs();
        }
    }
    sum as f64 / ((x1 - x0) * (y1 - y0)) as f64
}

/// `packwitness verify` on a data dir must pass (exit 0).
pub fn assert_verifies(dir: &Path) {
    let out = run(&["--data-dir", dir.to_str().unwrap(), "verify"]);
    assert!(
        out.status.success(),
        "verify of {}: {}",
        dir.display(),
        show(&out)
    );
}

/// A running `packwitness` process fed by a test; killed when dropped, so a failing test never
/// leaves one behind.
pub struct Station(pub Option<Child>);

/// How long a test waits for the recorder to reach a state before it fails (generous: CI
/// shares two cores with the recorder under test).
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// Waits until a record of the data dir's manifest satisfies `pred`, and returns it; fails
/// the test after [`PATIENCE`]. This is how a test waits for the recorder: for a state, not
/// for a time.
pub fn wait_record(
    dir: &Path,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    wait_records(dir, what, 1, pred).remove(0)
}

/// Waits until `n` records satisfy `pred`; returns the first `n`.
pub fn wait_records(
    dir: &Path,
    what: &str,
    n: usize,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let mut text = String::new();
    poll(PATIENCE, || {
        text = std::fs::read_to_string(dir.join("manifest.jsonl")).unwrap_or_default();
        let found: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|r| pred(r))
            .collect();
        (found.len() >= n).then(|| found.into_iter().take(n).collect())
    })
    .unwrap_or_else(|| {
        panic!(
            "waited {PATIENCE:?} for {what} in {}; the manifest has:\n{text}",
            dir.display()
        )
    })
}

/// Looks every 20 ms until `look` finds something, for at most `limit`: the one place the
/// tests' waits pause between looks at a state.
pub fn poll<T>(limit: std::time::Duration, mut look: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = look() {
            return Some(v);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The packer packs: real time passes so that a clip holds video. This is the test's input
/// (how long an order is recorded), never a wait for the recorder to do something.
pub fn packing(ms: u64) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

/// Waits until `cond` holds (polled every 20 ms), failing the test after [`PATIENCE`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    if poll(PATIENCE, || cond().then_some(())).is_none() {
        panic!("waited {PATIENCE:?} for {what}");
    }
}

/// `packwitness status --json` of the recorder on `dir`: its exit code and its answer.
pub fn status_json(dir: &Path) -> (Option<i32>, serde_json::Value) {
    let out = run(&["--data-dir", dir.to_str().unwrap(), "status", "--json"]);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)));
    (out.status.code(), v)
}

/// Waits until the first camera of the recorder on `dir` has delivered `frames` frames to
/// its clip writer (as its status says).
pub fn wait_camera_frames(dir: &Path, frames: u64) {
    wait_until(&format!("{frames} frames from the camera"), || {
        status_json(dir).1["stations"][0]["health"]["cameras"][0]["frames"]
            .as_u64()
            .is_some_and(|n| n >= frames)
    });
}

/// A camera source that is never there (a stable USB path with nothing behind it): the
/// station starts and waits for it as unplugged.
pub const MISSING_CAMERA: &str = "/dev/v4l/by-id/usb-packwitness-test-missing-video-index0";

/// A station on `dir` whose only camera is [`MISSING_CAMERA`], scans from standard input,
/// once the camera is said to be lost.
pub fn spawn_without_camera(dir: &Path) -> Station {
    without_camera(dir, None)
}

/// [`spawn_without_camera`] with a config file.
pub fn spawn_without_camera_configured(dir: &Path, cfg: &Path) -> Station {
    without_camera(dir, Some(cfg))
}

fn without_camera(dir: &Path, cfg: Option<&Path>) -> Station {
    let mut args: Vec<&str> = Vec::new();
    if let Some(c) = cfg {
        args.extend(["--config", c.to_str().unwrap()]);
    }
    args.extend([
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--source",
        MISSING_CAMERA,
        "--scanner",
        "stdin",
    ]);
    let mut station = spawn_station(&args);
    station.wait_record(dir, "the station's start", |r| r["kind"] == "station_start");
    wait_camera_state(dir, "lost");
    station
}

/// Waits until the first camera of the recorder on `dir` is in `state` (as its status says).
pub fn wait_camera_state(dir: &Path, state: &str) {
    wait_until(&format!("the camera to be {state}"), || {
        status_json(dir).1["stations"][0]["health"]["cameras"][0]["state"] == state
    });
}

/// Input that arrives over time (a scanner's bytes in two bursts, keystrokes apart): the
/// test's input, never a wait for the program.
pub fn input_gap(ms: u64) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

impl Station {
    /// Starts `packwitness ARGS` with stdin, stdout and stderr piped.
    pub fn start(args: &[&str]) -> Station {
        spawn_station(args)
    }

    /// Waits for a record of `dir`'s manifest (see [`wait_record`]), failing early with the
    /// process's output if it exited.
    pub fn wait_record(
        &mut self,
        dir: &Path,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let mut text = String::new();
        let found = poll(PATIENCE, || {
            text = std::fs::read_to_string(dir.join("manifest.jsonl")).unwrap_or_default();
            let found = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|r| pred(r));
            if found.is_none() {
                if let Some(c) = self.0.as_mut() {
                    if c.try_wait().ok().flatten().is_some() {
                        let out = self.0.take().unwrap().wait_with_output().unwrap();
                        panic!(
                            "packwitness exited while waiting for {what}: {}",
                            show(&out)
                        );
                    }
                }
            }
            found
        });
        found.unwrap_or_else(|| panic!("waited {PATIENCE:?} for {what}; the manifest has:\n{text}"))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.0.as_ref().expect("a running child").id()
    }
}

/// `packwitness --data-dir DIR run --source testsrc` on a "disk" of `kib` KiB a file:
/// RLIMIT_FSIZE (bash `ulimit -f`) with SIGXFSZ ignored, so a write past it fails with EFBIG
/// as a full disk's would with ENOSPC. Standard input piped, output kept for a failure.
pub fn spawn_on_a_small_disk(dir: &Path, kib: u32) -> Station {
    let child = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {kib}; exec '{}' --data-dir '{}' run --source testsrc",
            env!("CARGO_BIN_EXE_packwitness"),
            dir.display()
        ))
        .env_remove("PACKWITNESS_CONFIG")
        .env("PACKWITNESS_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting packwitness under bash");
    Station(Some(child))
}

/// Starts `packwitness ARGS` with stdin, stdout and stderr piped: a station fed by a test.
pub fn spawn_station(args: &[&str]) -> Station {
    spawn_station_logging(args, "warn")
}

/// [`spawn_station`] with the log at `level` (`PACKWITNESS_LOG`).
pub fn spawn_station_logging(args: &[&str], level: &str) -> Station {
    spawn_station_env(args, &[("PACKWITNESS_LOG", level)])
}

/// [`spawn_station`] with these environment variables set (a locale, the log's level).
pub fn spawn_station_env(args: &[&str], env: &[(&str, &str)]) -> Station {
    let child = bin()
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting packwitness");
    Station(Some(child))
}

impl Station {
    /// Types one scan into the station's standard input.
    pub fn scan(&mut self, code: &str) {
        use std::io::Write;
        let stdin = self
            .0
            .as_mut()
            .and_then(|c| c.stdin.as_mut())
            .expect("a piped stdin");
        writeln!(stdin, "{code}").expect("writing a scan");
    }

    /// Waits (up to `limit`) for the process to end by itself, then collects its output.
    pub fn finish_after(&mut self, limit: std::time::Duration) -> Output {
        let mut child = self.0.take().expect("a running child");
        poll(limit, || child.try_wait().expect("waiting").map(|_| ()));
        let _ = child.kill();
        child.wait_with_output().expect("waiting for packwitness")
    }

    /// Closes standard input (end of input stops a station) and collects the output.
    pub fn finish(&mut self) -> Output {
        let mut child = self.0.take().expect("a running child");
        drop(child.stdin.take());
        child.wait_with_output().expect("waiting for packwitness")
    }
}

impl Drop for Station {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The camera-session frame number at which a sealed clip's order was scanned (its clip starts
/// earlier by the pre-roll), from its clip_opened record; 30 fps sources.
/// The number of the frame after a sealed clip's last: its first frame, its frames and the
/// frames left out while the recorder was behind real time (`dropped_frames`).
pub fn frame_after(sealed: &serde_json::Value) -> u64 {
    sealed["first_frame"].as_u64().unwrap()
        + sealed["frames"].as_u64().unwrap()
        + sealed["dropped_frames"].as_u64().unwrap_or(0)
}

pub fn scan_frame(dir: &Path, sealed: &serde_json::Value) -> u64 {
    let opened = manifest(dir)
        .into_iter()
        .find(|r| r["kind"] == "clip_opened" && r["seq"] == sealed["clip"])
        .expect("clip_opened record");
    let t = |k: &str| chrono::DateTime::parse_from_rfc3339(opened[k].as_str().unwrap()).unwrap();
    let ms = (t("scanned_at") - t("started_at")).num_milliseconds() as f64;
    opened["first_frame"].as_u64().unwrap() + (ms * 30.0 / 1000.0).round() as u64
}

/// Makes a FIFO (a stand-in for a scanner's event device).
pub fn mkfifo(path: &Path) {
    let c =
        std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str())).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// The bytes a keyboard-wedge scanner's event device delivers for these codes, with the
/// sync and scan-code events a real device sends between keys.
pub fn evdev_records(codes: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    use packwitness::scanners::keys::{encode_event, type_code};
    for code in codes {
        for ev in type_code(code) {
            out.extend_from_slice(&encode_event(4, 4, 0x70000 + ev.code as i32)); // EV_MSC
            out.extend_from_slice(&encode_event(ev.kind, ev.code, ev.value));
            out.extend_from_slice(&encode_event(0, 0, 0)); // EV_SYN
        }
    }
    out
}

/// Top-level or child boxes of `buf` as (type, body).
fn mp4_boxes(buf: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while off + 8 <= buf.len() {
        let size32 = u32::from_be_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = buf[off + 4..off + 8].try_into().unwrap();
        let (size, head) = match size32 {
            1 => (
                u64::from_be_bytes(buf[off + 8..off + 16].try_into().unwrap()) as usize,
                16,
            ),
            0 => (buf.len() - off, 8),
            s => (s, 8),
        };
        if size < head || off + size > buf.len() {
            break;
        }
        out.push((kind, &buf[off + head..off + size]));
        off += size;
    }
    out
}

fn child<'a>(body: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    mp4_boxes(body)
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, b)| b)
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// The samples of a fragmented MP4's timed-text track, read from the boxes themselves (tkhd,
/// hdlr, mdhd, trex, tfhd, tfdt, trun), as (start s, duration s, size bytes). FFmpeg's demuxer
/// does not report these durations for fragmented files; players that follow the boxes do.
pub fn text_samples(path: &Path) -> Vec<(f64, f64, u32)> {
    let data = std::fs::read(path).unwrap();
    let top = mp4_boxes(&data);
    let moov = top.iter().find(|(k, _)| k == b"moov").expect("moov").1;
    let (mut track, mut timescale) = (None, 1u32);
    for (k, trak) in mp4_boxes(moov) {
        if &k != b"trak" {
            continue;
        }
        let mdia = child(trak, b"mdia").unwrap();
        let hdlr = child(mdia, b"hdlr").unwrap();
        if &hdlr[8..12] == b"sbtl" || &hdlr[8..12] == b"text" {
            let tkhd = child(trak, b"tkhd").unwrap();
            track = Some(be32(tkhd, if tkhd[0] == 1 { 20 } else { 12 }));
            let mdhd = child(mdia, b"mdhd").unwrap();
            timescale = be32(mdhd, if mdhd[0] == 1 { 20 } else { 12 });
        }
    }
    let track = track.expect("a timed-text track");
    let (mut def_dur, mut def_size) = (0u32, 0u32);
    if let Some(mvex) = child(moov, b"mvex") {
        for (k, trex) in mp4_boxes(mvex) {
            if &k == b"trex" && be32(trex, 4) == track {
                def_dur = be32(trex, 12);
                def_size = be32(trex, 16);
            }
        }
    }
    let mut out = Vec::new();
    for (k, moof) in &top {
        if k != b"moof" {
            continue;
        }
        for (k, traf) in mp4_boxes(moof) {
            if &k != b"traf" {
                continue;
            }
            let tfhd = child(traf, b"tfhd").unwrap();
            if be32(tfhd, 4) != track {
                continue;
            }
            let flags = be32(tfhd, 0) & 0xff_ffff;
            let mut at = 8;
            if flags & 0x1 != 0 {
                at += 8;
            }
            if flags & 0x2 != 0 {
                at += 4;
            }
            let (mut dur, mut size) = (def_dur, def_size);
            if flags & 0x8 != 0 {
                dur = be32(tfhd, at);
                at += 4;
            }
            if flags & 0x10 != 0 {
                size = be32(tfhd, at);
            }
            let tfdt = child(traf, b"tfdt").unwrap();
            let mut t = if tfdt[0] == 1 {
                u64::from_be_bytes(tfdt[4..12].try_into().unwrap())
            } else {
                be32(tfdt, 4) as u64
            };
            let trun = child(traf, b"trun").unwrap();
            let tflags = be32(trun, 0) & 0xff_ffff;
            let count = be32(trun, 4);
            let mut at = 8;
            if tflags & 0x1 != 0 {
                at += 4;
            }
            if tflags & 0x4 != 0 {
                at += 4;
            }
            for _ in 0..count {
                let (mut d, mut s) = (dur, size);
                if tflags & 0x100 != 0 {
                    d = be32(trun, at);
                    at += 4;
                }
                if tflags & 0x200 != 0 {
                    s = be32(trun, at);
                    at += 4;
                }
                if tflags & 0x400 != 0 {
                    at += 4;
                }
                if tflags & 0x800 != 0 {
                    at += 4;
                }
                out.push((t as f64 / timescale as f64, d as f64 / timescale as f64, s));
                t += d as u64;
            }
        }
    }
    out
}

/// A response: status code, headers (lower-case names), body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

/// One HTTP/1.1 request on a fresh connection (closed after the response).
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    use std::io::{Read, Write};
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
}

/// Starts `serve` on a free port; returns the process and its address.
pub fn serve(dir: &std::path::Path, config: Option<&std::path::Path>) -> (Station, String) {
    let mut args = Vec::new();
    if let Some(c) = config {
        args.extend(["--config".to_string(), c.display().to_string()]);
    }
    args.extend([
        "--data-dir".to_string(),
        dir.display().to_string(),
        "serve".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ]);
    let mut child = bin()
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (Station(Some(child)), addr)
}

/// Unzips a bundle into `to`.
pub fn unzip_to(zip: &Path, to: &Path) {
    use std::io::Read;
    let mut a = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    for i in 0..a.len() {
        let mut f = a.by_index(i).unwrap();
        let p = to.join(f.name().unwrap().as_ref());
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let mut b = Vec::new();
        f.read_to_end(&mut b).unwrap();
        std::fs::write(p, b).unwrap();
    }
}

/// Adds the web account `name` with `role` to the data dir `dir`, its password
/// `correct-horse-1`.
pub fn add_user(dir: &Path, name: &str, role: &str) {
    use std::io::Write;
    let mut add = bin()
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "user",
            "add",
            name,
            "--role",
            role,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "correct-horse-1").unwrap();
    assert!(add.wait().unwrap().success(), "user add {name}");
}

/// A "camera" file that sends H.264 (720p30, a keyframe a second, no B-frames) for
/// `seconds`: recorded in passthrough, its stamp goes to a text track.
pub fn h264_camera_file(path: &Path, seconds: u32) {
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=1280x720:rate=30:duration={seconds}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-bf",
            "0",
        ])
        .args(["-pix_fmt", "yuv420p"])
        .arg(path)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", show(&made));
}

/// A station that serves its pages on a free port: one test-pattern camera (0.5 s of pre-
/// and post-roll), scans from standard input, `extra` added to its config (written at
/// `cfg`). Returns it once started, with its port.
pub fn spawn_web_station(dir: &Path, cfg: &Path, extra: &str) -> (Station, u16) {
    let port = crate::rtsp::free_port();
    std::fs::write(
        cfg,
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\n\n[station]\npre_roll_s = 0.5\npost_roll_s = 0.5\n\n[[camera]]\nid = \"cam-1\"\nsource = \"testsrc\"\n\n{extra}"),
    )
    .unwrap();
    let mut station = spawn_station(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--scanner",
        "stdin",
    ]);
    station.wait_record(dir, "the station's start", |r| r["kind"] == "station_start");
    (station, port)
}

/// Seals the file `file` of `dir` (already there) as the one clip of `order` at `station`,
/// camera `cam-1`: its `clip_opened` and `clip_sealed` records (`seal` may change the
/// latter) written by the library's writer as the recorder appends them, then a checkpoint.
pub fn seal_file(
    dir: &Path,
    config: &packwitness::config::Config,
    station: &str,
    order: &str,
    file: &str,
    seal: impl FnOnce(&mut packwitness::log::Body),
) {
    use packwitness::log::{Body, SealReason};
    let bytes = std::fs::read(dir.join(file)).unwrap();
    let clock: packwitness::clock::SharedClock = std::sync::Arc::new(
        packwitness::clock::SimClock::new(chrono::Utc::now().fixed_offset()),
    );
    let mut w = packwitness::recorder::Writer::open(dir, config, clock).unwrap();
    let t = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let opened = w
        .append(Body::ClipOpened {
            order: order.into(),
            station: station.into(),
            camera: "cam-1".into(),
            operator: None,
            group: format!("g-{order}"),
            part: 1,
            box_no: 1,
            file: file.into(),
            started_at: t.clone(),
            scanned_at: t.clone(),
            first_frame: 0,
            clock_synced: Some(true),
            test_pattern: Some(false),
        })
        .unwrap();
    let mut sealed = Body::ClipSealed {
        clip: opened.seq,
        order: order.into(),
        station: station.into(),
        camera: "cam-1".into(),
        file: file.into(),
        reason: SealReason::StopCode,
        started_at: t.clone(),
        ended_at: t,
        duration_ms: 60_000,
        frames: 900,
        first_frame: 0,
        size: bytes.len() as u64,
        sha256: packwitness::digest::sha256_hex(&bytes),
        fragments: 1,
        fragments_sha256: packwitness::digest::sha256_hex(b""),
        dropped_frames: None,
        presets: Vec::new(),
    };
    seal(&mut sealed);
    w.append(sealed).unwrap();
    w.checkpoint().unwrap();
}
