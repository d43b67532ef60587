//! The bridge configuration `brisk run --bridge FILE` starts from: ports, cores, flows,
//! tunnel and underlay. (A node description in the Antrea shape compiles into one.)

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// A configuration problem, with the place it was found.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    /// The file could not be read.
    #[error("{file}: {err}")]
    Io {
        /// File.
        file: String,
        /// Error.
        err: std::io::Error,
    },
    /// YAML syntax or schema error.
    #[error("{file}:{line}: {msg}")]
    Yaml {
        /// File.
        file: String,
        /// 1-based line (0 if unknown).
        line: usize,
        /// Message.
        msg: String,
    },
    /// A limit of [`crate::yaml`] (size, nesting depth, alias expansion) is exceeded.
    #[error("{file}:{line}:{column}: {msg}")]
    Limit {
        /// File.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The limit and what went beyond it.
        msg: String,
    },
    /// A value that parsed but does not make sense.
    #[error("{file}:{line}: {path}: {msg}")]
    Invalid {
        /// File.
        file: String,
        /// 1-based line (0 if unknown).
        line: usize,
        /// Field path, e.g. `ports[2].ofport`.
        path: String,
        /// Problem.
        msg: String,
    },
    /// Several problems, one per line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many(Vec<ConfError>),
}

/// What a port is.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PortType {
    /// A DPDK ethdev given by devargs (NIC, vhost-user, TAP, AF_PACKET, ring, pcap...).
    Dpdk,
    /// A Geneve tunnel port (logical: encapsulated packets leave through the uplink).
    Geneve,
}

/// What a port's `devargs` names: a DPDK device, or one of brisk's own kernel-socket ports
/// (`afpacket:IFACE`, an AF_PACKET socket with memory-mapped rings; `tap:IFACE`, a TAP
/// interface brisk creates), which also run in a brisk built without DPDK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortSpec<'a> {
    /// DPDK devargs.
    Dpdk(&'a str),
    /// brisk's AF_PACKET port on this interface.
    AfPacket(&'a str),
    /// brisk's TAP port with this interface name.
    Tap(&'a str),
}

impl<'a> PortSpec<'a> {
    /// Reads devargs.
    pub fn parse(devargs: &'a str) -> PortSpec<'a> {
        if let Some(i) = devargs.strip_prefix("afpacket:") {
            PortSpec::AfPacket(i)
        } else if let Some(i) = devargs.strip_prefix("tap:") {
            PortSpec::Tap(i)
        } else {
            PortSpec::Dpdk(devargs)
        }
    }

    /// The kernel-socket port that DPDK devargs of `net_af_packet` or `net_tap` stand for
    /// (their `iface=`), so that a node description written for DPDK runs in a brisk built
    /// without it.
    pub fn kernel_equivalent(self) -> Option<PortSpec<'a>> {
        let PortSpec::Dpdk(d) = self else {
            return Some(self);
        };
        let mut parts = d.split(',');
        let driver = parts.next()?;
        let iface = parts.find_map(|kv| kv.strip_prefix("iface="))?;
        if driver.starts_with("net_af_packet") {
            Some(PortSpec::AfPacket(iface))
        } else if driver.starts_with("net_tap") {
            Some(PortSpec::Tap(iface))
        } else {
            None
        }
    }

    /// The interface of a TAP that brisk creates: `tap:IFACE`, or DPDK's
    /// `net_tap…,iface=IFACE` (the TAP PMD creates it in brisk's process).
    pub fn tap_iface(self) -> Option<&'a str> {
        match self.kernel_equivalent() {
            Some(PortSpec::Tap(i)) => Some(i),
            _ => None,
        }
    }

    /// The interface name of a kernel-socket port.
    pub fn iface(self) -> Option<&'a str> {
        match self {
            PortSpec::AfPacket(i) | PortSpec::Tap(i) => Some(i),
            PortSpec::Dpdk(_) => None,
        }
    }

    /// Problems with an interface name, as the kernel would see them.
    pub fn check(self) -> Result<(), String> {
        match self.iface() {
            Some(i)
                if i.is_empty()
                    || i.len() > 15
                    || i.bytes()
                        .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace()) =>
            {
                Err(format!(
                    "{i:?} is not a Linux interface name (1 to 15 bytes, no '/', ':' or spaces)"
                ))
            }
            _ => Ok(()),
        }
    }
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
pub struct UplinkConfig {
    /// Node address with prefix, e.g. `10.79.1.201/24`.
    pub ip: String,
    /// Default gateway, if any.
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    /// Underlay MTU (default 1500).
    #[serde(default)]
    pub mtu: Option<u16>,
}

/// One port.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PortConfig {
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
    /// Receive queues (RSS spreads flows over them).
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
    pub uplink: Option<UplinkConfig>,
    /// What brisk sets on the interface of a TAP port it creates ([`PortSpec::tap_iface`]).
    #[serde(default)]
    pub tap: Option<TapConfig>,
}

/// The kernel side of a TAP port: set on the interface once brisk (or DPDK's TAP PMD) has
/// created it, as `ip link set IFACE address MAC mtu MTU` and `ip addr add IP dev IFACE`
/// would (a node's gateway, `antrea-gw0`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TapConfig {
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

impl TapConfig {
    /// The first problem with the settings of `port`, as (field under the port, message).
    fn problem(&self, port: &PortConfig) -> Option<(&'static str, String)> {
        if port
            .devargs
            .as_deref()
            .and_then(|d| PortSpec::parse(d).tap_iface())
            .is_none()
        {
            return Some((
                "tap",
                "only a TAP port brisk creates has these (devargs tap:IFACE or net_tap…,iface=IFACE)"
                    .into(),
            ));
        }
        if let Some(m) = &self.mac {
            match pipeline::ofctl::parse_mac(m) {
                None => return Some(("tap.mac", format!("{m} is not a MAC address"))),
                Some(v) if v & (1 << 40) != 0 => {
                    return Some(("tap.mac", format!("{m} is a multicast address")))
                }
                Some(_) => {}
            }
        }
        if let Some(ip) = &self.ip {
            if let Err(e) = crate::net::parse_iface_addr(ip) {
                return Some(("tap.ip", e));
            }
        }
        self.mtu
            .and_then(crate::limits::mtu)
            .map(|m| ("tap.mtu", m))
    }
}

fn default_type() -> PortType {
    PortType::Dpdk
}

/// A static neighbour.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NeighborConfig {
    /// IPv4 address.
    pub ip: Ipv4Addr,
    /// MAC address.
    pub mac: String,
}

/// Fast-path tuning.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FastPathTuning {
    /// EMC entries per worker.
    #[serde(default)]
    pub emc_entries: Option<usize>,
    /// EMC insertion inverse probability.
    #[serde(default)]
    pub emc_insert_inv_prob: Option<u32>,
    /// Megaflows per worker.
    #[serde(default)]
    pub max_megaflows: Option<usize>,
    /// Translations per burst per worker.
    #[serde(default)]
    pub max_upcalls_per_burst: Option<usize>,
}

/// The whole bridge.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
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
    pub ports: Vec<PortConfig>,
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
    pub neighbors: Vec<NeighborConfig>,
    /// Directory of the file the configuration was read from (for relative paths).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

fn default_bridge() -> String {
    "br-int".into()
}

/// Reads a YAML file, refusing one over [`crate::yaml::MAX_YAML_BYTES`] without reading
/// more than that (the limit's error comes from [`crate::yaml::check`]).
pub(crate) fn read_yaml(path: &Path, file: &str) -> Result<String, ConfError> {
    use std::io::Read;
    let io = |err| ConfError::Io {
        file: file.to_string(),
        err,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(crate::yaml::MAX_YAML_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        // Cut inside a character past the limit: refused for its size all the same.
        Err(e) if e.as_bytes().len() > crate::yaml::MAX_YAML_BYTES => {
            Ok(String::from_utf8_lossy(e.as_bytes()).into_owned())
        }
        Err(_) => Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))),
    }
}

impl BridgeConfig {
    /// Reads and validates a bridge configuration.
    pub fn load(path: &Path) -> Result<BridgeConfig, ConfError> {
        let file = path.display().to_string();
        let text = read_yaml(path, &file)?;
        let mut c = Self::parse(&text, &file)?;
        c.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(c)
    }

    /// Parses and validates YAML text, once within the limits of [`crate::yaml::check`];
    /// `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<BridgeConfig, ConfError> {
        let c: BridgeConfig = crate::yaml::from_str_checked(text, file)?;
        c.validate(text, file)?;
        Ok(c)
    }

    fn validate(&self, text: &str, file: &str) -> Result<(), ConfError> {
        // Lines are looked for only for the error returned.
        let inv = |path: String, msg: String| ConfError::Invalid {
            file: file.to_string(),
            line: crate::locate::line(&crate::locate::locate_paths(text, &[&path]), &path),
            path,
            msg,
        };
        if let Some((path, msg)) = crate::limits::bridge(self) {
            return Err(inv(path, msg));
        }
        let mut seen_num = std::collections::HashMap::new();
        let mut seen_name = std::collections::HashMap::new();
        let mut uplinks = 0;
        for (i, p) in self.ports.iter().enumerate() {
            let path = format!("ports[{i}]");
            if let Some((field, m)) = crate::limits::port(p) {
                return Err(inv(format!("{path}.{field}"), m));
            }
            if let Some(j) = seen_num.insert(p.ofport, i) {
                return Err(inv(
                    format!("{path}.ofport"),
                    format!("{} is already used by ports[{j}]", p.ofport),
                ));
            }
            if let Some(j) = seen_name.insert(p.name.clone(), i) {
                return Err(inv(
                    format!("{path}.name"),
                    format!("{} is already used by ports[{j}]", p.name),
                ));
            }
            match p.kind {
                PortType::Dpdk if p.devargs.is_none() => {
                    return Err(inv(path, "a dpdk port needs devargs".into()))
                }
                PortType::Geneve if p.devargs.is_some() => {
                    return Err(inv(path, "a geneve port has no devargs".into()))
                }
                _ => {}
            }
            if let Some(d) = &p.devargs {
                PortSpec::parse(d)
                    .check()
                    .map_err(|m| inv(format!("{path}.devargs"), m))?;
            }
            if let Some(o) = &p.options {
                if let Some(ip) = o.remote_ip.as_deref().filter(|v| *v != "flow") {
                    if ip.parse::<Ipv4Addr>().is_err() {
                        return Err(inv(
                            format!("{path}.options.remote_ip"),
                            format!("{ip} is not `flow` or an IPv4 address"),
                        ));
                    }
                }
                if let Some(k) = o.key.as_deref().filter(|v| *v != "flow") {
                    if pipeline::ofctl::value_int(k).is_none_or(|v| v > 0xff_ffff) {
                        return Err(inv(
                            format!("{path}.options.key"),
                            format!("{k} is not `flow` or a 24-bit VNI"),
                        ));
                    }
                }
            }
            if let Some(u) = &p.uplink {
                uplinks += 1;
                let ok = u
                    .ip
                    .split_once('/')
                    .and_then(|(a, l)| Some((a.parse::<Ipv4Addr>().ok()?, l.parse::<u8>().ok()?)))
                    .is_some_and(|(_, l)| l <= 32);
                if !ok {
                    return Err(inv(
                        format!("{path}.uplink.ip"),
                        format!("{} is not ADDRESS/PREFIX", u.ip),
                    ));
                }
            }
            if let Some((field, m)) = p.tap.as_ref().and_then(|t| t.problem(p)) {
                return Err(inv(format!("{path}.{field}"), m));
            }
            if let Some(m) = &p.proxy_arp {
                if pipeline::ofctl::parse_mac(m).is_none() {
                    return Err(inv(
                        format!("{path}.proxy_arp"),
                        format!("{m} is not a MAC address"),
                    ));
                }
            }
        }
        let tunnels = self
            .ports
            .iter()
            .filter(|p| p.kind == PortType::Geneve)
            .count();
        if tunnels > 0 && uplinks != 1 {
            return Err(inv(
                "ports".into(),
                format!(
                    "a geneve port needs exactly one port with an uplink section, found {uplinks}"
                ),
            ));
        }
        for (i, r) in self.routes.iter().enumerate() {
            pipeline::underlay::RouteTable::parse(r)
                .map_err(|e| inv(format!("routes[{i}]"), e.to_string()))?;
        }
        for (i, n) in self.neighbors.iter().enumerate() {
            if pipeline::ofctl::parse_mac(&n.mac).is_none() {
                return Err(inv(
                    format!("neighbors[{i}].mac"),
                    format!("{} is not a MAC address", n.mac),
                ));
            }
        }
        let mut tlv = pipeline::geneve::TlvMap::default();
        for (i, t) in self.tlv_map.iter().enumerate() {
            tlv.add(t)
                .map_err(|e| inv(format!("tlv_map[{i}]"), e.to_string()))?;
        }
        Ok(())
    }

    /// Path of the flows file, if any.
    pub fn flows_path(&self) -> Option<PathBuf> {
        self.flows.as_ref().map(|f| self.base_dir.join(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
bridge: br-int
workers: [1]
ports:
  - name: antrea-gw0
    ofport: 2
    devargs: "net_tap0,iface=gw0"
  - name: antrea-tun0
    ofport: 1
    type: geneve
    options: {remote_ip: flow, key: flow}
  - name: uplink
    ofport: 7
    devargs: "net_ring0"
    uplink: {ip: 10.79.1.201/24, gateway: 10.79.1.1}
tlv_map: ["{class=0x104,type=0x80,len=4}->tun_metadata0"]
routes: ["10.79.1.0/24 dev 7"]
"#;

    #[test]
    fn parses() {
        let c = BridgeConfig::parse(OK, "b.yaml").unwrap();
        assert_eq!(c.ports.len(), 3);
        assert_eq!(c.ports[1].kind, PortType::Geneve);
        assert_eq!(c.workers, Some(vec![1]));
    }

    #[test]
    fn errors_name_file_line_field() {
        let bad = OK.replace("ofport: 7", "ofport: 2");
        let e = BridgeConfig::parse(&bad, "b.yaml").unwrap_err().to_string();
        assert!(
            e.starts_with("b.yaml:13: ports[2].ofport: 2 is already used by ports[0]"),
            "{e}"
        );
        let bad = OK.replace("workers: [1]", "workers: [1]\nfrobnicate: 3");
        let e = BridgeConfig::parse(&bad, "b.yaml").unwrap_err().to_string();
        assert!(
            e.contains("b.yaml:4") && e.contains("unknown field `frobnicate`"),
            "{e}"
        );
        let bad = OK.replace("10.79.1.201/24", "10.79.1.201");
        let e = BridgeConfig::parse(&bad, "b.yaml").unwrap_err().to_string();
        assert!(e.contains("ports[2].uplink.ip"), "{e}");
        let bad = OK.replace("len=4", "len=5");
        let e = BridgeConfig::parse(&bad, "b.yaml").unwrap_err().to_string();
        assert!(e.contains("tlv_map[0]"), "{e}");
        let bad = OK.replace("    uplink: {ip: 10.79.1.201/24, gateway: 10.79.1.1}\n", "");
        let e = BridgeConfig::parse(&bad, "b.yaml").unwrap_err().to_string();
        assert!(e.contains("exactly one port with an uplink"), "{e}");
        let bad = OK.replace("remote_ip: flow,", "remote_ip: 10.79.1.300,");
        let e = BridgeConfig::parse(&bad, "b.yaml").unwrap_err().to_string();
        assert!(
            e.starts_with("b.yaml:11: ports[1].options.remote_ip: 10.79.1.300 is not `flow`"),
            "{e}"
        );
        let bad = OK.replace("key: flow}", "key: 0x1000000}");
        let e = BridgeConfig::parse(&bad, "b.yaml").unwrap_err().to_string();
        assert!(
            e.contains("ports[1].options.key: 0x1000000 is not `flow` or a 24-bit VNI"),
            "{e}"
        );
        assert!(BridgeConfig::parse(&OK.replace("key: flow}", "key: 0x5}"), "b.yaml").is_ok());
    }
}
