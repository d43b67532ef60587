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

/// The workers' megaflows as OVS's `dpctl/dump-flows` prints a userspace datapath's (a
/// `flow-dump from pmd on cpu core: N` line before each worker's with `pmd_headers`, as
/// `dpctl/dump-flows`; none, as `dpif/dump-flows`).
pub(crate) fn odp_dump(shared: &Shared, pmd_headers: bool) -> String {
    request_all(shared, REQ_DUMP_MEGAFLOWS);
    let mut out = String::new();
    for w in shared.workers.iter() {
        let mfs = w.megaflows.lock().take().unwrap_or_default();
        if pmd_headers {
            let _ = writeln!(
                out,
                "flow-dump from pmd on cpu core: {}",
                w.lcore.load(Ordering::Relaxed)
            );
        }
        for m in mfs {
            let used = if m.packets == 0 {
                "never".to_string()
            } else {
                format!("{:.3}s", m.idle_ms as f64 / 1000.0)
            };
            let _ = writeln!(
                out,
                "{}, packets:{}, bytes:{}, used:{used}, actions:{}",
                m.odp_match, m.packets, m.bytes, m.odp_actions
            );
        }
    }
    out
}

/// `pmd-stats`: each worker's counters, from the registry, with OVS's derived ratios.
fn pmd_stats(shared: &Shared) -> String {
    use crate::runtime::counters::{collect, family};
    let fams = collect(shared);
    let mut out = String::new();
    let hz = shared.tsc_hz.max(1) as f64;
    for (i, w) in shared.workers.iter().enumerate() {
        let id = i.to_string();
        let v = |name: &str| family(&fams, name).map_or(0, |f| f.get(&[("worker", &id)]));
        let stage = |st: &str| {
            family(&fams, "brisk_worker_stage_cycles_total")
                .map_or(0, |f| f.get(&[("worker", &id), ("stage", st)]))
        };
        let (packets, passes) = (
            v("brisk_worker_packets_total"),
            v("brisk_worker_passes_total"),
        );
        let (busy, idle) = (
            v("brisk_worker_busy_cycles_total"),
            v("brisk_worker_idle_cycles_total"),
        );
        let pkts = packets.max(1) as f64;
        let passes_f = passes.max(1) as f64;
        let total = (busy + idle).max(1) as f64;
        let pct = |n: u64| 100.0 * n as f64 / passes_f;
        let (emc, chain, mfh, up) = (
            v("brisk_worker_emc_hits_total"),
            v("brisk_worker_chain_hits_total"),
            v("brisk_worker_megaflow_hits_total"),
            v("brisk_worker_upcalls_total"),
        );
        let _ = writeln!(
            out,
            "pmd thread {i} core_id {}:\n  packets received: {packets}\n  packet recirculations: {}\n  avg. datapath passes per packet: {:.2}\n  emc hits: {emc} ({:.1}%)\n  emc bypassed: {} ({:.1}% of passes)\n  chain hits: {chain} ({:.1}%)\n  ct hints learned: {}\n  megaflow hits: {mfh} ({:.1}%, {:.2} subtable lookups/hit)\n  upcalls: {up} ({:.1}%)\n  upcall drops (budget): {}\n  revalidations: {}\n  megaflows: {} in {} masks\n  avg. packets per output batch: {:.2}\n  idle cycles: {idle} ({:.1}%)\n  processing cycles: {busy} ({:.1}%)\n  avg cycles per packet: {:.0} (busy {:.0})\n  lookup kernels: {}\n  stage cycles per packet: decap {:.0}, parse {:.0}, lookup {:.0}, upcall {:.0}, actions {:.0}\n  time: {:.1} s",
            w.lcore.load(Ordering::Relaxed),
            v("brisk_worker_recirculations_total"),
            passes_f / pkts,
            pct(emc),
            v("brisk_worker_emc_bypassed_total"),
            pct(v("brisk_worker_emc_bypassed_total")),
            pct(chain),
            v("brisk_worker_ct_hints_learned_total"),
            pct(mfh),
            v("brisk_worker_subtable_lookups_total") as f64 / mfh.max(1) as f64,
            pct(up),
            v("brisk_worker_upcall_drops_total"),
            v("brisk_worker_revalidations_total"),
            v("brisk_worker_megaflows"),
            v("brisk_worker_masks"),
            v("brisk_worker_tx_batch_packets_total") as f64
                / v("brisk_worker_tx_batches_total").max(1) as f64,
            100.0 * idle as f64 / total,
            100.0 * busy as f64 / total,
            total / pkts,
            busy as f64 / pkts,
            shared.simd.name(),
            stage("decap") as f64 / pkts,
            stage("parse") as f64 / pkts,
            stage("lookup") as f64 / pkts,
            stage("upcall") as f64 / pkts,
            stage("actions") as f64 / pkts,
            total / hz,
        );
    }
    out
}

/// `drop-stats`: every counter the registry shows there (datapath drops by reason,
/// encapsulation's among them, decapsulation, ARP input, the listeners, conntrack).
fn drop_stats(shared: &Shared) -> String {
    crate::runtime::counters::drop_stats(&crate::runtime::counters::collect(shared))
}
