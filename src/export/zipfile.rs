//! The zip of a bundle as it is written: each file added once, its SHA-256 remembered for
//! `bundle.note`, each cited manifest line with its inclusion proof.
//!
//! Owns: the zip's entries (compressed or stored, Zip64 for large clips, `verify.sh`
//! executable), the file hashes, the clips' names and their `SHA256SUMS` list. Never: decides what goes into a bundle (the builder in
//! [`super`] does) or reads a clip from anywhere but the reader it is given.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::{bad, RecordRef};
use crate::digest;
use crate::error::Error;
use crate::log::proof;
use crate::log::reader::{Checkpointed, LogReader};

/// A zip being written, remembering every file's SHA-256 for `bundle.note`.
pub(super) struct Bundle {
    zip: zip::ZipWriter<std::fs::File>,
    path: PathBuf,
    pub(super) hashes: BTreeMap<String, String>,
    pub(super) stills: BTreeMap<String, Vec<u8>>,
    /// The inclusion proofs against the bundle's checkpoint (for the report's own check).
    pub(super) proofs: BTreeMap<String, String>,
    /// Clip file names used so far (two clips never share a name inside the bundle), and
    /// the `SHA256SUMS` list of the clips added.
    clip_names: BTreeMap<String, u32>,
    pub(super) sums: String,
}

impl Bundle {
    pub(super) fn new(file: std::fs::File, path: &Path) -> Bundle {
        Bundle {
            zip: zip::ZipWriter::new(file),
            path: path.to_owned(),
            hashes: BTreeMap::new(),
            stills: BTreeMap::new(),
            proofs: BTreeMap::new(),
            clip_names: BTreeMap::new(),
            sums: String::new(),
        }
    }

    fn err(&self, what: String) -> Error {
        bad(&self.path, what)
    }

    fn start(&mut self, name: &str, compress: bool, large: bool) -> Result<(), Error> {
        let method = if compress {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(method)
            .large_file(large)
            .unix_permissions(if name.ends_with(".sh") { 0o755 } else { 0o644 });
        self.zip
            .start_file(name, opts)
            .map_err(|e| self.err(format!("cannot add {name}: {e}")))
    }

    pub(super) fn add(&mut self, name: &str, bytes: &[u8], compress: bool) -> Result<(), Error> {
        self.start(name, compress, false)?;
        self.zip
            .write_all(bytes)
            .map_err(|e| self.err(format!("cannot write {name}: {e}")))?;
        self.hashes
            .insert(name.to_string(), digest::sha256_hex(bytes));
        if name.starts_with("stills/") {
            self.stills.insert(name.to_string(), bytes.to_vec());
        }
        Ok(())
    }

    /// Copies a file in (stored, not compressed: video does not compress), hashing as it goes.
    pub(super) fn add_reader(
        &mut self,
        name: &str,
        input: &mut impl Read,
        large: bool,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), Error> {
        use sha2::Digest;
        self.start(name, false, large)?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            let got = input
                .read(&mut buf)
                .map_err(|e| self.err(format!("reading for {name}: {e}")))?;
            if got == 0 {
                break;
            }
            hasher.update(&buf[..got]);
            self.zip
                .write_all(&buf[..got])
                .map_err(|e| self.err(format!("cannot write {name}: {e}")))?;
            n += got as u64;
            progress(n);
        }
        self.hashes
            .insert(name.to_string(), digest::hex(&hasher.finalize()));
        Ok(())
    }

    /// Copies the clip `src` in, byte for byte, under the name of its file in the data dir
    /// (`file`, clip `clip`), and lists it in `SHA256SUMS` with its sealed `sha256`; returns
    /// its name in the bundle.
    pub(super) fn add_clip(
        &mut self,
        file: &str,
        clip: u64,
        sha256: Option<&str>,
        src: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> Result<String, Error> {
        let base = Path::new(file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("clip{clip}.mp4"));
        let n = self.clip_names.entry(base.clone()).or_insert(0u32);
        *n += 1;
        let name = if *n == 1 {
            format!("clips/{base}")
        } else {
            format!("clips/{base}-{n}")
        };
        let mut input =
            std::fs::File::open(src).map_err(|e| bad(src, format!("cannot read the clip: {e}")))?;
        self.add_reader(&name, &mut input, true, progress)?;
        if let Some(sha) = sha256 {
            self.sums.push_str(&format!("{sha}  {name}\n"));
        }
        Ok(name)
    }

    /// Adds a line read elsewhere (the archive) with its proof file, once.
    pub(super) fn cite_given(
        &mut self,
        line: u64,
        kind: &str,
        bytes: &[u8],
        proof_text: &str,
    ) -> Result<RecordRef, Error> {
        let record = format!("records/line-{line}.jsonl");
        let proof = format!("proofs/line-{line}.tlog-proof");
        if !self.hashes.contains_key(&record) {
            self.add(&record, bytes, true)?;
            self.add(&proof, proof_text.as_bytes(), true)?;
            self.proofs.insert(proof.clone(), proof_text.to_string());
        }
        Ok(RecordRef {
            line,
            kind: kind.to_string(),
            record,
            proof,
        })
    }

    /// Adds a manifest line and its proof against `cp`.
    pub(super) fn cite(
        &mut self,
        reader: &LogReader,
        cp: &Checkpointed,
        line: u64,
        kind: &str,
    ) -> Result<RecordRef, Error> {
        let bytes = reader.line(line)?;
        self.cite_read(reader, cp, line, kind, &bytes)
    }

    /// [`Self::cite`] of a line the caller has already read (`bytes`).
    pub(super) fn cite_read(
        &mut self,
        reader: &LogReader,
        cp: &Checkpointed,
        line: u64,
        kind: &str,
        bytes: &[u8],
    ) -> Result<RecordRef, Error> {
        if self
            .hashes
            .contains_key(&format!("records/line-{line}.jsonl"))
        {
            return self.cite_given(line, kind, bytes, "");
        }
        let proof_text = proof::prove(reader, cp, line)?;
        self.cite_given(line, kind, bytes, &proof_text)
    }

    pub(super) fn finish(self) -> Result<std::fs::File, Error> {
        let path = self.path.clone();
        self.zip
            .finish()
            .map_err(|e| bad(&path, format!("cannot finish the bundle: {e}")))
    }
}
