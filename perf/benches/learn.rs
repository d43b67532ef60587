//! `learn`: what a megaflow holding a learn action costs per hit (the refresh check)
//! against the same flow without it; what one new source costs a worker (upcall,
//! translation, learned flow); and what the learner pays to install a batch of learned
//! flows into a table that already holds many (the version copies the table).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use perf::burst::{run_bursts, Recycle};
use pipeline::bridge::{Bridge, PortInfo, PortKind};
use pipeline::build::ip;
use pipeline::conntrack::ConntrackConfig;
use pipeline::fastpath::{FastPath, FastPathConfig};
use pipeline::ofctl::{parse_flow, Mode};
use std::time::{Duration, Instant};

const LEARN: &str = "in_port=1,udp actions=learn(table=10,hard_timeout=300,priority=10,eth_type=0x800,nw_proto=17,NXM_OF_IP_SRC[],load:NXM_OF_UDP_SRC[]->NXM_NX_REG0[0..15]),output:2";

fn bridge(flow: &str) -> Bridge {
    let b = Bridge::new("br0", ConntrackConfig::default());
    for p in 1..=4 {
        b.add_port(PortInfo::new(p, &format!("p{p}"), PortKind::Normal))
            .unwrap();
    }
    let f = parse_flow(flow, Mode::Add, b.ports().names()).unwrap();
    b.add_flows(&[f], 0).unwrap();
    b
}

fn frame(src: u32) -> Vec<u8> {
    pipeline::build::udp_frame(1, 2, src, ip("10.0.0.2"), 1, 2, &[0; 18])
}

/// The hit path: 32 packets of one megaflow per burst, with and without `learn`.
fn hits(c: &mut Criterion) {
    let mut g = c.benchmark_group("learn");
    g.throughput(Throughput::Elements(32));
    let burst: Vec<_> = (0..32)
        .map(|_| (frame(ip("10.0.0.1")), 1u32, None))
        .collect();
    for (name, flow) in [
        ("emc_hit_plain_burst32", "in_port=1,udp actions=output:2"),
        ("emc_hit_learn_burst32", LEARN),
    ] {
        let b = bridge(flow);
        let mut fp = FastPath::new(FastPathConfig {
            emc_insert_inv_prob: 1,
            ..Default::default()
        });
        let mut sink = Recycle::new(64);
        run_bursts(&mut fp, &b, &mut sink, &burst, 1);
        fp.stats = Default::default();
        let mut now = 2;
        g.bench_function(name, |bn| {
            bn.iter(|| {
                // Time moves 1 ms a burst: a refresh every 500 bursts.
                now += 1;
                run_bursts(&mut fp, &b, &mut sink, &burst, now);
                sink.learned.clear();
            })
        });
        let st = fp.stats;
        println!(
            "{name}: actions {:.1} cycles/packet, {:.0} cycles/packet inside process_burst",
            st.cycles_actions as f64 / st.packets.max(1) as f64,
            (st.cycles_parse + st.cycles_lookup + st.cycles_upcall + st.cycles_actions) as f64
                / st.packets.max(1) as f64
        );
    }
}

/// New sources, the worker's side: bursts of 32 packets from 32 new addresses, each an
/// upcall, a translation and a learned flow queued (the learner's side is [`install`]).
/// The fast path starts over every 100,000 sources.
fn new_sources(c: &mut Criterion) {
    let mut g = c.benchmark_group("learn");
    g.throughput(Throughput::Elements(32));
    let b = bridge(LEARN);
    let mut next = 0u32;
    let cfg = FastPathConfig {
        max_upcalls_per_burst: 32,
        ..Default::default()
    };
    let mut fp = FastPath::new(cfg);
    let mut sink = Recycle::new(64);
    g.bench_function("new_sources_upcall_burst32", |bn| {
        bn.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let burst: Vec<_> = (0..32)
                    .map(|k| (frame(0x0b00_0000 + (next + k) % 0x00ff_ffff), 1u32, None))
                    .collect();
                next += 32;
                let t = Instant::now();
                run_bursts(&mut fp, &b, &mut sink, &burst, 1);
                total += t.elapsed();
                assert_eq!(sink.learned.len(), 32);
                sink.learned.clear();
                if next % 100_000 < 32 {
                    fp = FastPath::new(cfg);
                }
            }
            total
        })
    });
}

/// The learner alone: one batch of B new learned flows into a table of N (a version
/// copies the chunks of the table the batch touches: bigger batches amortize it).
fn install(c: &mut Criterion) {
    let mut g = c.benchmark_group("learn");
    g.sample_size(10);
    for (n, bsz) in [(1_000u32, 1_024u32), (100_000, 1_024), (100_000, 16_384)] {
        g.throughput(Throughput::Elements(u64::from(bsz)));
        let b = bridge(LEARN);
        // Learned flows, made by the datapath from packets.
        let make = |net: u32, from: u32, count: u32| {
            let mut sink = Recycle::new(64);
            let mut fp = FastPath::new(FastPathConfig {
                max_upcalls_per_burst: 32,
                ..Default::default()
            });
            let frames: Vec<_> = (from..from + count)
                .map(|s| (frame((net << 24) + s), 1u32, None))
                .collect();
            run_bursts(&mut fp, &b, &mut sink, &frames, 1);
            sink.learned
        };
        let base = make(12, 0, n);
        b.learn(&base, 1);
        let mut from = n;
        g.bench_function(format!("install_{bsz}_into_{n}"), |bn| {
            bn.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let batch = make(13, from % 0x00ff_0000, bsz);
                    from += bsz;
                    let t = Instant::now();
                    let s = b.learn(&batch, 1);
                    total += t.elapsed();
                    assert_eq!(s.added, bsz as usize);
                    // Back to n flows (outside the timing): delete what was added.
                    let del = pipeline::tables::FlowMod::Delete {
                        filter: parse_flow(
                            "table=10,ip,nw_src=13.0.0.0/8",
                            Mode::Delete,
                            b.ports().names(),
                        )
                        .unwrap(),
                        strict: false,
                        out_group: None,
                    };
                    b.apply(&[del], 1).unwrap();
                }
                total
            })
        });
    }
}

criterion_group!(benches, hits, new_sources, install);
criterion_main!(benches);
