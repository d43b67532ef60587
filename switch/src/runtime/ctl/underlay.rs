//! Underlay verbs: routes, neighbours, and the Geneve TLV map.

use super::CmdResult;
use crate::runtime::state::Shared;
use pipeline::dpaction::DropReason;
use std::fmt::Write;

/// Runs the verb if it is one of this group's with the right arguments.
pub(super) fn dispatch(shared: &Shared, args: &[&str], _input: Option<&str>) -> Option<CmdResult> {
    let b = &shared.bridge;
    let ports = b.ports();
    let names = ports.names();
    let mut matched = true;
    let mut run = || -> CmdResult {
        match args {
            // Underlay changes move the bridge's underlay generation: the workers' decap
            // snapshots and every megaflow that encapsulates revalidate.
            ["add-tlv-map", spec @ ..] if !spec.is_empty() => {
                let spec = spec.join("");
                b.update_underlay(|u| {
                    let mut next = u.tlv;
                    next.add(&spec).map_err(|e| e.to_string())?;
                    u.tlv = next;
                    Ok::<_, String>(())
                })?;
                Ok(String::new())
            }
            ["dump-tlv-map"] => Ok(b.underlay().tlv.to_string()),
            ["route", "show"] | ["route"] => {
                let u = b.underlay();
                Ok(u.routes.iter().map(|r| format!("{r}\n")).collect())
            }
            ["route", "add", r @ ..] if !r.is_empty() => {
                let route = pipeline::underlay::RouteTable::parse_with_ports(&r.join(" "), names)
                    .map_err(|e| e.to_string())?;
                b.update_underlay(|u| u.routes.add(route));
                Ok(String::new())
            }
            ["route", "del", p] => {
                let (net, len) = p.split_once('/').ok_or("route del PREFIX/LEN")?;
                let net: std::net::Ipv4Addr = net.parse().map_err(|_| format!("bad prefix {p}"))?;
                let len: u8 = len
                    .parse()
                    .ok()
                    .filter(|&l| l <= 32)
                    .ok_or_else(|| format!("bad prefix {p}: the length is 0..32"))?;
                b.update_underlay(|u| u.routes.del(u32::from(net), len))
                    .map_err(|e| e.to_string())?;
                Ok(String::new())
            }
            ["neigh", "show"] | ["neigh"] => {
                let entries = b.neighbours().entries();
                let mut out = String::new();
                let now = shared.now_ms();
                let mac = pipeline::ofctl::format_mac;
                for (ip, st) in entries {
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
                let stats: Vec<_> = shared.workers.iter().map(|w| *w.stats.lock()).collect();
                let waiting: usize = stats.iter().map(|s| s.parked).sum();
                let dropped: u64 = stats
                    .iter()
                    .map(|s| s.fp.drops[DropReason::TunnelUnresolved.index()])
                    .sum();
                let _ = writeln!(
                    out,
                    "packets waiting for ARP: {waiting}, dropped unresolved: {dropped}"
                );
                Ok(out)
            }
            ["neigh", "add", ip, mac] => {
                let ip: std::net::Ipv4Addr = ip.parse().map_err(|_| format!("bad IP {ip}"))?;
                let mac = pipeline::ofctl::parse_mac(mac).ok_or(format!("bad MAC {mac}"))?;
                b.neighbours().add_static(u32::from(ip), mac);
                // Packets waiting for it leave at the workers' next poll.
                b.underlay_changed();
                Ok(String::new())
            }
            ["neigh", "del", ip] => {
                let ip: std::net::Ipv4Addr = ip.parse().map_err(|_| format!("bad IP {ip}"))?;
                if !b.neighbours().del(u32::from(ip)) {
                    return Err(format!("no neighbour {ip}"));
                }
                b.underlay_changed();
                Ok(String::new())
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
