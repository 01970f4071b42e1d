//! Built without the `usb` feature: no USB camera support, the same API, clear errors.

use ffmpeg_next::frame;

use super::{CaptureError, FrameSource, StreamInfo, UsbRequest};

const WHY: &str = "this packwitness was built without USB camera support (cargo feature `usb`); use a network camera, a file or lavfi source, or rebuild with the default features";

/// Never constructed in this build.
pub enum UsbSource {}

/// The formats a USB camera offers: none in this build.
pub fn usb_formats(_index: u32) -> Result<Vec<String>, String> {
    Err(WHY.into())
}

/// Cameras the system knows: none in this build.
pub fn usb_cameras() -> Result<Vec<(u32, String, String)>, String> {
    Err(WHY.into())
}

impl UsbSource {
    pub fn open(spec: &str, _index: u32, _req: UsbRequest) -> Result<UsbSource, CaptureError> {
        Err(CaptureError::Unsupported {
            spec: spec.to_string(),
            what: WHY.into(),
        })
    }
}

impl FrameSource for UsbSource {
    fn info(&self) -> StreamInfo {
        match *self {}
    }

    fn next_frame(&mut self) -> Result<Option<frame::Video>, CaptureError> {
        match *self {}
    }

    fn spec(&self) -> &str {
        match *self {}
    }
}
