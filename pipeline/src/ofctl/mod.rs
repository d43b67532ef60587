//! The `ovs-ofctl` flow language: a typed model of flow entries, a parser that reads what
//! `ovs-ofctl add-flow`/`dump-flows` write, and a printer that writes it back the same way.
//!
//! Operators and CNI agents already speak this language; brisk reads it exactly so that a
//! real Antrea dump loads unchanged, and prints it as OVS does so that diffs against OVS
//! output are meaningful.

mod format;
mod group;
mod learn;
mod meter;
mod parse;
pub(crate) mod value;

pub use format::{
    format_actions, format_datapath_match, format_flow, format_match, format_subfield_now,
    FlowStats,
};
pub use group::{
    format_group, parse_group, parse_group_file, Bucket, GroupEntry, GroupMode, GroupType,
    Selection, GROUP_MAX,
};
pub use learn::{Controller2, Learn, LearnDst, LearnSpec, LearnSrc};
pub use meter::{format_meter, format_meter_stats, parse_meter, parse_meter_selector};
pub use parse::{parse_flow, parse_flow_file, parse_match, parse_packet_spec, FileError, Mode};
pub use value::{format_mac, parse_mac};

/// Parses a decimal or `0x` hexadecimal integer as the flow language does.
pub fn value_int(s: &str) -> Option<u128> {
    value::parse_int(s)
}

/// Parses the packet of a trace (`brisk trace`, `brisk ctl trace`): a packet spec as
/// [`parse_packet_spec`] reads it, which must say the port the packet enters on.
pub fn parse_trace_spec(s: &str, ports: &PortMap) -> Result<Flow, ParseError> {
    let m = parse_match(s, ports)?;
    let in_port = Field::InPort.get(&m.value);
    if Field::InPort.get(&m.mask) == 0 || in_port == 0 {
        let token: String = s.chars().take(40).collect();
        return Err(ParseError {
            offset: 0,
            token,
            message: if in_port == 0 && Field::InPort.get(&m.mask) != 0 {
                "in_port=0 is not a port: a traced packet enters on a port (in_port=PORT)".into()
            } else {
                "a traced packet needs in_port=PORT, the port it enters on".into()
            },
        });
    }
    Ok(m.value)
}

use crate::field::{Field, Subfield};
use crate::flow::Flow;
use std::collections::BTreeMap;

/// The priority a flow gets when none is given.
pub const DEFAULT_PRIORITY: u16 = 32768;

/// OpenFlow 1.0 reserved port numbers (OVS uses 16-bit port numbers internally).
pub mod port {
    /// Highest number for an ordinary port + 1.
    pub const MAX: u32 = 0xff00;
    /// Send back out the input port.
    pub const IN_PORT: u32 = 0xfff8;
    /// Submit to the flow table (packet-out only).
    pub const TABLE: u32 = 0xfff9;
    /// The MAC-learning bridge.
    pub const NORMAL: u32 = 0xfffa;
    /// All ports but the input port (and those with flooding disabled).
    pub const FLOOD: u32 = 0xfffb;
    /// All ports but the input port.
    pub const ALL: u32 = 0xfffc;
    /// To the controller.
    pub const CONTROLLER: u32 = 0xfffd;
    /// The bridge's local port.
    pub const LOCAL: u32 = 0xfffe;
    /// No port.
    pub const NONE: u32 = 0xffff;

    /// Name of a reserved port, as `ovs-ofctl` prints it.
    pub fn reserved_name(p: u32) -> Option<&'static str> {
        Some(match p {
            IN_PORT => "IN_PORT",
            TABLE => "TABLE",
            NORMAL => "NORMAL",
            FLOOD => "FLOOD",
            ALL => "ALL",
            CONTROLLER => "CONTROLLER",
            LOCAL => "LOCAL",
            NONE => "NONE",
            _ => return None,
        })
    }

    /// Reserved port by name (case-insensitive, as OVS accepts it).
    pub fn from_reserved_name(s: &str) -> Option<u32> {
        const ALL_NAMES: [(&str, u32); 8] = [
            ("IN_PORT", IN_PORT),
            ("TABLE", TABLE),
            ("NORMAL", NORMAL),
            ("FLOOD", FLOOD),
            ("ALL", ALL),
            ("CONTROLLER", CONTROLLER),
            ("LOCAL", LOCAL),
            ("NONE", NONE),
        ];
        ALL_NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|&(_, p)| p)
    }
}

/// Port names and numbers, so that `in_port="antrea-gw0"` can be read and written.
#[derive(Clone, Debug, Default)]
pub struct PortMap {
    by_name: BTreeMap<String, u32>,
    by_number: BTreeMap<u32, String>,
    /// Where the user of this map can name ports, said when a name is unknown.
    unknown_hint: Option<std::sync::Arc<str>>,
}

impl PortMap {
    /// An empty map: ports are printed as numbers and names cannot be used.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a name. A later insert of the same name or number replaces the earlier one.
    pub fn insert(&mut self, name: &str, number: u32) {
        if let Some(old) = self.by_number.insert(number, name.to_string()) {
            self.by_name.remove(&old);
        }
        if let Some(old) = self.by_name.insert(name.to_string(), number) {
            if old != number {
                self.by_number.remove(&old);
            }
        }
    }

    /// Removes a port by number.
    pub fn remove(&mut self, number: u32) {
        if let Some(name) = self.by_number.remove(&number) {
            self.by_name.remove(&name);
        }
    }

    /// Number of a named port.
    pub fn number(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// Name of a numbered port.
    pub fn name(&self, number: u32) -> Option<&str> {
        self.by_number.get(&number).map(String::as_str)
    }

    /// All (name, number) pairs, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        self.by_name.iter().map(|(n, &p)| (n.as_str(), p))
    }

    /// Sets what an unknown port name's error adds: where the command that uses this map
    /// takes its ports (`give it with --port NAME=NUMBER`, `brisk ctl show lists the
    /// ports`...).
    pub fn set_unknown_hint(&mut self, hint: &str) {
        self.unknown_hint = Some(hint.into());
    }

    /// The error for a name this map does not have.
    pub fn unknown(&self, name: &str) -> String {
        let shown: String = name.chars().take(40).collect();
        let more = if shown.len() < name.len() { "..." } else { "" };
        match &self.unknown_hint {
            Some(h) => format!("unknown port name \"{shown}{more}\" ({h})"),
            None => format!("unknown port name \"{shown}{more}\""),
        }
    }
}

/// A match: a value and a mask over the [`Flow`] layout.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Match {
    /// Field values (only bits set in `mask` are meaningful; others are kept zero).
    pub value: Flow,
    /// Which bits matter.
    pub mask: Flow,
}

impl Match {
    /// Matches every packet.
    pub const CATCHALL: Match = Match {
        value: Flow::ZERO,
        mask: Flow::ZERO,
    };

    /// Adds `field & mask == value & mask` to the match (replacing what was there for those
    /// bits).
    pub fn set(&mut self, field: Field, value: u128, mask: u128) {
        let old_v = field.get(&self.value);
        let old_m = field.get(&self.mask);
        field.set(&mut self.value, (old_v & !mask) | (value & mask));
        field.set(&mut self.mask, old_m | mask);
    }

    /// The value matched for `field` and its mask.
    pub fn get(&self, field: Field) -> (u128, u128) {
        (field.get(&self.value), field.get(&self.mask))
    }

    /// True if `flow` satisfies the match.
    pub fn matches(&self, flow: &Flow) -> bool {
        flow.matches(&self.value, &self.mask)
    }

    /// True if every packet matched by `self` is also matched by `other` (`other` is looser
    /// or equal): OVS's notion for non-strict deletes.
    pub fn is_within(&self, other: &Match) -> bool {
        for i in 0..crate::flow::FLOW_WORDS {
            // other's mask must be a subset of ours, and values must agree on other's mask.
            if other.mask.w[i] & !self.mask.w[i] != 0 {
                return false;
            }
            if (self.value.w[i] ^ other.value.w[i]) & other.mask.w[i] != 0 {
                return false;
            }
        }
        true
    }
}

/// How a field write was spelled, so it prints back the way it was written (OVS keeps the
/// same distinction).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SetForm {
    /// `load:V->FIELD[a..b]`.
    Load,
    /// `set_field:V[/M]->FIELD`.
    SetField,
    /// `mod_dl_src:` and friends.
    Mod,
}

/// A write of (masked) bits into a field.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SetField {
    /// The field written.
    pub field: Field,
    /// Value, already positioned (a `load` to `[16]` of 1 is `0x10000`).
    pub value: u128,
    /// Bits written.
    pub mask: u128,
    /// Spelling.
    pub form: SetForm,
}

/// Where `ct` takes its zone from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CtZone {
    /// A constant zone.
    Imm(u16),
    /// A 16-bit subfield read at execution time.
    Field(Subfield),
}

/// Which address NAT rewrites.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum NatKind {
    /// Source NAT.
    Src,
    /// Destination NAT.
    Dst,
}

/// `nat(...)` inside `ct(...)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Nat {
    /// `None` for a bare `nat`: reverse/continue existing NAT only.
    pub kind: Option<NatKind>,
    /// Address range (inclusive), IPv4 as `u32` or IPv6 as `u128`; `None` if not given.
    pub addr: Option<(IpRange, IpRange)>,
    /// L4 port range (inclusive), if given.
    pub ports: Option<(u16, u16)>,
    /// `persistent`.
    pub persistent: bool,
    /// `hash`.
    pub hash: bool,
    /// `random`.
    pub random: bool,
}

/// One end of a NAT address range.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum IpRange {
    /// IPv4 address.
    V4(u32),
    /// IPv6 address.
    V6(u128),
}

/// `ct(...)`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CtAction {
    /// `commit`: create a connection entry if there is none.
    pub commit: bool,
    /// `force`: delete an existing entry in the opposite direction before committing.
    pub force: bool,
    /// Table to continue in with the connection state filled in; `None` means the packet
    /// continues with the next action without recirculating.
    pub table: Option<u8>,
    /// Zone.
    pub zone: CtZone,
    /// NAT to apply, if any.
    pub nat: Option<Nat>,
    /// `exec(...)`: writes to `ct_mark`/`ct_label` of the committed entry.
    pub exec: Vec<SetField>,
    /// Application-layer gateway (`alg=ftp`), printed back; brisk does not inspect payloads.
    pub alg: Option<u16>,
}

/// One OpenFlow action.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Action {
    /// `output:N` or a reserved port (`IN_PORT`, `NORMAL`, `FLOOD`, `ALL`, `LOCAL`).
    Output(u32),
    /// `CONTROLLER:max_len`.
    Controller {
        /// Bytes of the packet to send.
        max_len: u16,
    },
    /// `output:NXM_NX_REG1[]`: to the port number held in a subfield.
    OutputReg(Subfield),
    /// `resubmit(port,table)`.
    Resubmit {
        /// Port to pretend the packet came in on (`None`: the current `in_port`).
        in_port: Option<u32>,
        /// Table (`None`: the current table).
        table: Option<u8>,
        /// `ct`: use the conntrack original-direction tuple (accepted, printed back).
        ct: bool,
    },
    /// `goto_table:T`.
    GotoTable(u8),
    /// `load`, `set_field` and `mod_*`.
    Set(SetField),
    /// `move:SRC->DST`.
    Move {
        /// Source bits.
        src: Subfield,
        /// Destination bits (same width).
        dst: Subfield,
    },
    /// `dec_ttl`: decrement IP TTL, drop if it would reach zero.
    DecTtl,
    /// `conjunction(id,k/n)`: this flow is clause `k` of `n` of conjunction `id`.
    Conjunction {
        /// Conjunction id matched by `conj_id=`.
        id: u32,
        /// Clause number, 1-based as written.
        clause: u8,
        /// Number of clauses.
        n_clauses: u8,
    },
    /// `ct(...)`.
    Ct(Box<CtAction>),
    /// `ct_clear`.
    CtClear,
    /// `group:G`.
    Group(u32),
    /// `note:..`: bytes carried along, no effect on packets.
    Note(Vec<u8>),
    /// `push_vlan:ethertype`.
    PushVlan(u16),
    /// `pop_vlan` (`strip_vlan` prints the same way with `strip` = true).
    PopVlan {
        /// Written as `strip_vlan`.
        strip: bool,
    },
    /// `learn(...)`: adds or refreshes a flow built from the packet.
    Learn(Box<Learn>),
    /// `controller(...)` with a controller id, a reason other than `action`, userdata,
    /// `pause` or a meter (Nicira's controller and controller2).
    Controller2(Box<Controller2>),
    /// `meter:N` (OpenFlow 1.3's meter instruction, 1.5's meter action).
    Meter(u32),
    /// `fin_timeout(idle_timeout=I,hard_timeout=H)`: once a TCP FIN or RST matches the
    /// flow, its timeouts are lowered to these (0: unchanged), so that a flow learned for
    /// a TCP connection goes soon after the connection does.
    FinTimeout {
        /// Idle timeout after a FIN or RST.
        idle: u16,
        /// Hard timeout after a FIN or RST.
        hard: u16,
    },
}

/// Flow-mod flags that are accepted and remembered.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct FlowFlags {
    /// `send_flow_rem`.
    pub send_flow_rem: bool,
    /// `check_overlap`.
    pub check_overlap: bool,
    /// `reset_counts`.
    pub reset_counts: bool,
    /// `no_packet_counts`.
    pub no_packet_counts: bool,
    /// `no_byte_counts`.
    pub no_byte_counts: bool,
}

/// A flow entry as written in a flows file or given to `add-flow`/`del-flows`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct FlowEntry {
    /// Table (`None` when not given: 0 for adds, all tables for deletes).
    pub table: Option<u8>,
    /// Priority.
    pub priority: u16,
    /// Cookie.
    pub cookie: u64,
    /// Cookie mask (deletes only; 0 = do not match on cookie).
    pub cookie_mask: u64,
    /// Idle timeout in seconds (0 = none).
    pub idle_timeout: u16,
    /// Hard timeout in seconds (0 = none).
    pub hard_timeout: u16,
    /// Eviction importance.
    pub importance: u16,
    /// Flags.
    pub flags: FlowFlags,
    /// `out_port` restriction (deletes only).
    pub out_port: Option<u32>,
    /// What the flow matches.
    pub matches: Match,
    /// What it does. Empty means drop.
    pub actions: Vec<Action>,
}

impl FlowEntry {
    /// The table, defaulting to 0.
    pub fn table_id(&self) -> u8 {
        self.table.unwrap_or(0)
    }

    /// True when every action is a `conjunction` (such a flow contributes a clause instead
    /// of being a match result).
    pub fn is_conjunction_clause(&self) -> bool {
        !self.actions.is_empty()
            && self
                .actions
                .iter()
                .all(|a| matches!(a, Action::Conjunction { .. }))
    }

    /// True when the flow could send packets to `port` (for `out_port` filtering).
    pub fn outputs_to(&self, port: u32) -> bool {
        self.actions.iter().any(|a| match a {
            Action::Output(p) => *p == port,
            Action::OutputReg(_) => true,
            _ => false,
        })
    }
}

/// What was wrong with a flow, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} near '{token}'")]
pub struct ParseError {
    /// Byte offset (0-based) in the parsed text where the problem is.
    pub offset: usize,
    /// The token at fault.
    pub token: String,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    /// 1-based column of the problem in the parsed text.
    pub fn column(&self) -> usize {
        self.offset + 1
    }
}

#[cfg(test)]
mod tests;
