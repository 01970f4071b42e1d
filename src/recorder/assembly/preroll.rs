//! The pre-roll ring: the last seconds of a camera's packets, from a keyframe on.

use std::collections::VecDeque;

use crate::media::EncodedPacket;

/// The last seconds of packets, from a keyframe on: the pre-roll of the next clip.
#[derive(Default)]
pub struct PreRoll {
    packets: VecDeque<EncodedPacket>,
    /// Pre-roll asked for, in time-base ticks (may be 0).
    want: i64,
    /// Kept: `want`, but in passthrough at least the current GOP (a clip must start on the
    /// camera's keyframe before the scan).
    keep: i64,
    /// No packet before this pts may start a clip: where the camera's previous clip ended.
    floor: i64,
}

impl PreRoll {
    /// A ring keeping `want` ticks (and with `whole_gop`, at least the current GOP).
    pub fn new(want: i64, whole_gop: bool) -> PreRoll {
        PreRoll {
            packets: VecDeque::new(),
            want,
            keep: if whole_gop { want.max(1) } else { want },
            floor: i64::MIN,
        }
    }

    pub fn push(&mut self, p: &EncodedPacket) {
        if self.keep <= 0 {
            return;
        }
        if self.packets.is_empty() && !p.key {
            return; // a pre-roll starts on a keyframe
        }
        self.packets.push_back(p.clone());
        // Drop whole GOPs while the next keyframe is still at least `keep` before the newest.
        let newest = p.pts;
        while let Some(second) = self.packets.iter().skip(1).position(|q| q.key) {
            let second = second + 1;
            if newest - self.packets[second].pts >= self.keep {
                self.packets.drain(..second);
            } else {
                break;
            }
        }
    }

    /// A clip was sealed at `pts`: the next clip's pre-roll starts at `pts` or later.
    pub fn set_floor(&mut self, pts: i64) {
        self.floor = pts;
        while self.packets.front().is_some_and(|p| p.pts < pts) {
            self.packets.pop_front();
        }
        // What is kept must still start on a keyframe.
        while self.packets.front().is_some_and(|p| !p.key) {
            self.packets.pop_front();
        }
    }

    /// True when a clip could start from the ring (it holds a keyframe).
    pub fn has_keyframe(&self) -> bool {
        self.packets.front().is_some_and(|p| p.key)
    }

    /// Packets from the latest keyframe at least `want` before `at` (or the oldest kept), up
    /// to `at`; none when `at` is itself a keyframe and no pre-roll is wanted.
    pub fn take_before(&self, at: i64, at_is_key: bool) -> Vec<EncodedPacket> {
        if at_is_key && self.want == 0 {
            return Vec::new();
        }
        let start = self
            .packets
            .iter()
            .rposition(|q| q.key && at - q.pts >= self.want.max(1))
            .unwrap_or(0);
        self.packets
            .iter()
            .skip(start)
            .filter(|q| q.pts < at && q.pts >= self.floor)
            .cloned()
            .collect()
    }

    pub fn clear(&mut self) {
        self.packets.clear();
        self.floor = i64::MIN;
    }
}
