//! Anchoring: checkpoints stamped by a real RFC 3161 TSA (OpenSSL's `openssl ts -reply`
//! behind a small HTTP server, with a test CA and a TSA certificate whose timeStamping
//! extended key usage is critical); tokens that `openssl ts -verify` accepts; a TSA that is
//! down at first gets the queued checkpoints later, in order.

use crate::common::*;
use crate::rtsp::free_port;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Runs `cmd` with bash in `dir`; fails the test with its output when it fails.
pub(crate) fn sh(dir: &Path, cmd: &str) {
    let o = Command::new("bash")
        .args(["-ec", cmd])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{cmd}\n{}", show(&o));
}

/// A test CA (ECDSA P-256) and a TSA (RSA 2048) it signed, and the `openssl ts` config.
pub(crate) fn make_tsa(dir: &Path) -> PathBuf {
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
             certs = $dir/tsa.pem\nsigner_key = $dir/tsa.key\nsigner_digest = sha256\n\
             default_policy = 1.3.6.1.4.1.99999.1\ndigests = sha256\naccuracy = secs:1\n\
             ess_cert_id_alg = sha256\ncrypto_device = builtin\n",
            d = dir.display()
        ),
    )
    .unwrap();
    cfg
}

/// The TSA server on `port`; killed when dropped.
pub(crate) struct Tsa(Child);

impl Tsa {
    pub(crate) fn start(port: u16, cfg: &Path, work: &Path) -> Tsa {
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

/// Exports `code` of the data dir `dir` with the config `cfg` into `zip`.
fn export_bundle(cfg: &Path, dir: &Path, code: &str, zip: &Path) {
    let out = run(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "export",
        code,
        "-o",
        zip.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", show(&out));
}

/// Both checkers of `zip` with the station key and the TSA's CA: `verify-bundle --tsa-ca`,
/// and `verify.sh` with `TSA_CA` in the bundle unzipped into `u`.
fn check_with_ca(
    zip: &Path,
    u: &Path,
    key: &str,
    ca: &Path,
) -> (std::process::Output, std::process::Output) {
    let vb = run(&[
        "verify-bundle",
        zip.to_str().unwrap(),
        "--key",
        key,
        "--tsa-ca",
        ca.to_str().unwrap(),
    ]);
    unzip_to(zip, u);
    let sh = Command::new("bash")
        .arg("verify.sh")
        .arg(key)
        .env("TSA_CA", ca)
        .current_dir(u)
        .output()
        .unwrap();
    (vb, sh)
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
#[ignore = "slow tier: a TSA down and back (queued stamps delivered in order); run with `cargo test --test integration -- --ignored --test-threads=1`"]
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
    // Each stamp is on the record.
    wait_until("the anchored records", || {
        manifest(&dir)
            .iter()
            .filter(|r| r["kind"] == "anchored")
            .count()
            >= got.len()
    });
    let out = station.finish();
    assert!(out.status.success(), "{}", show(&out));
    // A clean stop writes every stamp's record before the writer's last checkpoint.
    assert!(
        !stderr(&out).contains("could not be written"),
        "{}",
        show(&out)
    );
    assert_verifies(&dir);

    // The bundle carries the stamps: both checkers prove the clip existed no later than the
    // TSA's time, with the published key and the TSA's CA.
    let zip = tmp.path().join("b.zip");
    export_bundle(&cfg, &dir, "SO-1001-TSA", &zip);
    let key = station_key(&dir);
    let ca = tsa_dir.join("ca.pem");
    let u = tmp.path().join("u");
    let (vb, sh) = check_with_ca(&zip, &u, &key, &ca);
    assert!(vb.status.success(), "{}", show(&vb));
    assert!(
        stdout(&vb).starts_with("VERIFIED")
            && stdout(&vb).contains("existed no later than 20")
            && stdout(&vb).contains("time proven: claims 20")
            && stdout(&vb).contains("time-stamp by CN=packwitness test TSA at 20"),
        "{}",
        show(&vb)
    );
    assert!(sh.status.success(), "{}", show(&sh));
    let when = |o: &std::process::Output| {
        stdout(o)
            .split("existed no later than ")
            .nth(1)
            .map(|r| r.split(' ').next().unwrap().to_string())
    };
    assert!(when(&sh).is_some(), "{}", show(&sh));
    assert_eq!(when(&sh), when(&vb), "{}\n{}", show(&sh), show(&vb));
    // Against another CA, the stamps do not check.
    let other = tmp.path().join("other");
    make_tsa(&other);
    let vb = run(&[
        "verify-bundle",
        zip.to_str().unwrap(),
        "--key",
        &key,
        "--tsa-ca",
        other.join("ca.pem").to_str().unwrap(),
    ]);
    assert_eq!(vb.status.code(), Some(3), "{}", show(&vb));
    // This machine's roots (`system`) are read; the test TSA does not chain to them.
    let vb = run(&[
        "verify-bundle",
        zip.to_str().unwrap(),
        "--key",
        &key,
        "--tsa-ca",
        "system",
    ]);
    assert_eq!(vb.status.code(), Some(3), "{}", show(&vb));
    assert!(
        stdout(&vb).contains("does not lead to a certificate"),
        "{}",
        show(&vb)
    );
    // Without the TSA's certificates from the reviewer, no token counts: the CA inside the
    // bundle is not trusted, and neither checker claims a time-stamped time.
    let vb = run(&["verify-bundle", zip.to_str().unwrap(), "--key", &key]);
    assert_eq!(vb.status.code(), Some(5), "{}", show(&vb));
    let sh = Command::new("bash")
        .arg("verify.sh")
        .arg(&key)
        .current_dir(&u)
        .output()
        .unwrap();
    assert_eq!(sh.status.code(), Some(5), "{}", show(&sh));
    for o in [&vb, &sh] {
        assert!(stdout(o).contains("TIME NOT PROVEN"), "{}", show(o));
        assert!(stdout(o).contains("time-stamps not checked"), "{}", show(o));
        assert!(!stdout(o).contains("existed no later than"), "{}", show(o));
    }

    // Re-dated: the log continued with the station clock set back six days (the key copied,
    // a staged order recorded). Its opening comes after an anchored record whose token says
    // 2026-12: both checkers refuse the clip's claimed time.
    redate(&dir, &cfg, &key, &ca, tmp.path());
}

/// Continues the log of `dir` with a clock six days back, records a staged clip, exports it,
/// and checks that both checkers catch it.
fn redate(dir: &Path, cfg: &Path, key: &str, ca: &Path, tmp: &Path) {
    use packwitness::log::{Body, SealReason};
    let config = packwitness::config::Config::load(cfg).unwrap();
    let clock: packwitness::clock::SharedClock =
        std::sync::Arc::new(packwitness::clock::SimClock::at_test_epoch());
    let genuine = manifest(dir)
        .into_iter()
        .find(|r| r["kind"] == "clip_sealed")
        .unwrap();
    let file = "clips/station-1/2026-11-25/SO-1009-FAKE_cam-1_000999.mp4";
    let bytes = std::fs::read(dir.join(genuine["file"].as_str().unwrap())).unwrap();
    std::fs::create_dir_all(dir.join(file).parent().unwrap()).unwrap();
    std::fs::write(dir.join(file), &bytes).unwrap();
    {
        let mut w = packwitness::recorder::Writer::open(dir, &config, clock).unwrap();
        let t = |s: u32| format!("2026-11-25T20:40:{s:02}.000+08:00");
        let opened = w
            .append(Body::ClipOpened {
                order: "SO-1009-FAKE".into(),
                station: "station-1".into(),
                camera: "cam-1".into(),
                operator: None,
                group: "fake-1".into(),
                part: 1,
                box_no: 1,
                file: file.into(),
                started_at: t(0),
                scanned_at: t(3),
                first_frame: 0,
                clock_synced: Some(true),
                test_pattern: Some(false),
            })
            .unwrap();
        w.append(Body::ClipSealed {
            clip: opened.seq,
            order: "SO-1009-FAKE".into(),
            station: "station-1".into(),
            camera: "cam-1".into(),
            file: file.into(),
            reason: SealReason::StopCode,
            started_at: t(0),
            ended_at: t(9),
            duration_ms: 9000,
            frames: genuine["frames"].as_u64().unwrap(),
            first_frame: 0,
            size: bytes.len() as u64,
            sha256: packwitness::digest::sha256_hex(&bytes),
            fragments: genuine["fragments"].as_u64().unwrap(),
            fragments_sha256: genuine["fragments_sha256"].as_str().unwrap().into(),
            dropped_frames: None,
            presets: Vec::new(),
        })
        .unwrap();
        w.checkpoint().unwrap();
    }
    // The whole log tells too: its lines were written before a TSA time it recorded.
    let v = run(&["--data-dir", dir.to_str().unwrap(), "verify"]);
    assert_eq!(v.status.code(), Some(3), "{}", show(&v));
    assert!(show(&v).contains("the log was re-dated"), "{}", show(&v));
    let zip = tmp.join("fake.zip");
    export_bundle(cfg, dir, "SO-1009-FAKE", &zip);
    let (vb, sh) = check_with_ca(&zip, &tmp.join("fake"), key, ca);
    assert_eq!(vb.status.code(), Some(3), "{}", show(&vb));
    assert!(
        stdout(&vb).contains("the log was re-dated"),
        "{}",
        show(&vb)
    );
    assert_eq!(sh.status.code(), Some(3), "{}", show(&sh));
    assert!(
        stdout(&sh).contains("the log was re-dated"),
        "{}",
        show(&sh)
    );
    // The anchored record that gives the re-dating away taken out of the bundle, and the
    // bundle re-signed with the station's own key (the merchant holds it): the contradiction
    // is gone, but the clip's claimed time still has no proof before today's stamps. Both
    // checkers say TIME NOT PROVEN, never VERIFIED.
    let stripped = tmp.join("stripped.zip");
    crate::stranger::strip_and_resign(&zip, dir, "anchored", &stripped);
    let (vb, sh) = check_with_ca(&stripped, &tmp.join("stripped"), key, ca);
    assert_eq!(vb.status.code(), Some(5), "{}", show(&vb));
    assert!(stdout(&vb).starts_with("TIME NOT PROVEN"), "{}", show(&vb));
    assert_eq!(sh.status.code(), Some(5), "{}", show(&sh));
    assert!(stdout(&sh).contains("TIME NOT PROVEN"), "{}", show(&sh));
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

/// An `openssl ts` config of a TSA signing with `signer` (and `key`), carrying `certs`.
fn ts_config(dir: &Path, name: &str, signer: &str, certs: &str, key: &str) -> PathBuf {
    let cfg = dir.join(format!("{name}.cnf"));
    std::fs::write(
        &cfg,
        format!(
            "[tsa]\ndefault_tsa = tsa1\n[tsa1]\ndir = {d}\nserial = $dir/serial\nsigner_cert = $dir/{signer}\n\
             certs = $dir/{certs}\nsigner_key = $dir/{key}\nsigner_digest = sha256\n\
             default_policy = 1.3.6.1.4.1.99999.1\ndigests = sha256\naccuracy = secs:1\n\
             ess_cert_id_alg = sha256\ncrypto_device = builtin\n",
            d = dir.display()
        ),
    )
    .unwrap();
    cfg
}

/// A TSA under the CA of [`make_tsa`] in `dir` whose certificate a leaf of that CA (not a CA
/// itself) signed: a chain no checker may accept. Its `openssl ts` config.
fn leaf_as_intermediate(dir: &Path) -> PathBuf {
    std::fs::write(
        dir.join("leaf.cnf"),
        "[leaf]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature, keyCertSign\n",
    )
    .unwrap();
    sh(
        dir,
        "openssl ecparam -name prime256v1 -genkey -noout -out leaf.key
         openssl req -new -key leaf.key -subj '/CN=packwitness test leaf' -out leaf.csr
         openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
           -extfile leaf.cnf -extensions leaf -out leaf.pem 2>/dev/null
         openssl req -new -key tsa.key -subj '/CN=packwitness sub TSA' -out sub.csr
         openssl x509 -req -in sub.csr -CA leaf.pem -CAkey leaf.key -CAcreateserial -days 30 \
           -extfile ext.cnf -extensions tsa_ext -out sub.pem 2>/dev/null
         cat sub.pem leaf.pem > sub-chain.pem",
    );
    ts_config(dir, "sub", "sub.pem", "sub-chain.pem", "tsa.key")
}

/// A TSA certificate the CA of [`make_tsa`] in `dir` issued valid from `start` to `end`
/// (`YYYYMMDDHHMMSSZ`), named `name`. Its `openssl ts` config.
fn issued_tsa(dir: &Path, name: &str, start: &str, end: &str) -> PathBuf {
    if !dir.join("ca.cnf").exists() {
        std::fs::create_dir_all(dir.join("newcerts")).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("caserial"), "1000\n").unwrap();
        std::fs::write(
            dir.join("ca.cnf"),
            "[ca]\ndefault_ca = own\n[own]\ndir = .\ndatabase = index.txt\nnew_certs_dir = newcerts\n\
             serial = caserial\ndefault_md = sha256\npolicy = any\nunique_subject = no\n[any]\ncommonName = supplied\n",
        )
        .unwrap();
    }
    sh(
        dir,
        &format!(
            "openssl req -new -key tsa.key -subj '/CN=packwitness {name} TSA' -out {name}.csr
             openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in {name}.csr \
               -out {name}.pem -startdate {start} -enddate {end} -extfile ext.cnf \
               -extensions tsa_ext -notext 2>/dev/null"
        ),
    );
    ts_config(
        dir,
        name,
        &format!("{name}.pem"),
        &format!("{name}.pem"),
        "tsa.key",
    )
}

/// A token of the TSA of `cfg` over `data` (DER TimeStampResp).
fn token(dir: &Path, cfg: &Path, data: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join("data.bin"), data).unwrap();
    sh(
        dir,
        &format!(
            "openssl ts -query -data data.bin -sha256 -cert -out q.tsq
             openssl ts -reply -config {} -queryfile q.tsq -out r.tsr 2>/dev/null",
            cfg.display()
        ),
    );
    std::fs::read(dir.join("r.tsr")).unwrap()
}

/// `openssl ts -verify` of the last token at `attime` (Unix seconds), as verify.sh runs it.
fn openssl_verifies(dir: &Path, attime: Option<i64>) -> bool {
    let at = attime.map_or(String::new(), |t| format!("-attime {t}"));
    Command::new("bash")
        .args([
            "-c",
            &format!("openssl ts -verify -data data.bin -in r.tsr -CAfile ca.pem {at}"),
        ])
        .current_dir(dir)
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn tsa_chains_are_validated_in_full_at_the_stamps_time() {
    use packwitness::anchor::tsp;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let good = make_tsa(dir);
    let roots = tsp::load_roots(&std::fs::read(dir.join("ca.pem")).unwrap()).unwrap();
    let data = b"a checkpoint note\n";
    // The genuine TSA: taken.
    let t = token(dir, &good, data);
    let stamp = tsp::check(&t, data, None, &roots).unwrap();
    assert_eq!(stamp.tsa, "CN=packwitness test TSA");

    // A leaf of the CA (not a CA itself) posing as an intermediate: refused by the checker,
    // and by OpenSSL.
    let sub = leaf_as_intermediate(dir);
    let t = token(dir, &sub, data);
    let e = tsp::check(&t, data, None, &roots).unwrap_err().to_string();
    assert!(e.contains("not a CA"), "{e}");
    assert!(!openssl_verifies(dir, None));

    // A TSA certificate that expired before the token was made: refused (at the stamp's
    // time), by both.
    let issue = |name: &str, start: &str, end: &str| issued_tsa(dir, name, start, end);
    let old = issue("old", "20200101000000Z", "20210101000000Z");
    let t = token(dir, &old, data);
    let e = tsp::check(&t, data, None, &roots).unwrap_err().to_string();
    assert!(e.contains("not valid at the stamp's time"), "{e}");
    let gen = chrono::Utc::now().timestamp();
    assert!(!openssl_verifies(dir, Some(gen)));

    // One that was valid when the token was made and has expired since: still good, at the
    // stamp's time (OpenSSL at today's date would refuse it; verify.sh gives -attime).
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y%m%d%H%M%SZ").to_string();
    let now = chrono::Utc::now();
    let until = now + chrono::Duration::seconds(3);
    let brief = issue("brief", &fmt(now - chrono::Duration::hours(1)), &fmt(until));
    let t = token(dir, &brief, data);
    wait_until("the brief certificate to expire", || {
        chrono::Utc::now() > until + chrono::Duration::seconds(1)
    });
    let stamp = tsp::check(&t, data, None, &roots).unwrap();
    let gen = chrono::DateTime::parse_from_rfc3339(&stamp.gen_time)
        .unwrap()
        .timestamp();
    assert!(openssl_verifies(dir, Some(gen)));
    assert!(!openssl_verifies(dir, None));
}

/// A stranger's check of a staged clip: the merchant starts a log over (a new data dir), records
/// a packing with the station clock set five days back, then lets the station run with its real
/// TSA, which stamps the log today. Every file and record holds and the token is genuine, but
/// the clip's claimed time has no proof until five days later: TIME NOT PROVEN, by how much,
/// in both checkers; never VERIFIED. Its tokens swapped for ones of a leaf posing as an
/// intermediate or of an expired TSA certificate: FAILED in both.
#[test]
fn a_staged_clip_stamped_days_later_is_time_not_proven() {
    use packwitness::log::{Body, SealReason};
    let tmp = tempfile::tempdir().unwrap();
    let tsa_dir = tmp.path().join("tsa");
    let ts_cfg = make_tsa(&tsa_dir);
    let port = free_port();
    let _tsa = Tsa::start(port, &ts_cfg, &tsa_dir);
    let ca = tsa_dir.join("ca.pem");
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(
        &cfg,
        format!(
            "[ledger]\ncheckpoint_every = 1\n[anchor]\ntsa = [\"http://127.0.0.1:{port}/tsa\"]\ntsa_ca = \"{}\"\nevery_s = 1\n",
            ca.display()
        ),
    )
    .unwrap();
    // A genuine MP4 to stage with.
    let demo = demo_copy(tmp.path());
    let genuine = manifest(&demo)
        .into_iter()
        .find(|r| r["kind"] == "clip_sealed")
        .unwrap();
    let bytes = std::fs::read(demo.join(genuine["file"].as_str().unwrap())).unwrap();
    // The staged packing, five days back by the station clock, in a log started over.
    let dir = tmp.path().join("staged");
    let config = packwitness::config::Config::load(&cfg).unwrap();
    let back =
        chrono::Utc::now().fixed_offset() - chrono::Duration::days(5) - chrono::Duration::hours(1);
    let clock: packwitness::clock::SharedClock =
        std::sync::Arc::new(packwitness::clock::SimClock::new(back));
    let file = "clips/station-1/staged/SO-7001-STAGED_cam-1.mp4";
    std::fs::create_dir_all(dir.join(file).parent().unwrap()).unwrap();
    std::fs::write(dir.join(file), &bytes).unwrap();
    let t = |s: i64| {
        (back + chrono::Duration::seconds(s)).to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
    };
    {
        let mut w = packwitness::recorder::Writer::open(&dir, &config, clock).unwrap();
        let opened = w
            .append(Body::ClipOpened {
                order: "SO-7001-STAGED".into(),
                station: "station-1".into(),
                camera: "cam-1".into(),
                operator: None,
                group: "staged-1".into(),
                part: 1,
                box_no: 1,
                file: file.into(),
                started_at: t(0),
                scanned_at: t(0),
                first_frame: 0,
                clock_synced: Some(true),
                test_pattern: Some(false),
            })
            .unwrap();
        w.append(Body::ClipSealed {
            clip: opened.seq,
            order: "SO-7001-STAGED".into(),
            station: "station-1".into(),
            camera: "cam-1".into(),
            file: file.into(),
            reason: SealReason::StopCode,
            started_at: t(0),
            ended_at: t(9),
            duration_ms: 9000,
            frames: genuine["frames"].as_u64().unwrap(),
            first_frame: 0,
            size: bytes.len() as u64,
            sha256: packwitness::digest::sha256_hex(&bytes),
            fragments: genuine["fragments"].as_u64().unwrap(),
            fragments_sha256: genuine["fragments_sha256"].as_str().unwrap().into(),
            dropped_frames: None,
            presets: Vec::new(),
        })
        .unwrap();
        w.checkpoint().unwrap();
    }
    // Today the station runs with its TSA: the log, staged clip included, is stamped now.
    let mut station = spawn_station(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--source",
        "lavfi:testsrc2=size=320x240:rate=15",
    ]);
    station.wait_record(&dir, "a TSA's stamp", |r| r["kind"] == "anchored");
    let out = station.finish();
    assert!(out.status.success(), "{}", show(&out));
    let zip = tmp.path().join("staged.zip");
    export_bundle(&cfg, &dir, "SO-7001-STAGED", &zip);
    let key = station_key(&dir);
    let (vb, sh) = check_with_ca(&zip, &tmp.path().join("u"), &key, &ca);
    assert_eq!(vb.status.code(), Some(5), "{}", show(&vb));
    assert!(
        stdout(&vb).starts_with("TIME NOT PROVEN")
            && stdout(&vb).contains("time not proven: claims")
            && stdout(&vb).contains("the earliest independent proof that it existed is")
            && stdout(&vb).contains("5 days"),
        "{}",
        show(&vb)
    );
    assert_eq!(sh.status.code(), Some(5), "{}", show(&sh));
    assert!(
        stdout(&sh).contains("TIME NOT PROVEN: order SO-7001-STAGED")
            && stdout(&sh).contains("5 days"),
        "{}",
        show(&sh)
    );
    // A reviewer who allows a week of delay accepts it: the verdict is the tolerance's.
    let vb = run(&[
        "verify-bundle",
        zip.to_str().unwrap(),
        "--key",
        &key,
        "--tsa-ca",
        ca.to_str().unwrap(),
        "--max-delay",
        "7d",
    ]);
    assert!(vb.status.success(), "{}", show(&vb));

    // The bundle's tokens swapped for tokens, over the same stamped notes, of TSAs under the
    // reviewer's CA that must not count, and the bundle re-signed with the station key: a
    // leaf of the CA posing as an intermediate, and a TSA certificate that expired before
    // the token was made. Both checkers refuse the whole bundle (FAILED), naming the token.
    let station = packwitness::log::note::StationKey::for_data_dir(&dir, &config).unwrap();
    let forgeries = [
        ("leaf", leaf_as_intermediate(&tsa_dir), "not a CA"),
        (
            "expired",
            issued_tsa(&tsa_dir, "old", "20200101000000Z", "20210101000000Z"),
            "not valid at the stamp's time",
        ),
    ];
    for (tag, forger, why) in forgeries {
        let mut files = crate::stranger::read_zip(&zip);
        let tokens: Vec<String> = files
            .keys()
            .filter(|n| n.ends_with(".tsr"))
            .cloned()
            .collect();
        assert!(!tokens.is_empty());
        for name in &tokens {
            let note = files[&name.replace(".tsr", ".note")].clone();
            files.insert(name.clone(), token(&tsa_dir, &forger, &note));
        }
        crate::stranger::resign(&mut files, &station);
        let forged = tmp.path().join(format!("{tag}.zip"));
        crate::stranger::write_zip(&forged, &files);
        let (vb, sh) = check_with_ca(&forged, &tmp.path().join(tag), &key, &ca);
        assert_eq!(vb.status.code(), Some(3), "{tag}: {}", show(&vb));
        assert!(
            stdout(&vb).starts_with("FAILED") && stdout(&vb).contains(why),
            "{tag}: {}",
            show(&vb)
        );
        assert_eq!(sh.status.code(), Some(3), "{tag}: {}", show(&sh));
        assert!(
            stdout(&sh).contains("the time-stamp does not verify against"),
            "{tag}: {}",
            show(&sh)
        );
    }
}
