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

use std::path::Path;

use super::merkle::{self, Hash};
use super::note::{b64, unb64, Checkpoint, NoteVerifier};
use super::{open_manifest, Body, LedgerError, Record};

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

/// The latest checkpoint of a manifest and the leaf hashes it covers.
pub struct Snapshot {
    pub checkpoint_line: u64,
    pub size: u64,
    pub note: String,
    leaves: Vec<Hash>,
    lines: Vec<Vec<u8>>,
}

/// Reads the manifest once: every line's leaf hash and bytes, and its last checkpoint.
pub fn snapshot(data_dir: &Path) -> Result<Option<Snapshot>, LedgerError> {
    let mut reader = open_manifest(data_dir)?;
    let path = data_dir.join(crate::datadir::MANIFEST);
    let mut leaves = Vec::new();
    let mut lines = Vec::new();
    let mut last = None;
    while let Some((n, _, bytes)) = reader.next_line().map_err(|source| LedgerError::Io {
        path: path.clone(),
        what: "reading",
        source,
    })? {
        if !bytes.ends_with(b"\n") {
            break;
        }
        if let Ok(Record {
            body: Body::Checkpoint { size, note, .. },
            ..
        }) = serde_json::from_slice(&bytes)
        {
            last = Some((n, size, note));
        }
        leaves.push(merkle::leaf_hash(&bytes));
        lines.push(bytes);
    }
    Ok(last.map(|(checkpoint_line, size, note)| Snapshot {
        checkpoint_line,
        size,
        note,
        leaves,
        lines,
    }))
}

impl Snapshot {
    /// Lines read (whole lines only; may be more than the checkpoint covers).
    pub fn line_count(&self) -> u64 {
        self.lines.len() as u64
    }

    /// The exact bytes of manifest line `n` (1-based), with its newline.
    pub fn line(&self, n: u64) -> Option<&[u8]> {
        let i = usize::try_from(n.checked_sub(1)?).ok()?;
        self.lines.get(i).map(Vec::as_slice)
    }

    /// The proof text for manifest line `line` (1-based).
    pub fn prove(&self, line: u64) -> Result<String, ProofError> {
        if line == 0 || line > self.size || self.size as usize > self.leaves.len() {
            return Err(ProofError::NotCovered {
                line,
                covered: self.size,
                hint: "stop the recording process (it writes a checkpoint at shutdown) or wait for the next one",
            });
        }
        let index = (line - 1) as usize;
        let path = merkle::inclusion_proof(&self.leaves[..self.size as usize], index)
            .ok_or_else(|| ProofError::Invalid(format!("no leaf {index}")))?;
        let mut out = format!(
            "{HEADER}\nextra {}\nindex {index}\n",
            b64(&self.lines[index])
        );
        for h in path {
            out.push_str(&b64(&h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.note);
        Ok(out)
    }
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

/// The station key named by the last `station_start` record before `line`.
pub fn station_key_before(data_dir: &Path, line: u64) -> Result<Option<String>, LedgerError> {
    let mut reader = open_manifest(data_dir)?;
    let path = data_dir.join(crate::datadir::MANIFEST);
    let mut key = None;
    while let Some((n, _, bytes)) = reader.next_line().map_err(|source| LedgerError::Io {
        path: path.clone(),
        what: "reading",
        source,
    })? {
        if n >= line {
            break;
        }
        if let Ok(Record {
            body: Body::StationStart { key: k, .. },
            ..
        }) = serde_json::from_slice(&bytes)
        {
            key = Some(k);
        }
    }
    Ok(key)
}
