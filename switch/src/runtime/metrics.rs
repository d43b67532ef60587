//! A Prometheus text endpoint (off unless configured): port, worker, conntrack and control
//! server counters. Served on its own thread by the engine of `serve.rs`: at most 64
//! connections, 8 per local uid, a request head of 8 KiB within 5 s, so no user holding
//! connections open can delay a scrape of another, nor the control socket.

use super::serve::{Framer, Framing, Limits, Listener, Protocol, ServeStats, Server};
use super::state::Shared;
use std::fmt::Write as _;
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Longest HTTP request head.
const MAX_HEAD: usize = 8 << 10;

/// The listening endpoint and its server thread.
pub struct Metrics {
    server: Server,
}

struct MetricsProtocol {
    shared: Arc<Shared>,
    ctl: Arc<ServeStats>,
    own: Arc<ServeStats>,
}

struct HeadFramer {
    scanned: usize,
}

impl Framer for HeadFramer {
    type Request = ();

    fn feed(&mut self, buf: &[u8]) -> Framing {
        let from = self.scanned.saturating_sub(3);
        match buf[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            Some(i) => Framing::Complete(from + i + 4),
            None if buf.len() > MAX_HEAD => {
                Framing::Refuse(format!("request head over {MAX_HEAD} bytes"))
            }
            None => {
                self.scanned = buf.len();
                Framing::More(None)
            }
        }
    }

    fn request(&mut self, _buf: Vec<u8>) -> Result<(), String> {
        Ok(())
    }
}

impl Protocol for MetricsProtocol {
    type Framer = HeadFramer;
    const SLOW: bool = false;

    fn framer(&self) -> HeadFramer {
        HeadFramer { scanned: 0 }
    }

    fn answer(&self, _req: ()) -> Vec<u8> {
        let mut body = render(&self.shared);
        render_serve_stats(&mut body, "control", &self.ctl);
        render_serve_stats(&mut body, "metrics", &self.own);
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    fn refusal(&self, why: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{why}\n",
            why.len() + 1
        )
        .into_bytes()
    }
}

impl Metrics {
    /// Listens on `addr` (e.g. `127.0.0.1:9100`) and serves scrapes on a thread of its own.
    pub(crate) fn bind(
        addr: &str,
        shared: Arc<Shared>,
        ctl: Arc<ServeStats>,
    ) -> std::io::Result<Metrics> {
        let listener = TcpListener::bind(addr)?;
        let limits = Limits {
            max_conns: 64,
            max_conns_per_uid: 8,
            max_request: MAX_HEAD + 1,
            idle: Duration::from_secs(2),
            request_deadline: Duration::from_secs(5),
            write_idle: Duration::from_secs(5),
        };
        let own = Arc::new(ServeStats::default());
        let server = Server::spawn(
            "brisk-metrics",
            Listener::Tcp(listener),
            Arc::new(MetricsProtocol {
                shared,
                ctl,
                own: own.clone(),
            }),
            limits,
            own,
        )?;
        Ok(Metrics { server })
    }

    /// The endpoint's own counters.
    pub(crate) fn stats(&self) -> Arc<ServeStats> {
        self.server.stats.clone()
    }

    /// Stops serving (waits for the server thread).
    pub(crate) fn stop(&mut self) {
        self.server.stop();
    }
}

/// Counters of a listener, as `brisk_serve_*{listener="..."}`.
pub(crate) fn render_serve_stats(o: &mut String, listener: &str, s: &ServeStats) {
    for (name, v) in s.rows() {
        let kind = if name == "open" { "gauge" } else { "counter" };
        let metric = if kind == "counter" {
            format!("brisk_serve_{name}_total")
        } else {
            format!("brisk_serve_{name}")
        };
        let _ = writeln!(
            o,
            "# TYPE {metric} {kind}\n{metric}{{listener=\"{listener}\"}} {v}"
        );
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
