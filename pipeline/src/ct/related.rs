//! ICMP: query types and their replies, and errors (`+rel`) related to a connection by
//! the header they carry.

use super::{cs, proto_of, Conntrack, CtCommand, CtPacket, CtVerdict, Key, Proto};

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
        let inner = &pkt.l4[8..];
        let (src, dst, proto, l4) = if v6 {
            if inner.len() < 40 {
                return self.invalid(cmd.zone);
            }
            let mut s = [0u8; 16];
            s.copy_from_slice(&inner[8..24]);
            let mut d = [0u8; 16];
            d.copy_from_slice(&inner[24..40]);
            (
                u128::from_be_bytes(s),
                u128::from_be_bytes(d),
                inner[6],
                &inner[40..],
            )
        } else {
            if inner.len() < 20 || inner[0] >> 4 != 4 {
                return self.invalid(cmd.zone);
            }
            let ihl = usize::from(inner[0] & 0xf) * 4;
            if ihl < 20 || inner.len() < ihl {
                return self.invalid(cmd.zone);
            }
            (
                u128::from(u32::from_be_bytes([
                    inner[12], inner[13], inner[14], inner[15],
                ])),
                u128::from(u32::from_be_bytes([
                    inner[16], inner[17], inner[18], inner[19],
                ])),
                inner[9],
                &inner[ihl..],
            )
        };
        if l4.len() < 8 {
            return self.invalid(cmd.zone);
        }
        let (sport, dport) = match proto_of(proto) {
            Proto::Icmp => {
                let id = u16::from_be_bytes([l4[4], l4[5]]);
                (id, (u16::from(l4[0]) << 8) | u16::from(l4[1]))
            }
            Proto::Other => (0, 0),
            _ => (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
            ),
        };
        // The embedded packet went the other way: it was sent by the error's destination.
        let k = Key {
            zone: cmd.zone,
            v6,
            proto,
            src,
            dst,
            sport,
            dport,
        };
        let Some(conn) = self.get(&k) else {
            return self.invalid(cmd.zone);
        };
        let st = conn.st.lock();
        if st.dead || st.expires_ms <= now_ms {
            return self.invalid(cmd.zone);
        }
        // The error travels opposite to the embedded packet.
        let embedded_is_orig = conn.orig == k;
        let mut state = cs::TRK | cs::REL;
        if embedded_is_orig {
            state |= cs::RPL;
        }
        CtVerdict {
            state,
            zone: cmd.zone,
            mark: st.mark,
            label: st.label,
            nat: None,
            refused: false,
        }
    }
}
