//! The decapsulation stage: what a frame received on the uplink is — Geneve for this node
//! (popped: the packet continues as received on the tunnel port), ARP for the node's
//! address (the underlay's), or the uplink's own traffic.

use crate::bridge::{Bridge, PortKind};
use crate::dpaction::TunnelMeta;
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

/// Learns a binding ARP taught (one lock of the neighbour table: ARP is rare); counts it.
#[inline]
pub fn learn(bridge: &Bridge, b: Binding, now_ms: u64, learned: &mut u64) {
    if let Some((ip, mac)) = b {
        bridge.learn_neighbour(ip, mac, now_ms);
        *learned += 1;
    }
}
