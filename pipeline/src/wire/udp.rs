//! UDP (RFC 768).

use super::checksum;
use super::{be16, check_len, put16, view_common, Error, Header, Result};
use crate::flow::ip_proto;

/// Length of the header.
pub const HEADER_LEN: usize = 8;

/// Byte offsets of the header's fields.
pub mod field {
    use std::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Length, header included.
    pub const LENGTH: Range<usize> = 4..6;
    /// Checksum (0: none, over IPv4).
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// A view of a UDP datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

view_common!(UdpPacket);

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps `buffer` after checking it holds the header and a length field between the
    /// header's length and the buffer's (bytes after it are allowed and are not payload).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let have = buffer.as_ref().len();
        check_len(Header::Udp, HEADER_LEN, have)?;
        let p = UdpPacket { buffer };
        let len = usize::from(p.len());
        if len < HEADER_LEN {
            return Err(Error::BadTotalLength {
                header: Header::Udp,
                len,
                min: HEADER_LEN,
            });
        }
        if len > have {
            return Err(Error::LengthBeyondBuffer {
                header: Header::Udp,
                len,
                have,
            });
        }
        Ok(p)
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// Length field, header included.
    #[inline]
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Whether the length field says there is no payload.
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// Checksum as stored.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The datagram as its length field bounds it.
    #[inline(always)]
    fn datagram(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.len())]
    }

    /// The payload, as the length field bounds it.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.datagram()[HEADER_LEN..]
    }

    /// Whether the checksum is correct over IPv4 between `src` and `dst`, or absent (0).
    #[inline]
    pub fn verify_checksum_v4(&self, src: u32, dst: u32) -> bool {
        self.checksum() == 0 || self.sums_to_zero_v4(src, dst)
    }

    /// The sum over pseudo-header and datagram.
    #[inline(always)]
    fn sums_to_zero_v4(&self, src: u32, dst: u32) -> bool {
        let d = self.datagram();
        let ps = checksum::pseudo_header_v4(src, dst, ip_proto::UDP, d.len());
        checksum::finish(checksum::sum16(d, ps)) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, p: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT.start, p);
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, p: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT.start, p);
    }

    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, len: u16) {
        put16(self.buffer.as_mut(), field::LENGTH.start, len);
    }

    /// Stores a checksum.
    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM.start, c);
    }

    /// The payload, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..len]
    }

    /// Computes and stores the checksum over IPv4 between `src` and `dst` (0xffff for a
    /// computed 0, which would mean none), over the datagram as its length field bounds it.
    #[inline]
    pub fn fill_checksum_v4(&mut self, src: u32, dst: u32) {
        let ps = checksum::pseudo_header_v4(src, dst, ip_proto::UDP, usize::from(self.len()));
        self.fill(ps);
    }

    /// Computes and stores the checksum over IPv6 between `src` and `dst`.
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: u128, dst: u128) {
        let ps = checksum::pseudo_header_v6(src, dst, ip_proto::UDP, usize::from(self.len()));
        self.fill(ps);
    }

    #[inline]
    fn fill(&mut self, pseudo: u32) {
        let c = checksum::l4(self.datagram(), field::CHECKSUM.start, pseudo, true);
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: u32 = 0x0a00_0001;
    const DST: u32 = 0x0a00_0002;

    fn datagram(payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN + payload.len()];
        let mut u = UdpPacket::new_unchecked(&mut b[..]);
        u.set_src_port(1024);
        u.set_dst_port(53);
        u.set_len((HEADER_LEN + payload.len()) as u16);
        u.payload_mut().copy_from_slice(payload);
        u.fill_checksum_v4(SRC, DST);
        b
    }

    #[test]
    fn reads_what_it_writes_and_verifies() {
        let b = datagram(b"hello");
        let u = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((u.src_port(), u.dst_port(), u.len()), (1024, 53, 13));
        assert_eq!(u.payload(), b"hello");
        assert!(!u.is_empty());
        assert!(u.verify_checksum_v4(SRC, DST));
        assert!(!u.verify_checksum_v4(SRC, DST + 1));
        let mut none = b.clone();
        none[6..8].fill(0);
        assert!(UdpPacket::new_checked(&none[..])
            .unwrap()
            .verify_checksum_v4(1, 2));
        let mut v6 = b.clone();
        UdpPacket::new_unchecked(&mut v6[..]).fill_checksum_v6(1, 2);
        let ps = checksum::pseudo_header_v6(1, 2, 17, v6.len());
        assert_eq!(checksum::finish(checksum::sum16(&v6, ps)), 0);
    }

    #[test]
    fn malformed_datagrams_say_why() {
        let b = datagram(b"hello");
        for n in 0..HEADER_LEN {
            assert!(matches!(
                UdpPacket::new_checked(&b[..n]),
                Err(Error::Truncated { need: 8, .. })
            ));
        }
        assert!(matches!(
            UdpPacket::new_checked(&b[..12]),
            Err(Error::LengthBeyondBuffer {
                len: 13,
                have: 12,
                ..
            })
        ));
        let mut short = b.clone();
        short[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert!(matches!(
            UdpPacket::new_checked(&short[..]),
            Err(Error::BadTotalLength { len: 7, .. })
        ));
        // Trailing bytes are not payload.
        let mut padded = b.clone();
        padded.extend_from_slice(&[0xee; 9]);
        let u = UdpPacket::new_checked(&padded[..]).unwrap();
        assert_eq!(u.payload(), b"hello");
        assert!(u.verify_checksum_v4(SRC, DST));
    }

    #[test]
    fn every_getter_of_a_checked_view_is_in_bounds() {
        for n in 0..24usize {
            for len in 0..32u16 {
                let mut b = vec![0xa5u8; n];
                if n >= 6 {
                    b[4..6].copy_from_slice(&len.to_be_bytes());
                }
                if let Ok(u) = UdpPacket::new_checked(&b[..]) {
                    let _ = (u.src_port(), u.dst_port(), u.checksum(), u.payload());
                    let _ = u.verify_checksum_v4(SRC, DST);
                }
            }
        }
    }
}
