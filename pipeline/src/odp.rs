//! Megaflows in Open vSwitch's datapath-flow text (`ovs-appctl dpctl/dump-flows`, the
//! "ODP" format of `lib/odp-util.c`): `ct_state(+new-est+trk),recirc_id(0x1),in_port(2),
//! eth(src=..),eth_type(0x0800),ipv4(dst=10.0.0.0/255.255.255.0,frag=no),tcp(dst=80)`, and
//! their actions as OVS writes datapath actions, so the tools that read OVS's dumps
//! (`ovs-dpctl-top`, operators' scripts) read brisk's.

use crate::dpaction::{DpAction, HdrField};
use crate::field::Field;
use crate::flow::{ct_state, eth_type, ip_proto, nw_frag, tcp_flags, Flow};
use crate::ofctl::format_mac;
use crate::ofctl::value::{format_flags, Hx};
use std::fmt::Write;

/// One attribute's `name=value[/mask]` parts, only those whose mask is not zero.
struct Attr {
    parts: Vec<String>,
}

impl Attr {
    fn new() -> Attr {
        Attr { parts: Vec::new() }
    }

    fn put(&mut self, name: &str, v: String, m: Option<String>) {
        match m {
            None => self.parts.push(format!("{name}={v}")),
            Some(m) => self.parts.push(format!("{name}={v}/{m}")),
        }
    }

    /// A field of `key` under `mask`, printed by `show` (value, then the mask if partial).
    fn field(
        &mut self,
        name: &str,
        key: &Flow,
        mask: &Flow,
        f: Field,
        show: impl Fn(u128) -> String,
    ) {
        let m = f.get(mask);
        if m == 0 {
            return;
        }
        let v = f.get(key) & m;
        let full = f.desc().valid;
        self.put(name, show(v), (m != full).then(|| show(m)));
    }

    fn text(&self, name: &str) -> String {
        format!("{name}({})", self.parts.join(","))
    }
}

/// How one field of an attribute prints.
type Shown = (&'static str, Field, fn(u128) -> String);

/// `name(field=..,...)` of the fields whose mask is not zero.
fn attr(name: &str, key: &Flow, mask: &Flow, fields: &[Shown]) -> String {
    let mut a = Attr::new();
    for (n, f, show) in fields {
        a.field(n, key, mask, *f, show);
    }
    a.text(name)
}

fn hex(v: u128) -> String {
    Hx(v).to_string()
}

fn ip4(v: u128) -> String {
    std::net::Ipv4Addr::from(v as u32).to_string()
}

fn ip6(v: u128) -> String {
    std::net::Ipv6Addr::from(v).to_string()
}

fn mac(v: u128) -> String {
    format_mac(v as u64)
}

fn dec(v: u128) -> String {
    v.to_string()
}

/// A megaflow's key under its mask in OVS's datapath-flow syntax.
pub fn format_odp_key(key: &Flow, mask: &Flow) -> String {
    let mut out: Vec<String> = Vec::new();
    if Field::TunDst.get(mask) != 0 || Field::TunSrc.get(mask) != 0 || Field::TunId.get(mask) != 0 {
        out.push(attr(
            "tunnel",
            key,
            mask,
            &[
                ("tun_id", Field::TunId, hex),
                ("src", Field::TunSrc, ip4),
                ("dst", Field::TunDst, ip4),
                ("tos", Field::TunTos, hex),
                ("ttl", Field::TunTtl, dec),
            ],
        ));
    }
    let m = Field::CtState.get(mask);
    if m != 0 {
        out.push(format!(
            "ct_state({})",
            format_flags(&ct_state::NAMES, Field::CtState.get(key), m, 0xff, false)
        ));
    }
    for (name, f) in [
        ("ct_zone", Field::CtZone),
        ("ct_mark", Field::CtMark),
        ("ct_label", Field::CtLabel),
    ] {
        let m = f.get(mask);
        if m != 0 {
            let v = f.get(key) & m;
            if m == f.desc().valid {
                out.push(format!("{name}({})", hex(v)));
            } else {
                out.push(format!("{name}({}/{})", hex(v), hex(m)));
            }
        }
    }
    out.push(format!("recirc_id({})", hex(Field::RecircId.get(key))));
    out.push(format!("in_port({})", Field::InPort.get(key)));
    let pm = Field::PktMark.get(mask);
    if pm != 0 {
        out.push(format!("skb_mark({})", hex(Field::PktMark.get(key) & pm)));
    }
    out.push(attr(
        "eth",
        key,
        mask,
        &[("src", Field::EthSrc, mac), ("dst", Field::EthDst, mac)],
    ));
    let tci_m = Field::VlanTci.get(mask);
    if tci_m != 0 {
        let tci = Field::VlanTci.get(key) & tci_m;
        if tci & 0x1000 != 0 {
            out.push(format!("vlan(vid={},pcp={})", tci & 0xfff, (tci >> 13) & 7));
        }
    }
    if Field::EthType.get(mask) == 0 {
        return out.join(",");
    }
    let ty = Field::EthType.get(key) as u16;
    out.push(format!("eth_type({ty:#06x})"));
    let proto = Field::NwProto.get(key) as u8;
    let proto_m = Field::NwProto.get(mask);
    match ty {
        eth_type::IPV4 | eth_type::IPV6 => {
            let v4 = ty == eth_type::IPV4;
            let mut a = Attr::new();
            if v4 {
                a.field("src", key, mask, Field::NwSrc, ip4);
                a.field("dst", key, mask, Field::NwDst, ip4);
            } else {
                a.field("src", key, mask, Field::Ipv6Src, ip6);
                a.field("dst", key, mask, Field::Ipv6Dst, ip6);
                a.field("label", key, mask, Field::Ipv6Label, hex);
            }
            a.field("proto", key, mask, Field::NwProto, dec);
            let tos_m = Field::NwTos.get(mask) | Field::NwEcn.get(mask);
            if tos_m != 0 {
                let tos = (Field::NwTos.get(key) | Field::NwEcn.get(key)) & tos_m;
                let name = if v4 { "tos" } else { "tclass" };
                a.put(name, hex(tos), (tos_m != 0xff).then(|| hex(tos_m)));
            }
            a.field(
                if v4 { "ttl" } else { "hlimit" },
                key,
                mask,
                Field::NwTtl,
                dec,
            );
            let fm = Field::NwFrag.get(mask) as u8;
            if fm != 0 {
                let f = Field::NwFrag.get(key) as u8 & fm;
                let text = if f & nw_frag::ANY == 0 {
                    "no"
                } else if f & nw_frag::LATER != 0 {
                    "later"
                } else if fm & nw_frag::LATER != 0 {
                    "first"
                } else {
                    "yes"
                };
                a.parts.push(format!("frag={text}"));
            }
            out.push(a.text(if v4 { "ipv4" } else { "ipv6" }));
            if proto_m != 0 {
                put_l4(&mut out, key, mask, proto, v4);
            }
        }
        eth_type::ARP | eth_type::RARP => {
            out.push(attr(
                "arp",
                key,
                mask,
                &[
                    ("sip", Field::ArpSpa, ip4),
                    ("tip", Field::ArpTpa, ip4),
                    ("op", Field::ArpOp, dec),
                    ("sha", Field::ArpSha, mac),
                    ("tha", Field::ArpTha, mac),
                ],
            ));
        }
        _ => {}
    }
    out.join(",")
}

fn put_l4(out: &mut Vec<String>, key: &Flow, mask: &Flow, proto: u8, v4: bool) {
    let ports = |name: &str| {
        let mut a = Attr::new();
        for (n, f) in [("src", Field::TpSrc), ("dst", Field::TpDst)] {
            let m = f.get(mask);
            match m {
                0 => {}
                // A whole port in decimal; a masked one in hex, as OVS (`dst=0x400/0xfc00`).
                0xffff => a.put(n, dec(f.get(key)), None),
                _ => a.put(n, hex(f.get(key) & m), Some(hex(m))),
            }
        }
        a.text(name)
    };
    match proto {
        ip_proto::TCP => {
            out.push(ports("tcp"));
            let m = Field::TcpFlags.get(mask);
            if m != 0 {
                out.push(format!(
                    "tcp_flags({})",
                    format_flags(&tcp_flags::NAMES, Field::TcpFlags.get(key), m, 0xfff, false)
                ));
            }
        }
        ip_proto::UDP => out.push(ports("udp")),
        ip_proto::SCTP => out.push(ports("sctp")),
        ip_proto::ICMP | ip_proto::ICMPV6 => {
            let mut a = Attr::new();
            a.field("type", key, mask, Field::IcmpType, dec);
            a.field("code", key, mask, Field::IcmpCode, dec);
            out.push(a.text(if v4 { "icmp" } else { "icmpv6" }));
        }
        _ => {}
    }
}

/// Datapath actions in OVS's syntax where brisk's datapath has OVS's action (`2`,
/// `ct(commit,zone=1,mark=0x20/0xffffffff)`, `recirc(0x1)`, `set(eth(src=..))`,
/// `tnl_push(...)`, `drop`), brisk's own name where it has none (`dec_ttl`, `arp_reply`).
pub fn format_odp_actions(acts: &[DpAction]) -> String {
    if acts.iter().all(DpAction::is_learn) {
        return "drop".into();
    }
    let mut s = String::new();
    for (i, a) in acts.iter().filter(|a| !a.is_learn()).enumerate() {
        if i > 0 {
            s.push(',');
        }
        match a {
            DpAction::Output(p) => {
                let _ = write!(s, "{p}");
            }
            DpAction::Set { field, value, mask } => s.push_str(&set_text(*field, *value, *mask)),
            other => {
                let _ = write!(s, "{other}");
            }
        }
    }
    s
}

/// `set(eth(src=..))`, or OVS's masked form `set(ipv4(src=../255.255.255.0))`.
fn set_text(f: HdrField, v: u128, m: u128) -> String {
    let (attr, name, show, full): (&str, &str, fn(u128) -> String, u128) = match f {
        HdrField::EthSrc => ("eth", "src", mac, 0xffff_ffff_ffff),
        HdrField::EthDst => ("eth", "dst", mac, 0xffff_ffff_ffff),
        HdrField::Ipv4Src => ("ipv4", "src", ip4, 0xffff_ffff),
        HdrField::Ipv4Dst => ("ipv4", "dst", ip4, 0xffff_ffff),
        HdrField::Ipv6Src => ("ipv6", "src", ip6, u128::MAX),
        HdrField::Ipv6Dst => ("ipv6", "dst", ip6, u128::MAX),
        HdrField::ArpSpa => ("arp", "sip", ip4, 0xffff_ffff),
        HdrField::ArpTpa => ("arp", "tip", ip4, 0xffff_ffff),
        HdrField::ArpSha => ("arp", "sha", mac, 0xffff_ffff_ffff),
        HdrField::ArpTha => ("arp", "tha", mac, 0xffff_ffff_ffff),
        other => {
            return DpAction::Set {
                field: other,
                value: v,
                mask: m,
            }
            .to_string()
        }
    };
    if m == full {
        format!("set({attr}({name}={}))", show(v))
    } else {
        format!("set({attr}({name}={}/{}))", show(v & m), show(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape OVS 3.1's `dpctl/dump-flows` prints for the same megaflow (read from its
    /// userspace datapath).
    #[test]
    fn a_conntrack_megaflow_reads_as_ovs_prints_it() {
        let mut key = Flow::ZERO;
        let mut mask = Flow::ZERO;
        let full = |m: &mut Flow, f: Field| f.set(m, f.desc().valid);
        Field::RecircId.set(&mut key, 1);
        full(&mut mask, Field::RecircId);
        Field::InPort.set(&mut key, 1);
        full(&mut mask, Field::InPort);
        Field::CtState.set(&mut key, u128::from(ct_state::NEW | ct_state::TRK));
        Field::CtState.set(
            &mut mask,
            u128::from(ct_state::NEW | ct_state::EST | ct_state::TRK),
        );
        Field::CtZone.set(&mut key, 0xfff0);
        full(&mut mask, Field::CtZone);
        full(&mut mask, Field::CtMark);
        Field::EthType.set(&mut key, 0x0800);
        full(&mut mask, Field::EthType);
        full(&mut mask, Field::NwFrag);
        assert_eq!(
            format_odp_key(&key, &mask),
            "ct_state(+new-est+trk),ct_zone(0xfff0),ct_mark(0),recirc_id(0x1),in_port(1),eth(),eth_type(0x0800),ipv4(frag=no)"
        );
        Field::NwDst.set(&mut key, 0x0ade_0100);
        Field::NwDst.set(&mut mask, 0xffff_ff00);
        Field::NwProto.set(&mut key, 6);
        full(&mut mask, Field::NwProto);
        Field::TpDst.set(&mut key, 80);
        full(&mut mask, Field::TpDst);
        assert!(format_odp_key(&key, &mask)
            .ends_with("ipv4(dst=10.222.1.0/255.255.255.0,proto=6,frag=no),tcp(dst=80)"));
        let acts = [
            DpAction::Set {
                field: HdrField::EthSrc,
                value: 0x4e99_08c1_53be,
                mask: 0xffff_ffff_ffff,
            },
            DpAction::Output(2),
        ];
        assert_eq!(
            format_odp_actions(&acts),
            "set(eth(src=4e:99:08:c1:53:be)),2"
        );
        assert_eq!(format_odp_actions(&[]), "drop");
    }
}
