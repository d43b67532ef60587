//! `brisk flows check|dump`: the flow language on files.

use anyhow::Context;
use clap::Subcommand;
use pipeline::ofctl::{format_flow, parse_flow_file, FlowEntry, Mode, PortMap};
use std::collections::BTreeSet;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum FlowsCmd {
    /// Parse flow files and report `N flows in M tables` per file, or every error as
    /// `FILE:LINE:COLUMN: problem near 'token'`.
    Check {
        /// Port names used by the flows, as NAME=NUMBER (repeatable).
        #[arg(long = "port", value_name = "NAME=NUMBER")]
        ports: Vec<String>,
        /// Files to check.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Print a flow file normalised (the way ovs-ofctl prints flows), sorted by table then
    /// priority.
    Dump {
        /// Port names used by the flows, as NAME=NUMBER (repeatable).
        #[arg(long = "port", value_name = "NAME=NUMBER")]
        ports: Vec<String>,
        /// File to print.
        file: String,
    },
}

/// Parses `NAME=NUMBER[:KIND]` port arguments into a name map (kinds are ignored here).
pub fn port_map(specs: &[String]) -> anyhow::Result<PortMap> {
    let mut m = PortMap::new();
    m.set_unknown_hint("give it with --port NAME=NUMBER");
    for s in specs {
        let (name, num) = s
            .split_once('=')
            .with_context(|| format!("--port {s}: expected NAME=NUMBER"))?;
        let num = num.split(':').next().unwrap_or(num);
        let n: u32 = num
            .parse()
            .ok()
            .filter(|&n| conf::limits::ofport(n).is_ok())
            .with_context(|| {
                format!(
                    "--port {s}: '{num}' is not a port number 1..{}",
                    conf::limits::OFPORT_MAX
                )
            })?;
        m.insert(name, n);
    }
    Ok(m)
}

fn load(file: &str, ports: &PortMap) -> anyhow::Result<(Vec<FlowEntry>, Vec<String>)> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
    let (flows, errors) = parse_flow_file(&text, Mode::Add, ports);
    let errs = errors.iter().map(|e| format!("{file}:{e}")).collect();
    Ok((flows.into_iter().map(|(_, f)| f).collect(), errs))
}

pub fn run(cmd: FlowsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        FlowsCmd::Check { ports, files } => {
            let pm = port_map(&ports)?;
            let mut bad = false;
            for f in &files {
                let (flows, errs) = load(f, &pm)?;
                if errs.is_empty() {
                    let tables: BTreeSet<u8> = flows.iter().map(FlowEntry::table_id).collect();
                    crate::out::print(&format!(
                        "{f}: {} flows in {} tables\n",
                        flows.len(),
                        tables.len()
                    ))?;
                } else {
                    bad = true;
                    crate::out::eprint(&(errs.join("\n") + "\n"));
                }
            }
            Ok(if bad {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        FlowsCmd::Dump { ports, file } => {
            let pm = port_map(&ports)?;
            let (mut flows, errs) = load(&file, &pm)?;
            if !errs.is_empty() {
                crate::out::eprint(&(errs.join("\n") + "\n"));
                return Ok(ExitCode::FAILURE);
            }
            flows.sort_by_key(|f| (f.table_id(), std::cmp::Reverse(f.priority)));
            // In pieces, so that a reader that goes away stops the work early.
            for chunk in flows.chunks(256) {
                let mut text = String::new();
                for f in chunk {
                    text.push_str(&format_flow(f, &pm, None));
                    text.push('\n');
                }
                crate::out::print(&text)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
