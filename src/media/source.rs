//! Sources: where a camera's frames come from.
//!
//! Owns: opening a source (lavfi test pattern, file, network URL) through FFmpeg, decoding it to
//! raw frames with monotonic timestamps, and pacing non-live sources to real time.
//! Never: encodes, stamps or decides which order a frame belongs to.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ffmpeg::{codec, decoder, format, frame, media};
use ffmpeg_next as ffmpeg;

use super::StreamInfo;

pub use super::usb::{usb_cameras, usb_formats, UsbSource};

/// The pixel format asked of a USB camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsbFormat {
    Mjpeg,
    Yuyv,
}

/// What a USB camera is asked for.
#[derive(Debug, Clone, Copy)]
pub struct UsbRequest {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// `None`: MJPEG if offered, else YUYV.
    pub format: Option<UsbFormat>,
}

/// What went wrong with a source.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot open source {spec}: {source} (check the path/URL; for a test pattern use \"testsrc\")")]
    Open {
        spec: String,
        #[source]
        source: ffmpeg::Error,
    },
    #[error("source {spec}: {what}")]
    Unsupported { spec: String, what: String },
    #[error("source {spec}: {what}: {source}")]
    Ffmpeg {
        spec: String,
        what: &'static str,
        #[source]
        source: ffmpeg::Error,
    },
}

/// A source of decoded video frames. Implementations: [`FfmpegSource`]; tests and the
/// recording-engine work add more (USB cameras through nokhwa).
pub trait FrameSource {
    fn info(&self) -> StreamInfo;
    /// Next frame, with a timestamp strictly greater than the previous one; `None` at end of stream.
    fn next_frame(&mut self) -> Result<Option<frame::Video>, CaptureError>;
    /// The spec the source was opened from, for messages.
    fn spec(&self) -> &str;
    /// Frames that came more than 100 ms behind their time: a real camera would have dropped
    /// them (its buffer overflows while the recorder falls behind).
    fn late_frames(&self) -> u64 {
        0
    }
}

/// A parsed source spec, the one syntax used in the config and on the command line.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// A libavfilter source graph opened through the `lavfi` input device.
    Lavfi(String),
    /// A network URL (`rtsp://`, `http://`, `https://`, ...).
    Url(String),
    /// A video file.
    File(PathBuf),
    /// A USB (UVC) camera by index: `usb:N`, `/dev/videoN` or a bare `N`.
    Usb(u32),
    /// A USB camera by a stable device path (`/dev/v4l/by-id/...`, or a udev rule's
    /// `SYMLINK`): resolved to its `/dev/videoN` at every open, so a camera plugged into
    /// another port, or found in another order at boot, is still the same camera.
    UsbPath(PathBuf),
}

/// The index `N` of the `/dev/videoN` a stable device path leads to now, or why there is
/// none (the camera unplugged: the link is gone).
pub fn usb_index_behind(path: &Path) -> Result<u32, String> {
    let real =
        std::fs::canonicalize(path).map_err(|e| format!("not there ({e}): plug the camera in"))?;
    real.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("video"))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            format!(
                "leads to {}, which is not a video device (/dev/videoN)",
                real.display()
            )
        })
}

/// A source spec as it may be shown and recorded: the password of a URL's user
/// (`rtsp://admin:secret@cam/...`) replaced by `***`.
pub fn redacted(spec: &str) -> String {
    let Some((scheme, rest)) = spec.split_once("://") else {
        return spec.to_string();
    };
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => {
            let user = &rest[..at];
            let user = user.split_once(':').map_or(user, |(u, _)| u);
            let shown = if rest[..at].contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{scheme}://{shown}{}", &rest[at..])
        }
        None => spec.to_string(),
    }
}

/// A text (an error message) with every URL password in it replaced by `***`.
pub fn redacted_text(text: &str) -> String {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    match RE
        .get_or_init(|| regex::Regex::new(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+):[^@\s/]+@").ok())
    {
        Some(re) => re.replace_all(text, "$1:***@").into_owned(),
        None => text.to_string(),
    }
}

/// The test pattern used by `demo` and `testsrc`.
pub const TEST_PATTERN: &str = "testsrc2=size=1280x720:rate=30";

impl SourceSpec {
    pub fn parse(spec: &str) -> SourceSpec {
        let spec = spec.trim();
        if spec == "testsrc" || spec == "testsrc2" {
            SourceSpec::Lavfi(TEST_PATTERN.to_string())
        } else if let Some(n) = spec
            .strip_prefix("usb:")
            .or_else(|| spec.strip_prefix("/dev/video"))
            .or(Some(spec))
            .filter(|n| !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse().ok())
        {
            SourceSpec::Usb(n)
        } else if let Some(graph) = spec.strip_prefix("lavfi:") {
            SourceSpec::Lavfi(graph.to_string())
        } else if spec.contains("://") {
            SourceSpec::Url(spec.to_string())
        } else if spec.starts_with("/dev/") {
            SourceSpec::UsbPath(PathBuf::from(spec))
        } else {
            SourceSpec::File(PathBuf::from(spec))
        }
    }

    /// Live sources deliver frames at their own pace; others are paced when asked.
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            SourceSpec::Url(_) | SourceSpec::Usb(_) | SourceSpec::UsbPath(_)
        )
    }

    /// A picture made by FFmpeg (`testsrc`, `lavfi:...`): a test pattern, no evidence.
    pub fn is_test_pattern(&self) -> bool {
        matches!(self, SourceSpec::Lavfi(_))
    }
}

/// A source opened through libavformat and decoded with libavcodec.
pub struct FfmpegSource {
    spec: String,
    input: format::context::Input,
    decoder: decoder::Video,
    stream_index: usize,
    info: StreamInfo,
    /// Set for a non-live source read in real time.
    pacer: Option<Pacer>,
    last_pts: Option<i64>,
    eof_sent: bool,
}

/// Delivers a non-live source (a file, a lavfi graph) at its own rate, as a camera would:
/// waits until each timestamp is due, and counts those that came more than 100 ms late
/// (a real camera would have dropped them).
#[derive(Debug, Default)]
pub struct Pacer {
    /// Wall instant and timestamp of the first frame.
    origin: Option<(Instant, i64)>,
    late: u64,
}

impl Pacer {
    pub fn wait(&mut self, info: &StreamInfo, ts: i64) {
        let (origin, ts0) = *self.origin.get_or_insert((Instant::now(), ts));
        let due = origin + Duration::from_secs_f64(info.seconds(ts - ts0).max(0.0));
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else if now - due > Duration::from_millis(100) {
            self.late += 1;
        }
    }

    pub fn late(&self) -> u64 {
        self.late
    }
}

fn find_input_format(name: &str) -> Option<format::Input> {
    let cname = CString::new(name).ok()?;
    // SAFETY: av_find_input_format returns a pointer to a static, immutable format description
    // (or null); ffmpeg-next has no safe wrapper for it.
    unsafe {
        let ptr = ffmpeg::ffi::av_find_input_format(cname.as_ptr());
        if ptr.is_null() {
            None
        } else {
            Some(format::Input::wrap(ptr as *mut _))
        }
    }
}

impl FfmpegSource {
    /// Opens a source. `realtime` paces non-live sources to their timestamps.
    pub fn open(spec_text: &str, realtime: bool) -> Result<FfmpegSource, CaptureError> {
        FfmpegSource::open_with_timeout(spec_text, realtime, 5)
    }

    /// [`FfmpegSource::open`], where a network source silent for `stall_s` seconds fails.
    pub fn open_with_timeout(
        spec_text: &str,
        realtime: bool,
        stall_s: u32,
    ) -> Result<FfmpegSource, CaptureError> {
        super::init_ffmpeg();
        let spec = SourceSpec::parse(spec_text);
        let open_err = |source| CaptureError::Open {
            spec: spec_text.to_string(),
            source,
        };
        let input = match &spec {
            SourceSpec::Usb(_) | SourceSpec::UsbPath(_) => {
                return Err(CaptureError::Unsupported {
                    spec: spec_text.to_string(),
                    what:
                        "a USB camera is opened with media::source::open_source, not through FFmpeg"
                            .into(),
                })
            }
            SourceSpec::Lavfi(graph) => {
                let fmt = find_input_format("lavfi").ok_or_else(|| CaptureError::Unsupported {
                    spec: spec_text.to_string(),
                    what: "this FFmpeg has no lavfi input device (libavdevice)".into(),
                })?;
                format::open(graph, &ffmpeg::Format::Input(fmt))
                    .map_err(open_err)?
                    .input()
            }
            SourceSpec::Url(url) => {
                let mut opts = ffmpeg::Dictionary::new();
                if url.starts_with("rtsp://") || url.starts_with("rtsps://") {
                    opts.set("rtsp_transport", "tcp");
                    opts.set(
                        "timeout",
                        &(u64::from(stall_s.max(1)) * 1_000_000).to_string(),
                    );
                } else {
                    opts.set(
                        "rw_timeout",
                        &(u64::from(stall_s.max(1)) * 1_000_000).to_string(),
                    );
                }
                format::input_with_dictionary(url, opts).map_err(open_err)?
            }
            SourceSpec::File(path) => {
                if !path.is_file() {
                    return Err(CaptureError::Unsupported {
                        spec: spec_text.to_string(),
                        what: "no such file (give a video file, a URL, \"testsrc\" or \"lavfi:<graph>\")"
                            .into(),
                    });
                }
                let utf8 = path.to_str().ok_or_else(|| CaptureError::Unsupported {
                    spec: spec_text.to_string(),
                    what: "the path is not valid UTF-8".into(),
                })?;
                format::input(utf8).map_err(open_err)?
            }
        };
        let stream =
            input
                .streams()
                .best(media::Type::Video)
                .ok_or_else(|| CaptureError::Unsupported {
                    spec: spec_text.to_string(),
                    what: "it has no video stream".into(),
                })?;
        let stream_index = stream.index();
        let time_base = stream.time_base();
        let frame_rate = {
            let r = stream.avg_frame_rate();
            if r.numerator() > 0 && r.denominator() > 0 {
                r
            } else {
                stream.rate()
            }
        };
        let ffmpeg_err = |what| {
            let spec = spec_text.to_string();
            move |source| CaptureError::Ffmpeg { spec, what, source }
        };
        let decoder = codec::context::Context::from_parameters(stream.parameters())
            .map_err(ffmpeg_err("reading codec parameters"))?
            .decoder()
            .video()
            .map_err(ffmpeg_err("opening the video decoder"))?;
        if decoder.width() == 0 || decoder.height() == 0 {
            return Err(CaptureError::Unsupported {
                spec: spec_text.to_string(),
                what: "the video stream has no picture size".into(),
            });
        }
        let info = StreamInfo {
            width: decoder.width(),
            height: decoder.height(),
            pixel_format: decoder.format(),
            time_base,
            frame_rate,
        };
        tracing::info!(
            source = spec_text,
            width = info.width,
            height = info.height,
            fps = info.fps(),
            "source opened"
        );
        Ok(FfmpegSource {
            spec: spec_text.to_string(),
            input,
            decoder,
            stream_index,
            info,
            pacer: (realtime && !spec.is_live()).then(Pacer::default),
            last_pts: None,
            eof_sent: false,
        })
    }

    fn receive(&mut self) -> Option<frame::Video> {
        let mut frame = frame::Video::empty();
        if self.decoder.receive_frame(&mut frame).is_ok() {
            Some(frame)
        } else {
            None
        }
    }

    /// Gives the frame a timestamp after the previous one; drops it (None) when that is impossible.
    fn fix_timestamp(&mut self, mut frame: frame::Video) -> Option<frame::Video> {
        let step = self.info.frame_duration();
        let pts = match (frame.timestamp(), self.last_pts) {
            (Some(p), Some(last)) if p <= last => {
                tracing::warn!(source = %self.spec, pts = p, last, "frame with a timestamp not after the previous one dropped");
                return None;
            }
            (Some(p), _) => p,
            (None, Some(last)) => last + step,
            (None, None) => 0,
        };
        frame.set_pts(Some(pts));
        self.last_pts = Some(pts);
        Some(frame)
    }
}

impl FfmpegSource {
    /// The codec of the video stream as the source delivers it (before decoding).
    pub fn codec_id(&self) -> codec::Id {
        self.input
            .stream(self.stream_index)
            .map_or(codec::Id::None, |s| s.parameters().id())
    }

    /// The video stream's codec parameters, for copying it without decoding.
    pub fn parameters(&self) -> codec::Parameters {
        self.input
            .stream(self.stream_index)
            .map_or_else(codec::Parameters::new, |s| s.parameters())
    }

    /// Gives up decoding: the demuxer, the video stream index, the stream info, the spec, and
    /// the pacer of a source read in real time.
    pub fn into_demuxer(
        self,
    ) -> (
        format::context::Input,
        usize,
        StreamInfo,
        String,
        Option<Pacer>,
    ) {
        (
            self.input,
            self.stream_index,
            self.info,
            self.spec,
            self.pacer,
        )
    }
}

impl FrameSource for FfmpegSource {
    fn info(&self) -> StreamInfo {
        self.info
    }

    fn spec(&self) -> &str {
        &self.spec
    }

    fn late_frames(&self) -> u64 {
        self.pacer.as_ref().map_or(0, Pacer::late)
    }

    fn next_frame(&mut self) -> Result<Option<frame::Video>, CaptureError> {
        loop {
            if let Some(frame) = self.receive() {
                if let Some(frame) = self.fix_timestamp(frame) {
                    if let Some(pts) = frame.pts() {
                        if let Some(p) = self.pacer.as_mut() {
                            p.wait(&self.info, pts);
                        }
                    }
                    return Ok(Some(frame));
                }
                continue;
            }
            if self.eof_sent {
                return Ok(None);
            }
            // A new packet per read: reusing one leaks (see README, "FFmpeg notes").
            let mut packet = ffmpeg::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {
                    if packet.stream() != self.stream_index {
                        continue;
                    }
                    if let Err(e) = self.decoder.send_packet(&packet) {
                        tracing::warn!(source = %self.spec, error = %e, "undecodable packet skipped");
                    }
                }
                Err(ffmpeg::Error::Eof) => {
                    self.eof_sent = true;
                    let _ = self.decoder.send_eof();
                }
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(source) => {
                    return Err(CaptureError::Ffmpeg {
                        spec: self.spec.clone(),
                        what: "reading a packet",
                        source,
                    })
                }
            }
        }
    }
}

/// Any source a camera's config can name.
pub enum AnySource {
    Ffmpeg(FfmpegSource),
    Usb(Box<UsbSource>),
}

/// Opens the source of a camera of the config.
pub fn open_source(cam: &crate::config::CameraConfig) -> Result<AnySource, CaptureError> {
    let spec = match SourceSpec::parse(&cam.source) {
        SourceSpec::UsbPath(path) => {
            SourceSpec::Usb(
                usb_index_behind(&path).map_err(|what| CaptureError::Unsupported {
                    spec: cam.source.clone(),
                    what,
                })?,
            )
        }
        other => other,
    };
    match spec {
        SourceSpec::Usb(index) => {
            let format = match cam.pixel_format.as_str() {
                "mjpeg" => Some(UsbFormat::Mjpeg),
                "yuyv" => Some(UsbFormat::Yuyv),
                _ => None,
            };
            let req = UsbRequest {
                width: cam.width,
                height: cam.height,
                fps: cam.fps,
                format,
            };
            Ok(AnySource::Usb(Box::new(UsbSource::open(
                &cam.source,
                index,
                req,
            )?)))
        }
        _ => Ok(AnySource::Ffmpeg(FfmpegSource::open_with_timeout(
            &cam.source,
            cam.realtime,
            cam.stall_timeout_s,
        )?)),
    }
}

#[cfg(test)]
mod redaction_tests {
    #[test]
    fn passwords_never_leave_the_config() {
        use super::redacted;
        assert_eq!(
            redacted("rtsp://admin:s3cret@10.0.0.5:554/h264"),
            "rtsp://admin:***@10.0.0.5:554/h264"
        );
        assert_eq!(redacted("rtsp://viewer@cam/x"), "rtsp://viewer@cam/x");
        assert_eq!(
            redacted("http://cam.local/mjpeg?a=b@c"),
            "http://cam.local/mjpeg?a=b@c"
        );
        assert_eq!(redacted("testsrc"), "testsrc");
        assert_eq!(redacted("/dev/video0"), "/dev/video0");
        assert_eq!(
            super::redacted_text("cannot open source rtsp://admin:s3cret@cam:554/x: refused"),
            "cannot open source rtsp://admin:***@cam:554/x: refused"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stable_camera_path_is_followed_to_its_video_device_at_each_open() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("packwitness-cam-1");
        // Unplugged: the link is gone, and the reason says what to do.
        let gone = usb_index_behind(&link).unwrap_err();
        assert!(gone.contains("plug the camera in"), "{gone}");
        // Plugged in as video3, then (another port, another boot) as video0.
        for n in [3, 0] {
            let dev = dir.path().join(format!("video{n}"));
            std::fs::write(&dev, b"").unwrap();
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&dev, &link).unwrap();
            assert_eq!(usb_index_behind(&link), Ok(n));
        }
        // A link to something else is said to be so.
        let other = dir.path().join("ttyACM0");
        std::fs::write(&other, b"").unwrap();
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&other, &link).unwrap();
        assert!(usb_index_behind(&link)
            .unwrap_err()
            .contains("not a video device"));
    }

    #[test]
    fn spec_syntax() {
        assert_eq!(
            SourceSpec::parse("testsrc"),
            SourceSpec::Lavfi(TEST_PATTERN.into())
        );
        assert_eq!(
            SourceSpec::parse("lavfi:testsrc2=size=640x360:rate=25"),
            SourceSpec::Lavfi("testsrc2=size=640x360:rate=25".into())
        );
        assert_eq!(
            SourceSpec::parse("rtsp://10.0.0.5/stream1"),
            SourceSpec::Url("rtsp://10.0.0.5/stream1".into())
        );
        assert_eq!(
            SourceSpec::parse("/tmp/a.mp4"),
            SourceSpec::File("/tmp/a.mp4".into())
        );
        assert!(SourceSpec::parse("http://cam/mjpg").is_live());
        assert_eq!(SourceSpec::parse("/dev/video2"), SourceSpec::Usb(2));
        let by_id = "/dev/v4l/by-id/usb-046d_C920_A1B2C3D4-video-index0";
        assert_eq!(SourceSpec::parse(by_id), SourceSpec::UsbPath(by_id.into()));
        assert!(SourceSpec::parse(by_id).is_live());
        assert_eq!(SourceSpec::parse("usb:0"), SourceSpec::Usb(0));
        assert_eq!(SourceSpec::parse("1"), SourceSpec::Usb(1));
        // Not /dev/videoN itself: a path followed to a video device when opened.
        assert_eq!(
            SourceSpec::parse("/dev/videox"),
            SourceSpec::UsbPath("/dev/videox".into())
        );
    }

    #[test]
    fn test_pattern_decodes_with_increasing_timestamps() {
        let mut src = FfmpegSource::open("lavfi:testsrc2=size=320x240:rate=30", false).unwrap();
        let info = src.info();
        assert_eq!((info.width, info.height), (320, 240));
        assert_eq!(info.fps(), 30.0);
        let mut last = -1;
        for _ in 0..10 {
            let f = src.next_frame().unwrap().unwrap();
            let pts = f.pts().unwrap();
            assert!(pts > last);
            last = pts;
        }
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = FfmpegSource::open("/nonexistent/clip.mp4", false)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("/nonexistent/clip.mp4") && err.contains("no such file"),
            "{err}"
        );
    }
}
