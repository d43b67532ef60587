//! `brisk ctl` commands, by verb group (flows, groups, ports, conntrack, underlay, stats).
//! The verb list is static ([`VERBS`]): `brisk ctl help` prints it without a switch, a
//! known verb with wrong arguments gets its usage line, and whether a verb changes the
//! switch (such verbs run one at a time) is said once, here.

mod conntrack;
mod flows;
mod groups;
mod meters;
mod ports;
pub(crate) mod stats;
pub(crate) mod trace;
mod underlay;

use super::state::Shared;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::sync::LazyLock;
use std::time::Duration;

/// A request.
#[derive(Serialize, Deserialize, Debug)]
pub struct Request {
    /// Command and arguments.
    pub args: Vec<String>,
    /// Input data (a flows file's text), if the command takes one.
    #[serde(default)]
    pub input: Option<String>,
}

/// A reply.
#[derive(Serialize, Deserialize, Debug)]
pub struct Reply {
    /// 0 on success.
    pub status: i32,
    /// Output or error text.
    pub output: String,
}

type CmdResult = Result<String, String>;

/// What a verb is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerbGroup {
    /// Flows and traces.
    Flows,
    /// Groups.
    Groups,
    /// Meters.
    Meters,
    /// Ports, the MAC-learning table, reload, buffer pools.
    Ports,
    /// Connections.
    Conntrack,
    /// Routes, neighbours, the TLV map.
    Underlay,
    /// Datapath counters and caches.
    Stats,
    /// Help and version.
    Info,
}

/// One `brisk ctl` verb.
#[derive(Clone, Copy, Debug)]
pub struct Verb {
    /// The verb (first argument).
    pub name: &'static str,
    /// Its arguments, as `help` shows them.
    pub args: &'static str,
    /// One line of help.
    pub help: &'static str,
    /// Its group.
    pub group: VerbGroup,
    /// Whether it changes the switch (such verbs run one at a time).
    pub changes: bool,
}

const fn verb(
    name: &'static str,
    args: &'static str,
    help: &'static str,
    group: VerbGroup,
    changes: bool,
) -> Verb {
    Verb {
        name,
        args,
        help,
        group,
        changes,
    }
}

use VerbGroup as G;

/// Every verb, in `help` order.
pub const VERBS: &[Verb] = &[
    verb("add-flow", "FLOW", "add or modify a flow", G::Flows, true),
    verb("add-flows", "FILE", "add flows from a file (one batch, atomic)", G::Flows, true),
    verb("del-flows", "[--strict] [FLOW]", "delete flows (all, or matching; strict: same priority and match)", G::Flows, true),
    verb("replace-flows", "FILE", "make the tables exactly the file's flows (atomic; unchanged flows keep counters)", G::Flows, true),
    verb("dump-flows", "[table=N] [MATCH]", "flows with packet/byte counters", G::Flows, false),
    verb("trace", "[--ct-next STATE]... [--no-names] SPEC [PACKET]", "trace a packet through the live tables as ofproto/trace (nothing sent), then where it leaves", G::Flows, false),
    verb("packet-out", "IN_PORT ACTIONS PACKET", "send a frame (hex) through ACTIONS as an OpenFlow packet-out (resubmit(,0): the tables)", G::Flows, true),
    verb("add-group", "GROUP", "add a group (group_id=N,type=select|all|indirect,bucket=...)", G::Groups, true),
    verb("add-groups", "FILE", "add groups from a file (one batch, atomic)", G::Groups, true),
    verb("mod-group", "[--may-create] GROUP", "replace a group's buckets (its flows stay)", G::Groups, true),
    verb("del-groups", "[group_id=N]", "delete one group or all (flows that use them go too)", G::Groups, true),
    verb("dump-groups", "[N]", "groups as ovs-ofctl prints them", G::Groups, false),
    verb("dump-group-stats", "[N]", "per-group and per-bucket packet/byte counters", G::Groups, false),
    verb("add-meter", "METER", "add a meter (meter=N,kbps|pktps[,burst][,stats],bands=type=drop,rate=R[,burst_size=B]...)", G::Meters, true),
    verb("mod-meter", "METER", "replace a meter (fresh buckets and counters; its flows stay)", G::Meters, true),
    verb("del-meters", "[meter=N]", "delete one meter or all (flows that use them go too)", G::Meters, true),
    verb("dump-meters", "[meter=N]", "meters as ovs-ofctl prints them", G::Meters, false),
    verb("meter-stats", "[meter=N]", "per-meter and per-band packet/byte counters", G::Meters, false),
    verb("meter-features", "", "what the meters can do (as OFPMP_METER_FEATURES)", G::Meters, false),
    verb("show", "", "ports: number, name, MAC, link, type", G::Ports, false),
    verb("dump-ports", "", "per-port rx/tx/drops/errors", G::Ports, false),
    verb("port", "add NAME OFPORT DEVARGS|afpacket:IFACE|tap:IFACE | port del NAME", "ports at run time", G::Ports, true),
    verb("reload", "FILE", "apply a node description (YAML): pods added/removed, flows replaced atomically", G::Ports, true),
    verb("fdb-show", "", "MAC-learning table (NORMAL)", G::Ports, false),
    verb("mempool", "", "packet buffers per pool (one per NUMA socket): total, available, in use", G::Ports, false),
    verb("dump-conntrack", "[zone=N]", "connections", G::Conntrack, false),
    verb("flush-conntrack", "[zone=N] [ORIG [REPLY]]", "delete connections (all, a zone's, or those matching OVS's tuples: ct_nw_dst=IP,ct_nw_proto=17,ct_tp_dst=53)", G::Conntrack, true),
    verb("ct-set-limits", "[default=L] [zone=N,limit=L]...", "per-zone connection limits (0: none); commits past them are refused and counted (as ovs-appctl dpctl/ct-set-limits)", G::Conntrack, true),
    verb("ct-get-limits", "[zone=N[,N]...]", "the default limit, and each zone's limit and connections", G::Conntrack, false),
    verb("ct-del-limits", "[default] [zone=N[,N]...]", "zones back to the default limit; `default`: no default limit", G::Conntrack, true),
    verb("ipf-get-status", "", "IP fragment reassembly: limits and counters (as ovs-appctl dpctl/ipf-get-status)", G::Conntrack, false),
    verb("ipf-set", "enabled|disabled v4|v6 | min-frag v4|v6 BYTES | max-nfrags N | per-datagram N | max-bytes N | timeout MS", "IP fragment reassembly's switches and limits", G::Conntrack, true),
    verb("route", "show|add PREFIX/LEN [via GW] dev PORT|del PREFIX/LEN", "underlay routes (PORT: number or name)", G::Underlay, true),
    verb("neigh", "show|add IP MAC|del IP", "underlay neighbours (REACHABLE, STALE, PERMANENT, INCOMPLETE, FAILED)", G::Underlay, true),
    verb("add-tlv-map", "SPEC", "map Geneve options: {class=0x104,type=0x80,len=4}->tun_metadata0", G::Underlay, true),
    verb("dump-tlv-map", "", "the TLV map", G::Underlay, false),
    verb("pmd-stats", "", "per-worker packets, cache hits, upcalls, cycles", G::Stats, false),
    verb("pmd-stats-clear", "", "reset per-worker counters", G::Stats, true),
    verb("dump-megaflows", "", "cached megaflows of every worker", G::Stats, true),
    verb("flush-megaflows", "", "drop every cached megaflow", G::Stats, true),
    verb("drop-stats", "", "drops by reason (datapath, tunnel encapsulation among them; decapsulation), ARP input, what the control and metrics listeners refused, conntrack", G::Stats, false),
    verb("dp-features", "", "what the datapath supports, as OVS's dpif/show-dp-features lists it (CT state, zone, mark, label, NAT...)", G::Info, false),
    verb("help", "", "this list", G::Info, false),
    verb("version", "", "version and build facts", G::Info, false),
];

/// The verb named `name`.
pub fn find_verb(name: &str) -> Option<&'static Verb> {
    VERBS.iter().find(|v| v.name == name)
}

/// The verb list, one line each, as `brisk ctl help` and `brisk ctl --help` print it.
pub fn commands() -> &'static str {
    static TEXT: LazyLock<String> = LazyLock::new(|| {
        VERBS
            .iter()
            .map(|v| {
                let usage = format!("{} {}", v.name, v.args);
                format!("{:<29} {}", usage.trim_end(), v.help)
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    TEXT.as_str()
}

/// Whether a command changes the switch (such commands run one at a time; the others run
/// concurrently with them and with each other). `route show` and `neigh show` do not.
pub fn changes_switch(args: &[String]) -> bool {
    let Some(v) = args.first().and_then(|a| find_verb(a)) else {
        return false;
    };
    v.changes && !(v.group == G::Underlay && args.get(1).is_none_or(|a| a == "show"))
}

/// Runs one command.
pub fn handle(shared: &Shared, req: &Request, version: &str) -> Reply {
    let args: Vec<&str> = req.args.iter().map(String::as_str).collect();
    let res = dispatch(shared, &args, req.input.as_deref(), version);
    match res {
        Ok(output) => Reply { status: 0, output },
        Err(output) => Reply { status: 1, output },
    }
}

fn dispatch(shared: &Shared, args: &[&str], input: Option<&str>, version: &str) -> CmdResult {
    let Some(first) = args.first() else {
        return Ok(commands().to_string() + "\n");
    };
    let Some(v) = find_verb(first) else {
        let shown: String = args.join(" ").chars().take(80).collect();
        return Err(format!("unknown command: {shown} (try `brisk ctl help`)"));
    };
    let done = match v.group {
        G::Flows => flows::dispatch(shared, args, input),
        G::Groups => groups::dispatch(shared, args, input),
        G::Meters => meters::dispatch(shared, args),
        G::Ports => ports::dispatch(shared, args, input),
        G::Conntrack => conntrack::dispatch(shared, args, input),
        G::Underlay => underlay::dispatch(shared, args, input),
        G::Stats => stats::dispatch(shared, args, input),
        G::Info => match args {
            ["help"] => Some(Ok(commands().to_string() + "\n")),
            ["version"] => Some(Ok(format!("{version}\n"))),
            ["dp-features"] => Some(Ok(crate::runtime::appctl::dp_features())),
            _ => None,
        },
    };
    done.unwrap_or_else(|| Err(usage_error(v, args)))
}

/// A known verb with missing or extra arguments: its usage line.
fn usage_error(v: &Verb, args: &[&str]) -> String {
    let usage = format!("{} {}", v.name, v.args);
    let usage = usage.trim_end();
    let params: Vec<&str> = v.args.split_whitespace().collect();
    match params.as_slice() {
        [one] if args.len() == 1 && !one.starts_with('[') => {
            format!("{} needs a {one} (usage: {usage})", v.name)
        }
        _ if args.len() == 1 => format!("{} needs arguments (usage: {usage})", v.name),
        _ => format!("{}: wrong arguments (usage: {usage})", v.name),
    }
}

fn need_input<'a>(input: Option<&'a str>, cmd: &str) -> Result<&'a str, String> {
    input.ok_or_else(|| format!("{cmd}: no input given (brisk ctl reads FILE and sends it)"))
}

/// `[N]` or `[group_id=N]` of the group verbs: none, or one group id in range.
fn group_arg(verb: &str, rest: &[&str]) -> Result<Option<u32>, String> {
    let max = pipeline::ofctl::GROUP_MAX;
    match rest {
        [] => Ok(None),
        [g] => {
            let v = g.strip_prefix("group_id=").unwrap_or(g);
            match v.parse::<u32>() {
                Ok(id) if id <= max => Ok(Some(id)),
                _ => {
                    let g: String = g.chars().take(40).collect();
                    Err(format!("{verb}: {g} is not a group id 0..{max}"))
                }
            }
        }
        _ => Err(format!("{verb}: expected at most one group")),
    }
}

/// `[zone=N]` of the conntrack verbs.
fn zone_arg(verb: &str, rest: &[&str]) -> Result<Option<u16>, String> {
    match rest {
        [] => Ok(None),
        [z] => z
            .strip_prefix("zone=")
            .and_then(|z| z.parse().ok())
            .map(Some)
            .ok_or_else(|| {
                let z: String = z.chars().take(40).collect();
                format!("{verb}: expected zone=N with N in 0..65535, got {z}")
            }),
        _ => Err(format!("{verb}: expected at most zone=N")),
    }
}

/// Asks every worker for something and waits (up to 1 s) until all have seen it.
pub(crate) fn request_all(shared: &Shared, req: u32) {
    for w in &shared.workers {
        w.requests.fetch_or(req | 0x8000_0000, Ordering::AcqRel);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        if shared
            .workers
            .iter()
            .all(|w| w.requests.load(Ordering::Acquire) & 0x8000_0000 == 0)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verb_once_and_help_lists_them() {
        let text = commands();
        for v in VERBS {
            assert_eq!(VERBS.iter().filter(|w| w.name == v.name).count(), 1);
            assert!(text.lines().any(|l| l.starts_with(v.name)), "{}", v.name);
        }
        assert!(!changes_switch(&["route".into(), "show".into()]));
        assert!(!changes_switch(&["neigh".into()]));
        assert!(changes_switch(&["route".into(), "add".into()]));
        assert!(changes_switch(&["replace-flows".into(), "f".into()]));
        assert!(!changes_switch(&["dump-flows".into()]));
        let add = find_verb("add-flow").unwrap();
        assert_eq!(
            usage_error(add, &["add-flow"]),
            "add-flow needs a FLOW (usage: add-flow FLOW)"
        );
    }
}
