//! The upcall stage: slots both caches missed, and hits on megaflows translated against an
//! older bridge generation, are translated by the slow path and their megaflows installed
//! (or refreshed). Bounded per burst: packets beyond `max_upcalls_per_burst` are dropped and
//! counted (`upcall_limit`), so a flood of new flows cannot stall established ones.

use super::dpcls::masked_eq;
use super::megaflow::Versions;
use super::{FastPath, NONE};
use crate::bridge::Bridge;
use crate::dpaction::{CloneFrame, DpAction, DropReason, Sink};
use crate::flow::KEY_WORDS;
use crate::xlate::translate;
use smallvec::SmallVec;

/// Slots whose translation could not be cached (the megaflow store was full): their
/// actions run once, uncached.
pub(super) type Uncached = SmallVec<[(u8, Box<[DpAction]>); 4]>;

impl<F: CloneFrame> FastPath<F> {
    /// Runs the upcall stage over `pending` (`hits`: the slots a cache resolved). Returns
    /// the slots still pending (those over the budget are dropped) and the uncached ones.
    pub(super) fn upcall_stage<S: Sink<F>>(
        &mut self,
        bridge: &Bridge,
        mut pending: u64,
        hits: u64,
        now_ms: u64,
        sink: &mut S,
    ) -> (u64, Uncached) {
        let now = Versions::now(bridge);
        let mut upcalls = 0usize;
        let mut uncached = Uncached::new();
        // Megaflows installed during this burst: later misses try them before paying for
        // their own upcall (a burst of one new flow costs one translation).
        let mut fresh: SmallVec<[u32; 8]> = SmallVec::new();
        let mut bits = pending;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let cur = self.found[i];
            let stale = cur != NONE && self.mfs[cur as usize].versions.stale(&now, bridge);
            if cur != NONE && !stale {
                continue;
            }
            if cur == NONE {
                let key = &self.batch.keys[i];
                if let Some(&mf) = fresh.iter().find(|&&m| {
                    let mf = &self.mfs[m as usize];
                    mf.live && masked_eq(key, &mf.key, &mf.words)
                }) {
                    self.found[i] = mf;
                    self.stats.megaflow_hits += 1;
                    self.emc_insert(i, mf);
                    continue;
                }
            }
            if upcalls >= self.cfg.max_upcalls_per_burst {
                self.stats.upcall_drops += 1;
                if let Some(f) = self.batch.frames[i].take() {
                    sink.drop_packet(DropReason::UpcallLimit, f);
                }
                pending &= !(1u64 << i);
                self.found[i] = NONE;
                continue;
            }
            upcalls += 1;
            if stale {
                self.stats.revalidations += 1;
            } else {
                self.stats.upcalls += 1;
            }
            let tr = translate(bridge, &self.batch.keys[i], now_ms, None);
            if stale {
                let same = {
                    let mf = &self.mfs[cur as usize];
                    tr.mask.w[..KEY_WORDS]
                        == self.subtables[mf.subtable as usize].mask.w[..KEY_WORDS]
                        && *mf.actions == *tr.actions
                };
                if same {
                    let mf = &mut self.mfs[cur as usize];
                    mf.versions = Versions::of(&tr);
                    mf.rules = tr.rules.into_boxed_slice();
                    mf.groups = tr.groups.into_boxed_slice();
                    continue;
                }
                self.remove_megaflow(cur);
                // Other slots of this burst that hit it are no longer its: this one's
                // install may reuse the index for a megaflow they do not match (found by
                // the datapath differential fuzzer: they took its actions).
                let mut rest = bits;
                while rest != 0 {
                    let j = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    if self.found[j] == cur {
                        self.found[j] = NONE;
                    }
                }
            }
            let acts = tr.actions.clone();
            match self.install(i, tr, now_ms) {
                Some(mf) => {
                    self.found[i] = mf;
                    if hits & (1u64 << i) == 0 {
                        self.emc_insert(i, mf);
                    }
                    if fresh.len() < fresh.inline_size() {
                        fresh.push(mf);
                    }
                }
                None => {
                    self.found[i] = NONE;
                    uncached.push((i as u8, acts.into_boxed_slice()));
                }
            }
        }
        (pending, uncached)
    }
}
