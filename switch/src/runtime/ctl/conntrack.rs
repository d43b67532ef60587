//! Conntrack verbs: dump and flush connections; IP fragment reassembly's status and limits.

use super::{zone_arg, CmdResult};
use crate::runtime::state::Shared;
use pipeline::conntrack::zone::{parse_zone_limit, parse_zones, ZoneLimits};
use pipeline::conntrack::TupleFilter;
use std::fmt::Write;

/// Runs the verb if it is one of this group's with the right arguments.
pub(super) fn dispatch(shared: &Shared, args: &[&str], _input: Option<&str>) -> Option<CmdResult> {
    let b = &shared.bridge;
    let now = shared.now_ms();
    let mut matched = true;
    let mut run = || -> CmdResult {
        match args {
            ["dump-conntrack", rest @ ..] => {
                let zone = zone_arg(args[0], rest)?;
                let mut out = String::new();
                for c in b.conntrack.dump_at(zone, now) {
                    let _ = writeln!(out, "{c}");
                }
                Ok(out)
            }
            ["flush-conntrack", rest @ ..] => {
                // As `ovs-appctl dpctl/flush-conntrack [zone=N] [ORIG [REPLY]]`.
                let (zone, tuples) = match rest.first() {
                    Some(z) if z.starts_with("zone=") => {
                        (zone_arg(args[0], &rest[..1])?, &rest[1..])
                    }
                    _ => (None, rest),
                };
                let parse =
                    |s: &str| TupleFilter::parse(s).map_err(|e| format!("flush-conntrack: {e}"));
                let n = match tuples {
                    [] => b.conntrack.flush(zone),
                    [orig] => b.conntrack.flush_matching(zone, &parse(orig)?, None),
                    [orig, reply] => {
                        b.conntrack
                            .flush_matching(zone, &parse(orig)?, Some(&parse(reply)?))
                    }
                    _ => {
                        return Err(
                            "flush-conntrack: expected [zone=N] [ORIG-TUPLE [REPLY-TUPLE]]".into(),
                        )
                    }
                };
                Ok(format!("{n} connections flushed\n"))
            }
            ["ct-set-limits", rest @ ..] => ct_set_limits(&b.conntrack.zones, rest),
            ["ct-get-limits"] => Ok(b.conntrack.zones.ovs_text(&[])),
            ["ct-get-limits", zones] => parse_zones(zones)
                .map(|z| b.conntrack.zones.ovs_text(&z))
                .map_err(|e| format!("ct-get-limits: {e}")),
            ["ct-del-limits", rest @ ..] => ct_del_limits(&b.conntrack.zones, rest),
            ["ipf-get-status"] => Ok(b.conntrack.ipf.status().ovs_text()),
            ["ipf-set", rest @ ..] => ipf_set(&b.conntrack.ipf, rest),
            _ => {
                matched = false;
                Ok(String::new())
            }
        }
    };
    let r = run();
    matched.then_some(r)
}

/// `ipf-set`: one switch or limit of fragment reassembly.
fn ipf_set(ipf: &pipeline::ipf::IpfShared, args: &[&str]) -> CmdResult {
    let version = |s: &str| match s {
        "v4" => Ok(false),
        "v6" => Ok(true),
        _ => Err(format!("ipf-set: {s:?}: expected v4 or v6")),
    };
    let num = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("ipf-set: {s:?} is not a number"))
    };
    let small = |s: &str| {
        num(s).and_then(|n| u32::try_from(n).map_err(|_| format!("ipf-set: {n} is too large")))
    };
    let done = |r: Result<(), pipeline::ipf::IpfError>| {
        r.map(|()| String::new())
            .map_err(|e| format!("ipf-set: {e}"))
    };
    match args {
        ["enabled", v] => {
            ipf.set_enabled(version(v)?, true);
            Ok(String::new())
        }
        ["disabled", v] => {
            ipf.set_enabled(version(v)?, false);
            Ok(String::new())
        }
        ["min-frag", v, n] => done(ipf.set_min_frag(version(v)?, small(n)?)),
        ["max-nfrags", n] => done(ipf.set_max_nfrags(small(n)?)),
        ["per-datagram", n] => done(ipf.set_per_datagram(small(n)?)),
        ["max-bytes", n] => done(ipf.set_max_bytes(num(n)?)),
        ["timeout", n] => done(ipf.set_timeout_ms(small(n)?)),
        _ => Err("ipf-set: expected enabled|disabled v4|v6, min-frag v4|v6 BYTES, max-nfrags N, per-datagram N, max-bytes N or timeout MS".into()),
    }
}

/// `ct-set-limits [default=L] [zone=N,limit=L]...`: all parsed before any is set.
fn ct_set_limits(zones: &ZoneLimits, args: &[&str]) -> CmdResult {
    if args.is_empty() {
        return Err("ct-set-limits: too few arguments".into());
    }
    let mut default = None;
    let mut set = Vec::new();
    for (i, a) in args.iter().enumerate() {
        match a.strip_prefix("default=") {
            Some(v) if i == 0 => {
                default = Some(
                    v.parse::<u32>()
                        .map_err(|_| "ct-set-limits: invalid default limit".to_string())?,
                );
            }
            _ => set.push(parse_zone_limit(a).map_err(|e| format!("ct-set-limits: {e}"))?),
        }
    }
    if let Some(d) = default {
        zones.set_default(d);
    }
    for (z, l) in set {
        zones.set(z, l);
    }
    Ok(String::new())
}

/// `ct-del-limits [default] [zone=N[,N]...]`.
fn ct_del_limits(zones: &ZoneLimits, args: &[&str]) -> CmdResult {
    let rest = match args {
        [] => return Err("ct-del-limits: too few arguments".into()),
        ["default", rest @ ..] => {
            zones.set_default(0);
            rest
        }
        _ => args,
    };
    match rest {
        [] => Ok(String::new()),
        [z] => {
            for zone in parse_zones(z).map_err(|e| format!("ct-del-limits: {e}"))? {
                zones.unset(zone);
            }
            Ok(String::new())
        }
        _ => Err("ct-del-limits: expected [default] [zone=N[,N]...]".into()),
    }
}
