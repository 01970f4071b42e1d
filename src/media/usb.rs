//! USB (UVC) cameras through nokhwa: its native backend on each system (V4L2 on Linux, Media
//! Foundation on Windows, AVFoundation on macOS). Built with the `usb` feature.

use std::time::Instant;

use ffmpeg::{codec, decoder, format, frame, Rational};
use ffmpeg_next as ffmpeg;

use super::{CaptureError, FrameSource, StreamInfo, UsbFormat, UsbRequest};

/// A USB (UVC) camera through nokhwa (V4L2 on Linux, Media Foundation on Windows,
/// AVFoundation on macOS). MJPEG frames are decoded with FFmpeg's decoder; YUYV frames are
/// copied as they are. Timestamps come from a monotonic clock started at the first frame.
pub struct UsbSource {
    spec: String,
    camera: nokhwa::Camera,
    info: StreamInfo,
    format: nokhwa::utils::FrameFormat,
    decoder: Option<decoder::Video>,
    origin: Option<Instant>,
    last_pts: Option<i64>,
    pending: Option<frame::Video>,
}

/// The formats a USB camera offers, as text (`1280x720@30 MJPEG, ...`).
pub fn usb_formats(index: u32) -> Result<Vec<String>, String> {
    use nokhwa::utils::{CameraIndex, RequestedFormat, RequestedFormatType};
    let any = RequestedFormat::with_formats(
        RequestedFormatType::None,
        &[
            nokhwa::utils::FrameFormat::MJPEG,
            nokhwa::utils::FrameFormat::YUYV,
        ],
    );
    let mut cam = nokhwa::Camera::new(CameraIndex::Index(index), any).map_err(|e| e.to_string())?;
    let mut formats: Vec<String> = cam
        .compatible_camera_formats()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|f| {
            format!(
                "{}x{}@{} {}",
                f.resolution().width(),
                f.resolution().height(),
                f.frame_rate(),
                f.format()
            )
        })
        .collect();
    formats.sort();
    formats.dedup();
    Ok(formats)
}

/// Cameras the system knows, as (index, name, description).
pub fn usb_cameras() -> Result<Vec<(u32, String, String)>, String> {
    let list = nokhwa::query(nokhwa::utils::ApiBackend::Auto).map_err(|e| e.to_string())?;
    Ok(list
        .into_iter()
        .filter_map(|c| {
            Some((
                c.index().as_index().ok()?,
                c.human_name(),
                c.description().to_string(),
            ))
        })
        .collect())
}

impl UsbSource {
    pub fn open(spec: &str, index: u32, req: UsbRequest) -> Result<UsbSource, CaptureError> {
        use nokhwa::utils::{
            CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
        };
        super::init_ffmpeg();
        let fail = |what: String| CaptureError::Unsupported {
            spec: spec.to_string(),
            what,
        };
        let wanted: &[FrameFormat] = match req.format {
            Some(UsbFormat::Mjpeg) => &[FrameFormat::MJPEG],
            Some(UsbFormat::Yuyv) => &[FrameFormat::YUYV],
            None => &[FrameFormat::MJPEG, FrameFormat::YUYV],
        };
        let closest = CameraFormat::new_from(req.width, req.height, wanted[0], req.fps);
        let offers = || {
            usb_formats(index)
                .map(|f| f.join(", "))
                .unwrap_or_else(|e| format!("(cannot list: {e})"))
        };
        let mut camera = nokhwa::Camera::new(CameraIndex::Index(index), RequestedFormat::with_formats(RequestedFormatType::Closest(closest), wanted))
            .map_err(|e| fail(format!("cannot open USB camera {index}: {e}; `packwitness cameras` lists the cameras and their formats")))?;
        camera.open_stream().map_err(|e| {
            fail(format!(
                "cannot start USB camera {index}: {e}; it offers: {}",
                offers()
            ))
        })?;
        let got = camera.camera_format();
        let (w, h, fps) = (
            got.resolution().width(),
            got.resolution().height(),
            got.frame_rate(),
        );
        if (w, h, fps) != (req.width, req.height, req.fps) {
            tracing::warn!(camera = spec, requested = %format!("{}x{}@{}", req.width, req.height, req.fps),
                got = %format!("{w}x{h}@{fps} {}", got.format()), offers = %offers(), "the camera cannot give the requested format; using the closest");
        }
        let decoder = match got.format() {
            FrameFormat::MJPEG => {
                let codec = codec::decoder::find(codec::Id::MJPEG)
                    .ok_or_else(|| fail("this FFmpeg has no MJPEG decoder".into()))?;
                Some(
                    codec::context::Context::new_with_codec(codec)
                        .decoder()
                        .video()
                        .map_err(|source| CaptureError::Ffmpeg {
                            spec: spec.to_string(),
                            what: "opening the MJPEG decoder",
                            source,
                        })?,
                )
            }
            FrameFormat::YUYV => None,
            other => {
                return Err(fail(format!(
                    "the camera gives {other} frames; ask for MJPEG or YUYV (it offers: {})",
                    offers()
                )))
            }
        };
        let mut me = UsbSource {
            spec: spec.to_string(),
            camera,
            info: StreamInfo {
                width: w,
                height: h,
                pixel_format: format::Pixel::YUYV422,
                time_base: Rational::new(1, 1_000_000),
                frame_rate: Rational::new(fps.max(1) as i32, 1),
            },
            format: got.format(),
            decoder,
            origin: None,
            last_pts: None,
            pending: None,
        };
        // The decoded pixel format is known only from a first frame.
        let first = me.read()?;
        me.info.pixel_format = first.format();
        me.pending = Some(first);
        tracing::info!(source = spec, width = w, height = h, fps, format = %got.format(), "USB camera opened");
        Ok(me)
    }

    fn read(&mut self) -> Result<frame::Video, CaptureError> {
        let err = |what: &str| CaptureError::Unsupported {
            spec: self.spec.clone(),
            what: what.to_string(),
        };
        loop {
            let buf = self.camera.frame().map_err(|e| CaptureError::Unsupported {
                spec: self.spec.clone(),
                what: format!("reading a frame: {e}"),
            })?;
            let now = Instant::now();
            let origin = *self.origin.get_or_insert(now);
            let pts = (now - origin).as_micros() as i64;
            let data = buf.buffer();
            let mut frame = match (&mut self.decoder, self.format) {
                (Some(dec), _) => {
                    let packet = ffmpeg::Packet::copy(data);
                    if dec.send_packet(&packet).is_err() {
                        continue; // a damaged JPEG: skip this frame
                    }
                    let mut f = frame::Video::empty();
                    if dec.receive_frame(&mut f).is_err() {
                        continue;
                    }
                    f
                }
                (None, _) => {
                    let (w, h) = (self.info.width as usize, self.info.height as usize);
                    if data.len() < w * h * 2 {
                        return Err(err("a YUYV frame is shorter than its size says"));
                    }
                    let mut f = frame::Video::new(format::Pixel::YUYV422, w as u32, h as u32);
                    let stride = f.stride(0);
                    let plane = f.data_mut(0);
                    for row in 0..h {
                        plane[row * stride..row * stride + w * 2]
                            .copy_from_slice(&data[row * w * 2..(row + 1) * w * 2]);
                    }
                    f
                }
            };
            if self.last_pts.is_some_and(|l| pts <= l) {
                continue;
            }
            self.last_pts = Some(pts);
            frame.set_pts(Some(pts));
            return Ok(frame);
        }
    }
}

impl FrameSource for UsbSource {
    fn info(&self) -> StreamInfo {
        self.info
    }

    fn next_frame(&mut self) -> Result<Option<frame::Video>, CaptureError> {
        if let Some(f) = self.pending.take() {
            return Ok(Some(f));
        }
        self.read().map(Some)
    }

    fn spec(&self) -> &str {
        &self.spec
    }
}
