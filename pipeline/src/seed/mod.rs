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

mod property;
mod walks;
pub use property::{megaflow_property, PropertyRun};
pub use walks::{golden_walks, WalkReport};
