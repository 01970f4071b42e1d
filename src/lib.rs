//! packwitness: a packing-station witness. Records video per order, seals each clip with its
//! SHA-256 into a hash-chained manifest, and finds and verifies clips later.
//!
//! The modules, in layers; a module uses only modules of the layers below it (check with
//! `grep -rn 'crate::' src/`), and the binary (`src/main.rs`, `src/cmd/`) uses the library:
//!
//! 1. leaves: [`error`], [`clock`], [`datadir`] (paths and locks), [`config`] (shapes),
//!    [`digest`], [`diskfile`] (files appended on the data disk, faults injectable)
//! 2. [`media`] (sources, encoder, passthrough, fMP4 writer), [`codes`] (what a scan is),
//!    [`log`] (records, the ledger writer, Merkle tree, signed notes, proofs)
//! 3. [`index`] (SQLite lookup), [`scanners`] (devices), [`retention`] (policy), [`anchor`]
//!    (RFC 3161 time-stamps of checkpoints)
//! 4. [`archive`] (the archive service's checks and stores, the station's uploader),
//!    [`notify`] (webhooks: sealed clips and orders without video POSTed to other systems):
//!    both read the log and send it out, and know nothing of the recorder;
//!    [`provenance`] (C2PA content credentials signed into the files handed out, and the
//!    reading of what a buyer's file declares: C2PA, GB 45438-2025 AI label, EXIF)
//! 5. [`recorder`] (writer thread, cameras, clip assembly, stations, the process's typed
//!    status, which reports what the archive and the webhooks did), [`verify`], [`export`]
//! 6. [`web`] (HTTP)
//! 7. [`app`] (a recording process: stations + scanners + web + signals; the demo; benches)
//!
//! The library never prints (enforced with clippy's `print_stdout`/`print_stderr`); it logs
//! with `tracing` and returns [`Error`]s whose [`ErrorKind`] decides the exit code and the
//! HTTP status. Design notes: docs/design.md; on-disk formats: docs/format.md.

#![deny(clippy::print_stdout, clippy::print_stderr, clippy::dbg_macro)]

pub mod clock;
pub mod config;
pub mod datadir;
pub mod digest;
pub mod diskfile;
pub mod error;

pub mod codes;
pub mod log;
pub mod media;

pub mod anchor;
pub mod index;
pub mod retention;
pub mod scanners;

pub mod archive;
pub mod export;
pub mod notify;
pub mod provenance;
pub mod recorder;
pub mod verify;

pub mod web;

pub mod app;

pub use error::{Error, ErrorKind};
