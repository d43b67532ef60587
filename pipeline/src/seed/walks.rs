//! The seed's golden walks W1–W11 (testdata/antrea-seed/README.md) as a reusable check:
//! run against the real Antrea flow dumps, and against flows generated from a node
//! description, they must give the same paths and outputs.

use crate::bridge::Bridge;
use crate::build::{arp_frame, ip, ipv4_frame, mac, tcp_frame, Ipv4Spec, L4Spec};
use crate::dpaction::{Collect, Packet, TunnelMeta};
use crate::field::Field;
use crate::packet::VecFrame;
use crate::slowpath::{process, trace_json, PacketTrace};

/// What one walk did.
#[derive(Clone, Debug)]
pub struct WalkReport {
    /// `W1`..`W11`.
    pub name: &'static str,
    /// Node.
    pub node: &'static str,
    /// Tables visited.
    pub path: Vec<u8>,
    /// Output ports (with the tunnel destination for tunnel outputs).
    pub outputs: Vec<(u32, Option<u32>)>,
}

impl std::fmt::Display for WalkReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path: Vec<String> = self.path.iter().map(u8::to_string).collect();
        let outs: Vec<String> = self
            .outputs
            .iter()
            .map(|(p, t)| match t {
                Some(d) => format!("{p} (tunnel to {})", std::net::Ipv4Addr::from(*d)),
                None => p.to_string(),
            })
            .collect();
        write!(
            f,
            "{:<4} {:<8} tables {:<36} out {}",
            self.name,
            self.node,
            path.join(","),
            if outs.is_empty() {
                "dropped".to_string()
            } else {
                outs.join(" ")
            }
        )
    }
}

struct Walk {
    trace: PacketTrace,
    out: Collect<VecFrame>,
}

fn walk(b: &Bridge, in_port: u32, frame: Vec<u8>, tun: Option<TunnelMeta>, now: u64) -> Walk {
    let pkt = Packet::new(VecFrame::new(&frame), in_port, tun.as_ref());
    let mut out = Collect::new();
    let mut trace = PacketTrace::default();
    process(b, pkt, now, &mut out, Some(&mut trace));
    Walk { trace, out }
}

fn tun(src: &str, dst: &str) -> TunnelMeta {
    TunnelMeta {
        src: ip(src),
        dst: ip(dst),
        ..Default::default()
    }
}

fn eth_of(f: &[u8]) -> (u64, u64) {
    let d = u64::from_be_bytes([0, 0, f[0], f[1], f[2], f[3], f[4], f[5]]);
    let s = u64::from_be_bytes([0, 0, f[6], f[7], f[8], f[9], f[10], f[11]]);
    (s, d)
}

macro_rules! check {
    ($name:expr, $cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!("{}: {}", $name, format!($($msg)+)));
        }
    };
}

fn report(name: &'static str, node: &'static str, w: &Walk) -> WalkReport {
    WalkReport {
        name,
        node,
        path: w.trace.path(),
        outputs: w
            .out
            .outputs
            .iter()
            .map(|(p, t, _)| (*p, t.map(|t| t.dst)))
            .collect(),
    }
}

fn single(name: &str, w: &Walk) -> Result<(u32, Option<TunnelMeta>, Vec<u8>), String> {
    check!(
        name,
        w.out.outputs.len() == 1,
        "expected one output, got ports {:?}",
        w.out.outputs.iter().map(|o| o.0).collect::<Vec<_>>()
    );
    let (p, t, pk) = &w.out.outputs[0];
    Ok((*p, *t, pk.frame.to_vec()))
}

/// A SYN-ACK answering `tcp_frame`'s SYN (seq 1000): ack 1001, checksums fixed.
pub(crate) fn syn_ack_for(mut f: Vec<u8>) -> Vec<u8> {
    f[42..46].copy_from_slice(&1001u32.to_be_bytes());
    f[38..42].copy_from_slice(&5000u32.to_be_bytes());
    f[50..52].fill(0);
    let tcp = f[34..].to_vec();
    let ps = crate::build::ipv4_pseudo_sum(
        u32::from_be_bytes([f[26], f[27], f[28], f[29]]),
        u32::from_be_bytes([f[30], f[31], f[32], f[33]]),
        6,
        tcp.len(),
    );
    let c = crate::packet::finish(crate::packet::sum16(&tcp, ps));
    f[50..52].copy_from_slice(&c.to_be_bytes());
    f
}

/// Runs W1–W11 in order on fresh bridges `w1` and `w2` (worker1, worker2 with the seed's
/// ports) and checks every expectation of the seed's table. Returns what each walk did.
pub fn golden_walks(w1: &Bridge, w2: &Bridge) -> Result<Vec<WalkReport>, String> {
    let c = Cast {
        gw1: mac("4e:99:08:c1:53:be"),
        gw2: mac("02:d8:4e:3f:92:1d"),
        frontend: mac("be:2c:bf:e4:ec:c5"),
        backend1: mac("f2:32:d8:07:e2:a6"),
        backend2: mac("c6:f4:b5:76:10:38"),
        vmac: mac("aa:bb:cc:dd:ee:ff"),
    };
    let mut out = Vec::new();
    w1_service(w1, &c, &mut out)?;
    w2_w3_to_the_remote_pod(w1, w2, &c, &mut out)?;
    w4_w5_the_answer_back(w1, w2, &c, &mut out)?;
    w6_w7_service_reply_and_arp(w1, &c, &mut out)?;
    w8_w9_spoofing_and_egress(w1, &c, &mut out)?;
    w10_w11_ingress_and_flooding(w1, w2, &c, &mut out)?;
    Ok(out)
}

/// The MAC addresses of the seed's cast: both gateways, the pods, the virtual MAC.
#[derive(Clone, Copy)]
struct Cast {
    gw1: u64,
    gw2: u64,
    frontend: u64,
    backend1: u64,
    backend2: u64,
    vmac: u64,
}
/// W1: frontend to the service IP.
fn w1_service(w1: &Bridge, c: &Cast, out: &mut Vec<WalkReport>) -> Result<(), String> {
    let Cast { gw1, frontend, .. } = *c;
    // W1: frontend -> service IP leaves on gw0 unchanged, committed in zone 65520, mark 0.
    let f = tcp_frame(
        frontend,
        gw1,
        ip("10.222.1.48"),
        ip("10.104.65.133"),
        54444,
        80,
        0x002,
        64,
    );
    let w = walk(w1, 49, f.clone(), None, 1);
    check!(
        "W1",
        w.trace.path() == [0, 10, 30, 31, 40, 105, 110],
        "path {:?}",
        w.trace.path()
    );
    let (p, t, bytes) = single("W1", &w)?;
    check!(
        "W1",
        p == 2 && t.is_none() && bytes == f,
        "out port {p}, changed: {}",
        bytes != f
    );
    let c = w1.conntrack.dump(Some(65520));
    check!(
        "W1",
        c.iter()
            .any(|c| c.to_string().contains("10.104.65.133") && c.mark == 0),
        "connection not committed with mark 0: {c:?}"
    );
    out.push(report("W1", "worker1", &w));
    Ok(())
}
/// W2 and W3: gw0 to the remote pod through the tunnel, decapsulated on worker2.
fn w2_w3_to_the_remote_pod(
    w1: &Bridge,
    w2: &Bridge,
    c: &Cast,
    out: &mut Vec<WalkReport>,
) -> Result<(), String> {
    let Cast {
        gw1,
        gw2,
        backend2,
        vmac,
        ..
    } = *c;
    // W2: gw0 -> remote pod: conj 1 (reg5=1), commit with ct_mark 0x20, tunnel to worker2.
    let f = tcp_frame(
        gw1,
        vmac,
        ip("10.222.1.48"),
        ip("10.222.2.34"),
        56670,
        80,
        0x002,
        64,
    );
    let w = walk(w1, 2, f, None, 2);
    check!(
        "W2",
        w.trace.path() == [0, 10, 30, 31, 40, 50, 70, 105, 110],
        "path {:?}",
        w.trace.path()
    );
    let j = trace_json(&w.trace, w1.ports().names());
    check!(
        "W2",
        j.registers.get("reg5").map(String::as_str) == Some("0x1"),
        "reg5 {:?}",
        j.registers.get("reg5")
    );
    let (p, t, w2_inner) = single("W2", &w)?;
    let t = t.ok_or("W2: not a tunnel output")?;
    check!(
        "W2",
        p == 1 && t.dst == ip("10.79.1.202") && t.src == ip("10.79.1.201") && t.tun_id == 0,
        "tunnel {t:?} port {p}"
    );
    check!(
        "W2",
        eth_of(&w2_inner) == (gw1, vmac) && w2_inner[22] == 63,
        "inner eth/ttl"
    );
    check!(
        "W2",
        w1.conntrack
            .dump(Some(65520))
            .iter()
            .any(|c| c.to_string().contains("10.222.2.34") && c.mark == 0x20),
        "not committed with mark 0x20"
    );
    out.push(report("W2", "worker1", &w));

    // W3: decapsulated on worker2: ingress conj (reg6=1), to backend2, ttl 62.
    let w = walk(w2, 1, w2_inner, Some(tun("10.79.1.201", "10.79.1.202")), 3);
    check!(
        "W3",
        w.trace.path() == [0, 30, 31, 40, 50, 60, 70, 80, 90, 105, 110],
        "path {:?}",
        w.trace.path()
    );
    let j = trace_json(&w.trace, w2.ports().names());
    check!(
        "W3",
        j.registers.get("reg6").map(String::as_str) == Some("0x1"),
        "reg6 {:?}",
        j.registers.get("reg6")
    );
    let (p, _, bytes) = single("W3", &w)?;
    check!(
        "W3",
        p == 35 && eth_of(&bytes) == (gw2, backend2) && bytes[22] == 62,
        "port {p}"
    );
    out.push(report("W3", "worker2", &w));
    Ok(())
}
/// W4 and W5: backend2's SYN-ACK back through the tunnel, established on worker1.
fn w4_w5_the_answer_back(
    w1: &Bridge,
    w2: &Bridge,
    c: &Cast,
    out: &mut Vec<WalkReport>,
) -> Result<(), String> {
    let Cast {
        gw1,
        gw2,
        backend2,
        vmac,
        ..
    } = *c;
    // W4: backend2's SYN-ACK: established, back through the tunnel.
    let f = syn_ack_for(tcp_frame(
        backend2,
        gw2,
        ip("10.222.2.34"),
        ip("10.222.1.48"),
        80,
        56670,
        0x012,
        64,
    ));
    let w = walk(w2, 35, f, None, 4);
    check!(
        "W4",
        w.trace.path() == [0, 10, 30, 31, 40, 50, 70, 105, 110],
        "path {:?}",
        w.trace.path()
    );
    check!(
        "W4",
        Field::CtState.get(&w.trace.passes[1].key) & 0x02 != 0,
        "not +est"
    );
    let (p, t, w4_inner) = single("W4", &w)?;
    check!(
        "W4",
        p == 1 && t.is_some_and(|t| t.dst == ip("10.79.1.201")),
        "port {p}"
    );
    check!(
        "W4",
        eth_of(&w4_inner) == (gw2, vmac) && w4_inner[22] == 63,
        "inner eth/ttl"
    );
    out.push(report("W4", "worker2", &w));

    // W5: decapsulated on worker1: est, ct_mark 0x20 sets eth_dst to gw0's MAC; to gw0.
    let w = walk(w1, 1, w4_inner, Some(tun("10.79.1.202", "10.79.1.201")), 5);
    check!(
        "W5",
        w.trace.path() == [0, 30, 31, 40, 50, 70, 80, 90, 105, 110],
        "path {:?}",
        w.trace.path()
    );
    check!(
        "W5",
        Field::CtMark.get(&w.trace.passes[1].key) == 0x20,
        "ct_mark"
    );
    let (p, _, bytes) = single("W5", &w)?;
    check!("W5", p == 2 && eth_of(&bytes).1 == gw1, "port {p}");
    out.push(report("W5", "worker1", &w));
    Ok(())
}
/// W6 and W7: the service's SYN-ACK to the frontend; ARP for the remote gateway.
fn w6_w7_service_reply_and_arp(
    w1: &Bridge,
    c: &Cast,
    out: &mut Vec<WalkReport>,
) -> Result<(), String> {
    let Cast {
        gw1,
        frontend,
        vmac,
        ..
    } = *c;
    // W6: the service's SYN-ACK from gw0 to frontend, unchanged.
    let f = syn_ack_for(tcp_frame(
        gw1,
        frontend,
        ip("10.104.65.133"),
        ip("10.222.1.48"),
        80,
        54444,
        0x012,
        64,
    ));
    let w = walk(w1, 2, f.clone(), None, 6);
    check!(
        "W6",
        w.trace.path() == [0, 10, 30, 31, 40, 50, 70, 80, 90, 105, 110],
        "path {:?}",
        w.trace.path()
    );
    let (p, _, bytes) = single("W6", &w)?;
    check!("W6", p == 49 && bytes == f, "port {p}");
    out.push(report("W6", "worker1", &w));

    // W7: ARP for the remote gateway answered with the virtual MAC, back out gw0.
    let w = walk(
        w1,
        2,
        arp_frame(1, gw1, ip("10.222.1.1"), 0, ip("10.222.2.1")),
        None,
        7,
    );
    check!(
        "W7",
        w.trace.path() == [0, 10, 20],
        "path {:?}",
        w.trace.path()
    );
    let (p, _, r) = single("W7", &w)?;
    check!("W7", p == 2 && eth_of(&r) == (vmac, gw1), "port {p}");
    check!(
        "W7",
        r[20..22] == [0, 2]
            && r[22..28] == vmac.to_be_bytes()[2..]
            && r[28..32] == ip("10.222.2.1").to_be_bytes(),
        "reply sha/spa"
    );
    check!(
        "W7",
        r[32..38] == gw1.to_be_bytes()[2..] && r[38..42] == ip("10.222.1.1").to_be_bytes(),
        "reply tha/tpa"
    );
    out.push(report("W7", "worker1", &w));
    Ok(())
}
/// W8 and W9: a spoofed source dropped; egress isolation.
fn w8_w9_spoofing_and_egress(
    w1: &Bridge,
    c: &Cast,
    out: &mut Vec<WalkReport>,
) -> Result<(), String> {
    let Cast {
        gw1,
        frontend,
        backend1,
        ..
    } = *c;
    // W8: spoofed source IP from frontend: dropped in table 10.
    let f = ipv4_frame(&Ipv4Spec {
        eth_src: frontend,
        eth_dst: gw1,
        src: ip("10.222.1.47"),
        dst: ip("10.222.1.1"),
        l4: L4Spec::Udp { sport: 1, dport: 2 },
        ..Default::default()
    });
    let w = walk(w1, 49, f, None, 8);
    check!(
        "W8",
        w.trace.path() == [0, 10] && w.out.outputs.is_empty(),
        "path {:?}",
        w.trace.path()
    );
    out.push(report("W8", "worker1", &w));

    // W9: frontend to backend1:22: egress isolation drops it in table 60.
    let f = tcp_frame(
        frontend,
        backend1,
        ip("10.222.1.48"),
        ip("10.222.1.47"),
        40000,
        22,
        0x002,
        64,
    );
    let w = walk(w1, 49, f, None, 9);
    check!(
        "W9",
        w.trace.path() == [0, 10, 30, 31, 40, 50, 60] && w.out.outputs.is_empty(),
        "path {:?}",
        w.trace.path()
    );
    out.push(report("W9", "worker1", &w));
    Ok(())
}
/// W10 and W11: ingress isolation; NORMAL flooding of ARP.
fn w10_w11_ingress_and_flooding(
    w1: &Bridge,
    w2: &Bridge,
    c: &Cast,
    out: &mut Vec<WalkReport>,
) -> Result<(), String> {
    let Cast {
        gw1,
        backend1,
        vmac,
        ..
    } = *c;
    // W10: remote frontend to backend2:22: ingress isolation drops it in table 100.
    let f = tcp_frame(
        gw1,
        vmac,
        ip("10.222.1.48"),
        ip("10.222.2.34"),
        40001,
        22,
        0x002,
        63,
    );
    let w = walk(w2, 1, f, Some(tun("10.79.1.201", "10.79.1.202")), 10);
    let path = w.trace.path();
    check!(
        "W10",
        path.ends_with(&[80, 90, 100]) && w.out.outputs.is_empty(),
        "path {path:?}"
    );
    out.push(report("W10", "worker2", &w));

    // W11: ARP request from backend1 for frontend: NORMAL floods, never back to 48.
    let w = walk(
        w1,
        48,
        arp_frame(1, backend1, ip("10.222.1.47"), 0, ip("10.222.1.48")),
        None,
        11,
    );
    check!(
        "W11",
        w.trace.path() == [0, 10, 20],
        "path {:?}",
        w.trace.path()
    );
    let ports: Vec<u32> = w.out.outputs.iter().map(|o| o.0).collect();
    check!(
        "W11",
        !ports.contains(&48) && [2, 3, 4, 49].iter().all(|p| ports.contains(p)),
        "flooded to {ports:?}"
    );
    out.push(report("W11", "worker1", &w));
    Ok(())
}
