//! Zero-copy views of packet headers, one module per protocol, in the manner of smoltcp's
//! `wire` module.
//!
//! A view wraps a buffer (`&[u8]`, `&mut [u8]`, `Vec<u8>`...) that starts at its header:
//! `Ipv4Packet<T: AsRef<[u8]>> { buffer: T }`.
//!
//! - `new_checked` validates the buffer and says what is wrong with a typed [`Error`]
//!   (truncated, bad version, bad header length, a length field beyond the buffer...). Every
//!   getter of a view it returns reads inside the buffer, whatever the bytes were.
//! - `new_unchecked` wraps the buffer as it is: for code that has already checked the
//!   lengths it reads (key extraction does, OVS-style, one bound at a time). A getter whose
//!   field is not in the buffer then panics, as slice indexing does; it never reads out of
//!   bounds.
//! - Getters give addresses as host integers as the rest of `pipeline` does (MAC: `u64`,
//!   IPv4: `u32`, IPv6: `u128`), lengths in bytes.
//! - Setters (on `T: AsRef<[u8]> + AsMut<[u8]>`) write one field each, leaving the other
//!   bits of a shared byte alone; a header written field by field into a buffer of garbage
//!   (a frame's headroom) is fully defined once every field is set. Checksum helpers use
//!   the one internet-checksum implementation, [`checksum`].
//!
//! Each module's `field` gives the byte offsets of its header's fields, for code that must
//! name a position (an incremental checksum update, where a checker expects a checksum).

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod geneve;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod sctp;
pub mod tcp;
pub mod udp;

pub use arp::ArpPacket;
pub use ethernet::{EthernetFrame, VlanHeader};
pub use geneve::{GeneveOption, GenevePacket};
pub use icmp::IcmpPacket;
pub use icmpv6::{Icmpv6Packet, NdOption, NdPacket};
pub use ipv4::Ipv4Packet;
pub use ipv6::{Ipv6ExtHeader, Ipv6FragHeader, Ipv6Packet};
pub use sctp::SctpPacket;
pub use tcp::TcpPacket;
pub use udp::UdpPacket;

use std::fmt;

/// The header an [`Error`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Header {
    /// Ethernet II.
    Ethernet,
    /// An 802.1Q/802.1ad tag.
    Vlan,
    /// ARP for IPv4 over Ethernet.
    Arp,
    /// IPv4.
    Ipv4,
    /// IPv6 fixed header.
    Ipv6,
    /// An IPv6 extension header.
    Ipv6Ext,
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// SCTP common header.
    Sctp,
    /// ICMP.
    Icmp,
    /// ICMPv6.
    Icmpv6,
    /// A neighbour solicitation or advertisement.
    Nd,
    /// A neighbour discovery option.
    NdOption,
    /// Geneve.
    Geneve,
    /// A Geneve option.
    GeneveOption,
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Header::Ethernet => "Ethernet",
            Header::Vlan => "802.1Q tag",
            Header::Arp => "ARP",
            Header::Ipv4 => "IPv4",
            Header::Ipv6 => "IPv6",
            Header::Ipv6Ext => "IPv6 extension header",
            Header::Udp => "UDP",
            Header::Tcp => "TCP",
            Header::Sctp => "SCTP",
            Header::Icmp => "ICMP",
            Header::Icmpv6 => "ICMPv6",
            Header::Nd => "neighbour discovery",
            Header::NdOption => "neighbour discovery option",
            Header::Geneve => "Geneve",
            Header::GeneveOption => "Geneve option",
        })
    }
}

/// What is wrong with a buffer given to a `new_checked`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer ends inside the header (with its options, when its length field counts
    /// them).
    #[error("{header}: truncated: the header needs {need} bytes, the buffer has {have}")]
    Truncated {
        /// The header.
        header: Header,
        /// Bytes the header needs.
        need: usize,
        /// Bytes in the buffer.
        have: usize,
    },
    /// A version field other than the one the view reads.
    #[error("{header}: version {version}, expected {expected}")]
    BadVersion {
        /// The header.
        header: Header,
        /// Version found.
        version: u8,
        /// Version expected.
        expected: u8,
    },
    /// A header length field below the header's minimum.
    #[error("{header}: header length {len} is below the minimum of {min}")]
    BadHeaderLength {
        /// The header.
        header: Header,
        /// Header length the field gives, in bytes.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// A total length field shorter than the header it includes.
    #[error("{header}: total length {len} is shorter than its header ({min} bytes)")]
    BadTotalLength {
        /// The header.
        header: Header,
        /// Length the field gives.
        len: usize,
        /// The header's length.
        min: usize,
    },
    /// A length field (total, payload or option length) beyond the end of the buffer.
    #[error("{header}: length {len} runs beyond the buffer ({have} bytes)")]
    LengthBeyondBuffer {
        /// The header.
        header: Header,
        /// Length the field gives, from the header's start.
        len: usize,
        /// Bytes in the buffer.
        have: usize,
    },
    /// A well-formed header of a kind the view does not read.
    #[error("{header}: unsupported: {what}")]
    Unsupported {
        /// The header.
        header: Header,
        /// What is not supported.
        what: &'static str,
    },
}

/// Result of a `new_checked`.
pub type Result<T> = std::result::Result<T, Error>;

/// `Err(Truncated)` unless `have >= need`.
#[inline]
pub(crate) fn check_len(header: Header, need: usize, have: usize) -> Result<()> {
    if have < need {
        return Err(Error::Truncated { header, need, have });
    }
    Ok(())
}

/// `N` bytes at `at` (panics beyond the buffer, as indexing does).
#[inline(always)]
pub(crate) fn bytes<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}

/// The big-endian 16-bit word at `at`.
#[inline(always)]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(bytes(b, at))
}

/// The big-endian 32-bit word at `at`.
#[inline(always)]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes(b, at))
}

/// The big-endian 128-bit word at `at` (an IPv6 address).
#[inline(always)]
pub(crate) fn be128(b: &[u8], at: usize) -> u128 {
    u128::from_be_bytes(bytes(b, at))
}

/// The MAC address at `at`, as the low 48 bits of a `u64`.
#[inline(always)]
pub(crate) fn mac48(b: &[u8], at: usize) -> u64 {
    let m: [u8; 6] = bytes(b, at);
    u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]])
}

/// Writes `v` big-endian at `at`.
#[inline(always)]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Writes `v` big-endian at `at`.
#[inline(always)]
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Writes `v` big-endian at `at`.
#[inline(always)]
pub(crate) fn put128(b: &mut [u8], at: usize, v: u128) {
    b[at..at + 16].copy_from_slice(&v.to_be_bytes());
}

/// Writes the MAC address in the low 48 bits of `v` at `at`.
#[inline(always)]
pub(crate) fn put_mac48(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 6].copy_from_slice(&v.to_be_bytes()[2..]);
}

/// The common methods of a view: construction without checks, the buffer back, the bytes.
macro_rules! view_common {
    ($view:ident) => {
        impl<T: AsRef<[u8]>> $view<T> {
            /// Wraps `buffer` without checking it: getters of fields beyond its end panic.
            #[inline]
            pub const fn new_unchecked(buffer: T) -> Self {
                $view { buffer }
            }

            /// The buffer back.
            #[inline]
            pub fn into_inner(self) -> T {
                self.buffer
            }

            /// The whole buffer, header first.
            #[inline]
            pub fn as_bytes(&self) -> &[u8] {
                self.buffer.as_ref()
            }
        }
    };
}
pub(crate) use view_common;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_is_wrong() {
        let e = Error::Truncated {
            header: Header::Ipv4,
            need: 20,
            have: 7,
        };
        assert_eq!(
            e.to_string(),
            "IPv4: truncated: the header needs 20 bytes, the buffer has 7"
        );
        let e = Error::LengthBeyondBuffer {
            header: Header::Udp,
            len: 300,
            have: 64,
        };
        assert_eq!(
            e.to_string(),
            "UDP: length 300 runs beyond the buffer (64 bytes)"
        );
        assert_eq!(check_len(Header::Tcp, 20, 20), Ok(()));
        assert!(check_len(Header::Tcp, 20, 19).is_err());
    }

    /// Every getter of every view a `new_checked` accepted, on hostile bytes of every length.
    #[test]
    fn every_checked_view_reads_in_bounds() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..30_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 97) as usize;
            let mut b: Vec<u8> = (0..n)
                .map(|i| (x.rotate_left(i as u32 * 7) >> 3) as u8)
                .collect();
            // Plausible first bytes, so that the deeper checks are reached.
            match (x >> 60, b.first_mut()) {
                (0..=3, Some(v)) => *v = 0x40 | (*v & 0x0f),
                (4..=7, Some(v)) => *v = 0x60,
                (8..=11, Some(v)) => *v &= 0x0f,
                _ => {}
            }
            let b = &b[..];
            if let Ok(e) = EthernetFrame::new_checked(b) {
                let _ = (e.dst_addr(), e.src_addr(), e.is_tagged(), e.payload());
            }
            if let Ok(t) = VlanHeader::new_checked(b) {
                let _ = (t.tci(), t.vid(), t.pcp(), t.ethertype(), t.payload());
            }
            if let Ok(a) = ArpPacket::new_checked(b) {
                let _ = (
                    a.operation(),
                    a.sender_hardware_addr(),
                    a.sender_protocol_addr(),
                );
                let _ = (a.target_hardware_addr(), a.target_protocol_addr());
            }
            for p in [
                Ipv4Packet::new_checked(b),
                Ipv4Packet::new_checked_header(b),
            ]
            .into_iter()
            .flatten()
            {
                let _ = (p.tos(), p.total_len(), p.ident(), p.frag_offset(), p.ttl());
                let _ = (p.protocol(), p.checksum(), p.src_addr(), p.dst_addr());
                let _ = (p.verify_checksum(), p.header(), p.options(), p.payload());
                let _ = p.pseudo_header_sum();
            }
            if let Ok(p) = Ipv6Packet::new_checked(b) {
                let _ = (
                    p.traffic_class(),
                    p.flow_label(),
                    p.next_header(),
                    p.hop_limit(),
                );
                let _ = (p.src_addr(), p.dst_addr(), p.payload());
            }
            for kind in [ipv6::ext::HOP_BY_HOP, ipv6::ext::AH] {
                if let Ok(h) = Ipv6ExtHeader::new_checked(b, kind) {
                    let _ = (h.next_header(), h.header_len());
                }
            }
            if let Ok(h) = Ipv6FragHeader::new_checked(b) {
                let _ = (h.next_header(), h.frag_offset(), h.more_frags(), h.ident());
            }
            if let Ok(u) = UdpPacket::new_checked(b) {
                let _ = (
                    u.src_port(),
                    u.dst_port(),
                    u.len(),
                    u.checksum(),
                    u.payload(),
                );
                let _ = u.verify_checksum_v4(1, 2);
            }
            if let Ok(t) = TcpPacket::new_checked(b) {
                let _ = (t.src_port(), t.dst_port(), t.seq_number(), t.ack_number());
                let _ = (t.flags(), t.window(), t.checksum(), t.urgent(), t.options());
                let _ = (t.payload(), t.verify_checksum_v4(1, 2));
            }
            if let Ok(s) = SctpPacket::new_checked(b) {
                let _ = (
                    s.src_port(),
                    s.dst_port(),
                    s.verification_tag(),
                    s.checksum(),
                );
            }
            if let Ok(m) = IcmpPacket::new_checked(b) {
                let _ = (m.msg_type(), m.code(), m.checksum(), m.rest_of_header());
                let _ = (
                    m.echo_ident(),
                    m.echo_seq(),
                    m.payload(),
                    m.verify_checksum(),
                );
            }
            if let Ok(m) = Icmpv6Packet::new_checked(b) {
                let _ = (m.msg_type(), m.code(), m.checksum(), m.is_nd(), m.body());
                let _ = m.verify_checksum(1, 2);
            }
            if let Ok(nd) = NdPacket::new_checked(b) {
                let _ = (nd.msg_type(), nd.target_addr());
                for o in nd.options().flatten() {
                    let _ = (o.kind(), o.len(), o.link_layer_addr(), o.as_bytes());
                }
            }
            if let Ok(g) = GenevePacket::new_checked(b) {
                let _ = (
                    g.oam(),
                    g.critical(),
                    g.protocol_type(),
                    g.vni(),
                    g.payload(),
                );
                for o in g.options().flatten() {
                    let _ = (o.class(), o.option_type(), o.is_critical(), o.data());
                }
            }
            if let Ok(o) = GeneveOption::new_checked(b) {
                let _ = (o.class(), o.option_type(), o.data_len(), o.data());
            }
        }
    }

    #[test]
    fn field_helpers_are_big_endian() {
        let mut b = [0u8; 16];
        put16(&mut b, 0, 0x1234);
        put32(&mut b, 2, 0x5678_9abc);
        put_mac48(&mut b, 6, 0x0102_0304_0506);
        assert_eq!(be16(&b, 0), 0x1234);
        assert_eq!(be32(&b, 2), 0x5678_9abc);
        assert_eq!(mac48(&b, 6), 0x0102_0304_0506);
        put128(&mut b, 0, 0x00ff << 8);
        assert_eq!(be128(&b, 0), 0xff00);
    }
}
