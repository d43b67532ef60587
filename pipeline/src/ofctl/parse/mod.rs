//! Parser for flows in `ovs-ofctl` syntax, with errors that name the column and token.
//!
//! A flow is split into items (`items.rs`); the flow's own keywords are read here, match
//! fields by `matches.rs` (subfields in `subfield.rs`), and everything after `actions=` by
//! `actions.rs` (field writes in `set.rs`, `ct` and `nat` in `ct.rs`). Every part is one
//! pass over its text; the only nesting is `ct(nat(...), exec(...))`, and `exec` takes
//! only field writes.

mod actions;
mod ct;
mod items;
mod learn;
mod matches;
mod set;
mod subfield;

pub(super) use actions::parse_actions;
pub(super) use items::{items, Item};

use super::value::{parse_port, parse_uint};
use super::{FlowEntry, FlowFlags, Match, ParseError, PortMap, DEFAULT_PRIORITY};
use crate::field::Field;
use crate::flow::Flow;
use items::{err, next_item};
use matches::{protocol, MatchBuilder};

/// What a flow string is for: it decides which keywords are allowed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// `add-flow`/flows files: actions required, no cookie mask.
    Add,
    /// `del-flows`: no actions, cookie mask and `out_port` allowed, priority for strict.
    Delete,
}

/// Parses one flow (`add-flow`/`del-flows` syntax).
pub fn parse_flow(s: &str, mode: Mode, ports: &PortMap) -> Result<FlowEntry, ParseError> {
    let mut e = FlowEntry {
        table: None,
        priority: DEFAULT_PRIORITY,
        cookie: 0,
        cookie_mask: 0,
        idle_timeout: 0,
        hard_timeout: 0,
        importance: 0,
        flags: FlowFlags::default(),
        out_port: None,
        matches: Match::CATCHALL,
        actions: Vec::new(),
    };
    let mut mb = MatchBuilder::new();
    let mut pos = 0;
    let mut actions: Option<(&str, usize)> = None;
    while let Some(it) = next_item(s, &mut pos, 0)? {
        let token = &s[it.key_off..it.end];
        if it.key == "actions" && it.delim == b'=' {
            if mode == Mode::Delete {
                return Err(err(it.key_off, token, "del-flows takes no actions"));
            }
            // Everything after `actions=` is the action list.
            actions = Some((&s[it.value_off..], it.value_off));
            break;
        }
        if let Some((dl, proto)) = protocol(it.key) {
            if it.delim != 0 {
                return Err(err(it.key_off, token, format!("{} takes no value", it.key)));
            }
            mb.protocol(dl, proto);
            if proto.is_some() {
                // `udp` implies nw_proto=17, which needs the IP ethertype to stay.
                mb.used
                    .push((Field::NwProto, it.key_off, token.to_string()));
            }
            continue;
        }
        if !flow_keyword(&mut e, &it, token, mode, ports)? && !mb.field(&it, ports)? {
            return Err(err(
                it.key_off,
                token,
                format!("unknown keyword {}", it.key),
            ));
        }
    }
    mb.check_prereqs()?;
    e.matches = mb.m;
    if mode == Mode::Add && e.table.is_none() {
        e.table = Some(0);
    }
    match actions {
        Some((text, base)) => {
            e.actions = parse_actions(text, base, &e.matches, ports)?;
        }
        None if mode == Mode::Add => {
            return Err(err(
                s.len(),
                s.trim(),
                "must specify an action (actions=...)",
            ));
        }
        None => {}
    }
    Ok(e)
}

/// The flow's own keywords (table, priority, timeouts, cookie, out_port, flags, and the
/// statistics `dump-flows` prints). False when `it` is none of them.
fn flow_keyword(
    e: &mut FlowEntry,
    it: &Item,
    token: &str,
    mode: Mode,
    ports: &PortMap,
) -> Result<bool, ParseError> {
    match it.key {
        "table" | "priority" | "idle_timeout" | "hard_timeout" | "importance" | "cookie"
        | "out_port" | "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age"
            if it.delim != b'=' || it.value.is_empty() =>
        {
            return Err(err(it.key_off, token, format!("{} needs a value", it.key)));
        }
        "table" => {
            let v = parse_uint(it.value, 8, "table").map_err(|m| err(it.value_off, token, m))?;
            if v == 255 {
                return Err(err(it.value_off, token, "table 255 is not a valid table"));
            }
            e.table = Some(v as u8);
        }
        "priority" => {
            e.priority = parse_uint(it.value, 16, "priority")
                .map_err(|m| err(it.value_off, token, m))? as u16;
        }
        "idle_timeout" => {
            e.idle_timeout = parse_uint(it.value, 16, "idle_timeout")
                .map_err(|m| err(it.value_off, token, m))? as u16;
        }
        "hard_timeout" => {
            e.hard_timeout = parse_uint(it.value, 16, "hard_timeout")
                .map_err(|m| err(it.value_off, token, m))? as u16;
        }
        "importance" => {
            e.importance = parse_uint(it.value, 16, "importance")
                .map_err(|m| err(it.value_off, token, m))? as u16;
        }
        "cookie" => cookie(e, it, token, mode)?,
        "out_port" => {
            if mode != Mode::Delete {
                return Err(err(it.key_off, token, "out_port is only for del-flows"));
            }
            e.out_port =
                Some(parse_port(it.value, ports).map_err(|m| err(it.value_off, token, m))?);
        }
        "send_flow_rem" => e.flags.send_flow_rem = true,
        "check_overlap" => e.flags.check_overlap = true,
        "reset_counts" => e.flags.reset_counts = true,
        "no_packet_counts" => e.flags.no_packet_counts = true,
        "no_byte_counts" => e.flags.no_byte_counts = true,
        // Statistics from `dump-flows` output are ignored so it can be fed back.
        "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" => {}
        "no_readonly_table" | "allow_hidden_fields" => {}
        _ => return Ok(false),
    }
    Ok(true)
}

/// `cookie=VALUE[/MASK]` (a mask only in del-flows).
fn cookie(e: &mut FlowEntry, it: &Item, token: &str, mode: Mode) -> Result<(), ParseError> {
    let (v, m) = match it.value.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (it.value, None),
    };
    e.cookie = parse_uint(v, 64, "cookie").map_err(|m| err(it.value_off, token, m))? as u64;
    if let Some(m) = m {
        if mode == Mode::Add {
            return Err(err(
                it.value_off,
                token,
                "flow additions cannot use a cookie mask",
            ));
        }
        e.cookie_mask = if m == "-1" {
            u64::MAX
        } else {
            parse_uint(m, 64, "cookie mask").map_err(|m| err(it.value_off, token, m))? as u64
        };
    }
    Ok(())
}

/// Parses a match alone (`dump-flows`/`del-flows` filters).
pub fn parse_match(s: &str, ports: &PortMap) -> Result<Match, ParseError> {
    let mut mb = MatchBuilder::new();
    for it in items(s, 0)? {
        let token = &s[it.key_off..it.end];
        if let Some((dl, proto)) = protocol(it.key) {
            mb.protocol(dl, proto);
        } else if !mb.field(&it, ports)? {
            return Err(err(it.key_off, token, format!("unknown field {}", it.key)));
        }
    }
    mb.check_prereqs()?;
    Ok(mb.m)
}

/// Parses a packet description in `ofproto/trace` flow syntax
/// (`in_port=2,tcp,nw_src=...,tp_dst=80`): fields not given are zero.
pub fn parse_packet_spec(s: &str, ports: &PortMap) -> Result<Flow, ParseError> {
    Ok(parse_match(s, ports)?.value)
}

/// An error in a flows file, with its place.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {error}")]
pub struct FileError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The parse error.
    pub error: ParseError,
}

/// Parses a flows file: one flow per line, `#` comments and blank lines skipped, the header
/// line of `dump-flows` output ignored. Returns every flow with its line number and every
/// error (not just the first).
pub fn parse_flow_file(
    text: &str,
    mode: Mode,
    ports: &PortMap,
) -> (Vec<(usize, FlowEntry)>, Vec<FileError>) {
    let mut flows = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty()
            || t.starts_with('#')
            || t.starts_with("NXST_FLOW reply")
            || t.starts_with("OFPST_FLOW reply")
            || t.starts_with("OFPST_FLOW_DESC reply")
        {
            continue;
        }
        match parse_flow(line, mode, ports) {
            Ok(f) => flows.push((i + 1, f)),
            Err(e) => errors.push(FileError {
                line: i + 1,
                column: e.column(),
                error: e,
            }),
        }
    }
    (flows, errors)
}
