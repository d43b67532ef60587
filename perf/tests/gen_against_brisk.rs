//! brisk-gen against `brisk run` over vhost-user (`--no-huge`), the way `perf/rig.sh` runs
//! them: the frontend pod opens TCP connections to backend1:80 with real handshakes, sends
//! data and gets ACKs back through the worker1 seed pipeline (conntrack, the NetworkPolicy
//! conjunctions). Every frame must come back, on the right port, with the bytes the seed's
//! flows say. Then the vhost-user peer goes away and comes back: brisk (the vhost-user
//! client) reconnects by itself and forwards the new peer's traffic.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const GEN: &str = env!("CARGO_BIN_EXE_brisk-gen");

/// The `brisk` binary of the same build (the workspace builds it for its own tests).
fn brisk() -> PathBuf {
    let p = Path::new(GEN).with_file_name("brisk");
    assert!(
        p.exists(),
        "{} not built: run `cargo build -p brisk` (cargo test --workspace does)",
        p.display()
    );
    p
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(path: &Path, secs: u64, child: &mut Child, what: &str) {
    let t = Instant::now();
    while !path.exists() {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("{what} exited early ({st})");
        }
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "{what}: no {path:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// EAL arguments both processes share (each adds its own file prefix).
const EAL: [&str; 8] = [
    "-l",
    "0",
    "--no-huge",
    "-m",
    "256",
    "--no-pci",
    "--no-telemetry",
    "--log-level=warning",
];

/// The tests take both cores (a generator and a switch each): one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Rig {
    dir: PathBuf,
    fe: PathBuf,
    be: PathBuf,
    /// Unique per test: DPDK file prefixes must not collide.
    tag: String,
}

impl Rig {
    fn new(name: &str) -> Rig {
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("brisk-gen-{name}-{pid}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fe = dir.join("fe.sock");
        let be = dir.join("be.sock");
        let flows = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/antrea-seed/worker1.flows"
        );
        std::fs::write(
            dir.join("bridge.yaml"),
            format!(
                r#"bridge: br-int
ports:
  - {{name: antrea-tun0, ofport: 1, type: geneve, options: {{remote_ip: flow, key: flow}}}}
  - {{name: antrea-gw0, ofport: 2, devargs: "net_null_gw,no-rx=1"}}
  - {{name: coredns--3e3abf, ofport: 3, devargs: "net_null_d,no-rx=1"}}
  - {{name: antrea-o-830766, ofport: 4, devargs: "net_null_o,no-rx=1"}}
  - {{name: backend1-bab86f, ofport: 48, devargs: "net_vhost1,iface={be},client=1,queues=1"}}
  - {{name: frontend-a3ba2f, ofport: 49, devargs: "net_vhost0,iface={fe},client=1,queues=1"}}
  - {{name: uplink, ofport: 7, devargs: "net_null_u,no-rx=1", uplink: {{ip: 10.79.1.201/24}}}}
tlv_map: ["{{class=0x104,type=0x80,len=4}}->tun_metadata0"]
flows: {flows}
"#,
                fe = fe.display(),
                be = be.display(),
            ),
        )
        .unwrap();
        Rig {
            dir,
            fe,
            be,
            tag: format!("{name}{pid}"),
        }
    }

    /// Starts brisk-gen (the vhost-user servers) at full rate and waits for its first socket.
    fn start_gen(&self, run: u32, packets: u64) -> Kill {
        self.start_gen_at(run, packets, "0")
    }

    /// Starts brisk-gen sending `mpps` per port (`0`: as fast as the ports take them).
    fn start_gen_at(&self, run: u32, packets: u64, mpps: &str) -> Kill {
        let _ = std::fs::remove_file(&self.fe);
        let _ = std::fs::remove_file(&self.be);
        let mut gen = Kill(
            Command::new(GEN)
                .args([
                    "run",
                    "--preset",
                    "antrea-tcp",
                    "--flows",
                    "200",
                    "--size",
                    "128",
                ])
                .arg("--packets")
                .arg(packets.to_string())
                .args(["--rate", mpps])
                .args(["--duration", "60", "--warmup", "1"])
                .arg("--json")
                .arg(self.dir.join(format!("gen{run}.json")))
                .arg("--port")
                .arg(format!(
                    "net_virtio_user0,path={},server=1",
                    self.fe.display()
                ))
                .arg("--port")
                .arg(format!(
                    "net_virtio_user1,path={},server=1",
                    self.be.display()
                ))
                .arg("--")
                .args(EAL)
                .arg("--single-file-segments")
                .arg(format!("--file-prefix=gt{}r{run}", self.tag))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start brisk-gen"),
        );
        // The first virtio-user server port waits in accept() before the second is created.
        wait_for(&self.fe, 30, &mut gen.0, "brisk-gen");
        gen
    }

    fn start_switch(&self) -> Kill {
        Kill(
            Command::new(brisk())
                .arg("run")
                .arg("--bridge")
                .arg(self.dir.join("bridge.yaml"))
                .arg("--socket")
                .arg(self.dir.join("ctl.sock"))
                .args(["--stats-interval", "0", "--"])
                .args(EAL)
                .arg(format!("--file-prefix=gs{}", self.tag))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start brisk run"),
        )
    }

    fn ctl(&self, args: &[&str]) -> String {
        let out = Command::new(brisk())
            .arg("ctl")
            .arg("--socket")
            .arg(self.dir.join("ctl.sock"))
            .args(args)
            .output()
            .expect("brisk ctl");
        assert!(out.status.success(), "brisk ctl {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Waits for brisk-gen to finish and checks its report: handshakes whole, < 1 % lost,
    /// nothing unexpected.
    fn finish_gen(&self, mut gen: Kill, run: u32, packets: u64) -> serde_json::Value {
        let t = Instant::now();
        let status = loop {
            if let Some(st) = gen.0.try_wait().unwrap() {
                break st;
            }
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "brisk-gen run {run} did not finish"
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        let mut err = String::new();
        std::io::Read::read_to_string(gen.0.stderr.as_mut().unwrap(), &mut err).unwrap();
        assert!(status.success(), "brisk-gen run {run} failed: {err}");
        for line in [
            "handshake: port 0 sent 200 SYN segments, 200 arrived",
            "handshake: port 1 sent 200 SYN-ACK segments, 200 arrived",
            "handshake: port 0 sent 200 ACK segments, 200 arrived",
        ] {
            assert!(err.contains(line), "run {run}: no '{line}' in:\n{err}");
        }
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.dir.join(format!("gen{run}.json"))).unwrap(),
        )
        .unwrap();
        let n = |k: &str| {
            report[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k} in {report}"))
        };
        assert!(n("tx_packets") >= packets, "{report}");
        assert!(
            n("rx_packets") * 100 >= n("tx_packets") * 99,
            "run {run}: more than 1 % lost: {report}"
        );
        assert_eq!(n("unexpected"), 0, "{report}");
        assert_eq!(n("unstamped"), 0, "{report}");
        assert_eq!(report["checked"], true);
        report
    }

    /// SIGTERM: the switch stops cleanly with every mbuf back.
    fn stop_switch(&self, mut sw: Kill) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(sw.0.id() as i32, libc::SIGTERM) };
        let st = sw.0.wait().unwrap();
        let mut serr = String::new();
        std::io::Read::read_to_string(sw.0.stderr.as_mut().unwrap(), &mut serr).unwrap();
        assert!(st.success(), "brisk run: {st}: {serr}");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn tcp_through_the_worker1_pipeline_over_vhost_user() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rig = Rig::new("tcp");
    let gen = rig.start_gen(1, 100_000);
    let sw = rig.start_switch();
    rig.finish_gen(gen, 1, 100_000);
    rig.stop_switch(sw);
}

#[test]
fn vhost_user_peer_restart() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rig = Rig::new("restart");
    let gen = rig.start_gen(1, 30_000);
    let sw = rig.start_switch();
    let first = rig.finish_gen(gen, 1, 30_000);
    // The peer is gone (its sockets closed with it). The same 200 connections open again
    // from the new peer: flush what conntrack remembers of the old ones, as a restarted
    // pod's connections are gone too.
    rig.ctl(&["flush-conntrack"]);
    std::thread::sleep(Duration::from_millis(500));
    let gen = rig.start_gen(2, 30_000);
    let second = rig.finish_gen(gen, 2, 30_000);
    println!(
        "before the restart: tx {} rx {}; after: tx {} rx {}",
        first["tx_packets"], first["rx_packets"], second["tx_packets"], second["rx_packets"]
    );
    let ports = rig.ctl(&["dump-ports"]);
    assert!(ports.contains("frontend-a3ba2f"), "{ports}");
    rig.stop_switch(sw);
}

/// `replace-flows` under load, ten times while 200,000 frames cross the pipeline at a rate
/// the switch sustains: every replace keeps the 76 seed flows (and swaps one flow no
/// traffic uses in or out), and not one frame of the connections is lost.
#[test]
fn replace_flows_under_load_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rig = Rig::new("replace");
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/antrea-seed/worker1.flows"
    ))
    .unwrap();
    let plain = rig.dir.join("plain.flows");
    let extra = rig.dir.join("extra.flows");
    std::fs::write(&plain, &seed).unwrap();
    std::fs::write(
        &extra,
        format!("{seed}\ntable=200, priority=1, ip, nw_dst=192.0.2.1 actions=drop\n"),
    )
    .unwrap();
    // 20 kpps per port, 200,000 frames: 5 s (a debug build keeps up with that).
    let gen = rig.start_gen_at(1, 200_000, "0.02");
    let sw = rig.start_switch();
    // Until the generator's connections are up.
    let t = Instant::now();
    let established = || {
        Command::new(brisk())
            .arg("ctl")
            .arg("--socket")
            .arg(rig.dir.join("ctl.sock"))
            .arg("dump-conntrack")
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .matches("ESTABLISHED")
                    .count()
            })
            .unwrap_or(0)
    };
    while established() < 200 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "connections not established"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The generator measures 1 s after its handshakes: replace from then on.
    std::thread::sleep(Duration::from_millis(1200));
    let mut replies = Vec::new();
    for i in 0..10 {
        let f = if i % 2 == 0 { &extra } else { &plain };
        replies.push(rig.ctl(&["replace-flows", f.to_str().unwrap()]));
        std::thread::sleep(Duration::from_millis(200));
    }
    let report = rig.finish_gen(gen, 1, 200_000);
    let drops = rig.ctl(&["drop-stats"]);
    println!(
        "$ brisk ctl pmd-stats\n{}$ brisk ctl dump-flows table=90\n{}",
        rig.ctl(&["pmd-stats"]),
        rig.ctl(&["dump-flows", "table=90"])
    );
    println!(
        "replace-flows x10 under load: tx {} rx {} lost {}; {}",
        report["tx_packets"],
        report["rx_packets"],
        report["lost"],
        replies[0].trim()
    );
    assert!(
        replies[0].contains("1 added, 0 modified, 0 deleted, 76 unchanged"),
        "{replies:?}"
    );
    assert!(
        replies[1].contains("0 added, 0 modified, 1 deleted, 76 unchanged"),
        "{replies:?}"
    );
    // Frames sent before the measurement may arrive in it: rx can exceed tx, never less.
    assert_eq!(report["lost"], 0, "{report}\n{drops}");
    assert!(
        report["rx_packets"].as_u64() >= report["tx_packets"].as_u64(),
        "{report}"
    );
    rig.stop_switch(sw);
}
