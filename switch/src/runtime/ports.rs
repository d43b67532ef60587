//! Ports at start and at run time: building a runtime port from its configuration (DPDK
//! ethdev, AF_PACKET, TAP, Geneve), `brisk ctl port add|del`.

use super::state::{Device, RtKind, RtPort, RtPorts, Shared};
use super::RuntimeError;
#[cfg(feature = "dpdk")]
use crate::dpdk::{EthPort, PortConf};
use crate::kernel::{AfPacketPort, TapPort};
use crate::pkt::Pools;
use conf::bridge::{DeviceConfig, PortConfig, PortSpec};
use pipeline::bridge::{PortInfo, PortKind};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn mac_u64(m: [u8; 6]) -> u64 {
    m.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b))
}

fn mac_bytes(m: u64) -> [u8; 6] {
    std::array::from_fn(|i| (m >> (40 - 8 * i)) as u8)
}

/// What `show` prints of a port's configuration: its devargs, or a tunnel's options. Two
/// configurations with the same description run the same port.
pub(crate) fn port_desc(p: &PortConfig) -> String {
    match &p.kind {
        conf::bridge::PortKind::Geneve(t) => format!(
            "remote_ip={}, key={}, dst_port={}, csum={}{}",
            t.remote_ip
                .map_or("flow".into(), |ip| std::net::Ipv4Addr::from(ip).to_string()),
            t.key.map_or("flow".into(), |k| k.to_string()),
            t.dst_port,
            t.csum,
            t.local_ip.map_or(String::new(), |ip| format!(
                ", local_ip={}",
                std::net::Ipv4Addr::from(ip)
            )),
        ),
        conf::bridge::PortKind::Device(d) => d.devargs.clone(),
    }
}

/// Builds one runtime port from its configuration (creating and starting the device).
pub(super) fn make_port(
    p: &PortConfig,
    pools: &Pools,
    txq: u16,
) -> Result<(RtPort, PortInfo), RuntimeError> {
    let (kind, desc, info_kind) = match &p.kind {
        conf::bridge::PortKind::Geneve(t) => (
            RtKind::Geneve(t.clone()),
            port_desc(p),
            PortKind::Tunnel(t.clone()),
        ),
        conf::bridge::PortKind::Device(d) => {
            let devargs = d.devargs.as_str();
            let spec = PortSpec::parse(devargs);
            #[cfg(not(feature = "dpdk"))]
            let spec = spec.kernel_equivalent().ok_or_else(|| {
                RuntimeError::Config(format!(
                    "port {}: {devargs:?} is a DPDK device and this brisk was built without DPDK (the `dpdk` cargo feature); use afpacket:IFACE or tap:IFACE",
                    p.name
                ))
            })?;
            let (dev, rxq, mac) = open_device(d, spec, pools, txq).map_err(|e| {
                RuntimeError::Config(format!("port {} (devargs {devargs:?}): {e}", p.name))
            })?;
            let uplink = d.uplink.map(|u| (u32::from(u.ip), u.prefix_len, u.mtu));
            let kind = RtKind::Device {
                dev,
                rxq,
                mac,
                uplink,
            };
            (kind, devargs.to_string(), PortKind::Normal)
        }
    };
    Ok((
        RtPort {
            ofport: p.ofport,
            name: p.name.clone(),
            kind,
            counters: Arc::default(),
            desc,
        },
        PortInfo {
            proxy_arp: p.proxy_arp,
            flood: p.flood,
            ..PortInfo::new(p.ofport, &p.name, info_kind)
        },
    ))
}

/// What a TAP port's interface gets: MAC, IPv4 address and prefix length, MTU.
type TapSettings = (
    Option<[u8; 6]>,
    Option<(std::net::Ipv4Addr, u8)>,
    Option<u16>,
);

fn tap_settings(d: &DeviceConfig) -> TapSettings {
    let t = d.tap.unwrap_or_default();
    (t.mac.map(mac_bytes), t.addr, t.mtu)
}

/// Opens the device of a port: (device, receive queues, MAC).
fn open_device(
    d: &DeviceConfig,
    spec: PortSpec<'_>,
    pools: &Pools,
    txq: u16,
) -> Result<(Device, u16, u64), RuntimeError> {
    Ok(match spec {
        PortSpec::AfPacket(i) => {
            let a = AfPacketPort::open(i, d.rx_queues, txq)?;
            let mac = mac_u64(a.netdev().mac());
            let rxq = a.rx_queues();
            (Device::AfPacket(a), rxq, mac)
        }
        PortSpec::Tap(i) => {
            let (mac, addr, mtu) = tap_settings(d);
            let t = TapPort::open_with(i, mac, addr, mtu)?;
            let mac = mac_u64(t.netdev().mac());
            (Device::Tap(t), 1, mac)
        }
        #[cfg(feature = "dpdk")]
        PortSpec::Dpdk(devargs) => {
            let (dev, rxq, mut mac) = dpdk_port(d, devargs, pools, txq)?;
            // DPDK's TAP PMD made the interface and set its own MAC as the port started.
            if let (Some(iface), Some(_)) = (PortSpec::Dpdk(devargs).tap_iface(), &d.tap) {
                let (want, addr, mtu) = tap_settings(d);
                TapPort::configure(iface, want, addr, mtu)?;
                mac = want.map_or(mac, mac_u64);
            }
            (dev, rxq, mac)
        }
        #[cfg(not(feature = "dpdk"))]
        PortSpec::Dpdk(devargs) => {
            let _ = (pools, d);
            return Err(RuntimeError::Config(format!(
                "{devargs:?} is a DPDK device and this brisk was built without DPDK"
            )));
        }
    })
}

/// Creates and starts a DPDK ethdev: (device, receive queues, MAC).
#[cfg(feature = "dpdk")]
fn dpdk_port(
    d: &DeviceConfig,
    devargs: &str,
    pools: &Pools,
    txq: u16,
) -> Result<(Device, u16, u64), RuntimeError> {
    let mut eth = EthPort::from_devargs(devargs)?;
    let rxq = d.rx_queues;
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
    add_port(shared, &PortConfig::device(name, ofport, devargs))?;
    Ok(format!("port {name} added as {ofport}\n"))
}

/// Starts a port and adds it to the bridge and the workers: `brisk ctl port add`, and a
/// reload's new pods.
pub(crate) fn add_port(shared: &Shared, cfg: &PortConfig) -> Result<(), String> {
    let (name, ofport) = (&cfg.name, cfg.ofport);
    let cur = shared.ports();
    if cur.index_of(ofport).is_some() || cur.list.iter().any(|p| &p.name == name) {
        return Err(format!("port {name} ({ofport}) already exists"));
    }
    let (rt, info) = make_port(cfg, &shared.pools, shared.workers.len() as u16 + 1)
        .map_err(|e| e.to_string())?;
    shared.bridge.add_port(info).map_err(|e| e.to_string())?;
    let mut list = cur.list.clone();
    let tunnel = match cfg.kind {
        conf::bridge::PortKind::Geneve(_) => Some(list.len()),
        conf::bridge::PortKind::Device(_) => cur.tunnel,
    };
    list.push(Arc::new(rt));
    shared.set_ports(RtPorts {
        list,
        uplink: cur.uplink,
        tunnel,
    });
    Ok(())
}

/// `brisk ctl port del NAME`: stops polling it on every worker, then closes it. The
/// tunnel's ports stay (the node's configuration fixes them).
pub(crate) fn port_del(shared: &Shared, name: &str) -> Result<String, String> {
    let cur = shared.ports();
    let idx = cur.list.iter().position(|p| p.name == name);
    if idx.is_some() && (idx == cur.uplink || idx == cur.tunnel) {
        return Err(format!(
            "port {name} carries the tunnel and cannot be removed"
        ));
    }
    drop(cur);
    port_remove(shared, name)
}

/// Removes port `name`, the tunnel's own and its uplink too (the database removed them:
/// the tunnel then has no uplink until one is given again).
pub(crate) fn port_remove(shared: &Shared, name: &str) -> Result<String, String> {
    let cur = shared.ports();
    let idx = cur
        .list
        .iter()
        .position(|p| p.name == name)
        .ok_or_else(|| format!("no port {name}"))?;
    if Some(idx) == cur.uplink {
        drop(cur);
        super::uplink::set_uplink(shared, None)?;
        return port_remove(shared, name);
    }
    let fix = |i: Option<usize>| match i {
        Some(i) if i == idx => None,
        Some(i) if i > idx => Some(i - 1),
        i => i,
    };
    let mut list = cur.list.clone();
    let gone = list.remove(idx);
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
