//! Open vSwitch as the reference and its `ovs-ofctl` as the client, for the OpenFlow tests:
//! brisk started with a seed node's ports on null devices, OVS's userspace switch with the
//! same ports (dummy), and `ovs-ofctl` runs and dumps against either.

use super::{Scratch, Switch};
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const TLV: &str = "{class=0x104,type=0x80,len=4}->tun_metadata0";

pub fn have_ovs() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let bins = Path::new("/usr/lib/openvswitch-switch/ovs-vswitchd").exists()
        && Command::new("ovs-ofctl").arg("--version").output().is_ok();
    if !root || !bins {
        eprintln!("openflow_ofctl: skipped (needs root and openvswitch-switch: scripts/deps.sh)");
    }
    root && bins
}

/// The ports of a seed node: (name, ofport).
pub fn node_ports(node: &str) -> Vec<(&'static str, u32)> {
    let mut p = vec![("antrea-tun0", 1), ("antrea-gw0", 2), ("uplink", 7)];
    if node == "worker1" {
        p.extend([
            ("coredns--3e3abf", 3),
            ("antrea-o-830766", 4),
            ("backend1-bab86f", 48),
            ("frontend-a3ba2f", 49),
        ]);
    } else {
        p.extend([("coredns--d8f62c", 3), ("backend2-202ff6", 35)]);
    }
    p
}

/// brisk on null devices with a node's ports and no flows; `extra` adds `brisk run` args.
pub fn brisk(node: &str, tag: &str, extra: &[&str]) -> Switch {
    brisk_yaml(node, tag, extra, "")
}

/// [`brisk`], with `more_yaml` appended to the bridge file.
pub fn brisk_yaml(node: &str, tag: &str, extra: &[&str], more_yaml: &str) -> Switch {
    let dir = Scratch::new(&format!("of-{tag}-{node}"));
    let mut yaml = String::from("bridge: br-int\nports:\n");
    for (name, ofport) in node_ports(node) {
        if name == "antrea-tun0" {
            yaml += "  - {name: antrea-tun0, ofport: 1, type: geneve, options: {remote_ip: flow, key: flow}}\n";
        } else if name == "uplink" {
            yaml += "  - {name: uplink, ofport: 7, devargs: \"net_null_up,no-rx=1\", uplink: {ip: 10.79.1.201/24}}\n";
        } else {
            yaml += &format!(
                "  - {{name: {name}, ofport: {ofport}, devargs: \"net_null_{ofport},no-rx=1\"}}\n"
            );
        }
    }
    yaml += &format!("tlv_map: [\"{TLV}\"]\n");
    yaml += more_yaml;
    let bridge = dir.file("bridge.yaml", &yaml);
    let mut args: Vec<&std::ffi::OsStr> = vec!["--bridge".as_ref(), bridge.as_ref()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    Switch::start(
        dir,
        &args,
        &super::eal("0-1", 256, &format!("of-{tag}-{node}")),
        None,
    )
}

pub fn mgmt(sw: &Switch) -> String {
    format!("unix:{}", sw.dir.join("br-int.mgmt").display())
}

/// Open vSwitch's userspace switch with dummy ports, in a directory of its own; stopped
/// when dropped.
pub struct Ovs {
    pub dir: Scratch,
    /// ovs-vswitchd's and ovsdb-server's pids, read once they run (the directory may be
    /// gone by the time the test ends).
    pids: Vec<i32>,
}

impl Ovs {
    pub fn start(node: &str, tag: &str) -> Ovs {
        let dir = Scratch::new(&format!("ovsref-{tag}-{node}"));
        let d = dir.0.display().to_string();
        let run = |args: &[&str]| {
            let o = Command::new(args[0])
                .args(&args[1..])
                .envs([("OVS_RUNDIR", &d), ("OVS_DBDIR", &d), ("OVS_LOGDIR", &d)])
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        let db = format!("{d}/conf.db");
        run(&[
            "ovsdb-tool",
            "create",
            &db,
            "/usr/share/openvswitch/vswitch.ovsschema",
        ]);
        run(&[
            "ovsdb-server",
            &db,
            &format!("--remote=punix:{d}/db.sock"),
            &format!("--pidfile={d}/ovsdb-server.pid"),
            &format!("--unixctl={d}/ovsdb-server.ctl"),
            &format!("--log-file={d}/ovsdb-server.log"),
            "--detach",
        ]);
        let vsctl = format!("--db=unix:{d}/db.sock");
        run(&["ovs-vsctl", &vsctl, "--no-wait", "init"]);
        run(&[
            "/usr/lib/openvswitch-switch/ovs-vswitchd",
            &format!("unix:{d}/db.sock"),
            "--enable-dummy=override",
            "--disable-system",
            &format!("--pidfile={d}/ovs-vswitchd.pid"),
            &format!("--unixctl={d}/vswitchd.ctl"),
            &format!("--log-file={d}/ovs-vswitchd.log"),
            "--detach",
        ]);
        let mut add = vec![
            "ovs-vsctl".to_string(),
            vsctl.clone(),
            "--timeout=30".into(),
            "add-br".into(),
            "br-int".into(),
            "--".into(),
            "set".into(),
            "bridge".into(),
            "br-int".into(),
            "datapath_type=dummy".into(),
            "fail-mode=secure".into(),
            "protocols=OpenFlow10,OpenFlow13,OpenFlow14,OpenFlow15".into(),
        ];
        for (name, ofport) in node_ports(node) {
            add.extend(
                [
                    "--",
                    "add-port",
                    "br-int",
                    name,
                    "--",
                    "set",
                    "interface",
                    name,
                    "type=dummy",
                ]
                .map(String::from),
            );
            add.push(format!("ofport_request={ofport}"));
        }
        let add: Vec<&str> = add.iter().map(String::as_str).collect();
        run(&add);
        let pids = ["ovs-vswitchd.pid", "ovsdb-server.pid"]
            .iter()
            .filter_map(|p| std::fs::read_to_string(dir.join(p)).ok())
            .filter_map(|p| p.trim().parse().ok())
            .collect();
        let ovs = Ovs { dir, pids };
        ofctl_ok(&["add-tlv-map", &ovs.mgmt(), TLV]);
        ovs
    }

    pub fn mgmt(&self) -> String {
        format!("unix:{}", self.dir.join("br-int.mgmt").display())
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        for &pid in &self.pids {
            // SAFETY: signalling a process this test started.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn ofctl(args: &[&str]) -> (bool, String) {
    let o = Command::new("ovs-ofctl").args(args).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

pub fn ofctl_ok(args: &[&str]) -> String {
    let (ok, text) = ofctl(args);
    assert!(ok, "ovs-ofctl {args:?}: {text}");
    text
}

/// `ovs-ofctl -O VERSION dump-flows`, without the counters that differ between switches
/// (durations, ages), sorted.
pub fn dump(version: &str, target: &str) -> Vec<String> {
    let text = ofctl_ok(&["-O", version, "--names", "dump-flows", target]);
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with("OFPST_FLOW") && !l.trim().is_empty())
        .map(|l| {
            // Ages differ between switches: `idle_age=` may follow a flag (`reset_counts
            // idle_age=0`), so words are dropped, not whole fields.
            l.split(", ")
                .map(|f| {
                    f.split(' ')
                        .filter(|w| !w.starts_with("duration=") && !w.starts_with("idle_age="))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .filter(|f| !f.trim().is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    lines.sort();
    lines
}

pub fn same_dumps(brisk: &str, ovs: &str, what: &str) -> usize {
    let mut n = 0;
    for v in ["OpenFlow13", "OpenFlow14", "OpenFlow15"] {
        let (b, o) = (dump(v, brisk), dump(v, ovs));
        assert_eq!(b, o, "{what}: {v} dumps of brisk and OVS differ");
        n = b.len();
    }
    n
}

/// An OpenFlow message: header (`version`, `ty`, `xid`, length) and body.
pub fn of_msg(version: u8, ty: u8, xid: u32, body: &[u8]) -> Vec<u8> {
    let mut m = vec![version, ty, 0, 0];
    m.extend_from_slice(&xid.to_be_bytes());
    m.extend_from_slice(body);
    let n = m.len() as u16;
    m[2..4].copy_from_slice(&n.to_be_bytes());
    m
}

/// The next whole message from a raw connection.
pub fn read_msg(s: &mut UnixStream) -> Vec<u8> {
    let mut h = [0u8; 8];
    s.read_exact(&mut h).unwrap();
    let n = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let mut m = h.to_vec();
    m.resize(n, 0);
    s.read_exact(&mut m[8..]).unwrap();
    m
}

/// `ovs-ofctl -O OpenFlow15 monitor TARGET 128` (a service connection asks for
/// asynchronous messages with a miss length), given half a second to connect.
pub fn monitor(target: &str, rundir: &Path) -> Child {
    let mon = Command::new("ovs-ofctl")
        .args(["-O", "OpenFlow15", "monitor", target, "128"])
        .env("OVS_RUNDIR", rundir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    mon
}

/// Stops a [`monitor`] and returns what it printed (it prints messages on standard error).
pub fn monitor_output(mon: Child) -> String {
    // SAFETY: signalling the monitor this test started.
    unsafe { libc::kill(mon.id() as i32, libc::SIGTERM) };
    let out = mon.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Whether os-ken (the PyPI OpenFlow controller `scripts/deps.sh` installs) imports.
pub fn have_osken() -> bool {
    Command::new("python3")
        .args(["-c", "import os_ken"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `tests/osken_controller.py MODE PORT` (`connect` to a brisk listener, or `listen` for
/// brisk), inside network namespace `netns` if given, output piped.
pub fn osken(mode: &str, port: u16, netns: Option<&str>) -> Command {
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/osken_controller.py");
    let mut c = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "python3"]);
            c
        }
        None => Command::new("python3"),
    };
    c.arg(script)
        .args([mode, &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Each port's transmitted packets, from `ovs-ofctl dump-ports`.
pub fn tx_packets(target: &str) -> std::collections::BTreeMap<String, u64> {
    let text = ofctl_ok(&["-O", "OpenFlow13", "dump-ports", target]);
    let mut out = std::collections::BTreeMap::new();
    let mut port = String::new();
    for l in text.lines() {
        let l = l.trim();
        if let Some(rest) = l.strip_prefix("port") {
            port = rest.split(':').next().unwrap_or("").trim().to_string();
        } else if let Some(rest) = l.strip_prefix("tx pkts=") {
            let n = rest.split(',').next().unwrap().trim();
            out.insert(port.clone(), n.parse().unwrap_or(0));
        }
    }
    out
}
