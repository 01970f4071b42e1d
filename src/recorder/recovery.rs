//! Recovery: what a writer does on opening a data dir that a crash left behind.
//!
//! Owns: sealing every clip that has a `clip_opened` record and no `clip_sealed` one, with
//! reason `interrupted`: its `.partial` file is cut to its last complete fragment, fsynced,
//! hashed and renamed (see `media::fmp4::recover`), then sealed with what is on disk.
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
        if !datadir::is_safe_clip_path(&c.file) {
            tracing::error!(clip = c.clip, file = %c.file, "unsealed clip names a file outside clips/; left as it is");
            continue;
        }
        let recovered = match fmp4::recover(&w.data_dir().join(&c.file)) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(clip = c.clip, error = %e, "cannot recover an interrupted clip; it stays unsealed (verify reports it)");
                continue;
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
        tracing::warn!(order = %c.order, file = %c.file, frames = r.frames, cut_bytes = r.cut_bytes,
            "clip interrupted by a crash recovered and sealed");
        w.append(Body::ClipSealed {
            clip: c.clip,
            order: c.order,
            station: c.station,
            camera: c.camera,
            file: c.file,
            reason: SealReason::Interrupted,
            started_at: c.started_at,
            ended_at,
            duration_ms: (r.duration_s * 1000.0).round() as u64,
            frames: r.frames,
            first_frame: c.first_frame,
            size: r.size,
            sha256: r.sha256,
            fragments: r.fragments.len() as u64,
            fragments_sha256: fmp4::fragments_digest(&r.fragments),
        })?;
        sealed += 1;
    }
    Ok(sealed)
}
