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

mod chain;
mod dpcls;
mod emc;
mod emc_gate;
mod exec;
mod megaflow;
pub mod simd;
mod tunnel;
mod upcall;

pub use crate::tunnel::TunnelStats;
pub use emc::key_hash;
pub use simd::SimdPath;

use crate::bridge::Bridge;
use crate::dpaction::{Batch, CloneFrame, DropReason, ExecEnv, Sink, TunnelMeta};
use crate::flow::Flow;
use crate::ipf::Reassembler;
use crate::packet::Frame;
use crate::tunnel::{DecapPort, Parked, Parking};
use chain::Chains;
use dpcls::Subtable;
use emc::EmcBucket;
use megaflow::Megaflow;

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
    /// Follow chains: later passes and `ct` take the hints the first pass's EMC entry
    /// keeps (`chain.rs`). Off: every pass is looked up and every `ct` hashes its tuple.
    pub chains: bool,
    /// The vector unit of the lookup kernels (default: the widest this CPU has; a path it
    /// lacks falls back to that).
    pub simd: SimdPath,
    /// Skip the EMC (no key hash, probe or insertion) while it resolves fewer than one
    /// pass in five, measuring again now and then (`emc_gate.rs`): with more established
    /// connections than it holds, it costs every packet and saves almost none. Off: the
    /// EMC is always consulted (OVS's behaviour; its users turn the EMC off by hand).
    pub emc_auto_bypass: bool,
}

impl Default for FastPathConfig {
    fn default() -> Self {
        FastPathConfig {
            emc_entries: 8192,
            emc_insert_inv_prob: 20,
            max_megaflows: 200_000,
            max_upcalls_per_burst: 16,
            megaflow_idle_ms: 10_000,
            chains: true,
            simd: SimdPath::detect(),
            emc_auto_bypass: true,
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
    /// Passes looked up with the EMC bypassed (its hit rate was too low to pay).
    pub emc_bypassed: u64,
    /// Later passes resolved by their first pass's chain (no hash, no EMC probe).
    pub chain_hits: u64,
    /// Connections a `ct` met without its chain's hint (each becomes the hint).
    pub ct_hints_learned: u64,
    /// Megaflow classifier hits.
    pub megaflow_hits: u64,
    /// Subtables probed by the classifier (OVS's "avg. subtable lookups per megaflow hit"
    /// is this over `megaflow_hits`).
    pub subtable_lookups: u64,
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
    /// The tunnel stages' counters.
    pub tunnel: TunnelStats,
}

impl FastPathStats {
    /// TSC cycles in the stages of `process_burst` (parse, lookup, upcall, actions).
    pub fn cycles(&self) -> u64 {
        self.cycles_parse + self.cycles_lookup + self.cycles_upcall + self.cycles_actions
    }

    /// Adds another core's counters.
    pub fn add(&mut self, o: &FastPathStats) {
        self.packets += o.packets;
        self.passes += o.passes;
        self.emc_hits += o.emc_hits;
        self.emc_bypassed += o.emc_bypassed;
        self.chain_hits += o.chain_hits;
        self.ct_hints_learned += o.ct_hints_learned;
        self.megaflow_hits += o.megaflow_hits;
        self.subtable_lookups += o.subtable_lookups;
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
        self.tunnel.add(&o.tunnel);
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

/// A megaflow as `dump-megaflows` shows it.
#[derive(Clone, Debug)]
pub struct MegaflowInfo {
    /// The match, printed.
    pub matches: String,
    /// The datapath actions, printed.
    pub actions: String,
    /// The match in OVS's datapath-flow syntax (`dpctl/dump-flows`).
    pub odp_match: String,
    /// The actions in OVS's datapath-action syntax.
    pub odp_actions: String,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Milliseconds since last use.
    pub idle_ms: u64,
    /// Milliseconds since installed.
    pub age_ms: u64,
}

/// The execute stage's view of the sink: counts drops by reason and tunnel outputs on the
/// way to the real sink, and parks packets waiting for a tunnel next hop.
struct Counting<'a, F: Frame, S> {
    inner: &'a mut S,
    drops: &'a mut [u64; DropReason::COUNT],
    tunnel: &'a mut TunnelStats,
    park: tunnel::ParkCtx<'a, F>,
    /// The worker's reassembler, made on the first fragment a `ct` meets.
    ipf: Option<Box<Reassembler<F>>>,
}

impl<F: CloneFrame, S: Sink<F>> Sink<F> for Counting<'_, F, S> {
    #[inline]
    fn output(&mut self, port: u32, tun: Option<&TunnelMeta>, frame: F, key: &Flow) {
        if tun.is_some() {
            self.tunnel.tx_packets += 1;
            self.tunnel.tx_bytes += frame.len() as u64;
        }
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
    fn packet_in(&mut self, ctl: &crate::dpaction::DpController, frame: &F, key: &Flow) -> bool {
        self.inner.packet_in(ctl, frame, key)
    }
    fn learn(&mut self, flow: &std::sync::Arc<crate::dpaction::LearnedFlow>) -> bool {
        self.inner.learn(flow)
    }
    fn park(&mut self, p: Parked<F>) {
        self.tunnel.parked += 1;
        let (bridge, now_ms) = (self.park.bridge, self.park.now_ms);
        let (inner, drops, t) = (&mut *self.inner, &mut *self.drops, &mut *self.tunnel);
        self.park.parking.park(bridge, p, now_ms, |o| {
            tunnel::settle(o, bridge, inner, drops, t)
        });
    }
    fn alloc(&mut self, bytes: &[u8]) -> Option<F> {
        self.inner.alloc(bytes)
    }
    fn reassembler(&mut self) -> Option<&mut Reassembler<F>> {
        Some(self.ipf.get_or_insert_with(Box::default))
    }
}

/// One worker core's fast path.
pub struct FastPath<F: Frame> {
    cfg: FastPathConfig,
    emc: Box<[EmcBucket]>,
    /// Buckets less one.
    emc_mask: usize,
    /// The vector unit the kernels use (`simd.rs`).
    simd: SimdPath,
    /// Insert into an occupied bucket when a random u32 is at most this (1/inv_prob).
    emc_insert_min: u32,
    chains: Chains,
    /// Whether the EMC pays, from its recent hit rate.
    gate: emc_gate::EmcGate,
    /// The EMC is consulted in this burst (`gate`, or always without auto-bypass).
    emc_live: bool,
    /// Each slot's chain: the EMC entry of its first pass (`NONE`: none).
    entry: [u32; SLOTS],
    /// The pass being run.
    pass: u32,
    /// Slots whose first pass hit the EMC.
    hit0: u64,
    subtables: Vec<Subtable>,
    order: Vec<u16>,
    mfs: Vec<Megaflow>,
    free: Vec<u32>,
    n_live: usize,
    batch: Batch<F, SLOTS>,
    found: [u32; SLOTS],
    rng: u64,
    lookups_since_rank: u64,
    parking: Parking<F>,
    /// IP fragments held for `ct` (`crate::ipf`), made on the first one.
    ipf: Option<Box<Reassembler<F>>>,
    /// Slots holding fragments of reassembled datagrams: passes over them run in slot
    /// order (`exec.rs`).
    ordered: u64,
    decap: Option<DecapPort>,
    decap_seen: [u64; 2],
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
            emc: vec![EmcBucket::EMPTY; n / 4].into_boxed_slice(),
            // A path the CPU lacks is not what runs: the widest it has is (and `pmd-stats`
            // says so).
            simd: if cfg.simd.available() {
                cfg.simd
            } else {
                SimdPath::detect()
            },
            emc_mask: n / 4 - 1,
            emc_insert_min: u32::MAX / cfg.emc_insert_inv_prob.max(1),
            chains: Chains::new(n),
            gate: emc_gate::EmcGate::default(),
            emc_live: true,
            entry: [NONE; SLOTS],
            pass: 0,
            hit0: 0,
            subtables: Vec::new(),
            order: Vec::new(),
            mfs: Vec::new(),
            free: Vec::new(),
            n_live: 0,
            batch: Batch::new(),
            found: [NONE; SLOTS],
            rng: 0x2545_f491_4f6c_dd1d,
            lookups_since_rank: 0,
            parking: Parking::default(),
            ipf: None,
            ordered: 0,
            decap: None,
            decap_seen: [0; 2],
            stats: FastPathStats::default(),
        }
    }

    /// The vector unit the lookup kernels run on.
    pub fn simd(&self) -> SimdPath {
        self.simd
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

    /// Processes one burst: `input` yields (frame, input port, tunnel metadata) for up to
    /// [`MAX_BURST`] packets. Results go to `sink`. Each pass runs the stages in turn over
    /// the burst's pending slots: EMC, megaflow classifier, upcalls, execute; slots that
    /// recirculate make the next pass.
    pub fn process_burst<S: Sink<F>>(
        &mut self,
        bridge: &Bridge,
        input: impl IntoIterator<Item = (F, u32, Option<TunnelMeta>)>,
        now_ms: u64,
        sink: &mut S,
    ) {
        let t0 = tsc();
        let mut pending = self.receive(input);
        self.ordered = 0;
        if self.ipf.as_ref().is_some_and(|r| r.has_ready()) {
            pending |= self.receive_ready(pending);
        }
        let t1 = tsc();
        self.stats.cycles_parse += t1 - t0;
        let mut drops = self.stats.drops;
        let mut tun = self.stats.tunnel;
        let mut sink = Counting {
            inner: sink,
            drops: &mut drops,
            tunnel: &mut tun,
            park: tunnel::ParkCtx {
                bridge,
                parking: std::mem::take(&mut self.parking),
                now_ms,
            },
            ipf: self.ipf.take(),
        };
        let mut pass = 0u32;
        self.emc_live = self.gate.on || !self.cfg.emc_auto_bypass;
        let live = self.emc_live;
        while pending != 0 {
            if pass > bridge.limits.max_recirc {
                self.drop_slots(pending, DropReason::RecircLimit, &mut sink);
                break;
            }
            self.pass = pass;
            if let Some(r) = sink.ipf.as_mut() {
                r.next_pass();
            }
            if pass > 0 {
                self.stats.recirculations += u64::from(pending.count_ones());
            }
            self.stats.passes += u64::from(pending.count_ones());
            let tl = tsc();
            let from_chain = if pass > 0 && self.cfg.chains && live {
                self.chain_stage(pending, pass)
            } else {
                0
            };
            let from_emc = if live {
                let r = from_chain | self.emc_stage(pending & !from_chain);
                self.gate.count(pending, r);
                r
            } else {
                self.emc_skip(pending)
            };
            let from_cls = self.dpcls_stage(pending & !from_emc);
            let tu = tsc();
            self.stats.cycles_lookup += tu - tl;
            let (left, uncached) =
                self.upcall_stage(bridge, pending, from_emc | from_cls, now_ms, &mut sink);
            if live {
                self.emc_fill(from_cls);
            } else {
                self.hash_for_actions(left);
            }
            if self.cfg.chains {
                if pass > 0 && live {
                    self.chain_learn_hops(left, pass);
                }
                // Bypassed too: every slot then gets no hint (no entry), rather than the
                // hint a slot had in an earlier burst.
                self.chain_ct_hints(left, pass);
            }
            let ta = tsc();
            self.stats.cycles_upcall += ta - tu;
            // The hints are read by the executor while the fast path is borrowed for it.
            let conn_hints = std::mem::take(&mut self.chains.conns);
            let env = ExecEnv {
                conntrack: &bridge.conntrack,
                now_ms,
                conn_hints: &conn_hints,
                side_effects: true,
            };
            pending = self.exec_stage(left, uncached, &env, now_ms, &mut sink);
            self.chains.conns = conn_hints;
            if self.cfg.chains {
                // Bypassed too: copies forked in this pass must belong to no chain.
                self.chain_learn_conns(left, pending);
            }
            if self.batch.injected != 0 {
                // Fragments of a datagram made whole: no chain, and their order kept.
                for j in slots(self.batch.injected) {
                    self.entry[j] = NONE;
                }
                self.ordered |= self.batch.injected;
                self.batch.injected = 0;
            }
            self.stats.cycles_actions += tsc() - ta;
            pass += 1;
        }
        self.gate.tick();
        self.parking = std::mem::take(&mut sink.park.parking);
        self.ipf = sink.ipf.take();
        self.stats.drops = drops;
        self.stats.tunnel = tun;
    }

    /// Loads a burst into the slots (extracting each packet's key); returns the slots used.
    fn receive(&mut self, input: impl IntoIterator<Item = (F, u32, Option<TunnelMeta>)>) -> u64 {
        let mut pending = 0u64;
        for (i, (f, port, tun)) in input.into_iter().take(MAX_BURST).enumerate() {
            self.batch.load(i, f, port, tun.as_ref());
            if self.batch.layouts[i].err != 0 {
                self.stats.parse_errors += 1;
            }
            pending |= 1u64 << i;
        }
        self.stats.packets += u64::from(pending.count_ones());
        pending
    }

    /// Loads fragments of reassembled datagrams that waited for room into the slots
    /// `pending` leaves free; returns the slots loaded (their key carries the `ct`
    /// verdict and recirculation id: their lookups go on from there).
    fn receive_ready(&mut self, pending: u64) -> u64 {
        let Some(r) = self.ipf.as_mut() else { return 0 };
        let mut loaded = 0u64;
        for j in 0..SLOTS {
            if pending & (1u64 << j) != 0 {
                continue;
            }
            let Some(p) = r.take_ready() else { break };
            self.batch.put(j, p);
            loaded |= 1u64 << j;
        }
        self.ordered = loaded;
        loaded
    }

    /// Drops the packets of `slots` for `reason`.
    fn drop_slots<S: Sink<F>>(&mut self, slots: u64, reason: DropReason, sink: &mut S) {
        let mut bits = slots;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if let Some(f) = self.batch.frames[i].take() {
                sink.drop_packet(reason, f);
            }
        }
    }
}

/// The slots set in `bits`, lowest first.
#[inline(always)]
fn slots(mut bits: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (bits != 0).then(|| {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            i
        })
    })
}

/// Asks for the cache line holding `p` (a hint: no effect on results).
#[inline(always)]
fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint; the address is a valid reference.
    unsafe {
        core::arch::x86_64::_mm_prefetch(
            p as *const T as *const i8,
            core::arch::x86_64::_MM_HINT_T0,
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
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

#[cfg(test)]
mod tests;
