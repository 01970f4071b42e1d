//! Export: the evidence bundle a platform or a court checks without trusting the station.
//!
//! Owns: writing `packwitness export` bundles (a zip), checking them ([`check`]), the HTML
//! report in them ([`report`]), proof files and legal holds ([`prove`]).
//! Never: changes clips or records; the only records it adds to the manifest say that an
//! export (`access`) or a hold happened, and they go through the caller's [`Appender`].
//!
//! Bundle format version 1, every path relative to the zip's root:
//!   evidence.json            machine-readable summary (format below, `Evidence`)
//!   clips/<name>.mp4         the clips, byte for byte as recorded
//!   records/line-<n>.jsonl   each manifest line cited, byte for byte (with its newline)
//!   proofs/line-<n>.tlog-proof  its inclusion proof against the checkpoint
//!   checkpoint.note          the signed checkpoint every proof leads to
//!   station.pub, station.pem the station's public key (signed-note form; PEM for openssl)
//!   SHA256SUMS               `sha256sum -c` list of the clips, with the hashes of the records
//!   stills/clip<k>-{start,end}.jpg  the first frame and the last frame before the seal
//!   report.html              for people: stills, timeline, hashes, how to check (no assets)
//!   verify.sh                the check with bash, coreutils and openssl only
//!   bundle.note              signed by the station: SHA-256 of every other file

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clock::{format_time, Clock};
use crate::config::Config;

use crate::digest;
use crate::error::{Error, ErrorKind};
use crate::index::{self, FileCheck};
use crate::log::note::{b64, Checkpoint, NoteVerifier, StationKey};
use crate::log::{proof, Appender, Body};
use crate::media::{derived, StampText};

pub mod check;
pub mod prove;
pub mod report;

pub use check::{verify_bundle, BundleProblem, BundleReport};

pub const FORMAT: &str = "packwitness-bundle";
pub const VERSION: u32 = 1;
const BUNDLE_NOTE_HEADER: &str = "packwitness-bundle v1";

/// `evidence.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    pub format: String,
    pub version: u32,
    /// The code asked for (normalised).
    pub code: String,
    pub exported_at: String,
    pub exported_by: String,
    pub software: String,
    /// Station public key, signed-note verifier form (also in `station.pub`).
    pub station_key: String,
    /// The checkpoint every proof leads to.
    pub checkpoint: CheckpointInfo,
    pub clips: Vec<BundleClip>,
    /// The manifest line of this export's own `access` record (proven like the others).
    pub access_line: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckpointInfo {
    /// Manifest lines covered: 1..=size.
    pub size: u64,
    /// Merkle root, base64 (as in the note).
    pub root: String,
    pub time: Option<String>,
    pub file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundleClip {
    /// The clip id: the manifest line of its `clip_opened`.
    pub clip: u64,
    pub order: String,
    pub station: String,
    pub camera: String,
    #[serde(rename = "box")]
    pub box_no: u32,
    pub part: u32,
    pub group: String,
    pub operator: Option<String>,
    pub codes: Vec<String>,
    pub scanned_at: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub duration_ms: Option<u64>,
    pub frames: Option<u64>,
    pub reason: Option<String>,
    pub sha256: Option<String>,
    pub size: Option<u64>,
    /// The clip in the bundle, or `null` when retention pruned it (its records are still here).
    pub file: Option<String>,
    pub pruned: bool,
    pub still_start: Option<String>,
    pub still_end: Option<String>,
    /// `--burn-in` of a passthrough clip: a copy with the stamp burned into the picture, for
    /// people. Not evidence: the original (`file`) is, and its hash is in the records.
    #[serde(default)]
    pub burned_in: Option<String>,
    /// Manifest lines cited for this clip (opened, attached codes, sealed), each with a proof.
    pub records: Vec<RecordRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordRef {
    pub line: u64,
    pub kind: String,
    pub record: String,
    pub proof: String,
}

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    pub path: PathBuf,
    pub evidence: Evidence,
    pub bytes: u64,
}

pub(crate) fn bad(path: &Path, what: impl Into<String>) -> Error {
    Error::msg(
        ErrorKind::Invalid,
        format!("{}: {}", path.display(), what.into()),
    )
}

/// What an export is asked for.
pub struct Request<'a> {
    pub code: &'a str,
    pub out: &'a Path,
    /// Who exports: recorded in the `access` record.
    pub who: &'a str,
    /// Add burned-in viewing copies of passthrough clips.
    pub burn_in: bool,
}

/// Writes the bundle of every clip of `req.code` to `req.out`.
///
/// First an `access` record says who exported what, to where (through `appender`: this
/// process's writer, or the socket of the recorder holding the data dir), with a checkpoint
/// after it; then every cited line is proven against that checkpoint.
pub fn export(
    data_dir: &Path,
    config: &Config,
    appender: &dyn Appender,
    clock: &dyn Clock,
    req: &Request<'_>,
    progress: &dyn Fn(u64, u64),
) -> Result<Exported, Error> {
    let (code, out, who, burn_in) = (req.code, req.out, req.who, req.burn_in);
    let found = index::lookup(data_dir, code, config.codes.max_len, FileCheck::Size)?;
    if found.is_empty() {
        return Err(Error::msg(
            ErrorKind::NotFound,
            format!("no clip found for code {:?}", code.trim()),
        ));
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(bad(
                out,
                format!(
                    "the directory {} does not exist; create it or choose another -o",
                    parent.display()
                ),
            ));
        }
    }
    let code_asked = crate::codes::normalize(code, config.codes.max_len)?;
    let out_name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let access = appender.append(Body::Access {
        action: "export".into(),
        code: code_asked.clone(),
        clips: found.iter().map(|f| f.clip.clip).collect(),
        who: who.to_string(),
        to: Some(out_name.clone()),
    })?;
    appender.checkpoint()?;
    let access_line = access.seq;
    let snap = proof::snapshot(data_dir)?
        .filter(|s| s.size >= access_line)
        .ok_or_else(|| {
            bad(
                data_dir,
                "no signed checkpoint covers the export's access record; run `packwitness verify`",
            )
        })?;
    let key_text = proof::station_key_before(data_dir, snap.checkpoint_line)?
        .ok_or_else(|| bad(data_dir, "the manifest names no station key"))?;
    let verifier = NoteVerifier::parse(&key_text)?;
    let body = verifier.open(&snap.note).map_err(|e| {
        bad(
            data_dir,
            format!("the latest checkpoint does not verify: {e}"),
        )
    })?;
    let cp = Checkpoint::parse(body)?;
    let idx = index::Index::open_read(data_dir)?;

    let tmp = out.with_extension("zip.partial");
    let file = std::fs::File::create(&tmp)
        .map_err(|e| bad(&tmp, format!("cannot create the bundle: {e}")))?;
    let mut zip = Bundle::new(file, &tmp);
    let mut clips = Vec::new();
    let total: u64 = found.iter().filter_map(|f| f.clip.size).sum();
    let mut done = 0u64;
    let mut sums = String::new();
    let mut names = BTreeMap::new();
    for (k, f) in found.iter().enumerate() {
        let c = &f.clip;
        let mut lines = vec![(c.clip, "clip_opened")];
        for seq in idx.attached_lines(c.clip)? {
            lines.push((seq, "code_attached"));
        }
        if let Some(l) = c.sealed_line {
            lines.push((l, "clip_sealed"));
        }
        let mut records = Vec::new();
        for (line, kind) in lines {
            records.push(zip.cite(&snap, line, kind)?);
        }
        let mut bundle_file = None;
        let mut burned_in = None;
        let (mut still_start, mut still_end) = (None, None);
        if c.sealed_line.is_some() && !c.pruned {
            let src = data_dir.join(&c.file);
            let base = Path::new(&c.file)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| format!("clip{}.mp4", c.clip));
            // Two clips never share a name inside the bundle.
            let n = names.entry(base.clone()).or_insert(0u32);
            *n += 1;
            let name = if *n == 1 {
                format!("clips/{base}")
            } else {
                format!("clips/{}-{n}", base)
            };
            let mut input = std::fs::File::open(&src)
                .map_err(|e| bad(&src, format!("cannot read the clip: {e}")))?;
            zip.add_reader(&name, &mut input, true, &mut |n| progress(done + n, total))?;
            done += c.size.unwrap_or(0);
            if let Some(sha) = &c.sha256 {
                sums.push_str(&format!("{sha}  {name}\n"));
            }
            for (which, slot) in [(false, &mut still_start), (true, &mut still_end)] {
                match derived::still(&src, which) {
                    Ok(jpeg) => {
                        let still_name = format!(
                            "stills/clip{}-{}.jpg",
                            k + 1,
                            if which { "end" } else { "start" }
                        );
                        zip.add(&still_name, &jpeg, false)?;
                        *slot = Some(still_name);
                    }
                    Err(e) => {
                        tracing::warn!(file = %src.display(), error = %e, "no still image for the report")
                    }
                }
            }
            if burn_in && derived::has_text_track(&src) {
                let tmp_clip = tmp.with_extension(format!("burn{k}.mp4"));
                let stamp = StampText {
                    station: c.station.clone(),
                    camera: c.camera.clone(),
                    order: Some(c.order.clone()),
                    operator: c.operator.clone(),
                    tracking: c.codes.clone(),
                    template: config.encode.stamp_template.clone(),
                };
                let made = derived::burn(&src, &tmp_clip, &stamp, &c.started_at, &config.encode);
                let made = made.and_then(|()| {
                    let mut f = std::fs::File::open(&tmp_clip).map_err(|e| {
                        bad(&tmp_clip, format!("cannot read the burned-in copy: {e}"))
                    })?;
                    let burned = name.replacen("clips/", "burned-in/", 1);
                    zip.add_reader(&burned, &mut f, true, &mut |_| {})?;
                    Ok(burned)
                });
                let _ = std::fs::remove_file(&tmp_clip);
                let _ = std::fs::remove_file(crate::media::fmp4::fragments_path(&tmp_clip));
                burned_in = Some(made?);
            }
            bundle_file = Some(name);
        }
        clips.push(BundleClip {
            clip: c.clip,
            order: c.order.clone(),
            station: c.station.clone(),
            camera: c.camera.clone(),
            box_no: c.box_no,
            part: c.part,
            group: c.group.clone(),
            operator: c.operator.clone(),
            codes: c.codes.clone(),
            scanned_at: c.scanned_at.clone(),
            started_at: c.started_at.clone(),
            ended_at: c.ended_at.clone(),
            duration_ms: c.duration_ms,
            frames: c.frames,
            reason: c.reason.clone(),
            sha256: c.sha256.clone(),
            size: c.size,
            file: bundle_file,
            pruned: c.pruned,
            still_start,
            still_end,
            burned_in,
            records,
        });
    }
    zip.cite(&snap, access_line, "access")?;
    let evidence = Evidence {
        format: FORMAT.into(),
        version: VERSION,
        code: code_asked,
        exported_at: format_time(clock.now()),
        exported_by: who.to_string(),
        software: format!("packwitness {}", env!("CARGO_PKG_VERSION")),
        station_key: key_text.clone(),
        checkpoint: CheckpointInfo {
            size: cp.size,
            root: b64(&cp.root),
            time: cp.time.clone(),
            file: "checkpoint.note".into(),
        },
        clips,
        access_line: Some(access_line),
    };
    zip.add("checkpoint.note", snap.note.as_bytes(), true)?;
    zip.add("station.pub", format!("{key_text}\n").as_bytes(), true)?;
    zip.add("station.pem", pem(&verifier).as_bytes(), true)?;
    zip.add("SHA256SUMS", sums.as_bytes(), true)?;
    let json = serde_json::to_vec_pretty(&evidence).map_err(|e| Error::internal(e.to_string()))?;
    zip.add("evidence.json", &json, true)?;
    zip.add(
        "report.html",
        report::report(&evidence, &zip.stills).as_bytes(),
        true,
    )?;
    zip.add("verify.sh", VERIFY_SH.as_bytes(), true)?;
    // Last: the station signs the list of everything above.
    let key = StationKey::for_data_dir(data_dir, config)?;
    let mut listing = format!("{BUNDLE_NOTE_HEADER}\n");
    for (name, sha) in &zip.hashes {
        listing.push_str(&format!("{sha}  {name}\n"));
    }
    let note = key.sign(&listing);
    zip.add("bundle.note", note.as_bytes(), true)?;
    let file = zip.finish()?;
    file.sync_all()
        .map_err(|e| bad(&tmp, format!("cannot sync the bundle: {e}")))?;
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    std::fs::rename(&tmp, out)
        .map_err(|e| bad(out, format!("cannot move the bundle in place: {e}")))?;
    Ok(Exported {
        path: out.to_owned(),
        evidence,
        bytes,
    })
}

/// The Ed25519 public key as a PEM SubjectPublicKeyInfo, for `openssl pkeyutl -verify`.
fn pem(v: &NoteVerifier) -> String {
    // DER: SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING (key) }
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(&v.public_key());
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        b64(&der)
    )
}

/// A zip being written, remembering every file's SHA-256 for `bundle.note`.
struct Bundle {
    zip: zip::ZipWriter<std::fs::File>,
    path: PathBuf,
    hashes: BTreeMap<String, String>,
    stills: BTreeMap<String, Vec<u8>>,
}

impl Bundle {
    fn new(file: std::fs::File, path: &Path) -> Bundle {
        Bundle {
            zip: zip::ZipWriter::new(file),
            path: path.to_owned(),
            hashes: BTreeMap::new(),
            stills: BTreeMap::new(),
        }
    }

    fn err(&self, what: String) -> Error {
        bad(&self.path, what)
    }

    fn start(&mut self, name: &str, compress: bool, large: bool) -> Result<(), Error> {
        let method = if compress {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(method)
            .large_file(large)
            .unix_permissions(if name.ends_with(".sh") { 0o755 } else { 0o644 });
        self.zip
            .start_file(name, opts)
            .map_err(|e| self.err(format!("cannot add {name}: {e}")))
    }

    fn add(&mut self, name: &str, bytes: &[u8], compress: bool) -> Result<(), Error> {
        self.start(name, compress, false)?;
        self.zip
            .write_all(bytes)
            .map_err(|e| self.err(format!("cannot write {name}: {e}")))?;
        self.hashes
            .insert(name.to_string(), digest::sha256_hex(bytes));
        if name.starts_with("stills/") {
            self.stills.insert(name.to_string(), bytes.to_vec());
        }
        Ok(())
    }

    /// Copies a file in (stored, not compressed: video does not compress), hashing as it goes.
    fn add_reader(
        &mut self,
        name: &str,
        input: &mut impl Read,
        large: bool,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), Error> {
        use sha2::Digest;
        self.start(name, false, large)?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            let got = input
                .read(&mut buf)
                .map_err(|e| self.err(format!("reading for {name}: {e}")))?;
            if got == 0 {
                break;
            }
            hasher.update(&buf[..got]);
            self.zip
                .write_all(&buf[..got])
                .map_err(|e| self.err(format!("cannot write {name}: {e}")))?;
            n += got as u64;
            progress(n);
        }
        self.hashes
            .insert(name.to_string(), digest::hex(&hasher.finalize()));
        Ok(())
    }

    /// Adds a manifest line and its proof.
    fn cite(&mut self, snap: &proof::Snapshot, line: u64, kind: &str) -> Result<RecordRef, Error> {
        let bytes = snap
            .line(line)
            .ok_or_else(|| self.err(format!("manifest line {line} is missing")))?
            .to_vec();
        let proof_text = snap.prove(line)?;
        let record = format!("records/line-{line}.jsonl");
        let proof = format!("proofs/line-{line}.tlog-proof");
        if !self.hashes.contains_key(&record) {
            self.add(&record, &bytes, true)?;
            self.add(&proof, proof_text.as_bytes(), true)?;
        }
        Ok(RecordRef {
            line,
            kind: kind.to_string(),
            record,
            proof,
        })
    }

    fn finish(self) -> Result<std::fs::File, Error> {
        let path = self.path.clone();
        self.zip
            .finish()
            .map_err(|e| bad(&path, format!("cannot finish the bundle: {e}")))
    }
}

/// The bundle's own checker: bash, coreutils and openssl only.
const VERIFY_SH: &str = include_str!("verify.sh");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::note::unb64;

    #[test]
    fn pem_wraps_the_raw_key_in_spki() {
        let key = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let v = NoteVerifier::parse(key).unwrap();
        let p = pem(&v);
        let der = unb64(p.lines().nth(1).unwrap()).unwrap();
        assert_eq!(der.len(), 44);
        assert_eq!(&der[12..], &v.public_key());
    }
}
