//! `brisk`: a DPDK overlay switch that runs Antrea's OpenFlow pipeline.

mod cmd_flows;
mod cmd_run;
mod cmd_trace;
mod num;
mod out;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

pub(crate) const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ngit revision: ",
    env!("BRISK_GIT_REV"),
    "\nDPDK: ",
    env!("BRISK_DPDK_VERSION"),
    "\ntarget CPU features: ",
    env!("BRISK_TARGET_FEATURES"),
    "\nprofile: ",
    env!("BRISK_PROFILE"),
);

/// A DPDK overlay switch that runs the OpenFlow pipeline a CNI such as Antrea programs.
#[derive(Parser)]
#[command(name = "brisk", version, long_version = LONG_VERSION, propagate_version = true)]
struct Cli {
    /// Log level of brisk's own events (error, warn, info, debug, trace) on standard error;
    /// `RUST_LOG` (tracing's filter syntax) overrides it. Default: info for `run`, warn for
    /// the other commands. Nothing is logged per packet.
    #[arg(long, global = true, value_name = "LEVEL", value_parser = ["error", "warn", "info", "debug", "trace"])]
    log_level: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

/// Logs through `tracing` to standard error, one line per event: `RUST_LOG` if set, else
/// `--log-level`, else `default`.
/// The filter can be changed while running (`ovs-appctl vlog/set`, through
/// `switch::logctl`).
fn init_logs(level: Option<&str>, default: &str) {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{fmt, reload, EnvFilter};
    let spec = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => v,
        _ => level.unwrap_or(default).to_string(),
    };
    let (filter, handle) = reload::Layer::new(EnvFilter::new(&spec));
    let ok = tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().with_writer(std::io::stderr).with_target(false))
        .try_init()
        .is_ok();
    if ok {
        switch::logctl::install(&spec, move |f| {
            let filter = EnvFilter::try_new(f).map_err(|e| format!("{f:?}: {e}"))?;
            handle.reload(filter).map_err(|e| e.to_string())
        });
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the switch (ports, workers, control socket). EAL arguments go after `--`.
    Run(cmd_run::RunArgs),
    /// Talk to a running switch over its control socket.
    Ctl(CtlArgs),
    /// Check and print flow files in ovs-ofctl syntax.
    #[command(subcommand)]
    Flows(cmd_flows::FlowsCmd),
    /// Trace packets through a flow table, table by table, with conntrack state carried
    /// from one packet to the next.
    Trace(cmd_trace::TraceArgs),
    /// Node configuration in YAML.
    #[command(subcommand)]
    Conf(ConfCmd),
}

#[derive(clap::Args)]
#[command(after_help = switch::runtime::commands())]
struct CtlArgs {
    /// Control socket path.
    #[arg(long, default_value = "/run/brisk/brisk.sock")]
    socket: String,
    /// Give up waiting for the reply after this many seconds (the switch carries on with
    /// the command). Default: wait as long as the command takes; a long command reports
    /// progress on standard error when that is a terminal.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout: Option<u64>,
    /// Command and arguments (`brisk ctl help` lists them). For add-flows, replace-flows
    /// and reload the FILE is read here and sent; `-` reads standard input.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(Subcommand)]
enum ConfCmd {
    /// Validate node descriptions: every problem, as FILE:LINE: FIELD: what is wrong.
    Check {
        /// YAML files.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Print the Antrea-shaped flows a node description generates (`ovs-ofctl` syntax,
    /// ready for `brisk ctl replace-flows`).
    Flows {
        /// YAML file.
        file: String,
    },
    /// Print the groups a node description generates (`proxy: antrea-proxy`: one select
    /// group per service port; `ovs-ofctl add-groups` syntax, ready for
    /// `brisk ctl add-groups`).
    Groups {
        /// YAML file.
        file: String,
    },
    /// Print the commands with which Antrea's agent would set the node up for
    /// `brisk run --ovsdb`: `ovs-vsctl` for the bridge and its ports (tunnel, gateway, the
    /// uplink attached with `external_ids:antrea-type=uplink`, pods; EAL settings in
    /// `other_config`), `ip` for the gateway's MAC, address and MTU and the node's address
    /// on the bridge's internal port. One command per line, in order; `ovs-vsctl` lines
    /// take `--db=` where the database is not the default.
    Vsctl {
        /// YAML file.
        file: String,
    },
}

fn conf_cmd(c: ConfCmd) -> anyhow::Result<ExitCode> {
    use conf::node::Plan;
    match c {
        ConfCmd::Check { files } => {
            let mut ok = true;
            for f in files {
                match Plan::load(std::path::Path::new(&f)) {
                    Ok(plan) => {
                        // The generated groups and flows must load: a failure here is a
                        // brisk bug.
                        load_generated(&plan).map_err(|e| anyhow::anyhow!("{f}: {e}"))?;
                        out::print(&format!("{f}: {}\n", plan.summary()))?;
                    }
                    Err(e) => {
                        ok = false;
                        out::eprint(&format!("{e}\n"));
                    }
                }
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        ConfCmd::Flows { file } => {
            let plan = Plan::load(std::path::Path::new(&file))?;
            out::print(&plan.flows())?;
            Ok(ExitCode::SUCCESS)
        }
        ConfCmd::Groups { file } => {
            let plan = Plan::load(std::path::Path::new(&file))?;
            out::print(&plan.groups())?;
            Ok(ExitCode::SUCCESS)
        }
        ConfCmd::Vsctl { file } => {
            let plan = Plan::load(std::path::Path::new(&file))?;
            out::print(&plan.node().vsctl())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Loads a node's generated groups and flows into a scratch bridge with its ports.
fn load_generated(plan: &conf::node::Plan) -> anyhow::Result<()> {
    use pipeline::bridge::{Bridge, PortInfo, PortKind};
    let b = Bridge::new("check", pipeline::conntrack::ConntrackConfig::default());
    for (name, num) in plan.node().port_names() {
        b.add_port(PortInfo::new(num, &name, PortKind::Normal))?;
    }
    b.load_text(&plan.groups(), &plan.flows(), 0)
        .map_err(|e| anyhow::anyhow!("generated pipeline does not load: {e}"))?;
    Ok(())
}

/// `--version`'s text: the build's facts, then the lookup kernels' vector unit, which is
/// chosen on the machine that runs brisk.
fn long_version() -> &'static str {
    use pipeline::fastpath::SimdPath;
    let text = format!(
        "{LONG_VERSION}\nlookup kernels: {} (chosen at run time; this CPU has {}; `fastpath.simd` pins one)",
        SimdPath::detect().name(),
        SimdPath::available_names()
    );
    // Once per process, for clap's `'static` text.
    Box::leak(text.into_boxed_str())
}

fn main() -> ExitCode {
    let matches = Cli::command().long_version(long_version()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_logs(
        cli.log_level.as_deref(),
        if matches!(cli.cmd, Cmd::Run(_)) {
            "info"
        } else {
            "warn"
        },
    );
    // A reader that goes away (`| head`) ends a printing command quietly. `run` keeps
    // Rust's ignored SIGPIPE and its own handling of sockets. `flows`, `trace`, `conf` and
    // `ctl` print through `out` and end with a broken-pipe error.
    if !matches!(cli.cmd, Cmd::Run(_)) {
        out::quiet_broken_pipe_panics();
    }
    let own_output = matches!(
        cli.cmd,
        Cmd::Flows(_) | Cmd::Trace(_) | Cmd::Conf(_) | Cmd::Ctl(_)
    );
    let res = match cli.cmd {
        Cmd::Flows(c) => cmd_flows::run(c),
        Cmd::Trace(a) => cmd_trace::run(a),
        Cmd::Run(a) => cmd_run::run(a),
        Cmd::Ctl(a) => ctl(a),
        Cmd::Conf(c) => conf_cmd(c),
    };
    match res {
        Ok(code) => code,
        Err(e) if own_output && out::is_broken_pipe(&e) => ExitCode::from(out::BROKEN_PIPE_EXIT),
        Err(e) => {
            out::eprint(&format!("brisk: {e:#}\n"));
            ExitCode::from(2)
        }
    }
}

fn ctl(a: CtlArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    use std::io::Read;
    // The verb list is static: no switch needed to read it.
    if matches!(a.args.as_slice(), [] | [_]) && a.args.first().is_none_or(|v| v == "help") {
        out::print(&format!("{}\n", switch::runtime::commands()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut input = None;
    if matches!(
        a.args.first().map(String::as_str),
        Some("add-flows" | "replace-flows" | "add-groups" | "reload")
    ) {
        let file = a.args.get(1).context(
            "add-flows, replace-flows, add-groups and reload need a FILE (or - for stdin)",
        )?;
        let mut text = String::new();
        if file == "-" {
            std::io::stdin().read_to_string(&mut text)?;
        } else {
            text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
        }
        input = Some(text);
    }
    let req = switch::runtime::Request {
        args: a.args.clone(),
        input,
    };
    let opts = switch::runtime::CtlOptions {
        timeout: a.timeout.map(std::time::Duration::from_secs),
    };
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let cmd = a.args.first().cloned().unwrap_or_default();
    let reply = switch::runtime::ctl(
        std::path::Path::new(&a.socket),
        &req,
        &opts,
        &mut |p: &str| {
            if tty {
                eprintln!("brisk ctl: {cmd}: {p}");
            }
        },
    )?;
    if reply.status == 0 {
        out::print(&reply.output)?;
        Ok(ExitCode::SUCCESS)
    } else {
        out::eprint(&format!("brisk ctl: {}\n", reply.output.trim_end()));
        Ok(ExitCode::from(reply.status.clamp(1, 255) as u8))
    }
}
