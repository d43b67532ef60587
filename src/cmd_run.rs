//! `brisk run`.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct RunArgs {
    /// Bridge configuration (YAML: ports, workers, tunnel, underlay). Without it, brisk
    /// runs the `io` forwarding mode between the first two DPDK ports.
    #[arg(long, conflicts_with = "config")]
    pub bridge: Option<std::path::PathBuf>,
    /// Node description (YAML: uplink, gateway, pods, peers, services, NetworkPolicies):
    /// its ports are started and the Antrea pipeline generated from it is loaded. Its
    /// `eal:` arguments are used when none follow `--`.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// Flows to load at start (overrides the bridge file's `flows:`, or the flows generated
    /// from `--config`).
    #[arg(long)]
    pub flows: Option<std::path::PathBuf>,
    /// Groups to load before the flows (`ovs-ofctl add-groups` syntax; overrides the groups
    /// generated from `--config`).
    #[arg(long)]
    pub groups: Option<std::path::PathBuf>,
    /// Follow an Open_vSwitch database as ovs-vswitchd does: `unix:PATH` or `tcp:IP:PORT`
    /// (`unix:/run/openvswitch/db.sock` when given alone). brisk waits for a bridge with
    /// `datapath_type=netdev`, runs it, and starts, stops and reports its interfaces as
    /// `ovs-vsctl` changes them. EAL arguments come from `Open_vSwitch:other_config`
    /// (`dpdk-lcore-mask`, `pmd-cpu-mask`, `dpdk-socket-mem`, `dpdk-extra`) unless given
    /// after `--`.
    #[arg(long, value_name = "DB", num_args = 0..=1, default_missing_value = "unix:/run/openvswitch/db.sock", conflicts_with_all = ["bridge", "config"])]
    pub ovsdb: Option<String>,
    /// ovs-vswitchd's run directory: where `dpdkvhostuser` interfaces get their sockets and,
    /// with `--ovsdb`, where the bridge's management socket `BRIDGE.mgmt` also listens (so
    /// `ovs-ofctl dump-flows br-int` finds it as it finds ovs-vswitchd's).
    #[arg(long, value_name = "DIR", default_value = "/run/openvswitch")]
    pub rundir: std::path::PathBuf,
    /// ovs-vswitchd's unixctl socket, for `ovs-appctl -t PATH` (mode 0600). With `--ovsdb`
    /// and no path, `RUNDIR/ovs-vswitchd.PID.ctl` and the pid file `RUNDIR/ovs-vswitchd.pid`,
    /// so a plain `ovs-appctl` finds brisk as it finds ovs-vswitchd.
    #[arg(long, value_name = "PATH")]
    pub unixctl: Option<std::path::PathBuf>,
    /// Control socket (mode 0600).
    #[arg(long, default_value = "/run/brisk/brisk.sock")]
    pub socket: std::path::PathBuf,
    /// More places OpenFlow clients (`ovs-ofctl`, a controller) connect: `punix:PATH` or
    /// `ptcp:PORT[:IP]` (loopback when no IP), repeatable. The bridge's management socket
    /// next to the control socket (mode 0600) is always there: `/run/brisk/br-int.mgmt` for
    /// the default socket, `DIR/NAME.BRIDGE.mgmt` for `--socket DIR/NAME.sock`.
    #[arg(long = "openflow", value_name = "LISTEN")]
    pub openflow: Vec<String>,
    /// An OpenFlow controller to connect to: `tcp:IP[:PORT]` (port 6653 by default) or
    /// `unix:PATH`, repeatable; reconnected with a backoff of 1 s doubling to 8 s, probed
    /// after 5 s of silence (OVS's defaults; the bridge file's `openflow.controllers` sets
    /// them per controller).
    #[arg(long = "controller", value_name = "TARGET")]
    pub controller: Vec<String>,
    /// Largest input a control request may carry (a flows or node file sent by
    /// `brisk ctl replace-flows|add-flows|add-groups|reload`), in MiB.
    #[arg(long, value_name = "MIB", default_value_t = (switch::runtime::DEFAULT_MAX_INPUT >> 20) as u64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub ctl_max_input_mb: u64,
    /// Print per-port counters every N seconds (0: never; at most 86,400, a day).
    #[arg(long, default_value_t = 0, value_parser = crate::num::range(0, 86_400))]
    pub stats_interval: u64,
    /// Stop after this many seconds (default: run until SIGINT/SIGTERM; at most
    /// 31,536,000, a year).
    #[arg(long, value_parser = crate::num::range(0, 31_536_000))]
    pub duration: Option<u64>,
    /// Forwarding mode without a bridge file. `io`: forward every packet between the first
    /// two ports, as testpmd's io mode (a baseline and the first demo).
    #[arg(long, value_enum, default_value_t = Mode::Io)]
    pub mode: Mode,
    /// EAL arguments, passed verbatim to DPDK (e.g. `-l 0 --no-huge --vdev=net_null0`;
    /// ignored by a brisk built without DPDK).
    #[arg(last = true)]
    pub eal: Vec<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Mode {
    Io,
}

pub fn run(a: RunArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let mut eal_args = a.eal.clone();
    // The node description, kept for `brisk ctl reload`.
    let mut running_node = None;
    let from_file = if let Some(path) = &a.config {
        // Made once: the bridge, flows and groups the switch starts with.
        let plan = conf::node::Plan::load(path)?;
        let config = plan.bridge()?;
        if eal_args.is_empty() {
            eal_args = plan.node().eal.clone();
        }
        let flows = match &a.flows {
            Some(p) => {
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
            }
            None => plan.flows(),
        };
        let groups = match &a.groups {
            Some(p) => {
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
            }
            None => plan.groups(),
        };
        let made = |what: &str| format!("the {what} generated from {}", path.display());
        let names = (
            a.flows
                .as_ref()
                .map_or(made("flows"), |p| p.display().to_string()),
            a.groups
                .as_ref()
                .map_or(made("groups"), |p| p.display().to_string()),
        );
        running_node = Some(plan.into_node());
        Some((config, Some(flows), Some(groups), names))
    } else if let Some(path) = &a.bridge {
        let config = conf::bridge::BridgeConfig::load(path)?;
        let flows_path = a.flows.clone().or_else(|| config.flows_path());
        let flows = match &flows_path {
            Some(p) => Some(
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            ),
            None => None,
        };
        let groups = match &a.groups {
            Some(p) => Some(
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            ),
            None => None,
        };
        let names = (
            flows_path.map_or(String::new(), |p| p.display().to_string()),
            a.groups
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string()),
        );
        Some((config, flows, groups, names))
    } else if let Some(db) = &a.ovsdb {
        match from_database(db, &a, &mut eal_args)? {
            Some(config) => Some((config, None, None, (String::new(), String::new()))),
            None => return Ok(ExitCode::SUCCESS),
        }
    } else {
        None
    };
    if let Some((config, flows, groups, (flows_file, groups_file))) = from_file {
        let opts = switch::runtime::RunOptions {
            config,
            flows,
            groups,
            flows_file,
            groups_file,
            eal_args,
            duration: a.duration.map(std::time::Duration::from_secs),
            control_socket: a.socket.clone(),
            ctl_max_input: (a.ctl_max_input_mb as usize) << 20,
            openflow: a
                .openflow
                .iter()
                .map(|s| switch::runtime::openflow::OfListen::parse(s))
                .collect::<Result<_, _>>()
                .map_err(anyhow::Error::msg)?,
            controllers: a
                .controller
                .iter()
                .map(|s| switch::runtime::openflow::OfConnect::parse(s))
                .collect::<Result<_, _>>()
                .map_err(anyhow::Error::msg)?,
            stats_interval: a.stats_interval,
            version: crate::LONG_VERSION.to_string(),
            node: running_node,
            unixctl: match (&a.unixctl, &a.ovsdb) {
                (Some(p), _) => Some((p.clone(), None)),
                (None, Some(_)) => Some((
                    a.rundir
                        .join(format!("ovs-vswitchd.{}.ctl", std::process::id())),
                    Some(a.rundir.join("ovs-vswitchd.pid")),
                )),
                (None, None) => None,
            },
            ovsdb: match &a.ovsdb {
                Some(db) => Some(switch::runtime::ovsdb::OvsdbOptions {
                    target: switch::runtime::ovsdb::Target::parse(db)
                        .map_err(anyhow::Error::msg)?,
                    rundir: a.rundir.display().to_string(),
                }),
                None => None,
            },
        };
        let s = switch::runtime::run(opts, &mut std::io::stdout())?;
        println!(
            "brisk: stopped cleanly after {:.1} s, {} packets; every mbuf returned to the pool",
            s.seconds, s.packets
        );
        return Ok(ExitCode::SUCCESS);
    }
    io_forward(a)
}

/// `brisk run --ovsdb`: waits for the database to hold a `netdev` bridge, then returns
/// the bridge to start (its ports come from the database once running) and fills the EAL
/// arguments from `Open_vSwitch:other_config` unless the command line gave some. `None`:
/// stopped while waiting.
fn from_database(
    db: &str,
    a: &RunArgs,
    eal_args: &mut Vec<String>,
) -> anyhow::Result<Option<conf::bridge::BridgeConfig>> {
    use switch::runtime::ovsdb;
    let target = ovsdb::Target::parse(db).map_err(anyhow::Error::msg)?;
    switch::signal::install();
    let stop = || switch::signal::stop_requested();
    let Some(b) = ovsdb::bootstrap(&target, &stop) else {
        return Ok(None);
    };
    let (eal, workers) = ovsdb::eal_from_config(&b.other_config)
        .map_err(|e| anyhow::anyhow!("{db}: Open_vSwitch {e}"))?;
    let mut config = conf::bridge::BridgeConfig::empty(&b.bridge);
    // ovs-vswitchd's management socket, where `ovs-ofctl BRIDGE` looks for it.
    let mgmt = a.rundir.join(format!("{}.mgmt", b.bridge));
    config.openflow.listen.push(
        switch::runtime::openflow::OfListen::parse(&format!("punix:{}", mgmt.display()))
            .map_err(anyhow::Error::msg)?,
    );
    if a.eal.is_empty() {
        *eal_args = eal;
        config.workers = workers;
    }
    Ok(Some(config))
}

/// `brisk run --mode io`: testpmd's io forwarding between the first two DPDK ports.
#[cfg(feature = "dpdk")]
fn io_forward(a: RunArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    use switch::dpdk::{available_ports, fwd, Eal, EthPort, Mempool, PortConf};
    let mut args = vec!["brisk".to_string()];
    args.extend(a.eal.iter().cloned());
    let eal = Eal::init(&args).context("initialising DPDK (check the EAL arguments after --)")?;
    switch::signal::install();
    let ids = available_ports();
    if ids.len() < 2 {
        anyhow::bail!(
            "io forwarding needs two ports, DPDK found {} (add e.g. --vdev=net_null0 --vdev=net_null1 after --)",
            ids.len()
        );
    }
    // Mempool: rx descriptors of both ports + bursts in flight + per-lcore caches.
    let pool = Mempool::new("brisk_pool", 8191, 256, 2048 + 128, -1).context("mbuf pool")?;
    let mut p0 = EthPort::from_id(ids[0])?;
    let mut p1 = EthPort::from_id(ids[1])?;
    let conf = PortConf {
        rx_desc: 1024,
        tx_desc: 1024,
        ..PortConf::default()
    };
    p0.configure_and_start(&conf, &pool)
        .with_context(|| format!("starting {}", p0.name()))?;
    p1.configure_and_start(&conf, &pool)
        .with_context(|| format!("starting {}", p1.name()))?;
    let ports = [p0, p1];
    let st = fwd::io_forward(
        &ports,
        a.duration.map(std::time::Duration::from_secs),
        &switch::signal::stop_requested,
        &mut std::io::stdout(),
    )?;
    let total: u64 = st.forwarded.iter().sum();
    println!(
        "forwarded {} packets in {:.1} s ({:.2} Mpps); {} -> {}: {}, {} -> {}: {}; not sent: {}",
        total,
        st.seconds,
        total as f64 / st.seconds / 1e6,
        ports[0].name(),
        ports[1].name(),
        st.forwarded[0],
        ports[1].name(),
        ports[0].name(),
        st.forwarded[1],
        st.tx_dropped[0] + st.tx_dropped[1]
    );
    let [mut p0, mut p1] = ports;
    p0.stop()?;
    p1.stop()?;
    drop((p0, p1));
    let leaked = pool.in_use();
    drop(pool);
    eal.cleanup()?;
    if leaked != 0 {
        anyhow::bail!("{leaked} mbufs were not returned to the pool");
    }
    println!("stopped cleanly; every mbuf returned to the pool");
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "dpdk"))]
fn io_forward(_a: RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "io forwarding needs DPDK ports and this brisk was built without DPDK (the `dpdk` cargo feature); give --config or --bridge with afpacket:IFACE / tap:IFACE ports"
    )
}
