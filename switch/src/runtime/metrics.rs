//! A Prometheus text endpoint (off unless configured): port, worker and conntrack counters.
//! Served by the control thread, one short connection at a time.

use super::state::Shared;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The listening endpoint.
pub struct Metrics {
    listener: TcpListener,
}

impl Metrics {
    /// Listens on `addr` (e.g. `127.0.0.1:9100`).
    pub fn bind(addr: &str) -> std::io::Result<Metrics> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Metrics { listener })
    }

    /// Answers pending scrapes.
    pub fn serve(&self, shared: &Shared) {
        while let Ok((mut s, _)) = self.listener.accept() {
            let _ = s.set_nonblocking(false);
            let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let body = render(shared);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    }
}

/// The metrics text.
pub fn render(shared: &Shared) -> String {
    let mut o = String::new();
    let ports = shared.ports();
    let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    for (name, help, f) in [
        ("brisk_port_rx_packets_total", "Packets received", 0),
        ("brisk_port_rx_bytes_total", "Bytes received", 1),
        ("brisk_port_tx_packets_total", "Packets sent", 2),
        ("brisk_port_tx_bytes_total", "Bytes sent", 3),
        (
            "brisk_port_tx_dropped_total",
            "Packets the driver did not take",
            4,
        ),
    ] {
        let _ = writeln!(o, "# HELP {name} {help}.\n# TYPE {name} counter");
        for p in &ports.list {
            let c = &p.counters;
            let v = match f {
                0 => ld(&c.rx_packets),
                1 => ld(&c.rx_bytes),
                2 => ld(&c.tx_packets),
                3 => ld(&c.tx_bytes),
                _ => ld(&c.tx_dropped),
            };
            let _ = writeln!(
                o,
                "{name}{{port=\"{}\",ofport=\"{}\"}} {v}",
                p.name, p.ofport
            );
        }
    }
    let _ = writeln!(o, "# HELP brisk_port_rx_missed_total Packets the NIC dropped (rx ring full).\n# TYPE brisk_port_rx_missed_total counter");
    for p in &ports.list {
        if let Some(s) = p.dev().and_then(|d| d.stats()) {
            let _ = writeln!(
                o,
                "brisk_port_rx_missed_total{{port=\"{}\"}} {}",
                p.name, s.imissed
            );
        }
    }
    let _ = writeln!(o, "# HELP brisk_worker_packets_total Packets processed per worker.\n# TYPE brisk_worker_packets_total counter");
    let mut lines = Vec::new();
    for (i, w) in shared.workers.iter().enumerate() {
        let s = *w.stats.lock();
        let _ = writeln!(
            o,
            "brisk_worker_packets_total{{worker=\"{i}\"}} {}",
            s.fp.packets
        );
        lines.push((i, s));
    }
    for (metric, help) in [
        ("emc_hits", "EMC hits"),
        ("megaflow_hits", "Megaflow classifier hits"),
        ("upcalls", "Slow-path translations"),
        ("upcall_drops", "Packets dropped over the upcall budget"),
        ("busy_cycles", "TSC cycles in iterations with packets"),
        ("idle_cycles", "TSC cycles in empty iterations"),
    ] {
        let _ = writeln!(o, "# HELP brisk_worker_{metric}_total {help}.\n# TYPE brisk_worker_{metric}_total counter");
        for (i, s) in &lines {
            let v = match metric {
                "emc_hits" => s.fp.emc_hits,
                "megaflow_hits" => s.fp.megaflow_hits,
                "upcalls" => s.fp.upcalls,
                "upcall_drops" => s.fp.upcall_drops,
                "busy_cycles" => s.busy_cycles,
                _ => s.idle_cycles,
            };
            let _ = writeln!(o, "brisk_worker_{metric}_total{{worker=\"{i}\"}} {v}");
        }
    }
    let _ = writeln!(o, "# HELP brisk_drops_total Packets dropped by the datapath, by reason.\n# TYPE brisk_drops_total counter");
    let mut tot = pipeline::fastpath::FastPathStats::default();
    for (_, s) in &lines {
        tot.add(&s.fp);
    }
    for r in pipeline::dpaction::DropReason::ALL {
        let _ = writeln!(
            o,
            "brisk_drops_total{{reason=\"{}\"}} {}",
            r.name(),
            tot.drops[r.index()]
        );
    }
    for e in pipeline::geneve::DecapError::ALL {
        let _ = writeln!(
            o,
            "brisk_drops_total{{reason=\"decap_{}\"}} {}",
            e.name(),
            ld(&shared.decap_errors[e.index()])
        );
    }
    for e in pipeline::geneve::EncapDrop::ALL {
        let _ = writeln!(
            o,
            "brisk_drops_total{{reason=\"encap_{}\"}} {}",
            e.name(),
            ld(&shared.encap_drops[e.index()])
        );
    }
    let ct = shared.bridge.conntrack.stats();
    let _ = writeln!(o, "# HELP brisk_conntrack_connections Connections tracked now.\n# TYPE brisk_conntrack_connections gauge\nbrisk_conntrack_connections {}", ct.connections);
    let _ = writeln!(o, "# HELP brisk_conntrack_refused_total Commits refused because the table was full.\n# TYPE brisk_conntrack_refused_total counter\nbrisk_conntrack_refused_total {}", ct.refused_full);
    let _ = writeln!(o, "# HELP brisk_conntrack_invalid_total Packets conntrack found invalid.\n# TYPE brisk_conntrack_invalid_total counter\nbrisk_conntrack_invalid_total {}", ct.invalid);
    let _ = writeln!(
        o,
        "# HELP brisk_flows Flows installed.\n# TYPE brisk_flows gauge\nbrisk_flows {}",
        shared.bridge.tables().n_flows()
    );
    o
}
