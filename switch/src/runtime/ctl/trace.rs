//! `trace` (brisk's) and `ofproto/trace` (ovs-appctl's) on the live tables: the packet a
//! flow spec (or its hex bytes) describes goes through a copy of the slow path that sends
//! nothing and counts nothing, with conntrack simulated as OVS's trace simulates it.

use super::CmdResult;
use crate::runtime::state::Shared;
use pipeline::dpaction::{Collect, Packet, TunnelMeta};
use pipeline::field::Field;
use pipeline::flow::w;
use pipeline::ofctl::PortMap;
use pipeline::packet::VecFrame;
use pipeline::slowpath::{self, PacketTrace};
use std::collections::VecDeque;

/// What a trace request asks.
struct Request {
    spec: String,
    packet: Option<Vec<u8>>,
    ct_next: VecDeque<u8>,
    names: bool,
}

/// Reads OVS's `ofproto/trace` arguments: `[bridge] FLOW [PACKET]` with `--ct-next STATE`
/// (repeated), `--names`/`--no-names`, `-generate`. `ovs` says whose defaults apply (OVS
/// prints port numbers; `brisk ctl trace` names).
fn parse(shared: &Shared, args: &[&str], ovs: bool) -> Result<Request, String> {
    let mut r = Request {
        spec: String::new(),
        packet: None,
        ct_next: VecDeque::new(),
        names: !ovs,
    };
    let mut words = Vec::new();
    let mut it = args.iter();
    while let Some(&a) = it.next() {
        match a {
            "--ct-next" | "-ct-next" => {
                let s = it
                    .next()
                    .ok_or_else(|| format!("Missing argument for option {a}"))?;
                r.ct_next.push_back(slowpath::parse_ct_next(s)?);
            }
            "--names" | "-names" => r.names = true,
            "--no-names" | "-no-names" => r.names = false,
            "-generate" | "--generate" => {}
            _ if a.starts_with("--ct-next=") => {
                r.ct_next
                    .push_back(slowpath::parse_ct_next(&a["--ct-next=".len()..])?);
            }
            _ if a.starts_with('-') => return Err(format!("{a}: unknown option")),
            _ => words.push(a),
        }
    }
    // A leading bridge name, as ovs-appctl gives it.
    if words.len() > 1 && words[0] == shared.bridge.name {
        words.remove(0);
    }
    if words.len() > 1 {
        if let Some(bytes) = super::flows::hex_bytes(words[words.len() - 1]) {
            if bytes.len() < 14 {
                return Err(format!(
                    "the packet is {} bytes, shorter than an Ethernet header",
                    bytes.len()
                ));
            }
            r.packet = Some(bytes);
            words.pop();
        }
    }
    r.spec = words.join(" ");
    if r.spec.trim().is_empty() {
        return Err("a traced packet needs at least in_port=PORT, the port it enters on".into());
    }
    if r.spec.contains('(') && !r.spec.contains('=') {
        return Err(format!(
            "{}: brisk takes the OpenFlow flow syntax (in_port=1,tcp,...), not a datapath flow",
            r.spec
        ));
    }
    Ok(r)
}

/// Runs a trace: `ovs` prints OVS's text only (for ovs-appctl); otherwise brisk's outputs
/// and drops follow.
pub(crate) fn run(shared: &Shared, args: &[&str], ovs: bool) -> CmdResult {
    let what = if ovs { "ofproto/trace" } else { "trace" };
    let req = parse(shared, args, ovs).map_err(|e| format!("{what}: {e}"))?;
    let b = &shared.bridge;
    let ports = b.ports();
    let spec_key = pipeline::ofctl::parse_trace_spec(&req.spec, ports.names())
        .map_err(|e| format!("{what}: column {}: {e}", e.column()))?;
    let in_port = Field::InPort.get(&spec_key) as u32;
    // A packet given in hex brings its headers; the flow, its metadata (port, tunnel).
    let bytes = match &req.packet {
        None => pipeline::build::from_flow(&spec_key, 0),
        Some(bytes) => bytes.clone(),
    };
    let key = spec_key;
    let tun = (key.w[w::TUN_ADDR] != 0).then(|| TunnelMeta::from_flow(&key));
    let mut t = PacketTrace {
        simulate_ct: Some(req.ct_next),
        ..Default::default()
    };
    let mut out = Collect::new();
    // The simulated conntrack still needs a tracker to run the datapath actions: a
    // private one, so live connections are neither seen nor changed.
    let ct = pipeline::conntrack::Conntrack::new(pipeline::conntrack::ConntrackConfig::default());
    let mut pkt = Packet::new(VecFrame::new(&bytes), in_port, tun.as_ref());
    Field::PktMark.set(&mut pkt.key, Field::PktMark.get(&key));
    slowpath::process_with(b, &ct, pkt, shared.now_ms(), &mut out, Some(&mut t));
    let none = PortMap::new();
    let names = if req.names { ports.names() } else { &none };
    Ok(if ovs {
        slowpath::format_ofproto_trace(&t, names, &b.name)
    } else {
        slowpath::format_trace_text(&t, names, &b.name)
    })
}
