//! Parser for flows in `ovs-ofctl` syntax, with errors that name the column and token.

use super::value::{parse_field_value, parse_int, parse_port, parse_uint};
use super::{
    port, Action, CtAction, CtZone, FlowEntry, FlowFlags, IpRange, Match, Nat, NatKind, ParseError,
    PortMap, SetField, SetForm, DEFAULT_PRIORITY,
};
use crate::field::{bit_ones, prereq_holds, prereq_text, Field, Prereq, Subfield};
use crate::flow::{eth_type, ip_proto, w, Flow, VLAN_CFI};

/// What a flow string is for: it decides which keywords are allowed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// `add-flow`/flows files: actions required, no cookie mask.
    Add,
    /// `del-flows`: no actions, cookie mask and `out_port` allowed, priority for strict.
    Delete,
}

/// One `key[=:(]value` item of a comma/space separated list.
#[derive(Debug, Clone, Copy)]
pub(super) struct Item<'a> {
    pub(super) key: &'a str,
    pub(super) key_off: usize,
    /// `=`, `:`, `(` or `\0` when there is no value.
    pub(super) delim: u8,
    pub(super) value: &'a str,
    pub(super) value_off: usize,
    /// Offset just past the item.
    pub(super) end: usize,
}

fn err(offset: usize, token: &str, message: impl Into<String>) -> ParseError {
    ParseError {
        offset,
        token: token.to_string(),
        message: message.into(),
    }
}

/// Splits `s` into items the way OVS's `ofputil_parse_key_value` does, honouring
/// parentheses, brackets and double quotes. Offsets are relative to `base`.
fn next_item<'a>(s: &'a str, pos: &mut usize, base: usize) -> Result<Option<Item<'a>>, ParseError> {
    let b = s.as_bytes();
    let mut i = *pos;
    while i < b.len() && matches!(b[i], b',' | b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    if i >= b.len() {
        *pos = i;
        return Ok(None);
    }
    let key_start = i;
    while i < b.len()
        && !matches!(
            b[i],
            b':' | b'=' | b'(' | b',' | b' ' | b'\t' | b'\r' | b'\n'
        )
    {
        if b[i] == b')' {
            return Err(err(base + i, &s[key_start..=i], "unbalanced ')'"));
        }
        i += 1;
    }
    let key = &s[key_start..i];
    if key.is_empty() {
        return Err(err(
            base + i,
            &s[i..(i + 1).min(s.len())],
            "expected a keyword",
        ));
    }
    let delim = if i < b.len() { b[i] } else { 0 };
    match delim {
        b'(' => {
            let vstart = i + 1;
            let mut depth = 1usize;
            let mut j = vstart;
            let mut quoted = false;
            while j < b.len() {
                match b[j] {
                    b'"' => quoted = !quoted,
                    b'\\' if quoted => j += 1,
                    b'(' if !quoted => depth += 1,
                    b')' if !quoted => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            // An escape at the very end may have stepped past it.
            let j = j.min(b.len());
            if depth != 0 {
                return Err(err(base + key_start, &s[key_start..], "missing ')'"));
            }
            let value = &s[vstart..j];
            *pos = j + 1;
            Ok(Some(Item {
                key,
                key_off: base + key_start,
                delim,
                value,
                value_off: base + vstart,
                end: j + 1,
            }))
        }
        b'=' | b':' => {
            let vstart = i + 1;
            let mut j = vstart;
            let mut depth = 0usize;
            let mut quoted = false;
            while j < b.len() {
                let c = b[j];
                if quoted {
                    if c == b'\\' {
                        j += 1;
                    } else if c == b'"' {
                        quoted = false;
                    }
                } else {
                    match c {
                        b'"' => quoted = true,
                        b'(' | b'[' => depth += 1,
                        b')' | b']' => {
                            if depth == 0 {
                                return Err(err(
                                    base + j,
                                    &s[key_start..=j],
                                    format!("unbalanced '{}'", c as char),
                                ));
                            }
                            depth -= 1
                        }
                        b',' | b' ' | b'\t' | b'\r' | b'\n' if depth == 0 => break,
                        _ => {}
                    }
                }
                j += 1;
            }
            let j = j.min(b.len());
            if quoted {
                return Err(err(
                    base + vstart,
                    &s[vstart..j],
                    "unterminated quoted string",
                ));
            }
            if depth != 0 {
                return Err(err(
                    base + vstart,
                    &s[vstart..j],
                    "missing closing ')' or ']'",
                ));
            }
            *pos = j;
            Ok(Some(Item {
                key,
                key_off: base + key_start,
                delim,
                value: &s[vstart..j],
                value_off: base + vstart,
                end: j,
            }))
        }
        _ => {
            *pos = i;
            Ok(Some(Item {
                key,
                key_off: base + key_start,
                delim: 0,
                value: "",
                value_off: base + i,
                end: i,
            }))
        }
    }
}

pub(super) fn items(s: &str, base: usize) -> Result<Vec<Item<'_>>, ParseError> {
    let mut v = Vec::new();
    let mut pos = 0;
    while let Some(it) = next_item(s, &mut pos, base)? {
        v.push(it);
    }
    Ok(v)
}

/// Protocol shorthands: `ip`, `tcp`, ...
fn protocol(name: &str) -> Option<(u16, Option<u8>)> {
    Some(match name {
        "ip" | "ipv4" => (eth_type::IPV4, None),
        "ipv6" => (eth_type::IPV6, None),
        "icmp" => (eth_type::IPV4, Some(ip_proto::ICMP)),
        "icmp6" => (eth_type::IPV6, Some(ip_proto::ICMPV6)),
        "tcp" => (eth_type::IPV4, Some(ip_proto::TCP)),
        "tcp6" => (eth_type::IPV6, Some(ip_proto::TCP)),
        "udp" => (eth_type::IPV4, Some(ip_proto::UDP)),
        "udp6" => (eth_type::IPV6, Some(ip_proto::UDP)),
        "sctp" => (eth_type::IPV4, Some(ip_proto::SCTP)),
        "sctp6" => (eth_type::IPV6, Some(ip_proto::SCTP)),
        "arp" => (eth_type::ARP, None),
        "rarp" => (eth_type::RARP, None),
        "mpls" => (eth_type::MPLS, None),
        "mplsm" => (eth_type::MPLS_MCAST, None),
        _ => return None,
    })
}

/// Parses `FIELD[a..b]`, `FIELD[n]`, `FIELD[]` or a bare `FIELD`.
pub(crate) fn parse_subfield(s: &str) -> Result<Subfield, String> {
    let (name, range) = match s.find('[') {
        Some(i) => {
            let inner = s[i + 1..]
                .strip_suffix(']')
                .ok_or_else(|| format!("'{s}': missing ']'"))?;
            (&s[..i], Some(inner))
        }
        None => (s, None),
    };
    let field = Field::from_name(name).ok_or_else(|| format!("unknown field '{name}'"))?;
    let width = field.bits();
    let (ofs, n_bits) = match range {
        None | Some("") => (0, width),
        Some(r) => {
            let (a, b) = match r.split_once("..") {
                Some((a, b)) => (a, b),
                None => (r, r),
            };
            let a: u32 = a
                .trim()
                .parse()
                .map_err(|_| format!("'{s}': bad bit index '{a}'"))?;
            let b: u32 = b
                .trim()
                .parse()
                .map_err(|_| format!("'{s}': bad bit index '{b}'"))?;
            if a > b {
                return Err(format!("'{s}': start bit {a} is after end bit {b}"));
            }
            if b >= width {
                return Err(format!(
                    "'{s}': bit {b} is beyond the {width}-bit field {}",
                    field.name()
                ));
            }
            (a, b - a + 1)
        }
    };
    Ok(Subfield {
        field,
        ofs: ofs as u8,
        n_bits: n_bits as u8,
    })
}

struct MatchBuilder {
    m: Match,
    /// Fields named, with where, for the prerequisite check.
    used: Vec<(Field, usize, String)>,
}

impl MatchBuilder {
    fn new() -> Self {
        MatchBuilder {
            m: Match::CATCHALL,
            used: Vec::new(),
        }
    }

    fn set_field(&mut self, field: Field, v: u128, m: u128, off: usize, tok: &str) {
        self.m.set(field, v, m);
        self.used.push((field, off, tok.to_string()));
    }

    /// Handles `name=value` for a match field. Returns false if `name` is not a field.
    fn field(&mut self, it: &Item, ports: &PortMap) -> Result<bool, ParseError> {
        let tok = &it.key_off;
        let token = format!("{}={}", it.key, it.value);
        let Some(field) = Field::from_name(it.key) else {
            if it.key.contains('[') {
                // `reg0[0..3]=5`: match on a subfield.
                let sf = parse_subfield(it.key).map_err(|e| err(*tok, &token, e))?;
                let v = parse_uint(it.value, u32::from(sf.n_bits), it.key)
                    .map_err(|e| err(it.value_off, &token, e))?;
                self.set_field(sf.field, v << sf.ofs, sf.mask(), *tok, &token);
                return Ok(true);
            }
            return Ok(false);
        };
        if it.delim != b'=' || it.value.is_empty() {
            return Err(err(*tok, &token, format!("{} needs a value", it.key)));
        }
        let bad = |e: String| err(it.value_off, &token, e);
        match field {
            Field::DlVlan => {
                let v = parse_uint(it.value, 16, "dl_vlan").map_err(bad)?;
                if v == 0xffff {
                    // OpenFlow 1.0's "no VLAN tag".
                    self.set_field(Field::VlanTci, 0, 0xffff, *tok, &token);
                } else if v > 0xfff {
                    return Err(bad(format!("dl_vlan: {v} is not a 12-bit VLAN id")));
                } else {
                    let (ov, om) = self.m.get(Field::VlanTci);
                    let nv = (ov & !0x1fff) | v | u128::from(VLAN_CFI);
                    self.m.set(Field::VlanTci, nv, om | 0x1fff);
                    self.used.push((Field::VlanTci, *tok, token.clone()));
                }
            }
            Field::DlVlanPcp => {
                let v = parse_uint(it.value, 3, "dl_vlan_pcp").map_err(bad)?;
                let (ov, om) = self.m.get(Field::VlanTci);
                let nv = (ov & !0xf000) | (v << 13) | u128::from(VLAN_CFI);
                self.m.set(Field::VlanTci, nv, om | 0xf000);
                self.used.push((Field::VlanTci, *tok, token.clone()));
            }
            Field::TunMetadata(n) => {
                let (v, m) = if it.value == "NP" {
                    (0, 0)
                } else {
                    parse_field_value(field, it.key, it.value, ports).map_err(bad)?
                };
                self.set_field(field, v, m, *tok, &token);
                // Matching an option implies matching its presence.
                let bit = 1u64 << (32 + u32::from(n));
                if it.value != "NP" {
                    self.m.value.w[w::TUN_FLAGS] |= bit;
                } else {
                    self.m.value.w[w::TUN_FLAGS] &= !bit;
                }
                self.m.mask.w[w::TUN_FLAGS] |= bit;
            }
            _ => {
                let (v, m) = parse_field_value(field, it.key, it.value, ports).map_err(bad)?;
                self.set_field(field, v, m, *tok, &token);
            }
        }
        Ok(true)
    }

    fn protocol(&mut self, dl: u16, proto: Option<u8>) {
        self.m.set(Field::EthType, u128::from(dl), 0xffff);
        if let Some(p) = proto {
            self.m.set(Field::NwProto, u128::from(p), 0xff);
        }
    }

    fn check_prereqs(&self) -> Result<(), ParseError> {
        for (field, off, tok) in &self.used {
            let p = field.desc().prereq;
            if !prereq_holds(p, &self.m.value, &self.m.mask) {
                return Err(err(
                    *off,
                    tok,
                    format!("{} requires {}", field.name(), prereq_text(p)),
                ));
            }
        }
        Ok(())
    }
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
        match it.key {
            "table" | "priority" | "idle_timeout" | "hard_timeout" | "importance" | "cookie"
            | "out_port" | "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age"
                if it.delim != b'=' || it.value.is_empty() =>
            {
                return Err(err(it.key_off, token, format!("{} needs a value", it.key)));
            }
            "table" => {
                let v =
                    parse_uint(it.value, 8, "table").map_err(|m| err(it.value_off, token, m))?;
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
                    .map_err(|m| err(it.value_off, token, m))?
                    as u16;
            }
            "hard_timeout" => {
                e.hard_timeout = parse_uint(it.value, 16, "hard_timeout")
                    .map_err(|m| err(it.value_off, token, m))?
                    as u16;
            }
            "importance" => {
                e.importance = parse_uint(it.value, 16, "importance")
                    .map_err(|m| err(it.value_off, token, m))?
                    as u16;
            }
            "cookie" => {
                let (v, m) = match it.value.split_once('/') {
                    Some((v, m)) => (v, Some(m)),
                    None => (it.value, None),
                };
                e.cookie =
                    parse_uint(v, 64, "cookie").map_err(|m| err(it.value_off, token, m))? as u64;
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
                        parse_uint(m, 64, "cookie mask").map_err(|m| err(it.value_off, token, m))?
                            as u64
                    };
                }
            }
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
            _ => {
                if !mb.field(&it, ports)? {
                    return Err(err(
                        it.key_off,
                        token,
                        format!("unknown keyword {}", it.key),
                    ));
                }
            }
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

pub(super) fn parse_actions(
    s: &str,
    base: usize,
    m: &Match,
    ports: &PortMap,
) -> Result<Vec<Action>, ParseError> {
    let list = items(s, base)?;
    let mut out = Vec::with_capacity(list.len());
    // What earlier actions guarantee, as OVS's action checks track it (a push_vlan makes a
    // later set_field:..->vlan_vid valid).
    let mut view = *m;
    for it in &list {
        let token = &s[it.key_off - base..it.end];
        if let Some(a) = parse_action(it, token, &view, ports, false)? {
            match &a {
                Action::PushVlan(_) => {
                    view.set(Field::VlanTci, u128::from(VLAN_CFI), u128::from(VLAN_CFI))
                }
                Action::PopVlan { .. } => view.set(Field::VlanTci, 0, u128::from(VLAN_CFI)),
                _ => {}
            }
            out.push(a);
        }
    }
    // A conjunction clause may carry only conjunctions (and notes).
    if out.iter().any(|a| matches!(a, Action::Conjunction { .. })) {
        if let Some((i, _)) = out
            .iter()
            .enumerate()
            .find(|(_, a)| !matches!(a, Action::Conjunction { .. } | Action::Note(_)))
        {
            let it = &list[i.min(list.len() - 1)];
            return Err(err(
                it.key_off,
                it.key,
                "\"conjunction\" actions may be used along with \"note\" but not any other kind of action",
            ));
        }
    }
    Ok(out)
}

fn check_prereq(field: Field, m: &Match, off: usize, token: &str) -> Result<(), ParseError> {
    let p = field.desc().prereq;
    if p != Prereq::None && !prereq_holds(p, &m.value, &m.mask) {
        return Err(err(
            off,
            token,
            format!(
                "{} requires the flow to match {}",
                field.name(),
                prereq_text(p)
            ),
        ));
    }
    Ok(())
}

fn check_writable(field: Field, in_ct: bool, off: usize, token: &str) -> Result<(), ParseError> {
    let requires_ct = matches!(field, Field::CtMark | Field::CtLabel);
    if requires_ct && !in_ct {
        return Err(err(off, token, "cannot set CT fields outside of ct action"));
    }
    if in_ct && !requires_ct {
        return Err(err(
            off,
            token,
            format!(
                "ct action doesn't support nested modification of {}",
                field.name()
            ),
        ));
    }
    if !field.desc().writable {
        return Err(err(off, token, format!("{} is read-only", field.name())));
    }
    Ok(())
}

fn parse_action(
    it: &Item,
    token: &str,
    m: &Match,
    ports: &PortMap,
    in_ct: bool,
) -> Result<Option<Action>, ParseError> {
    let v = it.value;
    let voff = it.value_off;
    let bad = |msg: String| err(voff, token, msg);
    let need_value = || {
        if v.is_empty() {
            Err(err(
                it.key_off,
                token,
                format!("{} needs an argument", it.key),
            ))
        } else {
            Ok(())
        }
    };
    let key = it.key;
    if in_ct && !matches!(key, "load" | "set_field") {
        return Err(err(
            it.key_off,
            token,
            format!("ct action doesn't support nested action {key}"),
        ));
    }
    let a = match key {
        "drop" => return Ok(None),
        "output" => {
            need_value()?;
            if v.contains('[') {
                let sf = parse_subfield(v).map_err(bad)?;
                if sf.n_bits > 32 {
                    return Err(bad("output to a field wider than 32 bits".into()));
                }
                Action::OutputReg(sf)
            } else if it.delim == b'(' {
                // output(port=N,max_len=M): brisk does not truncate; accept port only.
                let mut port = None;
                for sub in items(v, voff)? {
                    match sub.key {
                        "port" => port = Some(parse_port(sub.value, ports).map_err(bad)?),
                        _ => {
                            return Err(err(
                                sub.key_off,
                                sub.key,
                                "only output(port=N) is supported (no max_len truncation)",
                            ))
                        }
                    }
                }
                output_to(port.ok_or_else(|| bad("output() needs port=".into()))?)
            } else {
                output_to(parse_port(v, ports).map_err(bad)?)
            }
        }
        "enqueue" => {
            return Err(err(
                it.key_off,
                token,
                "enqueue (QoS queues) is not supported",
            ))
        }
        "controller" | "CONTROLLER" if it.delim == b'(' => {
            let mut max_len = u16::MAX;
            for sub in items(v, voff)? {
                match sub.key {
                    "max_len" => {
                        max_len = parse_uint(sub.value, 16, "max_len").map_err(bad)? as u16
                    }
                    "reason" | "id" | "userdata" | "pause" | "meter_id" => {}
                    _ => return Err(err(sub.key_off, sub.key, "unknown controller() argument")),
                }
            }
            Action::Controller { max_len }
        }
        "resubmit" => {
            if it.delim == b'(' {
                let parts: Vec<&str> = v.split(',').collect();
                if parts.len() < 2 || parts.len() > 3 {
                    return Err(bad(
                        "resubmit syntax is resubmit([port],[table][,ct])".into()
                    ));
                }
                let in_port = if parts[0].trim().is_empty() {
                    None
                } else {
                    Some(parse_port(parts[0].trim(), ports).map_err(bad)?)
                };
                let table = if parts[1].trim().is_empty() {
                    None
                } else {
                    let t = parse_uint(parts[1].trim(), 8, "table").map_err(bad)?;
                    if t == 255 {
                        None
                    } else {
                        Some(t as u8)
                    }
                };
                let ct = match parts.get(2).map(|s| s.trim()) {
                    None => false,
                    Some("ct") => true,
                    Some(o) => return Err(bad(format!("unknown resubmit option '{o}'"))),
                };
                if in_port.is_none() && table.is_none() {
                    return Err(bad("at least one of port and table must be given".into()));
                }
                Action::Resubmit { in_port, table, ct }
            } else {
                need_value()?;
                Action::Resubmit {
                    in_port: Some(parse_port(v, ports).map_err(bad)?),
                    table: None,
                    ct: false,
                }
            }
        }
        "goto_table" => {
            need_value()?;
            Action::GotoTable(parse_uint(v, 8, "goto_table").map_err(bad)? as u8)
        }
        "load" => {
            need_value()?;
            let (val, dst) = v
                .split_once("->")
                .ok_or_else(|| bad("load syntax is load:VALUE->DST[a..b]".into()))?;
            let sf = parse_subfield(dst).map_err(bad)?;
            let value = parse_uint(val, u32::from(sf.n_bits), "load").map_err(|_| {
                bad(format!(
                    "{val} does not fit in {} bits of {}",
                    sf.n_bits,
                    sf.field.name()
                ))
            })?;
            check_writable(sf.field, in_ct, voff, token)?;
            check_prereq(sf.field, m, voff, token)?;
            Action::Set(SetField {
                field: sf.field,
                value: value << sf.ofs,
                mask: sf.mask(),
                form: SetForm::Load,
            })
        }
        "set_field" => {
            need_value()?;
            let (val, dst) = v
                .rsplit_once("->")
                .ok_or_else(|| bad("set_field syntax is set_field:VALUE[/MASK]->FIELD".into()))?;
            let sf = parse_subfield(dst).map_err(bad)?;
            let (mut value, mut mask) = if matches!(sf.field, Field::CtState) {
                return Err(bad("ct_state is read-only".into()));
            } else {
                parse_field_value(sf.field, dst, val, ports).map_err(bad)?
            };
            if !sf.is_whole() {
                if mask != sf.field.full_mask() {
                    return Err(bad("set_field to a subfield cannot have a mask".into()));
                }
                if value > bit_ones(u32::from(sf.n_bits)) {
                    return Err(bad(format!("{val} does not fit in {} bits", sf.n_bits)));
                }
                value <<= sf.ofs;
                mask = sf.mask();
            }
            check_writable(sf.field, in_ct, voff, token)?;
            check_prereq(sf.field, m, voff, token)?;
            if sf.field == Field::DlVlan && Field::VlanTci.get(&m.mask) & u128::from(VLAN_CFI) == 0
            {
                return Err(bad(
                    "set_field to vlan_vid requires a match on a VLAN tag".into()
                ));
            }
            Action::Set(SetField {
                field: sf.field,
                value,
                mask,
                form: SetForm::SetField,
            })
        }
        "move" => {
            need_value()?;
            let (src, dst) = v
                .split_once("->")
                .ok_or_else(|| bad("move syntax is move:SRC[a..b]->DST[c..d]".into()))?;
            let src = parse_subfield(src).map_err(bad)?;
            let dst = parse_subfield(dst).map_err(bad)?;
            if src.n_bits != dst.n_bits {
                return Err(bad(format!(
                    "source is {} bits but destination is {} bits",
                    src.n_bits, dst.n_bits
                )));
            }
            check_writable(dst.field, in_ct, voff, token)?;
            check_prereq(src.field, m, voff, token)?;
            check_prereq(dst.field, m, voff, token)?;
            Action::Move { src, dst }
        }
        "mod_dl_src" | "mod_dl_dst" | "mod_nw_src" | "mod_nw_dst" | "mod_tp_src" | "mod_tp_dst"
        | "mod_nw_tos" | "mod_nw_ecn" | "mod_nw_ttl" | "mod_vlan_vid" | "mod_vlan_pcp" => {
            need_value()?;
            let field = match key {
                "mod_dl_src" => Field::EthSrc,
                "mod_dl_dst" => Field::EthDst,
                "mod_nw_src" => Field::NwSrc,
                "mod_nw_dst" => Field::NwDst,
                "mod_tp_src" => Field::TpSrc,
                "mod_tp_dst" => Field::TpDst,
                "mod_nw_tos" => Field::NwTos,
                "mod_nw_ecn" => Field::NwEcn,
                "mod_nw_ttl" => Field::NwTtl,
                "mod_vlan_vid" => Field::DlVlan,
                _ => Field::DlVlanPcp,
            };
            let (value, mask) = parse_field_value(field, key, v, ports).map_err(bad)?;
            if mask != field.full_mask() {
                return Err(bad(format!("{key} takes no mask")));
            }
            if field == Field::NwTos && value & 3 != 0 {
                return Err(bad("mod_nw_tos: value must be a multiple of 4".into()));
            }
            check_prereq(field, m, voff, token)?;
            Action::Set(SetField {
                field,
                value,
                mask,
                form: SetForm::Mod,
            })
        }
        "dec_ttl" => {
            if it.delim == b'(' {
                for id in v.split(',') {
                    parse_uint(id.trim(), 16, "dec_ttl controller id").map_err(bad)?;
                }
            }
            Action::DecTtl
        }
        "conjunction" => {
            let syntax = || bad("\"conjunction\" syntax is \"conjunction(id,i/n)\"".into());
            if it.delim != b'(' {
                return Err(syntax());
            }
            let (id, kn) = v.split_once(',').ok_or_else(syntax)?;
            let (k, n) = kn.split_once('/').ok_or_else(syntax)?;
            let id = parse_uint(id.trim(), 32, "conjunction id").map_err(|_| syntax())? as u32;
            let k = parse_uint(k.trim(), 8, "clause").map_err(|_| syntax())? as u8;
            let n = parse_uint(n.trim(), 8, "clauses").map_err(|_| syntax())? as u8;
            if n < 2 {
                return Err(bad("conjunction must have at least 2 clauses".into()));
            }
            if n > 64 {
                return Err(bad("conjunction must have at most 64 clauses".into()));
            }
            if k < 1 {
                return Err(bad("clause index must be positive".into()));
            }
            if k > n {
                return Err(bad(
                    "clause index must be less than or equal to number of clauses".into(),
                ));
            }
            Action::Conjunction {
                id,
                clause: k,
                n_clauses: n,
            }
        }
        "ct" => Action::Ct(Box::new(parse_ct(it, token, m, ports)?)),
        "ct_clear" => Action::CtClear,
        "nat" => {
            return Err(err(
                it.key_off,
                token,
                "Cannot have NAT action outside of \"ct\" action",
            ))
        }
        "group" => {
            need_value()?;
            Action::Group(parse_uint(v, 32, "group").map_err(bad)? as u32)
        }
        "note" => {
            let mut bytes = Vec::new();
            for part in v.split('.') {
                let part = part.trim();
                if part.is_empty() {
                    continue;
                }
                if !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad(format!("note: '{part}' is not hex")));
                }
                if part.len() % 2 != 0 {
                    return Err(bad(format!("note: '{part}' is not whole hex bytes")));
                }
                for i in (0..part.len()).step_by(2) {
                    bytes.push(
                        u8::from_str_radix(&part[i..i + 2], 16)
                            .map_err(|_| bad(format!("note: '{part}' is not hex")))?,
                    );
                }
            }
            Action::Note(bytes)
        }
        "push_vlan" => {
            need_value()?;
            let t = parse_uint(v, 16, "push_vlan").map_err(bad)? as u16;
            if t != 0x8100 && t != 0x88a8 {
                return Err(bad(format!(
                    "push_vlan: ethertype {t:#x} is not 0x8100 or 0x88a8"
                )));
            }
            Action::PushVlan(t)
        }
        "pop_vlan" => Action::PopVlan { strip: false },
        "strip_vlan" => Action::PopVlan { strip: true },
        _ => {
            // Bare ports: IN_PORT, NORMAL, FLOOD, ALL, LOCAL, CONTROLLER[:max_len], or a number.
            if let Some(p) = port::from_reserved_name(key) {
                if p == port::CONTROLLER {
                    let max_len = if v.is_empty() {
                        u16::MAX
                    } else {
                        parse_uint(v, 16, "CONTROLLER max_len").map_err(bad)? as u16
                    };
                    Action::Controller { max_len }
                } else if it.delim != 0 {
                    return Err(err(it.key_off, token, format!("{key} takes no argument")));
                } else {
                    Action::Output(p)
                }
            } else if it.delim == 0 && parse_int(key).is_some() {
                output_to(parse_port(key, ports).map_err(|e| err(it.key_off, token, e))?)
            } else {
                return Err(err(it.key_off, token, format!("unknown action {key}")));
            }
        }
    };
    Ok(Some(a))
}

/// Output to a port; the controller "port" is the controller action, as OVS parses it.
fn output_to(p: u32) -> Action {
    if p == port::CONTROLLER {
        Action::Controller { max_len: u16::MAX }
    } else {
        Action::Output(p)
    }
}

fn parse_ct(it: &Item, token: &str, m: &Match, ports: &PortMap) -> Result<CtAction, ParseError> {
    let is_ip = prereq_holds(Prereq::IpAny, &m.value, &m.mask);
    if !is_ip {
        return Err(err(
            it.key_off,
            token,
            "ct requires the flow to match ip or ipv6",
        ));
    }
    let mut ct = CtAction {
        commit: false,
        force: false,
        table: None,
        zone: CtZone::Imm(0),
        nat: None,
        exec: Vec::new(),
        alg: None,
    };
    if it.delim == b'(' {
        for sub in items(it.value, it.value_off)? {
            let stok = sub.key;
            let sbad = |msg: String| err(sub.value_off, stok, msg);
            match sub.key {
                "commit" => ct.commit = true,
                "force" => ct.force = true,
                "table" => {
                    let t = parse_uint(sub.value, 8, "table").map_err(sbad)?;
                    if t == 255 {
                        return Err(sbad("invalid table 0xff".into()));
                    }
                    ct.table = Some(t as u8);
                }
                "zone" => {
                    if let Ok(z) = parse_uint(sub.value, 16, "zone") {
                        ct.zone = CtZone::Imm(z as u16);
                    } else {
                        let sf = parse_subfield(sub.value).map_err(sbad)?;
                        if sf.n_bits != 16 {
                            return Err(sbad(format!(
                                "zone field must be 16 bits wide, not {}",
                                sf.n_bits
                            )));
                        }
                        ct.zone = CtZone::Field(sf);
                    }
                }
                "alg" => {
                    ct.alg = Some(match sub.value {
                        "ftp" => 21,
                        "tftp" => 69,
                        v => parse_uint(v, 16, "alg").map_err(sbad)? as u16,
                    })
                }
                "nat" => ct.nat = Some(parse_nat(&sub)?),
                "exec" => {
                    for a in items(sub.value, sub.value_off)? {
                        let atok = a.key;
                        match parse_action(&a, atok, m, ports, true)? {
                            Some(Action::Set(sf)) => ct.exec.push(sf),
                            _ => return Err(err(
                                a.key_off,
                                atok,
                                "only load/set_field of ct_mark or ct_label is allowed in exec()",
                            )),
                        }
                    }
                }
                other => {
                    return Err(err(
                        sub.key_off,
                        other,
                        format!("invalid argument to \"ct\" action: `{other}'"),
                    ))
                }
            }
        }
    }
    if ct.force && !ct.commit {
        return Err(err(
            it.key_off,
            token,
            "\"force\" flag requires \"commit\" flag.",
        ));
    }
    if !ct.exec.is_empty() && !ct.commit {
        return Err(err(
            it.key_off,
            token,
            "ct(exec(...)) sets ct_mark/ct_label only with commit",
        ));
    }
    Ok(ct)
}

fn parse_ip(s: &str) -> Option<IpRange> {
    if let Ok(a) = s.parse::<std::net::Ipv4Addr>() {
        return Some(IpRange::V4(u32::from(a)));
    }
    let s = s.trim_start_matches('[').trim_end_matches(']');
    s.parse::<std::net::Ipv6Addr>()
        .ok()
        .map(|a| IpRange::V6(u128::from(a)))
}

fn parse_nat(it: &Item) -> Result<Nat, ParseError> {
    let mut nat = Nat {
        kind: None,
        addr: None,
        ports: None,
        persistent: false,
        hash: false,
        random: false,
    };
    if it.delim != b'(' {
        return Ok(nat);
    }
    for sub in items(it.value, it.value_off)? {
        let sbad = |msg: String| err(sub.value_off, sub.key, msg);
        match sub.key {
            "src" | "dst" => {
                if nat.kind.is_some() {
                    return Err(sbad("nat: only one of src and dst may be given".into()));
                }
                nat.kind = Some(if sub.key == "src" {
                    NatKind::Src
                } else {
                    NatKind::Dst
                });
                if sub.value.is_empty() {
                    continue;
                }
                // ADDR[-ADDR][:PORT[-PORT]], IPv6 in brackets.
                let (addrs, portspec) = if sub.value.starts_with('[') {
                    match sub.value.rfind("]:") {
                        Some(i) => (&sub.value[..=i], Some(&sub.value[i + 2..])),
                        None => (sub.value, None),
                    }
                } else {
                    match sub.value.split_once(':') {
                        Some((a, p)) => (a, Some(p)),
                        None => (sub.value, None),
                    }
                };
                let (lo, hi) = match addrs.split_once('-') {
                    Some((a, b)) => (a, b),
                    None => (addrs, addrs),
                };
                let lo = parse_ip(lo).ok_or_else(|| sbad(format!("nat: bad address '{lo}'")))?;
                let hi = parse_ip(hi).ok_or_else(|| sbad(format!("nat: bad address '{hi}'")))?;
                let ordered = match (lo, hi) {
                    (IpRange::V4(a), IpRange::V4(b)) => a <= b,
                    (IpRange::V6(a), IpRange::V6(b)) => a <= b,
                    _ => return Err(sbad("nat: address range mixes IPv4 and IPv6".into())),
                };
                if !ordered {
                    return Err(sbad("nat: address range is backwards".into()));
                }
                nat.addr = Some((lo, hi));
                if let Some(p) = portspec {
                    let (a, b) = p.split_once('-').unwrap_or((p, p));
                    let a = parse_uint(a, 16, "nat port").map_err(sbad)? as u16;
                    let b = parse_uint(b, 16, "nat port").map_err(sbad)? as u16;
                    if a > b || a == 0 {
                        return Err(sbad(format!("nat: bad port range {p}")));
                    }
                    nat.ports = Some((a, b));
                }
            }
            "persistent" => nat.persistent = true,
            "hash" => nat.hash = true,
            "random" => nat.random = true,
            other => {
                return Err(err(
                    sub.key_off,
                    other,
                    format!("invalid nat argument '{other}'"),
                ))
            }
        }
    }
    if nat.hash && nat.random {
        return Err(err(it.key_off, "nat", "nat: hash and random are exclusive"));
    }
    if nat.kind.is_none() && (nat.persistent || nat.hash || nat.random) {
        return Err(err(it.key_off, "nat", "nat flags need src= or dst="));
    }
    Ok(nat)
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
