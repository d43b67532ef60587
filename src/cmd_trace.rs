//! `brisk trace`: packets through a flow table with real conntrack, offline.

use anyhow::Context;
use pipeline::bridge::{Bridge, LoadError, PortInfo, PortKind, TunnelPort};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::{Collect, Packet, TunnelMeta};
use pipeline::field::Field;
use pipeline::flow::w;
use pipeline::ofctl::parse_trace_spec;
use pipeline::packet::VecFrame;
use pipeline::slowpath::{format_trace_text, process, trace_json, PacketTrace};
use std::io::BufRead;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct TraceArgs {
    /// Flow file (ovs-ofctl syntax).
    #[arg(long)]
    flows: String,
    /// Groups file (`ovs-ofctl add-groups` syntax), loaded before the flows.
    #[arg(long)]
    groups: Option<String>,
    /// Ports as NAME=NUMBER[:KIND], KIND one of `pod` (default), `internal`, `geneve`
    /// (a tunnel port with remote_ip=flow, key=flow).
    #[arg(long = "port", value_name = "NAME=NUMBER[:KIND]")]
    ports: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Bytes of zero payload to add to each packet (0 to 65,535, and the whole frame
    /// must fit in 65,535 bytes).
    #[arg(long, default_value_t = 0, value_parser = crate::num::range(0, MAX_FRAME as u64))]
    payload: u64,
    /// Packets in `ofproto/trace` flow syntax, e.g.
    /// `in_port=2,tcp,dl_src=..,nw_src=..,nw_dst=..,nw_ttl=64,tp_dst=80,tcp_flags=0x002`.
    /// Read one per line from stdin when none are given. A packet entering on a tunnel port
    /// carries the spec's tun_src/tun_dst/tun_id/tun_metadataN as its tunnel metadata.
    /// TCP sequence numbers are synthesised so that SYN, SYN-ACK and ACK specs trace as
    /// one connection.
    specs: Vec<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Largest frame a trace builds.
const MAX_FRAME: usize = 65_535;

fn bridge(args: &TraceArgs) -> anyhow::Result<Bridge> {
    let b = Bridge::new("br-int", ConntrackConfig::default());
    b.set_unknown_port_hint("give it with --port NAME=NUMBER[:KIND]");
    for s in &args.ports {
        let (name, rest) = s
            .split_once('=')
            .with_context(|| format!("--port {s}: expected NAME=NUMBER[:KIND]"))?;
        let (num, kind) = rest.split_once(':').unwrap_or((rest, "pod"));
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
        let kind = match kind {
            "pod" | "normal" => PortKind::Normal,
            "internal" | "gateway" => PortKind::Internal,
            "geneve" | "tunnel" => PortKind::Tunnel(TunnelPort::default()),
            k => anyhow::bail!("--port {s}: unknown kind '{k}' (pod, internal, geneve)"),
        };
        b.add_port(PortInfo {
            ofport: n,
            name: name.to_string(),
            kind,
            flood: true,
            proxy_arp: None,
            config: 0,
        })
        .with_context(|| format!("--port {s}"))?;
    }
    let groups = match &args.groups {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        None => String::new(),
    };
    let text =
        std::fs::read_to_string(&args.flows).with_context(|| format!("reading {}", args.flows))?;
    b.load_text(&groups, &text, 0).map_err(|e| match e {
        LoadError::Groups(errs) => file_errors(args.groups.as_deref().unwrap_or("-"), &errs),
        LoadError::Flows(errs) => file_errors(&args.flows, &errs),
        e => anyhow::anyhow!("{e}"),
    })?;
    Ok(b)
}

/// Every error of a file, one per line, as `FILE:LINE:COLUMN: message`.
fn file_errors(file: &str, errs: &[pipeline::ofctl::FileError]) -> anyhow::Error {
    let all: Vec<String> = errs.iter().map(|e| format!("{file}:{e}")).collect();
    anyhow::anyhow!("{}", all.join("\n"))
}

pub fn run(args: TraceArgs) -> anyhow::Result<ExitCode> {
    let b = bridge(&args)?;
    let mut specs = args.specs.clone();
    if specs.is_empty() {
        for line in std::io::stdin().lock().lines() {
            let line = line?;
            let t = line.trim();
            if !t.is_empty() && !t.starts_with('#') {
                specs.push(t.to_string());
            }
        }
    }
    let ports = b.ports();
    let mut json = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        if spec.trim().is_empty() {
            anyhow::bail!(
                "packet {}: the spec is empty: a traced packet needs at least in_port=PORT, the port it enters on",
                i + 1
            );
        }
        let key = parse_trace_spec(spec, ports.names())
            .map_err(|e| anyhow::anyhow!("packet {}: column {}: {e}", i + 1, e.column()))?;
        let payload = args.payload as usize; // at most MAX_FRAME
        let headers = pipeline::build::from_flow(&key, 0).len();
        if headers + payload > MAX_FRAME {
            anyhow::bail!(
                "packet {}: --payload {payload} makes a {}-byte frame; a frame fits in {MAX_FRAME} bytes (--payload 0..{} for this packet)",
                i + 1,
                headers + payload,
                MAX_FRAME - headers
            );
        }
        let bytes = pipeline::build::from_flow(&key, payload);
        let in_port = Field::InPort.get(&key) as u32;
        let tun =
            (key.w[w::TUN_ADDR] != 0 || key.w[w::TUN_ID] != 0).then(|| TunnelMeta::from_flow(&key));
        let pkt = Packet::new(VecFrame::new(&bytes), in_port, tun.as_ref());
        let mut out = Collect::new();
        let mut t = PacketTrace::default();
        // Each packet is 1 ms after the previous one.
        process(&b, pkt, i as u64 + 1, &mut out, Some(&mut t));
        match args.format {
            Format::Text => {
                let mut text = String::new();
                if specs.len() > 1 {
                    text = format!("### packet {}: {spec}\n", i + 1);
                }
                text.push_str(&format_trace_text(&t, ports.names(), &b.name));
                text.push('\n');
                crate::out::print(&text)?;
            }
            Format::Json => json.push(trace_json(&t, ports.names())),
        }
    }
    if let Format::Json = args.format {
        crate::out::print(&(serde_json::to_string_pretty(&json)? + "\n"))?;
    }
    Ok(ExitCode::SUCCESS)
}
