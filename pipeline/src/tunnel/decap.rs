//! The decapsulation stage: what a frame received on the uplink is — Geneve for this node
//! (popped: the packet continues as received on the tunnel port), ARP for the node's
//! address (the underlay's), or the uplink's own traffic.

use super::TunnelStats;
use crate::bridge::{Bridge, PortKind};
use crate::dpaction::{Sink, TunnelMeta};
use crate::flow::Flow;
use crate::geneve::{self, DecapError, TlvMap};
use crate::packet::Frame;
use crate::underlay::{arp_input, ArpIn};

/// What the decapsulation stage needs, copied once per underlay or port change into each
/// worker (no lock, no `Arc` per burst).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecapPort {
    /// The uplink's OpenFlow port.
    pub uplink: u32,
    /// The node's underlay address.
    pub ip: u32,
    /// The uplink's MAC.
    pub mac: u64,
    /// The tunnel port decapsulated packets arrive on.
    pub tunnel: u32,
    /// Its UDP port.
    pub dst_port: u16,
    /// Geneve options by slot.
    pub tlv: TlvMap,
}

impl DecapPort {
    /// The bridge's, if it has both a tunnel port and an uplink.
    pub fn of(bridge: &Bridge) -> Option<DecapPort> {
        let u = bridge.underlay();
        let up = u.uplink?;
        let ports = bridge.ports();
        let (tunnel, dst_port) = ports.iter().find_map(|p| match &p.kind {
            PortKind::Tunnel(t) => Some((p.ofport, t.dst_port)),
            _ => None,
        })?;
        Some(DecapPort {
            uplink: up.ofport,
            ip: up.ip,
            mac: up.mac,
            tunnel,
            dst_port,
            tlv: u.tlv,
        })
    }
}

/// A neighbour's binding seen in ARP: (IPv4, MAC).
pub type Binding = Option<(u32, u64)>;

/// What a frame received on the uplink is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UplinkIn {
    /// Geneve for this node, popped: continue on the tunnel port with this metadata.
    Tunnel(TunnelMeta),
    /// Geneve for this node that failed validation: drop, counted by reason.
    Bad(DecapError),
    /// An ARP request for the node's address, rewritten in place into the reply: send it
    /// back out of the uplink (and learn the sender).
    ArpAnswer(Binding),
    /// ARP addressed to the node that teaches a neighbour's binding (a reply): learned and
    /// consumed.
    ArpLearn(u32, u64),
    /// The uplink's own traffic (continues on the uplink port); an ARP reply between other
    /// hosts still teaches its sender.
    Own(Binding),
}

/// Classifies (and, for Geneve and ARP requests, rewrites) a frame received on the uplink.
#[inline]
pub fn classify<F: Frame>(d: &DecapPort, f: &mut F) -> UplinkIn {
    if geneve::is_geneve_for(f.data(), d.ip, d.dst_port) {
        return match geneve::pop(f, &d.tlv) {
            Ok(meta) => UplinkIn::Tunnel(meta),
            Err(e) => UplinkIn::Bad(e),
        };
    }
    match arp_input(f.data_mut(), d.ip, d.mac) {
        (ArpIn::AnswerRequest, sender) => UplinkIn::ArpAnswer(sender),
        (ArpIn::Learn(ip, mac), _) => UplinkIn::ArpLearn(ip, mac),
        (ArpIn::Ignore, sender) => UplinkIn::Own(sender),
    }
}

/// The stage for one frame received on the uplink, the fast path's and the slow path's
/// alike: Geneve popped, ARP for the node answered (sent back out of the uplink through
/// `sink`) or learned, errors counted in `t`. Returns what the tables see: the packet, the
/// port it enters on, its tunnel metadata.
#[inline]
pub fn receive<F: Frame, S: Sink<F>>(
    bridge: &Bridge,
    d: &DecapPort,
    mut f: F,
    now_ms: u64,
    sink: &mut S,
    t: &mut TunnelStats,
) -> Option<(F, u32, Option<TunnelMeta>)> {
    match classify(d, &mut f) {
        UplinkIn::Tunnel(meta) => {
            t.rx_packets += 1;
            t.rx_bytes += f.len() as u64;
            Some((f, d.tunnel, Some(meta)))
        }
        UplinkIn::Bad(e) => {
            t.decap[e.index()] += 1;
            None
        }
        UplinkIn::ArpAnswer(b) => {
            learn(bridge, b, now_ms, &mut t.arp_learned);
            t.arp_answered += 1;
            sink.output(d.uplink, None, f, &Flow::ZERO);
            None
        }
        UplinkIn::ArpLearn(ip, mac) => {
            learn(bridge, Some((ip, mac)), now_ms, &mut t.arp_learned);
            None
        }
        UplinkIn::Own(b) => {
            learn(bridge, b, now_ms, &mut t.arp_learned);
            Some((f, d.uplink, None))
        }
    }
}

/// Learns a binding ARP taught (one lock of the neighbour table: ARP is rare); counts it.
#[inline]
fn learn(bridge: &Bridge, b: Binding, now_ms: u64, learned: &mut u64) {
    if let Some((ip, mac)) = b {
        bridge.learn_neighbour(ip, mac, now_ms);
        *learned += 1;
    }
}
