//! Packet builders: well-formed frames with correct checksums, for tests, the trace tool and
//! the traffic generator. Addresses are host integers as in [`crate::flow`].

use crate::field::Field;
use crate::flow::{eth_type, ip_proto, w, Flow, VLAN_CFI};
use crate::wire::{arp, checksum, ethernet, icmp, ipv4, ipv6, tcp, udp};
use crate::wire::{ArpPacket, EthernetFrame, IcmpPacket, Icmpv6Packet, Ipv4Packet};
use crate::wire::{Ipv6Packet, TcpPacket, UdpPacket, VlanHeader};

/// Ethernet + IPv4 + L4 description of a packet to build.
#[derive(Clone, Debug)]
pub struct Ipv4Spec {
    /// Ethernet source.
    pub eth_src: u64,
    /// Ethernet destination.
    pub eth_dst: u64,
    /// 802.1Q TCI, if tagged.
    pub vlan: Option<u16>,
    /// IPv4 source.
    pub src: u32,
    /// IPv4 destination.
    pub dst: u32,
    /// TTL.
    pub ttl: u8,
    /// ToS byte.
    pub tos: u8,
    /// IP identification.
    pub id: u16,
    /// Flags + fragment offset field as on the wire (e.g. 0x4000 for DF, 0x2000 for MF).
    pub frag: u16,
    /// The L4 part.
    pub l4: L4Spec,
    /// Payload bytes after the L4 header.
    pub payload: Vec<u8>,
}

/// The transport part of a packet.
#[derive(Clone, Debug)]
pub enum L4Spec {
    /// TCP with ports, flags, sequence and acknowledgement numbers and window.
    Tcp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// TCP flags (low 12 bits).
        flags: u16,
        /// Sequence number.
        seq: u32,
        /// Acknowledgement number.
        ack: u32,
        /// Window.
        win: u16,
    },
    /// UDP with ports.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// ICMP with type, code and the 4 bytes after the checksum (id/seq for echo).
    Icmp {
        /// Type.
        ty: u8,
        /// Code.
        code: u8,
        /// Rest of header.
        rest: u32,
    },
    /// Raw protocol number, payload only.
    Raw(u8),
}

impl Default for Ipv4Spec {
    fn default() -> Self {
        Ipv4Spec {
            eth_src: 0x0200_0000_0001,
            eth_dst: 0x0200_0000_0002,
            vlan: None,
            src: 0x0a00_0001,
            dst: 0x0a00_0002,
            ttl: 64,
            tos: 0,
            id: 0,
            frag: 0x4000,
            l4: L4Spec::Udp {
                sport: 1000,
                dport: 2000,
            },
            payload: Vec::new(),
        }
    }
}

/// Appends an Ethernet header (with an 802.1Q tag when `vlan` is given).
pub fn eth_header(out: &mut Vec<u8>, dst: u64, src: u64, vlan: Option<u16>, ty: u16) {
    let at = out.len();
    let tag = if vlan.is_some() {
        ethernet::VLAN_HEADER_LEN
    } else {
        0
    };
    out.resize(at + ethernet::HEADER_LEN + tag, 0);
    let mut eth = EthernetFrame::new_unchecked(&mut out[at..]);
    eth.set_dst_addr(dst);
    eth.set_src_addr(src);
    match vlan {
        Some(tci) => {
            eth.set_ethertype(eth_type::VLAN);
            let mut tag = VlanHeader::new_unchecked(eth.payload_mut());
            tag.set_tci(tci);
            tag.set_ethertype(ty);
        }
        None => eth.set_ethertype(ty),
    }
}

/// Pseudo-header sum for IPv4 L4 checksums.
pub fn ipv4_pseudo_sum(src: u32, dst: u32, proto: u8, len: usize) -> u32 {
    checksum::pseudo_header_v4(src, dst, proto, len)
}

/// Builds the IPv4 packet (IP header onwards, no Ethernet).
pub fn ipv4_packet(s: &Ipv4Spec) -> Vec<u8> {
    let (proto, l4_hdr) = match &s.l4 {
        L4Spec::Tcp { .. } => (ip_proto::TCP, tcp::HEADER_LEN),
        L4Spec::Udp { .. } => (ip_proto::UDP, udp::HEADER_LEN),
        L4Spec::Icmp { .. } => (ip_proto::ICMP, icmp::HEADER_LEN),
        L4Spec::Raw(p) => (*p, 0),
    };
    let tot = ipv4::HEADER_LEN + l4_hdr + s.payload.len();
    let mut out = vec![0u8; tot];
    let mut ip = Ipv4Packet::new_unchecked(&mut out[..]);
    ip.set_version(4);
    ip.set_header_len(ipv4::HEADER_LEN);
    ip.set_tos(s.tos);
    ip.set_total_len(tot as u16);
    ip.set_ident(s.id);
    ip.set_flags_frag(s.frag);
    ip.set_ttl(s.ttl);
    ip.set_protocol(proto);
    ip.set_src_addr(s.src);
    ip.set_dst_addr(s.dst);
    ip.fill_checksum();
    let seg = &mut out[ipv4::HEADER_LEN..];
    seg[l4_hdr..].copy_from_slice(&s.payload);
    match s.l4 {
        L4Spec::Tcp {
            sport,
            dport,
            flags,
            seq,
            ack,
            win,
        } => {
            let mut t = TcpPacket::new_unchecked(seg);
            tcp_header(&mut t, sport, dport, flags, seq, ack, win);
            t.fill_checksum_v4(s.src, s.dst);
        }
        L4Spec::Udp { sport, dport } => {
            let mut u = UdpPacket::new_unchecked(seg);
            udp_header(&mut u, sport, dport);
            u.fill_checksum_v4(s.src, s.dst);
        }
        L4Spec::Icmp { ty, code, rest } => {
            let mut m = IcmpPacket::new_unchecked(seg);
            m.set_msg_type(ty);
            m.set_code(code);
            m.set_rest_of_header(rest);
            m.fill_checksum();
        }
        L4Spec::Raw(_) => {}
    }
    out
}

/// Writes a TCP header without options, its checksum zero, into the segment's buffer.
fn tcp_header<T: AsRef<[u8]> + AsMut<[u8]>>(
    t: &mut TcpPacket<T>,
    sport: u16,
    dport: u16,
    flags: u16,
    seq: u32,
    ack: u32,
    win: u16,
) {
    t.set_src_port(sport);
    t.set_dst_port(dport);
    t.set_seq_number(seq);
    t.set_ack_number(ack);
    t.set_header_len(tcp::HEADER_LEN);
    t.set_flags(flags);
    t.set_window(win);
    t.set_checksum(0);
    t.set_urgent(0);
}

/// Writes a UDP header, its length the buffer's and its checksum zero.
fn udp_header<T: AsRef<[u8]> + AsMut<[u8]>>(u: &mut UdpPacket<T>, sport: u16, dport: u16) {
    let len = u.as_bytes().len() as u16;
    u.set_src_port(sport);
    u.set_dst_port(dport);
    u.set_len(len);
    u.set_checksum(0);
}

/// Builds a whole Ethernet + IPv4 frame.
pub fn ipv4_frame(s: &Ipv4Spec) -> Vec<u8> {
    let ip = ipv4_packet(s);
    let mut out = Vec::with_capacity(18 + ip.len());
    eth_header(&mut out, s.eth_dst, s.eth_src, s.vlan, 0x0800);
    out.extend_from_slice(&ip);
    out
}

/// A TCP frame with the given endpoints and flags (seq/ack/window plausible defaults).
#[allow(clippy::too_many_arguments)]
pub fn tcp_frame(
    eth_src: u64,
    eth_dst: u64,
    src: u32,
    dst: u32,
    sport: u16,
    dport: u16,
    flags: u16,
    ttl: u8,
) -> Vec<u8> {
    ipv4_frame(&Ipv4Spec {
        eth_src,
        eth_dst,
        src,
        dst,
        ttl,
        l4: L4Spec::Tcp {
            sport,
            dport,
            flags,
            seq: 1000,
            ack: if flags & 0x10 != 0 { 1 } else { 0 },
            win: 65535,
        },
        ..Default::default()
    })
}

/// A UDP frame.
pub fn udp_frame(
    eth_src: u64,
    eth_dst: u64,
    src: u32,
    dst: u32,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    ipv4_frame(&Ipv4Spec {
        eth_src,
        eth_dst,
        src,
        dst,
        l4: L4Spec::Udp { sport, dport },
        payload: payload.to_vec(),
        ..Default::default()
    })
}

/// An ARP frame (request when `op == 1`, reply when 2). Requests go to broadcast.
pub fn arp_frame(op: u16, sha: u64, spa: u32, tha: u64, tpa: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(ethernet::HEADER_LEN + arp::HEADER_LEN);
    let dst = if op == arp::OP_REQUEST {
        0xffff_ffff_ffff
    } else {
        tha
    };
    eth_header(&mut out, dst, sha, None, eth_type::ARP);
    arp_body(&mut out, op, sha, spa, tha, tpa);
    out
}

/// Appends an ARP packet for IPv4 over Ethernet.
fn arp_body(out: &mut Vec<u8>, op: u16, sha: u64, spa: u32, tha: u64, tpa: u32) {
    let at = out.len();
    out.resize(at + arp::HEADER_LEN, 0);
    let mut a = ArpPacket::new_unchecked(&mut out[at..]);
    a.set_ethernet_ipv4();
    a.set_operation(op);
    a.set_sender_hardware_addr(sha);
    a.set_sender_protocol_addr(spa);
    a.set_target_hardware_addr(tha);
    a.set_target_protocol_addr(tpa);
}

/// Parses `a.b.c.d` into a host integer (panics on bad input: for tests and literals).
pub fn ip(s: &str) -> u32 {
    u32::from(s.parse::<std::net::Ipv4Addr>().expect("IPv4 literal"))
}

/// Parses `aa:bb:cc:dd:ee:ff` (panics on bad input: for tests and literals).
pub fn mac(s: &str) -> u64 {
    crate::ofctl::parse_mac(s).expect("MAC literal")
}

/// The synthesised TCP initial sequence number of every endpoint, so that packets composed
/// from flow specs (`trace`, brisk-gen) form a consistent handshake: a SYN carries `ISN`, a
/// SYN-ACK acknowledges `ISN+1`, later segments continue from there. One number for every
/// endpoint (rather than one per address and port) keeps a handshake consistent through
/// NAT, where the client's view of its peer (a service address and port) is not the peer's
/// own.
pub const ISN: u32 = 0x1f2e_3d4d;

/// Builds a frame from a flow key (OVS's `flow_compose`): Ethernet, optional VLAN, IPv4 or
/// IPv6 or ARP, and TCP/UDP/ICMP with valid checksums, `payload_len` zero bytes of payload.
pub fn from_flow(f: &Flow, payload_len: usize) -> Vec<u8> {
    let dst = Field::EthDst.get(f) as u64;
    let src = Field::EthSrc.get(f) as u64;
    let tci = Field::VlanTci.get(f) as u16;
    let vlan = (tci & VLAN_CFI != 0).then_some(tci & !VLAN_CFI);
    let ty = Field::EthType.get(f) as u16;
    let mut out = Vec::new();
    match ty {
        eth_type::ARP | eth_type::RARP => {
            eth_header(&mut out, dst, src, vlan, ty);
            arp_body(
                &mut out,
                Field::ArpOp.get(f) as u16,
                Field::ArpSha.get(f) as u64,
                Field::ArpSpa.get(f) as u32,
                Field::ArpTha.get(f) as u64,
                Field::ArpTpa.get(f) as u32,
            );
        }
        eth_type::IPV4 => return ipv4_frame(&ipv4_spec_from_flow(f, src, dst, vlan, payload_len)),
        eth_type::IPV6 => {
            eth_header(&mut out, dst, src, vlan, ty);
            out.extend_from_slice(&ipv6_packet_from_flow(f, payload_len));
        }
        _ => {
            eth_header(&mut out, dst, src, vlan, if ty == 0 { 0x05ff } else { ty });
            out.resize(out.len() + payload_len, 0);
            out.resize(out.len().max(60), 0);
        }
    }
    out
}

/// TCP sequence and acknowledgement numbers of a segment with `flags` in the synthesised
/// handshake ([`ISN`]).
fn seq_ack(flags: u16) -> (u32, u32) {
    let (me, peer) = (ISN, ISN);
    let seq = if flags & tcp::flags::SYN != 0 {
        me
    } else {
        me.wrapping_add(1)
    };
    let ack = if flags & tcp::flags::ACK != 0 {
        peer.wrapping_add(1)
    } else {
        0
    };
    (seq, ack)
}

/// The IPv4 packet description of a flow key.
fn ipv4_spec_from_flow(
    f: &Flow,
    eth_src: u64,
    eth_dst: u64,
    vlan: Option<u16>,
    payload_len: usize,
) -> Ipv4Spec {
    let proto = Field::NwProto.get(f) as u8;
    let sport = Field::TpSrc.get(f) as u16;
    let dport = Field::TpDst.get(f) as u16;
    let l4 = match proto {
        ip_proto::TCP => {
            let flags = Field::TcpFlags.get(f) as u16;
            let (seq, ack) = seq_ack(flags);
            L4Spec::Tcp {
                sport,
                dport,
                flags,
                seq,
                ack,
                win: 65535,
            }
        }
        ip_proto::UDP => L4Spec::Udp { sport, dport },
        ip_proto::ICMP => L4Spec::Icmp {
            ty: sport as u8,
            code: dport as u8,
            rest: 0x0001_0001,
        },
        p => L4Spec::Raw(p),
    };
    let frag = match Field::NwFrag.get(f) as u8 {
        0 => ipv4::DF,
        1 => ipv4::MF,
        _ => ipv4::MF | 0x10, // a later fragment: offset 16 (128 bytes)
    };
    Ipv4Spec {
        eth_src,
        eth_dst,
        vlan,
        src: Field::NwSrc.get(f) as u32,
        dst: Field::NwDst.get(f) as u32,
        ttl: Field::NwTtl.get(f) as u8,
        tos: (f.w[w::NW_L4] >> 8) as u8,
        id: 0,
        frag,
        l4,
        payload: vec![0u8; payload_len],
    }
}

/// The IPv6 packet (fixed header onwards) of a flow key: TCP, UDP or ICMPv6 with its
/// checksum, or the payload alone.
fn ipv6_packet_from_flow(f: &Flow, payload_len: usize) -> Vec<u8> {
    let proto = Field::NwProto.get(f) as u8;
    let sport = Field::TpSrc.get(f) as u16;
    let dport = Field::TpDst.get(f) as u16;
    let (s, d) = (Field::Ipv6Src.get(f), Field::Ipv6Dst.get(f));
    let l4_len = payload_len
        + match proto {
            ip_proto::TCP => tcp::HEADER_LEN,
            ip_proto::UDP => udp::HEADER_LEN,
            ip_proto::ICMPV6 => 8,
            _ => 0,
        };
    let mut out = vec![0u8; ipv6::HEADER_LEN + l4_len];
    let mut ip = Ipv6Packet::new_unchecked(&mut out[..]);
    let tc = (f.w[w::NW_L4] >> 8) as u8;
    ip.set_ver_tc_flow(6, tc, Field::Ipv6Label.get(f) as u32);
    ip.set_payload_len(l4_len as u16);
    ip.set_next_header(proto);
    ip.set_hop_limit(Field::NwTtl.get(f) as u8);
    ip.set_src_addr(s);
    ip.set_dst_addr(d);
    let seg = &mut out[ipv6::HEADER_LEN..];
    match proto {
        ip_proto::TCP => {
            let flags = Field::TcpFlags.get(f) as u16;
            let (seq, ack) = seq_ack(flags);
            let mut t = TcpPacket::new_unchecked(seg);
            tcp_header(&mut t, sport, dport, flags, seq, ack, 65535);
            t.fill_checksum_v6(s, d);
        }
        ip_proto::UDP => {
            let mut u = UdpPacket::new_unchecked(seg);
            udp_header(&mut u, sport, dport);
            // As computed: a sum of 0 is stored as 0 here (RFC 8200 would send 0xffff).
            let ps = checksum::pseudo_header_v6(s, d, ip_proto::UDP, l4_len);
            u.set_checksum(checksum::finish(checksum::sum16(u.as_bytes(), ps)));
        }
        ip_proto::ICMPV6 => {
            let mut m = Icmpv6Packet::new_unchecked(seg);
            m.set_msg_type(sport as u8);
            m.set_code(dport as u8);
            m.fill_checksum(s, d);
        }
        _ => {}
    }
    out
}

/// Cuts an IPv4 or IPv6 packet into fragments of at most `size` data bytes each (a
/// multiple of 8), as a sending host's IP layer does: IPv4 copies the header and sets the
/// offset and MF; IPv6 inserts a fragment header after the fixed header (packets with
/// extension headers are not cut). `id`: the identification the fragments carry. A packet
/// that is neither, or fits, comes back whole.
pub fn fragment(frame: &[u8], size: usize, id: u32) -> Vec<Vec<u8>> {
    let size = size.max(8) & !7;
    let mut key = Flow::ZERO;
    let lay = crate::packet::extract(frame, 0, &mut key);
    let l3 = usize::from(lay.l3);
    let ty = Field::EthType.get(&key) as u16;
    let (hdr, data) = match ty {
        eth_type::IPV4 if l3 != 0 => {
            let ihl = usize::from(frame[l3] & 0x0f) * 4;
            let tot = usize::from(u16::from_be_bytes([frame[l3 + 2], frame[l3 + 3]]));
            (l3 + ihl, &frame[l3 + ihl..(l3 + tot).min(frame.len())])
        }
        eth_type::IPV6 if l3 != 0 => (l3 + ipv6::HEADER_LEN, &frame[l3 + ipv6::HEADER_LEN..]),
        _ => return vec![frame.to_vec()],
    };
    if data.len() <= size {
        return vec![frame.to_vec()];
    }
    let mut out = Vec::new();
    for (k, chunk) in data.chunks(size).enumerate() {
        let off = k * size;
        let more = off + chunk.len() < data.len();
        let mut f = frame[..hdr].to_vec();
        if ty == eth_type::IPV4 {
            f.extend_from_slice(chunk);
            let tot = (f.len() - l3) as u16;
            f[l3 + 2..l3 + 4].copy_from_slice(&tot.to_be_bytes());
            f[l3 + 4..l3 + 6].copy_from_slice(&(id as u16).to_be_bytes());
            let fo =
                (f[l3 + 6] as u16 & 0x40) << 8 | if more { 0x2000 } else { 0 } | (off / 8) as u16;
            f[l3 + 6..l3 + 8].copy_from_slice(&fo.to_be_bytes());
            f[l3 + 10..l3 + 12].copy_from_slice(&[0, 0]);
            let c = checksum::checksum(&f[l3..hdr]);
            f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
        } else {
            let nh = frame[l3 + 6];
            f[l3 + 6] = ipv6::ext::FRAGMENT;
            let offlg = off as u16 | u16::from(more);
            f.extend_from_slice(&[nh, 0]);
            f.extend_from_slice(&offlg.to_be_bytes());
            f.extend_from_slice(&id.to_be_bytes());
            f.extend_from_slice(chunk);
            let plen = (f.len() - l3 - ipv6::HEADER_LEN) as u16;
            f[l3 + 4..l3 + 6].copy_from_slice(&plen.to_be_bytes());
        }
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_verify() {
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        let f = tcp_frame(1, 2, a, b, 1, 2, 0x002, 64);
        let ipv4 = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert!(ipv4.verify_checksum());
        let tcp = ipv4.payload();
        assert!(TcpPacket::new_checked(tcp)
            .unwrap()
            .verify_checksum_v4(a, b));
        let ps = ipv4_pseudo_sum(a, b, 6, tcp.len());
        assert_eq!(checksum::finish(checksum::sum16(tcp, ps)), 0);
        let u = udp_frame(1, 2, a, b, 5, 6, b"hello");
        let udp = UdpPacket::new_checked(&u[34..]).unwrap();
        assert_ne!(udp.checksum(), 0);
        assert!(udp.verify_checksum_v4(a, b));
        assert_eq!(udp.payload(), b"hello");
    }
}
