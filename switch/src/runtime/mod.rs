//! The running switch: EAL, a mempool per NUMA socket, ports, poll-mode workers on their lcores, and a
//! control thread (the main lcore) serving `brisk ctl`, metrics and timers.

mod ctl;
mod metrics;
mod ports;
mod reload;
mod serve;
mod server;
mod state;
mod worker;

pub use ctl::{changes_switch, commands, find_verb, Reply, Request, Verb, VerbGroup, VERBS};
pub use serve::ServeStats;
pub use server::{ctl, decode_request, CtlOptions, DEFAULT_MAX_INPUT};
pub use state::{Device, PortCounters, RtKind, RtPort, RtPorts, Shared, WorkerStats};

#[cfg(feature = "dpdk")]
use crate::dpdk::{
    launch_on_lcore, lcores, main_lcore, register_thread, wait_lcore, DpdkError, Eal,
};
use crate::kernel::KernelPortError;
use crate::pkt::{Pkt, PktBatch, Pools};
use conf::bridge::{BridgeConfig, PortType};
use parking_lot::{Mutex, RwLock};
use pipeline::bridge::{Bridge, LoadError};
use pipeline::conntrack::ConntrackConfig;
use pipeline::fastpath::FastPathConfig;
use pipeline::geneve::TlvMap;
use pipeline::underlay::{arp_request, NeighConfig, NeighTable, RouteTable};
use state::{Underlay, WorkerShared};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why the switch could not start or stopped uncleanly.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// DPDK said no.
    #[cfg(feature = "dpdk")]
    #[error(transparent)]
    Dpdk(#[from] DpdkError),
    /// A kernel-socket port could not be opened.
    #[error(transparent)]
    KernelPort(#[from] KernelPortError),
    /// The packet buffer pool could not be made.
    #[error(transparent)]
    Pool(#[from] crate::heap::PoolError),
    /// Configuration problem.
    #[error("{0}")]
    Config(String),
    /// I/O (control socket, metrics, files).
    #[error("{what}: {err}")]
    Io {
        /// What was being done.
        what: String,
        /// Error.
        err: std::io::Error,
    },
    /// Mbufs were not returned to the pool at shutdown.
    #[error("{0} mbufs were not returned to the pool")]
    Leak(u32),
}

/// How to run.
pub struct RunOptions {
    /// The bridge.
    pub config: BridgeConfig,
    /// Flows to load at start (the text of a flows file), if any.
    pub flows: Option<String>,
    /// Groups to load before the flows (the text of a groups file), if any.
    pub groups: Option<String>,
    /// Where the flows come from, for errors (`FILE:LINE:COLUMN: ...`; a file's name).
    pub flows_file: String,
    /// Where the groups come from, for errors.
    pub groups_file: String,
    /// EAL arguments (without the program name; ignored without DPDK).
    pub eal_args: Vec<String>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Control socket path.
    pub control_socket: PathBuf,
    /// Largest input (a flows or YAML file) a control request may carry, in bytes.
    pub ctl_max_input: usize,
    /// Print per-port counters every this many seconds (0: never).
    pub stats_interval: u64,
    /// Version text for `brisk ctl version`.
    pub version: String,
    /// The node description `config` was made from (`brisk run --config`), which
    /// `brisk ctl reload` needs; `None` for a bridge file.
    pub node: Option<conf::node::NodeConfig>,
}

/// What a run did, reported at shutdown.
#[derive(Debug, Default)]
pub struct RunSummary {
    /// Seconds run.
    pub seconds: f64,
    /// Packets received by workers.
    pub packets: u64,
    /// Mbufs still in use after everything was freed (0 for a clean stop).
    pub leaked_mbufs: u32,
}

pub(super) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RuntimeError {
    let what = what.into();
    move |err| RuntimeError::Io { what, err }
}

/// Runs the switch until SIGINT/SIGTERM or the duration; frees everything and reports.
pub fn run(opts: RunOptions, out: &mut dyn Write) -> Result<RunSummary, RuntimeError> {
    let cfg = &opts.config;
    // The control socket first: a second switch on the same path stops here, before it
    // touches DPDK or any port.
    let claimed = server::ClaimedSocket::claim(&opts.control_socket)?;
    #[cfg(feature = "dpdk")]
    let eal = {
        let mut args = vec!["brisk".to_string()];
        args.extend(opts.eal_args.iter().cloned());
        Eal::init(&args)?
    };
    #[cfg(not(feature = "dpdk"))]
    if !opts.eal_args.is_empty() {
        let _ = writeln!(
            out,
            "brisk: built without DPDK: EAL arguments ignored; ports are AF_PACKET and TAP sockets"
        );
    }
    crate::signal::install();
    let (workers, threaded) = place_workers(cfg)?;
    let n_workers = workers.len();
    let txq = n_workers as u16 + 1;
    // Pool: descriptors of every queue, bursts in flight, caches, pending queues.
    let n_dpdk = cfg
        .ports
        .iter()
        .filter(|p| p.kind == PortType::Dpdk)
        .count() as u32;
    let per_port: u32 = 1024 * u32::from(txq) + 1024 * 2;
    let need = n_dpdk * per_port + n_workers as u32 * (64 + 32 * n_dpdk.max(1)) + 4096;
    let mbufs = cfg
        .mbufs
        .unwrap_or_else(|| (need.next_power_of_two() - 1).max(16383));
    // One pool per NUMA socket of the main lcore and the workers (the main lcore's first).
    #[cfg(feature = "dpdk")]
    let sockets: Vec<i32> = std::iter::once(main_lcore())
        .chain(workers.iter().copied().filter(|&l| l != u32::MAX))
        .map(crate::dpdk::lcore_socket)
        .collect();
    #[cfg(not(feature = "dpdk"))]
    let sockets = [-1];
    let pools = Pools::new(&sockets, mbufs)?;
    let bridge = Arc::new(Bridge::new(
        &cfg.bridge,
        ConntrackConfig {
            max_connections: cfg.conntrack_max.unwrap_or(1 << 20),
            ..ConntrackConfig::default()
        },
    ));
    let mut list = Vec::new();
    let (mut uplink, mut tunnel) = (None, None);
    for p in &cfg.ports {
        let (rt, info) = ports::make_port(p, &pools, txq)?;
        if p.uplink.is_some() {
            uplink = Some(list.len());
        }
        if p.kind == PortType::Geneve {
            tunnel = Some(list.len());
        }
        bridge
            .add_port(info)
            .map_err(|e| RuntimeError::Config(e.to_string()))?;
        list.push(Arc::new(rt));
    }
    let mut tlv = TlvMap::default();
    for t in &cfg.tlv_map {
        tlv.add(t)
            .map_err(|e| RuntimeError::Config(e.to_string()))?;
    }
    let mut routes = RouteTable::default();
    for r in &cfg.routes {
        routes.add(RouteTable::parse(r).map_err(|e| RuntimeError::Config(e.to_string()))?);
    }
    if let Some(u) = uplink {
        if let RtKind::Device {
            uplink: Some((ip, len, _)),
            ..
        } = &list[u].kind
        {
            routes.add(pipeline::underlay::Route {
                prefix: *ip,
                len: *len,
                gateway: None,
                dev: list[u].ofport,
            });
            if let Some(gw) = cfg.ports.iter().find_map(|p| p.uplink.as_ref()?.gateway) {
                routes.add(pipeline::underlay::Route {
                    prefix: 0,
                    len: 0,
                    gateway: Some(u32::from(gw)),
                    dev: list[u].ofport,
                });
            }
        }
    }
    let mut neigh = NeighTable::new(NeighConfig::default());
    for n in &cfg.neighbors {
        if let Some(m) = pipeline::ofctl::parse_mac(&n.mac) {
            neigh.add_static(u32::from(n.ip), m);
        }
    }
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
    let shared = Arc::new(Shared {
        bridge,
        ports: RwLock::new(Arc::new(RtPorts {
            list,
            uplink,
            tunnel,
        })),
        ports_gen: AtomicU64::new(1),
        underlay: Mutex::new(Underlay { routes, neigh }),
        underlay_gen: AtomicU64::new(1),
        tlv: RwLock::new(tlv),
        workers: (0..n_workers).map(|_| WorkerShared::default()).collect(),
        stop: AtomicBool::new(false),
        decap_errors: Default::default(),
        encap_drops: Default::default(),
        started: Instant::now(),
        tsc_hz: crate::cpu::cycles_hz(),
        node: Mutex::new(opts.node.clone()),
        pools,
        listeners: Mutex::new(Vec::new()),
    });
    let t = &cfg.fastpath;
    let d = FastPathConfig::default();
    let fcfg = FastPathConfig {
        emc_entries: t.emc_entries.unwrap_or(d.emc_entries),
        emc_insert_inv_prob: t.emc_insert_inv_prob.unwrap_or(d.emc_insert_inv_prob),
        max_megaflows: t.max_megaflows.unwrap_or(d.max_megaflows),
        max_upcalls_per_burst: t.max_upcalls_per_burst.unwrap_or(d.max_upcalls_per_burst),
        ..d
    };
    let mut control = claimed.serve(shared.clone(), opts.version.clone(), opts.ctl_max_input)?;
    let mut metrics = match &cfg.metrics {
        Some(addr) => Some(
            metrics::Metrics::bind(addr, shared.clone(), control.stats())
                .map_err(io(format!("metrics on {addr}")))?,
        ),
        None => None,
    };
    {
        let mut l = shared.listeners.lock();
        l.push(("control", control.stats()));
        if let Some(m) = &metrics {
            l.push(("metrics", m.stats()));
        }
    }
    // Workers.
    let mut threads = Vec::new();
    for (wid, &lc) in workers.iter().enumerate() {
        let sh = shared.clone();
        if threaded {
            threads.push(std::thread::spawn(move || {
                if let Err(e) = worker_thread_init(lc) {
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
    let _ = writeln!(
        out,
        "brisk: bridge {} running: {} ports, {} flows, {} worker(s) on lcores {:?}, control socket {}",
        cfg.bridge,
        shared.ports().list.len(),
        shared.bridge.tables().n_flows(),
        n_workers,
        if threaded { vec![] } else { workers.clone() },
        opts.control_socket.display()
    );
    let started = Instant::now();
    let mut next_tick = Instant::now();
    let mut next_stats = Instant::now() + Duration::from_secs(opts.stats_interval.max(1));
    let mut next_ct = Instant::now();
    while !crate::signal::stop_requested() && opts.duration.is_none_or(|d| started.elapsed() < d) {
        let now = Instant::now();
        if now >= next_tick {
            next_tick = now + Duration::from_millis(100);
            underlay_tick(&shared);
        }
        if now >= next_ct {
            next_ct = now + Duration::from_secs(1);
            let ms = shared.now_ms();
            shared.bridge.conntrack.expire(ms);
            shared.bridge.expire_macs(ms);
        }
        if opts.stats_interval > 0 && now >= next_stats {
            next_stats = now + Duration::from_secs(opts.stats_interval);
            let _ = write!(
                out,
                "{}",
                stats_line(&shared, started.elapsed().as_secs_f64())
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // Shutdown: stop serving (idle clients are dropped; a command under way finishes),
    // stop workers, then release everything holding mbufs, then the pool.
    tracing::info!(bridge = %cfg.bridge, "stopping");
    control.stop();
    if let Some(m) = metrics.as_mut() {
        m.stop();
    }
    drop(metrics);
    shared.stop.store(true, Ordering::SeqCst);
    let mut ok = true;
    if threaded {
        for t in threads {
            ok &= t.join().unwrap_or(-1) == 0;
        }
    } else {
        #[cfg(feature = "dpdk")]
        for &lc in &workers {
            ok &= wait_lcore(lc) == 0;
        }
    }
    let mut summary = RunSummary {
        seconds: started.elapsed().as_secs_f64(),
        ..Default::default()
    };
    for w in &shared.workers {
        summary.packets += w.stats.lock().fp.packets;
    }
    let _ = write!(out, "{}", stats_line(&shared, summary.seconds));
    drop(control);
    {
        let mut u = shared.underlay.lock();
        let pending: Vec<u32> = u.neigh.entries().iter().map(|e| e.0).collect();
        for ip in pending {
            u.neigh.del(ip);
        }
    }
    shared.set_ports(RtPorts::default());
    let shared = match Arc::try_unwrap(shared) {
        Ok(s) => s,
        Err(_) => {
            return Err(RuntimeError::Config(
                "internal: shared state still referenced".into(),
            ))
        }
    };
    let leaked = shared.pools.in_use();
    drop(shared);
    #[cfg(feature = "dpdk")]
    eal.cleanup()?;
    summary.leaked_mbufs = leaked;
    if !ok {
        return Err(RuntimeError::Config(
            "a worker stopped with an error".into(),
        ));
    }
    if leaked != 0 {
        return Err(RuntimeError::Leak(leaked));
    }
    Ok(summary)
}

/// Where the workers run: (lcores, threaded). With DPDK, the EAL's worker lcores (or, when
/// there are none, one EAL-registered thread); without it, threads pinned to the CPUs the
/// `workers:` list names (one unpinned thread by default).
#[cfg(feature = "dpdk")]
fn place_workers(cfg: &BridgeConfig) -> Result<(Vec<u32>, bool), RuntimeError> {
    let main = main_lcore();
    let mut workers: Vec<u32> = match &cfg.workers {
        Some(w) => w.clone(),
        None => lcores().into_iter().filter(|&l| l != main).collect(),
    };
    let available = lcores();
    if let Some(bad) = workers
        .iter()
        .find(|w| !available.contains(w) || **w == main)
    {
        return Err(RuntimeError::Config(format!(
            "worker lcore {bad} is not an EAL worker lcore (EAL lcores: {available:?}, main {main})"
        )));
    }
    // No worker lcore: one worker on a registered thread (the main lcore runs control).
    let threaded = workers.is_empty();
    if threaded {
        workers.push(u32::MAX);
    }
    Ok((workers, threaded))
}

/// Where the workers run: (CPUs, threaded). Without DPDK, threads pinned to the CPUs the
/// `workers:` list names (one unpinned thread by default).
#[cfg(not(feature = "dpdk"))]
fn place_workers(cfg: &BridgeConfig) -> Result<(Vec<u32>, bool), RuntimeError> {
    let allowed = crate::cpu::allowed_cpus();
    match &cfg.workers {
        Some(w) if !w.is_empty() => {
            if let Some(bad) = w.iter().find(|c| !allowed.contains(c)) {
                return Err(RuntimeError::Config(format!(
                    "worker CPU {bad} is not one this process may use ({allowed:?})"
                )));
            }
            Ok((w.clone(), true))
        }
        _ => Ok((vec![u32::MAX], true)),
    }
}

/// Prepares a worker thread: EAL registration with DPDK, CPU pinning without it.
fn worker_thread_init(cpu: u32) -> Result<(), String> {
    #[cfg(feature = "dpdk")]
    {
        let _ = cpu;
        register_thread().map(|_| ()).map_err(|e| e.to_string())
    }
    #[cfg(not(feature = "dpdk"))]
    {
        if cpu == u32::MAX {
            return Ok(());
        }
        crate::cpu::pin_to_cpu(cpu).map_err(|e| format!("pinning to CPU {cpu}: {e}"))
    }
}

/// ARP retries for unresolved next hops, sent by the control thread on its own tx queue.
fn underlay_tick(shared: &Shared) {
    let ports = shared.ports();
    let Some(up) = ports.uplink else { return };
    let (dev, mac, ip) = match &ports.list[up].kind {
        RtKind::Device {
            dev,
            mac,
            uplink: Some((ip, _, _)),
            ..
        } => (dev, *mac, *ip),
        _ => return,
    };
    let t = shared.underlay.lock().neigh.tick(shared.now_ms());
    drop(t.dropped);
    for ip in &t.expired {
        tracing::info!(neighbour = %std::net::Ipv4Addr::from(*ip), "underlay neighbour expired");
    }
    if !t.expired.is_empty() {
        // Workers cache encapsulation parameters per destination: forget those MACs.
        shared.underlay_gen.fetch_add(1, Ordering::AcqRel);
    }
    let txq = shared.workers.len() as u16;
    let mut batch = PktBatch::new();
    for target in t.arp {
        if let Some(m) = Pkt::from_bytes(shared.pools.main(), &arp_request(mac, ip, target)) {
            let _ = batch.push(m);
        }
    }
    if !batch.is_empty() {
        dev.tx_burst(txq, &mut batch);
        batch.free_all();
    }
}

fn stats_line(shared: &Shared, secs: f64) -> String {
    let ports = shared.ports();
    let mut s = format!("[{secs:7.1}s]");
    for p in &ports.list {
        let c = &p.counters;
        s.push_str(&format!(
            "  {}: rx {} tx {} drop {}",
            p.name,
            c.rx_packets.load(Ordering::Relaxed),
            c.tx_packets.load(Ordering::Relaxed),
            c.tx_dropped.load(Ordering::Relaxed)
        ));
    }
    s.push('\n');
    s
}
