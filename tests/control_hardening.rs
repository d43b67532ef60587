//! Issue 17's red-team defects of the control plane, each reproduced against a real
//! `brisk run` (two DPDK `net_null` ports, p1 receiving at full speed) and checked fixed:
//! group loops, a second switch on the same socket, a regular file at the socket path, idle
//! and slow control clients, metrics connections of another user, long commands, huge
//! requests. Each test prints the figure it measured.

mod common;

use common::{ctl, text, Scratch, Switch, BRISK};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One switch at a time: each busy-polls a core, and the latencies measured here are the
/// control plane's, not those of five switches sharing two cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A switch with two net_null ports (p1 receiving at full speed), alone on the machine's
/// cores while it runs.
struct Hard {
    sw: Switch,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl std::ops::Deref for Hard {
    type Target = Switch;
    fn deref(&self) -> &Switch {
        &self.sw
    }
}

impl std::ops::DerefMut for Hard {
    fn deref_mut(&mut self) -> &mut Switch {
        &mut self.sw
    }
}

impl Hard {
    fn start(name: &str, extra_yaml: &str) -> Hard {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let dir = Scratch::new(&format!("hard-{name}"));
        let bridge = dir.file(
            "br.yaml",
            &format!(
                "bridge: br0\nports:\n  - {{name: p1, ofport: 1, devargs: \"net_null_{name}1\"}}\n  - {{name: p2, ofport: 2, devargs: \"net_null_{name}2,no-rx=1\"}}\n{extra_yaml}"
            ),
        );
        let sw = Switch::start(
            dir,
            &["--bridge".as_ref(), bridge.as_ref()],
            &eal(name),
            None,
        );
        Hard { sw, _turn: turn }
    }

    /// What `brisk ctl ARGS` wrote to its standard output, which must succeed.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.ctl_output(args);
        assert!(o.status.success(), "brisk ctl {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Resident memory of the switch, in MiB.
    fn rss_mib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kb: u64 = s
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap();
        kb / 1024
    }

    /// SIGTERM, then the seconds until the process exited (with success).
    fn stop_secs(&mut self) -> f64 {
        let st = self.stop();
        assert!(st.status.success(), "brisk exited with {}", st.status);
        st.secs
    }
}

fn eal(prefix: &str) -> Vec<String> {
    common::eal("0", 256, &format!("hard-{prefix}"))
}

/// `brisk run` of the bridge in `dir` on `socket` (a second switch beside the first).
fn run_cmd(dir: &Path, socket: &Path, prefix: &str) -> Command {
    let bridge = dir.join("br.yaml");
    common::run_command(
        &["--bridge".as_ref(), bridge.as_os_str()],
        socket,
        &eal(prefix),
        None,
    )
}

fn timed_show(sw: &Hard) -> Duration {
    let t = Instant::now();
    let out = sw.ok(&["show"]);
    assert!(out.contains("1(p1)"), "{out}");
    t.elapsed()
}

fn drop_count(sw: &Hard, reason: &str) -> u64 {
    let out = sw.ok(&["drop-stats"]);
    out.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(reason)).then(|| w.next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {reason} in {out}"))
}

/// Defect 1: a group that loops to itself killed the switch at the first packet (stack
/// overflow); `ctl trace` of such a packet killed it from the control side.
#[test]
fn group_loops_are_refused_and_deep_chains_cost_a_counted_drop() {
    let sw = Hard::start("grp", "");
    let o = ctl(
        &sw.socket,
        &["add-group", "group_id=10,type=all,bucket=actions=group:10"],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("OFPGMFC_LOOP"), "{}", text(&o));
    sw.ok(&["add-group", "group_id=11,type=all,bucket=actions=group:12"]);
    sw.ok(&["add-group", "group_id=12,type=all,bucket=actions=output:2"]);
    let o = ctl(
        &sw.socket,
        &["mod-group", "group_id=12,type=all,bucket=actions=group:11"],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("group 12 -> group 11 -> group 12"),
        "{}",
        text(&o)
    );
    // A loop the group table cannot see (a bucket resubmits to the flow that sends to the
    // group): packets of p1 go round until the translation budget drops them.
    sw.ok(&[
        "add-group",
        "group_id=20,type=all,bucket=actions=resubmit(,0)",
    ]);
    sw.ok(&[
        "add-flow",
        "table=0,priority=300,in_port=p1 actions=group:20",
    ]);
    let before = drop_count(&sw, "resubmit_limit");
    std::thread::sleep(Duration::from_millis(500));
    let after = drop_count(&sw, "resubmit_limit");
    assert!(
        after > before,
        "p1's packets dropped by the budget: {before} -> {after}"
    );
    let tr = sw.ok(&["trace", "in_port=p1,udp,nw_src=10.0.0.1,nw_dst=10.0.0.2"]);
    assert!(tr.contains("over the translation budget"), "{tr}");
    println!("resubmit_limit drops in 0.5 s: {}", after - before);
    timed_show(&sw);
}

/// Defects 2 and 5: a second switch on the same socket took it over (and removed it when
/// it exited); `--socket PATH` deleted whatever file was at PATH.
#[test]
fn one_switch_per_socket_and_other_files_are_never_deleted() {
    let sw = Hard::start("sock", "");
    let o = run_cmd(&sw.dir.0, &sw.socket, "sock2").output().unwrap();
    assert!(!o.status.success());
    let msg = text(&o);
    assert!(
        msg.contains(&format!("another brisk (pid {})", sw.pid())),
        "second start: {msg}"
    );
    assert!(sw.socket.exists(), "the first switch's socket stays");
    timed_show(&sw);
    // A regular file where the socket would go: refused, untouched.
    let file = sw.dir.join("precious.txt");
    std::fs::write(&file, "keep me").unwrap();
    let o = run_cmd(&sw.dir.0, &file, "sock3").output().unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("not a socket"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}

/// Defects 3 and 7: connections were served one at a time with a 5 s read timeout and no
/// size limit — one idle client delayed `ctl show` by 5.25 s, 200 blocked it for > 25 s,
/// one byte every 3 s held it for ever, SIGTERM took 31 s with 6 idle clients, and a
/// 1,000 MB line grew the switch by 922 MB.
#[test]
fn idle_slow_and_huge_control_clients_delay_nobody() {
    let mut sw = Hard::start("idle", "");
    let idle: Vec<UnixStream> = (0..200)
        .map(|_| UnixStream::connect(&sw.socket).unwrap())
        .collect();
    let t = timed_show(&sw);
    println!(
        "ctl show with 200 idle clients: {:.1} ms",
        t.as_secs_f64() * 1e3
    );
    assert!(t < Duration::from_secs(1), "{t:?}");
    // A slow client: one byte every 3 s.
    let mut slow = UnixStream::connect(&sw.socket).unwrap();
    let slow_thread = std::thread::spawn(move || {
        for b in b"{\"args\":[\"show\"]}" {
            if slow.write_all(&[*b]).is_err() {
                return true; // closed by the switch
            }
            std::thread::sleep(Duration::from_secs(3));
        }
        false
    });
    std::thread::sleep(Duration::from_millis(200));
    let t = timed_show(&sw);
    println!(
        "ctl show with a client sending a byte every 3 s: {:.1} ms",
        t.as_secs_f64() * 1e3
    );
    assert!(t < Duration::from_secs(1), "{t:?}");
    // A 1,000 MB request: announced, refused before a byte of it is read.
    let rss0 = sw.rss_mib();
    let mut c = UnixStream::connect(&sw.socket).unwrap();
    c.write_all(b"{\"args\":[\"replace-flows\",\"x\"],\"input_len\":1048576000}\n")
        .unwrap();
    let mut reply = String::new();
    c.read_to_string(&mut reply).unwrap();
    assert!(reply.contains("over the limit"), "{reply}");
    // Unannounced: one line of 1,000 MB without a newline, refused past 1 MiB.
    let mut c = UnixStream::connect(&sw.socket).unwrap();
    let chunk = vec![b'x'; 1 << 20];
    let t = Instant::now();
    let mut sent = 0usize;
    while sent < 1000 << 20 {
        match c.write(&chunk) {
            Ok(k) => sent += k,
            Err(_) => break,
        }
    }
    let rss1 = sw.rss_mib();
    println!(
        "1,000 MB line: refused after {} MiB sent in {:.2} s; switch RSS {rss0} -> {rss1} MiB",
        sent >> 20,
        t.elapsed().as_secs_f64()
    );
    assert!(sent < 100 << 20, "the switch kept reading: {sent}");
    assert!(rss1 < rss0 + 32, "RSS grew {rss0} -> {rss1} MiB");
    timed_show(&sw);
    // Six idle connections and the slow one do not hold SIGTERM.
    let _more: Vec<UnixStream> = (0..6)
        .map(|_| UnixStream::connect(&sw.socket).unwrap())
        .collect();
    let secs = sw.stop_secs();
    println!("SIGTERM with 206 idle clients and a slow one: exited in {secs:.2} s");
    assert!(secs < 1.0, "shutdown took {secs} s");
    drop(idle);
    assert!(slow_thread.join().unwrap(), "the slow client was cut off");
}

/// Defect 4: with `metrics:` on, an unprivileged user holding 150 TCP connections made
/// root's `ctl show` take 27.6 s. Now metrics has its own thread and a bound per uid: that
/// user gets 8 connections, other users' scrapes and the control socket are untouched.
#[test]
fn metrics_connections_of_one_user_starve_nobody() {
    let port = 20_000 + (std::process::id() % 20_000) as u16;
    let sw = Hard::start("met", &format!("metrics: 127.0.0.1:{port}\n"));
    // uid 65534 (nobody) holds 150 connections, idle.
    let holder = Command::new("python3")
        .args([
            "-c",
            &format!(
                "import socket,time\nss=[]\nfor i in range(150):\n    s=socket.socket(); s.connect(('127.0.0.1',{port})); ss.append(s)\nprint('held', flush=True)\ntime.sleep(30)\n"
            ),
        ])
        .uid(65534)
        .gid(65534)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut holder = KillOnDrop(holder);
    let mut line = [0u8; 5];
    holder
        .0
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut line)
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t = timed_show(&sw);
    println!(
        "ctl show while uid 65534 holds 150 metrics connections: {:.1} ms",
        t.as_secs_f64() * 1e3
    );
    assert!(t < Duration::from_secs(1));
    // Root's scrape answers at once.
    let t = Instant::now();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    println!(
        "a scrape meanwhile: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    // The defect took 27.6 s. A debug build's scrape on this 2-vCPU VM takes 0.6-1.3 s
    // depending on the neighbours' load (the same at the build before the conntrack index),
    // so 3 s still tells starvation from a busy machine.
    assert!(t.elapsed() < Duration::from_secs(3));
    let refused: u64 = body
        .lines()
        .find(|l| l.starts_with("brisk_serve_refused_uid_total{listener=\"metrics\"}"))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap();
    assert!(
        refused >= 142,
        "uid 65534 refused past 8 connections: {refused}"
    );
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Defect 6: `replace-flows` of 2M flows exited 2 after 31.4 s ("Resource temporarily
/// unavailable") although the flows were installed: the client gave up after 30 s. Now it
/// waits as long as the command takes (progress lines meanwhile), or as long as `--timeout`
/// says, with a message that says the switch carries on.
#[test]
fn long_commands_are_waited_for_and_timeouts_are_the_clients_choice() {
    let sw = Hard::start("long", "");
    let n = 60_000;
    let mut flows = String::new();
    for i in 0..n {
        flows.push_str(&format!(
            "table=0,priority=10,ip,nw_src=10.{}.{}.{},in_port=p1 actions=output:p2\n",
            i >> 16,
            (i >> 8) & 0xff,
            i & 0xff
        ));
    }
    let file = sw.dir.join("many.flows");
    std::fs::write(&file, &flows).unwrap();
    let t = Instant::now();
    let o = ctl(&sw.socket, &["replace-flows", file.to_str().unwrap()]);
    let secs = t.elapsed().as_secs_f64();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&format!("{n} added")), "{}", text(&o));
    println!("replace-flows of {n} flows: {secs:.1} s, exit 0");
    // The same with a timeout shorter than the command: a clear message, and the switch
    // finishes the job (the flows are there afterwards).
    let o = Command::new(BRISK)
        .args(["ctl", "--timeout", "1", "--socket"])
        .arg(&sw.socket)
        .args(["replace-flows", file.to_str().unwrap()])
        .output()
        .unwrap();
    if secs > 2.0 {
        assert!(!o.status.success());
        assert!(text(&o).contains("carries on"), "{}", text(&o));
    }
    // Changes run one at a time: this one waits for the replace under way.
    let o = Command::new(BRISK)
        .args(["ctl", "--socket"])
        .arg(&sw.socket)
        .args(["del-flows", "in_port=p2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let dump = sw.ok(&["dump-flows"]);
    assert_eq!(dump.lines().count(), n, "every flow installed");
}
