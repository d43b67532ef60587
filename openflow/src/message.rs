//! Whole messages: the OpenFlow header, the message types brisk acts on, and their
//! decoding from and encoding to bytes.

use crate::buf::{put16, put32, put64, zeros, Reader};
use crate::flow_mod::{decode_flow_mod, encode_flow_mod, FlowModMsg};
use crate::multipart::{self, MpRequest};
use crate::{errors as e, finish, start, OfError, OfHeader, HEADER_LEN, NX_VENDOR_ID, VERSIONS};

/// OFPT_HELLO.
pub const T_HELLO: u8 = 0;
/// OFPT_ERROR.
pub const T_ERROR: u8 = 1;
/// OFPT_ECHO_REQUEST.
pub const T_ECHO_REQUEST: u8 = 2;
/// OFPT_ECHO_REPLY.
pub const T_ECHO_REPLY: u8 = 3;
/// OFPT_EXPERIMENTER.
pub const T_EXPERIMENTER: u8 = 4;
/// OFPT_FEATURES_REQUEST.
pub const T_FEATURES_REQUEST: u8 = 5;
/// OFPT_FEATURES_REPLY.
pub const T_FEATURES_REPLY: u8 = 6;
/// OFPT_GET_CONFIG_REQUEST.
pub const T_GET_CONFIG_REQUEST: u8 = 7;
/// OFPT_GET_CONFIG_REPLY.
pub const T_GET_CONFIG_REPLY: u8 = 8;
/// OFPT_SET_CONFIG.
pub const T_SET_CONFIG: u8 = 9;
/// OFPT_FLOW_MOD.
pub const T_FLOW_MOD: u8 = 14;
/// OFPT_GROUP_MOD.
pub const T_GROUP_MOD: u8 = 15;
/// OFPT_MULTIPART_REQUEST.
pub const T_MULTIPART_REQUEST: u8 = 18;
/// OFPT_MULTIPART_REPLY.
pub const T_MULTIPART_REPLY: u8 = 19;
/// OFPT_BARRIER_REQUEST.
pub const T_BARRIER_REQUEST: u8 = 20;
/// OFPT_BARRIER_REPLY.
pub const T_BARRIER_REPLY: u8 = 21;
/// OFPT_ROLE_REQUEST.
pub const T_ROLE_REQUEST: u8 = 24;
/// OFPT_ROLE_REPLY.
pub const T_ROLE_REPLY: u8 = 25;
/// OFPT_GET_ASYNC_REQUEST.
pub const T_GET_ASYNC_REQUEST: u8 = 26;
/// OFPT_SET_ASYNC.
pub const T_SET_ASYNC: u8 = 28;

/// OFPT_BUNDLE_CONTROL.
pub const T_BUNDLE_CONTROL: u8 = 33;
/// OFPT_BUNDLE_ADD_MESSAGE.
pub const T_BUNDLE_ADD: u8 = 34;

/// NXT_SET_PACKET_IN_FORMAT.
pub const NXT_SET_PACKET_IN_FORMAT: u32 = 16;
/// NXT_SET_CONTROLLER_ID.
pub const NXT_SET_CONTROLLER_ID: u32 = 20;
/// NXT_TLV_TABLE_MOD.
pub const NXT_TLV_TABLE_MOD: u32 = 24;
/// NXT_TLV_TABLE_REQUEST.
pub const NXT_TLV_TABLE_REQUEST: u32 = 25;
/// NXT_TLV_TABLE_REPLY.
pub const NXT_TLV_TABLE_REPLY: u32 = 26;

/// One entry of a TLV table message: Geneve option (class, type, length) to
/// `tun_metadata<index>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlvMapping {
    /// Option class.
    pub class: u16,
    /// Option type.
    pub ty: u8,
    /// Option length in bytes.
    pub len: u8,
    /// `tun_metadata` index.
    pub index: u16,
}

/// NXTTMC_ADD.
pub const TLV_ADD: u16 = 0;
/// NXTTMC_DELETE.
pub const TLV_DELETE: u16 = 1;
/// NXTTMC_CLEAR.
pub const TLV_CLEAR: u16 = 2;

/// A message as the switch acts on it.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// Hello, with the versions the peer offers (bit N = version N).
    Hello {
        /// Version bitmap (from the version-bitmap element, or the header's version).
        versions: u32,
    },
    /// An error from the peer.
    Error {
        /// Type.
        ty: u16,
        /// Code.
        code: u16,
        /// Data.
        data: Vec<u8>,
    },
    /// Echo request with its payload.
    EchoRequest(Vec<u8>),
    /// Echo reply.
    EchoReply(Vec<u8>),
    /// Features request.
    FeaturesRequest,
    /// Get-config request.
    GetConfigRequest,
    /// Set-config.
    SetConfig {
        /// Fragment handling flags.
        flags: u16,
        /// Bytes of a packet sent to the controller.
        miss_send_len: u16,
    },
    /// Flow-mod.
    FlowMod(FlowModMsg),
    /// Group-mod.
    GroupMod(crate::group::GroupModMsg),
    /// Multipart request.
    Multipart(MpRequest),
    /// Barrier request.
    Barrier,
    /// Port-mod.
    PortMod(crate::port::PortMod),
    /// Packet-out.
    PacketOut(crate::port::PacketOut),
    /// Role request.
    RoleRequest {
        /// OFPCR_ROLE_*.
        role: u32,
        /// Generation id.
        generation_id: u64,
    },
    /// Get-async request.
    GetAsyncRequest,
    /// Set-async: the body as sent (its layout depends on the version; the connection
    /// applies it with [`crate::async_config::AsyncConfig::apply`]).
    SetAsync(Vec<u8>),
    /// NXT_SET_CONTROLLER_ID.
    SetControllerId(u16),
    /// NXT_SET_PACKET_IN_FORMAT.
    SetPacketInFormat(u32),
    /// NXT_RESUME: a paused packet, sent back to continue.
    Resume(Box<crate::packet_in::Resume>),
    /// OFPT_METER_MOD (OpenFlow 1.3+).
    MeterMod(pipeline::tables::MeterMod),
    /// NXT_TLV_TABLE_MOD (`ovs-ofctl add-tlv-map`, `del-tlv-map`).
    TlvTableMod {
        /// [`TLV_ADD`], [`TLV_DELETE`] or [`TLV_CLEAR`].
        command: u16,
        /// The mappings.
        maps: Vec<TlvMapping>,
    },
    /// NXT_TLV_TABLE_REQUEST (`ovs-ofctl dump-tlv-map`).
    TlvTableRequest,
    /// NXT_SET_FLOW_FORMAT (OpenFlow 1.0): `NXFF_OPENFLOW10` or `NXFF_NXM`.
    SetFlowFormat(u32),
    /// NXT_FLOW_MOD_TABLE_ID (OpenFlow 1.0): whether a flow-mod command's high byte is its
    /// table.
    FlowModTableId(bool),
    /// OFPT_BUNDLE_CONTROL: open, close, commit or discard a bundle.
    BundleControl {
        /// Bundle id.
        id: u32,
        /// OFPBCT_* request type.
        ty: u16,
        /// OFPBF_ATOMIC | OFPBF_ORDERED.
        flags: u16,
    },
    /// OFPT_BUNDLE_ADD_MESSAGE: a message to apply when the bundle commits.
    BundleAdd {
        /// Bundle id.
        id: u32,
        /// Flags (as at open).
        flags: u16,
        /// The message's xid (must be the bundle-add's own).
        xid: u32,
        /// The message, decoded (flow-mods and group-mods may be bundled).
        inner: Box<Message>,
    },
}

/// OFPBCT_OPEN_REQUEST.
pub const BCT_OPEN_REQUEST: u16 = 0;
/// OFPBCT_OPEN_REPLY.
pub const BCT_OPEN_REPLY: u16 = 1;
/// OFPBCT_CLOSE_REQUEST.
pub const BCT_CLOSE_REQUEST: u16 = 2;
/// OFPBCT_CLOSE_REPLY.
pub const BCT_CLOSE_REPLY: u16 = 3;
/// OFPBCT_COMMIT_REQUEST.
pub const BCT_COMMIT_REQUEST: u16 = 4;
/// OFPBCT_COMMIT_REPLY.
pub const BCT_COMMIT_REPLY: u16 = 5;
/// OFPBCT_DISCARD_REQUEST.
pub const BCT_DISCARD_REQUEST: u16 = 6;
/// OFPBCT_DISCARD_REPLY.
pub const BCT_DISCARD_REPLY: u16 = 7;

/// OFPET_BUNDLE_FAILED.
pub const BUNDLE_FAILED: u16 = 17;
/// OFPBFC_UNKNOWN.
pub const BFC_UNKNOWN: u16 = 0;
/// OFPBFC_BAD_ID.
pub const BFC_BAD_ID: u16 = 2;
/// OFPBFC_BUNDLE_EXIST.
pub const BFC_BUNDLE_EXIST: u16 = 3;
/// OFPBFC_BUNDLE_CLOSED.
pub const BFC_BUNDLE_CLOSED: u16 = 4;
/// OFPBFC_OUT_OF_BUNDLES.
pub const BFC_OUT_OF_BUNDLES: u16 = 5;
/// OFPBFC_BAD_TYPE.
pub const BFC_BAD_TYPE: u16 = 6;
/// OFPBFC_BAD_FLAGS.
pub const BFC_BAD_FLAGS: u16 = 7;
/// OFPBFC_MSG_BAD_LEN.
pub const BFC_MSG_BAD_LEN: u16 = 8;
/// OFPBFC_MSG_BAD_XID.
pub const BFC_MSG_BAD_XID: u16 = 9;
/// OFPBFC_MSG_UNSUP.
pub const BFC_MSG_UNSUP: u16 = 10;
/// OFPBFC_MSG_TOO_MANY.
pub const BFC_MSG_TOO_MANY: u16 = 12;
/// OFPBFC_MSG_FAILED.
pub const BFC_MSG_FAILED: u16 = 13;

fn put_tlv_maps(out: &mut Vec<u8>, maps: &[TlvMapping]) {
    for m in maps {
        put16(out, m.class);
        out.push(m.ty);
        out.push(m.len);
        put16(out, m.index);
        zeros(out, 2);
    }
}

/// The TLV table reply: the option space and fields brisk has, and the mappings.
pub fn tlv_table_reply(
    version: u8,
    xid: u32,
    max_option_space: u32,
    max_fields: u16,
    maps: &[TlvMapping],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + 8 * maps.len());
    let at = start(&mut out, version, T_EXPERIMENTER, xid);
    put32(&mut out, NX_VENDOR_ID);
    put32(&mut out, NXT_TLV_TABLE_REPLY);
    put32(&mut out, max_option_space);
    put16(&mut out, max_fields);
    zeros(&mut out, 10);
    put_tlv_maps(&mut out, maps);
    finish(&mut out, at);
    out
}

/// A bundle-control reply.
pub fn bundle_reply(version: u8, xid: u32, id: u32, ty: u16, flags: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    let at = start(&mut out, version, T_BUNDLE_CONTROL, xid);
    put32(&mut out, id);
    put16(&mut out, ty);
    put16(&mut out, flags);
    finish(&mut out, at);
    out
}

/// Decodes one complete message (its length as the header says). The version must already
/// be negotiated, except for hello, error and echo, which every version shares.
pub fn decode(msg: &[u8]) -> Result<(OfHeader, Message), OfError> {
    let h = OfHeader::parse(msg).ok_or_else(|| {
        OfError::new(
            (e::BAD_REQUEST, e::BAD_REQUEST_LEN),
            "message under 8 bytes",
        )
    })?;
    if usize::from(h.length) != msg.len() {
        return Err(OfError::new(
            (e::BAD_REQUEST, e::BAD_REQUEST_LEN),
            format!("length field {} but {} bytes", h.length, msg.len()),
        ));
    }
    let body = &msg[HEADER_LEN..];
    let shared = matches!(h.ty, T_HELLO | T_ERROR | T_ECHO_REQUEST | T_ECHO_REPLY);
    if !shared && !VERSIONS.contains(&h.version) {
        return Err(OfError::new(
            (e::BAD_REQUEST, e::BAD_REQUEST_VERSION),
            format!("version {:#04x}", h.version),
        ));
    }
    if h.version == crate::OFP10 && !shared {
        return Ok((h, crate::of10::decode(&h, body)?));
    }
    let mut r = Reader::new(body, (e::BAD_REQUEST, e::BAD_REQUEST_LEN));
    let m = match h.ty {
        T_HELLO => Message::Hello {
            versions: hello_versions(h.version, body),
        },
        T_ERROR => {
            let ty = r.u16("error type")?;
            let code = r.u16("error code")?;
            Message::Error {
                ty,
                code,
                data: r.rest().to_vec(),
            }
        }
        T_ECHO_REQUEST => Message::EchoRequest(body.to_vec()),
        T_ECHO_REPLY => Message::EchoReply(body.to_vec()),
        T_FEATURES_REQUEST => empty(body, Message::FeaturesRequest)?,
        T_GET_CONFIG_REQUEST => empty(body, Message::GetConfigRequest)?,
        T_SET_CONFIG => {
            let flags = r.u16("set_config flags")?;
            let miss_send_len = r.u16("set_config miss_send_len")?;
            Message::SetConfig {
                flags,
                miss_send_len,
            }
        }
        T_FLOW_MOD => Message::FlowMod(decode_flow_mod(body, h.version)?),
        T_GROUP_MOD => Message::GroupMod(crate::group::decode_group_mod(body, h.version)?),
        crate::meter::T_METER_MOD => Message::MeterMod(crate::meter::decode_meter_mod(body)?),
        T_MULTIPART_REQUEST => Message::Multipart(multipart::decode_request(body, h.version)?.1),
        T_BARRIER_REQUEST => empty(body, Message::Barrier)?,
        crate::port::T_PACKET_OUT => {
            Message::PacketOut(crate::port::decode_packet_out(body, h.version)?)
        }
        crate::port::T_PORT_MOD => Message::PortMod(crate::port::decode_port_mod(body, h.version)?),
        T_ROLE_REQUEST => {
            let role = r.u32("role")?;
            r.skip(4, "role pad")?;
            let generation_id = r.u64("generation_id")?;
            Message::RoleRequest {
                role,
                generation_id,
            }
        }
        T_GET_ASYNC_REQUEST => empty(body, Message::GetAsyncRequest)?,
        T_SET_ASYNC => Message::SetAsync(body.to_vec()),
        T_EXPERIMENTER => decode_experimenter(&mut r, h.version)?,
        T_BUNDLE_CONTROL if h.version >= crate::OFP14 => {
            let id = r.u32("bundle id")?;
            let ty = r.u16("bundle control type")?;
            let flags = r.u16("bundle flags")?;
            Message::BundleControl { id, ty, flags }
        }
        T_BUNDLE_ADD if h.version >= crate::OFP14 => {
            let id = r.u32("bundle id")?;
            r.skip(2, "bundle pad")?;
            let flags = r.u16("bundle flags")?;
            let rest = r.rest();
            let inner_len = OfHeader::parse(rest).map(|ih| usize::from(ih.length));
            let Some(n) = inner_len.filter(|&n| n >= HEADER_LEN && n <= rest.len()) else {
                return Err(OfError::new(
                    (BUNDLE_FAILED, BFC_MSG_BAD_LEN),
                    "bundled message's length does not fit the bundle-add",
                ));
            };
            let (ih, inner) = decode(&rest[..n])?;
            if ih.version != h.version {
                return Err(OfError::new(
                    (e::BAD_REQUEST, e::BAD_REQUEST_VERSION),
                    "bundled message of another version",
                ));
            }
            Message::BundleAdd {
                id,
                flags,
                xid: ih.xid,
                inner: Box::new(inner),
            }
        }
        ty => {
            return Err(OfError::new(
                (e::BAD_REQUEST, e::BAD_REQUEST_TYPE),
                format!("message type {ty} is not supported"),
            ))
        }
    };
    Ok((h, m))
}

fn empty(body: &[u8], m: Message) -> Result<Message, OfError> {
    if body.is_empty() {
        Ok(m)
    } else {
        Err(OfError::new(
            (e::BAD_REQUEST, e::BAD_REQUEST_LEN),
            format!("{} bytes of body in a message that has none", body.len()),
        ))
    }
}

pub(crate) fn decode_experimenter(r: &mut Reader<'_>, version: u8) -> Result<Message, OfError> {
    let vendor = r.u32("experimenter id")?;
    let sub = r.u32("experimenter type")?;
    if vendor != NX_VENDOR_ID {
        return Err(OfError::new(
            (e::BAD_REQUEST, e::BAD_REQUEST_EXPERIMENTER),
            format!("experimenter {vendor:#010x}"),
        ));
    }
    match sub {
        NXT_SET_CONTROLLER_ID => {
            r.skip(6, "controller id pad")?;
            Ok(Message::SetControllerId(r.u16("controller id")?))
        }
        NXT_SET_PACKET_IN_FORMAT => Ok(Message::SetPacketInFormat(r.u32("packet-in format")?)),
        crate::packet_in::NXT_RESUME => Ok(Message::Resume(Box::new(
            crate::packet_in::decode_resume(r.rest(), version)?,
        ))),
        NXT_TLV_TABLE_REQUEST => Ok(Message::TlvTableRequest),
        NXT_TLV_TABLE_MOD => {
            let command = r.u16("tlv command")?;
            r.skip(6, "tlv pad")?;
            let mut maps = Vec::new();
            while r.remaining() > 0 {
                let class = r.u16("tlv option class")?;
                let ty = r.u8("tlv option type")?;
                let len = r.u8("tlv option length")?;
                let index = r.u16("tlv index")?;
                r.skip(2, "tlv pad")?;
                maps.push(TlvMapping {
                    class,
                    ty,
                    len,
                    index,
                });
            }
            if command > TLV_CLEAR {
                // NXTTMFC_BAD_COMMAND.
                return Err(OfError::new(
                    (0xffff, 16),
                    format!("TLV table command {command}"),
                ));
            }
            Ok(Message::TlvTableMod { command, maps })
        }
        _ => Err(OfError::new(
            (e::BAD_REQUEST, e::BAD_REQUEST_EXP_TYPE),
            format!("Nicira message type {sub} is not supported"),
        )),
    }
}

/// The versions a hello offers: its version-bitmap element when present, else every
/// version up to the header's.
pub fn hello_versions(header_version: u8, body: &[u8]) -> u32 {
    let mut r = Reader::new(body, (e::BAD_REQUEST, e::BAD_REQUEST_LEN));
    while r.remaining() >= 4 {
        let (Ok(ty), Ok(len)) = (r.u16("hello element"), r.u16("hello element length")) else {
            break;
        };
        let len = usize::from(len);
        if len < 4 {
            break;
        }
        let Ok(payload) = r.bytes(len - 4, "hello element") else {
            break;
        };
        if ty == 1 && payload.len() >= 4 {
            return u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
        }
        let pad = len.div_ceil(8) * 8 - len;
        if r.skip(pad, "hello pad").is_err() {
            break;
        }
    }
    if header_version >= 31 {
        u32::MAX
    } else {
        (2u32 << header_version) - 2
    }
}

/// The version both sides speak: the highest in both bitmaps.
pub fn negotiate(peer: u32) -> Option<u8> {
    VERSIONS
        .iter()
        .rev()
        .copied()
        .find(|&v| peer & (1 << v) != 0)
}

/// The versions brisk speaks, as a hello's version bitmap.
pub fn all_versions() -> u32 {
    VERSIONS.iter().fold(0u32, |b, &v| b | (1 << v))
}

/// brisk's hello: the highest version it speaks in the header, and the bitmap of all.
pub fn hello(xid: u32) -> Vec<u8> {
    hello_offering(xid, all_versions())
}

/// A hello offering only the versions of `bitmap` that brisk speaks (a bridge's
/// `protocols`): the highest in the header.
pub fn hello_offering(xid: u32, bitmap: u32) -> Vec<u8> {
    let bitmap = bitmap & all_versions();
    let mut out = Vec::with_capacity(16);
    let top = VERSIONS
        .iter()
        .rev()
        .copied()
        .find(|&v| bitmap & (1 << v) != 0)
        .unwrap_or(*VERSIONS.last().expect("versions"));
    let at = start(&mut out, top, T_HELLO, xid);
    put16(&mut out, 1);
    put16(&mut out, 8);
    put32(&mut out, bitmap);
    finish(&mut out, at);
    out
}

/// A message with only a header (barrier reply, get-config request...).
pub fn bare(version: u8, ty: u8, xid: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(8);
    let at = start(&mut out, version, ty, xid);
    finish(&mut out, at);
    out
}

/// An echo reply carrying the request's payload.
pub fn echo_reply(version: u8, xid: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    let at = start(&mut out, version, T_ECHO_REPLY, xid);
    out.extend_from_slice(payload);
    finish(&mut out, at);
    out
}

/// The features reply (`ofp_switch_features`, 1.3+: no ports).
pub fn features_reply(version: u8, xid: u32, datapath_id: u64, n_tables: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    let at = start(&mut out, version, T_FEATURES_REPLY, xid);
    put64(&mut out, datapath_id);
    put32(&mut out, 0);
    out.push(n_tables);
    out.push(0);
    zeros(&mut out, 2);
    // FLOW_STATS | TABLE_STATS | PORT_STATS | GROUP_STATS | BUNDLES.
    put32(&mut out, 0x0f | 1 << 9);
    put32(&mut out, 0);
    finish(&mut out, at);
    out
}

/// The get-config reply.
pub fn get_config_reply(version: u8, xid: u32, flags: u16, miss_send_len: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(12);
    let at = start(&mut out, version, T_GET_CONFIG_REPLY, xid);
    put16(&mut out, flags);
    put16(&mut out, miss_send_len);
    finish(&mut out, at);
    out
}

/// The role reply.
pub fn role_reply(version: u8, xid: u32, role: u32, generation_id: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    let at = start(&mut out, version, T_ROLE_REPLY, xid);
    put32(&mut out, role);
    zeros(&mut out, 4);
    put64(&mut out, generation_id);
    finish(&mut out, at);
    out
}

/// Encodes a message (the inverse of [`decode`] for every message it produces).
pub fn encode(version: u8, xid: u32, m: &Message) -> Vec<u8> {
    if version == crate::OFP10 {
        if let Some(out) = encode10(xid, m) {
            return out;
        }
    }
    match m {
        Message::PortMod(pm) => return crate::port::encode_port_mod(version, xid, pm),
        Message::PacketOut(po) => return crate::port::encode_packet_out(version, xid, po),
        Message::Resume(r) => return crate::packet_in::encode_resume_msg(version, xid, r),
        _ => {}
    }
    let mut out = Vec::with_capacity(64);
    let ty = match m {
        Message::PortMod(_) | Message::PacketOut(_) | Message::Resume(_) => {
            unreachable!("encoded above")
        }
        Message::Hello { .. } => T_HELLO,
        Message::Error { .. } => T_ERROR,
        Message::EchoRequest(_) => T_ECHO_REQUEST,
        Message::EchoReply(_) => T_ECHO_REPLY,
        Message::FeaturesRequest => T_FEATURES_REQUEST,
        Message::GetConfigRequest => T_GET_CONFIG_REQUEST,
        Message::SetConfig { .. } => T_SET_CONFIG,
        Message::FlowMod(_) => T_FLOW_MOD,
        Message::GroupMod(_) => T_GROUP_MOD,
        Message::MeterMod(_) => crate::meter::T_METER_MOD,
        Message::Multipart(_) => T_MULTIPART_REQUEST,
        Message::Barrier => T_BARRIER_REQUEST,
        Message::RoleRequest { .. } => T_ROLE_REQUEST,
        Message::GetAsyncRequest => T_GET_ASYNC_REQUEST,
        Message::SetAsync(_) => T_SET_ASYNC,
        Message::SetControllerId(_)
        | Message::SetFlowFormat(_)
        | Message::FlowModTableId(_)
        | Message::SetPacketInFormat(_)
        | Message::TlvTableMod { .. }
        | Message::TlvTableRequest => T_EXPERIMENTER,
        Message::BundleControl { .. } => T_BUNDLE_CONTROL,
        Message::BundleAdd { .. } => T_BUNDLE_ADD,
    };
    let at = start(&mut out, version, ty, xid);
    match m {
        Message::Hello { versions } => {
            put16(&mut out, 1);
            put16(&mut out, 8);
            put32(&mut out, *versions);
        }
        Message::Error { ty, code, data } => {
            put16(&mut out, *ty);
            put16(&mut out, *code);
            out.extend_from_slice(data);
        }
        Message::EchoRequest(p) | Message::EchoReply(p) | Message::SetAsync(p) => {
            out.extend_from_slice(p)
        }
        Message::FeaturesRequest
        | Message::GetConfigRequest
        | Message::Barrier
        | Message::GetAsyncRequest
        | Message::PortMod(_)
        | Message::PacketOut(_) => {}
        Message::SetConfig {
            flags,
            miss_send_len,
        } => {
            put16(&mut out, *flags);
            put16(&mut out, *miss_send_len);
        }
        Message::FlowMod(fm) => encode_flow_mod(fm, version, &mut out),
        Message::GroupMod(gm) => crate::group::encode_group_mod(gm, version, &mut out),
        Message::MeterMod(mm) => crate::meter::encode_meter_mod(mm, &mut out),
        Message::Multipart(req) => encode_mp_request(req, version, &mut out),
        Message::RoleRequest {
            role,
            generation_id,
        } => {
            put32(&mut out, *role);
            zeros(&mut out, 4);
            put64(&mut out, *generation_id);
        }
        Message::SetControllerId(id) => {
            put32(&mut out, NX_VENDOR_ID);
            put32(&mut out, NXT_SET_CONTROLLER_ID);
            zeros(&mut out, 6);
            put16(&mut out, *id);
        }
        Message::SetPacketInFormat(f) => {
            put32(&mut out, NX_VENDOR_ID);
            put32(&mut out, NXT_SET_PACKET_IN_FORMAT);
            put32(&mut out, *f);
        }
        Message::Resume(_) => unreachable!("encoded above"),
        Message::TlvTableMod { command, maps } => {
            put32(&mut out, NX_VENDOR_ID);
            put32(&mut out, NXT_TLV_TABLE_MOD);
            put16(&mut out, *command);
            zeros(&mut out, 6);
            put_tlv_maps(&mut out, maps);
        }
        Message::TlvTableRequest => {
            put32(&mut out, NX_VENDOR_ID);
            put32(&mut out, NXT_TLV_TABLE_REQUEST);
        }
        Message::SetFlowFormat(f) => {
            put32(&mut out, NX_VENDOR_ID);
            put32(&mut out, crate::of10::NXT_SET_FLOW_FORMAT);
            put32(&mut out, *f);
        }
        Message::FlowModTableId(on) => {
            put32(&mut out, NX_VENDOR_ID);
            put32(&mut out, crate::of10::NXT_FLOW_MOD_TABLE_ID);
            out.push(u8::from(*on));
            zeros(&mut out, 7);
        }
        Message::BundleControl { id, ty, flags } => {
            put32(&mut out, *id);
            put16(&mut out, *ty);
            put16(&mut out, *flags);
        }
        Message::BundleAdd {
            id,
            flags,
            xid,
            inner,
        } => {
            put32(&mut out, *id);
            zeros(&mut out, 2);
            put16(&mut out, *flags);
            out.extend_from_slice(&encode(version, *xid, inner));
        }
    }
    finish(&mut out, at);
    out
}

/// The OpenFlow 1.0 messages whose numbering or body differ from later versions'.
fn encode10(xid: u32, m: &Message) -> Option<Vec<u8>> {
    use crate::of10 as o;
    let mut out = Vec::with_capacity(64);
    let at = match m {
        Message::FlowMod(fm) => {
            let at = start(&mut out, crate::OFP10, T_EXPERIMENTER, xid);
            o::encode_nx_flow_mod(fm, &mut out);
            at
        }
        Message::Multipart(req) => {
            let at = start(&mut out, crate::OFP10, o::T_STATS_REQUEST, xid);
            o::encode_stats_request(req, &mut out);
            at
        }
        Message::Barrier => start(&mut out, crate::OFP10, o::T_BARRIER_REQUEST, xid),
        Message::GroupMod(gm) => {
            let at = start(&mut out, crate::OFP10, T_EXPERIMENTER, xid);
            put32(&mut out, NX_VENDOR_ID);
            put32(&mut out, o::NXT_GROUP_MOD);
            crate::group::encode_group_mod(gm, crate::OFP10, &mut out);
            at
        }
        Message::SetAsync(body) => {
            let at = start(&mut out, crate::OFP10, T_EXPERIMENTER, xid);
            put32(&mut out, NX_VENDOR_ID);
            put32(&mut out, o::NXT_SET_ASYNC_CONFIG);
            out.extend_from_slice(body);
            at
        }
        _ => return None,
    };
    finish(&mut out, at);
    Some(out)
}

fn encode_mp_request(req: &MpRequest, version: u8, out: &mut Vec<u8>) {
    use multipart::mp;
    let port = |out: &mut Vec<u8>, p: Option<u32>| {
        put32(out, p.map_or(0xffff_ffff, crate::oxm::port_to_of11));
        zeros(out, 4);
    };
    let ty = match req {
        MpRequest::Desc => mp::DESC,
        MpRequest::Flow(_) => mp::FLOW,
        MpRequest::Aggregate(_) => mp::AGGREGATE,
        MpRequest::Table => mp::TABLE,
        MpRequest::PortStats(_) => mp::PORT_STATS,
        MpRequest::PortDesc(_) => mp::PORT_DESC,
        MpRequest::GroupDesc(_) => mp::GROUP_DESC,
        MpRequest::GroupStats(_) => mp::GROUP,
        MpRequest::GroupFeatures => mp::GROUP_FEATURES,
        MpRequest::MeterFeatures => mp::METER_FEATURES,
        MpRequest::MeterStats(_) => mp::METER,
        MpRequest::MeterConfig(_) => mp::METER_CONFIG,
        MpRequest::TableFeatures(_) => mp::TABLE_FEATURES,
        MpRequest::Other(t) => *t,
        // OpenFlow 1.0's Nicira statistics: only 1.0 decodes them.
        MpRequest::NxFlow(_) | MpRequest::NxAggregate(_) => mp::EXPERIMENTER,
    };
    put16(out, ty);
    put16(out, 0);
    zeros(out, 4);
    match req {
        MpRequest::Flow(q) | MpRequest::Aggregate(q) => {
            crate::flow_mod::encode_flow_stats_request(q, version, out)
        }
        MpRequest::PortStats(p) => port(out, *p),
        MpRequest::PortDesc(Some(p)) => port(out, Some(*p)),
        MpRequest::GroupDesc(Some(g)) => {
            put32(out, *g);
            zeros(out, 4);
        }
        MpRequest::GroupStats(g) => {
            put32(out, g.unwrap_or(0xffff_fffc));
            zeros(out, 4);
        }
        MpRequest::MeterStats(m) | MpRequest::MeterConfig(m) => {
            put32(out, m.unwrap_or(crate::meter::METER_ALL));
            zeros(out, 4);
        }
        MpRequest::TableFeatures(b) => out.extend_from_slice(b),
        _ => {}
    }
}
