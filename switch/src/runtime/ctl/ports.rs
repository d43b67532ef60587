//! Port verbs: show, counters, add and remove at run time, the MAC-learning table, a node
//! reload, buffer pools.

use super::{need_input, CmdResult};
use crate::runtime::state::{RtKind, Shared};
use std::fmt::Write;

/// Runs the verb if it is one of this group's with the right arguments.
pub(super) fn dispatch(shared: &Shared, args: &[&str], input: Option<&str>) -> Option<CmdResult> {
    let b = &shared.bridge;
    let now = shared.now_ms();
    let mut matched = true;
    let mut run = || -> CmdResult {
        match args {
            ["show"] => Ok(show(shared)),
            ["dump-ports"] => Ok(dump_ports(shared)),
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
                crate::runtime::ports::port_add(shared, name, ofport, devargs)
            }
            ["port", "del", name] => crate::runtime::ports::port_del(shared, name),
            ["reload", file] => {
                // The description is made into flows, groups and a bridge here, once;
                // the reload applies what was made.
                let plan = conf::node::Plan::parse(need_input(input, "reload")?, file);
                crate::runtime::reload::reload(shared, file, plan)
            }
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
            _ => {
                matched = false;
                Ok(String::new())
            }
        }
    };
    let r = run();
    matched.then_some(r)
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
                let opts = shared.bridge.underlay().tlv.options_len(0xff);
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
    use crate::runtime::counters::{collect, family};
    let fams = collect(shared);
    let ports = shared.ports();
    let mut out = String::new();
    for p in &ports.list {
        let v = |name: &str| family(&fams, name).map_or(0, |f| f.get(&[("port", &p.name)]));
        let _ = writeln!(
            out,
            "  port {:>3}({}): rx pkts={}, bytes={}, drop={}, errs={}, nombuf={}\n{:>14}tx pkts={}, bytes={}, drop={}, errs={}",
            p.ofport,
            p.name,
            v("brisk_port_rx_packets_total"),
            v("brisk_port_rx_bytes_total"),
            v("brisk_port_rx_missed_total"),
            v("brisk_port_rx_errors_total"),
            v("brisk_port_rx_nombuf_total"),
            "",
            v("brisk_port_tx_packets_total"),
            v("brisk_port_tx_bytes_total"),
            v("brisk_port_tx_dropped_total"),
            v("brisk_port_tx_errors_total"),
        );
    }
    out
}
