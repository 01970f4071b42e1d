//! Real servers the archive tests start and stop themselves, by PID (the library's
//! `app::bench::servers`, which `bench archive` uses too): PostgreSQL from Debian and
//! SeaweedFS's S3 with Object Lock. No mock stands in for either.

use packwitness::app::bench::servers;
pub use packwitness::app::bench::servers::{S3_KEY, S3_SECRET};

/// PostgreSQL in a temporary folder, removed after the server stops.
pub struct Postgres {
    server: servers::Postgres,
    _dir: tempfile::TempDir,
}

impl Postgres {
    pub fn start() -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        let server = servers::Postgres::start(dir.path()).unwrap();
        Postgres { server, _dir: dir }
    }

    /// Starts it again after [`Postgres::kill`].
    pub fn run(&mut self) {
        self.server.run().unwrap();
    }

    pub fn kill(&mut self) {
        self.server.kill();
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Serves TLS with this certificate and key from now on (restarted).
    pub fn enable_tls(&mut self, cert: &std::path::Path, key: &std::path::Path) {
        self.server.enable_tls(cert, key).unwrap();
    }
}

/// SeaweedFS in a temporary folder, removed after it stops.
pub struct Seaweed {
    server: servers::Seaweed,
    _dir: tempfile::TempDir,
}

impl Seaweed {
    pub fn start() -> Seaweed {
        let dir = tempfile::tempdir().unwrap();
        let server = servers::Seaweed::start(dir.path()).unwrap();
        Seaweed { server, _dir: dir }
    }

    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    pub fn rt(&self) -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// An S3 client of the store's own API (not packwitness's).
    pub fn client(&self) -> aws_sdk_s3::Client {
        self.server.client()
    }

    /// Creates a bucket, with Object Lock (and so versioning) or without.
    pub fn bucket(&self, name: &str, lock: bool) {
        let c = self.client();
        self.rt()
            .block_on(
                c.create_bucket()
                    .bucket(name)
                    .object_lock_enabled_for_bucket(lock)
                    .send(),
            )
            .unwrap();
    }
}
