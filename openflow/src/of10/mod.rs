//! OpenFlow 1.0, as `ovs-ofctl` speaks it when given no `-O`: its own message numbering,
//! `ofp10_match` and actions, and the Nicira extensions OVS adds to it: NXM flow-mods and
//! flow statistics (`NXT_SET_FLOW_FORMAT`, `NXT_FLOW_MOD`, `NXST_FLOW`, `NXST_AGGREGATE`,
//! `NXT_FLOW_REMOVED`), table ids in flow-mod commands (`NXT_FLOW_MOD_TABLE_ID`), and
//! errors OpenFlow 1.0 has no code for, sent as Nicira vendor errors.
//!
//! Decoding yields the same [`Message`]s as later versions; a flow-mod's table is what its
//! command's high byte says (`None` for 0xff), and the connection decides what that means
//! (it is the table only after `NXT_FLOW_MOD_TABLE_ID`).

pub mod action10;
pub mod match10;

use crate::buf::{put16, put32, put64, zeros, Reader};
use crate::flow_mod::{Command, FlowModMsg, FlowStatsEntry, FlowStatsRequest};
use crate::group::GROUP_ALL;
use crate::message::Message;
use crate::multipart::{mp, MpRequest, PortDesc, PortStats, ReplyWriter};
use crate::{errors as e, finish, start, OfError, OfHeader, NX_VENDOR_ID, OFP10};
use pipeline::ofctl::{port, FlowEntry, FlowFlags, Match};

/// OFPT_FLOW_REMOVED.
pub const T_FLOW_REMOVED: u8 = 11;
/// OFPT_PACKET_OUT.
pub const T_PACKET_OUT: u8 = 13;
/// OFPT_FLOW_MOD.
pub const T_FLOW_MOD: u8 = 14;
/// OFPT_PORT_MOD.
pub const T_PORT_MOD: u8 = 15;
/// OFPT_STATS_REQUEST.
pub const T_STATS_REQUEST: u8 = 16;
/// OFPT_STATS_REPLY.
pub const T_STATS_REPLY: u8 = 17;
/// OFPT_BARRIER_REQUEST.
pub const T_BARRIER_REQUEST: u8 = 18;
/// OFPT_BARRIER_REPLY.
pub const T_BARRIER_REPLY: u8 = 19;

/// NXT_SET_FLOW_FORMAT.
pub const NXT_SET_FLOW_FORMAT: u32 = 12;
/// NXT_FLOW_MOD.
pub const NXT_FLOW_MOD: u32 = 13;
/// NXT_FLOW_REMOVED.
pub const NXT_FLOW_REMOVED: u32 = 14;
/// NXT_FLOW_MOD_TABLE_ID.
pub const NXT_FLOW_MOD_TABLE_ID: u32 = 15;
/// NXT_GROUP_MOD: OpenFlow 1.5's group-mod body with 1.0 actions.
pub const NXT_GROUP_MOD: u32 = 31;
/// NXT_SET_ASYNC_CONFIG.
pub const NXT_SET_ASYNC_CONFIG: u32 = 19;
/// NXST_FLOW.
pub const NXST_FLOW: u32 = 0;
/// NXST_AGGREGATE.
pub const NXST_AGGREGATE: u32 = 1;
/// NXFF_OPENFLOW10: flow-mods and flow statistics with `ofp10_match`.
pub const NXFF_OPENFLOW10: u32 = 0;
/// NXFF_NXM: with Nicira's extensible match.
pub const NXFF_NXM: u32 = 2;
/// NXM_NX_COOKIE: the cookie (and its mask) in an NXM match of deletes and statistics.
const NXM_NX_COOKIE: (u16, u8) = (1, 30);
/// OFPFF10_EMERG.
const FF10_EMERG: u16 = 4;

fn bad_len(what: &str, n: usize) -> OfError {
    OfError::new(
        (e::BAD_REQUEST, e::BAD_REQUEST_LEN),
        format!("{what}: {n} bytes"),
    )
}

/// Decodes an OpenFlow 1.0 message's body (hello, error and echo are shared with every
/// version and decoded by the caller).
pub fn decode(h: &OfHeader, body: &[u8]) -> Result<Message, OfError> {
    let mut r = Reader::new(body, (e::BAD_REQUEST, e::BAD_REQUEST_LEN));
    let empty = |m: Message| {
        if body.is_empty() {
            Ok(m)
        } else {
            Err(bad_len("a message without a body", body.len()))
        }
    };
    Ok(match h.ty {
        5 => empty(Message::FeaturesRequest)?,
        7 => empty(Message::GetConfigRequest)?,
        9 => Message::SetConfig {
            flags: r.u16("flags")?,
            miss_send_len: r.u16("miss_send_len")?,
        },
        T_PACKET_OUT => Message::PacketOut(crate::port::decode_packet_out(body, OFP10)?),
        T_FLOW_MOD => Message::FlowMod(decode_std_flow_mod(&mut r)?),
        T_PORT_MOD => Message::PortMod(crate::port::decode_port_mod(body, OFP10)?),
        T_STATS_REQUEST => Message::Multipart(decode_stats_request(&mut r)?),
        T_BARRIER_REQUEST => empty(Message::Barrier)?,
        4 => decode_vendor(body)?,
        ty => {
            return Err(OfError::new(
                (e::BAD_REQUEST, e::BAD_REQUEST_TYPE),
                format!("OpenFlow 1.0 message type {ty}"),
            ))
        }
    })
}

fn decode_vendor(body: &[u8]) -> Result<Message, OfError> {
    let mut r = Reader::new(body, (e::BAD_REQUEST, e::BAD_REQUEST_LEN));
    if r.u32("vendor")? != NX_VENDOR_ID {
        return Err(OfError::new(
            (e::BAD_REQUEST, e::BAD_REQUEST_EXPERIMENTER),
            "vendor other than Nicira",
        ));
    }
    let sub = r.u32("subtype")?;
    match sub {
        NXT_SET_FLOW_FORMAT => Ok(Message::SetFlowFormat(r.u32("flow format")?)),
        NXT_FLOW_MOD_TABLE_ID => {
            let on = r.u8("set")?;
            r.skip(7, "pad")?;
            Ok(Message::FlowModTableId(on != 0))
        }
        NXT_FLOW_MOD => Ok(Message::FlowMod(decode_nx_flow_mod(&mut r)?)),
        NXT_GROUP_MOD => Ok(Message::GroupMod(crate::group::decode_group_mod(
            r.rest(),
            OFP10,
        )?)),
        NXT_SET_ASYNC_CONFIG => Ok(Message::SetAsync(r.rest().to_vec())),
        // The rest (controller id, packet-in format, TLV map) as at later versions.
        _ => crate::message::decode_experimenter(
            &mut Reader::new(body, (e::BAD_REQUEST, e::BAD_REQUEST_LEN)),
            OFP10,
        ),
    }
}

/// An NXM match of `len` bytes (then padding to 8), with the cookie and its mask taken out
/// of it (NXM_NX_COOKIE is no flow field).
fn nxm_match(r: &mut Reader<'_>, len: usize) -> Result<(Match, u64, u64), OfError> {
    let bytes = r.bytes(len, "nx_match")?;
    r.skip(len.div_ceil(8) * 8 - len, "nx_match padding")?;
    let mut rest = Vec::with_capacity(bytes.len());
    let (mut cookie, mut mask) = (0, 0);
    let mut rd = Reader::new(bytes, (e::BAD_MATCH, e::BAD_MATCH_LEN));
    while rd.remaining() > 0 {
        let at = rd.pos();
        let h = crate::oxm::read_header(&mut rd)?;
        let n = usize::from(h.len);
        let entry = rd.bytes(n, "nx_match entry")?;
        if (h.class, h.code) == NXM_NX_COOKIE && h.experimenter == 0 {
            let mut c = Reader::new(entry, (e::BAD_MATCH, e::BAD_MATCH_LEN));
            cookie = c.u64("cookie")?;
            mask = if h.hasmask {
                c.u64("cookie mask")?
            } else {
                u64::MAX
            };
        } else {
            rest.extend_from_slice(&bytes[at..at + h.header_len() + n]);
        }
    }
    Ok((crate::oxm::decode_fields(&rest)?, cookie, mask))
}

fn command(raw: u16) -> Result<(Command, Option<u8>), OfError> {
    let cmd = match raw & 0xff {
        0 => Command::Add,
        1 => Command::Modify,
        2 => Command::ModifyStrict,
        3 => Command::Delete,
        4 => Command::DeleteStrict,
        c => {
            return Err(OfError::new(
                (e::FLOW_MOD_FAILED, e::FLOW_MOD_BAD_COMMAND),
                format!("flow-mod command {c}"),
            ))
        }
    };
    let table = (raw >> 8) as u8;
    Ok((cmd, (table != 0xff).then_some(table)))
}

fn flags(f: u16) -> Result<FlowFlags, OfError> {
    if f & !3 != 0 {
        return Err(OfError::new(
            (e::FLOW_MOD_FAILED, e::FLOW_MOD_BAD_FLAGS),
            if f & FF10_EMERG != 0 {
                "emergency flows are not supported".to_string()
            } else {
                format!("flow-mod flags {f:#x}")
            },
        ));
    }
    Ok(FlowFlags {
        send_flow_rem: f & 1 != 0,
        check_overlap: f & 2 != 0,
        ..FlowFlags::default()
    })
}

/// The part of a flow-mod after its match (the same in OFPT_FLOW_MOD and NXT_FLOW_MOD).
struct Head {
    cookie: u64,
    command: u16,
    idle: u16,
    hard: u16,
    priority: u16,
    out_port: u16,
    flags: u16,
}

fn head(r: &mut Reader<'_>) -> Result<Head, OfError> {
    let cookie = r.u64("cookie")?;
    let command = r.u16("command")?;
    let idle = r.u16("idle_timeout")?;
    let hard = r.u16("hard_timeout")?;
    let priority = r.u16("priority")?;
    let buffer_id = r.u32("buffer_id")?;
    if buffer_id != crate::port::NO_BUFFER {
        return Err(OfError::new(
            (e::BAD_REQUEST, e::BAD_REQUEST_BUFFER_UNKNOWN),
            format!("buffer {buffer_id:#x}: brisk buffers no packets"),
        ));
    }
    Ok(Head {
        cookie,
        command,
        idle,
        hard,
        priority,
        out_port: r.u16("out_port")?,
        flags: r.u16("flags")?,
    })
}

fn flow_mod(
    h: Head,
    matches: Match,
    cookie_filter: (u64, u64),
    actions: &[u8],
) -> Result<FlowModMsg, OfError> {
    let (command, table) = command(h.command)?;
    let changes = matches!(
        command,
        Command::Add | Command::Modify | Command::ModifyStrict
    );
    let mut actions = if changes {
        action10::decode(actions)?
    } else {
        Vec::new()
    };
    // `mod_tp_src`/`mod_tp_dst` write the flow's own transport's port (OVS resolves them
    // against the match, so they print back as `udp_dst` on a UDP flow).
    let (proto, proto_mask) = matches.get(pipeline::field::Field::NwProto);
    for a in actions.iter_mut() {
        if let pipeline::ofctl::Action::Set(sf) = a {
            use pipeline::field::Field as F;
            let udp = proto_mask != 0 && proto == 17;
            let sctp = proto_mask != 0 && proto == 132;
            sf.field = match (sf.field, udp, sctp) {
                (F::TpSrc, true, _) => F::UdpSrc,
                (F::TpDst, true, _) => F::UdpDst,
                (F::TpSrc, _, true) => F::SctpSrc,
                (F::TpDst, _, true) => F::SctpDst,
                (F::TpSrc, _, _) => F::TcpSrc,
                (F::TpDst, _, _) => F::TcpDst,
                (f, _, _) => f,
            };
        }
    }
    let (cookie, cookie_mask) = if command == Command::Add {
        (h.cookie, 0)
    } else {
        cookie_filter
    };
    let out_port = u32::from(h.out_port);
    let mut flags = flags(h.flags)?;
    // An OpenFlow 1.0 add always starts the flow's counters afresh (OVS marks it so).
    flags.reset_counts = command == Command::Add;
    let entry = FlowEntry {
        table,
        priority: h.priority,
        cookie,
        cookie_mask,
        idle_timeout: h.idle,
        hard_timeout: h.hard,
        importance: 0,
        flags,
        out_port: (!changes && out_port != port::NONE).then_some(out_port),
        matches,
        actions,
    };
    // OpenFlow 1.0's modify also sets the flows' cookie (unless it is all ones), as OVS.
    let modify = matches!(command, Command::Modify | Command::ModifyStrict);
    Ok(FlowModMsg {
        command,
        entry,
        out_group: None,
        new_cookie: (modify && h.cookie != u64::MAX).then_some(h.cookie),
    })
}

fn decode_std_flow_mod(r: &mut Reader<'_>) -> Result<FlowModMsg, OfError> {
    let m = match10::decode(r)?;
    let h = head(r)?;
    flow_mod(h, m, (0, 0), r.rest())
}

fn decode_nx_flow_mod(r: &mut Reader<'_>) -> Result<FlowModMsg, OfError> {
    let h = head(r)?;
    let match_len = usize::from(r.u16("match_len")?);
    r.skip(6, "pad")?;
    let (m, cookie, mask) = nxm_match(r, match_len)?;
    flow_mod(h, m, (cookie, mask), r.rest())
}

/// Encodes a flow-mod as NXT_FLOW_MOD (the table in the command's high byte, 0xff for
/// none): what the codec's round trip and tests send.
pub fn encode_nx_flow_mod(fm: &FlowModMsg, out: &mut Vec<u8>) {
    let f = &fm.entry;
    put32(out, NX_VENDOR_ID);
    put32(out, NXT_FLOW_MOD);
    put64(
        out,
        match fm.command {
            Command::Add => f.cookie,
            Command::Modify | Command::ModifyStrict => fm.new_cookie.unwrap_or(u64::MAX),
            _ => 0,
        },
    );
    let cmd = match fm.command {
        Command::Add => 0,
        Command::Modify => 1,
        Command::ModifyStrict => 2,
        Command::Delete => 3,
        Command::DeleteStrict => 4,
    };
    put16(out, (u16::from(f.table.unwrap_or(0xff)) << 8) | cmd);
    put16(out, f.idle_timeout);
    put16(out, f.hard_timeout);
    put16(out, f.priority);
    put32(out, crate::port::NO_BUFFER);
    put16(out, f.out_port.map_or(port::NONE, |p| p) as u16);
    put16(
        out,
        u16::from(f.flags.send_flow_rem) | (u16::from(f.flags.check_overlap) << 1),
    );
    let len_at = out.len();
    put16(out, 0);
    zeros(out, 6);
    let m0 = out.len();
    put_nxm(
        &f.matches,
        f.cookie,
        f.cookie_mask,
        fm.command != Command::Add,
        out,
    );
    let len = out.len() - m0;
    out[len_at..len_at + 2].copy_from_slice(&(len as u16).to_be_bytes());
    zeros(out, len.div_ceil(8) * 8 - len);
    action10::encode(&f.actions, out);
}

fn put_nxm(m: &Match, cookie: u64, mask: u64, with_cookie: bool, out: &mut Vec<u8>) {
    crate::oxm::encode_fields_nxm(m, out);
    if with_cookie && mask != 0 {
        put32(out, 0x0001_3d10); // NXM_NX_COOKIE_W
        put64(out, cookie);
        put64(out, mask);
    }
}

fn decode_stats_request(r: &mut Reader<'_>) -> Result<MpRequest, OfError> {
    let ty = r.u16("stats type")?;
    let _flags = r.u16("stats flags")?;
    let std_flow = |r: &mut Reader<'_>| -> Result<FlowStatsRequest, OfError> {
        let matches = match10::decode(r)?;
        let table = r.u8("table_id")?;
        r.skip(1, "pad")?;
        let out_port = u32::from(r.u16("out_port")?);
        Ok(FlowStatsRequest {
            table: (table != 0xff).then_some(table),
            out_port: (out_port != port::NONE).then_some(out_port),
            out_group: None,
            cookie: 0,
            cookie_mask: 0,
            matches,
        })
    };
    Ok(match ty {
        mp::DESC => MpRequest::Desc,
        mp::FLOW => MpRequest::Flow(std_flow(r)?),
        mp::AGGREGATE => MpRequest::Aggregate(std_flow(r)?),
        mp::TABLE => MpRequest::Table,
        mp::PORT_STATS => {
            let p = u32::from(r.u16("port_no")?);
            MpRequest::PortStats((p != port::NONE).then_some(p))
        }
        mp::PORT_DESC => MpRequest::PortDesc(None),
        mp::EXPERIMENTER => {
            if r.u32("vendor")? != NX_VENDOR_ID {
                return Err(OfError::new(
                    (e::BAD_REQUEST, e::BAD_REQUEST_EXPERIMENTER),
                    "statistics vendor other than Nicira",
                ));
            }
            let sub = r.u32("subtype")?;
            r.skip(4, "pad")?;
            // NXST_GROUP, NXST_GROUP_DESC (group id, pad), NXST_GROUP_FEATURES.
            let group = |r: &mut Reader<'_>| -> Result<Option<u32>, OfError> {
                let g = r.u32("group_id")?;
                r.skip(4, "pad")?;
                Ok((g != GROUP_ALL).then_some(g))
            };
            match sub {
                7 => return Ok(MpRequest::GroupStats(group(r)?)),
                8 => return Ok(MpRequest::GroupDesc(group(r)?)),
                9 => return Ok(MpRequest::GroupFeatures),
                _ => {}
            }
            let out_port = u32::from(r.u16("out_port")?);
            let match_len = usize::from(r.u16("match_len")?);
            let table = r.u8("table_id")?;
            r.skip(3, "pad")?;
            let (matches, cookie, cookie_mask) = nxm_match(r, match_len)?;
            let q = FlowStatsRequest {
                table: (table != 0xff).then_some(table),
                out_port: (out_port != port::NONE).then_some(out_port),
                out_group: None,
                cookie,
                cookie_mask,
                matches,
            };
            match sub {
                NXST_FLOW => MpRequest::NxFlow(q),
                NXST_AGGREGATE => MpRequest::NxAggregate(q),
                s => {
                    return Err(OfError::new(
                        (e::BAD_REQUEST, e::BAD_REQUEST_EXP_TYPE),
                        format!("Nicira statistics subtype {s}"),
                    ))
                }
            }
        }
        other => MpRequest::Other(other),
    })
}

/// Encodes a statistics request (a controller's side: tests and the codec's round trip).
pub fn encode_stats_request(req: &MpRequest, out: &mut Vec<u8>) {
    let std_flow = |q: &FlowStatsRequest, out: &mut Vec<u8>| {
        match10::encode(&q.matches, out);
        out.push(q.table.unwrap_or(0xff));
        zeros(out, 1);
        put16(out, q.out_port.unwrap_or(port::NONE) as u16);
    };
    let nx = |sub: u32, q: &FlowStatsRequest, out: &mut Vec<u8>| {
        put16(out, mp::EXPERIMENTER);
        put16(out, 0);
        put32(out, NX_VENDOR_ID);
        put32(out, sub);
        zeros(out, 4);
        put16(out, q.out_port.unwrap_or(port::NONE) as u16);
        let len_at = out.len();
        put16(out, 0);
        out.push(q.table.unwrap_or(0xff));
        zeros(out, 3);
        let m0 = out.len();
        put_nxm(&q.matches, q.cookie, q.cookie_mask, true, out);
        let len = out.len() - m0;
        out[len_at..len_at + 2].copy_from_slice(&(len as u16).to_be_bytes());
        zeros(out, len.div_ceil(8) * 8 - len);
    };
    let ty = |t: u16, out: &mut Vec<u8>| {
        put16(out, t);
        put16(out, 0);
    };
    match req {
        MpRequest::NxFlow(q) => nx(NXST_FLOW, q, out),
        MpRequest::NxAggregate(q) => nx(NXST_AGGREGATE, q, out),
        MpRequest::Flow(q) => {
            ty(mp::FLOW, out);
            std_flow(q, out);
        }
        MpRequest::Aggregate(q) => {
            ty(mp::AGGREGATE, out);
            std_flow(q, out);
        }
        MpRequest::PortStats(p) => {
            ty(mp::PORT_STATS, out);
            put16(out, p.unwrap_or(port::NONE) as u16);
            zeros(out, 6);
        }
        MpRequest::Desc => ty(mp::DESC, out),
        MpRequest::Table => ty(mp::TABLE, out),
        MpRequest::PortDesc(_) => ty(mp::PORT_DESC, out),
        MpRequest::Other(t) => ty(*t, out),
        MpRequest::GroupStats(g) | MpRequest::GroupDesc(g) => {
            let sub = if matches!(req, MpRequest::GroupStats(_)) {
                7
            } else {
                8
            };
            put16(out, mp::EXPERIMENTER);
            put16(out, 0);
            put32(out, NX_VENDOR_ID);
            put32(out, sub);
            zeros(out, 4);
            put32(out, g.unwrap_or(GROUP_ALL));
            zeros(out, 4);
        }
        MpRequest::GroupFeatures => {
            put16(out, mp::EXPERIMENTER);
            put16(out, 0);
            put32(out, NX_VENDOR_ID);
            put32(out, 9);
            zeros(out, 4);
        }
        // Not OpenFlow 1.0 requests: sent as their type only.
        MpRequest::MeterFeatures
        | MpRequest::MeterStats(_)
        | MpRequest::MeterConfig(_)
        | MpRequest::TableFeatures(_) => ty(0xfffe, out),
    }
}

/// `ofp10_phy_port`.
pub fn encode_phy_port(p: &PortDesc, out: &mut Vec<u8>) {
    put16(out, p.port_no as u16);
    out.extend_from_slice(&p.hw_addr);
    let b = p.name.as_bytes();
    let k = b.len().min(15);
    out.extend_from_slice(&b[..k]);
    zeros(out, 16 - k);
    put32(out, p.config);
    put32(out, p.state & 1);
    for _ in 0..4 {
        put32(out, 0);
    }
}

/// `ofp10_port_stats`.
pub fn encode_port_stats(p: &PortStats, out: &mut Vec<u8>) {
    put16(out, p.port_no as u16);
    zeros(out, 6);
    p.put_counters(out);
    zeros(out, 32);
}

/// `ofp10_table_stats` (every OpenFlow 1.0 field wildcardable; no name, so `ovs-ofctl`
/// shows tables by number, as OVS's).
pub fn encode_table_stats(id: u8, active: u32, lookups: u64, matched: u64, out: &mut Vec<u8>) {
    out.push(id);
    zeros(out, 3);
    zeros(out, 32);
    put32(out, match10::FW_ALL);
    put32(out, 1_000_000);
    put32(out, active);
    put64(out, lookups);
    put64(out, matched);
}

/// OFPT_FEATURES_REPLY of OpenFlow 1.0, which lists the ports.
pub fn features_reply(xid: u32, datapath_id: u64, n_tables: u8, ports: &[PortDesc]) -> Vec<u8> {
    let mut out = Vec::new();
    let at = start(&mut out, OFP10, 6, xid);
    put64(&mut out, datapath_id);
    put32(&mut out, 0);
    out.push(n_tables);
    zeros(&mut out, 3);
    // FLOW_STATS | TABLE_STATS | PORT_STATS | ARP_MATCH_IP.
    put32(&mut out, 0x1 | 0x2 | 0x4 | 0x80);
    // Every OpenFlow 1.0 action but enqueue.
    put32(&mut out, 0x7ff);
    for p in ports {
        encode_phy_port(p, &mut out);
    }
    finish(&mut out, at);
    out
}

/// One flow of an NXST_FLOW reply (`nx_flow_stats`).
pub fn encode_nx_flow_stats(s: &FlowStatsEntry<'_>, out: &mut Vec<u8>) {
    let f = s.entry;
    let at = out.len();
    put16(out, 0);
    out.push(f.table_id());
    zeros(out, 1);
    put32(out, s.duration_sec);
    put32(out, s.duration_nsec);
    put16(out, f.priority);
    put16(out, f.idle_timeout);
    put16(out, f.hard_timeout);
    let len_at = out.len();
    put16(out, 0);
    put16(out, s.idle_age.saturating_add(1).min(0xffff) as u16);
    put16(out, s.hard_age.saturating_add(1).min(0xffff) as u16);
    put64(out, f.cookie);
    put64(out, s.packets);
    put64(out, s.bytes);
    let m0 = out.len();
    crate::oxm::encode_fields_nxm(&f.matches, out);
    let len = out.len() - m0;
    out[len_at..len_at + 2].copy_from_slice(&(len as u16).to_be_bytes());
    zeros(out, len.div_ceil(8) * 8 - len);
    action10::encode(&f.actions, out);
    crate::buf::patch_len(out, at, at);
}

/// One flow of an OpenFlow 1.0 OFPST_FLOW reply (`ofp10_flow_stats`).
pub fn encode_std_flow_stats(s: &FlowStatsEntry<'_>, out: &mut Vec<u8>) {
    let f = s.entry;
    let at = out.len();
    put16(out, 0);
    out.push(f.table_id());
    zeros(out, 1);
    match10::encode(&f.matches, out);
    put32(out, s.duration_sec);
    put32(out, s.duration_nsec);
    put16(out, f.priority);
    put16(out, f.idle_timeout);
    put16(out, f.hard_timeout);
    zeros(out, 6);
    put64(out, f.cookie);
    put64(out, s.packets);
    put64(out, s.bytes);
    action10::encode(&f.actions, out);
    crate::buf::patch_len(out, at, at);
}

/// NXST_AGGREGATE reply.
pub fn nx_aggregate_reply(xid: u32, packets: u64, bytes: u64, flows: u32) -> Vec<u8> {
    let mut w = ReplyWriter::nx(xid, NXST_AGGREGATE);
    crate::multipart::put_aggregate(w.buf(), packets, bytes, flows);
    w.finish()
}

/// OFPT_FLOW_REMOVED (`ofp10_flow_removed`), or NXT_FLOW_REMOVED with `nxm`.
pub fn flow_removed(xid: u32, nxm: bool, reason: u8, s: &FlowStatsEntry<'_>) -> Vec<u8> {
    let f = s.entry;
    let mut out = Vec::new();
    if nxm {
        let at = start(&mut out, OFP10, 4, xid);
        put32(&mut out, NX_VENDOR_ID);
        put32(&mut out, NXT_FLOW_REMOVED);
        put64(&mut out, f.cookie);
        put16(&mut out, f.priority);
        out.push(reason);
        out.push(f.table_id().wrapping_add(1));
        put32(&mut out, s.duration_sec);
        put32(&mut out, s.duration_nsec);
        put16(&mut out, f.idle_timeout);
        let len_at = out.len();
        put16(&mut out, 0);
        put64(&mut out, s.packets);
        put64(&mut out, s.bytes);
        let m0 = out.len();
        crate::oxm::encode_fields_nxm(&f.matches, &mut out);
        let len = out.len() - m0;
        out[len_at..len_at + 2].copy_from_slice(&(len as u16).to_be_bytes());
        zeros(&mut out, len.div_ceil(8) * 8 - len);
        finish(&mut out, at);
        return out;
    }
    let at = start(&mut out, OFP10, T_FLOW_REMOVED, xid);
    match10::encode(&f.matches, &mut out);
    put64(&mut out, f.cookie);
    put16(&mut out, f.priority);
    out.push(reason);
    zeros(&mut out, 1);
    put32(&mut out, s.duration_sec);
    put32(&mut out, s.duration_nsec);
    put16(&mut out, f.idle_timeout);
    zeros(&mut out, 2);
    put64(&mut out, s.packets);
    put64(&mut out, s.bytes);
    finish(&mut out, at);
    out
}

/// An error's OpenFlow 1.0 encoding as OVS chooses it: its own type and code where 1.0
/// has one, else Nicira's vendor error (`true`) with OVS's NX1.0 numbers.
pub fn error_code(ty: u16, code: u16) -> (bool, u16, u16) {
    let std = |t, c| (false, t, c);
    let nx = |t, c| (true, t, c);
    match (ty, code) {
        (0, c) => std(0, c),
        (1, c @ 0..=8) => std(1, c),
        (1, 9) => nx(1, 512),
        (1, 10) => std(1, 5),
        (1, 11) => nx(1, 514),
        (2, c @ 0..=8) => std(2, c),
        (2, 9) => nx(2, 9),
        (2, 10) => nx(1, 522),
        (2, c @ 13..=15) => nx(1, 510 + c),
        (3, 1) => nx(2, 257),
        (4, 5) => nx(1, 262),
        (4, 6) => nx(0, 263),
        (4, 7) => nx(1, 258),
        (4, c @ 8..=10) => nx(1, 251 + c),
        (5, 1) => std(3, 0),
        (5, 3) => std(3, 1),
        (5, 4) => std(3, 2),
        (5, 6) => std(3, 4),
        (5, 7) => nx(3, 258),
        (6, c) => nx(6, c),
        (7, c @ 0..=1) => std(4, c),
        (11, 2) => nx(1, 513),
        (e::NX_EXPERIMENTER, c @ 16..=21) => nx(1, 511 + c),
        // NXBRC_UNENCODABLE_ERROR.
        _ => nx(1, 521),
    }
}

/// OFPT_ERROR at OpenFlow 1.0.
pub fn error_reply(xid: u32, err: &OfError, offending: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    let at = start(&mut out, OFP10, crate::message::T_ERROR, xid);
    let (vendor, ty, code) = error_code(err.ty, err.code);
    if vendor {
        put16(&mut out, 0xb0c2); // NXET_VENDOR
        put16(&mut out, 0); // NXVC_VENDOR_ERROR
        put32(&mut out, NX_VENDOR_ID);
        put16(&mut out, ty);
        put16(&mut out, code);
    } else {
        put16(&mut out, ty);
        put16(&mut out, code);
    }
    out.extend_from_slice(&offending[..offending.len().min(64)]);
    finish(&mut out, at);
    out
}
