//! Shared body of the DPDK smoke tests (included by the no-huge and hugepage variants).
#![cfg(feature = "dpdk")]

use std::time::Instant;
use switch::dpdk::{ring_pair, Eal, Mbuf, MbufBatch, Mempool, PortConf, BURST};

/// Moves `total` packets from one ring port to its peer through rx/tx bursts, checking
/// counts, a sample of contents, and that every mbuf returns to the pool.
pub fn smoke(eal_args: &[&str], total: u64) {
    let mut args: Vec<String> = vec!["brisk-smoke".into()];
    args.extend(eal_args.iter().map(|s| s.to_string()));
    let eal = Eal::init(&args).expect("EAL init");
    assert!(matches!(
        Eal::init(&args),
        Err(switch::dpdk::DpdkError::AlreadyInitialised)
    ));
    println!("DPDK {}", switch::dpdk::version());
    let pool = Mempool::new("smoke_pool", 8191, 256, 2048 + 128, -1).expect("mempool");
    let full = pool.avail();
    let (mut a, mut b) = ring_pair("ring_a", "ring_b", 4096).expect("ring pair");
    a.configure_and_start(&PortConf::default(), &pool)
        .expect("start a");
    b.configure_and_start(&PortConf::default(), &pool)
        .expect("start b");
    assert!(a.link().up && b.link().up);

    let frame = pipeline::build::udp_frame(
        0x0200_0000_0001,
        0x0200_0000_0002,
        0x0a00_0001,
        0x0a00_0002,
        1000,
        2000,
        &[0u8; 18],
    );
    let seq_off = frame.len() - 8;
    let mut tx = MbufBatch::new();
    let mut rx = MbufBatch::new();
    let (mut sent, mut received, mut checked) = (0u64, 0u64, 0u64);
    let mut expect_seq = 0u64;
    let start = Instant::now();
    while received < total {
        if sent < total && tx.is_empty() {
            let n = (total - sent).min(BURST as u64) as usize;
            for i in 0..n {
                let mut m = Mbuf::from_bytes(&pool, &frame).expect("mbuf");
                let seq = sent + i as u64;
                m.data_mut()[seq_off..].copy_from_slice(&seq.to_be_bytes());
                tx.push(m).expect("room");
            }
        }
        sent += a.tx_burst(0, &mut tx) as u64;
        b.rx_burst(0, &mut rx);
        for m in rx.drain() {
            let d = m.data();
            assert_eq!(d.len(), frame.len());
            let seq = u64::from_be_bytes(d[seq_off..].try_into().unwrap());
            assert_eq!(seq, expect_seq, "packets arrive in order");
            expect_seq += 1;
            if seq % 997 == 0 {
                assert_eq!(&d[..seq_off], &frame[..seq_off], "contents intact");
                checked += 1;
            }
            received += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let mpps = received as f64 / secs / 1e6;
    let sa = a.stats().unwrap();
    let sb = b.stats().unwrap();
    println!(
        "smoke: {received} packets through rx/tx bursts in {secs:.3} s = {mpps:.2} Mpps \
         ({checked} sampled and verified); port a opackets={} port b ipackets={}",
        sa.opackets, sb.ipackets
    );
    assert_eq!(received, total);
    assert_eq!(sa.opackets, total);
    assert_eq!(sb.ipackets, total);
    drop(tx);
    drop(rx);
    assert_eq!(pool.avail(), full, "every mbuf back in the pool");
    assert_eq!(pool.in_use(), 0);
    drop(a);
    drop(b);
    drop(pool);
    eal.cleanup().expect("EAL cleanup");
}
