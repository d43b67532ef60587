//! brisk-gen (this build's) driving brisk through two vhost-user ports: brisk-gen's
//! virtio-user servers are brisk's ofports 1 and 2, and what it sends from its port 0 (and,
//! with `both`, back from port 1) crosses brisk's flows; its JSON report counts every frame.

use super::{eal, Scratch, Switch, BRISK};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// brisk-gen of the same build (`cargo test --workspace` builds it for perf's tests).
pub fn gen_bin() -> PathBuf {
    let p = Path::new(BRISK).with_file_name("brisk-gen");
    assert!(
        p.exists(),
        "{} not built (cargo build -p perf)",
        p.display()
    );
    p
}

/// A running brisk-gen and the brisk it sends through.
pub struct GenRun {
    /// brisk-gen's sockets and report, brisk's bridge and flows.
    pub dir: Scratch,
    gen: Option<Child>,
    /// The switch.
    pub sw: Switch,
}

impl GenRun {
    /// brisk-gen sends `secs` s of `size`-byte UDP frames at `mpps` from port 0 (and port
    /// 1 with `both`) while brisk runs `flows` (between ofports 1 and 2).
    pub fn start(tag: &str, flows: &str, mpps: &str, secs: u32, size: u32, both: bool) -> GenRun {
        Self::start_with(tag, flows, mpps, secs, size, both, &["--flows", "16"])
    }

    /// [`GenRun::start`] with brisk-gen's flow options (`--flows N`, `--vary I:FIELD`).
    pub fn start_with(
        tag: &str,
        flows: &str,
        mpps: &str,
        secs: u32,
        size: u32,
        both: bool,
        flow_args: &[&str],
    ) -> GenRun {
        let dir = Scratch::new(&format!("gen-{tag}"));
        let sock = |i: u32| dir.join(format!("gen-{i}.sock"));
        let id = std::process::id() % 100_000;
        let mut cmd = Command::new(gen_bin());
        cmd.arg("run").args(["--tx", "0:udp,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=1000,tp_dst=53"]);
        if both {
            cmd.args(["--tx", "1:udp,dl_src=02:00:00:00:00:02,dl_dst=02:00:00:00:00:01,nw_src=10.0.0.2,nw_dst=10.0.0.1,tp_src=53,tp_dst=1000"]);
        }
        cmd.args(flow_args)
            .args(["--size", &size.to_string(), "--rate", mpps])
            .args(["--warmup", "0", "--wait-link", "60"])
            .args(["--duration", &secs.to_string(), "--json"])
            .arg(dir.join("gen.json"))
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
            .args([
                "--",
                "-l",
                "0",
                "--no-huge",
                "-m",
                "256",
                "--no-pci",
                "--no-telemetry",
            ])
            .args(["--log-level=warning", "--single-file-segments"])
            .arg(format!("--file-prefix=g{tag}{id}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let gen = cmd.spawn().expect("start brisk-gen");
        let t = Instant::now();
        while !sock(0).exists() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "brisk-gen: no socket"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let flows = dir.file("gen.flows", flows);
        let yaml = dir.file(
            "bridge.yaml",
            &format!(
                "bridge: br-int\nflows: {flows}\nports:\n  - {{name: a, ofport: 1, devargs: \"net_vhost0,iface={},client=1,queues=1\"}}\n  - {{name: b, ofport: 2, devargs: \"net_vhost1,iface={},client=1,queues=1\"}}\n",
                sock(0).display(),
                sock(1).display()
            ),
        );
        let sw = Switch::start(
            Scratch::new(&format!("gen-{tag}-sw")),
            &[std::ffi::OsStr::new("--bridge"), yaml.as_ref()],
            &eal("0-1", 256, &format!("s{tag}{id}")),
            None,
        );
        GenRun {
            dir,
            gen: Some(gen),
            sw,
        }
    }

    /// Waits for brisk-gen; returns its report (`tx_packets`, `rx_packets`, `seconds`...).
    pub fn finish(&mut self) -> serde_json::Value {
        let gen = self.gen.take().expect("finished once");
        let out = gen.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "brisk-gen: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim());
        serde_json::from_str(&std::fs::read_to_string(self.dir.join("gen.json")).unwrap()).unwrap()
    }
}

impl Drop for GenRun {
    fn drop(&mut self) {
        if let Some(mut g) = self.gen.take() {
            let _ = g.kill();
            let _ = g.wait();
        }
    }
}
