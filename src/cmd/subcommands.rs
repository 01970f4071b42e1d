//! The arguments of the commands that have commands of their own (`user`, `screen` and
//! `archive`), and of `export`, `verify-bundle` and `provenance`.
//!
//! Owns: their clap definitions and help. Never: does anything (`setup` and `mod` do).

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `packwitness export ...`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    pub code: String,
    /// The bundle to write (FILE.zip).
    #[arg(short, long, required_unless_present = "mp4")]
    pub output: Option<PathBuf>,
    /// Who exports (recorded in the manifest's access record); default: $USER.
    #[arg(long)]
    pub who: Option<String>,
    /// Add, for each clip recorded in passthrough (stamp in a text track), a copy with the
    /// stamp burned into the picture. The original stays in the bundle and is the evidence.
    #[arg(long)]
    pub burn_in: bool,
    /// Write one ordinary MP4 of the order for upload instead of a bundle: every box and
    /// camera in sequence, the stamp burned in, a card with the order first and the seal
    /// last. Its SHA-256 and how it was made are recorded in the manifest.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["output", "burn_in"])]
    pub mp4: Option<PathBuf>,
    /// The limits of a platform, from the config's [upload.presets.NAME].
    #[arg(long, requires = "mp4")]
    pub preset: Option<String>,
    /// The MP4 must not be larger (MB, 10^6 bytes): the picture is encoded smaller only as
    /// much as that needs.
    #[arg(long, requires = "mp4")]
    pub max_mb: Option<f64>,
    /// The MP4 must not be longer (seconds); an order that lasts longer is refused.
    #[arg(long, requires = "mp4")]
    pub max_seconds: Option<f64>,
    /// Only the span from the scan to the seal (no pre-roll or post-roll).
    #[arg(long, requires = "mp4")]
    pub from_scan: bool,
}

/// `packwitness verify-bundle ...`.
#[derive(Debug, Args)]
pub struct VerifyBundleArgs {
    pub bundle: PathBuf,
    /// The station's public key as the merchant published it (`<name>+<id>+<key>`, or a
    /// file holding it). Without it the bundle is only checked against the key it carries:
    /// "NOT VERIFIED", exit 4.
    #[arg(long)]
    pub key: Option<String>,
    /// The TSA's CA certificates (PEM) as the TSA publishes them, or `system` (this
    /// machine's trusted roots); without it the time-stamps are not checked (the CA the
    /// bundle carries is not trusted) and no clip's time counts as proven by them.
    #[arg(long)]
    pub tsa_ca: Option<PathBuf>,
    /// A witness's verifier key (or a file holding it): every clip must be in a checkpoint
    /// that witness cosigned (repeatable).
    #[arg(long = "witness", value_name = "WITNESS_KEY")]
    pub witnesses: Vec<String>,
    /// A clip's claimed time is proven when a time-stamp or cosignature from a party given
    /// covers it at most this long after its end (`900s`, `15m`, `2h`; a bare number is
    /// minutes). Otherwise: TIME NOT PROVEN, exit 5.
    #[arg(long, default_value = "15m", value_parser = super::parse_delay)]
    pub max_delay: i64,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// PEM certificates to trust as signers of the content credentials (C2PA) in the bundle's
    /// signed copies and stills; without it they are checked for integrity and their signer
    /// is reported as untrusted.
    #[arg(long, value_name = "PEM")]
    pub c2pa_trust: Option<PathBuf>,
}

/// `packwitness provenance ...`.
#[derive(Debug, Args)]
pub struct ProvenanceArgs {
    /// The photo or video (JPEG, PNG, WebP, HEIC, MP4, MOV).
    pub file: PathBuf,
    /// PEM certificates to trust as C2PA signers (without: signers are reported untrusted).
    #[arg(long, value_name = "PEM")]
    pub c2pa_trust: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `packwitness share ...`.
#[derive(Debug, Subcommand)]
pub enum ShareCmd {
    /// A read-only link to one order (its videos, stills, timeline and evidence bundle, nothing
    /// else), printed this once; the link is made with [server] public_url.
    Create {
        code: String,
        /// How many days it works (1 to 90).
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// A PIN (4 to 8 digits) the recipient types first; send it apart from the link.
        #[arg(long)]
        pin: Option<String>,
        /// Who makes it (recorded); default: $USER.
        #[arg(long)]
        who: Option<String>,
    },
    /// The links made, with their order, maker, expiry and state.
    List,
    /// Stop a link at once.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add an account; its password is the first line of standard input.
    Add {
        name: String,
        #[arg(long, value_parser = ["viewer", "agent", "admin"])]
        role: String,
    },
    /// List the accounts and their roles.
    List,
    /// Remove an account.
    Remove { name: String },
    /// Change an account's password (the first line of standard input).
    Passwd { name: String },
}

/// `packwitness screen ...`.
#[derive(Debug, Subcommand)]
pub enum ScreenCmd {
    /// Print a one-time code (8 digits, valid 10 minutes) that pairs the screen of STATION:
    /// open http://<this PC>/station/STATION in the screen's browser and type it there.
    Pair {
        /// The station (its `id` in the config).
        station: String,
        /// What to call the screen in `screen list` (e.g. "table 3, left monitor").
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List the paired screens: id, station, label, when paired, when last seen.
    List,
    /// Unpair a screen by its id, or every screen of a station by the station's id: within a
    /// second the screen shows its pairing page.
    Revoke {
        /// A screen's id (`scr-...`, from `screen list`) or a station's id.
        which: String,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum ArchiveCmd {
    /// Register a station's key (as `packwitness key` prints it) with the archive's database;
    /// prints the station's token as the last line, for its `[archive] token`. Registering
    /// the same key again gives it a new token and revokes the old one.
    AddStation {
        /// The station's public key.
        station_key: String,
    },
    /// Send what a station's data dir holds to its archive (`[archive]` of --config) and
    /// exit once the archive confirmed everything signed: a data dir whose recorder is
    /// stopped, or one recorded before the archive existed. Safe beside a running recorder
    /// (the archive serialises the pushes of one log).
    Push {
        /// The archive to send to, instead of `[archive] url`.
        #[arg(long)]
        url: Option<String>,
    },
    /// Put an Object Lock legal hold on every archived clip of an order, of every station
    /// (a dispute): the store keeps them past their retention until released. A station's
    /// own `packwitness hold` reaches the archive with its log and does the same.
    Hold {
        /// The order (or tracking) code, as the seals name it.
        order: String,
        /// Lift the hold instead (a lock's retention is never shortened).
        #[arg(long)]
        release: bool,
        /// Keep the order's clips and the objects their proofs need locked for at least
        /// this many days from now (default with a hold: `retention_days`).
        #[arg(long, value_name = "DAYS")]
        retain_days: Option<u32>,
    },
    /// Add an agent of customer service to the archive (or give it a new token, revoking the
    /// old one); prints its token as the last line, for `Authorization: Bearer` on the
    /// archive's search API (`/v1/find/CODE`, `/v1/suggest`, `/v1/stats`).
    AddAgent {
        /// The agent's name.
        name: String,
        /// The stations it may see (their names, comma-separated); default: every station.
        #[arg(long, value_delimiter = ',')]
        stations: Option<Vec<String>>,
    },
    /// Write an order's evidence bundle from the archive alone (its tiles, entries, anchors
    /// and clips), for a station that pruned the clips, lost its disk or is gone. The bundle
    /// is the station's format, with the archive's cosignature: check it with
    /// `verify-bundle --key STATION_KEY --witness ARCHIVE_KEY` or its verify.sh.
    Export {
        /// The order code, as the seals name it.
        code: String,
        /// Where to write the bundle (a .zip).
        #[arg(short = 'o', long = "output", value_name = "FILE.zip")]
        output: PathBuf,
        /// The station's name, when the order has clips of several stations.
        #[arg(long)]
        station: Option<String>,
        /// Who exports (default: this user).
        #[arg(long)]
        who: Option<String>,
    },
    /// Add an account of the app the archive serves (or change its role, password and
    /// limits); its password is the first line of standard input. Roles as at a station:
    /// viewer (find and play), agent (also download and export), admin.
    AddAccount {
        name: String,
        #[arg(long, value_parser = ["viewer", "agent", "admin"])]
        role: String,
        /// The stations it may see (their names, comma-separated).
        #[arg(long, value_delimiter = ',')]
        stations: Option<Vec<String>>,
        /// The station groups it may see (`archive group`), comma-separated. Without
        /// --stations and --groups: every station.
        #[arg(long, value_delimiter = ',')]
        groups: Option<Vec<String>>,
    },
    /// Remove an account of the archive's app (its sessions end at once).
    RemoveAccount { name: String },
    /// List the accounts of the archive's app: name, role, stations, groups.
    Accounts,
    /// Name a group of stations (a warehouse, a client of a fulfilment centre), or give an
    /// existing group new stations; accounts limited to it see them.
    Group {
        name: String,
        /// Its stations' names, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        stations: Vec<String>,
    },
    /// Print the key of this node's access log (DIR/access), for
    /// `packwitness verify --data-dir DIR/access --key KEY`.
    AccessKey,
}
