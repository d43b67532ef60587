//! The fast path's tunnel stages: decapsulation on the uplink's receive burst (before the
//! burst is loaded into slots), and the packets parked waiting for a tunnel next hop
//! (released when the underlay moves). Encapsulation itself is a datapath action
//! (`tnl_push`) run by the execute stage.

use super::{FastPath, MAX_BURST};
use crate::bridge::Bridge;
use crate::dpaction::{CloneFrame, DropReason, Sink, TunnelMeta};
use crate::flow::Flow;
use crate::tunnel::decap;
use crate::tunnel::park::Outcome;
use crate::tunnel::{DecapPort, Parking, TunnelStats};
use crate::underlay::arp_request;
use smallvec::SmallVec;

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
        if let Some(r) = self.ipf.as_mut() {
            if r.due(now_ms) {
                let drops = &mut self.stats.drops;
                r.expire(now_ms, |f| {
                    drops[DropReason::IpfExpired.index()] += 1;
                    sink.drop_packet(DropReason::IpfExpired, f);
                });
            }
            if r.has_ready() {
                self.process_burst(bridge, std::iter::empty(), now_ms, sink);
            }
        }
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
        for f in frames {
            let t = &mut self.stats.tunnel;
            if let Some(p) = decap::receive(bridge, d, f, now_ms, sink, t) {
                staged.push(p);
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
}
