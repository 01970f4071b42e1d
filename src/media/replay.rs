//! Replay: a packet source of recorded packets, delivered as fast as they are asked for.
//!
//! Owns: replaying packets with their timestamps (recorded from a file, or made up for unit
//! tests), a hook that runs before each packet (so a test can send a scan at an exact frame),
//! and an optional failure after the last packet (a camera lost mid-stream).
//! Never: sleeps or reads a clock: the caller decides how fast time goes.

use std::collections::VecDeque;
use std::path::Path;

use ffmpeg::{codec, format, Packet, Rational};
use ffmpeg_next as ffmpeg;

use super::{EncodedPacket, PacketSource, StampText, StreamInfo, Unit};
use crate::error::{Error, ErrorKind};

/// Called with the index of the packet about to be delivered.
pub type Hook = Box<dyn FnMut(usize)>;

/// Recorded packets, replayed in order.
pub struct Replay {
    info: StreamInfo,
    params: codec::Parameters,
    packets: VecDeque<EncodedPacket>,
    next: usize,
    text_track: bool,
    hook: Option<Hook>,
    /// After the last packet: fail (a lost camera) instead of ending.
    fail_at_end: Option<String>,
}

impl Replay {
    /// Replays `packets` (in decode order) of a stream shaped like `info`.
    pub fn new(info: StreamInfo, params: codec::Parameters, packets: Vec<EncodedPacket>) -> Self {
        Replay {
            info,
            params,
            packets: packets.into(),
            next: 0,
            text_track: false,
            hook: None,
            fail_at_end: None,
        }
    }

    /// `count` made-up packets of a `fps` stream with a keyframe every `gop` packets, in a
    /// 1/90000 time base; packet `i` has pts `i * 90000 / fps` and carries `i` as its bytes.
    /// For tests of clip assembly: the bytes are not video.
    pub fn synthetic(count: usize, fps: u32, gop: usize) -> Replay {
        let info = StreamInfo {
            width: 320,
            height: 240,
            pixel_format: format::Pixel::YUV420P,
            time_base: Rational(1, 90_000),
            frame_rate: Rational(fps as i32, 1),
        };
        let step = i64::from(90_000 / fps.max(1));
        let packets = (0..count)
            .map(|i| {
                let mut packet = Packet::copy(&(i as u64).to_le_bytes());
                let pts = i as i64 * step;
                packet.set_pts(Some(pts));
                packet.set_dts(Some(pts));
                packet.set_duration(step);
                EncodedPacket {
                    packet,
                    pts,
                    dts: pts,
                    key: i % gop.max(1) == 0,
                    frame_no: 0,
                }
            })
            .collect();
        Replay::new(info, codec::Parameters::new(), packets)
    }

    /// `seconds` of a 160x120 H.264 test pattern at 30 frames/s (a keyframe every 30 frames,
    /// no B-frames) made by the ffmpeg command into `dir`: real video for tests of the
    /// writers, replayed with [`Replay::from_file`].
    #[cfg(test)]
    pub fn test_file(dir: &Path, seconds: u32) -> std::path::PathBuf {
        let path = dir.join(format!("src-{seconds}s.mp4"));
        let out = std::process::Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=160x120:rate=30",
            ])
            .args([
                "-t",
                &seconds.to_string(),
                "-c:v",
                "libx264",
                "-g",
                "30",
                "-bf",
                "0",
            ])
            .args(["-pix_fmt", "yuv420p"])
            .arg(&path)
            .output()
            .expect("the ffmpeg command (Debian package ffmpeg)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    }

    /// Every video packet of a file (an H.264 MP4, say), demuxed, not decoded.
    pub fn from_file(path: &Path) -> Result<Replay, Error> {
        super::init_ffmpeg();
        let name = path.to_str().ok_or_else(|| {
            Error::invalid(format!("replay {}: the path is not UTF-8", path.display()))
        })?;
        let bad = |what: &str, e: ffmpeg::Error| {
            Error::msg(
                ErrorKind::Invalid,
                format!("replay {}: {what}: {e}", path.display()),
            )
        };
        let mut input = format::input(name).map_err(|e| bad("cannot open it", e))?;
        let stream = input
            .streams()
            .best(ffmpeg::media::Type::Video)
            .ok_or_else(|| Error::invalid(format!("replay {}: no video", path.display())))?;
        let index = stream.index();
        let params = stream.parameters();
        let time_base = stream.time_base();
        let frame_rate = stream.avg_frame_rate();
        let (width, height) = unsafe {
            // SAFETY: codecpar belongs to the stream, which lives as long as `input`.
            let p = params.as_ptr();
            ((*p).width.max(0) as u32, (*p).height.max(0) as u32)
        };
        let info = StreamInfo {
            width,
            height,
            pixel_format: format::Pixel::YUV420P,
            time_base,
            frame_rate,
        };
        let step = info.frame_duration();
        let mut packets = Vec::new();
        loop {
            let mut packet = Packet::empty();
            match packet.read(&mut input) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => break,
                Err(e) => return Err(bad("reading a packet", e)),
            }
            if packet.stream() != index {
                continue;
            }
            let dts = packet.dts().or(packet.pts()).unwrap_or(0);
            let pts = packet.pts().unwrap_or(dts);
            if packet.duration() <= 0 {
                packet.set_duration(step);
            }
            let key = packet.is_key();
            packets.push(EncodedPacket {
                packet,
                pts,
                dts,
                key,
                frame_no: 0,
            });
        }
        Ok(Replay::new(info, params, packets))
    }

    /// Runs `hook(i)` before packet `i` is delivered.
    pub fn with_hook(mut self, hook: impl FnMut(usize) + 'static) -> Replay {
        self.hook = Some(Box::new(hook));
        self
    }

    /// After the last packet, fail with `why` (a camera that went away) instead of ending.
    pub fn failing_at_end(mut self, why: &str) -> Replay {
        self.fail_at_end = Some(why.to_string());
        self
    }

    /// Clips of this replay get the stamp as a text track (as passthrough does).
    pub fn with_text_track(mut self) -> Replay {
        self.text_track = true;
        self
    }

    /// The packets left.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// The time base of the stream.
    pub fn time_base(&self) -> Rational {
        self.info.time_base
    }
}

impl PacketSource for Replay {
    fn info(&self) -> StreamInfo {
        self.info
    }

    fn next_unit(&mut self) -> Result<Option<Unit>, Error> {
        let i = self.next;
        if let Some(hook) = self.hook.as_mut() {
            hook(i);
        }
        match self.packets.pop_front() {
            Some(p) => {
                self.next += 1;
                Ok(Some(Unit::Packet(p)))
            }
            None => match &self.fail_at_end {
                Some(why) => Err(Error::msg(ErrorKind::Unavailable, why.clone())),
                None => Ok(None),
            },
        }
    }

    fn start(
        &mut self,
        _wall_offset_s: f64,
        _stamp: &StampText,
    ) -> Result<codec::Parameters, Error> {
        Ok(self.params.clone())
    }

    fn process(
        &mut self,
        unit: Unit,
        frame_no: u64,
        _keyframe: bool,
        _stamp: Option<&StampText>,
        out: &mut Vec<EncodedPacket>,
    ) -> Result<(), Error> {
        super::copy_packet(unit, frame_no, out, "a replay")
    }

    fn finish(&mut self, _out: &mut Vec<EncodedPacket>) -> Result<(), Error> {
        Ok(())
    }

    fn text_track(&self) -> bool {
        self.text_track
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_packets_have_gops_and_hooks_run_first() {
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let s2 = seen.clone();
        let mut r = Replay::synthetic(5, 30, 2).with_hook(move |i| s2.borrow_mut().push(i));
        let mut keys = Vec::new();
        while let Some(Unit::Packet(p)) = r.next_unit().unwrap() {
            keys.push((p.pts, p.key));
        }
        assert_eq!(
            keys,
            [
                (0, true),
                (3000, false),
                (6000, true),
                (9000, false),
                (12000, true)
            ]
        );
        assert_eq!(*seen.borrow(), [0, 1, 2, 3, 4, 5]);
        let mut lost = Replay::synthetic(1, 30, 1).failing_at_end("cable pulled");
        assert!(lost.next_unit().unwrap().is_some());
        let Err(e) = lost.next_unit() else {
            panic!("a lost camera must fail")
        };
        assert!(e.to_string().contains("cable pulled"));
    }
}
