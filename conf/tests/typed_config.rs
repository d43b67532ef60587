//! What the switch gets: a bridge file and a node description made into typed values
//! once (routes, neighbours, the TLV map, the uplink's address, the tunnel's options,
//! MACs as numbers), every problem placed by file, line and field; a node's plan with its
//! generated flows and groups.

use conf::bridge::{BridgeConfig, DeviceConfig, NeighborConfig, PortKind, UplinkConfig};
use conf::node::{NodeConfig, Plan};
use pipeline::bridge::TunnelPort;
use pipeline::geneve::TlvEntry;
use pipeline::underlay::Route;
use std::net::Ipv4Addr;

const BRIDGE: &str = r#"bridge: br-int
ports:
  - name: antrea-gw0
    ofport: 2
    devargs: "net_tap0,iface=gw0"
    proxy_arp: "AA:BB:CC:DD:EE:FF"
    flood: false
  - name: antrea-tun0
    ofport: 1
    type: geneve
    options: {remote_ip: 10.79.1.202, key: "0x64", csum: true, dst_port: 6082, local_ip: 10.79.1.201}
  - name: uplink
    ofport: 7
    devargs: "afpacket:eth1"
    rx_queues: 4
    uplink: {ip: 10.79.1.201/24, gateway: 10.79.1.1, mtu: 9000}
tlv_map: ["{class=0x104,type=0x80,len=4}->tun_metadata0,{class=0x105,type=0x1,len=8}->tun_metadata3"]
routes: ["10.79.0.0/16 via 10.79.1.254 dev 7", "192.168.0.0/24 dev 7"]
neighbors: [{ip: 10.79.1.202, mac: "00:50:56:8f:1c:f6"}]
"#;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn a_bridge_file_becomes_values() {
    let b = BridgeConfig::parse(BRIDGE, "b.yaml").unwrap();
    let gw = &b.ports[0];
    assert_eq!(gw.proxy_arp, Some(0xaabb_ccdd_eeff));
    assert!(!gw.flood);
    assert_eq!(
        gw.kind,
        PortKind::Device(DeviceConfig {
            devargs: "net_tap0,iface=gw0".into(),
            rx_queues: 1,
            uplink: None,
            tap: None,
        })
    );
    assert_eq!(
        b.ports[1].tunnel(),
        Some(&TunnelPort {
            remote_ip: Some(u32::from(ip("10.79.1.202"))),
            local_ip: Some(u32::from(ip("10.79.1.201"))),
            key: Some(100),
            csum: true,
            dst_port: 6082,
        })
    );
    assert!(b.ports[1].flood && b.ports[1].uplink().is_none());
    assert_eq!(b.ports[2].as_device().unwrap().rx_queues, 4);
    assert_eq!(
        b.ports[2].uplink(),
        Some(&UplinkConfig {
            ip: ip("10.79.1.201"),
            prefix_len: 24,
            gateway: Some(ip("10.79.1.1")),
            mtu: 9000,
        })
    );
    assert_eq!(
        b.routes,
        [
            Route {
                prefix: u32::from(ip("10.79.0.0")),
                len: 16,
                gateway: Some(u32::from(ip("10.79.1.254"))),
                dev: 7,
            },
            Route {
                prefix: u32::from(ip("192.168.0.0")),
                len: 24,
                gateway: None,
                dev: 7,
            },
        ]
    );
    assert_eq!(
        b.neighbors,
        [NeighborConfig {
            ip: ip("10.79.1.202"),
            mac: 0x0050_568f_1cf6,
        }]
    );
    let slots = b.tlv_map.slots;
    assert_eq!(
        slots[0],
        Some(TlvEntry {
            class: 0x104,
            ty: 0x80,
            len: 4,
        })
    );
    assert_eq!(
        slots[3],
        Some(TlvEntry {
            class: 0x105,
            ty: 0x1,
            len: 8,
        })
    );
    assert_eq!(slots.iter().flatten().count(), 2);
}

#[test]
fn defaults_are_the_configurations() {
    let y = BRIDGE
        .replace(
            "    options: {remote_ip: 10.79.1.202, key: \"0x64\", csum: true, dst_port: 6082, local_ip: 10.79.1.201}\n",
            "",
        )
        .replace("    rx_queues: 4\n", "")
        .replace(", mtu: 9000}", "}");
    let b = BridgeConfig::parse(&y, "b.yaml").unwrap();
    assert_eq!(b.ports[1].tunnel(), Some(&TunnelPort::default()));
    assert_eq!(b.ports[2].as_device().unwrap().rx_queues, 1);
    assert_eq!(b.ports[2].uplink().unwrap().mtu, 1500);
}

/// Each edit of [`BRIDGE`] and the start of the error it must give (`FILE:LINE: PATH: ...`).
#[test]
fn problems_are_placed() {
    for (from, to, want) in [
        (
            "\"192.168.0.0/24 dev 7\"",
            "\"192.168.0.0/33 dev 7\"",
            "b.yaml:18: routes[1]: route: '192.168.0.0/33 dev 7': expected",
        ),
        (
            "\"00:50:56:8f:1c:f6\"",
            "\"00:50:56:8f:1c\"",
            "b.yaml:19: neighbors[0].mac: 00:50:56:8f:1c is not a MAC address",
        ),
        (
            "len=8}->tun_metadata3",
            "len=8}->tun_metadata0",
            "b.yaml:17: tlv_map[0]: tlv map: tun_metadata0 is already mapped",
        ),
        (
            "10.79.1.201/24",
            "10.79.1.201/40",
            "b.yaml:16: ports[2].uplink.ip: 10.79.1.201/40 is not ADDRESS/PREFIX",
        ),
        (
            "\"AA:BB:CC:DD:EE:FF\"",
            "\"AA:BB\"",
            "b.yaml:6: ports[0].proxy_arp: AA:BB is not a MAC address",
        ),
        (
            "key: \"0x64\"",
            "key: \"0x1000000\"",
            "b.yaml:11: ports[1].options.key: 0x1000000 is not `flow` or a 24-bit VNI",
        ),
        (
            "    flood: false\n",
            "    flood: false\n    options: {key: flow}\n",
            "b.yaml:8: ports[0].options: tunnel options are for a geneve port",
        ),
        (
            "    type: geneve\n",
            "    type: geneve\n    uplink: {ip: 10.79.1.201/24}\n",
            "b.yaml:11: ports[1].uplink: a geneve port has none",
        ),
        (
            "    type: geneve\n",
            "    type: geneve\n    rx_queues: 2\n",
            "b.yaml:11: ports[1].rx_queues: a geneve port has none",
        ),
    ] {
        assert!(BRIDGE.contains(from), "{from}");
        let e = BridgeConfig::parse(&BRIDGE.replace(from, to), "b.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(want), "want {want}\ngot  {e}");
    }
}

fn worker1() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/worker1.yaml"
    ))
    .unwrap()
}

#[test]
fn a_node_plan_has_its_bridge_flows_and_groups() {
    let y = worker1().replace(
        "  mac: \"00:50:56:8f:4e:82\"\n",
        "  mac: \"00:50:56:8f:4e:82\"\n  gateway: 10.79.1.1\n  mtu: 9000\n",
    );
    let plan = Plan::parse(&y, "w1.yaml").unwrap();
    let node = NodeConfig::parse(&y, "w1.yaml").unwrap();
    assert_eq!(plan.node(), &node);
    let generated = conf::antrea::generate(&node);
    assert_eq!(plan.flows(), generated.text());
    assert_eq!(plan.groups(), generated.groups_text());
    assert!(plan.flows().lines().count() > 50);
    let b = plan.bridge().unwrap();
    let names: Vec<(&str, u32)> = b
        .ports
        .iter()
        .map(|p| (p.name.as_str(), p.ofport))
        .collect();
    assert_eq!(
        names[..3],
        [("antrea-gw0", 2), ("antrea-tun0", 1), ("uplink", 7)]
    );
    assert_eq!(names.len(), 3 + node.pods.len());
    assert_eq!(
        b.ports[1].tunnel(),
        Some(&TunnelPort {
            remote_ip: None,
            local_ip: None,
            key: None,
            csum: false,
            dst_port: 6081,
        })
    );
    assert_eq!(
        b.ports[2].uplink(),
        Some(&UplinkConfig {
            ip: ip("10.79.1.201"),
            prefix_len: 24,
            gateway: Some(ip("10.79.1.1")),
            mtu: 9000,
        })
    );
    assert_eq!(
        b.tlv_map.slots[0],
        Some(TlvEntry {
            class: 0x104,
            ty: 0x80,
            len: 4,
        })
    );
    assert!(b.routes.is_empty() && b.neighbors.is_empty());
    // A port without devargs does not run; its flows are still made.
    let y = worker1().replace(
        "  devargs: \"net_af_packet_up1,iface=uplink,qpairs=1\"\n",
        "",
    );
    let plan = Plan::parse(&y, "w1.yaml").unwrap();
    assert!(!plan.flows().is_empty());
    let e = plan.bridge().unwrap_err().to_string();
    assert!(
        e.starts_with("w1.yaml:0: uplink.devargs: a port needs devargs to run"),
        "{e}"
    );
    // Every problem of a description, placed.
    let y = worker1().replace("ip: 10.79.1.201/24", "ip: 10.79.1.201");
    let e = Plan::parse(&y, "w1.yaml").unwrap_err().to_string();
    assert!(
        e.contains("w1.yaml:13: uplink.ip: '10.79.1.201' is not ADDRESS/PREFIX"),
        "{e}"
    );
}
