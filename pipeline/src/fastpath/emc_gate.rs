//! Whether the EMC pays. With more established connections than it holds (50,000 on an
//! 8,192-entry EMC), nearly every pass hashes its whole key, probes a bucket, misses, goes
//! to the megaflow classifier anyway and then tries to insert itself: ~90 TSC cycles per
//! packet for a few percent of hits. OVS leaves that to its users (`emc-insert-inv-prob=0`).
//! Here each worker measures: the EMC (with its chains) is consulted for a probe window;
//! if it resolved fewer than one pass in five, it is bypassed for a longer while, then
//! measured again. Bypassed passes go straight to the classifier, whose answer is the same
//! megaflow (the EMC only ever returns a megaflow the key matches), so results do not
//! change: only which cache found them.

use super::{FastPath, NONE};
use crate::dpaction::CloneFrame;

/// Bursts of a measuring window (EMC on).
const PROBE_BURSTS: u32 = 1024;
/// Bursts of a bypass before measuring again.
const BYPASS_BURSTS: u32 = 8192;
/// The EMC stays on while it resolves at least 1 pass in this many.
const MIN_HIT_RATIO: u64 = 5;

/// One worker's measurement of its EMC.
#[derive(Clone, Copy, Debug)]
pub(super) struct EmcGate {
    /// Consulted now.
    pub(super) on: bool,
    bursts: u32,
    passes: u64,
    hits: u64,
}

impl Default for EmcGate {
    fn default() -> EmcGate {
        EmcGate {
            on: true,
            bursts: 0,
            passes: 0,
            hits: 0,
        }
    }
}

impl EmcGate {
    /// A pass over `pending` of which the EMC (or a chain) resolved `resolved`.
    #[inline]
    pub(super) fn count(&mut self, pending: u64, resolved: u64) {
        self.passes += u64::from(pending.count_ones());
        self.hits += u64::from(resolved.count_ones());
    }

    /// The end of a burst: decides at the end of a window.
    #[inline]
    pub(super) fn tick(&mut self) {
        self.bursts += 1;
        let window = if self.on { PROBE_BURSTS } else { BYPASS_BURSTS };
        if self.bursts < window {
            return;
        }
        self.on = !self.on || self.hits * MIN_HIT_RATIO >= self.passes;
        self.bursts = 0;
        self.passes = 0;
        self.hits = 0;
    }
}

impl<F: CloneFrame> FastPath<F> {
    /// The EMC stage of a bypassed pass: nothing found, no chain started.
    pub(super) fn emc_skip(&mut self, pending: u64) -> u64 {
        let first = self.pass == 0;
        if first {
            self.hit0 = 0;
        }
        let mut bits = pending;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            self.found[i] = NONE;
            if first {
                self.entry[i] = NONE;
            }
        }
        self.stats.emc_bypassed += u64::from(pending.count_ones());
        0
    }

    /// The key hash, where a bypassed pass's actions read it (a tunnel push takes its UDP
    /// source port from it), as the EMC stage would have left it.
    pub(super) fn hash_for_actions(&mut self, slots: u64) {
        let mut bits = slots;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let mf = self.found[i];
            if mf == NONE || self.mfs[mf as usize].needs_hash {
                self.batch.hashes[i] = super::simd::key_hash(self.simd, &self.batch.keys[i]);
            }
        }
    }
}
