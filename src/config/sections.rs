//! The sections of the config about the process beside its stations: `[recorder]` (how it
//! runs on its machine), `[server]` (its web server), `[anchor]` (time-stamps and
//! witnesses), the archive's (`[archive]`, `[archive_server]`) and `[feedback]` (what the
//! packer is told at a terminal).
//! Never: reads files or checks values against the system (the modules that use them do).

use serde::Deserialize;

/// How the recording process runs on its machine (`[recorder]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RecorderConfig {
    /// The process's nice value (-20 to 19; lower runs first), set at start where the system
    /// allows (root or CAP_SYS_NICE): capture, encoding and writing are not starved by other
    /// work on the PC. 0 leaves it as it is. The shipped systemd unit also sets `Nice=-5`.
    pub nice: i32,
    /// `run` refuses to start when the clock is more than this many seconds behind the last
    /// record of its data dir (a clock set back would date new clips before old ones).
    pub max_clock_behind_s: u64,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            nice: -5,
            max_clock_behind_s: 60,
        }
    }
}

/// Checkpoints stamped outside the station (`[anchor]`): RFC 3161 time-stamp authorities.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AnchorConfig {
    /// TSA addresses (`http://...` or `https://...`, RFC 3161 over HTTP), tried in order;
    /// empty: no anchoring.
    pub tsa: Vec<String>,
    /// PEM file of the CA certificates the TSA's certificate chain must reach.
    pub tsa_ca: String,
    /// The newest checkpoint is sent at most this often (seconds); a queue keeps what could
    /// not be sent yet, delivered in order.
    pub every_s: u64,
    /// Witnesses (c2sp.org/tlog-witness) that cosign the checkpoints (`[[anchor.witness]]`).
    pub witness: Vec<WitnessConfig>,
}

/// A witness (`[[anchor.witness]]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// Its submission prefix, `http://host:port` (`/add-checkpoint` is added).
    pub url: String,
    /// Its verifier key (`<name>+<id>+<base64(0x04 || key)>`), as the witness prints it.
    pub key: String,
}

impl Default for AnchorConfig {
    fn default() -> Self {
        AnchorConfig {
            tsa: Vec::new(),
            tsa_ca: String::new(),
            every_s: 60,
            witness: Vec::new(),
        }
    }
}

/// Where this station's evidence is archived (`[archive]`): a `packwitness archive` service.
/// Empty `url`: nothing leaves the station.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// The archive's address, `https://host[:port]` (plain `http://` only to a loopback address,
    /// or anywhere with `allow_http = true`).
    pub url: String,
    /// This station's credential, the last line `packwitness archive add-station` printed.
    pub token: String,
    /// The archive's verifier key (the first line `packwitness archive` prints): every
    /// receipt is checked against it. Empty: receipts are kept unchecked, and status says so.
    pub key: String,
    /// Send over plain HTTP to a non-loopback address (a private network you trust).
    pub allow_http: bool,
    /// Raise the `archive_lag` alarm when the oldest seal the archive has not confirmed is
    /// older than this many minutes.
    pub max_lag_minutes: u64,
    /// A clip larger than this many MiB is sent in parts, resumable after a crash of either
    /// side (smaller ones in one request, sent whole again after a failure).
    pub multipart_mb: u64,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            url: String::new(),
            token: String::new(),
            key: String::new(),
            allow_http: false,
            max_lag_minutes: 30,
            multipart_mb: 64,
        }
    }
}

/// Object Lock mode of archived objects: `compliance` (nobody can shorten or remove the lock,
/// not even the bucket's owner) or `governance` (users with the bypass permission can).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LockMode {
    #[default]
    Compliance,
    Governance,
}

/// The archive service (`[archive_server]`, read by `packwitness archive`): an S3 bucket with
/// Object Lock and a PostgreSQL database hold every piece of its state.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveServerConfig {
    /// `host:port` to listen on (`--listen` overrides).
    pub listen: String,
    /// The S3 endpoint, e.g. `https://s3.eu-central-1.amazonaws.com` or `http://127.0.0.1:8333`.
    pub s3_endpoint: String,
    pub s3_bucket: String,
    pub s3_region: String,
    /// A file with `AWS_ACCESS_KEY_ID=...` and `AWS_SECRET_ACCESS_KEY=...` lines; empty: the
    /// standard environment variables. Credentials are never written in this file itself.
    pub s3_credentials_file: String,
    /// `postgresql://user@host:port/db` (a password belongs in `~/.pgpass` or `PGPASSWORD`).
    /// With `?sslmode=require` the connection is TLS (rustls), and the server's certificate
    /// must be valid for its host name and signed by a CA this machine trusts, or by one in
    /// `postgres_ca_file`; otherwise (a local socket, a private network) it is plain.
    pub postgres_url: String,
    /// PEM certificates of the CA that signed PostgreSQL's certificate (e.g. a cloud
    /// provider's bundle), trusted instead of this machine's CAs; empty: this machine's.
    pub postgres_ca_file: String,
    /// Every object is locked until its seal time plus this many days.
    pub retention_days: u32,
    pub lock_mode: LockMode,
    /// A clip sent in parts is cut into parts of this many MiB (at least 5, S3's smallest).
    pub part_mb: u64,
}

impl Default for ArchiveServerConfig {
    fn default() -> Self {
        ArchiveServerConfig {
            listen: "127.0.0.1:8090".into(),
            s3_endpoint: String::new(),
            s3_bucket: String::new(),
            s3_region: "us-east-1".into(),
            s3_credentials_file: String::new(),
            postgres_url: String::new(),
            postgres_ca_file: String::new(),
            retention_days: 180,
            lock_mode: LockMode::Compliance,
            part_mb: 16,
        }
    }
}

/// The station's web page and HTTP API (`[server]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address `run` serves on, e.g. "127.0.0.1:8088" or "0.0.0.0:8088"; empty: no server.
    /// `serve` uses it too (default there: 127.0.0.1:8088).
    pub listen: String,
    /// When set, every request needs it: `Authorization: Bearer TOKEN` (or a session opened
    /// by a page's `?token=TOKEN`); at least 16 characters. Listening on anything but
    /// loopback needs an account as well.
    pub token: String,
    /// A secret (at least 16 characters) that reads `/healthz`, `/metrics`, `/checkpoint` and
    /// the hash tiles `/tile/<L>/...` from anywhere (`Authorization: Bearer ...`) and nothing
    /// else: for a monitor or a witness beyond loopback.
    pub metrics_token: String,
    /// A secret (at least 16 characters) that also reads the manifest's lines, the entry
    /// bundles `/tile/entries/...` (every order code in the log): for an auditor. Without
    /// it only an account with the agent role (or `token`) reads them, never the metrics
    /// token or a request from loopback alone.
    pub audit_token: String,
    /// Host names the server answers to besides IP addresses and `localhost` (a request
    /// naming another Host is refused: no DNS rebinding).
    pub hosts: Vec<String>,
    /// A connection with no byte either way for this many seconds is closed.
    pub idle_timeout_s: u64,
    /// A request whose head (request line and headers) is not complete this many seconds
    /// after its first byte is dropped with its connection.
    pub header_timeout_s: u64,
    /// Connections from one address at once; more are closed as they come.
    pub max_connections_per_ip: u32,
    /// The address people outside reach this server at (`https://evidence.example.com`,
    /// through a reverse proxy): share links are made with it. Empty: the address the agent
    /// used.
    pub public_url: String,
}

impl ServerConfig {
    /// Values that can work, or what to change.
    pub fn check(&self) -> Result<(), String> {
        if !self.listen.is_empty() && self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "server.listen = {:?} is not an address:port such as \"127.0.0.1:8088\"",
                self.listen
            ));
        }
        let url = self.public_url.as_str();
        let scheme = url.starts_with("https://") || url.starts_with("http://");
        if !url.is_empty() && !scheme || url.ends_with('/') {
            return Err(format!(
                "server.public_url = {url:?}: give the address as people outside open it, such as \"https://evidence.example.com\" (no path, no trailing /)"
            ));
        }
        Ok(())
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: String::new(),
            token: String::new(),
            metrics_token: String::new(),
            audit_token: String::new(),
            hosts: Vec::new(),
            idle_timeout_s: 30,
            header_timeout_s: 10,
            max_connections_per_ip: 32,
            public_url: String::new(),
        }
    }
}

/// A webhook (`[[notify]]`): each event the hook asks for is POSTed as JSON, in the log's
/// order, signed with HMAC-SHA256 under `secret` (docs/format.md, "Webhooks").
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// `https://...`; plain `http://` only to a loopback address or with `allow_http`.
    pub url: String,
    /// The key of the `X-Packwitness-Signature` HMAC; at least 16 characters.
    pub secret: String,
    /// `sealed`, `no_video`, `alarm` (default: the first two).
    #[serde(default = "all_events")]
    pub events: Vec<String>,
    #[serde(default)]
    pub allow_http: bool,
}

fn all_events() -> Vec<String> {
    NotifyConfig::DEFAULT_EVENTS
        .iter()
        .map(|e| e.to_string())
        .collect()
}

impl NotifyConfig {
    /// The events a hook may ask for.
    pub const EVENTS: &[&str] = &["sealed", "no_video", "alarm"];
    /// The events of a hook that names none.
    pub const DEFAULT_EVENTS: &[&str] = &["sealed", "no_video"];

    /// A hook that can work: known events, a secret, an address it may send to; otherwise
    /// what to change.
    pub fn check(&self) -> Result<(), String> {
        let bad = |what: String| format!("[[notify]] url = {:?}: {what}", self.url);
        if let Some(e) = self
            .events
            .iter()
            .find(|e| !Self::EVENTS.contains(&e.as_str()))
        {
            return Err(bad(format!(
                "event {e:?} is not one of {}",
                Self::EVENTS.join(", ")
            )));
        }
        if self.secret.chars().count() < 16 {
            return Err(bad("secret is shorter than 16 characters: the receiver checks every body's signature with it".into()));
        }
        let http = self.url.starts_with("http://");
        if !http && !self.url.starts_with("https://") {
            return Err(bad("not an https:// (or http://) address".into()));
        }
        if http && !self.allow_http && !is_loopback_url(&self.url) {
            return Err(bad("plain http:// only to a loopback address; use https://, or set allow_http = true on a private network you trust".into()));
        }
        Ok(())
    }
}

/// True when an `http://` URL's host is a loopback address (`localhost`, `127.x`, `::1`).
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The MP4 for upload (`[upload]`): how it is encoded, and the limits of the platforms the
/// merchant uploads to (`[upload.presets.NAME]`). No platform's rule is built in: platforms
/// change them, and the merchant keeps this table as the platform says.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UploadConfig {
    /// libx264 preset (slower: smaller at the same quality, more CPU).
    pub encoder_preset: String,
    /// libx264 quality when the size limit allows it (CRF; lower is better and bigger).
    pub crf: u8,
    /// Seconds the opening card (order, station) and the closing card (the seal) show.
    pub card_s: f64,
    /// Frame rate cap.
    pub max_fps: u32,
    pub presets: std::collections::BTreeMap<String, UploadPreset>,
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig {
            encoder_preset: "veryfast".into(),
            crf: 23,
            card_s: 1.5,
            max_fps: 30,
            presets: Default::default(),
        }
    }
}

/// One platform's upload limits (`[upload.presets.NAME]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct UploadPreset {
    /// What the order page's menu shows (`淘宝 / Taobao`); default: the table's name.
    pub label: String,
    /// Largest file the platform takes, in MB (10^6 bytes).
    pub max_mb: Option<f64>,
    /// Longest video it takes, in seconds.
    pub max_seconds: Option<f64>,
    /// Keep only the span from the scan to the seal (no pre-roll, no post-roll).
    pub from_scan: bool,
}

impl UploadConfig {
    /// Limits that can work, or what to change.
    pub fn check(&self) -> Result<(), String> {
        if self.crf > 51 {
            return Err(format!("[upload] crf = {} is out of range 0-51", self.crf));
        }
        if !(0.0..=10.0).contains(&self.card_s) {
            return Err(format!(
                "[upload] card_s = {}: use 0 to 10 seconds",
                self.card_s
            ));
        }
        for (name, p) in &self.presets {
            if p.max_mb.is_some_and(|m| m.is_nan() || m <= 0.0) {
                return Err(format!("[upload.presets.{name}] max_mb must be above 0"));
            }
            if p.max_seconds.is_some_and(|s| s.is_nan() || s <= 0.0) {
                return Err(format!(
                    "[upload.presets.{name}] max_seconds must be above 0"
                ));
            }
        }
        Ok(())
    }
}

/// How a station tells the packer about a scan.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FeedbackConfig {
    /// Ring the terminal bell on a rejected scan (when standard error is a terminal).
    pub bell: bool,
    /// Run this command (program and arguments) on a rejected scan, e.g. to play a sound.
    pub reject_command: Vec<String>,
    /// Run this command when a scan is accepted.
    pub accept_command: Vec<String>,
    /// The language of what the terminal tells the packer: `auto` (the system's, from
    /// `LC_ALL`, `LC_MESSAGES` or `LANG`), `en` or `zh-CN`.
    pub lang: FeedbackLang,
}

/// `[feedback] lang`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub enum FeedbackLang {
    /// The system's language (Chinese when its locale starts with `zh`).
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "en")]
    En,
    #[serde(rename = "zh-CN", alias = "zh")]
    Zh,
}

impl FeedbackLang {
    /// Chinese or not, with `auto` decided by the locale variables given (`LC_ALL`,
    /// `LC_MESSAGES`, `LANG`: the first one set and not empty).
    pub fn chinese(self, locale: &[Option<String>]) -> bool {
        match self {
            FeedbackLang::En => false,
            FeedbackLang::Zh => true,
            FeedbackLang::Auto => locale
                .iter()
                .flatten()
                .find(|v| !v.is_empty())
                .is_some_and(|v| v.starts_with("zh")),
        }
    }
}

impl Default for FeedbackConfig {
    fn default() -> Self {
        FeedbackConfig {
            bell: true,
            reject_command: Vec::new(),
            accept_command: Vec::new(),
            lang: FeedbackLang::Auto,
        }
    }
}

/// The RTSP client of an `rtsp://` camera whose packets are copied (passthrough).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RtspClient {
    /// retina (the default): an RTSP client in Rust that copes with the usual camera quirks,
    /// at a fraction of FFmpeg's CPU.
    #[default]
    Retina,
    /// FFmpeg's RTSP demuxer, as before retina (and always for `rtsps://` and transcoding).
    Ffmpeg,
}

/// How RTP reaches the station from an `rtsp://` camera read by retina.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RtspTransport {
    /// Interleaved on the RTSP connection (the default: through NAT and firewalls, no loss).
    #[default]
    Tcp,
    /// RTP over UDP (lower latency on a clean LAN; packets lost are lost).
    Udp,
}

/// Content credentials (`[c2pa]`): a C2PA manifest signed into every file the merchant hands
/// out (the MP4 for upload, a signed copy of each clip in a bundle, the stills), with this
/// certificate and key. Empty `cert`: no credentials are made.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct C2paConfig {
    /// PEM chain, the signing certificate first (keyUsage digitalSignature, an extended key
    /// usage such as emailProtection); a self-signed one works and readers call it untrusted.
    pub cert: String,
    /// Its private key, PKCS#8 PEM (ECDSA P-256 for ES256, or Ed25519).
    pub key: String,
    /// Time-stamp each credential through `[anchor] tsa` (checked against `tsa_ca`).
    pub timestamp: bool,
    /// Put a signed copy of each clip beside the sealed one in a bundle (doubles its size).
    pub bundle_copies: bool,
}

impl Default for C2paConfig {
    fn default() -> Self {
        C2paConfig {
            cert: String::new(),
            key: String::new(),
            timestamp: true,
            bundle_copies: true,
        }
    }
}
