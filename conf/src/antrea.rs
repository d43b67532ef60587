//! A node description compiled into the flows an Antrea agent programs into `br-int`
//! (the Antrea v0.x pipeline of the seed dumps): tables 0 (classifier), 10 (spoof guard),
//! 20 (ARP responder), 30/31 (conntrack), 40 (services), 50/60 (egress policy), 70 (L3
//! forwarding), 80 (L2 forwarding), 90/100 (ingress policy), 105 (commit), 110 (output).
//!
//! Services, as the node's `proxy` says: `kube-proxy` sends the service CIDR to the gateway
//! (the seed); `antrea-proxy` load-balances in the switch as AntreaProxy does. Then table 30
//! runs `ct(nat)` so established connections are DNATed (and replies un-DNATed) by
//! conntrack alone; table 40 (ServiceLB) sends a new connection to a cluster IP and port
//! into a `select` group, one bucket per endpoint, whose bucket loads the endpoint into
//! `reg3` (IP) and `reg4[0..15]` (port, with `reg4[16..18]=2`, "endpoint chosen") and
//! resubmits to table 42 (EndpointDNAT), which commits the connection with
//! `nat(dst=IP:PORT)` and `ct_mark=0x21` and continues at table 50, so policy sees the
//! endpoint. `reg0[19]` asks table 70 to route the packet to a local endpoint (its MAC was
//! the gateway's); table 31 sets it for established service connections (`ct_mark=0x21`),
//! and table 105 does not commit them again.
//!
//! NetworkPolicy rules become conjunctive matches as Antrea builds them: an egress rule is
//! `conjunction(id, 1/n)` on the source pods it applies to, `2/n` on the destinations,
//! `3/3` on the ports; an ingress rule `1/n` on the sources, `2/n` on the destination pods'
//! ports (`reg1`), `3/3` on the ports. Flows with the same table, priority and match are
//! merged into one flow carrying every clause, so no match is installed twice.
//!
//! Conjunction ids are allocated per node in file order — for each policy that applies to
//! a local pod, its egress rules, then its ingress rules — and loaded into `reg5` (egress)
//! or `reg6` (ingress) when a rule allows a packet.

use crate::net::{parse_cidr, port_range_masks, Cidr};
use crate::node::{
    parse_endpoint, proto_number, NodeConfig, PolicyPeer, PolicyPort, ProxyMode, SessionAffinity,
};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::Ipv4Addr;

/// Cookie of the pipeline's fixed flows.
pub const COOKIE_DEFAULT: u64 = 0x1000000000000;
/// Cookie of flows for other nodes (tunnel routes, their gateways' ARP).
pub const COOKIE_NODE: u64 = 0x1020000000000;
/// Cookie of per-pod flows.
pub const COOKIE_POD: u64 = 0x1030000000000;
/// Cookie of service flows.
pub const COOKIE_SERVICE: u64 = 0x1040000000000;
/// Cookie of NetworkPolicy flows.
pub const COOKIE_POLICY: u64 = 0x1050000000000;

/// Direction of a policy rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Traffic into the selected pods (tables 90/100, `reg6`).
    Ingress,
    /// Traffic out of the selected pods (tables 50/60, `reg5`).
    Egress,
}

/// The conjunction id a policy rule got on this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleId {
    /// `namespace/name` of the policy.
    pub policy: String,
    /// Direction.
    pub direction: Direction,
    /// Index in the policy's `ingress` or `egress` list.
    pub index: usize,
    /// Conjunction id (and the value loaded into reg5/reg6).
    pub conj_id: u32,
}

/// The group of a service port: (`namespace/name`, port, protocol, group id).
pub type ServiceGroup = (String, u16, String, u32);

/// The node's flows and the policy rules' ids.
#[derive(Clone, Debug, Default)]
pub struct Generated {
    /// Flows in `ovs-ofctl` syntax, one per entry.
    pub flows: Vec<String>,
    /// Groups in `ovs-ofctl add-group` syntax (AntreaProxy's service groups), one per entry.
    pub groups: Vec<String>,
    /// The group of each service port: (`namespace/name`, port, protocol, group id).
    pub service_groups: Vec<ServiceGroup>,
    /// Policy rules installed on this node.
    pub rules: Vec<RuleId>,
}

impl Generated {
    /// The flows as a file (one per line).
    pub fn text(&self) -> String {
        let mut s = String::new();
        for f in &self.flows {
            s.push_str(f);
            s.push('\n');
        }
        s
    }

    /// The groups as a file (one per line).
    pub fn groups_text(&self) -> String {
        let mut s = String::new();
        for g in &self.groups {
            s.push_str(g);
            s.push('\n');
        }
        s
    }

    /// The id of rule `index` in `direction` of policy `ns/name`.
    pub fn rule_id(&self, policy: &str, direction: Direction, index: usize) -> Option<u32> {
        self.rules
            .iter()
            .find(|r| r.policy == policy && r.direction == direction && r.index == index)
            .map(|r| r.conj_id)
    }
}

fn hex_ip(ip: Ipv4Addr) -> String {
    format!("{:#x}", u32::from(ip))
}

fn mac_hex(m: &str) -> String {
    format!("{:#x}", pipeline::ofctl::parse_mac(m).unwrap_or(0))
}

struct Out {
    flows: Vec<String>,
}

impl Out {
    fn add(&mut self, cookie: u64, table: u8, priority: u16, matches: &str, actions: &str) {
        let mut s = format!("cookie={cookie:#x}, table={table}, priority={priority}");
        if !matches.is_empty() {
            s.push(',');
            s.push_str(matches);
        }
        let _ = write!(s, " actions={actions}");
        self.flows.push(s);
    }
}

/// Conjunction clause flows of one table, merged by match.
#[derive(Default)]
struct Clauses {
    /// match -> conjunction actions, in first-seen order of matches.
    order: Vec<String>,
    acts: BTreeMap<String, Vec<String>>,
}

impl Clauses {
    fn add(&mut self, m: String, id: u32, k: u8, n: u8) {
        let a = format!("conjunction({id},{k}/{n})");
        match self.acts.get_mut(&m) {
            Some(v) => {
                if !v.contains(&a) {
                    v.push(a)
                }
            }
            None => {
                self.order.push(m.clone());
                self.acts.insert(m, vec![a]);
            }
        }
    }
}

/// Matches for a set of peers: `nw_src=`/`nw_dst=` per address (or `ip` for "anywhere").
fn peer_matches(n: &NodeConfig, peers: &[PolicyPeer], ns: &str, field: &str) -> Vec<String> {
    if peers.is_empty() {
        return vec!["ip".into()];
    }
    let mut out: Vec<String> = Vec::new();
    let mut push = |m: String| {
        if !out.contains(&m) {
            out.push(m)
        }
    };
    for p in peers {
        if let Some(b) = &p.ip_block {
            let Ok(c) = parse_cidr(&b.cidr) else { continue };
            let ex: Vec<Cidr> = b.except.iter().filter_map(|e| parse_cidr(e).ok()).collect();
            for r in c.subtract(&ex) {
                if r.len == 0 {
                    push("ip".into());
                } else if r.len == 32 {
                    push(format!("ip,{field}={}", r.network()));
                } else {
                    push(format!("ip,{field}={r}"));
                }
            }
        } else {
            for pod in n.select_peer(p, ns) {
                push(format!("ip,{field}={}", pod.ip));
            }
        }
    }
    out
}

/// Matches for a rule's ports (`tcp,tp_dst=80`, ranges as masks, `udp` for all ports).
fn port_matches(ports: &[PolicyPort]) -> Vec<String> {
    let mut out = Vec::new();
    for p in ports {
        let proto = match proto_number(p.protocol.as_deref().unwrap_or("TCP")) {
            Some(6) => "tcp",
            Some(17) => "udp",
            Some(132) => "sctp",
            _ => continue,
        };
        match (p.port, p.end_port) {
            (None, _) => out.push(proto.to_string()),
            (Some(a), None) => out.push(format!("{proto},tp_dst={a}")),
            (Some(a), Some(b)) => {
                for (v, m) in port_range_masks(a, b) {
                    if m == 0xffff {
                        out.push(format!("{proto},tp_dst={v}"));
                    } else {
                        out.push(format!("{proto},tp_dst={v:#x}/{m:#x}"));
                    }
                }
            }
        }
    }
    let mut dedup = Vec::new();
    for m in out {
        if !dedup.contains(&m) {
            dedup.push(m);
        }
    }
    dedup
}

/// Names and values every table's flows use.
struct Ctx<'a> {
    n: &'a NodeConfig,
    gw_mac: String,
    vmac: String,
    antrea_proxy: bool,
}

/// A port name quoted for a flow.
fn q(name: &str) -> String {
    format!("\"{name}\"")
}

/// Compiles a validated node description.
pub fn generate(n: &NodeConfig) -> Generated {
    let c = Ctx {
        n,
        gw_mac: n.gateway.mac.to_lowercase(),
        vmac: n.virtual_mac.to_lowercase(),
        antrea_proxy: n.proxy == ProxyMode::AntreaProxy,
    };
    let mut o = Out { flows: Vec::new() };
    classifier(&c, &mut o);
    spoof_guard(&c, &mut o);
    arp_responder(&c, &mut o);
    conntrack(&c, &mut o);
    let (groups, service_groups) = services(&c, &mut o);
    let p = policies(n);
    egress_tables(&mut o, &p);
    l3_forwarding(&c, &mut o);
    l2_forwarding(&c, &mut o);
    ingress_tables(&c, &mut o, &p);
    commit_and_output(&c, &mut o);
    Generated {
        flows: o.flows,
        groups,
        service_groups,
        rules: p.rules,
    }
}

/// Table 0: where a packet comes from (reg0[0..15]: 0 tunnel, 1 gateway, 2 pod).
fn classifier(c: &Ctx<'_>, o: &mut Out) {
    let n = c.n;
    let gw = &n.gateway;
    let tun = &n.tunnel;
    let d = COOKIE_DEFAULT;
    // Table 0: classifier. reg0[0..15]: 0 tunnel, 1 gateway, 2 pod; reg0[19]: from tunnel.
    o.add(
        d,
        0,
        200,
        &format!("in_port={}", q(&gw.name)),
        "load:0x1->NXM_NX_REG0[0..15],resubmit(,10)",
    );
    o.add(
        d,
        0,
        200,
        &format!("in_port={}", q(&tun.name)),
        "move:NXM_NX_TUN_METADATA0[28..31]->NXM_NX_REG9[28..31],load:0->NXM_NX_REG0[0..15],load:0x1->NXM_NX_REG0[19],resubmit(,30)",
    );
    for p in &n.pods {
        o.add(
            COOKIE_POD,
            0,
            190,
            &format!("in_port={}", q(&p.name)),
            "load:0x2->NXM_NX_REG0[0..15],resubmit(,10)",
        );
    }
    o.add(d, 0, 0, "", "drop");
}

/// Table 10: a pod's packets must carry its own MAC and IP.
fn spoof_guard(c: &Ctx<'_>, o: &mut Out) {
    let n = c.n;
    let gw = &n.gateway;
    let gw_mac = &c.gw_mac;
    let d = COOKIE_DEFAULT;
    // Table 10: spoof guard.
    o.add(
        d,
        10,
        200,
        &format!("ip,in_port={}", q(&gw.name)),
        "resubmit(,30)",
    );
    o.add(
        d,
        10,
        200,
        &format!(
            "arp,in_port={},arp_spa={},arp_sha={gw_mac}",
            q(&gw.name),
            gw.ip
        ),
        "resubmit(,20)",
    );
    for p in &n.pods {
        o.add(
            COOKIE_POD,
            10,
            200,
            &format!(
                "arp,in_port={},arp_spa={},arp_sha={}",
                q(&p.name),
                p.ip,
                p.mac.to_lowercase()
            ),
            "resubmit(,20)",
        );
    }
    for p in &n.pods {
        o.add(
            COOKIE_POD,
            10,
            200,
            &format!(
                "ip,in_port={},dl_src={},nw_src={}",
                q(&p.name),
                p.mac.to_lowercase(),
                p.ip
            ),
            "resubmit(,30)",
        );
    }
    o.add(d, 10, 0, "", "drop");
}

/// Table 20: ARP for other nodes' gateways answered with the virtual MAC.
fn arp_responder(c: &Ctx<'_>, o: &mut Out) {
    let n = c.n;
    let vmac = &c.vmac;
    let d = COOKIE_DEFAULT;
    // Table 20: ARP responder for the other nodes' gateways (answered with the virtual MAC),
    // everything else learned and forwarded normally.
    for peer in &n.peers {
        o.add(
            COOKIE_NODE,
            20,
            200,
            &format!("arp,arp_tpa={},arp_op=1", peer.gateway_ip),
            &format!(
                "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:{vmac},load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],load:{}->NXM_NX_ARP_SHA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:{}->NXM_OF_ARP_SPA[],IN_PORT",
                mac_hex(vmac),
                hex_ip(peer.gateway_ip)
            ),
        );
    }
    o.add(d, 20, 190, "arp", "NORMAL");
    o.add(d, 20, 0, "", "drop");
}

/// Tables 30/31: conntrack; replies of connections from the gateway go back to it.
fn conntrack(c: &Ctx<'_>, o: &mut Out) {
    let n = c.n;
    let gw_mac = &c.gw_mac;
    let zone = n.ct_zone;
    let d = COOKIE_DEFAULT;
    let antrea_proxy = c.antrea_proxy;
    // Tables 30/31: conntrack; replies of connections from the gateway go back to it.
    if antrea_proxy {
        o.add(d, 30, 200, "ip", &format!("ct(table=31,zone={zone},nat)"));
    } else {
        o.add(d, 30, 200, "ip", &format!("ct(table=31,zone={zone})"));
    }
    o.add(
        d,
        31,
        210,
        "ct_state=-new+trk,ct_mark=0x20,ip,reg0=0x1/0xffff",
        "resubmit(,40)",
    );
    o.add(
        d,
        31,
        200,
        "ct_state=-new+trk,ct_mark=0x20,ip",
        &format!("load:{}->NXM_OF_ETH_DST[],resubmit(,40)", mac_hex(gw_mac)),
    );
    if antrea_proxy {
        o.add(
            COOKIE_SERVICE,
            31,
            195,
            "ct_state=-new+trk,ct_mark=0x21,ip",
            "load:0x1->NXM_NX_REG0[19],resubmit(,40)",
        );
    }
    o.add(d, 31, 190, "ct_state=+inv+trk,ip", "drop");
    o.add(d, 31, 0, "", "resubmit(,40)");
}

/// A service port with `sessionAffinity: ClientIP`, as AntreaProxy builds it, with the
/// endpoint state in `reg4[16..18]` (0 unseen, 1 to select, 3 to learn, 2 selected):
/// table 41 (SessionAffinity) holds a learned flow per client that loads its endpoint;
/// without one the group chooses, and table 40 learns the choice (`hard_timeout`: the
/// affinity timeout, `delete_learned`: the service's flows take their clients' with
/// them). An endpoint that went away since (no DNAT flow in table 42) chooses again.
fn session_affinity(o: &mut Out, dst: &str, proto: &str, gid: u32, timeout: u32) {
    let m = |state: u32| format!("{proto},reg4={state:#x}/0x70000,{dst}");
    let s = COOKIE_SERVICE;
    let l4 = match proto {
        "udp" => "NXM_OF_UDP_DST[]",
        "sctp" => "OXM_OF_SCTP_DST[]",
        _ => "NXM_OF_TCP_DST[]",
    };
    let nw_proto = match proto {
        "udp" => 17,
        "sctp" => 132,
        _ => 6,
    };
    let hard = timeout.min(u32::from(u16::MAX));
    o.add(
        s,
        40,
        200,
        &format!("{proto},reg4=0/0x70000,{dst}"),
        "resubmit(,41),resubmit(,40)",
    );
    o.add(
        s,
        40,
        200,
        &m(0x10000),
        &format!("load:0x1->NXM_NX_REG0[19],load:0x3->NXM_NX_REG4[16..18],group:{gid}"),
    );
    o.add(
        s,
        40,
        190,
        &m(0x30000),
        &format!(
            "learn(table=41,hard_timeout={hard},priority=200,delete_learned,cookie={:#x},eth_type=0x800,nw_proto={nw_proto},{l4},NXM_OF_IP_DST[],NXM_OF_IP_SRC[],load:NXM_NX_REG4[0..15]->NXM_NX_REG4[0..15],load:NXM_NX_REG3[]->NXM_NX_REG3[],load:0x2->NXM_NX_REG4[16..18],load:0x1->NXM_NX_REG0[19]),load:0x2->NXM_NX_REG4[16..18],resubmit(,42)",
            s | u64::from(gid)
        ),
    );
    o.add(s, 40, 190, &m(0x20000), "resubmit(,42)");
    o.add(
        s,
        42,
        190,
        &m(0x20000),
        "load:0x1->NXM_NX_REG4[16..18],resubmit(,40)",
    );
}

/// Tables 40/42: services, to the gateway (kube-proxy) or load-balanced here
/// (AntreaProxy); returns the groups and which service port each serves.
fn services(c: &Ctx<'_>, o: &mut Out) -> (Vec<String>, Vec<ServiceGroup>) {
    let n = c.n;
    let gw = &n.gateway;
    let gw_mac = &c.gw_mac;
    let zone = n.ct_zone;
    let d = COOKIE_DEFAULT;
    let antrea_proxy = c.antrea_proxy;
    let mut groups = Vec::new();
    let mut service_groups = Vec::new();
    if antrea_proxy {
        // Table 40 (ServiceLB): a new connection to a service port picks an endpoint in the
        // port's group; table 42 (EndpointDNAT) commits it with the DNAT.
        let mut dnat: BTreeMap<String, String> = BTreeMap::new();
        let mut next_group = 1u32;
        let mut any_sticky = false;
        for svc in &n.services {
            for sp in &svc.ports {
                let proto = sp.protocol.to_lowercase();
                let target = sp.target_port.unwrap_or(sp.port);
                let gid = next_group;
                next_group += 1;
                let sticky = svc.session_affinity == SessionAffinity::ClientIp;
                // With affinity a bucket only chooses; table 40 learns the choice first.
                let next = if sticky { 40 } else { 42 };
                let mut g = format!("group_id={gid},type=select");
                for (i, (ip, port)) in svc
                    .endpoints
                    .iter()
                    .filter_map(|e| parse_endpoint(e))
                    .filter(|(_, p)| *p == target)
                    .enumerate()
                {
                    let _ = if sticky {
                        write!(
                            g,
                            ",bucket=bucket_id:{i},weight:100,actions=load:{}->NXM_NX_REG3[],load:{port:#x}->NXM_NX_REG4[0..15],resubmit(,{next})",
                            hex_ip(ip),
                        )
                    } else {
                        write!(
                            g,
                            ",bucket=bucket_id:{i},weight:100,actions=load:{}->NXM_NX_REG3[],load:{:#x}->NXM_NX_REG4[0..18],resubmit(,{next})",
                            hex_ip(ip),
                            0x20000 | u32::from(port)
                        )
                    };
                    dnat.insert(
                        format!("{proto},reg3={},reg4={:#x}/0x7ffff", hex_ip(ip), 0x20000 | u32::from(port)),
                        format!(
                            "ct(commit,table=50,zone={zone},nat(dst={ip}:{port}),exec(load:0x21->NXM_NX_CT_MARK[]))"
                        ),
                    );
                }
                groups.push(g);
                service_groups.push((
                    format!("{}/{}", svc.namespace, svc.name),
                    sp.port,
                    sp.protocol.clone(),
                    gid,
                ));
                let dst = format!("nw_dst={},tp_dst={}", svc.cluster_ip, sp.port);
                let m = format!("{proto},{dst}");
                if sticky {
                    session_affinity(o, &dst, &proto, gid, svc.session_affinity_timeout);
                    any_sticky = true;
                } else {
                    o.add(
                        COOKIE_SERVICE,
                        40,
                        200,
                        &m,
                        &format!("load:0x1->NXM_NX_REG0[19],group:{gid}"),
                    );
                }
            }
        }
        if any_sticky {
            // Table 41 (SessionAffinity): no learned flow, no endpoint yet.
            o.add(COOKIE_SERVICE, 41, 0, "", "load:0x1->NXM_NX_REG4[16..18]");
        }
        for (m, a) in &dnat {
            o.add(COOKIE_SERVICE, 42, 200, m, a);
        }
    } else {
        // Table 40: services go to the gateway (kube-proxy DNATs them on the host).
        o.add(
            COOKIE_SERVICE,
            40,
            200,
            &format!("ip,nw_dst={}", n.service_cidr),
            &format!(
                "mod_dl_dst:{gw_mac},load:{:#x}->NXM_NX_REG1[],load:0x1->NXM_NX_REG0[16],resubmit(,105)",
                gw.ofport
            ),
        );
    }
    o.add(d, 40, 0, "", "resubmit(,50)");
    (groups, service_groups)
}

/// Tables 50/60: egress rules, then isolation of the pods a policy selects.
fn egress_tables(o: &mut Out, p: &Policies) {
    let d = COOKIE_DEFAULT;
    o.add(d, 50, 210, "ct_state=-new+est,ip", "resubmit(,70)");
    for m in &p.egress.order {
        o.add(COOKIE_POLICY, 50, 200, m, &p.egress.acts[m].join(","));
    }
    for id in &p.egress_ids {
        o.add(
            COOKIE_POLICY,
            50,
            190,
            &format!("conj_id={id},ip"),
            &format!("load:{id:#x}->NXM_NX_REG5[],resubmit(,70)"),
        );
    }
    o.add(d, 50, 0, "", "resubmit(,60)");
    for ip in &p.egress_isolated {
        o.add(d, 60, 200, &format!("ip,nw_src={ip}"), "drop");
    }
    o.add(d, 60, 0, "", "resubmit(,70)");
}

/// Table 70: L3 forwarding (to local pods, to the gateway, to peers over the tunnel).
fn l3_forwarding(c: &Ctx<'_>, o: &mut Out) {
    let n = c.n;
    let gw = &n.gateway;
    let gw_mac = &c.gw_mac;
    let vmac = &c.vmac;
    let tun = &n.tunnel;
    let d = COOKIE_DEFAULT;
    let antrea_proxy = c.antrea_proxy;
    // Table 70: L3 forwarding.
    o.add(
        d,
        70,
        200,
        &format!("ip,dl_dst={vmac},nw_dst={}", gw.ip),
        &format!("mod_dl_dst:{gw_mac},resubmit(,80)"),
    );
    // Routing to a local pod: from the gateway's MAC to the pod's.
    let to_pod = |p: &crate::node::Pod| {
        format!(
            "mod_dl_src:{gw_mac},mod_dl_dst:{},dec_ttl,resubmit(,80)",
            p.mac.to_lowercase()
        )
    };
    for p in &n.pods {
        o.add(
            COOKIE_POD,
            70,
            200,
            &format!("ip,dl_dst={vmac},nw_dst={}", p.ip),
            &to_pod(p),
        );
    }
    for peer in &n.peers {
        o.add(
            COOKIE_NODE,
            70,
            200,
            &format!("ip,nw_dst={}", peer.pod_cidr),
            &format!(
                "dec_ttl,mod_dl_src:{gw_mac},mod_dl_dst:{vmac},load:{:#x}->NXM_NX_REG1[],load:0x1->NXM_NX_REG0[16],load:{}->NXM_NX_TUN_IPV4_DST[],resubmit(,105)",
                tun.ofport,
                hex_ip(peer.node_ip)
            ),
        );
    }
    if antrea_proxy {
        // A service connection to a local endpoint was addressed to the gateway's MAC.
        for p in &n.pods {
            o.add(
                COOKIE_POD,
                70,
                199,
                &format!("ip,reg0=0x80000/0x80000,nw_dst={}", p.ip),
                &to_pod(p),
            );
        }
    }
    o.add(d, 70, 0, "", "resubmit(,80)");
}

/// Table 80: L2 forwarding to local ports.
fn l2_forwarding(c: &Ctx<'_>, o: &mut Out) {
    let n = c.n;
    let gw = &n.gateway;
    let gw_mac = &c.gw_mac;
    let d = COOKIE_DEFAULT;
    // Table 80: L2 forwarding to local ports.
    o.add(
        d,
        80,
        200,
        &format!("dl_dst={gw_mac}"),
        &format!(
            "load:{:#x}->NXM_NX_REG1[],load:0x1->NXM_NX_REG0[16],resubmit(,90)",
            gw.ofport
        ),
    );
    for p in &n.pods {
        o.add(
            COOKIE_POD,
            80,
            200,
            &format!("dl_dst={}", p.mac.to_lowercase()),
            &format!(
                "load:{:#x}->NXM_NX_REG1[],load:0x1->NXM_NX_REG0[16],resubmit(,90)",
                p.ofport
            ),
        );
    }
    o.add(d, 80, 0, "", "resubmit(,90)");
}

/// Tables 90/100: ingress rules (traffic from the gateway is always allowed), then
/// isolation.
fn ingress_tables(c: &Ctx<'_>, o: &mut Out, p: &Policies) {
    let n = c.n;
    let gw = &n.gateway;
    let d = COOKIE_DEFAULT;
    // Tables 90/100: ingress rules (traffic from the gateway is always allowed), then
    // isolation.
    o.add(d, 90, 210, "ct_state=-new+est,ip", "resubmit(,105)");
    o.add(
        d,
        90,
        210,
        &format!("ip,nw_src={}", gw.ip),
        "resubmit(,105)",
    );
    for m in &p.ingress.order {
        o.add(COOKIE_POLICY, 90, 200, m, &p.ingress.acts[m].join(","));
    }
    for id in &p.ingress_ids {
        o.add(
            COOKIE_POLICY,
            90,
            190,
            &format!("conj_id={id},ip"),
            &format!("load:{id:#x}->NXM_NX_REG6[],resubmit(,105)"),
        );
    }
    o.add(d, 90, 0, "", "resubmit(,100)");
    for port in &p.ingress_isolated {
        o.add(d, 100, 200, &format!("ip,reg1={port:#x}"), "drop");
    }
    o.add(d, 100, 0, "", "resubmit(,105)");
}

/// Table 105: commit new connections (marking those from the gateway; service
/// connections are committed already); 110: output.
fn commit_and_output(c: &Ctx<'_>, o: &mut Out) {
    let n = c.n;
    let zone = n.ct_zone;
    let d = COOKIE_DEFAULT;
    let antrea_proxy = c.antrea_proxy;
    // Table 105: commit new connections (marking those from the gateway; service
    // connections are committed already); 110: output.
    if antrea_proxy {
        o.add(
            COOKIE_SERVICE,
            105,
            210,
            "ct_state=+new+trk,ct_mark=0x21,ip",
            "resubmit(,110)",
        );
    }
    o.add(
        d,
        105,
        200,
        "ct_state=+new+trk,ip,reg0=0x1/0xffff",
        &format!("ct(commit,table=110,zone={zone},exec(load:0x20->NXM_NX_CT_MARK[]))"),
    );
    o.add(
        d,
        105,
        190,
        "ct_state=+new+trk,ip",
        &format!("ct(commit,table=110,zone={zone})"),
    );
    o.add(d, 105, 0, "", "resubmit(,110)");
    o.add(
        d,
        110,
        200,
        "ip,reg0=0x10000/0x10000",
        "output:NXM_NX_REG1[]",
    );
    o.add(d, 110, 0, "", "drop");
}

/// NetworkPolicy rules compiled into conjunctive clauses, by direction.
#[derive(Default)]
struct Policies {
    rules: Vec<RuleId>,
    egress: Clauses,
    ingress: Clauses,
    egress_ids: Vec<u32>,
    ingress_ids: Vec<u32>,
    egress_isolated: Vec<Ipv4Addr>,
    ingress_isolated: Vec<u32>,
}

/// Allocates conjunction ids in file order and builds each rule's clauses.
fn policies(n: &NodeConfig) -> Policies {
    // Policies.
    let mut p = Policies::default();
    let mut next_id = 1u32;
    for pol in &n.policies {
        let applied = n.applied_to(pol);
        if applied.is_empty() {
            continue;
        }
        let pname = format!("{}/{}", pol.namespace, pol.name);
        if pol.isolates_egress() {
            for pod in &applied {
                if !p.egress_isolated.contains(&pod.ip) {
                    p.egress_isolated.push(pod.ip);
                }
            }
            for (i, r) in pol.egress.iter().enumerate() {
                let id = next_id;
                next_id += 1;
                p.rules.push(RuleId {
                    policy: pname.clone(),
                    direction: Direction::Egress,
                    index: i,
                    conj_id: id,
                });
                let ports = port_matches(&r.ports);
                let nclauses = if ports.is_empty() { 2 } else { 3 };
                for pod in &applied {
                    p.egress
                        .add(format!("ip,nw_src={}", pod.ip), id, 1, nclauses);
                }
                for m in peer_matches(n, &r.to, &pol.namespace, "nw_dst") {
                    p.egress.add(m, id, 2, nclauses);
                }
                for m in ports {
                    p.egress.add(m, id, 3, 3);
                }
                p.egress_ids.push(id);
            }
        }
        if pol.isolates_ingress() {
            for pod in &applied {
                if !p.ingress_isolated.contains(&pod.ofport) {
                    p.ingress_isolated.push(pod.ofport);
                }
            }
            for (i, r) in pol.ingress.iter().enumerate() {
                let id = next_id;
                next_id += 1;
                p.rules.push(RuleId {
                    policy: pname.clone(),
                    direction: Direction::Ingress,
                    index: i,
                    conj_id: id,
                });
                let ports = port_matches(&r.ports);
                let nclauses = if ports.is_empty() { 2 } else { 3 };
                for m in peer_matches(n, &r.from, &pol.namespace, "nw_src") {
                    p.ingress.add(m, id, 1, nclauses);
                }
                for pod in &applied {
                    p.ingress
                        .add(format!("ip,reg1={:#x}", pod.ofport), id, 2, nclauses);
                }
                for m in ports {
                    p.ingress.add(m, id, 3, 3);
                }
                p.ingress_ids.push(id);
            }
        }
    }
    p
}
