//! `bench station`: a two-camera station recording an order every ten seconds.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{wait_measured, Usage};
use crate::Error;

/// `bench station`: a two-camera station recording an order every 10 s.
#[derive(Debug, Clone)]
pub struct StationBench {
    pub usage: Usage,
    pub frames: u64,
    pub late: u64,
}

/// Runs `exe run` with two 720p30 test-pattern cameras for `seconds`, a scan every 10 s, and
/// measures the process; frames and late frames are read from its log's session summaries.
pub fn station(exe: &Path, work: &Path, seconds: u64) -> Result<StationBench, Error> {
    use std::io::{BufRead, Write};
    let cfg = work.join("station.toml");
    let io = |e: std::io::Error| Error::msg(crate::ErrorKind::Io, format!("bench station: {e}"));
    std::fs::write(
        &cfg,
        "[station]\npre_roll_s = 3.0\n\n[[camera]]\nid = \"top\"\nsource = \"testsrc\"\n\n[[camera]]\nid = \"side\"\nsource = \"testsrc\"\n",
    )
    .map_err(io)?;
    let t = Instant::now();
    let mut child = std::process::Command::new(exe)
        .env("PACKWITNESS_LOG", "info")
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(work.join("data"))
        .arg("run")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(io)?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| Error::internal("the station's stderr"))?;
    let log = std::thread::spawn(move || {
        std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| Error::internal("the station's stdin"))?;
    let mut n = 0;
    while t.elapsed() < Duration::from_secs(seconds) {
        n += 1;
        writeln!(stdin, "BENCH-{n:05}").map_err(io)?;
        // The packer's pace: an order every ten seconds.
        std::thread::sleep(
            Duration::from_secs(10).min(Duration::from_secs(seconds).saturating_sub(t.elapsed())),
        );
    }
    drop(stdin);
    let usage = wait_measured(child, t, "the station")?;
    let lines = log.join().unwrap_or_default();
    let (mut frames, mut late) = (0u64, 0u64);
    for l in lines.iter().filter(|l| l.contains("camera session ended")) {
        let field = |k: &str| {
            l.split(&format!("{k}="))
                .nth(1)
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        frames += field("frames");
        late += field("late");
    }
    Ok(StationBench {
        usage,
        frames,
        late,
    })
}
