//! `demo`, `run` and `serve`: the commands that keep running.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use packwitness::app;
use packwitness::clock::{RealClock, SharedClock};
use packwitness::codes::{Rejected, Scan};
use packwitness::config::{Config, FeedbackConfig};
use packwitness::index::FileCheck;
use packwitness::log::{Body, Record};
use packwitness::recorder::camera::MediaOpener;
use packwitness::recorder::state::Action;
use packwitness::recorder::writer::Observer;
use packwitness::recorder::Outcome;
use packwitness::web::i18n::{label, t, Lang};

use super::{check, find, shell_quote, EXIT_VERIFY_FAILED};

/// A line for people as each record becomes durable (the demo's running commentary). Runs on
/// the writer's thread: a closed standard output is ignored there.
fn printer() -> Observer {
    Box::new(|rec: &Record| {
        use std::io::Write;
        let line = match &rec.body {
            Body::ClipOpened {
                order,
                camera,
                started_at,
                ..
            } => format!("  recording {order} on {camera} from {started_at}"),
            Body::ClipSealed {
                order,
                camera,
                reason,
                duration_ms,
                frames,
                sha256,
                file,
                ..
            } => format!(
                "  sealed    {order} on {camera}: {:.2} s, {frames} frames, reason {reason}\n            {file}\n            sha256 {sha256}",
                *duration_ms as f64 / 1000.0
            ),
            Body::Checkpoint { size, .. } => format!("  checkpoint signed over {size} manifest lines"),
            Body::TornLineRemoved { bytes, kept_in, .. } => {
                format!("  repaired  a torn last manifest line ({bytes} bytes kept in {kept_in})")
            }
            Body::CrashRecovered { from, to, .. } => format!(
                "  recovered after a crash: lines {from}..={to} were not signed yet; the next checkpoint covers them"
            ),
            Body::KeyRotation { new, .. } => format!("  key       rotated to {new}"),
            Body::NoVideo {
                order, scanned_at, down, ..
            } => format!(
                "  NO VIDEO  {order} scanned at {scanned_at}: {}",
                packwitness::recorder::health::down_text(down)
            ),
            Body::OrphanRecovered {
                order,
                file,
                frames,
                ..
            } => format!(
                "  recovered {file} of {order} ({frames} frames): its opening record was lost in a crash"
            ),
            Body::ClockAdjusted {
                camera, step_ms, ..
            } => format!("  clock     {camera}: frame times stepped by {step_ms} ms"),
            Body::Anchored { size, tsa, time, .. } => {
                format!("  anchored  checkpoint of {size} lines stamped at {time} by {tsa}")
            }
            Body::OrderResumed { order, scanned_at, .. } => format!(
                "  resumed   {order} (scanned at {scanned_at}): the process died while it was open"
            ),
            Body::CameraGap {
                camera,
                order,
                from,
                to,
                reason,
                ..
            } => format!("  gap       {order} on {camera}: nothing recorded from {from} to {to} ({reason})"),
            Body::CodeAttached { code, clip, .. } => format!("  attached  {code} to clip {clip}"),
            Body::Pruned { file, .. } => format!("  pruned    {file}"),
            Body::Scan {
                code,
                code_kind,
                action,
                detail,
                ..
            } => match detail {
                Some(d) => format!("  scanned   {code} ({code_kind}): {action}, {d}"),
                None => format!("  scanned   {code} ({code_kind}): {action}"),
            },
            Body::Access {
                action, code, who, ..
            } => format!("  access    {action} of {code} by {who}"),
            Body::Hold {
                code,
                released,
                who,
                ..
            } => format!(
                "  hold      {} on {code} by {who}",
                if *released { "released" } else { "placed" }
            ),
            Body::StationStart { .. } => return,
        };
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    })
}

pub fn demo(
    config: &Config,
    config_sha: &str,
    data_dir: Option<PathBuf>,
    orders: &[String],
    clip_seconds: f64,
) -> Result<ExitCode> {
    let clock: SharedClock = RealClock::shared();
    let plan = app::demo::plan(config, orders, clip_seconds)?;
    let dir = data_dir
        .or_else(|| config.data_dir.clone())
        .unwrap_or_else(|| app::demo::fresh_dir(&clock));
    out!("packwitness demo: data dir {}", dir.display());
    let st = config.first_station();
    for cam in &st.cameras {
        out!("  camera {}: {}, station {}", cam.id, cam.source, st.id);
    }
    if config.stations.len() > 1 {
        out!(
            "  (the demo records station {} only; `run` records all {} stations)",
            st.id,
            config.stations.len()
        );
    }
    let opener = Arc::new(MediaOpener {
        encode: config.encode.clone(),
    });
    app::demo::record(config, config_sha, &dir, &plan, opener, clock, printer())?;

    let first = plan.scans[0].code.clone();
    out!();
    out!("$ packwitness --data-dir {} lookup {first}", dir.display());
    let found = packwitness::index::lookup(&dir, &first, config.codes.max_len, FileCheck::Size)?;
    find::print_table(&found)?;
    out!();
    out!("$ packwitness --data-dir {} verify", dir.display());
    let report = packwitness::verify::verify(&dir, &Default::default())?;
    check::print_report(&report)?;
    out!();
    out!("Next:");
    out!(
        "  packwitness --data-dir {} lookup {}",
        dir.display(),
        shell_quote(&first)
    );
    out!("  packwitness --data-dir {} verify", dir.display());
    out!(
        "  packwitness --data-dir {} serve      (the app at http://127.0.0.1:8088/: search, play, download MP4 and evidence)",
        dir.display()
    );
    out!(
        "  packwitness --data-dir {} run --source testsrc --listen 127.0.0.1:8088",
        dir.display()
    );
    out!(
        "      then open http://127.0.0.1:8088/station/{} (the packer's screen) and type order codes here",
        st.id
    );
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_VERIFY_FAILED)
    })
}

/// `run`: records every station of the config (or the one built from `--source` and
/// `--scanner`) until SIGINT/SIGTERM, the end of a scanner input, a camera that ends, or an
/// error.
pub fn run(
    config: Config,
    config_sha: &str,
    data_dir: Option<PathBuf>,
    source: Option<String>,
    scanners: &[String],
    listen: Option<String>,
) -> Result<ExitCode> {
    let mut config = app::one_station(config, source, scanners)?;
    if let Some(l) = listen {
        config.server.listen = l;
    }
    app::check_stdin(&config)?;
    let dir = data_dir
        .or_else(|| config.data_dir.clone())
        .context("no data dir: pass --data-dir DIR or set data_dir in the config")?;
    packwitness::datadir::create(&dir)?;
    let feedback = Feedback::new(&config, &dir);
    app::run::run(app::run::Run {
        config: &config,
        config_sha,
        data_dir: &dir,
        clock: RealClock::shared(),
        opener: Arc::new(MediaOpener {
            encode: config.encode.clone(),
        }),
        feedback: &feedback,
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn serve(config: &Config, dir: &Path, listen: Option<String>) -> Result<ExitCode> {
    let listen = listen
        .or_else(|| Some(config.server.listen.clone()).filter(|l| !l.is_empty()))
        .unwrap_or_else(|| "127.0.0.1:8088".into());
    let server = packwitness::web::Server::start(
        &listen,
        packwitness::web::ServerDeps {
            data_dir: dir.to_owned(),
            config: config.clone(),
            clock: RealClock::shared(),
            stations: None,
            writer: None,
            status: None,
        },
    )?;
    out!(
        "packwitness: serving {} at http://{}/ (Ctrl-C stops)",
        dir.display(),
        server.addr()
    );
    app::run::wait_for_signal()?;
    server.stop();
    Ok(ExitCode::SUCCESS)
}

/// Tells the packer what a scan did: a status line on a terminal, the bell and the configured
/// commands. Never blocks the station: commands run in the background.
struct Feedback {
    config: FeedbackConfig,
    terminal: bool,
    /// Several stations: name the station in the status line.
    several: bool,
    /// For the terminal's first line: the stop code and the data dir.
    stop_code: String,
    data_dir: PathBuf,
    /// `[feedback] lang`, decided at start.
    lang: Lang,
}

impl Feedback {
    fn new(config: &Config, data_dir: &Path) -> Feedback {
        Feedback {
            lang: if config.feedback.lang.chinese(&super::locale()) {
                Lang::Zh
            } else {
                Lang::En
            },
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

impl app::run::Feedback for Feedback {
    fn ready(&self, stations: &[&str], stdin: Option<&str>, web: Option<std::net::SocketAddr>) {
        let lang = self.lang;
        if let Some(addr) = web {
            eprintln!(
                "{}",
                t(lang, "term_web").replace("{url}", &format!("http://{addr}/"))
            );
        }
        if let Some(st) = stdin.filter(|_| std::io::stdin().is_terminal()) {
            let station = if stations.len() > 1 {
                format!("{st} ({})", stations.join(", "))
            } else {
                st.to_string()
            };
            eprintln!(
                "{}",
                t(lang, "term_ready")
                    .replace("{station}", &station)
                    .replace("{dir}", &self.data_dir.display().to_string())
                    .replace("{stop}", &self.stop_code)
            );
        }
    }

    fn accepted(&self, station: &str, scanner: &str, scan: &Scan, outcome: &Outcome) {
        let lang = self.lang;
        let order_box = |order: &str, b: u32| {
            if b > 1 {
                t(lang, "term_box")
                    .replace("{order}", order)
                    .replace("{box}", &b.to_string())
            } else {
                order.to_string()
            }
        };
        let state = match (&outcome.recording, &outcome.not_recording) {
            (Some((order, b)), None) => {
                t(lang, "term_recording").replace("{order}", &order_box(order, *b))
            }
            (Some((order, b)), Some(why)) => {
                format!(
                    "{} {}: {why}",
                    t(lang, "not_recording"),
                    order_box(order, *b)
                )
            }
            (None, _) => t(lang, "idle").to_string(),
        };
        let what = match &outcome.action {
            Action::Ignored(why) => t(lang, "term_ignored").replace("{why}", why),
            Action::Debounced => t(lang, "term_twice").to_string(),
            a => label(lang, "action", a.name()),
        };
        let kind = label(lang, "code_kind", scan.kind.as_str());
        tracing::info!(station, scanner, code = %scan.code, kind = scan.kind.as_str(), rule = %scan.rule, action = %what, state = %state, "scan");
        if outcome.not_recording.is_some() && !self.terminal {
            // Loud whether or not anyone watches a terminal: the log says it too.
            eprintln!(
                "[{}] {kind} {}: {what} -> {state}",
                self.who(station, scanner),
                scan.code
            );
        }
        if self.terminal {
            let bell = if self.config.bell && outcome.not_recording.is_some() {
                "\u{7}"
            } else {
                ""
            };
            let op = outcome
                .operator
                .as_deref()
                .map(|o| format!(" · {} {o}", t(lang, "operator")))
                .unwrap_or_default();
            eprintln!(
                "{bell}[{}] {kind} {}: {what} -> {state}{op}",
                self.who(station, scanner),
                scan.code
            );
        }
        if !matches!(outcome.action, Action::Debounced) {
            run_feedback(&self.config.accept_command, station, scanner, &scan.code);
        }
    }

    fn rejected(&self, station: &str, scanner: &str, rejected: &Rejected) {
        if self.terminal {
            let bell = if self.config.bell { "\u{7}" } else { "" };
            // The reason in the packer's language; in English the error says it in full.
            let why = match self.lang {
                Lang::En => rejected.error.to_string(),
                Lang::Zh => {
                    let why = t(self.lang, &format!("reject_{}", rejected.error.name()));
                    match rejected.error.rule_message() {
                        Some(m) => format!("{why}：{m}"),
                        None => why.to_string(),
                    }
                }
            };
            eprintln!(
                "{bell}[{}] {} {}: {why}",
                self.who(station, scanner),
                t(self.lang, "term_rejected"),
                rejected.raw,
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
