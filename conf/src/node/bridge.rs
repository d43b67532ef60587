//! The bridge `brisk run --config` starts for a node.

use super::NodeConfig;
use crate::bridge::ConfError;
use crate::net::parse_cidr;

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
}
