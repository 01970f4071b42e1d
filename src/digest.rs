//! SHA-256 helpers shared by the clip writer, the ledger and verification.
//!
//! Owns: hashing bytes and files, the lowercase-hex form used in every on-disk record, a
//! SHA-256 whose state can be kept between requests ([`ResumableSha256`], on the `sha2`
//! crate's serializable state), and comparing secrets' hashes in constant time.
//! Never: decides what a hash means; callers compare.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Whether `a` and `b` are equal, in a time that does not depend on where they differ (a
/// secret's hash against the one kept).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Lowercase hex of any bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// 32 bytes from 64 hex digits (either case); `None` for anything else.
pub fn unhex32(text: &str) -> Option<[u8; 32]> {
    let b = text.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let val = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = val(pair[0])? << 4 | val(pair[1])?;
    }
    Some(out)
}

/// SHA-256 of a byte string, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 and length of a whole file, read in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    sha256_reader(&mut file)
}

/// SHA-256 and length of everything a reader yields.
pub fn sha256_reader(reader: &mut impl Read) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex(&hasher.finalize()), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // FIPS 180-2 test vectors.
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let abc =
            unhex32("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad").unwrap();
        assert_eq!(hex(&abc), sha256_hex(b"abc"));
        assert_eq!(unhex32("zz"), None);
        let (h, n) = sha256_reader(&mut &b"abc"[..]).unwrap();
        assert_eq!(
            (h.as_str(), n),
            (
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                3
            )
        );
    }
}

/// A SHA-256 computed over bytes that arrive in several requests, perhaps at several
/// processes: its state is kept as [`ResumableSha256::to_bytes`] between them (the `sha2`
/// crate's own serialized state, with the length hashed so far in front).
#[derive(Clone, Default)]
pub struct ResumableSha256 {
    hasher: Sha256,
    len: u64,
}

impl std::fmt::Debug for ResumableSha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ResumableSha256 {{ len: {} }}", self.len)
    }
}

impl ResumableSha256 {
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.len += data.len() as u64;
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The SHA-256 of every byte given.
    pub fn finish(&self) -> [u8; 32] {
        self.hasher.clone().finalize().into()
    }

    /// The state as bytes: the length (8 bytes, big-endian), then the hasher's state.
    pub fn to_bytes(&self) -> Vec<u8> {
        use sha2::digest::common::hazmat::SerializableState;
        let mut out = self.len.to_be_bytes().to_vec();
        out.extend_from_slice(&self.hasher.serialize());
        out
    }

    /// A state from [`ResumableSha256::to_bytes`]; `None` when the bytes are not one.
    pub fn from_bytes(b: &[u8]) -> Option<ResumableSha256> {
        use sha2::digest::common::hazmat::SerializableState;
        let len = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
        let state = b.get(8..)?.try_into().ok()?;
        let hasher = Sha256::deserialize(state).ok()?;
        Some(ResumableSha256 { hasher, len })
    }
}

#[cfg(test)]
mod resumable_tests {
    use super::*;

    #[test]
    fn a_hash_kept_between_pieces_is_the_whole_ones() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        // Cuts at every kind of place: inside a block, on a block's edge, empty pieces.
        for cuts in [
            vec![],
            vec![0],
            vec![1, 63, 64, 65],
            vec![55, 56, 57, 119, 120],
            vec![5000],
            vec![64 * 80],
            vec![9999],
        ] {
            let mut h = ResumableSha256::default();
            let mut at = 0;
            for &c in cuts.iter().chain([data.len()].iter()) {
                h.update(&data[at..c]);
                // Kept as bytes and read back between the pieces, as between requests.
                h = ResumableSha256::from_bytes(&h.to_bytes()).unwrap();
                at = c;
            }
            assert_eq!(h.len(), data.len() as u64);
            assert_eq!(hex(&h.finish()), sha256_hex(&data), "cuts {cuts:?}");
        }
        for n in [0usize, 1, 55, 56, 63, 64, 119, 120, 128] {
            let mut h = ResumableSha256::default();
            h.update(&data[..n]);
            assert_eq!(hex(&h.finish()), sha256_hex(&data[..n]), "{n} bytes");
        }
        // The empty string's, as FIPS 180-4 gives it.
        assert_eq!(
            hex(&ResumableSha256::default().finish()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(ResumableSha256::from_bytes(&[0; 39]).is_none());
        assert!(ResumableSha256::from_bytes(&[]).is_none());
    }
}
