//! RFC 3161 time-stamp protocol: the request for a checkpoint note, and the check of the
//! response against the TSA certificates the merchant chose to trust (`[anchor] tsa_ca`).
//!
//! Owns: building a `TimeStampReq` (SHA-256 imprint, a random nonce, the TSA's certificate
//! asked for), and checking a `TimeStampResp` completely: granted, a SignedData over a
//! TSTInfo whose imprint and nonce are ours, signed attributes whose message digest is the
//! TSTInfo's, the signature by a certificate with the critical timeStamping extended key
//! usage, whose path to a `tsa_ca` certificate validates in full at the stamp's time
//! (rustls' `webpki`: every signature, validity, CA flag, path length; then keyUsage), signed
//! with RSA PKCS #1 v1.5 or ECDSA P-256, with SHA-256. Never: trusts a certificate only because the token
//! carries it.

use der::asn1::{Int, OctetString};
use der::oid::ObjectIdentifier;
use der::{Decode, Encode};
use sha2::Digest;
use x509_cert::Certificate;

use super::AnchorError;

const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
/// DER DigestInfo prefix of a SHA-256 hash (RFC 8017 section 9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

fn bad(what: impl Into<String>) -> AnchorError {
    AnchorError::Token(what.into())
}

fn der_err(what: &str) -> impl Fn(der::Error) -> AnchorError + '_ {
    move |e| bad(format!("{what}: {e}"))
}

/// A request to stamp some bytes, with the nonce the answer must carry.
pub struct Request {
    pub der: Vec<u8>,
    pub nonce: Vec<u8>,
}

/// A `TimeStampReq` for the SHA-256 of `data`, with a random 64-bit nonce, asking for the
/// TSA's certificate in the answer.
pub fn request(data: &[u8]) -> Result<Request, AnchorError> {
    let mut nonce = vec![0u8; 8];
    getrandom::getrandom(&mut nonce).map_err(|e| bad(format!("no randomness for a nonce: {e}")))?;
    // Positive and without a leading zero byte: the same INTEGER whoever encodes it.
    nonce[0] = (nonce[0] & 0x7f) | 0x40;
    let req = x509_tsp::TimeStampReq {
        version: x509_tsp::TspVersion::V1,
        message_imprint: x509_tsp::MessageImprint {
            hash_algorithm: x509_cert::spki::AlgorithmIdentifier {
                oid: SHA256,
                parameters: Some(der::Any::null()),
            },
            hashed_message: OctetString::new(sha2::Sha256::digest(data).to_vec())
                .map_err(der_err("imprint"))?,
        },
        req_policy: None,
        nonce: Some(Int::new(&nonce).map_err(der_err("nonce"))?),
        cert_req: true,
        extensions: None,
    };
    Ok(Request {
        der: req.to_der().map_err(der_err("request"))?,
        nonce,
    })
}

/// What a checked token says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    /// The TSA's time (`genTime`), RFC 3339 in UTC.
    pub gen_time: String,
    /// The subject of the certificate that signed it.
    pub tsa: String,
    /// The token's serial number (hex) and policy.
    pub serial: String,
    pub policy: String,
}

/// This machine's trusted root certificates (the operating system's store, as TLS uses
/// them), as PEM: public TSAs chain to public roots (`--tsa-ca system`).
pub fn system_roots_pem() -> Result<Vec<u8>, AnchorError> {
    use base64::Engine;
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        let why = found
            .errors
            .first()
            .map_or("none found".to_string(), |e| e.to_string());
        return Err(bad(format!("the system's root certificates: {why}")));
    }
    let mut pem = String::new();
    // Only the certificates this program can read (a strict DER decoder may refuse an old
    // root; it could not be a chain's end here anyway).
    for c in found
        .certs
        .iter()
        .filter(|c| Certificate::from_der(c.as_ref()).is_ok())
    {
        let b64 = base64::engine::general_purpose::STANDARD.encode(c.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    Ok(pem.into_bytes())
}

/// The certificates of a PEM file (`[anchor] tsa_ca`).
pub fn load_roots(pem: &[u8]) -> Result<Vec<Certificate>, AnchorError> {
    let certs =
        Certificate::load_pem_chain(pem).map_err(|e| bad(format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(bad("no certificate in it"));
    }
    Ok(certs)
}

/// Checks a `TimeStampResp` (DER) for `data`: see the module. `nonce`: the request's.
pub fn check(
    resp: &[u8],
    data: &[u8],
    nonce: Option<&[u8]>,
    roots: &[Certificate],
) -> Result<Stamp, AnchorError> {
    let resp = x509_tsp::TimeStampResp::from_der(resp).map_err(der_err("TimeStampResp"))?;
    let status = resp.status.status as u8;
    if status > 1 {
        let text = resp
            .status
            .status_string
            .as_ref()
            .map(|s| format!("{s:?}"))
            .unwrap_or_default();
        return Err(bad(format!("the TSA refused (PKIStatus {status}) {text}")));
    }
    let token = resp
        .time_stamp_token
        .ok_or_else(|| bad("granted, but no token"))?;
    check_token(&token, data, nonce, roots)
}

/// Checks a `TimeStampToken` (a ContentInfo) for `data`.
pub fn check_token(
    token: &cms::content_info::ContentInfo,
    data: &[u8],
    nonce: Option<&[u8]>,
    roots: &[Certificate],
) -> Result<Stamp, AnchorError> {
    let (sd, tst_der, tst) = stamped_content(token, data)?;
    if let Some(n) = nonce {
        if tst.nonce.as_ref().map(|i| i.as_bytes()) != Some(n) {
            return Err(bad(
                "the token's nonce is not the request's (a replayed answer?)",
            ));
        }
    }
    let mut signers = sd.signer_infos.0.iter();
    let (Some(si), None) = (signers.next(), signers.next()) else {
        return Err(bad("the token must have exactly one signer"));
    };
    if si.digest_alg.oid != SHA256 {
        return Err(bad("the signer's digest is not SHA-256"));
    }
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| bad("the signer has no signed attributes"))?;
    let attr = |oid: ObjectIdentifier| {
        attrs
            .iter()
            .find(|a| a.oid == oid)
            .and_then(|a| a.values.iter().next())
    };
    let digest = attr(MESSAGE_DIGEST)
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .ok_or_else(|| bad("no messageDigest attribute"))?;
    if digest.as_bytes() != sha2::Sha256::digest(&tst_der).as_slice() {
        return Err(bad("the signed message digest is not the TSTInfo's"));
    }
    let ctype = attr(CONTENT_TYPE).and_then(|v| v.decode_as::<ObjectIdentifier>().ok());
    if ctype != Some(TST_INFO) {
        return Err(bad("the signed content type is not TSTInfo"));
    }
    let embedded = embedded_certs(&sd);
    let signer = find_signer(&si.sid, &embedded, roots)?;
    let signed = attrs.to_der().map_err(der_err("signed attributes"))?;
    verify_sig(
        &signer.tbs_certificate.subject_public_key_info,
        &si.signature_algorithm.oid,
        &signed,
        si.signature.as_bytes(),
    )
    .map_err(|e| bad(format!("the token's signature: {e}")))?;
    time_stamping_cert(signer)?;
    let gen = tst.gen_time.to_unix_duration();
    let validity = &signer.tbs_certificate.validity;
    if gen < validity.not_before.to_unix_duration() || gen > validity.not_after.to_unix_duration() {
        return Err(bad("the TSA certificate was not valid at the stamp's time"));
    }
    validate_path(signer, &embedded, roots, gen)?;
    Ok(Stamp {
        gen_time: unix_rfc3339(gen)?,
        tsa: signer.tbs_certificate.subject.to_string(),
        serial: crate::digest::hex(tst.serial_number.as_bytes()),
        policy: tst.policy.to_string(),
    })
}

/// The certificates a token's SignedData carries.
fn embedded_certs(sd: &cms::signed_data::SignedData) -> Vec<&Certificate> {
    sd.certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            cms::cert::CertificateChoices::Certificate(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// The SignedData of a token, its TSTInfo (DER and decoded), once the TSTInfo's imprint is
/// the SHA-256 of `data`. Nothing is trusted yet: the signature is [`check_token`]'s.
fn stamped_content(
    token: &cms::content_info::ContentInfo,
    data: &[u8],
) -> Result<(cms::signed_data::SignedData, Vec<u8>, x509_tsp::TstInfo), AnchorError> {
    if token.content_type != SIGNED_DATA {
        return Err(bad("the token is not a CMS SignedData"));
    }
    let sd = cms::signed_data::SignedData::from_der(&without_repeated_certs(&token.content)?)
        .map_err(der_err("SignedData"))?;
    let eci = &sd.encap_content_info;
    if eci.econtent_type != TST_INFO {
        return Err(bad("the signed content is not a TSTInfo"));
    }
    let tst_der = eci
        .econtent
        .as_ref()
        .ok_or_else(|| bad("the token carries no TSTInfo"))?
        .value()
        .to_vec();
    let tst = x509_tsp::TstInfo::from_der(&tst_der).map_err(der_err("TSTInfo"))?;
    if tst.message_imprint.hash_algorithm.oid != SHA256
        || tst.message_imprint.hashed_message.as_bytes() != sha2::Sha256::digest(data).as_slice()
    {
        return Err(bad(
            "the token stamps other bytes (its imprint is not their SHA-256)",
        ));
    }
    Ok((sd, tst_der, tst))
}

/// The time a `TimeStampResp` (DER) claims for `data` (RFC 3339, UTC), once its TSTInfo's
/// imprint is the SHA-256 of `data`. Not a check of the token: nothing here trusts the TSA
/// (the archive files a token under its time; reviewers check it against their own CA).
pub fn claimed_time(resp: &[u8], data: &[u8]) -> Result<String, AnchorError> {
    let resp = x509_tsp::TimeStampResp::from_der(resp).map_err(der_err("TimeStampResp"))?;
    let token = resp
        .time_stamp_token
        .ok_or_else(|| bad("a TimeStampResp without a token"))?;
    let (_, _, tst) = stamped_content(&token, data)?;
    unix_rfc3339(tst.gen_time.to_unix_duration())
}

/// What a `TimeStampResp` (DER) for `data` claims: its time and the subject of the
/// certificate it names as its signer. Nothing is checked but the imprint: the archive
/// describes a token with this in a bundle; a reviewer's checker trusts it only through
/// [`check`] against their own CA (`gen_time` and `tsa` are then the same).
pub fn claimed(resp: &[u8], data: &[u8]) -> Result<(String, String), AnchorError> {
    let resp = x509_tsp::TimeStampResp::from_der(resp).map_err(der_err("TimeStampResp"))?;
    let token = resp
        .time_stamp_token
        .ok_or_else(|| bad("a TimeStampResp without a token"))?;
    let (sd, _, tst) = stamped_content(&token, data)?;
    let si = sd
        .signer_infos
        .0
        .iter()
        .next()
        .ok_or_else(|| bad("the token has no signer"))?;
    let embedded = embedded_certs(&sd);
    let signer = find_signer(&si.sid, &embedded, &[])?;
    Ok((
        unix_rfc3339(tst.gen_time.to_unix_duration())?,
        signer.tbs_certificate.subject.to_string(),
    ))
}

fn unix_rfc3339(t: std::time::Duration) -> Result<String, AnchorError> {
    let secs = i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
    let time = chrono::DateTime::from_timestamp(secs, t.subsec_nanos())
        .ok_or_else(|| bad("the stamp's time is out of range"))?;
    Ok(time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// The SignedData of a token with its certificate set in DER order and each certificate once:
/// OpenSSL's TSA lists the signer's certificate twice when its `certs` file holds it too, which
/// a strict DER decoder refuses. The set is not signed (the signed attributes are), so this
/// changes nothing that is checked.
fn without_repeated_certs(content: &der::Any) -> Result<Vec<u8>, AnchorError> {
    use der::{Reader, Tag, TagNumber, Tagged};
    let certs_tag = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber::N0,
    };
    let mut r = der::SliceReader::new(content.value()).map_err(der_err("SignedData"))?;
    let mut body = Vec::new();
    while !r.is_finished() {
        let part = der::Any::decode(&mut r).map_err(der_err("SignedData"))?;
        if part.tag() == certs_tag {
            let mut rr = der::SliceReader::new(part.value()).map_err(der_err("certificates"))?;
            let mut certs = Vec::new();
            while !rr.is_finished() {
                let c = der::Any::decode(&mut rr).map_err(der_err("certificates"))?;
                certs.push(c.to_der().map_err(der_err("certificates"))?);
            }
            certs.sort();
            certs.dedup();
            let set = der::Any::new(certs_tag, certs.concat()).map_err(der_err("certificates"))?;
            body.extend(set.to_der().map_err(der_err("certificates"))?);
        } else {
            body.extend(part.to_der().map_err(der_err("SignedData"))?);
        }
    }
    der::Any::new(Tag::Sequence, body)
        .and_then(|a| a.to_der())
        .map_err(der_err("SignedData"))
}

/// The certificate the signer identifier names, among the token's and the trusted ones.
fn find_signer<'a>(
    sid: &cms::signed_data::SignerIdentifier,
    embedded: &[&'a Certificate],
    roots: &'a [Certificate],
) -> Result<&'a Certificate, AnchorError> {
    use cms::signed_data::SignerIdentifier as Sid;
    let all = embedded.iter().copied().chain(roots.iter());
    let found = match sid {
        Sid::IssuerAndSerialNumber(ias) => all.into_iter().find(|c| {
            c.tbs_certificate.issuer == ias.issuer
                && c.tbs_certificate.serial_number == ias.serial_number
        }),
        Sid::SubjectKeyIdentifier(ski) => {
            let want = ski.to_der().ok();
            all.into_iter().find(|c| {
                c.tbs_certificate.extensions.iter().flatten().any(|e| {
                    e.extn_id.to_string() == "2.5.29.14"
                        && want
                            .as_deref()
                            .is_some_and(|w| e.extn_value.as_bytes() == w)
                })
            })
        }
    };
    found.ok_or_else(|| bad("the token does not carry the certificate that signed it"))
}

/// The TSA certificate must have the timeStamping extended key usage, critical (RFC 3161
/// section 2.3).
fn time_stamping_cert(cert: &Certificate) -> Result<(), AnchorError> {
    let eku = cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == EXT_KEY_USAGE)
        .ok_or_else(|| bad("the TSA certificate has no extended key usage"))?;
    let usages = x509_cert::ext::pkix::ExtendedKeyUsage::from_der(eku.extn_value.as_bytes())
        .map_err(der_err("extended key usage"))?;
    if !eku.critical || usages.0 != [TIME_STAMPING] {
        return Err(bad(
            "the TSA certificate's extended key usage is not timeStamping alone, critical",
        ));
    }
    Ok(())
}

/// Walks from `cert` up to a certificate of `roots` (through at most three intermediates the
/// token carries), checking each signature.
/// The timeStamping extended key usage OID's DER value (1.3.6.1.5.5.7.3.8).
const TIME_STAMPING_DER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// keyUsage bits (RFC 5280 4.2.1.3), as `x509-cert` decodes them.
fn key_usage(cert: &Certificate) -> Option<x509_cert::ext::pkix::KeyUsage> {
    cert.tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == KEY_USAGE)
        .and_then(|e| x509_cert::ext::pkix::KeyUsage::from_der(e.extn_value.as_bytes()).ok())
}

/// Full X.509 path validation of the TSA's certificate at the stamp's time `gen` (rustls'
/// `webpki`): a chain through the token's certificates to a `tsa_ca` certificate, each
/// signature, each certificate valid at `gen`, CA flags and path lengths, the timeStamping
/// extended key usage; then keyUsage: keyCertSign on every intermediate, digitalSignature
/// or nonRepudiation on the TSA's own. A `tsa_ca` holding the TSA's own certificate pins it.
fn validate_path(
    cert: &Certificate,
    embedded: &[&Certificate],
    roots: &[Certificate],
    gen: std::time::Duration,
) -> Result<(), AnchorError> {
    use rustls_pki_types::{CertificateDer, UnixTime};
    let der = |c: &Certificate| c.to_der().map_err(der_err("certificate"));
    let usage_ok = key_usage(cert).is_some_and(|k| {
        k.0.contains(x509_cert::ext::pkix::KeyUsages::DigitalSignature)
            || k.0
                .contains(x509_cert::ext::pkix::KeyUsages::NonRepudiation)
    });
    if !usage_ok {
        return Err(bad(
            "the TSA certificate's keyUsage allows neither digitalSignature nor nonRepudiation",
        ));
    }
    if roots.iter().any(|r| r == cert) {
        return Ok(());
    }
    let root_ders = roots.iter().map(der).collect::<Result<Vec<_>, _>>()?;
    let anchors = root_ders
        .iter()
        .map(|d| {
            let d = CertificateDer::from(d.as_slice());
            webpki::anchor_from_trusted_cert(&d)
                .map(|a| a.to_owned())
                .map_err(|e| bad(format!("a certificate of [anchor] tsa_ca (or --tsa-ca) cannot be a trust anchor: {e:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let intermediates = embedded
        .iter()
        .filter(|c| **c != cert)
        .map(|c| der(c).map(CertificateDer::from))
        .collect::<Result<Vec<_>, _>>()?;
    let leaf_der = CertificateDer::from(der(cert)?);
    let leaf = webpki::EndEntityCert::try_from(&leaf_der)
        .map_err(|e| bad(format!("the TSA certificate cannot be read: {e:?}")))?;
    let path = leaf
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            UnixTime::since_unix_epoch(gen),
            webpki::KeyUsage::required(TIME_STAMPING_DER),
            None,
            None,
        )
        .map_err(|e| {
            bad(format!(
                "the TSA certificate {} does not lead to a certificate of [anchor] tsa_ca (or --tsa-ca) by a valid path at the stamp's time: {}",
                cert.tbs_certificate.subject,
                path_error(&e)
            ))
        })?;
    for c in path.intermediate_certificates() {
        let parsed = Certificate::from_der(c.der().as_ref()).map_err(der_err("certificate"))?;
        let signs = key_usage(&parsed)
            .is_some_and(|k| k.0.contains(x509_cert::ext::pkix::KeyUsages::KeyCertSign));
        if !signs {
            return Err(bad(format!(
                "the certificate of {} in the TSA's chain may not sign certificates (its keyUsage lacks keyCertSign)",
                parsed.tbs_certificate.subject
            )));
        }
    }
    Ok(())
}

/// A path validation error in words.
fn path_error(e: &webpki::Error) -> String {
    use webpki::Error as E;
    match e {
        E::CertExpired { .. } => "a certificate had expired at the stamp's time".into(),
        E::CertNotValidYet { .. } => "a certificate was not yet valid at the stamp's time".into(),
        E::CaUsedAsEndEntity => "a CA certificate signed the token".into(),
        E::EndEntityUsedAsCa => {
            "a certificate that is not a CA (no basicConstraints CA:TRUE) issued another".into()
        }
        E::PathLenConstraintViolated => "a CA's path length constraint is exceeded".into(),
        E::UnknownIssuer => "no chain to a trusted certificate".into(),
        E::RequiredEkuNotFoundContext(_) => "the timeStamping extended key usage is missing".into(),
        other => format!("{other:?}"),
    }
}

/// Checks `sig` over `msg` with SHA-256 by the key `spki` (RSA PKCS #1 v1.5 or ECDSA P-256).
fn verify_sig(
    spki: &x509_cert::spki::SubjectPublicKeyInfoOwned,
    alg: &ObjectIdentifier,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), String> {
    let hash = sha2::Sha256::digest(msg);
    let key = spki.subject_public_key.raw_bytes();
    if *alg == RSA || *alg == RSA_SHA256 {
        use rsa::pkcs1::DecodeRsaPublicKey;
        let pk = rsa::RsaPublicKey::from_pkcs1_der(key).map_err(|e| format!("RSA key: {e}"))?;
        let scheme = rsa::Pkcs1v15Sign {
            hash_len: Some(32),
            prefix: SHA256_DIGEST_INFO.to_vec().into_boxed_slice(),
        };
        pk.verify(scheme, &hash, sig).map_err(|e| e.to_string())
    } else if *alg == ECDSA_SHA256 {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(key)
            .map_err(|e| format!("P-256 key: {e}"))?;
        let s = p256::ecdsa::Signature::from_der(sig).map_err(|e| format!("signature: {e}"))?;
        vk.verify_prehash(&hash, &s).map_err(|e| e.to_string())
    } else {
        Err(format!(
            "signature algorithm {alg} is not supported (RSA or ECDSA P-256 with SHA-256)"
        ))
    }
}
