//! The seed's golden walks W1–W11 (testdata/antrea-seed/README.md) through the two real
//! Antrea nodes, with real conntrack state carried from walk to walk.

use pipeline::bridge::Bridge;
use pipeline::build::{arp_frame, ip, ipv4_frame, mac, tcp_frame, Ipv4Spec, L4Spec};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::{Collect, Packet, TunnelMeta};
use pipeline::field::Field;
use pipeline::packet::VecFrame;
use pipeline::slowpath::{process, trace_json, PacketTrace};

const VMAC: &str = "aa:bb:cc:dd:ee:ff";

fn node(name: &str) -> Bridge {
    let text = std::fs::read_to_string(format!(
        "{}/../testdata/antrea-seed/{name}.flows",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    pipeline::seed::bridge(name, &text, ConntrackConfig::default())
}

struct Walk {
    trace: PacketTrace,
    out: Collect<VecFrame>,
}

fn walk(b: &Bridge, in_port: u32, frame: Vec<u8>, tun: Option<TunnelMeta>, now_ms: u64) -> Walk {
    let pkt = Packet::new(VecFrame::new(&frame), in_port, tun.as_ref());
    let mut out = Collect::new();
    let mut trace = PacketTrace::default();
    process(b, pkt, now_ms, &mut out, Some(&mut trace));
    Walk { trace, out }
}

fn tun(src: &str, dst: &str) -> TunnelMeta {
    TunnelMeta {
        tun_id: 0,
        src: ip(src),
        dst: ip(dst),
        ..Default::default()
    }
}

/// The single output of a walk: (port, tunnel metadata, frame bytes).
fn single_output(w: &Walk) -> (u32, Option<TunnelMeta>, Vec<u8>) {
    assert_eq!(
        w.out.outputs.len(),
        1,
        "outputs: {:?}",
        w.out.outputs.iter().map(|o| o.0).collect::<Vec<_>>()
    );
    let (p, t, pkt) = &w.out.outputs[0];
    (*p, *t, pkt.frame.to_vec())
}

fn eth_of(frame: &[u8]) -> (u64, u64) {
    let d = u64::from_be_bytes([
        0, 0, frame[0], frame[1], frame[2], frame[3], frame[4], frame[5],
    ]);
    let s = u64::from_be_bytes([
        0, 0, frame[6], frame[7], frame[8], frame[9], frame[10], frame[11],
    ]);
    (s, d)
}

fn ttl_of(frame: &[u8]) -> u8 {
    frame[22]
}

#[test]
fn golden_walks_w1_to_w11() {
    let w1 = node("worker1");
    let w2 = node("worker2");
    let gw1 = mac("4e:99:08:c1:53:be");
    let gw2 = mac("02:d8:4e:3f:92:1d");
    let frontend = mac("be:2c:bf:e4:ec:c5");
    let backend1 = mac("f2:32:d8:07:e2:a6");
    let backend2 = mac("c6:f4:b5:76:10:38");
    let vmac = mac(VMAC);

    // W1: frontend -> service IP goes to gw0 unchanged (kube-proxy on the host), committed.
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
    let w = walk(&w1, 49, f.clone(), None, 1);
    assert_eq!(w.trace.path(), vec![0, 10, 30, 31, 40, 105, 110]);
    let (p, t, bytes) = single_output(&w);
    assert_eq!((p, t), (2, None));
    assert_eq!(bytes, f, "W1 leaves unchanged");
    let conns = w1.conntrack.dump(Some(65520));
    assert_eq!(conns.len(), 1);
    let c = conns[0].to_string();
    assert!(
        c.contains("10.104.65.133") && c.contains("zone=65520"),
        "{c}"
    );
    assert!(!c.contains("mark="), "W1 commits ct_mark 0: {c}");

    // W2: gw0 -> remote pod: conj 1, reg5=1, commit with ct_mark 0x20, out the tunnel.
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
    let w = walk(&w1, 2, f, None, 2);
    assert_eq!(w.trace.path(), vec![0, 10, 30, 31, 40, 50, 70, 105, 110]);
    let j = trace_json(&w.trace, w1.ports().names());
    assert_eq!(j.registers.get("reg5").map(String::as_str), Some("0x1"));
    let (p, t, w2_inner) = single_output(&w);
    assert_eq!(p, 1);
    let t = t.expect("tunnel output");
    assert_eq!(
        (t.dst, t.src, t.tun_id),
        (ip("10.79.1.202"), ip("10.79.1.201"), 0)
    );
    assert_eq!(eth_of(&w2_inner), (gw1, vmac));
    assert_eq!(ttl_of(&w2_inner), 63);
    let c = w1
        .conntrack
        .dump(Some(65520))
        .into_iter()
        .map(|c| c.to_string())
        .find(|c| c.contains("10.222.2.34"))
        .expect("W2 committed");
    assert!(c.contains("mark=32"), "{c}");

    // W3: the same packet decapsulated on worker2: ingress conj 1 (reg6=1), to backend2.
    let w = walk(
        &w2,
        1,
        w2_inner.clone(),
        Some(tun("10.79.1.201", "10.79.1.202")),
        3,
    );
    assert_eq!(
        w.trace.path(),
        vec![0, 30, 31, 40, 50, 60, 70, 80, 90, 105, 110]
    );
    let j = trace_json(&w.trace, w2.ports().names());
    assert_eq!(j.registers.get("reg6").map(String::as_str), Some("0x1"));
    let (p, t, bytes) = single_output(&w);
    assert_eq!((p, t), (35, None));
    assert_eq!(eth_of(&bytes), (gw2, backend2));
    assert_eq!(ttl_of(&bytes), 62);

    // W4: backend2 answers SYN-ACK: established, routed back through the tunnel.
    let f = tcp_frame(
        backend2,
        gw2,
        ip("10.222.2.34"),
        ip("10.222.1.48"),
        80,
        56670,
        0x012,
        64,
    );
    let f = with_handshake_seq(f, ip("10.222.2.34"), 80, ip("10.222.1.48"), 56670);
    let w = walk(&w2, 35, f, None, 4);
    assert_eq!(w.trace.path(), vec![0, 10, 30, 31, 40, 50, 70, 105, 110]);
    assert!(w.trace.passes[1].key.w[5] & 0x02 != 0, "W4 sees +est");
    let (p, t, w4_inner) = single_output(&w);
    assert_eq!(p, 1);
    assert_eq!(t.unwrap().dst, ip("10.79.1.201"));
    assert_eq!(eth_of(&w4_inner), (gw2, vmac));
    assert_eq!(ttl_of(&w4_inner), 63);

    // W5: decapsulated on worker1: est with ct_mark 0x20 -> eth_dst := gw0 MAC, to gw0.
    let w = walk(&w1, 1, w4_inner, Some(tun("10.79.1.202", "10.79.1.201")), 5);
    assert_eq!(
        w.trace.path(),
        vec![0, 30, 31, 40, 50, 70, 80, 90, 105, 110]
    );
    let ct_seen = &w.trace.passes[1].key;
    assert_eq!(Field::CtMark.get(ct_seen), 0x20);
    let (p, _, bytes) = single_output(&w);
    assert_eq!(p, 2);
    assert_eq!(eth_of(&bytes).1, gw1);

    // W6: the service's SYN-ACK from gw0 back to frontend (conn of W1), unchanged.
    let f = tcp_frame(
        gw1,
        frontend,
        ip("10.104.65.133"),
        ip("10.222.1.48"),
        80,
        54444,
        0x012,
        64,
    );
    let f = with_handshake_seq(f, ip("10.104.65.133"), 80, ip("10.222.1.48"), 54444);
    let w = walk(&w1, 2, f.clone(), None, 6);
    assert_eq!(
        w.trace.path(),
        vec![0, 10, 30, 31, 40, 50, 70, 80, 90, 105, 110]
    );
    let (p, _, bytes) = single_output(&w);
    assert_eq!(p, 49);
    assert_eq!(bytes, f);

    // W7: ARP for the remote gateway answered with the virtual MAC, back out gw0.
    let f = arp_frame(1, gw1, ip("10.222.1.1"), 0, ip("10.222.2.1"));
    let w = walk(&w1, 2, f, None, 7);
    assert_eq!(w.trace.path(), vec![0, 10, 20]);
    let (p, _, bytes) = single_output(&w);
    assert_eq!(p, 2);
    assert_eq!(eth_of(&bytes), (vmac, gw1));
    assert_eq!(&bytes[20..22], &[0, 2], "ARP reply");
    assert_eq!(&bytes[22..28], &vmac.to_be_bytes()[2..], "sha");
    assert_eq!(&bytes[28..32], &ip("10.222.2.1").to_be_bytes(), "spa");
    assert_eq!(&bytes[32..38], &gw1.to_be_bytes()[2..], "tha");
    assert_eq!(&bytes[38..42], &ip("10.222.1.1").to_be_bytes(), "tpa");

    // W8: spoofed source IP from frontend: dropped in table 10.
    let f = ipv4_frame(&Ipv4Spec {
        eth_src: frontend,
        eth_dst: gw1,
        src: ip("10.222.1.47"),
        dst: ip("10.222.1.1"),
        l4: L4Spec::Udp { sport: 1, dport: 2 },
        ..Default::default()
    });
    let w = walk(&w1, 49, f, None, 8);
    assert_eq!(w.trace.path(), vec![0, 10]);
    assert!(w.out.outputs.is_empty());
    assert!(!w.out.drops.is_empty());

    // W9: frontend to backend1:22 is not allowed by egress policy: dropped in table 60.
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
    let w = walk(&w1, 49, f, None, 9);
    assert_eq!(w.trace.path(), vec![0, 10, 30, 31, 40, 50, 60]);
    assert!(w.out.outputs.is_empty());

    // W10: remote frontend to backend2:22: dropped by ingress isolation in table 100.
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
    let w = walk(&w2, 1, f, Some(tun("10.79.1.201", "10.79.1.202")), 10);
    let path = w.trace.path();
    assert_eq!(&path[path.len() - 3..], &[80, 90, 100], "{path:?}");
    assert!(w.out.outputs.is_empty());

    // W11: ARP request from backend1 for frontend: NORMAL floods, never back to 48.
    let f = arp_frame(1, backend1, ip("10.222.1.47"), 0, ip("10.222.1.48"));
    let w = walk(&w1, 48, f, None, 11);
    assert_eq!(w.trace.path(), vec![0, 10, 20]);
    let ports: Vec<u32> = w.out.outputs.iter().map(|o| o.0).collect();
    assert!(!ports.contains(&48), "{ports:?}");
    for p in [2, 3, 4, 49] {
        assert!(ports.contains(&p), "flooded to {p}: {ports:?}");
    }
    // Once frontend's MAC is learned (it answers), NORMAL unicasts to its port.
    let reply = arp_frame(2, frontend, ip("10.222.1.48"), backend1, ip("10.222.1.47"));
    let w = walk(&w1, 49, reply, None, 12);
    let ports: Vec<u32> = w.out.outputs.iter().map(|o| o.0).collect();
    assert_eq!(ports, vec![48], "learned port of backend1");
}

/// Rewrites the TCP sequence/ack numbers of a SYN-ACK so that it answers the SYN that
/// `tcp_frame` built for the other direction (seq 1000), keeping checksums valid.
fn with_handshake_seq(mut f: Vec<u8>, src: u32, sport: u16, dst: u32, dport: u16) -> Vec<u8> {
    let _ = (src, sport, dst, dport);
    // SYN from tcp_frame has seq 1000: acknowledge 1001.
    f[34 + 8..34 + 12].copy_from_slice(&1001u32.to_be_bytes());
    f[34 + 4..34 + 8].copy_from_slice(&5000u32.to_be_bytes());
    f[34 + 16..34 + 18].fill(0);
    let tcp = f[34..].to_vec();
    let ps = pipeline::build::ipv4_pseudo_sum(
        u32::from_be_bytes([f[26], f[27], f[28], f[29]]),
        u32::from_be_bytes([f[30], f[31], f[32], f[33]]),
        6,
        tcp.len(),
    );
    let c = pipeline::packet::finish(pipeline::packet::sum16(&tcp, ps));
    f[34 + 16..34 + 18].copy_from_slice(&c.to_be_bytes());
    f
}

/// W2 → W3 and W4 → W5 carried as real Geneve frames: worker1 encapsulates W2's output
/// (outer headers written into headroom, the TLV map of the seed), worker2 validates and
/// strips them and runs W3 on what comes out; and back for W4 → W5.
#[test]
fn walks_across_the_tunnel_as_real_geneve_frames() {
    use pipeline::geneve::{is_geneve_for, pop, push, PushParams, TlvMap, GENEVE_PORT};
    let w1 = node("worker1");
    let w2 = node("worker2");
    let mut tlv = TlvMap::default();
    tlv.add("{class=0x104,type=0x80,len=4}->tun_metadata0")
        .unwrap();
    let (n1_mac, n2_mac) = (mac("00:50:56:8f:4e:82"), mac("00:50:56:8f:1c:f6"));
    let gw1 = mac("4e:99:08:c1:53:be");
    let vmac = mac(VMAC);
    let backend2 = mac("c6:f4:b5:76:10:38");

    let encap = |w: &Walk, src_mac: u64, dst_mac: u64, local: &str| -> Vec<u8> {
        let (p, t, _) = single_output(w);
        assert_eq!(p, 1);
        let t = t.unwrap();
        let mut f = VecFrame::new(&w.out.outputs[0].2.frame.to_vec());
        let params = PushParams {
            src_mac,
            dst_mac,
            local_ip: ip(local),
            dst_port: GENEVE_PORT,
            csum: true,
            ttl: 64,
            ip_id: 1,
        };
        push(&mut f, &t, &tlv, &params, 0x1234, 1500).unwrap();
        f.to_vec()
    };

    let f = tcp_frame(
        gw1,
        vmac,
        ip("10.222.1.48"),
        ip("10.222.2.34"),
        56671,
        80,
        0x002,
        64,
    );
    let w = walk(&w1, 2, f, None, 100);
    let wire = encap(&w, n1_mac, n2_mac, "10.79.1.201");
    // What worker2's uplink receives.
    assert!(is_geneve_for(&wire, ip("10.79.1.202"), GENEVE_PORT));
    assert_eq!(
        &wire[26..34],
        &[10, 79, 1, 201, 10, 79, 1, 202],
        "10.79.1.201 > 10.79.1.202"
    );
    assert_eq!(u16::from_be_bytes([wire[36], wire[37]]), 6081);
    assert_eq!(&wire[46..49], &[0, 0, 0], "VNI 0");
    let mut rx = VecFrame::new(&wire);
    let meta = pop(&mut rx, &tlv).unwrap();
    assert_eq!(
        (meta.src, meta.dst, meta.tun_id),
        (ip("10.79.1.201"), ip("10.79.1.202"), 0)
    );
    let w = walk(&w2, 1, rx.to_vec(), Some(meta), 101);
    assert_eq!(
        w.trace.path(),
        vec![0, 30, 31, 40, 50, 60, 70, 80, 90, 105, 110]
    );
    let (p, _, bytes) = single_output(&w);
    assert_eq!(p, 35);
    assert_eq!(eth_of(&bytes).1, backend2);
    assert_eq!(ttl_of(&bytes), 62);

    // The answer, back through the tunnel.
    let f = tcp_frame(
        backend2,
        mac("02:d8:4e:3f:92:1d"),
        ip("10.222.2.34"),
        ip("10.222.1.48"),
        80,
        56671,
        0x012,
        64,
    );
    let f = with_handshake_seq(f, 0, 0, 0, 0);
    let w = walk(&w2, 35, f, None, 102);
    let wire = encap(&w, n2_mac, n1_mac, "10.79.1.202");
    let mut rx = VecFrame::new(&wire);
    let meta = pop(&mut rx, &tlv).unwrap();
    let w = walk(&w1, 1, rx.to_vec(), Some(meta), 103);
    assert_eq!(
        w.trace.path(),
        vec![0, 30, 31, 40, 50, 70, 80, 90, 105, 110]
    );
    assert_eq!(single_output(&w).0, 2);
}
