//! App: the parts put together for the commands: a recording process (stations, scanners,
//! the web server, signals), the demo, the benchmarks, and loading a config.
//!
//! Owns: reading the config file once (the hash recorded is of the bytes parsed) and running
//! every check on it, including those that need another module's parser; turning `run
//! --source/--scanner` into a one-station config; the account name for records.
//! Never: prints. The binary (`src/cmd/`) does, through [`run::Feedback`] and observers.

use std::path::Path;

use crate::config::{CameraConfig, Config, ScannerConfig, ScannerKind};
use crate::error::Error;

pub mod alarm;
pub mod archive;
pub mod archive_access;
pub mod archive_app;
mod archive_dispute;
mod archive_downloads;
pub mod archive_export;
pub mod archive_pages;
pub mod archive_search;
mod archive_share;
mod archive_upload;
pub mod bench;
pub mod demo;
pub mod doctor;
pub mod run;
pub mod witness;

/// A config and the SHA-256 of the bytes it was parsed from.
pub struct Loaded {
    pub config: Config,
    /// Lowercase hex; of the empty string for the built-in defaults.
    pub sha256: String,
}

/// Reads and checks a config file (or takes the built-in defaults), reading it once.
pub fn load_config(path: Option<&Path>) -> Result<Loaded, Error> {
    let Some(path) = path else {
        let config = Config::default();
        validate(&config)?;
        return Ok(Loaded {
            config,
            sha256: crate::digest::sha256_hex(b""),
        });
    };
    let bytes = std::fs::read(path).map_err(|source| crate::config::ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|e| crate::config::ConfigError::Parse {
        path: path.to_owned(),
        message: format!("not UTF-8 text: {e}"),
    })?;
    let config = Config::parse(text, path)?;
    validate(&config).map_err(|e| e.context(format!("config file {}", path.display())))?;
    Ok(Loaded {
        config,
        sha256: crate::digest::sha256_hex(&bytes),
    })
}

/// The checks of a config that need other modules: the stamp template and the code rules.
pub fn validate(config: &Config) -> Result<(), Error> {
    crate::media::stamp::parse_template(&config.encode.stamp_template)
        .map_err(|e| Error::invalid(format!("encode.stamp_template: {e}")))?;
    crate::codes::Classifier::new(&config.codes)?;
    Ok(())
}

/// `run --source SPEC --scanner S...`: one station recording from SPEC (replacing the config's
/// cameras) with these scanners (replacing the config's); a station with no scanner reads
/// standard input.
pub fn one_station(
    mut config: Config,
    source: Option<String>,
    scanners: &[String],
) -> Result<Config, Error> {
    if (source.is_some() || !scanners.is_empty()) && config.stations.len() > 1 {
        return Err(Error::invalid(format!(
            "--source and --scanner set up a single station, but the config has {} stations; give each station's cameras and scanners in the config instead",
            config.stations.len()
        )));
    }
    if let Some(first) = config.stations.first_mut() {
        if let Some(spec) = source {
            first.cameras = vec![CameraConfig {
                source: spec,
                ..CameraConfig::default()
            }];
            first.default_camera = false;
        }
        if !scanners.is_empty() {
            first.scanners.clear();
            for (i, spec) in scanners.iter().enumerate() {
                let mut s = crate::scanners::parse_scanner_spec(spec).map_err(Error::invalid)?;
                if scanners.len() > 1 {
                    s.id = format!("scanner-{}", i + 1);
                }
                first.scanners.push(s);
            }
        }
        if first.scanners.is_empty() {
            first.scanners.push(ScannerConfig::default());
        }
    }
    config
        .validate()
        .map_err(|e| Error::invalid(format!("--source/--scanner: {e}")))?;
    validate(&config)?;
    // Recording the built-in test pattern as if it were a camera would be evidence of nothing.
    if let Some(st) = config.stations.iter().find(|s| s.default_camera) {
        return Err(Error::invalid(format!(
            "station {} has no camera: add a [[camera]] table with its source (rtsp://..., usb:0, /dev/video0) to the config, or pass --source (`--source testsrc` records a test pattern, which is not evidence)",
            st.id
        )));
    }
    Ok(config)
}

/// Refuses a stdin scanner when standard input is the null device (as systemd gives a
/// service by default): it would end at once, and the service restart in a loop.
pub fn check_stdin(config: &Config) -> Result<(), Error> {
    let reads_stdin = config
        .stations
        .iter()
        .any(|st| st.scanners.iter().any(|s| s.kind == ScannerKind::Stdin));
    if reads_stdin && stdin_is_dev_null() {
        return Err(Error::invalid(
            "a scanner reads standard input, but standard input is /dev/null (a service?), so it would end at once; \
             give the station a [[station.scanner]] of kind \"evdev\" or \"serial\" in the config, or `run --scanner evdev:/dev/input/by-id/...-event-kbd`",
        ));
    }
    Ok(())
}

/// True when standard input is the null device.
fn stdin_is_dev_null() -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let (Ok(stdin), Ok(null)) = (
            std::fs::metadata("/proc/self/fd/0"),
            std::fs::metadata("/dev/null"),
        ) else {
            return false;
        };
        stdin.file_type().is_char_device() && stdin.rdev() == null.rdev()
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// The account running the command, for access and hold records.
pub fn user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| format!("uid {}", uid()))
}

fn uid() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Uid:")
                    .map(|v| v.split_whitespace().next().unwrap_or("?").to_string())
            })
        })
        .unwrap_or_else(|| "?".into())
}

/// How a service of its own (the witness, the archive) takes connections.
pub(crate) struct Caps {
    pub per_ip: usize,
    /// A connection idle this long is closed.
    pub idle: std::time::Duration,
    /// A whole request (head and body) must arrive within this.
    pub request: std::time::Duration,
}

/// Serves `app` on `listener` in `runtime` until SIGINT/SIGTERM (then gracefully); `ready` is
/// called once the signal handler is in place. `what` names the service in errors.
pub(crate) fn serve_until_signal(
    runtime: &tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    app: axum::Router,
    caps: Caps,
    what: &str,
    ready: impl FnOnce(),
) -> Result<(), crate::Error> {
    let bad =
        |why: String| crate::Error::msg(crate::ErrorKind::Unavailable, format!("{what}: {why}"));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_tx = std::sync::Mutex::new(Some(stop_tx));
    run::on_signal(move || {
        if let Some(tx) = stop_tx.lock().ok().and_then(|mut g| g.take()) {
            let _ = tx.send(());
        }
    })?;
    ready();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| bad(format!("cannot use its socket: {e}")))?;
        let listener = axum::serve::ListenerExt::tap_io(
            crate::web::Capped::new(listener, caps.per_ip, caps.idle, caps.request),
            |_| {},
        );
        // The peer's address reaches the handlers (the app's login throttle counts by it).
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stop_rx.await;
        })
        .await
        .map_err(|e| bad(format!("stopped: {e}")))
    })
}
