//! Encapsulation, resolved at translation: the tunnel destination's route and next hop's
//! MAC become an outer-header template in a `tnl_push` datapath action that the megaflow
//! caches, so an established tunnelled packet costs a header copy and a few field writes —
//! no route or neighbour lookup, no lock, no hash.

use super::UnderlayConfig;
use crate::bridge::{Bridge, PortKind, TunnelPort};
use crate::dpaction::TunnelMeta;
use crate::geneve::{HeaderTemplate, PushError, PushParams};
use crate::packet::Frame;
use crate::underlay::NeighTable;
use std::fmt;
use std::net::Ipv4Addr;

/// Outer TTL of encapsulated packets when the flow sets none.
pub const DEFAULT_TTL: u8 = 64;

/// The `tnl_push` datapath action: encapsulate with this template and send out of the
/// uplink.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TnlPush {
    /// The tunnel port the flow output to (its counters count the packet).
    pub tunnel: u32,
    /// The port the encapsulated frame leaves on.
    pub uplink: u32,
    /// Underlay MTU.
    pub mtu: u16,
    /// The tunnel metadata encapsulated (for traces and checks).
    pub meta: TunnelMeta,
    /// The outer headers.
    pub header: HeaderTemplate,
}

impl TnlPush {
    /// Encapsulates `f` in place; `inner_hash` (the packet's flow hash, computed once by
    /// the lookup) picks the UDP source port.
    #[inline]
    pub fn push<F: Frame + ?Sized>(&self, f: &mut F, inner_hash: u32) -> Result<(), PushError> {
        self.header
            .push(f, inner_hash, usize::from(self.mtu))
            .map(|_| ())
    }
}

impl TnlPush {
    /// The outer header's Ethernet destination and source, as `ovs-ofctl` prints MACs.
    pub fn outer_macs(&self) -> (String, String) {
        let h = self.header.bytes();
        let mac = |o: usize| {
            let mut b = [0u8; 8];
            b[2..].copy_from_slice(&h[o..o + 6]);
            crate::ofctl::format_mac(u64::from_be_bytes(b))
        };
        (mac(0), mac(6))
    }

    /// The outer header's IPv4 source and destination.
    pub fn outer_ips(&self) -> (Ipv4Addr, Ipv4Addr) {
        let h = self.header.bytes();
        let ip = |o: usize| Ipv4Addr::new(h[o], h[o + 1], h[o + 2], h[o + 3]);
        (ip(26), ip(30))
    }
}

impl fmt::Display for TnlPush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.header.bytes();
        let (dst_mac, src_mac) = self.outer_macs();
        let (src_ip, dst_ip) = self.outer_ips();
        write!(
            f,
            "tnl_push(tnl_port({}),header(size={},type=geneve,eth(dst={},src={},dl_type=0x0800),\
             ipv4(src={},dst={},proto=17,tos={:#x},ttl={},frag=0x4000),udp(src=0,dst={},csum={}),\
             geneve(vni={:#x}",
            self.tunnel,
            h.len(),
            dst_mac,
            src_mac,
            src_ip,
            dst_ip,
            h[15],
            h[22],
            u16::from_be_bytes([h[36], h[37]]),
            if self.header.csum() { "on" } else { "off" },
            self.meta.tun_id
        )?;
        for i in 0..8 {
            if self.meta.md_present & (1 << i) != 0 {
                write!(f, ",md{i}={:#x}", self.meta.md[i])?;
            }
        }
        write!(f, ")),out_port({}))", self.uplink)
    }
}

/// What a tunnel output resolves to at translation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Route and next hop known: encapsulate with this.
    Push(Box<TnlPush>),
    /// Routed via `nexthop`, whose MAC is not known yet: packets wait for ARP.
    Waiting {
        /// The next hop being resolved.
        nexthop: u32,
    },
    /// No uplink, or no route to the destination.
    NoRoute,
}

/// Resolves a tunnel output of `meta` through tunnel port `tunnel` (options `cfg`) with the
/// underlay `u` and neighbours `neigh` (read only: resolution itself starts when a packet
/// parks).
pub fn resolve(
    u: &UnderlayConfig,
    neigh: &NeighTable,
    tunnel: u32,
    cfg: &TunnelPort,
    meta: &TunnelMeta,
) -> Resolution {
    let Some(up) = u.uplink else {
        return Resolution::NoRoute;
    };
    let Some((_, nexthop)) = u.routes.lookup(meta.dst) else {
        return Resolution::NoRoute;
    };
    let Some(dst_mac) = neigh.mac(nexthop) else {
        return Resolution::Waiting { nexthop };
    };
    let params = PushParams {
        src_mac: up.mac,
        dst_mac,
        local_ip: cfg.local_ip.unwrap_or(up.ip),
        dst_port: cfg.dst_port,
        csum: cfg.csum,
        ttl: DEFAULT_TTL,
        ip_id: 0,
    };
    Resolution::Push(Box::new(TnlPush {
        tunnel,
        uplink: up.ofport,
        mtu: up.mtu,
        meta: *meta,
        header: HeaderTemplate::new(meta, &u.tlv, &params),
    }))
}

impl Bridge {
    /// Resolves a tunnel output through port `tunnel` against the current underlay.
    pub fn resolve_tunnel(&self, tunnel: u32, meta: &TunnelMeta) -> Resolution {
        let ports = self.ports();
        let Some(PortKind::Tunnel(cfg)) = ports.get(tunnel).map(|p| &p.kind) else {
            return Resolution::NoRoute;
        };
        let u = self.underlay();
        let neigh = self.neighbours();
        resolve(&u, &neigh, tunnel, cfg, meta)
    }
}
