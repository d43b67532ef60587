//! OpenFlow on the wire, with clients nobody here wrote: Debian's `ovs-ofctl` programs
//! brisk's management socket (`<rundir>/br-int.mgmt`) and Open vSwitch's own (userspace,
//! dummy ports) with the same commands, and the two switches' dumps, printed by the same
//! `ovs-ofctl`, must be equal: both seed nodes' flows at OpenFlow 1.3, 1.4 and 1.5, then
//! deletes by cookie mask and strict, modifies, `--bundle replace-flows`, aggregates. A raw
//! client checks the refusals (OVS's error type and code, the connection lives on) and that
//! a peer sending garbage is dropped without disturbing another.

mod common;

use common::ofctl::*;
use common::seed_dir;
use pipeline::ofctl::{parse_flow, Action, FlowEntry, Mode, PortMap, SetForm};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The flow a dump line says, as brisk's model (how a write is spelled aside).
fn model(line: &str, ports: &PortMap) -> FlowEntry {
    let l: String = line
        .split(", ")
        .filter(|f| {
            let f = f.trim_start();
            !["duration=", "n_packets=", "n_bytes=", "idle_age="]
                .iter()
                .any(|p| f.starts_with(p))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut f = parse_flow(l.trim(), Mode::Add, ports).unwrap_or_else(|e| panic!("{l}: {e}"));
    for a in f.actions.iter_mut() {
        match a {
            Action::Set(sf) => sf.form = SetForm::SetField,
            Action::Ct(ct) => ct.exec.iter_mut().for_each(|s| s.form = SetForm::SetField),
            _ => {}
        }
    }
    f
}

#[test]
fn ovs_ofctl_programs_brisk_as_it_programs_ovs() {
    if !have_ovs() {
        return;
    }
    for node in ["worker1", "worker2"] {
        let sw = brisk(node, "dumps", &[]);
        let ovs = Ovs::start(node, "dumps");
        let (b, o) = (mgmt(&sw), ovs.mgmt());
        let flows = seed_dir().join(format!("{node}.flows"));
        let flows = flows.to_str().unwrap();
        let n_seed = std::fs::read_to_string(flows)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count();

        // `show` lists brisk's ports by number and name, as OVS's.
        let show = ofctl_ok(&["-O", "OpenFlow15", "show", &b]);
        for (name, ofport) in node_ports(node) {
            assert!(
                show.contains(&format!(" {ofport}({name}): addr:")),
                "{show}"
            );
        }
        assert!(show.contains("OFPT_FEATURES_REPLY (OF1.5)"), "{show}");

        for t in [&b, &o] {
            ofctl_ok(&["-O", "OpenFlow15", "add-flows", t, flows]);
        }
        assert_eq!(same_dumps(&b, &o, node), n_seed, "{node}");

        // The same flows through `brisk ctl`: one model, two views.
        let mut ports = PortMap::new();
        for (name, ofport) in node_ports(node) {
            ports.insert(name, ofport);
        }
        let mut via_ctl: Vec<FlowEntry> = sw
            .ok(&["dump-flows"])
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| model(l, &ports))
            .collect();
        let mut via_of: Vec<FlowEntry> = dump("OpenFlow15", &b)
            .iter()
            .map(|l| model(l, &ports))
            .collect();
        let key = |f: &FlowEntry| pipeline::ofctl::format_flow(f, &ports, None);
        via_ctl.sort_by_key(key);
        via_of.sort_by_key(key);
        assert_eq!(
            via_ctl, via_of,
            "{node}: brisk ctl and ovs-ofctl see different flows"
        );

        // Edits, each on both switches, dumps compared after each.
        let edits: &[&[&str]] = &[
            &["del-flows", "cookie=0x1030000000000/-1"],
            &["--strict", "del-flows", "table=10,priority=0"],
            &["mod-flows", "table=20,arp actions=drop"],
            &["--strict", "mod-flows", "table=0,priority=0 actions=resubmit(,10)"],
            &["add-flow", "table=70,priority=5,ip,nw_dst=10.0.0.0/8 actions=ct(commit,zone=7,exec(load:0x1->NXM_NX_CT_MARK[])),dec_ttl,output:2"],
            &["del-flows", "table=70,ip,nw_dst=10.1.0.0/16"],
            &["--bundle", "add-flows", flows],
            &["del-flows", "table=0"],
        ];
        for e in edits {
            let cmd_args = e.to_vec();
            for t in [&b, &o] {
                // ovs-ofctl [OPTIONS] COMMAND SWITCH ARGS...
                let mut args: Vec<&str> = vec!["-O", "OpenFlow15"];
                let (opts, rest): (Vec<&str>, Vec<&str>) =
                    cmd_args.iter().partition(|a| a.starts_with("--"));
                args.extend(opts);
                args.push(rest[0]);
                args.push(t);
                args.extend(&rest[1..]);
                ofctl_ok(&args);
            }
            same_dumps(&b, &o, &format!("{node} after {e:?}"));
        }
        // replace-flows in a bundle: the tables become exactly the file.
        let few = sw.dir.file(
            "few.flows",
            &std::fs::read_to_string(flows)
                .unwrap()
                .lines()
                .take(5)
                .collect::<Vec<_>>()
                .join("\n"),
        );
        for t in [&b, &o] {
            ofctl_ok(&["-O", "OpenFlow15", "--bundle", "replace-flows", t, &few]);
        }
        assert_eq!(same_dumps(&b, &o, "replace-flows"), 5);
        // Groups: add, insert and remove buckets, modify, a flow that uses one; dumps and
        // counters equal at 1.3 and 1.5.
        let groups = sw.dir.file(
            "groups.txt",
            "group_id=5,type=select,bucket=bucket_id:0,weight:100,actions=load:0xa0a0001->NXM_NX_REG3[],resubmit(,42),bucket=bucket_id:1,weight:50,actions=load:0xa0a0002->NXM_NX_REG3[],resubmit(,42)\n\
             group_id=7,type=all,bucket=output:2,bucket=output:3\n\
             group_id=9,type=select,selection_method=hash,fields(ip_src,ip_dst,tcp_src,tcp_dst),bucket=bucket_id:3,actions=output:4\n\
             group_id=11,type=indirect,bucket=actions=ct(commit,table=31,zone=65520,nat(dst=10.96.0.10:53))\n",
        );
        let group_edits: &[&[&str]] = &[
            &["add-groups", &groups],
            &[
                "insert-buckets",
                "group_id=5,command_bucket_id=last,bucket=bucket_id:7,weight:10,actions=output:7",
            ],
            &[
                "insert-buckets",
                "group_id=5,command_bucket_id=1,bucket=bucket_id:8,weight:20,actions=output:2",
            ],
            &["remove-buckets", "group_id=5,command_bucket_id=0"],
            &["mod-group", "group_id=7,type=all,bucket=output:2"],
            &["add-flow", "table=3,ip,actions=group:5"],
            &["del-groups", "group_id=9"],
        ];
        for g in group_edits {
            for t in [&b, &o] {
                let mut args = vec!["-O", "OpenFlow15", g[0], t];
                args.extend(&g[1..]);
                ofctl_ok(&args);
            }
            for v in ["OpenFlow13", "OpenFlow15"] {
                for cmd in ["dump-groups", "dump-group-stats"] {
                    let norm = |t: &str| {
                        let mut l: Vec<String> = ofctl_ok(&["-O", v, cmd, t])
                            .lines()
                            .skip(1)
                            .map(|l| {
                                l.split(',')
                                    .filter(|f| !f.starts_with("duration="))
                                    .collect::<Vec<_>>()
                                    .join(",")
                            })
                            .collect();
                        l.sort();
                        l
                    };
                    assert_eq!(norm(&b), norm(&o), "{node}: {v} {cmd} after {g:?}");
                }
            }
        }
        // A bucket that is not there: OVS's error, from both.
        for t in [&b, &o] {
            let (ok, text) = ofctl(&[
                "-O",
                "OpenFlow15",
                "remove-buckets",
                t,
                "group_id=5,command_bucket_id=99",
            ]);
            assert!(!ok && text.contains("OFPGMFC_UNKNOWN_BUCKET"), "{text}");
        }
        // Aggregates agree.
        for v in ["OpenFlow13", "OpenFlow15"] {
            let agg = |t: &str| ofctl_ok(&["-O", v, "dump-aggregate", t]).replace("xid=0x2", "");
            assert_eq!(agg(&b), agg(&o), "{v} dump-aggregate");
        }
    }
}

/// Connects and negotiates OpenFlow 1.5.
fn connect(path: &Path) -> UnixStream {
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let hello = read_msg(&mut s);
    assert_eq!(hello[1], 0, "first message is a hello");
    s.write_all(&of_msg(6, 0, 1, &[0, 1, 0, 8, 0, 0, 0, 0x40]))
        .unwrap();
    s
}

#[test]
fn malformed_messages_are_refused_with_ovs_errors_and_garbage_disconnects() {
    if !have_ovs() {
        return;
    }
    let port = 16653 + (std::process::id() % 1000) as u16;
    let listen = format!("ptcp:{port}");
    let sw = brisk(
        "worker1",
        "bad",
        &[
            "--openflow",
            &format!(
                "punix:{}",
                PathBuf::from("/tmp")
                    .join(format!("brisk-of-{}.mgmt", std::process::id()))
                    .display()
            ),
            "--openflow",
            &listen,
        ],
    );
    let path = PathBuf::from(format!("/tmp/brisk-of-{}.mgmt", std::process::id()));
    // Both listeners answer ovs-ofctl.
    ofctl_ok(&[
        "-O",
        "OpenFlow13",
        "show",
        &format!("unix:{}", path.display()),
    ]);
    ofctl_ok(&["-O", "OpenFlow15", "show", &format!("tcp:127.0.0.1:{port}")]);
    let mode = std::fs::metadata(&path).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );

    let mut s = connect(&path);
    // A flow-mod whose match has tcp_dst without ip_proto: OFPBMC_BAD_PREREQ.
    let mut fm = vec![0u8; 40];
    fm[16] = 0; // table 0
    fm[24..28].copy_from_slice(&0xffff_ffffu32.to_be_bytes()); // buffer_id
    fm[28..32].copy_from_slice(&0xffff_ffffu32.to_be_bytes());
    fm[32..36].copy_from_slice(&0xffff_ffffu32.to_be_bytes());
    fm.extend_from_slice(&[0, 1, 0, 10, 0x80, 0, 0x1c, 2, 0, 80, 0, 0, 0, 0, 0, 0]);
    s.write_all(&of_msg(6, 14, 77, &fm)).unwrap();
    let err = read_msg(&mut s);
    assert_eq!(
        (err[1], &err[4..8]),
        (1, &77u32.to_be_bytes()[..]),
        "an error for xid 77"
    );
    assert_eq!(
        &err[8..12],
        &[0, 4, 0, 9],
        "OFPET_BAD_MATCH, OFPBMC_BAD_PREREQ"
    );
    // An unknown message type: OFPBRC_BAD_TYPE; the connection lives on.
    s.write_all(&of_msg(6, 99, 78, &[])).unwrap();
    let err = read_msg(&mut s);
    assert_eq!(
        &err[8..12],
        &[0, 1, 0, 1],
        "OFPET_BAD_REQUEST, OFPBRC_BAD_TYPE"
    );
    s.write_all(&of_msg(6, 2, 79, b"ping")).unwrap();
    let echo = read_msg(&mut s);
    assert_eq!((echo[1], &echo[8..]), (3, &b"ping"[..]), "echo reply");
    // A flow-mod to a group that does not exist: OFPBAC_BAD_OUT_GROUP, from the tables.
    let target = format!("unix:{}", path.display());
    let (ok, text) = ofctl(&[
        "-O",
        "OpenFlow15",
        "add-flow",
        &target,
        "table=3,actions=group:9",
    ]);
    assert!(!ok && text.contains("OFPBAC_BAD_OUT_GROUP"), "{text}");
    let (ok, text) = ofctl(&[
        "-O",
        "OpenFlow15",
        "add-flow",
        &target,
        "table=3,priority=1,ip,actions=learn(table=9,limit=5,NXM_OF_ETH_SRC[])",
    ]);
    assert!(
        !ok && text.contains("OFPBAC_BAD_VENDOR_TYPE"),
        "learn's limit is refused, not ignored: {text}"
    );

    // The TLV map over OpenFlow (NXT_TLV_TABLE_*): the same map `brisk ctl` shows.
    ofctl_ok(&[
        "-O",
        "OpenFlow15",
        "add-tlv-map",
        &target,
        "{class=0x105,type=0x1,len=8}->tun_metadata1",
    ]);
    let tlv = ofctl_ok(&["-O", "OpenFlow15", "dump-tlv-map", &target]);
    assert!(
        tlv.contains("0x104  0x80       4  tun_metadata0")
            && tlv.contains("0x105   0x1       8  tun_metadata1"),
        "{tlv}"
    );
    assert!(sw.ok(&["dump-tlv-map"]).contains("tun_metadata1"));
    let (ok, text) = ofctl(&[
        "-O",
        "OpenFlow15",
        "add-tlv-map",
        &target,
        "{class=0x106,type=0x1,len=4}->tun_metadata1",
    ]);
    assert!(!ok && text.contains("NXTTMFC_ALREADY_MAPPED"), "{text}");
    let (ok, text) = ofctl(&[
        "-O",
        "OpenFlow15",
        "add-tlv-map",
        &target,
        "{class=0x106,type=0x1,len=12}->tun_metadata3",
    ]);
    assert!(!ok && text.contains("NXTTMFC_BAD_OPT_LEN"), "{text}");
    ofctl_ok(&[
        "-O",
        "OpenFlow15",
        "del-tlv-map",
        &target,
        "{class=0x105,type=0x1,len=8}->tun_metadata1",
    ]);
    assert!(!sw.ok(&["dump-tlv-map"]).contains("tun_metadata1"));

    // Roles: s takes master, a second connection takes it over; s, now a slave, may read
    // but not change the switch (OFPBRC_IS_SLAVE).
    let role = |role: u32, generation: u64| {
        let mut b = role.to_be_bytes().to_vec();
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&generation.to_be_bytes());
        b
    };
    s.write_all(&of_msg(6, 24, 90, &role(2, 1))).unwrap();
    let r = read_msg(&mut s);
    assert_eq!((r[1], &r[8..12]), (25, &[0, 0, 0, 2][..]), "s is master");
    let mut m2 = connect(&path);
    m2.write_all(&of_msg(6, 24, 91, &role(2, 2))).unwrap();
    assert_eq!(&read_msg(&mut m2)[8..12], &[0, 0, 0, 2], "m2 is master");
    s.write_all(&of_msg(6, 24, 92, &role(0, 0))).unwrap();
    assert_eq!(
        &read_msg(&mut s)[8..12],
        &[0, 0, 0, 3],
        "s was made a slave"
    );
    s.write_all(&of_msg(6, 14, 93, &fm)).unwrap();
    let err = read_msg(&mut s);
    assert_eq!(
        &err[8..12],
        &[0, 1, 0, 10],
        "OFPET_BAD_REQUEST, OFPBRC_IS_SLAVE"
    );
    s.write_all(&of_msg(6, 24, 94, &role(2, 1))).unwrap();
    assert_eq!(
        &read_msg(&mut s)[8..12],
        &[0, 11, 0, 0],
        "OFPRRFC_STALE: generation 1 < 2"
    );

    // Garbage framing (a length under 8) closes that connection only.
    let mut g = connect(&path);
    g.write_all(&[6, 2, 0, 4, 0, 0, 0, 1]).unwrap();
    let mut b = [0u8; 64];
    let closed = matches!(g.read(&mut b), Ok(0) | Err(_));
    assert!(closed, "the garbage connection is closed");
    s.write_all(&of_msg(6, 2, 80, b"still")).unwrap();
    assert_eq!(&read_msg(&mut s)[8..], b"still");
    // A 1.1-only peer (brisk speaks 1.0 and 1.3 to 1.5): OFPHFC_INCOMPATIBLE, then closed.
    let mut old = UnixStream::connect(&path).unwrap();
    old.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = read_msg(&mut old);
    old.write_all(&of_msg(2, 0, 5, &[0, 1, 0, 8, 0, 0, 0, 1 << 2]))
        .unwrap();
    let err = read_msg(&mut old);
    assert_eq!(
        &err[8..12],
        &[0, 0, 0, 0],
        "OFPET_HELLO_FAILED, OFPHFC_INCOMPATIBLE"
    );
    // The refusals are counted.
    let stats = sw.ok(&["drop-stats"]);
    assert!(stats.contains("openflow"), "{stats}");
}

/// os-ken (PyPI), a controller nobody here wrote, connects to brisk's `ptcp:` listener,
/// negotiates OpenFlow 1.5, names tables, installs flows and a group in one bundle and
/// reads them back; `ovs-ofctl` then sees exactly those flows.
#[test]
fn an_os_ken_controller_programs_brisk_through_a_bundle() {
    if !have_ovs() {
        return;
    }
    if !have_osken() {
        eprintln!("openflow_ofctl: os-ken skipped (pip install os-ken: scripts/deps.sh)");
        return;
    }
    let port = 17653 + (std::process::id() % 1000) as u16;
    let listen = format!("ptcp:{port}");
    let sw = brisk("worker1", "osken", &["--openflow", &listen]);
    let o = osken("connect", port, None).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "os-ken: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // What os-ken saw: version 1.5, the bundle opened and committed, its 9 flows in 6
    // tables, the names it gave.
    for want in [
        "\"version\": 6",
        "\"bundle\": [1, 5]",
        "\"flows\": 9",
        "\"tables\": [0, 10, 30, 31, 50, 70]",
        "\"names\": {\"0\": \"Classification\", \"70\": \"L3Forwarding\"}",
    ] {
        assert!(out.contains(want), "no {want} in {out}");
    }
    // What ovs-ofctl sees of them (`--names`: the tables named by os-ken show by name).
    let flows = dump("OpenFlow15", &mgmt(&sw));
    assert!(
        flows.iter().any(|l| l.contains(" table=Classification, ")),
        "{flows:?}"
    );
    assert_eq!(flows.len(), 9, "{flows:?}");
    for want in [
        "priority=200,in_port=\"antrea-gw0\" actions=set_field:0x1/0xffff->reg0,resubmit(,10)",
        "priority=200,ip actions=ct(table=31,zone=65520)",
        "priority=200,tcp,tp_dst=80 actions=conjunction(7,2/2)",
        "priority=190,conj_id=7,ip actions=set_field:0x7->reg5,goto_table:L3Forwarding",
        "priority=200,ip,nw_dst=10.222.2.0/24 actions=dec_ttl,set_field:4e:99:08:c1:53:be->eth_src,set_field:10.79.1.202->tun_dst,output:\"antrea-tun0\"",
        "priority=100,ip,nw_dst=10.96.0.10 actions=group:5",
    ] {
        assert!(flows.iter().any(|l| l.ends_with(want)), "no {want} in {flows:?}");
    }
    let groups = ofctl_ok(&["-O", "OpenFlow15", "dump-groups", &mgmt(&sw)]);
    assert!(
        groups.contains("group_id=5,type=select,bucket=bucket_id:0,weight:100,actions=output:3,bucket=bucket_id:1,weight:100,actions=output:4"),
        "{groups}"
    );
}

/// The other way round: os-ken listens and brisk connects to it (`--controller tcp:...`),
/// as a switch does to its controller; the same bundle, read back the same.
#[test]
fn brisk_connects_to_an_os_ken_controller() {
    if !have_ovs() {
        return;
    }
    if !have_osken() {
        eprintln!("openflow_ofctl: os-ken skipped (pip install os-ken: scripts/deps.sh)");
        return;
    }
    let port = 18653 + (std::process::id() % 1000) as u16;
    let ctrl = osken("listen", port, None).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let target = format!("tcp:127.0.0.1:{port}");
    let sw = brisk("worker1", "osken-active", &["--controller", &target]);
    let o = ctrl.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "os-ken: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for want in ["\"version\": 6", "\"bundle\": [1, 5]", "\"flows\": 9"] {
        assert!(out.contains(want), "no {want} in {out}");
    }
    assert_eq!(dump("OpenFlow15", &mgmt(&sw)).len(), 9);
}

/// Idle and hard timeouts: the flows leave the tables, and `ovs-ofctl monitor` (asking for
/// asynchronous messages with a miss length, as OVS requires of a service connection) sees
/// the same OFPT_FLOW_REMOVED from brisk as from OVS, for the flows added with
/// `send_flow_rem` only.
#[test]
fn timed_out_flows_leave_and_monitors_hear_of_it_as_from_ovs() {
    if !have_ovs() {
        return;
    }
    let sw = brisk("worker1", "expiry", &[]);
    let ovs = Ovs::start("worker1", "expiry");
    let rundir = sw.dir.join("ovs-ofctl-run");
    std::fs::create_dir_all(&rundir).unwrap();
    let mut heard = Vec::new();
    for t in [mgmt(&sw), ovs.mgmt()] {
        let mon = monitor(&t, &rundir);
        for f in [
            "table=5,priority=7,hard_timeout=1,send_flow_rem,ip,nw_dst=10.1.2.3 actions=drop",
            "table=5,priority=8,idle_timeout=2,send_flow_rem,ip,nw_dst=10.1.2.4 actions=drop",
            "table=5,priority=9,idle_timeout=2,ip,nw_dst=10.1.2.5 actions=drop",
            "table=5,priority=10,ip,nw_dst=10.1.2.6 actions=drop",
        ] {
            ofctl_ok(&["-O", "OpenFlow15", "add-flow", &t, f]);
        }
        std::thread::sleep(Duration::from_millis(4000));
        let printed = monitor_output(mon);
        let mut lines: Vec<String> = printed
            .lines()
            .filter(|l| l.starts_with("OFPT_FLOW_REMOVED"))
            .map(|l| {
                l.split(' ')
                    .filter(|w| !w.starts_with("duration"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        lines.sort();
        heard.push(lines);
        // Only the flow without a timeout is left.
        let left = dump("OpenFlow15", &t);
        let left: Vec<&String> = left.iter().filter(|l| l.contains("table=5")).collect();
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(left[0].contains("nw_dst=10.1.2.6"), "{left:?}");
    }
    assert_eq!(heard[0].len(), 2, "{:?}", heard[0]);
    assert!(
        heard[0][0].contains("reason=hard") && heard[0][1].contains("reason=idle"),
        "{:?}",
        heard[0]
    );
    assert_eq!(
        heard[0], heard[1],
        "brisk's and OVS's flow-removed messages differ"
    );
}
