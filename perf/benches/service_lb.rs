//! AntreaProxy in the switch (worker1 generated with `proxy: antrea-proxy`): what a service
//! connection costs against a direct pod-to-pod one on the same pipeline.
//! - `new_connection`: the slow path for a frontend SYN (classifier walk, conntrack, the
//!   select group, the DNAT commit): to backendsvc's cluster IP vs to backend1 directly.
//! - `established`: the fast path for established data, 1 and 1,000 connections: to the
//!   cluster IP (conntrack DNATs every packet, the packet is routed: MACs rewritten, TTL
//!   decremented) vs to backend1 directly (same subnet: switched as it is).
//!
//! Prints TSC cycles per packet by stage for the established cases.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use perf::burst::{run_bursts, Recycle};
use pipeline::bridge::Bridge;
use pipeline::build::{ip, mac, tcp_frame};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::{Collect, Packet};
use pipeline::fastpath::{FastPath, FastPathConfig};
use pipeline::packet::VecFrame;

const FE_MAC: &str = "be:2c:bf:e4:ec:c5";
const GW_MAC: &str = "4e:99:08:c1:53:be";
const BE1_MAC: &str = "f2:32:d8:07:e2:a6";

fn proxied_worker1() -> Bridge {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/examples/worker1.yaml");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("proxy: kube-proxy", "proxy: antrea-proxy");
    let n = conf::node::NodeConfig::parse(&text, "worker1.yaml").unwrap();
    // Keep the service on the local endpoint only, so every connection takes one path.
    let mut n = n;
    n.services[0]
        .endpoints
        .retain(|e| e.starts_with("10.222.1.47"));
    let g = conf::antrea::generate(&n);
    pipeline::seed::bridge_with_groups(
        "worker1",
        &g.groups_text(),
        &g.text(),
        ConntrackConfig {
            max_connections: 4 << 20,
            seed: 5,
            ..Default::default()
        },
    )
}

fn frontend(sport: u16, dst: &str, flags: u16) -> Vec<u8> {
    let dmac = if dst == "10.222.1.47" {
        BE1_MAC
    } else {
        GW_MAC
    };
    tcp_frame(
        mac(FE_MAC),
        mac(dmac),
        ip("10.222.1.48"),
        ip(dst),
        sport,
        80,
        flags,
        64,
    )
}

fn reply(sport: u16, flags: u16) -> Vec<u8> {
    tcp_frame(
        mac(BE1_MAC),
        mac(FE_MAC),
        ip("10.222.1.47"),
        ip("10.222.1.48"),
        80,
        sport,
        flags,
        64,
    )
}

fn new_connection(c: &mut Criterion) {
    let mut g = c.benchmark_group("service_lb_new_connection");
    g.throughput(Throughput::Elements(1));
    for (name, dst) in [("cluster_ip", "10.104.65.133"), ("direct", "10.222.1.47")] {
        let b = proxied_worker1();
        let mut sport = 0u16;
        let mut out = Collect::<VecFrame>::new();
        g.bench_function(name, |bn| {
            bn.iter(|| {
                sport = sport.wrapping_add(1);
                out.outputs.clear();
                pipeline::slowpath::process(
                    &b,
                    Packet::new(VecFrame::new(&frontend(sport, dst, 0x002)), 49, None),
                    1,
                    &mut out,
                    None,
                );
                assert_eq!(out.outputs.len(), 1);
            })
        });
    }
    g.finish();
}

fn established(c: &mut Criterion) {
    let mut g = c.benchmark_group("service_lb_established");
    g.sample_size(20);
    let cpn = perf::cycles_per_ns();
    for &n in &[1u16, 1_000] {
        for (name, dst) in [("cluster_ip", "10.104.65.133"), ("direct", "10.222.1.47")] {
            let b = proxied_worker1();
            let mut fp = FastPath::new(FastPathConfig {
                max_upcalls_per_burst: 64,
                ..Default::default()
            });
            let mut sink = Recycle::new(256);
            let ports: Vec<u16> = (0..n).map(|i| 20_000 + i).collect();
            for step in 0..3 {
                let hs: Vec<_> = ports
                    .iter()
                    .map(|&sp| match step {
                        0 => (frontend(sp, dst, 0x002), 49, None),
                        1 => (reply(sp, 0x012), 48, None),
                        _ => (frontend(sp, dst, 0x010), 49, None),
                    })
                    .collect();
                run_bursts(&mut fp, &b, &mut sink, &hs, 1);
            }
            assert_eq!(b.conntrack.len(), usize::from(n), "{name}");
            let data: Vec<_> = ports
                .iter()
                .map(|&sp| (frontend(sp, dst, 0x018), 49u32, None))
                .collect();
            let bursts = perf::burst::bursts_of_32(&data);
            let nb = bursts.len();
            let mut cursor = 0usize;
            g.throughput(Throughput::Elements(32));
            fp.stats = Default::default();
            sink.dropped = 0;
            g.bench_with_input(BenchmarkId::new(name, n), &n, |bn, _| {
                bn.iter(|| {
                    run_bursts(&mut fp, &b, &mut sink, &bursts[cursor], 2);
                    cursor = (cursor + 1) % nb;
                })
            });
            assert_eq!(sink.dropped, 0, "{name}: established packets dropped");
            println!(
                "{name} flows={n}: {}",
                perf::burst::stage_report(&fp.stats, cpn)
            );
        }
    }
    g.finish();
}

criterion_group!(benches, new_connection, established);
criterion_main!(benches);
