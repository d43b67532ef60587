//! ICMP for IPv4 (RFC 792): type, code, checksum and the four bytes of the rest of the
//! header (identifier and sequence number of queries; unused in errors, which quote the
//! offending datagram's header in their payload).

use super::checksum;
use super::{be16, be32, check_len, put16, put32, view_common, Header, Result};

/// Length of the header.
pub const HEADER_LEN: usize = 8;

/// Byte offsets of the header's fields.
pub mod field {
    use std::ops::Range;
    /// Type.
    pub const TYPE: usize = 0;
    /// Code.
    pub const CODE: usize = 1;
    /// Checksum over the whole message.
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Rest of the header.
    pub const REST: Range<usize> = 4..8;
    /// A query's identifier.
    pub const IDENT: Range<usize> = 4..6;
    /// A query's sequence number.
    pub const SEQ: Range<usize> = 6..8;
}

/// A view of an ICMP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

view_common!(IcmpPacket);

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Wraps `buffer` after checking it holds the header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        check_len(Header::Icmp, HEADER_LEN, buffer.as_ref().len())?;
        Ok(IcmpPacket { buffer })
    }

    /// Type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Code.
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum as stored.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The rest of the header as one word.
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        be32(self.buffer.as_ref(), field::REST.start)
    }

    /// A query's identifier.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT.start)
    }

    /// A query's sequence number.
    #[inline]
    pub fn echo_seq(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SEQ.start)
    }

    /// The payload (an error's quoted datagram).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Whether the checksum over the whole buffer is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    /// Sets the type.
    #[inline]
    pub fn set_msg_type(&mut self, t: u8) {
        self.buffer.as_mut()[field::TYPE] = t;
    }

    /// Sets the code.
    #[inline]
    pub fn set_code(&mut self, c: u8) {
        self.buffer.as_mut()[field::CODE] = c;
    }

    /// Stores a checksum.
    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM.start, c);
    }

    /// Sets the rest of the header.
    #[inline]
    pub fn set_rest_of_header(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::REST.start, v);
    }

    /// The payload, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Computes and stores the checksum over the whole buffer (the message).
    #[inline]
    pub fn fill_checksum(&mut self) {
        let b = self.buffer.as_ref();
        let c = checksum::finish(checksum::sum16_skipping(b, field::CHECKSUM.start, 0));
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request() {
        let mut b = [0u8; HEADER_LEN + 4];
        let mut m = IcmpPacket::new_unchecked(&mut b[..]);
        m.set_msg_type(8);
        m.set_code(0);
        m.set_rest_of_header(0x0001_0002);
        m.payload_mut().copy_from_slice(b"ping");
        m.fill_checksum();
        let m = IcmpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((m.msg_type(), m.code()), (8, 0));
        assert_eq!(
            (m.echo_ident(), m.echo_seq(), m.rest_of_header()),
            (1, 2, 0x0001_0002)
        );
        assert_eq!(m.payload(), b"ping");
        assert!(m.verify_checksum());
        assert_ne!(m.checksum(), 0);
    }

    #[test]
    fn truncated_messages_are_refused() {
        let b = [3u8, 1, 0, 0, 0, 0, 0, 0];
        for n in 0..HEADER_LEN {
            assert!(IcmpPacket::new_checked(&b[..n]).is_err());
        }
        let m = IcmpPacket::new_checked(&b[..]).unwrap();
        assert!(m.payload().is_empty());
    }
}
