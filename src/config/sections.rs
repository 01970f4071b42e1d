//! The sections of the config about the process beside its stations: `[recorder]` (how it
//! runs on its machine) and `[anchor]` (time-stamps and witnesses).
//! Never: reads files or checks values against the system (the modules that use them do).

use serde::Deserialize;

/// How the recording process runs on its machine (`[recorder]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RecorderConfig {
    /// The process's nice value (-20 to 19; lower runs first), set at start where the system
    /// allows (root or CAP_SYS_NICE): capture, encoding and writing are not starved by other
    /// work on the PC. 0 leaves it as it is. The shipped systemd unit also sets `Nice=-5`.
    pub nice: i32,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig { nice: -5 }
    }
}

/// Checkpoints stamped outside the station (`[anchor]`): RFC 3161 time-stamp authorities.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AnchorConfig {
    /// TSA addresses (`http://...`, RFC 3161 over HTTP), tried in order; empty: no anchoring.
    pub tsa: Vec<String>,
    /// PEM file of the CA certificates the TSA's certificate chain must reach.
    pub tsa_ca: String,
    /// The newest checkpoint is sent at most this often (seconds); a queue keeps what could
    /// not be sent yet, delivered in order.
    pub every_s: u64,
    /// Witnesses (c2sp.org/tlog-witness) that cosign the checkpoints (`[[anchor.witness]]`).
    pub witness: Vec<WitnessConfig>,
}

/// A witness (`[[anchor.witness]]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// Its submission prefix, `http://host:port` (`/add-checkpoint` is added).
    pub url: String,
    /// Its verifier key (`<name>+<id>+<base64(0x04 || key)>`), as the witness prints it.
    pub key: String,
}

impl Default for AnchorConfig {
    fn default() -> Self {
        AnchorConfig {
            tsa: Vec::new(),
            tsa_ca: String::new(),
            every_s: 60,
            witness: Vec::new(),
        }
    }
}
