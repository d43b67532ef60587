//! Where OpenFlow connections are made, spelled as OVS spells them: listeners
//! (`punix:PATH`, `ptcp:PORT[:IP]`, as `ovs-vsctl set-controller`/`set-manager`) and
//! controllers to connect to (`tcp:IP[:PORT]`, `unix:PATH`), with the probe and backoff
//! settings of OVS's Controller table. Pure parsing: the sockets live in `switch`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn unix_path(spec: &str, p: &str) -> Result<PathBuf, String> {
    if p.is_empty() {
        return Err(format!("{spec}: a unix socket needs a path"));
    }
    Ok(PathBuf::from(p))
}

fn socket_addr(spec: &str, ip: &str, port: &str) -> Result<SocketAddr, String> {
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{spec}: {port} is not a TCP port"))?;
    let ip: std::net::IpAddr = ip
        .trim_matches(|c| c == '[' || c == ']')
        .parse()
        .map_err(|_| format!("{spec}: {ip} is not an IP address"))?;
    Ok(SocketAddr::new(ip, port))
}

/// Where to listen, as OVS spells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OfListen {
    /// `punix:PATH`.
    Unix(PathBuf),
    /// `ptcp:PORT[:IP]` (loopback when no IP is given).
    Tcp(SocketAddr),
}

impl OfListen {
    /// Parses `punix:PATH` or `ptcp:PORT[:IP]`.
    pub fn parse(s: &str) -> Result<OfListen, String> {
        if let Some(p) = s.strip_prefix("punix:") {
            return unix_path(s, p).map(OfListen::Unix);
        }
        if let Some(rest) = s.strip_prefix("ptcp:") {
            let (port, ip) = rest.split_once(':').unwrap_or((rest, "127.0.0.1"));
            return socket_addr(s, ip, port).map(OfListen::Tcp);
        }
        Err(format!(
            "{s}: expected punix:PATH or ptcp:PORT[:IP] (as ovs-vsctl set-controller/set-manager)"
        ))
    }

    /// The management socket of a bridge, next to the control socket: `<dir>/<bridge>.mgmt`
    /// for the default control socket name `brisk.sock` (`/run/brisk/br-int.mgmt`), and
    /// `<dir>/<name>.<bridge>.mgmt` for a control socket `<name>.sock`, so that switches
    /// sharing a directory (`worker1.sock`, `worker2.sock`) do not share it.
    pub fn default_for(control_socket: &Path, bridge: &str) -> OfListen {
        let dir = control_socket.parent().unwrap_or(Path::new("/run/brisk"));
        let stem = control_socket
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("brisk");
        if stem == "brisk" {
            OfListen::Unix(dir.join(format!("{bridge}.mgmt")))
        } else {
            OfListen::Unix(dir.join(format!("{stem}.{bridge}.mgmt")))
        }
    }
}

impl std::fmt::Display for OfListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OfListen::Unix(p) => write!(f, "punix:{}", p.display()),
            OfListen::Tcp(a) => write!(f, "ptcp:{}:{}", a.port(), a.ip()),
        }
    }
}

/// A controller the switch connects to, as `ovs-vsctl set-controller` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OfConnect {
    /// `tcp:IP:PORT` (`tcp:IP` means port 6653).
    Tcp(SocketAddr),
    /// `unix:PATH`.
    Unix(PathBuf),
}

impl OfConnect {
    /// Parses `tcp:IP[:PORT]` or `unix:PATH`.
    pub fn parse(s: &str) -> Result<OfConnect, String> {
        if let Some(p) = s.strip_prefix("unix:") {
            return unix_path(s, p).map(OfConnect::Unix);
        }
        if let Some(rest) = s.strip_prefix("tcp:") {
            let (ip, port) = match rest.rsplit_once(':') {
                Some((ip, p)) if !ip.ends_with(':') && !rest.ends_with(']') => (ip, p),
                _ => (rest, "6653"),
            };
            return socket_addr(s, ip, port).map(OfConnect::Tcp);
        }
        Err(format!(
            "{s}: expected tcp:IP[:PORT] or unix:PATH (as ovs-vsctl set-controller)"
        ))
    }
}

impl std::fmt::Display for OfConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OfConnect::Unix(p) => write!(f, "unix:{}", p.display()),
            OfConnect::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// How the switch keeps a controller connection, as OVS's Controller table columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllerOptions {
    /// `inactivity_probe`: a controller silent this long is sent an echo request, and
    /// disconnected if still silent as long again (`None`: never probed).
    pub inactivity_probe: Option<Duration>,
    /// `max_backoff`: the longest wait between connection attempts (they start at 1 s and
    /// double).
    pub max_backoff: Duration,
}

impl Default for ControllerOptions {
    /// OVS's defaults: a 5 s inactivity probe, an 8 s maximum backoff.
    fn default() -> Self {
        ControllerOptions {
            inactivity_probe: Some(Duration::from_secs(5)),
            max_backoff: Duration::from_secs(8),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_specs_and_the_management_socket_path() {
        assert_eq!(
            OfListen::default_for(Path::new("/run/brisk/brisk.sock"), "br-int"),
            OfListen::Unix("/run/brisk/br-int.mgmt".into())
        );
        assert_eq!(
            OfListen::default_for(Path::new("/tmp/d/worker1.sock"), "br-int"),
            OfListen::Unix("/tmp/d/worker1.br-int.mgmt".into())
        );
        assert_eq!(
            OfListen::parse("ptcp:6653").unwrap(),
            OfListen::Tcp("127.0.0.1:6653".parse().unwrap())
        );
        assert_eq!(
            OfListen::parse("ptcp:6653:[::1]").unwrap(),
            OfListen::Tcp("[::1]:6653".parse().unwrap())
        );
        assert!(OfListen::parse("tcp:1.2.3.4:6653").is_err());
        assert!(OfListen::parse("ptcp:99999").is_err());
        assert!(OfListen::parse("punix:").is_err());
        assert_eq!(
            OfConnect::parse("tcp:127.0.0.1:6633").unwrap(),
            OfConnect::Tcp("127.0.0.1:6633".parse().unwrap())
        );
        assert_eq!(
            OfConnect::parse("tcp:10.0.0.1").unwrap(),
            OfConnect::Tcp("10.0.0.1:6653".parse().unwrap())
        );
        assert_eq!(
            OfConnect::parse("unix:/run/c.sock").unwrap(),
            OfConnect::Unix("/run/c.sock".into())
        );
        assert!(OfConnect::parse("ptcp:6653").is_err());
    }
}
