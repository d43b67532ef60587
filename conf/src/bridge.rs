//! The bridge configuration `brisk run --bridge FILE` starts from: ports, cores, flows,
//! tunnel and underlay. (A node description in the Antrea shape compiles into one.)
//!
//! The file is read as [`BridgeYaml`] ([`file`]: strings as written) and checked into a
//! [`BridgeConfig`], where addresses, MACs, routes, neighbours, the TLV map and the tunnel's
//! options are values: each string is parsed once, where its error can name the file, line
//! and field, and the switch starts from the values without reading the strings again.

pub mod file;

pub use file::BridgeYaml;

use pipeline::bridge::TunnelPort;
use pipeline::geneve::TlvMap;
use pipeline::underlay::Route;
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

/// The MTU of an underlay that does not say (Ethernet's).
pub const DEFAULT_MTU: u16 = 1500;

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
    /// Vector unit of the lookup kernels: `auto` (the default: the widest this CPU has),
    /// `avx2` or `scalar`. A unit the CPU lacks stops the switch at start.
    #[serde(default)]
    pub simd: Option<String>,
    /// Bypass the EMC while its hit rate is too low to pay (default true).
    #[serde(default)]
    pub emc_auto_bypass: Option<bool>,
}

/// A bridge, checked, with every value parsed: what `brisk run` starts. A bridge file
/// becomes one through [`BridgeConfig::load`], a node description through
/// [`crate::node::Plan::bridge`]; the switch takes the values as they are, so that what
/// was checked is what runs and nothing is read twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Bridge name.
    pub bridge: String,
    /// Control socket path.
    pub control_socket: Option<String>,
    /// Prometheus metrics listen address (off when absent).
    pub metrics: Option<String>,
    /// Worker lcores (default: every EAL worker lcore, or the main lcore if none).
    pub workers: Option<Vec<u32>>,
    /// Mbufs in the pool (default: sized from ports and queues).
    pub mbufs: Option<u32>,
    /// Conntrack table size.
    pub conntrack_max: Option<usize>,
    /// Fast-path tuning.
    pub fastpath: FastPathTuning,
    /// Ports, in the file's order.
    pub ports: Vec<PortConfig>,
    /// The TLV map: which Geneve option each `tun_metadataN` holds.
    pub tlv_map: TlvMap,
    /// Flows file, as written (relative to [`BridgeConfig::base_dir`]).
    pub flows: Option<String>,
    /// Underlay routes beyond the uplink's subnet and default gateway.
    pub routes: Vec<Route>,
    /// Static neighbours.
    pub neighbors: Vec<NeighborConfig>,
    /// OpenFlow listeners and controllers besides the management socket.
    pub openflow: OpenFlowConfig,
    /// Directory of the file the configuration was read from (for relative paths).
    pub base_dir: PathBuf,
}

/// One port, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConfig {
    /// Name used in flows (`in_port="antrea-gw0"`).
    pub name: String,
    /// OpenFlow port number.
    pub ofport: u32,
    /// A device, or the Geneve tunnel.
    pub kind: PortKind,
    /// Answer every ARP request arriving on this port with this MAC (Linux proxy_arp).
    pub proxy_arp: Option<u64>,
    /// Whether FLOOD/NORMAL flooding includes the port.
    pub flood: bool,
}

/// What a port is, with what only that kind has: a port is either a device that sends
/// and receives, or the tunnel, whose packets leave through the uplink's device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortKind {
    /// A DPDK ethdev or one of brisk's kernel-socket ports.
    Device(DeviceConfig),
    /// A Geneve tunnel port, with OVS's `options:`.
    Geneve(TunnelPort),
}

/// A device port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    /// DPDK devargs, or `afpacket:IFACE` / `tap:IFACE` ([`PortSpec`]; checked).
    pub devargs: String,
    /// Receive queues (RSS spreads flows over them).
    pub rx_queues: u16,
    /// The underlay address, on the one device that carries the tunnel.
    pub uplink: Option<UplinkConfig>,
    /// What brisk sets on the interface of a TAP port it creates.
    pub tap: Option<TapConfig>,
}

/// The uplink's underlay address: the tunnel's source, the on-link subnet's route and
/// the default route's gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UplinkConfig {
    /// Node address.
    pub ip: Ipv4Addr,
    /// Prefix length of its subnet (0..=32).
    pub prefix_len: u8,
    /// Default gateway, if any.
    pub gateway: Option<Ipv4Addr>,
    /// Underlay MTU.
    pub mtu: u16,
}

/// The kernel side of a TAP port: set on the interface once brisk (or DPDK's TAP PMD) has
/// created it, as `ip link set IFACE address MAC mtu MTU` and `ip addr add IP dev IFACE`
/// would (a node's gateway, `antrea-gw0`). What is absent is left as the kernel made it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TapConfig {
    /// MAC address (unicast), as a number (`0x4e9908c153be`).
    pub mac: Option<u64>,
    /// IPv4 address and prefix length.
    pub addr: Option<(Ipv4Addr, u8)>,
    /// MTU.
    pub mtu: Option<u16>,
}

/// OpenFlow connections a bridge file asks for, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenFlowConfig {
    /// Listeners besides the management socket.
    pub listen: Vec<openflow::target::OfListen>,
    /// Controllers to connect to, with their probe and backoff settings.
    pub controllers: Vec<(
        openflow::target::OfConnect,
        openflow::target::ControllerOptions,
    )>,
}

/// A static neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighborConfig {
    /// IPv4 address.
    pub ip: Ipv4Addr,
    /// MAC address, as a number.
    pub mac: u64,
}

impl BridgeConfig {
    /// A bridge with no ports, flows or settings: what `brisk run --ovsdb` starts, the
    /// database then giving it its ports.
    pub fn empty(name: &str) -> BridgeConfig {
        BridgeConfig {
            bridge: name.to_string(),
            control_socket: None,
            metrics: None,
            workers: None,
            mbufs: None,
            conntrack_max: None,
            fastpath: FastPathTuning::default(),
            ports: Vec::new(),
            tlv_map: TlvMap::default(),
            flows: None,
            routes: Vec::new(),
            neighbors: Vec::new(),
            openflow: OpenFlowConfig::default(),
            base_dir: PathBuf::new(),
        }
    }
}

impl PortConfig {
    /// A device port with the defaults (one receive queue, flooded, no proxy ARP): a
    /// node's ports and `brisk ctl port add`. `devargs` must have passed
    /// [`PortSpec::check`].
    pub fn device(name: &str, ofport: u32, devargs: &str) -> PortConfig {
        PortConfig {
            name: name.to_string(),
            ofport,
            kind: PortKind::Device(DeviceConfig {
                devargs: devargs.to_string(),
                rx_queues: 1,
                uplink: None,
                tap: None,
            }),
            proxy_arp: None,
            flood: true,
        }
    }

    /// The device, unless this is the tunnel.
    pub fn as_device(&self) -> Option<&DeviceConfig> {
        match &self.kind {
            PortKind::Device(d) => Some(d),
            PortKind::Geneve(_) => None,
        }
    }

    /// The tunnel's options, if this is the tunnel.
    pub fn tunnel(&self) -> Option<&TunnelPort> {
        match &self.kind {
            PortKind::Geneve(t) => Some(t),
            PortKind::Device(_) => None,
        }
    }

    /// The underlay address, if this is the uplink.
    pub fn uplink(&self) -> Option<&UplinkConfig> {
        self.as_device()?.uplink.as_ref()
    }

    /// The devargs, if this is a device.
    pub fn devargs(&self) -> Option<&str> {
        self.as_device().map(|d| d.devargs.as_str())
    }
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
    /// Reads a bridge file and makes it a [`BridgeConfig`] ([`BridgeConfig::parse`]).
    pub fn load(path: &Path) -> Result<BridgeConfig, ConfError> {
        let file = path.display().to_string();
        let text = read_yaml(path, &file)?;
        let mut c = Self::parse(&text, &file)?;
        c.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(c)
    }

    /// Reads YAML text, once within the limits of [`crate::yaml::check`], as a
    /// [`BridgeYaml`] and checks it into a [`BridgeConfig`] ([`BridgeYaml::resolve`]);
    /// `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<BridgeConfig, ConfError> {
        let c: BridgeYaml = crate::yaml::from_str_checked(text, file)?;
        c.resolve(text, file)
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
        assert_eq!(
            c.ports[1].kind,
            PortKind::Geneve(TunnelPort {
                remote_ip: None,
                local_ip: None,
                key: None,
                csum: false,
                dst_port: 6081,
            })
        );
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
