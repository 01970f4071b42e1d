//! Proof files and legal holds: the other two things customer service does in a dispute.
//!
//! Owns: `prove` (each clip record of an order with its inclusion proof against a signed
//! checkpoint, c2sp.org/tlog-proof), `verify-proof` (checking one offline, with a clip file),
//! and `hold` (a legal hold on every clip of a code, or lifting it).
//! Never: writes a record itself: checkpoints and hold records go through the caller's
//! [`Appender`] (this process's writer, or the running recorder's socket).

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::datadir::safe_name;
use crate::digest;
use crate::error::{Error, ErrorKind};
use crate::index::{self, FileCheck, Index};
use crate::log::note::NoteVerifier;
use crate::log::reader::{Checkpointed, LogReader};
use crate::log::{proof, Appender, Body};

/// A proof file written by [`prove`].
#[derive(Debug, Clone)]
pub struct ProofFile {
    pub path: PathBuf,
    pub line: u64,
    pub clip_file: String,
}

/// What [`prove`] wrote.
#[derive(Debug, Clone)]
pub struct Proven {
    pub files: Vec<ProofFile>,
    /// `station.pub`, with the key that signed the checkpoint.
    pub key_file: Option<PathBuf>,
}

fn not_found(code: &str) -> Error {
    Error::msg(
        ErrorKind::NotFound,
        format!("no clip found for order {:?}", code.trim()),
    )
}

/// Writes, for each sealed clip of `code`, its `clip_sealed` line with an inclusion proof into
/// `out_dir` (default `./proof-<order>`). When no checkpoint covers those lines yet, asks
/// `appender` for one first.
pub fn prove(
    data_dir: &Path,
    config: &Config,
    appender: &dyn Appender,
    code: &str,
    out_dir: Option<PathBuf>,
) -> Result<Proven, Error> {
    let found = index::lookup(data_dir, code, config.codes.max_len, FileCheck::Size)?;
    if found.is_empty() {
        return Err(not_found(code));
    }
    let lines: Vec<u64> = found.iter().filter_map(|f| f.clip.sealed_line).collect();
    let needed = lines.iter().copied().max().ok_or_else(|| {
        Error::msg(
            ErrorKind::Unavailable,
            format!(
                "the clips of {:?} are not sealed yet; prove them once they are",
                code.trim()
            ),
        )
    })?;
    let covering = |r: &LogReader| -> Result<Option<Checkpointed>, Error> {
        Ok(r.latest_checkpoint()?.filter(|c| c.size >= needed))
    };
    let mut reader = LogReader::open(data_dir)?;
    if covering(&reader)?.is_none() {
        appender.checkpoint()?;
        reader = LogReader::open(data_dir)?;
    }
    let cp = covering(&reader)?.ok_or_else(|| {
        Error::msg(
            ErrorKind::Unavailable,
            "no signed checkpoint covers these clips yet",
        )
    })?;
    let out_dir = out_dir
        .unwrap_or_else(|| PathBuf::from(format!("proof-{}", safe_name(&found[0].clip.order))));
    let io = |p: &Path, e: std::io::Error| {
        Error::msg(ErrorKind::Io, format!("writing {}: {e}", p.display()))
    };
    std::fs::create_dir_all(&out_dir).map_err(|e| io(&out_dir, e))?;
    let key_line = reader.state().key.clone();
    let mut files = Vec::new();
    for f in &found {
        let Some(line) = f.clip.sealed_line else {
            continue;
        };
        let text = proof::prove(&reader, &cp, line)?;
        let name = format!(
            "{}_clip{}.tlog-proof",
            safe_name(&f.clip.order),
            f.clip.clip
        );
        let path = out_dir.join(name);
        std::fs::write(&path, text).map_err(|e| io(&path, e))?;
        files.push(ProofFile {
            path,
            line,
            clip_file: f.clip.file.clone(),
        });
    }
    let key_file = match key_line {
        Some(k) => {
            let path = out_dir.join("station.pub");
            std::fs::write(&path, format!("{k}\n")).map_err(|e| io(&path, e))?;
            Some(path)
        }
        None => None,
    };
    Ok(Proven { files, key_file })
}

/// The outcome of [`verify_proof`].
#[derive(Debug)]
pub enum ProofCheck {
    /// The proof holds; with a clip, the clip matches the proven record.
    Ok {
        proof: Box<proof::Verified>,
        clip_sha256: Option<String>,
    },
    /// It does not; why.
    Failed(String),
}

/// Checks a proof file offline against a station key, and optionally a clip file.
pub fn verify_proof(
    proof_path: &Path,
    key: &str,
    clip: Option<&Path>,
) -> Result<ProofCheck, Error> {
    let text = std::fs::read_to_string(proof_path).map_err(|e| {
        Error::msg(
            ErrorKind::Invalid,
            format!("reading proof {}: {e}", proof_path.display()),
        )
    })?;
    let verifier = NoteVerifier::parse(key)?;
    let v = match proof::verify(&text, &verifier) {
        Ok(v) => v,
        Err(e) => return Ok(ProofCheck::Failed(format!("{}: {e}", proof_path.display()))),
    };
    let Some(path) = clip else {
        return Ok(ProofCheck::Ok {
            proof: Box::new(v),
            clip_sha256: None,
        });
    };
    let Body::ClipSealed { sha256, size, .. } = &v.record.body else {
        return Ok(ProofCheck::Failed(
            "the proven record is not a sealed clip".into(),
        ));
    };
    let (actual, actual_size) = digest::sha256_file(path).map_err(|e| {
        Error::msg(
            ErrorKind::Invalid,
            format!("reading {}: {e}", path.display()),
        )
    })?;
    if &actual != sha256 || actual_size != *size {
        return Ok(ProofCheck::Failed(format!(
            "{} has SHA-256 {actual} ({actual_size} bytes); the record says {sha256} ({size} bytes)",
            path.display()
        )));
    }
    Ok(ProofCheck::Ok {
        proof: Box::new(v),
        clip_sha256: Some(actual),
    })
}

/// What [`hold`] did.
#[derive(Debug, Clone)]
pub struct Held {
    /// The code, normalised.
    pub code: String,
    pub clips: Vec<u64>,
    pub released: bool,
}

/// Places a legal hold on every clip of `code` (held clips are never pruned), or lifts it.
/// Lifting a hold that is not there is refused (a conflict), so a typo cannot look like a
/// release.
pub fn hold(
    data_dir: &Path,
    config: &Config,
    appender: &dyn Appender,
    code: &str,
    release: bool,
    reason: Option<String>,
    who: &str,
) -> Result<Held, Error> {
    let found = index::lookup(data_dir, code, config.codes.max_len, FileCheck::Size)?;
    if found.is_empty() {
        return Err(not_found(code));
    }
    let norm = crate::codes::normalize(code, config.codes.max_len)?;
    let clips: Vec<u64> = found.iter().map(|f| f.clip.clip).collect();
    if release {
        let index = Index::open_read(data_dir)?;
        let mut any = false;
        for c in &clips {
            any |= index.held(*c)?;
        }
        if !any {
            return Err(Error::msg(
                ErrorKind::Conflict,
                format!("no clip of {norm} is under legal hold; nothing to release"),
            ));
        }
    }
    appender.append(Body::Hold {
        code: norm.clone(),
        clips: clips.clone(),
        released: release,
        who: who.to_string(),
        reason,
    })?;
    appender.checkpoint()?;
    Ok(Held {
        code: norm,
        clips,
        released: release,
    })
}

/// What [`consistency`] found.
#[derive(Debug)]
pub enum Consistency {
    /// The log extends the old checkpoint; the proof (c2sp.org/tlog-witness form: `old <N>`,
    /// the RFC 9162 consistency proof hashes in base64, a blank line, the log's latest signed
    /// checkpoint) checks against both roots.
    Extends {
        old_size: u64,
        new_size: u64,
        proof: String,
    },
    /// It does not; why.
    Refused(String),
}

/// Does the log of `data_dir` extend the signed checkpoint `old_note` (one kept earlier, from
/// an old bundle say)? Checks the note's signature by the station key, then that the tree of
/// its size, recomputed from the stored tiles, has its root, and proves the latest
/// checkpoint consistent with it.
pub fn consistency(data_dir: &Path, old_note: &str) -> Result<Consistency, Error> {
    let reader = LogReader::open(data_dir)?;
    let key = reader
        .state()
        .key
        .clone()
        .ok_or_else(|| Error::msg(ErrorKind::Invalid, "the log names no station key"))?;
    // The key in force, or one a signed rotation replaced (the old checkpoint may be older).
    let mut opened = None;
    for k in std::iter::once(&key).chain(reader.state().previous_keys.iter().rev()) {
        let v = NoteVerifier::parse(k)?;
        if let Ok(body) = v.open(old_note) {
            opened = Some((v, body));
            break;
        }
    }
    let Some((verifier, body)) = opened else {
        return Ok(Consistency::Refused(format!(
            "the old checkpoint is not signed by this station's key {key} (nor by a key it replaced)"
        )));
    };
    let old = crate::log::note::Checkpoint::parse(body)?;
    if old.origin != verifier.name {
        return Ok(Consistency::Refused(format!(
            "the old checkpoint is of the log {:?}, not of this one ({:?})",
            old.origin, verifier.name
        )));
    }
    let new = reader.latest_checkpoint()?.ok_or_else(|| {
        Error::msg(
            ErrorKind::Unavailable,
            "the log has no signed checkpoint yet",
        )
    })?;
    if old.size > new.size {
        return Ok(Consistency::Refused(format!(
            "the old checkpoint covers {} lines, the log's latest only {}: the log was cut back",
            old.size, new.size
        )));
    }
    let root = reader.tree_hash(old.size)?;
    if root != old.root {
        return Ok(Consistency::Refused(format!(
            "the first {} lines of the log hash to {}, the old checkpoint says {}: the log was rewritten since it was signed (a fork under the same key)",
            old.size,
            crate::log::note::b64(&root),
            crate::log::note::b64(&old.root)
        )));
    }
    let hashes = if old.size == 0 {
        Vec::new()
    } else {
        reader.consistency(old.size, new.size)?
    };
    if old.size > 0
        && !crate::log::merkle::verify_consistency(
            old.size, new.size, &old.root, &new.root, &hashes,
        )
    {
        return Err(Error::msg(
            ErrorKind::Corrupt,
            "the consistency proof computed from the tiles does not verify; the tiles are damaged (`packwitness reindex` rebuilds them)",
        ));
    }
    let mut proof = format!("old {}\n", old.size);
    for h in &hashes {
        proof.push_str(&crate::log::note::b64(h));
        proof.push('\n');
    }
    proof.push('\n');
    proof.push_str(&new.note);
    Ok(Consistency::Extends {
        old_size: old.size,
        new_size: new.size,
        proof,
    })
}
