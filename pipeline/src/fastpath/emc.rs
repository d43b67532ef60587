//! The exact-match cache (EMC): the first lookup stage. 4-way buckets of 16-byte entries
//! keyed by a CRC32C of the whole key; an entry names the megaflow it resolved to, and a hit
//! is verified against that megaflow's key on its mask, so the EMC never gives a wrong
//! answer. Misses go into free slots, or replace the least-hit entry with probability
//! 1/`emc_insert_inv_prob`, so a flood of short flows cannot evict the long ones. Each
//! entry carries the chain of its key's later passes (`chain.rs`).

use super::dpcls::masked_eq;
use super::simd::{self, SimdPath};
use super::{prefetch, FastPath, NONE};
use crate::dpaction::CloneFrame;
use crate::flow::Flow;

#[derive(Clone, Copy, Default)]
#[repr(C, align(16))]
pub(super) struct EmcEntry {
    pub(super) sig: u32,
    pub(super) mf: u32,
    pub(super) seq: u32,
    pub(super) hits: u32,
}

/// One bucket: four ways on one cache line (a bucket that straddled two lines cost two
/// misses, and the prefetch fetched only the first).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct EmcBucket(pub(super) [EmcEntry; 4]);

impl EmcBucket {
    pub(super) const EMPTY: EmcBucket = EmcBucket(
        [EmcEntry {
            sig: 0,
            mf: NONE,
            seq: 0,
            hits: 0,
        }; 4],
    );
}

/// Hash of a whole datapath key, for the EMC, with the widest vector unit this CPU has
/// (every path gives the same value: `simd.rs`).
#[inline]
pub fn key_hash(k: &Flow) -> u32 {
    simd::key_hash(SimdPath::detect(), k)
}

impl<F: CloneFrame> FastPath<F> {
    /// The EMC stage of one pass: hashes every pending key and prefetches its bucket, then
    /// looks each up (so the bucket misses of a burst overlap instead of queueing); returns
    /// the slots it resolved (their megaflow in `found`, every other slot `NONE`). On the
    /// first pass the entry hit is the slot's chain (`entry`).
    #[inline]
    pub(super) fn emc_stage(&mut self, pending: u64) -> u64 {
        let mut bits = pending;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let h = simd::key_hash(self.simd, &self.batch.keys[i]);
            self.batch.hashes[i] = h;
            prefetch(&self.emc[h as usize & self.emc_mask]);
        }
        let first = self.pass == 0;
        if first {
            self.hit0 = 0;
        }
        let mut bits = pending;
        let mut resolved = 0u64;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let (mf, e) = self.emc_lookup(i);
            self.found[i] = mf;
            if first {
                self.entry[i] = e;
                if e != NONE {
                    self.hit0 |= 1u64 << i;
                }
            }
            if mf != NONE {
                resolved |= 1u64 << i;
            }
        }
        self.stats.emc_hits += u64::from(resolved.count_ones());
        resolved
    }

    /// Puts the slots the megaflow classifier resolved into the EMC.
    pub(super) fn emc_fill(&mut self, from_cls: u64) {
        let mut bits = from_cls;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if self.found[i] != NONE {
                self.emc_insert(i, self.found[i]);
            }
        }
    }

    fn next_rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// The megaflow and the entry of slot `i`'s key (`NONE`, `NONE` on a miss).
    #[inline]
    fn emc_lookup(&mut self, i: usize) -> (u32, u32) {
        if self.cfg.emc_insert_inv_prob == 0 {
            return (NONE, NONE);
        }
        let h = self.batch.hashes[i];
        let b = h as usize & self.emc_mask;
        for e in 0..4 {
            let ent = self.emc[b].0[e];
            if ent.sig != h || ent.mf == NONE {
                continue;
            }
            if let Some(mf) = self.mfs.get(ent.mf as usize) {
                if mf.live
                    && mf.seq == ent.seq
                    && masked_eq(&self.batch.keys[i], &mf.key, &mf.words)
                {
                    self.emc[b].0[e].hits = ent.hits.wrapping_add(1);
                    return (ent.mf, (b * 4 + e) as u32);
                }
            }
        }
        (NONE, NONE)
    }

    pub(super) fn emc_insert(&mut self, i: usize, mf: u32) {
        if self.cfg.emc_insert_inv_prob == 0 || !self.emc_live {
            return;
        }
        let h = self.batch.hashes[i];
        let bi = h as usize & self.emc_mask;
        let b = bi * 4;
        let seq = self.mfs[mf as usize].seq;
        // A free or dead slot is always used.
        for e in 0..4 {
            let ent = self.emc[bi].0[e];
            let dead = ent.mf == NONE
                || self
                    .mfs
                    .get(ent.mf as usize)
                    .is_none_or(|m| !m.live || m.seq != ent.seq);
            if dead {
                self.emc_put(
                    i,
                    b + e,
                    EmcEntry {
                        sig: h,
                        mf,
                        seq,
                        hits: 0,
                    },
                );
                return;
            }
        }
        // Probability 1/inv_prob as a compare with a threshold (as OVS does), not a
        // remainder: a 64-bit division was the hottest instruction of this function at
        // 50,000 connections, where nearly every packet comes here.
        if (self.next_rand() >> 32) as u32 <= self.emc_insert_min {
            // Replace the least-hit entry of the bucket.
            let victim = (0..4).min_by_key(|&e| self.emc[bi].0[e].hits).unwrap_or(0);
            self.emc_put(
                i,
                b + victim,
                EmcEntry {
                    sig: h,
                    mf,
                    seq,
                    hits: 0,
                },
            );
        }
    }

    /// Stores slot `i`'s entry at `at`: the entry's chain starts afresh, and on the first
    /// pass it becomes the slot's chain.
    fn emc_put(&mut self, i: usize, at: usize, ent: EmcEntry) {
        self.emc[at / 4].0[at % 4] = ent;
        if self.cfg.chains {
            self.chains.reset(at);
        }
        if self.pass == 0 {
            self.entry[i] = at as u32;
        }
    }

    /// Empties the EMC and its chains.
    pub(super) fn emc_clear(&mut self) {
        self.emc.fill(EmcBucket::EMPTY);
        self.chains.clear();
    }
}
