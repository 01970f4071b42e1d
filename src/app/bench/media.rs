//! `bench transcode`: one camera's path against the `ffmpeg` command line, and the workers
//! that `bench` runs as child processes so that each side is measured alone.

use std::path::Path;

use super::{measure, Usage};
use crate::Error;

/// Escapes a filter's option string for an FFmpeg filtergraph (one more level of `\`).
fn graph_escape(args: &str) -> String {
    let mut out = String::new();
    for c in args.chars() {
        if matches!(c, '\\' | '\'' | ',' | ';' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The stamp of the benchmarks' one order.
fn bench_stamp() -> crate::media::StampText {
    crate::media::StampText {
        station: "station-1".into(),
        camera: "cam-1".into(),
        order: Some("BENCH-0001".into()),
        operator: None,
        tracking: Vec::new(),
        template: crate::config::DEFAULT_STAMP.into(),
    }
}

/// The `ffmpeg` command line doing what our recorder does for one camera: the same test
/// source, the same stamp filter, the same libx264 settings, fragmented MP4 out.
pub fn ffmpeg_reference(width: u32, height: u32, frames: u64, out: &Path) -> std::process::Command {
    let settings = crate::config::EncodeConfig::default();
    let stamp = bench_stamp();
    let font = crate::media::font::resolve(&settings.font_file)
        .to_string_lossy()
        .into_owned();
    let wall = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
    let draw = crate::media::encoder::drawtext_args(
        &font,
        crate::media::encoder::font_size(&settings, height),
        &stamp,
        wall,
    );
    let gop = crate::media::encoder::gop_frames(&settings, 30.0);
    let mut cmd = std::process::Command::new("ffmpeg");
    cmd.args([
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
    ])
    .arg(format!("testsrc2=size={width}x{height}:rate=30"))
    .args(["-frames:v", &frames.to_string(), "-vf"])
    .arg(format!("drawtext={},format=yuv420p", graph_escape(&draw)))
    .args(["-c:v", "libx264", "-g", &gop.to_string(), "-bf", "0"]);
    for (k, v) in crate::media::encoder::x264_options(&settings, gop) {
        cmd.arg(format!("-{k}")).arg(v);
    }
    cmd.args([
        "-movflags",
        "frag_keyframe+empty_moov+default_base_moof",
        "-f",
        "mp4",
        "-y",
    ])
    .arg(out);
    cmd
}

/// The worker of `bench transcode`: what one camera of a station does (test source, stamp,
/// libx264, fragmented MP4 clip), as fast as it can, for `frames` frames.
pub fn transcode_worker(width: u32, height: u32, frames: u64, out: &Path) -> Result<(), Error> {
    use crate::media::FrameSource;
    let settings = crate::config::EncodeConfig::default();
    let mut source = crate::media::source::FfmpegSource::open(
        &format!("lavfi:testsrc2=size={width}x{height}:rate=30"),
        false,
    )?;
    let info = source.info();
    let stamp = bench_stamp();
    let wall = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
    let mut enc = crate::media::encoder::Encoder::open(info, &settings, wall, &stamp)?;
    let mut writer: Option<crate::media::fmp4::ClipWriter> = None;
    let mut packets = Vec::new();
    let write = |packets: &mut Vec<crate::media::EncodedPacket>,
                 writer: &mut Option<crate::media::fmp4::ClipWriter>,
                 enc: &crate::media::encoder::Encoder|
     -> Result<(), Error> {
        for p in packets.drain(..) {
            if writer.is_none() {
                *writer = Some(crate::media::fmp4::ClipWriter::create(
                    out,
                    &enc.parameters(),
                    info.time_base,
                    (p.pts, p.dts),
                    false,
                )?);
            }
            if let Some(w) = writer.as_mut() {
                w.write(p)?;
            }
        }
        Ok(())
    };
    for i in 0..frames {
        let Some(mut frame) = source.next_frame()? else {
            break;
        };
        enc.encode(&mut frame, i == 0, &mut packets)?;
        write(&mut packets, &mut writer, &enc)?;
    }
    enc.finish(&mut packets)?;
    write(&mut packets, &mut writer, &enc)?;
    if let Some(w) = writer {
        w.finish()?;
    }
    Ok(())
}

/// The worker of `bench passthrough`: what one passthrough camera does (receive or demux,
/// copy packets into a fragmented MP4 clip with the stamp's text track), for a whole input
/// file. An `rtsp://` input goes through retina, as a station's camera does by default;
/// anything else through FFmpeg. Several inputs, comma-separated, are recorded at once, each
/// on its own thread as a station's cameras are (into `out`, then `out`'s name with `-2`,
/// `-3`, ...).
pub fn passthrough_worker(input: &str, frames: u64, out: &Path) -> Result<(), Error> {
    let inputs: Vec<&str> = input.split(',').filter(|s| !s.is_empty()).collect();
    if inputs.len() > 1 {
        let stem = out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let threads: Vec<_> = inputs
            .iter()
            .enumerate()
            .map(|(k, input)| {
                let (input, out) = (
                    input.to_string(),
                    match k {
                        0 => out.to_path_buf(),
                        k => out.with_file_name(format!("{stem}-{}.mp4", k + 1)),
                    },
                );
                std::thread::spawn(move || passthrough_worker(&input, frames, &out))
            })
            .collect();
        for t in threads {
            t.join()
                .map_err(|_| Error::internal("a camera's thread of the bench panicked"))??;
        }
        return Ok(());
    }
    if input.starts_with("rtsp://") {
        let opts = crate::media::rtsp::RtspOptions {
            udp: false,
            stall: std::time::Duration::from_secs(5),
        };
        let mut s = crate::media::rtsp::RtspPassthrough::open(input, &opts)?.ok_or_else(|| {
            Error::internal(format!(
                "{input}: not H.264 or H.265; the bench copies those only"
            ))
        })?;
        let (info, params) = (s.info(), s.parameters());
        let window = crate::media::PacketSource::coalesce(&s);
        // As the camera loop reads it: a caught-up socket is left to fill for a moment.
        let next = || {
            if let Some(w) = window.filter(|_| !s.buffered()) {
                std::thread::sleep(w);
            }
            s.next_packet()
        };
        return copy_packets(next, info, &params, frames, out);
    }
    // Network sources as a station opens them (TCP for RTSP, 5 s timeouts); files as fast
    // as they can be read.
    // A live server that has just restarted its stream may not have sent the picture size
    // yet: try again, as a station's capture thread would.
    let mut attempt = 0;
    let source = loop {
        match crate::media::source::FfmpegSource::open_with_timeout(input, false, 5) {
            Ok(s) => break s,
            Err(e) if attempt < 3 && crate::media::SourceSpec::parse(input).is_live() => {
                tracing::warn!(error = %e, "bench source not ready; retrying");
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let mut pt = crate::media::passthrough::Passthrough::new(source);
    let (info, params) = (pt.info(), pt.parameters());
    copy_packets(
        || pt.next_packet().map_err(Error::from),
        info,
        &params,
        frames,
        out,
    )
}

/// Packets into a fragmented MP4 clip with a stamp each second in its text track, as a
/// passthrough camera writes them; at most `frames` (0: all).
fn copy_packets(
    mut next: impl FnMut() -> Result<Option<crate::media::EncodedPacket>, Error>,
    info: crate::media::StreamInfo,
    params: &ffmpeg_next::codec::Parameters,
    frames: u64,
    out: &Path,
) -> Result<(), Error> {
    let second = (1.0 / info.seconds(1).max(1e-9)).round().max(1.0) as i64;
    let mut writer: Option<crate::media::fmp4::ClipWriter> = None;
    let mut next_text = 0;
    let mut written = 0u64;
    while let Some(p) = next()? {
        if writer.is_none() {
            writer = Some(crate::media::fmp4::ClipWriter::create(
                out,
                params,
                info.time_base,
                (p.pts, p.dts),
                true,
            )?);
            next_text = p.pts;
        }
        if let Some(w) = writer.as_mut() {
            while next_text <= p.pts {
                w.write_text(
                    next_text,
                    second,
                    &format!("BENCH-0001  station-1 cam-1  {next_text}"),
                )?;
                next_text += second;
            }
            w.write(p)?;
            written += 1;
        }
        if frames > 0 && written >= frames {
            break;
        }
    }
    if let Some(w) = writer {
        w.finish()?;
    }
    Ok(())
}

/// One resolution of `bench transcode`: the best run of each side.
#[derive(Debug, Clone)]
pub struct TranscodeRow {
    pub width: u32,
    pub height: u32,
    pub ours: Usage,
    pub ffmpeg: Usage,
}

/// `bench transcode`: `seconds` of testsrc2 at 30 fps, stamped and encoded, at 720p and
/// 1080p, by this program's own path (`exe bench-worker`) and by the `ffmpeg` command line,
/// each alone in a child process, `runs` times; the run with the least CPU of each side is kept.
pub fn transcode(
    exe: &Path,
    work: &Path,
    runs: usize,
    seconds: u64,
) -> Result<Vec<TranscodeRow>, Error> {
    let frames = seconds * 30;
    let mut rows = Vec::new();
    for (w, h) in [(1280u32, 720u32), (1920, 1080)] {
        let out = work.join(format!("{h}p.mp4"));
        let mut ours = None::<Usage>;
        let mut theirs = None::<Usage>;
        for _ in 0..runs {
            let mut c = std::process::Command::new(exe);
            c.args([
                "bench-worker",
                "--width",
                &w.to_string(),
                "--height",
                &h.to_string(),
                "--frames",
                &frames.to_string(),
                "--out",
            ])
            .arg(&out);
            let _ = std::fs::remove_file(&out);
            let u = measure(c)?;
            ours = Some(ours.map_or(u, |b| if u.cpu_s < b.cpu_s { u } else { b }));
            let u = measure(ffmpeg_reference(w, h, frames, &out))?;
            theirs = Some(theirs.map_or(u, |b| if u.cpu_s < b.cpu_s { u } else { b }));
        }
        match (ours, theirs) {
            (Some(ours), Some(ffmpeg)) => rows.push(TranscodeRow {
                width: w,
                height: h,
                ours,
                ffmpeg,
            }),
            _ => return Err(Error::invalid("--runs must be at least 1")),
        }
    }
    Ok(rows)
}
