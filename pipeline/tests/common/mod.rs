//! Traffic for the differential tests: the seed's worker1 node, TCP connections with real
//! handshakes between its pods, the gateway and a remote pod behind the tunnel, noise and
//! malformed frames, flow-table changes, and outcomes (outputs and drops) to compare.
#![allow(dead_code)]

use pipeline::bridge::Bridge;
use pipeline::build::{arp_frame, ip, ipv4_frame, mac, Ipv4Spec, L4Spec};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::{Collect, DropReason, TunnelMeta};
use pipeline::ofctl::{parse_flow, parse_flow_file, Mode};
use pipeline::packet::VecFrame;
use pipeline::tables::FlowMod;

pub fn node() -> Bridge {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/antrea-seed/worker1.flows"
    ))
    .unwrap();
    pipeline::seed::bridge(
        "worker1",
        &text,
        ConntrackConfig {
            seed: 99,
            ..Default::default()
        },
    )
}

pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One side of a conversation: (in_port, eth src, eth dst, ip, tunnel metadata if it
/// arrives decapsulated).
#[derive(Clone, Copy)]
pub struct End {
    pub port: u32,
    pub mac: u64,
    pub gw_mac: u64,
    pub ip: u32,
    pub tun: Option<(u32, u32)>,
}

pub struct Conn {
    pub a: End,
    pub b: End,
    pub sport: u16,
    pub dport: u16,
    pub step: u8,
    pub seq_a: u32,
    pub seq_b: u32,
}

#[allow(clippy::too_many_arguments)]
pub fn tcp(
    from: &End,
    to: &End,
    sport: u16,
    dport: u16,
    flags: u16,
    seq: u32,
    ack: u32,
    len: usize,
) -> Vec<u8> {
    ipv4_frame(&Ipv4Spec {
        eth_src: from.mac,
        eth_dst: from.gw_mac,
        src: from.ip,
        dst: to.ip,
        ttl: 64,
        l4: L4Spec::Tcp {
            sport,
            dport,
            flags,
            seq,
            ack,
            win: 65535,
        },
        payload: vec![0xab; len],
        ..Default::default()
    })
}

/// The next packet of a connection (handshake, data both ways, FIN both ways).
pub fn next_packet(c: &mut Conn, r: &mut Rng) -> (u32, Vec<u8>, Option<TunnelMeta>) {
    let (fwd, flags, len) = match c.step {
        0 => (true, 0x002, 0),
        1 => (false, 0x012, 0),
        2 => (true, 0x010, 0),
        3..=8 => (r.next() & 1 == 0, 0x018, (r.below(200) + 1) as usize),
        9 => (true, 0x011, 0),
        10 => (false, 0x011, 0),
        _ => (true, 0x010, 0),
    };
    let (from, to, sp, dp) = if fwd {
        (c.a, c.b, c.sport, c.dport)
    } else {
        (c.b, c.a, c.dport, c.sport)
    };
    let (seq, ack) = if fwd {
        (c.seq_a, c.seq_b)
    } else {
        (c.seq_b, c.seq_a)
    };
    let ackv = if flags & 0x010 != 0 { ack } else { 0 };
    let f = tcp(&from, &to, sp, dp, flags, seq, ackv, len);
    let adv = len as u32 + u32::from(flags & 0x003 != 0);
    if fwd {
        c.seq_a = c.seq_a.wrapping_add(adv);
    } else {
        c.seq_b = c.seq_b.wrapping_add(adv);
    }
    c.step = (c.step + 1).min(11);
    let tun = from.tun.map(|(s, d)| TunnelMeta {
        src: s,
        dst: d,
        ..Default::default()
    });
    (from.port, f, tun)
}

pub fn ends() -> Vec<(End, End)> {
    let gw = mac("4e:99:08:c1:53:be");
    let vmac = mac("aa:bb:cc:dd:ee:ff");
    let frontend = End {
        port: 49,
        mac: mac("be:2c:bf:e4:ec:c5"),
        gw_mac: gw,
        ip: ip("10.222.1.48"),
        tun: None,
    };
    let backend1 = End {
        port: 48,
        mac: mac("f2:32:d8:07:e2:a6"),
        gw_mac: gw,
        ip: ip("10.222.1.47"),
        tun: None,
    };
    let service = End {
        port: 2,
        mac: gw,
        gw_mac: mac("be:2c:bf:e4:ec:c5"),
        ip: ip("10.104.65.133"),
        tun: None,
    };
    let from_gw = End {
        port: 2,
        mac: gw,
        gw_mac: vmac,
        ip: ip("10.222.1.48"),
        tun: None,
    };
    let remote = End {
        port: 1,
        mac: mac("02:d8:4e:3f:92:1d"),
        gw_mac: vmac,
        ip: ip("10.222.2.34"),
        tun: Some((ip("10.79.1.202"), ip("10.79.1.201"))),
    };
    let f_direct = End {
        gw_mac: mac("f2:32:d8:07:e2:a6"),
        ..frontend
    };
    let b_direct = End {
        gw_mac: mac("be:2c:bf:e4:ec:c5"),
        ..backend1
    };
    vec![
        (frontend, service),
        (from_gw, remote),
        (f_direct, b_direct),
        (b_direct, f_direct),
    ]
}

pub fn noise(r: &mut Rng) -> (u32, Vec<u8>, Option<TunnelMeta>) {
    let port = [1u32, 2, 3, 4, 48, 49][r.below(6) as usize];
    match r.below(4) {
        0 => (
            port,
            arp_frame(
                1,
                mac("f2:32:d8:07:e2:a6"),
                ip("10.222.1.47"),
                0,
                [ip("10.222.1.48"), ip("10.222.2.1"), ip("10.222.0.1")][r.below(3) as usize],
            ),
            None,
        ),
        1 => {
            let len = r.below(80) as usize;
            (port, (0..len).map(|_| r.next() as u8).collect(), None)
        }
        2 => {
            // A valid frame cut short.
            let f = ipv4_frame(&Ipv4Spec {
                src: ip("10.222.1.48"),
                dst: ip("10.222.2.34"),
                eth_src: mac("be:2c:bf:e4:ec:c5"),
                eth_dst: mac("aa:bb:cc:dd:ee:ff"),
                l4: L4Spec::Udp {
                    sport: r.next() as u16,
                    dport: 53,
                },
                ..Default::default()
            });
            let cut = 14 + r.below(f.len() as u64 - 14) as usize;
            (49, f[..cut].to_vec(), None)
        }
        _ => (
            49,
            ipv4_frame(&Ipv4Spec {
                src: ip("10.222.1.48"),
                dst: [ip("10.222.2.34"), ip("8.8.8.8"), ip("10.96.0.10")][r.below(3) as usize],
                eth_src: mac("be:2c:bf:e4:ec:c5"),
                eth_dst: mac("4e:99:08:c1:53:be"),
                ttl: [64u8, 1, 0][r.below(3) as usize],
                l4: match r.below(2) {
                    0 => L4Spec::Udp {
                        sport: r.next() as u16,
                        dport: 53,
                    },
                    _ => L4Spec::Icmp {
                        ty: 8,
                        code: 0,
                        rest: r.next() as u32,
                    },
                },
                ..Default::default()
            }),
            None,
        ),
    }
}

pub type Outcome = (Vec<(u32, Option<TunnelMeta>, Vec<u8>)>, Vec<DropReason>);

pub fn outcome(c: Collect<VecFrame>) -> Outcome {
    let mut o: Vec<_> = c
        .outputs
        .into_iter()
        .map(|(p, t, pk)| (p, t, pk.frame.to_vec()))
        .collect();
    o.sort_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2)));
    let mut d: Vec<_> = c.drops.into_iter().collect();
    d.sort();
    (o, d)
}

/// A change of connection state between flow changes, made on both bridges alike (the
/// fast path's connection hints must notice each): `k % 3` = 0: time jumps 65 s and the
/// sweep removes what expired; 1: `flush-conntrack`; 2: established packets re-commit
/// with `ct_mark=0x20`, which table 31 matches on replies (a flow that rewrites the mark
/// of live connections). Returns the new time.
pub fn change_connections(bridges: [&Bridge; 2], k: u64, now: u64) -> u64 {
    match k % 3 {
        0 => {
            let now = now + 65_000;
            for b in bridges {
                b.conntrack.expire(now);
            }
            now
        }
        1 => {
            for b in bridges {
                b.conntrack.flush(None);
            }
            now
        }
        _ => {
            for b in bridges {
                let pm = b.ports();
                let f = parse_flow(
                    "table=105,priority=220,ct_state=+est+trk,ip actions=ct(commit,table=110,zone=65520,exec(load:0x20->NXM_NX_CT_MARK[]))",
                    Mode::Add,
                    pm.names(),
                )
                .unwrap();
                b.apply(&[FlowMod::Add(f)], now).unwrap();
            }
            now
        }
    }
}

pub fn change(b: &Bridge, k: u64, now: u64) {
    let pm = b.ports();
    let f = |s: &str| parse_flow(s, Mode::Add, pm.names()).unwrap();
    match k % 4 {
        0 => {
            // Lift the egress isolation of frontend.
            let d = parse_flow(
                "table=60,priority=200,ip,nw_src=10.222.1.48",
                Mode::Delete,
                pm.names(),
            )
            .unwrap();
            b.apply(
                &[FlowMod::Delete {
                    filter: d,
                    strict: true,
                    out_group: None,
                }],
                now,
            )
            .unwrap();
        }
        1 => {
            b.apply(
                &[FlowMod::Add(f(
                    "table=10,priority=250,tcp,tp_dst=80 actions=drop",
                ))],
                now,
            )
            .unwrap();
        }
        2 => {
            b.apply(&[FlowMod::Add(f("table=70,priority=250,ip,nw_dst=10.222.2.0/24 actions=dec_ttl,mod_dl_dst:aa:bb:cc:dd:ee:ff,load:0x1->NXM_NX_REG1[],load:0x1->NXM_NX_REG0[16],load:0xa4f01cb->NXM_NX_TUN_IPV4_DST[],resubmit(,105)"))], now)
                .unwrap();
        }
        _ => {
            let text = std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../testdata/antrea-seed/worker1.flows"
            ))
            .unwrap();
            let (fl, _) = parse_flow_file(&text, Mode::Add, pm.names());
            let fl: Vec<_> = fl.into_iter().map(|(_, f)| f).collect();
            b.replace_flows(&fl, now).unwrap();
        }
    }
}

/// Keeps about 64 connections open, opening a random one now and then (a stream of
/// conversations for the differential tests).
pub fn maybe_open(conns: &mut Vec<Conn>, pairs: &[(End, End)], r: &mut Rng) {
    if conns.len() < 64 || r.below(20) == 0 {
        let (a, b) = pairs[r.below(pairs.len() as u64) as usize];
        conns.push(Conn {
            a,
            b,
            sport: 1024 + r.below(60000) as u16,
            dport: if r.below(4) == 0 { 22 } else { 80 },
            step: 0,
            seq_a: r.next() as u32,
            seq_b: r.next() as u32,
        });
    }
}

/// The next packet of a random open connection; a finished connection is dropped.
pub fn next_of_any(conns: &mut Vec<Conn>, r: &mut Rng) -> (u32, Vec<u8>, Option<TunnelMeta>) {
    let ci = r.below(conns.len() as u64) as usize;
    let p = next_packet(&mut conns[ci], r);
    if conns[ci].step >= 11 {
        conns.swap_remove(ci);
    }
    p
}
