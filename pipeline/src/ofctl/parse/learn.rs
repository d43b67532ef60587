//! `learn(...)` as `ovs-ofctl` writes it: the learned flow's table, priority, timeouts,
//! cookie and flags, then its specs (`FIELD[]`, `DST[]=SRC[]`, `DST=VALUE`,
//! `load:SRC->DST`, `load:VALUE->DST`, `output:SRC`), checked as OVS's `learn_check`.

use super::actions::Act;
use super::items::{err, items};
use super::subfield::parse_subfield;
use crate::field::{Field, Subfield};
use crate::ofctl::value::{parse_field_value, parse_int, parse_uint};
use crate::ofctl::{Learn, LearnDst, LearnSpec, LearnSrc, ParseError};

/// The low `n_bits` of `v` as `ceil(n_bits / 8)` big-endian bytes (the model's immediate).
pub(crate) fn imm_bytes(v: u128, n_bits: u32) -> Vec<u8> {
    let n = n_bits.div_ceil(8) as usize;
    v.to_be_bytes()[16 - n..].to_vec()
}

/// A subfield when `s` names one (`NXM_OF_IP_SRC[]`, `reg3`, `nw_src`).
fn as_subfield(s: &str) -> Option<Subfield> {
    parse_subfield(s).ok()
}

/// `learn(...)`.
pub(super) fn learn(a: Act) -> Result<crate::ofctl::Action, ParseError> {
    let mut l = Learn {
        idle_timeout: 0,
        hard_timeout: 0,
        priority: crate::ofctl::DEFAULT_PRIORITY,
        cookie: 0,
        flags: 0,
        table_id: 1,
        fin_idle_timeout: 0,
        fin_hard_timeout: 0,
        limit: 0,
        result_dst: None,
        learn2: false,
        specs: Vec::new(),
    };
    for sub in items(a.it.value, a.it.value_off)? {
        let bad = |m: String| err(sub.value_off, sub.value, m);
        let num = |bits: u32| parse_uint(sub.value, bits, sub.key).map_err(bad);
        match sub.key {
            "table" => {
                l.table_id = num(8)? as u8;
                if l.table_id == 255 {
                    return Err(bad("learn: table 255 is not a table".into()));
                }
            }
            "priority" => l.priority = num(16)? as u16,
            "idle_timeout" => l.idle_timeout = num(16)? as u16,
            "hard_timeout" => l.hard_timeout = num(16)? as u16,
            "fin_idle_timeout" => l.fin_idle_timeout = num(16)? as u16,
            "fin_hard_timeout" => l.fin_hard_timeout = num(16)? as u16,
            "cookie" => l.cookie = num(64)? as u64,
            "limit" => l.limit = num(32)? as u32,
            "send_flow_rem" => l.flags |= 1,
            "delete_learned" => l.flags |= 2,
            "result_dst" => {
                let d = parse_subfield(sub.value).map_err(bad)?;
                if d.n_bits != 1 {
                    return Err(bad("result_dst must be a single bit".into()));
                }
                l.flags |= 4;
                l.result_dst = Some(d);
            }
            "load" => l.specs.push(load_spec(sub.value).map_err(bad)?),
            "output" => {
                let src = parse_subfield(sub.value).map_err(bad)?;
                l.specs.push(LearnSpec {
                    n_bits: u16::from(src.n_bits),
                    src: LearnSrc::Field(src),
                    dst: LearnDst::Output,
                });
            }
            _ => {
                let spec =
                    match_spec(sub.key, sub.value, a).map_err(|m| err(sub.key_off, sub.key, m))?;
                l.specs.push(spec);
            }
        }
    }
    l.learn2 = l.limit != 0 || l.result_dst.is_some();
    l.check(a.m).map_err(|m| a.at_key(format!("learn: {m}")))?;
    Ok(crate::ofctl::Action::Learn(Box::new(l)))
}

/// `load:SRC[]->DST[]` or `load:VALUE->DST[]`.
fn load_spec(v: &str) -> Result<LearnSpec, String> {
    let (src, dst) = v
        .split_once("->")
        .ok_or("load syntax is load:SRC->DST or load:VALUE->DST")?;
    let dst = parse_subfield(dst)?;
    let n = u32::from(dst.n_bits);
    let src = if let Some(sf) = as_subfield(src) {
        if sf.n_bits != dst.n_bits {
            return Err(format!(
                "bit widths of {src} ({}) and the destination ({}) differ",
                sf.n_bits, dst.n_bits
            ));
        }
        LearnSrc::Field(sf)
    } else {
        let v = parse_int(src).ok_or_else(|| format!("{src}: not a subfield or a number"))?;
        if v > crate::field::bit_ones(n) {
            return Err(format!("value {src} does not fit into {n} bits"));
        }
        LearnSrc::Imm(imm_bytes(v, n))
    };
    Ok(LearnSpec {
        n_bits: u16::from(dst.n_bits),
        src,
        dst: LearnDst::Load(dst),
    })
}

/// `DST[]` (the packet's own value), `DST[]=SRC[]` or `DST=VALUE`.
fn match_spec(key: &str, value: &str, a: Act) -> Result<LearnSpec, String> {
    let dst = parse_subfield(key)?;
    let n = u32::from(dst.n_bits);
    let src = if value.is_empty() {
        LearnSrc::Field(dst)
    } else if let Some(sf) = as_subfield(value) {
        if sf.n_bits != dst.n_bits {
            return Err(format!(
                "bit widths of {key} ({}) and {value} ({}) differ",
                dst.n_bits, sf.n_bits
            ));
        }
        LearnSrc::Field(sf)
    } else if dst.is_whole() {
        let (v, m) = parse_field_value(dst.field, key, value, a.ports)?;
        if m != dst.field.full_mask() && m != dst.field.desc().valid {
            return Err(format!(
                "{key}={value}: a learned match takes a whole value"
            ));
        }
        LearnSrc::Imm(imm_bytes(v, n))
    } else {
        let v = parse_int(value).ok_or_else(|| {
            format!("{value} cannot be parsed as a subfield or an immediate value")
        })?;
        if v > crate::field::bit_ones(n) {
            return Err(format!("value {value} does not fit into {n} bits"));
        }
        LearnSrc::Imm(imm_bytes(v, n))
    };
    if dst.field == Field::RecircId {
        return Err("a learned flow cannot match recirc_id".into());
    }
    Ok(LearnSpec {
        n_bits: u16::from(dst.n_bits),
        src,
        dst: LearnDst::Match(dst),
    })
}
