//! `brisk run --config` on the worker1 example (its devargs swapped for replay and sink
//! vdevs), then `brisk ctl reload` adding one pod and removing another under traffic: the
//! other pods' traffic and connections carry on. `reload` refuses, naming each field and
//! changing nothing, what only a restart applies, and needs a node description; the
//! gateway's TAP interface gets the description's MAC, address and MTU.

mod common;

use common::{counter, write_pcap, Scratch, Switch};
use std::ffi::OsStr;
use std::process::Command;
use std::time::Duration;

/// The worker1 example with its devargs replaced: the frontend replays UDP to coredns.
fn node_yaml(dir: &std::path::Path, extra_pod: bool, octant: bool) -> String {
    let ex = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/conf/examples/worker1.yaml"
    ))
    .unwrap();
    let mut y = ex
        .replace(
            "net_af_packet_up1,iface=uplink,qpairs=1",
            "net_null_up,no-rx=1",
        )
        .replace("net_tap_gw1,iface=antrea-gw0", "net_null_gw,no-rx=1")
        .replace(
            "net_af_packet_dns1,iface=coredns--3e3abf",
            "net_null_dns,no-rx=1",
        )
        .replace(
            "net_af_packet_oct1,iface=antrea-o-830766",
            "net_null_oct,no-rx=1",
        )
        .replace(
            "net_af_packet_be1,iface=backend1-bab86f",
            "net_null_be,no-rx=1",
        )
        .replace(
            "afpacket:frontend-a3ba2f",
            &format!(
                "net_pcap_fe,rx_pcap={}/fe.pcap,infinite_rx=1",
                dir.display()
            ),
        );
    if !octant {
        let i = y.find("  - name: antrea-o-830766").unwrap();
        let j = y[i..].find("  - name: backend1-bab86f").unwrap() + i;
        y.replace_range(i..j, "");
    }
    if extra_pod {
        y = y.replace(
            "remote_pods:",
            "  - {name: newpod-1, ofport: 50, devargs: \"net_null_new,no-rx=1\", ip: 10.222.1.50, mac: \"02:00:00:00:00:50\", labels: {role: batch}}\n\nremote_pods:",
        );
    }
    y
}

#[test]
fn run_from_a_node_description_and_reload_it_under_traffic() {
    use pipeline::build::{ip, mac};
    let dir = Scratch::new("node");
    // Frontend -> coredns, UDP 53, 16 source ports, replayed forever.
    let frames: Vec<Vec<u8>> = (0..16)
        .map(|i| {
            pipeline::build::udp_frame(
                mac("be:2c:bf:e4:ec:c5"),
                mac("f2:82:cc:96:da:bd"),
                ip("10.222.1.48"),
                ip("10.222.1.2"),
                20000 + i,
                53,
                &[0; 32],
            )
        })
        .collect();
    write_pcap(&dir.join("fe.pcap"), &frames);
    let node = dir.join("node.yaml");
    std::fs::write(&node, node_yaml(&dir.0, false, true)).unwrap();
    std::fs::write(dir.join("node2.yaml"), node_yaml(&dir.0, true, false)).unwrap();
    let sw = spawn(dir, &["--config".as_ref(), node.as_os_str()], None, "node");
    std::thread::sleep(Duration::from_millis(1000));
    let show = sw.ok(&["show"]);
    assert!(
        show.contains("(antrea-o-830766)") && !show.contains("newpod-1"),
        "{show}"
    );
    let flows = sw.ok(&["dump-flows"]);
    assert!(
        flows.contains("conjunction(1,1/3),conjunction(2,1/3)"),
        "{flows}"
    );
    let p0 = sw.ok(&["dump-ports"]);
    let dns0 = counter(&p0, "coredns--3e3abf", "tx");
    assert!(dns0 > 1000, "{p0}");
    let ct0 = sw.ok(&["dump-conntrack", "zone=65520"]);
    let conns0 = ct0.matches("dst=10.222.1.2,sport=").count();
    assert_eq!(conns0, 16, "{ct0}");

    // Reload: newpod-1 arrives, antrea-octant leaves.
    let out = sw.ok(&["reload", sw.dir.join("node2.yaml").to_str().unwrap()]);
    println!("{out}");
    assert!(
        out.contains("ports added [\"newpod-1\"], removed [\"antrea-o-830766\"]"),
        "{out}"
    );
    assert!(out.contains("unchanged"), "{out}");
    let show = sw.ok(&["show"]);
    assert!(
        show.contains("50(newpod-1)") && !show.contains("antrea-o-830766"),
        "{show}"
    );
    let flows = sw.ok(&["dump-flows", "table=70"]);
    assert!(
        flows.contains("nw_dst=10.222.1.50") && !flows.contains("nw_dst=10.222.1.3 "),
        "{flows}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let p1 = sw.ok(&["dump-ports"]);
    let dns1 = counter(&p1, "coredns--3e3abf", "tx");
    assert!(
        dns1 > dns0 + 1000,
        "coredns stopped receiving: {dns0} -> {dns1}"
    );
    // The frontend's connections survived (same entries, still counting).
    let ct1 = sw.ok(&["dump-conntrack", "zone=65520"]);
    assert_eq!(ct1.matches("dst=10.222.1.2,sport=").count(), 16, "{ct1}");
    let drops = sw.ok(&["drop-stats"]);
    println!("{drops}");

    // A broken description is refused with its errors, and nothing changes.
    std::fs::write(
        sw.dir.join("bad.yaml"),
        node_yaml(&sw.dir.0, true, false).replace("ip: 10.222.1.50", "ip: 10.222.9.50"),
    )
    .unwrap();
    let (ok, text) = sw.ctl(&["reload", sw.dir.join("bad.yaml").to_str().unwrap()]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("pods[3].ip: 10.222.9.50 is outside pod_cidr 10.222.1.0/24"),
        "{text}"
    );
    assert!(sw.ok(&["show"]).contains("50(newpod-1)"));
}

/// Starts `brisk run ARGS` (in the network namespace `netns` if given) on two lcores and
/// waits until its control socket answers.
fn spawn(dir: Scratch, args: &[&OsStr], netns: Option<&str>, prefix: &str) -> Switch {
    Switch::start(dir, args, &common::eal("0-1", 512, prefix), netns)
}

/// The worker1 example on null devices only (no traffic, so counters stay still).
fn quiet_node_yaml(dir: &std::path::Path, extra_pod: bool) -> String {
    node_yaml(dir, extra_pod, true).replace(
        &format!(
            "net_pcap_fe,rx_pcap={}/fe.pcap,infinite_rx=1",
            dir.display()
        ),
        "net_null_fe,no-rx=1",
    )
}

/// A flow dump without what changes with time alone (durations and ages).
fn stable(dump: &str) -> String {
    dump.lines()
        .map(|l| {
            l.split(", ")
                .filter(|f| !f.starts_with("duration=") && !f.contains("_age="))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `reload` applies or refuses: a changed uplink devargs, another node or bridge name, a
/// changed gateway address or MAC each exit non-zero naming every field (by its YAML
/// path, old and new value), and leave ports and flows exactly as they were; a reload that
/// only adds a pod still works, and becomes what the next reload is compared with.
#[test]
fn reload_refuses_what_needs_a_restart_and_changes_nothing() {
    let dir = Scratch::new("reload-refuse");
    let node = dir.join("node.yaml");
    std::fs::write(&node, quiet_node_yaml(&dir.0, false)).unwrap();
    let sw = spawn(
        dir,
        &["--config".as_ref(), node.as_os_str()],
        None,
        "refuse",
    );
    let show0 = sw.ok(&["show"]);
    let flows0 = stable(&sw.ok(&["dump-flows"]));
    assert!(flows0.lines().count() > 50, "{flows0}");
    let base = quiet_node_yaml(&sw.dir.0, false);
    // (name, edits to the running description, the fields the refusal names)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (
            "devargs",
            &[("net_null_up,no-rx=1", "net_null_up2,no-rx=1")],
            &["uplink.devargs (net_null_up,no-rx=1 -> net_null_up2,no-rx=1)"],
        ),
        (
            "node-name",
            &[("node: worker1\n", "node: worker9\n")],
            &["node (worker1 -> worker9)"],
        ),
        (
            "bridge-name",
            &[("bridge: br-int\n", "bridge: br-other\n")],
            &["bridge (br-int -> br-other)"],
        ),
        (
            "gateway-ip",
            &[("  ip: 10.222.1.1\n", "  ip: 10.222.1.254\n")],
            &["gateway.ip (10.222.1.1 -> 10.222.1.254)"],
        ),
        (
            "gateway-mac",
            &[("4e:99:08:c1:53:be", "4e:99:08:c1:53:bf")],
            &["gateway.mac (4e:99:08:c1:53:be -> 4e:99:08:c1:53:bf)"],
        ),
        (
            "several",
            &[
                ("net_null_up,no-rx=1", "net_null_up2,no-rx=1"),
                ("  ip: 10.222.1.1\n", "  ip: 10.222.1.254\n"),
                (
                    "  mac: \"00:50:56:8f:4e:82\"\n",
                    "  mac: \"00:50:56:8f:4e:82\"\n  mtu: 9000\n",
                ),
            ],
            &[
                "uplink.devargs (net_null_up,no-rx=1 -> net_null_up2,no-rx=1)",
                "uplink.mtu (1500 -> 9000)",
                "gateway.ip (10.222.1.1 -> 10.222.1.254)",
                "gateway.mtu (1450 -> 8950)",
            ],
        ),
    ];
    for (name, edits, want) in cases {
        let mut y = base.clone();
        for (from, to) in *edits {
            assert!(y.contains(from), "{name}: no {from:?}");
            y = y.replacen(from, to, 1);
        }
        let path = sw.dir.join(format!("{name}.yaml"));
        std::fs::write(&path, y).unwrap();
        let (ok, text) = sw.ctl(&["reload", path.to_str().unwrap()]);
        println!("reload {name}: {}", text.trim());
        assert!(!ok, "{name}: {text}");
        assert!(
            text.contains(&format!(
                "{}: cannot apply without a restart: {}",
                path.display(),
                want.join(", ")
            )),
            "{name}: {text}"
        );
        assert_eq!(sw.ok(&["show"]), show0, "{name}: ports changed");
        assert_eq!(
            stable(&sw.ok(&["dump-flows"])),
            flows0,
            "{name}: flows changed"
        );
    }
    // Only flows and pods change: applied.
    let two = sw.dir.join("node2.yaml");
    std::fs::write(&two, quiet_node_yaml(&sw.dir.0, true)).unwrap();
    let out = sw.ok(&["reload", two.to_str().unwrap()]);
    assert!(
        out.contains("ports added [\"newpod-1\"], removed [], restarted []"),
        "{out}"
    );
    assert!(sw.ok(&["show"]).contains("50(newpod-1)"));
    // The new description is the running one: the same again changes nothing, and the
    // gateway's MTU written out as its default is no change either.
    let again = quiet_node_yaml(&sw.dir.0, true).replace(
        "  mac: \"4e:99:08:c1:53:be\"\n",
        "  mac: \"4E:99:08:C1:53:BE\"\n  mtu: 1450\n",
    );
    std::fs::write(&two, again).unwrap();
    let out = sw.ok(&["reload", two.to_str().unwrap()]);
    assert!(
        out.contains("ports added [], removed [], restarted []"),
        "{out}"
    );
    let (ok, text) = sw.ctl(&["reload", sw.dir.join("devargs.yaml").to_str().unwrap()]);
    assert!(!ok && text.contains("uplink.devargs"), "{text}");
}

/// A switch started from a bridge file has no node description to compare with: reload
/// says so.
#[test]
fn reload_needs_a_node_description() {
    let dir = Scratch::new("reload-bridge");
    let bridge = dir.join("bridge.yaml");
    std::fs::write(
        &bridge,
        "ports:\n  - {name: a, ofport: 1, devargs: \"net_null_a,no-rx=1\"}\n  - {name: b, ofport: 2, devargs: \"net_null_b,no-rx=1\"}\n",
    )
    .unwrap();
    std::fs::write(dir.join("node.yaml"), quiet_node_yaml(&dir.0, false)).unwrap();
    let sw = spawn(
        dir,
        &["--bridge".as_ref(), bridge.as_os_str()],
        None,
        "bridge",
    );
    let (ok, text) = sw.ctl(&["reload", sw.dir.join("node.yaml").to_str().unwrap()]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("reload needs a switch started from a node description"),
        "{text}"
    );
}

/// A network namespace, deleted when dropped.
struct NetNs(String);

impl NetNs {
    fn new(name: &str) -> NetNs {
        let ns = format!("{name}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        let ok = Command::new("ip")
            .args(["netns", "add", &ns])
            .status()
            .unwrap()
            .success();
        assert!(ok, "ip netns add {ns}");
        NetNs(ns)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// The gateway interface brisk creates has the description's MAC, address (with the pod
/// CIDR's prefix length) and MTU: DPDK's TAP PMD (`net_tap…,iface=`, the MTU the uplink's
/// less 50 by default) and brisk's own TAP (`tap:`, an MTU given).
#[test]
fn the_gateway_tap_gets_the_descriptions_mac_ip_and_mtu() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("gateway TAP: skipped, network namespaces need root");
        return;
    }
    for (name, devargs, mtu_line, mtu) in [
        ("dpdk", "net_tap_gw1,iface=antrea-gw0", "", 1450),
        ("brisk", "tap:antrea-gw0", "  mtu: 1400\n", 1400),
    ] {
        let ns = NetNs::new(&format!("brisk-gw-{name}"));
        let dir = Scratch::new(&format!("gw-{name}"));
        let node = dir.join("node.yaml");
        let y = quiet_node_yaml(&dir.0, false)
            .replace("net_null_gw,no-rx=1", devargs)
            .replace(
                "  mac: \"4e:99:08:c1:53:be\"\n",
                &format!("  mac: \"4e:99:08:c1:53:be\"\n{mtu_line}"),
            );
        std::fs::write(&node, y).unwrap();
        let sw = spawn(
            dir,
            &["--config".as_ref(), node.as_os_str()],
            Some(&ns.0),
            name,
        );
        let out = Command::new("ip")
            .args(["-n", &ns.0, "-j", "addr", "show", "dev", "antrea-gw0"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        println!("{name}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let link = &v[0];
        assert_eq!(link["address"], "4e:99:08:c1:53:be", "{name}: {text}");
        assert_eq!(link["mtu"], mtu, "{name}: {text}");
        let inet: Vec<(String, u64)> = link["addr_info"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["family"] == "inet")
            .map(|a| {
                (
                    a["local"].as_str().unwrap().to_string(),
                    a["prefixlen"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(inet, [("10.222.1.1".to_string(), 24)], "{name}: {text}");
        assert!(
            link["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
            "{name}: {text}"
        );
        // The switch's view of the port's MAC is the interface's.
        let show = sw.ok(&["show"]);
        assert!(
            show.contains("2(antrea-gw0): addr:4e:99:08:c1:53:be"),
            "{name}: {show}"
        );
        drop(sw);
    }
}
