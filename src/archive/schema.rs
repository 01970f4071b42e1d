//! The archive's PostgreSQL schema, versioned (docs/format.md "Archive database").
//!
//! Owns: the migrations, applied in order in one transaction under a transaction-level
//! advisory lock, so that two archive nodes starting at once never migrate together and a
//! failed migration leaves the previous version whole. Never: edits a migration that has
//! shipped; a change is a new one at the end.

use deadpool_postgres::Object;

use super::{db, ArchiveError};

/// The advisory lock key of migrations ("pwarchiv" in ASCII).
const MIGRATION_LOCK: i64 = 0x7077_6172_6368_6976;

/// Migration `n` (1-based) takes the schema from version n-1 to n.
const MIGRATIONS: &[&str] = &[
    // 1: stations, their log's right edge, the sealed clips, refused pushes.
    r#"
CREATE TABLE stations (
    id            bigserial PRIMARY KEY,
    key_id        text NOT NULL UNIQUE,
    origin        text NOT NULL,
    verifier      text NOT NULL UNIQUE,
    token_sha256  bytea NOT NULL UNIQUE,
    added_at      timestamptz NOT NULL DEFAULT now(),
    size          bigint NOT NULL DEFAULT 0,
    root          bytea NOT NULL DEFAULT '',
    last_line     text NOT NULL DEFAULT '',
    edge          bytea NOT NULL DEFAULT '',
    checkpoint    text NOT NULL DEFAULT '',
    pushed_at     timestamptz,
    forked_at     timestamptz,
    forked_why    text
);
CREATE TABLE clips (
    station_id   bigint NOT NULL REFERENCES stations(id),
    seal         bigint NOT NULL,
    clip         bigint NOT NULL,
    order_code   text NOT NULL,
    station      text NOT NULL,
    camera       text NOT NULL,
    file         text NOT NULL,
    sha256       text NOT NULL,
    size         bigint NOT NULL,
    reason       text NOT NULL,
    started_at   text NOT NULL,
    ended_at     text NOT NULL,
    sealed_at    timestamptz NOT NULL,
    stored_at    timestamptz,
    version_id   text,
    retain_until timestamptz,
    gone         text,
    PRIMARY KEY (station_id, seal)
);
CREATE INDEX clips_pending ON clips (station_id, seal) WHERE stored_at IS NULL AND gone IS NULL;
CREATE INDEX clips_sha256 ON clips (sha256);
CREATE INDEX clips_order ON clips (order_code);
CREATE TABLE refused (
    id         bigserial PRIMARY KEY,
    station_id bigint NOT NULL REFERENCES stations(id),
    at         timestamptz NOT NULL DEFAULT now(),
    why        text NOT NULL,
    request    text NOT NULL
);
"#,
    // 2: legal holds, wanted (from the station's `hold` records or `archive hold`) and
    // applied (as the store has them), so that a hold that could not be applied yet is
    // applied later.
    r#"
ALTER TABLE clips ADD COLUMN held boolean NOT NULL DEFAULT false;
ALTER TABLE clips ADD COLUMN hold_applied boolean NOT NULL DEFAULT false;
CREATE INDEX clips_hold_pending ON clips (station_id) WHERE held <> hold_applied AND stored_at IS NOT NULL;
"#,
    // 3: anchors, the checkpoints stamped by a TSA (a row per `anchored` record, from the
    // log; its files once the station sent them) and cosigned by a witness (a row once the
    // station sent the cosigned note); a clip's retention extended for a dispute; a large
    // clip's upload in parts (resumed by any node).
    r#"
CREATE TABLE anchors (
    station_id   bigint NOT NULL REFERENCES stations(id),
    kind         text NOT NULL CHECK (kind IN ('tsa', 'witness')),
    witness      text NOT NULL DEFAULT '',
    size         bigint NOT NULL,
    line         bigint,
    sha256       text,
    file         text,
    witness_key  text,
    time         timestamptz,
    stored_at    timestamptz,
    retain_until timestamptz,
    PRIMARY KEY (station_id, kind, witness, size)
);
CREATE INDEX anchors_pending ON anchors (station_id, size) WHERE stored_at IS NULL;
ALTER TABLE clips ADD COLUMN retain_at_least timestamptz;
ALTER TABLE clips ADD COLUMN upload_id text;
ALTER TABLE clips ADD COLUMN upload_part_size bigint;
ALTER TABLE clips ADD COLUMN upload_next integer;
ALTER TABLE clips ADD COLUMN upload_hash bytea;
ALTER TABLE clips ADD COLUMN upload_parts text;
CREATE TABLE witnessed (
    station_id bigint NOT NULL REFERENCES stations(id),
    witness    text NOT NULL,
    size       bigint NOT NULL,
    PRIMARY KEY (station_id, witness)
);
"#,
    // 4: the archive's own receipts, one per size it cosigned at a push (the station's
    // checkpoint with the archive's cosignature): what a bundle made at the archive shows
    // of when the archive first saw each seal; and the lines about an order beyond its
    // clips (scans, codes attached, MP4s made for upload), which such a bundle cites; the
    // agents of customer service and the indexes their searches go along.
    r#"
CREATE TABLE receipts (
    station_id  bigint NOT NULL REFERENCES stations(id),
    size        bigint NOT NULL,
    note        text NOT NULL,
    cosigned_at timestamptz NOT NULL,
    PRIMARY KEY (station_id, size)
);
CREATE TABLE order_lines (
    station_id bigint NOT NULL REFERENCES stations(id),
    line       bigint NOT NULL,
    kind       text NOT NULL,
    station    text,
    order_code text,
    clip       bigint,
    code       text,
    clips      bigint[],
    PRIMARY KEY (station_id, line)
);
CREATE INDEX order_lines_order ON order_lines (order_code, station_id, line) WHERE order_code IS NOT NULL;
CREATE INDEX order_lines_scans ON order_lines (station_id, station, line) WHERE kind = 'scan';
CREATE INDEX order_lines_code ON order_lines (code) WHERE code IS NOT NULL;
CREATE INDEX order_lines_clip ON order_lines (station_id, clip) WHERE clip IS NOT NULL;
CREATE INDEX order_lines_uploads ON order_lines USING gin (clips) WHERE clips IS NOT NULL;
CREATE TABLE agents (
    name         text PRIMARY KEY,
    token_sha256 bytea NOT NULL UNIQUE,
    stations     text[],
    added_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX clips_order_prefix ON clips ((order_code COLLATE "C"));
CREATE INDEX clips_sealed_at ON clips (sealed_at);
CREATE INDEX clips_clip ON clips (station_id, clip);
CREATE INDEX clips_station_sealed_at ON clips (station_id, sealed_at);
"#,
    // 5: the customer-service app served by the archive: accounts with a password and a
    // role (a station's roles), each limited or not to some stations, directly or through
    // named station groups (a warehouse, a client of a fulfilment centre); their sessions,
    // shared by every node; an index of the nodes' access logs (each row names its node's
    // log and line: the signed record is the proof, the row what a page lists); and which
    // logs are nodes' access logs (pushed into the archive like a station's, off the board);
    // share links to one order, made by an agent (only their secret's and PIN's SHA-256).
    r#"
CREATE TABLE station_groups (
    name     text PRIMARY KEY,
    stations text[] NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE accounts (
    name     text PRIMARY KEY,
    role     text NOT NULL CHECK (role IN ('viewer', 'agent', 'admin')),
    hash     text NOT NULL,
    stations text[],
    groups   text[],
    added_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE sessions (
    token_sha256 bytea PRIMARY KEY,
    account      text NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE TABLE accesses (
    node    text NOT NULL,
    line    bigint NOT NULL,
    at      timestamptz NOT NULL DEFAULT now(),
    action  text NOT NULL,
    who     text NOT NULL,
    code    text NOT NULL,
    log     text NOT NULL,
    clips   bigint[] NOT NULL,
    PRIMARY KEY (node, line)
);
CREATE INDEX accesses_code ON accesses (code, at);
ALTER TABLE stations ADD COLUMN access_log boolean NOT NULL DEFAULT false;
CREATE TABLE shares (
    id            text PRIMARY KEY,
    secret_sha256 text NOT NULL,
    code          text NOT NULL,
    stations      text[],
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    pin_sha256    text,
    pin_failures  integer NOT NULL DEFAULT 0
);
CREATE INDEX shares_code ON shares (code);
"#,
];

/// The schema version this build writes.
pub fn current() -> i32 {
    MIGRATIONS.len() as i32
}

/// Brings the database to [`current`]; returns the version found before. Refuses a database
/// of a newer version (an older node must not run against it).
pub async fn migrate(client: &mut Object) -> Result<i32, ArchiveError> {
    let tx = client
        .transaction()
        .await
        .map_err(db("starting the migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db("taking the migration lock"))?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS packwitness_schema (version integer NOT NULL)")
        .await
        .map_err(db("creating packwitness_schema"))?;
    let found: i32 = match tx
        .query_opt("SELECT version FROM packwitness_schema", &[])
        .await
        .map_err(db("reading the schema version"))?
    {
        Some(row) => row.get(0),
        None => {
            tx.execute("INSERT INTO packwitness_schema VALUES (0)", &[])
                .await
                .map_err(db("writing the schema version"))?;
            0
        }
    };
    if found > current() {
        return Err(ArchiveError::Config(format!(
            "the archive database has schema version {found}; this packwitness knows up to {}: upgrade this node",
            current()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql)
            .await
            .map_err(db(format!("applying migration {}", i + 1)))?;
    }
    tx.execute("UPDATE packwitness_schema SET version = $1", &[&current()])
        .await
        .map_err(db("writing the schema version"))?;
    tx.commit().await.map_err(db("committing the migration"))?;
    Ok(found)
}
