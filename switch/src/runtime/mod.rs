//! The running switch: EAL, a mempool per NUMA socket, ports, poll-mode workers on their lcores, and a
//! control thread (the main lcore) serving `brisk ctl`, metrics and timers.

mod appctl;
mod counters;
mod ctl;
pub mod learner;
mod metrics;
pub mod openflow;
pub mod ovsdb;
pub mod packet_in;
mod ports;
mod reload;
mod serve;
mod server;
mod start;
mod state;
mod uplink;
mod worker;

pub use ctl::{changes_switch, commands, find_verb, Reply, Request, Verb, VerbGroup, VERBS};
pub use serve::ServeStats;
pub use server::{ctl, decode_request, CtlOptions, DEFAULT_MAX_INPUT};
pub use state::{Device, PortCounters, RtKind, RtPort, RtPorts, Shared, WorkerStats};

#[cfg(feature = "dpdk")]
use crate::dpdk::{lcores, main_lcore, register_thread, wait_lcore, DpdkError, Eal};
use crate::kernel::KernelPortError;
use crate::pkt::{Pkt, PktBatch};
use conf::bridge::BridgeConfig;
use pipeline::underlay::arp_request;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
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
    /// OpenFlow listeners (`punix:PATH`, `ptcp:PORT[:IP]`) besides the bridge's management
    /// socket next to the control socket ([`openflow::OfListen::default_for`]), which is
    /// always there.
    pub openflow: Vec<openflow::OfListen>,
    /// Controllers the switch connects to (`tcp:IP[:PORT]`, `unix:PATH`), reconnecting
    /// with backoff.
    pub controllers: Vec<openflow::OfConnect>,
    /// Print per-port counters every this many seconds (0: never).
    pub stats_interval: u64,
    /// Version text for `brisk ctl version`.
    pub version: String,
    /// The node description `config` was made from (`brisk run --config`), which
    /// `brisk ctl reload` needs; `None` for a bridge file.
    pub node: Option<conf::node::NodeConfig>,
    /// The database to follow as ovs-vswitchd does (`brisk run --ovsdb`): ports come and go
    /// as it says.
    pub ovsdb: Option<ovsdb::OvsdbOptions>,
    /// ovs-vswitchd's unixctl socket for `ovs-appctl -t`: (socket, pid file to write).
    pub unixctl: Option<(PathBuf, Option<PathBuf>)>,
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
    let shared = start::shared_state(&opts, &workers)?;
    let mut control = claimed.serve(shared.clone(), opts.version.clone(), opts.ctl_max_input)?;
    let mut metrics = start::metrics(cfg, &shared, &control)?;
    // The bridge's management socket always (as OVS's), then the listeners asked for.
    let mut of_at = vec![openflow::OfListen::default_for(
        &opts.control_socket,
        &cfg.bridge,
    )];
    for a in opts.openflow.iter().chain(&cfg.openflow.listen) {
        if !of_at.contains(a) {
            of_at.push(a.clone());
        }
    }
    let of_stats = Arc::new(ServeStats::default());
    shared.listeners.lock().push(("openflow", of_stats.clone()));
    let of_shared = Arc::new(openflow::OfShared::default());
    let dispatcher = {
        let sh = shared.clone();
        std::thread::Builder::new()
            .name("packet-in".into())
            .spawn(move || {
                let stop = || sh.stop.load(Ordering::Relaxed) || crate::signal::stop_requested();
                sh.packet_ins.run(&stop)
            })
            .map_err(io("packet-in thread"))?
    };
    let learner = {
        let sh = shared.clone();
        std::thread::Builder::new()
            .name("learner".into())
            .spawn(move || {
                let stop = || sh.stop.load(Ordering::Relaxed) || crate::signal::stop_requested();
                sh.learner.run(&sh.bridge, &|| sh.now_ms(), &stop)
            })
            .map_err(io("learner thread"))?
    };
    let mut of_servers = Vec::new();
    for at in &of_at {
        of_servers.push(openflow::OfServer::start(
            shared.clone(),
            at,
            of_stats.clone(),
            of_shared.clone(),
        )?);
    }
    let cli = opts
        .controllers
        .iter()
        .map(|c| (c.clone(), Default::default()));
    for (to, copts) in cli.chain(cfg.openflow.controllers.iter().cloned()) {
        of_servers.push(openflow::OfServer::connect(
            shared.clone(),
            &to,
            copts,
            of_stats.clone(),
            of_shared.clone(),
        )?);
    }
    let (mut ovsdb_client, mut appctl) = vswitchd_parts(&opts, &shared, &of_shared, &of_stats)?;
    let threads = start::launch_workers(
        &shared,
        &workers,
        threaded,
        start::fastpath_config(cfg, shared.simd),
    )?;
    let _ = writeln!(
        out,
        "brisk: bridge {} running: {} ports, {} flows, {} worker(s) on lcores {:?}, control socket {}, OpenFlow {}",
        cfg.bridge,
        shared.ports().list.len(),
        shared.bridge.tables().n_flows(),
        workers.len(),
        if threaded { vec![] } else { workers.clone() },
        opts.control_socket.display(),
        of_at.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" ")
    );
    let started = Instant::now();
    timers(&shared, &of_shared, &opts, started, out);
    // Shutdown: stop serving (idle clients are dropped; a command under way finishes),
    // stop workers, then release everything holding mbufs, then the pool.
    tracing::info!(bridge = %cfg.bridge, "stopping");
    control.stop();
    if let Some(a) = appctl.as_mut() {
        a.stop();
    }
    drop(appctl);
    if let Some(c) = ovsdb_client.as_mut() {
        c.stop();
    }
    drop(ovsdb_client);
    for s in of_servers.iter_mut() {
        s.stop();
    }
    if let Some(m) = metrics.as_mut() {
        m.stop();
    }
    drop(metrics);
    let ok = stop_workers(&shared, threads, &workers, threaded);
    let _ = dispatcher.join();
    let _ = learner.join();
    let mut summary = RunSummary {
        seconds: started.elapsed().as_secs_f64(),
        ..Default::default()
    };
    for w in &shared.workers {
        summary.packets += w.stats.lock().fp.packets;
    }
    let _ = write!(out, "{}", stats_line(&shared, summary.seconds));
    drop(control);
    summary.leaked_mbufs = release(shared)?;
    #[cfg(feature = "dpdk")]
    eal.cleanup()?;
    if !ok {
        return Err(RuntimeError::Config(
            "a worker stopped with an error".into(),
        ));
    }
    if summary.leaked_mbufs != 0 {
        return Err(RuntimeError::Leak(summary.leaked_mbufs));
    }
    Ok(summary)
}

/// What `--ovsdb` and `--unixctl` add: the database client (its controllers share the
/// OpenFlow state) and ovs-vswitchd's unixctl socket, each with its counters registered.
fn vswitchd_parts(
    opts: &RunOptions,
    shared: &Arc<Shared>,
    of: &Arc<openflow::OfShared>,
    of_stats: &Arc<ServeStats>,
) -> Result<(Option<ovsdb::Client>, Option<appctl::Appctl>), RuntimeError> {
    let client = match &opts.ovsdb {
        Some(o) => {
            let stats = Arc::new(ovsdb::OvsdbStats::default());
            *shared.ovsdb.lock() = Some(stats.clone());
            let c = ovsdb::Client::start(
                shared.clone(),
                o.clone(),
                stats,
                of.clone(),
                of_stats.clone(),
            )
            .map_err(io("starting the database client"))?;
            Some(c)
        }
        None => None,
    };
    let appctl = match &opts.unixctl {
        Some((path, pidfile)) => {
            let stats = Arc::new(ServeStats::default());
            shared.listeners.lock().push(("appctl", stats.clone()));
            let a = appctl::Appctl::start(
                shared.clone(),
                path,
                pidfile.as_deref(),
                opts.version.clone(),
                stats,
            )
            .map_err(io(format!("unixctl socket {}", path.display())))?;
            Some(a)
        }
        None => None,
    };
    Ok((client, appctl))
}

/// The control thread's timers until a stop is asked (or the duration ends): ARP retries
/// every 100 ms, conntrack and MAC expiry every second, the stats line.
fn timers(
    shared: &Shared,
    of: &openflow::OfShared,
    opts: &RunOptions,
    started: Instant,
    out: &mut dyn Write,
) {
    let mut next_tick = Instant::now();
    let mut next_stats = Instant::now() + Duration::from_secs(opts.stats_interval.max(1));
    let mut next_ct = Instant::now();
    while !crate::signal::stop_requested() && opts.duration.is_none_or(|d| started.elapsed() < d) {
        let now = Instant::now();
        if now >= next_tick {
            next_tick = now + Duration::from_millis(100);
            underlay_tick(shared);
        }
        if now >= next_ct {
            next_ct = now + Duration::from_secs(1);
            let ms = shared.now_ms();
            shared.bridge.conntrack.expire(ms);
            expire_flows(shared, of, ms);
            shared.bridge.expire_macs(ms);
        }
        if opts.stats_interval > 0 && now >= next_stats {
            next_stats = now + Duration::from_secs(opts.stats_interval);
            let _ = write!(
                out,
                "{}",
                stats_line(shared, started.elapsed().as_secs_f64())
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Asks the workers to stop and waits for them; false if one stopped with an error.
fn stop_workers(
    shared: &Shared,
    threads: Vec<std::thread::JoinHandle<i32>>,
    workers: &[u32],
    threaded: bool,
) -> bool {
    shared.stop.store(true, Ordering::SeqCst);
    let mut ok = true;
    if threaded {
        for t in threads {
            ok &= t.join().unwrap_or(-1) == 0;
        }
    } else {
        #[cfg(feature = "dpdk")]
        for &lc in workers {
            ok &= wait_lcore(lc) == 0;
        }
    }
    let _ = workers;
    ok
}

/// Frees everything that holds packet buffers (the ports; packets waiting for ARP were
/// freed with their workers), then the shared state; returns the buffers still in use (0 for a clean stop).
fn release(shared: Arc<Shared>) -> Result<u32, RuntimeError> {
    shared.set_ports(RtPorts::default());
    let shared = Arc::try_unwrap(shared)
        .map_err(|_| RuntimeError::Config("internal: shared state still referenced".into()))?;
    let leaked = shared.pools.in_use();
    drop(shared);
    Ok(leaked)
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
pub(super) fn worker_thread_init(cpu: u32) -> Result<(), String> {
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

/// Flows whose idle or hard timeout passed leave the tables; those added with
/// `send_flow_rem` are announced to the OpenFlow connections.
fn expire_flows(shared: &Shared, of: &openflow::OfShared, now_ms: u64) {
    use pipeline::tables::Removal;
    for (r, why) in shared.bridge.expire_flows(now_ms) {
        tracing::debug!(table = r.entry.table_id(), ?why, "flow expired");
        if r.entry.flags.send_flow_rem {
            let reason = match why {
                Removal::Hard => ::openflow::flow_mod::RR_HARD_TIMEOUT,
                Removal::Idle => ::openflow::flow_mod::RR_IDLE_TIMEOUT,
                Removal::DeleteLearned => ::openflow::flow_mod::RR_DELETE,
            };
            of.events.push(openflow::AsyncEvent::FlowRemoved(
                openflow::FlowRemoved::of(&r, reason, now_ms),
            ));
        }
    }
}

/// ARP retries for unresolved next hops, sent by the control thread on its own tx queue.
fn underlay_tick(shared: &Shared) {
    // The underlay's uplink (a node's configuration, or the database at run time).
    let Some(up) = shared.bridge.underlay().uplink else {
        return;
    };
    let ports = shared.ports();
    let Some(RtKind::Device { dev, .. }) = ports.index_of(up.ofport).map(|i| &ports.list[i].kind)
    else {
        return;
    };
    let (mac, ip) = (up.mac, up.ip);
    // Failed and expired next hops move the underlay generation: megaflows that
    // encapsulate towards them revalidate, packets waiting for them are dropped.
    let t = shared.bridge.neighbour_tick(shared.now_ms());
    for ip in &t.expired {
        tracing::info!(neighbour = %std::net::Ipv4Addr::from(*ip), "underlay neighbour expired");
    }
    for ip in &t.failed {
        tracing::info!(neighbour = %std::net::Ipv4Addr::from(*ip), "underlay next hop did not answer ARP");
    }
    let txq = shared.workers.len() as u16;
    let mut batch = PktBatch::new();
    for target in t.arp {
        if let Some(m) = Pkt::from_bytes(shared.pools.main(), &arp_request(mac, ip, target)) {
            let _ = batch.push(m);
        }
    }
    if !batch.is_empty() {
        let _tx = shared.control_tx.lock();
        dev.tx_burst(txq, &mut batch);
        batch.free_all();
    }
}

fn stats_line(shared: &Shared, secs: f64) -> String {
    let fams = counters::collect(shared);
    let get = |name: &str, port: &str| {
        counters::family(&fams, name).map_or(0, |f| f.get(&[("port", port)]))
    };
    let mut s = format!("[{secs:7.1}s]");
    for p in &shared.ports().list {
        s.push_str(&format!(
            "  {}: rx {} tx {} drop {}",
            p.name,
            get("brisk_port_rx_packets_total", &p.name),
            get("brisk_port_tx_packets_total", &p.name),
            get("brisk_port_tx_dropped_total", &p.name)
        ));
    }
    s.push('\n');
    s
}
