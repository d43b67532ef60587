//! The bridge `brisk run --config` starts for a node.

use super::check::Checked;
use super::NodeConfig;
use crate::bridge::{
    BridgeConfig, ConfError, PortConfig, PortKind, PortSpec, TapConfig, UplinkConfig, DEFAULT_MTU,
};
use pipeline::bridge::TunnelPort;
use pipeline::geneve::{TlvEntry, TlvMap};

impl NodeConfig {
    /// The bridge `brisk run --config` starts for this node, from the values its checks
    /// parsed: gateway, tunnel, uplink and pod ports, the TLV map, and the node's sizing.
    /// Every port must have devargs (a description without them still generates flows).
    pub(super) fn bridge(&self, checked: &Checked, file: &str) -> Result<BridgeConfig, ConfError> {
        let need = |path: &str, d: &Option<String>| {
            let invalid = |msg: String| ConfError::Invalid {
                file: file.to_string(),
                line: 0,
                path: format!("{path}.devargs"),
                msg,
            };
            let d = d.clone().ok_or_else(|| {
                invalid("a port needs devargs to run (the DPDK device of the interface)".into())
            })?;
            PortSpec::parse(&d).check().map_err(invalid)?;
            Ok(d)
        };
        let gw = need("gateway", &self.gateway.devargs)?;
        let mut gateway = PortConfig::device(&self.gateway.name, self.gateway.ofport, &gw);
        // A TAP brisk creates gets the gateway's MAC, address and MTU.
        if let (Some(_), PortKind::Device(d)) =
            (PortSpec::parse(&gw).tap_iface(), &mut gateway.kind)
        {
            d.tap = Some(TapConfig {
                mac: Some(checked.gateway_mac),
                addr: Some((self.gateway.ip, checked.pod_cidr.len)),
                mtu: Some(self.gateway_mtu()),
            });
        }
        let tunnel = PortConfig {
            name: self.tunnel.name.clone(),
            ofport: self.tunnel.ofport,
            kind: PortKind::Geneve(TunnelPort {
                remote_ip: None,
                local_ip: None,
                key: None,
                csum: self.tunnel.csum,
                dst_port: self.tunnel.dst_port,
            }),
            proxy_arp: None,
            flood: true,
        };
        let up = need("uplink", &self.uplink.devargs)?;
        let mut uplink = PortConfig::device(&self.uplink.name, self.uplink.ofport, &up);
        if let PortKind::Device(d) = &mut uplink.kind {
            let (ip, net) = checked.uplink;
            d.uplink = Some(UplinkConfig {
                ip,
                prefix_len: net.len,
                gateway: self.uplink.gateway,
                mtu: self.uplink.mtu.unwrap_or(DEFAULT_MTU),
            });
        }
        let mut ports = vec![gateway, tunnel, uplink];
        for (i, p) in self.pods.iter().enumerate() {
            let devargs = need(&format!("pods[{i}]"), &p.devargs)?;
            ports.push(PortConfig::device(&p.name, p.ofport, &devargs));
        }
        // The one option Antrea carries, in tun_metadata0.
        let t = self.tunnel.tlv;
        let mut tlv_map = TlvMap::default();
        tlv_map.slots[0] = Some(TlvEntry {
            class: t.class,
            ty: t.kind,
            len: t.len,
        });
        Ok(BridgeConfig {
            bridge: self.bridge.clone(),
            control_socket: None,
            metrics: self.metrics.clone(),
            workers: self.workers.clone(),
            mbufs: self.mbufs,
            conntrack_max: self.conntrack_max,
            fastpath: Default::default(),
            ports,
            tlv_map,
            flows: None,
            routes: Vec::new(),
            neighbors: Vec::new(),
            openflow: Default::default(),
            base_dir: self.base_dir.clone(),
        })
    }
}
