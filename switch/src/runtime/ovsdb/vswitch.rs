//! The Open_vSwitch schema as brisk reads it: which bridge it serves, what each of its
//! interfaces is (`type`, `options`, `ofport_request`), mapped to brisk's ports as
//! ovs-vswitchd maps them to netdevs. Pure: a [`Mirror`] in, a plan out.

use conf::bridge::{PortConfig, PortSpec};
use ovsdb::{Mirror, Row};

/// The tables and columns brisk monitors (what it reads, and what it writes so its writes
/// can be compared with what is there).
pub const MONITORED: &[(&str, &[&str])] = &[
    (
        "Open_vSwitch",
        &[
            "bridges",
            "other_config",
            "next_cfg",
            "cur_cfg",
            "dpdk_initialized",
            "dpdk_version",
            "datapath_types",
            "iface_types",
        ],
    ),
    (
        "Bridge",
        &[
            "name",
            "datapath_type",
            "ports",
            "protocols",
            "fail_mode",
            "other_config",
            "controller",
            "datapath_id",
        ],
    ),
    ("Port", &["name", "interfaces", "external_ids"]),
    (
        "Interface",
        &[
            "name",
            "type",
            "options",
            "ofport_request",
            "mtu_request",
            "ofport",
            "error",
            "mac_in_use",
            "link_state",
            "admin_state",
            "mtu",
            "status",
            "external_ids",
        ],
    ),
    (
        "Controller",
        &[
            "target",
            "inactivity_probe",
            "max_backoff",
            "is_connected",
            "status",
        ],
    ),
];

/// The interface types brisk serves (written to `Open_vSwitch.iface_types`).
pub const IFACE_TYPES: &[&str] = &[
    "dpdk",
    "dpdkvhostuser",
    "dpdkvhostuserclient",
    "internal",
    "system",
    "afxdp",
    "tap",
    "geneve",
];

/// The `external_ids:antrea-type` Antrea's agent puts on the uplink it attaches to the
/// bridge (`connectUplinkToOVSBridge`): the port brisk's tunnel leaves through.
pub const UPLINK_MARK: (&str, &str) = ("antrea-type", "uplink");

/// The OpenFlow number OVS gives a bridge's own internal port.
pub const OFPP_LOCAL: u32 = 0xfffe;

/// The one row of the Open_vSwitch table: (UUID, row).
pub fn root(m: &Mirror) -> Option<(&String, &Row)> {
    m.rows("Open_vSwitch").next()
}

/// A bridge row's name and datapath type.
pub fn bridge_name(r: &Row) -> (&str, &str) {
    (
        r.get("name").and_then(|d| d.str()).unwrap_or(""),
        r.get("datapath_type").and_then(|d| d.str()).unwrap_or(""),
    )
}

/// The bridges the root row lists: (UUID, name, datapath type).
pub fn bridges(m: &Mirror) -> Vec<(String, String, String)> {
    let Some((_, root)) = root(m) else {
        return Vec::new();
    };
    let mut v: Vec<_> = root
        .get("bridges")
        .map(|d| d.atoms())
        .unwrap_or(&[])
        .iter()
        .filter_map(|a| a.as_uuid())
        .filter_map(|u| {
            let r = m.row("Bridge", u)?;
            let (n, t) = bridge_name(r);
            Some((u.to_string(), n.to_string(), t.to_string()))
        })
        .collect();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

/// One interface of a bridge, as the database describes it.
#[derive(Debug, Clone)]
pub struct Iface {
    /// Its row's UUID.
    pub uuid: String,
    /// Its name (the port's name in flows).
    pub name: String,
    /// What brisk makes of it, or why it cannot.
    pub port: Result<PortConfig, String>,
    /// `ofport_request`, if set.
    pub request: Option<i64>,
    /// Whether it is the bridge's own internal port (OpenFlow LOCAL).
    pub local: bool,
    /// The `ofport` the database holds (written by this or an earlier vswitchd): kept
    /// across restarts, as ovs-vswitchd keeps it.
    pub previous: Option<u32>,
    /// `mtu_request`, if set and a valid MTU.
    pub mtu_request: Option<u16>,
    /// Whether its port or interface carries [`UPLINK_MARK`]: the tunnel's uplink.
    pub uplink: bool,
}

/// The interfaces of bridge `bridge_uuid`, in name order.
pub fn bridge_ifaces(m: &Mirror, bridge_uuid: &str, rundir: &str) -> Vec<Iface> {
    let Some(b) = m.row("Bridge", bridge_uuid) else {
        return Vec::new();
    };
    let (bname, _) = bridge_name(b);
    let mut out = Vec::new();
    for pu in b.get("ports").map(|d| d.atoms()).unwrap_or(&[]) {
        let Some(p) = pu.as_uuid().and_then(|u| m.row("Port", u)) else {
            continue;
        };
        for iu in p.get("interfaces").map(|d| d.atoms()).unwrap_or(&[]) {
            let Some(uuid) = iu.as_uuid() else { continue };
            let Some(i) = m.row("Interface", uuid) else {
                continue;
            };
            let name = i
                .get("name")
                .and_then(|d| d.str())
                .unwrap_or("")
                .to_string();
            let local = name == bname;
            let marked = |r: &Row| {
                r.get("external_ids").and_then(|d| d.get_str(UPLINK_MARK.0)) == Some(UPLINK_MARK.1)
            };
            out.push(Iface {
                uplink: marked(p) || marked(i),
                uuid: uuid.to_string(),
                port: port_config(&name, i, rundir),
                request: i.get("ofport_request").and_then(|d| d.int()),
                local,
                previous: i
                    .get("ofport")
                    .and_then(|d| d.int())
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|&n| conf::limits::ofport(n).is_ok()),
                mtu_request: i
                    .get("mtu_request")
                    .and_then(|d| d.int())
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|&n| n >= 68),
                name,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// What brisk makes of one Interface row (its `ofport` is assigned later).
pub fn port_config(name: &str, i: &Row, rundir: &str) -> Result<PortConfig, String> {
    conf::limits::port_name(name).map_err(|e| e.to_string())?;
    let ty = i.get("type").and_then(|d| d.str()).unwrap_or("");
    let opt = |k: &str| i.get("options").and_then(|d| d.get_str(k));
    let devargs = match ty {
        "" | "system" | "afxdp" => format!("afpacket:{name}"),
        "internal" | "tap" => format!("tap:{name}"),
        "dpdk" => opt("dpdk-devargs")
            .ok_or_else(|| format!("'{name}' is missing 'options:dpdk-devargs'"))?
            .to_string(),
        "dpdkvhostuser" => format!("net_vhost_{name},iface={rundir}/{name}"),
        "dpdkvhostuserclient" => {
            let path = opt("vhost-server-path")
                .ok_or_else(|| format!("'{name}' is missing 'options:vhost-server-path'"))?;
            format!("net_vhost_{name},iface={path},client=1")
        }
        "geneve" => return geneve(name, i),
        other => {
            return Err(format!(
                "{name}: unknown interface type {other:?} (brisk serves {})",
                IFACE_TYPES.join(", ")
            ))
        }
    };
    PortSpec::parse(&devargs)
        .check()
        .map_err(|e| format!("{name}: {e}"))?;
    let mut p = PortConfig::device(name, 0, &devargs);
    if let Some(conf::bridge::PortKind::Device(d)) = Some(&mut p.kind) {
        let rxq = opt("n_rxq").and_then(|n| n.parse::<u16>().ok());
        if let Some(n) = rxq.filter(|n| (1..=64).contains(n)) {
            d.rx_queues = n;
        }
    }
    Ok(p)
}

/// A `geneve` interface from its `options`, as ovs-vswitchd reads them (`flow` where
/// absent); an option brisk does not implement is an error naming it.
fn geneve(name: &str, i: &Row) -> Result<PortConfig, String> {
    let mut t = pipeline::bridge::TunnelPort::default();
    let kv: Vec<(&str, &str)> = match i.get("options") {
        Some(ovsdb::Datum::Map(kv)) => kv
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?, v.as_str()?)))
            .collect(),
        _ => Vec::new(),
    };
    for (k, v) in kv {
        let bad = |what: &str| format!("{name}: options:{k}={v:?} is not {what}");
        let ip = || v.parse::<std::net::Ipv4Addr>().map(u32::from);
        match k {
            "remote_ip" if v == "flow" => t.remote_ip = None,
            "remote_ip" => t.remote_ip = Some(ip().map_err(|_| bad("`flow` or an IPv4 address"))?),
            "local_ip" => t.local_ip = Some(ip().map_err(|_| bad("an IPv4 address"))?),
            "key" if v == "flow" => t.key = None,
            "key" => {
                let n = pipeline::ofctl::value_int(v)
                    .and_then(|n| u64::try_from(n).ok())
                    .filter(|&n| n <= 0xff_ffff);
                t.key = Some(n.ok_or_else(|| bad("`flow` or a 24-bit VNI"))?);
            }
            "csum" => {
                t.csum = match v {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad("true or false")),
                }
            }
            "dst_port" => {
                t.dst_port = v
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| bad("a UDP port"))?
            }
            _ => {
                return Err(format!(
                    "{name}: geneve option {k:?} is not supported by brisk (it reads remote_ip, local_ip, key, csum, dst_port)"
                ))
            }
        }
    }
    Ok(PortConfig {
        name: name.to_string(),
        ofport: 0,
        kind: conf::bridge::PortKind::Geneve(t),
        proxy_arp: None,
        flood: true,
    })
}

/// OpenFlow numbers for the interfaces: the one already in use if the port is unchanged,
/// else `ofport_request`, else the lowest free. Returns (interface index, number or why
/// not).
pub fn assign_ofports(
    ifaces: &[Iface],
    existing: &dyn Fn(&str) -> Option<u32>,
) -> Vec<Result<u32, String>> {
    let mut taken: std::collections::BTreeMap<u32, &str> = Default::default();
    let mut out: Vec<Option<Result<u32, String>>> = vec![None; ifaces.len()];
    // Requests first: those a running port already holds, then the rest in name order; a
    // duplicate is refused to the one that does not hold it yet (a running port is never
    // renumbered by a newcomer's request).
    // Interfaces that cannot run get no number.
    for (k, i) in ifaces.iter().enumerate() {
        if let (None, Err(e)) = (&out[k], &i.port) {
            out[k] = Some(Err(e.clone()));
        }
    }
    let mut order: Vec<usize> = (0..ifaces.len()).collect();
    order.sort_by_key(|&k| {
        let i = &ifaces[k];
        let holds = i
            .request
            .is_some_and(|r| existing(&i.name).is_some_and(|n| i64::from(n) == r));
        !holds
    });
    for k in order {
        let i = &ifaces[k];
        if out[k].is_some() {
            continue;
        }
        if i.local {
            out[k] = Some(Ok(OFPP_LOCAL));
            continue;
        }
        let Some(r) = i.request else { continue };
        let ok = u32::try_from(r)
            .ok()
            .filter(|&n| conf::limits::ofport(n).is_ok());
        out[k] = Some(match ok {
            None => Err(format!(
                "ofport_request {r} is not a port number 1..{}",
                conf::limits::OFPORT_MAX
            )),
            Some(n) => match taken.get(&n) {
                Some(other) => Err(format!(
                    "ofport_request {n} is already requested by interface {other}"
                )),
                None => {
                    taken.insert(n, &i.name);
                    Ok(n)
                }
            },
        });
    }
    // Ports running already keep their numbers; then those the database remembers.
    for pass in 0..2 {
        for (k, i) in ifaces.iter().enumerate() {
            if out[k].is_some() {
                continue;
            }
            let n = if pass == 0 {
                existing(&i.name)
            } else {
                i.previous
            };
            if let Some(n) = n.filter(|n| !taken.contains_key(n)) {
                taken.insert(n, &i.name);
                out[k] = Some(Ok(n));
            }
        }
    }
    let mut next = 1u32;
    for (k, i) in ifaces.iter().enumerate() {
        if out[k].is_some() {
            continue;
        }
        while taken.contains_key(&next) {
            next += 1;
        }
        if next > conf::limits::OFPORT_MAX {
            out[k] = Some(Err("no free OpenFlow port number".into()));
            continue;
        }
        taken.insert(next, &i.name);
        out[k] = Some(Ok(next));
    }
    out.into_iter()
        .map(|o| o.unwrap_or_else(|| Err("not assigned".into())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mirror() -> Mirror {
        let mut m = Mirror::default();
        m.apply(&json!({
            "Open_vSwitch": {"o": {"new": {"bridges": ["set", [["uuid", "b1"]]], "next_cfg": 3}}},
            "Bridge": {"b1": {"new": {"name": "br-int", "datapath_type": "netdev",
                "ports": ["set", [["uuid", "p1"], ["uuid", "p2"], ["uuid", "p3"], ["uuid", "p4"]]]}}},
            "Port": {
                "p1": {"new": {"name": "br-int", "interfaces": ["uuid", "i1"]}},
                "p2": {"new": {"name": "gw0", "interfaces": ["uuid", "i2"]}},
                "p3": {"new": {"name": "pod1", "interfaces": ["uuid", "i3"]}},
                "p4": {"new": {"name": "odd", "interfaces": ["uuid", "i4"]}}},
            "Interface": {
                "i1": {"new": {"name": "br-int", "type": "internal"}},
                "i2": {"new": {"name": "gw0", "type": "internal", "ofport_request": 2}},
                "i3": {"new": {"name": "pod1", "type": "dpdkvhostuserclient",
                    "options": ["map", [["vhost-server-path", "/tmp/pod1.sock"]]], "ofport_request": 2}},
                "i4": {"new": {"name": "odd", "type": "vxlan9", "ofport_request": 2}}}
        }))
        .unwrap();
        m
    }

    #[test]
    fn maps_interfaces_as_vswitchd_does() {
        let m = mirror();
        assert_eq!(
            bridges(&m),
            vec![("b1".into(), "br-int".into(), "netdev".into())]
        );
        let ifs = bridge_ifaces(&m, "b1", "/run/openvswitch");
        let names: Vec<_> = ifs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["br-int", "gw0", "odd", "pod1"]);
        assert!(ifs[0].local);
        assert_eq!(ifs[1].port.as_ref().unwrap().devargs(), Some("tap:gw0"));
        assert!(ifs[2]
            .port
            .as_ref()
            .unwrap_err()
            .contains("unknown interface type \"vxlan9\""));
        assert_eq!(
            ifs[3].port.as_ref().unwrap().devargs(),
            Some("net_vhost_pod1,iface=/tmp/pod1.sock,client=1")
        );
        let n = assign_ofports(&ifs, &|_| None);
        assert_eq!(n[0], Ok(OFPP_LOCAL));
        assert_eq!(n[1], Ok(2));
        assert!(n[2]
            .as_ref()
            .unwrap_err()
            .contains("unknown interface type"));
        assert!(n[3]
            .as_ref()
            .unwrap_err()
            .contains("already requested by interface gw0"));
        // A port running with its requested number keeps it against another's request.
        let n = assign_ofports(&ifs, &|name| (name == "pod1").then_some(2));
        assert_eq!(n[3], Ok(2));
        assert!(n[1]
            .as_ref()
            .unwrap_err()
            .contains("already requested by interface pod1"));
        // Without requests: the running number, then the one the database remembers,
        // then the lowest free (1; an interface that cannot run takes none).
        let mut ifs = ifs;
        for i in ifs.iter_mut() {
            i.request = None;
        }
        assert_eq!(
            assign_ofports(&ifs, &|n| (n == "pod1").then_some(7))[3],
            Ok(7)
        );
        ifs[3].previous = Some(9);
        let n = assign_ofports(&ifs, &|_| None);
        assert_eq!((n[1].clone(), n[3].clone()), (Ok(1), Ok(9)));
    }
}
