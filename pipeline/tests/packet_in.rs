//! Packet-ins and continuations: what `controller` actions send up (reason, table, cookie,
//! userdata, the packet as rewritten so far, the metadata), what `controller(pause)`
//! freezes, and that resuming the frozen rest gives what an unpaused walk gives; the fast
//! path sends the same packet-ins from its megaflows as the slow path.

use pipeline::bridge::{Bridge, PortInfo, PortKind};
use pipeline::build::{ip, udp_frame};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::{pin_reason, Collect, Packet, PacketIn};
use pipeline::fastpath::{FastPath, FastPathConfig};
use pipeline::field::Field;
use pipeline::ofctl::{parse_flow, parse_group, Action, GroupMode, Mode};
use pipeline::packet::{Frame, VecFrame};
use pipeline::slowpath::{packet_out, process, process_from};
use pipeline::tables::GroupMod;
use pipeline::xlate::Continuation;
use pipeline::xlate::Start;

fn bridge(flows: &[&str]) -> Bridge {
    bridge_with(&[], flows)
}

fn bridge_with(groups: &[&str], flows: &[&str]) -> Bridge {
    let b = Bridge::new("br0", ConntrackConfig::default());
    for p in 1..=4u32 {
        b.add_port(PortInfo::new(p, &format!("p{p}"), PortKind::Normal))
            .unwrap();
    }
    for g in groups {
        add_group(&b, g);
    }
    let ports = b.ports();
    let fl: Vec<_> = flows
        .iter()
        .map(|f| parse_flow(f, Mode::Add, ports.names()).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect();
    b.add_flows(&fl, 0).unwrap();
    b
}

fn add_group(b: &Bridge, text: &str) {
    let g = parse_group(text, GroupMode::Add, b.ports().names()).unwrap();
    b.apply_groups(&[GroupMod::Add(g)], 0).unwrap();
}

fn actions(b: &Bridge, text: &str) -> Vec<Action> {
    parse_flow(&format!("actions={text}"), Mode::Add, b.ports().names())
        .unwrap()
        .actions
}

const A: u64 = 0x0200_0000_000a;
const B: u64 = 0x0200_0000_000b;

fn frame() -> Vec<u8> {
    udp_frame(A, B, ip("10.0.0.1"), ip("10.0.0.2"), 1000, 53, b"query")
}

fn send(b: &Bridge, in_port: u32, f: &[u8]) -> Collect<VecFrame> {
    let mut out = Collect::new();
    process(
        b,
        Packet::new(VecFrame::new(f), in_port, None),
        0,
        &mut out,
        None,
    );
    out
}

/// The packet of a packet-in with its metadata, as NXT_RESUME brings it back.
fn resumed(b: &Bridge, pin: &PacketIn, cont: &Continuation) -> Collect<VecFrame> {
    let in_port = Field::InPort.get(&pin.metadata) as u32;
    let mut pkt = Packet::new(VecFrame::new(&pin.data), in_port, None);
    for i in pipeline::flow::KEY_WORDS..pipeline::flow::FLOW_WORDS {
        pkt.key.w[i] = pin.metadata.w[i];
    }
    let mut out = Collect::new();
    process_from(b, pkt, Start::Resume(cont), 0, &mut out, None);
    out
}

#[test]
fn controller_actions_send_the_rewritten_packet_with_table_cookie_userdata_and_registers() {
    let b = bridge(&[
        "table=0,priority=10,cookie=0x77,udp,tp_dst=53 actions=load:0x5->NXM_NX_REG1[],mod_dl_src:02:00:00:00:00:99,controller(userdata=01.02.03),resubmit(,5)",
        "table=5,priority=1,cookie=0x55 actions=CONTROLLER:100,output:2",
    ]);
    let out = send(&b, 1, &frame());
    assert_eq!(out.packet_ins.len(), 2, "{:?}", out.drops);
    let (p, q) = (&out.packet_ins[0], &out.packet_ins[1]);
    assert_eq!(
        (p.reason, p.table_id, p.cookie, p.userdata.as_slice()),
        (pin_reason::ACTION, 0, 0x77, &[1u8, 2, 3][..])
    );
    assert_eq!(
        (q.reason, q.table_id, q.cookie),
        (pin_reason::ACTION, 5, 0x55)
    );
    assert!(q.userdata.is_empty() && p.continuation.is_none());
    for x in [p, q] {
        // The source MAC was rewritten before the action: the packet goes up rewritten.
        assert_eq!(&x.data[6..12], &[2, 0, 0, 0, 0, 0x99]);
        assert_eq!(Field::Reg(1).get(&x.metadata), 5);
        assert_eq!(Field::InPort.get(&x.metadata), 1);
    }
    // CONTROLLER is not the last action: the packet still leaves on port 2.
    assert_eq!(out.outputs.len(), 1);
    assert_eq!(out.outputs[0].0, 2);
    assert!(out.drops.is_empty(), "{:?}", out.drops);
}

#[test]
fn a_packet_sent_only_to_the_controller_is_not_counted_as_a_drop() {
    let b = bridge(&["priority=1 actions=controller(userdata=aa)"]);
    let out = send(&b, 1, &frame());
    assert_eq!(out.packet_ins.len(), 1);
    assert!(
        out.outputs.is_empty() && out.drops.is_empty(),
        "{:?}",
        out.drops
    );
}

#[test]
fn reasons_say_where_the_packet_in_came_from() {
    let b = bridge_with(
        &["group_id=1,type=all,bucket=actions=CONTROLLER:64"],
        &[
            "table=0,priority=0 actions=CONTROLLER:65535",
            "table=1,priority=5 actions=group:1",
            "table=2,priority=5 actions=controller(reason=invalid_ttl,id=4)",
        ],
    );
    // A table-miss flow's action is an explicit miss.
    assert_eq!(
        send(&b, 1, &frame()).packet_ins[0].reason,
        pin_reason::EXPLICIT_MISS
    );
    // A packet-out's own CONTROLLER output, and one in a group bucket.
    let po = |acts: &str| {
        let actions = actions(&b, acts);
        let mut out = Collect::new();
        let pkt = Packet::new(VecFrame::new(&frame()), 1, None);
        packet_out(&b, pkt, &actions, 0, &mut out, None);
        out.packet_ins
    };
    let p = po("CONTROLLER:65535");
    assert_eq!(
        (p[0].reason, p[0].cookie),
        (pin_reason::PACKET_OUT, u64::MAX)
    );
    let g = po("resubmit(,1)");
    assert_eq!(
        g[0].reason,
        pin_reason::PACKET_OUT,
        "a packet-out's resubmit is still one"
    );
    assert_eq!(g.len(), 1);
    // A received packet's CONTROLLER in a group bucket says `group`.
    let groups = bridge_with(
        &["group_id=1,type=all,bucket=actions=CONTROLLER:64"],
        &["priority=5 actions=group:1"],
    );
    assert_eq!(
        send(&groups, 1, &frame()).packet_ins[0].reason,
        pin_reason::GROUP
    );
    // controller(...) says its own reason, for its own controller id.
    let mut out = Collect::new();
    let acts = actions(&b, "resubmit(,2)");
    packet_out(
        &b,
        Packet::new(VecFrame::new(&frame()), 1, None),
        &acts,
        0,
        &mut out,
        None,
    );
    assert_eq!(
        (out.packet_ins[0].reason, out.packet_ins[0].controller_id),
        (pin_reason::INVALID_TTL, 4)
    );
}

#[test]
fn pause_freezes_every_level_and_resume_finishes_the_walk_as_if_never_paused() {
    let flows = |pause: &str| {
        vec![
            "table=0,priority=10,cookie=0xa0,udp actions=load:0x1->NXM_NX_REG0[],resubmit(,1),output:3".to_string(),
            format!("table=1,priority=10,cookie=0xb1 actions={pause}load:0x2->NXM_NX_REG2[],goto_table:2"),
            "table=2,priority=10,reg0=1,reg2=2 actions=mod_dl_dst:02:00:00:00:00:22,output:2".to_string(),
        ]
    };
    let paused: Vec<String> = flows("controller(pause,userdata=dd),");
    let plain: Vec<String> = flows("");
    let b = bridge(&paused.iter().map(String::as_str).collect::<Vec<_>>());
    let r = bridge(&plain.iter().map(String::as_str).collect::<Vec<_>>());
    let out = send(&b, 1, &frame());
    // Paused: nothing leaves; one packet-in with the rest of both levels.
    assert!(out.outputs.is_empty(), "{:?}", out.outputs.len());
    assert!(out.drops.is_empty(), "{:?}", out.drops);
    assert_eq!(out.packet_ins.len(), 1);
    let pin = &out.packet_ins[0];
    // Made where the walk unwound to, as OVS's: table 0, the outermost flow's cookie.
    assert_eq!((pin.table_id, pin.cookie), (0, 0xa0));
    let cont = pin.continuation.clone().expect("a continuation");
    let levels: Vec<(u8, u64, usize)> = cont
        .segments
        .iter()
        .map(|s| (s.table, s.cookie, s.actions.len()))
        .collect();
    assert_eq!(levels, vec![(1, 0xb1, 2), (0, 0xa0, 1)]);
    // goto_table is frozen as the resubmit it amounts to.
    assert!(matches!(
        cont.segments[0].actions[1],
        Action::Resubmit { table: Some(2), .. }
    ));
    assert_eq!(Field::Reg(0).get(&pin.metadata), 1);
    // Resumed: the same outputs, in the same order, with the same bytes as unpaused.
    let got = resumed(&b, pin, &cont);
    let want = send(&r, 1, &frame());
    let ports = |c: &Collect<VecFrame>| c.outputs.iter().map(|o| o.0).collect::<Vec<_>>();
    assert_eq!(ports(&got), vec![2, 3]);
    assert_eq!(ports(&got), ports(&want));
    for (g, w) in got.outputs.iter().zip(&want.outputs) {
        assert_eq!(g.2.frame.data(), w.2.frame.data());
    }
    // The controller may change the metadata: with reg0=7, table 2 no longer matches.
    let mut changed = pin.clone();
    Field::Reg(0).set(&mut changed.metadata, 7);
    assert_eq!(ports(&resumed(&b, &changed, &cont)), vec![3]);
}

#[test]
fn a_pause_in_a_group_bucket_ends_with_the_bucket() {
    let b = bridge_with(
        &["group_id=7,type=all,bucket=actions=controller(pause),output:2,bucket=actions=output:3"],
        &["priority=1 actions=group:7,output:4"],
    );
    let out = send(&b, 1, &frame());
    let ports: Vec<u32> = out.outputs.iter().map(|o| o.0).collect();
    assert_eq!(
        ports,
        vec![3, 4],
        "the other bucket and the group's caller go on"
    );
    let cont = out.packet_ins[0].continuation.clone().unwrap();
    assert_eq!(cont.segments.len(), 1);
    assert_eq!(cont.segments[0].actions, vec![Action::Output(2)]);
    let got = resumed(&b, &out.packet_ins[0], &cont);
    assert_eq!(got.outputs.iter().map(|o| o.0).collect::<Vec<_>>(), vec![2]);
}

#[test]
fn a_second_pause_in_the_resumed_walk_freezes_what_is_left() {
    let b = bridge(&[
        "table=0,priority=1 actions=controller(pause),resubmit(,1),output:4",
        "table=1,priority=1 actions=controller(pause,userdata=02),output:2",
    ]);
    let first = send(&b, 1, &frame()).packet_ins.remove(0);
    let c1 = first.continuation.clone().unwrap();
    let second = resumed(&b, &first, &c1);
    assert!(second.outputs.is_empty());
    let pin = &second.packet_ins[0];
    assert_eq!(pin.userdata, vec![2]);
    let c2 = pin.continuation.clone().unwrap();
    let got = resumed(&b, pin, &c2);
    assert_eq!(
        got.outputs.iter().map(|o| o.0).collect::<Vec<_>>(),
        vec![2, 4]
    );
}

#[test]
fn the_fast_path_sends_the_slow_paths_packet_ins_from_its_megaflows() {
    let b = bridge(&[
        "priority=10,udp actions=load:0x9->NXM_NX_REG3[],controller(userdata=0a.0b),output:2",
    ]);
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig::default());
    let mut out = Collect::new();
    // The first packet is translated (upcall), the next ones hit its megaflow.
    for sport in [1000u16, 1001, 1002] {
        let f = udp_frame(A, B, ip("10.0.0.1"), ip("10.0.0.2"), sport, 53, b"x");
        fp.receive_burst(&b, 1, [VecFrame::new(&f)], 0, &mut out);
    }
    assert!(
        fp.stats.megaflow_hits + fp.stats.emc_hits >= 2,
        "{:?}",
        fp.stats
    );
    assert_eq!(out.packet_ins.len(), 3);
    for (i, p) in out.packet_ins.iter().enumerate() {
        let slow = send(&b, 1, &p.data);
        let s = &slow.packet_ins[0];
        assert_eq!(p.data, s.data);
        assert_eq!(p.metadata, s.metadata, "packet {i}");
        assert_eq!(p.userdata, vec![0x0a, 0x0b]);
        assert_eq!(
            u16::from_be_bytes([p.data[34], p.data[35]]),
            1000 + i as u16
        );
    }
    assert_eq!(out.outputs.len(), 3);
}

#[test]
fn a_meter_in_the_tables_drops_above_its_rate_and_meters_packet_ins() {
    use pipeline::meter::{flags, MeterBand, MeterConfig};
    use pipeline::tables::MeterMod;
    let b = bridge(&[]);
    let cfg = |id: u32, rate: u32| MeterConfig {
        id,
        flags: flags::PKTPS | flags::BURST | flags::STATS,
        bands: vec![MeterBand {
            rate,
            burst_size: rate,
        }],
    };
    b.apply_meters(&[MeterMod::Add(cfg(1, 20)), MeterMod::Add(cfg(2, 5))], 0)
        .unwrap();
    let fl = parse_flow(
        "priority=10,udp actions=meter:1,controller(meter_id=2,userdata=01),output:2",
        Mode::Add,
        b.ports().names(),
    )
    .unwrap();
    b.add_flows(&[fl], 0).unwrap();
    let mut passed = 0;
    let mut pins = 0;
    let mut meter_drops = 0;
    for _ in 0..40 {
        let out = send(&b, 1, &frame());
        passed += out.outputs.len();
        pins += out.packet_ins.len();
        meter_drops += out
            .drops
            .iter()
            .filter(|d| **d == pipeline::dpaction::DropReason::Meter)
            .count();
    }
    // Meter 1 (20 pktps, burst 20, all at one instant) passes 20; meter 2 lets 5 of
    // those 20 go up as packet-ins, and the packet still leaves.
    assert_eq!((passed, pins), (20, 5));
    assert_eq!(meter_drops, 20 + 15);
    let t = b.tables();
    let s1 = t.meter(1).unwrap().stats();
    assert_eq!((s1.packets_in, s1.bands[0].0), (40, 20));
    assert_eq!(t.meter_refs(1), 1);
    assert_eq!(
        t.meter_refs(2),
        0,
        "a controller's meter_id is no meter action"
    );
    // Deleting meter 1 deletes its flow.
    b.apply_meters(&[MeterMod::Delete(Some(1))], 0).unwrap();
    assert_eq!(b.tables().n_flows(), 0);
}

#[test]
fn a_resubmit_from_a_bucket_is_no_bucket_and_a_resubmit_port_is_only_for_the_lookup() {
    // OVS: `group` only for a CONTROLLER output written in the bucket.
    let b = bridge_with(
        &["group_id=1,type=all,bucket=actions=resubmit(,3)"],
        &[
            "table=0,priority=5 actions=group:1",
            "table=3,priority=5 actions=CONTROLLER:64",
        ],
    );
    assert_eq!(
        send(&b, 1, &frame()).packet_ins[0].reason,
        pin_reason::ACTION
    );
    // resubmit(4,5) looks up table 5 as if from port 4; the rule's actions then see the
    // packet's own input port again (OVS's xlate_table_action): in_port is port 1.
    let b = bridge(&[
        "table=0,priority=5 actions=resubmit(4,5)",
        "table=5,priority=5,in_port=4 actions=output:in_port,controller(userdata=05)",
    ]);
    let out = send(&b, 1, &frame());
    assert_eq!(out.outputs.iter().map(|o| o.0).collect::<Vec<_>>(), vec![1]);
    assert_eq!(Field::InPort.get(&out.packet_ins[0].metadata), 1);
}

#[test]
fn a_trace_takes_no_meter_tokens() {
    use pipeline::meter::{flags, MeterBand, MeterConfig};
    use pipeline::slowpath::PacketTrace;
    use pipeline::tables::MeterMod;
    let b = bridge(&[]);
    let m = MeterConfig {
        id: 1,
        flags: flags::PKTPS | flags::BURST,
        bands: vec![MeterBand {
            rate: 1,
            burst_size: 1,
        }],
    };
    b.apply_meters(&[MeterMod::Add(m)], 0).unwrap();
    let fl = parse_flow(
        "priority=1 actions=meter:1,output:2",
        Mode::Add,
        b.ports().names(),
    )
    .unwrap();
    b.add_flows(&[fl], 0).unwrap();
    for _ in 0..3 {
        let mut t = PacketTrace::default();
        let mut out = Collect::new();
        process(
            &b,
            Packet::new(VecFrame::new(&frame()), 1, None),
            0,
            &mut out,
            Some(&mut t),
        );
        assert_eq!(out.outputs.len(), 1, "a trace passes the meter");
    }
    assert_eq!(b.tables().meter(1).unwrap().stats().packets_in, 0);
    // A real packet takes the one token; the next is dropped.
    assert_eq!(send(&b, 1, &frame()).outputs.len(), 1);
    assert_eq!(send(&b, 1, &frame()).outputs.len(), 0);
}
