//! ICMPv6 (RFC 4443) and the neighbour solicitations and advertisements of neighbour
//! discovery (RFC 4861) with their options.
//!
//! [`Icmpv6Packet`] reads the 4 bytes every message has (type, code, checksum), as OVS's key
//! extraction does; [`NdPacket`] reads a solicitation or advertisement from its start.

use super::checksum;
use super::{be128, be16, check_len, mac48, put128, put16, view_common, Error, Header, Result};
use crate::flow::ip_proto;

/// Length of the part every message has: type, code, checksum.
pub const HEADER_LEN: usize = 4;
/// Type of a neighbour solicitation.
pub const ND_SOLICIT: u8 = 135;
/// Type of a neighbour advertisement.
pub const ND_ADVERT: u8 = 136;

/// Byte offsets of the fields.
pub mod field {
    use std::ops::Range;
    /// Type.
    pub const TYPE: usize = 0;
    /// Code.
    pub const CODE: usize = 1;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Target address of a solicitation or advertisement.
    pub const ND_TARGET: Range<usize> = 8..24;
}

/// A view of an ICMPv6 message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

view_common!(Icmpv6Packet);

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Wraps `buffer` after checking it holds type, code and checksum.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        check_len(Header::Icmpv6, HEADER_LEN, buffer.as_ref().len())?;
        Ok(Icmpv6Packet { buffer })
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

    /// Whether this is a neighbour solicitation or advertisement (code 0).
    #[inline]
    pub fn is_nd(&self) -> bool {
        matches!(self.msg_type(), ND_SOLICIT | ND_ADVERT) && self.code() == 0
    }

    /// The message after type, code and checksum.
    #[inline]
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Whether the checksum between `src` and `dst` is correct, the message being the
    /// whole buffer.
    #[inline]
    pub fn verify_checksum(&self, src: u128, dst: u128) -> bool {
        let b = self.buffer.as_ref();
        let ps = checksum::pseudo_header_v6(src, dst, ip_proto::ICMPV6, b.len());
        checksum::finish(checksum::sum16(b, ps)) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
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

    /// Computes and stores the checksum between `src` and `dst` over the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self, src: u128, dst: u128) {
        let b = self.buffer.as_ref();
        let ps = checksum::pseudo_header_v6(src, dst, ip_proto::ICMPV6, b.len());
        let c = checksum::l4(b, field::CHECKSUM.start, ps, false);
        self.set_checksum(c);
    }
}

/// Length of a solicitation or advertisement before its options.
pub const ND_HEADER_LEN: usize = 24;

/// A view of a neighbour solicitation or advertisement, from its ICMPv6 type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NdPacket<T: AsRef<[u8]>> {
    buffer: T,
}

view_common!(NdPacket);

impl<T: AsRef<[u8]>> NdPacket<T> {
    /// Wraps `buffer` after checking it holds the message up to its options.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        check_len(Header::Nd, ND_HEADER_LEN, buffer.as_ref().len())?;
        Ok(NdPacket { buffer })
    }

    /// Type (135 solicitation, 136 advertisement).
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Target address.
    #[inline]
    pub fn target_addr(&self) -> u128 {
        be128(self.buffer.as_ref(), field::ND_TARGET.start)
    }

    /// The options, in order. Fewer than 8 bytes left end them (ignored, as OVS does); an
    /// option of length 0 or running beyond the buffer is an error, and the last item.
    #[inline]
    pub fn options(&self) -> NdOptions<'_> {
        NdOptions {
            rest: &self.buffer.as_ref()[ND_HEADER_LEN..],
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> NdPacket<T> {
    /// Sets the target address.
    #[inline]
    pub fn set_target_addr(&mut self, a: u128) {
        put128(self.buffer.as_mut(), field::ND_TARGET.start, a);
    }
}

/// Option type: source link-layer address.
pub const OPT_SOURCE_LL: u8 = 1;
/// Option type: target link-layer address.
pub const OPT_TARGET_LL: u8 = 2;

/// One neighbour discovery option: type, length (in 8-byte units) and data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NdOption<'a> {
    bytes: &'a [u8],
}

impl<'a> NdOption<'a> {
    /// Type.
    #[inline]
    pub fn kind(&self) -> u8 {
        self.bytes[0]
    }

    /// Length in bytes, type and length included (a multiple of 8, at least 8).
    #[inline]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never: an option has at least 8 bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The link-layer address of a source or target link-layer address option of 8 bytes.
    #[inline]
    pub fn link_layer_addr(&self) -> u64 {
        mac48(self.bytes, 2)
    }

    /// The option's bytes, type and length included.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// The options of an [`NdPacket`].
#[derive(Clone, Debug)]
pub struct NdOptions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for NdOptions<'a> {
    type Item = Result<NdOption<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.len() < 8 {
            return None;
        }
        let len = usize::from(self.rest[1]) * 8;
        if len == 0 || len > self.rest.len() {
            let have = self.rest.len();
            self.rest = &[];
            return Some(Err(if len == 0 {
                Error::BadHeaderLength {
                    header: Header::NdOption,
                    len,
                    min: 8,
                }
            } else {
                Error::LengthBeyondBuffer {
                    header: Header::NdOption,
                    len,
                    have,
                }
            }));
        }
        let (opt, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(Ok(NdOption { bytes: opt }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solicit(opts: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; ND_HEADER_LEN];
        let mut m = Icmpv6Packet::new_unchecked(&mut b[..]);
        m.set_msg_type(ND_SOLICIT);
        m.set_code(0);
        NdPacket::new_unchecked(&mut b[..]).set_target_addr(0xfe80 << 112 | 7);
        b.extend_from_slice(opts);
        Icmpv6Packet::new_unchecked(&mut b[..]).fill_checksum(1, 2);
        b
    }

    #[test]
    fn solicitation_with_its_source_address() {
        let b = solicit(&[1, 1, 2, 0, 0, 0, 0, 9, 0xee, 0xee]);
        let m = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert!(m.is_nd());
        assert!(m.verify_checksum(1, 2));
        assert!(!m.verify_checksum(1, 3));
        assert_eq!(m.body().len(), b.len() - 4);
        let nd = NdPacket::new_checked(&b[..]).unwrap();
        assert_eq!(nd.target_addr(), 0xfe80 << 112 | 7);
        let opts: Vec<_> = nd.options().collect();
        assert_eq!(opts.len(), 1, "the last 2 bytes are too few for an option");
        let o = opts[0].unwrap();
        assert_eq!(
            (o.kind(), o.len(), o.link_layer_addr()),
            (1, 8, 0x0200_0000_0009)
        );
    }

    #[test]
    fn bad_option_lengths_end_the_options() {
        let zero = solicit(&[1, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0]);
        let nd = NdPacket::new_checked(&zero[..]).unwrap();
        let opts: Vec<_> = nd.options().collect();
        assert!(matches!(opts[..], [Err(Error::BadHeaderLength { .. })]));
        let long = solicit(&[1, 2, 0, 0, 0, 0, 0, 0]);
        let nd = NdPacket::new_checked(&long[..]).unwrap();
        assert!(matches!(
            nd.options().next(),
            Some(Err(Error::LengthBeyondBuffer {
                len: 16,
                have: 8,
                ..
            }))
        ));
    }

    #[test]
    fn truncated_messages_are_refused() {
        let b = solicit(&[]);
        for n in 0..HEADER_LEN {
            assert!(Icmpv6Packet::new_checked(&b[..n]).is_err());
        }
        for n in 0..ND_HEADER_LEN {
            assert!(NdPacket::new_checked(&b[..n]).is_err());
        }
        let m = Icmpv6Packet::new_checked(&b[..4]).unwrap();
        assert!(m.body().is_empty() && m.is_nd());
    }
}
