//! `proxy: antrea-proxy`: the seed's two nodes load-balance the backendsvc service in the
//! switch. A frontend connection to the cluster IP is DNATed to backend1 (local) or
//! backend2 (across the Geneve tunnel), both endpoints get connections, replies come back
//! from the cluster IP, later packets follow the same endpoint through conntrack alone, and
//! the NetworkPolicies judge the endpoint, not the service address.

use conf::antrea::{generate, Generated};
use conf::node::NodeConfig;
use pipeline::bridge::Bridge;
use pipeline::build::{ip, mac, tcp_frame};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::{Collect, Packet, TunnelMeta};
use pipeline::packet::{Frame, VecFrame};
use pipeline::slowpath::process;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

const SVC: &str = "10.104.65.133";
const FE: &str = "10.222.1.48";
const OCTANT: &str = "10.222.1.3";
const BE1: &str = "10.222.1.47";
const BE2: &str = "10.222.2.34";
const W1: &str = "10.79.1.201";
const W2: &str = "10.79.1.202";

fn proxied(node: &str) -> NodeConfig {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{node}.yaml"));
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("proxy: kube-proxy"));
    NodeConfig::parse(
        &text.replace("proxy: kube-proxy", "proxy: antrea-proxy"),
        &format!("{node}.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn load(node: &str, g: &Generated) -> Bridge {
    let ct = ConntrackConfig {
        seed: 1,
        ..Default::default()
    };
    pipeline::seed::bridge_with_groups(node, &g.groups_text(), &g.text(), ct)
}

fn send(
    b: &Bridge,
    port: u32,
    frame: &[u8],
    tun: Option<TunnelMeta>,
    now: u64,
) -> Collect<VecFrame> {
    let mut out = Collect::new();
    process(
        b,
        Packet::new(VecFrame::new(frame), port, tun.as_ref()),
        now,
        &mut out,
        None,
    );
    out
}

fn tun(src: &str, dst: &str) -> TunnelMeta {
    TunnelMeta {
        src: ip(src),
        dst: ip(dst),
        ..Default::default()
    }
}

/// (out port, tunnel destination, frame) of a single output.
fn one(c: &Collect<VecFrame>, what: &str) -> (u32, Option<u32>, Vec<u8>) {
    assert_eq!(
        c.outputs.len(),
        1,
        "{what}: outputs {:?}, drops {:?}",
        c.outputs.iter().map(|o| o.0).collect::<Vec<_>>(),
        c.drops
    );
    let (p, t, pk) = &c.outputs[0];
    (*p, t.map(|t| t.dst), pk.frame.data().to_vec())
}

fn ip_src(f: &[u8]) -> u32 {
    u32::from_be_bytes([f[26], f[27], f[28], f[29]])
}
fn ip_dst(f: &[u8]) -> u32 {
    u32::from_be_bytes([f[30], f[31], f[32], f[33]])
}
fn sport(f: &[u8]) -> u16 {
    u16::from_be_bytes([f[34], f[35]])
}
fn eth_dst(f: &[u8]) -> u64 {
    u64::from_be_bytes([0, 0, f[0], f[1], f[2], f[3], f[4], f[5]])
}

#[test]
fn generated_service_group_and_flows() {
    let g = generate(&proxied("worker1"));
    assert_eq!(
        g.groups,
        vec!["group_id=1,type=select,bucket=bucket_id:0,weight:100,actions=load:0xade012f->NXM_NX_REG3[],load:0x20050->NXM_NX_REG4[0..18],resubmit(,42),bucket=bucket_id:1,weight:100,actions=load:0xade0222->NXM_NX_REG3[],load:0x20050->NXM_NX_REG4[0..18],resubmit(,42)".to_string()]
    );
    assert_eq!(
        g.service_groups,
        vec![("default/backendsvc".to_string(), 80, "TCP".to_string(), 1)]
    );
    let text = g.text();
    for want in [
        "table=30, priority=200,ip actions=ct(table=31,zone=65520,nat)",
        "table=40, priority=200,tcp,nw_dst=10.104.65.133,tp_dst=80 actions=load:0x1->NXM_NX_REG0[19],group:1",
        "table=42, priority=200,tcp,reg3=0xade012f,reg4=0x20050/0x7ffff actions=ct(commit,table=50,zone=65520,nat(dst=10.222.1.47:80),exec(load:0x21->NXM_NX_CT_MARK[]))",
        "table=105, priority=210,ct_state=+new+trk,ct_mark=0x21,ip actions=resubmit(,110)",
    ] {
        assert!(text.contains(want), "missing {want}\n{text}");
    }
    assert!(
        !text.contains("nw_dst=10.96.0.0/12"),
        "no service CIDR to the gateway"
    );
}

#[test]
fn frontend_reaches_both_endpoints_through_the_cluster_ip() {
    let g1 = generate(&proxied("worker1"));
    let g2 = generate(&proxied("worker2"));
    let w1 = load("worker1", &g1);
    let w2 = load("worker2", &g2);
    let fe_mac = mac("be:2c:bf:e4:ec:c5");
    let gw1_mac = mac("4e:99:08:c1:53:be");
    let gw2_mac = mac("02:d8:4e:3f:92:1d");
    let be1_mac = mac("f2:32:d8:07:e2:a6");
    let be2_mac = mac("c6:f4:b5:76:10:38");
    let mut local = 0;
    let mut remote = 0;
    let mut now = 10;
    for sp in 33_000..33_060u16 {
        now += 1;
        let syn = tcp_frame(fe_mac, gw1_mac, ip(FE), ip(SVC), sp, 80, 0x002, 64);
        let (port, tdst, f) = one(&send(&w1, 49, &syn, None, now), "SYN on worker1");
        if port == 48 {
            // backend1 on this node: DNATed and routed to its port.
            local += 1;
            assert_eq!(ip_dst(&f), ip(BE1));
            assert_eq!(eth_dst(&f), be1_mac, "routed to backend1's MAC");
            assert_eq!(f[22], 63, "TTL decremented");
            let synack = tcp_frame(be1_mac, fe_mac, ip(BE1), ip(FE), 80, sp, 0x012, 64);
            let (p, _, r) = one(&send(&w1, 48, &synack, None, now), "SYN-ACK from backend1");
            assert_eq!(p, 49);
            assert_eq!(ip_src(&r), ip(SVC), "the reply comes from the cluster IP");
            assert_eq!(sport(&r), 80);
            let ack = tcp_frame(fe_mac, gw1_mac, ip(FE), ip(SVC), sp, 80, 0x010, 64);
            let (p, _, a) = one(&send(&w1, 49, &ack, None, now), "ACK");
            assert_eq!((p, ip_dst(&a)), (48, ip(BE1)), "ACK follows the connection");
        } else {
            // backend2 on worker2, through the tunnel.
            remote += 1;
            assert_eq!((port, tdst), (1, Some(ip(W2))));
            assert_eq!(ip_dst(&f), ip(BE2));
            let (p, _, at2) = one(&send(&w2, 1, &f, Some(tun(W1, W2)), now), "SYN on worker2");
            assert_eq!(p, 35, "worker2 delivers to backend2");
            assert_eq!(eth_dst(&at2), be2_mac);
            let synack = tcp_frame(be2_mac, gw2_mac, ip(BE2), ip(FE), 80, sp, 0x012, 64);
            let (p, t, back) = one(&send(&w2, 35, &synack, None, now), "SYN-ACK on worker2");
            assert_eq!((p, t), (1, Some(ip(W1))));
            let (p, _, r) = one(
                &send(&w1, 1, &back, Some(tun(W2, W1)), now),
                "SYN-ACK on worker1",
            );
            assert_eq!(p, 49);
            assert_eq!(ip_src(&r), ip(SVC), "un-DNATed on the client's node");
            assert_eq!(eth_dst(&r), fe_mac);
            let ack = tcp_frame(fe_mac, gw1_mac, ip(FE), ip(SVC), sp, 80, 0x010, 64);
            let (p, t, a) = one(&send(&w1, 49, &ack, None, now), "ACK");
            assert_eq!((p, t, ip_dst(&a)), (1, Some(ip(W2)), ip(BE2)));
        }
    }
    assert!(
        local >= 15 && remote >= 15,
        "local {local}, remote {remote}"
    );
    let t = w1.tables();
    let grp = t.group(1).unwrap();
    assert_eq!(
        grp.stats.n_packets.load(Ordering::Relaxed),
        60,
        "one group run per connection"
    );

    // A port the service does not have is not load-balanced: it goes to the gateway.
    let other = tcp_frame(fe_mac, gw1_mac, ip(FE), ip(SVC), 40_000, 81, 0x002, 64);
    let c = send(&w1, 49, &other, None, now);
    assert!(
        c.outputs.iter().all(|o| o.0 != 48 && o.0 != 1),
        "port 81 reached an endpoint"
    );

    // The octant pod may not talk to backends: policy is applied to the endpoint the
    // service resolved to, so every connection is dropped, local or remote.
    let oct_mac = mac("6e:9e:5a:3e:3f:e8");
    for sp in 50_000..50_040u16 {
        let syn = tcp_frame(oct_mac, gw1_mac, ip(OCTANT), ip(SVC), sp, 80, 0x002, 64);
        let c = send(&w1, 4, &syn, None, now);
        for (p, t, pk) in &c.outputs {
            assert_eq!(
                *p, 1,
                "octant -> backend1 through the service was not dropped"
            );
            assert_eq!(t.map(|t| t.dst), Some(ip(W2)));
            let c2 = send(&w2, 1, pk.frame.data(), Some(tun(W1, W2)), now);
            assert!(c2.outputs.is_empty(), "worker2 let octant reach backend2");
        }
    }
}

#[test]
fn megaflows_of_the_proxied_pipeline_are_exact() {
    // Select groups un-wildcard what they hash; the property check perturbs every other
    // bit and demands identical datapath actions.
    for node in ["worker1", "worker2"] {
        let b = load(node, &generate(&proxied(node)));
        let r =
            pipeline::seed::megaflow_property(&b, 40_000).unwrap_or_else(|e| panic!("{node}: {e}"));
        println!(
            "megaflow property ({node}, antrea-proxy): {} compared, {} through the service group, {} skipped",
            r.compared, r.grouped, r.skipped
        );
        assert!(r.compared > 120_000);
        assert!(
            r.grouped >= 10,
            "too few keys reached the service group: {r:?}"
        );
    }
}
