//! Packets as byte buffers: the frame abstraction, flow-key extraction, and header rewrites
//! with checksums kept correct.
//!
//! Extraction follows OVS's `miniflow_extract` so that a malformed packet gets the key OVS
//! would give it (a truncated TCP header has no ports, a bad IPv4 header no addresses), and
//! never reads out of bounds: every access goes through slice bounds checks.

use crate::field::fget;
use crate::flow::{eth_type, ip_proto, nw_frag, w, Flow, VLAN_CFI};
use crate::wire::{self, arp, ethernet, icmpv6, ipv4, ipv6, sctp, tcp, udp};
use crate::wire::{ArpPacket, EthernetFrame, IcmpPacket, Icmpv6Packet, Ipv4Packet, Ipv6ExtHeader};
use crate::wire::{
    Ipv6FragHeader, Ipv6Packet, NdPacket, SctpPacket, TcpPacket, UdpPacket, VlanHeader,
};

/// A mutable packet buffer with headroom, so that headers can be pushed without copying the
/// payload. Implemented by [`VecFrame`] for tests and by DPDK's `rte_mbuf` in the switch.
pub trait Frame {
    /// The packet bytes.
    fn data(&self) -> &[u8];
    /// The packet bytes, writable.
    fn data_mut(&mut self) -> &mut [u8];
    /// Bytes that can be prepended.
    fn headroom(&self) -> usize;
    /// Grows the packet by `n` bytes at the front (contents unspecified). False if there is
    /// not enough headroom; the frame is then unchanged.
    fn prepend(&mut self, n: usize) -> bool;
    /// Removes `n` bytes from the front. False if the packet is shorter.
    fn adj(&mut self, n: usize) -> bool;
    /// Removes `n` bytes from the end. False if the packet is shorter.
    fn trim(&mut self, n: usize) -> bool;
    /// Length in bytes.
    fn len(&self) -> usize {
        self.data().len()
    }
    /// True for an empty frame.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// What the receiving NIC verified of the checksums ([`csum`] bits; none by default:
    /// conntrack then computes them).
    fn rx_csum(&self) -> u8 {
        0
    }
}

/// Default headroom, as DPDK's `RTE_PKTMBUF_HEADROOM`.
pub const DEFAULT_HEADROOM: usize = 128;

/// A `Vec`-backed frame for tests, tools and the kernel-socket datapath.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VecFrame {
    buf: Vec<u8>,
    start: usize,
}

impl VecFrame {
    /// A frame holding `bytes` with [`DEFAULT_HEADROOM`] bytes of headroom.
    pub fn new(bytes: &[u8]) -> Self {
        Self::with_headroom(bytes, DEFAULT_HEADROOM)
    }

    /// A frame holding `bytes` with `headroom` bytes in front.
    pub fn with_headroom(bytes: &[u8], headroom: usize) -> Self {
        let mut buf = vec![0u8; headroom + bytes.len()];
        buf[headroom..].copy_from_slice(bytes);
        VecFrame {
            buf,
            start: headroom,
        }
    }

    /// Replaces the contents with `bytes` and restores the default headroom, reusing the
    /// allocation (for recycling frames in generators and benchmarks).
    pub fn reset(&mut self, bytes: &[u8]) {
        self.buf.clear();
        self.buf.resize(DEFAULT_HEADROOM, 0);
        self.buf.extend_from_slice(bytes);
        self.start = DEFAULT_HEADROOM;
    }

    /// The packet bytes as an owned vector.
    pub fn to_vec(&self) -> Vec<u8> {
        self.buf[self.start..].to_vec()
    }
}

impl Frame for VecFrame {
    fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..]
    }
    fn headroom(&self) -> usize {
        self.start
    }
    fn prepend(&mut self, n: usize) -> bool {
        if n > self.start {
            return false;
        }
        self.start -= n;
        true
    }
    fn adj(&mut self, n: usize) -> bool {
        if n > self.buf.len() - self.start {
            return false;
        }
        self.start += n;
        true
    }
    fn trim(&mut self, n: usize) -> bool {
        if n > self.buf.len() - self.start {
            return false;
        }
        self.buf.truncate(self.buf.len() - n);
        true
    }
}

/// Why a header could not be parsed (the packet is still classified, as OVS does).
pub mod parse_err {
    /// Shorter than an Ethernet header.
    pub const L2_TRUNCATED: u8 = 0x01;
    /// VLAN tag cut short.
    pub const VLAN_TRUNCATED: u8 = 0x02;
    /// IPv4/IPv6 header invalid or truncated: no L3 fields.
    pub const L3_BAD: u8 = 0x04;
    /// ARP packet invalid or truncated.
    pub const ARP_BAD: u8 = 0x08;
    /// L4 header truncated or invalid: no L4 fields.
    pub const L4_BAD: u8 = 0x10;
    /// IPv6 extension headers or ND options malformed.
    pub const L3_EXT_BAD: u8 = 0x20;
}

/// What is known of a packet's checksums ([`Layout::csum`] bits): what the receiving NIC
/// verified (DPDK's mbuf flags), or what the first `ct` on the packet computed, so that
/// Antrea's two conntrack passes check a packet once.
pub mod csum {
    /// The IPv4 header checksum is right.
    pub const L3_GOOD: u8 = 0x01;
    /// The IPv4 header checksum is wrong.
    pub const L3_BAD: u8 = 0x02;
    /// The TCP/UDP/ICMP/ICMPv6 checksum is right (or the NIC vouches for the data).
    pub const L4_GOOD: u8 = 0x04;
    /// The TCP/UDP/ICMP/ICMPv6 checksum is wrong.
    pub const L4_BAD: u8 = 0x08;
    /// Conntrack checked what the NIC left unknown.
    pub const CHECKED: u8 = 0x10;
    /// Either checksum wrong.
    pub const BAD: u8 = L3_BAD | L4_BAD;
}

/// Where the headers of a parsed packet are, for actions that rewrite them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Offset of the L3 header (after VLAN tags), 0 if none.
    pub l3: u16,
    /// Offset of the L4 header, 0 if none.
    pub l4: u16,
    /// L4 length according to the IP header (may exceed what is in the frame if truncated).
    pub l4_len: u16,
    /// Number of VLAN tags parsed (0 or 1).
    pub vlans: u8,
    /// [`parse_err`] bits.
    pub err: u8,
    /// [`csum`] bits (none from [`extract`]: a port's verdict is added by the caller).
    pub csum: u8,
}

/// Extracts the datapath key of `data` arriving on `in_port` into `key` (every word of the
/// key is written; pipeline metadata is zeroed). Tunnel fields are left zero: the tunnel
/// pop sets them.
pub fn extract(data: &[u8], in_port: u32, key: &mut Flow) -> Layout {
    *key = Flow::ZERO;
    key.w[w::PORT] = u64::from(in_port);
    let mut lay = Layout::default();
    let Ok(eth) = EthernetFrame::new_checked(data) else {
        lay.err |= parse_err::L2_TRUNCATED;
        return lay;
    };
    let mut off = ethernet::HEADER_LEN;
    let mut tci = 0u16;
    let mut ty = eth.ethertype();
    if ty == eth_type::VLAN || ty == eth_type::QINQ {
        match VlanHeader::new_checked(eth.payload()) {
            Ok(tag) => {
                tci = tag.tci() | VLAN_CFI;
                ty = tag.ethertype();
                off += ethernet::VLAN_HEADER_LEN;
                lay.vlans = 1;
            }
            Err(_) => lay.err |= parse_err::VLAN_TRUNCATED,
        }
    }
    if ty < 0x600 {
        // 802.3 length field: LLC/SNAP with OUI 0 carries an ethertype, anything else is
        // OVS's "no type".
        ty = ethernet::snap_ethertype(&data[off..]).unwrap_or(0x05ff);
        if ty != 0x05ff {
            off += ethernet::SNAP_LEN;
        }
    }
    key.w[w::ETH_DST] = eth.dst_addr() | (u64::from(ty) << 48);
    key.w[w::ETH_SRC] = eth.src_addr() | (u64::from(tci) << 48);
    lay.l3 = off as u16;
    let l3 = &data[off..];
    match ty {
        eth_type::IPV4 => parse_ipv4(l3, off, key, &mut lay),
        eth_type::IPV6 => parse_ipv6(l3, off, key, &mut lay),
        eth_type::ARP | eth_type::RARP => parse_arp(l3, key, &mut lay),
        _ => {}
    }
    lay
}

fn parse_ipv4(b: &[u8], base: usize, key: &mut Flow, lay: &mut Layout) {
    // Version, header length, and a total length within the frame; Ethernet padding beyond
    // the total length is not part of the packet.
    let Ok(ip) = Ipv4Packet::new_checked(b) else {
        lay.err |= parse_err::L3_BAD;
        return;
    };
    let proto = ip.protocol();
    let mut frag = 0u8;
    // MF set or offset non-zero: a fragment.
    if ip.is_fragment() {
        frag |= nw_frag::ANY;
        if ip.frag_offset() != 0 {
            frag |= nw_frag::LATER;
        }
    }
    key.w[w::NW_ADDR] = u64::from(ip.src_addr()) | (u64::from(ip.dst_addr()) << 32);
    key.w[w::NW_L4] = u64::from(proto)
        | (u64::from(ip.tos()) << 8)
        | (u64::from(ip.ttl()) << 16)
        | (u64::from(frag) << 24);
    let l4 = ip.payload();
    lay.l4 = (base + ip.header_len()) as u16;
    lay.l4_len = l4.len() as u16;
    if frag & nw_frag::LATER == 0 {
        parse_l4(l4, proto, false, key, lay);
    }
}

fn parse_l4(b: &[u8], proto: u8, v6: bool, key: &mut Flow, lay: &mut Layout) {
    let ports = |key: &mut Flow, s: u16, d: u16| {
        key.w[w::NW_L4] |= (u64::from(s) << 32) | (u64::from(d) << 48);
    };
    match proto {
        ip_proto::TCP => match TcpPacket::new_checked(b) {
            Ok(tcp) => {
                ports(key, tcp.src_port(), tcp.dst_port());
                key.w[w::CT] |= u64::from(tcp.flags()) << 16;
            }
            Err(_) => lay.err |= parse_err::L4_BAD,
        },
        ip_proto::UDP => {
            // Ports only: OVS does not look at UDP's length field.
            if b.len() >= udp::HEADER_LEN {
                let udp = UdpPacket::new_unchecked(b);
                ports(key, udp.src_port(), udp.dst_port());
            } else {
                lay.err |= parse_err::L4_BAD;
            }
        }
        ip_proto::SCTP => match SctpPacket::new_checked(b) {
            Ok(sctp) => ports(key, sctp.src_port(), sctp.dst_port()),
            Err(_) => lay.err |= parse_err::L4_BAD,
        },
        ip_proto::ICMP if !v6 => match IcmpPacket::new_checked(b) {
            Ok(icmp) => ports(key, u16::from(icmp.msg_type()), u16::from(icmp.code())),
            Err(_) => lay.err |= parse_err::L4_BAD,
        },
        ip_proto::ICMPV6 if v6 => match Icmpv6Packet::new_checked(b) {
            Ok(icmp) => {
                ports(key, u16::from(icmp.msg_type()), u16::from(icmp.code()));
                if icmp.is_nd() {
                    parse_nd(b, key, lay);
                }
            }
            Err(_) => lay.err |= parse_err::L4_BAD,
        },
        _ => {}
    }
}

fn parse_nd(b: &[u8], key: &mut Flow, lay: &mut Layout) {
    let Ok(nd) = NdPacket::new_checked(b) else {
        lay.err |= parse_err::L4_BAD;
        return;
    };
    let ty = nd.msg_type();
    let (mut sll, mut tll) = (0u64, 0u64);
    for opt in nd.options() {
        let Ok(opt) = opt else {
            // Malformed options: OVS clears every ND field.
            lay.err |= parse_err::L3_EXT_BAD;
            return;
        };
        match (opt.kind(), opt.len()) {
            (icmpv6::OPT_SOURCE_LL, 8) if ty == icmpv6::ND_SOLICIT && sll == 0 => {
                sll = opt.link_layer_addr()
            }
            (icmpv6::OPT_TARGET_LL, 8) if ty == icmpv6::ND_ADVERT && tll == 0 => {
                tll = opt.link_layer_addr()
            }
            (icmpv6::OPT_SOURCE_LL | icmpv6::OPT_TARGET_LL, 8) => {
                lay.err |= parse_err::L3_EXT_BAD;
                return;
            }
            _ => {}
        }
    }
    let target = nd.target_addr();
    key.w[w::ND_TARGET] = (target >> 64) as u64;
    key.w[w::ND_TARGET + 1] = target as u64;
    key.w[w::ARP_SHA] = sll;
    key.w[w::ARP_THA] = tll;
}

fn parse_ipv6(b: &[u8], base: usize, key: &mut Flow, lay: &mut Layout) {
    let Ok(ip) = Ipv6Packet::new_checked(b) else {
        lay.err |= parse_err::L3_BAD;
        return;
    };
    let src = ip.src_addr();
    let dst = ip.dst_addr();
    key.w[w::IPV6_SRC] = (src >> 64) as u64;
    key.w[w::IPV6_SRC + 1] = src as u64;
    key.w[w::IPV6_DST] = (dst >> 64) as u64;
    key.w[w::IPV6_DST + 1] = dst as u64;
    key.w[w::IPV6_LABEL] = u64::from(ip.flow_label());
    // Extension headers, from the end of the fixed header to the end of the payload.
    let (nh, o, frag) = ipv6_ext_headers(ip.payload(), ip.next_header(), lay);
    key.w[w::NW_L4] = u64::from(nh)
        | (u64::from(ip.traffic_class()) << 8)
        | (u64::from(ip.hop_limit()) << 16)
        | (u64::from(frag) << 24);
    let rest = &ip.payload()[o..];
    lay.l4 = (base + ipv6::HEADER_LEN + o) as u16;
    lay.l4_len = rest.len() as u16;
    if frag & nw_frag::LATER == 0 && lay.err & parse_err::L3_EXT_BAD == 0 {
        parse_l4(rest, nh, true, key, lay);
    }
}

/// Walks the extension headers at the start of `p` (an IPv6 payload), the first announced
/// by `nh`: the L4 protocol, its offset in `p` and the [`nw_frag`] bits. A header cut short
/// stops the walk with [`parse_err::L3_EXT_BAD`].
fn ipv6_ext_headers(p: &[u8], mut nh: u8, lay: &mut Layout) -> (u8, usize, u8) {
    let mut o = 0;
    let mut frag = 0u8;
    loop {
        if Ipv6ExtHeader::<&[u8]>::reads(nh) {
            let Ok(h) = Ipv6ExtHeader::new_checked(&p[o..], nh) else {
                lay.err |= parse_err::L3_EXT_BAD;
                break;
            };
            nh = h.next_header();
            o += h.header_len();
        } else if nh == ipv6::ext::FRAGMENT {
            let Ok(h) = Ipv6FragHeader::new_checked(&p[o..]) else {
                lay.err |= parse_err::L3_EXT_BAD;
                break;
            };
            frag |= nw_frag::ANY;
            if h.frag_offset() != 0 {
                frag |= nw_frag::LATER;
            }
            nh = h.next_header();
            o += ipv6::EXT_HEADER_LEN;
            if frag & nw_frag::LATER != 0 {
                break;
            }
        } else {
            break;
        }
    }
    (nh, o, frag)
}

fn parse_arp(b: &[u8], key: &mut Flow, lay: &mut Layout) {
    // Whole, and for IPv4 over Ethernet.
    let Ok(arp) = ArpPacket::new_checked(b) else {
        lay.err |= parse_err::ARP_BAD;
        return;
    };
    let op = arp.operation();
    if op <= 0xff {
        key.w[w::NW_L4] = u64::from(op);
    }
    key.w[w::NW_ADDR] =
        u64::from(arp.sender_protocol_addr()) | (u64::from(arp.target_protocol_addr()) << 32);
    key.w[w::ARP_SHA] = arp.sender_hardware_addr();
    key.w[w::ARP_THA] = arp.target_hardware_addr();
}

// ---------------------------------------------------------------------------------------
// Header rewrites.

pub use crate::wire::checksum::{
    checksum, finish, sum16, update16 as csum_update16, update32 as csum_update32,
};

/// True when the L3 header was parsed as valid and `need` bytes of it are in the frame:
/// rewrites never touch a header the parser rejected.
fn l3_ok(lay: &Layout, d: &[u8], need: usize) -> bool {
    lay.l3 != 0
        && lay.err & (parse_err::L3_BAD | parse_err::L2_TRUNCATED) == 0
        && usize::from(lay.l3) + need <= d.len()
}

/// Byte offset of the L4 checksum for `proto`, if it has one we maintain.
fn l4_csum_off(proto: u8) -> Option<usize> {
    match proto {
        ip_proto::TCP => Some(tcp::field::CHECKSUM.start),
        ip_proto::UDP => Some(udp::field::CHECKSUM.start),
        ip_proto::ICMPV6 => Some(icmpv6::field::CHECKSUM.start),
        _ => None,
    }
}

/// Whether the L4 header (through its checksum) is inside the frame and not a later fragment.
fn l4_ok(d: &[u8], lay: &Layout, key: &Flow, need: usize) -> bool {
    lay.l4 != 0
        && lay.err & (parse_err::L3_BAD | parse_err::L4_BAD) == 0
        && (fget!(NwFrag, key) as u8) & nw_frag::LATER == 0
        && usize::from(lay.l4) + need <= d.len()
}

/// Updates the L4 checksum for `proto` at `at` with `update`; UDP without a checksum (0)
/// stays without, and a UDP checksum never becomes 0.
fn l4_csum_apply(d: &mut [u8], at: usize, proto: u8, update: impl Fn(u16) -> u16) {
    let c = wire::be16(d, at);
    if proto == ip_proto::UDP && c == 0 {
        return; // UDP over IPv4 without checksum stays without.
    }
    let mut n = update(c);
    if proto == ip_proto::UDP && n == 0 {
        n = 0xffff;
    }
    wire::put16(d, at, n);
}

/// Applies a pseudo-header change of a 32-bit word to the L4 checksum.
fn l4_csum_fix32(d: &mut [u8], lay: &Layout, key: &Flow, old: u32, new: u32) {
    let proto = fget!(NwProto, key) as u8;
    let Some(co) = l4_csum_off(proto) else { return };
    if !l4_ok(d, lay, key, co + 2) {
        return;
    }
    l4_csum_apply(d, usize::from(lay.l4) + co, proto, |c| {
        csum_update32(c, old, new)
    });
}

/// Writes Ethernet source/destination.
pub fn set_eth(d: &mut [u8], src: Option<u64>, dst: Option<u64>) {
    if d.len() < 12 {
        return;
    }
    // The addresses alone: a frame cut short after them is still rewritten.
    let mut eth = EthernetFrame::new_unchecked(d);
    if let Some(m) = dst {
        eth.set_dst_addr(m);
    }
    if let Some(m) = src {
        eth.set_src_addr(m);
    }
}

/// Writes the IPv4 source or destination address, fixing the IP and L4 checksums.
pub fn set_ipv4_addr(d: &mut [u8], lay: &Layout, key: &Flow, is_src: bool, new: u32) {
    if !l3_ok(lay, d, ipv4::HEADER_LEN) {
        return;
    }
    let mut ip = Ipv4Packet::new_unchecked(&mut d[usize::from(lay.l3)..]);
    let old = if is_src { ip.src_addr() } else { ip.dst_addr() };
    if old == new {
        return;
    }
    if is_src {
        ip.set_src_addr(new);
    } else {
        ip.set_dst_addr(new);
    }
    ip.set_checksum(csum_update32(ip.checksum(), old, new));
    l4_csum_fix32(d, lay, key, old, new);
}

/// Writes an IPv6 address, fixing the L4 checksum.
pub fn set_ipv6_addr(d: &mut [u8], lay: &Layout, key: &Flow, is_src: bool, new: u128) {
    if !l3_ok(lay, d, ipv6::HEADER_LEN) {
        return;
    }
    let mut ip = Ipv6Packet::new_unchecked(&mut d[usize::from(lay.l3)..]);
    let old = if is_src { ip.src_addr() } else { ip.dst_addr() };
    if is_src {
        ip.set_src_addr(new);
    } else {
        ip.set_dst_addr(new);
    }
    // The pseudo-header changes 32 bits at a time, most significant first.
    for shift in [96, 64, 32, 0] {
        let (o, n) = ((old >> shift) as u32, (new >> shift) as u32);
        if o != n {
            l4_csum_fix32(d, lay, key, o, n);
        }
    }
}

/// Writes the IPv4 ToS byte's DSCP/ECN bits under `mask`, fixing the IP checksum; for IPv6,
/// the traffic class.
pub fn set_tos(d: &mut [u8], lay: &Layout, v6: bool, value: u8, mask: u8) {
    let l3 = usize::from(lay.l3);
    let merge = |old: u8| (old & !mask) | (value & mask);
    if v6 {
        if l3_ok(lay, d, ipv6::HEADER_LEN) {
            let mut ip = Ipv6Packet::new_unchecked(&mut d[l3..]);
            ip.set_traffic_class(merge(ip.traffic_class()));
        }
    } else if l3_ok(lay, d, ipv4::HEADER_LEN) {
        let mut ip = Ipv4Packet::new_unchecked(&mut d[l3..]);
        let (old, new) = (ip.tos(), merge(ip.tos()));
        ip.set_tos(new);
        // The ToS shares its checksum word with the version byte, which does not change.
        ip.set_checksum(csum_update16(ip.checksum(), u16::from(old), u16::from(new)));
    }
}

/// Writes the IPv4 TTL / IPv6 hop limit, fixing the IPv4 checksum.
pub fn set_ttl(d: &mut [u8], lay: &Layout, v6: bool, ttl: u8) {
    let l3 = usize::from(lay.l3);
    if v6 {
        if l3_ok(lay, d, ipv6::HEADER_LEN) {
            Ipv6Packet::new_unchecked(&mut d[l3..]).set_hop_limit(ttl);
        }
    } else if l3_ok(lay, d, ipv4::HEADER_LEN) {
        let mut ip = Ipv4Packet::new_unchecked(&mut d[l3..]);
        let old = ip.ttl();
        ip.set_ttl(ttl);
        // The TTL is the high byte of its checksum word; the protocol does not change.
        let c = csum_update16(ip.checksum(), u16::from(old) << 8, u16::from(ttl) << 8);
        ip.set_checksum(c);
    }
}

/// Reads the IPv4 TTL / IPv6 hop limit from the frame.
pub fn ttl(d: &[u8], lay: &Layout, v6: bool) -> Option<u8> {
    let l3 = usize::from(lay.l3);
    if v6 {
        l3_ok(lay, d, ipv6::HEADER_LEN).then(|| Ipv6Packet::new_unchecked(&d[l3..]).hop_limit())
    } else {
        l3_ok(lay, d, ipv4::HEADER_LEN).then(|| Ipv4Packet::new_unchecked(&d[l3..]).ttl())
    }
}

/// Writes an L4 source or destination port (TCP/UDP/SCTP), fixing the checksum.
pub fn set_l4_port(d: &mut [u8], lay: &Layout, key: &Flow, is_src: bool, port: u16) {
    let proto = fget!(NwProto, key) as u8;
    if !matches!(proto, ip_proto::TCP | ip_proto::UDP | ip_proto::SCTP) || !l4_ok(d, lay, key, 4) {
        return;
    }
    let l4 = usize::from(lay.l4);
    // TCP, UDP and SCTP have their ports at the same offsets.
    let o = l4
        + if is_src {
            udp::field::SRC_PORT.start
        } else {
            udp::field::DST_PORT.start
        };
    let old = wire::be16(d, o);
    if old == port {
        return;
    }
    wire::put16(d, o, port);
    if let Some(co) = l4_csum_off(proto) {
        if l4_ok(d, lay, key, co + 2) {
            l4_csum_apply(d, l4 + co, proto, |c| csum_update16(c, old, port));
        }
    }
    // SCTP uses CRC32c over the whole packet; brisk recomputes it.
    if proto == ip_proto::SCTP {
        let end = (l4 + usize::from(lay.l4_len)).min(d.len());
        if end >= l4 + sctp::HEADER_LEN {
            SctpPacket::new_unchecked(&mut d[l4..end]).fill_checksum();
        }
    }
}

/// Writes ARP fields (no checksum in ARP).
pub fn set_arp(
    d: &mut [u8],
    lay: &Layout,
    op: Option<u16>,
    sha: Option<u64>,
    spa: Option<u32>,
    tha: Option<u64>,
    tpa: Option<u32>,
) {
    let o = usize::from(lay.l3);
    if o == 0 || lay.err & parse_err::ARP_BAD != 0 || o + arp::HEADER_LEN > d.len() {
        return;
    }
    let mut arp = ArpPacket::new_unchecked(&mut d[o..]);
    if let Some(v) = op {
        arp.set_operation(v);
    }
    if let Some(v) = sha {
        arp.set_sender_hardware_addr(v);
    }
    if let Some(v) = spa {
        arp.set_sender_protocol_addr(v);
    }
    if let Some(v) = tha {
        arp.set_target_hardware_addr(v);
    }
    if let Some(v) = tpa {
        arp.set_target_protocol_addr(v);
    }
}

/// Inserts an 802.1Q tag after the MAC addresses. Returns false without headroom.
pub fn push_vlan<F: Frame + ?Sized>(f: &mut F, tpid: u16, tci: u16) -> bool {
    if f.len() < 12 || !f.prepend(ethernet::VLAN_HEADER_LEN) {
        return false;
    }
    let d = f.data_mut();
    d.copy_within(4..16, 0);
    EthernetFrame::new_unchecked(&mut d[..]).set_ethertype(tpid);
    VlanHeader::new_unchecked(&mut d[ethernet::HEADER_LEN..]).set_tci(tci & !VLAN_CFI);
    true
}

/// Removes the outer 802.1Q tag, if any.
pub fn pop_vlan<F: Frame + ?Sized>(f: &mut F) -> bool {
    let d = f.data_mut();
    if d.len() < ethernet::HEADER_LEN + ethernet::VLAN_HEADER_LEN
        || !EthernetFrame::new_unchecked(&d[..]).is_tagged()
    {
        return false;
    }
    d.copy_within(0..12, 4);
    f.adj(ethernet::VLAN_HEADER_LEN)
}

/// Rewrites the TCI of the outer tag.
pub fn set_vlan_tci(d: &mut [u8], tci: u16) {
    if d.len() >= 16 {
        VlanHeader::new_unchecked(&mut d[ethernet::HEADER_LEN..]).set_tci(tci & !VLAN_CFI);
    }
}

mod icmp_nat;
pub use icmp_nat::nat_icmp_inner;

#[cfg(test)]
mod tests;
