//! A node description as Antrea's agent sets the node up for `brisk run --ovsdb`: the
//! `ovs-vsctl` commands that write its bridge and ports into the Open_vSwitch database
//! (the agent's order and columns: the bridge with `datapath_type=netdev`, the tunnel at
//! ofport 1, the gateway at 2, the uplink it attaches with `antrea-type=uplink`, the pods)
//! and the `ip` commands with which it configures the host side (the gateway's MAC,
//! address and MTU; the node's address moved to the bridge's internal port).

use super::NodeConfig;

/// Quotes a value for a shell line (`ovs-vsctl` values with commas or spaces).
fn q(v: &str) -> String {
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.:/=,@".contains(c))
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', r"'\''"))
    }
}

/// The database type and options of a port with these devargs: brisk's own kernel-socket
/// ports are OVS's `system` (AF_PACKET) and `internal` (TAP) interfaces, DPDK devices
/// are `dpdk` with their devargs.
fn iface_type(devargs: &str) -> String {
    if devargs.starts_with("afpacket:") {
        "type=system".into()
    } else if devargs.starts_with("tap:") || devargs.starts_with("net_tap") {
        "type=internal".into()
    } else {
        format!("type=dpdk options:dpdk-devargs={}", q(devargs))
    }
}

impl NodeConfig {
    /// `other_config` for the EAL: `-l MAIN,WORKERS...` becomes `dpdk-lcore-mask` and
    /// `pmd-cpu-mask`, the other arguments `dpdk-extra` (`None` when `eal` has no `-l`
    /// list brisk can turn into masks: then every argument goes to `dpdk-extra`).
    fn other_config(&self) -> String {
        let mut extra: Vec<&str> = Vec::new();
        let mut cores: Option<Vec<u32>> = None;
        let mut i = 0;
        while i < self.eal.len() {
            let a = self.eal[i].as_str();
            if a == "-l" && cores.is_none() {
                cores = self.eal.get(i + 1).and_then(|l| cpu_list(l));
                if cores.is_some() {
                    i += 2;
                    continue;
                }
            }
            extra.push(a);
            i += 1;
        }
        let mut kv = Vec::new();
        if let Some(c) = cores.filter(|c| !c.is_empty() && c.iter().all(|&n| n < 64)) {
            kv.push(format!("other_config:dpdk-lcore-mask={:#x}", 1u64 << c[0]));
            let workers = self.workers.clone().unwrap_or_else(|| c[1..].to_vec());
            let mask = workers.iter().fold(0u64, |m, &n| m | 1u64 << (n % 64));
            if mask != 0 {
                kv.push(format!("other_config:pmd-cpu-mask={mask:#x}"));
            }
        }
        if !extra.is_empty() {
            kv.push(format!("other_config:dpdk-extra={}", q(&extra.join(" "))));
        }
        kv.join(" ")
    }

    /// The commands, one per line: `ovs-vsctl ARGS` (without `--db`) and `ip ARGS` (run in
    /// the node's network namespace), in the order they must run.
    pub fn vsctl(&self) -> String {
        let mut out = Vec::new();
        let oc = self.other_config();
        if !oc.is_empty() {
            out.push(format!("ovs-vsctl --no-wait set Open_vSwitch . {oc}"));
        }
        let br = &self.bridge;
        out.push(format!(
            "ovs-vsctl add-br {br} -- set Bridge {br} datapath_type=netdev protocols=OpenFlow10,OpenFlow15 fail_mode=secure"
        ));
        let t = &self.tunnel;
        out.push(format!(
            "ovs-vsctl add-port {br} {n} -- set Interface {n} type=geneve ofport_request={o} options:remote_ip=flow options:key=flow options:csum={c} options:dst_port={p}",
            n = t.name,
            o = t.ofport,
            c = t.csum,
            p = t.dst_port
        ));
        let g = &self.gateway;
        out.push(format!(
            "ovs-vsctl add-port {br} {n} -- set Interface {n} type=internal ofport_request={o} -- set Port {n} external_ids:antrea-type=gateway",
            n = g.name,
            o = g.ofport
        ));
        let prefix = self.pod_cidr.split_once('/').map_or("24", |(_, l)| l);
        out.push(format!(
            "ip link set {n} address {m} mtu {mtu} up",
            n = g.name,
            m = g.mac,
            mtu = self.gateway_mtu()
        ));
        out.push(format!("ip addr add {}/{prefix} dev {}", g.ip, g.name));
        let u = &self.uplink;
        if let Some(d) = &u.devargs {
            out.push(format!(
                "ovs-vsctl add-port {br} {n} -- set Port {n} external_ids:antrea-type=uplink -- set Interface {n} {ty} ofport_request={o}",
                n = u.name,
                ty = iface_type(d),
                o = u.ofport
            ));
        }
        out.push(format!("ip addr add {} dev {br}", u.ip));
        out.push(format!("ip link set {br} up"));
        if let Some(gw) = u.gateway {
            out.push(format!("ip route add default via {gw} dev {br}"));
        }
        for p in &self.pods {
            let Some(d) = &p.devargs else { continue };
            out.push(format!(
                "ovs-vsctl add-port {br} {n} -- set Interface {n} {ty} ofport_request={o} -- set Port {n} external_ids:antrea-type=container external_ids:pod-name={pn} external_ids:pod-namespace={ns} external_ids:ip={ip}",
                n = p.name,
                ty = iface_type(d),
                o = p.ofport,
                pn = q(&p.name),
                ns = q(&p.namespace),
                ip = p.ip
            ));
        }
        out.join("\n") + "\n"
    }
}

/// `0-1`, `0,2,4` or `1-3,6`: the CPUs, or `None` for another syntax (`@` groups).
fn cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut v = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if a > b || b >= 64 {
                    return None;
                }
                v.extend(a..=b);
            }
            None => v.push(part.parse().ok()?),
        }
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker1_as_antreas_agent_sets_it_up() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/worker1.yaml");
        let plan = crate::node::Plan::load(&dir).unwrap();
        let text = plan.node().vsctl();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "ovs-vsctl --no-wait set Open_vSwitch . other_config:dpdk-lcore-mask=0x1 other_config:pmd-cpu-mask=0x2 other_config:dpdk-extra='--no-huge -m 512 --no-pci --file-prefix=worker1'"
        );
        assert!(lines[1].starts_with("ovs-vsctl add-br br-int -- set Bridge br-int datapath_type=netdev protocols=OpenFlow10,OpenFlow15"));
        assert!(lines[2].contains(
            "antrea-tun0 type=geneve ofport_request=1 options:remote_ip=flow options:key=flow"
        ));
        assert!(text.contains("ovs-vsctl add-port br-int uplink -- set Port uplink external_ids:antrea-type=uplink -- set Interface uplink type=dpdk options:dpdk-devargs=net_af_packet_up1,iface=uplink,qpairs=1 ofport_request=7"));
        assert!(text.contains("ip addr add 10.79.1.201/24 dev br-int\n"));
        assert!(text.contains("ip link set antrea-gw0 address 4e:99:08:c1:53:be mtu 1450 up\n"));
        assert!(text.contains("ip addr add 10.222.1.1/24 dev antrea-gw0\n"));
        assert!(text.contains("add-port br-int frontend-a3ba2f -- set Interface frontend-a3ba2f type=system ofport_request="));
        // The gateway is an internal port, made before its addresses are set.
        let gw = text.find("antrea-gw0 type=internal").unwrap();
        assert!(gw < text.find("ip addr add 10.222.1.1").unwrap());
    }

    #[test]
    fn quotes_and_cpu_lists() {
        assert_eq!(q("a,b=c"), "a,b=c");
        assert_eq!(q("a b"), "'a b'");
        assert_eq!(q("it's"), r"'it'\''s'");
        assert_eq!(cpu_list("1-3,6"), Some(vec![1, 2, 3, 6]));
        assert_eq!(cpu_list("0@1"), None);
    }
}
