//! The tunnel's underlay under `brisk run --ovsdb`, taken where Antrea puts it when it
//! attaches the node's uplink to the bridge (`connectUplinkToOVSBridge`): the uplink is
//! the port marked `external_ids:antrea-type=uplink`, and the node's address lives on the
//! bridge's own internal port (the kernel interface named like the bridge), read from the
//! kernel with its subnet and default route as OVS's userspace tunnels read the kernel's
//! addresses and routes. Re-read every second, so `ip addr add ... dev br-int` after the
//! ports exist (Antrea's order) takes effect without touching the database.

use super::vswitch::Iface;
use crate::runtime::state::Shared;
use conf::bridge::UplinkConfig;
use std::ffi::CStr;
use std::net::Ipv4Addr;

/// The first IPv4 address of kernel interface `iface` and its prefix length.
pub fn kernel_ipv4(iface: &str) -> Option<(Ipv4Addr, u8)> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list it allocated into `head`, freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return None;
    }
    let mut found = None;
    let mut cur = head;
    while !cur.is_null() && found.is_none() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, alive until freeifaddrs.
        let a = unsafe { &*cur };
        cur = a.ifa_next;
        if a.ifa_addr.is_null() || a.ifa_netmask.is_null() || a.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated name; ifa_addr points to a sockaddr whose
        // family says its layout (checked before reading it as sockaddr_in).
        let (name, family) = unsafe { (CStr::from_ptr(a.ifa_name), (*a.ifa_addr).sa_family) };
        if name.to_bytes() != iface.as_bytes() || i32::from(family) != libc::AF_INET {
            continue;
        }
        // SAFETY: both are AF_INET sockaddrs (an address and its netmask).
        let (ip, mask) = unsafe {
            (
                (*(a.ifa_addr as *const libc::sockaddr_in)).sin_addr.s_addr,
                (*(a.ifa_netmask as *const libc::sockaddr_in))
                    .sin_addr
                    .s_addr,
            )
        };
        found = Some((Ipv4Addr::from(u32::from_be(ip)), mask.count_ones() as u8));
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    found
}

/// The gateway of the kernel's default route through `iface` (`/proc/net/route`).
pub fn kernel_gateway(iface: &str) -> Option<Ipv4Addr> {
    let text = std::fs::read_to_string("/proc/net/route").ok()?;
    default_gateway(&text, iface)
}

/// The default route's gateway through `iface` in `/proc/net/route`'s text (addresses are
/// the network-order bytes read as a native `u32`, printed in hexadecimal).
fn default_gateway(text: &str, iface: &str) -> Option<Ipv4Addr> {
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let hex = |s: &str| u32::from_str_radix(s, 16).ok();
        match f.as_slice() {
            [dev, dst, gw, _flags, _, _, _, mask, ..]
                if *dev == iface && hex(dst) == Some(0) && hex(mask) == Some(0) =>
            {
                let g = hex(gw).filter(|&g| g != 0)?;
                Some(Ipv4Addr::from(g.to_ne_bytes()))
            }
            _ => None,
        }
    })
}

/// The uplink the database and the kernel describe now: (the uplink's OpenFlow number and
/// underlay address), `None` when there is no tunnel. An error says what is missing (for
/// the log: the tunnel port stays up and its packets are dropped until it is there).
pub fn wanted(
    shared: &Shared,
    ifaces: &[Iface],
    local: &str,
) -> Result<Option<(u32, UplinkConfig)>, String> {
    let tunnel = ifaces.iter().any(|i| {
        matches!(
            &i.port,
            Ok(p) if matches!(p.kind, conf::bridge::PortKind::Geneve(_))
        )
    });
    if !tunnel {
        return Ok(None);
    }
    let marked: Vec<&Iface> = ifaces.iter().filter(|i| i.uplink).collect();
    let up = match marked.as_slice() {
        [one] => *one,
        [] => {
            return Err(format!(
                "no uplink: mark the port of the node's uplink with external_ids:{}={}",
                super::vswitch::UPLINK_MARK.0,
                super::vswitch::UPLINK_MARK.1
            ))
        }
        _ => return Err("more than one port is marked as the uplink".into()),
    };
    let ports = shared.ports();
    let Some(rt) = ports.list.iter().find(|p| p.name == up.name) else {
        return Err(format!("the uplink {} is not running", up.name));
    };
    let (ip, prefix_len) = kernel_ipv4(local).ok_or_else(|| {
        format!("no IPv4 address on {local}, the bridge's internal port, where the node's underlay address belongs")
    })?;
    let kernel = rt
        .dev()
        .is_some_and(|d| matches!(d.type_name(), "afpacket" | "tap"));
    let mtu = kernel
        .then(|| super::kernel_mtu(&up.name))
        .flatten()
        .and_then(|m| u16::try_from(m).ok())
        .or(up.mtu_request)
        .unwrap_or(conf::bridge::DEFAULT_MTU);
    Ok(Some((
        rt.ofport,
        UplinkConfig {
            ip,
            prefix_len,
            gateway: kernel_gateway(local),
            mtu,
        },
    )))
}

/// What was last applied, so a change is applied (and logged) once.
#[derive(Default)]
pub struct Follow {
    last: Option<Result<Option<(u32, UplinkConfig)>, String>>,
}

impl Follow {
    /// Applies `want` if it differs from what was applied last.
    pub fn apply(&mut self, shared: &Shared, want: Result<Option<(u32, UplinkConfig)>, String>) {
        if self.last.as_ref() == Some(&want) {
            return;
        }
        match &want {
            Ok(Some((ofport, u))) => {
                match crate::runtime::uplink::set_uplink(shared, Some((*ofport, *u))) {
                    Ok(()) => tracing::info!(
                        uplink = ofport,
                        ip = %u.ip,
                        prefix = u.prefix_len,
                        gateway = ?u.gateway,
                        mtu = u.mtu,
                        "tunnel underlay set (database and kernel)"
                    ),
                    Err(e) => tracing::warn!("tunnel underlay: {e}"),
                }
            }
            Ok(None) | Err(_) => {
                if let Err(e) = crate::runtime::uplink::set_uplink(shared, None) {
                    tracing::warn!("tunnel underlay: {e}");
                }
                if let Err(why) = &want {
                    tracing::warn!("the tunnel has no underlay: {why}; its packets are dropped");
                }
            }
        }
        self.last = Some(want);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_default_route_of_an_interface() {
        let t =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                 br-int\t00000000\t01014F0A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                 br-int\t00014F0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        if cfg!(target_endian = "little") {
            assert_eq!(
                default_gateway(t, "br-int"),
                Some(Ipv4Addr::new(10, 79, 1, 1))
            );
        }
        assert_eq!(default_gateway(t, "eth0"), None);
        assert_eq!(
            default_gateway(&t.replace("01014F0A", "00000000"), "br-int"),
            None
        );
    }

    #[test]
    fn reads_the_loopback_address() {
        assert_eq!(kernel_ipv4("lo"), Some((Ipv4Addr::LOCALHOST, 8)));
        assert_eq!(kernel_ipv4("no-such-iface"), None);
    }
}
