//! The station's state machine: what each scan does, decided from the scan, the state and a
//! clock reading alone, so every rule is tested with a simulated clock.
//!
//! Owns: debouncing, order switches, boxes, rescans, waybills attached, operators, timeouts.
//! Never: reads a clock or touches cameras or records (the station does, from its actions).

use crate::codes::{CodeKind, Scan};
use crate::config::Rescan;
use crate::log::{ScanAction, SealReason};

/// The rules of a station.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub rescan: Rescan,
    /// The same code again within this many milliseconds is ignored.
    pub debounce_ms: u64,
    /// A clip open this long (from its scan) is sealed with reason `timeout`.
    pub max_clip_ms: u64,
}

/// A clip to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    pub order: String,
    /// 1 for the first box of an order; 2, 3, ... after `PW-BOX`.
    pub box_no: u32,
    pub operator: Option<String>,
    /// `Order`, or `Tracking` when a waybill was scanned with no clip open.
    pub keyed_by: CodeKind,
}

/// What a scan (or the clock) makes the station do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing was recording: start a clip.
    Open(Opening),
    /// Seal the open clip for `reason` and start `next` at the same frame.
    Switch { reason: SealReason, next: Opening },
    /// Seal the open clip for `reason`, after the post-roll when `post_roll`.
    Seal { reason: SealReason, post_roll: bool },
    /// Attach a code (a waybill) to the open clip as a lookup alias.
    Attach { code: String, rule: String },
    /// The operator of the following clips.
    Operator(String),
    /// The scan changes nothing; why.
    Ignored(&'static str),
    /// The same code again within the debounce window (not written anywhere).
    Debounced,
}

impl Action {
    /// The action written into scan records (`None`: a debounced scan, not written).
    pub fn scan_action(&self) -> Option<ScanAction> {
        Some(match self {
            Action::Open(_) => ScanAction::Open,
            Action::Switch { .. } => ScanAction::Switch,
            Action::Seal { .. } => ScanAction::Seal,
            Action::Attach { .. } => ScanAction::Attach,
            Action::Operator(_) => ScanAction::Operator,
            Action::Ignored(_) => ScanAction::Ignored,
            Action::Debounced => return None,
        })
    }

    /// The name of the action, for people and JSON answers.
    pub fn name(&self) -> &'static str {
        self.scan_action().map_or("debounced", ScanAction::as_str)
    }

    /// The reason or the detail of the action, if any.
    pub fn detail(&self) -> Option<&'static str> {
        match self {
            Action::Switch { reason, .. } | Action::Seal { reason, .. } => Some(reason.as_str()),
            Action::Ignored(why) => Some(why),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Current {
    order: String,
    box_no: u32,
    since_ms: u64,
    keyed_by: CodeKind,
    attached: Vec<String>,
}

/// The state of one station.
#[derive(Debug, Clone)]
pub struct StateMachine {
    settings: Settings,
    current: Option<Current>,
    operator: Option<String>,
    last_scan: Option<(String, u64)>,
}

impl StateMachine {
    pub fn new(settings: Settings) -> StateMachine {
        StateMachine {
            settings,
            current: None,
            operator: None,
            last_scan: None,
        }
    }

    /// The order and box being recorded, if any.
    pub fn recording(&self) -> Option<(&str, u32)> {
        self.current.as_ref().map(|c| (c.order.as_str(), c.box_no))
    }

    /// The operator of the next clips.
    pub fn operator(&self) -> Option<&str> {
        self.operator.as_deref()
    }

    /// Codes attached to the open clip so far.
    pub fn attached(&self) -> &[String] {
        self.current.as_ref().map_or(&[], |c| &c.attached)
    }

    /// Opens `order` again without a scan (a start after a crash resumes it), at `now_ms`.
    pub fn resume(&mut self, now_ms: u64, order: &str, box_no: u32, operator: Option<String>) {
        if operator.is_some() {
            self.operator = operator;
        }
        self.current = Some(Current {
            order: order.to_string(),
            box_no,
            since_ms: now_ms,
            keyed_by: CodeKind::Order,
            attached: Vec::new(),
        });
    }

    /// Decides what a scan at `now_ms` (any monotonic clock, in milliseconds) does.
    pub fn scan(&mut self, now_ms: u64, scan: &Scan) -> Action {
        if let Some((code, at)) = &mut self.last_scan {
            if *code == scan.code && now_ms.saturating_sub(*at) < self.settings.debounce_ms {
                // Sliding: a scanner repeating a code in continuous mode stays debounced.
                *at = now_ms;
                return Action::Debounced;
            }
        }
        self.last_scan = Some((scan.code.clone(), now_ms));
        // A clip past its limit is over before this scan is looked at.
        if let Some(Action::Seal { .. }) = self.tick(now_ms) {
            tracing::debug!("clip timed out before the scan");
        }
        match scan.kind {
            CodeKind::Order | CodeKind::Tracking => self.code(now_ms, scan),
            CodeKind::Operator => {
                self.operator = Some(scan.code.clone());
                Action::Operator(scan.code.clone())
            }
            CodeKind::Stop | CodeKind::Cancel => {
                let reason = if scan.kind == CodeKind::Stop {
                    SealReason::StopCode
                } else {
                    SealReason::Cancelled
                };
                match self.current.take() {
                    Some(_) => Action::Seal {
                        reason,
                        post_roll: true,
                    },
                    None => Action::Ignored("no clip is open"),
                }
            }
            CodeKind::NextBox => match &self.current {
                Some(c) => {
                    let (order, box_no, keyed_by) = (c.order.clone(), c.box_no + 1, c.keyed_by);
                    self.switch(now_ms, SealReason::NextBox, order, box_no, keyed_by)
                }
                None => Action::Ignored("no clip is open; scan the order first"),
            },
        }
    }

    fn code(&mut self, now_ms: u64, scan: &Scan) -> Action {
        let Some(cur) = &mut self.current else {
            return self.open(now_ms, scan.code.clone(), 1, scan.kind);
        };
        if cur.order == scan.code {
            return match self.settings.rescan {
                Rescan::Seal => {
                    self.current = None;
                    Action::Seal {
                        reason: SealReason::Rescan,
                        post_roll: true,
                    }
                }
                Rescan::Ignore => Action::Ignored("this order is already recording"),
                Rescan::NextBox => {
                    let (order, box_no, keyed_by) =
                        (cur.order.clone(), cur.box_no + 1, cur.keyed_by);
                    self.switch(now_ms, SealReason::NextBox, order, box_no, keyed_by)
                }
            };
        }
        if scan.kind == CodeKind::Tracking {
            if cur.attached.contains(&scan.code) {
                return Action::Ignored("this code is already attached to the clip");
            }
            cur.attached.push(scan.code.clone());
            return Action::Attach {
                code: scan.code.clone(),
                rule: scan.rule.clone(),
            };
        }
        self.switch(
            now_ms,
            SealReason::NextOrder,
            scan.code.clone(),
            1,
            scan.kind,
        )
    }

    fn opening(&self, order: String, box_no: u32, keyed_by: CodeKind) -> Opening {
        Opening {
            order,
            box_no,
            operator: self.operator.clone(),
            keyed_by,
        }
    }

    fn start(&mut self, now_ms: u64, o: &Opening) {
        self.current = Some(Current {
            order: o.order.clone(),
            box_no: o.box_no,
            since_ms: now_ms,
            keyed_by: o.keyed_by,
            attached: Vec::new(),
        });
    }

    fn open(&mut self, now_ms: u64, order: String, box_no: u32, keyed_by: CodeKind) -> Action {
        let o = self.opening(order, box_no, keyed_by);
        self.start(now_ms, &o);
        Action::Open(o)
    }

    fn switch(
        &mut self,
        now_ms: u64,
        reason: SealReason,
        order: String,
        box_no: u32,
        keyed_by: CodeKind,
    ) -> Action {
        let next = self.opening(order, box_no, keyed_by);
        self.start(now_ms, &next);
        Action::Switch { reason, next }
    }

    /// Seals a clip that has run for `max_clip_ms`; call it now and then.
    pub fn tick(&mut self, now_ms: u64) -> Option<Action> {
        let c = self.current.as_ref()?;
        if now_ms.saturating_sub(c.since_ms) < self.settings.max_clip_ms {
            return None;
        }
        self.current = None;
        Some(Action::Seal {
            reason: SealReason::Timeout,
            post_roll: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(kind: CodeKind, code: &str) -> Scan {
        Scan {
            code: code.into(),
            kind,
            rule: "test".into(),
        }
    }

    fn machine(rescan: Rescan) -> StateMachine {
        StateMachine::new(Settings {
            rescan,
            debounce_ms: 1000,
            max_clip_ms: 60_000,
        })
    }

    fn opening(order: &str, box_no: u32, operator: Option<&str>, keyed_by: CodeKind) -> Opening {
        Opening {
            order: order.into(),
            box_no,
            operator: operator.map(Into::into),
            keyed_by,
        }
    }

    use CodeKind::*;

    #[test]
    fn orders_switch_and_stop_seals() {
        let mut m = machine(Rescan::Seal);
        assert_eq!(
            m.scan(0, &scan(Order, "A")),
            Action::Open(opening("A", 1, None, Order))
        );
        assert_eq!(
            m.scan(5000, &scan(Order, "B")),
            Action::Switch {
                reason: SealReason::NextOrder,
                next: opening("B", 1, None, Order)
            }
        );
        assert_eq!(m.recording(), Some(("B", 1)));
        assert_eq!(
            m.scan(9000, &scan(Stop, "PW-STOP")),
            Action::Seal {
                reason: SealReason::StopCode,
                post_roll: true
            }
        );
        assert_eq!(m.recording(), None);
        assert_eq!(
            m.scan(9500, &scan(Stop, "PW-STOP")),
            Action::Debounced,
            "a double read of the stop code"
        );
        assert_eq!(
            m.scan(20_000, &scan(Stop, "PW-STOP")),
            Action::Ignored("no clip is open")
        );
        assert_eq!(
            m.scan(21_000, &scan(Cancel, "PW-CANCEL")),
            Action::Ignored("no clip is open")
        );
        assert_eq!(
            m.scan(22_000, &scan(NextBox, "PW-BOX")),
            Action::Ignored("no clip is open; scan the order first")
        );
    }

    #[test]
    fn rescanning_the_same_order_follows_the_setting() {
        let mut m = machine(Rescan::Seal);
        m.scan(0, &scan(Order, "A"));
        assert_eq!(m.scan(200, &scan(Order, "A")), Action::Debounced);
        assert_eq!(
            m.scan(3000, &scan(Order, "A")),
            Action::Seal {
                reason: SealReason::Rescan,
                post_roll: true
            }
        );
        let mut m = machine(Rescan::Ignore);
        m.scan(0, &scan(Order, "A"));
        assert_eq!(
            m.scan(3000, &scan(Order, "A")),
            Action::Ignored("this order is already recording")
        );
        assert_eq!(m.recording(), Some(("A", 1)));
        let mut m = machine(Rescan::NextBox);
        m.scan(0, &scan(Order, "A"));
        assert_eq!(
            m.scan(3000, &scan(Order, "A")),
            Action::Switch {
                reason: SealReason::NextBox,
                next: opening("A", 2, None, Order)
            }
        );
    }

    #[test]
    fn boxes_cancel_and_operators() {
        let mut m = machine(Rescan::Seal);
        assert_eq!(
            m.scan(0, &scan(Operator, "ALICE")),
            Action::Operator("ALICE".into())
        );
        m.scan(1000, &scan(Order, "A"));
        assert_eq!(
            m.scan(2000, &scan(NextBox, "PW-BOX")),
            Action::Switch {
                reason: SealReason::NextBox,
                next: opening("A", 2, Some("ALICE"), Order)
            }
        );
        // The debounce is per code: PW-BOX again after the window is box 3.
        assert_eq!(
            m.scan(3500, &scan(NextBox, "PW-BOX")),
            Action::Switch {
                reason: SealReason::NextBox,
                next: opening("A", 3, Some("ALICE"), Order)
            }
        );
        // A badge during a clip sets the operator of the next clips, not this one.
        m.scan(4000, &scan(Operator, "BOB"));
        assert_eq!(m.recording(), Some(("A", 3)));
        assert_eq!(
            m.scan(5000, &scan(Cancel, "PW-CANCEL")),
            Action::Seal {
                reason: SealReason::Cancelled,
                post_roll: true
            }
        );
        assert_eq!(
            m.scan(6000, &scan(Order, "B")),
            Action::Open(opening("B", 1, Some("BOB"), Order))
        );
    }

    #[test]
    fn waybills_attach_during_a_clip_and_key_a_clip_when_idle() {
        let mut m = machine(Rescan::Seal);
        assert_eq!(
            m.scan(0, &scan(Tracking, "SF1")),
            Action::Open(opening("SF1", 1, None, Tracking))
        );
        assert_eq!(
            m.scan(2000, &scan(Order, "A")),
            Action::Switch {
                reason: SealReason::NextOrder,
                next: opening("A", 1, None, Order)
            }
        );
        assert_eq!(
            m.scan(3000, &scan(Tracking, "SF2")),
            Action::Attach {
                code: "SF2".into(),
                rule: "test".into()
            }
        );
        m.scan(4000, &scan(Tracking, "YT3"));
        assert_eq!(
            m.scan(6000, &scan(Tracking, "SF2")),
            Action::Ignored("this code is already attached to the clip")
        );
        assert_eq!(m.attached(), ["SF2".to_string(), "YT3".to_string()]);
        assert_eq!(m.recording(), Some(("A", 1)));
    }

    #[test]
    fn timeout_seals_and_the_next_waybill_opens_a_clip() {
        let mut m = machine(Rescan::Seal);
        m.scan(0, &scan(Order, "A"));
        assert_eq!(m.tick(59_999), None);
        assert_eq!(
            m.tick(60_000),
            Some(Action::Seal {
                reason: SealReason::Timeout,
                post_roll: false
            })
        );
        assert_eq!(m.tick(70_000), None);
        m.scan(80_000, &scan(Order, "B"));
        // A scan after the limit but before a tick: the timed-out clip is not attached to.
        assert_eq!(
            m.scan(200_000, &scan(Tracking, "SF9")),
            Action::Open(opening("SF9", 1, None, Tracking))
        );
    }

    #[test]
    fn debounce_slides_while_a_scanner_repeats() {
        let mut m = machine(Rescan::Seal);
        m.scan(0, &scan(Order, "A"));
        for t in (500..10_000).step_by(500) {
            assert_eq!(m.scan(t, &scan(Order, "A")), Action::Debounced, "at {t}");
        }
        assert_eq!(m.recording(), Some(("A", 1)));
    }
}
