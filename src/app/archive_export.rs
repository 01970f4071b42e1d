//! `packwitness archive export CODE -o FILE.zip`: an order's evidence bundle from the archive
//! alone, for a station that pruned the clips, lost its disk or no longer exists.
//!
//! Owns: gathering, for one station's clips of the order, the lines to cite (their openings,
//! attached codes and seals, the order's scans and other records, the MP4s made for upload)
//! with their proofs against the station's newest checkpoint the archive holds (cosigned by
//! the archive now), the clips' bytes (checked against their seals), the earliest TSA token,
//! witness cosignature and archive receipt holding each seal, with consistency proofs to that
//! checkpoint; then writing them as the same bundle format ([`crate::export::archived`]).
//! Never: writes to the bucket or the database, or makes a proof of anything the archive did
//! not read from its tiles.

use std::path::{Path, PathBuf};

use crate::anchor::cosign::WitnessKey;
use crate::archive::evidence::{ArchivedClip, ArchivedCosigned, ArchivedLog};
use crate::archive::service::Archive;
use crate::archive::ArchiveError;
use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::export::archived::{CitedLine, Gathered, GatheredClip, GatheredCosigned, GatheredStamp};
use crate::export::Exported;
use crate::log::proof::{consistency_file, inclusion_text};

/// What is asked of `archive export`.
pub struct ExportRequest<'a> {
    pub code: &'a str,
    pub out: &'a Path,
    pub who: &'a str,
    /// The station whose clips are exported, when the order has clips of several.
    pub station: Option<&'a str>,
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes the bundle of `req.code` from the archive of `config` (`[archive_server]`), the
/// archive signing with `key`.
pub fn export(
    config: &Config,
    key: WitnessKey,
    req: &ExportRequest<'_>,
    progress: &dyn Fn(u64, u64),
) -> Result<Exported, Error> {
    let runtime =
        crate::web::runtime("archive-export").map_err(|e| Error::msg(ErrorKind::Unavailable, e))?;
    runtime.block_on(async {
        let archive = Archive::open(&config.archive_server, key).await?;
        export_from(&archive, config, req, progress).await
    })
}

/// Writes the bundle of `req.code` from an open archive node (the app's download). The zip
/// is written on the calling thread: call it where blocking is allowed (a blocking task).
pub async fn export_from(
    archive: &Archive,
    config: &crate::config::Config,
    req: &ExportRequest<'_>,
    progress: &dyn Fn(u64, u64),
) -> Result<Exported, Error> {
    let code = crate::codes::normalize(req.code, config.codes.max_len)?;
    if let Some(parent) = req.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(Error::msg(
                ErrorKind::Invalid,
                format!(
                    "{}: the directory {} does not exist; create it or choose another -o",
                    req.out.display(),
                    parent.display()
                ),
            ));
        }
    }
    let clips_dir = req.out.with_extension("clips.partial");
    std::fs::create_dir_all(&clips_dir)
        .map_err(|e| Error::msg(ErrorKind::Io, format!("{}: {e}", clips_dir.display())))?;
    let made = async {
        let now = now_s();
        let gathered = gather(archive, &code, req, &clips_dir, now).await?;
        let cosign = |body: &str| archive.cosign(body, now);
        let signing = crate::export::credentials_signing(config);
        let sign = signing.as_ref().map(|s| (s, config.c2pa.bundle_copies));
        crate::export::archived::write(&gathered, req.out, &cosign, progress, sign)
    }
    .await;
    let _ = std::fs::remove_dir_all(&clips_dir);
    made
}

/// The one station's clips to export.
fn choose(
    clips: Vec<ArchivedClip>,
    code: &str,
    station: Option<&str>,
) -> Result<Vec<ArchivedClip>, Error> {
    if clips.is_empty() {
        return Err(Error::msg(
            ErrorKind::NotFound,
            format!("the archive holds no clip of order {code:?}"),
        ));
    }
    let mut names: Vec<String> = clips.iter().map(|c| c.station.origin.clone()).collect();
    names.dedup();
    let chosen = match station {
        Some(s) => s.to_string(),
        None if names.len() == 1 => names[0].clone(),
        None => {
            return Err(Error::msg(
                ErrorKind::Invalid,
                format!(
                    "order {code} has clips of {} stations ({}); a bundle is of one station's log: give --station NAME",
                    names.len(),
                    names.join(", ")
                ),
            ))
        }
    };
    let mine: Vec<ArchivedClip> = clips
        .into_iter()
        .filter(|c| c.station.origin == chosen)
        .collect();
    if mine.is_empty() {
        return Err(Error::msg(
            ErrorKind::NotFound,
            format!(
                "the archive holds no clip of order {code} from station {chosen} (it has some from {})",
                names.join(", ")
            ),
        ));
    }
    Ok(mine)
}

async fn cite(log: &ArchivedLog<'_>, line: u64, note: &str) -> Result<CitedLine, ArchiveError> {
    let bytes = log.line(line).await?;
    let path = log.inclusion(line, log.size).await?;
    let proof = inclusion_text(&bytes, line, &path, note);
    Ok(CitedLine { line, bytes, proof })
}

/// The proof of line `line` (its bytes `bytes`) in the earlier checkpoint `note` of `size`.
async fn prove_in(
    log: &ArchivedLog<'_>,
    line: u64,
    bytes: &[u8],
    size: u64,
    note: &str,
) -> Result<String, ArchiveError> {
    let path = log.inclusion(line, size).await?;
    Ok(inclusion_text(bytes, line, &path, note))
}

async fn consistency(log: &ArchivedLog<'_>, size: u64, note: &str) -> Result<String, ArchiveError> {
    let hashes = log.consistency(size, log.size).await?;
    Ok(consistency_file(size, &hashes, note))
}

async fn gather(
    archive: &Archive,
    code: &str,
    req: &ExportRequest<'_>,
    clips_dir: &Path,
    now: u64,
) -> Result<Gathered, Error> {
    let clips = choose(archive.order_clips(code).await?, code, req.station)?;
    let log = archive.log_of(&clips[0].station).await?;
    let checkpoint = archive.cosigned(&log.checkpoint, now)?;
    let mut stamps: Vec<GatheredStamp> = Vec::new();
    let mut cosigned: Vec<GatheredCosigned> = Vec::new();
    let mut out = Vec::new();
    let mut orders: Vec<String> = Vec::new();
    for c in &clips {
        if !c.stored {
            return Err(Error::msg(
                ErrorKind::Unavailable,
                format!(
                    "clip {} of order {code} (SHA-256 {}) is not in the archive's bucket: still on its way, or the station could not send it (see its clips row's `gone`); export it at the station",
                    c.clip, c.sha256
                ),
            ));
        }
        if c.seal > log.size {
            return Err(Error::msg(
                ErrorKind::Unavailable,
                format!("clip {} of order {code} is sealed past the log the archive holds; try again once the station pushed it", c.clip),
            ));
        }
        let opened = cite(&log, c.clip, &checkpoint).await?;
        let mut attached = Vec::new();
        for (line, _) in log.attached(c.clip).await? {
            attached.push(cite(&log, line, &checkpoint).await?);
        }
        let sealed = cite(&log, c.seal, &checkpoint).await?;
        let file: PathBuf = clips_dir.join(format!("clip-{}.mp4", c.clip));
        if !archive.clip_to_file(&c.sha256, &file).await? {
            return Err(Error::msg(
                ErrorKind::NotFound,
                format!(
                    "clip {} of order {code}: the bucket holds no object {}",
                    c.clip, c.sha256
                ),
            ));
        }
        if let Ok(crate::log::Record {
            body: crate::log::Body::ClipOpened { order, .. },
            ..
        }) = serde_json::from_slice(&opened.bytes)
        {
            if !orders.contains(&order) {
                orders.push(order);
            }
        }
        let mut g = GatheredClip {
            opened,
            attached,
            sealed,
            anchored: None,
            file,
            after: None,
            cosigned: Vec::new(),
        };
        // The earliest stamp after the seal, and the token in force when the clip opened.
        if let Some(size) = log.stamp_covering(c.seal, log.size).await? {
            if let Some(note) = add_stamp(&log, &mut stamps, size, &checkpoint).await? {
                g.after = Some((
                    size,
                    prove_in(&log, c.seal, &g.sealed.bytes, size, &note).await?,
                ));
            }
        }
        if let Some((line, size)) = log.anchored_before(c.clip).await? {
            if add_stamp(&log, &mut stamps, size, &checkpoint)
                .await?
                .is_some()
            {
                g.anchored = Some(cite(&log, line, &checkpoint).await?);
            }
        }
        // Each witness's earliest cosignature holding the seal, and the archive's receipt
        // (the checkpoint cosigned now when the push predates receipts).
        let mut parties = log.cosigned_covering(c.seal, log.size).await?;
        parties.push(
            log.receipt_covering(c.seal, log.size)
                .await?
                .unwrap_or_else(|| ArchivedCosigned {
                    witness_key: archive.witness_key(),
                    size: log.size,
                    note: checkpoint.clone(),
                }),
        );
        for w in parties {
            let proof = prove_in(&log, c.seal, &g.sealed.bytes, w.size, &w.note).await?;
            g.cosigned.push((w.witness_key.clone(), w.size, proof));
            if !cosigned
                .iter()
                .any(|h| h.witness_key == w.witness_key && h.size == w.size)
            {
                let consistency = consistency(&log, w.size, &checkpoint).await?;
                cosigned.push(GatheredCosigned {
                    witness_key: w.witness_key,
                    size: w.size,
                    note: w.note,
                    consistency,
                });
            }
        }
        out.push(g);
    }
    // The orders' scans and other records, and the MP4s made from these clips.
    let mut order_records = Vec::new();
    for order in &orders {
        let limit = i64::from(crate::export::MAX_ORDER_RECORDS);
        for (line, kind) in log.order_lines(order, limit).await? {
            order_records.push((cite(&log, line, &checkpoint).await?, kind));
        }
    }
    let ids: Vec<u64> = clips.iter().map(|c| c.clip).collect();
    let mut uploads = Vec::new();
    for line in log.uploads(&ids).await? {
        uploads.push(cite(&log, line, &checkpoint).await?);
    }
    Ok(Gathered {
        code: code.to_string(),
        who: req.who.to_string(),
        exported_at: crate::clock::utc_seconds(now),
        station_key: log.station.verifier.clone(),
        checkpoint,
        clips: out,
        order_records,
        uploads,
        stamps,
        cosigned,
        archive_key: archive.witness_key(),
    })
}

/// Adds the stamped checkpoint of `size` once (read from the bucket the first time a clip
/// needs it); its note, when the bucket holds it.
async fn add_stamp(
    log: &ArchivedLog<'_>,
    stamps: &mut Vec<GatheredStamp>,
    size: u64,
    checkpoint: &str,
) -> Result<Option<String>, ArchiveError> {
    let note = |s: &GatheredStamp| String::from_utf8_lossy(&s.note).into_owned();
    if let Some(s) = stamps.iter().find(|s| s.size == size) {
        return Ok(Some(note(s)));
    }
    let Some(s) = log.stamp(size).await? else {
        return Ok(None);
    };
    let added = GatheredStamp {
        size,
        consistency: consistency(log, size, checkpoint).await?,
        note: s.note,
        tsr: s.tsr,
    };
    let text = note(&added);
    stamps.push(added);
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::service::Station;

    fn clip(station: &str, n: u64) -> ArchivedClip {
        ArchivedClip {
            station: Station {
                id: if station == "st-1" { 1 } else { 2 },
                key_id: "0000abcd".into(),
                origin: station.into(),
                verifier: String::new(),
            },
            clip: n,
            seal: n + 1,
            sha256: "00".repeat(32),
            stored: true,
        }
    }

    #[test]
    fn a_bundle_is_of_one_stations_clips_and_the_choice_is_asked_for() {
        let e = choose(Vec::new(), "SO-1", None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        let one = choose(vec![clip("st-1", 3), clip("st-1", 9)], "SO-1", None).unwrap();
        assert_eq!(one.len(), 2);
        let both = || vec![clip("st-1", 3), clip("st-2", 5)];
        let e = choose(both(), "SO-1", None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
        assert!(
            e.to_string().contains("st-1, st-2") && e.to_string().contains("--station"),
            "{e}"
        );
        let chosen = choose(both(), "SO-1", Some("st-2")).unwrap();
        assert_eq!(chosen.iter().map(|c| c.clip).collect::<Vec<_>>(), [5]);
        let e = choose(both(), "SO-1", Some("st-9")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    }
}
