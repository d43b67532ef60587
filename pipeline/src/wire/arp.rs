//! ARP (RFC 826) for IPv4 over Ethernet: the only kind a view reads (hardware type 1,
//! protocol 0x0800, address lengths 6 and 4), as OVS's key extraction does.

use super::{be16, be32, check_len, mac48, put16, put32, put_mac48, view_common};
use super::{Error, Header, Result};
use crate::flow::eth_type;

/// Length of an Ethernet/IPv4 ARP packet.
pub const HEADER_LEN: usize = 28;
/// Hardware type of Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// Operation: request.
pub const OP_REQUEST: u16 = 1;
/// Operation: reply.
pub const OP_REPLY: u16 = 2;

/// Byte offsets of the fields.
pub mod field {
    use std::ops::Range;
    /// Hardware type.
    pub const HTYPE: Range<usize> = 0..2;
    /// Protocol type.
    pub const PTYPE: Range<usize> = 2..4;
    /// Hardware address length.
    pub const HLEN: usize = 4;
    /// Protocol address length.
    pub const PLEN: usize = 5;
    /// Operation.
    pub const OPER: Range<usize> = 6..8;
    /// Sender hardware address.
    pub const SHA: Range<usize> = 8..14;
    /// Sender protocol address.
    pub const SPA: Range<usize> = 14..18;
    /// Target hardware address.
    pub const THA: Range<usize> = 18..24;
    /// Target protocol address.
    pub const TPA: Range<usize> = 24..28;
}

/// A view of an ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

view_common!(ArpPacket);

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps `buffer` after checking it holds a whole packet for IPv4 over Ethernet.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        check_len(Header::Arp, HEADER_LEN, buffer.as_ref().len())?;
        let p = ArpPacket { buffer };
        if !p.is_ethernet_ipv4() {
            return Err(Error::Unsupported {
                header: Header::Arp,
                what: "addresses other than Ethernet and IPv4",
            });
        }
        Ok(p)
    }

    /// Hardware type and protocol type and their lengths are Ethernet's and IPv4's.
    #[inline]
    pub fn is_ethernet_ipv4(&self) -> bool {
        self.hardware_type() == HTYPE_ETHERNET
            && self.protocol_type() == eth_type::IPV4
            && self.hardware_len() == 6
            && self.protocol_len() == 4
    }

    /// Hardware type.
    #[inline]
    pub fn hardware_type(&self) -> u16 {
        be16(self.buffer.as_ref(), field::HTYPE.start)
    }

    /// Protocol type.
    #[inline]
    pub fn protocol_type(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PTYPE.start)
    }

    /// Hardware address length.
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length.
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Operation (1 request, 2 reply).
    #[inline]
    pub fn operation(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OPER.start)
    }

    /// Sender MAC.
    #[inline]
    pub fn sender_hardware_addr(&self) -> u64 {
        mac48(self.buffer.as_ref(), field::SHA.start)
    }

    /// Sender IPv4 address.
    #[inline]
    pub fn sender_protocol_addr(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SPA.start)
    }

    /// Target MAC.
    #[inline]
    pub fn target_hardware_addr(&self) -> u64 {
        mac48(self.buffer.as_ref(), field::THA.start)
    }

    /// Target IPv4 address.
    #[inline]
    pub fn target_protocol_addr(&self) -> u32 {
        be32(self.buffer.as_ref(), field::TPA.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Writes the hardware and protocol types and lengths of IPv4 over Ethernet.
    #[inline]
    pub fn set_ethernet_ipv4(&mut self) {
        let b = self.buffer.as_mut();
        put16(b, field::HTYPE.start, HTYPE_ETHERNET);
        put16(b, field::PTYPE.start, eth_type::IPV4);
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
    }

    /// Sets the operation.
    #[inline]
    pub fn set_operation(&mut self, op: u16) {
        put16(self.buffer.as_mut(), field::OPER.start, op);
    }

    /// Sets the sender MAC.
    #[inline]
    pub fn set_sender_hardware_addr(&mut self, mac: u64) {
        put_mac48(self.buffer.as_mut(), field::SHA.start, mac);
    }

    /// Sets the sender IPv4 address.
    #[inline]
    pub fn set_sender_protocol_addr(&mut self, ip: u32) {
        put32(self.buffer.as_mut(), field::SPA.start, ip);
    }

    /// Sets the target MAC.
    #[inline]
    pub fn set_target_hardware_addr(&mut self, mac: u64) {
        put_mac48(self.buffer.as_mut(), field::THA.start, mac);
    }

    /// Sets the target IPv4 address.
    #[inline]
    pub fn set_target_protocol_addr(&mut self, ip: u32) {
        put32(self.buffer.as_mut(), field::TPA.start, ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        let mut p = ArpPacket::new_unchecked(&mut b[..]);
        p.set_ethernet_ipv4();
        p.set_operation(OP_REQUEST);
        p.set_sender_hardware_addr(0x0050_568f_1cf6);
        p.set_sender_protocol_addr(0x0a4f_01ca);
        p.set_target_hardware_addr(0);
        p.set_target_protocol_addr(0x0a4f_01c9);
        b
    }

    #[test]
    fn reads_what_it_writes() {
        let b = request();
        assert_eq!(b[..8], [0, 1, 8, 0, 6, 4, 0, 1]);
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.operation(), OP_REQUEST);
        assert_eq!(p.sender_hardware_addr(), 0x0050_568f_1cf6);
        assert_eq!(p.sender_protocol_addr(), 0x0a4f_01ca);
        assert_eq!(p.target_hardware_addr(), 0);
        assert_eq!(p.target_protocol_addr(), 0x0a4f_01c9);
    }

    #[test]
    fn truncated_and_foreign_packets_are_refused() {
        let b = request();
        for n in 0..HEADER_LEN {
            assert!(matches!(
                ArpPacket::new_checked(&b[..n]),
                Err(Error::Truncated { need: 28, .. })
            ));
        }
        for (at, v) in [(1, 6), (3, 0xdd), (4, 8), (5, 16)] {
            let mut c = b;
            c[at] = v;
            assert!(matches!(
                ArpPacket::new_checked(&c[..]),
                Err(Error::Unsupported { .. })
            ));
        }
        // Trailing bytes (Ethernet padding) are allowed.
        let mut long = b.to_vec();
        long.extend_from_slice(&[0xee; 18]);
        assert!(ArpPacket::new_checked(&long[..]).is_ok());
    }
}
