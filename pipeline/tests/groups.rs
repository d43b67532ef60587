//! OpenFlow groups: the `add-group` language, the group table's rules (flows need their
//! group, deleting a group deletes its flows), select-bucket choice (spread, stickiness,
//! weights, symmetric hashing, rendezvous stability), `all` groups working on copies,
//! megaflow masks, counters, and a Service DNAT through a select group and conntrack.

use pipeline::bridge::{Bridge, PortInfo, PortKind};
use pipeline::build::{ip, mac, tcp_frame, udp_frame};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::{Collect, Packet};
use pipeline::field::Field;
use pipeline::ofctl::{
    format_group, parse_flow, parse_group, parse_group_file, GroupEntry, GroupMode, GroupType,
    Mode, PortMap, Selection,
};
use pipeline::packet::{Frame, VecFrame};
use pipeline::slowpath::process;
use pipeline::tables::{FlowModError, GroupMod};
use pipeline::xlate::translate;
use std::sync::atomic::Ordering;

const A: u64 = 0x0200_0000_000a;
const B: u64 = 0x0200_0000_000b;

fn group(s: &str) -> GroupEntry {
    parse_group(s, GroupMode::Add, &PortMap::new()).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn bridge(groups: &[&str], flows: &[&str]) -> Bridge {
    let b = Bridge::new("br0", ConntrackConfig::default());
    for p in 1..=4u32 {
        b.add_port(PortInfo::new(p, &format!("p{p}"), PortKind::Normal))
            .unwrap();
    }
    let mods: Vec<GroupMod> = groups.iter().map(|g| GroupMod::Add(group(g))).collect();
    b.apply_groups(&mods, 0).unwrap();
    let ports = b.ports();
    let fl: Vec<_> = flows
        .iter()
        .map(|f| parse_flow(f, Mode::Add, ports.names()).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect();
    b.add_flows(&fl, 0).unwrap();
    b
}

fn send(b: &Bridge, in_port: u32, frame: &[u8], now: u64) -> Collect<VecFrame> {
    let mut out = Collect::new();
    process(
        b,
        Packet::new(VecFrame::new(frame), in_port, None),
        now,
        &mut out,
        None,
    );
    out
}

fn out_ports(c: &Collect<VecFrame>) -> Vec<u32> {
    c.outputs.iter().map(|o| o.0).collect()
}

#[test]
fn antrea_group_round_trips_and_legacy_buckets_parse() {
    let text = "group_id=5,type=select,bucket=bucket_id:0,weight:100,actions=load:0xa0a0001->NXM_NX_REG3[],load:0x23c1->NXM_NX_REG4[0..15],resubmit(,42),bucket=bucket_id:1,weight:100,actions=load:0xa0a0102->NXM_NX_REG3[],load:0x23c1->NXM_NX_REG4[0..15],resubmit(,42)";
    let g = group(text);
    assert_eq!(g.id, 5);
    assert_eq!(g.kind, GroupType::Select);
    assert_eq!(g.buckets.len(), 2);
    assert_eq!(g.buckets[1].weight, 100);
    assert_eq!(g.buckets[1].actions.len(), 3);
    assert_eq!(format_group(&g, &PortMap::new()), text);
    // Printing and parsing again is a fixed point.
    assert_eq!(group(&format_group(&g, &PortMap::new())), g);

    let legacy =
        group("group_id=7,type=all,bucket=output:1,bucket=mod_dl_dst:02:00:00:00:00:0b,output:2");
    assert_eq!(legacy.buckets.len(), 2);
    assert_eq!(legacy.buckets[0].id, 0);
    assert_eq!(legacy.buckets[1].id, 1);
    assert_eq!(legacy.buckets[1].actions.len(), 2);
    assert_eq!(
        format_group(&legacy, &PortMap::new()),
        "group_id=7,type=all,bucket=bucket_id:0,actions=output:1,bucket=bucket_id:1,actions=mod_dl_dst:02:00:00:00:00:0b,output:2"
    );

    let h = group(
        "group_id=9,type=select,selection_method=hash,fields(ip_src,tcp_dst),bucket=output:1",
    );
    assert_eq!(
        h.selection,
        Selection::Hash(vec![Field::NwSrc, Field::TcpDst])
    );
    assert!(
        format_group(&h, &PortMap::new()).contains("selection_method=hash,fields(ip_src,tcp_dst)")
    );

    // A groups file, with every bad line reported with its place.
    let file = "# groups\ngroup_id=1,type=indirect,bucket=output:1\n\ngroup_id=2,type=select,bucket=actions=outptu:2\ngroup_id=3,type=ff,bucket=output:1\n";
    let (ok, errs) = parse_group_file(file, &PortMap::new());
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].0, 2);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].line, 4);
    assert_eq!(errs[0].column, 39, "{}", errs[0]);
    assert!(errs[0].to_string().contains("outptu"), "{}", errs[0]);
    assert!(errs[1].to_string().contains("fast_failover"), "{}", errs[1]);
}

#[test]
fn bad_groups_are_refused_with_the_reason() {
    let cases = [
        ("type=select,bucket=output:1", "group_id"),
        ("group_id=1,bucket=output:1", "type"),
        (
            "group_id=1,type=weird,bucket=output:1",
            "unknown group type weird",
        ),
        (
            "group_id=1,type=indirect,bucket=output:1,bucket=output:2",
            "exactly one bucket",
        ),
        (
            "group_id=1,type=all,bucket=weight:5,output:1",
            "weight is only for select",
        ),
        (
            "group_id=1,type=select,bucket=bucket_id:3,output:1,bucket=bucket_id:3,output:2",
            "duplicate bucket_id 3",
        ),
        ("group_id=4294967040,type=all", ""),
        ("group_id=4294967041,type=all", "above the maximum"),
        (
            "group_id=1,type=select,selection_method=hash,bucket=output:1",
            "needs fields",
        ),
        (
            "group_id=1,type=all,selection_method=dp_hash,bucket=output:1",
            "only for select",
        ),
        (
            "group_id=1,type=select,bucket=conjunction(1,1/2)",
            "conjunction",
        ),
        (
            "group_id=1,type=select,colour=red,bucket=output:1",
            "unknown group keyword colour",
        ),
    ];
    for (text, want) in cases {
        match parse_group(text, GroupMode::Add, &PortMap::new()) {
            Ok(g) => assert!(want.is_empty(), "{text}: accepted as {g:?}"),
            Err(e) => {
                assert!(!want.is_empty(), "{text}: {e}");
                assert!(e.to_string().contains(want), "{text}: {e}");
            }
        }
    }
    let d = parse_group("group_id=all", GroupMode::Delete, &PortMap::new()).unwrap();
    assert_eq!(d.id, u32::MAX);
    assert!(parse_group("group_id=1,type=all", GroupMode::Delete, &PortMap::new()).is_err());
}

#[test]
fn flows_need_their_group_and_go_with_it() {
    let b = bridge(&["group_id=1,type=all,bucket=output:2"], &[]);
    let ports = b.ports();
    let f = |s: &str| parse_flow(s, Mode::Add, ports.names()).unwrap();
    assert_eq!(
        b.add_flows(&[f("table=0,priority=5,ip actions=group:2")], 0),
        Err(FlowModError::NoSuchGroup { table: 0, group: 2 })
    );
    b.add_flows(
        &[
            f("table=0,priority=5,ip actions=group:1"),
            f("table=0,priority=4,arp actions=output:3"),
        ],
        0,
    )
    .unwrap();
    assert_eq!(b.tables().group_refs(1), 1);
    assert_eq!(
        b.apply_groups(
            &[GroupMod::Add(group("group_id=1,type=all,bucket=output:3"))],
            0
        ),
        Err(FlowModError::GroupExists(1))
    );
    assert_eq!(
        b.apply_groups(
            &[GroupMod::Modify {
                entry: group("group_id=8,type=all,bucket=output:3"),
                may_create: false
            }],
            0
        ),
        Err(FlowModError::GroupMissing(8))
    );
    let s = b.apply_groups(&[GroupMod::Delete(Some(1))], 0).unwrap();
    assert_eq!(s.deleted, 1);
    let t = b.tables();
    assert!(t.group(1).is_none());
    assert_eq!(
        t.n_flows(),
        1,
        "the flow that used group 1 is deleted with it"
    );
}

#[test]
fn select_spreads_sticks_weighs_and_is_symmetric() {
    let b = bridge(
        &["group_id=1,type=select,bucket=bucket_id:0,weight:100,actions=output:2,bucket=bucket_id:1,weight:100,actions=output:3"],
        &["table=0,priority=10,in_port=1,udp actions=group:1", "table=0,priority=10,in_port=4,udp actions=group:1"],
    );
    let mut counts = [0usize; 2];
    for sport in 0..2000u16 {
        let fr = udp_frame(
            A,
            B,
            ip("10.0.0.1"),
            ip("10.96.0.10"),
            10_000 + sport,
            53,
            b"q",
        );
        let o = out_ports(&send(&b, 1, &fr, 0));
        assert_eq!(o.len(), 1);
        counts[(o[0] - 2) as usize] += 1;
        // The same 5-tuple always gets the same bucket, and so does its reverse.
        assert_eq!(out_ports(&send(&b, 1, &fr, 0)), o);
        let rev = udp_frame(
            B,
            A,
            ip("10.96.0.10"),
            ip("10.0.0.1"),
            53,
            10_000 + sport,
            b"r",
        );
        assert_eq!(out_ports(&send(&b, 4, &rev, 0)), o, "sport {sport}");
    }
    assert!((800..=1200).contains(&counts[0]), "{counts:?}");
    // Counters: every packet is credited to the group and one bucket.
    let t = b.tables();
    let g = t.group(1).unwrap();
    assert_eq!(g.stats.n_packets.load(Ordering::Relaxed), 6000);
    let per: Vec<u64> = g
        .bucket_stats
        .iter()
        .map(|s| s.n_packets.load(Ordering::Relaxed))
        .collect();
    assert_eq!(per.iter().sum::<u64>(), 6000);
    assert_eq!(per[0], 3 * counts[0] as u64);

    // Weights 3:1, and a weight-0 bucket is never chosen.
    let w = bridge(
        &["group_id=1,type=select,bucket=weight:3,output:2,bucket=weight:1,output:3,bucket=weight:0,output:4"],
        &["table=0,priority=10,udp actions=group:1"],
    );
    let mut c = [0usize; 3];
    for sport in 0..4000u16 {
        let fr = udp_frame(A, B, ip("10.0.0.1"), ip("10.96.0.10"), sport, 53, b"q");
        c[(out_ports(&send(&w, 1, &fr, 0))[0] - 2) as usize] += 1;
    }
    assert_eq!(c[2], 0);
    let share = c[0] as f64 / 4000.0;
    assert!((0.70..=0.80).contains(&share), "{c:?}");
}

#[test]
fn removing_a_bucket_moves_only_its_connections() {
    let three = "group_id=1,type=select,bucket=bucket_id:0,actions=output:2,bucket=bucket_id:1,actions=output:3,bucket=bucket_id:2,actions=output:4";
    let two = "group_id=1,type=select,bucket=bucket_id:0,actions=output:2,bucket=bucket_id:1,actions=output:3";
    let b = bridge(&[three], &["table=0,priority=10,udp actions=group:1"]);
    let frames: Vec<Vec<u8>> = (0..1500u16)
        .map(|s| udp_frame(A, B, ip("10.0.0.1"), ip("10.96.0.10"), s, 53, b"q"))
        .collect();
    let before: Vec<u32> = frames
        .iter()
        .map(|f| out_ports(&send(&b, 1, f, 0))[0])
        .collect();
    b.apply_groups(
        &[GroupMod::Modify {
            entry: group(two),
            may_create: false,
        }],
        0,
    )
    .unwrap();
    assert_eq!(b.tables().n_flows(), 1, "modifying a group keeps its flows");
    let mut moved = 0;
    for (f, was) in frames.iter().zip(&before) {
        let now = out_ports(&send(&b, 1, f, 0))[0];
        if *was == 4 {
            assert_ne!(now, 4);
            moved += 1;
        } else {
            assert_eq!(now, *was, "a connection on a surviving bucket moved");
        }
    }
    assert!(moved > 300, "{moved}");
}

#[test]
fn select_megaflows_match_the_hashed_fields_only() {
    let b = bridge(
        &[
            "group_id=1,type=select,bucket=output:2,bucket=output:3",
            "group_id=2,type=select,selection_method=hash,fields(ip_dst),bucket=output:2,bucket=output:3",
        ],
        &[
            "table=0,priority=10,udp,nw_dst=10.96.0.10 actions=group:1",
            "table=0,priority=10,udp,nw_dst=10.96.0.11 actions=group:2",
            "table=0,priority=5,udp actions=output:4",
        ],
    );
    let key = |dst: &str| {
        Packet::new(
            VecFrame::new(&udp_frame(A, B, ip("10.0.0.1"), ip(dst), 1234, 53, b"q")),
            1,
            None,
        )
        .key
    };
    let m1 = translate(&b, &key("10.96.0.10"), 0, None).mask;
    assert_eq!(Field::TpSrc.get(&m1), 0xffff);
    assert_eq!(Field::NwSrc.get(&m1), 0xffff_ffff);
    assert_eq!(Field::EthSrc.get(&m1), 0xffff_ffff_ffff);
    let m2 = translate(&b, &key("10.96.0.11"), 0, None).mask;
    assert_eq!(
        Field::TpSrc.get(&m2),
        0,
        "fields(ip_dst) does not read ports"
    );
    assert_eq!(Field::NwSrc.get(&m2), 0);
    let m3 = translate(&b, &key("10.96.0.12"), 0, None).mask;
    assert_eq!(Field::TpSrc.get(&m3), 0, "no group, no port match");
}

#[test]
fn all_group_buckets_work_on_copies() {
    let b = bridge(
        &["group_id=3,type=all,bucket=mod_dl_dst:02:00:00:00:00:99,load:0x1->NXM_NX_REG0[],output:2,bucket=output:3"],
        &["table=0,priority=10,ip actions=group:3,output:4"],
    );
    let fr = udp_frame(A, B, ip("10.0.0.1"), ip("10.0.0.2"), 1, 2, b"x");
    let c = send(&b, 1, &fr, 0);
    assert_eq!(out_ports(&c), vec![2, 3, 4]);
    let dst = |i: usize| c.outputs[i].2.frame.data()[0..6].to_vec();
    assert_eq!(dst(0), vec![2, 0, 0, 0, 0, 0x99]);
    assert_eq!(
        dst(1),
        fr[0..6].to_vec(),
        "bucket 1 sees the packet as it was"
    );
    assert_eq!(
        dst(2),
        fr[0..6].to_vec(),
        "the group's changes do not leak after it"
    );
}

#[test]
fn service_dnat_through_a_select_group_and_back() {
    // A miniature AntreaProxy: the service 10.96.0.10:80 on two endpoints.
    let b = bridge(
        &["group_id=1,type=select,bucket=bucket_id:0,weight:100,actions=load:0xa000002->NXM_NX_REG3[],load:0x1f90->NXM_NX_REG4[0..15],resubmit(,42),bucket=bucket_id:1,weight:100,actions=load:0xa000003->NXM_NX_REG3[],load:0x1f90->NXM_NX_REG4[0..15],resubmit(,42)"],
        &[
            "table=0,priority=10,ip actions=ct(table=1,zone=9,nat)",
            "table=1,priority=20,ct_state=+new+trk,tcp,nw_dst=10.96.0.10,tp_dst=80 actions=group:1",
            "table=1,priority=10,ct_state=+est+trk,tcp,nw_dst=10.0.0.1 actions=output:1",
            "table=1,priority=10,ct_state=+est+trk,tcp,nw_dst=10.0.0.2 actions=output:2",
            "table=1,priority=10,ct_state=+est+trk,tcp,nw_dst=10.0.0.3 actions=output:3",
            "table=42,priority=10,tcp,reg3=0xa000002 actions=ct(commit,table=50,zone=9,nat(dst=10.0.0.2:8080))",
            "table=42,priority=10,tcp,reg3=0xa000003 actions=ct(commit,table=50,zone=9,nat(dst=10.0.0.3:8080))",
            "table=50,priority=10,tcp,nw_dst=10.0.0.2 actions=output:2",
            "table=50,priority=10,tcp,nw_dst=10.0.0.3 actions=output:3",
        ],
    );
    let mut seen = [0usize; 2];
    for sport in 40_000..40_040u16 {
        let syn = tcp_frame(A, B, ip("10.0.0.1"), ip("10.96.0.10"), sport, 80, 0x002, 64);
        let c = send(&b, 1, &syn, 1);
        assert_eq!(c.outputs.len(), 1, "sport {sport}: {:?}", c.drops);
        let (port, _, pkt) = &c.outputs[0];
        let d = pkt.frame.data();
        let ep = u32::from_be_bytes([d[30], d[31], d[32], d[33]]);
        assert_eq!(u16::from_be_bytes([d[36], d[37]]), 8080);
        assert_eq!(ep, ip("10.0.0.0") + *port, "endpoint and port agree");
        seen[(*port - 2) as usize] += 1;
        // The endpoint answers; the client sees the service address.
        let synack = tcp_frame(B, A, ep, ip("10.0.0.1"), 8080, sport, 0x012, 64);
        let r = send(&b, *port, &synack, 2);
        assert_eq!(out_ports(&r), vec![1], "{:?}", r.drops);
        let d = r.outputs[0].2.frame.data();
        assert_eq!(
            u32::from_be_bytes([d[26], d[27], d[28], d[29]]),
            ip("10.96.0.10")
        );
        assert_eq!(u16::from_be_bytes([d[34], d[35]]), 80);
        // The client's next packet goes to the same endpoint without the group.
        let ack = tcp_frame(A, B, ip("10.0.0.1"), ip("10.96.0.10"), sport, 80, 0x010, 64);
        let a = send(&b, 1, &ack, 3);
        assert_eq!(out_ports(&a), vec![*port]);
    }
    assert!(seen[0] > 5 && seen[1] > 5, "{seen:?}");
    let t = b.tables();
    let g = t.group(1).unwrap();
    assert_eq!(
        g.stats.n_packets.load(Ordering::Relaxed),
        40,
        "only SYNs run the group"
    );
}

/// Issue 17, defect 1: `add-group 'group_id=10,type=all,bucket=actions=group:10'` and a
/// flow to it killed the switch (stack overflow). A group that reaches itself is refused
/// when added or modified, by itself, through another group, or inside one batch.
#[test]
fn group_loops_are_refused_when_added_or_modified() {
    let b = bridge(&[], &[]);
    let err = b
        .apply_groups(
            &[GroupMod::Add(group(
                "group_id=10,type=all,bucket=actions=group:10",
            ))],
            0,
        )
        .unwrap_err();
    assert_eq!(
        err,
        FlowModError::GroupLoop {
            group: 10,
            chain: vec![10, 10]
        }
    );
    assert!(err.to_string().contains("OFPGMFC_LOOP"), "{err}");
    assert!(b.tables().group(10).is_none(), "nothing applied");
    // 11 -> 12, then 12 -> 11 by mod-group: refused, 12 keeps its old buckets.
    b.apply_groups(
        &[
            GroupMod::Add(group("group_id=11,type=indirect,bucket=actions=group:12")),
            GroupMod::Add(group("group_id=12,type=indirect,bucket=actions=output:1")),
        ],
        0,
    )
    .unwrap();
    let err = b
        .apply_groups(
            &[GroupMod::Modify {
                entry: group("group_id=12,type=indirect,bucket=actions=group:11"),
                may_create: false,
            }],
            0,
        )
        .unwrap_err();
    assert!(
        matches!(err, FlowModError::GroupLoop { group: 12, ref chain } if chain == &[12, 11, 12]),
        "{err:?}"
    );
    assert_eq!(
        b.tables().group(12).unwrap().entry.buckets[0].actions.len(),
        1
    );
    // A loop of three made inside one batch, and a select group in a longer chain.
    let err = b
        .apply_groups(
            &[
                GroupMod::Add(group(
                    "group_id=21,type=all,bucket=actions=output:1,bucket=actions=group:22",
                )),
                GroupMod::Add(group(
                    "group_id=22,type=select,bucket=actions=group:23,bucket=actions=output:2",
                )),
                GroupMod::Add(group("group_id=23,type=indirect,bucket=actions=group:21")),
            ],
            0,
        )
        .unwrap_err();
    assert!(matches!(err, FlowModError::GroupLoop { .. }), "{err:?}");
    assert!(b.tables().group(21).is_none());
    // The same refusal on a whole-table replace (a node reload).
    let err = b
        .replace_groups_and_flows(
            &[group("group_id=30,type=all,bucket=actions=group:30")],
            &[],
            0,
        )
        .unwrap_err();
    assert!(
        matches!(err, FlowModError::GroupLoop { group: 30, .. }),
        "{err:?}"
    );
}

/// A bridge whose table 0 sends port 1's packets into a chain of `n` groups of type `ty`,
/// each with `buckets` buckets leading to the next (the last to port 2); the verdict of a
/// UDP packet sent into it, and how long its translation took.
fn through_chain(n: u32, ty: &str, buckets: usize) -> (Collect<VecFrame>, std::time::Duration) {
    let b = bridge(&[], &[]);
    let mods: Vec<GroupMod> = (1..=n)
        .map(|i| {
            let next = if i == n {
                "output:2".to_string()
            } else {
                format!("group:{}", i + 1)
            };
            let bucket = format!(",bucket=actions={next}").repeat(buckets);
            GroupMod::Add(group(&format!("group_id={i},type={ty}{bucket}")))
        })
        .collect();
    b.apply_groups(&mods, 0).unwrap();
    let ports = b.ports();
    let f = parse_flow(
        "table=0,priority=10,in_port=1 actions=group:1",
        Mode::Add,
        ports.names(),
    )
    .unwrap();
    drop(ports);
    b.add_flows(&[f], 0).unwrap();
    let frame = udp_frame(A, B, ip("10.0.0.1"), ip("10.0.0.2"), 1000, 53, b"x");
    let t = std::time::Instant::now();
    let out = send(&b, 1, &frame, 1);
    (out, t.elapsed())
}

/// No recursion whose depth depends on input: a 10,000-long chain of groups (no loop) is
/// accepted, and a packet sent into it is dropped by the translation budget, counted as
/// `resubmit_limit`, not a stack overflow. The loop check itself is iterative.
#[test]
fn long_group_chain_is_dropped_by_the_translation_budget() {
    let (out, _) = through_chain(10_000, "indirect", 1);
    assert!(out.outputs.is_empty());
    assert_eq!(
        out.drops.as_slice(),
        &[pipeline::dpaction::DropReason::ResubmitLimit]
    );
}

/// Fan-out: `all` groups of two buckets chained 40 deep would run 2^40 buckets; the shared
/// count of resubmits and buckets stops the translation after the budget, quickly.
#[test]
fn all_group_fan_out_is_bounded_by_the_budget() {
    let (out, took) = through_chain(40, "all", 2);
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    assert!(out.outputs.is_empty());
    assert_eq!(
        out.drops.as_slice(),
        &[pipeline::dpaction::DropReason::ResubmitLimit]
    );
}

/// A loop the group table cannot see: a bucket resubmits to the table whose flow sends to
/// the group. The budget drops the packet (OVS: "over max translation depth").
#[test]
fn group_and_resubmit_loop_is_dropped_by_the_budget() {
    let b = bridge(
        &["group_id=5,type=all,bucket=actions=resubmit(,0)"],
        &["table=0,priority=10,in_port=1 actions=group:5"],
    );
    let frame = udp_frame(A, B, ip("10.0.0.1"), ip("10.0.0.2"), 1000, 53, b"x");
    let out = send(&b, 1, &frame, 1);
    assert!(out.outputs.is_empty());
    assert_eq!(
        out.drops.as_slice(),
        &[pipeline::dpaction::DropReason::ResubmitLimit]
    );
}

/// Each bucket works on its own copy of the packet, as in OVS: what a bucket writes does not
/// reach the actions that follow the `resubmit` which led to the group, even though the
/// group is the last action of its own table.
#[test]
fn a_bucket_s_writes_stay_in_the_bucket() {
    let b = bridge(
        &["group_id=5,type=all,bucket=set_field:02:00:00:00:00:09->eth_dst,output:2"],
        &[
            "table=0,in_port=1,udp actions=resubmit(,1),output:3",
            "table=1 actions=group:5",
        ],
    );
    let frame = udp_frame(
        mac("02:00:00:00:00:01"),
        mac("02:00:00:00:00:02"),
        ip("10.0.0.1"),
        ip("10.0.0.2"),
        1,
        2,
        b"",
    );
    let out = send(&b, 1, &frame, 1);
    assert_eq!(out_ports(&out), vec![2, 3]);
    let dst = |i: usize| out.outputs[i].2.frame.data()[..6].to_vec();
    assert_eq!(dst(0), vec![2, 0, 0, 0, 0, 9], "the bucket's copy");
    assert_eq!(
        dst(1),
        vec![2, 0, 0, 0, 0, 2],
        "the packet after the resubmit"
    );
}
