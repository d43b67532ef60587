//! Start-up of a switch, in order: packet buffer pools, the bridge and its ports, the
//! underlay (routes, neighbours, TLV map), the flows and groups, the metrics endpoint and
//! the workers.

use super::state::{RtKind, RtPort, RtPorts, Shared, WorkerShared};
use super::{io, metrics, ports, server, worker, RunOptions, RuntimeError};
#[cfg(feature = "dpdk")]
use crate::dpdk::{launch_on_lcore, main_lcore};
use crate::pkt::Pools;
use conf::bridge::BridgeConfig;
use parking_lot::{Mutex, RwLock};
use pipeline::bridge::{Bridge, LoadError};
use pipeline::conntrack::ConntrackConfig;
use pipeline::fastpath::{FastPathConfig, SimdPath};
use pipeline::tunnel::{UnderlayConfig, Uplink};
use pipeline::underlay::{Route, RouteTable};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Instant;

/// Packet buffers per pool: descriptors of every queue, bursts in flight, caches, pending
/// queues (or the configuration's `mbufs`).
fn pool_size(cfg: &BridgeConfig, n_workers: usize, txq: u16) -> u32 {
    let n_dpdk = cfg.ports.iter().filter(|p| p.as_device().is_some()).count() as u32;
    let per_port: u32 = 1024 * u32::from(txq) + 1024 * 2;
    let need = n_dpdk * per_port + n_workers as u32 * (64 + 32 * n_dpdk.max(1)) + 4096;
    cfg.mbufs
        .unwrap_or_else(|| (need.next_power_of_two() - 1).max(16383))
}

/// One pool per NUMA socket of the main lcore and the workers (the main lcore's first).
fn pools(cfg: &BridgeConfig, workers: &[u32], txq: u16) -> Result<Pools, RuntimeError> {
    #[cfg(feature = "dpdk")]
    let sockets: Vec<i32> = std::iter::once(main_lcore())
        .chain(workers.iter().copied().filter(|&l| l != u32::MAX))
        .map(crate::dpdk::lcore_socket)
        .collect();
    #[cfg(not(feature = "dpdk"))]
    let sockets = [-1];
    Ok(Pools::new(&sockets, pool_size(cfg, workers.len(), txq))?)
}

/// The configured ports, started and added to the bridge: (ports, uplink index, tunnel
/// index).
type StartedPorts = (Vec<Arc<RtPort>>, Option<usize>, Option<usize>);

fn start_ports(
    cfg: &BridgeConfig,
    pools: &Pools,
    txq: u16,
    bridge: &Bridge,
) -> Result<StartedPorts, RuntimeError> {
    let mut list = Vec::new();
    let (mut uplink, mut tunnel) = (None, None);
    for p in &cfg.ports {
        let (rt, info) = ports::make_port(p, pools, txq)?;
        if p.uplink().is_some() {
            uplink = Some(list.len());
        }
        if p.tunnel().is_some() {
            tunnel = Some(list.len());
        }
        bridge
            .add_port(info)
            .map_err(|e| RuntimeError::Config(e.to_string()))?;
        list.push(Arc::new(rt));
    }
    Ok((list, uplink, tunnel))
}

/// The underlay, installed in the bridge: the uplink, the TLV map, the configured routes
/// plus the uplink's subnet and default gateway, and the static neighbours.
fn underlay(cfg: &BridgeConfig, list: &[Arc<RtPort>], uplink: Option<usize>, bridge: &Bridge) {
    let tlv = cfg.tlv_map;
    let mut routes = RouteTable::default();
    for r in &cfg.routes {
        routes.add(*r);
    }
    let mut up = None;
    if let Some(u) = uplink {
        if let RtKind::Device {
            uplink: Some((ip, len, mtu)),
            mac,
            ..
        } = &list[u].kind
        {
            let dev = list[u].ofport;
            up = Some(Uplink {
                ofport: dev,
                mac: *mac,
                ip: *ip,
                prefix_len: *len,
                mtu: *mtu,
            });
            routes.add(Route {
                prefix: *ip,
                len: *len,
                gateway: None,
                dev,
            });
            if let Some(gw) = cfg.ports.iter().find_map(|p| p.uplink()?.gateway) {
                routes.add(Route {
                    prefix: 0,
                    len: 0,
                    gateway: Some(u32::from(gw)),
                    dev,
                });
            }
        }
    }
    bridge.update_underlay(|u| {
        *u = UnderlayConfig {
            uplink: up,
            routes,
            tlv,
            native_only: true,
        }
    });
    let mut neigh = bridge.neighbours();
    for n in &cfg.neighbors {
        neigh.add_static(u32::from(n.ip), n.mac);
    }
}

/// Loads the start-up groups and flows; errors name their file and line.
fn load_flows(bridge: &Bridge, opts: &RunOptions) -> Result<(), RuntimeError> {
    // Port names the flows use are the bridge's: the configuration's ports at start,
    // `brisk ctl show`'s afterwards.
    bridge.set_unknown_port_hint(concat!(
        "the bridge has the ports its configuration lists: a bridge file's `ports:`, ",
        "a node description's gateway, tunnel, uplink and pods"
    ));
    bridge
        .load_text(
            opts.groups.as_deref().unwrap_or(""),
            opts.flows.as_deref().unwrap_or(""),
            0,
        )
        .map_err(|e| {
            let (what, errs) = match e {
                LoadError::Groups(x) => (&opts.groups_file, x),
                LoadError::Flows(x) => (&opts.flows_file, x),
                e => return RuntimeError::Config(e.to_string()),
            };
            let lines: Vec<String> = errs.iter().map(|x| format!("{what}:{x}")).collect();
            RuntimeError::Config(lines.join("\n"))
        })?;
    bridge.set_unknown_port_hint(
        "`brisk ctl show` lists the bridge's ports; `brisk ctl port add` adds one",
    );
    Ok(())
}

/// Everything the control thread and the workers share, started: pools, bridge, ports,
/// underlay, flows.
pub(super) fn shared_state(
    opts: &RunOptions,
    workers: &[u32],
) -> Result<Arc<Shared>, RuntimeError> {
    let cfg = &opts.config;
    let simd = simd_path(cfg)?;
    let n_workers = workers.len();
    let txq = n_workers as u16 + 1;
    let pools = pools(cfg, workers, txq)?;
    let bridge = Arc::new(Bridge::new(
        &cfg.bridge,
        ConntrackConfig {
            max_connections: cfg.conntrack_max.unwrap_or(1 << 20),
            ..ConntrackConfig::default()
        },
    ));
    let (list, uplink, tunnel) = start_ports(cfg, &pools, txq, &bridge)?;
    underlay(cfg, &list, uplink, &bridge);
    load_flows(&bridge, opts)?;
    Ok(Arc::new(Shared {
        bridge,
        ports: RwLock::new(Arc::new(RtPorts {
            list,
            uplink,
            tunnel,
        })),
        ports_gen: AtomicU64::new(1),
        workers: (0..n_workers).map(|_| WorkerShared::default()).collect(),
        stop: AtomicBool::new(false),
        started: Instant::now(),
        tsc_hz: crate::cpu::cycles_hz(),
        simd,
        node: Mutex::new(opts.node.clone()),
        pools,
        control_tx: Mutex::new(()),
        listeners: Mutex::new(Vec::new()),
        ovsdb: Mutex::new(None),
        datapath_id: std::sync::atomic::AtomicU64::new(0),
        of_versions: std::sync::atomic::AtomicU32::new(openflow::message::all_versions()),
        packet_ins: Arc::new(
            super::packet_in::PacketIns::new(n_workers + 1)
                .map_err(super::io("packet-in queues (eventfd)"))?,
        ),
        learner: Arc::new(
            super::learner::Learner::new(n_workers + 1)
                .map_err(super::io("learned-flow queues (eventfd)"))?,
        ),
    }))
}

/// The vector unit the workers' lookup kernels run on: the configuration's if this CPU has
/// it (else an error naming what it has), the widest it has by default.
pub(super) fn simd_path(cfg: &BridgeConfig) -> Result<SimdPath, RuntimeError> {
    let Some(name) = cfg.fastpath.simd.as_deref() else {
        return Ok(SimdPath::detect());
    };
    match SimdPath::parse(name) {
        Some(p) if p.available() => Ok(p),
        _ => Err(RuntimeError::Config(format!(
            "fastpath.simd: {name:?} is not available on this CPU (it has {})",
            SimdPath::available_names()
        ))),
    }
}

/// The fast path's tuning: the configuration's, the defaults elsewhere.
pub(super) fn fastpath_config(cfg: &BridgeConfig, simd: SimdPath) -> FastPathConfig {
    let t = &cfg.fastpath;
    let d = FastPathConfig::default();
    FastPathConfig {
        simd,
        emc_entries: t.emc_entries.unwrap_or(d.emc_entries),
        emc_insert_inv_prob: t.emc_insert_inv_prob.unwrap_or(d.emc_insert_inv_prob),
        max_megaflows: t.max_megaflows.unwrap_or(d.max_megaflows),
        max_upcalls_per_burst: t.max_upcalls_per_burst.unwrap_or(d.max_upcalls_per_burst),
        emc_auto_bypass: t.emc_auto_bypass.unwrap_or(d.emc_auto_bypass),
        ..d
    }
}

/// The metrics endpoint, if configured; both listeners' counters are registered for views.
pub(super) fn metrics(
    cfg: &BridgeConfig,
    shared: &Arc<Shared>,
    control: &server::ControlSocket,
) -> Result<Option<metrics::Metrics>, RuntimeError> {
    let m = match &cfg.metrics {
        Some(addr) => Some(
            metrics::Metrics::bind(addr, shared.clone())
                .map_err(io(format!("metrics on {addr}")))?,
        ),
        None => None,
    };
    let mut l = shared.listeners.lock();
    l.push(("control", control.stats()));
    if let Some(m) = &m {
        l.push(("metrics", m.stats()));
    }
    Ok(m)
}

/// Starts one worker per lcore (or thread); returns the threads to join when threaded.
pub(super) fn launch_workers(
    shared: &Arc<Shared>,
    workers: &[u32],
    threaded: bool,
    fcfg: FastPathConfig,
) -> Result<Vec<std::thread::JoinHandle<i32>>, RuntimeError> {
    let mut threads = Vec::new();
    for (wid, &lc) in workers.iter().enumerate() {
        let sh = shared.clone();
        if threaded {
            threads.push(std::thread::spawn(move || {
                if let Err(e) = super::worker_thread_init(lc) {
                    tracing::error!(worker = wid, "worker thread: {e}");
                    return -1;
                }
                worker::run(sh, wid, fcfg)
            }));
        } else {
            #[cfg(feature = "dpdk")]
            launch_on_lcore(lc, move || worker::run(sh, wid, fcfg))?;
        }
    }
    Ok(threads)
}
