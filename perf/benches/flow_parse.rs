//! Parsing the seed's 129 Antrea flows (the flow language's throughput).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pipeline::ofctl::{format_flow, parse_flow_file, Mode, PortMap};
use std::hint::black_box;

fn ports() -> PortMap {
    let mut p = PortMap::new();
    for node in ["worker1", "worker2"] {
        for &(n, num, _) in pipeline::seed::ports(node) {
            p.insert(n, num);
        }
    }
    p
}

fn bench(c: &mut Criterion) {
    let text = format!(
        "{}\n{}",
        perf::seed_flows("worker1"),
        perf::seed_flows("worker2")
    );
    let p = ports();
    let n = text.lines().filter(|l| !l.trim().is_empty()).count() as u64;
    let mut g = c.benchmark_group("flow_language");
    g.throughput(Throughput::Elements(n));
    g.bench_function("parse_seed_129_flows", |b| {
        b.iter(|| {
            let (f, e) = parse_flow_file(black_box(&text), Mode::Add, &p);
            assert!(e.is_empty());
            f
        })
    });
    let (flows, _) = parse_flow_file(&text, Mode::Add, &p);
    g.bench_function("print_seed_129_flows", |b| {
        b.iter(|| {
            flows
                .iter()
                .map(|(_, f)| format_flow(black_box(f), &p, None).len())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
