//! Clip: one order's video as a crash-safe fragmented MP4 file.
//!
//! Owns: the MP4 muxer, file naming inside the data dir, and the durability steps of a clip
//! file. Never: decides when a clip starts or ends (the station does) or records anything in
//! the manifest (the ledger does).
//!
//! Life of a clip file, in order:
//! 1. `<name>.mp4.partial` is created exclusively (an existing file is never overwritten);
//! 2. fragments are written as the encoder produces them (`frag_keyframe+empty_moov+
//!    default_base_moof`): every complete fragment is playable even if the process dies;
//! 3. at seal: trailer written, file fsynced, hashed (SHA-256 over the bytes on disk);
//! 4. renamed to `<name>.mp4`, and the directory fsynced;
//! 5. only then does the caller write the sealed record to the manifest.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use ffmpeg::{codec, format, Dictionary, Rational};
use ffmpeg_next as ffmpeg;

use crate::digest;
use crate::encode::EncodedPacket;

#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error("clip {path}: {what}: {source} (check free space and permissions of the data dir)")]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("clip {path}: {what}: {source}")]
    Ffmpeg {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: ffmpeg::Error,
    },
}

/// What a sealed clip file is, as recorded in the manifest.
#[derive(Debug, Clone)]
pub struct SealedFile {
    pub size: u64,
    pub sha256: String,
    pub frames: u64,
    /// pts of the first and last frame, in the encoder time base.
    pub first_pts: i64,
    pub last_pts: i64,
}

/// A file name for an order code that is safe on every filesystem: the code's letters, digits,
/// `-` and `_` (anything else becomes `_`), at most 40 characters. The code itself is kept
/// exactly in the manifest; the name only has to be readable and unique with its suffix.
pub fn safe_name(code: &str) -> String {
    let mut s: String = code
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '_') {
        s = format!("order{}", if s.is_empty() { "" } else { "_" });
    }
    s
}

/// Makes `dir` and any missing parents, fsyncing each parent that gained an entry.
pub fn create_dir_durable(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() {
            create_dir_durable(parent)?;
        }
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(e),
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// fsyncs a directory so that a create or rename inside it survives a power cut.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)?.sync_all()
}

/// An open clip being written.
pub struct ClipWriter {
    octx: format::context::Output,
    partial: PathBuf,
    path: PathBuf,
    in_tb: Rational,
    out_tb: Rational,
    first_pts: i64,
    last_pts: i64,
    frames: u64,
}

fn partial_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}

impl ClipWriter {
    /// Creates `path` (as `path.partial` until sealed) for a stream with these parameters;
    /// the first packet written must be a keyframe with pts `first_pts`.
    pub fn create(
        path: &Path,
        params: &codec::Parameters,
        time_base: Rational,
        first_pts: i64,
    ) -> Result<ClipWriter, ClipError> {
        let io = |what| {
            let path = path.to_owned();
            move |source| ClipError::Io { path, what, source }
        };
        let ff = |what| {
            let path = path.to_owned();
            move |source| ClipError::Ffmpeg { path, what, source }
        };
        if let Some(dir) = path.parent() {
            create_dir_durable(dir).map_err(io("creating its directory"))?;
        }
        let partial = partial_path(path);
        if path.exists() {
            return Err(ClipError::Io {
                path: path.to_owned(),
                what: "refusing to overwrite an existing clip",
                source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            });
        }
        // Exclusive create: two writers can never share a file.
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)
            .map_err(io("creating the file"))?;
        let partial_str = partial.to_str().ok_or_else(|| ClipError::Io {
            path: path.to_owned(),
            what: "the data dir path is not valid UTF-8",
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        })?;
        let mut octx =
            format::output_as(partial_str, "mp4").map_err(ff("opening the MP4 muxer"))?;
        {
            let mut stream = octx
                .add_stream(codec::encoder::find(codec::Id::H264))
                .map_err(ff("adding the video stream"))?;
            stream.set_parameters(params.clone());
            stream.set_time_base(time_base);
        }
        let mut opts = Dictionary::new();
        opts.set("movflags", "frag_keyframe+empty_moov+default_base_moof");
        octx.write_header_with(opts)
            .map_err(ff("writing the MP4 header"))?;
        let out_tb = octx.stream(0).map(|s| s.time_base()).unwrap_or(time_base);
        Ok(ClipWriter {
            octx,
            partial,
            path: path.to_owned(),
            in_tb: time_base,
            out_tb,
            first_pts,
            last_pts: first_pts,
            frames: 0,
        })
    }

    /// Appends one packet. Timestamps are rebased so the clip starts at 0.
    pub fn write(&mut self, mut p: EncodedPacket) -> Result<(), ClipError> {
        let rel = p.pts - self.first_pts;
        p.packet.set_stream(0);
        p.packet.set_pts(Some(rel));
        p.packet.set_dts(Some(rel));
        p.packet.set_position(-1);
        p.packet.rescale_ts(self.in_tb, self.out_tb);
        p.packet
            .write_interleaved(&mut self.octx)
            .map_err(|source| ClipError::Ffmpeg {
                path: self.path.clone(),
                what: "writing a packet",
                source,
            })?;
        self.last_pts = p.pts;
        self.frames += 1;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    pub fn first_pts(&self) -> i64 {
        self.first_pts
    }

    /// Seals the clip: steps 3 and 4 of the life of a clip file (see the module comment).
    pub fn finish(mut self) -> Result<SealedFile, ClipError> {
        self.octx
            .write_trailer()
            .map_err(|source| ClipError::Ffmpeg {
                path: self.path.clone(),
                what: "writing the MP4 trailer",
                source,
            })?;
        let ClipWriter {
            octx,
            partial,
            path,
            first_pts,
            last_pts,
            frames,
            ..
        } = self;
        drop(octx); // closes the file
        let io = |what| {
            let path = path.clone();
            move |source| ClipError::Io { path, what, source }
        };
        let mut file = File::open(&partial).map_err(io("reopening to seal"))?;
        file.sync_all().map_err(io("fsync"))?;
        let (sha256, size) = digest::sha256_reader(&mut file).map_err(io("hashing"))?;
        drop(file);
        fs::rename(&partial, &path).map_err(io("renaming into place"))?;
        if let Some(dir) = path.parent() {
            sync_dir(dir).map_err(io("fsync of its directory"))?;
        }
        Ok(SealedFile {
            size,
            sha256,
            frames,
            first_pts,
            last_pts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names_stay_inside_one_directory() {
        assert_eq!(safe_name("SO-2026-0001"), "SO-2026-0001");
        assert_eq!(safe_name("../../etc/passwd"), "______etc_passwd");
        assert_eq!(safe_name(".."), "order_");
        assert_eq!(safe_name("订单1"), "__1");
        assert_eq!(safe_name(&"x".repeat(500)).len(), 40);
        for code in ["/", "..", "a/b", "\\x", ".", ""] {
            let n = safe_name(code);
            assert!(
                !n.contains('/') && !n.contains('\\') && n != "." && n != ".." && !n.is_empty()
            );
        }
    }
}
