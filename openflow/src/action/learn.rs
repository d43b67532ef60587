//! Nicira's `learn` (NXAST_LEARN, NXAST_LEARN2) and `controller2` (NXAST_CONTROLLER2)
//! actions, decoded into and encoded from brisk's model byte for byte as OVS writes them.
//! The switch refuses flows that use them until its datapath runs them; the codec is
//! complete so that refusal is a decision, not a decoding failure.

use super::{bad, nx};
use crate::buf::{pad8, patch_len, put16, put32, put64, zeros, Reader};
use crate::oxm;
use crate::{errors as e, OfError, NX_VENDOR_ID};
use pipeline::field::Subfield;
use pipeline::ofctl::{Controller2, Learn, LearnDst, LearnSpec, LearnSrc};

const SRC_IMMEDIATE: u16 = 1 << 13;
const DST_MASK: u16 = 3 << 11;
const DST_MATCH: u16 = 0;
const DST_LOAD: u16 = 1 << 11;
const DST_OUTPUT: u16 = 2 << 11;
const N_BITS_MASK: u16 = 0x3ff;
const F_SEND_FLOW_REM: u16 = 1;
const F_DELETE_LEARNED: u16 = 2;
const F_WRITE_RESULT: u16 = 4;

/// A learn spec's field and offset: the header (NXM, 32 bits) and bit offset of
/// `n_bits` bits.
fn subfield(r: &mut Reader<'_>, n_bits: u16) -> Result<Subfield, OfError> {
    let h = oxm::Header::from_nxm(r.u32("learn field")?);
    let ofs = r.u16("learn field offset")?;
    super::subfield_of(&h, ofs, n_bits)
}

/// Decodes the body of NXAST_LEARN or NXAST_LEARN2 (after the subtype).
pub(super) fn decode(r: &mut Reader<'_>, learn2: bool) -> Result<Learn, OfError> {
    let mut l = Learn {
        idle_timeout: r.u16("learn idle_timeout")?,
        hard_timeout: r.u16("learn hard_timeout")?,
        priority: r.u16("learn priority")?,
        cookie: r.u64("learn cookie")?,
        flags: r.u16("learn flags")?,
        table_id: r.u8("learn table_id")?,
        fin_idle_timeout: 0,
        fin_hard_timeout: 0,
        limit: 0,
        result_dst: None,
        learn2,
        specs: Vec::new(),
    };
    if r.u8("learn pad")? != 0 || l.table_id == 0xff {
        return Err(bad(
            e::BAD_ACTION_ARGUMENT,
            "learn: nonzero pad or table 255",
        ));
    }
    l.fin_idle_timeout = r.u16("learn fin_idle_timeout")?;
    l.fin_hard_timeout = r.u16("learn fin_hard_timeout")?;
    let allowed = F_SEND_FLOW_REM | F_DELETE_LEARNED | if learn2 { F_WRITE_RESULT } else { 0 };
    if l.flags & !allowed != 0 {
        return Err(bad(
            e::BAD_ACTION_ARGUMENT,
            format!("learn flags {:#x}", l.flags),
        ));
    }
    if learn2 {
        l.limit = r.u32("learn limit")?;
        let result_ofs = r.u16("learn result_dst_ofs")?;
        if r.u16("learn pad2")? != 0 {
            return Err(bad(e::BAD_ACTION_ARGUMENT, "learn2: nonzero pad"));
        }
        if l.flags & F_WRITE_RESULT != 0 {
            let h = oxm::Header::from_nxm(r.u32("learn result_dst")?);
            l.result_dst = Some(super::subfield_of(&h, result_ofs, 1)?);
        } else if result_ofs != 0 {
            return Err(bad(
                e::BAD_ACTION_ARGUMENT,
                "learn2: result offset without result",
            ));
        }
    }
    while r.remaining() >= 2 {
        let header = r.u16("learn spec")?;
        if header == 0 {
            break;
        }
        let n_bits = header & N_BITS_MASK;
        let dst_type = header & DST_MASK;
        let imm = header & SRC_IMMEDIATE != 0;
        if n_bits == 0 || dst_type == DST_MASK || (dst_type == DST_OUTPUT && imm) {
            return Err(bad(
                e::BAD_ACTION_ARGUMENT,
                format!("learn spec {header:#06x}"),
            ));
        }
        let src = if imm {
            let n = 2 * usize::from(n_bits).div_ceil(16);
            let b = r.bytes(n, "learn immediate")?;
            let keep = usize::from(n_bits).div_ceil(8);
            LearnSrc::Imm(b[n - keep..].to_vec())
        } else {
            LearnSrc::Field(subfield(r, n_bits)?)
        };
        let dst = match dst_type {
            DST_MATCH => LearnDst::Match(subfield(r, n_bits)?),
            DST_LOAD => LearnDst::Load(subfield(r, n_bits)?),
            _ => LearnDst::Output,
        };
        l.specs.push(LearnSpec { n_bits, src, dst });
    }
    if r.rest().iter().any(|b| *b != 0) {
        return Err(bad(e::BAD_ACTION_ARGUMENT, "learn: bytes after the specs"));
    }
    Ok(l)
}

fn put_subfield(out: &mut Vec<u8>, sf: &Subfield) {
    out.extend_from_slice(&super::encode::nxm_header_u32(sf.field).to_be_bytes());
    put16(out, u16::from(sf.ofs));
}

/// Encodes NXAST_LEARN (or NXAST_LEARN2 when it came as one, has a limit or writes its
/// result, as OVS chooses).
pub(super) fn encode(l: &Learn, out: &mut Vec<u8>) {
    let at = out.len();
    let two = l.learn2 || l.limit != 0 || l.flags & F_WRITE_RESULT != 0;
    put16(out, super::t::EXPERIMENTER);
    put16(out, 0);
    put32(out, NX_VENDOR_ID);
    put16(out, if two { nx::LEARN2 } else { nx::LEARN });
    put16(out, l.idle_timeout);
    put16(out, l.hard_timeout);
    put16(out, l.priority);
    put64(out, l.cookie);
    put16(out, l.flags);
    out.push(l.table_id);
    out.push(0);
    put16(out, l.fin_idle_timeout);
    put16(out, l.fin_hard_timeout);
    if two {
        put32(out, l.limit);
        put16(out, l.result_dst.map_or(0, |d| u16::from(d.ofs)));
        zeros(out, 2);
        if let Some(d) = &l.result_dst {
            out.extend_from_slice(&super::encode::nxm_header_u32(d.field).to_be_bytes());
        }
    }
    for s in &l.specs {
        let mut header = s.n_bits & N_BITS_MASK;
        header |= match s.dst {
            LearnDst::Match(_) => DST_MATCH,
            LearnDst::Load(_) => DST_LOAD,
            LearnDst::Output => DST_OUTPUT,
        };
        if matches!(s.src, LearnSrc::Imm(_)) {
            header |= SRC_IMMEDIATE;
        }
        put16(out, header);
        match &s.src {
            LearnSrc::Field(sf) => put_subfield(out, sf),
            LearnSrc::Imm(v) => {
                let n = 2 * usize::from(s.n_bits).div_ceil(16);
                let keep = v.len().min(n);
                zeros(out, n - keep);
                out.extend_from_slice(&v[v.len() - keep..]);
            }
        }
        match &s.dst {
            LearnDst::Match(sf) | LearnDst::Load(sf) => put_subfield(out, sf),
            LearnDst::Output => {}
        }
    }
    pad8(out, at);
    patch_len(out, at + 2, at);
}

const C2_MAX_LEN: u16 = 0;
const C2_CONTROLLER_ID: u16 = 1;
const C2_REASON: u16 = 2;
const C2_USERDATA: u16 = 3;
const C2_PAUSE: u16 = 4;
const C2_METER_ID: u16 = 5;

/// Decodes NXAST_CONTROLLER2's properties (after the subtype and its 6 bytes of padding).
pub(super) fn decode_controller2(r: &mut Reader<'_>) -> Result<Controller2, OfError> {
    r.skip(6, "controller2 pad")?;
    let mut c = Controller2 {
        max_len: u16::MAX,
        id: 0,
        reason: 1,
        userdata: Vec::new(),
        pause: false,
        meter_id: None,
    };
    let props = crate::buf::props(
        r.rest(),
        (e::BAD_ACTION, e::BAD_ACTION_LEN),
        "controller2 property",
    )?;
    for (ty, body) in props {
        let mut p = Reader::new(body, (e::BAD_ACTION, e::BAD_ACTION_LEN));
        match ty {
            C2_MAX_LEN => c.max_len = p.u16("max_len")?,
            C2_CONTROLLER_ID => c.id = p.u16("controller_id")?,
            C2_REASON => c.reason = p.u8("reason")?,
            C2_USERDATA => c.userdata = body.to_vec(),
            C2_PAUSE => c.pause = true,
            C2_METER_ID => c.meter_id = Some(p.u32("meter_id")?),
            other => {
                return Err(bad(
                    e::BAD_ACTION_ARGUMENT,
                    format!("controller2 property {other}"),
                ))
            }
        }
    }
    Ok(c)
}

/// Encodes NXAST_CONTROLLER2 with the properties OVS writes (those not at their default).
pub(super) fn encode_controller2(c: &Controller2, out: &mut Vec<u8>) {
    let at = out.len();
    put16(out, super::t::EXPERIMENTER);
    put16(out, 0);
    put32(out, NX_VENDOR_ID);
    put16(out, nx::CONTROLLER2);
    zeros(out, 6);
    let prop = |out: &mut Vec<u8>, ty: u16, value: &[u8]| {
        let p = out.len();
        put16(out, ty);
        put16(out, (4 + value.len()) as u16);
        out.extend_from_slice(value);
        pad8(out, p);
    };
    // A 16-bit property's value is padded to 32 bits within its length (OVS's
    // ofpprop_put_u16); an 8-bit one's is not.
    let u16_value = |v: u16| {
        let b = v.to_be_bytes();
        [b[0], b[1], 0, 0]
    };
    if c.max_len != u16::MAX {
        prop(out, C2_MAX_LEN, &u16_value(c.max_len));
    }
    if c.id != 0 {
        prop(out, C2_CONTROLLER_ID, &u16_value(c.id));
    }
    if c.reason != 1 {
        prop(out, C2_REASON, &[c.reason]);
    }
    if !c.userdata.is_empty() {
        prop(out, C2_USERDATA, &c.userdata);
    }
    if c.pause {
        prop(out, C2_PAUSE, &[]);
    }
    if let Some(m) = c.meter_id {
        prop(out, C2_METER_ID, &m.to_be_bytes());
    }
    patch_len(out, at + 2, at);
}
