//! Asynchronous messages to controllers: flows that left the tables (timeouts, deletes),
//! and ports a port-mod changed, queued where they happen and sent by each connection's
//! thread (connections that are not slaves, as OVS's default asynchronous configuration).

use parking_lot::Mutex;
use pipeline::ofctl::FlowEntry;
use std::collections::VecDeque;

/// Events kept for connections to catch up with; older ones are dropped (counted).
const KEEP: usize = 4096;

/// A flow removed by its idle or hard timeout.
#[derive(Clone, Debug)]
pub struct FlowRemoved {
    /// The flow.
    pub entry: FlowEntry,
    /// OFPRR_IDLE_TIMEOUT, OFPRR_HARD_TIMEOUT, OFPRR_DELETE or OFPRR_GROUP_DELETE.
    pub reason: u8,
    /// How long it lived, ms.
    pub age_ms: u64,
    /// Ms since its last packet.
    pub idle_ms: u64,
    /// Its packets.
    pub packets: u64,
    /// Its bytes.
    pub bytes: u64,
}

/// An asynchronous message for the controllers (flow-removed, by far the most common, is
/// kept inline).
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum AsyncEvent {
    /// OFPT_FLOW_REMOVED.
    FlowRemoved(FlowRemoved),
    /// OFPT_PORT_STATUS (OFPPR_* reason, the port as it is now).
    PortStatus(u8, openflow::multipart::PortDesc),
}

impl FlowRemoved {
    /// The announcement of `rule` leaving the tables at `now_ms` for `reason` (OFPRR_*):
    /// its age, idle time and counters as they are.
    pub fn of(rule: &pipeline::tables::Rule, reason: u8, now_ms: u64) -> FlowRemoved {
        use std::sync::atomic::Ordering::Relaxed;
        let used = rule.stats.used_ms.load(Relaxed).max(rule.created_ms);
        FlowRemoved {
            reason,
            age_ms: now_ms.saturating_sub(rule.created_ms),
            idle_ms: now_ms.saturating_sub(used),
            packets: rule.stats.n_packets.load(Relaxed),
            bytes: rule.stats.n_bytes.load(Relaxed),
            entry: rule.shown().into_owned(),
        }
    }
}

#[derive(Default)]
struct Inner {
    /// Sequence number of the first event in `queue`.
    first: u64,
    queue: VecDeque<AsyncEvent>,
    dropped: u64,
}

/// The bridge's queue of asynchronous events.
#[derive(Default)]
pub struct Events {
    inner: Mutex<Inner>,
}

impl Events {
    /// Queues an event.
    pub fn push(&self, ev: AsyncEvent) {
        let mut i = self.inner.lock();
        if i.queue.len() >= KEEP {
            i.queue.pop_front();
            i.first += 1;
            i.dropped += 1;
        }
        i.queue.push_back(ev);
    }

    /// The next sequence number (a new connection starts there: it sees later events).
    pub fn next_seq(&self) -> u64 {
        let i = self.inner.lock();
        i.first + i.queue.len() as u64
    }

    /// Events from `seq` on; moves `seq` past them.
    pub fn since(&self, seq: &mut u64) -> Vec<AsyncEvent> {
        let i = self.inner.lock();
        let end = i.first + i.queue.len() as u64;
        if *seq >= end {
            return Vec::new();
        }
        let from = seq.saturating_sub(i.first) as usize;
        *seq = end;
        i.queue.iter().skip(from).cloned().collect()
    }
}
