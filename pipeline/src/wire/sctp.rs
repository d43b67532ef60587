//! SCTP's common header (RFC 9260): ports, verification tag and the CRC32c checksum over
//! the whole packet.

use super::{be16, be32, check_len, put16, view_common, Header, Result};

/// Length of the common header.
pub const HEADER_LEN: usize = 12;

/// Byte offsets of the common header's fields.
pub mod field {
    use std::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Verification tag.
    pub const VTAG: Range<usize> = 4..8;
    /// CRC32c checksum, stored little-endian as the CRC's bytes come out.
    pub const CHECKSUM: Range<usize> = 8..12;
}

/// A view of an SCTP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SctpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

view_common!(SctpPacket);

impl<T: AsRef<[u8]>> SctpPacket<T> {
    /// Wraps `buffer` after checking it holds the common header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        check_len(Header::Sctp, HEADER_LEN, buffer.as_ref().len())?;
        Ok(SctpPacket { buffer })
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

    /// Verification tag.
    #[inline]
    pub fn verification_tag(&self) -> u32 {
        be32(self.buffer.as_ref(), field::VTAG.start)
    }

    /// Checksum as stored.
    #[inline]
    pub fn checksum(&self) -> u32 {
        let mut c = [0u8; 4];
        c.copy_from_slice(&self.buffer.as_ref()[field::CHECKSUM]);
        u32::from_le_bytes(c)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SctpPacket<T> {
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

    /// Computes and stores the CRC32c over the whole buffer (the packet).
    pub fn fill_checksum(&mut self) {
        let b = self.buffer.as_mut();
        b[field::CHECKSUM].fill(0);
        let crc = crc32c(b);
        b[field::CHECKSUM].copy_from_slice(&crc.to_le_bytes());
    }
}

/// CRC32c (Castagnoli), bitwise: only SCTP rewrites need it.
pub fn crc32c(data: &[u8]) -> u32 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn ports_and_checksum() {
        let mut b = vec![0u8; 28];
        let mut s = SctpPacket::new_unchecked(&mut b[..]);
        s.set_src_port(5000);
        s.set_dst_port(36412);
        s.fill_checksum();
        let s = SctpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            (s.src_port(), s.dst_port(), s.verification_tag()),
            (5000, 36412, 0)
        );
        let mut z = b.clone();
        z[8..12].fill(0);
        assert_eq!(s.checksum(), crc32c(&z));
        for n in 0..HEADER_LEN {
            assert!(SctpPacket::new_checked(&b[..n]).is_err());
        }
    }
}
