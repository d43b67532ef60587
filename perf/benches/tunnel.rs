//! The Antrea pipeline through the tunnel, whole: worker1's flows with conntrack and its
//! underlay, established TCP between gw0 and the remote pod backend2 (10.222.2.34, on
//! worker2). "encap": gw0 -> backend2, the megaflow's `tnl_push` builds the outer headers
//! from its template. "decap": backend2 -> gw0 arriving as Geneve on the uplink, the
//! decapsulation stage pops it before the lookup. 1, 1k and 50k connections; TSC cycles
//! per packet by stage after each size (`tunnel` stages are inside parse/actions).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use perf::burst::Recycle;
use pipeline::bridge::Bridge;
use pipeline::build::{ip, ipv4_frame, mac, Ipv4Spec, L4Spec};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::TunnelMeta;
use pipeline::fastpath::FastPath;
use pipeline::geneve::{self, PushParams};
use pipeline::packet::VecFrame;
use pipeline::seed::{node_ip, node_mac, with_underlay, UPLINK_PORT};

/// A TCP segment gw0 -> backend2 (`from_gw`) or back.
fn seg(sport: u16, sip: u32, flags: u16, seq: u32, ack: u32, from_gw: bool) -> Vec<u8> {
    let (eth_src, src, dst, sp, dp) = if from_gw {
        (mac("4e:99:08:c1:53:be"), sip, ip("10.222.2.34"), sport, 80)
    } else {
        (mac("02:d8:4e:3f:92:1d"), ip("10.222.2.34"), sip, 80, sport)
    };
    ipv4_frame(&Ipv4Spec {
        eth_src,
        eth_dst: mac("aa:bb:cc:dd:ee:ff"),
        src,
        dst,
        ttl: 64,
        l4: L4Spec::Tcp {
            sport: sp,
            dport: dp,
            flags,
            seq,
            ack,
            win: 65535,
        },
        payload: vec![0; 6],
        ..Default::default()
    })
}

/// worker2's encapsulation of an inner frame to worker1.
fn from_worker2(inner: &[u8], hash: u32) -> Vec<u8> {
    let meta = TunnelMeta {
        src: node_ip("worker2"),
        dst: node_ip("worker1"),
        ..Default::default()
    };
    let p = PushParams {
        src_mac: node_mac("worker2"),
        dst_mac: node_mac("worker1"),
        local_ip: node_ip("worker2"),
        dst_port: geneve::GENEVE_PORT,
        csum: false,
        ttl: 64,
        ip_id: 0,
    };
    let mut f = VecFrame::new(inner);
    geneve::push(&mut f, &meta, &Default::default(), &p, hash, 9000).unwrap();
    f.to_vec()
}

/// Receives `frames` on `port` in bursts of 32, frames recycled through the sink.
fn rx(fp: &mut FastPath<VecFrame>, b: &Bridge, sink: &mut Recycle, port: u32, frames: &[Vec<u8>]) {
    for chunk in frames.chunks(32) {
        let burst: smallvec::SmallVec<[VecFrame; 32]> = chunk
            .iter()
            .map(|bytes| {
                let mut f = sink.pool.pop().unwrap_or_else(|| VecFrame::new(&[]));
                f.reset(bytes);
                f
            })
            .collect();
        fp.receive_burst(b, port, burst, 2, sink);
    }
}

fn tunnel(c: &mut Criterion) {
    let mut g = c.benchmark_group("tunnel_established");
    g.sample_size(20);
    let cpn = perf::cycles_per_ns();
    for &n in &[1u32, 1_000, 50_000] {
        let b = perf::seed_bridge(
            "worker1",
            ConntrackConfig {
                max_connections: 1 << 20,
                seed: 5,
                ..Default::default()
            },
        );
        with_underlay(&b, "worker1", 1500, true);
        let mut fp = perf::burst::bench_fastpath();
        let mut sink = Recycle::new(256);
        let flows = perf::burst::client_ends(n);
        let syn: Vec<_> = flows
            .iter()
            .map(|&(sp, sip)| seg(sp, sip, 0x002, 1000, 0, true))
            .collect();
        rx(&mut fp, &b, &mut sink, 2, &syn);
        let syn_ack: Vec<_> = flows
            .iter()
            .map(|&(sp, sip)| from_worker2(&seg(sp, sip, 0x012, 5000, 1001, false), u32::from(sp)))
            .collect();
        rx(&mut fp, &b, &mut sink, UPLINK_PORT, &syn_ack);
        let ack: Vec<_> = flows
            .iter()
            .map(|&(sp, sip)| seg(sp, sip, 0x010, 1001, 5001, true))
            .collect();
        rx(&mut fp, &b, &mut sink, 2, &ack);
        assert_eq!(b.conntrack.len(), n as usize);
        g.throughput(Throughput::Elements(32));
        for (name, port, frames) in [
            (
                "encap",
                2u32,
                flows
                    .iter()
                    .map(|&(sp, sip)| seg(sp, sip, 0x018, 1001, 5001, true))
                    .collect::<Vec<_>>(),
            ),
            (
                "decap",
                UPLINK_PORT,
                flows
                    .iter()
                    .map(|&(sp, sip)| {
                        from_worker2(&seg(sp, sip, 0x018, 5001, 1007, false), u32::from(sp))
                    })
                    .collect(),
            ),
        ] {
            let bs = perf::burst::bursts_of_32(&frames);
            let nb = bs.len();
            let mut cursor = 0usize;
            fp.stats = Default::default();
            sink.out = 0;
            g.bench_with_input(BenchmarkId::new(name, n), &n, |bn, _| {
                bn.iter(|| {
                    rx(&mut fp, &b, &mut sink, port, &bs[cursor]);
                    cursor = (cursor + 1) % nb;
                })
            });
            let st = fp.stats;
            assert_eq!(sink.out, st.packets, "{name}: every packet forwarded");
            println!(
                "{name} flows={n}: {}; tunnel rx {} tx {}, megaflows {}",
                perf::burst::stage_report(&st, cpn),
                st.tunnel.rx_packets,
                st.tunnel.tx_packets,
                fp.n_megaflows(),
            );
        }
    }
    g.finish();
}

criterion_group!(benches, tunnel);
criterion_main!(benches);
