//! IPv4 (RFC 791).

use super::checksum;
use super::{be16, be32, check_len, put16, put32, view_common, Error, Header, Result};

/// Length of the header without options (the minimum).
pub const HEADER_LEN: usize = 20;

/// Byte offsets of the header's fields.
pub mod field {
    use std::ops::Range;
    /// Version (high nibble) and header length in 32-bit words (low nibble).
    pub const VER_IHL: usize = 0;
    /// Type of service: DSCP and ECN.
    pub const TOS: usize = 1;
    /// Total length.
    pub const LENGTH: Range<usize> = 2..4;
    /// Identification.
    pub const IDENT: Range<usize> = 4..6;
    /// Flags (reserved, DF, MF) and fragment offset.
    pub const FLAGS_FRAG: Range<usize> = 6..8;
    /// Time to live.
    pub const TTL: usize = 8;
    /// Protocol.
    pub const PROTOCOL: usize = 9;
    /// Header checksum.
    pub const CHECKSUM: Range<usize> = 10..12;
    /// Source address.
    pub const SRC: Range<usize> = 12..16;
    /// Destination address.
    pub const DST: Range<usize> = 16..20;
}

/// The don't-fragment flag in [`Ipv4Packet::flags_frag`].
pub const DF: u16 = 0x4000;
/// The more-fragments flag in [`Ipv4Packet::flags_frag`].
pub const MF: u16 = 0x2000;
/// The fragment offset bits (in 8-byte units) of [`Ipv4Packet::flags_frag`].
pub const FRAG_OFFSET: u16 = 0x1fff;

/// A view of an IPv4 datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

view_common!(Ipv4Packet);

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` after checking it holds a whole datagram: the fixed header, version
    /// 4, a header length of at least 20 bytes within the total length, and the total
    /// length within the buffer (bytes after it, such as Ethernet padding, are allowed and
    /// are not part of [`payload`](Self::payload)).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_checked_header(buffer)?;
        let (hl, tl, have) = (
            p.header_len(),
            usize::from(p.total_len()),
            p.as_bytes().len(),
        );
        if tl < hl {
            return Err(Error::BadTotalLength {
                header: Header::Ipv4,
                len: tl,
                min: hl,
            });
        }
        if tl > have {
            return Err(Error::LengthBeyondBuffer {
                header: Header::Ipv4,
                len: tl,
                have,
            });
        }
        Ok(p)
    }

    /// Wraps `buffer` after checking only its header (fixed part, version, header length
    /// within the buffer): for a datagram quoted in an ICMP error, cut short by design, whose
    /// total length says what it was. [`payload`](Self::payload) stops at the end of the
    /// buffer.
    #[inline]
    pub fn new_checked_header(buffer: T) -> Result<Self> {
        let have = buffer.as_ref().len();
        check_len(Header::Ipv4, HEADER_LEN, have)?;
        let p = Ipv4Packet { buffer };
        if p.version() != 4 {
            return Err(Error::BadVersion {
                header: Header::Ipv4,
                version: p.version(),
                expected: 4,
            });
        }
        let hl = p.header_len();
        if hl < HEADER_LEN {
            return Err(Error::BadHeaderLength {
                header: Header::Ipv4,
                len: hl,
                min: HEADER_LEN,
            });
        }
        check_len(Header::Ipv4, hl, have)?;
        Ok(p)
    }

    /// Version.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (the IHL field times 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Type of service byte (DSCP and ECN).
    #[inline]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    /// Total length, header included.
    #[inline]
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT.start)
    }

    /// Flags and fragment offset as on the wire ([`DF`], [`MF`], [`FRAG_OFFSET`]).
    #[inline]
    pub fn flags_frag(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLAGS_FRAG.start)
    }

    /// The don't-fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & DF != 0
    }

    /// The more-fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & MF != 0
    }

    /// Fragment offset in 8-byte units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        self.flags_frag() & FRAG_OFFSET
    }

    /// A fragment: more fragments follow, or the offset is not zero.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (MF | FRAG_OFFSET) != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Header checksum as stored.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SRC.start)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> u32 {
        be32(self.buffer.as_ref(), field::DST.start)
    }

    /// Whether the header checksum is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(&self.buffer.as_ref()[..self.header_len()]) == 0
    }

    /// The header, options included.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }

    /// The options.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.header()[HEADER_LEN.min(self.header_len())..]
    }

    /// The payload: the bytes after the header up to the total length, or to the end of
    /// the buffer when the datagram is cut short (a view from
    /// [`new_checked_header`](Self::new_checked_header)).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = usize::from(self.total_len()).min(b.len());
        &b[self.header_len().min(end)..end]
    }

    /// Sum of the pseudo-header of this datagram's L4 segment, for its checksum.
    #[inline]
    pub fn pseudo_header_sum(&self) -> u32 {
        let len = usize::from(self.total_len()).saturating_sub(self.header_len());
        checksum::pseudo_header_v4(self.src_addr(), self.dst_addr(), self.protocol(), len)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the version, keeping the header length.
    #[inline]
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (v << 4);
    }

    /// Sets the header length in bytes (a multiple of 4), keeping the version.
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) as u8 & 0x0f);
    }

    /// Sets the type of service byte.
    #[inline]
    pub fn set_tos(&mut self, tos: u8) {
        self.buffer.as_mut()[field::TOS] = tos;
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        put16(self.buffer.as_mut(), field::LENGTH.start, len);
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, id: u16) {
        put16(self.buffer.as_mut(), field::IDENT.start, id);
    }

    /// Sets flags and fragment offset as on the wire.
    #[inline]
    pub fn set_flags_frag(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::FLAGS_FRAG.start, v);
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, proto: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = proto;
    }

    /// Stores a header checksum.
    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM.start, c);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: u32) {
        put32(self.buffer.as_mut(), field::SRC.start, a);
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: u32) {
        put32(self.buffer.as_mut(), field::DST.start, a);
    }

    /// Computes and stores the header checksum.
    #[inline]
    pub fn fill_checksum(&mut self) {
        let sum = checksum::sum16_skipping(self.header(), field::CHECKSUM.start, 0);
        self.set_checksum(checksum::finish(sum));
    }

    /// The payload, writable (as [`payload`](Self::payload)).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, tl) = (self.header_len(), usize::from(self.total_len()));
        let b = self.buffer.as_mut();
        let end = tl.min(b.len());
        &mut b[hl.min(end)..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A datagram of `payload` bytes with `opts` bytes of options, checksum filled.
    fn datagram(opts: usize, payload: usize) -> Vec<u8> {
        let hl = HEADER_LEN + opts;
        let mut b = vec![0u8; hl + payload];
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_version(4);
        p.set_header_len(hl);
        p.set_tos(0xb8);
        p.set_total_len((hl + payload) as u16);
        p.set_ident(0x1234);
        p.set_flags_frag(DF);
        p.set_ttl(64);
        p.set_protocol(17);
        p.set_src_addr(0x0a4f_01c9);
        p.set_dst_addr(0x0a4f_01ca);
        p.fill_checksum();
        for (i, x) in p.payload_mut().iter_mut().enumerate() {
            *x = i as u8;
        }
        b
    }

    #[test]
    fn reads_what_it_writes() {
        let b = datagram(4, 10);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.version(), p.header_len(), p.total_len()), (4, 24, 34));
        assert_eq!(
            (p.tos(), p.ident(), p.ttl(), p.protocol()),
            (0xb8, 0x1234, 64, 17)
        );
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!((p.src_addr(), p.dst_addr()), (0x0a4f_01c9, 0x0a4f_01ca));
        assert!(p.verify_checksum());
        assert_eq!(p.options(), &[0, 0, 0, 0]);
        assert_eq!(p.payload(), &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(
            p.pseudo_header_sum(),
            checksum::pseudo_header_v4(0x0a4f_01c9, 0x0a4f_01ca, 17, 10)
        );
    }

    #[test]
    fn fragments() {
        let mut b = datagram(0, 8);
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_flags_frag(MF);
        assert!(p.is_fragment() && p.more_frags() && p.frag_offset() == 0);
        p.set_flags_frag(3);
        assert!(p.is_fragment() && !p.more_frags() && p.frag_offset() == 3);
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert!(p.verify_checksum());
    }

    #[test]
    fn padding_is_not_payload() {
        let mut b = datagram(0, 6);
        b.extend_from_slice(&[0xee; 20]);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload().len(), 6);
    }

    #[test]
    fn malformed_datagrams_say_why() {
        let good = datagram(0, 8);
        let check = |b: &[u8]| Ipv4Packet::new_checked(b).map(|_| ());
        for n in 0..HEADER_LEN {
            assert!(matches!(
                check(&good[..n]),
                Err(Error::Truncated { need: 20, .. })
            ));
        }
        let mut b = good.clone();
        b[0] = 0x65;
        assert!(matches!(
            check(&b),
            Err(Error::BadVersion { version: 6, .. })
        ));
        b[0] = 0x44;
        assert!(matches!(
            check(&b),
            Err(Error::BadHeaderLength { len: 16, .. })
        ));
        b[0] = 0x4f;
        assert!(matches!(
            check(&b),
            Err(Error::Truncated {
                need: 60,
                have: 28,
                ..
            })
        ));
        let mut b = good.clone();
        b[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert!(matches!(
            check(&b),
            Err(Error::BadTotalLength {
                len: 19,
                min: 20,
                ..
            })
        ));
        b[2..4].copy_from_slice(&29u16.to_be_bytes());
        assert!(matches!(
            check(&b),
            Err(Error::LengthBeyondBuffer {
                len: 29,
                have: 28,
                ..
            })
        ));
        assert_eq!(check(&good), Ok(()));
    }

    #[test]
    fn a_quoted_header_may_be_cut_short() {
        let b = datagram(0, 40);
        let cut = &b[..28];
        assert!(Ipv4Packet::new_checked(cut).is_err());
        let p = Ipv4Packet::new_checked_header(cut).unwrap();
        assert_eq!(p.payload().len(), 8);
        let mut bad = b[..28].to_vec();
        bad[0] = 0x46;
        assert!(matches!(
            Ipv4Packet::new_checked_header(&bad[..20]),
            Err(Error::Truncated {
                need: 24,
                have: 20,
                ..
            })
        ));
    }

    #[test]
    fn every_getter_of_a_checked_view_is_in_bounds() {
        // Hostile bytes: every buffer of every length that passes a check reads in bounds.
        let mut seed = 0x9e37_79b9u32;
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let n = (seed >> 24) as usize % 80;
            let mut b: Vec<u8> = (0..n)
                .map(|i| (seed.rotate_left(i as u32) >> 8) as u8)
                .collect();
            if let Some(x) = b.first_mut() {
                *x = 0x40 | (*x & 0x0f);
            }
            for p in [
                Ipv4Packet::new_checked(&b[..]),
                Ipv4Packet::new_checked_header(&b[..]),
            ]
            .into_iter()
            .flatten()
            {
                let _ = (p.tos(), p.ident(), p.flags_frag(), p.ttl(), p.protocol());
                let _ = (
                    p.checksum(),
                    p.src_addr(),
                    p.dst_addr(),
                    p.verify_checksum(),
                );
                let _ = (p.header(), p.options(), p.payload(), p.pseudo_header_sum());
            }
        }
    }
}
