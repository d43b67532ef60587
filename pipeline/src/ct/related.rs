//! ICMP: query types and their replies, and errors (`+rel`) related to a connection by
//! the header they carry.

use super::nat::conn_nat_rewrite;
use super::{cs, proto_of, reply_key, Conntrack, CtCommand, CtPacket, CtVerdict, Key, Proto};
use crate::wire::{icmp, ipv6, IcmpPacket, Ipv4Packet, Ipv6Packet, UdpPacket};

/// ICMP query types and their replies (v4 and v6).
pub(super) fn icmp_reply_type(v6: bool, ty: u8) -> Option<u8> {
    if v6 {
        match ty {
            128 => Some(129),
            _ => None,
        }
    } else {
        match ty {
            8 => Some(0),
            13 => Some(14),
            15 => Some(16),
            17 => Some(18),
            _ => None,
        }
    }
}

pub(super) fn icmp_is_error(v6: bool, ty: u8) -> bool {
    if v6 {
        matches!(ty, 1..=4)
    } else {
        matches!(ty, 3 | 4 | 5 | 11 | 12)
    }
}

impl Conntrack {
    /// ICMP errors: `+rel` if the embedded packet belongs to a connection.
    pub(super) fn related(
        &self,
        pkt: &CtPacket<'_>,
        v6: bool,
        cmd: &CtCommand<'_>,
        now_ms: u64,
    ) -> CtVerdict {
        // The caller saw the 8 bytes of the ICMP header; the quoted packet follows, cut
        // short by design: only its header is required, whatever its length fields say.
        let inner = &pkt.l4[icmp::HEADER_LEN..];
        let (src, dst, proto, l4) = if v6 {
            if inner.len() < ipv6::HEADER_LEN {
                return self.invalid(cmd.zone);
            }
            let ip = Ipv6Packet::new_unchecked(inner);
            let l4 = &inner[ipv6::HEADER_LEN..];
            (ip.src_addr(), ip.dst_addr(), ip.next_header(), l4)
        } else {
            let Ok(ip) = Ipv4Packet::new_checked_header(inner) else {
                return self.invalid(cmd.zone);
            };
            let l4 = &inner[ip.header_len()..];
            let (src, dst) = (u128::from(ip.src_addr()), u128::from(ip.dst_addr()));
            (src, dst, ip.protocol(), l4)
        };
        if l4.len() < 8 {
            return self.invalid(cmd.zone);
        }
        let (sport, dport) = match proto_of(proto) {
            // ICMPv6 queries have ICMP's layout.
            Proto::Icmp => {
                let q = IcmpPacket::new_unchecked(l4);
                let ty_code = (u16::from(q.msg_type()) << 8) | u16::from(q.code());
                (q.echo_ident(), ty_code)
            }
            Proto::Other => (0, 0),
            // TCP, UDP and SCTP have their ports first.
            _ => {
                let ports = UdpPacket::new_unchecked(l4);
                (ports.src_port(), ports.dst_port())
            }
        };
        // The quoted packet went the other way: the error belongs to the connection in
        // the direction of the quote's reverse (OVS reverses the inner key). That finds
        // NATed connections too, whose quotes carry translated tuples; a quote of a
        // reply the reverse cannot name (an echo reply) is found as itself.
        let k = Key {
            zone: cmd.zone,
            v6,
            proto,
            src,
            dst,
            sport,
            dport,
        };
        let rev = reply_key(&k, proto_of(proto));
        let (conn, reply) = match self.get(&rev) {
            Some(c) => {
                let reply = c.orig != rev;
                (c, reply)
            }
            None => match self.get(&k) {
                Some(c) => {
                    let reply = c.orig == k;
                    (c, reply)
                }
                None => return self.invalid(cmd.zone),
            },
        };
        if !conn.hot.live(now_ms) {
            return self.invalid(cmd.zone);
        }
        let (mark, label) = conn.hot.marks();
        let mut state = cs::TRK | cs::REL;
        if reply {
            state |= cs::RPL;
        }
        // With `nat`: the outer header as any packet of the connection in that
        // direction, and the quote back to what its sender sent (`NatRewrite::related`).
        let nat = cmd.nat.and_then(|_| conn_nat_rewrite(&conn, reply));
        if nat.is_some() {
            state |= super::nat::nat_state(conn.nat, reply);
        }
        CtVerdict {
            state,
            zone: cmd.zone,
            mark,
            label,
            nat,
            refused: false,
            nat_quoted: nat.is_some(),
        }
    }
}
