//! Conntrack frame by frame against Open vSwitch's userspace datapath (dpif-netdev, its
//! conntrack and `ipf`): both seed nodes' flows (Antrea's kube-proxy pipeline with the
//! walkthrough's policies), worker1 generated with `proxy: antrea-proxy` (Services
//! load-balanced in the switch: select groups and `ct(nat)`), and a set of DNAT/SNAT flows
//! (ICMP errors under NAT, IPv4 and IPv6), in OVS with dummy ports and in brisk's fast path;
//! the same scripted frame sequences into both (OVS: `ovs-appctl netdev-dummy/receive`);
//! what leaves every port (OVS: each port's `tx_pcap`) compared byte for byte, in order.
//! Each category's agreement is printed; a disagreement fails the test unless it is one
//! `docs/pipeline.md` explains (then the test checks it is exactly that one).

mod common;
#[path = "ct_vs_ovs/harness.rs"]
mod harness;
#[path = "ct_vs_ovs/services.rs"]
mod services;
#[path = "ct_vs_ovs/worker1.rs"]
mod worker1;
#[path = "ct_vs_ovs/worker2.rs"]
mod worker2;

use common::ofctl::have_ovs;
use harness::*;
use pipeline::build::{ipv4_frame, Ipv4Spec, L4Spec};
use std::path::{Path, PathBuf};
use worker1::{FRONTEND, VMAC};

fn seed_flows(node: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("testdata/antrea-seed/{node}.flows"))
}

/// One node's flows (and groups) into both switches, its sequences through them.
fn differential(
    node: &'static str,
    label: &str,
    flows: &Path,
    groups: Option<&Path>,
    seqs: Vec<Sequence>,
    explained: Explain,
) -> Tally {
    let tag = format!("ctdiff-{}", label.replace(' ', "-"));
    let mut ovs = OvsSide::start(node, &tag, flows, groups);
    let text = |p: &Path| std::fs::read_to_string(p).unwrap();
    let mut brisk = BriskSide::start(node, &text(flows), &groups.map(text).unwrap_or_default());
    let mut tally = Tally::default();
    tally.run(label, &mut ovs, &mut brisk, seqs, explained);
    tally
}

#[test]
fn conntrack_agrees_with_ovs_frame_by_frame_on_both_seed_nodes() {
    if !have_ovs() {
        return;
    }
    let mut t = differential(
        "worker1",
        "worker1",
        &seed_flows("worker1"),
        None,
        worker1::sequences(),
        worker1::explained,
    );
    let t2 = differential(
        "worker2",
        "worker2",
        &seed_flows("worker2"),
        None,
        worker2::sequences(),
        worker2::explained,
    );
    t.absorb(t2);
    for key in [
        "worker1 tcp",
        "worker1 udp",
        "worker1 hairpin",
        "worker2 tcp",
        "worker2 udp",
        "worker2 icmp",
        "worker2 fragments",
        "worker2 hairpin",
    ] {
        assert!(
            t.forwarded(key) > 0,
            "{key}: OVS forwarded nothing: equal silence proves nothing"
        );
    }
    t.finish();
}

#[test]
fn antrea_proxy_services_agree_with_ovs_frame_by_frame_on_both_nodes() {
    if !have_ovs() {
        return;
    }
    let dir = common::Scratch::new("ctdiff-services");
    let generated = |node: &str, services: &str| {
        let yaml = dir.file(
            &format!("{node}.yaml"),
            &services::node_yaml(node, services),
        );
        let gen = |what: &str| {
            let o = std::process::Command::new(common::BRISK)
                .args(["conf", what, &yaml])
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "brisk conf {what} {node}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            PathBuf::from(dir.file(
                &format!("{node}.{what}"),
                &String::from_utf8_lossy(&o.stdout),
            ))
        };
        (gen("flows"), gen("groups"))
    };
    let (flows, groups) = generated("worker1", services::SERVICES);
    let mut t = differential(
        "worker1",
        "antrea-proxy worker1",
        &flows,
        Some(&groups),
        services::sequences(),
        services::explained,
    );
    let (flows, groups) = generated("worker2", services::SERVICES2);
    t.absorb(differential(
        "worker2",
        "antrea-proxy worker2",
        &flows,
        Some(&groups),
        services::sequences_worker2(),
        worker2::explained,
    ));
    for key in [
        "antrea-proxy worker1 service tcp",
        "antrea-proxy worker1 service udp",
        "antrea-proxy worker1 service icmp",
        "antrea-proxy worker2 service tcp",
        "antrea-proxy worker2 service udp",
        "antrea-proxy worker2 service icmp",
    ] {
        assert!(
            t.forwarded(key) > 0,
            "{key}: OVS forwarded nothing: equal silence proves nothing"
        );
    }
    t.finish();
}

/// NAT flows on worker1's ports: the frontend (49) reaches a Service 10.96.0.10:53 that is
/// DNATed to backend1 (48) at :5353, and the outside (8.8.8.8, through the gateway's port
/// 2) with its source SNATed to the node's 10.79.1.201:30000; everything else goes through
/// `ct(nat)`, and packets are routed by destination. What comes back to the frontend is
/// marked in its DSCP with the NAT bit `ct_state` reports (`+snat` 8, `+dnat` 4): a reply
/// is `+snat` when its source is rewritten (a DNAT connection's), `+dnat` when its
/// destination is.
const NAT_FLOWS: &str = "\
table=0,priority=10,udp,in_port=49,nw_dst=10.96.0.10,tp_dst=53 actions=ct(commit,table=1,zone=5,nat(dst=10.222.1.47:5353))
table=0,priority=10,tcp,in_port=49,nw_dst=8.8.8.8 actions=ct(commit,table=1,zone=5,nat(src=10.79.1.201:30000))
table=0,priority=5,ip actions=ct(table=1,zone=5,nat)
table=1,priority=20,ct_state=+inv+trk,ip actions=drop
table=1,priority=15,ct_state=+trk+snat+rpl,ip,nw_dst=10.222.1.48 actions=mod_nw_tos:8,output:49
table=1,priority=15,ct_state=+trk+dnat+rpl,ip,nw_dst=10.222.1.48 actions=mod_nw_tos:4,output:49
table=1,priority=10,ip,nw_dst=10.222.1.47 actions=output:48
table=1,priority=10,ip,nw_dst=10.222.1.48 actions=output:49
table=1,priority=10,ip,nw_dst=8.8.8.8 actions=output:2
table=1,priority=10,ip,nw_dst=10.9.9.9 actions=output:2
table=0,priority=10,udp6,in_port=49,ipv6_dst=fd00::10,tp_dst=53 actions=ct(commit,table=1,zone=5,nat(dst=[fd00::2]:5353))
table=0,priority=5,ipv6 actions=ct(table=1,zone=5,nat)
table=1,priority=20,ct_state=+inv+trk,ipv6 actions=drop
table=1,priority=10,ipv6,ipv6_dst=fd00::2 actions=output:48
table=1,priority=10,ipv6,ipv6_dst=fd00::1 actions=output:49
";

/// A UDP over IPv6 frame (the pods' MACs).
fn udp6(src: &str, dst: &str, sport: u16, dport: u16) -> Vec<u8> {
    let spec = format!(
        "udp6,dl_src=be:2c:bf:e4:ec:c5,dl_dst=aa:bb:cc:dd:ee:ff,ipv6_src={src},ipv6_dst={dst},nw_ttl=64,tp_src={sport},tp_dst={dport}"
    );
    let m = pipeline::ofctl::parse_match(&spec, &pipeline::ofctl::PortMap::default()).unwrap();
    pipeline::build::from_flow(&m.value, 24)
}

/// An ICMPv6 error from `src` to `dst` quoting `quoted` (an IPv6 packet).
fn icmp6_error(src: &str, dst: &str, ty: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    let a = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
    let mut f = vec![
        0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0xbe, 0x2c, 0xbf, 0xe4, 0xec, 0xc5, 0x86, 0xdd,
    ];
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&((8 + quoted.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[58, 64]);
    f.extend_from_slice(&a(src));
    f.extend_from_slice(&a(dst));
    f.extend_from_slice(&[ty, code, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(quoted);
    let ph = pipeline::wire::checksum::pseudo_header_v6(
        u128::from_be_bytes(a(src)),
        u128::from_be_bytes(a(dst)),
        58,
        f.len() - 54,
    );
    let c = pipeline::wire::checksum::finish(pipeline::wire::checksum::sum16(&f[54..], ph));
    f[56..58].copy_from_slice(&c.to_be_bytes());
    f
}

/// An IPv4 frame between arbitrary addresses (MACs as the pods').
fn frame_ip(src: [u8; 4], dst: [u8; 4], l4: L4Spec, payload: usize, ttl: u8) -> Vec<u8> {
    ipv4_frame(&Ipv4Spec {
        eth_src: FRONTEND.mac,
        eth_dst: VMAC,
        src: u32::from_be_bytes(src),
        dst: u32::from_be_bytes(dst),
        ttl,
        id: 7,
        frag: 0x4000,
        l4,
        payload: (0..payload).map(|i| (i * 7) as u8).collect(),
        ..Default::default()
    })
}

/// An ICMPv4 error from `src` to `dst` quoting `quoted` (an IP packet).
fn icmp_error_ip(src: [u8; 4], dst: [u8; 4], ty: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    let mut e = frame_ip(src, dst, L4Spec::Icmp { ty, code, rest: 0 }, 0, 64);
    e.extend_from_slice(quoted);
    fix_ipv4_and_icmp(&mut e);
    e
}

#[test]
fn nat_and_icmp_errors_under_nat_agree_with_ovs_frame_by_frame() {
    if !have_ovs() {
        return;
    }
    let dir = common::Scratch::new("ctdiff-nat");
    let flows = PathBuf::from(dir.file("nat.flows", NAT_FLOWS));
    let mut ovs = OvsSide::start("worker1", "ctdiff-nat", &flows, None);
    let mut brisk = BriskSide::start("worker1", NAT_FLOWS, "");
    let (client, svc, backend) = ([10, 222, 1, 48], [10, 96, 0, 10], [10, 222, 1, 47]);
    let (out, node, router) = ([8, 8, 8, 8], [10, 79, 1, 201], [10, 9, 9, 9]);
    let udp = |s: [u8; 4], d: [u8; 4], sp: u16, dp: u16| {
        frame_ip(
            s,
            d,
            L4Spec::Udp {
                sport: sp,
                dport: dp,
            },
            24,
            64,
        )
    };
    let tcp = |s: [u8; 4], d: [u8; 4], sp: u16, dp: u16, fl: u16, seq: u32, ack: u32| {
        frame_ip(
            s,
            d,
            L4Spec::Tcp {
                sport: sp,
                dport: dp,
                flags: fl,
                seq,
                ack,
                win: 65535,
            },
            0,
            64,
        )
    };
    let req = udp(client, svc, 4000, 53);
    let syn = tcp(client, out, 41000, 443, SYN, 1, 0);
    let mut sent = syn.clone();
    sent[26..30].copy_from_slice(&node);
    sent[34..36].copy_from_slice(&30000u16.to_be_bytes());
    fix_tcp(&mut sent);
    let seqs: Vec<(&str, Frames)> = vec![
        (
            "DNAT: UDP request and answer",
            vec![(49, req.clone()), (48, udp(backend, client, 5353, 4000))],
        ),
        (
            "DNAT: port unreachable from the backend about the request",
            vec![
                (49, udp(client, svc, 4001, 53)),
                (
                    48,
                    icmp_error_ip(backend, client, 3, 3, &{
                        let mut g = udp(client, backend, 4001, 5353);
                        g.drain(..14);
                        g
                    }),
                ),
            ],
        ),
        (
            "SNAT: TCP handshake to the outside",
            vec![
                (49, syn.clone()),
                (2, tcp(out, node, 443, 30000, SYNACK, 500, 2)),
                (49, tcp(client, out, 41000, 443, ACK, 2, 501)),
            ],
        ),
        (
            "SNAT: fragmentation needed from a router (header + 8 bytes quoted)",
            vec![(2, icmp_error_ip(router, node, 3, 4, &sent[14..14 + 28]))],
        ),
        (
            "IPv6 DNAT: UDP request and answer",
            vec![
                (49, udp6("fd00::1", "fd00::10", 4000, 53)),
                (48, udp6("fd00::2", "fd00::1", 5353, 4000)),
            ],
        ),
        (
            "IPv6 DNAT: port unreachable from the backend about the request",
            vec![
                (49, udp6("fd00::1", "fd00::10", 4001, 53)),
                (
                    48,
                    icmp6_error(
                        "fd00::2",
                        "fd00::1",
                        1,
                        4,
                        &udp6("fd00::1", "fd00::2", 4001, 5353)[14..],
                    ),
                ),
            ],
        ),
    ];
    let (mut same, mut out_frames) = (0, 0);
    let mut failures = Vec::new();
    for (name, frames) in &seqs {
        let o = ovs.run(frames);
        let b = brisk.run(frames);
        // Every frame here goes through: equal silence would prove nothing.
        let n = o.values().map(Vec::len).sum::<usize>();
        assert_eq!(
            n,
            frames.len(),
            "{name}: OVS forwarded {n} of {}",
            frames.len()
        );
        out_frames += n;
        if o == b {
            same += 1;
        } else {
            failures.push(format!("{name}:\n  brisk {:02x?}\n  OVS   {:02x?}", b, o));
        }
    }
    eprintln!(
        "| nat | {} | {} | {out_frames} | {same} of {} | 0 |",
        seqs.len(),
        seqs.iter().map(|s| s.1.len()).sum::<usize>(),
        seqs.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
