//! The checksums conntrack checks before it tracks a packet, as OVS's `conn_key_extract`
//! does: the IPv4 header's, and the TCP, UDP (a zero UDP checksum over IPv4 means none),
//! ICMP and ICMPv6 ones, unless the receiving NIC verified them. A wrong one makes the
//! packet `+inv`. Checked once per packet: the bits stay in its [`Layout`] for the next
//! `ct` (NAT and header rewrites keep the checksums right as they go).

use crate::flow::{eth_type, ip_proto};
use crate::packet::{csum, Layout};
use crate::wire::checksum::{checksum, finish, pseudo_header_v4, pseudo_header_v6, sum16};

/// The [`csum`] bits of a packet once conntrack has checked what `lay.csum` left unknown.
/// `eth`, `proto`, `src`, `dst`: the packet's key (addresses of IPv4 in the low 32 bits);
/// `fragment`: an IP fragment (its L4 checksum covers the whole datagram: not checked).
pub fn verify(
    data: &[u8],
    lay: &Layout,
    eth: u16,
    proto: u8,
    (src, dst): (u128, u128),
    fragment: bool,
) -> u8 {
    let mut bits = lay.csum | csum::CHECKED;
    let l3 = usize::from(lay.l3);
    if eth == eth_type::IPV4 && bits & (csum::L3_GOOD | csum::L3_BAD) == 0 && lay.l3 != 0 {
        let ihl = data.get(l3).map_or(0, |b| usize::from(b & 0x0f) * 4);
        bits |= match data.get(l3..l3 + ihl) {
            Some(h) if ihl >= 20 && checksum(h) != 0 => csum::L3_BAD,
            _ => csum::L3_GOOD,
        };
    }
    if bits & (csum::L4_GOOD | csum::L4_BAD) != 0 || fragment || lay.l4 == 0 {
        return bits;
    }
    let v6 = eth == eth_type::IPV6;
    if !v6 && eth != eth_type::IPV4 {
        return bits;
    }
    let start = usize::from(lay.l4);
    let Some(l4) = data.get(start..start + usize::from(lay.l4_len)) else {
        // Truncated: conntrack finds the header short on its own, or has what it needs.
        return bits;
    };
    let pseudo = |p: u8| {
        if v6 {
            pseudo_header_v6(src, dst, p, l4.len())
        } else {
            pseudo_header_v4(src as u32, dst as u32, p, l4.len())
        }
    };
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
