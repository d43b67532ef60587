//! The slow path for one packet: translate, execute, and recirculate until it leaves —
//! optionally recording everything for `trace`.

use crate::bridge::Bridge;
use crate::dpaction::{
    execute, format_dp_actions, CloneFrame, DpAction, DropReason, ExecEnv, Packet, Sink, TunnelMeta,
};
use crate::field::Field;
use crate::flow::{Flow, KEY_WORDS};
use crate::ofctl::{format_match, Match, PortMap};
use crate::xlate::{translate, translate_actions, TraceEvent};
use serde::Serialize;

/// One pass of a packet through the tables (the first, or one after a recirculation).
#[derive(Clone, Debug)]
pub struct PassTrace {
    /// Recirculation id (0 for the first pass).
    pub recirc_id: u32,
    /// Key at the start of the pass.
    pub key: Flow,
    /// Tables, rules and actions.
    pub events: Vec<TraceEvent>,
    /// Megaflow mask.
    pub mask: Flow,
    /// Datapath actions.
    pub actions: Vec<DpAction>,
    /// Registers and metadata at the end of the pass.
    pub final_flow: Flow,
}

/// Where a traced packet went.
#[derive(Clone, Debug)]
pub struct OutputTrace {
    /// Port number.
    pub port: u32,
    /// Tunnel metadata for tunnel ports.
    pub tunnel: Option<TunnelMeta>,
    /// Key of the packet as it left (its final headers).
    pub key: Flow,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Everything that happened to one packet.
#[derive(Clone, Debug, Default)]
pub struct PacketTrace {
    /// Passes, in order.
    pub passes: Vec<PassTrace>,
    /// Outputs, in order.
    pub outputs: Vec<OutputTrace>,
    /// Drops.
    pub drops: Vec<DropReason>,
}

impl PacketTrace {
    /// Tables visited, in order, over all passes.
    pub fn tables(&self) -> Vec<u8> {
        let mut v = Vec::new();
        for p in &self.passes {
            for e in &p.events {
                if let TraceEvent::Table { table, .. } = e {
                    v.push(*table);
                }
            }
        }
        v
    }

    /// Tables visited with duplicates (consecutive repeats from recirculation) removed, the
    /// way the seed's golden walks list them.
    pub fn path(&self) -> Vec<u8> {
        let mut v = self.tables();
        v.dedup();
        v
    }
}

/// Runs one packet through the slow path until it leaves, handing results to `sink`.
pub fn process<F: CloneFrame, S: Sink<F>>(
    bridge: &Bridge,
    pkt: Packet<F>,
    now_ms: u64,
    sink: &mut S,
    trace: Option<&mut PacketTrace>,
) {
    process_with(bridge, &bridge.conntrack, pkt, now_ms, sink, trace)
}

/// Receives one frame on `in_port` as the fast path's receive stage does — on the uplink,
/// decapsulation first (Geneve for this node continues on the tunnel port, ARP for the
/// node's address is answered or learned) — and runs it through the slow path: the
/// reference the fast path is tested against, one packet at a time.
pub fn receive<F: CloneFrame, S: Sink<F>>(
    bridge: &Bridge,
    in_port: u32,
    frame: F,
    now_ms: u64,
    sink: &mut S,
    stats: &mut crate::tunnel::TunnelStats,
) {
    use crate::tunnel::decap::{self, DecapPort};
    match DecapPort::of(bridge).filter(|d| d.uplink == in_port) {
        None => process(
            bridge,
            Packet::new(frame, in_port, None),
            now_ms,
            sink,
            None,
        ),
        Some(d) => {
            if let Some((f, port, tun)) = decap::receive(bridge, &d, frame, now_ms, sink, stats) {
                process(
                    bridge,
                    Packet::new(f, port, tun.as_ref()),
                    now_ms,
                    sink,
                    None,
                );
            }
        }
    }
}

/// Like [`process`], with another connection tracker (a live `trace` uses a private one so
/// it neither sees nor changes real connections).
pub fn process_with<F: CloneFrame, S: Sink<F>>(
    bridge: &Bridge,
    conntrack: &crate::conntrack::Conntrack,
    pkt: Packet<F>,
    now_ms: u64,
    sink: &mut S,
    trace: Option<&mut PacketTrace>,
) {
    run_passes(bridge, conntrack, pkt, None, now_ms, sink, trace)
}

/// A controller's packet-out: `actions` applied to the packet (whose key says its input
/// port, `CONTROLLER` when the controller names none), then, as any packet, recirculated
/// until it leaves. Counted on the rules its `resubmit`s hit, as OVS does.
pub fn packet_out<F: CloneFrame, S: Sink<F>>(
    bridge: &Bridge,
    pkt: Packet<F>,
    actions: &[crate::ofctl::Action],
    now_ms: u64,
    sink: &mut S,
    trace: Option<&mut PacketTrace>,
) {
    let ct = &bridge.conntrack;
    run_passes(bridge, ct, pkt, Some(actions), now_ms, sink, trace)
}

fn run_passes<F: CloneFrame, S: Sink<F>>(
    bridge: &Bridge,
    conntrack: &crate::conntrack::Conntrack,
    pkt: Packet<F>,
    mut first: Option<&[crate::ofctl::Action]>,
    now_ms: u64,
    sink: &mut S,
    mut trace: Option<&mut PacketTrace>,
) {
    let env = ExecEnv::new(conntrack, now_ms);
    let mut queue: Vec<(Packet<F>, u32)> = vec![(pkt, 0)];
    while let Some((p, depth)) = queue.pop() {
        if depth > bridge.limits.max_recirc {
            if let Some(t) = trace.as_deref_mut() {
                t.drops.push(DropReason::RecircLimit);
            }
            sink.drop_packet(DropReason::RecircLimit, p.frame);
            continue;
        }
        let mut events = Vec::new();
        let tev = if trace.is_some() {
            Some(&mut events)
        } else {
            None
        };
        let tr = match first.take() {
            Some(actions) => translate_actions(bridge, &p.key, actions, now_ms, tev),
            None => translate(bridge, &p.key, now_ms, tev),
        };
        let len = p.frame.len() as u64;
        // A trace (`brisk ctl trace` runs on the live tables) sends nothing and counts
        // nothing, as `ofproto/trace`.
        if trace.is_none() {
            crate::tables::credit_hits(&tr.rules, &tr.groups, 1, len, now_ms);
        }
        if let Some(t) = trace.as_deref_mut() {
            t.passes.push(PassTrace {
                recirc_id: Field::RecircId.get(&p.key) as u32,
                key: p.key,
                events,
                mask: tr.mask,
                actions: tr.actions.clone(),
                final_flow: tr.final_flow,
            });
        }
        let mut wrap = Wrap {
            inner: &mut *sink,
            trace: trace.as_deref_mut(),
        };
        for r in execute(&tr.actions, p, &env, &mut wrap) {
            queue.push((r, depth + 1));
        }
    }
}

struct Wrap<'a, S> {
    inner: &'a mut S,
    trace: Option<&'a mut PacketTrace>,
}

impl<F: CloneFrame, S: Sink<F>> Sink<F> for Wrap<'_, S> {
    fn output(&mut self, port: u32, tun: Option<&TunnelMeta>, frame: F, key: &Flow) {
        if let Some(t) = self.trace.as_deref_mut() {
            t.outputs.push(OutputTrace {
                port,
                tunnel: tun.copied(),
                key: *key,
                bytes: frame.data().to_vec(),
            });
        }
        self.inner.output(port, tun, frame, key);
    }
    fn drop_packet(&mut self, reason: DropReason, frame: F) {
        if let Some(t) = self.trace.as_deref_mut() {
            t.drops.push(reason);
        }
        self.inner.drop_packet(reason, frame);
    }
    fn note_drop(&mut self, reason: DropReason) {
        if let Some(t) = self.trace.as_deref_mut() {
            t.drops.push(reason);
        }
        self.inner.note_drop(reason);
    }
}

/// Formats a megaflow (key under mask) the way OVS's trace shows it.
pub fn format_megaflow(key: &Flow, mask: &Flow, ports: &PortMap) -> String {
    let mut m = Match {
        value: key.masked(mask),
        mask: *mask,
    };
    for i in KEY_WORDS..crate::flow::FLOW_WORDS {
        m.value.w[i] = 0;
        m.mask.w[i] = 0;
    }
    let recirc = Field::RecircId.get(key);
    let mut s = format!("recirc_id={recirc:#x}");
    // recirc_id is printed first by us; drop it from the generic match.
    Field::RecircId.set(&mut m.mask, 0);
    Field::RecircId.set(&mut m.value, 0);
    let rest = format_match(&m, ports, None);
    if !rest.is_empty() {
        s.push(',');
        s.push_str(&rest);
    }
    s
}

/// `ofproto/trace`-style text.
pub fn format_trace_text(t: &PacketTrace, ports: &PortMap, bridge_name: &str) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for (i, p) in t.passes.iter().enumerate() {
        if i == 0 {
            let _ = writeln!(s, "Flow: {}", format_key(&p.key, ports));
            let _ = writeln!(s);
            let _ = writeln!(s, "bridge(\"{bridge_name}\")");
            let _ = writeln!(s, "{}", "-".repeat(bridge_name.len() + 10));
        } else {
            let _ = writeln!(s);
            let _ = writeln!(s, "{}", "=".repeat(79));
            let _ = writeln!(
                s,
                "recirc({:#x}) - resume conntrack with ct_state={}",
                p.recirc_id,
                ct_state_text(Field::CtState.get(&p.key) as u8)
            );
            let _ = writeln!(s, "{}", "=".repeat(79));
            let _ = writeln!(s);
            let _ = writeln!(s, "Flow: {}", format_key(&p.key, ports));
            let _ = writeln!(s);
        }
        for e in &p.events {
            match e {
                TraceEvent::Table { table, depth, rule } => {
                    let ind = "    ".repeat(*depth as usize / 2);
                    match rule {
                        Some(r) => {
                            let m = if r.matched.is_empty() {
                                String::new()
                            } else {
                                format!("{}, ", r.matched)
                            };
                            let _ = writeln!(
                                s,
                                "{ind}{:2}. {m}priority {}, cookie {:#x}",
                                table, r.priority, r.cookie
                            );
                        }
                        None => {
                            let _ = writeln!(s, "{ind}{table:2}. No match.");
                        }
                    }
                }
                TraceEvent::Action { depth, text } => {
                    let ind = "    ".repeat((*depth as usize).saturating_sub(1) / 2);
                    let _ = writeln!(s, "{ind}    {text}");
                }
                TraceEvent::Note { depth, text } => {
                    let ind = "    ".repeat((*depth as usize).saturating_sub(1) / 2);
                    let _ = writeln!(s, "{ind}     -> {text}");
                }
            }
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "Final flow: {}", format_key(&p.final_flow, ports));
        let _ = writeln!(s, "Megaflow: {}", format_megaflow(&p.key, &p.mask, ports));
        let _ = writeln!(s, "Datapath actions: {}", format_dp_actions(&p.actions));
    }
    let _ = writeln!(s);
    for o in &t.outputs {
        match &o.tunnel {
            Some(tn) => {
                let _ = writeln!(
                    s,
                    "Output: port {} (tunnel to {}, tun_id {:#x}): {}",
                    o.port,
                    std::net::Ipv4Addr::from(tn.dst),
                    tn.tun_id,
                    format_key(&o.key, ports)
                );
            }
            None => {
                let _ = writeln!(s, "Output: port {}: {}", o.port, format_key(&o.key, ports));
            }
        }
    }
    for d in &t.drops {
        let _ = writeln!(s, "Dropped: {}", d.name());
    }
    s
}

fn ct_state_text(st: u8) -> String {
    let names: Vec<&str> = crate::flow::ct_state::NAMES
        .iter()
        .filter(|(_, b)| st & b != 0)
        .map(|(n, _)| *n)
        .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

/// A packet's key as a flow string, the fields a packet of its type has (like the `Flow:`
/// line of `ofproto/trace`).
pub fn format_key(key: &Flow, ports: &PortMap) -> String {
    use crate::flow::{eth_type, ip_proto, w};
    let mut mask = Flow::ZERO;
    let full = |m: &mut Flow, f: Field| f.set(m, f.desc().valid);
    full(&mut mask, Field::InPort);
    for f in [Field::RecircId, Field::PktMark] {
        if f.get(key) != 0 {
            full(&mut mask, f);
        }
    }
    if Field::CtState.get(key) != 0 {
        for f in [Field::CtState, Field::CtZone, Field::CtMark] {
            full(&mut mask, f);
        }
        if Field::CtLabel.get(key) != 0 {
            full(&mut mask, Field::CtLabel);
        }
    }
    for i in 0..16 {
        if Field::Reg(i).get(key) != 0 {
            full(&mut mask, Field::Reg(i));
        }
    }
    if Field::Metadata.get(key) != 0 {
        full(&mut mask, Field::Metadata);
    }
    if key.w[w::TUN_ADDR] != 0 || key.w[w::TUN_ID] != 0 {
        for f in [Field::TunId, Field::TunSrc, Field::TunDst] {
            full(&mut mask, f);
        }
        mask.w[w::TUN_FLAGS] |= key.w[w::TUN_FLAGS] & (0xff << 32);
        for i in 0..8u8 {
            if key.w[w::TUN_FLAGS] >> (32 + i) & 1 != 0 {
                full(&mut mask, Field::TunMetadata(i));
            }
        }
    }
    for f in [Field::VlanTci, Field::EthSrc, Field::EthDst, Field::EthType] {
        full(&mut mask, f);
    }
    let ty = Field::EthType.get(key) as u16;
    match ty {
        eth_type::IPV4 | eth_type::IPV6 => {
            if ty == eth_type::IPV4 {
                full(&mut mask, Field::NwSrc);
                full(&mut mask, Field::NwDst);
            } else {
                full(&mut mask, Field::Ipv6Src);
                full(&mut mask, Field::Ipv6Dst);
                full(&mut mask, Field::Ipv6Label);
            }
            for f in [Field::NwProto, Field::NwTtl, Field::NwFrag] {
                full(&mut mask, f);
            }
            mask.w[w::NW_L4] |= 0xff << 8;
            let proto = Field::NwProto.get(key) as u8;
            if matches!(proto, ip_proto::TCP | ip_proto::UDP | ip_proto::SCTP) {
                full(&mut mask, Field::TpSrc);
                full(&mut mask, Field::TpDst);
            }
            if matches!(proto, ip_proto::ICMP | ip_proto::ICMPV6) {
                full(&mut mask, Field::IcmpType);
                full(&mut mask, Field::IcmpCode);
            }
            if proto == ip_proto::TCP {
                full(&mut mask, Field::TcpFlags);
            }
        }
        eth_type::ARP | eth_type::RARP => {
            for f in [
                Field::ArpSpa,
                Field::ArpTpa,
                Field::ArpOp,
                Field::ArpSha,
                Field::ArpTha,
            ] {
                full(&mut mask, f);
            }
        }
        _ => {}
    }
    format_match(
        &Match {
            value: key.masked(&mask),
            mask,
        },
        ports,
        None,
    )
}

/// JSON shape of a trace, for `brisk trace --format json`.
#[derive(Serialize)]
pub struct TraceJson {
    /// Tables in order with the rule that matched.
    pub tables: Vec<TableJson>,
    /// Registers at the end (non-zero ones), as `regN` → value.
    pub registers: std::collections::BTreeMap<String, String>,
    /// ct_state/ct_mark seen at the start of each pass after a recirculation.
    pub conntrack: Vec<CtSeenJson>,
    /// Outputs.
    pub outputs: Vec<OutputJson>,
    /// Drop reasons, if dropped.
    pub drops: Vec<String>,
    /// Megaflow of each pass.
    pub megaflows: Vec<MegaflowJson>,
}

/// A table visit.
#[derive(Serialize)]
pub struct TableJson {
    /// Table id.
    pub table: u8,
    /// Pass (0 = first).
    pub pass: usize,
    /// Priority of the matched rule (`null` on miss).
    pub priority: Option<u16>,
    /// Cookie of the matched rule.
    pub cookie: Option<String>,
    /// The rule's match.
    pub flow: Option<String>,
    /// The rule's actions.
    pub actions: Option<String>,
}

/// Conntrack state seen by a pass.
#[derive(Serialize)]
pub struct CtSeenJson {
    /// Pass index.
    pub pass: usize,
    /// Recirculation id.
    pub recirc_id: u32,
    /// `ct_state` as flags.
    pub ct_state: String,
    /// `ct_mark`.
    pub ct_mark: String,
    /// `ct_zone`.
    pub ct_zone: u16,
}

/// One output.
#[derive(Serialize)]
pub struct OutputJson {
    /// Port number.
    pub port: u32,
    /// Port name.
    pub port_name: Option<String>,
    /// Tunnel destination, for tunnel ports.
    pub tun_dst: Option<String>,
    /// Tunnel source.
    pub tun_src: Option<String>,
    /// Tunnel key.
    pub tun_id: Option<String>,
    /// Tunnel options present (`tun_metadataN` → value).
    pub tun_metadata: std::collections::BTreeMap<String, String>,
    /// The packet's headers as it left.
    pub headers: String,
    /// IP TTL as it left.
    pub ttl: Option<u8>,
}

/// A pass's megaflow.
#[derive(Serialize)]
pub struct MegaflowJson {
    /// Pass index.
    pub pass: usize,
    /// Match.
    #[serde(rename = "match")]
    pub matches: String,
    /// Datapath actions.
    pub actions: String,
}

/// Builds the JSON view of a trace.
pub fn trace_json(t: &PacketTrace, ports: &PortMap) -> TraceJson {
    let mut tables = Vec::new();
    let mut conntrack = Vec::new();
    let mut megaflows = Vec::new();
    for (pi, p) in t.passes.iter().enumerate() {
        if p.recirc_id != 0 {
            conntrack.push(CtSeenJson {
                pass: pi,
                recirc_id: p.recirc_id,
                ct_state: ct_state_text(Field::CtState.get(&p.key) as u8),
                ct_mark: format!("{:#x}", Field::CtMark.get(&p.key)),
                ct_zone: Field::CtZone.get(&p.key) as u16,
            });
        }
        for e in &p.events {
            if let TraceEvent::Table { table, rule, .. } = e {
                tables.push(TableJson {
                    table: *table,
                    pass: pi,
                    priority: rule.as_ref().map(|r| r.priority),
                    cookie: rule.as_ref().map(|r| format!("{:#x}", r.cookie)),
                    flow: rule.as_ref().map(|r| r.matched.clone()),
                    actions: rule.as_ref().map(|r| r.actions.clone()),
                });
            }
        }
        megaflows.push(MegaflowJson {
            pass: pi,
            matches: format_megaflow(&p.key, &p.mask, ports),
            actions: format_dp_actions(&p.actions),
        });
    }
    let mut registers = std::collections::BTreeMap::new();
    if let Some(last) = t.passes.last() {
        for i in 0..16u8 {
            let v = Field::Reg(i).get(&last.final_flow);
            if v != 0 {
                registers.insert(format!("reg{i}"), format!("{v:#x}"));
            }
        }
    }
    let outputs = t
        .outputs
        .iter()
        .map(|o| {
            let mut md = std::collections::BTreeMap::new();
            if let Some(tn) = &o.tunnel {
                for i in 0..8 {
                    if tn.md_present & (1 << i) != 0 {
                        md.insert(format!("tun_metadata{i}"), format!("{:#x}", tn.md[i]));
                    }
                }
            }
            let ty = Field::EthType.get(&o.key) as u16;
            OutputJson {
                port: o.port,
                port_name: ports.name(o.port).map(str::to_string),
                tun_dst: o
                    .tunnel
                    .map(|tn| std::net::Ipv4Addr::from(tn.dst).to_string()),
                tun_src: o
                    .tunnel
                    .filter(|tn| tn.src != 0)
                    .map(|tn| std::net::Ipv4Addr::from(tn.src).to_string()),
                tun_id: o.tunnel.map(|tn| format!("{:#x}", tn.tun_id)),
                tun_metadata: md,
                headers: format_key(&o.key, ports),
                ttl: (ty == crate::flow::eth_type::IPV4 || ty == crate::flow::eth_type::IPV6)
                    .then(|| Field::NwTtl.get(&o.key) as u8),
            }
        })
        .collect();
    TraceJson {
        tables,
        registers,
        conntrack,
        outputs,
        drops: t.drops.iter().map(|d| d.name().to_string()).collect(),
        megaflows,
    }
}
