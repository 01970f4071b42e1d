//! The MP4 for upload of an order (`export CODE --mp4 FILE`, the order page's "MP4 for
//! upload").
//!
//! Owns: choosing what goes in (every sealed clip of the order: box by box, within a box
//! camera by camera, parts in order), the trims of `--from-scan`, the cards' words, the
//! limits (given, or a preset of `[upload.presets]`), and the `access` record (`upload_mp4`)
//! that names the file's SHA-256 and how it was made from which clips.
//! Never: changes a clip or claims the file is evidence: it is for people and platforms; the
//! record ties it to the sealed clips, which are.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::digest;
use crate::error::{Error, ErrorKind};
use crate::index::{self, FileCheck, Found, Index};
use crate::log::reader::LogReader;
use crate::log::{Appender, Body, Derived, DerivedSource, ScanAction};
use crate::media::upload::{self, Card, Plan, Segment};
use crate::media::{derived, StampText};

/// The limits of one MP4 for upload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub max_mb: Option<f64>,
    pub max_seconds: Option<f64>,
    /// Only the span from the scan to the seal.
    pub from_scan: bool,
}

impl Limits {
    /// The limits of `preset` (a table of `[upload.presets]`), each replaced by the one given.
    pub fn resolve(config: &Config, preset: Option<&str>, given: Limits) -> Result<Limits, Error> {
        let base = match preset.filter(|p| !p.is_empty()) {
            None => Limits::default(),
            Some(name) => {
                let p = config.upload.presets.get(name).ok_or_else(|| {
                    Error::msg(
                        ErrorKind::NotFound,
                        format!(
                            "no upload preset {name:?} in the config; the presets are: {} (add [upload.presets.{name}] with max_mb and max_seconds as the platform says)",
                            if config.upload.presets.is_empty() {
                                "none".to_string()
                            } else {
                                config.upload.presets.keys().cloned().collect::<Vec<_>>().join(", ")
                            }
                        ),
                    )
                })?;
                Limits {
                    max_mb: p.max_mb,
                    max_seconds: p.max_seconds,
                    from_scan: p.from_scan,
                }
            }
        };
        if let Some(m) = given.max_mb.filter(|m| m.is_nan() || *m <= 0.0) {
            return Err(Error::invalid(format!("--max-mb {m}: give a size above 0")));
        }
        if let Some(s) = given.max_seconds.filter(|s| s.is_nan() || *s <= 0.0) {
            return Err(Error::invalid(format!(
                "--max-seconds {s}: give a length above 0"
            )));
        }
        Ok(Limits {
            max_mb: given.max_mb.or(base.max_mb),
            max_seconds: given.max_seconds.or(base.max_seconds),
            from_scan: given.from_scan || base.from_scan,
        })
    }
}

/// What to make.
pub struct UploadRequest<'a> {
    pub code: &'a str,
    pub out: &'a Path,
    /// Recorded in the `access` record.
    pub who: &'a str,
    pub limits: Limits,
    /// libx264 threads: 1 beside a recorder, 0 (as many as it likes) from the command line.
    pub threads: u32,
}

/// What was made.
#[derive(Debug)]
pub struct Uploaded {
    pub path: PathBuf,
    pub order: String,
    pub derived: Derived,
    /// The manifest line of its `access` record.
    pub access_line: u64,
    /// Clips of the order that are not in it (pruned, missing or damaged files), with why.
    pub left_out: Vec<String>,
}

/// `2026-11-25T20:31:17.054+08:00` as `2026-11-25 20:31:17 +08:00`.
fn shown(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S %:z").to_string())
        .unwrap_or_else(|_| t.to_string())
}

fn millis(t: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// The times (ms) of the scans that ended a box of `order`: its stop code and next-box scans.
fn ending_scans(data_dir: &Path, order: &str) -> Result<Vec<i64>, Error> {
    let index = Index::open_read(data_dir)?;
    let lines = index.order_lines(order, 2000)?;
    drop(index);
    let reader = LogReader::open(data_dir)?;
    let mut out = Vec::new();
    for (seq, kind) in lines {
        if kind != "scan" {
            continue;
        }
        let rec = reader.record(seq)?;
        if let Body::Scan {
            action: ScanAction::Seal | ScanAction::Switch,
            scanned_at,
            ..
        } = rec.body
        {
            out.extend(millis(&scanned_at));
        }
    }
    Ok(out)
}

/// The span of `c` that goes in, in seconds from its first frame: everything, or (from the
/// scan) from its scan to the first scan that ended it.
fn span(c: &Found, from_scan: bool, ends: &[i64]) -> (f64, Option<f64>) {
    let (Some(start), Some(scan)) = (millis(&c.clip.started_at), millis(&c.clip.scanned_at)) else {
        return (0.0, None);
    };
    if !from_scan {
        return (0.0, None);
    }
    let from = (scan - start).max(0) as f64 / 1000.0;
    let end = c.clip.ended_at.as_deref().and_then(millis);
    let to = ends
        .iter()
        .copied()
        .filter(|&e| e > scan && end.is_none_or(|end| e <= end))
        .min()
        .map(|e| (e - start) as f64 / 1000.0);
    (from, to)
}

/// Makes the MP4 for upload of `req.code` at `req.out` and records how (an `access` record
/// through `appender`, with a checkpoint after it).
pub fn upload_mp4(
    data_dir: &Path,
    config: &Config,
    appender: &dyn Appender,
    req: &UploadRequest<'_>,
) -> Result<Uploaded, Error> {
    let found = index::lookup(data_dir, req.code, config.codes.max_len, FileCheck::Size)?;
    let made = make_for_upload(
        config,
        found,
        &|f: &Found| data_dir.join(&f.clip.file),
        &|order: &str| ending_scans(data_dir, order),
        "the station's manifest",
        req,
    )?;
    let rec = appender.append(Body::Access {
        action: "upload_mp4".into(),
        code: crate::codes::normalize(req.code, config.codes.max_len)?,
        clips: made.clips,
        who: req.who.to_string(),
        to: made.name,
        derived: Some(made.derived.clone()),
        log: None,
    })?;
    appender.checkpoint()?;
    Ok(Uploaded {
        path: req.out.to_owned(),
        order: made.order,
        derived: made.derived,
        access_line: rec.seq,
        left_out: made.left_out,
    })
}

/// An MP4 for upload, made; its record is the caller's to write.
pub struct MadeForUpload {
    pub order: String,
    pub derived: Derived,
    /// The clips in it (their `clip_opened` lines), and the file's name.
    pub clips: Vec<u64>,
    pub name: Option<String>,
    pub left_out: Vec<String>,
}

/// Makes the MP4 for upload at `req.out` from the clips `found` of an order (those whose
/// `file_status` is `ok`, each file at `path_of`), trimmed at the order's `ending_scans`
/// with `--from-scan`. `recorded_in` names where the caller records the file's SHA-256 (the
/// file's comment says so). Shared by a station and the archive.
pub fn make_for_upload(
    config: &Config,
    mut found: Vec<Found>,
    path_of: &dyn Fn(&Found) -> PathBuf,
    ending_scans: &dyn Fn(&str) -> Result<Vec<i64>, Error>,
    recorded_in: &str,
    req: &UploadRequest<'_>,
) -> Result<MadeForUpload, Error> {
    if found.is_empty() {
        return Err(Error::msg(
            ErrorKind::NotFound,
            format!("no clip found for code {:?}", req.code.trim()),
        ));
    }
    if let Some(open) = found.iter().find(|f| f.clip.sealed_line.is_none()) {
        return Err(Error::msg(
            ErrorKind::Conflict,
            format!(
                "order {} is still being recorded (clip {} on {} {} is open); make its MP4 once it is sealed",
                open.clip.order, open.clip.clip, open.clip.station, open.clip.camera
            ),
        ));
    }
    found.sort_by(|a, b| {
        let k = |f: &Found| {
            (
                f.clip.box_no,
                f.clip.camera.clone(),
                f.clip.part,
                f.clip.clip,
            )
        };
        k(a).cmp(&k(b))
    });
    let order = found[0].clip.order.clone();
    let (usable, missing): (Vec<&Found>, Vec<&Found>) =
        found.iter().partition(|f| f.file_status == "ok");
    let left_out: Vec<String> = missing
        .iter()
        .map(|f| {
            format!(
                "clip {} ({} box {} part {}): {}",
                f.clip.clip, f.clip.camera, f.clip.box_no, f.clip.part, f.file_status
            )
        })
        .collect();
    if usable.is_empty() {
        return Err(Error::msg(
            ErrorKind::Conflict,
            format!(
                "order {order} has no clip file to make an MP4 from: {}",
                left_out.join("; ")
            ),
        ));
    }
    let ends = if req.limits.from_scan {
        ending_scans(&order)?
    } else {
        Vec::new()
    };
    let mut segments = Vec::new();
    let mut sources = Vec::new();
    for f in &usable {
        let c = &f.clip;
        let path = path_of(f);
        let (from_s, to_s) = span(f, req.limits.from_scan, &ends);
        let duration_s = c.duration_ms.unwrap_or(0) as f64 / 1000.0;
        let burn = derived::has_text_track(&path).then(|| {
            (
                StampText {
                    station: c.station.clone(),
                    camera: c.camera.clone(),
                    order: Some(c.order.clone()),
                    operator: c.operator.clone(),
                    tracking: c.codes.clone(),
                    template: config.encode.stamp_template.clone(),
                },
                c.started_at.clone(),
            )
        });
        let to_ms = (to_s.unwrap_or(duration_s).min(duration_s) * 1000.0).round() as u64;
        sources.push(DerivedSource {
            clip: c.clip,
            sha256: c.sha256.clone().unwrap_or_default(),
            from_ms: (from_s * 1000.0).round() as u64,
            to_ms,
            burned_in: burn.is_some(),
        });
        segments.push(Segment {
            path,
            from_s,
            to_s,
            duration_s,
            burn,
        });
    }
    let (opening, closing) = cards(config, &usable, &left_out);
    let plan = Plan {
        segments,
        opening,
        closing,
        card_s: config.upload.card_s,
        max_bytes: req.limits.max_mb.map(|m| (m * 1e6) as u64),
        x264_preset: config.upload.encoder_preset.clone(),
        crf: config.upload.crf,
        max_fps: config.upload.max_fps,
        threads: req.threads,
        encode: config.encode.clone(),
        comment: format!(
            "packwitness: order {order}, made for upload from {} sealed clip(s); the sealed clips are the evidence, and {recorded_in} records this file's SHA-256",
            usable.len()
        ),
    };
    let seconds = upload::planned_seconds(&plan);
    if let Some(max) = req.limits.max_seconds.filter(|&m| seconds > m) {
        return Err(Error::invalid(format!(
            "order {order} lasts {seconds:.0} s in one MP4 (cards included), over the limit of {max:.0} s{}",
            if req.limits.from_scan {
                ""
            } else {
                "; try it from the scan to the seal (--from-scan), which leaves out the pre- and post-roll"
            }
        )));
    }
    let tmp = req.out.with_extension("mp4.partial");
    let made = upload::make(&plan, &tmp).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    // Without credentials (none configured, or they cannot be made now: said in the log)
    // the MP4 is the same file, claiming nothing more.
    let signed = sign_upload(config, &order, &usable, &sources, &tmp, recorded_in)
        .unwrap_or_else(|e| {
            tracing::error!(order = %order, error = %e, "the MP4 for upload is made without content credentials");
            tmp.clone()
        });
    if signed != tmp {
        let _ = std::fs::remove_file(&tmp);
    }
    std::fs::rename(&signed, req.out).map_err(|e| {
        let _ = std::fs::remove_file(&signed);
        Error::new(ErrorKind::Io, e)
            .context(format!("cannot move the MP4 to {}", req.out.display()))
    })?;
    let (sha256, size) = digest::sha256_file(req.out).map_err(|e| {
        Error::new(ErrorKind::Io, e).context(format!("cannot read {}", req.out.display()))
    })?;
    let derived = Derived {
        sha256,
        size,
        duration_ms: made.duration_ms,
        width: made.width,
        height: made.height,
        encoder: format!(
            "{}; {} fps; cards {:.1} s before and after{}",
            made.encoder,
            made.fps,
            config.upload.card_s,
            if req.limits.from_scan {
                "; from the scan to the seal"
            } else {
                ""
            }
        ),
        sources,
    };
    Ok(MadeForUpload {
        order,
        derived,
        clips: usable.iter().map(|f| f.clip.clip).collect(),
        name: req
            .out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
        left_out,
    })
}

/// With `[c2pa]`, signs content credentials into the MP4 made at `made` (the sealed clips as
/// its ingredients, bound by their SHA-256; placed, trimmed and re-encoded as its actions);
/// returns the file to keep (`made` itself without `[c2pa]`).
fn sign_upload(
    config: &Config,
    order: &str,
    usable: &[&Found],
    sources: &[DerivedSource],
    made: &Path,
    recorded_in: &str,
) -> Result<PathBuf, Error> {
    let Some(signing) = crate::provenance::Signing::from_config(config)? else {
        return Ok(made.to_owned());
    };
    use crate::provenance::credentials::{Claim, COMPOSITE_CAPTURE, EVIDENCE_VERSION};
    let agent = serde_json::json!({"name": "packwitness", "version": env!("CARGO_PKG_VERSION")});
    let mut actions = vec![serde_json::json!({
        "action": "c2pa.created",
        "digitalSourceType": COMPOSITE_CAPTURE,
        "softwareAgent": agent,
        "description": "an order's sealed clips joined for a platform's upload form, between two cards",
    })];
    let mut ingredients = Vec::new();
    let mut clips = Vec::new();
    for (f, s) in usable.iter().zip(sources) {
        let c = &f.clip;
        let id = format!("clip-{}", c.clip);
        let name = Path::new(&c.file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| id.clone());
        ingredients.push(serde_json::json!({
            "title": name,
            "format": "video/mp4",
            "relationship": "componentOf",
            "label": id,
            "instance_id": format!("packwitness:sha256:{}", s.sha256),
            "description": format!("sealed clip {} of order {order}, SHA-256 {}", c.clip, s.sha256),
        }));
        actions.push(serde_json::json!({
            "action": "c2pa.placed",
            "softwareAgent": agent,
            "parameters": {"ingredientIds": [id]},
            "description": format!("{} ms to {} ms of the clip{}", s.from_ms, s.to_ms,
                if s.burned_in { ", its stamp burned in from its records" } else { "" }),
        }));
        clips.push(serde_json::json!({
            "clip": c.clip, "station": c.station, "camera": c.camera, "box": c.box_no,
            "part": c.part, "started_at": c.started_at, "ended_at": c.ended_at,
            "sealed_sha256": s.sha256, "sealed_line": c.sealed_line,
            "from_ms": s.from_ms, "to_ms": s.to_ms,
        }));
    }
    actions.push(
        serde_json::json!({"action": "c2pa.edited", "softwareAgent": agent,
        "description": "trimmed to the spans above, an opening and a closing card added"}),
    );
    actions.push(serde_json::json!({"action": "c2pa.transcoded", "softwareAgent": agent}));
    let claim = Claim {
        title: format!("{order}.mp4"),
        format: "video/mp4",
        actions,
        ingredients,
        evidence: serde_json::json!({
            "version": EVIDENCE_VERSION,
            "what": "upload_mp4",
            "order": order,
            "clips": clips,
            "recorded_in": recorded_in,
        }),
    };
    let out = made.with_extension("signed");
    crate::provenance::credentials::sign_file(&signing, &claim, made, &out)?;
    Ok(out)
}

/// What sealed a clip, in words (and in Chinese too when the font has it).
fn sealed_by(reason: &str, zh: bool) -> String {
    match crate::log::words::words("reason", reason) {
        Some((en, zh_text)) if zh => format!("{zh_text} {en}"),
        Some((en, _)) => en.to_string(),
        None => reason.to_string(),
    }
}

/// The opening card (the order, its stations and cameras, when) and the closing one (the
/// seal, the clips' hashes, how to check). In Chinese and English when the font has the
/// characters.
fn cards(config: &Config, clips: &[&Found], left_out: &[String]) -> (Card, Card) {
    let first = &clips[0].clip;
    let last = clips
        .iter()
        .max_by_key(|f| f.clip.ended_at.as_deref().and_then(millis))
        .map(|f| &f.clip)
        .unwrap_or(first);
    let font = crate::media::font::resolve(&config.encode.font_file);
    let zh = crate::media::font::missing(&font, "订单工位录像封存检查").is_ok_and(|m| m.is_empty());
    let both = |zh_text: &str, en: &str| {
        if zh {
            format!("{zh_text} {en}")
        } else {
            en.to_string()
        }
    };
    let mut stations: Vec<String> = clips
        .iter()
        .map(|f| format!("{} {}", f.clip.station, f.clip.camera))
        .collect();
    stations.dedup();
    let boxes = clips.iter().map(|f| f.clip.box_no).max().unwrap_or(1);
    let opening = Card {
        lines: vec![
            first.order.clone(),
            format!(
                "{}: {}{}",
                both("工位", "Station"),
                stations.join(", "),
                if boxes > 1 {
                    format!(" · {boxes} boxes")
                } else {
                    String::new()
                }
            ),
            format!(
                "{}: {}",
                both("录像开始", "Recorded from"),
                shown(&first.started_at)
            ),
        ],
    };
    let mut lines = vec![
        both("已封存", "SEALED"),
        format!(
            "{} · {}",
            last.ended_at.as_deref().map(shown).unwrap_or_default(),
            last.reason
                .as_deref()
                .map(|r| sealed_by(r, zh))
                .unwrap_or_default()
        ),
    ];
    for f in clips.iter().take(4) {
        let sha = f.clip.sha256.as_deref().unwrap_or("");
        lines.push(format!(
            "{} box {} part {}: SHA-256 {}…",
            f.clip.camera,
            f.clip.box_no,
            f.clip.part,
            &sha[..sha.len().min(16)]
        ));
    }
    if clips.len() > 4 {
        lines.push(format!("… {} clips in all", clips.len()));
    }
    if !left_out.is_empty() {
        lines.push(format!("{} clip(s) not in this file", left_out.len()));
    }
    lines.push(both(
        "检查",
        "Check the sealed clips: packwitness verify-bundle",
    ));
    (opening, Card { lines })
}
