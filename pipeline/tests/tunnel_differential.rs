//! Fast path == slow path through the tunnel: the worker1 node with its underlay (uplink,
//! route, TLV map, neighbours), the same stream as the fast/slow differential but with the
//! remote pod's packets arriving as Geneve on the uplink (options known and unknown
//! critical, outer UDP checksum on and off, corrupted outer headers), ARP for the node
//! and neighbours moving, an underlay MTU that some packets exceed, and flow changes that
//! retarget the tunnel. Tunnel outputs are encapsulated by `tnl_push` on both sides and
//! must leave byte for byte the same (the UDP source port included).
//! Then the unresolved next hop: packets park, one ARP request goes out, the queue is
//! bounded, and once the neighbour answers they leave exactly as the slow path sends them.

mod common;

use common::{change, ends, maybe_open, next_of_any, next_packet, node, noise, outcome, Conn, Rng};
use pipeline::bridge::Bridge;
use pipeline::build::{arp_frame, ip, ipv4_frame, Ipv4Spec, L4Spec};
use pipeline::dpaction::{Collect, DropReason, Packet, Sink, TunnelMeta};
use pipeline::fastpath::{FastPath, FastPathConfig, TunnelStats};
use pipeline::flow::Flow;
use pipeline::geneve::{self, DecapError, PushParams, TlvMap};
use pipeline::packet::{Frame, VecFrame};
use pipeline::seed::{node_ip, node_mac, with_underlay, UPLINK_PORT};
use pipeline::slowpath::{process, receive};

fn tunnel_node(mtu: u16, resolved: bool) -> Bridge {
    let b = node();
    with_underlay(&b, "worker1", mtu, resolved);
    b
}

/// worker2's side of the tunnel: its TLV map also maps a critical option worker1 does not
/// know (slot 1), which worker1 must refuse.
fn sender_tlv() -> TlvMap {
    let mut t = TlvMap::default();
    t.add(
        "{class=0x104,type=0x80,len=4}->tun_metadata0,{class=0x105,type=0x81,len=4}->tun_metadata1",
    )
    .unwrap();
    t
}

/// The inner frame as worker2 would put it on the wire to worker1; now and then damaged.
fn wire(inner: &[u8], r: &mut Rng) -> Vec<u8> {
    let md_present = match r.below(10) {
        0 => 0b10,
        1..=3 => 0b01,
        _ => 0,
    };
    let meta = TunnelMeta {
        tun_id: 0,
        src: node_ip("worker2"),
        dst: node_ip("worker1"),
        md_present,
        md: [r.next() & 0xffff_ffff, 7, 0, 0, 0, 0, 0, 0],
        ..Default::default()
    };
    let p = PushParams {
        src_mac: node_mac("worker2"),
        dst_mac: node_mac("worker1"),
        local_ip: node_ip("worker2"),
        dst_port: geneve::GENEVE_PORT,
        csum: r.below(2) == 0,
        ttl: 64,
        ip_id: 0,
    };
    let mut f = VecFrame::new(inner);
    geneve::push(&mut f, &meta, &sender_tlv(), &p, r.next() as u32, 9000).unwrap();
    let mut v = f.to_vec();
    match r.below(30) {
        0 => {
            let at = 14 + r.below(48) as usize;
            v[at] ^= 1 << r.below(8);
        }
        1 => v.truncate(14 + r.below(v.len() as u64 - 14) as usize),
        _ => {}
    }
    v
}

/// Underlay traffic on the uplink that is not tunnelled: ARP for the node, a neighbour's
/// binding moving, and the uplink's own packets.
fn underlay_noise(r: &mut Rng, n: u64) -> Vec<u8> {
    let me = node_ip("worker1");
    match r.below(3) {
        0 => arp_frame(1, node_mac("worker2"), node_ip("worker2"), 0, me),
        1 => {
            // 10.79.1.203 changes MAC every 2,000 packets: encapsulations revalidate.
            let m = 0x0250_5600_0000 + (n / 2000) % 2;
            arp_frame(2, m, ip("10.79.1.203"), node_mac("worker1"), me)
        }
        _ => ipv4_frame(&Ipv4Spec {
            src: node_ip("worker2"),
            dst: me,
            eth_src: node_mac("worker2"),
            eth_dst: node_mac("worker1"),
            l4: L4Spec::Udp {
                sport: r.next() as u16,
                dport: 4789,
            },
            ..Default::default()
        }),
    }
}

#[test]
fn tunnel_traffic_fast_path_equals_slow_path() {
    // An underlay MTU of 200: the larger data segments do not fit once encapsulated.
    let slow = tunnel_node(200, true);
    let fast = tunnel_node(200, true);
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig {
        emc_insert_inv_prob: 2,
        max_upcalls_per_burst: 64,
        ..Default::default()
    });
    let mut r = Rng(0x7e11_0fa5_0000_0001);
    let pairs = ends();
    let mut conns: Vec<Conn> = Vec::new();
    let mut s_stats = TunnelStats::default();
    let mut now = 1u64;
    for n in 0..30_000u64 {
        now += 1;
        if n % 5000 == 4999 {
            change(&slow, n / 5000, now);
            change(&fast, n / 5000, now);
        }
        maybe_open(&mut conns, &pairs, &mut r);
        let (port, frame) = match r.below(20) {
            0 | 1 => {
                let (p, f, _) = noise(&mut r);
                (p, f)
            }
            2 => (UPLINK_PORT, underlay_noise(&mut r, n)),
            _ => {
                let (p, f, tun) = next_of_any(&mut conns, &mut r);
                match tun {
                    Some(_) => (UPLINK_PORT, wire(&f, &mut r)),
                    None => (p, f),
                }
            }
        };
        let mut s_out = Collect::new();
        receive(
            &slow,
            port,
            VecFrame::new(&frame),
            now,
            &mut s_out,
            &mut s_stats,
        );
        let mut f_out = Collect::new();
        fp.receive_burst(&fast, port, [VecFrame::new(&frame)], now, &mut f_out);
        let (so, fo) = (outcome(s_out), outcome(f_out));
        assert_eq!(so, fo, "packet {n} (port {port}) differs");
        if n % 1000 == 0 {
            fp.maintain(now);
        }
    }
    let (st, t) = (fp.stats, fp.stats.tunnel);
    println!(
        "tunnel fast vs slow: 30000 packets, 0 mismatches; decapsulated {}, encapsulated {}, \
         decap errors {:?}, too big {}, ARP answered {} learned {}, revalidations {}",
        t.rx_packets,
        t.tx_packets,
        t.decap,
        st.drops[DropReason::TunnelTooBig.index()],
        t.arp_answered,
        t.arp_learned,
        st.revalidations
    );
    assert_eq!(t.decap, s_stats.decap, "decapsulation errors by reason");
    assert_eq!(
        (t.rx_packets, t.arp_answered, t.arp_learned),
        (
            s_stats.rx_packets,
            s_stats.arp_answered,
            s_stats.arp_learned
        )
    );
    assert!(t.rx_packets > 2000 && t.tx_packets > 1500, "{t:?}");
    assert!(t.decap[DecapError::UnknownCriticalOption.index()] > 100);
    assert!(t.decap[DecapError::BadUdpChecksum.index()] + t.decap[DecapError::BadIp.index()] > 10);
    assert!(st.drops[DropReason::TunnelTooBig.index()] > 100);
    assert!(t.arp_answered > 100 && t.arp_learned > 100);
    assert!(st.emc_hits + st.megaflow_hits > st.upcalls * 5, "{st:?}");
}

/// A sink with buffers (ARP requests are built from nothing), recording like `Collect`.
struct WithBuffers(Collect<VecFrame>);

impl Sink<VecFrame> for WithBuffers {
    fn output(&mut self, port: u32, tun: Option<&TunnelMeta>, frame: VecFrame, key: &Flow) {
        self.0.output(port, tun, frame, key);
    }
    fn drop_packet(&mut self, reason: DropReason, frame: VecFrame) {
        self.0.drop_packet(reason, frame);
    }
    fn note_drop(&mut self, reason: DropReason) {
        self.0.note_drop(reason);
    }
    fn alloc(&mut self, bytes: &[u8]) -> Option<VecFrame> {
        Some(VecFrame::new(bytes))
    }
}

/// SYNs of new connections from the gateway to the remote pod (tunnelled to worker2).
fn syns(n: usize, r: &mut Rng) -> Vec<Vec<u8>> {
    let (from_gw, remote) = ends()[1];
    (0..n)
        .map(|i| {
            let mut c = Conn {
                a: from_gw,
                b: remote,
                sport: 20000 + i as u16,
                dport: 80,
                step: 0,
                seq_a: r.next() as u32,
                seq_b: 0,
            };
            next_packet(&mut c, r).1
        })
        .collect()
}

#[test]
fn unresolved_next_hop_parks_then_sends_as_the_slow_path() {
    let fast = tunnel_node(1500, false);
    let slow = tunnel_node(1500, false);
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig::default());
    let mut sink = WithBuffers(Collect::new());
    let mut r = Rng(42);
    let frames = syns(70, &mut r);
    for f in &frames {
        fp.receive_burst(&fast, 2, [VecFrame::new(f)], 10, &mut sink);
    }
    // One ARP request for worker2, 64 packets waiting (the per-next-hop bound), the rest
    // dropped as unresolved.
    let arp: Vec<_> = sink.0.outputs.drain(..).collect();
    assert_eq!(
        arp.len(),
        1,
        "one ARP request while resolution is under way"
    );
    assert_eq!(arp[0].0, UPLINK_PORT);
    assert_eq!(
        arp[0].2.frame.to_vec(),
        arp_frame(
            1,
            node_mac("worker1"),
            node_ip("worker1"),
            0,
            node_ip("worker2")
        )
    );
    assert_eq!(fp.n_parked(), 64);
    assert_eq!(
        fp.stats.drops[DropReason::TunnelUnresolved.index()],
        6,
        "queue bounded per next hop"
    );
    // worker2 answers: the packets leave, encapsulated, in order.
    let reply = arp_frame(
        2,
        node_mac("worker2"),
        node_ip("worker2"),
        node_mac("worker1"),
        node_ip("worker1"),
    );
    fp.receive_burst(&fast, UPLINK_PORT, [VecFrame::new(&reply)], 20, &mut sink);
    fp.service(&fast, 20, &mut sink);
    assert_eq!(fp.n_parked(), 0);
    let released: Vec<Vec<u8>> = sink
        .0
        .outputs
        .drain(..)
        .map(|o| o.2.frame.to_vec())
        .collect();
    assert_eq!(released.len(), 64);
    // The slow path, with the neighbour known, sends the same 64 packets the same way.
    slow.learn_neighbour(node_ip("worker2"), node_mac("worker2"), 20);
    let mut s_out = Collect::new();
    for f in &frames[..64] {
        process(
            &slow,
            Packet::new(VecFrame::new(f), 2, None),
            10,
            &mut s_out,
            None,
        );
    }
    let sent: Vec<Vec<u8>> = s_out.outputs.iter().map(|o| o.2.frame.to_vec()).collect();
    assert_eq!(
        released, sent,
        "parked packets leave as the slow path sends them"
    );
    let mut rx = VecFrame::new(&released[0]);
    let meta = geneve::pop(&mut rx, &fast.underlay().tlv).unwrap();
    assert_eq!(
        (meta.src, meta.dst),
        (node_ip("worker1"), node_ip("worker2"))
    );
    // The megaflow that parked is revalidated into a tnl_push: the next packet goes
    // straight out.
    let before = fp.stats.revalidations;
    let more = syns(1, &mut Rng(7));
    fp.receive_burst(&fast, 2, [VecFrame::new(&more[0])], 30, &mut sink);
    assert_eq!(sink.0.outputs.len(), 1);
    assert!(fp.stats.revalidations > before || fp.stats.upcalls > 0);
    assert_eq!(fp.n_parked(), 0);
}

#[test]
fn next_hop_that_never_answers_drops_what_waits() {
    let b = tunnel_node(1500, false);
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig::default());
    let mut sink = WithBuffers(Collect::new());
    let frames = syns(3, &mut Rng(5));
    for f in &frames {
        fp.receive_burst(&b, 2, [VecFrame::new(f)], 0, &mut sink);
    }
    assert_eq!(fp.n_parked(), 3);
    // ARP retries every second, three tries, then the next hop has failed.
    let mut arps = 0;
    for t in [1000, 2000, 3000] {
        arps += b.neighbour_tick(t).arp.len();
        fp.service(&b, t, &mut sink);
    }
    assert_eq!(arps, 2, "two retries after the first request");
    assert_eq!(fp.n_parked(), 0);
    assert_eq!(fp.stats.drops[DropReason::TunnelUnresolved.index()], 3);
    // During the hold-down, new packets are dropped at once (no ARP storm).
    fp.receive_burst(&b, 2, [VecFrame::new(&frames[0])], 3500, &mut sink);
    assert_eq!(fp.n_parked(), 0);
    assert_eq!(fp.stats.drops[DropReason::TunnelUnresolved.index()], 4);
    let _ = sink.0.outputs.len();
    assert!(VecFrame::new(&frames[0]).len() > 0);
}
