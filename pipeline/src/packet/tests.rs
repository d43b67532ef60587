use super::*;
use crate::build::*;
use crate::field::Field;

fn key_of(data: &[u8]) -> (Flow, Layout) {
    let mut k = Flow::ZERO;
    let l = extract(data, 7, &mut k);
    (k, l)
}

fn tcp_ok(f: &[u8]) -> bool {
    let ipb = &f[14..34];
    let src = u32::from_be_bytes([ipb[12], ipb[13], ipb[14], ipb[15]]);
    let dst = u32::from_be_bytes([ipb[16], ipb[17], ipb[18], ipb[19]]);
    let l4 = &f[34..];
    checksum(ipb) == 0 && finish(sum16(l4, ipv4_pseudo_sum(src, dst, f[23], l4.len()))) == 0
}

#[test]
fn tcp_key() {
    let f = tcp_frame(
        mac("be:2c:bf:e4:ec:c5"),
        mac("4e:99:08:c1:53:be"),
        ip("10.222.1.48"),
        ip("10.104.65.133"),
        54444,
        80,
        0x002,
        64,
    );
    let (k, l) = key_of(&f);
    assert_eq!(l.err, 0);
    assert_eq!(Field::InPort.get(&k), 7);
    assert_eq!(Field::EthSrc.get(&k), 0xbe2cbfe4ecc5);
    assert_eq!(Field::EthDst.get(&k), 0x4e9908c153be);
    assert_eq!(Field::EthType.get(&k), 0x0800);
    assert_eq!(Field::NwSrc.get(&k), u128::from(ip("10.222.1.48")));
    assert_eq!(Field::NwDst.get(&k), u128::from(ip("10.104.65.133")));
    assert_eq!(Field::NwProto.get(&k), 6);
    assert_eq!(Field::NwTtl.get(&k), 64);
    assert_eq!(Field::TpSrc.get(&k), 54444);
    assert_eq!(Field::TpDst.get(&k), 80);
    assert_eq!(Field::TcpFlags.get(&k), 2);
    assert_eq!(Field::NwFrag.get(&k), 0);
    assert_eq!((l.l3, l.l4, l.l4_len), (14, 34, 20));
}

#[test]
fn vlan_and_padding() {
    let mut s = Ipv4Spec {
        vlan: Some(0x2005),
        ..Default::default()
    };
    s.l4 = L4Spec::Udp {
        sport: 1,
        dport: 53,
    };
    let mut f = ipv4_frame(&s);
    f.extend_from_slice(&[0xee; 10]); // Ethernet padding
    let (k, l) = key_of(&f);
    assert_eq!(Field::VlanTci.get(&k), 0x3005);
    assert_eq!(Field::EthType.get(&k), 0x0800);
    assert_eq!(Field::TpDst.get(&k), 53);
    assert_eq!(l.l3, 18);
    assert_eq!(l.l4_len, 8);
    assert_eq!(l.vlans, 1);
}

#[test]
fn fragments() {
    let first = ipv4_frame(&Ipv4Spec {
        frag: 0x2000,
        l4: L4Spec::Tcp {
            sport: 5,
            dport: 22,
            flags: 2,
            seq: 0,
            ack: 0,
            win: 1,
        },
        ..Default::default()
    });
    let (k, _) = key_of(&first);
    assert_eq!(Field::NwFrag.get(&k), 1);
    assert_eq!(Field::TpDst.get(&k), 22, "first fragment has ports");
    let later = ipv4_frame(&Ipv4Spec {
        frag: 0x0010,
        l4: L4Spec::Tcp {
            sport: 5,
            dport: 22,
            flags: 2,
            seq: 0,
            ack: 0,
            win: 1,
        },
        ..Default::default()
    });
    let (k, _) = key_of(&later);
    assert_eq!(Field::NwFrag.get(&k), 3);
    assert_eq!(Field::TpDst.get(&k), 0, "later fragments have no L4 fields");
    assert_eq!(Field::TcpFlags.get(&k), 0);
}

#[test]
fn truncated_and_malformed_headers() {
    // Truncated Ethernet.
    let (k, l) = key_of(&[1, 2, 3]);
    assert_eq!(l.err, parse_err::L2_TRUNCATED);
    assert_eq!(Field::InPort.get(&k), 7);
    assert_eq!(Field::EthType.get(&k), 0);
    // Truncated TCP header: L3 fields kept, no ports.
    let f = tcp_frame(1, 2, ip("10.0.0.1"), ip("10.0.0.2"), 1, 2, 2, 64);
    let mut t = f[..14 + 20 + 10].to_vec();
    // Fix IP total length to claim only what is there.
    t[16..18].copy_from_slice(&30u16.to_be_bytes());
    let (k, l) = key_of(&t);
    assert_eq!(Field::NwProto.get(&k), 6);
    assert_eq!(Field::NwSrc.get(&k), u128::from(ip("10.0.0.1")));
    assert_eq!(Field::TpSrc.get(&k), 0);
    assert_ne!(l.err & parse_err::L4_BAD, 0);
    // IP total length beyond the frame: no L3 fields.
    let (k, l) = key_of(&f[..40]);
    assert_eq!(Field::EthType.get(&k), 0x0800);
    assert_eq!(Field::NwSrc.get(&k), 0);
    assert_ne!(l.err & parse_err::L3_BAD, 0);
    // IHL < 5.
    let mut bad = f.clone();
    bad[14] = 0x44;
    let (k, l) = key_of(&bad);
    assert_eq!(Field::NwProto.get(&k), 0);
    assert_ne!(l.err & parse_err::L3_BAD, 0);
    // TCP data offset < 5.
    let mut bad = f.clone();
    bad[14 + 20 + 12] = 0x40;
    let (k, l) = key_of(&bad);
    assert_eq!(Field::TpDst.get(&k), 0);
    assert_ne!(l.err & parse_err::L4_BAD, 0);
    // Truncated VLAN tag.
    let v = [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x81, 0x00, 0x00];
    let (k, l) = key_of(&v);
    assert_eq!(Field::EthType.get(&k), 0x8100);
    assert_ne!(l.err & parse_err::VLAN_TRUNCATED, 0);
    // 802.3 length field.
    let mut llc = f[..14].to_vec();
    llc[12..14].copy_from_slice(&100u16.to_be_bytes());
    llc.extend_from_slice(&[0x42, 0x42, 0x03, 0, 0, 0]);
    let (k, _) = key_of(&llc);
    assert_eq!(Field::EthType.get(&k), 0x05ff);
}

#[test]
fn arp_key() {
    let f = arp_frame(
        1,
        mac("4e:99:08:c1:53:be"),
        ip("10.222.1.1"),
        0,
        ip("10.222.2.1"),
    );
    let (k, l) = key_of(&f);
    assert_eq!(l.err, 0);
    assert_eq!(Field::EthType.get(&k), 0x0806);
    assert_eq!(Field::ArpOp.get(&k), 1);
    assert_eq!(Field::ArpSpa.get(&k), u128::from(ip("10.222.1.1")));
    assert_eq!(Field::ArpTpa.get(&k), u128::from(ip("10.222.2.1")));
    assert_eq!(Field::ArpSha.get(&k), 0x4e9908c153be);
    let (k, l) = key_of(&f[..30]);
    assert_eq!(Field::ArpOp.get(&k), 0);
    assert_ne!(l.err & parse_err::ARP_BAD, 0);
}

fn ipv6_frame(nh: u8, ext: &[u8], l4: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    eth_header(&mut f, 1, 2, None, 0x86dd);
    let plen = ext.len() + l4.len();
    f.extend_from_slice(&[0x61, 0x01, 0x23, 0x45]);
    f.extend_from_slice(&(plen as u16).to_be_bytes());
    f.push(nh);
    f.push(33);
    f.extend_from_slice(&0x2001_0db8_0000_0000_0000_0000_0000_0001u128.to_be_bytes());
    f.extend_from_slice(&0xfe80_0000_0000_0000_0000_0000_0000_0002u128.to_be_bytes());
    f.extend_from_slice(ext);
    f.extend_from_slice(l4);
    f
}

#[test]
fn ipv6_keys() {
    let udp = [0u8, 1, 0, 53, 0, 8, 0, 0];
    // Hop-by-hop extension then UDP.
    let f = ipv6_frame(0, &[17, 0, 1, 4, 0, 0, 0, 0], &udp);
    let (k, l) = key_of(&f);
    assert_eq!(l.err, 0);
    assert_eq!(Field::NwProto.get(&k), 17);
    assert_eq!(Field::TpDst.get(&k), 53);
    assert_eq!(Field::NwTtl.get(&k), 33);
    assert_eq!(Field::Ipv6Label.get(&k), 0x12345);
    assert_eq!(Field::NwTos.get(&k) & 0xfc, 0x10);
    assert_eq!(
        Field::Ipv6Src.get(&k),
        0x2001_0db8_0000_0000_0000_0000_0000_0001
    );
    // Later fragment.
    let f = ipv6_frame(44, &[17, 0, 0, 0x10, 0, 0, 0, 1], &udp);
    let (k, _) = key_of(&f);
    assert_eq!(Field::NwFrag.get(&k), 3);
    assert_eq!(Field::TpDst.get(&k), 0);
    // Extension header running past the end.
    let f = ipv6_frame(0, &[17, 5, 0, 0, 0, 0, 0, 0], &udp);
    let (_, l) = key_of(&f);
    assert_ne!(l.err & parse_err::L3_EXT_BAD, 0);
    // Neighbour solicitation with SLL option.
    let mut ns = vec![135u8, 0, 0, 0, 0, 0, 0, 0];
    ns.extend_from_slice(&0xfe80_0000_0000_0000_0000_0000_0000_0009u128.to_be_bytes());
    ns.extend_from_slice(&[1, 1, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
    let f = ipv6_frame(58, &[], &ns);
    let (k, l) = key_of(&f);
    assert_eq!(l.err, 0);
    assert_eq!(Field::IcmpType.get(&k), 135);
    assert_eq!(
        Field::NdTarget.get(&k),
        0xfe80_0000_0000_0000_0000_0000_0000_0009
    );
    assert_eq!(Field::NdSll.get(&k), 0xaabbccddeeff);
    // Zero-length option: ND fields cleared.
    let mut bad = ns.clone();
    bad[25] = 0;
    let f = ipv6_frame(58, &[], &bad);
    let (k, l) = key_of(&f);
    assert_eq!(Field::NdTarget.get(&k), 0);
    assert_ne!(l.err & parse_err::L3_EXT_BAD, 0);
}

#[test]
fn rewrites_keep_checksums_valid() {
    let f = tcp_frame(1, 2, ip("10.0.0.1"), ip("10.0.0.2"), 1000, 80, 0x12, 64);
    assert!(tcp_ok(&f));
    let mut d = f.clone();
    let (k, l) = key_of(&d);
    set_ipv4_addr(&mut d, &l, &k, true, ip("192.168.7.9"));
    set_ipv4_addr(&mut d, &l, &k, false, ip("172.16.0.1"));
    set_l4_port(&mut d, &l, &k, true, 4321);
    set_l4_port(&mut d, &l, &k, false, 8080);
    set_ttl(&mut d, &l, false, 17);
    set_tos(&mut d, &l, false, 0xb8, 0xfc);
    assert!(tcp_ok(&d));
    let (k2, _) = key_of(&d);
    assert_eq!(Field::NwSrc.get(&k2), u128::from(ip("192.168.7.9")));
    assert_eq!(Field::TpDst.get(&k2), 8080);
    assert_eq!(Field::NwTtl.get(&k2), 17);
    assert_eq!(Field::NwTos.get(&k2), 0xb8);
    // UDP with checksum.
    let u = udp_frame(1, 2, ip("10.0.0.1"), ip("10.0.0.2"), 5, 6, b"payload!");
    let mut d = u.clone();
    let (k, l) = key_of(&d);
    set_ipv4_addr(&mut d, &l, &k, false, ip("10.9.9.9"));
    set_l4_port(&mut d, &l, &k, false, 53);
    assert!(tcp_ok(&d));
    // UDP without checksum stays without.
    let mut d = u.clone();
    d[40..42].copy_from_slice(&[0, 0]);
    let (k, l) = key_of(&d);
    set_ipv4_addr(&mut d, &l, &k, false, ip("10.9.9.9"));
    assert_eq!(&d[40..42], &[0, 0]);
    assert_eq!(checksum(&d[14..34]), 0);
}

#[test]
fn rewrites_never_touch_rejected_headers() {
    let f = tcp_frame(1, 2, ip("10.0.0.1"), ip("10.0.0.2"), 1000, 80, 0x12, 64);
    let mut d = f[..40].to_vec(); // IP header claims more than the frame has
    let (k, l) = key_of(&d);
    let before = d.clone();
    set_ipv4_addr(&mut d, &l, &k, true, 5);
    set_l4_port(&mut d, &l, &k, true, 5);
    set_ttl(&mut d, &l, false, 1);
    assert_eq!(d, before);
    assert_eq!(ttl(&d, &l, false), None);
}

#[test]
fn vlan_push_pop() {
    let f = udp_frame(1, 2, ip("10.0.0.1"), ip("10.0.0.2"), 5, 6, b"x");
    let mut fr = VecFrame::new(&f);
    assert!(push_vlan(&mut fr, 0x8100, 0x1000 | 42));
    let (k, _) = key_of(fr.data());
    assert_eq!(Field::VlanTci.get(&k), 0x1000 | 42);
    assert_eq!(Field::TpDst.get(&k), 6);
    assert!(pop_vlan(&mut fr));
    assert_eq!(fr.data(), &f[..]);
    assert!(!pop_vlan(&mut fr));
    let mut tight = VecFrame::with_headroom(&f, 2);
    assert!(!push_vlan(&mut tight, 0x8100, 1));
    assert_eq!(tight.data(), &f[..]);
}

#[test]
fn incremental_checksum_matches_full() {
    let mut hdr = [
        0x45u8, 0, 0, 40, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let c = checksum(&hdr);
    hdr[10..12].copy_from_slice(&c.to_be_bytes());
    let old = u32::from_be_bytes([hdr[12], hdr[13], hdr[14], hdr[15]]);
    let new: u32 = 0xc0a8_0101;
    hdr[12..16].copy_from_slice(&new.to_be_bytes());
    let inc = csum_update32(c, old, new);
    hdr[10..12].fill(0);
    assert_eq!(inc, checksum(&hdr));
}
