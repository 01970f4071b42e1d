//! Export: the evidence bundle a platform or a court checks without trusting the station.
//!
//! Owns: writing `packwitness export` bundles (a zip), checking them ([`check`]), the HTML
//! report in them ([`report`]), proof files and legal holds ([`prove`]).
//! Never: changes clips or records; the only records it adds to the manifest say that an
//! export (`access`) or a hold happened, and they go through the caller's [`Appender`].
//!
//! Bundle format version 2 (1 had no `order_records` and no `statement`; both are read),
//! every path relative to the zip's root:
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
//!   bundle.note              signed by the station: SHA-256 of every other file (made at
//!                            the archive, [`archived`]: cosigned by the archive instead,
//!                            with its key in archive.pub and evidence.json archive_key)

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clock::{format_time, Clock};
use crate::config::Config;

use crate::error::{Error, ErrorKind};
use crate::index::{self, FileCheck};
use crate::log::note::{b64, Checkpoint, NoteVerifier, StationKey};
use crate::log::reader::{Checkpointed, LogReader};
use crate::log::{Appender, Body};
use crate::media::{derived, StampText};

pub mod anchors;
pub mod archived;
pub mod check;
mod credentials;
pub mod prove;
pub mod report;
pub mod times;
pub mod upload;
mod zipfile;

use zipfile::Bundle;

pub use check::{verify_bundle, BundleProblem, BundleReport};
pub use credentials::signing as credentials_signing;

pub const FORMAT: &str = "packwitness-bundle";
pub const VERSION: u32 = 2;
/// The bundle versions `verify-bundle` reads.
pub const READS: [u32; 2] = [1, 2];
/// At most this many records about an order beyond its clips are cited (its scans, ...).
pub const MAX_ORDER_RECORDS: u32 = 2000;
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
    /// The manifest line of this export's own `access` record (proven like the others): it
    /// names the code asked for and every clip the order had, so a clip left out is seen.
    pub access_line: Option<u64>,
    /// The records about the order beyond its clips, each proven: its scans (the stop code
    /// too), `no_video`, `camera_gap` and `order_resumed` records. Version 2.
    #[serde(default)]
    pub order_records: Vec<RecordRef>,
    /// What the bundle proves, in one line (see [`statement`]). Version 2.
    #[serde(default)]
    pub statement: String,
    /// The checkpoints a TSA stamped that the clips' anchors name (see [`anchors`]).
    #[serde(default)]
    pub anchors: Vec<anchors::AnchorInfo>,
    /// The checkpoints witnesses cosigned that the clips' anchors name.
    #[serde(default)]
    pub witnessed: Vec<anchors::CosignedInfo>,
    /// The MP4s made for upload from these clips (their `access` records of action
    /// `upload_mp4`, each proven): what ties a file a platform received to the clips by its
    /// SHA-256. Added within version 2; absent when there is none (older checkers ignore it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uploads: Vec<RecordRef>,
    /// The archive that made this bundle (`packwitness archive export`), its key as a checker
    /// is given it (`--witness`): `bundle.note` then carries the archive's cosignature instead
    /// of the station's signature, and the list of the order's clips is the archive's (no
    /// station `access` record). Added within version 2; absent in a station's bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_key: Option<String>,
    /// The subject of the certificate that signed the content credentials (C2PA) of the
    /// stills and signed copies, as the merchant says (`[c2pa]`); checked by `verify-bundle
    /// --c2pa-trust` or any C2PA reader. Added within version 2; absent without credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_signer: Option<String>,
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
    /// Recorded from a test pattern (`testsrc`, `lavfi:...`, as the cited `station_start`
    /// says): not evidence of anything.
    #[serde(default)]
    pub test_pattern: bool,
    /// Whether the system clock was NTP-synchronised when the clip started (its
    /// `clip_opened` record says so; `null`: unknown).
    #[serde(default)]
    pub clock_synced: Option<bool>,
    /// The stamped checkpoints after its seal and before its opening.
    #[serde(default)]
    pub anchors: anchors::ClipAnchors,
    /// Frames left out and the encoder's preset steps, as its `clip_sealed` record says
    /// (optional within bundle version 2: absent when none, and in bundles made before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_frames: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub presets: Vec<crate::log::PresetStep>,
    /// The archive the clip's bytes came from, when the station no longer had them (pruned
    /// or lost): information only; the bytes are checked against the seal like any clip's.
    /// Added within version 2, absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_archive: Option<String>,
    /// A copy of the clip with content credentials (C2PA) signed in (`[c2pa]`): not the
    /// evidence (`file` is); its credential's packwitness assertion cites the seal. Added
    /// within version 2, absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_copy: Option<String>,
    /// Manifest lines cited for this clip (the station's start naming the camera's source,
    /// opened, attached codes, sealed), each with a proof.
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
/// after it; then every cited line is proven against that checkpoint, from the tiles: the
/// cost does not grow with the size of the log, only with the clips of the order.
pub fn export(
    data_dir: &Path,
    config: &Config,
    appender: &dyn Appender,
    clock: &dyn Clock,
    req: &Request<'_>,
    progress: &dyn Fn(u64, u64),
) -> Result<Exported, Error> {
    let found = index::lookup(data_dir, req.code, config.codes.max_len, FileCheck::Size)?;
    if found.is_empty() {
        return Err(Error::msg(
            ErrorKind::NotFound,
            format!("no clip found for code {:?}", req.code.trim()),
        ));
    }
    if let Some(parent) = req.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(bad(
                req.out,
                format!(
                    "the directory {} does not exist; create it or choose another -o",
                    parent.display()
                ),
            ));
        }
    }
    if let Some(open) = found.iter().find(|f| f.clip.sealed_line.is_none()) {
        return Err(Error::msg(
            ErrorKind::Conflict,
            format!(
                "order {} is still being recorded (clip {} on {} {} is open); export it once it is sealed (a stop code, the next order, or max_clip_s)",
                open.clip.order, open.clip.clip, open.clip.station, open.clip.camera
            ),
        ));
    }
    let code_asked = crate::codes::normalize(req.code, config.codes.max_len)?;
    let out_name = req
        .out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let access = appender.append(Body::Access {
        action: "export".into(),
        code: code_asked.clone(),
        clips: found.iter().map(|f| f.clip.clip).collect(),
        who: req.who.to_string(),
        to: Some(out_name),
        derived: None,
        log: None,
    })?;
    appender.checkpoint()?;
    let reader = LogReader::open(data_dir)?;
    let cp = reader
        .latest_checkpoint()?
        .filter(|c| c.size >= access.seq)
        .ok_or_else(|| {
            bad(
                data_dir,
                "no signed checkpoint covers the export's access record; run `packwitness verify`",
            )
        })?;
    let key_text = reader
        .state()
        .key
        .clone()
        .ok_or_else(|| bad(data_dir, "the manifest names no station key"))?;
    let verifier = NoteVerifier::parse(&key_text)?;
    let body = verifier.open(&cp.note).map_err(|e| {
        bad(
            data_dir,
            format!("the latest checkpoint does not verify: {e}"),
        )
    })?;
    let signed = Checkpoint::parse(body)?;
    let idx = index::Index::open_read(data_dir)?;
    let tmp = req.out.with_extension("zip.partial");
    let file = std::fs::File::create(&tmp)
        .map_err(|e| bad(&tmp, format!("cannot create the bundle: {e}")))?;
    let mut b = Builder {
        zip: Bundle::new(file, &tmp),
        reader: &reader,
        cp: &cp,
        data_dir,
        config,
        done: 0,
        total: found.iter().filter_map(|f| f.clip.size).sum(),
        progress,
        tmp: tmp.clone(),
        uploads: Vec::new(),
        scans: Vec::new(),
        signing: credentials::signing(config),
        pending: Vec::new(),
    };
    let mut clips = Vec::new();
    for (k, f) in found.iter().enumerate() {
        let lines = idx.attached_lines(f.clip.clip)?;
        clips.push(b.add_clip(k, f, &lines, req.burn_in)?);
    }
    let mut orders: Vec<&str> = found.iter().map(|f| f.clip.order.as_str()).collect();
    orders.sort_unstable();
    orders.dedup();
    let mut order_records = Vec::new();
    for order in orders {
        for (line, kind) in idx.order_lines(order, MAX_ORDER_RECORDS)? {
            if line <= cp.size {
                order_records.push(b.zip.cite(&reader, &cp, line, &kind)?);
                if kind == "scan" {
                    b.scans.push(reader.record(line)?);
                }
            }
        }
    }
    let mut upload_lines = Vec::new();
    for f in &found {
        upload_lines.extend(idx.access_lines(f.clip.clip, "upload_mp4")?);
    }
    upload_lines.sort_unstable();
    upload_lines.dedup();
    let mut uploads = Vec::new();
    for line in upload_lines.into_iter().filter(|&l| l <= cp.size) {
        uploads.push(b.zip.cite(&reader, &cp, line, "access")?);
        b.uploads.push(reader.record(line)?);
    }
    b.zip.cite(&reader, &cp, access.seq, "access")?;
    let anchor_list = anchors::add(&mut b.zip, data_dir, config, &reader, &cp, &idx, &mut clips)?;
    let witnessed = anchors::add_cosigned(&mut b.zip, data_dir, config, &reader, &cp, &mut clips)?;
    b.add_media(&mut clips, &anchor_list)?;
    let statement = statement(&clips, &anchor_list);
    let evidence = Evidence {
        format: FORMAT.into(),
        version: VERSION,
        code: code_asked,
        exported_at: format_time(clock.now()),
        exported_by: req.who.to_string(),
        software: format!("packwitness {}", env!("CARGO_PKG_VERSION")),
        station_key: key_text.clone(),
        checkpoint: CheckpointInfo {
            size: signed.size,
            root: b64(&signed.root),
            time: signed.time.clone(),
            file: "checkpoint.note".into(),
        },
        clips,
        access_line: Some(access.seq),
        order_records,
        uploads,
        statement,
        anchors: anchor_list,
        witnessed,
        archive_key: None,
        credentials_signer: b.signing.as_ref().map(|s| s.subject.clone()),
    };
    let key = StationKey::for_data_dir(data_dir, config)?;
    let bytes = b.finish(&evidence, &verifier, &|list| key.sign(list))?;
    std::fs::rename(&tmp, req.out)
        .map_err(|e| bad(req.out, format!("cannot move the bundle in place: {e}")))?;
    Ok(Exported {
        path: req.out.to_owned(),
        evidence,
        bytes,
    })
}

/// What a bundle proves, in one line: when its clips were recorded by the station's clock,
/// whether that clock was synchronised, and, when every clip's seal is in a checkpoint a TSA
/// stamped, the latest of those times: the clips existed no later than that.
pub fn statement(clips: &[BundleClip], anchors: &[anchors::AnchorInfo]) -> String {
    statement_checked(clips, anchors, true)
}

/// The clause of a statement whose time-stamps were not checked (no TSA certificates given).
pub const TOKENS_NOT_CHECKED: &str = "time-stamps not checked (the TSA's CA certificates were not given): the times rest on the station's clock and key alone";

/// [`statement`], as a checker that did (`tsa_checked`) or did not check the time-stamps
/// says it.
pub fn statement_checked(
    clips: &[BundleClip],
    anchors: &[anchors::AnchorInfo],
    tsa_checked: bool,
) -> String {
    let from = clips.iter().map(|c| c.started_at.as_str()).min();
    let to = clips.iter().filter_map(|c| c.ended_at.as_deref()).max();
    let synced = if clips.iter().all(|c| c.clock_synced == Some(true)) {
        "yes"
    } else if clips.iter().any(|c| c.clock_synced == Some(false)) {
        "no"
    } else {
        "unknown"
    };
    let stamps: Option<Vec<&anchors::AnchorInfo>> = clips
        .iter()
        .map(|c| {
            c.anchors
                .after
                .and_then(|size| anchors.iter().find(|a| a.size == size))
        })
        .collect();
    let anchored = match stamps
        .as_deref()
        .and_then(|s| s.iter().max_by_key(|a| a.size))
    {
        Some(_) if !clips.is_empty() && !tsa_checked => TOKENS_NOT_CHECKED.to_string(),
        Some(last) if !clips.is_empty() => format!(
            "existed no later than {} (RFC 3161 time-stamp by {})",
            last.gen_time, last.tsa
        ),
        _ => {
            "not anchored outside the station: the times rest on the station's clock and key alone"
                .to_string()
        }
    };
    format!(
        "recorded between {} and {} (station clock, NTP synchronised: {synced}); {anchored}",
        from.unwrap_or("?"),
        to.unwrap_or("?")
    )
}

/// A bundle being assembled.
struct Builder<'a> {
    zip: Bundle,
    reader: &'a LogReader,
    cp: &'a Checkpointed,
    data_dir: &'a Path,
    config: &'a Config,
    done: u64,
    total: u64,
    progress: &'a dyn Fn(u64, u64),
    tmp: PathBuf,
    /// The cited `upload_mp4` records, for the report.
    uploads: Vec<crate::log::Record>,
    /// The cited scans of the order, for the report.
    scans: Vec<crate::log::Record>,
    /// `[c2pa]`: signs the stills and a copy of each clip.
    signing: Option<crate::provenance::Signing>,
    /// Clips whose stills (and signed copy) are made once their anchors are known: the
    /// clip's index, its file, and whether that file is a temporary fetched from the archive.
    pending: Vec<(usize, PathBuf, bool)>,
}

impl Builder<'_> {
    /// Adds clip `k` of the order: its records with proofs and, when sealed and not pruned,
    /// its file, stills and (with `burn_in`, for a passthrough clip) a stamped copy.
    fn add_clip(
        &mut self,
        k: usize,
        f: &index::Found,
        attached: &[u64],
        burn_in: bool,
    ) -> Result<BundleClip, Error> {
        let c = &f.clip;
        // The station's start (every camera's source, the config's hash) is cited only for a
        // clip whose opening does not say whether its source is a test pattern (records
        // written before it did): a bundle tells no more of the station than it must.
        let mut opened = Some(self.reader.line(c.clip)?);
        let says_test_pattern = matches!(
            serde_json::from_slice::<crate::log::Record>(opened.as_deref().unwrap_or_default()),
            Ok(crate::log::Record {
                body: crate::log::Body::ClipOpened {
                    test_pattern: Some(_),
                    ..
                },
                ..
            })
        );
        let mut lines: Vec<(u64, &str)> = c
            .station_start_line
            .filter(|_| !says_test_pattern)
            .map(|l| (l, "station_start"))
            .into_iter()
            .collect();
        lines.push((c.clip, "clip_opened"));
        lines.extend(attached.iter().map(|&seq| (seq, "code_attached")));
        if let Some(l) = c.sealed_line {
            lines.push((l, "clip_sealed"));
        }
        if let Some(l) = c.pruned_line.filter(|&l| l <= self.cp.size) {
            lines.push((l, "pruned"));
        }
        let mut records = Vec::new();
        // What the seal says of frames left out and preset steps (the index keeps neither),
        // from the line as it is cited.
        let (mut dropped_frames, mut presets) = (None, Vec::new());
        for (line, kind) in lines {
            // The opening was read above; every other line is read once, here.
            let read = if kind == "clip_opened" {
                opened.take()
            } else {
                None
            };
            let bytes = match read {
                Some(bytes) => bytes,
                None => self.reader.line(line)?,
            };
            if kind == "clip_sealed" {
                if let Ok(crate::log::Record {
                    body:
                        crate::log::Body::ClipSealed {
                            dropped_frames: d,
                            presets: p,
                            ..
                        },
                    ..
                }) = serde_json::from_slice(&bytes)
                {
                    (dropped_frames, presets) = (d, p);
                }
            }
            records.push(
                self.zip
                    .cite_read(self.reader, self.cp, line, kind, &bytes)?,
            );
        }
        let (mut file, mut burned_in) = (None, None);
        let local = self.data_dir.join(&c.file);
        // A sealed clip the station no longer has (pruned, or lost with its disk) comes
        // from the archive when there is one, checked against its seal on the way.
        let fetched = match c.sealed_line {
            Some(_) if c.pruned || !local.exists() => self.fetch_from_archive(c),
            _ => None,
        };
        let from_archive = fetched.as_ref().map(|_| self.config.archive.url.clone());
        if c.sealed_line.is_some() && (fetched.is_some() || !c.pruned) {
            let src = fetched.clone().unwrap_or(local);
            let name = self.add_clip_file(c, &src)?;
            if burn_in && derived::has_text_track(&src) {
                burned_in = Some(self.add_burned(k, c, &src, &name)?);
            }
            // Its stills (and signed copy) once its anchors are known: [`Builder::add_media`].
            self.pending.push((k, src, fetched.is_some()));
            file = Some(name);
        } else if let Some(tmp) = fetched {
            let _ = std::fs::remove_file(tmp);
        }
        Ok(BundleClip {
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
            file,
            pruned: c.pruned,
            test_pattern: c.test_pattern,
            clock_synced: c.clock_synced,
            anchors: anchors::ClipAnchors::default(),
            dropped_frames,
            presets,
            from_archive,
            still_start: None,
            still_end: None,
            signed_copy: None,
            burned_in,
            records,
        })
    }

    /// Clip `c`'s bytes from the station's archive (`[archive]`) into a file beside the
    /// bundle being made, checked against the seal's SHA-256; `None` when there is no archive,
    /// it does not hold the clip, or it cannot be reached now (the clip is then left out as
    /// pruned, its records still proven, as without an archive).
    fn fetch_from_archive(&self, c: &index::ClipRow) -> Option<PathBuf> {
        let sha = c.sha256.as_deref()?;
        if self.config.archive.url.trim().is_empty() {
            return None;
        }
        let dest = self.tmp.with_extension(format!("clip{}.mp4", c.clip));
        let fetched = crate::archive::client::Client::new(&self.config.archive)
            .and_then(|client| client.fetch_clip(sha, &dest));
        match fetched {
            Ok(Some(_)) => Some(dest),
            Ok(None) => {
                tracing::warn!(clip = c.clip, order = %c.order, "the clip is not here and the archive does not hold it: it is left out, its records proven");
                None
            }
            Err(e) => {
                let _ = std::fs::remove_file(&dest);
                tracing::warn!(clip = c.clip, order = %c.order, error = %e, "the clip is not here and could not be fetched from the archive: it is left out, its records proven");
                None
            }
        }
    }

    /// Copies a clip in, byte for byte; returns its name in the bundle.
    fn add_clip_file(&mut self, c: &index::ClipRow, src: &Path) -> Result<String, Error> {
        let (done, total, progress) = (self.done, self.total, self.progress);
        let name = self
            .zip
            .add_clip(&c.file, c.clip, c.sha256.as_deref(), src, &mut |n| {
                progress(done + n, total)
            })?;
        self.done += c.size.unwrap_or(0);
        Ok(name)
    }

    /// A copy of a passthrough clip with the stamp burned in (for people; not evidence).
    fn add_burned(
        &mut self,
        k: usize,
        c: &index::ClipRow,
        src: &Path,
        name: &str,
    ) -> Result<String, Error> {
        let tmp_clip = self.tmp.with_extension(format!("burn{k}.mp4"));
        let stamp = StampText {
            station: c.station.clone(),
            camera: c.camera.clone(),
            order: Some(c.order.clone()),
            operator: c.operator.clone(),
            tracking: c.codes.clone(),
            template: self.config.encode.stamp_template.clone(),
        };
        let made = derived::burn(src, &tmp_clip, &stamp, &c.started_at, &self.config.encode)
            .and_then(|()| {
                let mut f = std::fs::File::open(&tmp_clip)
                    .map_err(|e| bad(&tmp_clip, format!("cannot read the burned-in copy: {e}")))?;
                let burned = name.replacen("clips/", "burned-in/", 1);
                self.zip.add_reader(&burned, &mut f, true, &mut |_| {})?;
                Ok(burned)
            });
        let _ = std::fs::remove_file(&tmp_clip);
        let _ = std::fs::remove_file(crate::media::fmp4::fragments_path(&tmp_clip));
        made
    }

    /// Closes the bundle: see [`seal`]; the station signs its list.
    fn finish(
        self,
        evidence: &Evidence,
        verifier: &NoteVerifier,
        sign: &dyn Fn(&str) -> String,
    ) -> Result<u64, Error> {
        seal(
            self.zip,
            &Closing {
                evidence,
                verifier,
                checkpoint: &self.cp.note,
                uploads: &self.uploads,
                scans: &self.scans,
                tmp: &self.tmp,
            },
            sign,
        )
    }
}

/// What closing a bundle adds besides what its builder added.
struct Closing<'a> {
    evidence: &'a Evidence,
    verifier: &'a NoteVerifier,
    checkpoint: &'a str,
    uploads: &'a [crate::log::Record],
    scans: &'a [crate::log::Record],
    tmp: &'a Path,
}

/// Adds the checkpoint, the keys, the sums, `evidence.json`, the report and the checker,
/// then `bundle.note` (the list of everything above, signed by `sign`: the station, or the
/// archive that made the bundle), and closes the zip durably. Returns its size.
fn seal(mut zip: Bundle, c: &Closing<'_>, sign: &dyn Fn(&str) -> String) -> Result<u64, Error> {
    zip.add("checkpoint.note", c.checkpoint.as_bytes(), true)?;
    zip.add(
        "station.pub",
        format!("{}\n", c.evidence.station_key).as_bytes(),
        true,
    )?;
    zip.add("station.pem", pem(c.verifier).as_bytes(), true)?;
    if let Some(key) = &c.evidence.archive_key {
        zip.add("archive.pub", format!("{key}\n").as_bytes(), true)?;
    }
    let sums = std::mem::take(&mut zip.sums);
    zip.add("SHA256SUMS", sums.as_bytes(), true)?;
    let json = serde_json::to_vec_pretty(c.evidence).map_err(|e| Error::internal(e.to_string()))?;
    zip.add("evidence.json", &json, true)?;
    let html = report::report(
        c.evidence,
        &zip.stills,
        c.checkpoint,
        &zip.proofs,
        &report::Cited {
            uploads: c.uploads,
            scans: c.scans,
        },
    );
    zip.add("report.html", html.as_bytes(), true)?;
    zip.add("verify.sh", VERIFY_SH.as_bytes(), true)?;
    let mut listing = format!("{BUNDLE_NOTE_HEADER}\n");
    for (name, sha) in &zip.hashes {
        listing.push_str(&format!("{sha}  {name}\n"));
    }
    zip.add("bundle.note", sign(&listing).as_bytes(), true)?;
    let file = zip.finish()?;
    file.sync_all()
        .map_err(|e| bad(c.tmp, format!("cannot sync the bundle: {e}")))?;
    Ok(file.metadata().map(|m| m.len()).unwrap_or(0))
}

/// The Ed25519 public key as a PEM SubjectPublicKeyInfo, for `openssl pkeyutl -verify`.
pub fn pem(v: &NoteVerifier) -> String {
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
