//! The underlay a tunnel port needs: a small IPv4 route table, a neighbour (ARP) table
//! with a bounded queue of packets waiting for resolution, and the ARP responder for the
//! node's own address. Pure state: the caller supplies time and sends what comes out.

use crate::flow::eth_type;
use crate::wire::{arp, ArpPacket, EthernetFrame};
use std::collections::HashMap;
use std::fmt;

/// A route: destinations in `prefix/len` are reached through `gateway` (or directly when
/// `None`) on port `dev`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Network.
    pub prefix: u32,
    /// Prefix length.
    pub len: u8,
    /// Next hop, if not on-link.
    pub gateway: Option<u32>,
    /// OpenFlow port of the uplink.
    pub dev: u32,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", std::net::Ipv4Addr::from(self.prefix), self.len)?;
        if let Some(g) = self.gateway {
            write!(f, " via {}", std::net::Ipv4Addr::from(g))?;
        }
        write!(f, " dev {}", self.dev)
    }
}

/// Why a route change was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Syntax.
    #[error("route: {0}")]
    Syntax(String),
    /// Not found on delete.
    #[error("route: no route to {0}")]
    NotFound(String),
}

/// Longest-prefix-match IPv4 routes.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

impl RouteTable {
    /// Adds or replaces the route for its prefix.
    pub fn add(&mut self, r: Route) {
        let r = Route {
            prefix: r.prefix & mask(r.len),
            ..r
        };
        self.routes
            .retain(|x| !(x.prefix == r.prefix && x.len == r.len));
        self.routes.push(r);
        self.routes.sort_by_key(|r| std::cmp::Reverse(r.len));
    }

    /// Deletes the route for `prefix/len`.
    pub fn del(&mut self, prefix: u32, len: u8) -> Result<(), RouteError> {
        let before = self.routes.len();
        let p = prefix & mask(len);
        self.routes.retain(|x| !(x.prefix == p && x.len == len));
        if self.routes.len() == before {
            return Err(RouteError::NotFound(format!(
                "{}/{len}",
                std::net::Ipv4Addr::from(p)
            )));
        }
        Ok(())
    }

    /// Keeps the routes `f` accepts (the routes of a port that went away).
    pub fn retain(&mut self, f: impl FnMut(&Route) -> bool) {
        self.routes.retain(f);
    }

    /// The route for `dst`, and the next hop to resolve.
    pub fn lookup(&self, dst: u32) -> Option<(Route, u32)> {
        self.routes
            .iter()
            .find(|r| dst & mask(r.len) == r.prefix)
            .map(|r| (*r, r.gateway.unwrap_or(dst)))
    }

    /// All routes, longest prefix first.
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }

    /// Parses `PREFIX/LEN [via GW] dev PORT` (PORT a number).
    pub fn parse(s: &str) -> Result<Route, RouteError> {
        let mut names = crate::ofctl::PortMap::new();
        names.set_unknown_hint("give the port's number here");
        Self::parse_with_ports(s, &names)
    }

    /// Parses `PREFIX/LEN [via GW] dev PORT`, PORT a number or a name in `ports`
    /// (`route add 10.79.1.0/24 dev uplink`).
    pub fn parse_with_ports(s: &str, ports: &crate::ofctl::PortMap) -> Result<Route, RouteError> {
        let t: Vec<&str> = s.split_whitespace().collect();
        let bad =
            || RouteError::Syntax(format!("'{s}': expected PREFIX/LEN [via GATEWAY] dev PORT"));
        let (net, len) = t.first().and_then(|x| x.split_once('/')).ok_or_else(bad)?;
        let prefix: std::net::Ipv4Addr = net.parse().map_err(|_| bad())?;
        let len: u8 = len.parse().ok().filter(|&l| l <= 32).ok_or_else(bad)?;
        let mut gateway = None;
        let mut dev = None;
        let mut i = 1;
        while i < t.len() {
            match t[i] {
                "via" => {
                    let g: std::net::Ipv4Addr =
                        t.get(i + 1).ok_or_else(bad)?.parse().map_err(|_| bad())?;
                    gateway = Some(u32::from(g));
                }
                "dev" => {
                    let d = *t.get(i + 1).ok_or_else(bad)?;
                    dev = Some(match d.parse::<u32>() {
                        Ok(n) if n == 0 || n >= crate::ofctl::port::MAX => {
                            return Err(RouteError::Syntax(format!(
                                "'{s}': dev {n} is outside 1..{} (OpenFlow port numbers)",
                                crate::ofctl::port::MAX - 1
                            )))
                        }
                        Ok(n) => n,
                        Err(_) => ports.number(d).ok_or_else(|| {
                            RouteError::Syntax(format!("'{s}': {}", ports.unknown(d)))
                        })?,
                    });
                }
                _ => return Err(bad()),
            }
            i += 2;
        }
        Ok(Route {
            prefix: u32::from(prefix),
            len,
            gateway,
            dev: dev.ok_or_else(bad)?,
        })
    }
}

/// State of a neighbour entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighState {
    /// Resolved and confirmed (by an ARP packet from it) at `confirmed_ms`.
    Reachable {
        /// Its MAC.
        mac: u64,
        /// When it was last confirmed (ms).
        confirmed_ms: u64,
    },
    /// Older than `reachable_ms`: still used, while ARP requests ask whether it is still
    /// there (`tries` sent, the last at `last_ms`); deleted when none is answered.
    Stale {
        /// Its MAC, still used.
        mac: u64,
        /// Refresh requests sent.
        tries: u8,
        /// When the last one went out (ms).
        last_ms: u64,
    },
    /// Static (configured): never expires.
    Permanent(u64),
    /// An ARP request is out: (tries so far, time of the last one).
    Incomplete {
        /// Requests sent.
        tries: u8,
        /// When the last one went out (ms).
        last_ms: u64,
    },
    /// Resolution failed; retry after a hold-down.
    Failed(u64),
}

/// What the neighbour timers ask of the caller.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tick {
    /// Send an ARP request for each of these now (retries and refreshes).
    pub arp: Vec<u32>,
    /// Next hops whose resolution just failed: packets waiting for them are dropped.
    pub failed: Vec<u32>,
    /// Entries deleted because their refresh went unanswered: cached MACs of them are
    /// stale.
    pub expired: Vec<u32>,
}

/// What a neighbour lookup for a packet that must wait asks of the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolve {
    /// Resolved: send to this MAC.
    Mac(u64),
    /// Resolution started: send an ARP request for this IP now, and wait.
    SendArp(u32),
    /// A request is already out: wait.
    Wait,
    /// Resolution failed recently: drop (counted by the caller).
    Failed,
}

/// Tuning of the neighbour table.
#[derive(Clone, Copy, Debug)]
pub struct NeighConfig {
    /// How long a resolved entry stays reachable (ms).
    pub reachable_ms: u64,
    /// Time between ARP retries (ms).
    pub retry_ms: u64,
    /// Requests before giving up.
    pub max_tries: u8,
    /// Hold-down after a failure (ms).
    pub failed_ms: u64,
}

impl Default for NeighConfig {
    fn default() -> Self {
        NeighConfig {
            reachable_ms: 300_000,
            retry_ms: 1000,
            max_tries: 3,
            failed_ms: 5000,
        }
    }
}

/// The neighbour (ARP) table of the underlay: one state machine per next hop. Packets
/// waiting for a next hop are not held here but by each worker's fast path
/// ([`crate::tunnel::Parking`]), so the table is shared without holding buffers.
#[derive(Debug, Default)]
pub struct NeighTable {
    /// Configuration.
    pub cfg: NeighConfig,
    entries: HashMap<u32, NeighState>,
}

impl NeighTable {
    /// An empty table.
    pub fn new(cfg: NeighConfig) -> Self {
        NeighTable {
            cfg,
            entries: HashMap::new(),
        }
    }

    /// The MAC of `ip`, if resolved (reachable, stale while being refreshed, or static).
    pub fn mac(&self, ip: u32) -> Option<u64> {
        match self.entries.get(&ip)? {
            NeighState::Permanent(m)
            | NeighState::Reachable { mac: m, .. }
            | NeighState::Stale { mac: m, .. } => Some(*m),
            _ => None,
        }
    }

    /// Resolves `ip` for a packet that will wait if needed: starts resolution (the caller
    /// sends the ARP request) when none is under way.
    pub fn resolve(&mut self, ip: u32, now_ms: u64) -> Resolve {
        match self.entries.get(&ip).copied() {
            Some(NeighState::Reachable { mac: m, .. })
            | Some(NeighState::Stale { mac: m, .. })
            | Some(NeighState::Permanent(m)) => Resolve::Mac(m),
            Some(NeighState::Failed(t)) if now_ms.saturating_sub(t) < self.cfg.failed_ms => {
                Resolve::Failed
            }
            Some(NeighState::Incomplete { .. }) => Resolve::Wait,
            _ => {
                self.entries.insert(
                    ip,
                    NeighState::Incomplete {
                        tries: 1,
                        last_ms: now_ms,
                    },
                );
                Resolve::SendArp(ip)
            }
        }
    }

    /// Records a MAC (from an ARP reply or request); true if the next hop's MAC changed
    /// (resolved, or moved), which is what invalidates cached encapsulations.
    pub fn learn(&mut self, ip: u32, mac: u64, now_ms: u64) -> bool {
        if matches!(self.entries.get(&ip), Some(NeighState::Permanent(_))) {
            return false;
        }
        let before = self.mac(ip);
        self.entries.insert(
            ip,
            NeighState::Reachable {
                mac,
                confirmed_ms: now_ms,
            },
        );
        before != Some(mac)
    }

    /// Adds a static entry.
    pub fn add_static(&mut self, ip: u32, mac: u64) {
        self.entries.insert(ip, NeighState::Permanent(mac));
    }

    /// Deletes an entry.
    pub fn del(&mut self, ip: u32) -> bool {
        self.entries.remove(&ip).is_some()
    }

    /// Timers: ARP retries for unresolved next hops, refresh requests for entries older
    /// than `reachable_ms`, and the next hops and entries that resolution gave up on.
    pub fn tick(&mut self, now_ms: u64) -> Tick {
        let mut t = Tick::default();
        let cfg = self.cfg;
        for (ip, st) in self.entries.iter_mut() {
            match *st {
                NeighState::Incomplete { tries, last_ms }
                    if now_ms.saturating_sub(last_ms) >= cfg.retry_ms =>
                {
                    if tries >= cfg.max_tries {
                        *st = NeighState::Failed(now_ms);
                        t.failed.push(*ip);
                    } else {
                        *st = NeighState::Incomplete {
                            tries: tries + 1,
                            last_ms: now_ms,
                        };
                        t.arp.push(*ip);
                    }
                }
                NeighState::Reachable { mac, confirmed_ms }
                    if now_ms.saturating_sub(confirmed_ms) >= cfg.reachable_ms =>
                {
                    *st = NeighState::Stale {
                        mac,
                        tries: 1,
                        last_ms: now_ms,
                    };
                    t.arp.push(*ip);
                }
                NeighState::Stale {
                    mac,
                    tries,
                    last_ms,
                } if now_ms.saturating_sub(last_ms) >= cfg.retry_ms => {
                    if tries >= cfg.max_tries {
                        t.expired.push(*ip);
                    } else {
                        *st = NeighState::Stale {
                            mac,
                            tries: tries + 1,
                            last_ms: now_ms,
                        };
                        t.arp.push(*ip);
                    }
                }
                _ => {}
            }
        }
        for ip in &t.expired {
            self.entries.remove(ip);
        }
        t
    }

    /// Entries: (ip, state).
    pub fn entries(&self) -> Vec<(u32, NeighState)> {
        let mut v: Vec<_> = self.entries.iter().map(|(k, v)| (*k, *v)).collect();
        v.sort_by_key(|e| e.0);
        v
    }
}

/// An ARP request for `target` from `(src_mac, src_ip)`, broadcast.
pub fn arp_request(src_mac: u64, src_ip: u32, target: u32) -> Vec<u8> {
    crate::build::arp_frame(1, src_mac, src_ip, 0, target)
}

/// What an ARP frame arriving on the uplink means for the underlay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpIn {
    /// A request for our address: answer it with this reply (already built in place).
    AnswerRequest,
    /// A reply or request telling us `(ip, mac)`.
    Learn(u32, u64),
    /// Not for us.
    Ignore,
}

/// Handles an ARP frame on the uplink whose node address is `my_ip`/`my_mac`: a request
/// for `my_ip` is rewritten in place into the reply; the sender's binding is reported for
/// learning either way.
pub fn arp_input(d: &mut [u8], my_ip: u32, my_mac: u64) -> (ArpIn, Option<(u32, u64)>) {
    // Untagged ARP for IPv4 over Ethernet, whole.
    let Ok(eth) = EthernetFrame::new_checked(&d[..]) else {
        return (ArpIn::Ignore, None);
    };
    if eth.ethertype() != eth_type::ARP {
        return (ArpIn::Ignore, None);
    }
    let Ok(req) = ArpPacket::new_checked(eth.payload()) else {
        return (ArpIn::Ignore, None);
    };
    let op = req.operation();
    let sha = req.sender_hardware_addr();
    let spa = req.sender_protocol_addr();
    let sender = (spa != 0).then_some((spa, sha));
    if req.target_protocol_addr() != my_ip {
        return (ArpIn::Ignore, sender.filter(|_| op == arp::OP_REPLY));
    }
    if op == arp::OP_REQUEST {
        // The reply, in place: back to the frame's sender, from us.
        let mut eth = EthernetFrame::new_unchecked(&mut d[..]);
        let to = eth.src_addr();
        eth.set_dst_addr(to);
        eth.set_src_addr(my_mac);
        let mut reply = ArpPacket::new_unchecked(eth.payload_mut());
        reply.set_operation(arp::OP_REPLY);
        reply.set_target_hardware_addr(sha);
        reply.set_target_protocol_addr(spa);
        reply.set_sender_hardware_addr(my_mac);
        reply.set_sender_protocol_addr(my_ip);
        return (ArpIn::AnswerRequest, sender);
    }
    match sender {
        Some((ip, mac)) => (ArpIn::Learn(ip, mac), sender),
        None => (ArpIn::Ignore, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{arp_frame, ip, mac};

    #[test]
    fn routes_name_their_port() {
        let mut ports = crate::ofctl::PortMap::new();
        ports.insert("uplink", 7);
        let r = RouteTable::parse_with_ports("10.79.1.0/24 dev uplink", &ports).unwrap();
        assert_eq!((r.prefix, r.len, r.dev), (ip("10.79.1.0"), 24, 7));
        let e = RouteTable::parse_with_ports("0.0.0.0/0 via 10.79.1.1 dev eth9", &ports);
        assert!(e
            .unwrap_err()
            .to_string()
            .contains("unknown port name \"eth9\""));
        assert_eq!(RouteTable::parse("10.0.0.0/8 dev 7").unwrap().dev, 7);
        for bad in [
            "10.0.0.0/8 dev 0",
            "10.0.0.0/8 dev 65280",
            "10.0.0.0/8 dev 99999999999",
        ] {
            assert!(RouteTable::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn routes_longest_prefix() {
        let mut t = RouteTable::default();
        t.add(RouteTable::parse("0.0.0.0/0 via 10.79.1.1 dev 7").unwrap());
        t.add(RouteTable::parse("10.79.1.0/24 dev 7").unwrap());
        assert_eq!(t.lookup(ip("10.79.1.202")).unwrap().1, ip("10.79.1.202"));
        assert_eq!(t.lookup(ip("8.8.8.8")).unwrap().1, ip("10.79.1.1"));
        t.del(ip("10.79.1.0"), 24).unwrap();
        assert_eq!(t.lookup(ip("10.79.1.202")).unwrap().1, ip("10.79.1.1"));
        assert!(t.del(ip("10.79.1.0"), 24).is_err());
        assert!(RouteTable::parse("10.0.0.0/33 dev 1").is_err());
        assert!(RouteTable::parse("10.0.0.0/8").is_err());
        assert_eq!(
            t.iter().next().unwrap().to_string(),
            "0.0.0.0/0 via 10.79.1.1 dev 7"
        );
    }

    #[test]
    fn resolution_retry_failure_and_hold_down() {
        let mut n = NeighTable::new(NeighConfig::default());
        let peer = ip("10.79.1.202");
        assert_eq!(n.resolve(peer, 0), Resolve::SendArp(peer));
        assert_eq!(n.resolve(peer, 10), Resolve::Wait, "one request at a time");
        assert_eq!(n.tick(1000).arp, vec![peer]);
        assert!(n.learn(peer, mac("00:50:56:8f:1c:f6"), 1100), "resolved");
        assert!(
            !n.learn(peer, mac("00:50:56:8f:1c:f6"), 1200),
            "same MAC: no change"
        );
        assert_eq!(
            n.resolve(peer, 1200),
            Resolve::Mac(mac("00:50:56:8f:1c:f6"))
        );
        assert!(n.learn(peer, mac("00:50:56:8f:1c:f7"), 1300), "moved");
        // A host that never answers: three tries, then failed (reported once).
        let dead = ip("10.79.1.250");
        n.resolve(dead, 0);
        n.tick(1000);
        n.tick(2000);
        assert_eq!(n.tick(3000).failed, vec![dead]);
        assert!(n.tick(3100).failed.is_empty());
        assert_eq!(n.resolve(dead, 3500), Resolve::Failed, "hold-down");
        assert_eq!(
            n.resolve(dead, 9000),
            Resolve::SendArp(dead),
            "retried later"
        );
    }

    #[test]
    fn resolved_entries_age_refresh_and_expire() {
        let mut n = NeighTable::new(NeighConfig {
            reachable_ms: 10_000,
            ..Default::default()
        });
        let peer = ip("10.79.1.202");
        let m = mac("00:50:56:8f:1c:f6");
        n.learn(peer, m, 0);
        assert!(n.tick(9_999).arp.is_empty());
        // Old: still used, and asked about.
        assert_eq!(n.tick(10_000).arp, vec![peer]);
        assert_eq!(n.mac(peer), Some(m));
        assert_eq!(n.resolve(peer, 10_100), Resolve::Mac(m));
        // Answered: reachable again, no more requests until it ages again.
        n.learn(peer, m, 10_500);
        assert!(n.tick(11_500).arp.is_empty());
        assert!(matches!(
            n.entries()[0].1,
            NeighState::Reachable {
                confirmed_ms: 10_500,
                ..
            }
        ));
        // Gone: three unanswered refreshes, then deleted (and reported), then resolved anew.
        assert_eq!(n.tick(20_500).arp, vec![peer]);
        assert_eq!(n.tick(21_500).arp, vec![peer]);
        assert_eq!(n.tick(22_500).arp, vec![peer]);
        let t = n.tick(23_500);
        assert_eq!(t.expired, vec![peer]);
        assert_eq!(n.mac(peer), None);
        assert_eq!(n.resolve(peer, 23_600), Resolve::SendArp(peer));
        // Static entries never age.
        let gw = ip("10.79.1.1");
        n.add_static(gw, m);
        assert!(n.tick(10_000_000).arp.iter().all(|&x| x != gw));
        assert_eq!(n.mac(gw), Some(m));
    }

    #[test]
    fn answers_arp_for_the_node_address() {
        let me = ip("10.79.1.201");
        let my_mac = mac("00:50:56:8f:4e:82");
        let peer_mac = mac("00:50:56:8f:1c:f6");
        let mut req = arp_frame(1, peer_mac, ip("10.79.1.202"), 0, me);
        let (what, sender) = arp_input(&mut req, me, my_mac);
        assert_eq!(what, ArpIn::AnswerRequest);
        assert_eq!(sender, Some((ip("10.79.1.202"), peer_mac)));
        assert_eq!(req, arp_frame(2, my_mac, me, peer_mac, ip("10.79.1.202")));
        let mut reply = arp_frame(2, peer_mac, ip("10.79.1.202"), my_mac, me);
        assert_eq!(
            arp_input(&mut reply, me, my_mac).0,
            ArpIn::Learn(ip("10.79.1.202"), peer_mac)
        );
        let mut other = arp_frame(1, peer_mac, ip("10.79.1.202"), 0, ip("10.79.1.9"));
        assert_eq!(arp_input(&mut other, me, my_mac).0, ArpIn::Ignore);
    }
}
