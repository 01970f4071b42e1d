//! The archive's own access log: what customer service viewed, downloaded and exported at the
//! archive, as provable as at a station. It is a station's ledger (the same manifest format,
//! hash chain, tiles and signed checkpoints, written by the same [`Ledger`]), kept by each
//! archive node in its folder (`DIR/access/`), signed by the node's access key
//! (`DIR/access.key/station.key`, named after the archive's key), and checked with
//! `packwitness verify --data-dir DIR/access --key ACCESS_KEY`.
//!
//! Owns: that log and its key: a `station_start` naming the key at the first record of each
//! process, one `access` record per viewing, download or export (with the station log whose
//! clips it names), and a checkpoint after each, so that no access waits unsigned. The
//! server and `archive export` on the same folder take turns through `DIR/access.lock`.
//! Never: serves a clip's bytes itself, or lets an access go unrecorded: a caller serves
//! nothing when [`AccessLog::record`] fails.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::clock::RealClock;
use crate::error::{Error, ErrorKind};
use crate::log::note::StationKey;
use crate::log::writer::Ledger;
use crate::log::Body;

/// One access at the archive.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    /// `view`, `download` or `export`.
    pub action: &'static str,
    /// The order (or waybill) asked for.
    pub code: String,
    /// The station log (its key's name) whose lines `clips` are.
    pub log: String,
    /// The `clip_opened` lines of its clips.
    pub clips: Vec<u64>,
    /// The account.
    pub who: String,
    /// The file it went to (a bundle's name), if any.
    pub to: Option<String>,
    /// How a file made from the clips was made (an MP4 for upload), as a station records it.
    pub derived: Option<crate::log::Derived>,
}

/// A node's access log.
pub struct AccessLog {
    dir: PathBuf,
    lock: PathBuf,
    key: StationKey,
    /// This process wrote its `station_start`.
    started: Mutex<bool>,
}

fn io<'a>(path: &'a Path, what: &str) -> impl Fn(std::io::Error) -> Error + 'a {
    let what = what.to_string();
    move |e| {
        Error::msg(
            ErrorKind::Io,
            format!(
                "{}: cannot {what}: {e} (the archive records every access there; fix it and retry)",
                path.display()
            ),
        )
    }
}

impl AccessLog {
    /// The access log in the node's folder `dir`, its key created (named
    /// `<archive_name>/access/<random>`) the first time.
    pub fn open(dir: &Path, archive_name: &str) -> Result<AccessLog, Error> {
        let log = dir.join("access");
        crate::datadir::create_dir_durable(&log).map_err(io(&log, "create the access log"))?;
        let key_path = dir.join("access.key").join("station.key");
        let key = if key_path.exists() {
            StationKey::read(&key_path)?
        } else {
            let mut tag = [0u8; 4];
            getrandom::getrandom(&mut tag)
                .map_err(|e| Error::internal(format!("no randomness for a key: {e}")))?;
            let name = format!("{archive_name}/access/{}", crate::digest::hex(&tag));
            let key = StationKey::generate_named(&name).map_err(|e| {
                Error::msg(
                    ErrorKind::Invalid,
                    format!("the access log's key name {name:?}: {e}"),
                )
            })?;
            key.save_new(&key_path)?;
            key
        };
        Ok(AccessLog {
            lock: dir.join("access.lock"),
            dir: log,
            key,
            started: Mutex::new(false),
        })
    }

    /// The key its checkpoints are signed with, as `verify --key` takes it.
    pub fn verifier(&self) -> String {
        self.key.verifier()
    }

    /// The log's name (its key's).
    pub fn name(&self) -> &str {
        self.key.name()
    }

    /// The log's folder (a data dir: `verify --data-dir` checks it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes this process's `station_start` (signed) now rather than at the first access:
    /// a serving node's log is never empty.
    pub fn begin(&self) -> Result<(), Error> {
        self.append(None).map(|_| ())
    }

    /// Appends `access` and signs it; returns its line. Blocks (file I/O, fsync): call it
    /// off the async threads.
    pub fn record(&self, access: &Access) -> Result<u64, Error> {
        self.append(Some(access))
    }

    /// The process's `station_start` if not written yet, then `access` if any, then a
    /// checkpoint; the last record's line.
    fn append(&self, access: Option<&Access>) -> Result<u64, Error> {
        let turn = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)
            .map_err(io(&self.lock, "open the access log's lock"))?;
        turn.lock()
            .map_err(io(&self.lock, "take the access log's lock"))?;
        let clock = RealClock::new();
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        let mut ledger = Ledger::open(&self.dir, &clock)?;
        if ledger.opened.unclean {
            // A node died between a record and its checkpoint: say so before going on.
            let state = ledger.state();
            let (last_checkpoint, to) = (state.last_checkpoint, state.size);
            ledger.append(
                Body::CrashRecovered {
                    last_checkpoint,
                    from: last_checkpoint + 1,
                    to,
                },
                &clock,
            )?;
        }
        let mut last = 0;
        if !*started {
            last = ledger
                .append(
                    Body::StationStart {
                        station: "archive".into(),
                        software: format!("packwitness {}", env!("CARGO_PKG_VERSION")),
                        config_sha256: crate::digest::sha256_hex(b""),
                        cameras: Vec::new(),
                        key: self.key.verifier(),
                        sources: Vec::new(),
                    },
                    &clock,
                )?
                .seq;
        }
        if let Some(access) = access {
            last = ledger
                .append(
                    Body::Access {
                        action: access.action.into(),
                        code: access.code.clone(),
                        clips: access.clips.clone(),
                        who: access.who.clone(),
                        to: access.to.clone(),
                        derived: access.derived.clone(),
                        log: Some(access.log.clone()),
                    },
                    &clock,
                )?
                .seq;
        }
        ledger.checkpoint(&self.key, &clock)?;
        ledger.flush()?;
        *started = true;
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_access_is_a_signed_line_of_a_log_verify_accepts() {
        let tmp = tempfile::tempdir().unwrap();
        let log = AccessLog::open(tmp.path(), "archive.test/abcd").unwrap();
        let access = |action, clips: Vec<u64>| Access {
            action,
            code: "SO-1".into(),
            log: "packwitness.local/st-1/0011".into(),
            clips,
            who: "alice".into(),
            to: None,
            derived: None,
        };
        let first = log.record(&access("view", vec![3])).unwrap();
        let second = log.record(&access("export", vec![3, 9])).unwrap();
        // station_start, access, checkpoint; then access, checkpoint.
        assert_eq!((first, second), (2, 4));
        // Another process (a node's restart) names its key again and goes on.
        let again = AccessLog::open(tmp.path(), "ignored: the key exists").unwrap();
        assert_eq!(again.verifier(), log.verifier());
        assert!(log.verifier().starts_with("archive.test/abcd/access/"));
        assert_eq!(again.record(&access("download", vec![9])).unwrap(), 7);
        let text = std::fs::read_to_string(log.dir().join("manifest.jsonl")).unwrap();
        let recs: Vec<crate::log::Record> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(recs.len(), 8);
        let Body::Access { log: of, clips, .. } = &recs[3].body else {
            panic!("{:?}", recs[3]);
        };
        assert_eq!(
            (of.as_deref(), clips.as_slice()),
            (Some("packwitness.local/st-1/0011"), &[3, 9][..])
        );
        assert!(matches!(recs[7].body, Body::Checkpoint { .. }));
        let report = crate::verify::verify(
            log.dir(),
            &crate::verify::VerifyOptions {
                quick: false,
                full: true,
                key: Some(log.verifier()),
                threads: 1,
                checkpoint_interval: None,
            },
        )
        .unwrap();
        assert!(report.ok(), "{report:?}");
    }
}
