//! Packet builders: well-formed frames with correct checksums, for tests, the trace tool and
//! the traffic generator. Addresses are host integers as in [`crate::flow`].

use crate::packet::{checksum, finish, sum16};

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

/// Appends an Ethernet header.
pub fn eth_header(out: &mut Vec<u8>, dst: u64, src: u64, vlan: Option<u16>, ty: u16) {
    out.extend_from_slice(&dst.to_be_bytes()[2..]);
    out.extend_from_slice(&src.to_be_bytes()[2..]);
    if let Some(tci) = vlan {
        out.extend_from_slice(&0x8100u16.to_be_bytes());
        out.extend_from_slice(&tci.to_be_bytes());
    }
    out.extend_from_slice(&ty.to_be_bytes());
}

/// Pseudo-header sum for IPv4 L4 checksums.
pub fn ipv4_pseudo_sum(src: u32, dst: u32, proto: u8, len: usize) -> u32 {
    let mut p = [0u8; 12];
    p[0..4].copy_from_slice(&src.to_be_bytes());
    p[4..8].copy_from_slice(&dst.to_be_bytes());
    p[9] = proto;
    p[10..12].copy_from_slice(&(len as u16).to_be_bytes());
    sum16(&p, 0)
}

/// Builds the IPv4 packet (IP header onwards, no Ethernet).
pub fn ipv4_packet(s: &Ipv4Spec) -> Vec<u8> {
    let (proto, l4) = match &s.l4 {
        L4Spec::Tcp {
            sport,
            dport,
            flags,
            seq,
            ack,
            win,
        } => {
            let mut h = Vec::with_capacity(20 + s.payload.len());
            h.extend_from_slice(&sport.to_be_bytes());
            h.extend_from_slice(&dport.to_be_bytes());
            h.extend_from_slice(&seq.to_be_bytes());
            h.extend_from_slice(&ack.to_be_bytes());
            h.extend_from_slice(&((5u16 << 12) | (flags & 0x0fff)).to_be_bytes());
            h.extend_from_slice(&win.to_be_bytes());
            h.extend_from_slice(&[0, 0, 0, 0]);
            h.extend_from_slice(&s.payload);
            let c = finish(sum16(&h, ipv4_pseudo_sum(s.src, s.dst, 6, h.len())));
            h[16..18].copy_from_slice(&c.to_be_bytes());
            (6u8, h)
        }
        L4Spec::Udp { sport, dport } => {
            let mut h = Vec::with_capacity(8 + s.payload.len());
            h.extend_from_slice(&sport.to_be_bytes());
            h.extend_from_slice(&dport.to_be_bytes());
            h.extend_from_slice(&((8 + s.payload.len()) as u16).to_be_bytes());
            h.extend_from_slice(&[0, 0]);
            h.extend_from_slice(&s.payload);
            let mut c = finish(sum16(&h, ipv4_pseudo_sum(s.src, s.dst, 17, h.len())));
            if c == 0 {
                c = 0xffff;
            }
            h[6..8].copy_from_slice(&c.to_be_bytes());
            (17u8, h)
        }
        L4Spec::Icmp { ty, code, rest } => {
            let mut h = vec![*ty, *code, 0, 0];
            h.extend_from_slice(&rest.to_be_bytes());
            h.extend_from_slice(&s.payload);
            let c = checksum(&h);
            h[2..4].copy_from_slice(&c.to_be_bytes());
            (1u8, h)
        }
        L4Spec::Raw(p) => (*p, s.payload.clone()),
    };
    let tot = 20 + l4.len();
    let mut ip = Vec::with_capacity(tot);
    ip.push(0x45);
    ip.push(s.tos);
    ip.extend_from_slice(&(tot as u16).to_be_bytes());
    ip.extend_from_slice(&s.id.to_be_bytes());
    ip.extend_from_slice(&s.frag.to_be_bytes());
    ip.push(s.ttl);
    ip.push(proto);
    ip.extend_from_slice(&[0, 0]);
    ip.extend_from_slice(&s.src.to_be_bytes());
    ip.extend_from_slice(&s.dst.to_be_bytes());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&l4);
    ip
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
    let mut out = Vec::with_capacity(42);
    let dst = if op == 1 { 0xffff_ffff_ffff } else { tha };
    eth_header(&mut out, dst, sha, None, 0x0806);
    out.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
    out.extend_from_slice(&op.to_be_bytes());
    out.extend_from_slice(&sha.to_be_bytes()[2..]);
    out.extend_from_slice(&spa.to_be_bytes());
    out.extend_from_slice(&tha.to_be_bytes()[2..]);
    out.extend_from_slice(&tpa.to_be_bytes());
    out
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
pub fn from_flow(f: &crate::flow::Flow, payload_len: usize) -> Vec<u8> {
    use crate::field::Field;
    use crate::flow::{eth_type, ip_proto, VLAN_CFI};
    let dst = Field::EthDst.get(f) as u64;
    let src = Field::EthSrc.get(f) as u64;
    let tci = Field::VlanTci.get(f) as u16;
    let vlan = (tci & VLAN_CFI != 0).then_some(tci & !VLAN_CFI);
    let ty = Field::EthType.get(f) as u16;
    let payload = vec![0u8; payload_len];
    match ty {
        eth_type::ARP | eth_type::RARP => {
            let mut out = Vec::new();
            eth_header(&mut out, dst, src, vlan, ty);
            out.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
            out.extend_from_slice(&(Field::ArpOp.get(f) as u16).to_be_bytes());
            out.extend_from_slice(&(Field::ArpSha.get(f) as u64).to_be_bytes()[2..]);
            out.extend_from_slice(&(Field::ArpSpa.get(f) as u32).to_be_bytes());
            out.extend_from_slice(&(Field::ArpTha.get(f) as u64).to_be_bytes()[2..]);
            out.extend_from_slice(&(Field::ArpTpa.get(f) as u32).to_be_bytes());
            out
        }
        eth_type::IPV4 => {
            let proto = Field::NwProto.get(f) as u8;
            let sport = Field::TpSrc.get(f) as u16;
            let dport = Field::TpDst.get(f) as u16;
            let s_ip = Field::NwSrc.get(f) as u32;
            let d_ip = Field::NwDst.get(f) as u32;
            let l4 = match proto {
                ip_proto::TCP => {
                    let flags = Field::TcpFlags.get(f) as u16;
                    let syn = flags & 0x002 != 0;
                    let ack = flags & 0x010 != 0;
                    let (me, peer) = (ISN, ISN);
                    L4Spec::Tcp {
                        sport,
                        dport,
                        flags,
                        seq: if syn { me } else { me.wrapping_add(1) },
                        ack: if ack { peer.wrapping_add(1) } else { 0 },
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
                0 => 0x4000,
                1 => 0x2000,
                _ => 0x2010,
            };
            ipv4_frame(&Ipv4Spec {
                eth_src: src,
                eth_dst: dst,
                vlan,
                src: s_ip,
                dst: d_ip,
                ttl: Field::NwTtl.get(f) as u8,
                tos: (f.w[crate::flow::w::NW_L4] >> 8) as u8,
                id: 0,
                frag,
                l4,
                payload,
            })
        }
        eth_type::IPV6 => {
            let proto = Field::NwProto.get(f) as u8;
            let sport = Field::TpSrc.get(f) as u16;
            let dport = Field::TpDst.get(f) as u16;
            let s = Field::Ipv6Src.get(f);
            let d = Field::Ipv6Dst.get(f);
            let mut l4 = match proto {
                ip_proto::TCP => {
                    let flags = Field::TcpFlags.get(f) as u16;
                    let (me, peer) = (ISN, ISN);
                    let mut h = Vec::new();
                    h.extend_from_slice(&sport.to_be_bytes());
                    h.extend_from_slice(&dport.to_be_bytes());
                    let seq = if flags & 2 != 0 {
                        me
                    } else {
                        me.wrapping_add(1)
                    };
                    let ack = if flags & 0x10 != 0 {
                        peer.wrapping_add(1)
                    } else {
                        0
                    };
                    h.extend_from_slice(&seq.to_be_bytes());
                    h.extend_from_slice(&ack.to_be_bytes());
                    h.extend_from_slice(&((5u16 << 12) | (flags & 0xfff)).to_be_bytes());
                    h.extend_from_slice(&65535u16.to_be_bytes());
                    h.extend_from_slice(&[0, 0, 0, 0]);
                    h
                }
                ip_proto::UDP => {
                    let mut h = Vec::new();
                    h.extend_from_slice(&sport.to_be_bytes());
                    h.extend_from_slice(&dport.to_be_bytes());
                    h.extend_from_slice(&((8 + payload_len) as u16).to_be_bytes());
                    h.extend_from_slice(&[0, 0]);
                    h
                }
                ip_proto::ICMPV6 => vec![sport as u8, dport as u8, 0, 0, 0, 0, 0, 0],
                _ => Vec::new(),
            };
            l4.extend_from_slice(&payload);
            let csum_off = match proto {
                ip_proto::TCP => Some(16),
                ip_proto::UDP => Some(6),
                ip_proto::ICMPV6 => Some(2),
                _ => None,
            };
            if let Some(o) = csum_off {
                let mut ps = [0u8; 40];
                ps[..16].copy_from_slice(&s.to_be_bytes());
                ps[16..32].copy_from_slice(&d.to_be_bytes());
                ps[32..36].copy_from_slice(&(l4.len() as u32).to_be_bytes());
                ps[39] = proto;
                let c = finish(sum16(&l4, sum16(&ps, 0)));
                l4[o..o + 2].copy_from_slice(&c.to_be_bytes());
            }
            let mut out = Vec::new();
            eth_header(&mut out, dst, src, vlan, ty);
            let tc = (f.w[crate::flow::w::NW_L4] >> 8) as u8;
            let label = Field::Ipv6Label.get(f) as u32;
            let vtc = (6u32 << 28) | (u32::from(tc) << 20) | label;
            out.extend_from_slice(&vtc.to_be_bytes());
            out.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            out.push(proto);
            out.push(Field::NwTtl.get(f) as u8);
            out.extend_from_slice(&s.to_be_bytes());
            out.extend_from_slice(&d.to_be_bytes());
            out.extend_from_slice(&l4);
            out
        }
        _ => {
            let mut out = Vec::new();
            eth_header(&mut out, dst, src, vlan, if ty == 0 { 0x05ff } else { ty });
            out.extend_from_slice(&payload);
            out.resize(out.len().max(60), 0);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_verify() {
        let f = tcp_frame(1, 2, ip("10.0.0.1"), ip("10.0.0.2"), 1, 2, 0x002, 64);
        let ipb = &f[14..34];
        assert_eq!(checksum(ipb), 0);
        let tcp = &f[34..];
        let ps = ipv4_pseudo_sum(ip("10.0.0.1"), ip("10.0.0.2"), 6, tcp.len());
        assert_eq!(finish(sum16(tcp, ps)), 0);
        let u = udp_frame(1, 2, ip("10.0.0.1"), ip("10.0.0.2"), 5, 6, b"hello");
        let udp = &u[34..];
        let ps = ipv4_pseudo_sum(ip("10.0.0.1"), ip("10.0.0.2"), 17, udp.len());
        assert_eq!(finish(sum16(udp, ps)), 0);
    }
}
