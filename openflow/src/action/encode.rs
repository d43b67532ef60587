//! Encoding of actions, as OVS writes them at each version.

use super::{nx, t, CT_F_COMMIT, CT_F_FORCE, CT_RECIRC_NONE};
use super::{NAT_F_DST, NAT_F_PERSISTENT, NAT_F_PROTO_HASH, NAT_F_PROTO_RANDOM, NAT_F_SRC};
use super::{NAT_RANGE_IPV4_MAX, NAT_RANGE_IPV4_MIN, NAT_RANGE_IPV6_MAX, NAT_RANGE_IPV6_MIN};
use super::{NAT_RANGE_PROTO_MAX, NAT_RANGE_PROTO_MIN};
use crate::buf::{pad8, patch_len, put16, put32, put64, put_be, zeros};
use crate::oxm::{self, WireField};
use crate::{NX_VENDOR_ID, OFP15};
use pipeline::field::{Field, Subfield};
use pipeline::ofctl::{port, Action, CtAction, CtZone, IpRange, Nat, NatKind, SetField, SetForm};

fn nx_start(out: &mut Vec<u8>, sub: u16) -> usize {
    let at = out.len();
    put16(out, t::EXPERIMENTER);
    put16(out, 0);
    put32(out, NX_VENDOR_ID);
    put16(out, sub);
    at
}

fn std_start(out: &mut Vec<u8>, ty: u16) -> usize {
    let at = out.len();
    put16(out, ty);
    put16(out, 0);
    at
}

fn end(out: &mut Vec<u8>, at: usize) {
    pad8(out, at);
    patch_len(out, at + 2, at);
}

fn header_of(field: Field) -> WireField {
    // Fields without a wire header (dl_vlan, dl_vlan_pcp) travel as vlan_tci bits.
    oxm::preferred(field)
        .or_else(|| oxm::preferred(Field::VlanTci))
        .expect("vlan_tci has a header")
}

fn put_plain_header(out: &mut Vec<u8>, field: Field) {
    oxm::put_header(out, &header_of(field), false);
}

/// A subfield in terms of its wire field (dl_vlan and dl_vlan_pcp are bits of vlan_tci).
fn wire_subfield(sf: Subfield) -> Subfield {
    match sf.field {
        Field::DlVlan => Subfield {
            field: Field::VlanTci,
            ..sf
        },
        Field::DlVlanPcp => Subfield {
            field: Field::VlanTci,
            ofs: sf.ofs + 13,
            n_bits: sf.n_bits,
        },
        _ => sf,
    }
}

/// A field's 32-bit header in Nicira's actions (reg_load, reg_move, output_reg, learn...):
/// NXM's where the field has one, as OVS writes them (ip_dscp has only OXM's: NXM's
/// nw_tos is another field), else the preferred header.
pub(crate) fn nxm_header_u32(field: Field) -> u32 {
    let mut b = Vec::with_capacity(8);
    let nxm = (field != Field::IpDscp)
        .then(|| oxm::nxm_of(field))
        .flatten()
        .and_then(|(class, code)| oxm::lookup(class, code, 0));
    match nxm {
        Some(wf) => oxm::put_header(&mut b, &wf, false),
        None => put_plain_header(&mut b, field),
    }
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Encodes actions as OVS does at `version`.
pub fn encode_actions(actions: &[Action], version: u8, out: &mut Vec<u8>) {
    if version == crate::OFP10 {
        return crate::of10::action10::encode(actions, out);
    }
    for a in actions {
        encode_one(a, version, out);
    }
}

pub(crate) fn encode_one(a: &Action, version: u8, out: &mut Vec<u8>) {
    match a {
        Action::Output(p) => {
            let at = std_start(out, t::OUTPUT);
            put32(out, oxm::port_to_of11(*p));
            put16(out, 0);
            end(out, at);
        }
        Action::Controller { max_len } => {
            let at = std_start(out, t::OUTPUT);
            put32(out, oxm::port_to_of11(port::CONTROLLER));
            put16(out, *max_len);
            end(out, at);
        }
        Action::OutputReg(sf) => {
            let sf = wire_subfield(*sf);
            let at = nx_start(out, nx::OUTPUT_REG);
            put16(out, (u16::from(sf.ofs) << 6) | (u16::from(sf.n_bits) - 1));
            put32(out, nxm_header_u32(sf.field));
            put16(out, 0);
            end(out, at);
        }
        Action::Resubmit { in_port, table, ct } => {
            let sub = match (ct, table) {
                (true, _) => nx::RESUBMIT_TABLE_CT,
                (false, None) => nx::RESUBMIT,
                (false, Some(_)) => nx::RESUBMIT_TABLE,
            };
            let at = nx_start(out, sub);
            put16(out, in_port.unwrap_or(port::IN_PORT) as u16);
            out.push(table.unwrap_or(0xff));
            end(out, at);
        }
        // goto_table is an instruction; flow_mod encodes it.
        Action::GotoTable(_) => {}
        Action::Set(sf) => encode_set(sf, version, out),
        Action::Move { src, dst } => {
            let (src, dst) = (wire_subfield(*src), wire_subfield(*dst));
            let at = if version >= OFP15 {
                let at = std_start(out, t::COPY_FIELD);
                put16(out, u16::from(src.n_bits));
                put16(out, u16::from(src.ofs));
                put16(out, u16::from(dst.ofs));
                zeros(out, 2);
                at
            } else {
                let at = nx_start(out, nx::REG_MOVE);
                put16(out, u16::from(src.n_bits));
                put16(out, u16::from(src.ofs));
                put16(out, u16::from(dst.ofs));
                at
            };
            put_plain_header(out, src.field);
            put_plain_header(out, dst.field);
            end(out, at);
        }
        Action::DecTtl => {
            // `ofp_action_header`: type, length, 4 bytes of padding.
            let at = std_start(out, t::DEC_NW_TTL);
            end(out, at);
        }
        Action::Conjunction {
            id,
            clause,
            n_clauses,
        } => {
            let at = nx_start(out, nx::CONJUNCTION);
            out.push(clause.saturating_sub(1));
            out.push(*n_clauses);
            put32(out, *id);
            end(out, at);
        }
        Action::Ct(ct) => encode_ct(ct, version, out),
        Action::CtClear => {
            let at = nx_start(out, nx::CT_CLEAR);
            end(out, at);
        }
        Action::FinTimeout { idle, hard } => {
            let at = nx_start(out, nx::FIN_TIMEOUT);
            put16(out, *idle);
            put16(out, *hard);
            zeros(out, 2);
            end(out, at);
        }
        Action::Group(g) => {
            let at = std_start(out, t::GROUP);
            put32(out, *g);
            end(out, at);
        }
        Action::Note(bytes) => {
            let at = nx_start(out, nx::NOTE);
            out.extend_from_slice(bytes);
            if out.len() - at < 16 {
                zeros(out, 16 - (out.len() - at));
            }
            end(out, at);
        }
        Action::PushVlan(et) => {
            let at = std_start(out, t::PUSH_VLAN);
            put16(out, *et);
            end(out, at);
        }
        Action::PopVlan { .. } => {
            let at = std_start(out, t::POP_VLAN);
            zeros(out, 4);
            end(out, at);
        }
        Action::Learn(l) => super::learn::encode(l, out),
        Action::Controller2(c) if c.userdata.is_empty() && !c.pause && c.meter_id.is_none() => {
            let at = nx_start(out, nx::CONTROLLER);
            put16(out, c.max_len);
            put16(out, c.id);
            out.push(c.reason);
            end(out, at);
        }
        Action::Controller2(c) => super::learn::encode_controller2(c, out),
        // OpenFlow 1.5's meter action; earlier versions carry it as an instruction (the
        // flow-mod encoder writes it), and OpenFlow 1.0 not at all.
        Action::Meter(m) if version >= OFP15 => {
            let at = std_start(out, t::METER);
            put32(out, *m);
            end(out, at);
        }
        Action::Meter(_) => {}
    }
}

/// The field, value and mask a write travels as (dl_vlan and dl_vlan_pcp are bits of
/// vlan_tci).
fn wire_set(sf: &SetField) -> (Field, u128, u128) {
    match sf.field {
        Field::DlVlan => (Field::VlanTci, sf.value | 0x1000, sf.mask | 0x1000),
        Field::DlVlanPcp => (Field::VlanTci, sf.value << 13, sf.mask << 13),
        f => (f, sf.value, sf.mask),
    }
}

/// A write as reg_load, whatever the field (OpenFlow 1.0 for fields without an action).
pub(crate) fn encode_set_as_load(sf: &SetField, out: &mut Vec<u8>) {
    let (field, value, mask) = wire_set(sf);
    encode_reg_load(field, value, mask, out);
}

fn encode_set(sf: &SetField, version: u8, out: &mut Vec<u8>) {
    let (field, value, mask) = wire_set(sf);
    // A whole `nw_tos` (`mod_nw_tos`) travels as OXM's ip_dscp from 1.2 on, as from OVS.
    if field == Field::NwTos
        && mask == field.full_mask()
        && sf.form != SetForm::Load
        && version != crate::OFP10
    {
        let dscp = SetField {
            field: Field::IpDscp,
            value: value >> 2,
            mask: Field::IpDscp.full_mask(),
            form: SetForm::SetField,
        };
        return encode_set(&dscp, version, out);
    }
    let whole = mask == field.full_mask();
    let wf = header_of(field);
    // OpenFlow 1.0 has no set-field action: every write there is a reg_load.
    if version != crate::OFP10 && (version >= OFP15 || (whole && sf.form != SetForm::Load)) {
        let at = std_start(out, t::SET_FIELD);
        put_set_entry(out, &wf, value, mask, !whole);
        end(out, at);
    } else {
        encode_reg_load(field, value, mask, out);
    }
}

/// A field write as Nicira's reg_load (or reg_load2 when it does not fit): what OpenFlow
/// 1.0 to 1.4 carry for a masked write, and 1.0 for any field without its own action.
pub(crate) fn encode_reg_load(field: Field, value: u128, mask: u128, out: &mut Vec<u8>) {
    let whole = mask == field.full_mask();
    let wf = header_of(field);
    let contiguous = mask != 0 && {
        let shifted = mask >> mask.trailing_zeros();
        shifted & (shifted + 1) == 0
    };
    if contiguous && field.bits() <= 64 && (mask.count_ones()) <= 64 {
        let ofs = mask.trailing_zeros() as u16;
        // All of arp_op is OVS's 16 bits (brisk keeps the 8 an ARP opcode uses).
        let n_bits = if whole && field == Field::ArpOp {
            16
        } else {
            mask.count_ones() as u16
        };
        let at = nx_start(out, nx::REG_LOAD);
        put16(out, (ofs << 6) | (n_bits - 1));
        put32(out, nxm_header_u32(field));
        put64(out, (value >> ofs) as u64);
        end(out, at);
    } else {
        let at = nx_start(out, nx::REG_LOAD2);
        put_set_entry(out, &wf, value, mask, !whole);
        end(out, at);
    }
}

fn put_set_entry(out: &mut Vec<u8>, wf: &WireField, value: u128, mask: u128, masked: bool) {
    oxm::put_header(out, wf, masked);
    put_be(out, oxm::value_out(wf, value), usize::from(wf.len));
    if masked {
        put_be(out, oxm::value_out(wf, mask), usize::from(wf.len));
    }
}

fn encode_ct(ct: &CtAction, version: u8, out: &mut Vec<u8>) {
    let at = nx_start(out, nx::CT);
    let mut flags = 0;
    if ct.commit {
        flags |= CT_F_COMMIT;
    }
    if ct.force {
        flags |= CT_F_FORCE;
    }
    put16(out, flags);
    match ct.zone {
        CtZone::Imm(z) => {
            put32(out, 0);
            put16(out, z);
        }
        CtZone::Field(sf) => {
            let sf = wire_subfield(sf);
            put32(out, nxm_header_u32(sf.field));
            put16(out, (u16::from(sf.ofs) << 6) | (u16::from(sf.n_bits) - 1));
        }
    }
    out.push(ct.table.unwrap_or(CT_RECIRC_NONE));
    zeros(out, 3);
    put16(out, ct.alg.unwrap_or(0));
    if let Some(nat) = &ct.nat {
        encode_nat(nat, out);
    }
    for sf in &ct.exec {
        encode_set(sf, version, out);
    }
    end(out, at);
}

fn encode_nat(nat: &Nat, out: &mut Vec<u8>) {
    let at = nx_start(out, nx::NAT);
    zeros(out, 2);
    let mut flags = match nat.kind {
        Some(NatKind::Src) => NAT_F_SRC,
        Some(NatKind::Dst) => NAT_F_DST,
        None => 0,
    };
    if nat.persistent {
        flags |= NAT_F_PERSISTENT;
    }
    if nat.hash {
        flags |= NAT_F_PROTO_HASH;
    }
    if nat.random {
        flags |= NAT_F_PROTO_RANDOM;
    }
    put16(out, flags);
    let mut present = 0u16;
    let mut body = Vec::new();
    match nat.addr {
        Some((IpRange::V4(lo), IpRange::V4(hi))) => {
            present |= NAT_RANGE_IPV4_MIN;
            put32(&mut body, lo);
            if hi != lo {
                present |= NAT_RANGE_IPV4_MAX;
                put32(&mut body, hi);
            }
        }
        Some((IpRange::V6(lo), IpRange::V6(hi))) => {
            present |= NAT_RANGE_IPV6_MIN;
            put_be(&mut body, lo, 16);
            if hi != lo {
                present |= NAT_RANGE_IPV6_MAX;
                put_be(&mut body, hi, 16);
            }
        }
        _ => {}
    }
    if let Some((lo, hi)) = nat.ports {
        present |= NAT_RANGE_PROTO_MIN;
        put16(&mut body, lo);
        if hi != lo {
            present |= NAT_RANGE_PROTO_MAX;
            put16(&mut body, hi);
        }
    }
    put16(out, present);
    out.extend_from_slice(&body);
    end(out, at);
}
