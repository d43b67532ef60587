//! Parsing the seed's Antrea flows (the flow language's throughput): each node's file with
//! its own port names, and printing them back.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pipeline::ofctl::{format_flow, parse_flow_file, Mode, PortMap};
use std::hint::black_box;

fn ports(node: &str) -> PortMap {
    let mut p = PortMap::new();
    for &(n, num, _) in pipeline::seed::ports(node) {
        p.insert(n, num);
    }
    p
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow_language");
    for node in ["worker1", "worker2"] {
        let text = perf::seed_flows(node);
        let p = ports(node);
        let n = text.lines().filter(|l| !l.trim().is_empty()).count() as u64;
        g.throughput(Throughput::Elements(n));
        g.bench_function(format!("parse_{node}_{n}_flows"), |b| {
            b.iter(|| {
                let (f, e) = parse_flow_file(black_box(&text), Mode::Add, &p);
                assert!(e.is_empty());
                f
            })
        });
        let (flows, _) = parse_flow_file(&text, Mode::Add, &p);
        g.bench_function(format!("print_{node}_{n}_flows"), |b| {
            b.iter(|| {
                flows
                    .iter()
                    .map(|(_, f)| format_flow(black_box(f), &p, None).len())
                    .sum::<usize>()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
