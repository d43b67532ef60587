//! The Geneve tunnel of `brisk run --ovsdb`, configured only with Open vSwitch's clients the
//! way Antrea's agent configures a node whose uplink it attaches to the bridge: the tunnel
//! port `antrea-tun0` (`remote_ip=flow key=flow csum=true`, ofport 1), the gateway, the
//! uplink marked `external_ids:antrea-type=uplink`, and the node's address on the bridge's
//! internal port, where brisk reads it from the kernel. The far end is the Linux kernel's
//! UDP stack in another namespace (it answers brisk's ARP and checks the outer UDP
//! checksum) with a few lines of Python that answer ICMP echo requests inside Geneve: a
//! pod pings through the tunnel and back.

mod common;

use common::ofctl::{have_ovs, TLV};
use common::ovsdb::{appctl, brisk, ok, sh, until, Db};
use common::{Scratch, BRISK};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The peer node: receives Geneve on UDP 6081, writes what it saw to OUT and answers an
/// inner ICMP echo request with its reply in the same Geneve header (VNI and options).
const PEER: &str = r#"
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 6081))
out = open(sys.argv[1], "a")
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
while True:
    d, a = s.recvfrom(65535)
    optlen = (d[0] & 0x3f) * 4
    vni = int.from_bytes(d[4:7], "big")
    opts = d[8:8 + optlen].hex()
    inner = bytearray(d[8 + optlen:])
    out.write("from=%s vni=%d proto=%04x opts=%s inner_len=%d\n" % (a[0], vni, int.from_bytes(d[2:4], "big"), opts, len(inner)))
    out.flush()
    if len(inner) < 34 or inner[12:14] != b"\x08\x00" or inner[23] != 1: continue
    ihl = (inner[14] & 15) * 4
    icmp = 14 + ihl
    if inner[icmp] != 8: continue
    inner[0:6], inner[6:12] = inner[6:12], inner[0:6]
    inner[26:30], inner[30:34] = inner[30:34], inner[26:30]
    inner[icmp] = 0
    inner[icmp + 2:icmp + 4] = b"\0\0"
    inner[icmp + 2:icmp + 4] = struct.pack("!H", csum(bytes(inner[icmp:])))
    s.sendto(d[:8 + optlen] + bytes(inner), (a[0], 6081))
"#;

/// Namespaces and processes of the test, removed and killed however it ends.
struct Ns(Vec<String>, Vec<std::process::Child>);

impl Drop for Ns {
    fn drop(&mut self) {
        for c in &mut self.1 {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in &self.0 {
            let _ = sh(&format!("ip netns del {n}"));
        }
    }
}

#[test]
fn geneve_from_the_database_reaches_a_kernel_peer_and_back() {
    if !have_ovs() || sh("python3 -c 1").status.code() != Some(0) {
        return;
    }
    let dir = Scratch::new("ovsdb-tunnel");
    let db = Db::create(&dir.0);
    let tag = std::process::id() % 100_000;
    let (sw, peer, pod) = (
        format!("btsw{tag}"),
        format!("btpe{tag}"),
        format!("btpo{tag}"),
    );
    let mut ns = Ns(vec![sw.clone(), peer.clone(), pod.clone()], Vec::new());
    for n in [&sw, &peer, &pod] {
        let _ = sh(&format!("ip netns del {n}"));
        ok(&format!("ip netns add {n} && ip -n {n} link set lo up"));
    }
    // The underlay: a veth pair between the node and its peer (10.79.7.2); the pod
    // 10.66.0.5 on a veth into the node, its gateway's MAC static (no ARP responder here).
    ok(&format!(
        "ip link add upl netns {sw} type veth peer name upl netns {peer} && \
         ip -n {sw} link set upl up && ip -n {peer} addr add 10.79.7.2/24 dev upl && \
         ip -n {peer} link set upl up && \
         ip link add pod1 netns {sw} type veth peer name eth0 netns {pod} && \
         ip -n {sw} link set pod1 up && ip -n {pod} link set eth0 address 02:66:00:00:00:05 && \
         ip -n {pod} addr add 10.66.0.5/24 dev eth0 && ip -n {pod} link set eth0 up && \
         ip -n {pod} route add default via 10.66.0.1 && \
         ip -n {pod} neigh add 10.66.0.1 lladdr aa:bb:cc:dd:ee:ff dev eth0"
    ));
    for (n, i) in [(&sw, "upl"), (&peer, "upl"), (&sw, "pod1"), (&pod, "eth0")] {
        let _ = sh(&format!(
            "ip netns exec {n} ethtool -K {i} tx off tso off gso off gro off"
        ));
    }
    let seen = dir.join("peer.txt");
    std::fs::write(&seen, "").unwrap();
    let peer_py = Command::new("ip")
        .args(["netns", "exec", &peer, "python3", "-c", PEER])
        .arg(&seen)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    ns.1.push(peer_py);
    let prefix = format!("brisk-ovsdb-tun-{}", std::process::id());
    db.vsctl(&format!(
        "--no-wait set Open_vSwitch . other_config:pmd-cpu-mask=0x2 \
         other_config:dpdk-extra=\"--no-huge -m 256 --no-pci --no-telemetry --log-level=warning --file-prefix={prefix}\""
    ));
    // Killed when the test ends (before the namespaces go, dropped after it).
    let _sw = brisk(&db, &sw, &dir.0);
    // Antrea's sequence: the bridge, the tunnel (ofport 1), the gateway (ofport 2), the
    // uplink it attaches to the bridge, a pod.
    db.vsctl("add-br br-int -- set Bridge br-int datapath_type=netdev protocols=OpenFlow10,OpenFlow15 fail_mode=secure");
    db.vsctl(
        "add-port br-int antrea-tun0 -- set Interface antrea-tun0 type=geneve ofport_request=1 \
         options:remote_ip=flow options:key=flow options:csum=true",
    );
    db.vsctl(
        "add-port br-int antrea-gw0 -- set Interface antrea-gw0 type=internal ofport_request=2",
    );
    db.vsctl("add-port br-int upl -- set Port upl external_ids:antrea-type=uplink -- set Interface upl ofport_request=3");
    db.vsctl("add-port br-int pod1 -- set Interface pod1 ofport_request=5");
    assert_eq!(db.vsctl("get Interface antrea-tun0 ofport").trim(), "1");
    assert_eq!(db.vsctl("get Interface antrea-tun0 error").trim(), "[]");
    // No address on br-int yet: the tunnel has no egress.
    assert!(!db
        .vsctl("get Interface antrea-tun0 status")
        .contains("tunnel_egress_iface"));
    let mgmt = format!("unix:{}", dir.join("br-int.mgmt").display());
    ok(&format!("ovs-ofctl add-tlv-map {mgmt} '{TLV}'"));
    let flows = dir.file(
        "flows",
        "priority=100,in_port=pod1,ip,nw_dst=10.66.9.0/24 actions=set_field:10.79.7.2->tun_dst,set_field:0x5eed->tun_id,set_field:0xabcd->tun_metadata0,output:antrea-tun0\n\
         priority=100,in_port=antrea-tun0,ip,nw_dst=10.66.0.5,tun_id=0x5eed actions=mod_dl_dst:02:66:00:00:00:05,output:pod1\n",
    );
    ok(&format!(
        "ovs-ofctl -O OpenFlow15 replace-flows {mgmt} {flows}"
    ));
    // Meanwhile the pod's packets to the tunnel are dropped and counted.
    let _ = sh(&format!("ip netns exec {pod} ping -c 1 -W 1 10.66.9.9"));
    let drops = ok(&format!(
        "{BRISK} ctl --socket {} drop-stats",
        dir.join("brisk.sock").display()
    ));
    let no_route = drops
        .lines()
        .find_map(|l| l.trim().strip_prefix("tunnel_no_route"))
        .map(|n| n.trim().to_string());
    assert_eq!(no_route.as_deref(), Some("1"), "{drops}");
    // Antrea moves the node's address to the bridge's internal port.
    ok(&format!(
        "ip -n {sw} addr add 10.79.7.1/24 dev br-int && ip -n {sw} link set br-int up"
    ));
    until("the tunnel's status names its egress", || {
        let s = db.vsctl("get Interface antrea-tun0 status");
        s.contains("tunnel_egress_iface=upl") && s.contains("tunnel_egress_iface_carrier=up")
    });
    let (good, routes) = appctl(&dir.0, "ovs/route/show");
    assert!(good && routes.contains("10.79.7.0/24"), "{routes}");
    let out = sh(&format!(
        "ip netns exec {pod} ping -c 3 -i 0.2 -W 2 10.66.9.9"
    ));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = std::fs::read_to_string(&seen).unwrap();
    assert!(
        out.status.success() && text.contains("3 received"),
        "ping through Geneve: {text}\npeer saw:\n{log}\nbrisk: {}",
        std::fs::read_to_string(dir.join("brisk.log")).unwrap_or_default()
    );
    // The peer saw Geneve from the node's address: VNI 0x5eed, Ethernet inside, the
    // option Antrea's TLV map names (class 0x104, type 0x80, 4 bytes) carrying 0xabcd.
    let first = log.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("from=10.79.7.1 vni=24301 proto=6558 opts=010480010000abcd"),
        "{first}"
    );
    let mut last = String::new();
    let stat = |s: &str, k: &str| -> u64 {
        s.split([',', '{', '}'])
            .find_map(|kv| kv.trim().strip_prefix(k)?.strip_prefix('=')?.parse().ok())
            .unwrap_or(0)
    };
    let t = Instant::now();
    // Three echo requests out and three replies in (the one sent without an underlay was
    // dropped before the tunnel port).
    while !(stat(&last, "rx_packets") == 3 && stat(&last, "tx_packets") == 3) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "tunnel statistics: {last}"
        );
        std::thread::sleep(Duration::from_millis(100));
        last = db.vsctl("get Interface antrea-tun0 statistics");
    }
    // The address goes away: the tunnel loses its egress (read from the kernel again).
    ok(&format!("ip -n {sw} addr flush dev br-int"));
    until("the tunnel's status drops its egress", || {
        !db.vsctl("get Interface antrea-tun0 status")
            .contains("tunnel_egress_iface")
    });
    let (good, routes) = appctl(&dir.0, "ovs/route/show");
    assert!(good && !routes.contains("10.79.7.0/24"), "{routes}");
}
