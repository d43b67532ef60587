//! Actions: OpenFlow 1.3/1.5 standard actions and the Nicira actions OVS and Antrea use,
//! decoded into and encoded from `pipeline::ofctl::Action`.
//!
//! The encoder writes what OVS writes for the same action at the same version (OpenFlow 1.5
//! has masked Set-Field and Copy-Field, so `load` and `move` travel as those; 1.3 uses
//! NXAST_REG_LOAD and NXAST_REG_MOVE), so `ovs-ofctl dump-flows` prints brisk's flows as it
//! prints OVS's.

pub(crate) mod encode;
mod learn;

pub use encode::encode_actions;

use crate::buf::{be_uint, Reader};
use crate::oxm::{self, Kind, WireField};
use crate::{errors as e, OfError, NX_VENDOR_ID, OFP15};
use pipeline::field::{Field, Subfield};
use pipeline::ofctl::{port, Action, CtAction, CtZone, IpRange, Nat, NatKind, SetField, SetForm};

/// Standard action types.
pub mod t {
    /// OFPAT_OUTPUT.
    pub const OUTPUT: u16 = 0;
    /// OFPAT_PUSH_VLAN.
    pub const PUSH_VLAN: u16 = 17;
    /// OFPAT_POP_VLAN.
    pub const POP_VLAN: u16 = 18;
    /// OFPAT_GROUP.
    pub const GROUP: u16 = 22;
    /// OFPAT_DEC_NW_TTL.
    pub const DEC_NW_TTL: u16 = 24;
    /// OFPAT_SET_FIELD.
    pub const SET_FIELD: u16 = 25;
    /// OFPAT_COPY_FIELD (OpenFlow 1.5).
    pub const COPY_FIELD: u16 = 28;
    /// OFPAT_METER (OpenFlow 1.5).
    pub const METER: u16 = 29;
    /// OFPAT_EXPERIMENTER.
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// Nicira action subtypes (NXAST_*).
pub mod nx {
    /// NXAST_RESUBMIT.
    pub const RESUBMIT: u16 = 1;
    /// NXAST_REG_MOVE.
    pub const REG_MOVE: u16 = 6;
    /// NXAST_REG_LOAD.
    pub const REG_LOAD: u16 = 7;
    /// NXAST_NOTE.
    pub const NOTE: u16 = 8;
    /// NXAST_RESUBMIT_TABLE.
    pub const RESUBMIT_TABLE: u16 = 14;
    /// NXAST_OUTPUT_REG.
    pub const OUTPUT_REG: u16 = 15;
    /// NXAST_LEARN.
    pub const LEARN: u16 = 16;
    /// NXAST_DEC_TTL.
    pub const DEC_TTL: u16 = 18;
    /// NXAST_FIN_TIMEOUT.
    pub const FIN_TIMEOUT: u16 = 19;
    /// NXAST_CONTROLLER.
    pub const CONTROLLER: u16 = 20;
    /// NXAST_DEC_TTL_CNT_IDS.
    pub const DEC_TTL_CNT_IDS: u16 = 21;
    /// NXAST_OUTPUT_REG2.
    pub const OUTPUT_REG2: u16 = 32;
    /// NXAST_REG_LOAD2.
    pub const REG_LOAD2: u16 = 33;
    /// NXAST_CONJUNCTION.
    pub const CONJUNCTION: u16 = 34;
    /// NXAST_CT.
    pub const CT: u16 = 35;
    /// NXAST_NAT.
    pub const NAT: u16 = 36;
    /// NXAST_CONTROLLER2.
    pub const CONTROLLER2: u16 = 37;
    /// NXAST_GROUP (OpenFlow 1.0's group action).
    pub const GROUP: u16 = 40;
    /// NXAST_CT_CLEAR.
    pub const CT_CLEAR: u16 = 43;
    /// NXAST_RESUBMIT_TABLE_CT.
    pub const RESUBMIT_TABLE_CT: u16 = 44;
    /// NXAST_LEARN2.
    pub const LEARN2: u16 = 45;
}

const CT_F_COMMIT: u16 = 1;
const CT_F_FORCE: u16 = 2;
const CT_RECIRC_NONE: u8 = 0xff;
const NAT_F_SRC: u16 = 1;
const NAT_F_DST: u16 = 2;
const NAT_F_PERSISTENT: u16 = 4;
const NAT_F_PROTO_HASH: u16 = 8;
const NAT_F_PROTO_RANDOM: u16 = 16;
const NAT_RANGE_IPV4_MIN: u16 = 1;
const NAT_RANGE_IPV4_MAX: u16 = 2;
const NAT_RANGE_IPV6_MIN: u16 = 4;
const NAT_RANGE_IPV6_MAX: u16 = 8;
const NAT_RANGE_PROTO_MIN: u16 = 16;
const NAT_RANGE_PROTO_MAX: u16 = 32;

fn bad(code: u16, msg: impl Into<String>) -> OfError {
    OfError::new((e::BAD_ACTION, code), msg)
}

/// Decodes a list of actions (an instruction's body, a packet-out's or a bucket's actions).
pub fn decode_actions(bytes: &[u8], version: u8) -> Result<Vec<Action>, OfError> {
    if version == crate::OFP10 {
        return crate::of10::action10::decode(bytes);
    }
    crate::buf::tlvs(bytes, (e::BAD_ACTION, e::BAD_ACTION_LEN), "action")?
        .into_iter()
        .map(|(ty, body)| decode_one(ty, body, version))
        .collect()
}

pub(crate) fn decode_one(ty: u16, body: &[u8], version: u8) -> Result<Action, OfError> {
    let mut r = Reader::new(body, (e::BAD_ACTION, e::BAD_ACTION_LEN));
    match ty {
        t::OUTPUT => {
            let p = r.u32("output port")?;
            let max_len = r.u16("output max_len")?;
            let p = oxm::port_from_of11(p)
                .ok_or_else(|| bad(e::BAD_ACTION_OUT_PORT, format!("output to port {p:#x}")))?;
            if p == 0 {
                return Err(bad(e::BAD_ACTION_OUT_PORT, "output to port 0"));
            }
            Ok(if p == port::CONTROLLER {
                Action::Controller { max_len }
            } else {
                Action::Output(p)
            })
        }
        t::GROUP => Ok(Action::Group(r.u32("group id")?)),
        t::PUSH_VLAN => {
            let et = r.u16("push_vlan ethertype")?;
            if et != 0x8100 && et != 0x88a8 {
                return Err(bad(e::BAD_ACTION_ARGUMENT, format!("push_vlan:{et:#06x}")));
            }
            Ok(Action::PushVlan(et))
        }
        t::POP_VLAN => Ok(Action::PopVlan { strip: false }),
        t::DEC_NW_TTL => Ok(Action::DecTtl),
        t::SET_FIELD => decode_set_field(&mut r, version >= OFP15, SetForm::SetField),
        t::COPY_FIELD if version >= OFP15 => {
            let n_bits = r.u16("copy_field n_bits")?;
            let src_ofs = r.u16("copy_field src_offset")?;
            let dst_ofs = r.u16("copy_field dst_offset")?;
            r.skip(2, "copy_field pad")?;
            let src = read_subfield_header(&mut r, src_ofs, n_bits)?;
            let dst = read_subfield_header(&mut r, dst_ofs, n_bits)?;
            move_action(src, dst)
        }
        t::METER if version >= OFP15 => Ok(Action::Meter(r.u32("meter_id")?)),
        t::EXPERIMENTER => {
            let vendor = r.u32("experimenter id")?;
            if vendor != NX_VENDOR_ID {
                return Err(bad(
                    e::BAD_ACTION_EXPERIMENTER,
                    format!("experimenter {vendor:#010x}"),
                ));
            }
            let sub = r.u16("nicira subtype")?;
            decode_nx(sub, &mut r, version)
        }
        _ => Err(bad(e::BAD_ACTION_TYPE, format!("action type {ty}"))),
    }
}

fn decode_nx(sub: u16, r: &mut Reader<'_>, version: u8) -> Result<Action, OfError> {
    match sub {
        nx::RESUBMIT | nx::RESUBMIT_TABLE | nx::RESUBMIT_TABLE_CT => {
            let in_port = u32::from(r.u16("resubmit in_port")?);
            let table = if sub == nx::RESUBMIT {
                0xff
            } else {
                r.u8("resubmit table")?
            };
            if sub != nx::RESUBMIT && r.bytes(3, "resubmit pad")? != [0, 0, 0] {
                return Err(bad(e::BAD_ACTION_ARGUMENT, "resubmit: non-zero padding"));
            }
            if sub == nx::RESUBMIT_TABLE_CT && table == 0xff {
                return Err(bad(e::BAD_ACTION_ARGUMENT, "resubmit(,,ct) needs a table"));
            }
            Ok(Action::Resubmit {
                in_port: (in_port != port::IN_PORT).then_some(in_port),
                table: (table != 0xff).then_some(table),
                ct: sub == nx::RESUBMIT_TABLE_CT,
            })
        }
        nx::REG_MOVE => {
            let n_bits = r.u16("reg_move n_bits")?;
            let src_ofs = r.u16("reg_move src_ofs")?;
            let dst_ofs = r.u16("reg_move dst_ofs")?;
            let src = read_subfield_header(r, src_ofs, n_bits)?;
            let dst = read_subfield_header(r, dst_ofs, n_bits)?;
            move_action(src, dst)
        }
        nx::REG_LOAD => {
            let ofs_nbits = r.u16("reg_load ofs_nbits")?;
            let h = r.u32("reg_load dst")?;
            let value = r.u64("reg_load value")?;
            let hdr = oxm::Header::from_nxm(h);
            let (ofs, n_bits) = (ofs_nbits >> 6, (ofs_nbits & 0x3f) + 1);
            let dst = subfield_of(&hdr, ofs, n_bits)?;
            let n_bits = u16::from(dst.n_bits);
            if n_bits < 64 && value >> n_bits != 0 {
                return Err(bad(
                    e::BAD_ACTION_ARGUMENT,
                    format!("load: {value:#x} does not fit {n_bits} bits"),
                ));
            }
            writable(dst.field)?;
            Ok(Action::Set(SetField {
                field: dst.field,
                value: u128::from(value) << ofs,
                mask: dst.mask(),
                form: SetForm::Load,
            }))
        }
        nx::REG_LOAD2 => decode_set_field(r, true, SetForm::Load),
        nx::NOTE => Ok(Action::Note(r.rest().to_vec())),
        nx::DEC_TTL => Ok(Action::DecTtl),
        nx::DEC_TTL_CNT_IDS => {
            let n = r.u16("dec_ttl n_controllers")?;
            r.skip(4, "dec_ttl zeros")?;
            for _ in 0..n {
                r.u16("dec_ttl controller id")?;
            }
            Ok(Action::DecTtl)
        }
        nx::OUTPUT_REG | nx::OUTPUT_REG2 => {
            let ofs_nbits = r.u16("output_reg ofs_nbits")?;
            let (ofs, n_bits) = (ofs_nbits >> 6, (ofs_nbits & 0x3f) + 1);
            let src = if sub == nx::OUTPUT_REG {
                let h = r.u32("output_reg src")?;
                let hdr = oxm::Header::from_nxm(h);
                r.u16("output_reg max_len")?;
                subfield_of(&hdr, ofs, n_bits)?
            } else {
                r.u16("output_reg2 max_len")?;
                read_subfield_header(r, ofs, n_bits)?
            };
            Ok(Action::OutputReg(src))
        }
        nx::CONJUNCTION => {
            let clause = r.u8("conjunction clause")?;
            let n_clauses = r.u8("conjunction n_clauses")?;
            let id = r.u32("conjunction id")?;
            if !(2..=64).contains(&n_clauses) || clause >= n_clauses {
                return Err(bad(
                    e::BAD_ACTION_ARGUMENT,
                    format!("conjunction clause {clause} of {n_clauses}"),
                ));
            }
            Ok(Action::Conjunction {
                id,
                clause: clause + 1,
                n_clauses,
            })
        }
        nx::CT => decode_ct(r, version),
        nx::NAT => Err(bad(
            e::BAD_ACTION_ARGUMENT,
            "nat outside ct(...) (OVS allows it only inside ct)",
        )),
        nx::CT_CLEAR => Ok(Action::CtClear),
        nx::FIN_TIMEOUT => {
            let idle = r.u16("fin_timeout idle")?;
            let hard = r.u16("fin_timeout hard")?;
            r.skip(2, "fin_timeout pad")?;
            Ok(Action::FinTimeout { idle, hard })
        }
        // OpenFlow 1.0 has no group action: OVS sends Nicira's, the group id in the last
        // 4 bytes of the 16 (after 2 bytes of padding).
        nx::GROUP => {
            r.skip(2, "group pad")?;
            Ok(Action::Group(r.u32("group id")?))
        }
        nx::CONTROLLER => {
            let max_len = r.u16("controller max_len")?;
            let id = r.u16("controller id")?;
            let reason = r.u8("controller reason")?;
            Ok(controller_action(pipeline::ofctl::Controller2 {
                max_len,
                id,
                reason,
                userdata: Vec::new(),
                pause: false,
                meter_id: None,
            }))
        }
        nx::CONTROLLER2 => Ok(controller_action(learn::decode_controller2(r)?)),
        nx::LEARN | nx::LEARN2 => Ok(Action::Learn(Box::new(learn::decode(
            r,
            sub == nx::LEARN2,
        )?))),
        _ => Err(bad(e::BAD_ACTION_EXP_TYPE, format!("nicira action {sub}"))),
    }
}

/// A controller action as the model holds it: OFPR_ACTION to every controller without
/// options is the plain output to CONTROLLER (and is sent back so, as OVS does).
fn controller_action(c: pipeline::ofctl::Controller2) -> Action {
    if c.id == 0 && c.reason == 1 && c.userdata.is_empty() && !c.pause && c.meter_id.is_none() {
        Action::Controller { max_len: c.max_len }
    } else {
        Action::Controller2(Box::new(c))
    }
}

fn writable(f: Field) -> Result<(), OfError> {
    if f.desc().writable {
        Ok(())
    } else {
        Err(bad(
            e::BAD_ACTION_SET_ARGUMENT,
            format!("{} cannot be written", f.name()),
        ))
    }
}

fn move_action(src: Subfield, dst: Subfield) -> Result<Action, OfError> {
    writable(dst.field)?;
    Ok(Action::Move { src, dst })
}

/// A subfield from a header and an offset and width, checked against the field.
fn subfield_of(h: &oxm::Header, ofs: u16, n_bits: u16) -> Result<Subfield, OfError> {
    let f = oxm::field_of(h, e::BAD_ACTION)?;
    let field = wire_subfield_field(&f);
    // OXM_OF_IN_PORT is OVS's `in_port_oxm`: its bits are an OpenFlow 1.1 number, while
    // the port a packet carries has 16 (NXM_OF_IN_PORT's).
    let bits = if f.kind == Kind::Port32 {
        16
    } else {
        field.bits().min(u32::from(f.len) * 8)
    };
    // All of OVS's 16-bit arp_op is all of brisk's (which keeps the 8 bits an opcode uses).
    let n_bits = if field == Field::ArpOp && ofs == 0 && n_bits == 16 {
        bits as u16
    } else {
        n_bits
    };
    if n_bits == 0 || u32::from(ofs) + u32::from(n_bits) > bits {
        return Err(bad(
            e::BAD_ACTION_ARGUMENT,
            format!(
                "{}[{}..{}] is outside the field's {bits} bits",
                field.name(),
                ofs,
                u32::from(ofs) + u32::from(n_bits).max(1) - 1
            ),
        ));
    }
    Ok(Subfield {
        field,
        ofs: ofs as u8,
        n_bits: n_bits as u8,
    })
}

fn wire_subfield_field(f: &WireField) -> Field {
    match f.kind {
        Kind::VlanPcp => Field::DlVlanPcp,
        _ => f.field,
    }
}

fn read_subfield_header(r: &mut Reader<'_>, ofs: u16, n_bits: u16) -> Result<Subfield, OfError> {
    let h = oxm::read_header(r)?;
    subfield_of(&h, ofs, n_bits)
}

/// Set-Field (and NXAST_REG_LOAD2): one OXM entry, masked only where allowed, then padding.
fn decode_set_field(r: &mut Reader<'_>, may_mask: bool, form: SetForm) -> Result<Action, OfError> {
    let h = oxm::read_header(r)?;
    let f = oxm::field_of(&h, e::BAD_ACTION)?;
    if h.hasmask && f.kind == Kind::Port32 {
        return Err(bad(
            e::BAD_ACTION_SET_ARGUMENT,
            "set_field in_port_oxm: a port number cannot be masked",
        ));
    }
    if h.hasmask && !may_mask {
        return Err(bad(
            e::BAD_ACTION_SET_ARGUMENT,
            format!("set_field {}: a mask needs OpenFlow 1.5", f.field.name()),
        ));
    }
    let (raw, raw_mask) = oxm::read_value(r, &h, &f, (e::BAD_ACTION, e::BAD_ACTION_SET_LEN))
        .map_err(|x| bad(x.code, format!("set_field {}", x.message)))?;
    let (field, value, mask) = match f.kind {
        Kind::VlanVid => (
            Field::DlVlan,
            raw & 0xfff,
            raw_mask.unwrap_or(0xfff) & 0xfff,
        ),
        Kind::VlanPcp => (Field::DlVlanPcp, raw & 7, raw_mask.unwrap_or(7) & 7),
        _ => {
            let v = oxm::value_in(&f, raw).ok_or_else(|| {
                bad(
                    e::BAD_ACTION_SET_ARGUMENT,
                    format!("set_field {}: value out of range", f.field.name()),
                )
            })?;
            let mk = match raw_mask {
                Some(m) => oxm::value_in(&f, m).ok_or_else(|| {
                    bad(
                        e::BAD_ACTION_SET_ARGUMENT,
                        format!("set_field {}: mask out of range", f.field.name()),
                    )
                })?,
                None => f.field.full_mask(),
            };
            (f.field, v, mk)
        }
    };
    writable(field)?;
    if r.rest().iter().any(|&b| b != 0) {
        return Err(bad(
            e::BAD_ACTION_SET_ARGUMENT,
            "set_field: non-zero padding",
        ));
    }
    Ok(Action::Set(SetField {
        field,
        value: value & mask,
        mask,
        form,
    }))
}

fn decode_ct(r: &mut Reader<'_>, version: u8) -> Result<Action, OfError> {
    let flags = r.u16("ct flags")?;
    let zone_src = r.u32("ct zone_src")?;
    let zone_arg = r.u16("ct zone")?;
    let recirc = r.u8("ct recirc_table")?;
    r.skip(3, "ct pad")?;
    let alg = r.u16("ct alg")?;
    if flags & !(CT_F_COMMIT | CT_F_FORCE) != 0 {
        return Err(bad(e::BAD_ACTION_ARGUMENT, format!("ct flags {flags:#x}")));
    }
    let zone = if zone_src == 0 {
        CtZone::Imm(zone_arg)
    } else {
        let hdr = oxm::Header::from_nxm(zone_src);
        let sf = subfield_of(&hdr, zone_arg >> 6, (zone_arg & 0x3f) + 1)?;
        if sf.n_bits != 16 {
            return Err(bad(
                e::BAD_ACTION_ARGUMENT,
                format!("ct zone field must be 16 bits wide, not {}", sf.n_bits),
            ));
        }
        CtZone::Field(sf)
    };
    let mut ct = CtAction {
        commit: flags & CT_F_COMMIT != 0,
        force: flags & CT_F_FORCE != 0,
        table: (recirc != CT_RECIRC_NONE).then_some(recirc),
        zone,
        nat: None,
        exec: Vec::new(),
        alg: (alg != 0).then_some(alg),
    };
    let nested = crate::buf::tlvs(
        r.rest(),
        (e::BAD_ACTION, e::BAD_ACTION_LEN),
        "ct nested action",
    )?;
    for (ty, body) in nested {
        let mut br = Reader::new(body, (e::BAD_ACTION, e::BAD_ACTION_LEN));
        if ty == t::EXPERIMENTER
            && br.u32("experimenter")? == NX_VENDOR_ID
            && br.u16("subtype")? == nx::NAT
        {
            if ct.nat.is_some() {
                return Err(bad(e::BAD_ACTION_ARGUMENT, "ct: two nat actions"));
            }
            ct.nat = Some(decode_nat(&mut br)?);
            continue;
        }
        match decode_one(ty, body, version)? {
            Action::Set(sf) if matches!(sf.field, Field::CtMark | Field::CtLabel) => {
                if !ct.commit {
                    return Err(bad(
                        e::BAD_ACTION_ARGUMENT,
                        "ct: exec(...) writes ct_mark/ct_label only with commit",
                    ));
                }
                ct.exec.push(sf)
            }
            other => {
                return Err(bad(
                    e::BAD_ACTION_ARGUMENT,
                    format!(
                        "ct: only nat and writes of ct_mark/ct_label may be nested, not {}",
                        action_name(&other)
                    ),
                ))
            }
        }
    }
    Ok(Action::Ct(Box::new(ct)))
}

fn action_name(a: &Action) -> &'static str {
    match a {
        Action::Output(_) => "output",
        Action::Controller { .. } => "controller",
        Action::OutputReg(_) => "output_reg",
        Action::Resubmit { .. } => "resubmit",
        Action::GotoTable(_) => "goto_table",
        Action::Set(_) => "set_field",
        Action::Move { .. } => "move",
        Action::DecTtl => "dec_ttl",
        Action::Conjunction { .. } => "conjunction",
        Action::Ct(_) => "ct",
        Action::CtClear => "ct_clear",
        Action::Group(_) => "group",
        Action::Note(_) => "note",
        Action::PushVlan(_) => "push_vlan",
        Action::PopVlan { .. } => "pop_vlan",
        Action::Learn(_) => "learn",
        Action::Controller2(_) => "controller",
        Action::Meter(_) => "meter",
        Action::FinTimeout { .. } => "fin_timeout",
    }
}

fn decode_nat(r: &mut Reader<'_>) -> Result<Nat, OfError> {
    r.skip(2, "nat pad")?;
    let flags = r.u16("nat flags")?;
    let present = r.u16("nat range_present")?;
    let kind = match (flags & NAT_F_SRC != 0, flags & NAT_F_DST != 0) {
        (true, true) => return Err(bad(e::BAD_ACTION_ARGUMENT, "nat: both src and dst")),
        (true, false) => Some(NatKind::Src),
        (false, true) => Some(NatKind::Dst),
        (false, false) => None,
    };
    let v4 = present & (NAT_RANGE_IPV4_MIN | NAT_RANGE_IPV4_MAX) != 0;
    let v6 = present & (NAT_RANGE_IPV6_MIN | NAT_RANGE_IPV6_MAX) != 0;
    if v4 && v6 {
        return Err(bad(e::BAD_ACTION_ARGUMENT, "nat: IPv4 and IPv6 ranges"));
    }
    let mut addr = None;
    if present & NAT_RANGE_IPV4_MIN != 0 {
        let lo = r.u32("nat ipv4 min")?;
        let hi = if present & NAT_RANGE_IPV4_MAX != 0 {
            r.u32("nat ipv4 max")?
        } else {
            lo
        };
        addr = Some((IpRange::V4(lo), IpRange::V4(hi.max(lo))));
    } else if present & NAT_RANGE_IPV6_MIN != 0 {
        let lo = be_uint(r.bytes(16, "nat ipv6 min")?);
        let hi = if present & NAT_RANGE_IPV6_MAX != 0 {
            be_uint(r.bytes(16, "nat ipv6 max")?)
        } else {
            lo
        };
        addr = Some((IpRange::V6(lo), IpRange::V6(hi.max(lo))));
    }
    let mut ports = None;
    if present & NAT_RANGE_PROTO_MIN != 0 {
        let lo = r.u16("nat port min")?;
        let hi = if present & NAT_RANGE_PROTO_MAX != 0 {
            r.u16("nat port max")?
        } else {
            lo
        };
        ports = Some((lo, hi.max(lo)));
    }
    if (addr.is_some() || ports.is_some()) && kind.is_none() {
        return Err(bad(e::BAD_ACTION_ARGUMENT, "nat: a range needs src or dst"));
    }
    Ok(Nat {
        kind,
        addr,
        ports,
        persistent: flags & NAT_F_PERSISTENT != 0,
        hash: flags & NAT_F_PROTO_HASH != 0,
        random: flags & NAT_F_PROTO_RANDOM != 0,
    })
}
