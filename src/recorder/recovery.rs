//! Recovery: what a writer does on opening a data dir that a crash left behind.
//!
//! Owns: sealing every clip that has a `clip_opened` record and no `clip_sealed` one, with
//! reason `interrupted`: its `.partial` file is cut to its last complete fragment, fsynced,
//! hashed and renamed (see `media::fmp4::recover`), then sealed with what is on disk.
//! A `.partial` file that no record names (its `clip_opened` line was lost in the crash) is
//! recovered the same way and named by an `orphan_recovered` record; only the two latest day
//! folders of each station are looked in, so a start costs the same after years.
//! Never: deletes a clip or a record; a clip that cannot be recovered stays unsealed, and
//! `verify` reports it.

use chrono::DateTime;

use super::writer::Writer;
use crate::clock::format_time;
use crate::datadir;
use crate::error::Error;
use crate::log::{Body, SealReason};
use crate::media::fmp4;

/// Seals, with reason `interrupted`, every clip opened but never sealed (the process died).
pub fn seal_interrupted(w: &mut Writer) -> Result<u64, Error> {
    let open = w.log_state().open.clone();
    let mut sealed = 0;
    for c in open {
        if seal_from_disk(w, c, SealReason::Interrupted)? {
            sealed += 1;
        }
    }
    Ok(sealed)
}

/// Seals the open clips `clips` from what is on disk, for `reason` (a camera that could not
/// finish a file hands it over this way). Returns the clips that could not be sealed yet
/// (their file cannot be read now); clips no longer open are dropped.
pub fn seal_clips(w: &mut Writer, clips: &[u64], reason: SealReason) -> Result<Vec<u64>, Error> {
    let open: Vec<_> = w
        .log_state()
        .open
        .iter()
        .filter(|c| clips.contains(&c.clip))
        .cloned()
        .collect();
    let mut left = Vec::new();
    for c in open {
        let clip = c.clip;
        if !seal_from_disk(w, c, reason)? {
            left.push(clip);
        }
    }
    Ok(left)
}

/// Cuts an open clip's file to its last complete fragment and seals it; false when its file
/// cannot be recovered now (it stays unsealed).
fn seal_from_disk(
    w: &mut Writer,
    c: crate::log::state::OpenClip,
    reason: SealReason,
) -> Result<bool, Error> {
    {
        if !datadir::is_safe_clip_path(&c.file) {
            tracing::error!(clip = c.clip, file = %c.file, "unsealed clip names a file outside clips/; left as it is");
            return Ok(false);
        }
        let recovered = match fmp4::recover(&w.data_dir().join(&c.file)) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(clip = c.clip, error = %e, "cannot recover an interrupted clip; it stays unsealed (verify reports it)");
                return Ok(false);
            }
        };
        let r = recovered.unwrap_or(fmp4::Recovered {
            size: 0,
            sha256: crate::digest::sha256_hex(b""),
            fragments: Vec::new(),
            frames: 0,
            span_s: 0.0,
            duration_s: 0.0,
            cut_bytes: 0,
        });
        let ended_at = match DateTime::parse_from_rfc3339(&c.started_at) {
            Ok(t) => {
                format_time(t + chrono::Duration::microseconds((r.span_s * 1e6).round() as i64))
            }
            Err(_) => c.started_at.clone(),
        };
        tracing::warn!(order = %c.order, file = %c.file, frames = r.frames, cut_bytes = r.cut_bytes, reason = %reason,
            "clip recovered from disk and sealed");
        w.append(Body::ClipSealed {
            clip: c.clip,
            order: c.order,
            station: c.station,
            camera: c.camera,
            file: c.file,
            reason,
            started_at: c.started_at,
            ended_at,
            duration_ms: (r.duration_s * 1000.0).round() as u64,
            frames: r.frames,
            first_frame: c.first_frame,
            size: r.size,
            sha256: r.sha256,
            fragments: r.fragments.len() as u64,
            fragments_sha256: fmp4::fragments_digest(&r.fragments),
            dropped_frames: None,
            presets: Vec::new(),
        })?;
        Ok(true)
    }
}

/// The `.partial` clip files of the two latest day folders of each station.
fn partial_files(data_dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let list = |p: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        v.sort();
        v
    };
    let clips = data_dir.join("clips");
    for station in list(&clips) {
        let days = list(&clips.join(&station));
        for day in days.iter().rev().take(2) {
            for f in list(&clips.join(&station).join(day)) {
                if f.ends_with(".mp4.partial") {
                    out.push(format!("clips/{station}/{day}/{f}"));
                }
            }
        }
    }
    out
}

/// Recovers every `.partial` clip file that no record names, and names it in an
/// `orphan_recovered` record. Run after [`seal_interrupted`] (which takes the ones that do).
pub fn recover_orphans(w: &mut Writer) -> Result<u64, Error> {
    let mut found = 0;
    for rel in partial_files(w.data_dir()) {
        let file = rel.trim_end_matches(".partial").to_string();
        if !datadir::is_safe_clip_path(&file) {
            continue;
        }
        // clips/<station>/<day>/<order>_<camera>_<seq>.mp4
        let mut parts = file.split('/');
        let station = parts.nth(1).unwrap_or_default().to_string();
        let name = file
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".mp4");
        let mut fields = name.rsplitn(3, '_');
        let (_seq, camera, order) = (
            fields.next().unwrap_or_default(),
            fields.next().unwrap_or_default().to_string(),
            fields.next().unwrap_or_default().to_string(),
        );
        let r = match fmp4::recover(&w.data_dir().join(&file)) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(file = %file, error = %e, "cannot recover a clip file no record names; left as it is (verify reports it)");
                continue;
            }
        };
        tracing::warn!(file = %file, order = %order, frames = r.frames, "a clip file whose opening record was lost in a crash recovered and named in the manifest");
        w.append(Body::OrphanRecovered {
            station,
            camera,
            order,
            file,
            size: r.size,
            sha256: r.sha256,
            fragments: r.fragments.len() as u64,
            fragments_sha256: fmp4::fragments_digest(&r.fragments),
            frames: r.frames,
            duration_ms: (r.duration_s * 1000.0).round() as u64,
            reason:
                "its clip_opened record was lost in a crash (order and camera from its file name)"
                    .into(),
        })?;
        found += 1;
    }
    Ok(found)
}

#[cfg(test)]
mod tests;
