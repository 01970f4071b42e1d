//! The witness side of c2sp.org/tlog-witness: `add-checkpoint` for the station logs it was
//! told to trust, answered with a cosignature only for a consistent extension of the latest
//! checkpoint it cosigned for that log.
//!
//! Owns: the witness's state in its folder (`witness.key`; `logs.json`: per log origin its
//! station key and the latest cosigned size and root, rewritten durably before any answer;
//! `refused.log`: every refused request from a known log with a valid signature, a fork or a
//! rollback attempt kept as evidence). Never: cosigns two inconsistent checkpoints of a log,
//! nor a smaller tree after a larger one, across restarts too.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::cosign::WitnessKey;
use super::{io, write_durable, AnchorError};
use crate::log::merkle;
use crate::log::note::{b64, unb64, Checkpoint, NoteVerifier};

/// What the witness knows of one log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogState {
    /// The station's verifier key.
    pub key: String,
    /// The latest checkpoint cosigned: size and root (base64); 0 and empty before the first.
    pub size: u64,
    pub root: String,
}

/// An answer to `add-checkpoint`: an HTTP status, a content type and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

fn answer(status: u16, body: impl Into<String>) -> Answer {
    Answer {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.into(),
    }
}

/// A running witness.
pub struct Witness {
    dir: PathBuf,
    key: WitnessKey,
    logs: Mutex<BTreeMap<String, LogState>>,
}

impl Witness {
    /// Opens (or creates) the witness in `dir`; a new key is named `name`.
    pub fn open(dir: &Path, name: &str) -> Result<Witness, AnchorError> {
        crate::datadir::create_dir_durable(dir).map_err(|e| io(dir, e))?;
        let key = WitnessKey::load_or_create(&dir.join("witness.key"), name)?;
        let path = dir.join("logs.json");
        let logs = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                io(&path, format!("not valid: {e}; a witness whose state is lost must be retired, not restarted"))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(io(&path, e)),
        };
        Ok(Witness {
            dir: dir.to_owned(),
            key,
            logs: Mutex::new(logs),
        })
    }

    pub fn verifier(&self) -> String {
        self.key.verifier()
    }

    /// The logs it witnesses.
    pub fn logs(&self) -> BTreeMap<String, LogState> {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Trusts the station key `key` for the log of its name (its origin).
    pub fn add_log(&self, key: &str) -> Result<String, AnchorError> {
        let v = NoteVerifier::parse(key)
            .map_err(|e| AnchorError::Config(format!("not a station key: {e}")))?;
        let mut logs = self
            .logs
            .lock()
            .map_err(|_| AnchorError::Config("poisoned".into()))?;
        let mut next = logs.clone();
        match next.get(&v.name) {
            Some(l) if l.key != key.trim() => {
                return Err(AnchorError::Config(format!(
                    "log {} is witnessed with another key ({}); a new key is a new log name",
                    v.name, l.key
                )))
            }
            Some(_) => return Ok(v.name),
            None => {}
        }
        next.insert(
            v.name.clone(),
            LogState {
                key: key.trim().to_string(),
                size: 0,
                root: String::new(),
            },
        );
        self.save(&next)?;
        *logs = next;
        Ok(v.name)
    }

    fn save(&self, logs: &BTreeMap<String, LogState>) -> Result<(), AnchorError> {
        let json = serde_json::to_vec_pretty(logs).map_err(|e| io(&self.dir, e))?;
        write_durable(&self.dir.join("logs.json"), &json)
    }

    fn refused(&self, origin: &str, why: &str, request: &str) {
        let path = self.dir.join("refused.log");
        let entry = format!(
            "=== {} {origin}: {why}\n{request}\n",
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(entry.as_bytes()).and_then(|()| f.sync_data()));
        if let Err(e) = written {
            tracing::error!(file = %path.display(), error = %e, "cannot keep the refused request");
        }
        tracing::warn!(origin, why, "add-checkpoint refused");
    }

    /// `POST <prefix>/add-checkpoint` with `request` as the body, at `now` (Unix seconds).
    pub fn add_checkpoint(&self, request: &str, now: u64) -> Answer {
        let Some((head, note)) = request.split_once("\n\n") else {
            return answer(
                400,
                "the body is not an old size line, proof lines, a blank line and a checkpoint\n",
            );
        };
        let mut lines = head.lines();
        let Some(old) = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return answer(400, "no `old <size>` line\n");
        };
        let proof: Option<Vec<merkle::Hash>> = lines
            .map(|l| unb64(l).and_then(|h| h.try_into().ok()))
            .collect();
        let Some(proof) = proof.filter(|p| p.len() <= 63) else {
            return answer(
                400,
                "a consistency proof line is not a base64 hash (or more than 63)\n",
            );
        };
        let origin = note.lines().next().unwrap_or("").to_string();
        let mut logs = match self.logs.lock() {
            Ok(l) => l,
            Err(_) => return answer(500, "the witness state is unusable\n"),
        };
        let Some(state) = logs.get(&origin).cloned() else {
            return answer(404, format!("log {origin:?} is not witnessed here\n"));
        };
        let Ok(verifier) = NoteVerifier::parse(&state.key) else {
            return answer(500, "the log's configured key is not valid\n");
        };
        let cp = match verifier
            .open(note)
            .map(|b| (b.to_string(), Checkpoint::parse(b)))
        {
            Ok((body, Ok(cp))) => (body, cp),
            Ok((_, Err(e))) => return answer(400, format!("not a checkpoint: {e}\n")),
            Err(e) => return answer(403, format!("{e}\n")),
        };
        let (body, cp) = cp;
        if old > cp.size {
            return answer(400, "the old size is larger than the checkpoint's\n");
        }
        if old != state.size {
            return Answer {
                status: 409,
                content_type: "text/x.tlog.size",
                body: format!("{}\n", state.size),
            };
        }
        let stored_root = unb64(&state.root).and_then(|r| merkle::Hash::try_from(r).ok());
        let consistent = if cp.size == 0 {
            false
        } else if old == 0 {
            proof.is_empty()
        } else if old == cp.size {
            stored_root == Some(cp.root)
        } else {
            stored_root
                .is_some_and(|r| merkle::verify_consistency(old, cp.size, &r, &cp.root, &proof))
        };
        if !consistent {
            let why = format!(
                "not a consistent extension of the checkpoint of {old} lines it cosigned: a fork or a rewritten log"
            );
            self.refused(&origin, &why, request);
            return answer(422, format!("{why}\n"));
        }
        let mut next = logs.clone();
        next.insert(
            origin,
            LogState {
                key: state.key,
                size: cp.size,
                root: b64(&cp.root),
            },
        );
        if let Err(e) = self.save(&next) {
            tracing::error!(error = %e, "cannot persist the witness state; nothing cosigned");
            return answer(503, "the witness cannot persist its state\n");
        }
        *logs = next;
        Answer {
            status: 200,
            content_type: "text/x.tlog.cosignature",
            body: self.key.cosign(&body, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::note::StationKey;

    fn note(key: &StationKey, size: u64, root: u8) -> String {
        key.sign(&format!("{}\n{size}\n{}\n", key.name(), b64(&[root; 32])))
    }

    #[test]
    fn only_consistent_extensions_are_cosigned() {
        let dir = tempfile::tempdir().unwrap();
        let w = Witness::open(dir.path(), "witness.example/w1").unwrap();
        let station = StationKey::generate_named("example.com/pack-1").unwrap();
        let n1 = note(&station, 1, 7);
        // Unknown log: 404.
        assert_eq!(w.add_checkpoint(&format!("old 0\n\n{n1}"), 10).status, 404);
        w.add_log(&station.verifier()).unwrap();
        // Signed by another key under the same name: 403.
        let other = StationKey::generate_named("example.com/pack-1").unwrap();
        assert_eq!(
            w.add_checkpoint(&format!("old 0\n\n{}", note(&other, 1, 7)), 10)
                .status,
            403
        );
        // The first checkpoint, then the same again.
        let a = w.add_checkpoint(&format!("old 0\n\n{n1}"), 10);
        assert_eq!(a.status, 200, "{a:?}");
        let v = super::super::cosign::WitnessVerifier::parse(&w.verifier()).unwrap();
        assert_eq!(v.cosigned(&format!("{n1}{}", a.body)), Some(10));
        assert_eq!(w.add_checkpoint(&format!("old 1\n\n{n1}"), 11).status, 200);
        // Another root at the same size: a fork, refused and kept.
        let fork = note(&station, 1, 8);
        assert_eq!(
            w.add_checkpoint(&format!("old 1\n\n{fork}"), 12).status,
            422
        );
        assert!(std::fs::read_to_string(dir.path().join("refused.log"))
            .unwrap()
            .contains("fork"));
        // A stale old size: 409 with the size held; a larger old size than the checkpoint: 400.
        let c = w.add_checkpoint(&format!("old 0\n\n{n1}"), 13);
        assert_eq!(
            (c.status, c.body.as_str(), c.content_type),
            (409, "1\n", "text/x.tlog.size")
        );
        assert_eq!(w.add_checkpoint(&format!("old 2\n\n{n1}"), 13).status, 400);
        // A bad consistency proof to a larger tree: 422; the state survives a restart.
        let n3 = note(&station, 3, 9);
        let bogus = b64(&[1; 32]);
        assert_eq!(
            w.add_checkpoint(&format!("old 1\n{bogus}\n\n{n3}"), 14)
                .status,
            422
        );
        drop(w);
        let w = Witness::open(dir.path(), "ignored").unwrap();
        assert_eq!(w.logs()["example.com/pack-1"].size, 1);
    }
}
