//! The MP4 for upload: one ordinary MP4 (fast start, H.264) made from sealed clips, for a
//! marketplace's upload form.
//!
//! Owns: decoding the clips, trimming them, burning the stamp into clips that carry it as a
//! text track, scaling every camera to one picture size, the opening and closing cards, and
//! libx264 under a size budget (quality first; the bit rate capped, and the picture made
//! smaller, only as much as the budget needs; encoded again smaller if it still missed).
//! Never: changes a clip, decides which clips go in or what the cards say (the export does),
//! writes a record, or speeds video up: a length limit the clips do not fit is an error.

use std::path::{Path, PathBuf};

use ffmpeg::{codec, encoder, filter, format, frame, media, Dictionary, Packet, Rational};
use ffmpeg_next as ffmpeg;

use super::encoder::{drawtext_args, font_size, quote_option};
use super::StampText;
use crate::config::EncodeConfig;
use crate::error::Error;

/// One clip, or the part of it that goes in.
#[derive(Debug, Clone)]
pub struct Segment {
    pub path: PathBuf,
    /// Seconds from the clip's first frame: the first frame kept.
    pub from_s: f64,
    /// Seconds from the clip's first frame: frames after it are left out (`None`: to the end).
    pub to_s: Option<f64>,
    /// How long the clip is (its record's `duration_ms`), for the budget.
    pub duration_s: f64,
    /// Burn this stamp in (a clip recorded in passthrough: the stamp is a text track);
    /// `started_at` is the wall-clock time of its first frame.
    pub burn: Option<(StampText, String)>,
}

/// A card: lines of text on a plain background, centred.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub lines: Vec<String>,
}

/// What to make.
#[derive(Debug, Clone)]
pub struct Plan {
    pub segments: Vec<Segment>,
    pub opening: Card,
    pub closing: Card,
    /// Seconds each card shows.
    pub card_s: f64,
    /// The file must not be larger.
    pub max_bytes: Option<u64>,
    /// libx264 preset and quality (CRF) when the budget allows it.
    pub x264_preset: String,
    pub crf: u8,
    /// Frame rate cap.
    pub max_fps: u32,
    /// libx264 threads (0: as many as it likes); 1 beside a recorder.
    pub threads: u32,
    /// The stamp's font and size (`[encode]`).
    pub encode: EncodeConfig,
    /// Written into the MP4's `comment` tag.
    pub comment: String,
}

/// What was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Made {
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub frames: u64,
    pub duration_ms: u64,
    /// How it was encoded, for the derivation record: `libx264 veryfast crf 23 vbv 900k`.
    pub encoder: String,
    /// Encodings it took to fit the budget (1 unless the first missed).
    pub attempts: u32,
}

/// The heights tried, largest first, when the bit rate is too low for a bigger picture.
const HEIGHTS: [u32; 6] = [1080, 720, 540, 480, 360, 240];
/// Bits per pixel and frame below which a smaller picture looks better than a starved one.
const MIN_BPP: f64 = 0.04;
/// Below this bit rate nothing useful is left to see.
const MIN_KBPS: f64 = 60.0;
/// Bytes of MP4 beyond the video: the header plus the sample tables (about 16 bytes a frame).
fn overhead(frames: f64) -> f64 {
    48_000.0 + 16.0 * frames
}

fn ff(file: &Path, what: &str) -> impl FnOnce(ffmpeg::Error) -> Error {
    let msg = format!("{}: {what}", file.display());
    move |e| Error::invalid(format!("{msg}: {e}"))
}

fn even(n: u32) -> u32 {
    (n / 2 * 2).max(2)
}

/// The picture size and frame rate of a clip's video.
fn probe(path: &Path) -> Result<(u32, u32, f64), Error> {
    let ictx = format::input(&path).map_err(ff(path, "cannot open the clip"))?;
    let stream = ictx
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| Error::invalid(format!("{}: no video stream", path.display())))?;
    let rate = stream.avg_frame_rate();
    let fps = if rate.denominator() > 0 && rate.numerator() > 0 {
        f64::from(rate)
    } else {
        25.0
    };
    let dec = codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
        .map_err(ff(path, "cannot read the clip's video parameters"))?;
    Ok((dec.width(), dec.height(), fps))
}

/// The picture size, frame rate and x264 rate cap (kbit/s) for the plan: the largest clip's
/// size and rate, made smaller only when the budget cannot feed it.
fn shape(plan: &Plan) -> Result<(u32, u32, u32, Option<u32>), Error> {
    let (mut w, mut h, mut fps) = (0u32, 0u32, 1.0f64);
    for s in &plan.segments {
        let (sw, sh, sf) = probe(&s.path)?;
        if u64::from(sw) * u64::from(sh) > u64::from(w) * u64::from(h) {
            (w, h) = (sw, sh);
        }
        fps = fps.max(sf);
    }
    if w == 0 {
        (w, h) = (1280, 720);
    }
    let fps = (fps.round() as u32).clamp(1, plan.max_fps.max(1));
    let (w, h, cap) = budget(w, h, fps, planned_seconds(plan), plan.max_bytes)?;
    Ok((w, h, fps, cap))
}

/// The picture size and the rate cap (kbit/s) for `seconds` of `w`×`h` at `fps` within
/// `max_bytes`: the size kept while the rate feeds it, else the next smaller height.
fn budget(
    w: u32,
    h: u32,
    fps: u32,
    seconds: f64,
    max_bytes: Option<u64>,
) -> Result<(u32, u32, Option<u32>), Error> {
    let Some(max) = max_bytes else {
        return Ok((even(w), even(h), None));
    };
    let frames = seconds * f64::from(fps);
    // A one-second VBV buffer can overshoot the average by one second's worth.
    let bits = (max as f64 * 0.97 - overhead(frames)) * 8.0;
    let bps = bits / (seconds + 1.0);
    if bps < MIN_KBPS * 1000.0 {
        return Err(Error::invalid(format!(
            "{seconds:.0} s of video cannot fit in {:.2} MB (that is {:.0} kbit/s); allow more MB, or trim to the span from the scan to the seal",
            max as f64 / 1e6,
            bps.max(0.0) / 1000.0
        )));
    }
    let aspect = f64::from(w) / f64::from(h);
    let mut pick = (w, h);
    for &cand in HEIGHTS.iter().filter(|&&c| c < h) {
        if bps / (f64::from(pick.0) * f64::from(pick.1) * f64::from(fps)) >= MIN_BPP {
            break;
        }
        pick = ((f64::from(cand) * aspect).round() as u32, cand);
    }
    Ok((
        even(pick.0),
        even(pick.1),
        Some((bps / 1000.0).floor() as u32),
    ))
}

/// Seconds the plan's MP4 will last (clips trimmed, cards included).
pub fn planned_seconds(plan: &Plan) -> f64 {
    let clips: f64 = plan
        .segments
        .iter()
        .map(|s| (s.to_s.unwrap_or(s.duration_s).min(s.duration_s) - s.from_s).max(0.0))
        .sum();
    clips + 2.0 * plan.card_s
}

/// How much nicer than its caller the encoding thread runs: a recorder on the same PC comes
/// first.
const NICER: i32 = 10;

/// Makes the MP4 at `out`, encoding again with a lower rate cap while it is over the budget.
/// The work runs on a thread of its own, [`NICER`] than the caller (its decoder and encoder
/// threads too), so that a recording on the same machine is never slowed by it.
pub fn make(plan: &Plan, out: &Path) -> Result<Made, Error> {
    std::thread::scope(|s| {
        s.spawn(|| {
            lower_priority();
            make_here(plan, out)
        })
        .join()
        .unwrap_or_else(|_| Err(Error::internal("the MP4 encoder thread died")))
    })
}

/// Makes this thread (and the threads it starts) [`NICER`].
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on this thread's own id.
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        *libc::__errno_location() = 0;
        let now = libc::getpriority(libc::PRIO_PROCESS, tid);
        if libc::setpriority(libc::PRIO_PROCESS, tid, (now + NICER).min(19)) != 0 {
            tracing::debug!("cannot lower the MP4 encoder's priority");
        }
    }
}

fn make_here(plan: &Plan, out: &Path) -> Result<Made, Error> {
    super::init_ffmpeg();
    if plan.segments.is_empty() {
        return Err(Error::invalid("no sealed clip to make an MP4 from"));
    }
    let (w, h, fps, mut cap) = shape(plan)?;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut made = encode_once(plan, out, w, h, fps, cap)?;
        made.attempts = attempts;
        let over = plan.max_bytes.filter(|&m| made.bytes > m);
        match (over, cap) {
            (None, _) => return Ok(made),
            (Some(max), Some(kbps)) if attempts < 4 => {
                let next = (f64::from(kbps) * max as f64 / made.bytes as f64 * 0.9) as u32;
                tracing::info!(file = %out.display(), bytes = made.bytes, max, kbps, next, "the MP4 for upload missed its size; encoding again");
                cap = Some(next.max(MIN_KBPS as u32));
            }
            (Some(max), _) => {
                let _ = std::fs::remove_file(out);
                return Err(Error::invalid(format!(
                    "the MP4 came out at {} bytes, over the limit of {max} after {attempts} tries; allow more MB or trim to the span from the scan to the seal",
                    made.bytes
                )));
            }
        }
    }
}

/// The encoder and the file it writes into.
struct Sink {
    enc: encoder::Video,
    octx: format::context::Output,
    enc_tb: Rational,
    stream_tb: Rational,
    next_pts: i64,
    out: PathBuf,
}

impl Sink {
    fn send(&mut self, f: &mut frame::Video) -> Result<(), Error> {
        f.set_pts(Some(self.next_pts));
        self.next_pts += 1;
        self.enc
            .send_frame(f)
            .map_err(ff(&self.out, "libx264 refused a frame"))?;
        self.drain()
    }

    fn drain(&mut self) -> Result<(), Error> {
        let mut p = Packet::empty();
        while self.enc.receive_packet(&mut p).is_ok() {
            p.set_stream(0);
            p.rescale_ts(self.enc_tb, self.stream_tb);
            p.write_interleaved(&mut self.octx)
                .map_err(ff(&self.out, "cannot write the MP4"))?;
        }
        Ok(())
    }
}

fn encode_once(
    plan: &Plan,
    out: &Path,
    w: u32,
    h: u32,
    fps: u32,
    cap: Option<u32>,
) -> Result<Made, Error> {
    let codec = encoder::find_by_name("libx264").ok_or_else(|| {
        Error::invalid("this FFmpeg has no libx264 encoder (install Debian's libavcodec59)")
    })?;
    let mut octx = format::output_as(&out, "mp4").map_err(ff(out, "cannot create the MP4"))?;
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(ff(out, "cannot create the H.264 encoder"))?;
    let enc_tb = Rational::new(1, fps as i32);
    enc.set_width(w);
    enc.set_height(h);
    enc.set_format(format::Pixel::YUV420P);
    enc.set_time_base(enc_tb);
    enc.set_frame_rate(Some(Rational::new(fps as i32, 1)));
    enc.set_gop(2 * fps);
    enc.set_flags(codec::Flags::GLOBAL_HEADER);
    let mut params = format!("threads={}", plan.threads);
    let mut described = format!("libx264 {} crf {}", plan.x264_preset, plan.crf);
    if let Some(k) = cap {
        params.push_str(&format!(":vbv-maxrate={k}:vbv-bufsize={k}"));
        described.push_str(&format!(" vbv {k}k"));
    }
    let mut opts = Dictionary::new();
    opts.set("preset", &plan.x264_preset);
    opts.set("crf", &plan.crf.to_string());
    opts.set("profile", "high");
    opts.set("x264-params", &params);
    let enc = enc.open_with(opts).map_err(ff(
        out,
        "cannot open libx264 (check [upload] encoder_preset)",
    ))?;
    {
        let mut ost = octx
            .add_stream(codec)
            .map_err(ff(out, "cannot add the video stream"))?;
        ost.set_parameters(&enc);
        ost.set_time_base(enc_tb);
    }
    let mut meta = Dictionary::new();
    meta.set("comment", &plan.comment);
    octx.set_metadata(meta);
    let mut mux = Dictionary::new();
    mux.set("movflags", "+faststart");
    octx.write_header_with(mux)
        .map_err(ff(out, "cannot write the MP4's header"))?;
    let stream_tb = octx
        .stream(0)
        .map(|s| s.time_base())
        .unwrap_or(Rational::new(1, 90_000));
    let mut sink = Sink {
        enc,
        octx,
        enc_tb,
        stream_tb,
        next_pts: 0,
        out: out.to_owned(),
    };
    let font = super::font::resolve(&plan.encode.font_file);
    let font = font
        .to_str()
        .ok_or_else(|| Error::invalid("encode.font_file is not valid UTF-8"))?
        .to_string();
    card(&mut sink, &plan.opening, w, h, fps, plan.card_s, &font)?;
    for s in &plan.segments {
        segment(&mut sink, s, w, h, fps, &plan.encode, &font)?;
    }
    card(&mut sink, &plan.closing, w, h, fps, plan.card_s, &font)?;
    sink.enc
        .send_eof()
        .map_err(ff(out, "cannot finish libx264"))?;
    sink.drain()?;
    sink.octx
        .write_trailer()
        .map_err(ff(out, "cannot finish the MP4"))?;
    let frames = sink.next_pts as u64;
    drop(sink);
    let bytes = std::fs::metadata(out)
        .map_err(|e| Error::invalid(format!("{}: {e}", out.display())))?
        .len();
    Ok(Made {
        bytes,
        width: w,
        height: h,
        fps,
        frames,
        duration_ms: frames * 1000 / u64::from(fps),
        encoder: described,
        attempts: 1,
    })
}

/// A filter graph: `chain` from the `in` buffer (or, without one, from the first filter, a
/// source) to the `out` sink.
fn graph(
    input: Option<&str>,
    chain: &[(&str, String)],
    what: &Path,
) -> Result<filter::Graph, Error> {
    let mut g = filter::Graph::new();
    let find = |name: &str| {
        filter::find(name)
            .ok_or_else(|| Error::invalid(format!("this FFmpeg has no '{name}' filter")))
    };
    let mut prev = match input {
        Some(args) => Some(
            g.add(&find("buffer")?, "in", args)
                .map_err(ff(what, "cannot create the filter input"))?,
        ),
        None => None,
    };
    for (i, (name, args)) in chain.iter().enumerate() {
        let mut f = g
            .add(&find(name)?, &format!("f{i}"), args)
            .map_err(ff(what, &format!("cannot set up the '{name}' filter")))?;
        if let Some(p) = prev.as_mut() {
            p.link(0, &mut f, 0);
        }
        prev = Some(f);
    }
    let mut sink = g
        .add(&find("buffersink")?, "out", "")
        .map_err(ff(what, "cannot create the filter output"))?;
    if let Some(p) = prev.as_mut() {
        p.link(0, &mut sink, 0);
    }
    g.validate()
        .map_err(ff(what, "cannot configure the filters"))?;
    Ok(g)
}

/// Sends every frame the graph has ready to the encoder.
fn pull(g: &mut filter::Graph, sink: &mut Sink) -> Result<(), Error> {
    let mut f = frame::Video::empty();
    let mut out = g
        .get("out")
        .ok_or_else(|| Error::internal("the filter output is missing"))?;
    while out.sink().frame(&mut f).is_ok() {
        sink.send(&mut f)?;
    }
    Ok(())
}

/// The filters that bring any picture to `w`×`h` at `fps` (letterboxed, never stretched).
fn fit(w: u32, h: u32, fps: u32) -> Vec<(&'static str, String)> {
    vec![
        (
            "scale",
            format!("w={w}:h={h}:force_original_aspect_ratio=decrease"),
        ),
        (
            "pad",
            format!("w={w}:h={h}:x=(ow-iw)/2:y=(oh-ih)/2:color=black"),
        ),
        ("setsar", "sar=1".into()),
        ("fps", format!("fps={fps}")),
        ("format", "pix_fmts=yuv420p".into()),
    ]
}

/// The rows of a card's first line (the order number on the opening card): the same for
/// every card of that height, whatever follows it.
pub fn title_rows(h: u32) -> (u32, u32) {
    let y = h * 3 / 10;
    (y, y + title_size(h) * 5 / 4)
}

fn title_size(h: u32) -> u32 {
    (h / 10).max(12)
}

/// The drawtext filters of a card's lines, centred across, the first large at three tenths
/// of the height and the others under it.
fn card_chain(
    c: &Card,
    w: u32,
    h: u32,
    fps: u32,
    seconds: f64,
    font: &str,
) -> Vec<(&'static str, String)> {
    let size = title_size(h);
    let small = (h / 24).max(10);
    let mut chain = vec![(
        "color",
        format!("c=0x17202a:s={w}x{h}:r={fps}:d={seconds:.3}"),
    )];
    let mut y = title_rows(h).0;
    for (i, line) in c.lines.iter().enumerate() {
        let px = if i == 0 { size } else { small };
        chain.push((
            "drawtext",
            format!(
                "fontfile={}:text={}:expansion=none:fontsize={px}:fontcolor=white:x=(w-text_w)/2:y={y}",
                quote_option(font),
                quote_option(line)
            ),
        ));
        y += if i == 0 { size * 3 / 2 } else { small * 2 };
    }
    chain.push(("format", "pix_fmts=yuv420p".into()));
    chain
}

fn card(
    sink: &mut Sink,
    c: &Card,
    w: u32,
    h: u32,
    fps: u32,
    seconds: f64,
    font: &str,
) -> Result<(), Error> {
    if seconds <= 0.0 {
        return Ok(());
    }
    let out = sink.out.clone();
    let mut g = graph(None, &card_chain(c, w, h, fps, seconds, font), &out)?;
    pull(&mut g, sink)
}

/// A card as the MP4 shows it: its luma plane (`w`×`h` bytes, yuv420p's), what a test
/// compares the MP4's first frame with.
pub fn render_card(c: &Card, w: u32, h: u32, encode: &EncodeConfig) -> Result<Vec<u8>, Error> {
    super::init_ffmpeg();
    let font = super::font::resolve(&encode.font_file);
    let font = font.to_string_lossy().into_owned();
    let chain = card_chain(c, w, h, 1, 1.0, &font);
    let what = Path::new("card");
    let mut g = graph(None, &chain, what)?;
    let mut f = frame::Video::empty();
    let mut out = g
        .get("out")
        .ok_or_else(|| Error::internal("the filter output is missing"))?;
    out.sink()
        .frame(&mut f)
        .map_err(ff(what, "no card frame"))?;
    let stride = f.stride(0);
    let data = f.data(0);
    Ok((0..h as usize)
        .flat_map(|y| data[y * stride..y * stride + w as usize].iter().copied())
        .collect())
}

fn segment(
    sink: &mut Sink,
    s: &Segment,
    w: u32,
    h: u32,
    fps: u32,
    encode: &EncodeConfig,
    font: &str,
) -> Result<(), Error> {
    let path = &s.path;
    let mut ictx = format::input(path).map_err(ff(path, "cannot open the clip"))?;
    let stream = ictx
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| Error::invalid(format!("{}: no video stream", path.display())))?;
    let index = stream.index();
    let tb = stream.time_base();
    let mut dec = codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
        .map_err(ff(path, "cannot open the decoder"))?;
    let secs = |ticks: i64| ticks as f64 * f64::from(tb);
    let mut first: Option<i64> = None;
    let mut g: Option<filter::Graph> = None;
    let mut done = false;
    let mut f = frame::Video::empty();
    let mut feed = |f: &mut frame::Video, sink: &mut Sink| -> Result<bool, Error> {
        let pts = f.timestamp().or(f.pts()).unwrap_or(0);
        let first_pts = *first.get_or_insert(pts);
        let t = secs(pts - first_pts);
        if t + 1e-6 < s.from_s {
            return Ok(false);
        }
        if s.to_s.is_some_and(|to| t > to + 1e-6) {
            return Ok(true);
        }
        if g.is_none() {
            let pix: ffmpeg::ffi::AVPixelFormat = f.format().into();
            let args = format!(
                "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect=1/1",
                f.width(),
                f.height(),
                pix as i32,
                tb.numerator(),
                tb.denominator()
            );
            let mut chain = Vec::new();
            if let Some((stamp, started_at)) = &s.burn {
                let start = chrono::DateTime::parse_from_rfc3339(started_at).map_err(|e| {
                    Error::invalid(format!(
                        "{}: started_at {started_at:?} is not a time: {e}",
                        path.display()
                    ))
                })?;
                let wall = start.timestamp_micros() as f64 / 1e6 - secs(first_pts);
                let size = font_size(encode, f.height());
                chain.push(("drawtext", drawtext_args(font, size, stamp, wall)));
            }
            chain.extend(fit(w, h, fps));
            g = Some(graph(Some(&args), &chain, path)?);
        }
        if let Some(g) = g.as_mut() {
            f.set_pts(Some(pts));
            g.get("in")
                .ok_or_else(|| Error::internal("the filter input is missing"))?
                .source()
                .add(f)
                .map_err(ff(path, "cannot filter a frame"))?;
            pull(g, sink)?;
        }
        Ok(false)
    };
    for (st, packet) in ictx.packets() {
        if st.index() != index {
            continue;
        }
        if dec.send_packet(&packet).is_err() {
            continue;
        }
        while dec.receive_frame(&mut f).is_ok() {
            if feed(&mut f, sink)? {
                done = true;
                break;
            }
        }
        if done {
            break;
        }
    }
    if !done {
        let _ = dec.send_eof();
        while dec.receive_frame(&mut f).is_ok() {
            if feed(&mut f, sink)? {
                break;
            }
        }
    }
    if let Some(mut g) = g {
        if let Some(mut input) = g.get("in") {
            input
                .source()
                .flush()
                .map_err(ff(path, "cannot finish filtering"))?;
        }
        pull(&mut g, sink)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_are_centred_lines_with_literal_text() {
        let c = Card {
            lines: vec!["ORDER SF12:34".into(), "it's 100%".into()],
        };
        let chain = card_chain(&c, 640, 360, 25, 1.5, "/f.ttf");
        assert_eq!(chain[0].1, "c=0x17202a:s=640x360:r=25:d=1.500");
        assert!(
            chain[1].1.contains("text='ORDER SF12:34':expansion=none"),
            "{}",
            chain[1].1
        );
        assert!(
            chain[2].1.contains("text='it'\\''s 100%'"),
            "{}",
            chain[2].1
        );
        assert_eq!(chain.len(), 4);
    }

    #[test]
    fn the_picture_shrinks_only_as_much_as_the_budget_needs() {
        // 60 s of 720p30 in 5 MB: about 626 kbit/s, too few for 720p at 0.04 bit a pixel,
        // enough for 540p.
        let (w, h, cap) = budget(1280, 720, 30, 60.0, Some(5_000_000)).unwrap();
        assert_eq!((w, h), (960, 540));
        let cap = cap.unwrap();
        assert!((600..640).contains(&cap), "{cap}");
        // Plenty: the picture as it is, under a cap.
        let (w, h, cap) = budget(1280, 720, 30, 10.0, Some(200_000_000)).unwrap();
        assert_eq!((w, h), (1280, 720));
        assert!(cap.unwrap() > 100_000);
        // No limit: no cap.
        assert_eq!(budget(641, 361, 25, 10.0, None).unwrap(), (640, 360, None));
        // Ten minutes in 100 kB: refused before anything is encoded.
        let e = budget(1280, 720, 30, 600.0, Some(100_000)).unwrap_err();
        assert!(e.to_string().contains("cannot fit"), "{e}");
    }
}
