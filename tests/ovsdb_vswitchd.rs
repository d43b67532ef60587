//! brisk as the vswitchd of Debian's `ovsdb-server`, driven only by Open vSwitch's own
//! clients: `ovs-vsctl` builds an Antrea-shaped bridge and adds and removes ports while
//! pods in network namespaces ping each other through brisk (no ping lost); the database
//! server is killed and restarted under that traffic (no ping lost, and brisk follows the
//! restarted server); `ovs-appctl` answers as ovs-vswitchd does; a brisk restart rebuilds
//! the same ports with the same numbers from the database.

mod common;

use common::ofctl::have_ovs;
use common::ovsdb::{appctl, brisk, ok, sh, until, Db};
use common::Scratch;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Network namespaces: the switch's, and one per pod with a veth pair into the switch's.
struct Net {
    sw: String,
    tag: String,
}

impl Net {
    fn new() -> Net {
        let tag = format!("{}", std::process::id() % 100_000);
        let sw = format!("bosw{tag}");
        let _ = sh(&format!("ip netns del {sw}"));
        ok(&format!("ip netns add {sw} && ip -n {sw} link set lo up"));
        Net { sw, tag }
    }

    /// A pod `k` at 10.77.0.k: its namespace, and the veth end `bopK` in the switch's.
    fn pod(&self, k: u8) -> String {
        let (ns, sw) = (format!("bop{k}{}", self.tag), &self.sw);
        let _ = sh(&format!("ip netns del {ns}"));
        ok(&format!(
            "ip netns add {ns} && ip link add bop{k} netns {sw} type veth peer name eth0 netns {ns} && \
             ip -n {sw} link set bop{k} up && ip -n {ns} link set eth0 address 02:77:00:00:00:0{k} && \
             ip -n {ns} addr add 10.77.0.{k}/24 dev eth0 && ip -n {ns} link set eth0 up && ip -n {ns} link set lo up"
        ));
        ns
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for k in 1..=3 {
            let _ = sh(&format!("ip netns del bop{k}{}", self.tag));
        }
        let _ = sh(&format!("ip netns del {}", self.sw));
    }
}

/// A ping flood from pod 1 to `to` for the duration of `during`: (sent, received).
fn ping_while(net: &Net, to: &str, count: u32, during: impl FnOnce()) -> (u32, u32) {
    let child = Command::new("ip")
        .args(["netns", "exec", &format!("bop1{}", net.tag)])
        .args([
            "ping",
            "-q",
            "-c",
            &count.to_string(),
            "-i",
            "0.005",
            "-W",
            "2",
            to,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    during();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("ping said: {text}"));
    let n = |w: &str| -> u32 {
        line.split(',')
            .find(|p| p.contains(w))
            .and_then(|p| p.split_whitespace().next())
            .and_then(|x| x.parse().ok())
            .unwrap_or(0)
    };
    (n("transmitted"), n("received"))
}

fn ping_once(net: &Net, to: &str) -> bool {
    sh(&format!(
        "ip netns exec bop1{} ping -c 1 -W 1 {to}",
        net.tag
    ))
    .status
    .success()
}

#[test]
fn brisk_follows_ovsdb_server_as_ovs_vswitchd() {
    if !have_ovs() {
        return;
    }
    let dir = Scratch::new("ovsdb");
    let mut db = Db::create(&dir.0);
    let prefix = format!("brisk-ovsdb-{}", std::process::id());
    db.vsctl(&format!(
        "--no-wait set Open_vSwitch . other_config:pmd-cpu-mask=0x2 \
         other_config:dpdk-extra=\"--no-huge -m 256 --no-pci --no-telemetry --log-level=warning --file-prefix={prefix}\""
    ));
    let net = Net::new();
    let mut sw = brisk(&db, &net.sw, &dir.0);
    // Antrea's agent: the bridge, then the gateway with ofport_request=2.
    db.vsctl(
        "add-br br-int -- set Bridge br-int datapath_type=netdev protocols=OpenFlow10,OpenFlow15 fail_mode=secure",
    );
    db.vsctl(
        "add-port br-int antrea-gw0 -- set Interface antrea-gw0 type=internal ofport_request=2",
    );
    assert_eq!(db.vsctl("get Interface antrea-gw0 ofport").trim(), "2");
    assert_eq!(db.vsctl("get Interface br-int ofport").trim(), "65534");
    let mgmt = format!("unix:{}", dir.join("br-int.mgmt").display());
    ok(&format!(
        "ovs-ofctl add-flow {mgmt} priority=0,actions=NORMAL"
    ));
    net.pod(1);
    net.pod(2);
    net.pod(3);
    db.vsctl("add-port br-int bop1 -- set Interface bop1 ofport_request=11");
    let t = Instant::now();
    db.vsctl("add-port br-int bop2");
    let applied = t.elapsed();
    while !ping_once(&net, "10.77.0.2") {
        assert!(t.elapsed() < Duration::from_secs(10), "pod 2 unreachable");
    }
    eprintln!(
        "port add: ovs-vsctl returned after {:.0} ms, first ping answered after {:.0} ms",
        applied.as_secs_f64() * 1e3,
        t.elapsed().as_secs_f64() * 1e3
    );
    db.vsctl("--timeout=5 wait-until Interface bop2 ofport!=-1");
    assert_eq!(db.vsctl("get Interface bop1 ofport").trim(), "11");
    let bop2: u32 = db
        .vsctl("get Interface bop2 ofport")
        .trim()
        .parse()
        .unwrap();
    assert!(bop2 != 2 && bop2 != 11 && bop2 > 0, "{bop2}");
    let row = db.vsctl("list Interface bop2");
    for col in ["link_state          : up", "admin_state         : up"] {
        assert!(row.contains(col), "{col}: {row}");
    }
    assert!(db.vsctl("get Bridge br-int datapath_id").trim().len() == 18);
    // other_config:datapath-id sets it, for the database and OpenFlow's features reply.
    db.vsctl("set Bridge br-int other_config:datapath-id=00000000000abc12");
    until("datapath-id not applied", || {
        db.vsctl("get Bridge br-int datapath_id").trim() == "\"00000000000abc12\""
    });
    let show = ok(&format!("ovs-ofctl show {mgmt}"));
    assert!(show.contains("dpid:00000000000abc12"), "{show}");
    // protocols: Antrea's OpenFlow10,OpenFlow15 refuse an OpenFlow 1.3 client, as OVS's
    // bridge does; changed, they apply to the next connection.
    let of = |v: &str| sh(&format!("ovs-ofctl -O {v} show {mgmt}"));
    let refused = of("OpenFlow13");
    assert!(
        !refused.status.success()
            && String::from_utf8_lossy(&refused.stderr).contains("version negotiation failed"),
        "{refused:?}"
    );
    assert!(of("OpenFlow15").status.success());
    db.vsctl("set Bridge br-int protocols=OpenFlow13");
    until("protocols not applied", || {
        of("OpenFlow13").status.success()
    });
    assert!(!of("OpenFlow15").status.success());
    db.vsctl("set Bridge br-int protocols=OpenFlow10,OpenFlow15");
    until("protocols not restored", || {
        of("OpenFlow15").status.success()
    });
    // fail_mode: standalone without controllers puts OVS's NORMAL flow back (the test's
    // pods keep talking through it); secure adds nothing.
    ok(&format!("ovs-ofctl del-flows {mgmt}"));
    db.vsctl("del-fail-mode br-int");
    until("standalone's NORMAL flow not added", || {
        ok(&format!("ovs-ofctl dump-flows {mgmt}")).contains(" priority=0 actions=NORMAL")
    });
    db.vsctl("set-fail-mode br-int secure");
    let flows = ok(&format!("ovs-ofctl dump-flows {mgmt}"));
    assert_eq!(flows.matches("actions=NORMAL").count(), 1, "{flows}");
    // mtu_request, applied live to the kernel interface and reported in `mtu`.
    db.vsctl("set Interface bop2 mtu_request=1400");
    until("mtu_request not applied", || {
        db.vsctl("get Interface bop2 mtu").trim() == "1400"
    });
    assert_eq!(
        db.vsctl("get Open_vSwitch . dpdk_initialized").trim(),
        "true"
    );
    // mtu_request on a DPDK port (net_tap: its kernel side shows what DPDK set).
    db.vsctl(
        "add-port br-int dtap -- set Interface dtap type=dpdk options:dpdk-devargs=net_tap_mtu,iface=dtapmtu0 mtu_request=1300",
    );
    until("mtu_request not applied to the DPDK port", || {
        db.vsctl("get Interface dtap mtu").trim() == "1300"
    });
    let link = ok(&format!("ip netns exec {} ip link show dtapmtu0", net.sw));
    assert!(link.contains(" mtu 1300 "), "{link}");
    db.vsctl("del-port br-int dtap");

    // Bad input lands in the error column; nothing else moves.
    let (n, r) = ping_while(&net, "10.77.0.2", 400, || {
        db.vsctl("add-port br-int bop3");
        db.vsctl("add-port br-int weird -- set Interface weird type=vxlan9");
        db.vsctl("add-port br-int dup -- set Interface dup type=internal ofport_request=11");
        db.vsctl("add-port br-int vh -- set Interface vh type=dpdkvhostuserclient");
        db.vsctl("del-port br-int bop3");
        db.vsctl("add-br br-sys");
        db.vsctl("add-port br-sys sysp -- set Interface sysp type=internal");
    });
    assert_eq!((n, r), (400, 400), "pings lost while ports came and went");
    let err = |i: &str| db.vsctl(&format!("get Interface {i} error"));
    assert!(
        err("weird").contains("unknown interface type"),
        "{}",
        err("weird")
    );
    assert!(err("dup").contains("ofport_request 11 is already requested by interface bop1"));
    assert!(err("vh").contains("missing 'options:vhost-server-path'"));
    assert!(err("sysp").contains("not served"), "{}", err("sysp"));
    assert_eq!(db.vsctl("get Interface weird ofport").trim(), "-1");
    let show = db.vsctl("show");
    eprintln!("{show}");

    // ovs-appctl, finding brisk as it finds ovs-vswitchd (OVS_RUNDIR/ovs-vswitchd.pid).
    let (good, feat) = appctl(&dir.0, "dpif/show-dp-features br-int");
    assert!(good, "{feat}");
    for l in [
        "CT state: Yes",
        "CT zone: Yes",
        "CT mark: Yes",
        "CT label: Yes",
        "CT state NAT: Yes",
    ] {
        assert!(feat.lines().any(|x| x == l), "{l}: {feat}");
    }
    let (_, show) = appctl(&dir.0, "dpif/show");
    assert!(
        show.contains(&format!("bop2 {bop2}/{bop2}: (system)")),
        "{show}"
    );
    assert!(show.contains("antrea-gw0 2/2: (tap)"), "{show}");
    assert_eq!(appctl(&dir.0, "ofproto/list").1, "br-int\n");
    // The log level changed at run time, in OVS's words.
    assert!(appctl(&dir.0, "vlog/set ANY:console:dbg").0);
    let (_, vl) = appctl(&dir.0, "vlog/list");
    assert!(
        vl.lines()
            .any(|l| l.starts_with("brisk") && l.contains("DBG")),
        "{vl}"
    );
    assert!(!appctl(&dir.0, "vlog/set ANY:syslog:dbg").0);
    assert!(appctl(&dir.0, "vlog/set info").0);
    let (_, pmd) = appctl(&dir.0, "dpif-netdev/pmd-stats-show");
    let rx: u64 = pmd
        .lines()
        .find_map(|l| l.trim().strip_prefix("packets received: "))
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    assert!(rx >= 800, "{pmd}");
    // pmd-perf-show: OVS's layout, the packets the pings brought.
    let (good, perf) = appctl(&dir.0, "dpif-netdev/pmd-perf-show");
    let field = |name: &str| -> u64 {
        perf.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        good && perf.contains("Measurement duration: ")
            && perf.contains("pmd thread numa_id 0 core_id 1:")
            && field("Rx packets:") >= 800
            && field("Iterations:") > field("Rx packets:") / 32
            && field("- idle iterations:") > 0
            && field("Tx packets:") > 0,
        "{perf}"
    );
    // Conntrack's zone limits and fragment reassembly, through OVS's dpctl commands.
    assert!(appctl(&dir.0, "dpctl/ct-set-limits default=100 zone=3,limit=5").0);
    let (good, lim) = appctl(&dir.0, "dpctl/ct-get-limits zone=3,4");
    assert!(good, "{lim}");
    assert_eq!(
        lim,
        "default limit=100\nzone=3,limit=5,count=0\nzone=4,limit=100,count=0\n"
    );
    assert!(appctl(&dir.0, "dpctl/ct-del-limits default zone=3").0);
    assert_eq!(appctl(&dir.0, "dpctl/ct-get-limits").1, "default limit=0\n");
    assert!(!appctl(&dir.0, "dpctl/ct-set-limits zone=x,limit=1").0);
    let (good, ipf) = appctl(&dir.0, "dpctl/ipf-set-min-frag v4 1000");
    assert!(
        good && ipf.contains("setting minimum fragment size successful"),
        "{ipf}"
    );
    assert!(
        !appctl(&dir.0, "dpctl/ipf-set-min-frag v4 100").0,
        "below OVS's bound"
    );
    assert!(appctl(&dir.0, "dpctl/ipf-set-disabled v6").0);
    let (_, ipf) = appctl(&dir.0, "dpctl/ipf-get-status");
    for l in [
        "        Fragmentation Module Status",
        "        v4 enabled: 1",
        "        v6 enabled: 0",
        "        max num frags (v4/v6): 1000",
        "        min v4 frag size: 1000",
        "        v4 frags accepted: 0",
    ] {
        assert!(ipf.lines().any(|x| x == l), "{l}: {ipf}");
    }
    let (_, rxq) = appctl(&dir.0, "dpif-netdev/pmd-rxq-show");
    assert!(
        rxq.contains("core_id 1:") && rxq.contains("port: bop1"),
        "{rxq}"
    );
    let flow = "in_port=11,dl_src=02:77:00:00:00:01,dl_dst=02:77:00:00:00:02";
    let (good, trace) = appctl(&dir.0, &format!("ofproto/trace br-int {flow}"));
    assert!(good && trace.contains("Datapath actions:"), "{trace}");
    let sock = dir.join("brisk.sock");
    // brisk's own trace: OVS's text (port numbers, as ofproto/trace prints them by
    // default), then where the packet left.
    let own = common::ctl(&sock, &["trace", "--no-names", flow]);
    let own = String::from_utf8_lossy(&own.stdout);
    assert!(
        own.starts_with(&trace) && own.contains("\nOutput: port "),
        "{own}\n---\n{trace}"
    );
    // The datapath's megaflows as OVS prints them, read by OVS's own ovs-dpctl-top.
    let (good, flows) = appctl(&dir.0, "dpif/dump-flows br-int");
    assert!(good && flows.contains("in_port(11),eth("), "{flows}");
    println!(
        "ovs-appctl dpif/dump-flows br-int:\n{flows}\novs-appctl dpif-netdev/pmd-perf-show:{perf}"
    );
    let (good, dp) = appctl(&dir.0, "dpctl/dump-flows");
    assert!(
        good && dp.starts_with("flow-dump from pmd on cpu core: "),
        "{dp}"
    );
    let file = dir.join("flows.txt");
    std::fs::write(&file, &flows).unwrap();
    let top = ok(&format!(
        "ovs-dpctl-top --script --flow-file {}",
        file.display()
    ));
    let n = flows.lines().count();
    assert!(
        top.contains(&format!("Total: {n}  errors: 0")) && top.contains("in_port(11)"),
        "{top}\n{flows}"
    );
    let (good, e) = appctl(&dir.0, "no/such-command");
    assert!(!good && e.contains("is not a valid command"), "{e}");
    assert!(appctl(&dir.0, "list-commands")
        .1
        .contains("dpctl/dump-conntrack"));
    // Hostile unixctl clients: refused with a reason, the socket keeps answering.
    let pid = std::fs::read_to_string(dir.join("ovs-vswitchd.pid")).unwrap();
    let ctl_path = dir.join(format!("ovs-vswitchd.{}.ctl", pid.trim()));
    for bad in [
        &b"[1,2]"[..],
        br#"{"id":1,"method":"x","params":[5]}"#,
        b"\x00\xff{",
    ] {
        use std::io::{Read, Write};
        let mut c = std::os::unix::net::UnixStream::connect(&ctl_path).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(bad).unwrap();
        let mut reply = String::new();
        let _ = c.read_to_string(&mut reply);
        assert!(reply.contains("\"error\":\""), "{bad:?}: {reply}");
    }
    assert_eq!(appctl(&dir.0, "ofproto/list").1, "br-int\n");

    // Controller rows followed live: a passive target opens a listener, deleting it closes.
    let port = 20_000 + std::process::id() % 20_000;
    db.vsctl(&format!("set-controller br-int ptcp:{port}:127.0.0.1"));
    let show = format!(
        "ip netns exec {} ovs-ofctl show tcp:127.0.0.1:{port}",
        net.sw
    );
    let t = Instant::now();
    loop {
        let o = sh(&show);
        if o.status.success() && String::from_utf8_lossy(&o.stdout).contains("(bop1)") {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "controller listener not opened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    db.vsctl("del-controller br-int");
    let t = Instant::now();
    while sh(&show).status.success() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "controller listener not closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The database server killed and restarted under traffic.
    let (n, r) = ping_while(&net, "10.77.0.2", 600, || {
        std::thread::sleep(Duration::from_millis(300));
        db.kill();
        std::thread::sleep(Duration::from_millis(1500));
        db.start();
    });
    assert_eq!(
        (n, r),
        (600, 600),
        "pings lost while ovsdb-server restarted"
    );
    // Interface statistics, written every 5 s as ovs-vswitchd's.
    db.vsctl("--timeout=15 wait-until Interface bop1 'statistics:rx_packets>1000'");
    // Followed again: a change made after the restart is applied.
    db.vsctl("add-port br-int bop3");
    db.vsctl("--timeout=10 wait-until Interface bop3 ofport!=-1");
    let bop3 = db.vsctl("get Interface bop3 ofport");
    let t = Instant::now();
    while !ping_once(&net, "10.77.0.3") {
        assert!(t.elapsed() < Duration::from_secs(10), "pod 3 unreachable");
    }

    // `ovs-appctl exit`, then a new brisk rebuilds the bridge from the database.
    let (good, e) = appctl(&dir.0, "exit");
    assert!(good, "{e}");
    let t = Instant::now();
    while sw.try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(20), "brisk did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(dir.join("brisk.log")).unwrap_or_default();
    assert!(sw.wait().unwrap().success(), "{log}");
    let mut sw = brisk(&db, &net.sw, &dir.0);
    let t = Instant::now();
    // Flows are not kept across a restart (nor by ovs-vswitchd): the agent loads them again.
    while !sh(&format!(
        "ovs-ofctl add-flow {mgmt} priority=0,actions=NORMAL"
    ))
    .status
    .success()
    {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "brisk did not come back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    while !(ping_once(&net, "10.77.0.2") && ping_once(&net, "10.77.0.3")) {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "ports not rebuilt after a restart"
        );
    }
    assert_eq!(db.vsctl("get Interface bop1 ofport").trim(), "11");
    assert_eq!(db.vsctl("get Interface bop3 ofport"), bop3);
    assert_eq!(db.vsctl("get Interface antrea-gw0 ofport").trim(), "2");
    // An active Controller row: os-ken (from PyPI) listens, brisk connects to it as the
    // row says and os-ken programs the bridge in a bundle.
    if common::ofctl::have_osken() {
        let ctrl = common::ofctl::osken("listen", (port + 1) as u16, Some(&net.sw))
            .env("OSKEN_HOLD", "6")
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        db.vsctl(&format!(
            "set-controller br-int tcp:127.0.0.1:{} -- set Controller br-int inactivity_probe=0",
            port + 1
        ));
        // brisk reports the connection as ovs-vswitchd does, and its end.
        db.vsctl("--timeout=10 wait-until Controller br-int is_connected=true");
        let status = db.vsctl("get Controller br-int status");
        assert!(status.contains("state=ACTIVE"), "{status}");
        let o = ctrl.wait_with_output().unwrap();
        db.vsctl("--timeout=15 wait-until Controller br-int is_connected=false");
        let status = db.vsctl("get Controller br-int status");
        assert!(
            status.contains("state=BACKOFF") && status.contains("sec_since_disconnect"),
            "{status}"
        );
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "os-ken: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        // Its 9 flows beside the NORMAL flow loaded with ovs-ofctl.
        for want in ["\"version\": 6", "\"bundle\": [1, 5]", "\"flows\": 10"] {
            assert!(out.contains(want), "no {want} in {out}");
        }
    } else {
        eprintln!("ovsdb_vswitchd: os-ken part skipped (scripts/deps.sh installs it)");
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(sw.id() as i32, libc::SIGTERM) };
    assert!(sw.wait().unwrap().success());
}
