//! A Kubernetes node described in YAML — uplink, tunnel, gateway, pods, peers, services,
//! NetworkPolicies — in the shape an Antrea agent knows it. [`crate::antrea`] compiles it
//! into the flows Antrea would program; [`NodeConfig::bridge_config`] into the ports a
//! `brisk run` starts.

use crate::bridge::ConfError;
use crate::net::{parse_cidr, Cidr};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Labels of a pod or namespace.
pub type Labels = BTreeMap<String, String>;

/// The node's underlay port.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Uplink {
    /// Port name (default `uplink`).
    #[serde(default = "d_uplink_name")]
    pub name: String,
    /// OpenFlow port number (default 7).
    #[serde(default = "d_uplink_ofport")]
    pub ofport: u32,
    /// DPDK devargs of the NIC (`0000:01:00.0`, `net_af_packet0,iface=eth1`, ...).
    #[serde(default)]
    pub devargs: Option<String>,
    /// Node address with prefix (`10.79.1.201/24`).
    pub ip: String,
    /// Default gateway of the underlay.
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    /// The NIC's MAC, for documentation and checks (the port's own MAC is used).
    #[serde(default)]
    pub mac: Option<String>,
    /// Underlay MTU (default 1500).
    #[serde(default)]
    pub mtu: Option<u16>,
}

fn d_uplink_name() -> String {
    "uplink".into()
}
fn d_uplink_ofport() -> u32 {
    7
}

/// A Geneve TLV option mapped to `tun_metadata0`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Tlv {
    /// Option class.
    pub class: u16,
    /// Option type.
    #[serde(rename = "type")]
    pub kind: u8,
    /// Data length in bytes (multiple of 4, at most 8).
    pub len: u8,
}

/// The overlay tunnel port.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Tunnel {
    /// Port name (default `antrea-tun0`).
    #[serde(default = "d_tun_name")]
    pub name: String,
    /// OpenFlow port number (default 1).
    #[serde(default = "d_tun_ofport")]
    pub ofport: u32,
    /// Encapsulation: only `geneve`.
    #[serde(rename = "type", default = "d_tun_type")]
    pub kind: String,
    /// UDP destination port (default 6081).
    #[serde(default = "d_tun_port")]
    pub dst_port: u16,
    /// Outer UDP checksum.
    #[serde(default)]
    pub csum: bool,
    /// The TLV option Antrea carries (default class 0x104, type 0x80, len 4).
    #[serde(default = "d_tlv")]
    pub tlv: Tlv,
}

impl Default for Tunnel {
    fn default() -> Self {
        Tunnel {
            name: d_tun_name(),
            ofport: d_tun_ofport(),
            kind: d_tun_type(),
            dst_port: d_tun_port(),
            csum: false,
            tlv: d_tlv(),
        }
    }
}

fn d_tun_name() -> String {
    "antrea-tun0".into()
}
fn d_tun_ofport() -> u32 {
    1
}
fn d_tun_type() -> String {
    "geneve".into()
}
fn d_tun_port() -> u16 {
    6081
}
fn d_tlv() -> Tlv {
    Tlv {
        class: 0x104,
        kind: 0x80,
        len: 4,
    }
}

/// The node's gateway port (`antrea-gw0`): the host's way into the pod network.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// Port name (default `antrea-gw0`).
    #[serde(default = "d_gw_name")]
    pub name: String,
    /// OpenFlow port number (default 2).
    #[serde(default = "d_gw_ofport")]
    pub ofport: u32,
    /// DPDK devargs (`net_tap0,iface=antrea-gw0` for a host interface).
    #[serde(default)]
    pub devargs: Option<String>,
    /// Gateway address (first address of the pod CIDR in Antrea).
    pub ip: Ipv4Addr,
    /// Gateway MAC.
    pub mac: String,
    /// MTU of the gateway interface (default: the uplink's less 50, Geneve's overhead, as
    /// Antrea sets it). brisk sets it, the MAC and `ip`/the pod CIDR's prefix on the TAP
    /// interface it creates for a `tap:` or `net_tap…,iface=` gateway.
    #[serde(default)]
    pub mtu: Option<u16>,
}

fn d_gw_name() -> String {
    "antrea-gw0".into()
}
fn d_gw_ofport() -> u32 {
    2
}

/// Another node of the cluster, reached through the tunnel.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// Node name.
    pub name: String,
    /// Underlay address.
    pub node_ip: Ipv4Addr,
    /// Its pod CIDR.
    pub pod_cidr: String,
    /// Its gateway address (answered by the local ARP responder with the virtual MAC).
    pub gateway_ip: Ipv4Addr,
}

/// A pod on this node.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Pod {
    /// Interface name (the port name flows use, e.g. `frontend-a3ba2f`).
    pub name: String,
    /// Namespace (default `default`).
    #[serde(default = "d_ns")]
    pub namespace: String,
    /// OpenFlow port number.
    pub ofport: u32,
    /// DPDK devargs of the pod's interface (vhost-user, TAP, AF_PACKET on a veth...).
    #[serde(default)]
    pub devargs: Option<String>,
    /// Pod address.
    pub ip: Ipv4Addr,
    /// Pod MAC.
    pub mac: String,
    /// Labels (what NetworkPolicies select on).
    #[serde(default)]
    pub labels: Labels,
}

fn d_ns() -> String {
    "default".into()
}

/// A pod on another node: only its address and labels matter here (for policies).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RemotePod {
    /// Pod name.
    pub name: String,
    /// Namespace (default `default`).
    #[serde(default = "d_ns")]
    pub namespace: String,
    /// Pod address (inside one peer's pod CIDR).
    pub ip: Ipv4Addr,
    /// Node it runs on (a peer's name).
    #[serde(default)]
    pub node: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
}

/// One port of a service.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServicePort {
    /// Service port.
    pub port: u16,
    /// `TCP` (default), `UDP` or `SCTP`.
    #[serde(default = "d_tcp")]
    pub protocol: String,
    /// Endpoint port (default: the service port).
    #[serde(default)]
    pub target_port: Option<u16>,
}

fn d_tcp() -> String {
    "TCP".into()
}

/// A ClusterIP service.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Name.
    pub name: String,
    /// Namespace (default `default`).
    #[serde(default = "d_ns")]
    pub namespace: String,
    /// Cluster IP (inside `service_cidr`).
    pub cluster_ip: Ipv4Addr,
    /// Ports.
    pub ports: Vec<ServicePort>,
    /// Endpoints, `IP:PORT`.
    #[serde(default)]
    pub endpoints: Vec<String>,
}

/// How service traffic is handled.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyMode {
    /// Service CIDR traffic goes to the gateway, where kube-proxy's iptables DNAT it
    /// (the seed's behaviour).
    #[default]
    KubeProxy,
    /// Load balancing in the switch (AntreaProxy: ct NAT + select groups).
    AntreaProxy,
}

/// `matchLabels` selector (`{}` selects everything).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels that must all match.
    #[serde(default)]
    pub match_labels: Labels,
}

impl LabelSelector {
    /// True when every label of the selector is on `labels`.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// An `ipBlock` peer.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IpBlock {
    /// CIDR.
    pub cidr: String,
    /// CIDRs inside it that are excluded.
    #[serde(default)]
    pub except: Vec<String>,
}

/// A `from`/`to` entry of a rule.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyPeer {
    /// Pods (in the policy's namespace unless `namespaceSelector` is given).
    #[serde(default)]
    pub pod_selector: Option<LabelSelector>,
    /// Namespaces (labels from the top-level `namespaces` map).
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
    /// Addresses.
    #[serde(default)]
    pub ip_block: Option<IpBlock>,
}

/// A port of a rule.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyPort {
    /// `TCP` (default), `UDP` or `SCTP`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// Port number (all ports when absent). Named ports are not supported.
    #[serde(default)]
    pub port: Option<u16>,
    /// Last port of a range starting at `port`.
    #[serde(default)]
    pub end_port: Option<u16>,
}

/// An ingress rule.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IngressRule {
    /// Sources (all when empty).
    #[serde(default)]
    pub from: Vec<PolicyPeer>,
    /// Destination ports (all when empty).
    #[serde(default)]
    pub ports: Vec<PolicyPort>,
}

/// An egress rule.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EgressRule {
    /// Destinations (all when empty).
    #[serde(default)]
    pub to: Vec<PolicyPeer>,
    /// Destination ports (all when empty).
    #[serde(default)]
    pub ports: Vec<PolicyPort>,
}

/// A Kubernetes NetworkPolicy (the `spec` fields flattened beside name and namespace).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkPolicy {
    /// Name.
    pub name: String,
    /// Namespace (default `default`).
    #[serde(default = "d_ns")]
    pub namespace: String,
    /// The pods it applies to (in its namespace).
    pub pod_selector: LabelSelector,
    /// `Ingress` and/or `Egress` (Kubernetes' default when absent: Ingress, plus Egress if
    /// there are egress rules).
    #[serde(default)]
    pub policy_types: Option<Vec<String>>,
    /// Allowed incoming traffic.
    #[serde(default)]
    pub ingress: Vec<IngressRule>,
    /// Allowed outgoing traffic.
    #[serde(default)]
    pub egress: Vec<EgressRule>,
}

impl NetworkPolicy {
    /// Whether the policy isolates its pods for ingress.
    pub fn isolates_ingress(&self) -> bool {
        match &self.policy_types {
            Some(t) => t.iter().any(|x| x == "Ingress"),
            None => true,
        }
    }

    /// Whether the policy isolates its pods for egress.
    pub fn isolates_egress(&self) -> bool {
        match &self.policy_types {
            Some(t) => t.iter().any(|x| x == "Egress"),
            None => !self.egress.is_empty(),
        }
    }
}

/// The whole node.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Node name.
    pub node: String,
    /// Bridge name (default `br-int`).
    #[serde(default = "d_bridge")]
    pub bridge: String,
    /// EAL arguments `brisk run --config` uses when none follow `--`.
    #[serde(default)]
    pub eal: Vec<String>,
    /// Worker lcores.
    #[serde(default)]
    pub workers: Option<Vec<u32>>,
    /// Mbufs in the pool.
    #[serde(default)]
    pub mbufs: Option<u32>,
    /// Conntrack table size.
    #[serde(default)]
    pub conntrack_max: Option<usize>,
    /// Prometheus listen address.
    #[serde(default)]
    pub metrics: Option<String>,
    /// Underlay port.
    pub uplink: Uplink,
    /// Tunnel port.
    #[serde(default)]
    pub tunnel: Tunnel,
    /// Gateway port.
    pub gateway: Gateway,
    /// MAC routed traffic between nodes is addressed to (default `aa:bb:cc:dd:ee:ff`).
    #[serde(default = "d_vmac")]
    pub virtual_mac: String,
    /// This node's pod CIDR.
    pub pod_cidr: String,
    /// The cluster's service CIDR.
    pub service_cidr: String,
    /// Service handling.
    #[serde(default)]
    pub proxy: ProxyMode,
    /// Conntrack zone of the pipeline (default 65520).
    #[serde(default = "d_zone")]
    pub ct_zone: u16,
    /// Namespace labels (for `namespaceSelector`).
    #[serde(default)]
    pub namespaces: BTreeMap<String, Labels>,
    /// Other nodes.
    #[serde(default)]
    pub peers: Vec<Peer>,
    /// Local pods.
    #[serde(default)]
    pub pods: Vec<Pod>,
    /// Pods on other nodes that policies may select.
    #[serde(default)]
    pub remote_pods: Vec<RemotePod>,
    /// Services.
    #[serde(default)]
    pub services: Vec<Service>,
    /// NetworkPolicies.
    #[serde(default)]
    pub policies: Vec<NetworkPolicy>,
    /// Directory of the file (for relative paths).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

fn d_bridge() -> String {
    "br-int".into()
}
fn d_vmac() -> String {
    "aa:bb:cc:dd:ee:ff".into()
}
fn d_zone() -> u16 {
    65520
}

/// A pod as policies see it: local or remote.
#[derive(Clone, Debug)]
pub struct PodRef<'a> {
    /// Name.
    pub name: &'a str,
    /// Namespace.
    pub namespace: &'a str,
    /// Address.
    pub ip: Ipv4Addr,
    /// Labels.
    pub labels: &'a Labels,
    /// OpenFlow port, for local pods.
    pub ofport: Option<u32>,
}

impl NodeConfig {
    /// Reads and validates a node file.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfError> {
        let file = path.display().to_string();
        let text = crate::bridge::read_yaml(path, &file)?;
        let mut c = Self::parse(&text, &file)?;
        c.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(c)
    }

    /// Parses and validates YAML text, once within the limits of [`crate::yaml::check`];
    /// `file` names it in errors. Every problem found is reported (one per line of the
    /// error), not just the first.
    pub fn parse(text: &str, file: &str) -> Result<NodeConfig, ConfError> {
        crate::yaml::check(text, file)?;
        let c: NodeConfig = serde_norway::from_str(text).map_err(|e| ConfError::Yaml {
            file: file.to_string(),
            line: e.location().map_or(0, |l| l.line()),
            msg: e.to_string(),
        })?;
        let problems = c.problems();
        if problems.is_empty() {
            return Ok(c);
        }
        let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        let lines = crate::locate::locate_paths(text, &paths);
        let errs: Vec<ConfError> = problems
            .into_iter()
            .map(|(path, msg)| ConfError::Invalid {
                file: file.to_string(),
                line: crate::locate::line(&lines, &path),
                path,
                msg,
            })
            .collect();
        Err(ConfError::Many(errs))
    }

    /// Every pod policies can select: local ones first.
    pub fn all_pods(&self) -> Vec<PodRef<'_>> {
        let local = self.pods.iter().map(|p| PodRef {
            name: &p.name,
            namespace: &p.namespace,
            ip: p.ip,
            labels: &p.labels,
            ofport: Some(p.ofport),
        });
        let remote = self.remote_pods.iter().map(|p| PodRef {
            name: &p.name,
            namespace: &p.namespace,
            ip: p.ip,
            labels: &p.labels,
            ofport: None,
        });
        local.chain(remote).collect()
    }

    /// The pods a peer entry of `policy_ns` selects.
    pub fn select_peer<'a>(&'a self, peer: &PolicyPeer, policy_ns: &str) -> Vec<PodRef<'a>> {
        if peer.pod_selector.is_none() && peer.namespace_selector.is_none() {
            return Vec::new();
        }
        let empty = Labels::new();
        self.all_pods()
            .into_iter()
            .filter(|p| match &peer.namespace_selector {
                None => p.namespace == policy_ns,
                Some(ns) => ns.matches(self.namespaces.get(p.namespace).unwrap_or(&empty)),
            })
            .filter(|p| {
                peer.pod_selector
                    .as_ref()
                    .is_none_or(|s| s.matches(p.labels))
            })
            .collect()
    }

    /// The local pods a policy applies to.
    pub fn applied_to<'a>(&'a self, pol: &NetworkPolicy) -> Vec<&'a Pod> {
        self.pods
            .iter()
            .filter(|p| p.namespace == pol.namespace && pol.pod_selector.matches(&p.labels))
            .collect()
    }

    /// Every problem with the description, as (field path, message).
    fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |path: String, msg: String| out.push((path, msg));
        let mac_ok = |m: &str| pipeline::ofctl::parse_mac(m).is_some();
        if self.node.trim().is_empty() {
            bad("node".into(), "the node name is empty".into());
        }
        // Addresses and CIDRs.
        let pod_cidr = match parse_cidr(&self.pod_cidr) {
            Ok(c) => Some(c),
            Err(e) => {
                bad("pod_cidr".into(), e);
                None
            }
        };
        let svc_cidr = match parse_cidr(&self.service_cidr) {
            Ok(c) => Some(c),
            Err(e) => {
                bad("service_cidr".into(), e);
                None
            }
        };
        let uplink = match crate::net::parse_iface_addr(&self.uplink.ip) {
            Ok(a) => Some(a),
            Err(e) => {
                bad("uplink.ip".into(), e);
                None
            }
        };
        if let (Some((addr, net)), Some(gw)) = (uplink, self.uplink.gateway) {
            if !net.contains(gw) {
                bad(
                    "uplink.gateway".into(),
                    format!("{gw} is outside the uplink's subnet {net}"),
                );
            }
            if gw == addr {
                bad(
                    "uplink.gateway".into(),
                    format!("{gw} is the node's own address"),
                );
            }
        }
        if let Some(m) = &self.uplink.mac {
            if !mac_ok(m) {
                bad("uplink.mac".into(), format!("{m} is not a MAC address"));
            }
        }
        if !mac_ok(&self.virtual_mac) {
            bad(
                "virtual_mac".into(),
                format!("{} is not a MAC address", self.virtual_mac),
            );
        }
        let sizing = crate::limits::sizing(self.mbufs, self.conntrack_max, self.workers.as_deref());
        for (path, msg) in sizing {
            bad(path, msg);
        }
        if let Some(m) = self.uplink.mtu.and_then(crate::limits::mtu) {
            bad("uplink.mtu".into(), m);
        }
        if self.tunnel.dst_port == 0 {
            bad(
                "tunnel.dst_port".into(),
                "0 is outside 1..65535 (UDP ports)".into(),
            );
        }
        if self.tunnel.kind != "geneve" {
            bad(
                "tunnel.type".into(),
                format!("'{}' is not supported (only geneve)", self.tunnel.kind),
            );
        }
        let t = self.tunnel.tlv;
        if t.len == 0 || !t.len.is_multiple_of(4) || t.len > 8 {
            bad(
                "tunnel.tlv.len".into(),
                format!(
                    "{} must be 4 or 8 (tun_metadata0 holds up to 8 bytes)",
                    t.len
                ),
            );
        }
        if !mac_ok(&self.gateway.mac) {
            bad(
                "gateway.mac".into(),
                format!("{} is not a MAC address", self.gateway.mac),
            );
        }
        if let Some(m) = crate::limits::mtu(self.gateway_mtu()) {
            let why = match self.gateway.mtu {
                Some(_) => "",
                None => " (the default: the uplink's MTU less 50)",
            };
            bad("gateway.mtu".into(), format!("{m}{why}"));
        }
        if let Some(pc) = pod_cidr {
            if !pc.contains(self.gateway.ip) {
                bad(
                    "gateway.ip".into(),
                    format!("{} is outside pod_cidr {pc}", self.gateway.ip),
                );
            }
        }
        // CIDR overlaps: own pod CIDR, peers' pod CIDRs, the service CIDR.
        let mut cidrs: Vec<(String, Cidr)> = Vec::new();
        if let Some(c) = pod_cidr {
            cidrs.push(("pod_cidr".into(), c));
        }
        if let Some(c) = svc_cidr {
            cidrs.push(("service_cidr".into(), c));
        }
        let mut peer_cidrs = Vec::new();
        let mut peer_names = HashMap::new();
        let mut peer_ips = HashMap::new();
        for (i, p) in self.peers.iter().enumerate() {
            let path = format!("peers[{i}]");
            if let Some(j) = peer_names.insert(p.name.as_str(), i) {
                bad(
                    format!("{path}.name"),
                    format!("{} is already peers[{j}]", p.name),
                );
            }
            if p.name == self.node {
                bad(format!("{path}.name"), format!("{} is this node", p.name));
            }
            if let Some(j) = peer_ips.insert(p.node_ip, i) {
                bad(
                    format!("{path}.node_ip"),
                    format!("{} is already peers[{j}]", p.node_ip),
                );
            }
            if uplink.is_some_and(|(a, _)| a == p.node_ip) {
                bad(
                    format!("{path}.node_ip"),
                    format!("{} is this node's address", p.node_ip),
                );
            }
            match parse_cidr(&p.pod_cidr) {
                Ok(c) => {
                    if !c.contains(p.gateway_ip) {
                        bad(
                            format!("{path}.gateway_ip"),
                            format!("{} is outside its pod_cidr {c}", p.gateway_ip),
                        );
                    }
                    cidrs.push((format!("{path}.pod_cidr"), c));
                    peer_cidrs.push((i, c));
                }
                Err(e) => bad(format!("{path}.pod_cidr"), e),
            }
        }
        for i in 0..cidrs.len() {
            for j in 0..i {
                if cidrs[i].1.overlaps(&cidrs[j].1) {
                    bad(
                        cidrs[i].0.clone(),
                        format!("{} overlaps {} ({})", cidrs[i].1, cidrs[j].0, cidrs[j].1),
                    );
                }
            }
        }
        // Ports: numbers and names unique across gateway, tunnel, uplink and pods.
        let mut ofports: HashMap<u32, String> = HashMap::new();
        let mut names: HashMap<String, String> = HashMap::new();
        let mut check_port = |path: &str, name: &str, n: u32, out: &mut Vec<(String, String)>| {
            if let Err(e) = crate::limits::ofport(n) {
                out.push((format!("{path}.ofport"), e));
            } else if let Some(o) = ofports.insert(n, path.to_string()) {
                out.push((
                    format!("{path}.ofport"),
                    format!("{n} is already used by {o}"),
                ));
            }
            if let Err(e) = crate::limits::port_name(name) {
                out.push((format!("{path}.name"), e));
            }
            if let Some(o) = names.insert(name.to_string(), path.to_string()) {
                out.push((
                    format!("{path}.name"),
                    format!("{name} is already used by {o}"),
                ));
            }
        };
        check_port("gateway", &self.gateway.name, self.gateway.ofport, &mut out);
        check_port("tunnel", &self.tunnel.name, self.tunnel.ofport, &mut out);
        check_port("uplink", &self.uplink.name, self.uplink.ofport, &mut out);
        let mut ips: HashMap<Ipv4Addr, String> = HashMap::new();
        ips.insert(self.gateway.ip, "gateway".into());
        let mut macs: HashMap<u64, String> = HashMap::new();
        if let Some(m) = pipeline::ofctl::parse_mac(&self.gateway.mac) {
            macs.insert(m, "gateway".into());
        }
        if let Some(m) = pipeline::ofctl::parse_mac(&self.virtual_mac) {
            if let Some(o) = macs.insert(m, "virtual_mac".into()) {
                out.push((
                    "virtual_mac".into(),
                    format!("{} is {o}'s MAC", self.virtual_mac),
                ));
            }
        }
        for (i, p) in self.pods.iter().enumerate() {
            let path = format!("pods[{i}]");
            check_port(&path, &p.name, p.ofport, &mut out);
            if let Some(pc) = pod_cidr {
                if !pc.contains(p.ip) {
                    out.push((
                        format!("{path}.ip"),
                        format!("{} is outside pod_cidr {pc}", p.ip),
                    ));
                } else if p.ip == pc.network() || p.ip == pc.broadcast() {
                    out.push((
                        format!("{path}.ip"),
                        format!("{} is the network or broadcast address of {pc}", p.ip),
                    ));
                }
            }
            if let Some(o) = ips.insert(p.ip, path.clone()) {
                out.push((
                    format!("{path}.ip"),
                    format!("{} is already used by {o}", p.ip),
                ));
            }
            match pipeline::ofctl::parse_mac(&p.mac) {
                None => out.push((
                    format!("{path}.mac"),
                    format!("{} is not a MAC address", p.mac),
                )),
                Some(m) if m & (1 << 40) != 0 => out.push((
                    format!("{path}.mac"),
                    format!("{} is a multicast address", p.mac),
                )),
                Some(m) => {
                    if let Some(o) = macs.insert(m, path.clone()) {
                        out.push((
                            format!("{path}.mac"),
                            format!("{} is already used by {o}", p.mac),
                        ));
                    }
                }
            }
        }
        for (i, p) in self.remote_pods.iter().enumerate() {
            let path = format!("remote_pods[{i}]");
            let home = peer_cidrs.iter().find(|(_, c)| c.contains(p.ip));
            match home {
                None => out.push((
                    format!("{path}.ip"),
                    format!("{} is in no peer's pod_cidr", p.ip),
                )),
                Some((j, _)) => {
                    if let Some(n) = &p.node {
                        if *n != self.peers[*j].name {
                            out.push((
                                format!("{path}.node"),
                                format!(
                                    "{} is in {}'s pod_cidr, not {n}'s",
                                    p.ip, self.peers[*j].name
                                ),
                            ));
                        }
                    }
                }
            }
            if let Some(o) = ips.insert(p.ip, path.clone()) {
                out.push((
                    format!("{path}.ip"),
                    format!("{} is already used by {o}", p.ip),
                ));
            }
        }
        // Services.
        for (i, s) in self.services.iter().enumerate() {
            let path = format!("services[{i}]");
            if let Some(sc) = svc_cidr {
                if !sc.contains(s.cluster_ip) {
                    out.push((
                        format!("{path}.cluster_ip"),
                        format!("{} is outside service_cidr {sc}", s.cluster_ip),
                    ));
                }
            }
            if s.ports.is_empty() {
                out.push((
                    format!("{path}.ports"),
                    "a service needs at least one port".into(),
                ));
            }
            for (j, p) in s.ports.iter().enumerate() {
                if proto_number(&p.protocol).is_none() {
                    out.push((
                        format!("{path}.ports[{j}].protocol"),
                        format!("'{}' is not TCP, UDP or SCTP", p.protocol),
                    ));
                }
                if p.port == 0 {
                    out.push((format!("{path}.ports[{j}].port"), "port 0".into()));
                }
                if p.target_port == Some(0) {
                    out.push((format!("{path}.ports[{j}].target_port"), "port 0".into()));
                }
            }
            for (j, e) in s.endpoints.iter().enumerate() {
                match parse_endpoint(e) {
                    None => out.push((
                        format!("{path}.endpoints[{j}]"),
                        format!("'{e}' is not IP:PORT"),
                    )),
                    // In-switch load balancing sends each service port to the endpoints on
                    // its target port: an endpoint on no target port would be unreachable.
                    Some((_, port))
                        if self.proxy == ProxyMode::AntreaProxy
                            && !s.ports.is_empty()
                            && !s
                                .ports
                                .iter()
                                .any(|p| p.target_port.unwrap_or(p.port) == port) =>
                    {
                        let targets: Vec<String> = s
                            .ports
                            .iter()
                            .map(|p| p.target_port.unwrap_or(p.port).to_string())
                            .collect();
                        out.push((
                            format!("{path}.endpoints[{j}]"),
                            format!(
                                "port {port} is not a target port of the service ({})",
                                targets.join(", ")
                            ),
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        // Policies.
        let mut pol_names = HashMap::new();
        for (i, pol) in self.policies.iter().enumerate() {
            let path = format!("policies[{i}]");
            if let Some(j) = pol_names.insert((pol.namespace.as_str(), pol.name.as_str()), i) {
                out.push((
                    format!("{path}.name"),
                    format!("{}/{} is already policies[{j}]", pol.namespace, pol.name),
                ));
            }
            if let Some(t) = &pol.policy_types {
                for (j, x) in t.iter().enumerate() {
                    if x != "Ingress" && x != "Egress" {
                        out.push((
                            format!("{path}.policyTypes[{j}]"),
                            format!("'{x}' is not Ingress or Egress"),
                        ));
                    }
                }
            }
            let any_pod = self
                .all_pods()
                .iter()
                .any(|p| p.namespace == pol.namespace && pol.pod_selector.matches(p.labels));
            if !any_pod {
                out.push((
                    format!("{path}.podSelector"),
                    format!(
                        "selects no pod in namespace {} ({})",
                        pol.namespace,
                        fmt_selector(&pol.pod_selector)
                    ),
                ));
            }
            let check_peers = |peers: &[PolicyPeer], rp: &str, out: &mut Vec<(String, String)>| {
                for (k, peer) in peers.iter().enumerate() {
                    let pp = format!("{rp}[{k}]");
                    let kinds = usize::from(peer.ip_block.is_some())
                        + usize::from(
                            peer.pod_selector.is_some() || peer.namespace_selector.is_some(),
                        );
                    if kinds != 1 {
                        out.push((
                            pp.clone(),
                            "give either ipBlock or podSelector/namespaceSelector".into(),
                        ));
                        continue;
                    }
                    if let Some(b) = &peer.ip_block {
                        match parse_cidr(&b.cidr) {
                            Err(e) => out.push((format!("{pp}.ipBlock.cidr"), e)),
                            Ok(c) => {
                                for (x, ex) in b.except.iter().enumerate() {
                                    match parse_cidr(ex) {
                                        Err(e) => {
                                            out.push((format!("{pp}.ipBlock.except[{x}]"), e))
                                        }
                                        Ok(e) if !c.covers(&e) => out.push((
                                            format!("{pp}.ipBlock.except[{x}]"),
                                            format!("{e} is not inside {c}"),
                                        )),
                                        Ok(_) => {}
                                    }
                                }
                            }
                        }
                        continue;
                    }
                    if let Some(ns) = &peer.namespace_selector {
                        let empty = Labels::new();
                        let any_ns = self.all_pods().iter().any(|p| {
                            ns.matches(self.namespaces.get(p.namespace).unwrap_or(&empty))
                        });
                        if !any_ns {
                            out.push((
                                format!("{pp}.namespaceSelector"),
                                format!("selects no namespace with a pod ({})", fmt_selector(ns)),
                            ));
                            continue;
                        }
                    }
                    if self.select_peer(peer, &pol.namespace).is_empty() {
                        out.push((
                            format!("{pp}.podSelector"),
                            format!(
                                "selects no pod ({})",
                                peer.pod_selector.as_ref().map_or("{}".into(), fmt_selector)
                            ),
                        ));
                    }
                }
            };
            let check_ports = |ports: &[PolicyPort], rp: &str, out: &mut Vec<(String, String)>| {
                for (k, p) in ports.iter().enumerate() {
                    let pp = format!("{rp}[{k}]");
                    let proto = p.protocol.as_deref().unwrap_or("TCP");
                    if proto_number(proto).is_none() {
                        out.push((
                            format!("{pp}.protocol"),
                            format!("'{proto}' is not TCP, UDP or SCTP"),
                        ));
                    }
                    if p.port == Some(0) {
                        out.push((format!("{pp}.port"), "port 0".into()));
                    }
                    match (p.port, p.end_port) {
                        (None, Some(_)) => {
                            out.push((format!("{pp}.endPort"), "endPort needs port".into()))
                        }
                        (Some(a), Some(b)) if b < a => {
                            out.push((format!("{pp}.endPort"), format!("{b} is below port {a}")))
                        }
                        _ => {}
                    }
                }
            };
            for (j, r) in pol.ingress.iter().enumerate() {
                check_peers(&r.from, &format!("{path}.ingress[{j}].from"), &mut out);
                check_ports(&r.ports, &format!("{path}.ingress[{j}].ports"), &mut out);
            }
            for (j, r) in pol.egress.iter().enumerate() {
                check_peers(&r.to, &format!("{path}.egress[{j}].to"), &mut out);
                check_ports(&r.ports, &format!("{path}.egress[{j}].ports"), &mut out);
            }
        }
        out
    }
}

/// IP protocol number of a Kubernetes protocol name.
pub fn proto_number(p: &str) -> Option<u8> {
    match p {
        "TCP" => Some(6),
        "UDP" => Some(17),
        "SCTP" => Some(132),
        _ => None,
    }
}

/// `IP:PORT`.
pub fn parse_endpoint(s: &str) -> Option<(Ipv4Addr, u16)> {
    let (a, p) = s.rsplit_once(':')?;
    Some((a.parse().ok()?, p.parse().ok().filter(|&p: &u16| p != 0)?))
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

impl NodeConfig {
    /// The bridge `brisk run --config` starts for this node: gateway, tunnel, uplink and
    /// pod ports, the TLV map, and the node's sizing. Every port must have devargs.
    pub fn bridge_config(&self, file: &str) -> Result<crate::bridge::BridgeConfig, ConfError> {
        use crate::bridge::{
            BridgeConfig, PortConfig, PortSpec, PortType, TapConfig, TunnelOptions, UplinkConfig,
        };
        let need = |path: &str, d: &Option<String>| {
            d.clone().ok_or_else(|| ConfError::Invalid {
                file: file.to_string(),
                line: 0,
                path: format!("{path}.devargs"),
                msg: "a port needs devargs to run (the DPDK device of the interface)".into(),
            })
        };
        let port = |name: &str, ofport: u32, devargs: String| PortConfig {
            name: name.to_string(),
            ofport,
            kind: PortType::Dpdk,
            devargs: Some(devargs),
            rx_queues: None,
            proxy_arp: None,
            flood: None,
            options: None,
            uplink: None,
            tap: None,
        };
        let gw = need("gateway", &self.gateway.devargs)?;
        // A TAP brisk creates gets the gateway's MAC, address and MTU.
        let tap = PortSpec::parse(&gw).tap_iface().map(|_| TapConfig {
            mac: Some(self.gateway.mac.clone()),
            ip: parse_cidr(&self.pod_cidr)
                .ok()
                .map(|c| format!("{}/{}", self.gateway.ip, c.len)),
            mtu: Some(self.gateway_mtu()),
        });
        let mut ports = vec![
            PortConfig {
                tap,
                ..port(&self.gateway.name, self.gateway.ofport, gw)
            },
            PortConfig {
                kind: PortType::Geneve,
                devargs: None,
                options: Some(TunnelOptions {
                    remote_ip: Some("flow".into()),
                    key: Some("flow".into()),
                    csum: self.tunnel.csum,
                    dst_port: Some(self.tunnel.dst_port),
                    local_ip: None,
                }),
                ..port(&self.tunnel.name, self.tunnel.ofport, String::new())
            },
            PortConfig {
                uplink: Some(UplinkConfig {
                    ip: self.uplink.ip.clone(),
                    gateway: self.uplink.gateway,
                    mtu: self.uplink.mtu,
                }),
                ..port(
                    &self.uplink.name,
                    self.uplink.ofport,
                    need("uplink", &self.uplink.devargs)?,
                )
            },
        ];
        for (i, p) in self.pods.iter().enumerate() {
            ports.push(port(
                &p.name,
                p.ofport,
                need(&format!("pods[{i}]"), &p.devargs)?,
            ));
        }
        let t = self.tunnel.tlv;
        Ok(BridgeConfig {
            bridge: self.bridge.clone(),
            control_socket: None,
            metrics: self.metrics.clone(),
            workers: self.workers.clone(),
            mbufs: self.mbufs,
            conntrack_max: self.conntrack_max,
            fastpath: Default::default(),
            ports,
            tlv_map: vec![format!(
                "{{class={:#x},type={:#x},len={}}}->tun_metadata0",
                t.class, t.kind, t.len
            )],
            flows: None,
            routes: Vec::new(),
            neighbors: Vec::new(),
            base_dir: self.base_dir.clone(),
        })
    }

    /// A one-line summary for `brisk conf check`.
    pub fn summary(&self, generated: &crate::antrea::Generated) -> String {
        let tables: std::collections::BTreeSet<&str> = generated
            .flows
            .iter()
            .filter_map(|f| f.split("table=").nth(1)?.split(',').next())
            .collect();
        format!(
            "node {}: {} pods, {} peers, {} remote pods, {} services ({}), {} policies ({} rules on this node) -> {} flows in {} tables{}",
            self.node,
            self.pods.len(),
            self.peers.len(),
            self.remote_pods.len(),
            self.services.len(),
            match self.proxy {
                ProxyMode::KubeProxy => "kube-proxy",
                ProxyMode::AntreaProxy => "antrea-proxy",
            },
            self.policies.len(),
            generated.rules.len(),
            generated.flows.len(),
            tables.len(),
            if generated.groups.is_empty() {
                String::new()
            } else {
                format!(", {} groups", generated.groups.len())
            }
        )
    }
}

impl NodeConfig {
    /// The gateway interface's MTU: `gateway.mtu`, or the uplink's (default 1500) less 50.
    pub fn gateway_mtu(&self) -> u16 {
        self.gateway
            .mtu
            .unwrap_or_else(|| self.uplink.mtu.unwrap_or(1500).saturating_sub(50))
    }

    /// Every port's name and OpenFlow number (gateway, tunnel, uplink, pods).
    pub fn port_names(&self) -> Vec<(String, u32)> {
        let mut v = vec![
            (self.gateway.name.clone(), self.gateway.ofport),
            (self.tunnel.name.clone(), self.tunnel.ofport),
            (self.uplink.name.clone(), self.uplink.ofport),
        ];
        v.extend(self.pods.iter().map(|p| (p.name.clone(), p.ofport)));
        v
    }
}
