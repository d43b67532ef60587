//! `brisk-gen`: traffic for brisk and its peers. `brisk-gen pcap` writes a profile's flows
//! as a pcap file, for DPDK's `net_pcap` (`rx_pcap=FILE,infinite_rx=1`) or tcpreplay;
//! `brisk-gen run` sends and receives them on DPDK ports (a testpmd-style generator and
//! sink) and checks what comes back against what the flows say.

mod run;

use anyhow::Context;
use clap::{Parser, Subcommand};
use perf::gen::Profile;
use pipeline::ofctl::PortMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "brisk-gen",
    version,
    about = "Traffic generator for brisk benchmarks and tests"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write N flows of a template packet as a pcap file (one frame per flow, in order).
    Pcap {
        /// Output file.
        #[arg(long, short)]
        out: PathBuf,
        /// The template, in `ofproto/trace` flow syntax, e.g.
        /// `udp,dl_src=be:2c:bf:e4:ec:c5,dl_dst=4e:99:08:c1:53:be,nw_src=10.222.1.48,nw_dst=10.222.1.2,nw_ttl=64,tp_src=1024,tp_dst=53`.
        #[arg(long)]
        spec: String,
        /// Number of flows.
        #[arg(long, default_value_t = 1)]
        flows: u32,
        /// Field that differs between flows (tp_src, tp_dst, nw_src, nw_dst, dl_src, dl_dst).
        #[arg(long, default_value = "tp_src")]
        vary: String,
        /// Frame size on the wire including the FCS (64..9004).
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Repeat the flow list this many times in the file.
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        /// Port names the template may use (NAME=OFPORT, repeatable).
        #[arg(long = "port", value_name = "NAME=OFPORT")]
        ports: Vec<String>,
    },
    /// Send and receive on DPDK ports; report rates, loss, latency, reordering and frames
    /// the switch should not have delivered. EAL arguments go after `--`.
    Run(Box<run::RunArgs>),
}

fn port_map(specs: &[String]) -> anyhow::Result<PortMap> {
    let mut m = PortMap::default();
    for s in specs {
        let (name, num) = s
            .split_once('=')
            .with_context(|| format!("--port {s}: expected NAME=OFPORT"))?;
        let n: u32 = num
            .parse()
            .with_context(|| format!("--port {s}: '{num}' is not a port number"))?;
        m.insert(name, n);
    }
    Ok(m)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("brisk-gen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Run(a) => run::run(*a),
        Cmd::Pcap {
            out,
            spec,
            flows,
            vary,
            size,
            repeat,
            ports,
        } => {
            let p = Profile::new(&spec, &port_map(&ports)?, &vary, flows, size)?;
            let frames = p.frames();
            let all = (0..repeat.max(1)).flat_map(|_| frames.iter().map(Vec::as_slice));
            std::fs::write(&out, perf::pcap::encode(all))
                .with_context(|| format!("writing {}", out.display()))?;
            eprintln!(
                "{}: {} flows x {} = {} frames of {} bytes",
                out.display(),
                flows,
                repeat.max(1),
                u64::from(flows) * u64::from(repeat.max(1)),
                size
            );
            Ok(())
        }
    }
}
