use super::*;
use crate::build::{ip, ipv4_packet, Ipv4Spec, L4Spec};
use crate::ofctl::IpRange;

/// Conntrack input from an IPv4 packet built by `build`.
pub(super) struct P {
    bytes: Vec<u8>,
    src: u32,
    dst: u32,
    proto: u8,
    sport: u16,
    dport: u16,
    flags: u16,
}

impl P {
    pub(super) fn ct(&self) -> CtPacket<'_> {
        CtPacket {
            eth_type: 0x0800,
            src: u128::from(self.src),
            dst: u128::from(self.dst),
            proto: self.proto,
            src_port: self.sport,
            dst_port: self.dport,
            tcp_flags: self.flags,
            l4: &self.bytes[20..],
            l4_len: self.bytes.len() - 20,
            is_fragment: false,
            csum_ok: true,
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn tcp(
    src: &str,
    sport: u16,
    dst: &str,
    dport: u16,
    flags: u16,
    seq: u32,
    ack: u32,
    len: usize,
) -> P {
    let b = ipv4_packet(&Ipv4Spec {
        src: ip(src),
        dst: ip(dst),
        l4: L4Spec::Tcp {
            sport,
            dport,
            flags,
            seq,
            ack,
            win: 65535,
        },
        payload: vec![0; len],
        ..Default::default()
    });
    P {
        bytes: b,
        src: ip(src),
        dst: ip(dst),
        proto: 6,
        sport,
        dport,
        flags,
    }
}

pub(super) fn udp(src: &str, sport: u16, dst: &str, dport: u16) -> P {
    let b = ipv4_packet(&Ipv4Spec {
        src: ip(src),
        dst: ip(dst),
        l4: L4Spec::Udp { sport, dport },
        payload: vec![1, 2, 3],
        ..Default::default()
    });
    P {
        bytes: b,
        src: ip(src),
        dst: ip(dst),
        proto: 17,
        sport,
        dport,
        flags: 0,
    }
}

pub(super) fn icmp(src: &str, dst: &str, ty: u8, id: u16, payload: Vec<u8>) -> P {
    let b = ipv4_packet(&Ipv4Spec {
        src: ip(src),
        dst: ip(dst),
        l4: L4Spec::Icmp {
            ty,
            code: 0,
            rest: u32::from(id) << 16 | 1,
        },
        payload,
        ..Default::default()
    });
    P {
        bytes: b,
        src: ip(src),
        dst: ip(dst),
        proto: 1,
        sport: u16::from(ty),
        dport: 0,
        flags: 0,
    }
}

fn ct() -> Conntrack {
    Conntrack::new(ConntrackConfig {
        seed: 7,
        ..Default::default()
    })
}

const Z: CtCommand = CtCommand {
    zone: 5,
    commit: false,
    force: false,
    nat: None,
    set_mark: None,
    set_label: None,
};
const C: CtCommand = CtCommand {
    zone: 5,
    commit: true,
    force: false,
    nat: None,
    set_mark: None,
    set_label: None,
};

/// A `nat` action: `kind` (`None`: bare `nat`, reversing what is there) to one IPv4
/// address and a port range, without the persistent/hash/random flags.
pub(super) fn nat_action(
    kind: Option<NatKind>,
    addr: Option<&str>,
    ports: Option<(u16, u16)>,
) -> Nat {
    Nat {
        kind,
        addr: addr.map(|a| (IpRange::V4(ip(a)), IpRange::V4(ip(a)))),
        ports,
        persistent: false,
        hash: false,
        random: false,
    }
}

const NEW: u8 = cs::TRK | cs::NEW;
const EST: u8 = cs::TRK | cs::EST;
const EST_RPL: u8 = cs::TRK | cs::EST | cs::RPL;
const INV: u8 = cs::TRK | cs::INV;

/// Runs a full handshake + data + close; returns the tracker.
fn handshake(t: &Conntrack) {
    assert_eq!(
        t.execute(
            &tcp("10.0.0.1", 1000, "10.0.0.2", 80, 0x002, 100, 0, 0).ct(),
            &C,
            0
        )
        .state,
        NEW
    );
    // SYN retransmit is still +new.
    assert_eq!(
        t.execute(
            &tcp("10.0.0.1", 1000, "10.0.0.2", 80, 0x002, 100, 0, 0).ct(),
            &Z,
            1
        )
        .state,
        NEW
    );
    assert_eq!(
        t.execute(
            &tcp("10.0.0.2", 80, "10.0.0.1", 1000, 0x012, 500, 101, 0).ct(),
            &Z,
            2
        )
        .state,
        EST_RPL
    );
    assert_eq!(
        t.execute(
            &tcp("10.0.0.1", 1000, "10.0.0.2", 80, 0x010, 101, 501, 0).ct(),
            &Z,
            3
        )
        .state,
        EST
    );
}

#[test]
fn tcp_lifecycle() {
    let t = ct();
    handshake(&t);
    assert_eq!(t.len(), 1);
    let d = t.dump(None);
    assert_eq!(d[0].tcp_state, Some("ESTABLISHED"), "{}", d[0]);
    // Data both ways.
    assert_eq!(
        t.execute(
            &tcp("10.0.0.1", 1000, "10.0.0.2", 80, 0x018, 101, 501, 100).ct(),
            &Z,
            4
        )
        .state,
        EST
    );
    assert_eq!(
        t.execute(
            &tcp("10.0.0.2", 80, "10.0.0.1", 1000, 0x018, 501, 201, 50).ct(),
            &Z,
            5
        )
        .state,
        EST_RPL
    );
    // Far out of window: invalid.
    assert_eq!(
        t.execute(
            &tcp(
                "10.0.0.1",
                1000,
                "10.0.0.2",
                80,
                0x018,
                101 + 5_000_000,
                551,
                10
            )
            .ct(),
            &Z,
            6
        )
        .state,
        INV
    );
    // FIN both ways then last ACK.
    assert_eq!(
        t.execute(
            &tcp("10.0.0.1", 1000, "10.0.0.2", 80, 0x011, 201, 551, 0).ct(),
            &Z,
            7
        )
        .state,
        EST
    );
    assert_eq!(
        t.execute(
            &tcp("10.0.0.2", 80, "10.0.0.1", 1000, 0x011, 551, 202, 0).ct(),
            &Z,
            8
        )
        .state,
        EST_RPL
    );
    assert_eq!(
        t.execute(
            &tcp("10.0.0.1", 1000, "10.0.0.2", 80, 0x010, 202, 552, 0).ct(),
            &Z,
            9
        )
        .state,
        EST
    );
    assert_eq!(t.dump(None)[0].tcp_state, Some("TIME_WAIT"));
    // A new SYN on the closed connection replaces it (+new again).
    assert_eq!(
        t.execute(
            &tcp("10.0.0.1", 1000, "10.0.0.2", 80, 0x002, 9000, 0, 0).ct(),
            &C,
            10
        )
        .state,
        NEW
    );
    assert_eq!(t.len(), 1);
    assert_eq!(t.dump(None)[0].tcp_state, Some("SYN_SENT"));
}

#[test]
fn tcp_rst_closes() {
    let t = ct();
    handshake(&t);
    assert_eq!(
        t.execute(
            &tcp("10.0.0.2", 80, "10.0.0.1", 1000, 0x004, 501, 0, 0).ct(),
            &Z,
            4
        )
        .state,
        EST_RPL
    );
    assert_eq!(t.dump(None)[0].tcp_state, Some("TIME_WAIT"));
    // Expires after the close timeout.
    assert_eq!(t.expire(4 + 30_001), 1);
    assert!(t.is_empty());
}

#[test]
fn tcp_invalid_cases() {
    let t = ct();
    // Bare ACK for an unknown connection.
    assert_eq!(
        t.execute(
            &tcp("10.0.0.1", 1, "10.0.0.2", 2, 0x010, 1, 1, 0).ct(),
            &C,
            0
        )
        .state,
        INV
    );
    // SYN-ACK cannot start a connection.
    assert_eq!(
        t.execute(
            &tcp("10.0.0.1", 1, "10.0.0.2", 2, 0x012, 1, 1, 0).ct(),
            &C,
            0
        )
        .state,
        INV
    );
    // Invalid flag combinations.
    for f in [0x003u16, 0x006, 0x000, 0x001, 0x008, 0x029] {
        assert_eq!(
            t.execute(&tcp("10.0.0.1", 1, "10.0.0.2", 2, f, 1, 1, 0).ct(), &C, 0)
                .state,
            INV,
            "flags {f:#x}"
        );
    }
    assert!(t.is_empty());
    assert_eq!(t.stats().invalid, 8);
    // Truncated header.
    let mut p = tcp("10.0.0.1", 1, "10.0.0.2", 2, 0x002, 1, 0, 0);
    p.bytes.truncate(30);
    assert_eq!(t.execute(&p.ct(), &C, 0).state, INV);
    // Mid-stream pickup when configured, as OVS.
    let loose = Conntrack::new(ConntrackConfig {
        tcp_midstream_pickup: true,
        seed: 1,
        ..Default::default()
    });
    assert_eq!(
        loose
            .execute(
                &tcp("10.0.0.1", 1, "10.0.0.2", 2, 0x010, 1, 1, 0).ct(),
                &C,
                0
            )
            .state,
        NEW
    );
    // Fragments and unknown ethertypes.
    let fp = tcp("10.0.0.1", 1, "10.0.0.2", 2, 0x002, 1, 0, 0);
    let mut f = fp.ct();
    f.is_fragment = true;
    assert_eq!(t.execute(&f, &C, 0).state, INV);
    let mut g = fp.ct();
    g.eth_type = 0x0806;
    assert_eq!(t.execute(&g, &C, 0).state, INV);
}

#[test]
fn udp_and_icmp() {
    let t = ct();
    assert_eq!(
        t.execute(&udp("10.0.0.1", 5, "10.0.0.2", 53).ct(), &C, 0)
            .state,
        NEW
    );
    assert_eq!(
        t.execute(&udp("10.0.0.1", 5, "10.0.0.2", 53).ct(), &Z, 1)
            .state,
        NEW,
        "no reply yet"
    );
    assert_eq!(
        t.execute(&udp("10.0.0.2", 53, "10.0.0.1", 5).ct(), &Z, 2)
            .state,
        EST_RPL
    );
    assert_eq!(
        t.execute(&udp("10.0.0.1", 5, "10.0.0.2", 53).ct(), &Z, 3)
            .state,
        EST
    );
    // Echo request/reply.
    assert_eq!(
        t.execute(&icmp("10.0.0.1", "10.0.0.2", 8, 77, vec![]).ct(), &C, 0)
            .state,
        NEW
    );
    assert_eq!(
        t.execute(&icmp("10.0.0.2", "10.0.0.1", 0, 77, vec![]).ct(), &Z, 1)
            .state,
        EST_RPL
    );
    // A reply with another id is invalid (cannot start a connection).
    assert_eq!(
        t.execute(&icmp("10.0.0.2", "10.0.0.1", 0, 78, vec![]).ct(), &Z, 1)
            .state,
        INV
    );
    // An ICMP port unreachable about the UDP flow is related (reply direction).
    let inner = ipv4_packet(&Ipv4Spec {
        src: ip("10.0.0.1"),
        dst: ip("10.0.0.2"),
        l4: L4Spec::Udp {
            sport: 5,
            dport: 53,
        },
        ..Default::default()
    });
    let err = icmp("10.0.0.2", "10.0.0.1", 3, 0, inner[..28].to_vec());
    assert_eq!(
        t.execute(&err.ct(), &Z, 4).state,
        cs::TRK | cs::REL | cs::RPL
    );
    // ...but an error about an unknown flow is invalid.
    let inner2 = ipv4_packet(&Ipv4Spec {
        src: ip("10.0.0.9"),
        dst: ip("10.0.0.2"),
        l4: L4Spec::Udp {
            sport: 5,
            dport: 53,
        },
        ..Default::default()
    });
    let err2 = icmp("10.0.0.2", "10.0.0.9", 3, 0, inner2[..28].to_vec());
    assert_eq!(t.execute(&err2.ct(), &Z, 4).state, INV);
    assert_eq!(t.stats().by_proto, [0, 1, 1, 0]);
}

#[test]
fn zones_isolate_and_marks_labels() {
    let t = ct();
    let z1 = CtCommand {
        zone: 1,
        set_mark: Some((0x20, 0xff)),
        set_label: Some((1 << 100, 1 << 100)),
        ..C
    };
    let v = t.execute(&udp("10.0.0.1", 5, "10.0.0.2", 53).ct(), &z1, 0);
    assert_eq!((v.state, v.mark, v.label), (NEW, 0x20, 1 << 100));
    // Zone 2 does not see it.
    assert_eq!(
        t.execute(
            &udp("10.0.0.2", 53, "10.0.0.1", 5).ct(),
            &CtCommand { zone: 2, ..Z },
            1
        )
        .state,
        NEW
    );
    let v = t.execute(
        &udp("10.0.0.2", 53, "10.0.0.1", 5).ct(),
        &CtCommand { zone: 1, ..Z },
        1,
    );
    assert_eq!((v.state, v.mark), (EST_RPL, 0x20));
    // Masked update of the mark on an existing connection.
    let v = t.execute(
        &udp("10.0.0.1", 5, "10.0.0.2", 53).ct(),
        &CtCommand {
            zone: 1,
            set_mark: Some((0x3, 0x0f)),
            ..C
        },
        2,
    );
    assert_eq!(v.mark, 0x23);
    assert_eq!(t.flush(Some(2)), 0);
    assert_eq!(t.flush(Some(1)), 1);
    assert!(t.is_empty());
}

#[test]
fn dnat_service_load_balancing() {
    let t = ct();
    let nat = nat_action(Some(NatKind::Dst), Some("10.222.1.47"), Some((80, 80)));
    let cmd = CtCommand {
        nat: Some(&nat),
        ..C
    };
    let syn = tcp("10.222.1.48", 5555, "10.104.65.133", 80, 0x002, 1, 0, 0);
    let v = t.execute(&syn.ct(), &cmd, 0);
    assert_eq!(v.state, NEW | cs::DNAT);
    assert_eq!(
        v.nat,
        Some(NatRewrite {
            src: None,
            dst: Some((u128::from(ip("10.222.1.47")), 80)),
        })
    );
    // The backend answers from its own address; bare `nat` reverses it.
    let bare = nat_action(None, None, None);
    let synack = tcp("10.222.1.47", 80, "10.222.1.48", 5555, 0x012, 900, 2, 0);
    let v = t.execute(
        &synack.ct(),
        &CtCommand {
            nat: Some(&bare),
            ..Z
        },
        1,
    );
    // The reply's source is rewritten: `+snat`, as OVS reports it.
    assert_eq!(v.state, EST_RPL | cs::SNAT);
    assert_eq!(
        v.nat,
        Some(NatRewrite {
            src: Some((u128::from(ip("10.104.65.133")), 80)),
            dst: None,
        })
    );
    // Without `nat` in the action, no rewrite is returned.
    let v = t.execute(&synack.ct(), &Z, 1);
    assert_eq!(v.nat, None);
    let d = t.dump(None)[0].to_string();
    assert!(
        d.contains("reply=(src=10.222.1.47,dst=10.222.1.48,sport=80,dport=5555)"),
        "{d}"
    );
}

#[test]
fn snat_port_range_avoids_collisions() {
    let t = ct();
    let nat = nat_action(Some(NatKind::Src), Some("192.168.0.1"), Some((2000, 2003)));
    let cmd = CtCommand {
        nat: Some(&nat),
        ..C
    };
    let mut ports = std::collections::HashSet::new();
    for i in 0..4u16 {
        let v = t.execute(
            &udp(&format!("10.0.0.{}", i + 1), 7, "8.8.8.8", 53).ct(),
            &cmd,
            0,
        );
        let (a, p) = v.nat.unwrap().src.unwrap();
        assert_eq!(a, u128::from(ip("192.168.0.1")));
        assert!((2000..=2003).contains(&p));
        assert!(ports.insert(p), "port {p} reused");
    }
    // Range exhausted: refused and counted.
    let v = t.execute(&udp("10.0.0.9", 7, "8.8.8.8", 53).ct(), &cmd, 0);
    assert!(v.refused);
    assert_eq!(t.stats().nat_exhausted, 1);
    // Replies find their connection through the translated tuple.
    let p = *ports.iter().next().unwrap();
    let v = t.execute(
        &udp("8.8.8.8", 53, "192.168.0.1", p).ct(),
        &CtCommand {
            nat: Some(&nat),
            ..Z
        },
        1,
    );
    // Its destination is rewritten back: `+dnat`, as OVS reports it.
    assert_eq!(
        v.state & (cs::EST | cs::RPL | cs::SNAT | cs::DNAT),
        cs::EST | cs::RPL | cs::DNAT
    );
    assert!(v.nat.unwrap().dst.is_some());
}

#[test]
fn full_table_refuses_new_keeps_existing() {
    let t = Conntrack::new(ConntrackConfig {
        max_connections: 2,
        seed: 3,
        ..Default::default()
    });
    assert!(
        !t.execute(&udp("10.0.0.1", 1, "10.0.0.2", 2).ct(), &C, 0)
            .refused
    );
    assert!(
        !t.execute(&udp("10.0.0.1", 3, "10.0.0.2", 4).ct(), &C, 0)
            .refused
    );
    let v = t.execute(&udp("10.0.0.1", 5, "10.0.0.2", 6).ct(), &C, 0);
    assert!(v.refused);
    assert_eq!(t.stats().refused_full, 1);
    assert_eq!(
        t.execute(&udp("10.0.0.2", 2, "10.0.0.1", 1).ct(), &Z, 1)
            .state,
        EST_RPL
    );
}

#[test]
fn expiry_by_state() {
    let t = ct();
    t.execute(&udp("10.0.0.1", 1, "10.0.0.2", 2).ct(), &C, 0);
    t.execute(
        &tcp("10.0.0.1", 1000, "10.0.0.2", 80, 0x002, 100, 0, 0).ct(),
        &C,
        0,
    );
    // Expired entries are invisible before any sweep.
    assert_eq!(
        t.execute(&udp("10.0.0.2", 2, "10.0.0.1", 1).ct(), &Z, 60_001)
            .state,
        NEW
    );
    // The UDP lookup above already removed its expired entry; the sweep takes the SYN_SENT.
    assert_eq!(t.expire(60_001), 1);
    assert!(t.is_empty());
    assert_eq!(t.stats().expired, 2);
    // Established TCP lives 24h.
    handshake(&t);
    assert_eq!(t.expire(3_600_000), 0);
    assert_eq!(t.expire(3 + 24 * 3_600_000 + 1), 1);
}

#[test]
fn force_commit_replaces_reverse_connection() {
    let t = ct();
    t.execute(&udp("10.0.0.1", 1, "10.0.0.2", 2).ct(), &C, 0);
    let f = CtCommand { force: true, ..C };
    let v = t.execute(&udp("10.0.0.2", 2, "10.0.0.1", 1).ct(), &f, 1);
    assert_eq!(v.state, NEW, "recommitted in this direction");
    let d = t.dump(None);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].orig.0, u128::from(ip("10.0.0.2")));
}

#[test]
fn concurrent_commits_and_lookups() {
    let t = std::sync::Arc::new(Conntrack::new(ConntrackConfig {
        seed: 11,
        ..Default::default()
    }));
    let threads: Vec<_> = (0..4u16)
        .map(|th| {
            let t = t.clone();
            std::thread::spawn(move || {
                for i in 0..2000u16 {
                    // Distinct connections per thread, and one shared connection.
                    let p = udp("10.1.0.1", th * 10000 + i, "10.2.0.1", 53);
                    assert!(t.execute(&p.ct(), &C, 0).state & cs::NEW != 0);
                    let shared = udp("10.9.9.9", 1, "10.8.8.8", 2);
                    let v = t.execute(&shared.ct(), &C, 0);
                    assert!(v.state & cs::TRK != 0 && !v.refused);
                }
            })
        })
        .collect();
    for h in threads {
        h.join().unwrap();
    }
    assert_eq!(t.len(), 4 * 2000 + 1);
    assert_eq!(t.dump(None).len(), 4 * 2000 + 1);
}

#[test]
fn hostile_l4_never_panics() {
    let t = ct();
    let mut seed = 0x1234_5678u64;
    for _ in 0..20_000 {
        seed = crate::classifier::hash_finish(seed.wrapping_add(1));
        let len = (seed % 80) as usize;
        let bytes: Vec<u8> = (0..len).map(|i| (seed >> (i % 56)) as u8).collect();
        let proto = [1u8, 6, 17, 58, 132, 47][(seed % 6) as usize];
        let p = CtPacket {
            eth_type: if seed & 1 == 0 { 0x0800 } else { 0x86dd },
            src: u128::from(seed as u32),
            dst: u128::from((seed >> 32) as u32),
            proto,
            src_port: seed as u16,
            dst_port: (seed >> 16) as u16,
            tcp_flags: (seed >> 40) as u16 & 0xfff,
            l4: &bytes,
            l4_len: (seed >> 8) as usize % 100,
            is_fragment: false,
            csum_ok: seed & 0x100 == 0,
        };
        let _ = t.execute(&p, &C, 0);
    }
}

#[test]
fn shard_choice_leaves_bucket_bits_free() {
    // Keys that land in one shard must still spread over that shard's buckets: the
    // shard index must not come from the bits hashbrown uses for the bucket.
    let t = Conntrack::new(ConntrackConfig {
        seed: 42,
        ..Default::default()
    });
    let first = Key {
        zone: 1,
        v6: false,
        proto: 6,
        src: 1,
        dst: 2,
        sport: 3,
        dport: 4,
    };
    let target = t.shard(t.key_hash(&first)) as *const Shard;
    let mut low = std::collections::HashSet::new();
    let mut n = 0;
    for i in 0..200_000u32 {
        let k = Key {
            zone: 65520,
            v6: false,
            proto: 6,
            src: u128::from(0x0b00_0000 | (i >> 16)),
            dst: u128::from(0x0a02_0001u32),
            sport: i as u16,
            dport: 443,
        };
        let h = t.key_hash(&k);
        if std::ptr::eq(t.shard(h), target) {
            n += 1;
            low.insert((h >> 33) & 0x3ff);
        }
    }
    assert!(n > 1000, "{n} keys in the shard");
    // 1024 possible home buckets (from bits 33..); a shard taken from those bits would
    // see 1024/64 = 16.
    assert!(
        low.len() > 900,
        "only {} distinct bucket indexes",
        low.len()
    );
}

#[test]
fn flush_by_tuple_deletes_only_matching_connections() {
    let t = ct();
    for (s, sp, d, dp) in [
        ("10.0.0.1", 5, "10.96.0.10", 53),
        ("10.0.0.2", 6, "10.96.0.10", 53),
        ("10.0.0.1", 7, "10.96.0.11", 53),
    ] {
        t.execute(&udp(s, sp, d, dp).ct(), &C, 0);
    }
    t.execute(&icmp("10.0.0.1", "10.0.0.2", 8, 77, vec![]).ct(), &C, 0);
    assert_eq!(t.len(), 4);
    // Antrea's stale Service entries: one cluster IP's UDP port, in its zone only.
    let svc = TupleFilter::parse("ct_nw_dst=10.96.0.10,ct_nw_proto=17,ct_tp_dst=53").unwrap();
    assert_eq!(t.flush_matching(Some(6), &svc, None), 0, "another zone");
    assert_eq!(t.flush_matching(Some(5), &svc, None), 2);
    assert_eq!(t.len(), 2);
    // By reply tuple too: the reply of 10.0.0.1:7 -> 10.96.0.11:53 comes from the server.
    let orig = TupleFilter::parse("ct_nw_src=10.0.0.1").unwrap();
    let wrong = TupleFilter::parse("ct_nw_src=10.96.0.99").unwrap();
    let right = TupleFilter::parse("ct_nw_src=10.96.0.11,ct_tp_src=53").unwrap();
    assert_eq!(t.flush_matching(None, &orig, Some(&wrong)), 0);
    assert_eq!(t.flush_matching(None, &orig, Some(&right)), 1);
    // ICMP by type and id; a port filter never matches ICMP's type/code by accident.
    let port = TupleFilter::parse("ct_tp_dst=2048").unwrap();
    assert_eq!(t.flush_matching(None, &port, None), 0);
    let echo = TupleFilter::parse("ct_nw_proto=1,icmp_type=8,icmp_code=0,icmp_id=77").unwrap();
    assert_eq!(t.flush_matching(None, &echo, None), 1);
    assert_eq!(t.len(), 0);
    // Refusals name the field and the problem.
    for (bad, says) in [
        (
            "ct_nw_src=10.0.0.300",
            "ct_nw_src=\"10.0.0.300\" is not an IPv4 address",
        ),
        ("ct_tp_dst=70000", "ct_tp_dst=\"70000\" is not a port"),
        ("ct_nw_src=10.0.0.1,ct_ipv6_dst=::1", "mixed"),
        ("nw_src=1.2.3.4", "unknown field \"nw_src\""),
        ("ct_nw_proto", "expected FIELD=VALUE"),
    ] {
        let e = TupleFilter::parse(bad).unwrap_err().to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn an_out_of_window_segment_keeps_its_connections_mark_and_nat() {
    let t = ct();
    let nat = nat_action(Some(NatKind::Dst), Some("10.222.1.47"), Some((80, 80)));
    let commit = CtCommand {
        nat: Some(&nat),
        set_mark: Some((0x21, u32::MAX)),
        ..C
    };
    let syn = tcp("10.222.1.48", 5555, "10.104.65.133", 80, 0x002, 100, 0, 0);
    assert_eq!(t.execute(&syn.ct(), &commit, 0).state, NEW | cs::DNAT);
    let bare = nat_action(None, None, None);
    let z = CtCommand {
        nat: Some(&bare),
        ..Z
    };
    let synack = tcp("10.222.1.47", 80, "10.222.1.48", 5555, 0x012, 900, 101, 0);
    assert_eq!(t.execute(&synack.ct(), &z, 1).state, EST_RPL | cs::SNAT);
    // Two billion bytes ahead of the window: invalid, yet (as OVS's userspace conntrack
    // reports it) with the connection's mark and its DNAT applied.
    let far = tcp(
        "10.222.1.48",
        5555,
        "10.104.65.133",
        80,
        0x018,
        2_000_000_000,
        901,
        100,
    );
    let v = t.execute(&far.ct(), &z, 2);
    assert_eq!(v.state, INV | cs::DNAT);
    assert_eq!(v.mark, 0x21);
    assert_eq!(
        v.nat.and_then(|n| n.dst),
        Some((u128::from(ip("10.222.1.47")), 80))
    );
    // Without `nat` in the `ct`: no rewrite, no NAT bit; the mark still.
    let v = t.execute(&far.ct(), &Z, 3);
    assert_eq!((v.state, v.mark, v.nat), (INV, 0x21, None));
    assert_eq!(t.stats().invalid, 2);
    // A packet of no connection stays bare.
    let stray = tcp("10.222.1.9", 1, "10.222.1.47", 80, 0x010, 1, 1, 0);
    assert_eq!(t.execute(&stray.ct(), &Z, 4).mark, 0);
}

#[test]
fn sweeps_and_flushes_of_big_tables_walk_every_chunk() {
    // 60,000 connections: each of the 64 shards grows past the buckets one hold of its
    // lock visits, so expiry and flush walk several chunks per shard.
    let t = ct();
    for i in 0..60_000u32 {
        let src = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        let ms = if i % 2 == 0 { 0 } else { 40_000 };
        assert!(
            !t.execute(&udp(&src, 1000, "10.200.0.1", 53).ct(), &C, ms)
                .refused
        );
    }
    assert_eq!(t.len(), 60_000);
    // An unanswered UDP connection lives 60 s: the first half (committed at 0 ms) goes.
    assert_eq!(t.expire(60_001), 30_000);
    assert_eq!(t.len(), 30_000);
    assert_eq!(t.flush(Some(5)), 30_000);
    assert!(t.is_empty());
}

#[test]
fn a_sweep_waits_for_the_earliest_expiry_and_misses_none() {
    let t = Conntrack::new(ConntrackConfig {
        seed: 7,
        timeouts: super::Timeouts {
            udp_first: 100,
            ..Default::default()
        },
        ..Default::default()
    });
    t.execute(&udp("10.0.0.1", 1, "10.0.0.2", 2).ct(), &C, 0);
    assert_eq!(t.expire(50), 0);
    // Committed after that sweep: its expiry (160) is past the sweep's time + 100.
    t.execute(&udp("10.0.0.1", 3, "10.0.0.2", 4).ct(), &C, 60);
    assert_eq!(t.expire(120), 1);
    assert_eq!(t.expire(159), 0);
    assert_eq!(t.len(), 1);
    assert_eq!(t.expire(161), 1);
    assert!(t.is_empty());
}
