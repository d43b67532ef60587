//! Datapath statistics verbs: per-worker counters, megaflows, drops by reason.

use super::{request_all, CmdResult};
use crate::runtime::state::{Shared, REQ_CLEAR_STATS, REQ_DUMP_MEGAFLOWS, REQ_FLUSH};
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// Runs the verb if it is one of this group's with the right arguments.
pub(super) fn dispatch(shared: &Shared, args: &[&str], _input: Option<&str>) -> Option<CmdResult> {
    let mut matched = true;
    let mut run = || -> CmdResult {
        match args {
            ["pmd-stats"] => Ok(pmd_stats(shared)),
            ["pmd-stats-clear"] => {
                request_all(shared, REQ_CLEAR_STATS);
                Ok(String::new())
            }
            ["dump-megaflows"] => {
                request_all(shared, REQ_DUMP_MEGAFLOWS);
                let mut out = String::new();
                for (i, w) in shared.workers.iter().enumerate() {
                    let mfs = w.megaflows.lock().take().unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "worker {i} (lcore {}): {} megaflows",
                        w.lcore.load(Ordering::Relaxed),
                        mfs.len()
                    );
                    for m in mfs {
                        let _ = writeln!(
                            out,
                            "{}, packets:{}, bytes:{}, used:{:.3}s, actions:{}",
                            m.matches,
                            m.packets,
                            m.bytes,
                            m.idle_ms as f64 / 1000.0,
                            m.actions
                        );
                    }
                }
                Ok(out)
            }
            ["flush-megaflows"] => {
                request_all(shared, REQ_FLUSH);
                Ok(String::new())
            }
            ["drop-stats"] => Ok(drop_stats(shared)),
            _ => {
                matched = false;
                Ok(String::new())
            }
        }
    };
    let r = run();
    matched.then_some(r)
}

fn pmd_stats(shared: &Shared) -> String {
    let mut out = String::new();
    let hz = shared.tsc_hz.max(1) as f64;
    for (i, w) in shared.workers.iter().enumerate() {
        let s = *w.stats.lock();
        let fp = s.fp;
        let pkts = fp.packets.max(1) as f64;
        let passes = fp.passes.max(1) as f64;
        let total = (s.busy_cycles + s.idle_cycles).max(1) as f64;
        let _ = writeln!(
            out,
            "pmd thread {i} core_id {}:\n  packets received: {}\n  packet recirculations: {}\n  avg. datapath passes per packet: {:.2}\n  emc hits: {} ({:.1}%)\n  megaflow hits: {} ({:.1}%)\n  upcalls: {} ({:.1}%)\n  upcall drops (budget): {}\n  revalidations: {}\n  megaflows: {} in {} masks\n  avg. packets per output batch: {:.2}\n  idle cycles: {} ({:.1}%)\n  processing cycles: {} ({:.1}%)\n  avg cycles per packet: {:.0} (busy {:.0})\n  stage cycles per packet: parse {:.0}, lookup {:.0}, upcall {:.0}, actions {:.0}\n  time: {:.1} s",
            w.lcore.load(Ordering::Relaxed),
            fp.packets,
            fp.recirculations,
            passes / pkts,
            fp.emc_hits,
            100.0 * fp.emc_hits as f64 / passes,
            fp.megaflow_hits,
            100.0 * fp.megaflow_hits as f64 / passes,
            fp.upcalls,
            100.0 * fp.upcalls as f64 / passes,
            fp.upcall_drops,
            fp.revalidations,
            s.megaflows,
            s.masks,
            s.tx_packets as f64 / s.tx_batches.max(1) as f64,
            s.idle_cycles,
            100.0 * s.idle_cycles as f64 / total,
            s.busy_cycles,
            100.0 * s.busy_cycles as f64 / total,
            total / pkts,
            s.busy_cycles as f64 / pkts,
            fp.cycles_parse as f64 / pkts,
            fp.cycles_lookup as f64 / pkts,
            fp.cycles_upcall as f64 / pkts,
            fp.cycles_actions as f64 / pkts,
            total / hz,
        );
    }
    out
}

fn drop_stats(shared: &Shared) -> String {
    use pipeline::dpaction::DropReason;
    let mut tot = pipeline::fastpath::FastPathStats::default();
    for w in &shared.workers {
        tot.add(&w.stats.lock().fp);
    }
    let mut out = String::from("datapath:\n");
    for r in DropReason::ALL {
        let _ = writeln!(out, "  {:<16} {}", r.name(), tot.drops[r.index()]);
    }
    let _ = writeln!(out, "  {:<16} {}", "parse_errors", tot.parse_errors);
    let mut section = |title: &str, rows: &mut dyn Iterator<Item = (&'static str, u64)>| {
        let _ = writeln!(out, "{title}:");
        for (name, n) in rows {
            let _ = writeln!(out, "  {name:<24} {n}");
        }
    };
    let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    section(
        "decapsulation",
        &mut pipeline::geneve::DecapError::ALL
            .iter()
            .map(|e| (e.name(), ld(&shared.decap_errors[e.index()]))),
    );
    section(
        "encapsulation",
        &mut pipeline::geneve::EncapDrop::ALL
            .iter()
            .map(|e| (e.name(), ld(&shared.encap_drops[e.index()]))),
    );
    for (name, st) in shared.listeners.lock().iter() {
        section(&format!("{name} listener"), &mut st.rows().into_iter());
    }
    let ct = shared.bridge.conntrack.stats();
    let _ = writeln!(
        out,
        "conntrack:\n  connections {}\n  refused_full {}\n  invalid {}\n  nat_exhausted {}",
        ct.connections, ct.refused_full, ct.invalid, ct.nat_exhausted
    );
    out
}
