//! Packet-out, port-mod and the asynchronous messages they and deletes cause, driven by
//! Debian's `ovs-ofctl` against brisk and against Open vSwitch's userspace switch loaded
//! the same way: the flows' counters and the ports' transmit counters must come out equal,
//! and `ovs-ofctl monitor` must hear the same OFPT_FLOW_REMOVED (reasons delete and group
//! delete) and OFPT_PORT_STATUS from both.

mod common;

use common::ofctl::*;
use pipeline::build::{ip, udp_frame};
use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::time::Duration;

const FLOWS: [&str; 5] = [
    "table=0,priority=100,in_port=3,udp,tp_dst=53 actions=output:4",
    "table=0,priority=90,udp,tp_dst=54 actions=FLOOD",
    "table=0,priority=80,udp,tp_dst=55 actions=ct(table=5,zone=3)",
    "table=5,priority=10,ct_state=+new+trk,udp actions=output:48",
    "table=0,priority=70,udp,tp_dst=56 actions=output:4",
];

/// A UDP frame to `dport`, as hex for `ovs-ofctl packet-out`.
fn frame(dport: u16) -> String {
    let f = udp_frame(
        0x0200_0000_0003,
        0x0200_0000_0004,
        ip("10.10.0.3"),
        ip("10.10.0.4"),
        40000,
        dport,
        b"brisk packet-out",
    );
    f.iter().map(|b| format!("{b:02x}")).collect()
}

fn packet_out(version: &str, target: &str, in_port: &str, dport: u16, actions: &str) {
    let spec = format!(
        "in_port={in_port} packet={} actions={actions}",
        frame(dport)
    );
    ofctl_ok(&["-O", version, "packet-out", target, &spec]);
}

/// The `config:` line of a port in `ovs-ofctl show`.
fn port_config(version: &str, target: &str, port: u32) -> String {
    let text = ofctl_ok(&["-O", version, "show", target]);
    let mut lines = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with(&format!("{port}(")));
    lines.next().expect("port listed");
    lines
        .find(|l| l.trim_start().starts_with("config:"))
        .unwrap()
        .trim()
        .to_string()
}

/// What a monitor printed: its asynchronous messages, one line each, without durations.
fn heard(mon: Child) -> Vec<String> {
    std::thread::sleep(Duration::from_millis(300));
    let printed = monitor_output(mon);
    let mut msgs: Vec<String> = Vec::new();
    let mut in_port_status = false;
    for l in printed.lines() {
        if l.starts_with("OFPT_FLOW_REMOVED") || l.starts_with("OFPT_PORT_STATUS") {
            in_port_status = l.starts_with("OFPT_PORT_STATUS");
            // The ports' MACs differ between the two switches.
            let words = l.split(' ').filter(|w| {
                !w.starts_with("duration") && !w.starts_with("(xid") && !w.starts_with("addr:")
            });
            msgs.push(words.collect::<Vec<_>>().join(" "));
        } else if in_port_status && l.starts_with(' ') {
            let t = l.trim();
            if t.starts_with("config:") || t.starts_with("state:") {
                msgs.last_mut().unwrap().push_str(&format!(" / {t}"));
            }
        } else {
            in_port_status = false;
        }
    }
    msgs
}

/// Packet-outs with output, `resubmit`, `output:TABLE` (into the tables), flooding and a
/// `ct` recirculation, at OpenFlow 1.3 and 1.5: every flow's packet and byte counters and
/// every port's transmit counter equal OVS's. Then port-mod no-forward and down stop what
/// goes to the port (in brisk; OVS's dummy ports are not checked for that), the ports'
/// config as `ovs-ofctl show` prints it equals OVS's, and up/forward bring it back.
#[test]
fn packet_out_and_port_mod_as_ovs() {
    if !have_ovs() {
        return;
    }
    let sw = brisk("worker1", "pktout", &[]);
    let ovs = Ovs::start("worker1", "pktout");
    let (b, o) = (mgmt(&sw), ovs.mgmt());
    let flows = sw.dir.file("po.flows", &FLOWS.join("\n"));
    for t in [&b, &o] {
        ofctl_ok(&["-O", "OpenFlow15", "add-flows", t, &flows]);
    }
    // check_overlap sees the flow-mods before it in the same stream (brisk applies them as
    // one batch): the second of two overlapping adds is refused, as by OVS.
    let overlap = sw.dir.file(
        "overlap.flows",
        "table=3,priority=5,check_overlap,ip,nw_src=10.0.0.0/8 actions=drop\n\
         table=3,priority=5,check_overlap,ip,nw_dst=10.0.0.1 actions=drop\n",
    );
    for t in [&b, &o] {
        let (ok, text) = ofctl(&["-O", "OpenFlow15", "add-flows", t, &overlap]);
        assert!(!ok && text.contains("OFPFMFC_OVERLAP"), "{text}");
    }
    assert_eq!(same_dumps(&b, &o, "check_overlap"), FLOWS.len() + 1);
    let before: Vec<_> = [&b, &o].iter().map(|t| tx_packets(t)).collect();
    for t in [&b, &o] {
        for v in ["OpenFlow13", "OpenFlow15"] {
            packet_out(v, t, "CONTROLLER", 9, "output:3");
            packet_out(v, t, "3", 53, "resubmit(,0)");
            packet_out(v, t, "3", 53, "table");
            packet_out(v, t, "48", 54, "resubmit(,0)");
            packet_out(v, t, "CONTROLLER", 55, "resubmit(,0)");
            packet_out(v, t, "3", 9, "output:in_port");
        }
    }
    assert_eq!(same_dumps(&b, &o, "after packet-outs"), FLOWS.len() + 1);
    let delta = |t: &str, i: usize| -> BTreeMap<String, u64> {
        tx_packets(t)
            .into_iter()
            // The tunnel port: OVS's dummy sends what brisk's Geneve port (no tun_dst) drops.
            .filter(|(p, _)| p != "1" && p != "\"antrea-tun0\"" && p != "LOCAL")
            .map(|(p, n)| {
                let was = before[i].get(&p).copied().unwrap_or(0);
                (p, n - was)
            })
            .collect()
    };
    let (db, dov) = (delta(&b, 0), delta(&o, 1));
    assert_eq!(db, dov, "ports' transmit counters after packet-outs");
    // 53 by resubmit and by TABLE, and 54 flooded from 48, at two versions.
    assert_eq!(db.get("4"), Some(&6), "{db:?}");
    assert_eq!(db.get("48"), Some(&2), "{db:?}");
    assert_eq!(db.get("3"), Some(&6), "{db:?}");

    // port-mod at 1.3 and 1.5: both switches report the same configuration.
    let sent_to_4 = |t: &str| tx_packets(t).get("4").copied().unwrap_or(0);
    for (v, cmd, want) in [
        ("OpenFlow13", "no-forward", "config:     NO_FWD"),
        ("OpenFlow15", "down", "config:     PORT_DOWN NO_FWD"),
        ("OpenFlow13", "forward", "config:     PORT_DOWN"),
        ("OpenFlow15", "up", "config:     0"),
        ("OpenFlow13", "no-receive", "config:     NO_RECV"),
        ("OpenFlow13", "receive", "config:     0"),
    ] {
        for t in [&b, &o] {
            ofctl_ok(&["-O", v, "mod-port", t, "4", cmd]);
        }
        let (cb, co) = (port_config(v, &b, 4), port_config(v, &o, 4));
        assert_eq!(cb, co, "mod-port {cmd}: brisk and OVS differ");
        assert_eq!(cb, want, "mod-port {cmd}");
        let n = sent_to_4(&b);
        packet_out(v, &b, "3", 53, "resubmit(,0)");
        let sent = sent_to_4(&b) - n;
        let off = want.contains("NO_FWD") || want.contains("PORT_DOWN");
        assert_eq!(sent, if off { 0 } else { 1 }, "after mod-port {cmd}");
    }
    // A port that does not exist: OVS's error.
    let (ok, text) = ofctl(&["-O", "OpenFlow13", "mod-port", &b, "77", "down"]);
    assert!(!ok && text.contains("77"), "{text}");
    // `brisk ctl packet-out`: the same path, from the control socket.
    let n = sent_to_4(&b);
    let out = sw.ok(&["packet-out", "coredns--3e3abf", "resubmit(,0)", &frame(53)]);
    assert!(out.contains("sent a"), "{out}");
    assert_eq!(sent_to_4(&b) - n, 1);
    let (ok, text) = sw.ctl(&["packet-out", "3", "output:4", "00zz"]);
    assert!(!ok && text.contains("hex"), "{text}");
    let (ok, text) = sw.ctl(&["packet-out", "3", "output:4", "0011"]);
    assert!(!ok && text.contains("OFPBRC_BAD_PACKET"), "{text}");
}

/// Deleting a `send_flow_rem` flow (non-strict, strict, by `out_group`, in a bundle) and
/// deleting the group a flow outputs to are announced with OFPT_FLOW_REMOVED reason=delete
/// and reason=group_delete; a port-mod with OFPT_PORT_STATUS; the monitor hears the same
/// from brisk as from OVS, and the same flows are left.
#[test]
fn deletes_and_port_mods_are_announced_as_by_ovs() {
    if !have_ovs() {
        return;
    }
    let sw = brisk("worker1", "announce", &[]);
    let ovs = Ovs::start("worker1", "announce");
    let rundir = sw.dir.join("ovs-ofctl-run");
    std::fs::create_dir_all(&rundir).unwrap();
    let mut all = Vec::new();
    let mut left = Vec::new();
    for t in [mgmt(&sw), ovs.mgmt()] {
        let mon = monitor(&t, &rundir);
        // ovs-ofctl [OPTIONS] COMMAND SWITCH ARGS...
        let of = |args: &[&str]| {
            let (opts, rest): (Vec<&str>, Vec<&str>) =
                args.iter().partition(|a| a.starts_with("--"));
            let mut a = vec!["-O", "OpenFlow15"];
            a.extend(opts);
            a.push(rest[0]);
            a.push(&t);
            a.extend(&rest[1..]);
            ofctl_ok(&a);
        };
        of(&["add-group", "group_id=5,type=all,bucket=output:3"]);
        for f in [
            "table=5,priority=7,send_flow_rem,cookie=0x7,ip,nw_dst=10.1.2.3 actions=drop",
            "table=5,priority=8,send_flow_rem,ip,nw_dst=10.1.2.4 actions=drop",
            "table=5,priority=9,ip,nw_dst=10.1.2.5 actions=drop",
            "table=6,priority=9,send_flow_rem,ip,nw_dst=10.1.2.6 actions=group:5",
            "table=6,priority=8,send_flow_rem,ip,nw_dst=10.1.2.7 actions=drop",
            "table=7,priority=1,send_flow_rem,ip actions=group:5",
            "table=7,priority=2,send_flow_rem,ip actions=drop",
        ] {
            of(&["add-flow", f]);
        }
        // out_group: only the flow that outputs to group 5 goes.
        of(&["del-flows", "table=7,out_group=5"]);
        of(&["del-flows", "table=5,cookie=0x7/-1"]);
        of(&[
            "--strict",
            "del-flows",
            "table=5,priority=8,ip,nw_dst=10.1.2.4",
        ]);
        of(&["del-flows", "table=5"]);
        of(&["del-groups", "group_id=5"]);
        of(&["--bundle", "del-flows", "table=6"]);
        of(&["mod-port", "4", "no-forward"]);
        all.push(heard(mon));
        left.push(dump("OpenFlow15", &t));
    }
    assert_eq!(left[0], left[1], "flows left on brisk and OVS");
    assert_eq!(left[0].len(), 1, "{:?}", left[0]);
    let (hb, ho) = (&all[0], &all[1]);
    // The same messages; their order only up to OVS's: it sometimes sends a bundle's
    // FLOW_REMOVED after the PORT_STATUS of the next command (seen on 3 Dec 2026),
    // where brisk keeps the commands' order.
    let sorted = |v: &Vec<String>| {
        let mut v = v.clone();
        v.sort();
        v
    };
    assert_eq!(
        sorted(hb),
        sorted(ho),
        "brisk's and OVS's asynchronous messages differ"
    );
    assert!(
        hb.last().is_some_and(|l| l.contains("OFPT_PORT_STATUS")),
        "brisk announced the port mod before the commands that came first: {hb:?}"
    );
    let n = |what: &str| hb.iter().filter(|l| l.contains(what)).count();
    assert_eq!(n("reason=delete"), 4, "{hb:#?}");
    assert_eq!(n("reason=group_delete"), 1, "{hb:#?}");
    assert_eq!(n("OFPT_PORT_STATUS"), 1, "{hb:#?}");
    assert_eq!(n("config:     NO_FWD"), 1, "{hb:#?}");
}

/// A controller named in the bridge file (OVS's Controller row: target, inactivity_probe,
/// max_backoff) that accepts and then says nothing: brisk sends its hello, an echo request
/// after the probe interval, disconnects after as long again, and connects anew after its
/// backoff. A bad controller target is refused at start with its place in the file.
#[test]
fn a_silent_controller_from_the_bridge_file_is_probed_and_redialled() {
    use std::io::Read;
    if !have_ovs() {
        return;
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let yaml = format!(
        "openflow:\n  controllers:\n    - {{target: \"tcp:127.0.0.1:{port}\", inactivity_probe: 1000, max_backoff: 1000}}\n"
    );
    let _sw = brisk_yaml("worker2", "silent", &[], &yaml);
    let t0 = std::time::Instant::now();
    let mut types = Vec::new();
    for round in 0..2 {
        let (mut c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // An OpenFlow 1.3 hello, then silence.
        std::io::Write::write_all(&mut c, &[4, 0, 0, 8, 0, 0, 0, 1]).unwrap();
        let accepted = t0.elapsed();
        let mut seen = Vec::new();
        let mut buf = [0u8; 8];
        // Message by message (the hello's version bitmap is read and skipped).
        while c.read_exact(&mut buf).is_ok() {
            let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
            let mut body = vec![0u8; len.saturating_sub(8)];
            c.read_exact(&mut body).unwrap();
            seen.push((buf[1], accepted.as_millis(), t0.elapsed().as_millis()));
        }
        let closed = t0.elapsed() - accepted;
        assert!(
            closed >= Duration::from_millis(1800) && closed <= Duration::from_millis(3500),
            "round {round}: closed {closed:?} after connecting: {seen:?}"
        );
        types.push(seen.iter().map(|s| s.0).collect::<Vec<_>>());
    }
    // OFPT_HELLO, then OFPT_ECHO_REQUEST, on both connections.
    assert_eq!(types, vec![vec![0, 2], vec![0, 2]]);
    let dir = common::Scratch::new("silent-bad");
    let file = dir.file(
        "bad.yaml",
        "bridge: br-int\nports: []\nopenflow:\n  controllers:\n    - {target: \"tcp:nowhere:1\"}\n",
    );
    let o = Command::new(common::BRISK)
        .args(["run", "--bridge", &file])
        .output()
        .unwrap();
    let bad = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success());
    assert!(
        bad.contains("openflow.controllers[0].target") && bad.contains("nowhere"),
        "{bad}"
    );
}

/// `ovs-ofctl` without `-O` speaks OpenFlow 1.0 (with OVS's NXM flow format and table ids
/// in flow-mods): both seed nodes' flows added that way, then edited, dump the same from
/// brisk as from OVS at 1.0 and at 1.5; `show`, `dump-ports-desc`, `dump-aggregate`,
/// `mod-port no-flood` (OpenFlow 1.0's own bit) and packet-outs agree too, and a refusal
/// comes back with OVS's OpenFlow 1.0 error.
#[test]
fn ovs_ofctl_without_o_speaks_openflow10_to_brisk_as_to_ovs() {
    if !have_ovs() {
        return;
    }
    for node in ["worker1", "worker2"] {
        let sw = brisk(node, "of10", &[]);
        let ovs = Ovs::start(node, "of10");
        let (b, o) = (mgmt(&sw), ovs.mgmt());
        let flows = common::seed_dir().join(format!("{node}.flows"));
        let flows = flows.to_str().unwrap();
        for t in [&b, &o] {
            ofctl_ok(&["add-flows", t, flows]);
        }
        let both = |what: &str| {
            for v in ["OpenFlow10", "OpenFlow15"] {
                assert_eq!(dump(v, &b), dump(v, &o), "{node} {what}: {v} dumps differ");
            }
            dump("OpenFlow10", &b).len()
        };
        let n = both("seed");
        assert!(n > 50, "{node}: {n} flows");
        // dump-tables: the same flow counts per table (brisk has 254 tables, OVS 255: the
        // tables with flows are compared) at 1.0 and 1.5; dump-table-features answers.
        let active = |t: &str, v: &str| -> Vec<String> {
            ofctl_ok(&["-O", v, "dump-tables", t])
                .lines()
                .filter_map(|l| l.trim_start().strip_prefix("active="))
                .map(|l| l.split(',').next().unwrap().to_string())
                .filter(|a| a != "0")
                .collect()
        };
        for v in ["OpenFlow10", "OpenFlow15"] {
            assert_eq!(active(&b, v), active(&o, v), "{node}: {v} dump-tables");
        }
        let features = ofctl_ok(&["-O", "OpenFlow15", "dump-table-features", &b]);
        assert!(
            features.contains("table 0:") && features.contains("max_entries="),
            "{features}"
        );
        let edits: &[&[&str]] = &[
            &["del-flows", "cookie=0x1030000000000/-1"],
            &["--strict", "del-flows", "table=10,priority=0"],
            &["mod-flows", "table=20,arp actions=drop"],
            &["add-flow", "table=70,priority=5,ip,nw_dst=10.0.0.0/8 actions=ct(commit,zone=7,exec(load:0x1->NXM_NX_CT_MARK[])),dec_ttl,mod_nw_tos:8,output:2"],
            &["add-flow", "priority=3,udp,tp_dst=99 actions=mod_tp_dst:98,strip_vlan,output:2"],
            &["del-flows", "table=70,ip,nw_dst=10.1.0.0/16"],
            &["del-flows", "table=0"],
        ];
        for e in edits {
            for t in [&b, &o] {
                let (opts, rest): (Vec<&str>, Vec<&str>) =
                    e.iter().partition(|a| a.starts_with("--"));
                let mut args = opts;
                args.push(rest[0]);
                args.push(t);
                args.extend(&rest[1..]);
                ofctl_ok(&args);
            }
            both(&format!("after {e:?}"));
        }
        let agg = |t: &str| ofctl_ok(&["dump-aggregate", t]).replace("xid=0x", "");
        let (ab, ao) = (agg(&b), agg(&o));
        assert_eq!(
            ab.split_once("flow_count").map(|x| x.1.to_string()),
            ao.split_once("flow_count").map(|x| x.1.to_string()),
            "{ab} / {ao}"
        );
        // Port names and numbers as ovs-ofctl shows them at 1.0 (features reply).
        let names = |t: &str| -> Vec<String> {
            ofctl_ok(&["show", t])
                .lines()
                .filter(|l| l.contains("): addr:"))
                .map(|l| l.split(':').next().unwrap().trim().to_string())
                .filter(|p| !p.contains("LOCAL"))
                .collect()
        };
        assert_eq!(names(&b), names(&o), "{node}: show");
        // no-flood is OpenFlow 1.0's: both switches show it.
        for t in [&b, &o] {
            ofctl_ok(&["mod-port", t, "3", "no-flood"]);
        }
        let cfg = |t: &str| {
            let text = ofctl_ok(&["dump-ports-desc", t]);
            let mut l = text
                .lines()
                .skip_while(|l| !l.trim_start().starts_with("3("));
            l.next();
            l.find(|l| l.trim_start().starts_with("config:"))
                .unwrap()
                .trim()
                .to_string()
        };
        assert_eq!(cfg(&b), "config:     NO_FLOOD", "{node}");
        assert_eq!(cfg(&b), cfg(&o), "{node}");
    }
    // A refusal at 1.0: OVS's Nicira vendor error for a missing group.
    let sw = brisk("worker2", "of10-err", &[]);
    let (ok, text) = ofctl(&["add-flow", &mgmt(&sw), "actions=group:77"]);
    assert!(!ok && text.contains("OFPBAC_BAD_OUT_GROUP"), "{text}");
    // Flooding skips the no-flood port at 1.0, packet-outs count as at 1.5.
    let ovs = Ovs::start("worker1", "of10-po");
    let sw = brisk("worker1", "of10-po", &[]);
    let (b, o) = (mgmt(&sw), ovs.mgmt());
    let before: Vec<_> = [&b, &o].iter().map(|t| tx_packets(t)).collect();
    for t in [&b, &o] {
        ofctl_ok(&["mod-port", t, "4", "no-flood"]);
        packet_out("OpenFlow10", t, "3", 9, "FLOOD");
        packet_out("OpenFlow10", t, "CONTROLLER", 9, "output:48");
    }
    let delta = |t: &str, i: usize| -> BTreeMap<String, u64> {
        tx_packets(t)
            .into_iter()
            .filter(|(p, _)| p != "1" && p != "LOCAL")
            .map(|(p, n)| {
                let was = before[i].get(&p).copied().unwrap_or(0);
                (p, n - was)
            })
            .collect()
    };
    let (db, dov) = (delta(&b, 0), delta(&o, 1));
    assert_eq!(db, dov);
    assert_eq!(db.get("4"), Some(&0), "{db:?}");
    assert_eq!(db.get("48"), Some(&2), "{db:?}");
    // Groups at OpenFlow 1.0 (OVS's NXT_GROUP_MOD and NXST_GROUP_DESC/NXST_GROUP: 1.5's
    // bodies with 1.0's actions): the same groups and counters as OVS's.
    let groups = sw.dir.file(
        "of10.groups",
        "group_id=5,type=select,bucket=bucket_id:0,weight:100,actions=load:0xa0a0001->NXM_NX_REG3[],resubmit(,42),bucket=bucket_id:1,weight:50,actions=mod_dl_dst:02:00:00:00:00:01,output:3\n\
         group_id=6,type=all,bucket=output:3,bucket=output:4\n",
    );
    let show = |t: &str, what: &str| -> Vec<String> {
        let mut l: Vec<String> = ofctl_ok(&[what, t])
            .lines()
            .skip(1)
            .map(|l| {
                l.split([',', ' '])
                    .filter(|w| !w.starts_with("duration="))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        l.sort();
        l
    };
    for t in [&b, &o] {
        ofctl_ok(&["add-groups", t, &groups]);
        ofctl_ok(&["add-flow", t, "table=2,priority=9,udp actions=group:6"]);
        packet_out("OpenFlow10", t, "CONTROLLER", 9, "resubmit(,2)");
    }
    assert_eq!(show(&b, "dump-groups"), show(&o, "dump-groups"));
    assert_eq!(show(&b, "dump-group-stats"), show(&o, "dump-group-stats"));
    assert_eq!(show(&b, "dump-groups").len(), 2);
    for t in [&b, &o] {
        ofctl_ok(&["del-groups", t, "group_id=6"]);
    }
    assert_eq!(show(&b, "dump-groups"), show(&o, "dump-groups"));
    assert_eq!(dump("OpenFlow10", &b), dump("OpenFlow10", &o));
}

/// Asynchronous configuration on a raw OpenFlow 1.3 connection, brisk and OVS side by side:
/// the default get-async reply; set-async turning flow-removed off for the master role
/// (port status still comes); as a slave, port status only. What each switch sends must be
/// the same.
#[test]
fn set_async_filters_as_ovs_filters() {
    use std::io::Write;
    if !have_ovs() {
        return;
    }
    let sw = brisk("worker1", "async", &[]);
    let ovs = Ovs::start("worker1", "async");
    let session = |t: &str| -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let path = t.strip_prefix("unix:").unwrap();
        let mut s = std::os::unix::net::UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _hello = read_msg(&mut s);
        s.write_all(&of_msg(4, 0, 1, &[0, 1, 0, 8, 0, 0, 0, 1 << 4]))
            .unwrap();
        // set-config: a miss length, so this service connection gets asynchronous messages.
        s.write_all(&of_msg(4, 9, 2, &[0, 0, 0, 128])).unwrap();
        s.write_all(&of_msg(4, 26, 3, &[])).unwrap();
        let reply = loop {
            let m = read_msg(&mut s);
            if m[1] == 27 {
                break m[8..].to_vec();
            }
        };
        // Flow-removed off for master/equal; packet-in and port status as they were.
        let masks: Vec<u8> = [7u32, 0, 7, 7, 0, 0]
            .iter()
            .flat_map(|m| m.to_be_bytes())
            .collect();
        s.write_all(&of_msg(4, 28, 4, &masks)).unwrap();
        s.write_all(&of_msg(4, 20, 5, &[])).unwrap();
        while read_msg(&mut s)[1] != 21 {}
        // Types of what arrives in a second after changes made by another client.
        let heard = |s: &mut std::os::unix::net::UnixStream, changes: &[&[&str]]| {
            for c in changes {
                let mut a = vec!["-O", "OpenFlow13", c[0], t];
                a.extend(&c[1..]);
                ofctl_ok(&a);
            }
            s.set_read_timeout(Some(Duration::from_millis(1000)))
                .unwrap();
            let mut types = Vec::new();
            let mut h = [0u8; 8];
            while std::io::Read::read_exact(s, &mut h).is_ok() {
                let n = usize::from(u16::from_be_bytes([h[2], h[3]]));
                let mut rest = vec![0u8; n - 8];
                std::io::Read::read_exact(s, &mut rest).unwrap();
                types.push(h[1]);
            }
            types
        };
        let changes: &[&[&str]] = &[
            &[
                "add-flow",
                "table=3,priority=1,send_flow_rem,ip actions=drop",
            ],
            &["del-flows", "table=3"],
            &["mod-port", "4", "no-forward"],
        ];
        let as_master = heard(&mut s, changes);
        // Become a slave (generation 1): port status only, by default.
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut role = 3u32.to_be_bytes().to_vec();
        role.extend_from_slice(&[0; 4]);
        role.extend_from_slice(&1u64.to_be_bytes());
        s.write_all(&of_msg(4, 24, 6, &role)).unwrap();
        while read_msg(&mut s)[1] != 25 {}
        let changes: &[&[&str]] = &[
            &[
                "add-flow",
                "table=3,priority=1,send_flow_rem,ip actions=drop",
            ],
            &["del-flows", "table=3"],
            &["mod-port", "4", "forward"],
        ];
        let as_slave = heard(&mut s, changes);
        (reply, as_master, as_slave)
    };
    let (b, o) = (session(&mgmt(&sw)), session(&ovs.mgmt()));
    assert_eq!(b.0, o.0, "default get-async reply");
    assert_eq!(b.1, o.1, "as master with flow-removed off");
    assert_eq!(b.2, o.2, "as slave");
    assert_eq!(b.1, vec![12], "port status only");
    assert_eq!(b.2, vec![12], "port status only");
}
