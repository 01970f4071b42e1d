//! A bundle of evidence gathered elsewhere than a data dir: `packwitness archive export`,
//! from the lines, proofs, anchors and clips the archive holds of a station that may no
//! longer exist.
//!
//! Owns: turning what was gathered into the bundle format of [`super`] (version 2), the same
//! files a station's export writes, with `archive_key` in `evidence.json`, the archive's key
//! in `archive.pub` and `bundle.note` cosigned by the archive (the station's key cannot sign
//! at the archive). Never: gathers anything itself, or cites a line without the proof it was
//! given: every record is proven against the station's own signed checkpoint, which the
//! archive only cosigns.

use std::path::{Path, PathBuf};

use super::anchors::{add_cosigned_files, add_stamp_files, ClipAnchors, ClipCosigned};
use super::zipfile::Bundle;
use super::{bad, BundleClip, CheckpointInfo, Closing, Evidence, Exported, FORMAT, VERSION};
use crate::error::{Error, ErrorKind};
use crate::log::note::{b64, Checkpoint, NoteVerifier};
use crate::log::{Body, Record};

/// A line the bundle cites: its bytes (newline included) and its proof file against the
/// bundle's checkpoint.
#[derive(Debug, Clone)]
pub struct CitedLine {
    pub line: u64,
    pub bytes: Vec<u8>,
    pub proof: String,
}

/// A clip as gathered: its opening and seal (and the `anchored` record before it, when its
/// token is among the stamps), its bytes in a file, its seal's proofs in stamped and
/// cosigned checkpoints.
#[derive(Debug, Clone)]
pub struct GatheredClip {
    pub opened: CitedLine,
    /// Its `code_attached` lines, oldest first.
    pub attached: Vec<CitedLine>,
    pub sealed: CitedLine,
    pub anchored: Option<CitedLine>,
    pub file: PathBuf,
    /// The earliest stamped checkpoint holding the seal: (its size, the seal's proof in it).
    pub after: Option<(u64, String)>,
    /// Per witness (the archive among them): (its key, the size, the seal's proof in it).
    pub cosigned: Vec<(String, u64, String)>,
}

/// A stamped checkpoint: the note the TSA stamped, its token, the consistency proof from it
/// to the bundle's checkpoint.
#[derive(Debug, Clone)]
pub struct GatheredStamp {
    pub size: u64,
    pub note: Vec<u8>,
    pub tsr: Vec<u8>,
    pub consistency: String,
}

/// A checkpoint a witness (or the archive) cosigned, with the consistency proof from it to
/// the bundle's checkpoint.
#[derive(Debug, Clone)]
pub struct GatheredCosigned {
    pub witness_key: String,
    pub size: u64,
    pub note: String,
    pub consistency: String,
}

/// Everything a bundle made at the archive holds.
pub struct Gathered {
    pub code: String,
    pub who: String,
    pub exported_at: String,
    /// The station's key (the one that signed the checkpoint).
    pub station_key: String,
    /// The station's checkpoint, with the archive's cosignature.
    pub checkpoint: String,
    pub clips: Vec<GatheredClip>,
    /// The lines about the order beyond its clips, with their kind (`scan`, `no_video`,
    /// `camera_gap`, `order_resumed`), and the `upload_mp4` records made from its clips.
    pub order_records: Vec<(CitedLine, String)>,
    pub uploads: Vec<CitedLine>,
    pub stamps: Vec<GatheredStamp>,
    pub cosigned: Vec<GatheredCosigned>,
    /// The archive's key, as a checker is given it.
    pub archive_key: String,
}

fn record(c: &CitedLine) -> Result<Record, Error> {
    serde_json::from_slice(&c.bytes).map_err(|e| {
        Error::msg(
            ErrorKind::Corrupt,
            format!(
                "line {} as the archive holds it is not a record: {e}",
                c.line
            ),
        )
    })
}

/// The clip's entry in `evidence.json`, from its proven opening and seal, and its file's
/// path in the station's data dir.
fn bundle_clip(g: &GatheredClip) -> Result<(BundleClip, String), Error> {
    let (opened, sealed) = (record(&g.opened)?, record(&g.sealed)?);
    let not = |what: &str| {
        Error::msg(
            ErrorKind::Corrupt,
            format!("line {} is not a {what} record", g.opened.line),
        )
    };
    let Body::ClipOpened {
        order,
        station,
        camera,
        operator,
        group,
        part,
        box_no,
        started_at,
        scanned_at,
        clock_synced,
        test_pattern,
        file,
        ..
    } = opened.body
    else {
        return Err(not("clip_opened"));
    };
    let Body::ClipSealed {
        reason,
        ended_at,
        duration_ms,
        frames,
        size,
        sha256,
        dropped_frames,
        presets,
        ..
    } = sealed.body
    else {
        return Err(not("clip_sealed"));
    };
    let clip = BundleClip {
        clip: g.opened.line,
        order,
        station,
        camera,
        box_no,
        part,
        group,
        operator,
        codes: Vec::new(),
        scanned_at,
        started_at,
        ended_at: Some(ended_at),
        duration_ms: Some(duration_ms),
        frames: Some(frames),
        reason: Some(reason.as_str().to_string()),
        sha256: Some(sha256),
        size: Some(size),
        file: None,
        pruned: false,
        still_start: None,
        still_end: None,
        burned_in: None,
        test_pattern: test_pattern.unwrap_or(false),
        clock_synced,
        anchors: ClipAnchors::default(),
        dropped_frames,
        presets,
        from_archive: None,
        signed_copy: None,
        records: Vec::new(),
    };
    Ok((clip, file))
}

/// Writes the bundle of `g` to `out`; `cosign` is the archive's cosignature line of a note
/// body (for `bundle.note`).
/// `signing`: the archive's `[c2pa]`, when it signs content credentials into the stills and
/// copies of the clips (`copies`: `[c2pa] bundle_copies`).
pub fn write(
    g: &Gathered,
    out: &Path,
    cosign: &dyn Fn(&str) -> String,
    progress: &dyn Fn(u64, u64),
    signing: Option<(&crate::provenance::Signing, bool)>,
) -> Result<Exported, Error> {
    let verifier = NoteVerifier::parse(&g.station_key)?;
    let body = verifier.open(&g.checkpoint).map_err(|e| {
        bad(
            out,
            format!("the archive's checkpoint does not verify: {e}"),
        )
    })?;
    let signed = Checkpoint::parse(body)?;
    let tmp = out.with_extension("zip.partial");
    let file = std::fs::File::create(&tmp)
        .map_err(|e| bad(&tmp, format!("cannot create the bundle: {e}")))?;
    let mut zip = Bundle::new(file, &tmp);
    let total: u64 = g
        .clips
        .iter()
        .filter_map(|c| std::fs::metadata(&c.file).ok().map(|m| m.len()))
        .sum();
    let mut done = 0u64;
    let mut clips = Vec::new();
    let mut stamps = Vec::new();
    for s in &g.stamps {
        match crate::anchor::tsp::claimed(&s.tsr, &s.note) {
            Ok(claimed) => stamps.push(add_stamp_files(
                &mut zip,
                s.size,
                &s.note,
                &s.tsr,
                &s.consistency,
                claimed,
            )?),
            Err(e) => {
                tracing::warn!(size = s.size, error = %e, "an archived time-stamp is not one of its note; left out of the bundle")
            }
        }
    }
    let mut witnessed = Vec::new();
    for w in &g.cosigned {
        let Ok(v) = crate::anchor::cosign::WitnessVerifier::parse(&w.witness_key) else {
            continue;
        };
        let Some(time) = v.cosigned(&w.note) else {
            tracing::warn!(witness = %v.name, size = w.size, "an archived cosignature does not check; left out of the bundle");
            continue;
        };
        witnessed.push(add_cosigned_files(
            &mut zip,
            &v,
            w.size,
            &w.note,
            &w.consistency,
            time,
        )?);
    }
    for (k, gc) in g.clips.iter().enumerate() {
        let (mut c, file) = bundle_clip(gc)?;
        c.records.push(zip.cite_given(
            gc.opened.line,
            "clip_opened",
            &gc.opened.bytes,
            &gc.opened.proof,
        )?);
        for a in &gc.attached {
            if let Body::CodeAttached { code, .. } = record(a)?.body {
                c.codes.push(code);
            }
            c.records
                .push(zip.cite_given(a.line, "code_attached", &a.bytes, &a.proof)?);
        }
        c.records.push(zip.cite_given(
            gc.sealed.line,
            "clip_sealed",
            &gc.sealed.bytes,
            &gc.sealed.proof,
        )?);
        let name = zip.add_clip(&file, c.clip, c.sha256.as_deref(), &gc.file, &mut |n| {
            progress(done + n, total)
        })?;
        done += c.size.unwrap_or(0);
        c.file = Some(name);
        if let Some((size, proof)) = gc
            .after
            .as_ref()
            .filter(|(size, _)| stamps.iter().any(|s| s.size == *size))
        {
            let name = format!("proofs/line-{}.at-{size}.tlog-proof", gc.sealed.line);
            zip.add(&name, proof.as_bytes(), true)?;
            c.anchors.after = Some(*size);
            c.anchors.after_proof = Some(name);
        }
        if let Some(a) = &gc.anchored {
            let names_stamp = matches!(record(a)?.body, Body::Anchored { size, .. } if stamps.iter().any(|s| s.size == size));
            if names_stamp {
                c.records
                    .push(zip.cite_given(a.line, "anchored", &a.bytes, &a.proof)?);
                c.anchors.anchored_line = Some(a.line);
            }
        }
        for (key, size, proof) in &gc.cosigned {
            let id = crate::anchor::witness_client::witness_id(key);
            if !witnessed.iter().any(|w| w.key_id == id && w.size == *size) {
                continue;
            }
            let name = format!("proofs/line-{}.w-{id}-{size}.tlog-proof", gc.sealed.line);
            zip.add(&name, proof.as_bytes(), true)?;
            c.anchors.cosigned.push(ClipCosigned {
                witness: id,
                size: *size,
                proof: name,
            });
        }
        let sign = signing.map(|(signing, copies)| super::credentials::Signed {
            signing,
            checkpoint: &g.checkpoint,
            copies,
            tmp: &tmp,
        });
        super::credentials::add_signed_media(&mut zip, sign, &mut c, k, &gc.file, &stamps)?;
        clips.push(c);
    }
    let (mut order_records, mut scans) = (Vec::new(), Vec::new());
    for (l, kind) in &g.order_records {
        order_records.push(zip.cite_given(l.line, kind, &l.bytes, &l.proof)?);
        if kind == "scan" {
            scans.push(record(l)?);
        }
    }
    let (mut uploads, mut made) = (Vec::new(), Vec::new());
    for l in &g.uploads {
        uploads.push(zip.cite_given(l.line, "access", &l.bytes, &l.proof)?);
        made.push(record(l)?);
    }
    let statement = super::statement(&clips, &stamps);
    let evidence = Evidence {
        format: FORMAT.into(),
        version: VERSION,
        code: g.code.clone(),
        exported_at: g.exported_at.clone(),
        exported_by: g.who.clone(),
        software: format!("packwitness {}", env!("CARGO_PKG_VERSION")),
        station_key: g.station_key.clone(),
        checkpoint: CheckpointInfo {
            size: signed.size,
            root: b64(&signed.root),
            time: signed.time.clone(),
            file: "checkpoint.note".into(),
        },
        clips,
        access_line: None,
        order_records,
        statement,
        anchors: stamps,
        witnessed,
        uploads,
        archive_key: Some(g.archive_key.clone()),
        credentials_signer: signing.map(|(s, _)| s.subject.clone()),
    };
    let bytes = super::seal(
        zip,
        &Closing {
            evidence: &evidence,
            verifier: &verifier,
            checkpoint: &g.checkpoint,
            uploads: &made,
            scans: &scans,
            tmp: &tmp,
        },
        &|list| format!("{list}\n{}", cosign(list)),
    )?;
    std::fs::rename(&tmp, out)
        .map_err(|e| bad(out, format!("cannot move the bundle in place: {e}")))?;
    Ok(Exported {
        path: out.to_owned(),
        evidence,
        bytes,
    })
}
