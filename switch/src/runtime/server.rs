//! The control socket's server and client.

use super::control::{self, Reply, Request};
use super::state::Shared;
use super::{io, RuntimeError};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

pub(super) fn serve_control(listener: &UnixListener, shared: &Shared, version: &str) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => handle_conn(stream, shared, version),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(_) => return,
        }
    }
}

fn handle_conn(stream: UnixStream, shared: &Shared, version: &str) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(req) => control::handle(shared, &req, version),
        Err(e) => Reply {
            status: 2,
            output: format!("bad request: {e}"),
        },
    };
    let mut w = stream;
    let _ = writeln!(w, "{}", serde_json::to_string(&reply).unwrap_or_default());
}

/// Sends a command to a running switch.
pub fn ctl(socket: &std::path::Path, req: &Request) -> Result<Reply, RuntimeError> {
    let mut s = UnixStream::connect(socket).map_err(io(format!(
        "connecting to {} (is brisk running?)",
        socket.display()
    )))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(io("socket"))?;
    let text = serde_json::to_string(req).map_err(|e| RuntimeError::Config(e.to_string()))?;
    writeln!(s, "{text}").map_err(io("sending the request"))?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .map_err(io("reading the reply"))?;
    serde_json::from_str(&line).map_err(|e| RuntimeError::Config(format!("bad reply: {e}")))
}
