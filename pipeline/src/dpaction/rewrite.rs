//! Header rewrites of datapath actions: set-field, the ARP responder's reply, conntrack
//! and its NAT.

use super::exec::{ExecEnv, PktMut};
use super::{DpCt, HdrField};
use crate::field::{fget, fset, Field};
use crate::flow::{eth_type, ip_proto, nw_frag, w, VLAN_CFI};
use crate::packet::{self, Frame};

pub(super) fn set_field<F: Frame>(
    pkt: &mut PktMut<'_, F>,
    field: HdrField,
    value: u128,
    mask: u128,
) {
    let lay = *pkt.layout;
    let d = pkt.frame.data_mut();
    let merge = |old: u128| (old & !mask) | (value & mask);
    let k = &mut *pkt.key;
    match field {
        HdrField::EthSrc => {
            let v = merge(fget!(EthSrc, &*k));
            packet::set_eth(d, Some(v as u64), None);
            fset!(EthSrc, k, v);
        }
        HdrField::EthDst => {
            let v = merge(fget!(EthDst, &*k));
            packet::set_eth(d, None, Some(v as u64));
            fset!(EthDst, k, v);
        }
        HdrField::VlanTci => {
            if fget!(VlanTci, &*k) as u16 & VLAN_CFI != 0 {
                let v = merge(fget!(VlanTci, &*k)) as u16 | VLAN_CFI;
                packet::set_vlan_tci(d, v);
                fset!(VlanTci, k, u128::from(v));
            }
        }
        HdrField::Ipv4Src | HdrField::Ipv4Dst => {
            if fget!(EthType, &*k) as u16 == eth_type::IPV4 {
                let src = field == HdrField::Ipv4Src;
                let v = merge(if src {
                    fget!(NwSrc, &*k)
                } else {
                    fget!(NwDst, &*k)
                });
                packet::set_ipv4_addr(d, &lay, &*k, src, v as u32);
                if src {
                    fset!(NwSrc, k, v);
                } else {
                    fset!(NwDst, k, v);
                }
            }
        }
        HdrField::Ipv6Src | HdrField::Ipv6Dst => {
            let f = if field == HdrField::Ipv6Src {
                Field::Ipv6Src
            } else {
                Field::Ipv6Dst
            };
            if fget!(EthType, &*k) as u16 == eth_type::IPV6 {
                let v = merge(f.get(&*k));
                packet::set_ipv6_addr(d, &lay, &*k, field == HdrField::Ipv6Src, v);
                f.set(k, v);
            }
        }
        HdrField::IpTos => {
            let v6 = fget!(EthType, &*k) as u16 == eth_type::IPV6;
            packet::set_tos(d, &lay, v6, value as u8, mask as u8);
            let old = (k.w[w::NW_L4] >> 8) as u8;
            let nv = (old & !(mask as u8)) | (value as u8 & mask as u8);
            k.w[w::NW_L4] = (k.w[w::NW_L4] & !(0xff << 8)) | (u64::from(nv) << 8);
        }
        HdrField::IpTtl => {
            let v6 = fget!(EthType, &*k) as u16 == eth_type::IPV6;
            let v = merge(fget!(NwTtl, &*k)) as u8;
            packet::set_ttl(d, &lay, v6, v);
            fset!(NwTtl, k, u128::from(v));
        }
        HdrField::TpSrc | HdrField::TpDst => {
            let src = field == HdrField::TpSrc;
            let v = merge(if src {
                fget!(TpSrc, &*k)
            } else {
                fget!(TpDst, &*k)
            }) as u16;
            packet::set_l4_port(d, &lay, &*k, src, v);
            if src {
                fset!(TpSrc, k, u128::from(v));
            } else {
                fset!(TpDst, k, u128::from(v));
            }
        }
        HdrField::ArpOp => {
            let v = merge(fget!(ArpOp, &*k)) as u16;
            packet::set_arp(d, &lay, Some(v), None, None, None, None);
            fset!(ArpOp, k, u128::from(v));
        }
        HdrField::ArpSpa => {
            let v = merge(fget!(ArpSpa, &*k)) as u32;
            packet::set_arp(d, &lay, None, None, Some(v), None, None);
            fset!(ArpSpa, k, u128::from(v));
        }
        HdrField::ArpTpa => {
            let v = merge(fget!(ArpTpa, &*k)) as u32;
            packet::set_arp(d, &lay, None, None, None, None, Some(v));
            fset!(ArpTpa, k, u128::from(v));
        }
        HdrField::ArpSha => {
            let v = merge(fget!(ArpSha, &*k)) as u64;
            packet::set_arp(d, &lay, None, Some(v), None, None, None);
            fset!(ArpSha, k, u128::from(v));
        }
        HdrField::ArpTha => {
            let v = merge(fget!(ArpTha, &*k)) as u64;
            packet::set_arp(d, &lay, None, None, None, Some(v), None);
            fset!(ArpTha, k, u128::from(v));
        }
    }
}

/// Rewrites an ARP request into the reply `mac` gives. False for anything that is not a
/// non-gratuitous Ethernet/IPv4 ARP request.
pub(super) fn arp_reply<F: Frame>(pkt: &mut PktMut<'_, F>, mac: u64) -> bool {
    let key = *pkt.key;
    if fget!(EthType, &key) as u16 != eth_type::ARP
        || fget!(ArpOp, &key) != 1
        || pkt.layout.err & packet::parse_err::ARP_BAD != 0
    {
        return false;
    }
    let spa = fget!(ArpSpa, &key) as u32;
    let tpa = fget!(ArpTpa, &key) as u32;
    if spa == tpa || spa == 0 {
        return false; // gratuitous ARP or probe: nothing to answer
    }
    let sha = fget!(ArpSha, &key) as u64;
    let src = fget!(EthSrc, &key) as u64;
    let lay = *pkt.layout;
    let d = pkt.frame.data_mut();
    packet::set_eth(d, Some(mac), Some(src));
    packet::set_arp(d, &lay, Some(2), Some(mac), Some(tpa), Some(sha), Some(spa));
    let k = &mut *pkt.key;
    fset!(EthDst, k, u128::from(src));
    fset!(EthSrc, k, u128::from(mac));
    fset!(ArpOp, k, 2);
    fset!(ArpSha, k, u128::from(mac));
    fset!(ArpTha, k, u128::from(sha));
    fset!(ArpSpa, k, u128::from(tpa));
    fset!(ArpTpa, k, u128::from(spa));
    true
}

/// Runs conntrack for the packet, updating its key (and headers, for NAT). Returns false if
/// a commit was refused because the table is full.
pub(super) fn run_ct<F: Frame>(pkt: &mut PktMut<'_, F>, ct: &DpCt, env: &ExecEnv<'_>) -> bool {
    use crate::conntrack::{CtCommand, CtPacket};
    // A borrow, not a copy of the 320-byte key (ct runs twice per packet in Antrea).
    let key = &*pkt.key;
    let lay = *pkt.layout;
    let ty = fget!(EthType, key) as u16;
    let l3_bad = lay.err & packet::parse_err::L3_BAD != 0;
    let (src, dst) = if ty == eth_type::IPV6 {
        (fget!(Ipv6Src, key), fget!(Ipv6Dst, key))
    } else {
        (fget!(NwSrc, key), fget!(NwDst, key))
    };
    let data = pkt.frame.data();
    let l4s = usize::from(lay.l4).min(data.len());
    let l4e = (l4s + usize::from(lay.l4_len)).min(data.len());
    let cp = CtPacket {
        eth_type: if l3_bad { 0 } else { ty },
        src,
        dst,
        proto: fget!(NwProto, key) as u8,
        src_port: fget!(TpSrc, key) as u16,
        dst_port: fget!(TpDst, key) as u16,
        tcp_flags: fget!(TcpFlags, key) as u16,
        l4: if lay.l4 == 0 { &[] } else { &data[l4s..l4e] },
        l4_len: usize::from(lay.l4_len),
        is_fragment: (fget!(NwFrag, key) as u8) & nw_frag::ANY != 0,
    };
    let cmd = CtCommand {
        zone: ct.zone,
        commit: ct.commit,
        force: ct.force,
        nat: ct.nat.as_ref(),
        set_mark: ct.mark,
        set_label: ct.label,
    };
    let v = env.conntrack.execute(&cp, &cmd, env.now_ms);
    if v.refused {
        return false;
    }
    if let Some(n) = &v.nat {
        apply_nat(pkt, n);
    }
    let k = &mut *pkt.key;
    fset!(CtState, k, u128::from(v.state));
    fset!(CtZone, k, u128::from(v.zone));
    fset!(CtMark, k, u128::from(v.mark));
    fset!(CtLabel, k, v.label);
    true
}

pub(super) fn apply_nat<F: Frame>(pkt: &mut PktMut<'_, F>, n: &crate::conntrack::NatRewrite) {
    let v6 = pkt.is_v6();
    let lay = *pkt.layout;
    let ports = matches!(
        fget!(NwProto, pkt.key) as u8,
        ip_proto::TCP | ip_proto::UDP | ip_proto::SCTP
    );
    for (is_src, ep) in [(true, n.src), (false, n.dst)] {
        let Some((addr, port)) = ep else { continue };
        // The frame and the key are separate borrows: no copy of the key per rewrite.
        let d = pkt.frame.data_mut();
        if v6 {
            packet::set_ipv6_addr(d, &lay, pkt.key, is_src, addr);
        } else {
            packet::set_ipv4_addr(d, &lay, pkt.key, is_src, addr as u32);
        }
        if ports {
            packet::set_l4_port(d, &lay, pkt.key, is_src, port);
        }
        let k = &mut *pkt.key;
        match (v6, is_src) {
            (false, true) => fset!(NwSrc, k, addr),
            (false, false) => fset!(NwDst, k, addr),
            (true, true) => fset!(Ipv6Src, k, addr),
            (true, false) => fset!(Ipv6Dst, k, addr),
        }
        if ports {
            if is_src {
                fset!(TpSrc, k, u128::from(port));
            } else {
                fset!(TpDst, k, u128::from(port));
            }
        }
    }
}
