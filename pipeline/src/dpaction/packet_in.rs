//! Packet-ins: the datapath form of OpenFlow's `controller` action, and the message one
//! packet makes of it. The walk's constants (reason, table, cookie, userdata, the registers
//! the pipeline wrote, a continuation) are compiled into the megaflow like any action; the
//! packet's own bytes and metadata (input port, tunnel, conntrack state) are added when a
//! packet runs it, as OVS's upcall handler adds them to the frozen state.

use crate::flow::{Flow, KEY_WORDS};
use crate::xlate::Continuation;
use std::fmt;
use std::sync::Arc;

/// Packet-in reasons (`OFPR_*`), plus OVS's internal "explicit miss".
pub mod pin_reason {
    /// No matching flow (table-miss).
    pub const NO_MATCH: u8 = 0;
    /// A `controller` action.
    pub const ACTION: u8 = 1;
    /// A TTL that cannot be decremented.
    pub const INVALID_TTL: u8 = 2;
    /// An output to CONTROLLER in the action set.
    pub const ACTION_SET: u8 = 3;
    /// An output to CONTROLLER in a group bucket.
    pub const GROUP: u8 = 4;
    /// An output to CONTROLLER in a packet-out's actions.
    pub const PACKET_OUT: u8 = 5;
    /// An `action` packet-in of a table-miss flow (priority 0, matching everything): sent
    /// as `no_match` from OpenFlow 1.3 on and as `action` before, as OVS does.
    pub const EXPLICIT_MISS: u8 = 6;

    /// The reason as `ovs-ofctl` names it.
    pub fn name(r: u8) -> &'static str {
        match r {
            NO_MATCH | EXPLICIT_MISS => "no_match",
            ACTION => "action",
            INVALID_TTL => "invalid_ttl",
            ACTION_SET => "action_set",
            GROUP => "group",
            PACKET_OUT => "packet_out",
            _ => "unknown",
        }
    }
}

/// A `controller` action as the datapath runs it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DpController {
    /// Packet-in reason ([`pin_reason`]).
    pub reason: u8,
    /// Bytes the action asked for (OVS sends whole packets since it stopped buffering
    /// them; so does brisk, and this is only shown).
    pub max_len: u16,
    /// Only connections with this controller id receive it (0: the default id).
    pub controller_id: u16,
    /// `userdata` of NXAST_CONTROLLER2.
    pub userdata: Vec<u8>,
    /// Table of the flow whose action this is.
    pub table_id: u8,
    /// That flow's cookie (`u64::MAX` for a packet-out's own actions).
    pub cookie: u64,
    /// The walk's flow at the action (registers, metadata, what the pipeline wrote).
    pub flow: Flow,
    /// Which bits of `flow` the pipeline wrote; the packet's key gives the others.
    pub written: Flow,
    /// With `pause`: the rest of the walk, for NXT_RESUME.
    pub continuation: Option<Arc<Continuation>>,
    /// `controller(meter_id=N)`: the meter the packet-ins (not the packet) go through.
    pub meter: Option<crate::meter::MeterRef>,
}

/// One packet-in as the datapath made it, for the controller connections to encode.
#[derive(Clone, Debug)]
pub struct PacketIn {
    /// Reason ([`pin_reason`]).
    pub reason: u8,
    /// Table of the flow that sent it.
    pub table_id: u8,
    /// That flow's cookie.
    pub cookie: u64,
    /// Connections with this controller id receive it.
    pub controller_id: u16,
    /// NXAST_CONTROLLER2's userdata.
    pub userdata: Vec<u8>,
    /// The packet as it was at the action (header rewrites before it applied).
    pub data: Vec<u8>,
    /// Input port, tunnel, conntrack state, registers and metadata at the action.
    pub metadata: Flow,
    /// The frozen rest of the walk (`pause`).
    pub continuation: Option<Arc<Continuation>>,
}

impl DpController {
    /// The metadata a packet with datapath key `key` carries at this action: the bits the
    /// pipeline wrote from the walk, the others (input port, tunnel, conntrack) from the
    /// packet, and the registers and `metadata` from the walk.
    pub fn metadata(&self, key: &Flow) -> Flow {
        let mut m = self.flow;
        for i in 0..KEY_WORDS {
            m.w[i] = (self.flow.w[i] & self.written.w[i]) | (key.w[i] & !self.written.w[i]);
        }
        m
    }

    /// The packet-in of a packet with these bytes and key.
    pub fn packet_in(&self, frame: &[u8], key: &Flow) -> PacketIn {
        PacketIn {
            reason: self.reason,
            table_id: self.table_id,
            cookie: self.cookie,
            controller_id: self.controller_id,
            userdata: self.userdata.clone(),
            data: frame.to_vec(),
            metadata: self.metadata(key),
            continuation: self.continuation.clone(),
        }
    }
}

impl fmt::Display for DpController {
    /// OVS's `userspace(pid=..,controller(...))` datapath action, less the recirculation
    /// id: brisk's megaflow holds the frozen state itself.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "userspace(pid=0,controller(reason={},dont_send=0,continuation={},rule_cookie={:#x},controller_id={},max_len={}))",
            self.reason,
            u8::from(self.continuation.is_some()),
            self.cookie,
            self.controller_id,
            self.max_len
        )
    }
}
