//! Both seed nodes generated with `proxy: antrea-proxy` (`brisk conf flows` and `brisk
//! conf groups`, as the demo loads them into both switches): Services load-balanced in the
//! switch by a select group and `ct(commit,nat(dst=...))`. Each Service here has one
//! endpoint, so both switches must choose the same bucket.

use super::harness::*;
use super::worker1::{as_ip, direct, BACKEND1, COREDNS, FRONTEND, GW_MAC, OCTANT};
use pipeline::build::fragment;

/// The Services the test adds to worker1's own (backendsvc has two endpoints, one remote:
/// left out of the sequences).
pub const SERVICES: &str = "
  - name: localsvc
    cluster_ip: 10.96.0.20
    ports: [{port: 80, protocol: TCP}]
    endpoints: [\"10.222.1.47:80\"]
  - name: kube-dns
    namespace: kube-system
    cluster_ip: 10.96.0.10
    ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
    endpoints: [\"10.222.1.2:53\"]
  - name: selfsvc
    cluster_ip: 10.96.0.30
    ports: [{port: 80, protocol: TCP}]
    endpoints: [\"10.222.1.48:80\"]
";

/// The Services the test adds to worker2's: one backed by backend2, one by its coredns.
pub const SERVICES2: &str = "
  - name: localsvc
    cluster_ip: 10.96.0.21
    ports: [{port: 80, protocol: TCP}]
    endpoints: [\"10.222.2.34:80\"]
  - name: kube-dns
    namespace: kube-system
    cluster_ip: 10.96.0.11
    ports: [{port: 53, protocol: UDP}]
    endpoints: [\"10.222.2.2:53\"]
";

/// A node's YAML (`conf/examples/`) with in-switch load balancing and `services` added.
pub fn node_yaml(node: &str, services: &str) -> String {
    let y = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("conf/examples/{node}.yaml")),
    )
    .unwrap();
    assert!(y.contains("\nproxy: kube-proxy\n") && y.contains("\nservices:\n"));
    y.replace("\nproxy: kube-proxy\n", "\nproxy: antrea-proxy\n")
        .replace("\nservices:\n", &format!("\nservices:{services}"))
}

/// To a Service's cluster IP: through the gateway (the pod's default route).
fn svc(ip: [u8; 4]) -> To {
    To {
        mac: GW_MAC,
        ip: u32::from_be_bytes(ip),
    }
}

const LOCALSVC: [u8; 4] = [10, 96, 0, 20];
const DNS: [u8; 4] = [10, 96, 0, 10];

/// The Service sequences, by category.
pub fn sequences() -> Vec<Sequence> {
    let (f, b, d, o) = (FRONTEND, BACKEND1, COREDNS, OCTANT);
    let (tf, to) = (direct(f), direct(o));
    let mut s: Vec<Sequence> = Vec::new();
    let ls = svc(LOCALSVC);
    let conv = |sp: u16| Conv {
        c: f,
        to_s: ls,
        s: b,
        to_c: tf,
        sp,
        dp: 80,
    };
    s.push((
        "service tcp",
        "frontend to localsvc: handshake, data, FIN both ways",
        conv(43001).whole(),
    ));
    let k = conv(43002);
    let mut rst = k.handshake();
    rst.extend([
        k.c(SYN, 100, 0, 0),
        k.s(RST, 901, 0, 0),
        k.c(PSHACK, 101, 901, 50),
    ]);
    s.push((
        "service tcp",
        "a retransmitted SYN, RST from the endpoint, a segment after it",
        rst,
    ));
    s.push((
        "service policy",
        "octant to localsvc (the endpoint admits only the frontend)",
        vec![tcp(o, ls, (43003, 80), SYN, 1, 0, 0)],
    ));
    let dns = svc(DNS);
    s.push((
        "service udp",
        "octant to kube-dns: request and answer",
        vec![
            udp(o, dns, (7001, 53), 40, 1),
            udp(d, to, (53, 7001), 120, 2),
        ],
    ));
    // What coredns got: DNATed, one hop on.
    let got = |sp: u16| udp(o, direct(d), (sp, 53), 8, 3);
    let q = udp(o, dns, (7002, 53), 8, 3);
    let err = icmp_error(d, to, 3, 3, 0, &as_received(&got(7002).1, 36));
    s.push((
        "service icmp",
        "port unreachable from the endpoint about a NATed request",
        vec![q, err],
    ));
    let k = Conv {
        c: o,
        to_s: dns,
        s: d,
        to_c: to,
        sp: 7003,
        dp: 53,
    };
    let mut ptb = k.handshake();
    let seg = k.c(PSHACK, 101, 901, 1200);
    let as_got = tcp(o, direct(d), (7003, 53), PSHACK, 101, 901, 1200);
    let err = icmp_error(d, to, 3, 4, 1000, &as_received(&as_got.1, 28));
    ptb.extend([seg, err]);
    s.push((
        "service icmp",
        "fragmentation needed from the endpoint about a NATed segment",
        ptb,
    ));
    let (_, dg) = udp(o, dns, (7004, 53), 3000, 0x55);
    s.push((
        "service fragments",
        "a UDP datagram to kube-dns in three fragments",
        fragment(&dg, 1480, 0x55)
            .into_iter()
            .map(|x| (o.port, x))
            .collect(),
    ));
    let mut bad = udp(o, dns, (7005, 53), 20, 6);
    bad.1[14 + 20 + 6] ^= 0x5a;
    s.push((
        "service checksums",
        "UDP to kube-dns with a wrong checksum",
        vec![bad],
    ));
    s.push((
        "service spoofing",
        "octant with the frontend's address to kube-dns",
        vec![udp(as_ip(o, [10, 222, 1, 48]), dns, (7006, 53), 20, 7)],
    ));
    s.push((
        "hairpin",
        "frontend to selfsvc, whose endpoint is the frontend",
        vec![tcp(f, svc([10, 96, 0, 30]), (43004, 80), SYN, 1, 0, 0)],
    ));
    s
}

/// The deliberate differences `docs/pipeline.md` explains.
pub fn explained(name: &str, brisk: &Out, ovs: &Out) -> Option<&'static str> {
    match name {
        // OVS's flow tables see every fragment's L4 ports as 0 (frag handling "normal",
        // the first fragment's too): table 40 does not take the datagram for the Service's,
        // so it is not load-balanced and leaves to the gateway untranslated; brisk matches
        // the first fragment's ports, gives the later ones the datagram's once `ct` has it,
        // and delivers all three to the endpoint, DNATed.
        "a UDP datagram to kube-dns in three fragments"
            if brisk.get(&COREDNS.port).map(Vec::len) == Some(3)
                && ovs.get(&2).map(Vec::len) == Some(3) =>
        {
            Some("fragments judged with the datagram's ports (OVS: ports 0)")
        }
        _ => None,
    }
}

/// worker2's Service sequences: the host (through the gateway, to the virtual MAC as
/// AntreaProxy's route for the Service range has it) reaches a Service backed by
/// backend2 and one backed by coredns; coredns reaches backend2's Service, whose policy
/// refuses it.
pub fn sequences_worker2() -> Vec<Sequence> {
    use super::worker2::{BACKEND2, COREDNS as DNS2, GW_MAC as GW2, HOST};
    let vmac = |ip: [u8; 4]| To {
        mac: super::worker1::VMAC,
        ip: u32::from_be_bytes(ip),
    };
    let to_host = To {
        mac: GW2,
        ip: HOST.ip,
    };
    let mut s: Vec<Sequence> = Vec::new();
    let k = Conv {
        c: HOST,
        to_s: vmac([10, 96, 0, 21]),
        s: BACKEND2,
        to_c: to_host,
        sp: 44001,
        dp: 80,
    };
    s.push((
        "service tcp",
        "host to localsvc (backend2): handshake, data, FIN both ways",
        k.whole(),
    ));
    let dns = vmac([10, 96, 0, 11]);
    s.push((
        "service udp",
        "host to kube-dns (coredns): request and answer",
        vec![
            udp(HOST, dns, (8001, 53), 40, 1),
            udp(DNS2, to_host, (53, 8001), 100, 2),
        ],
    ));
    let got = udp(HOST, direct(DNS2), (8002, 53), 8, 3);
    s.push((
        "service icmp",
        "port unreachable from coredns about the host's NATed request",
        vec![
            udp(HOST, dns, (8002, 53), 8, 3),
            icmp_error(DNS2, to_host, 3, 3, 0, &as_received(&got.1, 36)),
        ],
    ));
    let to_svc = To {
        mac: GW2,
        ip: u32::from_be_bytes([10, 96, 0, 21]),
    };
    s.push((
        "service policy",
        "coredns to localsvc (backend2 admits only the frontend)",
        vec![tcp(DNS2, to_svc, (44002, 80), SYN, 1, 0, 0)],
    ));
    s
}
