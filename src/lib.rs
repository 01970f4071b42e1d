//! packwitness: a packing-station witness. Records video per order, seals each clip with its
//! SHA-256 into a hash-chained manifest, and finds and verifies clips later.
//!
//! Data flows one way: [`capture`] -> [`encode`] -> [`clip`] -> [`ledger`] -> [`index`];
//! [`trigger`] turns scans into commands, [`station`] wires a session together, and the
//! command line ([`cli`]) is a thin layer over these modules.

pub mod bench;
pub mod capture;
pub mod cli;
pub mod clip;
pub mod config;
pub mod digest;
pub mod encode;
pub mod export;
pub mod index;
pub mod ledger;
pub mod retention;
pub mod server;
pub mod station;
pub mod trigger;

use std::path::{Path, PathBuf};

/// Errors of the library, one variant per part.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Capture(#[from] capture::CaptureError),
    #[error(transparent)]
    Encode(#[from] encode::EncodeError),
    #[error(transparent)]
    Clip(#[from] clip::ClipError),
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
    #[error(transparent)]
    Index(#[from] index::IndexError),
    #[error(transparent)]
    Note(#[from] ledger::note::NoteError),
    #[error("order code {code:?}: {source}")]
    Code {
        code: String,
        #[source]
        source: trigger::CodeError,
    },
    #[error(transparent)]
    Proof(#[from] ledger::proof::ProofError),
    #[error("no clip found for code {0:?} (order numbers and attached codes match exactly, case-insensitively)")]
    NotFound(String),
    #[error("data dir {path}: {what}")]
    DataDir { path: PathBuf, what: String },
    #[error("{0}")]
    Thread(String),
    #[error("station {station}: {source}")]
    Station {
        station: String,
        #[source]
        source: Box<Error>,
    },
    #[error("web server on {listen}: {what} (set [server] listen in the config, or --listen)")]
    Server { listen: String, what: String },
}

/// Initialises FFmpeg once per process (idempotent) and keeps its log to errors.
pub fn init_ffmpeg() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(e) = ffmpeg_next::init() {
            tracing::error!(error = %e, "FFmpeg initialisation failed");
        }
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
    });
}

/// Creates a data dir for recording (or accepts an existing one).
pub fn create_data_dir(path: &Path) -> Result<(), Error> {
    if path.exists() && !path.is_dir() {
        return Err(Error::DataDir {
            path: path.to_owned(),
            what: "exists and is not a directory; give a directory path".into(),
        });
    }
    if path.to_str().is_none() {
        return Err(Error::DataDir {
            path: path.to_owned(),
            what: "is not valid UTF-8; choose a plain path".into(),
        });
    }
    clip::create_dir_durable(path).map_err(|e| Error::DataDir {
        path: path.to_owned(),
        what: format!("cannot create it: {e}"),
    })
}

/// Checks that `path` holds packwitness data (a manifest) before reading it.
pub fn existing_data_dir(path: &Path) -> Result<(), Error> {
    let what = if !path.exists() {
        "does not exist; check --data-dir (or data_dir in the config), or record first with `packwitness demo`"
    } else if !path.is_dir() {
        "is not a directory; --data-dir must name the directory that holds manifest.jsonl"
    } else if std::fs::read_dir(path).is_err() {
        "cannot be read; check its permissions"
    } else if !path.join(ledger::MANIFEST).is_file() {
        "holds no manifest.jsonl, so it is not a packwitness data dir (or nothing was recorded yet)"
    } else {
        return Ok(());
    };
    Err(Error::DataDir {
        path: path.to_owned(),
        what: what.into(),
    })
}

/// A clip found by [`lookup`], with the state of its file now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Found {
    #[serde(flatten)]
    pub clip: index::ClipRow,
    /// `ok`, `open` (not sealed yet), `modified`, `truncated`, `missing` or `bad_path`.
    pub file_status: String,
    pub file_detail: Option<String>,
}

/// All clips of an order code, each with a fresh check of its file against its hash.
pub fn lookup(data_dir: &Path, raw_code: &str, max_len: usize) -> Result<Vec<Found>, Error> {
    existing_data_dir(data_dir)?;
    let code = trigger::normalize(raw_code, max_len).map_err(|source| Error::Code {
        code: raw_code.to_string(),
        source,
    })?;
    search(
        data_dir,
        &index::Filter {
            code: Some(code),
            ..index::Filter::default()
        },
    )
}

/// The clips matching a filter, each with a fresh check of its file against its hash.
pub fn search(data_dir: &Path, filter: &index::Filter) -> Result<Vec<Found>, Error> {
    existing_data_dir(data_dir)?;
    let index = index::Index::open(data_dir)?;
    let rows = index.search(filter)?;
    Ok(rows
        .into_iter()
        .map(|clip| {
            let (file_status, file_detail) = match (&clip.size, &clip.sha256) {
                _ if clip.pruned => (
                    "pruned".to_string(),
                    Some(
                        "retention removed the file; its record and hashes remain provable".into(),
                    ),
                ),
                (Some(size), Some(sha)) => {
                    match ledger::check_clip(data_dir, &clip.file, *size, sha, false) {
                        Ok(()) => ("ok".to_string(), None),
                        Err((kind, detail)) => (
                            serde_json::to_value(kind)
                                .ok()
                                .and_then(|v| {
                                    v.as_str()
                                        .map(|s| s.trim_start_matches("clip_").to_string())
                                })
                                .unwrap_or_else(|| "bad".into()),
                            Some(detail),
                        ),
                    }
                }
                _ => (
                    "open".to_string(),
                    Some("not sealed: recording, or interrupted".into()),
                ),
            };
            Found {
                clip,
                file_status,
                file_detail,
            }
        })
        .collect())
}
