//! The two Antrea nodes of the seed (`testdata/antrea-seed/`) as bridges, for tests,
//! benchmarks and tools: their ports (numbers, names, kinds, as `ovs-ofctl show` listed
//! them) and their flows.

use crate::bridge::{Bridge, PortInfo, PortKind, TunnelPort};
use crate::conntrack::ConntrackConfig;

/// Kind of a seed port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedPort {
    /// The Geneve tunnel port.
    Tunnel,
    /// The gateway (internal) port.
    Gateway,
    /// A pod.
    Pod,
}

/// Node IP of a seed node.
pub fn node_ip(node: &str) -> u32 {
    match node {
        "worker1" => 0x0a4f_01c9,
        "worker2" => 0x0a4f_01ca,
        _ => 0x0a4f_01c8,
    }
}

/// Ports of a seed node: (name, OpenFlow port, kind).
pub fn ports(node: &str) -> &'static [(&'static str, u32, SeedPort)] {
    match node {
        "worker1" => &[
            ("antrea-tun0", 1, SeedPort::Tunnel),
            ("antrea-gw0", 2, SeedPort::Gateway),
            ("coredns--3e3abf", 3, SeedPort::Pod),
            ("antrea-o-830766", 4, SeedPort::Pod),
            ("backend1-bab86f", 48, SeedPort::Pod),
            ("frontend-a3ba2f", 49, SeedPort::Pod),
        ],
        "worker2" => &[
            ("antrea-tun0", 1, SeedPort::Tunnel),
            ("antrea-gw0", 2, SeedPort::Gateway),
            ("coredns--d8f62c", 3, SeedPort::Pod),
            ("backend2-202ff6", 35, SeedPort::Pod),
        ],
        _ => &[],
    }
}

/// A bridge with a seed node's ports and `flows` (the text of its `.flows` file) loaded.
/// Panics on bad input: this is test and benchmark scaffolding.
pub fn bridge(node: &str, flows: &str, ct: ConntrackConfig) -> Bridge {
    bridge_with_groups(node, "", flows, ct)
}

/// [`bridge`] with groups (the text of an `add-groups` file) loaded before the flows: a
/// node generated with in-switch load balancing.
pub fn bridge_with_groups(node: &str, groups: &str, flows: &str, ct: ConntrackConfig) -> Bridge {
    let b = Bridge::new("br-int", ct);
    for &(name, num, kind) in ports(node) {
        let kind = match kind {
            SeedPort::Tunnel => PortKind::Tunnel(TunnelPort {
                local_ip: Some(node_ip(node)),
                ..Default::default()
            }),
            SeedPort::Gateway => PortKind::Internal,
            SeedPort::Pod => PortKind::Normal,
        };
        b.add_port(PortInfo::new(num, name, kind))
            .expect("seed port");
    }
    b.load_text(groups, flows, 0)
        .unwrap_or_else(|e| panic!("seed {node}: {e}"));
    b
}

/// A bridge `br0` with ports `p1`..`pN` (numbered 1..N, plain) and `flows` (ovs-ofctl's
/// text, one flow a string) added, with conntrack `ct`. Panics on bad input: test and
/// benchmark scaffolding.
pub fn bridge_with_ports(n: u32, flows: &[&str], ct: ConntrackConfig) -> Bridge {
    let b = Bridge::new("br0", ct);
    for p in 1..=n {
        b.add_port(PortInfo::new(p, &format!("p{p}"), PortKind::Normal))
            .expect("port");
    }
    let fl: Vec<_> = flows
        .iter()
        .map(|f| {
            crate::ofctl::parse_flow(f, crate::ofctl::Mode::Add, b.ports().names())
                .unwrap_or_else(|e| panic!("{f}: {e}"))
        })
        .collect();
    b.add_flows(&fl, 0).expect("flows");
    b
}

/// The uplink's OpenFlow port in [`with_underlay`].
pub const UPLINK_PORT: u32 = 100;

/// Underlay MAC of a seed node (its uplink).
pub fn node_mac(node: &str) -> u64 {
    match node {
        "worker1" => 0x0050_568f_4e82,
        "worker2" => 0x0050_568f_1cf6,
        _ => 0x0050_568f_0001,
    }
}

/// Gives a seed bridge the underlay of the two-node demo: an uplink (port
/// [`UPLINK_PORT`], the node's address on 10.79.1.0/24, MTU `mtu`), the on-link route, the
/// TLV map `{class=0x104,type=0x80,len=4}->tun_metadata0`, and the other node as a static
/// neighbour when `resolved` (otherwise its MAC must be learned by ARP).
pub fn with_underlay(b: &Bridge, node: &str, mtu: u16, resolved: bool) {
    use crate::tunnel::{UnderlayConfig, Uplink};
    use crate::underlay::{Route, RouteTable};
    let mut info = PortInfo::new(UPLINK_PORT, "uplink", PortKind::Normal);
    info.flood = false;
    b.add_port(info).expect("seed uplink");
    let mut routes = RouteTable::default();
    routes.add(Route {
        prefix: 0x0a4f_0100,
        len: 24,
        gateway: None,
        dev: UPLINK_PORT,
    });
    let mut tlv = crate::geneve::TlvMap::default();
    tlv.add("{class=0x104,type=0x80,len=4}->tun_metadata0")
        .expect("seed TLV map");
    b.update_underlay(|u| {
        *u = UnderlayConfig {
            uplink: Some(Uplink {
                ofport: UPLINK_PORT,
                mac: node_mac(node),
                ip: node_ip(node),
                prefix_len: 24,
                mtu,
            }),
            routes,
            tlv,
            native_only: false,
        }
    });
    if resolved {
        let other = if node == "worker1" {
            "worker2"
        } else {
            "worker1"
        };
        b.neighbours().add_static(node_ip(other), node_mac(other));
        b.underlay_changed();
    }
}

mod property;
mod walks;
pub use property::{megaflow_property, PropertyRun};
pub use walks::{golden_walks, WalkReport};
