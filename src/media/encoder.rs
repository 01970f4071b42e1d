//! Encode: one continuous H.264 encoder per camera, with the evidence stamp burned in.
//!
//! Owns: the drawtext stamp (order, station, camera, local time with milliseconds and UTC
//! offset), libx264 settings, and forced keyframes where a clip must start.
//! Never: cuts clips or writes files. The encoder is opened once per camera session and runs
//! continuously; a new order only changes the stamp text and asks for a keyframe.

use ffmpeg::{codec, encoder, filter, format, frame, picture, Dictionary, Packet, Rational};
use ffmpeg_next as ffmpeg;

use std::collections::VecDeque;

use super::stamp::StampText;
use super::{EncodedPacket, FrameSource, PacketSource, StreamInfo, Unit};
use crate::config::EncodeConfig;

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("camera {camera}: {what}: {source}")]
    Ffmpeg {
        camera: String,
        what: String,
        #[source]
        source: ffmpeg::Error,
    },
    #[error("camera {camera}: {what}")]
    Setup { camera: String, what: String },
}

/// Escapes literal text for drawtext's expansion (`\` and `%` are special there).
fn escape_expansion(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '%' => {
                out.push('\\');
                out.push(c);
            }
            // A stamp is one line; control characters never reach here (codes are validated),
            // but make sure they can't break the layout either.
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Quotes a value for an FFmpeg option string: inside '...' everything is literal but `'`.
pub(crate) fn quote_option(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// The drawtext `text` value: literal parts escaped, time rendered from the frame's pts.
///
/// `wall_offset_s` is the Unix time of pts 0, so `t + wall_offset_s` is the wall-clock time of a
/// frame: derived from one clock reading per camera session, never one per frame.
pub fn stamp_expression(stamp: &StampText, wall_offset_s: f64) -> String {
    let d = format!("{wall_offset_s:.6}");
    stamp.fill(
        escape_expansion,
        format!("%{{pts:localtime:{d}:%Y-%m-%d %H\\:%M\\:%S}}.%{{eif:mod(floor((t+{d})*1000),1000):d:3}}"),
        format!("%{{pts:localtime:{d}:%z}}"),
    )
}

/// The stamp's font size in pixels for a picture `height` high.
pub fn font_size(settings: &EncodeConfig, height: u32) -> u32 {
    if settings.font_size > 0 {
        settings.font_size
    } else {
        (height / 24).max(10)
    }
}

/// The drawtext option string of the stamp (bottom left, white on a dark box).
pub fn drawtext_args(font_file: &str, size: u32, stamp: &StampText, wall_offset_s: f64) -> String {
    format!(
        "fontfile={}:text={}:fontsize={size}:fontcolor=white:box=1:boxcolor=black@0.65:boxborderw={}:x={}:y=h-th-{}",
        quote_option(font_file),
        quote_option(&stamp_expression(stamp, wall_offset_s)),
        size / 4,
        size / 2,
        size / 2,
    )
}

/// libx264's presets, fastest first.
pub const PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

/// The presets a camera may step down to when it falls behind real time: the configured one,
/// then each faster one in turn (only the configured one for a preset libx264 does not name).
pub fn preset_ladder(configured: &str) -> Vec<String> {
    match PRESETS.iter().position(|p| *p == configured) {
        Some(i) => PRESETS[..=i].iter().rev().map(|p| p.to_string()).collect(),
        None => vec![configured.to_string()],
    }
}

/// Frames between keyframes.
pub fn gop_frames(settings: &EncodeConfig, fps: f64) -> u32 {
    (fps * settings.keyframe_interval_s).round().max(1.0) as u32
}

/// The libx264 private options for a keyframe interval of `gop` frames.
pub fn x264_options(settings: &EncodeConfig, gop: u32) -> Vec<(String, String)> {
    let mut params = format!("keyint_min={gop}:scenecut=0");
    if !settings.x264_params.is_empty() {
        params.push(':');
        params.push_str(&settings.x264_params);
    }
    if settings.max_rate_kbps > 0 {
        // A one-second VBV buffer: the rate holds over every second of video.
        params.push_str(&format!(
            ":vbv-maxrate={0}:vbv-bufsize={0}",
            settings.max_rate_kbps
        ));
    }
    vec![
        ("preset".into(), settings.preset.clone()),
        ("crf".into(), settings.crf.to_string()),
        // A keyframe asked for at a scan must be an IDR, so a clip starting there stands alone.
        ("forced-idr".into(), "1".into()),
        ("x264-params".into(), params),
    ]
}

/// One camera's encoder: stamp filter graph plus libx264.
pub struct Encoder {
    camera: String,
    info: StreamInfo,
    settings: EncodeConfig,
    wall_offset_s: f64,
    graph: Option<filter::Graph>,
    encoder: encoder::Video,
    frame_duration: i64,
    /// Keep a copy of the next frame as stamped (for the station screen's live picture).
    keep_stamped: bool,
    stamped: Option<frame::Video>,
}

impl Encoder {
    /// Opens the encoder for frames shaped like `info`.
    pub fn open(
        info: StreamInfo,
        settings: &EncodeConfig,
        wall_offset_s: f64,
        stamp: &StampText,
    ) -> Result<Encoder, EncodeError> {
        Encoder::open_preset(info, settings, &settings.preset, wall_offset_s, stamp)
    }

    /// [`Encoder::open`] with another libx264 preset than the configured one.
    pub fn open_preset(
        info: StreamInfo,
        settings: &EncodeConfig,
        preset: &str,
        wall_offset_s: f64,
        stamp: &StampText,
    ) -> Result<Encoder, EncodeError> {
        super::init_ffmpeg();
        let camera = stamp.camera.clone();
        let err = |what: &str| {
            let camera = camera.clone();
            let what = what.to_string();
            move |source| EncodeError::Ffmpeg {
                camera,
                what,
                source,
            }
        };
        let codec = encoder::find_by_name("libx264").ok_or_else(|| EncodeError::Setup {
            camera: camera.clone(),
            what: "this FFmpeg has no libx264 encoder (install Debian's libavcodec59 / ffmpeg)"
                .into(),
        })?;
        let mut enc = codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(err("creating the H.264 encoder"))?;
        enc.set_width(info.width);
        enc.set_height(info.height);
        enc.set_format(format::Pixel::YUV420P);
        enc.set_time_base(info.time_base);
        enc.set_frame_rate(Some(info.frame_rate));
        let gop = gop_frames(settings, info.fps());
        enc.set_gop(gop);
        enc.set_max_b_frames(0);
        // MP4 needs SPS/PPS in the stream header (avcC), not only in-band.
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
        let mut opts = Dictionary::new();
        for (k, v) in x264_options(settings, gop) {
            opts.set(&k, if k == "preset" { preset } else { &v });
        }
        let encoder = enc.open_with(opts).map_err(err(
            "opening libx264 (check encode.preset and encode.x264_params)",
        ))?;
        let mut me = Encoder {
            camera,
            info,
            settings: settings.clone(),
            wall_offset_s,
            graph: None,
            encoder,
            frame_duration: info.frame_duration(),
            keep_stamped: false,
            stamped: None,
        };
        me.set_stamp(stamp)?;
        Ok(me)
    }

    /// The Unix time of pts 0 for stamps drawn after the next [`Encoder::set_stamp`].
    pub fn set_wall_offset(&mut self, wall_offset_s: f64) {
        self.wall_offset_s = wall_offset_s;
    }

    /// Rebuilds the stamp filter graph with new text. Called at an order switch, never per frame.
    pub fn set_stamp(&mut self, stamp: &StampText) -> Result<(), EncodeError> {
        let camera = self.camera.clone();
        let err = |what: &'static str| {
            let camera = camera.clone();
            move |source| EncodeError::Ffmpeg {
                camera,
                what: what.to_string(),
                source,
            }
        };
        let info = self.info;
        let mut graph = filter::Graph::new();
        let find = |name: &str| {
            filter::find(name).ok_or_else(|| EncodeError::Setup {
                camera: self.camera.clone(),
                what: format!("this FFmpeg has no '{name}' filter"),
            })
        };
        let pix: ffmpeg::ffi::AVPixelFormat = info.pixel_format.into();
        let args = format!(
            "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect=1/1",
            info.width,
            info.height,
            pix as i32,
            info.time_base.numerator(),
            info.time_base.denominator()
        );
        let mut input = graph
            .add(&find("buffer")?, "in", &args)
            .map_err(err("creating the filter input"))?;
        let mut output = graph
            .add(&find("buffersink")?, "out", "")
            .map_err(err("creating the filter output"))?;
        output.set_pixel_format(format::Pixel::YUV420P);
        if self.settings.stamp {
            let size = font_size(&self.settings, info.height);
            let font_path = super::font::resolve(&self.settings.font_file);
            let font = font_path.to_str().ok_or_else(|| EncodeError::Setup {
                camera: self.camera.clone(),
                what: "encode.font_file is not valid UTF-8".into(),
            })?;
            if !font_path.is_file() {
                return Err(EncodeError::Setup {
                    camera: self.camera.clone(),
                    what: format!(
                        "font file {font} not found (install fonts-wqy-microhei or fonts-dejavu-core, or set encode.font_file)"
                    ),
                });
            }
            let args = drawtext_args(font, size, stamp, self.wall_offset_s);
            let mut draw = graph
                .add(&find("drawtext")?, "stamp", &args)
                .map_err(err("creating the drawtext stamp"))?;
            input.link(0, &mut draw, 0);
            draw.link(0, &mut output, 0);
        } else {
            input.link(0, &mut output, 0);
        }
        graph
            .validate()
            .map_err(err("configuring the stamp filter graph"))?;
        self.graph = Some(graph);
        Ok(())
    }

    /// Encodes one frame; `keyframe` forces an IDR here. Finished packets are appended to `out`.
    pub fn encode(
        &mut self,
        frame: &mut frame::Video,
        keyframe: bool,
        out: &mut Vec<EncodedPacket>,
    ) -> Result<(), EncodeError> {
        let camera = self.camera.clone();
        let err = move |what: &'static str| {
            let camera = camera.clone();
            move |source| EncodeError::Ffmpeg {
                camera,
                what: what.to_string(),
                source,
            }
        };
        let graph = self.graph.as_mut().ok_or_else(|| EncodeError::Setup {
            camera: self.camera.clone(),
            what: "stamp filter graph missing".into(),
        })?;
        let pts = frame.pts();
        graph
            .get("in")
            .ok_or_else(|| EncodeError::Setup {
                camera: self.camera.clone(),
                what: "filter input missing".into(),
            })?
            .source()
            .add(frame)
            .map_err(err("feeding the stamp filter"))?;
        let mut sink = graph.get("out").ok_or_else(|| EncodeError::Setup {
            camera: self.camera.clone(),
            what: "filter output missing".into(),
        })?;
        let mut filtered = frame::Video::empty();
        while sink.sink().frame(&mut filtered).is_ok() {
            if std::mem::take(&mut self.keep_stamped) {
                self.stamped = Some(filtered.clone());
            }
            filtered.set_pts(pts);
            filtered.set_kind(if keyframe {
                picture::Type::I
            } else {
                picture::Type::None
            });
            self.encoder
                .send_frame(&filtered)
                .map_err(err("sending a frame to libx264"))?;
            self.drain(out);
        }
        Ok(())
    }

    /// Flushes the encoder at the end of a camera session.
    pub fn finish(&mut self, out: &mut Vec<EncodedPacket>) -> Result<(), EncodeError> {
        let camera = self.camera.clone();
        self.encoder
            .send_eof()
            .map_err(|source| EncodeError::Ffmpeg {
                camera,
                what: "flushing libx264".into(),
                source,
            })?;
        self.drain(out);
        Ok(())
    }

    fn drain(&mut self, out: &mut Vec<EncodedPacket>) {
        loop {
            let mut packet = Packet::empty();
            if self.encoder.receive_packet(&mut packet).is_err() {
                break;
            }
            let Some(pts) = packet.pts() else {
                tracing::warn!(camera = %self.camera, "encoded packet without timestamp dropped");
                continue;
            };
            packet.set_duration(self.frame_duration);
            let key = packet.is_key();
            out.push(EncodedPacket {
                packet,
                pts,
                dts: pts,
                key,
                frame_no: 0,
            });
        }
    }

    /// A copy of the next frame as it is encoded (the stamp drawn) is kept for
    /// [`Encoder::take_stamped`].
    pub fn keep_stamped(&mut self) {
        self.keep_stamped = true;
    }

    pub fn take_stamped(&mut self) -> Option<frame::Video> {
        self.stamped.take()
    }

    /// The stream header's parameter sets (avcC: SPS and PPS): two encoders whose headers are
    /// equal make one stream that a clip's single sample entry describes.
    pub fn header(&self) -> Vec<u8> {
        let p = self.parameters();
        // SAFETY: the parameters own their codecpar; extradata is extradata_size bytes long.
        unsafe {
            let par = p.as_ptr();
            if (*par).extradata.is_null() || (*par).extradata_size <= 0 {
                return Vec::new();
            }
            std::slice::from_raw_parts((*par).extradata, (*par).extradata_size as usize).to_vec()
        }
    }

    /// Codec parameters for the clip writer's stream header.
    pub fn parameters(&self) -> codec::Parameters {
        codec::Parameters::from(&*self.encoder)
    }

    pub fn time_base(&self) -> Rational {
        self.info.time_base
    }
}

/// The transcode path: decoded frames from a source, stamped and encoded with libx264.
pub struct Transcode {
    source: Box<dyn FrameSource>,
    settings: EncodeConfig,
    encoder: Option<Encoder>,
    /// The presets it may step through ([`preset_ladder`]), the one in use, and how far
    /// down the ladder an encoder keeps the clip's stream header (found on the way).
    ladder: Vec<String>,
    level: usize,
    usable: usize,
    /// An encoder opened at another step, taken into use at the next frame.
    next: Option<(usize, Encoder)>,
    /// What the stamp says now and the Unix time of pts 0, for an encoder opened later.
    stamp: Option<StampText>,
    wall_offset_s: f64,
    /// Frames inside the encoder, oldest first: (pts, frame number). No B-frames, so
    /// packets come out in this order.
    in_flight: VecDeque<(i64, u64)>,
}

impl Transcode {
    pub fn new(source: Box<dyn FrameSource>, settings: &EncodeConfig) -> Transcode {
        let ladder = preset_ladder(&settings.preset);
        Transcode {
            source,
            settings: settings.clone(),
            encoder: None,
            usable: ladder.len() - 1,
            ladder,
            level: 0,
            next: None,
            stamp: None,
            wall_offset_s: 0.0,
            in_flight: VecDeque::new(),
        }
    }

    /// Gives packets the camera-session number of their frame.
    fn number(&mut self, packets: Vec<EncodedPacket>, out: &mut Vec<EncodedPacket>) {
        for mut p in packets {
            while let Some(&(pts, n)) = self.in_flight.front() {
                if pts < p.pts {
                    self.in_flight.pop_front();
                    continue;
                }
                if pts == p.pts {
                    self.in_flight.pop_front();
                    p.frame_no = n;
                }
                break;
            }
            out.push(p);
        }
    }
}

impl PacketSource for Transcode {
    fn info(&self) -> StreamInfo {
        self.source.info()
    }

    fn next_unit(&mut self) -> Result<Option<Unit>, crate::Error> {
        Ok(self.source.next_frame()?.map(Unit::Frame))
    }

    fn start(
        &mut self,
        wall_offset_s: f64,
        stamp: &StampText,
    ) -> Result<codec::Parameters, crate::Error> {
        let e = Encoder::open_preset(
            self.source.info(),
            &self.settings,
            &self.ladder[self.level],
            wall_offset_s,
            stamp,
        )?;
        let params = e.parameters();
        self.encoder = Some(e);
        self.stamp = Some(stamp.clone());
        self.wall_offset_s = wall_offset_s;
        Ok(params)
    }

    fn process(
        &mut self,
        unit: Unit,
        frame_no: u64,
        keyframe: bool,
        stamp: Option<&StampText>,
        out: &mut Vec<EncodedPacket>,
    ) -> Result<(), crate::Error> {
        let (Some(encoder), Unit::Frame(mut frame)) = (self.encoder.as_mut(), unit) else {
            return Err(crate::Error::internal(
                "transcode was given a packet, or a frame before its encoder started",
            ));
        };
        if let Some(stamp) = stamp {
            encoder.set_stamp(stamp)?;
            self.stamp = Some(stamp.clone());
        }
        let mut packets = Vec::new();
        let mut keyframe = keyframe;
        if let Some((level, mut fresh)) = self.next.take() {
            // The step: what the old encoder holds comes out first, then the new one starts
            // with an IDR under the same stream header.
            encoder.finish(&mut packets)?;
            if let Some(stamp) = &self.stamp {
                fresh.set_stamp(stamp)?;
            }
            *encoder = fresh;
            self.level = level;
            keyframe = true;
        }
        self.in_flight
            .push_back((frame.pts().unwrap_or(0), frame_no));
        encoder.encode(&mut frame, keyframe, &mut packets)?;
        self.number(packets, out);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<EncodedPacket>) -> Result<(), crate::Error> {
        if let Some(encoder) = self.encoder.as_mut() {
            let mut packets = Vec::new();
            encoder.finish(&mut packets)?;
            self.number(packets, out);
        }
        Ok(())
    }

    fn text_track(&self) -> bool {
        false
    }

    fn late_frames(&self) -> u64 {
        self.source.late_frames()
    }

    fn can_drop(&self) -> bool {
        true
    }

    fn set_wall_offset(&mut self, wall_offset_s: f64) {
        self.wall_offset_s = wall_offset_s;
        if let Some(e) = self.encoder.as_mut() {
            e.set_wall_offset(wall_offset_s);
        }
    }

    fn step_preset(&mut self, down: bool) -> Option<String> {
        let current = self.encoder.as_ref()?;
        let level = if down {
            (self.level < self.usable).then_some(self.level + 1)?
        } else {
            self.level.checked_sub(1)?
        };
        let stamp = self.stamp.as_ref()?;
        let fresh = match Encoder::open_preset(
            self.source.info(),
            &self.settings,
            &self.ladder[level],
            self.wall_offset_s,
            stamp,
        ) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, preset = %self.ladder[level], "cannot open libx264 at a faster preset; frames are left out instead");
                self.usable = self.level;
                return None;
            }
        };
        if fresh.header() != current.header() {
            // Another stream header: a clip's one sample entry could not describe both.
            tracing::info!(preset = %self.ladder[level], "this preset changes the stream's parameter sets; the recorder steps no further down");
            if down {
                self.usable = self.level;
            }
            return None;
        }
        self.next = Some((level, fresh));
        Some(self.ladder[level].clone())
    }

    fn keep_stamped(&mut self) {
        if let Some(e) = self.encoder.as_mut() {
            e.keep_stamped();
        }
    }

    fn take_stamped(&mut self) -> Option<frame::Video> {
        self.encoder.as_mut().and_then(Encoder::take_stamped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 320×240, 30 frames/s stream.
    fn small() -> StreamInfo {
        StreamInfo {
            width: 320,
            height: 240,
            pixel_format: format::Pixel::YUV420P,
            time_base: Rational(1, 30),
            frame_rate: Rational(30, 1),
        }
    }

    /// The default stamp of station st-1, camera cam-1, with `order`.
    fn stamp(order: Option<&str>) -> StampText {
        StampText {
            station: "st-1".into(),
            camera: "cam-1".into(),
            order: order.map(str::to_string),
            operator: None,
            tracking: vec![],
            template: crate::config::DEFAULT_STAMP.into(),
        }
    }

    #[test]
    fn stamp_text_escapes_literals() {
        let s = StampText {
            station: "st-1".into(),
            camera: "cam-1".into(),
            order: Some("A%B\\C'D".into()),
            operator: None,
            tracking: vec![],
            template: crate::config::DEFAULT_STAMP.into(),
        };
        let e = stamp_expression(&s, 1764102661.5);
        assert!(
            e.starts_with("A\\%B\\\\C'D  st-1 cam-1  %{pts:localtime:1764102661.500000:"),
            "{e}"
        );
        assert_eq!(quote_option("it's"), "'it'\\''s'");
    }

    /// The presets a camera steps down through keep the stream header: veryfast and
    /// superfast write the same SPS and PPS (one sample entry describes both), ultrafast does
    /// not (no CABAC, no 8x8 transform), so the ladder stops before it.
    #[test]
    fn a_faster_preset_keeps_the_stream_header_down_to_superfast() {
        assert_eq!(
            preset_ladder("veryfast"),
            ["veryfast", "superfast", "ultrafast"]
        );
        assert_eq!(preset_ladder("x264-custom"), ["x264-custom"]);
        let info = small();
        let stamp = stamp(None);
        let settings = crate::config::EncodeConfig::default();
        let header = |preset: &str| {
            Encoder::open_preset(info, &settings, preset, 0.0, &stamp)
                .unwrap()
                .header()
        };
        let veryfast = header("veryfast");
        assert!(veryfast.len() > 10, "an avcC header");
        assert_eq!(header("superfast"), veryfast);
        assert_ne!(header("ultrafast"), veryfast);
    }

    /// A transcoding camera stepped down a preset and back up mid-clip makes one clip that
    /// decodes through every frame: the old encoder's frames come out first, the new one
    /// starts with an IDR under the same stream header, and a step that would change the
    /// header (to ultrafast) is refused.
    #[test]
    fn a_clip_stepped_down_and_up_mid_way_decodes_every_frame() {
        let source =
            crate::media::source::FfmpegSource::open("lavfi:testsrc2=size=320x240:rate=30", false)
                .unwrap();
        let settings = crate::config::EncodeConfig::default();
        let mut t = Transcode::new(Box::new(source), &settings);
        let stamp = stamp(Some("SO-1"));
        let params = t.start(1764102661.5, &stamp).unwrap();
        let mut packets = Vec::new();
        let mut n = 0u64;
        let mut run = |t: &mut Transcode, frames: u64, packets: &mut Vec<EncodedPacket>| {
            for _ in 0..frames {
                let unit = t.next_unit().unwrap().unwrap();
                t.process(unit, n, n == 0, None, packets).unwrap();
                n += 1;
            }
        };
        run(&mut t, 45, &mut packets);
        assert_eq!(t.step_preset(true).as_deref(), Some("superfast"));
        run(&mut t, 45, &mut packets);
        assert_eq!(t.step_preset(true), None, "ultrafast changes the header");
        assert_eq!(t.step_preset(false).as_deref(), Some("veryfast"));
        run(&mut t, 30, &mut packets);
        t.finish(&mut packets).unwrap();
        assert_eq!(packets.len(), 120, "a packet for every frame");
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("stepped.mp4");
        let tb = t.source.info().time_base;
        let mut w = crate::media::fmp4::ClipWriter::create(
            &path,
            &params,
            tb,
            (packets[0].pts, packets[0].dts),
            false,
        )
        .unwrap();
        for p in packets {
            w.write(p).unwrap();
        }
        let sealed = w.finish().unwrap();
        assert_eq!(sealed.frames, 120);
        // Decoded by the ffmpeg command, independently: every frame, and not one error.
        let probe = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
            .arg(&path)
            .output()
            .expect("ffprobe (Debian package ffmpeg)");
        assert_eq!(
            String::from_utf8_lossy(&probe.stdout).trim(),
            "120",
            "{}",
            String::from_utf8_lossy(&probe.stderr)
        );
        let decode = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&path)
            .args(["-f", "null", "-"])
            .output()
            .expect("ffmpeg");
        assert!(
            decode.status.success() && decode.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&decode.stderr)
        );
    }

    /// The copy kept for the station screen is the frame as the clip gets it: a plain grey
    /// frame comes back with the stamp drawn (its dark box and white letters at the bottom
    /// left), and only the one frame asked for is kept.
    #[test]
    fn the_kept_frame_has_the_stamp_drawn() {
        let info = small();
        let stamp = stamp(Some("SO-1001"));
        let settings = crate::config::EncodeConfig::default();
        let mut enc = Encoder::open(info, &settings, 1764102661.5, &stamp).unwrap();
        let grey = |pts: i64| {
            let mut f = frame::Video::new(format::Pixel::YUV420P, 320, 240);
            for plane in 0..3 {
                f.data_mut(plane).fill(128);
            }
            f.set_pts(Some(pts));
            f
        };
        let mut out = Vec::new();
        enc.encode(&mut grey(0), true, &mut out).unwrap();
        assert!(enc.take_stamped().is_none(), "nothing kept unless asked");
        enc.keep_stamped();
        enc.encode(&mut grey(1), false, &mut out).unwrap();
        let kept = enc.take_stamped().expect("the frame asked for");
        assert!(enc.take_stamped().is_none());
        let (w, stride) = (kept.width() as usize, kept.stride(0));
        let luma = kept.data(0);
        let bottom: Vec<u8> = (200..240)
            .flat_map(|y| luma[y * stride..y * stride + w / 2].iter().copied())
            .collect();
        let (dark, bright) = (
            bottom.iter().filter(|&&v| v < 80).count(),
            bottom.iter().filter(|&&v| v > 200).count(),
        );
        assert!(
            dark > 100 && bright > 20,
            "no stamp: {dark} dark, {bright} bright"
        );
        let top = &luma[..stride * 40];
        assert!(top.iter().all(|&v| v == 128), "the top is untouched");
    }
}
