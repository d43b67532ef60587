//! Table-driven tests: every match field and action parses, prints as OVS prints it, and
//! round-trips; every error names its place.

use super::*;

fn ports() -> PortMap {
    let mut p = PortMap::new();
    p.insert("antrea-gw0", 2);
    p.insert("eth0", 3);
    p
}

/// Parses `input` as an add-flow and checks it prints as `expect` (and that the printed form
/// parses back to the same entry).
fn rt(input: &str, expect: &str) {
    let p = ports();
    let f = parse_flow(input, Mode::Add, &p).unwrap_or_else(|e| panic!("{input}: {e}"));
    let out = format_flow(&f, &p, None);
    assert_eq!(out, expect, "printing {input}");
    let again = parse_flow(&out, Mode::Add, &p).unwrap_or_else(|e| panic!("{out}: {e}"));
    assert_eq!(again, f, "round trip of {input}");
}

fn bad(input: &str, msg: &str) -> ParseError {
    let e = parse_flow(input, Mode::Add, &ports()).expect_err(input);
    assert!(
        e.message.contains(msg),
        "{input}: expected error containing {msg:?}, got {e}"
    );
    e
}

const H: &str = "cookie=0x0, table=0, ";

/// Checks each `(input, printed match)`: parsed as an add-flow, it prints so (the header
/// and `actions=drop` around it) and round-trips.
fn print_matches(cases: &[(&str, &str)]) {
    for (input, m) in cases {
        let expect = if m.is_empty() {
            format!("{H}actions=drop")
        } else {
            format!("{H}{m} actions=drop")
        };
        rt(input, &expect);
    }
}

#[test]
fn port_ethernet_and_vlan_fields_print_like_ovs() {
    print_matches(&[
        ("in_port=5 actions=drop", "in_port=5"),
        ("in_port=antrea-gw0 actions=drop", "in_port=\"antrea-gw0\""),
        ("in_port=eth0 actions=drop", "in_port=eth0"),
        ("in_port=LOCAL actions=drop", "in_port=LOCAL"),
        (
            "dl_src=01:02:03:04:05:06 actions=drop",
            "dl_src=01:02:03:04:05:06",
        ),
        (
            "eth_src=01:02:03:04:05:06/ff:ff:ff:00:00:00 actions=drop",
            "dl_src=01:02:03:00:00:00/ff:ff:ff:00:00:00",
        ),
        (
            "dl_dst=aa:bb:cc:dd:ee:ff actions=drop",
            "dl_dst=aa:bb:cc:dd:ee:ff",
        ),
        (
            "eth_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=drop",
            "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
        ),
        ("dl_type=0x0800 actions=drop", "ip"),
        ("eth_type=0x86dd actions=drop", "ipv6"),
        ("dl_type=0x88cc actions=drop", "dl_type=0x88cc"),
        ("dl_vlan=10 actions=drop", "dl_vlan=10"),
        (
            "dl_vlan=10,dl_vlan_pcp=3 actions=drop",
            "dl_vlan=10,dl_vlan_pcp=3",
        ),
        ("dl_vlan=0xffff actions=drop", "vlan_tci=0x0000"),
        ("vlan_tci=0x1005/0x1fff actions=drop", "dl_vlan=5"),
        (
            "vlan_tci=0x0000/0x1000 actions=drop",
            "vlan_tci=0x0000/0x1000",
        ),
    ]);
}

#[test]
fn ip_fields_print_like_ovs() {
    print_matches(&[
        ("ip,nw_src=10.0.0.1 actions=drop", "ip,nw_src=10.0.0.1"),
        (
            "ip,nw_dst=10.96.0.0/12 actions=drop",
            "ip,nw_dst=10.96.0.0/12",
        ),
        (
            "ip,nw_dst=10.96.0.0/255.240.0.0 actions=drop",
            "ip,nw_dst=10.96.0.0/12",
        ),
        (
            "ip,nw_src=10.0.0.1/255.0.255.0 actions=drop",
            "ip,nw_src=10.0.0.0/255.0.255.0",
        ),
        ("ip,nw_proto=47 actions=drop", "ip,nw_proto=47"),
        ("ip,nw_proto=6 actions=drop", "tcp"),
        ("ip,nw_tos=40 actions=drop", "ip,nw_tos=40"),
        ("ip,nw_ecn=2 actions=drop", "ip,nw_ecn=2"),
        ("ip,nw_ttl=1 actions=drop", "ip,nw_ttl=1"),
        ("ip,nw_frag=first actions=drop", "ip,nw_frag=first"),
        ("ip,nw_frag=later actions=drop", "ip,nw_frag=later"),
        ("ip,nw_frag=no actions=drop", "ip,nw_frag=no"),
        ("ip,nw_frag=yes actions=drop", "ip,nw_frag=yes"),
        ("ip,nw_frag=not_later actions=drop", "ip,nw_frag=not_later"),
    ]);
}

#[test]
fn transport_icmp_arp_and_ipv6_fields_print_like_ovs() {
    print_matches(&[
        ("tcp,tp_src=1000 actions=drop", "tcp,tp_src=1000"),
        (
            "tcp,tp_dst=0x1000/0xf000 actions=drop",
            "tcp,tp_dst=0x1000/0xf000",
        ),
        ("udp,tp_dst=53 actions=drop", "udp,tp_dst=53"),
        ("tcp,tcp_dst=80 actions=drop", "tcp,tp_dst=80"),
        ("udp,udp_src=68 actions=drop", "udp,tp_src=68"),
        ("tcp6,tp_dst=443 actions=drop", "tcp6,tp_dst=443"),
        ("udp6 actions=drop", "udp6"),
        ("sctp,tp_dst=9 actions=drop", "sctp,tp_dst=9"),
        (
            "tcp,tcp_flags=+syn-ack actions=drop",
            "tcp,tcp_flags=+syn-ack",
        ),
        (
            "tcp,tcp_flags=0x012/0x0ff actions=drop",
            "tcp,tcp_flags=-fin+syn-rst-psh+ack-urg-ece-cwr",
        ),
        ("tcp,tcp_flags=0x002 actions=drop", "tcp,tcp_flags=syn"),
        (
            "icmp,icmp_type=8,icmp_code=0 actions=drop",
            "icmp,icmp_type=8,icmp_code=0",
        ),
        (
            "icmp6,icmp_type=135,nd_target=fe80::1 actions=drop",
            "icmp6,icmp_type=135,nd_target=fe80::1",
        ),
        (
            "icmp6,icmp_type=135,nd_sll=00:01:02:03:04:05 actions=drop",
            "icmp6,icmp_type=135,nd_sll=00:01:02:03:04:05",
        ),
        ("arp,arp_op=1 actions=drop", "arp,arp_op=1"),
        (
            "arp,arp_spa=10.0.0.1,arp_tpa=10.0.0.0/24 actions=drop",
            "arp,arp_spa=10.0.0.1,arp_tpa=10.0.0.0/24",
        ),
        (
            "arp,arp_sha=01:02:03:04:05:06,arp_tha=00:00:00:00:00:00 actions=drop",
            "arp,arp_sha=01:02:03:04:05:06,arp_tha=00:00:00:00:00:00",
        ),
        (
            "ipv6,ipv6_src=2001:db8::/32 actions=drop",
            "ipv6,ipv6_src=2001:db8::/32",
        ),
        (
            "ipv6,ipv6_dst=::1,ipv6_label=0x12345 actions=drop",
            "ipv6,ipv6_dst=::1,ipv6_label=0x12345",
        ),
    ]);
}

#[test]
fn conntrack_register_tunnel_and_metadata_fields_print_like_ovs() {
    print_matches(&[
        (
            "ct_state=+new-est+trk actions=drop",
            "ct_state=+new-est+trk",
        ),
        ("ct_state=0x21/0x21 actions=drop", "ct_state=+new+trk"),
        ("ct_state=new|trk actions=drop", "ct_state=new|trk"),
        ("ct_state=0 actions=drop", "ct_state=0"),
        ("ct_zone=65520 actions=drop", "ct_zone=65520"),
        ("ct_mark=0x20 actions=drop", "ct_mark=0x20"),
        ("ct_mark=0x20/0xf0 actions=drop", "ct_mark=0x20/0xf0"),
        ("ct_mark=0 actions=drop", "ct_mark=0"),
        ("ct_label=0x1/0x1 actions=drop", "ct_label=0x1/0x1"),
        ("reg0=0x1/0xffff actions=drop", "reg0=0x1/0xffff"),
        ("reg15=7 actions=drop", "reg15=0x7"),
        ("xreg0=0x100000002 actions=drop", "reg0=0x1,reg1=0x2"),
        ("xxreg0=1 actions=drop", "reg0=0,reg1=0,reg2=0,reg3=0x1"),
        ("reg0[0..3]=5 actions=drop", "reg0=0x5/0xf"),
        ("metadata=0x10/0xff actions=drop", "metadata=0x10/0xff"),
        ("tun_id=0x5 actions=drop", "tun_id=0x5"),
        (
            "tun_src=10.79.1.201,tun_dst=10.79.1.202 actions=drop",
            "tun_src=10.79.1.201,tun_dst=10.79.1.202",
        ),
        ("tun_flags=+oam actions=drop", "tun_flags=oam"),
        ("tun_tos=15 actions=drop", "tun_tos=15"),
        ("tun_metadata0=0x1234 actions=drop", "tun_metadata0=0x1234"),
        (
            "tun_metadata1=0x10000000/0xf0000000 actions=drop",
            "tun_metadata1=0x10000000/0xf0000000",
        ),
        ("tun_metadata2=NP actions=drop", "tun_metadata2=NP"),
        ("conj_id=7,ip actions=drop", "conj_id=7,ip"),
        ("pkt_mark=0x10 actions=drop", "pkt_mark=0x10"),
        ("priority=5 actions=drop", "priority=5"),
    ]);
}

#[test]
fn flow_header_fields() {
    rt(
        "table=3,priority=100,cookie=0x12,idle_timeout=10,hard_timeout=20,importance=3,send_flow_rem,ip actions=drop",
        "cookie=0x12, table=3, idle_timeout=10, hard_timeout=20, send_flow_rem importance=3, priority=100,ip actions=drop",
    );
    // dump-flows statistics are ignored on input.
    rt(
        " cookie=0x1, duration=123.456s, table=2, n_packets=5, n_bytes=300, idle_age=3, priority=7 actions=drop",
        "cookie=0x1, table=2, priority=7 actions=drop",
    );
    // Default priority is not printed.
    rt(
        "priority=32768,ip actions=drop",
        "cookie=0x0, table=0, ip actions=drop",
    );
}

/// Checks each `(actions, printed actions)` in a `tcp` flow (every action gets the match
/// it needs): it prints so and round-trips.
fn print_tcp_actions(cases: &[(&str, &str)]) {
    for (acts, expect) in cases {
        let input = format!("tcp actions={acts}");
        rt(&input, &format!("{H}tcp actions={expect}"));
    }
}

#[test]
fn output_and_resubmit_actions_print_like_ovs() {
    print_tcp_actions(&[
        ("output:5", "output:5"),
        ("5", "output:5"),
        ("output:2", "output:\"antrea-gw0\""),
        ("output:NXM_NX_REG1[]", "output:NXM_NX_REG1[]"),
        ("output:NXM_NX_REG1[0..15]", "output:NXM_NX_REG1[0..15]"),
        ("IN_PORT", "IN_PORT"),
        ("in_port", "IN_PORT"),
        ("NORMAL", "NORMAL"),
        ("FLOOD", "FLOOD"),
        ("ALL", "ALL"),
        ("LOCAL", "LOCAL"),
        ("CONTROLLER", "CONTROLLER:65535"),
        ("CONTROLLER:128", "CONTROLLER:128"),
        ("output:CONTROLLER", "CONTROLLER:65535"),
        ("65533", "CONTROLLER:65535"),
        ("output(port=65533)", "CONTROLLER:65535"),
        ("controller(max_len=64)", "CONTROLLER:64"),
        ("drop", "drop"),
        ("resubmit(,10)", "resubmit(,10)"),
        ("resubmit(2,10)", "resubmit(\"antrea-gw0\",10)"),
        ("resubmit:5", "resubmit:5"),
        ("resubmit(5,)", "resubmit:5"),
        ("resubmit(,10,ct)", "resubmit(,10,ct)"),
        ("goto_table:4", "goto_table:4"),
    ]);
}

#[test]
fn load_move_and_set_field_actions_print_like_ovs() {
    print_tcp_actions(&[
        (
            "load:0x1->NXM_NX_REG0[0..15]",
            "load:0x1->NXM_NX_REG0[0..15]",
        ),
        ("load:0->NXM_NX_REG0[0..15]", "load:0->NXM_NX_REG0[0..15]"),
        ("load:0x1->NXM_NX_REG0[16]", "load:0x1->NXM_NX_REG0[16]"),
        ("load:0x1->reg3[]", "load:0x1->NXM_NX_REG3[]"),
        (
            "load:0xa4f01ca->NXM_NX_TUN_IPV4_DST[]",
            "load:0xa4f01ca->NXM_NX_TUN_IPV4_DST[]",
        ),
        (
            "load:0x4e9908c153be->NXM_OF_ETH_DST[]",
            "load:0x4e9908c153be->NXM_OF_ETH_DST[]",
        ),
        (
            "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]",
            "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]",
        ),
        (
            "move:reg0[0..3]->reg1[4..7]",
            "move:NXM_NX_REG0[0..3]->NXM_NX_REG1[4..7]",
        ),
        (
            "move:NXM_NX_TUN_METADATA0[28..31]->NXM_NX_REG9[28..31]",
            "move:NXM_NX_TUN_METADATA0[28..31]->NXM_NX_REG9[28..31]",
        ),
        (
            "set_field:aa:bb:cc:dd:ee:ff->eth_dst",
            "set_field:aa:bb:cc:dd:ee:ff->eth_dst",
        ),
        ("set_field:0x5->reg0", "set_field:0x5->reg0"),
        ("set_field:0x1/0x1->reg0", "set_field:0x1/0x1->reg0"),
        (
            "set_field:10.79.1.202->tun_dst",
            "set_field:10.79.1.202->tun_dst",
        ),
        ("set_field:5->tun_id", "set_field:0x5->tun_id"),
        ("set_field:3->reg0[0..3]", "set_field:0x3/0xf->reg0"),
        (
            "mod_dl_src:aa:bb:cc:dd:ee:ff",
            "mod_dl_src:aa:bb:cc:dd:ee:ff",
        ),
        (
            "mod_dl_dst:4e:99:08:c1:53:be",
            "mod_dl_dst:4e:99:08:c1:53:be",
        ),
    ]);
}

#[test]
fn vlan_group_note_and_conjunction_actions_print_like_ovs() {
    print_tcp_actions(&[
        ("dec_ttl", "dec_ttl"),
        ("group:3", "group:3"),
        ("note:00.01.ab", "note:00.01.ab"),
        ("push_vlan:0x8100", "push_vlan:0x8100"),
        ("pop_vlan", "pop_vlan"),
        ("strip_vlan", "strip_vlan"),
        ("ct_clear", "ct_clear"),
        ("conjunction(1,2/3)", "conjunction(1,2/3)"),
        (
            "conjunction(1,1/3),conjunction(2,1/3)",
            "conjunction(1,1/3),conjunction(2,1/3)",
        ),
        ("conjunction(1,1/2),note:ab", "conjunction(1,1/2),note:ab"),
    ]);
}

#[test]
fn ct_actions_print_like_ovs() {
    print_tcp_actions(&[
        ("ct(table=31,zone=65520)", "ct(table=31,zone=65520)"),
        (
            "ct(commit,table=110,zone=65520,exec(load:0x20->NXM_NX_CT_MARK[]))",
            "ct(commit,table=110,zone=65520,exec(load:0x20->NXM_NX_CT_MARK[]))",
        ),
        (
            "ct(zone=65520,commit,exec(set_field:0x20/0xff->ct_mark))",
            "ct(commit,zone=65520,exec(set_field:0x20/0xff->ct_mark))",
        ),
        (
            "ct(commit,force,zone=NXM_NX_REG0[0..15])",
            "ct(commit,force,zone=NXM_NX_REG0[0..15])",
        ),
        (
            "ct(commit,table=42,zone=1,nat(dst=10.222.1.47:80))",
            "ct(commit,table=42,zone=1,nat(dst=10.222.1.47:80))",
        ),
        (
            "ct(commit,nat(src=10.0.0.1-10.0.0.9:1000-2000,random))",
            "ct(commit,nat(src=10.0.0.1-10.0.0.9:1000-2000,random))",
        ),
        ("ct(nat,table=5)", "ct(table=5,nat)"),
        (
            "ct(commit,nat(dst=[fe80::1]:80))",
            "ct(commit,nat(dst=[fe80::1]:80))",
        ),
        ("ct(commit,alg=ftp)", "ct(commit,alg=ftp)"),
        ("ct()", "ct()"),
        ("ct", "ct()"),
    ]);
}

/// Actions that need an IP, UDP or ARP match, and a load wider than 64 bits.
#[test]
fn ip_udp_and_arp_actions_print_like_ovs() {
    rt(
        "ip actions=mod_nw_src:10.0.0.1,mod_nw_dst:10.0.0.2,mod_nw_tos:16,mod_nw_ttl:9",
        &format!(
            "{H}ip actions=mod_nw_src:10.0.0.1,mod_nw_dst:10.0.0.2,mod_nw_tos:16,mod_nw_ttl:9"
        ),
    );
    rt(
        "udp actions=mod_tp_src:5,mod_tp_dst:6",
        &format!("{H}udp actions=mod_tp_src:5,mod_tp_dst:6"),
    );
    rt(
        "arp actions=load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[]",
        &format!(
            "{H}arp actions=load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[]"
        ),
    );
    // A load wider than 64 bits prints as 64-bit loads, as OVS's NXAST_REG_LOAD does; the
    // printed form is stable.
    let p = ports();
    let wide = "ip actions=load:0xffffffffffffffffffffffffffffffff->NXM_NX_XXREG0[]";
    let once = format_flow(&parse_flow(wide, Mode::Add, &p).unwrap(), &p, None);
    assert_eq!(once, format!("{H}ip actions=load:0xffffffffffffffff->NXM_NX_XXREG0[0..63],load:0xffffffffffffffff->NXM_NX_XXREG0[64..127]"));
    let twice = format_flow(&parse_flow(&once, Mode::Add, &p).unwrap(), &p, None);
    assert_eq!(once, twice);
}

#[test]
fn semantic_content() {
    let p = ports();
    let f = parse_flow(
        "table=20,arp,arp_tpa=10.222.2.1,arp_op=1 actions=load:0xade0201->NXM_OF_ARP_SPA[],IN_PORT",
        Mode::Add,
        &p,
    )
    .unwrap();
    assert_eq!(f.table, Some(20));
    assert_eq!(
        f.matches.get(crate::field::Field::ArpTpa),
        (0x0ade0201, 0xffff_ffff)
    );
    assert_eq!(f.matches.get(crate::field::Field::ArpOp), (1, 0xff));
    assert_eq!(f.actions[1], Action::Output(port::IN_PORT));
    match &f.actions[0] {
        Action::Set(s) => {
            assert_eq!(s.field, crate::field::Field::ArpSpa);
            assert_eq!(s.value, 0x0ade0201);
            assert_eq!(s.mask, 0xffff_ffff);
        }
        a => panic!("{a:?}"),
    }
    let f = parse_flow("actions=load:0x1->NXM_NX_REG0[16]", Mode::Add, &p).unwrap();
    match &f.actions[0] {
        Action::Set(s) => assert_eq!((s.value, s.mask), (0x10000, 0x10000)),
        a => panic!("{a:?}"),
    }
}

#[test]
fn errors_name_place_and_problem() {
    // Prerequisites.
    let e = bad("tp_dst=80 actions=drop", "tp_dst requires tcp, udp or sctp");
    assert_eq!(e.column(), 1);
    bad("ip,tp_dst=80 actions=drop", "requires tcp, udp or sctp");
    bad("udp,tcp_dst=80 actions=drop", "tcp_dst requires tcp");
    bad("arp_tpa=10.0.0.1 actions=drop", "arp_tpa requires arp");
    bad("ip,arp_op=1 actions=drop", "arp_op requires arp");
    bad("nw_src=10.0.0.1 actions=drop", "requires ip");
    bad("ip,icmp_type=1 actions=drop", "requires icmp");
    bad("ip,tcp_flags=+syn actions=drop", "tcp_flags requires tcp");
    bad("udp,mplsm actions=drop", "nw_proto requires ip or ipv6");
    bad("icmp6,nd_target=::1 actions=drop", "nd_target requires");
    // Values.
    let e = bad("ip,nw_src=10.0.0.300 actions=drop", "not an IPv4 address");
    assert_eq!(e.column(), 11);
    assert_eq!(e.token, "nw_src=10.0.0.300");
    bad("ip,nw_dst=10.0.0.0/40 actions=drop", "prefix length");
    bad("dl_src=01:02:03:04:05 actions=drop", "not a MAC address");
    bad("reg0=0x100000000 actions=drop", "does not fit in 32 bits");
    bad("in_port=nosuchport actions=drop", "unknown port name");
    bad("in_port=5/0xff actions=drop", "unknown port");
    bad("ct_state=+bogus actions=drop", "unknown flag");
    bad("ct_zone=1/0xff actions=drop", "cannot be masked");
    bad("ip,nw_frag=maybe actions=drop", "not one of");
    bad("table=256 actions=drop", "does not fit");
    bad("priority=70000 actions=drop", "does not fit");
    bad("frobnicate=1 actions=drop", "unknown keyword frobnicate");
    bad("ip", "must specify an action");
    bad("cookie=1/1 actions=drop", "cannot use a cookie mask");
    // Actions.
    let e = bad("ip actions=output:2,frob", "unknown action frob");
    assert_eq!(e.column(), 21);
    bad(
        "ip actions=load:0x10000->NXM_NX_REG0[0..15]",
        "does not fit in 16 bits",
    );
    bad(
        "ip actions=load:0x1->NXM_NX_REG0[40]",
        "beyond the 32-bit field",
    );
    bad("ip actions=load:1->NXM_NX_NOPE[]", "unknown field");
    bad(
        "ip actions=move:NXM_NX_REG0[0..3]->NXM_NX_REG1[0..4]",
        "source is 4 bits but destination is 5 bits",
    );
    bad(
        "actions=move:NXM_OF_ARP_SPA[]->NXM_NX_REG0[]",
        "requires the flow to match arp",
    );
    bad(
        "actions=mod_nw_src:10.0.0.1",
        "requires the flow to match ip",
    );
    bad(
        "ip actions=mod_tp_dst:5",
        "requires the flow to match tcp, udp or sctp",
    );
    bad(
        "actions=ct(commit)",
        "ct requires the flow to match ip or ipv6",
    );
    bad("ip actions=ct(force)", "\"force\" flag requires \"commit\"");
    bad(
        "ip actions=ct(commit,exec(load:0x1->NXM_NX_REG0[]))",
        "doesn't support nested modification of reg0",
    );
    bad(
        "ip actions=ct(commit,exec(output:1))",
        "doesn't support nested action output",
    );
    bad(
        "ip actions=load:0x1->NXM_NX_CT_MARK[]",
        "cannot set CT fields outside of ct action",
    );
    bad("ip actions=ct(bogus)", "invalid argument to \"ct\" action");
    bad(
        "ip actions=ct(commit,nat(dst=10.0.0.9-10.0.0.1))",
        "backwards",
    );
    bad("ip actions=nat(src=1.1.1.1)", "outside of \"ct\"");
    bad(
        "ip actions=conjunction(1,3/2)",
        "clause index must be less than or equal",
    );
    bad("ip actions=conjunction(1,1/1)", "at least 2 clauses");
    bad(
        "ip actions=conjunction(1,0/2)",
        "clause index must be positive",
    );
    bad("ip actions=conjunction(1)", "syntax is");
    bad(
        "ip actions=conjunction(1,1/2),output:1",
        "may be used along with \"note\" but not",
    );
    bad("ip actions=resubmit(,)", "at least one of port and table");
    bad("ip actions=set_field:1->ct_state", "read-only");
    bad("ip actions=load:1->NXM_OF_ETH_TYPE[]", "read-only");
    bad("ip actions=push_vlan:0x800", "is not 0x8100");
    bad("ip actions=output(port=1,max_len=5)", "no max_len");
    bad("ip actions=resubmit(,10", "missing closing ')'");
    bad("ip,reg0[0..3=1 actions=drop", "missing ']'");
    bad("ip actions=note:abc", "whole hex bytes");
}

#[test]
fn delete_mode() {
    let p = ports();
    let f = parse_flow("cookie=0x10/0xf0,table=3,ip,out_port=2", Mode::Delete, &p).unwrap();
    assert_eq!((f.cookie, f.cookie_mask), (0x10, 0xf0));
    assert_eq!(f.out_port, Some(2));
    assert_eq!(f.table, Some(3));
    let f = parse_flow("cookie=0x10/-1", Mode::Delete, &p).unwrap();
    assert_eq!(f.cookie_mask, u64::MAX);
    assert!(parse_flow("ip actions=drop", Mode::Delete, &p).is_err());
}

#[test]
fn match_subsumption_for_non_strict_delete() {
    let p = ports();
    let narrow = parse_match("tcp,nw_src=10.0.0.1,tp_dst=80", &p).unwrap();
    let wide = parse_match("ip", &p).unwrap();
    assert!(narrow.is_within(&wide));
    assert!(!wide.is_within(&narrow));
    assert!(narrow.is_within(&Match::CATCHALL));
    let other = parse_match("tcp,nw_src=10.0.0.2", &p).unwrap();
    assert!(!narrow.is_within(&other));
}

#[test]
fn file_reports_every_bad_line() {
    let text = "# a comment\n\nip actions=drop\nip,tp_dst=80 actions=drop\n  table=1, arp actions=NORMAL\nip actions=frob\nip,nw_src=1.2.3 actions=drop\n";
    let (flows, errors) = parse_flow_file(text, Mode::Add, &ports());
    assert_eq!(flows.len(), 2);
    assert_eq!(errors.len(), 3);
    assert_eq!((errors[0].line, errors[0].column), (4, 4));
    assert_eq!((errors[1].line, errors[1].column), (6, 12));
    assert_eq!((errors[2].line, errors[2].column), (7, 11));
    assert_eq!(
        errors[2].to_string(),
        "7:11: nw_src: '1.2.3' is not an IPv4 address near 'nw_src=1.2.3'"
    );
}

#[test]
fn packet_spec() {
    let p = ports();
    let f = parse_packet_spec(
        "in_port=2,tcp,dl_src=4e:99:08:c1:53:be,nw_src=10.222.1.48,nw_dst=10.222.2.34,nw_ttl=64,tp_src=56670,tp_dst=80,tcp_flags=0x002",
        &p,
    )
    .unwrap();
    use crate::field::Field;
    assert_eq!(Field::InPort.get(&f), 2);
    assert_eq!(Field::EthType.get(&f), 0x0800);
    assert_eq!(Field::NwProto.get(&f), 6);
    assert_eq!(Field::NwTtl.get(&f), 64);
    assert_eq!(Field::TcpFlags.get(&f), 2);
    assert_eq!(Field::TpDst.get(&f), 80);
}

/// Inputs found by `cargo fuzz run flow_parser` that once panicked.
#[test]
fn fuzz_regressions() {
    let cases: [&[u8]; 3] = [
        b"actions=0,04 note=044444444\xc7\xb4444000000000000 000",
        b"cookie=0x1ble=10, idle_timeout=200,ip,0, table=10, idl030000000000, table=10, idle_timeoud=200,ip,0, table=10, idlcookie=0x1000000000000, table=10, priority=200,arp,in_poe_rt=\x22ant\x5c\x5c\x5c\x5c\x5c\x5c\x5c\x5c\x5c\x5c\x5c\x5c\x5c\x5c\x5ctimeout=2\x00\x5c",
        b"in_port=\"a\\",
    ];
    for c in cases {
        let s = String::from_utf8_lossy(c);
        let _ = parse_flow(&s, Mode::Add, &ports());
        let _ = parse_flow(&s, Mode::Delete, &ports());
        let _ = parse_match(&s, &ports());
    }
}

#[test]
fn trace_spec_needs_in_port() {
    let p = ports();
    for s in ["", "tcp,nw_dst=10.0.0.1", "in_port=0,tcp"] {
        let e = super::parse_trace_spec(s, &p).unwrap_err();
        assert!(e.message.contains("in_port"), "{s:?}: {e}");
    }
    assert!(super::parse_trace_spec("in_port=2,tcp", &p).is_ok());
}

#[test]
fn unknown_port_names_say_where_ports_come_from() {
    let mut p = ports();
    let e = parse_flow("in_port=p3,actions=drop", Mode::Add, &p).unwrap_err();
    assert_eq!(e.message, "unknown port name \"p3\"");
    p.set_unknown_hint("give it with --port NAME=NUMBER");
    let e = parse_flow("actions=output:p3", Mode::Add, &p).unwrap_err();
    assert_eq!(
        e.message,
        "unknown port name \"p3\" (give it with --port NAME=NUMBER)"
    );
    let long = format!("in_port={},actions=drop", "x".repeat(5000));
    let e = parse_flow(&long, Mode::Add, &p).unwrap_err();
    assert!(e.message.len() < 200, "{}", e.message);
}

/// Shorthands and masked forms the table above leaves out, and one match with a field of
/// every family, printed in OVS's order (marks and conntrack, shorthand, registers, tunnel,
/// metadata, in_port, VLAN, Ethernet, IP, transport).
#[test]
fn match_families_print_in_ovs_order() {
    print_matches(&[
        ("rarp actions=drop", "rarp"),
        ("sctp6 actions=drop", "sctp6"),
        ("recirc_id=0x5 actions=drop", "recirc_id=0x5"),
        (
            "udp,tp_src=0x400/0xfc00 actions=drop",
            "udp,tp_src=0x400/0xfc00",
        ),
        (
            "ipv6,ipv6_label=0x12/0xff actions=drop",
            "ipv6,ipv6_label=0x00012/0x000ff",
        ),
        (
            "tcp,tp_dst=80,tcp_flags=+syn,nw_ttl=3,nw_src=10.0.0.1,dl_src=01:02:03:04:05:06,\
             dl_vlan=10,in_port=5,metadata=0x1,tun_id=0x5,reg1=0x3,ct_state=+trk,pkt_mark=0x1 \
             actions=drop",
            "pkt_mark=0x1,ct_state=+trk,tcp,reg1=0x3,tun_id=0x5,metadata=0x1,in_port=5,dl_vlan=10,\
             dl_src=01:02:03:04:05:06,nw_src=10.0.0.1,nw_ttl=3,tp_dst=80,tcp_flags=+syn",
        ),
    ]);
}
