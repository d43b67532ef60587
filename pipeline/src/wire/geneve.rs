//! Geneve (RFC 8926): the base header and its options, carried in UDP.

use super::{be16, be32, check_len, put16, put32, view_common, Error, Header, Result};

/// Length of the base header.
pub const HEADER_LEN: usize = 8;
/// Length of an option's header (class, type, length).
pub const OPTION_HEADER_LEN: usize = 4;

/// Byte offsets of the base header's fields.
pub mod field {
    use std::ops::Range;
    /// Version (2 high bits) and options length in 4-byte units (6 low bits).
    pub const VER_OPT_LEN: usize = 0;
    /// Flags: O (OAM, 0x80), C (critical options present, 0x40), 6 reserved bits.
    pub const FLAGS: usize = 1;
    /// Protocol type of the payload (an ethertype).
    pub const PROTOCOL: Range<usize> = 2..4;
    /// VNI (3 bytes) and a reserved byte.
    pub const VNI: Range<usize> = 4..8;
}

/// A view of a Geneve header (the payload of its UDP datagram).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenevePacket<T: AsRef<[u8]>> {
    buffer: T,
}

view_common!(GenevePacket);

impl<T: AsRef<[u8]>> GenevePacket<T> {
    /// Wraps `buffer` after checking it holds the base header, version 0, and the options
    /// the header announces.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let have = buffer.as_ref().len();
        check_len(Header::Geneve, HEADER_LEN, have)?;
        let p = GenevePacket { buffer };
        if p.version() != 0 {
            return Err(Error::BadVersion {
                header: Header::Geneve,
                version: p.version(),
                expected: 0,
            });
        }
        check_len(Header::Geneve, p.header_len(), have)?;
        Ok(p)
    }

    /// Version.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_OPT_LEN] >> 6
    }

    /// Length of the options in bytes.
    #[inline]
    pub fn options_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_OPT_LEN] & 0x3f) * 4
    }

    /// Length of the header with its options.
    #[inline]
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }

    /// The O bit: an OAM packet.
    #[inline]
    pub fn oam(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & 0x80 != 0
    }

    /// The C bit: critical options are present.
    #[inline]
    pub fn critical(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & 0x40 != 0
    }

    /// Protocol type of the payload.
    #[inline]
    pub fn protocol_type(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PROTOCOL.start)
    }

    /// Virtual network identifier (24 bits).
    #[inline]
    pub fn vni(&self) -> u32 {
        be32(self.buffer.as_ref(), field::VNI.start) >> 8
    }

    /// The options' bytes.
    #[inline]
    pub fn options_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The options, in order.
    #[inline]
    pub fn options(&self) -> GeneveOptions<'_> {
        GeneveOptions {
            rest: self.options_bytes(),
        }
    }

    /// The payload (the tunnelled frame).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GenevePacket<T> {
    /// Sets the version, keeping the options length.
    #[inline]
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_OPT_LEN];
        *b = (*b & 0x3f) | (v << 6);
    }

    /// Sets the options length in bytes (a multiple of 4), keeping the version.
    #[inline]
    pub fn set_options_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::VER_OPT_LEN];
        *b = (*b & 0xc0) | ((len / 4) as u8 & 0x3f);
    }

    /// Writes the flags byte: O and C, the reserved bits zero.
    #[inline]
    pub fn set_flags(&mut self, oam: bool, critical: bool) {
        self.buffer.as_mut()[field::FLAGS] = (u8::from(oam) << 7) | (u8::from(critical) << 6);
    }

    /// Sets the protocol type.
    #[inline]
    pub fn set_protocol_type(&mut self, ty: u16) {
        put16(self.buffer.as_mut(), field::PROTOCOL.start, ty);
    }

    /// Writes the VNI (its low 24 bits) and zeroes the reserved byte after it.
    #[inline]
    pub fn set_vni(&mut self, vni: u32) {
        put32(
            self.buffer.as_mut(),
            field::VNI.start,
            (vni & 0x00ff_ffff) << 8,
        );
    }

    /// The options' bytes, writable (as the options length says).
    #[inline]
    pub fn options_bytes_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..hl]
    }
}

/// Byte offsets of an option's fields.
pub mod option_field {
    use std::ops::Range;
    /// Option class.
    pub const CLASS: Range<usize> = 0..2;
    /// Type (the high bit marks a critical option).
    pub const TYPE: usize = 2;
    /// 3 reserved bits and the data length in 4-byte units (5 bits).
    pub const LEN: usize = 3;
}

/// A view of one Geneve option: its header and data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GeneveOption<T: AsRef<[u8]>> {
    buffer: T,
}

view_common!(GeneveOption);

impl<T: AsRef<[u8]>> GeneveOption<T> {
    /// Wraps `buffer` after checking it holds the option's header and data.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let have = buffer.as_ref().len();
        check_len(Header::GeneveOption, OPTION_HEADER_LEN, have)?;
        let o = GeneveOption { buffer };
        let len = OPTION_HEADER_LEN + o.data_len();
        if len > have {
            return Err(Error::LengthBeyondBuffer {
                header: Header::GeneveOption,
                len,
                have,
            });
        }
        Ok(o)
    }

    /// Option class.
    #[inline]
    pub fn class(&self) -> u16 {
        be16(self.buffer.as_ref(), option_field::CLASS.start)
    }

    /// Type (the high bit marks a critical option).
    #[inline]
    pub fn option_type(&self) -> u8 {
        self.buffer.as_ref()[option_field::TYPE]
    }

    /// Whether the option is critical (a receiver that does not know it must drop).
    #[inline]
    pub fn is_critical(&self) -> bool {
        self.option_type() & 0x80 != 0
    }

    /// Length of the data in bytes.
    #[inline]
    pub fn data_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[option_field::LEN] & 0x1f) * 4
    }

    /// Length of the option, header included.
    #[inline]
    pub fn len(&self) -> usize {
        OPTION_HEADER_LEN + self.data_len()
    }

    /// Never: an option has a header.
    #[inline]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The data.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[OPTION_HEADER_LEN..self.len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GeneveOption<T> {
    /// Sets the class.
    #[inline]
    pub fn set_class(&mut self, class: u16) {
        put16(self.buffer.as_mut(), option_field::CLASS.start, class);
    }

    /// Sets the type.
    #[inline]
    pub fn set_option_type(&mut self, ty: u8) {
        self.buffer.as_mut()[option_field::TYPE] = ty;
    }

    /// Writes the data length in bytes (a multiple of 4, at most 124), the reserved bits
    /// zero.
    #[inline]
    pub fn set_data_len(&mut self, len: usize) {
        self.buffer.as_mut()[option_field::LEN] = (len / 4) as u8 & 0x1f;
    }

    /// The data, writable (as the length says).
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let len = self.len();
        &mut self.buffer.as_mut()[OPTION_HEADER_LEN..len]
    }
}

/// The options of a [`GenevePacket`]. An option that does not fit in what is left is an
/// error, and the last item.
#[derive(Clone, Debug)]
pub struct GeneveOptions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for GeneveOptions<'a> {
    type Item = Result<GeneveOption<&'a [u8]>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match GeneveOption::new_checked(self.rest) {
            Ok(o) => {
                let (opt, rest) = self.rest.split_at(o.len());
                self.rest = rest;
                Some(Ok(GeneveOption::new_unchecked(opt)))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header with a 4-byte critical option and an 8-byte one, then a 2-byte payload.
    fn header() -> Vec<u8> {
        let mut b = vec![0xffu8; HEADER_LEN + 8 + 12 + 2];
        let mut g = GenevePacket::new_unchecked(&mut b[..]);
        g.set_version(0);
        g.set_options_len(20);
        g.set_flags(true, true);
        g.set_protocol_type(0x6558);
        g.set_vni(0x12_3456);
        let opts = g.options_bytes_mut();
        let mut o = GeneveOption::new_unchecked(&mut opts[..]);
        o.set_class(0x0104);
        o.set_option_type(0x80);
        o.set_data_len(4);
        o.data_mut().copy_from_slice(&[0, 0, 0, 1]);
        let mut o = GeneveOption::new_unchecked(&mut opts[8..]);
        o.set_class(0xffff);
        o.set_option_type(1);
        o.set_data_len(8);
        o.data_mut().copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        b
    }

    #[test]
    fn reads_what_it_writes() {
        let b = header();
        assert_eq!(b[..8], [0x05, 0xc0, 0x65, 0x58, 0x12, 0x34, 0x56, 0]);
        let g = GenevePacket::new_checked(&b[..]).unwrap();
        assert_eq!((g.version(), g.options_len(), g.header_len()), (0, 20, 28));
        assert!(g.oam() && g.critical());
        assert_eq!((g.protocol_type(), g.vni()), (0x6558, 0x12_3456));
        assert_eq!(g.payload(), &[0xff, 0xff]);
        let opts: Vec<_> = g.options().map(Result::unwrap).collect();
        assert_eq!(opts.len(), 2);
        assert_eq!((opts[0].class(), opts[0].option_type()), (0x0104, 0x80));
        assert!(opts[0].is_critical() && !opts[1].is_critical());
        assert_eq!(opts[0].data(), &[0, 0, 0, 1]);
        assert_eq!(
            (opts[1].len(), opts[1].data()),
            (12, &[1, 2, 3, 4, 5, 6, 7, 8][..])
        );
    }

    #[test]
    fn malformed_headers_say_why() {
        let b = header();
        for n in 0..HEADER_LEN {
            assert!(matches!(
                GenevePacket::new_checked(&b[..n]),
                Err(Error::Truncated { need: 8, .. })
            ));
        }
        assert!(matches!(
            GenevePacket::new_checked(&b[..27]),
            Err(Error::Truncated {
                need: 28,
                have: 27,
                ..
            })
        ));
        let mut v1 = b.clone();
        v1[0] |= 0x40;
        assert!(matches!(
            GenevePacket::new_checked(&v1[..]),
            Err(Error::BadVersion { version: 1, .. })
        ));
    }

    #[test]
    fn options_that_overrun_end_the_options() {
        let mut b = header();
        b[HEADER_LEN + 8 + 3] = 3; // the second option claims 12 bytes of data
        let g = GenevePacket::new_checked(&b[..]).unwrap();
        let opts: Vec<_> = g.options().collect();
        assert!(opts[0].is_ok());
        assert!(matches!(
            opts[1..],
            [Err(Error::LengthBeyondBuffer {
                len: 16,
                have: 12,
                ..
            })]
        ));
        let mut b = header();
        b[0] = 0x03; // 12 bytes of options: the second option's header then 2 bytes
        let g = GenevePacket::new_checked(&b[..]).unwrap();
        let opts: Vec<_> = g.options().collect();
        assert!(matches!(opts[1..], [Err(Error::LengthBeyondBuffer { .. })]));
        b[0] = 0x02; // 8 bytes: the first option alone
        let g = GenevePacket::new_checked(&b[..]).unwrap();
        assert_eq!(g.options().count(), 1);
        let short = [0u8, 1, 2];
        assert!(matches!(
            GeneveOption::new_checked(&short[..]),
            Err(Error::Truncated {
                need: 4,
                have: 3,
                ..
            })
        ));
    }

    #[test]
    fn every_getter_of_a_checked_view_is_in_bounds() {
        let mut seed = 0x5bd1_e995u32;
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let n = (seed >> 26) as usize;
            let mut b: Vec<u8> = (0..n)
                .map(|i| (seed.rotate_left(i as u32) >> 5) as u8)
                .collect();
            if let Some(x) = b.first_mut() {
                *x &= 0x0f;
            }
            if let Ok(g) = GenevePacket::new_checked(&b[..]) {
                let _ = (
                    g.oam(),
                    g.critical(),
                    g.protocol_type(),
                    g.vni(),
                    g.payload(),
                );
                for o in g.options().flatten() {
                    let _ = (o.class(), o.option_type(), o.data());
                }
            }
        }
    }
}
