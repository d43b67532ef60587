//! Packet-ins and continuations as OVS encodes them: OFPT_PACKET_IN (OpenFlow 1.0 and
//! 1.3+), Nicira's NXT_PACKET_IN and NXT_PACKET_IN2 (properties, with the userdata of
//! `controller(...)` and the continuation of `controller(pause)`), and NXT_RESUME, the
//! message a controller sends a continuation back with.
//!
//! The continuation is private to the switch, but brisk writes it as OVS does (nested
//! NXCPT_* properties: the bridge, `conntracked`, table and cookie changes, and the frozen
//! actions as OpenFlow actions), so `ovs-ofctl monitor` prints it and `--resume` sends it
//! back.

use crate::buf::{put16, put32, put64, zeros};
use crate::errors as e;
use crate::{finish, oxm, start, OfError, NX_VENDOR_ID, OFP10, OFP13};
use pipeline::dpaction::pin_reason;
use pipeline::field::Field;
use pipeline::flow::{ct_state, Flow};
use pipeline::ofctl::{port, Action, Match};
use pipeline::xlate::{Continuation, FrozenSegment};

/// OFPT_PACKET_IN.
pub const T_PACKET_IN: u8 = 10;
/// NXT_PACKET_IN.
pub const NXT_PACKET_IN: u32 = 17;
/// NXT_RESUME.
pub const NXT_RESUME: u32 = 28;
/// NXT_PACKET_IN2.
pub const NXT_PACKET_IN2: u32 = 30;

/// NXT_SET_PACKET_IN_FORMAT's formats.
pub mod format {
    /// The version's own OFPT_PACKET_IN.
    pub const STANDARD: u32 = 0;
    /// NXT_PACKET_IN (NXM metadata).
    pub const NXT: u32 = 1;
    /// NXT_PACKET_IN2 (properties; the only one with continuations).
    pub const NXT2: u32 = 2;
}

const PINT_PACKET: u16 = 0;
const PINT_FULL_LEN: u16 = 1;
const PINT_BUFFER_ID: u16 = 2;
const PINT_TABLE_ID: u16 = 3;
const PINT_COOKIE: u16 = 4;
const PINT_REASON: u16 = 5;
const PINT_METADATA: u16 = 6;
const PINT_USERDATA: u16 = 7;
const PINT_CONTINUATION: u16 = 8;

const CPT_BRIDGE: u16 = 0x8000;
const CPT_STACK: u16 = 0x8001;
const CPT_MIRRORS: u16 = 0x8002;
const CPT_CONNTRACKED: u16 = 0x8003;
const CPT_TABLE_ID: u16 = 0x8004;
const CPT_COOKIE: u16 = 0x8005;
const CPT_ACTIONS: u16 = 0x8006;
const CPT_ACTION_SET: u16 = 0x8007;
const CPT_ODP_PORT: u16 = 0x8008;

/// What a packet-in says, whichever format carries it.
#[derive(Clone, Debug)]
pub struct PacketInMsg<'a> {
    /// Reason ([`pin_reason`]; the explicit miss is encoded per version).
    pub reason: u8,
    /// Table of the flow that sent it.
    pub table_id: u8,
    /// Its cookie (`u64::MAX`: none, left out where the format allows).
    pub cookie: u64,
    /// The packet.
    pub data: &'a [u8],
    /// Input port, tunnel, conntrack, registers, metadata.
    pub metadata: &'a Flow,
    /// `controller(userdata=...)`.
    pub userdata: &'a [u8],
    /// With `pause`: the continuation and the bridge's id (NXCPT_BRIDGE).
    pub continuation: Option<(&'a Continuation, [u8; 16])>,
}

/// The reason as the version carries it (as OVS's `encode_packet_in_reason`).
pub fn wire_reason(reason: u8, version: u8) -> u8 {
    match reason {
        pin_reason::ACTION_SET | pin_reason::GROUP | pin_reason::PACKET_OUT
            if version < crate::OFP14 =>
        {
            pin_reason::ACTION
        }
        pin_reason::EXPLICIT_MISS if version < OFP13 => pin_reason::ACTION,
        pin_reason::EXPLICIT_MISS => pin_reason::NO_MATCH,
        r => r,
    }
}

/// The metadata fields a packet-in carries besides registers and tunnel options (OVS's
/// `flow_get_metadata`).
const META_FIELDS: [Field; 10] = [
    Field::TunId,
    Field::TunSrc,
    Field::TunDst,
    Field::Metadata,
    Field::PktMark,
    Field::InPort,
    Field::CtState,
    Field::CtZone,
    Field::CtMark,
    Field::CtLabel,
];

/// Conntrack's part of [`META_FIELDS`].
const CT_FIELDS: [Field; 4] = [Field::CtState, Field::CtZone, Field::CtMark, Field::CtLabel];

fn meta_fields() -> impl Iterator<Item = Field> {
    META_FIELDS
        .into_iter()
        .chain((0..16u8).map(Field::Reg))
        .chain((0..8u8).map(Field::TunMetadata))
}

/// The metadata fields a packet-in carries, as OVS's `flow_get_metadata` picks them: the
/// input port always, tunnel options when present, the others when not zero.
pub fn metadata_match(meta: &Flow) -> Match {
    let mut m = Match::default();
    let present = (meta.w[pipeline::flow::w::TUN_FLAGS] >> 32) as u8;
    for f in meta_fields() {
        let v = f.get(meta);
        let keep = match f {
            Field::InPort => true,
            Field::TunMetadata(i) => present & (1 << i) != 0,
            _ => v != 0,
        };
        if keep {
            m.set(f, v, f.full_mask());
        }
    }
    m
}

/// The inverse of [`metadata_match`], for NXT_RESUME: writes the metadata a controller sent
/// back into a packet's key (a tunnel option with its present bit); without `conntracked`
/// the conntrack fields are cleared, as OVS thaws a state that was not conntracked.
pub fn apply_metadata(m: &Match, conntracked: bool, key: &mut Flow) {
    for f in meta_fields() {
        let (v, mask) = m.get(f);
        if mask == 0 {
            continue;
        }
        f.set(key, v & mask);
        if let Field::TunMetadata(i) = f {
            key.w[pipeline::flow::w::TUN_FLAGS] |= 1 << (32 + u32::from(i));
        }
    }
    if !conntracked {
        for f in CT_FIELDS {
            f.set(key, 0);
        }
    }
}

/// A packet-in for a connection of `version` that chose packet-in `format`. A
/// continuation goes only into NXT_PACKET_IN2 (OVS sends the others without it).
pub fn encode_packet_in(version: u8, fmt: u32, xid: u32, pin: &PacketInMsg<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(pin.data.len() + 128);
    let reason = wire_reason(pin.reason, version);
    let total = pin.data.len().min(usize::from(u16::MAX)) as u16;
    match fmt {
        format::NXT2 => {
            let at = start(&mut out, version, crate::message::T_EXPERIMENTER, xid);
            put32(&mut out, NX_VENDOR_ID);
            put32(&mut out, NXT_PACKET_IN2);
            put_pin2_props(&mut out, version, pin, reason);
            if let Some((cont, bridge)) = pin.continuation {
                let conntracked = Field::CtState.get(pin.metadata) as u8 & ct_state::TRK != 0;
                let in_port = Field::InPort.get(pin.metadata) as u32;
                let inner = encode_continuation(version, cont, bridge, conntracked, in_port);
                put_nested(&mut out, PINT_CONTINUATION, &inner);
            }
            if !pin.userdata.is_empty() {
                put_prop(&mut out, PINT_USERDATA, pin.userdata);
            }
            finish(&mut out, at);
        }
        format::NXT => {
            let at = start(&mut out, version, crate::message::T_EXPERIMENTER, xid);
            put32(&mut out, NX_VENDOR_ID);
            put32(&mut out, NXT_PACKET_IN);
            put32(&mut out, u32::MAX);
            put16(&mut out, total);
            out.push(reason);
            out.push(pin.table_id);
            put64(&mut out, pin.cookie);
            let len_at = out.len();
            put16(&mut out, 0);
            zeros(&mut out, 6);
            let m_at = out.len();
            oxm::encode_fields_nxm(&metadata_match(pin.metadata), &mut out);
            let n = (out.len() - m_at) as u16;
            out[len_at..len_at + 2].copy_from_slice(&n.to_be_bytes());
            crate::buf::pad8(&mut out, m_at);
            zeros(&mut out, 2);
            out.extend_from_slice(pin.data);
            finish(&mut out, at);
        }
        _ if version == OFP10 => {
            let at = start(&mut out, version, T_PACKET_IN, xid);
            put32(&mut out, u32::MAX);
            put16(&mut out, total);
            put16(&mut out, Field::InPort.get(pin.metadata) as u16);
            out.push(reason);
            out.push(0);
            out.extend_from_slice(pin.data);
            finish(&mut out, at);
        }
        _ => {
            let at = start(&mut out, version, T_PACKET_IN, xid);
            put32(&mut out, u32::MAX);
            put16(&mut out, total);
            out.push(reason);
            out.push(pin.table_id);
            put64(&mut out, pin.cookie);
            oxm::encode_ofp_match(&metadata_match(pin.metadata), version, &mut out);
            zeros(&mut out, 2);
            out.extend_from_slice(pin.data);
            finish(&mut out, at);
        }
    }
    out
}

/// The properties NXT_PACKET_IN2 and NXT_RESUME share (OVS's `ofputil_put_packet_in`).
fn put_pin2_props(out: &mut Vec<u8>, version: u8, pin: &PacketInMsg<'_>, reason: u8) {
    put_prop(out, PINT_PACKET, pin.data);
    put_prop(out, PINT_TABLE_ID, &[pin.table_id]);
    if pin.cookie != u64::MAX {
        put_u64_prop(out, PINT_COOKIE, pin.cookie);
    }
    put_prop(out, PINT_REASON, &[reason]);
    let mut m = Vec::new();
    let meta = metadata_match(pin.metadata);
    if version == OFP10 {
        oxm::encode_fields_nxm(&meta, &mut m);
    } else {
        oxm::encode_fields(&meta, version, &mut m);
    }
    put_prop(out, PINT_METADATA, &m);
}

fn put_prop(out: &mut Vec<u8>, ty: u16, value: &[u8]) {
    let at = out.len();
    put16(out, ty);
    put16(out, (4 + value.len()) as u16);
    out.extend_from_slice(value);
    crate::buf::pad8(out, at);
}

fn put_u64_prop(out: &mut Vec<u8>, ty: u16, v: u64) {
    put16(out, ty);
    put16(out, 16);
    zeros(out, 4);
    put64(out, v);
}

/// A property holding properties or actions: header, padding to 8, the contents.
fn put_nested(out: &mut Vec<u8>, ty: u16, inner: &[u8]) {
    let at = out.len();
    put16(out, ty);
    put16(out, (8 + inner.len()) as u16);
    zeros(out, 4);
    out.extend_from_slice(inner);
    crate::buf::pad8(out, at);
}

/// Whether an action's meaning (or its packet-ins) depends on the table and flow it runs
/// in: OVS puts an "unroll" (table, cookie) before such actions only.
fn needs_table(a: &Action) -> bool {
    matches!(
        a,
        Action::Output(_)
            | Action::OutputReg(_)
            | Action::Controller { .. }
            | Action::Controller2(_)
            | Action::Group(_)
            | Action::DecTtl
            | Action::Resubmit { table: None, .. }
    )
}

/// The NXCPT_* properties of a continuation. Actions are grouped as OVS groups them: a new
/// group (with NXCPT_TABLE_ID/NXCPT_COOKIE where they change) starts before an action
/// that needs its table and runs in another one than the last group's.
pub fn encode_continuation(
    version: u8,
    cont: &Continuation,
    bridge: [u8; 16],
    conntracked: bool,
    in_port: u32,
) -> Vec<u8> {
    let mut out = Vec::new();
    put_prop(&mut out, CPT_BRIDGE, &bridge);
    if conntracked {
        put_prop(&mut out, CPT_CONNTRACKED, &[]);
    }
    // (table and cookie of its unroll, if it starts with one; its actions).
    type Group = (Option<(u8, u64)>, Vec<Action>);
    let mut groups: Vec<Group> = Vec::new();
    let mut unroll: Option<(u8, u64)> = None;
    for seg in &cont.segments {
        for a in &seg.actions {
            let here = Some((seg.table, seg.cookie));
            if needs_table(a) && unroll != here {
                unroll = here;
                groups.push((here, Vec::new()));
            } else if groups.is_empty() {
                groups.push((None, Vec::new()));
            }
            if let Some(g) = groups.last_mut() {
                g.1.push(a.clone());
            }
        }
    }
    let (mut table, mut cookie) = (0u8, 0u64);
    for (at, actions) in &groups {
        if let Some((t, c)) = *at {
            if t != table {
                put_prop(&mut out, CPT_TABLE_ID, &[t]);
                table = t;
            }
            if c != cookie {
                put_u64_prop(&mut out, CPT_COOKIE, c);
                cookie = c;
            }
        }
        let mut acts = Vec::new();
        crate::action::encode_actions(actions, version, &mut acts);
        put_nested(&mut out, CPT_ACTIONS, &acts);
    }
    if in_port != 0 && in_port < port::MAX {
        put32_prop(&mut out, CPT_ODP_PORT, in_port);
    }
    out
}

fn put32_prop(out: &mut Vec<u8>, ty: u16, v: u32) {
    put16(out, ty);
    put16(out, 8);
    put32(out, v);
}

/// NXT_RESUME as decoded: the packet, its metadata (which the controller may have
/// changed) and the continuation.
#[derive(Clone, Debug, PartialEq)]
pub struct Resume {
    /// The packet.
    pub data: Vec<u8>,
    /// Input port, tunnel, conntrack, registers and metadata to resume with.
    pub metadata: Match,
    /// The table the packet-in came from.
    pub table_id: u8,
    /// Its cookie.
    pub cookie: u64,
    /// The reason it carried.
    pub reason: u8,
    /// Which bridge made the continuation.
    pub bridge: Option<[u8; 16]>,
    /// The frozen rest of the walk.
    pub continuation: Continuation,
    /// The walk had been through conntrack.
    pub conntracked: bool,
}

fn bad_len(what: &str) -> OfError {
    OfError::new((e::BAD_REQUEST, e::BAD_REQUEST_LEN), what.to_string())
}

fn fixed<const N: usize>(v: &[u8], what: &str) -> Result<[u8; N], OfError> {
    v.try_into()
        .map_err(|_| bad_len(&format!("{what}: {} bytes, expected {N}", v.len())))
}

/// A u64 property's value (4 bytes of padding, then the value).
fn u64_prop(v: &[u8], what: &str) -> Result<u64, OfError> {
    let b: [u8; 12] = fixed(v, what)?;
    Ok(u64::from_be_bytes([
        b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
    ]))
}

/// A nested property's contents (after its padding to 8).
fn nested<'a>(v: &'a [u8], what: &str) -> Result<&'a [u8], OfError> {
    v.get(4..).ok_or_else(|| bad_len(what))
}

/// Decodes the body of NXT_RESUME (after the Nicira header) of `version`, as OVS's
/// `ofputil_decode_packet_in_private`: unknown properties, a missing packet, bad
/// lengths and bad actions are refused.
pub fn decode_resume(body: &[u8], version: u8) -> Result<Resume, OfError> {
    let short = (e::BAD_REQUEST, e::BAD_REQUEST_LEN);
    let mut res = Resume {
        data: Vec::new(),
        metadata: Match::default(),
        table_id: 0,
        cookie: u64::MAX,
        reason: pin_reason::ACTION,
        bridge: None,
        continuation: Continuation::default(),
        conntracked: false,
    };
    let mut have_cont = false;
    for (ty, v) in crate::buf::props(body, short, "NXT_RESUME property")? {
        match ty {
            PINT_PACKET => res.data = v.to_vec(),
            PINT_FULL_LEN | PINT_BUFFER_ID => {
                let _: [u8; 4] = fixed(v, "NXPINT_FULL_LEN/BUFFER_ID")?;
            }
            PINT_TABLE_ID => res.table_id = fixed::<1>(v, "NXPINT_TABLE_ID")?[0],
            PINT_COOKIE => res.cookie = u64_prop(v, "NXPINT_COOKIE")?,
            PINT_REASON => res.reason = fixed::<1>(v, "NXPINT_REASON")?[0],
            PINT_METADATA => res.metadata = oxm::decode_fields(v)?,
            PINT_USERDATA => {}
            PINT_CONTINUATION => {
                have_cont = true;
                decode_continuation(nested(v, "NXPINT_CONTINUATION")?, version, &mut res)?;
            }
            _ => {
                return Err(OfError::new(
                    (e::BAD_REQUEST, e::BAD_REQUEST_TYPE),
                    format!("NXT_RESUME property type {ty}"),
                ))
            }
        }
    }
    if res.data.is_empty() {
        return Err(OfError::new(
            (e::BAD_REQUEST, e::BAD_REQUEST_LEN),
            "NXT_RESUME lacks the packet",
        ));
    }
    if !have_cont {
        return Err(OfError::new(
            (e::BAD_REQUEST, e::BAD_REQUEST_LEN),
            "NXT_RESUME lacks the continuation",
        ));
    }
    Ok(res)
}

fn decode_continuation(bytes: &[u8], version: u8, res: &mut Resume) -> Result<(), OfError> {
    let short = (e::BAD_REQUEST, e::BAD_REQUEST_LEN);
    let (mut table, mut cookie) = (0u8, 0u64);
    for (ty, v) in crate::buf::props(bytes, short, "continuation property")? {
        match ty {
            CPT_BRIDGE => res.bridge = Some(fixed(v, "NXCPT_BRIDGE")?),
            CPT_CONNTRACKED => res.conntracked = true,
            CPT_TABLE_ID => table = fixed::<1>(v, "NXCPT_TABLE_ID")?[0],
            CPT_COOKIE => cookie = u64_prop(v, "NXCPT_COOKIE")?,
            CPT_ACTIONS => {
                let actions = crate::action::decode_actions(nested(v, "NXCPT_ACTIONS")?, version)?;
                res.continuation.segments.push(FrozenSegment {
                    table,
                    cookie,
                    actions,
                });
            }
            CPT_ODP_PORT => {
                let _: [u8; 4] = fixed(v, "NXCPT_ODP_PORT")?;
            }
            CPT_STACK | CPT_MIRRORS | CPT_ACTION_SET => {
                return Err(OfError::new(
                    (e::BAD_REQUEST, e::BAD_REQUEST_TYPE),
                    format!("continuation property {ty:#x}: brisk makes none (a stack, mirrors or an action set)"),
                ))
            }
            _ => {
                return Err(OfError::new(
                    (e::BAD_REQUEST, e::BAD_REQUEST_TYPE),
                    format!("continuation property type {ty:#x}"),
                ))
            }
        }
    }
    Ok(())
}

/// NXT_RESUME for a packet-in (what a controller sends back; for tests and tools): the
/// packet-in's properties and its continuation, as OVS's `ofputil_encode_resume`.
pub fn encode_resume(version: u8, xid: u32, pin: &PacketInMsg<'_>, continuation: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let at = start(&mut out, version, crate::message::T_EXPERIMENTER, xid);
    put32(&mut out, NX_VENDOR_ID);
    put32(&mut out, NXT_RESUME);
    put_pin2_props(&mut out, version, pin, wire_reason(pin.reason, version));
    put_nested(&mut out, PINT_CONTINUATION, continuation);
    finish(&mut out, at);
    out
}

/// The continuation's bytes in an NXT_PACKET_IN2 (after the Nicira header), for a
/// controller to send back; `None` without one.
pub fn continuation_of(body: &[u8]) -> Result<Option<Vec<u8>>, OfError> {
    let short = (e::BAD_REQUEST, e::BAD_REQUEST_LEN);
    for (ty, v) in crate::buf::props(body, short, "NXT_PACKET_IN2 property")? {
        if ty == PINT_CONTINUATION {
            return Ok(Some(nested(v, "NXPINT_CONTINUATION")?.to_vec()));
        }
    }
    Ok(None)
}

/// NXT_RESUME from its decoded form (round trips of [`decode_resume`]).
pub fn encode_resume_msg(version: u8, xid: u32, r: &Resume) -> Vec<u8> {
    let mut meta = Flow::ZERO;
    for i in 0..pipeline::flow::FLOW_WORDS {
        meta.w[i] = r.metadata.value.w[i] & r.metadata.mask.w[i];
    }
    let pin = PacketInMsg {
        reason: r.reason,
        table_id: r.table_id,
        cookie: r.cookie,
        data: &r.data,
        metadata: &meta,
        userdata: &[],
        continuation: None,
    };
    let in_port = Field::InPort.get(&meta) as u32;
    let cont = encode_continuation(
        version,
        &r.continuation,
        r.bridge.unwrap_or([0; 16]),
        r.conntracked,
        in_port,
    );
    encode_resume(version, xid, &pin, &cont)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::ofctl::{SetField, SetForm};

    fn cont() -> Continuation {
        let load = Action::Set(SetField {
            field: Field::Reg(2),
            value: 2,
            mask: 0xffff_ffff,
            form: SetForm::Load,
        });
        Continuation {
            segments: vec![
                FrozenSegment {
                    table: 1,
                    cookie: 0xb1,
                    actions: vec![
                        load,
                        Action::Resubmit {
                            in_port: None,
                            table: Some(2),
                            ct: false,
                        },
                    ],
                },
                FrozenSegment {
                    table: 0,
                    cookie: 0xa0,
                    actions: vec![Action::Output(4)],
                },
            ],
        }
    }

    #[test]
    fn a_paused_packet_in_comes_back_as_the_same_continuation() {
        let mut meta = Flow::ZERO;
        Field::InPort.set(&mut meta, 49);
        Field::Reg(0).set(&mut meta, 1);
        let data = vec![0xabu8; 60];
        let c = cont();
        let pin = PacketInMsg {
            reason: pin_reason::ACTION,
            table_id: 0,
            cookie: 0xa0,
            data: &data,
            metadata: &meta,
            userdata: &[0xca, 0xfe],
            continuation: Some((&c, [9; 16])),
        };
        for v in [OFP10, OFP13, crate::OFP15] {
            let msg = encode_packet_in(v, format::NXT2, 0, &pin);
            assert_eq!(usize::from(u16::from_be_bytes([msg[2], msg[3]])), msg.len());
            let blob = continuation_of(&msg[16..])
                .unwrap()
                .expect("a continuation");
            let back = encode_resume(v, 5, &pin, &blob);
            let r = decode_resume(&back[16..], v).unwrap();
            assert_eq!(r.data, data);
            assert_eq!(r.bridge, Some([9; 16]));
            assert_eq!(r.metadata.get(Field::Reg(0)), (1, 0xffff_ffff));
            assert_eq!(r.metadata.get(Field::InPort).0, 49);
            // OVS's grouping: the load needs no table (first group, no unroll), the
            // resubmit has one; the output runs in table 0 with the outer cookie.
            let got: Vec<(u8, u64, usize)> = r
                .continuation
                .segments
                .iter()
                .map(|s| (s.table, s.cookie, s.actions.len()))
                .collect();
            assert_eq!(got, vec![(0, 0, 2), (0, 0xa0, 1)], "{v}");
            // The same actions (a load may come back as set_field: the same write).
            let flat = |c: &Continuation| -> Vec<Action> {
                c.segments
                    .iter()
                    .flat_map(|s| s.actions.clone())
                    .map(|a| match a {
                        Action::Set(mut f) => {
                            f.form = SetForm::SetField;
                            Action::Set(f)
                        }
                        other => other,
                    })
                    .collect()
            };
            assert_eq!(flat(&r.continuation), flat(&c));
        }
    }

    #[test]
    fn the_seed_resume_decodes_and_bad_ones_are_refused() {
        let seed = include_bytes!("../../fuzz/seeds/openflow_message/nxt_resume");
        let (_, m) = crate::decode(seed).unwrap();
        let crate::Message::Resume(r) = m else {
            panic!("{m:?}")
        };
        assert_eq!(r.continuation.segments.len(), 1);
        assert_eq!(
            (
                r.continuation.segments[0].table,
                r.continuation.segments[0].cookie
            ),
            (1, 0xb1)
        );
        assert_eq!(
            r.continuation.segments[0].actions.last(),
            Some(&Action::Output(4))
        );
        // Truncated, a property past the end, an unknown continuation property, no packet.
        for cut in [10, 40, 100, 180] {
            let mut b = seed[..cut].to_vec();
            let n = b.len() as u16;
            b[2..4].copy_from_slice(&n.to_be_bytes());
            assert!(crate::decode(&b).is_err(), "cut at {cut}");
        }
        let mut b = seed.to_vec();
        let at = b.windows(2).position(|w| w == [0x80, 0x04]).unwrap();
        b[at + 1] = 0x0f;
        assert!(crate::decode(&b).is_err());
        assert!(decode_resume(&[0, 3, 0, 5, 1, 0, 0, 0], crate::OFP15).is_err());
    }

    #[test]
    fn resumed_metadata_is_what_the_packet_in_carried() {
        let mut meta = Flow::ZERO;
        Field::InPort.set(&mut meta, 49);
        Field::Reg(3).set(&mut meta, 7);
        Field::TunId.set(&mut meta, 0x5eed);
        Field::TunMetadata(2).set(&mut meta, 0xab);
        meta.w[pipeline::flow::w::TUN_FLAGS] |= 1 << 34;
        Field::CtState.set(&mut meta, 0x21);
        Field::CtMark.set(&mut meta, 9);
        let m = metadata_match(&meta);
        let mut key = Flow::ZERO;
        apply_metadata(&m, true, &mut key);
        assert_eq!(key, meta);
        let mut key = Flow::ZERO;
        apply_metadata(&m, false, &mut key);
        assert_eq!((Field::CtState.get(&key), Field::CtMark.get(&key)), (0, 0));
        assert_eq!(Field::Reg(3).get(&key), 7);
    }

    #[test]
    fn reasons_are_encoded_per_version_as_ovs() {
        assert_eq!(
            wire_reason(pin_reason::EXPLICIT_MISS, OFP10),
            pin_reason::ACTION
        );
        assert_eq!(
            wire_reason(pin_reason::EXPLICIT_MISS, OFP13),
            pin_reason::NO_MATCH
        );
        assert_eq!(
            wire_reason(pin_reason::PACKET_OUT, OFP13),
            pin_reason::ACTION
        );
        assert_eq!(
            wire_reason(pin_reason::PACKET_OUT, crate::OFP14),
            pin_reason::PACKET_OUT
        );
        assert_eq!(
            wire_reason(pin_reason::GROUP, crate::OFP15),
            pin_reason::GROUP
        );
    }
}
