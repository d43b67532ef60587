//! Meter verbs: add, modify, delete, dump, their counters and features, in `ovs-ofctl`'s
//! syntax and words.

use super::CmdResult;
use crate::runtime::state::Shared;
use pipeline::meter::{MAX_BANDS, MAX_METERS};
use pipeline::ofctl::{format_meter, format_meter_stats, parse_meter, parse_meter_selector};
use pipeline::tables::MeterMod;

/// Runs the verb if it is one of this group's with the right arguments.
pub(super) fn dispatch(shared: &Shared, args: &[&str]) -> Option<CmdResult> {
    let b = &shared.bridge;
    let now = shared.now_ms();
    let parse = |rest: &[&str]| parse_meter(&rest.join(",")).map_err(|e| e.to_string());
    let select = |rest: &[&str]| parse_meter_selector(&rest.join(",")).map_err(|e| e.to_string());
    Some(match args {
        ["add-meter", rest @ ..] if !rest.is_empty() => parse(rest).and_then(|c| {
            b.apply_meters(&[MeterMod::Add(c)], now)
                .map(|_| String::new())
                .map_err(|e| e.to_string())
        }),
        ["mod-meter", rest @ ..] if !rest.is_empty() => parse(rest).and_then(|c| {
            b.apply_meters(&[MeterMod::Modify(c)], now)
                .map(|_| String::new())
                .map_err(|e| e.to_string())
        }),
        ["del-meters", rest @ ..] => select(rest).and_then(|id| {
            let before = b.tables().n_flows();
            let s = b
                .apply_meters(&[MeterMod::Delete(id)], now)
                .map_err(|e| e.to_string())?;
            let flows = before.saturating_sub(b.tables().n_flows());
            Ok(format!(
                "{} meters deleted, {flows} flows that used them deleted\n",
                s.deleted
            ))
        }),
        ["dump-meters", rest @ ..] => select(rest).map(|id| {
            let t = b.tables();
            t.meters()
                .filter(|m| id.is_none_or(|i| i == m.config.id))
                .map(|m| format_meter(&m.config))
                .collect::<Vec<_>>()
                .join("\n")
        }),
        ["meter-stats", rest @ ..] => select(rest).map(|id| {
            let t = b.tables();
            t.meters()
                .filter(|m| id.is_none_or(|i| i == m.config.id))
                .map(|m| {
                    let age = now.saturating_sub(m.created_ms);
                    format_meter_stats(m.config.id, t.meter_refs(m.config.id), &m.stats(), age)
                })
                .collect::<Vec<_>>()
                .join("\n")
        }),
        ["meter-features"] => Ok(format!(
            "max_meter:{MAX_METERS} max_bands:{MAX_BANDS} max_color:0\nband_types: drop\ncapabilities: kbps pktps burst stats\n"
        )),
        _ => return None,
    })
}
