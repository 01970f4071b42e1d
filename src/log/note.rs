//! Station signing key and C2SP signed notes / tlog checkpoints. No storage policy here beyond
//! the key file itself.
//!
//! Signed note (c2sp.org/signed-note): a text body of one or more lines, each ending in `\n`,
//! a blank line, then signature lines `— <key name> <base64(key id || signature)>\n`. The
//! Ed25519 key id is the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || public key).
//! Checkpoint body (c2sp.org/tlog-checkpoint): `<origin>\n<tree size>\n<base64 root>\n`.
//! Key files use the same text forms as Go's `golang.org/x/mod/sumdb/note`:
//! private `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`, public (verifier)
//! `<name>+<hex id>+<base64(0x01 || public key)>`.

use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

const ALG_ED25519: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    #[error("key file {path}: {what}")]
    KeyFile { path: String, what: String },
    #[error("signed note: {0}")]
    Note(String),
}

impl From<NoteError> for crate::Error {
    fn from(e: NoteError) -> crate::Error {
        let kind = match &e {
            NoteError::KeyFile { .. } => crate::ErrorKind::Invalid,
            NoteError::Note(_) => crate::ErrorKind::Corrupt,
        };
        crate::Error::new(kind, e)
    }
}

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('+')
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The station's Ed25519 signing key with its note key name (which is also the log origin).
pub struct StationKey {
    name: String,
    key: SigningKey,
}

impl StationKey {
    /// Loads the private key file, or creates it (mode 0600, never overwritten) with a fresh
    /// random key named `packwitness.local/<station>/<random>`.
    pub fn load_or_create(path: &Path, station: &str) -> Result<StationKey, NoteError> {
        let err = |what: String| NoteError::KeyFile {
            path: path.display().to_string(),
            what,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => return StationKey::parse(text.trim()).map_err(err),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(format!("cannot read it: {e}"))),
        }
        let key = StationKey::generate(station).map_err(err)?;
        key.save_new(path)?;
        tracing::info!(key = %path.display(), "new station signing key created");
        Ok(key)
    }

    /// A fresh random key named `packwitness.local/<station>/<random>` (not saved).
    pub fn generate(station: &str) -> Result<StationKey, String> {
        let mut tag = [0u8; 8];
        getrandom::getrandom(&mut tag).map_err(|e| format!("no randomness for a new key: {e}"))?;
        StationKey::generate_named(&format!(
            "packwitness.local/{station}/{}",
            crate::digest::hex(&tag)
        ))
    }

    /// A fresh random key with the key name `name` (not saved).
    pub fn generate_named(name: &str) -> Result<StationKey, String> {
        if !valid_name(name) {
            return Err(format!("{name:?} is not a valid key name"));
        }
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| format!("no randomness for a new key: {e}"))?;
        Ok(StationKey {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Reads an existing key file; never creates one.
    pub fn read(path: &Path) -> Result<StationKey, NoteError> {
        let err = |what: String| NoteError::KeyFile {
            path: path.display().to_string(),
            what,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        StationKey::parse(text.trim()).map_err(err)
    }

    /// Writes the key to a new file (mode 0600; an existing file is never overwritten).
    pub fn save_new(&self, path: &Path) -> Result<(), NoteError> {
        let err = |what: String| NoteError::KeyFile {
            path: path.display().to_string(),
            what,
        };
        if let Some(dir) = path.parent() {
            crate::datadir::create_dir_durable(dir)
                .map_err(|e| err(format!("cannot create its directory: {e}")))?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(path)
            .map_err(|e| err(format!("cannot create it: {e}")))?;
        f.write_all(format!("{}\n", self.private_text()).as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| err(format!("cannot write it: {e}")))?;
        if let Some(dir) = path.parent() {
            crate::datadir::sync_dir(dir)
                .map_err(|e| err(format!("fsync of its directory: {e}")))?;
        }
        Ok(())
    }

    /// The signing key of a data dir (`ledger.key_file`; a relative path is inside the data
    /// dir), created named after the config's first station if missing. One key signs the
    /// manifest of a data dir, whatever the number of its stations.
    pub fn for_data_dir(
        data_dir: &Path,
        config: &crate::config::Config,
    ) -> Result<StationKey, NoteError> {
        let path = crate::datadir::key_path(data_dir, &config.ledger.key_file);
        if config.ledger.key_file.as_os_str().is_empty() && path.starts_with(data_dir) {
            tracing::warn!(
                key = %path.display(),
                move_to = %crate::datadir::default_key_path(data_dir).display(),
                "the station key is inside the data dir: a copy of the clips is a copy of the key; move it beside the data dir (stop the recorder first)"
            );
        }
        StationKey::load_or_create(&path, &config.first_station().id)
    }

    pub(crate) fn parse(text: &str) -> Result<StationKey, String> {
        // The base64 key may itself contain '+': split off the first four fields only.
        let parts: Vec<&str> = text.splitn(5, '+').collect();
        let [p, k, name, id, data] = parts[..] else {
            return Err("not a PRIVATE+KEY+<name>+<id>+<key> line".into());
        };
        if p != "PRIVATE" || k != "KEY" || !valid_name(name) {
            return Err("not a PRIVATE+KEY+<name>+<id>+<key> line".into());
        }
        let raw = B64.decode(data).map_err(|e| format!("bad base64: {e}"))?;
        if raw.len() != 33 || raw[0] != ALG_ED25519 {
            return Err("not an Ed25519 key".into());
        }
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&raw[1..]);
        let key = StationKey {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        };
        if crate::digest::hex(&key.key_id()) != id {
            return Err("key id does not match the key".into());
        }
        Ok(key)
    }

    fn private_text(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(&self.key.to_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            crate::digest::hex(&self.key_id()),
            B64.encode(raw)
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, self.key.verifying_key().as_bytes())
    }

    /// The public verifier key, `<name>+<hex id>+<base64(0x01 || public key)>`.
    pub fn verifier(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.verifying_key().as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            crate::digest::hex(&self.key_id()),
            B64.encode(raw)
        )
    }

    /// Signs a note body (which must end in `\n`) and returns the whole signed note.
    pub fn sign(&self, body: &str) -> String {
        let sig = self.key.sign(body.as_bytes());
        let mut raw = self.key_id().to_vec();
        raw.extend_from_slice(&sig.to_bytes());
        format!("{body}\n\u{2014} {} {}\n", self.name, B64.encode(raw))
    }
}

/// A public key that checks signed notes.
#[derive(Debug, Clone)]
pub struct NoteVerifier {
    pub name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    pub fn parse(text: &str) -> Result<NoteVerifier, NoteError> {
        let bad = |w: &str| NoteError::Note(format!("public key {text:?}: {w}"));
        let parts: Vec<&str> = text.trim().splitn(3, '+').collect();
        let [name, id, data] = parts[..] else {
            return Err(bad("not <name>+<id>+<key>"));
        };
        if !valid_name(name) {
            return Err(bad("bad key name"));
        }
        let raw = B64.decode(data).map_err(|_| bad("bad base64"))?;
        if raw.len() != 33 || raw[0] != ALG_ED25519 {
            return Err(bad("not an Ed25519 key"));
        }
        let mut pk = [0u8; 32];
        pk.copy_from_slice(&raw[1..]);
        let key = VerifyingKey::from_bytes(&pk).map_err(|_| bad("invalid Ed25519 point"))?;
        let kid = key_id(name, &pk);
        if crate::digest::hex(&kid) != id {
            return Err(bad("key id does not match the key"));
        }
        Ok(NoteVerifier {
            name: name.to_string(),
            id: kid,
            key,
        })
    }

    /// The key in its text form, `<name>+<hex id>+<base64(0x01 || public key)>`.
    pub fn text(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            crate::digest::hex(&self.id),
            B64.encode(raw)
        )
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Checks that `note` carries a valid signature by this key; returns the signed body.
    /// The body ends at the note's last blank line (c2sp.org/signed-note); signature lines
    /// of other keys (witness cosignatures, say) are skipped.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| NoteError::Note("no blank line before the signatures".into()))?;
        let body = &note[..split + 1];
        for line in note[split + 2..].lines() {
            let Some(rest) = line.strip_prefix("\u{2014} ") else {
                continue;
            };
            let Some((name, sig)) = rest.split_once(' ') else {
                continue;
            };
            if name != self.name {
                continue;
            }
            let Ok(raw) = B64.decode(sig) else { continue };
            if raw.len() != 68 || raw[..4] != self.id {
                continue;
            }
            let Ok(sig) = Signature::from_slice(&raw[4..]) else {
                continue;
            };
            if self.key.verify(body.as_bytes(), &sig).is_ok() {
                return Ok(body);
            }
            return Err(NoteError::Note(format!(
                "signature by {} does not verify",
                self.name
            )));
        }
        Err(NoteError::Note(format!("no signature by {}", self.name)))
    }
}

/// A tlog checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Extension line `time <RFC 3339>`: when the checkpoint was written.
    pub time: Option<String>,
    /// Extension line `salt <hex>` (manifest version 3): the salt of the checkpoint's own
    /// record, so that the signature covers that record down to the last byte.
    pub salt: Option<String>,
}

impl Checkpoint {
    pub fn body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        if let Some(t) = &self.time {
            body.push_str(&format!("time {t}\n"));
        }
        if let Some(salt) = &self.salt {
            body.push_str(&format!("salt {salt}\n"));
        }
        body
    }

    pub fn parse(body: &str) -> Result<Checkpoint, NoteError> {
        let mut lines = body.lines();
        let bad = |w: &str| NoteError::Note(format!("checkpoint: {w}"));
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| bad("no origin line"))?;
        let size = lines
            .next()
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| bad("bad tree size line"))?;
        let root_raw = lines
            .next()
            .and_then(|l| B64.decode(l).ok())
            .ok_or_else(|| bad("bad root hash line"))?;
        let root: Hash = root_raw
            .try_into()
            .map_err(|_| bad("root hash is not 32 bytes"))?;
        let (mut time, mut salt) = (None, None);
        for l in lines {
            if let Some(t) = l.strip_prefix("time ") {
                time.get_or_insert_with(|| t.to_string());
            } else if let Some(t) = l.strip_prefix("salt ") {
                salt.get_or_insert_with(|| t.to_string());
            }
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            time,
            salt,
        })
    }
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn unb64(text: &str) -> Option<Vec<u8>> {
    B64.decode(text.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trip_sign_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/station.key");
        let k = StationKey::load_or_create(&path, "st-1").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let again = StationKey::load_or_create(&path, "st-1").unwrap();
        assert_eq!(k.verifier(), again.verifier());
        assert!(k.name().starts_with("packwitness.local/st-1/"));
        let cp = Checkpoint {
            origin: k.name().into(),
            size: 7,
            root: [9; 32],
            time: Some("2026-11-25T21:00:00.000+00:00".into()),
            salt: Some("00112233445566778899aabbccddeeff".into()),
        };
        let note = k.sign(&cp.body());
        let v = NoteVerifier::parse(&k.verifier()).unwrap();
        let body = v.open(&note).unwrap();
        assert_eq!(Checkpoint::parse(body).unwrap(), cp);
        // Any change to the body breaks the signature.
        let forged = note.replacen("\n7\n", "\n8\n", 1);
        assert!(v.open(&forged).is_err());
        // Another key does not verify it.
        let other = StationKey::load_or_create(&dir.path().join("other.key"), "st-1").unwrap();
        assert!(NoteVerifier::parse(&other.verifier())
            .unwrap()
            .open(&note)
            .is_err());
    }

    #[test]
    fn key_id_matches_go_sumdb_note_vector() {
        // Vector from golang.org/x/mod/sumdb/note's documentation: the verifier key
        // "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW" has id c74f20a3.
        let v = NoteVerifier::parse(
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        )
        .unwrap();
        assert_eq!(v.name, "PeterNeumann");
        let note = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        assert_eq!(
            v.open(note).unwrap(),
            "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
        );
    }
}
