//! Ledger v3 from the outside: the tiles on disk and over HTTP are the RFC 6962 tree of the
//! manifest's lines as this file computes it (with nothing but SHA-256 and the C2SP paths),
//! checkpoints verify with the published key and an Ed25519 library, consistency proofs check
//! by the RFC 9162 algorithm written out below, a fork under the same key is refused, salts
//! keep other orders out of a bundle, and verify remembers what it hashed.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::common::*;

type H = [u8; 32];

fn sha(parts: &[&[u8]]) -> H {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn leaf(line: &[u8]) -> H {
    sha(&[&[0], line])
}

fn node(l: &H, r: &H) -> H {
    sha(&[&[1], l, r])
}

/// RFC 6962 2.1: the Merkle tree hash.
fn mth(h: &[H]) -> H {
    match h.len() {
        0 => sha(&[]),
        1 => h[0],
        n => {
            let k = n.next_power_of_two() / 2;
            node(&mth(&h[..k]), &mth(&h[k..]))
        }
    }
}

/// RFC 9162 2.1.4.2: verifies a consistency proof from a tree of `m` to one of `n` leaves.
fn consistent(m: u64, n: u64, old: &H, new: &H, proof: &[H]) -> bool {
    if m == n {
        return proof.is_empty() && old == new;
    }
    let mut path = proof.to_vec();
    if m.is_power_of_two() {
        path.insert(0, *old);
    }
    if path.is_empty() {
        return false;
    }
    let (mut fnn, mut sn) = (m - 1, n - 1);
    while fnn & 1 == 1 {
        fnn >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return false;
        }
        if fnn & 1 == 1 || fnn == sn {
            fr = node(c, &fr);
            sr = node(c, &sr);
            if fnn & 1 == 0 {
                while fnn & 1 == 0 && fnn != 0 {
                    fnn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node(&sr, c);
        }
        fnn >>= 1;
        sn >>= 1;
    }
    sn == 0 && fr == *old && sr == *new
}

/// C2SP tlog-tiles: N in groups of three digits, all but the last prefixed with `x`.
fn c2sp_index(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

fn tile_name(level: u32, n: u64, width: usize) -> String {
    let mut p = format!("tile/{level}/{}", c2sp_index(n));
    if width < 256 {
        p.push_str(&format!(".p/{width}"));
    }
    p
}

/// Every tile a log of these leaves has, by its path.
fn expected_tiles(leaves: &[H]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut level_hashes = leaves.to_vec();
    let mut level = 0;
    while !level_hashes.is_empty() {
        for (n, chunk) in level_hashes.chunks(256).enumerate() {
            out.insert(tile_name(level, n as u64, chunk.len()), chunk.concat());
        }
        // The next level holds the roots of the full 256-hash subtrees of this one.
        level_hashes = level_hashes
            .chunks(256)
            .filter(|c| c.len() == 256)
            .map(mth)
            .collect();
        level += 1;
    }
    out
}

/// The tiles on disk (no temporary or dot files).
fn stored_tiles(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, at: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(at).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with('.'),
                "a temporary file is left: {:?}",
                e.path()
            );
            if e.file_type().unwrap().is_dir() {
                walk(base, &e.path(), out);
            } else {
                let rel = e
                    .path()
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &dir.join("tile"), &mut out);
    out
}

/// The manifest's lines, each with its newline (the bytes the leaves hash).
fn raw_lines(dir: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(dir.join("manifest.jsonl")).unwrap();
    bytes
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn leaves(dir: &Path) -> Vec<H> {
    raw_lines(dir).iter().map(|l| leaf(l)).collect()
}

fn assert_tiles_match(dir: &Path, what: &str) {
    let expected = expected_tiles(&leaves(dir));
    let stored = stored_tiles(dir);
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&stored), names(&expected), "{what}: the tile paths");
    for (name, bytes) in &expected {
        assert!(
            stored[name] == *bytes,
            "{what}: {name} differs from the tree of the lines"
        );
    }
}

/// A synthetic data dir of about `records` records (the bench's builder: the real ledger,
/// checkpoints every 100 records, the last clips with files).
fn synthetic(tmp: &Path, records: u64) -> PathBuf {
    let dir = tmp.join("data");
    let out = run(&[
        "bench-worker",
        "--out",
        dir.to_str().unwrap(),
        "--build-ledger",
        &records.to_string(),
    ]);
    assert!(out.status.success(), "{}", show(&out));
    dir
}

fn data(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--data-dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    run(&all)
}

fn verify_json(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["verify", "--json"];
    args.extend_from_slice(extra);
    let out = data(dir, &args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)))
}

fn problem_kinds(v: &serde_json::Value) -> Vec<String> {
    v["report"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect()
}

/// The checkpoint records of the manifest.
fn checkpoints(dir: &Path) -> Vec<serde_json::Value> {
    manifest(dir)
        .into_iter()
        .filter(|r| r["kind"] == "checkpoint")
        .collect()
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap_or_else(|e| panic!("{s:?} is not base64: {e}"))
}

/// Checks a signed note (c2sp.org/signed-note) with the verifier key line alone; returns
/// its body.
fn open_note<'a>(note: &'a str, verifier: &str) -> &'a str {
    let v: Vec<&str> = verifier.trim().splitn(3, '+').collect();
    assert_eq!(v.len(), 3, "verifier {verifier:?}");
    let key = b64(v[2]);
    assert_eq!(key[0], 1, "an Ed25519 key");
    let id = u32::from_str_radix(v[1], 16).unwrap().to_be_bytes();
    let pk = ed25519_dalek::VerifyingKey::from_bytes(key[1..].try_into().unwrap()).unwrap();
    let at = note
        .rfind("\n\n")
        .expect("a note has a blank line before its signatures")
        + 1;
    let (body, sigs) = note.split_at(at);
    let ok = sigs.lines().skip(1).any(|l| {
        let Some(rest) = l.strip_prefix("\u{2014} ") else {
            return false;
        };
        let Some((name, sig)) = rest.split_once(' ') else {
            return false;
        };
        let sig = b64(sig);
        name == v[0]
            && sig.len() == 68
            && sig[..4] == id
            && pk
                .verify_strict(
                    body.as_bytes(),
                    &ed25519_dalek::Signature::from_slice(&sig[4..]).unwrap(),
                )
                .is_ok()
    });
    assert!(ok, "the note is not signed by {verifier}:\n{note}");
    body
}

/// (origin, size, root) of a checkpoint body.
fn checkpoint_body(body: &str) -> (String, u64, H) {
    let l: Vec<&str> = body.lines().collect();
    (
        l[0].to_string(),
        l[1].parse().unwrap(),
        b64(l[2]).try_into().unwrap(),
    )
}

fn station_key(dir: &Path) -> String {
    let out = data(dir, &["key"]);
    assert!(out.status.success(), "{}", show(&out));
    stdout(&out).trim().to_string()
}

#[test]
fn tiles_are_the_tree_of_the_lines_and_are_rebuilt_when_damaged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic(tmp.path(), 3000);
    let lines = raw_lines(&dir);
    assert!(lines.len() > 2800, "{} lines", lines.len());
    assert_tiles_match(&dir, "as built");

    // Each checkpoint is signed by the station key and names the tree of the lines before it.
    let key = station_key(&dir);
    let cps = checkpoints(&dir);
    assert!(cps.len() > 20);
    let all = leaves(&dir);
    for cp in [&cps[0], &cps[cps.len() / 2], &cps[cps.len() - 1]] {
        let (origin, size, root) = checkpoint_body(open_note(cp["note"].as_str().unwrap(), &key));
        assert_eq!(origin, key.split('+').next().unwrap());
        assert_eq!(size, cp["seq"].as_u64().unwrap() - 1, "{cp}");
        assert_eq!(root, mth(&all[..size as usize]), "{cp}");
    }

    // A hold appends (and signs); the tiles grow with the lines.
    let out = data(
        &dir,
        &["hold", "BL-00000700", "--reason", "dispute", "--who", "cs"],
    );
    assert!(out.status.success(), "{}", show(&out));
    assert_tiles_match(&dir, "after a hold");

    // A tile whose bytes were changed (same length) is found by verify and named; reindex
    // rebuilds it.
    let victim = dir.join("tile/0/002");
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&victim, &bytes).unwrap();
    let v = verify_json(&dir, &["--quick"]);
    assert_eq!(v["ok"], false, "{v}");
    let p = &v["report"]["problems"][0];
    assert_eq!(p["kind"], "tile_mismatch", "{v}");
    assert_eq!(p["file"], "tile/0/002", "{v}");
    // A deleted tile likewise.
    std::fs::remove_file(dir.join("tile/0/005")).unwrap();
    let v = verify_json(&dir, &["--quick"]);
    let files: Vec<&str> = v["report"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "tile_mismatch")
        .filter_map(|p| p["file"].as_str())
        .collect();
    assert!(files.contains(&"tile/0/005"), "{v}");
    let out = data(&dir, &["reindex"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout(&out).contains("tiles and ledger.state rebuilt"),
        "{}",
        show(&out)
    );
    assert_tiles_match(&dir, "after reindex");
    let v = verify_json(&dir, &["--quick"]);
    assert_eq!(v["ok"], true, "{v}");

    // A stale ledger.state (a restored backup, say) is noticed at the next open and the
    // derived files are rebuilt from the manifest.
    let state = std::fs::read(dir.join("ledger.state")).unwrap();
    let out = data(
        &dir,
        &["hold", "BL-00000701", "--reason", "dispute", "--who", "cs"],
    );
    assert!(out.status.success(), "{}", show(&out));
    std::fs::write(dir.join("ledger.state"), state).unwrap();
    std::fs::remove_dir_all(dir.join("tile/0")).unwrap();
    let out = data(
        &dir,
        &["hold", "BL-00000702", "--reason", "dispute", "--who", "cs"],
    );
    assert!(out.status.success(), "{}", show(&out));
    assert_tiles_match(&dir, "after a stale state");
    assert_verifies(&dir);
}

#[test]
fn http_serves_the_checkpoint_tiles_and_entries_a_tlog_client_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic(tmp.path(), 1500);
    let key = station_key(&dir);
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(
        &cfg,
        "[server]\nmetrics_token = \"metrics-0123456789ab\"\naudit_token = \"audit-0123456789abcd\"\n",
    )
    .unwrap();
    let (_server, addr) = serve(&dir, Some(&cfg));
    let lines = raw_lines(&dir);
    let all = leaves(&dir);

    let cp = http(&addr, "GET", "/checkpoint", &[], b"");
    assert_eq!(cp.status, 200, "{}", cp.text());
    let note = cp.text();
    let (_, size, root) = checkpoint_body(open_note(&note, &key));
    assert_eq!(
        note,
        checkpoints(&dir).last().unwrap()["note"].as_str().unwrap()
    );
    assert_eq!(root, mth(&all[..size as usize]));

    // Every tile of the checkpoint's tree, fetched as a client would, is the tree's.
    let expected = expected_tiles(&all[..size as usize]);
    for (name, bytes) in &expected {
        let t = http(&addr, "GET", &format!("/{name}"), &[], b"");
        assert_eq!(t.status, 200, "{name}: {}", t.text());
        assert!(
            t.body == *bytes,
            "{name} as served differs from the tree of the lines"
        );
        let immutable = t
            .header("cache-control")
            .is_some_and(|c| c.contains("immutable"));
        assert_eq!(
            immutable,
            !name.contains(".p/"),
            "{name}: {:?}",
            t.header("cache-control")
        );
    }
    // The first entry bundle: the lines themselves, each after its 16-bit length, and
    // their leaf hashes are the first tile.
    // The lines name every order: not to loopback alone, not with the metrics token (which
    // reads the hash tiles); with the audit token.
    let e = http(&addr, "GET", "/tile/entries/000", &[], b"");
    assert_eq!(e.status, 401, "{}", e.text());
    let metrics = [("Authorization", "Bearer metrics-0123456789ab")];
    let e = http(&addr, "GET", "/tile/entries/000", &metrics, b"");
    assert_eq!(e.status, 401, "{}", e.text());
    assert_eq!(http(&addr, "GET", "/tile/0/000", &metrics, b"").status, 200);
    let audit = [("Authorization", "Bearer audit-0123456789abcd")];
    let e = http(&addr, "GET", "/tile/entries/000", &audit, b"");
    assert_eq!(e.status, 200);
    let mut at = 0;
    let mut got = Vec::new();
    while at < e.body.len() {
        let n = u16::from_be_bytes([e.body[at], e.body[at + 1]]) as usize;
        got.push(e.body[at + 2..at + 2 + n].to_vec());
        at += 2 + n;
    }
    assert_eq!(got.len(), 256);
    assert!(got == lines[..256], "entry bundle 000 is not lines 1..=256");
    let hashes: Vec<u8> = got.iter().flat_map(|l| leaf(l)).collect();
    assert!(hashes == expected["tile/0/000"]);

    // A tile beyond the log, and a path that is not a tile.
    let beyond = http(&addr, "GET", "/tile/0/x001/000", &[], b"");
    assert_eq!(beyond.status, 404, "{}", beyond.text());
    for bad in [
        "/tile/0/1",
        "/tile/9/000",
        "/tile/0/000.p/0",
        "/tile/0/000.p/300",
    ] {
        let r = http(&addr, "GET", bad, &[], b"");
        assert!(
            matches!(r.status, 400 | 404),
            "{bad}: {} {}",
            r.status,
            r.text()
        );
    }
}

/// The consistency proof file: `old N`, base64 hashes, a blank line, the latest checkpoint.
fn parse_consistency(text: &str) -> (u64, Vec<H>, String) {
    let (head, note) = text
        .split_once("\n\n")
        .expect("a blank line before the checkpoint");
    let mut l = head.lines();
    let old: u64 = l
        .next()
        .and_then(|f| f.strip_prefix("old "))
        .expect("`old N` first")
        .parse()
        .unwrap();
    let hashes = l.map(|h| b64(h).try_into().unwrap()).collect();
    (old, hashes, note.to_string())
}

#[test]
fn consistency_proves_the_log_grew_and_refuses_a_fork_under_the_same_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic(tmp.path(), 1200);
    let key = station_key(&dir);
    // A checkpoint someone kept: the third one.
    let old = checkpoints(&dir)[2].clone();
    let old_note = old["note"].as_str().unwrap().to_string();
    let (_, old_size, old_root) = checkpoint_body(open_note(&old_note, &key));
    let note_file = tmp.path().join("old.note");
    std::fs::write(&note_file, &old_note).unwrap();
    // Keep a copy of the station as it was then, for the fork below.
    let fork = tmp.path().join("fork");
    copy_station(&dir, &fork);

    let out = data(
        &dir,
        &["hold", "BL-00000100", "--reason", "dispute", "--who", "cs"],
    );
    assert!(out.status.success(), "{}", show(&out));
    let proof_file = tmp.path().join("proof.txt");
    let out = data(
        &dir,
        &[
            "consistency",
            note_file.to_str().unwrap(),
            "-o",
            proof_file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let (m, hashes, new_note) = parse_consistency(&std::fs::read_to_string(&proof_file).unwrap());
    assert_eq!(m, old_size);
    let (_, n, new_root) = checkpoint_body(open_note(&new_note, &key));
    assert!(n > m);
    assert!(
        consistent(m, n, &old_root, &new_root, &hashes),
        "the proof does not verify"
    );
    // The proof is tight: a changed hash fails.
    let mut bad = hashes.clone();
    bad[0][0] ^= 1;
    assert!(!consistent(m, n, &old_root, &new_root, &bad));

    // The fork: the station's copy is cut back to before the old checkpoint's last line and
    // written on under the same key. It verifies on its own (it is well formed) but does not
    // extend what was signed before.
    let manifest = fork.join("manifest.jsonl");
    let kept: Vec<u8> = raw_lines(&fork)[..old_size as usize - 1].concat();
    std::fs::write(&manifest, kept).unwrap();
    for derived in [
        "ledger.state",
        "manifest.offsets",
        "index.sqlite3",
        "verify.state",
    ] {
        let _ = std::fs::remove_file(fork.join(derived));
    }
    std::fs::remove_dir_all(fork.join("tile")).unwrap();
    for code in ["BL-00000001", "BL-00000002"] {
        let out = data(&fork, &["hold", code, "--reason", "rewrite", "--who", "x"]);
        assert!(out.status.success(), "{}", show(&out));
    }
    assert!(raw_lines(&fork).len() as u64 > old_size);
    let out = data(&fork, &["consistency", note_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        stderr(&out).contains("rewritten") || stdout(&out).contains("rewritten"),
        "{}",
        show(&out)
    );

    // verify remembers the checkpoint it last checked: run on the original, then replace the
    // log with the fork; the next verify says the log was rewritten.
    let v = verify_json(&dir, &[]);
    assert_eq!(v["ok"], true, "{v}");
    let remembered = std::fs::read(dir.join("verify.state")).unwrap();
    std::fs::write(fork.join("verify.state"), remembered).unwrap();
    let v = verify_json(&fork, &["--quick"]);
    assert!(
        problem_kinds(&v).contains(&"log_rewritten".to_string()),
        "{v}"
    );
}

#[test]
fn salts_keep_other_orders_out_of_a_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let recs = manifest(&dir);
    let salts: Vec<&str> = recs.iter().map(|r| r["salt"].as_str().unwrap()).collect();
    for s in &salts {
        assert_eq!(s.len(), 32, "{s}");
        assert!(s.bytes().all(|b| b.is_ascii_hexdigit()), "{s}");
    }
    let distinct: std::collections::HashSet<_> = salts.iter().collect();
    assert_eq!(distinct.len(), salts.len(), "salts repeat");

    let zip_path = tmp.path().join("b.zip");
    let out = data(
        &dir,
        &[
            "export",
            "DEMO-0002",
            "-o",
            zip_path.to_str().unwrap(),
            "--who",
            "cs",
        ],
    );
    assert!(out.status.success(), "{}", show(&out));
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut text = String::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        text.push_str(&String::from_utf8_lossy(&bytes));
    }
    // The records of DEMO-0002 are in it with their salts; no other order's name or salt is.
    let lines = raw_lines(&dir);
    for (r, line) in recs.iter().zip(&lines) {
        let line = String::from_utf8_lossy(line);
        let salt = r["salt"].as_str().unwrap();
        let ours = r["order"] == "DEMO-0002";
        if ours && r["kind"] == "clip_sealed" {
            assert!(
                text.contains(line.trim_end()),
                "the sealed record of DEMO-0002 is in the bundle"
            );
        }
        if !text.contains(line.trim_end()) && r["kind"] != "checkpoint" {
            assert!(
                !text.contains(salt),
                "the salt of line {} is in the bundle: {line}",
                r["seq"]
            );
        }
    }
    for other in ["DEMO-0001", "DEMO-0003"] {
        assert!(
            !text.contains(other),
            "{other} is named in the bundle of DEMO-0002"
        );
    }

    // What an attacker holding the bundle can hash against: the proofs' sibling hashes and
    // the records' `prev`. The true neighbouring lines do match some of them (that is what a
    // proof is), but the same lines with any salt but the true one match none: guessing
    // every other field of a neighbour is not enough.
    let mut targets = std::collections::HashSet::new();
    for t in text.split(|c: char| c.is_whitespace() || c == '"') {
        if t.len() == 44 && t.ends_with('=') {
            if let Ok(h) = base64::engine::general_purpose::STANDARD.decode(t) {
                targets.insert(h);
            }
        }
        if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            targets.insert(t.bytes().collect::<Vec<u8>>());
        }
    }
    let hits = |line: &[u8]| {
        let hex = packwitness::digest::hex(&sha(&[line]));
        targets.contains(leaf(line).as_slice()) || targets.contains(&hex.into_bytes())
    };
    let mut neighbours = 0;
    for (r, line) in recs.iter().zip(&lines) {
        if r["order"] == "DEMO-0002" || text.contains(String::from_utf8_lossy(line).trim_end()) {
            continue;
        }
        neighbours += usize::from(hits(line));
        let salt = r["salt"].as_str().unwrap();
        for guess in [
            "00000000000000000000000000000000",
            "ffffffffffffffffffffffffffffffff",
        ] {
            let guessed = String::from_utf8_lossy(line).replace(salt, guess);
            assert!(
                !hits(guessed.as_bytes()),
                "line {} matched with a guessed salt",
                r["seq"]
            );
        }
    }
    assert!(
        neighbours > 0,
        "no neighbouring line is in the proofs: the check above proves nothing"
    );
}

#[test]
fn a_rotated_key_verifies_and_old_checkpoints_still_prove_consistency() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let old_key = station_key(&dir);
    let old_note = checkpoints(&dir).last().unwrap()["note"]
        .as_str()
        .unwrap()
        .to_string();
    let note_file = tmp.path().join("old.note");
    std::fs::write(&note_file, &old_note).unwrap();

    let out = data(&dir, &["key", "--rotate"]);
    assert!(out.status.success(), "{}", show(&out));
    let new_key = stdout(&out).trim().to_string();
    assert_ne!(new_key, old_key);
    assert_eq!(station_key(&dir), new_key);
    let rotation = manifest(&dir)
        .into_iter()
        .find(|r| r["kind"] == "key_rotation")
        .expect("a key_rotation record");
    assert_eq!(rotation["old"], old_key.as_str());
    assert_eq!(rotation["new"], new_key.as_str());
    // Signed by the old key, over both.
    let body = open_note(rotation["note"].as_str().unwrap(), &old_key);
    assert_eq!(
        body,
        format!("packwitness key rotation\nold {old_key}\nnew {new_key}\n")
    );
    // The old private key is kept aside, not deleted.
    let kept = std::fs::read_dir(station_key_file(&dir).parent().unwrap())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("old-")
        })
        .count();
    assert_eq!(kept, 1);
    // The latest checkpoint is signed by the new key; the whole log verifies.
    let last = checkpoints(&dir).last().unwrap()["note"]
        .as_str()
        .unwrap()
        .to_string();
    open_note(&last, &new_key);
    let v = verify_json(&dir, &[]);
    assert_eq!(v["ok"], true, "{v}");
    // A checkpoint signed before the rotation still proves the log grew from it.
    let out = data(&dir, &["consistency", note_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn verify_hashes_only_what_is_new_unless_asked_for_all() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let v = verify_json(&dir, &["--full"]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["report"]["clips_hashed"], 3, "{v}");
    let v = verify_json(&dir, &[]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["report"]["clips_hashed"], 0, "{v}");
    assert_eq!(v["report"]["clips_hashed_before"], 3, "{v}");
    assert!(v["report"]["remembered_line"].as_u64().is_some(), "{v}");

    // A byte flipped in a clip hashed before: the default run checks its size (unchanged) and
    // says it did not re-hash it; --full finds it.
    let sealed = sealed(&dir);
    let file = dir.join(sealed[0]["file"].as_str().unwrap());
    let mut bytes = std::fs::read(&file).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x10;
    std::fs::write(&file, &bytes).unwrap();
    let out = data(&dir, &["verify"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout(&out).contains("not re-hashed"), "{}", show(&out));
    let v = verify_json(&dir, &["--full"]);
    assert_eq!(problem_kinds(&v), vec!["clip_modified"], "{v}");
}

#[test]
fn bench_ledger_measures_both_logs_and_its_verdict_follows_its_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&[
        "bench",
        "ledger",
        "--records",
        "2000",
        "--runs",
        "1",
        "--work-dir",
        tmp.path().to_str().unwrap(),
    ]);
    let text = stdout(&out);
    let mut pass = true;
    let mut rows = 0;
    for line in text.lines() {
        let nums: Vec<f64> = line
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter_map(|w| w.parse().ok())
            .collect();
        if line.contains("reference ") && line.contains(" ms  ratio") {
            // this ms, reference ms, ratio, target ms, rss, target rss
            let (big, small, ratio, target, rss) = (nums[0], nums[1], nums[2], nums[3], nums[4]);
            assert!(
                big > 0.0 && small > 0.0 && rss > 0.0,
                "not measured: {line}"
            );
            assert!(
                (ratio - big / small).abs() < 0.01 + ratio * (0.06 / small + 0.06 / big),
                "ratio: {line}"
            );
            let ok = ratio <= 2.0 && big < target && rss < 100.0;
            assert_eq!(line.ends_with("PASS"), ok, "{line}");
            pass &= ok;
            rows += 1;
        } else if line.starts_with("verify --quick") {
            let (v, sha, ratio) = (nums[0], nums[2], nums[3]);
            assert!(v > 0.0 && sha > 0.0, "not measured: {line}");
            assert!(
                (ratio - v / sha).abs() < 0.01 + ratio * (0.06 / sha + 0.06 / v),
                "ratio: {line}"
            );
            pass &= line.ends_with("PASS");
            rows += 1;
        } else if line.starts_with("lookup") || line.starts_with("log:") {
            pass &= line.ends_with("PASS");
            rows += 1;
        }
    }
    assert_eq!(rows, 7, "{}", show(&out));
    assert_eq!(text.lines().any(|l| l == "PASS"), pass, "{}", show(&out));
    assert_eq!(
        out.status.code(),
        Some(if pass { 0 } else { 1 }),
        "{}",
        show(&out)
    );
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "bench left files behind"
    );
}

/// A log written by the last version-2 release (`tests/vectors/v2-log`: two demo orders, their
/// clips pruned, the key that signed it): still read, still verified, and continued in
/// version 3 by the same key.
#[test]
fn a_version_2_log_verifies_and_grows_in_version_3() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/v2-log");
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    std::fs::copy(fixture.join("manifest.jsonl"), dir.join("manifest.jsonl")).unwrap();
    std::fs::copy(fixture.join("station.key"), dir.join("keys/station.key")).unwrap();
    let before = manifest(&dir);
    assert!(before
        .iter()
        .all(|r| r["v"] == 2 && r.get("salt").is_none()));
    let v = verify_json(&dir, &["--full"]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["report"]["checkpoints"], 2, "{v}");
    let old_note = checkpoints(&dir).last().unwrap()["note"]
        .as_str()
        .unwrap()
        .to_string();
    let note_file = tmp.path().join("v2.note");
    std::fs::write(&note_file, &old_note).unwrap();

    let out = data(
        &dir,
        &["hold", "V2-0001", "--reason", "dispute", "--who", "cs"],
    );
    assert!(out.status.success(), "{}", show(&out));
    let after = manifest(&dir);
    assert!(after.len() > before.len());
    for r in &after[before.len()..] {
        assert_eq!(r["v"], 3, "{r}");
        assert_eq!(r["salt"].as_str().map(str::len), Some(32), "{r}");
    }
    assert_tiles_match(&dir, "a version 2 log continued");
    let v = verify_json(&dir, &["--full"]);
    assert_eq!(v["ok"], true, "{v}");
    let out = data(&dir, &["consistency", note_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let found = data(&dir, &["lookup", "V2-0002", "--json"]);
    assert!(found.status.success(), "{}", show(&found));
}

#[test]
fn verify_reports_a_torn_last_line_and_leaves_the_manifest_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let path = dir.join("manifest.jsonl");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"{\"v\":3,\"seq\":99,\"pr");
    std::fs::write(&path, &bytes).unwrap();
    // Derived files gone too, so that a reader must bring them up to date.
    std::fs::remove_file(dir.join("ledger.state")).unwrap();
    let v = verify_json(&dir, &[]);
    assert!(problem_kinds(&v).contains(&"torn_line".to_string()), "{v}");
    assert!(
        std::fs::read(&path).unwrap() == bytes,
        "verify changed the manifest"
    );
    let out = data(&dir, &["lookup", "DEMO-0001"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        std::fs::read(&path).unwrap() == bytes,
        "lookup changed the manifest"
    );
}
