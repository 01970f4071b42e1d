//! Preview pictures: small JPEGs of a camera's frames for the station screen.
//!
//! Owns: turning a raw frame (transcoded cameras) or a keyframe packet (passthrough cameras,
//! decoded on its own) into a JPEG no wider than asked. Never: touches the recording; what
//! it makes is for the packer's eyes, never evidence, and is made off the capture thread.

use ffmpeg_next::{codec, format, frame, software, Packet};

/// What a preview is made from.
pub enum PreviewInput {
    /// A decoded frame, as the encoder gets it.
    Frame(frame::Video),
    /// A keyframe packet of a camera recorded in passthrough, with its codec's parameters.
    Key(Packet, codec::Parameters),
}

fn ff(what: &'static str) -> impl Fn(ffmpeg_next::Error) -> String {
    move |e| format!("{what}: {e}")
}

/// Decodes one keyframe packet on its own (a fresh decoder each time: a preview every
/// second or so costs one intra frame's decode).
pub fn decode_key(packet: &Packet, params: &codec::Parameters) -> Result<frame::Video, String> {
    super::init_ffmpeg();
    let mut dec = codec::context::Context::from_parameters(params.clone())
        .map_err(ff("codec parameters"))?
        .decoder()
        .video()
        .map_err(ff("opening the decoder"))?;
    dec.send_packet(packet).map_err(ff("decoding"))?;
    let _ = dec.send_eof();
    let mut f = frame::Video::empty();
    dec.receive_frame(&mut f).map_err(ff("decoding"))?;
    Ok(f)
}

/// The size a `w`×`h` picture is scaled to so that it is at most `max_width` wide (even
/// dimensions, as JPEG's 4:2:0 wants).
pub fn fit(w: u32, h: u32, max_width: u32) -> (u32, u32) {
    if w == 0 || h == 0 {
        return (2, 2);
    }
    let tw = w.min(max_width.max(2));
    let th = ((h as u64 * tw as u64) / w as u64) as u32;
    ((tw & !1).max(2), (th & !1).max(2))
}

/// A frame as JPEG, scaled down to at most `max_width` pixels wide (0: as it is).
pub fn jpeg(src: &frame::Video, max_width: u32) -> Result<Vec<u8>, String> {
    super::init_ffmpeg();
    let (w, h) = (src.width(), src.height());
    let (tw, th) = if max_width == 0 {
        (w & !1, h & !1)
    } else {
        fit(w, h, max_width)
    };
    let mjpeg = codec::encoder::find(codec::Id::MJPEG).ok_or("no MJPEG encoder")?;
    let mut enc = codec::context::Context::new_with_codec(mjpeg)
        .encoder()
        .video()
        .map_err(ff("creating the JPEG encoder"))?;
    enc.set_width(tw);
    enc.set_height(th);
    enc.set_format(format::Pixel::YUVJ420P);
    enc.set_time_base((1, 25));
    let mut enc = enc.open_as(mjpeg).map_err(ff("opening the JPEG encoder"))?;
    let mut scaler = software::scaling::Context::get(
        src.format(),
        w,
        h,
        format::Pixel::YUVJ420P,
        tw,
        th,
        software::scaling::Flags::BILINEAR,
    )
    .map_err(ff("scaler"))?;
    let mut out = frame::Video::empty();
    scaler.run(src, &mut out).map_err(ff("scaling"))?;
    out.set_pts(Some(0));
    enc.send_frame(&out).map_err(ff("encoding"))?;
    enc.send_eof().map_err(ff("encoding"))?;
    let mut packet = Packet::empty();
    enc.receive_packet(&mut packet).map_err(ff("encoding"))?;
    Ok(packet.data().ok_or("empty JPEG")?.to_vec())
}

/// A preview of `input` as JPEG, at most `max_width` wide.
pub fn render(input: &PreviewInput, max_width: u32) -> Result<Vec<u8>, String> {
    match input {
        PreviewInput::Frame(f) => jpeg(f, max_width),
        PreviewInput::Key(p, params) => jpeg(&decode_key(p, params)?, max_width),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_fit_and_stay_even() {
        assert_eq!(fit(1920, 1080, 640), (640, 360));
        assert_eq!(fit(1280, 721, 640), (640, 360));
        assert_eq!(fit(320, 240, 640), (320, 240));
        assert_eq!(fit(0, 0, 640), (2, 2));
    }

    #[test]
    fn a_frame_becomes_a_small_jpeg() {
        super::super::init_ffmpeg();
        let mut f = frame::Video::new(format::Pixel::YUV420P, 1280, 720);
        for plane in 0..3 {
            f.data_mut(plane).fill(128);
        }
        let j = jpeg(&f, 640).expect("jpeg");
        assert_eq!(&j[..2], &[0xFF, 0xD8], "a JPEG starts with SOI");
        // SOF0 carries the size: height then width, big-endian.
        let sof = j.windows(2).position(|w| w == [0xFF, 0xC0]).expect("SOF0");
        let h = u16::from_be_bytes([j[sof + 5], j[sof + 6]]);
        let w = u16::from_be_bytes([j[sof + 7], j[sof + 8]]);
        assert_eq!((w, h), (640, 360));
    }
}
