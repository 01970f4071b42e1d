//! Anchoring: checkpoints stamped by a real RFC 3161 TSA (OpenSSL's `openssl ts -reply`
//! behind a small HTTP server, with a test CA and a TSA certificate whose timeStamping
//! extended key usage is critical); tokens that `openssl ts -verify` accepts; a TSA that is
//! down at first gets the queued checkpoints later, in order.

use crate::common::*;
use crate::rtsp::free_port;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn sh(dir: &Path, cmd: &str) {
    let o = Command::new("bash")
        .args(["-ec", cmd])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{cmd}\n{}", show(&o));
}

/// A test CA (ECDSA P-256) and a TSA (RSA 2048) it signed, and the `openssl ts` config.
fn make_tsa(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("ext.cnf"),
        "[tsa_ext]\nbasicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = critical, timeStamping\n",
    )
    .unwrap();
    sh(
        dir,
        "openssl ecparam -name prime256v1 -genkey -noout -out ca.key
         openssl req -x509 -new -key ca.key -subj '/CN=packwitness test CA' -days 3650 -out ca.pem
         openssl genrsa -out tsa.key 2048 2>/dev/null
         openssl req -new -key tsa.key -subj '/CN=packwitness test TSA' -out tsa.csr
         openssl x509 -req -in tsa.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
           -extfile ext.cnf -extensions tsa_ext -out tsa.pem 2>/dev/null
         echo 01 > serial",
    );
    let cfg = dir.join("ts.cnf");
    std::fs::write(
        &cfg,
        format!(
            "[tsa]\ndefault_tsa = tsa1\n[tsa1]\ndir = {d}\nserial = $dir/serial\nsigner_cert = $dir/tsa.pem\n\
             signer_key = $dir/tsa.key\nsigner_digest = sha256\n\
             default_policy = 1.3.6.1.4.1.99999.1\ndigests = sha256\naccuracy = secs:1\n\
             ess_cert_id_alg = sha256\ncrypto_device = builtin\n",
            d = dir.display()
        ),
    )
    .unwrap();
    cfg
}

/// The TSA server on `port`; killed when dropped.
struct Tsa(Child);

impl Tsa {
    fn start(port: u16, cfg: &Path, work: &Path) -> Tsa {
        let mut child = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tsa_server.py"))
            .arg(port.to_string())
            .arg(cfg)
            .arg(work)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        Tsa(child)
    }
}

impl Drop for Tsa {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The stamped checkpoints of a data dir: (size, note, token), smallest first.
fn stamped(dir: &Path) -> Vec<(u64, PathBuf, PathBuf)> {
    let mut v = Vec::new();
    for day in std::fs::read_dir(dir.join("anchors/tsa"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for f in std::fs::read_dir(day.path()).unwrap().flatten() {
            let p = f.path();
            if p.extension().is_some_and(|e| e == "note") {
                let size = p.file_stem().unwrap().to_str().unwrap().parse().unwrap();
                v.push((size, p.clone(), p.with_extension("tsr")));
            }
        }
    }
    v.sort();
    v
}

fn anchor_status(dir: &Path) -> serde_json::Value {
    let out = run(&["--data-dir", dir.to_str().unwrap(), "status", "--json"]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default()["anchor"].clone()
}

#[test]
fn checkpoints_are_stamped_by_a_tsa_and_queued_while_it_is_down() {
    let tmp = tempfile::tempdir().unwrap();
    let tsa_dir = tmp.path().join("tsa");
    let ts_cfg = make_tsa(&tsa_dir);
    let port = free_port();
    let dir = tmp.path().join("d");
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(
        &cfg,
        format!(
            "[ledger]\ncheckpoint_every = 1\n[anchor]\ntsa = [\"http://127.0.0.1:{port}/tsa\"]\ntsa_ca = \"{}\"\nevery_s = 1\n",
            tsa_dir.join("ca.pem").display()
        ),
    )
    .unwrap();
    let mut station = spawn_station(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--source",
        "lavfi:testsrc2=size=320x240:rate=15",
    ]);
    station.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    station.scan("SO-1001-TSA");
    station.wait_record(&dir, "the clip", |r| r["kind"] == "clip_opened");
    // The TSA is down: the checkpoints wait in the queue, and the status says why.
    wait_until("a checkpoint queued with the TSA's failure", || {
        let a = anchor_status(&dir);
        a["queued"].as_u64().unwrap_or(0) > 0
            && a["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("cannot connect"))
    });
    station.scan("PW-STOP");
    station.wait_record(&dir, "the clip sealed", |r| r["kind"] == "clip_sealed");
    wait_until("the queue to hold two checkpoints", || {
        anchor_status(&dir)["queued"].as_u64().unwrap_or(0) >= 2
    });
    assert!(stamped(&dir).is_empty());
    // Up again: every queued checkpoint is stamped, oldest first.
    let _tsa = Tsa::start(port, &ts_cfg, &tsa_dir);
    wait_until("the queue to be delivered", || {
        let a = anchor_status(&dir);
        a["queued"] == 0 && a["last_size"].as_u64().is_some()
    });
    let got = stamped(&dir);
    assert!(got.len() >= 2, "{got:?}");
    let sealed_line = manifest(&dir)
        .iter()
        .find(|r| r["kind"] == "clip_sealed")
        .unwrap()["seq"]
        .as_u64()
        .unwrap();
    assert!(
        got.iter().any(|g| g.0 >= sealed_line),
        "the seal is anchored: {got:?}"
    );
    let mut serials = Vec::new();
    for (size, note, tsr) in &got {
        // Each token stamps exactly its note, and OpenSSL agrees with the chain.
        let o = Command::new("openssl")
            .args(["ts", "-verify", "-data"])
            .arg(note)
            .arg("-in")
            .arg(tsr)
            .arg("-CAfile")
            .arg(tsa_dir.join("ca.pem"))
            .output()
            .unwrap();
        assert!(
            stdout(&o).contains("Verification: OK"),
            "{size}: {}",
            show(&o)
        );
        // The note is a checkpoint the manifest recorded.
        let text = std::fs::read_to_string(note).unwrap();
        assert!(
            manifest(&dir)
                .iter()
                .any(|r| r["kind"] == "checkpoint" && r["note"] == text.as_str()),
            "{size}"
        );
        let o = Command::new("openssl")
            .args(["ts", "-reply", "-text", "-in"])
            .arg(tsr)
            .output()
            .unwrap();
        let serial = stdout(&o)
            .lines()
            .find_map(|l| l.strip_prefix("Serial number: ").map(str::to_string))
            .unwrap();
        serials.push(u64::from_str_radix(serial.trim_start_matches("0x"), 16).unwrap());
    }
    // Delivered in order: the TSA's serial numbers rise with the checkpoint sizes.
    let mut sorted = serials.clone();
    sorted.sort();
    assert_eq!(serials, sorted, "{got:?}");
    let out = station.finish();
    assert!(out.status.success(), "{}", show(&out));
    assert_verifies(&dir);
}

#[test]
fn a_token_from_an_untrusted_tsa_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let tsa_dir = tmp.path().join("tsa");
    let ts_cfg = make_tsa(&tsa_dir);
    // Trust another CA (with the same name): the real TSA's tokens must not be accepted.
    let other = tmp.path().join("other");
    make_tsa(&other);
    let port = free_port();
    let _tsa = Tsa::start(port, &ts_cfg, &tsa_dir);
    let dir = tmp.path().join("d");
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(
        &cfg,
        format!(
            "[ledger]\ncheckpoint_every = 1\n[anchor]\ntsa = [\"http://127.0.0.1:{port}/\"]\ntsa_ca = \"{}\"\nevery_s = 1\n",
            other.join("ca.pem").display()
        ),
    )
    .unwrap();
    let mut station = spawn_station(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--source",
        "lavfi:testsrc2=size=320x240:rate=15",
    ]);
    station.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    station.scan("SO-1002-TSA");
    wait_until("the token to be refused", || {
        anchor_status(&dir)["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("[anchor] tsa_ca"))
    });
    assert!(stamped(&dir).is_empty());
    let out = station.finish();
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
fn anchoring_without_the_tsa_certificates_is_refused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(&cfg, "[anchor]\ntsa = [\"http://127.0.0.1:9/\"]\n").unwrap();
    let out = run(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        tmp.path().join("d").to_str().unwrap(),
        "run",
        "--source",
        "testsrc",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr(&out).contains("tsa_ca"), "{}", show(&out));
}
