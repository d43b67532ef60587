//! `brisk run --config` on the worker1 example (its devargs swapped for replay and sink
//! vdevs), then `brisk ctl reload` adding one pod and removing another under traffic: the
//! other pods' traffic and connections carry on.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BRISK: &str = env!("CARGO_BIN_EXE_brisk");

struct Switch {
    child: Child,
    socket: PathBuf,
    dir: PathBuf,
}

impl Switch {
    fn ctl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(BRISK)
            .arg("ctl")
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run brisk ctl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.ctl(args);
        assert!(ok, "brisk ctl {args:?} failed: {text}");
        text
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn counter(text: &str, port: &str, dir: &str) -> u64 {
    let i = text
        .find(&format!("({port})"))
        .unwrap_or_else(|| panic!("{port} in {text}"));
    let rest = &text[i..];
    let key = format!("{dir} pkts=");
    let j = rest.find(&key).unwrap();
    rest[j + key.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

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
    let dir = std::env::temp_dir().join(format!("brisk-node-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
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
    std::fs::write(
        dir.join("fe.pcap"),
        perf::pcap::encode(frames.iter().map(Vec::as_slice)),
    )
    .unwrap();
    std::fs::write(dir.join("node.yaml"), node_yaml(&dir, false, true)).unwrap();
    std::fs::write(dir.join("node2.yaml"), node_yaml(&dir, true, false)).unwrap();
    let socket = dir.join("brisk.sock");
    let child = Command::new(BRISK)
        .args(["run", "--config"])
        .arg(dir.join("node.yaml"))
        .arg("--socket")
        .arg(&socket)
        .args([
            "--",
            "-l",
            "0-1",
            "--no-huge",
            "-m",
            "512",
            "--no-pci",
            "--no-telemetry",
        ])
        .arg(format!("--file-prefix=brisk-node-{}", std::process::id()))
        .arg("--log-level=warning")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start brisk");
    let sw = Switch { child, socket, dir };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sw.socket.exists() {
        assert!(Instant::now() < deadline, "brisk did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
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
        node_yaml(&sw.dir, true, false).replace("ip: 10.222.1.50", "ip: 10.222.9.50"),
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
