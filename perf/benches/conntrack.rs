//! Conntrack: lookup of an established TCP connection in tables of 1, 10k and 100k
//! connections; a packet of an established (bidirectional) UDP connection, taking the
//! connection's lock and without it (`ct/hot.rs`); and commit of a new connection.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pipeline::build::{ip, ipv4_packet, Ipv4Spec, L4Spec};
use pipeline::conntrack::{Conntrack, ConntrackConfig, CtCommand, CtPacket};
use std::hint::black_box;

fn tcp(src: u32, sport: u16, dst: u32, dport: u16, flags: u16, seq: u32, ack: u32) -> Vec<u8> {
    ipv4_packet(&Ipv4Spec {
        src,
        dst,
        l4: L4Spec::Tcp {
            sport,
            dport,
            flags,
            seq,
            ack,
            win: 65535,
        },
        ..Default::default()
    })
}

fn ctp(b: &[u8], src: u32, sport: u16, dst: u32, dport: u16, flags: u16) -> CtPacket<'_> {
    CtPacket {
        eth_type: 0x0800,
        src: u128::from(src),
        dst: u128::from(dst),
        proto: 6,
        src_port: sport,
        dst_port: dport,
        tcp_flags: flags,
        l4: &b[20..],
        l4_len: b.len() - 20,
        is_fragment: false,
        csum_ok: true,
    }
}

const COMMIT: CtCommand = CtCommand {
    zone: 65520,
    commit: true,
    force: false,
    nat: None,
    set_mark: None,
    set_label: None,
};
const LOOKUP: CtCommand = CtCommand {
    commit: false,
    ..COMMIT
};

/// Establishes `n` connections 10.0.x.y:port -> 10.1.0.1:80.
fn filled(n: u32) -> Conntrack {
    let ct = Conntrack::new(ConntrackConfig {
        seed: 42,
        max_connections: 4 << 20,
        ..Default::default()
    });
    let dst = ip("10.1.0.1");
    for i in 0..n {
        let src = 0x0a00_0000 | (i >> 8);
        let sport = 1024 + (i & 0xff) as u16;
        let syn = tcp(src, sport, dst, 80, 0x002, 100, 0);
        ct.execute(&ctp(&syn, src, sport, dst, 80, 0x002), &COMMIT, 0);
        let sa = tcp(dst, 80, src, sport, 0x012, 500, 101);
        ct.execute(&ctp(&sa, dst, 80, src, sport, 0x012), &LOOKUP, 0);
        let ack = tcp(src, sport, dst, 80, 0x010, 101, 501);
        ct.execute(&ctp(&ack, src, sport, dst, 80, 0x010), &LOOKUP, 0);
    }
    ct
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("conntrack");
    g.throughput(Throughput::Elements(1));
    for n in [1u32, 10_000, 100_000] {
        let ct = filled(n);
        let dst = ip("10.1.0.1");
        // Established data segment of connection n/2.
        let i = n / 2;
        let src = 0x0a00_0000 | (i >> 8);
        let sport = 1024 + (i & 0xff) as u16;
        let seg = tcp(src, sport, dst, 80, 0x010, 101, 501);
        let p = ctp(&seg, src, sport, dst, 80, 0x010);
        g.bench_with_input(BenchmarkId::new("lookup_established", n), &n, |b, _| {
            b.iter(|| {
                let v = ct.execute(black_box(&p), &LOOKUP, 1);
                assert_eq!(v.state & 0x02, 0x02);
                v
            })
        });
        if n == 1 {
            // As the fast path runs it: the connection given as the chain's hint, so the
            // cost is the connection's lock and the TCP window update.
            let (_, conn) = ct.execute_hinted(&p, &LOOKUP, 1, None, true, None);
            let hint = conn.expect("established");
            g.bench_function("tcp_established_hinted", |b| {
                b.iter(|| {
                    let (v, _) =
                        ct.execute_hinted(black_box(&p), &LOOKUP, 1, Some(&hint), false, None);
                    assert_eq!(v.state & 0x02, 0x02);
                    v
                })
            });
        }
    }
    // An established UDP connection's packet (a DNS answer seen, now a query): the same
    // binary with the lock-free path on and off.
    for lock_free in [false, true] {
        let ct = Conntrack::new(ConntrackConfig {
            seed: 3,
            lock_free_steady: lock_free,
            ..Default::default()
        });
        let (a, b) = (ip("10.222.1.48"), ip("10.222.1.2"));
        let udp = |src: u32, sport: u16, dst: u32, dport: u16| {
            ipv4_packet(&Ipv4Spec {
                src,
                dst,
                l4: L4Spec::Udp { sport, dport },
                payload: vec![0; 18],
                ..Default::default()
            })
        };
        let (q, r) = (udp(a, 1024, b, 53), udp(b, 53, a, 1024));
        let mut pq = ctp(&q, a, 1024, b, 53, 0);
        let mut pr = ctp(&r, b, 53, a, 1024, 0);
        pq.proto = 17;
        pr.proto = 17;
        let (_, conn) = ct.execute_hinted(&pq, &COMMIT, 0, None, true, None);
        ct.execute(&pr, &LOOKUP, 0);
        let name = if lock_free { "lock_free" } else { "locked" };
        g.bench_function(format!("udp_established/{name}"), |bn| {
            bn.iter(|| {
                let v = ct.execute(black_box(&pq), &COMMIT, 1);
                assert_eq!(v.state & 0x02, 0x02);
                v
            })
        });
        // As the fast path runs it: with the connection its chain remembers as the hint
        // (no tuple hash, no shard lock).
        let hint = conn.expect("committed");
        g.bench_function(format!("udp_established_hinted/{name}"), |bn| {
            bn.iter(|| {
                let (v, _) =
                    ct.execute_hinted(black_box(&pq), &COMMIT, 1, Some(&hint), false, None);
                assert_eq!(v.state & 0x02, 0x02);
                v
            })
        });
    }
    // Commit of a new connection each iteration (insert of two keys + TCP state). The SYN
    // is built once; each iteration gives it a new source port and address.
    let ct = Conntrack::new(ConntrackConfig {
        seed: 7,
        max_connections: usize::MAX,
        ..Default::default()
    });
    let dst = ip("10.2.0.1");
    let syn = tcp(ip("11.0.0.1"), 1, dst, 443, 0x002, 1, 0);
    let mut i = 0u32;
    g.bench_function("commit_new_connection", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let src = 0x0b00_0000 | (i >> 16);
            let sport = i as u16;
            let mut p = ctp(&syn, src, sport, dst, 443, 0x002);
            p.src = u128::from(src);
            ct.execute(black_box(&p), &COMMIT, 0)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
