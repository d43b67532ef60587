use super::*;
use crate::field::Field;
use crate::ofctl::{parse_match, PortMap};
use proptest::prelude::*;

fn m(s: &str) -> crate::ofctl::Match {
    parse_match(s, &PortMap::new()).unwrap()
}

fn add(
    c: &mut Classifier<&'static str>,
    s: &str,
    prio: u16,
    conj: &[(u32, u8, u8)],
    name: &'static str,
) {
    let mm = m(s);
    let cj: Vec<ConjClause> = conj
        .iter()
        .map(|&(id, k, n)| ConjClause {
            id,
            clause: k - 1,
            n_clauses: n,
        })
        .collect();
    c.insert(&mm.value, &mm.mask, prio, &cj, name);
}

fn pkt(s: &str) -> Flow {
    m(s).value
}

fn look(c: &Classifier<&'static str>, f: &Flow) -> Option<&'static str> {
    c.lookup(f, None).map(|r| *r.payload)
}

#[test]
fn priority_and_masks() {
    let mut c = Classifier::new();
    add(&mut c, "ip", 10, &[], "ip");
    add(&mut c, "tcp,tp_dst=80", 20, &[], "http");
    add(&mut c, "ip,nw_dst=10.0.0.0/8", 15, &[], "ten");
    add(&mut c, "", 0, &[], "default");
    assert_eq!(
        look(&c, &pkt("tcp,nw_dst=10.1.1.1,tp_dst=80")),
        Some("http")
    );
    assert_eq!(look(&c, &pkt("tcp,nw_dst=10.1.1.1,tp_dst=81")), Some("ten"));
    assert_eq!(look(&c, &pkt("udp,nw_dst=11.1.1.1")), Some("ip"));
    assert_eq!(look(&c, &pkt("arp")), Some("default"));
    assert_eq!(c.len(), 4);
    assert_eq!(c.n_subtables(), 4);
    // Replace keeps count; remove works.
    let mm = m("ip");
    assert_eq!(c.insert(&mm.value, &mm.mask, 10, &[], "ip2"), Some("ip"));
    assert_eq!(c.len(), 4);
    assert_eq!(look(&c, &pkt("udp,nw_dst=11.1.1.1")), Some("ip2"));
    assert_eq!(c.remove(&mm.value, &mm.mask, 10), Some("ip2"));
    assert_eq!(look(&c, &pkt("udp,nw_dst=11.1.1.1")), Some("default"));
    assert_eq!(c.remove(&mm.value, &mm.mask, 10), None);
    assert_eq!(c.len(), 3);
}

#[test]
fn same_match_different_priorities() {
    let mut c = Classifier::new();
    add(&mut c, "ip", 10, &[], "low");
    add(&mut c, "ip", 30, &[], "high");
    add(&mut c, "ip", 20, &[], "mid");
    assert_eq!(look(&c, &pkt("ip")), Some("high"));
    let mm = m("ip");
    c.remove(&mm.value, &mm.mask, 30);
    assert_eq!(look(&c, &pkt("ip")), Some("mid"));
    assert_eq!(c.get(&mm.value, &mm.mask, 10), Some(&"low"));
}

#[test]
fn equal_priority_ties_are_deterministic() {
    // Overlapping rules at one priority: the one whose mask was installed first wins,
    // whatever order the lookups happen in.
    let mut c = Classifier::new();
    add(&mut c, "ip,nw_src=10.0.0.1", 5, &[], "by-src");
    add(&mut c, "ip,nw_dst=10.0.0.2", 5, &[], "by-dst");
    for _ in 0..3 {
        assert_eq!(
            look(&c, &pkt("ip,nw_src=10.0.0.1,nw_dst=10.0.0.2")),
            Some("by-src")
        );
    }
}

#[test]
fn staged_lookup_unwildcards_only_stages_consulted() {
    let mut c = Classifier::new();
    add(&mut c, "tcp,nw_src=10.0.0.1,tp_dst=80", 20, &[], "x");
    add(&mut c, "", 0, &[], "default");
    // An ARP packet fails at the L2 stage (dl_type): L3/L4 bits stay wildcarded.
    let mut wc = Flow::ZERO;
    let r = c
        .lookup(&pkt("arp,arp_spa=10.0.0.1"), Some(&mut wc))
        .unwrap();
    assert_eq!(*r.payload, "default");
    assert_eq!(Field::EthType.get(&wc), 0xffff);
    assert_eq!(Field::NwSrc.get(&wc), 0);
    assert_eq!(Field::TpDst.get(&wc), 0);
    // A TCP packet from another source fails at L3: ports stay wildcarded.
    let mut wc = Flow::ZERO;
    c.lookup(&pkt("tcp,nw_src=10.0.0.9,tp_dst=80"), Some(&mut wc));
    assert_eq!(Field::NwSrc.get(&wc), 0xffff_ffff);
    assert_eq!(Field::TpDst.get(&wc), 0);
    // A hit un-wildcards everything in the mask.
    let mut wc = Flow::ZERO;
    c.lookup(&pkt("tcp,nw_src=10.0.0.1,tp_dst=80"), Some(&mut wc));
    assert_eq!(Field::TpDst.get(&wc), 0xffff);
    // Subtables that cannot win are not consulted.
    let mut c2 = Classifier::new();
    add(&mut c2, "ip", 100, &[], "ip");
    add(&mut c2, "tcp,tp_dst=80", 50, &[], "never");
    let mut wc = Flow::ZERO;
    assert_eq!(
        *c2.lookup(&pkt("tcp,tp_dst=80"), Some(&mut wc))
            .unwrap()
            .payload,
        "ip"
    );
    assert_eq!(Field::TpDst.get(&wc), 0);
    assert_eq!(Field::NwProto.get(&wc), 0);
}

/// The seed's table 50 on worker1: three conjunctions sharing clauses.
fn table50() -> Classifier<&'static str> {
    let mut c = Classifier::new();
    add(&mut c, "ct_state=-new+est,ip", 210, &[], "est");
    add(&mut c, "ip", 200, &[(2, 2, 3)], "c2.2");
    add(&mut c, "udp,tp_dst=53", 200, &[(2, 3, 3)], "c2.3");
    add(&mut c, "tcp,tp_dst=80", 200, &[(1, 3, 3)], "c1.3");
    add(
        &mut c,
        "ip,nw_src=10.222.1.48",
        200,
        &[(1, 1, 3), (2, 1, 3)],
        "c1.1+c2.1",
    );
    add(&mut c, "ip,nw_src=10.222.1.47", 200, &[(5, 1, 2)], "c5.1");
    add(&mut c, "ip,nw_dst=10.222.2.34", 200, &[(1, 2, 3)], "c1.2a");
    add(&mut c, "ip,nw_dst=10.222.1.47", 200, &[(1, 2, 3)], "c1.2b");
    add(&mut c, "conj_id=2,ip", 190, &[], "conj2");
    add(&mut c, "conj_id=1,ip", 190, &[], "conj1");
    add(&mut c, "conj_id=5,ip", 190, &[], "conj5");
    add(&mut c, "", 0, &[], "miss");
    c
}

#[test]
fn conjunctions_like_ovs() {
    let c = table50();
    // frontend -> backend2 TCP/80: conjunction 1 complete.
    assert_eq!(
        look(
            &c,
            &pkt("tcp,nw_src=10.222.1.48,nw_dst=10.222.2.34,tp_dst=80,ct_state=0x21")
        ),
        Some("conj1")
    );
    // frontend -> anything UDP/53: conjunction 2 (clause 2 is `ip`, matches everything).
    assert_eq!(
        look(&c, &pkt("udp,nw_src=10.222.1.48,nw_dst=8.8.8.8,tp_dst=53")),
        Some("conj2")
    );
    // frontend -> backend2 TCP/22: no conjunction complete.
    assert_eq!(
        look(
            &c,
            &pkt("tcp,nw_src=10.222.1.48,nw_dst=10.222.2.34,tp_dst=22")
        ),
        Some("miss")
    );
    // Established traffic takes the hard match above the soft ones.
    assert_eq!(
        look(
            &c,
            &pkt("tcp,nw_src=10.222.1.48,nw_dst=10.222.2.34,tp_dst=22,ct_state=0x22")
        ),
        Some("est")
    );
    // backend1 egress: conjunction 5 has a single clause present of two -> miss.
    assert_eq!(
        look(&c, &pkt("tcp,nw_src=10.222.1.47,tp_dst=80")),
        Some("miss")
    );
    // Some other source to backend1:80: clause 1 of conj 1 missing.
    assert_eq!(
        look(
            &c,
            &pkt("tcp,nw_src=10.222.1.3,nw_dst=10.222.1.47,tp_dst=80")
        ),
        Some("miss")
    );
}

#[test]
fn conjunction_falls_back_to_lower_priority_identical_match() {
    let mut c = Classifier::new();
    add(&mut c, "ip,nw_src=1.1.1.1", 100, &[(9, 1, 2)], "soft");
    add(&mut c, "ip,nw_src=1.1.1.1", 50, &[], "hard-below");
    add(&mut c, "", 0, &[], "miss");
    add(&mut c, "conj_id=9", 10, &[], "conj9");
    assert_eq!(look(&c, &pkt("ip,nw_src=1.1.1.1")), Some("hard-below"));
    add(&mut c, "ip,nw_dst=2.2.2.2", 100, &[(9, 2, 2)], "soft2");
    assert_eq!(
        look(&c, &pkt("ip,nw_src=1.1.1.1,nw_dst=2.2.2.2")),
        Some("conj9")
    );
    // A complete conjunction with no conj_id flow is ignored.
    let mut c = Classifier::new();
    add(&mut c, "ip,nw_src=1.1.1.1", 100, &[(9, 1, 2)], "a");
    add(&mut c, "ip,nw_dst=2.2.2.2", 100, &[(9, 2, 2)], "b");
    add(&mut c, "ip", 1, &[], "low");
    assert_eq!(
        look(&c, &pkt("ip,nw_src=1.1.1.1,nw_dst=2.2.2.2")),
        Some("low")
    );
}

// ---- Property tests against a linear-scan reference.

#[derive(Clone, Debug)]
struct R {
    value: Flow,
    mask: Flow,
    prio: u16,
}

/// Random rules over a few fields with small value spaces so that matches are frequent.
fn arb_rule() -> impl Strategy<Value = R> {
    (
        prop::option::of(0u8..3),
        prop::option::of(0u8..4),
        prop::option::of((0u8..4, 24u8..=32)),
        prop::option::of(0u16..3),
        prop::option::of(0u32..3),
        0u16..1000,
    )
        .prop_map(|(port, proto, dst, tp, reg, prio)| {
            let mut value = Flow::ZERO;
            let mut mask = Flow::ZERO;
            let mut set = |f: Field, v: u128, m: u128| {
                f.set(&mut value, v & m);
                f.set(&mut mask, m);
            };
            if let Some(p) = port {
                set(Field::InPort, u128::from(p), 0xffff_ffff);
            }
            set(Field::EthType, 0x0800, 0xffff);
            if let Some(p) = proto {
                set(Field::NwProto, u128::from(p), 0xff);
            }
            if let Some((d, len)) = dst {
                let m = (u32::MAX << (32 - u32::from(len))) as u128;
                set(Field::NwDst, u128::from(0x0a00_0000 | u32::from(d)), m);
            }
            if let Some(t) = tp {
                set(Field::TpDst, u128::from(t), 0xffff);
            }
            if let Some(r) = reg {
                set(Field::Reg(3), u128::from(r), 0xffff_ffff);
            }
            R { value, mask, prio }
        })
}

fn arb_flow() -> impl Strategy<Value = Flow> {
    (0u8..3, 0u8..4, 0u8..4, 0u16..3, 0u32..3, any::<u16>()).prop_map(
        |(port, proto, d, tp, reg, sport)| {
            let mut f = Flow::ZERO;
            Field::InPort.set(&mut f, u128::from(port));
            Field::EthType.set(&mut f, 0x0800);
            Field::NwProto.set(&mut f, u128::from(proto));
            Field::NwDst.set(&mut f, u128::from(0x0a00_0000 | u32::from(d)));
            Field::TpDst.set(&mut f, u128::from(tp));
            Field::TpSrc.set(&mut f, u128::from(sport));
            Field::Reg(3).set(&mut f, u128::from(reg));
            f
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn matches_linear_scan(rules in prop::collection::vec(arb_rule(), 0..40),
                           flows in prop::collection::vec(arb_flow(), 1..20)) {
        let mut c: Classifier<usize> = Classifier::new();
        let mut live: Vec<Option<R>> = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            // Later duplicates (same match+priority) replace earlier ones, like the classifier.
            for l in live.iter_mut() {
                if let Some(x) = l {
                    if x.mask == r.mask && x.value == r.value && x.prio == r.prio { *l = None; }
                }
            }
            c.insert(&r.value, &r.mask, r.prio, &[], i);
            live.push(Some(r.clone()));
        }
        for f in &flows {
            let best = live.iter().flatten()
                .filter(|r| f.matches(&r.value, &r.mask))
                .map(|r| r.prio).max();
            let mut wc = Flow::ZERO;
            let got = c.lookup(f, Some(&mut wc));
            prop_assert_eq!(got.as_ref().map(|g| g.priority), best);
            // Megaflow property: any flow that agrees on the un-wildcarded bits gets the
            // same answer.
            if let Some(g) = &got {
                let rid = *g.payload;
                for g2 in &flows {
                    if g2.masked(&wc) == f.masked(&wc) {
                        let other = c.lookup(g2, None).map(|x| *x.payload);
                        prop_assert_eq!(other, Some(rid));
                    }
                }
            }
        }
    }

    #[test]
    fn wildcards_are_sufficient_under_perturbation(rules in prop::collection::vec(arb_rule(), 1..30),
                                                   f in arb_flow(), noise in arb_flow()) {
        let mut c: Classifier<usize> = Classifier::new();
        for (i, r) in rules.iter().enumerate() { c.insert(&r.value, &r.mask, r.prio, &[], i); }
        let mut wc = Flow::ZERO;
        let a = c.lookup(&f, Some(&mut wc)).map(|x| *x.payload);
        // Take wildcarded bits from `noise`, the rest from `f`.
        let mut g = Flow::ZERO;
        for i in 0..FLOW_WORDS { g.w[i] = (f.w[i] & wc.w[i]) | (noise.w[i] & !wc.w[i]); }
        let b = c.lookup(&g, None).map(|x| *x.payload);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn remove_restores(rules in prop::collection::vec(arb_rule(), 1..30), f in arb_flow()) {
        let mut c: Classifier<usize> = Classifier::new();
        for (i, r) in rules.iter().enumerate() { c.insert(&r.value, &r.mask, r.prio, &[], i); }
        for r in &rules { c.remove(&r.value, &r.mask, r.prio); }
        prop_assert!(c.is_empty());
        prop_assert!(c.lookup(&f, None).is_none());
        prop_assert_eq!(c.n_subtables(), 0);
    }
}

#[test]
fn a_big_subtable_splits_into_chunks_that_versions_share() {
    let mut c: Classifier<u32> = Classifier::new();
    let mk = |i: u32| {
        m(&format!(
            "ip,nw_src={}",
            std::net::Ipv4Addr::from(0x0a00_0000 + i)
        ))
    };
    for i in 0..10_000u32 {
        let mm = mk(i);
        c.insert(&mm.value, &mm.mask, 10 + (i % 3) as u16, &[], i);
    }
    let chunks = c.subtables[0].table.len();
    assert_eq!(
        chunks, 256,
        "10,000 rules: 256 chunks of at most {CHUNK_MAX}"
    );
    assert!(c.subtables[0].table.iter().all(|t| t.len() < 3 * CHUNK_MAX));
    let before = c.clone();
    // A change copies one chunk; the other version keeps its own.
    let mm = mk(7);
    assert_eq!(c.remove(&mm.value, &mm.mask, 10 + 7 % 3), Some(7));
    let shared = c.subtables[0]
        .table
        .iter()
        .zip(&before.subtables[0].table)
        .filter(|(a, b)| Arc::ptr_eq(a, b))
        .count();
    assert_eq!(shared, chunks - 1);
    for i in (0..10_000u32).step_by(97) {
        let f = mk(i).value;
        let want = if i == 7 { None } else { Some(i) };
        assert_eq!(c.lookup(&f, None).map(|r| *r.payload), want);
        assert_eq!(before.lookup(&f, None).map(|r| *r.payload), Some(i));
    }
    assert_eq!(before.get(&mm.value, &mm.mask, 11).copied(), Some(7));
    // Removing most rules keeps the right maximum priority (no scan of the table).
    for i in 0..10_000u32 {
        if i % 3 != 0 && i != 7 {
            let mm = mk(i);
            assert_eq!(c.remove(&mm.value, &mm.mask, 10 + (i % 3) as u16), Some(i));
        }
    }
    assert_eq!(c.subtables[0].max_priority, 10);
    let mut n = 0;
    c.for_each(|_| n += 1);
    assert_eq!(n, c.len());
}

// ---- Prefix tracking (prefix.rs).

/// Antrea's table 90 in small: rules on the client's address and the port, a default.
fn policy() -> Classifier<&'static str> {
    let mut c = Classifier::new();
    add(&mut c, "ip,nw_src=10.222.1.48", 200, &[], "frontend");
    add(&mut c, "ip,nw_src=10.222.1.1", 210, &[], "gateway");
    add(&mut c, "udp,tp_dst=53", 190, &[], "dns");
    add(&mut c, "ip,nw_dst=10.96.0.0/12", 180, &[], "services");
    add(&mut c, "", 0, &[], "default");
    c
}

fn addr_wc(c: &Classifier<&'static str>, f: &Flow) -> (Option<&'static str>, u32, u32) {
    let mut wc = Flow::ZERO;
    let r = c.lookup(f, Some(&mut wc)).map(|r| *r.payload);
    (
        r,
        Field::NwSrc.get(&wc) as u32,
        Field::NwDst.get(&wc) as u32,
    )
}

#[test]
fn a_flood_from_random_sources_depends_on_their_first_octet_only() {
    let c = policy();
    let mut x = 0x1234_5678u32;
    for _ in 0..1000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let src = 0xac00_0000 | (x & 0x00ff_ffff); // 172.x.y.z
        let f = pkt(&format!(
            "tcp,nw_src={},nw_dst=10.222.1.47,tp_dst=80",
            std::net::Ipv4Addr::from(src)
        ));
        // Without prefix tracking the two nw_src rules made all 32 bits count.
        assert_eq!(addr_wc(&c, &f), (Some("default"), 0xff00_0000, 0xfff0_0000));
    }
    // An address that shares 10.222.1.x with the rules needs every bit.
    let f = pkt("tcp,nw_src=10.222.1.49,nw_dst=10.222.1.47");
    assert_eq!(addr_wc(&c, &f), (Some("default"), 0xffff_ffff, 0xfff0_0000));
    // A matching address takes the subtable's mask, as before.
    let f = pkt("udp,nw_src=10.222.1.48,nw_dst=10.222.1.2,tp_dst=53");
    assert_eq!(addr_wc(&c, &f).0, Some("frontend"));
}

#[test]
fn bit_flips_of_a_rules_address_leave_at_most_four_address_masks() {
    // Tuple Space Explosion's packets: the rule's address with one bit flipped. Exact
    // tracking (OVS) gives 32 masks per address field; whole octets give 4 (+1: a match).
    let c = policy();
    let mut masks = std::collections::HashSet::new();
    for b in 0..32 {
        for p in 0..17 {
            let src = 0x0ade_0130u32 ^ (1 << b);
            let port = if p == 16 { 53 } else { 53 ^ (1 << p) };
            let f = pkt(&format!(
                "udp,nw_src={},nw_dst=10.222.1.2,tp_dst={port}",
                std::net::Ipv4Addr::from(src)
            ));
            let mut wc = Flow::ZERO;
            c.lookup(&f, Some(&mut wc));
            masks.insert(wc);
        }
    }
    assert!(masks.len() <= 8, "{} masks", masks.len());
    let src_masks: std::collections::HashSet<_> =
        masks.iter().map(|m| Field::NwSrc.get(m)).collect();
    assert!(src_masks.len() <= 4, "{src_masks:x?}");
}

#[test]
fn prefix_tracking_follows_inserts_removals_and_versions() {
    let mut c = policy();
    let f = pkt("ip,nw_src=172.16.0.1,nw_dst=10.0.0.1");
    assert_eq!(addr_wc(&c, &f).1, 0xff00_0000);
    let before = c.clone();
    // A rule close to the packet's address: now more bits are needed, in this version only.
    add(&mut c, "ip,nw_src=172.16.9.9", 200, &[], "near");
    assert_eq!(addr_wc(&c, &f), (Some("default"), 0xffff_ff00, 0xfff0_0000));
    assert_eq!(addr_wc(&before, &f).1, 0xff00_0000);
    let mm = m("ip,nw_src=172.16.9.9");
    assert_eq!(c.remove(&mm.value, &mm.mask, 200), Some("near"));
    assert_eq!(addr_wc(&c, &f).1, 0xff00_0000);
    // Two rules with the same address and different priorities: removing one keeps it.
    add(&mut c, "ip,nw_src=172.16.0.1", 200, &[], "a");
    add(&mut c, "ip,nw_src=172.16.0.1", 100, &[], "b");
    c.remove(&mm.value, &mm.mask, 200);
    let ma = m("ip,nw_src=172.16.0.1");
    c.remove(&ma.value, &ma.mask, 200);
    assert_eq!(addr_wc(&c, &f).0, Some("b"));
}

#[test]
fn a_subtable_with_too_many_addresses_is_looked_up_whole() {
    let mut c: Classifier<u32> = Classifier::new();
    for i in 0..(prefix::PREFIX_MAX_VALUES as u32 + 10) {
        let mm = m(&format!(
            "ip,nw_src={}",
            std::net::Ipv4Addr::from(0x0a00_0000 + 2 * i)
        ));
        c.insert(&mm.value, &mm.mask, 10, &[], i);
    }
    let f = pkt("ip,nw_src=172.16.0.1");
    let mut wc = Flow::ZERO;
    assert!(c.lookup(&f, Some(&mut wc)).is_none());
    assert_eq!(Field::NwSrc.get(&wc), 0xffff_ffff);
    let f = pkt(&format!(
        "ip,nw_src={}",
        std::net::Ipv4Addr::from(0x0a00_0000 + 2 * 4000)
    ));
    assert_eq!(c.lookup(&f, None).map(|r| *r.payload), Some(4000));
}

/// One of 64 addresses, spread over the top and the bottom bits.
fn spread(v: u32) -> u32 {
    (v << 26) | ((v * 0x0101_0101) & 0x03ff_ffff)
}

/// Rules with prefixes of any length on both addresses, near each other.
fn arb_prefix_rule() -> impl Strategy<Value = R> {
    (
        prop::option::of((0u32..64, 1u32..=32)),
        prop::option::of((0u32..64, 1u32..=32)),
        prop::option::of(0u8..3),
        0u16..1000,
    )
        .prop_map(|(src, dst, proto, prio)| {
            let mut value = Flow::ZERO;
            let mut mask = Flow::ZERO;
            let mut set = |f: Field, v: u128, m: u128| {
                f.set(&mut value, v & m);
                f.set(&mut mask, m);
            };
            set(Field::EthType, 0x0800, 0xffff);
            for (f, a) in [(Field::NwSrc, src), (Field::NwDst, dst)] {
                if let Some((v, len)) = a {
                    set(f, u128::from(spread(v)), u128::from(u32::MAX << (32 - len)));
                }
            }
            if let Some(p) = proto {
                set(Field::NwProto, u128::from(p), 0xff);
            }
            R { value, mask, prio }
        })
}

fn arb_addr_flow() -> impl Strategy<Value = Flow> {
    (
        0u32..64,
        any::<u32>(),
        0u32..64,
        any::<u32>(),
        0u8..3,
        any::<bool>(),
    )
        .prop_map(|(s, sn, d, dn, proto, near)| {
            let mut f = Flow::ZERO;
            // Close to a rule's value (a few low bits changed) or anywhere.
            let near_rule = |v: u32, noise: u32| {
                if near {
                    spread(v) ^ (noise & 0xff)
                } else {
                    noise
                }
            };
            Field::EthType.set(&mut f, 0x0800);
            Field::NwSrc.set(&mut f, u128::from(near_rule(s, sn)));
            Field::NwDst.set(&mut f, u128::from(near_rule(d, dn)));
            Field::NwProto.set(&mut f, u128::from(proto));
            f
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn prefix_tracked_lookups_match_a_linear_scan_and_their_megaflows_hold(
        rules in prop::collection::vec(arb_prefix_rule(), 1..40),
        f in arb_addr_flow(),
        noise in prop::collection::vec(arb_addr_flow(), 1..8),
    ) {
        let mut c: Classifier<usize> = Classifier::new();
        for (i, r) in rules.iter().enumerate() { c.insert(&r.value, &r.mask, r.prio, &[], i); }
        let scan = |g: &Flow| rules.iter().filter(|r| g.matches(&r.value, &r.mask)).map(|r| r.prio).max();
        let mut wc = Flow::ZERO;
        let a = c.lookup(&f, Some(&mut wc));
        prop_assert_eq!(a.as_ref().map(|x| x.priority), scan(&f));
        let a = a.map(|x| *x.payload);
        // Every flow that agrees on the un-wildcarded bits gets the same rule.
        for n in &noise {
            let mut g = Flow::ZERO;
            for i in 0..FLOW_WORDS { g.w[i] = (f.w[i] & wc.w[i]) | (n.w[i] & !wc.w[i]); }
            prop_assert_eq!(c.lookup(&g, None).map(|x| *x.payload), a);
        }
    }
}
