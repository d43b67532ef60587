//! Action lists: [`parse_action`] dispatches on the keyword to one function per family —
//! output, controller, resubmit and goto (here), field writes (`set.rs`), `ct` and `nat`
//! (`ct.rs`), groups, conjunctions and notes, VLAN tags, TTL (here).

use super::ct::parse_ct;
use super::items::{err, items, Item};
use super::set;
use super::subfield::parse_subfield;
use crate::field::Field;
use crate::flow::VLAN_CFI;
use crate::ofctl::value::{parse_int, parse_port, parse_uint};
use crate::ofctl::{port, Action, Controller2, Match, ParseError, PortMap};

/// An action item and what checking it needs: the token for errors, the match the earlier
/// actions leave (for prerequisites), the port names, and whether it is inside `ct(exec)`.
#[derive(Clone, Copy)]
pub(super) struct Act<'a> {
    pub(super) it: &'a Item<'a>,
    pub(super) token: &'a str,
    pub(super) m: &'a Match,
    pub(super) ports: &'a PortMap,
    pub(super) in_ct: bool,
}

impl<'a> Act<'a> {
    /// An error about the value.
    pub(super) fn bad(self) -> impl Fn(String) -> ParseError + 'a {
        move |msg| err(self.it.value_off, self.token, msg)
    }

    /// An error about the keyword.
    pub(super) fn at_key(self, msg: impl Into<String>) -> ParseError {
        err(self.it.key_off, self.token, msg)
    }

    /// An error unless the action has a value.
    pub(super) fn need_value(self) -> Result<(), ParseError> {
        if self.it.value.is_empty() {
            Err(self.at_key(format!("{} needs an argument", self.it.key)))
        } else {
            Ok(())
        }
    }
}

pub(in crate::ofctl) fn parse_actions(
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

/// One action; `None` for `drop`. Inside `ct(exec(...))` (`in_ct`) only `load` and
/// `set_field` are allowed, so the nesting stops there.
pub(super) fn parse_action(
    it: &Item,
    token: &str,
    m: &Match,
    ports: &PortMap,
    in_ct: bool,
) -> Result<Option<Action>, ParseError> {
    let a = Act {
        it,
        token,
        m,
        ports,
        in_ct,
    };
    let key = it.key;
    if in_ct && !matches!(key, "load" | "set_field") {
        return Err(a.at_key(format!("ct action doesn't support nested action {key}")));
    }
    Ok(Some(match key {
        "drop" => return Ok(None),
        "output" => output(a)?,
        "enqueue" => return Err(a.at_key("enqueue (QoS queues) is not supported")),
        "controller" | "CONTROLLER" if it.delim == b'(' => controller(a)?,
        "resubmit" => resubmit(a)?,
        "goto_table" => {
            a.need_value()?;
            Action::GotoTable(parse_uint(it.value, 8, "goto_table").map_err(a.bad())? as u8)
        }
        "load" => set::load(a)?,
        "set_field" => set::set_field(a)?,
        "move" => set::move_bits(a)?,
        "mod_dl_src" | "mod_dl_dst" | "mod_nw_src" | "mod_nw_dst" | "mod_tp_src" | "mod_tp_dst"
        | "mod_nw_tos" | "mod_nw_ecn" | "mod_nw_ttl" | "mod_vlan_vid" | "mod_vlan_pcp" => {
            set::modify(a)?
        }
        "dec_ttl" => dec_ttl(a)?,
        "conjunction" => conjunction(a)?,
        "ct" => Action::Ct(Box::new(parse_ct(it, token, m, ports)?)),
        "ct_clear" => Action::CtClear,
        "nat" => return Err(a.at_key("Cannot have NAT action outside of \"ct\" action")),
        "group" => {
            a.need_value()?;
            Action::Group(parse_uint(it.value, 32, "group").map_err(a.bad())? as u32)
        }
        "note" => note(a)?,
        "learn" => super::learn::learn(a)?,
        "fin_timeout" => fin_timeout(a)?,
        "meter" => {
            a.need_value()?;
            Action::Meter(parse_uint(it.value, 32, "meter").map_err(a.bad())? as u32)
        }
        "push_vlan" => push_vlan(a)?,
        "pop_vlan" => Action::PopVlan { strip: false },
        "strip_vlan" => Action::PopVlan { strip: true },
        _ => bare_port(a)?,
    }))
}

/// `fin_timeout(idle_timeout=I,hard_timeout=H)`.
fn fin_timeout(a: Act) -> Result<Action, ParseError> {
    let (mut idle, mut hard) = (0, 0);
    for sub in items(a.it.value, a.it.value_off)? {
        let bad = |m: String| err(sub.value_off, sub.value, m);
        let v = || {
            parse_uint(sub.value, 16, sub.key)
                .map(|v| v as u16)
                .map_err(bad)
        };
        match sub.key {
            "idle_timeout" => idle = v()?,
            "hard_timeout" => hard = v()?,
            k => {
                return Err(err(
                    sub.key_off,
                    sub.key,
                    format!("invalid key '{k}' in 'fin_timeout' argument"),
                ))
            }
        }
    }
    Ok(Action::FinTimeout { idle, hard })
}

/// Output to a port; the controller "port" is the controller action, as OVS parses it.
fn output_to(p: u32) -> Action {
    if p == port::CONTROLLER {
        Action::Controller { max_len: u16::MAX }
    } else {
        Action::Output(p)
    }
}

/// `output:PORT`, `output:FIELD[a..b]`, `output(port=PORT)`.
fn output(a: Act) -> Result<Action, ParseError> {
    let (it, v, bad) = (a.it, a.it.value, a.bad());
    a.need_value()?;
    Ok(if v.contains('[') {
        let sf = parse_subfield(v).map_err(&bad)?;
        if sf.n_bits > 32 {
            return Err(bad("output to a field wider than 32 bits".into()));
        }
        Action::OutputReg(sf)
    } else if it.delim == b'(' {
        // output(port=N,max_len=M): brisk does not truncate; accept port only.
        let mut port = None;
        for sub in items(v, it.value_off)? {
            match sub.key {
                "port" => port = Some(parse_port(sub.value, a.ports).map_err(&bad)?),
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
        output_to(parse_port(v, a.ports).map_err(bad)?)
    })
}

/// `controller(max_len=N,reason=R,id=I,userdata=HH.HH...,pause,meter_id=M)`. As OVS, only
/// `max_len` keeps it OpenFlow's output to CONTROLLER; any other option makes it Nicira's
/// controller action.
fn controller(a: Act) -> Result<Action, ParseError> {
    let mut c = Controller2 {
        max_len: u16::MAX,
        id: 0,
        reason: crate::dpaction::pin_reason::ACTION,
        userdata: Vec::new(),
        pause: false,
        meter_id: None,
    };
    for sub in items(a.it.value, a.it.value_off)? {
        let bad = |m: String| err(sub.value_off, sub.value, &m);
        match sub.key {
            "max_len" => c.max_len = parse_uint(sub.value, 16, "max_len").map_err(bad)? as u16,
            "id" => c.id = parse_uint(sub.value, 16, "controller id").map_err(bad)? as u16,
            "reason" => {
                c.reason = match sub.value {
                    "action" => 1,
                    "no_match" => 0,
                    "invalid_ttl" => 2,
                    "action_set" => 3,
                    "group" => 4,
                    "packet_out" => 5,
                    _ => return Err(bad(format!("unknown reason \"{}\"", sub.value))),
                }
            }
            "userdata" => {
                c.userdata = hex_bytes(sub.value).map_err(|e| bad(format!("userdata: {e}")))?;
                if c.userdata.is_empty() {
                    return Err(bad("userdata: hex bytes expected (01.02.03)".into()));
                }
            }
            "pause" => c.pause = true,
            "meter_id" => {
                c.meter_id = Some(parse_uint(sub.value, 32, "meter_id").map_err(bad)? as u32)
            }
            _ => return Err(err(sub.key_off, sub.key, "unknown controller() argument")),
        }
    }
    let plain = c.id == 0
        && c.reason == crate::dpaction::pin_reason::ACTION
        && c.userdata.is_empty()
        && !c.pause
        && c.meter_id.is_none();
    Ok(if plain {
        Action::Controller { max_len: c.max_len }
    } else {
        Action::Controller2(Box::new(c))
    })
}

/// Hex bytes, optionally separated by periods (`01.02.03` or `0102.03`), as OVS reads
/// them (`note:` and `controller(userdata=)`).
fn hex_bytes(v: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    for part in v.split('.').map(str::trim).filter(|p| !p.is_empty()) {
        if !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("'{part}' is not hex"));
        }
        if !part.len().is_multiple_of(2) {
            return Err(format!("'{part}' is not whole hex bytes"));
        }
        for i in (0..part.len()).step_by(2) {
            bytes.push(u8::from_str_radix(&part[i..i + 2], 16).map_err(|e| e.to_string())?);
        }
    }
    Ok(bytes)
}

/// `resubmit:PORT` or `resubmit([port],[table][,ct])`.
fn resubmit(a: Act) -> Result<Action, ParseError> {
    let (v, bad) = (a.it.value, a.bad());
    if a.it.delim != b'(' {
        a.need_value()?;
        return Ok(Action::Resubmit {
            in_port: Some(parse_port(v, a.ports).map_err(bad)?),
            table: None,
            ct: false,
        });
    }
    let parts: Vec<&str> = v.split(',').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return Err(bad(
            "resubmit syntax is resubmit([port],[table][,ct])".into()
        ));
    }
    let in_port = if parts[0].trim().is_empty() {
        None
    } else {
        Some(parse_port(parts[0].trim(), a.ports).map_err(&bad)?)
    };
    let table = if parts[1].trim().is_empty() {
        None
    } else {
        let t = parse_uint(parts[1].trim(), 8, "table").map_err(&bad)?;
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
    Ok(Action::Resubmit { in_port, table, ct })
}

/// A bare port: IN_PORT, NORMAL, FLOOD, ALL, LOCAL, CONTROLLER[:max_len], or a number.
fn bare_port(a: Act) -> Result<Action, ParseError> {
    let (it, key, v) = (a.it, a.it.key, a.it.value);
    Ok(if let Some(p) = port::from_reserved_name(key) {
        if p == port::CONTROLLER {
            let max_len = if v.is_empty() {
                u16::MAX
            } else {
                parse_uint(v, 16, "CONTROLLER max_len").map_err(a.bad())? as u16
            };
            Action::Controller { max_len }
        } else if it.delim != 0 {
            return Err(a.at_key(format!("{key} takes no argument")));
        } else {
            Action::Output(p)
        }
    } else if it.delim == 0 && parse_int(key).is_some() {
        output_to(parse_port(key, a.ports).map_err(|e| a.at_key(e))?)
    } else {
        return Err(a.at_key(format!("unknown action {key}")));
    })
}

/// `dec_ttl` or `dec_ttl(id,...)`: the controller ids are checked and ignored.
fn dec_ttl(a: Act) -> Result<Action, ParseError> {
    if a.it.delim == b'(' {
        for id in a.it.value.split(',') {
            parse_uint(id.trim(), 16, "dec_ttl controller id").map_err(a.bad())?;
        }
    }
    Ok(Action::DecTtl)
}

/// `conjunction(id,k/n)`.
fn conjunction(a: Act) -> Result<Action, ParseError> {
    let bad = a.bad();
    let syntax = || bad("\"conjunction\" syntax is \"conjunction(id,i/n)\"".into());
    if a.it.delim != b'(' {
        return Err(syntax());
    }
    let (id, kn) = a.it.value.split_once(',').ok_or_else(syntax)?;
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
    Ok(Action::Conjunction {
        id,
        clause: k,
        n_clauses: n,
    })
}

/// `note:xx.xx...`: hex bytes, dots anywhere between them.
fn note(a: Act) -> Result<Action, ParseError> {
    let bytes = hex_bytes(a.it.value).map_err(|e| (a.bad())(format!("note: {e}")))?;
    Ok(Action::Note(bytes))
}

/// `push_vlan:ETHERTYPE` (802.1Q or 802.1ad).
fn push_vlan(a: Act) -> Result<Action, ParseError> {
    let bad = a.bad();
    a.need_value()?;
    let t = parse_uint(a.it.value, 16, "push_vlan").map_err(&bad)? as u16;
    if t != 0x8100 && t != 0x88a8 {
        return Err(bad(format!(
            "push_vlan: ethertype {t:#x} is not 0x8100 or 0x88a8"
        )));
    }
    Ok(Action::PushVlan(t))
}
