//! A poll-mode worker: one per lcore, busy-polling its receive queues, running bursts
//! through its own fast path, and sending what comes out with one `tx_burst` per port.

use super::learner::Learner;
use super::packet_in::PacketIns;
use super::state::{
    PortCounters, RtKind, RtPorts, Shared, WorkerStats, REQ_CLEAR_STATS, REQ_DUMP_MEGAFLOWS,
    REQ_FLUSH,
};
use crate::cpu::cycles as rdtsc;
use crate::pkt::{Pkt, PktBatch, PktPool};
use pipeline::dpaction::{DpController, DropReason, Sink, TunnelMeta};
use pipeline::fastpath::{FastPath, FastPathConfig};
use pipeline::flow::Flow;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Where packets leave: per-port transmit buffers, flushed with one burst each (the
/// datapath has already encapsulated tunnel outputs: they are ordinary uplink outputs).
/// The control thread's packet-outs use one too, on its own transmit queue.
pub(crate) struct TxSink<'a> {
    /// The pool of this worker's NUMA socket (for frames the datapath originates: ARP).
    pool: &'a PktPool,
    ports: Arc<RtPorts>,
    bufs: Vec<PktBatch>,
    /// Bytes queued per port since its last flush (counters are updated once per burst,
    /// not once per packet: they are shared with the control thread).
    queued_bytes: Vec<u64>,
    txq: u16,
    tx_batches: u64,
    tx_packets: u64,
    /// Outputs to a port this worker's snapshot does not have (one being added or removed
    /// as the datapath sends to it): counted as `no_such_port` drops.
    no_such_port: u64,
    /// Where packet-ins go (this sink's queue there is number `txq`).
    packet_ins: Arc<PacketIns>,
    /// Where learned flows go (queue number `txq` too).
    learner: Arc<Learner>,
}

impl<'a> TxSink<'a> {
    pub(crate) fn new(
        pool: &'a PktPool,
        ports: Arc<RtPorts>,
        txq: u16,
        packet_ins: Arc<PacketIns>,
        learner: Arc<Learner>,
    ) -> Self {
        let n = ports.list.len();
        TxSink {
            pool,
            ports,
            bufs: (0..n).map(|_| PktBatch::new()).collect(),
            queued_bytes: vec![0; n],
            txq,
            tx_batches: 0,
            tx_packets: 0,
            no_such_port: 0,
            packet_ins,
            learner,
        }
    }

    fn flush_port(&mut self, i: usize) {
        let b = &mut self.bufs[i];
        if b.is_empty() {
            return;
        }
        let port = &self.ports.list[i];
        PortCounters::add(
            &port.counters.tx_bytes,
            std::mem::take(&mut self.queued_bytes[i]),
        );
        let n = b.len();
        let sent = match port.dev() {
            Some(dev) => dev.tx_burst(self.txq, b),
            None => 0,
        };
        self.tx_batches += 1;
        self.tx_packets += sent as u64;
        PortCounters::add(&port.counters.tx_packets, sent as u64);
        if sent < n {
            PortCounters::add(&port.counters.tx_dropped, (n - sent) as u64);
            b.free_all();
        }
    }

    pub(crate) fn flush_all(&mut self) {
        for i in 0..self.bufs.len() {
            self.flush_port(i);
        }
    }

    /// Queues a frame on port index `i` (per packet: inlined into the worker's output even
    /// though packet-outs use the sink too).
    #[inline(always)]
    fn enqueue(&mut self, i: usize, m: Pkt) {
        if self.ports.list[i].dev().is_none() {
            return; // not a device port: dropped (freed)
        }
        self.queued_bytes[i] += m.len() as u64;
        if let Err(m) = self.bufs[i].push(m) {
            self.flush_port(i);
            let _ = self.bufs[i].push(m);
        }
        if self.bufs[i].is_full() {
            self.flush_port(i);
        }
    }
}

impl Sink<Pkt> for TxSink<'_> {
    #[inline]
    fn output(&mut self, port: u32, _tun: Option<&TunnelMeta>, frame: Pkt, _key: &Flow) {
        match self.ports.index_of(port) {
            Some(i) => self.enqueue(i, frame),
            None => {
                self.no_such_port += 1;
                drop(frame)
            }
        }
    }
    fn drop_packet(&mut self, _reason: DropReason, frame: Pkt) {
        drop(frame);
    }
    fn note_drop(&mut self, _reason: DropReason) {}
    fn packet_in(&mut self, ctl: &DpController, frame: &Pkt, key: &Flow) -> bool {
        let src = usize::from(self.txq);
        self.packet_ins.offer(src, || {
            ctl.packet_in(pipeline::packet::Frame::data(frame), key)
        })
    }
    fn learn(&mut self, flow: &Arc<pipeline::dpaction::LearnedFlow>) -> bool {
        self.learner.offer(usize::from(self.txq), flow)
    }
    fn alloc(&mut self, bytes: &[u8]) -> Option<Pkt> {
        Pkt::from_bytes(self.pool, bytes)
    }
}

/// The tunnel port's counters follow the fast path's tunnel stages (added once per poll
/// iteration, as the device ports' are once per burst).
struct TunnelCounters {
    seen: pipeline::fastpath::TunnelStats,
}

impl TunnelCounters {
    fn publish(&mut self, ports: &RtPorts, now: &pipeline::fastpath::TunnelStats) {
        let Some(t) = ports.tunnel else {
            self.seen = *now;
            return;
        };
        let c = &ports.list[t].counters;
        let d = |now: u64, seen: u64| now.saturating_sub(seen);
        if now.rx_packets != self.seen.rx_packets {
            PortCounters::add(&c.rx_packets, d(now.rx_packets, self.seen.rx_packets));
            PortCounters::add(&c.rx_bytes, d(now.rx_bytes, self.seen.rx_bytes));
        }
        if now.tx_packets != self.seen.tx_packets {
            PortCounters::add(&c.tx_packets, d(now.tx_packets, self.seen.tx_packets));
            PortCounters::add(&c.tx_bytes, d(now.tx_bytes, self.seen.tx_bytes));
        }
        self.seen = *now;
    }
}

/// Receive queues a worker polls: (port index, queue).
pub(super) fn my_queues(ports: &RtPorts, wid: usize, n_workers: usize) -> Vec<(usize, u16)> {
    let mut all = Vec::new();
    for (i, p) in ports.list.iter().enumerate() {
        if let RtKind::Device { rxq, .. } = &p.kind {
            for q in 0..*rxq {
                all.push((i, q));
            }
        }
    }
    all.into_iter()
        .enumerate()
        .filter(|(k, _)| k % n_workers == wid)
        .map(|(_, x)| x)
        .collect()
}

/// What a worker keeps between iterations besides its fast path.
struct Loop {
    busy: u64,
    idle: u64,
    iters: u64,
    idle_iters: u64,
    /// When the counters started (the switch's milliseconds): start or last clear.
    since_ms: u64,
}

/// The worker's poll loop: receive a burst per queue, run it through the fast path (which
/// decapsulates, looks up, executes and encapsulates), send what came out with one burst
/// per port. Returns 0 on a clean stop.
pub fn run(shared: Arc<Shared>, wid: usize, cfg: FastPathConfig) -> i32 {
    let lcore = bind_lcore();
    let me = &shared.workers[wid];
    me.lcore.store(lcore, Ordering::Relaxed);
    // Buffers this worker makes (kernel-port receives, ARP) come from its socket's pool.
    #[cfg(feature = "dpdk")]
    let socket = crate::dpdk::socket_id() as i32;
    #[cfg(not(feature = "dpdk"))]
    let socket = -1;
    let pool = shared.pools.get(shared.pools.index_for(socket));
    let n_workers = shared.workers.len();
    let mut fp: FastPath<Pkt> = FastPath::new(cfg);
    let mut gen = shared.ports_gen.load(Ordering::Acquire);
    let mut ports = shared.ports();
    let mut queues = my_queues(&ports, wid, n_workers);
    let pins = shared.packet_ins.clone();
    let mut sink = TxSink::new(
        pool,
        ports.clone(),
        wid as u16,
        pins.clone(),
        shared.learner.clone(),
    );
    let mut tunnel = TunnelCounters {
        seen: fp.stats.tunnel,
    };
    me.ports_gen.store(gen, Ordering::Release);
    tracing::info!(worker = wid, lcore, queues = queues.len(), "worker polling");
    let mut rx = PktBatch::new();
    let hz = shared.tsc_hz.max(1);
    let mut next_maint = rdtsc() + hz / 10;
    let mut lp = Loop {
        busy: 0,
        idle: 0,
        iters: 0,
        idle_iters: 0,
        since_ms: shared.now_ms(),
    };
    let bridge = shared.bridge.clone();
    while !shared.stop.load(Ordering::Relaxed) && !crate::signal::stop_requested() {
        let t0 = rdtsc();
        let g = shared.ports_gen.load(Ordering::Acquire);
        if g != gen {
            sink.flush_all();
            let kept = (sink.tx_batches, sink.tx_packets, sink.no_such_port);
            ports = shared.ports();
            queues = my_queues(&ports, wid, n_workers);
            sink = TxSink::new(
                pool,
                ports.clone(),
                wid as u16,
                pins.clone(),
                shared.learner.clone(),
            );
            (sink.tx_batches, sink.tx_packets, sink.no_such_port) = kept;
            gen = g;
            me.ports_gen.store(gen, Ordering::Release);
        }
        let now_ms = shared.now_ms();
        let mut got = 0usize;
        for &(pi, q) in &queues {
            let p = &ports.list[pi];
            let Some(dev) = p.dev() else { continue };
            let n = dev.rx_burst(q, &mut rx, pool);
            if n == 0 {
                continue;
            }
            got += n;
            PortCounters::add(&p.counters.rx_packets, n as u64);
            let mut bytes = 0u64;
            let frames = rx.drain().filter_map(|mut m| {
                bytes += m.len() as u64;
                (m.is_contiguous() || m.linearize()).then_some(m)
            });
            fp.receive_burst(&bridge, p.ofport, frames, now_ms, &mut sink);
            PortCounters::add(&p.counters.rx_bytes, bytes);
        }
        fp.service(&bridge, now_ms, &mut sink);
        sink.flush_all();
        tunnel.publish(&ports, &fp.stats.tunnel);
        let t1 = rdtsc();
        if got > 0 {
            lp.busy += t1 - t0;
        } else {
            lp.idle += t1 - t0;
            lp.idle_iters += 1;
        }
        lp.iters += 1;
        if t1 >= next_maint {
            next_maint = t1 + hz / 10;
            housekeeping(
                me,
                &mut fp,
                &mut sink,
                &mut tunnel,
                &mut lp,
                &bridge,
                now_ms,
            );
        }
    }
    tracing::info!(worker = wid, lcore, "worker stopping");
    // Clean stop: send what is queued, fold counters, free everything this worker holds.
    sink.flush_all();
    fp.flush();
    *me.stats.lock() = worker_stats(&fp, &sink, &lp, false);
    0
}

/// The lcore (CPU without DPDK) this worker runs on.
fn bind_lcore() -> u32 {
    #[cfg(feature = "dpdk")]
    {
        let l = crate::dpdk::lcore_id();
        assert_ne!(
            l,
            crate::dpdk::LCORE_ID_ANY,
            "workers must run on EAL lcores"
        );
        l
    }
    #[cfg(not(feature = "dpdk"))]
    {
        crate::cpu::current_cpu()
    }
}

/// Every ~100 ms: the control thread's requests (flush, dump, clear), megaflow expiry and
/// counter folding, and the published counters. Requests are acknowledged (their bits
/// cleared) only after they are served and the stats are published, so the control thread
/// reads fresh results.
fn housekeeping(
    me: &super::state::WorkerShared,
    fp: &mut FastPath<Pkt>,
    sink: &mut TxSink<'_>,
    tunnel: &mut TunnelCounters,
    lp: &mut Loop,
    bridge: &pipeline::bridge::Bridge,
    now_ms: u64,
) {
    let req = me.requests.load(Ordering::Acquire);
    if req & REQ_FLUSH != 0 {
        fp.flush();
    }
    fp.maintain(now_ms);
    if req & REQ_DUMP_MEGAFLOWS != 0 {
        *me.megaflows.lock() = Some(fp.megaflows(bridge.ports().names(), now_ms));
    }
    if req & REQ_CLEAR_STATS != 0 {
        fp.stats = Default::default();
        tunnel.seen = fp.stats.tunnel;
        *lp = Loop {
            busy: 0,
            idle: 0,
            iters: 0,
            idle_iters: 0,
            since_ms: now_ms,
        };
        sink.tx_batches = 0;
        sink.tx_packets = 0;
        sink.no_such_port = 0;
    }
    *me.stats.lock() = worker_stats(fp, sink, lp, true);
    if req != 0 {
        me.requests.fetch_and(!req, Ordering::AcqRel);
    }
}

fn worker_stats(fp: &FastPath<Pkt>, sink: &TxSink<'_>, lp: &Loop, running: bool) -> WorkerStats {
    let mut fp_stats = fp.stats;
    fp_stats.drops[DropReason::NoSuchPort.index()] += sink.no_such_port;
    WorkerStats {
        fp: fp_stats,
        busy_cycles: lp.busy,
        idle_cycles: lp.idle,
        iterations: lp.iters,
        idle_iterations: lp.idle_iters,
        since_ms: lp.since_ms,
        tx_batches: sink.tx_batches,
        tx_packets: sink.tx_packets,
        megaflows: if running { fp.n_megaflows() } else { 0 },
        masks: if running { fp.n_masks() } else { 0 },
        parked: if running { fp.n_parked() } else { 0 },
    }
}
