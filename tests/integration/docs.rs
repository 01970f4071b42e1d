//! README promises that must stay true.

#[test]
fn ci_runs_exactly_the_readme_test_command() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    let cmd = ci.lines().last().unwrap().trim();
    assert_eq!(cmd, "bash .ci/deps && cargo test");
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
        "/config/packwitness.service"
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
    assert!(
        exec.ends_with(" run") && exec.contains("--config "),
        "{exec}"
    );
    assert!(
        !exec.contains("stdin"),
        "standard input is /dev/null under systemd"
    );
    assert_eq!(get("WantedBy").0, "[Install]");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(readme.contains("config/packwitness.service"));
    assert!(readme.contains("config/two-stations.toml"));
}
