//! A `learn` action in a megaflow: the flow it learns (the same for every packet of the
//! megaflow, which matches every bit the flow is made of) and when it last went to the
//! learner, so a busy megaflow refreshes its learned flow at most every
//! [`REFRESH_MS`], as OVS's revalidators refresh learned flows from datapath flow stats.

use crate::ofctl::FlowEntry;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// How often a megaflow's traffic refreshes the flow it learned (OVS's revalidators run
/// about every 500 ms).
pub const REFRESH_MS: u64 = 500;

/// A flow learned by a translation.
#[derive(Debug)]
pub struct LearnedFlow {
    /// The flow, applied as a strict modify (added, or refreshed when identical).
    pub entry: FlowEntry,
    /// When packets of this megaflow last sent it to the learner (0: never).
    sent_ms: AtomicU64,
}

impl LearnedFlow {
    /// A learned flow not sent yet.
    pub fn new(entry: FlowEntry) -> Self {
        LearnedFlow {
            entry,
            sent_ms: AtomicU64::new(0),
        }
    }

    /// True when this packet should take the flow to the learner: the first packet, then
    /// one per [`REFRESH_MS`] (one atomic load on the common path).
    #[inline]
    pub fn due(&self, now_ms: u64) -> bool {
        let last = self.sent_ms.load(Ordering::Relaxed);
        if last != 0 && now_ms.saturating_sub(last) < REFRESH_MS {
            return false;
        }
        self.sent_ms
            .compare_exchange(last, now_ms.max(1), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

impl PartialEq for LearnedFlow {
    fn eq(&self, other: &Self) -> bool {
        self.entry == other.entry
    }
}

impl Eq for LearnedFlow {}

impl Hash for LearnedFlow {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.entry.hash(state);
    }
}

/// `fin_timeout` in a megaflow: the flow to shorten when a packet carries FIN or RST.
#[derive(Clone, Debug)]
pub struct DpFinTimeout {
    /// The flow whose actions hold it.
    pub rule: std::sync::Arc<crate::tables::Rule>,
    /// Its idle timeout after a FIN or RST (0: unchanged).
    pub idle: u16,
    /// Its hard timeout after a FIN or RST (0: unchanged).
    pub hard: u16,
}

impl PartialEq for DpFinTimeout {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.rule, &other.rule)
            && (self.idle, self.hard) == (other.idle, other.hard)
    }
}

impl Eq for DpFinTimeout {}

impl Hash for DpFinTimeout {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.rule.id, self.idle, self.hard).hash(state);
    }
}
