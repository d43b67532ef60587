//! What a running node cannot take from a new description without a restart: the fields
//! the switch uses only when it starts.

use super::NodeConfig;
use crate::bridge::DEFAULT_MTU;
use std::fmt::Display;

impl NodeConfig {
    /// Every field of `new` that differs from this running description and that the
    /// switch uses only when it starts, as `YAML.PATH (OLD -> NEW)`: what `brisk ctl
    /// reload` refuses (the node and bridge names, EAL arguments, sizing, metrics, the
    /// uplink, tunnel and gateway ports, the pod CIDR the gateway's address is in).
    /// Addresses and MACs are compared as values, however written.
    pub fn restart_changes(&self, new: &NodeConfig) -> Vec<String> {
        restart_changes(self, new)
    }
}

fn restart_changes(old: &NodeConfig, new: &NodeConfig) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = |path: &str, same: bool, a: String, b: String| {
        if !same {
            out.push(format!("{path} ({a} -> {b})"));
        }
    };
    macro_rules! cmp {
        ($path:literal, $show:expr, $($f:tt)+) => {
            field($path, old.$($f)+ == new.$($f)+, $show(&old.$($f)+), $show(&new.$($f)+))
        };
    }
    cmp!("node", show, node);
    cmp!("bridge", show, bridge);
    cmp!("eal", |v: &Vec<String>| list(v), eal);
    cmp!(
        "workers",
        |v: &Option<Vec<u32>>| v.as_deref().map_or("unset".into(), list),
        workers
    );
    cmp!("mbufs", opt, mbufs);
    cmp!("conntrack_max", opt, conntrack_max);
    cmp!("metrics", opt, metrics);
    cmp!("uplink.name", show, uplink.name);
    cmp!("uplink.ofport", show, uplink.ofport);
    cmp!("uplink.devargs", opt, uplink.devargs);
    let addr = |s: &str| crate::net::parse_iface_addr(s).ok();
    let (a, b) = (&old.uplink.ip, &new.uplink.ip);
    field(
        "uplink.ip",
        addr(a).is_some() && addr(a) == addr(b) || a == b,
        a.clone(),
        b.clone(),
    );
    cmp!("uplink.gateway", opt, uplink.gateway);
    let (a, b) = (&old.uplink.mac, &new.uplink.mac);
    let same = same_mac(a.as_deref(), b.as_deref());
    field("uplink.mac", same, opt(a), opt(b));
    let (a, b) = (
        old.uplink.mtu.unwrap_or(DEFAULT_MTU),
        new.uplink.mtu.unwrap_or(DEFAULT_MTU),
    );
    field("uplink.mtu", a == b, show(&a), show(&b));
    cmp!("tunnel.name", show, tunnel.name);
    cmp!("tunnel.ofport", show, tunnel.ofport);
    cmp!("tunnel.type", show, tunnel.kind);
    cmp!("tunnel.dst_port", show, tunnel.dst_port);
    cmp!("tunnel.csum", show, tunnel.csum);
    let tlv = |t: &super::Tlv| {
        format!(
            "{{class: {:#x}, type: {:#x}, len: {}}}",
            t.class, t.kind, t.len
        )
    };
    cmp!("tunnel.tlv", tlv, tunnel.tlv);
    cmp!("gateway.name", show, gateway.name);
    cmp!("gateway.ofport", show, gateway.ofport);
    cmp!("gateway.devargs", opt, gateway.devargs);
    cmp!("gateway.ip", show, gateway.ip);
    let (a, b) = (&old.gateway.mac, &new.gateway.mac);
    let same = same_mac(Some(a), Some(b));
    field("gateway.mac", same, a.clone(), b.clone());
    let (a, b) = (old.gateway_mtu(), new.gateway_mtu());
    field("gateway.mtu", a == b, show(&a), show(&b));
    // The gateway interface's address is in the pod CIDR, with its prefix length.
    let cidr = |s: &str| crate::net::parse_cidr(s).ok();
    let (a, b) = (&old.pod_cidr, &new.pod_cidr);
    field(
        "pod_cidr",
        cidr(a).is_some() && cidr(a) == cidr(b) || a == b,
        a.clone(),
        b.clone(),
    );
    out
}

/// The same MAC address, however written (or the same text if one is not a MAC).
fn same_mac(a: Option<&str>, b: Option<&str>) -> bool {
    let parse = pipeline::ofctl::parse_mac;
    match (a, b) {
        (Some(x), Some(y)) => match (parse(x), parse(y)) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        _ => a == b,
    }
}

fn show<T: Display>(v: &T) -> String {
    v.to_string()
}

fn opt<T: Display>(v: &Option<T>) -> String {
    v.as_ref().map_or("unset".into(), ToString::to_string)
}

fn list<T: Display>(v: &[T]) -> String {
    let items: Vec<String> = v.iter().map(ToString::to_string).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker1() -> NodeConfig {
        let text = include_str!("../../examples/worker1.yaml");
        NodeConfig::parse(text, "worker1.yaml").unwrap()
    }

    #[test]
    fn what_only_changes_flows_and_pods_is_no_restart() {
        let old = worker1();
        let mut new = old.clone();
        assert!(restart_changes(&old, &new).is_empty());
        new.pods.pop();
        new.pods[0].ofport = 99;
        new.services.clear();
        new.policies.clear();
        new.peers.pop();
        new.remote_pods.clear();
        new.virtual_mac = "aa:bb:cc:dd:ee:00".into();
        new.proxy = super::super::ProxyMode::AntreaProxy;
        new.ct_zone = 1;
        new.service_cidr = "10.100.0.0/16".into();
        // The same values written differently.
        new.gateway.mac = old.gateway.mac.to_uppercase();
        new.gateway.mtu = Some(1450);
        new.uplink.mtu = Some(1500);
        assert_eq!(restart_changes(&old, &new), Vec::<String>::new());
    }

    #[test]
    fn start_only_fields_are_named_with_both_values() {
        let old = worker1();
        let mut new = old.clone();
        new.eal.push("--no-pci".into());
        new.workers = Some(vec![1, 2]);
        new.mbufs = Some(4095);
        new.metrics = Some("127.0.0.1:9100".into());
        new.uplink.ip = "10.79.1.201/16".into();
        new.uplink.mac = None;
        new.tunnel.dst_port = 6082;
        new.tunnel.tlv.len = 8;
        new.gateway.devargs = Some("tap:antrea-gw0".into());
        new.pod_cidr = "10.222.1.0/25".into();
        assert_eq!(
            restart_changes(&old, &new),
            [
                "eal ([-l, 0-1, --no-huge, -m, 512, --no-pci, --file-prefix=worker1] -> [-l, 0-1, --no-huge, -m, 512, --no-pci, --file-prefix=worker1, --no-pci])",
                "workers (unset -> [1, 2])",
                "mbufs (unset -> 4095)",
                "metrics (unset -> 127.0.0.1:9100)",
                "uplink.ip (10.79.1.201/24 -> 10.79.1.201/16)",
                "uplink.mac (00:50:56:8f:4e:82 -> unset)",
                "tunnel.dst_port (6081 -> 6082)",
                "tunnel.tlv ({class: 0x104, type: 0x80, len: 4} -> {class: 0x104, type: 0x80, len: 8})",
                "gateway.devargs (net_tap_gw1,iface=antrea-gw0 -> tap:antrea-gw0)",
                "pod_cidr (10.222.1.0/24 -> 10.222.1.0/25)",
            ]
        );
    }
}
