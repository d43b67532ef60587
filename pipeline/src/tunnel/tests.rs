use super::*;
use crate::bridge::{PortInfo, PortKind, TunnelPort};
use crate::build::{arp_frame, ip, mac, udp_frame};
use crate::conntrack::ConntrackConfig;
use crate::dpaction::TunnelMeta;
use crate::geneve::{self, HeaderTemplate, PushParams};
use crate::packet::{Frame, VecFrame};
use crate::underlay::Route;
use crate::wire::{Ipv4Packet, UdpPacket};

const UPLINK: u32 = 7;
const TUN: u32 = 1;

fn bridge() -> Bridge {
    let b = Bridge::new("br-int", ConntrackConfig::default());
    b.add_port(PortInfo::new(
        TUN,
        "tun0",
        PortKind::Tunnel(TunnelPort {
            csum: true,
            ..Default::default()
        }),
    ))
    .unwrap();
    b.add_port(PortInfo::new(UPLINK, "uplink", PortKind::Normal))
        .unwrap();
    b.update_underlay(|u| {
        u.uplink = Some(Uplink {
            ofport: UPLINK,
            mac: mac("00:50:56:8f:4e:82"),
            ip: ip("10.79.1.201"),
            prefix_len: 24,
            mtu: 1500,
        });
        u.routes.add(Route {
            prefix: ip("10.79.1.0"),
            len: 24,
            gateway: None,
            dev: UPLINK,
        });
        u.tlv
            .add("{class=0x104,type=0x80,len=4}->tun_metadata0")
            .unwrap();
    });
    b
}

fn meta(dst: &str) -> TunnelMeta {
    TunnelMeta {
        tun_id: 0x42,
        dst: ip(dst),
        md_present: 1,
        md: [0xfeed, 0, 0, 0, 0, 0, 0, 0],
        ..Default::default()
    }
}

#[test]
fn resolution_follows_routes_and_neighbours() {
    let b = bridge();
    let m = meta("10.79.1.202");
    assert_eq!(
        b.resolve_tunnel(TUN, &meta("192.0.2.1")),
        Resolution::NoRoute,
        "off the underlay subnet, no default route"
    );
    assert_eq!(
        b.resolve_tunnel(TUN, &m),
        Resolution::Waiting {
            nexthop: ip("10.79.1.202")
        }
    );
    let g0 = b.underlay_generation();
    b.learn_neighbour(ip("10.79.1.202"), mac("00:50:56:8f:1c:f6"), 0);
    let g1 = b.underlay_generation();
    assert!(g1 > g0, "a resolved next hop revalidates");
    b.learn_neighbour(ip("10.79.1.202"), mac("00:50:56:8f:1c:f6"), 5);
    assert_eq!(
        b.underlay_generation(),
        g1,
        "a refresh with the same MAC does not"
    );
    let Resolution::Push(t) = b.resolve_tunnel(TUN, &m) else {
        panic!("not resolved")
    };
    assert_eq!((t.tunnel, t.uplink, t.mtu), (TUN, UPLINK, 1500));
    assert_eq!(t.header.len(), geneve::BASE_OVERHEAD + 8);
    assert!(t.header.csum());
    let shown = t.to_string();
    assert!(
        shown.starts_with("tnl_push(tnl_port(1),header(size=58,type=geneve,eth(dst=00:50:56:8f:1c:f6,src=00:50:56:8f:4e:82")
            && shown.contains("ipv4(src=10.79.1.201,dst=10.79.1.202")
            && shown.ends_with("geneve(vni=0x42,md0=0xfeed)),out_port(7))"),
        "{shown}"
    );
    // A route change revalidates too; without the route the output has nowhere to go.
    b.update_underlay(|u| u.routes.del(ip("10.79.1.0"), 24))
        .unwrap();
    assert!(b.underlay_generation() > g1);
    assert_eq!(b.resolve_tunnel(TUN, &m), Resolution::NoRoute);
}

#[test]
fn template_push_writes_lengths_and_checksums_per_packet() {
    let tlv = bridge().underlay().tlv;
    for csum in [false, true] {
        let p = PushParams {
            src_mac: 1,
            dst_mac: 2,
            local_ip: ip("10.79.1.201"),
            dst_port: 6081,
            csum,
            ttl: 64,
            ip_id: 0,
        };
        let t = HeaderTemplate::new(&meta("10.79.1.202"), &tlv, &p);
        for (len, hash) in [(60usize, 0u32), (61, 1), (1000, 0xdead_beef), (1442, 7)] {
            let inner = udp_frame(1, 2, 3, 4, 5, 6, &vec![0x5a; len - 42]);
            let mut f = VecFrame::new(&inner);
            t.push(&mut f, hash, 1500).unwrap();
            let d = f.data();
            let ip4 = Ipv4Packet::new_checked(&d[14..]).unwrap();
            assert!(ip4.verify_checksum(), "len {len}");
            assert_eq!(usize::from(ip4.total_len()), d.len() - 14);
            let udp = UdpPacket::new_checked(ip4.payload()).unwrap();
            assert_eq!(udp.src_port(), geneve::source_port(hash));
            assert_eq!(usize::from(udp.len()), ip4.payload().len());
            assert_eq!(udp.checksum() != 0, csum);
            assert!(udp.verify_checksum_v4(ip4.src_addr(), ip4.dst_addr()));
            let mut rx = VecFrame::new(d);
            let back = geneve::pop(&mut rx, &tlv).unwrap();
            assert_eq!(
                (back.tun_id, back.md[0], back.md_present),
                (0x42, 0xfeed, 1)
            );
            assert_eq!(rx.data(), &inner[..]);
        }
        let mut big = VecFrame::new(&vec![0u8; 1460]);
        assert_eq!(t.push(&mut big, 0, 1500), Err(geneve::PushError::TooBig));
        let mut tight = VecFrame::with_headroom(&[0u8; 60], 20);
        assert_eq!(
            t.push(&mut tight, 0, 1500),
            Err(geneve::PushError::NoHeadroom)
        );
    }
}

#[test]
fn the_decap_stage_sorts_uplink_frames() {
    let b = bridge();
    let d = DecapPort::of(&b).unwrap();
    assert_eq!((d.uplink, d.tunnel, d.dst_port), (UPLINK, TUN, 6081));
    let me = ip("10.79.1.201");
    let peer = mac("00:50:56:8f:1c:f6");
    // ARP request for the node: answered in place.
    let mut f = VecFrame::new(&arp_frame(1, peer, ip("10.79.1.202"), 0, me));
    assert_eq!(
        decap::classify(&d, &mut f),
        UplinkIn::ArpAnswer(Some((ip("10.79.1.202"), peer)))
    );
    assert_eq!(
        f.data(),
        &arp_frame(2, d.mac, me, peer, ip("10.79.1.202"))[..]
    );
    // A reply to the node: learned and consumed.
    let mut f = VecFrame::new(&arp_frame(2, peer, ip("10.79.1.202"), d.mac, me));
    assert_eq!(
        decap::classify(&d, &mut f),
        UplinkIn::ArpLearn(ip("10.79.1.202"), peer)
    );
    // Geneve for the node, valid and damaged.
    let p = PushParams {
        src_mac: peer,
        dst_mac: d.mac,
        local_ip: ip("10.79.1.202"),
        dst_port: 6081,
        csum: true,
        ttl: 64,
        ip_id: 0,
    };
    let mut m = meta("10.79.1.201");
    m.src = ip("10.79.1.202");
    let inner = udp_frame(1, 2, 3, 4, 5, 6, b"hello");
    let mut f = VecFrame::new(&inner);
    geneve::push(&mut f, &m, &d.tlv, &p, 9, 1500).unwrap();
    let wire = f.data().to_vec();
    let UplinkIn::Tunnel(got) = decap::classify(&d, &mut f) else {
        panic!("not decapsulated")
    };
    assert_eq!((got.src, got.dst, got.tun_id), (m.src, m.dst, 0x42));
    assert_eq!(f.data(), &inner[..]);
    let mut bad = wire.clone();
    let n = bad.len();
    bad[n - 1] ^= 0xff; // the inner payload: the outer UDP checksum catches it
    assert_eq!(
        decap::classify(&d, &mut VecFrame::new(&bad)),
        UplinkIn::Bad(geneve::DecapError::BadUdpChecksum)
    );
    // Anything else is the uplink's own.
    let own = udp_frame(1, 2, ip("10.79.1.202"), me, 5, 4789, b"x");
    assert_eq!(
        decap::classify(&d, &mut VecFrame::new(&own)),
        UplinkIn::Own(None)
    );
}
