//! Ports at start and at run time: building a runtime port from its configuration (DPDK
//! ethdev, AF_PACKET, TAP, Geneve), `brisk ctl port add|del`.

use super::state::{Device, RtKind, RtPort, RtPorts, Shared};
use super::RuntimeError;
#[cfg(feature = "dpdk")]
use crate::dpdk::{EthPort, PortConf};
use crate::kernel::{AfPacketPort, TapPort};
use crate::pkt::Pools;
use conf::bridge::{PortSpec, PortType};
use pipeline::bridge::{PortInfo, PortKind, TunnelPort};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn mac_u64(m: [u8; 6]) -> u64 {
    m.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b))
}

fn tunnel_port(p: &conf::bridge::PortConfig) -> Result<TunnelPort, RuntimeError> {
    let o = p.options.clone().unwrap_or_default();
    let bad = |w: &str| RuntimeError::Config(format!("port {}: bad {w}", p.name));
    Ok(TunnelPort {
        remote_ip: match o.remote_ip.as_deref() {
            None | Some("flow") => None,
            Some(ip) => Some(u32::from(
                ip.parse::<std::net::Ipv4Addr>()
                    .map_err(|_| bad("remote_ip"))?,
            )),
        },
        local_ip: o.local_ip.map(u32::from),
        key: match o.key.as_deref() {
            None | Some("flow") => None,
            Some(k) => Some(pipeline::ofctl::value_int(k).ok_or_else(|| bad("key"))? as u64),
        },
        csum: o.csum,
        dst_port: o.dst_port.unwrap_or(pipeline::geneve::GENEVE_PORT),
    })
}

/// Builds one runtime port from its configuration (creating and starting the device).
pub(super) fn make_port(
    p: &conf::bridge::PortConfig,
    pools: &Pools,
    txq: u16,
) -> Result<(RtPort, PortInfo), RuntimeError> {
    let proxy = p.proxy_arp.as_deref().and_then(pipeline::ofctl::parse_mac);
    match p.kind {
        PortType::Geneve => {
            let t = tunnel_port(p)?;
            let desc = format!(
                "remote_ip={}, key={}, dst_port={}, csum={}",
                t.remote_ip
                    .map_or("flow".into(), |ip| std::net::Ipv4Addr::from(ip).to_string()),
                t.key.map_or("flow".into(), |k| k.to_string()),
                t.dst_port,
                t.csum
            );
            Ok((
                RtPort {
                    ofport: p.ofport,
                    name: p.name.clone(),
                    kind: RtKind::Geneve(t.clone()),
                    counters: Arc::default(),
                    desc,
                },
                PortInfo {
                    proxy_arp: proxy,
                    flood: p.flood.unwrap_or(true),
                    ..PortInfo::new(p.ofport, &p.name, PortKind::Tunnel(t))
                },
            ))
        }
        PortType::Dpdk => {
            let devargs = p
                .devargs
                .as_deref()
                .ok_or_else(|| RuntimeError::Config(format!("port {} needs devargs", p.name)))?;
            let spec = PortSpec::parse(devargs);
            #[cfg(not(feature = "dpdk"))]
            let spec = spec.kernel_equivalent().ok_or_else(|| {
                RuntimeError::Config(format!(
                    "port {}: {devargs:?} is a DPDK device and this brisk was built without DPDK (the `dpdk` cargo feature); use afpacket:IFACE or tap:IFACE",
                    p.name
                ))
            })?;
            let (dev, rxq, mac) = open_device(p, spec, pools, txq).map_err(|e| {
                RuntimeError::Config(format!("port {} (devargs {devargs:?}): {e}", p.name))
            })?;
            let uplink = match &p.uplink {
                Some(u) => {
                    let (ip, len) = u.ip.split_once('/').ok_or_else(|| {
                        RuntimeError::Config(format!("port {}: uplink ip needs /prefix", p.name))
                    })?;
                    let ip: std::net::Ipv4Addr = ip.parse().map_err(|_| {
                        RuntimeError::Config(format!("port {}: bad uplink ip", p.name))
                    })?;
                    Some((
                        u32::from(ip),
                        len.parse().unwrap_or(24),
                        u.mtu.unwrap_or(1500),
                    ))
                }
                None => None,
            };
            Ok((
                RtPort {
                    ofport: p.ofport,
                    name: p.name.clone(),
                    kind: RtKind::Device {
                        dev,
                        rxq,
                        mac,
                        uplink,
                    },
                    counters: Arc::default(),
                    desc: devargs.to_string(),
                },
                PortInfo {
                    proxy_arp: proxy,
                    flood: p.flood.unwrap_or(true),
                    ..PortInfo::new(p.ofport, &p.name, PortKind::Normal)
                },
            ))
        }
    }
}

/// What a TAP port's interface gets ([`conf::bridge::TapConfig`], validated with the
/// configuration): MAC, IPv4 address and prefix length, MTU.
type TapSettings = (
    Option<[u8; 6]>,
    Option<(std::net::Ipv4Addr, u8)>,
    Option<u16>,
);

fn tap_settings(p: &conf::bridge::PortConfig) -> Result<TapSettings, RuntimeError> {
    let Some(t) = &p.tap else {
        return Ok((None, None, None));
    };
    let bad =
        |what: &str, v: &str| RuntimeError::Config(format!("port {}: tap.{what}: {v:?}", p.name));
    let mac = match &t.mac {
        Some(m) => {
            let v = pipeline::ofctl::parse_mac(m).ok_or_else(|| bad("mac", m))?;
            Some(std::array::from_fn(|i| (v >> (40 - 8 * i)) as u8))
        }
        None => None,
    };
    let addr = match &t.ip {
        Some(ip) => {
            let (a, net) = conf::net::parse_iface_addr(ip).map_err(|_| bad("ip", ip))?;
            Some((a, net.len))
        }
        None => None,
    };
    Ok((mac, addr, t.mtu))
}

/// Opens the device of a port: (device, receive queues, MAC).
fn open_device(
    p: &conf::bridge::PortConfig,
    spec: PortSpec<'_>,
    pools: &Pools,
    txq: u16,
) -> Result<(Device, u16, u64), RuntimeError> {
    Ok(match spec {
        PortSpec::AfPacket(i) => {
            let a = AfPacketPort::open(i, p.rx_queues.unwrap_or(1), txq)?;
            let mac = mac_u64(a.netdev().mac());
            let rxq = a.rx_queues();
            (Device::AfPacket(a), rxq, mac)
        }
        PortSpec::Tap(i) => {
            let (mac, addr, mtu) = tap_settings(p)?;
            let t = TapPort::open_with(i, mac, addr, mtu)?;
            let mac = mac_u64(t.netdev().mac());
            (Device::Tap(t), 1, mac)
        }
        #[cfg(feature = "dpdk")]
        PortSpec::Dpdk(d) => {
            let (dev, rxq, mut mac) = dpdk_port(p, d, pools, txq)?;
            // DPDK's TAP PMD made the interface and set its own MAC as the port started.
            if let (Some(iface), Some(_)) = (PortSpec::Dpdk(d).tap_iface(), &p.tap) {
                let (want, addr, mtu) = tap_settings(p)?;
                TapPort::configure(iface, want, addr, mtu)?;
                mac = want.map_or(mac, mac_u64);
            }
            (dev, rxq, mac)
        }
        #[cfg(not(feature = "dpdk"))]
        PortSpec::Dpdk(d) => {
            let _ = pools;
            return Err(RuntimeError::Config(format!(
                "{d:?} is a DPDK device and this brisk was built without DPDK"
            )));
        }
    })
}

/// Creates and starts a DPDK ethdev: (device, receive queues, MAC).
#[cfg(feature = "dpdk")]
fn dpdk_port(
    p: &conf::bridge::PortConfig,
    devargs: &str,
    pools: &Pools,
    txq: u16,
) -> Result<(Device, u16, u64), RuntimeError> {
    let mut eth = EthPort::from_devargs(devargs)?;
    let rxq = p.rx_queues.unwrap_or(1).max(1);
    let (max_rx, max_tx) = eth.max_queues()?;
    let mut conf = PortConf {
        rx_queues: rxq.min(max_rx.max(1)),
        tx_queues: txq.min(max_tx.max(1)),
        ..PortConf::default()
    };
    // The TAP PMD needs as many receive queues as transmit queues; the kernel spreads
    // packets over them, so every one is polled.
    if eth.driver_name()? == "net_tap" {
        let n = conf
            .rx_queues
            .max(conf.tx_queues)
            .min(max_rx.max(1))
            .min(max_tx.max(1));
        conf.rx_queues = n;
        conf.tx_queues = n;
    }
    // Receive buffers from the pool of the device's NUMA socket (the main lcore's when no
    // worker runs there, or the device does not say).
    let socket = eth.socket();
    let pool = pools.get(pools.index_for(socket));
    eth.configure_and_start(&conf, pool)?;
    let mac = mac_u64(eth.mac());
    Ok((Device::Eth(eth), conf.rx_queues, mac))
}

/// `brisk ctl port add NAME OFPORT DEVARGS`.
pub(crate) fn port_add(
    shared: &Shared,
    name: &str,
    ofport: &str,
    devargs: &str,
) -> Result<String, String> {
    conf::limits::port_name(name).map_err(|e| format!("port add: {e}"))?;
    let ofport: u32 = ofport
        .parse()
        .ok()
        .filter(|&n| conf::limits::ofport(n).is_ok())
        .ok_or_else(|| {
            let shown: String = ofport.chars().take(40).collect();
            format!(
                "port add: OFPORT {shown:?} is not a port number 1..{}",
                conf::limits::OFPORT_MAX
            )
        })?;
    PortSpec::parse(devargs)
        .check()
        .map_err(|e| format!("port add: devargs: {e}"))?;
    let cfg = conf::bridge::PortConfig {
        name: name.to_string(),
        ofport,
        kind: PortType::Dpdk,
        devargs: Some(devargs.to_string()),
        rx_queues: None,
        proxy_arp: None,
        flood: None,
        options: None,
        uplink: None,
        tap: None,
    };
    let cur = shared.ports();
    if cur.index_of(ofport).is_some() || cur.list.iter().any(|p| p.name == name) {
        return Err(format!("port {name} ({ofport}) already exists"));
    }
    let (rt, info) = make_port(&cfg, &shared.pools, shared.workers.len() as u16 + 1)
        .map_err(|e| e.to_string())?;
    shared.bridge.add_port(info).map_err(|e| e.to_string())?;
    let mut list = cur.list.clone();
    list.push(Arc::new(rt));
    shared.set_ports(RtPorts {
        list,
        uplink: cur.uplink,
        tunnel: cur.tunnel,
    });
    Ok(format!("port {name} added as {ofport}\n"))
}

/// `brisk ctl port del NAME`: stops polling it on every worker, then closes it.
pub(crate) fn port_del(shared: &Shared, name: &str) -> Result<String, String> {
    let cur = shared.ports();
    let idx = cur
        .list
        .iter()
        .position(|p| p.name == name)
        .ok_or_else(|| format!("no port {name}"))?;
    if Some(idx) == cur.uplink || Some(idx) == cur.tunnel {
        return Err(format!(
            "port {name} carries the tunnel and cannot be removed"
        ));
    }
    let mut list = cur.list.clone();
    let gone = list.remove(idx);
    let fix = |i: Option<usize>| i.map(|i| if i > idx { i - 1 } else { i });
    let next = RtPorts {
        list,
        uplink: fix(cur.uplink),
        tunnel: fix(cur.tunnel),
    };
    drop(cur);
    shared.set_ports(next);
    let gen = shared.ports_gen.load(Ordering::Acquire);
    let deadline = Instant::now() + Duration::from_secs(2);
    while shared
        .workers
        .iter()
        .any(|w| w.ports_gen.load(Ordering::Acquire) < gen)
    {
        if Instant::now() > deadline {
            return Err("workers did not release the port in time".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    shared
        .bridge
        .del_port(name, shared.now_ms())
        .map_err(|e| e.to_string())?;
    // Last reference: stop and close the device (its driver returns queued mbufs).
    drop(gone);
    Ok(format!("port {name} removed\n"))
}
