//! ICMP errors of NATed connections, as OVS's conntrack treats them: `+rel` with the
//! connection's direction and NAT bits, the outer header rewritten as any packet of the
//! connection in that direction, and the packet the error quotes rewritten back to what
//! its sender sent (its IP and L4 checksums kept right, the ICMP checksum recomputed),
//! for DNAT and SNAT, ICMPv4 and ICMPv6.

use pipeline::bridge::Bridge;
use pipeline::build::{from_flow, ip};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::{Collect, Packet};
use pipeline::ofctl::{parse_flow, parse_match, Mode, PortMap};
use pipeline::packet::{Frame, VecFrame};
use pipeline::seed::bridge_with_ports;
use pipeline::slowpath::process;
use pipeline::wire::checksum::{checksum, finish, pseudo_header_v4, pseudo_header_v6, sum16};

fn bridge(first: &str) -> Bridge {
    let flows = [
        first,
        "table=0,priority=0,ip actions=ct(table=1,zone=5,nat)",
        "table=0,priority=0,ipv6 actions=ct(table=1,zone=5,nat)",
        "table=1,ct_state=+inv+trk actions=drop",
        "table=1,in_port=1 actions=output:2",
        "table=1,in_port=2 actions=output:1",
    ];
    bridge_with_ports(2, &flows, ConntrackConfig::default())
}

/// The frame `f` becomes leaving the bridge, entering on `port`.
fn through(b: &Bridge, f: &[u8], port: u32) -> Option<Vec<u8>> {
    let mut out = Collect::new();
    process(
        b,
        Packet::new(VecFrame::new(f), port, None),
        1_000,
        &mut out,
        None,
    );
    out.outputs.first().map(|o| o.2.frame.data().to_vec())
}

fn frame(spec: &str, payload: usize) -> Vec<u8> {
    from_flow(
        &parse_match(spec, &PortMap::default()).unwrap().value,
        payload,
    )
}

/// An ICMPv4 error from `src` to `dst` quoting `quoted` (an IP packet).
fn icmp4_error(src: &str, dst: &str, ty: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 8, 0];
    let tot = (20 + 8 + quoted.len()) as u16;
    f.extend_from_slice(&[0x45, 0, 0, 0, 0, 1, 0, 0, 64, 1, 0, 0]);
    f[16..18].copy_from_slice(&tot.to_be_bytes());
    f.extend_from_slice(&ip(src).to_be_bytes());
    f.extend_from_slice(&ip(dst).to_be_bytes());
    let c = checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&[ty, code, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(quoted);
    let c = checksum(&f[34..]);
    f[36..38].copy_from_slice(&c.to_be_bytes());
    f
}

fn v6(s: &str) -> u128 {
    u128::from(s.parse::<std::net::Ipv6Addr>().unwrap())
}

/// An ICMPv6 error from `src` to `dst` quoting `quoted`.
fn icmp6_error(src: &str, dst: &str, ty: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x86, 0xdd];
    let plen = (8 + quoted.len()) as u16;
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&plen.to_be_bytes());
    f.extend_from_slice(&[58, 64]);
    f.extend_from_slice(&v6(src).to_be_bytes());
    f.extend_from_slice(&v6(dst).to_be_bytes());
    f.extend_from_slice(&[ty, code, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(quoted);
    let ph = pseudo_header_v6(v6(src), v6(dst), 58, f.len() - 54);
    let c = finish(sum16(&f[54..], ph));
    f[56..58].copy_from_slice(&c.to_be_bytes());
    f
}

fn a4(f: &[u8], at: usize) -> String {
    std::net::Ipv4Addr::from(<[u8; 4]>::try_from(&f[at..at + 4]).unwrap()).to_string()
}

fn port(f: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([f[at], f[at + 1]])
}

/// Every checksum of an ICMPv4 error quoting a whole UDP datagram holds.
fn v4_checksums_hold(f: &[u8]) {
    assert_eq!(checksum(&f[14..34]), 0, "outer IP");
    assert_eq!(checksum(&f[34..]), 0, "ICMP");
    let q = 42;
    assert_eq!(checksum(&f[q..q + 20]), 0, "quoted IP");
    let udp = &f[q + 20..];
    let ph = pseudo_header_v4(ip(&a4(f, q + 12)), ip(&a4(f, q + 16)), 17, udp.len());
    assert_eq!(finish(sum16(udp, ph)), 0, "quoted UDP");
}

#[test]
fn an_error_from_a_dnat_backend_reaches_the_client_about_the_service() {
    let b = bridge(
        "table=0,priority=10,udp,nw_dst=10.96.0.10,tp_dst=53 actions=ct(commit,table=1,zone=5,nat(dst=10.0.0.2:5353))",
    );
    let req = frame(
        "udp,nw_src=10.0.0.1,nw_dst=10.96.0.10,tp_src=4000,tp_dst=53",
        20,
    );
    let sent = through(&b, &req, 1).expect("the request is DNATed to the backend");
    assert_eq!((a4(&sent, 30), port(&sent, 36)), ("10.0.0.2".into(), 5353));
    // The backend's host: port unreachable, quoting what it got.
    let err = icmp4_error("10.0.0.2", "10.0.0.1", 3, 3, &sent[14..]);
    let got = through(&b, &err, 2).expect("+rel, forwarded");
    assert_eq!(a4(&got, 26), "10.96.0.10", "outer source: the service");
    assert_eq!(a4(&got, 30), "10.0.0.1");
    assert_eq!(
        a4(&got, 42 + 16),
        "10.96.0.10",
        "quoted destination: what the client sent to"
    );
    assert_eq!(port(&got, 42 + 22), 53);
    assert_eq!(
        &got[42..],
        &req[14..],
        "the quote is the client's packet, byte for byte"
    );
    v4_checksums_hold(&got);
    // An error about the answer, from the client (the original direction): back to the
    // backend's own address.
    let ans = frame(
        "udp,nw_src=10.0.0.2,nw_dst=10.0.0.1,tp_src=5353,tp_dst=4000",
        20,
    );
    let ans_out = through(&b, &ans, 2).expect("the answer is un-NATed");
    assert_eq!(a4(&ans_out, 26), "10.96.0.10");
    let err = icmp4_error("10.0.0.1", "10.96.0.10", 3, 3, &ans_out[14..]);
    let got = through(&b, &err, 1).expect("+rel in the original direction");
    assert_eq!(a4(&got, 30), "10.0.0.2", "outer destination: the backend");
    assert_eq!(
        &got[42..],
        &ans[14..],
        "the quote is the backend's answer as it sent it"
    );
    v4_checksums_hold(&got);
}

#[test]
fn an_error_about_an_snat_connection_reaches_the_pod() {
    let b = bridge(
        "table=0,priority=10,in_port=1,udp actions=ct(commit,table=1,zone=5,nat(src=192.168.0.1:20000))",
    );
    let req = frame(
        "udp,nw_src=10.0.0.1,nw_dst=8.8.8.8,tp_src=4000,tp_dst=53",
        1400,
    );
    let sent = through(&b, &req, 1).unwrap();
    assert_eq!(
        (a4(&sent, 26), port(&sent, 34)),
        ("192.168.0.1".into(), 20000)
    );
    // A router on the way: fragmentation needed, quoting the header and 8 bytes (RFC 792).
    let err = icmp4_error("10.9.9.9", "192.168.0.1", 3, 4, &sent[14..14 + 28]);
    let got = through(&b, &err, 2).expect("+rel, to the pod");
    assert_eq!(a4(&got, 30), "10.0.0.1", "outer destination: the pod");
    assert_eq!(a4(&got, 42 + 12), "10.0.0.1", "quoted source: the pod");
    assert_eq!(port(&got, 42 + 20), 4000);
    assert_eq!(
        &got[42..42 + 28],
        &req[14..14 + 28],
        "the quote as the pod sent it"
    );
    assert_eq!(checksum(&got[34..]), 0, "ICMP checksum");
    assert_eq!(checksum(&got[42..62]), 0, "quoted IP checksum");
}

#[test]
fn icmpv6_errors_of_a_dnat_connection_are_rewritten_too() {
    let b = bridge(
        "table=0,priority=10,udp6,ipv6_dst=fd00::10,tp_dst=53 actions=ct(commit,table=1,zone=5,nat(dst=[fd00::2]:5353))",
    );
    let req = frame(
        "udp6,ipv6_src=fd00::1,ipv6_dst=fd00::10,tp_src=4000,tp_dst=53",
        20,
    );
    let sent = through(&b, &req, 1).expect("DNATed");
    assert_eq!(&sent[38..54], &v6("fd00::2").to_be_bytes());
    let err = icmp6_error("fd00::2", "fd00::1", 1, 4, &sent[14..]);
    let got = through(&b, &err, 2).expect("+rel, forwarded");
    assert_eq!(
        &got[22..38],
        &v6("fd00::10").to_be_bytes(),
        "outer source: the service"
    );
    assert_eq!(&got[62..], &req[14..], "the quote is the client's packet");
    let ph = pseudo_header_v6(v6("fd00::10"), v6("fd00::1"), 58, got.len() - 54);
    assert_eq!(finish(sum16(&got[54..], ph)), 0, "ICMPv6 checksum");
}

#[test]
fn without_nat_in_the_action_the_error_is_related_and_untouched() {
    let b = bridge(
        "table=0,priority=10,udp,nw_dst=10.96.0.10,tp_dst=53 actions=ct(commit,table=1,zone=5,nat(dst=10.0.0.2:5353))",
    );
    let fl = parse_flow(
        "table=0,priority=20,icmp,in_port=2 actions=ct(table=1,zone=5)",
        Mode::Add,
        b.ports().names(),
    )
    .unwrap();
    b.add_flows(&[fl], 0).unwrap();
    let req = frame(
        "udp,nw_src=10.0.0.1,nw_dst=10.96.0.10,tp_src=4000,tp_dst=53",
        20,
    );
    let sent = through(&b, &req, 1).unwrap();
    let err = icmp4_error("10.0.0.2", "10.0.0.1", 3, 3, &sent[14..]);
    assert_eq!(
        through(&b, &err, 2).as_deref(),
        Some(&err[..]),
        "+rel, bytes as they came"
    );
}
