//! Native tunnelling, the way OVS's userspace datapath does it: the tunnel is a set of
//! pipeline stages, not something the I/O layer does around the pipeline.
//!
//! - **Decapsulation** ([`decap`]) is a stage on the uplink's receive burst: Geneve for this
//!   node is validated and popped, its metadata goes into the key and the packet continues
//!   as received on the tunnel port; ARP for the node's address goes to the underlay (the
//!   neighbour table learns, requests are answered in place); everything else continues as
//!   the uplink's own traffic.
//! - **Encapsulation** ([`encap`]) is resolved at translation: route and neighbour give an
//!   outer-header template in a `tnl_push` datapath action, cached in the megaflow. Route,
//!   neighbour and TLV-map changes move the bridge's *underlay generation*, which
//!   revalidates exactly the megaflows that used it (as a flow change revalidates all).
//! - **Parking** ([`park`]): a packet whose next hop is not resolved yet waits in its
//!   worker's bounded queue while an ARP request goes out; it leaves when the neighbour
//!   answers, or is dropped (counted) when resolution fails.
//!
//! The underlay state (uplink, routes, TLV map, neighbours) lives in the [`Bridge`], shared
//! by the workers like the tables: an immutable snapshot behind an `Arc` swapped on change,
//! and the neighbour table behind a lock taken only by translation, ARP input and timers.

pub mod decap;
pub mod encap;
pub mod park;

pub use decap::{DecapPort, UplinkIn};
pub use encap::{Resolution, TnlPush};
pub use park::{Parked, Parking};

/// Counters of the tunnel stages, folded into [`crate::fastpath::FastPathStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunnelStats {
    /// Geneve packets dropped at decapsulation, by [`crate::geneve::DecapError`] index.
    pub decap: [u64; crate::geneve::DecapError::COUNT],
    /// Packets decapsulated (received on the tunnel port).
    pub rx_packets: u64,
    /// Their inner bytes.
    pub rx_bytes: u64,
    /// Packets encapsulated (sent on the tunnel port).
    pub tx_packets: u64,
    /// Their bytes on the wire (outer headers included).
    pub tx_bytes: u64,
    /// ARP requests for the node's underlay address answered.
    pub arp_answered: u64,
    /// ARP packets that taught or refreshed a neighbour's MAC.
    pub arp_learned: u64,
    /// ARP requests sent to resolve a tunnel next hop.
    pub arp_requests: u64,
    /// Packets that waited for a tunnel next hop.
    pub parked: u64,
    /// TSC cycles in the decapsulation stage (classification, pop, ARP input).
    pub cycles_decap: u64,
}

impl TunnelStats {
    /// Adds another core's counters.
    pub fn add(&mut self, o: &TunnelStats) {
        for (a, b) in self.decap.iter_mut().zip(o.decap) {
            *a += b;
        }
        self.rx_packets += o.rx_packets;
        self.rx_bytes += o.rx_bytes;
        self.tx_packets += o.tx_packets;
        self.tx_bytes += o.tx_bytes;
        self.arp_answered += o.arp_answered;
        self.arp_learned += o.arp_learned;
        self.arp_requests += o.arp_requests;
        self.parked += o.parked;
        self.cycles_decap += o.cycles_decap;
    }
}

use crate::bridge::Bridge;
use crate::geneve::TlvMap;
use crate::underlay::{NeighConfig, NeighTable, RouteTable, Tick};
use parking_lot::{Mutex, MutexGuard, RwLock};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The port that carries the tunnel's packets, and the node's address on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uplink {
    /// Its OpenFlow port number.
    pub ofport: u32,
    /// Its MAC (outer Ethernet source, ARP replies).
    pub mac: u64,
    /// The node's underlay address (outer source, ARP target, Geneve destination).
    pub ip: u32,
    /// Prefix length of the underlay subnet.
    pub prefix_len: u8,
    /// Underlay MTU: encapsulated frames above it are dropped (`tunnel_too_big`).
    pub mtu: u16,
}

/// The underlay as translation and decapsulation read it: immutable once published.
#[derive(Clone, Debug, Default)]
pub struct UnderlayConfig {
    /// The uplink, if the bridge has a tunnel.
    pub uplink: Option<Uplink>,
    /// Routes to tunnel destinations.
    pub routes: RouteTable,
    /// Geneve options by `tun_metadataN` slot.
    pub tlv: TlvMap,
    /// Whether tunnel outputs must be encapsulated here (the switch's datapath has no
    /// tunnel device of its own): without an uplink they are then dropped as
    /// `tunnel_no_route`, instead of being handed to the tunnel port as they are.
    pub native_only: bool,
}

/// A bridge's underlay: the published configuration, the neighbour table, and the
/// generation that cached encapsulations and decapsulation snapshots follow.
#[derive(Debug)]
pub struct Underlay {
    config: RwLock<Arc<UnderlayConfig>>,
    neigh: Mutex<NeighTable>,
    generation: AtomicU64,
}

impl Default for Underlay {
    fn default() -> Self {
        Underlay {
            config: RwLock::new(Arc::new(UnderlayConfig::default())),
            neigh: Mutex::new(NeighTable::new(NeighConfig::default())),
            generation: AtomicU64::new(1),
        }
    }
}

impl Bridge {
    /// The underlay snapshot (an `Arc` clone under a read lock: not per packet).
    pub fn underlay(&self) -> Arc<UnderlayConfig> {
        self.underlay.config.read().clone()
    }

    /// Changes the underlay configuration (routes, uplink, TLV map) and revalidates the
    /// megaflows that encapsulate.
    pub fn update_underlay<R>(&self, f: impl FnOnce(&mut UnderlayConfig) -> R) -> R {
        let mut cur = self.underlay.config.write();
        let mut next = (**cur).clone();
        let r = f(&mut next);
        *cur = Arc::new(next);
        drop(cur);
        self.underlay_changed();
        r
    }

    /// A counter that moves whenever routes, neighbours, the uplink or the TLV map change:
    /// megaflows with a tunnel output and the decapsulation snapshots follow it.
    pub fn underlay_generation(&self) -> u64 {
        self.underlay.generation.load(Ordering::Acquire)
    }

    /// Marks the underlay changed (after a neighbour change made through
    /// [`Bridge::neighbours`]).
    pub fn underlay_changed(&self) {
        self.underlay.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The neighbour table, locked (control plane, translation, ARP input: never per
    /// established packet). Call [`Bridge::underlay_changed`] after changing a MAC.
    pub fn neighbours(&self) -> MutexGuard<'_, NeighTable> {
        self.underlay.neigh.lock()
    }

    /// Records a neighbour's MAC seen in ARP; revalidates encapsulations if it changed.
    pub fn learn_neighbour(&self, ip: u32, mac: u64, now_ms: u64) {
        let changed = self.neighbours().learn(ip, mac, now_ms);
        if changed {
            self.underlay_changed();
        }
    }

    /// Neighbour timers (the control thread, every ~100 ms): what to send; failed and
    /// expired next hops revalidate encapsulations and release parked packets.
    pub fn neighbour_tick(&self, now_ms: u64) -> Tick {
        let t = self.neighbours().tick(now_ms);
        if !t.failed.is_empty() || !t.expired.is_empty() {
            self.underlay_changed();
        }
        t
    }
}

#[cfg(test)]
mod tests;
