//! Witness cosignatures (c2sp.org/tlog-cosignature, Ed25519): a witness's timestamped
//! signature over a checkpoint it checked to be consistent with every earlier one it saw.
//!
//! Owns: the witness key (file `PRIVATE+KEY+<name>+<id>+<base64(0x04 || seed)>`), its verifier
//! key (`<name>+<id>+<base64(0x04 || public key)>`, the key ID being the first 4 bytes of
//! SHA-256(name, newline, 0x04, public key)), making a cosignature line and checking one.
//! The signed message is `cosignature/v1\ntime <unix seconds>\n` followed by the checkpoint
//! note's body; the signature line carries `key ID || u64 big-endian timestamp || signature`.

use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::Digest;

use super::AnchorError;

const ALG_COSIGNATURE: u8 = 0x04;

fn bad(what: impl Into<String>) -> AnchorError {
    AnchorError::Config(what.into())
}

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = sha2::Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_COSIGNATURE]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A name for a new cosigning key that no other key is likely to carry:
/// `<kind>.<host>.packwitness.local/<8 random hex digits>` (the host name as the kernel has
/// it, reduced to letters, digits, `-` and `.`).
pub fn default_name(kind: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        .collect::<String>();
    let host = if host.is_empty() { "host".into() } else { host };
    let mut tag = [0u8; 4];
    let _ = getrandom::getrandom(&mut tag);
    format!(
        "{kind}.{host}.packwitness.local/{}",
        crate::digest::hex(&tag)
    )
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['+', ' ', '\n']) && name.is_ascii()
}

/// The message a cosignature signs.
fn message(body: &str, time: u64) -> String {
    format!("cosignature/v1\ntime {time}\n{body}")
}

/// A witness's signing key.
pub struct WitnessKey {
    name: String,
    key: SigningKey,
}

impl WitnessKey {
    /// Loads the key file, or creates it (mode 0600) with a fresh key named `name`.
    pub fn load_or_create(path: &Path, name: &str) -> Result<WitnessKey, AnchorError> {
        let io = |e: std::io::Error| super::io(path, e);
        match std::fs::read_to_string(path) {
            Ok(text) => return WitnessKey::parse(text.trim()).map_err(|e| super::io(path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        if !valid_name(name) {
            return Err(bad(format!("{name:?} is not a valid witness key name")));
        }
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| bad(format!("no randomness: {e}")))?;
        let key = WitnessKey {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        };
        if let Some(dir) = path.parent() {
            crate::datadir::create_dir_durable(dir).map_err(io)?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(io)?;
        let mut raw = vec![ALG_COSIGNATURE];
        raw.extend_from_slice(&key.key.to_bytes());
        let id = crate::digest::hex(&key_id(&key.name, &key.key.verifying_key().to_bytes()));
        f.write_all(format!("PRIVATE+KEY+{}+{id}+{}\n", key.name, B64.encode(raw)).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io)?;
        Ok(key)
    }

    fn parse(text: &str) -> Result<WitnessKey, String> {
        let parts: Vec<&str> = text.splitn(5, '+').collect();
        let ["PRIVATE", "KEY", name, _, data] = parts[..] else {
            return Err("not a PRIVATE+KEY+<name>+<id>+<key> line".into());
        };
        let raw = B64.decode(data).map_err(|e| format!("bad base64: {e}"))?;
        if raw.len() != 33 || raw[0] != ALG_COSIGNATURE {
            return Err("not an Ed25519 cosignature key".into());
        }
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&raw[1..]);
        Ok(WitnessKey {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key to publish: `<name>+<hex id>+<base64(0x04 || public key)>`.
    pub fn verifier(&self) -> String {
        let pk = self.key.verifying_key().to_bytes();
        let mut raw = vec![ALG_COSIGNATURE];
        raw.extend_from_slice(&pk);
        format!(
            "{}+{}+{}",
            self.name,
            crate::digest::hex(&key_id(&self.name, &pk)),
            B64.encode(raw)
        )
    }

    /// A cosignature line (with its newline) over the checkpoint note body `body` at `time`.
    pub fn cosign(&self, body: &str, time: u64) -> String {
        let sig = self.key.sign(message(body, time).as_bytes());
        let mut raw = key_id(&self.name, &self.key.verifying_key().to_bytes()).to_vec();
        raw.extend_from_slice(&time.to_be_bytes());
        raw.extend_from_slice(&sig.to_bytes());
        format!("\u{2014} {} {}\n", self.name, B64.encode(raw))
    }
}

/// A witness's public key, as configured (`[[anchor.witness]] key`) or given to a checker.
#[derive(Debug, Clone)]
pub struct WitnessVerifier {
    pub name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl WitnessVerifier {
    pub fn parse(text: &str) -> Result<WitnessVerifier, AnchorError> {
        let b = |w: &str| bad(format!("witness key {text:?}: {w}"));
        let parts: Vec<&str> = text.trim().splitn(3, '+').collect();
        let [name, id, data] = parts[..] else {
            return Err(b("not <name>+<id>+<key>"));
        };
        let raw = B64.decode(data).map_err(|_| b("bad base64"))?;
        if raw.len() != 33 || raw[0] != ALG_COSIGNATURE {
            return Err(b("not an Ed25519 cosignature key (type 0x04)"));
        }
        let mut pk = [0u8; 32];
        pk.copy_from_slice(&raw[1..]);
        let key = VerifyingKey::from_bytes(&pk).map_err(|_| b("invalid Ed25519 point"))?;
        let kid = key_id(name, &pk);
        if crate::digest::hex(&kid) != id {
            return Err(b("key id does not match the key"));
        }
        Ok(WitnessVerifier {
            name: name.to_string(),
            id: kid,
            key,
        })
    }

    /// The key ID (8 hex digits): with the name, what tells one witness from another.
    pub fn key_id(&self) -> String {
        crate::digest::hex(&self.id)
    }

    /// The time of this witness's valid cosignature on `note` (a signed note: body, blank
    /// line, signature lines), if it has one. Other lines are ignored.
    pub fn cosigned(&self, note: &str) -> Option<u64> {
        let split = note.rfind("\n\n")?;
        let body = &note[..split + 1];
        note[split + 2..]
            .lines()
            .find_map(|l| self.check_line(body, l))
    }

    /// Checks one signature line over `body`; its timestamp when it is this witness's.
    pub fn check_line(&self, body: &str, line: &str) -> Option<u64> {
        let rest = line.strip_prefix("\u{2014} ")?;
        let (name, sig) = rest.split_once(' ')?;
        if name != self.name {
            return None;
        }
        let raw = B64.decode(sig.trim()).ok()?;
        if raw.len() != 4 + 8 + 64 || raw[..4] != self.id {
            return None;
        }
        let time = u64::from_be_bytes(raw[4..12].try_into().ok()?);
        let sig = Signature::from_slice(&raw[12..]).ok()?;
        self.key
            .verify(message(body, time).as_bytes(), &sig)
            .ok()
            .map(|()| time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosignatures_verify_and_tampering_fails() {
        let dir = tempfile::tempdir().unwrap();
        let k =
            WitnessKey::load_or_create(&dir.path().join("w.key"), "witness.example/w1").unwrap();
        // Loaded again: the same key.
        let again = WitnessKey::load_or_create(&dir.path().join("w.key"), "other").unwrap();
        assert_eq!(k.verifier(), again.verifier());
        let v = WitnessVerifier::parse(&k.verifier()).unwrap();
        let body = "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let station = "\u{2014} example.com/log AAAA\n";
        let note = format!("{body}\n{station}{}", k.cosign(body, 1_679_315_147));
        assert_eq!(v.cosigned(&note), Some(1_679_315_147));
        // Another body, another time or another key: no cosignature.
        let other = note.replacen("\n5\n", "\n6\n", 1);
        assert_eq!(v.cosigned(&other), None);
        let line = k.cosign(body, 7);
        let mut raw = B64.decode(line.trim().rsplit(' ').next().unwrap()).unwrap();
        raw[11] ^= 1;
        let forged = format!("\u{2014} witness.example/w1 {}", B64.encode(raw));
        assert_eq!(v.check_line(body, &forged), None);
        assert!(WitnessVerifier::parse("witness.example/w1+00000000+AQ==").is_err());
    }
}
