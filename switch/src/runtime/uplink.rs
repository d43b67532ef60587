//! The tunnel's uplink changed at run time: `brisk run --ovsdb` learns which port carries
//! the tunnel and the node's underlay address from the database and the kernel, and moves
//! them when they change (a bridge file or node description fixes them at start).

use super::state::{RtKind, RtPorts, Shared};
use conf::bridge::UplinkConfig;
use pipeline::tunnel::Uplink;
use pipeline::underlay::Route;

/// Makes port `ofport` the tunnel's uplink with the underlay address `cfg` (or no uplink
/// for `None`): the uplink in the underlay, the on-link subnet's route and the default
/// route through it, replacing those of the previous uplink. Encapsulating megaflows
/// revalidate. Errors when the port is not a running device.
pub(crate) fn set_uplink(shared: &Shared, want: Option<(u32, UplinkConfig)>) -> Result<(), String> {
    let cur = shared.ports();
    let (index, up) = match want {
        None => (None, None),
        Some((ofport, cfg)) => {
            let i = cur
                .index_of(ofport)
                .ok_or_else(|| format!("no port {ofport} to carry the tunnel"))?;
            let RtKind::Device { mac, .. } = &cur.list[i].kind else {
                return Err(format!(
                    "port {} is a tunnel port and cannot carry the tunnel",
                    cur.list[i].name
                ));
            };
            let up = Uplink {
                ofport,
                mac: *mac,
                ip: u32::from(cfg.ip),
                prefix_len: cfg.prefix_len,
                mtu: cfg.mtu,
            };
            (Some(i), Some((up, cfg.gateway)))
        }
    };
    let old = shared.bridge.underlay().uplink.map(|u| u.ofport);
    shared.bridge.update_underlay(|u| {
        if let Some(o) = old {
            u.routes.retain(|r| r.dev != o);
        }
        u.uplink = up.map(|(up, _)| up);
        if let Some((up, gw)) = up {
            u.routes.add(Route {
                prefix: up.ip,
                len: up.prefix_len,
                gateway: None,
                dev: up.ofport,
            });
            if let Some(gw) = gw {
                u.routes.add(Route {
                    prefix: 0,
                    len: 0,
                    gateway: Some(u32::from(gw)),
                    dev: up.ofport,
                });
            }
        }
    });
    if cur.uplink != index {
        let next = RtPorts {
            list: cur.list.clone(),
            uplink: index,
            tunnel: cur.tunnel,
        };
        drop(cur);
        shared.set_ports(next);
    }
    Ok(())
}
