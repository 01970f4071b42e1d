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
