//! TCP (RFC 9293). A segment has no length field: its length is the buffer's, which the
//! caller bounds by the IP header's length.

use super::checksum;
use super::{be16, be32, check_len, put16, put32, view_common, Error, Header, Result};
use crate::flow::ip_proto;

/// Length of the header without options (the minimum).
pub const HEADER_LEN: usize = 20;

/// Byte offsets of the header's fields.
pub mod field {
    use std::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Sequence number.
    pub const SEQ: Range<usize> = 4..8;
    /// Acknowledgement number.
    pub const ACK: Range<usize> = 8..12;
    /// Data offset (high 4 bits, in 32-bit words) and flags (low 12 bits).
    pub const OFF_FLAGS: Range<usize> = 12..14;
    /// Window.
    pub const WINDOW: Range<usize> = 14..16;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 16..18;
    /// Urgent pointer.
    pub const URGENT: Range<usize> = 18..20;
}

/// Flag bits of [`TcpPacket::flags`].
pub mod flags {
    /// FIN.
    pub const FIN: u16 = 0x001;
    /// SYN.
    pub const SYN: u16 = 0x002;
    /// RST.
    pub const RST: u16 = 0x004;
    /// PSH.
    pub const PSH: u16 = 0x008;
    /// ACK.
    pub const ACK: u16 = 0x010;
}

/// A view of a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

view_common!(TcpPacket);

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps `buffer` after checking it holds the fixed header and a data offset of at
    /// least 20 bytes within the buffer.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let have = buffer.as_ref().len();
        check_len(Header::Tcp, HEADER_LEN, have)?;
        let p = TcpPacket { buffer };
        let hl = p.header_len();
        if hl < HEADER_LEN {
            return Err(Error::BadHeaderLength {
                header: Header::Tcp,
                len: hl,
                min: HEADER_LEN,
            });
        }
        check_len(Header::Tcp, hl, have)?;
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

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQ.start)
    }

    /// Acknowledgement number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        be32(self.buffer.as_ref(), field::ACK.start)
    }

    #[inline]
    fn off_flags(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OFF_FLAGS.start)
    }

    /// Header length in bytes (data offset times 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::OFF_FLAGS.start] >> 4) * 4
    }

    /// The 12 flag bits ([`flags`]: FIN 0x001 ... and the reserved bits).
    #[inline]
    pub fn flags(&self) -> u16 {
        self.off_flags() & 0x0fff
    }

    /// Window.
    #[inline]
    pub fn window(&self) -> u16 {
        be16(self.buffer.as_ref(), field::WINDOW.start)
    }

    /// Checksum as stored.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent(&self) -> u16 {
        be16(self.buffer.as_ref(), field::URGENT.start)
    }

    /// The options.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN.min(self.header_len())..self.header_len()]
    }

    /// The payload: everything after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Whether the checksum over IPv4 between `src` and `dst` is correct.
    #[inline]
    pub fn verify_checksum_v4(&self, src: u32, dst: u32) -> bool {
        let b = self.buffer.as_ref();
        let ps = checksum::pseudo_header_v4(src, dst, ip_proto::TCP, b.len());
        checksum::finish(checksum::sum16(b, ps)) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
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

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::SEQ.start, v);
    }

    /// Sets the acknowledgement number.
    #[inline]
    pub fn set_ack_number(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::ACK.start, v);
    }

    /// Sets the header length in bytes (a multiple of 4), keeping the flags.
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        let v = (self.off_flags() & 0x0fff) | (((len / 4) as u16) << 12);
        put16(self.buffer.as_mut(), field::OFF_FLAGS.start, v);
    }

    /// Sets the 12 flag bits, keeping the data offset.
    #[inline]
    pub fn set_flags(&mut self, flags: u16) {
        let v = (self.off_flags() & 0xf000) | (flags & 0x0fff);
        put16(self.buffer.as_mut(), field::OFF_FLAGS.start, v);
    }

    /// Sets the window.
    #[inline]
    pub fn set_window(&mut self, w: u16) {
        put16(self.buffer.as_mut(), field::WINDOW.start, w);
    }

    /// Stores a checksum.
    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM.start, c);
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent(&mut self, u: u16) {
        put16(self.buffer.as_mut(), field::URGENT.start, u);
    }

    /// The payload, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }

    /// Computes and stores the checksum over IPv4 between `src` and `dst`, the segment
    /// being the whole buffer.
    #[inline]
    pub fn fill_checksum_v4(&mut self, src: u32, dst: u32) {
        let len = self.buffer.as_ref().len();
        self.fill(checksum::pseudo_header_v4(src, dst, ip_proto::TCP, len));
    }

    /// Computes and stores the checksum over IPv6 between `src` and `dst`.
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: u128, dst: u128) {
        let len = self.buffer.as_ref().len();
        self.fill(checksum::pseudo_header_v6(src, dst, ip_proto::TCP, len));
    }

    #[inline]
    fn fill(&mut self, pseudo: u32) {
        let c = checksum::l4(self.buffer.as_ref(), field::CHECKSUM.start, pseudo, false);
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(opts: usize, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN + opts + payload.len()];
        let mut t = TcpPacket::new_unchecked(&mut b[..]);
        t.set_src_port(40000);
        t.set_dst_port(80);
        t.set_seq_number(1000);
        t.set_ack_number(1);
        t.set_flags(flags::SYN | flags::ACK);
        t.set_header_len(HEADER_LEN + opts);
        t.set_window(65535);
        t.set_urgent(0);
        t.payload_mut().copy_from_slice(payload);
        t.fill_checksum_v4(1, 2);
        b
    }

    #[test]
    fn reads_what_it_writes_and_verifies() {
        let b = segment(4, b"GET");
        let t = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((t.src_port(), t.dst_port()), (40000, 80));
        assert_eq!(
            (t.seq_number(), t.ack_number(), t.window()),
            (1000, 1, 65535)
        );
        assert_eq!((t.header_len(), t.flags(), t.urgent()), (24, 0x012, 0));
        assert_eq!(b[12], 0x60, "data offset written beside the flags");
        assert_eq!(t.options(), &[0, 0, 0, 0]);
        assert_eq!(t.payload(), b"GET");
        assert!(t.verify_checksum_v4(1, 2));
        assert!(!t.verify_checksum_v4(1, 3));
        let mut v6 = b.clone();
        TcpPacket::new_unchecked(&mut v6[..]).fill_checksum_v6(5, 6);
        let ps = checksum::pseudo_header_v6(5, 6, 6, v6.len());
        assert_eq!(checksum::finish(checksum::sum16(&v6, ps)), 0);
    }

    #[test]
    fn malformed_segments_say_why() {
        let b = segment(8, b"");
        for n in 0..HEADER_LEN {
            assert!(matches!(
                TcpPacket::new_checked(&b[..n]),
                Err(Error::Truncated { need: 20, .. })
            ));
        }
        assert!(matches!(
            TcpPacket::new_checked(&b[..27]),
            Err(Error::Truncated {
                need: 28,
                have: 27,
                ..
            })
        ));
        let mut bad = b.clone();
        bad[12] = 0x40;
        assert!(matches!(
            TcpPacket::new_checked(&bad[..]),
            Err(Error::BadHeaderLength { len: 16, .. })
        ));
    }

    #[test]
    fn every_getter_of_a_checked_view_is_in_bounds() {
        for n in 0..72usize {
            for off in 0..16u8 {
                let mut b = vec![0x5au8; n];
                if n > 12 {
                    b[12] = off << 4;
                }
                if let Ok(t) = TcpPacket::new_checked(&b[..]) {
                    let _ = (t.src_port(), t.dst_port(), t.seq_number(), t.ack_number());
                    let _ = (t.flags(), t.window(), t.checksum(), t.urgent());
                    let _ = (t.options(), t.payload(), t.verify_checksum_v4(1, 2));
                }
            }
        }
    }
}
