//! The checksums conntrack checks before it tracks a packet, as OVS's `conn_key_extract`
//! does: the IPv4 header's, and the TCP, UDP (a zero UDP checksum over IPv4 means none),
//! ICMP and ICMPv6 ones, unless the receiving NIC verified them. A wrong one makes the
//! packet `+inv`. Checked once per packet: the bits stay in its [`crate::packet::Layout`] for the next
//! `ct` (NAT and header rewrites keep the checksums right as they go).

use super::CtPacket;
use crate::flow::{eth_type, ip_proto};
use crate::packet::csum;
use crate::wire::checksum::{checksum, finish, pseudo_header_v4, pseudo_header_v6, sum16};

/// The [`csum`] bits of `pkt` once conntrack has checked what `known` (the NIC's verdict)
/// left unknown. `l3`: the frame from the IP header on (for the IPv4 header checksum).
/// A fragment's L4 checksum covers the whole datagram: not checked.
pub fn verify(pkt: &CtPacket<'_>, l3: &[u8], known: u8) -> u8 {
    let mut bits = known | csum::CHECKED;
    let v4 = pkt.eth_type == eth_type::IPV4;
    if v4 && bits & (csum::L3_GOOD | csum::L3_BAD) == 0 {
        let ihl = l3.first().map_or(0, |b| usize::from(b & 0x0f) * 4);
        bits |= match l3.get(..ihl) {
            Some(h) if ihl >= 20 && checksum(h) != 0 => csum::L3_BAD,
            _ => csum::L3_GOOD,
        };
    }
    let v6 = pkt.eth_type == eth_type::IPV6;
    if bits & (csum::L4_GOOD | csum::L4_BAD) != 0 || pkt.is_fragment || !(v4 || v6) {
        return bits;
    }
    let l4 = pkt.l4;
    if l4.len() < pkt.l4_len {
        // Truncated: conntrack finds the header short on its own, or has what it needs.
        return bits;
    }
    let pseudo = |p: u8| {
        if v6 {
            pseudo_header_v6(pkt.src, pkt.dst, p, l4.len())
        } else {
            pseudo_header_v4(pkt.src as u32, pkt.dst as u32, p, l4.len())
        }
    };
    let proto = pkt.proto;
    let ok = match proto {
        ip_proto::TCP if l4.len() >= 20 => finish(sum16(l4, pseudo(proto))) == 0,
        ip_proto::UDP if l4.len() >= 8 => {
            (!v6 && l4[6] == 0 && l4[7] == 0) || finish(sum16(l4, pseudo(proto))) == 0
        }
        ip_proto::ICMP if !v6 && l4.len() >= 8 => checksum(l4) == 0,
        ip_proto::ICMPV6 if v6 && l4.len() >= 8 => finish(sum16(l4, pseudo(proto))) == 0,
        // Other protocols carry no checksum conntrack knows; short headers are its to judge.
        _ => return bits,
    };
    bits | if ok { csum::L4_GOOD } else { csum::L4_BAD }
}
