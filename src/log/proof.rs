//! Inclusion proofs for single manifest records (c2sp.org/tlog-proof@v1), so a third party can
//! check one clip's record against a signed checkpoint without seeing any other order.
//!
//! A proof file is:
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 of the record's exact line bytes, newline included>
//! index <0-based leaf index = line number - 1>
//! <base64 hash>            (one per line: the RFC 9162 inclusion path, leaf to root)
//!
//! <signed checkpoint note>
//! ```

use super::merkle::{self, Hash};
use super::note::{b64, unb64, Checkpoint, NoteVerifier};
use super::reader::{Checkpointed, LogReader};
use super::{LedgerError, Record};

const HEADER: &str = "c2sp.org/tlog-proof@v1";

#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("manifest line {line} is not covered by a checkpoint yet (the last one covers {covered} lines); {hint}")]
    NotCovered {
        line: u64,
        covered: u64,
        hint: &'static str,
    },
    #[error("proof: {0}")]
    Invalid(String),
}

impl From<ProofError> for crate::Error {
    fn from(e: ProofError) -> crate::Error {
        match e {
            ProofError::Ledger(l) => l.into(),
            e @ ProofError::NotCovered { .. } => {
                crate::Error::new(crate::ErrorKind::Unavailable, e)
            }
            e @ ProofError::Invalid(_) => crate::Error::new(crate::ErrorKind::Corrupt, e),
        }
    }
}

/// The proof file of manifest line `line` against the signed checkpoint `cp`.
pub fn prove(reader: &LogReader, cp: &Checkpointed, line: u64) -> Result<String, crate::Error> {
    prove_at(reader, cp.size, &cp.note, line)
}

/// The proof file of manifest line `line` against the signed checkpoint note `note` of the
/// tree of `size` lines (an earlier checkpoint, a stamped one say).
pub fn prove_at(
    reader: &LogReader,
    size: u64,
    note: &str,
    line: u64,
) -> Result<String, crate::Error> {
    if line == 0 || line > size {
        return Err(ProofError::NotCovered {
            line,
            covered: size,
            hint: "stop the recording process (it writes a checkpoint at shutdown) or wait for the next one",
        }
        .into());
    }
    let entry = reader.line(line)?;
    let path = reader.inclusion(line, size)?;
    Ok(inclusion_text(&entry, line, &path, note))
}

/// The proof file of `entry` (manifest line `line`, its bytes with the newline) whose
/// inclusion path is `path`, against the signed checkpoint `note`: what [`prove_at`] writes,
/// from hashes read elsewhere (the archive's tiles).
pub fn inclusion_text(entry: &[u8], line: u64, path: &[Hash], note: &str) -> String {
    let mut out = format!(
        "{HEADER}\nextra {}\nindex {}\n",
        b64(entry),
        line.saturating_sub(1)
    );
    for h in path {
        out.push_str(&b64(h));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(note);
    out
}

/// A consistency proof file from the tree of `old_size` lines to the checkpoint `new`:
/// `old <size>`, the hashes (RFC 9162 2.1.4), a blank line, the new checkpoint's note.
pub fn consistency_text(
    reader: &LogReader,
    old_size: u64,
    new: &Checkpointed,
) -> Result<String, crate::Error> {
    let hashes = if old_size == 0 || old_size == new.size {
        Vec::new()
    } else {
        reader.consistency(old_size, new.size)?
    };
    Ok(consistency_file(old_size, &hashes, &new.note))
}

/// A consistency proof file from the tree of `old_size` lines to the checkpoint `note` with
/// the proof `hashes`: what [`consistency_text`] writes, from hashes read elsewhere.
pub fn consistency_file(old_size: u64, hashes: &[Hash], note: &str) -> String {
    let mut out = format!("old {old_size}\n");
    for h in hashes {
        out.push_str(&b64(h));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(note);
    out
}

/// Reads a consistency proof file: (old size, hashes, the new checkpoint note).
pub fn parse_consistency(text: &str) -> Result<(u64, Vec<Hash>, &str), ProofError> {
    let bad = |w: &str| ProofError::Invalid(w.to_string());
    let (head, note) = text
        .split_once("\n\n")
        .ok_or_else(|| bad("no blank line before the checkpoint"))?;
    let mut lines = head.lines();
    let old = lines
        .next()
        .and_then(|l| l.strip_prefix("old "))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| bad("no `old <size>` line"))?;
    let mut hashes = Vec::new();
    for l in lines {
        let h = unb64(l).ok_or_else(|| bad("a proof hash is not base64"))?;
        hashes.push(
            h.try_into()
                .map_err(|_| bad("a proof hash is not 32 bytes"))?,
        );
    }
    Ok((old, hashes, note))
}

/// A checked proof: the record it proves and the checkpoint it was checked against.
#[derive(Debug)]
pub struct Verified {
    pub line: u64,
    pub entry: Vec<u8>,
    pub record: Record,
    pub checkpoint: Checkpoint,
}

/// Checks a proof file against the station's public key. Needs nothing else.
pub fn verify(text: &str, key: &NoteVerifier) -> Result<Verified, ProofError> {
    let bad = |w: &str| ProofError::Invalid(w.to_string());
    let (head, note) = text
        .split_once("\n\n")
        .ok_or_else(|| bad("no blank line before the checkpoint"))?;
    let mut lines = head.lines();
    if lines.next() != Some(HEADER) {
        return Err(bad("not a c2sp.org/tlog-proof@v1 file"));
    }
    let mut entry = None;
    let mut index = None;
    let mut path: Vec<Hash> = Vec::new();
    for l in lines {
        if let Some(e) = l.strip_prefix("extra ") {
            entry = Some(unb64(e).ok_or_else(|| bad("extra is not base64"))?);
        } else if let Some(i) = l.strip_prefix("index ") {
            index = Some(i.parse::<u64>().map_err(|_| bad("bad index"))?);
        } else {
            let h = unb64(l).ok_or_else(|| bad("a proof hash is not base64"))?;
            path.push(
                h.try_into()
                    .map_err(|_| bad("a proof hash is not 32 bytes"))?,
            );
        }
    }
    let entry = entry.ok_or_else(|| bad("no extra line: the record is missing"))?;
    let index = index.ok_or_else(|| bad("no index line"))?;
    let body = key
        .open(note)
        .map_err(|e| ProofError::Invalid(e.to_string()))?;
    let checkpoint = Checkpoint::parse(body).map_err(|e| ProofError::Invalid(e.to_string()))?;
    if checkpoint.origin != key.name {
        return Err(bad("the checkpoint's origin is not the key's name"));
    }
    if !merkle::verify_inclusion(
        &merkle::leaf_hash(&entry),
        index,
        checkpoint.size,
        &path,
        &checkpoint.root,
    ) {
        return Err(bad("the inclusion proof does not lead to the signed root"));
    }
    let record: Record = serde_json::from_slice(&entry)
        .map_err(|e| ProofError::Invalid(format!("the record is not valid: {e}")))?;
    if record.seq != index + 1 {
        return Err(bad("the record's seq does not match its index"));
    }
    Ok(Verified {
        line: index + 1,
        entry,
        record,
        checkpoint,
    })
}
