//! The project's own fragmented-MP4 muxer, for a camera's H.264/H.265 copied as it comes.
//!
//! Owns: the bytes of a clip file whose video arrives as MP4 samples already (length-prefixed
//! NAL units, an `avcC`/`hvcC` configuration record): `ftyp` and an empty `moov` (the video
//! track and, for the stamp, a 3GPP timed-text track), then one `moof` + `mdat` fragment at
//! every keyframe and at least every quarter second, then an `mfra` index at the end. The
//! layout is the one FFmpeg's `frag_keyframe+empty_moov+default_base_moof` writes, so the
//! clip writer's durability, hashing and recovery read both alike (docs/format.md).
//! Never: touches the file (it hands its bytes to the clip writer, which writes, hashes and
//! fsyncs them), reorders, drops or alters a sample, or decodes anything.
//!
//! A fragment is made when the sample after it arrives, so that every sample's duration is
//! the true distance to the next one; its bytes are built in a buffer kept from fragment to
//! fragment (no allocation once the first keyframe's fragment has been seen).

/// Decode-time units of the text track: milliseconds.
pub(super) const TEXT_TIMESCALE: u32 = 1000;

/// The longest a fragment runs before it is closed without a keyframe, in milliseconds (the
/// FFmpeg muxer's `frag_duration` of 250000 µs).
const FRAGMENT_MS: i64 = 250;

/// What a clip's video is: enough to write its sample description.
pub(super) struct VideoTrack {
    pub hevc: bool,
    pub width: u16,
    pub height: u16,
    /// The `avcC`/`hvcC` configuration record (FFmpeg's extradata for MP4 samples).
    pub config: Vec<u8>,
    /// Decode-time units a second.
    pub timescale: u32,
}

impl VideoTrack {
    /// A configuration record (not Annex B start codes) is what this muxer can store as is:
    /// version 1 in its first byte, as `avcC` and `hvcC` both begin.
    pub fn takes(config: &[u8]) -> bool {
        config.len() >= 7 && config[0] == 1
    }
}

/// One sample waiting for its fragment: its place in the pending data, and its times.
#[derive(Clone, Copy)]
struct Sample {
    dts: i64,
    /// Composition offset (pts - dts).
    cto: i64,
    size: u32,
    key: bool,
}

/// One stamp waiting for its fragment.
#[derive(Clone, Copy)]
struct Text {
    dts: i64,
    duration: i64,
    size: u32,
}

/// The state of one clip's muxing.
pub(super) struct Muxer {
    timescale: u32,
    text_track: bool,
    fragment_ticks: i64,
    sequence: u32,
    video: Vec<Sample>,
    video_data: Vec<u8>,
    text: Vec<Text>,
    text_data: Vec<u8>,
    /// The bytes of the fragment being made (kept between fragments).
    out: Vec<u8>,
    /// Bytes handed out so far: where the next fragment starts in the file.
    written: u64,
    /// (decode time, offset of its `moof`) of every fragment that starts with a keyframe.
    index: Vec<(u64, u64)>,
    /// The duration of the last sample written, for the very last one of the clip.
    last_duration: i64,
}

/// Writes a box: its size (patched when `body` is done), its type, its body.
fn bx(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(kind);
    body(out);
    let size = (out.len() - at) as u32;
    out[at..at + 4].copy_from_slice(&size.to_be_bytes());
}

/// A full box: version and flags before the body.
fn full(
    out: &mut Vec<u8>,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    bx(out, kind, |o| {
        o.extend_from_slice(&((u32::from(version) << 24) | (flags & 0xff_ffff)).to_be_bytes());
        body(o);
    });
}

fn u16b(o: &mut Vec<u8>, v: u16) {
    o.extend_from_slice(&v.to_be_bytes());
}

fn u32b(o: &mut Vec<u8>, v: u32) {
    o.extend_from_slice(&v.to_be_bytes());
}

fn u64b(o: &mut Vec<u8>, v: u64) {
    o.extend_from_slice(&v.to_be_bytes());
}

/// The identity matrix of `mvhd` and `tkhd`.
fn matrix(o: &mut Vec<u8>) {
    for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        u32b(o, v);
    }
}

/// `tkhd`: enabled and in the movie, duration unknown (a fragmented file).
fn tkhd(o: &mut Vec<u8>, track: u32, width: u16, height: u16) {
    full(o, b"tkhd", 0, 3, |o| {
        u32b(o, 0); // creation time
        u32b(o, 0); // modification time
        u32b(o, track);
        u32b(o, 0); // reserved
        u32b(o, 0); // duration
        u64b(o, 0); // reserved
        u16b(o, 0); // layer
        u16b(o, 0); // alternate group
        u16b(o, 0); // volume
        u16b(o, 0); // reserved
        matrix(o);
        u32b(o, u32::from(width) << 16);
        u32b(o, u32::from(height) << 16);
    });
}

/// `mdia` with its `mdhd`, `hdlr` and a `minf` whose media header is `media_header` and whose
/// only sample description is `entry`.
fn mdia(
    o: &mut Vec<u8>,
    timescale: u32,
    handler: &[u8; 4],
    name: &str,
    video: bool,
    entry: impl FnOnce(&mut Vec<u8>),
) {
    bx(o, b"mdia", |o| {
        full(o, b"mdhd", 0, 0, |o| {
            u32b(o, 0);
            u32b(o, 0);
            u32b(o, timescale);
            u32b(o, 0); // duration
            u16b(o, 0x55c4); // language "und"
            u16b(o, 0);
        });
        full(o, b"hdlr", 0, 0, |o| {
            u32b(o, 0);
            o.extend_from_slice(handler);
            o.extend_from_slice(&[0; 12]);
            o.extend_from_slice(name.as_bytes());
            o.push(0);
        });
        bx(o, b"minf", |o| {
            if video {
                full(o, b"vmhd", 0, 1, |o| o.extend_from_slice(&[0; 8]));
            } else {
                full(o, b"nmhd", 0, 0, |_| {});
            }
            bx(o, b"dinf", |o| {
                full(o, b"dref", 0, 0, |o| {
                    u32b(o, 1);
                    full(o, b"url ", 0, 1, |_| {});
                });
            });
            bx(o, b"stbl", |o| {
                full(o, b"stsd", 0, 0, |o| {
                    u32b(o, 1);
                    entry(o);
                });
                // The samples are all in fragments: empty tables.
                full(o, b"stts", 0, 0, |o| u32b(o, 0));
                full(o, b"stsc", 0, 0, |o| u32b(o, 0));
                full(o, b"stsz", 0, 0, |o| u64b(o, 0));
                full(o, b"stco", 0, 0, |o| u32b(o, 0));
            });
        });
    });
}

/// The `avc1`/`hev1` visual sample entry: the picture size and the configuration record.
fn visual_entry(o: &mut Vec<u8>, v: &VideoTrack) {
    // hev1: parameter sets may also come in-band, as a camera's do at every keyframe.
    let (kind, record) = if v.hevc {
        (b"hev1", b"hvcC")
    } else {
        (b"avc1", b"avcC")
    };
    bx(o, kind, |o| {
        o.extend_from_slice(&[0; 6]);
        u16b(o, 1); // data reference index
        o.extend_from_slice(&[0; 16]); // pre-defined and reserved
        u16b(o, v.width);
        u16b(o, v.height);
        u32b(o, 0x0048_0000); // 72 dpi
        u32b(o, 0x0048_0000);
        u32b(o, 0);
        u16b(o, 1); // frame count
        o.extend_from_slice(&[0; 32]); // compressor name
        u16b(o, 0x0018); // depth
        u16b(o, 0xffff); // pre-defined -1
        bx(o, record, |o| o.extend_from_slice(&v.config));
    });
}

impl Muxer {
    /// The muxer of one clip, and the bytes its file begins with (`ftyp` and `moov`).
    pub fn start(v: &VideoTrack, text_track: bool) -> (Muxer, Vec<u8>) {
        let mut o = Vec::with_capacity(1024 + v.config.len());
        bx(&mut o, b"ftyp", |o| {
            o.extend_from_slice(b"isom");
            u32b(o, 0x200);
            o.extend_from_slice(b"isomiso2iso6mp41");
            o.extend_from_slice(if v.hevc { b"hev1" } else { b"avc1" });
        });
        bx(&mut o, b"moov", |o| {
            full(o, b"mvhd", 0, 0, |o| {
                u32b(o, 0);
                u32b(o, 0);
                u32b(o, 1000);
                u32b(o, 0); // duration: unknown until the end, found from the fragments
                u32b(o, 0x0001_0000); // rate 1.0
                u16b(o, 0x0100); // volume 1.0
                o.extend_from_slice(&[0; 10]);
                matrix(o);
                o.extend_from_slice(&[0; 24]);
                u32b(o, if text_track { 3 } else { 2 }); // next track id
            });
            bx(o, b"trak", |o| {
                tkhd(o, 1, v.width, v.height);
                mdia(o, v.timescale, b"vide", "VideoHandler", true, |o| {
                    visual_entry(o, v)
                });
            });
            if text_track {
                bx(o, b"trak", |o| {
                    tkhd(o, 2, 0, 0);
                    mdia(o, TEXT_TIMESCALE, b"sbtl", "SubtitleHandler", false, |o| {
                        bx(o, b"tx3g", |o| {
                            o.extend_from_slice(&[0; 6]);
                            u16b(o, 1);
                            o.extend_from_slice(&super::TX3G_SAMPLE_ENTRY);
                        });
                    });
                });
            }
            bx(o, b"mvex", |o| {
                for track in 1..=(if text_track { 2 } else { 1 }) {
                    full(o, b"trex", 0, 0, |o| {
                        u32b(o, track);
                        u32b(o, 1); // sample description 1
                        u32b(o, 0);
                        u32b(o, 0);
                        u32b(o, 0);
                    });
                }
            });
        });
        let muxer = Muxer {
            timescale: v.timescale,
            text_track,
            fragment_ticks: i64::from(v.timescale) * FRAGMENT_MS / 1000,
            sequence: 0,
            video: Vec::new(),
            video_data: Vec::new(),
            text: Vec::new(),
            text_data: Vec::new(),
            out: Vec::new(),
            written: o.len() as u64,
            index: Vec::new(),
            last_duration: i64::from(v.timescale / 30).max(1),
        };
        (muxer, o)
    }

    /// Adds a video sample (times in the video timescale, decode times strictly increasing);
    /// the bytes of the fragment it closes, if it closes one (a keyframe, or a quarter second
    /// since the fragment began), to be written before anything else.
    pub fn push(&mut self, dts: i64, pts: i64, key: bool, data: &[u8]) -> Option<&[u8]> {
        let closes = self
            .video
            .first()
            .is_some_and(|f| key || dts - f.dts >= self.fragment_ticks);
        let made = if closes {
            self.fragment(Some(dts))
        } else {
            false
        };
        self.video.push(Sample {
            dts,
            cto: pts - dts,
            size: data.len() as u32,
            key,
        });
        self.video_data.extend_from_slice(data);
        made.then_some(self.out.as_slice())
    }

    /// Adds a stamp shown from `dts` for `duration` (milliseconds); it goes out with the next
    /// fragment. A stamp at the time of the one before replaces it.
    pub fn push_text(&mut self, dts: i64, duration: i64, text: &str) {
        if !self.text_track {
            return;
        }
        let bytes = &text.as_bytes()[..text.len().min(u16::MAX as usize)];
        if let Some(last) = self.text.last() {
            if dts <= last.dts {
                let keep = self.text_data.len() - last.size as usize;
                self.text_data.truncate(keep);
                self.text.pop();
            }
        }
        // A tx3g sample: 16-bit big-endian length, then UTF-8 text.
        self.text_data
            .extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        self.text_data.extend_from_slice(bytes);
        self.text.push(Text {
            dts,
            duration: duration.max(1),
            size: bytes.len() as u32 + 2,
        });
    }

    /// The last fragment (its last sample lasting `last_duration`, or as long as the one
    /// before when that is 0) and the `mfra` index: the bytes the file ends with.
    pub fn finish(&mut self, last_duration: i64) -> &[u8] {
        if last_duration > 0 {
            self.last_duration = last_duration;
        }
        let mut end = Vec::new();
        if self.fragment(None) {
            end.extend_from_slice(&self.out);
        }
        let mfra_at = end.len();
        bx(&mut end, b"mfra", |o| {
            full(o, b"tfra", 1, 0, |o| {
                u32b(o, 1);
                u32b(o, 0); // one byte each for traf, trun and sample numbers
                u32b(o, self.index.len() as u32);
                for &(time, offset) in &self.index {
                    u64b(o, time);
                    u64b(o, offset);
                    o.extend_from_slice(&[1, 1, 1]);
                }
            });
            full(o, b"mfro", 0, 0, |o| u32b(o, 0));
        });
        // mfro, the last box, ends with the size of the whole mfra.
        let size = (end.len() - mfra_at) as u32;
        let n = end.len();
        end[n - 4..].copy_from_slice(&size.to_be_bytes());
        self.out = end;
        &self.out
    }

    /// Builds the pending samples into `out` as one `moof` + `mdat`; `next_dts` is the decode
    /// time of the sample after them (`None` at the end). False when nothing was pending.
    fn fragment(&mut self, next_dts: Option<i64>) -> bool {
        if self.video.is_empty() && self.text.is_empty() {
            return false;
        }
        self.sequence += 1;
        let moof_at = self.written;
        let mut o = std::mem::take(&mut self.out);
        o.clear();
        // Durations: to the next sample, the last one to `next_dts` (or as the one before).
        let n = self.video.len();
        let mut durations = Vec::with_capacity(n);
        for i in 0..n {
            let d = match (self.video.get(i + 1), next_dts) {
                (Some(next), _) => next.dts - self.video[i].dts,
                (None, Some(next)) => next - self.video[i].dts,
                (None, None) => self.last_duration,
            };
            durations.push(d.max(1));
        }
        if let Some(&d) = durations.last() {
            self.last_duration = d;
        }
        if let Some(first) = self.video.first().filter(|s| s.key) {
            self.index.push((first.dts.max(0) as u64, moof_at));
        }
        // The text samples, a blank one filling any gap between two stamps.
        let mut texts: Vec<(i64, u32, bool)> = Vec::with_capacity(self.text.len() * 2);
        for (i, t) in self.text.iter().enumerate() {
            match self.text.get(i + 1) {
                Some(next) if next.dts > t.dts + t.duration => {
                    texts.push((t.duration, t.size, false));
                    texts.push((next.dts - t.dts - t.duration, 2, true));
                }
                Some(next) => texts.push((next.dts - t.dts, t.size, false)),
                None => texts.push((t.duration, t.size, false)),
            }
        }
        let blanks = texts.iter().filter(|t| t.2).count();
        let mut offsets = Vec::new();
        bx(&mut o, b"moof", |o| {
            full(o, b"mfhd", 0, 0, |o| u32b(o, self.sequence));
            if let Some(first) = self.video.first() {
                bx(o, b"traf", |o| {
                    full(o, b"tfhd", 0, 0x02_0000, |o| u32b(o, 1)); // default-base-is-moof
                    full(o, b"tfdt", 1, 0, |o| u64b(o, first.dts.max(0) as u64));
                    // data offset, and each sample's duration, size, flags and composition offset
                    full(o, b"trun", 1, 0x000f01, |o| {
                        u32b(o, n as u32);
                        offsets.push(o.len());
                        u32b(o, 0);
                        for (s, d) in self.video.iter().zip(&durations) {
                            u32b(o, *d as u32);
                            u32b(o, s.size);
                            // sync: depends on nothing; else depends on others, not a sync sample
                            u32b(o, if s.key { 0x0200_0000 } else { 0x0101_0000 });
                            u32b(o, s.cto as i32 as u32);
                        }
                    });
                });
            }
            if let Some(first) = self.text.first() {
                bx(o, b"traf", |o| {
                    full(o, b"tfhd", 0, 0x02_0000, |o| u32b(o, 2));
                    full(o, b"tfdt", 1, 0, |o| u64b(o, first.dts.max(0) as u64));
                    full(o, b"trun", 0, 0x000301, |o| {
                        u32b(o, texts.len() as u32);
                        offsets.push(o.len());
                        u32b(o, 0);
                        for &(d, size, _) in &texts {
                            u32b(o, d.max(1) as u32);
                            u32b(o, size);
                        }
                    });
                });
            }
        });
        let moof_len = o.len();
        let body = self.video_data.len() + self.text_data.len() + blanks * 2;
        // A 64-bit size for a fragment of 4 GiB or more (never seen from a camera).
        let header = match u32::try_from(8 + body) {
            Ok(size) => {
                u32b(&mut o, size);
                o.extend_from_slice(b"mdat");
                8
            }
            Err(_) => {
                u32b(&mut o, 1);
                o.extend_from_slice(b"mdat");
                u64b(&mut o, 16 + body as u64);
                16
            }
        };
        // Each run's data offset, from the start of the moof (default-base-is-moof).
        let mut at = moof_len + header;
        let mut runs = offsets.into_iter();
        if !self.video.is_empty() {
            if let Some(p) = runs.next() {
                o[p..p + 4].copy_from_slice(&(at as u32).to_be_bytes());
            }
            at += self.video_data.len();
        }
        if let Some(p) = runs.next() {
            o[p..p + 4].copy_from_slice(&(at as u32).to_be_bytes());
        }
        o.extend_from_slice(&self.video_data);
        let mut data = 0usize;
        let mut text = self.text.iter();
        for &(_, _, blank) in &texts {
            if blank {
                o.extend_from_slice(&[0, 0]);
            } else if let Some(t) = text.next() {
                o.extend_from_slice(&self.text_data[data..data + t.size as usize]);
                data += t.size as usize;
            }
        }
        self.written += o.len() as u64;
        self.out = o;
        self.video.clear();
        self.video_data.clear();
        self.text.clear();
        self.text_data.clear();
        true
    }

    /// Decode-time units of the video a second.
    pub fn timescale(&self) -> u32 {
        self.timescale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The top-level boxes of `b` as (type, body).
    fn boxes(b: &[u8]) -> Vec<([u8; 4], &[u8])> {
        let mut out = Vec::new();
        let mut at = 0;
        while at + 8 <= b.len() {
            let size = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
            let kind: [u8; 4] = b[at + 4..at + 8].try_into().unwrap();
            assert!(size >= 8 && at + size <= b.len(), "box {kind:?} at {at}");
            out.push((kind, &b[at + 8..at + size]));
            at += size;
        }
        assert_eq!(at, b.len(), "trailing bytes");
        out
    }

    fn child<'a>(b: &'a [u8], kind: &[u8; 4]) -> Vec<&'a [u8]> {
        boxes(b)
            .into_iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, v)| v)
            .collect()
    }

    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }

    fn be64(b: &[u8], at: usize) -> u64 {
        u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
    }

    /// One track's run of a fragment: (track, base decode time, [(duration, size, flags)],
    /// the samples' bytes found through the data offset).
    type Run = (u32, u64, Vec<(u32, u32, u32)>, Vec<u8>);

    fn runs(fragment: &[u8]) -> Vec<Run> {
        let top = boxes(fragment);
        assert_eq!(top.len(), 2);
        assert_eq!((&top[0].0, &top[1].0), (b"moof", b"mdat"));
        let moof_len = top[0].1.len() + 8;
        let mut out = Vec::new();
        for traf in child(top[0].1, b"traf") {
            let tfhd = child(traf, b"tfhd")[0];
            assert_eq!(be32(tfhd, 0), 0x02_0000, "default-base-is-moof");
            let tfdt = child(traf, b"tfdt")[0];
            let trun = child(traf, b"trun")[0];
            let flags = be32(trun, 0) & 0xff_ffff;
            let n = be32(trun, 4) as usize;
            let offset = be32(trun, 8) as usize;
            let per = 4 * [0x100, 0x200, 0x400, 0x800]
                .iter()
                .filter(|f| flags & **f != 0)
                .count();
            let mut samples = Vec::new();
            let mut len = 0usize;
            for i in 0..n {
                let s = &trun[12 + i * per..];
                let flag = if flags & 0x400 != 0 { be32(s, 8) } else { 0 };
                samples.push((be32(s, 0), be32(s, 4), flag));
                len += be32(s, 4) as usize;
            }
            assert!(offset >= moof_len + 8);
            let data = fragment[offset..offset + len].to_vec();
            out.push((be32(tfhd, 4), be64(tfdt, 4), samples, data));
        }
        out
    }

    fn track() -> VideoTrack {
        VideoTrack {
            hevc: false,
            width: 1920,
            height: 1080,
            config: vec![1, 0x64, 0, 0x28, 0xff, 0xe1, 0, 0],
            timescale: 90_000,
        }
    }

    /// A frame's bytes: a 4-byte length, then a NAL header and `n` as filler.
    fn frame(n: u8, len: usize) -> Vec<u8> {
        let mut f = ((len - 4) as u32).to_be_bytes().to_vec();
        f.push(if n == 0 { 0x65 } else { 0x41 });
        f.extend(std::iter::repeat_n(n, len - 5));
        f
    }

    #[test]
    fn the_header_is_an_empty_moov_with_video_and_text_tracks() {
        let (_, head) = Muxer::start(&track(), true);
        let top = boxes(&head);
        assert_eq!(top[0].0, *b"ftyp");
        assert_eq!(&top[0].1[..4], b"isom");
        assert_eq!(top[1].0, *b"moov");
        let traks = child(top[1].1, b"trak");
        assert_eq!(traks.len(), 2);
        let tkhd = child(traks[0], b"tkhd")[0];
        assert_eq!((be32(tkhd, 76) >> 16, be32(tkhd, 80) >> 16), (1920, 1080));
        let mdia = child(traks[0], b"mdia")[0];
        assert_eq!(be32(child(mdia, b"mdhd")[0], 12), 90_000);
        assert_eq!(&child(mdia, b"hdlr")[0][8..12], b"vide");
        let stbl = child(child(mdia, b"minf")[0], b"stbl")[0];
        let stsd = child(stbl, b"stsd")[0];
        let avc1 = child(&stsd[8..], b"avc1")[0];
        assert_eq!(
            (be32(avc1, 24) >> 16, be32(avc1, 24) & 0xffff),
            (1920, 1080)
        );
        assert_eq!(child(&avc1[78..], b"avcC")[0], &track().config[..]);
        let text = child(traks[1], b"mdia")[0];
        assert_eq!(be32(child(text, b"mdhd")[0], 12), 1000);
        assert_eq!(&child(text, b"hdlr")[0][8..12], b"sbtl");
        let stsd = child(child(child(text, b"minf")[0], b"stbl")[0], b"stsd")[0];
        assert_eq!(
            &child(&stsd[8..], b"tx3g")[0][8..],
            &crate::media::fmp4::TX3G_SAMPLE_ENTRY
        );
        assert_eq!(child(child(top[1].1, b"mvex")[0], b"trex").len(), 2);
        // Without the text track: one trak, one trex.
        let (_, head) = Muxer::start(&track(), false);
        let moov = boxes(&head)[1].1;
        assert_eq!(child(moov, b"trak").len(), 1);
        assert_eq!(child(child(moov, b"mvex")[0], b"trex").len(), 1);
    }

    /// Fragments close at a keyframe and after a quarter second, each sample lasting until
    /// the next one, and the data offsets find each run's own bytes.
    #[test]
    fn fragments_close_at_keyframes_and_quarter_seconds() {
        let (mut m, head) = Muxer::start(&track(), true);
        let mut file = head.clone();
        let mut fragments = Vec::new();
        // 30 fps (3000 ticks), a keyframe every 10 frames, one frame late by 500 ticks.
        let mut frames = Vec::new();
        for i in 0..25u8 {
            let dts = i64::from(i) * 3000 + if i >= 4 { 500 } else { 0 };
            let data = frame(i, 40 + usize::from(i));
            m.push_text(dts / 90, 1000, &format!("t{i}"));
            if let Some(bytes) = m.push(dts, dts, i % 10 == 0, &data) {
                fragments.push(bytes.to_vec());
                file.extend_from_slice(bytes);
            }
            frames.push((dts, data));
        }
        let end = m.finish(3000).to_vec();
        // The last fragment, then mfra.
        let tail = boxes(&end);
        assert_eq!(tail.len(), 3);
        let last_len = tail[0].1.len() + tail[1].1.len() + 16;
        fragments.push(end[..last_len].to_vec());
        file.extend_from_slice(&end);
        let mut video = Vec::new();
        let mut counts = Vec::new();
        for f in &fragments {
            let r = runs(f);
            let v = &r[0];
            assert_eq!(v.0, 1);
            counts.push(v.2.len());
            assert_eq!(v.1 as i64, frames[video.len()].0, "tfdt");
            let mut at = 0;
            for (k, &(dur, size, flags)) in v.2.iter().enumerate() {
                let i = video.len() + k;
                let next = frames.get(i + 1).map_or(frames[i].0 + 3000, |f| f.0);
                assert_eq!(i64::from(dur), next - frames[i].0, "sample {i} duration");
                assert_eq!(&v.3[at..at + size as usize], &frames[i].1[..]);
                at += size as usize;
                let key = i % 10 == 0;
                assert_eq!(flags, if key { 0x0200_0000 } else { 0x0101_0000 });
            }
            video.extend(v.2.iter().copied());
            // The stamps of the fragment, in its own run on track 2.
            let t = &r[1];
            assert_eq!(t.0, 2);
            assert_eq!(
                t.2.len() * 2 + t.2.iter().map(|s| s.1 as usize - 2).sum::<usize>(),
                t.3.len()
            );
        }
        assert_eq!(video.len(), 25);
        // 8 frames reach a quarter second; 2 more end at the keyframe of frame 10; and so on.
        assert_eq!(counts, [8, 2, 8, 2, 5]);
        // mfra indexes the fragments that begin with a keyframe, and mfro gives its size.
        let mfra = tail[2].1;
        let tfra = child(mfra, b"tfra")[0];
        assert_eq!(be32(tfra, 4), 1);
        assert_eq!(be32(tfra, 12), 3);
        let second = be64(tfra, 16 + 19 + 8) as usize;
        assert_eq!(&file[second + 4..second + 8], b"moof");
        assert_eq!(be64(tfra, 16 + 19) as i64, frames[10].0);
        let mfro = child(mfra, b"mfro")[0];
        assert_eq!(be32(mfro, 4) as usize, mfra.len() + 8);
    }

    /// Stamps: each lasts until the next, a gap gets a blank sample, and one at the time of
    /// the one before replaces it.
    #[test]
    fn stamps_fill_their_run_without_overlap() {
        let (mut m, _) = Muxer::start(&track(), true);
        m.push(0, 0, true, &frame(0, 20));
        m.push_text(0, 1000, "a");
        m.push_text(0, 1000, "b"); // replaces "a"
        m.push_text(1000, 1000, "c");
        m.push_text(3500, 1000, "d"); // 1.5 s after "c" ended
        let end = m.finish(3000).to_vec();
        let top = boxes(&end);
        let fragment_len = top[0].1.len() + top[1].1.len() + 16;
        let r = runs(&end[..fragment_len]);
        let t = &r[1];
        assert_eq!(t.1, 0);
        let durations: Vec<u32> = t.2.iter().map(|s| s.0).collect();
        assert_eq!(durations, [1000, 1000, 1500, 1000]);
        assert_eq!(t.3, b"\0\x01b\0\x01c\0\0\0\x01d");
    }

    #[test]
    fn only_configuration_records_are_taken() {
        assert!(VideoTrack::takes(&[1, 0x64, 0, 0x28, 0xff, 0xe1, 0]));
        // Annex B, as an encoder's extradata is.
        assert!(!VideoTrack::takes(&[0, 0, 0, 1, 0x67, 0x64, 0, 0x28]));
        assert!(!VideoTrack::takes(&[]));
    }
}
