//! NAT inside an ICMP error: the packet it quotes is rewritten back to what its sender
//! sent or received (OVS's `nat_inner_packet`), the quoted IP header's checksum and the
//! quoted TCP/UDP checksum (where quoted) kept right, and the ICMP checksum recomputed.

use super::Layout;
use crate::flow::ip_proto;
use crate::wire::checksum::{checksum, finish, pseudo_header_v6, sum16, update16, update32};
use crate::wire::{be16, put16};

/// A quoted address or port to write: (address, port).
pub type Endpoint = Option<(u128, u16)>;

/// Rewrites the packet quoted by the ICMP error at `lay.l4` in `d`: its source to `src`
/// and its destination to `dst` (addresses, and ports for TCP, UDP and SCTP), then the
/// ICMP checksum over the message (ICMPv6: with the outer addresses as they are now).
/// A quote too short for a field leaves that field alone.
pub fn nat_icmp_inner(d: &mut [u8], lay: &Layout, v6: bool, src: Endpoint, dst: Endpoint) {
    let (l3, l4) = (usize::from(lay.l3), usize::from(lay.l4));
    if l3 == 0 || l4 <= l3 || l3 + if v6 { 40 } else { 20 } > d.len() {
        return;
    }
    // The ICMP message ends where the IP packet does (not at Ethernet padding).
    let end = if v6 {
        l3 + 40 + usize::from(be16(d, l3 + 4))
    } else {
        l3 + usize::from(be16(d, l3 + 2))
    }
    .min(d.len());
    let q = l4 + 8;
    if end < q + if v6 { 40 } else { 20 } {
        return;
    }
    let (proto, ql4) = if v6 {
        (d[q + 6], q + 40)
    } else {
        (d[q + 9], q + usize::from(d[q] & 0x0f) * 4)
    };
    let ports = matches!(proto, ip_proto::TCP | ip_proto::UDP | ip_proto::SCTP);
    // The quoted L4 checksum, where the quote holds it (UDP 0: none).
    let l4c = match proto {
        ip_proto::TCP if ql4 + 18 <= end => Some(ql4 + 16),
        ip_proto::UDP if ql4 + 8 <= end && be16(d, ql4 + 6) != 0 => Some(ql4 + 6),
        _ => None,
    };
    for (is_src, ep) in [(true, src), (false, dst)] {
        let Some((addr, port)) = ep else { continue };
        if v6 {
            let at = q + if is_src { 8 } else { 24 };
            let old = u128::from_be_bytes(d[at..at + 16].try_into().unwrap_or([0; 16]));
            d[at..at + 16].copy_from_slice(&addr.to_be_bytes());
            if let Some(c) = l4c {
                let mut s = be16(d, c);
                for sh in [96, 64, 32, 0] {
                    s = update32(s, (old >> sh) as u32, (addr >> sh) as u32);
                }
                put16(d, c, s);
            }
        } else {
            let at = q + if is_src { 12 } else { 16 };
            let old = u32::from_be_bytes(d[at..at + 4].try_into().unwrap_or([0; 4]));
            d[at..at + 4].copy_from_slice(&(addr as u32).to_be_bytes());
            let ipc = update32(be16(d, q + 10), old, addr as u32);
            put16(d, q + 10, ipc);
            if let Some(c) = l4c {
                put16(d, c, update32(be16(d, c), old, addr as u32));
            }
        }
        let pat = ql4 + if is_src { 0 } else { 2 };
        if ports && pat + 2 <= end {
            let old = be16(d, pat);
            put16(d, pat, port);
            if let Some(c) = l4c {
                put16(d, c, update16(be16(d, c), old, port));
            }
        }
    }
    if let Some(c) = l4c {
        // A UDP checksum that comes to 0 is sent as all ones (0 means none).
        if proto == ip_proto::UDP && be16(d, c) == 0 {
            put16(d, c, 0xffff);
        }
    }
    put16(d, l4 + 2, 0);
    let c = if v6 {
        let a = |o: usize| u128::from_be_bytes(d[o..o + 16].try_into().unwrap_or([0; 16]));
        let ph = pseudo_header_v6(a(l3 + 8), a(l3 + 24), ip_proto::ICMPV6, end - l4);
        finish(sum16(&d[l4..end], ph))
    } else {
        checksum(&d[l4..end])
    };
    put16(d, l4 + 2, c);
}
