//! The checks a node description must pass: one function per section, called in the order
//! the errors are reported (a file's problems come out top to bottom, section by section).

use super::{
    parse_endpoint, proto_number, IpBlock, LabelSelector, Labels, NetworkPolicy, NodeConfig,
    PolicyPeer, PolicyPort, ProxyMode, Service,
};
use crate::net::{parse_cidr, Cidr};
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// What the checks parsed that the bridge of a node is made of, kept so that it is not
/// parsed again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Checked {
    /// The uplink's address and subnet.
    pub uplink: (Ipv4Addr, Cidr),
    /// The pod CIDR (the gateway interface's prefix length).
    pub pod_cidr: Cidr,
    /// The gateway's MAC.
    pub gateway_mac: u64,
}

impl NodeConfig {
    /// The values a valid description's bridge needs, or every problem with it, as (field
    /// path, message).
    pub(super) fn check(&self) -> Result<Checked, Vec<(String, String)>> {
        let mut c = Checker::new(self);
        c.addresses();
        c.uplink();
        c.tunnel();
        c.gateway();
        c.peers();
        c.infra_ports();
        c.pods();
        c.remote_pods();
        c.services();
        c.policies();
        match (c.out.is_empty(), c.uplink, c.pod_cidr, c.gateway_mac) {
            (true, Some(uplink), Some(pod_cidr), Some(gateway_mac)) => Ok(Checked {
                uplink,
                pod_cidr,
                gateway_mac,
            }),
            // A value that did not parse is a problem reported.
            _ => {
                debug_assert!(!c.out.is_empty());
                Err(c.out)
            }
        }
    }
}

/// The problems found so far and what earlier sections learnt that later ones need.
struct Checker<'a> {
    node: &'a NodeConfig,
    out: Vec<(String, String)>,
    /// `pod_cidr`, when it parses.
    pod_cidr: Option<Cidr>,
    /// `service_cidr`, when it parses.
    svc_cidr: Option<Cidr>,
    /// The uplink's address and subnet, when they parse.
    uplink: Option<(Ipv4Addr, Cidr)>,
    /// The gateway's MAC, when it parses.
    gateway_mac: Option<u64>,
    /// Each peer's pod CIDR that parses, by peer index.
    peer_cidrs: Vec<(usize, Cidr)>,
    /// OpenFlow port numbers in use, with the path of their port.
    ofports: HashMap<u32, String>,
    /// Port names in use, with the path of their port.
    names: HashMap<String, String>,
    /// Addresses in use (gateway, pods, remote pods), with the path of their owner.
    ips: HashMap<Ipv4Addr, String>,
    /// MACs in use (gateway, virtual MAC, pods), with the path of their owner.
    macs: HashMap<u64, String>,
}

fn mac_ok(m: &str) -> bool {
    pipeline::ofctl::parse_mac(m).is_some()
}

fn fmt_selector(s: &LabelSelector) -> String {
    if s.match_labels.is_empty() {
        return "{}".into();
    }
    s.match_labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl<'a> Checker<'a> {
    fn new(node: &'a NodeConfig) -> Self {
        Checker {
            node,
            out: Vec::new(),
            pod_cidr: None,
            svc_cidr: None,
            uplink: None,
            gateway_mac: None,
            peer_cidrs: Vec::new(),
            ofports: HashMap::new(),
            names: HashMap::new(),
            ips: HashMap::new(),
            macs: HashMap::new(),
        }
    }

    fn bad(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.out.push((path.into(), msg.into()));
    }

    /// The node's name, and the addresses and CIDRs later sections check against.
    fn addresses(&mut self) {
        let n = self.node;
        if n.node.trim().is_empty() {
            self.bad("node", "the node name is empty");
        }
        self.pod_cidr = match parse_cidr(&n.pod_cidr) {
            Ok(c) => Some(c),
            Err(e) => {
                self.bad("pod_cidr", e);
                None
            }
        };
        self.svc_cidr = match parse_cidr(&n.service_cidr) {
            Ok(c) => Some(c),
            Err(e) => {
                self.bad("service_cidr", e);
                None
            }
        };
        self.uplink = match crate::net::parse_iface_addr(&n.uplink.ip) {
            Ok(a) => Some(a),
            Err(e) => {
                self.bad("uplink.ip", e);
                None
            }
        };
    }

    /// The uplink's gateway, MAC and MTU, with the virtual MAC and the node's sizing (which
    /// have always been reported between the uplink's MAC and its MTU).
    fn uplink(&mut self) {
        let n = self.node;
        if let (Some((addr, net)), Some(gw)) = (self.uplink, n.uplink.gateway) {
            if !net.contains(gw) {
                self.bad(
                    "uplink.gateway",
                    format!("{gw} is outside the uplink's subnet {net}"),
                );
            }
            if gw == addr {
                self.bad("uplink.gateway", format!("{gw} is the node's own address"));
            }
        }
        if let Some(m) = &n.uplink.mac {
            if !mac_ok(m) {
                self.bad("uplink.mac", format!("{m} is not a MAC address"));
            }
        }
        if !mac_ok(&n.virtual_mac) {
            self.bad(
                "virtual_mac",
                format!("{} is not a MAC address", n.virtual_mac),
            );
        }
        let sizing = crate::limits::sizing(n.mbufs, n.conntrack_max, n.workers.as_deref());
        for (path, msg) in sizing {
            self.bad(path, msg);
        }
        if let Some(m) = n.uplink.mtu.and_then(crate::limits::mtu) {
            self.bad("uplink.mtu", m);
        }
    }

    /// The tunnel's UDP port, encapsulation and TLV option.
    fn tunnel(&mut self) {
        let n = self.node;
        if n.tunnel.dst_port == 0 {
            self.bad("tunnel.dst_port", "0 is outside 1..65535 (UDP ports)");
        }
        if n.tunnel.kind != "geneve" {
            self.bad(
                "tunnel.type",
                format!("'{}' is not supported (only geneve)", n.tunnel.kind),
            );
        }
        let t = n.tunnel.tlv;
        if t.len == 0 || !t.len.is_multiple_of(4) || t.len > 8 {
            self.bad(
                "tunnel.tlv.len",
                format!(
                    "{} must be 4 or 8 (tun_metadata0 holds up to 8 bytes)",
                    t.len
                ),
            );
        }
    }

    /// The gateway's MAC, MTU and address.
    fn gateway(&mut self) {
        let n = self.node;
        self.gateway_mac = pipeline::ofctl::parse_mac(&n.gateway.mac);
        if self.gateway_mac.is_none() {
            self.bad(
                "gateway.mac",
                format!("{} is not a MAC address", n.gateway.mac),
            );
        }
        if let Some(m) = crate::limits::mtu(n.gateway_mtu()) {
            let why = match n.gateway.mtu {
                Some(_) => "",
                None => " (the default: the uplink's MTU less 50)",
            };
            self.bad("gateway.mtu", format!("{m}{why}"));
        }
        if let Some(pc) = self.pod_cidr {
            if !pc.contains(n.gateway.ip) {
                self.bad(
                    "gateway.ip",
                    format!("{} is outside pod_cidr {pc}", n.gateway.ip),
                );
            }
        }
    }

    /// Peers: unique names and addresses, their pod CIDRs; then the CIDR overlaps between
    /// the own pod CIDR, the service CIDR and the peers' pod CIDRs.
    fn peers(&mut self) {
        let n = self.node;
        let mut cidrs: Vec<(String, Cidr)> = Vec::new();
        if let Some(c) = self.pod_cidr {
            cidrs.push(("pod_cidr".into(), c));
        }
        if let Some(c) = self.svc_cidr {
            cidrs.push(("service_cidr".into(), c));
        }
        let mut peer_names = HashMap::new();
        let mut peer_ips = HashMap::new();
        for (i, p) in n.peers.iter().enumerate() {
            let path = format!("peers[{i}]");
            if let Some(j) = peer_names.insert(p.name.as_str(), i) {
                self.bad(
                    format!("{path}.name"),
                    format!("{} is already peers[{j}]", p.name),
                );
            }
            if p.name == n.node {
                self.bad(format!("{path}.name"), format!("{} is this node", p.name));
            }
            if let Some(j) = peer_ips.insert(p.node_ip, i) {
                self.bad(
                    format!("{path}.node_ip"),
                    format!("{} is already peers[{j}]", p.node_ip),
                );
            }
            if self.uplink.is_some_and(|(a, _)| a == p.node_ip) {
                self.bad(
                    format!("{path}.node_ip"),
                    format!("{} is this node's address", p.node_ip),
                );
            }
            match parse_cidr(&p.pod_cidr) {
                Ok(c) => {
                    if !c.contains(p.gateway_ip) {
                        self.bad(
                            format!("{path}.gateway_ip"),
                            format!("{} is outside its pod_cidr {c}", p.gateway_ip),
                        );
                    }
                    cidrs.push((format!("{path}.pod_cidr"), c));
                    self.peer_cidrs.push((i, c));
                }
                Err(e) => self.bad(format!("{path}.pod_cidr"), e),
            }
        }
        for i in 0..cidrs.len() {
            for j in 0..i {
                if cidrs[i].1.overlaps(&cidrs[j].1) {
                    self.bad(
                        cidrs[i].0.clone(),
                        format!("{} overlaps {} ({})", cidrs[i].1, cidrs[j].0, cidrs[j].1),
                    );
                }
            }
        }
    }

    /// One port's number and name: valid, and unique across gateway, tunnel, uplink and
    /// pods.
    fn port(&mut self, path: &str, name: &str, n: u32) {
        if let Err(e) = crate::limits::ofport(n) {
            self.bad(format!("{path}.ofport"), e);
        } else if let Some(o) = self.ofports.insert(n, path.to_string()) {
            self.bad(
                format!("{path}.ofport"),
                format!("{n} is already used by {o}"),
            );
        }
        if let Err(e) = crate::limits::port_name(name) {
            self.bad(format!("{path}.name"), e);
        }
        if let Some(o) = self.names.insert(name.to_string(), path.to_string()) {
            self.bad(
                format!("{path}.name"),
                format!("{name} is already used by {o}"),
            );
        }
    }

    /// The gateway, tunnel and uplink ports; the gateway's address and MAC taken, and the
    /// virtual MAC checked against it.
    fn infra_ports(&mut self) {
        let n = self.node;
        self.port("gateway", &n.gateway.name, n.gateway.ofport);
        self.port("tunnel", &n.tunnel.name, n.tunnel.ofport);
        self.port("uplink", &n.uplink.name, n.uplink.ofport);
        self.ips.insert(n.gateway.ip, "gateway".into());
        if let Some(m) = self.gateway_mac {
            self.macs.insert(m, "gateway".into());
        }
        if let Some(m) = pipeline::ofctl::parse_mac(&n.virtual_mac) {
            if let Some(o) = self.macs.insert(m, "virtual_mac".into()) {
                self.bad("virtual_mac", format!("{} is {o}'s MAC", n.virtual_mac));
            }
        }
    }

    /// Local pods: port, address inside the pod CIDR and unused, unicast MAC unused.
    fn pods(&mut self) {
        let n = self.node;
        for (i, p) in n.pods.iter().enumerate() {
            let path = format!("pods[{i}]");
            self.port(&path, &p.name, p.ofport);
            if let Some(pc) = self.pod_cidr {
                if !pc.contains(p.ip) {
                    self.bad(
                        format!("{path}.ip"),
                        format!("{} is outside pod_cidr {pc}", p.ip),
                    );
                } else if p.ip == pc.network() || p.ip == pc.broadcast() {
                    self.bad(
                        format!("{path}.ip"),
                        format!("{} is the network or broadcast address of {pc}", p.ip),
                    );
                }
            }
            if let Some(o) = self.ips.insert(p.ip, path.clone()) {
                self.bad(
                    format!("{path}.ip"),
                    format!("{} is already used by {o}", p.ip),
                );
            }
            match pipeline::ofctl::parse_mac(&p.mac) {
                None => self.bad(
                    format!("{path}.mac"),
                    format!("{} is not a MAC address", p.mac),
                ),
                Some(m) if m & (1 << 40) != 0 => self.bad(
                    format!("{path}.mac"),
                    format!("{} is a multicast address", p.mac),
                ),
                Some(m) => {
                    if let Some(o) = self.macs.insert(m, path.clone()) {
                        self.bad(
                            format!("{path}.mac"),
                            format!("{} is already used by {o}", p.mac),
                        );
                    }
                }
            }
        }
    }

    /// Remote pods: inside the pod CIDR of their node, addresses unused.
    fn remote_pods(&mut self) {
        let n = self.node;
        for (i, p) in n.remote_pods.iter().enumerate() {
            let path = format!("remote_pods[{i}]");
            let home = self.peer_cidrs.iter().find(|(_, c)| c.contains(p.ip));
            match home.map(|&(j, _)| &n.peers[j].name) {
                None => self.bad(
                    format!("{path}.ip"),
                    format!("{} is in no peer's pod_cidr", p.ip),
                ),
                Some(peer) => {
                    if let Some(node) = &p.node {
                        if node != peer {
                            self.bad(
                                format!("{path}.node"),
                                format!("{} is in {peer}'s pod_cidr, not {node}'s", p.ip),
                            );
                        }
                    }
                }
            }
            if let Some(o) = self.ips.insert(p.ip, path.clone()) {
                self.bad(
                    format!("{path}.ip"),
                    format!("{} is already used by {o}", p.ip),
                );
            }
        }
    }

    /// Services: cluster IP inside the service CIDR, ports, endpoints.
    fn services(&mut self) {
        let n = self.node;
        for (i, s) in n.services.iter().enumerate() {
            let path = format!("services[{i}]");
            if let Some(sc) = self.svc_cidr {
                if !sc.contains(s.cluster_ip) {
                    self.bad(
                        format!("{path}.cluster_ip"),
                        format!("{} is outside service_cidr {sc}", s.cluster_ip),
                    );
                }
            }
            if s.ports.is_empty() {
                self.bad(format!("{path}.ports"), "a service needs at least one port");
            }
            for (j, p) in s.ports.iter().enumerate() {
                if proto_number(&p.protocol).is_none() {
                    self.bad(
                        format!("{path}.ports[{j}].protocol"),
                        format!("'{}' is not TCP, UDP or SCTP", p.protocol),
                    );
                }
                if p.port == 0 {
                    self.bad(format!("{path}.ports[{j}].port"), "port 0");
                }
                if p.target_port == Some(0) {
                    self.bad(format!("{path}.ports[{j}].target_port"), "port 0");
                }
            }
            if !(1..=86_400).contains(&s.session_affinity_timeout) {
                self.bad(
                    format!("{path}.session_affinity_timeout"),
                    format!(
                        "{} s: Kubernetes allows 1 to 86400 seconds",
                        s.session_affinity_timeout
                    ),
                );
            }
            self.endpoints(&path, s);
        }
    }

    /// A service's endpoints: `IP:PORT`, and with in-switch load balancing on one of its
    /// target ports.
    fn endpoints(&mut self, path: &str, s: &Service) {
        let target = |p: &super::ServicePort| p.target_port.unwrap_or(p.port);
        for (j, e) in s.endpoints.iter().enumerate() {
            match parse_endpoint(e) {
                None => self.bad(
                    format!("{path}.endpoints[{j}]"),
                    format!("'{e}' is not IP:PORT"),
                ),
                // In-switch load balancing sends each service port to the endpoints on
                // its target port: an endpoint on no target port would be unreachable.
                Some((_, port))
                    if self.node.proxy == ProxyMode::AntreaProxy
                        && !s.ports.is_empty()
                        && !s.ports.iter().any(|p| target(p) == port) =>
                {
                    let targets: Vec<String> =
                        s.ports.iter().map(|p| target(p).to_string()).collect();
                    self.bad(
                        format!("{path}.endpoints[{j}]"),
                        format!(
                            "port {port} is not a target port of the service ({})",
                            targets.join(", ")
                        ),
                    )
                }
                Some(_) => {}
            }
        }
    }

    /// NetworkPolicies: unique names, types, selectors that select something, rules.
    fn policies(&mut self) {
        let n = self.node;
        let mut pol_names = HashMap::new();
        for (i, pol) in n.policies.iter().enumerate() {
            let path = format!("policies[{i}]");
            if let Some(j) = pol_names.insert((pol.namespace.as_str(), pol.name.as_str()), i) {
                self.bad(
                    format!("{path}.name"),
                    format!("{}/{} is already policies[{j}]", pol.namespace, pol.name),
                );
            }
            self.policy(&path, pol);
        }
    }

    /// One policy's types, pod selector and rules.
    fn policy(&mut self, path: &str, pol: &NetworkPolicy) {
        if let Some(t) = &pol.policy_types {
            for (j, x) in t.iter().enumerate() {
                if x != "Ingress" && x != "Egress" {
                    self.bad(
                        format!("{path}.policyTypes[{j}]"),
                        format!("'{x}' is not Ingress or Egress"),
                    );
                }
            }
        }
        let any_pod = self
            .node
            .all_pods()
            .iter()
            .any(|p| p.namespace == pol.namespace && pol.pod_selector.matches(p.labels));
        if !any_pod {
            self.bad(
                format!("{path}.podSelector"),
                format!(
                    "selects no pod in namespace {} ({})",
                    pol.namespace,
                    fmt_selector(&pol.pod_selector)
                ),
            );
        }
        for (j, r) in pol.ingress.iter().enumerate() {
            let rp = format!("{path}.ingress[{j}]");
            self.rule_peers(&r.from, &format!("{rp}.from"), &pol.namespace);
            self.rule_ports(&r.ports, &format!("{rp}.ports"));
        }
        for (j, r) in pol.egress.iter().enumerate() {
            let rp = format!("{path}.egress[{j}]");
            self.rule_peers(&r.to, &format!("{rp}.to"), &pol.namespace);
            self.rule_ports(&r.ports, &format!("{rp}.ports"));
        }
    }

    /// The `from`/`to` entries of a rule of a policy in `policy_ns`: one kind each, and
    /// selecting something.
    fn rule_peers(&mut self, peers: &[PolicyPeer], rp: &str, policy_ns: &str) {
        let n = self.node;
        for (k, peer) in peers.iter().enumerate() {
            let pp = format!("{rp}[{k}]");
            let kinds = usize::from(peer.ip_block.is_some())
                + usize::from(peer.pod_selector.is_some() || peer.namespace_selector.is_some());
            if kinds != 1 {
                self.bad(pp, "give either ipBlock or podSelector/namespaceSelector");
                continue;
            }
            if let Some(b) = &peer.ip_block {
                self.ip_block(&pp, b);
                continue;
            }
            if let Some(ns) = &peer.namespace_selector {
                let empty = Labels::new();
                let any_ns = n
                    .all_pods()
                    .iter()
                    .any(|p| ns.matches(n.namespaces.get(p.namespace).unwrap_or(&empty)));
                if !any_ns {
                    self.bad(
                        format!("{pp}.namespaceSelector"),
                        format!("selects no namespace with a pod ({})", fmt_selector(ns)),
                    );
                    continue;
                }
            }
            if n.select_peer(peer, policy_ns).is_empty() {
                self.bad(
                    format!("{pp}.podSelector"),
                    format!(
                        "selects no pod ({})",
                        peer.pod_selector.as_ref().map_or("{}".into(), fmt_selector)
                    ),
                );
            }
        }
    }

    /// An `ipBlock`: its CIDR, and exceptions inside it.
    fn ip_block(&mut self, pp: &str, b: &IpBlock) {
        match parse_cidr(&b.cidr) {
            Err(e) => self.bad(format!("{pp}.ipBlock.cidr"), e),
            Ok(c) => {
                for (x, ex) in b.except.iter().enumerate() {
                    match parse_cidr(ex) {
                        Err(e) => self.bad(format!("{pp}.ipBlock.except[{x}]"), e),
                        Ok(e) if !c.covers(&e) => self.bad(
                            format!("{pp}.ipBlock.except[{x}]"),
                            format!("{e} is not inside {c}"),
                        ),
                        Ok(_) => {}
                    }
                }
            }
        }
    }

    /// The ports of a rule: protocol, port, range.
    fn rule_ports(&mut self, ports: &[PolicyPort], rp: &str) {
        for (k, p) in ports.iter().enumerate() {
            let pp = format!("{rp}[{k}]");
            let proto = p.protocol.as_deref().unwrap_or("TCP");
            if proto_number(proto).is_none() {
                self.bad(
                    format!("{pp}.protocol"),
                    format!("'{proto}' is not TCP, UDP or SCTP"),
                );
            }
            if p.port == Some(0) {
                self.bad(format!("{pp}.port"), "port 0");
            }
            match (p.port, p.end_port) {
                (None, Some(_)) => self.bad(format!("{pp}.endPort"), "endPort needs port"),
                (Some(a), Some(b)) if b < a => {
                    self.bad(format!("{pp}.endPort"), format!("{b} is below port {a}"))
                }
                _ => {}
            }
        }
    }
}
