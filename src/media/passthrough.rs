//! Passthrough: a network camera's own H.264/H.265 packets, copied, never decoded.
//!
//! Owns: reading the camera's packets from the first keyframe on, filling in timestamps the
//! camera left out, keeping decode times strictly increasing, pacing file sources.
//! Never: decodes or encodes. The stamp cannot be burned in; the clip writer adds it as a
//! text track instead.

use ffmpeg::{codec, Packet};
use ffmpeg_next as ffmpeg;

use super::source::CaptureError;
use super::{EncodedPacket, StreamInfo};

/// The passthrough path for network cameras that already send H.264/H.265: packets are copied
/// as they come, never decoded. The stamp cannot be burned in; the clip writer adds it as a
/// text track instead.
pub struct Passthrough {
    input: ffmpeg::format::context::Input,
    stream_index: usize,
    info: StreamInfo,
    spec: String,
    last_dts: Option<i64>,
    seen_key: bool,
    /// A file or test source read at its own rate, as a camera would send it.
    pacer: Option<super::source::Pacer>,
}

impl Passthrough {
    pub fn new(source: super::source::FfmpegSource) -> Passthrough {
        let (input, stream_index, info, spec, pacer) = source.into_demuxer();
        Passthrough {
            input,
            stream_index,
            info,
            spec,
            last_dts: None,
            seen_key: false,
            pacer,
        }
    }

    pub fn info(&self) -> StreamInfo {
        self.info
    }

    pub fn parameters(&self) -> codec::Parameters {
        self.input
            .stream(self.stream_index)
            .map_or_else(codec::Parameters::new, |s| s.parameters())
    }

    /// The next packet of the video stream, from the first keyframe on, with timestamps filled
    /// in where the camera left them out and decode times strictly increasing.
    pub fn next_packet(&mut self) -> Result<Option<EncodedPacket>, CaptureError> {
        let step = self.info.frame_duration();
        loop {
            // A new packet per read: reusing one leaks.
            let mut packet = Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => return Ok(None),
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    continue;
                }
                Err(source) => {
                    return Err(CaptureError::Ffmpeg {
                        spec: self.spec.clone(),
                        what: "reading a packet",
                        source,
                    })
                }
            }
            if packet.stream() != self.stream_index {
                continue;
            }
            let key = packet.is_key();
            if !self.seen_key && !key {
                continue; // a stream joined mid-GOP starts at its next keyframe
            }
            self.seen_key = true;
            let dts = match (packet.dts(), packet.pts(), self.last_dts) {
                (Some(d), _, _) => d,
                (None, Some(p), Some(last)) => p.min(last + step).max(last + 1),
                (None, Some(p), None) => p,
                (None, None, Some(last)) => last + step,
                (None, None, None) => 0,
            };
            if self.last_dts.is_some_and(|last| dts <= last) {
                tracing::warn!(source = %self.spec, dts, "packet with a decode time not after the previous one dropped");
                continue;
            }
            let pts = packet.pts().unwrap_or(dts).max(dts);
            self.last_dts = Some(dts);
            if let Some(p) = self.pacer.as_mut() {
                p.wait(&self.info, dts);
            }
            packet.set_pts(Some(pts));
            packet.set_dts(Some(dts));
            if packet.duration() <= 0 {
                packet.set_duration(step);
            }
            return Ok(Some(EncodedPacket {
                packet,
                pts,
                dts,
                key,
                frame_no: 0,
            }));
        }
    }
}

/// True for the codecs passthrough can store in MP4 as they are.
pub fn can_pass_through(id: codec::Id) -> bool {
    matches!(id, codec::Id::H264 | codec::Id::HEVC)
}

impl super::PacketSource for Passthrough {
    fn info(&self) -> StreamInfo {
        self.info
    }

    fn next_unit(&mut self) -> Result<Option<super::Unit>, crate::Error> {
        Ok(self.next_packet()?.map(super::Unit::Packet))
    }

    fn start(
        &mut self,
        _wall_offset_s: f64,
        _stamp: &super::StampText,
    ) -> Result<codec::Parameters, crate::Error> {
        Ok(self.parameters())
    }

    fn process(
        &mut self,
        unit: super::Unit,
        frame_no: u64,
        _keyframe: bool,
        _stamp: Option<&super::StampText>,
        out: &mut Vec<EncodedPacket>,
    ) -> Result<(), crate::Error> {
        super::copy_packet(unit, frame_no, out, "passthrough")
    }

    fn finish(&mut self, _out: &mut Vec<EncodedPacket>) -> Result<(), crate::Error> {
        Ok(())
    }

    fn text_track(&self) -> bool {
        true
    }

    fn late_frames(&self) -> u64 {
        self.pacer.as_ref().map_or(0, |p| p.late())
    }
}
