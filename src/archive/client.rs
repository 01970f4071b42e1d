//! The station's HTTP client of its archive: one `reqwest` client (rustls), the token on
//! every request, a timeout on each, and the answers of the push protocol ([`super::wire`])
//! as values: the log held, a push's receipt, a clip stored (whole or in parts), anchors
//! stored.
//!
//! Owns: the requests and how their answers read. Never: decides what to send or when (the
//! uploader in [`super::push`] does), or sends over plain HTTP beyond loopback unless the
//! config says so.

use std::path::Path;
use std::time::Duration;

use super::wire::{self, LogHeld, PushAnchors, PushLines};
use super::ArchiveError;
use crate::anchor::cosign::WitnessVerifier;
use crate::config::ArchiveConfig;

/// An HTTP client of one archive for one station.
pub struct Client {
    pub(super) url: String,
    token: String,
    http: reqwest::blocking::Client,
    pub(super) verifier: Option<WitnessVerifier>,
    /// The witnesses whose cosignatures are sent: key ID and verifier key.
    pub(super) witnesses: Vec<(String, String)>,
    /// Clips larger than this go in parts.
    pub(super) multipart_bytes: u64,
}

impl Client {
    pub fn new(cfg: &ArchiveConfig) -> Result<Client, ArchiveError> {
        let url = cfg.url.trim_end_matches('/').to_string();
        if url.starts_with("http://") {
            if !cfg.allow_http && !crate::config::is_loopback_url(&url) {
                return Err(ArchiveError::Config(format!(
                    "[archive] url = {url:?}: plain http:// only to a loopback address; use https://, or set [archive] allow_http = true on a private network you trust"
                )));
            }
        } else if !url.starts_with("https://") {
            return Err(ArchiveError::Config(format!(
                "[archive] url = {url:?} is not an https:// (or http://) address"
            )));
        }
        if cfg.token.trim().is_empty() {
            return Err(ArchiveError::Config(
                "[archive] token is empty: put the last line `packwitness archive add-station` printed".into(),
            ));
        }
        let verifier = if cfg.key.trim().is_empty() {
            None
        } else {
            Some(WitnessVerifier::parse(&cfg.key).map_err(|e| {
                ArchiveError::Config(format!(
                    "[archive] key is not the archive's verifier key: {e}"
                ))
            })?)
        };
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(None)
            .build()
            .map_err(|e| ArchiveError::Config(format!("cannot make an HTTPS client: {e}")))?;
        Ok(Client {
            url,
            token: cfg.token.trim().to_string(),
            http,
            verifier,
            witnesses: Vec::new(),
            multipart_bytes: cfg.multipart_mb.max(1) << 20,
        })
    }

    /// Sends the cosignatures of the witnesses `[anchor]` names too (those of a witness no
    /// longer configured stay at the station: without its key the archive cannot check them).
    pub fn with_witnesses(mut self, anchor: &crate::config::AnchorConfig) -> Client {
        self.witnesses = anchor
            .witness
            .iter()
            .filter(|w| WitnessVerifier::parse(&w.key).is_ok())
            .map(|w| {
                (
                    crate::anchor::witness_client::witness_id(&w.key),
                    w.key.trim().to_string(),
                )
            })
            .collect();
        self
    }

    fn unreachable(&self, e: reqwest::Error) -> ArchiveError {
        ArchiveError::Unreachable {
            url: self.url.clone(),
            what: crate::anchor::http::chain(&e),
        }
    }

    /// Sends `req` with the token and a `timeout`; the answer's status and text.
    fn call(
        &self,
        req: reqwest::blocking::RequestBuilder,
        timeout: Duration,
    ) -> Result<(u16, String), ArchiveError> {
        let r = req
            .bearer_auth(&self.token)
            .timeout(timeout)
            .send()
            .map_err(|e| self.unreachable(e))?;
        let status = r.status().as_u16();
        let text = r.text().map_err(|e| self.unreachable(e))?;
        Ok((status, text))
    }

    fn refused(&self, status: u16, text: String) -> ArchiveError {
        ArchiveError::Answer {
            url: self.url.clone(),
            status,
            text: text.trim().to_string(),
        }
    }

    /// `GET /v1/log`.
    pub fn held(&self) -> Result<LogHeld, ArchiveError> {
        self.held_within(Duration::from_secs(30))
    }

    /// `GET /v1/log`, answered within `timeout`.
    pub fn held_within(&self, timeout: Duration) -> Result<LogHeld, ArchiveError> {
        let (status, text) = self.call(self.http.get(format!("{}/v1/log", self.url)), timeout)?;
        if status != 200 {
            return Err(self.refused(status, text));
        }
        serde_json::from_str(&text)
            .map_err(|e| self.refused(status, format!("not a log state: {e}")))
    }

    /// `POST /v1/log`: 200 → the cosignature line; 409 → the size held; other → error.
    pub fn push(&self, req: &PushLines) -> Result<Pushed, ArchiveError> {
        let (status, text) = self.call(
            self.http
                .post(format!("{}/v1/log", self.url))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(req).unwrap_or_default()),
            Duration::from_secs(120),
        )?;
        match status {
            200 => Ok(Pushed::Cosigned(text)),
            409 => text
                .trim()
                .parse()
                .map(Pushed::Holds)
                .map_err(|_| self.refused(status, text)),
            422 => Ok(Pushed::Refused(text.trim().to_string())),
            _ => Err(self.refused(status, text)),
        }
    }

    /// `PUT /v1/clips/<sha256>` with the file's bytes.
    pub fn put_clip(&self, path: &Path, sha256: &str, size: u64) -> Result<Sent, ArchiveError> {
        let file = std::fs::File::open(path).map_err(|e| ArchiveError::Io {
            path: path.display().to_string(),
            what: format!("cannot open the clip to archive it: {e}"),
        })?;
        let (status, text) = self.call(
            self.http
                .put(format!("{}/v1/clips/{sha256}", self.url))
                .header(reqwest::header::CONTENT_TYPE, "video/mp4")
                .body(reqwest::blocking::Body::sized(file, size)),
            // A clip at 1 MB/s at least, and never less than 2 minutes.
            Duration::from_secs(120 + size / 1_000_000),
        )?;
        match status {
            200 => Ok(Sent::Stored),
            422 => Ok(Sent::Mismatch(text.trim().to_string())),
            _ => Err(self.refused(status, text)),
        }
    }

    fn upload_state(&self, status: u16, text: &str) -> Result<wire::UploadState, ArchiveError> {
        serde_json::from_str(text)
            .map_err(|e| self.refused(status, format!("not an upload's state: {e}: {text}")))
    }

    /// A large clip in parts (`/v1/clips/<sha256>/upload...`), from where the archive says its
    /// upload is: a restart of either side goes on from the next part it lacks. One part's
    /// reader at a time; each part's SHA-256 goes with it for the store to check.
    pub fn put_clip_in_parts(
        &self,
        path: &Path,
        sha256: &str,
        size: u64,
    ) -> Result<Sent, ArchiveError> {
        use std::io::{Read, Seek, SeekFrom};
        let base = format!("{}/v1/clips/{sha256}", self.url);
        let (status, text) = self.call(
            self.http.post(format!("{base}/upload")),
            Duration::from_secs(30),
        )?;
        if status != 200 {
            return Err(self.refused(status, text));
        }
        let mut state = self.upload_state(status, &text)?;
        let io = |what: &str, e: std::io::Error| ArchiveError::Io {
            path: path.display().to_string(),
            what: format!("{what}: {e}"),
        };
        // Each round sends a part or completes; a part refused twice in a row stops here.
        let mut tries = 0;
        while tries < 2 * state.parts as usize + 4 {
            tries += 1;
            if state.stored {
                return Ok(Sent::Stored);
            }
            if state.next_part > state.parts {
                let (status, text) = self.call(
                    self.http.post(format!("{base}/complete")),
                    Duration::from_secs(300),
                )?;
                return match status {
                    200 => Ok(Sent::Stored),
                    422 => Ok(Sent::Mismatch(text.trim().to_string())),
                    409 => {
                        state = self.upload_state(status, &text)?;
                        continue;
                    }
                    _ => Err(self.refused(status, text)),
                };
            }
            let n = state.next_part;
            let from = u64::from(n - 1) * state.part_size;
            let len = size.saturating_sub(from).min(state.part_size);
            let open = || -> Result<std::io::Take<std::fs::File>, ArchiveError> {
                let mut f = std::fs::File::open(path)
                    .map_err(|e| io("cannot open the clip to archive it", e))?;
                f.seek(SeekFrom::Start(from))
                    .map_err(|e| io("cannot read the clip", e))?;
                Ok(f.take(len))
            };
            let (sum, read) = crate::digest::sha256_reader(&mut open()?)
                .map_err(|e| io("cannot read the clip", e))?;
            if read != len {
                return Err(io(
                    "the clip is shorter than its seal says",
                    std::io::ErrorKind::UnexpectedEof.into(),
                ));
            }
            let (status, text) = self.call(
                self.http
                    .put(format!("{base}/upload/{n}"))
                    .header("x-packwitness-sha256", &sum)
                    .body(reqwest::blocking::Body::sized(open()?, len)),
                Duration::from_secs(120 + len / 1_000_000),
            )?;
            match status {
                200 | 409 => state = self.upload_state(status, &text)?,
                _ => return Err(self.refused(status, text)),
            }
        }
        Err(self.refused(
            409,
            format!("the upload of {sha256} does not move on; it is tried again later"),
        ))
    }

    /// `POST /v1/anchors`: 200 → how many are stored; 404 and 409 (the archive lacks the
    /// lines yet) → `Ok(None)`; 422 → `Err` with why.
    pub fn push_anchors(&self, req: &PushAnchors) -> Result<AnchorsSent, ArchiveError> {
        let (status, text) = self.call(
            self.http
                .post(format!("{}/v1/anchors", self.url))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(req).unwrap_or_default()),
            Duration::from_secs(120),
        )?;
        match status {
            200 => serde_json::from_str::<wire::AnchorsStored>(&text)
                .map(|a| AnchorsSent::Stored(a.stored))
                .map_err(|e| self.refused(status, format!("not an answer to anchors: {e}"))),
            404 | 409 => Ok(AnchorsSent::NotYet(text.trim().to_string())),
            422 => Ok(AnchorsSent::Refused(text.trim().to_string())),
            _ => Err(self.refused(status, text)),
        }
    }

    /// The archive's address.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `GET /v1/clips/<sha256>`: how the archive holds the clip, if it does.
    pub fn stored(&self, sha256: &str) -> Result<Option<wire::ClipStored>, ArchiveError> {
        // Retention waits on it: a short answer or none.
        let (status, text) = self.call(
            self.http.get(format!("{}/v1/clips/{sha256}", self.url)),
            Duration::from_secs(3),
        )?;
        match status {
            200 => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| self.refused(status, format!("not a stored clip: {e}"))),
            404 => Ok(None),
            _ => Err(self.refused(status, text)),
        }
    }

    /// `GET /v1/clips/<sha256>/bytes`: a clip of this station that it no longer has (pruned,
    /// or lost with its disk), copied from the archive into `dest` and checked on the way
    /// against `sha256` (the seal's); `Ok(None)` when the archive does not hold it. A copy
    /// whose bytes are not the sealed ones is removed and an error.
    pub fn fetch_clip(&self, sha256: &str, dest: &Path) -> Result<Option<u64>, ArchiveError> {
        use sha2::Digest;
        use std::io::{Read, Write};
        let io = |what: String| ArchiveError::Io {
            path: dest.display().to_string(),
            what,
        };
        let mut r = self
            .http
            .get(format!("{}/v1/clips/{sha256}/bytes", self.url))
            .bearer_auth(&self.token)
            .send()
            .map_err(|e| self.unreachable(e))?;
        match r.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            status => {
                let text = r.text().unwrap_or_default();
                return Err(self.refused(status, text));
            }
        }
        let mut file = std::fs::File::create(dest).map_err(|e| {
            io(format!(
                "cannot write the clip fetched from the archive: {e}"
            ))
        })?;
        let (mut hash, mut size, mut buf) = (sha2::Sha256::new(), 0u64, vec![0u8; 1 << 16]);
        loop {
            let n = r.read(&mut buf).map_err(|e| ArchiveError::Unreachable {
                url: self.url.clone(),
                what: format!("reading clip {sha256}: {e}"),
            })?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            file.write_all(&buf[..n]).map_err(|e| {
                io(format!(
                    "cannot write the clip fetched from the archive: {e}"
                ))
            })?;
            size += n as u64;
        }
        let got = crate::digest::hex(&hash.finalize());
        if got != sha256 {
            drop(file);
            let _ = std::fs::remove_file(dest);
            return Err(self.refused(
                200,
                format!("clip {sha256} came with other bytes (SHA-256 {got}): not the sealed clip"),
            ));
        }
        Ok(Some(size))
    }

    /// `POST /v1/clips/<sha256>/gone`.
    pub fn gone(&self, sha256: &str, why: &str) -> Result<(), ArchiveError> {
        let (status, text) = self.call(
            self.http
                .post(format!("{}/v1/clips/{sha256}/gone", self.url))
                .body(why.to_string()),
            Duration::from_secs(30),
        )?;
        if status != 200 {
            return Err(self.refused(status, text));
        }
        Ok(())
    }
}

/// How a push ended.
#[derive(Debug)]
pub enum Pushed {
    /// The archive's cosignature line (the receipt).
    Cosigned(String),
    /// The archive holds this many lines (another size than we sent from).
    Holds(u64),
    /// Refused as a fork or a rewrite, with why.
    Refused(String),
}

/// How sending anchors ended.
#[derive(Debug)]
pub enum AnchorsSent {
    /// This many of those sent are stored (all of them).
    Stored(u64),
    /// The archive lacks the lines they are of (sent again after the next push).
    NotYet(String),
    /// One is not what it claims (those before it are stored), with why.
    Refused(String),
}

/// How a clip's upload ended.
#[derive(Debug)]
pub enum Sent {
    Stored,
    /// The store found other bytes than the seal names.
    Mismatch(String),
}
