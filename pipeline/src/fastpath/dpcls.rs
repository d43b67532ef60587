//! The megaflow classifier (dpcls): the second lookup stage. A tuple-space search over one
//! hash table per distinct megaflow mask, subtables tried in order of hits (re-ranked every
//! 1,024 lookups and at housekeeping).

use super::{crc, FastPath};
use crate::dpaction::CloneFrame;
use crate::flow::{Flow, KEY_WORDS};
use hashbrown::HashTable;
use smallvec::SmallVec;

/// The key words a mask covers: (word index, mask word).
pub(super) type Words = SmallVec<[(u8, u64); 10]>;

pub(super) fn mask_words(mask: &Flow) -> Words {
    (0..KEY_WORDS)
        .filter(|&i| mask.w[i] != 0)
        .map(|i| (i as u8, mask.w[i]))
        .collect()
}

#[inline]
pub(super) fn masked_hash(k: &Flow, words: &[(u8, u64)]) -> u32 {
    let mut h = 0x5bd1_e995u32;
    for &(i, m) in words {
        h = crc(h, k.w[i as usize] & m);
    }
    h
}

#[inline]
pub(super) fn masked_eq(k: &Flow, key: &Flow, words: &[(u8, u64)]) -> bool {
    let mut d = 0u64;
    for &(i, m) in words {
        d |= (k.w[i as usize] ^ key.w[i as usize]) & m;
    }
    d == 0
}

/// One mask's hash table: (hash, megaflow index) entries.
pub(super) struct Subtable {
    pub(super) mask: Flow,
    pub(super) words: Words,
    pub(super) table: HashTable<(u32, u32)>,
    pub(super) hits: u64,
    /// Which (recirculation id, input port) pairs its megaflows have, as bits of
    /// [`port_bit`], when its mask matches both exactly (else `u64::MAX`: always probed).
    /// A packet whose pair's bit is clear cannot match any of them and skips the subtable
    /// without hashing: on Antrea's pipeline each pass's megaflows sit in masks of their
    /// own, so an EMC miss otherwise probes the other passes' subtables first (as OVS
    /// avoids with a classifier per input port).
    pub(super) filter: u64,
    /// Megaflows per bit of `filter` (a bit clears when its last megaflow goes).
    filter_n: [u32; 64],
}

/// The bit of a key's (recirculation id, input port) word in a subtable's filter.
#[inline(always)]
pub(super) fn port_bit(k: &Flow) -> u64 {
    let w = k.w[crate::flow::w::PORT];
    1u64 << (w.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58)
}

/// Whether a mask matches the recirculation id and input port exactly (its subtable then
/// keeps a filter).
fn port_exact(mask: &Flow) -> bool {
    mask.w[crate::flow::w::PORT] == u64::MAX
}

impl Subtable {
    fn new(mask: &Flow, words: &Words) -> Subtable {
        Subtable {
            mask: *mask,
            words: words.clone(),
            table: HashTable::new(),
            hits: 0,
            filter: if port_exact(mask) { 0 } else { u64::MAX },
            filter_n: [0; 64],
        }
    }

    fn filtered(&self) -> bool {
        port_exact(&self.mask)
    }

    /// Counts megaflow key `k` (masked) into the filter.
    pub(super) fn filter_add(&mut self, k: &Flow) {
        if self.filtered() {
            let b = port_bit(k);
            self.filter_n[b.trailing_zeros() as usize] += 1;
            self.filter |= b;
        }
    }

    /// Takes megaflow key `k` out of the filter.
    pub(super) fn filter_remove(&mut self, k: &Flow) {
        if self.filtered() {
            let b = port_bit(k);
            let n = &mut self.filter_n[b.trailing_zeros() as usize];
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.filter &= !b;
            }
        }
    }
}

impl<F: CloneFrame> FastPath<F> {
    /// The classifier stage of one pass, for the slots the EMC missed; returns the slots it
    /// resolved.
    pub(super) fn dpcls_stage(&mut self, missing: u64) -> u64 {
        if missing == 0 {
            return 0;
        }
        let from_cls = self.dpcls_lookup(missing);
        self.stats.megaflow_hits += u64::from(from_cls.count_ones());
        self.lookups_since_rank += 1;
        if self.lookups_since_rank >= 1024 {
            self.lookups_since_rank = 0;
            self.rank_subtables();
        }
        from_cls
    }

    fn dpcls_lookup(&mut self, pending: u64) -> u64 {
        let mut missing = pending;
        let mut probes = 0u64;
        for oi in 0..self.order.len() {
            if missing == 0 {
                break;
            }
            let si = self.order[oi] as usize;
            let sub = &self.subtables[si];
            if sub.table.is_empty() {
                continue;
            }
            let mut bits = missing;
            let mut hits = 0u64;
            while bits != 0 {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let key = &self.batch.keys[i];
                if sub.filter & port_bit(key) == 0 {
                    continue;
                }
                probes += 1;
                let h = masked_hash(key, &sub.words);
                let mfs = &self.mfs;
                if let Some(&(_, mf)) = sub.table.find(u64::from(h), |&(eh, m)| {
                    eh == h && masked_eq(key, &mfs[m as usize].key, &sub.words)
                }) {
                    self.found[i] = mf;
                    missing &= !(1u64 << i);
                    hits += 1;
                }
            }
            self.subtables[si].hits += hits;
        }
        self.stats.subtable_lookups += probes;
        pending & !missing
    }

    pub(super) fn rank_subtables(&mut self) {
        let subs = &self.subtables;
        self.order
            .sort_by(|&a, &b| subs[b as usize].hits.cmp(&subs[a as usize].hits));
        for s in &mut self.subtables {
            s.hits /= 2;
        }
    }

    /// The subtable of `mask`, made if new.
    pub(super) fn subtable_for(&mut self, mask: &Flow, words: &Words) -> usize {
        match self.subtables.iter().position(|s| s.mask == *mask) {
            Some(si) => si,
            None => {
                self.subtables.push(Subtable::new(mask, words));
                self.order.push((self.subtables.len() - 1) as u16);
                self.subtables.len() - 1
            }
        }
    }
}
