//! Trigger: scanned codes in, classified scans out.
//!
//! Owns: normalising and validating scanned codes (the same rules at recording and at lookup),
//! telling order, tracking, badge and control codes apart (`rules`), the keyboard-wedge key
//! decoder (`keys`), and the scanner inputs: standard input, evdev devices and serial lines
//! (`input`). An HTTP scan endpoint feeds the same [`Event`] channel.
//! Never: touches video or files, or decides what a scan does to a clip (`station` does).

pub mod input;
pub mod keys;
pub mod rules;
pub mod sheet;

pub use input::{parse_scanner_spec, shorten as printable, spawn_scanner, Event, Rejected};
pub use rules::{normalize, Classifier, CodeError, CodeKind, Scan};
