//! The per-packet stages not covered by the other benches, each on its real code path:
//! header extraction (UDP, TCP, Geneve outer), Geneve push and pop (with a TLV option,
//! outer UDP checksum on), the worker1 ARP responder end to end through the fast path,
//! the transmit gather (mbufs batched per output port and sent with one burst per port to
//! DPDK `net_null` ports, as the worker's tx sink does), and the buffer work of a
//! kernel-socket port's burst (copy in, free) in mbufs and in brisk's own pool.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use perf::burst::{run_bursts, Recycle};
use pipeline::build::{arp_frame, ip, mac, tcp_frame, udp_frame};
use pipeline::dpaction::TunnelMeta;
use pipeline::fastpath::{FastPath, FastPathConfig};
use pipeline::flow::Flow;
use pipeline::geneve::{self, PushParams, TlvMap, GENEVE_PORT};
use pipeline::packet::{extract, Frame, VecFrame};
use std::hint::black_box;

fn tlv() -> TlvMap {
    let mut m = TlvMap::default();
    m.add("{class=0x104,type=0x80,len=4}->tun_metadata0")
        .expect("tlv map");
    m
}

fn push_params() -> PushParams {
    PushParams {
        src_mac: mac("00:50:56:8f:4e:82"),
        dst_mac: mac("00:50:56:8f:1c:f6"),
        local_ip: ip("10.79.1.201"),
        dst_port: GENEVE_PORT,
        csum: true,
        ttl: 64,
        ip_id: 0x1234,
    }
}

fn meta() -> TunnelMeta {
    TunnelMeta {
        tun_id: 0,
        dst: ip("10.79.1.202"),
        md_present: 1,
        md: [0x1000_0000, 0, 0, 0, 0, 0, 0, 0],
        ..Default::default()
    }
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    let fe = mac("be:2c:bf:e4:ec:c5");
    let dns = mac("f2:82:cc:96:da:bd");
    let udp = udp_frame(
        fe,
        dns,
        ip("10.222.1.48"),
        ip("10.222.1.2"),
        1024,
        53,
        &[0; 18],
    );
    let tcp = tcp_frame(
        fe,
        dns,
        ip("10.222.1.48"),
        ip("10.222.1.2"),
        40000,
        80,
        0x10,
        64,
    );
    let mut encap = VecFrame::with_headroom(&udp, 128);
    geneve::push(&mut encap, &meta(), &tlv(), &push_params(), 7, 1500).expect("push");
    let geneve_frame = encap.data().to_vec();
    for (name, f) in [
        ("udp_64", &udp),
        ("tcp_64", &tcp),
        ("geneve_outer", &geneve_frame),
    ] {
        let mut key = Flow::default();
        g.bench_function(name, |b| {
            b.iter(|| {
                key = Flow::default();
                black_box(extract(black_box(f), 49, &mut key));
            })
        });
    }
    g.finish();
}

/// The CRC32C key hash the EMC used before the vector kernels (pairs of words folded, four
/// CRC chains): the reference the `simd` group's figures are read against.
fn crc_key_hash(k: &Flow) -> u32 {
    use core::arch::x86_64::_mm_crc32_u64;
    use pipeline::flow::KEY_WORDS;
    // SAFETY: brisk builds for x86-64-v2, which has SSE4.2.
    let crc = |h: u32, x: u64| unsafe { _mm_crc32_u64(u64::from(h), x) as u32 };
    let mut h = [0x1234_5678u32, 0x9abc_def0, 0x0f1e_2d3c, 0x5bd1_e995];
    let fold = |i: usize| k.w[i] ^ k.w[i + 1].rotate_left(23);
    let mut i = 0;
    while i + 8 <= KEY_WORDS {
        for (c, hc) in h.iter_mut().enumerate() {
            *hc = crc(*hc, fold(i + 2 * c));
        }
        i += 8;
    }
    let mut c = 0;
    while i + 2 <= KEY_WORDS {
        h[c] = crc(h[c], fold(i));
        c += 1;
        i += 2;
    }
    if i < KEY_WORDS {
        h[3] = crc(h[3], k.w[i]);
    }
    crc(
        h[0] ^ h[1].rotate_left(11),
        u64::from(h[2]) << 32 | u64::from(h[3]),
    )
}

/// The EMC's key hash over a burst of 32 real keys (UDP and TCP, varying ports), on each
/// vector unit this CPU has, and the CRC hash it replaced.
fn simd(c: &mut Criterion) {
    use pipeline::fastpath::simd::{key_hash, SimdPath};
    let mut g = c.benchmark_group("simd");
    g.throughput(Throughput::Elements(32));
    let (fe, dns) = (mac("be:2c:bf:e4:ec:c5"), mac("f2:82:cc:96:da:bd"));
    let keys: Vec<Flow> = (0..32u16)
        .map(|i| {
            let f = if i % 2 == 0 {
                udp_frame(
                    fe,
                    dns,
                    ip("10.222.1.48"),
                    ip("10.222.1.2"),
                    1024 + i,
                    53,
                    &[0; 18],
                )
            } else {
                tcp_frame(
                    fe,
                    dns,
                    ip("10.222.1.48"),
                    ip("10.222.1.2"),
                    40000 + i,
                    80,
                    0x10,
                    64,
                )
            };
            let mut k = Flow::default();
            extract(&f, 49, &mut k);
            k
        })
        .collect();
    g.bench_function("key_hash_burst32/crc32c_before", |b| {
        b.iter(|| {
            keys.iter()
                .fold(0u32, |a, k| a ^ crc_key_hash(black_box(k)))
        })
    });
    for p in SimdPath::ALL.into_iter().filter(|p| p.available()) {
        g.bench_function(format!("key_hash_burst32/{}", p.name()), |b| {
            b.iter(|| keys.iter().fold(0u32, |a, k| a ^ key_hash(p, black_box(k))))
        });
    }
    g.finish();
}

fn tunnel(c: &mut Criterion) {
    let mut g = c.benchmark_group("geneve");
    g.throughput(Throughput::Elements(1));
    let inner = udp_frame(
        mac("be:2c:bf:e4:ec:c5"),
        mac("aa:bb:cc:dd:ee:ff"),
        ip("10.222.1.48"),
        ip("10.222.2.2"),
        1024,
        80,
        &[0; 18],
    );
    let tlv = tlv();
    // With and without a TLV option (tun_metadata0) and the outer UDP checksum.
    for (opt, csum) in [(true, true), (true, false), (false, true), (false, false)] {
        let name = format!(
            "{}_{}",
            if opt { "tlv" } else { "no_opt" },
            if csum { "csum" } else { "no_csum" }
        );
        let p = PushParams {
            csum,
            ..push_params()
        };
        let m = if opt {
            meta()
        } else {
            TunnelMeta {
                md_present: 0,
                md: [0; 8],
                ..meta()
            }
        };
        let mut f = VecFrame::with_headroom(&inner, 128);
        g.bench_function(format!("push_{name}"), |b| {
            b.iter(|| {
                f.reset(&inner);
                black_box(geneve::push(&mut f, &m, &tlv, &p, 7, 1500).expect("push"));
            })
        });
        let mut enc = VecFrame::with_headroom(&inner, 128);
        geneve::push(&mut enc, &m, &tlv, &p, 7, 1500).expect("push");
        let outer = enc.data().to_vec();
        g.bench_function(format!("pop_{name}"), |b| {
            b.iter(|| {
                f.reset(&outer);
                black_box(geneve::pop(&mut f, &tlv).expect("pop"));
            })
        });
    }
    g.finish();
}

fn arp_responder(c: &mut Criterion) {
    // Antrea's table 20 answers the gateway's ARP for a peer node's gateway IP; the reply
    // goes back out of the gateway port (IN_PORT). Bursts of 32, EMC hits.
    let mut g = c.benchmark_group("arp");
    g.throughput(Throughput::Elements(32));
    let b = perf::seed_bridge("worker1", Default::default());
    let req = arp_frame(
        1,
        mac("4e:99:08:c1:53:be"),
        ip("10.222.1.1"),
        0,
        ip("10.222.2.1"),
    );
    let burst: Vec<_> = (0..32).map(|_| (req.clone(), 2u32, None)).collect();
    let mut fp = FastPath::new(FastPathConfig {
        emc_insert_inv_prob: 1,
        ..Default::default()
    });
    let mut sink = Recycle::new(64);
    run_bursts(&mut fp, &b, &mut sink, &burst, 1);
    assert_eq!(sink.out, 32, "the ARP responder answers every request");
    g.bench_function("reply_burst32", |bn| {
        bn.iter(|| run_bursts(&mut fp, &b, &mut sink, &burst, 2))
    });
    g.finish();
}

fn tx_gather_dpdk(c: &mut Criterion) {
    use switch::dpdk::{Eal, EthPort, MbufBatch, Mempool, PortConf};
    let args: Vec<String> = [
        "bench",
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-telemetry",
        "--log-level=error",
        "--file-prefix=bench-stages",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let eal = match Eal::init(&args) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("tx_gather skipped: EAL init failed: {e}");
            return;
        }
    };
    let pool = Mempool::new("bench_pool", 8191, 256, 2048 + 128, -1).expect("pool");
    let ports: Vec<EthPort> = (0..4)
        .map(|i| {
            let mut p = EthPort::from_devargs(&format!("net_null{i}")).expect("net_null");
            p.configure_and_start(&PortConf::default(), &pool)
                .expect("start");
            p
        })
        .collect();
    let mut g = c.benchmark_group("tx");
    g.throughput(Throughput::Elements(32));
    let mut src = MbufBatch::new();
    let mut bufs: Vec<MbufBatch> = (0..4).map(|_| MbufBatch::new()).collect();
    // 32 packets spread over 4 output ports (8 each), gathered and flushed per port.
    g.bench_function("gather_32_to_4_ports", |b| {
        b.iter(|| {
            assert!(src.alloc_bulk(&pool, 32));
            for (i, m) in src.drain().enumerate() {
                let q = &mut bufs[i % 4];
                if let Err(m) = q.push(m) {
                    drop(m);
                }
            }
            for (q, p) in bufs.iter_mut().zip(&ports) {
                p.tx_burst(0, q);
                q.free_all();
            }
        })
    });
    g.finish();
    // What a kernel-socket port costs in buffers per burst in the DPDK build: 32 frames
    // copied into mbufs (the receive copy out of the ring), then freed (after the transmit
    // copy into the ring). `buffers/heap_*` is the same for the build without DPDK.
    let frame = udp_frame(1, 2, 3, 4, 5, 6, &[0; 18]);
    let mut g = c.benchmark_group("buffers");
    g.throughput(Throughput::Elements(32));
    g.bench_function("mbuf_copy_in_free_32x64B", |b| {
        b.iter(|| {
            for _ in 0..32 {
                let m = switch::dpdk::Mbuf::from_bytes(&pool, black_box(&frame)).expect("mbuf");
                let _ = src.push(m);
            }
            src.free_all();
        })
    });
    g.finish();
    for mut p in ports {
        let _ = p.stop();
    }
    drop(src);
    drop(bufs);
    drop(pool);
    let _ = eal.cleanup();
}

/// brisk's own buffer pool (the build without DPDK): a burst of 32 frames copied in and
/// freed, as a kernel-socket port's receive and transmit do.
fn heap_buffers(c: &mut Criterion) {
    use switch::heap::{Buf, BufBatch, BufPool};
    let pool = BufPool::new("bench_heap", 16383, 2048 + 128).expect("pool");
    let frame = udp_frame(1, 2, 3, 4, 5, 6, &[0; 18]);
    let mut batch = BufBatch::new();
    let mut g = c.benchmark_group("buffers");
    g.throughput(Throughput::Elements(32));
    g.bench_function("heap_copy_in_free_32x64B", |b| {
        b.iter(|| {
            for _ in 0..32 {
                let m = Buf::from_bytes(&pool, black_box(&frame)).expect("buffer");
                let _ = batch.push(m);
            }
            batch.free_all();
        })
    });
    g.finish();
    assert_eq!(pool.in_use(), 0);
}

criterion_group!(
    benches,
    parse,
    simd,
    tunnel,
    arp_responder,
    tx_gather_dpdk,
    heap_buffers
);
criterion_main!(benches);
