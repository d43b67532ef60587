//! Every OpenFlow action executed end to end (translate + datapath execute) on real frames,
//! with OVS semantics and checksums verified.

use pipeline::bridge::{Bridge, PortInfo, PortKind, TunnelPort};
use pipeline::build::{arp_frame, ip, ipv4_frame, mac, tcp_frame, udp_frame, Ipv4Spec, L4Spec};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::{Collect, DropReason, Packet};
use pipeline::field::Field;
use pipeline::ofctl::{parse_flow, Mode};
use pipeline::packet::{checksum, extract, finish, sum16, VecFrame};
use pipeline::slowpath::{process, PacketTrace};
use pipeline::xlate::translate;

fn bridge(flows: &[&str]) -> Bridge {
    let b = Bridge::new("br0", ConntrackConfig::default());
    for p in 1..=4u32 {
        b.add_port(PortInfo::new(p, &format!("p{p}"), PortKind::Normal))
            .unwrap();
    }
    b.add_port(PortInfo::new(
        9,
        "tun",
        PortKind::Tunnel(TunnelPort {
            local_ip: Some(ip("10.0.0.100")),
            ..Default::default()
        }),
    ))
    .unwrap();
    let ports = b.ports();
    let fl: Vec<_> = flows
        .iter()
        .map(|f| parse_flow(f, Mode::Add, ports.names()).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect();
    b.add_flows(&fl, 0).unwrap();
    b
}

fn send(b: &Bridge, in_port: u32, frame: &[u8], now: u64) -> (Collect<VecFrame>, PacketTrace) {
    let mut out = Collect::new();
    let mut t = PacketTrace::default();
    process(
        b,
        Packet::new(VecFrame::new(frame), in_port, None),
        now,
        &mut out,
        Some(&mut t),
    );
    (out, t)
}

fn outs(c: &Collect<VecFrame>) -> Vec<u32> {
    c.outputs.iter().map(|o| o.0).collect()
}

/// IPv4 header and TCP/UDP checksums are valid.
fn checksums_ok(f: &[u8]) -> bool {
    let ihl = usize::from(f[14] & 0xf) * 4;
    let ipb = &f[14..14 + ihl];
    if checksum(ipb) != 0 {
        return false;
    }
    let proto = f[23];
    let l4 = &f[14 + ihl..];
    let src = u32::from_be_bytes([f[26], f[27], f[28], f[29]]);
    let dst = u32::from_be_bytes([f[30], f[31], f[32], f[33]]);
    match proto {
        6 | 17 => {
            finish(sum16(
                l4,
                pipeline::build::ipv4_pseudo_sum(src, dst, proto, l4.len()),
            )) == 0
        }
        _ => true,
    }
}

const A: u64 = 0x0200_0000_000a;
const B: u64 = 0x0200_0000_000b;

#[test]
fn header_rewrites_keep_checksums() {
    let b = bridge(&[
        "in_port=1,tcp actions=mod_nw_src:192.168.1.1,mod_nw_dst:192.168.1.2,mod_tp_src:1111,mod_tp_dst:2222,mod_dl_src:00:00:00:00:00:01,mod_dl_dst:00:00:00:00:00:02,mod_nw_tos:32,mod_nw_ttl:7,output:2",
        "in_port=1,udp actions=set_field:10.9.9.9->ip_dst,set_field:53->udp_dst,load:0x0a0a0a0a->NXM_OF_IP_SRC[],output:3",
    ]);
    let (o, _) = send(
        &b,
        1,
        &tcp_frame(A, B, ip("10.0.0.1"), ip("10.0.0.2"), 5, 80, 0x002, 64),
        1,
    );
    assert_eq!(outs(&o), vec![2]);
    let f = o.outputs[0].2.frame.to_vec();
    assert!(checksums_ok(&f));
    let mut k = pipeline::flow::Flow::ZERO;
    extract(&f, 0, &mut k);
    assert_eq!(Field::NwSrc.get(&k), u128::from(ip("192.168.1.1")));
    assert_eq!(Field::NwDst.get(&k), u128::from(ip("192.168.1.2")));
    assert_eq!((Field::TpSrc.get(&k), Field::TpDst.get(&k)), (1111, 2222));
    assert_eq!((Field::EthSrc.get(&k), Field::EthDst.get(&k)), (1, 2));
    assert_eq!(Field::NwTos.get(&k), 32);
    assert_eq!(Field::NwTtl.get(&k), 7);
    let (o, _) = send(
        &b,
        1,
        &udp_frame(A, B, ip("10.0.0.1"), ip("10.0.0.2"), 5, 99, b"data"),
        2,
    );
    let f = o.outputs[0].2.frame.to_vec();
    assert!(checksums_ok(&f));
    let mut k = pipeline::flow::Flow::ZERO;
    extract(&f, 0, &mut k);
    assert_eq!(Field::NwSrc.get(&k), u128::from(ip("10.10.10.10")));
    assert_eq!(Field::NwDst.get(&k), u128::from(ip("10.9.9.9")));
    assert_eq!(Field::TpDst.get(&k), 53);
}

#[test]
fn move_and_registers() {
    let b = bridge(&[
        "table=0,in_port=1 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],load:0x3->NXM_NX_REG2[0..15],move:NXM_NX_REG2[0..15]->NXM_NX_REG3[16..31],resubmit(,1)",
        "table=1,reg3=0x30000 actions=output:NXM_NX_REG2[0..15]",
    ]);
    let (o, _) = send(&b, 1, &udp_frame(A, B, 1, 2, 3, 4, b""), 1);
    assert_eq!(outs(&o), vec![3]);
    let f = o.outputs[0].2.frame.to_vec();
    assert_eq!(&f[0..6], &A.to_be_bytes()[2..], "eth_dst := eth_src");
}

#[test]
fn dec_ttl_decrements_and_drops() {
    let b = bridge(&["in_port=1,ip actions=dec_ttl,output:2"]);
    let f64 = ipv4_frame(&Ipv4Spec {
        ttl: 64,
        ..Default::default()
    });
    let (o, _) = send(&b, 1, &f64, 1);
    let f = o.outputs[0].2.frame.to_vec();
    assert_eq!(f[22], 63);
    assert!(checksums_ok(&f));
    for ttl in [0u8, 1] {
        let f = ipv4_frame(&Ipv4Spec {
            ttl,
            ..Default::default()
        });
        let (o, _) = send(&b, 1, &f, 2);
        assert!(o.outputs.is_empty());
        assert_eq!(o.drops.as_slice(), &[DropReason::TtlExpired]);
    }
    // The megaflow from a TTL 64 packet does not match on TTL, and its actions drop a
    // TTL 1 packet exactly as the slow path does.
    let mut k = pipeline::flow::Flow::ZERO;
    extract(&f64, 1, &mut k);
    let tr = translate(&b, &k, 3, None);
    assert_eq!(Field::NwTtl.get(&tr.mask), 0);
    let f1 = ipv4_frame(&Ipv4Spec {
        ttl: 1,
        ..Default::default()
    });
    let mut out = Collect::new();
    let env = pipeline::dpaction::ExecEnv::new(&b.conntrack, 3);
    pipeline::dpaction::execute(
        &tr.actions,
        Packet::new(VecFrame::new(&f1), 1, None),
        &env,
        &mut out,
    );
    assert_eq!(out.drops.as_slice(), &[DropReason::TtlExpired]);
    // Non-IP: no-op.
    let b2 = bridge(&["in_port=1 actions=dec_ttl,output:2"]);
    let (o, _) = send(&b2, 1, &arp_frame(1, A, 1, 0, 2), 4);
    assert_eq!(outs(&o), vec![2]);
}

#[test]
fn resubmit_loop_is_an_error_the_trace_shows() {
    let b = bridge(&["table=0 actions=resubmit(,0)"]);
    let (o, t) = send(&b, 1, &udp_frame(A, B, 1, 2, 3, 4, b""), 1);
    assert!(o.outputs.is_empty());
    assert_eq!(o.drops.as_slice(), &[DropReason::ResubmitLimit]);
    let text = pipeline::slowpath::format_trace_text(&t, b.ports().names(), "br0");
    assert!(text.contains("over the translation budget"), "{text}");
    // A long but finite chain is fine.
    let chain: Vec<String> = (0..60)
        .map(|i| format!("table={i} actions=resubmit(,{})", i + 1))
        .chain(std::iter::once("table=60 actions=output:2".to_string()))
        .collect();
    let refs: Vec<&str> = chain.iter().map(String::as_str).collect();
    let b = bridge(&refs);
    let (o, _) = send(&b, 1, &udp_frame(A, B, 1, 2, 3, 4, b""), 1);
    assert_eq!(outs(&o), vec![2]);
}

#[test]
fn in_port_rules() {
    let b = bridge(&[
        "in_port=1,udp,tp_dst=1 actions=output:1",
        "in_port=1,udp,tp_dst=2 actions=IN_PORT",
        "in_port=1,udp,tp_dst=3 actions=resubmit(2,1)",
        "table=1,in_port=2 actions=output:2,output:1",
    ]);
    let (o, t) = send(&b, 1, &udp_frame(A, B, 1, 2, 3, 1, b""), 1);
    assert!(o.outputs.is_empty(), "output to the input port is skipped");
    assert!(
        pipeline::slowpath::format_trace_text(&t, b.ports().names(), "b")
            .contains("skipping output to input port")
    );
    let (o, _) = send(&b, 1, &udp_frame(A, B, 1, 2, 3, 2, b""), 1);
    assert_eq!(outs(&o), vec![1]);
    // resubmit with an in_port override looks up table 1 as from port 2; the rule's actions
    // then see the packet's own input port again (OVS's rule_dpif_lookup_from_table
    // restores it: "otherwise OFPP_NORMAL and OFPP_IN_PORT will have surprising
    // behavior"): output:2 goes out, output:1 is the input port and is skipped.
    let (o, _) = send(&b, 1, &udp_frame(A, B, 1, 2, 3, 3, b""), 1);
    assert_eq!(outs(&o), vec![2]);
}

#[test]
fn flood_all_and_normal_learning_with_ageing() {
    let b = bridge(&[
        "in_port=1,udp,tp_dst=1 actions=FLOOD",
        "in_port=1,udp,tp_dst=2 actions=ALL",
        "udp,tp_dst=3 actions=NORMAL",
    ]);
    b.add_port(PortInfo {
        flood: false,
        ..PortInfo::new(5, "noflood", PortKind::Normal)
    })
    .unwrap();
    let (o, _) = send(&b, 1, &udp_frame(A, B, 1, 2, 3, 1, b""), 1);
    assert_eq!(
        outs(&o),
        vec![2, 3, 4],
        "FLOOD skips the input port, no-flood ports, and the tunnel without destination"
    );
    let (o, _) = send(&b, 1, &udp_frame(A, B, 1, 2, 3, 2, b""), 1);
    assert_eq!(outs(&o), vec![2, 3, 4, 5]);
    // NORMAL: unknown destination floods; learning makes it unicast.
    let (o, _) = send(&b, 1, &udp_frame(A, B, 1, 2, 3, 3, b""), 10);
    assert_eq!(outs(&o), vec![2, 3, 4]);
    let (o, _) = send(&b, 3, &udp_frame(B, A, 2, 1, 3, 3, b""), 20);
    assert_eq!(outs(&o), vec![1], "A was learned on port 1");
    let (o, _) = send(&b, 1, &udp_frame(A, B, 1, 2, 3, 3, b""), 30);
    assert_eq!(outs(&o), vec![3], "B was learned on port 3");
    // A packet to B arriving on B's own port is dropped.
    let (o, _) = send(&b, 3, &udp_frame(A, B, 1, 2, 3, 3, b""), 40);
    assert!(o.outputs.is_empty());
    // After ageing (300 s) B is forgotten: flooding again.
    let (o, _) = send(&b, 1, &udp_frame(A, B, 1, 2, 3, 3, b""), 20 + 300_001);
    assert_eq!(outs(&o), vec![2, 3, 4]);
}

#[test]
fn vlan_push_pop_and_rewrite() {
    let b = bridge(&[
        "in_port=1,vlan_tci=0x0000/0x1000 actions=mod_vlan_vid:10,output:2",
        "in_port=2,dl_vlan=10 actions=pop_vlan,output:3",
        "in_port=3,dl_vlan=10 actions=mod_vlan_vid:20,output:4",
        "in_port=4 actions=push_vlan:0x8100,set_field:7->vlan_vid,output:1",
    ]);
    let plain = udp_frame(A, B, 1, 2, 3, 4, b"x");
    let (o, _) = send(&b, 1, &plain, 1);
    let tagged = o.outputs[0].2.frame.to_vec();
    assert_eq!(&tagged[12..16], &[0x81, 0x00, 0x00, 10]);
    let (o, _) = send(&b, 2, &tagged, 2);
    assert_eq!(o.outputs[0].2.frame.to_vec(), plain);
    let (o, _) = send(&b, 3, &tagged, 3);
    assert_eq!(
        &o.outputs[0].2.frame.to_vec()[12..16],
        &[0x81, 0x00, 0x00, 20]
    );
    let (o, _) = send(&b, 4, &plain, 4);
    assert_eq!(
        &o.outputs[0].2.frame.to_vec()[12..16],
        &[0x81, 0x00, 0x00, 7]
    );
}

#[test]
fn ct_commit_mark_and_clear() {
    let b = bridge(&[
        "table=0,ip actions=ct(table=1,zone=7)",
        "table=1,ct_state=+new+trk,ip actions=ct(commit,zone=7,exec(set_field:0x5/0xff->ct_mark)),resubmit(,2)",
        "table=1,ct_state=+est+trk,ct_mark=0x5,ip actions=ct_clear,resubmit(,3)",
        "table=2 actions=output:2",
        "table=3,ct_state=0 actions=output:3",
    ]);
    let (o, _) = send(&b, 1, &udp_frame(A, B, 1, 2, 3, 4, b""), 1);
    assert_eq!(outs(&o), vec![2]);
    let d = b.conntrack.dump(Some(7));
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].mark, 5);
    let (o, _) = send(&b, 1, &udp_frame(B, A, 2, 1, 4, 3, b""), 2);
    assert_eq!(
        outs(&o),
        vec![3],
        "reply is +est with the mark; ct_clear empties ct_state"
    );
}

#[test]
fn tunnel_output_needs_a_destination() {
    let b = bridge(&[
        "in_port=1,udp,tp_dst=1 actions=output:9",
        "in_port=1,udp,tp_dst=2 actions=set_field:10.0.0.7->tun_dst,set_field:0x1234->tun_metadata0,load:5->NXM_NX_TUN_ID[],output:9",
    ]);
    let (o, t) = send(&b, 1, &udp_frame(A, B, 1, 2, 3, 1, b""), 1);
    assert!(o.outputs.is_empty());
    assert!(
        pipeline::slowpath::format_trace_text(&t, b.ports().names(), "b")
            .contains(" >> Tunneling decided against output")
    );
    let (o, _) = send(&b, 1, &udp_frame(A, B, 1, 2, 3, 2, b""), 1);
    assert_eq!(outs(&o), vec![9]);
    let m = o.outputs[0].1.unwrap();
    assert_eq!(
        (m.dst, m.src, m.tun_id),
        (ip("10.0.0.7"), ip("10.0.0.100"), 5)
    );
    assert_eq!(m.md_present, 1);
    assert_eq!(m.md[0], 0x1234);
}

#[test]
fn built_in_proxy_arp() {
    let b = bridge(&["actions=drop"]);
    b.add_port(PortInfo {
        proxy_arp: Some(mac("aa:bb:cc:dd:ee:ff")),
        ..PortInfo::new(7, "veth-pod", PortKind::Normal)
    })
    .unwrap();
    let req = arp_frame(1, A, ip("10.1.1.2"), 0, ip("10.1.1.1"));
    let (o, _) = send(&b, 7, &req, 1);
    assert_eq!(outs(&o), vec![7]);
    let r = o.outputs[0].2.frame.to_vec();
    assert_eq!(&r[0..6], &A.to_be_bytes()[2..]);
    assert_eq!(&r[6..12], &[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
    assert_eq!(&r[20..22], &[0, 2]);
    assert_eq!(&r[28..32], &ip("10.1.1.1").to_be_bytes());
    assert_eq!(&r[38..42], &ip("10.1.1.2").to_be_bytes());
    // Gratuitous ARP is not answered; other ports are not proxied.
    let (o, _) = send(
        &b,
        7,
        &arp_frame(1, A, ip("10.1.1.2"), 0, ip("10.1.1.2")),
        2,
    );
    assert!(o.outputs.is_empty());
    let (o, _) = send(&b, 1, &req, 3);
    assert!(o.outputs.is_empty());
}

#[test]
fn truncated_tcp_has_no_ports_and_matches_like_ovs() {
    let b = bridge(&[
        "tcp,tp_dst=80 actions=output:2",
        "tcp,tp_dst=0 actions=output:3",
        "ip actions=output:4",
    ]);
    let f = tcp_frame(A, B, 1, 2, 5, 80, 2, 64);
    let mut t = f[..44].to_vec();
    t[16..18].copy_from_slice(&30u16.to_be_bytes());
    let c = checksum(&{
        let mut h = t[14..34].to_vec();
        h[10] = 0;
        h[11] = 0;
        h
    });
    t[24..26].copy_from_slice(&c.to_be_bytes());
    let (o, _) = send(&b, 1, &t, 1);
    assert_eq!(outs(&o), vec![3], "a truncated TCP header has tp_dst=0");
    // Later fragment: no ports either.
    let frag = ipv4_frame(&Ipv4Spec {
        frag: 0x0100,
        l4: L4Spec::Tcp {
            sport: 5,
            dport: 80,
            flags: 2,
            seq: 1,
            ack: 0,
            win: 1,
        },
        ..Default::default()
    });
    let (o, _) = send(&b, 1, &frag, 1);
    assert_eq!(outs(&o), vec![3]);
}

/// A packet-out: the controller's actions run on the frame as a rule's would; `resubmit`
/// enters the tables (whose rule is credited) and `ct(table=N)` recirculates as usual.
#[test]
fn packet_out_actions_and_resubmit() {
    use pipeline::ofctl::port;
    use pipeline::slowpath::packet_out;
    let b = bridge(&[
        "table=0,udp,tp_dst=7 actions=output:3",
        "table=0,udp,tp_dst=8 actions=ct(table=5)",
        "table=5,ct_state=+trk+new,udp actions=output:4",
    ]);
    let run = |acts: &str, in_port: u32, dst: u16| {
        let a = parse_flow(&format!("actions={acts}"), Mode::Add, b.ports().names())
            .unwrap()
            .actions;
        let mut out = Collect::new();
        let f = udp_frame(A, B, 1, 2, 9, dst, b"x");
        let p = Packet::new(VecFrame::new(&f), in_port, None);
        packet_out(&b, p, &a, 1, &mut out, None);
        out
    };
    assert_eq!(outs(&run("output:2", port::CONTROLLER, 7)), vec![2]);
    assert_eq!(
        outs(&run("resubmit(,0)", port::CONTROLLER, 7)),
        vec![3],
        "resubmit enters table 0"
    );
    assert_eq!(
        outs(&run("resubmit(,0)", port::CONTROLLER, 8)),
        vec![4],
        "ct(table=5) recirculates into table 5"
    );
    assert_eq!(outs(&run("output:in_port", 1, 7)), vec![1]);
    assert_eq!(outs(&run("drop", port::CONTROLLER, 7)), Vec::<u32>::new());
    let tables = b.tables();
    let hits: u64 = tables
        .table(0)
        .unwrap()
        .rules()
        .map(|r| r.stats.n_packets.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    assert_eq!(hits, 2, "the two resubmits into table 0 are counted");
}

/// port-mod: a down or no-receive port drops what arrives; a down or no-forward port is
/// never sent to (explicit output or flood); no-flood leaves only flooding.
#[test]
fn port_mod_config_takes_effect() {
    use pipeline::bridge::port_config as pc;
    let b = bridge(&[
        "in_port=1,udp,tp_dst=1 actions=output:2",
        "in_port=1,udp,tp_dst=2 actions=FLOOD",
        "in_port=2,udp actions=output:1",
    ]);
    let f = |dst| udp_frame(A, B, 1, 2, 9, dst, b"");
    assert_eq!(outs(&send(&b, 1, &f(1), 1).0), vec![2]);
    b.mod_port(2, pc::NO_FWD, pc::NO_FWD).unwrap();
    assert_eq!(outs(&send(&b, 1, &f(1), 1).0), Vec::<u32>::new());
    assert_eq!(outs(&send(&b, 1, &f(2), 1).0), vec![3, 4]);
    assert_eq!(
        outs(&send(&b, 2, &f(1), 1).0),
        vec![1],
        "no-fwd still receives"
    );
    b.mod_port(2, pc::PORT_DOWN, pc::PORT_DOWN | pc::NO_FWD)
        .unwrap();
    let (o, t) = send(&b, 2, &f(1), 1);
    assert_eq!(outs(&o), Vec::<u32>::new(), "a down port receives nothing");
    assert!(format!("{t:?}").contains("down"));
    b.mod_port(2, 0, pc::PORT_DOWN).unwrap();
    b.mod_port(3, pc::NO_FLOOD, pc::NO_FLOOD).unwrap();
    assert_eq!(outs(&send(&b, 1, &f(2), 1).0), vec![2, 4]);
    assert_eq!(b.ports().get(3).unwrap().config_bits(), pc::NO_FLOOD);
    assert!(b.mod_port(77, 0, pc::NO_FWD).is_err());
}
