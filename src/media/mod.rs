//! Media: video in, clip files out. Sources, the encoder, passthrough, the fragmented-MP4 writer.
//!
//! Owns: everything that touches FFmpeg or a camera: opening sources (test pattern, file,
//! network, USB), decoding, the evidence stamp and libx264, passthrough of a camera's own
//! packets, and writing crash-safe fragmented MP4 files with their hashes.
//! Never: decides which order a frame belongs to (the recorder does) or writes a record.
//!
//! The recorder sees a camera session as a [`PacketSource`]: units in (a frame to encode or a
//! packet to copy), encoded packets out. [`replay::Replay`] is a packet source of recorded
//! packets, so the recorder is tested without cameras, encoders or real time.

use ffmpeg::{codec, format, frame, Packet, Rational};
use ffmpeg_next as ffmpeg;

pub mod derived;
pub mod encoder;
pub mod fmp4;
pub mod font;
pub mod passthrough;
pub mod preview;
pub mod replay;
pub mod rtsp;
pub mod source;
pub mod stamp;
pub mod upload;

// USB cameras through nokhwa, with the `usb` feature (on by default); without it, the same
// API says the build has no USB camera support.
#[cfg(feature = "usb")]
mod usb;
#[cfg(not(feature = "usb"))]
#[path = "usb_off.rs"]
mod usb;

pub use source::{CaptureError, FrameSource, SourceSpec, UsbFormat, UsbRequest};
pub use stamp::StampText;

use crate::error::{Error, ErrorKind};

/// Initialises FFmpeg once per process (idempotent) and keeps its log to errors.
pub fn init_ffmpeg() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(e) = ffmpeg::init() {
            tracing::error!(error = %e, "FFmpeg initialisation failed");
        }
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Error);
    });
}

/// The shape of the frames a source delivers.
#[derive(Debug, Clone, Copy)]
pub struct StreamInfo {
    pub width: u32,
    pub height: u32,
    pub pixel_format: format::Pixel,
    /// Time base of frame timestamps.
    pub time_base: Rational,
    /// Nominal frame rate.
    pub frame_rate: Rational,
}

impl StreamInfo {
    /// Duration of one frame in `time_base` units (at least 1).
    pub fn frame_duration(&self) -> i64 {
        let fr = self.frame_rate;
        let tb = self.time_base;
        if fr.numerator() <= 0 || fr.denominator() <= 0 || tb.numerator() <= 0 {
            return 1;
        }
        let d = (tb.denominator() as i64 * fr.denominator() as i64)
            / (tb.numerator() as i64 * fr.numerator() as i64);
        d.max(1)
    }

    /// Frames per second as a float (30.0 when unknown).
    pub fn fps(&self) -> f64 {
        let fr = self.frame_rate;
        if fr.numerator() > 0 && fr.denominator() > 0 {
            fr.numerator() as f64 / fr.denominator() as f64
        } else {
            30.0
        }
    }

    /// Seconds represented by `ticks` of the time base.
    pub fn seconds(&self, ticks: i64) -> f64 {
        ticks as f64 * self.time_base.numerator() as f64 / self.time_base.denominator() as f64
    }
}

/// An encoded packet, timestamps in the encoder's time base (the source's).
#[derive(Clone)]
pub struct EncodedPacket {
    pub packet: Packet,
    pub pts: i64,
    /// Decode timestamp; equals `pts` for our own encodes (no B-frames).
    pub dts: i64,
    pub key: bool,
    /// Camera-session number of the frame (set by the capture thread).
    pub frame_no: u64,
}

/// One unit of a camera's input: a raw frame to encode, or a camera's own packet to copy.
pub enum Unit {
    Frame(frame::Video),
    Packet(EncodedPacket),
}

/// What a path that copies a camera's own packets does with a unit: numbers the packet
/// `frame_no` and passes it on; a decoded frame is a bug of its caller (`who` copies packets
/// only).
pub fn copy_packet(
    unit: Unit,
    frame_no: u64,
    out: &mut Vec<EncodedPacket>,
    who: &str,
) -> Result<(), Error> {
    match unit {
        Unit::Packet(mut p) => {
            p.frame_no = frame_no;
            out.push(p);
            Ok(())
        }
        Unit::Frame(_) => Err(Error::internal(format!(
            "{who} was given a decoded frame; only packets are copied"
        ))),
    }
}

impl Unit {
    /// The unit's presentation time, in the stream's time base.
    pub fn pts(&self) -> i64 {
        match self {
            Unit::Frame(f) => f.pts().unwrap_or(0),
            Unit::Packet(p) => p.pts,
        }
    }
}

/// A camera session's media path: units in, encoded packets out. One per opening of a
/// source: transcode ([`encoder::Transcode`]), passthrough ([`passthrough::Passthrough`]) or
/// a replay of recorded packets ([`replay::Replay`]).
pub trait PacketSource {
    /// The shape and timing of the stream.
    fn info(&self) -> StreamInfo;
    /// The next unit; `None` at the end of the stream.
    fn next_unit(&mut self) -> Result<Option<Unit>, Error>;
    /// Starts the session (opens the encoder, with the stamp and the Unix time of pts 0) and
    /// returns the codec parameters of the packets it will produce.
    fn start(&mut self, wall_offset_s: f64, stamp: &StampText) -> Result<codec::Parameters, Error>;
    /// Turns a unit into packets numbered `frame_no`, appended to `out`. `keyframe` asks for
    /// an IDR at this unit (a clip starts here); `stamp` is new stamp text from here on.
    fn process(
        &mut self,
        unit: Unit,
        frame_no: u64,
        keyframe: bool,
        stamp: Option<&StampText>,
        out: &mut Vec<EncodedPacket>,
    ) -> Result<(), Error>;
    /// Flushes what is still inside (the encoder's delay) at the end of the session.
    fn finish(&mut self, out: &mut Vec<EncodedPacket>) -> Result<(), Error>;
    /// True when the stamp cannot be burned in and goes into a text track of the clip.
    fn text_track(&self) -> bool;
    /// How long the camera loop may leave this source unread once it has caught up (nothing
    /// [`PacketSource::buffered`]), so that what arrives meanwhile is read in one go; `None`:
    /// read it as it comes.
    fn coalesce(&self) -> Option<std::time::Duration> {
        None
    }
    /// True when the next unit is here already: `next_unit` will not wait for the camera.
    fn buffered(&mut self) -> bool {
        false
    }
    /// Frames that came more than 100 ms late (a real camera would have dropped them).
    fn late_frames(&self) -> u64 {
        0
    }
    /// True when a unit may be left out without harm to the others (a raw frame before the
    /// encoder); false for a camera's own packets, which later packets refer to.
    fn can_drop(&self) -> bool {
        false
    }
    /// The Unix time of pts 0 changed (the session's wall-clock map was corrected): a stamp
    /// drawn from now on uses it.
    fn set_wall_offset(&mut self, _wall_offset_s: f64) {}
    /// Steps the encoder's preset one down the ladder (faster, when behind real time) or
    /// back up, from the next frame on (an IDR), keeping the stream's parameter sets; the
    /// preset it will use, or `None` when there is no such step (a camera's own packets, the
    /// end of the ladder, a preset that would change the stream header).
    fn step_preset(&mut self, _down: bool) -> Option<String> {
        None
    }
    /// Keep a copy of the next frame processed as it goes into the clip (the stamp burned
    /// in), for [`PacketSource::take_stamped`]; a path that burns in nothing keeps nothing.
    fn keep_stamped(&mut self) {}
    /// The copy [`PacketSource::keep_stamped`] asked for, once that frame was processed.
    fn take_stamped(&mut self) -> Option<frame::Video> {
        None
    }
}

impl From<CaptureError> for Error {
    fn from(e: CaptureError) -> Error {
        let kind = match &e {
            CaptureError::Unsupported { .. } => ErrorKind::Invalid,
            CaptureError::Open { .. } | CaptureError::Ffmpeg { .. } => ErrorKind::Unavailable,
        };
        Error::new(kind, e)
    }
}

impl From<encoder::EncodeError> for Error {
    fn from(e: encoder::EncodeError) -> Error {
        let kind = match &e {
            encoder::EncodeError::Setup { .. } => ErrorKind::Invalid,
            encoder::EncodeError::Ffmpeg { .. } => ErrorKind::Internal,
        };
        Error::new(kind, e)
    }
}

impl From<fmp4::ClipError> for Error {
    fn from(e: fmp4::ClipError) -> Error {
        let kind = match &e {
            fmp4::ClipError::Io { .. } => ErrorKind::Io,
            fmp4::ClipError::Ffmpeg { .. } => ErrorKind::Internal,
        };
        Error::new(kind, e)
    }
}
