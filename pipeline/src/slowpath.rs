//! The slow path for one packet: translate, execute, and recirculate until it leaves —
//! optionally recording everything for `trace`.

use crate::bridge::Bridge;
use crate::dpaction::{
    execute, format_dp_actions, CloneFrame, DpAction, DropReason, ExecEnv, Packet, Sink, TunnelMeta,
};
use crate::field::Field;
use crate::flow::{ct_state, Flow};
use crate::ofctl::{format_actions, format_match, IpRange, NatKind, PortMap};
use crate::xlate::{translate, translate_from, Start, TraceEvent};
use serde::Serialize;
use std::collections::VecDeque;

pub use crate::trace_text::{
    ct_state_text, format_key, format_megaflow, format_ofproto_trace, format_trace_text,
    parse_ct_next,
};

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
    /// The flow the pass started with (registers and metadata of a recirculation restored).
    pub initial_flow: Flow,
    /// For a pass after `ct`: the conntrack state it resumed with.
    pub resume: Option<CtResume>,
}

/// The conntrack state a pass after `ct(table=N)` resumed with.
#[derive(Clone, Debug)]
pub struct CtResume {
    /// `ct_state`.
    pub state: u8,
    /// Given (by `--ct-next`, or what a real connection tracker said), not the default.
    pub given: bool,
    /// NAT as simulated: the addresses and ports before and after.
    pub nat: Option<(String, String)>,
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
    /// Packet-ins.
    pub packet_ins: Vec<crate::dpaction::PacketIn>,
    /// Conntrack as `ofproto/trace` has it: `Some` runs no connection tracker's verdict but
    /// resumes each pass after `ct` with the next of these states (`trk|new` once they run
    /// out), NAT taken as the first address and port of its range. `None`: the connection
    /// tracker given decides.
    pub simulate_ct: Option<VecDeque<u8>>,
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
    process_from(bridge, pkt, Start::Actions(actions), now_ms, sink, trace)
}

/// A packet whose first pass starts at `start` (a packet-out's actions, or NXT_RESUME's
/// frozen rest of a paused walk, for a key holding the metadata the controller sent back),
/// then, as any packet, recirculated until it leaves.
pub fn process_from<F: CloneFrame, S: Sink<F>>(
    bridge: &Bridge,
    pkt: Packet<F>,
    start: Start<'_>,
    now_ms: u64,
    sink: &mut S,
    trace: Option<&mut PacketTrace>,
) {
    let ct = &bridge.conntrack;
    run_passes(bridge, ct, pkt, Some(start), now_ms, sink, trace)
}

fn run_passes<F: CloneFrame, S: Sink<F>>(
    bridge: &Bridge,
    conntrack: &crate::conntrack::Conntrack,
    pkt: Packet<F>,
    mut first: Option<Start<'_>>,
    now_ms: u64,
    sink: &mut S,
    mut trace: Option<&mut PacketTrace>,
) {
    let mut env = ExecEnv::new(conntrack, now_ms);
    // A trace runs on the live tables: it takes no meter's tokens (as `ofproto/trace`).
    env.side_effects = trace.is_none();
    let mut queue: Vec<(Packet<F>, u32, Option<CtResume>)> = vec![(pkt, 0, None)];
    // A trace takes recirculations in the order they were made, as OVS's trace does.
    let fifo = trace.is_some();
    while let Some((p, depth, resume)) = if fifo && !queue.is_empty() {
        Some(queue.remove(0))
    } else {
        queue.pop()
    } {
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
            Some(start) => translate_from(bridge, &p.key, start, now_ms, tev),
            None => translate(bridge, &p.key, now_ms, tev),
        };
        let len = p.frame.len() as u64;
        // A trace (`brisk ctl trace` runs on the live tables) sends nothing and counts
        // nothing, as `ofproto/trace`.
        if trace.is_none() {
            crate::tables::credit_hits(&tr.rules, &tr.groups, 1, len, now_ms);
        }
        let simulate = trace.as_ref().is_some_and(|t| t.simulate_ct.is_some());
        if let Some(t) = trace.as_deref_mut() {
            let resume = resume.or_else(|| {
                (!simulate && Field::RecircId.get(&p.key) != 0).then(|| CtResume {
                    state: Field::CtState.get(&p.key) as u8,
                    given: true,
                    nat: None,
                })
            });
            t.passes.push(PassTrace {
                recirc_id: Field::RecircId.get(&p.key) as u32,
                key: p.key,
                events,
                mask: tr.mask,
                actions: tr.actions.clone(),
                final_flow: tr.final_flow,
                initial_flow: tr.initial_flow,
                resume: None,
            });
            if let Some(last) = t.passes.last_mut() {
                last.resume = resume;
            }
        }
        let in_flow = tr.initial_flow;
        // Simulated conntrack changes no address itself: NAT is applied below, as OVS's trace.
        let stripped: Vec<DpAction>;
        let actions: &[DpAction] = if simulate {
            stripped = tr.actions.iter().map(without_nat).collect();
            &stripped
        } else {
            &tr.actions
        };
        let mut wrap = Wrap {
            inner: &mut *sink,
            trace: trace.as_deref_mut(),
        };
        let recircs = execute(actions, p, &env, &mut wrap);
        for mut r in recircs {
            let resume = match trace.as_deref_mut().and_then(|t| t.simulate_ct.as_mut()) {
                Some(next) => simulate_ct(&mut r.key, &in_flow, &tr.actions, next),
                None => None,
            };
            queue.push((r, depth + 1, resume));
        }
    }
}

fn without_nat(a: &DpAction) -> DpAction {
    match a {
        DpAction::Ct(c) if c.nat.is_some() => {
            let mut c = c.clone();
            c.nat = None;
            DpAction::Ct(c)
        }
        other => other.clone(),
    }
}

/// What OVS's trace does to a packet resumed after `ct`: the next `--ct-next` state (or
/// `trk|new`), the `ct` action's zone, the mark and label its `exec` wrote over those the
/// pass started with, and NAT to the first address and port of the range.
fn simulate_ct(
    key: &mut Flow,
    in_flow: &Flow,
    actions: &[DpAction],
    next: &mut VecDeque<u8>,
) -> Option<CtResume> {
    let id = Field::RecircId.get(key) as u32;
    let ct = actions.iter().find_map(|a| match a {
        DpAction::Ct(c) if c.recirc == Some(id) => Some(c),
        _ => None,
    })?;
    let (state, given) = match next.pop_front() {
        Some(s) => (s, true),
        None => (ct_state::TRK | ct_state::NEW, false),
    };
    Field::CtState.set(key, u128::from(state));
    Field::CtZone.set(key, u128::from(ct.zone));
    let mut mark = Field::CtMark.get(in_flow) as u32;
    if let Some((v, m)) = ct.mark {
        mark = (mark & !m) | (v & m);
    }
    Field::CtMark.set(key, u128::from(mark));
    let mut label = Field::CtLabel.get(in_flow);
    if let Some((v, m)) = ct.label {
        label = (label & !m) | (v & m);
    }
    Field::CtLabel.set(key, label);
    let nat = ct.nat.as_ref().map(|n| {
        let v6 = n.addr.map(|(lo, _)| matches!(lo, IpRange::V6(_)));
        let before = crate::trace_text::ip_flow_text(key, v6);
        if let Some((lo, _)) = n.addr {
            let (addr, port) = match n.kind {
                Some(NatKind::Src) => (Some((Field::NwSrc, Field::Ipv6Src)), Field::TpSrc),
                Some(NatKind::Dst) => (Some((Field::NwDst, Field::Ipv6Dst)), Field::TpDst),
                None => (None, Field::TpDst),
            };
            if let Some((f4, f6)) = addr {
                match lo {
                    IpRange::V4(a) => f4.set(key, u128::from(a)),
                    IpRange::V6(a) => f6.set(key, a),
                }
                if let Some((p, _)) = n.ports.filter(|(p, _)| *p != 0) {
                    port.set(key, u128::from(p));
                }
            }
        }
        (before, crate::trace_text::ip_flow_text(key, v6))
    });
    Some(CtResume { state, given, nat })
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
    fn packet_in(&mut self, ctl: &crate::dpaction::DpController, frame: &F, key: &Flow) -> bool {
        if let Some(t) = self.trace.as_deref_mut() {
            t.packet_ins.push(ctl.packet_in(frame.data(), key));
        }
        self.inner.packet_in(ctl, frame, key)
    }
    fn learn(&mut self, flow: &std::sync::Arc<crate::dpaction::LearnedFlow>) -> bool {
        self.inner.learn(flow)
    }
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
                    priority: rule.as_ref().map(|r| r.entry.priority),
                    cookie: rule.as_ref().map(|r| format!("{:#x}", r.entry.cookie)),
                    flow: rule
                        .as_ref()
                        .map(|r| format_match(&r.entry.matches, ports, None)),
                    actions: rule
                        .as_ref()
                        .map(|r| format_actions(&r.entry.actions, ports)),
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
