//! The ovs-appctl commands brisk answers, in OVS's output formats where scripts parse them
//! (`dpif/show`, `dpif/show-dp-features`, `dpif-netdev/pmd-stats-show`,
//! `dpif-netdev/pmd-rxq-show`, `dpctl/ct-stats-show`, `dpctl/dump-flows`, `dpif/dump-flows`,
//! `ofproto/trace`, `list-commands`), and in brisk's
//! own (the same as `brisk ctl`'s) for the rest.

use super::super::ctl::{self, Request};
use super::super::state::{RtKind, Shared};
use std::sync::atomic::Ordering;

type Out = Result<String, String>;

/// (command, arguments as `list-commands` shows them).
pub const COMMANDS: &[(&str, &str)] = &[
    ("list-commands", ""),
    ("version", ""),
    ("exit", "[--cleanup]"),
    ("ofproto/list", ""),
    (
        "ofproto/trace",
        "{[dp_name] odp_flow | bridge br_flow} [OPTIONS...] [-generate|packet]",
    ),
    ("dpif/show", ""),
    ("dpif/show-dp-features", "bridge"),
    ("dpif/dump-flows", "[-m] [--names | --no-names] bridge"),
    ("dpctl/dump-flows", "[-m] [--names] [dp]"),
    ("dpif-netdev/pmd-stats-show", "[-pmd core] [dp]"),
    ("dpif-netdev/pmd-stats-clear", "[-pmd core] [dp]"),
    ("dpif-netdev/pmd-rxq-show", "[-pmd core] [dp]"),
    (
        "dpif-netdev/pmd-perf-show",
        "[-nh] [-it iter-history-len] [-ms ms-history-len] [-pmd core] [dp]",
    ),
    ("dpctl/dump-conntrack", "[-m] [-s] [dp] [zone=N]"),
    (
        "dpctl/flush-conntrack",
        "[dp] [zone=N] [ct-orig-tuple] [ct-reply-tuple]",
    ),
    ("dpctl/ct-stats-show", "[dp] [zone=N]"),
    ("dpctl/ct-set-maxconns", "[dp] maxconns"),
    ("dpctl/ct-get-maxconns", "[dp]"),
    (
        "dpctl/ct-set-limits",
        "[dp] [default=L] [zone=N,limit=L]...",
    ),
    ("dpctl/ct-get-limits", "[dp] [zone=N1[,N2]...]"),
    ("dpctl/ct-del-limits", "[dp] [default] zone=N1[,N2]..."),
    ("dpctl/ipf-get-status", "[dp]"),
    ("dpctl/ipf-set-enabled", "[dp] v4|v6"),
    ("dpctl/ipf-set-disabled", "[dp] v4|v6"),
    ("dpctl/ipf-set-min-frag", "[dp] v4|v6 minfragment"),
    ("dpctl/ipf-set-max-nfrags", "[dp] maxfrags"),
    ("fdb/show", "bridge"),
    ("ovs/route/show", ""),
    ("ovs/route/add", "ip/plen output_bridge [gw]"),
    ("ovs/route/del", "ip/plen"),
    ("tnl/neigh/show", ""),
    ("tnl/neigh/set", "BRIDGE IP MAC"),
    ("vlog/list", ""),
    ("vlog/set", "{spec | PATTERN:destination:pattern}"),
];

/// Runs one command.
pub fn run(shared: &Shared, version: &str, dp_type: &str, name: &str, args: &[String]) -> Out {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let bridge = shared.bridge.name.as_str();
    match name {
        "list-commands" => Ok(list_commands()),
        "version" => Ok(format!(
            "ovs-vswitchd (brisk) {}\n",
            version.lines().next().unwrap_or("").trim_start_matches("brisk ")
        )),
        "exit" => {
            crate::signal::request_stop();
            Ok(String::new())
        }
        "ofproto/list" => Ok(format!("{bridge}\n")),
        "dpif/show" => Ok(dpif_show(shared, dp_type)),
        "dpif/show-dp-features" => {
            want_bridge(bridge, a.first().copied())?;
            Ok(dp_features())
        }
        "dpif-netdev/pmd-stats-show" => Ok(pmd_stats_show(shared)),
        "dpif-netdev/pmd-stats-clear" => brisk(shared, version, &["pmd-stats-clear"]).map(|_| String::new()),
        "dpif-netdev/pmd-rxq-show" => Ok(pmd_rxq_show(shared)),
        "dpif-netdev/pmd-perf-show" => {
            let mut core = None;
            let mut it = a.iter();
            while let Some(x) = it.next() {
                match *x {
                    "-pmd" => {
                        let c = it.next().and_then(|c| c.parse::<u32>().ok());
                        core = Some(c.ok_or("-pmd needs a core number\n")?);
                    }
                    "-nh" => {}
                    "-it" | "-ms" => {
                        return Err(format!("{x}: brisk keeps no iteration or millisecond history\n"));
                    }
                    _ => {}
                }
            }
            Ok(super::perf::pmd_perf_show(shared, core))
        }
        "dpctl/ct-stats-show" => Ok(ct_stats_show(shared)),
        "dpctl/ct-get-maxconns" => Ok(format!("{}\n", shared.bridge.conntrack.max_connections())),
        "dpctl/ct-set-maxconns" => {
            let n = skip_dp(&a, &[]);
            match n.as_slice() {
                [n] => match n.parse::<usize>() {
                    Ok(n) => {
                        shared.bridge.conntrack.set_max_connections(n);
                        Ok("setting maxconns successful\n".into())
                    }
                    Err(_) => Err(format!("maxconns {n:?} is not a number\n")),
                },
                _ => Err("usage: dpctl/ct-set-maxconns [dp] maxconns\n".into()),
            }
        }
        "dpctl/ct-set-limits" | "dpctl/ct-get-limits" | "dpctl/ct-del-limits" => {
            let rest = skip_dp(&a, &[]);
            let verb = name.trim_start_matches("dpctl/");
            brisk(shared, version, &[&[verb], &rest[..]].concat())
        }
        "dpctl/ipf-get-status" => Ok(shared.bridge.conntrack.ipf.status().ovs_text()),
        "dpctl/ipf-set-enabled" | "dpctl/ipf-set-disabled" => {
            let on = name.ends_with("enabled");
            let what = if on { "enabling" } else { "disabling" };
            match skip_dp(&a, &[]).as_slice() {
                [v @ ("v4" | "v6")] => {
                    shared.bridge.conntrack.ipf.set_enabled(*v == "v6", on);
                    Ok(format!("{what} fragmentation reassembly successful\n"))
                }
                _ => Err("parameter missing: 'v4' for IPv4 or 'v6' for IPv6\n".into()),
            }
        }
        "dpctl/ipf-set-min-frag" => match skip_dp(&a, &[]).as_slice() {
            [v @ ("v4" | "v6"), n] => match n.parse::<u32>() {
                Ok(n) => shared.bridge.conntrack.ipf.set_min_frag(*v == "v6", n)
                    .map(|()| "setting minimum fragment size successful\n".into())
                    .map_err(|_| "requested minimum fragment size too small; see documentation\n".into()),
                Err(_) => Err("parameter missing for minimum fragment size\n".into()),
            },
            _ => Err("parameter missing: v4 for IPv4 or v6 for IPv6\n".into()),
        },
        "dpctl/ipf-set-max-nfrags" => match skip_dp(&a, &[]).as_slice() {
            [n] => match n.parse::<u32>() {
                Ok(n) => shared.bridge.conntrack.ipf.set_max_nfrags(n)
                    .map(|()| "setting maximum fragments successful\n".into())
                    .map_err(|_| "setting maximum fragments failed\n".into()),
                Err(_) => Err("parameter missing for maximum fragments\n".into()),
            },
            _ => Err("parameter missing for maximum fragments\n".into()),
        },
        "dpctl/dump-conntrack" => {
            let rest = skip_dp(&a, &["-m", "-s"]);
            brisk(shared, version, &[&["dump-conntrack"], &rest[..]].concat())
        }
        "dpctl/flush-conntrack" => {
            let rest = skip_dp(&a, &[]);
            brisk(shared, version, &[&["flush-conntrack"], &rest[..]].concat()).map(|_| String::new())
        }
        "dpif/dump-flows" => {
            let rest = skip_dp(&a, &["-m", "--names", "--no-names"]);
            want_bridge(bridge, rest.first().copied())?;
            Ok(super::super::ctl::stats::odp_dump(shared, false))
        }
        "dpctl/dump-flows" => {
            let rest = skip_dp(&a, &["-m", "--names", "--no-names"]);
            if let Some(x) = rest.first() {
                return Err(format!("dpctl/dump-flows: {x}: brisk takes no flow filter\n"));
            }
            Ok(super::super::ctl::stats::odp_dump(shared, true))
        }
        "fdb/show" => {
            want_bridge(bridge, a.first().copied())?;
            brisk(shared, version, &["fdb-show"])
        }
        "ovs/route/show" => brisk(shared, version, &["route", "show"]),
        // OVS's output bridge is the port the route leaves through here.
        "ovs/route/add" => match a.as_slice() {
            [p, dev] => brisk(shared, version, &["route", "add", p, "dev", dev]).map(|_| "OK\n".into()),
            [p, dev, gw] => brisk(shared, version, &["route", "add", p, "via", gw, "dev", dev])
                .map(|_| "OK\n".into()),
            _ => Err("usage: ovs/route/add ip/plen output_bridge [gw]\n".into()),
        },
        "ovs/route/del" => match a.as_slice() {
            [p] => brisk(shared, version, &["route", "del", p]),
            _ => Err("usage: ovs/route/del ip/plen\n".into()),
        },
        "tnl/neigh/show" => brisk(shared, version, &["neigh", "show"]),
        "tnl/neigh/set" => match a.as_slice() {
            [_br, ip, mac] => brisk(shared, version, &["neigh", "add", ip, mac]).map(|_| "OK\n".into()),
            _ => Err("usage: tnl/neigh/set BRIDGE IP MAC\n".into()),
        },
        "vlog/list" => Ok(vlog_list()),
        "vlog/set" => vlog_set(&a),
        "ofproto/trace" => super::super::ctl::trace::run(shared, &a, true).map_err(|e| e + "\n"),
        other => Err(format!(
            "\"{other}\" is not a valid command (use \"list-commands\" to see a list of valid commands)"
        )),
    }
}

/// OVS's `vlog/list` table: brisk has one module, logged to standard error ("console").
fn vlog_list() -> String {
    let cur = crate::logctl::current();
    // The level of a plain filter ("info"); a tracing directive list shows its default.
    let level = cur.split(',').find(|d| !d.contains('=')).unwrap_or("info");
    format!(
        "                 console    syslog    file\n                 -------    ------    ------\nbrisk            {:>7}       OFF       OFF\n",
        crate::logctl::to_ovs(level)
    )
}

/// `vlog/set LEVEL`, `vlog/set MODULE:DESTINATION:LEVEL` or `MODULE:LEVEL` (OVS's forms):
/// the level applies to brisk's one module and its console; `syslog` and `file` are
/// refused (brisk logs to standard error only).
fn vlog_set(a: &[&str]) -> Out {
    if a.is_empty() {
        return Err("vlog/set: needs a level (emer, err, warn, info, dbg, off)\n".into());
    }
    for spec in a {
        let parts: Vec<&str> = spec.split(':').collect();
        let level = parts.last().copied().unwrap_or("");
        if parts
            .iter()
            .any(|p| matches!(p.to_ascii_lowercase().as_str(), "syslog" | "file"))
        {
            return Err(format!(
                "{spec}: brisk logs to the console (standard error) only\n"
            ));
        }
        let lv = crate::logctl::from_ovs(level).ok_or_else(|| {
            format!("{spec}: unknown level {level:?} (emer, err, warn, info, dbg, off)\n")
        })?;
        crate::logctl::set(lv).map_err(|e| format!("{e}\n"))?;
    }
    Ok(String::new())
}

/// Runs a `brisk ctl` command.
fn brisk(shared: &Shared, version: &str, args: &[&str]) -> Out {
    let req = Request {
        args: args.iter().map(|s| s.to_string()).collect(),
        input: None,
    };
    let r = ctl::handle(shared, &req, version);
    if r.status == 0 {
        Ok(r.output)
    } else {
        Err(r.output)
    }
}

/// Drops OVS's flags brisk has no use for and a leading datapath name (`netdev@ovs-netdev`).
fn skip_dp<'a>(a: &[&'a str], flags: &[&str]) -> Vec<&'a str> {
    a.iter()
        .copied()
        .filter(|x| !flags.contains(x))
        .enumerate()
        .filter(|(i, x)| !(*i == 0 && x.contains('@')))
        .map(|(_, x)| x)
        .collect()
}

fn want_bridge(bridge: &str, asked: Option<&str>) -> Result<(), String> {
    match asked {
        Some(b) if b != bridge => Err(format!("no such bridge {b}\n")),
        None => Err("this command needs a bridge name\n".into()),
        _ => Ok(()),
    }
}

fn list_commands() -> String {
    let mut s = String::from("The available commands are:\n");
    let mut c = COMMANDS.to_vec();
    c.sort();
    for (n, a) in c {
        s.push_str(&format!("  {n:<28}{a}\n"));
    }
    s
}

/// OVS's `dpif/show`: the datapath's hit and miss counts, then each port as
/// `NAME OFPORT/DP_PORT: (TYPE)`.
fn dpif_show(shared: &Shared, dp_type: &str) -> String {
    let (mut hit, mut missed) = (0u64, 0u64);
    for w in &shared.workers {
        let st = w.stats.lock().fp;
        hit += st.emc_hits + st.chain_hits + st.megaflow_hits;
        missed += st.upcalls;
    }
    let mut s = format!("{dp_type}@ovs-{dp_type}: hit:{hit} missed:{missed}\n");
    s.push_str(&format!("  {}:\n", shared.bridge.name));
    let ports = shared.ports();
    let mut list: Vec<_> = ports.list.iter().collect();
    list.sort_by(|a, b| a.name.cmp(&b.name));
    for p in list {
        let ty = match &p.kind {
            RtKind::Geneve(_) => "geneve",
            RtKind::Device { dev, .. } => match dev.type_name() {
                "afpacket" => "system",
                t => t,
            },
        };
        s.push_str(&format!(
            "    {} {}/{}: ({ty})\n",
            p.name, p.ofport, p.ofport
        ));
    }
    s
}

/// What the datapath can do, in the lines and words of OVS's `dpif/show-dp-features`
/// (Antrea reads the CT lines before it starts). Each answer is what brisk's datapath does.
pub(crate) fn dp_features() -> String {
    [
        ("Masked set action", "Yes"),
        ("Tunnel push pop", "Yes"),
        ("Ufid", "No"),
        ("Truncate action", "No"),
        ("Clone action", "No"),
        ("Sample nesting", "0"),
        ("Conntrack eventmask", "No"),
        ("Conntrack clear", "Yes"),
        ("Max dp_hash algorithm", "0"),
        ("Check pkt length action", "No"),
        ("Conntrack timeout policy", "No"),
        ("Explicit Drop action", "Yes"),
        ("Optimized Balance TCP mode", "No"),
        ("l2 MPLS tunnelling", "No"),
        ("Max VLAN headers", "1"),
        ("Max MPLS depth", "0"),
        ("Recirc", "Yes"),
        ("CT state", "Yes"),
        ("CT zone", "Yes"),
        ("CT mark", "Yes"),
        ("CT label", "Yes"),
        ("CT state NAT", "Yes"),
        ("CT orig tuple", "No"),
        ("CT orig tuple for IPv6", "No"),
        ("IPv6 ND Extension", "No"),
    ]
    .iter()
    .map(|(k, v)| format!("{k}: {v}\n"))
    .collect()
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// OVS's `dpif-netdev/pmd-stats-show`, one block per worker, from the same counters as
/// `brisk ctl pmd-stats`. brisk's exact-match cache is OVS's EMC; its connection chains
/// (a cached second pass) are counted as `simple match hits`.
fn pmd_stats_show(shared: &Shared) -> String {
    let mut s = String::new();
    for w in &shared.workers {
        let st = *w.stats.lock();
        let fp = st.fp;
        let lcore = w.lcore.load(Ordering::Relaxed);
        let busy = st.busy_cycles;
        let total = (st.busy_cycles + st.idle_cycles).max(1);
        s.push_str(&format!("pmd thread numa_id 0 core_id {lcore}:\n"));
        let rows: [(&str, String); 14] = [
            ("packets received", fp.packets.to_string()),
            ("packet recirculations", fp.recirculations.to_string()),
            (
                "avg. datapath passes per packet",
                format!("{:.2}", ratio(fp.passes, fp.packets)),
            ),
            ("phwol hits", "0".into()),
            ("mfex opt hits", "0".into()),
            ("simple match hits", fp.chain_hits.to_string()),
            ("emc hits", fp.emc_hits.to_string()),
            ("smc hits", "0".into()),
            ("megaflow hits", fp.megaflow_hits.to_string()),
            (
                "avg. subtable lookups per megaflow hit",
                format!("{:.2}", ratio(fp.subtable_lookups, fp.megaflow_hits)),
            ),
            (
                "miss with success upcall",
                fp.upcalls.saturating_sub(fp.upcall_drops).to_string(),
            ),
            ("miss with failed upcall", fp.upcall_drops.to_string()),
            (
                "avg. packets per output batch",
                format!("{:.2}", ratio(st.tx_packets, st.tx_batches)),
            ),
            (
                "idle cycles",
                format!(
                    "{} ({:.2} %)",
                    st.idle_cycles,
                    100.0 * st.idle_cycles as f64 / total as f64
                ),
            ),
        ];
        for (k, v) in rows {
            s.push_str(&format!("  {k}: {v}\n"));
        }
        s.push_str(&format!(
            "  processing cycles: {busy} ({:.2} %)\n",
            100.0 * busy as f64 / total as f64
        ));
        if fp.packets > 0 {
            s.push_str(&format!(
                "  avg cycles per packet: {:.2} ({}/{})\n  avg processing cycles per packet: {:.2} ({busy}/{})\n",
                total as f64 / fp.packets as f64,
                total,
                fp.packets,
                busy as f64 / fp.packets as f64,
                fp.packets
            ));
        }
    }
    s
}

/// OVS's `dpif-netdev/pmd-rxq-show`: the receive queues each worker polls.
fn pmd_rxq_show(shared: &Shared) -> String {
    let ports = shared.ports();
    let n = shared.workers.len();
    let mut s = String::new();
    for (wid, w) in shared.workers.iter().enumerate() {
        let lcore = w.lcore.load(Ordering::Relaxed);
        s.push_str(&format!(
            "pmd thread numa_id 0 core_id {lcore}:\n  isolated : false\n"
        ));
        for (pi, q) in super::super::worker::my_queues(&ports, wid, n) {
            s.push_str(&format!(
                "  port: {:<16}  queue-id: {q:>2} (enabled)   pmd usage: NOT AVAIL\n",
                ports.list[pi].name
            ));
        }
    }
    s
}

/// OVS's `dpctl/ct-stats-show`.
fn ct_stats_show(shared: &Shared) -> String {
    let st = shared.bridge.conntrack.stats();
    let [tcp, udp, icmp, other] = st.by_proto;
    let mut s = format!("Connections Stats:\n    Total: {}\n", st.connections);
    for (k, v) in [("TCP", tcp), ("UDP", udp), ("ICMP", icmp), ("OTHER", other)] {
        if v > 0 {
            s.push_str(&format!("    {k}: {v}\n"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_datapath_names_are_skipped() {
        assert_eq!(
            skip_dp(&["-m", "netdev@ovs-netdev", "zone=3"], &["-m"]),
            ["zone=3"]
        );
        assert_eq!(skip_dp(&["zone=3"], &[]), ["zone=3"]);
    }

    #[test]
    fn vlog_set_refuses_what_brisk_cannot_do() {
        assert!(vlog_set(&["ANY:syslog:dbg"])
            .unwrap_err()
            .contains("console"));
        assert!(vlog_set(&["loud"]).unwrap_err().contains("unknown level"));
        assert!(vlog_set(&[]).is_err());
    }

    #[test]
    fn features_have_the_lines_antrea_reads() {
        let f = dp_features();
        for l in [
            "CT state: Yes",
            "CT zone: Yes",
            "CT mark: Yes",
            "CT label: Yes",
            "CT state NAT: Yes",
        ] {
            assert!(f.lines().any(|x| x == l), "{l}");
        }
    }
}
