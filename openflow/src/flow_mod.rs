//! Flow-mods and the instructions that carry a flow's actions, and the flow entries of a
//! flow-stats reply: between the wire and `pipeline::ofctl::FlowEntry`.

use crate::action::{decode_actions, encode_actions};
use crate::buf::{pad8, patch_len, put16, put32, put64, zeros, Reader};
use crate::oxm::{self, decode_ofp_match, encode_ofp_match};
use crate::{errors as e, OfError, OFP14, OFP15};
use pipeline::ofctl::{port, Action, FlowEntry, FlowFlags, Match};

/// `ofp_flow_mod_command`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// OFPFC_ADD.
    Add,
    /// OFPFC_MODIFY.
    Modify,
    /// OFPFC_MODIFY_STRICT.
    ModifyStrict,
    /// OFPFC_DELETE.
    Delete,
    /// OFPFC_DELETE_STRICT.
    DeleteStrict,
}

impl Command {
    fn from_wire(c: u8) -> Option<Command> {
        Some(match c {
            0 => Command::Add,
            1 => Command::Modify,
            2 => Command::ModifyStrict,
            3 => Command::Delete,
            4 => Command::DeleteStrict,
            _ => return None,
        })
    }

    fn to_wire(self) -> u8 {
        match self {
            Command::Add => 0,
            Command::Modify => 1,
            Command::ModifyStrict => 2,
            Command::Delete => 3,
            Command::DeleteStrict => 4,
        }
    }
}

/// A decoded flow-mod: the command and the flow it names. For deletes and modifies the
/// entry's `table` is `None` for all tables, `cookie_mask` and `out_port` filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowModMsg {
    /// What to do.
    pub command: Command,
    /// The flow (match, priority, actions, timeouts, flags, cookie and filters).
    pub entry: FlowEntry,
    /// `out_group` filter of deletes (`None`: any).
    pub out_group: Option<u32>,
    /// The cookie a modify gives the flows it changes (OpenFlow 1.0; later versions keep
    /// the flows' own).
    pub new_cookie: Option<u64>,
}

/// OFPTT_ALL.
pub const TABLE_ALL: u8 = 0xff;
/// OFPP_ANY in OpenFlow 1.1+ numbering.
pub const OFPP_ANY: u32 = 0xffff_ffff;
/// OFPG_ANY.
pub const OFPG_ANY: u32 = 0xffff_ffff;
/// OFP_NO_BUFFER.
pub const NO_BUFFER: u32 = 0xffff_ffff;

const FF_SEND_FLOW_REM: u16 = 1;
const FF_CHECK_OVERLAP: u16 = 2;
const FF_RESET_COUNTS: u16 = 4;
const FF_NO_PKT_COUNTS: u16 = 8;
const FF_NO_BYT_COUNTS: u16 = 16;

const IT_GOTO_TABLE: u16 = 1;
const IT_WRITE_METADATA: u16 = 2;
const IT_WRITE_ACTIONS: u16 = 3;
const IT_APPLY_ACTIONS: u16 = 4;
const IT_CLEAR_ACTIONS: u16 = 5;
const IT_METER: u16 = 6;

fn flags_from(f: u16) -> Result<FlowFlags, OfError> {
    if f & !0x1f != 0 {
        return Err(OfError::new(
            (e::FLOW_MOD_FAILED, e::FLOW_MOD_BAD_FLAGS),
            format!("flow-mod flags {f:#x}"),
        ));
    }
    Ok(FlowFlags {
        send_flow_rem: f & FF_SEND_FLOW_REM != 0,
        check_overlap: f & FF_CHECK_OVERLAP != 0,
        reset_counts: f & FF_RESET_COUNTS != 0,
        no_packet_counts: f & FF_NO_PKT_COUNTS != 0,
        no_byte_counts: f & FF_NO_BYT_COUNTS != 0,
    })
}

fn flags_to(f: &FlowFlags) -> u16 {
    let mut v = 0;
    for (on, bit) in [
        (f.send_flow_rem, FF_SEND_FLOW_REM),
        (f.check_overlap, FF_CHECK_OVERLAP),
        (f.reset_counts, FF_RESET_COUNTS),
        (f.no_packet_counts, FF_NO_PKT_COUNTS),
        (f.no_byte_counts, FF_NO_BYT_COUNTS),
    ] {
        if on {
            v |= bit;
        }
    }
    v
}

/// Decodes the body of an OFPT_FLOW_MOD (after the 8-byte header).
pub fn decode_flow_mod(body: &[u8], version: u8) -> Result<FlowModMsg, OfError> {
    let mut r = Reader::new(body, (e::BAD_REQUEST, e::BAD_REQUEST_LEN));
    let cookie = r.u64("flow_mod cookie")?;
    let cookie_mask = r.u64("flow_mod cookie_mask")?;
    let table = r.u8("flow_mod table_id")?;
    let command = r.u8("flow_mod command")?;
    let idle_timeout = r.u16("flow_mod idle_timeout")?;
    let hard_timeout = r.u16("flow_mod hard_timeout")?;
    let priority = r.u16("flow_mod priority")?;
    let buffer_id = r.u32("flow_mod buffer_id")?;
    let out_port = r.u32("flow_mod out_port")?;
    let out_group = r.u32("flow_mod out_group")?;
    let flags = r.u16("flow_mod flags")?;
    let importance = r.u16("flow_mod importance")?;
    let command = Command::from_wire(command).ok_or_else(|| {
        OfError::new(
            (e::FLOW_MOD_FAILED, e::FLOW_MOD_BAD_COMMAND),
            format!("flow_mod command {command}"),
        )
    })?;
    let matches = decode_ofp_match(&mut r)?;
    let actions = decode_instructions(r.rest(), version)?;
    let is_delete = matches!(command, Command::Delete | Command::DeleteStrict);
    if table == TABLE_ALL && !is_delete {
        return Err(OfError::new(
            (e::FLOW_MOD_FAILED, e::FLOW_MOD_BAD_TABLE_ID),
            "table 255 (all tables) is only for deletes",
        ));
    }
    if buffer_id != NO_BUFFER && !is_delete {
        return Err(OfError::new(
            (e::BAD_REQUEST, e::BAD_REQUEST_BUFFER_UNKNOWN),
            format!("buffer {buffer_id:#x}: brisk buffers no packets"),
        ));
    }
    let flags = flags_from(flags)?;
    let out_port = match out_port {
        OFPP_ANY => None,
        p => Some(oxm::port_from_of11(p).ok_or_else(|| {
            OfError::new(
                (e::BAD_REQUEST, e::BAD_REQUEST_PORT),
                format!("out_port {p:#x}"),
            )
        })?),
    };
    let entry = FlowEntry {
        table: (table != TABLE_ALL).then_some(table),
        priority,
        cookie,
        cookie_mask: if command == Command::Add {
            0
        } else {
            cookie_mask
        },
        idle_timeout,
        hard_timeout,
        importance: if version >= OFP14 { importance } else { 0 },
        flags,
        out_port: if is_delete { out_port } else { None },
        matches,
        actions,
    };
    Ok(FlowModMsg {
        new_cookie: None,
        command,
        entry,
        out_group: (is_delete && out_group != OFPG_ANY).then_some(out_group),
    })
}

/// Encodes an OFPT_FLOW_MOD body.
pub fn encode_flow_mod(fm: &FlowModMsg, version: u8, out: &mut Vec<u8>) {
    let e = &fm.entry;
    put64(out, e.cookie);
    put64(out, e.cookie_mask);
    out.push(e.table.unwrap_or(TABLE_ALL));
    out.push(fm.command.to_wire());
    put16(out, e.idle_timeout);
    put16(out, e.hard_timeout);
    put16(out, e.priority);
    put32(out, NO_BUFFER);
    put32(out, e.out_port.map_or(OFPP_ANY, oxm::port_to_of11));
    put32(out, fm.out_group.unwrap_or(OFPG_ANY));
    put16(out, flags_to(&e.flags));
    put16(out, if version >= OFP14 { e.importance } else { 0 });
    encode_ofp_match(&e.matches, version, out);
    encode_instructions(&e.actions, version, out);
}

/// Decodes instructions into brisk's action list: Apply-Actions' actions, then
/// `goto_table` last. Write-Actions, Clear-Actions, Write-Metadata and meters are refused
/// (brisk's flows have no action set).
pub fn decode_instructions(bytes: &[u8], version: u8) -> Result<Vec<Action>, OfError> {
    let mut actions: Option<Vec<Action>> = None;
    let mut goto = None;
    let mut meter = None;
    let items = crate::buf::tlvs(
        bytes,
        (e::BAD_INSTRUCTION, e::BAD_INSTRUCTION_LEN),
        "instruction",
    )?;
    for (ty, body) in items {
        let dup = || {
            OfError::new(
                (e::BAD_INSTRUCTION, e::BAD_INSTRUCTION_DUP),
                format!("instruction type {ty} twice"),
            )
        };
        match ty {
            IT_APPLY_ACTIONS => {
                if actions.is_some() {
                    return Err(dup());
                }
                actions = Some(decode_actions(&body[4..], version)?);
            }
            IT_GOTO_TABLE => {
                if goto.is_some() {
                    return Err(dup());
                }
                let t = body[0];
                if t == TABLE_ALL {
                    return Err(OfError::new(
                        (e::BAD_INSTRUCTION, e::BAD_INSTRUCTION_TABLE_ID),
                        "goto_table:255",
                    ));
                }
                goto = Some(t);
            }
            IT_METER => {
                if meter.is_some() {
                    return Err(dup());
                }
                meter = Some(
                    Reader::new(body, (e::BAD_INSTRUCTION, e::BAD_INSTRUCTION_LEN))
                        .u32("meter_id")?,
                );
            }
            IT_WRITE_METADATA | IT_WRITE_ACTIONS | IT_CLEAR_ACTIONS => {
                return Err(OfError::new(
                    (e::BAD_INSTRUCTION, e::BAD_INSTRUCTION_UNSUP),
                    format!(
                        "{}: brisk's flows have no action set or metadata writes",
                        match ty {
                            IT_WRITE_METADATA => "write_metadata",
                            IT_WRITE_ACTIONS => "write_actions",
                            _ => "clear_actions",
                        }
                    ),
                ))
            }
            _ => {
                return Err(OfError::new(
                    (e::BAD_INSTRUCTION, e::BAD_INSTRUCTION_UNKNOWN),
                    format!("instruction type {ty}"),
                ))
            }
        }
    }
    let mut out = actions.unwrap_or_default();
    if let Some(m) = meter {
        out.insert(0, Action::Meter(m));
    }
    if out.iter().any(|a| matches!(a, Action::GotoTable(_))) {
        return Err(OfError::new(
            (e::BAD_ACTION, e::BAD_ACTION_TYPE),
            "goto_table inside apply_actions",
        ));
    }
    if let Some(t) = goto {
        out.push(Action::GotoTable(t));
    }
    Ok(out)
}

/// Encodes brisk's action list as instructions (Apply-Actions, then Goto-Table).
pub fn encode_instructions(actions: &[Action], version: u8, out: &mut Vec<u8>) {
    let goto = actions.iter().find_map(|a| match a {
        Action::GotoTable(t) => Some(*t),
        _ => None,
    });
    // Before 1.5 a meter is an instruction, the first as OVS writes them.
    let meter_instruction = version < crate::OFP15;
    if meter_instruction {
        for m in actions.iter().filter_map(|a| match a {
            Action::Meter(m) => Some(*m),
            _ => None,
        }) {
            put16(out, IT_METER);
            put16(out, 8);
            put32(out, m);
        }
    }
    let applied = actions.iter().any(|a| {
        let meter = meter_instruction && matches!(a, Action::Meter(_));
        !(matches!(a, Action::GotoTable(_)) || meter)
    });
    if applied {
        let at = out.len();
        put16(out, IT_APPLY_ACTIONS);
        put16(out, 0);
        zeros(out, 4);
        encode_actions(actions, version, out);
        patch_len(out, at + 2, at);
    }
    if let Some(t) = goto {
        put16(out, IT_GOTO_TABLE);
        put16(out, 8);
        out.push(t);
        zeros(out, 3);
    }
}

/// One flow of a flow-stats reply.
#[derive(Clone, Debug)]
pub struct FlowStatsEntry<'a> {
    /// The flow.
    pub entry: &'a FlowEntry,
    /// Age.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// Seconds since the last packet.
    pub idle_age: u32,
    /// Seconds since the flow was last modified (Nicira's flow stats carry it).
    pub hard_age: u32,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

impl FlowStatsEntry<'_> {
    /// The entry's age, idle time and counters as OpenFlow 1.5's OXS statistics.
    fn put_oxs(&self, out: &mut Vec<u8>) {
        encode_oxs_stats(
            out,
            Some((self.duration_sec, self.duration_nsec)),
            Some(self.idle_age),
            self.packets,
            self.bytes,
            None,
        );
    }
}

/// Appends one flow-stats entry (`ofp11_flow_stats` for 1.3/1.4, `ofp15_flow_desc` with
/// OXS statistics for 1.5).
pub fn encode_flow_stats(s: &FlowStatsEntry<'_>, version: u8, out: &mut Vec<u8>) {
    let start = out.len();
    let e = s.entry;
    if version >= OFP15 {
        put16(out, 0);
        zeros(out, 2);
        out.push(e.table_id());
        out.push(0);
        put16(out, e.priority);
        put16(out, e.idle_timeout);
        put16(out, e.hard_timeout);
        put16(out, flags_to(&e.flags));
        put16(out, e.importance);
        put64(out, e.cookie);
        encode_ofp_match(&e.matches, version, out);
        s.put_oxs(out);
    } else {
        put16(out, 0);
        out.push(e.table_id());
        out.push(0);
        put32(out, s.duration_sec);
        put32(out, s.duration_nsec);
        put16(out, e.priority);
        put16(out, e.idle_timeout);
        put16(out, e.hard_timeout);
        put16(out, flags_to(&e.flags));
        put16(out, if version >= OFP14 { e.importance } else { 0 });
        zeros(out, 2);
        put64(out, e.cookie);
        put64(out, s.packets);
        put64(out, s.bytes);
        encode_ofp_match(&e.matches, version, out);
    }
    encode_instructions(&e.actions, version, out);
    patch_len(out, start, start);
}

/// Appends an `ofp_oxs_stat` with the given statistics (OpenFlow 1.5), padded to 8.
pub fn encode_oxs_stats(
    out: &mut Vec<u8>,
    duration: Option<(u32, u32)>,
    idle_age: Option<u32>,
    packets: u64,
    bytes: u64,
    flow_count: Option<u32>,
) {
    let start = out.len();
    put16(out, 0);
    put16(out, 0);
    let hdr = |field: u32, len: u32| (0x8002u32 << 16) | (field << 9) | len;
    if let Some((s, ns)) = duration {
        put32(out, hdr(0, 8));
        put64(out, (u64::from(s) << 32) | u64::from(ns));
    }
    if let Some(idle) = idle_age {
        put32(out, hdr(1, 8));
        put64(out, u64::from(idle) << 32);
    }
    put32(out, hdr(4, 8));
    put64(out, packets);
    put32(out, hdr(5, 8));
    put64(out, bytes);
    if let Some(n) = flow_count {
        put32(out, hdr(3, 4));
        put32(out, n);
    }
    patch_len(out, start + 2, start);
    pad8(out, start);
}

/// A decoded flow-stats entry (for clients and tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedFlowStats {
    /// The flow.
    pub entry: FlowEntry,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

/// Decodes the body of a flow-stats reply into its entries.
pub fn decode_flow_stats(body: &[u8], version: u8) -> Result<Vec<DecodedFlowStats>, OfError> {
    let mut out = Vec::new();
    let mut r = Reader::new(body, (e::BAD_REQUEST, e::BAD_REQUEST_LEN));
    while r.remaining() > 0 {
        let start = r.pos();
        let len = usize::from(r.u16("flow stats length")?);
        if len < 8 || start + len > body.len() {
            return Err(OfError::new(
                (e::BAD_REQUEST, e::BAD_REQUEST_LEN),
                format!("flow stats entry length {len}"),
            ));
        }
        let mut er = Reader::new(
            &body[start + 2..start + len],
            (e::BAD_REQUEST, e::BAD_REQUEST_LEN),
        );
        r.skip(len - 2, "flow stats entry")?;
        // The fields both layouts share, in the same order.
        let common = |er: &mut Reader<'_>| -> Result<[u16; 5], OfError> {
            Ok([
                er.u16("priority")?,
                er.u16("idle")?,
                er.u16("hard")?,
                er.u16("flags")?,
                er.u16("importance")?,
            ])
        };
        let (table, c, cookie, packets, bytes, matches);
        if version >= OFP15 {
            er.skip(2, "pad")?;
            table = er.u8("table")?;
            er.skip(1, "pad")?;
            c = common(&mut er)?;
            cookie = er.u64("cookie")?;
            matches = decode_ofp_match(&mut er)?;
            er.skip(2, "oxs reserved")?;
            let sl = usize::from(er.u16("oxs length")?);
            let stats = er.bytes(sl.div_ceil(8) * 8 - 4, "oxs")?;
            (packets, bytes) = decode_oxs_counts(&stats[..sl.saturating_sub(4).min(stats.len())]);
        } else {
            table = er.u8("table")?;
            er.skip(9, "pad, duration")?;
            c = common(&mut er)?;
            er.skip(2, "pad")?;
            cookie = er.u64("cookie")?;
            packets = er.u64("packets")?;
            bytes = er.u64("bytes")?;
            matches = decode_ofp_match(&mut er)?;
        }
        let [priority, idle, hard, flags, importance] = c;
        let actions = decode_instructions(er.rest(), version)?;
        out.push(DecodedFlowStats {
            entry: FlowEntry {
                table: Some(table),
                priority,
                cookie,
                cookie_mask: 0,
                idle_timeout: idle,
                hard_timeout: hard,
                importance,
                flags: flags_from(flags)?,
                out_port: None,
                matches,
                actions,
            },
            packets,
            bytes,
        });
    }
    Ok(out)
}

fn decode_oxs_counts(b: &[u8]) -> (u64, u64) {
    let mut r = Reader::new(b, (e::BAD_REQUEST, e::BAD_REQUEST_LEN));
    let (mut p, mut by) = (0, 0);
    while let Ok(h) = r.u32("oxs header") {
        let len = (h & 0xff) as usize;
        let field = (h >> 9) & 0x7f;
        let Ok(v) = r.bytes(len, "oxs value") else {
            break;
        };
        let x = crate::buf::be_uint(v) as u64;
        match field {
            4 => p = x,
            5 => by = x,
            _ => {}
        }
    }
    (p, by)
}

/// The match a flow-stats or aggregate request filters by, with its table, out_port and
/// cookie filters (`ofp11_flow_stats_request`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowStatsRequest {
    /// Table (`None`: all).
    pub table: Option<u8>,
    /// `out_port` filter.
    pub out_port: Option<u32>,
    /// `out_group` filter.
    pub out_group: Option<u32>,
    /// Cookie.
    pub cookie: u64,
    /// Cookie mask.
    pub cookie_mask: u64,
    /// Match: flows at least as specific are reported.
    pub matches: Match,
}

/// Decodes an `ofp11_flow_stats_request`.
pub fn decode_flow_stats_request(body: &[u8]) -> Result<FlowStatsRequest, OfError> {
    let mut r = Reader::new(body, (e::BAD_REQUEST, e::BAD_REQUEST_LEN));
    let table = r.u8("table_id")?;
    r.skip(3, "pad")?;
    let out_port = r.u32("out_port")?;
    let out_group = r.u32("out_group")?;
    r.skip(4, "pad")?;
    let cookie = r.u64("cookie")?;
    let cookie_mask = r.u64("cookie_mask")?;
    let matches = decode_ofp_match(&mut r)?;
    Ok(FlowStatsRequest {
        table: (table != TABLE_ALL).then_some(table),
        out_port: match out_port {
            OFPP_ANY => None,
            p => Some(oxm::port_from_of11(p).unwrap_or(port::NONE)),
        },
        out_group: (out_group != OFPG_ANY).then_some(out_group),
        cookie,
        cookie_mask,
        matches,
    })
}

/// Encodes an `ofp11_flow_stats_request`.
pub fn encode_flow_stats_request(q: &FlowStatsRequest, version: u8, out: &mut Vec<u8>) {
    out.push(q.table.unwrap_or(TABLE_ALL));
    zeros(out, 3);
    put32(out, q.out_port.map_or(OFPP_ANY, oxm::port_to_of11));
    put32(out, q.out_group.unwrap_or(OFPG_ANY));
    zeros(out, 4);
    put64(out, q.cookie);
    put64(out, q.cookie_mask);
    encode_ofp_match(&q.matches, version, out);
}

/// OFPRR_IDLE_TIMEOUT.
pub const RR_IDLE_TIMEOUT: u8 = 0;
/// OFPRR_HARD_TIMEOUT.
pub const RR_HARD_TIMEOUT: u8 = 1;
/// OFPRR_DELETE.
pub const RR_DELETE: u8 = 2;
/// OFPRR_GROUP_DELETE.
pub const RR_GROUP_DELETE: u8 = 3;

/// An OFPT_FLOW_REMOVED for a flow that left the tables (`ofp11_flow_removed` for 1.3/1.4,
/// `ofp15_flow_removed` with OXS statistics for 1.5).
pub fn flow_removed(version: u8, xid: u32, reason: u8, s: &FlowStatsEntry<'_>) -> Vec<u8> {
    let e = s.entry;
    let mut out = Vec::with_capacity(128);
    let at = crate::start(&mut out, version, 11, xid);
    if version >= OFP15 {
        out.push(e.table_id());
        out.push(reason);
        put16(&mut out, e.priority);
        put16(&mut out, e.idle_timeout);
        put16(&mut out, e.hard_timeout);
        put64(&mut out, e.cookie);
        encode_ofp_match(&e.matches, version, &mut out);
        s.put_oxs(&mut out);
    } else {
        put64(&mut out, e.cookie);
        put16(&mut out, e.priority);
        out.push(reason);
        out.push(e.table_id());
        put32(&mut out, s.duration_sec);
        put32(&mut out, s.duration_nsec);
        put16(&mut out, e.idle_timeout);
        put16(&mut out, e.hard_timeout);
        put64(&mut out, s.packets);
        put64(&mut out, s.bytes);
        encode_ofp_match(&e.matches, version, &mut out);
    }
    crate::finish(&mut out, at);
    out
}
