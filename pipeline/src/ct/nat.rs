//! NAT: choosing the translated tuple of a new connection, and the rewrite a packet of a
//! NATed connection gets.

use super::{cs, reply_key, reverse, Conn, Conntrack, Key, NatRewrite, Proto};
use crate::ofctl::{IpRange, Nat, NatKind};
use std::sync::atomic::Ordering;

impl Conntrack {
    /// Picks a translated tuple for a new NATed connection, avoiding collisions.
    pub(super) fn nat_select(&self, key: &Key, n: &Nat, proto: Proto) -> Option<Key> {
        let kind = n.kind?;
        let (lo, hi) = match n.addr {
            Some((IpRange::V4(a), IpRange::V4(b))) => (u128::from(a), u128::from(b)),
            Some((IpRange::V6(a), IpRange::V6(b))) => (a, b),
            Some(_) => return None,
            None => match kind {
                NatKind::Src => (key.src, key.src),
                NatKind::Dst => (key.dst, key.dst),
            },
        };
        let has_ports = matches!(proto, Proto::Tcp | Proto::Udp)
            || (proto == Proto::Icmp && kind == NatKind::Src);
        let cur_port = match kind {
            NatKind::Src => key.sport,
            NatKind::Dst => key.dport,
        };
        let (plo, phi) = match (n.ports, has_ports) {
            (Some(r), true) => r,
            (None, true) if kind == NatKind::Src => {
                // Keep the port if free, else pick from the ephemeral range.
                (cur_port, cur_port)
            }
            _ => (cur_port, cur_port),
        };
        let n_addr = (hi - lo).saturating_add(1).min(1 << 20);
        let n_port = u128::from(phi - plo) + 1;
        let kh = self.key_hash(key);
        let h = if n.random {
            // Per-connection randomness derived from the tuple and a counter.
            crate::classifier::hash_finish(kh ^ self.committed.load(Ordering::Relaxed))
        } else {
            kh
        };
        let base_a = u128::from(h) % n_addr;
        let base_p = u128::from(h >> 20) % n_port;
        let attempts = (n_addr * n_port).min(4096);
        let port_fallback = kind == NatKind::Src && n.ports.is_none() && has_ports;
        for i in 0..attempts {
            let ai = (base_a + i / n_port) % n_addr;
            let pi = (base_p + i) % n_port;
            let addr = lo + ai;
            let port = plo.wrapping_add(pi as u16);
            let mut t = *key;
            match kind {
                NatKind::Src => {
                    t.src = addr;
                    if has_ports {
                        t.sport = port;
                    }
                }
                NatKind::Dst => {
                    t.dst = addr;
                    if has_ports {
                        t.dport = port;
                    }
                }
            }
            if self.get(&reply_key(&t, proto)).is_none() {
                return Some(t);
            }
        }
        if !port_fallback {
            return None;
        }
        // Source port taken: search the ephemeral range.
        self.nat_select(
            key,
            &Nat {
                ports: Some((1024, 65535)),
                ..*n
            },
            proto,
        )
    }
}

/// The `ct_state` NAT bit of a packet of a connection NATed as `kind`: what the packet
/// itself undergoes, so a reply of a DNAT connection (its source rewritten) is `+snat`
/// and a reply of an SNAT one `+dnat`, as both of OVS's datapaths report it
/// (`nat_action_reverse` in `lib/conntrack.c`, the manip type in the kernel's).
pub(super) fn nat_state(kind: Option<NatKind>, reply: bool) -> u8 {
    match (kind, reply) {
        (Some(NatKind::Src), false) | (Some(NatKind::Dst), true) => cs::SNAT,
        (Some(NatKind::Dst), false) | (Some(NatKind::Src), true) => cs::DNAT,
        (None, _) => 0,
    }
}

/// The rewrite a packet of `conn` needs in its direction.
pub(super) fn conn_nat_rewrite(conn: &Conn, reply: bool) -> Option<NatRewrite> {
    let kind = conn.nat?;
    // The translated original tuple is the reverse of the reply tuple.
    let mut t = reverse(&conn.reply);
    if conn.proto == Proto::Icmp {
        t.sport = conn.reply.sport;
    }
    let o = &conn.orig;
    Some(match (kind, reply) {
        (NatKind::Dst, false) => NatRewrite {
            src: None,
            dst: Some((t.dst, t.dport)),
        },
        (NatKind::Dst, true) => NatRewrite {
            src: Some((o.dst, o.dport)),
            dst: None,
        },
        (NatKind::Src, false) => NatRewrite {
            src: Some((t.src, t.sport)),
            dst: None,
        },
        (NatKind::Src, true) => NatRewrite {
            src: None,
            dst: Some((o.src, o.sport)),
        },
    })
}
