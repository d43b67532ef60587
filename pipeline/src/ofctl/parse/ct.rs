//! The `ct` action and its `nat(...)` and `exec(...)` arguments: the one nesting the
//! action language has. `exec` parses its actions with [`parse_action`] in ct mode, which
//! allows only `load`/`set_field` and so never nests again.

use super::actions::parse_action;
use super::items::{err, items, Item};
use super::subfield::parse_subfield;
use crate::field::{prereq_holds, Prereq};
use crate::ofctl::value::parse_uint;
use crate::ofctl::{Action, CtAction, CtZone, IpRange, Match, Nat, NatKind, ParseError, PortMap};

/// `ct(commit,force,table=N,zone=N|FIELD,alg=..,nat(...),exec(...))`; the flow must match
/// IP.
pub(super) fn parse_ct(
    it: &Item,
    token: &str,
    m: &Match,
    ports: &PortMap,
) -> Result<CtAction, ParseError> {
    let is_ip = prereq_holds(Prereq::IpAny, &m.value, &m.mask);
    if !is_ip {
        return Err(err(
            it.key_off,
            token,
            "ct requires the flow to match ip or ipv6",
        ));
    }
    let mut ct = CtAction {
        commit: false,
        force: false,
        table: None,
        zone: CtZone::Imm(0),
        nat: None,
        exec: Vec::new(),
        alg: None,
    };
    if it.delim == b'(' {
        for sub in items(it.value, it.value_off)? {
            let stok = sub.key;
            let sbad = |msg: String| err(sub.value_off, stok, msg);
            match sub.key {
                "commit" => ct.commit = true,
                "force" => ct.force = true,
                "table" => {
                    let t = parse_uint(sub.value, 8, "table").map_err(sbad)?;
                    if t == 255 {
                        return Err(sbad("invalid table 0xff".into()));
                    }
                    ct.table = Some(t as u8);
                }
                "zone" => {
                    if let Ok(z) = parse_uint(sub.value, 16, "zone") {
                        ct.zone = CtZone::Imm(z as u16);
                    } else {
                        let sf = parse_subfield(sub.value).map_err(sbad)?;
                        if sf.n_bits != 16 {
                            return Err(sbad(format!(
                                "zone field must be 16 bits wide, not {}",
                                sf.n_bits
                            )));
                        }
                        ct.zone = CtZone::Field(sf);
                    }
                }
                "alg" => {
                    ct.alg = Some(match sub.value {
                        "ftp" => 21,
                        "tftp" => 69,
                        v => parse_uint(v, 16, "alg").map_err(sbad)? as u16,
                    })
                }
                "nat" => ct.nat = Some(parse_nat(&sub)?),
                "exec" => {
                    for a in items(sub.value, sub.value_off)? {
                        let atok = a.key;
                        match parse_action(&a, atok, m, ports, true)? {
                            Some(Action::Set(sf)) => ct.exec.push(sf),
                            _ => return Err(err(
                                a.key_off,
                                atok,
                                "only load/set_field of ct_mark or ct_label is allowed in exec()",
                            )),
                        }
                    }
                }
                other => {
                    return Err(err(
                        sub.key_off,
                        other,
                        format!("invalid argument to \"ct\" action: `{other}'"),
                    ))
                }
            }
        }
    }
    if ct.force && !ct.commit {
        return Err(err(
            it.key_off,
            token,
            "\"force\" flag requires \"commit\" flag.",
        ));
    }
    if !ct.exec.is_empty() && !ct.commit {
        return Err(err(
            it.key_off,
            token,
            "ct(exec(...)) sets ct_mark/ct_label only with commit",
        ));
    }
    Ok(ct)
}

/// An IPv4 or IPv6 (optionally bracketed) address of a NAT range.
fn parse_ip(s: &str) -> Option<IpRange> {
    if let Ok(a) = s.parse::<std::net::Ipv4Addr>() {
        return Some(IpRange::V4(u32::from(a)));
    }
    let s = s.trim_start_matches('[').trim_end_matches(']');
    s.parse::<std::net::Ipv6Addr>()
        .ok()
        .map(|a| IpRange::V6(u128::from(a)))
}

/// `nat(src|dst[=ADDR[-ADDR][:PORT[-PORT]]],persistent,hash|random)` inside `ct`.
fn parse_nat(it: &Item) -> Result<Nat, ParseError> {
    let mut nat = Nat {
        kind: None,
        addr: None,
        ports: None,
        persistent: false,
        hash: false,
        random: false,
    };
    if it.delim != b'(' {
        return Ok(nat);
    }
    for sub in items(it.value, it.value_off)? {
        let sbad = |msg: String| err(sub.value_off, sub.key, msg);
        match sub.key {
            "src" | "dst" => {
                if nat.kind.is_some() {
                    return Err(sbad("nat: only one of src and dst may be given".into()));
                }
                nat.kind = Some(if sub.key == "src" {
                    NatKind::Src
                } else {
                    NatKind::Dst
                });
                if sub.value.is_empty() {
                    continue;
                }
                // ADDR[-ADDR][:PORT[-PORT]], IPv6 in brackets.
                let (addrs, portspec) = if sub.value.starts_with('[') {
                    match sub.value.rfind("]:") {
                        Some(i) => (&sub.value[..=i], Some(&sub.value[i + 2..])),
                        None => (sub.value, None),
                    }
                } else {
                    match sub.value.split_once(':') {
                        Some((a, p)) => (a, Some(p)),
                        None => (sub.value, None),
                    }
                };
                let (lo, hi) = match addrs.split_once('-') {
                    Some((a, b)) => (a, b),
                    None => (addrs, addrs),
                };
                let lo = parse_ip(lo).ok_or_else(|| sbad(format!("nat: bad address '{lo}'")))?;
                let hi = parse_ip(hi).ok_or_else(|| sbad(format!("nat: bad address '{hi}'")))?;
                let ordered = match (lo, hi) {
                    (IpRange::V4(a), IpRange::V4(b)) => a <= b,
                    (IpRange::V6(a), IpRange::V6(b)) => a <= b,
                    _ => return Err(sbad("nat: address range mixes IPv4 and IPv6".into())),
                };
                if !ordered {
                    return Err(sbad("nat: address range is backwards".into()));
                }
                nat.addr = Some((lo, hi));
                if let Some(p) = portspec {
                    let (a, b) = p.split_once('-').unwrap_or((p, p));
                    let a = parse_uint(a, 16, "nat port").map_err(sbad)? as u16;
                    let b = parse_uint(b, 16, "nat port").map_err(sbad)? as u16;
                    if a > b || a == 0 {
                        return Err(sbad(format!("nat: bad port range {p}")));
                    }
                    nat.ports = Some((a, b));
                }
            }
            "persistent" => nat.persistent = true,
            "hash" => nat.hash = true,
            "random" => nat.random = true,
            other => {
                return Err(err(
                    sub.key_off,
                    other,
                    format!("invalid nat argument '{other}'"),
                ))
            }
        }
    }
    if nat.hash && nat.random {
        return Err(err(it.key_off, "nat", "nat: hash and random are exclusive"));
    }
    if nat.kind.is_none() && (nat.persistent || nat.hash || nat.random) {
        return Err(err(it.key_off, "nat", "nat flags need src= or dst="));
    }
    Ok(nat)
}
