use super::*;
use crate::bridge::{PortInfo, PortKind};
use crate::build::{ip, udp_frame};
use crate::conntrack::ConntrackConfig;
use crate::dpaction::Collect;
use crate::flow::KEY_WORDS;
use crate::ofctl::{parse_flow, Mode};
use crate::packet::VecFrame;
use crate::tables::FlowMod;
use crate::tables::Rule;

fn bridge(flows: &[&str]) -> Bridge {
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

fn pkt(sport: u16, dport: u16) -> (VecFrame, u32, Option<TunnelMeta>) {
    (
        VecFrame::new(&udp_frame(
            1,
            2,
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            sport,
            dport,
            b"x",
        )),
        1,
        None,
    )
}

fn ports(c: &Collect<VecFrame>) -> Vec<u32> {
    c.outputs.iter().map(|o| o.0).collect()
}

#[test]
fn emc_and_megaflow_hits() {
    let b = bridge(&["udp,tp_dst=53 actions=output:2", "udp actions=output:3"]);
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig {
        emc_insert_inv_prob: 1,
        ..Default::default()
    });
    let mut out = Collect::new();
    fp.process_burst(&b, [pkt(1000, 53)], 1, &mut out);
    assert_eq!(fp.stats.upcalls, 1);
    // Same packet again: EMC hit.
    fp.process_burst(&b, [pkt(1000, 53)], 2, &mut out);
    assert_eq!(fp.stats.emc_hits, 1);
    // Another source port: same megaflow (tp_src is not looked at), classifier hit.
    fp.process_burst(&b, [pkt(1001, 53)], 3, &mut out);
    assert_eq!(fp.stats.megaflow_hits, 1);
    assert_eq!(fp.stats.upcalls, 1);
    // Another destination port: a new megaflow.
    fp.process_burst(&b, [pkt(1000, 54)], 4, &mut out);
    assert_eq!(fp.stats.upcalls, 2);
    assert_eq!(ports(&out), vec![2, 2, 2, 3]);
    assert_eq!(fp.n_megaflows(), 2);
    // A whole burst of one megaflow: one group.
    let burst: Vec<_> = (0..32).map(|i| pkt(2000 + i, 53)).collect();
    fp.process_burst(&b, burst, 5, &mut out);
    assert_eq!(out.outputs.len(), 36);
    assert_eq!(fp.stats.packets, 36);
}

#[test]
fn flow_changes_revalidate_before_use() {
    let b = bridge(&["udp actions=output:2"]);
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig::default());
    let mut out = Collect::new();
    fp.process_burst(&b, [pkt(1, 1)], 1, &mut out);
    let f = parse_flow("udp actions=output:3", Mode::Add, b.ports().names()).unwrap();
    b.apply(&[FlowMod::Add(f)], 2).unwrap();
    fp.process_burst(&b, [pkt(1, 1)], 3, &mut out);
    assert_eq!(
        ports(&out),
        vec![2, 3],
        "the first packet after the change sees it"
    );
    assert_eq!(fp.stats.revalidations, 1);
    // A change that does not affect this megaflow keeps it.
    let g = parse_flow("table=5,ip actions=drop", Mode::Add, b.ports().names()).unwrap();
    b.apply(&[FlowMod::Add(g)], 4).unwrap();
    fp.process_burst(&b, [pkt(1, 1)], 5, &mut out);
    assert_eq!(ports(&out), vec![2, 3, 3]);
    assert_eq!(
        fp.stats.megaflows_removed, 1,
        "only the first change replaced it"
    );
}

#[test]
fn upcall_budget_bounds_new_flow_floods() {
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig {
        max_upcalls_per_burst: 4,
        ..Default::default()
    });
    // 32 packets that each need their own megaflow: the destination MAC differs and a rule
    // reads it.
    let b2 = bridge(&[
        "dl_dst=00:00:00:00:00:01 actions=output:2",
        "actions=output:3",
    ]);
    let burst: Vec<_> = (0..32u64)
        .map(|i| {
            (
                VecFrame::new(&udp_frame(1, 100 + i, 1, 2, 3, 4, b"")),
                1,
                None,
            )
        })
        .collect();
    let mut out = Collect::new();
    fp.process_burst(&b2, burst, 1, &mut out);
    assert_eq!(fp.stats.upcalls, 4);
    assert_eq!(fp.stats.upcall_drops, 28);
    assert_eq!(fp.stats.drops[DropReason::UpcallLimit.index()], 28);
    assert_eq!(out.outputs.len(), 4);
}

#[test]
fn idle_megaflows_expire_and_counters_fold_into_rules() {
    let b = bridge(&["udp actions=output:2"]);
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig {
        megaflow_idle_ms: 1000,
        ..Default::default()
    });
    let mut out = Collect::new();
    for t in 0..10 {
        fp.process_burst(&b, [pkt(t, 9)], t.into(), &mut out);
    }
    let rule = b.tables().table(0).unwrap().rules().next().unwrap().clone();
    let n = |r: &Rule| r.stats.n_packets.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(n(&rule), 0, "counters fold in maintain(), not per packet");
    fp.maintain(100);
    assert_eq!(n(&rule), 10);
    assert_eq!(fp.n_megaflows(), 1);
    fp.maintain(5000);
    assert_eq!(fp.n_megaflows(), 0);
    assert_eq!(n(&rule), 10, "nothing counted twice on expiry");
}

#[test]
fn key_hash_covers_every_key_word() {
    let base = Flow::ZERO;
    let h0 = key_hash(&base);
    for i in 0..KEY_WORDS {
        let mut k = base;
        k.w[i] = 1;
        assert_ne!(key_hash(&k), h0, "word {i}");
    }
}

/// Megaflows of different input ports in masks of their own: a packet probes only the
/// subtables holding a megaflow of its (recirculation id, input port), and a removed
/// megaflow takes its bit out of the filter.
#[test]
fn classifier_skips_subtables_of_other_ports() {
    let b = bridge(&[
        "in_port=1,udp,tp_dst=53 actions=output:3",
        "in_port=2,udp,nw_src=10.0.0.1 actions=output:3",
        "in_port=3,ip actions=output:4",
        "in_port=4,udp,tp_src=7 actions=output:1",
    ]);
    // No EMC: every pass goes to the classifier.
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig {
        emc_insert_inv_prob: 0,
        ..Default::default()
    });
    let mut out = Collect::new();
    let from = |port: u32| {
        let (f, _, t) = pkt(7, 53);
        (f, port, t)
    };
    for p in 1..=4 {
        fp.process_burst(&b, [from(p)], 1, &mut out);
    }
    assert_eq!(fp.stats.upcalls, 4);
    assert_eq!(fp.n_masks(), 4, "one mask per port's megaflow");
    fp.stats = FastPathStats::default();
    for _ in 0..8 {
        fp.process_burst(&b, (1..=4).map(from), 2, &mut out);
    }
    assert_eq!(fp.stats.upcalls, 0);
    assert_eq!(fp.stats.megaflow_hits, 32);
    assert_eq!(
        fp.stats.subtable_lookups, 32,
        "each packet probes only its own port's subtable"
    );
    assert_eq!(ports(&out)[4..8], [3, 3, 4, 1]);
    // Flushed: the filters empty with their tables, and the packets are upcalls again.
    fp.flush();
    assert!(fp.subtables.iter().all(|s| s.filter == 0));
    fp.process_burst(&b, [from(2)], 3, &mut out);
    assert_eq!(fp.stats.upcalls, 1);
    assert_eq!(ports(&out).last(), Some(&3));
}

/// A fast path with a 16-entry EMC, bypassing it when it does not pay (`auto`) or not.
fn small_emc(auto: bool) -> FastPath<VecFrame> {
    FastPath::new(FastPathConfig {
        emc_entries: 16,
        emc_auto_bypass: auto,
        ..Default::default()
    })
}

/// What left, in order: (port, bytes).
fn frames(c: &Collect<VecFrame>) -> Vec<(u32, Vec<u8>)> {
    c.outputs
        .iter()
        .map(|o| (o.0, o.2.frame.data().to_vec()))
        .collect()
}

/// More flows than the EMC holds: after a measuring window the EMC is bypassed, and every
/// packet still leaves as it does with the EMC always consulted (same ports, same bytes).
#[test]
fn a_useless_emc_is_bypassed_without_changing_results() {
    let b = bridge(&[
        "udp,tp_dst=53 actions=mod_nw_dst:10.9.9.9,output:2",
        "udp actions=output:3",
    ]);
    let (mut auto, mut always) = (small_emc(true), small_emc(false));
    let (mut out_a, mut out_b) = (Collect::new(), Collect::new());
    for burst in 0..1100u32 {
        let pkts = |n: u32| -> Vec<_> {
            (0..32)
                .map(|k| pkt((n * 32 + k) as u16, if k % 3 == 0 { 54 } else { 53 }))
                .collect()
        };
        auto.process_burst(&b, pkts(burst), 1, &mut out_a);
        always.process_burst(&b, pkts(burst), 1, &mut out_b);
    }
    assert!(auto.stats.emc_bypassed > 0, "{:?}", auto.stats);
    assert_eq!(always.stats.emc_bypassed, 0);
    // A new megaflow while bypassed: the classifier misses, the slot's answer from the
    // burst before must not be taken for it.
    let new_port: Vec<_> = (0..32).map(|k| pkt(k, 99)).collect();
    auto.process_burst(&b, new_port.clone(), 2, &mut out_a);
    always.process_burst(&b, new_port, 2, &mut out_b);
    assert_eq!(ports(&out_a).last(), Some(&3));
    assert_eq!(auto.stats.packets, always.stats.packets);
    assert_eq!(frames(&out_a), frames(&out_b));
}

#[test]
fn the_emc_gate_measures_then_bypasses_then_measures_again() {
    let mut g = emc_gate::EmcGate::default();
    assert!(g.on);
    // A window at 10 % hits: bypassed.
    for _ in 0..1024 {
        g.count(0xffff_ffff, 0b111);
        g.tick();
    }
    assert!(!g.on);
    // Bypassed for its while, then on again to measure.
    for _ in 0..8191 {
        g.tick();
    }
    assert!(!g.on);
    g.tick();
    assert!(g.on);
    // A window at 50 %: stays on.
    for _ in 0..1024 {
        g.count(0b11, 0b1);
        g.tick();
    }
    assert!(g.on);
}

/// The same through conntrack and recirculation: two bridges with the same flows, one
/// fast path bypassing its EMC once it stops paying, one always consulting it; every
/// packet (new, then established) leaves the same way.
#[test]
fn a_bypassed_emc_keeps_conntrack_verdicts() {
    let flows = [
        "table=0,udp actions=ct(table=1,zone=1)",
        "table=1,ct_state=+new+trk,udp actions=ct(commit,zone=1),output:2",
        "table=1,ct_state=+est+trk,udp actions=output:3",
    ];
    let (ba, bb) = (bridge(&flows), bridge(&flows));
    let (mut auto, mut always) = (small_emc(true), small_emc(false));
    let (mut out_a, mut out_b) = (Collect::new(), Collect::new());
    for burst in 0..1200u32 {
        // 3,000 connections, 16 a burst, each seen again every ~188 bursts: the request,
        // then the answer (from port 2), which makes the connection established.
        let pkts = || -> Vec<_> {
            let sport = |k: u32| ((burst * 16 + k) % 3000) as u16 + 1;
            let answer = |sp: u16| {
                let f = udp_frame(2, 1, ip("10.0.0.2"), ip("10.0.0.1"), 53, sp, b"y");
                (VecFrame::new(&f), 2, None)
            };
            (0..16)
                .map(|k| pkt(sport(k), 53))
                .chain((0..16).map(|k| answer(sport(k))))
                .collect()
        };
        auto.process_burst(&ba, pkts(), u64::from(burst), &mut out_a);
        always.process_burst(&bb, pkts(), u64::from(burst), &mut out_b);
    }
    assert!(auto.stats.emc_bypassed > 0, "{:?}", auto.stats);
    let (fa, fb) = (frames(&out_a), frames(&out_b));
    // New connections leave by port 2, established ones by port 3: both happen.
    let on = |port| fa.iter().filter(|(p, _)| *p == port).count();
    assert!(on(2) >= 3000 && on(3) > 20_000, "{} {}", on(2), on(3));
    assert_eq!(fa, fb);
}

#[test]
fn packets_of_one_megaflow_leave_in_the_order_they_came() {
    // Three megaflows interleaved in bursts of 32: each port's packets in sequence (the
    // executor sorts slots by megaflow with an unstable sort, then runs each group's slots
    // from a bitmap).
    let b = bridge(&[
        "udp,tp_dst=53 actions=output:2",
        "udp,tp_dst=54 actions=output:3",
        "udp,tp_dst=55 actions=output:4",
    ]);
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig::default());
    let mut out = Collect::new();
    for round in 0..20u16 {
        let burst: Vec<_> = (0..32u16)
            .map(|i| {
                let seq = round * 32 + i;
                let f = udp_frame(
                    1,
                    2,
                    ip("10.0.0.1"),
                    ip("10.0.0.2"),
                    seq,
                    53 + (seq * 7 % 3),
                    b"x",
                );
                (VecFrame::new(&f), 1, None)
            })
            .collect();
        fp.process_burst(&b, burst, u64::from(round), &mut out);
    }
    for port in 2..=4u32 {
        let seqs: Vec<u16> = out
            .outputs
            .iter()
            .filter(|o| o.0 == port)
            .map(|o| u16::from_be_bytes([o.2.frame.data()[34], o.2.frame.data()[35]]))
            .collect();
        assert!(seqs.len() > 200);
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "port {port}: {seqs:?}"
        );
    }
}

#[test]
fn a_megaflow_replaced_in_a_burst_is_not_taken_by_its_other_packets() {
    // Found by the datapath differential fuzzer: three packets of one stale megaflow in a
    // burst; the first one's revalidation replaced it (a wider mask) and the others took
    // the replacement's actions, which are not theirs.
    let b = bridge(&["udp actions=output:2"]);
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig::default());
    let mut out = Collect::new();
    fp.process_burst(&b, [pkt(7, 1)], 1, &mut out);
    let f = parse_flow(
        "priority=40000,udp,tp_dst=53 actions=output:3",
        Mode::Add,
        b.ports().names(),
    )
    .unwrap();
    b.apply(&[FlowMod::Add(f)], 2).unwrap();
    let mut out = Collect::new();
    fp.process_burst(&b, [pkt(7, 53), pkt(7, 1), pkt(7, 2)], 3, &mut out);
    assert_eq!(ports(&out), vec![3, 2, 2]);
}

#[test]
fn a_ttl_drop_without_an_output_is_counted_as_one() {
    // Found by the datapath differential fuzzer: `dec_ttl` and no output after it (the
    // output was to the input port). The megaflow of a TTL-64 packet took a TTL-1 packet
    // too, dropped as `no_output`; the slow path says `ttl_expired`. Such a megaflow now
    // matches the TTL, as OVS's does.
    let b = bridge(&["udp actions=dec_ttl,output:1"]);
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig::default());
    let mut out = Collect::new();
    let with_ttl = |ttl: u8| {
        let mut f = udp_frame(1, 2, ip("10.0.0.1"), ip("10.0.0.2"), 5, 6, b"x");
        f[22] = ttl;
        f[24..26].copy_from_slice(&[0, 0]);
        let c = crate::wire::checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        (VecFrame::new(&f), 1, None)
    };
    fp.process_burst(&b, [with_ttl(64)], 1, &mut out);
    fp.process_burst(&b, [with_ttl(1)], 2, &mut out);
    assert_eq!(fp.stats.upcalls, 2, "a megaflow for each TTL");
    assert_eq!(
        out.drops[..],
        [DropReason::NoOutput, DropReason::TtlExpired]
    );
}
