//! The archive with real servers: PostgreSQL and SeaweedFS's S3 with Object Lock, started by
//! the test. Two stations record into one archive that is killed and restarted under them;
//! every clip is then checked through the object store's own API (bytes' SHA-256, lock, a
//! delete refused). The archive refuses a bucket without Object Lock, an unknown token, a
//! clip whose bytes are not the sealed ones, and a forked log.

use crate::common::*;
use crate::servers::{Postgres, Seaweed, S3_KEY, S3_SECRET};

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// An archive node; killed (-9) when dropped.
pub(crate) struct ArchiveProc(Child);

impl Drop for ArchiveProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn archive_config(tmp: &Path, pg: &Postgres, sw: &Seaweed, bucket: &str, port: u16) -> PathBuf {
    let cfg = tmp.join(format!("archive-{bucket}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "[archive_server]\nlisten = \"127.0.0.1:{port}\"\ns3_endpoint = \"{}\"\ns3_bucket = \"{bucket}\"\npostgres_url = \"{}\"\nretention_days = 2\n",
            sw.endpoint(),
            pg.url()
        ),
    )
    .unwrap();
    cfg
}

/// PostgreSQL and SeaweedFS started for a test, with the locked bucket `evidence`, a free
/// port for the archive, and its config.
pub(crate) fn evidence_servers(tmp: &Path) -> (Postgres, Seaweed, u16, PathBuf) {
    let (pg, sw) = (Postgres::start(), Seaweed::start());
    sw.bucket("evidence", true);
    let port = crate::rtsp::free_port();
    let cfg = archive_config(tmp, &pg, &sw, "evidence", port);
    (pg, sw, port, cfg)
}

pub(crate) fn archive_cmd(cfg: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_packwitness"));
    c.arg("--config")
        .arg(cfg)
        .arg("archive")
        .args(args)
        .env_remove("PACKWITNESS_CONFIG")
        .env("AWS_ACCESS_KEY_ID", S3_KEY)
        .env("AWS_SECRET_ACCESS_KEY", S3_SECRET);
    c
}

/// Starts a node (on `listen`, else its config's address); returns it with its verifier
/// key (its first line, printed once it serves).
fn start_node(cfg: &Path, dir: &Path, listen: Option<u16>) -> (ArchiveProc, String) {
    let listen = listen.map(|p| format!("127.0.0.1:{p}"));
    let mut args = vec!["--data-dir", dir.to_str().unwrap()];
    if let Some(l) = &listen {
        args.extend(["--listen", l.as_str()]);
    }
    let mut child = archive_cmd(cfg, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(!line.trim().is_empty(), "the archive printed no key");
    (ArchiveProc(child), line.trim().to_string())
}

pub(crate) fn start_archive(cfg: &Path, dir: &Path) -> (ArchiveProc, String) {
    start_node(cfg, dir, None)
}

/// Registers the station of `dir`; its token.
pub(crate) fn add_station(cfg: &Path, dir: &Path) -> String {
    let out = archive_cmd(cfg, &["add-station", &station_key(dir)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    stdout(&out).lines().last().unwrap().trim().to_string()
}

pub(crate) fn station_config(tmp: &Path, name: &str, port: u16, token: &str, key: &str) -> PathBuf {
    let cfg = tmp.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "[station]\nid = \"{name}\"\n[archive]\nurl = \"http://127.0.0.1:{port}\"\ntoken = \"{token}\"\nkey = \"{key}\"\n"
        ),
    )
    .unwrap();
    cfg
}

pub(crate) fn record(cfg: &Path, dir: &Path) -> Station {
    let mut st = spawn_station(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--source",
        "lavfi:testsrc2=size=320x240:rate=15",
    ]);
    st.wait_record(dir, "the station's start", |r| r["kind"] == "station_start");
    st
}

/// Records each order, then seals the last with the stop code.
pub(crate) fn pack(st: &mut Station, dir: &Path, orders: &[&str]) {
    for o in orders {
        st.scan(o);
        st.wait_record(dir, "the clip", |r| {
            r["kind"] == "clip_opened" && r["order"] == *o
        });
        packing(300);
    }
    st.scan("PW-STOP");
    let last = orders.last().unwrap().to_string();
    st.wait_record(dir, "the last seal", |r| {
        r["kind"] == "clip_sealed" && r["order"] == last.as_str()
    });
}

fn archive_status(dir: &Path) -> serde_json::Value {
    let out = run(&["--data-dir", dir.to_str().unwrap(), "status", "--json"]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default()["archive"].clone()
}

/// Waits until the archive confirmed every seal of `dir` and holds every clip.
pub(crate) fn wait_archived(dir: &Path) {
    let last_seal = sealed(dir).iter().map(|r| r["seq"].as_u64().unwrap()).max();
    wait_until(&format!("the archive to hold {}", dir.display()), || {
        let seen = archive_status(dir);
        let confirmed = seen["confirmed_lines"].as_u64().unwrap_or(0);
        last_seal.is_some_and(|s| s <= confirmed) && seen["clips_pending"] == 0
    });
}

fn hex32(text: &str) -> Vec<u8> {
    (0..32)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One SQL query's rows, through PostgreSQL's own client library.
pub(crate) fn sql(pg: &Postgres, query: &str) -> Vec<tokio_postgres::Row> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client.query(query, &[]).await.unwrap()
    })
}

/// The bucket folders (`logs/<key id>/`) of the nodes' own access logs, which the archive
/// keeps beside the stations' logs.
fn access_log_folders(pg: &Postgres) -> Vec<String> {
    sql(pg, "SELECT key_id FROM stations WHERE access_log")
        .iter()
        .map(|r| format!("logs/{}/", r.get::<_, String>(0)))
        .collect()
}

#[test]
#[ignore = "slow tier: a restart trial of two stations and the archive; run with `cargo test --test integration -- --ignored --test-threads=1`"]
fn two_stations_keep_every_clip_locked_in_the_archive_through_its_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (pg, sw) = (Postgres::start(), Seaweed::start());
    sw.bucket("evidence", true);
    sw.bucket("unlocked", false);
    let port = crate::rtsp::free_port();
    let adir = tmp.path().join("archive");

    // A bucket whose objects could be deleted is refused, saying how to fix it.
    let plain = archive_config(tmp.path(), &pg, &sw, "unlocked", port);
    let out = archive_cmd(&plain, &["--data-dir", adir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr(&out).contains("object-lock-enabled-for-bucket"),
        "{}",
        show(&out)
    );

    let cfg = archive_config(tmp.path(), &pg, &sw, "evidence", port);
    let (node, key) = start_archive(&cfg, &adir);
    let addr = format!("127.0.0.1:{port}");
    // A token of no registered station.
    let r = http(
        &addr,
        "GET",
        "/v1/log",
        &[("Authorization", "Bearer pwa1_nobody")],
        b"",
    );
    assert_eq!(r.status, 401, "{}", r.text());

    let (d1, d2) = (tmp.path().join("st1"), tmp.path().join("st2"));
    std::fs::create_dir_all(&d1).unwrap();
    std::fs::create_dir_all(&d2).unwrap();
    let c1 = station_config(tmp.path(), "st1", port, &add_station(&cfg, &d1), &key);
    let c2 = station_config(tmp.path(), "st2", port, &add_station(&cfg, &d2), &key);
    let (mut s1, mut s2) = (record(&c1, &d1), record(&c2, &d2));
    // doctor asks the archive with the station's token: accepted; another token: refused,
    // saying what to do.
    let doctor_says = |cfg: &Path| {
        let out = run(&[
            "--config",
            cfg.to_str().unwrap(),
            "--data-dir",
            d1.to_str().unwrap(),
            "doctor",
            "--json",
            "--probe-s",
            "0.5",
        ]);
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)));
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "archive")
            .cloned()
            .unwrap_or_else(|| panic!("no archive check: {report}"))
    };
    let ok = doctor_says(&c1);
    assert_eq!(ok["verdict"], "pass", "{ok}");
    assert!(
        ok["detail"]
            .as_str()
            .unwrap()
            .contains("accepts this station's token"),
        "{ok}"
    );
    let bad = doctor_says(&station_config(
        tmp.path(),
        "bad",
        port,
        "pwa1_nobody",
        &key,
    ));
    assert_eq!(bad["verdict"], "fail", "{bad}");
    assert!(
        bad["detail"]
            .as_str()
            .unwrap()
            .contains("refuses this station's token"),
        "{bad}"
    );
    assert!(
        bad["fix"].as_str().unwrap().contains("archive add-station"),
        "{bad}"
    );
    pack(&mut s1, &d1, &["A-1", "A-2"]);
    pack(&mut s2, &d2, &["B-1"]);
    wait_archived(&d1);
    wait_archived(&d2);

    // The archive dies; the stations record on and say they cannot send.
    drop(node);
    pack(&mut s1, &d1, &["A-3"]);
    pack(&mut s2, &d2, &["B-2", "B-3"]);
    wait_until("st1 to say the archive is down", || {
        archive_status(&d1)["last_error"].is_string()
    });
    // Back (the same key from its folder): everything sealed meanwhile arrives.
    let (_node, again) = start_archive(&cfg, &adir);
    assert_eq!(again, key);
    wait_archived(&d1);
    wait_archived(&d2);
    let st = archive_status(&d1);
    assert_eq!(st["receipt_checked"], true, "{st}");
    assert!(st["last_error"].is_null(), "{st}");

    // A hold at the station reaches the archive with its log: a legal hold in the store.
    let out = run(&[
        "--data-dir",
        d1.to_str().unwrap(),
        "hold",
        "A-1",
        "--reason",
        "dispute",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let hold_line = manifest(&d1)
        .iter()
        .rfind(|r| r["kind"] == "hold")
        .map(|r| r["seq"].as_u64().unwrap())
        .unwrap();
    let a1 = sealed(&d1)
        .into_iter()
        .find(|r| r["order"] == "A-1")
        .unwrap();
    let a1_key = format!("clips/{}", a1["sha256"].as_str().unwrap());
    let legal = |key: &str| {
        sw.rt()
            .block_on(
                sw.client()
                    .get_object_legal_hold()
                    .bucket("evidence")
                    .key(key)
                    .send(),
            )
            .ok()
            .and_then(|o| o.legal_hold().and_then(|h| h.status().cloned()))
    };
    wait_until("the archive to apply the station's hold", || {
        archive_status(&d1)["confirmed_lines"].as_u64().unwrap_or(0) >= hold_line
            && legal(&a1_key) == Some(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
    });
    // And at the archive itself, for an order of the other station, then released.
    let b1 = sealed(&d2)
        .into_iter()
        .find(|r| r["order"] == "B-1")
        .unwrap();
    let b1_key = format!("clips/{}", b1["sha256"].as_str().unwrap());
    let out = archive_cmd(&cfg, &["hold", "B-1"]).output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        legal(&b1_key),
        Some(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
    );
    let out = archive_cmd(&cfg, &["hold", "B-1", "--release"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        legal(&b1_key),
        Some(aws_sdk_s3::types::ObjectLockLegalHoldStatus::Off)
    );
    // A dispute that lasts: the clip stays locked for 30 days from now.
    let out = archive_cmd(&cfg, &["hold", "B-1", "--retain-days", "30"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout(&out).contains("locked until at least"),
        "{}",
        show(&out)
    );
    let head = sw
        .rt()
        .block_on(
            sw.client()
                .head_object()
                .bucket("evidence")
                .key(&b1_key)
                .send(),
        )
        .unwrap();
    let until = head.object_lock_retain_until_date().unwrap().secs();
    assert!(
        until >= chrono::Utc::now().timestamp() + 29 * 86_400,
        "{b1_key} locked until {until}"
    );
    let out = archive_cmd(&cfg, &["hold", "NO-SUCH-ORDER"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    drop((s1.finish(), s2.finish()));

    // st2 short of space: retention asks the archive and removes what it holds, naming the
    // receipt; the archive still holds every one of them (checked below).
    let mut text = std::fs::read_to_string(&c2).unwrap();
    text.push_str("[retention]\nmin_free_mb = 1000000000\nmin_age_hours = 0\n");
    std::fs::write(&c2, text).unwrap();
    let mut s2 = record(&c2, &d2);
    let n = sealed(&d2).len();
    wait_until("st2's clips to be pruned", || {
        manifest(&d2)
            .iter()
            .filter(|r| r["kind"] == "pruned")
            .count()
            == n
    });
    s2.finish();
    for r in manifest(&d2).iter().filter(|r| r["kind"] == "pruned") {
        let why = r["reason"].as_str().unwrap();
        assert!(
            why.contains(&format!("archived: http://127.0.0.1:{port} clips/"))
                && why.contains("COMPLIANCE until"),
            "{why}"
        );
    }

    // Through the store's own API: each clip's bytes are the sealed ones, locked in
    // COMPLIANCE mode until its seal plus 2 days, and deleting them is refused.
    let client = sw.client();
    let rt = sw.rt();
    let seals: Vec<_> = sealed(&d1).into_iter().chain(sealed(&d2)).collect();
    assert_eq!(seals.len(), 6);
    for s in &seals {
        let sha = s["sha256"].as_str().unwrap();
        let key = format!("clips/{sha}");
        let head = rt
            .block_on(
                client
                    .head_object()
                    .bucket("evidence")
                    .key(&key)
                    .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
                    .send(),
            )
            .unwrap_or_else(|e| panic!("{key}: {e:?}"));
        assert_eq!(
            head.checksum_sha256(),
            Some(b64(&hex32(sha)).as_str()),
            "{key}"
        );
        assert_eq!(head.content_length(), s["size"].as_i64(), "{key}");
        assert_eq!(
            head.object_lock_mode(),
            Some(&aws_sdk_s3::types::ObjectLockMode::Compliance),
            "{key}"
        );
        let sealed_at = chrono::DateTime::parse_from_rfc3339(s["at"].as_str().unwrap()).unwrap();
        let until = head.object_lock_retain_until_date().unwrap().secs();
        assert!(
            until >= sealed_at.timestamp() + 2 * 86_400 - 1,
            "{key}: locked until {until}"
        );
        let del = rt.block_on(
            client
                .delete_object()
                .bucket("evidence")
                .key(&key)
                .version_id(head.version_id().unwrap())
                .send(),
        );
        assert!(del.is_err(), "the store deleted locked {key}");
    }
    // One row per seal, each stored once.
    let rows = sql(
        &pg,
        "SELECT count(*), count(DISTINCT (station_id, seal)), count(stored_at) FROM clips",
    );
    let (n, distinct, stored): (i64, i64, i64) = (rows[0].get(0), rows[0].get(1), rows[0].get(2));
    assert_eq!((n, distinct, stored), (6, 6, 6));
    // The log's tiles: one partial entry bundle per station, no superseded ones left.
    let listed = rt
        .block_on(
            client
                .list_object_versions()
                .bucket("evidence")
                .prefix("logs/")
                .send(),
        )
        .unwrap();
    let node_logs = access_log_folders(&pg);
    let bundles: Vec<_> = listed
        .versions()
        .iter()
        .filter_map(|v| v.key())
        .filter(|k| k.contains("/tile/entries/") && !node_logs.iter().any(|f| k.starts_with(f)))
        .collect();
    assert_eq!(bundles.len(), 2, "{bundles:?}");
}

#[test]
#[ignore = "slow tier: a forgery scenario against a real archive; run with `cargo test --test integration -- --ignored --test-threads=1`"]
fn the_archive_refuses_bytes_that_are_not_the_sealed_ones_and_a_forked_log() {
    let tmp = tempfile::tempdir().unwrap();
    let (pg, sw, port, cfg) = evidence_servers(tmp.path());
    let adir = tmp.path().join("archive");
    let key = {
        let out = archive_cmd(&cfg, &["--key", "--data-dir", adir.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
        stdout(&out).trim().to_string()
    };
    let d = tmp.path().join("st3");
    std::fs::create_dir_all(&d).unwrap();
    let c = station_config(tmp.path(), "st3", port, &add_station(&cfg, &d), &key);

    // Recorded while the archive is not there; then the clip is altered on the station.
    let mut s = record(&c, &d);
    pack(&mut s, &d, &["C-1"]);
    s.finish();
    let seal = sealed(&d).pop().unwrap();
    let file = d.join(seal["file"].as_str().unwrap());
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();

    let (_node, _) = start_archive(&cfg, &adir);
    let mut s = record(&c, &d);
    wait_archived(&d);
    s.finish();
    let sha = seal["sha256"].as_str().unwrap();
    let rows = sql(
        &pg,
        &format!("SELECT gone, stored_at IS NULL FROM clips WHERE sha256 = '{sha}'"),
    );
    let gone: Option<String> = rows[0].get(0);
    assert_eq!(
        gone.as_deref(),
        Some("the file at the station no longer matches its seal")
    );
    assert!(rows[0].get::<_, bool>(1));
    let head = sw.rt().block_on(
        sw.client()
            .head_object()
            .bucket("evidence")
            .key(format!("clips/{sha}"))
            .send(),
    );
    assert!(
        head.is_err(),
        "the store holds bytes that are not the sealed clip"
    );

    // A fork: a copy of the data dir (with its key) records a log of its own after the
    // original's was archived; the archive refuses it, keeps it, and both sides say so.
    let fork = tmp.path().join("st3-fork");
    copy_station(&d, &fork);
    let mut s = record(&c, &d);
    pack(&mut s, &d, &["C-2"]);
    wait_archived(&d);
    s.finish();
    let mut f = record(&c, &fork);
    pack(&mut f, &fork, &["F-1", "F-2", "F-3"]);
    wait_until("the fork to be refused", || {
        archive_status(&fork)["refused"].is_string()
    });
    let out = run(&["--data-dir", fork.to_str().unwrap(), "status", "--json"]);
    assert!(
        stdout(&out).contains("archive_refused")
            || stdout(&out).contains("refused this station's log"),
        "{}",
        show(&out)
    );
    f.finish();
    let rows = sql(&pg, "SELECT count(*) FROM refused");
    assert!(rows[0].get::<_, i64>(0) >= 1);
    let rows = sql(&pg, "SELECT forked_why FROM stations WHERE NOT access_log");
    assert!(rows[0].get::<_, Option<String>>(0).is_some());
}

#[test]
#[ignore = "slow tier: a crash trial (PostgreSQL, a node and the station killed); run with `cargo test --test integration -- --ignored --test-threads=1`"]
fn no_line_or_clip_is_lost_when_postgres_a_node_or_the_station_dies() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut pg, sw) = (Postgres::start(), Seaweed::start());
    sw.bucket("evidence", true);
    let (port_a, port_b) = (crate::rtsp::free_port(), crate::rtsp::free_port());
    let cfg = archive_config(tmp.path(), &pg, &sw, "evidence", port_a);
    let adir = tmp.path().join("archive");
    let (_a, key) = start_archive(&cfg, &adir);
    let _b = start_node(&cfg, &adir, Some(port_b));
    let d = tmp.path().join("st1");
    std::fs::create_dir_all(&d).unwrap();
    let c = station_config(tmp.path(), "st1", port_a, &add_station(&cfg, &d), &key);
    let mut s = record(&c, &d);
    pack(&mut s, &d, &["P-1"]);
    wait_archived(&d);

    // PostgreSQL dies under the station: the archive answers 503, the station records on and
    // sends everything once the database is back.
    pg.kill();
    pack(&mut s, &d, &["P-2", "P-3"]);
    wait_until("the station to hear that the archive cannot answer", || {
        archive_status(&d)["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("503"))
    });
    pg.run();
    wait_archived(&d);

    // The same log pushed through a second node at the same time as the station's own
    // uploader pushes it through the first: PostgreSQL serialises them.
    pack(&mut s, &d, &["P-4"]);
    let push = |url: String| {
        let c = c.clone();
        let d = d.clone();
        std::thread::spawn(move || {
            let out = run(&[
                "--config",
                c.to_str().unwrap(),
                "--data-dir",
                d.to_str().unwrap(),
                "archive",
                "push",
                "--url",
                &url,
            ]);
            assert!(out.status.success(), "{}", show(&out));
            stdout(&out)
        })
    };
    let pushers: Vec<_> = (0..3)
        .map(|_| push(format!("http://127.0.0.1:{port_b}")))
        .collect();
    pack(&mut s, &d, &["P-5", "P-6"]);
    for p in pushers {
        assert!(p.join().unwrap().contains("the archive holds"));
    }
    wait_archived(&d);

    // The station killed -9 at a seal: at its next start it sends what it had not.
    pack(&mut s, &d, &["P-7"]);
    unsafe { libc::kill(s.pid() as i32, libc::SIGKILL) };
    drop(s);
    let mut s = record(&c, &d);
    wait_archived(&d);
    s.finish();

    let seals = sealed(&d);
    assert_eq!(seals.len(), 7);
    let rows = sql(
        &pg,
        "SELECT count(*), count(DISTINCT seal), count(stored_at), (SELECT count(*) FROM refused) FROM clips",
    );
    let counts: (i64, i64, i64, i64) = (
        rows[0].get(0),
        rows[0].get(1),
        rows[0].get(2),
        rows[0].get(3),
    );
    assert_eq!(counts, (7, 7, 7, 0));
    let rt = sw.rt();
    for r in &seals {
        let sha = r["sha256"].as_str().unwrap();
        let head = rt
            .block_on(
                sw.client()
                    .head_object()
                    .bucket("evidence")
                    .key(format!("clips/{sha}"))
                    .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
                    .send(),
            )
            .unwrap();
        assert_eq!(head.checksum_sha256(), Some(b64(&hex32(sha)).as_str()));
    }
    // Every line the station signed up to the archive's size is in the entry bundles, once,
    // in order: the bundles read back are the manifest's lines.
    let size: i64 = sql(&pg, "SELECT size FROM stations WHERE NOT access_log")[0].get(0);
    let manifest_text = std::fs::read(d.join("manifest.jsonl")).unwrap();
    let lines: Vec<&[u8]> = manifest_text.split_inclusive(|b| *b == b'\n').collect();
    let listed = rt
        .block_on(
            sw.client()
                .list_objects_v2()
                .bucket("evidence")
                .prefix("logs/")
                .send(),
        )
        .unwrap();
    let node_logs = access_log_folders(&pg);
    let mut bundles: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .filter(|k| k.contains("/tile/entries/") && !node_logs.iter().any(|f| k.starts_with(f)))
        .map(str::to_string)
        .collect();
    bundles.sort();
    let mut got: Vec<Vec<u8>> = Vec::new();
    for k in &bundles {
        let body = rt
            .block_on(sw.client().get_object().bucket("evidence").key(k).send())
            .unwrap()
            .body;
        let bytes = rt.block_on(body.collect()).unwrap().into_bytes();
        let mut at = 0;
        while at < bytes.len() {
            let n = u16::from_be_bytes([bytes[at], bytes[at + 1]]) as usize;
            got.push(bytes[at + 2..at + 2 + n].to_vec());
            at += 2 + n;
        }
    }
    assert_eq!(got.len() as i64, size, "{bundles:?}");
    for (i, l) in got.iter().enumerate() {
        assert_eq!(l.as_slice(), lines[i], "line {}", i + 1);
    }
}

/// Every file named `*.note` under `dir`, recursively.
pub(crate) fn notes_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(notes_under(&p));
        } else if p.extension().is_some_and(|x| x == "note") {
            out.push(p);
        }
    }
    out
}

/// A station `st` registered with the archive of `archive_cfg` (key `archive_key`, on
/// `port`), its checkpoints stamped every second by a real TSA (openssl ts) and cosigned by
/// a witness, both running as long as it is kept.
pub(crate) struct AnchoredStation {
    pub dir: PathBuf,
    pub cfg: PathBuf,
    /// The TSA's CA certificate and the witness's key.
    pub ca: PathBuf,
    pub w_key: String,
    /// Its token at the archive.
    pub token: String,
    _tsa: crate::anchor::Tsa,
    _w: crate::witness::WitnessProc,
}

pub(crate) fn anchored_station(
    tmp: &Path,
    port: u16,
    archive_cfg: &Path,
    archive_key: &str,
) -> AnchoredStation {
    let tsa_dir = tmp.join("tsa");
    let ts_cfg = crate::anchor::make_tsa(&tsa_dir);
    let tsa_port = crate::rtsp::free_port();
    let tsa = crate::anchor::Tsa::start(tsa_port, &ts_cfg, &tsa_dir);
    let d = tmp.join("st");
    std::fs::create_dir_all(&d).unwrap();
    let wdir = tmp.join("witness");
    let out = run(&[
        "witness",
        "--data-dir",
        wdir.to_str().unwrap(),
        "--add-log",
        &station_key(&d),
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let w_port = crate::rtsp::free_port();
    let (w, w_key) = crate::witness::start_witness(&wdir, w_port);
    let token = add_station(archive_cfg, &d);
    let c = station_config(tmp, "st", port, &token, archive_key);
    let ca = tsa_dir.join("ca.pem");
    let mut text = std::fs::read_to_string(&c).unwrap();
    text.push_str(&format!(
        "[anchor]\ntsa = [\"http://127.0.0.1:{tsa_port}/tsa\"]\ntsa_ca = \"{}\"\nevery_s = 1\n[[anchor.witness]]\nurl = \"http://127.0.0.1:{w_port}\"\nkey = \"{w_key}\"\n",
        ca.display()
    ));
    std::fs::write(&c, text).unwrap();
    AnchoredStation {
        dir: d,
        cfg: c,
        ca,
        w_key,
        token,
        _tsa: tsa,
        _w: w,
    }
}

#[test]
#[ignore = "slow tier: a long scenario (anchors, witnesses and a key rotation into the archive); run with `cargo test --test integration -- --ignored --test-threads=1`"]
fn anchors_and_a_rotated_key_follow_the_log_into_the_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let (pg, sw, port, cfg) = evidence_servers(tmp.path());
    let (_node, key) = start_archive(&cfg, &tmp.path().join("archive"));
    let anchored = anchored_station(tmp.path(), port, &cfg, &key);
    let (d, c) = (anchored.dir.clone(), anchored.cfg.clone());
    let first_key = station_key(&d);
    let (token, w_key) = (anchored.token.clone(), anchored.w_key.clone());
    let w_id = anchored.w_key.split('+').nth(1).unwrap().to_string();
    let mut st = record(&c, &d);
    pack(&mut st, &d, &["T-1", "T-2"]);
    st.wait_record(&d, "a TSA's stamp", |r| r["kind"] == "anchored");
    wait_until("a witness's cosignature", || {
        !notes_under(&d.join("anchors/witness")).is_empty()
    });
    st.finish();
    // Everything the station holds goes up: lines, clips, tokens, cosignatures.
    let push = |args: &[&str]| {
        let mut all = vec![
            "--config",
            c.to_str().unwrap(),
            "--data-dir",
            d.to_str().unwrap(),
            "archive",
            "push",
        ];
        all.extend(args);
        run(&all)
    };
    let out = push(&[]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout(&out).contains("0 clip(s) and 0 anchor(s) still missing"),
        "{}",
        show(&out)
    );

    // Through the store's own API: each token and cosigned note, byte for byte, locked.
    let kid = first_key.split('+').nth(1).unwrap().to_string();
    let (client, rt) = (sw.client(), sw.rt());
    let fetch = |key: &str| {
        let o = rt
            .block_on(client.get_object().bucket("evidence").key(key).send())
            .unwrap_or_else(|e| panic!("{key}: {e:?}"));
        assert_eq!(
            o.object_lock_mode(),
            Some(&aws_sdk_s3::types::ObjectLockMode::Compliance),
            "{key}"
        );
        rt.block_on(o.body.collect()).unwrap().into_bytes().to_vec()
    };
    let anchored: Vec<_> = manifest(&d)
        .into_iter()
        .filter(|r| r["kind"] == "anchored")
        .collect();
    assert!(!anchored.is_empty());
    for a in &anchored {
        let size = a["size"].as_u64().unwrap();
        let file = d.join(a["file"].as_str().unwrap());
        let tsr = fetch(&format!("logs/{kid}/anchors/tsa/{size:020}.tsr"));
        assert_eq!(tsr, std::fs::read(&file).unwrap(), "token of {size}");
        let note = fetch(&format!("logs/{kid}/anchors/tsa/{size:020}.note"));
        assert_eq!(note, std::fs::read(file.with_extension("note")).unwrap());
    }
    let cosigned = notes_under(&d.join("anchors/witness"));
    for n in &cosigned {
        let size: u64 = n.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        let stored = fetch(&format!(
            "logs/{kid}/anchors/witness/{w_id}/{size:020}.note"
        ));
        assert_eq!(stored, std::fs::read(n).unwrap(), "cosignature of {size}");
    }
    let rows = sql(
        &pg,
        "SELECT count(*) FILTER (WHERE kind = 'tsa'), count(*) FILTER (WHERE kind = 'witness'), count(stored_at) FROM anchors",
    );
    let (t, w, stored): (i64, i64, i64) = (rows[0].get(0), rows[0].get(1), rows[0].get(2));
    assert_eq!(
        (t as usize, w as usize, stored as usize),
        (
            anchored.len(),
            cosigned.len(),
            anchored.len() + cosigned.len()
        )
    );

    // A dispute over T-1: its clip and the token covering its seal stay locked 30 days.
    let out = archive_cmd(&cfg, &["hold", "T-1", "--retain-days", "30"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let t1_seal = sealed(&d)
        .into_iter()
        .find(|r| r["order"] == "T-1")
        .unwrap()["seq"]
        .as_u64()
        .unwrap();
    let covering = anchored
        .iter()
        .map(|a| a["size"].as_u64().unwrap())
        .filter(|s| *s >= t1_seal)
        .min()
        .unwrap();
    let head = rt
        .block_on(
            client
                .head_object()
                .bucket("evidence")
                .key(format!("logs/{kid}/anchors/tsa/{covering:020}.tsr"))
                .send(),
        )
        .unwrap();
    let until = head.object_lock_retain_until_date().unwrap().secs();
    assert!(
        until >= chrono::Utc::now().timestamp() + 29 * 86_400,
        "the token of {covering} locked until {until}"
    );

    // What is not what it claims is refused: a token that is not the one its record names,
    // a cosigned checkpoint of another tree.
    let addr = format!("127.0.0.1:{port}");
    let auth = format!("Bearer {token}");
    let size = anchored[0]["size"].as_u64().unwrap();
    let note = std::fs::read_to_string(
        d.join(anchored[0]["file"].as_str().unwrap())
            .with_extension("note"),
    )
    .unwrap();
    let post = |anchor: serde_json::Value| {
        let body = serde_json::json!({"v": 1, "anchors": [anchor]});
        http(
            &addr,
            "POST",
            "/v1/anchors",
            &[("Authorization", &auth)],
            body.to_string().as_bytes(),
        )
    };
    let bogus = serde_json::json!({"kind": "tsa", "size": size, "note": note, "tsr": b64(b"not this token")});
    // Taken again once stored (the station may send twice); refused while the archive
    // lacks it.
    let r = post(bogus.clone());
    assert_eq!(r.status, 200, "{}", r.text());
    sql(
        &pg,
        &format!("UPDATE anchors SET stored_at = NULL WHERE kind = 'tsa' AND size = {size}"),
    );
    let r = post(bogus);
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.text().contains("not the one its `anchored` record names"),
        "{}",
        r.text()
    );
    let tsr = std::fs::read(d.join(anchored[0]["file"].as_str().unwrap())).unwrap();
    let r = post(serde_json::json!({"kind": "tsa", "size": size, "note": note, "tsr": b64(&tsr)}));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post(
        serde_json::json!({"kind": "tsa", "size": size + 100_000, "note": note, "tsr": b64(&tsr)}),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let cosigned_note = std::fs::read_to_string(&cosigned[0]).unwrap();
    let lines: Vec<&str> = cosigned_note.lines().collect();
    let forged = cosigned_note.replacen(lines[2], &b64(&[7u8; 32]), 1);
    let w_size: u64 = lines[1].parse().unwrap();
    let r = post(
        serde_json::json!({"kind": "witness", "witness_key": w_key, "size": w_size, "note": forged}),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("no valid cosignature"), "{}", r.text());

    // The station's key is rotated: the archive follows the signed rotation.
    let out = run(&[
        "--config",
        c.to_str().unwrap(),
        "--data-dir",
        d.to_str().unwrap(),
        "key",
        "--rotate",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let new_key = stdout(&out).trim().to_string();
    assert_ne!(new_key, first_key);
    let mut st = record(&c, &d);
    pack(&mut st, &d, &["T-3"]);
    st.finish();
    let out = push(&[]);
    assert!(out.status.success(), "{}", show(&out));
    // Every line up to the last checkpoint (whose own line the next one covers).
    let last_seal = sealed(&d).last().unwrap()["seq"].as_i64().unwrap();
    let rows = sql(
        &pg,
        "SELECT verifier, key_id, size FROM stations WHERE NOT access_log",
    );
    assert_eq!(rows.len(), 1);
    assert!(rows[0].get::<_, i64>(2) >= last_seal, "{}", show(&out));
    assert_eq!(rows[0].get::<_, String>(0), new_key);
    assert_eq!(rows[0].get::<_, String>(1), kid);
    // The new key registered again: the same station, a new token (the old one stops).
    let out = archive_cmd(&cfg, &["add-station", &new_key])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        sql(&pg, "SELECT id FROM stations WHERE NOT access_log").len(),
        1
    );
    let r = http(&addr, "GET", "/v1/log", &[("Authorization", &auth)], b"");
    assert_eq!(r.status, 401, "{}", r.text());
}

/// `bytes` sealed as the clip of `order` on station `st`, straight into the log of `dir`.
fn seal_clip(dir: &Path, cfg: &Path, order: &str, bytes: &[u8]) {
    let config = packwitness::config::Config::load(cfg).unwrap();
    let file = format!("clips/st/2026-12-03/{order}_cam-1.mp4");
    std::fs::create_dir_all(dir.join(&file).parent().unwrap()).unwrap();
    std::fs::write(dir.join(&file), bytes).unwrap();
    seal_file(dir, &config, "st", order, &file, |_| {});
}

/// `n` bytes that do not compress (an xorshift stream seeded by `seed`).
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn a_large_clip_goes_in_parts_and_resumes_where_either_side_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let (pg, sw, port, cfg) = evidence_servers(tmp.path());
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("part_mb = 5\n");
    std::fs::write(&cfg, text).unwrap();
    let adir = tmp.path().join("archive");
    let (node, key) = start_archive(&cfg, &adir);

    let d = tmp.path().join("st");
    std::fs::create_dir_all(&d).unwrap();
    let token = add_station(&cfg, &d);
    let c = station_config(tmp.path(), "st", port, &token, &key);
    let mut text = std::fs::read_to_string(&c).unwrap();
    text.push_str("multipart_mb = 8\n");
    std::fs::write(&c, text).unwrap();
    // 12 MiB: parts of 5, 5 and 2 MiB.
    let big = noise(12 << 20, 7);
    let sha = packwitness::digest::sha256_hex(&big);
    seal_clip(&d, &c, "BIG-1", &big);

    // The station sends its log and the first part, then stops (as if killed).
    let config = packwitness::config::Config::load(&c).unwrap();
    let client = packwitness::archive::push::Client::new(&config.archive).unwrap();
    let held = client.held().unwrap();
    let reader = packwitness::log::reader::LogReader::open(&d).unwrap();
    let push = packwitness::archive::push::next_push(&reader, held.size)
        .unwrap()
        .unwrap();
    assert!(matches!(
        client.push(&push).unwrap(),
        packwitness::archive::push::Pushed::Cosigned(_)
    ));
    let addr = format!("127.0.0.1:{port}");
    let auth = format!("Bearer {token}");
    let r = http(
        &addr,
        "POST",
        &format!("/v1/clips/{sha}/upload"),
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let state: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(state["parts"], 3, "{state}");
    assert_eq!(state["next_part"], 1, "{state}");
    let part = &big[..5 << 20];
    let part_sha = packwitness::digest::sha256_hex(part);
    let put_part = |n: u32, sum: &str, body: &[u8]| {
        http(
            &addr,
            "PUT",
            &format!("/v1/clips/{sha}/upload/{n}"),
            &[("Authorization", &auth), ("x-packwitness-sha256", sum)],
            body,
        )
    };
    // A part whose bytes are not the ones its SHA-256 names is refused by the store.
    let wrong = packwitness::digest::sha256_hex(b"other bytes");
    let r = put_part(1, &wrong, part);
    assert_eq!(r.status, 422, "{}", r.text());
    // Parts go in order (the answer comes before the body is read: a short one here).
    let r = put_part(2, &part_sha, b"x");
    assert_eq!(r.status, 409, "{}", r.text());
    let r = put_part(1, &part_sha, part);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("\"next_part\":2"), "{}", r.text());

    // The archive node dies too; another starts. Nothing of the upload was in the node.
    drop(node);
    let (_node, _) = start_archive(&cfg, &adir);
    let rows = sql(
        &pg,
        "SELECT upload_next FROM clips WHERE order_code = 'BIG-1'",
    );
    assert_eq!(rows[0].get::<_, Option<i32>>(0), Some(2));

    // A second large clip whose file changed after its seal (same length).
    let other = noise(9 << 20, 11);
    seal_clip(&d, &c, "BIG-2", &other);
    let other_file = d.join("clips/st/2026-12-03/BIG-2_cam-1.mp4");
    let mut changed = other.clone();
    changed[(9 << 20) - 1] ^= 1;
    std::fs::write(&other_file, &changed).unwrap();

    let out = run(&[
        "--config",
        c.to_str().unwrap(),
        "--data-dir",
        d.to_str().unwrap(),
        "archive",
        "push",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout(&out).contains("0 clip(s) and 0 anchor(s) still missing"),
        "{}",
        show(&out)
    );

    // Through the store's API: the whole clip, the sealed bytes, locked; the changed one is
    // not there, its upload abandoned, and the archive knows why.
    let (client, rt) = (sw.client(), sw.rt());
    let o = rt
        .block_on(
            client
                .get_object()
                .bucket("evidence")
                .key(format!("clips/{sha}"))
                .send(),
        )
        .unwrap();
    assert_eq!(
        o.object_lock_mode(),
        Some(&aws_sdk_s3::types::ObjectLockMode::Compliance)
    );
    let got = rt.block_on(o.body.collect()).unwrap().into_bytes();
    assert_eq!(packwitness::digest::sha256_hex(&got), sha);
    let other_sha = packwitness::digest::sha256_hex(&other);
    let head = rt.block_on(
        client
            .head_object()
            .bucket("evidence")
            .key(format!("clips/{other_sha}"))
            .send(),
    );
    assert!(head.is_err(), "the changed clip was stored");
    let uploads = rt
        .block_on(client.list_multipart_uploads().bucket("evidence").send())
        .unwrap();
    assert!(uploads.uploads().is_empty(), "{:?}", uploads.uploads());
    let rows = sql(
        &pg,
        "SELECT order_code, stored_at IS NOT NULL, gone, upload_id FROM clips ORDER BY seal",
    );
    assert_eq!(rows.len(), 2);
    assert!(rows[0].get::<_, bool>(1));
    assert_eq!(rows[0].get::<_, Option<String>>(3), None);
    let gone: Option<String> = rows[1].get(2);
    assert!(
        gone.as_deref()
            .is_some_and(|g| g.contains("no longer matches its seal")),
        "{gone:?}"
    );
}

/// Runs openssl with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", show(&out));
}

#[test]
fn the_archive_reaches_postgresql_over_tls_only_with_a_certificate_it_trusts() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // A CA of our own and PostgreSQL's certificate for 127.0.0.1, signed by it.
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        t,
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=packwitness test CA",
                "-days",
                "2",
            ],
        ]
        .concat(),
    );
    openssl(
        t,
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(t.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        t,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
    let (mut pg, sw) = (Postgres::start(), Seaweed::start());
    pg.enable_tls(&t.join("server.crt"), &t.join("server.key"));
    sw.bucket("evidence", true);
    let port = crate::rtsp::free_port();
    let adir = t.join("archive");
    let plain = archive_config(t, &pg, &sw, "evidence", port);
    let text = std::fs::read_to_string(&plain).unwrap();
    let tls = |extra: &str| {
        let cfg = t.join(format!("tls-{}.toml", extra.len()));
        let url = format!("{}?sslmode=require", pg.url());
        std::fs::write(&cfg, format!("{}{extra}", text.replace(&pg.url(), &url))).unwrap();
        cfg
    };

    // This machine's CAs do not know ours: refused at start, saying why.
    let out = archive_cmd(&tls(""), &["--data-dir", adir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr(&out).to_lowercase().contains("certificate"),
        "{}",
        show(&out)
    );

    // With our CA: it serves, and PostgreSQL says its connections are TLS.
    let cfg = tls(&format!(
        "postgres_ca_file = \"{}\"\n",
        t.join("ca.pem").display()
    ));
    let (_node, key) = start_archive(&cfg, &adir);
    assert!(!key.is_empty());
    let st = t.join("st");
    std::fs::create_dir_all(&st).unwrap();
    let out = run(&["--data-dir", st.to_str().unwrap(), "key"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(add_station(&cfg, &st).starts_with("pwa1_"));
    let rows = sql(&pg, "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE s.ssl AND a.datname = 'postgres' AND a.pid <> pg_backend_pid()");
    let n: i64 = rows[0].get(0);
    assert!(n >= 1, "no TLS connection from the archive");
}

/// A clip the station pruned (the archive holds it) is still in the order's bundle: `export`
/// fetches it from the archive with the station's token, checks it against its seal, and the
/// bundle verifies with the clip checked like any other. Another station's token cannot read
/// it.
#[test]
#[ignore = "slow tier: the archive's servers; run with `cargo test --test integration -- --ignored --test-threads=1`"]
fn a_clip_the_station_pruned_is_exported_from_the_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let (_pg, _sw, port, cfg) = evidence_servers(tmp.path());
    let (_node, key) = start_archive(&cfg, &tmp.path().join("archive"));
    let (dir, other) = (tmp.path().join("st"), tmp.path().join("other"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    let c = station_config(tmp.path(), "st", port, &add_station(&cfg, &dir), &key);
    let other_token = add_station(&cfg, &other);
    let mut st = record(&c, &dir);
    pack(&mut st, &dir, &["P-1", "P-2"]);
    wait_archived(&dir);
    let out = st.finish();
    assert!(out.status.success(), "{}", show(&out));

    // Retention squeezes the station: its clips go (the archive holds every one).
    let squeezed = tmp.path().join("squeezed.toml");
    std::fs::write(
        &squeezed,
        std::fs::read_to_string(&c).unwrap()
            + "[retention]\nmin_free_mb = 1000000000\nmin_age_hours = 0\n",
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let out = run(&[
        "--config",
        squeezed.to_str().unwrap(),
        "--data-dir",
        d,
        "prune",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let seal = sealed(&dir)
        .into_iter()
        .find(|r| r["order"] == "P-1")
        .unwrap();
    assert!(
        !dir.join(seal["file"].as_str().unwrap()).exists(),
        "pruned at the station"
    );

    // lookup says where it is now (the status stays `pruned` for scripts).
    let out = run(&[
        "--config",
        c.to_str().unwrap(),
        "--data-dir",
        d,
        "lookup",
        "P-1",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout(&out).contains("PRUNED")
            && stdout(&out).contains("export and the app fetch it from there"),
        "{}",
        show(&out)
    );
    let out = run(&[
        "--config",
        c.to_str().unwrap(),
        "--data-dir",
        d,
        "lookup",
        "P-1",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["file_status"], "pruned", "{v}");
    assert!(
        v[0]["file_detail"]
            .as_str()
            .is_some_and(|d| d.contains("COMPLIANCE until")),
        "{v}"
    );

    // Another station's token reads none of this station's clips.
    let sha = seal["sha256"].as_str().unwrap();
    let r = http(
        &format!("127.0.0.1:{port}"),
        "GET",
        &format!("/v1/clips/{sha}/bytes"),
        &[("Authorization", &format!("Bearer {other_token}"))],
        b"",
    );
    assert_eq!(r.status, 404, "{}", r.text());

    // The export still delivers it, from the archive.
    let zip = tmp.path().join("p1.zip");
    let out = run(&[
        "--config",
        c.to_str().unwrap(),
        "--data-dir",
        d,
        "export",
        "P-1",
        "-o",
        zip.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout(&out).contains("fetched from the archive, checked against its seal"),
        "{}",
        show(&out)
    );
    let out = run(&[
        "verify-bundle",
        zip.to_str().unwrap(),
        "--key",
        &station_key(&dir),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(5), "{v}");
    assert_eq!(v["report"]["clips_ok"], 1, "{v}");
    assert_eq!(v["report"]["clips_pruned"], 0, "{v}");
    let u = tmp.path().join("u");
    unzip_to(&zip, &u);
    let ev: serde_json::Value =
        serde_json::from_slice(&std::fs::read(u.join("evidence.json")).unwrap()).unwrap();
    let clip = &ev["clips"][0];
    assert_eq!(clip["pruned"], true, "{clip}");
    assert!(clip["from_archive"].as_str().is_some(), "{clip}");
    let bytes = std::fs::read(u.join(clip["file"].as_str().unwrap())).unwrap();
    assert_eq!(packwitness::digest::sha256_hex(&bytes), sha);
    // verify.sh checks it too (SHA256SUMS lists it).
    let sh = Command::new("bash")
        .arg("verify.sh")
        .arg(station_key(&dir))
        .current_dir(&u)
        .output()
        .unwrap();
    assert_eq!(sh.status.code(), Some(5), "{}", show(&sh));

    // The station's app plays it too: the order page says where it comes from, and the
    // clip's address serves the sealed bytes, fetched from the archive.
    let (_web, addr) = serve(&dir, Some(&c));
    let page = http(&addr, "GET", "/order/P-1", &[], b"");
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(
        page.text().contains("played from the archive"),
        "{}",
        page.text()
    );
    let id = seal["clip"].as_u64().unwrap();
    let r = http(&addr, "GET", &format!("/clips/{id}"), &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(packwitness::digest::sha256_hex(&r.body), sha);
    // A byte range of it, as a player asks.
    let r = http(
        &addr,
        "GET",
        &format!("/clips/{id}"),
        &[("Range", "bytes=0-99")],
        b"",
    );
    assert_eq!((r.status, r.body.len()), (206, 100));
    // The copy is outside clips/: the data dir still verifies, the viewing recorded.
    assert!(manifest(&dir)
        .iter()
        .any(|r| r["kind"] == "access" && r["action"] == "view"));
    assert_verifies(&dir);
}
