//! The simplest forwarding mode, as testpmd's `io` forwarding: every packet received on one
//! port of a pair is sent out of the other. Used as the first demo and as a baseline.

use super::{lcore_id, rdtsc, tsc_hz, DpdkError, EthPort, MbufBatch, PortStats};
use std::io::Write;
use std::time::{Duration, Instant};

/// Totals of a forwarding run.
#[derive(Clone, Debug, Default)]
pub struct FwdStats {
    /// Packets forwarded per direction (0→1, 1→0).
    pub forwarded: [u64; 2],
    /// Packets the destination port did not take (freed).
    pub tx_dropped: [u64; 2],
    /// Seconds run.
    pub seconds: f64,
    /// Final port counters.
    pub ports: Vec<PortStats>,
}

/// Forwards between `ports[0]` and `ports[1]` (started) until `stop()` returns true or
/// `duration` passes, printing per-port counters to `out` every second.
pub fn io_forward(
    ports: &[EthPort; 2],
    duration: Option<Duration>,
    stop: &dyn Fn() -> bool,
    out: &mut dyn Write,
) -> Result<FwdStats, DpdkError> {
    let mut st = FwdStats::default();
    let mut batch = MbufBatch::new();
    let start = Instant::now();
    let hz = tsc_hz().max(1);
    let mut next_report = rdtsc() + hz;
    let _ = writeln!(
        out,
        "io forwarding {} <-> {} on lcore {}",
        ports[0].name(),
        ports[1].name(),
        lcore_id()
    );
    loop {
        for dir in 0..2 {
            let (rx, tx) = (&ports[dir], &ports[1 - dir]);
            if rx.rx_burst(0, &mut batch) == 0 {
                continue;
            }
            let n = batch.len();
            let sent = tx.tx_burst(0, &mut batch);
            st.forwarded[dir] += sent as u64;
            st.tx_dropped[dir] += (n - sent) as u64;
            batch.free_all();
        }
        let now = rdtsc();
        if now >= next_report {
            next_report = now + hz;
            let secs = start.elapsed().as_secs_f64();
            let mut line = format!("[{secs:6.1}s]");
            for p in ports {
                let s = p.stats()?;
                line.push_str(&format!(
                    "  {}: rx {} tx {} drop {}",
                    p.name(),
                    s.ipackets,
                    s.opackets,
                    s.imissed + s.ierrors + s.oerrors
                ));
            }
            let _ = writeln!(out, "{line}");
            if stop() || duration.is_some_and(|d| start.elapsed() >= d) {
                break;
            }
        }
    }
    st.seconds = start.elapsed().as_secs_f64();
    st.ports = ports.iter().map(|p| p.stats()).collect::<Result<_, _>>()?;
    Ok(st)
}
