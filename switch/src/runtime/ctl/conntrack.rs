//! Conntrack verbs: dump and flush connections; IP fragment reassembly's status and limits.

use super::{zone_arg, CmdResult};
use crate::runtime::state::Shared;
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
