//! Provenance both ways: content credentials (C2PA) on the files the merchant hands out, and
//! a reading of what a file someone else made declares about itself (the buyer's photo or
//! video in a dispute).
//!
//! Owns: signing a C2PA manifest into a copy of a file with the merchant's certificate
//! (`[c2pa]`), time-stamped through the project's own TSA client ([`credentials`]); reading
//! and validating a file's C2PA manifest, and the packwitness assertion in it; reading the
//! GB 45438-2025 implicit AI label, the EXIF camera and time, and the editing software a
//! file's metadata names ([`reading`]).
//! Never: changes a sealed clip's bytes (it signs copies); sends a file anywhere (no network
//! but the merchant's own TSA when signing); calls a picture genuine: it reports what the file
//! declares, a file that declares nothing is not thereby genuine, and no AI-detection model is
//! used.

pub mod credentials;
pub mod reading;

pub use credentials::{CredentialReport, Signing};
pub use reading::Reading;

/// What went wrong making or reading provenance.
#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    #[error("[c2pa] {0}")]
    Config(String),
    #[error("{path}: {what}")]
    File { path: String, what: String },
    #[error("content credentials for {what}: {why}")]
    Sign { what: String, why: String },
    #[error("this packwitness was built without C2PA (cargo feature `c2pa`): rebuild it with the feature to {0}")]
    NotBuilt(&'static str),
}

impl From<ProvenanceError> for crate::Error {
    fn from(e: ProvenanceError) -> crate::Error {
        let kind = match &e {
            ProvenanceError::Config(_) => crate::ErrorKind::Invalid,
            ProvenanceError::File { .. } => crate::ErrorKind::Io,
            ProvenanceError::Sign { .. } => crate::ErrorKind::Internal,
            ProvenanceError::NotBuilt(_) => crate::ErrorKind::Unavailable,
        };
        crate::Error::new(kind, e)
    }
}

pub(crate) fn file_err(path: &std::path::Path, what: impl std::fmt::Display) -> ProvenanceError {
    ProvenanceError::File {
        path: path.display().to_string(),
        what: what.to_string(),
    }
}
