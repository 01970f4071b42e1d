//! The anchors a bundle carries: for each clip, the earliest checkpoint a TSA stamped after
//! its seal (with an inclusion proof of the seal against it: the clip existed no later than
//! the stamp's time) and the last `anchored` record before its opening (cited and proven like
//! the clip's records: the clip was opened after that token's time); each stamped checkpoint
//! with its token and a consistency proof to the export checkpoint; the TSA certificates the
//! station trusted.
//!
//! Files: `anchors/<size>.note` (the exact note stamped), `anchors/<size>.tsr` (the DER
//! TimeStampResp), `anchors/<size>.consistency` (old <size> to `checkpoint.note`),
//! `anchors/tsa-ca.pem`, and `proofs/line-<n>.at-<size>.tlog-proof`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Bundle, BundleClip};
use crate::anchor::{tsp, StampIndex, Stamped};
use crate::config::Config;
use crate::error::Error;
use crate::index::Index;
use crate::log::proof;
use crate::log::reader::{Checkpointed, LogReader};

/// A stamped checkpoint in a bundle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AnchorInfo {
    pub size: u64,
    pub note: String,
    pub tsr: String,
    pub consistency: String,
    /// What the token says (checked at export against the station's `tsa_ca`; a checker
    /// checks it again).
    pub gen_time: String,
    pub tsa: String,
}

/// A clip's anchors.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClipAnchors {
    /// The earliest stamped checkpoint holding the clip's seal, and the seal's proof in it.
    pub after: Option<u64>,
    pub after_proof: Option<String>,
    /// The line of the last `anchored` record before the clip was opened (cited with the
    /// clip's records; its token is the anchor of the size it names).
    pub anchored_line: Option<u64>,
    /// Per witness, the earliest checkpoint it cosigned that holds the clip's seal.
    #[serde(default)]
    pub cosigned: Vec<ClipCosigned>,
}

/// A clip's seal in a cosigned checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClipCosigned {
    /// The witness's key ID (hex) and the checkpoint's size.
    pub witness: String,
    pub size: u64,
    /// The seal's inclusion proof against the cosigned checkpoint.
    pub proof: String,
}

/// A checkpoint a witness cosigned, in a bundle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CosignedInfo {
    /// The witness's key name and key ID (hex).
    pub witness: String,
    pub key_id: String,
    pub size: u64,
    /// The note with the station's signature and the witness's cosignature.
    pub note: String,
    pub consistency: String,
    /// The cosignature's time (RFC 3339, UTC).
    pub time: String,
}

/// Adds, for each `[[anchor.witness]]`, the earliest checkpoint it cosigned holding each
/// clip's seal (note, consistency proof to the export checkpoint, the seal's proof).
pub(super) fn add_cosigned(
    zip: &mut Bundle,
    data_dir: &std::path::Path,
    config: &Config,
    reader: &LogReader,
    cp: &Checkpointed,
    clips: &mut [BundleClip],
) -> Result<Vec<CosignedInfo>, Error> {
    use crate::anchor::cosign::WitnessVerifier;
    use crate::anchor::witness_client::witness_id;
    let mut added: BTreeMap<(String, u64), CosignedInfo> = BTreeMap::new();
    for w in &config.anchor.witness {
        let Ok(v) = WitnessVerifier::parse(&w.key) else {
            continue;
        };
        let id = witness_id(&w.key);
        let idx = StampIndex::witness(data_dir, &id);
        for c in clips.iter_mut() {
            let Some(line) = sealed_line(c) else { continue };
            let Some(st) = idx.first_covering(line, cp.size) else {
                continue;
            };
            let note = std::fs::read_to_string(&st.note).map_err(|e| {
                super::bad(
                    &st.note,
                    format!("cannot read the cosigned checkpoint: {e}"),
                )
            })?;
            let Some(time) = v.cosigned(&note) else {
                tracing::warn!(file = %st.note.display(), "a kept cosignature does not check; left out of the bundle");
                continue;
            };
            if let std::collections::btree_map::Entry::Vacant(slot) =
                added.entry((id.clone(), st.size))
            {
                let consistency = proof::consistency_text(reader, st.size, cp)?;
                slot.insert(add_cosigned_files(
                    zip,
                    &v,
                    st.size,
                    &note,
                    &consistency,
                    time,
                )?);
            }
            let name = format!("proofs/line-{line}.w-{id}-{}.tlog-proof", st.size);
            zip.add(
                &name,
                proof::prove_at(reader, st.size, &note, line)?.as_bytes(),
                true,
            )?;
            c.anchors.cosigned.push(ClipCosigned {
                witness: id.clone(),
                size: st.size,
                proof: name,
            });
        }
    }
    Ok(added.into_values().collect())
}

/// Adds a cosigned checkpoint's note and its consistency proof to the bundle's checkpoint;
/// what `evidence.json` says of it.
pub(super) fn add_cosigned_files(
    zip: &mut Bundle,
    v: &crate::anchor::cosign::WitnessVerifier,
    size: u64,
    note: &str,
    consistency: &str,
    time: u64,
) -> Result<CosignedInfo, Error> {
    let base = format!("anchors/w-{}-{size}", v.key_id());
    zip.add(&format!("{base}.note"), note.as_bytes(), true)?;
    zip.add(&format!("{base}.consistency"), consistency.as_bytes(), true)?;
    Ok(CosignedInfo {
        witness: v.name.clone(),
        key_id: v.key_id(),
        size,
        note: format!("{base}.note"),
        consistency: format!("{base}.consistency"),
        time: crate::clock::utc_seconds(time),
    })
}

/// Adds a stamped checkpoint (its note, its token, the consistency proof to the bundle's
/// checkpoint); what `evidence.json` says of it (`stamp`: the token's time and TSA).
pub(super) fn add_stamp_files(
    zip: &mut Bundle,
    size: u64,
    note: &[u8],
    tsr: &[u8],
    consistency: &str,
    stamp: (String, String),
) -> Result<AnchorInfo, Error> {
    let base = format!("anchors/{size}");
    let info = AnchorInfo {
        size,
        note: format!("{base}.note"),
        tsr: format!("{base}.tsr"),
        consistency: format!("{base}.consistency"),
        gen_time: stamp.0,
        tsa: stamp.1,
    };
    zip.add(&info.note, note, true)?;
    zip.add(&info.tsr, tsr, false)?;
    zip.add(&info.consistency, consistency.as_bytes(), true)?;
    Ok(info)
}

/// The line of a clip's seal, from its cited records.
fn sealed_line(c: &BundleClip) -> Option<u64> {
    c.records
        .iter()
        .find(|r| r.kind == "clip_sealed")
        .map(|r| r.line)
}

/// Adds the anchors of `clips` to the bundle; returns the stamped checkpoints added. Nothing
/// when `[anchor] tsa_ca` is not set or no checkpoint was stamped.
pub(super) fn add(
    zip: &mut Bundle,
    data_dir: &std::path::Path,
    config: &Config,
    reader: &LogReader,
    cp: &Checkpointed,
    index: &Index,
    clips: &mut [BundleClip],
) -> Result<Vec<AnchorInfo>, Error> {
    let ca = &config.anchor.tsa_ca;
    if ca.is_empty() {
        return Ok(Vec::new());
    }
    let pem = match std::fs::read(ca) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(tsa_ca = %ca, error = %e, "the TSA certificates cannot be read: the bundle carries no anchors");
            return Ok(Vec::new());
        }
    };
    let roots = tsp::load_roots(&pem).map_err(|e| Error::internal(e.to_string()))?;
    let idx = StampIndex::open(data_dir);
    let mut added: BTreeMap<u64, AnchorInfo> = BTreeMap::new();
    for c in clips.iter_mut() {
        let after = sealed_line(c).and_then(|s| idx.first_covering(s, cp.size));
        let anchored = index.anchored_before(c.clip)?;
        let before = anchored
            .and_then(|(_, size)| idx.first_covering(size, size))
            .filter(|st| anchored.is_some_and(|a| a.1 == st.size));
        for st in after.iter().chain(before.iter()) {
            if let std::collections::btree_map::Entry::Vacant(slot) = added.entry(st.size) {
                if let Some(info) = add_stamped(zip, reader, cp, st, &roots)? {
                    slot.insert(info);
                }
            }
        }
        if let (Some(st), Some(line)) = (
            after.filter(|a| added.contains_key(&a.size)),
            sealed_line(c),
        ) {
            let note = std::fs::read_to_string(&st.note).map_err(|e| {
                super::bad(&st.note, format!("cannot read the stamped checkpoint: {e}"))
            })?;
            let name = format!("proofs/line-{line}.at-{}.tlog-proof", st.size);
            zip.add(
                &name,
                proof::prove_at(reader, st.size, &note, line)?.as_bytes(),
                true,
            )?;
            c.anchors.after = Some(st.size);
            c.anchors.after_proof = Some(name);
        }
        if let (Some((line, size)), true) = (anchored, before.is_some()) {
            if added.contains_key(&size) {
                c.records.push(zip.cite(reader, cp, line, "anchored")?);
                c.anchors.anchored_line = Some(line);
            }
        }
    }
    if !added.is_empty() {
        zip.add("anchors/tsa-ca.pem", &pem, true)?;
    }
    Ok(added.into_values().collect())
}

/// Adds one stamped checkpoint (note, token, consistency proof to the export checkpoint),
/// if its token still checks against the TSA certificates.
fn add_stamped(
    zip: &mut Bundle,
    reader: &LogReader,
    cp: &Checkpointed,
    st: &Stamped,
    roots: &[x509_cert::Certificate],
) -> Result<Option<AnchorInfo>, Error> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| super::bad(p, format!("cannot read the anchor: {e}")))
    };
    let (note, tsr) = (read(&st.note)?, read(&st.tsr)?);
    let stamp = match tsp::check(&tsr, &note, None, roots) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(file = %st.tsr.display(), error = %e, "a stored time-stamp does not check; left out of the bundle");
            return Ok(None);
        }
    };
    let consistency = proof::consistency_text(reader, st.size, cp)?;
    add_stamp_files(
        zip,
        st.size,
        &note,
        &tsr,
        &consistency,
        (stamp.gen_time, stamp.tsa),
    )
    .map(Some)
}

/// Clock error tolerated between the station and the TSA when their times are compared (s).
const TOLERANCE_S: i64 = 2;

fn seconds(t: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.timestamp())
}

/// Does the consistency proof file `name` prove the tree of `size` lines with `root` to be the
/// start of the export checkpoint (`checkpoint.note`, whose note the proof must carry)?
fn leads_to_export(
    small: &BTreeMap<String, Vec<u8>>,
    name: &str,
    size: u64,
    root: &crate::log::merkle::Hash,
    export: Option<&crate::log::note::Checkpoint>,
) -> bool {
    let (Some(text), Some(new)) = (small.get(name), export) else {
        return false;
    };
    let text = String::from_utf8_lossy(text);
    let Ok((old, hashes, new_note)) = proof::parse_consistency(&text) else {
        return false;
    };
    let same_note = small.get("checkpoint.note").map(|n| n.as_slice()) == Some(new_note.as_bytes());
    same_note
        && old == size
        && (old == new.size && *root == new.root && hashes.is_empty()
            || crate::log::merkle::verify_consistency(old, new.size, root, &new.root, &hashes))
}

/// Does the proof file `name` prove `c`'s seal in the checkpoint with `root`?
fn proves_seal(
    small: &BTreeMap<String, Vec<u8>>,
    name: &str,
    verifier: &crate::log::note::NoteVerifier,
    root: &crate::log::merkle::Hash,
    c: &BundleClip,
) -> bool {
    small
        .get(name)
        .and_then(|t| proof::verify(&String::from_utf8_lossy(t), verifier).ok())
        .is_some_and(|v| {
            v.checkpoint.root == *root
                && Some(v.line) == sealed_line(c)
                && matches!(v.record.body, crate::log::Body::ClipSealed { .. })
        })
}

/// Does `c` claim to end more than the tolerance after `time` (Unix seconds)?
fn ends_after(c: &BundleClip, time: i64) -> bool {
    c.ended_at
        .as_deref()
        .and_then(seconds)
        .is_some_and(|e| e > time + TOLERANCE_S)
}

/// An independent proof that a clip existed: a time-stamp or a cosignature of a party the
/// reviewer gave, covering its seal.
#[derive(Debug, Clone, PartialEq)]
pub struct Proof {
    pub clip: u64,
    /// Unix seconds.
    pub time: i64,
    /// "time-stamp by <TSA>" or "witness <name> (key ID <id>)".
    pub by: String,
}

/// What checking a bundle's anchors found.
pub(super) struct Checked {
    pub problems: Vec<(String, String)>,
    /// Each clip's time-stamp, when one checked: (clip, stamp time, by whom).
    pub proofs: Vec<Proof>,
    /// True when the TSA certificates were given to the checker, not taken from the bundle.
    pub tsa_pinned: bool,
}

/// Checks the bundle's anchors: each stamped note is signed by the station key, its token
/// checks against the TSA certificates the reviewer gave (none given: nothing is checked, and
/// no time rests on a token), its consistency proof leads
/// to the export checkpoint; each clip's seal is proven in its `after` anchor; and no time
/// contradicts a token: a clip opened after an `anchored` record cannot claim a time before
/// that token's, and a seal a TSA stamped cannot claim to end after the stamp.
pub(super) fn check(
    ev: &super::Evidence,
    small: &BTreeMap<String, Vec<u8>>,
    verifier: &crate::log::note::NoteVerifier,
    export: Option<&crate::log::note::Checkpoint>,
    pinned: Option<&[x509_cert::Certificate]>,
) -> Checked {
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut p = |f: &str, d: String| problems.push((f.to_string(), d));
    // Trust comes from the reviewer, never from the bundle: without the TSA's certificates
    // given, no token is checked (the CA the bundle carries is information, not trust).
    let Some(roots) = pinned else {
        return Checked {
            problems,
            proofs: Vec::new(),
            tsa_pinned: false,
        };
    };
    // size -> (stamp time in seconds, root)
    let mut good: BTreeMap<u64, (i64, crate::log::merkle::Hash)> = BTreeMap::new();
    for a in &ev.anchors {
        let (Some(note), Some(tsr)) = (small.get(&a.note), small.get(&a.tsr)) else {
            p(&a.note, "the anchor's note or token is missing".into());
            continue;
        };
        let text = String::from_utf8_lossy(note).into_owned();
        let cp = match verifier
            .open(&text)
            .map_err(|e| e.to_string())
            .and_then(|b| crate::log::note::Checkpoint::parse(b).map_err(|e| e.to_string()))
        {
            Ok(cp) if cp.size == a.size && cp.origin == verifier.name => cp,
            Ok(_) => {
                p(
                    &a.note,
                    format!("is not the station's checkpoint of {} lines", a.size),
                );
                continue;
            }
            Err(e) => {
                p(&a.note, format!("signature: {e}"));
                continue;
            }
        };
        match tsp::check(tsr, note, None, roots) {
            Ok(st) if st.gen_time == a.gen_time && st.tsa == a.tsa => {}
            Ok(st) => p(
                &a.tsr,
                format!(
                    "says {} by {}, not as evidence.json says",
                    st.gen_time, st.tsa
                ),
            ),
            Err(e) => {
                p(&a.tsr, e.to_string());
                continue;
            }
        }
        let consistent = leads_to_export(small, &a.consistency, a.size, &cp.root, export);
        if !consistent {
            p(
                &a.consistency,
                "does not prove the stamped log is the start of the exported one".into(),
            );
            continue;
        }
        if let Some(t) = seconds(&a.gen_time) {
            good.insert(a.size, (t, cp.root));
        }
    }
    let mut proofs = Vec::new();
    for c in &ev.clips {
        if clip_anchors(c, small, verifier, &good, &mut p) {
            if let Some((time, _)) = c.anchors.after.and_then(|size| good.get(&size)) {
                let by = ev
                    .anchors
                    .iter()
                    .find(|a| Some(a.size) == c.anchors.after)
                    .map_or("a TSA".to_string(), |a| a.tsa.clone());
                proofs.push(Proof {
                    clip: c.clip,
                    time: *time,
                    by: format!("time-stamp by {by}"),
                });
            }
        }
    }
    Checked {
        proofs,
        problems,
        tsa_pinned: pinned.is_some(),
    }
}

/// One clip's anchors, against the checked stamps; true when its stamp proves its seal.
fn clip_anchors(
    c: &BundleClip,
    small: &BTreeMap<String, Vec<u8>>,
    verifier: &crate::log::note::NoteVerifier,
    good: &BTreeMap<u64, (i64, crate::log::merkle::Hash)>,
    p: &mut dyn FnMut(&str, String),
) -> bool {
    let what = format!("clip {} of {}", c.clip, c.order);
    let mut proven = false;
    if let (Some(size), Some(name)) = (c.anchors.after, &c.anchors.after_proof) {
        let Some((time, root)) = good.get(&size) else {
            p(
                "evidence.json",
                format!("{what}: its anchor {size} does not check"),
            );
            return false;
        };
        proven = proves_seal(small, name, verifier, root, c);
        if !proven {
            p(
                name,
                format!("does not prove {what}'s seal in the stamped checkpoint {size}"),
            );
        }
        if ends_after(c, *time) {
            p(
                "evidence.json",
                format!("{what} claims to end at {}, after the TSA stamped a log that already held its seal: the station clock was ahead, or the log was re-dated", c.ended_at.as_deref().unwrap_or("?")),
            );
        }
    }
    let Some(line) = c.anchors.anchored_line else {
        return proven;
    };
    let rec = small
        .get(&format!("records/line-{line}.jsonl"))
        .and_then(|b| serde_json::from_slice::<crate::log::Record>(b).ok());
    let Some(crate::log::Record {
        seq,
        body: crate::log::Body::Anchored { size, sha256, .. },
        ..
    }) = rec
    else {
        p(
            "evidence.json",
            format!("{what}: line {line} is not an anchored record"),
        );
        return proven;
    };
    let token = small
        .get(&format!("anchors/{size}.tsr"))
        .map(|b| crate::digest::sha256_hex(b));
    let Some((time, _)) = good
        .get(&size)
        .filter(|_| token.as_deref() == Some(sha256.as_str()))
    else {
        p(
            &format!("records/line-{line}.jsonl"),
            format!("names a token the bundle does not carry, or one that does not check (anchor {size})"),
        );
        return proven;
    };
    if seq >= c.clip {
        p(
            "evidence.json",
            format!("{what}: its anchored record is not before it"),
        );
    }
    if seconds(&c.scanned_at).is_some_and(|s| s + TOLERANCE_S < *time) {
        p(
            "evidence.json",
            format!(
                "{what} claims it was scanned at {}, but it was opened after line {line}, written once a TSA had stamped the log at a later time: the log was re-dated (or the station clock set back)",
                c.scanned_at
            ),
        );
    }
    proven
}

/// Checks the cosignatures of the witnesses given (`verify-bundle --witness KEY`): each clip's
/// seal must be in a checkpoint that witness cosigned (signed by the station, consistent with
/// the export checkpoint), and no clip may claim to end after that cosignature. Returns the
/// problems and, per witness, the line of what it proves.
pub(super) fn check_cosigned(
    ev: &super::Evidence,
    small: &BTreeMap<String, Vec<u8>>,
    verifier: &crate::log::note::NoteVerifier,
    export: Option<&crate::log::note::Checkpoint>,
    witnesses: &[String],
) -> (Vec<(String, String)>, Vec<String>, Vec<Proof>) {
    use crate::anchor::cosign::WitnessVerifier;
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut lines = Vec::new();
    let mut proofs = Vec::new();
    for key in witnesses {
        let Ok(w) = WitnessVerifier::parse(key) else {
            problems.push((
                "(--witness)".into(),
                format!("{key:?} is not a witness key"),
            ));
            continue;
        };
        let id = crate::anchor::witness_client::witness_id(key);
        // size -> (cosignature time, root)
        let mut good: BTreeMap<u64, (i64, crate::log::merkle::Hash)> = BTreeMap::new();
        for info in ev.witnessed.iter().filter(|i| i.key_id == id) {
            let text = small
                .get(&info.note)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            let cp = verifier
                .open(&text)
                .ok()
                .and_then(|b| crate::log::note::Checkpoint::parse(b).ok())
                .filter(|cp| cp.size == info.size);
            let time = w.cosigned(&text);
            let (Some(cp), Some(time)) = (cp, time) else {
                problems.push((
                    info.note.clone(),
                    format!(
                        "is not the station's checkpoint cosigned by witness {}",
                        w.name
                    ),
                ));
                continue;
            };
            let consistent = leads_to_export(small, &info.consistency, cp.size, &cp.root, export);
            if !consistent {
                problems.push((
                    info.consistency.clone(),
                    "does not prove the cosigned log is the start of the exported one".into(),
                ));
                continue;
            }
            good.insert(
                info.size,
                (i64::try_from(time).unwrap_or(i64::MAX), cp.root),
            );
        }
        let mut latest = None;
        for c in &ev.clips {
            let what = format!("clip {} of {}", c.clip, c.order);
            let Some(cc) = c.anchors.cosigned.iter().find(|cc| cc.witness == id) else {
                problems.push((
                    "evidence.json".into(),
                    format!("{what} is in no checkpoint witness {} cosigned (a log the witness never saw, or a fork it refused)", w.name),
                ));
                continue;
            };
            let Some((time, root)) = good.get(&cc.size) else {
                problems.push((
                    "evidence.json".into(),
                    format!("{what}: its cosigned checkpoint does not check"),
                ));
                continue;
            };
            if proves_seal(small, &cc.proof, verifier, root, c) {
                proofs.push(Proof {
                    clip: c.clip,
                    time: *time,
                    by: format!("witness {} (key ID {})", w.name, w.key_id()),
                });
            } else {
                problems.push((
                    cc.proof.clone(),
                    format!("does not prove {what}'s seal in the cosigned checkpoint"),
                ));
            }
            if ends_after(c, *time) {
                problems.push((
                    "evidence.json".into(),
                    format!("{what} claims to end after witness {} cosigned a log holding its seal: the log was re-dated", w.name),
                ));
            }
            latest = latest.max(Some(*time));
        }
        if let Some(t) = latest {
            let when = crate::clock::utc_seconds(u64::try_from(t).unwrap_or(0));
            lines.push(format!(
                "cosigned by witness {} (key ID {}): every clip's seal was in a log it saw, consistent with all it saw before, no later than {when}",
                w.name,
                w.key_id()
            ));
        }
    }
    (problems, lines, proofs)
}
