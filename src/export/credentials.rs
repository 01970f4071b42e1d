//! Content credentials in a bundle (`[c2pa]`): the stills signed, and beside each sealed
//! clip a signed copy, each with the packwitness assertion citing the clip's seal (its
//! records with their inclusion proofs, the checkpoint, the anchors that stamped it).
//!
//! Owns: the stills of a bundle's clips and their signed copies, and the assertion they
//! carry ([`evidence_of`]; docs/format.md, "Content credentials"). Never: changes a sealed
//! clip (`clips/NAME` stays byte for byte; the copy is `clips/NAME.c2pa.mp4`), or leaves a
//! bundle without stills because signing failed (it warns and adds them unsigned).

use std::path::Path;

use serde_json::json;

use super::anchors::AnchorInfo;
use super::zipfile::Bundle;
use super::{Builder, BundleClip};
use crate::error::Error;
use crate::media::derived;
use crate::provenance::credentials::{self, Claim, EVIDENCE_VERSION};
use crate::provenance::Signing;

/// The signing identity of `[c2pa]`, or `None` (none configured, or it cannot sign now: a
/// bundle is still made, without credentials, and the reason is logged).
pub fn signing(config: &crate::config::Config) -> Option<Signing> {
    match Signing::from_config(config) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "content credentials cannot be made: this bundle has none");
            None
        }
    }
}

/// The packwitness assertion of a file about clip `c` (`what`: `clip`, `still-start`,
/// `still-end`).
pub fn evidence_of(
    c: &BundleClip,
    what: &str,
    checkpoint: &str,
    anchors: &[AnchorInfo],
) -> serde_json::Value {
    let stamped: Vec<&AnchorInfo> = anchors
        .iter()
        .filter(|a| Some(a.size) == c.anchors.after)
        .collect();
    json!({
        "version": EVIDENCE_VERSION,
        "what": what,
        "order": c.order,
        "station": c.station,
        "camera": c.camera,
        "clip": c.clip,
        "box": c.box_no,
        "part": c.part,
        "started_at": c.started_at,
        "ended_at": c.ended_at,
        "clock_synced": c.clock_synced,
        "test_pattern": c.test_pattern,
        "sealed_sha256": c.sha256,
        "sealed_size": c.size,
        "records": c.records,
        "checkpoint": checkpoint,
        "anchors": {
            "after": c.anchors.after,
            "after_proof": c.anchors.after_proof,
            "stamps": stamped,
        },
    })
}

impl Builder<'_> {
    /// The stills and the signed copy of every clip added, now that its anchors are known.
    pub(super) fn add_media(
        &mut self,
        clips: &mut [BundleClip],
        anchors: &[AnchorInfo],
    ) -> Result<(), Error> {
        let pending = std::mem::take(&mut self.pending);
        let mut result = Ok(());
        for (k, src, temporary) in &pending {
            if result.is_ok() {
                result = self.add_media_of(&mut clips[*k], *k, src, anchors);
            }
            if *temporary {
                let _ = std::fs::remove_file(src);
            }
        }
        result
    }

    fn add_media_of(
        &mut self,
        c: &mut BundleClip,
        k: usize,
        src: &Path,
        anchors: &[AnchorInfo],
    ) -> Result<(), Error> {
        let sign = self.signing.as_ref().map(|s| Signed {
            signing: s,
            checkpoint: &self.cp.note,
            copies: self.config.c2pa.bundle_copies,
            tmp: &self.tmp,
        });
        add_signed_media(&mut self.zip, sign, c, k, src, anchors)
    }
}

/// How a bundle's media are signed: the identity, the checkpoint note the assertions cite,
/// whether clips get a signed copy, and where temporary files go (beside the bundle).
pub(super) struct Signed<'a> {
    pub signing: &'a Signing,
    pub checkpoint: &'a str,
    pub copies: bool,
    pub tmp: &'a Path,
}

/// Adds clip `c`'s stills (signed with `sign`) and, with `sign.copies`, its signed copy.
/// A copy that cannot be signed is left out, said in the log; the bundle goes on.
pub(super) fn add_signed_media(
    zip: &mut Bundle,
    sign: Option<Signed<'_>>,
    c: &mut BundleClip,
    k: usize,
    src: &Path,
    anchors: &[AnchorInfo],
) -> Result<(), Error> {
    let stills_sign = sign.as_ref().map(|s| (s.signing, s.checkpoint));
    (c.still_start, c.still_end) = add_stills(zip, k, src, stills_sign, c, anchors)?;
    let (Some(sign), Some(name)) = (sign, c.file.clone()) else {
        return Ok(());
    };
    if !sign.copies {
        return Ok(());
    }
    let copy = name.replacen(".mp4", "", 1) + ".c2pa.mp4";
    let tmp = sign.tmp.with_extension(format!("c2pa{k}.mp4"));
    let claim = Claim::captured(
        copy.trim_start_matches("clips/").to_string(),
        "video/mp4",
        evidence_of(c, "clip", sign.checkpoint, anchors),
    );
    let added = credentials::sign_file(sign.signing, &claim, src, &tmp)
        .map_err(Error::from)
        .and_then(|()| {
            let mut f = std::fs::File::open(&tmp)
                .map_err(|e| super::bad(&tmp, format!("cannot read the signed copy: {e}")))?;
            zip.add_reader(&copy, &mut f, true, &mut |_| {})
        });
    let _ = std::fs::remove_file(&tmp);
    match added {
        Ok(()) => c.signed_copy = Some(copy),
        Err(e) => {
            tracing::error!(clip = c.clip, order = %c.order, error = %e, "no signed copy of the clip in the bundle")
        }
    }
    Ok(())
}

/// The first frame and the last frame before the seal, as JPEG stills for the report; signed
/// when `sign` (the identity and the checkpoint note) is given.
pub(super) fn add_stills(
    zip: &mut Bundle,
    k: usize,
    src: &Path,
    sign: Option<(&Signing, &str)>,
    c: &BundleClip,
    anchors: &[AnchorInfo],
) -> Result<(Option<String>, Option<String>), Error> {
    let mut out = (None, None);
    for (last, slot) in [(false, &mut out.0), (true, &mut out.1)] {
        let which = if last { "end" } else { "start" };
        match derived::still(src, last, 0) {
            Ok(jpeg) => {
                let name = format!("stills/clip{}-{which}.jpg", k + 1);
                let jpeg = match sign {
                    Some((signing, checkpoint)) => {
                        let claim = Claim::captured(
                            name.trim_start_matches("stills/").to_string(),
                            "image/jpeg",
                            evidence_of(c, &format!("still-{which}"), checkpoint, anchors),
                        );
                        credentials::sign_bytes(signing, &claim, &jpeg).unwrap_or_else(|e| {
                            tracing::error!(still = %name, error = %e, "the still is added without content credentials");
                            jpeg
                        })
                    }
                    None => jpeg,
                };
                zip.add(&name, &jpeg, false)?;
                *slot = Some(name);
            }
            Err(e) => {
                tracing::warn!(file = %src.display(), error = %e, "no still image for the report")
            }
        }
    }
    Ok(out)
}

/// What `verify-bundle` found of the content credentials in a bundle: a line per file that
/// has them, and the problems (a credential that does not hold, or whose packwitness
/// assertion disagrees with the clip's proven records). `trust`: PEM anchors for signers.
pub(super) fn check(
    path: &Path,
    ev: &super::Evidence,
    trust: Option<&[u8]>,
) -> (Vec<String>, Vec<(String, String)>) {
    let (mut lines, mut problems) = (Vec::new(), Vec::new());
    let zip = std::fs::File::open(path)
        .map_err(|e| e.to_string())
        .and_then(|f| zip::ZipArchive::new(f).map_err(|e| e.to_string()));
    let mut zip = match zip {
        Ok(z) => z,
        Err(e) => {
            problems.push((path.display().to_string(), format!("cannot be read: {e}")));
            return (lines, problems);
        }
    };
    for c in &ev.clips {
        let files = [
            (c.signed_copy.as_deref(), "clip", "video/mp4", true),
            (c.still_start.as_deref(), "still-start", "image/jpeg", false),
            (c.still_end.as_deref(), "still-end", "image/jpeg", false),
        ];
        for (name, what, format, required) in files {
            let Some(name) = name else { continue };
            let mut bytes = Vec::new();
            let read = zip
                .by_name(name)
                .map_err(|e| e.to_string())
                .and_then(|mut f| {
                    std::io::Read::read_to_end(&mut f, &mut bytes).map_err(|e| e.to_string())
                });
            if let Err(e) = read {
                problems.push((name.to_string(), format!("cannot be read: {e}")));
                continue;
            }
            let r = credentials::read(format, &mut std::io::Cursor::new(&bytes), trust);
            if !r.present && !cfg!(feature = "c2pa") {
                lines.push(format!(
                    "{name}: content credentials not checked: this packwitness was built without C2PA"
                ));
                continue;
            }
            if !r.present {
                if required {
                    problems.push((
                        name.to_string(),
                        format!(
                            "is said to carry content credentials and has none{}",
                            r.error.map(|e| format!(" ({e})")).unwrap_or_default()
                        ),
                    ));
                }
                continue;
            }
            if !r.intact() {
                problems.push((
                    name.to_string(),
                    format!(
                        "its content credentials do not hold: {}",
                        r.failures.join("; ")
                    ),
                ));
                continue;
            }
            if let Err(why) = agrees(r.evidence.as_ref(), c, what) {
                problems.push((
                    name.to_string(),
                    format!("its content credentials' packwitness assertion {why}"),
                ));
                continue;
            }
            let signer = r.signer.as_deref().unwrap_or("an unnamed signer");
            lines.push(format!(
                "{name}: content credentials (C2PA) intact, signed by {signer}{}{}; their packwitness assertion agrees with the proven seal of clip {}",
                match r.state.as_str() {
                    "Trusted" => ", a signer the certificates given trust",
                    _ if trust.is_some() => ", a signer the certificates given (--c2pa-trust) do NOT trust",
                    _ => ", a signer not checked against a trust list (--c2pa-trust PEM)",
                },
                r.signed_at.map(|t| format!(", time-stamped {t}")).unwrap_or_default(),
                c.clip
            ));
        }
    }
    (lines, problems)
}

/// Whether a credential's packwitness assertion says what the clip's proven records say.
fn agrees(e: Option<&serde_json::Value>, c: &BundleClip, what: &str) -> Result<(), String> {
    let e = e.ok_or("is missing")?;
    let same = |k: &str, v: serde_json::Value| {
        if e[k] == v {
            Ok(())
        } else {
            Err(format!("names {k} {}, the proven records {v}", e[k]))
        }
    };
    same("what", json!(what))?;
    same("clip", json!(c.clip))?;
    same("order", json!(c.order))?;
    same("station", json!(c.station))?;
    same("camera", json!(c.camera))?;
    same("sealed_sha256", json!(c.sha256))?;
    let sealed = |records: &serde_json::Value| {
        records.as_array().and_then(|a| {
            a.iter()
                .find(|r| r["kind"] == "clip_sealed")
                .map(|r| r["record"].clone())
        })
    };
    let proven = c
        .records
        .iter()
        .find(|r| r.kind == "clip_sealed")
        .map(|r| json!(r.record));
    if sealed(&e["records"]) != proven || proven.is_none() {
        return Err("cites another clip_sealed record than the proven one".into());
    }
    Ok(())
}
