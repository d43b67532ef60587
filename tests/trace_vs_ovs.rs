//! `ovs-appctl ofproto/trace` against brisk and against Open vSwitch's userspace switch
//! programmed by `ovs-ofctl` with the same flows (the seed's worker1): the same text, line
//! for line — flow, tables and nesting, actions and OVS's remarks, recirculations after
//! `ct` with `--ct-next`, final flows. What is each switch's own is compared for meaning:
//! the recirculation ids (numbered in order), the megaflow (brisk's are wider: only its
//! shape is checked) and the datapath actions (each datapath numbers its ports and writes
//! headers its own way: the conntrack and recirculation actions and the ports, by name,
//! must be the same). Then brisk's own `ctl trace` tells the same story, a packet given in
//! hex (composed by `ovs-ofctl compose-packet`) traces as its flow, and bad options are
//! refused with OVS's words.

mod common;

use common::ofctl::*;
use common::seed_dir;
use std::collections::HashMap;
use std::process::Command;

fn appctl(target: &str, args: &[&str]) -> (bool, String) {
    let o = Command::new("ovs-appctl")
        .args(["--timeout=10", "-t", target])
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

/// Datapath port number → port name, from `dpif/show`'s `NAME OFPORT/DPPORT: (TYPE)`.
fn dp_ports(target: &str) -> HashMap<String, String> {
    let (ok, text) = appctl(target, &["dpif/show"]);
    assert!(ok, "{text}");
    let mut m = HashMap::new();
    for l in text.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if let [name, nums, ..] = w.as_slice() {
            if let Some((_, dp)) = nums.trim_end_matches(':').split_once('/') {
                m.insert(dp.to_string(), name.to_string());
            }
        }
    }
    m
}

/// Top-level comma-separated items of a datapath action list.
fn items(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0);
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The trace with each switch's own parts put in common terms (see the file's comment).
fn normalise(text: &str, ports: &HashMap<String, String>) -> String {
    let mut ids: Vec<String> = Vec::new();
    let mut id = |hex: &str| -> String {
        if hex == "0" {
            return "0".into();
        }
        let n = match ids.iter().position(|x| x == hex) {
            Some(n) => n,
            None => {
                ids.push(hex.to_string());
                ids.len() - 1
            }
        };
        format!("R{}", n + 1)
    };
    let mut out = String::new();
    for line in text.lines() {
        let mut l = line.to_string();
        // recirc(0x5), recirc_id=0x5
        for pat in ["recirc(", "recirc_id="] {
            let mut from = 0;
            while let Some(at) = l[from..].find(pat) {
                let start = from + at + pat.len();
                let end = l[start..]
                    .find(|c: char| !c.is_ascii_hexdigit() && c != 'x')
                    .map_or(l.len(), |e| start + e);
                let new = id(&l[start..end]);
                l.replace_range(start..end, &new);
                from = start + new.len();
            }
        }
        if let Some(m) = l.strip_prefix("Megaflow: ") {
            assert!(
                m.starts_with("recirc_id=") && m.contains("eth"),
                "megaflow shape: {l}"
            );
            l = "Megaflow: (each switch's own)".into();
        } else if let Some(a) = l.strip_prefix("Datapath actions: ") {
            let kept: Vec<String> = items(a)
                .into_iter()
                .filter_map(|i| {
                    if i.chars().all(|c| c.is_ascii_digit()) {
                        Some(format!("port:{}", ports.get(&i).cloned().unwrap_or(i)))
                    } else if ports.values().any(|n| *n == i) {
                        // Named, under --names.
                        Some(format!("port:{i}"))
                    } else if i.starts_with("ct(") || i.starts_with("recirc(") || i == "drop" {
                        Some(i)
                    } else {
                        None
                    }
                })
                .collect();
            l = format!("Datapath actions: {}", kept.join(","));
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

const POD_TO_POD: &str = "in_port=48,tcp,dl_src=f2:32:d8:07:e2:a6,dl_dst=4e:99:08:c1:53:be,nw_src=10.222.1.47,nw_dst=10.222.1.48,nw_ttl=64,tp_src=1234,tp_dst=80,tcp_flags=0x002";

const GROUP: &str = "group_id=77,type=all,bucket=bucket_id:1,output:4,bucket=bucket_id:2,set_field:0x1->reg5,resubmit(,202)";
const EXTRA: [&str; 3] = [
    "table=0,priority=1000,tcp,tp_dst=7777 actions=resubmit(,200),resubmit(,201),output:3",
    "table=200,priority=10 actions=set_field:0x5->reg3,move:NXM_NX_REG3[0..3]->NXM_NX_REG4[4..7]",
    "table=201,priority=10 actions=group:77",
];

/// Packets through worker1's Antrea pipeline, with the `ofproto/trace` options used.
fn cases() -> Vec<Vec<&'static str>> {
    vec![
        // A pod's SYN to a pod on the same node: ct, then the default `trk|new`.
        vec![POD_TO_POD],
        // The same as an established connection, then each pass given.
        vec![POD_TO_POD, "--ct-next", "trk,est"],
        vec![POD_TO_POD, "--ct-next", "trk,est", "--ct-next", "trk,est,rpl"],
        // To the service's cluster IP: two conntrack passes.
        vec!["in_port=49,tcp,dl_src=be:2c:bf:e4:ec:c5,dl_dst=4e:99:08:c1:53:be,nw_src=10.222.1.48,nw_dst=10.104.65.133,nw_ttl=64,tp_src=40000,tp_dst=80,tcp_flags=0x002"],
        // From the tunnel: tunnel metadata moved to a register ("is now").
        vec!["in_port=1,tun_src=10.79.1.202,tun_dst=10.79.1.201,tun_id=0,tcp,dl_src=aa:bb:cc:dd:ee:ff,dl_dst=aa:bb:cc:dd:ee:ff,nw_src=10.222.2.34,nw_dst=10.222.1.47,nw_ttl=63,tp_src=80,tp_dst=1234,tcp_flags=0x012"],
        // From the gateway: committed with a mark, then output:NXM_NX_REG1[].
        vec!["in_port=2,icmp,dl_src=4e:99:08:c1:53:be,dl_dst=f2:32:d8:07:e2:a6,nw_src=10.222.1.1,nw_dst=10.222.1.47,nw_ttl=64,icmp_type=8"],
        vec!["in_port=2,icmp,dl_src=4e:99:08:c1:53:be,dl_dst=f2:32:d8:07:e2:a6,nw_src=10.222.1.1,nw_dst=10.222.1.47,nw_ttl=64,icmp_type=8", "--names"],
        vec!["in_port=48,tcp,dl_src=f2:32:d8:07:e2:a6,dl_dst=4e:99:08:c1:53:be,nw_src=10.222.1.47,nw_dst=10.222.1.48,nw_ttl=64,tp_src=1,tp_dst=7777"],
        // Nowhere to go: an unknown source.
        vec!["in_port=3,tcp,dl_src=00:00:00:00:00:01,dl_dst=4e:99:08:c1:53:be,nw_src=192.0.2.1,nw_dst=10.222.1.1,nw_ttl=64,tp_src=1,tp_dst=53"],
    ]
}

#[test]
fn ofproto_trace_reads_as_ovs() {
    if !have_ovs() {
        return;
    }
    let node = "worker1";
    let dir = common::Scratch::new("trace-ovs-ctl");
    let bctl = dir.join("brisk.ctl").display().to_string();
    let sw = brisk(node, "trace", &["--unixctl", &bctl]);
    let ovs = Ovs::start(node, "trace");
    let octl = ovs.dir.join("vswitchd.ctl").display().to_string();
    let flows = seed_dir().join(format!("{node}.flows"));
    for t in [&mgmt(&sw), &ovs.mgmt()] {
        ofctl_ok(&["-O", "OpenFlow15", "add-flows", t, flows.to_str().unwrap()]);
        // Nesting that Antrea's tables do not show: a resubmit that is not the table's
        // last action, a group of type all with its buckets, a miss.
        ofctl_ok(&["-O", "OpenFlow15", "add-group", t, GROUP]);
        for f in EXTRA {
            ofctl_ok(&["-O", "OpenFlow15", "add-flow", t, f]);
        }
    }
    let (bports, oports) = (dp_ports(&bctl), dp_ports(&octl));
    let mut lines = 0;
    for case in cases() {
        let mut args = vec!["ofproto/trace", "br-int"];
        args.extend(&case);
        let (bok, b) = appctl(&bctl, &args);
        let (ook, o) = appctl(&octl, &args);
        assert!(bok && ook, "{case:?}\nbrisk: {b}\nOVS: {o}");
        let (nb, no) = (normalise(&b, &bports), normalise(&o, &oports));
        if nb != no {
            let diff: Vec<String> = no
                .lines()
                .zip(nb.lines())
                .filter(|(x, y)| x != y)
                .map(|(x, y)| format!("OVS:   {x}\nbrisk: {y}"))
                .take(6)
                .collect();
            panic!(
                "{case:?}: brisk's trace differs from OVS's:\n{}\n--- brisk:\n{b}\n--- OVS:\n{o}",
                diff.join("\n")
            );
        }
        lines += nb.lines().count();
    }
    eprintln!(
        "trace_vs_ovs: {} traces, {lines} lines equal",
        cases().len()
    );

    // brisk's own trace: the same text (with port names), then where the packet left.
    let (_, names) = appctl(&bctl, &["ofproto/trace", "br-int", POD_TO_POD, "--names"]);
    let own = sw.ok(&["trace", "--ct-next", "trk,est", POD_TO_POD]);
    let (_, names_est) = appctl(
        &bctl,
        &[
            "ofproto/trace",
            POD_TO_POD,
            "--names",
            "--ct-next",
            "trk,est",
        ],
    );
    assert!(own.starts_with(&names_est), "{own}\n---\n{names_est}");
    assert!(
        own.contains("Output: port 2: ") && names.contains("in_port=\"backend1-bab86f\""),
        "{own}\n{names}"
    );

    // A packet given in hex (OVS's compose-packet) traces as the flow it was made from.
    let dump = Command::new("ovs-ofctl")
        .args(["compose-packet", POD_TO_POD.split_once(',').unwrap().1])
        .output()
        .unwrap();
    let hex: String = String::from_utf8_lossy(&dump.stdout)
        .lines()
        .flat_map(|l| l.split_whitespace().skip(1).map(|w| w.replace('-', "")))
        .collect();
    assert!(hex.len() >= 108, "compose-packet: {hex}");
    for target in [&bctl, &octl] {
        let (ok, from_hex) = appctl(target, &["ofproto/trace", "br-int", "in_port=48", &hex]);
        let (_, from_flow) = appctl(target, &["ofproto/trace", "br-int", POD_TO_POD]);
        assert!(ok, "{from_hex}");
        let tail = |t: &str| t.lines().skip(1).map(str::to_string).collect::<Vec<_>>();
        let ports = if target == &bctl { &bports } else { &oports };
        assert_eq!(
            normalise(&tail(&from_hex).join("\n"), ports),
            normalise(&tail(&from_flow).join("\n"), ports),
            "{target}"
        );
    }

    // Bad options: refused as OVS refuses them.
    for (bad, says) in [
        (
            vec!["--ct-next", "trk,new,est"],
            "\"new\" and \"est\" are mutually exclusive",
        ),
        (
            vec!["--ct-next", "trk,bogus"],
            "bogus: unknown connection tracking state flag",
        ),
        (vec!["--ct-next"], "Missing argument for option --ct-next"),
        (vec!["--frobnicate"], "--frobnicate: unknown option"),
    ] {
        let mut args = vec!["ofproto/trace", "br-int", POD_TO_POD];
        args.extend(&bad);
        let (bok, b) = appctl(&bctl, &args);
        let (ook, o) = appctl(&octl, &args);
        assert!(!bok && !ook, "{bad:?}: {b} / {o}");
        assert!(
            b.contains(says) && o.contains(says),
            "{bad:?}: brisk {b} / OVS {o}"
        );
    }
    // Hostile traces: not hex, a jumbo frame, a frame shorter than Ethernet, hundreds of
    // --ct-next: answered or refused with a reason, never a crash.
    let jumbo = format!("{hex}{}", "00".repeat(9000));
    let (ok_jumbo, t) = appctl(&bctl, &["ofproto/trace", "br-int", "in_port=48", &jumbo]);
    assert!(ok_jumbo && t.contains("Datapath actions:"), "{t}");
    let (bad, t) = appctl(
        &bctl,
        &["ofproto/trace", "br-int", "in_port=48", "00112233"],
    );
    assert!(!bad && t.contains("shorter than an Ethernet header"), "{t}");
    let (bad, t) = appctl(&bctl, &["ofproto/trace", "br-int", "in_port=48", "zz:zz"]);
    assert!(!bad && t.contains("column"), "{t}");
    let mut many = vec!["ofproto/trace", "br-int", POD_TO_POD];
    for _ in 0..300 {
        many.extend(["--ct-next", "trk,est"]);
    }
    let (good, t) = appctl(&bctl, &many);
    assert!(good && t.contains("ct_state=est|trk"), "{t}");
    // brisk is still answering.
    assert!(appctl(&bctl, &["version"]).0);
}
