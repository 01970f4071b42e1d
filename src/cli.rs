//! The command line: parse arguments, call the library, print for people or scripts.
//!
//! Owns: flags, output formats and exit codes. Never: recording logic (see `station`),
//! formats on disk (see `ledger`), lookups (see `index`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use crate::config::{CameraConfig, Config};
use crate::ledger::{Body, Record};
use crate::station::{self, Evidence, Station};
use crate::trigger::{self, Classifier, CodeKind};

/// Exit code when lookup finds nothing.
pub const EXIT_NOT_FOUND: u8 = 1;
/// Exit code when verify finds a problem in the evidence.
pub const EXIT_VERIFY_FAILED: u8 = 3;

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
    },
    /// Re-hash every clip and re-check the manifest chain and its signed checkpoints.
    Verify {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Check clip sizes only, not their hashes (fast).
        #[arg(long, conflicts_with = "full")]
        quick: bool,
        /// Hash every clip (the default).
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
        /// command line doing the same encode).
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
        /// `lookup`: synthetic clips in the manifest and the index.
        #[arg(long, default_value_t = 1_000_000)]
        clips: u64,
        /// `lookup`: lookups timed.
        #[arg(long, default_value_t = 10_000)]
        lookups: u64,
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
        #[arg(long)]
        out: PathBuf,
    },
    /// List the USB cameras this machine has, with the formats each offers.
    Cameras {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the station's public signing key (creating the key pair on first use).
    Key,
    /// Write, for each clip of an order, its manifest record with an inclusion proof against the
    /// latest signed checkpoint (c2sp.org/tlog-proof), checkable without any other order.
    Prove {
        code: String,
        /// Directory for the proof files (default: ./proof-<order>).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Write an evidence bundle (zip) of every clip of an order or tracking code: the clips,
    /// their records with inclusion proofs, stills, an HTML report and a checker script.
    Export {
        code: String,
        /// The bundle to write (FILE.zip).
        #[arg(short, long)]
        output: PathBuf,
        /// Who exports (recorded in the manifest's access record); default: $USER.
        #[arg(long)]
        who: Option<String>,
        /// Add, for each clip recorded in passthrough (stamp in a text track), a copy with the
        /// stamp burned into the picture. The original stays in the bundle and is the evidence.
        #[arg(long)]
        burn_in: bool,
    },
    /// Check an evidence bundle offline, with nothing from the station.
    VerifyBundle {
        bundle: PathBuf,
        /// Pin the station public key (`<name>+<id>+<key>`) instead of trusting the bundle's.
        #[arg(long)]
        key: Option<String>,
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

/// Entry point used by `main`: runs and maps errors to exit codes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
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

/// The loaded config and the SHA-256 of its text (of "" for built-in defaults).
fn load_config(path: Option<&Path>) -> Result<(Config, String)> {
    match path {
        None => Ok((Config::default(), crate::digest::sha256_hex(b""))),
        Some(p) => {
            let config = Config::load(p)?;
            let text = std::fs::read(p).with_context(|| format!("re-reading {}", p.display()))?;
            Ok((config, crate::digest::sha256_hex(&text)))
        }
    }
}

fn data_dir_for_reading(cli_dir: Option<PathBuf>, config: &Config) -> Result<PathBuf> {
    let dir = cli_dir.or_else(|| config.data_dir.clone()).context(
        "no data dir: pass --data-dir DIR, or set data_dir in the config file given with --config",
    )?;
    crate::existing_data_dir(&dir)?;
    Ok(dir)
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let (config, config_sha) = load_config(cli.config.as_deref())?;
    match cli.command {
        Cmd::Demo {
            orders,
            clip_seconds,
        } => demo(config, &config_sha, cli.data_dir, orders, clip_seconds),
        Cmd::Run {
            source,
            scanner,
            listen,
        } => {
            let mut config = config;
            if let Some(l) = listen {
                config.server.listen = l;
            }
            run_station(config, &config_sha, cli.data_dir, source, &scanner)
        }
        Cmd::Serve { listen } => {
            let dir = data_dir_for_reading(cli.data_dir, &config)?;
            let listen = listen
                .or_else(|| Some(config.server.listen.clone()).filter(|l| !l.is_empty()))
                .unwrap_or_else(|| "127.0.0.1:8088".into());
            let server = crate::server::Server::start(&listen, &dir, &config, Vec::new())?;
            println!(
                "packwitness: serving {} at http://{}/ (Ctrl-C stops)",
                dir.display(),
                server.addr()
            );
            server.wait_for_signal()?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Lookup {
            code,
            prefix,
            since,
            until,
            station,
            operator,
            limit,
            json,
        } => {
            let dir = data_dir_for_reading(cli.data_dir, &config)?;
            match code {
                Some(code)
                    if prefix.is_none()
                        && since.is_none()
                        && until.is_none()
                        && station.is_none()
                        && operator.is_none()
                        && limit.is_none() =>
                {
                    lookup(&dir, &code, json, config.codes.max_len)
                }
                code => {
                    let max = config.codes.max_len;
                    let norm = |raw: &str| {
                        trigger::normalize(raw, max).map_err(|source| crate::Error::Code {
                            code: raw.to_string(),
                            source,
                        })
                    };
                    let filter = crate::index::Filter {
                        code: code.as_deref().map(norm).transpose()?,
                        prefix: prefix.as_deref().map(norm).transpose()?,
                        since_ms: since.as_deref().map(|t| parse_time(t, false)).transpose()?,
                        until_ms: until.as_deref().map(|t| parse_time(t, true)).transpose()?,
                        station,
                        operator: operator.as_deref().map(|o| o.trim().to_ascii_uppercase()),
                        limit,
                    };
                    if filter == crate::index::Filter::default() {
                        bail!("lookup needs a CODE or at least one of --prefix, --since, --until, --station, --operator");
                    }
                    search(&dir, &filter, json)
                }
            }
        }
        Cmd::Verify {
            json,
            quick,
            full: _,
            key,
            threads,
        } => {
            let dir = data_dir_for_reading(cli.data_dir, &config)?;
            verify(
                &dir,
                json,
                &crate::ledger::VerifyOptions {
                    quick,
                    key,
                    threads,
                },
            )
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
        } => {
            if what == "lookup" {
                bench_lookup(work_dir, clips, lookups)
            } else if what == "transcode" {
                bench_transcode(runs, work_dir, seconds)
            } else if what == "passthrough" {
                bench_passthrough(runs, work_dir, seconds)
            } else if what == "station" {
                bench_station(work_dir, seconds)
            } else {
                bench(&what, files, mb, runs, work_dir)
            }
        }
        Cmd::BenchWorker {
            width,
            height,
            frames,
            passthrough,
            out,
        } => {
            match passthrough {
                Some(input) => crate::bench::passthrough_worker(&input, frames, &out)?,
                None => crate::bench::transcode_worker(width, height, frames, &out)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Cameras { json } => cameras(json),
        Cmd::Key => {
            let dir = cli.data_dir.or_else(|| config.data_dir.clone()).context(
                "no data dir: pass --data-dir DIR (the key lives in it), or set data_dir in the config",
            )?;
            crate::create_data_dir(&dir)?;
            let path = station::key_path(&dir, &config);
            let key = station::load_key(&dir, &config)?;
            println!("{}", key.verifier());
            eprintln!(
                "(private key: {}; keep it secret, publish the line above)",
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Export {
            code,
            output,
            who,
            burn_in,
        } => {
            let dir = data_dir_for_reading(cli.data_dir, &config)?;
            export(
                &dir,
                &config,
                &code,
                &output,
                &who.unwrap_or_else(user),
                burn_in,
            )
        }
        Cmd::Prune { dry_run } => {
            let dir = data_dir_for_reading(cli.data_dir, &config)?;
            prune(&dir, &config, dry_run)
        }
        Cmd::Reindex { force } => {
            let dir = data_dir_for_reading(cli.data_dir, &config)?;
            reindex(&dir, force)
        }
        Cmd::VerifyBundle { bundle, key, json } => verify_bundle(&bundle, key.as_deref(), json),
        Cmd::Hold {
            code,
            release,
            reason,
            who,
        } => {
            let dir = data_dir_for_reading(cli.data_dir, &config)?;
            hold(
                &dir,
                &config,
                &code,
                release,
                reason,
                &who.unwrap_or_else(user),
            )
        }
        Cmd::Prove { code, output } => {
            let dir = data_dir_for_reading(cli.data_dir, &config)?;
            prove(&dir, &config, &code, output)
        }
        Cmd::ControlSheet { output } => control_sheet(&config, &output),
        Cmd::VerifyProof { proof, key, clip } => verify_proof(&proof, &key, clip.as_deref()),
    }
}

/// Prints a line for people as each record becomes durable.
fn printer() -> station::Observer {
    Box::new(|rec: &Record| match &rec.body {
        Body::ClipOpened {
            order,
            camera,
            started_at,
            ..
        } => {
            println!("  recording {order} on {camera} from {started_at}");
        }
        Body::ClipSealed {
            order,
            camera,
            reason,
            duration_ms,
            frames,
            sha256,
            file,
            ..
        } => {
            println!(
                "  sealed    {order} on {camera}: {:.2} s, {frames} frames, reason {reason}\n            {file}\n            sha256 {sha256}",
                *duration_ms as f64 / 1000.0
            );
        }
        Body::Checkpoint { size, .. } => println!("  checkpoint signed over {size} manifest lines"),
        Body::TornLineRemoved { bytes, kept_in, .. } => {
            println!("  repaired  a torn last manifest line ({bytes} bytes kept in {kept_in})")
        }
        Body::CodeAttached { code, clip, .. } => println!("  attached  {code} to clip {clip}"),
        Body::Pruned { file, .. } => println!("  pruned    {file}"),
        Body::Scan {
            code,
            code_kind,
            action,
            detail,
            ..
        } => match detail {
            Some(d) => println!("  scanned   {code} ({code_kind}): {action}, {d}"),
            None => println!("  scanned   {code} ({code_kind}): {action}"),
        },
        Body::Access {
            action, code, who, ..
        } => println!("  access    {action} of {code} by {who}"),
        Body::Hold {
            code,
            released,
            who,
            ..
        } => println!(
            "  hold      {} on {code} by {who}",
            if *released { "released" } else { "placed" }
        ),
        Body::StationStart { .. } => {}
    })
}

fn new_demo_dir() -> PathBuf {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let base = PathBuf::from(format!("packwitness-demo-{stamp}"));
    let mut dir = base.clone();
    let mut n = 2;
    while dir.exists() {
        dir = PathBuf::from(format!("{}-{n}", base.display()));
        n += 1;
    }
    dir
}

fn demo(
    config: Config,
    config_sha: &str,
    data_dir: Option<PathBuf>,
    orders: Vec<String>,
    clip_seconds: f64,
) -> Result<ExitCode> {
    if !(0.5..=3600.0).contains(&clip_seconds) {
        bail!("--clip-seconds {clip_seconds} is out of range 0.5..=3600");
    }
    let orders = if orders.is_empty() {
        (1..=3).map(|i| format!("DEMO-{i:04}")).collect()
    } else {
        orders
    };
    // Validate every code before recording anything.
    let classifier = Classifier::new(&config.codes)?;
    let mut scans = Vec::new();
    for raw in &orders {
        let scan = classifier
            .classify(raw)
            .map_err(|source| crate::Error::Code {
                code: raw.clone(),
                source,
            })?;
        if !matches!(scan.kind, CodeKind::Order | CodeKind::Tracking) {
            bail!(
                "demo order {raw:?} is not an order code (it is a {} code); choose another demo order code",
                scan.kind.as_str()
            );
        }
        scans.push(scan);
    }
    let stop = classifier
        .classify(&config.codes.stop)
        .map_err(|source| crate::Error::Code {
            code: config.codes.stop.clone(),
            source,
        })?;
    let dir = data_dir
        .or_else(|| config.data_dir.clone())
        .unwrap_or_else(new_demo_dir);
    crate::create_data_dir(&dir)?;
    println!("packwitness demo: data dir {}", dir.display());
    let st = config.first_station();
    for cam in &st.cameras {
        println!("  camera {}: {}, station {}", cam.id, cam.source, st.id);
    }
    if config.stations.len() > 1 {
        println!(
            "  (the demo records station {} only; `run` records all {} stations)",
            st.id,
            config.stations.len()
        );
    }
    let evidence = Arc::new(Mutex::new(Evidence::open(&dir, &config, Some(printer()))?));
    station::record_start(&evidence, st, config_sha)?;
    let station = Station::start(&config, st, evidence.clone())?;
    for scan in &scans {
        station.scan("demo", scan)?;
        std::thread::sleep(Duration::from_secs_f64(clip_seconds));
        if !station.running() {
            break;
        }
    }
    station.scan("demo", &stop)?;
    // Let the post-roll run out before stopping.
    std::thread::sleep(Duration::from_secs_f64(st.post_roll_s + 0.3));
    station.shutdown()?;
    drop(evidence); // releases the writer lock

    let first = scans[0].code.clone();
    println!();
    println!("$ packwitness --data-dir {} lookup {first}", dir.display());
    let found = crate::lookup(&dir, &first, config.codes.max_len)?;
    print_table(&found);
    println!();
    println!("$ packwitness --data-dir {} verify", dir.display());
    let report = crate::ledger::verify(&dir, &Default::default())?;
    print_report(&report);
    println!();
    println!("Next:");
    println!(
        "  packwitness --data-dir {} lookup {}",
        dir.display(),
        shell_quote(&first)
    );
    println!("  packwitness --data-dir {} verify", dir.display());
    println!(
        "  packwitness --data-dir {} serve      (the web page: look up, play, download evidence)",
        dir.display()
    );
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_VERIFY_FAILED)
    })
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `run`: records every station of the config (or the one built from `--source` and
/// `--scanner`) until SIGINT/SIGTERM, the end of a scanner input, a camera that ends, or an
/// error: whichever station stops first stops them all, so that a supervisor (systemd) sees
/// one process that is either recording everything or not running.
fn run_station(
    mut config: Config,
    config_sha: &str,
    data_dir: Option<PathBuf>,
    source: Option<String>,
    scanners: &[String],
) -> Result<ExitCode> {
    if (source.is_some() || !scanners.is_empty()) && config.stations.len() > 1 {
        bail!(
            "--source and --scanner set up a single station, but the config has {} stations; give each station's cameras and scanners in the config instead",
            config.stations.len()
        );
    }
    if let Some(first) = config.stations.first_mut() {
        if let Some(spec) = source {
            first.cameras = vec![CameraConfig {
                source: spec,
                ..CameraConfig::default()
            }];
        }
        if !scanners.is_empty() {
            first.scanners.clear();
            for (i, spec) in scanners.iter().enumerate() {
                let mut s = trigger::parse_scanner_spec(spec).map_err(anyhow::Error::msg)?;
                if scanners.len() > 1 {
                    s.id = format!("scanner-{}", i + 1);
                }
                first.scanners.push(s);
            }
        }
        if first.scanners.is_empty() {
            first.scanners.push(crate::config::ScannerConfig::default());
        }
    }
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("--source/--scanner: {e}"))?;
    let reads_stdin = config.stations.iter().any(|st| {
        st.scanners
            .iter()
            .any(|s| s.kind == crate::config::ScannerKind::Stdin)
    });
    if reads_stdin && stdin_is_dev_null() {
        bail!(
            "a scanner reads standard input, but standard input is /dev/null (a service?), so it would end at once; \
             give the station a [[station.scanner]] of kind \"evdev\" or \"serial\" in the config, or `run --scanner evdev:/dev/input/by-id/...-event-kbd`"
        );
    }
    let dir = data_dir
        .or_else(|| config.data_dir.clone())
        .context("no data dir: pass --data-dir DIR or set data_dir in the config")?;
    crate::create_data_dir(&dir)?;
    let feedback = Feedback::new(&config, &dir);
    station::run::run(&config, config_sha, &dir, &feedback)?;
    Ok(ExitCode::SUCCESS)
}

/// True when standard input is the null device (as systemd gives a service by default).
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

fn control_sheet(config: &Config, output: &Path) -> Result<ExitCode> {
    // The control codes are the same for every station of a config.
    let ids: Vec<&str> = config.stations.iter().map(|s| s.id.as_str()).collect();
    let page = trigger::sheet::html(&config.codes, &ids.join(", ")).map_err(anyhow::Error::msg)?;
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            bail!(
                "cannot write {}: directory {} does not exist",
                output.display(),
                parent.display()
            );
        }
    }
    std::fs::write(output, page)
        .with_context(|| format!("writing the control sheet to {}", output.display()))?;
    let n = trigger::sheet::labels(&config.codes).len();
    println!(
        "wrote {} ({n} barcodes: stop, cancel, next box and {} operator badges); print it at 100% scale",
        output.display(),
        n - 3
    );
    Ok(ExitCode::SUCCESS)
}

/// Tells the packer what a scan did: a status line on a terminal, the bell and the configured
/// commands. Never blocks the station: commands run in the background.
struct Feedback {
    config: crate::config::FeedbackConfig,
    terminal: bool,
    /// Several stations: name the station in the status line.
    several: bool,
    /// For the terminal's first line: the stop code and the data dir.
    stop_code: String,
    data_dir: PathBuf,
}

impl Feedback {
    fn new(config: &Config, data_dir: &Path) -> Feedback {
        Feedback {
            config: config.feedback.clone(),
            terminal: std::io::stderr().is_terminal(),
            several: config.stations.len() > 1,
            stop_code: config.codes.stop.clone(),
            data_dir: data_dir.to_owned(),
        }
    }

    fn who(&self, station: &str, scanner: &str) -> String {
        if self.several {
            format!("{station}/{scanner}")
        } else {
            scanner.to_string()
        }
    }
}

impl station::run::Feedback for Feedback {
    fn ready(&self, stations: &[&str], stdin: Option<&str>, web: Option<std::net::SocketAddr>) {
        if let Some(addr) = web {
            eprintln!("packwitness: web page and API at http://{addr}/");
        }
        if let Some(st) = stdin.filter(|_| std::io::stdin().is_terminal()) {
            let others = if stations.len() > 1 {
                format!(" (stations: {})", stations.join(", "))
            } else {
                String::new()
            };
            eprintln!("packwitness: recording station {st}{others} into {}; scan or type an order code and press Enter ({} seals, Ctrl-D or Ctrl-C stops)",
                self.data_dir.display(), self.stop_code);
        }
    }

    fn accepted(
        &self,
        station: &str,
        scanner: &str,
        scan: &trigger::Scan,
        outcome: &station::Outcome,
    ) {
        use station::state::Action;
        let state = match &outcome.recording {
            Some((order, 1)) => format!("recording {order}"),
            Some((order, b)) => format!("recording {order} box {b}"),
            None => "idle".to_string(),
        };
        let what = match &outcome.action {
            Action::Ignored(why) => format!("ignored: {why}"),
            Action::Debounced => "ignored: scanned twice".into(),
            a => a.name().to_string(),
        };
        tracing::info!(station, scanner, code = %scan.code, kind = scan.kind.as_str(), rule = %scan.rule, action = %what, state = %state, "scan");
        if self.terminal {
            let op = outcome
                .operator
                .as_deref()
                .map(|o| format!(" · operator {o}"))
                .unwrap_or_default();
            eprintln!(
                "[{}] {} {}: {what} -> {state}{op}",
                self.who(station, scanner),
                scan.kind.as_str(),
                scan.code
            );
        }
        if !matches!(outcome.action, Action::Debounced) {
            run_feedback(&self.config.accept_command, station, scanner, &scan.code);
        }
    }

    fn rejected(&self, station: &str, scanner: &str, rejected: &trigger::Rejected) {
        if self.terminal {
            let bell = if self.config.bell { "\u{7}" } else { "" };
            eprintln!(
                "{bell}[{}] REJECTED {}: {}",
                self.who(station, scanner),
                rejected.raw,
                rejected.error
            );
        }
        run_feedback(&self.config.reject_command, station, scanner, &rejected.raw);
    }
}

/// Runs a feedback command with the scan in its environment (`PACKWITNESS_STATION`,
/// `PACKWITNESS_SCANNER`, `PACKWITNESS_CODE`), so one command can serve several stations.
fn run_feedback(cmd: &[String], station: &str, scanner: &str, code: &str) {
    let Some((program, args)) = cmd.split_first() else {
        return;
    };
    match std::process::Command::new(program)
        .args(args)
        .env("PACKWITNESS_STATION", station)
        .env("PACKWITNESS_SCANNER", scanner)
        .env("PACKWITNESS_CODE", code)
        .stdin(std::process::Stdio::null())
        .spawn()
    {
        // Reaped on a thread of its own so the station never waits for a sound.
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => {
            tracing::warn!(command = %program, error = %e, "feedback command failed to start")
        }
    }
}

/// The account running the command, for access and hold records.
fn user() -> String {
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

fn not_found(dir: &Path, code: &str, max_len: usize) -> ExitCode {
    eprintln!(
        "no clip found for code {:?} in {} (order numbers and attached codes match exactly, case-insensitively)",
        code.trim(),
        dir.display()
    );
    if let Ok(norm) = trigger::normalize(code, max_len) {
        if let Ok(idx) = crate::index::Index::open(dir) {
            let prefix: String = norm
                .chars()
                .take(norm.chars().count().saturating_sub(2).max(3))
                .collect();
            if let Ok(similar) = idx.codes_with_prefix(&prefix, 5) {
                if !similar.is_empty() {
                    eprintln!("codes starting with {prefix:?}: {}", similar.join(", "));
                }
            }
        }
    }
    ExitCode::from(EXIT_NOT_FOUND)
}

fn export(
    dir: &Path,
    config: &Config,
    code: &str,
    output: &Path,
    who: &str,
    burn_in: bool,
) -> Result<ExitCode> {
    if code.contains(['*', '?', '%']) {
        bail!("code {code:?} contains a wildcard; export takes one exact order or tracking code (use lookup to find it)");
    }
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "exporting {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let progress = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let exported = match crate::export::export(dir, config, code, output, who, burn_in, &progress) {
        Ok(e) => e,
        Err(crate::Error::NotFound(_)) => return Ok(not_found(dir, code, config.codes.max_len)),
        Err(e) => return Err(e.into()),
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let ev = &exported.evidence;
    println!(
        "wrote {} ({} bytes): {} clip(s) of {}",
        exported.path.display(),
        exported.bytes,
        ev.clips.len(),
        ev.code
    );
    for c in &ev.clips {
        let what = match (&c.file, c.pruned) {
            (Some(f), _) => f.clone(),
            (None, true) => {
                "(pruned by retention: its records and proofs are in the bundle)".into()
            }
            (None, false) => "(not sealed: not exported)".into(),
        };
        println!(
            "  clip {} {} box {} part {}: {what}",
            c.clip, c.camera, c.box_no, c.part
        );
        if let Some(b) = &c.burned_in {
            println!(
                "    with the stamp burned in: {b} (a viewing copy; the original is the evidence)"
            );
        }
    }
    println!(
        "the export is recorded in the manifest (line {}); check the bundle with: packwitness verify-bundle {} --key '{}'",
        ev.access_line.unwrap_or(0),
        exported.path.display(),
        ev.station_key
    );
    Ok(ExitCode::SUCCESS)
}

fn prune(dir: &Path, config: &Config, dry_run: bool) -> Result<ExitCode> {
    let mut ev = match Evidence::open(dir, config, None) {
        Ok(ev) => ev,
        Err(crate::Error::Ledger(crate::ledger::LedgerError::Locked { .. })) => bail!(
            "a recording packwitness holds {}; it applies [retention] every minute by itself (stop it to prune by hand)",
            dir.display()
        ),
        Err(e) => return Err(e.into()),
    };
    let r = &config.retention;
    println!(
        "retention: keep_days = {}{}, min_free_mb = {}, min_age_hours = {}; {} MB free now",
        r.keep_days,
        if r.keep_days == 0 {
            " (no age limit)"
        } else {
            ""
        },
        r.min_free_mb,
        r.min_age_hours,
        crate::retention::free_bytes(dir).map_or(0, |b| b / (1024 * 1024))
    );
    let planned = crate::retention::apply(&mut ev, r, dry_run)?;
    if !dry_run {
        ev.checkpoint()?;
    }
    for p in &planned {
        println!(
            "{} clip {} of {} ({} MB): {}",
            if dry_run { "would remove" } else { "removed" },
            p.clip,
            p.order,
            p.size / (1024 * 1024),
            p.reason
        );
    }
    let freed: u64 = planned.iter().map(|p| p.size).sum();
    println!(
        "{} clip(s), {} MB{}",
        planned.len(),
        freed / (1024 * 1024),
        if dry_run {
            " (dry run: nothing removed)"
        } else {
            " freed"
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn reindex(dir: &Path, force: bool) -> Result<ExitCode> {
    let spinner = std::io::stderr().is_terminal().then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.set_message("rebuilding the index from the manifest");
        s.enable_steady_tick(Duration::from_millis(120));
        s
    });
    let r = crate::index::reindex(dir, force)?;
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    println!(
        "read {} manifest lines in {:.2} s ({:.0} records/s); clips: {} in the old index, {} in the manifest",
        r.records,
        r.seconds,
        r.records as f64 / r.seconds.max(1e-9),
        r.clips_before,
        r.clips_after
    );
    if r.differences_total == 0 {
        println!("the old index agreed with the manifest");
    } else {
        println!(
            "{} difference(s) between the old index and the manifest:",
            r.differences_total
        );
        for d in &r.differences {
            println!("  {d}");
        }
        if r.differences_total > r.differences.len() as u64 {
            println!(
                "  ... and {} more",
                r.differences_total - r.differences.len() as u64
            );
        }
    }
    if r.replaced {
        println!("the index is rebuilt");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "refused: the rebuilt index would have {} clips where the old one had {} (fewer than half); \
             the manifest may have been cut short: run `packwitness verify`. Pass --force to replace the index anyway",
            r.clips_after, r.clips_before
        );
        Ok(ExitCode::from(1))
    }
}

fn verify_bundle(bundle: &Path, key: Option<&str>, json: bool) -> Result<ExitCode> {
    let report = crate::export::verify_bundle(bundle, key)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"ok": report.ok(), "report": report})
            )?
        );
    } else if report.ok() {
        println!(
            "OK: {} — {} clip(s) match their sealed records, {} pruned; {} record(s) proven in the log of {} lines signed by {}",
            bundle.display(),
            report.clips_ok,
            report.clips_pruned,
            report.records_proven,
            report.checkpoint_size,
            report.station_key
        );
        if key.is_none() {
            println!(
                "compare that station key with the one the merchant published (or pass --key)"
            );
        }
    } else {
        println!("FAILED: {}", bundle.display());
        for p in &report.problems {
            println!("  {}: {}", p.file, p.detail);
        }
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_VERIFY_FAILED)
    })
}

fn hold(
    dir: &Path,
    config: &Config,
    code: &str,
    release: bool,
    reason: Option<String>,
    who: &str,
) -> Result<ExitCode> {
    let found = crate::lookup(dir, code, config.codes.max_len)?;
    if found.is_empty() {
        return Ok(not_found(dir, code, config.codes.max_len));
    }
    let norm =
        trigger::normalize(code, config.codes.max_len).map_err(|source| crate::Error::Code {
            code: code.to_string(),
            source,
        })?;
    let clips: Vec<u64> = found.iter().map(|f| f.clip.clip).collect();
    station::append_or_spool(
        dir,
        config,
        Body::Hold {
            code: norm.clone(),
            clips: clips.clone(),
            released: release,
            who: who.to_string(),
            reason,
        },
        Duration::from_secs(30),
    )?;
    println!(
        "{} {} clip(s) of {norm}: {}",
        if release {
            "released the hold on"
        } else {
            "placed a legal hold on"
        },
        clips.len(),
        clips
            .iter()
            .map(|c| format!("#{c}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(ExitCode::SUCCESS)
}

/// A local date or time for `--since`/`--until`, as Unix milliseconds. A bare date is the
/// start of that day (`end_of_day`: the start of the next day, so the day is included).
fn parse_time(text: &str, end_of_day: bool) -> Result<i64> {
    use chrono::{Local, NaiveDate, NaiveDateTime, TimeZone};
    let t = text.trim();
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_millis());
    }
    let local = |naive: NaiveDateTime| -> Result<i64> {
        Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|d| d.timestamp_millis())
            .with_context(|| format!("{t:?} does not exist in the local time zone"))
    };
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
            return local(n);
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let d = if end_of_day {
            d.succ_opt().unwrap_or(d)
        } else {
            d
        };
        return local(d.and_time(chrono::NaiveTime::MIN));
    }
    bail!("{t:?} is not a date or time; use 2026-11-25, \"2026-11-25 14:30\" or RFC 3339 (2026-11-25T14:30:00+08:00)")
}

fn search(dir: &Path, filter: &crate::index::Filter, json: bool) -> Result<ExitCode> {
    let found = crate::search(dir, filter)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else if found.is_empty() {
        eprintln!("no clip matches in {}", dir.display());
    } else {
        print_table(&found);
        println!("{} clip(s)", found.len());
    }
    Ok(if found.is_empty() {
        ExitCode::from(EXIT_NOT_FOUND)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_table(found: &[crate::Found]) {
    for f in found {
        let c = &f.clip;
        match (c.box_no, c.part) {
            (1, 1) => println!("order     {}", c.order),
            (b, 1) => println!("order     {}  box {b}", c.order),
            (1, p) => println!("order     {}  part {p}", c.order),
            (b, p) => println!("order     {}  box {b}, part {p}", c.order),
        }
        println!("  clip      #{} on {} / {}", c.clip, c.station, c.camera);
        if let Some(op) = &c.operator {
            println!("  operator  {op}");
        }
        if !c.codes.is_empty() {
            println!("  codes     {}", c.codes.join(" "));
        }
        if c.held {
            println!("  hold      under legal hold: never pruned");
        }
        for a in &c.access {
            println!("  access    {a}");
        }
        println!("  scanned   {}", c.scanned_at);
        println!("  start     {}  (with pre-roll)", c.started_at);
        println!("  end       {}", c.ended_at.as_deref().unwrap_or("(open)"));
        if let Some(ms) = c.duration_ms {
            println!("  duration  {:.3} s", ms as f64 / 1000.0);
        }
        if let Some(frames) = c.frames {
            println!("  frames    {frames}");
        }
        if let Some(reason) = &c.reason {
            println!("  sealed by {reason}");
        }
        println!("  file      {}", c.file);
        println!("  sha256    {}", c.sha256.as_deref().unwrap_or("-"));
        match &f.file_detail {
            None => println!("  status    ok: the file matches its SHA-256"),
            Some(d) => println!("  status    {}: {d}", f.file_status.to_uppercase()),
        }
    }
}

fn lookup(dir: &Path, code: &str, json: bool, max_len: usize) -> Result<ExitCode> {
    let found = crate::lookup(dir, code, max_len)?;
    if found.is_empty() {
        if json {
            println!("[]");
        }
        return Ok(not_found(dir, code, max_len));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else {
        print_table(&found);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(report: &crate::ledger::Report) {
    if report.ok() {
        println!(
            "OK: {} manifest lines chain correctly; {} signed checkpoints verify{}; {} sealed clips {} ({} bytes hashed){}",
            report.lines,
            report.checkpoints,
            if report.uncovered_lines > 0 { format!(" ({} lines after the last one)", report.uncovered_lines) } else { String::new() },
            report.clips_ok,
            if report.quick { "have their recorded size (--quick: not hashed)" } else { "match their SHA-256" },
            report.bytes_hashed,
            if report.clips_open > 0 { format!("; {} clip(s) not sealed", report.clips_open) } else { String::new() }
        );
        return;
    }
    if let Some(first) = report.first_problem() {
        println!(
            "FAILED at manifest line {}{}: {}",
            first.line,
            first
                .file
                .as_ref()
                .map(|f| format!(" ({f})"))
                .unwrap_or_default(),
            first.detail
        );
    }
    for p in report.problems.iter().skip(1) {
        println!("  also line {}: {}", p.line, p.detail);
    }
    println!(
        "{} problem(s) in {} lines; {} of {} sealed clips OK",
        report.problems.len(),
        report.lines,
        report.clips_ok,
        report.clips_sealed
    );
}

fn verify(dir: &Path, json: bool, opts: &crate::ledger::VerifyOptions) -> Result<ExitCode> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "verifying {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let report = crate::ledger::verify_with_progress(dir, opts, &mut |done, total| {
        if let Some(bar) = &bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if json {
        let first = report.first_problem().cloned();
        let out =
            serde_json::json!({ "ok": report.ok(), "first_problem": first, "report": report });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_report(&report);
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_VERIFY_FAILED)
    })
}

fn prove(dir: &Path, config: &Config, raw: &str, output: Option<PathBuf>) -> Result<ExitCode> {
    let found = crate::lookup(dir, raw, config.codes.max_len)?;
    if found.is_empty() {
        eprintln!(
            "no clip found for order {:?} in {}",
            raw.trim(),
            dir.display()
        );
        return Ok(ExitCode::from(EXIT_NOT_FOUND));
    }
    let lines: Vec<u64> = found.iter().filter_map(|f| f.clip.sealed_line).collect();
    if lines.is_empty() {
        bail!(
            "the clips of {:?} are not sealed yet; prove them once they are",
            raw.trim()
        );
    }
    let needed = lines.iter().copied().max().unwrap_or(0);
    let mut snap = crate::ledger::proof::snapshot(dir)?;
    if snap.as_ref().is_none_or(|s| s.size < needed) {
        // No checkpoint covers the records yet: write one, if no recording process holds the dir.
        let mut ledger = crate::ledger::Ledger::open(dir).context(
            "no signed checkpoint covers these clips yet, and a recording process holds the data dir; \
             it writes one every ledger.checkpoint_every records, every ledger.checkpoint_minutes, and at shutdown",
        )?;
        let key = station::load_key(dir, config)?;
        ledger.checkpoint(&key)?;
        drop(ledger);
        snap = crate::ledger::proof::snapshot(dir)?;
    }
    let snap = snap.context("the manifest has no checkpoint")?;
    let out_dir = output.unwrap_or_else(|| {
        PathBuf::from(format!(
            "proof-{}",
            crate::clip::safe_name(&found[0].clip.order)
        ))
    });
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let key_line = crate::ledger::proof::station_key_before(dir, snap.checkpoint_line)?;
    for f in &found {
        let Some(line) = f.clip.sealed_line else {
            continue;
        };
        let text = snap.prove(line)?;
        let name = format!(
            "{}_clip{}.tlog-proof",
            crate::clip::safe_name(&f.clip.order),
            f.clip.clip
        );
        let path = out_dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!(
            "{}  (manifest line {line}, clip {})",
            path.display(),
            f.clip.file
        );
    }
    if let Some(k) = key_line {
        let path = out_dir.join("station.pub");
        std::fs::write(&path, format!("{k}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
        println!("check with: packwitness verify-proof FILE.tlog-proof --key \"$(cat {})\" --clip CLIP.mp4", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn verify_proof(proof: &Path, key: &str, clip: Option<&Path>) -> Result<ExitCode> {
    let text = std::fs::read_to_string(proof)
        .with_context(|| format!("reading proof {}", proof.display()))?;
    let verifier = crate::ledger::note::NoteVerifier::parse(key)?;
    let v = match crate::ledger::proof::verify(&text, &verifier) {
        Ok(v) => v,
        Err(e) => {
            println!("FAILED: {}: {e}", proof.display());
            return Ok(ExitCode::from(EXIT_VERIFY_FAILED));
        }
    };
    println!(
        "OK: manifest line {} is in the log {} of {} lines, signed by {}",
        v.line, v.checkpoint.origin, v.checkpoint.size, verifier.name
    );
    println!("record: {}", String::from_utf8_lossy(&v.entry).trim_end());
    if let Some(path) = clip {
        let Body::ClipSealed { sha256, size, .. } = &v.record.body else {
            println!("FAILED: the proven record is not a sealed clip");
            return Ok(ExitCode::from(EXIT_VERIFY_FAILED));
        };
        let (actual, actual_size) = crate::digest::sha256_file(path)
            .with_context(|| format!("reading {}", path.display()))?;
        if &actual != sha256 || actual_size != *size {
            println!("FAILED: {} has SHA-256 {actual} ({actual_size} bytes); the record says {sha256} ({size} bytes)", path.display());
            return Ok(ExitCode::from(EXIT_VERIFY_FAILED));
        }
        println!(
            "OK: {} matches the record (SHA-256 {sha256})",
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn bench_lookup(work_dir: Option<PathBuf>, clips: u64, lookups: u64) -> Result<ExitCode> {
    if clips == 0 || lookups == 0 {
        bail!("--clips and --lookups must be at least 1");
    }
    let work = work_dir.unwrap_or_else(std::env::temp_dir);
    println!(
        "bench lookup: {clips} synthetic clips, {lookups} lookups, in {}",
        work.display()
    );
    let b = crate::bench::lookup(&work, clips, lookups)?;
    println!(
        "manifest: {} lines, {:.0} MB; parsing every line alone (reference): {:.2} s",
        b.records,
        b.manifest_bytes as f64 / 1e6,
        b.parse_s
    );
    let reindex_ok = b.reindex_records_per_s >= 100_000.0;
    println!(
        "reindex: {:.2} s, {:.0} records/s ({:.2}x the parse-only time; target >= 100000 records/s: {})",
        b.reindex_s,
        b.reindex_records_per_s,
        b.reindex_ratio,
        if reindex_ok { "PASS" } else { "FAIL" }
    );
    let lookup_ok = b.lookup_p99_ms < 5.0;
    println!(
        "lookup: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms over {} lookups (target p99 < 5 ms: {})",
        b.lookup_p50_ms,
        b.lookup_p99_ms,
        b.lookup_max_ms,
        b.lookups,
        if lookup_ok { "PASS" } else { "FAIL" }
    );
    Ok(if reindex_ok && lookup_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn bench(
    what: &str,
    files: usize,
    mb: usize,
    runs: usize,
    work_dir: Option<PathBuf>,
) -> Result<ExitCode> {
    if what != "verify" {
        bail!("unknown benchmark {what:?}; available: verify, transcode, passthrough, station, lookup");
    }
    if files == 0 || mb == 0 || runs == 0 {
        bail!("--files, --mb and --runs must be at least 1");
    }
    let work = work_dir.unwrap_or_else(std::env::temp_dir);
    eprintln!(
        "bench verify: {files} clips x {mb} MiB in {} (best of {runs})",
        work.display()
    );
    let r = crate::bench::verify(&work, files, mb, runs)?;
    let mbs = |s: f64| r.bytes as f64 / (1 << 20) as f64 / s;
    println!(
        "sha256sum (reference, 1 core)  {:>8.3} s  {:>8.0} MiB/s",
        r.sha256sum_s,
        mbs(r.sha256sum_s)
    );
    if let Some(o) = r.openssl_s {
        println!("openssl dgst -sha256 (1 core)   {:>8.3} s  {:>8.0} MiB/s  (verify 1 core: {:.2}x of it)", o, mbs(o), o / r.verify_one_core_s);
    }
    println!(
        "verify --threads 1             {:>8.3} s  {:>8.0} MiB/s  ratio {:.2} (target >= 0.90)",
        r.verify_one_core_s,
        mbs(r.verify_one_core_s),
        r.ratio_one_core
    );
    println!(
        "verify ({} threads)             {:>8.3} s  {:>8.0} MiB/s  ratio {:.2}",
        r.cores,
        r.verify_all_cores_s,
        mbs(r.verify_all_cores_s),
        r.ratio_all_cores
    );
    let pass = r.ratio_one_core >= 0.9;
    println!(
        "{}",
        if pass {
            "PASS"
        } else {
            "FAIL: verify on one core is slower than 0.9x sha256sum"
        }
    );
    Ok(if pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn bench_transcode(runs: usize, work_dir: Option<PathBuf>, seconds: u64) -> Result<ExitCode> {
    if runs == 0 || seconds == 0 {
        bail!("--runs and --seconds must be at least 1");
    }
    eprintln!("bench transcode: {seconds} s of testsrc2 at 30 fps per run, best of {runs}, CPU per recorded minute");
    in_bench_dir(
        work_dir,
        "the recorder costs more CPU than the ffmpeg command line",
        |work| {
            let exe = std::env::current_exe().context("finding this program's path")?;
            let frames = seconds * 30;
            let per_min = 60.0 / seconds as f64;
            let mut pass = true;
            for (w, h) in [(1280u32, 720u32), (1920, 1080)] {
                let out = work.join(format!("{h}p.mp4"));
                let mut ours = None::<crate::bench::Usage>;
                let mut theirs = None::<crate::bench::Usage>;
                for _ in 0..runs {
                    let mut c = std::process::Command::new(&exe);
                    c.args([
                        "bench-worker",
                        "--width",
                        &w.to_string(),
                        "--height",
                        &h.to_string(),
                        "--frames",
                        &frames.to_string(),
                        "--out",
                    ])
                    .arg(&out);
                    let _ = std::fs::remove_file(&out);
                    let u = crate::bench::measure(c)?;
                    ours = Some(ours.map_or(u, |b| if u.cpu_s < b.cpu_s { u } else { b }));
                    let u =
                        crate::bench::measure(crate::bench::ffmpeg_reference(w, h, frames, &out))?;
                    theirs = Some(theirs.map_or(u, |b| if u.cpu_s < b.cpu_s { u } else { b }));
                }
                let (o, t) = (ours.context("no run")?, theirs.context("no run")?);
                let ratio = o.cpu_s / t.cpu_s;
                println!("{h}p30  packwitness {:>6.1} CPU-s/min ({:>5.2}x real time, {:>4.0} MB peak)   ffmpeg {:>6.1} CPU-s/min ({:>5.2}x, {:>4.0} MB)   ratio {ratio:.2} (target <= 1.05)",
                o.cpu_s * per_min, seconds as f64 / o.wall_s, o.max_rss_mb, t.cpu_s * per_min, seconds as f64 / t.wall_s, t.max_rss_mb);
                pass &= ratio <= 1.05;
            }
            Ok(pass)
        },
    )
}

/// Runs a benchmark in a fresh directory (removed afterwards, whatever happens), then prints
/// PASS or FAIL and gives the exit code.
fn in_bench_dir(
    work_dir: Option<PathBuf>,
    failure: &str,
    body: impl FnOnce(&Path) -> Result<bool>,
) -> Result<ExitCode> {
    let work = work_dir
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("packwitness-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let result = body(&work);
    let _ = std::fs::remove_dir_all(&work);
    let pass = result?;
    println!(
        "{}",
        if pass {
            "PASS".to_string()
        } else {
            format!("FAIL: {failure}")
        }
    );
    Ok(if pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn bench_passthrough(runs: usize, work_dir: Option<PathBuf>, seconds: u64) -> Result<ExitCode> {
    if runs == 0 || seconds == 0 {
        bail!("--runs and --seconds must be at least 1");
    }
    in_bench_dir(
        work_dir,
        "passthrough costs more CPU than ffmpeg -c copy",
        |work| {
            let exe = std::env::current_exe().context("finding this program's path")?;
            let kbps = 8000;
            eprintln!("bench passthrough: {seconds} s of a live 1080p30 H.264 RTSP stream at {kbps} kbit/s (GStreamer on loopback), {runs} run(s), packwitness and ffmpeg recording it side by side");
            let b = crate::bench::passthrough(work, &exe, runs, seconds, kbps)?;
            let whole = b.ours_cpu_per_min / b.copy_cpu_per_min.max(1e-9);
            let steady = b.ours_steady_per_min / b.copy_steady_per_min.max(1e-9);
            println!(
                "1080p30 passthrough  packwitness {:.2} CPU-s/min ({:.0} MB peak)   ffmpeg -rtsp_transport tcp -c copy {:.2} CPU-s/min ({:.0} MB)   whole-run ratio {whole:.2}",
                b.ours_cpu_per_min, b.ours_rss_mb, b.copy_cpu_per_min, b.copy_rss_mb
            );
            println!(
                "  start-up (connect, first keyframe, one frame, exit): packwitness {:.2} CPU-s, ffmpeg {:.2} CPU-s",
                b.ours_start_cpu, b.copy_start_cpu
            );
            println!(
                "  once running (whole run minus start-up): packwitness {:.2} CPU-s/min, ffmpeg {:.2} CPU-s/min   ratio {steady:.2} (target <= 1.0)",
                b.ours_steady_per_min, b.copy_steady_per_min
            );
            if b.hash_cpu_per_min < f64::MAX {
                let with_hash = b.copy_steady_per_min + b.hash_cpu_per_min;
                println!(
                    "  the recorder also hashes every clip (SHA-256 of the file and of each fragment, as it is written) and fsyncs each fragment;\n  against ffmpeg -c copy plus openssl dgst -sha256 of its output ({with_hash:.2} CPU-s/min once running): ratio {:.2}",
                    b.ours_steady_per_min / with_hash.max(1e-9)
                );
            }
            let bare = steady;
            Ok(bare <= 1.0)
        },
    )
}

fn bench_station(work_dir: Option<PathBuf>, seconds: u64) -> Result<ExitCode> {
    use std::io::{BufRead, Write};
    if seconds < 5 {
        bail!("--seconds must be at least 5");
    }
    in_bench_dir(work_dir, "a target above was missed", |work| {
        let cfg = work.join("station.toml");
        std::fs::write(
            &cfg,
            "[station]\npre_roll_s = 3.0\n\n[[camera]]\nid = \"top\"\nsource = \"testsrc\"\n\n[[camera]]\nid = \"side\"\nsource = \"testsrc\"\n",
        )?;
        let exe = std::env::current_exe().context("finding this program's path")?;
        eprintln!(
            "bench station: 2 cameras 720p30, 3 s pre-roll, an order every 10 s, for {seconds} s"
        );
        let t = std::time::Instant::now();
        let mut child = std::process::Command::new(exe)
            .env("PACKWITNESS_LOG", "info")
            .arg("--config")
            .arg(&cfg)
            .arg("--data-dir")
            .arg(work.join("data"))
            .arg("run")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("starting the station")?;
        let stderr = child.stderr.take().context("station stderr")?;
        let log = std::thread::spawn(move || {
            std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        let mut stdin = child.stdin.take().context("station stdin")?;
        let mut n = 0;
        while t.elapsed() < Duration::from_secs(seconds) {
            n += 1;
            writeln!(stdin, "BENCH-{n:05}")?;
            std::thread::sleep(
                Duration::from_secs(10)
                    .min(Duration::from_secs(seconds).saturating_sub(t.elapsed())),
            );
        }
        drop(stdin);
        let usage = crate::bench::wait_measured(child, t, "the station")?;
        let lines = log.join().unwrap_or_default();
        let (mut frames, mut late) = (0u64, 0u64);
        for l in lines.iter().filter(|l| l.contains("camera session ended")) {
            let field = |k: &str| {
                l.split(&format!("{k}="))
                    .nth(1)
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            frames += field("frames");
            late += field("late");
        }
        println!(
            "station, 2 x 720p30 transcode: {:.2} cores ({:.1} CPU-s in {:.1} s), peak RSS {:.0} MB (target < 150), late (would-be dropped) frames {late} of {frames} (target 0)",
            usage.cpu_s / usage.wall_s, usage.cpu_s, usage.wall_s, usage.max_rss_mb
        );
        Ok(usage.max_rss_mb < 150.0 && late == 0 && frames > 0)
    })
}

fn cameras(json: bool) -> Result<ExitCode> {
    let (list, problem) = match crate::capture::usb_cameras() {
        Ok(l) => (l, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let found: Vec<serde_json::Value> = list
        .iter()
        .map(|(index, name, description)| {
            let formats = crate::capture::usb_formats(*index).unwrap_or_else(|e| vec![format!("(cannot list formats: {e})")]);
            serde_json::json!({ "index": index, "source": format!("usb:{index}"), "name": name, "description": description, "formats": formats })
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else if found.is_empty() {
        println!(
            "no USB cameras found{}",
            problem.map(|p| format!(" ({p})")).unwrap_or_default()
        );
        println!("hint: a USB camera shows up as /dev/video*; check its cable and that this user may use it");
        println!("      (group `video`). Network cameras need no listing: give `rtsp://...` as a camera source.");
    } else {
        for c in &found {
            println!(
                "{}  {}  (source = \"{}\")",
                c["index"],
                c["name"].as_str().unwrap_or(""),
                c["source"].as_str().unwrap_or("")
            );
            for f in c["formats"].as_array().into_iter().flatten() {
                println!("    {}", f.as_str().unwrap_or(""));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
