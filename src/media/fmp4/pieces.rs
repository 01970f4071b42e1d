//! The pieces of a clip file (header, fragments, trailer) as found on disk: where a file can
//! be cut and stay valid, each piece's SHA-256, the fragment list beside a clip, and the
//! check of a sealed clip's file against its record.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::digest;

/// Top-level MP4 boxes of a file as (type, offset, size), up to the first incomplete one.
/// Reads box headers only.
pub(super) fn complete_boxes(file: &mut File) -> std::io::Result<Vec<([u8; 4], u64, u64)>> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    let mut offset = 0u64;
    let mut boxes = Vec::new();
    while offset + 8 <= len {
        file.seek(SeekFrom::Start(offset))?;
        let mut head = [0u8; 16];
        let want = if offset + 16 <= len { 16 } else { 8 };
        file.read_exact(&mut head[..want])?;
        let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as u64;
        let kind = [head[4], head[5], head[6], head[7]];
        let size = match size32 {
            0 => break, // "to end of file": never complete while being written
            1 if want == 16 => {
                let mut large = [0u8; 8];
                large.copy_from_slice(&head[8..16]);
                u64::from_be_bytes(large)
            }
            1 => break,
            s => s,
        };
        if size < 8 || offset + size > len {
            break;
        }
        boxes.push((kind, offset, size));
        offset += size;
    }
    Ok(boxes)
}

/// Offsets where a fragmented MP4 can end and stay valid: the end of its `moov` box and the
/// end of every `mdat` box that follows a `moof` box.
pub(super) fn cut_points(boxes: &[([u8; 4], u64, u64)]) -> Vec<u64> {
    let mut cuts = Vec::new();
    let mut prev = [0u8; 4];
    for (kind, offset, size) in boxes {
        if kind == b"moov" || (kind == b"mdat" && &prev == b"moof") {
            cuts.push(offset + size);
        }
        prev = *kind;
    }
    cuts
}

/// The last offset where the file can be cut and stay valid (0 when even the header is
/// incomplete).
pub fn last_complete_fragment_end(file: &mut File) -> std::io::Result<u64> {
    Ok(cut_points(&complete_boxes(file)?)
        .last()
        .copied()
        .unwrap_or(0))
}

/// Whether an `mdat` payload looks written. A crash can leave the last blocks of a file
/// allocated but never written (zeros): its tail must not be zeros, and, for video alone in
/// MP4 (`nal_walk`: H.264/H.265 with a 4-byte length before every NAL unit), the lengths must
/// add up exactly and every NAL header must be valid.
pub(super) fn payload_looks_written(data: &[u8], nal_walk: bool) -> bool {
    let tail = &data[data.len().saturating_sub(512)..];
    if data.is_empty() || tail.iter().all(|&b| b == 0) {
        return false;
    }
    if !nal_walk {
        return true;
    }
    let mut i = 0usize;
    while i + 4 <= data.len() {
        let len = u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]) as usize;
        if len == 0 || i + 4 + len > data.len() || data[i + 4] & 0x80 != 0 {
            return false;
        }
        i += 4 + len;
    }
    i == data.len()
}

/// Where to cut a file whose last fragment's media data was never really written (see
/// [`payload_looks_written`]): the start of that fragment's `moof`; `None` when it is whole.
pub(super) fn damaged_last_fragment(
    file: &mut File,
    nal_walk: bool,
) -> std::io::Result<Option<u64>> {
    use std::io::{Read, Seek, SeekFrom};
    let boxes = complete_boxes(file)?;
    let pairs: Vec<_> = boxes
        .windows(2)
        .filter(|w| &w[0].0 == b"moof" && &w[1].0 == b"mdat")
        .map(|w| (w[0].1, w[1].1, w[1].2))
        .collect();
    let Some(&(moof_at, mdat_at, mdat_size)) = pairs.last() else {
        return Ok(None);
    };
    // The header is 8 bytes, or 16 with a 64-bit size.
    file.seek(SeekFrom::Start(mdat_at))?;
    let mut head = [0u8; 4];
    file.read_exact(&mut head)?;
    let header = if u32::from_be_bytes(head) == 1 { 16 } else { 8 };
    let mut data = vec![0u8; mdat_size.saturating_sub(header) as usize];
    file.seek(SeekFrom::Start(mdat_at + header))?;
    file.read_exact(&mut data)?;
    Ok((!payload_looks_written(&data, nal_walk)).then_some(moof_at))
}

/// One piece of a clip file: the header (`ftyp` + `moov`), a fragment (`moof` + `mdat`), or/// One piece of a clip file: the header (`ftyp` + `moov`), a fragment (`moof` + `mdat`), or
/// the trailer (`mfra`), with the SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Fragment {
    pub offset: u64,
    pub len: u64,
    pub sha256: String,
}

/// File name of a clip's fragment list (next to the clip).
pub fn fragments_path(clip: &Path) -> PathBuf {
    let mut p = clip.as_os_str().to_owned();
    p.push(".fragments");
    PathBuf::from(p)
}

/// SHA-256 over the raw 32-byte digests of the fragments, in order: the `fragments_sha256` of
/// a `clip_sealed` record.
pub fn fragments_digest(frags: &[Fragment]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for f in frags {
        for i in (0..f.sha256.len()).step_by(2) {
            h.update([u8::from_str_radix(f.sha256.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0)]);
        }
    }
    digest::hex(&h.finalize())
}

/// Hashes a clip in one pass: the whole file, and each of its pieces (see [`Fragment`]).
pub fn hash_fragments(path: &Path) -> std::io::Result<(String, u64, Vec<Fragment>)> {
    use sha2::{Digest, Sha256};
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut bounds = cut_points(&complete_boxes(&mut file)?);
    bounds.retain(|&c| c > 0 && c < len);
    bounds.push(len);
    file.seek(SeekFrom::Start(0))?;
    let mut whole = Sha256::new();
    let mut part = Sha256::new();
    let mut frags = Vec::new();
    let mut start = 0u64;
    let mut pos = 0u64;
    let mut next = bounds.iter().copied().filter(|&b| b > 0);
    let mut end = next.next().unwrap_or(len);
    let mut buf = vec![0u8; 1 << 20];
    while pos < len {
        let want = (end - pos).min(buf.len() as u64) as usize;
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        whole.update(&buf[..n]);
        part.update(&buf[..n]);
        pos += n as u64;
        if pos == end {
            let h = std::mem::replace(&mut part, Sha256::new());
            frags.push(Fragment {
                offset: start,
                len: end - start,
                sha256: digest::hex(&h.finalize()),
            });
            start = end;
            end = next.next().unwrap_or(len);
        }
    }
    Ok((digest::hex(&whole.finalize()), pos, frags))
}

/// Writes a clip's fragment list (`offset length sha256` per line) and fsyncs it.
pub fn write_fragments(clip: &Path, frags: &[Fragment]) -> std::io::Result<()> {
    use std::io::Write;
    let path = fragments_path(clip);
    let mut text = String::new();
    for f in frags {
        text.push_str(&format!("{} {} {}\n", f.offset, f.len, f.sha256));
    }
    let mut file = File::create(&path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Reads a fragment list written by [`write_fragments`].
pub fn read_fragments(clip: &Path) -> Option<Vec<Fragment>> {
    let text = fs::read_to_string(fragments_path(clip)).ok()?;
    text.lines()
        .map(|l| {
            let mut it = l.split(' ');
            Some(Fragment {
                offset: it.next()?.parse().ok()?,
                len: it.next()?.parse().ok()?,
                sha256: it.next()?.to_string(),
            })
        })
        .collect()
}

/// The first piece of a modified clip that differs from its recorded fragment list (which must
/// match `fragments_sha256`), as (index, fragment); `None` when that cannot be told.
pub fn first_bad_fragment(clip: &Path, fragments_sha256: &str) -> Option<(usize, Fragment)> {
    use sha2::{Digest, Sha256};
    use std::io::{Read, Seek, SeekFrom};
    let frags = read_fragments(clip)?;
    if fragments_digest(&frags) != fragments_sha256 {
        return None;
    }
    let mut file = File::open(clip).ok()?;
    let mut buf = vec![0u8; 1 << 20];
    for (i, f) in frags.into_iter().enumerate() {
        file.seek(SeekFrom::Start(f.offset)).ok()?;
        let mut h = Sha256::new();
        let mut left = f.len;
        while left > 0 {
            let cap = buf.len() as u64;
            let n = file.read(&mut buf[..left.min(cap) as usize]).ok()?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            left -= n as u64;
        }
        if left > 0 || digest::hex(&h.finalize()) != f.sha256 {
            return Some((i, f));
        }
    }
    None
}

/// What is wrong with a sealed clip's file, found by [`check_file`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileProblem {
    /// The record names a file outside `clips/`.
    BadPath,
    /// The file is gone (or cannot be read).
    Missing,
    /// The file is shorter than recorded.
    Truncated,
    /// The file's size or bytes differ from the record.
    Modified,
}

/// Checks a sealed clip's file against its record: the path, the size, and with `hash` its
/// SHA-256 (a full read). `Err` says what is wrong, with a sentence naming the file.
pub fn check_file(
    data_dir: &Path,
    file: &str,
    size: u64,
    sha256: &str,
    hash: bool,
) -> Result<(), (FileProblem, String)> {
    if !crate::datadir::is_safe_clip_path(file) {
        return Err((
            FileProblem::BadPath,
            format!("file {file:?} is not a path under clips/"),
        ));
    }
    let path = data_dir.join(file);
    let actual_size = match fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A clip interrupted before its first frame has no file and records size 0.
            if size == 0 {
                return Ok(());
            }
            return Err((FileProblem::Missing, format!("{file} is missing")));
        }
        Err(e) => return Err((FileProblem::Missing, format!("{file} cannot be read: {e}"))),
    };
    if actual_size < size {
        return Err((
            FileProblem::Truncated,
            format!("{file} is {actual_size} bytes, the record says {size}"),
        ));
    }
    if actual_size != size {
        return Err((
            FileProblem::Modified,
            format!("{file} was modified: {actual_size} bytes, the record says {size}"),
        ));
    }
    if !hash {
        return Ok(());
    }
    let (actual, _) = digest::sha256_file(&path)
        .map_err(|e| (FileProblem::Missing, format!("{file} cannot be read: {e}")))?;
    if actual != sha256 {
        return Err((
            FileProblem::Modified,
            format!("{file} was modified: its SHA-256 is {actual}, the record says {sha256}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod written_tests {
    use super::payload_looks_written;

    #[test]
    fn zeros_and_broken_nal_lengths_are_not_video() {
        let nal = |n: usize| {
            let mut v = (n as u32).to_be_bytes().to_vec();
            v.push(0x65); // an IDR slice header
            v.extend(std::iter::repeat_n(0x5a, n - 1));
            v
        };
        let good: Vec<u8> = [nal(40), nal(700), nal(3)].concat();
        assert!(payload_looks_written(&good, true));
        assert!(!payload_looks_written(&vec![0u8; good.len()], true));
        assert!(!payload_looks_written(&vec![0u8; 4096], false));
        let mut tail_zeroed = good.clone();
        let n = tail_zeroed.len();
        tail_zeroed[n - 600..].fill(0);
        assert!(!payload_looks_written(&tail_zeroed, true));
        let mut forbidden = good.clone();
        forbidden[4] = 0xe5;
        assert!(!payload_looks_written(&forbidden, true));
        assert!(!payload_looks_written(&good[..good.len() - 1], true));
    }
}
