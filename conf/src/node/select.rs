//! The pods a NetworkPolicy applies to and selects, local and remote.

use super::{Labels, NetworkPolicy, NodeConfig, Pod, PolicyPeer};
use std::net::Ipv4Addr;

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
}
