//! A Kubernetes node described in YAML — uplink, tunnel, gateway, pods, peers, services,
//! NetworkPolicies — in the shape an Antrea agent knows it. [`crate::antrea`] compiles it
//! into the flows Antrea would program; [`Plan`] is the description with those flows and
//! groups and the bridge a `brisk run` starts ([`Plan::bridge`]), made once for
//! `brisk run --config`, `brisk ctl reload` and `brisk conf`.
//!
//! The model and its reading are here; the checks a description must pass are in
//! `check.rs` (one function per section, in the order errors are reported), the plan in
//! `plan.rs`, the bridge a node starts in `bridge.rs`, what a reload cannot change in
//! `restart.rs`, and the pods a policy selects in `select.rs`.

mod bridge;
mod check;
mod plan;
mod restart;
mod select;
mod vsctl;

pub use plan::Plan;
pub use select::PodRef;

use crate::bridge::ConfError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
    /// Kubernetes' `sessionAffinity`: `ClientIP` keeps each client on the endpoint its
    /// first connection got, for `session_affinity_timeout` seconds (with `proxy:
    /// antrea-proxy`, through learned flows as AntreaProxy does); `None` by default.
    #[serde(default)]
    pub session_affinity: SessionAffinity,
    /// `sessionAffinityConfig.clientIP.timeoutSeconds` (Kubernetes' default 10800, at most
    /// 86400). The learned flow's `hard_timeout` holds at most 65535: longer timeouts are
    /// capped there, as AntreaProxy caps them.
    #[serde(default = "d_affinity_timeout")]
    pub session_affinity_timeout: u32,
}

/// Kubernetes' `sessionAffinity`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub enum SessionAffinity {
    /// Every connection picks an endpoint.
    #[default]
    None,
    /// A client's connections go to one endpoint while the affinity lasts.
    #[serde(rename = "ClientIP")]
    ClientIp,
}

fn d_affinity_timeout() -> u32 {
    10_800
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

impl NodeConfig {
    /// Reads and validates a node file.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfError> {
        Ok(Self::load_checked(path)?.0)
    }

    /// [`NodeConfig::load`], with the values the checks parsed.
    fn load_checked(path: &Path) -> Result<(NodeConfig, check::Checked), ConfError> {
        let file = path.display().to_string();
        let text = crate::bridge::read_yaml(path, &file)?;
        let (mut c, checked) = Self::parse_checked(&text, &file)?;
        c.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok((c, checked))
    }

    /// Parses and validates YAML text, once within the limits of [`crate::yaml::check`];
    /// `file` names it in errors. Every problem found is reported (one per line of the
    /// error), not just the first.
    pub fn parse(text: &str, file: &str) -> Result<NodeConfig, ConfError> {
        Ok(Self::parse_checked(text, file)?.0)
    }

    /// [`NodeConfig::parse`], with the values the checks parsed.
    fn parse_checked(text: &str, file: &str) -> Result<(NodeConfig, check::Checked), ConfError> {
        let c: NodeConfig = crate::yaml::from_str_checked(text, file)?;
        let problems = match c.check() {
            Ok(checked) => return Ok((c, checked)),
            Err(p) => p,
        };
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

    /// The gateway interface's MTU: `gateway.mtu`, or the uplink's (default 1500) less 50.
    pub fn gateway_mtu(&self) -> u16 {
        self.gateway.mtu.unwrap_or_else(|| {
            let uplink = self.uplink.mtu.unwrap_or(crate::bridge::DEFAULT_MTU);
            uplink.saturating_sub(pipeline::geneve::BASE_OVERHEAD as u16)
        })
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
