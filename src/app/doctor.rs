//! `doctor`: is this station ready to record evidence? One check per thing a warehouse lead
//! can fix, each failure with the one thing to do.
//!
//! Owns: the checks and their verdicts (pass, fail, skipped): the config, the data dir, free
//! disk and hours of recording left at the measured rate, every camera (frames and their rate,
//! a test pattern is never evidence), every scanner device, the clock and what keeps it, the
//! stamp font, the listen port, the station key (and that its backup was confirmed), the
//! accounts a listening server needs, the
//! TSAs, witnesses and archive, and the systemd service. When a recorder runs on the data dir,
//! its cameras and scanners are judged from its own status (they are held by it).
//! Never: prints, or changes anything: cameras and scanners are opened read-only and closed,
//! the listen port is bound only to be released at once, and no check waits more than a few
//! seconds.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{CameraConfig, Config, ScannerConfig, ScannerKind};
use crate::media::source::{self, AnySource, FrameSource, SourceSpec};
use crate::recorder::health::CameraState;
use crate::recorder::status::ProcessStatus;

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// Not applicable here (nothing configured, or the machine cannot tell).
    Skipped,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "ok",
            Verdict::Fail => "FAIL",
            Verdict::Skipped => "skipped",
        }
    }
}

/// One check: what was checked, what was found, and on failure what to do.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    pub verdict: Verdict,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn pass(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            verdict: Verdict::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            verdict: Verdict::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn skipped(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            verdict: Verdict::Skipped,
            detail: detail.into(),
            fix: None,
        }
    }
}

/// Every check, in the order they ran.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub checks: Vec<Check>,
}

/// How doctor runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The config file given (for messages), `None` for the built-in defaults.
    pub config_path: Option<PathBuf>,
    /// The data dir: `--data-dir`, else the config's.
    pub data_dir: Option<PathBuf>,
    /// How long each camera is watched for frames.
    pub probe: Duration,
    /// The systemd unit that runs the recorder.
    pub unit: String,
}

/// Runs every check.
pub fn run(config: &Config, opts: &Options) -> Report {
    let mut checks = vec![match &opts.config_path {
        Some(p) => Check::pass("config", format!("{} read and valid", p.display())),
        None => Check::pass(
            "config",
            "no --config: the built-in defaults (one station recording a test pattern)",
        ),
    }];
    let data_dir = opts.data_dir.clone().or_else(|| config.data_dir.clone());
    let status = data_dir
        .as_deref()
        .filter(|d| crate::datadir::writer_running(d))
        .and_then(|d| crate::recorder::socket::recorder_status(d).ok());
    checks.push(data_dir_check(data_dir.as_deref()));
    if let Some(dir) = data_dir.as_deref() {
        checks.push(disk_check(config, dir, status.as_ref()));
    }
    for st in &config.stations {
        for cam in &st.cameras {
            let name = format!("camera {}/{}", st.id, cam.id);
            checks.push(
                running_camera(&name, status.as_ref(), &st.id, &cam.id)
                    .unwrap_or_else(|| camera_check(name, cam, opts.probe)),
            );
        }
        for sc in &st.scanners {
            let name = format!("scanner {}/{}", st.id, sc.id);
            checks.push(scanner_check(name, sc, status.is_some()));
        }
    }
    checks.push(clock_check());
    checks.push(match crate::media::font::check_config(config) {
        Ok(()) => Check::pass(
            "stamp font",
            "covers the stamp template, station and camera ids",
        ),
        Err(e) => Check::fail(
            "stamp font",
            e.to_string(),
            "install fonts-wqy-microhei (apt install fonts-wqy-microhei) or set [encode] font_file",
        ),
    });
    checks.push(listen_check(&config.server.listen, status.is_some()));
    if let Some(dir) = data_dir.as_deref() {
        checks.push(key_check(config, dir));
        checks.push(accounts_check(&config.server.listen, dir));
    }
    for url in &config.anchor.tsa {
        checks.push(reachable(format!("tsa {url}"), url));
    }
    for w in &config.anchor.witness {
        checks.push(reachable(format!("witness {}", w.url), &w.url));
    }
    if !config.archive.url.is_empty() {
        checks.push(archive_check(config));
    }
    if !config.c2pa.cert.is_empty() {
        checks.push(c2pa_check(config));
    }
    checks.push(service_check(&opts.unit));
    Report {
        ok: checks.iter().all(|c| c.verdict != Verdict::Fail),
        checks,
    }
}

fn writable(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: access() only reads the NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

fn data_dir_check(dir: Option<&Path>) -> Check {
    let Some(dir) = dir else {
        return Check::fail(
            "data dir",
            "no data dir",
            "set data_dir in the config (/var/lib/packwitness/data for the service) or pass --data-dir",
        );
    };
    let shown = dir.display();
    if dir.is_dir() {
        if !writable(dir) {
            return Check::fail(
                "data dir",
                format!("{shown} cannot be written by this user"),
                format!("run doctor as the service user (sudo -u packwitness ...), or give it the dir: chown -R packwitness: {shown}"),
            );
        }
        return match crate::datadir::existing(dir) {
            Ok(()) => Check::pass("data dir", format!("{shown}: a data dir, writable")),
            Err(_) if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none()) => Check::pass(
                "data dir",
                format!("{shown}: empty, made a data dir at the first start"),
            ),
            Err(e) => Check::fail(
                "data dir",
                e.to_string(),
                "point data_dir at a packwitness data dir or at a new, empty directory",
            ),
        };
    }
    if dir.exists() {
        return Check::fail(
            "data dir",
            format!("{shown} is not a directory"),
            "point data_dir at a directory",
        );
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if writable(parent) {
        Check::pass(
            "data dir",
            format!("{shown} does not exist yet: the first start makes it"),
        )
    } else {
        Check::fail(
            "data dir",
            format!(
                "{shown} does not exist and {} cannot be written",
                parent.display()
            ),
            format!(
                "create it for the service user: install -d -o packwitness -g packwitness {shown}"
            ),
        )
    }
}

fn disk_check(config: &Config, dir: &Path, status: Option<&ProcessStatus>) -> Check {
    let at = if dir.exists() {
        dir
    } else {
        dir.parent().unwrap_or(Path::new("."))
    };
    let free = match crate::datadir::free_bytes(at) {
        Ok(f) => f,
        Err(e) => {
            return Check::fail(
                "disk",
                format!("cannot read the free space of {}: {e}", at.display()),
                "check that the data disk is mounted",
            )
        }
    };
    let floor = config.retention.min_free_mb.saturating_mul(1024 * 1024);
    // The measured rate: the running recorder's, else the latest sealed clips'.
    let rate = status
        .map(|s| s.bytes_per_s)
        .filter(|r| *r > 0.0)
        .or_else(|| {
            let index = crate::index::Index::open_read(dir).ok()?;
            let mut rate = crate::retention::RecordingRate::default();
            let mut rows = index.recent_sealed_sizes(200).ok()?;
            rows.reverse();
            for (station, camera, size, ms) in rows {
                rate.observe(&station, &camera, size, ms);
            }
            Some(rate.bytes_per_s()).filter(|r| *r > 0.0)
        });
    let gb = free as f64 / 1e9;
    if free <= floor {
        return Check::fail(
            "disk",
            format!("{gb:.1} GB free, under the floor of [retention] min_free_mb = {}", config.retention.min_free_mb),
            "free space on the data disk or give it a bigger one; retention removes the oldest unheld clips only down to the floor",
        );
    }
    let Some(rate) = rate else {
        return Check::pass(
            "disk",
            format!("{gb:.1} GB free; no clip measured yet, so no hours-left figure (a 720p30 camera writes about 1 GB an hour)"),
        );
    };
    let hours = (free - floor) as f64 / rate / 3600.0;
    let detail = format!(
        "{gb:.1} GB free: {hours:.0} hours of recording at the measured {:.2} GB an hour (every camera recording)",
        rate * 3600.0 / 1e9
    );
    if hours < crate::recorder::status::LOW_DISK_HOURS {
        Check::fail(
            "disk",
            detail,
            "free space on the data disk; retention keeps only the floor free",
        )
    } else {
        Check::pass("disk", detail)
    }
}

/// A camera of the running recorder, from its status.
fn running_camera(
    name: &str,
    status: Option<&ProcessStatus>,
    station: &str,
    camera: &str,
) -> Option<Check> {
    let c = status?
        .stations
        .iter()
        .find(|x| x.id == station)?
        .health
        .as_ref()?
        .cameras
        .iter()
        .find(|c| c.camera == camera)?;
    let state = c.state.as_str();
    Some(if c.state == CameraState::Live {
        Check::pass(
            name,
            format!(
                "live in the running recorder at {:.1} frames/s ({} frames so far)",
                c.fps, c.frames
            ),
        )
    } else {
        Check::fail(
            name,
            format!(
                "{state} in the running recorder: {}",
                c.reason.as_deref().unwrap_or("no frames")
            ),
            "check the camera's cable or network and its source in the config (journalctl -u packwitness says more)",
        )
    })
}

fn camera_check(name: String, cam: &CameraConfig, probe: Duration) -> Check {
    let spec = SourceSpec::parse(&cam.source);
    if spec.is_test_pattern() {
        return Check::fail(
            name,
            format!("{}: a test pattern, not evidence", cam.source),
            "set the camera's source to the real camera: usb:0 (packwitness cameras lists them) or its rtsp:// URL",
        );
    }
    let shown = source::redacted(&cam.source);
    let mut src: Box<dyn FrameSource> = match source::open_source(cam) {
        Ok(AnySource::Ffmpeg(s)) => Box::new(s),
        Ok(AnySource::Usb(u)) => u,
        Err(e) => {
            return Check::fail(
                name,
                e.to_string(),
                match spec {
                    SourceSpec::Usb(_) | SourceSpec::UsbPath(_) => "plug the camera in (packwitness cameras lists what is there); the user needs group video",
                    SourceSpec::Url(_) => "check the camera's address, user and password, and that this PC reaches it",
                    _ => "check the source's path",
                },
            )
        }
    };
    let nominal = src.info().fps();
    let t = Instant::now();
    let mut frames = 0u64;
    while t.elapsed() < probe {
        match src.next_frame() {
            Ok(Some(_)) => frames += 1,
            Ok(None) => break,
            Err(e) => {
                return Check::fail(
                    name,
                    format!("{shown}: opened, then {e}"),
                    "check the camera's cable or network",
                )
            }
        }
    }
    let secs = t.elapsed().as_secs_f64().max(1e-3);
    let rate = frames as f64 / secs;
    let detail = format!("{shown}: {frames} frames in {secs:.1} s, {rate:.1} a second (the source says {nominal:.1})");
    if frames == 0 {
        Check::fail(name, detail, "the camera opened but sent no picture: check it in another player, then its cable or network")
    } else if nominal > 0.0 && rate < 0.8 * nominal && !matches!(spec, SourceSpec::File(_)) {
        Check::fail(
            name,
            detail,
            "the camera sends fewer frames than it says: lower its resolution, use its MJPEG mode (pixel_format = \"mjpeg\"), or check the network",
        )
    } else {
        Check::pass(name, detail)
    }
}

fn scanner_check(name: String, sc: &ScannerConfig, recorder_runs: bool) -> Check {
    match sc.kind {
        ScannerKind::Stdin => {
            return Check::fail(
                name,
                "standard input: a terminal's keyboard, which is /dev/null under systemd",
                "give the station a [[station.scanner]] of kind \"evdev\" (ls /dev/input/by-id/) or \"serial\" (ls /dev/serial/by-id/)",
            )
        }
        ScannerKind::Evdev | ScannerKind::Serial => {}
    }
    let path = sc.path.display();
    if !sc.path.exists() {
        return Check::fail(
            name,
            format!("{path} does not exist"),
            "plug the scanner in; use its stable name under /dev/input/by-id/ or /dev/serial/by-id/ (ls -l there)",
        );
    }
    if recorder_runs {
        return Check::pass(
            name,
            format!("{path} is there; the running recorder reads it"),
        );
    }
    // Without blocking on it (a FIFO with no writer, a serial line).
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(&sc.path)
    {
        Ok(_) => Check::pass(name, format!("{path} can be read")),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Check::fail(
            name,
            format!("{path}: {e}"),
            match sc.kind {
                ScannerKind::Serial => "add the service user to group dialout (the package does)",
                _ => "add the service user to group input (the package does)",
            },
        ),
        Err(e) => Check::fail(name, format!("{path}: {e}"), "plug the scanner in again"),
    }
}

/// The time daemon running here, if one is known.
fn time_daemon() -> Option<&'static str> {
    let known = [
        ("chronyd", "chrony"),
        ("systemd-timesyn", "systemd-timesyncd"),
        ("ntpd", "ntpd"),
        ("ntpsec", "ntpsec"),
        ("openntpd", "openntpd"),
        ("ptp4l", "ptp4l (PTP)"),
    ];
    let procs = std::fs::read_dir("/proc").ok()?;
    for p in procs.flatten() {
        let Ok(comm) = std::fs::read_to_string(p.path().join("comm")) else {
            continue;
        };
        if let Some((_, name)) = known.iter().find(|(c, _)| comm.trim() == *c) {
            return Some(name);
        }
    }
    None
}

fn clock_check() -> Check {
    let by = time_daemon();
    let by_text = by.map_or("no time daemon found running".to_string(), |d| {
        format!("kept by {d}")
    });
    match crate::clock::system_clock_synchronised() {
        Some(true) => Check::pass("clock", format!("synchronised, {by_text}")),
        Some(false) => Check::fail(
            "clock",
            format!("not synchronised ({by_text}): clips would carry times nobody can check"),
            match by {
                Some(_) => "let the time daemon reach its servers (timedatectl timesync-status, chronyc sources)",
                None => "install and enable one: apt install systemd-timesyncd (or chrony), then timedatectl set-ntp true",
            },
        ),
        None => Check::skipped("clock", format!("this system cannot say whether it is synchronised ({by_text})")),
    }
}

fn listen_check(listen: &str, recorder_runs: bool) -> Check {
    if listen.is_empty() {
        return Check::skipped("listen", "no [server] listen: no web app or station screen");
    }
    match std::net::TcpListener::bind(listen) {
        Ok(_) => Check::pass("listen", format!("{listen} is free")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && recorder_runs => {
            Check::pass("listen", format!("{listen} is the running recorder's"))
        }
        Err(e) => Check::fail(
            "listen",
            format!("cannot listen on {listen}: {e}"),
            "stop what listens there (ss -ltnp) or change [server] listen",
        ),
    }
}

fn key_check(config: &Config, dir: &Path) -> Check {
    use std::os::unix::fs::MetadataExt;
    let path = crate::datadir::key_path(dir, &config.ledger.key_file);
    let shown = path.display();
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return if dir.join("manifest.jsonl").exists() {
                Check::fail(
                    "station key",
                    format!("{shown} is missing, but the data dir has a log"),
                    "restore the key from its backup before starting (a new key cannot continue this log's signatures)",
                )
            } else {
                Check::pass(
                    "station key",
                    format!("{shown} is made at the first start; back it up then"),
                )
            };
        }
        Err(e) => {
            return Check::fail(
                "station key",
                format!("{shown}: {e}"),
                "run doctor as the service user (sudo -u packwitness ...) or as root",
            )
        }
    };
    if meta.mode() & 0o077 != 0 {
        return Check::fail(
            "station key",
            format!(
                "{shown} can be read by others (mode {:o})",
                meta.mode() & 0o777
            ),
            format!("chmod 600 {shown}"),
        );
    }
    let verifier = crate::log::note::StationKey::read(&path)
        .ok()
        .map(|k| k.verifier());
    match verifier {
        Some(v) => match crate::datadir::key_backed_up(&path, &v) {
            Some(at) => Check::pass(
                "station key",
                format!("{shown}: readable by its owner only, backed up (confirmed {at}); publish its public key: {v}"),
            ),
            None => Check::fail(
                "station key",
                format!("{shown}: readable by its owner only, but not confirmed as backed up; without a copy a lost disk ends this station's log"),
                format!("copy {shown} to an offline place (an encrypted USB stick in a safe, never this PC or its data disk), then confirm: packwitness key --backed-up"),
            ),
        },
        None => Check::fail(
            "station key",
            format!("{shown} is not a station key"),
            "restore the key from its backup",
        ),
    }
}

fn accounts_check(listen: &str, dir: &Path) -> Check {
    let beyond_loopback = listen
        .parse::<std::net::SocketAddr>()
        .map(|a| !a.ip().is_loopback())
        .unwrap_or(!listen.is_empty() && !listen.starts_with("localhost"));
    if !beyond_loopback {
        return Check::skipped(
            "accounts",
            "the server listens on this PC only (or not at all)",
        );
    }
    match crate::web::accounts::load(dir) {
        Ok(users) if users.is_empty() => Check::fail(
            "accounts",
            format!("{listen} is reachable from other machines and there is no account"),
            "packwitness user add NAME --role admin (then agents and viewers)",
        ),
        Ok(users) => Check::pass("accounts", format!("{} account(s)", users.len())),
        Err(e) => Check::fail(
            "accounts",
            e.to_string(),
            "the accounts file must be readable by the service user: chown packwitness: it (packwitness user add as root does this)",
        ),
    }
}

/// Whether a TCP connection to the URL's host and port opens within 3 s.
/// The archive answers this station's token with the state of its log (`GET /v1/log`).
fn archive_check(config: &Config) -> Check {
    use crate::archive::ArchiveError;
    let url = &config.archive.url;
    let client = match crate::archive::client::Client::new(&config.archive) {
        Ok(c) => c,
        Err(e) => return Check::fail("archive", e.to_string(), "correct [archive] in the config"),
    };
    match client.held_within(Duration::from_secs(10)) {
        Ok(held) => Check::pass(
            "archive",
            format!(
                "{url} accepts this station's token: it holds {} lines of log {:?}, {} clip(s) still to send",
                held.size, held.origin, held.pending_total
            ),
        ),
        Err(ArchiveError::Answer { status: 401 | 403, text, .. }) => Check::fail(
            "archive",
            format!("{url} refuses this station's token ({text})"),
            "on the archive, run `packwitness archive add-station '<this station's key, from packwitness key>'` and put the last line it prints in [archive] token",
        ),
        Err(e @ ArchiveError::Unreachable { .. }) => Check::fail(
            "archive",
            e.to_string(),
            "check that the archive runs and the network and any firewall between this PC and it",
        ),
        Err(e) => Check::fail(
            "archive",
            e.to_string(),
            "see the archive's log for why it answered so",
        ),
    }
}

/// `[c2pa]`: the certificate and key load and can sign (an export would otherwise go out
/// without content credentials, saying so only in the log).
fn c2pa_check(config: &Config) -> Check {
    match crate::provenance::Signing::from_config(config) {
        Ok(Some(s)) => Check::pass(
            "content credentials",
            format!(
                "[c2pa] signs as {} ({:?}){}",
                s.subject,
                s.alg(),
                if s.timestamped() { ", time-stamped through [anchor] tsa" } else { ", not time-stamped" }
            ),
        ),
        Ok(None) => Check::skipped("content credentials", "no [c2pa] cert"),
        Err(e) => Check::fail(
            "content credentials",
            e.to_string(),
            "fix [c2pa] cert and key (docs/provenance.md): until then bundles and MP4s for upload carry no content credentials",
        ),
    }
}

fn reachable(name: impl Into<String>, url: &str) -> Check {
    let name = name.into();
    let parsed = reqwest::Url::parse(url).ok();
    let Some((host, port)) = parsed
        .as_ref()
        .and_then(|u| Some((u.host_str()?.to_string(), u.port_or_known_default()?)))
    else {
        return Check::fail(
            name,
            format!("{url} is not a URL"),
            "give an http:// or https:// URL",
        );
    };
    use std::net::ToSocketAddrs;
    let addrs: Vec<_> = match (host.as_str(), port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => {
            return Check::fail(
                name,
                format!("{host}: {e}"),
                "check the name and this PC's DNS",
            )
        }
    };
    let mut last = None;
    for a in addrs {
        match std::net::TcpStream::connect_timeout(&a, Duration::from_secs(3)) {
            Ok(_) => return Check::pass(name, format!("{host}:{port} answers")),
            Err(e) => last = Some(e),
        }
    }
    Check::fail(
        name,
        format!(
            "{host}:{port} cannot be reached: {}",
            last.map_or("no address".into(), |e| e.to_string())
        ),
        "check the network and any firewall between this PC and it",
    )
}

fn service_check(unit: &str) -> Check {
    if !Path::new("/run/systemd/system").is_dir() {
        return Check::skipped("service", "systemd is not running here");
    }
    let ask = |what: &str| {
        std::process::Command::new("systemctl")
            .args([what, unit])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let (Some(enabled), Some(active)) = (ask("is-enabled"), ask("is-active")) else {
        return Check::skipped("service", "systemctl cannot be run");
    };
    if enabled == "enabled" && active == "active" {
        Check::pass("service", format!("{unit} is enabled and running"))
    } else {
        Check::fail(
            "service",
            format!("{unit} is {enabled} and {active}"),
            format!("systemctl enable --now {unit} (journalctl -u {unit} says why it stopped)"),
        )
    }
}
