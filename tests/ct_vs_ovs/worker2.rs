//! worker2 of the seed (its real flows: kube-proxy, backend2 isolated both ways, coredns
//! under no policy): the host reaching its pods through the gateway, the pods' own traffic,
//! and a hairpin through kube-proxy on the host.

use super::harness::*;
use super::worker1::{as_ip, direct, fragment_sequences};

pub const GW_MAC: u64 = 0x02d8_4e3f_921d;
pub const HOST: Host = Host {
    port: 2,
    mac: GW_MAC,
    ip: 0x0ade_0201,
};
pub const COREDNS: Host = Host {
    port: 3,
    mac: 0x529d_f463_06bc,
    ip: 0x0ade_0202,
};
pub const BACKEND2: Host = Host {
    port: 35,
    mac: 0xc6f4_b576_1038,
    ip: 0x0ade_0222,
};

/// To the host, through the gateway's MAC.
fn to_host(ip: u32) -> To {
    To { mac: GW_MAC, ip }
}

/// worker2's sequences, by category.
pub fn sequences() -> Vec<Sequence> {
    let (h, b, d) = (HOST, BACKEND2, COREDNS);
    let (tb, td, th) = (direct(b), direct(d), to_host(h.ip));
    let mut s: Vec<Sequence> = Vec::new();
    let conv = |sp: u16| Conv {
        c: h,
        to_s: tb,
        s: b,
        to_c: th,
        sp,
        dp: 80,
    };
    s.push((
        "tcp",
        "host to backend2: handshake, data, FIN both ways",
        conv(41001).whole(),
    ));
    let k = conv(41002);
    let mut rst = k.handshake();
    rst.extend([k.s(RST, 901, 0, 0), k.c(PSHACK, 101, 901, 50)]);
    s.push(("tcp", "host to backend2: RST, a segment after it", rst));
    let k = conv(41003);
    let mut retx = k.handshake();
    retx.extend([
        k.s(SYNACK, 900, 101, 0),
        k.c(PSHACK, 101, 901, 100),
        k.c(PSHACK, 101, 901, 100),
        k.c(PSHACK, 2_000_000_000, 901, 100),
    ]);
    s.push((
        "tcp",
        "retransmitted SYN-ACK and data, an out-of-window segment",
        retx,
    ));
    s.push((
        "policy",
        "backend2 to coredns (egress isolated)",
        vec![udp(b, td, (6000, 53), 20, 1)],
    ));
    s.push((
        "policy",
        "coredns to backend2:80 (ingress only from the frontend)",
        vec![tcp(d, tb, (41004, 80), SYN, 1, 0, 0)],
    ));
    s.push((
        "udp",
        "host to coredns: request and response",
        vec![udp(h, td, (6001, 53), 40, 2), udp(d, th, (53, 6001), 90, 3)],
    ));
    s.push((
        "icmp",
        "host pings backend2",
        vec![echo(h, tb, 8), echo(b, th, 0)],
    ));
    let q = udp(h, td, (6002, 53), 8, 5);
    let err = icmp_error(d, th, 3, 3, 0, &as_received(&q.1, 36));
    s.push(("icmp", "port unreachable from coredns", vec![q, err]));
    let k = conv(41005);
    let mut ptb = k.handshake();
    let seg = k.c(PSHACK, 101, 901, 1200);
    let err = icmp_error(b, th, 3, 4, 1000, &as_received(&seg.1, 28));
    ptb.extend([seg, err]);
    s.push((
        "icmp",
        "fragmentation needed from backend2 about the host's segment",
        ptb,
    ));
    fragment_sequences(h, td, 6010, &mut s);
    let mut bad = tcp(h, tb, (41006, 80), SYN, 1, 0, 0);
    bad.1[14 + 20 + 16] ^= 0x5a;
    s.push(("checksums", "TCP SYN with a wrong checksum", vec![bad]));
    let mut bad = echo(h, tb, 8);
    bad.1[14 + 20 + 2] ^= 0x5a;
    s.push(("checksums", "ICMP echo with a wrong checksum", vec![bad]));
    s.push((
        "spoofing",
        "backend2 with coredns's address",
        vec![udp(as_ip(b, [10, 222, 2, 2]), td, (6003, 53), 20, 4)],
    ));
    s.push((
        "spoofing",
        "coredns with another MAC",
        vec![udp(
            Host {
                mac: 0x0200_0000_0099,
                ..d
            },
            th,
            (6004, 53),
            20,
            4,
        )],
    ));
    s.push((
        "hairpin",
        "coredns to the DNS Service it backs, through kube-proxy's DNAT and masquerade on the host",
        hairpin(),
    ));
    s
}

/// coredns asks the kube-dns Service 10.96.0.10:53 (to the gateway); the host DNATs it to
/// coredns itself and masquerades it (10.222.2.1:62000); answers the other way round.
fn hairpin() -> Frames {
    let d = COREDNS;
    let svc = to_host(0x0a60_000a);
    let from_svc = as_ip(HOST, [10, 96, 0, 10]);
    let (td, th) = (direct(d), to_host(HOST.ip));
    vec![
        udp(d, svc, (42000, 53), 30, 1),
        udp(HOST, td, (62000, 53), 30, 2),
        udp(d, th, (53, 62000), 60, 3),
        udp(from_svc, td, (53, 42000), 60, 4),
    ]
}

/// The deliberate differences `docs/pipeline.md` explains.
pub fn explained(name: &str, brisk: &Out, ovs: &Out) -> Option<&'static str> {
    match name {
        // OVS's `ipf` sends a reassembled datagram's fragments sorted by offset; brisk
        // sends them in the order they arrived. The same frames, in another order.
        "out of order" if same_frames(brisk, ovs) => {
            Some("fragments leave in arrival order (OVS: by offset)")
        }
        _ => None,
    }
}

/// Each port sent the same frames, perhaps in another order.
fn same_frames(a: &Out, b: &Out) -> bool {
    let sorted = |m: &Out| {
        m.iter()
            .map(|(p, v)| {
                let mut v = v.clone();
                v.sort();
                (*p, v)
            })
            .collect::<Vec<_>>()
    };
    sorted(a) == sorted(b)
}
