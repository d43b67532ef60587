//! Nicira's `learn` and `controller(...)` with its options, as the flow model holds them
//! and `ovs-ofctl` prints them. brisk's datapath runs `controller(...)` (packet-ins and
//! continuations, `xlate/pause.rs`); `learn` is carried by the OpenFlow codec so the switch
//! can refuse it with the right error, and dumps can show it.

use super::format::subfield;
use crate::field::Subfield;
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

impl Learn {
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
