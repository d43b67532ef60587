//! ovs-vswitchd's unixctl socket, so Debian's `ovs-appctl -t PATH` (and scripts that use
//! it, Antrea's among them) talk to brisk as to ovs-vswitchd: one JSON-RPC request per
//! connection, the command's text in the reply. Served by the same starvation-proof
//! engine as the control socket.

mod perf;
mod verbs;
pub(crate) use verbs::dp_features;

use super::serve::{Framer, Framing, Limits, Listener, Protocol, ServeStats, Server};
use super::state::Shared;
use ovsdb::unixctl::Command;
use ovsdb::Splitter;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Largest request accepted (a traced packet's hex is the longest argument).
const MAX_REQUEST: usize = 1 << 20;

/// The running unixctl socket; the file goes with it.
pub struct Appctl {
    path: PathBuf,
    pidfile: Option<PathBuf>,
    /// The pid file, open and locked while brisk runs: OVS's tools take an unlocked pid
    /// file for a dead daemon's.
    _pid_lock: Option<std::fs::File>,
    server: Option<Server>,
}

struct AppctlProtocol {
    shared: Arc<Shared>,
    version: String,
    bridge_type: &'static str,
}

struct AppctlFramer(Splitter);

impl Framer for AppctlFramer {
    type Request = Command;

    fn feed(&mut self, buf: &[u8]) -> Framing {
        match self.0.feed(buf) {
            Ok(Some(n)) => Framing::Complete(n),
            Ok(None) => Framing::More(None),
            Err(e) => Framing::Refuse(e.to_string()),
        }
    }

    fn request(&mut self, buf: Vec<u8>) -> Result<Command, String> {
        Command::decode(&buf).map_err(|e| e.to_string())
    }
}

impl Protocol for AppctlProtocol {
    type Framer = AppctlFramer;
    const SLOW: bool = true;

    fn framer(&self) -> AppctlFramer {
        AppctlFramer(Splitter::new(MAX_REQUEST))
    }

    fn answer(&self, cmd: Command) -> Vec<u8> {
        let out = verbs::run(
            &self.shared,
            &self.version,
            self.bridge_type,
            &cmd.name,
            &cmd.args,
        );
        if let Err(e) = &out {
            tracing::debug!(command = %cmd.name, "appctl: {}", e.trim_end());
        }
        cmd.reply(out)
    }

    fn refusal(&self, why: &str) -> Vec<u8> {
        ovsdb::Message::Reply {
            outcome: Err(serde_json::Value::String(why.to_string())),
            id: serde_json::Value::Null,
        }
        .encode()
    }
}

/// Writes our pid to `path` and holds a POSIX write lock on it, as OVS's daemons do
/// (`ovs-appctl` reads the pid only from a locked file).
fn write_locked_pidfile(path: &Path) -> std::io::Result<std::fs::File> {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)?;
    // SAFETY: an all-zero flock is valid; the fields that matter are set below.
    let mut lk: libc::flock = unsafe { std::mem::zeroed() };
    lk.l_type = libc::F_WRLCK as libc::c_short;
    lk.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: `f` is an open file descriptor and `lk` a valid flock for F_SETLK.
    if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETLK, &lk) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(std::io::Error::new(
            e.kind(),
            format!("{}: locked by another daemon ({e})", path.display()),
        ));
    }
    f.set_len(0)?;
    writeln!(f, "{}", std::process::id())?;
    Ok(f)
}

impl Appctl {
    /// Serves `path` (mode 0600; a stale socket file there is replaced), and writes
    /// `pidfile` (ovs-appctl's `-t NAME` finds `RUNDIR/NAME.pid`, then
    /// `RUNDIR/NAME.PID.ctl`).
    pub fn start(
        shared: Arc<Shared>,
        path: &Path,
        pidfile: Option<&Path>,
        version: String,
        stats: Arc<ServeStats>,
    ) -> std::io::Result<Appctl> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("{}: another daemon answers there", path.display()),
                ))
            }
            Err(_) => {
                let _ = std::fs::remove_file(path);
            }
        }
        let l = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        let pid_lock = pidfile.map(write_locked_pidfile).transpose()?;
        let limits = Limits {
            max_conns: 64,
            max_conns_per_uid: 0,
            max_request: MAX_REQUEST,
            idle: Duration::from_secs(5),
            request_deadline: Duration::from_secs(10),
            write_idle: Duration::from_secs(30),
        };
        let proto = Arc::new(AppctlProtocol {
            shared,
            version,
            bridge_type: "netdev",
        });
        let server = Server::spawn("appctl", Listener::Unix(l), proto, limits, stats)?;
        Ok(Appctl {
            path: path.to_path_buf(),
            pidfile: pidfile.map(Path::to_path_buf),
            _pid_lock: pid_lock,
            server: Some(server),
        })
    }

    /// Stops serving and removes the socket and pid files.
    pub fn stop(&mut self) {
        if let Some(mut s) = self.server.take() {
            s.stop();
            let _ = std::fs::remove_file(&self.path);
            if let Some(p) = &self.pidfile {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

impl Drop for Appctl {
    fn drop(&mut self) {
        self.stop();
    }
}
