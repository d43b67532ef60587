//! brisk-gen against `brisk run` over vhost-user (`--no-huge`), the way `perf/rig.sh` runs
//! them: the frontend pod opens TCP connections to backend1:80 with real handshakes, sends
//! data and gets ACKs back through the worker1 seed pipeline (conntrack, the NetworkPolicy
//! conjunctions). Every frame must come back, on the right port, with the bytes the seed's
//! flows say.

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

#[test]
fn tcp_through_the_worker1_pipeline_over_vhost_user() {
    let dir = std::env::temp_dir().join(format!("brisk-gen-test-{}", std::process::id()));
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
    let pid = std::process::id();
    let json = dir.join("gen.json");
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
            .args(["--packets", "100000", "--duration", "60", "--warmup", "1"])
            .arg("--json")
            .arg(&json)
            .arg("--port")
            .arg(format!("net_virtio_user0,path={},server=1", fe.display()))
            .arg("--port")
            .arg(format!("net_virtio_user1,path={},server=1", be.display()))
            .args([
                "--",
                "-l",
                "0",
                "--no-huge",
                "-m",
                "256",
                "--single-file-segments",
            ])
            .args(["--no-pci", "--no-telemetry", "--log-level=warning"])
            .arg(format!("--file-prefix=gt{pid}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start brisk-gen"),
    );
    // The first virtio-user server port waits in accept() before the second is created.
    wait_for(&fe, 30, &mut gen.0, "brisk-gen");
    let mut sw = Kill(
        Command::new(brisk())
            .arg("run")
            .arg("--bridge")
            .arg(dir.join("bridge.yaml"))
            .arg("--socket")
            .arg(dir.join("ctl.sock"))
            .args([
                "--stats-interval",
                "0",
                "--",
                "-l",
                "0",
                "--no-huge",
                "-m",
                "256",
            ])
            .args(["--no-pci", "--no-telemetry", "--log-level=warning"])
            .arg(format!("--file-prefix=gs{pid}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start brisk run"),
    );
    let t = Instant::now();
    let status = loop {
        if let Some(st) = gen.0.try_wait().unwrap() {
            break st;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "brisk-gen did not finish"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(gen.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "brisk-gen failed: {err}");
    for line in [
        "handshake: port 0 sent 200 SYN segments, 200 arrived",
        "handshake: port 1 sent 200 SYN-ACK segments, 200 arrived",
        "handshake: port 0 sent 200 ACK segments, 200 arrived",
    ] {
        assert!(err.contains(line), "no '{line}' in:\n{err}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let n = |k: &str| {
        report[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {report}"))
    };
    assert!(n("tx_packets") >= 100_000, "{report}");
    assert!(
        n("rx_packets") * 100 >= n("tx_packets") * 99,
        "more than 1 % lost: {report}"
    );
    assert_eq!(n("unexpected"), 0, "{report}");
    assert_eq!(n("unstamped"), 0, "{report}");
    assert_eq!(report["checked"], true);
    // The switch stops cleanly with every mbuf back.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(sw.0.id() as i32, libc::SIGTERM) };
    let st = sw.0.wait().unwrap();
    let mut serr = String::new();
    std::io::Read::read_to_string(sw.0.stderr.as_mut().unwrap(), &mut serr).unwrap();
    assert!(st.success(), "brisk run: {st}: {serr}");
    let _ = std::fs::remove_dir_all(&dir);
}
