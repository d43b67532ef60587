//! Underlay verbs: routes, neighbours, and the Geneve TLV map.

use super::CmdResult;
use crate::runtime::state::Shared;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// Runs the verb if it is one of this group's with the right arguments.
pub(super) fn dispatch(shared: &Shared, args: &[&str], _input: Option<&str>) -> Option<CmdResult> {
    let b = &shared.bridge;
    let ports = b.ports();
    let names = ports.names();
    let mut matched = true;
    let mut run = || -> CmdResult {
        match args {
            ["add-tlv-map", spec @ ..] if !spec.is_empty() => {
                let mut t = shared.tlv.write();
                let mut next = *t;
                next.add(&spec.join("")).map_err(|e| e.to_string())?;
                *t = next;
                // Workers reread the map when the underlay generation moves.
                shared.underlay_gen.fetch_add(1, Ordering::AcqRel);
                Ok(String::new())
            }
            ["dump-tlv-map"] => Ok(shared.tlv.read().to_string()),
            ["route", "show"] | ["route"] => {
                let u = shared.underlay.lock();
                Ok(u.routes.iter().map(|r| format!("{r}\n")).collect())
            }
            ["route", "add", r @ ..] if !r.is_empty() => {
                let route = pipeline::underlay::RouteTable::parse_with_ports(&r.join(" "), names)
                    .map_err(|e| e.to_string())?;
                shared.underlay.lock().routes.add(route);
                shared.underlay_gen.fetch_add(1, Ordering::AcqRel);
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
            _ => {
                matched = false;
                Ok(String::new())
            }
        }
    };
    let r = run();
    matched.then_some(r)
}
