//! The fast path: per-core caches in front of the slow path, a burst at a time.
//!
//! ```text
//!  burst ─► extract keys ─► hash ─► EMC ─miss─► megaflow classifier ─miss─► upcall
//!                                    │hit            │hit                    (translate,
//!                                    ▼               ▼                        install)
//!                         group packets by megaflow, run each action list once per group
//!                                    │
//!                       ct(recirc) ──┴─► next pass on the same slots (key updated in place)
//! ```
//!
//! - **Megaflows** are translations (mask + datapath actions) stored in a per-core
//!   tuple-space classifier: one hash table per distinct mask, subtables ranked by hits.
//! - **EMC** (exact-match cache): 4-way buckets of 16-byte entries keyed by a hardware
//!   CRC32C of the whole key. An entry holds the megaflow it resolved to; a hit is checked by
//!   comparing the packet's key with the megaflow's key on the megaflow's mask (the
//!   megaflow's match is the ground truth, so the EMC can never give a wrong answer).
//!   Misses are inserted only into free slots or with probability 1/`emc_insert_inv_prob`,
//!   so a flood of short flows cannot evict the long ones.
//! - **Recirculation** after `ct` reuses the packet's slot and key: the key is updated in
//!   place by the datapath actions (no re-parse) and only the hash is recomputed.
//! - **Revalidation** is lazy and never serves a stale answer: each megaflow records the
//!   bridge generation it was translated against; a hit on a megaflow from an older
//!   generation re-translates that packet first, then keeps, replaces or removes the
//!   megaflow. Idle megaflows expire in [`FastPath::maintain`], which also folds megaflow
//!   counters into the OpenFlow rules' counters.
//! - **Upcalls** are bounded per burst; packets beyond the budget are dropped and counted,
//!   so a flood of new flows cannot stall forwarding of established ones.

use crate::bridge::Bridge;
use crate::dpaction::{
    exec_group, Batch, CloneFrame, DpAction, DropReason, ExecEnv, Sink, TunnelMeta,
};
use crate::flow::{Flow, KEY_WORDS};
use crate::ofctl::PortMap;
use crate::packet::Frame;
use crate::tables::{Group, Rule};
use crate::xlate::{translate, Translation};
use hashbrown::HashTable;
use smallvec::SmallVec;
use std::sync::Arc;

/// Packets per burst.
pub const MAX_BURST: usize = 32;
/// Packet slots (a burst plus room for forked recirculations).
pub const SLOTS: usize = 64;

/// Tuning of one core's fast path.
#[derive(Clone, Copy, Debug)]
pub struct FastPathConfig {
    /// EMC entries (rounded to a power of two, 4 per bucket).
    pub emc_entries: usize,
    /// Insert an EMC miss into an occupied bucket with probability 1/this (OVS's
    /// `emc-insert-inv-prob`); free slots are always used. 0 disables the EMC.
    pub emc_insert_inv_prob: u32,
    /// Megaflows per core; beyond this, packets are handled but not cached.
    pub max_megaflows: usize,
    /// Translations per burst; packets beyond this are dropped (`upcall_limit`).
    pub max_upcalls_per_burst: usize,
    /// Megaflows unused for this long are removed.
    pub megaflow_idle_ms: u64,
}

impl Default for FastPathConfig {
    fn default() -> Self {
        FastPathConfig {
            emc_entries: 8192,
            emc_insert_inv_prob: 20,
            max_megaflows: 200_000,
            max_upcalls_per_burst: 16,
            megaflow_idle_ms: 10_000,
        }
    }
}

/// Counters of one core's fast path (the `pmd-stats` of a worker).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FastPathStats {
    /// Packets received.
    pub packets: u64,
    /// Lookups, including those after recirculation.
    pub passes: u64,
    /// EMC hits.
    pub emc_hits: u64,
    /// Megaflow classifier hits.
    pub megaflow_hits: u64,
    /// Slow-path translations (misses).
    pub upcalls: u64,
    /// Packets dropped because the burst's upcall budget was spent.
    pub upcall_drops: u64,
    /// Hits on stale megaflows that were re-translated.
    pub revalidations: u64,
    /// Megaflows installed.
    pub megaflows_installed: u64,
    /// Megaflows removed (idle, stale, or replaced).
    pub megaflows_removed: u64,
    /// Recirculations.
    pub recirculations: u64,
    /// Packets whose headers could not all be parsed (still processed, as OVS does).
    pub parse_errors: u64,
    /// Drops by [`DropReason`] (indexed by [`DropReason::index`]).
    pub drops: [u64; DropReason::COUNT],
    /// TSC cycles spent in key extraction.
    pub cycles_parse: u64,
    /// TSC cycles in EMC and megaflow lookups.
    pub cycles_lookup: u64,
    /// TSC cycles in upcalls (translation and install).
    pub cycles_upcall: u64,
    /// TSC cycles executing actions (including conntrack).
    pub cycles_actions: u64,
}

impl FastPathStats {
    /// Adds another core's counters.
    pub fn add(&mut self, o: &FastPathStats) {
        self.packets += o.packets;
        self.passes += o.passes;
        self.emc_hits += o.emc_hits;
        self.megaflow_hits += o.megaflow_hits;
        self.upcalls += o.upcalls;
        self.upcall_drops += o.upcall_drops;
        self.revalidations += o.revalidations;
        self.megaflows_installed += o.megaflows_installed;
        self.megaflows_removed += o.megaflows_removed;
        self.recirculations += o.recirculations;
        self.parse_errors += o.parse_errors;
        for i in 0..self.drops.len() {
            self.drops[i] += o.drops[i];
        }
        self.cycles_parse += o.cycles_parse;
        self.cycles_lookup += o.cycles_lookup;
        self.cycles_upcall += o.cycles_upcall;
        self.cycles_actions += o.cycles_actions;
    }
}

#[inline]
fn tsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no preconditions on x86_64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

/// CRC32C of one word on top of `h` (the SSE4.2 instruction where available).
#[inline(always)]
fn crc(h: u32, x: u64) -> u32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse4.2"))]
    {
        // SAFETY: the sse4.2 target feature is enabled at compile time.
        unsafe { core::arch::x86_64::_mm_crc32_u64(u64::from(h), x) as u32 }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse4.2")))]
    {
        crate::classifier::hash_finish(crate::classifier::hash_word(u64::from(h), x)) as u32
    }
}

/// Hash of a whole datapath key, for the EMC. Pairs of words are folded (xor with a
/// rotation) before the CRC, halving the CRC instructions, and four chains overlap their
/// latency. Folding only costs collisions, never correctness: an EMC hit is verified
/// against its megaflow before it is used.
#[inline]
pub fn key_hash(k: &Flow) -> u32 {
    let mut h = [0x1234_5678u32, 0x9abc_def0, 0x0f1e_2d3c, 0x5bd1_e995];
    let fold = |i: usize| k.w[i] ^ k.w[i + 1].rotate_left(23);
    let mut i = 0;
    while i + 8 <= KEY_WORDS {
        h[0] = crc(h[0], fold(i));
        h[1] = crc(h[1], fold(i + 2));
        h[2] = crc(h[2], fold(i + 4));
        h[3] = crc(h[3], fold(i + 6));
        i += 8;
    }
    let mut c = 0;
    while i + 2 <= KEY_WORDS {
        h[c] = crc(h[c], fold(i));
        c += 1;
        i += 2;
    }
    if i < KEY_WORDS {
        h[3] = crc(h[3], k.w[i]);
    }
    crc(
        h[0] ^ h[1].rotate_left(11),
        u64::from(h[2]) << 32 | u64::from(h[3]),
    )
}

type Words = SmallVec<[(u8, u64); 10]>;

fn mask_words(mask: &Flow) -> Words {
    (0..KEY_WORDS)
        .filter(|&i| mask.w[i] != 0)
        .map(|i| (i as u8, mask.w[i]))
        .collect()
}

#[inline]
fn masked_hash(k: &Flow, words: &[(u8, u64)]) -> u32 {
    let mut h = 0x5bd1_e995u32;
    for &(i, m) in words {
        h = crc(h, k.w[i as usize] & m);
    }
    h
}

#[inline]
fn masked_eq(k: &Flow, key: &Flow, words: &[(u8, u64)]) -> bool {
    let mut d = 0u64;
    for &(i, m) in words {
        d |= (k.w[i as usize] ^ key.w[i as usize]) & m;
    }
    d == 0
}

/// One cached translation.
struct Megaflow {
    key: Flow,
    words: Words,
    subtable: u16,
    actions: Box<[DpAction]>,
    rules: Box<[Arc<Rule>]>,
    groups: Box<[(Arc<Group>, u16)]>,
    generation: u64,
    mac_generation: u64,
    uses_macs: bool,
    packets: u64,
    bytes: u64,
    credited_packets: u64,
    credited_bytes: u64,
    used_ms: u64,
    created_ms: u64,
    seq: u32,
    live: bool,
}

struct Subtable {
    mask: Flow,
    words: Words,
    table: HashTable<(u32, u32)>,
    hits: u64,
}

#[derive(Clone, Copy, Default)]
#[repr(C, align(16))]
struct EmcEntry {
    sig: u32,
    mf: u32,
    seq: u32,
    hits: u32,
}

/// A megaflow as `dump-megaflows` shows it.
#[derive(Clone, Debug)]
pub struct MegaflowInfo {
    /// The match, printed.
    pub matches: String,
    /// The datapath actions, printed.
    pub actions: String,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Milliseconds since last use.
    pub idle_ms: u64,
    /// Milliseconds since installed.
    pub age_ms: u64,
}

/// Counts drops by reason on the way to the real sink.
struct Counting<'a, S> {
    inner: &'a mut S,
    drops: &'a mut [u64; DropReason::COUNT],
}

impl<F: Frame, S: Sink<F>> Sink<F> for Counting<'_, S> {
    fn output(&mut self, port: u32, tun: Option<&TunnelMeta>, frame: F, key: &Flow) {
        self.inner.output(port, tun, frame, key);
    }
    fn drop_packet(&mut self, reason: DropReason, frame: F) {
        self.drops[reason.index()] += 1;
        self.inner.drop_packet(reason, frame);
    }
    fn note_drop(&mut self, reason: DropReason) {
        self.drops[reason.index()] += 1;
        self.inner.note_drop(reason);
    }
}

/// One worker core's fast path.
pub struct FastPath<F: Frame> {
    cfg: FastPathConfig,
    emc: Box<[EmcEntry]>,
    emc_mask: usize,
    subtables: Vec<Subtable>,
    order: Vec<u16>,
    mfs: Vec<Megaflow>,
    free: Vec<u32>,
    n_live: usize,
    batch: Batch<F, SLOTS>,
    hashes: [u32; SLOTS],
    found: [u32; SLOTS],
    rng: u64,
    lookups_since_rank: u64,
    /// Counters.
    pub stats: FastPathStats,
}

const NONE: u32 = u32::MAX;

impl<F: CloneFrame> FastPath<F> {
    /// A fast path with `cfg`.
    pub fn new(cfg: FastPathConfig) -> Self {
        let n = cfg.emc_entries.max(4).next_power_of_two();
        FastPath {
            cfg,
            emc: vec![
                EmcEntry {
                    mf: NONE,
                    ..Default::default()
                };
                n
            ]
            .into_boxed_slice(),
            emc_mask: n / 4 - 1,
            subtables: Vec::new(),
            order: Vec::new(),
            mfs: Vec::new(),
            free: Vec::new(),
            n_live: 0,
            batch: Batch::new(),
            hashes: [0; SLOTS],
            found: [NONE; SLOTS],
            rng: 0x2545_f491_4f6c_dd1d,
            lookups_since_rank: 0,
            stats: FastPathStats::default(),
        }
    }

    /// Number of megaflows cached.
    pub fn n_megaflows(&self) -> usize {
        self.n_live
    }

    /// Number of megaflow masks (subtables) in use.
    pub fn n_masks(&self) -> usize {
        self.subtables
            .iter()
            .filter(|s| !s.table.is_empty())
            .count()
    }

    fn next_rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    #[inline]
    fn emc_lookup(&mut self, i: usize) -> u32 {
        if self.cfg.emc_insert_inv_prob == 0 {
            return NONE;
        }
        let h = self.hashes[i];
        let b = (h as usize & self.emc_mask) * 4;
        for e in 0..4 {
            let ent = self.emc[b + e];
            if ent.sig == h && ent.mf != NONE {
                if let Some(mf) = self.mfs.get(ent.mf as usize) {
                    if mf.live
                        && mf.seq == ent.seq
                        && masked_eq(&self.batch.keys[i], &mf.key, &mf.words)
                    {
                        self.emc[b + e].hits = ent.hits.wrapping_add(1);
                        return ent.mf;
                    }
                }
            }
        }
        NONE
    }

    fn emc_insert(&mut self, i: usize, mf: u32) {
        if self.cfg.emc_insert_inv_prob == 0 {
            return;
        }
        let h = self.hashes[i];
        let b = (h as usize & self.emc_mask) * 4;
        let seq = self.mfs[mf as usize].seq;
        // A free or dead slot is always used.
        for e in 0..4 {
            let ent = self.emc[b + e];
            let dead = ent.mf == NONE
                || self
                    .mfs
                    .get(ent.mf as usize)
                    .is_none_or(|m| !m.live || m.seq != ent.seq);
            if dead {
                self.emc[b + e] = EmcEntry {
                    sig: h,
                    mf,
                    seq,
                    hits: 0,
                };
                return;
            }
        }
        if self
            .next_rand()
            .is_multiple_of(u64::from(self.cfg.emc_insert_inv_prob))
        {
            // Replace the least-hit entry of the bucket.
            let victim = (0..4).min_by_key(|&e| self.emc[b + e].hits).unwrap_or(0);
            self.emc[b + victim] = EmcEntry {
                sig: h,
                mf,
                seq,
                hits: 0,
            };
        }
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

    fn rank_subtables(&mut self) {
        let subs = &self.subtables;
        self.order
            .sort_by(|&a, &b| subs[b as usize].hits.cmp(&subs[a as usize].hits));
        for s in &mut self.subtables {
            s.hits /= 2;
        }
    }

    fn remove_megaflow(&mut self, idx: u32) {
        let mf = &mut self.mfs[idx as usize];
        if !mf.live {
            return;
        }
        // Fold what the rules have not been credited yet.
        let dp = mf.packets - mf.credited_packets;
        let db = mf.bytes - mf.credited_bytes;
        if dp > 0 {
            for r in mf.rules.iter() {
                r.credit(dp, db, mf.used_ms);
            }
            for (g, b) in mf.groups.iter() {
                g.credit(usize::from(*b), dp, db, mf.used_ms);
            }
        }
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
        }
        self.free.push(idx);
        self.n_live -= 1;
        self.stats.megaflows_removed += 1;
    }

    /// Installs a translation for slot `i`'s key; returns the megaflow index, or `None` if
    /// the cache is full (the caller then executes the actions uncached).
    fn install(&mut self, i: usize, tr: Translation, now_ms: u64) -> Option<u32> {
        let mask = &tr.mask;
        let (generation, mac_generation, uses_macs) =
            (tr.generation, tr.mac_generation, tr.uses_mac_learning);
        let actions = tr.actions;
        let rules = tr.rules;
        let groups = tr.groups;
        let words = mask_words(mask);
        let key = self.batch.keys[i].masked(mask);
        let si = match self.subtables.iter().position(|s| s.mask == *mask) {
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
        };
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
                mf.generation = generation;
                mf.mac_generation = mac_generation;
                mf.uses_macs = uses_macs;
                mf.rules = rules.into_boxed_slice();
                mf.groups = groups.into_boxed_slice();
                return Some(m);
            }
            self.remove_megaflow(m);
        }
        if self.n_live >= self.cfg.max_megaflows {
            return None;
        }
        let mf = Megaflow {
            key,
            words,
            subtable: si as u16,
            actions: actions.into_boxed_slice(),
            rules: rules.into_boxed_slice(),
            groups: groups.into_boxed_slice(),
            generation,
            mac_generation,
            uses_macs,
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
        self.n_live += 1;
        self.stats.megaflows_installed += 1;
        Some(idx)
    }

    /// Processes one burst: `input` yields (frame, input port, tunnel metadata) for up to
    /// [`MAX_BURST`] packets. Results go to `sink`.
    pub fn process_burst<S: Sink<F>>(
        &mut self,
        bridge: &Bridge,
        input: impl IntoIterator<Item = (F, u32, Option<TunnelMeta>)>,
        now_ms: u64,
        sink: &mut S,
    ) {
        let t0 = tsc();
        let mut pending = 0u64;
        for (i, (f, port, tun)) in input.into_iter().take(MAX_BURST).enumerate() {
            self.batch.load(i, f, port, tun.as_ref());
            if self.batch.layouts[i].err != 0 {
                self.stats.parse_errors += 1;
            }
            pending |= 1u64 << i;
        }
        self.stats.packets += u64::from(pending.count_ones());
        let t1 = tsc();
        self.stats.cycles_parse += t1 - t0;
        let generation = bridge.generation();
        let mac_generation = bridge.mac_generation();
        let env = ExecEnv {
            conntrack: &bridge.conntrack,
            now_ms,
        };
        let mut drops = self.stats.drops;
        let mut sink = Counting {
            inner: sink,
            drops: &mut drops,
        };
        let mut pass = 0u32;
        while pending != 0 {
            if pass > bridge.limits.max_recirc {
                let mut bits = pending;
                while bits != 0 {
                    let i = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if let Some(f) = self.batch.frames[i].take() {
                        sink.drop_packet(DropReason::RecircLimit, f);
                    }
                }
                break;
            }
            if pass > 0 {
                self.stats.recirculations += u64::from(pending.count_ones());
            }
            let tl = tsc();
            self.stats.passes += u64::from(pending.count_ones());
            // Hash and EMC.
            let mut bits = pending;
            let mut resolved = 0u64;
            while bits != 0 {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                self.hashes[i] = key_hash(&self.batch.keys[i]);
                let mf = self.emc_lookup(i);
                self.found[i] = mf;
                if mf != NONE {
                    resolved |= 1u64 << i;
                }
            }
            self.stats.emc_hits += u64::from(resolved.count_ones());
            // Megaflow classifier for the rest.
            let missing = pending & !resolved;
            let mut from_cls = 0u64;
            if missing != 0 {
                from_cls = self.dpcls_lookup(missing);
                self.stats.megaflow_hits += u64::from(from_cls.count_ones());
                self.lookups_since_rank += 1;
                if self.lookups_since_rank >= 1024 {
                    self.lookups_since_rank = 0;
                    self.rank_subtables();
                }
            }
            let tu = tsc();
            self.stats.cycles_lookup += tu - tl;
            // Upcalls for misses and revalidation of stale hits.
            let mut upcalls = 0usize;
            let mut uncached: SmallVec<[(u8, Box<[DpAction]>); 4]> = SmallVec::new();
            // Megaflows installed during this burst: later misses try them before paying
            // for their own upcall (a burst of one new flow costs one translation).
            let mut fresh: SmallVec<[u32; 8]> = SmallVec::new();
            let mut bits = pending;
            while bits != 0 {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let cur = self.found[i];
                let stale = cur != NONE && {
                    let mf = &self.mfs[cur as usize];
                    mf.generation != generation
                        || (mf.uses_macs && mf.mac_generation != mac_generation)
                };
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
                        mf.generation = tr.generation;
                        mf.mac_generation = tr.mac_generation;
                        mf.uses_macs = tr.uses_mac_learning;
                        mf.rules = tr.rules.into_boxed_slice();
                        mf.groups = tr.groups.into_boxed_slice();
                        continue;
                    }
                    self.remove_megaflow(cur);
                }
                let acts = tr.actions.clone();
                match self.install(i, tr, now_ms) {
                    Some(mf) => {
                        self.found[i] = mf;
                        if (resolved | from_cls) & (1u64 << i) == 0 {
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
            // Megaflow-classifier hits go into the EMC.
            let mut bits = from_cls;
            while bits != 0 {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if self.found[i] != NONE {
                    self.emc_insert(i, self.found[i]);
                }
            }
            let ta = tsc();
            self.stats.cycles_upcall += ta - tu;
            // Group by megaflow and execute.
            let mut order: SmallVec<[u8; SLOTS]> = SmallVec::new();
            let mut bits = pending;
            while bits != 0 {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if self.found[i] != NONE {
                    order.push(i as u8);
                }
            }
            order.sort_unstable_by_key(|&i| self.found[i as usize]);
            let mut next = 0u64;
            let mut g = 0;
            while g < order.len() {
                let mf_idx = self.found[order[g] as usize];
                let mut e = g + 1;
                while e < order.len() && self.found[order[e] as usize] == mf_idx {
                    e += 1;
                }
                let members = &order[g..e];
                let mut bytes = 0u64;
                for &i in members {
                    bytes += self.batch.frames[i as usize]
                        .as_ref()
                        .map_or(0, |f| f.len() as u64);
                }
                let mf = &mut self.mfs[mf_idx as usize];
                mf.packets += members.len() as u64;
                mf.bytes += bytes;
                mf.used_ms = now_ms;
                next |= exec_group(&mf.actions, &mut self.batch, members, &env, &mut sink);
                g = e;
            }
            for (i, acts) in uncached {
                next |= exec_group(&acts, &mut self.batch, &[i], &env, &mut sink);
            }
            self.stats.cycles_actions += tsc() - ta;
            pending = next;
            pass += 1;
        }
        self.stats.drops = drops;
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
            let dp = mf.packets - mf.credited_packets;
            if dp > 0 {
                let db = mf.bytes - mf.credited_bytes;
                for r in mf.rules.iter() {
                    r.credit(dp, db, mf.used_ms);
                }
                for (g, b) in mf.groups.iter() {
                    g.credit(usize::from(*b), dp, db, mf.used_ms);
                }
                mf.credited_packets = mf.packets;
                mf.credited_bytes = mf.bytes;
            }
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
        self.emc.fill(EmcEntry {
            mf: NONE,
            ..Default::default()
        });
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
                packets: m.packets,
                bytes: m.bytes,
                idle_ms: now_ms.saturating_sub(m.used_ms),
                age_ms: now_ms.saturating_sub(m.created_ms),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
