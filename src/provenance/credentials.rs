//! C2PA content credentials: signing a manifest into a copy of a file, and reading one.
//!
//! A manifest packwitness signs holds two assertions: `c2pa.actions` (how the file came to
//! be: `c2pa.created` from a digital capture for a clip or a still; for the MP4 for upload,
//! the sealed clips placed, trimmed and re-encoded) and [`EVIDENCE_LABEL`], the packwitness
//! evidence (order, station, camera, times, and for a bundle's files the `clip_sealed` record,
//! its inclusion proof, the checkpoint and its anchors), so that any C2PA reader shows where
//! the file came from and packwitness's checkers can go on to prove it. docs/format.md
//! ("Content credentials") documents the assertion.

use std::io::{Read, Seek, Write};
use std::path::Path;

use serde::Serialize;

use super::{file_err, ProvenanceError};
use crate::config::Config;

/// The label of the packwitness assertion.
pub const EVIDENCE_LABEL: &str = "org.packwitness.evidence";
/// Its version (a field of the assertion).
pub const EVIDENCE_VERSION: u32 = 1;
/// IPTC digital source types.
pub const DIGITAL_CAPTURE: &str = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture";
pub const COMPOSITE_CAPTURE: &str =
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeCapture";
/// The source types that declare a file made (or partly made) by a trained model.
pub const AI_SOURCE_TYPES: [&str; 3] = [
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia",
    "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia",
];

/// What one signed file says: its title and media type, its actions and ingredients (C2PA
/// manifest-definition JSON), and the packwitness evidence assertion.
pub struct Claim {
    pub title: String,
    /// `video/mp4` or `image/jpeg`.
    pub format: &'static str,
    pub actions: Vec<serde_json::Value>,
    pub ingredients: Vec<serde_json::Value>,
    pub evidence: serde_json::Value,
}

impl Claim {
    /// A file captured by the station's camera (a clip, a still of it).
    pub fn captured(title: String, format: &'static str, evidence: serde_json::Value) -> Claim {
        Claim {
            title,
            format,
            actions: vec![serde_json::json!({
                "action": "c2pa.created",
                "digitalSourceType": DIGITAL_CAPTURE,
                "softwareAgent": {"name": "packwitness", "version": env!("CARGO_PKG_VERSION")},
            })],
            ingredients: Vec::new(),
            evidence,
        }
    }
}

/// The signing algorithm, from the certificate's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Alg {
    Es256,
    Ed25519,
}

/// The merchant's signing identity (`[c2pa]`), ready to sign.
pub struct Signing {
    cert: Vec<u8>,
    key: Vec<u8>,
    alg: Alg,
    /// The signing certificate's subject, for messages and reports.
    pub subject: String,
    tsa: Vec<String>,
    #[cfg_attr(not(feature = "c2pa"), allow(dead_code))]
    tsa_roots: Vec<x509_cert::Certificate>,
}

/// A 16x16 grey JPEG, signed to check a certificate and key.
const PROBE_JPEG: &[u8] = include_bytes!("probe.jpg");

const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const ED25519: &str = "1.3.101.112";

impl Signing {
    /// From `[c2pa]`; `None` when no certificate is configured. The certificate and key are
    /// read now, so that a wrong path or key stops the start, not the first export.
    pub fn from_config(config: &Config) -> Result<Option<Signing>, ProvenanceError> {
        let c = &config.c2pa;
        if c.cert.is_empty() {
            return Ok(None);
        }
        if c.key.is_empty() {
            return Err(ProvenanceError::Config(
                "cert is set but key is not: give the PKCS#8 PEM file of its private key".into(),
            ));
        }
        let cert = std::fs::read(&c.cert)
            .map_err(|e| ProvenanceError::Config(format!("cannot read cert {}: {e}", c.cert)))?;
        let key = std::fs::read(&c.key)
            .map_err(|e| ProvenanceError::Config(format!("cannot read key {}: {e}", c.key)))?;
        let chain = x509_cert::Certificate::load_pem_chain(&cert).map_err(|e| {
            ProvenanceError::Config(format!("cert {}: not a PEM certificate chain: {e}", c.cert))
        })?;
        let first = chain.first().ok_or_else(|| {
            ProvenanceError::Config(format!("cert {}: no certificate in it", c.cert))
        })?;
        let tbs = &first.tbs_certificate;
        let alg = match tbs.subject_public_key_info.algorithm.oid.to_string().as_str() {
            EC_PUBLIC_KEY => Alg::Es256,
            ED25519 => Alg::Ed25519,
            other => {
                return Err(ProvenanceError::Config(format!(
                    "cert {}: its key is of algorithm {other}; use an ECDSA P-256 (ES256) or an Ed25519 key",
                    c.cert
                )))
            }
        };
        let (tsa, tsa_roots) = if c.timestamp && !config.anchor.tsa.is_empty() {
            let pem = std::fs::read(&config.anchor.tsa_ca).map_err(|e| {
                ProvenanceError::Config(format!(
                    "timestamp = true needs [anchor] tsa_ca to check the TSA's answers: cannot read {}: {e}",
                    config.anchor.tsa_ca
                ))
            })?;
            let roots = crate::anchor::tsp::load_roots(&pem)
                .map_err(|e| ProvenanceError::Config(format!("[anchor] tsa_ca: {e}")))?;
            (config.anchor.tsa.clone(), roots)
        } else {
            (Vec::new(), Vec::new())
        };
        let signing = Signing {
            cert,
            key,
            alg,
            subject: tbs.subject.to_string(),
            tsa,
            tsa_roots,
        };
        signing.check()?;
        Ok(Some(signing))
    }

    /// The algorithm of its key.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// Whether its credentials are time-stamped.
    pub fn timestamped(&self) -> bool {
        !self.tsa.is_empty()
    }

    /// Signs a tiny picture (without a time-stamp) and reads it back: a key that is not the
    /// certificate's makes signatures that do not verify, which only this shows.
    fn check(&self) -> Result<(), ProvenanceError> {
        let probe = Signing {
            tsa: Vec::new(),
            tsa_roots: Vec::new(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            subject: self.subject.clone(),
            alg: self.alg,
        };
        let claim = Claim::captured("probe.jpg".into(), "image/jpeg", serde_json::json!({}));
        let signed = sign_bytes(&probe, &claim, PROBE_JPEG)?;
        let read = read("image/jpeg", &mut std::io::Cursor::new(signed), None);
        if read.intact() {
            return Ok(());
        }
        Err(ProvenanceError::Config(format!(
            "a test signature with the certificate and key does not verify ({}): is the key the certificate's?",
            read.failures.join("; ")
        )))
    }
}

/// Signs `claim` into a copy of `src` written to `dst` (`dst` is truncated).
pub fn sign<R, W>(
    signing: &Signing,
    claim: &Claim,
    src: &mut R,
    dst: &mut W,
) -> Result<(), ProvenanceError>
where
    R: Read + Seek + Send,
    W: Read + Write + Seek + Send,
{
    #[cfg(feature = "c2pa")]
    return imp::sign(signing, claim, src, dst);
    #[cfg(not(feature = "c2pa"))]
    {
        let _ = (signing, claim, src, dst);
        Err(ProvenanceError::NotBuilt("sign content credentials"))
    }
}

/// Signs `claim` into a copy of the bytes `src`.
pub fn sign_bytes(
    signing: &Signing,
    claim: &Claim,
    src: &[u8],
) -> Result<Vec<u8>, ProvenanceError> {
    let mut out = std::io::Cursor::new(Vec::with_capacity(src.len() + 64 * 1024));
    sign(signing, claim, &mut std::io::Cursor::new(src), &mut out)?;
    Ok(out.into_inner())
}

/// Signs `claim` into a copy of the file `src` at `dst`, through `dst.partial` so that a
/// failure leaves no half-written file.
pub fn sign_file(
    signing: &Signing,
    claim: &Claim,
    src: &Path,
    dst: &Path,
) -> Result<(), ProvenanceError> {
    let tmp = dst.with_extension("c2pa.partial");
    let run = || -> Result<(), ProvenanceError> {
        let mut input = std::fs::File::open(src).map_err(|e| file_err(src, e))?;
        let mut out = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| file_err(&tmp, e))?;
        sign(signing, claim, &mut input, &mut out)?;
        out.sync_all().map_err(|e| file_err(&tmp, e))?;
        std::fs::rename(&tmp, dst).map_err(|e| file_err(dst, e))
    };
    run().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// One action a manifest declares.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActionRead {
    pub action: String,
    pub digital_source_type: Option<String>,
    pub software_agent: Option<String>,
}

/// What a file's C2PA manifest says, and whether it holds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct CredentialReport {
    /// A manifest was found.
    pub present: bool,
    /// `Invalid`, `Valid` (well formed and intact, signer not trusted) or `Trusted` (the
    /// signer chains to an anchor given); empty when absent.
    pub state: String,
    /// Whether trust anchors were given (otherwise `Valid` says nothing of the signer).
    pub trust_checked: bool,
    /// The signing certificate's common name and issuer.
    pub signer: Option<String>,
    pub issuer: Option<String>,
    /// The time of the signature's time-stamp, when it has one.
    pub signed_at: Option<String>,
    pub claim_generator: Option<String>,
    pub title: Option<String>,
    pub actions: Vec<ActionRead>,
    /// An action declares a trained model as the source (IPTC source types).
    pub ai_source: bool,
    pub ingredients: Vec<String>,
    /// The validation failures (code: explanation).
    pub failures: Vec<String>,
    /// The packwitness assertion, when there is one.
    pub evidence: Option<serde_json::Value>,
    /// Why the file could not be read for credentials (other than having none).
    pub error: Option<String>,
}

impl CredentialReport {
    /// Intact: well formed, every hash and the signature good (trusted or not).
    pub fn intact(&self) -> bool {
        self.present && (self.state == "Valid" || self.state == "Trusted")
    }
}

/// Reads and validates the C2PA manifest of the file `path`; `trust` is a PEM file of
/// certificates to trust as signers' anchors (none: signers are reported untrusted).
pub fn read_file(path: &Path, trust: Option<&[u8]>) -> CredentialReport {
    let format = format_of(path);
    match std::fs::File::open(path) {
        Ok(mut f) => read(format, &mut f, trust),
        Err(e) => CredentialReport {
            error: Some(format!("cannot open {}: {e}", path.display())),
            ..Default::default()
        },
    }
}

/// The media type of a file, from its name.
pub fn format_of(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "avif" => "image/avif",
        "tif" | "tiff" => "image/tiff",
        "mov" => "video/quicktime",
        "m4a" => "audio/mp4",
        _ => "video/mp4",
    }
}

/// Reads and validates the C2PA manifest of a stream of media type `format`.
pub fn read<R: Read + Seek + Send>(
    format: &str,
    stream: &mut R,
    trust: Option<&[u8]>,
) -> CredentialReport {
    #[cfg(feature = "c2pa")]
    return imp::read(format, stream, trust);
    #[cfg(not(feature = "c2pa"))]
    {
        let _ = (format, stream, trust);
        CredentialReport {
            error: Some(ProvenanceError::NotBuilt("read content credentials").to_string()),
            ..Default::default()
        }
    }
}

#[cfg(feature = "c2pa")]
mod imp {
    use std::io::{Read, Seek, Write};

    use serde_json::{json, Value};

    use super::{ActionRead, Alg, Claim, CredentialReport, Signing, AI_SOURCE_TYPES};
    use crate::provenance::ProvenanceError;

    /// The merchant's key with the project's TSA client: C2PA asks for a time-stamp of its
    /// signature, and the request goes through [`crate::anchor::tsp`] (checked against
    /// `[anchor] tsa_ca` before it is used).
    pub(super) struct Stamped {
        inner: c2pa::BoxedSigner,
        tsa: Vec<String>,
        roots: Vec<x509_cert::Certificate>,
    }

    impl c2pa::Signer for Stamped {
        fn sign(&self, data: &[u8]) -> c2pa::Result<Vec<u8>> {
            self.inner.sign(data)
        }
        fn alg(&self) -> c2pa::SigningAlg {
            self.inner.alg()
        }
        fn certs(&self) -> c2pa::Result<Vec<Vec<u8>>> {
            self.inner.certs()
        }
        fn reserve_size(&self) -> usize {
            // A time-stamp token with the TSA's certificate chain.
            self.inner.reserve_size() + if self.tsa.is_empty() { 0 } else { 16 * 1024 }
        }
        fn send_timestamp_request(&self, message: &[u8]) -> Option<c2pa::Result<Vec<u8>>> {
            if self.tsa.is_empty() {
                return None;
            }
            let mut why = Vec::new();
            for url in &self.tsa {
                let got = crate::anchor::tsp::request(message).and_then(|req| {
                    let resp = crate::anchor::http::post(
                        url,
                        "application/timestamp-query",
                        &req.der,
                        std::time::Duration::from_secs(10),
                    )?;
                    crate::anchor::tsp::check(&resp, message, Some(&req.nonce), &self.roots)?;
                    Ok(resp)
                });
                match got {
                    Ok(resp) => return Some(Ok(resp)),
                    Err(e) => why.push(e.to_string()),
                }
            }
            Some(Err(c2pa::Error::OtherError(
                format!("no TSA gave a good time-stamp: {}", why.join("; ")).into(),
            )))
        }
    }

    impl Signing {
        pub(super) fn signer(&self) -> Result<Stamped, ProvenanceError> {
            let alg = match self.alg {
                Alg::Es256 => c2pa::SigningAlg::Es256,
                Alg::Ed25519 => c2pa::SigningAlg::Ed25519,
            };
            let inner = c2pa::create_signer::from_keys(&self.cert, &self.key, alg, None)
                .map_err(|e| {
                    ProvenanceError::Config(format!(
                        "the certificate and key cannot sign with {alg}: {e} (is the key the certificate's, PKCS#8 PEM?)"
                    ))
                })?;
            Ok(Stamped {
                inner,
                tsa: self.tsa.clone(),
                roots: self.tsa_roots.clone(),
            })
        }
    }

    fn context(trust: Option<&[u8]>) -> c2pa::Result<c2pa::Context> {
        let mut settings = json!({
            "builder": {
                "claim_generator_info": {"name": "packwitness", "version": env!("CARGO_PKG_VERSION")},
                "thumbnail": {"enabled": false},
            },
            "verify": {
                "verify_after_sign": false,
                "ocsp_fetch": false,
                "remote_manifest_fetch": false,
                "verify_trust": trust.is_some(),
            },
        });
        if let Some(pem) = trust {
            settings["trust"] = json!({"trust_anchors": String::from_utf8_lossy(pem)});
        }
        c2pa::Context::new().with_settings(settings.to_string().as_str())
    }

    pub(super) fn sign<R, W>(
        signing: &Signing,
        claim: &Claim,
        src: &mut R,
        dst: &mut W,
    ) -> Result<(), ProvenanceError>
    where
        R: Read + Seek + Send,
        W: Read + Write + Seek + Send,
    {
        let fail = |why: String| ProvenanceError::Sign {
            what: claim.title.clone(),
            why,
        };
        let definition = json!({
            "title": claim.title,
            "format": claim.format,
            "claim_generator_info": [{"name": "packwitness", "version": env!("CARGO_PKG_VERSION")}],
            "assertions": [
                {"label": "c2pa.actions", "data": {"actions": claim.actions}},
                {"label": super::EVIDENCE_LABEL, "data": claim.evidence},
            ],
            "ingredients": claim.ingredients,
        });
        let signer = signing.signer()?;
        let mut builder =
            c2pa::Builder::from_context(context(None).map_err(|e| fail(e.to_string()))?)
                .with_definition(definition)
                .map_err(|e| fail(format!("the manifest: {e}")))?;
        builder
            .sign(&signer, claim.format, src, dst)
            .map_err(|e| fail(e.to_string()))?;
        Ok(())
    }

    fn text(v: &Value) -> Option<String> {
        v.as_str().map(str::to_string)
    }

    pub(super) fn read<R: Read + Seek + Send>(
        format: &str,
        stream: &mut R,
        trust: Option<&[u8]>,
    ) -> CredentialReport {
        let mut report = CredentialReport::default();
        let reader = context(trust)
            .and_then(|ctx| c2pa::Reader::from_context(ctx).with_stream(format, stream));
        let reader = match reader {
            Ok(r) => r,
            Err(c2pa::Error::JumbfNotFound) | Err(c2pa::Error::ProvenanceMissing) => return report,
            Err(e) => {
                report.error = Some(format!("its content credentials cannot be read: {e}"));
                return report;
            }
        };
        report.present = true;
        report.trust_checked = trust.is_some();
        report.state = format!("{:?}", reader.validation_state());
        let all: Value = serde_json::from_str(&reader.json()).unwrap_or(Value::Null);
        if let Some(codes) = reader
            .validation_results()
            .and_then(|r| r.active_manifest())
        {
            report.failures = codes
                .failure()
                .iter()
                .map(|s| format!("{}: {}", s.code(), s.explanation().unwrap_or("")))
                .collect();
        }
        let active = reader
            .active_label()
            .and_then(|l| all.get("manifests").and_then(|m| m.get(l)))
            .cloned()
            .unwrap_or(Value::Null);
        let sig = &active["signature_info"];
        report.signer = text(&sig["common_name"]);
        report.issuer = text(&sig["issuer"]);
        report.signed_at = text(&sig["time"]);
        report.title = text(&active["title"]);
        report.claim_generator = active["claim_generator_info"]
            .as_array()
            .and_then(|a| a.first())
            .map(|g| {
                format!(
                    "{} {}",
                    g["name"].as_str().unwrap_or(""),
                    g["version"].as_str().unwrap_or("")
                )
                .trim()
                .to_string()
            })
            .or_else(|| text(&active["claim_generator"]));
        for a in active["assertions"].as_array().into_iter().flatten() {
            let label = a["label"].as_str().unwrap_or("");
            if label.starts_with("c2pa.actions") {
                for act in a["data"]["actions"].as_array().into_iter().flatten() {
                    let source = text(&act["digitalSourceType"]);
                    report.ai_source |= source
                        .as_deref()
                        .is_some_and(|s| AI_SOURCE_TYPES.contains(&s));
                    report.actions.push(ActionRead {
                        action: text(&act["action"]).unwrap_or_default(),
                        digital_source_type: source,
                        software_agent: text(&act["softwareAgent"]["name"])
                            .or_else(|| text(&act["softwareAgent"])),
                    });
                }
            } else if label == super::EVIDENCE_LABEL {
                report.evidence = Some(a["data"].clone());
            }
        }
        report.ingredients = active["ingredients"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| text(&i["title"]))
            .collect();
        report
    }
}
