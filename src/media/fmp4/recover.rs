//! Recovery of a clip file a crash left unsealed, and counting the frames of a clip.

use std::fs::{self, OpenOptions};
use std::path::Path;

use ffmpeg_next as ffmpeg;

use super::{
    hash_fragments, last_complete_fragment_end, partial_path, write_fragments, ClipError, Fragment,
};

/// What recovery made of a clip left unsealed by a crash.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub size: u64,
    pub sha256: String,
    pub fragments: Vec<Fragment>,
    pub frames: u64,
    /// Seconds from the first frame's start to the last frame's start.
    pub span_s: f64,
    /// Seconds of video (frames times their durations).
    pub duration_s: f64,
    /// Bytes cut from the end (an incomplete fragment).
    pub cut_bytes: u64,
}

/// Makes a clip that was being written when the process died playable and final: truncates
/// `<path>.partial` to its last complete fragment, fsyncs, hashes and renames it to `path`.
/// If `path` already exists (the crash came after the rename), it is taken as it is.
/// Returns `None` when no file was ever created.
pub fn recover(path: &Path) -> Result<Option<Recovered>, ClipError> {
    let io = |what| {
        let path = path.to_owned();
        move |source| ClipError::Io { path, what, source }
    };
    let partial = partial_path(path);
    let mut cut_bytes = 0;
    if !path.exists() {
        if !partial.exists() {
            return Ok(None);
        }
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&partial)
            .map_err(io("opening to recover"))?;
        let len = f.metadata().map_err(io("reading its size"))?.len();
        let mut cut = last_complete_fragment_end(&mut f).map_err(io("reading its boxes"))?;
        // A complete last fragment whose media was never written (zeros) plays nothing: the
        // clip ends before it. Video alone is checked NAL by NAL; with a text track, for zeros.
        let nal_walk = !crate::media::derived::has_text_track(&partial);
        for _ in 0..4 {
            f.set_len(cut)
                .map_err(io("cutting the incomplete fragment"))?;
            match super::pieces::damaged_last_fragment(&mut f, nal_walk)
                .map_err(io("reading its last fragment"))?
            {
                Some(at) => {
                    tracing::warn!(file = %partial.display(), offset = at, "the last fragment was never written (zeros); cut off");
                    cut = at;
                }
                None => break,
            }
        }
        f.set_len(cut)
            .map_err(io("cutting the incomplete fragment"))?;
        cut_bytes = len - cut;
        f.sync_all().map_err(io("fsync"))?;
        drop(f);
        fs::rename(&partial, path).map_err(io("renaming into place"))?;
        if let Some(dir) = path.parent() {
            crate::datadir::sync_dir(dir).map_err(io("fsync of its directory"))?;
        }
    }
    let (sha256, size, fragments) = hash_fragments(path).map_err(io("hashing"))?;
    write_fragments(path, &fragments).map_err(io("writing its fragment list"))?;
    let (frames, span_s, duration_s) = if size == 0 {
        (0, 0.0, 0.0)
    } else {
        count_frames(path)?
    };
    Ok(Some(Recovered {
        size,
        sha256,
        fragments,
        frames,
        span_s,
        duration_s,
        cut_bytes,
    }))
}

/// Frames of the first video stream and (span, duration) in seconds, by reading every packet.
pub fn count_frames(path: &Path) -> Result<(u64, f64, f64), ClipError> {
    crate::media::init_ffmpeg();
    let name = path.to_str().ok_or_else(|| ClipError::Io {
        path: path.to_owned(),
        what: "the path is not valid UTF-8",
        source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
    })?;
    let mut ictx = match ffmpeg::format::input(name) {
        Ok(c) => c,
        // A header-only file (no fragment yet) may not open: it has no frames.
        Err(_) => return Ok((0, 0.0, 0.0)),
    };
    let Some(stream) = ictx.streams().best(ffmpeg::media::Type::Video) else {
        return Ok((0, 0.0, 0.0));
    };
    let (index, tb) = (stream.index(), stream.time_base());
    let mut frames = 0u64;
    let mut first: Option<i64> = None;
    let mut last = 0i64;
    let mut end = 0i64;
    loop {
        // A new packet per read: reusing one leaks.
        let mut packet = ffmpeg::Packet::empty();
        match packet.read(&mut ictx) {
            Ok(()) => {}
            Err(ffmpeg::Error::Eof) => break,
            Err(source) => {
                return Err(ClipError::Ffmpeg {
                    path: path.to_owned(),
                    what: "reading packets",
                    source,
                })
            }
        }
        if packet.stream() != index {
            continue;
        }
        let pts = packet.pts().or(packet.dts()).unwrap_or(0);
        frames += 1;
        first.get_or_insert(pts);
        last = last.max(pts);
        end = end.max(pts + packet.duration().max(0));
    }
    let secs = |t: i64| t as f64 * tb.numerator() as f64 / tb.denominator().max(1) as f64;
    let first = first.unwrap_or(0);
    Ok((frames, secs(last - first), secs(end - first)))
}
