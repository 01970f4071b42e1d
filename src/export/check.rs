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

use super::{bad, CheckpointInfo, Evidence, RecordRef, BUNDLE_NOTE_HEADER, FORMAT, READS, VERSION};
use crate::anchor::cosign::WitnessVerifier;
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
    /// True when the station key was given (`--key`): only then does a clean report mean the
    /// bundle is the station's; otherwise it is only consistent with the key it carries.
    pub pinned: bool,
    /// The stamped checkpoints the bundle carries, and whether their TSA certificates were
    /// given (`--tsa-ca`) rather than taken from the bundle.
    pub anchors: u64,
    pub tsa_pinned: bool,
    /// What each witness given (`--witness`) proves, one line each.
    pub witnessed: Vec<String>,
    /// Each MP4 made for upload from the clips, as its proven record says (file, SHA-256).
    pub uploads: Vec<String>,
    /// What the bundle proves, in one line, from its proven records.
    pub statement: String,
    pub clips_ok: u64,
    pub clips_pruned: u64,
    pub records_proven: u64,
    pub checkpoint_size: u64,
    /// Every clip's claimed time proven by a party the reviewer gave, within `max_delay_s`
    /// of its end; and a line per clip saying how.
    pub time_proven: bool,
    pub times: Vec<String>,
    pub max_delay_s: i64,
    /// A bundle made at the archive (`archive export`): which archive, and whether its key
    /// was given (`--witness`). The list of the order's clips is then the archive's word.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub made_at: Option<String>,
    /// The content credentials (C2PA) of the signed copies and stills, a line per file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<String>,
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
        if ev.format == FORMAT && READS.contains(&ev.version) {
            Ok(ev)
        } else {
            Err(format!(
                "bundle format {} version {} (this program reads {FORMAT} 1 to {VERSION})",
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
        order_records: Vec::new(),
        statement: String::new(),
        anchors: Vec::new(),
        witnessed: Vec::new(),
        uploads: Vec::new(),
        archive_key: None,
        credentials_signer: None,
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

    /// Step 1, the signed list of files: every file listed, unchanged, and nothing added;
    /// signed by the station, or cosigned by the archive that made the bundle (`archive`).
    fn file_list(&mut self, archive: Option<&WitnessVerifier>) {
        let opened = self.files.text("bundle.note").map(|n| match archive {
            None => self
                .verifier
                .open(&n)
                .map(str::to_string)
                .map_err(|e| e.to_string()),
            Some(w) => match (w.cosigned(&n), n.rfind("\n\n")) {
                (Some(_), Some(i)) => Ok(n[..i + 1].to_string()),
                _ => Err(format!("no valid cosignature by the archive {}", w.name)),
            },
        });
        let body = match opened {
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

    /// The proven records of a clip: its opening, its seal, the codes attached to it.
    fn clip_records(&mut self, c: &super::BundleClip) -> ProvenClip {
        let mut p = ProvenClip::default();
        for r in &c.records {
            let Some(rec) = self.record(r) else {
                continue;
            };
            match &rec.body {
                Body::ClipOpened {
                    order,
                    test_pattern,
                    ..
                } => {
                    if rec.seq != c.clip || *order != c.order {
                        self.problem(
                            &r.record,
                            format!("is not the opening of clip {} of {}", c.clip, c.order),
                        );
                    }
                    if test_pattern.is_some_and(|t| t != c.test_pattern) {
                        self.problem(
                            &r.record,
                            format!(
                                "says clip {} is {}from a test pattern, evidence.json that it is {}",
                                c.clip,
                                if c.test_pattern { "not " } else { "" },
                                if c.test_pattern { "" } else { "not" }
                            ),
                        );
                    }
                    p.opened = Some(rec);
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
                    } else {
                        p.codes.push(code.clone());
                    }
                }
                Body::ClipSealed { clip, .. } => {
                    if *clip != c.clip {
                        self.problem(&r.record, format!("seals clip {clip}, not clip {}", c.clip));
                    }
                    p.sealed = Some(rec);
                }
                Body::Anchored { .. } if c.anchors.anchored_line == Some(rec.seq) => {}
                Body::Pruned { clip, .. } => {
                    if *clip != c.clip {
                        self.problem(
                            &r.record,
                            format!("prunes clip {clip}, not clip {}", c.clip),
                        );
                    }
                    p.pruned = true;
                }
                _ => self.problem(&r.record, "is not a clip record".into()),
            }
        }
        p
    }

    /// A clip's proven records against the order on the bundle and what evidence.json says
    /// of it: opened and sealed, of the order (or carrying its code), the same times.
    fn clip_belongs(&mut self, code: &str, c: &super::BundleClip, p: &ProvenClip) {
        let what = format!("clip {} of {}", c.clip, c.order);
        let Some(Body::ClipOpened {
            order,
            station,
            camera,
            started_at,
            clock_synced,
            ..
        }) = p.opened.as_ref().map(|r| &r.body)
        else {
            return self.problem(
                "evidence.json",
                format!("{what}: no proven clip_opened record: the clip's start is not shown"),
            );
        };
        if !code.is_empty() && order != code && !p.codes.iter().any(|k| k == code) {
            self.problem(
                "evidence.json",
                format!("{what}: the proven records are of order {order}, and no proven record attaches {code} to it: not the order on the bundle"),
            );
        }
        if *station != c.station
            || *camera != c.camera
            || *started_at != c.started_at
            || *clock_synced != c.clock_synced
        {
            self.problem(
                "evidence.json",
                format!("{what}: its station, camera, start or clock status is not the proven clip_opened record's"),
            );
        }
        match p.sealed.as_ref().map(|r| &r.body) {
            Some(Body::ClipSealed {
                ended_at,
                duration_ms,
                frames,
                size,
                dropped_frames,
                presets,
                ..
            }) => {
                // Frames left out and preset steps are optional in evidence.json (absent in
                // bundles made before them): only what it states must be the record's.
                if c.ended_at.as_ref() != Some(ended_at)
                    || c.duration_ms != Some(*duration_ms)
                    || c.frames != Some(*frames)
                    || c.size != Some(*size)
                    || (c.dropped_frames.is_some() && c.dropped_frames != *dropped_frames)
                    || (!c.presets.is_empty() && c.presets != *presets)
                {
                    self.problem(
                        "evidence.json",
                        format!("{what}: its end, duration, frames, size, frames left out or preset steps are not the proven clip_sealed record's"),
                    );
                }
            }
            _ => self.problem(
                "evidence.json",
                format!("{what}: no proven clip_sealed record: exported while recording, or the seal was left out"),
            ),
        }
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

    /// The export's own access record, proven like the others: the code on the bundle, and
    /// every clip the order had when it was exported (a clip left out is named).
    fn access(&mut self, ev: &Evidence) {
        if ev.access_line.is_none() && ev.archive_key.is_some() {
            // Made at the archive: the station wrote no record of this export; the list of
            // the order's clips is the archive's, in the evidence.json it cosigned.
            return;
        }
        let Some(line) = ev.access_line else {
            return self.problem(
                "evidence.json",
                "names no access record: nothing shows which clips the order had".into(),
            );
        };
        let r = RecordRef {
            line,
            kind: "access".into(),
            record: format!("records/line-{line}.jsonl"),
            proof: format!("proofs/line-{line}.tlog-proof"),
        };
        let Some(rec) = self.record(&r) else { return };
        let Body::Access { code, clips, .. } = &rec.body else {
            return self.problem(&r.record, "is not an access record".into());
        };
        if *code != ev.code {
            self.problem(
                &r.record,
                format!(
                    "the export was of {code}, not of {} as the bundle says",
                    ev.code
                ),
            );
        }
        let listed: std::collections::BTreeSet<u64> = ev.clips.iter().map(|c| c.clip).collect();
        let recorded: std::collections::BTreeSet<u64> = clips.iter().copied().collect();
        for missing in recorded.difference(&listed) {
            self.problem(
                "evidence.json",
                format!(
                    "clip {missing} of the order (its access record lists it) is not in the bundle"
                ),
            );
        }
        for extra in listed.difference(&recorded) {
            self.problem(
                "evidence.json",
                format!("clip {extra} is not one the access record lists"),
            );
        }
    }

    /// The MP4s made for upload: proven `upload_mp4` records made from this bundle's clips
    /// as sealed (the same SHA-256). A line each for the reviewer.
    fn uploads(&mut self, ev: &Evidence) -> Vec<String> {
        let mut out = Vec::new();
        for r in &ev.uploads {
            let Some(rec) = self.record(r) else { continue };
            let Body::Access {
                action,
                derived: Some(d),
                who,
                to,
                ..
            } = &rec.body
            else {
                self.problem(
                    &r.record,
                    "is not the record of an MP4 made for upload".into(),
                );
                continue;
            };
            if action != "upload_mp4" {
                self.problem(
                    &r.record,
                    format!("is an access of action {action:?}, not upload_mp4"),
                );
                continue;
            }
            for s in &d.sources {
                match ev.clips.iter().find(|c| c.clip == s.clip) {
                    Some(c) if c.sha256.as_deref() == Some(s.sha256.as_str()) => {}
                    Some(_) => self.problem(
                        &r.record,
                        format!("names clip {} with another SHA-256 than its seal", s.clip),
                    ),
                    None => self.problem(
                        &r.record,
                        format!("names clip {}, which is not in this bundle", s.clip),
                    ),
                }
            }
            let clips: Vec<String> = d.sources.iter().map(|s| s.clip.to_string()).collect();
            out.push(format!(
                "MP4 for upload {}: SHA-256 {}, {} bytes, made {} by {} from clip(s) {} (line {}); a file with this SHA-256 is that MP4",
                to.as_deref().unwrap_or("(unnamed)"),
                d.sha256,
                d.size,
                rec.at,
                who,
                clips.join(", "),
                r.line
            ));
        }
        out
    }

    /// The records about the order beyond its clips (version 2): proven, and of the order.
    fn order_records(&mut self, ev: &Evidence) {
        let orders: Vec<&str> = ev.clips.iter().map(|c| c.order.as_str()).collect();
        for r in &ev.order_records {
            let Some(rec) = self.record(r) else { continue };
            let order = match &rec.body {
                Body::Scan { order, .. } => order.clone(),
                Body::NoVideo { order, .. }
                | Body::CameraGap { order, .. }
                | Body::OrderResumed { order, .. } => Some(order.clone()),
                _ => {
                    self.problem(&r.record, "is not a record about an order".into());
                    continue;
                }
            };
            if order.is_some_and(|o| o != ev.code && !orders.contains(&o.as_str())) {
                self.problem(&r.record, "is about another order".into());
            }
        }
    }
}

/// A clip's records, as proven.
#[derive(Default)]
struct ProvenClip {
    opened: Option<Record>,
    sealed: Option<Record>,
    codes: Vec<String>,
    /// A proven `pruned` record says retention removed the file.
    pruned: bool,
}

impl ProvenClip {
    fn sealed_sha256(&self) -> Option<String> {
        match self.sealed.as_ref().map(|r| &r.body) {
            Some(Body::ClipSealed { sha256, .. }) => Some(sha256.clone()),
            _ => None,
        }
    }
}

/// Checks a bundle offline. `key` pins the station key (otherwise the bundle's own is used and
/// reported, to be compared with the published one).
pub fn verify_bundle(
    path: &Path,
    key: Option<&str>,
    tsa_ca: Option<&[u8]>,
    witnesses: &[String],
    max_delay_s: i64,
    c2pa_trust: Option<&[u8]>,
) -> Result<BundleReport, Error> {
    let tsa_roots = tsa_ca
        .map(crate::anchor::tsp::load_roots)
        .transpose()
        .map_err(|e| bad(path, format!("the TSA certificates given (--tsa-ca): {e}")))?;
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
    if ck.files.text("station.pem") != Some(super::pem(&ck.verifier)) {
        ck.problem(
            "station.pem",
            "is not the station key the bundle is checked with (openssl would check another key)"
                .into(),
        );
    }
    if ev.station_key.trim() != key_text.trim() {
        ck.problem(
            "evidence.json",
            "names another station key than the one the bundle is checked with".into(),
        );
    }
    let archive = ev
        .archive_key
        .as_deref()
        .map(|k| made_at(&mut ck, k, witnesses));
    ck.file_list(archive.as_ref().and_then(|a| a.0.as_ref()));
    ck.checkpoint(&ev);
    let (mut clips_ok, mut clips_pruned) = (0, 0);
    let mut sums = String::new();
    for c in &ev.clips {
        let proven = ck.clip_records(c);
        ck.clip_belongs(&ev.code, c, &proven);
        if c.pruned && !proven.pruned && ev.version >= 2 {
            ck.problem(
                "evidence.json",
                format!("clip {}: said pruned, but no proven pruned record says so: the clip was left out", c.clip),
            );
        }
        // A pruned clip whose bytes came back from the archive is checked like any other.
        if c.pruned && c.file.is_none() {
            clips_pruned += 1;
        } else if ck.clip_file(c, proven.sealed_sha256(), &mut sums) {
            clips_ok += 1;
        }
    }
    ck.access(&ev);
    ck.order_records(&ev);
    let uploads = ck.uploads(&ev);
    let anchored = super::anchors::check(
        &ev,
        &ck.files.small,
        &ck.verifier,
        ck.checkpoint.as_ref(),
        tsa_roots.as_deref(),
    );
    for (file, detail) in anchored.problems {
        ck.problem(&file, detail);
    }
    let (cosign_problems, witnessed, cosigned) = super::anchors::check_cosigned(
        &ev,
        &ck.files.small,
        &ck.verifier,
        ck.checkpoint.as_ref(),
        witnesses,
    );
    for (file, detail) in cosign_problems {
        ck.problem(&file, detail);
    }
    let claimed = super::statement(&ev.clips, &ev.anchors);
    if ev.version >= 2 && ev.statement != claimed {
        ck.problem(
            "evidence.json",
            format!("its statement is not what its proven records show: {claimed}"),
        );
    }
    // What this check proves: the time-stamps count only when their CA was given.
    let statement = super::statement_checked(&ev.clips, &ev.anchors, tsa_roots.is_some());
    if ck.files.text("SHA256SUMS").as_deref() != Some(sums.as_str()) {
        ck.problem(
            "SHA256SUMS",
            "does not list the clips with their sealed hashes".into(),
        );
    }
    if ev.clips.is_empty() && !ev.code.is_empty() {
        ck.problem("evidence.json", "lists no clips".into());
    }
    let (credentials, problems) = super::credentials::check(path, &ev, c2pa_trust);
    for (file, detail) in problems {
        ck.problem(&file, detail);
    }
    let proofs: Vec<_> = anchored.proofs.into_iter().chain(cosigned).collect();
    let (time_proven, times) = super::times::time_verdicts(&ev.clips, &proofs, max_delay_s);
    Ok(BundleReport {
        code: ev.code,
        station_key: key_text,
        pinned: key.is_some() && archive.as_ref().is_none_or(|a| a.2),
        tsa_pinned: anchored.tsa_pinned,
        witnessed,
        uploads,
        anchors: ev.anchors.len() as u64,
        statement,
        clips_ok,
        clips_pruned,
        records_proven: ck.records_proven,
        checkpoint_size: ck.checkpoint.map_or(0, |c| c.size),
        time_proven,
        times,
        max_delay_s,
        made_at: archive.map(|a| a.1),
        credentials,
        problems: ck.problems,
    })
}

/// The archive that made a bundle: its key (the one given with `--witness` when it is among
/// them, else the bundle's own), and a line saying so.
fn made_at(
    ck: &mut Checker,
    key: &str,
    witnesses: &[String],
) -> (Option<WitnessVerifier>, String, bool) {
    use crate::anchor::witness_client::witness_id;
    let given = witnesses.iter().find(|w| witness_id(w) == witness_id(key));
    if ck.files.text("archive.pub").map(|t| t.trim().to_string())
        != Some(given.map_or(key, |g| g.as_str()).trim().to_string())
    {
        ck.problem(
            "archive.pub",
            "is not the archive key the bundle is checked with".into(),
        );
    }
    let Ok(w) = WitnessVerifier::parse(given.map_or(key, |g| g.as_str())) else {
        ck.problem(
            "evidence.json",
            format!("its archive_key {key:?} is not an archive (witness) key"),
        );
        return (
            None,
            "made at an archive whose key is not readable".into(),
            false,
        );
    };
    let line = if given.is_some() {
        format!(
            "made at the archive {} (key ID {}, the key given): the list of the order's clips is the archive's; every record is proven against the station's own checkpoint",
            w.name,
            w.key_id()
        )
    } else {
        format!(
            "made at the archive {} (key ID {}, the key the bundle carries: give it with --witness to check it is that archive's); the list of the order's clips is the archive's",
            w.name,
            w.key_id()
        )
    };
    (Some(w), line, given.is_some())
}
