//! The fast path: EMC hits, megaflow lookups with 1/8/32 masks, and the whole Antrea
//! pipeline (worker1, conntrack on, three passes per packet) for 1, 1k, 50k and 1M flows.
//! Frames are recycled through a pool, as a NIC's ring would, so no benchmark iteration
//! allocates.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pipeline::bridge::{Bridge, PortInfo, PortKind};
use pipeline::build::{ip, ipv4_frame, mac, Ipv4Spec, L4Spec};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::{DropReason, Sink, TunnelMeta};
use pipeline::fastpath::{FastPath, FastPathConfig};
use pipeline::flow::Flow;
use pipeline::ofctl::{parse_flow, Mode};
use pipeline::packet::VecFrame;

/// Returns every frame to the pool; counts outputs.
struct Recycle {
    pool: Vec<VecFrame>,
    out: u64,
    dropped: u64,
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
}

fn tcp_seg(sport: u16, sip: u32, flags: u16, seq: u32, ack: u32, from_gw: bool) -> Vec<u8> {
    // gw0 (4e:99:..) -> remote backend2 10.222.2.34:80, or the reply on the tunnel.
    if from_gw {
        ipv4_frame(&Ipv4Spec {
            eth_src: mac("4e:99:08:c1:53:be"),
            eth_dst: mac("aa:bb:cc:dd:ee:ff"),
            src: sip,
            dst: ip("10.222.2.34"),
            ttl: 64,
            l4: L4Spec::Tcp {
                sport,
                dport: 80,
                flags,
                seq,
                ack,
                win: 65535,
            },
            payload: vec![0; 6],
            ..Default::default()
        })
    } else {
        ipv4_frame(&Ipv4Spec {
            eth_src: mac("02:d8:4e:3f:92:1d"),
            eth_dst: mac("aa:bb:cc:dd:ee:ff"),
            src: ip("10.222.2.34"),
            dst: sip,
            ttl: 63,
            l4: L4Spec::Tcp {
                sport: 80,
                dport: sport,
                flags,
                seq,
                ack,
                win: 65535,
            },
            ..Default::default()
        })
    }
}

fn run_bursts(
    fp: &mut FastPath<VecFrame>,
    b: &Bridge,
    sink: &mut Recycle,
    frames: &[(Vec<u8>, u32, Option<TunnelMeta>)],
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

fn antrea(c: &mut Criterion) {
    let mut g = c.benchmark_group("antrea_pipeline_established");
    g.sample_size(20);
    let cpn = perf::cycles_per_ns();
    for &n in &[1u32, 1_000, 50_000, 1_000_000] {
        let b = perf::seed_bridge(
            "worker1",
            ConntrackConfig {
                max_connections: 4 << 20,
                seed: 5,
                ..Default::default()
            },
        );
        let mut fp = FastPath::new(FastPathConfig {
            max_upcalls_per_burst: 64,
            ..Default::default()
        });
        let mut sink = Recycle {
            pool: (0..256).map(|_| VecFrame::new(&[0; 128])).collect(),
            out: 0,
            dropped: 0,
        };
        let flows: Vec<(u16, u32)> = (0..n)
            .map(|i| (1024 + (i % 60_000) as u16, ip("10.222.1.48") + (i / 60_000)))
            .collect();
        // Establish every connection with a real handshake through the fast path.
        let tun = Some(TunnelMeta {
            src: ip("10.79.1.202"),
            dst: ip("10.79.1.201"),
            ..Default::default()
        });
        for step in 0..3 {
            let hs: Vec<_> = flows
                .iter()
                .map(|&(sp, sip)| match step {
                    0 => (tcp_seg(sp, sip, 0x002, 1000, 0, true), 2, None),
                    1 => (tcp_seg(sp, sip, 0x012, 5000, 1001, false), 1, tun),
                    _ => (tcp_seg(sp, sip, 0x010, 1001, 5001, true), 2, None),
                })
                .collect();
            run_bursts(&mut fp, &b, &mut sink, &hs, 1);
        }
        assert_eq!(b.conntrack.len(), n as usize);
        // Established data from gw0 to the remote pod: tables 0,10,30 | 31,40,50,70,105,110.
        let data: Vec<_> = flows
            .iter()
            .map(|&(sp, sip)| (tcp_seg(sp, sip, 0x018, 1001, 5001, true), 2u32, None))
            .collect();
        // Pre-built bursts of 32 (wrapping around the flows), cycled through.
        let nb = data.len().div_ceil(32);
        let bursts: Vec<Vec<_>> = (0..nb)
            .map(|k| {
                (0..32)
                    .map(|j| data[(k * 32 + j) % data.len()].clone())
                    .collect()
            })
            .collect();
        let mut cursor = 0usize;
        g.throughput(Throughput::Elements(32));
        fp.stats = Default::default();
        g.bench_with_input(BenchmarkId::new("flows", n), &n, |bn, _| {
            bn.iter(|| {
                run_bursts(&mut fp, &b, &mut sink, &bursts[cursor], 2);
                cursor = (cursor + 1) % nb;
            })
        });
        let st = fp.stats;
        let per_pkt_cycles =
            (st.cycles_parse + st.cycles_lookup + st.cycles_upcall + st.cycles_actions) as f64
                / st.packets.max(1) as f64;
        println!(
            "flows={n}: {:.0} TSC cycles/packet in process_burst ({:.1} ns at {cpn:.2} cycles/ns); \
             passes/packet {:.2}; EMC hits {:.0}%, megaflow hits {:.0}%, upcalls {}, megaflows {}, masks {}; \
             parse {:.0}, lookup {:.0}, upcall {:.0}, actions {:.0} cycles/packet",
            per_pkt_cycles,
            per_pkt_cycles / cpn,
            st.passes as f64 / st.packets.max(1) as f64,
            100.0 * st.emc_hits as f64 / st.passes.max(1) as f64,
            100.0 * st.megaflow_hits as f64 / st.passes.max(1) as f64,
            st.upcalls,
            fp.n_megaflows(),
            fp.n_masks(),
            st.cycles_parse as f64 / st.packets.max(1) as f64,
            st.cycles_lookup as f64 / st.packets.max(1) as f64,
            st.cycles_upcall as f64 / st.packets.max(1) as f64,
            st.cycles_actions as f64 / st.packets.max(1) as f64,
        );
    }
    g.finish();
}

fn simple_bridge(flows: &[String]) -> Bridge {
    let b = Bridge::new("br0", ConntrackConfig::default());
    for p in 1..=4 {
        b.add_port(PortInfo::new(p, &format!("p{p}"), PortKind::Normal))
            .unwrap();
    }
    let fl: Vec<_> = flows
        .iter()
        .map(|f| parse_flow(f, Mode::Add, b.ports().names()).unwrap())
        .collect();
    b.add_flows(&fl, 0).unwrap();
    b
}

fn emc_and_megaflows(c: &mut Criterion) {
    let mut g = c.benchmark_group("fastpath");
    g.throughput(Throughput::Elements(32));
    // EMC hit: one flow, 32 identical packets per burst, parse + hash + EMC + output.
    let b = simple_bridge(&["in_port=1 actions=mod_dl_dst:00:00:00:00:00:02,output:2".into()]);
    let mut fp = FastPath::new(FastPathConfig {
        emc_insert_inv_prob: 1,
        ..Default::default()
    });
    let mut sink = Recycle {
        pool: (0..64).map(|_| VecFrame::new(&[0; 128])).collect(),
        out: 0,
        dropped: 0,
    };
    let frame = pipeline::build::udp_frame(1, 2, ip("10.0.0.1"), ip("10.0.0.2"), 1, 2, &[0; 18]);
    let burst: Vec<_> = (0..32).map(|_| (frame.clone(), 1u32, None)).collect();
    run_bursts(&mut fp, &b, &mut sink, &burst, 1);
    g.bench_function("emc_hit_burst32", |bn| {
        bn.iter(|| run_bursts(&mut fp, &b, &mut sink, &burst, 2))
    });
    assert!(fp.stats.emc_hits > 0);
    // Megaflow lookups with the EMC off: k masks, the hit in the last-ranked one on
    // average.
    for &k in &[1usize, 8, 32] {
        let flows: Vec<String> = (0..k)
            .map(|i| {
                let plen = 32 - i % 24;
                format!(
                    "priority={},ip,nw_dst=10.{i}.0.0/{plen} actions=output:2",
                    100 + i
                )
            })
            .chain(std::iter::once("priority=1 actions=output:3".to_string()))
            .collect();
        let b = simple_bridge(&flows);
        let mut fp = FastPath::new(FastPathConfig {
            emc_insert_inv_prob: 0,
            ..Default::default()
        });
        let pkts: Vec<_> = (0..32u32)
            .map(|i| {
                let t = (i as usize) % k;
                let dst = (10u32 << 24) | ((t as u32) << 16) | 1;
                (
                    pipeline::build::udp_frame(1, 2, ip("10.9.9.9"), dst, 1, 2, &[]),
                    1u32,
                    None,
                )
            })
            .collect();
        run_bursts(&mut fp, &b, &mut sink, &pkts, 1);
        g.bench_with_input(BenchmarkId::new("megaflow_lookup_masks", k), &k, |bn, _| {
            bn.iter(|| run_bursts(&mut fp, &b, &mut sink, &pkts, 2))
        });
    }
    g.finish();
}

criterion_group!(benches, emc_and_megaflows, antrea);
criterion_main!(benches);
