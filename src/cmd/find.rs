//! `lookup`, `export`, `prove`, `hold`, `verify-bundle` and `verify-proof`: what customer
//! service and the receiving platform run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use packwitness::clock::{parse_local_time, short_time, RealClock, SharedClock};
use packwitness::config::Config;
use packwitness::export::prove::ProofCheck;
use packwitness::index::{self, FileCheck, Filter, Found, Index};
use packwitness::recorder::open_appender;

use super::{
    progress_bar, say, EXIT_NOT_FOUND, EXIT_NOT_PINNED, EXIT_TIME_NOT_PROVEN, EXIT_VERIFY_FAILED,
};

/// `lookup`'s conditions as typed.
pub struct Query {
    pub code: Option<String>,
    pub prefix: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub station: Option<String>,
    pub operator: Option<String>,
    pub limit: Option<u32>,
}

fn not_found(dir: &Path, code: &str, max_len: usize) -> ExitCode {
    eprintln!(
        "{}",
        say(
            "cli_not_found",
            &[
                ("code", &format!("{:?}", code.trim())),
                ("dir", &dir.display())
            ]
        )
    );
    if let Ok(norm) = packwitness::codes::normalize(code, max_len) {
        if let Ok(idx) = Index::open_read(dir) {
            let prefix: String = norm
                .chars()
                .take(norm.chars().count().saturating_sub(2).max(3))
                .collect();
            if let Ok(similar) = idx.codes_with_prefix(&prefix, 5) {
                if !similar.is_empty() {
                    eprintln!(
                        "{}",
                        say(
                            "cli_similar",
                            &[
                                ("prefix", &format!("{prefix:?}")),
                                ("codes", &similar.join(", "))
                            ]
                        )
                    );
                }
            }
        }
    }
    ExitCode::from(EXIT_NOT_FOUND)
}

pub fn lookup(dir: &Path, config: &Config, q: Query, json: bool, hash: bool) -> Result<ExitCode> {
    let check = if hash {
        FileCheck::Hash
    } else {
        FileCheck::Size
    };
    let max = config.codes.max_len;
    let only_code = q.prefix.is_none()
        && q.since.is_none()
        && q.until.is_none()
        && q.station.is_none()
        && q.operator.is_none()
        && q.limit.is_none();
    if let (Some(code), true) = (&q.code, only_code) {
        let mut found = index::lookup(dir, code, max, check)?;
        ask_archive(config, &mut found);
        let notes = index::notes(dir, code, max)?;
        if found.is_empty() && notes.is_empty() {
            if json {
                out!("[]");
            }
            return Ok(not_found(dir, code, max));
        }
        if json {
            // The clips, then what else is known of the order (entries with a `kind`).
            let all = index::lookup_entries(&found, &notes);
            out!("{}", serde_json::to_string_pretty(&all)?);
        } else {
            print_table(&found)?;
            print_notes(&notes)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let norm = |raw: &str| packwitness::codes::normalize(raw, max);
    let filter = Filter {
        code: q.code.as_deref().map(norm).transpose()?,
        prefix: q.prefix.as_deref().map(norm).transpose()?,
        since_ms: q
            .since
            .as_deref()
            .map(|t| parse_local_time(t, false))
            .transpose()?,
        until_ms: q
            .until
            .as_deref()
            .map(|t| parse_local_time(t, true))
            .transpose()?,
        station: q.station,
        operator: q.operator.as_deref().map(|o| o.trim().to_ascii_uppercase()),
        limit: q.limit,
        newest_first: false,
    };
    if filter == Filter::default() {
        bail!("lookup needs a CODE or at least one of --prefix, --since, --until, --station, --operator");
    }
    let mut found = index::search(dir, &filter, check)?;
    ask_archive(config, &mut found);
    if json {
        out!("{}", serde_json::to_string_pretty(&found)?);
    } else if found.is_empty() {
        eprintln!("{}", say("cli_no_match", &[("dir", &dir.display())]));
    } else {
        print_table(&found)?;
        out!("{}", say("cli_clips_n", &[("n", &found.len())]));
    }
    Ok(if found.is_empty() {
        ExitCode::from(EXIT_NOT_FOUND)
    } else {
        ExitCode::SUCCESS
    })
}

/// For each clip pruned here, whether the station's archive holds it (when there is one):
/// said in its `file_detail`, so that people know `export` and the app fetch it from there.
/// The status stays `pruned` (scripts know it); at most 20 clips are asked about, 3 s each.
fn ask_archive(config: &Config, found: &mut [index::Found]) {
    if config.archive.url.trim().is_empty() {
        return;
    }
    let client = match packwitness::archive::client::Client::new(&config.archive) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "[archive] is set but cannot be used");
            return;
        }
    };
    let pruned = found
        .iter_mut()
        .filter(|f| f.file_status == "pruned")
        .take(20);
    for f in pruned {
        let Some(sha) = f.clip.sha256.clone() else {
            continue;
        };
        let said = match client.stored(&sha) {
            Ok(Some(st)) => say(
                "cli_in_archive",
                &[
                    ("url", &client.url()),
                    ("key", &st.key),
                    ("mode", &st.lock_mode),
                    ("until", &st.retain_until),
                ],
            ),
            Ok(None) => say("cli_not_in_archive", &[("url", &client.url())]),
            Err(e) => say(
                "cli_archive_unasked",
                &[("url", &client.url()), ("error", &e)],
            ),
        };
        f.file_detail = Some(match f.file_detail.take() {
            Some(d) => format!("{d}; {said}"),
            None => said,
        });
    }
}

/// The clips found, for people.
/// The orders scanned while no camera recorded, and the gaps in an order's video.
pub fn print_notes(notes: &index::Notes) -> Result<()> {
    for n in &notes.no_video {
        let b = if n.box_no > 1 {
            format!("  {}", say("cli_box_n", &[("n", &n.box_no)]))
        } else {
            String::new()
        };
        out!("{}{}{b}", say("cli_order", &[]), n.order);
        out!(
            "{}",
            say(
                "cli_no_video",
                &[
                    ("at", &short_time(&n.scanned_at)),
                    ("station", &n.station),
                    ("why", &n.reason)
                ]
            )
        );
        out!(
            "{}",
            say(
                "cli_scanned_line",
                &[("t", &n.scanned_at), ("line", &n.line)]
            )
        );
    }
    for g in &notes.gaps {
        let end = match g.clip {
            Some(c) => say("cli_gap_resumed", &[("clip", &c)]),
            None => say("cli_gap_ended", &[]),
        };
        out!(
            "{}{end}",
            say(
                "cli_gap",
                &[
                    ("order", &g.order),
                    ("camera", &g.camera),
                    ("from", &g.from),
                    ("to", &g.to),
                    ("why", &g.reason)
                ]
            )
        );
    }
    Ok(())
}

/// The clips found, for people, in the system's language.
pub fn print_table(found: &[Found]) -> Result<()> {
    let lang = super::people_lang();
    for f in found {
        let c = &f.clip;
        let order = say("cli_order", &[]);
        let bx = say("cli_box_n", &[("n", &c.box_no)]);
        let part = say("cli_part_n", &[("n", &c.part)]);
        match (c.box_no, c.part) {
            (1, 1) => out!("{order}{}", c.order),
            (_, 1) => out!("{order}{}  {bx}", c.order),
            (1, _) => out!("{order}{}  {part}", c.order),
            (_, _) => out!("{order}{}  {bx}, {part}", c.order),
        }
        out!(
            "{}",
            say(
                "cli_clip",
                &[
                    ("clip", &c.clip),
                    ("station", &c.station),
                    ("camera", &c.camera)
                ]
            )
        );
        if c.test_pattern {
            out!("{}", say("cli_test_pattern", &[]));
        }
        if let Some(op) = &c.operator {
            out!("{}{op}", say("cli_operator", &[]));
        }
        if !c.codes.is_empty() {
            out!("{}{}", say("cli_codes", &[]), c.codes.join(" "));
        }
        if c.held {
            out!("{}", say("cli_hold", &[]));
        }
        for a in &c.access {
            // "ACTION by WHO at TIME", the action in words outside English.
            let shown = match (lang, a.split_once(" by ")) {
                (packwitness::web::i18n::Lang::Zh, Some((action, rest))) => {
                    match rest.rsplit_once(" at ") {
                        Some((who, at)) => format!(
                            "{}：{who}，{at}",
                            packwitness::web::i18n::label(lang, "action", action)
                        ),
                        None => a.clone(),
                    }
                }
                _ => a.clone(),
            };
            out!("{}{shown}", say("cli_access", &[]));
        }
        out!("{}{}", say("cli_scanned", &[]), c.scanned_at);
        match c.clock_synced {
            Some(true) => out!("{}", say("cli_synced", &[])),
            Some(false) => out!("{}", say("cli_not_synced", &[])),
            None => {}
        }
        out!("{}", say("cli_start", &[("t", &c.started_at)]));
        let open = say("cli_open", &[]);
        out!(
            "{}{}",
            say("cli_end", &[]),
            c.ended_at.as_deref().unwrap_or(&open)
        );
        if let Some(ms) = c.duration_ms {
            let secs = format!("{:.3}", ms as f64 / 1000.0);
            out!("{}", say("cli_duration", &[("s", &secs)]));
        }
        if let Some(frames) = c.frames {
            out!("{}{frames}", say("cli_frames", &[]));
        }
        if let Some(reason) = &c.reason {
            // In English the log's own name, as scripts and the docs know it.
            let r = match lang {
                packwitness::web::i18n::Lang::En => reason.clone(),
                _ => packwitness::web::i18n::label(lang, "reason", reason),
            };
            out!("{}{r}", say("cli_sealed_by", &[]));
        }
        out!("{}{}", say("cli_file", &[]), c.file);
        out!("  sha256    {}", c.sha256.as_deref().unwrap_or("-"));
        match (&f.file_detail, f.hash_checked) {
            (None, true) => out!("{}", say("cli_status_hashed", &[])),
            (None, false) => out!("{}", say("cli_status_sized", &[])),
            (Some(d), _) => out!(
                "{}{}: {d}",
                say("cli_status", &[]),
                f.file_status.to_uppercase()
            ),
        }
    }
    Ok(())
}

pub fn export(
    dir: &Path,
    config: &Config,
    args: super::subcommands::ExportArgs,
) -> Result<ExitCode> {
    let code = args.code.as_str();
    if code.contains(['*', '?', '%']) {
        bail!("code {code:?} contains a wildcard; export takes one exact order or tracking code (use lookup to find it)");
    }
    let who = args.who.unwrap_or_else(packwitness::app::user);
    if let Some(mp4) = &args.mp4 {
        let limits = packwitness::export::upload::Limits::resolve(
            config,
            args.preset.as_deref(),
            packwitness::export::upload::Limits {
                max_mb: args.max_mb,
                max_seconds: args.max_seconds,
                from_scan: args.from_scan,
            },
        )?;
        return upload_mp4(dir, config, code, mp4, &who, limits);
    }
    let (output, burn_in, who) = (args.output.unwrap_or_default(), args.burn_in, who.as_str());
    let output = output.as_path();
    let clock: SharedClock = RealClock::shared();
    let appender = open_appender(dir, config, clock.clone())?;
    let bar = progress_bar("exporting {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}");
    let progress = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let req = packwitness::export::Request {
        code,
        out: output,
        who,
        burn_in,
    };
    let exported = match packwitness::export::export(
        dir,
        config,
        appender.as_ref(),
        clock.as_ref(),
        &req,
        &progress,
    ) {
        Ok(e) => e,
        Err(e) if e.kind() == packwitness::ErrorKind::NotFound => {
            return Ok(not_found(dir, code, config.codes.max_len))
        }
        Err(e) => return Err(e.into()),
    };
    drop(appender);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let ev = &exported.evidence;
    out!(
        "{}",
        say(
            "cli_wrote_bundle",
            &[
                ("path", &exported.path.display()),
                ("bytes", &exported.bytes),
                ("n", &ev.clips.len()),
                ("code", &ev.code)
            ]
        )
    );
    for c in &ev.clips {
        let what = match (&c.file, c.pruned) {
            (Some(f), _) if c.from_archive.is_some() => {
                say("cli_bundle_from_archive", &[("file", f)])
            }
            (Some(f), _) => f.clone(),
            (None, true) => say("cli_bundle_pruned", &[]),
            (None, false) => say("cli_bundle_unsealed", &[]),
        };
        out!(
            "{}",
            say(
                "cli_bundle_clip",
                &[
                    ("clip", &c.clip),
                    ("camera", &c.camera),
                    ("box", &c.box_no),
                    ("part", &c.part),
                    ("what", &what)
                ]
            )
        );
        if let Some(b) = &c.burned_in {
            out!("{}", say("cli_burned_in", &[("file", b)]));
        }
    }
    out!(
        "{}",
        say(
            "cli_bundle_recorded",
            &[
                ("line", &ev.access_line.unwrap_or(0)),
                ("path", &exported.path.display()),
                ("key", &ev.station_key)
            ]
        )
    );
    Ok(ExitCode::SUCCESS)
}

/// `export CODE --mp4 FILE`: the order's MP4 for upload.
fn upload_mp4(
    dir: &Path,
    config: &Config,
    code: &str,
    out: &Path,
    who: &str,
    limits: packwitness::export::upload::Limits,
) -> Result<ExitCode> {
    let appender = open_appender(dir, config, RealClock::shared())?;
    let req = packwitness::export::upload::UploadRequest {
        code,
        out,
        who,
        limits,
        threads: 0,
    };
    let made = match packwitness::export::upload::upload_mp4(dir, config, appender.as_ref(), &req) {
        Ok(m) => m,
        Err(e) if e.kind() == packwitness::ErrorKind::NotFound => {
            return Ok(not_found(dir, code, config.codes.max_len))
        }
        Err(e) => return Err(e.into()),
    };
    let d = &made.derived;
    let secs = |ms: u64| format!("{:.1}", ms as f64 / 1000.0);
    out!(
        "{}",
        say(
            "cli_wrote_mp4",
            &[
                ("path", &made.path.display()),
                ("bytes", &d.size),
                ("s", &secs(d.duration_ms)),
                ("w", &d.width),
                ("h", &d.height),
                ("order", &made.order),
                ("n", &d.sources.len())
            ]
        )
    );
    out!("  sha256    {}", d.sha256);
    out!("{}{}", say("cli_encoded", &[]), d.encoder);
    for s in &d.sources {
        let burned = if s.burned_in {
            say("cli_mp4_burned", &[])
        } else {
            String::new()
        };
        out!(
            "{}{burned}",
            say(
                "cli_mp4_clip",
                &[
                    ("clip", &s.clip),
                    ("from", &secs(s.from_ms)),
                    ("to", &secs(s.to_ms))
                ]
            )
        );
    }
    for l in &made.left_out {
        out!("{}{l}", say("cli_not_in_it", &[]));
    }
    out!(
        "{}",
        say("cli_mp4_recorded", &[("line", &made.access_line)])
    );
    Ok(ExitCode::SUCCESS)
}

/// A key given on the command line: the key itself, or a file holding it.
fn key_arg(key: &str) -> Result<String> {
    let path = Path::new(key);
    if !key.contains('+') && path.is_file() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the station key file {}", path.display()))?;
        return Ok(text.trim().to_string());
    }
    Ok(key.trim().to_string())
}

pub fn verify_bundle(args: &super::subcommands::VerifyBundleArgs) -> Result<ExitCode> {
    let (bundle, key, tsa_ca, witnesses, json) = (
        args.bundle.as_path(),
        args.key.as_deref(),
        args.tsa_ca.as_deref(),
        &args.witnesses,
        args.json,
    );
    let c2pa_trust = super::provenance::c2pa_trust(args.c2pa_trust.as_deref())?;
    let key = key.map(key_arg).transpose()?;
    let tsa_ca = tsa_ca
        .map(|p| {
            if p == Path::new("system") {
                return packwitness::anchor::tsp::system_roots_pem().context(
                    "--tsa-ca system: this machine's trusted root certificates cannot be read",
                );
            }
            std::fs::read(p)
                .with_context(|| format!("cannot read the TSA certificates {}", p.display()))
        })
        .transpose()?;
    let witnesses: Vec<String> = witnesses
        .iter()
        .map(|w| key_arg(w))
        .collect::<Result<_>>()?;
    let report = packwitness::export::verify_bundle(
        bundle,
        key.as_deref(),
        tsa_ca.as_deref(),
        &witnesses,
        args.max_delay,
        c2pa_trust.as_deref(),
    )?;
    // Four outcomes: FAILED, NOT VERIFIED (no key), TIME NOT PROVEN, VERIFIED.
    let (code, verdict) = if !report.ok() {
        (EXIT_VERIFY_FAILED, "FAILED")
    } else if !report.pinned {
        (EXIT_NOT_PINNED, "NOT VERIFIED")
    } else if !report.time_proven {
        (EXIT_TIME_NOT_PROVEN, "TIME NOT PROVEN")
    } else {
        (0, "VERIFIED")
    };
    if json {
        out!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": code == 0,
                "verdict": verdict,
                "report": report
            }))?
        );
    } else if report.ok() {
        out!(
            "{verdict}: {} — order {}: {} clip(s) match their sealed records, {} pruned; {} record(s) proven in the log of {} lines signed by {}",
            bundle.display(),
            report.code,
            report.clips_ok,
            report.clips_pruned,
            report.records_proven,
            report.checkpoint_size,
            report.station_key
        );
        out!("{}", report.statement);
        for w in report
            .made_at
            .iter()
            .chain(&report.witnessed)
            .chain(&report.uploads)
        {
            out!("{w}");
        }
        for t in report.times.iter().chain(&report.credentials) {
            out!("{t}");
        }
        if report.anchors > 0 && !report.tsa_pinned {
            out!("the bundle's {} time-stamp(s) were not checked: pass --tsa-ca FILE (the TSA's published CA certificates) or --tsa-ca system (this machine's trusted roots); the CA the bundle carries is not trusted", report.anchors);
        }
        if !report.pinned {
            out!("the bundle only agrees with the keys it carries; check it with the key the merchant published (--key KEY) and, for a bundle made at the archive, the archive's (--witness ARCHIVE_KEY)");
        }
    } else {
        out!("FAILED: {}", bundle.display());
        for p in &report.problems {
            out!("  {}: {}", p.file, p.detail);
        }
    }
    Ok(ExitCode::from(code))
}

pub fn hold(
    dir: &Path,
    config: &Config,
    code: &str,
    release: bool,
    reason: Option<String>,
    who: &str,
) -> Result<ExitCode> {
    let appender = open_appender(dir, config, RealClock::shared())?;
    let held = match packwitness::export::prove::hold(
        dir,
        config,
        appender.as_ref(),
        code,
        release,
        reason,
        who,
    ) {
        Ok(h) => h,
        Err(e) if e.kind() == packwitness::ErrorKind::NotFound => {
            return Ok(not_found(dir, code, config.codes.max_len))
        }
        Err(e) => return Err(e.into()),
    };
    out!(
        "{} {} clip(s) of {}: {}",
        if held.released {
            "released the hold on"
        } else {
            "placed a legal hold on"
        },
        held.clips.len(),
        held.code,
        held.clips
            .iter()
            .map(|c| format!("#{c}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(ExitCode::SUCCESS)
}

pub fn prove(dir: &Path, config: &Config, raw: &str, output: Option<PathBuf>) -> Result<ExitCode> {
    let appender = open_appender(dir, config, RealClock::shared())?;
    let proven =
        match packwitness::export::prove::prove(dir, config, appender.as_ref(), raw, output) {
            Ok(p) => p,
            Err(e) if e.kind() == packwitness::ErrorKind::NotFound => {
                eprintln!(
                    "no clip found for order {:?} in {}",
                    raw.trim(),
                    dir.display()
                );
                return Ok(ExitCode::from(EXIT_NOT_FOUND));
            }
            Err(e) => return Err(e.into()),
        };
    for f in &proven.files {
        out!(
            "{}  (manifest line {}, clip {})",
            f.path.display(),
            f.line,
            f.clip_file
        );
    }
    if let Some(path) = &proven.key_file {
        out!("{}", path.display());
        out!("check with: packwitness verify-proof FILE.tlog-proof --key \"$(cat {})\" --clip CLIP.mp4", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn verify_proof(proof: &Path, key: &str, clip: Option<&Path>) -> Result<ExitCode> {
    match packwitness::export::prove::verify_proof(proof, key, clip)? {
        ProofCheck::Failed(why) => {
            out!("FAILED: {why}");
            Ok(ExitCode::from(EXIT_VERIFY_FAILED))
        }
        ProofCheck::Ok {
            proof: v,
            clip_sha256,
        } => {
            let signer = key.split('+').next().unwrap_or(key);
            out!(
                "OK: manifest line {} is in the log {} of {} lines, signed by {}",
                v.line,
                v.checkpoint.origin,
                v.checkpoint.size,
                signer
            );
            out!("record: {}", String::from_utf8_lossy(&v.entry).trim_end());
            if let (Some(path), Some(sha)) = (clip, clip_sha256) {
                out!("OK: {} matches the record (SHA-256 {sha})", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn consistency(dir: &Path, old: &Path, output: Option<&Path>) -> Result<ExitCode> {
    let text = std::fs::read_to_string(old)
        .with_context(|| format!("reading the old checkpoint {}", old.display()))?;
    match packwitness::export::prove::consistency(dir, &text)? {
        packwitness::export::prove::Consistency::Refused(why) => {
            out!("REFUSED: {why}");
            Ok(ExitCode::from(EXIT_VERIFY_FAILED))
        }
        packwitness::export::prove::Consistency::Extends {
            old_size,
            new_size,
            proof,
        } => {
            out!("OK: the log of {new_size} lines extends the old checkpoint of {old_size} lines");
            match output {
                Some(path) => {
                    std::fs::write(path, &proof)
                        .with_context(|| format!("writing {}", path.display()))?;
                    out!("consistency proof written to {}", path.display());
                }
                None => {
                    use std::io::Write;
                    std::io::stdout().lock().write_all(proof.as_bytes())?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `stats`: the numbers of a range, as a table, JSON or CSV.
pub fn stats(
    dir: &Path,
    since: Option<&str>,
    until: Option<&str>,
    json: bool,
    csv: bool,
) -> Result<ExitCode> {
    let since_ms = match since {
        Some(t) => parse_local_time(t, false)?,
        None => {
            let today = chrono::Local::now()
                .date_naive()
                .format("%Y-%m-%d")
                .to_string();
            parse_local_time(&today, false)?
        }
    };
    let until_ms = match until {
        Some(t) => parse_local_time(t, true)?,
        None => chrono::Utc::now().timestamp_millis() + 1,
    };
    if until_ms <= since_ms {
        bail!("--until is not after --since: nothing can be counted");
    }
    let s = index::stats(dir, since_ms, until_ms)?;
    let secs = |v: Option<f64>| v.map_or(String::new(), |s| format!("{s:.1}"));
    if json {
        out!("{}", serde_json::to_string_pretty(&s)?);
    } else if csv {
        out!("day,station,packer,orders,boxes,no_video,not_sealed,interrupted,test_pattern,packing_median_s,packing_p90_s,bytes");
        for r in &s.rows {
            out!(
                "{},{},{},{},{},{},{},{},{},{},{},{}",
                r.day,
                csv_field(&r.station),
                csv_field(&r.packer),
                r.orders,
                r.boxes,
                r.no_video,
                r.not_sealed,
                r.interrupted,
                r.test_pattern,
                secs(r.packing_median_s),
                secs(r.packing_p90_s),
                r.bytes
            );
        }
    } else if s.rows.is_empty() {
        out!("{}", say("cli_stats_none", &[]));
    } else {
        out!("{}", say("cli_stats_head", &[]));
        for r in &s.rows {
            out!(
                "{:<11} {:<16} {:<12} {:>6} {:>6} {:>9} {:>11} {:>12}  {:>10} / {:<10} {:>9.1}",
                r.day,
                r.station,
                if r.packer.is_empty() { "-" } else { &r.packer },
                r.orders,
                r.boxes,
                r.no_video,
                r.not_sealed,
                r.interrupted,
                secs(r.packing_median_s),
                secs(r.packing_p90_s),
                r.bytes as f64 / 1e6
            );
        }
        for n in &s.no_video {
            out!(
                "{}",
                say(
                    "cli_stats_no_video",
                    &[
                        ("order", &n.order),
                        ("at", &n.scanned_at),
                        ("station", &n.station),
                        ("why", &n.why)
                    ]
                )
            );
        }
        if s.rows.iter().any(|r| r.test_pattern > 0) {
            out!("{}", say("cli_stats_test_pattern", &[]));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}
