//! The house rules, checked: modules use only the layers below them, the library never
//! prints, files and functions stay reviewable, output to a closed pipe is not an error, and
//! the config hash recorded is of the bytes parsed.

use crate::common::*;

use std::collections::BTreeMap;
use std::path::Path;

/// The layer of each top-level module of the library (src/lib.rs says why).
fn layer(module: &str) -> Option<u32> {
    Some(match module {
        "error" => 0,
        "clock" | "datadir" | "config" | "digest" | "diskfile" => 1,
        "media" | "codes" | "log" => 2,
        "index" | "scanners" | "retention" | "anchor" => 3,
        "archive" | "notify" | "provenance" => 4,
        "recorder" | "verify" | "export" => 5,
        "web" => 6,
        "app" => 7,
        _ => return None,
    })
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every `crate::<module>` a file names, outside comments.
fn crate_uses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
        // `use crate::{a, b}` names several.
        if let Some(i) = code.find("crate::{") {
            let list = &code[i + "crate::{".len()..];
            for part in list.split([',', '}']) {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        }
    }
    out
}

#[test]
fn no_module_uses_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    let mut seen = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "cmd" || top == "main" || top == "lib" {
            continue; // the binary uses the library; lib.rs declares the modules
        }
        let me = layer(&top).unwrap_or_else(|| {
            panic!(
                "{top} (src/{}) has no layer: add it to src/lib.rs and here",
                rel.display()
            )
        });
        let text = std::fs::read_to_string(f).unwrap();
        for used in crate_uses(&text) {
            // `crate::Error` / `crate::ErrorKind` are the leaf `error` re-exported.
            let target = match used.as_str() {
                "Error" | "ErrorKind" => "error".to_string(),
                _ => used,
            };
            if target == top {
                continue;
            }
            let Some(l) = layer(&target) else {
                wrong.push(format!(
                    "src/{} uses crate::{target}, which has no layer",
                    rel.display()
                ));
                continue;
            };
            *seen.entry((top.clone(), target.clone())).or_insert(0) += 1;
            if l >= me {
                wrong.push(format!(
                    "src/{} ({top}, layer {me}) uses crate::{target} (layer {l})",
                    rel.display()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the module graph points the wrong way:\n{}",
        wrong.join("\n")
    );
    // The check looked at something: the recorder does use the log, the web the recorder.
    assert!(seen.contains_key(&("recorder".into(), "log".into())));
    assert!(seen.contains_key(&("web".into(), "recorder".into())));
}

#[test]
fn the_library_never_prints_and_files_stay_reviewable() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(f).unwrap();
        let lines = text.lines().count();
        assert!(
            lines <= 850,
            "src/{rel} has {lines} lines; split it by what its parts do"
        );
        if rel.starts_with("cmd/") || rel == "main.rs" {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for mac in ["println!", "eprintln!", "print!(", "eprint!(", "dbg!"] {
                assert!(
                    !code.contains(mac),
                    "src/{rel}:{}: the library never prints ({mac}); return it, or log with tracing",
                    n + 1
                );
            }
        }
        // Every module says what it owns and what it must never do.
        if !rel.ends_with("tests.rs") {
            let head: String = text.lines().take_while(|l| l.starts_with("//!")).collect();
            assert!(!head.is_empty(), "src/{rel} has no //! header");
        }
    }
}

/// `packwitness lookup CODE | head -1`: standard output closed early is not an error.
#[test]
fn output_to_a_closed_pipe_ends_quietly_with_exit_0() {
    let dir = demo_fixture();
    let d = dir.to_str().unwrap();
    for args in [
        vec!["--data-dir", d, "lookup", "DEMO-0001"],
        vec!["--data-dir", d, "lookup", "--prefix", "DEMO", "--json"],
        vec!["--data-dir", d, "verify"],
        vec!["--help"],
        vec!["lookup", "--help"],
    ] {
        let mut fds = [0i32; 2];
        // SAFETY: a fresh pipe; its read end is closed at once, as `head` does when done.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        unsafe { libc::close(fds[0]) };
        // SAFETY: fds[1] is an open descriptor we own; Stdio takes it over.
        let stdout =
            unsafe { <std::process::Stdio as std::os::fd::FromRawFd>::from_raw_fd(fds[1]) };
        let out = bin()
            .args(&args)
            .stdout(stdout)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", show(&out));
        assert!(
            !stderr(&out).contains("panicked"),
            "{args:?}: {}",
            show(&out)
        );
    }
}

/// The config file is read once: the hash in `station_start` is of the very bytes parsed.
#[test]
fn the_recorded_config_hash_is_of_the_bytes_parsed() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("pw.toml");
    let text = "# a station\n[station]\nid = \"hash-1\"\npost_roll_s = 0.0\n";
    std::fs::write(&cfg, text).unwrap();
    let dir = tmp.path().join("d");
    let out = run(&[
        "--config",
        cfg.to_str().unwrap(),
        "demo",
        "--data-dir",
        dir.to_str().unwrap(),
        "--clip-seconds",
        "0.5",
        "--order",
        "H-1",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let start = manifest(&dir)
        .into_iter()
        .find(|r| r["kind"] == "station_start")
        .unwrap();
    assert_eq!(start["station"], "hash-1");
    assert_eq!(
        start["config_sha256"],
        packwitness::digest::sha256_hex(text.as_bytes())
    );
}
