//! The whole Antrea pipeline on the fast path: worker1's flows, conntrack on, established
//! TCP from gw0 to a remote pod (three passes per packet: tables 0-30, 31-110 after each
//! ct recirculation) for 1, 1k, 50k and 1M connections. Prints TSC cycles per packet by
//! stage after each size.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use perf::burst::{run_bursts, Recycle};
use pipeline::build::{ip, ipv4_frame, mac, Ipv4Spec, L4Spec};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::TunnelMeta;

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

fn antrea(c: &mut Criterion) {
    let mut g = c.benchmark_group("antrea_pipeline_established");
    g.sample_size(20);
    let cpn = perf::cycles_per_ns();
    // `BRISK_BENCH_CONNS=1,50000` measures only those (setting up 1M connections takes
    // most of a run, and a profile of one point should not see the others' setup).
    let conns: Vec<u32> = std::env::var("BRISK_BENCH_CONNS").map_or_else(
        |_| vec![1, 1_000, 50_000, 1_000_000],
        |v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
    );
    for &n in &conns {
        let b = perf::seed_bridge(
            "worker1",
            ConntrackConfig {
                max_connections: 4 << 20,
                seed: 5,
                ..Default::default()
            },
        );
        let mut fp = perf::burst::bench_fastpath();
        let mut sink = Recycle::new(256);
        let flows = perf::burst::client_ends(n);
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
        let bursts = perf::burst::bursts_of_32(&data);
        let nb = bursts.len();
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
        println!(
            "flows={n}: {}; EMC hits {:.0}%, chain hits {:.0}%, ct hints learned {}, megaflow hits {:.0}% ({:.2} subtables/hit), upcalls {}, megaflows {}, masks {}",
            perf::burst::stage_report(&st, cpn),
            100.0 * st.emc_hits as f64 / st.passes.max(1) as f64,
            100.0 * st.chain_hits as f64 / st.passes.max(1) as f64,
            st.ct_hints_learned,
            100.0 * st.megaflow_hits as f64 / st.passes.max(1) as f64,
            st.subtable_lookups as f64 / st.megaflow_hits.max(1) as f64,
            st.upcalls,
            fp.n_megaflows(),
            fp.n_masks(),
        );
    }
    g.finish();
}

criterion_group!(benches, antrea);
criterion_main!(benches);
