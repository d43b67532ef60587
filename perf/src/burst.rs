//! Frame recycling and burst driving shared by the fast-path benches and the
//! differential tests: frames go back to a pool the way a NIC ring reuses buffers, so
//! a measured loop never allocates.

use pipeline::bridge::Bridge;
use pipeline::dpaction::{DropReason, Sink, TunnelMeta};
use pipeline::fastpath::FastPath;
use pipeline::flow::Flow;
use pipeline::packet::VecFrame;

/// A sink that returns every frame to the pool and counts what happened to it.
pub struct Recycle {
    /// Free frames.
    pub pool: Vec<VecFrame>,
    /// Frames output to a port.
    pub out: u64,
    /// Frames dropped.
    pub dropped: u64,
    /// Flows `learn` actions sent to the learner (the caller applies or clears them).
    pub learned: Vec<std::sync::Arc<pipeline::dpaction::LearnedFlow>>,
}

impl Recycle {
    /// A pool of `n` frames of 128 bytes.
    pub fn new(n: usize) -> Self {
        Recycle {
            pool: (0..n).map(|_| VecFrame::new(&[0; 128])).collect(),
            out: 0,
            dropped: 0,
            learned: Vec::new(),
        }
    }
}

impl Sink<VecFrame> for Recycle {
    fn output(&mut self, _p: u32, _t: Option<&TunnelMeta>, f: VecFrame, _k: &Flow) {
        self.out += 1;
        self.pool.push(f);
    }
    fn drop_packet(&mut self, _r: DropReason, f: VecFrame) {
        self.dropped += 1;
        self.pool.push(f);
    }
    fn note_drop(&mut self, _r: DropReason) {}
    fn learn(&mut self, flow: &std::sync::Arc<pipeline::dpaction::LearnedFlow>) -> bool {
        self.learned.push(flow.clone());
        true
    }
}

/// One received frame: bytes, input port, tunnel metadata if it arrived decapsulated.
pub type RxFrame = (Vec<u8>, u32, Option<TunnelMeta>);

/// Runs `frames` through the fast path in bursts of 32, reusing the sink's frames.
pub fn run_bursts(
    fp: &mut FastPath<VecFrame>,
    b: &Bridge,
    sink: &mut Recycle,
    frames: &[RxFrame],
    now: u64,
) {
    for chunk in frames.chunks(32) {
        let input = chunk.iter().map(|(bytes, port, tun)| {
            let mut f = sink.pool.pop().unwrap_or_else(|| VecFrame::new(&[]));
            f.reset(bytes);
            (f, *port, *tun)
        });
        let input: smallvec::SmallVec<[_; 32]> = input.collect();
        fp.process_burst(b, input, now, sink);
    }
}

/// `frames` as bursts of 32 (the last one wrapping around to the start), for a measured
/// loop that cycles through every flow.
pub fn bursts_of_32<T: Clone>(frames: &[T]) -> Vec<Vec<T>> {
    let nb = frames.len().div_ceil(32);
    (0..nb)
        .map(|k| {
            (0..32)
                .map(|j| frames[(k * 32 + j) % frames.len()].clone())
                .collect()
        })
        .collect()
}

/// Where a fast path's cycles went, per packet: total (and in ns at `cycles_per_ns`), passes
/// per packet, then parse, lookup, upcall and actions.
pub fn stage_report(st: &pipeline::fastpath::FastPathStats, cycles_per_ns: f64) -> String {
    let per = |x: u64| x as f64 / st.packets.max(1) as f64;
    let total = per(st.cycles() + st.tunnel.cycles_decap);
    let mut s = format!(
        "{total:.0} TSC cycles/packet ({:.1} ns); passes/packet {:.2}; ",
        total / cycles_per_ns,
        per(st.passes),
    );
    if st.tunnel.cycles_decap != 0 {
        s.push_str(&format!("decap {:.0}, ", per(st.tunnel.cycles_decap)));
    }
    s.push_str(&format!(
        "parse {:.0}, lookup {:.0}, upcall {:.0}, actions {:.0}",
        per(st.cycles_parse),
        per(st.cycles_lookup),
        per(st.cycles_upcall),
        per(st.cycles_actions),
    ));
    s
}

/// A fast path for the benches: an upcall budget large enough that establishing many
/// connections at once is not throttled. `BRISK_BENCH_CHAINS=0` turns chains off and
/// `BRISK_BENCH_EMC_ENTRIES=N` sizes the EMC, `BRISK_SIMD=scalar|avx2` picks the
/// lookup kernels' vector unit (the same binary measured several ways).
pub fn bench_fastpath() -> FastPath<VecFrame> {
    FastPath::new(pipeline::fastpath::FastPathConfig {
        max_upcalls_per_burst: 64,
        chains: std::env::var("BRISK_BENCH_CHAINS").map_or(true, |v| v != "0"),
        emc_entries: std::env::var("BRISK_BENCH_EMC_ENTRIES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(pipeline::fastpath::FastPathConfig::default().emc_entries),
        simd: std::env::var("BRISK_SIMD")
            .ok()
            .and_then(|v| pipeline::fastpath::SimdPath::parse(&v))
            .filter(|p| p.available())
            .unwrap_or_else(pipeline::fastpath::SimdPath::detect),
        ..Default::default()
    })
}

/// The client ends of `n` connections from the frontend pod's address on: (source port,
/// source IP), 60,000 ports per address.
pub fn client_ends(n: u32) -> Vec<(u16, u32)> {
    let base = pipeline::build::ip("10.222.1.48");
    (0..n)
        .map(|i| (1024 + (i % 60_000) as u16, base + (i / 60_000)))
        .collect()
}
