//! brisk's own kernel-socket ports against the real kernel: an AF_PACKET port on each end
//! of a veth pair, and a TAP port whose interface the kernel's ARP talks through. Runs in
//! both builds (packets in mbufs with DPDK, in brisk's buffer pool without it). Needs root
//! (it makes interfaces); skipped with a message otherwise.

use std::process::Command;
use std::time::{Duration, Instant};
use switch::kernel::{AfPacketPort, TapPort};
use switch::pkt::{Pkt, PktBatch, PktPool};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn ip(args: &str) -> bool {
    Command::new("ip")
        .args(args.split_whitespace())
        .status()
        .is_ok_and(|s| s.success())
}

/// The packet pool of this build (EAL first with DPDK).
fn pool() -> PktPool {
    #[cfg(feature = "dpdk")]
    {
        let prefix = format!("--file-prefix=kports{}", std::process::id());
        // Eal has no destructor: the EAL stays up for the rest of the test process.
        let _eal = switch::dpdk::Eal::init(&[
            "kports".into(),
            "--no-huge".into(),
            "-m".into(),
            "256".into(),
            "--no-pci".into(),
            "--log-level=error".into(),
            prefix,
        ])
        .expect("EAL init");
    }
    switch::pkt::new_pool("kports", 4095).expect("pool")
}

/// Polls `rx` until `n` frames arrived or a second passed.
fn receive<F: FnMut(&mut PktBatch) -> usize>(mut rx: F, n: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut b = PktBatch::new();
    let deadline = Instant::now() + Duration::from_secs(1);
    while got.len() < n && Instant::now() < deadline {
        if rx(&mut b) == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
        got.extend(b.drain().map(|p| p.data().to_vec()));
    }
    got
}

fn udp(seq: u32, frag: Option<u16>) -> Vec<u8> {
    let mut f = pipeline::build::udp_frame(
        0x0200_0000_000a,
        0x0200_0000_000b,
        0x0a63_0001,
        0x0a63_0002,
        4000,
        5000,
        &seq.to_be_bytes().repeat(25),
    );
    if let Some(off) = frag {
        f[20..22].copy_from_slice(&off.to_be_bytes());
    }
    f
}

#[test]
fn afpacket_and_tap_ports_against_the_kernel() {
    if !is_root() {
        eprintln!("kernel_ports: skipped, creating interfaces needs root");
        return;
    }
    let pool = pool();
    let start_free = pool.avail();

    // AF_PACKET on both ends of a veth pair.
    let (a, b) = ("bk-kp-a", "bk-kp-b");
    veth_pair(a, b);
    let pa = AfPacketPort::open(a, 1, 2).expect("open a");
    let pb = AfPacketPort::open(b, 1, 2).expect("open b");
    assert!(
        pa.netdev().link().up && pb.netdev().link().up,
        "open sets both ends up"
    );
    assert!(AfPacketPort::open("bk-no-such", 1, 1).is_err());
    let want = afpacket_carries_bursts_fragments_and_vlan_tags(&pa, &pb, &pool);
    afpacket_sends_back_and_skips_what_the_kernel_refuses(&pa, &pb, &pool, &want);
    drop(pb);
    afpacket_fanout_keeps_each_flow_on_one_queue(&pa, b, &pool);
    drop(pa);
    assert!(ip(&format!("link del {a}")));

    tap_carries_the_kernels_arp(&pool);
    assert_eq!(pool.avail(), start_free, "every buffer back in the pool");
}

/// A veth pair `a`-`b` (replacing one left over), sending frames as they are (no offload
/// super-frames) and without IPv6 chatter.
fn veth_pair(a: &str, b: &str) {
    let _ = ip(&format!("link del {a}"));
    assert!(ip(&format!("link add {a} type veth peer name {b}")));
    for i in [a, b] {
        let _ = Command::new("sysctl")
            .args(["-qw", &format!("net.ipv6.conf.{i}.disable_ipv6=1")])
            .status();
    }
}

/// 3 bursts of 32 plus an IPv4 fragment (kept as a fragment: no reassembly, no fanout)
/// and a VLAN-tagged frame (the kernel strips the tag into the ring header; the port puts
/// it back) from `pa` arrive at `pb` byte for byte. Returns the frames sent.
fn afpacket_carries_bursts_fragments_and_vlan_tags(
    pa: &AfPacketPort,
    pb: &AfPacketPort,
    pool: &PktPool,
) -> Vec<Vec<u8>> {
    let mut want: Vec<Vec<u8>> = (0..96).map(|i| udp(i, None)).collect();
    want.push(udp(1000, Some(0x2000))); // MF, offset 0
    want.push(udp(1001, Some(0x0003))); // offset 24 bytes, last
    let mut tagged = udp(1002, None);
    tagged.splice(12..12, [0x81, 0x00, 0x00, 0x2a]);
    want.push(tagged);
    let mut sent = 0;
    for chunk in want.chunks(32) {
        let mut batch = PktBatch::new();
        for f in chunk {
            batch.push(Pkt::from_bytes(pool, f).unwrap()).unwrap();
        }
        let n = chunk.len();
        // Transmit queue 1 (a worker's), as the runtime would.
        let placed = pa.tx_burst(1, &mut batch);
        assert_eq!(placed, n, "a 256-frame ring takes a burst");
        assert!(batch.is_empty());
        sent += placed;
    }
    let got = receive(|batch| pb.rx_burst(0, batch, pool), want.len());
    assert_eq!(got.len(), sent, "every frame arrives");
    assert_eq!(
        got, want,
        "byte for byte, in order, fragments and VLAN tag as sent"
    );
    want
}

/// The other way, on the control thread's queue; frames the kernel would refuse (longer
/// than the veth's MTU with Ethernet and a tag, shorter than Ethernet) are counted and
/// skipped, the ring going on with the next one; what a port sends does not come back to
/// itself.
fn afpacket_sends_back_and_skips_what_the_kernel_refuses(
    pa: &AfPacketPort,
    pb: &AfPacketPort,
    pool: &PktPool,
    want: &[Vec<u8>],
) {
    let mut batch = PktBatch::new();
    batch
        .push(Pkt::from_bytes(pool, &want[0]).unwrap())
        .unwrap();
    assert_eq!(pb.tx_burst(0, &mut batch), 1);
    assert_eq!(
        receive(|batch| pa.rx_burst(0, batch, pool), 1),
        vec![want[0].clone()]
    );
    // Frames the kernel would refuse (longer than the veth's MTU with Ethernet and a tag,
    // shorter than Ethernet) are counted and skipped; the ring goes on with the next one.
    let mut batch = PktBatch::new();
    batch
        .push(Pkt::from_bytes(pool, &[0u8; 1600]).unwrap())
        .unwrap();
    batch
        .push(Pkt::from_bytes(pool, &[0u8; 10]).unwrap())
        .unwrap();
    batch
        .push(Pkt::from_bytes(pool, &want[1]).unwrap())
        .unwrap();
    assert_eq!(
        pb.tx_burst(0, &mut batch),
        1,
        "only the good frame is placed"
    );
    assert!(
        batch.is_empty(),
        "the refused ones are freed, not left behind"
    );
    assert_eq!(pb.stats().oerrors, 2);
    assert_eq!(
        receive(|batch| pa.rx_burst(0, batch, pool), 1),
        vec![want[1].clone()]
    );
    // What a port sends does not come back to itself.
    assert!(receive(|batch| pb.rx_burst(0, batch, pool), 1).is_empty());
    let st = pb.stats();
    assert_eq!((st.ierrors, st.rx_nombuf, st.oerrors), (0, 0, 2), "{st:?}");
}

/// Two receive queues on `b`: a fanout group spreads flows over them by the kernel's flow
/// hash, each flow whole on one queue (as RSS does on a NIC's queues).
fn afpacket_fanout_keeps_each_flow_on_one_queue(pa: &AfPacketPort, b: &str, pool: &PktPool) {
    let pb = AfPacketPort::open(b, 2, 1).expect("open b with 2 receive queues");
    assert_eq!(pb.rx_queues(), 2);
    let flow = |sport: u16, copy: u8| {
        pipeline::build::udp_frame(
            0x0200_0000_000a,
            0x0200_0000_000b,
            0x0a63_0001,
            0x0a63_0002,
            sport,
            5000,
            &[copy; 40],
        )
    };
    let mut sent = Vec::new();
    for chunk in (0..64u16).collect::<Vec<_>>().chunks(16) {
        let mut batch = PktBatch::new();
        for &sport in chunk {
            for copy in 0..2 {
                let f = flow(4000 + sport, copy);
                batch.push(Pkt::from_bytes(pool, &f).unwrap()).unwrap();
                sent.push(f);
            }
        }
        assert_eq!(pa.tx_burst(0, &mut batch), 32);
    }
    let mut queues = [Vec::new(), Vec::new()];
    let deadline = Instant::now() + Duration::from_secs(1);
    while queues[0].len() + queues[1].len() < sent.len() && Instant::now() < deadline {
        for (q, got) in queues.iter_mut().enumerate() {
            let mut batch = PktBatch::new();
            pb.rx_burst(q as u16, &mut batch, pool);
            got.extend(batch.drain().map(|p| p.data().to_vec()));
        }
    }
    let mut all: Vec<Vec<u8>> = queues.concat();
    all.sort();
    sent.sort();
    assert_eq!(all, sent, "every frame, once, over the two queues");
    assert!(
        !queues[0].is_empty() && !queues[1].is_empty(),
        "64 flows all on one queue: {} / {}",
        queues[0].len(),
        queues[1].len()
    );
    for sport in 0..64u16 {
        let on = |q: &Vec<Vec<u8>>| {
            q.iter()
                .filter(|f| f[34..36] == (4000 + sport).to_be_bytes())
                .count()
        };
        assert!(
            on(&queues[0]) == 2 || on(&queues[1]) == 2,
            "flow {sport} split over the queues"
        );
    }
}

/// TAP: the kernel resolves a neighbour through it. Its ARP request comes out of the
/// port; the reply written into the port completes the kernel's neighbour entry; the
/// interface goes with the port's file descriptor.
fn tap_carries_the_kernels_arp(pool: &PktPool) {
    let t = "bk-kp-tap";
    let _ = ip(&format!("link del {t}"));
    let tap = TapPort::open(t).expect("open tap");
    assert!(ip(&format!("addr add 10.99.7.1/24 dev {t}")));
    let _ = Command::new("sysctl")
        .args(["-qw", &format!("net.ipv6.conf.{t}.disable_ipv6=1")])
        .status();
    let mut ping = Command::new("ping")
        .args(["-c", "1", "-W", "1", "10.99.7.2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ping");
    // The kernel may send IPv6 multicast listener reports as the TAP comes up, before
    // IPv6 is off on it: those are skipped, the ARP request is what is waited for.
    let is_arp =
        |f: &Vec<u8>| f.len() >= 42 && f[12..14] == [0x08, 0x06] && f[38..42] == [10, 99, 7, 2];
    let mut frames = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !frames.iter().any(is_arp) && Instant::now() < deadline {
        frames.extend(receive(|batch| tap.rx_burst(batch, pool), 1));
    }
    let req = frames
        .iter()
        .find(|f| is_arp(f))
        .unwrap_or_else(|| panic!("no ARP request for 10.99.7.2 out of the tap: {frames:?}"));
    assert_eq!(
        &req[6..12],
        &tap.netdev().mac(),
        "sent from the tap's own MAC"
    );
    let mac = [0x02, 0, 0, 0, 0x07, 0x02];
    let mac64 = |m: &[u8]| m.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b));
    let reply =
        pipeline::build::arp_frame(2, mac64(&mac), 0x0a63_0702, mac64(&req[6..12]), 0x0a63_0701);
    let mut batch = PktBatch::new();
    batch.push(Pkt::from_bytes(pool, &reply).unwrap()).unwrap();
    assert_eq!(tap.tx_burst(&mut batch), 1);
    let _ = ping.wait();
    let neigh = Command::new("ip")
        .args(["neigh", "show", "10.99.7.2", "dev", t])
        .output()
        .expect("ip neigh");
    let neigh = String::from_utf8_lossy(&neigh.stdout);
    assert!(
        neigh.contains("02:00:00:00:07:02"),
        "kernel learnt {neigh:?}"
    );
    drop(tap);
    // The TAP interface goes with its file descriptor.
    assert!(!ip(&format!("link show {t}")));
}
