//! A trace as `ovs-appctl ofproto/trace` prints one, line for line: the flow, the bridge's
//! tables nested as OVS nests them (a resubmit that is the last thing a table does is not
//! indented further), each pass's final flow, megaflow and datapath actions, and the
//! recirculations after `ct` with the conntrack state they resume with.

use crate::dpaction::format_dp_actions;
use crate::field::Field;
use crate::flow::{ct_state, Flow, KEY_WORDS};
use crate::ofctl::{format_actions, format_datapath_match, format_match, Match, PortMap};
use crate::slowpath::{CtResume, PacketTrace, PassTrace};
use crate::xlate::TraceEvent;
use std::fmt::Write;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bridge,
    Table,
    Bucket,
    Thaw,
    Action,
    Detail,
    Warn,
}

impl Kind {
    /// OVS's terminal nodes (a bucket counts as one, though it holds its actions): they
    /// are indented under their parent even when last.
    fn terminal(self) -> bool {
        matches!(
            self,
            Kind::Action | Kind::Detail | Kind::Warn | Kind::Bucket
        )
    }
}

struct Node {
    kind: Kind,
    text: String,
    subs: Vec<usize>,
}

/// One pass's steps as OVS's tree: the bridge holds the first table; a step at depth `k`
/// belongs to the latest table or bucket entered at depth `k - 1`.
fn pass_tree(p: &PassTrace, ports: &PortMap, bridge: &str) -> Vec<Node> {
    let mut nodes = vec![Node {
        kind: Kind::Bridge,
        text: format!("bridge(\"{bridge}\")"),
        subs: Vec::new(),
    }];
    let mut containers: Vec<usize> = Vec::new();
    fn add(nodes: &mut Vec<Node>, parent: usize, kind: Kind, text: String) -> usize {
        nodes.push(Node {
            kind,
            text,
            subs: Vec::new(),
        });
        let id = nodes.len() - 1;
        nodes[parent].subs.push(id);
        id
    }
    let parent_of = |containers: &Vec<usize>, depth: u32| -> usize {
        match depth as usize {
            0 => 0,
            d => containers
                .get(d - 1)
                .or(containers.last())
                .copied()
                .unwrap_or(0),
        }
    };
    let enter = |containers: &mut Vec<usize>, depth: u32, id: usize| {
        let d = depth as usize;
        containers.truncate(d);
        while containers.len() < d {
            containers.push(containers.last().copied().unwrap_or(0));
        }
        containers.push(id);
    };
    for e in &p.events {
        match e {
            TraceEvent::Thaw { table } => {
                let t = add(&mut nodes, 0, Kind::Thaw, "thaw".into());
                add(
                    &mut nodes,
                    t,
                    Kind::Thaw,
                    format!("Resuming from table {table}"),
                );
            }
            TraceEvent::Table { table, depth, rule } => {
                let text = match rule {
                    None => format!("{table:2}. No match."),
                    Some(r) => {
                        let m = format_match(&r.entry.matches, ports, None);
                        let mut t = format!("{table:2}. {m}");
                        if !m.is_empty() {
                            t.push_str(", ");
                        }
                        let _ = write!(t, "priority {}", r.entry.priority);
                        if r.entry.cookie != 0 {
                            let _ = write!(t, ", cookie {:#x}", r.entry.cookie);
                        }
                        t
                    }
                };
                let parent = parent_of(&containers, *depth);
                let id = add(&mut nodes, parent, Kind::Table, text);
                enter(&mut containers, *depth, id);
            }
            TraceEvent::Bucket { depth, id } => {
                let parent = parent_of(&containers, *depth);
                let n = add(&mut nodes, parent, Kind::Bucket, format!("bucket {id}"));
                enter(&mut containers, *depth, n);
            }
            TraceEvent::Action { depth, action } => {
                let text = format_actions(std::slice::from_ref(action), ports);
                let parent = parent_of(&containers, *depth);
                add(&mut nodes, parent, Kind::Action, text);
            }
            TraceEvent::Drop { depth } => {
                let parent = parent_of(&containers, *depth);
                add(&mut nodes, parent, Kind::Action, "drop".into());
            }
            TraceEvent::Note { depth, text } => {
                let parent = parent_of(&containers, *depth);
                add(&mut nodes, parent, Kind::Detail, text.clone());
            }
            TraceEvent::Warn { depth, text } => {
                let parent = parent_of(&containers, *depth);
                add(&mut nodes, parent, Kind::Warn, text.clone());
            }
        }
    }
    nodes
}

/// OVS's `oftrace_node_print_details`: a node is indented one step more than its list's
/// level unless it is the list's last and may hold others; its children follow at two
/// steps more under the same rule.
fn render(nodes: &[Node], list: &[usize], level: usize, out: &mut String) {
    for (i, &n) in list.iter().enumerate() {
        let node = &nodes[n];
        if node.kind == Kind::Bridge {
            out.push('\n');
        }
        let more = usize::from(i + 1 < list.len() || node.kind.terminal());
        let indent = " ".repeat((level + more) * 4);
        out.push_str(&indent);
        match node.kind {
            Kind::Detail => {
                let _ = writeln!(out, " -> {}", node.text);
            }
            Kind::Warn => {
                let _ = writeln!(out, " >> {}", node.text);
            }
            Kind::Bridge => {
                let _ = writeln!(out, "{}", node.text);
                let _ = writeln!(out, "{indent}{}", "-".repeat(node.text.len()));
            }
            _ => {
                let _ = writeln!(out, "{}", node.text);
            }
        }
        render(nodes, &node.subs, level + 2 * more, out);
    }
}

/// The trace as `ovs-appctl ofproto/trace` prints it. `ports` names ports (OVS's
/// `--names`); an empty map prints numbers, as OVS does by default.
pub fn format_ofproto_trace(t: &PacketTrace, ports: &PortMap, bridge_name: &str) -> String {
    let mut s = String::new();
    for (i, p) in t.passes.iter().enumerate() {
        if i > 0 {
            let _ = write!(s, "\n\n{}\nrecirc({:#x})", "=".repeat(79), p.recirc_id);
            if let Some(r) = &p.resume {
                put_resume(&mut s, r);
            }
            let _ = write!(s, "\n{}\n\n", "=".repeat(79));
        }
        let _ = writeln!(s, "Flow: {}", format_key(&p.initial_flow, ports));
        let nodes = pass_tree(p, ports, bridge_name);
        render(&nodes, &[0], 0, &mut s);
        let _ = write!(s, "\nFinal flow: ");
        if flows_equal(&p.initial_flow, &p.final_flow) {
            s.push_str("unchanged");
        } else {
            s.push_str(&format_key(&p.final_flow, ports));
        }
        let _ = writeln!(s, "\nMegaflow: {}", format_megaflow(&p.key, &p.mask, ports));
        let _ = write!(
            s,
            "Datapath actions: {}",
            dp_actions_text(&p.actions, ports)
        );
    }
    s.push('\n');
    s
}

/// Datapath actions, outputs named as OVS names them under `--names`.
fn dp_actions_text(actions: &[crate::dpaction::DpAction], ports: &PortMap) -> String {
    use crate::dpaction::DpAction;
    if actions.iter().all(DpAction::is_learn) {
        return format_dp_actions(actions);
    }
    actions
        .iter()
        .filter(|a| !a.is_learn())
        .map(|a| match a {
            DpAction::Output(p) => ports.name(*p).map_or_else(|| p.to_string(), str::to_string),
            a => a.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn put_resume(s: &mut String, r: &CtResume) {
    if r.given {
        let _ = write!(
            s,
            " - resume conntrack with ct_state={}",
            ct_state_text(r.state)
        );
    } else {
        s.push_str(
            " - resume conntrack with default ct_state=trk|new (use --ct-next to customize)",
        );
    }
    if let Some((before, after)) = &r.nat {
        let _ = write!(
            s,
            "\nReplacing src/dst IP/ports to simulate NAT:\n Initial flow: {before}\n Modified flow: {after}"
        );
    }
}

fn flows_equal(a: &Flow, b: &Flow) -> bool {
    a.w == b.w
}

/// [`format_ofproto_trace`], then where brisk's datapath sent the packet: `brisk ctl trace`
/// and `brisk trace` add this, `ofproto/trace` does not.
pub fn format_trace_text(t: &PacketTrace, ports: &PortMap, bridge_name: &str) -> String {
    let mut s = format_ofproto_trace(t, ports, bridge_name);
    s.push('\n');
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

/// `ct_state` flags as OVS prints a state (`est|trk`; `0` for none).
pub fn ct_state_text(st: u8) -> String {
    crate::ofctl::value::format_flags(&ct_state::NAMES, u128::from(st), 0xff, 0xff, true)
}

/// Parses `--ct-next`'s state as OVS does (`trk,est`; brisk also takes `trk|est` and
/// `+trk+est`), with OVS's checks of what a tracked packet's state may be.
pub fn parse_ct_next(text: &str) -> Result<u8, String> {
    let mut st = 0u8;
    for tok in text.split([',', ' ', '|', '+']).filter(|t| !t.is_empty()) {
        let bit = ct_state::NAMES
            .iter()
            .find(|(n, _)| *n == tok)
            .map(|(_, b)| *b)
            .ok_or_else(|| format!("{tok}: unknown connection tracking state flag"))?;
        st |= bit;
    }
    let shown = ct_state_text(st);
    if st != 0 && st & ct_state::TRK == 0 {
        return Err(format!(
            "{shown}: invalid connection state: If \"trk\" is unset, no other flags are set"
        ));
    }
    if st & ct_state::INV != 0 && st & !(ct_state::TRK | ct_state::INV) != 0 {
        return Err(format!(
            "{shown}: invalid connection state: when \"inv\" is set, only \"trk\" may also be set"
        ));
    }
    if st & ct_state::NEW != 0 && st & ct_state::EST != 0 {
        return Err(format!(
            "{shown}: invalid connection state: \"new\" and \"est\" are mutually exclusive"
        ));
    }
    if st & ct_state::NEW != 0 && st & ct_state::RPL != 0 {
        return Err(format!(
            "{shown}: invalid connection state: \"new\" and \"rpy\" are mutually exclusive"
        ));
    }
    Ok(st)
}

/// Formats a megaflow (key under mask) the way OVS's trace shows it: `recirc_id` always,
/// then the packet type.
pub fn format_megaflow(key: &Flow, mask: &Flow, ports: &PortMap) -> String {
    let mut m = Match {
        value: key.masked(mask),
        mask: *mask,
    };
    for i in KEY_WORDS..crate::flow::FLOW_WORDS {
        m.value.w[i] = 0;
        m.mask.w[i] = 0;
    }
    Field::RecircId.set(&mut m.mask, u128::from(u32::MAX));
    Field::RecircId.set(&mut m.value, Field::RecircId.get(key));
    format_datapath_match(&m, ports, None)
}

/// A packet's key as OVS's `flow_format` prints it: every header field a packet of its type
/// has, and of the metadata only what is not zero.
pub fn format_key(key: &Flow, ports: &PortMap) -> String {
    use crate::flow::{eth_type, ip_proto, w};
    let mut mask = Flow::ZERO;
    let full = |m: &mut Flow, f: Field| f.set(m, f.desc().valid);
    full(&mut mask, Field::InPort);
    for f in [
        Field::RecircId,
        Field::PktMark,
        Field::CtState,
        Field::CtZone,
        Field::CtMark,
        Field::CtLabel,
        Field::Metadata,
    ] {
        if f.get(key) != 0 {
            full(&mut mask, f);
        }
    }
    for i in 0..16 {
        if Field::Reg(i).get(key) != 0 {
            full(&mut mask, Field::Reg(i));
        }
    }
    let tunnel = (Field::TunSrc.get(key) != 0 || Field::TunDst.get(key) != 0)
        .then(|| tunnel_text(key, ports));
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
    format_datapath_match(
        &Match {
            value: key.masked(&mask),
            mask,
        },
        ports,
        tunnel.as_deref(),
    )
}

/// A received packet's tunnel metadata as OVS's `flow_format` prints it: every field of
/// OVS's tunnel key (those brisk has no use for are zero), `tun_id` when not zero (OVS: when
/// the key flag is set, which a traced flow without `tun_flags` never has), then the
/// Geneve options present.
fn tunnel_text(key: &Flow, ports: &PortMap) -> String {
    use crate::flow::w;
    let ip = |f: Field| std::net::Ipv4Addr::from(f.get(key) as u32);
    let mut s = String::new();
    let id = Field::TunId.get(key);
    if id != 0 {
        let _ = write!(s, "tun_id={id:#x},");
    }
    let _ = write!(
        s,
        "tun_src={},tun_dst={},tun_ipv6_src=::,tun_ipv6_dst=::,tun_gbp_id=0,tun_gbp_flags=0,\
         tun_tos={},tun_ttl={},tun_erspan_ver=0,gtpu_flags=0,gtpu_msgtype=0,tun_flags={},",
        ip(Field::TunSrc),
        ip(Field::TunDst),
        Field::TunTos.get(key),
        Field::TunTtl.get(key),
        if Field::TunFlags.get(key) & 1 != 0 {
            "oam"
        } else {
            "0"
        }
    );
    // The options present, through the match printer.
    let mut m = Match {
        value: Flow::ZERO,
        mask: Flow::ZERO,
    };
    let present = key.w[w::TUN_FLAGS] & (0xff << 32);
    m.value.w[w::TUN_FLAGS] = present;
    m.mask.w[w::TUN_FLAGS] = present;
    for i in 0..8u8 {
        if present >> (32 + i) & 1 != 0 {
            let f = Field::TunMetadata(i);
            f.set(&mut m.value, f.get(key));
            f.set(&mut m.mask, f.desc().valid);
        }
    }
    s.push_str(&format_match(&m, ports, None));
    if !s.ends_with(',') {
        s.push(',');
    }
    s
}

/// OVS's `oftrace_print_ip_flow`: the addresses and ports NAT may change.
pub(crate) fn ip_flow_text(key: &Flow, v6: Option<bool>) -> String {
    let ip4 = |f: Field| std::net::Ipv4Addr::from(f.get(key) as u32).to_string();
    let ip6 = |f: Field| format!("[{}]", std::net::Ipv6Addr::from(f.get(key)));
    let (sp, dp) = (Field::TpSrc.get(key), Field::TpDst.get(key));
    match v6 {
        Some(false) => format!(
            "nw_src={},tp_src={sp},nw_dst={},tp_dst={dp}",
            ip4(Field::NwSrc),
            ip4(Field::NwDst)
        ),
        Some(true) => format!(
            "ipv6_src={},tp_src={sp},ipv6_dst={},tp_dst={dp}",
            ip6(Field::Ipv6Src),
            ip6(Field::Ipv6Dst)
        ),
        None => String::new(),
    }
}
