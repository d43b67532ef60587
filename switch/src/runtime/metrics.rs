//! A Prometheus text endpoint (off unless configured): every counter of the registry
//! (`counters.rs`). Served on its own thread by the engine of `serve.rs`: at most 64
//! connections, 8 per local uid, a request head of 8 KiB within 5 s, so no user holding
//! connections open can delay a scrape of another, nor the control socket.

use super::serve::{Framer, Framing, Limits, Listener, Protocol, ServeStats, Server};
use super::state::Shared;
use std::net::TcpListener;
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
        let body = super::counters::prometheus(&super::counters::collect(&self.shared));
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
    pub(crate) fn bind(addr: &str, shared: Arc<Shared>) -> std::io::Result<Metrics> {
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
            Arc::new(MetricsProtocol { shared }),
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
