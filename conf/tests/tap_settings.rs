//! The kernel side of a TAP port (`tap:` in a bridge file; a node's gateway): validated,
//! and derived from a node description's gateway (MAC, address with the pod CIDR's prefix
//! length, MTU by default the uplink's less 50).

use conf::bridge::{BridgeConfig, PortConfig, TapConfig};
use conf::node::{NodeConfig, Plan};
use std::net::Ipv4Addr;

fn tap(p: &PortConfig) -> Option<TapConfig> {
    p.as_device().and_then(|d| d.tap)
}

const BRIDGE: &str = r#"
ports:
  - name: antrea-gw0
    ofport: 2
    devargs: "net_tap_gw,iface=antrea-gw0"
    tap: {mac: "4e:99:08:c1:53:be", ip: 10.222.1.1/24, mtu: 1450}
  - name: gw1
    ofport: 3
    devargs: "tap:gw1"
    tap: {mtu: 9000}
  - name: pod
    ofport: 4
    devargs: "afpacket:pod"
"#;

#[test]
fn bridge_file_tap_settings_are_checked() {
    let b = BridgeConfig::parse(BRIDGE, "b.yaml").unwrap();
    assert_eq!(
        tap(&b.ports[0]),
        Some(TapConfig {
            mac: Some(0x4e99_08c1_53be),
            addr: Some((Ipv4Addr::new(10, 222, 1, 1), 24)),
            mtu: Some(1450),
        })
    );
    assert_eq!(
        tap(&b.ports[1]),
        Some(TapConfig {
            mac: None,
            addr: None,
            mtu: Some(9000),
        })
    );
    assert_eq!(tap(&b.ports[2]), None);
    for (from, to, want) in [
        (
            "    devargs: \"afpacket:pod\"\n",
            "    devargs: \"afpacket:pod\"\n    tap: {mtu: 1500}\n",
            "ports[2].tap: only a TAP port brisk creates has these",
        ),
        (
            "\"4e:99:08:c1:53:be\"",
            "\"4e:99:08:c1:53\"",
            "ports[0].tap.mac: 4e:99:08:c1:53 is not a MAC address",
        ),
        (
            "\"4e:99:08:c1:53:be\"",
            "\"01:00:5e:00:00:01\"",
            "ports[0].tap.mac: 01:00:5e:00:00:01 is a multicast address",
        ),
        (
            "ip: 10.222.1.1/24",
            "ip: 10.222.1.1",
            "ports[0].tap.ip: '10.222.1.1' is not ADDRESS/PREFIX",
        ),
        (
            "{mtu: 9000}",
            "{mtu: 10}",
            "ports[1].tap.mtu: 10 is outside",
        ),
        (
            "{mtu: 9000}",
            "{mtu: 1500, ipv6: x}",
            "unknown field `ipv6`",
        ),
    ] {
        let e = BridgeConfig::parse(&BRIDGE.replace(from, to), "b.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{want}: {e}");
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
fn a_gateway_tap_gets_the_nodes_mac_address_and_mtu() {
    let plan = Plan::parse(&worker1(), "w1.yaml").unwrap();
    assert_eq!(plan.node().gateway_mtu(), 1450);
    let b = plan.bridge().unwrap();
    let gw = b.ports.iter().find(|p| p.name == "antrea-gw0").unwrap();
    assert_eq!(
        tap(gw),
        Some(TapConfig {
            mac: Some(0x4e99_08c1_53be),
            addr: Some((Ipv4Addr::new(10, 222, 1, 1), 24)),
            mtu: Some(1450),
        })
    );
    // Only the gateway, and only as a TAP.
    assert!(b.ports.iter().filter(|p| tap(p).is_some()).count() == 1);
    let y = worker1().replace("net_tap_gw1,iface=antrea-gw0", "net_null_gw");
    let b = Plan::parse(&y, "w1.yaml").unwrap().bridge().unwrap();
    assert!(b.ports.iter().all(|p| tap(p).is_none()));
    // brisk's own TAP, an MTU given; the uplink's MTU moves the default.
    let y = worker1()
        .replace("net_tap_gw1,iface=antrea-gw0", "tap:antrea-gw0")
        .replace(
            "  mac: \"4e:99:08:c1:53:be\"\n",
            "  mac: \"4e:99:08:c1:53:be\"\n  mtu: 1400\n",
        );
    let b = Plan::parse(&y, "w1.yaml").unwrap().bridge().unwrap();
    assert_eq!(tap(&b.ports[0]).unwrap().mtu, Some(1400));
    let y = worker1().replace(
        "  mac: \"00:50:56:8f:4e:82\"\n",
        "  mac: \"00:50:56:8f:4e:82\"\n  mtu: 9000\n",
    );
    assert_eq!(
        NodeConfig::parse(&y, "w1.yaml").unwrap().gateway_mtu(),
        8950
    );
    // Checked: given, or as the default.
    let y = worker1().replace(
        "  mac: \"4e:99:08:c1:53:be\"\n",
        "  mac: \"4e:99:08:c1:53:be\"\n  mtu: 20\n",
    );
    let e = NodeConfig::parse(&y, "w1.yaml").unwrap_err().to_string();
    assert!(e.contains("w1.yaml:25: gateway.mtu: 20 is outside"), "{e}");
    let y = worker1().replace(
        "  mac: \"00:50:56:8f:4e:82\"\n",
        "  mac: \"00:50:56:8f:4e:82\"\n  mtu: 100\n",
    );
    let e = NodeConfig::parse(&y, "w1.yaml").unwrap_err().to_string();
    assert!(
        e.contains("gateway.mtu: 50 is outside")
            && e.contains("(the default: the uplink's MTU less 50)"),
        "{e}"
    );
}
