//! `packwitness provenance FILE`: what a photo or video declares about where it came from.
//!
//! Owns: reading the trust anchors given and printing the reading. Never: decides anything
//! (the library's [`packwitness::provenance::reading`] reads; this prints).

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::subcommands::ProvenanceArgs;

/// The PEM file given with `--c2pa-trust`, read (`provenance` and `verify-bundle`).
pub fn c2pa_trust(path: Option<&std::path::Path>) -> Result<Option<Vec<u8>>> {
    path.map(|p| {
        std::fs::read(p)
            .with_context(|| format!("cannot read the C2PA trust anchors {}", p.display()))
    })
    .transpose()
}

pub fn run(args: &ProvenanceArgs) -> Result<ExitCode> {
    let trust = c2pa_trust(args.c2pa_trust.as_deref())?;
    let reading = packwitness::provenance::reading::read_file(&args.file, trust.as_deref())
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&reading)?);
        return Ok(ExitCode::SUCCESS);
    }
    out!(
        "{} ({}, {} bytes, SHA-256 {})",
        args.file.display(),
        reading.format,
        reading.size,
        reading.sha256
    );
    for (en, zh) in &reading.says {
        out!("- {en}\n  {zh}");
    }
    let c = &reading.c2pa;
    if c.present {
        for a in &c.actions {
            out!(
                "  C2PA action {}{}{}",
                a.action,
                a.digital_source_type
                    .as_deref()
                    .map(|s| format!(", source {s}"))
                    .unwrap_or_default(),
                a.software_agent
                    .as_deref()
                    .map(|s| format!(", by {s}"))
                    .unwrap_or_default()
            );
        }
        for f in &c.failures {
            out!("  C2PA failure: {f}");
        }
    }
    if let Some(l) = &reading.aigc {
        out!("  AIGC field: {}", l.raw);
    }
    Ok(ExitCode::SUCCESS)
}
