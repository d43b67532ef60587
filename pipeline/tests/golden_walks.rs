//! The seed's golden walks W1–W11 (testdata/antrea-seed/README.md) through the two real
//! Antrea nodes, with real conntrack state carried from walk to walk.

use pipeline::bridge::Bridge;
use pipeline::build::{arp_frame, ip, mac, tcp_frame};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::{Collect, Packet, TunnelMeta};
use pipeline::packet::VecFrame;
use pipeline::slowpath::{process, PacketTrace};

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
    let report = pipeline::seed::golden_walks(&w1, &w2).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.len(), 11);
    for r in &report {
        println!("{r}");
    }
    // W11 continued: once frontend answers, NORMAL has learned backend1's port.
    let reply = arp_frame(
        2,
        mac("be:2c:bf:e4:ec:c5"),
        ip("10.222.1.48"),
        mac("f2:32:d8:07:e2:a6"),
        ip("10.222.1.47"),
    );
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
