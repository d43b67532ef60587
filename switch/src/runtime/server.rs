//! The control socket: one switch per path, its server, and the `brisk ctl` client.
//!
//! Wire protocol, one request per connection: a header line of JSON
//! `{"args": [...], "input_len": N}` then exactly N bytes of input (a flows or YAML file's
//! text); older clients may put the input inline as `"input": "..."`. While the command
//! runs the switch sends `{"progress": "..."}` lines every two seconds, then the reply line
//! `{"status": 0, "output": "..."}` (non-zero status: `output` is the error).

use super::ctl::{self as control, Reply, Request};
use super::serve::{Framer, Framing, Limits, Protocol, Server};
use super::state::Shared;
use super::{io, RuntimeError};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest header line (the command and its arguments).
pub const MAX_HEADER: usize = 1 << 20;
/// Default limit of a request's input (`brisk run --ctl-max-input-mb`).
pub const DEFAULT_MAX_INPUT: usize = 512 << 20;

/// The header line of a request.
#[derive(Serialize, Deserialize, Debug)]
struct Header {
    args: Vec<String>,
    #[serde(default)]
    input: Option<String>,
    #[serde(default)]
    input_len: Option<usize>,
}

/// A line the switch sends while a command runs.
#[derive(Serialize, Deserialize, Debug)]
struct Progress {
    progress: String,
}

/// The control socket's protocol: commands run on their own thread (reads concurrently,
/// changes one at a time), so a long `replace-flows` delays no `show`.
struct ControlProtocol {
    shared: Arc<Shared>,
    version: String,
    /// Held by commands that change the switch: one change at a time.
    change: Mutex<()>,
    max_input: usize,
}

struct ControlFramer {
    scanned: usize,
    header: Option<(usize, Header)>,
    max_input: usize,
}

impl Framer for ControlFramer {
    type Request = Request;

    fn feed(&mut self, buf: &[u8]) -> Framing {
        if self.header.is_none() {
            let Some(nl) = buf[self.scanned..].iter().position(|&b| b == b'\n') else {
                self.scanned = buf.len();
                if buf.len() > MAX_HEADER {
                    return Framing::Refuse(format!(
                        "request line over {MAX_HEADER} bytes (a file's text goes after it, announced by input_len)"
                    ));
                }
                return Framing::More(None);
            };
            let end = self.scanned + nl;
            let h: Header = match serde_json::from_slice(&buf[..end]) {
                Ok(h) => h,
                Err(e) => return Framing::Refuse(format!("bad request: {e}")),
            };
            if let Some(n) = h.input_len.filter(|&n| n > self.max_input) {
                return Framing::Refuse(format!(
                    "input of {n} bytes is over the limit of {} bytes (brisk run --ctl-max-input-mb)",
                    self.max_input
                ));
            }
            self.header = Some((end + 1, h));
        }
        let Some((start, h)) = self.header.as_ref() else {
            return Framing::More(None);
        };
        let total = start + h.input_len.unwrap_or(0);
        if buf.len() >= total {
            Framing::Complete(total)
        } else {
            Framing::More(Some(total))
        }
    }

    fn request(&mut self, mut buf: Vec<u8>) -> Result<Request, String> {
        let (start, h) = self.header.take().ok_or("no request")?;
        let input = match h.input_len {
            Some(_) => {
                let body = buf.split_off(start);
                Some(String::from_utf8(body).map_err(|e| {
                    format!(
                        "input is not UTF-8 text (byte {})",
                        e.utf8_error().valid_up_to()
                    )
                })?)
            }
            None => h.input,
        };
        Ok(Request {
            args: h.args,
            input,
        })
    }
}

/// Decodes a whole request as the switch reads it off the socket (header line, then the
/// announced input): `Ok(None)` when more bytes are needed. Pure, for fuzzing and tests.
pub fn decode_request(buf: &[u8], max_input: usize) -> Result<Option<Request>, String> {
    let mut f = ControlFramer {
        scanned: 0,
        header: None,
        max_input,
    };
    match f.feed(buf) {
        Framing::More(_) => Ok(None),
        Framing::Refuse(why) => Err(why),
        Framing::Complete(n) => f.request(buf[..n].to_vec()).map(Some),
    }
}

impl Protocol for ControlProtocol {
    type Framer = ControlFramer;
    const SLOW: bool = true;

    fn framer(&self) -> ControlFramer {
        ControlFramer {
            scanned: 0,
            header: None,
            max_input: self.max_input,
        }
    }

    fn answer(&self, req: Request) -> Vec<u8> {
        let changes = control::changes_switch(&req.args);
        let _change = changes.then(|| self.change.lock());
        let reply = control::handle(&self.shared, &req, &self.version);
        if changes {
            // An audit line per change (arguments cut short: a flow can be long).
            let cmd: String = req.args.join(" ").chars().take(120).collect();
            let first = reply.output.lines().next().unwrap_or("");
            if reply.status == 0 {
                tracing::info!("ctl {cmd}: {first}");
            } else {
                tracing::warn!("ctl {cmd} refused: {first}");
            }
        }
        reply_line(&reply)
    }

    fn refusal(&self, why: &str) -> Vec<u8> {
        reply_line(&Reply {
            status: 2,
            output: why.to_string(),
        })
    }

    fn progress(&self, elapsed: Duration) -> Option<Vec<u8>> {
        let p = Progress {
            progress: format!("still running after {} s", elapsed.as_secs()),
        };
        let mut line = serde_json::to_vec(&p).ok()?;
        line.push(b'\n');
        Some(line)
    }
}

fn reply_line(r: &Reply) -> Vec<u8> {
    let mut v =
        serde_json::to_vec(r).unwrap_or_else(|_| b"{\"status\":2,\"output\":\"\"}".to_vec());
    v.push(b'\n');
    v
}

/// Limits of the control socket. Only root can connect (mode 0600), so there is no per-uid
/// bound; idle connections make room for new ones.
fn control_limits(max_input: usize) -> Limits {
    Limits {
        max_conns: 64,
        max_conns_per_uid: 0,
        max_request: MAX_HEADER + max_input + 1,
        idle: Duration::from_secs(5),
        request_deadline: Duration::from_secs(10),
        write_idle: Duration::from_secs(30),
    }
}

/// The control socket of a running switch: its path is ours while this lives (a lock held
/// on `PATH.lock`), and the socket file goes with it.
pub(crate) struct ControlSocket {
    path: PathBuf,
    /// Device and inode of the socket we bound: only that file is removed at the end.
    ident: (u64, u64),
    _lock: File,
    server: Option<Server>,
}

/// A control socket path taken for this switch (locked and bound), not yet served. Taken
/// before anything else starts, so a second switch on the same path touches nothing.
pub(crate) struct ClaimedSocket {
    /// Removes the socket file if this is dropped before serving.
    sock: ControlSocket,
    listener: UnixListener,
}

impl ClaimedSocket {
    /// Takes `path` for this switch. Refused, naming the running process, when another
    /// switch holds the path; a file at the path that is not a socket is never deleted.
    pub(crate) fn claim(path: &Path) -> Result<ClaimedSocket, RuntimeError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        }
        let lock = take_lock(path)?;
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(format!("examining {}", path.display()))(e)),
            Ok(m) if !m.file_type().is_socket() => {
                return Err(RuntimeError::Config(format!(
                    "control socket {}: a file that is not a socket is there; not removing it (give another --socket)",
                    path.display()
                )));
            }
            Ok(_) => {
                if let Ok(s) = UnixStream::connect(path) {
                    return Err(RuntimeError::Config(format!(
                        "control socket {}: {} is serving it; not taking it over (give another --socket)",
                        path.display(),
                        peer_pid(&s).map_or("another process".into(), |p| format!("process {p}"))
                    )));
                }
                // A stale socket of a switch that is gone.
                std::fs::remove_file(path)
                    .map_err(io(format!("removing stale socket {}", path.display())))?;
            }
        }
        let listener =
            UnixListener::bind(path).map_err(io(format!("binding {}", path.display())))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(io("chmod control socket"))?;
        let m = std::fs::symlink_metadata(path).map_err(io("control socket"))?;
        Ok(ClaimedSocket {
            sock: ControlSocket {
                path: path.to_path_buf(),
                ident: (m.dev(), m.ino()),
                _lock: lock,
                server: None,
            },
            listener,
        })
    }

    /// Serves the socket: commands of clients that connected meanwhile are answered now.
    pub(crate) fn serve(
        self,
        shared: Arc<Shared>,
        version: String,
        max_input: usize,
    ) -> Result<ControlSocket, RuntimeError> {
        let ClaimedSocket { mut sock, listener } = self;
        let proto = Arc::new(ControlProtocol {
            shared,
            version,
            change: Mutex::new(()),
            max_input,
        });
        sock.server = Some(
            Server::spawn(
                "brisk-ctl",
                super::serve::Listener::Unix(listener),
                proto,
                control_limits(max_input),
                Arc::default(),
            )
            .map_err(io("starting the control server"))?,
        );
        Ok(sock)
    }
}

fn remove_if_ours(path: &Path, ident: (u64, u64)) {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if (m.dev(), m.ino()) == ident {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl ControlSocket {
    /// The server's counters.
    pub(crate) fn stats(&self) -> Arc<super::serve::ServeStats> {
        self.server
            .as_ref()
            .map(|s| s.stats.clone())
            .unwrap_or_default()
    }

    /// Stops serving: no new connections, idle ones closed, running commands finish.
    pub(crate) fn stop(&mut self) {
        if let Some(s) = self.server.as_mut() {
            s.stop();
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.stop();
        remove_if_ours(&self.path, self.ident);
    }
}

/// Takes the lock `PATH.lock` (flock, held while the file is open) and writes our pid in
/// it; refused with the holder's pid when another switch has it.
fn take_lock(path: &Path) -> Result<File, RuntimeError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(io(format!("opening {}", lock_path.display())))?;
    // SAFETY: flock on a file descriptor we own; non-blocking.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r != 0 {
        let mut pid = String::new();
        let _ = f.read_to_string(&mut pid);
        return Err(RuntimeError::Config(format!(
            "control socket {}: another brisk (pid {}) is running on it; stop it, or give this one another --socket",
            path.display(),
            pid.trim()
        )));
    }
    let _ = f.set_len(0);
    let _ = writeln!(f, "{}", std::process::id());
    Ok(f)
}

/// The pid of the process at the other end of a Unix socket (SO_PEERCRED).
fn peer_pid(s: &UnixStream) -> Option<i32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, which is that large.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (r == 0 && cred.pid > 0).then_some(cred.pid)
}

/// How `brisk ctl` waits for its reply.
#[derive(Default)]
pub struct CtlOptions {
    /// Give up after this long (the switch carries on with the command). None: wait as
    /// long as the command takes.
    pub timeout: Option<Duration>,
}

/// Sends a command to a running switch and waits for its reply; `progress` gets each
/// progress line of a long command.
pub fn ctl(
    socket: &Path,
    req: &Request,
    opts: &CtlOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Reply, RuntimeError> {
    let started = Instant::now();
    let s = UnixStream::connect(socket).map_err(io(format!(
        "connecting to {} (is brisk running?)",
        socket.display()
    )))?;
    let input = req.input.as_deref().unwrap_or("");
    let header = Header {
        args: req.args.clone(),
        input: None,
        input_len: req.input.as_ref().map(|_| input.len()),
    };
    let mut line = serde_json::to_vec(&header).map_err(|e| RuntimeError::Config(e.to_string()))?;
    line.push(b'\n');
    let mut w = &s;
    w.write_all(&line).map_err(io("sending the request"))?;
    if let Err(e) = w.write_all(input.as_bytes()) {
        // The switch may have refused the request already: its reply says why.
        if let Ok(r) = read_reply(&s, started, opts, progress) {
            return Ok(r);
        }
        return Err(io("sending the request")(e));
    }
    read_reply(&s, started, opts, progress)
}

fn read_reply(
    s: &UnixStream,
    started: Instant,
    opts: &CtlOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Reply, RuntimeError> {
    let mut r = BufReader::new(s);
    loop {
        if let Some(t) = opts.timeout {
            let left = t.checked_sub(started.elapsed()).filter(|d| !d.is_zero());
            let Some(left) = left else {
                return Err(timed_out(t));
            };
            s.set_read_timeout(Some(left)).map_err(io("socket"))?;
        }
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) => {
                return Err(RuntimeError::Config(
                    "the switch closed the connection without a reply".into(),
                ))
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out(opts.timeout.unwrap_or_default()));
            }
            Err(e) => return Err(io("reading the reply")(e)),
        }
        if let Ok(p) = serde_json::from_str::<Progress>(&line) {
            progress(&p.progress);
            continue;
        }
        return serde_json::from_str(&line)
            .map_err(|e| RuntimeError::Config(format!("bad reply: {e}")));
    }
}

fn timed_out(t: Duration) -> RuntimeError {
    RuntimeError::Config(format!(
        "no reply within {} s (--timeout); the switch carries on with the command",
        t.as_secs_f64()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_decode_with_announced_or_inline_input() {
        let r = decode_request(b"{\"args\":[\"add-flows\",\"f\"],\"input_len\":3}\nabc", 10)
            .unwrap()
            .unwrap();
        assert_eq!(r.args, ["add-flows", "f"]);
        assert_eq!(r.input.as_deref(), Some("abc"));
        // Incomplete input: more bytes needed.
        assert!(decode_request(b"{\"args\":[],\"input_len\":3}\nab", 10)
            .unwrap()
            .is_none());
        // The older inline form.
        let r = decode_request(b"{\"args\":[\"show\"],\"input\":\"x\"}\n", 10)
            .unwrap()
            .unwrap();
        assert_eq!(r.input.as_deref(), Some("x"));
        // Over the limit: refused from the header alone.
        let e = decode_request(b"{\"args\":[],\"input_len\":11}\n", 10).unwrap_err();
        assert!(e.contains("over the limit of 10 bytes"), "{e}");
        assert!(decode_request(b"{\"args\":[],\"input_len\":1}\n\xff", 10)
            .unwrap_err()
            .contains("not UTF-8"));
        assert!(decode_request(b"[1,2]\n", 10)
            .unwrap_err()
            .starts_with("bad request"));
        let long = vec![b' '; MAX_HEADER + 1];
        assert!(decode_request(&long, 10)
            .unwrap_err()
            .contains("request line over"));
    }
}
