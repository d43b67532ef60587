//! OpenFlow 1.0's fixed `ofp10_match` (40 bytes, wildcard bits): what a plain OpenFlow 1.0
//! flow-mod carries (`ovs-ofctl` sends one when the flow needs nothing more). As OVS does,
//! the network fields mean ARP's addresses and opcode for ARP, and the transport ports
//! ICMP's type and code for ICMP; fields whose prerequisites are not matched are dropped.

use crate::buf::{be_uint, put16, put32, zeros, Reader};
use crate::{errors as e, OfError};
use pipeline::field::Field;
use pipeline::flow::VLAN_CFI;
use pipeline::ofctl::Match;

const FW_IN_PORT: u32 = 1 << 0;
const FW_DL_VLAN: u32 = 1 << 1;
const FW_DL_SRC: u32 = 1 << 2;
const FW_DL_DST: u32 = 1 << 3;
const FW_DL_TYPE: u32 = 1 << 4;
const FW_NW_PROTO: u32 = 1 << 5;
const FW_TP_SRC: u32 = 1 << 6;
const FW_TP_DST: u32 = 1 << 7;
const FW_NW_SRC_SHIFT: u32 = 8;
const FW_NW_DST_SHIFT: u32 = 14;
const FW_DL_VLAN_PCP: u32 = 1 << 20;
const FW_NW_TOS: u32 = 1 << 21;
/// Every field wildcarded.
pub const FW_ALL: u32 = (1 << 22) - 1;
/// `dl_vlan` of a frame without a VLAN tag.
const VLAN_NONE: u16 = 0xffff;

const ETH_IP: u16 = 0x0800;
const ETH_ARP: u16 = 0x0806;

/// A prefix mask from OpenFlow 1.0's count of wildcarded low bits.
fn prefix_mask(wildcarded: u32) -> u32 {
    if wildcarded >= 32 {
        0
    } else {
        !0u32 << wildcarded
    }
}

/// Decodes an `ofp10_match` into brisk's match.
pub fn decode(r: &mut Reader<'_>) -> Result<Match, OfError> {
    let b = r.bytes(40, "ofp10_match")?;
    let mut rd = Reader::new(b, (e::BAD_MATCH, e::BAD_MATCH_LEN));
    let wc = rd.u32("wildcards")?;
    let in_port = rd.u16("in_port")?;
    let dl_src = rd.bytes(6, "dl_src")?;
    let dl_dst = rd.bytes(6, "dl_dst")?;
    let dl_vlan = rd.u16("dl_vlan")?;
    let pcp = rd.u8("dl_vlan_pcp")?;
    rd.skip(1, "pad")?;
    let dl_type = rd.u16("dl_type")?;
    let tos = rd.u8("nw_tos")?;
    let proto = rd.u8("nw_proto")?;
    rd.skip(2, "pad")?;
    let nw_src = rd.u32("nw_src")?;
    let nw_dst = rd.u32("nw_dst")?;
    let tp_src = rd.u16("tp_src")?;
    let tp_dst = rd.u16("tp_dst")?;
    let mut m = Match::default();
    let all = u128::MAX;
    if wc & FW_IN_PORT == 0 {
        m.set(Field::InPort, u128::from(in_port), all);
    }
    if wc & FW_DL_SRC == 0 {
        m.set(Field::EthSrc, be_uint(dl_src), all);
    }
    if wc & FW_DL_DST == 0 {
        m.set(Field::EthDst, be_uint(dl_dst), all);
    }
    if wc & FW_DL_VLAN == 0 {
        if dl_vlan == VLAN_NONE {
            m.set(Field::VlanTci, 0, 0xffff);
        } else {
            let tci = VLAN_CFI | (dl_vlan & 0x0fff);
            m.set(
                Field::VlanTci,
                u128::from(tci),
                u128::from(VLAN_CFI | 0x0fff),
            );
        }
    }
    if wc & FW_DL_VLAN_PCP == 0 && !(wc & FW_DL_VLAN == 0 && dl_vlan == VLAN_NONE) {
        let tci = VLAN_CFI | (u16::from(pcp & 7) << 13);
        m.set(
            Field::VlanTci,
            u128::from(tci),
            u128::from(VLAN_CFI | 0xe000),
        );
    }
    if wc & FW_DL_TYPE != 0 {
        return Ok(m);
    }
    m.set(Field::EthType, u128::from(dl_type), all);
    let src_mask = prefix_mask((wc >> FW_NW_SRC_SHIFT) & 0x3f);
    let dst_mask = prefix_mask((wc >> FW_NW_DST_SHIFT) & 0x3f);
    match dl_type {
        ETH_IP => {
            if wc & FW_NW_TOS == 0 {
                m.set(Field::NwTos, u128::from(tos & 0xfc), all);
            }
            if src_mask != 0 {
                m.set(
                    Field::NwSrc,
                    u128::from(nw_src & src_mask),
                    u128::from(src_mask),
                );
            }
            if dst_mask != 0 {
                m.set(
                    Field::NwDst,
                    u128::from(nw_dst & dst_mask),
                    u128::from(dst_mask),
                );
            }
            if wc & FW_NW_PROTO != 0 {
                return Ok(m);
            }
            m.set(Field::NwProto, u128::from(proto), all);
            let (s, d) = match proto {
                6 | 17 | 132 => (Field::TpSrc, Field::TpDst),
                1 => (Field::IcmpType, Field::IcmpCode),
                _ => return Ok(m),
            };
            if wc & FW_TP_SRC == 0 {
                m.set(s, u128::from(tp_src), all);
            }
            if wc & FW_TP_DST == 0 {
                m.set(d, u128::from(tp_dst), all);
            }
        }
        ETH_ARP => {
            if wc & FW_NW_PROTO == 0 {
                m.set(Field::ArpOp, u128::from(proto), all);
            }
            if src_mask != 0 {
                m.set(
                    Field::ArpSpa,
                    u128::from(nw_src & src_mask),
                    u128::from(src_mask),
                );
            }
            if dst_mask != 0 {
                m.set(
                    Field::ArpTpa,
                    u128::from(nw_dst & dst_mask),
                    u128::from(dst_mask),
                );
            }
        }
        _ => {}
    }
    Ok(m)
}

/// Wildcarded low bits of a prefix mask, as OpenFlow 1.0 counts them (32: all).
fn wildcard_bits(mask: u32) -> u32 {
    if mask == 0 {
        32
    } else {
        mask.trailing_zeros()
    }
}

/// Encodes what of `m` an `ofp10_match` can hold (registers, tunnel and conntrack fields
/// cannot travel in it: NXM flow formats carry those).
pub fn encode(m: &Match, out: &mut Vec<u8>) {
    let get = |f: Field| m.get(f);
    let exact = |f: Field| {
        let (v, mk) = get(f);
        (mk == f.full_mask()).then_some(v)
    };
    let mut wc = FW_ALL;
    let in_port = exact(Field::InPort).map_or(0, |v| {
        wc &= !FW_IN_PORT;
        v as u16
    });
    let dl_src = exact(Field::EthSrc).map_or(0, |v| {
        wc &= !FW_DL_SRC;
        v
    });
    let dl_dst = exact(Field::EthDst).map_or(0, |v| {
        wc &= !FW_DL_DST;
        v
    });
    let (tci, tci_m) = get(Field::VlanTci);
    let (tci, tci_m) = (tci as u16, tci_m as u16);
    let mut dl_vlan = 0;
    let mut pcp = 0;
    if tci_m == 0xffff && tci == 0 {
        wc &= !FW_DL_VLAN;
        dl_vlan = VLAN_NONE;
    } else if tci & VLAN_CFI != 0 {
        if tci_m & 0x0fff == 0x0fff {
            wc &= !FW_DL_VLAN;
            dl_vlan = tci & 0x0fff;
        }
        if tci_m & 0xe000 == 0xe000 {
            wc &= !FW_DL_VLAN_PCP;
            pcp = (tci >> 13) as u8;
        }
    }
    let dl_type = exact(Field::EthType).map_or(0, |v| {
        wc &= !FW_DL_TYPE;
        v as u16
    });
    let (mut tos, mut proto, mut nw_src, mut nw_dst, mut tp_src, mut tp_dst) = (0, 0, 0, 0, 0, 0);
    let prefix = |f: Field, shift: u32, wc: &mut u32| -> u32 {
        let (v, mk) = get(f);
        let mk = mk as u32;
        *wc = (*wc & !(0x3f << shift)) | (wildcard_bits(mk).min(32) << shift);
        v as u32 & mk
    };
    match dl_type {
        ETH_IP => {
            if let Some(v) = exact(Field::NwTos) {
                wc &= !FW_NW_TOS;
                tos = v as u8;
            }
            nw_src = prefix(Field::NwSrc, FW_NW_SRC_SHIFT, &mut wc);
            nw_dst = prefix(Field::NwDst, FW_NW_DST_SHIFT, &mut wc);
            if let Some(v) = exact(Field::NwProto) {
                wc &= !FW_NW_PROTO;
                proto = v as u8;
                let (s, d) = if proto == 1 {
                    (Field::IcmpType, Field::IcmpCode)
                } else {
                    (Field::TpSrc, Field::TpDst)
                };
                if let Some(v) = exact(s) {
                    wc &= !FW_TP_SRC;
                    tp_src = v as u16;
                }
                if let Some(v) = exact(d) {
                    wc &= !FW_TP_DST;
                    tp_dst = v as u16;
                }
            }
        }
        ETH_ARP => {
            if let Some(v) = exact(Field::ArpOp) {
                wc &= !FW_NW_PROTO;
                proto = v as u8;
            }
            nw_src = prefix(Field::ArpSpa, FW_NW_SRC_SHIFT, &mut wc);
            nw_dst = prefix(Field::ArpTpa, FW_NW_DST_SHIFT, &mut wc);
        }
        _ => {}
    }
    put32(out, wc);
    put16(out, in_port);
    out.extend_from_slice(&dl_src.to_be_bytes()[10..]);
    out.extend_from_slice(&dl_dst.to_be_bytes()[10..]);
    put16(out, dl_vlan);
    out.push(pcp);
    zeros(out, 1);
    put16(out, dl_type);
    out.push(tos);
    out.push(proto);
    zeros(out, 2);
    put32(out, nw_src);
    put32(out, nw_dst);
    put16(out, tp_src);
    put16(out, tp_dst);
}
