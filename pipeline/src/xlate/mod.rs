//! Translation: walks a packet's flow key through the OpenFlow tables and compiles what the
//! tables do into datapath actions plus the wildcard mask of every key bit that mattered —
//! together, a megaflow.
//!
//! The mask rules, in one place:
//! - A table lookup un-wildcards the bits the classifier consulted (staged).
//! - Reading a field (a `move` source, `output:REG`, NORMAL's MAC lookup, tunnel metadata at
//!   encap, a `ct` zone from a register) un-wildcards it.
//! - Bits the pipeline itself wrote before reading them are *not* un-wildcarded: they are
//!   constants of the megaflow, not properties of the packet. (OVS un-wildcards every field
//!   it sets; brisk's megaflows are therefore wider.)
//! - Header writes are emitted as absolute masked sets at the next output, so they need no
//!   match on the old value. `dec_ttl` is emitted as a relative datapath action that drops
//!   TTL≤1 itself, so megaflows do not match on TTL unless a table reads it.

use crate::bridge::{port_config, Bridge, PortTable};
use crate::dpaction::{DpAction, DropReason, HdrField};
use crate::field::{Field, Subfield};
use crate::flow::{eth_type, w, Flow, KEY_WORDS, VLAN_CFI};
use crate::ofctl::{Action, SetField};
use crate::tables::{Group, OfTables, Rule};
use std::sync::Arc;

mod learn;
mod output;
mod pause;
mod walk;

pub use pause::{Continuation, FrozenSegment};

/// A step of a translation, for `trace`. Each step records the resubmit depth it happened
/// at: a step at depth `k` belongs to the latest table (or group bucket) entered at depth
/// `k - 1`, which is the nesting `ofproto/trace` prints.
#[derive(Clone, Debug)]
pub enum TraceEvent {
    /// A table lookup and the rule it found (`None`: no match).
    Table {
        /// Table id.
        table: u8,
        /// Resubmit depth.
        depth: u32,
        /// The matching rule, if any.
        rule: Option<Arc<Rule>>,
    },
    /// A group bucket entered.
    Bucket {
        /// Resubmit depth.
        depth: u32,
        /// The bucket's id.
        id: u32,
    },
    /// A pass after a recirculation resumes at this table.
    Thaw {
        /// Table the frozen pipeline resumes at.
        table: u8,
    },
    /// An OpenFlow action executed.
    Action {
        /// Resubmit depth.
        depth: u32,
        /// The action.
        action: Action,
    },
    /// An empty action list (a rule's, a table miss's, a `ct`'s `exec`): the packet is
    /// dropped there.
    Drop {
        /// Resubmit depth.
        depth: u32,
    },
    /// A remark (fork to recirculation, NORMAL's decision...).
    Note {
        /// Resubmit depth.
        depth: u32,
        /// Text.
        text: String,
    },
    /// Something that went wrong for this packet (an output skipped, a missing group).
    Warn {
        /// Resubmit depth.
        depth: u32,
        /// Text.
        text: String,
    },
}

impl TraceEvent {
    /// The rule a table step found.
    pub fn rule(&self) -> Option<&Arc<Rule>> {
        match self {
            TraceEvent::Table { rule, .. } => rule.as_ref(),
            _ => None,
        }
    }
}

/// Why a translation failed (the packet is dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XlateError {
    /// The translation budget (resubmit and group nesting, or their count) was spent.
    ResubmitLimit,
    /// No recirculation id could be allocated, or an unknown one was seen.
    Recirc,
    /// An action the datapath cannot perform.
    Unsupported,
}

/// The result of translating one key: a megaflow and what it hit.
pub struct Translation {
    /// Bits of the datapath key that the result depends on.
    pub mask: Flow,
    /// Datapath actions.
    pub actions: Vec<DpAction>,
    /// Rules that matched, for counters.
    pub rules: Vec<Arc<Rule>>,
    /// Group buckets that ran (group, bucket index), for counters.
    pub groups: Vec<(Arc<Group>, u16)>,
    /// Bridge generation the translation was made against.
    pub generation: u64,
    /// MAC-learning generation the translation was made against.
    pub mac_generation: u64,
    /// Whether NORMAL (MAC learning) was involved.
    pub uses_mac_learning: bool,
    /// Underlay generation the translation was made against.
    pub underlay_generation: u64,
    /// Whether a tunnel output was resolved against the underlay (route, neighbour).
    pub uses_underlay: bool,
    /// The bridge's table generation (changes scoped to some tables: learned flows,
    /// timeouts) the translation was made against.
    pub table_generation: u64,
    /// The tables the walk looked up (bit `t` of word `t / 64`): only a change to one of
    /// them can change the translation.
    pub tables: [u64; 4],
    /// Error, if any.
    pub error: Option<XlateError>,
    /// The flow at the end of the walk (registers and all), for traces.
    pub final_flow: Flow,
    /// The flow the walk started with (a recirculated key with its frozen registers and
    /// metadata restored), for traces.
    pub initial_flow: Flow,
}

fn field_mask(f: Field) -> Flow {
    let mut m = Flow::ZERO;
    f.set(&mut m, f.desc().valid);
    m
}

fn subfield_mask(sf: &Subfield) -> Flow {
    let mut m = Flow::ZERO;
    sf.field.set(&mut m, sf.mask());
    m
}

/// Mask of every conntrack field, to clear after `ct`.
fn ct_fields_mask() -> Flow {
    let mut m = field_mask(Field::CtState);
    m.or_with(&field_mask(Field::CtZone));
    m.or_with(&field_mask(Field::CtMark));
    m.or_with(&field_mask(Field::CtLabel));
    m
}

struct Ctx<'a> {
    bridge: &'a Bridge,
    tables: &'a OfTables,
    ports: &'a PortTable,
    now_ms: u64,
    flow: Flow,
    wc: Flow,
    /// Bits written by this translation so far.
    written: Flow,
    /// Header bits written since the last commit.
    dirty: Flow,
    /// Header values as the datapath currently has them (at the last commit).
    base: Flow,
    /// Bits of `base` that are constants (written before the last commit).
    base_known: Flow,
    acts: Vec<DpAction>,
    rules: Vec<Arc<Rule>>,
    groups: Vec<(Arc<Group>, u16)>,
    depth: u32,
    n_resubmits: u32,
    table: u8,
    exit: bool,
    error: Option<XlateError>,
    uses_macs: bool,
    uses_underlay: bool,
    /// Tables looked up so far (bit per table).
    consulted: [u64; 4],
    may_learn: bool,
    /// Cookie of the flow whose actions run (`u64::MAX`: a packet-out's own actions).
    cookie: u64,
    /// The flow whose actions run (`None`: a packet-out's own actions).
    rule: Option<Arc<Rule>>,
    /// That flow is a table-miss flow (priority 0, matching everything).
    table_miss: bool,
    /// Translating a packet-out (its first pass, `resubmit`s included).
    packet_out: bool,
    /// Group buckets being run (nesting).
    in_group: u32,
    /// A `controller(pause)` waiting for the walk to unwind.
    pause: Option<Box<crate::dpaction::DpController>>,
    /// The next table lookup is the walk's first (a received or recirculated packet's).
    first_lookup: bool,
    /// The cookie of the walk's outermost flow: a pause's packet-in carries it, with
    /// table 0, as OVS's does (it is made once the walk has unwound).
    top_cookie: u64,
    /// What the unwinding levels left, innermost first.
    frozen: Vec<FrozenSegment>,
    trace: Option<&'a mut Vec<TraceEvent>>,
}

impl Ctx<'_> {
    /// A remark for a trace. `text` is formatted only when tracing (pass `format_args!`,
    /// not `format!`): translations for the datapath pay nothing for it.
    fn note(&mut self, text: impl std::fmt::Display) {
        if self.trace.is_some() {
            let depth = self.depth;
            self.trace_event(TraceEvent::Note {
                depth,
                text: text.to_string(),
            });
        }
    }

    /// A warning for a trace, formatted only when tracing.
    fn warn(&mut self, text: impl std::fmt::Display) {
        if self.trace.is_some() {
            let depth = self.depth;
            self.trace_event(TraceEvent::Warn {
                depth,
                text: text.to_string(),
            });
        }
    }

    fn trace_event(&mut self, e: TraceEvent) {
        if let Some(t) = self.trace.as_deref_mut() {
            t.push(e);
        }
    }

    /// Un-wildcards the bits of `mask` that the packet, not the pipeline, determined.
    fn read_bits(&mut self, mask: &Flow) {
        for i in 0..KEY_WORDS {
            self.wc.w[i] |= mask.w[i] & !self.written.w[i];
        }
    }

    fn read(&mut self, f: Field) -> u128 {
        self.read_bits(&field_mask(f));
        f.get(&self.flow)
    }

    fn read_sf(&mut self, sf: &Subfield) -> u128 {
        self.read_bits(&subfield_mask(sf));
        sf.get(&self.flow)
    }

    fn write_bits(&mut self, mask: &Flow) {
        self.written.or_with(mask);
        self.dirty.or_with(mask);
    }

    fn do_set(&mut self, s: &SetField) {
        let f = s.field;
        let old = f.get(&self.flow);
        f.set(&mut self.flow, (old & !s.mask) | (s.value & s.mask));
        let mut m = Flow::ZERO;
        f.set(&mut m, s.mask);
        match f {
            Field::DlVlan | Field::DlVlanPcp => {
                // Setting a VID or PCP on an untagged packet tags it (OpenFlow 1.0).
                let tci = Field::VlanTci.get(&self.flow) as u16 | VLAN_CFI;
                Field::VlanTci.set(&mut self.flow, u128::from(tci));
                let mt = Field::VlanTci.get(&m) as u16 | VLAN_CFI;
                Field::VlanTci.set(&mut m, u128::from(mt));
            }
            Field::TunMetadata(n) => {
                self.flow.w[w::TUN_FLAGS] |= 1u64 << (32 + u32::from(n));
                m.w[w::TUN_FLAGS] |= 1u64 << (32 + u32::from(n));
            }
            _ => {}
        }
        self.write_bits(&m);
    }

    /// Emits datapath sets for header fields written since the last commit.
    fn commit(&mut self) {
        if self.dirty.is_zero() {
            return;
        }
        let d = self.dirty;
        // VLAN tag.
        let tci_d = Field::VlanTci.get(&d) as u16;
        if tci_d != 0 {
            let mut cfi = Flow::ZERO;
            Field::VlanTci.set(&mut cfi, u128::from(VLAN_CFI));
            for i in 0..KEY_WORDS {
                self.wc.w[i] |= cfi.w[i] & !self.base_known.w[i];
            }
            let old = Field::VlanTci.get(&self.base) as u16;
            let new = Field::VlanTci.get(&self.flow) as u16;
            match (old & VLAN_CFI != 0, new & VLAN_CFI != 0) {
                (false, true) => self.acts.push(DpAction::PushVlan(new)),
                (true, false) => self.acts.push(DpAction::PopVlan),
                (true, true) => self.acts.push(DpAction::Set {
                    field: HdrField::VlanTci,
                    value: u128::from(new),
                    mask: u128::from(tci_d & !VLAN_CFI),
                }),
                (false, false) => {}
            }
        }
        let put = |acts: &mut Vec<DpAction>, f: Field, h: HdrField, flow: &Flow| {
            let m = f.get(&d);
            if m != 0 {
                acts.push(DpAction::Set {
                    field: h,
                    value: f.get(flow) & m,
                    mask: m,
                });
            }
        };
        let flow = self.flow;
        put(&mut self.acts, Field::EthSrc, HdrField::EthSrc, &flow);
        put(&mut self.acts, Field::EthDst, HdrField::EthDst, &flow);
        let ty = self.read(Field::EthType) as u16;
        match ty {
            eth_type::IPV4 | eth_type::IPV6 => {
                if ty == eth_type::IPV4 {
                    put(&mut self.acts, Field::NwSrc, HdrField::Ipv4Src, &flow);
                    put(&mut self.acts, Field::NwDst, HdrField::Ipv4Dst, &flow);
                } else {
                    put(&mut self.acts, Field::Ipv6Src, HdrField::Ipv6Src, &flow);
                    put(&mut self.acts, Field::Ipv6Dst, HdrField::Ipv6Dst, &flow);
                }
                let tos_m = (d.w[w::NW_L4] >> 8) as u8;
                if tos_m != 0 {
                    self.acts.push(DpAction::Set {
                        field: HdrField::IpTos,
                        value: u128::from((flow.w[w::NW_L4] >> 8) as u8 & tos_m),
                        mask: u128::from(tos_m),
                    });
                }
                put(&mut self.acts, Field::NwTtl, HdrField::IpTtl, &flow);
                let ports_dirty = Field::TpSrc.get(&d) != 0 || Field::TpDst.get(&d) != 0;
                if ports_dirty {
                    let proto = self.read(Field::NwProto) as u8;
                    if matches!(proto, 6 | 17 | 132) {
                        put(&mut self.acts, Field::TpSrc, HdrField::TpSrc, &flow);
                        put(&mut self.acts, Field::TpDst, HdrField::TpDst, &flow);
                    } else {
                        self.note("rewriting ICMP type/code is not supported by the datapath");
                        self.error = Some(XlateError::Unsupported);
                        self.exit = true;
                    }
                }
            }
            eth_type::ARP | eth_type::RARP => {
                put(&mut self.acts, Field::ArpOp, HdrField::ArpOp, &flow);
                put(&mut self.acts, Field::ArpSpa, HdrField::ArpSpa, &flow);
                put(&mut self.acts, Field::ArpTpa, HdrField::ArpTpa, &flow);
                put(&mut self.acts, Field::ArpSha, HdrField::ArpSha, &flow);
                put(&mut self.acts, Field::ArpTha, HdrField::ArpTha, &flow);
            }
            _ => {}
        }
        for i in 0..KEY_WORDS {
            self.base.w[i] = (self.base.w[i] & !d.w[i]) | (self.flow.w[i] & d.w[i]);
        }
        self.base_known.or_with(&d);
        self.dirty = Flow::ZERO;
    }
}

/// Translates `key` (a packet's datapath key, with `recirc_id` saying which pass this is).
/// With `trace`, every table, rule and action is recorded.
pub fn translate(
    bridge: &Bridge,
    key: &Flow,
    now_ms: u64,
    trace: Option<&mut Vec<TraceEvent>>,
) -> Translation {
    translate_from(bridge, key, Start::Tables, now_ms, trace)
}

/// Where a translation starts.
#[derive(Clone, Copy)]
pub enum Start<'a> {
    /// Table 0, or the table a recirculation resumes at.
    Tables,
    /// A packet-out's actions.
    Actions(&'a [Action]),
    /// NXT_RESUME: the frozen rest of a paused walk. The key passed holds the metadata
    /// the controller sent back (registers, `metadata` included): it is not cleared.
    Resume(&'a Continuation),
}

/// Continues a walk that `controller(pause)` froze (NXT_RESUME), for `flow`: the packet's
/// key with the metadata the controller sent back (input port, tunnel, conntrack state,
/// registers, `metadata`).
pub fn translate_resume(
    bridge: &Bridge,
    flow: &Flow,
    cont: &Continuation,
    now_ms: u64,
    trace: Option<&mut Vec<TraceEvent>>,
) -> Translation {
    translate_from(bridge, flow, Start::Resume(cont), now_ms, trace)
}

/// Translates `actions` applied to `key` (a controller's packet-out): the actions run as
/// a rule's would, and `resubmit` enters the tables. Later passes (after `ct(table=N)`)
/// continue with [`translate`].
pub fn translate_actions(
    bridge: &Bridge,
    key: &Flow,
    actions: &[Action],
    now_ms: u64,
    trace: Option<&mut Vec<TraceEvent>>,
) -> Translation {
    translate_from(bridge, key, Start::Actions(actions), now_ms, trace)
}

/// Translates `key` from `start`.
pub fn translate_from(
    bridge: &Bridge,
    key: &Flow,
    start: Start<'_>,
    now_ms: u64,
    trace: Option<&mut Vec<TraceEvent>>,
) -> Translation {
    let generation = bridge.generation();
    let mac_generation = bridge.mac_generation();
    // Read before the underlay itself: a change racing with this translation leaves the
    // megaflow stale, never wrong.
    let underlay_generation = bridge.underlay_generation();
    let table_generation = bridge.table_generation();
    let tables = bridge.tables();
    let ports = bridge.ports();
    let mut flow = *key;
    if !matches!(start, Start::Resume(_)) {
        flow.clear_metadata();
    }
    let mut ctx = Ctx {
        bridge,
        tables: &tables,
        ports: &ports,
        now_ms,
        flow,
        wc: Flow::ZERO,
        written: Flow::ZERO,
        dirty: Flow::ZERO,
        base: flow,
        base_known: Flow::ZERO,
        acts: Vec::new(),
        rules: Vec::new(),
        groups: Vec::new(),
        depth: 0,
        n_resubmits: 0,
        table: 0,
        exit: false,
        error: None,
        uses_macs: false,
        uses_underlay: false,
        consulted: [0; 4],
        may_learn: true,
        rule: None,
        cookie: if matches!(start, Start::Actions(_)) {
            u64::MAX
        } else {
            0
        },
        table_miss: false,
        packet_out: matches!(start, Start::Actions(_)),
        in_group: 0,
        pause: None,
        first_lookup: matches!(start, Start::Tables),
        top_cookie: if matches!(start, Start::Actions(_)) {
            u64::MAX
        } else {
            0
        },
        frozen: Vec::new(),
        trace,
    };
    // Megaflows always match the input port and the recirculation id exactly.
    ctx.wc.w[w::PORT] = u64::MAX;
    let recirc = Field::RecircId.get(key) as u32;
    let table = if recirc == 0 || !matches!(start, Start::Tables) {
        0
    } else {
        match bridge.frozen(recirc) {
            Some(st) => {
                ctx.written = st.restore(&mut ctx.flow);
                ctx.base = ctx.flow;
                ctx.trace_event(TraceEvent::Thaw { table: st.table });
                st.table
            }
            None => {
                ctx.note(format_args!(
                    "unknown recirculation id {recirc:#x}: dropping"
                ));
                ctx.error = Some(XlateError::Recirc);
                ctx.exit = true;
                0
            }
        }
    };
    let initial = ctx.flow;
    if let Start::Actions(actions) = start {
        ctx.note("packet-out: the controller's actions");
        ctx.do_actions(actions);
    } else if let Start::Resume(cont) = start {
        ctx.note("resuming: the rest of a paused walk (NXT_RESUME)");
        ctx.resume(cont);
    } else if recirc == 0 && !ctx.exit {
        let in_port = Field::InPort.get(key) as u32;
        let off = ports.get(in_port).map_or(0, |p| {
            p.config & (port_config::PORT_DOWN | port_config::NO_RECV)
        });
        if off != 0 {
            ctx.note(format_args!(
                "input port {in_port} is {} (port-mod): dropping",
                if off & port_config::PORT_DOWN != 0 {
                    "down"
                } else {
                    "no-receive"
                }
            ));
            ctx.exit = true;
        }
        if let Some(mac) = ports
            .get(in_port)
            .and_then(|p| p.proxy_arp)
            .filter(|_| !ctx.exit)
        {
            ctx.read(Field::EthType);
            if Field::EthType.get(key) as u16 == eth_type::ARP {
                ctx.read(Field::ArpOp);
                if Field::ArpOp.get(key) == 1 {
                    ctx.note(format_args!(
                        "proxy ARP on port {in_port}: answering with {}",
                        crate::ofctl::format_mac(mac)
                    ));
                    ctx.acts.push(DpAction::ArpReply(mac));
                    ctx.exit = true;
                }
            }
        }
    }
    if matches!(start, Start::Tables) && !ctx.exit {
        ctx.lookup_table(table);
    }
    ctx.finish_pause(ctx.top_cookie);
    let initial_flow = initial;
    let mut actions = std::mem::take(&mut ctx.acts);
    // Header writes that no output, conntrack or recirculation follows change nothing
    // anyone sees: the megaflow drops the packet without them (as OVS commits writes only
    // at an output). A relative `dec_ttl` among them leaves with them, so the megaflow
    // matches the TTL (as OVS's `dec_ttl` always does): a packet of TTL 0 or 1 stops at the
    // `dec_ttl` (`ttl_expired`) and must not share the megaflow of one that goes on to be
    // dropped as `no_output` (found by the datapath differential fuzzer).
    while let Some(
        a @ (DpAction::Set { .. } | DpAction::DecTtl | DpAction::PushVlan(_) | DpAction::PopVlan),
    ) = actions.last()
    {
        if *a == DpAction::DecTtl {
            ctx.read(Field::NwTtl);
        }
        actions.pop();
    }
    if let Some(e) = ctx.error {
        actions.clear();
        actions.push(DpAction::Drop(match e {
            XlateError::ResubmitLimit => DropReason::ResubmitLimit,
            XlateError::Recirc => DropReason::RecircLimit,
            XlateError::Unsupported => DropReason::Unsupported,
        }));
    }
    let mut mask = ctx.wc;
    for x in &mut mask.w[KEY_WORDS..] {
        *x = 0;
    }
    Translation {
        mask,
        actions,
        rules: ctx.rules,
        groups: ctx.groups,
        generation,
        mac_generation,
        uses_mac_learning: ctx.uses_macs,
        underlay_generation,
        uses_underlay: ctx.uses_underlay,
        table_generation,
        tables: ctx.consulted,
        error: ctx.error,
        final_flow: ctx.flow,
        initial_flow,
    }
}
