//! Datapath actions: what a megaflow does to a packet, and their execution on a frame.
//!
//! The slow path (OpenFlow translation) compiles a packet's walk through the tables into a
//! short list of these; the fast path runs the same list for every later packet of the
//! megaflow. Slow and fast path therefore execute literally the same code.

mod ct;
mod ct_frag;
mod exec;
mod learn;
mod packet_in;

pub use exec::{
    exec_group, execute, Batch, CloneFrame, Collect, ExecEnv, Packet, PktMut, Sink, LEARN_ONLY,
    NO_HINT,
};

pub use learn::{DpFinTimeout, LearnedFlow, REFRESH_MS as LEARN_REFRESH_MS};
pub use packet_in::{pin_reason, DpController, PacketIn};

use crate::flow::{w, Flow};
use crate::ofctl::Nat;
use crate::tunnel::TnlPush;
use std::fmt;

/// A packet-header field a datapath set action writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HdrField {
    /// Ethernet source.
    EthSrc,
    /// Ethernet destination.
    EthDst,
    /// VLAN TCI of the outer tag (the tag must exist).
    VlanTci,
    /// IPv4 source.
    Ipv4Src,
    /// IPv4 destination.
    Ipv4Dst,
    /// IPv6 source.
    Ipv6Src,
    /// IPv6 destination.
    Ipv6Dst,
    /// ToS / traffic class byte.
    IpTos,
    /// TTL / hop limit (absolute).
    IpTtl,
    /// TCP/UDP/SCTP source port.
    TpSrc,
    /// TCP/UDP/SCTP destination port.
    TpDst,
    /// ARP opcode.
    ArpOp,
    /// ARP sender IP.
    ArpSpa,
    /// ARP target IP.
    ArpTpa,
    /// ARP sender MAC.
    ArpSha,
    /// ARP target MAC.
    ArpTha,
}

/// Tunnel metadata carried with a packet: set on decap, used on encap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TunnelMeta {
    /// VNI / key.
    pub tun_id: u64,
    /// Outer source IPv4 (0: the port's local IP).
    pub src: u32,
    /// Outer destination IPv4.
    pub dst: u32,
    /// Outer ToS.
    pub tos: u8,
    /// Outer TTL (0: default).
    pub ttl: u8,
    /// Tunnel flags (OAM).
    pub flags: u16,
    /// Which option slots are present.
    pub md_present: u8,
    /// Option values per slot.
    pub md: [u64; 8],
}

impl TunnelMeta {
    /// Reads the tunnel fields of a flow.
    pub fn from_flow(f: &Flow) -> Self {
        let mut md = [0u64; 8];
        md.copy_from_slice(&f.w[w::TUN_MD..w::TUN_MD + 8]);
        TunnelMeta {
            tun_id: f.w[w::TUN_ID],
            src: f.w[w::TUN_ADDR] as u32,
            dst: (f.w[w::TUN_ADDR] >> 32) as u32,
            tos: (f.w[w::TUN_FLAGS] >> 16) as u8,
            ttl: (f.w[w::TUN_FLAGS] >> 24) as u8,
            flags: f.w[w::TUN_FLAGS] as u16,
            md_present: (f.w[w::TUN_FLAGS] >> 32) as u8,
            md,
        }
    }

    /// Writes the tunnel fields into a flow.
    pub fn to_flow(&self, f: &mut Flow) {
        f.w[w::TUN_ID] = self.tun_id;
        f.w[w::TUN_ADDR] = u64::from(self.src) | (u64::from(self.dst) << 32);
        f.w[w::TUN_FLAGS] = u64::from(self.flags)
            | (u64::from(self.tos) << 16)
            | (u64::from(self.ttl) << 24)
            | (u64::from(self.md_present) << 32);
        f.w[w::TUN_MD..w::TUN_MD + 8].copy_from_slice(&self.md);
    }
}

crate::counted_reasons! {
    /// Why a packet was dropped, for counters and traces.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum DropReason {
        NoOutput = ("no_output", "The actions ended without an output (including explicit `drop`)."),
        TtlExpired = ("ttl_expired", "`dec_ttl` on a TTL of 0 or 1."),
        ResubmitLimit = ("resubmit_limit", "Translation budget spent: resubmit/group nesting or count (a loop in the tables)."),
        RecircLimit = ("recirc_limit", "Too many recirculations for one packet."),
        NoSuchPort = ("no_such_port", "Output to a port that does not exist."),
        Controller = ("controller", "A packet-in that could not be queued for the controllers: the worker's queue was full (a slow controller), or nothing takes packet-ins there (traces, tools)."),
        CtFull = ("ct_full", "Conntrack table full: a new connection was refused."),
        TunnelNoDst = ("tunnel_no_dst", "Tunnel output with no destination address."),
        Unsupported = ("unsupported", "An action the datapath cannot perform on this packet (e.g. a second VLAN tag)."),
        CloneFailed = ("clone_failed", "Packet copy for a second output failed (buffer pool exhausted)."),
        Meter = ("meter", "A meter's band dropped it (its rate was exceeded)."),
        UpcallLimit = ("upcall_limit", "The burst's budget of slow-path translations was spent (new-flow flood)."),
        TunnelNoRoute = ("tunnel_no_route", "Tunnel output with no uplink or no underlay route to the destination."),
        TunnelUnresolved = ("tunnel_unresolved", "Tunnel next hop did not answer ARP, its packet waited too long, or the queue of waiting packets was full."),
        TunnelTooBig = ("tunnel_too_big", "Inner frame plus the outer headers exceed the underlay MTU."),
        TunnelNoHeadroom = ("tunnel_no_headroom", "Not enough headroom in the buffer for the outer headers."),
        IpfExpired = ("ipf_expired", "An IP fragment held for reassembly whose datagram's other fragments did not arrive within the timeout."),
        IpfPurged = ("ipf_purged", "A fragment of a reassembled datagram that found no room to go on (its burst full, and too many waiting)."),
    }
}

impl From<crate::geneve::PushError> for DropReason {
    fn from(e: crate::geneve::PushError) -> Self {
        match e {
            crate::geneve::PushError::NoHeadroom => DropReason::TunnelNoHeadroom,
            crate::geneve::PushError::TooBig => DropReason::TunnelTooBig,
        }
    }
}

/// A tunnel output waiting for its next hop (the `TnlPending` action).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TnlPending {
    /// The tunnel port output to.
    pub tunnel: u32,
    /// The next hop being resolved.
    pub nexthop: u32,
    /// The tunnel metadata to encapsulate with once it is.
    pub meta: TunnelMeta,
}

/// The datapath `ct` action.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DpCt {
    /// Zone.
    pub zone: u16,
    /// Commit the connection.
    pub commit: bool,
    /// Force commit (delete an opposite-direction entry first).
    pub force: bool,
    /// NAT.
    pub nat: Option<Nat>,
    /// `ct_mark` to write on commit, (value, mask).
    pub mark: Option<(u32, u32)>,
    /// `ct_label` to write on commit, (value, mask).
    pub label: Option<(u128, u128)>,
    /// Recirculate with this id after conntrack (fork if not the last action).
    pub recirc: Option<u32>,
}

/// One datapath action.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DpAction {
    /// Masked write of a header field (absolute value).
    Set {
        /// Field.
        field: HdrField,
        /// Value (only bits in `mask` are written).
        value: u128,
        /// Bits to write.
        mask: u128,
    },
    /// Decrement TTL / hop limit; drop the packet if it is 0 or 1.
    DecTtl,
    /// Push an 802.1Q tag with this TCI.
    PushVlan(u16),
    /// Pop the outer tag.
    PopVlan,
    /// Send a copy out of a port.
    Output(u32),
    /// Output to a tunnel port of a bridge without an underlay (offline traces, tools,
    /// pipeline tests): handed to the sink with its metadata, not encapsulated. A switch
    /// with a tunnel always has an uplink, and resolves tunnel outputs to the actions below.
    TunnelOutput {
        /// The tunnel port.
        port: u32,
        /// Outer header data.
        meta: TunnelMeta,
    },
    /// Encapsulate with a resolved outer header and send out of the uplink (`tnl_push`).
    TnlPush(Box<TnlPush>),
    /// Tunnel output whose next hop is being resolved: the packet waits (parks) in its
    /// worker's bounded queue while ARP asks.
    TnlPending(Box<TnlPending>),
    /// An output that cannot happen (a tunnel destination with no route): counted with
    /// this reason; later actions still run.
    OutputDrop(DropReason),
    /// Conntrack.
    Ct(Box<DpCt>),
    /// A meter: packets over its bands' rates are dropped here.
    Meter(crate::meter::MeterRef),
    /// Clear conntrack state.
    CtClear,
    /// A packet-in to the controllers (a copy of the packet, with the pipeline's state at
    /// the `controller` action; with `pause`, the packet goes no further here).
    Controller(Box<DpController>),
    /// `learn`: the flow it learns goes to the learner (the first packet, then one per
    /// refresh interval); the packet is not changed.
    Learn(std::sync::Arc<LearnedFlow>),
    /// `fin_timeout`: a packet with TCP FIN or RST lowers its flow's timeouts; the
    /// packet is not changed.
    FinTimeout(Box<DpFinTimeout>),
    /// Proxy ARP: turn an ARP request into the reply `mac` would give, and send it back
    /// out of the input port (gratuitous requests are dropped).
    ArpReply(u64),
    /// Drop with a reason (ends the actions).
    Drop(DropReason),
}

impl DpAction {
    /// A `learn` or `fin_timeout`: a side effect on the tables that OVS's datapath
    /// actions do not show (its revalidators run it from flow stats), left out of
    /// "Datapath actions" lines.
    pub fn is_learn(&self) -> bool {
        matches!(self, DpAction::Learn(_) | DpAction::FinTimeout(_))
    }
}

fn mac(v: u128) -> String {
    crate::ofctl::format_mac(v as u64)
}

impl fmt::Display for DpAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DpAction::Set { field, value, mask } => {
                let v = match field {
                    HdrField::EthSrc | HdrField::EthDst | HdrField::ArpSha | HdrField::ArpTha => {
                        mac(*value)
                    }
                    HdrField::Ipv4Src | HdrField::Ipv4Dst | HdrField::ArpSpa | HdrField::ArpTpa => {
                        std::net::Ipv4Addr::from(*value as u32).to_string()
                    }
                    HdrField::Ipv6Src | HdrField::Ipv6Dst => {
                        std::net::Ipv6Addr::from(*value).to_string()
                    }
                    _ => value.to_string(),
                };
                let name = format!("{field:?}").to_lowercase();
                let full = match field {
                    HdrField::EthSrc | HdrField::EthDst | HdrField::ArpSha | HdrField::ArpTha => {
                        0xffff_ffff_ffff
                    }
                    HdrField::Ipv4Src | HdrField::Ipv4Dst | HdrField::ArpSpa | HdrField::ArpTpa => {
                        0xffff_ffff
                    }
                    HdrField::Ipv6Src | HdrField::Ipv6Dst => u128::MAX,
                    HdrField::IpTos | HdrField::IpTtl | HdrField::ArpOp => 0xff,
                    _ => 0xffff,
                };
                if *mask == full {
                    write!(f, "set({name}={v})")
                } else {
                    write!(f, "set({name}={v}/{mask:#x})")
                }
            }
            DpAction::DecTtl => write!(f, "dec_ttl"),
            DpAction::PushVlan(t) => write!(f, "push_vlan(vid={},pcp={})", t & 0xfff, t >> 13),
            DpAction::PopVlan => write!(f, "pop_vlan"),
            DpAction::Output(p) => write!(f, "{p}"),
            DpAction::TunnelOutput { port, meta } => {
                write!(
                    f,
                    "tunnel(port={port},tun_id={:#x},dst={}",
                    meta.tun_id,
                    std::net::Ipv4Addr::from(meta.dst)
                )?;
                if meta.src != 0 {
                    write!(f, ",src={}", std::net::Ipv4Addr::from(meta.src))?;
                }
                for i in 0..8 {
                    if meta.md_present & (1 << i) != 0 {
                        write!(f, ",md{i}={:#x}", meta.md[i])?;
                    }
                }
                write!(f, ")")
            }
            DpAction::TnlPush(t) => write!(f, "{t}"),
            DpAction::TnlPending(p) => {
                let meta = &p.meta;
                write!(
                    f,
                    "tnl_push(tnl_port({}),unresolved(nexthop={}),tun_id={:#x},dst={}",
                    p.tunnel,
                    std::net::Ipv4Addr::from(p.nexthop),
                    meta.tun_id,
                    std::net::Ipv4Addr::from(meta.dst)
                )?;
                for i in 0..8 {
                    if meta.md_present & (1 << i) != 0 {
                        write!(f, ",md{i}={:#x}", meta.md[i])?;
                    }
                }
                write!(f, ")")
            }
            DpAction::OutputDrop(r) => write!(f, "drop_output({})", r.name()),
            DpAction::Ct(c) => {
                write!(f, "ct(")?;
                let mut parts: Vec<String> = Vec::new();
                if c.commit {
                    parts.push(if c.force { "force_commit" } else { "commit" }.into());
                }
                parts.push(format!("zone={}", c.zone));
                if let Some((v, m)) = c.mark {
                    parts.push(format!("mark={v:#x}/{m:#x}"));
                }
                if let Some((v, m)) = c.label {
                    parts.push(format!("label={v:#x}/{m:#x}"));
                }
                if c.nat.is_some() {
                    parts.push("nat".into());
                }
                write!(f, "{})", parts.join(","))?;
                if let Some(r) = c.recirc {
                    write!(f, ",recirc({r:#x})")?;
                }
                Ok(())
            }
            DpAction::CtClear => write!(f, "ct_clear"),
            DpAction::Meter(m) => write!(f, "meter({})", m.0.config.id),
            DpAction::Controller(c) => write!(f, "{c}"),
            DpAction::Learn(l) => write!(f, "learn(table={})", l.entry.table_id()),
            DpAction::FinTimeout(t) => write!(f, "fin_timeout({},{})", t.idle, t.hard),
            DpAction::ArpReply(m) => write!(f, "arp_reply({}),in_port", mac(u128::from(*m))),
            DpAction::Drop(r) => write!(f, "drop({})", r.name()),
        }
    }
}

/// Formats an action list like OVS's "Datapath actions:" line.
pub fn format_dp_actions(acts: &[DpAction]) -> String {
    if acts.iter().all(DpAction::is_learn) {
        return "drop".into();
    }
    acts.iter()
        .filter(|a| !a.is_learn())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
