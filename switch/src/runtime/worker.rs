//! A poll-mode worker: one per lcore, busy-polling its receive queues, running bursts
//! through its own fast path, and sending what comes out with one `tx_burst` per port.

use super::state::{
    PendingPkt, PortCounters, RtKind, RtPorts, Shared, WorkerStats, REQ_CLEAR_STATS,
    REQ_DUMP_MEGAFLOWS, REQ_FLUSH,
};
use crate::cpu::cycles as rdtsc;
use crate::pkt::{Pkt, PktBatch, PktPool};
use hashbrown::HashMap;
use pipeline::dpaction::{DropReason, Sink, TunnelMeta};
use pipeline::fastpath::{key_hash, FastPath, FastPathConfig};
use pipeline::flow::Flow;
use pipeline::geneve::{self, EncapDrop, PushParams, TlvMap};
use pipeline::underlay::{arp_input, arp_request, ArpIn, Resolve};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Where packets leave: per-port transmit buffers (flushed with one burst each) and the
/// tunnel's encapsulation.
struct TxSink<'a> {
    shared: &'a Shared,
    /// The pool of this worker's NUMA socket (for frames the worker makes itself).
    pool: &'a PktPool,
    ports: Arc<RtPorts>,
    /// Port index by OpenFlow number (ports are few; a linear scan is fine).
    bufs: Vec<PktBatch>,
    /// Bytes queued per port since its last flush (counters are updated once per burst,
    /// not once per packet: they are shared with the control thread).
    queued_bytes: Vec<u64>,
    /// Frames and inner bytes encapsulated since the last flush (the tunnel port's tx).
    tunnel_tx: (u64, u64),
    txq: u16,
    /// Encapsulation parameters by tunnel destination, and the TLV map, valid for
    /// `encap_gen` (read once per change, not once per packet).
    encap: HashMap<u32, PushParams>,
    tlv: TlvMap,
    encap_gen: u64,
    tx_batches: u64,
    tx_packets: u64,
    /// Tunnel outputs not sent, by reason (this worker's own: no shared line per drop).
    encap_drops: [u64; EncapDrop::COUNT],
}

impl<'a> TxSink<'a> {
    fn new(shared: &'a Shared, pool: &'a PktPool, ports: Arc<RtPorts>, txq: u16) -> Self {
        let n = ports.list.len();
        TxSink {
            shared,
            pool,
            ports,
            bufs: (0..n).map(|_| PktBatch::new()).collect(),
            queued_bytes: vec![0; n],
            tunnel_tx: (0, 0),
            txq,
            encap: HashMap::new(),
            tlv: TlvMap::default(),
            encap_gen: u64::MAX,
            tx_batches: 0,
            tx_packets: 0,
            encap_drops: [0; EncapDrop::COUNT],
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

    fn flush_all(&mut self) {
        for i in 0..self.bufs.len() {
            self.flush_port(i);
        }
        if self.tunnel_tx.0 != 0 {
            if let Some(t) = self.ports.tunnel {
                let c = &self.ports.list[t].counters;
                PortCounters::add(&c.tx_packets, self.tunnel_tx.0);
                PortCounters::add(&c.tx_bytes, self.tunnel_tx.1);
            }
            self.tunnel_tx = (0, 0);
        }
    }

    /// Queues a frame on port index `i`.
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

    /// Forgets cached encapsulation parameters and rereads the TLV map when routes,
    /// neighbours or the map changed (one atomic load when they did not).
    fn underlay_fresh(&mut self) {
        let gen = self.shared.underlay_gen.load(Ordering::Acquire);
        if gen != self.encap_gen {
            self.encap.clear();
            self.tlv = *self.shared.tlv.read();
            self.encap_gen = gen;
        }
    }

    fn params_for(
        &mut self,
        meta: &TunnelMeta,
        m: Pkt,
        inner_hash: u32,
    ) -> Option<(PushParams, Pkt)> {
        self.underlay_fresh();
        if let Some(p) = self.encap.get(&meta.dst) {
            return Some((*p, m));
        }
        let up = self.ports.uplink?;
        let (mac, (ip, _, _)) = match &self.ports.list[up].kind {
            RtKind::Device {
                mac,
                uplink: Some(u),
                ..
            } => (*mac, *u),
            _ => return None,
        };
        let tunnel = self.ports.tunnel.map(|t| &self.ports.list[t].kind);
        let (csum, dst_port, local) = match tunnel {
            Some(RtKind::Geneve(t)) => (t.csum, t.dst_port, t.local_ip.unwrap_or(ip)),
            _ => (false, geneve::GENEVE_PORT, ip),
        };
        let now = self.shared.now_ms();
        let mut u = self.shared.underlay.lock();
        let Some((_, nexthop)) = u.routes.lookup(meta.dst) else {
            self.encap_drop(EncapDrop::NoRoute);
            return None;
        };
        match u.neigh.resolve(nexthop, (m, *meta, inner_hash), now) {
            (Resolve::Mac(dst_mac), Some((m, _, _))) => {
                let p = PushParams {
                    src_mac: mac,
                    dst_mac,
                    local_ip: local,
                    dst_port,
                    csum,
                    ttl: 64,
                    ip_id: 0,
                };
                self.encap.insert(meta.dst, p);
                Some((p, m))
            }
            (Resolve::QueuedSendArp(target), _) => {
                drop(u);
                if let Some(req) = Pkt::from_bytes(self.pool, &arp_request(mac, local, target)) {
                    self.enqueue(up, req);
                }
                None
            }
            (Resolve::Queued, _) => None,
            (_, rest) => {
                drop(rest);
                self.encap_drop(EncapDrop::Unresolved);
                None
            }
        }
    }

    /// Encapsulates and queues on the uplink.
    fn tunnel_out(&mut self, meta: &TunnelMeta, mut m: Pkt, inner_hash: u32) {
        let Some(up) = self.ports.uplink else {
            self.encap_drop(EncapDrop::NoRoute);
            return;
        };
        let Some((params, m2)) = self.params_for(meta, m, inner_hash) else {
            return;
        };
        m = m2;
        let mtu = match &self.ports.list[up].kind {
            RtKind::Device {
                uplink: Some((_, _, mtu)),
                ..
            } => usize::from(*mtu),
            _ => 1500,
        };
        let inner = m.len() as u64;
        match geneve::push(&mut m, meta, &self.tlv, &params, inner_hash, mtu) {
            Ok(_) => {
                self.tunnel_tx.0 += 1;
                self.tunnel_tx.1 += inner;
                self.enqueue(up, m)
            }
            Err(e) => self.encap_drop(e.into()),
        }
    }

    fn encap_drop(&mut self, why: EncapDrop) {
        self.encap_drops[why.index()] += 1;
    }

    /// Sends packets whose next hop just got resolved.
    fn send_resolved(&mut self, pkts: Vec<PendingPkt>) {
        for (m, meta, h) in pkts {
            self.tunnel_out(&meta, m, h);
        }
    }
}

impl Sink<Pkt> for TxSink<'_> {
    fn output(&mut self, port: u32, tun: Option<&TunnelMeta>, frame: Pkt, key: &Flow) {
        match tun {
            Some(meta) => {
                let h = key_hash(key);
                self.tunnel_out(meta, frame, h);
            }
            None => match self.ports.index_of(port) {
                Some(i) => self.enqueue(i, frame),
                None => drop(frame),
            },
        }
    }
    fn drop_packet(&mut self, _reason: DropReason, frame: Pkt) {
        drop(frame);
    }
    fn note_drop(&mut self, _reason: DropReason) {}
}

/// Receive queues a worker polls: (port index, queue).
fn my_queues(ports: &RtPorts, wid: usize, n_workers: usize) -> Vec<(usize, u16)> {
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

/// The worker's poll loop. Returns 0 on a clean stop.
pub fn run(shared: Arc<Shared>, wid: usize, cfg: FastPathConfig) -> i32 {
    #[cfg(feature = "dpdk")]
    let lcore = {
        let l = crate::dpdk::lcore_id();
        assert_ne!(
            l,
            crate::dpdk::LCORE_ID_ANY,
            "workers must run on EAL lcores"
        );
        l
    };
    #[cfg(not(feature = "dpdk"))]
    let lcore = crate::cpu::current_cpu();
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
    let mut sink = TxSink::new(&shared, pool, ports.clone(), wid as u16);
    me.ports_gen.store(gen, Ordering::Release);
    tracing::info!(worker = wid, lcore, queues = queues.len(), "worker polling");
    let mut rx = PktBatch::new();
    let hz = shared.tsc_hz.max(1);
    let mut next_maint = rdtsc() + hz / 10;
    let (mut busy, mut idle, mut iters) = (0u64, 0u64, 0u64);
    // This worker's own counters (published with the rest every 100 ms).
    let mut decap = [0u64; pipeline::geneve::DecapError::COUNT];
    let (mut arp_answered, mut arp_learned) = (0u64, 0u64);
    let bridge = shared.bridge.clone();
    let mut input: smallvec::SmallVec<[(Pkt, u32, Option<TunnelMeta>); 32]> =
        smallvec::SmallVec::new();
    while !shared.stop.load(Ordering::Relaxed) && !crate::signal::stop_requested() {
        let t0 = rdtsc();
        let g = shared.ports_gen.load(Ordering::Acquire);
        if g != gen {
            sink.flush_all();
            let kept = (sink.tx_batches, sink.tx_packets, sink.encap_drops);
            drop(sink);
            ports = shared.ports();
            queues = my_queues(&ports, wid, n_workers);
            sink = TxSink::new(&shared, pool, ports.clone(), wid as u16);
            (sink.tx_batches, sink.tx_packets, sink.encap_drops) = kept;
            gen = g;
            me.ports_gen.store(gen, Ordering::Release);
        }
        let mut got = 0usize;
        let now_ms = shared.now_ms();
        for &(pi, q) in &queues {
            let p = &ports.list[pi];
            let Some(dev) = p.dev() else { continue };
            let n = dev.rx_burst(q, &mut rx, pool);
            if n == 0 {
                continue;
            }
            got += n;
            PortCounters::add(&p.counters.rx_packets, n as u64);
            let uplink = match &p.kind {
                RtKind::Device { uplink, mac, .. } => uplink.map(|u| (u, *mac)),
                _ => None,
            };
            let tunnel_ofport = ports.tunnel.map(|t| ports.list[t].ofport);
            // Per burst, not per packet: the tunnel's UDP port and the TLV map.
            let dport = match ports.tunnel.map(|t| &ports.list[t].kind) {
                Some(RtKind::Geneve(t)) => t.dst_port,
                _ => geneve::GENEVE_PORT,
            };
            if uplink.is_some() {
                sink.underlay_fresh();
            }
            let tlv = sink.tlv;
            let mut bytes = 0u64;
            let mut decapped = (0u64, 0u64);
            for mut m in rx.drain() {
                bytes += m.len() as u64;
                if !m.is_contiguous() && !m.linearize() {
                    continue;
                }
                if let (Some(((ip, _, _), mac)), Some(tport)) = (uplink, tunnel_ofport) {
                    if geneve::is_geneve_for(m.data(), ip, dport) {
                        match geneve::pop(&mut m, &tlv) {
                            Ok(meta) => {
                                decapped.0 += 1;
                                decapped.1 += m.len() as u64;
                                input.push((m, tport, Some(meta)));
                                if input.len() == 32 {
                                    fp.process_burst(&bridge, input.drain(..), now_ms, &mut sink);
                                }
                            }
                            Err(e) => {
                                decap[e.index()] += 1;
                            }
                        }
                        continue;
                    }
                    let (what, sender) = arp_input(m.data_mut(), ip, mac);
                    if let Some((sip, smac)) = sender {
                        let waiting = {
                            let mut u = shared.underlay.lock();
                            let before = u.neigh.mac(sip);
                            let w = u.neigh.learn(sip, smac, now_ms);
                            if before != Some(smac) {
                                shared.underlay_gen.fetch_add(1, Ordering::AcqRel);
                            }
                            w
                        };
                        if !waiting.is_empty() {
                            sink.send_resolved(waiting);
                        }
                    }
                    if sender.is_some() {
                        arp_learned += 1;
                    }
                    match what {
                        ArpIn::AnswerRequest => {
                            arp_answered += 1;
                            sink.enqueue(pi, m);
                            continue;
                        }
                        ArpIn::Learn(..) => continue,
                        ArpIn::Ignore => {}
                    }
                }
                input.push((m, p.ofport, None));
                if input.len() == 32 {
                    fp.process_burst(&bridge, input.drain(..), now_ms, &mut sink);
                }
            }
            PortCounters::add(&p.counters.rx_bytes, bytes);
            if decapped.0 != 0 {
                if let Some(t) = ports.tunnel {
                    PortCounters::add(&ports.list[t].counters.rx_packets, decapped.0);
                    PortCounters::add(&ports.list[t].counters.rx_bytes, decapped.1);
                }
            }
            if !input.is_empty() {
                fp.process_burst(&bridge, input.drain(..), now_ms, &mut sink);
            }
        }
        sink.flush_all();
        let t1 = rdtsc();
        if got > 0 {
            busy += t1 - t0;
        } else {
            idle += t1 - t0;
        }
        iters += 1;
        if t1 >= next_maint {
            next_maint = t1 + hz / 10;
            // Requests are acknowledged (their bits cleared) only after they are served
            // and the stats are published, so the control thread reads fresh results.
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
                busy = 0;
                idle = 0;
                iters = 0;
                sink.tx_batches = 0;
                sink.tx_packets = 0;
                sink.encap_drops = Default::default();
                decap = Default::default();
                (arp_answered, arp_learned) = (0, 0);
            }
            *me.stats.lock() = WorkerStats {
                fp: fp.stats,
                busy_cycles: busy,
                idle_cycles: idle,
                iterations: iters,
                tx_batches: sink.tx_batches,
                tx_packets: sink.tx_packets,
                megaflows: fp.n_megaflows(),
                masks: fp.n_masks(),
                decap,
                encap: sink.encap_drops,
                arp_answered,
                arp_learned,
            };
            if req != 0 {
                me.requests.fetch_and(!req, Ordering::AcqRel);
            }
        }
    }
    tracing::info!(worker = wid, lcore, "worker stopping");
    // Clean stop: send what is queued, fold counters, free everything this worker holds.
    sink.flush_all();
    fp.flush();
    *me.stats.lock() = WorkerStats {
        fp: fp.stats,
        busy_cycles: busy,
        idle_cycles: idle,
        iterations: iters,
        tx_batches: sink.tx_batches,
        tx_packets: sink.tx_packets,
        megaflows: 0,
        masks: 0,
        decap,
        encap: sink.encap_drops,
        arp_answered,
        arp_learned,
    };
    0
}
