//! Group verbs: add, modify, delete, dump, and their counters.

use super::{group_arg, need_input, request_all, CmdResult};
use crate::runtime::state::Shared;
use pipeline::ofctl::{format_group, parse_group, parse_group_file, GroupMode};
use pipeline::tables::GroupMod;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// Runs the verb if it is one of this group's with the right arguments.
pub(super) fn dispatch(shared: &Shared, args: &[&str], input: Option<&str>) -> Option<CmdResult> {
    let b = &shared.bridge;
    let now = shared.now_ms();
    let ports = b.ports();
    let names = ports.names();
    let mut matched = true;
    let mut run = || -> CmdResult {
        match args {
            ["add-group", rest @ ..] if !rest.is_empty() => {
                let g = parse_group(&rest.join(" "), GroupMode::Add, names)
                    .map_err(|e| format!("column {}: {e}", e.column()))?;
                b.apply_groups(&[GroupMod::Add(g)], now)
                    .map_err(|e| e.to_string())?;
                Ok(String::new())
            }
            ["add-groups", file] => {
                let text = need_input(input, "add-groups")?;
                let (groups, errs) = parse_group_file(text, names);
                if !errs.is_empty() {
                    return Err(errs
                        .iter()
                        .map(|e| format!("{file}:{e}"))
                        .collect::<Vec<_>>()
                        .join("\n"));
                }
                let mods: Vec<GroupMod> =
                    groups.into_iter().map(|(_, g)| GroupMod::Add(g)).collect();
                let s = b.apply_groups(&mods, now).map_err(|e| e.to_string())?;
                Ok(format!("{} groups added\n", s.added))
            }
            ["mod-group", rest @ ..] if rest.iter().any(|a| *a != "--may-create") => {
                let (may_create, rest) = match rest {
                    ["--may-create", r @ ..] => (true, r),
                    r => (false, r),
                };
                let g = parse_group(&rest.join(" "), GroupMode::Add, names)
                    .map_err(|e| format!("column {}: {e}", e.column()))?;
                b.apply_groups(
                    &[GroupMod::Modify {
                        entry: g,
                        may_create,
                    }],
                    now,
                )
                .map_err(|e| e.to_string())?;
                Ok(String::new())
            }
            ["del-groups", rest @ ..] => {
                let g = parse_group(&rest.join(" "), GroupMode::Delete, names)
                    .map_err(|e| format!("column {}: {e}", e.column()))?;
                let id = (g.id != u32::MAX).then_some(g.id);
                let before = b.tables().n_flows();
                let s = b
                    .apply_groups(&[GroupMod::Delete(id)], now)
                    .map_err(|e| e.to_string())?;
                let flows = before.saturating_sub(b.tables().n_flows());
                Ok(format!(
                    "{} groups deleted, {flows} flows that used them deleted\n",
                    s.deleted
                ))
            }
            ["dump-groups", rest @ ..] => {
                let want = group_arg(args[0], rest)?;
                let tables = b.tables();
                let mut out = String::new();
                for g in tables.groups() {
                    if want.is_none_or(|w| w == g.entry.id) {
                        let _ = writeln!(out, " {}", format_group(&g.entry, names));
                    }
                }
                Ok(out)
            }
            ["dump-group-stats", rest @ ..] => {
                let want = group_arg(args[0], rest)?;
                // Fold the workers' latest counters first.
                request_all(shared, 0);
                let tables = b.tables();
                let mut out = String::new();
                for g in tables.groups() {
                    if want.is_some_and(|w| w != g.entry.id) {
                        continue;
                    }
                    let _ = write!(
                        out,
                        " group_id={},duration={:.3}s,ref_count={},packet_count={},byte_count={}",
                        g.entry.id,
                        now.saturating_sub(g.created_ms) as f64 / 1000.0,
                        tables.group_refs(g.entry.id),
                        g.stats.n_packets.load(Ordering::Relaxed),
                        g.stats.n_bytes.load(Ordering::Relaxed)
                    );
                    for (i, bs) in g.bucket_stats.iter().enumerate() {
                        let _ = write!(
                            out,
                            ",bucket{}:packet_count={},byte_count={}",
                            g.entry.buckets[i].id,
                            bs.n_packets.load(Ordering::Relaxed),
                            bs.n_bytes.load(Ordering::Relaxed)
                        );
                    }
                    out.push('\n');
                }
                Ok(out)
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
