//! Preview: the live picture of each camera for the station screen, taken from the frames
//! the recorder already has, a few a second, only while someone watches.
//!
//! Owns: the tap on a camera's capture loop ([`Preview::tap`]: one atomic read per frame
//! while nobody watches; at most one frame copy every [`INTERVAL`] while someone does; a
//! transcoded camera's copy is taken after its stamp is drawn, so the packer sees the
//! picture as the clip gets it: [`Preview::offer_stamped`]), the
//! thread of each camera that turns those copies into JPEGs, and the latest JPEG with its
//! number, for the web server to wait on. Never: blocks or slows the capture loop (a copy is
//! handed over only when the JPEG thread is free, otherwise dropped), and never goes into a
//! clip or a record.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::media::preview::{render, PreviewInput};
use crate::media::Unit;

/// At most one preview picture this often (a few a second).
pub const INTERVAL: Duration = Duration::from_millis(400);
/// A preview asked for keeps being made this long after the last request.
pub const WANTED_FOR: Duration = Duration::from_secs(5);
/// Preview pictures are scaled down to at most this many pixels wide.
pub const WIDTH: u32 = 640;

/// A JPEG of the camera, with its number (rising) and when it was made.
#[derive(Clone)]
pub struct Picture {
    pub seq: u64,
    pub jpeg: Arc<Vec<u8>>,
    pub at: Instant,
}

#[derive(Default)]
struct Latest {
    picture: Option<Picture>,
    /// The last preview that could not be made: why.
    error: Option<String>,
}

/// One camera's preview.
pub struct Preview {
    pub camera: String,
    /// Milliseconds since `base` until which previews are wanted (0: not wanted).
    wanted_until: AtomicU64,
    /// Milliseconds since `base` of the last frame handed over.
    last_offer: AtomicU64,
    base: Instant,
    tx: SyncSender<PreviewInput>,
    latest: Mutex<Latest>,
    fresh: Condvar,
    /// The codec parameters of the camera's packets (passthrough: keyframes are decoded).
    params: Mutex<Option<ffmpeg_next::codec::Parameters>>,
}

impl Preview {
    /// A preview for `camera`, with its JPEG thread.
    pub fn start(camera: &str) -> Result<Arc<Preview>, std::io::Error> {
        let (tx, rx) = mpsc::sync_channel(1);
        let p = Arc::new(Preview {
            camera: camera.to_string(),
            wanted_until: AtomicU64::new(0),
            last_offer: AtomicU64::new(0),
            base: Instant::now(),
            tx,
            latest: Mutex::new(Latest::default()),
            fresh: Condvar::new(),
            params: Mutex::new(None),
        });
        let weak = Arc::downgrade(&p);
        std::thread::Builder::new()
            .name(format!("preview-{camera}"))
            .spawn(move || make_pictures(rx, weak))?;
        Ok(p)
    }

    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    /// True while someone watches.
    pub fn wanted(&self) -> bool {
        self.now_ms() < self.wanted_until.load(Ordering::Relaxed)
    }

    /// Someone watches: previews are made for [`WANTED_FOR`] more.
    pub fn want(&self) {
        let until = self.now_ms() + WANTED_FOR.as_millis() as u64;
        self.wanted_until.fetch_max(until, Ordering::Relaxed);
    }

    /// The codec parameters of the packets of the camera's session (for passthrough).
    pub fn session(&self, params: &ffmpeg_next::codec::Parameters) {
        if let Ok(mut p) = self.params.lock() {
            *p = Some(params.clone());
        }
    }

    /// The capture loop's tap, called with every unit before it is encoded or copied.
    pub fn tap(&self, unit: &Unit) {
        if !self.due() {
            return;
        }
        let input = match unit {
            Unit::Frame(f) => PreviewInput::Frame(f.clone()),
            Unit::Packet(p) if p.key => {
                let Some(params) = self.params.lock().ok().and_then(|g| g.clone()) else {
                    return;
                };
                PreviewInput::Key(p.packet.clone(), params)
            }
            Unit::Packet(_) => return,
        };
        self.offer(input);
    }

    /// True when someone watches and the last picture was offered [`INTERVAL`] ago or more:
    /// the next frame is wanted (one atomic read while nobody watches).
    pub fn due(&self) -> bool {
        if !self.wanted() {
            return false;
        }
        let last = self.last_offer.load(Ordering::Relaxed);
        last == 0 || self.now_ms().saturating_sub(last) >= INTERVAL.as_millis() as u64
    }

    /// Hands a frame as the clip gets it (the stamp burned in) to the JPEG thread.
    pub fn offer_stamped(&self, frame: ffmpeg_next::frame::Video) {
        self.offer(PreviewInput::Frame(frame));
    }

    fn offer(&self, input: PreviewInput) {
        // The JPEG thread is busy: this one is dropped, the capture loop never waits.
        if self.tx.try_send(input).is_ok() {
            self.last_offer
                .store(self.now_ms().max(1), Ordering::Relaxed);
        }
    }

    /// The latest picture if it is newer than `after`; otherwise waits up to `wait` for one.
    /// Marks the preview as wanted.
    pub fn newer_than(&self, after: u64, wait: Duration) -> Result<Picture, String> {
        self.want();
        let deadline = Instant::now() + wait;
        let mut g = self
            .latest
            .lock()
            .map_err(|_| "the preview failed earlier".to_string())?;
        loop {
            if let Some(p) = g.picture.as_ref().filter(|p| p.seq > after) {
                return Ok(p.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(g.error.clone().unwrap_or_else(|| {
                    format!(
                        "no new picture of camera {} in {:.1} s: is it live?",
                        self.camera,
                        wait.as_secs_f64()
                    )
                }));
            }
            g = self
                .fresh
                .wait_timeout(g, left)
                .map_err(|_| "the preview failed earlier".to_string())?
                .0;
        }
    }

    fn store(&self, made: Result<Vec<u8>, String>) {
        let Ok(mut g) = self.latest.lock() else {
            return;
        };
        match made {
            Ok(jpeg) => {
                let seq = g.picture.as_ref().map_or(1, |p| p.seq + 1);
                g.picture = Some(Picture {
                    seq,
                    jpeg: Arc::new(jpeg),
                    at: Instant::now(),
                });
                g.error = None;
            }
            Err(e) => {
                tracing::debug!(camera = %self.camera, error = %e, "no preview picture");
                g.error = Some(format!("camera {}: {e}", self.camera));
            }
        }
        self.fresh.notify_all();
    }
}

/// The JPEG thread of a camera: until its preview is dropped.
fn make_pictures(rx: Receiver<PreviewInput>, preview: std::sync::Weak<Preview>) {
    while let Ok(input) = rx.recv() {
        let made = render(&input, WIDTH);
        drop(input);
        match preview.upgrade() {
            Some(p) => p.store(made),
            None => return,
        }
    }
}

/// The previews of a process's cameras, by station and camera.
#[derive(Default)]
pub struct Previews {
    by_camera: Mutex<HashMap<(String, String), Arc<Preview>>>,
}

impl Previews {
    /// The preview of `camera` of `station`, made on first use.
    pub fn camera(&self, station: &str, camera: &str) -> Result<Arc<Preview>, std::io::Error> {
        let mut g = self.by_camera.lock().unwrap_or_else(|p| p.into_inner());
        let key = (station.to_string(), camera.to_string());
        if let Some(p) = g.get(&key) {
            return Ok(p.clone());
        }
        let p = Preview::start(camera)?;
        g.insert(key, p.clone());
        Ok(p)
    }

    /// The preview of a camera that exists, without making one.
    pub fn get(&self, station: &str, camera: &str) -> Option<Arc<Preview>> {
        let g = self.by_camera.lock().unwrap_or_else(|p| p.into_inner());
        g.get(&(station.to_string(), camera.to_string())).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ffmpeg_next::{format, frame};

    fn gray(w: u32, h: u32) -> Unit {
        crate::media::init_ffmpeg();
        let mut f = frame::Video::new(format::Pixel::YUV420P, w, h);
        for plane in 0..3 {
            f.data_mut(plane).fill(128);
        }
        Unit::Frame(f)
    }

    #[test]
    fn nothing_is_made_until_watched_then_a_few_a_second() {
        let p = Preview::start("cam-t").expect("preview");
        let u = gray(320, 240);
        // Nobody watches: the tap hands nothing over.
        p.tap(&u);
        assert!(p.newer_than(0, Duration::from_millis(50)).is_err());
        // Watched (the wait above asked): the next frame becomes a picture.
        p.tap(&u);
        let first = p.newer_than(0, Duration::from_secs(10)).expect("a picture");
        assert_eq!(first.seq, 1);
        assert_eq!(&first.jpeg[..2], &[0xFF, 0xD8]);
    }
}
