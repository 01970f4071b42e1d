//! RTSP passthrough through retina: a network camera's own H.264/H.265 frames, received by the
//! retina RTSP client (TCP interleaved by default, UDP on request) and copied into clips.
//!
//! Owns: the RTSP session of one camera opening (DESCRIBE, SETUP, PLAY, credentials taken out
//! of the URL and given as basic/digest credentials), turning retina's frames into packets
//! (4-byte length-prefixed NAL units, the parameter sets repeated in-band at every keyframe so
//! that a clip stays playable across a mid-stream change of resolution), timestamps from RTP
//! time (90 kHz) kept strictly increasing (a frame whose RTP time does not advance is timed
//! one frame on, never dropped), whether a frame is already here without waiting, and the
//! stall timeout.
//! Never: decodes or encodes; runs on any thread but its camera's (its tokio runtime is
//! single-threaded and lives inside this value); takes `rtsps://` (FFmpeg does).

use std::time::Duration;

use ffmpeg::{codec, format, Packet, Rational};
use ffmpeg_next as ffmpeg;
use futures_util::{FutureExt, StreamExt};
use retina::client::{
    Credentials, Demuxed, PlayOptions, Session, SessionOptions, SetupOptions, TeardownPolicy,
    Transport,
};
use retina::codec::{CodecItem, FrameFormat, ParameterSetInsertion, ParametersRef};

use super::source::redacted;
use super::{EncodedPacket, StreamInfo, Unit};
use crate::error::{Error, ErrorKind};

/// How long opening a session (DESCRIBE, SETUP, PLAY and the first keyframe) may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a caught-up camera's TCP socket is left to fill before it is read again, so that
/// a tenth of a second of video is read in one go instead of packet by packet (most of the
/// CPU of receiving is waking up for each burst). The kernel's receive buffer grows to hold
/// it (TCP autotuning); the camera loop takes scans meanwhile and applies them at the first
/// frame that arrives after them. UDP is read as it comes: a datagram that finds the buffer
/// full is lost.
pub const COALESCE: Duration = Duration::from_millis(100);

/// The RTP clock of H.264 and H.265 (RFC 6184, RFC 7798).
const CLOCK: i32 = 90_000;

/// How to reach a camera.
#[derive(Debug, Clone)]
pub struct RtspOptions {
    /// TCP interleaved (the default) or UDP.
    pub udp: bool,
    /// A camera that sends nothing for this long is taken as lost.
    pub stall: Duration,
}

/// A network camera's session through retina.
pub struct RtspPassthrough {
    rt: tokio::runtime::Runtime,
    /// Always `Some` until dropped: retina tears a session down from a task it spawns, so it
    /// is dropped inside the runtime ([`Drop`]).
    session: Option<Demuxed>,
    stream: usize,
    spec: String,
    info: StreamInfo,
    params: codec::Parameters,
    stall: Duration,
    /// The first keyframe, read while opening (it carries the stream's parameters).
    first: Option<EncodedPacket>,
    /// What [`RtspPassthrough::buffered`] found already here: the next frame, the end of the
    /// session, or its error.
    peeked: Option<Result<Option<EncodedPacket>, Error>>,
    /// How long the camera loop may leave the socket unread once caught up (TCP only).
    coalesce: Option<Duration>,
    last_dts: Option<i64>,
    /// Parameter changes seen (a new resolution, new SPS/PPS) since the session opened.
    changes: u64,
    /// Frames in a row whose RTP time did not advance (timed at the frame rate).
    untimed: u64,
}

fn fail(spec: &str, what: impl std::fmt::Display) -> Error {
    Error::msg(ErrorKind::Unavailable, format!("camera {spec}: {what}"))
}

/// Explains a retina error in the terms a warehouse lead can act on.
fn why(e: &retina::Error) -> String {
    let text = e.to_string();
    if text.contains("401") {
        format!("{text} (the camera refused the user and password: check them in the source URL, rtsp://USER:PASSWORD@HOST/...)")
    } else if text.contains("Connection refused") || text.contains("connect") {
        format!("{text} (is the camera on, and is its RTSP port right?)")
    } else {
        text
    }
}

/// The URL without its credentials, and the credentials (percent-decoded).
fn split_credentials(spec: &str) -> Result<(url::Url, Option<Credentials>), Error> {
    let mut url = url::Url::parse(spec.trim())
        .map_err(|e| fail(&redacted(spec), format!("not a URL ({e})")))?;
    if url.scheme() != "rtsp" {
        return Err(fail(
            &redacted(spec),
            "retina takes rtsp:// URLs only; set rtsp_client = \"ffmpeg\" for this camera",
        ));
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|d| d.into_owned())
            .map_err(|_| {
                fail(
                    &redacted(spec),
                    "the URL's user or password is not valid UTF-8 once decoded",
                )
            })
    };
    let creds = if url.username().is_empty() && url.password().is_none() {
        None
    } else {
        Some(Credentials {
            username: decode(url.username())?,
            password: decode(url.password().unwrap_or(""))?,
        })
    };
    // Neither can fail on an rtsp:// URL with a host.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok((url, creds))
}

/// FFmpeg's codec parameters for the stream: codec, size and the avcC/hvcC record, as the
/// MP4 muxer and the preview's decoder need them.
fn ffmpeg_parameters(id: codec::Id, width: u32, height: u32, extra: &[u8]) -> codec::Parameters {
    let mut p = codec::Parameters::new();
    // SAFETY: the parameters own their codecpar; extradata is allocated with av_mallocz (with
    // the padding FFmpeg requires) and freed by FFmpeg with the parameters.
    unsafe {
        let par = p.as_mut_ptr();
        (*par).codec_type = ffmpeg::ffi::AVMediaType::AVMEDIA_TYPE_VIDEO;
        (*par).codec_id = id.into();
        (*par).width = width as i32;
        (*par).height = height as i32;
        (*par).format = ffmpeg::ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as i32;
        let n = extra.len();
        let buf = ffmpeg::ffi::av_mallocz(n + ffmpeg::ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize)
            as *mut u8;
        if !buf.is_null() {
            std::ptr::copy_nonoverlapping(extra.as_ptr(), buf, n);
            (*par).extradata = buf;
            (*par).extradata_size = n as i32;
        }
    }
    p
}

impl RtspPassthrough {
    /// Opens the camera at `spec` (`rtsp://[USER:PASSWORD@]HOST[:PORT]/PATH`) and reads up to
    /// its first keyframe. H.264 and H.265 only: for any other codec it is `None`, and the
    /// caller transcodes the camera through FFmpeg instead.
    pub fn open(spec: &str, opts: &RtspOptions) -> Result<Option<RtspPassthrough>, Error> {
        let shown = redacted(spec);
        let (url, creds) = split_credentials(spec)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                fail(
                    &shown,
                    format!("cannot start the RTSP client's runtime: {e}"),
                )
            })?;
        let transport = if opts.udp {
            Transport::Udp(Default::default())
        } else {
            Transport::Tcp(Default::default())
        };
        let opened = rt.block_on(async {
            tokio::time::timeout(OPEN_TIMEOUT, async {
                let mut session = Session::describe(
                    url,
                    SessionOptions::default()
                        .creds(creds)
                        .user_agent(format!("packwitness {}", env!("CARGO_PKG_VERSION")))
                        .teardown(TeardownPolicy::Auto),
                )
                .await
                .map_err(|e| fail(&shown, format!("DESCRIBE failed: {}", why(&e))))?;
                let found = session.streams().iter().enumerate().find_map(|(i, s)| {
                    (s.media() == "video").then(|| (i, s.encoding_name().to_string()))
                });
                let (stream, id) = match found {
                    Some((i, name)) if name == "h264" => (i, codec::Id::H264),
                    Some((i, name)) if name == "h265" => (i, codec::Id::HEVC),
                    Some((_, name)) => {
                        tracing::info!(source = %shown, codec = %name, "not H.264 or H.265: transcoded through FFmpeg");
                        return Ok(None);
                    }
                    None => return Err(fail(&shown, "the camera offers no video stream")),
                };
                session
                    .setup(
                        stream,
                        SetupOptions::default().transport(transport).frame_format(
                            FrameFormat {
                                parameter_set_insertion: ParameterSetInsertion::EachKeyFrame,
                                ..FrameFormat::MP4
                            },
                        ),
                    )
                    .await
                    .map_err(|e| fail(&shown, format!("SETUP failed: {}", why(&e))))?;
                let mut demuxed = session
                    .play(PlayOptions::default())
                    .await
                    .map_err(|e| fail(&shown, format!("PLAY failed: {}", why(&e))))?
                    .demuxed()
                    .map_err(|e| fail(&shown, why(&e)))?;
                // Frames before the first keyframe cannot be decoded alone: skipped.
                loop {
                    match demuxed.next().await {
                        Some(Ok(CodecItem::VideoFrame(f)))
                            if f.stream_id() == stream && f.is_random_access_point() =>
                        {
                            return Ok(Some((demuxed, stream, id, f)));
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Err(fail(&shown, why(&e))),
                        None => return Err(fail(&shown, "the stream ended before its first keyframe")),
                    }
                }
            })
            .await
            .map_err(|_| {
                fail(
                    &shown,
                    format!("no keyframe within {} s of connecting", OPEN_TIMEOUT.as_secs()),
                )
            })?
        });
        let Some((session, stream, id, first)) = opened? else {
            return Ok(None);
        };
        let Some(ParametersRef::Video(v)) =
            session.streams().get(stream).and_then(|s| s.parameters())
        else {
            return Err(fail(
                &shown,
                "the camera's first keyframe came without its parameters (SPS/PPS)",
            ));
        };
        let (width, height) = v.pixel_dimensions();
        let frame_rate = v
            .frame_rate()
            .filter(|&(d, t)| d > 0 && t > 0)
            .map_or(Rational(30, 1), |(d, t)| Rational(t as i32, d as i32));
        let info = StreamInfo {
            width,
            height,
            pixel_format: format::Pixel::YUV420P,
            time_base: Rational(1, CLOCK),
            frame_rate,
        };
        let params = ffmpeg_parameters(id, width, height, v.extra_data());
        tracing::info!(source = %shown, codec = %v.rfc6381_codec(), width, height, transport = if opts.udp { "udp" } else { "tcp" }, "passthrough: packets copied through retina (RTSP), stamp as a text track");
        let mut me = RtspPassthrough {
            rt,
            session: Some(session),
            stream,
            spec: shown,
            info,
            params,
            stall: opts.stall,
            first: None,
            peeked: None,
            coalesce: (!opts.udp).then_some(COALESCE),
            last_dts: None,
            changes: 0,
            untimed: 0,
        };
        me.first = Some(me.packet(first));
        Ok(Some(me))
    }

    /// A retina frame as a packet, its decode time strictly after the previous one's: a frame
    /// whose RTP time does not advance (a camera that sends its first frames untimed, or
    /// whose clock steps back) is timed one frame after the one before, never dropped, since
    /// the frames after it refer to it.
    fn packet(&mut self, f: retina::codec::VideoFrame) -> EncodedPacket {
        let t = f.timestamp();
        // RTP time in the stream's clock (90 kHz for both codecs).
        let pts = if t.clock_rate().get() as i32 == CLOCK {
            t.elapsed()
        } else {
            t.elapsed() * i64::from(CLOCK) / i64::from(t.clock_rate().get())
        };
        let pts = match self.last_dts {
            Some(last) if pts <= last => {
                if self.untimed == 0 {
                    tracing::warn!(source = %self.spec, rtp_time = pts, "the camera's RTP time does not advance: frames are timed at the frame rate until it does");
                }
                self.untimed += 1;
                last + self.info.frame_duration().max(1)
            }
            _ => {
                if self.untimed > 0 {
                    tracing::info!(source = %self.spec, frames = self.untimed, "the camera's RTP time advances again; frames timed at the frame rate meanwhile");
                    self.untimed = 0;
                }
                pts
            }
        };
        if f.has_new_parameters() {
            self.changes += 1;
            tracing::warn!(source = %self.spec, "the camera changed its stream parameters mid-stream; the new ones go in-band with each keyframe");
        }
        if f.loss() > 0 {
            tracing::warn!(source = %self.spec, lost = f.loss(), "RTP packets lost before this frame");
        }
        let key = f.is_random_access_point();
        let mut packet = Packet::copy(f.data());
        packet.set_pts(Some(pts));
        packet.set_dts(Some(pts));
        packet.set_duration(self.info.frame_duration());
        if key {
            packet.set_flags(ffmpeg::packet::Flags::KEY);
        }
        self.last_dts = Some(pts);
        EncodedPacket {
            packet,
            pts,
            dts: pts,
            key,
            frame_no: 0,
        }
    }

    /// The next frame of the camera as a packet; `None` when the camera ended the session.
    pub fn next_packet(&mut self) -> Result<Option<EncodedPacket>, Error> {
        if let Some(p) = self.first.take() {
            return Ok(Some(p));
        }
        if let Some(r) = self.peeked.take() {
            return r;
        }
        loop {
            let stall = self.stall;
            let Some(session) = self.session.as_mut() else {
                return Ok(None);
            };
            let item = self
                .rt
                .block_on(async { tokio::time::timeout(stall, session.next()).await })
                .map_err(|_| {
                    fail(
                        &self.spec,
                        format!("sent nothing for {} s", stall.as_secs()),
                    )
                })?;
            if let Some(taken) = self.take(item) {
                return taken;
            }
        }
    }

    /// What an item of the session is to the camera's reader: the next packet, the end of
    /// the session or its error; `None` for an item that is no frame of the video stream.
    fn take(
        &mut self,
        item: Option<Result<CodecItem, retina::Error>>,
    ) -> Option<Result<Option<EncodedPacket>, Error>> {
        match item {
            None => Some(Ok(None)),
            Some(Err(e)) => Some(Err(fail(&self.spec, why(&e)))),
            Some(Ok(CodecItem::VideoFrame(f))) if f.stream_id() == self.stream => {
                Some(Ok(Some(self.packet(f))))
            }
            Some(Ok(_)) => None,
        }
    }

    /// The shape and timing of the stream.
    pub fn info(&self) -> StreamInfo {
        self.info
    }

    /// FFmpeg's codec parameters of the stream as it began (avcC/hvcC).
    pub fn parameters(&self) -> codec::Parameters {
        self.params.clone()
    }

    /// Mid-stream parameter changes seen so far.
    pub fn parameter_changes(&self) -> u64 {
        self.changes
    }

    /// Whether the next frame (or the end of the session) is here already, taken from what
    /// retina holds and what the socket has received, without waiting for the camera.
    pub fn buffered(&mut self) -> bool {
        if self.first.is_some() || self.peeked.is_some() {
            return true;
        }
        loop {
            let Some(session) = self.session.as_mut() else {
                return true;
            };
            // Yielding once lets the runtime look at the socket (a poll of its I/O driver
            // that does not block) before the stream is asked, once, for an item.
            let item = self.rt.block_on(async {
                tokio::task::yield_now().await;
                session.next().now_or_never()
            });
            let Some(item) = item else {
                return false;
            };
            if let Some(taken) = self.take(item) {
                self.peeked = Some(taken);
                return true;
            }
        }
    }
}

impl Drop for RtspPassthrough {
    fn drop(&mut self) {
        let _inside = self.rt.enter();
        drop(self.session.take());
    }
}

impl super::PacketSource for RtspPassthrough {
    fn info(&self) -> StreamInfo {
        self.info
    }

    fn next_unit(&mut self) -> Result<Option<Unit>, Error> {
        Ok(self.next_packet()?.map(Unit::Packet))
    }

    fn start(
        &mut self,
        _wall_offset_s: f64,
        _stamp: &super::StampText,
    ) -> Result<codec::Parameters, Error> {
        Ok(self.params.clone())
    }

    fn process(
        &mut self,
        unit: Unit,
        frame_no: u64,
        _keyframe: bool,
        _stamp: Option<&super::StampText>,
        out: &mut Vec<EncodedPacket>,
    ) -> Result<(), Error> {
        super::copy_packet(unit, frame_no, out, "RTSP passthrough")
    }

    fn finish(&mut self, _out: &mut Vec<EncodedPacket>) -> Result<(), Error> {
        Ok(())
    }

    fn text_track(&self) -> bool {
        true
    }

    fn coalesce(&self) -> Option<Duration> {
        self.coalesce
    }

    fn buffered(&mut self) -> bool {
        RtspPassthrough::buffered(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url_and_are_decoded() {
        let (url, creds) =
            split_credentials("rtsp://admin:p%40ss%3Aw@10.0.0.5:554/h264?ch=1").unwrap();
        assert_eq!(url.as_str(), "rtsp://10.0.0.5:554/h264?ch=1");
        let c = creds.unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("admin", "p@ss:w")
        );
        let (url, creds) = split_credentials("rtsp://cam.local/stream").unwrap();
        assert_eq!(url.as_str(), "rtsp://cam.local/stream");
        assert!(creds.is_none());
        let e = split_credentials("rtsps://admin:secret@cam/s")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("rtsp_client = \"ffmpeg\"") && !e.contains("secret"),
            "{e}"
        );
    }
}
