//! `execute_hinted` against `execute`: two trackers fed the same packets in lockstep, one
//! looking every packet up and taking every connection's lock, the other given hints
//! (right ones, wrong ones, and ones whose connection has ended, expired or been flushed)
//! and serving connections whose state is final without their lock (`hot.rs`), must give
//! the same verdicts and end with the same connections.

use super::tests::{icmp, nat_action, tcp, udp, P};
use super::*;
use proptest::prelude::*;

/// One step of the stream.
#[derive(Clone, Debug)]
enum Step {
    /// A packet: flow index, reply direction, TCP flags choice, command choice, which hint.
    Packet(usize, bool, u8, u8, u8),
    /// Time moves on by this many milliseconds.
    Wait(u64),
    /// The periodic sweep.
    Expire,
    /// `flush-conntrack` of one zone.
    Flush(u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0usize..8, any::<bool>(), 0u8..6, 0u8..6, 0u8..4)
            .prop_map(|(f, r, fl, c, h)| Step::Packet(f, r, fl, c, h)),
        2 => prop_oneof![Just(10u64), Just(20_000), Just(40_000), Just(61_000)].prop_map(Step::Wait),
        1 => Just(Step::Expire),
        1 => (1u16..3).prop_map(Step::Flush),
    ]
}

/// Flow `f`'s packet in one direction: three UDP flows, three TCP flows with the flags
/// `fl` picks (SYN, SYN-ACK, ACK, FIN-ACK, RST, ACK with data) and sequence numbers that
/// follow a handshake from 100/500, and two ICMP echo flows (request, reply).
fn packet(f: usize, reply: bool, fl: u8) -> P {
    let (a, b) = ("10.0.0.1", "10.0.0.2");
    let sport = 1000 + f as u16;
    if f >= 6 {
        return if reply {
            icmp(b, a, 0, sport, vec![0; 8])
        } else {
            icmp(a, b, 8, sport, vec![0; 8])
        };
    }
    if f < 3 {
        return if reply {
            udp(b, 53, a, sport)
        } else {
            udp(a, sport, b, 53)
        };
    }
    let (flags, len) = match fl {
        0 => (0x002, 0),
        1 => (0x012, 0),
        2 => (0x010, 0),
        3 => (0x011, 0),
        4 => (0x004, 0),
        _ => (0x018, 10),
    };
    let (seq, ack) = if reply { (500, 101) } else { (101, 501) };
    if reply {
        tcp(
            b,
            80,
            a,
            sport,
            flags,
            if fl == 1 { 500 } else { seq },
            ack,
            len,
        )
    } else {
        tcp(
            a,
            sport,
            b,
            80,
            flags,
            if fl == 0 { 100 } else { seq },
            ack,
            len,
        )
    }
}

fn run(steps: &[Step]) {
    let cfg = ConntrackConfig {
        seed: 7,
        max_connections: 4,
        ..Default::default()
    };
    let plain = Conntrack::new(ConntrackConfig {
        lock_free_steady: false,
        ..cfg.clone()
    });
    let hinted = Conntrack::new(cfg);
    let dnat = nat_action(Some(NatKind::Dst), Some("10.0.0.9"), None);
    let bare = nat_action(None, None, None);
    // Hints as a fast path keeps them: one per (flow, direction, command), plus a pool
    // of every connection ever met, for wrong hints.
    let mut hints: std::collections::HashMap<(usize, bool, u8), ConnRef> = Default::default();
    let mut met: Vec<ConnRef> = Vec::new();
    let mut now = 1u64;
    for s in steps {
        match *s {
            Step::Packet(f, reply, fl, c, h) => {
                let p = packet(f, reply, fl);
                let cmd = match c {
                    0 => CtCommand {
                        zone: 1,
                        commit: true,
                        ..Default::default()
                    },
                    1 => CtCommand {
                        zone: 1,
                        ..Default::default()
                    },
                    2 => CtCommand {
                        zone: 2,
                        commit: true,
                        nat: Some(&dnat),
                        ..Default::default()
                    },
                    // A commit that changes mark and label (read by later packets).
                    4 => CtCommand {
                        zone: 1,
                        commit: true,
                        set_mark: Some((u32::from(fl) + 1, 0xff)),
                        set_label: Some((u128::from(fl) << 100 | 1, u128::MAX)),
                        ..Default::default()
                    },
                    // A forced commit: ends a connection seen in its reply direction.
                    5 => CtCommand {
                        zone: 1,
                        commit: true,
                        force: true,
                        ..Default::default()
                    },
                    _ => CtCommand {
                        zone: 2,
                        nat: Some(&bare),
                        ..Default::default()
                    },
                };
                let want = plain.execute(&p.ct(), &cmd, now);
                let hint = match h {
                    0 => None,
                    1 | 2 => hints.get(&(f, reply, c)).cloned(),
                    _ => met
                        .get((f * 7 + usize::from(fl)) % met.len().max(1))
                        .cloned(),
                };
                let (got, learned) =
                    hinted.execute_hinted(&p.ct(), &cmd, now, hint.as_ref(), true, None);
                assert_eq!(want, got, "verdicts differ at {s:?}");
                if let Some(c2) = learned {
                    hints.insert((f, reply, c), c2.clone());
                    met.push(c2);
                }
            }
            Step::Wait(ms) => now += ms,
            Step::Expire => assert_eq!(plain.expire(now), hinted.expire(now), "{s:?}"),
            Step::Flush(z) => assert_eq!(plain.flush(Some(z)), hinted.flush(Some(z)), "{s:?}"),
        }
        assert_eq!(plain.len(), hinted.len(), "after {s:?}");
    }
    assert_eq!(plain.dump_at(None, now), hinted.dump_at(None, now));
    assert_eq!(plain.stats(), hinted.stats());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    #[test]
    fn hinted_equals_lookup(steps in proptest::collection::vec(step(), 1..120)) {
        run(&steps);
    }
}

#[test]
fn a_right_hint_is_used_and_a_wrong_one_is_not() {
    let t = Conntrack::new(ConntrackConfig {
        seed: 1,
        ..Default::default()
    });
    let cmd = CtCommand {
        zone: 1,
        commit: true,
        ..Default::default()
    };
    let (v, learned) = t.execute_hinted(
        &udp("10.0.0.1", 1, "10.0.0.2", 53).ct(),
        &cmd,
        1,
        None,
        true,
        None,
    );
    assert_eq!(v.state, cs::TRK | cs::NEW);
    let a = learned.expect("a committed connection is learned");
    // The reply with the right hint: served through it (nothing to learn).
    let (v, learned) = t.execute_hinted(
        &udp("10.0.0.2", 53, "10.0.0.1", 1).ct(),
        &cmd,
        2,
        Some(&a),
        true,
        None,
    );
    assert_eq!(v.state, cs::TRK | cs::EST | cs::RPL);
    assert!(learned.is_none());
    // Another flow given that hint: looked up, and its own connection learned.
    let (v, learned) = t.execute_hinted(
        &udp("10.0.0.1", 2, "10.0.0.2", 53).ct(),
        &cmd,
        3,
        Some(&a),
        true,
        None,
    );
    assert_eq!(v.state, cs::TRK | cs::NEW);
    assert!(learned.is_some());
    // Flushed: the hint is dead, the packet starts a new connection.
    assert_eq!(t.flush(Some(1)), 2);
    let (v, learned) = t.execute_hinted(
        &udp("10.0.0.1", 1, "10.0.0.2", 53).ct(),
        &cmd,
        4,
        Some(&a),
        true,
        None,
    );
    assert_eq!(v.state, cs::TRK | cs::NEW);
    assert!(learned.is_some());
    assert_eq!(t.len(), 1);
}
