//! `verify`, `reindex` and `prune`: the warehouse lead's maintenance commands.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};

use packwitness::clock::RealClock;
use packwitness::config::Config;
use packwitness::recorder::health::short_time;
use packwitness::recorder::status::{ProcessStatus, StationState};
use packwitness::recorder::Writer;
use packwitness::verify::{Report, VerifyOptions};

use super::{progress_bar, EXIT_VERIFY_FAILED};

pub fn print_report(report: &Report) -> Result<()> {
    if report.ok() {
        out!(
            "OK: {} manifest lines chain correctly; {} signed checkpoints verify{}; {} sealed clips {} ({} bytes hashed){}",
            report.lines,
            report.checkpoints,
            if report.uncovered_lines > 0 { format!(" ({} lines after the last one)", report.uncovered_lines) } else { String::new() },
            report.clips_ok,
            if report.quick {
                "have their recorded size (--quick: not hashed)".to_string()
            } else if report.clips_hashed_before > 0 {
                format!(
                    "pass: {} hashed now match their SHA-256; {} were hashed by an earlier verify (through line {}) and have their recorded size now, not re-hashed (--full hashes them again)",
                    report.clips_hashed,
                    report.clips_hashed_before,
                    report.remembered_line.unwrap_or(0)
                )
            } else {
                "match their SHA-256".to_string()
            },
            report.bytes_hashed,
            if report.clips_open > 0 { format!("; {} clip(s) not sealed", report.clips_open) } else { String::new() }
        );
        return Ok(());
    }
    if let Some(first) = report.first_problem() {
        out!(
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
        out!("  also line {}: {}", p.line, p.detail);
    }
    out!(
        "{} problem(s) in {} lines; {} of {} sealed clips OK",
        report.problems.len(),
        report.lines,
        report.clips_ok,
        report.clips_sealed
    );
    Ok(())
}

pub fn verify(dir: &Path, json: bool, opts: &VerifyOptions) -> Result<ExitCode> {
    let bar = progress_bar("verifying {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}");
    let report = packwitness::verify::verify_with_progress(dir, opts, &mut |done, total| {
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
        out!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_report(&report)?;
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_VERIFY_FAILED)
    })
}

pub fn prune(dir: &Path, config: &Config, dry_run: bool) -> Result<ExitCode> {
    let mut w = match Writer::open(dir, config, RealClock::shared()) {
        Ok(w) => w,
        Err(e) if e.kind() == packwitness::ErrorKind::Conflict => bail!(
            "a recording packwitness holds {}; it applies [retention] every minute by itself (stop it to prune by hand)",
            dir.display()
        ),
        Err(e) => return Err(e.into()),
    };
    let r = &config.retention;
    out!(
        "retention: keep_days = {}{}, min_free_mb = {}, reserve_minutes = {}, min_age_hours = {}; {} MB free now",
        r.keep_days,
        if r.keep_days == 0 {
            " (no age limit)"
        } else {
            ""
        },
        r.min_free_mb,
        r.reserve_minutes,
        r.min_age_hours,
        packwitness::datadir::free_bytes(dir).map_or(0, |b| b / (1024 * 1024))
    );
    let planned = w.apply_retention(r, dry_run)?;
    if !dry_run {
        w.checkpoint()?;
    }
    for p in &planned {
        out!(
            "{} clip {} of {} ({} MB): {}",
            if dry_run { "would remove" } else { "removed" },
            p.clip,
            p.order,
            p.size / (1024 * 1024),
            p.reason
        );
    }
    let freed: u64 = planned.iter().map(|p| p.size).sum();
    out!(
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

pub fn reindex(dir: &Path, force: bool) -> Result<ExitCode> {
    let spinner = progress_bar("{spinner} {msg}").inspect(|s| {
        s.set_message("rebuilding the index from the manifest");
        s.enable_steady_tick(Duration::from_millis(120));
    });
    let r = packwitness::index::reindex(dir, force)?;
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    out!(
        "line offsets, tiles and ledger.state rebuilt from the manifest in {:.2} s",
        r.ledger_seconds
    );
    out!(
        "read {} manifest lines in {:.2} s ({:.0} records/s); clips: {} in the old index, {} in the manifest",
        r.records,
        r.seconds,
        r.records as f64 / r.seconds.max(1e-9),
        r.clips_before,
        r.clips_after
    );
    if r.differences_total == 0 {
        out!("the old index agreed with the manifest");
    } else {
        out!(
            "{} difference(s) between the old index and the manifest:",
            r.differences_total
        );
        for d in &r.differences {
            out!("  {d}");
        }
        if r.differences_total > r.differences.len() as u64 {
            out!(
                "  ... and {} more",
                r.differences_total - r.differences.len() as u64
            );
        }
    }
    if r.replaced {
        out!("the index is rebuilt");
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

/// `packwitness status`: asks the recorder of `dir` over its socket.
pub fn status(dir: &Path, json: bool) -> Result<ExitCode> {
    let p = match packwitness::recorder::writer::recorder_status(dir) {
        Ok(p) => p,
        Err(e) => ProcessStatus::no_recorder(dir, &e.to_string()),
    };
    if json {
        out!("{}", serde_json::to_string_pretty(&p)?);
    } else {
        print_status(&p)?;
    }
    Ok(if p.healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_status(p: &ProcessStatus) -> Result<()> {
    if !p.recording_process {
        out!("not recording: {}", p.problems.join("; "));
        return Ok(());
    }
    out!(
        "packwitness pid {} on {}: {}",
        p.pid,
        p.data_dir,
        if p.healthy() {
            "every camera live".to_string()
        } else {
            format!("{} problem(s)", p.problems.len())
        }
    );
    for s in &p.stations {
        let Some(h) = &s.health else {
            out!("  station {}: starting", s.id);
            continue;
        };
        let what = match (&h.order, &h.not_recording) {
            (None, _) => "idle".to_string(),
            (Some(o), None) if h.state == StationState::Starting => {
                format!("starting {o} (its clip opens at the camera's next frame)")
            }
            (Some(o), None) => format!("recording {o}"),
            (Some(o), Some(why)) => format!("NOT RECORDING {o}: {why}"),
        };
        let elapsed = h
            .elapsed_s
            .map(|e| format!(" for {e:.0} s"))
            .unwrap_or_default();
        let op = h
            .operator
            .as_deref()
            .map(|o| format!(", operator {o}"))
            .unwrap_or_default();
        let last = h
            .last_scan
            .as_ref()
            .map(|l| {
                format!(
                    ", last scan {} ({}) at {}",
                    l.code,
                    l.action,
                    short_time(&l.at)
                )
            })
            .unwrap_or_default();
        out!("  station {}: {what}{elapsed}{op}{last}; {} scans, {} refused, {} orders without video", s.id, h.scans, h.rejects, h.no_video);
        if let Some(r) = &h.last_rejection {
            out!(
                "    last refused scan {:?} at {}: {}",
                r.scan,
                short_time(&r.at),
                r.error
            );
        }
        for c in &h.cameras {
            let age = c
                .last_frame_age_s
                .map(|a| format!(", last frame {a:.2} s ago"))
                .unwrap_or_default();
            let down = match (&c.down_since, &c.reason) {
                (Some(d), Some(r)) => format!(" since {}: {r}", short_time(d)),
                (Some(d), None) => format!(" since {}", short_time(d)),
                (None, Some(r)) => format!(": {r}"),
                _ => String::new(),
            };
            out!(
                "    camera {} ({}): {}{down}, {:.1} fps, {} frames, {} late, writer lag {:.2} s{age}, {} reconnects",
                c.camera,
                c.source,
                c.state.as_str(),
                c.fps,
                c.frames,
                c.late_frames,
                c.writer_lag_s,
                c.reconnects
            );
        }
    }
    out!(
        "  disk: {} MB free, {} MB kept free by retention{}",
        p.disk_free_mb,
        p.free_floor_mb,
        p.hours_left
            .map(|h| format!(", about {h:.1} hours of recording above that at the current rate"))
            .unwrap_or_default()
    );
    match (&p.last_checkpoint_at, p.last_checkpoint_age_s) {
        (Some(at), Some(age)) => out!("  last checkpoint: {at} ({age:.0} s ago)"),
        _ => out!("  last checkpoint: none signed by this process yet"),
    }
    out!(
        "  clock: {}",
        match p.clock_synced {
            Some(true) => "synchronised",
            Some(false) => "NOT synchronised",
            None => "synchronisation unknown",
        }
    );
    for w in &p.warnings {
        out!("warning: {w}");
    }
    for pr in &p.problems {
        out!("problem: {pr}");
    }
    Ok(())
}
