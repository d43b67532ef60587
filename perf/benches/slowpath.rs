//! The slow path: a full translation + execution of the seed's W2 walk, and the OpenFlow
//! classifier on a 1,000-rule table.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pipeline::build::{ip, mac, tcp_frame};
use pipeline::classifier::Classifier;
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::{Collect, Packet};
use pipeline::field::Field;
use pipeline::flow::Flow;
use pipeline::packet::{extract, VecFrame};
use pipeline::slowpath::process;
use pipeline::xlate::translate;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let b = perf::seed_bridge("worker1", ConntrackConfig::default());
    let frame = tcp_frame(
        mac("4e:99:08:c1:53:be"),
        mac("aa:bb:cc:dd:ee:ff"),
        ip("10.222.1.48"),
        ip("10.222.2.34"),
        56670,
        80,
        0x002,
        64,
    );
    let mut g = c.benchmark_group("slow_path");
    g.throughput(Throughput::Elements(1));
    // Translation only (pass 1 of W2: tables 0, 10, 30).
    let mut key = Flow::ZERO;
    extract(&frame, 2, &mut key);
    g.bench_function("translate_w2_pass1", |bn| {
        bn.iter(|| translate(&b, black_box(&key), 1, None).actions.len())
    });
    // The whole walk: three translations, two conntrack passes (lookup, commit), tunnel
    // output. Each iteration is a new connection (source port varies) so conntrack commits.
    let mut sport = 1024u16;
    g.bench_function("w2_full_walk_new_connection", |bn| {
        bn.iter(|| {
            sport = sport.wrapping_add(1).max(1024);
            let mut f = frame.clone();
            f[34..36].copy_from_slice(&sport.to_be_bytes());
            // The TCP checksum follows the port (conntrack takes a bad one as invalid).
            let c = u16::from_be_bytes([f[50], f[51]]);
            let c = pipeline::wire::checksum::update16(c, 56670, sport);
            f[50..52].copy_from_slice(&c.to_be_bytes());
            let pkt = Packet::new(VecFrame::new(&f), 2, None);
            let mut out = Collect::new();
            process(&b, pkt, 1, &mut out, None);
            assert_eq!(out.outputs.len(), 1);
        })
    });
    g.finish();

    // Classifier: 1,000 rules over 10 masks (like a big Antrea policy table), lookups that
    // hit and miss.
    let mut cls: Classifier<u32> = Classifier::new();
    for i in 0..1000u32 {
        let mut v = Flow::ZERO;
        let mut m = Flow::ZERO;
        Field::EthType.set(&mut v, 0x0800);
        Field::EthType.set(&mut m, 0xffff);
        let plen = 24 + (i % 10) as u8 / 2;
        let mask = (u32::MAX << (32 - u32::from(plen))) as u128;
        Field::NwDst.set(&mut v, u128::from(0x0a00_0000 | (i << 8)) & mask);
        Field::NwDst.set(&mut m, mask);
        if i % 2 == 0 {
            Field::NwProto.set(&mut v, 6);
            Field::NwProto.set(&mut m, 0xff);
            Field::TpDst.set(&mut v, u128::from(80 + (i % 7) as u16));
            Field::TpDst.set(&mut m, 0xffff);
        }
        cls.insert(&v, &m, (i % 100) as u16 + 1, &[], i);
    }
    let mut hit = Flow::ZERO;
    Field::EthType.set(&mut hit, 0x0800);
    Field::NwProto.set(&mut hit, 6);
    Field::NwDst.set(&mut hit, u128::from(0x0a00_0000u32 | (500 << 8) | 7));
    Field::TpDst.set(&mut hit, 80 + (500 % 7));
    let mut miss = hit;
    Field::NwDst.set(&mut miss, u128::from(0x0b00_0001u32));
    let mut g = c.benchmark_group("classifier_1000_rules");
    g.throughput(Throughput::Elements(1));
    g.bench_function("lookup_hit", |bn| {
        bn.iter(|| cls.lookup(black_box(&hit), None).map(|r| *r.payload))
    });
    g.bench_function("lookup_miss", |bn| {
        bn.iter(|| cls.lookup(black_box(&miss), None).map(|r| *r.payload))
    });
    g.bench_function("lookup_hit_with_wildcards", |bn| {
        bn.iter(|| {
            let mut wc = Flow::ZERO;
            cls.lookup(black_box(&hit), Some(&mut wc))
                .map(|r| *r.payload)
        })
    });
    g.finish();
    println!("TSC: {:.2} cycles/ns", perf::cycles_per_ns());
}

criterion_group!(benches, bench);
criterion_main!(benches);
