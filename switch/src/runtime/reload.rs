//! `brisk ctl reload FILE`: a node description applied to the running switch.

use super::ports::{port_add, port_del};
use super::state::Shared;
use conf::node::NodeConfig;
use std::fmt::Display;

/// `brisk ctl reload FILE`: makes the switch what a node description now says, or refuses
/// and changes nothing. What it applies live: pods added, removed or changed (a pod whose
/// devargs or number changed is restarted), and everything that only changes flows and
/// groups (addresses, labels, peers, remote pods, services, policies, the proxy mode...):
/// new pod ports are started, the generated flows and groups replace the tables atomically
/// (flows that stay keep their counters, conntrack is untouched, so other pods'
/// connections carry on), then ports no longer described are stopped. Everything the
/// switch uses only when it starts (the node and bridge names, EAL arguments, sizing,
/// metrics, the uplink, tunnel and gateway ports, the pod CIDR the gateway's address is
/// in) must be as it is running: each difference is named in the error. A switch started
/// from a bridge file (`--bridge`) has no node description to reload.
pub(crate) fn reload(shared: &Shared, file: &str, text: &str) -> Result<String, String> {
    // Held to the end: one reload at a time, and the description updated with the switch.
    let mut running = shared.node.lock();
    let Some(old) = running.as_ref() else {
        return Err(format!(
            "{file}: reload needs a switch started from a node description (brisk run --config); this one runs a bridge file (--bridge): restart it to change its configuration"
        ));
    };
    let node = NodeConfig::parse(text, file).map_err(|e| e.to_string())?;
    let changes = restart_changes(old, &node);
    if !changes.is_empty() {
        return Err(format!(
            "{file}: cannot apply without a restart: {}",
            changes.join(", ")
        ));
    }
    let want = node.bridge_config(file).map_err(|e| e.to_string())?;
    let pods: Vec<&conf::bridge::PortConfig> = want
        .ports
        .iter()
        .filter(|p| node.pods.iter().any(|q| q.name == p.name))
        .collect();
    let mut added = Vec::new();
    let mut restarted = Vec::new();
    for p in &pods {
        let devargs = p.devargs.clone().unwrap_or_default();
        let cur = shared.ports();
        let existing = cur.list.iter().find(|r| r.name == p.name).cloned();
        drop(cur);
        match existing {
            Some(r) if r.ofport == p.ofport && r.desc == devargs => {}
            Some(_) => {
                port_del(shared, &p.name)?;
                port_add(shared, &p.name, &p.ofport.to_string(), &devargs)?;
                restarted.push(p.name.clone());
            }
            None => {
                port_add(shared, &p.name, &p.ofport.to_string(), &devargs)?;
                added.push(p.name.clone());
            }
        }
    }
    let generated = conf::antrea::generate(&node);
    let ports = shared.bridge.ports();
    let (flows, errs) = pipeline::ofctl::parse_flow_file(
        &generated.text(),
        pipeline::ofctl::Mode::Add,
        ports.names(),
    );
    let (groups, gerrs) =
        pipeline::ofctl::parse_group_file(&generated.groups_text(), ports.names());
    drop(ports);
    if let Some(e) = errs.first() {
        return Err(format!(
            "{file}: a generated flow does not load (a brisk bug): {e}"
        ));
    }
    if let Some(e) = gerrs.first() {
        return Err(format!(
            "{file}: a generated group does not load (a brisk bug): {e}"
        ));
    }
    let flows: Vec<_> = flows.into_iter().map(|(_, f)| f).collect();
    let groups: Vec<_> = groups.into_iter().map(|(_, g)| g).collect();
    let (gs, st) = shared
        .bridge
        .replace_groups_and_flows(&groups, &flows, shared.now_ms())
        .map_err(|e| e.to_string())?;
    let keep: Vec<String> = want.ports.iter().map(|p| p.name.clone()).collect();
    let cur = shared.ports();
    let gone: Vec<String> = cur
        .list
        .iter()
        .map(|r| r.name.clone())
        .filter(|n| !keep.contains(n))
        .collect();
    drop(cur);
    for n in &gone {
        port_del(shared, n)?;
    }
    let summary = format!(
        "node {}: ports added {:?}, removed {:?}, restarted {:?}; flows {} added, {} modified, {} deleted, {} unchanged; groups {} added, {} modified, {} deleted, {} unchanged\n",
        node.node, added, gone, restarted, st.added, st.modified, st.deleted, st.unchanged,
        gs.added, gs.modified, gs.deleted, gs.unchanged
    );
    let base_dir = old.base_dir.clone();
    *running = Some(NodeConfig { base_dir, ..node });
    Ok(summary)
}

/// Every field of `new` that differs from `old` and that the switch uses only when it
/// starts, as `YAML.PATH (OLD -> NEW)`.
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
    let addr = |s: &str| conf::net::parse_iface_addr(s).ok();
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
        old.uplink.mtu.unwrap_or(1500),
        new.uplink.mtu.unwrap_or(1500),
    );
    field("uplink.mtu", a == b, show(&a), show(&b));
    cmp!("tunnel.name", show, tunnel.name);
    cmp!("tunnel.ofport", show, tunnel.ofport);
    cmp!("tunnel.type", show, tunnel.kind);
    cmp!("tunnel.dst_port", show, tunnel.dst_port);
    cmp!("tunnel.csum", show, tunnel.csum);
    let tlv = |t: &conf::node::Tlv| {
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
    let cidr = |s: &str| conf::net::parse_cidr(s).ok();
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
        let text = include_str!("../../../conf/examples/worker1.yaml");
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
        new.proxy = conf::node::ProxyMode::AntreaProxy;
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
