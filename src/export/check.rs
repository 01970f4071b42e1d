//! Checking a bundle: `packwitness verify-bundle`, offline, with nothing from the station.
//!
//! Owns: reading a bundle zip, checking the signed list of files, the checkpoint signature,
//! every cited record's inclusion proof, and every clip against its proven `clip_sealed`
//! record; each problem named by the bundle file it is about.
//! Never: trusts the bundle's `evidence.json` for anything it can check against a proof.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::Serialize;

use super::{bad, CheckpointInfo, Evidence, RecordRef, BUNDLE_NOTE_HEADER, FORMAT, VERSION};
use crate::digest;
use crate::error::Error;
use crate::log::note::{b64, Checkpoint, NoteVerifier};
use crate::log::{proof, Body, Record};

/// A problem found in a bundle.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BundleProblem {
    /// The file of the bundle that is wrong (or missing).
    pub file: String,
    pub detail: String,
}

/// The result of `verify-bundle`.
#[derive(Debug, Clone, Serialize)]
pub struct BundleReport {
    pub code: String,
    pub station_key: String,
    pub clips_ok: u64,
    pub clips_pruned: u64,
    pub records_proven: u64,
    pub checkpoint_size: u64,
    pub problems: Vec<BundleProblem>,
}

impl BundleReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks a bundle offline. `key` pins the station key (otherwise the bundle's own is used and
/// reported, to be compared with the published one).
pub fn verify_bundle(path: &Path, key: Option<&str>) -> Result<BundleReport, Error> {
    let file =
        std::fs::File::open(path).map_err(|e| bad(path, format!("cannot open the bundle: {e}")))?;
    let mut zip =
        zip::ZipArchive::new(file).map_err(|e| bad(path, format!("not a zip file: {e}")))?;
    let mut problems = Vec::new();
    let mut problem = |file: &str, detail: String| {
        problems.push(BundleProblem {
            file: file.to_string(),
            detail,
        })
    };
    // Every file, hashed (clips streamed).
    let mut hashes = BTreeMap::new();
    let mut small = BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| bad(path, format!("entry {i} cannot be read: {e}")))?;
        if f.is_dir() {
            continue;
        }
        let name = f
            .name()
            .map_err(|e| bad(path, format!("entry {i} has a bad name: {e}")))?
            .into_owned();
        if name.starts_with("clips/") {
            let (sha, _) = digest::sha256_reader(&mut f)
                .map_err(|e| bad(path, format!("{name} cannot be read: {e}")))?;
            hashes.insert(name, sha);
        } else {
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)
                .map_err(|e| bad(path, format!("{name} cannot be read: {e}")))?;
            hashes.insert(name.clone(), digest::sha256_hex(&bytes));
            small.insert(name, bytes);
        }
    }
    let text = |name: &str| -> Option<String> {
        small
            .get(name)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    // evidence.json is checked like every file; when it cannot be read, the rest is still
    // checked against the bundle's station.pub so that the report names what is wrong.
    let parsed: Result<Evidence, String> = match small.get("evidence.json") {
        None => Err("missing: not a packwitness bundle?".into()),
        Some(b) => serde_json::from_slice::<Evidence>(b)
            .map_err(|e| format!("not valid: {e}"))
            .and_then(|ev| {
                if ev.format == FORMAT && ev.version == VERSION {
                    Ok(ev)
                } else {
                    Err(format!(
                        "bundle format {} version {} (this program reads {FORMAT} {VERSION})",
                        ev.format, ev.version
                    ))
                }
            }),
    };
    let ev = match parsed {
        Ok(ev) => ev,
        Err(e) => {
            problem("evidence.json", e);
            Evidence {
                format: FORMAT.into(),
                version: VERSION,
                code: String::new(),
                exported_at: String::new(),
                exported_by: String::new(),
                software: String::new(),
                station_key: text("station.pub").unwrap_or_default().trim().to_string(),
                checkpoint: CheckpointInfo {
                    size: 0,
                    root: String::new(),
                    time: None,
                    file: "checkpoint.note".into(),
                },
                clips: Vec::new(),
                access_line: None,
            }
        }
    };
    let key_text = key.map(str::to_string).unwrap_or(ev.station_key.clone());
    let verifier = NoteVerifier::parse(&key_text)?;
    if text("station.pub").map(|t| t.trim().to_string()) != Some(key_text.trim().to_string()) {
        problem(
            "station.pub",
            "is not the station key the bundle is checked with".into(),
        );
    }
    // 1. The signed list of files.
    match text("bundle.note").map(|n| verifier.open(&n).map(str::to_string)) {
        None => problem("bundle.note", "missing".into()),
        Some(Err(e)) => problem("bundle.note", format!("signature: {e}")),
        Some(Ok(body)) => {
            let mut lines = body.lines();
            if lines.next() != Some(BUNDLE_NOTE_HEADER) {
                problem("bundle.note", "not a packwitness-bundle v1 list".into());
            }
            let mut listed = BTreeMap::new();
            for l in lines {
                if let Some((sha, name)) = l.split_once("  ") {
                    listed.insert(name.to_string(), sha.to_string());
                }
            }
            for (name, sha) in &listed {
                match hashes.get(name) {
                    None => problem(name, "listed in bundle.note but missing".into()),
                    Some(h) if h != sha => problem(
                        name,
                        format!("changed after export: SHA-256 {h}, signed list says {sha}"),
                    ),
                    Some(_) => {}
                }
            }
            for name in hashes.keys() {
                if name != "bundle.note" && !listed.contains_key(name) {
                    problem(
                        name,
                        "not in the signed list of bundle.note: added after export".into(),
                    );
                }
            }
        }
    }
    // 2. The checkpoint.
    let note = text("checkpoint.note").unwrap_or_default();
    let cp = match verifier.open(&note) {
        Ok(body) => Checkpoint::parse(body).ok(),
        Err(e) => {
            problem("checkpoint.note", format!("signature: {e}"));
            None
        }
    };
    if let Some(cp) = &cp {
        if !ev.code.is_empty()
            && (cp.size != ev.checkpoint.size || b64(&cp.root) != ev.checkpoint.root)
        {
            problem(
                "evidence.json",
                "its checkpoint is not the signed one".into(),
            );
        }
    }
    // 3. Every cited record is in the signed log, and the clips match their sealed records.
    let mut records_proven = 0;
    let mut check_record =
        |r: &RecordRef, problem: &mut dyn FnMut(&str, String)| -> Option<Record> {
            let Some(proof_text) = text(&r.proof) else {
                problem(&r.proof, "missing".into());
                return None;
            };
            let v = match proof::verify(&proof_text, &verifier) {
                Ok(v) => v,
                Err(e) => {
                    problem(&r.proof, e.to_string());
                    return None;
                }
            };
            if cp.as_ref().is_some_and(|c| c.root != v.checkpoint.root) {
                problem(
                    &r.proof,
                    "proves against another checkpoint than checkpoint.note".into(),
                );
            }
            if v.line != r.line {
                problem(
                    &r.proof,
                    format!("proves line {}, not line {}", v.line, r.line),
                );
            }
            if small.get(&r.record) != Some(&v.entry) {
                problem(&r.record, "is not the record line its proof proves".into());
            }
            records_proven += 1;
            Some(v.record)
        };
    let (mut clips_ok, mut clips_pruned) = (0, 0);
    let mut sealed_sums = String::new();
    for c in &ev.clips {
        let mut sealed = None;
        for r in &c.records {
            let Some(rec) = check_record(r, &mut problem) else {
                continue;
            };
            match &rec.body {
                Body::ClipOpened { order, .. } => {
                    if rec.seq != c.clip || *order != c.order {
                        problem(
                            &r.record,
                            format!("is not the opening of clip {} of {}", c.clip, c.order),
                        );
                    }
                }
                Body::CodeAttached { clip, code, .. } => {
                    if *clip != c.clip || !c.codes.contains(code) {
                        problem(
                            &r.record,
                            format!("attaches {code} to clip {clip}, not as evidence.json says"),
                        );
                    }
                }
                Body::ClipSealed {
                    clip, sha256, size, ..
                } => {
                    if *clip != c.clip {
                        problem(&r.record, format!("seals clip {clip}, not clip {}", c.clip));
                    }
                    sealed = Some((sha256.clone(), *size));
                }
                _ => problem(&r.record, "is not a clip record".into()),
            }
        }
        if c.pruned {
            clips_pruned += 1;
            continue;
        }
        let Some(name) = &c.file else { continue };
        let Some((sha, _size)) = sealed else {
            problem(name, "no proven clip_sealed record for it".into());
            continue;
        };
        sealed_sums.push_str(&format!("{sha}  {name}\n"));
        if c.sha256.as_deref() != Some(sha.as_str()) {
            problem(
                "evidence.json",
                format!("clip {}: its sha256 is not the sealed record's", c.clip),
            );
        }
        match hashes.get(name) {
            None => problem(name, "missing".into()),
            Some(h) if *h != sha => problem(
                name,
                format!("SHA-256 {h}, but the sealed record (proven in the signed log) says {sha}"),
            ),
            Some(_) => clips_ok += 1,
        }
    }
    if let Some(line) = ev.access_line {
        let r = RecordRef {
            line,
            kind: "access".into(),
            record: format!("records/line-{line}.jsonl"),
            proof: format!("proofs/line-{line}.tlog-proof"),
        };
        if let Some(rec) = check_record(&r, &mut problem) {
            if !matches!(rec.body, Body::Access { .. }) {
                problem(&r.record, "is not an access record".into());
            }
        }
    }
    if text("SHA256SUMS").as_deref() != Some(sealed_sums.as_str()) {
        problem(
            "SHA256SUMS",
            "does not list the clips with their sealed hashes".into(),
        );
    }
    if ev.clips.is_empty() && !ev.code.is_empty() {
        problem("evidence.json", "lists no clips".into());
    }
    Ok(BundleReport {
        code: ev.code,
        station_key: key_text,
        clips_ok,
        clips_pruned,
        records_proven,
        checkpoint_size: cp.map_or(0, |c| c.size),
        problems,
    })
}
