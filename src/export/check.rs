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

/// The files of a bundle: the SHA-256 of each, and the bytes of the small ones (not clips).
struct Files {
    hashes: BTreeMap<String, String>,
    small: BTreeMap<String, Vec<u8>>,
}

impl Files {
    /// Reads every entry of the zip (clips streamed through SHA-256).
    fn read(path: &Path) -> Result<Files, Error> {
        let file = std::fs::File::open(path)
            .map_err(|e| bad(path, format!("cannot open the bundle: {e}")))?;
        let mut zip =
            zip::ZipArchive::new(file).map_err(|e| bad(path, format!("not a zip file: {e}")))?;
        let mut files = Files {
            hashes: BTreeMap::new(),
            small: BTreeMap::new(),
        };
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
                files.hashes.insert(name, sha);
            } else {
                let mut bytes = Vec::new();
                f.read_to_end(&mut bytes)
                    .map_err(|e| bad(path, format!("{name} cannot be read: {e}")))?;
                files
                    .hashes
                    .insert(name.clone(), digest::sha256_hex(&bytes));
                files.small.insert(name, bytes);
            }
        }
        Ok(files)
    }

    fn text(&self, name: &str) -> Option<String> {
        self.small
            .get(name)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// evidence.json, if it is one this program reads.
    fn evidence(&self) -> Result<Evidence, String> {
        let b = self
            .small
            .get("evidence.json")
            .ok_or("missing: not a packwitness bundle?")?;
        let ev = serde_json::from_slice::<Evidence>(b).map_err(|e| format!("not valid: {e}"))?;
        if ev.format == FORMAT && ev.version == VERSION {
            Ok(ev)
        } else {
            Err(format!(
                "bundle format {} version {} (this program reads {FORMAT} {VERSION})",
                ev.format, ev.version
            ))
        }
    }
}

/// An evidence.json that could not be read: the rest is still checked against the bundle's
/// station.pub, so that the report names what is wrong.
fn unreadable_evidence(files: &Files) -> Evidence {
    Evidence {
        format: FORMAT.into(),
        version: VERSION,
        code: String::new(),
        exported_at: String::new(),
        exported_by: String::new(),
        software: String::new(),
        station_key: files
            .text("station.pub")
            .unwrap_or_default()
            .trim()
            .to_string(),
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

/// One check of one bundle: its files, the key it is checked with, what was found.
struct Checker {
    files: Files,
    verifier: NoteVerifier,
    checkpoint: Option<Checkpoint>,
    problems: Vec<BundleProblem>,
    records_proven: u64,
}

impl Checker {
    fn problem(&mut self, file: &str, detail: String) {
        self.problems.push(BundleProblem {
            file: file.to_string(),
            detail,
        });
    }

    /// Step 1, the signed list of files: every file listed, unchanged, and nothing added.
    fn file_list(&mut self) {
        let body = match self
            .files
            .text("bundle.note")
            .map(|n| self.verifier.open(&n).map(str::to_string))
        {
            None => return self.problem("bundle.note", "missing".into()),
            Some(Err(e)) => return self.problem("bundle.note", format!("signature: {e}")),
            Some(Ok(body)) => body,
        };
        let mut lines = body.lines();
        if lines.next() != Some(BUNDLE_NOTE_HEADER) {
            self.problem("bundle.note", "not a packwitness-bundle v1 list".into());
        }
        let listed: BTreeMap<String, String> = lines
            .filter_map(|l| l.split_once("  "))
            .map(|(sha, name)| (name.to_string(), sha.to_string()))
            .collect();
        for (name, sha) in &listed {
            match self.files.hashes.get(name).cloned() {
                None => self.problem(name, "listed in bundle.note but missing".into()),
                Some(h) if h != *sha => self.problem(
                    name,
                    format!("changed after export: SHA-256 {h}, signed list says {sha}"),
                ),
                Some(_) => {}
            }
        }
        let added: Vec<String> = self
            .files
            .hashes
            .keys()
            .filter(|n| *n != "bundle.note" && !listed.contains_key(*n))
            .cloned()
            .collect();
        for name in added {
            self.problem(
                &name,
                "not in the signed list of bundle.note: added after export".into(),
            );
        }
    }

    /// Step 2, the checkpoint: signed by the key, and the one evidence.json names.
    fn checkpoint(&mut self, ev: &Evidence) {
        let note = self.files.text("checkpoint.note").unwrap_or_default();
        self.checkpoint = match self.verifier.open(&note) {
            Ok(body) => Checkpoint::parse(body).ok(),
            Err(e) => {
                self.problem("checkpoint.note", format!("signature: {e}"));
                None
            }
        };
        if let Some(cp) = &self.checkpoint {
            if !ev.code.is_empty()
                && (cp.size != ev.checkpoint.size || b64(&cp.root) != ev.checkpoint.root)
            {
                self.problem(
                    "evidence.json",
                    "its checkpoint is not the signed one".into(),
                );
            }
        }
    }

    /// Step 3, a cited record: its proof verifies against checkpoint.note, for its line, and
    /// the record file is the line proven. Returns the proven record.
    fn record(&mut self, r: &RecordRef) -> Option<Record> {
        let Some(proof_text) = self.files.text(&r.proof) else {
            self.problem(&r.proof, "missing".into());
            return None;
        };
        let v = match proof::verify(&proof_text, &self.verifier) {
            Ok(v) => v,
            Err(e) => {
                self.problem(&r.proof, e.to_string());
                return None;
            }
        };
        if self
            .checkpoint
            .as_ref()
            .is_some_and(|c| c.root != v.checkpoint.root)
        {
            self.problem(
                &r.proof,
                "proves against another checkpoint than checkpoint.note".into(),
            );
        }
        if v.line != r.line {
            self.problem(
                &r.proof,
                format!("proves line {}, not line {}", v.line, r.line),
            );
        }
        if self.files.small.get(&r.record) != Some(&v.entry) {
            self.problem(&r.record, "is not the record line its proof proves".into());
        }
        self.records_proven += 1;
        Some(v.record)
    }

    /// The proven records of a clip; returns its proven seal (sha256), if any.
    fn clip_records(&mut self, c: &super::BundleClip) -> Option<String> {
        let mut sealed = None;
        for r in &c.records {
            let Some(rec) = self.record(r) else {
                continue;
            };
            match &rec.body {
                Body::ClipOpened { order, .. } => {
                    if rec.seq != c.clip || *order != c.order {
                        self.problem(
                            &r.record,
                            format!("is not the opening of clip {} of {}", c.clip, c.order),
                        );
                    }
                }
                Body::StationStart {
                    station,
                    cameras,
                    sources,
                    ..
                } => {
                    let source = cameras
                        .iter()
                        .position(|cam| *cam == c.camera)
                        .and_then(|i| sources.get(i));
                    let test = source
                        .is_some_and(|s| crate::media::SourceSpec::parse(s).is_test_pattern());
                    if *station != c.station || test != c.test_pattern {
                        self.problem(
                            &r.record,
                            format!(
                                "is not the start of station {} naming camera {}'s source as evidence.json says",
                                c.station, c.camera
                            ),
                        );
                    }
                }
                Body::CodeAttached { clip, code, .. } => {
                    if *clip != c.clip || !c.codes.contains(code) {
                        self.problem(
                            &r.record,
                            format!("attaches {code} to clip {clip}, not as evidence.json says"),
                        );
                    }
                }
                Body::ClipSealed { clip, sha256, .. } => {
                    if *clip != c.clip {
                        self.problem(&r.record, format!("seals clip {clip}, not clip {}", c.clip));
                    }
                    sealed = Some(sha256.clone());
                }
                _ => self.problem(&r.record, "is not a clip record".into()),
            }
        }
        sealed
    }

    /// A clip file against its proven seal; true when it matches. Adds its line to
    /// `sealed_sums`.
    fn clip_file(
        &mut self,
        c: &super::BundleClip,
        sealed: Option<String>,
        sums: &mut String,
    ) -> bool {
        let Some(name) = &c.file else { return false };
        let Some(sha) = sealed else {
            self.problem(name, "no proven clip_sealed record for it".into());
            return false;
        };
        sums.push_str(&format!("{sha}  {name}\n"));
        if c.sha256.as_deref() != Some(sha.as_str()) {
            self.problem(
                "evidence.json",
                format!("clip {}: its sha256 is not the sealed record's", c.clip),
            );
        }
        match self.files.hashes.get(name).cloned() {
            None => self.problem(name, "missing".into()),
            Some(h) if h != sha => self.problem(
                name,
                format!("SHA-256 {h}, but the sealed record (proven in the signed log) says {sha}"),
            ),
            Some(_) => return true,
        }
        false
    }

    /// The export's own access record, proven like the others.
    fn access(&mut self, line: u64) {
        let r = RecordRef {
            line,
            kind: "access".into(),
            record: format!("records/line-{line}.jsonl"),
            proof: format!("proofs/line-{line}.tlog-proof"),
        };
        if let Some(rec) = self.record(&r) {
            if !matches!(rec.body, Body::Access { .. }) {
                self.problem(&r.record, "is not an access record".into());
            }
        }
    }
}

/// Checks a bundle offline. `key` pins the station key (otherwise the bundle's own is used and
/// reported, to be compared with the published one).
pub fn verify_bundle(path: &Path, key: Option<&str>) -> Result<BundleReport, Error> {
    let files = Files::read(path)?;
    let mut problems = Vec::new();
    let ev = files.evidence().unwrap_or_else(|e| {
        problems.push(BundleProblem {
            file: "evidence.json".into(),
            detail: e,
        });
        unreadable_evidence(&files)
    });
    let key_text = key.map(str::to_string).unwrap_or(ev.station_key.clone());
    let verifier = NoteVerifier::parse(&key_text)?;
    let mut ck = Checker {
        files,
        verifier,
        checkpoint: None,
        problems,
        records_proven: 0,
    };
    if ck.files.text("station.pub").map(|t| t.trim().to_string())
        != Some(key_text.trim().to_string())
    {
        ck.problem(
            "station.pub",
            "is not the station key the bundle is checked with".into(),
        );
    }
    ck.file_list();
    ck.checkpoint(&ev);
    let (mut clips_ok, mut clips_pruned) = (0, 0);
    let mut sums = String::new();
    for c in &ev.clips {
        let sealed = ck.clip_records(c);
        if c.pruned {
            clips_pruned += 1;
        } else if ck.clip_file(c, sealed, &mut sums) {
            clips_ok += 1;
        }
    }
    if let Some(line) = ev.access_line {
        ck.access(line);
    }
    if ck.files.text("SHA256SUMS").as_deref() != Some(sums.as_str()) {
        ck.problem(
            "SHA256SUMS",
            "does not list the clips with their sealed hashes".into(),
        );
    }
    if ev.clips.is_empty() && !ev.code.is_empty() {
        ck.problem("evidence.json", "lists no clips".into());
    }
    Ok(BundleReport {
        code: ev.code,
        station_key: key_text,
        clips_ok,
        clips_pruned,
        records_proven: ck.records_proven,
        checkpoint_size: ck.checkpoint.map_or(0, |c| c.size),
        problems: ck.problems,
    })
}
