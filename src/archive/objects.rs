//! The archive's bucket: an S3 object store with versioning and Object Lock.
//!
//! Layout (docs/format.md "Archive objects"):
//! - `clips/<sha256>`: a clip's bytes, named by their SHA-256 (hex), stored only with the
//!   store's own SHA-256 check of the bytes (`x-amz-checksum-sha256`) and locked until the
//!   clip's seal time plus `retention_days`;
//! - `logs/<key id>/tile/<L>/<N>` and `logs/<key id>/tile/entries/<N>`: a station's log as
//!   c2sp.org/tlog-tiles, full tiles locked like clips; `.p/<W>` partial tiles unlocked and
//!   replaced as the log grows (they are derived from the locked entries and checkpoints);
//! - `logs/<key id>/checkpoint`: the newest checkpoint the archive cosigned, with its
//!   cosignature (replaced).
//!
//! Owns: the S3 client and what is asked of the store. Never: deletes, or stores a clip
//! without the store checking its SHA-256.

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketVersioningStatus, ObjectLockEnabled, ObjectLockLegalHold, ObjectLockLegalHoldStatus,
    ObjectLockMode,
};
use aws_sdk_s3::Client;

use super::ArchiveError;
use crate::config::{ArchiveServerConfig, LockMode};

/// The bucket of an archive.
#[derive(Clone)]
pub struct Bucket {
    client: Client,
    bucket: String,
    endpoint: String,
}

/// What the store says of a locked object.
#[derive(Debug, Clone, PartialEq)]
pub struct Locked {
    pub version_id: String,
    pub mode: String,
    /// Unix seconds.
    pub retain_until: i64,
    /// The store's SHA-256 checksum of the object (base64), when it kept one.
    pub checksum_sha256: Option<String>,
}

/// How a clip's `PUT` ended.
#[derive(Debug)]
pub enum PutClip {
    Stored(Locked),
    /// The store computed another SHA-256 than the seal's: nothing was stored.
    BadDigest(String),
}

fn store_err<E, R>(what: &str, e: SdkError<E, R>) -> ArchiveError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    // The store's own code and message when it answered; the whole chain otherwise (a
    // connection refused, a timeout).
    let detail = match (&e, e.code()) {
        (SdkError::ServiceError(_), Some(code)) => {
            format!("{code}: {}", e.message().unwrap_or("no message"))
        }
        _ => DisplayErrorContext(&e).to_string(),
    };
    ArchiveError::Store {
        what: what.to_string(),
        detail,
    }
}

/// The S3 credentials: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` from `file` when given
/// (lines `NAME=value`), else from the environment.
fn credentials(file: &str) -> Result<Credentials, ArchiveError> {
    let (mut id, mut secret) = (None, None);
    if file.is_empty() {
        id = std::env::var("AWS_ACCESS_KEY_ID").ok();
        secret = std::env::var("AWS_SECRET_ACCESS_KEY").ok();
    } else {
        let text = std::fs::read_to_string(file).map_err(|e| ArchiveError::Io {
            path: file.to_string(),
            what: format!(
                "cannot read the S3 credentials file ([archive_server] s3_credentials_file): {e}"
            ),
        })?;
        for line in text.lines() {
            let line = line.trim().trim_start_matches("export ");
            if let Some((k, v)) = line.split_once('=') {
                let v = v.trim().trim_matches('"').to_string();
                match k.trim() {
                    "AWS_ACCESS_KEY_ID" | "aws_access_key_id" => id = Some(v),
                    "AWS_SECRET_ACCESS_KEY" | "aws_secret_access_key" => secret = Some(v),
                    _ => {}
                }
            }
        }
    }
    match (id, secret) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
            Ok(Credentials::new(id, secret, None, None, "packwitness"))
        }
        _ => Err(ArchiveError::Config(format!(
            "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY{}",
            if file.is_empty() {
                " in the environment, or [archive_server] s3_credentials_file".to_string()
            } else {
                format!(" in {file}")
            }
        ))),
    }
}

fn mode(m: LockMode) -> ObjectLockMode {
    match m {
        LockMode::Compliance => ObjectLockMode::Compliance,
        LockMode::Governance => ObjectLockMode::Governance,
    }
}

impl Bucket {
    /// A client of the configured bucket (nothing is asked of the store yet).
    pub fn new(cfg: &ArchiveServerConfig) -> Result<Bucket, ArchiveError> {
        if cfg.s3_endpoint.is_empty() || cfg.s3_bucket.is_empty() {
            return Err(ArchiveError::Config(
                "[archive_server] s3_endpoint and s3_bucket are needed".into(),
            ));
        }
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(cfg.s3_region.clone()))
            .endpoint_url(cfg.s3_endpoint.clone())
            .credentials_provider(credentials(&cfg.s3_credentials_file)?)
            .force_path_style(true)
            // The SHA-256 a request carries is the seal's, given explicitly; nothing else.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        Ok(Bucket {
            client: Client::from_conf(conf),
            bucket: cfg.s3_bucket.clone(),
            endpoint: cfg.s3_endpoint.clone(),
        })
    }

    /// The S3 client (tests and `doctor` ask the store directly with it).
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn name(&self) -> &str {
        &self.bucket
    }

    /// Refuses a bucket that is missing, unversioned or without Object Lock, saying how to fix it.
    pub async fn check(&self) -> Result<(), ArchiveError> {
        let b = &self.bucket;
        let v = self
            .client
            .get_bucket_versioning()
            .bucket(b)
            .send()
            .await
            .map_err(|e| store_err(&format!("bucket {b} at {}", self.endpoint), e))?;
        if v.status() != Some(&BucketVersioningStatus::Enabled) {
            return Err(ArchiveError::Config(format!(
                "bucket {b} does not have versioning enabled; the archive needs a bucket created with Object Lock (e.g. `aws s3api create-bucket --bucket {b} --object-lock-enabled-for-bucket`), which enables versioning"
            )));
        }
        let lock = match self
            .client
            .get_object_lock_configuration()
            .bucket(b)
            .send()
            .await
        {
            Ok(o) => o
                .object_lock_configuration()
                .and_then(|c| c.object_lock_enabled())
                .cloned(),
            Err(e) if e.code() == Some("ObjectLockConfigurationNotFoundError") => None,
            Err(e) => return Err(store_err(&format!("Object Lock of bucket {b}"), e)),
        };
        if lock != Some(ObjectLockEnabled::Enabled) {
            return Err(ArchiveError::Config(format!(
                "bucket {b} does not have Object Lock enabled: evidence in it could be deleted. Create a bucket with Object Lock (`aws s3api create-bucket --bucket NAME --object-lock-enabled-for-bucket`, or `put-object-lock-configuration` where the store allows it on an existing versioned bucket) and set [archive_server] s3_bucket"
            )));
        }
        Ok(())
    }

    /// What the store holds under `key` with its lock, if anything.
    pub async fn head(&self, key: &str) -> Result<Option<Locked>, ArchiveError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
            .send()
            .await
        {
            Ok(o) => Ok(Some(Locked {
                version_id: o.version_id().unwrap_or_default().to_string(),
                mode: o
                    .object_lock_mode()
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default(),
                retain_until: o.object_lock_retain_until_date().map_or(0, |d| d.secs()),
                checksum_sha256: o.checksum_sha256().map(str::to_string),
            })),
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 404 => Ok(None),
            Err(e) => Err(store_err(&format!("looking at {key}"), e)),
        }
    }

    /// Stores a clip's `len` bytes from `body` under `key`, with the store checking them
    /// against `sha256` (32 bytes) and locking them until `until` (Unix seconds).
    pub async fn put_clip(
        &self,
        key: &str,
        body: ByteStream,
        len: u64,
        sha256: &[u8; 32],
        lock: LockMode,
        until: i64,
    ) -> Result<PutClip, ArchiveError> {
        let sum = crate::log::note::b64(sha256);
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body)
            .content_length(len as i64)
            .content_type("video/mp4")
            .checksum_sha256(&sum)
            .object_lock_mode(mode(lock))
            .object_lock_retain_until_date(DateTime::from_secs(until))
            .send()
            .await;
        match put {
            Ok(o) => Ok(PutClip::Stored(Locked {
                version_id: o.version_id().unwrap_or_default().to_string(),
                mode: mode(lock).as_str().to_string(),
                retain_until: until,
                checksum_sha256: o.checksum_sha256().map(str::to_string).or(Some(sum)),
            })),
            Err(e)
                if matches!(
                    e.code(),
                    Some("BadDigest" | "XAmzContentChecksumMismatch" | "InvalidDigest")
                ) =>
            {
                Ok(PutClip::BadDigest(format!(
                    "{}: {}",
                    e.code().unwrap_or_default(),
                    e.message().unwrap_or_default()
                )))
            }
            Err(e) => Err(store_err(&format!("storing {key}"), e)),
        }
    }

    /// Starts a multipart upload of a clip to `key`, locked until `until` once completed;
    /// its upload ID.
    pub async fn start_upload(
        &self,
        key: &str,
        lock: LockMode,
        until: i64,
    ) -> Result<String, ArchiveError> {
        let o = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type("video/mp4")
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .object_lock_mode(mode(lock))
            .object_lock_retain_until_date(DateTime::from_secs(until))
            .send()
            .await
            .map_err(|e| store_err(&format!("starting a multipart upload of {key}"), e))?;
        o.upload_id()
            .map(str::to_string)
            .ok_or_else(|| ArchiveError::Store {
                what: format!("starting a multipart upload of {key}"),
                detail: "the store gave no upload ID".into(),
            })
    }

    /// Stores part `n` (`len` bytes, whose SHA-256 is `sha256`, checked by the store) of an
    /// upload; its ETag, or why the store refused the bytes.
    pub async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        n: i32,
        body: ByteStream,
        len: u64,
        sha256: &[u8; 32],
    ) -> Result<Result<String, String>, ArchiveError> {
        let put = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(n)
            .body(body)
            .content_length(len as i64)
            .checksum_sha256(crate::log::note::b64(sha256))
            .send()
            .await;
        match put {
            Ok(o) => Ok(Ok(o.e_tag().unwrap_or_default().to_string())),
            Err(e)
                if matches!(
                    e.code(),
                    Some("BadDigest" | "XAmzContentChecksumMismatch" | "InvalidDigest")
                ) =>
            {
                Ok(Err(format!(
                    "{}: {}",
                    e.code().unwrap_or_default(),
                    e.message().unwrap_or_default()
                )))
            }
            Err(e) => Err(store_err(&format!("storing part {n} of {key}"), e)),
        }
    }

    /// Completes an upload from its parts (number, ETag, SHA-256); the object's version.
    pub async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String, [u8; 32])],
    ) -> Result<String, ArchiveError> {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        let parts = parts
            .iter()
            .map(|(n, etag, sum)| {
                CompletedPart::builder()
                    .part_number(*n)
                    .e_tag(etag)
                    .checksum_sha256(crate::log::note::b64(sum))
                    .build()
            })
            .collect();
        let o = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| store_err(&format!("completing the upload of {key}"), e))?;
        Ok(o.version_id().unwrap_or_default().to_string())
    }

    /// Abandons an upload (its parts are removed; nothing was stored under the key).
    pub async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), ArchiveError> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| store_err(&format!("abandoning the upload of {key}"), e))?;
        Ok(())
    }

    /// Stores small derived bytes (tiles, bundles, checkpoints), locked until `until` when given.
    /// Returns the new version's ID.
    pub async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        lock: Option<(LockMode, i64)>,
    ) -> Result<String, ArchiveError> {
        let sum = crate::log::note::b64(&sha2_digest(&bytes));
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(bytes.len() as i64)
            .checksum_sha256(sum)
            .body(ByteStream::from(bytes));
        if let Some((m, until)) = lock {
            put = put
                .object_lock_mode(mode(m))
                .object_lock_retain_until_date(DateTime::from_secs(until));
        }
        let o = put
            .send()
            .await
            .map_err(|e| store_err(&format!("storing {key}"), e))?;
        Ok(o.version_id().unwrap_or_default().to_string())
    }

    /// The body of `key` as it streams from the store, with its length; `None` when there is
    /// no such object. A clip is never held whole in memory.
    pub async fn get_stream(
        &self,
        key: &str,
    ) -> Result<Option<(u64, aws_sdk_s3::primitives::ByteStream)>, ArchiveError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => Ok(Some((
                o.content_length().unwrap_or(0).max(0) as u64,
                o.body,
            ))),
            Err(e) if e.code() == Some("NoSuchKey") => Ok(None),
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 404 => Ok(None),
            Err(e) => Err(store_err(&format!("reading {key}"), e)),
        }
    }

    /// Bytes `first..=last` of version `version` of `key` as they stream from the store
    /// (a player's byte range); `None` when there is no such object.
    pub async fn get_range(
        &self,
        key: &str,
        version: Option<&str>,
        first: u64,
        last: u64,
    ) -> Result<Option<aws_sdk_s3::primitives::ByteStream>, ArchiveError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .range(format!("bytes={first}-{last}"))
            .send()
            .await
        {
            Ok(o) => Ok(Some(o.body)),
            Err(e) if e.code() == Some("NoSuchKey") => Ok(None),
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 404 => Ok(None),
            Err(e) => Err(store_err(
                &format!("reading bytes {first}-{last} of {key}"),
                e,
            )),
        }
    }

    /// The bytes under `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
        let Some((_, body)) = self.get_stream(key).await? else {
            return Ok(None);
        };
        let data = body.collect().await.map_err(|e| ArchiveError::Store {
            what: format!("reading {key}"),
            detail: e.to_string(),
        })?;
        Ok(Some(data.into_bytes().to_vec()))
    }

    /// Removes every version of `key` but `keep` (all of them when `None`): superseded
    /// partial tiles and checkpoints, which are never locked, would otherwise pile up as
    /// noncurrent versions for as long as the log grows.
    pub async fn drop_versions(&self, key: &str, keep: Option<&str>) -> Result<(), ArchiveError> {
        let listed = self
            .client
            .list_object_versions()
            .bucket(&self.bucket)
            .prefix(key)
            .send()
            .await
            .map_err(|e| store_err(&format!("listing the versions of {key}"), e))?;
        let versions = listed
            .versions()
            .iter()
            .filter(|v| v.key() == Some(key))
            .filter_map(|v| v.version_id())
            .chain(
                listed
                    .delete_markers()
                    .iter()
                    .filter(|m| m.key() == Some(key))
                    .filter_map(|m| m.version_id()),
            )
            .filter(|v| Some(*v) != keep)
            .map(str::to_string)
            .collect::<Vec<_>>();
        for v in versions {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .version_id(&v)
                .send()
                .await
                .map_err(|e| store_err(&format!("removing version {v} of {key}"), e))?;
        }
        Ok(())
    }

    /// Puts (or lifts) an Object Lock legal hold on the current version of `key`.
    /// Keeps `key` locked until at least `until` (Unix seconds): its retention is extended,
    /// never shortened (the store refuses that in compliance mode anyway). Returns whether it
    /// was changed; `None` when the object is not in the bucket.
    pub async fn extend_retention(
        &self,
        key: &str,
        lock: LockMode,
        until: i64,
    ) -> Result<Option<bool>, ArchiveError> {
        let Some(held) = self.head(key).await? else {
            return Ok(None);
        };
        if held.retain_until >= until {
            return Ok(Some(false));
        }
        let retention = aws_sdk_s3::types::ObjectLockRetention::builder()
            .mode(match lock {
                LockMode::Compliance => aws_sdk_s3::types::ObjectLockRetentionMode::Compliance,
                LockMode::Governance => aws_sdk_s3::types::ObjectLockRetentionMode::Governance,
            })
            .retain_until_date(aws_sdk_s3::primitives::DateTime::from_secs(until))
            .build();
        self.client
            .put_object_retention()
            .bucket(&self.bucket)
            .key(key)
            .version_id(&held.version_id)
            .retention(retention)
            .send()
            .await
            .map_err(|e| store_err(&format!("extending the lock of {key}"), e))?;
        Ok(Some(true))
    }

    pub async fn legal_hold(&self, key: &str, on: bool) -> Result<(), ArchiveError> {
        let status = if on {
            ObjectLockLegalHoldStatus::On
        } else {
            ObjectLockLegalHoldStatus::Off
        };
        self.client
            .put_object_legal_hold()
            .bucket(&self.bucket)
            .key(key)
            .legal_hold(ObjectLockLegalHold::builder().status(status).build())
            .send()
            .await
            .map_err(|e| store_err(&format!("legal hold on {key}"), e))?;
        Ok(())
    }
}

fn sha2_digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// `clips/<sha256 hex>`.
pub fn clip_key(sha256_hex: &str) -> String {
    format!("clips/{sha256_hex}")
}

/// `logs/<key id>/<path>`.
pub fn log_key(key_id: &str, path: &str) -> String {
    format!("logs/{key_id}/{path}")
}
