//! Packet-ins and continuations: `controller` actions, and `controller(pause)`, which
//! freezes the rest of the walk so that a controller's NXT_RESUME can continue it.
//!
//! Freezing works as OVS's: the pausing action stops the walk; while the nested
//! `resubmit`s unwind, each level adds the actions it had left (with its table and the
//! cookie of its flow, which later packet-ins and relative resubmits need) to the frozen
//! list, innermost first. A pause inside a group bucket is finished at the bucket's end:
//! the actions after the group go on, as in OVS.

use super::Ctx;
use crate::dpaction::{pin_reason, DpAction, DpController};
use crate::ofctl::{Action, Controller2};
use std::sync::Arc;

/// The rest of a walk that `controller(pause)` froze.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Continuation {
    /// The actions left at each nesting level, innermost first.
    pub segments: Vec<FrozenSegment>,
}

/// The actions a nesting level had left when the walk paused.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FrozenSegment {
    /// The level's table (a `resubmit` without a table stays in it).
    pub table: u8,
    /// The cookie of the level's flow (for packet-ins its actions send).
    pub cookie: u64,
    /// The actions, `goto_table` written as the `resubmit` it amounts to.
    pub actions: Vec<Action>,
}

impl Ctx<'_> {
    /// `output:CONTROLLER` (OpenFlow's output action): the reason says where it ran.
    pub(super) fn output_controller(&mut self, max_len: u16) {
        let reason = if self.packet_out {
            pin_reason::PACKET_OUT
        } else if self.in_group > 0 {
            pin_reason::GROUP
        } else {
            pin_reason::ACTION
        };
        self.send_to_controller(reason, max_len, 0, &[], false);
    }

    /// Nicira's `controller(...)`.
    pub(super) fn controller2(&mut self, c: &Controller2) {
        // As OVS: a meter that does not exist (or no longer) meters nothing.
        let meter = c
            .meter_id
            .and_then(|m| self.tables.meter(m))
            .map(|m| crate::meter::MeterRef(m.clone()));
        self.send_to_controller(c.reason, c.max_len, c.id, &c.userdata, c.pause);
        if let Some(m) = meter {
            if let Some(p) = self.pause.as_mut() {
                p.meter = Some(m);
            } else if let Some(DpAction::Controller(last)) = self.acts.last_mut() {
                last.meter = Some(m);
            }
        }
    }

    fn send_to_controller(
        &mut self,
        reason: u8,
        max_len: u16,
        id: u16,
        userdata: &[u8],
        pause: bool,
    ) {
        // The packet goes up as the actions so far left it.
        self.commit();
        // An `action` packet-in of a table-miss flow is an explicit miss; a paused one keeps
        // its reason (OVS converts only in `xlate_controller_action`).
        let reason = if reason == pin_reason::ACTION && self.table_miss && !pause {
            pin_reason::EXPLICIT_MISS
        } else {
            reason
        };
        let c = Box::new(DpController {
            reason,
            max_len,
            controller_id: id,
            userdata: userdata.to_vec(),
            table_id: self.table,
            cookie: self.cookie,
            flow: self.flow,
            written: self.written,
            continuation: None,
            meter: None,
        });
        if pause {
            self.note("pausing: the rest of the walk waits for the controller's NXT_RESUME");
            self.pause = Some(c);
            self.exit = true;
        } else {
            self.acts.push(DpAction::Controller(c));
        }
    }

    /// A level of the walk stops with `rest` not run: while pausing, `rest` is frozen.
    pub(super) fn unroll(&mut self, rest: &[Action]) {
        if self.pause.is_none() || rest.is_empty() {
            return;
        }
        let actions = rest
            .iter()
            .map(|a| match a {
                Action::GotoTable(t) => Action::Resubmit {
                    in_port: None,
                    table: Some(*t),
                    ct: false,
                },
                other => other.clone(),
            })
            .collect();
        self.frozen.push(FrozenSegment {
            table: self.table,
            cookie: self.cookie,
            actions,
        });
    }

    /// Ends a pause: the packet-in with what was frozen. As in OVS, it is made where the
    /// walk unwound to: table 0 and the cookie of the flow there (`cookie`: the outermost
    /// flow's, or the flow that ran the group whose bucket paused), not the pausing flow's.
    pub(super) fn finish_pause(&mut self, cookie: u64) {
        if let Some(mut c) = self.pause.take() {
            c.table_id = 0;
            c.cookie = cookie;
            c.continuation = Some(Arc::new(Continuation {
                segments: std::mem::take(&mut self.frozen),
            }));
            self.acts.push(DpAction::Controller(c));
        }
    }

    /// NXT_RESUME: runs the frozen levels in turn (a second pause freezes what is left).
    pub(super) fn resume(&mut self, cont: &Continuation) {
        for (i, seg) in cont.segments.iter().enumerate() {
            if self.exit {
                if self.pause.is_some() {
                    self.frozen.extend(cont.segments[i..].iter().cloned());
                }
                break;
            }
            self.table = seg.table;
            self.cookie = seg.cookie;
            self.top_cookie = seg.cookie;
            self.table_miss = false;
            self.do_actions(&seg.actions);
        }
    }
}
