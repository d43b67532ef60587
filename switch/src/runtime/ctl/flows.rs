//! Flow verbs: add, replace, delete, dump, and `trace` on the live tables.

use super::{need_input, request_all, CmdResult};
use crate::runtime::state::Shared;
use pipeline::ofctl::{
    format_flow, parse_flow, parse_flow_file, parse_match, FlowEntry, FlowStats, Mode,
};
use pipeline::tables::FlowMod;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// Runs the verb if it is one of this group's with the right arguments.
pub(super) fn dispatch(shared: &Shared, args: &[&str], input: Option<&str>) -> Option<CmdResult> {
    let b = &shared.bridge;
    let now = shared.now_ms();
    let ports = b.ports();
    let names = ports.names();
    let mut matched = true;
    let mut run = || -> CmdResult {
        match args {
            ["add-flow", rest @ ..] if !rest.is_empty() => {
                let text = rest.join(" ");
                let f = parse_flow(&text, Mode::Add, names)
                    .map_err(|e| format!("column {}: {e}", e.column()))?;
                let s = b
                    .apply(&[FlowMod::Add(f)], now)
                    .map_err(|e| e.to_string())?;
                Ok(format!("{} added, {} modified\n", s.added, s.modified))
            }
            ["add-flows", file] | ["replace-flows", file] => {
                let text = need_input(input, args[0])?;
                let (flows, errs) = parse_flow_file(text, Mode::Add, names);
                if !errs.is_empty() {
                    return Err(errs
                        .iter()
                        .map(|e| format!("{file}:{e}"))
                        .collect::<Vec<_>>()
                        .join("\n"));
                }
                let flows: Vec<FlowEntry> = flows.into_iter().map(|(_, f)| f).collect();
                let s = if args[0] == "add-flows" {
                    b.add_flows(&flows, now)
                } else {
                    b.replace_flows(&flows, now)
                }
                .map_err(|e| e.to_string())?;
                Ok(format!(
                    "{} added, {} modified, {} deleted, {} unchanged\n",
                    s.added, s.modified, s.deleted, s.unchanged
                ))
            }
            ["del-flows", rest @ ..] => {
                let (strict, rest) = match rest {
                    ["--strict", r @ ..] => (true, r),
                    r => (false, r),
                };
                let text = rest.join(" ");
                let f = parse_flow(&text, Mode::Delete, names)
                    .map_err(|e| format!("column {}: {e}", e.column()))?;
                let s = b
                    .apply(
                        &[FlowMod::Delete {
                            filter: f,
                            strict,
                            out_group: None,
                        }],
                        now,
                    )
                    .map_err(|e| e.to_string())?;
                Ok(format!("{} deleted\n", s.deleted))
            }
            ["dump-flows", rest @ ..] => dump_flows(shared, rest),
            ["trace", rest @ ..] if !rest.is_empty() => super::trace::run(shared, rest, false),
            ["packet-out", in_port, actions, packet @ ..] if !packet.is_empty() => {
                packet_out(shared, in_port, actions, &packet.concat())
            }
            _ => {
                matched = false;
                Ok(String::new())
            }
        }
    };
    let r = run();
    matched.then_some(r)
}

/// `packet-out IN_PORT ACTIONS PACKET` (`ovs-ofctl packet-out`'s order): the frame, in
/// hex, runs the actions as an OpenFlow packet-out does and leaves on the ports' control
/// transmit queues.
fn packet_out(shared: &Shared, in_port: &str, actions: &str, hex: &str) -> CmdResult {
    use pipeline::ofctl::port;
    let ports = shared.bridge.ports();
    let in_port = match in_port {
        "CONTROLLER" => port::CONTROLLER,
        "LOCAL" => port::LOCAL,
        "NONE" => port::NONE,
        p => match p.parse::<u32>() {
            Ok(n) => n,
            Err(_) => ports
                .names()
                .number(p)
                .ok_or_else(|| format!("packet-out: no port {p}"))?,
        },
    };
    let flow = format!("actions={actions}");
    let actions = pipeline::ofctl::parse_flow(&flow, pipeline::ofctl::Mode::Add, ports.names())
        .map_err(|e| format!("packet-out: actions: column {}: {e}", e.column()))?
        .actions;
    let data = hex_bytes(hex)
        .ok_or_else(|| "packet-out: the packet is hex bytes (pairs of hex digits)".to_string())?;
    let n = data.len();
    crate::runtime::openflow::packet_out(
        shared,
        openflow::port::PacketOut {
            buffer_id: openflow::port::NO_BUFFER,
            in_port,
            actions,
            data,
        },
    )
    .map_err(|e| format!("packet-out: {e}"))?;
    Ok(format!("sent a {n}-byte packet\n"))
}

/// `dump-flows [table=N] [MATCH]`, with the workers' latest counters folded in.
fn dump_flows(shared: &Shared, rest: &[&str]) -> CmdResult {
    let b = &shared.bridge;
    let now = shared.now_ms();
    let ports = b.ports();
    let names = ports.names();
    let mut table = None;
    let mut mtext = Vec::new();
    for a in rest {
        match a.strip_prefix("table=") {
            Some(t) => {
                table = Some(t.parse::<u8>().ok().filter(|&t| t < 255).ok_or_else(|| {
                    let t: String = t.chars().take(40).collect();
                    format!("dump-flows: table={t} is not a table 0..254")
                })?)
            }
            None => mtext.push(*a),
        }
    }
    let filter = if mtext.is_empty() {
        None
    } else {
        Some(parse_match(&mtext.join(","), names).map_err(|e| e.to_string())?)
    };
    // Fold the workers' latest counters first.
    request_all(shared, 0);
    let tables = b.tables();
    let mut out = String::new();
    for (tid, t) in tables.iter() {
        if table.is_some_and(|x| x != tid) {
            continue;
        }
        for r in t.rules() {
            if let Some(m) = &filter {
                if !r.entry.matches.is_within(m) {
                    continue;
                }
            }
            let used = r.stats.used_ms.load(Ordering::Relaxed);
            let st = FlowStats {
                duration_secs: now.saturating_sub(r.created_ms) as f64 / 1000.0,
                n_packets: r.stats.n_packets.load(Ordering::Relaxed),
                n_bytes: r.stats.n_bytes.load(Ordering::Relaxed),
                idle_age: now.saturating_sub(if used == 0 { r.created_ms } else { used }) / 1000,
                hard_age: now.saturating_sub(r.modified_ms()) / 1000,
            };
            let _ = writeln!(out, " {}", format_flow(&r.shown(), names, Some(&st)));
        }
    }
    Ok(out)
}

/// Hex bytes as `ovs-ofctl` takes a packet (`:`, `.` and `-` between them allowed).
pub(super) fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    let digits: String = hex
        .chars()
        .filter(|c| !matches!(c, ':' | '.' | '-'))
        .collect();
    if digits.is_empty()
        || !digits.len().is_multiple_of(2)
        || !digits.chars().all(|c| c.is_ascii_hexdigit())
    {
        return None;
    }
    Some(
        (0..digits.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("checked hex"))
            .collect(),
    )
}
