//! Packets as byte buffers: the frame abstraction, flow-key extraction, and header rewrites
//! with checksums kept correct.
//!
//! Extraction follows OVS's `miniflow_extract` so that a malformed packet gets the key OVS
//! would give it (a truncated TCP header has no ports, a bad IPv4 header no addresses), and
//! never reads out of bounds: every access goes through slice bounds checks.

use crate::field::fget;
use crate::flow::{eth_type, ip_proto, nw_frag, w, Flow, VLAN_CFI};

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
}

#[inline]
fn be16(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(o)?, *b.get(o + 1)?]))
}

#[inline]
fn mac_at(b: &[u8], o: usize) -> u64 {
    let s = &b[o..o + 6];
    (u64::from(s[0]) << 40)
        | (u64::from(s[1]) << 32)
        | (u64::from(s[2]) << 24)
        | (u64::from(s[3]) << 16)
        | (u64::from(s[4]) << 8)
        | u64::from(s[5])
}

#[inline]
fn be128(b: &[u8], o: usize) -> u128 {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[o..o + 16]);
    u128::from_be_bytes(a)
}

/// Extracts the datapath key of `data` arriving on `in_port` into `key` (every word of the
/// key is written; pipeline metadata is zeroed). Tunnel fields are left zero: the tunnel
/// pop sets them.
pub fn extract(data: &[u8], in_port: u32, key: &mut Flow) -> Layout {
    *key = Flow::ZERO;
    key.w[w::PORT] = u64::from(in_port);
    let mut lay = Layout::default();
    if data.len() < 14 {
        lay.err |= parse_err::L2_TRUNCATED;
        return lay;
    }
    let dst = mac_at(data, 0);
    let src = mac_at(data, 6);
    let mut off = 12;
    let mut tci = 0u16;
    let mut ty = u16::from_be_bytes([data[12], data[13]]);
    if ty == eth_type::VLAN || ty == eth_type::QINQ {
        match be16(data, 14).zip(be16(data, 16)) {
            Some((t, inner)) => {
                tci = t | VLAN_CFI;
                ty = inner;
                off = 16;
                lay.vlans = 1;
            }
            None => lay.err |= parse_err::VLAN_TRUNCATED,
        }
    }
    off += 2;
    if ty < 0x600 {
        // 802.3 length field: LLC/SNAP with OUI 0 carries an ethertype, anything else is
        // OVS's "no type".
        let snap = data.get(off..off + 8);
        ty = match snap {
            Some(s) if s[..6] == [0xaa, 0xaa, 0x03, 0, 0, 0] => u16::from_be_bytes([s[6], s[7]]),
            _ => 0x05ff,
        };
        if ty != 0x05ff {
            off += 8;
        }
    }
    key.w[w::ETH_DST] = dst | (u64::from(ty) << 48);
    key.w[w::ETH_SRC] = src | (u64::from(tci) << 48);
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
    if b.len() < 20 || b[0] >> 4 != 4 {
        lay.err |= parse_err::L3_BAD;
        return;
    }
    let ihl = usize::from(b[0] & 0x0f) * 4;
    let tot = usize::from(u16::from_be_bytes([b[2], b[3]]));
    if ihl < 20 || b.len() < ihl || tot < ihl || tot > b.len() {
        lay.err |= parse_err::L3_BAD;
        return;
    }
    // Ethernet padding beyond tot_len is not part of the packet.
    let b = &b[..tot];
    let tos = b[1];
    let frag_off = u16::from_be_bytes([b[6], b[7]]);
    let ttl = b[8];
    let proto = b[9];
    let src = u32::from_be_bytes([b[12], b[13], b[14], b[15]]);
    let dst = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
    let mut frag = 0u8;
    // MF set or offset non-zero: a fragment.
    if frag_off & 0x3fff != 0 {
        frag |= nw_frag::ANY;
        if frag_off & 0x1fff != 0 {
            frag |= nw_frag::LATER;
        }
    }
    key.w[w::NW_ADDR] = u64::from(src) | (u64::from(dst) << 32);
    key.w[w::NW_L4] =
        u64::from(proto) | (u64::from(tos) << 8) | (u64::from(ttl) << 16) | (u64::from(frag) << 24);
    lay.l4 = (base + ihl) as u16;
    lay.l4_len = (tot - ihl) as u16;
    if frag & nw_frag::LATER == 0 {
        parse_l4(&b[ihl..], proto, false, key, lay);
    }
}

fn parse_l4(b: &[u8], proto: u8, v6: bool, key: &mut Flow, lay: &mut Layout) {
    let ports = |key: &mut Flow, s: u16, d: u16| {
        key.w[w::NW_L4] |= (u64::from(s) << 32) | (u64::from(d) << 48);
    };
    match proto {
        ip_proto::TCP => {
            if b.len() >= 20 {
                let ctl = u16::from_be_bytes([b[12], b[13]]);
                let hlen = usize::from(ctl >> 12) * 4;
                if hlen >= 20 && b.len() >= hlen {
                    ports(
                        key,
                        u16::from_be_bytes([b[0], b[1]]),
                        u16::from_be_bytes([b[2], b[3]]),
                    );
                    key.w[w::CT] |= u64::from(ctl & 0x0fff) << 16;
                    return;
                }
            }
            lay.err |= parse_err::L4_BAD;
        }
        ip_proto::UDP | ip_proto::SCTP => {
            let need = if proto == ip_proto::UDP { 8 } else { 12 };
            if b.len() >= need {
                ports(
                    key,
                    u16::from_be_bytes([b[0], b[1]]),
                    u16::from_be_bytes([b[2], b[3]]),
                );
            } else {
                lay.err |= parse_err::L4_BAD;
            }
        }
        ip_proto::ICMP if !v6 => {
            if b.len() >= 8 {
                ports(key, u16::from(b[0]), u16::from(b[1]));
            } else {
                lay.err |= parse_err::L4_BAD;
            }
        }
        ip_proto::ICMPV6 if v6 => {
            if b.len() < 4 {
                lay.err |= parse_err::L4_BAD;
                return;
            }
            let (ty, code) = (b[0], b[1]);
            ports(key, u16::from(ty), u16::from(code));
            if (ty == 135 || ty == 136) && code == 0 {
                parse_nd(b, ty, key, lay);
            }
        }
        _ => {}
    }
}

fn parse_nd(b: &[u8], ty: u8, key: &mut Flow, lay: &mut Layout) {
    if b.len() < 24 {
        lay.err |= parse_err::L4_BAD;
        return;
    }
    let target = be128(b, 8);
    let (mut sll, mut tll) = (0u64, 0u64);
    let mut o = 24;
    while o + 8 <= b.len() {
        let opt_len = usize::from(b[o + 1]) * 8;
        if opt_len == 0 || o + opt_len > b.len() {
            // Malformed options: OVS clears every ND field.
            lay.err |= parse_err::L3_EXT_BAD;
            return;
        }
        match (b[o], opt_len) {
            (1, 8) if ty == 135 && sll == 0 => sll = mac_at(b, o + 2),
            (2, 8) if ty == 136 && tll == 0 => tll = mac_at(b, o + 2),
            (1, 8) | (2, 8) => {
                lay.err |= parse_err::L3_EXT_BAD;
                return;
            }
            _ => {}
        }
        o += opt_len;
    }
    key.w[w::ND_TARGET] = (target >> 64) as u64;
    key.w[w::ND_TARGET + 1] = target as u64;
    key.w[w::ARP_SHA] = sll;
    key.w[w::ARP_THA] = tll;
}

fn parse_ipv6(b: &[u8], base: usize, key: &mut Flow, lay: &mut Layout) {
    if b.len() < 40 || b[0] >> 4 != 6 {
        lay.err |= parse_err::L3_BAD;
        return;
    }
    let plen = usize::from(u16::from_be_bytes([b[4], b[5]]));
    if plen > b.len() - 40 {
        lay.err |= parse_err::L3_BAD;
        return;
    }
    let b = &b[..40 + plen];
    let vtc = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let tclass = ((vtc >> 20) & 0xff) as u8;
    let label = vtc & 0xfffff;
    let src = be128(b, 8);
    let dst = be128(b, 24);
    key.w[w::IPV6_SRC] = (src >> 64) as u64;
    key.w[w::IPV6_SRC + 1] = src as u64;
    key.w[w::IPV6_DST] = (dst >> 64) as u64;
    key.w[w::IPV6_DST + 1] = dst as u64;
    key.w[w::IPV6_LABEL] = u64::from(label);
    let hlim = b[7];
    let mut nh = b[6];
    let mut o = 40;
    let mut frag = 0u8;
    // Walk extension headers.
    loop {
        match nh {
            0 | 43 | 60 | 51 => {
                if o + 8 > b.len() {
                    lay.err |= parse_err::L3_EXT_BAD;
                    break;
                }
                let len = if nh == 51 {
                    (usize::from(b[o + 1]) + 2) * 4
                } else {
                    (usize::from(b[o + 1]) + 1) * 8
                };
                if o + len > b.len() {
                    lay.err |= parse_err::L3_EXT_BAD;
                    break;
                }
                nh = b[o];
                o += len;
            }
            44 => {
                if o + 8 > b.len() {
                    lay.err |= parse_err::L3_EXT_BAD;
                    break;
                }
                let fo = u16::from_be_bytes([b[o + 2], b[o + 3]]);
                frag |= nw_frag::ANY;
                if fo & 0xfff8 != 0 {
                    frag |= nw_frag::LATER;
                }
                nh = b[o];
                o += 8;
                if frag & nw_frag::LATER != 0 {
                    break;
                }
            }
            _ => break,
        }
    }
    key.w[w::NW_L4] = u64::from(nh)
        | (u64::from(tclass) << 8)
        | (u64::from(hlim) << 16)
        | (u64::from(frag) << 24);
    lay.l4 = (base + o) as u16;
    lay.l4_len = (b.len().saturating_sub(o)) as u16;
    if frag & nw_frag::LATER == 0 && lay.err & parse_err::L3_EXT_BAD == 0 {
        parse_l4(&b[o.min(b.len())..], nh, true, key, lay);
    }
}

fn parse_arp(b: &[u8], key: &mut Flow, lay: &mut Layout) {
    if b.len() < 28 {
        lay.err |= parse_err::ARP_BAD;
        return;
    }
    let hrd = u16::from_be_bytes([b[0], b[1]]);
    let pro = u16::from_be_bytes([b[2], b[3]]);
    if hrd != 1 || pro != eth_type::IPV4 || b[4] != 6 || b[5] != 4 {
        lay.err |= parse_err::ARP_BAD;
        return;
    }
    let op = u16::from_be_bytes([b[6], b[7]]);
    if op <= 0xff {
        key.w[w::NW_L4] = u64::from(op);
    }
    let spa = u32::from_be_bytes([b[14], b[15], b[16], b[17]]);
    let tpa = u32::from_be_bytes([b[24], b[25], b[26], b[27]]);
    key.w[w::NW_ADDR] = u64::from(spa) | (u64::from(tpa) << 32);
    key.w[w::ARP_SHA] = mac_at(b, 8);
    key.w[w::ARP_THA] = mac_at(b, 18);
}

// ---------------------------------------------------------------------------------------
// Header rewrites.

/// Folds a 32-bit one's-complement sum to 16 bits.
#[inline]
fn fold(mut s: u32) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Internet checksum of `data` (RFC 1071), as stored in headers.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum16(data, 0))
}

/// Turns a partial sum from [`sum16`] into the checksum to store.
pub fn finish(sum: u32) -> u16 {
    !fold(sum)
}

/// One's-complement sum of 16-bit words, starting from `init`.
pub fn sum16(data: &[u8], init: u32) -> u32 {
    let mut s = u64::from(init);
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        s += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        s += u64::from(*last) << 8;
    }
    while s >> 32 != 0 {
        s = (s & 0xffff_ffff) + (s >> 32);
    }
    s as u32
}

/// Updates a stored checksum for a 16-bit word changing from `old` to `new` (RFC 1624).
#[inline]
pub fn csum_update16(csum: u16, old: u16, new: u16) -> u16 {
    !fold(u32::from(!csum) + u32::from(!old) + u32::from(new))
}

/// Updates a stored checksum for a 32-bit value changing.
#[inline]
pub fn csum_update32(csum: u16, old: u32, new: u32) -> u16 {
    let c = csum_update16(csum, (old >> 16) as u16, (new >> 16) as u16);
    csum_update16(c, old as u16, new as u16)
}

/// True when the L3 header was parsed as valid and `need` bytes of it are in the frame:
/// rewrites never touch a header the parser rejected.
fn l3_ok(lay: &Layout, d: &[u8], need: usize) -> bool {
    lay.l3 != 0
        && lay.err & (parse_err::L3_BAD | parse_err::L2_TRUNCATED) == 0
        && usize::from(lay.l3) + need <= d.len()
}

fn rd16(d: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([d[o], d[o + 1]])
}

fn wr16(d: &mut [u8], o: usize, v: u16) {
    d[o..o + 2].copy_from_slice(&v.to_be_bytes());
}

/// Byte offset of the L4 checksum for `proto`, if it has one we maintain.
fn l4_csum_off(proto: u8) -> Option<usize> {
    match proto {
        ip_proto::TCP => Some(16),
        ip_proto::UDP => Some(6),
        ip_proto::ICMPV6 => Some(2),
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

/// Applies a pseudo-header change of a 32-bit word to the L4 checksum.
fn l4_csum_fix32(d: &mut [u8], lay: &Layout, key: &Flow, old: u32, new: u32) {
    let proto = fget!(NwProto, key) as u8;
    let Some(co) = l4_csum_off(proto) else { return };
    if !l4_ok(d, lay, key, co + 2) {
        return;
    }
    let o = usize::from(lay.l4) + co;
    let c = rd16(d, o);
    if proto == ip_proto::UDP && c == 0 {
        return; // UDP over IPv4 without checksum stays without.
    }
    let mut n = csum_update32(c, old, new);
    if proto == ip_proto::UDP && n == 0 {
        n = 0xffff;
    }
    wr16(d, o, n);
}

/// Writes Ethernet source/destination.
pub fn set_eth(d: &mut [u8], src: Option<u64>, dst: Option<u64>) {
    if d.len() < 12 {
        return;
    }
    if let Some(m) = dst {
        d[0..6].copy_from_slice(&m.to_be_bytes()[2..]);
    }
    if let Some(m) = src {
        d[6..12].copy_from_slice(&m.to_be_bytes()[2..]);
    }
}

/// Writes the IPv4 source or destination address, fixing the IP and L4 checksums.
pub fn set_ipv4_addr(d: &mut [u8], lay: &Layout, key: &Flow, is_src: bool, new: u32) {
    let l3 = usize::from(lay.l3);
    if !l3_ok(lay, d, 20) {
        return;
    }
    let o = l3 + if is_src { 12 } else { 16 };
    let old = u32::from_be_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]);
    if old == new {
        return;
    }
    d[o..o + 4].copy_from_slice(&new.to_be_bytes());
    let c = rd16(d, l3 + 10);
    wr16(d, l3 + 10, csum_update32(c, old, new));
    l4_csum_fix32(d, lay, key, old, new);
}

/// Writes an IPv6 address, fixing the L4 checksum.
pub fn set_ipv6_addr(d: &mut [u8], lay: &Layout, key: &Flow, is_src: bool, new: u128) {
    let l3 = usize::from(lay.l3);
    if !l3_ok(lay, d, 40) {
        return;
    }
    let o = l3 + if is_src { 8 } else { 24 };
    let nb = new.to_be_bytes();
    for i in 0..4 {
        let p = o + 4 * i;
        let old = u32::from_be_bytes([d[p], d[p + 1], d[p + 2], d[p + 3]]);
        let nw = u32::from_be_bytes([nb[4 * i], nb[4 * i + 1], nb[4 * i + 2], nb[4 * i + 3]]);
        if old != nw {
            d[p..p + 4].copy_from_slice(&nw.to_be_bytes());
            l4_csum_fix32(d, lay, key, old, nw);
        }
    }
}

/// Writes the IPv4 ToS byte's DSCP/ECN bits under `mask`, fixing the IP checksum; for IPv6,
/// the traffic class.
pub fn set_tos(d: &mut [u8], lay: &Layout, v6: bool, value: u8, mask: u8) {
    let l3 = usize::from(lay.l3);
    if !l3_ok(lay, d, if v6 { 40 } else { 20 }) {
        return;
    }
    if v6 {
        let word = u32::from_be_bytes([d[l3], d[l3 + 1], d[l3 + 2], d[l3 + 3]]);
        let tc = ((word >> 20) & 0xff) as u8;
        let ntc = (tc & !mask) | (value & mask);
        let nw = (word & !(0xff << 20)) | (u32::from(ntc) << 20);
        d[l3..l3 + 4].copy_from_slice(&nw.to_be_bytes());
    } else {
        let old = rd16(d, l3);
        d[l3 + 1] = (d[l3 + 1] & !mask) | (value & mask);
        let new = rd16(d, l3);
        let c = rd16(d, l3 + 10);
        wr16(d, l3 + 10, csum_update16(c, old, new));
    }
}

/// Writes the IPv4 TTL / IPv6 hop limit, fixing the IPv4 checksum.
pub fn set_ttl(d: &mut [u8], lay: &Layout, v6: bool, ttl: u8) {
    let l3 = usize::from(lay.l3);
    if !l3_ok(lay, d, if v6 { 40 } else { 20 }) {
        return;
    }
    if v6 {
        d[l3 + 7] = ttl;
    } else {
        let old = rd16(d, l3 + 8);
        d[l3 + 8] = ttl;
        let new = rd16(d, l3 + 8);
        let c = rd16(d, l3 + 10);
        wr16(d, l3 + 10, csum_update16(c, old, new));
    }
}

/// Reads the IPv4 TTL / IPv6 hop limit from the frame.
pub fn ttl(d: &[u8], lay: &Layout, v6: bool) -> Option<u8> {
    if !l3_ok(lay, d, if v6 { 40 } else { 20 }) {
        return None;
    }
    d.get(usize::from(lay.l3) + if v6 { 7 } else { 8 }).copied()
}

/// Writes an L4 source or destination port (TCP/UDP/SCTP), fixing the checksum.
pub fn set_l4_port(d: &mut [u8], lay: &Layout, key: &Flow, is_src: bool, port: u16) {
    let proto = fget!(NwProto, key) as u8;
    if !matches!(proto, ip_proto::TCP | ip_proto::UDP | ip_proto::SCTP) || !l4_ok(d, lay, key, 4) {
        return;
    }
    let o = usize::from(lay.l4) + if is_src { 0 } else { 2 };
    let old = rd16(d, o);
    if old == port {
        return;
    }
    wr16(d, o, port);
    if let Some(co) = l4_csum_off(proto) {
        if l4_ok(d, lay, key, co + 2) {
            let cpos = usize::from(lay.l4) + co;
            let c = rd16(d, cpos);
            if !(proto == ip_proto::UDP && c == 0) {
                let mut n = csum_update16(c, old, port);
                if proto == ip_proto::UDP && n == 0 {
                    n = 0xffff;
                }
                wr16(d, cpos, n);
            }
        }
    }
    // SCTP uses CRC32c over the whole packet; brisk recomputes it.
    if proto == ip_proto::SCTP {
        let l4 = usize::from(lay.l4);
        let end = (l4 + usize::from(lay.l4_len)).min(d.len());
        if end >= l4 + 12 {
            d[l4 + 8..l4 + 12].fill(0);
            let crc = crc32c(&d[l4..end]);
            d[l4 + 8..l4 + 12].copy_from_slice(&crc.to_le_bytes());
        }
    }
}

/// CRC32c (Castagnoli), bitwise; used only for SCTP rewrites.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
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
    if o == 0 || lay.err & parse_err::ARP_BAD != 0 || o + 28 > d.len() {
        return;
    }
    if let Some(v) = op {
        wr16(d, o + 6, v);
    }
    if let Some(v) = sha {
        d[o + 8..o + 14].copy_from_slice(&v.to_be_bytes()[2..]);
    }
    if let Some(v) = spa {
        d[o + 14..o + 18].copy_from_slice(&v.to_be_bytes());
    }
    if let Some(v) = tha {
        d[o + 18..o + 24].copy_from_slice(&v.to_be_bytes()[2..]);
    }
    if let Some(v) = tpa {
        d[o + 24..o + 28].copy_from_slice(&v.to_be_bytes());
    }
}

/// Inserts an 802.1Q tag after the MAC addresses. Returns false without headroom.
pub fn push_vlan<F: Frame + ?Sized>(f: &mut F, tpid: u16, tci: u16) -> bool {
    if f.len() < 12 || !f.prepend(4) {
        return false;
    }
    let d = f.data_mut();
    d.copy_within(4..16, 0);
    wr16(d, 12, tpid);
    wr16(d, 14, tci & !VLAN_CFI);
    true
}

/// Removes the outer 802.1Q tag, if any.
pub fn pop_vlan<F: Frame + ?Sized>(f: &mut F) -> bool {
    let d = f.data_mut();
    if d.len() < 18 {
        return false;
    }
    let t = rd16(d, 12);
    if t != eth_type::VLAN && t != eth_type::QINQ {
        return false;
    }
    d.copy_within(0..12, 4);
    f.adj(4)
}

/// Rewrites the TCI of the outer tag.
pub fn set_vlan_tci(d: &mut [u8], tci: u16) {
    if d.len() >= 16 {
        wr16(d, 14, tci & !VLAN_CFI);
    }
}

#[cfg(test)]
mod tests;
