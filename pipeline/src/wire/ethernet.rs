//! Ethernet II frames and the 802.1Q/802.1ad tag that may follow the addresses.
//!
//! [`EthernetFrame`] is the 14-byte header (destination, source, ethertype); when the
//! ethertype is a tag's TPID, [`VlanHeader`] reads its payload: the tag control information
//! and the ethertype of what it carries.

use super::{be16, check_len, mac48, put16, put_mac48, view_common, Header, Result};
use crate::flow::eth_type;

/// Length of the Ethernet header.
pub const HEADER_LEN: usize = 14;

/// Byte offsets of the Ethernet header's fields.
pub mod field {
    use std::ops::Range;
    /// Destination address.
    pub const DST: Range<usize> = 0..6;
    /// Source address.
    pub const SRC: Range<usize> = 6..12;
    /// Ethertype (or a tag's TPID, or an 802.3 length below 0x600).
    pub const ETHERTYPE: Range<usize> = 12..14;
}

/// A view of an Ethernet frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

view_common!(EthernetFrame);

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer` after checking it holds the header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        check_len(Header::Ethernet, HEADER_LEN, buffer.as_ref().len())?;
        Ok(EthernetFrame { buffer })
    }

    /// Destination MAC.
    #[inline]
    pub fn dst_addr(&self) -> u64 {
        mac48(self.buffer.as_ref(), field::DST.start)
    }

    /// Source MAC.
    #[inline]
    pub fn src_addr(&self) -> u64 {
        mac48(self.buffer.as_ref(), field::SRC.start)
    }

    /// The ethertype field (a tag's TPID when tagged).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ETHERTYPE.start)
    }

    /// Whether a VLAN tag (802.1Q or 802.1ad) follows the addresses.
    #[inline]
    pub fn is_tagged(&self) -> bool {
        matches!(self.ethertype(), eth_type::VLAN | eth_type::QINQ)
    }

    /// What follows the header (a tag's payload when tagged).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC.
    #[inline]
    pub fn set_dst_addr(&mut self, mac: u64) {
        put_mac48(self.buffer.as_mut(), field::DST.start, mac);
    }

    /// Sets the source MAC.
    #[inline]
    pub fn set_src_addr(&mut self, mac: u64) {
        put_mac48(self.buffer.as_mut(), field::SRC.start, mac);
    }

    /// Sets the ethertype field.
    #[inline]
    pub fn set_ethertype(&mut self, ty: u16) {
        put16(self.buffer.as_mut(), field::ETHERTYPE.start, ty);
    }

    /// What follows the header, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// Length of a VLAN tag's part after the TPID: TCI and the carried ethertype.
pub const VLAN_HEADER_LEN: usize = 4;

/// Byte offsets of a tag's fields, from the end of the TPID.
pub mod vlan_field {
    use std::ops::Range;
    /// Tag control information: PCP, DEI, VID.
    pub const TCI: Range<usize> = 0..2;
    /// Ethertype of the payload.
    pub const ETHERTYPE: Range<usize> = 2..4;
}

/// A view of a VLAN tag after its TPID (the payload of a tagged [`EthernetFrame`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VlanHeader<T: AsRef<[u8]>> {
    buffer: T,
}

view_common!(VlanHeader);

impl<T: AsRef<[u8]>> VlanHeader<T> {
    /// Wraps `buffer` after checking it holds the TCI and the ethertype.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        check_len(Header::Vlan, VLAN_HEADER_LEN, buffer.as_ref().len())?;
        Ok(VlanHeader { buffer })
    }

    /// Tag control information (PCP, DEI, VID).
    #[inline]
    pub fn tci(&self) -> u16 {
        be16(self.buffer.as_ref(), vlan_field::TCI.start)
    }

    /// VLAN identifier (low 12 bits of the TCI).
    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// Priority code point.
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Ethertype of the payload.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), vlan_field::ETHERTYPE.start)
    }

    /// What the tag carries.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[VLAN_HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanHeader<T> {
    /// Sets the TCI.
    #[inline]
    pub fn set_tci(&mut self, tci: u16) {
        put16(self.buffer.as_mut(), vlan_field::TCI.start, tci);
    }

    /// Sets the ethertype of the payload.
    #[inline]
    pub fn set_ethertype(&mut self, ty: u16) {
        put16(self.buffer.as_mut(), vlan_field::ETHERTYPE.start, ty);
    }
}

/// Length of an 802.2 LLC header with a SNAP extension.
pub const SNAP_LEN: usize = 8;

/// The ethertype an 802.3 frame's LLC/SNAP header carries (`payload` starting after the
/// length field): `AA AA 03` with OUI 0, else None.
#[inline]
pub fn snap_ethertype(payload: &[u8]) -> Option<u16> {
    let s = payload.get(..SNAP_LEN)?;
    (s[..6] == [0xaa, 0xaa, 0x03, 0, 0, 0]).then(|| be16(s, 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged() -> Vec<u8> {
        let mut f = vec![0u8; 18];
        let mut e = EthernetFrame::new_unchecked(&mut f[..]);
        e.set_dst_addr(0xffff_ffff_ffff);
        e.set_src_addr(0x0200_0000_0001);
        e.set_ethertype(eth_type::VLAN);
        let mut t = VlanHeader::new_unchecked(e.payload_mut());
        t.set_tci(0xa005);
        t.set_ethertype(eth_type::IPV4);
        f
    }

    #[test]
    fn reads_what_it_writes() {
        let f = tagged();
        assert_eq!(
            f[..14],
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x81, 0]
        );
        let e = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(e.dst_addr(), 0xffff_ffff_ffff);
        assert_eq!(e.src_addr(), 0x0200_0000_0001);
        assert!(e.is_tagged());
        let t = VlanHeader::new_checked(e.payload()).unwrap();
        assert_eq!((t.tci(), t.vid(), t.pcp()), (0xa005, 5, 5));
        assert_eq!(t.ethertype(), eth_type::IPV4);
        assert!(t.payload().is_empty());
        assert_eq!(e.into_inner().len(), 18);
    }

    #[test]
    fn truncated_buffers_are_refused() {
        let f = tagged();
        for n in 0..HEADER_LEN {
            assert_eq!(
                EthernetFrame::new_checked(&f[..n]),
                Err(super::super::Error::Truncated {
                    header: Header::Ethernet,
                    need: 14,
                    have: n
                })
            );
        }
        for n in HEADER_LEN..18 {
            let e = EthernetFrame::new_checked(&f[..n]).unwrap();
            // Every getter of a checked view is in bounds.
            let _ = (e.dst_addr(), e.src_addr(), e.ethertype(), e.payload());
            assert!(VlanHeader::new_checked(e.payload()).is_err());
        }
    }

    #[test]
    fn snap_carries_an_ethertype_only_with_oui_zero() {
        let snap = [0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x06, 0xee];
        assert_eq!(snap_ethertype(&snap), Some(0x0806));
        assert_eq!(snap_ethertype(&snap[..7]), None);
        let mut other = snap;
        other[5] = 1;
        assert_eq!(snap_ethertype(&other), None);
    }
}
