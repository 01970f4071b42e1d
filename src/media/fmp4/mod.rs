//! fMP4: one order's video as a crash-safe fragmented MP4 file.
//!
//! Owns: the choice of muxer (its own, [`muxer`], for a camera's H.264/H.265 given as MP4
//! samples; FFmpeg's for encoded frames), file naming inside the data dir, and the
//! durability steps of a clip file. Never: decides when a clip starts or ends (the station
//! does) or records anything in the manifest (the ledger does).
//!
//! Life of a clip file, in order:
//! 1. `<name>.mp4.partial` is created exclusively (an existing file is never overwritten);
//! 2. fragments are written as the packets come (one at every keyframe and each quarter
//!    second, the layout of `frag_keyframe+empty_moov+default_base_moof`): every complete
//!    fragment is playable even if the process dies; each complete fragment is fsynced as its last byte is written, and its SHA-256 (and the
//!    file's running SHA-256) is taken from the bytes as they go to the file, so sealing
//!    never reads the clip back;
//! 3. at seal: trailer written, file fsynced, the hashes finished;
//! 4. renamed to `<name>.mp4`, and the directory fsynced;
//! 5. only then does the caller write the sealed record to the manifest.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use ffmpeg::{codec, format, Dictionary, Rational};
use ffmpeg_next as ffmpeg;

use super::EncodedPacket;
use crate::digest;
use crate::diskfile::{DiskFile, SharedFaults};

#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error("clip {path}: {what}: {source} (check free space and permissions of the data dir)")]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("clip {path}: {what}: {source}")]
    Ffmpeg {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: ffmpeg::Error,
    },
}

/// The sample description of a 3GPP timed-text (`tx3g`) track: display flags, justification,
/// background, text box, default style (font 1, 18 px, white) and a one-font table.
const TX3G_SAMPLE_ENTRY: [u8; 48] = [
    0, 0, 0, 0, // display flags
    1, 0xff, // horizontal and vertical justification: centre, bottom
    0, 0, 0, 0, // background colour RGBA
    0, 0, 0, 0, 0, 0, 0, 0, // text box: top, left, bottom, right
    0, 0, 0, 0, 0, 1, 0, 18, 0xff, 0xff, 0xff, 0xff, // style record
    0, 0, 0, 18, b'f', b't', b'a', b'b', 0, 1, 0, 1, 5, b'S', b'e', b'r', b'i',
    b'f', // font table
];

/// Adds a `mov_text` stream (stream 1, millisecond time base) carrying [`TX3G_SAMPLE_ENTRY`].
fn add_text_stream(octx: &mut format::context::Output) -> Result<(), ffmpeg::Error> {
    let mut stream = octx.add_stream(codec::encoder::find(codec::Id::MOV_TEXT))?;
    stream.set_time_base(Rational(1, 1000));
    // SAFETY: codecpar belongs to the new stream; extradata is allocated with av_mallocz (with
    // the padding FFmpeg requires) and freed by FFmpeg with the stream.
    unsafe {
        let par = stream.parameters().as_mut_ptr();
        (*par).codec_type = ffmpeg::ffi::AVMediaType::AVMEDIA_TYPE_SUBTITLE;
        (*par).codec_id = ffmpeg::ffi::AVCodecID::AV_CODEC_ID_MOV_TEXT;
        let n = TX3G_SAMPLE_ENTRY.len();
        let buf = ffmpeg::ffi::av_mallocz(n + ffmpeg::ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize)
            as *mut u8;
        if buf.is_null() {
            return Err(ffmpeg::Error::Other {
                errno: ffmpeg::util::error::ENOMEM,
            });
        }
        std::ptr::copy_nonoverlapping(TX3G_SAMPLE_ENTRY.as_ptr(), buf, n);
        (*par).extradata = buf;
        (*par).extradata_size = n as i32;
    }
    Ok(())
}

/// What a sealed clip file is, as recorded in the manifest.
#[derive(Debug, Clone)]
pub struct SealedFile {
    pub size: u64,
    pub sha256: String,
    pub fragments: Vec<Fragment>,
    pub frames: u64,
    /// pts of the first and last frame, in the encoder time base.
    pub first_pts: i64,
    pub last_pts: i64,
}

/// Where the muxer's bytes go: the clip file, hashed and split into pieces on the way.
///
/// The muxer writes the file strictly in order (fragmented MP4 to a non-seekable output), so
/// one pass over the bytes as they are written gives the file's SHA-256, each piece's SHA-256
/// (see [`Fragment`]) and the moments to fsync: the end of `moov` and the end of every `mdat`
/// after a `moof`, the same cut points [`hash_fragments`] finds in a file on disk.
struct Sink {
    file: DiskFile,
    whole: sha2::Sha256,
    part: sha2::Sha256,
    fragments: Vec<Fragment>,
    /// Bytes written so far, and where the current piece started.
    pos: u64,
    piece_start: u64,
    /// Where the current top-level box ends (`None`: its header is still being read).
    box_end: Option<u64>,
    box_start: u64,
    head: [u8; 16],
    head_len: usize,
    kind: [u8; 4],
    prev_kind: [u8; 4],
    /// A box header that makes no sense: stop splitting (the whole-file hash stays right).
    lost: bool,
    /// A write failed (disk full, I/O error): the file may end in a torn write, and nothing
    /// more is written. Sealing cuts it back to its last complete fragment and hashes it
    /// from disk.
    broken: bool,
    /// What failed first, and the disk's own error (the muxer passes on only an error code).
    failure: Option<(&'static str, std::io::ErrorKind, String)>,
}

impl Sink {
    fn new(file: DiskFile) -> Sink {
        use sha2::Digest;
        Sink {
            file,
            whole: sha2::Sha256::new(),
            part: sha2::Sha256::new(),
            fragments: Vec::new(),
            pos: 0,
            piece_start: 0,
            box_end: None,
            box_start: 0,
            head: [0; 16],
            head_len: 0,
            kind: [0; 4],
            prev_kind: [0; 4],
            lost: false,
            broken: false,
            failure: None,
        }
    }

    /// Writes `buf` to the file, then hashes it and fsyncs at every piece that completes.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<()> {
        use sha2::Digest;
        use std::io::Write;
        if self.broken {
            return Err(std::io::Error::other(
                "an earlier write to this clip failed; it takes no more data",
            ));
        }
        if let Err(e) = self.file.write_all(buf) {
            self.broken = true;
            self.failure = Some(("writing its bytes", e.kind(), e.to_string()));
            return Err(e);
        }
        self.whole.update(buf);
        let mut rest = buf;
        while !rest.is_empty() {
            let step = match self.box_end {
                _ if self.lost => rest.len(),
                None => {
                    // Reading a box header: 8 bytes, or 16 for a 64-bit size.
                    let want = if self.head_len >= 8 && self.large() {
                        16
                    } else {
                        8
                    };
                    let n = (want - self.head_len).min(rest.len());
                    self.head[self.head_len..self.head_len + n].copy_from_slice(&rest[..n]);
                    self.head_len += n;
                    if self.head_len == 8 && self.large() {
                        // Read the 64-bit size next.
                    } else if self.head_len == want {
                        self.start_box();
                    }
                    n
                }
                Some(end) => (end - (self.pos)).min(rest.len() as u64) as usize,
            };
            self.part.update(&rest[..step]);
            self.pos += step as u64;
            rest = &rest[step..];
            if self.box_end == Some(self.pos) {
                if let Err(e) = self.end_box() {
                    // A failed fsync poisons the file like a failed write: what it held may
                    // not be on disk, and nothing more is appended to it.
                    self.broken = true;
                    self.failure = Some(("fsync of a complete fragment", e.kind(), e.to_string()));
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn large(&self) -> bool {
        self.head[..4] == [0, 0, 0, 1]
    }

    fn start_box(&mut self) {
        let size32 = u32::from_be_bytes([self.head[0], self.head[1], self.head[2], self.head[3]]);
        let size = match size32 {
            1 => {
                let mut large = [0u8; 8];
                large.copy_from_slice(&self.head[8..16]);
                u64::from_be_bytes(large)
            }
            // 0 ("to the end of the file") is never written by the fragmenting muxer.
            s => u64::from(s),
        };
        self.kind.copy_from_slice(&self.head[4..8]);
        // `pos` has not yet counted the header bytes just taken; the box began at box_start.
        if size < self.head_len as u64 {
            self.lost = true;
            return;
        }
        self.box_end = Some(self.box_start + size);
    }

    /// A top-level box is complete: at a cut point, close the piece and make it durable.
    fn end_box(&mut self) -> std::io::Result<()> {
        let kind = self.kind;
        let cut = &kind == b"moov" || (&kind == b"mdat" && &self.prev_kind == b"moof");
        self.prev_kind = kind;
        self.box_start = self.pos;
        self.box_end = None;
        self.head_len = 0;
        if cut {
            self.close_piece();
            // A crash or power cut from here on loses nothing up to this byte.
            self.file.sync_data()?;
        }
        Ok(())
    }

    fn close_piece(&mut self) {
        use sha2::Digest;
        if self.pos > self.piece_start {
            let h = std::mem::replace(&mut self.part, sha2::Sha256::new());
            self.fragments.push(Fragment {
                offset: self.piece_start,
                len: self.pos - self.piece_start,
                sha256: digest::hex(&h.finalize()),
            });
            self.piece_start = self.pos;
        }
    }
}

/// The muxer's handle on a [`Sink`] (the clip writer keeps the other one).
struct SinkWriter(std::sync::Arc<std::sync::Mutex<Sink>>);

impl std::io::Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut sink = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("the clip writer panicked earlier"))?;
        sink.write(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What turns packets into the file's bytes.
enum Mux {
    /// FFmpeg's MP4 muxer: for encoded frames (Annex B from the encoder) and any stream whose
    /// parameters are not an MP4 configuration record.
    Ffmpeg {
        octx: format::context::Output,
        out_tb: Rational,
        /// Time base of the text track, when there is one.
        text_tb: Option<Rational>,
    },
    /// The project's own muxer ([`muxer`]): a camera's H.264/H.265 as MP4 samples
    /// (passthrough through retina, or from an MP4 file).
    Own(muxer::Muxer),
}

/// An open clip being written.
pub struct ClipWriter {
    mux: Mux,
    /// The file, its hashes and its pieces, shared with the muxer's output.
    sink: std::sync::Arc<std::sync::Mutex<Sink>>,
    partial: PathBuf,
    path: PathBuf,
    in_tb: Rational,
    /// Decode time of the first packet: every timestamp is rebased to it.
    origin: i64,
    first_pts: i64,
    last_pts: i64,
    frames: u64,
    /// The duration of the last packet written (input time base; 0 when it had none).
    last_duration: i64,
}

/// The codec, picture size and extradata of a stream's parameters.
fn video_of(params: &codec::Parameters) -> (codec::Id, u32, u32, Vec<u8>) {
    // SAFETY: the parameters own their codecpar; extradata holds extradata_size bytes when it
    // is not null.
    unsafe {
        let par = params.as_ptr();
        let extra = if (*par).extradata.is_null() || (*par).extradata_size <= 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts((*par).extradata, (*par).extradata_size as usize).to_vec()
        };
        (
            params.id(),
            (*par).width.max(0) as u32,
            (*par).height.max(0) as u32,
            extra,
        )
    }
}

/// `v` ticks of time base `tb` in units of `1/scale` seconds.
fn rescale(v: i64, tb: Rational, scale: u32) -> i64 {
    let den = i128::from(tb.denominator().max(1));
    (i128::from(v) * i128::from(tb.numerator()) * i128::from(scale) / den) as i64
}

/// The own muxer's video timescale for input time base `tb`: its own when it is 1/N, else
/// the 90 kHz clock of RTP video.
fn timescale_of(tb: Rational) -> u32 {
    match (tb.numerator(), tb.denominator()) {
        (1, den) if den > 0 => den as u32,
        _ => 90_000,
    }
}

/// Writes bytes the own muxer made to the sink; the disk's own error when it fails.
fn put(sink: &std::sync::Mutex<Sink>, bytes: &[u8], path: &Path) -> Result<(), ClipError> {
    let mut sink = sink.lock().map_err(|_| ClipError::Io {
        path: path.to_owned(),
        what: "the clip's output",
        source: std::io::Error::other("a writer thread panicked"),
    })?;
    sink.write(bytes).map_err(|source| {
        let what = sink.failure.as_ref().map_or("writing its bytes", |f| f.0);
        ClipError::Io {
            path: path.to_owned(),
            what,
            source,
        }
    })
}

fn partial_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}

impl ClipWriter {
    /// Creates `path` (as `path.partial` until sealed) for a stream with these parameters;
    /// the first packet written must be a keyframe with pts `first_pts`.
    ///
    /// `origin` is the decode time of the first packet (timestamps are rebased to it); with
    /// `text_track`, a timed-text (`mov_text`) track is added for the stamp (passthrough).
    pub fn create(
        path: &Path,
        params: &codec::Parameters,
        time_base: Rational,
        first: (i64, i64),
        text_track: bool,
    ) -> Result<ClipWriter, ClipError> {
        ClipWriter::create_on(path, params, time_base, first, text_track, None)
    }

    /// [`ClipWriter::create`] on a disk whose writes and fsyncs ask `faults` first (tests).
    pub fn create_on(
        path: &Path,
        params: &codec::Parameters,
        time_base: Rational,
        (first_pts, origin): (i64, i64),
        text_track: bool,
        faults: Option<SharedFaults>,
    ) -> Result<ClipWriter, ClipError> {
        let io = |what| {
            let path = path.to_owned();
            move |source| ClipError::Io { path, what, source }
        };
        if let Some(dir) = path.parent() {
            crate::datadir::create_dir_durable(dir).map_err(io("creating its directory"))?;
        }
        let partial = partial_path(path);
        if path.exists() {
            return Err(ClipError::Io {
                path: path.to_owned(),
                what: "refusing to overwrite an existing clip",
                source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            });
        }
        // Exclusive create: two writers can never share a file.
        let file = OpenOptions::new()
            .read(true) // to find the last complete fragment if a write fails
            .write(true)
            .create_new(true)
            .open(&partial)
            .map_err(io("creating the file"))?;
        let file = DiskFile::new(file, &partial, 0, faults);
        let sink = std::sync::Arc::new(std::sync::Mutex::new(Sink::new(file)));
        let (id, width, height, config) = video_of(params);
        let own = matches!(id, codec::Id::H264 | codec::Id::HEVC)
            && muxer::VideoTrack::takes(&config)
            && width <= u32::from(u16::MAX)
            && height <= u32::from(u16::MAX);
        let mux = if own {
            let track = muxer::VideoTrack {
                hevc: id == codec::Id::HEVC,
                width: width as u16,
                height: height as u16,
                config,
                timescale: timescale_of(time_base),
            };
            let (m, head) = muxer::Muxer::start(&track, text_track);
            put(&sink, &head, path)?;
            Mux::Own(m)
        } else {
            ClipWriter::ffmpeg_muxer(path, &sink, params, time_base, text_track)?
        };
        Ok(ClipWriter {
            mux,
            sink,
            partial,
            path: path.to_owned(),
            in_tb: time_base,
            origin,
            first_pts,
            last_pts: first_pts,
            frames: 0,
            last_duration: 0,
        })
    }

    /// FFmpeg's MP4 muxer writing to `sink`, its header written.
    fn ffmpeg_muxer(
        path: &Path,
        sink: &std::sync::Arc<std::sync::Mutex<Sink>>,
        params: &codec::Parameters,
        time_base: Rational,
        text_track: bool,
    ) -> Result<Mux, ClipError> {
        let ff = |what| {
            let path = path.to_owned();
            move |source| ClipError::Ffmpeg { path, what, source }
        };
        // A non-seekable output: the muxer never goes back, so the bytes can be hashed as
        // they are written.
        let stream = format::context::StreamIo::from_write(SinkWriter(sink.clone()))
            .map_err(ff("setting up the clip's output"))?;
        let mut octx = format::output_to_stream(stream, None, Some("mp4"))
            .map_err(ff("opening the MP4 muxer"))?;
        {
            let mut stream = octx
                .add_stream(codec::encoder::find(params.id()))
                .map_err(ff("adding the video stream"))?;
            stream.set_parameters(params.clone());
            // SAFETY: codecpar belongs to the stream just created; a camera's codec tag (from
            // RTSP, say) may not be valid in MP4, and 0 lets the muxer choose.
            unsafe {
                (*stream.parameters().as_mut_ptr()).codec_tag = 0;
            }
            stream.set_time_base(time_base);
        }
        if text_track {
            add_text_stream(&mut octx).map_err(ff("adding the stamp's text track"))?;
        }
        let mut opts = Dictionary::new();
        opts.set("movflags", "frag_keyframe+empty_moov+default_base_moof");
        // A fragment at least every quarter second (and at every keyframe), so a crash loses
        // little; every packet goes to the file at once, not into an I/O buffer.
        opts.set("frag_duration", "250000");
        opts.set("flush_packets", "1");
        octx.write_header_with(opts)
            .map_err(ff("writing the MP4 header"))?;
        let out_tb = octx.stream(0).map(|s| s.time_base()).unwrap_or(time_base);
        let text_tb = octx.stream(1).map(|s| s.time_base());
        Ok(Mux::Ffmpeg {
            octx,
            out_tb,
            text_tb,
        })
    }

    /// Appends one packet. Timestamps are rebased so the clip starts at 0. When the muxer has
    /// completed a fragment, it is fsynced at once (by the sink, as its last byte goes out): a
    /// crash or power cut loses at most the fragment being recorded (a quarter second) plus
    /// the encoder's delay.
    pub fn write(&mut self, mut p: EncodedPacket) -> Result<(), ClipError> {
        let (pts, dts) = (p.pts - self.origin, p.dts - self.origin);
        match &mut self.mux {
            Mux::Own(m) => {
                let scale = m.timescale();
                let (dts, pts) = (
                    rescale(dts, self.in_tb, scale),
                    rescale(pts, self.in_tb, scale),
                );
                let data = p.packet.data().unwrap_or(&[]);
                if let Some(bytes) = m.push(dts, pts, p.key, data) {
                    put(&self.sink, bytes, &self.path)?;
                }
                self.last_duration = p.packet.duration();
            }
            Mux::Ffmpeg { out_tb, octx, .. } => {
                p.packet.set_stream(0);
                p.packet.set_pts(Some(pts));
                p.packet.set_dts(Some(dts));
                p.packet.set_position(-1);
                p.packet.rescale_ts(self.in_tb, *out_tb);
                // Packets come in decode order already: no interleaving buffer, nothing held
                // back.
                p.packet.write(octx).map_err(|source| {
                    self.disk_failure().unwrap_or_else(|| ClipError::Ffmpeg {
                        path: self.path.clone(),
                        what: "writing a packet (is the disk full? check free space and permissions of the data dir)",
                        source,
                    })
                })?;
            }
        }
        self.last_pts = self.last_pts.max(p.pts);
        self.frames += 1;
        Ok(())
    }

    /// The disk's own error when a write or fsync of the file failed (the muxer reports
    /// only an error code).
    fn disk_failure(&self) -> Option<ClipError> {
        let sink = self.sink.lock().ok()?;
        let (what, kind, text) = sink.failure.clone()?;
        Some(ClipError::Io {
            path: self.path.clone(),
            what,
            source: std::io::Error::new(kind, text),
        })
    }

    /// Adds a stamp sample to the text track: `text` shown from `pts` (input time base) for
    /// `duration`. Does nothing without a text track.
    pub fn write_text(&mut self, pts: i64, duration: i64, text: &str) -> Result<(), ClipError> {
        let rel = (pts - self.origin).max(0);
        let (text_tb, octx) = match &mut self.mux {
            Mux::Own(m) => {
                let ms = muxer::TEXT_TIMESCALE;
                m.push_text(
                    rescale(rel, self.in_tb, ms),
                    rescale(duration, self.in_tb, ms),
                    text,
                );
                return Ok(());
            }
            Mux::Ffmpeg {
                text_tb: Some(tb),
                octx,
                ..
            } => (*tb, octx),
            Mux::Ffmpeg { text_tb: None, .. } => return Ok(()),
        };
        // A mov_text sample: 16-bit big-endian length, then UTF-8 text.
        let bytes = text.as_bytes();
        let len = bytes.len().min(u16::MAX as usize);
        let mut data = Vec::with_capacity(len + 2);
        data.extend_from_slice(&(len as u16).to_be_bytes());
        data.extend_from_slice(&bytes[..len]);
        let mut packet = ffmpeg::Packet::copy(&data);
        packet.set_stream(1);
        packet.set_pts(Some(rel));
        packet.set_dts(Some(rel));
        packet.set_duration(duration);
        packet.set_flags(ffmpeg::codec::packet::Flags::KEY);
        packet.rescale_ts(self.in_tb, text_tb);
        packet.write(octx).map_err(|source| {
            self.disk_failure().unwrap_or_else(|| ClipError::Ffmpeg {
                path: self.path.clone(),
                what: "writing a stamp sample",
                source,
            })
        })?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    pub fn first_pts(&self) -> i64 {
        self.first_pts
    }

    /// Seals the clip: steps 3 and 4 of the life of a clip file (see the module comment).
    pub fn finish(mut self) -> Result<SealedFile, ClipError> {
        let trailer = match &mut self.mux {
            Mux::Ffmpeg { octx, .. } => octx.write_trailer().map_err(|source| ClipError::Ffmpeg {
                path: self.path.clone(),
                what: "writing the MP4 trailer",
                source,
            }),
            Mux::Own(m) => {
                let scale = m.timescale();
                let end = m.finish(rescale(self.last_duration, self.in_tb, scale));
                put(&self.sink, end, &self.path)
            }
        };
        let broken = self.sink.lock().map_or(true, |s| s.broken);
        if let Err(e) = trailer {
            // After a failed write the trailer cannot be written either; what is whole is
            // kept below.
            if !broken {
                return Err(e);
            }
        }
        let ClipWriter {
            mux,
            sink,
            partial,
            path,
            first_pts,
            last_pts,
            frames,
            in_tb,
            ..
        } = self;
        drop(mux); // flushes FFmpeg's muxer's last bytes into the sink
        let io = |what| {
            let path = path.clone();
            move |source| ClipError::Io { path, what, source }
        };
        let mut sink = sink.lock().map_err(|_| ClipError::Io {
            path: path.clone(),
            what: "the clip's output",
            source: std::io::Error::other("a writer thread panicked"),
        })?;
        let (size, sha256, fragments, frames, last_pts) = if sink.broken {
            // A write failed (a full disk?): keep what is whole. Cut the file back to its last
            // complete fragment, then hash and count what is really there.
            let cut = last_complete_fragment_end(sink.file.file_mut())
                .map_err(io("reading its boxes after a failed write"))?;
            sink.file
                .set_len(cut)
                .map_err(io("cutting the fragment a failed write left torn"))?;
            sink.file.sync_all().map_err(io("fsync"))?;
            drop(sink);
            let (sha256, size, fragments) = hash_fragments(&partial).map_err(io("hashing"))?;
            let (frames, span_s, _) = if size == 0 {
                (0, 0.0, 0.0)
            } else {
                count_frames(&partial)?
            };
            let tb = in_tb.numerator() as f64 / in_tb.denominator().max(1) as f64;
            let last = first_pts + (span_s / tb.max(1e-12)).round() as i64;
            tracing::warn!(file = %path.display(), frames, "a write failed; the clip is sealed with its complete fragments only");
            (size, sha256, fragments, frames, last)
        } else {
            // The trailer (mfra) is the last piece.
            sink.close_piece();
            sink.file.sync_all().map_err(io("fsync"))?;
            let (size, fragments) = (sink.pos, std::mem::take(&mut sink.fragments));
            let sha256 = {
                use sha2::Digest;
                digest::hex(&std::mem::replace(&mut sink.whole, sha2::Sha256::new()).finalize())
            };
            drop(sink);
            (size, sha256, fragments, frames, last_pts)
        };
        write_fragments(&path, &fragments).map_err(io("writing its fragment list"))?;
        fs::rename(&partial, &path).map_err(io("renaming into place"))?;
        if let Some(dir) = path.parent() {
            crate::datadir::sync_dir(dir).map_err(io("fsync of its directory"))?;
        }
        Ok(SealedFile {
            size,
            sha256,
            fragments,
            frames,
            first_pts,
            last_pts,
        })
    }
}

mod muxer;
mod pieces;
mod recover;

pub use pieces::*;
pub use recover::*;

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    fn mp4_box(kind: &[u8; 4], body_len: usize, large: bool) -> Vec<u8> {
        let mut b = Vec::new();
        if large {
            b.extend_from_slice(&1u32.to_be_bytes());
            b.extend_from_slice(kind);
            b.extend_from_slice(&(16 + body_len as u64).to_be_bytes());
        } else {
            b.extend_from_slice(&(8 + body_len as u32).to_be_bytes());
            b.extend_from_slice(kind);
        }
        b.extend((0..body_len).map(|i| (i * 7 + kind[0] as usize) as u8));
        b
    }

    /// The sink (hashing as bytes are written, in any chunking) and `hash_fragments` (reading
    /// the file afterwards) must agree on the hash and on every piece.
    #[test]
    fn sink_pieces_equal_a_reread_of_the_file() {
        let mut bytes = Vec::new();
        for (kind, len, large) in [
            (b"ftyp", 20, false),
            (b"moov", 700, false),
            (b"moof", 90, false),
            (b"mdat", 5000, false),
            (b"free", 0, false),
            (b"moof", 90, false),
            (b"mdat", 3000, true),
            (b"moof", 90, false),
            (b"mdat", 1, false),
            (b"mfra", 40, false),
        ] {
            bytes.extend(mp4_box(kind, len, large));
        }
        let dir = tempfile::tempdir().unwrap();
        for chunk in [1usize, 3, 7, 8, 15, 16, 100, 4096, 1 << 20] {
            let path = dir.path().join(format!("c{chunk}.mp4"));
            let mut sink = Sink::new(DiskFile::new(File::create(&path).unwrap(), &path, 0, None));
            for piece in bytes.chunks(chunk) {
                sink.write(piece).unwrap();
            }
            sink.close_piece();
            use sha2::Digest;
            let whole = digest::hex(&sink.whole.clone().finalize());
            let (sha, size, frags) = hash_fragments(&path).unwrap();
            assert_eq!((whole, sink.pos), (sha, size), "chunk {chunk}");
            assert_eq!(sink.fragments, frags, "chunk {chunk}");
            // ftyp+moov, three fragments (the free box rides with the one after it), mfra.
            assert_eq!(frags.len(), 5, "chunk {chunk}");
        }
    }
}
