//! Listeners that cannot be starved. Each listener (the control socket, the metrics port)
//! has one I/O thread that polls every connection, non-blocking, with its own buffers: a
//! request size limit, idle and slow-client deadlines, a bound on connections (per
//! listener, and per uid for TCP), and slow requests answered on their own thread, so no
//! client — idle, slow, stuck or hostile — delays another, and shutdown takes one poll
//! interval whatever clients do.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the engine does with the bytes of a request read so far.
pub(crate) enum Framing {
    /// Not complete; `Some(total)` once the request's total length is known.
    More(Option<usize>),
    /// The first `n` bytes are a complete request.
    Complete(usize),
    /// Refused: the text says why (sent to the client, which is then disconnected).
    Refuse(String),
}

/// Reads one request off a connection's bytes (one per connection, so it may keep state and
/// stay linear in the bytes read).
pub(crate) trait Framer: Send + 'static {
    /// The decoded request.
    type Request: Send + 'static;
    /// Looks at everything read so far.
    fn feed(&mut self, buf: &[u8]) -> Framing;
    /// Decodes the complete request (the first `n` bytes `feed` reported).
    fn request(&mut self, buf: Vec<u8>) -> Result<Self::Request, String>;
}

/// A protocol served by the engine.
pub(crate) trait Protocol: Send + Sync + 'static {
    /// Its framer.
    type Framer: Framer;
    /// Answering may take long: each request runs on its own thread, with progress lines.
    const SLOW: bool;
    /// A framer for a new connection.
    fn framer(&self) -> Self::Framer;
    /// The reply to a request.
    fn answer(&self, req: <Self::Framer as Framer>::Request) -> Vec<u8>;
    /// The reply that refuses a request (bad, too large, too many connections).
    fn refusal(&self, why: &str) -> Vec<u8>;
    /// A line sent while a slow request runs, every [`PROGRESS_EVERY`].
    fn progress(&self, _elapsed: Duration) -> Option<Vec<u8>> {
        None
    }
}

/// How often a running slow request sends a progress line.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// How long the I/O thread sleeps in poll at most (so a stop is seen within it).
const POLL_MS: i32 = 50;
/// Bytes read from one connection per poll round (others get their turn in between).
const READ_CHUNK: usize = 256 * 1024;

/// Bounds of a listener.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Connections open at once. When full, the most idle connection that has not sent a
    /// complete request is closed to make room; when every one is busy, the newcomer is
    /// refused.
    pub max_conns: usize,
    /// Connections open at once per peer uid (TCP listeners on this host; 0: no limit).
    pub max_conns_per_uid: usize,
    /// Bytes a request may have (the framer refuses most sooner, with a better message).
    pub max_request: usize,
    /// A connection that sends nothing for this long while its request is incomplete is
    /// closed.
    pub idle: Duration,
    /// The whole request must arrive within this long of the connection (plus one second
    /// per MiB of a request whose length is announced).
    pub request_deadline: Duration,
    /// A reply the client does not read for this long is abandoned.
    pub write_idle: Duration,
}

/// Counters of one listener.
#[derive(Debug, Default)]
pub struct ServeStats {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections open now.
    pub open: AtomicU64,
    /// Requests answered.
    pub requests: AtomicU64,
    /// New connections refused: every slot busy.
    pub refused_busy: AtomicU64,
    /// New connections refused: their uid holds its limit.
    pub refused_uid: AtomicU64,
    /// Idle connections closed to make room for a new one.
    pub evicted: AtomicU64,
    /// Connections closed for sending too slowly or not at all (idle, deadline).
    pub timed_out: AtomicU64,
    /// Requests refused by the framer (malformed or over the size limit).
    pub bad_requests: AtomicU64,
    /// Replies abandoned because the client did not read them.
    pub write_timeouts: AtomicU64,
}

impl ServeStats {
    /// The metric name and help of a row of [`ServeStats::rows`].
    pub fn metric(row: &str) -> (&'static str, &'static str) {
        match row {
            "accepted" => ("brisk_serve_accepted_total", "Connections accepted"),
            "open" => ("brisk_serve_open", "Connections open now"),
            "requests" => ("brisk_serve_requests_total", "Requests answered"),
            "refused_busy" => (
                "brisk_serve_refused_busy_total",
                "New connections refused: every slot busy with a request",
            ),
            "refused_uid" => (
                "brisk_serve_refused_uid_total",
                "New connections refused: their uid holds its limit",
            ),
            "evicted_idle" => (
                "brisk_serve_evicted_idle_total",
                "Idle connections closed to make room for a new one",
            ),
            "timed_out" => (
                "brisk_serve_timed_out_total",
                "Connections closed for sending too slowly or not at all",
            ),
            "bad_requests" => (
                "brisk_serve_bad_requests_total",
                "Requests refused: malformed or over the size limit",
            ),
            _ => (
                "brisk_serve_write_timeouts_total",
                "Replies abandoned because the client did not read them",
            ),
        }
    }

    /// (name, value) of every counter, for views.
    pub fn rows(&self) -> [(&'static str, u64); 9] {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        [
            ("accepted", l(&self.accepted)),
            ("open", l(&self.open)),
            ("requests", l(&self.requests)),
            ("refused_busy", l(&self.refused_busy)),
            ("refused_uid", l(&self.refused_uid)),
            ("evicted_idle", l(&self.evicted)),
            ("timed_out", l(&self.timed_out)),
            ("bad_requests", l(&self.bad_requests)),
            ("write_timeouts", l(&self.write_timeouts)),
        ]
    }
}

/// A listening socket.
pub(crate) enum Listener {
    /// A Unix stream socket.
    Unix(UnixListener),
    /// A TCP socket.
    Tcp(TcpListener),
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn io(&mut self) -> &mut dyn ReadWrite {
        match self {
            Stream::Unix(s) => s,
            Stream::Tcp(s) => s,
        }
    }
    fn fd(&self) -> RawFd {
        match self {
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tcp(s) => s.as_raw_fd(),
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

enum State {
    Reading,
    Running {
        since: Instant,
        next_progress: Instant,
    },
    Writing {
        last_write: Instant,
        close_after: bool,
    },
}

enum ReadOutcome<R> {
    Nothing,
    Close,
    Refuse(String),
    Start(R),
}

struct Conn<F> {
    stream: Stream,
    opened: Instant,
    uid: Option<u32>,
    framer: F,
    buf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    state: State,
    last_read: Instant,
    deadline: Instant,
}

/// A running listener: its I/O thread and counters.
pub(crate) struct Server {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    /// Its counters.
    pub stats: Arc<ServeStats>,
}

impl Server {
    /// Starts serving `listener` on a thread named `name`.
    pub(crate) fn spawn<P: Protocol>(
        name: &str,
        listener: Listener,
        proto: Arc<P>,
        limits: Limits,
        stats: Arc<ServeStats>,
    ) -> std::io::Result<Server> {
        match &listener {
            Listener::Unix(l) => l.set_nonblocking(true)?,
            Listener::Tcp(l) => l.set_nonblocking(true)?,
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (wake_rx, wake_tx) = UnixStream::pair()?;
        wake_rx.set_nonblocking(true)?;
        wake_tx.set_nonblocking(true)?;
        let mut engine = Engine {
            listener,
            proto,
            limits,
            stop: stop.clone(),
            stats: stats.clone(),
            conns: HashMap::new(),
            next_id: 0,
            done: Arc::new(Mutex::new(Vec::new())),
            wake_rx,
            wake_tx: Arc::new(wake_tx),
            jobs: Vec::new(),
            scratch: vec![0u8; READ_CHUNK],
        };
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || engine.run())?;
        Ok(Server {
            thread: Some(thread),
            stop,
            stats,
        })
    }

    /// Stops accepting, closes every connection and waits for requests still running (they
    /// are the switch's own work: a `replace-flows` under way finishes).
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

type Done = Arc<Mutex<Vec<(u64, Vec<u8>)>>>;

struct Engine<P: Protocol> {
    listener: Listener,
    proto: Arc<P>,
    limits: Limits,
    stop: Arc<AtomicBool>,
    stats: Arc<ServeStats>,
    conns: HashMap<u64, Conn<P::Framer>>,
    next_id: u64,
    done: Done,
    wake_rx: UnixStream,
    wake_tx: Arc<UnixStream>,
    jobs: Vec<JoinHandle<()>>,
    /// Read buffer shared by every connection (one allocation for the listener's life).
    scratch: Vec<u8>,
}

impl<P: Protocol> Engine<P> {
    fn run(&mut self) {
        while !self.stop.load(Ordering::Relaxed) {
            let (ids, mut fds) = self.poll_set();
            // SAFETY: `fds` is a valid, exclusively borrowed array of `fds.len()` pollfds.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, POLL_MS) };
            if n < 0 {
                std::thread::sleep(Duration::from_millis(POLL_MS as u64));
                continue;
            }
            let mut sink = [0u8; 64];
            while matches!((&self.wake_rx).read(&mut sink), Ok(k) if k > 0) {}
            self.collect_done();
            if fds[0].revents != 0 {
                self.accept_all();
            }
            for (k, id) in ids.iter().enumerate() {
                if fds[k + 2].revents != 0 {
                    self.service(*id, fds[k + 2].revents);
                }
            }
            self.timers();
            self.jobs.retain(|j| !j.is_finished());
        }
        // Shutdown: no new connections, every connection closed, running requests finish.
        self.conns.clear();
        self.stats.open.store(0, Ordering::Relaxed);
        for j in self.jobs.drain(..) {
            let _ = j.join();
        }
    }

    fn poll_set(&self) -> (Vec<u64>, Vec<libc::pollfd>) {
        let lfd = match &self.listener {
            Listener::Unix(l) => l.as_raw_fd(),
            Listener::Tcp(l) => l.as_raw_fd(),
        };
        let pfd = |fd, events| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        let mut fds = vec![
            pfd(lfd, libc::POLLIN),
            pfd(self.wake_rx.as_raw_fd(), libc::POLLIN),
        ];
        let mut ids = Vec::with_capacity(self.conns.len());
        for (id, c) in &self.conns {
            let ev = match c.state {
                State::Reading => libc::POLLIN,
                State::Running { .. } if c.out_pos < c.out.len() => libc::POLLOUT,
                // Still polled for a hang-up (the request runs on; its reply is discarded).
                State::Running { .. } => 0,
                State::Writing { .. } => libc::POLLOUT,
            };
            ids.push(*id);
            fds.push(pfd(c.stream.fd(), ev));
        }
        (ids, fds)
    }

    fn accept_all(&mut self) {
        loop {
            let accepted = match &self.listener {
                Listener::Unix(l) => l.accept().map(|(s, _)| (Stream::Unix(s), None)),
                Listener::Tcp(l) => l.accept().map(|(s, peer)| {
                    let uid = s.local_addr().ok().and_then(|me| tcp_peer_uid(peer, me));
                    (Stream::Tcp(s), uid)
                }),
            };
            match accepted {
                Ok((s, uid)) => self.admit(s, uid),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
        }
    }

    fn admit(&mut self, mut stream: Stream, uid: Option<u32>) {
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        let nonblock = match &stream {
            Stream::Unix(s) => s.set_nonblocking(true),
            Stream::Tcp(s) => s.set_nonblocking(true),
        };
        if nonblock.is_err() {
            return;
        }
        let is_tcp = matches!(stream, Stream::Tcp(_));
        if is_tcp && self.limits.max_conns_per_uid > 0 {
            let same = self.conns.values().filter(|c| c.uid == uid).count();
            if same >= self.limits.max_conns_per_uid {
                self.stats.refused_uid.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(?uid, "connection refused: its uid holds its limit");
                let why = format!(
                    "too many connections from uid {} ({} open, the limit per uid)",
                    uid.map_or("?".into(), |u| u.to_string()),
                    same
                );
                let _ = stream.io().write(&self.proto.refusal(&why));
                return;
            }
        }
        if self.conns.len() >= self.limits.max_conns && !self.evict_most_idle() {
            self.stats.refused_busy.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("connection refused: every slot busy");
            let why = format!(
                "busy: {} requests running (the limit of connections)",
                self.conns.len()
            );
            let _ = stream.io().write(&self.proto.refusal(&why));
            return;
        }
        let now = Instant::now();
        self.next_id += 1;
        self.conns.insert(
            self.next_id,
            Conn {
                stream,
                opened: now,
                uid,
                framer: self.proto.framer(),
                buf: Vec::new(),
                out: Vec::new(),
                out_pos: 0,
                state: State::Reading,
                last_read: now,
                deadline: now + self.limits.request_deadline,
            },
        );
        self.stats
            .open
            .store(self.conns.len() as u64, Ordering::Relaxed);
    }

    /// Closes the connection that has been silent longest among those still sending their
    /// request; false when every connection is past that.
    fn evict_most_idle(&mut self) -> bool {
        let victim = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(c.state, State::Reading))
            .min_by_key(|(_, c)| c.last_read)
            .map(|(id, _)| *id);
        match victim {
            Some(id) => {
                self.close(id);
                self.stats.evicted.fetch_add(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    fn close(&mut self, id: u64) {
        self.conns.remove(&id);
        self.stats
            .open
            .store(self.conns.len() as u64, Ordering::Relaxed);
    }

    fn service(&mut self, id: u64, revents: i16) {
        let Some(c) = self.conns.get(&id) else { return };
        match c.state {
            State::Reading => self.read(id),
            State::Running { .. } => {
                if revents & (libc::POLLHUP | libc::POLLERR) != 0 {
                    self.close(id);
                } else {
                    self.write(id);
                }
            }
            State::Writing { .. } => self.write(id),
        }
    }

    fn read(&mut self, id: u64) {
        match self.read_some(id) {
            ReadOutcome::Nothing => {}
            ReadOutcome::Close => self.close(id),
            ReadOutcome::Refuse(why) => self.refuse(id, &why),
            ReadOutcome::Start(req) => self.start(id, req),
        }
    }

    fn read_some(&mut self, id: u64) -> ReadOutcome<<P::Framer as Framer>::Request> {
        let limits = self.limits;
        let Some(c) = self.conns.get_mut(&id) else {
            return ReadOutcome::Nothing;
        };
        let chunk = &mut self.scratch;
        let mut got = 0;
        while got < READ_CHUNK {
            match c.stream.io().read(&mut chunk[got..]) {
                Ok(0) => return ReadOutcome::Close,
                Ok(k) => got += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => return ReadOutcome::Close,
            }
        }
        if got == 0 {
            return ReadOutcome::Nothing;
        }
        c.last_read = Instant::now();
        if c.buf.len() + got > limits.max_request {
            return ReadOutcome::Refuse(format!(
                "request over the limit of {} bytes",
                limits.max_request
            ));
        }
        c.buf.extend_from_slice(&chunk[..got]);
        match c.framer.feed(&c.buf) {
            Framing::More(None) => ReadOutcome::Nothing,
            Framing::More(Some(total)) => {
                // A long announced request gets one more second per MiB to arrive.
                let extra = Duration::from_secs((total >> 20) as u64);
                c.deadline = c.opened + limits.request_deadline + extra;
                ReadOutcome::Nothing
            }
            Framing::Refuse(why) => ReadOutcome::Refuse(why),
            Framing::Complete(n) => {
                let mut buf = std::mem::take(&mut c.buf);
                buf.truncate(n);
                match c.framer.request(buf) {
                    Ok(req) => ReadOutcome::Start(req),
                    Err(why) => ReadOutcome::Refuse(why),
                }
            }
        }
    }

    fn refuse(&mut self, id: u64, why: &str) {
        self.stats.bad_requests.fetch_add(1, Ordering::Relaxed);
        let reply = self.proto.refusal(why);
        if let Some(c) = self.conns.get_mut(&id) {
            // The request's bytes are not kept.
            c.buf = Vec::new();
            c.out = reply;
            c.out_pos = 0;
            c.state = State::Writing {
                last_write: Instant::now(),
                close_after: true,
            };
        }
        self.write(id);
    }

    fn start(&mut self, id: u64, req: <P::Framer as Framer>::Request) {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        if !P::SLOW {
            let reply = self.proto.answer(req);
            self.reply(id, reply);
            return;
        }
        let now = Instant::now();
        if let Some(c) = self.conns.get_mut(&id) {
            c.state = State::Running {
                since: now,
                next_progress: now + PROGRESS_EVERY,
            };
        }
        let (proto, done, wake) = (self.proto.clone(), self.done.clone(), self.wake_tx.clone());
        let job = std::thread::Builder::new()
            .name("brisk-ctl-req".into())
            .spawn(move || {
                let reply = proto.answer(req);
                done.lock().push((id, reply));
                let _ = (&*wake).write(&[1]);
            });
        match job {
            Ok(j) => self.jobs.push(j),
            Err(e) => self.refuse(id, &format!("cannot start a thread for the request: {e}")),
        }
    }

    fn collect_done(&mut self) {
        let done: Vec<(u64, Vec<u8>)> = std::mem::take(&mut *self.done.lock());
        for (id, reply) in done {
            self.reply(id, reply);
        }
    }

    fn reply(&mut self, id: u64, reply: Vec<u8>) {
        let Some(c) = self.conns.get_mut(&id) else {
            return; // the client left; the request ran anyway
        };
        c.out.extend_from_slice(&reply);
        c.state = State::Writing {
            last_write: Instant::now(),
            close_after: true,
        };
        self.write(id);
    }

    fn write(&mut self, id: u64) {
        if self.write_some(id) {
            self.close(id);
        }
    }

    /// Writes what the socket takes; true when the connection is to be closed.
    fn write_some(&mut self, id: u64) -> bool {
        let Some(c) = self.conns.get_mut(&id) else {
            return false;
        };
        let mut progressed = false;
        while c.out_pos < c.out.len() {
            let end = c.out.len().min(c.out_pos + READ_CHUNK);
            match c.stream.io().write(&c.out[c.out_pos..end]) {
                Ok(0) => break,
                Ok(k) => {
                    c.out_pos += k;
                    progressed = true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => return true,
            }
        }
        if c.out_pos == c.out.len() {
            c.out = Vec::new();
            c.out_pos = 0;
        }
        match &mut c.state {
            State::Writing {
                last_write,
                close_after,
            } => {
                if progressed {
                    *last_write = Instant::now();
                }
                c.out.is_empty() && *close_after
            }
            _ => false,
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        let mut late = Vec::new();
        let mut progress = Vec::new();
        for (id, c) in &mut self.conns {
            match &mut c.state {
                State::Reading => {
                    if now.duration_since(c.last_read) > self.limits.idle || now > c.deadline {
                        late.push((*id, false));
                    }
                }
                State::Writing { last_write, .. } => {
                    if now.duration_since(*last_write) > self.limits.write_idle {
                        late.push((*id, true));
                    }
                }
                State::Running {
                    since,
                    next_progress,
                } => {
                    if now >= *next_progress {
                        *next_progress = now + PROGRESS_EVERY;
                        if let Some(line) = self.proto.progress(now.duration_since(*since)) {
                            // A client that reads no progress does not grow the buffer.
                            if c.out.len() - c.out_pos < 4096 {
                                c.out.extend_from_slice(&line);
                                progress.push(*id);
                            }
                        }
                    }
                }
            }
        }
        for (id, writing) in late {
            tracing::debug!(writing, "connection closed: too slow");
            if writing {
                self.stats.write_timeouts.fetch_add(1, Ordering::Relaxed);
            } else {
                self.stats.timed_out.fetch_add(1, Ordering::Relaxed);
            }
            self.close(id);
        }
        for id in progress {
            self.write(id);
        }
    }
}

/// The uid owning the other end of a TCP connection on this host (from the kernel's socket
/// table, `/proc/net/tcp` or `tcp6`: the row whose local address is the peer and whose
/// remote address is us); None for a peer on another host.
pub(crate) fn tcp_peer_uid(peer: SocketAddr, me: SocketAddr) -> Option<u32> {
    let file = if peer.is_ipv4() {
        "/proc/net/tcp"
    } else {
        "/proc/net/tcp6"
    };
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 8 {
            return None;
        }
        (proc_addr(f[1])? == canon(peer) && proc_addr(f[2])? == canon(me))
            .then(|| f[7].parse().ok())
            .flatten()
    })
}

/// An IPv4 address in IPv6 clothes (a dual-stack socket's peer) as IPv4.
fn canon(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => a,
        },
        v4 => v4,
    }
}

/// `0100007F:1F90` (IPv4) or 32 hex digits `:PORT` (IPv6), as `/proc/net/tcp*` prints them:
/// the address as 32-bit words in host byte order.
fn proc_addr(s: &str) -> Option<SocketAddr> {
    let (a, p) = s.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    let words: Option<Vec<[u8; 4]>> = (0..a.len() / 8)
        .map(|i| {
            u32::from_str_radix(a.get(i * 8..i * 8 + 8)?, 16)
                .ok()
                .map(u32::to_ne_bytes)
        })
        .collect();
    let bytes: Vec<u8> = words?.concat();
    let ip: std::net::IpAddr = match bytes.len() {
        4 => std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).into(),
        16 => {
            let b: [u8; 16] = bytes.try_into().ok()?;
            let v6 = std::net::Ipv6Addr::from(b);
            // An IPv4 peer of a dual-stack socket.
            match v6.to_ipv4_mapped() {
                Some(v4) => v4.into(),
                None => v6.into(),
            }
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_addresses_parse() {
        assert_eq!(
            proc_addr("0100007F:1F90"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            proc_addr("00000000000000000000000001000000:0050"),
            Some("[::1]:80".parse().unwrap())
        );
        assert_eq!(proc_addr("zz:1"), None);
    }

    #[test]
    fn the_uid_of_a_local_tcp_peer_is_found() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, peer) = l.accept().unwrap();
        assert_eq!(peer, c.local_addr().unwrap());
        // SAFETY: getuid has no preconditions.
        let me = unsafe { libc::getuid() };
        assert_eq!(tcp_peer_uid(peer, s.local_addr().unwrap()), Some(me));
    }
}
