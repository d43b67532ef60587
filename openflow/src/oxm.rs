//! OXM and NXM: the type-length-value encoding of matches and of the fields actions name.
//!
//! A header is `class:16 | field:7 | hasmask:1 | length:8`. brisk reads every header OVS
//! reads for the fields its flow model has (OpenFlow basic, Nicira's NXM_OF/NXM_NX, the
//! packet-register class and ONF's experimenter TCP flags), and writes the one OVS prefers,
//! so `ovs-ofctl` and any controller decode what brisk sends.

use crate::buf::{be_uint, put32, put_be, Reader};
use crate::{errors as e, OfError};
use pipeline::field::{prereq_holds, Field};
use pipeline::flow::{eth_type, ip_proto, VLAN_CFI};
use pipeline::ofctl::Match;

/// NXM_OF: OpenFlow 1.0 fields in NXM.
pub const CLASS_NXM0: u16 = 0x0000;
/// NXM_NX: Nicira's fields.
pub const CLASS_NXM1: u16 = 0x0001;
/// OpenFlow basic.
pub const CLASS_OF: u16 = 0x8000;
/// OpenFlow 1.5 packet registers (`xreg`).
pub const CLASS_PKT_REGS: u16 = 0x8001;
/// Experimenter: an experimenter id follows the header.
pub const CLASS_EXPERIMENTER: u16 = 0xffff;
/// ONF's experimenter id.
pub const ONF_EXPERIMENTER: u32 = 0x4f4e_4600;

/// How a wire field's value maps onto brisk's field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// The value is the field's value.
    Plain,
    /// OpenFlow 1.1+ 32-bit port number (reserved ports at `0xfffffff8..`).
    Port32,
    /// `OXM_OF_VLAN_VID`: 12-bit VID plus the present bit, into `vlan_tci`'s low 13 bits.
    VlanVid,
    /// `OXM_OF_VLAN_PCP`: 3 bits, into `vlan_tci`'s top 3 bits.
    VlanPcp,
}

/// One field as the wire names it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct WireField {
    /// brisk's field.
    pub field: Field,
    /// OXM class.
    pub class: u16,
    /// Field number in the class.
    pub code: u8,
    /// Experimenter id (class `0xffff` only).
    pub experimenter: u32,
    /// Value length in bytes.
    pub len: u8,
    /// Whether a mask may follow.
    pub maskable: bool,
    /// Value mapping.
    pub kind: Kind,
}

const fn wf(field: Field, class: u16, code: u8, len: u8, maskable: bool) -> WireField {
    WireField {
        field,
        class,
        code,
        experimenter: 0,
        len,
        maskable,
        kind: Kind::Plain,
    }
}

/// Looks up a header's field: `(class, code, experimenter)`.
pub fn lookup(class: u16, code: u8, experimenter: u32) -> Option<WireField> {
    use Field as F;
    Some(match (class, code) {
        (CLASS_NXM0, 0) => wf(F::InPort, class, code, 2, false),
        (CLASS_NXM0, 1) => wf(F::EthDst, class, code, 6, true),
        (CLASS_NXM0, 2) => wf(F::EthSrc, class, code, 6, true),
        (CLASS_NXM0, 3) => wf(F::EthType, class, code, 2, false),
        (CLASS_NXM0, 4) => wf(F::VlanTci, class, code, 2, true),
        (CLASS_NXM0, 5) => wf(F::NwTos, class, code, 1, false),
        (CLASS_NXM0, 6) => wf(F::NwProto, class, code, 1, false),
        (CLASS_NXM0, 7) => wf(F::NwSrc, class, code, 4, true),
        (CLASS_NXM0, 8) => wf(F::NwDst, class, code, 4, true),
        (CLASS_NXM0, 9) => wf(F::TcpSrc, class, code, 2, true),
        (CLASS_NXM0, 10) => wf(F::TcpDst, class, code, 2, true),
        (CLASS_NXM0, 11) => wf(F::UdpSrc, class, code, 2, true),
        (CLASS_NXM0, 12) => wf(F::UdpDst, class, code, 2, true),
        (CLASS_NXM0, 13) => wf(F::IcmpType, class, code, 1, false),
        (CLASS_NXM0, 14) => wf(F::IcmpCode, class, code, 1, false),
        (CLASS_NXM0, 15) => wf(F::ArpOp, class, code, 2, false),
        (CLASS_NXM0, 16) => wf(F::ArpSpa, class, code, 4, true),
        (CLASS_NXM0, 17) => wf(F::ArpTpa, class, code, 4, true),
        (CLASS_NXM1, n @ 0..=15) => wf(F::Reg(n), class, code, 4, true),
        (CLASS_NXM1, 16) => wf(F::TunId, class, code, 8, true),
        (CLASS_NXM1, 17) => wf(F::ArpSha, class, code, 6, true),
        (CLASS_NXM1, 18) => wf(F::ArpTha, class, code, 6, true),
        (CLASS_NXM1, 19) => wf(F::Ipv6Src, class, code, 16, true),
        (CLASS_NXM1, 20) => wf(F::Ipv6Dst, class, code, 16, true),
        (CLASS_NXM1, 21) => wf(F::Icmpv6Type, class, code, 1, false),
        (CLASS_NXM1, 22) => wf(F::Icmpv6Code, class, code, 1, false),
        (CLASS_NXM1, 23) => wf(F::NdTarget, class, code, 16, true),
        (CLASS_NXM1, 24) => wf(F::NdSll, class, code, 6, true),
        (CLASS_NXM1, 25) => wf(F::NdTll, class, code, 6, true),
        (CLASS_NXM1, 26) => wf(F::NwFrag, class, code, 1, true),
        (CLASS_NXM1, 27) => wf(F::Ipv6Label, class, code, 4, true),
        (CLASS_NXM1, 28) => wf(F::NwEcn, class, code, 1, false),
        (CLASS_NXM1, 29) => wf(F::NwTtl, class, code, 1, false),
        (CLASS_NXM1, 31) => wf(F::TunSrc, class, code, 4, true),
        (CLASS_NXM1, 32) => wf(F::TunDst, class, code, 4, true),
        (CLASS_NXM1, 33) => wf(F::PktMark, class, code, 4, true),
        (CLASS_NXM1, 34) => wf(F::TcpFlags, class, code, 2, true),
        (CLASS_NXM1, 36) => wf(F::RecircId, class, code, 4, false),
        (CLASS_NXM1, 37) => wf(F::ConjId, class, code, 4, false),
        (CLASS_NXM1, n @ 40..=47) => wf(F::TunMetadata(n - 40), class, code, 8, true),
        (CLASS_NXM1, 104) => wf(F::TunFlags, class, code, 2, true),
        (CLASS_NXM1, 105) => wf(F::CtState, class, code, 4, true),
        (CLASS_NXM1, 106) => wf(F::CtZone, class, code, 2, false),
        (CLASS_NXM1, 107) => wf(F::CtMark, class, code, 4, true),
        (CLASS_NXM1, 108) => wf(F::CtLabel, class, code, 16, true),
        (CLASS_NXM1, n @ 111..=114) => wf(F::Xxreg(n - 111), class, code, 16, true),
        (CLASS_OF, 0) => WireField {
            kind: Kind::Port32,
            ..wf(F::InPort, class, code, 4, false)
        },
        (CLASS_OF, 2) => wf(F::Metadata, class, code, 8, true),
        (CLASS_OF, 3) => wf(F::EthDst, class, code, 6, true),
        (CLASS_OF, 4) => wf(F::EthSrc, class, code, 6, true),
        (CLASS_OF, 5) => wf(F::EthType, class, code, 2, false),
        (CLASS_OF, 6) => WireField {
            kind: Kind::VlanVid,
            ..wf(F::VlanTci, class, code, 2, true)
        },
        (CLASS_OF, 7) => WireField {
            kind: Kind::VlanPcp,
            ..wf(F::VlanTci, class, code, 1, false)
        },
        (CLASS_OF, 8) => wf(F::IpDscp, class, code, 1, false),
        (CLASS_OF, 9) => wf(F::NwEcn, class, code, 1, false),
        (CLASS_OF, 10) => wf(F::NwProto, class, code, 1, false),
        (CLASS_OF, 11) => wf(F::NwSrc, class, code, 4, true),
        (CLASS_OF, 12) => wf(F::NwDst, class, code, 4, true),
        (CLASS_OF, 13) => wf(F::TcpSrc, class, code, 2, true),
        (CLASS_OF, 14) => wf(F::TcpDst, class, code, 2, true),
        (CLASS_OF, 15) => wf(F::UdpSrc, class, code, 2, true),
        (CLASS_OF, 16) => wf(F::UdpDst, class, code, 2, true),
        (CLASS_OF, 17) => wf(F::SctpSrc, class, code, 2, true),
        (CLASS_OF, 18) => wf(F::SctpDst, class, code, 2, true),
        (CLASS_OF, 19) => wf(F::IcmpType, class, code, 1, false),
        (CLASS_OF, 20) => wf(F::IcmpCode, class, code, 1, false),
        (CLASS_OF, 21) => wf(F::ArpOp, class, code, 2, false),
        (CLASS_OF, 22) => wf(F::ArpSpa, class, code, 4, true),
        (CLASS_OF, 23) => wf(F::ArpTpa, class, code, 4, true),
        (CLASS_OF, 24) => wf(F::ArpSha, class, code, 6, true),
        (CLASS_OF, 25) => wf(F::ArpTha, class, code, 6, true),
        (CLASS_OF, 26) => wf(F::Ipv6Src, class, code, 16, true),
        (CLASS_OF, 27) => wf(F::Ipv6Dst, class, code, 16, true),
        (CLASS_OF, 28) => wf(F::Ipv6Label, class, code, 4, true),
        (CLASS_OF, 29) => wf(F::Icmpv6Type, class, code, 1, false),
        (CLASS_OF, 30) => wf(F::Icmpv6Code, class, code, 1, false),
        (CLASS_OF, 31) => wf(F::NdTarget, class, code, 16, true),
        (CLASS_OF, 32) => wf(F::NdSll, class, code, 6, true),
        (CLASS_OF, 33) => wf(F::NdTll, class, code, 6, true),
        (CLASS_OF, 38) => wf(F::TunId, class, code, 8, true),
        (CLASS_OF, 42) => wf(F::TcpFlags, class, code, 2, true),
        (CLASS_PKT_REGS, n @ 0..=7) => wf(F::Xreg(n), class, code, 8, true),
        (CLASS_EXPERIMENTER, 42) if experimenter == ONF_EXPERIMENTER => WireField {
            experimenter,
            ..wf(F::TcpFlags, class, code, 2, true)
        },
        _ => return None,
    })
}

/// The header OVS prefers for a field (OpenFlow basic where one exists, else NXM), for
/// actions that name a whole field or a subfield of it.
pub fn preferred(field: Field) -> Option<WireField> {
    use Field as F;
    let (class, code) = match field {
        // OXM_OF_IN_PORT is OVS's `in_port_oxm`, another field: actions name NXM's.
        F::InPort => (CLASS_NXM0, 0),
        F::Metadata => (CLASS_OF, 2),
        F::EthDst => (CLASS_OF, 3),
        F::EthSrc => (CLASS_OF, 4),
        F::EthType => (CLASS_OF, 5),
        F::VlanTci => (CLASS_NXM0, 4),
        F::IpDscp => (CLASS_OF, 8),
        F::NwTos => (CLASS_NXM0, 5),
        F::NwEcn => (CLASS_OF, 9),
        F::NwProto => (CLASS_OF, 10),
        F::NwSrc => (CLASS_OF, 11),
        F::NwDst => (CLASS_OF, 12),
        F::TcpSrc | F::TpSrc => (CLASS_OF, 13),
        F::TcpDst | F::TpDst => (CLASS_OF, 14),
        F::UdpSrc => (CLASS_OF, 15),
        F::UdpDst => (CLASS_OF, 16),
        F::SctpSrc => (CLASS_OF, 17),
        F::SctpDst => (CLASS_OF, 18),
        F::IcmpType => (CLASS_OF, 19),
        F::IcmpCode => (CLASS_OF, 20),
        F::ArpOp => (CLASS_OF, 21),
        F::ArpSpa => (CLASS_OF, 22),
        F::ArpTpa => (CLASS_OF, 23),
        F::ArpSha => (CLASS_OF, 24),
        F::ArpTha => (CLASS_OF, 25),
        F::Ipv6Src => (CLASS_OF, 26),
        F::Ipv6Dst => (CLASS_OF, 27),
        F::Ipv6Label => (CLASS_OF, 28),
        F::Icmpv6Type => (CLASS_OF, 29),
        F::Icmpv6Code => (CLASS_OF, 30),
        F::NdTarget => (CLASS_OF, 31),
        F::NdSll => (CLASS_OF, 32),
        F::NdTll => (CLASS_OF, 33),
        F::TunId => (CLASS_NXM1, 16),
        F::Reg(n) => (CLASS_NXM1, n),
        F::Xreg(n) => (CLASS_PKT_REGS, n),
        F::Xxreg(n) => (CLASS_NXM1, 111 + n),
        F::NwFrag => (CLASS_NXM1, 26),
        F::NwTtl => (CLASS_NXM1, 29),
        F::TunSrc => (CLASS_NXM1, 31),
        F::TunDst => (CLASS_NXM1, 32),
        F::PktMark => (CLASS_NXM1, 33),
        F::TcpFlags => (CLASS_NXM1, 34),
        F::RecircId => (CLASS_NXM1, 36),
        F::ConjId => (CLASS_NXM1, 37),
        F::TunMetadata(n) => (CLASS_NXM1, 40 + n),
        F::TunFlags => (CLASS_NXM1, 104),
        F::CtState => (CLASS_NXM1, 105),
        F::CtZone => (CLASS_NXM1, 106),
        F::CtMark => (CLASS_NXM1, 107),
        F::CtLabel => (CLASS_NXM1, 108),
        F::DlVlan | F::DlVlanPcp | F::TunTos | F::TunTtl => return None,
    };
    lookup(class, code, 0)
}

/// A header as read off the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Class.
    pub class: u16,
    /// Field number.
    pub code: u8,
    /// Mask present.
    pub hasmask: bool,
    /// Payload length (after the 4-byte header; includes an experimenter id).
    pub len: u8,
    /// Experimenter id, for class `0xffff`.
    pub experimenter: u32,
}

impl Header {
    /// A 4-byte NXM header as Nicira actions carry it (`reg_load`'s destination,
    /// `output_reg`'s source, `ct`'s zone field).
    pub fn from_nxm(h: u32) -> Header {
        Header {
            class: (h >> 16) as u16,
            code: ((h >> 9) & 0x7f) as u8,
            hasmask: h & 0x100 != 0,
            len: (h & 0xff) as u8,
            experimenter: 0,
        }
    }

    /// Bytes of the header itself (8 with an experimenter id).
    pub fn header_len(&self) -> usize {
        if self.class == CLASS_EXPERIMENTER {
            8
        } else {
            4
        }
    }
}

/// Reads a header (and the experimenter id of an experimenter class).
pub fn read_header(r: &mut Reader<'_>) -> Result<Header, OfError> {
    let h = r.u32("oxm header")?;
    let class = (h >> 16) as u16;
    let mut hd = Header {
        class,
        code: ((h >> 9) & 0x7f) as u8,
        hasmask: (h >> 8) & 1 == 1,
        len: (h & 0xff) as u8,
        experimenter: 0,
    };
    if class == CLASS_EXPERIMENTER {
        if hd.len < 4 {
            return Err(OfError::new(
                (e::BAD_MATCH, e::BAD_MATCH_LEN),
                "experimenter oxm shorter than its experimenter id",
            ));
        }
        hd.experimenter = r.u32("oxm experimenter")?;
    }
    Ok(hd)
}

/// Writes a field's header with a payload of `payload` bytes.
pub fn put_header(out: &mut Vec<u8>, f: &WireField, hasmask: bool) {
    let payload = u32::from(f.len) * if hasmask { 2 } else { 1 }
        + if f.class == CLASS_EXPERIMENTER { 4 } else { 0 };
    let h =
        (u32::from(f.class) << 16) | (u32::from(f.code) << 9) | (u32::from(hasmask) << 8) | payload;
    put32(out, h);
    if f.class == CLASS_EXPERIMENTER {
        put32(out, f.experimenter);
    }
}

/// The wire field of a header, with its value length checked.
pub fn field_of(h: &Header, err_kind: u16) -> Result<WireField, OfError> {
    let f = lookup(h.class, h.code, h.experimenter).ok_or_else(|| {
        OfError::new(
            (err_kind, bad_field_code(err_kind)),
            format!(
                "unknown field class {:#06x} field {}{}",
                h.class,
                h.code,
                if h.class == CLASS_EXPERIMENTER {
                    format!(" experimenter {:#010x}", h.experimenter)
                } else {
                    String::new()
                }
            ),
        )
    })?;
    Ok(f)
}

fn bad_field_code(kind: u16) -> u16 {
    match kind {
        e::BAD_ACTION => e::BAD_ACTION_SET_TYPE,
        _ => e::BAD_MATCH_FIELD,
    }
}

/// Converts an OpenFlow 1.1+ port number to brisk's (OpenFlow 1.0) numbering.
pub fn port_from_of11(p: u32) -> Option<u32> {
    if p < 0xff00 {
        Some(p)
    } else if p >= 0xffff_fff8 {
        Some(p - 0xffff_0000)
    } else {
        None
    }
}

/// Converts brisk's port number to OpenFlow 1.1+ numbering.
pub fn port_to_of11(p: u32) -> u32 {
    if p >= 0xff00 {
        p.wrapping_add(0xffff_0000)
    } else {
        p
    }
}

/// A field's wire value as brisk's value (`None`: out of the field's range).
pub fn value_in(f: &WireField, v: u128) -> Option<u128> {
    let field_bits = f.field.bits();
    let v = match f.kind {
        Kind::Plain => v,
        Kind::Port32 => u128::from(port_from_of11(v as u32)?),
        Kind::VlanVid => v & 0x1fff,
        Kind::VlanPcp => {
            if v > 7 {
                return None;
            }
            v << 13
        }
    };
    if field_bits < 128 && v >> field_bits != 0 {
        return None;
    }
    Some(v)
}

/// brisk's value of a field as the wire carries it.
pub fn value_out(f: &WireField, v: u128) -> u128 {
    match f.kind {
        Kind::Plain => v,
        Kind::Port32 => u128::from(port_to_of11(v as u32)),
        Kind::VlanVid => v & 0x1fff,
        Kind::VlanPcp => (v >> 13) & 7,
    }
}

/// The longest value of a variable-length field (OVS's `tun_metadataN`: 124 bytes).
const VARIABLE_MAX: usize = 124;

/// Reads an entry's value and mask (`None` without one). A fixed-size field's payload is
/// its length (twice with a mask); a variable-length field's (`tun_metadataN`) is any
/// length up to 124 bytes, right-aligned, as `ovs-ofctl` sends the shortest that holds the
/// value: bytes beyond brisk's width must be zero. `err` is the error a wrong length gets.
pub fn read_value(
    r: &mut Reader<'_>,
    h: &Header,
    f: &WireField,
    err: (u16, u16),
) -> Result<(u128, Option<u128>), OfError> {
    let payload = usize::from(h.len) - (h.header_len() - 4);
    let halves = if h.hasmask { 2 } else { 1 };
    let variable = matches!(f.field, Field::TunMetadata(_));
    let each = payload / halves;
    let fits = if variable {
        payload.is_multiple_of(halves) && (1..=VARIABLE_MAX).contains(&each)
    } else {
        payload == usize::from(f.len) * halves
    };
    if !fits {
        let want = if variable {
            format!("1..{VARIABLE_MAX}")
        } else {
            (usize::from(f.len) * halves).to_string()
        };
        return Err(OfError::new(
            err,
            format!("{}: length {payload}, expected {want}", f.field.name()),
        ));
    }
    let mut one = |what: &str| -> Result<u128, OfError> {
        let b = r.bytes(each, what)?;
        let cut = each.saturating_sub(usize::from(f.len));
        if b[..cut].iter().any(|&x| x != 0) {
            return Err(OfError::new(
                err,
                format!(
                    "{}: {what} wider than brisk's {} bytes",
                    f.field.name(),
                    f.len
                ),
            ));
        }
        Ok(be_uint(&b[cut..]))
    };
    let v = one("value")?;
    let m = if h.hasmask { Some(one("mask")?) } else { None };
    Ok((v, m))
}

/// Decodes a list of OXM/NXM entries into a match (`ofp_match`'s fields, or an NXM match).
/// Refuses unknown fields, duplicates, bad masks and values and missing prerequisites with
/// the error OVS sends.
pub fn decode_fields(bytes: &[u8]) -> Result<Match, OfError> {
    let mut r = Reader::new(bytes, (e::BAD_MATCH, e::BAD_MATCH_LEN));
    let mut m = Match::default();
    let mut seen: Vec<(u16, u8, u32)> = Vec::new();
    let mut fields: Vec<Field> = Vec::new();
    while r.remaining() > 0 {
        let h = read_header(&mut r)?;
        let f = field_of(&h, e::BAD_MATCH)?;
        let key = (h.class, h.code, h.experimenter);
        if seen.contains(&key) {
            return Err(OfError::new(
                (e::BAD_MATCH, e::BAD_MATCH_DUP_FIELD),
                format!("{} appears twice", f.field.name()),
            ));
        }
        seen.push(key);
        if h.hasmask && !f.maskable {
            return Err(OfError::new(
                (e::BAD_MATCH, e::BAD_MATCH_MASK),
                format!("{} cannot be masked", f.field.name()),
            ));
        }
        let (raw, raw_mask) = read_value(&mut r, &h, &f, (e::BAD_MATCH, e::BAD_MATCH_LEN))?;
        let raw_mask = raw_mask.unwrap_or_else(|| ones_bytes(f.len));
        let (value, mask) = match f.kind {
            Kind::VlanVid => (raw & 0x1fff, raw_mask & 0x1fff),
            Kind::VlanPcp => {
                if raw > 7 {
                    return Err(bad_value(&f));
                }
                // A PCP match requires a tag; the present bit comes with it.
                (
                    (raw << 13) | u128::from(VLAN_CFI),
                    0xe000 | u128::from(VLAN_CFI),
                )
            }
            _ => {
                let v = value_in(&f, raw & raw_mask).ok_or_else(|| bad_value(&f))?;
                let mk = if h.hasmask {
                    value_in(&f, raw_mask).ok_or_else(|| bad_mask(&f))?
                } else {
                    f.field.full_mask()
                };
                (v, mk)
            }
        };
        if f.field == Field::NwTos && value & 3 != 0 {
            return Err(bad_value(&f));
        }
        m.set(f.field, value & mask, mask);
        fields.push(f.field);
    }
    for f in fields {
        if !prereq_holds(f.desc().prereq, &m.value, &m.mask) {
            return Err(OfError::new(
                (e::BAD_MATCH, e::BAD_MATCH_PREREQ),
                format!(
                    "{} needs {}",
                    f.name(),
                    pipeline::field::prereq_text(f.desc().prereq)
                ),
            ));
        }
    }
    Ok(m)
}

fn ones_bytes(n: u8) -> u128 {
    if n >= 16 {
        u128::MAX
    } else {
        (1u128 << (8 * u32::from(n))) - 1
    }
}

fn bad_value(f: &WireField) -> OfError {
    OfError::new(
        (e::BAD_MATCH, e::BAD_MATCH_VALUE),
        format!("{}: value out of range", f.field.name()),
    )
}

fn bad_mask(f: &WireField) -> OfError {
    OfError::new(
        (e::BAD_MATCH, e::BAD_MATCH_MASK),
        format!("{}: mask out of range", f.field.name()),
    )
}

fn put_entry(out: &mut Vec<u8>, f: WireField, value: u128, mask: u128) {
    let full = f.field.full_mask();
    let wire_full = ones_bytes(f.len);
    let masked = f.maskable && value_out(&f, mask) & wire_full != value_out(&f, full) & wire_full;
    put_header(out, &f, masked);
    put_be(out, value_out(&f, value), usize::from(f.len));
    if masked {
        put_be(out, value_out(&f, mask), usize::from(f.len));
    }
}

fn put_field(out: &mut Vec<u8>, m: &Match, field: Field, class: u16, code: u8) {
    let (v, mk) = m.get(field);
    if mk == 0 {
        return;
    }
    if let Some(f) = lookup(class, code, 0) {
        put_entry(out, f, v, mk);
    }
}

/// Encodes a match as OXM entries (no `ofp_match` header) for `version`, in an order that
/// puts every prerequisite before the fields that need it, as OVS does. From OpenFlow 1.5
/// the registers travel as OpenFlow's 64-bit packet registers (`OXM_OF_PKT_REG`, masked
/// where only one half matters), as OVS's `nx_put_raw` writes them, and not as Nicira's
/// 32-bit ones.
pub fn encode_fields(m: &Match, version: u8, out: &mut Vec<u8>) {
    encode_fields_as(m, out, false, version >= crate::OFP15)
}

/// Encodes a match as NXM entries (OpenFlow 1.0's `nx_match`): Nicira's headers for the
/// fields that have one, OXM's for the rest (as OVS does).
pub fn encode_fields_nxm(m: &Match, out: &mut Vec<u8>) {
    encode_fields_as(m, out, true, false)
}

/// The NXM header of a field OXM also has (`NXM_OF_ETH_SRC` for `OXM_OF_ETH_SRC`...).
pub fn nxm_of(field: Field) -> Option<(u16, u8)> {
    use Field as F;
    Some(match field {
        F::InPort => (CLASS_NXM0, 0),
        F::EthDst => (CLASS_NXM0, 1),
        F::EthSrc => (CLASS_NXM0, 2),
        F::EthType => (CLASS_NXM0, 3),
        F::IpDscp => (CLASS_NXM0, 5),
        F::NwProto => (CLASS_NXM0, 6),
        F::NwSrc => (CLASS_NXM0, 7),
        F::NwDst => (CLASS_NXM0, 8),
        F::TcpSrc => (CLASS_NXM0, 9),
        F::TcpDst => (CLASS_NXM0, 10),
        F::UdpSrc => (CLASS_NXM0, 11),
        F::UdpDst => (CLASS_NXM0, 12),
        F::IcmpType => (CLASS_NXM0, 13),
        F::IcmpCode => (CLASS_NXM0, 14),
        F::ArpOp => (CLASS_NXM0, 15),
        F::ArpSpa => (CLASS_NXM0, 16),
        F::ArpTpa => (CLASS_NXM0, 17),
        F::ArpSha => (CLASS_NXM1, 17),
        F::ArpTha => (CLASS_NXM1, 18),
        F::Ipv6Src => (CLASS_NXM1, 19),
        F::Ipv6Dst => (CLASS_NXM1, 20),
        F::Icmpv6Type => (CLASS_NXM1, 21),
        F::Icmpv6Code => (CLASS_NXM1, 22),
        F::NdTarget => (CLASS_NXM1, 23),
        F::NdSll => (CLASS_NXM1, 24),
        F::NdTll => (CLASS_NXM1, 25),
        F::Ipv6Label => (CLASS_NXM1, 27),
        F::NwEcn => (CLASS_NXM1, 28),
        _ => return None,
    })
}

fn encode_fields_as(m: &Match, out: &mut Vec<u8>, nxm: bool, pkt_regs: bool) {
    use Field as F;
    // OXM's field, or with `nxm` Nicira's where it has one (ip_dscp travels as NXM's
    // nw_tos, the DSCP bits in place).
    let put_field = |out: &mut Vec<u8>, m: &Match, field: Field, class: u16, code: u8| match (nxm
        && class == CLASS_OF)
        .then(|| nxm_of(field))
        .flatten()
    {
        Some(_) if field == F::IpDscp => put_field(out, m, F::NwTos, CLASS_NXM0, 5),
        Some((c, k)) => put_field(out, m, field, c, k),
        None => put_field(out, m, field, class, code),
    };
    let (dl, dl_mask) = m.get(F::EthType);
    let dl = if dl_mask != 0 { dl as u16 } else { 0 };
    let (proto, proto_mask) = m.get(F::NwProto);
    let proto = if proto_mask != 0 { proto as u8 } else { 0 };
    let ip = dl == eth_type::IPV4 || dl == eth_type::IPV6;
    let arp = dl == eth_type::ARP || dl == eth_type::RARP;

    // OXM_OF_IN_PORT carries OpenFlow 1.1 numbers: a value no port can have goes as NXM's.
    let (port, _) = m.get(F::InPort);
    if !(0xff00..0xfff8).contains(&port) {
        put_field(out, m, F::InPort, CLASS_OF, 0);
    } else {
        put_field(out, m, F::InPort, CLASS_NXM0, 0);
    }
    put_field(out, m, F::EthDst, CLASS_OF, 3);
    put_field(out, m, F::EthSrc, CLASS_OF, 4);
    put_field(out, m, F::EthType, CLASS_OF, 5);
    put_field(out, m, F::VlanTci, CLASS_NXM0, 4);
    if ip {
        put_field(out, m, F::NwProto, CLASS_OF, 10);
        if dl == eth_type::IPV4 {
            put_field(out, m, F::NwSrc, CLASS_OF, 11);
            put_field(out, m, F::NwDst, CLASS_OF, 12);
        } else {
            put_field(out, m, F::Ipv6Src, CLASS_OF, 26);
            put_field(out, m, F::Ipv6Dst, CLASS_OF, 27);
            put_field(out, m, F::Ipv6Label, CLASS_OF, 28);
        }
        put_field(out, m, F::IpDscp, CLASS_OF, 8);
        put_field(out, m, F::NwEcn, CLASS_OF, 9);
        put_field(out, m, F::NwTtl, CLASS_NXM1, 29);
        put_field(out, m, F::NwFrag, CLASS_NXM1, 26);
        match (dl, proto) {
            (_, ip_proto::TCP) => {
                put_field(out, m, F::TcpSrc, CLASS_OF, 13);
                put_field(out, m, F::TcpDst, CLASS_OF, 14);
                put_field(out, m, F::TcpFlags, CLASS_NXM1, 34);
            }
            (_, ip_proto::UDP) => {
                put_field(out, m, F::UdpSrc, CLASS_OF, 15);
                put_field(out, m, F::UdpDst, CLASS_OF, 16);
            }
            (_, ip_proto::SCTP) => {
                put_field(out, m, F::SctpSrc, CLASS_OF, 17);
                put_field(out, m, F::SctpDst, CLASS_OF, 18);
            }
            (eth_type::IPV4, ip_proto::ICMP) => {
                put_field(out, m, F::IcmpType, CLASS_OF, 19);
                put_field(out, m, F::IcmpCode, CLASS_OF, 20);
            }
            (eth_type::IPV6, ip_proto::ICMPV6) => {
                put_field(out, m, F::Icmpv6Type, CLASS_OF, 29);
                put_field(out, m, F::Icmpv6Code, CLASS_OF, 30);
                put_field(out, m, F::NdTarget, CLASS_OF, 31);
                put_field(out, m, F::NdSll, CLASS_OF, 32);
                put_field(out, m, F::NdTll, CLASS_OF, 33);
            }
            _ => {}
        }
    } else if arp {
        put_field(out, m, F::ArpOp, CLASS_OF, 21);
        put_field(out, m, F::ArpSpa, CLASS_OF, 22);
        put_field(out, m, F::ArpTpa, CLASS_OF, 23);
        put_field(out, m, F::ArpSha, CLASS_OF, 24);
        put_field(out, m, F::ArpTha, CLASS_OF, 25);
    }
    put_field(out, m, F::TunId, CLASS_NXM1, 16);
    put_field(out, m, F::TunSrc, CLASS_NXM1, 31);
    put_field(out, m, F::TunDst, CLASS_NXM1, 32);
    put_field(out, m, F::TunFlags, CLASS_NXM1, 104);
    for n in 0..8u8 {
        put_field(out, m, F::TunMetadata(n), CLASS_NXM1, 40 + n);
    }
    put_field(out, m, F::Metadata, CLASS_OF, 2);
    if pkt_regs {
        for n in 0..8u8 {
            put_field(out, m, F::Xreg(n), CLASS_PKT_REGS, n);
        }
    } else {
        for n in 0..16u8 {
            put_field(out, m, F::Reg(n), CLASS_NXM1, n);
        }
    }
    put_field(out, m, F::PktMark, CLASS_NXM1, 33);
    put_field(out, m, F::CtState, CLASS_NXM1, 105);
    put_field(out, m, F::CtZone, CLASS_NXM1, 106);
    put_field(out, m, F::CtMark, CLASS_NXM1, 107);
    put_field(out, m, F::CtLabel, CLASS_NXM1, 108);
    put_field(out, m, F::RecircId, CLASS_NXM1, 36);
    put_field(out, m, F::ConjId, CLASS_NXM1, 37);
}

/// Decodes an `ofp_match` (OXM type 1) from the reader, consuming its padding.
pub fn decode_ofp_match(r: &mut Reader<'_>) -> Result<Match, OfError> {
    let ty = r.u16("ofp_match type")?;
    let len = usize::from(r.u16("ofp_match length")?);
    if ty != 1 {
        return Err(OfError::new(
            (e::BAD_MATCH, e::BAD_MATCH_TYPE),
            format!("match type {ty} (only OXM, type 1)"),
        ));
    }
    if len < 4 {
        return Err(OfError::new(
            (e::BAD_MATCH, e::BAD_MATCH_LEN),
            format!("match length {len} under 4"),
        ));
    }
    let padded = len.div_ceil(8) * 8;
    if r.remaining() < padded - 4 {
        return Err(OfError::new(
            (e::BAD_MATCH, e::BAD_MATCH_LEN),
            format!(
                "match of {len} bytes (padded {padded}) but {} left in the message",
                r.remaining() + 4
            ),
        ));
    }
    let fields = r.bytes(len - 4, "ofp_match fields")?;
    r.skip(padded - len, "ofp_match padding")?;
    decode_fields(fields)
}

/// Encodes an `ofp_match` (OXM type 1) for `version`, padded to 8 bytes.
pub fn encode_ofp_match(m: &Match, version: u8, out: &mut Vec<u8>) {
    let start = out.len();
    crate::buf::put16(out, 1);
    crate::buf::put16(out, 0);
    encode_fields(m, version, out);
    crate::buf::patch_len(out, start + 2, start);
    crate::buf::pad8(out, start);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(code: u8, hasmask: bool, payload: &[u8]) -> Vec<u8> {
        let h = (1u32 << 16) | (u32::from(code) << 9) | (u32::from(hasmask) << 8);
        let mut v = (h | payload.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    fn read(bytes: &[u8]) -> Result<(u128, Option<u128>), OfError> {
        let mut r = Reader::new(bytes, (e::BAD_MATCH, e::BAD_MATCH_LEN));
        let h = read_header(&mut r)?;
        let f = field_of(&h, e::BAD_MATCH)?;
        read_value(&mut r, &h, &f, (e::BAD_MATCH, e::BAD_MATCH_LEN))
    }

    #[test]
    fn variable_length_fields_take_the_shortest_encoding() {
        // tun_metadata0 as ovs-ofctl sends 0xabcd: two bytes, right-aligned.
        assert_eq!(
            read(&entry(40, false, &[0xab, 0xcd])).unwrap(),
            (0xabcd, None)
        );
        // Wider than brisk's 8 bytes, with leading zeros: the same value.
        let mut wide = vec![0u8; 12];
        wide[10..].copy_from_slice(&[0xab, 0xcd]);
        assert_eq!(read(&entry(40, false, &wide)).unwrap(), (0xabcd, None));
        // Masked: value and mask of equal length.
        assert_eq!(
            read(&entry(40, true, &[0x12, 0xff])).unwrap(),
            (0x12, Some(0xff))
        );
        // A nonzero byte beyond brisk's width, an odd masked payload, an empty one.
        wide[0] = 1;
        assert!(read(&entry(40, false, &wide))
            .unwrap_err()
            .message
            .contains("wider"));
        assert!(read(&entry(40, true, &[1, 2, 3])).is_err());
        assert!(read(&entry(40, false, &[])).is_err());
        // A fixed-size field keeps its exact length (tun_id: 8 bytes).
        assert!(read(&entry(16, false, &[0x5e, 0xed]))
            .unwrap_err()
            .message
            .contains("expected 8"));
        assert_eq!(
            read(&entry(16, false, &[0, 0, 0, 0, 0, 0, 0x5e, 0xed]))
                .unwrap()
                .0,
            0x5eed
        );
    }
}
