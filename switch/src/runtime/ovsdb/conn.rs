//! One JSON-RPC connection to an `ovsdb-server`: `unix:PATH` or `tcp:IP:PORT`, blocking
//! with a read timeout, framed by [`ovsdb::Splitter`].

use ovsdb::{Message, RpcError, Splitter};
use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Largest message accepted from the database (a full initial dump of a big node is a few
/// MiB).
pub const MAX_MESSAGE: usize = 64 << 20;

/// Where the database is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A Unix socket.
    Unix(std::path::PathBuf),
    /// A TCP address.
    Tcp(String),
}

impl Target {
    /// Parses OVS's `unix:PATH` / `tcp:IP:PORT`.
    pub fn parse(s: &str) -> Result<Target, String> {
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err(format!("{s:?}: unix: needs a path"));
            }
            return Ok(Target::Unix(p.into()));
        }
        if let Some(a) = s.strip_prefix("tcp:") {
            let ok = a
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !ok {
                return Err(format!("{s:?}: tcp: needs IP:PORT"));
            }
            return Ok(Target::Tcp(a.to_string()));
        }
        Err(format!(
            "{s:?} is not a database address (unix:PATH or tcp:IP:PORT)"
        ))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Unix(p) => write!(f, "unix:{}", p.display()),
            Target::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// The socket.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The peer sent something that is not JSON-RPC.
    #[error("{0}")]
    Rpc(#[from] RpcError),
    /// The peer closed the connection.
    #[error("connection closed by the database")]
    Closed,
}

/// A connection.
pub struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    splitter: Splitter,
    next_id: u64,
}

impl Conn {
    /// Connects (within `timeout`).
    pub fn open(t: &Target, timeout: Duration) -> Result<Conn, ConnError> {
        let stream = match t {
            Target::Unix(p) => Stream::Unix(UnixStream::connect(p)?),
            Target::Tcp(a) => {
                let addr = a
                    .parse::<std::net::SocketAddr>()
                    .map_err(|e| std::io::Error::new(ErrorKind::InvalidInput, e))?;
                let s = TcpStream::connect_timeout(&addr, timeout)?;
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
        };
        Ok(Conn {
            stream,
            buf: Vec::new(),
            splitter: Splitter::new(MAX_MESSAGE),
            next_id: 1,
        })
    }

    fn io(&mut self) -> &mut dyn ReadWrite {
        match &mut self.stream {
            Stream::Unix(s) => s,
            Stream::Tcp(s) => s,
        }
    }

    fn set_timeout(&self, d: Duration) -> std::io::Result<()> {
        let d = Some(d.max(Duration::from_millis(1)));
        match &self.stream {
            Stream::Unix(s) => s.set_read_timeout(d),
            Stream::Tcp(s) => s.set_read_timeout(d),
        }
    }

    /// Sends a message.
    pub fn send(&mut self, m: &Message) -> Result<(), ConnError> {
        let bytes = m.encode();
        self.io().write_all(&bytes)?;
        Ok(())
    }

    /// Sends a request; returns its id.
    pub fn request(&mut self, method: &str, params: Vec<Value>) -> Result<Value, ConnError> {
        let id = Value::from(self.next_id);
        self.next_id += 1;
        self.send(&Message::Request {
            method: method.into(),
            params,
            id: id.clone(),
        })?;
        Ok(id)
    }

    /// The next message, waiting at most `timeout` (`Ok(None)`: none came). Echo requests
    /// are answered here.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<Message>, ConnError> {
        loop {
            if let Some(n) = self.splitter.feed(&self.buf)? {
                let m = Message::decode(&self.buf[..n]);
                self.buf.drain(..n);
                let m = m?;
                if let Message::Request { method, params, id } = &m {
                    if method == "echo" {
                        self.send(&Message::Reply {
                            outcome: Ok(Value::Array(params.clone())),
                            id: id.clone(),
                        })?;
                        continue;
                    }
                }
                return Ok(Some(m));
            }
            self.set_timeout(timeout)?;
            let mut chunk = [0u8; 64 * 1024];
            match self.io().read(&mut chunk) {
                Ok(0) => return Err(ConnError::Closed),
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(None)
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Waits for the reply to request `id` (other messages are handed to `other`).
    pub fn wait_reply(
        &mut self,
        id: &Value,
        timeout: Duration,
        mut other: impl FnMut(Message),
    ) -> Result<Result<Value, Value>, ConnError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(std::io::Error::new(
                    ErrorKind::TimedOut,
                    "the database did not answer in time",
                )
                .into());
            }
            match self.recv(left)? {
                Some(Message::Reply { outcome, id: rid }) if &rid == id => return Ok(outcome),
                Some(m) => other(m),
                None => {}
            }
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}
