//! What `brisk-gen run` needs besides DPDK: the stamp each frame carries in its last 16
//! bytes (magic, sending port, sequence number, TSC at transmission), a latency histogram,
//! and the frames the switch should deliver for each sent frame, computed by running the
//! sent traffic through brisk's own slow path on the same flows.

use crate::gen::Profile;
use pipeline::bridge::Bridge;
use pipeline::dpaction::{Collect, Packet, TunnelMeta};
use pipeline::flow::{eth_type, ip_proto};
use pipeline::packet::{Frame, VecFrame};
use pipeline::wire::{checksum, ethernet, ipv4, tcp, udp};
use pipeline::wire::{EthernetFrame, Ipv4Packet, VlanHeader};

/// Bytes of the stamp at the end of every generated frame.
pub const STAMP_LEN: usize = 16;
const MAGIC: u16 = 0xb15c;

/// What a received frame's stamp says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Index of the generator port that sent it.
    pub port: u8,
    /// Per-port sequence number (flow index = seq % flows).
    pub seq: u32,
    /// TSC when it was sent.
    pub tsc: u64,
}

/// Writes the stamp into the last [`STAMP_LEN`] bytes of `frame`.
#[inline]
pub fn write_stamp(frame: &mut [u8], s: Stamp) {
    let n = frame.len();
    let t = &mut frame[n - STAMP_LEN..];
    t[0..2].copy_from_slice(&MAGIC.to_be_bytes());
    t[2] = s.port;
    t[3] = 0;
    t[4..8].copy_from_slice(&s.seq.to_le_bytes());
    t[8..16].copy_from_slice(&s.tsc.to_le_bytes());
}

/// The IPv4 header of an untagged or 802.1Q-tagged frame and its offset, when the frame
/// holds it through the protocol field. Not validated further: the frames brisk-gen builds
/// and the switch delivers are well-formed, and only those bytes are read.
pub(crate) fn ipv4_of(frame: &[u8]) -> Option<(usize, Ipv4Packet<&[u8]>)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let (ty, l3) = match eth.ethertype() {
        eth_type::VLAN => {
            let tag = VlanHeader::new_checked(eth.payload()).ok()?;
            (
                tag.ethertype(),
                ethernet::HEADER_LEN + ethernet::VLAN_HEADER_LEN,
            )
        }
        ty => (ty, ethernet::HEADER_LEN),
    };
    (ty == eth_type::IPV4 && frame.len() > l3 + ipv4::field::PROTOCOL)
        .then(|| (l3, Ipv4Packet::new_unchecked(&frame[l3..])))
}

/// Where the L4 checksum of an untagged or 802.1Q-tagged IPv4 UDP/TCP frame is, so that
/// stamping can keep it valid (conntrack, like OVS's, treats a bad checksum as invalid).
/// None for other frames, and for UDP sent without a checksum.
pub fn l4_csum_offset(frame: &[u8]) -> Option<usize> {
    let (l3, ip) = ipv4_of(frame)?;
    let l4 = l3 + ip.header_len();
    let (off, udp) = match ip.protocol() {
        ip_proto::TCP => (l4 + tcp::field::CHECKSUM.start, false),
        ip_proto::UDP => (l4 + udp::field::CHECKSUM.start, true),
        _ => return None,
    };
    // A zero UDP checksum means "none"; a zero TCP checksum is just a checksum.
    let c = frame.get(off..off + 2)?;
    (!(udp && c == [0, 0]) && off + 2 <= frame.len().checked_sub(STAMP_LEN)?).then_some(off)
}

/// Whether a received L4 checksum is the expected one. For TCP, 0x0000 and 0xffff are the
/// same one's-complement sum (an RFC 1624 incremental update, as a NAT rewrite does, may
/// give either where a full computation gives the other); for UDP 0x0000 means "none".
fn csum_equal(got: u16, want: u16, tcp: bool) -> bool {
    got == want || (tcp && got ^ want == 0xffff && (got == 0 || want == 0))
}

/// Whether an untagged or 802.1Q-tagged frame is IPv4 TCP.
fn is_tcp(frame: &[u8]) -> bool {
    ipv4_of(frame).is_some_and(|(_, ip)| ip.protocol() == ip_proto::TCP)
}

/// Writes the stamp like [`write_stamp`] into a frame whose stamp bytes were zero when its
/// L4 checksum (at `csum_at`, from [`l4_csum_offset`]) was computed, and updates that
/// checksum for the stamp (RFC 1624 incremental update: the old words were zero).
#[inline]
pub fn write_stamp_csum(frame: &mut [u8], s: Stamp, csum_at: Option<usize>) {
    write_stamp(frame, s);
    let Some(at) = csum_at else { return };
    let c = stamped_csum(frame, at);
    frame[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// The L4 checksum `frame` must carry at `at` given its stamp, if the checksum field holds
/// the value computed while the stamp bytes were zero.
#[inline]
fn stamped_csum(frame: &[u8], at: usize) -> u16 {
    let base = u16::from_be_bytes([frame[at], frame[at + 1]]);
    with_stamp(base, frame, at)
}

/// `base` (a checksum over the frame with a zero stamp) updated for the stamp at the end of
/// `frame` (RFC 1624: the old words were zero, so only the new ones are added).
#[inline]
fn with_stamp(base: u16, frame: &[u8], at: usize) -> u16 {
    let n = frame.len();
    let stamp = checksum::fold(checksum::sum16(&frame[n - STAMP_LEN..], 0));
    // The stamp's bytes pair with their neighbours across 16-bit words when it starts at an
    // odd distance from the checksummed segment's start (an odd-length frame): its sum is
    // then byte-swapped (RFC 1071's byte-order independence).
    let stamp = if (n - STAMP_LEN - at) % 2 == 1 {
        stamp.swap_bytes()
    } else {
        stamp
    };
    match checksum::finish(u32::from(!base) + u32::from(stamp)) {
        0 => 0xffff,
        c => c,
    }
}

/// Reads the stamp of a received frame (None if it carries none).
#[inline]
pub fn read_stamp(frame: &[u8]) -> Option<Stamp> {
    let n = frame.len();
    if n < STAMP_LEN {
        return None;
    }
    let t = &frame[n - STAMP_LEN..];
    if t[0..2] != MAGIC.to_be_bytes() {
        return None;
    }
    Some(Stamp {
        port: t[2],
        seq: u32::from_le_bytes([t[4], t[5], t[6], t[7]]),
        tsc: u64::from_le_bytes([t[8], t[9], t[10], t[11], t[12], t[13], t[14], t[15]]),
    })
}

/// A log-scale latency histogram: 8 buckets per power of two of nanoseconds.
#[derive(Clone)]
pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; 64 * 8],
            count: 0,
        }
    }
}

impl Histogram {
    fn bucket(ns: u64) -> usize {
        if ns < 8 {
            return ns as usize;
        }
        let lg = 63 - ns.leading_zeros() as usize; // >= 3
        let frac = ((ns >> (lg - 3)) & 7) as usize;
        lg * 8 + frac
    }

    fn lower(b: usize) -> u64 {
        if b < 8 {
            return b as u64;
        }
        let lg = b / 8;
        let frac = (b % 8) as u64;
        (8 + frac) << (lg - 3)
    }

    /// Records one sample.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.buckets[Self::bucket(ns).min(64 * 8 - 1)] += 1;
        self.count += 1;
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The value below which a fraction `q` of the samples lie (bucket lower bound, within
    /// 12.5 %), or 0 with no samples.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let target = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, &c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= target {
                return Self::lower(b);
            }
        }
        Self::lower(self.buckets.len() - 1)
    }

    /// Adds another histogram's samples.
    pub fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            *a += b;
        }
        self.count += o.count;
    }
}

/// For every flow of every sending port: the port the switch should deliver it to and the
/// bytes it should deliver (the stamp excluded), once the connection is established.
/// What one sent frame should come back as.
#[derive(Clone)]
pub struct Expected {
    /// Generator port it arrives on.
    pub port: u8,
    /// The frame up to the stamp, as computed with a zero stamp.
    pub head: Vec<u8>,
    /// Its L4 checksum's offset, if stamping changes it.
    pub csum_at: Option<usize>,
    /// It leaves through the tunnel: `head` is the inner frame, which must be the end of
    /// the received frame (the outer headers are the switch's to choose).
    pub encapsulated: bool,
    /// It is TCP (a zero checksum has two spellings), known once rather than per frame.
    pub tcp: bool,
}

/// The checksum a received frame should carry: `head`'s (zero-stamp) checksum updated for
/// the stamp `frame` carries.
fn stamped_csum_of(head: &[u8], frame: &[u8], at: usize) -> u16 {
    with_stamp(u16::from_be_bytes([head[at], head[at + 1]]), frame, at)
}

/// What the switch should deliver for each flow each generator port sends, so that every
/// received frame can be checked, not just counted.
pub struct Expectations {
    /// `[tx port][flow] -> (rx port, header bytes)`; None where the switch should drop.
    /// Only the first [`CHECKED_FLOWS`] flows of each port are computed.
    pub by_port: Vec<Vec<Option<Expected>>>,
    /// Flows per sending port (a frame's flow is its sequence number modulo this).
    pub counts: Vec<u32>,
}

/// Flows per port whose deliveries are computed and checked: beyond this, computing the
/// expectations (four slow-path walks per flow) would take longer than the measurement.
pub const CHECKED_FLOWS: u32 = 65_536;

impl Expectations {
    /// Runs each port's flows through `bridge` (its slow path and conntrack) in the order a
    /// conversation would go: every port's frame i, twice, so replies see an established
    /// connection; the second round's outputs are what the switch must deliver.
    /// `ofports[i]` is the OpenFlow port generator port i is attached to. `prelude` is sent
    /// first, phase by phase (a TCP handshake: the client's SYNs, the server's SYN-ACKs, the
    /// client's ACKs), each phase as (generator port, its frames). `tunnels[i]`, when given,
    /// is the tunnel metadata port i's frames arrive with (pre-encapsulated Geneve sent to
    /// the switch's uplink: they enter the pipeline decapsulated, on the tunnel's ofport).
    pub fn compute(
        bridge: &Bridge,
        prelude: &[(usize, Profile)],
        profiles: &[Option<Profile>],
        ofports: &[u32],
        tunnels: &[Option<TunnelMeta>],
    ) -> Self {
        let tun = |pi: usize| tunnels.get(pi).and_then(Option::as_ref);
        for (pi, prof) in prelude {
            for i in 0..prof.count.min(CHECKED_FLOWS) {
                let frame = prof.frame(i);
                let mut out = Collect::new();
                pipeline::slowpath::process(
                    bridge,
                    Packet::new(VecFrame::new(&frame), ofports[*pi], tun(*pi)),
                    1,
                    &mut out,
                    None,
                );
            }
        }
        let max_flows = profiles
            .iter()
            .flatten()
            .map(|p| p.count.min(CHECKED_FLOWS))
            .max()
            .unwrap_or(0);
        let counts: Vec<u32> = profiles
            .iter()
            .map(|p| p.as_ref().map_or(0, |p| p.count))
            .collect();
        let mut by_port: Vec<Vec<Option<Expected>>> = counts
            .iter()
            .map(|&c| vec![None; c.min(CHECKED_FLOWS) as usize])
            .collect();
        for round in 0..2u8 {
            for i in 0..max_flows {
                for (pi, prof) in profiles.iter().enumerate() {
                    let Some(prof) = prof else { continue };
                    if i >= prof.count.min(CHECKED_FLOWS) {
                        continue;
                    }
                    let frame = prof.frame(i);
                    let mut out = Collect::new();
                    pipeline::slowpath::process(
                        bridge,
                        Packet::new(VecFrame::new(&frame), ofports[pi], tun(pi)),
                        2 + u64::from(round),
                        &mut out,
                        None,
                    );
                    if round == 1 {
                        by_port[pi][i as usize] =
                            out.outputs.first().and_then(|(port, meta, p)| {
                                let rx = ofports.iter().position(|o| o == port)? as u8;
                                let d = p.frame.data();
                                Some(Expected {
                                    port: rx,
                                    csum_at: l4_csum_offset(d),
                                    head: d[..d.len() - STAMP_LEN].to_vec(),
                                    encapsulated: meta.is_some(),
                                    tcp: is_tcp(d),
                                })
                            });
                    }
                }
            }
        }
        Expectations { by_port, counts }
    }

    /// Whether a frame received on `rx` is what the switch should have delivered (frames of
    /// flows beyond [`CHECKED_FLOWS`] pass unchecked).
    #[inline]
    pub fn check(&self, rx: u8, frame: &[u8], s: &Stamp) -> bool {
        let Some(flows) = self.by_port.get(usize::from(s.port)) else {
            return false;
        };
        let count = self.counts[usize::from(s.port)] as usize;
        if count == 0 {
            return false;
        }
        let f = s.seq as usize % count;
        if f >= flows.len() {
            return true; // beyond the checked flows
        }
        match &flows[f] {
            Some(e) => {
                let head = &e.head;
                let frame = if e.encapsulated && frame.len() > head.len() + STAMP_LEN {
                    &frame[frame.len() - head.len() - STAMP_LEN..]
                } else {
                    frame
                };
                if e.port != rx || frame.len() != head.len() + STAMP_LEN {
                    return false;
                }
                match e.csum_at {
                    // Everything but the checksum as computed; the checksum as the stamp
                    // makes it.
                    Some(at) => {
                        frame[..at] == head[..at]
                            && frame[at + 2..head.len()] == head[at + 2..]
                            && csum_equal(
                                u16::from_be_bytes([frame[at], frame[at + 1]]),
                                stamped_csum_of(head, frame, at),
                                e.tcp,
                            )
                    }
                    None => frame[..head.len()] == head[..],
                }
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trip() {
        let mut f = vec![0u8; 60];
        let s = Stamp {
            port: 3,
            seq: 0xdead_beef,
            tsc: 0x0123_4567_89ab_cdef,
        };
        write_stamp(&mut f, s);
        assert_eq!(read_stamp(&f), Some(s));
        f[44] ^= 1;
        assert_eq!(read_stamp(&f), None);
        assert_eq!(read_stamp(&f[..10]), None);
    }

    #[test]
    fn histogram_quantiles_within_an_eighth() {
        let mut h = Histogram::default();
        for ns in 1..=10_000u64 {
            h.record(ns);
        }
        for (q, want) in [(0.5, 5000.0), (0.99, 9900.0), (0.01, 100.0)] {
            let got = h.quantile(q) as f64;
            assert!(got <= want && got >= want * 0.875, "q{q}: {got} vs {want}");
        }
        assert_eq!(Histogram::default().quantile(0.5), 0);
    }

    #[test]
    fn expectations_follow_the_seed_pipeline() {
        // Frontend (49) <-> coredns (3) on worker1, UDP 53: both directions forwarded with
        // their L2 addresses unchanged (same subnet), TTL untouched.
        let b = crate::seed_bridge("worker1", Default::default());
        let fe = Profile::new(
            "udp,dl_src=be:2c:bf:e4:ec:c5,dl_dst=f2:82:cc:96:da:bd,nw_src=10.222.1.48,nw_dst=10.222.1.2,nw_ttl=64,tp_src=1024,tp_dst=53",
            &Default::default(),
            "tp_src",
            4,
            64,
        )
        .unwrap();
        let dns = Profile::new(
            "udp,dl_src=f2:82:cc:96:da:bd,dl_dst=be:2c:bf:e4:ec:c5,nw_src=10.222.1.2,nw_dst=10.222.1.48,nw_ttl=64,tp_src=53,tp_dst=1024",
            &Default::default(),
            "tp_dst",
            4,
            64,
        )
        .unwrap();
        let e = Expectations::compute(&b, &[], &[Some(fe.clone()), Some(dns)], &[49, 3], &[]);
        for i in 0..4u32 {
            let x = e.by_port[0][i as usize].clone().expect("forwarded");
            assert_eq!(x.port, 1);
            let mut f = fe.frame(i);
            assert_eq!(x.head[..], f[..f.len() - STAMP_LEN]);
            let at = l4_csum_offset(&f);
            assert_eq!(x.csum_at, at);
            write_stamp_csum(
                &mut f,
                Stamp {
                    port: 0,
                    seq: i + 8,
                    tsc: 0x1234_5678_9abc,
                },
                at,
            );
            let s = read_stamp(&f).unwrap();
            assert!(e.check(1, &f, &s));
            assert!(!e.check(0, &f, &s), "wrong port");
            let mut bad = f.clone();
            bad[at.unwrap()] ^= 1;
            assert!(!e.check(1, &bad, &s), "wrong checksum");
            f[0] ^= 2;
            assert!(!e.check(1, &f, &s), "wrong rewrite");
        }
        assert_eq!(e.by_port[1][0].as_ref().unwrap().port, 0);
    }

    #[test]
    fn stamping_keeps_the_l4_checksum_valid() {
        for (spec, size) in [
            ("udp,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=1,tp_dst=53", 64),
            ("udp,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=1,tp_dst=53", 65),
            ("tcp,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=1,tp_dst=80", 513),
        ] {
            let p = Profile::new(spec, &Default::default(), "tp_src", 1, size).unwrap();
            let mut f = p.frame(0);
            let at = l4_csum_offset(&f).expect("udp/tcp over ipv4");
            write_stamp_csum(&mut f, Stamp { port: 3, seq: 0xdead_beef, tsc: 0x0123_4567_89ab_cdef }, Some(at));
            // Recompute from scratch over the pseudo-header and the L4 segment.
            let ip = Ipv4Packet::new_checked(&f[14..]).expect("IPv4");
            let sum = checksum::sum16(ip.payload(), ip.pseudo_header_sum());
            assert_eq!(checksum::finish(sum), 0, "{spec} size {size}: checksum does not verify");
        }
    }

    #[test]
    fn tcp_data_is_expected_only_after_a_handshake() {
        // Frontend (49) -> backend1 (48) TCP 80, allowed by worker1's policy. Without the
        // handshake conntrack sees mid-stream segments (+inv: dropped); after it, delivered.
        let b = crate::seed_bridge("worker1", Default::default());
        let client = Profile::new(
            "tcp,dl_src=be:2c:bf:e4:ec:c5,dl_dst=f2:32:d8:07:e2:a6,nw_src=10.222.1.48,nw_dst=10.222.1.47,nw_ttl=64,tp_src=1024,tp_dst=80",
            &Default::default(),
            "tp_src",
            3,
            64,
        )
        .unwrap();
        let server = Profile::new(
            "tcp,dl_src=f2:32:d8:07:e2:a6,dl_dst=be:2c:bf:e4:ec:c5,nw_src=10.222.1.47,nw_dst=10.222.1.48,nw_ttl=64,tp_src=80,tp_dst=1024",
            &Default::default(),
            "tp_dst",
            3,
            64,
        )
        .unwrap();
        let data = [
            Some(client.with_tcp_flags(0x018)),
            Some(server.with_tcp_flags(0x010)),
        ];
        let none = Expectations::compute(&b, &[], &data, &[49, 48], &[]);
        assert!(
            none.by_port[0].iter().all(Option::is_none),
            "mid-stream data must not pass"
        );
        let b = crate::seed_bridge("worker1", Default::default());
        let hs = [
            (0, client.with_tcp_flags(0x002)),
            (1, server.with_tcp_flags(0x012)),
            (0, client.with_tcp_flags(0x010)),
        ];
        let e = Expectations::compute(&b, &hs, &data, &[49, 48], &[]);
        for i in 0..3 {
            assert_eq!(
                e.by_port[0][i]
                    .as_ref()
                    .expect("client data delivered")
                    .port,
                1
            );
            assert_eq!(
                e.by_port[1][i]
                    .as_ref()
                    .expect("server acks delivered")
                    .port,
                0
            );
        }
    }

    #[test]
    fn imix_sizes_go_by_flow_index() {
        let p = Profile::new(
            "udp,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=1,tp_dst=53",
            &Default::default(),
            "tp_src",
            24,
            64,
        )
        .unwrap()
        .with_size_mix(&crate::gen::IMIX)
        .unwrap();
        let lens: Vec<usize> = (0..24).map(|i| p.frame(i).len() + 4).collect();
        assert_eq!(lens[..12], crate::gen::IMIX[..]);
        assert_eq!(lens[12..], crate::gen::IMIX[..]);
        assert_eq!(lens.iter().filter(|&&l| l == 64).count(), 14);
    }

    #[test]
    fn tunnel_arrivals_are_expected_decapsulated_and_rewritten() {
        // worker2's backend2 (10.222.2.34) -> worker1's coredns (10.222.1.2) UDP 53, arriving
        // on the tunnel (ofport 1): table 70 rewrites the MACs and decrements the TTL.
        let b = crate::seed_bridge("worker1", Default::default());
        let p = Profile::new(
            "udp,dl_src=02:d8:4e:3f:92:1d,dl_dst=aa:bb:cc:dd:ee:ff,nw_src=10.222.2.34,nw_dst=10.222.1.2,nw_ttl=63,tp_src=1024,tp_dst=53",
            &Default::default(),
            "tp_src",
            2,
            64,
        )
        .unwrap();
        let meta = TunnelMeta {
            src: pipeline::build::ip("10.79.1.202"),
            dst: pipeline::build::ip("10.79.1.201"),
            md_present: 1,
            ..Default::default()
        };
        let e = Expectations::compute(
            &b,
            &[],
            &[Some(p.clone()), None],
            &[1, 3],
            &[Some(meta), None],
        );
        let x = e.by_port[0][0].as_ref().expect("delivered to coredns");
        assert_eq!(x.port, 1);
        assert!(!x.encapsulated);
        assert_eq!(
            x.head[0..6],
            [0xf2, 0x82, 0xcc, 0x96, 0xda, 0xbd],
            "pod MAC"
        );
        assert_eq!(x.head[14 + 8], 62, "TTL decremented");
    }

    #[test]
    fn tcp_checksum_zero_has_two_spellings() {
        // A NAT's incremental update may give 0x0000 where a full computation gives 0xffff.
        assert!(csum_equal(0x0000, 0xffff, true));
        assert!(csum_equal(0xffff, 0x0000, true));
        assert!(
            !csum_equal(0x0000, 0xffff, false),
            "UDP 0 means no checksum"
        );
        assert!(csum_equal(0x1234, 0x1234, false));
        assert!(!csum_equal(0x1234, 0xedcb, true));
    }

    #[test]
    fn a_zero_tcp_checksum_is_still_a_checksum() {
        // Some flow of a TCP profile has a zero-stamp checksum of 0x0000: it must still be
        // updated for the stamp and checked as one. (Flows step the checksum by one, so one
        // of two 60,000-flow windows holds the zero.)
        let spec = "tcp,dl_src=be:2c:bf:e4:ec:c5,dl_dst=f2:32:d8:07:e2:a6,nw_src=10.222.1.48,nw_dst=10.222.1.47,nw_ttl=64,tp_src=1024,tp_dst=80,tcp_flags=0x018";
        let p = Profile::new(spec, &Default::default(), "tp_src", 60_000, 80).unwrap();
        let q = Profile::new(spec, &Default::default(), "nw_src", 60_000, 80).unwrap();
        let zero = (0..60_000)
            .map(|i| p.frame(i))
            .chain((0..60_000).map(|i| q.frame(i)))
            .find(|f| f[50..52] == [0, 0])
            .expect("some flow has a zero TCP checksum");
        assert_eq!(l4_csum_offset(&zero), Some(50));
        let mut udp = p.frame(0);
        udp[23] = 17;
        udp[40..42].copy_from_slice(&[0, 0]);
        assert_eq!(l4_csum_offset(&udp), None, "UDP without a checksum");
    }
}
