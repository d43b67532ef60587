//! Deleting chosen connections, as `ovs-appctl dpctl/flush-conntrack [zone=N] [ORIG [REPLY]]`
//! does: Antrea flushes the stale UDP entries of a Service whose endpoint went away this way
//! (`ct_nw_dst=<cluster IP>,ct_nw_proto=17,ct_tp_dst=<port>`), not the whole zone.

use super::{Conntrack, Key};
use crate::flow::ip_proto;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One direction's tuple to match, OVS's `ct_dpif` syntax: `ct_nw_src=`, `ct_nw_dst=`,
/// `ct_ipv6_src=`, `ct_ipv6_dst=`, `ct_nw_proto=`, `ct_tp_src=`, `ct_tp_dst=`, `icmp_id=`,
/// `icmp_type=`, `icmp_code=`, comma-separated. Fields not given match anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TupleFilter {
    /// Address family, if an address fixes it.
    pub v6: Option<bool>,
    /// Source address.
    pub src: Option<u128>,
    /// Destination address.
    pub dst: Option<u128>,
    /// IP protocol.
    pub proto: Option<u8>,
    /// TCP/UDP/SCTP source port.
    pub tp_src: Option<u16>,
    /// TCP/UDP/SCTP destination port.
    pub tp_dst: Option<u16>,
    /// ICMP id.
    pub icmp_id: Option<u16>,
    /// ICMP type << 8 | code: (value, mask).
    pub icmp_type_code: Option<(u16, u16)>,
}

/// Why a tuple was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TupleError {
    /// A field brisk does not know.
    #[error("tuple: unknown field {0:?} (ct_nw_src, ct_nw_dst, ct_ipv6_src, ct_ipv6_dst, ct_nw_proto, ct_tp_src, ct_tp_dst, icmp_id, icmp_type, icmp_code)")]
    UnknownField(String),
    /// A value that does not parse for its field.
    #[error("tuple: {field}={value:?} is not {what}")]
    BadValue {
        /// The field.
        field: String,
        /// The value given.
        value: String,
        /// What it should be.
        what: &'static str,
    },
    /// `field=value` expected.
    #[error("tuple: expected FIELD=VALUE, got {0:?}")]
    Syntax(String),
    /// IPv4 and IPv6 addresses in one tuple.
    #[error("tuple: IPv4 and IPv6 addresses mixed")]
    MixedFamilies,
}

impl TupleFilter {
    /// Parses OVS's tuple syntax (see the type).
    pub fn parse(s: &str) -> Result<TupleFilter, TupleError> {
        let mut t = TupleFilter::default();
        for kv in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| TupleError::Syntax(kv.chars().take(60).collect()))?;
            let bad = |what| TupleError::BadValue {
                field: k.into(),
                value: v.chars().take(60).collect(),
                what,
            };
            let mut family = |v6: bool| {
                if t.v6.is_some_and(|x| x != v6) {
                    return Err(TupleError::MixedFamilies);
                }
                t.v6 = Some(v6);
                Ok(())
            };
            match k {
                "ct_nw_src" | "ct_nw_dst" => {
                    let a: Ipv4Addr = v.parse().map_err(|_| bad("an IPv4 address"))?;
                    family(false)?;
                    let a = Some(u128::from(u32::from(a)));
                    if k == "ct_nw_src" {
                        t.src = a;
                    } else {
                        t.dst = a;
                    }
                }
                "ct_ipv6_src" | "ct_ipv6_dst" => {
                    let a: Ipv6Addr = v.parse().map_err(|_| bad("an IPv6 address"))?;
                    family(true)?;
                    let a = Some(u128::from(a));
                    if k == "ct_ipv6_src" {
                        t.src = a;
                    } else {
                        t.dst = a;
                    }
                }
                "ct_nw_proto" => {
                    t.proto = Some(v.parse().map_err(|_| bad("a protocol number 0..255"))?)
                }
                "ct_tp_src" => t.tp_src = Some(v.parse().map_err(|_| bad("a port 0..65535"))?),
                "ct_tp_dst" => t.tp_dst = Some(v.parse().map_err(|_| bad("a port 0..65535"))?),
                "icmp_id" => t.icmp_id = Some(v.parse().map_err(|_| bad("a number 0..65535"))?),
                "icmp_type" | "icmp_code" => {
                    let n: u8 = v.parse().map_err(|_| bad("a number 0..255"))?;
                    let (val, mask) = t.icmp_type_code.unwrap_or((0, 0));
                    t.icmp_type_code = Some(if k == "icmp_type" {
                        ((val & 0xff) | u16::from(n) << 8, mask | 0xff00)
                    } else {
                        ((val & 0xff00) | u16::from(n), mask | 0x00ff)
                    });
                }
                _ => return Err(TupleError::UnknownField(k.chars().take(40).collect())),
            }
        }
        Ok(t)
    }

    fn matches(&self, k: &Key) -> bool {
        // An ICMP key holds the id and type/code where ports would be: port fields only
        // match port protocols, ICMP fields only ICMP.
        let icmp = matches!(k.proto, ip_proto::ICMP | ip_proto::ICMPV6);
        let ports = self.tp_src.is_some() || self.tp_dst.is_some();
        let icmp_fields = self.icmp_id.is_some() || self.icmp_type_code.is_some();
        self.v6.is_none_or(|v6| v6 == k.v6)
            && self.src.is_none_or(|a| a == k.src)
            && self.dst.is_none_or(|a| a == k.dst)
            && self.proto.is_none_or(|p| p == k.proto)
            && !(ports && icmp)
            && (icmp || !icmp_fields)
            && self.tp_src.is_none_or(|p| p == k.sport)
            && self.tp_dst.is_none_or(|p| p == k.dport)
            && self.icmp_id.is_none_or(|p| p == k.sport)
            && self
                .icmp_type_code
                .is_none_or(|(v, m)| k.dport & m == v & m)
    }
}

impl Conntrack {
    /// Deletes the connections (of one zone, or all) whose original-direction tuple matches
    /// `orig` and, when given, whose reply tuple matches `reply`; returns how many.
    pub fn flush_matching(
        &self,
        zone: Option<u16>,
        orig: &TupleFilter,
        reply: Option<&TupleFilter>,
    ) -> usize {
        self.flush_where(zone, |c| {
            orig.matches(&c.orig) && reply.is_none_or(|r| r.matches(&c.reply))
        })
    }
}
