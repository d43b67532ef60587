//! The bridge file as written: the YAML model `serde` reads (unknown keys are errors), and
//! its checking into a [`BridgeConfig`], where every string becomes the value it stands
//! for once, with the field path and line of the first problem.

use super::{
    BridgeConfig, ConfError, DeviceConfig, FastPathTuning, NeighborConfig, OpenFlowConfig,
    PortConfig, PortKind, PortSpec, TapConfig, UplinkConfig,
};
use openflow::target::{ControllerOptions, OfConnect, OfListen};
use pipeline::bridge::TunnelPort;
use pipeline::geneve::TlvMap;
use pipeline::underlay::RouteTable;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

/// What a port is.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PortType {
    /// A DPDK ethdev given by devargs (NIC, vhost-user, TAP, AF_PACKET, ring, pcap...), or
    /// one of brisk's kernel-socket ports ([`PortSpec`]).
    Dpdk,
    /// A Geneve tunnel port (logical: encapsulated packets leave through the uplink).
    Geneve,
}

/// Geneve options, as OVS's `options:` column.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TunnelOptions {
    /// `flow` or an IPv4 address.
    #[serde(default)]
    pub remote_ip: Option<String>,
    /// `flow` or a number.
    #[serde(default)]
    pub key: Option<String>,
    /// Outer UDP checksum.
    #[serde(default)]
    pub csum: bool,
    /// UDP destination port (default 6081).
    #[serde(default)]
    pub dst_port: Option<u16>,
    /// Outer source address (default: the uplink's address).
    #[serde(default)]
    pub local_ip: Option<Ipv4Addr>,
}

/// The uplink's underlay address: makes a DPDK port the tunnel's underlay device.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UplinkYaml {
    /// Node address with prefix, e.g. `10.79.1.201/24`.
    pub ip: String,
    /// Default gateway, if any.
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    /// Underlay MTU (default 1500).
    #[serde(default)]
    pub mtu: Option<u16>,
}

/// The kernel side of a TAP port brisk creates ([`TapConfig`] once checked).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TapYaml {
    /// MAC address.
    #[serde(default)]
    pub mac: Option<String>,
    /// IPv4 address with prefix length, e.g. `10.222.1.1/24`.
    #[serde(default)]
    pub ip: Option<String>,
    /// MTU.
    #[serde(default)]
    pub mtu: Option<u16>,
}

/// One port.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PortYaml {
    /// Name used in flows (`in_port="antrea-gw0"`).
    pub name: String,
    /// OpenFlow port number.
    pub ofport: u32,
    /// Kind.
    #[serde(rename = "type", default = "default_type")]
    pub kind: PortType,
    /// DPDK devargs for `dpdk` ports (`net_tap0,iface=gw0`, `0000:01:00.0`...), or
    /// `afpacket:IFACE` / `tap:IFACE` for brisk's own kernel-socket ports ([`PortSpec`]).
    #[serde(default)]
    pub devargs: Option<String>,
    /// Receive queues (RSS spreads flows over them; default 1).
    #[serde(default)]
    pub rx_queues: Option<u16>,
    /// Answer every ARP request arriving on this port with this MAC (Linux proxy_arp).
    #[serde(default)]
    pub proxy_arp: Option<String>,
    /// Whether FLOOD/NORMAL flooding includes the port (default true).
    #[serde(default)]
    pub flood: Option<bool>,
    /// Tunnel options for `geneve` ports.
    #[serde(default)]
    pub options: Option<TunnelOptions>,
    /// Underlay address, for the one DPDK port that carries the tunnel.
    #[serde(default)]
    pub uplink: Option<UplinkYaml>,
    /// What brisk sets on the interface of a TAP port it creates ([`PortSpec::tap_iface`]).
    #[serde(default)]
    pub tap: Option<TapYaml>,
}

fn default_type() -> PortType {
    PortType::Dpdk
}

/// A static neighbour.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NeighborYaml {
    /// IPv4 address.
    pub ip: Ipv4Addr,
    /// MAC address.
    pub mac: String,
}

/// OpenFlow connections beyond the management socket (`<rundir>/<bridge>.mgmt`, always).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OpenFlowYaml {
    /// More listeners: `punix:PATH`, `ptcp:PORT[:IP]` (loopback when no IP is given).
    #[serde(default)]
    pub listen: Vec<String>,
    /// Controllers to connect to, as OVS's Controller table rows.
    #[serde(default)]
    pub controllers: Vec<ControllerYaml>,
}

/// A controller the switch connects to (OVS's Controller table: `target`,
/// `inactivity_probe`, `max_backoff`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ControllerYaml {
    /// `tcp:IP[:PORT]` (port 6653 by default) or `unix:PATH`.
    pub target: String,
    /// Milliseconds of silence before an echo request, and again before disconnecting
    /// (default 5000; 0 turns probing off). OVS's minimum is 1000.
    #[serde(default)]
    pub inactivity_probe: Option<u64>,
    /// Longest wait between connection attempts, milliseconds (default 8000, minimum
    /// 1000).
    #[serde(default)]
    pub max_backoff: Option<u64>,
}

impl OpenFlowYaml {
    fn typed(&self) -> Result<OpenFlowConfig, Problem> {
        if self.listen.len() > 16 || self.controllers.len() > 16 {
            return Err(problem(
                "openflow",
                "at most 16 listeners and 16 controllers",
            ));
        }
        let listen = (self.listen.iter().enumerate())
            .map(|(i, l)| {
                OfListen::parse(l).map_err(|m| problem(format!("openflow.listen[{i}]"), m))
            })
            .collect::<Result<_, _>>()?;
        let mut controllers = Vec::new();
        for (i, c) in self.controllers.iter().enumerate() {
            let path = format!("openflow.controllers[{i}]");
            let target =
                OfConnect::parse(&c.target).map_err(|m| problem(format!("{path}.target"), m))?;
            let mut opts = ControllerOptions::default();
            match c.inactivity_probe {
                None => {}
                Some(0) => opts.inactivity_probe = None,
                Some(ms @ 1000..=3_600_000) => {
                    opts.inactivity_probe = Some(Duration::from_millis(ms))
                }
                Some(ms) => {
                    return Err(problem(
                        format!("{path}.inactivity_probe"),
                        format!("{ms} ms: 0 (off) or 1000..3600000"),
                    ))
                }
            }
            match c.max_backoff {
                None => {}
                Some(ms @ 1000..=3_600_000) => opts.max_backoff = Duration::from_millis(ms),
                Some(ms) => {
                    return Err(problem(
                        format!("{path}.max_backoff"),
                        format!("{ms} ms: 1000..3600000"),
                    ))
                }
            }
            controllers.push((target, opts));
        }
        Ok(OpenFlowConfig {
            listen,
            controllers,
        })
    }
}

/// The whole bridge file.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BridgeYaml {
    /// Bridge name.
    #[serde(default = "default_bridge")]
    pub bridge: String,
    /// Control socket path.
    #[serde(default)]
    pub control_socket: Option<String>,
    /// Prometheus metrics listen address (off when absent).
    #[serde(default)]
    pub metrics: Option<String>,
    /// Worker lcores (default: every EAL worker lcore, or the main lcore if none).
    #[serde(default)]
    pub workers: Option<Vec<u32>>,
    /// Mbufs in the pool (default: sized from ports and queues).
    #[serde(default)]
    pub mbufs: Option<u32>,
    /// Conntrack table size.
    #[serde(default)]
    pub conntrack_max: Option<usize>,
    /// Fast-path tuning.
    #[serde(default)]
    pub fastpath: FastPathTuning,
    /// Ports.
    pub ports: Vec<PortYaml>,
    /// TLV map entries in `add-tlv-map` syntax.
    #[serde(default)]
    pub tlv_map: Vec<String>,
    /// Flows file (relative to this file).
    #[serde(default)]
    pub flows: Option<String>,
    /// Underlay routes (`PREFIX/LEN [via GW] dev OFPORT`).
    #[serde(default)]
    pub routes: Vec<String>,
    /// Static neighbours.
    #[serde(default)]
    pub neighbors: Vec<NeighborYaml>,
    /// OpenFlow listeners and controllers.
    #[serde(default)]
    pub openflow: OpenFlowYaml,
}

fn default_bridge() -> String {
    "br-int".into()
}

/// A problem as (field path, message): placed on its line by the caller.
type Problem = (String, String);

fn problem(path: impl Into<String>, msg: impl Into<String>) -> Problem {
    (path.into(), msg.into())
}

/// A MAC address as a number, or what is wrong with it.
fn mac(m: &str) -> Result<u64, String> {
    pipeline::ofctl::parse_mac(m).ok_or_else(|| format!("{m} is not a MAC address"))
}

impl BridgeYaml {
    /// Checks the file and makes it a [`BridgeConfig`]: the first problem, placed on its
    /// line of `text`, is the error. `file` names the file in errors.
    pub fn resolve(self, text: &str, file: &str) -> Result<BridgeConfig, ConfError> {
        // Lines are looked for only for the error returned.
        self.typed().map_err(|(path, msg)| ConfError::Invalid {
            file: file.to_string(),
            line: crate::locate::line(&crate::locate::locate_paths(text, &[&path]), &path),
            path,
            msg,
        })
    }

    /// The checks, in the order their problems are reported, each value parsed as it is
    /// checked.
    fn typed(self) -> Result<BridgeConfig, Problem> {
        if let Some(p) = crate::limits::bridge(&self) {
            return Err(p);
        }
        let mut seen_num = HashMap::new();
        let mut seen_name = HashMap::new();
        let mut ports = Vec::with_capacity(self.ports.len());
        for (i, p) in self.ports.iter().enumerate() {
            let path = format!("ports[{i}]");
            if let Some((field, m)) = crate::limits::port(p) {
                return Err(problem(format!("{path}.{field}"), m));
            }
            if let Some(j) = seen_num.insert(p.ofport, i) {
                return Err(problem(
                    format!("{path}.ofport"),
                    format!("{} is already used by ports[{j}]", p.ofport),
                ));
            }
            if let Some(j) = seen_name.insert(p.name.clone(), i) {
                return Err(problem(
                    format!("{path}.name"),
                    format!("{} is already used by ports[{j}]", p.name),
                ));
            }
            ports.push(p.typed().map_err(|(f, m)| (format!("{path}{f}"), m))?);
        }
        let uplinks = ports.iter().filter(|p| p.uplink().is_some()).count();
        let tunnels = ports.iter().filter(|p| p.tunnel().is_some()).count();
        if tunnels > 0 && uplinks != 1 {
            return Err(problem(
                "ports",
                format!(
                    "a geneve port needs exactly one port with an uplink section, found {uplinks}"
                ),
            ));
        }
        let routes = (self.routes.iter().enumerate())
            .map(|(i, r)| {
                RouteTable::parse(r).map_err(|e| problem(format!("routes[{i}]"), e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let neighbors = (self.neighbors.iter().enumerate())
            .map(|(i, n)| {
                let mac = mac(&n.mac).map_err(|m| problem(format!("neighbors[{i}].mac"), m))?;
                Ok::<_, Problem>(NeighborConfig { ip: n.ip, mac })
            })
            .collect::<Result<_, _>>()?;
        let mut tlv_map = TlvMap::default();
        for (i, t) in self.tlv_map.iter().enumerate() {
            tlv_map
                .add(t)
                .map_err(|e| problem(format!("tlv_map[{i}]"), e.to_string()))?;
        }
        Ok(BridgeConfig {
            bridge: self.bridge,
            control_socket: self.control_socket,
            metrics: self.metrics,
            workers: self.workers,
            mbufs: self.mbufs,
            conntrack_max: self.conntrack_max,
            fastpath: self.fastpath,
            ports,
            tlv_map,
            flows: self.flows,
            routes,
            neighbors,
            openflow: self.openflow.typed()?,
            base_dir: PathBuf::new(),
        })
    }
}

impl PortYaml {
    /// The port checked and parsed (its limits and uniqueness are checked before); a
    /// problem's path is relative to the port (`.devargs`, or empty for the port).
    fn typed(&self) -> Result<PortConfig, Problem> {
        let kind = match (self.kind, &self.devargs) {
            (PortType::Dpdk, None) => return Err(problem("", "a dpdk port needs devargs")),
            (PortType::Geneve, Some(_)) => return Err(problem("", "a geneve port has no devargs")),
            (PortType::Dpdk, Some(d)) => PortKind::Device(self.device(d)?),
            (PortType::Geneve, None) => PortKind::Geneve(self.tunnel()?),
        };
        let proxy_arp = match &self.proxy_arp {
            Some(m) => Some(mac(m).map_err(|m| problem(".proxy_arp", m))?),
            None => None,
        };
        Ok(PortConfig {
            name: self.name.clone(),
            ofport: self.ofport,
            kind,
            proxy_arp,
            flood: self.flood.unwrap_or(true),
        })
    }

    /// A device port's devargs, uplink address and TAP settings.
    fn device(&self, devargs: &str) -> Result<DeviceConfig, Problem> {
        PortSpec::parse(devargs)
            .check()
            .map_err(|m| problem(".devargs", m))?;
        if self.options.is_some() {
            return Err(problem(
                ".options",
                "tunnel options are for a geneve port (type: geneve)",
            ));
        }
        let uplink = match &self.uplink {
            Some(u) => {
                let (ip, net) = crate::net::parse_iface_addr(&u.ip).map_err(|_| {
                    problem(".uplink.ip", format!("{} is not ADDRESS/PREFIX", u.ip))
                })?;
                Some(UplinkConfig {
                    ip,
                    prefix_len: net.len,
                    gateway: u.gateway,
                    mtu: u.mtu.unwrap_or(super::DEFAULT_MTU),
                })
            }
            None => None,
        };
        let tap = match &self.tap {
            Some(t) => Some(t.typed(devargs).map_err(|(f, m)| (format!(".{f}"), m))?),
            None => None,
        };
        Ok(DeviceConfig {
            devargs: devargs.to_string(),
            rx_queues: self.rx_queues.unwrap_or(1),
            uplink,
            tap,
        })
    }

    /// A Geneve port's options, `flow` where absent.
    fn tunnel(&self) -> Result<TunnelPort, Problem> {
        for (field, present) in [
            ("uplink", self.uplink.is_some()),
            ("rx_queues", self.rx_queues.is_some()),
            ("tap", self.tap.is_some()),
        ] {
            if present {
                return Err(problem(
                    format!(".{field}"),
                    "a geneve port has none: its packets leave through the uplink's device port",
                ));
            }
        }
        let o = self.options.clone().unwrap_or_default();
        let remote_ip = match o.remote_ip.as_deref().filter(|v| *v != "flow") {
            Some(ip) => Some(u32::from(ip.parse::<Ipv4Addr>().map_err(|_| {
                problem(
                    ".options.remote_ip",
                    format!("{ip} is not `flow` or an IPv4 address"),
                )
            })?)),
            None => None,
        };
        let key = match o.key.as_deref().filter(|v| *v != "flow") {
            Some(k) => Some(
                pipeline::ofctl::value_int(k)
                    .and_then(|v| u64::try_from(v).ok())
                    .filter(|&v| v <= 0xff_ffff)
                    .ok_or_else(|| {
                        problem(".options.key", format!("{k} is not `flow` or a 24-bit VNI"))
                    })?,
            ),
            None => None,
        };
        Ok(TunnelPort {
            remote_ip,
            local_ip: o.local_ip.map(u32::from),
            key,
            csum: o.csum,
            dst_port: o.dst_port.unwrap_or(pipeline::geneve::GENEVE_PORT),
        })
    }
}

impl TapYaml {
    /// The settings parsed, or the first problem as (field under the port, message).
    fn typed(&self, devargs: &str) -> Result<TapConfig, Problem> {
        if PortSpec::parse(devargs).tap_iface().is_none() {
            return Err(problem(
                "tap",
                "only a TAP port brisk creates has these (devargs tap:IFACE or net_tap…,iface=IFACE)",
            ));
        }
        let mac = match &self.mac {
            Some(m) => match mac(m).map_err(|e| problem("tap.mac", e))? {
                v if v & (1 << 40) != 0 => {
                    return Err(problem("tap.mac", format!("{m} is a multicast address")))
                }
                v => Some(v),
            },
            None => None,
        };
        let addr = match &self.ip {
            Some(ip) => {
                let (a, net) =
                    crate::net::parse_iface_addr(ip).map_err(|e| problem("tap.ip", e))?;
                Some((a, net.len))
            }
            None => None,
        };
        if let Some(m) = self.mtu.and_then(crate::limits::mtu) {
            return Err(problem("tap.mtu", m));
        }
        Ok(TapConfig {
            mac,
            addr,
            mtu: self.mtu,
        })
    }
}
