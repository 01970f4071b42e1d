//! Export: the evidence bundle a platform or a court checks without trusting the station.
//!
//! Owns: writing `packwitness export` bundles (a zip), checking them (`verify-bundle`), the
//! still images and the HTML report in them. Never: changes clips or records; the only thing
//! it adds to the manifest is the `access` record that says the export happened.
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
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::ledger::note::{b64, Checkpoint, NoteVerifier};
use crate::ledger::{self, proof, Body, Record};
use crate::trigger::sheet::escape;
use crate::{digest, index, station, Error};

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

fn bad(path: &Path, what: impl Into<String>) -> Error {
    Error::DataDir {
        path: path.to_owned(),
        what: what.into(),
    }
}

/// Writes the bundle of every clip of `code` to `out`.
///
/// First an `access` record says who exported what, to where (directly, or through the running
/// recorder's spool); then every cited line is proven against a checkpoint that covers that
/// record too.
pub fn export(
    data_dir: &Path,
    config: &Config,
    code: &str,
    out: &Path,
    who: &str,
    burn_in: bool,
    progress: &dyn Fn(u64, u64),
) -> Result<Exported, Error> {
    let found = crate::lookup(data_dir, code, config.codes.max_len)?;
    if found.is_empty() {
        return Err(Error::NotFound(code.to_string()));
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
    let code_asked =
        crate::trigger::normalize(code, config.codes.max_len).map_err(|source| Error::Code {
            code: code.to_string(),
            source,
        })?;
    let out_name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    station::append_or_spool(
        data_dir,
        config,
        Body::Access {
            action: "export".into(),
            code: code_asked.clone(),
            clips: found.iter().map(|f| f.clip.clip).collect(),
            who: who.to_string(),
            to: Some(out_name.clone()),
        },
        Duration::from_secs(30),
    )?;
    // The checkpoint that covers the access record (the recorder writes one right after
    // taking a spooled record).
    let mut snap = None;
    for _ in 0..100 {
        let s = proof::snapshot(data_dir)?;
        let access = s
            .as_ref()
            .and_then(|s| find_access(s, &code_asked, &out_name));
        if let (Some(s), Some(line)) = (s, access) {
            if line <= s.size {
                snap = Some((s, line));
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (snap, access_line) = snap.ok_or_else(|| {
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
    let idx = index::Index::open(data_dir)?;

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
                match still(&src, which) {
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
            if burn_in && has_text_track(&src) {
                let tmp_clip = tmp.with_extension(format!("burn{k}.mp4"));
                let stamp = crate::encode::StampText {
                    station: c.station.clone(),
                    camera: c.camera.clone(),
                    order: Some(c.order.clone()),
                    operator: c.operator.clone(),
                    tracking: c.codes.clone(),
                    template: config.encode.stamp_template.clone(),
                };
                let made = burn(&src, &tmp_clip, &stamp, &c.started_at, &config.encode);
                let made = made.and_then(|()| {
                    let mut f = std::fs::File::open(&tmp_clip).map_err(|e| {
                        bad(&tmp_clip, format!("cannot read the burned-in copy: {e}"))
                    })?;
                    let burned = name.replacen("clips/", "burned-in/", 1);
                    zip.add_reader(&burned, &mut f, true, &mut |_| {})?;
                    Ok(burned)
                });
                let _ = std::fs::remove_file(&tmp_clip);
                let _ = std::fs::remove_file(crate::clip::fragments_path(&tmp_clip));
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
        exported_at: ledger::now_string(),
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
    let json = serde_json::to_vec_pretty(&evidence).map_err(|e| Error::Thread(e.to_string()))?;
    zip.add("evidence.json", &json, true)?;
    zip.add(
        "report.html",
        report(&evidence, &zip.stills).as_bytes(),
        true,
    )?;
    zip.add("verify.sh", VERIFY_SH.as_bytes(), true)?;
    // Last: the station signs the list of everything above.
    let key = station::load_key(data_dir, config)?;
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

fn find_access(s: &proof::Snapshot, code: &str, to: &str) -> Option<u64> {
    (1..=s.line_count()).rev().find(|&n| {
        s.line(n)
            .and_then(|b| serde_json::from_slice::<Record>(b).ok())
            .is_some_and(|r| {
                matches!(&r.body, Body::Access { code: c, to: Some(t), .. } if c == code && t == to)
            })
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

/// Whether a clip carries the stamp as a text track (it was recorded in passthrough).
pub fn has_text_track(path: &Path) -> bool {
    crate::init_ffmpeg();
    match ffmpeg_next::format::input(&path) {
        Ok(ictx) => ictx
            .streams()
            .any(|s| s.parameters().medium() == ffmpeg_next::media::Type::Subtitle),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot open the clip to look for a text track");
            false
        }
    }
}

/// Re-encodes a clip with the stamp burned into the picture. The time shown is the clip's own:
/// `started_at` (its record) at the first frame, plus the stream timestamps.
pub fn burn(
    input: &Path,
    out: &Path,
    stamp: &crate::encode::StampText,
    started_at: &str,
    settings: &crate::config::EncodeConfig,
) -> Result<(), Error> {
    use crate::capture::FrameSource;
    let start = chrono::DateTime::parse_from_rfc3339(started_at).map_err(|e| {
        bad(
            input,
            format!("started_at {started_at:?} is not a time: {e}"),
        )
    })?;
    let mut source = crate::capture::FfmpegSource::open(&input.to_string_lossy(), false)?;
    let info = source.info();
    let Some(mut frame) = source.next_frame()? else {
        return Err(bad(input, "the clip has no frames to burn the stamp into"));
    };
    let wall = start.timestamp_micros() as f64 / 1e6 - info.seconds(frame.pts().unwrap_or(0));
    let mut enc = crate::encode::Encoder::open(info, settings, wall, stamp)?;
    let mut writer: Option<crate::clip::ClipWriter> = None;
    let mut packets = Vec::new();
    let mut first = true;
    loop {
        enc.encode(&mut frame, first, &mut packets)?;
        first = false;
        for p in packets.drain(..) {
            let w = match writer.as_mut() {
                Some(w) => w,
                None => writer.insert(crate::clip::ClipWriter::create(
                    out,
                    &enc.parameters(),
                    info.time_base,
                    (p.pts, p.dts),
                    false,
                )?),
            };
            w.write(p)?;
        }
        match source.next_frame()? {
            Some(f) => frame = f,
            None => break,
        }
    }
    enc.finish(&mut packets)?;
    if let Some(w) = writer.as_mut() {
        for p in packets.drain(..) {
            w.write(p)?;
        }
    }
    if let Some(w) = writer {
        w.finish()?;
    }
    Ok(())
}

/// One frame of a clip as JPEG: the first (`last` false) or the last.
pub fn still(path: &Path, last: bool) -> Result<Vec<u8>, String> {
    use ffmpeg_next::{codec, format, frame, media, software};
    crate::init_ffmpeg();
    let e = |w: &str| {
        let w = w.to_string();
        move |err: ffmpeg_next::Error| format!("{w}: {err}")
    };
    let mut ictx = format::input(&path).map_err(e("opening"))?;
    let stream = ictx
        .streams()
        .best(media::Type::Video)
        .ok_or("no video stream")?;
    let index = stream.index();
    let mut dec = codec::context::Context::from_parameters(stream.parameters())
        .map_err(e("codec parameters"))?
        .decoder()
        .video()
        .map_err(e("opening the decoder"))?;
    if last {
        // From the keyframe about two seconds before the end (keyframes are every second).
        let end = ictx.duration();
        let at = end - 2 * i64::from(ffmpeg_next::ffi::AV_TIME_BASE);
        if at > 0 {
            let _ = ictx.seek(at, ..at);
        }
    }
    let mut got: Option<frame::Video> = None;
    let mut frame = frame::Video::empty();
    'read: for (s, packet) in ictx.packets() {
        if s.index() != index {
            continue;
        }
        if dec.send_packet(&packet).is_err() {
            continue;
        }
        while dec.receive_frame(&mut frame).is_ok() {
            got = Some(frame.clone());
            if !last {
                break 'read;
            }
        }
    }
    if last || got.is_none() {
        let _ = dec.send_eof();
        while dec.receive_frame(&mut frame).is_ok() {
            got = Some(frame.clone());
        }
    }
    let src = got.ok_or("no frame decoded")?;
    let (w, h) = (src.width(), src.height());
    let mjpeg = codec::encoder::find(codec::Id::MJPEG).ok_or("no MJPEG encoder")?;
    let mut enc = codec::context::Context::new_with_codec(mjpeg)
        .encoder()
        .video()
        .map_err(e("creating the JPEG encoder"))?;
    enc.set_width(w);
    enc.set_height(h);
    enc.set_format(format::Pixel::YUVJ420P);
    enc.set_time_base((1, 25));
    let mut enc = enc.open_as(mjpeg).map_err(e("opening the JPEG encoder"))?;
    let mut scaler = software::scaling::Context::get(
        src.format(),
        w,
        h,
        format::Pixel::YUVJ420P,
        w,
        h,
        software::scaling::Flags::BILINEAR,
    )
    .map_err(e("scaler"))?;
    let mut out = frame::Video::empty();
    scaler.run(&src, &mut out).map_err(e("scaling"))?;
    out.set_pts(Some(0));
    enc.send_frame(&out).map_err(e("encoding"))?;
    enc.send_eof().map_err(e("encoding"))?;
    let mut packet = ffmpeg_next::Packet::empty();
    enc.receive_packet(&mut packet).map_err(e("encoding"))?;
    Ok(packet.data().ok_or("empty JPEG")?.to_vec())
}

/// The HTML report: self-contained (stills inlined), for people.
fn report(ev: &Evidence, stills: &BTreeMap<String, Vec<u8>>) -> String {
    let img = |name: &Option<String>, caption: &str| -> String {
        match name.as_ref().and_then(|n| stills.get(n)) {
            Some(b) => format!(
                "<figure><img alt=\"{caption}\" src=\"data:image/jpeg;base64,{}\"><figcaption>{caption}</figcaption></figure>",
                b64(b)
            ),
            None => String::new(),
        }
    };
    let mut rows = String::new();
    let mut figures = String::new();
    for c in &ev.clips {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>\n",
            c.clip,
            escape(&c.camera),
            c.box_no,
            c.part,
            escape(&c.scanned_at),
            escape(&c.started_at),
            escape(c.ended_at.as_deref().unwrap_or("(open)")),
            escape(c.reason.as_deref().unwrap_or("")),
            escape(c.operator.as_deref().unwrap_or("")),
            escape(c.sha256.as_deref().unwrap_or("")),
            escape(&match (&c.file, c.pruned) {
                (Some(f), _) => f.clone(),
                (None, true) => "pruned by retention; its records are proven below".into(),
                (None, false) => "not sealed".into(),
            }),
        ));
        figures.push_str(&img(
            &c.still_start,
            &format!("clip {} start ({})", c.clip, c.started_at),
        ));
        figures.push_str(&img(
            &c.still_end,
            &format!(
                "clip {} last frame before the seal ({})",
                c.clip,
                c.ended_at.as_deref().unwrap_or("")
            ),
        ));
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Evidence for {code}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:75em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #bbb;padding:.3em .5em;font-size:.9em;vertical-align:top}}code,pre{{font-size:.85em;word-break:break-all}}
figure{{display:inline-block;margin:0 1em 1em 0}}img{{max-width:36em;border:1px solid #888}}pre{{background:#f4f4f4;padding:1em;white-space:pre-wrap}}</style></head>
<body>
<h1>Packing video evidence: {code}</h1>
<p>Exported {exported} by {who} with {software}. Station key <code>{key}</code>.</p>
<p>Every clip below was recorded by the station, its SHA-256 written into the station's append-only,
hash-chained manifest when it was sealed, and that manifest line is proven to be in the station's
signed log (checkpoint of {size} lines, root <code>{root}</code>{time}).</p>
<h2>Stills</h2>
{figures}
<h2>Timeline</h2>
<table><tr><th>clip</th><th>camera</th><th>box</th><th>part</th><th>scanned</th><th>start (with pre-roll)</th><th>end</th><th>sealed by</th><th>operator</th><th>SHA-256</th><th>file</th></tr>
{rows}</table>
<h2>How to check this bundle yourself</h2>
<p>You need nothing from the station or from packwitness: bash, coreutils and openssl (3.0 or newer).
Unzip the bundle and run <code>bash verify.sh</code>, which does exactly these steps:</p>
<pre>
# 1. The clips are the ones recorded: their SHA-256 equals the hash in the sealed records.
sha256sum -c SHA256SUMS
grep -o '"sha256":"[0-9a-f]*"' records/line-*.jsonl

# 2. The checkpoint is signed by the station key (Ed25519).
sed '/^$/,$d' checkpoint.note &gt; body.txt
tail -n 1 checkpoint.note | cut -d' ' -f3 | base64 -d | tail -c 64 &gt; sig.bin
openssl pkeyutl -verify -pubin -inkey station.pem -rawin -in body.txt -sigfile sig.bin

# 3. Each record is in that signed log: recompute the RFC 6962 Merkle path of
#    proofs/line-N.tlog-proof from the leaf SHA-256(0x00 || record line) up to the root
#    (verify.sh does it with openssl dgst); the record inside the proof is records/line-N.jsonl:
sed -n 's/^extra //p' proofs/line-N.tlog-proof | base64 -d | cmp - records/line-N.jsonl

# 4. No file of the bundle was changed after export: bundle.note is signed like step 2
#    and lists the SHA-256 of every other file.
sed '1d;/^$/,$d' bundle.note | sha256sum -c
</pre>
<p>Or, with packwitness: <code>packwitness verify-bundle BUNDLE.zip --key '{key}'</code>.
Compare the station key with the one the merchant published before the dispute.</p>
</body></html>
"#,
        code = escape(&ev.code),
        exported = escape(&ev.exported_at),
        who = escape(&ev.exported_by),
        software = escape(&ev.software),
        key = escape(&ev.station_key),
        size = ev.checkpoint.size,
        root = escape(&ev.checkpoint.root),
        time = ev
            .checkpoint
            .time
            .as_ref()
            .map(|t| format!(", signed {}", escape(t)))
            .unwrap_or_default(),
    )
}

/// The bundle's own checker: bash, coreutils and openssl only.
const VERIFY_SH: &str = include_str!("export/verify.sh");

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::note::unb64;

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
