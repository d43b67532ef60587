//! The control socket: `brisk ctl` commands, answered by the control thread (which never
//! touches packets except to send ARP requests for the underlay).
//!
//! Protocol: one JSON object per line each way. Request `{"args": [...], "input": "..."}`
//! (`input` carries a file's contents for `add-flows`/`replace-flows`), reply
//! `{"status": 0, "output": "..."}`; a non-zero status is an error whose text is `output`.

use super::state::{RtKind, Shared, REQ_CLEAR_STATS, REQ_DUMP_MEGAFLOWS, REQ_FLUSH};
use pipeline::ofctl::{
    format_flow, format_group, parse_flow, parse_flow_file, parse_group, parse_group_file,
    parse_match, parse_packet_spec, FlowEntry, FlowStats, GroupMode, Mode,
};
use pipeline::tables::{FlowMod, GroupMod};
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::sync::atomic::Ordering;
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

/// Commands, for `help`.
pub const COMMANDS: &str = "\
add-flow FLOW                 add or modify a flow
add-flows FILE                add flows from a file (one batch, atomic)
del-flows [--strict] [FLOW]   delete flows (all, or matching; strict: same priority and match)
replace-flows FILE            make the tables exactly the file's flows (atomic; unchanged flows keep counters)
dump-flows [table=N] [MATCH]  flows with packet/byte counters
add-group GROUP               add a group (group_id=N,type=select|all|indirect,bucket=...)
add-groups FILE               add groups from a file (one batch, atomic)
mod-group [--may-create] GROUP   replace a group's buckets (its flows stay)
del-groups [group_id=N]       delete one group or all (flows that use them go too)
dump-groups [N]               groups as ovs-ofctl prints them
dump-group-stats [N]          per-group and per-bucket packet/byte counters
add-tlv-map SPEC              map Geneve options: {class=0x104,type=0x80,len=4}->tun_metadata0
dump-tlv-map                  the TLV map
show                          ports: number, name, MAC, link, type
dump-ports                    per-port rx/tx/drops/errors
trace SPEC                    trace a packet through the live tables (private conntrack, nothing sent)
dump-conntrack [zone=N]       connections
flush-conntrack [zone=N]      delete connections
pmd-stats                     per-worker packets, cache hits, upcalls, cycles
pmd-stats-clear               reset per-worker counters
dump-megaflows                cached megaflows of every worker
flush-megaflows               drop every cached megaflow
route show|add PREFIX/LEN [via GW] dev PORT|del PREFIX/LEN   underlay routes (PORT: number or name)
neigh show|add IP MAC|del IP  underlay neighbours (REACHABLE, STALE, PERMANENT, INCOMPLETE, FAILED)
fdb-show                      MAC-learning table (NORMAL)
port add NAME OFPORT DEVARGS|afpacket:IFACE|tap:IFACE | port del NAME   ports at run time
reload FILE                   apply a node description (YAML): pods added/removed, flows replaced atomically
drop-stats                    drops by reason (datapath, decapsulation, encapsulation)
mempool                       packet buffers per pool (one per NUMA socket): total, available, in use
version                       version and build facts";

/// Runs one command.
pub fn handle(shared: &Shared, req: &Request, version: &str) -> Reply {
    let args: Vec<&str> = req.args.iter().map(String::as_str).collect();
    let res = dispatch(shared, &args, req.input.as_deref(), version);
    match res {
        Ok(output) => Reply { status: 0, output },
        Err(output) => Reply { status: 1, output },
    }
}

fn need_input<'a>(input: Option<&'a str>, cmd: &str) -> Result<&'a str, String> {
    input.ok_or_else(|| format!("{cmd}: no flows given"))
}

fn dispatch(shared: &Shared, args: &[&str], input: Option<&str>, version: &str) -> CmdResult {
    let b = &shared.bridge;
    let now = shared.now_ms();
    let ports = b.ports();
    let names = ports.names();
    match args {
        [] | ["help"] => Ok(COMMANDS.to_string() + "\n"),
        ["version"] => Ok(format!("{version}\n")),
        ["add-flow", rest @ ..] => {
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
                .apply(&[FlowMod::Delete { filter: f, strict }], now)
                .map_err(|e| e.to_string())?;
            Ok(format!("{} deleted\n", s.deleted))
        }
        ["dump-flows", rest @ ..] => {
            let mut table = None;
            let mut mtext = Vec::new();
            for a in rest {
                match a.strip_prefix("table=") {
                    Some(t) => table = Some(t.parse::<u8>().map_err(|_| format!("bad table {t}"))?),
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
                        idle_age: now.saturating_sub(if used == 0 { r.created_ms } else { used })
                            / 1000,
                    };
                    let _ = writeln!(out, " {}", format_flow(&r.entry, names, Some(&st)));
                }
            }
            Ok(out)
        }
        ["add-group", rest @ ..] => {
            let g = parse_group(&rest.join(" "), GroupMode::Add, names)
                .map_err(|e| format!("column {}: {e}", e.column()))?;
            b.apply_groups(&[GroupMod::Add(g)], now)
                .map_err(|e| e.to_string())?;
            Ok(String::new())
        }
        ["add-groups", file] => {
            let text = need_input(input, "add-groups")?;
            let (groups, errs) = parse_group_file(text, names);
            if !errs.is_empty() {
                return Err(errs
                    .iter()
                    .map(|e| format!("{file}:{e}"))
                    .collect::<Vec<_>>()
                    .join("\n"));
            }
            let mods: Vec<GroupMod> = groups.into_iter().map(|(_, g)| GroupMod::Add(g)).collect();
            let s = b.apply_groups(&mods, now).map_err(|e| e.to_string())?;
            Ok(format!("{} groups added\n", s.added))
        }
        ["mod-group", rest @ ..] => {
            let (may_create, rest) = match rest {
                ["--may-create", r @ ..] => (true, r),
                r => (false, r),
            };
            let g = parse_group(&rest.join(" "), GroupMode::Add, names)
                .map_err(|e| format!("column {}: {e}", e.column()))?;
            b.apply_groups(
                &[GroupMod::Modify {
                    entry: g,
                    may_create,
                }],
                now,
            )
            .map_err(|e| e.to_string())?;
            Ok(String::new())
        }
        ["del-groups", rest @ ..] => {
            let g = parse_group(&rest.join(" "), GroupMode::Delete, names)
                .map_err(|e| format!("column {}: {e}", e.column()))?;
            let id = (g.id != u32::MAX).then_some(g.id);
            let before = b.tables().n_flows();
            let s = b
                .apply_groups(&[GroupMod::Delete(id)], now)
                .map_err(|e| e.to_string())?;
            let flows = before.saturating_sub(b.tables().n_flows());
            Ok(format!(
                "{} groups deleted, {flows} flows that used them deleted\n",
                s.deleted
            ))
        }
        ["dump-groups", rest @ ..] => {
            let want = group_arg(rest)?;
            let tables = b.tables();
            let mut out = String::new();
            for g in tables.groups() {
                if want.is_none_or(|w| w == g.entry.id) {
                    let _ = writeln!(out, " {}", format_group(&g.entry, names));
                }
            }
            Ok(out)
        }
        ["dump-group-stats", rest @ ..] => {
            let want = group_arg(rest)?;
            // Fold the workers' latest counters first.
            request_all(shared, 0);
            let tables = b.tables();
            let mut out = String::new();
            for g in tables.groups() {
                if want.is_some_and(|w| w != g.entry.id) {
                    continue;
                }
                let _ = write!(
                    out,
                    " group_id={},duration={:.3}s,ref_count={},packet_count={},byte_count={}",
                    g.entry.id,
                    now.saturating_sub(g.created_ms) as f64 / 1000.0,
                    tables.group_refs(g.entry.id),
                    g.stats.n_packets.load(Ordering::Relaxed),
                    g.stats.n_bytes.load(Ordering::Relaxed)
                );
                for (i, bs) in g.bucket_stats.iter().enumerate() {
                    let _ = write!(
                        out,
                        ",bucket{}:packet_count={},byte_count={}",
                        g.entry.buckets[i].id,
                        bs.n_packets.load(Ordering::Relaxed),
                        bs.n_bytes.load(Ordering::Relaxed)
                    );
                }
                out.push('\n');
            }
            Ok(out)
        }
        ["add-tlv-map", spec @ ..] => {
            let mut t = shared.tlv.write();
            let mut next = *t;
            next.add(&spec.join("")).map_err(|e| e.to_string())?;
            *t = next;
            // Workers reread the map when the underlay generation moves.
            shared.underlay_gen.fetch_add(1, Ordering::AcqRel);
            Ok(String::new())
        }
        ["dump-tlv-map"] => Ok(shared.tlv.read().to_string()),
        ["show"] => Ok(show(shared)),
        ["dump-ports"] => Ok(dump_ports(shared)),
        ["trace", spec @ ..] => {
            let spec = spec.join(" ");
            trace(shared, &spec)
        }
        ["dump-conntrack", rest @ ..] => {
            let zone = zone_arg(rest)?;
            let mut out = String::new();
            for c in b.conntrack.dump_at(zone, now) {
                let _ = writeln!(out, "{c}");
            }
            Ok(out)
        }
        ["flush-conntrack", rest @ ..] => {
            let zone = zone_arg(rest)?;
            Ok(format!("{} connections flushed\n", b.conntrack.flush(zone)))
        }
        ["pmd-stats"] => Ok(pmd_stats(shared)),
        ["pmd-stats-clear"] => {
            request_all(shared, REQ_CLEAR_STATS);
            Ok(String::new())
        }
        ["dump-megaflows"] => {
            request_all(shared, REQ_DUMP_MEGAFLOWS);
            let mut out = String::new();
            for (i, w) in shared.workers.iter().enumerate() {
                let mfs = w.megaflows.lock().take().unwrap_or_default();
                let _ = writeln!(
                    out,
                    "worker {i} (lcore {}): {} megaflows",
                    w.lcore.load(Ordering::Relaxed),
                    mfs.len()
                );
                for m in mfs {
                    let _ = writeln!(
                        out,
                        "{}, packets:{}, bytes:{}, used:{:.3}s, actions:{}",
                        m.matches,
                        m.packets,
                        m.bytes,
                        m.idle_ms as f64 / 1000.0,
                        m.actions
                    );
                }
            }
            Ok(out)
        }
        ["flush-megaflows"] => {
            request_all(shared, REQ_FLUSH);
            Ok(String::new())
        }
        ["route", "show"] | ["route"] => {
            let u = shared.underlay.lock();
            Ok(u.routes.iter().map(|r| format!("{r}\n")).collect())
        }
        ["route", "add", r @ ..] => {
            let route = pipeline::underlay::RouteTable::parse_with_ports(&r.join(" "), names)
                .map_err(|e| e.to_string())?;
            shared.underlay.lock().routes.add(route);
            shared.underlay_gen.fetch_add(1, Ordering::AcqRel);
            Ok(String::new())
        }
        ["route", "del", p] => {
            let (net, len) = p.split_once('/').ok_or("route del PREFIX/LEN")?;
            let net: std::net::Ipv4Addr = net.parse().map_err(|_| format!("bad prefix {p}"))?;
            let len: u8 = len.parse().map_err(|_| format!("bad prefix {p}"))?;
            shared
                .underlay
                .lock()
                .routes
                .del(u32::from(net), len)
                .map_err(|e| e.to_string())?;
            shared.underlay_gen.fetch_add(1, Ordering::AcqRel);
            Ok(String::new())
        }
        ["neigh", "show"] | ["neigh"] => {
            let u = shared.underlay.lock();
            let mut out = String::new();
            let now = shared.now_ms();
            let mac = pipeline::ofctl::format_mac;
            for (ip, st) in u.neigh.entries() {
                use pipeline::underlay::NeighState as N;
                let what = match st {
                    N::Reachable {
                        mac: m,
                        confirmed_ms,
                    } => format!(
                        "{} REACHABLE (confirmed {} s ago)",
                        mac(m),
                        now.saturating_sub(confirmed_ms) / 1000
                    ),
                    N::Stale { mac: m, tries, .. } => {
                        format!("{} STALE (refresh: {tries} request(s) unanswered)", mac(m))
                    }
                    N::Permanent(m) => format!("{} PERMANENT", mac(m)),
                    N::Incomplete { tries, .. } => format!("INCOMPLETE ({tries} request(s))"),
                    N::Failed(t) => {
                        format!("FAILED ({} s ago)", now.saturating_sub(t) / 1000)
                    }
                };
                let _ = writeln!(out, "{} {what}", std::net::Ipv4Addr::from(ip));
            }
            let _ = writeln!(
                out,
                "pending packets: {}, dropped: {}",
                u.neigh.n_pending(),
                u.neigh.dropped
            );
            Ok(out)
        }
        ["neigh", "add", ip, mac] => {
            let ip: std::net::Ipv4Addr = ip.parse().map_err(|_| format!("bad IP {ip}"))?;
            let mac = pipeline::ofctl::parse_mac(mac).ok_or(format!("bad MAC {mac}"))?;
            let waiting = shared.underlay.lock().neigh.add_static(u32::from(ip), mac);
            drop(waiting); // packets that waited are freed; new ones will find the MAC
            shared.underlay_gen.fetch_add(1, Ordering::AcqRel);
            Ok(String::new())
        }
        ["neigh", "del", ip] => {
            let ip: std::net::Ipv4Addr = ip.parse().map_err(|_| format!("bad IP {ip}"))?;
            if !shared.underlay.lock().neigh.del(u32::from(ip)) {
                return Err(format!("no neighbour {ip}"));
            }
            shared.underlay_gen.fetch_add(1, Ordering::AcqRel);
            Ok(String::new())
        }
        ["fdb-show"] => {
            let mut out = String::from(" port  VLAN  MAC                Age\n");
            for (mac, vlan, port, age) in b.mac_entries(now) {
                let _ = writeln!(
                    out,
                    "{port:>5}  {vlan:>4}  {}  {}",
                    pipeline::ofctl::format_mac(mac),
                    age / 1000
                );
            }
            Ok(out)
        }
        ["port", "add", name, ofport, devargs] => {
            super::ports::port_add(shared, name, ofport, devargs)
        }
        ["port", "del", name] => super::ports::port_del(shared, name),
        ["reload", file] => super::reload::reload(shared, file, need_input(input, "reload")?),
        ["drop-stats"] => Ok(drop_stats(shared)),
        ["mempool"] => {
            let mut out = String::new();
            for (socket, p) in shared.pools.iter() {
                let _ = writeln!(
                    out,
                    "mempool {}{}: {} {}, {} available, {} in use",
                    p.name(),
                    if socket >= 0 {
                        format!(" (NUMA socket {socket})")
                    } else {
                        String::new()
                    },
                    p.size(),
                    if cfg!(feature = "dpdk") {
                        "mbufs"
                    } else {
                        "buffers"
                    },
                    p.avail(),
                    p.in_use()
                );
            }
            Ok(out)
        }
        _ => Err(format!(
            "unknown command: {} (try `brisk ctl help`)",
            args.join(" ")
        )),
    }
}

fn group_arg(rest: &[&str]) -> Result<Option<u32>, String> {
    match rest {
        [] => Ok(None),
        [g] => {
            let v = g.strip_prefix("group_id=").unwrap_or(g);
            v.parse()
                .map(Some)
                .map_err(|_| format!("expected a group number, got {g}"))
        }
        _ => Err("expected at most one group".into()),
    }
}

fn zone_arg(rest: &[&str]) -> Result<Option<u16>, String> {
    match rest {
        [] => Ok(None),
        [z] => z
            .strip_prefix("zone=")
            .and_then(|z| z.parse().ok())
            .map(Some)
            .ok_or_else(|| format!("expected zone=N, got {z}")),
        _ => Err("expected at most zone=N".into()),
    }
}

/// Asks every worker for something and waits (up to 1 s) until all have seen it.
fn request_all(shared: &Shared, req: u32) {
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

fn show(shared: &Shared) -> String {
    let ports = shared.ports();
    let mut out = format!("bridge {}:\n", shared.bridge.name);
    for p in &ports.list {
        match &p.kind {
            RtKind::Device {
                dev,
                mac,
                uplink,
                rxq,
            } => {
                let l = dev.link();
                let _ = writeln!(
                    out,
                    " {}({}): addr:{}\n     type: {} ({}), rx queues {rxq}{}\n     link {} speed {} Mbps {}",
                    p.ofport,
                    p.name,
                    pipeline::ofctl::format_mac(*mac),
                    dev.type_name(),
                    p.desc,
                    uplink
                        .map(|(ip, len, mtu)| format!(", uplink {}/{len} mtu {mtu}", std::net::Ipv4Addr::from(ip)))
                        .unwrap_or_default(),
                    if l.up { "up" } else { "down" },
                    l.speed_mbps,
                    if l.full_duplex { "full-duplex" } else { "half-duplex" },
                );
            }
            RtKind::Geneve(_) => {
                // What fits inside: the uplink's MTU less the outer headers (Ethernet is
                // not counted in an MTU) and the options of every mapped tun_metadata.
                let up_mtu = ports.uplink.and_then(|u| match &ports.list[u].kind {
                    RtKind::Device {
                        uplink: Some((_, _, mtu)),
                        ..
                    } => Some(usize::from(*mtu)),
                    _ => None,
                });
                let opts = shared.tlv.read().options_len(0xff);
                let inner = up_mtu.map_or(String::new(), |m| {
                    format!(
                        ", inner mtu {} ({m} - 50 outer{})",
                        m.saturating_sub(50 + opts),
                        if opts > 0 {
                            format!(" - {opts} with every mapped option")
                        } else {
                            String::new()
                        }
                    )
                });
                let _ = writeln!(
                    out,
                    " {}({}):\n     type: geneve ({}){inner}",
                    p.ofport, p.name, p.desc
                );
            }
        }
    }
    out
}

fn dump_ports(shared: &Shared) -> String {
    let ports = shared.ports();
    let mut out = String::new();
    for p in &ports.list {
        let c = &p.counters;
        let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let hw = p.dev().and_then(|d| d.stats()).unwrap_or_default();
        let _ = writeln!(
            out,
            "  port {:>3}({}): rx pkts={}, bytes={}, drop={}, errs={}, nombuf={}\n{:>14}tx pkts={}, bytes={}, drop={}, errs={}",
            p.ofport,
            p.name,
            ld(&c.rx_packets),
            ld(&c.rx_bytes),
            hw.imissed,
            hw.ierrors,
            hw.rx_nombuf,
            "",
            ld(&c.tx_packets),
            ld(&c.tx_bytes),
            ld(&c.tx_dropped),
            hw.oerrors,
        );
    }
    out
}

fn pmd_stats(shared: &Shared) -> String {
    let mut out = String::new();
    let hz = shared.tsc_hz.max(1) as f64;
    for (i, w) in shared.workers.iter().enumerate() {
        let s = *w.stats.lock();
        let fp = s.fp;
        let pkts = fp.packets.max(1) as f64;
        let passes = fp.passes.max(1) as f64;
        let total = (s.busy_cycles + s.idle_cycles).max(1) as f64;
        let _ = writeln!(
            out,
            "pmd thread {i} core_id {}:\n  packets received: {}\n  packet recirculations: {}\n  avg. datapath passes per packet: {:.2}\n  emc hits: {} ({:.1}%)\n  megaflow hits: {} ({:.1}%)\n  upcalls: {} ({:.1}%)\n  upcall drops (budget): {}\n  revalidations: {}\n  megaflows: {} in {} masks\n  avg. packets per output batch: {:.2}\n  idle cycles: {} ({:.1}%)\n  processing cycles: {} ({:.1}%)\n  avg cycles per packet: {:.0} (busy {:.0})\n  stage cycles per packet: parse {:.0}, lookup {:.0}, upcall {:.0}, actions {:.0}\n  time: {:.1} s",
            w.lcore.load(Ordering::Relaxed),
            fp.packets,
            fp.recirculations,
            passes / pkts,
            fp.emc_hits,
            100.0 * fp.emc_hits as f64 / passes,
            fp.megaflow_hits,
            100.0 * fp.megaflow_hits as f64 / passes,
            fp.upcalls,
            100.0 * fp.upcalls as f64 / passes,
            fp.upcall_drops,
            fp.revalidations,
            s.megaflows,
            s.masks,
            s.tx_packets as f64 / s.tx_batches.max(1) as f64,
            s.idle_cycles,
            100.0 * s.idle_cycles as f64 / total,
            s.busy_cycles,
            100.0 * s.busy_cycles as f64 / total,
            total / pkts,
            s.busy_cycles as f64 / pkts,
            fp.cycles_parse as f64 / pkts,
            fp.cycles_lookup as f64 / pkts,
            fp.cycles_upcall as f64 / pkts,
            fp.cycles_actions as f64 / pkts,
            total / hz,
        );
    }
    out
}

fn drop_stats(shared: &Shared) -> String {
    use pipeline::dpaction::DropReason;
    let mut tot = pipeline::fastpath::FastPathStats::default();
    for w in &shared.workers {
        tot.add(&w.stats.lock().fp);
    }
    let mut out = String::from("datapath:\n");
    for r in DropReason::ALL {
        let _ = writeln!(out, "  {:<16} {}", r.name(), tot.drops[r.index()]);
    }
    let _ = writeln!(out, "  {:<16} {}", "parse_errors", tot.parse_errors);
    let mut section = |title: &str, rows: &mut dyn Iterator<Item = (&'static str, u64)>| {
        let _ = writeln!(out, "{title}:");
        for (name, n) in rows {
            let _ = writeln!(out, "  {name:<24} {n}");
        }
    };
    let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    section(
        "decapsulation",
        &mut pipeline::geneve::DecapError::ALL
            .iter()
            .map(|e| (e.name(), ld(&shared.decap_errors[e.index()]))),
    );
    section(
        "encapsulation",
        &mut pipeline::geneve::EncapDrop::ALL
            .iter()
            .map(|e| (e.name(), ld(&shared.encap_drops[e.index()]))),
    );
    let ct = shared.bridge.conntrack.stats();
    let _ = writeln!(
        out,
        "conntrack:\n  connections {}\n  refused_full {}\n  invalid {}\n  nat_exhausted {}",
        ct.connections, ct.refused_full, ct.invalid, ct.nat_exhausted
    );
    out
}

fn trace(shared: &Shared, spec: &str) -> CmdResult {
    use pipeline::dpaction::{Collect, Packet, TunnelMeta};
    use pipeline::packet::VecFrame;
    let b = &shared.bridge;
    let ports = b.ports();
    let key = parse_packet_spec(spec, ports.names())
        .map_err(|e| format!("column {}: {e}", e.column()))?;
    let bytes = pipeline::build::from_flow(&key, 0);
    let in_port = pipeline::field::Field::InPort.get(&key) as u32;
    let tun = (key.w[pipeline::flow::w::TUN_ADDR] != 0).then(|| TunnelMeta::from_flow(&key));
    let mut t = pipeline::slowpath::PacketTrace::default();
    let mut out = Collect::new();
    // A private connection tracker: the trace neither sees nor changes live connections,
    // and nothing is sent.
    let ct = pipeline::conntrack::Conntrack::new(pipeline::conntrack::ConntrackConfig::default());
    pipeline::slowpath::process_with(
        b,
        &ct,
        Packet::new(VecFrame::new(&bytes), in_port, tun.as_ref()),
        shared.now_ms(),
        &mut out,
        Some(&mut t),
    );
    Ok(pipeline::slowpath::format_trace_text(
        &t,
        ports.names(),
        &b.name,
    ))
}
