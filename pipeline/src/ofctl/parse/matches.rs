//! Matches: protocol shorthands and `field=value` items, with the prerequisite check.

use super::items::{err, Item};
use super::subfield::parse_subfield;
use crate::field::{prereq_holds, prereq_text, Field};
use crate::flow::{eth_type, ip_proto, w, VLAN_CFI};
use crate::ofctl::value::{parse_field_value, parse_uint};
use crate::ofctl::{Match, ParseError, PortMap};

/// Protocol shorthands: `ip`, `tcp`, ...
pub(super) fn protocol(name: &str) -> Option<(u16, Option<u8>)> {
    Some(match name {
        "ip" | "ipv4" => (eth_type::IPV4, None),
        "ipv6" => (eth_type::IPV6, None),
        "icmp" => (eth_type::IPV4, Some(ip_proto::ICMP)),
        "icmp6" => (eth_type::IPV6, Some(ip_proto::ICMPV6)),
        "tcp" => (eth_type::IPV4, Some(ip_proto::TCP)),
        "tcp6" => (eth_type::IPV6, Some(ip_proto::TCP)),
        "udp" => (eth_type::IPV4, Some(ip_proto::UDP)),
        "udp6" => (eth_type::IPV6, Some(ip_proto::UDP)),
        "sctp" => (eth_type::IPV4, Some(ip_proto::SCTP)),
        "sctp6" => (eth_type::IPV6, Some(ip_proto::SCTP)),
        "arp" => (eth_type::ARP, None),
        "rarp" => (eth_type::RARP, None),
        "mpls" => (eth_type::MPLS, None),
        "mplsm" => (eth_type::MPLS_MCAST, None),
        _ => return None,
    })
}

/// A match being built, and the fields it names.
pub(super) struct MatchBuilder {
    pub(super) m: Match,
    /// Fields named, with where, for the prerequisite check.
    pub(super) used: Vec<(Field, usize, String)>,
}

impl MatchBuilder {
    pub(super) fn new() -> Self {
        MatchBuilder {
            m: Match::CATCHALL,
            used: Vec::new(),
        }
    }

    fn set_field(&mut self, field: Field, v: u128, m: u128, off: usize, tok: &str) {
        self.m.set(field, v, m);
        self.used.push((field, off, tok.to_string()));
    }

    /// Handles `name=value` for a match field. Returns false if `name` is not a field.
    pub(super) fn field(&mut self, it: &Item, ports: &PortMap) -> Result<bool, ParseError> {
        let tok = &it.key_off;
        let token = format!("{}={}", it.key, it.value);
        let Some(field) = Field::from_name(it.key) else {
            if it.key.contains('[') {
                // `reg0[0..3]=5`: match on a subfield.
                let sf = parse_subfield(it.key).map_err(|e| err(*tok, &token, e))?;
                let v = parse_uint(it.value, u32::from(sf.n_bits), it.key)
                    .map_err(|e| err(it.value_off, &token, e))?;
                self.set_field(sf.field, v << sf.ofs, sf.mask(), *tok, &token);
                return Ok(true);
            }
            return Ok(false);
        };
        if it.delim != b'=' || it.value.is_empty() {
            return Err(err(*tok, &token, format!("{} needs a value", it.key)));
        }
        let bad = |e: String| err(it.value_off, &token, e);
        match field {
            Field::DlVlan => {
                let v = parse_uint(it.value, 16, "dl_vlan").map_err(bad)?;
                if v == 0xffff {
                    // OpenFlow 1.0's "no VLAN tag".
                    self.set_field(Field::VlanTci, 0, 0xffff, *tok, &token);
                } else if v > 0xfff {
                    return Err(bad(format!("dl_vlan: {v} is not a 12-bit VLAN id")));
                } else {
                    let (ov, om) = self.m.get(Field::VlanTci);
                    let nv = (ov & !0x1fff) | v | u128::from(VLAN_CFI);
                    self.m.set(Field::VlanTci, nv, om | 0x1fff);
                    self.used.push((Field::VlanTci, *tok, token.clone()));
                }
            }
            Field::DlVlanPcp => {
                let v = parse_uint(it.value, 3, "dl_vlan_pcp").map_err(bad)?;
                let (ov, om) = self.m.get(Field::VlanTci);
                let nv = (ov & !0xf000) | (v << 13) | u128::from(VLAN_CFI);
                self.m.set(Field::VlanTci, nv, om | 0xf000);
                self.used.push((Field::VlanTci, *tok, token.clone()));
            }
            Field::TunMetadata(n) => {
                let (v, m) = if it.value == "NP" {
                    (0, 0)
                } else {
                    parse_field_value(field, it.key, it.value, ports).map_err(bad)?
                };
                self.set_field(field, v, m, *tok, &token);
                // Matching an option implies matching its presence.
                let bit = 1u64 << (32 + u32::from(n));
                if it.value != "NP" {
                    self.m.value.w[w::TUN_FLAGS] |= bit;
                } else {
                    self.m.value.w[w::TUN_FLAGS] &= !bit;
                }
                self.m.mask.w[w::TUN_FLAGS] |= bit;
            }
            _ => {
                let (v, m) = parse_field_value(field, it.key, it.value, ports).map_err(bad)?;
                self.set_field(field, v, m, *tok, &token);
            }
        }
        Ok(true)
    }

    pub(super) fn protocol(&mut self, dl: u16, proto: Option<u8>) {
        self.m.set(Field::EthType, u128::from(dl), 0xffff);
        if let Some(p) = proto {
            self.m.set(Field::NwProto, u128::from(p), 0xff);
        }
    }

    pub(super) fn check_prereqs(&self) -> Result<(), ParseError> {
        for (field, off, tok) in &self.used {
            let p = field.desc().prereq;
            if !prereq_holds(p, &self.m.value, &self.m.mask) {
                return Err(err(
                    *off,
                    tok,
                    format!("{} requires {}", field.name(), prereq_text(p)),
                ));
            }
        }
        Ok(())
    }
}
