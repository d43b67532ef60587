//! worker1 of the seed (Antrea's kube-proxy pipeline with the walkthrough's policies): its
//! pods, and the sequences sent into both switches.

use super::harness::*;
use pipeline::build::fragment;

/// The gateway's virtual MAC: what the seed's table 70 routes between local pods on.
pub const VMAC: u64 = 0xaabb_ccdd_eeff;
pub const GW_MAC: u64 = 0x4e99_08c1_53be;
pub const GW: Host = Host {
    port: 2,
    mac: GW_MAC,
    ip: 0x0ade_0101,
};
pub const FRONTEND: Host = Host {
    port: 49,
    mac: 0xbe2c_bfe4_ecc5,
    ip: 0x0ade_0130,
};
pub const BACKEND1: Host = Host {
    port: 48,
    mac: 0xf232_d807_e2a6,
    ip: 0x0ade_012f,
};
pub const COREDNS: Host = Host {
    port: 3,
    mac: 0xf282_cc96_dabd,
    ip: 0x0ade_0102,
};
pub const OCTANT: Host = Host {
    port: 4,
    mac: 0x6e9e_5a3e_3fe8,
    ip: 0x0ade_0103,
};

/// To a local pod, through the virtual MAC.
pub fn via_vmac(h: Host) -> To {
    To {
        mac: VMAC,
        ip: h.ip,
    }
}

/// To an address off the pod network, through the gateway.
pub fn via_gw(ip: [u8; 4]) -> To {
    To {
        mac: GW_MAC,
        ip: u32::from_be_bytes(ip),
    }
}

/// Straight to a host's MAC (the gateway to a pod, a pod on its own subnet).
pub fn direct(h: Host) -> To {
    To {
        mac: h.mac,
        ip: h.ip,
    }
}

/// A sender with another address (what a NAT on the host makes it look like).
pub fn as_ip(h: Host, ip: [u8; 4]) -> Host {
    Host {
        ip: u32::from_be_bytes(ip),
        ..h
    }
}

/// Frames of one UDP datagram of `len` payload bytes in fragments of `mtu`.
pub fn udp_fragments(from: Host, to: To, ports: (u16, u16), len: usize, id: u16) -> Vec<Vec<u8>> {
    let (_, dg) = udp(from, to, ports, len, id);
    fragment(&dg, 1480, u32::from(id))
}

/// The fragment sequences every node gets (in order, out of order, overlapping, tiny
/// first, missing last), from `from` to `to`, ports from `base`.
pub fn fragment_sequences(from: Host, to: To, base: u16, s: &mut Vec<Sequence>) {
    let p = from.port;
    let f = |k: u16| udp_fragments(from, to, (base + k, 53), 3000, 0x77 + k);
    let on = |v: Vec<Vec<u8>>| v.into_iter().map(|x| (p, x)).collect::<Frames>();
    s.push(("fragments", "in order", on(f(0))));
    let fr = f(1);
    s.push((
        "fragments",
        "out of order",
        on([2, 0, 1].iter().map(|&i| fr[i].clone()).collect()),
    ));
    let fr = f(2);
    s.push((
        "fragments",
        "overlapping (a fragment twice)",
        on([0, 1, 1, 2].iter().map(|&i| fr[i].clone()).collect()),
    ));
    let (_, dg) = udp(from, to, (base + 3, 53), 1000, 0x7a);
    s.push((
        "fragments",
        "tiny first fragment",
        on(fragment(&dg, 16, 0x7a)),
    ));
    s.push((
        "fragments",
        "missing last fragment",
        on(f(4).into_iter().take(2).collect()),
    ));
}

/// worker1's sequences, by category.
pub fn sequences() -> Vec<Sequence> {
    let (f, b, d) = (FRONTEND, BACKEND1, COREDNS);
    let (tf, tb, td) = (via_vmac(f), via_vmac(b), via_vmac(d));
    let mut s: Vec<Sequence> = Vec::new();
    let conv = |sp: u16| Conv {
        c: f,
        to_s: tb,
        s: b,
        to_c: tf,
        sp,
        dp: 80,
    };
    s.push((
        "tcp",
        "handshake, data both ways, FIN both ways",
        conv(40001).whole(),
    ));
    let k = conv(40002);
    let mut rst = k.handshake();
    rst.extend([
        k.c(PSHACK, 101, 901, 50),
        k.s(RST, 901, 0, 0),
        k.c(PSHACK, 151, 901, 50),
    ]);
    s.push(("tcp", "RST, then a segment after it", rst));
    let k = conv(40003);
    let mut retx = vec![k.c(SYN, 100, 0, 0)];
    retx.extend(k.handshake());
    retx.extend([
        k.c(PSHACK, 101, 901, 100),
        k.c(PSHACK, 101, 901, 100),
        k.c(PSHACK, 3_000_000_000, 901, 100),
    ]);
    s.push((
        "tcp",
        "retransmitted SYN and data, an out-of-window segment",
        retx,
    ));
    s.push((
        "tcp",
        "ACK of no connection",
        vec![tcp(f, tb, (40004, 80), ACK, 5, 5, 0)],
    ));
    s.push((
        "policy",
        "TCP to backend1:22 (not allowed)",
        vec![tcp(f, tb, (40005, 22), SYN, 1, 0, 0)],
    ));
    s.push((
        "udp",
        "request and response",
        vec![udp(f, td, (5353, 53), 40, 2), udp(d, tf, (53, 5353), 80, 3)],
    ));
    s.push((
        "icmp",
        "echo and reply",
        vec![echo(f, tb, 8), echo(b, tf, 0)],
    ));
    // Port unreachable from coredns about the frontend's datagram (as coredns got it).
    let q = udp(f, td, (5354, 53), 8, 5);
    let err = icmp_error(d, tf, 3, 3, 0, &as_received(&q.1, 36));
    s.push(("icmp", "port unreachable about a UDP request", vec![q, err]));
    // Fragmentation needed from the host (the node routes the pod's datagram out), quoting
    // the header and 8 bytes.
    let out = udp(f, via_gw([8, 8, 8, 8]), (5362, 53), 1400, 10);
    let err = icmp_error(GW, direct(f), 3, 4, 1400, &as_received(&out.1, 28));
    s.push((
        "icmp",
        "fragmentation needed from the host about a datagram out",
        vec![out, err],
    ));
    fragment_sequences(f, td, 5355, &mut s);
    let mut bad_tcp = tcp(f, tb, (40006, 80), SYN, 1, 0, 0);
    bad_tcp.1[14 + 20 + 16] ^= 0x5a;
    s.push(("checksums", "TCP SYN with a wrong checksum", vec![bad_tcp]));
    let mut bad_udp = udp(f, td, (5360, 53), 20, 8);
    bad_udp.1[14 + 20 + 6] ^= 0x5a;
    s.push(("checksums", "UDP with a wrong checksum", vec![bad_udp]));
    let spoof = udp(as_ip(f, [10, 222, 1, 99]), td, (5361, 53), 20, 9);
    s.push((
        "spoofing",
        "frontend with another pod's address",
        vec![spoof],
    ));
    s.push((
        "hairpin",
        "frontend to a Service it backs, through kube-proxy's DNAT and masquerade on the host",
        hairpin(),
    ));
    s
}

/// The frontend reaches the Service 10.104.65.133:80 (table 40 sends it to the gateway);
/// the host DNATs it to the frontend itself and masquerades it (10.222.1.1:61000): the
/// connection leaves and comes back in through the gateway, and the answers go the other
/// way round.
pub fn hairpin() -> Frames {
    let (f, gw) = (FRONTEND, GW);
    let svc = via_gw([10, 104, 65, 133]);
    let host = as_ip(gw, [10, 222, 1, 1]);
    let from_svc = as_ip(gw, [10, 104, 65, 133]);
    let tf = direct(f);
    let to_host = To {
        mac: GW_MAC,
        ip: host.ip,
    };
    vec![
        tcp(f, svc, (40100, 80), SYN, 100, 0, 0),
        tcp(host, tf, (61000, 80), SYN, 100, 0, 0),
        tcp(f, to_host, (80, 61000), SYNACK, 900, 101, 0),
        tcp(from_svc, tf, (80, 40100), SYNACK, 900, 101, 0),
        tcp(f, svc, (40100, 80), ACK, 101, 901, 0),
        tcp(host, tf, (61000, 80), ACK, 101, 901, 0),
    ]
}

/// The deliberate differences `docs/pipeline.md` explains, recognised by the frames each
/// switch sent for the sequence.
pub fn explained(name: &str, brisk: &Out, ovs: &Out) -> Option<&'static str> {
    match name {
        // OVS's OpenFlow layer treats every fragment's L4 ports as 0 (frag handling
        // "normal"), so the egress policy's UDP/53 rule drops a new datagram's fragments;
        // brisk matches the first fragment's ports and, once `ct` has reassembled the
        // datagram, gives the later ones its ports too: the datagram passes whole.
        "in order" | "out of order" | "overlapping (a fragment twice)"
            if count(ovs) == 0 && brisk.get(&COREDNS.port).map(Vec::len) == Some(3) =>
        {
            Some("fragments judged with the datagram's ports (OVS: ports 0)")
        }
        // OVS picks a TCP connection up from a mid-stream ACK; brisk only from a SYN
        // unless `tcp_midstream_pickup` is set.
        "ACK of no connection" if count(brisk) == 0 && count(ovs) == 1 => {
            Some("no mid-stream pickup by default")
        }
        _ => None,
    }
}
