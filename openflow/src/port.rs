//! Messages about ports and packets the controller hands to the switch: port-mod (no-flood,
//! down, no-receive, no-forward), port-status (what a port-mod changed), and packet-out.

use crate::buf::{put16, put32, zeros, Reader};
use crate::multipart::{encode_port, PortDesc};
use crate::oxm::{self, port_from_of11, port_to_of11};
use crate::{errors as e, finish, start, OfError, OFP10, OFP14, OFP15};
use pipeline::field::Field;
use pipeline::ofctl::{port, Action};

/// OFPT_PACKET_OUT (every version).
pub const T_PACKET_OUT: u8 = 13;
/// OFPT_PORT_STATUS (every version).
pub const T_PORT_STATUS: u8 = 12;
/// OFPT_PORT_MOD in OpenFlow 1.1 and later.
pub const T_PORT_MOD: u8 = 16;
/// OFPT_PORT_MOD in OpenFlow 1.0.
pub const T10_PORT_MOD: u8 = 15;
pub use crate::flow_mod::NO_BUFFER;
/// OFPET_PORT_MOD_FAILED (OpenFlow 1.1 and later).
pub const PORT_MOD_FAILED: u16 = 7;
/// OFPPMFC_BAD_PORT.
pub const PORT_MOD_BAD_PORT: u16 = 0;
/// OFPPMFC_BAD_HW_ADDR.
pub const PORT_MOD_BAD_HW_ADDR: u16 = 1;
/// OFPPMFC_BAD_CONFIG.
pub const PORT_MOD_BAD_CONFIG: u16 = 2;
/// OFPPR_MODIFY.
pub const PR_MODIFY: u8 = 2;

/// A port-mod: set the configuration bits under `mask` of port `port_no`, whose MAC must be
/// `hw_addr` (so a controller does not change a port that was replaced under it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMod {
    /// Port number (brisk's numbering).
    pub port_no: u32,
    /// The port's MAC as the controller knows it.
    pub hw_addr: [u8; 6],
    /// OFPPC_* bits.
    pub config: u32,
    /// Which bits to change.
    pub mask: u32,
    /// OFPPF_* to advertise (0: unchanged); brisk's ports advertise nothing.
    pub advertise: u32,
}

fn mac(r: &mut Reader<'_>) -> Result<[u8; 6], OfError> {
    let b = r.bytes(6, "hw_addr")?;
    Ok([b[0], b[1], b[2], b[3], b[4], b[5]])
}

/// Decodes a port-mod's body (after the header).
pub fn decode_port_mod(body: &[u8], version: u8) -> Result<PortMod, OfError> {
    let mut r = Reader::new(body, (e::BAD_REQUEST, e::BAD_REQUEST_LEN));
    if version == OFP10 {
        let port_no = u32::from(r.u16("port_no")?);
        let hw_addr = mac(&mut r)?;
        let config = r.u32("config")?;
        let mask = r.u32("mask")?;
        let advertise = r.u32("advertise")?;
        r.skip(4, "pad")?;
        return Ok(PortMod {
            port_no,
            hw_addr,
            config,
            mask,
            advertise,
        });
    }
    let raw = r.u32("port_no")?;
    let port_no = port_from_of11(raw).ok_or_else(|| {
        OfError::new(
            (PORT_MOD_FAILED, PORT_MOD_BAD_PORT),
            format!("port {raw:#x}"),
        )
    })?;
    r.skip(4, "pad")?;
    let hw_addr = mac(&mut r)?;
    r.skip(2, "pad")?;
    let config = r.u32("config")?;
    let mask = r.u32("mask")?;
    let mut advertise = 0;
    if version >= OFP14 {
        for (ty, b) in crate::buf::tlvs(
            r.rest(),
            (e::BAD_REQUEST, e::BAD_REQUEST_LEN),
            "port-mod property",
        )? {
            if ty == 0 {
                advertise =
                    Reader::new(b, (e::BAD_REQUEST, e::BAD_REQUEST_LEN)).u32("advertise")?;
            }
        }
    } else {
        advertise = r.u32("advertise")?;
        r.skip(4, "pad")?;
    }
    Ok(PortMod {
        port_no,
        hw_addr,
        config,
        mask,
        advertise,
    })
}

/// Encodes a port-mod (a controller's side; used by tests and the fuzz target).
pub fn encode_port_mod(version: u8, xid: u32, pm: &PortMod) -> Vec<u8> {
    let mut out = Vec::new();
    if version == OFP10 {
        let at = start(&mut out, version, T10_PORT_MOD, xid);
        put16(&mut out, pm.port_no as u16);
        out.extend_from_slice(&pm.hw_addr);
        put32(&mut out, pm.config);
        put32(&mut out, pm.mask);
        put32(&mut out, pm.advertise);
        zeros(&mut out, 4);
        finish(&mut out, at);
        return out;
    }
    let at = start(&mut out, version, T_PORT_MOD, xid);
    put32(&mut out, port_to_of11(pm.port_no));
    zeros(&mut out, 4);
    out.extend_from_slice(&pm.hw_addr);
    zeros(&mut out, 2);
    put32(&mut out, pm.config);
    put32(&mut out, pm.mask);
    if version >= OFP14 {
        put16(&mut out, 0);
        put16(&mut out, 8);
        put32(&mut out, pm.advertise);
    } else {
        put32(&mut out, pm.advertise);
        zeros(&mut out, 4);
    }
    finish(&mut out, at);
    out
}

/// OFPT_PORT_STATUS: a port was added, deleted or modified (OFPPR_*).
pub fn port_status(version: u8, xid: u32, reason: u8, p: &PortDesc) -> Vec<u8> {
    let mut out = Vec::new();
    let at = start(&mut out, version, T_PORT_STATUS, xid);
    out.push(reason);
    zeros(&mut out, 7);
    encode_port(p, version, &mut out);
    finish(&mut out, at);
    out
}

/// A packet-out: a frame the controller gives the switch, with the actions to apply.
#[derive(Clone, Debug, PartialEq)]
pub struct PacketOut {
    /// A buffered packet's id, or [`NO_BUFFER`] (brisk buffers none).
    pub buffer_id: u32,
    /// The port the packet counts as received on (`CONTROLLER` when none).
    pub in_port: u32,
    /// What to do with it.
    pub actions: Vec<Action>,
    /// The frame.
    pub data: Vec<u8>,
}

fn bad_port(p: u32) -> OfError {
    OfError::new(
        (e::BAD_REQUEST, e::BAD_REQUEST_PORT),
        format!("packet-out in_port {p:#x}"),
    )
}

/// Decodes a packet-out's body. OpenFlow 1.5 gives the input port in a match; brisk takes
/// the input port from it and refuses other fields.
pub fn decode_packet_out(body: &[u8], version: u8) -> Result<PacketOut, OfError> {
    let mut r = Reader::new(body, (e::BAD_REQUEST, e::BAD_REQUEST_LEN));
    let buffer_id = r.u32("buffer_id")?;
    let (in_port, actions_len) = if version == OFP10 {
        let p = u32::from(r.u16("in_port")?);
        (p, r.u16("actions_len")?)
    } else if version >= OFP15 {
        let len = r.u16("actions_len")?;
        r.skip(2, "pad")?;
        let mut m = oxm::decode_ofp_match(&mut r)?;
        let (v, mask) = m.get(Field::InPort);
        let in_port = if mask == 0 {
            port::CONTROLLER
        } else {
            v as u32
        };
        Field::InPort.set(&mut m.mask, 0);
        if m.mask.w.iter().any(|w| *w != 0) {
            return Err(OfError::new(
                (e::BAD_MATCH, e::BAD_MATCH_FIELD),
                "packet-out match: brisk takes only in_port from it",
            ));
        }
        (in_port, len)
    } else {
        let raw = r.u32("in_port")?;
        let len = r.u16("actions_len")?;
        r.skip(6, "pad")?;
        (port_from_of11(raw).ok_or_else(|| bad_port(raw))?, len)
    };
    if in_port == 0
        || (in_port >= port::MAX && !matches!(in_port, port::LOCAL | port::NONE | port::CONTROLLER))
    {
        return Err(bad_port(in_port));
    }
    let acts = r.bytes(usize::from(actions_len), "packet-out actions")?;
    let actions = crate::action::decode_actions(acts, version)?;
    Ok(PacketOut {
        buffer_id,
        in_port,
        actions,
        data: r.rest().to_vec(),
    })
}

/// Encodes a packet-out (a controller's side; used by tests and the fuzz target).
pub fn encode_packet_out(version: u8, xid: u32, po: &PacketOut) -> Vec<u8> {
    let mut out = Vec::new();
    let at = start(&mut out, version, T_PACKET_OUT, xid);
    put32(&mut out, po.buffer_id);
    let len_at;
    if version == OFP10 {
        put16(&mut out, po.in_port as u16);
        len_at = out.len();
        put16(&mut out, 0);
    } else if version >= OFP15 {
        len_at = out.len();
        put16(&mut out, 0);
        zeros(&mut out, 2);
        let mut m = pipeline::ofctl::Match::default();
        if po.in_port != port::CONTROLLER {
            m.set(Field::InPort, u128::from(po.in_port), u128::MAX);
        }
        oxm::encode_ofp_match(&m, version, &mut out);
    } else {
        put32(&mut out, port_to_of11(po.in_port));
        len_at = out.len();
        put16(&mut out, 0);
        zeros(&mut out, 6);
    }
    let a0 = out.len();
    crate::action::encode_actions(&po.actions, version, &mut out);
    let alen = (out.len() - a0) as u16;
    out[len_at..len_at + 2].copy_from_slice(&alen.to_be_bytes());
    out.extend_from_slice(&po.data);
    finish(&mut out, at);
    out
}
