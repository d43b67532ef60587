//! Chains: what the packets of one first-pass key met on their later passes, kept beside
//! the key's EMC entry, so that an established connection's packet costs one hash and one
//! cache lookup however many times it recirculates.
//!
//! Antrea's pipeline sends every packet through `ct` and back (two passes, sometimes
//! three). Without a chain each pass pays its own key hash and EMC probe, and each `ct`
//! hashes the tuple and takes its shard's lock to find the connection. A chain remembers,
//! per EMC entry, the megaflow each later pass resolved to and the connection each pass's
//! `ct` met. They are **hints, verified like the EMC's own entries, never answers**:
//! - a later pass's megaflow is used only if it is still live (same sequence number) and
//!   the packet's key, as the earlier passes left it, matches the megaflow's key on its
//!   mask — exactly the check an EMC hit makes — and stale versions are revalidated by
//!   the upcall stage as for any hit;
//! - a connection is used only if its tuple in one direction is exactly the packet's and
//!   it is live; a live connection is the one the index holds for that tuple, so the
//!   verdict is the lookup's ([`crate::ct::Conntrack::execute_hinted`]).
//!
//! A hint that fails verification costs what the chain saves and the packet takes the
//! ordinary lookups; what those find becomes the next hint. See `docs/fastpath.md`.

use super::dpcls::masked_eq;
use super::{slots, FastPath, NONE, SLOTS};
use crate::ct::ConnRef;
use crate::dpaction::{CloneFrame, LEARN_ONLY, NO_HINT};

/// Recirculations a chain follows (passes after the first).
pub(super) const MAX_HOPS: usize = 3;
/// Connection hints per entry: one per pass.
pub(super) const CONNS_PER_ENTRY: usize = MAX_HOPS + 1;

/// The megaflow a later pass resolved to, and its sequence number then.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Hop {
    mf: u32,
    seq: u32,
}

impl Hop {
    const NONE: Hop = Hop { mf: NONE, seq: 0 };
}

/// The chains of every EMC entry.
pub(super) struct Chains {
    /// Per EMC entry: the megaflow of pass 1, 2, 3.
    hops: Box<[[Hop; MAX_HOPS]]>,
    /// Per EMC entry and pass: the connection that pass's `ct` met.
    pub(super) conns: Box<[Option<ConnRef>]>,
    /// Per EMC entry: which of its connections belong to its current key (bit per pass).
    /// A reset clears the bits without touching the connections — dropping a reference
    /// writes to the connection's (cold) cache line; it is dropped when overwritten.
    valid: Box<[u8]>,
}

impl Chains {
    pub(super) fn new(entries: usize) -> Chains {
        Chains {
            hops: vec![[Hop::NONE; MAX_HOPS]; entries].into_boxed_slice(),
            conns: (0..entries * CONNS_PER_ENTRY).map(|_| None).collect(),
            valid: vec![0; entries].into_boxed_slice(),
        }
    }

    /// Forgets entry `e`'s chain (the entry now caches another key).
    #[inline]
    pub(super) fn reset(&mut self, e: usize) {
        self.hops[e] = [Hop::NONE; MAX_HOPS];
        self.valid[e] = 0;
    }

    /// Forgets every chain, releasing the connections.
    pub(super) fn clear(&mut self) {
        self.hops.fill([Hop::NONE; MAX_HOPS]);
        self.valid.fill(0);
        self.conns.fill(None);
    }
}

/// The slots of `bits` that have a chain, with its entry.
#[inline(always)]
fn chained(bits: u64, entry: &[u32; SLOTS]) -> impl Iterator<Item = (usize, usize)> + '_ {
    slots(bits)
        .filter(|&i| entry[i] != NONE)
        .map(|i| (i, entry[i] as usize))
}

impl<F: CloneFrame> FastPath<F> {
    /// The chain stage of pass `pass` ≥ 1: the slots whose chain names a megaflow for this
    /// pass that their key still matches; returns them (their megaflow in `found`).
    #[inline]
    pub(super) fn chain_stage(&mut self, pending: u64, pass: u32) -> u64 {
        let hop = pass as usize - 1;
        if hop >= MAX_HOPS {
            return 0;
        }
        let mut resolved = 0u64;
        for (i, e) in chained(pending, &self.entry) {
            let h = self.chains.hops[e][hop];
            if h.mf == NONE {
                continue;
            }
            let mf = &self.mfs[h.mf as usize];
            if mf.live && mf.seq == h.seq && masked_eq(&self.batch.keys[i], &mf.key, &mf.words) {
                if mf.needs_hash {
                    self.batch.hashes[i] = super::simd::key_hash(self.simd, &self.batch.keys[i]);
                }
                self.found[i] = h.mf;
                resolved |= 1u64 << i;
            }
        }
        let n = u64::from(resolved.count_ones());
        self.stats.chain_hits += n;
        resolved
    }

    /// After the lookups of pass `pass` ≥ 1: each slot's chain learns the megaflow this
    /// pass resolved to (none when it could not be cached).
    pub(super) fn chain_learn_hops(&mut self, pending: u64, pass: u32) {
        let hop = pass as usize - 1;
        if hop >= MAX_HOPS {
            return;
        }
        for (i, e) in chained(pending, &self.entry) {
            let mf = self.found[i];
            let h = if mf == NONE {
                Hop::NONE
            } else {
                Hop {
                    mf,
                    seq: self.mfs[mf as usize].seq,
                }
            };
            let slot = &mut self.chains.hops[e][hop];
            if *slot != h {
                *slot = h;
            }
        }
    }

    /// Before the execute stage of pass `pass`: where each slot's `ct` finds its
    /// connection hint. A chain without one learns it only if the first pass hit the EMC
    /// (`hit0`): a flow seen again, not one of a flood of new ones.
    pub(super) fn chain_ct_hints(&mut self, pending: u64, pass: u32) {
        let mut hinted = 0u64;
        for i in slots(pending) {
            let e = self.entry[i];
            self.batch.ct_hint[i] = if e == NONE || pass as usize >= CONNS_PER_ENTRY {
                NO_HINT
            } else if self.chains.valid[e as usize] & (1 << pass) != 0 {
                hinted |= 1u64 << i;
                e * CONNS_PER_ENTRY as u32 + pass
            } else if self.hit0 & (1u64 << i) != 0 {
                (e * CONNS_PER_ENTRY as u32 + pass) | LEARN_ONLY
            } else {
                NO_HINT
            };
        }
        self.batch.ct_hinted = hinted;
    }

    /// After the execute stage: connections met without their hint become the hint;
    /// copies forked in this pass (in `next` but not in `pending`) belong to no chain.
    pub(super) fn chain_learn_conns(&mut self, pending: u64, next: u64) {
        for i in slots(pending) {
            if let Some(c) = self.batch.ct_learned[i].take() {
                let at = (self.batch.ct_hint[i] & !LEARN_ONLY) as usize;
                if let Some(slot) = self.chains.conns.get_mut(at) {
                    *slot = Some(c);
                    self.chains.valid[at / CONNS_PER_ENTRY] |= 1 << (at % CONNS_PER_ENTRY);
                    self.stats.ct_hints_learned += 1;
                }
            }
        }
        for j in slots(next & !pending) {
            self.entry[j] = NONE;
        }
    }
}
