//! Limits every way of configuring a switch shares: the YAML checks of bridge files and
//! node descriptions, and `brisk ctl port add`. One rule per kind of value, so that what a
//! file may not say cannot be said at run time either.

/// Highest OpenFlow port number a port may have (OpenFlow's `OFPP_MAX`, 0xfeff; the numbers
/// above are reserved ports such as `LOCAL` and `NORMAL`).
pub const OFPORT_MAX: u32 = 0xfeff;

/// Fewest packet buffers a pool may have: a receive ring of 1,024 descriptors alone needs
/// that many (and DPDK refuses a pool below 1.5 x its per-core cache of 256).
pub const MBUFS_MIN: u32 = 1023;

/// Most packet buffers a pool may have: 16 Mi - 1, about 38 GiB of 2,304-byte buffers per
/// NUMA socket. (DPDK's own ceiling is 2^30 - 1: a mempool's ring holds at most 2^30
/// entries, one of which stays empty; at that size the buffers would need 2.4 TiB.)
pub const MBUFS_MAX: u32 = (1 << 24) - 1;

/// Most connections the conntrack table may be sized for (16 Mi; OVS's userspace default
/// is 3 million).
pub const CONNTRACK_MAX: usize = 1 << 24;

/// Most EMC entries per worker (1 Mi entries of 16 bytes: 16 MiB per worker; OVS's EMC
/// has 8,192).
pub const EMC_ENTRIES_MAX: usize = 1 << 20;

/// Most megaflows per worker (OVS's `flow-limit` defaults to 200,000).
pub const MEGAFLOWS_MAX: usize = 10_000_000;

/// Most translations per burst per worker: a worker's packet slots (a 32-packet burst and
/// room for recirculations).
pub const UPCALLS_PER_BURST_MAX: usize = 64;

/// Most receive queues of a port (DPDK's `RTE_MAX_QUEUES_PER_PORT`).
pub const RX_QUEUES_MAX: u16 = 1024;

/// Highest worker lcore (or CPU, without DPDK) number: the size of a Linux CPU set.
pub const WORKER_MAX: u32 = 1023;

/// Underlay MTU range: IPv4's minimum to a 9,216-byte jumbo frame.
pub const MTU_MIN: u16 = 68;
/// See [`MTU_MIN`].
pub const MTU_MAX: u16 = 9216;

/// Problems with a port name, the rule every configuration path uses: 1 to 15 bytes (a
/// Linux interface name's limit, so that a port can be named after its interface), and
/// none of `"`, `,`, `=`, spaces or control characters (they would end the name inside a
/// flow such as `in_port=NAME,actions=...` or a line of `brisk ctl` output).
pub fn port_name(name: &str) -> Result<(), String> {
    let bad = |c: char| matches!(c, '"' | ',' | '=') || c.is_whitespace() || c.is_control();
    if name.is_empty() || name.len() > 15 || name.contains(bad) {
        let shown: String = name.chars().take(40).collect();
        let more = if shown.len() < name.len() { "..." } else { "" };
        return Err(format!(
            "{:?}{more} is not a valid port name (1-15 bytes; no quotes, commas, '=', spaces or control characters)",
            shown
        ));
    }
    Ok(())
}

/// Problems with an OpenFlow port number: 1 to [`OFPORT_MAX`].
pub fn ofport(n: u32) -> Result<(), String> {
    if n == 0 || n > OFPORT_MAX {
        return Err(format!(
            "{n} is outside 1..{OFPORT_MAX} (OpenFlow port numbers; 0 and the reserved ports above {OFPORT_MAX:#x} are not ports)"
        ));
    }
    Ok(())
}

/// A number outside `lo..=hi`: the message, naming the range and what it is.
fn range<T: PartialOrd + std::fmt::Display>(v: T, lo: T, hi: T, what: &str) -> Option<String> {
    (v < lo || v > hi).then(|| format!("{v} is outside {lo}..{hi} ({what})"))
}

/// The sizing a bridge file and a node description share, checked: (field path, message)
/// for each problem.
pub fn sizing(
    mbufs: Option<u32>,
    conntrack_max: Option<usize>,
    workers: Option<&[u32]>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(m) = mbufs {
        let what = "packet buffers per NUMA socket; at most about 38 GiB of memory";
        if let Some(e) = range(m, MBUFS_MIN, MBUFS_MAX, what) {
            out.push(("mbufs".into(), e));
        }
    }
    if let Some(c) = conntrack_max {
        if let Some(e) = range(c, 1, CONNTRACK_MAX, "connections") {
            out.push(("conntrack_max".into(), e));
        }
    }
    let mut seen = std::collections::HashMap::new();
    for (i, &w) in workers.unwrap_or_default().iter().enumerate() {
        if let Some(e) = range(w, 0, WORKER_MAX, "lcore or CPU numbers") {
            out.push((format!("workers[{i}]"), e));
        } else if let Some(j) = seen.insert(w, i) {
            out.push((
                format!("workers[{i}]"),
                format!("{w} is already workers[{j}]"),
            ));
        }
    }
    out
}

/// The first problem with a bridge file's sizing (`mbufs`, `conntrack_max`, `workers`,
/// `fastpath`): (field path, message).
pub fn bridge(c: &crate::bridge::BridgeYaml) -> Option<(String, String)> {
    let sizing = sizing(c.mbufs, c.conntrack_max, c.workers.as_deref());
    if let Some(p) = sizing.into_iter().next() {
        return Some(p);
    }
    let f = &c.fastpath;
    if let Some(m) = f.simd.as_deref().and_then(simd) {
        return Some(("fastpath.simd".into(), m));
    }
    [
        ("emc_entries", f.emc_entries),
        ("max_megaflows", f.max_megaflows),
        ("max_upcalls_per_burst", f.max_upcalls_per_burst),
    ]
    .into_iter()
    .find_map(|(name, v)| Some((format!("fastpath.{name}"), fastpath(name, v?)?)))
}

/// The first problem with a bridge file's port's name and numbers: (field under the port,
/// message).
pub fn port(p: &crate::bridge::file::PortYaml) -> Option<(&'static str, String)> {
    if let Err(e) = port_name(&p.name) {
        return Some(("name", e));
    }
    if let Err(e) = ofport(p.ofport) {
        return Some(("ofport", e));
    }
    if let Some(m) = p.rx_queues.and_then(rx_queues) {
        return Some(("rx_queues", m));
    }
    if let Some(m) = p.uplink.as_ref().and_then(|u| u.mtu).and_then(mtu) {
        return Some(("uplink.mtu", m));
    }
    if p.options.as_ref().and_then(|o| o.dst_port) == Some(0) {
        return Some((
            "options.dst_port",
            "0 is outside 1..65535 (UDP ports)".into(),
        ));
    }
    None
}

/// Problems with a fast-path tuning value (`fastpath.NAME` of a bridge file): the range of
/// each.
pub fn fastpath(name: &str, v: usize) -> Option<String> {
    match name {
        "emc_entries" => range(v, 1, EMC_ENTRIES_MAX, "EMC entries per worker"),
        "max_megaflows" => range(v, 1, MEGAFLOWS_MAX, "megaflows per worker"),
        "max_upcalls_per_burst" => range(
            v,
            1,
            UPCALLS_PER_BURST_MAX,
            "translations per 32-packet burst",
        ),
        _ => None,
    }
}

/// Problems with a vector unit's name (`fastpath.simd`).
pub fn simd(name: &str) -> Option<String> {
    use pipeline::fastpath::SimdPath;
    SimdPath::parse(name).is_none().then(|| {
        let names: Vec<_> = SimdPath::ALL.iter().rev().map(|p| p.name()).collect();
        format!("{name:?} is not auto, {}", names.join(", "))
    })
}

/// Problems with a port's receive queue count.
pub fn rx_queues(n: u16) -> Option<String> {
    range(n, 1, RX_QUEUES_MAX, "receive queues")
}

/// Problems with an underlay MTU.
pub fn mtu(n: u16) -> Option<String> {
    range(n, MTU_MIN, MTU_MAX, "bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_names() {
        assert!(port_name("antrea-gw0").is_ok());
        assert!(port_name("coredns--3e3abf").is_ok());
        for bad in ["", "a b", "q,actions=drop", "a\"b", "a\tb", "a\nb", "a\0b"] {
            assert!(port_name(bad).is_err(), "{bad:?}");
        }
        let long = "x".repeat(5000);
        let e = port_name(&long).unwrap_err();
        assert!(e.len() < 200 && e.contains("1-15 bytes"), "{e}");
        assert!(port_name(&"é".repeat(8)).is_err()); // 16 bytes
    }

    #[test]
    fn numbers() {
        assert!(ofport(1).is_ok() && ofport(0xfeff).is_ok());
        assert!(ofport(0).is_err() && ofport(0xff00).is_err());
        let e = sizing(Some(u32::MAX), Some(0), Some(&[1, 1, 5000]));
        let paths: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            ["mbufs", "conntrack_max", "workers[1]", "workers[2]"]
        );
        assert!(
            e[0].1.contains("4294967295 is outside 1023..16777215"),
            "{e:?}"
        );
        assert!(sizing(Some(16383), Some(1 << 20), Some(&[1, 2])).is_empty());
        assert!(fastpath("emc_entries", usize::MAX).is_some());
        assert!(fastpath("max_upcalls_per_burst", 0).is_some());
        assert!(fastpath("max_megaflows", 200_000).is_none());
    }
}
