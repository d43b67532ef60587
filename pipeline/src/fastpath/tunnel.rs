//! The fast path's tunnel stages: decapsulation on the uplink's receive burst (before the
//! burst is loaded into slots), and the packets parked waiting for a tunnel next hop
//! (released when the underlay moves). Encapsulation itself is a datapath action
//! (`tnl_push`) run by the execute stage.

use super::{FastPath, MAX_BURST};
use crate::bridge::Bridge;
use crate::dpaction::{CloneFrame, DropReason, Sink, TunnelMeta};
use crate::flow::Flow;
use crate::tunnel::decap::{self, classify, Binding};
use crate::tunnel::park::Outcome;
use crate::tunnel::{DecapPort, Parking, UplinkIn};
use crate::underlay::arp_request;
use smallvec::SmallVec;

/// Counters of the tunnel stages, folded into [`super::FastPathStats`].
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

/// What the execute stage's sink needs to park packets: the bridge, this core's queue and
/// counters (moved out of the fast path for the duration of a burst).
pub(super) struct ParkCtx<'a, F> {
    pub(super) bridge: &'a Bridge,
    pub(super) parking: Parking<F>,
    pub(super) now_ms: u64,
}

/// Carries out what parking decided: encapsulated packets leave on the uplink, dropped ones
/// are counted, ARP requests are built and sent.
pub(super) fn settle<F: CloneFrame, S: Sink<F>>(
    o: Outcome<F>,
    bridge: &Bridge,
    sink: &mut S,
    drops: &mut [u64; DropReason::COUNT],
    t: &mut TunnelStats,
) {
    match o {
        Outcome::Send(f, push) => {
            t.tx_packets += 1;
            t.tx_bytes += f.len() as u64;
            sink.output(push.uplink, Some(&push.meta), f, &Flow::ZERO);
        }
        Outcome::Drop(f, r) => {
            drops[r.index()] += 1;
            sink.drop_packet(r, f);
        }
        Outcome::Arp(target) => {
            let Some(up) = bridge.underlay().uplink else {
                return;
            };
            if let Some(f) = sink.alloc(&arp_request(up.mac, up.ip, target)) {
                t.arp_requests += 1;
                sink.output(up.ofport, None, f, &Flow::ZERO);
            }
        }
    }
}

impl<F: CloneFrame> FastPath<F> {
    /// Receives a burst from port `in_port`. On the uplink the decapsulation stage runs
    /// first: Geneve for this node continues as received on the tunnel port, ARP for the
    /// node's address is the underlay's, the rest continues as the uplink's own traffic.
    /// Packets parked for a next hop that resolved meanwhile leave first.
    pub fn receive_burst<S: Sink<F>>(
        &mut self,
        bridge: &Bridge,
        in_port: u32,
        frames: impl IntoIterator<Item = F>,
        now_ms: u64,
        sink: &mut S,
    ) {
        self.service(bridge, now_ms, sink);
        match self.decap_port(bridge) {
            Some(d) if d.uplink == in_port => self.decap_stage(bridge, &d, frames, now_ms, sink),
            _ => self.process_burst(
                bridge,
                frames.into_iter().map(|f| (f, in_port, None)),
                now_ms,
                sink,
            ),
        }
    }

    /// Releases parked packets whose next hop resolved (or failed, or that waited too
    /// long). Cheap when nothing waits: call it every poll iteration.
    #[inline]
    pub fn service<S: Sink<F>>(&mut self, bridge: &Bridge, now_ms: u64, sink: &mut S) {
        if !self.parking.due(bridge, now_ms) {
            return;
        }
        let mut drops = self.stats.drops;
        let mut t = self.stats.tunnel;
        self.parking.release(bridge, now_ms, |o| {
            settle(o, bridge, sink, &mut drops, &mut t)
        });
        self.stats.drops = drops;
        self.stats.tunnel = t;
    }

    /// Packets waiting for a tunnel next hop.
    pub fn n_parked(&self) -> usize {
        self.parking.len()
    }

    /// The decapsulation snapshot, refreshed when the bridge's ports or underlay moved
    /// (two atomic loads per burst otherwise).
    #[inline]
    fn decap_port(&mut self, bridge: &Bridge) -> Option<DecapPort> {
        let seen = [bridge.generation(), bridge.underlay_generation()];
        if seen != self.decap_seen {
            self.decap = DecapPort::of(bridge);
            self.decap_seen = seen;
        }
        self.decap
    }

    fn decap_stage<S: Sink<F>>(
        &mut self,
        bridge: &Bridge,
        d: &DecapPort,
        frames: impl IntoIterator<Item = F>,
        now_ms: u64,
        sink: &mut S,
    ) {
        // The stage's own cycles: the whole stage minus the bursts it hands on.
        let t0 = super::tsc();
        let inner0 = self.stats.cycles();
        let mut staged: SmallVec<[(F, u32, Option<TunnelMeta>); MAX_BURST]> = SmallVec::new();
        for mut f in frames {
            match classify(d, &mut f) {
                UplinkIn::Tunnel(meta) => {
                    self.stats.tunnel.rx_packets += 1;
                    self.stats.tunnel.rx_bytes += f.len() as u64;
                    staged.push((f, d.tunnel, Some(meta)));
                }
                UplinkIn::Bad(e) => {
                    self.stats.tunnel.decap[e.index()] += 1;
                    drop(f);
                }
                UplinkIn::ArpAnswer(b) => {
                    self.learn(bridge, b, now_ms);
                    self.stats.tunnel.arp_answered += 1;
                    sink.output(d.uplink, None, f, &Flow::ZERO);
                }
                UplinkIn::ArpLearn(ip, mac) => {
                    self.learn(bridge, Some((ip, mac)), now_ms);
                    drop(f);
                }
                UplinkIn::Own(b) => {
                    self.learn(bridge, b, now_ms);
                    staged.push((f, d.uplink, None));
                }
            }
            if staged.len() == MAX_BURST {
                self.process_burst(bridge, staged.drain(..), now_ms, sink);
            }
        }
        if !staged.is_empty() {
            self.process_burst(bridge, staged.drain(..), now_ms, sink);
        }
        let inner = self.stats.cycles() - inner0;
        self.stats.tunnel.cycles_decap += (super::tsc() - t0).saturating_sub(inner);
    }

    #[inline]
    fn learn(&mut self, bridge: &Bridge, b: Binding, now_ms: u64) {
        decap::learn(bridge, b, now_ms, &mut self.stats.tunnel.arp_learned);
    }
}
