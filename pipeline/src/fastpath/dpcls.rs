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
                self.subtables.push(Subtable {
                    mask: *mask,
                    words: words.clone(),
                    table: HashTable::new(),
                    hits: 0,
                });
                self.order.push((self.subtables.len() - 1) as u16);
                self.subtables.len() - 1
            }
        }
    }
}
