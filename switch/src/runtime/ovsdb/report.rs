//! What brisk reports in the database as ovs-vswitchd does: `Interface.status` and
//! `statistics`, and the root row's `cur_cfg` and capabilities.

use super::{opt_str, vswitch};
use crate::runtime::state::{RtKind, RtPort, RtPorts, Shared};
use ovsdb::{Atom, Datum, Mirror, Row};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};

/// `Interface.status`: a device's driver; for the tunnel, the port its packets leave
/// through and that port's carrier (OVS's `tunnel_egress_iface` and
/// `tunnel_egress_iface_carrier`), absent while it has no underlay.
pub(super) fn status(shared: &Shared, running: &RtPorts, p: &RtPort) -> Datum {
    let kv: Vec<(String, String)> = match &p.kind {
        RtKind::Device { dev, .. } => vec![("driver_name".into(), dev.type_name().into())],
        RtKind::Geneve(_) => {
            let up = shared.bridge.underlay().uplink;
            let egress = up
                .and_then(|u| running.index_of(u.ofport))
                .map(|i| &running.list[i]);
            match egress {
                Some(e) => {
                    let carrier = e.dev().is_some_and(|d| d.link().up);
                    vec![
                        ("tunnel_egress_iface".into(), e.name.clone()),
                        (
                            "tunnel_egress_iface_carrier".into(),
                            if carrier { "up" } else { "down" }.into(),
                        ),
                    ]
                }
                None => Vec::new(),
            }
        }
    };
    Datum::str_map(kv)
}

/// What brisk says about itself in the root row, and `cur_cfg` caught up with `next_cfg`
/// (the change `ovs-vsctl` waits for is applied).
pub(super) fn root_columns(root: &Row) -> Row {
    let next = root.get("next_cfg").and_then(Datum::int).unwrap_or(0);
    let set = |v: &[&str]| Datum::Set(v.iter().map(|s| Atom::from(*s)).collect());
    let mut want = Row::from([
        ("cur_cfg".into(), Datum::Set(vec![Atom::Integer(next)])),
        ("datapath_types".into(), set(&["netdev"])),
        ("iface_types".into(), set(vswitch::IFACE_TYPES)),
        (
            "dpdk_initialized".into(),
            Datum::Set(vec![Atom::Boolean(cfg!(feature = "dpdk"))]),
        ),
    ]);
    #[cfg(feature = "dpdk")]
    want.insert("dpdk_version".into(), opt_str(Some(crate::dpdk::version())));
    #[cfg(not(feature = "dpdk"))]
    want.insert("dpdk_version".into(), opt_str(None));
    want
}

/// `Interface.statistics` of every running port of ours.
pub(super) fn statistics(shared: &Shared, m: &Mirror) -> Vec<Value> {
    let running = shared.ports();
    let mut ops = Vec::new();
    for (uuid, row) in m.rows("Interface") {
        let Some(name) = row.get("name").and_then(Datum::str) else {
            continue;
        };
        let Some(p) = running.list.iter().find(|p| p.name == name) else {
            continue;
        };
        let c = &p.counters;
        let l = |a: &AtomicU64| Atom::Integer(a.load(Ordering::Relaxed) as i64);
        let mut kv = vec![
            ("rx_packets", l(&c.rx_packets)),
            ("rx_bytes", l(&c.rx_bytes)),
            ("tx_packets", l(&c.tx_packets)),
            ("tx_bytes", l(&c.tx_bytes)),
            ("tx_dropped", l(&c.tx_dropped)),
        ];
        if let Some(s) = p.dev().and_then(|d| d.stats()) {
            kv.push(("rx_dropped", Atom::Integer(s.imissed as i64)));
            kv.push(("rx_errors", Atom::Integer(s.ierrors as i64)));
            kv.push(("tx_errors", Atom::Integer(s.oerrors as i64)));
        }
        let d = Datum::Map(kv.into_iter().map(|(k, v)| (Atom::from(k), v)).collect());
        ops.push(ovsdb::update::update_row(
            "Interface",
            uuid,
            &Row::from([("statistics".into(), d)]),
        ));
    }
    ops
}

/// `Controller.is_connected` and `status` of the bridge's active controllers.
pub(super) fn controllers(
    m: &Mirror,
    bridge_uuid: &str,
    ctrl: &super::controllers::Controllers,
) -> Vec<Value> {
    let mut ops = Vec::new();
    for (uuid, key, w) in super::controllers::rows(m, bridge_uuid) {
        let Some((up, status)) = ctrl.report(&key, &w) else {
            continue;
        };
        let want = Row::from([
            (
                "is_connected".to_string(),
                Datum::Set(vec![Atom::Boolean(up)]),
            ),
            ("status".to_string(), Datum::str_map(status)),
        ]);
        ops.extend(super::diff_op(
            "Controller",
            &uuid,
            m.row("Controller", &uuid),
            want,
        ));
    }
    ops
}
