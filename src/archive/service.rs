//! An archive node: the database pool and the bucket, the stations and their tokens, and
//! what the archive holds of a station's log. Taking a log extension is in [`super::ingest`],
//! taking a clip's bytes and legal holds in [`super::clips`].
//!
//! Owns: registering stations (only a token's SHA-256 is kept) and finding the station a
//! token belongs to; the answer to `GET /v1/log`. Never: answers 200 before the database
//! committed; holds anything but the request in memory (the right edge of a log is a few
//! kilobytes in its row); lets two nodes extend one log at once (`SELECT ... FOR UPDATE` on
//! the station's row serialises them).

use chrono::{DateTime, Utc};
use deadpool_postgres::{Object, Pool};
use sha2::{Digest, Sha256};

use super::objects::Bucket;
use super::wire::{self, LogHeld, PendingClip};
use super::{db, ArchiveError};
use crate::anchor::cosign::WitnessKey;
use crate::anchor::witness::Answer;
use crate::config::{ArchiveServerConfig, LockMode};
use crate::log::note::{b64, NoteVerifier};

/// PostgreSQL connections a node keeps at most.
pub const POOL: usize = 8;

/// The largest push taken (lines and proof): a station sends at most this much at once.
pub const MAX_PUSH: usize = 8 << 20;

/// A registered station, as its token names it.
#[derive(Debug, Clone)]
pub struct Station {
    pub id: i64,
    pub key_id: String,
    pub origin: String,
    pub verifier: String,
}

/// An archive node.
pub struct Archive {
    pub(super) pool: Pool,
    pub(super) bucket: Bucket,
    pub(super) key: WitnessKey,
    pub(super) retention_days: u32,
    pub(super) lock: LockMode,
    /// Bytes a part of an upload in parts (`[archive_server] part_mb`, at least 5 MiB).
    pub(super) part_size: u64,
}

pub(super) fn text(status: u16, body: impl Into<String>) -> Answer {
    Answer {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.into(),
    }
}

pub(super) fn json(status: u16, value: &impl serde::Serialize) -> Answer {
    Answer {
        status,
        content_type: "application/json",
        body: serde_json::to_string(value).unwrap_or_default(),
    }
}

pub(super) fn unavailable(e: ArchiveError) -> Answer {
    tracing::error!(error = %e, "archive request failed");
    text(
        503,
        format!("the archive cannot answer now ({e}); try again\n"),
    )
}

/// SHA-256 of a token, as the database keeps it.
pub(super) fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.trim().as_bytes()).to_vec()
}

/// The station name of a verifier key (`<name>+<id>+<key>`) and its key ID.
fn key_parts(verifier: &str) -> Result<(String, String), ArchiveError> {
    let v = NoteVerifier::parse(verifier).map_err(|e| {
        ArchiveError::Config(format!(
            "{verifier:?} is not a station key (`packwitness key` prints it): {e}"
        ))
    })?;
    let id = verifier
        .trim()
        .split('+')
        .nth(1)
        .unwrap_or_default()
        .to_string();
    Ok((v.name, id))
}

impl Archive {
    /// A node over the configured database and bucket, signing receipts with `key`. Checks
    /// the bucket (versioning and Object Lock) and migrates the schema.
    pub async fn open(cfg: &ArchiveServerConfig, key: WitnessKey) -> Result<Archive, ArchiveError> {
        let bucket = Bucket::new(cfg)?;
        bucket.check().await?;
        let pool = pool(cfg)?;
        let mut client = get(&pool).await?;
        super::schema::migrate(&mut client).await?;
        Ok(Archive {
            pool,
            bucket,
            key,
            retention_days: cfg.retention_days,
            lock: cfg.lock_mode,
            part_size: cfg.part_mb.max(5) << 20,
        })
    }

    pub fn verifier(&self) -> String {
        self.key.verifier()
    }

    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    /// The database's connection pool (the app's accounts and sessions).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Registers a station's key; see [`add_station`].
    pub async fn add_station(&self, verifier: &str) -> Result<String, ArchiveError> {
        add_station(&self.pool, verifier).await
    }

    /// Registers a node's access log (its key) as a log of its own, kept off the board of
    /// stations; returns its token, as [`add_station`].
    pub async fn add_access_log(&self, verifier: &str) -> Result<String, ArchiveError> {
        let token = add_station(&self.pool, verifier).await?;
        get(&self.pool)
            .await?
            .execute(
                "UPDATE stations SET access_log = true WHERE verifier = $1",
                &[&verifier.trim()],
            )
            .await
            .map_err(db("marking a node's access log"))?;
        Ok(token)
    }

    /// The station a bearer token belongs to.
    pub async fn station(&self, token: &str) -> Result<Option<Station>, ArchiveError> {
        let client = get(&self.pool).await?;
        let row = client
            .query_opt(
                "SELECT id, key_id, origin, verifier FROM stations WHERE token_sha256 = $1",
                &[&token_hash(token)],
            )
            .await
            .map_err(db("looking up a token"))?;
        Ok(row.map(|r| Station {
            id: r.get(0),
            key_id: r.get(1),
            origin: r.get(2),
            verifier: r.get(3),
        }))
    }

    /// `GET /v1/log`.
    pub async fn held(&self, st: &Station) -> Answer {
        match self.held_inner(st).await {
            Ok(h) => json(200, &h),
            Err(e) => unavailable(e),
        }
    }

    async fn held_inner(&self, st: &Station) -> Result<LogHeld, ArchiveError> {
        let client = get(&self.pool).await?;
        let row = client
            .query_one("SELECT size, root FROM stations WHERE id = $1", &[&st.id])
            .await
            .map_err(db("reading the station's log"))?;
        let (size, root): (i64, Vec<u8>) = (row.get(0), row.get(1));
        let pending = client
            .query(
                "SELECT seal, sha256, size, file, sealed_at FROM clips
                 WHERE station_id = $1 AND stored_at IS NULL AND gone IS NULL
                 ORDER BY seal LIMIT $2",
                &[&st.id, &wire::PENDING_LISTED],
            )
            .await
            .map_err(db("listing the clips it lacks"))?;
        let total: i64 = client
            .query_one(
                "SELECT count(*) FROM clips WHERE station_id = $1 AND stored_at IS NULL AND gone IS NULL",
                &[&st.id],
            )
            .await
            .map_err(db("counting the clips it lacks"))?
            .get(0);
        let (tokens, tokens_total, witnessed) = super::anchors::held(&client, st).await?;
        Ok(LogHeld {
            v: wire::VERSION,
            tokens,
            tokens_total,
            witnessed,
            origin: st.origin.clone(),
            size: size as u64,
            root: if root.is_empty() {
                String::new()
            } else {
                b64(&root)
            },
            pending: pending
                .iter()
                .map(|r| PendingClip {
                    seal: r.get::<_, i64>(0) as u64,
                    sha256: r.get(1),
                    size: r.get::<_, i64>(2) as u64,
                    file: r.get(3),
                    sealed_at: r
                        .get::<_, DateTime<Utc>>(4)
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                })
                .collect(),
            pending_total: total as u64,
        })
    }
}

/// Registers a station's key in the database of `pool`; returns its new token (shown once:
/// only its hash is kept). A station already registered (by its first key or by the key its
/// log rotated to) gets a new token (the old one stops working); another key with the same
/// key ID is refused.
pub async fn add_station(pool: &Pool, verifier: &str) -> Result<String, ArchiveError> {
    let (origin, key_id) = key_parts(verifier)?;
    let token = new_token("pwa1")?;
    let client = get(pool).await?;
    // A key a station rotated to is found by itself: its log keeps the row (and the folder of
    // the first key ID); a new token is all that changes.
    let rotated = client
        .execute(
            "UPDATE stations SET token_sha256 = $2 WHERE verifier = $1",
            &[&verifier.trim(), &token_hash(&token)],
        )
        .await
        .map_err(db("registering the station"))?;
    if rotated > 0 {
        return Ok(token);
    }
    let taken = client
        .query_opt(
            "SELECT verifier FROM stations WHERE key_id = $1",
            &[&key_id],
        )
        .await
        .map_err(db("looking for the station"))?;
    if let Some(row) = taken {
        let v: String = row.get(0);
        return Err(ArchiveError::Config(format!(
            "another station key with the key ID {key_id} is registered ({v}); give this station a new key (`packwitness key --rotate`)"
        )));
    }
    client
        .execute(
            "INSERT INTO stations (key_id, origin, verifier, token_sha256) VALUES ($1, $2, $3, $4)",
            &[&key_id, &origin, &verifier.trim(), &token_hash(&token)],
        )
        .await
        .map_err(db("registering the station"))?;
    Ok(token)
}

/// A new bearer token: `prefix`, `_`, 64 random hex digits.
pub(super) fn new_token(prefix: &str) -> Result<String, ArchiveError> {
    let mut raw = [0u8; 32];
    getrandom::getrandom(&mut raw)
        .map_err(|e| ArchiveError::Config(format!("no randomness for a token: {e}")))?;
    Ok(format!("{prefix}_{}", crate::digest::hex(&raw)))
}

/// A connection pool over `[archive_server] postgres_url`.
pub fn pool(cfg: &ArchiveServerConfig) -> Result<Pool, ArchiveError> {
    if cfg.postgres_url.is_empty() {
        return Err(ArchiveError::Config(
            "[archive_server] postgres_url is needed (e.g. postgresql://packwitness@localhost/packwitness)".into(),
        ));
    }
    let mut pc = deadpool_postgres::Config::new();
    pc.url = Some(cfg.postgres_url.clone());
    // A connection waited for longer than this is a 503 (the station tries again), never a
    // request that hangs.
    let wait = Some(std::time::Duration::from_secs(10));
    pc.pool = Some(deadpool_postgres::PoolConfig {
        max_size: POOL,
        timeouts: deadpool_postgres::Timeouts {
            wait,
            create: wait,
            recycle: wait,
        },
        ..deadpool_postgres::PoolConfig::default()
    });
    let url_error = |e: &dyn std::fmt::Display| {
        ArchiveError::Config(format!("[archive_server] postgres_url: {e}"))
    };
    let parsed: tokio_postgres::Config = cfg.postgres_url.parse().map_err(|e| url_error(&e))?;
    let runtime = Some(deadpool_postgres::Runtime::Tokio1);
    if parsed.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
        pc.create_pool(runtime, postgres_tls(cfg)?)
    } else {
        pc.create_pool(runtime, tokio_postgres::NoTls)
    }
    .map_err(|e| url_error(&e))
}

/// TLS to PostgreSQL (`sslmode=require`): rustls with the CAs of `postgres_ca_file`, or this
/// machine's; the certificate must name the host (rustls checks it, as `verify-full` does).
fn postgres_tls(
    cfg: &ArchiveServerConfig,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, ArchiveError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    if cfg.postgres_ca_file.is_empty() {
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(ArchiveError::Config(
                "[archive_server] postgres_url asks for TLS, but this machine has no CA certificates: install ca-certificates, or set postgres_ca_file".into(),
            ));
        }
    } else {
        let path = &cfg.postgres_ca_file;
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| ArchiveError::Io {
                path: path.clone(),
                what: format!(
                    "cannot read [archive_server] postgres_ca_file as PEM certificates: {e}"
                ),
            })?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(ArchiveError::Io {
                path: path.clone(),
                what: "no CA certificate in [archive_server] postgres_ca_file".into(),
            });
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ArchiveError::Config(format!("TLS to PostgreSQL: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
}

/// A connection from the pool.
pub async fn get(pool: &Pool) -> Result<Object, ArchiveError> {
    pool.get().await.map_err(|e| {
        let mut detail = crate::anchor::http::chain(&e);
        if detail.contains("certificate") {
            detail.push_str(" (PostgreSQL's certificate is not trusted: set [archive_server] postgres_ca_file to the CA that signed it, and make it name the host of postgres_url)");
        }
        ArchiveError::Database {
            what: "connecting".into(),
            detail,
        }
    })
}
