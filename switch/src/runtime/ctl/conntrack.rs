//! Conntrack verbs: dump and flush connections.

use super::{zone_arg, CmdResult};
use crate::runtime::state::Shared;
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
                let zone = zone_arg(args[0], rest)?;
                Ok(format!("{} connections flushed\n", b.conntrack.flush(zone)))
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
