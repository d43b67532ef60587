//! OpenFlow 1.0's actions: its own output and header-rewrite actions (`mod_dl_src`,
//! `mod_nw_dst`, `strip_vlan`...), and Nicira's for everything else, written as OVS writes
//! them at 1.0 (a write to a field without its own action is a `reg_load`, `goto_table`
//! a `resubmit(,N)`, a group Nicira's group action).

use crate::action::encode::{encode_one, encode_set_as_load};
use crate::action::{decode_one, nx};
use crate::buf::{be_uint, put16, put32, zeros, Reader};
use crate::{errors as e, OfError, NX_VENDOR_ID, OFP13};
use pipeline::field::Field;
use pipeline::flow::VLAN_CFI;
use pipeline::ofctl::{port, Action, SetField, SetForm};

const OUTPUT: u16 = 0;
const SET_VLAN_VID: u16 = 1;
const SET_VLAN_PCP: u16 = 2;
const STRIP_VLAN: u16 = 3;
const SET_DL_SRC: u16 = 4;
const SET_DL_DST: u16 = 5;
const SET_NW_SRC: u16 = 6;
const SET_NW_DST: u16 = 7;
const SET_NW_TOS: u16 = 8;
const SET_TP_SRC: u16 = 9;
const SET_TP_DST: u16 = 10;
const ENQUEUE: u16 = 11;
const VENDOR: u16 = 0xffff;

fn set(field: Field, value: u128) -> Action {
    Action::Set(SetField {
        field,
        value,
        mask: field.full_mask(),
        form: SetForm::Mod,
    })
}

/// Decodes an OpenFlow 1.0 action list.
pub fn decode(bytes: &[u8]) -> Result<Vec<Action>, OfError> {
    crate::buf::tlvs(bytes, (e::BAD_ACTION, e::BAD_ACTION_LEN), "action")?
        .into_iter()
        .map(|(ty, body)| decode_action(ty, body))
        .collect()
}

fn decode_action(ty: u16, body: &[u8]) -> Result<Action, OfError> {
    let mut r = Reader::new(body, (e::BAD_ACTION, e::BAD_ACTION_LEN));
    Ok(match ty {
        OUTPUT => {
            let p = u32::from(r.u16("output port")?);
            let max_len = r.u16("output max_len")?;
            if p == 0 || (port::MAX..port::IN_PORT).contains(&p) {
                return Err(OfError::new(
                    (e::BAD_ACTION, e::BAD_ACTION_OUT_PORT),
                    format!("output to port {p:#x}"),
                ));
            }
            if p == port::CONTROLLER {
                Action::Controller { max_len }
            } else {
                Action::Output(p)
            }
        }
        SET_VLAN_VID => set(Field::DlVlan, u128::from(r.u16("vlan_vid")? & 0x0fff)),
        SET_VLAN_PCP => set(Field::DlVlanPcp, u128::from(r.u8("vlan_pcp")? & 7)),
        STRIP_VLAN => Action::PopVlan { strip: true },
        SET_DL_SRC => set(Field::EthSrc, be_uint(r.bytes(6, "dl_addr")?)),
        SET_DL_DST => set(Field::EthDst, be_uint(r.bytes(6, "dl_addr")?)),
        SET_NW_SRC => set(Field::NwSrc, u128::from(r.u32("nw_addr")?)),
        SET_NW_DST => set(Field::NwDst, u128::from(r.u32("nw_addr")?)),
        SET_NW_TOS => set(Field::NwTos, u128::from(r.u8("nw_tos")? & 0xfc)),
        SET_TP_SRC => set(Field::TpSrc, u128::from(r.u16("tp_port")?)),
        SET_TP_DST => set(Field::TpDst, u128::from(r.u16("tp_port")?)),
        ENQUEUE => {
            return Err(OfError::new(
                (e::BAD_ACTION, e::BAD_ACTION_TYPE),
                "enqueue: brisk has no queues",
            ))
        }
        // Nicira's actions: the same bytes at every version.
        VENDOR => decode_one(crate::action::t::EXPERIMENTER, body, OFP13)?,
        other => {
            return Err(OfError::new(
                (e::BAD_ACTION, e::BAD_ACTION_TYPE),
                format!("OpenFlow 1.0 action type {other}"),
            ))
        }
    })
}

fn start(out: &mut Vec<u8>, ty: u16, len: u16) {
    put16(out, ty);
    put16(out, len);
}

fn nx_start(out: &mut Vec<u8>, sub: u16) {
    start(out, VENDOR, 16);
    put32(out, NX_VENDOR_ID);
    put16(out, sub);
}

/// A write as OpenFlow 1.0's own action where the field has one and the whole field is
/// written (a `load:` stays a `reg_load`, as in OVS); `false` when it has none.
fn put_legacy_set(sf: &SetField, out: &mut Vec<u8>) -> bool {
    if sf.form == SetForm::Load || sf.mask != sf.field.full_mask() {
        return false;
    }
    let v = sf.value;
    match sf.field {
        Field::EthSrc | Field::EthDst => {
            let ty = if sf.field == Field::EthSrc {
                SET_DL_SRC
            } else {
                SET_DL_DST
            };
            start(out, ty, 16);
            out.extend_from_slice(&v.to_be_bytes()[10..]);
            zeros(out, 6);
        }
        Field::NwSrc | Field::NwDst => {
            let ty = if sf.field == Field::NwSrc {
                SET_NW_SRC
            } else {
                SET_NW_DST
            };
            start(out, ty, 8);
            put32(out, v as u32);
        }
        Field::NwTos | Field::IpDscp => {
            start(out, SET_NW_TOS, 8);
            out.push(if sf.field == Field::IpDscp {
                (v as u8) << 2
            } else {
                v as u8
            });
            zeros(out, 3);
        }
        Field::TpSrc | Field::TcpSrc | Field::UdpSrc | Field::SctpSrc => {
            start(out, SET_TP_SRC, 8);
            put16(out, v as u16);
            zeros(out, 2);
        }
        Field::TpDst | Field::TcpDst | Field::UdpDst | Field::SctpDst => {
            start(out, SET_TP_DST, 8);
            put16(out, v as u16);
            zeros(out, 2);
        }
        Field::DlVlan => {
            start(out, SET_VLAN_VID, 8);
            put16(out, v as u16);
            zeros(out, 2);
        }
        Field::DlVlanPcp => {
            start(out, SET_VLAN_PCP, 8);
            out.push(v as u8);
            zeros(out, 3);
        }
        Field::VlanTci => {
            let tci = v as u16;
            if tci & VLAN_CFI != 0 {
                start(out, SET_VLAN_VID, 8);
                put16(out, tci & 0x0fff);
                zeros(out, 2);
                start(out, SET_VLAN_PCP, 8);
                out.push((tci >> 13) as u8);
                zeros(out, 3);
            } else {
                start(out, STRIP_VLAN, 8);
                zeros(out, 4);
            }
        }
        _ => return false,
    }
    true
}

/// Encodes an action list as OVS does at OpenFlow 1.0.
pub fn encode(actions: &[Action], out: &mut Vec<u8>) {
    for a in actions {
        match a {
            Action::Output(p) => {
                start(out, OUTPUT, 8);
                put16(out, *p as u16);
                put16(out, 0);
            }
            Action::Controller { max_len } => {
                start(out, OUTPUT, 8);
                put16(out, port::CONTROLLER as u16);
                put16(out, *max_len);
            }
            Action::Set(sf) => {
                if !put_legacy_set(sf, out) {
                    encode_set_as_load(sf, out);
                }
            }
            Action::GotoTable(t) => {
                nx_start(out, nx::RESUBMIT_TABLE);
                put16(out, port::IN_PORT as u16);
                out.push(*t);
                zeros(out, 3);
            }
            Action::DecTtl => {
                nx_start(out, nx::DEC_TTL);
                zeros(out, 6);
            }
            Action::Group(g) => {
                nx_start(out, nx::GROUP);
                zeros(out, 2);
                put32(out, *g);
            }
            // OpenFlow 1.0 pushes a tag as a side effect of setting its VLAN id.
            Action::PushVlan(_) => {}
            Action::PopVlan { .. } => {
                start(out, STRIP_VLAN, 8);
                zeros(out, 4);
            }
            other => encode_one(other, crate::OFP10, out),
        }
    }
}
