//! Fragment reassembly for conntrack, through the fast path as a worker runs it: a
//! fragmented datagram is tracked once and every fragment leaves with its verdict, byte
//! for byte (NAT's rewrite aside), in the order it came; tiny, overlapping, oversize and
//! orphaned fragments are refused or expire, and are counted (OVS's `ipf`).

use pipeline::bridge::Bridge;
use pipeline::build::{fragment, ip, udp_frame};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::{Collect, DropReason};
use pipeline::fastpath::{FastPath, FastPathConfig};
use pipeline::ipf::IpfEvent;
use pipeline::packet::{Frame, VecFrame};
use pipeline::seed::bridge_with_ports;
use pipeline::wire::checksum::{finish, pseudo_header_v4, sum16};

/// Valid tracked packets leave on port 2, invalid ones on port 3, after two `ct` passes
/// (Antrea's shape); UDP to 10.0.0.3:53 is DNATed to 10.0.0.9:5353 and its answers
/// un-NATed.
const FLOWS: &[&str] = &[
    "table=0,udp,nw_dst=10.0.0.3 actions=ct(commit,table=2,zone=5,nat(dst=10.0.0.9:5353))",
    "table=0,udp,nw_src=10.0.0.9 actions=ct(table=2,zone=5,nat)",
    "table=0,ip actions=ct(table=1,zone=5)",
    "table=0,ipv6 actions=ct(table=1,zone=5)",
    "table=1,ct_state=+trk+inv actions=output:3",
    "table=1,ip,ct_state=+trk+new actions=ct(commit,table=2,zone=5)",
    "table=1,ipv6,ct_state=+trk+new actions=ct(commit,table=2,zone=5)",
    "table=1,ip,ct_state=+trk+est actions=ct(table=2,zone=5)",
    "table=1,ipv6,ct_state=+trk+est actions=ct(table=2,zone=5)",
    "table=2,ct_state=+trk+inv actions=output:3",
    "table=2 actions=output:2",
];

fn bridge() -> Bridge {
    bridge_with_ports(3, FLOWS, ConntrackConfig::default())
}

fn fast_path() -> FastPath<VecFrame> {
    FastPath::new(FastPathConfig::default())
}

/// A UDP datagram of `len` payload bytes (a pattern, so that misplaced data shows).
fn datagram(src: &str, dst: &str, sport: u16, dport: u16, len: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
    udp_frame(1, 2, ip(src), ip(dst), sport, dport, &payload)
}

/// Sends `frames` in bursts of `burst` through `fp` at `now`; returns (port, bytes).
fn run(
    b: &Bridge,
    fp: &mut FastPath<VecFrame>,
    frames: &[Vec<u8>],
    burst: usize,
    now: u64,
) -> Vec<(u32, Vec<u8>)> {
    let mut out = Collect::new();
    for chunk in frames.chunks(burst) {
        let input = chunk.iter().map(|f| (VecFrame::new(f), 1u32, None));
        fp.process_burst(b, input, now, &mut out);
        fp.service(b, now, &mut out);
    }
    out.outputs
        .into_iter()
        .map(|(p, _, pkt)| (p, pkt.frame.data().to_vec()))
        .collect()
}

fn status(b: &Bridge) -> pipeline::ipf::IpfStatus {
    b.conntrack.ipf.status()
}

#[test]
fn a_fragmented_datagram_is_tracked_once_and_its_fragments_leave_as_they_came() {
    let b = bridge();
    let mut fp = fast_path();
    let d = datagram("10.0.0.1", "10.0.0.2", 4000, 7000, 4000);
    let frags = fragment(&d, 1480, 77);
    assert_eq!(frags.len(), 3);
    // In order, in one burst; out of order, one per burst.
    let out = run(&b, &mut fp, &frags, 32, 1_000);
    assert_eq!(
        out,
        frags.iter().map(|f| (2, f.clone())).collect::<Vec<_>>()
    );
    let st = b.conntrack.stats();
    assert_eq!(
        (st.connections, st.invalid),
        (1, 0),
        "one connection, tracked once"
    );
    let shuffled = vec![frags[2].clone(), frags[0].clone(), frags[1].clone()];
    let out = run(&b, &mut fp, &shuffled, 1, 1_100);
    assert_eq!(
        out,
        shuffled.iter().map(|f| (2, f.clone())).collect::<Vec<_>>(),
        "+est, arrival order"
    );
    let s = status(&b);
    // Two `ct` passes each: six fragments held and completed per datagram.
    assert_eq!(s.get(false, IpfEvent::Accepted), 12);
    assert_eq!(s.get(false, IpfEvent::Completed), 12);
    assert_eq!((s.nfrag, s.bytes), (0, 0), "nothing held");
    assert_eq!(fp.stats.drops.iter().sum::<u64>(), 0);
}

#[test]
fn ipv6_fragments_are_reassembled() {
    let b = bridge();
    let mut fp = fast_path();
    let m = pipeline::ofctl::parse_match(
        "udp6,ipv6_src=fd00::1,ipv6_dst=fd00::2,tp_src=4000,tp_dst=7000",
        &pipeline::ofctl::PortMap::default(),
    )
    .unwrap();
    let d = pipeline::build::from_flow(&m.value, 3000);
    let frags = fragment(&d, 1232, 0x1234_5678);
    assert_eq!(frags.len(), 3);
    let out = run(&b, &mut fp, &frags, 32, 1_000);
    assert_eq!(
        out,
        frags.iter().map(|f| (2, f.clone())).collect::<Vec<_>>()
    );
    assert_eq!(b.conntrack.stats().connections, 1);
    assert_eq!(status(&b).get(true, IpfEvent::Completed), 6);
}

/// The UDP checksum of the datagram the fragments make (addresses from the first).
fn reassembled_udp_ok(frags: &[Vec<u8>]) -> bool {
    let mut data = Vec::new();
    for f in frags {
        let ihl = usize::from(f[14] & 0x0f) * 4;
        let tot = usize::from(u16::from_be_bytes([f[16], f[17]]));
        data.extend_from_slice(&f[14 + ihl..14 + tot]);
    }
    let a = |o: usize| u32::from_be_bytes(frags[0][o..o + 4].try_into().unwrap());
    let pseudo = pseudo_header_v4(a(26), a(30), 17, data.len());
    finish(sum16(&data, pseudo)) == 0
}

#[test]
fn nat_rewrites_every_fragment_and_the_first_ones_ports() {
    let b = bridge();
    let mut fp = fast_path();
    let d = datagram("10.0.0.1", "10.0.0.3", 4000, 53, 3000);
    let frags = fragment(&d, 1480, 9);
    let out = run(&b, &mut fp, &frags, 32, 1_000);
    assert_eq!(out.len(), 3);
    let got: Vec<Vec<u8>> = out
        .iter()
        .map(|(p, f)| {
            assert_eq!(*p, 2);
            f.clone()
        })
        .collect();
    for f in &got {
        assert_eq!(
            &f[30..34],
            &[10, 0, 0, 9],
            "destination NATed in every fragment"
        );
        let ihl = usize::from(f[14] & 0x0f) * 4;
        assert_eq!(
            pipeline::wire::checksum::checksum(&f[14..14 + ihl]),
            0,
            "IP checksum"
        );
    }
    assert_eq!(
        &got[0][36..38],
        &5353u16.to_be_bytes(),
        "port NATed in the first"
    );
    assert_eq!(
        &got[1][34..],
        &frags[1][34..],
        "later fragments' data untouched"
    );
    assert!(
        reassembled_udp_ok(&got),
        "the datagram's UDP checksum holds after NAT"
    );
    // The answer, fragmented, comes back un-NATed.
    let reply = datagram("10.0.0.9", "10.0.0.1", 5353, 4000, 2000);
    let rf = fragment(&reply, 1480, 10);
    let back = run(&b, &mut fp, &rf, 32, 1_100);
    assert_eq!(back.len(), 2);
    for (p, f) in &back {
        assert_eq!(*p, 2);
        assert_eq!(&f[26..30], &[10, 0, 0, 3], "source un-NATed");
    }
    assert_eq!(&back[0].1[34..36], &53u16.to_be_bytes());
    let back: Vec<Vec<u8>> = back.into_iter().map(|x| x.1).collect();
    assert!(reassembled_udp_ok(&back));
}

#[test]
fn a_wrong_checksum_over_the_datagram_makes_every_fragment_invalid() {
    let b = bridge();
    let mut fp = fast_path();
    let d = datagram("10.0.0.1", "10.0.0.2", 4000, 7000, 4000);
    let mut frags = fragment(&d, 1480, 11);
    // A byte of data in the last fragment: only the whole datagram's sum can tell.
    let n = frags[2].len();
    frags[2][n - 1] ^= 0xff;
    let out = run(&b, &mut fp, &frags, 32, 1_000);
    assert_eq!(out.iter().map(|o| o.0).collect::<Vec<_>>(), vec![3, 3, 3]);
    let st = b.conntrack.stats();
    assert_eq!((st.bad_checksum, st.connections), (1, 0));
}

#[test]
fn bad_fragments_are_tracked_alone_as_invalid_and_counted() {
    let b = bridge();
    let mut fp = fast_path();
    let d = datagram("10.0.0.1", "10.0.0.2", 4000, 7000, 4000);
    let frags = fragment(&d, 1480, 12);
    // Overlap: the middle fragment twice.
    let seq = vec![
        frags[0].clone(),
        frags[1].clone(),
        frags[1].clone(),
        frags[2].clone(),
    ];
    let out = run(&b, &mut fp, &seq, 32, 1_000);
    let ports: Vec<u32> = out.iter().map(|o| o.0).collect();
    assert_eq!(
        ports,
        vec![3, 2, 2, 2],
        "the repeat is +inv, the datagram goes through"
    );
    assert_eq!(status(&b).get(false, IpfEvent::Overlap), 1);
    // Tiny fragments (RFC 1858): 400-byte pieces are below the 1,200-byte minimum.
    let tiny = fragment(&datagram("10.0.0.1", "10.0.0.2", 4001, 7000, 1000), 376, 13);
    let out = run(&b, &mut fp, &tiny, 32, 1_000);
    assert_eq!(
        out.iter().map(|o| o.0).collect::<Vec<_>>(),
        vec![3, 3],
        "the last waits"
    );
    assert_eq!(status(&b).get(false, IpfEvent::TooSmall), 2);
    // Past 65,535 bytes: the offset field at its largest.
    let mut big = frags[2].clone();
    big[20] = 0x1f;
    big[21] = 0xff;
    big[24] = 0;
    big[25] = 0;
    let c = pipeline::wire::checksum::checksum(&big[14..34]);
    big[24..26].copy_from_slice(&c.to_be_bytes());
    let out = run(&b, &mut fp, &[big], 32, 1_000);
    assert_eq!(out[0].0, 3);
    assert_eq!(status(&b).get(false, IpfEvent::Oversize), 1);
    assert_eq!(status(&b).nfrag, 1, "the tiny datagram's last fragment");
}

#[test]
fn an_incomplete_datagram_expires_and_frees_its_fragments() {
    let b = bridge();
    let mut fp = fast_path();
    let d = datagram("10.0.0.1", "10.0.0.2", 4000, 7000, 4000);
    let frags = fragment(&d, 1480, 14);
    let out = run(&b, &mut fp, &frags[..2], 32, 1_000);
    assert!(out.is_empty(), "held");
    assert_eq!(status(&b).nfrag, 2);
    assert!(status(&b).bytes > 0);
    let mut sink = Collect::new();
    fp.service(&b, 1_000 + 14_999, &mut sink);
    assert_eq!(status(&b).nfrag, 2, "not yet");
    fp.service(&b, 1_000 + 15_000, &mut sink);
    let s = status(&b);
    assert_eq!((s.nfrag, s.bytes), (0, 0));
    assert_eq!(s.get(false, IpfEvent::Expired), 2);
    assert_eq!(
        sink.drops.as_slice(),
        &[DropReason::IpfExpired, DropReason::IpfExpired]
    );
    assert_eq!(fp.stats.drops[DropReason::IpfExpired.index()], 2);
    // The last fragment, late, finds no list: held anew, waiting alone.
    run(&b, &mut fp, &frags[2..], 32, 20_000);
    assert_eq!(status(&b).nfrag, 1);
}

#[test]
fn the_switch_holds_no_more_than_its_limits() {
    let b = bridge();
    let mut fp = fast_path();
    b.conntrack.ipf.set_max_nfrags(4).unwrap();
    let mut firsts = Vec::new();
    for id in 0..6u32 {
        let d = datagram("10.0.0.1", "10.0.0.2", 4000 + id as u16, 7000, 4000);
        firsts.push(fragment(&d, 1480, 100 + id).remove(0));
    }
    let out = run(&b, &mut fp, &firsts, 32, 1_000);
    assert_eq!(
        out.iter().map(|o| o.0).collect::<Vec<_>>(),
        vec![3, 3],
        "the fifth and sixth alone"
    );
    let s = status(&b);
    assert_eq!((s.nfrag, s.get(false, IpfEvent::Full)), (4, 2));
    // Disabled: tracked alone.
    b.conntrack.ipf.set_enabled(false, false);
    let d = datagram("10.0.0.1", "10.0.0.2", 5000, 7000, 4000);
    let out = run(&b, &mut fp, &fragment(&d, 1480, 200), 32, 1_000);
    assert_eq!(out.iter().map(|o| o.0).collect::<Vec<_>>(), vec![3, 3, 3]);
    assert_eq!(status(&b).get(false, IpfEvent::Disabled), 3);
    assert!(b.conntrack.ipf.set_min_frag(false, 399).is_err());
    assert!(b.conntrack.ipf.set_max_nfrags(5001).is_err());
    drop(fp);
    assert_eq!(
        status(&b).nfrag,
        0,
        "a worker's held fragments are given back when it goes"
    );
}

#[test]
fn a_datagram_of_more_fragments_than_free_slots_finishes_in_a_later_burst() {
    let b = bridge();
    b.conntrack.ipf.set_min_frag(false, 400).unwrap();
    let mut fp = fast_path();
    // 57 fragments of 400 bytes, the last completing it in a burst of 31 other packets.
    let d = datagram("10.0.0.1", "10.0.0.2", 4000, 7000, 22_800);
    let frags = fragment(&d, 400, 15);
    assert_eq!(frags.len(), 58);
    run(&b, &mut fp, &frags[..57], 32, 1_000);
    let mut burst: Vec<Vec<u8>> = (0..31)
        .map(|i| datagram("10.0.0.5", "10.0.0.2", 1000 + i, 7000, 10))
        .collect();
    burst.push(frags[57].clone());
    let out = run(&b, &mut fp, &burst, 32, 1_000);
    let got: Vec<Vec<u8>> = out
        .iter()
        .filter(|o| o.1.len() > 100 || o.1[20] != 0x40)
        .map(|o| o.1.clone())
        .collect();
    let offsets = |v: &[Vec<u8>]| {
        v.iter()
            .map(|f| u16::from_be_bytes([f[20], f[21]]))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        offsets(&got),
        offsets(&frags),
        "every fragment, in order, some from a later burst"
    );
    assert!(got == frags, "byte for byte");
    assert_eq!(out.len(), 31 + 58);
    assert_eq!(status(&b).get(false, IpfEvent::Purged), 0);
}

#[test]
fn rules_on_ports_after_ct_see_the_datagrams_ports_in_every_fragment() {
    // Antrea's policy shape: only UDP to port 7000 may start a connection.
    let flows = [
        "table=0,ip actions=ct(table=1,zone=5)",
        "table=1,priority=10,ct_state=-new+est+trk,ip actions=output:2",
        "table=1,priority=10,ct_state=+new+trk,udp,tp_dst=7000 actions=ct(commit,table=2,zone=5)",
        "table=1,priority=0 actions=drop",
        "table=2 actions=output:2",
    ];
    let b = bridge_with_ports(2, &flows, ConntrackConfig::default());
    let mut fp = fast_path();
    for (i, dport) in [(0u32, 7000u16), (1, 7000), (2, 7001)] {
        let d = datagram("10.0.0.1", "10.0.0.2", 4000, dport, 4000);
        let frags = fragment(&d, 1480, 300 + i);
        let out = run(&b, &mut fp, &frags, 32, 1_000 + u64::from(i));
        let want = if dport == 7000 { frags.len() } else { 0 };
        assert_eq!(out.len(), want, "datagram {i} to port {dport}");
    }
    assert_eq!(
        b.conntrack.stats().connections,
        1,
        "committed once, then +est"
    );
}
