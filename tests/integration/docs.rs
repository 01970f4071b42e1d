//! README promises that must stay true.

#[test]
fn ci_runs_exactly_the_readme_test_command() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    let cmd = ci.lines().last().unwrap().trim();
    assert_eq!(
        cmd,
        "bash .ci/deps && cargo test && cargo test --test integration -- --ignored --test-threads=1"
    );
    assert!(
        readme.contains(&format!("    {cmd}\n")),
        "README must give the test command CI runs"
    );
    assert!(readme.contains("    bash .ci/deps && cargo run --release -- demo\n"));
}

#[test]
fn readme_documents_every_config_section_and_record_kind() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for word in [
        "[station]",
        "[[camera]]",
        "[encode]",
        "[codes]",
        "station_start",
        "clip_opened",
        "clip_sealed",
        "first_frame",
    ] {
        assert!(readme.contains(word), "README does not mention {word}");
    }
}

#[test]
fn systemd_unit_runs_the_recorder_as_a_service() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/debian/packwitness.service"
    ))
    .unwrap();
    // key -> section, for the keys that decide how the daemon lives.
    let mut section = String::new();
    let mut keys = std::collections::HashMap::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_string();
        } else if let Some((k, v)) = line.split_once('=') {
            if !line.starts_with('#') {
                keys.insert(k.to_string(), (section.clone(), v.to_string()));
            }
        }
    }
    let get = |k: &str| keys.get(k).cloned().unwrap_or_default();
    assert_eq!(get("StartLimitIntervalSec").0, "[Unit]");
    assert_eq!(get("Restart"), ("[Service]".into(), "always".into()));
    assert_eq!(get("KillSignal").1, "SIGTERM");
    let exec = get("ExecStart").1;
    assert_eq!(
        exec, "/usr/bin/packwitness --config /etc/packwitness/packwitness.toml run",
        "the package's binary and conffile"
    );
    assert!(
        !exec.contains("stdin"),
        "standard input is /dev/null under systemd"
    );
    assert_eq!(get("WantedBy").0, "[Install]");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(readme.contains("debian/packwitness.service"));
    assert!(readme.contains("config/two-stations.toml"));
}

fn doc(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// docs/format.md quotes the version-3 vector log line for line, with the SHA-256 of each
/// (which must be right), describes every kind in it, and the log verifies.
#[test]
fn format_doc_quotes_the_v3_vectors_and_they_verify() {
    use sha2::Digest;
    let format = doc("docs/format.md");
    let vectors = doc("tests/vectors/v3.jsonl");
    for (i, line) in vectors.lines().enumerate() {
        assert!(
            format.contains(&format!("    {line}\n")),
            "docs/format.md does not quote line {} of tests/vectors/v3.jsonl",
            i + 1
        );
        let hash = packwitness::digest::hex(&sha2::Sha256::digest(format!("{line}\n")));
        assert!(
            format.contains(&format!("{:>2}  {hash}", i + 1)),
            "docs/format.md lacks the SHA-256 of line {}: {hash}",
            i + 1
        );
        let rec: serde_json::Value = serde_json::from_str(line).unwrap();
        let kind = rec["kind"].as_str().unwrap();
        assert!(
            format.contains(&format!("- `{kind}`")),
            "docs/format.md does not describe {kind}"
        );
    }
    for file in [
        "ledger.state",
        "manifest.offsets",
        "verify.state",
        "tile/<L>/<N>",
        "keys/station.key",
    ] {
        assert!(
            format.contains(file),
            "docs/format.md does not describe {file}"
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("manifest.jsonl"), &vectors).unwrap();
    let out = crate::common::run(&[
        "--data-dir",
        tmp.path().to_str().unwrap(),
        "verify",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["report"]["checkpoints"], 2, "{v}");
}

/// The reference names every problem verify can report, as its JSON spells it.
#[test]
fn the_reference_names_every_verify_problem() {
    let readme = doc("docs/reference.md");
    let src = doc("src/verify/mod.rs");
    let body = &src[src.find("pub enum ProblemKind {").unwrap()..];
    let body = &body[..body.find('}').unwrap()];
    let mut n = 0;
    for word in body
        .lines()
        .map(str::trim)
        .filter(|l| l.ends_with(',') && l.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
    {
        let name = word.trim_end_matches(',');
        let mut snake = String::new();
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                snake.push('_');
            }
            snake.push(c.to_ascii_lowercase());
        }
        assert!(
            readme.contains(&format!("`{snake}`")),
            "docs/reference.md does not name `{snake}`"
        );
        n += 1;
    }
    assert!(n >= 19, "found only {n} problem kinds");
}

/// The config the Debian package ships as /etc/packwitness/packwitness.toml is valid, and
/// `doctor` on it names what a first station still lacks: its scanner and its camera.
#[test]
fn the_packaged_config_is_valid_and_doctor_names_what_is_left_to_set() {
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/debian/packwitness.toml");
    let out = crate::common::run(&["--config", cfg, "doctor", "--json", "--probe-s", "0.5"]);
    assert_eq!(out.status.code(), Some(1), "{}", crate::common::show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let find = |name: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .unwrap_or_else(|| panic!("no {name} in {v}"))
            .clone()
    };
    assert_eq!(find("config")["verdict"], "pass");
    let scanner = find("scanner station-1/hand-1");
    assert_eq!(scanner["verdict"], "fail");
    assert!(
        scanner["detail"].as_str().unwrap().contains("CHANGE-ME"),
        "{scanner}"
    );
    assert_eq!(
        find("camera station-1/cam-1")["verdict"],
        "fail",
        "no USB camera here"
    );
    // Every file the package takes is in the repository.
    let cargo = doc("Cargo.toml");
    let deb = &cargo[cargo.find("[package.metadata.deb]").expect("deb metadata")..];
    for line in deb.lines().filter(|l| l.trim_start().starts_with("[\"")) {
        let src = line.trim_start()[2..].split('"').next().unwrap();
        if src.starts_with("target/") || src.contains('*') {
            continue;
        }
        assert!(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(src)
                .exists(),
            "{src}"
        );
    }
}
