//! Configuration: the TOML file a warehouse lead edits, parsed strictly.
//!
//! Owns: the shape of `packwitness.toml`, its defaults, and the checks that need nothing but
//! the config itself (ids, ranges, uniqueness). Checks that need another module's parser (the
//! stamp template, the code rules) live with that module and are run by the app
//! (`app::load_config`).
//! Never: opens devices, touches the data dir or depends on another module of the crate.
//! Unknown keys are an error, so a typo never silently falls back to a default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

mod sections;
pub use sections::{
    is_loopback_url, AnchorConfig, ArchiveConfig, ArchiveServerConfig, C2paConfig, FeedbackConfig,
    FeedbackLang, LockMode, NotifyConfig, RecorderConfig, RtspClient, RtspTransport, ServerConfig,
    UploadConfig, UploadPreset, WitnessConfig,
};

impl From<ConfigError> for crate::Error {
    fn from(e: ConfigError) -> crate::Error {
        crate::Error::new(crate::ErrorKind::Invalid, e)
    }
}

/// Everything that can go wrong while loading a config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source} (check the path given with --config)")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The whole config file, after parsing. Every key is optional; see `config/packwitness.toml`
/// (one station) and `config/two-stations.toml` (several stations in one process).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where clips, the manifest and the index live.
    pub data_dir: Option<PathBuf>,
    /// The stations this process records, each with its cameras and scanners (at least one).
    /// From `[station]` plus top-level `[[camera]]` tables, or from `[[station]]` tables with
    /// `[[station.camera]]` tables.
    pub stations: Vec<StationConfig>,
    pub encode: EncodeConfig,
    pub codes: CodeConfig,
    pub ledger: LedgerConfig,
    pub feedback: FeedbackConfig,
    pub server: ServerConfig,
    pub retention: RetentionConfig,
    pub alarm: AlarmConfig,
    pub anchor: AnchorConfig,
    pub recorder: RecorderConfig,
    pub archive: ArchiveConfig,
    pub archive_server: ArchiveServerConfig,
    /// Webhooks (`[[notify]]`).
    pub notify: Vec<NotifyConfig>,
    pub upload: UploadConfig,
    pub c2pa: C2paConfig,
}

/// What is run when an alarm is raised or cleared (`[alarm]`): a camera lost or stalled, an
/// order open and not recorded, video waiting to be written, the disk filling, the manifest
/// writer failing, the clock unsynchronised.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AlarmConfig {
    /// Program and arguments, run on every change with `PACKWITNESS_ALARM` (the kind),
    /// `PACKWITNESS_ALARM_STATE` (`raised` or `cleared`), `PACKWITNESS_STATION`,
    /// `PACKWITNESS_CAMERA`, `PACKWITNESS_REASON` and `PACKWITNESS_DATA_DIR` in its
    /// environment; empty: alarms are only logged (and shown by status and `/healthz`).
    pub command: Vec<String>,
    /// Warnings (of [`AlarmConfig::WARNINGS`]) to treat as problems: `/healthz` answers 503
    /// and `status` exits 1 while one is raised. Empty: they only warn.
    pub strict: Vec<String>,
}

impl AlarmConfig {
    /// The alarms that are warnings: recording goes on, what it records is weaker (its times,
    /// its copy off the station). Every other alarm is a problem (docs/operations.md).
    pub const WARNINGS: [&'static str; 4] = [
        "clock_unsynchronised",
        "archive_lag",
        "archive_refused",
        "notify_failing",
    ];

    /// Whether the alarm `kind` makes `/healthz` unhealthy under this config.
    pub fn is_problem(&self, kind: &str) -> bool {
        !AlarmConfig::WARNINGS.contains(&kind) || self.strict.iter().any(|k| k == kind)
    }
}

/// When sealed clips are removed (`[retention]`). Held clips never are; every removal is a
/// `pruned` record first.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Remove clips whose order was scanned more than this many days ago; 0: no age limit.
    /// With `[archive]`, only clips the archive confirmed holding are removed for age.
    pub keep_days: u32,
    /// With `[archive]`: remove a clip this many days after its order was scanned once the
    /// archive confirmed holding it (the `pruned` record names the archive's receipt); 0: off.
    /// A clip the archive has not confirmed is never removed for age.
    pub keep_days_after_archive: u32,
    /// Keep this much space free on the data dir's disk by removing the oldest clips; 0: off.
    pub min_free_mb: u64,
    /// ...but never, for space, a clip younger than this.
    pub min_age_hours: u32,
    /// Keep at least this many minutes of recording free, at the rate the sealed clips were
    /// measured at (all cameras); the floor is this or `min_free_mb`, whichever is larger.
    pub reserve_minutes: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            keep_days: 0,
            keep_days_after_archive: 0,
            min_free_mb: 2048,
            min_age_hours: 24,
            reserve_minutes: 120,
        }
    }
}

/// The file as written: `station` is one table or an array of tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig<S> {
    #[serde(default)]
    data_dir: Option<PathBuf>,
    station: Option<S>,
    /// Cameras of the only station (the one-station shape).
    #[serde(default, rename = "camera")]
    cameras: Vec<CameraConfig>,
    #[serde(default)]
    encode: EncodeConfig,
    #[serde(default)]
    codes: CodeConfig,
    #[serde(default)]
    ledger: LedgerConfig,
    #[serde(default)]
    feedback: FeedbackConfig,
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    retention: RetentionConfig,
    #[serde(default)]
    alarm: AlarmConfig,
    #[serde(default)]
    anchor: AnchorConfig,
    #[serde(default)]
    recorder: RecorderConfig,
    #[serde(default)]
    archive: ArchiveConfig,
    #[serde(default)]
    archive_server: ArchiveServerConfig,
    #[serde(default)]
    notify: Vec<NotifyConfig>,
    #[serde(default)]
    upload: UploadConfig,
    #[serde(default)]
    c2pa: C2paConfig,
}

impl<S> FileConfig<S> {
    /// The config, with the stations made from `station` and `camera`.
    fn with_stations(self, stations: Vec<StationConfig>) -> Config {
        Config {
            data_dir: self.data_dir,
            stations,
            encode: self.encode,
            codes: self.codes,
            ledger: self.ledger,
            feedback: self.feedback,
            alarm: self.alarm,
            anchor: self.anchor,
            server: self.server,
            retention: self.retention,
            recorder: self.recorder,
            archive: self.archive,
            archive_server: self.archive_server,
            notify: self.notify,
            upload: self.upload,
            c2pa: self.c2pa,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StationConfig {
    /// Station id, burned into the picture and written into every record.
    pub id: String,
    /// A clip still open after this many seconds is sealed with reason `timeout`.
    pub max_clip_s: u32,
    /// Seconds of video before the scan that a clip starts with (from the keyframe before).
    pub pre_roll_s: f64,
    /// Seconds of video after a stop code that a clip still records.
    pub post_roll_s: f64,
    /// The order being recorded is scanned again: `seal`, `ignore` or `next_box`.
    pub rescan_same_order: Rescan,
    /// The same code scanned again within this many milliseconds is ignored.
    pub debounce_ms: u64,
    /// A secret (at least 16 characters) that lets a program (a WMS) send this station's
    /// scans over HTTP (`Authorization: Bearer ...` on `POST /api/stations/<id>/scan`) and
    /// nothing else. Empty: only an admin (or `[server] token`) may.
    pub scan_token: String,
    /// The station's barcode scanners; none: standard input (one station only).
    #[serde(rename = "scanner")]
    pub scanners: Vec<ScannerConfig>,
    /// The station's cameras, in order (`[[station.camera]]`, or top-level `[[camera]]` when
    /// there is one station). Default: one test-pattern camera.
    #[serde(rename = "camera")]
    pub cameras: Vec<CameraConfig>,
    /// True when no camera was configured and `cameras` is the built-in test pattern:
    /// `run` refuses it (a test pattern is no evidence) unless `--source` is given.
    #[serde(skip, default = "yes")]
    pub default_camera: bool,
}

fn yes() -> bool {
    true
}

impl Default for StationConfig {
    fn default() -> Self {
        StationConfig {
            id: "station-1".into(),
            max_clip_s: 900,
            pre_roll_s: 3.0,
            post_roll_s: 2.0,
            rescan_same_order: Rescan::Seal,
            debounce_ms: 1500,
            scan_token: String::new(),
            scanners: Vec::new(),
            cameras: default_cameras(),
            default_camera: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CameraConfig {
    /// Camera id, unique within the station.
    pub id: String,
    /// Source spec: `testsrc`, `lavfi:<filtergraph>`, `rtsp://...`, `http(s)://...`, or a file path.
    pub source: String,
    /// Read file and lavfi sources at their own frame rate, as a camera would deliver them.
    /// Network sources are always live and ignore this.
    pub realtime: bool,
    /// A network camera that sends nothing for this many seconds is taken as lost.
    pub stall_timeout_s: u32,
    /// `auto` (passthrough for H.264/H.265 network cameras, transcode otherwise),
    /// `transcode` or `passthrough`.
    pub mode: CaptureMode,
    /// `rtsp://` passthrough: `retina` (default) or `ffmpeg`; and `tcp` (default) or `udp`.
    pub rtsp_client: RtspClient,
    pub rtsp_transport: RtspTransport,
    /// USB cameras: the picture size and frame rate asked for (the closest offered is used).
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// USB cameras: `mjpeg`, `yuyv`, or `any` (MJPEG if offered, else YUYV).
    pub pixel_format: String,
}

/// How a camera's video becomes clips.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CaptureMode {
    /// Passthrough when the camera already sends H.264/H.265 over the network.
    #[default]
    Auto,
    /// Decode, burn in the stamp, encode with libx264.
    Transcode,
    /// Copy the camera's packets; the stamp goes into a text track.
    Passthrough,
}

impl Default for CameraConfig {
    fn default() -> Self {
        CameraConfig {
            id: "cam-1".into(),
            source: "testsrc".into(),
            realtime: true,
            stall_timeout_s: 5,
            mode: CaptureMode::Auto,
            rtsp_client: RtspClient::Retina,
            rtsp_transport: RtspTransport::Tcp,
            width: 1280,
            height: 720,
            fps: 30,
            pixel_format: "any".into(),
        }
    }
}

fn default_cameras() -> Vec<CameraConfig> {
    vec![CameraConfig::default()]
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EncodeConfig {
    /// libx264 preset.
    pub preset: String,
    /// libx264 constant rate factor (0-51, lower is better quality and bigger files).
    pub crf: u8,
    /// Seconds between keyframes. Bounds how precisely clips can start and what a crash loses.
    pub keyframe_interval_s: f64,
    /// Extra libx264 options, `key=value:key=value`.
    pub x264_params: String,
    /// Burn order, station, camera and local time into the picture.
    pub stamp: bool,
    /// What the stamp says: text with placeholders {order} {tracking} {station} {camera}
    /// {operator} {time} (local, with milliseconds) {offset} (UTC offset).
    pub stamp_template: String,
    /// Cap on the bit rate in kbit/s (libx264 VBV); 0 = none, CRF alone decides.
    pub max_rate_kbps: u32,
    /// TrueType/OpenType font (or collection) for the stamp; empty: the first installed of
    /// a CJK-capable font (fonts-wqy-microhei, fonts-noto-cjk), then DejaVu Sans.
    pub font_file: PathBuf,
    /// Font size in pixels; 0 picks 1/24 of the picture height.
    pub font_size: u32,
}

/// The default stamp: `DEMO-0001  station-1 cam-1  2026-11-25 20:31:02.054 +0800`.
pub const DEFAULT_STAMP: &str = "{order}  {station} {camera}  {time} {offset}";

impl Default for EncodeConfig {
    fn default() -> Self {
        EncodeConfig {
            preset: "veryfast".into(),
            crf: 23,
            keyframe_interval_s: 1.0,
            x264_params: "bframes=0:rc-lookahead=5:sync-lookahead=0:threads=1:lookahead-threads=1"
                .into(),
            stamp: true,
            stamp_template: DEFAULT_STAMP.into(),
            max_rate_kbps: 0,
            font_file: PathBuf::new(),
            font_size: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CodeConfig {
    /// Longest accepted scan, in characters.
    pub max_len: usize,
    /// The code that seals the open clip (after the post-roll).
    pub stop: String,
    /// The code that seals the open clip with reason `cancelled` (the clip is kept).
    pub cancel: String,
    /// The code that seals the current box and starts the next box of the same order.
    pub next_box: String,
    /// Operator badges are this prefix followed by the operator's name.
    pub operator_prefix: String,
    /// Operator names to print badges for on the control sheet.
    pub operators: Vec<String>,
    /// Classification rules, first match wins; `None`: the built-in rules
    /// (`config/code-rules.toml`).
    #[serde(rename = "rule")]
    pub rules: Option<Vec<RuleConfig>>,
}

impl Default for CodeConfig {
    fn default() -> Self {
        CodeConfig {
            max_len: 64,
            stop: "PW-STOP".into(),
            cancel: "PW-CANCEL".into(),
            next_box: "PW-BOX".into(),
            operator_prefix: "OP-".into(),
            operators: Vec::new(),
            rules: None,
        }
    }
}

/// One `[[codes.rule]]`: a named pattern for one kind of code.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Shown in logs and recorded with attached codes (`ups`, `sf`, `marketplace_long`, ...).
    pub name: String,
    pub kind: RuleKind,
    /// A regex that must match the whole normalised code; a group named `code` picks the part
    /// that is kept.
    pub pattern: String,
    /// A check digit the code (or its `code` group) must pass.
    #[serde(default)]
    pub check: Option<CheckDigit>,
    /// For `reject` rules: what the packer is told.
    #[serde(default)]
    pub message: Option<String>,
}

/// What a matching code is.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    Order,
    Tracking,
    Operator,
    Reject,
}

/// Check-digit algorithms of carriers and GS1.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CheckDigit {
    Gs1,
    Ups,
    S10,
    Mod7,
    Fedex12,
}

/// What a station does when the order being recorded is scanned again.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Rescan {
    /// Seal it (as a stop code would).
    #[default]
    Seal,
    /// Ignore the scan.
    Ignore,
    /// Seal this box and start the next box of the same order.
    NextBox,
}

/// One barcode scanner of a station (`[[station.scanner]]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScannerConfig {
    /// Name in logs and in the manifest's scan records.
    pub id: String,
    pub kind: ScannerKind,
    /// evdev: the event device (`/dev/input/by-id/...-event-kbd`); serial: the tty.
    pub path: PathBuf,
    /// evdev: take the device for packwitness alone (EVIOCGRAB), so scans type nowhere else.
    pub grab: bool,
    /// serial: line speed.
    pub baud: u32,
    /// serial: what ends a code.
    pub terminator: Terminator,
}

impl Default for ScannerConfig {
    fn default() -> Self {
        ScannerConfig {
            id: "scanner".into(),
            kind: ScannerKind::Stdin,
            path: PathBuf::new(),
            grab: true,
            baud: 9600,
            terminator: Terminator::Any,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ScannerKind {
    Stdin,
    Evdev,
    Serial,
}

/// The end of a code on a serial line.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Terminator {
    /// CR or LF (a CR LF pair ends one code).
    Any,
    Cr,
    Lf,
    Crlf,
    Tab,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// Write a signed checkpoint after this many records...
    pub checkpoint_every: u64,
    /// ...or when this many minutes have passed since the last one and records were added.
    pub checkpoint_minutes: u64,
    /// The station's private signing key; relative paths are inside the data dir. Empty (the
    /// default): `<data dir>.key/station.key`, beside the data dir and never inside it (a data
    /// dir made earlier keeps its `keys/station.key`).
    pub key_file: PathBuf,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            checkpoint_every: 100,
            checkpoint_minutes: 10,
            key_file: PathBuf::new(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: None,
            stations: vec![StationConfig::default()],
            encode: EncodeConfig::default(),
            codes: CodeConfig::default(),
            ledger: LedgerConfig::default(),
            feedback: FeedbackConfig::default(),
            server: ServerConfig::default(),
            retention: RetentionConfig::default(),
            alarm: AlarmConfig::default(),
            anchor: AnchorConfig::default(),
            recorder: RecorderConfig::default(),
            archive: ArchiveConfig::default(),
            archive_server: ArchiveServerConfig::default(),
            notify: Vec::new(),
            upload: UploadConfig::default(),
            c2pa: C2paConfig::default(),
        }
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses config text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let parse_err = |e: toml::de::Error| ConfigError::Parse {
            path: path.to_owned(),
            // toml's message names the line, the column and the offending key.
            message: e.to_string().trim_end().to_string(),
        };
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        // `[station]` (one) or `[[station]]` (several): look first, then parse the text again
        // as that shape, so that errors keep their line numbers.
        let table: toml::Table = toml::from_str(text).map_err(parse_err)?;
        let several = matches!(table.get("station"), Some(toml::Value::Array(_)));
        let config = if several {
            let mut file: FileConfig<Vec<StationConfig>> =
                toml::from_str(text).map_err(parse_err)?;
            if !file.cameras.is_empty() {
                return Err(invalid(
                    "with several [[station]] tables, each camera belongs to one station: write [[station.camera]] after its [[station]] instead of [[camera]]".into(),
                ));
            }
            let stations = file.station.take().unwrap_or_default();
            if stations.is_empty() {
                return Err(invalid("station = [] lists no station".into()));
            }
            // The test-pattern default is for trying out one station; among several, a station
            // without cameras is a mistake.
            if let Some(toml::Value::Array(raw)) = table.get("station") {
                for (st, t) in stations.iter().zip(raw) {
                    if t.get("camera").is_none() {
                        return Err(invalid(format!(
                            "station {:?} has no camera; add a [[station.camera]] table after its [[station]]",
                            st.id
                        )));
                    }
                }
            }
            let stations = stations
                .into_iter()
                .map(|st| StationConfig {
                    default_camera: false,
                    ..st
                })
                .collect();
            file.with_stations(stations)
        } else {
            let mut file: FileConfig<StationConfig> = toml::from_str(text).map_err(parse_err)?;
            let mut station = file.station.take().unwrap_or_default();
            // Cameras given as top-level [[camera]] replace the default test pattern; giving
            // both shapes at once is ambiguous.
            if !file.cameras.is_empty() {
                let also_nested = table.get("station").and_then(|s| s.get("camera")).is_some();
                if also_nested {
                    return Err(invalid(
                        "cameras are given both as [[camera]] and as [[station.camera]]; use one of the two".into(),
                    ));
                }
                station.cameras = std::mem::take(&mut file.cameras);
                station.default_camera = false;
            } else if table.get("station").and_then(|s| s.get("camera")).is_some() {
                station.default_camera = false;
            }
            file.with_stations(vec![station])
        };
        config.validate().map_err(invalid)?;
        Ok(config)
    }

    /// The first station: the one `demo` records, and the name the data dir's signing key is
    /// created with.
    pub fn first_station(&self) -> &StationConfig {
        // `validate` guarantees at least one; the default keeps a hand-built empty config safe.
        static DEFAULT: std::sync::OnceLock<StationConfig> = std::sync::OnceLock::new();
        self.stations
            .first()
            .unwrap_or_else(|| DEFAULT.get_or_init(StationConfig::default))
    }

    /// The station with this id.
    pub fn station(&self, id: &str) -> Option<&StationConfig> {
        self.stations.iter().find(|s| s.id == id)
    }

    /// Checks what serde cannot: ids usable in file names, ranges, uniqueness.
    pub fn validate(&self) -> Result<(), String> {
        if self.stations.is_empty() {
            return Err("at least one station is needed".into());
        }
        self.notify.iter().try_for_each(NotifyConfig::check)?;
        self.upload.check()?;
        if !(-20..=19).contains(&self.recorder.nice) {
            return Err(format!(
                "[recorder] nice = {} is out of range: -20 (first) to 19 (last), 0 to leave it",
                self.recorder.nice
            ));
        }
        if let Some(k) = self
            .alarm
            .strict
            .iter()
            .find(|k| !AlarmConfig::WARNINGS.contains(&k.as_str()))
        {
            return Err(format!(
                "[alarm] strict names {k:?}, which is not a warning; it can name {} (every other alarm is a problem already)",
                AlarmConfig::WARNINGS.join(", ")
            ));
        }
        let several = self.stations.len() > 1;
        let mut stdin_at: Option<&str> = None;
        let mut devices: Vec<(&Path, &str)> = Vec::new();
        for (n, station) in self.stations.iter().enumerate() {
            let at = if several {
                format!("station[{n}] ")
            } else {
                String::new()
            };
            check_id(&format!("{at}station.id"), &station.id)?;
            if self.stations[..n].iter().any(|s| s.id == station.id) {
                return Err(format!("station id {:?} is used twice", station.id));
            }
            station.validate(&at)?;
            let t = station.scan_token.chars().count();
            if t > 0 && t < 16 {
                return Err(format!(
                    "station {:?} scan_token is {t} characters; use at least 16 (e.g. `openssl rand -hex 16`)",
                    station.id
                ));
            }
            if self.stations[..n]
                .iter()
                .any(|s| !s.scan_token.is_empty() && s.scan_token == station.scan_token)
            {
                return Err(format!(
                    "station {:?} has the scan_token of another station; give each its own",
                    station.id
                ));
            }
            if several && station.scanners.is_empty() {
                return Err(format!(
                    "station {:?} has no [[station.scanner]]; with several stations each needs its own scanner(s)",
                    station.id
                ));
            }
            for s in &station.scanners {
                if s.kind == ScannerKind::Stdin {
                    if let Some(other) = stdin_at.replace(&station.id) {
                        return Err(format!(
                            "standard input can feed only one scanner, but stations {other:?} and {:?} both have a kind = \"stdin\" scanner",
                            station.id
                        ));
                    }
                } else if let Some((_, other)) = devices.iter().find(|(p, _)| *p == s.path) {
                    return Err(format!(
                        "scanner device {} is used twice (stations {other:?} and {:?}); one device belongs to one station",
                        s.path.display(),
                        station.id
                    ));
                } else {
                    devices.push((&s.path, &station.id));
                }
            }
        }
        if self.encode.crf > 51 {
            return Err(format!(
                "encode.crf = {} is out of range 0..=51",
                self.encode.crf
            ));
        }
        if !(0.1..=10.0).contains(&self.encode.keyframe_interval_s) {
            return Err(format!(
                "encode.keyframe_interval_s = {} is out of range 0.1..=10",
                self.encode.keyframe_interval_s
            ));
        }
        if !(8..=256).contains(&self.codes.max_len) {
            return Err(format!(
                "codes.max_len = {} is out of range 8..=256",
                self.codes.max_len
            ));
        }
        self.server.check()?;
        if self.ledger.checkpoint_every == 0 || self.ledger.checkpoint_minutes == 0 {
            return Err(
                "ledger.checkpoint_every and ledger.checkpoint_minutes must be at least 1".into(),
            );
        }
        Ok(())
    }
}

impl StationConfig {
    /// One station's own keys; `at` prefixes messages (`station[1] `) when there are several.
    fn validate(&self, at: &str) -> Result<(), String> {
        if self.cameras.is_empty() {
            return Err(format!(
                "{at}station {:?} has no camera; add a [[station.camera]] table",
                self.id
            ));
        }
        for (i, cam) in self.cameras.iter().enumerate() {
            check_id(&format!("{at}camera[{i}].id"), &cam.id)?;
            if cam.source.trim().is_empty() {
                return Err(format!("{at}camera[{i}].source is empty; try \"testsrc\""));
            }
            if !["any", "mjpeg", "yuyv"].contains(&cam.pixel_format.as_str()) {
                return Err(format!(
                    "{at}camera[{i}].pixel_format = {:?}: use \"any\", \"mjpeg\" or \"yuyv\"",
                    cam.pixel_format
                ));
            }
            if cam.width == 0 || cam.height == 0 || cam.fps == 0 || cam.fps > 240 {
                return Err(format!(
                    "{at}camera[{i}]: width, height and fps must be positive (fps at most 240)"
                ));
            }
            if self.cameras[..i].iter().any(|c| c.id == cam.id) {
                return Err(format!(
                    "{at}camera id {:?} is used twice in station {:?}",
                    cam.id, self.id
                ));
            }
        }
        for (key, v) in [
            ("station.pre_roll_s", self.pre_roll_s),
            ("station.post_roll_s", self.post_roll_s),
        ] {
            if !(0.0..=30.0).contains(&v) {
                return Err(format!("{at}{key} = {v} is out of range 0..=30"));
            }
        }
        if self.max_clip_s == 0 {
            return Err(format!("{at}station.max_clip_s must be at least 1"));
        }
        if self.debounce_ms > 60_000 {
            return Err(format!(
                "{at}station.debounce_ms = {} is out of range 0..=60000",
                self.debounce_ms
            ));
        }
        for (i, s) in self.scanners.iter().enumerate() {
            check_id(&format!("{at}station.scanner[{i}].id"), &s.id)?;
            if s.kind != ScannerKind::Stdin && s.path.as_os_str().is_empty() {
                return Err(format!(
                    "{at}station.scanner[{i}] ({:?}) needs a path, e.g. /dev/input/by-id/...-event-kbd or /dev/ttyACM0",
                    s.id
                ));
            }
            if self.scanners[..i].iter().any(|o| o.id == s.id) {
                return Err(format!(
                    "{at}scanner id {:?} is used twice in station {:?}",
                    s.id, self.id
                ));
            }
        }
        Ok(())
    }
}

/// Station and camera ids end up in file names and in the burned-in stamp: keep them plain.
fn check_id(key: &str, id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{key} = {id:?}: use 1 to 32 characters from A-Z, a-z, 0-9, '-' and '_'"
        ))
    }
}

#[cfg(test)]
mod tests;
