//! The megaflow store: cached translations (key, mask, datapath actions, the rules and
//! group buckets they credit), installed by upcalls, revalidated lazily, expired and folded
//! into OpenFlow counters by housekeeping.

use super::dpcls::{mask_words, masked_eq, masked_hash, Words};
use super::{FastPath, MegaflowInfo};
use crate::dpaction::{CloneFrame, DpAction};
use crate::flow::Flow;
use crate::ofctl::PortMap;
use crate::tables::{credit_hits, Group, Rule};
use crate::xlate::Translation;
use std::sync::Arc;

/// One cached translation.
pub(super) struct Megaflow {
    pub(super) key: Flow,
    pub(super) words: Words,
    pub(super) subtable: u16,
    pub(super) actions: Box<[DpAction]>,
    pub(super) rules: Box<[Arc<Rule>]>,
    pub(super) groups: Box<[(Arc<Group>, u16)]>,
    pub(super) versions: Versions,
    pub(super) packets: u64,
    pub(super) bytes: u64,
    pub(super) credited_packets: u64,
    pub(super) credited_bytes: u64,
    pub(super) used_ms: u64,
    pub(super) created_ms: u64,
    pub(super) seq: u32,
    pub(super) live: bool,
    /// The actions use the lookup's hash (a tunnel push's UDP source port): a lookup that
    /// skips hashing (a chain hit) computes it.
    pub(super) needs_hash: bool,
}

/// The state a megaflow's translation depended on: the bridge (tables, ports) always, the
/// MAC-learning table when NORMAL was involved, the underlay when a tunnel output was
/// resolved, and the tables its walk looked up for changes confined to some tables
/// (learned flows, timeouts). A hit on a megaflow whose versions moved re-translates first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Versions {
    generation: u64,
    mac_generation: Option<u64>,
    underlay_generation: Option<u64>,
    table_generation: u64,
    /// Read only when the table generation moved: kept out of the megaflow's own lines.
    tables: Box<[u64; 4]>,
}

impl Versions {
    pub(super) fn of(tr: &Translation) -> Versions {
        Versions {
            generation: tr.generation,
            mac_generation: tr.uses_mac_learning.then_some(tr.mac_generation),
            underlay_generation: tr.uses_underlay.then_some(tr.underlay_generation),
            table_generation: tr.table_generation,
            tables: Box::new(tr.tables),
        }
    }

    /// The bridge's current generations, to compare with.
    pub(super) fn now(bridge: &crate::bridge::Bridge) -> [u64; 4] {
        [
            bridge.generation(),
            bridge.mac_generation(),
            bridge.underlay_generation(),
            bridge.table_generation(),
        ]
    }

    /// True when the translation may have changed. A change confined to tables this
    /// megaflow's walk did not look up only moves its table generation forward (a learned
    /// flow in table 41 leaves the megaflows that never looked at table 41 valid).
    #[inline]
    pub(super) fn stale(&mut self, now: &[u64; 4], bridge: &crate::bridge::Bridge) -> bool {
        if self.generation != now[0]
            || self.mac_generation.is_some_and(|g| g != now[1])
            || self.underlay_generation.is_some_and(|g| g != now[2])
        {
            return true;
        }
        if self.table_generation != now[3] {
            if bridge.tables_changed_since(&self.tables, self.table_generation) {
                return true;
            }
            self.table_generation = now[3];
        }
        false
    }
}

impl Megaflow {
    /// Credits the rules and group buckets with what they have not been credited yet (the
    /// one place megaflow counters reach OpenFlow counters).
    pub(super) fn fold_counters(&mut self) {
        let dp = self.packets - self.credited_packets;
        if dp > 0 {
            let db = self.bytes - self.credited_bytes;
            credit_hits(&self.rules, &self.groups, dp, db, self.used_ms);
            self.credited_packets = self.packets;
            self.credited_bytes = self.bytes;
        }
    }
}

impl<F: CloneFrame> FastPath<F> {
    pub(super) fn remove_megaflow(&mut self, idx: u32) {
        let mf = &mut self.mfs[idx as usize];
        if !mf.live {
            return;
        }
        mf.fold_counters();
        mf.live = false;
        mf.seq = mf.seq.wrapping_add(1);
        mf.rules = Box::new([]);
        mf.groups = Box::new([]);
        mf.actions = Box::new([]);
        let si = mf.subtable as usize;
        let h = masked_hash(&mf.key, &mf.words);
        if let Ok(e) = self.subtables[si]
            .table
            .find_entry(u64::from(h), |&(_, m)| m == idx)
        {
            e.remove();
            self.subtables[si].filter_remove(&mf.key);
        }
        self.free.push(idx);
        self.n_live -= 1;
        self.stats.megaflows_removed += 1;
    }

    /// Installs a translation for slot `i`'s key; returns the megaflow index, or `None` if
    /// the cache is full (the caller then executes the actions uncached).
    pub(super) fn install(&mut self, i: usize, tr: Translation, now_ms: u64) -> Option<u32> {
        let mask = &tr.mask;
        let versions = Versions::of(&tr);
        let actions = tr.actions;
        let rules = tr.rules;
        let groups = tr.groups;
        let words = mask_words(mask);
        let key = self.batch.keys[i].masked(mask);
        let si = self.subtable_for(mask, &words);
        let h = masked_hash(&key, &words);
        // Same masked key already cached (e.g. two misses of one megaflow in a burst)?
        let existing = {
            let mfs = &self.mfs;
            self.subtables[si]
                .table
                .find(u64::from(h), |&(eh, m)| {
                    eh == h && masked_eq(&key, &mfs[m as usize].key, &words)
                })
                .map(|&(_, m)| m)
        };
        if let Some(m) = existing {
            let mf = &mut self.mfs[m as usize];
            if *mf.actions == *actions {
                mf.versions = versions;
                mf.rules = rules.into_boxed_slice();
                mf.groups = groups.into_boxed_slice();
                return Some(m);
            }
            self.remove_megaflow(m);
        }
        if self.n_live >= self.cfg.max_megaflows {
            return None;
        }
        let needs_hash = actions
            .iter()
            .any(|a| matches!(a, DpAction::TnlPush(_) | DpAction::TnlPending(_)));
        let mf = Megaflow {
            needs_hash,
            key,
            words,
            subtable: si as u16,
            actions: actions.into_boxed_slice(),
            rules: rules.into_boxed_slice(),
            groups: groups.into_boxed_slice(),
            versions,
            packets: 0,
            bytes: 0,
            credited_packets: 0,
            credited_bytes: 0,
            used_ms: now_ms,
            created_ms: now_ms,
            seq: 0,
            live: true,
        };
        let idx = match self.free.pop() {
            Some(idx) => {
                let seq = self.mfs[idx as usize].seq;
                self.mfs[idx as usize] = Megaflow { seq, ..mf };
                idx
            }
            None => {
                self.mfs.push(mf);
                (self.mfs.len() - 1) as u32
            }
        };
        self.subtables[si]
            .table
            .insert_unique(u64::from(h), (h, idx), |&(eh, _)| u64::from(eh));
        self.subtables[si].filter_add(&self.mfs[idx as usize].key);
        self.n_live += 1;
        self.stats.megaflows_installed += 1;
        Some(idx)
    }

    /// Housekeeping, every ~100 ms: folds megaflow counters into rule counters and removes
    /// megaflows idle for longer than the configured timeout.
    pub fn maintain(&mut self, now_ms: u64) {
        let idle = self.cfg.megaflow_idle_ms;
        let mut victims = Vec::new();
        for (i, mf) in self.mfs.iter_mut().enumerate() {
            if !mf.live {
                continue;
            }
            if now_ms.saturating_sub(mf.used_ms) > idle {
                victims.push(i as u32);
                continue;
            }
            mf.fold_counters();
        }
        for v in victims {
            self.remove_megaflow(v);
        }
        self.rank_subtables();
    }

    /// Removes every megaflow (folding their counters first) and clears the EMC.
    pub fn flush(&mut self) {
        for i in 0..self.mfs.len() {
            self.remove_megaflow(i as u32);
        }
        self.emc_clear();
    }

    /// The cached megaflows, for `dump-megaflows`.
    pub fn megaflows(&self, ports: &PortMap, now_ms: u64) -> Vec<MegaflowInfo> {
        self.mfs
            .iter()
            .filter(|m| m.live)
            .map(|m| MegaflowInfo {
                matches: crate::slowpath::format_megaflow(
                    &m.key,
                    &self.subtables[m.subtable as usize].mask,
                    ports,
                ),
                actions: crate::dpaction::format_dp_actions(&m.actions),
                odp_match: crate::odp::format_odp_key(
                    &m.key,
                    &self.subtables[m.subtable as usize].mask,
                ),
                odp_actions: crate::odp::format_odp_actions(&m.actions),
                packets: m.packets,
                bytes: m.bytes,
                idle_ms: now_ms.saturating_sub(m.used_ms),
                age_ms: now_ms.saturating_sub(m.created_ms),
            })
            .collect()
    }
}
