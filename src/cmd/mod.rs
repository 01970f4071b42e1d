//! The command line: parse arguments, call the library, print for people or scripts.
//!
//! Owns: flags, output formats and exit codes, one file per command group: [`record`] (demo,
//! run, serve), [`find`] (lookup, export, prove, hold, verify-bundle, verify-proof),
//! [`check`] (verify, reindex, prune), [`setup`] (key, cameras, control-sheet) and
//! [`bench`]. Never: recording, lookup or evidence logic (the library has it).
//!
//! Output goes through [`out!`]: a closed pipe (`packwitness lookup X | head -1`) drops the
//! rest of the output quietly and the command ends with its own exit code (a verifier's
//! verdict survives `| head`), instead of a panic.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use packwitness::config::Config;

/// Writes a line to standard output through [`emit`].
macro_rules! out {
    () => {{
        $crate::cmd::emit(format_args!(""))?;
    }};
    ($($arg:tt)*) => {{
        $crate::cmd::emit(format_args!($($arg)*))?;
    }};
}

/// Set once standard output was closed under us: what is left to print is dropped.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes a line to standard output. A closed pipe (`| head -1`) is not the command's
/// failure: the rest of its output is dropped and it ends with its own exit code (a verdict
/// stays a verdict). Any other write error is the command's.
pub fn emit(line: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    emit_to(&mut std::io::stdout().lock(), line, &STDOUT_CLOSED)
}

fn emit_to(
    w: &mut impl std::io::Write,
    line: std::fmt::Arguments<'_>,
    closed: &std::sync::atomic::AtomicBool,
) -> std::io::Result<()> {
    use std::sync::atomic::Ordering::Relaxed;
    if closed.load(Relaxed) {
        return Ok(());
    }
    match w
        .write_fmt(format_args!("{line}\n"))
        .and_then(|()| w.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            closed.store(true, Relaxed);
            Ok(())
        }
        other => other,
    }
}

mod bench;
mod check;
mod find;
mod provenance;
mod record;
mod setup;
mod subcommands;

pub use subcommands::{ArchiveCmd, ScreenCmd, ShareCmd, UserCmd};

/// The locale variables, first to last in precedence (`LC_ALL`, `LC_MESSAGES`, `LANG`).
fn locale() -> Vec<Option<String>> {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .map(|v| std::env::var(v).ok())
        .collect()
}

/// The language of what `lookup` and `export` print for people: the system's (Chinese when
/// its locale starts with `zh`), read once.
fn people_lang() -> packwitness::web::i18n::Lang {
    use packwitness::web::i18n::Lang;
    static LANG: std::sync::OnceLock<Lang> = std::sync::OnceLock::new();
    *LANG.get_or_init(|| {
        if packwitness::config::FeedbackLang::Auto.chinese(&locale()) {
            Lang::Zh
        } else {
            Lang::En
        }
    })
}

/// The word table's `key` in [`people_lang`], each `{name}` of `fill` filled in.
fn say(key: &str, fill: &[(&str, &dyn std::fmt::Display)]) -> String {
    let mut text = packwitness::web::i18n::t(people_lang(), key).to_string();
    for (name, value) in fill {
        text = text.replace(&format!("{{{name}}}"), &value.to_string());
    }
    text
}

/// Exit code when lookup finds nothing.
pub const EXIT_NOT_FOUND: u8 = 1;
/// Exit code when verify finds a problem in the evidence.
pub const EXIT_VERIFY_FAILED: u8 = 3;
/// `verify-bundle` without `--key`: consistent, but not checked against the station's
/// published key, so not verified.
pub const EXIT_NOT_PINNED: u8 = 4;
/// `verify-bundle`: files and records hold, but some clip's claimed time rests on the
/// station's clock (no proof from a party the reviewer gave, or one too late).
pub const EXIT_TIME_NOT_PROVEN: u8 = 5;

#[derive(Debug, Parser)]
#[command(
    name = "packwitness",
    version,
    about = "Video evidence for every packed order: record, seal, look up, verify"
)]
pub struct Cli {
    /// Config file (TOML). Without it, built-in defaults are used.
    #[arg(long, global = true, env = "PACKWITNESS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data dir holding clips, manifest.jsonl and index.sqlite3 (overrides data_dir in the config).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Record a few orders from a test pattern, then look one up and verify everything.
    Demo {
        /// Order codes to simulate (repeat the flag); default DEMO-0001..DEMO-0003.
        #[arg(long = "order")]
        orders: Vec<String>,
        /// Seconds of packing per order.
        #[arg(long, default_value_t = 5.0)]
        clip_seconds: f64,
    },
    /// Record: every station of the config (or one from --source), scans from their scanners;
    /// with [server] listen set, also the web page and HTTP API.
    Run {
        /// Source of a single camera, replacing the config's cameras: `testsrc`, `lavfi:<graph>`,
        /// `rtsp://...`, `http://...` or a file.
        #[arg(long)]
        source: Option<String>,
        /// Where scans come from (repeat for several scanners; default: the config's
        /// [[station.scanner]], else stdin): `stdin` (one code per line; end of input stops
        /// the station), `evdev:PATH` (a keyboard-wedge scanner's event device, or a file or
        /// FIFO of raw input_event records), `serial:PATH[@BAUD]`.
        #[arg(long)]
        scanner: Vec<String>,
        /// Serve the web page and HTTP API on this address (overrides [server] listen).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Serve a data dir's web page and HTTP API without recording (lookup, play, export), until
    /// SIGINT/SIGTERM. Works next to a recording `run` on the same data dir.
    Serve {
        /// Address to listen on (default: [server] listen, else 127.0.0.1:8088).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Write a printable page of barcodes for the control codes and operator badges.
    ControlSheet {
        /// The HTML file to write.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Show the clips of an order code.
    Lookup {
        /// An order number or an attached code (tracking number), matched exactly.
        code: Option<String>,
        /// Codes starting with this instead.
        #[arg(long, conflicts_with = "code")]
        prefix: Option<String>,
        /// Scanned at or after this local date or time (`2026-11-25`, `2026-11-25 14:30`,
        /// or RFC 3339 with an offset).
        #[arg(long)]
        since: Option<String>,
        /// Scanned before this local time; a bare date includes that whole day.
        #[arg(long)]
        until: Option<String>,
        #[arg(long)]
        station: Option<String>,
        #[arg(long)]
        operator: Option<String>,
        /// At most this many clips (oldest first).
        #[arg(long)]
        limit: Option<u32>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Re-hash each clip found against its sealed SHA-256 (by default only its size is
        /// compared; `verify` re-hashes everything).
        #[arg(long)]
        check: bool,
    },
    /// The numbers of a range of days (by default today): orders and boxes packed per day,
    /// station and packer, orders without video and why, boxes not sealed or interrupted,
    /// packing time (median, p90), bytes recorded.
    Stats {
        /// From this local date or time (default: today 00:00).
        #[arg(long)]
        since: Option<String>,
        /// Before this local time; a bare date includes that whole day (default: now).
        #[arg(long)]
        until: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print CSV (one line a day, station and packer) instead of a table.
        #[arg(long)]
        csv: bool,
    },
    /// Check the manifest chain, its signed checkpoints, the tiles, and every clip: by default
    /// re-hashing the clips sealed since the last clean verify (sizes of all).
    Verify {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Check clip sizes only, not their hashes (fast).
        #[arg(long, conflicts_with = "full")]
        quick: bool,
        /// Hash every clip, also those a previous verify hashed.
        #[arg(long)]
        full: bool,
        /// The station public key to trust (from `packwitness key`); default: the one the
        /// manifest names.
        #[arg(long)]
        key: Option<String>,
        /// Threads hashing clips (0 = one per CPU).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Measure a part against a reference run on this machine and print the ratio.
    Bench {
        /// What to measure: `verify` (against `sha256sum` over the same files) or `transcode`
        /// (CPU per recorded minute at 720p30 and 1080p30 with the stamp, against the `ffmpeg`
        /// command line doing the same encode), `passthrough`, `station`, `lookup`, `ledger`,
        /// or `archive` (--stations each pushing a day of --orders into one archive node with
        /// its own PostgreSQL and S3 server).
        what: String,
        /// Number of synthetic clips.
        #[arg(long, default_value_t = 16)]
        files: usize,
        /// Size of each clip in MiB.
        #[arg(long, default_value_t = 64)]
        mb: usize,
        /// Runs of each side; the best is kept.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Where to put the temporary data (default: the system temp dir).
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Seconds of video per transcode run.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// `lookup`: synthetic clips in the manifest and index; `archive`: rows searched.
        #[arg(long, default_value_t = 1_000_000)]
        clips: u64,
        /// `lookup`: lookups timed.
        #[arg(long, default_value_t = 10_000)]
        lookups: u64,
        /// `ledger`: records in the synthetic log.
        #[arg(long, default_value_t = 100_000)]
        records: u64,
        /// `ledger`: build the data dir here and leave it for inspection.
        #[arg(long)]
        keep: Option<PathBuf>,
        /// `station`: run it a second time with two spinning processes per core,
        /// and compare (writer lag, late frames, video lost to a kill -9).
        #[arg(long)]
        load: bool,
        /// `archive`: stations pushing into one archive node.
        #[arg(long, default_value_t = 50)]
        stations: u64,
        /// `archive`: orders (clips) each station records in its day.
        #[arg(long, default_value_t = 1000)]
        orders: u64,
    },
    /// Internal: one side of a benchmark, run as a child process so it is measured alone.
    #[command(hide = true)]
    BenchWorker {
        #[arg(long, default_value_t = 0)]
        width: u32,
        #[arg(long, default_value_t = 0)]
        height: u32,
        #[arg(long, default_value_t = 0)]
        frames: u64,
        /// Passthrough from this source (a file or an rtsp:// URL) instead of transcoding the
        /// test pattern; --frames limits the video packets (0: to the end).
        #[arg(long)]
        passthrough: Option<String>,
        /// Time this many lookups in the data dir `--out` instead (bench ledger).
        #[arg(long)]
        lookups: Option<u64>,
        /// Build a synthetic log of this many records in the data dir `--out` (bench ledger).
        #[arg(long)]
        build_ledger: Option<u64>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Check that this station is ready to record evidence, one line a check (exit 1 if any fails).
    Doctor {
        #[arg(long)]
        json: bool,
        /// Seconds each camera is watched for frames.
        #[arg(long, default_value_t = 3.0)]
        probe_s: f64,
    },
    /// List the USB cameras this machine has, with the formats each offers.
    Cameras {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Accounts of the web app (in the data dir's users.json, argon2id hashes): viewer (search,
    /// play), agent (also export), admin (also scans over HTTP). Passwords are read from
    /// standard input, one line. With an account, the web app asks everyone to log in.
    User {
        #[command(subcommand)]
        action: UserCmd,
    },
    /// Station screens as kiosks: `pair STATION` prints a one-time code (10 minutes) that the
    /// screen's browser, opened on /station/STATION, trades for a credential that shows that
    /// station's screen only, lasts while it is used, and ends with `revoke`.
    Screen {
        #[command(subcommand)]
        action: ScreenCmd,
    },
    /// Read-only links to one order for a platform's reviewer or the buyer: `create CODE`
    /// prints the link once, `list`, `revoke ID` (every view through a link is recorded).
    Share {
        #[command(subcommand)]
        action: ShareCmd,
    },
    /// A witness for station logs (c2sp.org/tlog-witness), run by a platform, a neutral party
    /// or a head office for many stations: it cosigns each station's checkpoints only as
    /// consistent extensions of the last one it cosigned, refuses and keeps forks and
    /// rollbacks, and keeps its state in --data-dir. With --listen it prints its verifier key
    /// (first line) and serves `POST /add-checkpoint`.
    Witness {
        /// Address to serve on, e.g. 127.0.0.1:8089.
        #[arg(long)]
        listen: Option<String>,
        /// Print the witness's verifier key and exit.
        #[arg(long)]
        key: bool,
        /// Witness this station's log: its public key as `packwitness key` prints it
        /// (repeatable; remembered).
        #[arg(long = "add-log", value_name = "STATION_KEY")]
        add_log: Vec<String>,
        /// The witness key's name, when its key is created (a schema-less URL; default:
        /// `witness.<host name>.packwitness.local/<random tag>`, unlike any other witness's).
        #[arg(long)]
        name: Option<String>,
    },
    /// The archive: every station's evidence off the station, in an S3 bucket with Object
    /// Lock and a PostgreSQL database (`[archive_server]` in --config). Serves the stations'
    /// pushes; prints its verifier key first (stations put it in `[archive] key`). --data-dir
    /// holds only its signing key; any number of nodes may serve one database and bucket.
    #[command(args_conflicts_with_subcommands = true)]
    Archive {
        #[command(subcommand)]
        action: Option<ArchiveCmd>,
        /// Address to serve on (default: `[archive_server] listen`).
        #[arg(long)]
        listen: Option<String>,
        /// Print the archive's verifier key and exit.
        #[arg(long)]
        key: bool,
        /// The archive key's name, when its key is created (a schema-less URL; default:
        /// `archive.<host name>.packwitness.local/<random tag>`).
        #[arg(long)]
        name: Option<String>,
    },
    /// Print the station's public signing key (creating the key pair on first use).
    Key {
        /// Replace the key: the current key signs a key_rotation record naming a new one (the
        /// old key file is kept aside). Stop the recorder first.
        #[arg(long)]
        rotate: bool,
        /// Confirm that the private key was copied to an offline place (doctor asks for it).
        #[arg(long, conflicts_with = "rotate")]
        backed_up: bool,
    },
    /// Write, for each clip of an order, its manifest record with an inclusion proof against the
    /// latest signed checkpoint (c2sp.org/tlog-proof), checkable without any other order.
    Prove {
        code: String,
        /// Directory for the proof files (default: ./proof-<order>).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Write an evidence bundle (zip) of every clip of an order or tracking code: the clips,
    /// their records with inclusion proofs, stills, an HTML report and a checker script; or,
    /// with --mp4, one ordinary MP4 of the order for a marketplace's upload form.
    Export(subcommands::ExportArgs),
    /// Check an evidence bundle offline, with nothing from the station.
    VerifyBundle(subcommands::VerifyBundleArgs),
    /// What a photo or video declares about where it came from (the buyer's, in a dispute):
    /// its C2PA content credentials, a GB 45438-2025 AI label, EXIF camera and time, editing
    /// software. Read here; nothing is sent anywhere. No AI-detection model is used.
    Provenance(subcommands::ProvenanceArgs),
    /// What the recorder running on the data dir is doing now: each station and camera
    /// (`starting`, `live`, `stalled` or `lost`, from the frames that reach the disk), the
    /// disk, the last checkpoint, the clock. Exit 0 when every camera is live and nothing is
    /// wrong, 1 otherwise (also when no recorder runs).
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the lookup index from the manifest and say where the two disagreed.
    Reindex {
        /// Replace the index even when the rebuilt one has fewer than half its clips.
        #[arg(long)]
        force: bool,
    },
    /// Apply the [retention] policy now: remove sealed clips past keep_days, and the oldest
    /// ones while free space is under min_free_mb (never held clips). A recording `run`
    /// applies it every minute by itself.
    Prune {
        /// List what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Put a legal hold on every clip of a code (held clips are never pruned), or lift it.
    Hold {
        code: String,
        /// Lift the hold instead.
        #[arg(long)]
        release: bool,
        /// Why (recorded in the manifest).
        #[arg(long)]
        reason: Option<String>,
        /// Who (recorded in the manifest); default: $USER.
        #[arg(long)]
        who: Option<String>,
    },
    /// Prove (or refuse) that the log extends a signed checkpoint kept earlier (the
    /// checkpoint.note of an old bundle, say): exit 0 with the consistency proof, 3 when the
    /// log does not extend it.
    Consistency {
        /// The old signed checkpoint note.
        old_checkpoint: PathBuf,
        /// Write the proof (old size, proof hashes, the latest checkpoint) here.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Check a proof file offline against a station public key, and optionally a clip file.
    VerifyProof {
        proof: PathBuf,
        /// The station public key (`<name>+<id>+<key>`, as printed by `packwitness key`).
        #[arg(long)]
        key: String,
        /// The clip file the proof is about: its SHA-256 must match the proven record.
        #[arg(long)]
        clip: Option<PathBuf>,
    },
}

/// `--max-delay`: seconds from `900s`, `15m`, `2h`, `1d`, or a bare number of minutes.
fn parse_delay(text: &str) -> std::result::Result<i64, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "m"),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 900s, 15m or 2h"))?;
    let unit = match unit.trim() {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3_600,
        "d" => 86_400,
        other => return Err(format!("{other:?} is not a unit (s, m, h or d)")),
    };
    Ok(n * unit)
}

/// Entry point of the binary: runs and maps errors to exit codes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            let code = e
                .chain()
                .find_map(|c| c.downcast_ref::<packwitness::Error>())
                .map_or(1, |e| e.kind().exit_code());
            ExitCode::from(code)
        }
    }
}

/// True when the error is standard output closed under us (`| head`): not a failure.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PACKWITNESS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// The data dir of a command that reads one: `--data-dir`, else the config's, and it must be
/// a data dir already.
fn data_dir_for_reading(cli_dir: Option<PathBuf>, config: &Config) -> Result<PathBuf> {
    let dir = cli_dir.or_else(|| config.data_dir.clone()).context(
        "no data dir: pass --data-dir DIR, or set data_dir in the config file given with --config",
    )?;
    packwitness::datadir::existing(&dir)?;
    Ok(dir)
}

/// A progress bar on a terminal (standard error), none otherwise.
fn progress_bar(template: &str) -> Option<indicatif::ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    })
}

fn run(cli: Cli) -> Result<ExitCode> {
    let loaded = packwitness::app::load_config(cli.config.as_deref())?;
    let (config, config_sha) = (loaded.config, loaded.sha256);
    let data_dir = cli.data_dir;
    setup::become_data_dir_owner(data_dir.as_ref().or(config.data_dir.as_ref()))?;
    match cli.command {
        Cmd::Demo {
            orders,
            clip_seconds,
        } => record::demo(&config, &config_sha, data_dir, &orders, clip_seconds),
        Cmd::Run {
            source,
            scanner,
            listen,
        } => record::run(config, &config_sha, data_dir, source, &scanner, listen),
        Cmd::Serve { listen } => {
            let dir = data_dir_for_reading(data_dir, &config)?;
            record::serve(&config, &dir, listen)
        }
        Cmd::Bench {
            what,
            files,
            mb,
            runs,
            work_dir,
            seconds,
            clips,
            lookups,
            records,
            keep,
            load,
            stations,
            orders,
        } => bench::bench(
            &what,
            bench::Args {
                files,
                mb,
                runs,
                work_dir,
                seconds,
                clips,
                lookups,
                records,
                keep,
                load,
                stations,
                orders,
            },
        ),
        Cmd::BenchWorker {
            width,
            height,
            frames,
            passthrough,
            lookups,
            build_ledger,
            out,
        } => {
            if let Some(n) = build_ledger {
                out!("{}", packwitness::app::bench::build_worker(&out, n)?);
                return Ok(ExitCode::SUCCESS);
            }
            match (passthrough, lookups) {
                (_, Some(n)) => out!("{}", packwitness::app::bench::lookups_worker(&out, n)?),
                (Some(input), None) => {
                    packwitness::app::bench::passthrough_worker(&input, frames, &out)?
                }
                (None, None) => {
                    packwitness::app::bench::transcode_worker(width, height, frames, &out)?
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Cameras { json } => setup::cameras(json),
        Cmd::Doctor { json, probe_s } => {
            setup::doctor(&config, cli.config, data_dir, json, probe_s)
        }
        Cmd::Key { rotate, backed_up } => setup::key(data_dir, &config, rotate, backed_up),
        Cmd::User { action } => setup::user(data_dir, &config, action),
        Cmd::Screen { action } => setup::screen(data_dir, &config, action),
        Cmd::Share { action } => {
            setup::share(data_dir_for_reading(data_dir, &config)?, &config, action)
        }
        Cmd::Witness {
            listen,
            key,
            add_log,
            name,
        } => setup::witness(
            data_dir,
            listen.as_deref(),
            key,
            &add_log,
            &name.unwrap_or_else(|| packwitness::anchor::cosign::default_name("witness")),
        ),
        Cmd::Archive {
            action,
            listen,
            key,
            name,
        } => setup::archive(
            data_dir,
            &config,
            action,
            listen.as_deref(),
            key,
            &name.unwrap_or_else(|| packwitness::anchor::cosign::default_name("archive")),
        ),
        Cmd::ControlSheet { output } => setup::control_sheet(&config, &output),
        other => evidence(other, &config, data_dir),
    }
}

/// The commands about evidence already recorded: finding, checking and handing it over.
fn evidence(command: Cmd, config: &Config, data_dir: Option<PathBuf>) -> Result<ExitCode> {
    let dir = || data_dir_for_reading(data_dir.clone(), config);
    match command {
        Cmd::Lookup {
            code,
            prefix,
            since,
            until,
            station,
            operator,
            limit,
            json,
            check,
        } => {
            let dir = dir()?;
            let q = find::Query {
                code,
                prefix,
                since,
                until,
                station,
                operator,
                limit,
            };
            find::lookup(&dir, config, q, json, check)
        }
        Cmd::Stats {
            since,
            until,
            json,
            csv,
        } => find::stats(&dir()?, since.as_deref(), until.as_deref(), json, csv),
        Cmd::Verify {
            json,
            quick,
            full,
            key,
            threads,
        } => {
            let dir = dir()?;
            check::verify(
                &dir,
                json,
                &packwitness::verify::VerifyOptions {
                    quick,
                    full,
                    key,
                    threads,
                    checkpoint_interval: Some(std::time::Duration::from_secs(
                        config.ledger.checkpoint_minutes * 60,
                    )),
                },
            )
        }
        Cmd::Export(args) => {
            let dir = dir()?;
            find::export(&dir, config, args)
        }
        Cmd::Prune { dry_run } => {
            let dir = dir()?;
            check::prune(&dir, config, dry_run)
        }
        Cmd::Status { json } => {
            let dir = dir()?;
            check::status(&dir, json)
        }
        Cmd::Reindex { force } => {
            let dir = dir()?;
            check::reindex(&dir, force)
        }
        Cmd::VerifyBundle(args) => find::verify_bundle(&args),
        Cmd::Provenance(args) => provenance::run(&args),
        Cmd::Hold {
            code,
            release,
            reason,
            who,
        } => {
            let dir = dir()?;
            let who = who.unwrap_or_else(packwitness::app::user);
            find::hold(&dir, config, &code, release, reason, &who)
        }
        Cmd::Prove { code, output } => {
            let dir = dir()?;
            find::prove(&dir, config, &code, output)
        }
        Cmd::VerifyProof { proof, key, clip } => find::verify_proof(&proof, &key, clip.as_deref()),
        Cmd::Consistency {
            old_checkpoint,
            output,
        } => {
            let dir = dir()?;
            find::consistency(&dir, &old_checkpoint, output.as_deref())
        }
        other => anyhow::bail!("internal: {other:?} is not a command about recorded evidence"),
    }
}

/// Quotes a value for a shell command line shown to people.
fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipe whose reader has gone.
    struct Closed(usize);

    impl std::io::Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            self.0 += 1;
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn delays_are_read_with_their_units() {
        assert_eq!(parse_delay("15m"), Ok(900));
        assert_eq!(parse_delay("15"), Ok(900));
        assert_eq!(parse_delay("900s"), Ok(900));
        assert_eq!(parse_delay("2h"), Ok(7200));
        assert_eq!(parse_delay("1d"), Ok(86_400));
        assert!(parse_delay("soon").is_err());
        assert!(parse_delay("5w").is_err());
    }

    #[test]
    fn a_closed_pipe_drops_the_output_and_is_not_an_error() {
        let closed = std::sync::atomic::AtomicBool::new(false);
        let mut w = Closed(0);
        assert!(emit_to(&mut w, format_args!("FAILED: x"), &closed).is_ok());
        assert!(emit_to(&mut w, format_args!("more"), &closed).is_ok());
        // Tried once; after that nothing is written.
        assert_eq!(w.0, 1);
        let mut v = Vec::new();
        let open = std::sync::atomic::AtomicBool::new(false);
        emit_to(&mut v, format_args!("a {}", 1), &open).unwrap();
        assert_eq!(v, b"a 1\n");
    }
}
