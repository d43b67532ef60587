//! IPv6 (RFC 8200): the fixed header, the generic extension headers (hop-by-hop,
//! routing, destination options, and AH with its own length unit), and the fragment
//! header.

use super::checksum;
use super::{be128, be16, be32, check_len, put128, put16, view_common, Error, Header, Result};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

/// Next-header values of the extension headers [`Ipv6ExtHeader`] reads.
pub mod ext {
    /// Hop-by-hop options.
    pub const HOP_BY_HOP: u8 = 0;
    /// Routing.
    pub const ROUTING: u8 = 43;
    /// Fragment (read by [`super::Ipv6FragHeader`]).
    pub const FRAGMENT: u8 = 44;
    /// Authentication header (length in 32-bit words, minus 2).
    pub const AH: u8 = 51;
    /// Destination options.
    pub const DEST_OPTS: u8 = 60;
}

/// Byte offsets of the fixed header's fields.
pub mod field {
    use std::ops::Range;
    /// Version, traffic class and flow label.
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    /// Payload length.
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    /// Next header.
    pub const NEXT_HEADER: usize = 6;
    /// Hop limit.
    pub const HOP_LIMIT: usize = 7;
    /// Source address.
    pub const SRC: Range<usize> = 8..24;
    /// Destination address.
    pub const DST: Range<usize> = 24..40;
}

/// A view of an IPv6 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

view_common!(Ipv6Packet);

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buffer` after checking it holds the fixed header, version 6, and the payload
    /// length within the buffer (bytes after it are allowed and are not payload).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let have = buffer.as_ref().len();
        check_len(Header::Ipv6, HEADER_LEN, have)?;
        let p = Ipv6Packet { buffer };
        if p.version() != 6 {
            return Err(Error::BadVersion {
                header: Header::Ipv6,
                version: p.version(),
                expected: 6,
            });
        }
        let len = HEADER_LEN + usize::from(p.payload_len());
        if len > have {
            return Err(Error::LengthBeyondBuffer {
                header: Header::Ipv6,
                len,
                have,
            });
        }
        Ok(p)
    }

    #[inline]
    fn ver_tc_flow(&self) -> u32 {
        be32(self.buffer.as_ref(), field::VER_TC_FLOW.start)
    }

    /// Version.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Traffic class.
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0xfffff
    }

    /// Payload length (extension headers included).
    #[inline]
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PAYLOAD_LEN.start)
    }

    /// Next header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> u128 {
        be128(self.buffer.as_ref(), field::SRC.start)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> u128 {
        be128(self.buffer.as_ref(), field::DST.start)
    }

    /// The payload: payload-length bytes after the fixed header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Sets version, traffic class and flow label.
    #[inline]
    pub fn set_ver_tc_flow(&mut self, version: u8, tc: u8, label: u32) {
        let w = (u32::from(version) << 28) | (u32::from(tc) << 20) | (label & 0xfffff);
        self.buffer.as_mut()[..4].copy_from_slice(&w.to_be_bytes());
    }

    /// Sets the traffic class, keeping version and flow label.
    #[inline]
    pub fn set_traffic_class(&mut self, tc: u8) {
        let w = (self.ver_tc_flow() & !(0xff << 20)) | (u32::from(tc) << 20);
        self.buffer.as_mut()[..4].copy_from_slice(&w.to_be_bytes());
    }

    /// Sets the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, len: u16) {
        put16(self.buffer.as_mut(), field::PAYLOAD_LEN.start, len);
    }

    /// Sets the next header.
    #[inline]
    pub fn set_next_header(&mut self, nh: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = nh;
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, h: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = h;
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: u128) {
        put128(self.buffer.as_mut(), field::SRC.start, a);
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: u128) {
        put128(self.buffer.as_mut(), field::DST.start, a);
    }
}

/// Sum of the pseudo-header of an L4 segment of `len` bytes between `src` and `dst`.
#[inline]
pub fn pseudo_header_sum(src: u128, dst: u128, proto: u8, len: usize) -> u32 {
    checksum::pseudo_header_v6(src, dst, proto, len)
}

/// Length of the smallest extension header (and of the fragment header).
pub const EXT_HEADER_LEN: usize = 8;

/// A view of a hop-by-hop, routing, destination-options or authentication header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6ExtHeader<T: AsRef<[u8]>> {
    buffer: T,
    ah: bool,
}

impl<T: AsRef<[u8]>> Ipv6ExtHeader<T> {
    /// Wraps `buffer` holding an extension header of type `kind` (the next-header value
    /// that announced it: AH counts its length differently) without checking it.
    #[inline]
    pub fn new_unchecked(buffer: T, kind: u8) -> Self {
        Ipv6ExtHeader {
            buffer,
            ah: kind == ext::AH,
        }
    }

    /// Wraps `buffer` after checking it holds the smallest header and then the whole one.
    #[inline]
    pub fn new_checked(buffer: T, kind: u8) -> Result<Self> {
        let have = buffer.as_ref().len();
        check_len(Header::Ipv6Ext, EXT_HEADER_LEN, have)?;
        let h = Self::new_unchecked(buffer, kind);
        check_len(Header::Ipv6Ext, h.header_len(), have)?;
        Ok(h)
    }

    /// Whether `next_header` announces a header this view reads.
    #[inline]
    pub fn reads(next_header: u8) -> bool {
        matches!(
            next_header,
            ext::HOP_BY_HOP | ext::ROUTING | ext::DEST_OPTS | ext::AH
        )
    }

    /// Next header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Length in bytes: (field + 1) × 8, or (field + 2) × 4 for AH.
    #[inline]
    pub fn header_len(&self) -> usize {
        let n = usize::from(self.buffer.as_ref()[1]);
        if self.ah {
            (n + 2) * 4
        } else {
            (n + 1) * 8
        }
    }

    /// The buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// A view of a fragment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6FragHeader<T: AsRef<[u8]>> {
    buffer: T,
}

view_common!(Ipv6FragHeader);

impl<T: AsRef<[u8]>> Ipv6FragHeader<T> {
    /// Wraps `buffer` after checking it holds the header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        check_len(Header::Ipv6Ext, EXT_HEADER_LEN, buffer.as_ref().len())?;
        Ok(Ipv6FragHeader { buffer })
    }

    /// Next header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Fragment offset in 8-byte units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), 2) >> 3
    }

    /// More fragments follow.
    #[inline]
    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), 2) & 1 != 0
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN + payload.len()];
        let mut p = Ipv6Packet::new_unchecked(&mut b[..]);
        p.set_ver_tc_flow(6, 0xb8, 0x12345);
        p.set_payload_len(payload.len() as u16);
        p.set_next_header(ext::HOP_BY_HOP);
        p.set_hop_limit(255);
        p.set_src_addr(0xfe80 << 112 | 1);
        p.set_dst_addr(0xff02 << 112 | 2);
        b[HEADER_LEN..].copy_from_slice(payload);
        b
    }

    #[test]
    fn reads_what_it_writes() {
        let b = packet(&[58, 0, 1, 0, 0, 0, 0, 0, 0x87, 0]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (6, 0xb8, 0x12345)
        );
        assert_eq!(
            (p.payload_len(), p.next_header(), p.hop_limit()),
            (10, 0, 255)
        );
        assert_eq!(p.src_addr(), 0xfe80 << 112 | 1);
        assert_eq!(p.dst_addr(), 0xff02 << 112 | 2);
        assert_eq!(p.payload().len(), 10);
        let h = Ipv6ExtHeader::new_checked(p.payload(), p.next_header()).unwrap();
        assert_eq!((h.next_header(), h.header_len()), (58, 8));
        let mut b = b.clone();
        Ipv6Packet::new_unchecked(&mut b[..]).set_traffic_class(3);
        assert_eq!(Ipv6Packet::new_unchecked(&b[..]).traffic_class(), 3);
        assert_eq!(Ipv6Packet::new_unchecked(&b[..]).flow_label(), 0x12345);
    }

    #[test]
    fn malformed_packets_say_why() {
        let good = packet(&[0; 8]);
        for n in 0..HEADER_LEN {
            assert!(matches!(
                Ipv6Packet::new_checked(&good[..n]),
                Err(Error::Truncated { need: 40, .. })
            ));
        }
        let mut b = good.clone();
        b[0] = 0x46;
        assert!(matches!(
            Ipv6Packet::new_checked(&b[..]),
            Err(Error::BadVersion { version: 4, .. })
        ));
        assert!(matches!(
            Ipv6Packet::new_checked(&good[..47]),
            Err(Error::LengthBeyondBuffer {
                len: 48,
                have: 47,
                ..
            })
        ));
    }

    #[test]
    fn extension_header_lengths() {
        let h = [6u8, 1, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            Ipv6ExtHeader::new_unchecked(&h[..], ext::ROUTING).header_len(),
            16
        );
        assert_eq!(
            Ipv6ExtHeader::new_unchecked(&h[..], ext::AH).header_len(),
            12
        );
        assert!(matches!(
            Ipv6ExtHeader::new_checked(&h[..], ext::DEST_OPTS),
            Err(Error::Truncated {
                need: 16,
                have: 8,
                ..
            })
        ));
        assert!(Ipv6ExtHeader::new_checked(&h[..7], ext::HOP_BY_HOP).is_err());
        assert!(Ipv6ExtHeader::<&[u8]>::reads(ext::AH));
        assert!(!Ipv6ExtHeader::<&[u8]>::reads(ext::FRAGMENT));
    }

    #[test]
    fn fragment_header() {
        let f = [17u8, 0, 0x05, 0x39, 0, 0, 0, 9];
        let h = Ipv6FragHeader::new_checked(&f[..]).unwrap();
        assert_eq!(
            (h.next_header(), h.frag_offset(), h.more_frags()),
            (17, 167, true)
        );
        assert_eq!(h.ident(), 9);
        assert!(Ipv6FragHeader::new_checked(&f[..7]).is_err());
    }

    #[test]
    fn every_getter_of_a_checked_view_is_in_bounds() {
        let mut seed = 0x2545_f491u32;
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let n = (seed >> 24) as usize % 72;
            let mut b: Vec<u8> = (0..n)
                .map(|i| (seed.rotate_left(i as u32) >> 3) as u8)
                .collect();
            if n > 5 {
                b[0] = 0x60;
                b[4] = 0;
                b[5] %= 40;
            }
            if let Ok(p) = Ipv6Packet::new_checked(&b[..]) {
                let _ = (
                    p.traffic_class(),
                    p.flow_label(),
                    p.next_header(),
                    p.hop_limit(),
                );
                let _ = (p.src_addr(), p.dst_addr(), p.payload());
                if let Ok(h) = Ipv6ExtHeader::new_checked(p.payload(), p.next_header()) {
                    let _ = (h.next_header(), h.header_len());
                }
                if let Ok(h) = Ipv6FragHeader::new_checked(p.payload()) {
                    let _ = (h.next_header(), h.frag_offset(), h.more_frags(), h.ident());
                }
            }
        }
    }
}
