//! Conntrack's checksum checks, through the datapath as Antrea's pipeline uses it: a
//! packet whose IPv4, TCP, UDP, ICMP or ICMPv6 checksum is wrong is `+trk+inv` (OVS's
//! `conn_key_extract`) and counted; a right one, and an IPv4 UDP datagram without a
//! checksum, is tracked; the receiving NIC's verdict replaces the computation.

use pipeline::bridge::{Bridge, PortInfo, PortKind};
use pipeline::build::from_flow;
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::{CloneFrame, Collect, Packet};
use pipeline::ofctl::{parse_flow, parse_match, Mode, PortMap};
use pipeline::packet::{csum, Frame, VecFrame};
use pipeline::slowpath::process;

/// Tracked valid packets leave on port 2, invalid ones on port 3, after two `ct` passes
/// (Antrea's shape: a first pass, a commit in a later table).
const FLOWS: &[&str] = &[
    "table=0,ip actions=ct(table=1,zone=5)",
    "table=0,ipv6 actions=ct(table=1,zone=5)",
    "table=1,ct_state=+trk+inv actions=output:3",
    "table=1,ip,ct_state=+trk+new actions=ct(commit,table=2,zone=5)",
    "table=1,ipv6,ct_state=+trk+new actions=ct(commit,table=2,zone=5)",
    "table=1,ip,ct_state=+trk+est actions=ct(table=2,zone=5)",
    "table=1,ipv6,ct_state=+trk+est actions=ct(table=2,zone=5)",
    "table=2,ct_state=+trk+inv actions=output:3",
    "table=2 actions=output:2",
];

fn bridge() -> Bridge {
    bridge_with(FLOWS)
}

fn bridge_with(flows: &[&str]) -> Bridge {
    let b = Bridge::new("br0", ConntrackConfig::default());
    for p in 1..=3u32 {
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

/// A frame with valid checksums built from a flow spec.
fn frame(spec: &str) -> Vec<u8> {
    let m = parse_match(spec, &PortMap::default()).unwrap();
    from_flow(&m.value, 10)
}

/// A frame a NIC received with checksum verdict `bits`.
struct NicFrame(VecFrame, u8);

impl Frame for NicFrame {
    fn data(&self) -> &[u8] {
        self.0.data()
    }
    fn data_mut(&mut self) -> &mut [u8] {
        self.0.data_mut()
    }
    fn headroom(&self) -> usize {
        self.0.headroom()
    }
    fn prepend(&mut self, n: usize) -> bool {
        self.0.prepend(n)
    }
    fn adj(&mut self, n: usize) -> bool {
        self.0.adj(n)
    }
    fn trim(&mut self, n: usize) -> bool {
        self.0.trim(n)
    }
    fn rx_csum(&self) -> u8 {
        self.1
    }
}

impl CloneFrame for NicFrame {
    fn try_clone(&self) -> Option<Self> {
        Some(NicFrame(self.0.clone(), self.1))
    }
}

/// The ports `f` leaves on, received with NIC verdict `nic`.
fn ports(b: &Bridge, f: &[u8], nic: u8) -> Vec<u32> {
    let mut out = Collect::new();
    let pkt = Packet::new(NicFrame(VecFrame::new(f), nic), 1, None);
    process(b, pkt, 1_000, &mut out, None);
    out.outputs.iter().map(|o| o.0).collect()
}

/// Offset of the L4 checksum field in an untagged frame (IPv4 with a 20-byte header, or
/// IPv6 without extension headers).
fn l4_csum_at(v6: bool, proto: u8) -> usize {
    let l4 = if v6 { 14 + 40 } else { 14 + 20 };
    l4 + match proto {
        6 => 16,
        17 => 6,
        _ => 2,
    }
}

const SPECS: &[(&str, bool, u8)] = &[
    (
        "tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=4000,tp_dst=80,tcp_flags=+syn",
        false,
        6,
    ),
    (
        "udp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=4001,tp_dst=53",
        false,
        17,
    ),
    (
        "icmp,nw_src=10.0.0.1,nw_dst=10.0.0.2,icmp_type=8,icmp_code=0",
        false,
        1,
    ),
    (
        "tcp6,ipv6_src=fd00::1,ipv6_dst=fd00::2,tp_src=4000,tp_dst=80,tcp_flags=+syn",
        true,
        6,
    ),
    (
        "udp6,ipv6_src=fd00::1,ipv6_dst=fd00::2,tp_src=4001,tp_dst=53",
        true,
        17,
    ),
    (
        "icmp6,ipv6_src=fd00::1,ipv6_dst=fd00::2,icmp_type=128,icmp_code=0",
        true,
        58,
    ),
];

#[test]
fn a_wrong_l4_checksum_is_invalid_and_counted() {
    for &(spec, v6, proto) in SPECS {
        let b = bridge();
        let good = frame(spec);
        let mut bad = good.clone();
        let at = l4_csum_at(v6, proto);
        bad[at] ^= 0x5a;
        assert_eq!(
            ports(&b, &bad, 0),
            vec![3],
            "{spec}: a wrong checksum is +inv"
        );
        let st = b.conntrack.stats();
        assert_eq!(
            (st.bad_checksum, st.invalid, st.connections),
            (1, 1, 0),
            "{spec}"
        );
        assert_eq!(
            ports(&b, &good, 0),
            vec![2],
            "{spec}: the right one is tracked"
        );
        assert_eq!(b.conntrack.stats().connections, 1, "{spec}");
        // The NIC's verdict is taken as it is, both ways.
        assert_eq!(
            ports(&b, &bad, csum::L4_GOOD),
            vec![2],
            "{spec}: NIC says good"
        );
        assert_eq!(
            ports(&b, &good, csum::L4_BAD),
            vec![3],
            "{spec}: NIC says bad"
        );
        assert_eq!(b.conntrack.stats().bad_checksum, 2, "{spec}");
    }
}

#[test]
fn a_wrong_ipv4_header_checksum_is_invalid() {
    let b = bridge();
    let mut f = frame(SPECS[0].0);
    f[14 + 10] ^= 0x01;
    assert_eq!(ports(&b, &f, 0), vec![3]);
    assert_eq!(
        ports(&b, &f, csum::L3_GOOD),
        vec![2],
        "the NIC checked the header"
    );
    assert_eq!(b.conntrack.stats().bad_checksum, 1);
}

#[test]
fn udp_without_a_checksum_counts_as_none_only_over_ipv4() {
    let b = bridge();
    for &(spec, v6, _) in &SPECS[1..=4] {
        if !spec.starts_with("udp") {
            continue;
        }
        let mut f = frame(spec);
        let at = l4_csum_at(v6, 17);
        f[at] = 0;
        f[at + 1] = 0;
        let want = if v6 { 3 } else { 2 };
        assert_eq!(ports(&b, &f, 0), vec![want], "{spec}");
    }
}

/// A packet NATed between passes (its checksums updated) is still right at the next
/// `ct`, and leaves with the checksums a sender of the NATed packet would compute.
#[test]
fn both_passes_agree_through_nat() {
    let b = bridge_with(&[
        "table=0,tcp actions=ct(table=1,zone=5,nat)",
        "table=1,ct_state=+trk+inv actions=output:3",
        "table=1,ct_state=+trk+new,tcp actions=ct(commit,table=2,zone=5,nat(dst=10.0.9.9:8080))",
        "table=2,ct_state=+trk+inv actions=output:3",
        "table=2,ip actions=ct(table=3,zone=6)",
        "table=3,ct_state=+trk+inv actions=output:3",
        "table=3 actions=output:2",
    ]);
    let f = frame(SPECS[0].0);
    let mut out = Collect::new();
    process(
        &b,
        Packet::new(VecFrame::new(&f), 1, None),
        1_000,
        &mut out,
        None,
    );
    assert_eq!(out.outputs.len(), 1);
    let (port, _, pkt) = &out.outputs[0];
    assert_eq!(*port, 2, "valid after NAT and a third ct in another zone");
    // What left carries right checksums for the NATed address and port.
    let d = pkt.frame.data();
    assert_eq!(&d[14 + 16..14 + 20], &[10, 0, 9, 9]);
    let again = frame("tcp,nw_src=10.0.0.1,nw_dst=10.0.9.9,tp_src=4000,tp_dst=8080,tcp_flags=+syn");
    assert_eq!(
        d,
        &again[..],
        "the NATed frame is what a sender of it would build"
    );
    assert_eq!(b.conntrack.stats().bad_checksum, 0);
}
