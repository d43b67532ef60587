//! Fast path == slow path: the same packet stream (TCP connections with real handshakes,
//! UDP, ARP, ICMP, noise, malformed frames) through two copies of the worker1 Antrea node,
//! one with the slow path only and one with the fast path (EMC, megaflows, batching,
//! recirculation, lazy revalidation), with flow-table changes in the middle of the stream.
//! Every packet must leave the same ports with the same bytes, or be dropped for the same
//! reason. Connection state changes too (idle expiry, flush, a flow rewriting `ct_mark`),
//! which the fast path's chains and connection hints must follow.

mod common;

use common::{
    change, change_connections, ends, maybe_open, next_of_any, next_packet, node, noise, outcome,
    Conn, Rng,
};
use pipeline::dpaction::{Collect, Packet};
use pipeline::fastpath::{FastPath, FastPathConfig};
use pipeline::packet::VecFrame;
use pipeline::slowpath::process;

#[test]
fn fast_path_equals_slow_path() {
    let slow = node();
    let fast = node();
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig {
        emc_insert_inv_prob: 2,
        max_upcalls_per_burst: 64,
        ..Default::default()
    });
    let mut r = Rng(0x5eed_1234_abcd_ef01);
    let pairs = ends();
    let mut conns: Vec<Conn> = Vec::new();
    let mut compared = 0u64;
    let mut now = 1u64;
    for n in 0..40_000u64 {
        now += 1;
        if n % 5000 == 4999 {
            change(&slow, n / 5000, now);
            change(&fast, n / 5000, now);
        }
        if n % 3000 == 1499 {
            now = change_connections([&slow, &fast], n / 3000, now);
        }
        maybe_open(&mut conns, &pairs, &mut r);
        let (port, frame, tun) = if r.below(10) == 0 {
            noise(&mut r)
        } else {
            next_of_any(&mut conns, &mut r)
        };
        let mut s_out = Collect::new();
        process(
            &slow,
            Packet::new(VecFrame::new(&frame), port, tun.as_ref()),
            now,
            &mut s_out,
            None,
        );
        let mut f_out = Collect::new();
        fp.process_burst(&fast, [(VecFrame::new(&frame), port, tun)], now, &mut f_out);
        let (so, fo) = (outcome(s_out), outcome(f_out));
        assert_eq!(
            so, fo,
            "packet {n} (port {port}) differs: slow {so:?} fast {fo:?}"
        );
        compared += 1;
        if n % 1000 == 0 {
            fp.maintain(now);
        }
    }
    let st = fp.stats;
    println!(
        "fast vs slow: {compared} packets compared, 0 mismatches; fast path: {} EMC hits, {} chain hits, {} connections learned as hints, {} megaflow hits, {} upcalls, {} revalidations, {} megaflows",
        st.emc_hits, st.chain_hits, st.ct_hints_learned, st.megaflow_hits, st.upcalls, st.revalidations, fp.n_megaflows()
    );
    assert!(st.chain_hits > 1000, "later passes follow their chains");
    assert!(
        st.emc_hits + st.megaflow_hits > st.upcalls * 5,
        "the caches are used"
    );
    assert!(st.revalidations > 0, "flow changes were revalidated");
}

#[test]
fn bursts_of_independent_packets() {
    // 32-packet bursts of new connections (no packet depends on another in its burst):
    // grouping and batching must not change what happens to each packet.
    let slow = node();
    let fast = node();
    // A cold cache would hit the upcall budget in the first bursts; that budget is tested
    // on its own.
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig {
        max_upcalls_per_burst: 64,
        ..Default::default()
    });
    let pairs = ends();
    let mut r = Rng(77);
    let mut compared = 0u64;
    for burst in 0..200u64 {
        let mut pkts = Vec::new();
        for i in 0..32u64 {
            let (a, b) = pairs[r.below(pairs.len() as u64) as usize];
            let mut c = Conn {
                a,
                b,
                sport: (1024 + burst * 32 + i) as u16,
                dport: 80,
                step: 0,
                seq_a: r.next() as u32,
                seq_b: r.next() as u32,
            };
            pkts.push(if i % 7 == 3 {
                noise(&mut r)
            } else {
                next_packet(&mut c, &mut r)
            });
        }
        let mut s_out = Collect::new();
        for (port, f, tun) in &pkts {
            process(
                &slow,
                Packet::new(VecFrame::new(f), *port, tun.as_ref()),
                burst,
                &mut s_out,
                None,
            );
        }
        let mut f_out = Collect::new();
        fp.process_burst(
            &fast,
            pkts.iter().map(|(p, f, t)| (VecFrame::new(f), *p, *t)),
            burst,
            &mut f_out,
        );
        assert_eq!(outcome(s_out), outcome(f_out), "burst {burst}");
        compared += 32;
    }
    println!("bursts: {compared} packets compared in 32-packet bursts, 0 mismatches");
}
