//! The fast path in isolation: EMC hits and megaflow lookups with 1/8/32 masks, bursts
//! of 32, frames recycled through a pool so no iteration allocates; fragment reassembly.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use perf::burst::{run_bursts, Recycle};
use pipeline::bridge::{Bridge, PortInfo, PortKind};
use pipeline::build::ip;
use pipeline::conntrack::ConntrackConfig;
use pipeline::fastpath::{FastPath, FastPathConfig};
use pipeline::ofctl::{parse_flow, Mode};

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
    let cpn = perf::cycles_per_ns();
    // EMC hit: one flow, 32 identical packets per burst, parse + hash + EMC + output.
    let b = simple_bridge(&["in_port=1 actions=mod_dl_dst:00:00:00:00:00:02,output:2".into()]);
    let mut fp = FastPath::new(FastPathConfig {
        emc_insert_inv_prob: 1,
        ..Default::default()
    });
    let mut sink = Recycle::new(64);
    let frame = pipeline::build::udp_frame(1, 2, ip("10.0.0.1"), ip("10.0.0.2"), 1, 2, &[0; 18]);
    let burst: Vec<_> = (0..32).map(|_| (frame.clone(), 1u32, None)).collect();
    run_bursts(&mut fp, &b, &mut sink, &burst, 1);
    fp.stats = Default::default();
    g.bench_function("emc_hit_burst32", |bn| {
        bn.iter(|| run_bursts(&mut fp, &b, &mut sink, &burst, 2))
    });
    let st = fp.stats;
    assert!(st.emc_hits > 0 && st.upcalls == 0);
    let cyc = (st.cycles_parse + st.cycles_lookup + st.cycles_upcall + st.cycles_actions) as f64
        / st.packets.max(1) as f64;
    println!(
        "emc_hit: {cyc:.0} TSC cycles/packet inside process_burst ({:.1} ns at {cpn:.2} cycles/ns; \
         the rest of the iteration is the harness refilling frames); parse {:.0}, lookup {:.0}, \
         actions {:.0} cycles/packet; EMC hits {:.1}%",
        cyc / cpn,
        st.cycles_parse as f64 / st.packets as f64,
        st.cycles_lookup as f64 / st.packets as f64,
        st.cycles_actions as f64 / st.packets as f64,
        100.0 * st.emc_hits as f64 / st.passes as f64,
    );
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

/// A meter on the EMC-hit path: one flow `meter:1,output:2`, bursts of 32, the band never
/// exceeded (each burst's group pays once) and always exceeded (every packet is taken
/// alone and dropped) — against `emc_hit_burst32` without the meter.
fn metered(c: &mut Criterion) {
    use pipeline::meter::{flags, MeterBand, MeterConfig};
    use pipeline::tables::MeterMod;
    let mut g = c.benchmark_group("fastpath");
    g.throughput(Throughput::Elements(32));
    let frame = pipeline::build::udp_frame(1, 2, ip("10.0.0.1"), ip("10.0.0.2"), 1, 2, &[0; 18]);
    let burst: Vec<_> = (0..32).map(|_| (frame.clone(), 1u32, None)).collect();
    for (name, rate) in [
        ("meter_under_rate_burst32", u32::MAX),
        ("meter_over_rate_burst32", 1),
    ] {
        let b = simple_bridge(&[]);
        let m = MeterConfig {
            id: 1,
            flags: flags::PKTPS | flags::BURST,
            bands: vec![MeterBand {
                rate,
                burst_size: rate,
            }],
        };
        b.apply_meters(&[MeterMod::Add(m)], 0).unwrap();
        let f = parse_flow(
            "in_port=1 actions=meter:1,mod_dl_dst:00:00:00:00:00:02,output:2",
            Mode::Add,
            b.ports().names(),
        )
        .unwrap();
        b.add_flows(&[f], 0).unwrap();
        let mut fp = FastPath::new(FastPathConfig {
            emc_insert_inv_prob: 1,
            ..Default::default()
        });
        let mut sink = Recycle::new(64);
        run_bursts(&mut fp, &b, &mut sink, &burst, 1);
        fp.stats = Default::default();
        g.bench_function(name, |bn| {
            bn.iter(|| run_bursts(&mut fp, &b, &mut sink, &burst, 2))
        });
        let st = fp.stats;
        let dropped = st.drops[pipeline::dpaction::DropReason::Meter.index()];
        println!(
            "{name}: actions {:.0} cycles/packet, {:.0}% dropped by the meter",
            st.cycles_actions as f64 / st.packets.max(1) as f64,
            100.0 * dropped as f64 / st.packets.max(1) as f64
        );
    }
}

/// Fragment reassembly through `ct`: 10 UDP datagrams of 4,000 bytes in 3 fragments each
/// per burst of 30 (held, reassembled into the worker's buffer, tracked once, placed back
/// into slots), against the same datagrams unfragmented through the same flows.
fn reassembly(c: &mut Criterion) {
    let mut g = c.benchmark_group("ipf");
    let cpn = perf::cycles_per_ns();
    let b = simple_bridge(&[
        "table=0,ip actions=ct(table=1,zone=1)".into(),
        "table=1 actions=output:2".into(),
    ]);
    let payload = vec![0x5a; 4000];
    let whole: Vec<Vec<u8>> = (0..10u16)
        .map(|i| {
            pipeline::build::udp_frame(1, 2, ip("10.0.0.1"), ip("10.0.0.2"), 1000 + i, 53, &payload)
        })
        .collect();
    let frags: Vec<_> = whole
        .iter()
        .enumerate()
        .flat_map(|(i, d)| pipeline::build::fragment(d, 1480, i as u32))
        .map(|f| (f, 1u32, None))
        .collect();
    let whole: Vec<_> = whole.into_iter().map(|f| (f, 1u32, None)).collect();
    for (name, frames) in [("fragments_30", &frags), ("datagrams_10", &whole)] {
        let mut fp = FastPath::new(FastPathConfig::default());
        let mut sink = Recycle::new(64);
        run_bursts(&mut fp, &b, &mut sink, frames, 1);
        fp.stats = Default::default();
        g.throughput(Throughput::Elements(frames.len() as u64));
        g.bench_function(name, |bn| {
            bn.iter(|| run_bursts(&mut fp, &b, &mut sink, frames, 2))
        });
        let st = fp.stats;
        assert_eq!(st.drops.iter().sum::<u64>(), 0);
        let cyc = st.cycles() as f64 / st.packets.max(1) as f64;
        println!(
            "ipf {name}: {cyc:.0} TSC cycles/packet inside process_burst ({:.0} ns), actions {:.0}",
            cyc / cpn,
            st.cycles_actions as f64 / st.packets as f64
        );
    }
    assert_eq!(b.conntrack.ipf.status().nfrag, 0);
}

criterion_group!(benches, emc_and_megaflows, metered, reassembly);
criterion_main!(benches);
