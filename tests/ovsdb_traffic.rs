//! brisk following Debian's `ovsdb-server` under brisk-gen's traffic. Two
//! `dpdkvhostuserclient` interfaces made by `ovs-vsctl` carry UDP both ways between
//! brisk-gen's virtio-user ports, counted frame by frame, while:
//! - other ports come and go (veth `system` ports, an `internal` port, a DPDK `net_tap`
//!   port) and bad rows land in the `error` column: not one frame lost;
//! - `ovsdb-server` is killed and started again: not one frame lost, and brisk follows the
//!   new server;
//! - on a clustered database (ovsdb-server keeps its transaction history) the server drops
//!   every client: brisk resumes with `monitor_cond_since` from the last transaction it saw,
//!   gets only what changed meanwhile, applies it, and loses no frame.

mod common;

use common::ofctl::have_ovs;
use common::ovsdb::{brisk, ok, sh, Db, Running};
use common::{Scratch, BRISK};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// brisk-gen of the same build (`cargo test --workspace` builds it for perf's tests).
fn gen_bin() -> PathBuf {
    let p = Path::new(BRISK).with_file_name("brisk-gen");
    assert!(
        p.exists(),
        "{} not built: run `cargo build -p perf --bin brisk-gen` (cargo test --workspace does)",
        p.display()
    );
    p
}

/// Frames per second each brisk-gen port sends: low enough that a switch worker sharing
/// a 2-core machine with the generator, ovsdb-server and ovs-vsctl never finds a ring
/// full (1,024 descriptors: 100 ms of traffic).
const RATE_MPPS: &str = "0.01";

/// Each test takes both cores (a generator and a switch worker): one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Node {
    /// The switch's port counters and drops when the last run ended (for a failure's
    /// message: where frames were lost).
    last_counters: std::cell::RefCell<String>,
    dir: Scratch,
    db: Db,
    ns: String,
    sw: Running,
    tag: String,
}

impl Node {
    fn start(name: &str, clustered: bool) -> Node {
        let dir = Scratch::new(name);
        let db = if clustered {
            Db::create_clustered(&dir.0)
        } else {
            Db::create(&dir.0)
        };
        let tag = format!("{}{}", &name[..1], std::process::id() % 100_000);
        db.vsctl(&format!(
            "--no-wait set Open_vSwitch . other_config:pmd-cpu-mask=0x2 \
             other_config:dpdk-extra=\"--no-huge -m 256 --no-pci --no-telemetry --log-level=warning --file-prefix=bt{tag}\""
        ));
        let ns = format!("bt{tag}");
        let _ = sh(&format!("ip netns del {ns}"));
        ok(&format!("ip netns add {ns} && ip -n {ns} link set lo up"));
        let sw = brisk(&db, &ns, &dir.0);
        db.vsctl("add-br br-int -- set Bridge br-int datapath_type=netdev fail_mode=secure");
        Node {
            last_counters: Default::default(),
            dir,
            db,
            ns,
            sw,
            tag,
        }
    }

    fn mgmt(&self) -> String {
        format!("unix:{}", self.dir.join("br-int.mgmt").display())
    }

    /// brisk-gen's two virtio-user servers, brisk's two vhost-user clients on them (ofport
    /// 10·run and 10·run + 1), and flows crossing them; returns brisk-gen sending `secs`
    /// seconds of UDP each way after a second's warmup.
    fn traffic(&self, run: u32, secs: u32) -> Child {
        let sock = |i: u32| self.dir.join(format!("gen{run}-{i}.sock"));
        let gen = Command::new(gen_bin())
            .arg("run")
            .args(["--tx", "0:udp,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=1000,tp_dst=53"])
            .args(["--tx", "1:udp,dl_src=02:00:00:00:00:02,dl_dst=02:00:00:00:00:01,nw_src=10.0.0.2,nw_dst=10.0.0.1,tp_src=53,tp_dst=1000"])
            .args(["--flows", "16", "--size", "128", "--rate", RATE_MPPS, "--warmup", "1"])
            .args(["--duration", &secs.to_string()])
            .arg("--json")
            .arg(self.dir.join(format!("gen{run}.json")))
            .arg("--port")
            .arg(format!(
                "net_virtio_user0,path={},server=1,queue_size=1024",
                sock(0).display()
            ))
            .arg("--port")
            .arg(format!(
                "net_virtio_user1,path={},server=1,queue_size=1024",
                sock(1).display()
            ))
            .args(["--", "-l", "0", "--no-huge", "-m", "256", "--no-pci", "--no-telemetry"])
            .args(["--log-level=warning", "--single-file-segments"])
            .arg(format!("--file-prefix=btg{}r{run}", self.tag))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start brisk-gen");
        // The flows first: brisk-gen sends once both links are up. A vhost-user peer's link
        // is up as brisk configures the device, a moment before the port is in the bridge
        // and on the workers (OVS's netdev-dpdk has the same moment), so what brisk-gen
        // sends in that moment may be lost: the measurement starts a second later (this
        // returns once both ports are added, the callers' events come 1.5 s after), and
        // counts only frames sent in it, so sent = received means none lost.
        let (a, b) = (10 * run, 10 * run + 1);
        ok(&format!(
            "ovs-ofctl add-flow {m} in_port={a},actions=output:{b} && ovs-ofctl add-flow {m} in_port={b},actions=output:{a}",
            m = self.mgmt()
        ));
        for i in 0..2u32 {
            // A virtio-user server waits for its client before the next port is created.
            let t = Instant::now();
            while !sock(i).exists() {
                assert!(
                    t.elapsed() < Duration::from_secs(30),
                    "brisk-gen: no {:?}",
                    sock(i)
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            let name = format!("g{run}{i}");
            self.db.vsctl(&format!(
                "add-port br-int {name} -- set Interface {name} type=dpdkvhostuserclient \
                 options:vhost-server-path={} ofport_request={}",
                sock(i).display(),
                10 * run + i
            ));
        }
        gen
    }

    /// Waits for brisk-gen; returns (sent, received) after checking that it measured.
    fn finish(&self, run: u32, gen: Child) -> (u64, u64) {
        let out = gen.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "brisk-gen run {run}: {err}");
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.dir.join(format!("gen{run}.json"))).unwrap(),
        )
        .unwrap();
        let n = |k: &str| {
            report[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k}: {report}"))
        };
        eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim());
        assert!(n("tx_packets") > 30_000, "{report}");
        let ports = sh(&format!("ovs-ofctl dump-ports {}", self.mgmt()));
        let drops = common::text(&common::ctl(&self.dir.join("brisk.sock"), &["drop-stats"]));
        *self.last_counters.borrow_mut() = format!(
            "{}\n{}\nbrisk-gen: {report}",
            String::from_utf8_lossy(&ports.stdout),
            drops
        );
        for i in 0..2 {
            self.db.vsctl(&format!("del-port br-int g{run}{i}"));
        }
        (n("tx_packets"), n("rx_packets"))
    }

    fn log(&self) -> String {
        let raw = std::fs::read_to_string(self.dir.join("brisk.log")).unwrap_or_default();
        // Without tracing's colours.
        let mut out = String::with_capacity(raw.len());
        let mut esc = false;
        for c in raw.chars() {
            match (esc, c) {
                (false, '\x1b') => esc = true,
                (true, 'm') => esc = false,
                (true, _) => {}
                (false, c) => out.push(c),
            }
        }
        out
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // The switch first, then its namespaces.
        let _ = self.sw.kill();
        let _ = self.sw.wait();
        for k in 1..=2 {
            let _ = sh(&format!("ip netns del btp{k}{}", self.tag));
        }
        let _ = sh(&format!("ip netns del {}", self.ns));
    }
}

#[test]
fn no_frame_lost_while_ports_churn_and_ovsdb_server_restarts() {
    if !have_ovs() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut node = Node::start("churn", false);
    let db = &node.db;
    // Veth pairs into the switch's namespace: `system` ports to add and remove.
    for k in 1..=2 {
        let pod = format!("btp{k}{}", node.tag);
        let _ = sh(&format!("ip netns del {pod}"));
        ok(&format!(
            "ip netns add {pod} && ip link add btv{k} netns {ns} type veth peer name eth0 netns {pod} && \
             ip -n {ns} link set btv{k} up && ip -n {pod} link set eth0 up",
            ns = node.ns
        ));
    }

    // Ports come and go, and bad rows arrive, while traffic crosses two others.
    let gen = node.traffic(1, 6);
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    db.vsctl("add-port br-int btv1");
    db.vsctl("add-port br-int btv2 -- set Interface btv2 ofport_request=31");
    db.vsctl("add-port br-int gw -- set Interface gw type=internal");
    db.vsctl(&format!(
        "add-port br-int dtap -- set Interface dtap type=dpdk options:dpdk-devargs=net_tap_bt,iface=bttap{}",
        node.tag
    ));
    db.vsctl("add-port br-int weird -- set Interface weird type=vxlan9");
    db.vsctl("add-port br-int dup -- set Interface dup type=internal ofport_request=31");
    db.vsctl("del-port br-int btv1");
    db.vsctl("del-port br-int dtap");
    db.vsctl("del-port br-int gw");
    db.vsctl("add-port br-int btv1");
    let churn = t.elapsed();
    let (sent, got) = node.finish(1, gen);
    eprintln!(
        "port churn: 10 ovs-vsctl changes in {:.0} ms under traffic: sent {sent}, received {got}",
        churn.as_secs_f64() * 1e3
    );
    assert_eq!(
        sent,
        got,
        "frames lost while ports came and went:\n{}",
        node.last_counters.borrow()
    );
    assert_eq!(db.vsctl("get Interface btv2 ofport").trim(), "31");
    assert_eq!(db.vsctl("get Interface dup ofport").trim(), "-1");
    assert!(db
        .vsctl("get Interface weird error")
        .contains("unknown interface type"));

    // ovsdb-server killed and started again under traffic.
    let gen = node.traffic(2, 6);
    std::thread::sleep(Duration::from_millis(1500));
    node.db.kill();
    std::thread::sleep(Duration::from_millis(1500));
    node.db.start();
    // Followed again: a change made after the restart is applied.
    node.db.vsctl("del-port br-int btv2");
    let (sent, got) = node.finish(2, gen);
    eprintln!("ovsdb-server restart under traffic: sent {sent}, received {got}");
    assert_eq!(
        sent,
        got,
        "frames lost while ovsdb-server restarted:\n{}",
        node.last_counters.borrow()
    );
    let show = ok(&format!("ovs-ofctl show {}", node.mgmt()));
    assert!(
        !show.contains("(btv2)") && show.contains("(btv1)"),
        "{show}"
    );
}

#[test]
fn a_reconnection_resumes_from_the_last_transaction() {
    if !have_ovs() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = Node::start("resume", true);
    let db = &node.db;
    // ovsdb-server keeps as many atoms of history as the database holds: a node's database
    // (a port row per pod, each with Antrea's external_ids) holds thousands; this one gets
    // that size from a QoS row nobody changes.
    let pad: Vec<String> = (0..1000)
        .map(|k| format!("other_config:pad{k}=x"))
        .collect();
    db.vsctl(&format!(
        "--no-wait create QoS type=linux-htb {}",
        pad.join(" ")
    ));
    db.vsctl("add-port br-int gw -- set Interface gw type=internal ofport_request=5");
    let gen = node.traffic(1, 5);
    std::thread::sleep(Duration::from_millis(1500));
    // The server drops every client; changes land before brisk is back (its first retry
    // waits a second).
    db.appctl("ovsdb-server/reconnect");
    db.vsctl("--no-wait set Interface gw ofport_request=6");
    db.vsctl("--no-wait add-port br-int gw2 -- set Interface gw2 type=internal");
    let t = Instant::now();
    while !node
        .log()
        .contains("following the database again from transaction")
    {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "brisk did not resume from its last transaction: {}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    db.vsctl("--timeout=10 wait-until Interface gw ofport=6");
    db.vsctl("--timeout=10 wait-until Interface gw2 ofport!=-1");
    let (sent, got) = node.finish(1, gen);
    eprintln!("ovsdb-server/reconnect under traffic, resumed: sent {sent}, received {got}");
    assert_eq!(
        sent,
        got,
        "frames lost while brisk resumed:\n{}",
        node.last_counters.borrow()
    );
    let show = ok(&format!("ovs-ofctl show {}", node.mgmt()));
    assert!(show.contains(" 6(gw)") && show.contains("(gw2)"), "{show}");
}
