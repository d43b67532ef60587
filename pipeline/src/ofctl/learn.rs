//! Nicira's `learn` and `controller(...)` with its options, as the flow model holds them
//! and `ovs-ofctl` prints them. `learn` is checked here as OVS's `learn_check` does, and
//! turned into the flow it learns from a packet's fields ([`Learn::execute`], OVS's
//! `learn_execute`); the datapath runs it in `xlate/learn.rs`.

use super::format::subfield;
use super::{port, Action, FlowEntry, FlowFlags, Match, SetField, SetForm};
use crate::field::{prereq_holds, prereq_text, Field, Prereq, Subfield};
use crate::flow::Flow;
use std::fmt::Write;

/// `learn(...)`, as Nicira's NXAST_LEARN and NXAST_LEARN2 carry it.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Learn {
    /// The learned flow's idle timeout.
    pub idle_timeout: u16,
    /// Its hard timeout.
    pub hard_timeout: u16,
    /// Its priority.
    pub priority: u16,
    /// Its cookie.
    pub cookie: u64,
    /// NX_LEARN_F_* (send_flow_rem 1, delete_learned 2, write_result 4).
    pub flags: u16,
    /// The table it goes into.
    pub table_id: u8,
    /// Idle timeout after a TCP FIN or RST.
    pub fin_idle_timeout: u16,
    /// Hard timeout after a TCP FIN or RST.
    pub fin_hard_timeout: u16,
    /// Most flows this action may have learned at once (0: no limit; learn2).
    pub limit: u32,
    /// Bit set to whether learning succeeded (learn2's `result_dst`).
    pub result_dst: Option<Subfield>,
    /// It came as NXAST_LEARN2 (sent back the same way).
    pub learn2: bool,
    /// What the learned flow matches, loads and outputs.
    pub specs: Vec<LearnSpec>,
}

/// One `learn` spec: `n_bits` from a subfield of the packet or an immediate value, into the
/// learned flow's match, into a load action, or as its output port.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct LearnSpec {
    /// Width.
    pub n_bits: u16,
    /// Where the bits come from.
    pub src: LearnSrc,
    /// Where they go.
    pub dst: LearnDst,
}

/// Source of a learn spec's bits.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum LearnSrc {
    /// A subfield of the packet that runs the action.
    Field(Subfield),
    /// A constant, big-endian, `ceil(n_bits / 8)` bytes.
    Imm(Vec<u8>),
}

/// Destination of a learn spec's bits.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum LearnDst {
    /// A match on this subfield.
    Match(Subfield),
    /// A `load` into this subfield.
    Load(Subfield),
    /// An `output` to the port the bits name.
    Output,
}

/// `controller(...)` with Nicira's options.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Controller2 {
    /// Bytes of the packet to send (65535: all).
    pub max_len: u16,
    /// Controller connection id (0: every controller).
    pub id: u16,
    /// Packet-in reason (1: action).
    pub reason: u8,
    /// Bytes handed to the controller with the packet.
    pub userdata: Vec<u8>,
    /// Pause the pipeline for a continuation.
    pub pause: bool,
    /// Meter applied to the packet-ins.
    pub meter_id: Option<u32>,
}

fn hex(b: &[u8]) -> String {
    let v = b.iter().fold(0u128, |a, x| (a << 8) | u128::from(*x));
    format!("{v:#x}")
}

/// An immediate's bytes (big-endian) as a number.
pub fn imm_value(b: &[u8]) -> u128 {
    b.iter().fold(0u128, |a, x| (a << 8) | u128::from(*x))
}

fn prereq_ok(field: Field, m: &Match) -> Result<(), String> {
    let p = field.desc().prereq;
    if p != Prereq::None && !prereq_holds(p, &m.value, &m.mask) {
        return Err(format!(
            "{} requires the flow to match {}",
            field.name(),
            prereq_text(p)
        ));
    }
    Ok(())
}

impl Learn {
    /// OVS's `learn_check`: every source field's prerequisites hold in `src_match` (the
    /// learning flow's match); every learned match field's prerequisites are met by the
    /// immediate matches before it; load destinations are writable. Also refuses what
    /// brisk's datapath does not run: `limit` and `result_dst`.
    pub fn check(&self, src_match: &Match) -> Result<(), String> {
        if self.limit != 0 || self.result_dst.is_some() {
            return Err("limit and result_dst (learn2) are not supported".into());
        }
        let mut dst = Match::CATCHALL;
        for spec in &self.specs {
            if let LearnSrc::Field(src) = &spec.src {
                prereq_ok(src.field, src_match)?;
            }
            match (&spec.dst, &spec.src) {
                (LearnDst::Match(d), src) => {
                    prereq_ok(d.field, &dst)?;
                    if let LearnSrc::Imm(v) = src {
                        dst.set(d.field, imm_value(v) << d.ofs, d.mask());
                    }
                }
                (LearnDst::Load(d), _) => {
                    prereq_ok(d.field, &dst)?;
                    if !d.field.desc().writable {
                        return Err(format!("{} is read-only", d.field.name()));
                    }
                }
                (LearnDst::Output, _) => {}
            }
        }
        Ok(())
    }

    /// The bits of the packet the learned flow depends on (OVS's `learn_mask`): a megaflow
    /// that runs this action matches them exactly.
    pub fn source_bits(&self) -> impl Iterator<Item = &Subfield> {
        self.specs.iter().filter_map(|s| match &s.src {
            LearnSrc::Field(f) => Some(f),
            LearnSrc::Imm(_) => None,
        })
    }

    /// The flow this action learns from a packet whose fields are `flow` (OVS's
    /// `learn_execute`): added, or refreshed when an identical flow is there (the caller
    /// applies it as a strict modify).
    pub fn execute(&self, flow: &Flow) -> FlowEntry {
        let mut matches = Match::CATCHALL;
        let mut actions = Vec::new();
        if self.fin_idle_timeout != 0 || self.fin_hard_timeout != 0 {
            actions.push(Action::FinTimeout {
                idle: self.fin_idle_timeout,
                hard: self.fin_hard_timeout,
            });
        }
        for spec in &self.specs {
            let v = match &spec.src {
                LearnSrc::Field(sf) => sf.get(flow),
                LearnSrc::Imm(b) => imm_value(b),
            };
            match &spec.dst {
                LearnDst::Match(d) => matches.set(d.field, v << d.ofs, d.mask()),
                LearnDst::Load(d) => actions.push(Action::Set(SetField {
                    field: d.field,
                    value: v << d.ofs,
                    mask: d.mask(),
                    form: SetForm::Load,
                })),
                LearnDst::Output => {
                    // As OVS: a port number that fits, or one of the ports an output
                    // may name; anything else is left out of the learned flow.
                    let p = if spec.n_bits <= 16 || v >> 16 == 0 {
                        (v & 0xffff) as u32
                    } else {
                        u32::MAX
                    };
                    if p < port::MAX
                        || matches!(p, port::IN_PORT | port::FLOOD | port::LOCAL | port::ALL)
                    {
                        actions.push(Action::Output(p));
                    }
                }
            }
        }
        FlowEntry {
            table: Some(self.table_id),
            priority: self.priority,
            cookie: self.cookie,
            cookie_mask: 0,
            idle_timeout: self.idle_timeout,
            hard_timeout: self.hard_timeout,
            importance: 0,
            flags: FlowFlags {
                send_flow_rem: self.flags & 1 != 0,
                ..FlowFlags::default()
            },
            out_port: None,
            matches,
            actions,
        }
    }

    /// `delete_learned`: the flows it learned go when the last flow holding it goes.
    pub fn delete_learned(&self) -> bool {
        self.flags & 2 != 0
    }

    /// `learn(...)` as `ovs-ofctl` writes it.
    pub fn format(&self) -> String {
        let mut s = String::from("learn(");
        let _ = write!(s, "table={}", self.table_id);
        for (name, v) in [
            ("idle_timeout", self.idle_timeout),
            ("hard_timeout", self.hard_timeout),
            ("fin_idle_timeout", self.fin_idle_timeout),
            ("fin_hard_timeout", self.fin_hard_timeout),
        ] {
            if v != 0 {
                let _ = write!(s, ",{name}={v}");
            }
        }
        if self.priority != 32768 {
            let _ = write!(s, ",priority={}", self.priority);
        }
        if self.flags & 1 != 0 {
            s.push_str(",send_flow_rem");
        }
        if self.flags & 2 != 0 {
            s.push_str(",delete_learned");
        }
        if self.cookie != 0 {
            let _ = write!(s, ",cookie={:#x}", self.cookie);
        }
        if self.limit != 0 {
            let _ = write!(s, ",limit={}", self.limit);
        }
        if let Some(d) = &self.result_dst {
            let _ = write!(s, ",result_dst={}", subfield(d));
        }
        for spec in &self.specs {
            s.push(',');
            match (&spec.src, &spec.dst) {
                (LearnSrc::Field(src), LearnDst::Match(dst)) if src == dst => {
                    s.push_str(&subfield(dst))
                }
                (LearnSrc::Field(src), LearnDst::Match(dst)) => {
                    let _ = write!(s, "{}={}", subfield(dst), subfield(src));
                }
                (LearnSrc::Imm(v), LearnDst::Match(dst)) if dst.is_whole() => {
                    // OVS's learn_format: a whole field by its name and in its own format.
                    let (f, v) = (dst.field, imm_value(v));
                    let text = if f == Field::EthType {
                        format!("{v:#x}") // mf_format's hex, not a match's 0x0800
                    } else {
                        super::value::format_field_value(f, v, f.desc().valid, &Default::default())
                    };
                    let _ = write!(s, "{}={text}", f.name());
                }
                (LearnSrc::Imm(v), LearnDst::Match(dst)) => {
                    let _ = write!(s, "{}={}", subfield(dst), hex(v));
                }
                (LearnSrc::Field(src), LearnDst::Load(dst)) => {
                    let _ = write!(s, "load:{}->{}", subfield(src), subfield(dst));
                }
                (LearnSrc::Imm(v), LearnDst::Load(dst)) => {
                    let _ = write!(s, "load:{}->{}", hex(v), subfield(dst));
                }
                (LearnSrc::Field(src), LearnDst::Output) => {
                    let _ = write!(s, "output:{}", subfield(src));
                }
                (LearnSrc::Imm(v), LearnDst::Output) => {
                    let _ = write!(s, "output:{}", hex(v));
                }
            }
        }
        s.push(')');
        s
    }
}

impl Controller2 {
    /// `controller(...)` as `ovs-ofctl` writes it.
    pub fn format(&self) -> String {
        // OVS's order: reason, max_len, id, userdata, pause, meter_id.
        let mut parts = Vec::new();
        if self.reason != 1 {
            let name = crate::dpaction::pin_reason::name(self.reason);
            if name == "unknown" {
                parts.push(format!("reason={}", self.reason));
            } else {
                parts.push(format!("reason={name}"));
            }
        }
        if self.max_len != u16::MAX {
            parts.push(format!("max_len={}", self.max_len));
        }
        if self.id != 0 {
            parts.push(format!("id={}", self.id));
        }
        if !self.userdata.is_empty() {
            let hexes: Vec<String> = self.userdata.iter().map(|b| format!("{b:02x}")).collect();
            parts.push(format!("userdata={}", hexes.join(".")));
        }
        if self.pause {
            parts.push("pause".into());
        }
        if let Some(m) = self.meter_id {
            parts.push(format!("meter_id={m}"));
        }
        format!("controller({})", parts.join(","))
    }
}
