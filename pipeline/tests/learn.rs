//! `learn`: the flow text as OVS prints it, the flow learned from a packet (OVS's
//! `learn_execute`), the megaflow's dependence on the learned fields, refreshes from the
//! fast path at most every 500 ms, the learner's strict-modify semantics, and
//! `delete_learned`.

use pipeline::bridge::{Bridge, PortInfo, PortKind};
use pipeline::build::{ip, tcp_frame, udp_frame};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::{Collect, Packet, LEARN_REFRESH_MS};
use pipeline::fastpath::{FastPath, FastPathConfig};
use pipeline::ofctl::{format_flow, parse_flow, Action, Mode, PortMap};
use pipeline::packet::VecFrame;
use pipeline::slowpath::process;
use pipeline::tables::{FlowMod, Removal};

fn bridge(flows: &[&str]) -> Bridge {
    let b = Bridge::new("br0", ConntrackConfig::default());
    for p in 1..=4u32 {
        b.add_port(PortInfo::new(p, &format!("p{p}"), PortKind::Normal))
            .unwrap();
    }
    let ports = b.ports();
    let fl: Vec<_> = flows
        .iter()
        .map(|f| parse_flow(f, Mode::Add, ports.names()).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect();
    b.add_flows(&fl, 0).unwrap();
    b
}

const A: u64 = 0x0200_0000_000a;
const B: u64 = 0x0200_0000_000b;

fn send(b: &Bridge, in_port: u32, f: &[u8], now_ms: u64) -> Collect<VecFrame> {
    let mut out = Collect::new();
    process(
        b,
        Packet::new(VecFrame::new(f), in_port, None),
        now_ms,
        &mut out,
        None,
    );
    out
}

fn text(b: &Bridge, e: &pipeline::ofctl::FlowEntry) -> String {
    format_flow(e, b.ports().names(), None)
}

/// Antrea's session-affinity learn (ServiceLB table), as `ovs-ofctl dump-flows` prints it.
const AFFINITY: &str = "learn(table=9,hard_timeout=300,priority=200,delete_learned,cookie=0x103000000000b,eth_type=0x800,nw_proto=6,NXM_OF_TCP_DST[],NXM_OF_IP_DST[],NXM_OF_IP_SRC[],load:NXM_NX_REG4[0..15]->NXM_NX_REG4[0..15],load:NXM_NX_REG4[26]->NXM_NX_REG4[26],load:NXM_NX_REG3[]->NXM_NX_REG3[],load:0x2->NXM_NX_REG4[16..18],load:0x1->NXM_NX_REG0[9])";

#[test]
fn learn_text_reads_and_prints_as_ovs_writes_it() {
    for t in [
        AFFINITY,
        "learn(table=10,idle_timeout=60,hard_timeout=120,priority=100,send_flow_rem,delete_learned,cookie=0x5,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],NXM_OF_VLAN_TCI[0..11],eth_type=0x800,ip_dst=10.0.0.1,load:NXM_OF_IN_PORT[]->NXM_NX_REG0[0..15],load:0x5->NXM_NX_REG1[],output:NXM_OF_IN_PORT[])",
        "learn(table=1)",
    ] {
        let e = parse_flow(&format!("tcp actions={t}"), Mode::Add, &PortMap::default())
            .unwrap_or_else(|e| panic!("{t}: {e}"));
        let Action::Learn(l) = &e.actions[0] else {
            panic!("{t}: not a learn")
        };
        assert_eq!(l.format(), t);
    }
    // What `ovs-ofctl parse-flows` prints for other spellings.
    let e = parse_flow(
        "tcp actions=learn(table=9,NXM_OF_VLAN_TCI[0..11]=0x5,in_port=3,dl_src=00:11:22:33:44:55,NXM_NX_REG0[]=0x7)",
        Mode::Add,
        &PortMap::default(),
    )
    .unwrap();
    assert_eq!(
        pipeline::ofctl::format_actions(&e.actions, &PortMap::default()),
        "learn(table=9,NXM_OF_VLAN_TCI[0..11]=0x5,in_port=3,eth_src=00:11:22:33:44:55,reg0=0x7)"
    );
    // OVS's learn_check: a source needs its prerequisites in the learning flow's match, a
    // learned match field in the immediates before it.
    for (flow, why) in [
        (
            "actions=learn(table=1,NXM_OF_IP_SRC[])",
            "ip_src requires the flow to match",
        ),
        (
            "ip actions=learn(table=1,NXM_OF_IP_SRC[])",
            "ip_src requires the flow to match",
        ),
        (
            "ip actions=learn(table=1,load:NXM_NX_REG0[]->NXM_NX_REG1[0..15])",
            "bit widths",
        ),
        (
            "ip actions=learn(table=1,limit=5,eth_type=0x800)",
            "limit and result_dst",
        ),
    ] {
        let e = parse_flow(flow, Mode::Add, &PortMap::default()).unwrap_err();
        assert!(e.to_string().contains(why), "{flow}: {e}");
    }
}

#[test]
fn a_packet_learns_the_flow_ovs_learns_and_its_megaflow_matches_what_it_read() {
    let b = bridge(&[&format!(
        "table=0,priority=10,tcp actions=load:0xa0a0018->NXM_NX_REG3[],load:0x50->NXM_NX_REG4[0..15],{AFFINITY},output:2"
    )]);
    let f = tcp_frame(
        A,
        B,
        ip("10.10.0.5"),
        ip("10.96.76.15"),
        40000,
        80,
        0x02,
        64,
    );
    let out = send(&b, 1, &f, 0);
    assert_eq!(out.outputs.len(), 1);
    assert_eq!(out.learned.len(), 1);
    assert_eq!(
        text(&b, &out.learned[0].entry),
        "cookie=0x103000000000b, table=9, hard_timeout=300, priority=200,tcp,nw_src=10.10.0.5,nw_dst=10.96.76.15,tp_dst=80 actions=load:0x50->NXM_NX_REG4[0..15],load:0->NXM_NX_REG4[26],load:0xa0a0018->NXM_NX_REG3[],load:0x2->NXM_NX_REG4[16..18],load:0x1->NXM_NX_REG0[9]"
    );
    // The megaflow matches the fields the learned flow was made of (OVS's learn_mask),
    // not the ones it did not read (the source port).
    let tr = pipeline::xlate::translate(&b, &out.outputs[0].2.key, 0, None);
    let m = &tr.mask;
    use pipeline::field::Field;
    assert_eq!(Field::NwSrc.get(m), 0xffff_ffff);
    assert_eq!(Field::NwDst.get(m), 0xffff_ffff);
    assert_eq!(Field::TpDst.get(m), 0xffff);
    assert_eq!(Field::TpSrc.get(m), 0);
    // A trace learns nothing.
    let mut trace = pipeline::slowpath::PacketTrace::default();
    let mut col: Collect<VecFrame> = Collect::new();
    pipeline::slowpath::process(
        &b,
        Packet::new(VecFrame::new(&f), 1, None),
        0,
        &mut col,
        Some(&mut trace),
    );
    assert!(col.learned.is_empty());
}

#[test]
fn the_fast_path_relearns_at_most_every_refresh_interval_and_the_learner_refreshes_not_versions() {
    let b = bridge(&[
        "table=0,priority=10,udp actions=learn(table=5,hard_timeout=2,priority=7,eth_type=0x800,NXM_OF_IP_SRC[],load:NXM_OF_UDP_SRC[]->NXM_NX_REG1[0..15]),output:2",
    ]);
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig::default());
    let mut out = Collect::new();
    let f = udp_frame(A, B, ip("10.0.0.1"), ip("10.0.0.2"), 1000, 53, b"x");
    for t in [1, 2, 100, LEARN_REFRESH_MS - 1] {
        fp.receive_burst(&b, 1, [VecFrame::new(&f)], t, &mut out);
    }
    assert_eq!(out.outputs.len(), 4);
    assert_eq!(out.learned.len(), 1, "one learn per megaflow per interval");
    fp.receive_burst(&b, 1, [VecFrame::new(&f)], LEARN_REFRESH_MS + 2, &mut out);
    assert_eq!(out.learned.len(), 2, "refreshed after the interval");
    // Another source port is another megaflow (the learned load reads it).
    let g = udp_frame(A, B, ip("10.0.0.1"), ip("10.0.0.2"), 1001, 53, b"x");
    fp.receive_burst(&b, 1, [VecFrame::new(&g)], LEARN_REFRESH_MS + 3, &mut out);
    assert_eq!(out.learned.len(), 3);
    // The learner: the first flow is added (a version), the second identical one only
    // refreshes; the third is a strict modify of the same match (new actions, same age).
    let v = b.tables().version;
    let s = b.learn(&out.learned[..1], 10);
    assert_eq!((s.added, b.tables().version), (1, v + 1));
    let gen = b.generation();
    let s = b.learn(&out.learned[1..2], 1_500);
    assert_eq!((s.refreshed, b.generation()), (1, gen), "no new version");
    let s = b.learn(&out.learned[2..3], 1_600);
    assert_eq!(s.modified, 1);
    let t = b.tables();
    let r: Vec<_> = t.table(5).unwrap().rules().cloned().collect();
    assert_eq!(r.len(), 1);
    assert_eq!(
        text(&b, &r[0].entry),
        "cookie=0x0, table=5, hard_timeout=2, priority=7,ip,nw_src=10.0.0.1 actions=load:0x3e9->NXM_NX_REG1[0..15]"
    );
    assert_eq!(r[0].created_ms, 10, "a modify keeps the flow's age");
    // Hard timeout from the last (re)learn: 1,600 ms + 2 s.
    assert!(b.expire_flows(3_000).is_empty());
    let gone = b.expire_flows(3_600);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].1, Removal::Hard);
}

#[test]
fn delete_learned_goes_with_the_last_flow_that_owns_the_cookie() {
    let learn = |c: u32| {
        format!("learn(table=5,priority=7,delete_learned,cookie=0x{c:x},eth_type=0x800,NXM_OF_IP_SRC[])")
    };
    let b = bridge(&[
        &format!(
            "table=0,priority=10,ip,nw_dst=10.0.0.2 actions={},output:2",
            learn(1)
        ),
        &format!(
            "table=0,priority=11,ip,nw_dst=10.0.0.3 actions={},output:2",
            learn(1)
        ),
        &format!(
            "table=0,priority=12,ip,nw_dst=10.0.0.4 actions={},output:2",
            learn(2)
        ),
        "table=5,priority=1,cookie=0x1 actions=drop",
    ]);
    let mut learned = Vec::new();
    for (src, dst) in [
        ("10.0.0.7", "10.0.0.2"),
        ("10.0.0.8", "10.0.0.3"),
        ("10.0.0.9", "10.0.0.4"),
    ] {
        let f = udp_frame(A, B, ip(src), ip(dst), 1, 2, b"x");
        learned.extend(send(&b, 1, &f, 0).learned);
    }
    assert_eq!(b.learn(&learned, 0).added, 3);
    assert_eq!(b.tables().table(5).unwrap().len(), 4);
    let del = |f: &str| FlowMod::Delete {
        filter: parse_flow(f, Mode::Delete, &PortMap::default()).unwrap(),
        strict: false,
        out_group: None,
    };
    // One of two owners of cookie 1 goes: its learned flows stay.
    b.apply(&[del("table=0,ip,nw_dst=10.0.0.2")], 0).unwrap();
    assert_eq!(b.tables().table(5).unwrap().len(), 4);
    // The last one goes: every table-5 flow with cookie 1 goes (the static one too, as
    // OVS deletes by table and cookie), cookie 2's stay.
    let s = b.apply(&[del("table=0,ip,nw_dst=10.0.0.3")], 0).unwrap();
    assert_eq!(s.deleted, 1 + 3);
    let left: Vec<u64> = b
        .tables()
        .table(5)
        .unwrap()
        .rules()
        .map(|r| r.entry.cookie)
        .collect();
    assert_eq!(left, vec![2]);
    // An owner that expires takes its learned flows too, reported as such.
    let b2 = bridge(&[&format!(
        "table=0,priority=10,hard_timeout=1,ip actions={},output:2",
        learn(3)
    )]);
    let f = udp_frame(A, B, ip("10.0.0.7"), ip("10.0.0.2"), 1, 2, b"x");
    let l = send(&b2, 1, &f, 0).learned;
    b2.learn(&l, 0);
    let gone = b2.expire_flows(1_000);
    let why: Vec<Removal> = gone.iter().map(|g| g.1).collect();
    assert_eq!(why, vec![Removal::Hard, Removal::DeleteLearned]);
    assert_eq!(b2.tables().n_flows(), 0);
}

#[test]
fn a_learned_flow_revalidates_only_the_megaflows_that_looked_at_its_table() {
    let b = bridge(&[
        "table=0,priority=10,udp,tp_dst=53 actions=learn(table=5,priority=9,eth_type=0x800,NXM_OF_IP_SRC[],output:NXM_OF_IN_PORT[]),output:2",
        "table=0,priority=10,udp,tp_dst=54 actions=resubmit(,5),output:2",
        "table=0,priority=10,tcp actions=output:3",
    ]);
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig::default());
    let mut out = Collect::new();
    let tcp = tcp_frame(A, B, ip("10.0.0.1"), ip("10.0.0.2"), 1, 80, 0x10, 64);
    let u54 = udp_frame(A, B, ip("10.0.0.1"), ip("10.0.0.2"), 1, 54, b"x");
    let u53 = udp_frame(A, B, ip("10.0.0.1"), ip("10.0.0.2"), 1, 53, b"x");
    for (port, f) in [(1, &tcp), (4, &u54), (1, &u53)] {
        fp.receive_burst(&b, port, [VecFrame::new(f)], 1, &mut out);
    }
    assert_eq!(out.learned.len(), 1);
    let g = b.generation();
    assert_eq!(b.learn(&out.learned, 2).added, 1);
    assert_eq!(
        b.generation(),
        g,
        "a learned flow moves the table generation only"
    );
    let before = fp.stats.revalidations;
    let mut out = Collect::new();
    fp.receive_burst(&b, 1, [VecFrame::new(&tcp)], 3, &mut out);
    assert_eq!(
        fp.stats.revalidations, before,
        "tcp never looked at table 5"
    );
    assert_eq!(out.outputs.len(), 1);
    fp.receive_burst(&b, 4, [VecFrame::new(&u54)], 3, &mut out);
    assert_eq!(
        fp.stats.revalidations,
        before + 1,
        "udp 54 looked at table 5"
    );
    let ports: Vec<u32> = out.outputs.iter().map(|o| o.0).collect();
    assert_eq!(
        ports,
        vec![3, 1, 2],
        "the learned flow sends it back out of its port too"
    );
    // Expiry is confined the same way.
    let b2 = bridge(&[
        "table=0,priority=10,udp actions=resubmit(,5),output:2",
        "table=0,priority=10,tcp actions=output:3",
        "table=5,priority=10,hard_timeout=1,udp actions=output:4",
    ]);
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig::default());
    let mut out = Collect::new();
    for f in [&tcp, &u54] {
        fp.receive_burst(&b2, 1, [VecFrame::new(f)], 1, &mut out);
    }
    assert_eq!(b2.expire_flows(1_000).len(), 1);
    let before = fp.stats.revalidations;
    let mut out = Collect::new();
    fp.receive_burst(&b2, 1, [VecFrame::new(&tcp)], 1_001, &mut out);
    assert_eq!(fp.stats.revalidations, before);
    fp.receive_burst(&b2, 1, [VecFrame::new(&u54)], 1_001, &mut out);
    assert_eq!(fp.stats.revalidations, before + 1);
    let ports: Vec<u32> = out.outputs.iter().map(|o| o.0).collect();
    assert_eq!(ports, vec![3, 2], "the expired flow's output is gone");
}

#[test]
fn fin_timeout_lowers_the_timeouts_of_its_flow_when_a_fin_or_rst_passes() {
    let b = bridge(&[
        "table=0,priority=10,tcp actions=fin_timeout(idle_timeout=1,hard_timeout=3),output:2",
        "table=0,priority=10,udp actions=learn(table=5,idle_timeout=60,fin_idle_timeout=2,eth_type=0x800,nw_proto=6,NXM_OF_IP_SRC[]),output:2",
    ]);
    let rule = |t: u8| b.tables().table(t).unwrap().rules().next().unwrap().clone();
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig::default());
    let mut out = Collect::new();
    let ack = tcp_frame(A, B, ip("10.0.0.1"), ip("10.0.0.2"), 1, 80, 0x010, 64);
    let fin = tcp_frame(A, B, ip("10.0.0.1"), ip("10.0.0.2"), 1, 80, 0x011, 64);
    fp.receive_burst(&b, 1, [VecFrame::new(&ack)], 10, &mut out);
    assert_eq!((rule(0).idle_timeout(), rule(0).hard_timeout()), (0, 0));
    fp.receive_burst(&b, 1, [VecFrame::new(&fin)], 20, &mut out);
    assert_eq!((rule(0).idle_timeout(), rule(0).hard_timeout()), (1, 3));
    assert_eq!(out.outputs.len(), 2, "the packets go on unchanged");
    assert!(
        format_flow(&rule(0).shown(), b.ports().names(), None)
            .contains("idle_timeout=1, hard_timeout=3,"),
        "dumps show the timeouts in force"
    );
    // The flow had no timeout: expiry looks at it now (idle from its last packet).
    fp.maintain(100);
    let gone = b.expire_flows(1_200);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].1, Removal::Idle);
    // learn's fin timeouts become the learned flow's first action.
    let u = udp_frame(A, B, ip("10.0.0.9"), ip("10.0.0.2"), 1, 53, b"x");
    let l = send(&b, 1, &u, 0).learned;
    assert_eq!(
        text(&b, &l[0].entry),
        "cookie=0x0, table=5, idle_timeout=60, tcp,nw_src=10.0.0.9 actions=fin_timeout(idle_timeout=2)"
    );
}
