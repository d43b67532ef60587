//! What the end-to-end tests share: a scratch directory, `brisk run` started on DPDK's
//! test devices (no hugepages, no PCI, a file prefix of its own) and waited for until its
//! control socket answers, `brisk ctl` against it, and a clean stop. Each test file takes
//! it with `mod common;` and uses what it needs.

#![allow(dead_code)]

pub mod gen;
pub mod ofctl;
pub mod ovsdb;

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The `brisk` binary of this build.
pub const BRISK: &str = env!("CARGO_BIN_EXE_brisk");

/// A directory of the test's own under the system's temporary directory
/// (`brisk-NAME-PID`, emptied first), removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("brisk-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }

    /// Writes `text` to the file `name` in the directory; returns its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// EAL arguments of a test switch on `lcores` with `mem_mb` MiB of ordinary memory and the
/// file prefix `brisk-PREFIX-PID`, so that switches of other tests do not collide.
pub fn eal(lcores: &str, mem_mb: u32, prefix: &str) -> Vec<String> {
    [
        "-l",
        lcores,
        "--no-huge",
        "-m",
        &mem_mb.to_string(),
        "--no-pci",
        "--no-telemetry",
        "--log-level=warning",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!(
        "--file-prefix=brisk-{prefix}-{}",
        std::process::id()
    )])
    .collect()
}

/// `brisk run ARGS --socket SOCKET -- EAL`, inside the network namespace `netns` if given,
/// standard output and error piped.
pub fn run_command(args: &[&OsStr], socket: &Path, eal: &[String], netns: Option<&str>) -> Command {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, BRISK]);
            c
        }
        None => Command::new(BRISK),
    };
    cmd.arg("run")
        .args(args)
        .arg("--socket")
        .arg(socket)
        .arg("--")
        .args(eal)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// `brisk ctl --socket SOCKET ARGS`.
pub fn ctl(socket: &Path, args: &[&str]) -> Output {
    Command::new(BRISK)
        .arg("ctl")
        .arg("--socket")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run brisk ctl")
}

/// A command's standard output then its standard error.
pub fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// A running `brisk run` with its scratch directory: killed (SIGKILL) if still running
/// when dropped, then the directory removed.
pub struct Switch {
    pub child: Child,
    pub socket: PathBuf,
    pub dir: Scratch,
}

/// How a switch ended after [`Switch::stop`].
pub struct Stopped {
    pub status: ExitStatus,
    /// Seconds from SIGTERM to the exit.
    pub secs: f64,
    pub stdout: String,
    pub stderr: String,
}

impl Switch {
    /// Starts `brisk run ARGS` with its control socket `brisk.sock` in `dir` and waits until
    /// the socket answers (the socket is bound before the ports start: running once it
    /// answers). Panics with the switch's error output if it exits first.
    pub fn start(dir: Scratch, args: &[&OsStr], eal: &[String], netns: Option<&str>) -> Switch {
        let socket = dir.join("brisk.sock");
        let child = run_command(args, &socket, eal, netns)
            .spawn()
            .expect("start brisk");
        let mut sw = Switch { child, socket, dir };
        sw.wait_until_it_answers(Duration::from_secs(60));
        sw
    }

    fn wait_until_it_answers(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("brisk stopped ({status}): {err}");
            }
            if self.socket.exists() && self.ctl_output(&["version"]).status.success() {
                return;
            }
            assert!(Instant::now() < deadline, "brisk did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// `brisk ctl ARGS` against this switch.
    pub fn ctl_output(&self, args: &[&str]) -> Output {
        ctl(&self.socket, args)
    }

    /// Whether `brisk ctl ARGS` succeeded, and what it wrote (standard output then error).
    pub fn ctl(&self, args: &[&str]) -> (bool, String) {
        let o = self.ctl_output(args);
        (o.status.success(), text(&o))
    }

    /// What `brisk ctl ARGS` wrote, which must succeed.
    pub fn ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.ctl(args);
        assert!(ok, "brisk ctl {args:?} failed: {text}");
        text
    }

    /// SIGTERM, then waits (up to 20 s) for the switch to exit.
    pub fn stop(&mut self) -> Stopped {
        let t = Instant::now();
        // SAFETY: signalling our own child, which has not been reaped.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let deadline = t + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "brisk did not stop");
            std::thread::sleep(Duration::from_millis(10));
        };
        let secs = t.elapsed().as_secs_f64();
        let mut stdout = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            o.read_to_string(&mut stdout).unwrap();
        }
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut stderr).unwrap();
        }
        Stopped {
            status,
            secs,
            stdout,
            stderr,
        }
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: signalling our own child, which has not been reaped.
            unsafe { libc::kill(self.pid(), libc::SIGKILL) };
            let _ = self.child.wait();
        }
    }
}

/// A port's packet counter from `ctl dump-ports`: `dir` is `rx` or `tx`, e.g. from
/// "  port  49(frontend-a3ba2f): rx pkts=N, ..." then "tx pkts=N, ...".
pub fn counter(text: &str, port: &str, dir: &str) -> u64 {
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

/// Writes `frames` as a pcap file (for DPDK's `net_pcap` to replay).
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    std::fs::write(path, perf::pcap::encode(frames.iter().map(Vec::as_slice))).unwrap();
}

/// The seed's directory (flows and packets of the Antrea worker nodes).
pub fn seed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/antrea-seed")
}
