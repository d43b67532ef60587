//! Conntrack verbs: dump and flush connections.

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
            _ => {
                matched = false;
                Ok(String::new())
            }
        }
    };
    let r = run();
    matched.then_some(r)
}
