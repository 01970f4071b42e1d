//! Recorder: stations recording clips into a data dir.
//!
//! Owns, one room each: the [`writer`] (the one place that appends to the manifest, talked to
//! by message and, from other processes, through a socket), [`recovery`] after a crash, the
//! [`camera`] loop (sources, sessions, reconnects, cut marks), clip [`assembly`] (pre-roll,
//! cuts, timeouts, the records of a clip), the station [`state`] machine, the [`preview`] pictures of
//! the station screen, the [`station`] that wires them together, and the process's typed
//! [`status`] (what status, `/healthz`, the screens and the alarms are told).
//! Never: reads scanners, serves HTTP or prints (the app and the binary do).
//!
//! Data flows one way. Per camera:
//!   camera loop:    source -> stamp + encoder -> `CameraEvent`s (packets and cut marks)
//!   clip assembly:  cut marks + packets -> clip file -> records -> writer thread
//! A command reaches the camera loop, which asks the encoder for an IDR at the next frame and
//! sends a cut mark carrying that frame's pts ahead of the packets. Assembly cuts when the
//! first packet at or after that pts arrives, so encoder delay never misroutes a frame.

pub mod assembly;
pub mod camera;
pub mod disk;
pub mod health;
pub mod indexer;
pub mod preview;
pub mod pruner;
pub mod recovery;
pub mod socket;
pub mod state;
pub mod station;
pub mod status;
pub mod wallclock;
pub mod writer;

pub use station::{Outcome, Station, StationDeps};
pub use status::{Outside, ProcessStatus, StationStatus};
pub use writer::{open_appender, Writer, WriterHandle, WriterThread};
