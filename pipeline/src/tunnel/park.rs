//! Packets waiting for their tunnel next hop's MAC: a bounded queue per worker (so the
//! shared neighbour table never holds buffers and no lock is taken per waiting packet
//! beyond the resolution itself). A packet leaves when the neighbour answers (the underlay
//! generation moves), or is dropped — counted `tunnel_unresolved` — when resolution fails,
//! it waited too long, or its queue is full.

use super::encap::{Resolution, TnlPush};
use crate::bridge::Bridge;
use crate::dpaction::{DropReason, TunnelMeta};
use crate::packet::Frame;
use crate::underlay::Resolve;
use std::collections::VecDeque;

/// Packets waiting per next hop (as Linux's `unres_qlen` per neighbour).
pub const PER_NEXTHOP: usize = 64;
/// Packets waiting per worker, over all next hops.
pub const PER_WORKER: usize = 256;
/// A packet waits at most this long (ms), whatever the neighbour table says.
pub const MAX_WAIT_MS: u64 = 5000;

/// A packet output to a tunnel whose next hop is being resolved.
pub struct Parked<F> {
    /// The inner frame, actions applied.
    pub frame: F,
    /// The tunnel port it was output to.
    pub tunnel: u32,
    /// Its tunnel metadata.
    pub meta: TunnelMeta,
    /// The next hop it waits for.
    pub nexthop: u32,
    /// Its flow hash (the outer UDP source port).
    pub hash: u32,
    /// When it started waiting (ms).
    pub since_ms: u64,
}

/// What became of a packet that parked or was released.
pub enum Outcome<F> {
    /// Encapsulated: send `frame` out of `push.uplink`.
    Send(F, Box<TnlPush>),
    /// Dropped for this reason.
    Drop(F, DropReason),
    /// Send an ARP request for this next hop out of the uplink.
    Arp(u32),
}

/// One worker's waiting packets.
pub struct Parking<F> {
    q: VecDeque<Parked<F>>,
    seen_generation: u64,
}

impl<F> Default for Parking<F> {
    fn default() -> Self {
        Parking {
            q: VecDeque::new(),
            seen_generation: 0,
        }
    }
}

impl<F: Frame> Parking<F> {
    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Parks `p` (starting resolution: an ARP request when none is out), or reports why
    /// it cannot wait; a next hop resolved meanwhile sends it at once.
    pub fn park(
        &mut self,
        bridge: &Bridge,
        p: Parked<F>,
        now_ms: u64,
        mut out: impl FnMut(Outcome<F>),
    ) {
        let r = bridge.neighbours().resolve(p.nexthop, now_ms);
        match r {
            Resolve::Mac(_) => return send(bridge, p, &mut out),
            Resolve::Failed => return out(Outcome::Drop(p.frame, DropReason::TunnelUnresolved)),
            Resolve::SendArp(ip) => out(Outcome::Arp(ip)),
            Resolve::Wait => {}
        }
        let same_hop = self.q.iter().filter(|x| x.nexthop == p.nexthop).count();
        if self.q.len() >= PER_WORKER || same_hop >= PER_NEXTHOP {
            return out(Outcome::Drop(p.frame, DropReason::TunnelUnresolved));
        }
        if self.q.capacity() == 0 {
            self.q.reserve_exact(PER_WORKER);
        }
        self.q.push_back(p);
    }

    /// Whether [`Parking::release`] has something to do: packets wait and the underlay
    /// moved, or the oldest waited too long.
    #[inline]
    pub fn due(&self, bridge: &Bridge, now_ms: u64) -> bool {
        match self.q.front() {
            None => false,
            Some(p) => {
                bridge.underlay_generation() != self.seen_generation
                    || now_ms.saturating_sub(p.since_ms) >= MAX_WAIT_MS
            }
        }
    }

    /// Sends the packets whose next hop resolved, drops those whose resolution failed or
    /// that waited too long, keeps the rest (in order).
    pub fn release(&mut self, bridge: &Bridge, now_ms: u64, mut out: impl FnMut(Outcome<F>)) {
        self.seen_generation = bridge.underlay_generation();
        for _ in 0..self.q.len() {
            let Some(p) = self.q.pop_front() else { break };
            if now_ms.saturating_sub(p.since_ms) >= MAX_WAIT_MS {
                out(Outcome::Drop(p.frame, DropReason::TunnelUnresolved));
                continue;
            }
            let st = bridge.neighbours().resolve(p.nexthop, now_ms);
            match st {
                Resolve::Mac(_) => send(bridge, p, &mut out),
                Resolve::Failed => out(Outcome::Drop(p.frame, DropReason::TunnelUnresolved)),
                Resolve::SendArp(ip) => {
                    out(Outcome::Arp(ip));
                    self.q.push_back(p);
                }
                Resolve::Wait => self.q.push_back(p),
            }
        }
    }

    /// Drops everything (a flush or the worker's stop).
    pub fn clear(&mut self) -> usize {
        let n = self.q.len();
        self.q.clear();
        n
    }
}

/// Encapsulates a packet whose next hop is now known (route and MAC looked up again: the
/// underlay may have changed while it waited).
fn send<F: Frame>(bridge: &Bridge, mut p: Parked<F>, out: &mut impl FnMut(Outcome<F>)) {
    match bridge.resolve_tunnel(p.tunnel, &p.meta) {
        Resolution::Push(t) => match t.push(&mut p.frame, p.hash) {
            Ok(()) => out(Outcome::Send(p.frame, t)),
            Err(e) => out(Outcome::Drop(p.frame, e.into())),
        },
        Resolution::Waiting { .. } => out(Outcome::Drop(p.frame, DropReason::TunnelUnresolved)),
        Resolution::NoRoute => out(Outcome::Drop(p.frame, DropReason::TunnelNoRoute)),
    }
}
