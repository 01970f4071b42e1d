//! The archive: every station's evidence off the station, in an S3 bucket with Object Lock and
//! a PostgreSQL database that any number of stateless `packwitness archive` nodes share.
//!
//! Owns: the push protocol between a station and the archive ([`wire`], version 1), the
//! archive's PostgreSQL schema and its migrations ([`schema`]), the object layout in the
//! bucket ([`objects`]), the checks an archive makes before it stores or cosigns anything
//! ([`service`]), the station's uploader thread ([`push`]), what a bundle made at the
//! archive reads ([`evidence`]), and the search over every station's clips for customer
//! service's agents ([`search`]).
//! Never: trusts a station's word. A log is stored only as a signed, consistent extension of
//! what the archive holds, with every line chained and hashed into the signed root; a clip
//! only when the object store itself checked its bytes against the SHA-256 of its seal.
//! The uploader never runs in the capture or writer path and never blocks them: it reads the
//! data dir after the writer and keeps no queue of its own (the archive's position is the
//! cursor).
//!
//! Place in the layers: beside the recorder (layer 4): it uses `log` (records, Merkle tree,
//! notes, tiles' paths), `anchor` (the cosignature key) and `config`; `web` shows its status
//! and `app` serves it over HTTP and starts the uploader.

use std::fmt;

pub mod accounts;
pub mod anchors;
pub mod client;
pub mod clips;
pub mod evidence;
pub mod ingest;
pub mod objects;
pub mod push;
pub mod schema;
pub mod search;
pub mod service;
pub mod shares;
pub mod tree;
pub mod upload;
pub mod wire;

/// Something the archive (or the way to it) could not do.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The configuration cannot work; the message says what to change.
    #[error("{0}")]
    Config(String),
    /// The object store answered with an error, or could not be reached.
    #[error("object store: {what}: {detail}")]
    Store { what: String, detail: String },
    /// PostgreSQL answered with an error, or could not be reached.
    #[error("PostgreSQL: {what}: {detail}")]
    Database { what: String, detail: String },
    /// A local file (the key, the data dir) could not be used.
    #[error("{path}: {what}")]
    Io { path: String, what: String },
    /// The archive answered a station with an error (status, its text).
    #[error("archive {url} answered {status}: {text}")]
    Answer {
        url: String,
        status: u16,
        text: String,
    },
    /// The archive could not be reached.
    #[error("archive {url}: {what}")]
    Unreachable { url: String, what: String },
}

impl From<ArchiveError> for crate::Error {
    fn from(e: ArchiveError) -> crate::Error {
        let kind = match &e {
            ArchiveError::Config(_) => crate::ErrorKind::Invalid,
            ArchiveError::Io { .. } => crate::ErrorKind::Io,
            _ => crate::ErrorKind::Unavailable,
        };
        crate::Error::new(kind, e)
    }
}

pub(crate) fn db(what: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> ArchiveError {
    let what = what.into();
    move |e| ArchiveError::Database {
        what,
        detail: pg_detail(&e),
    }
}

/// A PostgreSQL error with its server message when there is one.
pub(crate) fn pg_detail(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{}: {}", d.code().code(), d.message()),
        None => crate::anchor::http::chain(e),
    }
}

/// A station's key ID as the bucket names its folder: the 8 hex digits of its note key ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(pub String);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
