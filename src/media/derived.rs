//! Derived pictures: still images of a clip and a copy with the stamp burned in.
//!
//! Owns: decoding a clip's first or last frame to JPEG (the stills of a bundle's report),
//! telling whether a clip carries its stamp as a text track, re-encoding a passthrough
//! clip with the stamp burned into the picture (`export --burn-in`), and reading the
//! metadata tags of someone else's video (its container's and its video stream's).
//! Never: changes a clip; what it makes is for people, never evidence.

use std::path::Path;

use crate::error::Error;

fn bad(path: &Path, what: impl Into<String>) -> Error {
    Error::invalid(format!("{}: {}", path.display(), what.into()))
}

/// The metadata tags of a video held in memory (the container's, then its first video
/// stream's), as FFmpeg reads them: `com.apple.quicktime.make`, `creation_time`, `encoder`...
/// Nothing when FFmpeg cannot open it.
pub fn container_tags(bytes: &[u8]) -> Vec<(String, String)> {
    super::init_ffmpeg();
    let Ok(io) = ffmpeg_next::format::context::StreamIo::from_read_seek(std::io::Cursor::new(
        bytes.to_vec(),
    )) else {
        return Vec::new();
    };
    let Ok(ictx) = ffmpeg_next::format::input_from_stream(io, None, None) else {
        return Vec::new();
    };
    let mut tags: Vec<(String, String)> = ictx
        .metadata()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(video) = ictx.streams().best(ffmpeg_next::media::Type::Video) {
        tags.extend(
            video
                .metadata()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
    }
    tags
}

/// Whether a clip carries the stamp as a text track (it was recorded in passthrough).
pub fn has_text_track(path: &Path) -> bool {
    super::init_ffmpeg();
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
    stamp: &super::StampText,
    started_at: &str,
    settings: &crate::config::EncodeConfig,
) -> Result<(), Error> {
    use super::FrameSource;
    let start = chrono::DateTime::parse_from_rfc3339(started_at).map_err(|e| {
        bad(
            input,
            format!("started_at {started_at:?} is not a time: {e}"),
        )
    })?;
    let mut source = super::source::FfmpegSource::open(&input.to_string_lossy(), false)?;
    let info = source.info();
    let Some(mut frame) = source.next_frame()? else {
        return Err(bad(input, "the clip has no frames to burn the stamp into"));
    };
    let wall = start.timestamp_micros() as f64 / 1e6 - info.seconds(frame.pts().unwrap_or(0));
    let mut enc = super::encoder::Encoder::open(info, settings, wall, stamp)?;
    let mut writer: Option<super::fmp4::ClipWriter> = None;
    let mut packets = Vec::new();
    let mut first = true;
    loop {
        enc.encode(&mut frame, first, &mut packets)?;
        first = false;
        for p in packets.drain(..) {
            let w = match writer.as_mut() {
                Some(w) => w,
                None => writer.insert(super::fmp4::ClipWriter::create(
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

/// One frame of a clip as JPEG: the first (`last` false) or the last; at most `max_width`
/// pixels wide (0: as recorded).
pub fn still(path: &Path, last: bool, max_width: u32) -> Result<Vec<u8>, String> {
    use ffmpeg_next::{codec, format, frame, media};
    super::init_ffmpeg();
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
    super::preview::jpeg(&src, max_width)
}
