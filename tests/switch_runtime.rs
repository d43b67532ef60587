//! `brisk run` with the worker1 seed pipeline on real DPDK ports (net_pcap replaying the
//! seed's packets forever, net_null sinks), programmed and inspected through `brisk ctl`,
//! with `replace-flows` under traffic, stopped with SIGTERM.

mod common;

use common::{counter, seed_dir, write_pcap, Scratch, Switch};
use std::time::Duration;

fn start(name: &str) -> Switch {
    use pipeline::build::{ip, mac, tcp_frame};
    let dir = Scratch::new(&format!("rt-{name}"));
    let gw1 = mac("4e:99:08:c1:53:be");
    let frontend = mac("be:2c:bf:e4:ec:c5");
    // W1 from the frontend pod (to the service, via gw0) and W2 from gw0 (to the remote
    // pod, via the tunnel): a few connections each, replayed forever.
    let fe: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            tcp_frame(
                frontend,
                gw1,
                ip("10.222.1.48"),
                ip("10.104.65.133"),
                40000 + i,
                80,
                0x002,
                64,
            )
        })
        .collect();
    let gw: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            tcp_frame(
                gw1,
                mac("aa:bb:cc:dd:ee:ff"),
                ip("10.222.1.48"),
                ip("10.222.2.34"),
                50000 + i,
                80,
                0x002,
                64,
            )
        })
        .collect();
    write_pcap(&dir.join("fe.pcap"), &fe);
    write_pcap(&dir.join("gw.pcap"), &gw);
    let yaml = format!(
        r#"bridge: br-int
ports:
  - {{name: antrea-tun0, ofport: 1, type: geneve, options: {{remote_ip: flow, key: flow}}}}
  - {{name: antrea-gw0, ofport: 2, devargs: "net_pcap_gw,rx_pcap={d}/gw.pcap,infinite_rx=1"}}
  - {{name: coredns--3e3abf, ofport: 3, devargs: "net_null_c,no-rx=1"}}
  - {{name: antrea-o-830766, ofport: 4, devargs: "net_null_o,no-rx=1"}}
  - {{name: backend1-bab86f, ofport: 48, devargs: "net_null_b,no-rx=1"}}
  - {{name: frontend-a3ba2f, ofport: 49, devargs: "net_pcap_fe,rx_pcap={d}/fe.pcap,infinite_rx=1"}}
  - name: uplink
    ofport: 7
    devargs: "net_null_u,no-rx=1"
    uplink: {{ip: 10.79.1.201/24}}
tlv_map: ["{{class=0x104,type=0x80,len=4}}->tun_metadata0"]
neighbors: [{{ip: 10.79.1.202, mac: "00:50:56:8f:1c:f6"}}]
flows: {flows}
"#,
        d = dir.0.display(),
        flows = seed_dir().join("worker1.flows").display()
    );
    let bridge = dir.join("bridge.yaml");
    std::fs::write(&bridge, yaml).unwrap();
    Switch::start(
        dir,
        &["--bridge".as_ref(), bridge.as_os_str()],
        &common::eal("0-1", 512, &format!("rt-{name}")),
        None,
    )
}

#[test]
fn runs_the_seed_pipeline_and_answers_ctl() {
    let sw = start("seed");
    std::thread::sleep(Duration::from_millis(1500));
    inspection_shows_the_running_pipeline(&sw);
    routes_neighbours_flows_and_errors(&sw);
    groups_round_trip(&sw);
    replace_flows_under_traffic_loses_nothing(&sw);
    stops_cleanly_on_sigterm(sw);
}

/// `show`, `mempool`, the flow, port and datapath counters, conntrack, megaflows and a
/// trace, while the pcap ports replay.
fn inspection_shows_the_running_pipeline(sw: &Switch) {
    let show = sw.ok(&["show"]);
    assert!(
        show.contains("49(frontend-a3ba2f)")
            && show.contains("type: geneve")
            && show.contains("inner mtu 1442 (1500 - 50 outer - 8 with every mapped option)"),
        "{show}"
    );
    // One pool per NUMA socket in use (the main lcore's and the worker's: socket 0 here).
    let mp = sw.ok(&["mempool"]);
    let socket0 = mp
        .lines()
        .find(|l| l.starts_with("mempool brisk_pool_s0 (NUMA socket 0): "))
        .unwrap_or_else(|| panic!("{mp}"));
    assert!(
        socket0.contains(" mbufs, ") && socket0.ends_with(" in use"),
        "{mp}"
    );
    let flows = sw.ok(&["dump-flows", "table=110"]);
    assert!(flows.contains("n_packets="), "{flows}");
    let ports = sw.ok(&["dump-ports"]);
    let fe_rx = counter(&ports, "frontend-a3ba2f", "rx");
    let gw_tx = counter(&ports, "antrea-gw0", "tx");
    let up_tx = counter(&ports, "uplink", "tx");
    assert!(fe_rx > 1000 && gw_tx > 1000 && up_tx > 1000, "{ports}");
    let pmd = sw.ok(&["pmd-stats"]);
    assert!(
        pmd.contains("megaflow hits") && pmd.contains("avg cycles per packet"),
        "{pmd}"
    );
    let kernels = format!(
        "lookup kernels: {}\n",
        pipeline::fastpath::SimdPath::detect().name()
    );
    assert!(pmd.contains(&kernels), "{pmd}");
    let ct = sw.ok(&["dump-conntrack", "zone=65520"]);
    assert!(
        ct.contains("10.104.65.133") && ct.contains("10.222.2.34"),
        "{ct}"
    );
    // Flushing by OVS's tuple (as Antrea does for a Service's stale entries): only the
    // service's connections go.
    let svc = ct.lines().filter(|l| l.contains("10.104.65.133")).count();
    let none = sw.ok(&["flush-conntrack", "zone=1", "ct_nw_dst=10.104.65.133"]);
    assert_eq!(none.trim(), "0 connections flushed");
    let out = sw.ok(&[
        "flush-conntrack",
        "zone=65520",
        "ct_nw_dst=10.104.65.133,ct_nw_proto=6,ct_tp_dst=80",
    ]);
    assert_eq!(out.trim(), format!("{svc} connections flushed"), "{ct}");
    // (The replayed traffic may open the service's connections again; the others stay.)
    let remote = |t: &str| t.lines().filter(|l| l.contains("dst=10.222.2.34")).count();
    let after = sw.ok(&["dump-conntrack", "zone=65520"]);
    assert!(remote(&after) >= remote(&ct) && remote(&ct) > 0, "{after}");
    // Zone limits: the traffic's zone counted; a limit of 1 in force there.
    sw.ok(&["ct-set-limits", "default=7", "zone=65520,limit=1"]);
    let lim = sw.ok(&["ct-get-limits"]);
    assert!(
        lim.starts_with("default limit=7\nzone=65520,limit=1,count=") && !lim.contains("count=0\n"),
        "{lim}"
    );
    assert_eq!(
        sw.ok(&["ct-get-limits", "zone=9"]),
        "default limit=7\nzone=9,limit=7,count=0\n"
    );
    sw.ok(&["ct-del-limits", "default", "zone=65520"]);
    assert_eq!(sw.ok(&["ct-get-limits"]), "default limit=0\n");
    let mf = sw.ok(&["dump-megaflows"]);
    assert!(mf.contains("recirc_id=") && mf.contains("tnl_push"), "{mf}");
    let tr = sw.ok(&["trace", "in_port=49,tcp,dl_src=be:2c:bf:e4:ec:c5,dl_dst=4e:99:08:c1:53:be,nw_src=10.222.1.48,nw_dst=10.104.65.133,nw_ttl=64,tp_src=1,tp_dst=80,tcp_flags=0x002"]);
    assert!(
        tr.contains("Datapath actions") && tr.contains("Output: port 2"),
        "{tr}"
    );
}

/// Routes by port number or name, neighbours, errors as messages and non-zero exits, and
/// an add-flow / del-flows round trip.
fn routes_neighbours_flows_and_errors(sw: &Switch) {
    let r = sw.ok(&["route", "show"]);
    assert!(r.contains("10.79.1.0/24 dev 7"), "{r}");
    // A route names its port by number or name.
    sw.ok(&[
        "route",
        "add",
        "10.80.0.0/16",
        "via",
        "10.79.1.202",
        "dev",
        "uplink",
    ]);
    let r = sw.ok(&["route", "show"]);
    assert!(r.contains("10.80.0.0/16 via 10.79.1.202 dev 7"), "{r}");
    sw.ok(&["route", "del", "10.80.0.0/16"]);
    let (ok, text) = sw.ctl(&["route", "add", "10.81.0.0/16", "dev", "eth9"]);
    assert!(
        !ok && text.contains("unknown port name \"eth9\" (`brisk ctl show`"),
        "{text}"
    );
    let n = sw.ok(&["neigh", "show"]);
    assert!(n.contains("10.79.1.202"), "{n}");
    // Errors are messages and non-zero exits.
    let (ok, text) = sw.ctl(&["add-flow", "tp_dst=80 actions=drop"]);
    assert!(!ok && text.contains("requires"), "{text}");
    let (ok, text) = sw.ctl(&["frobnicate"]);
    assert!(!ok && text.contains("unknown command"), "{text}");
    // add-flow / del-flows round trip.
    sw.ok(&["add-flow", "table=200,priority=5,ip actions=drop"]);
    assert!(sw
        .ok(&["dump-flows", "table=200"])
        .contains("priority=5,ip"));
    assert!(sw.ok(&["del-flows", "table=200"]).contains("1 deleted"));
}

/// Groups: add, refuse a duplicate and a flow on a missing group, dump, modify, stats,
/// delete (taking its flow along).
fn groups_round_trip(sw: &Switch) {
    sw.ok(&[
        "add-group",
        "group_id=7,type=select,bucket=output:3,bucket=output:4",
    ]);
    let (ok, text) = sw.ctl(&["add-group", "group_id=7,type=all,bucket=output:3"]);
    assert!(!ok && text.contains("group 7 already exists"), "{text}");
    let (ok, text) = sw.ctl(&["add-group", "group_id=9,type=ff,bucket=output:3"]);
    assert!(
        !ok && text.contains("column 17") && text.contains("fast_failover"),
        "{text}"
    );
    sw.ok(&["add-flow", "table=200,priority=6,udp actions=group:7"]);
    let (ok, text) = sw.ctl(&["add-flow", "table=200,priority=6,tcp actions=group:8"]);
    assert!(!ok && text.contains("group 8 does not exist"), "{text}");
    let g = sw.ok(&["dump-groups"]);
    assert!(
        g.contains(r#" group_id=7,type=select,bucket=bucket_id:0,weight:1,actions=output:"coredns--3e3abf",bucket=bucket_id:1,weight:1,actions=output:"antrea-o-830766""#),
        "{g}"
    );
    sw.ok(&["mod-group", "group_id=7,type=select,bucket=output:3"]);
    let st = sw.ok(&["dump-group-stats", "7"]);
    assert!(
        st.contains("group_id=7,") && st.contains("ref_count=1"),
        "{st}"
    );
    let d = sw.ok(&["del-groups", "group_id=7"]);
    assert!(
        d.contains("1 groups deleted, 1 flows that used them deleted"),
        "{d}"
    );
    assert!(sw.ok(&["dump-groups"]).is_empty());
    assert!(sw.ok(&["dump-flows", "table=200"]).is_empty());
}

/// replace-flows with the same flows under traffic: nothing changes, nothing is lost.
fn replace_flows_under_traffic_loses_nothing(sw: &Switch) {
    let before = sw.ok(&["drop-stats"]);
    let out = sw.ok(&[
        "replace-flows",
        seed_dir().join("worker1.flows").to_str().unwrap(),
    ]);
    assert!(
        out.contains("0 added, 0 modified, 0 deleted, 76 unchanged"),
        "{out}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let after = sw.ok(&["drop-stats"]);
    let datapath_drops = |t: &str| -> u64 {
        t.lines()
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .filter(|l| !l.contains("parse_errors"))
            .map(|l| l.split_whitespace().last().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(datapath_drops(&before), 0, "{before}");
    assert_eq!(datapath_drops(&after), 0, "{after}");
    // Counters kept across the replace.
    assert!(sw.ok(&["dump-flows", "table=110"]).contains("n_packets="));
}

/// SIGTERM: exit 0, every mbuf back in the pool.
fn stops_cleanly_on_sigterm(mut sw: Switch) {
    let st = sw.stop();
    assert!(
        st.status.success(),
        "exit {:?}\n{}\n{}",
        st.status,
        st.stdout,
        st.stderr
    );
    assert!(
        st.stdout.contains("every mbuf returned to the pool"),
        "{}\n{}",
        st.stdout,
        st.stderr
    );
}
