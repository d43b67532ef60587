//! Printer: writes flows back in `ovs-ofctl dump-flows` form, field order and number
//! formats as OVS's `match_format` and `ofpacts_format` produce them.

use super::value::{
    format_field_value, format_flags, format_ipv4_masked, format_ipv6_masked, format_mac,
    format_port, Hx,
};
use super::{
    Action, CtAction, CtZone, FlowEntry, IpRange, Match, Nat, NatKind, PortMap, SetField, SetForm,
    DEFAULT_PRIORITY,
};
use crate::field::{bit_ones, Field, Subfield};
use crate::flow::{ct_state, eth_type, ip_proto, nw_frag, tcp_flags, w, VLAN_CFI};
use std::fmt::Write;

/// Counters shown by `dump-flows`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FlowStats {
    /// Seconds since the flow was added.
    pub duration_secs: f64,
    /// Packets matched.
    pub n_packets: u64,
    /// Bytes matched.
    pub n_bytes: u64,
    /// Seconds since last hit (or since added).
    pub idle_age: u64,
    /// Seconds since the flow was last modified (relearned); printed, as OVS does, only
    /// when it differs from the flow's age.
    pub hard_age: u64,
}

/// Formats a whole flow entry. With `stats`, writes the `dump-flows` statistics too.
pub fn format_flow(e: &FlowEntry, ports: &PortMap, stats: Option<&FlowStats>) -> String {
    let mut s = String::with_capacity(160);
    let _ = write!(s, "cookie={:#x}, ", e.cookie);
    if let Some(st) = stats {
        let _ = write!(s, "duration={:.3}s, ", st.duration_secs);
    }
    let _ = write!(s, "table={}, ", e.table_id());
    if let Some(st) = stats {
        let _ = write!(s, "n_packets={}, n_bytes={}, ", st.n_packets, st.n_bytes);
    }
    if e.idle_timeout != 0 {
        let _ = write!(s, "idle_timeout={}, ", e.idle_timeout);
    }
    if e.hard_timeout != 0 {
        let _ = write!(s, "hard_timeout={}, ", e.hard_timeout);
    }
    let f = &e.flags;
    for (on, name) in [
        (f.send_flow_rem, "send_flow_rem"),
        (f.check_overlap, "check_overlap"),
        (f.reset_counts, "reset_counts"),
        (f.no_packet_counts, "no_packet_counts"),
        (f.no_byte_counts, "no_byte_counts"),
    ] {
        if on {
            s.push_str(name);
            s.push(' ');
        }
    }
    if e.importance != 0 {
        let _ = write!(s, "importance={}, ", e.importance);
    }
    if let Some(st) = stats {
        let _ = write!(s, "idle_age={}, ", st.idle_age);
        if st.hard_age != st.duration_secs as u64 {
            let _ = write!(s, "hard_age={}, ", st.hard_age);
        }
    }
    let m = format_match(&e.matches, ports, Some(e.priority));
    if !m.is_empty() {
        s.push_str(&m);
        s.push(' ');
    }
    s.push_str("actions=");
    s.push_str(&format_actions(&e.actions, ports));
    s
}

fn put_u32_hex(s: &mut String, name: &str, v: u128, m: u128) {
    if m != 0 {
        let _ = write!(s, "{name}={}", Hx(v));
        if m != 0xffff_ffff {
            let _ = write!(s, "/{}", Hx(m));
        }
        s.push(',');
    }
}

fn put_u64_hex(s: &mut String, name: &str, v: u128, m: u128) {
    if m != 0 {
        let _ = write!(s, "{name}={}", Hx(v));
        if m != u128::from(u64::MAX) {
            let _ = write!(s, "/{}", Hx(m));
        }
        s.push(',');
    }
}

fn put_dec16(s: &mut String, name: &str, v: u128, m: u128, full: u128) {
    if m != 0 {
        if m == full {
            let _ = write!(s, "{name}={v},");
        } else {
            let _ = write!(s, "{name}={v:#x}/{m:#x},");
        }
    }
}

fn put_mac(s: &mut String, name: &str, v: u128, m: u128) {
    if m != 0 {
        let _ = write!(s, "{name}={}", format_mac(v as u64));
        if m != 0xffff_ffff_ffff {
            let _ = write!(s, "/{}", format_mac(m as u64));
        }
        s.push(',');
    }
}

fn put_ip(s: &mut String, name: &str, v: u128, m: u128) {
    if m != 0 {
        let _ = write!(s, "{name}={},", format_ipv4_masked(v as u32, m as u32));
    }
}

fn put_ip6(s: &mut String, name: &str, v: u128, m: u128) {
    if m != 0 {
        let _ = write!(s, "{name}={},", format_ipv6_masked(v, m));
    }
}

/// Formats a match in OVS's field order. With `priority`, prefixes `priority=N,` unless it is
/// the default.
pub fn format_match(m: &Match, ports: &PortMap, priority: Option<u16>) -> String {
    format_match_with(m, ports, priority, false, None)
}

/// A datapath flow (a traced packet's key, a megaflow) as OVS's `match_format` prints one
/// that matches `recirc_id`: the packet type (`eth`) follows the conntrack fields.
pub fn format_datapath_match(m: &Match, ports: &PortMap, tunnel: Option<&str>) -> String {
    let (_, recirc) = m.get(Field::RecircId);
    format_match_with(m, ports, None, recirc != 0, tunnel)
}

/// What OVS's trace says after an action wrote subfield `sf`: `NXM_NX_REG0[0..15] is now
/// 0x2`.
pub fn format_subfield_now(sf: &Subfield, flow: &crate::flow::Flow, ports: &PortMap) -> String {
    let v = sf.field.get(flow);
    let value = if sf.ofs == 0 && u32::from(sf.n_bits) >= sf.field.bits() {
        format_field_value(sf.field, v, sf.field.desc().valid, ports)
    } else {
        Hx((v >> sf.ofs) & sf.mask() >> sf.ofs).to_string()
    };
    format!("{} is now {value}", subfield(sf))
}

fn format_match_with(
    m: &Match,
    ports: &PortMap,
    priority: Option<u16>,
    eth: bool,
    tunnel: Option<&str>,
) -> String {
    let mut s = String::with_capacity(128);
    if let Some(p) = priority {
        if p != DEFAULT_PRIORITY {
            let _ = write!(s, "priority={p},");
        }
    }
    put_marks_and_ct(&mut s, m);
    if eth {
        s.push_str("eth,");
    }
    let l3 = L3Kind::of(m);
    let (skip_type, skip_proto) = put_protocol(&mut s, &l3);
    for i in 0..16 {
        let (v, mk) = m.get(Field::Reg(i));
        if mk != 0 {
            put_u32_hex(&mut s, Field::Reg(i).name(), v, mk);
        }
    }
    match tunnel {
        Some(t) => s.push_str(t),
        None => put_tunnel(&mut s, m),
    }
    let (v, mk) = m.get(Field::Metadata);
    put_u64_hex(&mut s, "metadata", v, mk);
    let (v, mk) = m.get(Field::InPort);
    if mk != 0 {
        let _ = write!(s, "in_port={},", format_port(v as u32, ports));
    }
    put_vlan(&mut s, m);
    let (v, mk) = m.get(Field::EthSrc);
    put_mac(&mut s, "dl_src", v, mk);
    let (v, mk) = m.get(Field::EthDst);
    put_mac(&mut s, "dl_dst", v, mk);
    if !skip_type && l3.dlm != 0 {
        let (v, _) = m.get(Field::EthType);
        let _ = write!(s, "dl_type=0x{v:04x},");
    }
    put_l3(&mut s, m, &l3, skip_proto);
    put_l4(&mut s, m, &l3);
    if s.ends_with(',') {
        s.pop();
    }
    s
}

/// The Ethernet type and IP protocol a match pins down, which decide the shorthand
/// (`tcp`, `arp`, ...) and how the L3 and L4 fields are named.
struct L3Kind {
    /// The Ethernet type, if matched exactly.
    dl: Option<u16>,
    /// The Ethernet type's mask.
    dlm: u128,
    proto: u128,
    protom: u128,
}

impl L3Kind {
    fn of(m: &Match) -> Self {
        let (dl, dlm) = m.get(Field::EthType);
        let (proto, protom) = m.get(Field::NwProto);
        let dl = if dlm == 0xffff { Some(dl as u16) } else { None };
        L3Kind {
            dl,
            dlm,
            proto,
            protom,
        }
    }

    fn is_arp(&self) -> bool {
        matches!(self.dl, Some(eth_type::ARP) | Some(eth_type::RARP))
    }

    fn is_v6(&self) -> bool {
        self.dl == Some(eth_type::IPV6)
    }

    /// The IP protocol, if matched exactly.
    fn exact_proto(&self) -> Option<u8> {
        (self.protom == 0xff).then_some(self.proto as u8)
    }
}

/// Packet mark, recirculation and conjunction ids, and the connection tracking fields.
fn put_marks_and_ct(s: &mut String, m: &Match) {
    let (v, mk) = m.get(Field::PktMark);
    put_u32_hex(s, "pkt_mark", v, mk);
    let (v, mk) = m.get(Field::RecircId);
    put_u32_hex(s, "recirc_id", v, mk);
    let (v, mk) = m.get(Field::ConjId);
    if mk != 0 {
        let _ = write!(s, "conj_id={v},");
    }
    let (v, mk) = m.get(Field::CtState);
    if mk != 0 {
        let _ = write!(
            s,
            "ct_state={},",
            format_flags(&ct_state::NAMES, v, mk, 0xff, true)
        );
    }
    let (v, mk) = m.get(Field::CtZone);
    put_dec16(s, "ct_zone", v, mk, 0xffff);
    let (v, mk) = m.get(Field::CtMark);
    put_u32_hex(s, "ct_mark", v, mk);
    let (v, mk) = m.get(Field::CtLabel);
    if mk != 0 {
        let _ = write!(s, "ct_label={}", Hx(v));
        if mk != u128::MAX {
            let _ = write!(s, "/{}", Hx(mk));
        }
        s.push(',');
    }
}

/// The protocol shorthand (`ip`, `tcp6`, `arp`, ...). Returns whether it stands for
/// `dl_type` and for `nw_proto`, which are then not printed again.
fn put_protocol(s: &mut String, l3: &L3Kind) -> (bool, bool) {
    let Some(t) = l3.dl else {
        return (false, false);
    };
    let l4 = |v4: bool| -> Option<&'static str> {
        Some(match (l3.exact_proto()?, v4) {
            (ip_proto::ICMP, true) => "icmp",
            (ip_proto::ICMPV6, false) => "icmp6",
            (ip_proto::TCP, true) => "tcp",
            (ip_proto::TCP, false) => "tcp6",
            (ip_proto::UDP, true) => "udp",
            (ip_proto::UDP, false) => "udp6",
            (ip_proto::SCTP, true) => "sctp",
            (ip_proto::SCTP, false) => "sctp6",
            _ => return None,
        })
    };
    let mut skip_proto = false;
    match t {
        eth_type::IPV4 | eth_type::IPV6 => {
            let v4 = t == eth_type::IPV4;
            match l4(v4) {
                Some(name) => {
                    skip_proto = true;
                    s.push_str(name);
                }
                None => s.push_str(if v4 { "ip" } else { "ipv6" }),
            }
            s.push(',');
        }
        eth_type::ARP => s.push_str("arp,"),
        eth_type::RARP => s.push_str("rarp,"),
        eth_type::MPLS => s.push_str("mpls,"),
        eth_type::MPLS_MCAST => s.push_str("mplsm,"),
        _ => return (false, false),
    }
    (true, skip_proto)
}

/// Tunnel key, endpoints, ToS/TTL, flags and Geneve option (`tun_metadataN`) fields.
fn put_tunnel(s: &mut String, m: &Match) {
    let (v, mk) = m.get(Field::TunId);
    put_u64_hex(s, "tun_id", v, mk);
    let (v, mk) = m.get(Field::TunSrc);
    put_ip(s, "tun_src", v, mk);
    let (v, mk) = m.get(Field::TunDst);
    put_ip(s, "tun_dst", v, mk);
    let (v, mk) = m.get(Field::TunTos);
    if mk != 0 {
        let _ = write!(s, "tun_tos={v},");
    }
    let (v, mk) = m.get(Field::TunTtl);
    if mk != 0 {
        let _ = write!(s, "tun_ttl={v},");
    }
    let (v, mk) = m.get(Field::TunFlags);
    if mk & 1 != 0 {
        let _ = write!(
            s,
            "tun_flags={},",
            format_flags(&[("oam", 1u8)], v, mk & 1, 1, true)
        );
    }
    // Presence bits of the options sit above the flags.
    let present_v = m.value.w[w::TUN_FLAGS] >> 32;
    let present_m = m.mask.w[w::TUN_FLAGS] >> 32;
    for i in 0..8u8 {
        if present_m & (1 << i) == 0 {
            continue;
        }
        let f = Field::TunMetadata(i);
        if present_v & (1 << i) == 0 {
            let _ = write!(s, "{}=NP,", f.name());
            continue;
        }
        let (v, mk) = m.get(f);
        if mk == 0 {
            // Presence only.
            let _ = write!(s, "{},", f.name());
            continue;
        }
        let _ = write!(s, "{}={}", f.name(), Hx(v));
        if mk != u128::from(u64::MAX) {
            let _ = write!(s, "/{}", Hx(mk));
        }
        s.push(',');
    }
}

/// The 802.1Q tag: `dl_vlan`/`dl_vlan_pcp` where they say it all, else `vlan_tci`.
fn put_vlan(s: &mut String, m: &Match) {
    let (tci, tcim) = m.get(Field::VlanTci);
    if tcim == 0 {
        return;
    }
    let (tci, tcim) = (tci as u16, tcim as u16);
    let vid_m = tcim & 0x0fff;
    let pcp_m = tcim & 0xe000;
    let cfi = tcim & VLAN_CFI;
    if cfi != 0
        && tci & VLAN_CFI != 0
        && (vid_m == 0 || vid_m == 0x0fff)
        && (pcp_m == 0 || pcp_m == 0xe000)
        && (vid_m != 0 || pcp_m != 0)
    {
        if vid_m != 0 {
            let _ = write!(s, "dl_vlan={},", tci & 0x0fff);
        }
        if pcp_m != 0 {
            let _ = write!(s, "dl_vlan_pcp={},", tci >> 13);
        }
    } else if tcim == 0xffff {
        let _ = write!(s, "vlan_tci=0x{tci:04x},");
    } else {
        let _ = write!(s, "vlan_tci=0x{tci:04x}/0x{tcim:04x},");
    }
}

/// Addresses (IPv4, IPv6 with its flow label, or ARP's), `nw_proto`/`arp_op` unless the
/// shorthand said it, ARP hardware addresses, ToS, TTL and fragments.
fn put_l3(s: &mut String, m: &Match, l3: &L3Kind, skip_proto: bool) {
    let is_arp = l3.is_arp();
    if l3.is_v6() {
        let (v, mk) = m.get(Field::Ipv6Src);
        put_ip6(s, "ipv6_src", v, mk);
        let (v, mk) = m.get(Field::Ipv6Dst);
        put_ip6(s, "ipv6_dst", v, mk);
        let (v, mk) = m.get(Field::Ipv6Label);
        if mk != 0 {
            if mk == 0xfffff {
                let _ = write!(s, "ipv6_label=0x{v:05x},");
            } else {
                let _ = write!(s, "ipv6_label=0x{v:05x}/0x{mk:05x},");
            }
        }
    } else if is_arp {
        let (v, mk) = m.get(Field::ArpSpa);
        put_ip(s, "arp_spa", v, mk);
        let (v, mk) = m.get(Field::ArpTpa);
        put_ip(s, "arp_tpa", v, mk);
    } else {
        let (v, mk) = m.get(Field::NwSrc);
        put_ip(s, "nw_src", v, mk);
        let (v, mk) = m.get(Field::NwDst);
        put_ip(s, "nw_dst", v, mk);
    }
    if !skip_proto && l3.protom != 0 {
        let proto = l3.proto;
        if is_arp {
            let _ = write!(s, "arp_op={proto},");
        } else {
            let _ = write!(s, "nw_proto={proto},");
        }
    }
    if is_arp {
        let (v, mk) = m.get(Field::ArpSha);
        put_mac(s, "arp_sha", v, mk);
        let (v, mk) = m.get(Field::ArpTha);
        put_mac(s, "arp_tha", v, mk);
    }
    // nw_tos/nw_ecn share the ToS byte.
    let tos = Field::NwTos.get(&m.value) as u8;
    let tosm = Field::NwTos.get(&m.mask) as u8;
    let tos_byte_m = (m.mask.w[w::NW_L4] >> 8) as u8;
    let tos_byte = (m.value.w[w::NW_L4] >> 8) as u8;
    if tosm & 0xfc != 0 {
        let _ = write!(s, "nw_tos={},", tos & 0xfc);
    }
    if tos_byte_m & 0x03 != 0 {
        let _ = write!(s, "nw_ecn={},", tos_byte & 0x03);
    }
    let (v, mk) = m.get(Field::NwTtl);
    if mk != 0 {
        let _ = write!(s, "nw_ttl={v},");
    }
    let (fv, fm) = m.get(Field::NwFrag);
    if let Some(word) = nw_frag_word(fv as u8, fm as u8 & nw_frag::MASK) {
        let _ = write!(s, "nw_frag={word},");
    }
}

/// OVS's word for a fragment match (`no`, `first`, `later`, `yes`, `not_later`), if any.
fn nw_frag_word(fv: u8, fm: u8) -> Option<&'static str> {
    let any = fv & nw_frag::ANY != 0;
    let later = fv & nw_frag::LATER != 0;
    Some(match fm {
        nw_frag::MASK => match (any, later) {
            (true, true) => "later",
            (true, false) => "first",
            (false, true) => "<error>",
            (false, false) => "no",
        },
        nw_frag::ANY if any => "yes",
        nw_frag::ANY => "no",
        nw_frag::LATER if later => "later",
        nw_frag::LATER => "not_later",
        _ => return None,
    })
}

/// Ports, or ICMP type/code (and IPv6 neighbour discovery), then TCP flags.
fn put_l4(s: &mut String, m: &Match, l3: &L3Kind) {
    let (sv, sm) = m.get(Field::TpSrc);
    let (dv, dm) = m.get(Field::TpDst);
    let proto = l3.exact_proto();
    let is_icmp4 = l3.dl == Some(eth_type::IPV4) && proto == Some(ip_proto::ICMP);
    let is_icmp6 = l3.is_v6() && proto == Some(ip_proto::ICMPV6);
    if is_icmp4 || is_icmp6 {
        // icmp_type/icmp_code are 8-bit fields stored in the 16-bit port slots.
        let full = |mk: u128| if mk == 0xff { 0xff } else { 0xffff };
        put_dec16(s, "icmp_type", sv, sm, full(sm));
        put_dec16(s, "icmp_code", dv, dm, full(dm));
        if is_icmp6 {
            let (v, mk) = m.get(Field::NdTarget);
            put_ip6(s, "nd_target", v, mk);
            let (v, mk) = m.get(Field::NdSll);
            put_mac(s, "nd_sll", v, mk);
            let (v, mk) = m.get(Field::NdTll);
            put_mac(s, "nd_tll", v, mk);
        }
    } else {
        put_dec16(s, "tp_src", sv, sm, 0xffff);
        put_dec16(s, "tp_dst", dv, dm, 0xffff);
    }
    let (v, mk) = m.get(Field::TcpFlags);
    if mk != 0 && proto == Some(ip_proto::TCP) {
        let _ = write!(
            s,
            "tcp_flags={},",
            format_flags(&tcp_flags::NAMES, v, mk, 0xfff, true)
        );
    }
}

pub(super) fn subfield(sf: &Subfield) -> String {
    let name = sf.field.subfield_name();
    if sf.is_whole() {
        format!("{name}[]")
    } else if sf.n_bits == 1 {
        format!("{name}[{}]", sf.ofs)
    } else {
        format!(
            "{name}[{}..{}]",
            sf.ofs,
            u32::from(sf.ofs) + u32::from(sf.n_bits) - 1
        )
    }
}

/// Contiguous runs of set bits in `mask`, at most 64 bits each, low to high (OVS prints one
/// `load` per run).
fn load_segments(mask: u128, width: u32) -> Vec<(u8, u8)> {
    let mut out = Vec::new();
    let mut i = 0u32;
    while i < width {
        if mask >> i & 1 == 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < width && mask >> i & 1 == 1 && i - start < 64 {
            i += 1;
        }
        out.push((start as u8, (i - start) as u8));
    }
    out
}

fn format_set(s: &mut String, a: &SetField, ports: &PortMap) {
    match a.form {
        SetForm::Load => {
            let segs = load_segments(a.mask, a.field.bits());
            for (k, (ofs, n)) in segs.iter().enumerate() {
                if k > 0 {
                    s.push(',');
                }
                let v = (a.value >> ofs) & bit_ones(u32::from(*n));
                let sf = Subfield {
                    field: a.field,
                    ofs: *ofs,
                    n_bits: *n,
                };
                let _ = write!(s, "load:{}->{}", Hx(v), subfield(&sf));
            }
        }
        SetForm::SetField => {
            let name = match a.field {
                Field::DlVlan => "vlan_vid",
                Field::DlVlanPcp => "vlan_pcp",
                f => f.name(),
            };
            let _ = write!(
                s,
                "set_field:{}->{name}",
                format_field_value(a.field, a.value, a.mask, ports)
            );
        }
        SetForm::Mod => {
            let name = match a.field {
                Field::EthSrc => "mod_dl_src",
                Field::EthDst => "mod_dl_dst",
                Field::NwSrc => "mod_nw_src",
                Field::NwDst => "mod_nw_dst",
                Field::TpSrc => "mod_tp_src",
                Field::TpDst => "mod_tp_dst",
                Field::NwTos => "mod_nw_tos",
                Field::NwEcn => "mod_nw_ecn",
                Field::NwTtl => "mod_nw_ttl",
                Field::DlVlan => "mod_vlan_vid",
                _ => "mod_vlan_pcp",
            };
            let val = match a.field {
                Field::EthSrc | Field::EthDst => format_mac(a.value as u64),
                Field::NwSrc | Field::NwDst => format_ipv4_masked(a.value as u32, u32::MAX),
                _ => a.value.to_string(),
            };
            let _ = write!(s, "{name}:{val}");
        }
    }
}

fn format_nat(s: &mut String, n: &Nat) {
    s.push_str("nat");
    let Some(kind) = n.kind else { return };
    s.push('(');
    s.push_str(if kind == NatKind::Src { "src" } else { "dst" });
    if let Some((lo, hi)) = n.addr {
        s.push('=');
        let bracket = matches!(lo, IpRange::V6(_)) && n.ports.is_some();
        let fmt = |r: IpRange| match r {
            IpRange::V4(a) => std::net::Ipv4Addr::from(a).to_string(),
            IpRange::V6(a) => {
                let t = std::net::Ipv6Addr::from(a).to_string();
                if bracket {
                    format!("[{t}]")
                } else {
                    t
                }
            }
        };
        s.push_str(&fmt(lo));
        if hi != lo {
            s.push('-');
            s.push_str(&fmt(hi));
        }
        if let Some((a, b)) = n.ports {
            let _ = write!(s, ":{a}");
            if b != a {
                let _ = write!(s, "-{b}");
            }
        }
        s.push(',');
        if n.persistent {
            s.push_str("persistent,");
        }
        if n.hash {
            s.push_str("hash,");
        }
        if n.random {
            s.push_str("random,");
        }
    }
    if s.ends_with(',') {
        s.pop();
    }
    s.push(')');
}

fn format_ct(s: &mut String, ct: &CtAction, ports: &PortMap) {
    s.push_str("ct(");
    if ct.commit {
        s.push_str("commit,");
    }
    if ct.force {
        s.push_str("force,");
    }
    if let Some(t) = ct.table {
        let _ = write!(s, "table={t},");
    }
    match ct.zone {
        CtZone::Field(sf) => {
            let _ = write!(s, "zone={},", subfield(&sf));
        }
        CtZone::Imm(0) => {}
        CtZone::Imm(z) => {
            let _ = write!(s, "zone={z},");
        }
    }
    if let Some(n) = &ct.nat {
        format_nat(s, n);
        s.push(',');
    }
    if !ct.exec.is_empty() {
        s.push_str("exec(");
        for (i, a) in ct.exec.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            format_set(s, a, ports);
        }
        s.push_str("),");
    }
    match ct.alg {
        Some(21) => s.push_str("alg=ftp,"),
        Some(69) => s.push_str("alg=tftp,"),
        Some(p) => {
            let _ = write!(s, "alg={p},");
        }
        None => {}
    }
    if s.ends_with(',') {
        s.pop();
    }
    s.push(')');
}

/// Formats an action list (`drop` when empty).
pub fn format_actions(actions: &[Action], ports: &PortMap) -> String {
    if actions.is_empty() {
        return "drop".to_string();
    }
    let mut s = String::with_capacity(64);
    for (i, a) in actions.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        match a {
            Action::Output(p) => {
                if *p < super::port::MAX {
                    s.push_str("output:");
                }
                s.push_str(&format_port(*p, ports));
            }
            Action::Controller { max_len } => {
                let _ = write!(s, "CONTROLLER:{max_len}");
            }
            Action::OutputReg(sf) => {
                let _ = write!(s, "output:{}", subfield(sf));
            }
            Action::Resubmit { in_port, table, ct } => {
                if in_port.is_some() && table.is_none() && !ct {
                    let _ = write!(s, "resubmit:{}", format_port(in_port.unwrap_or(0), ports));
                } else {
                    s.push_str("resubmit(");
                    if let Some(p) = in_port {
                        s.push_str(&format_port(*p, ports));
                    }
                    s.push(',');
                    if let Some(t) = table {
                        let _ = write!(s, "{t}");
                    }
                    if *ct {
                        s.push_str(",ct");
                    }
                    s.push(')');
                }
            }
            Action::GotoTable(t) => {
                let _ = write!(s, "goto_table:{t}");
            }
            Action::Set(sf) => format_set(&mut s, sf, ports),
            Action::Move { src, dst } => {
                let _ = write!(s, "move:{}->{}", subfield(src), subfield(dst));
            }
            Action::DecTtl => s.push_str("dec_ttl"),
            Action::Conjunction {
                id,
                clause,
                n_clauses,
            } => {
                let _ = write!(s, "conjunction({id},{clause}/{n_clauses})");
            }
            Action::Ct(ct) => format_ct(&mut s, ct, ports),
            Action::CtClear => s.push_str("ct_clear"),
            Action::Group(g) => {
                let _ = write!(s, "group:{g}");
            }
            Action::Note(bytes) => {
                s.push_str("note:");
                for (k, b) in bytes.iter().enumerate() {
                    if k > 0 {
                        s.push('.');
                    }
                    let _ = write!(s, "{b:02x}");
                }
            }
            Action::PushVlan(t) => {
                let _ = write!(s, "push_vlan:{t:#x}");
            }
            Action::PopVlan { strip } => s.push_str(if *strip { "strip_vlan" } else { "pop_vlan" }),
            Action::Learn(l) => s.push_str(&l.format()),
            Action::Controller2(c) => s.push_str(&c.format()),
            Action::FinTimeout { idle, hard } => {
                let mut parts = Vec::new();
                if *idle != 0 {
                    parts.push(format!("idle_timeout={idle}"));
                }
                if *hard != 0 {
                    parts.push(format!("hard_timeout={hard}"));
                }
                let _ = write!(s, "fin_timeout({})", parts.join(","));
            }
            Action::Meter(m) => {
                let _ = write!(s, "meter:{m}");
            }
        }
    }
    s
}
