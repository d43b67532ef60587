//! The OpenFlow management socket: `punix:<rundir>/<bridge>.mgmt` (mode 0600, as OVS's) and
//! optional `ptcp:PORT[:IP]` listeners, where `ovs-ofctl` and controllers program the
//! bridge in OpenFlow 1.0 and 1.3–1.5.
//!
//! One thread accepts; each connection has its own thread with its own buffers, a read
//! timeout (for stop requests and echo probes) and a write timeout, so a stuck or hostile
//! peer holds only its own thread and never the datapath or another connection. Messages
//! are decoded by the pure `openflow` crate; [`session`] acts on them against the same
//! bridge `brisk ctl` changes.

mod events;
mod roles;

pub use events::{AsyncEvent, FlowRemoved};
mod port_ops;
pub(crate) use port_ops::packet_out;
pub(crate) use views::datapath_id;
mod session;
mod views;

pub use ::openflow::target::{ControllerOptions, OfConnect, OfListen};

/// What every OpenFlow connection of a bridge shares: the tables' names as controllers
/// set them, and the controllers' roles.
pub struct OfShared {
    /// Table names (table-features requests).
    pub names: views::TableNames,
    /// Controller roles.
    pub roles: roles::Roles,
    /// Asynchronous messages waiting for the connections.
    pub events: events::Events,
    /// This run's bridge id in continuations (NXCPT_BRIDGE): a continuation from another
    /// run or switch is refused as stale, as OVS refuses one from another bridge.
    pub bridge_uuid: [u8; 16],
}

impl Default for OfShared {
    fn default() -> Self {
        OfShared {
            names: Default::default(),
            roles: Default::default(),
            events: Default::default(),
            bridge_uuid: random_uuid(),
        }
    }
}

/// A version 4 UUID from the kernel's random source (the clock and pid if it is missing).
fn random_uuid() -> [u8; 16] {
    let mut b = [0u8; 16];
    let got = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if got.is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b = (t ^ (u128::from(std::process::id()) << 64)).to_be_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    b
}

use super::serve::ServeStats;
use super::state::Shared;
use super::{io, RuntimeError};
use openflow::{frame, Frame};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Connections open at once per listener; more are closed at accept (counted).
pub const MAX_CONNS: usize = 64;
/// Largest message buffered from a peer (OpenFlow's own limit is 64 KiB).
const READ_CHUNK: usize = 256 * 1024;
/// A listener's peer (`ovs-ofctl`, a controller that connected) silent this long is sent
/// an echo request, and disconnected if still silent as long again.
const SERVICE_PROBE: Duration = Duration::from_secs(15);
/// An idle connection wakes this often to send asynchronous messages (flow-removed, port
/// status) and to notice a stop request.
const ASYNC_POLL: Duration = Duration::from_millis(100);
/// A reply the peer does not read for this long closes the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

enum Listener {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener),
}

/// A running OpenFlow listener.
pub struct OfServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Its counters (also in `drop-stats` and the metrics as listener "openflow").
    pub stats: Arc<ServeStats>,
    path: Option<PathBuf>,
    /// A controller connection's state: connected or not, and since when (what
    /// `Controller.is_connected` and `status` report).
    pub link: Arc<parking_lot::Mutex<(bool, Instant)>>,
}

impl OfServer {
    /// Binds and starts serving; `stats` may be shared by several listeners.
    pub fn start(
        shared: Arc<Shared>,
        at: &OfListen,
        stats: Arc<ServeStats>,
        of: Arc<OfShared>,
    ) -> Result<OfServer, RuntimeError> {
        let listener = match at {
            OfListen::Unix(p) => {
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(io(format!("creating {}", dir.display())))?;
                }
                // The control socket's lock is held: a socket file here is a dead switch's.
                if UnixStream::connect(p).is_ok() {
                    return Err(RuntimeError::Config(format!(
                        "{}: another switch is listening there",
                        p.display()
                    )));
                }
                let _ = std::fs::remove_file(p);
                let l = UnixListener::bind(p).map_err(io(format!("binding {}", p.display())))?;
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))
                    .map_err(io(format!("chmod {}", p.display())))?;
                Listener::Unix(l, p.clone())
            }
            OfListen::Tcp(a) => {
                Listener::Tcp(TcpListener::bind(a).map_err(io(format!("binding {at}")))?)
            }
        };
        match &listener {
            Listener::Unix(l, _) => l.set_nonblocking(true),
            Listener::Tcp(l) => l.set_nonblocking(true),
        }
        .map_err(io("openflow listener"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let path = match &listener {
            Listener::Unix(_, p) => Some(p.clone()),
            Listener::Tcp(_) => None,
        };
        let (st, sstop) = (stats.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("openflow".into())
            .spawn(move || accept_loop(listener, shared, of, st, sstop))
            .map_err(io("openflow thread"))?;
        Ok(OfServer {
            stop,
            thread: Some(thread),
            stats,
            path,
            link: Arc::new(parking_lot::Mutex::new((false, Instant::now()))),
        })
    }

    /// Stops accepting, closes every connection, waits for their threads.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for OfServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A connection's byte stream.
pub(crate) enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn set_timeouts(&self) -> std::io::Result<()> {
        let r = Some(ASYNC_POLL);
        let w = Some(WRITE_TIMEOUT);
        match self {
            Stream::Unix(s) => {
                s.set_nonblocking(false)?;
                s.set_read_timeout(r)?;
                s.set_write_timeout(w)
            }
            Stream::Tcp(s) => {
                s.set_nonblocking(false)?;
                s.set_nodelay(true)?;
                s.set_read_timeout(r)?;
                s.set_write_timeout(w)
            }
        }
    }
}

impl Stream {
    fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tcp(s) => s.as_raw_fd(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(b),
            Stream::Tcp(s) => s.read(b),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(b),
            Stream::Tcp(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl OfServer {
    /// Connects to a controller and serves it, reconnecting with backoff when it goes
    /// away, until stopped.
    pub fn connect(
        shared: Arc<Shared>,
        to: &OfConnect,
        opts: ControllerOptions,
        stats: Arc<ServeStats>,
        of: Arc<OfShared>,
    ) -> Result<OfServer, RuntimeError> {
        let stop = Arc::new(AtomicBool::new(false));
        let link = Arc::new(parking_lot::Mutex::new((false, Instant::now())));
        let (st, sp, at, lk) = (stats.clone(), stop.clone(), to.clone(), link.clone());
        let thread = std::thread::Builder::new()
            .name("openflow-ctrl".into())
            .spawn(move || controller_loop(&at, opts, &shared, &of, &st, &sp, &lk))
            .map_err(io("openflow controller thread"))?;
        Ok(OfServer {
            stop,
            thread: Some(thread),
            stats,
            path: None,
            link,
        })
    }
}

/// Connects to a controller until stopped: attempts 1 s apart, doubling up to the
/// controller's `max_backoff`, back to 1 s after a connection that lasted that long.
fn controller_loop(
    to: &OfConnect,
    opts: ControllerOptions,
    shared: &Arc<Shared>,
    of: &Arc<OfShared>,
    stats: &ServeStats,
    stop: &AtomicBool,
    link: &parking_lot::Mutex<(bool, Instant)>,
) {
    let mut backoff = Duration::from_secs(1);
    while !stop.load(Ordering::Relaxed) {
        let got = match to {
            OfConnect::Tcp(a) => {
                TcpStream::connect_timeout(a, Duration::from_secs(1)).map(Stream::Tcp)
            }
            OfConnect::Unix(p) => UnixStream::connect(p).map(Stream::Unix),
        };
        match got {
            Ok(s) => {
                stats.accepted.fetch_add(1, Ordering::Relaxed);
                stats.open.fetch_add(1, Ordering::Relaxed);
                tracing::info!(controller = %to, "openflow: connected");
                let t = Instant::now();
                *link.lock() = (true, t);
                let probe = opts.inactivity_probe;
                serve_conn(false, probe, s, shared, of.clone(), stats, stop);
                *link.lock() = (false, Instant::now());
                stats.open.fetch_sub(1, Ordering::Relaxed);
                tracing::info!(controller = %to, "openflow: disconnected");
                if t.elapsed() > opts.max_backoff {
                    backoff = Duration::from_secs(1);
                }
            }
            Err(e) => tracing::debug!(controller = %to, "openflow: connecting: {e}"),
        }
        // Sleep the backoff in steps, so a stop is seen within 100 ms.
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
        backoff = (backoff * 2).min(opts.max_backoff);
    }
}

fn accept_loop(
    l: Listener,
    shared: Arc<Shared>,
    of: Arc<OfShared>,
    stats: Arc<ServeStats>,
    stop: Arc<AtomicBool>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let got = match &l {
            Listener::Unix(l, _) => l.accept().map(|(s, _)| Stream::Unix(s)),
            Listener::Tcp(l) => l.accept().map(|(s, _)| Stream::Tcp(s)),
        };
        match got {
            Ok(s) => {
                stats.accepted.fetch_add(1, Ordering::Relaxed);
                if open.load(Ordering::Relaxed) >= MAX_CONNS {
                    stats.refused_busy.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let (sh, st, sp, op) = (shared.clone(), stats.clone(), stop.clone(), open.clone());
                let nm = of.clone();
                op.fetch_add(1, Ordering::Relaxed);
                st.open.fetch_add(1, Ordering::Relaxed);
                let t = std::thread::Builder::new()
                    .name("openflow-conn".into())
                    .spawn(move || {
                        serve_conn(true, Some(SERVICE_PROBE), s, &sh, nm, &st, &sp);
                        op.fetch_sub(1, Ordering::Relaxed);
                        st.open.fetch_sub(1, Ordering::Relaxed);
                    });
                match t {
                    Ok(t) => threads.push(t),
                    Err(e) => {
                        tracing::warn!("openflow: no thread for a connection: {e}");
                        open.fetch_sub(1, Ordering::Relaxed);
                        stats.open.fetch_sub(1, Ordering::Relaxed);
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                tracing::warn!("openflow: accept: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        threads.retain(|t| !t.is_finished());
    }
    for t in threads {
        let _ = t.join();
    }
}

/// One connection: hello, then messages until the peer leaves, sends garbage, stops
/// answering probes or stops reading, or the switch stops.
/// Serves one connection until it closes or the server stops; `probe` is the inactivity
/// probe interval (`None`: never probed).
fn serve_conn(
    service: bool,
    probe: Option<Duration>,
    mut s: Stream,
    shared: &Arc<Shared>,
    of: Arc<OfShared>,
    stats: &ServeStats,
    stop: &AtomicBool,
) {
    let allowed = shared.of_versions.load(Ordering::Relaxed);
    if s.set_timeouts().is_err()
        || s.write_all(&openflow::message::hello_offering(0, allowed))
            .is_err()
    {
        return;
    }
    let mut sess = session::Session::new(shared.clone(), of, service);
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut last_heard = Instant::now();
    let mut probed = false;
    while !stop.load(Ordering::Relaxed) {
        // With packet-ins subscribed, wait for the peer or for packet-ins (whichever comes
        // first); a packet-in goes out without waiting for the read timeout.
        let mut idle = false;
        if let Some(wake) = sess.wake_fd() {
            let ready = super::packet_in::wait(&[s.raw_fd(), wake], ASYNC_POLL);
            if ready[1] {
                let pending = sess.async_messages();
                if !pending.is_empty() && s.write_all(&pending).is_err() {
                    stats.write_timeouts.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                if !ready[0] {
                    continue;
                }
            }
            // Nothing from the peer within the poll: the idle work below, without a
            // blocking read that would not see the next packet-in.
            idle = !ready[0];
        }
        let got = if idle {
            Err(std::io::Error::from(ErrorKind::WouldBlock))
        } else {
            s.read(&mut chunk)
        };
        match got {
            Ok(0) => return,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                last_heard = Instant::now();
                probed = false;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                let pending = sess.async_messages();
                if !pending.is_empty() && s.write_all(&pending).is_err() {
                    stats.write_timeouts.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                let Some(every) = probe else { continue };
                let idle = last_heard.elapsed();
                if !sess.negotiated() && idle >= every * 2 {
                    stats.timed_out.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("openflow: no hello from the peer in {idle:?}: disconnected");
                    return;
                }
                if !probed && idle >= every && sess.negotiated() {
                    probed = true;
                    if s.write_all(&sess.echo_probe()).is_err() {
                        return;
                    }
                } else if probed && idle >= every * 2 {
                    stats.timed_out.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        "openflow: peer silent for {:?} after an echo request: disconnected",
                        idle
                    );
                    return;
                }
                continue;
            }
            Err(_) => return,
        }
        // Every complete message in the buffer, in order; replies go out together.
        let mut out = Vec::new();
        let mut used = 0;
        let mut close = false;
        loop {
            match frame(&buf[used..]) {
                Frame::More => break,
                Frame::Garbage => {
                    stats.bad_requests.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("openflow: a message with a length under 8: cannot frame the stream, disconnected");
                    close = true;
                    break;
                }
                Frame::Message(n) => {
                    let msg = &buf[used..used + n];
                    used += n;
                    stats.requests.fetch_add(1, Ordering::Relaxed);
                    match sess.handle(msg, &mut out) {
                        session::Next::Continue => {}
                        session::Next::Refused => {
                            stats.bad_requests.fetch_add(1, Ordering::Relaxed);
                        }
                        session::Next::Close => {
                            close = true;
                            break;
                        }
                    }
                }
            }
        }
        sess.flush(&mut out);
        sess.sync_packet_ins();
        out.extend_from_slice(&sess.async_messages());
        buf.drain(..used);
        if !out.is_empty() && s.write_all(&out).is_err() {
            stats.write_timeouts.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if close {
            return;
        }
    }
}
