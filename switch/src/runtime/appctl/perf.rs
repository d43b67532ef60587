//! `dpif-netdev/pmd-perf-show`: each worker's iterations, cycles and packets since its
//! counters started (its start or the last `pmd-stats-clear`), in OVS's layout
//! (`lib/dpif-netdev-perf.c`). What brisk does not measure is left out rather than shown
//! as a made-up zero: sleep (brisk's workers never sleep: the sleep lines say so with
//! zeros, as OVS's do for a PMD that does not sleep), and the histograms of
//! `-nh`/`-it`/`-ms`.

use super::super::state::Shared;
use std::fmt::Write;
use std::sync::atomic::Ordering;

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        100.0 * a as f64 / b as f64
    }
}

/// `HH:MM:SS.mmm` of the wall clock, UTC.
fn wall_time() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let day_ms = ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000
    )
}

/// The command's text for every worker (`-pmd CORE` picks one).
pub fn pmd_perf_show(shared: &Shared, core: Option<u32>) -> String {
    let hz = shared.tsc_hz.max(1) as f64;
    let us_per_cycle = 1e6 / hz;
    let now = shared.now_ms();
    let mut s = String::new();
    for w in &shared.workers {
        let lcore = w.lcore.load(Ordering::Relaxed);
        if core.is_some_and(|c| c != lcore) {
            continue;
        }
        let st = *w.stats.lock();
        let fp = st.fp;
        let duration = now.saturating_sub(st.since_ms) as f64 / 1000.0;
        let _ = write!(
            s,
            "\nTime: {}\nMeasurement duration: {duration:.3} s\n\npmd thread numa_id 0 core_id {lcore}:\n\n",
            wall_time()
        );
        if duration == 0.0 {
            continue;
        }
        let tot_cycles = st.busy_cycles + st.idle_cycles;
        let tot_iter = st.iterations;
        let busy_iter = tot_iter.saturating_sub(st.idle_iterations);
        let _ = write!(
            s,
            "  Iterations:         {:12}  ({:.2} us/it)\n  \
             - Used TSC cycles:  {:12}  ({:5.1} % of total cycles)\n  \
             - idle iterations:  {:12}  ({:5.1} % of used cycles)\n  \
             - busy iterations:  {:12}  ({:5.1} % of used cycles)\n  \
             - sleep iterations: {:12}  ({:5.1} % of iterations)\n  \
             Sleep time (us):    {:12.0}  ({:3.0} us/iteration avg.)\n",
            tot_iter,
            if tot_iter > 0 {
                tot_cycles as f64 * us_per_cycle / tot_iter as f64
            } else {
                0.0
            },
            tot_cycles,
            100.0 * (tot_cycles as f64 / duration) / hz,
            st.idle_iterations,
            pct(st.idle_cycles, tot_cycles),
            busy_iter,
            pct(st.busy_cycles, tot_cycles),
            0,
            0.0,
            0.0,
            0.0
        );
        let rx = fp.packets;
        if rx > 0 {
            let passes = fp.passes.max(1);
            let _ = write!(
                s,
                "  Rx packets:         {rx:12}  ({:.0} Kpps, {:.0} cycles/pkt)\n  \
                 Datapath passes:    {:12}  ({:.2} passes/pkt)\n  \
                 - PHWOL hits:       {:12}  ({:5.1} %)\n  \
                 - Simple Match hits:{:12}  ({:5.1} %)\n  \
                 - EMC hits:         {:12}  ({:5.1} %)\n  \
                 - SMC hits:         {:12}  ({:5.1} %)\n  \
                 - Megaflow hits:    {:12}  ({:5.1} %, {:.2} subtbl lookups/hit)\n  \
                 - Upcalls:          {:12}  ({:5.1} %, {:.1} us/upcall)\n  \
                 - Lost upcalls:     {:12}  ({:5.1} %)\n",
                rx as f64 / duration / 1000.0,
                st.busy_cycles as f64 / rx as f64,
                fp.passes,
                fp.passes as f64 / rx as f64,
                0,
                0.0,
                fp.chain_hits,
                pct(fp.chain_hits, passes),
                fp.emc_hits,
                pct(fp.emc_hits, passes),
                0,
                0.0,
                fp.megaflow_hits,
                pct(fp.megaflow_hits, passes),
                ratio(fp.subtable_lookups, fp.megaflow_hits),
                fp.upcalls,
                pct(fp.upcalls, passes),
                if fp.upcalls > 0 {
                    fp.cycles_upcall as f64 * us_per_cycle / fp.upcalls as f64
                } else {
                    0.0
                },
                fp.upcall_drops,
                pct(fp.upcall_drops, passes)
            );
        } else {
            let _ = writeln!(s, "  Rx packets:         {:12}", 0);
        }
        if st.tx_packets > 0 {
            let _ = write!(
                s,
                "  Tx packets:         {:12}  ({:.0} Kpps)\n  Tx batches:         {:12}  ({:.2} pkts/batch)\n",
                st.tx_packets,
                st.tx_packets as f64 / duration / 1000.0,
                st.tx_batches,
                st.tx_packets as f64 / st.tx_batches.max(1) as f64
            );
        } else {
            let _ = writeln!(s, "  Tx packets:         {:12}\n", 0);
        }
    }
    s
}
