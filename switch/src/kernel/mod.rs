//! brisk's own kernel-socket ports: AF_PACKET with memory-mapped rings (PACKET_MMAP,
//! TPACKET_V2) and TAP. They run in both builds: without DPDK they are the only ports, and
//! with it they are the ports that do not pass through DPDK's PMDs (`net_af_packet` always
//! asks the kernel to reassemble IPv4 fragments, which a switch must see as they are).
//!
//! Each port copies a frame once between its kernel ring (or `read`/`write` for TAP) and a
//! packet buffer of the runtime's pool, as DPDK's `net_af_packet` and `net_tap` do.

mod afpacket;
mod tap;

pub use afpacket::AfPacketPort;
pub use tap::TapPort;

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a kernel-socket port could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum KernelPortError {
    /// A system call failed.
    #[error("{what} for interface {iface:?}: {err}")]
    Sys {
        /// The call or step.
        what: &'static str,
        /// Interface name.
        iface: String,
        /// The error.
        err: io::Error,
    },
    /// The interface name is empty or longer than the kernel allows (15 bytes).
    #[error("interface name {0:?} is not a valid Linux interface name (1 to 15 bytes, no '/', ':' or whitespace)")]
    BadName(String),
}

/// What every kernel-socket port has: its interface, and the errors it counts itself.
#[derive(Debug)]
pub struct Netdev {
    iface: String,
    mac: [u8; 6],
    /// The interface's MTU when the port opened (what the kernel lets it send).
    mtu: usize,
    /// Frames too long for a buffer, or truncated by the kernel.
    pub(crate) rx_errors: AtomicU64,
    /// No buffer in the pool.
    pub(crate) rx_nombuf: AtomicU64,
    /// Frames the kernel refused to send, or too long to send.
    pub(crate) tx_errors: AtomicU64,
}

impl Netdev {
    /// The interface `iface`, which must exist and be up.
    fn new(iface: &str) -> Result<Netdev, KernelPortError> {
        Ok(Netdev {
            iface: iface.to_string(),
            mac: hwaddr(iface)?,
            mtu: mtu(iface)?,
            rx_errors: AtomicU64::new(0),
            rx_nombuf: AtomicU64::new(0),
            tx_errors: AtomicU64::new(0),
        })
    }

    /// The interface.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// The interface's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The interface's MTU when the port opened.
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// Link state as the kernel sees it.
    pub fn link(&self) -> crate::netdev::LinkInfo {
        link(&self.iface)
    }

    /// The port's counters, with `missed` frames the kernel dropped.
    fn stats(&self, missed: u64) -> crate::netdev::PortStats {
        crate::netdev::PortStats {
            imissed: missed,
            ierrors: self.rx_errors.load(Ordering::Relaxed),
            rx_nombuf: self.rx_nombuf.load(Ordering::Relaxed),
            oerrors: self.tx_errors.load(Ordering::Relaxed),
            ..Default::default()
        }
    }
}

pub(crate) fn sys(what: &'static str, iface: &str) -> impl FnOnce(io::Error) -> KernelPortError {
    let iface = iface.to_string();
    move |err| KernelPortError::Sys { what, iface, err }
}

/// Checks a Linux interface name.
pub fn valid_ifname(name: &str) -> Result<(), KernelPortError> {
    let ok = !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0);
    if ok {
        Ok(())
    } else {
        Err(KernelPortError::BadName(name.to_string()))
    }
}

/// `struct ifreq` with the fields brisk uses (name, then a union of which we use flags,
/// ifindex and the hardware address).
#[repr(C)]
pub(crate) struct IfReq {
    pub name: [u8; libc::IFNAMSIZ],
    pub data: [u8; 24],
}

impl IfReq {
    pub fn new(name: &str) -> IfReq {
        let mut r = IfReq {
            name: [0; libc::IFNAMSIZ],
            data: [0; 24],
        };
        let n = name.len().min(libc::IFNAMSIZ - 1);
        r.name[..n].copy_from_slice(&name.as_bytes()[..n]);
        r
    }
    pub fn flags(&self) -> i16 {
        i16::from_ne_bytes([self.data[0], self.data[1]])
    }
    pub fn set_flags(&mut self, f: i16) {
        self.data[..2].copy_from_slice(&f.to_ne_bytes());
    }
}

/// A datagram socket for interface ioctls.
fn ctl_socket(iface: &str) -> Result<OwnedFd, KernelPortError> {
    // SAFETY: plain socket(2) call; the fd is owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(sys("socket(AF_INET)", iface)(io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ioctl(fd: &OwnedFd, req: libc::c_ulong, r: &mut IfReq) -> io::Result<()> {
    // SAFETY: r is a valid ifreq-sized buffer for the interface ioctls used here.
    #[allow(clippy::useless_conversion)]
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), req.try_into().unwrap_or_default(), r) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The interface's index.
pub(crate) fn ifindex(iface: &str) -> Result<i32, KernelPortError> {
    let c = CString::new(iface).map_err(|_| KernelPortError::BadName(iface.into()))?;
    // SAFETY: c is a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(sys("if_nametoindex", iface)(io::Error::last_os_error()));
    }
    Ok(i as i32)
}

/// The interface's MAC address.
pub(crate) fn hwaddr(iface: &str) -> Result<[u8; 6], KernelPortError> {
    let s = ctl_socket(iface)?;
    let mut r = IfReq::new(iface);
    ioctl(&s, libc::SIOCGIFHWADDR as _, &mut r).map_err(sys("SIOCGIFHWADDR", iface))?;
    // struct sockaddr: family (2 bytes), then the address.
    let mut mac = [0; 6];
    mac.copy_from_slice(&r.data[2..8]);
    Ok(mac)
}

/// The interface's MTU.
pub(crate) fn mtu(iface: &str) -> Result<usize, KernelPortError> {
    let s = ctl_socket(iface)?;
    let mut r = IfReq::new(iface);
    ioctl(&s, libc::SIOCGIFMTU as _, &mut r).map_err(sys("SIOCGIFMTU", iface))?;
    Ok(i32::from_ne_bytes([r.data[0], r.data[1], r.data[2], r.data[3]]).max(0) as usize)
}

/// Sets the interface administratively up.
pub(crate) fn set_up(iface: &str) -> Result<(), KernelPortError> {
    let s = ctl_socket(iface)?;
    let mut r = IfReq::new(iface);
    ioctl(&s, libc::SIOCGIFFLAGS as _, &mut r).map_err(sys("SIOCGIFFLAGS", iface))?;
    let f = r.flags();
    if f & libc::IFF_UP as i16 == 0 {
        r.set_flags(f | libc::IFF_UP as i16);
        ioctl(&s, libc::SIOCSIFFLAGS as _, &mut r).map_err(sys("SIOCSIFFLAGS", iface))?;
    }
    Ok(())
}

/// Link state as the kernel sees it (up and running; speed from sysfs, 0 when unknown).
pub(crate) fn link(iface: &str) -> crate::netdev::LinkInfo {
    let up = ctl_socket(iface)
        .and_then(|s| {
            let mut r = IfReq::new(iface);
            ioctl(&s, libc::SIOCGIFFLAGS as _, &mut r).map_err(sys("SIOCGIFFLAGS", iface))?;
            Ok(r.flags())
        })
        .map(|f| f & libc::IFF_UP as i16 != 0 && f & libc::IFF_RUNNING as i16 != 0)
        .unwrap_or(false);
    let speed = std::fs::read_to_string(format!("/sys/class/net/{iface}/speed"))
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|&s| s > 0)
        .unwrap_or(0) as u32;
    let duplex = std::fs::read_to_string(format!("/sys/class/net/{iface}/duplex"))
        .map(|s| s.trim() == "full")
        .unwrap_or(false);
    crate::netdev::LinkInfo {
        up,
        speed_mbps: speed,
        full_duplex: duplex,
    }
}

/// Recomputes the TCP or UDP checksum of an IPv4 or IPv6 Ethernet frame whose kernel
/// sender left it to the NIC (`CHECKSUM_PARTIAL`: the field holds only the pseudo-header
/// sum). Frames that are not TCP/UDP right after the IP header (IPv6 extension headers
/// included), fragments, and truncated frames are left as they are.
pub(crate) fn fill_l4_checksum(frame: &mut [u8]) -> bool {
    use pipeline::flow::{eth_type, ip_proto};
    use pipeline::wire::{checksum, ethernet, ipv4, ipv6, tcp, udp};
    use pipeline::wire::{EthernetFrame, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket, VlanHeader};
    let Ok(eth) = EthernetFrame::new_checked(&*frame) else {
        return false;
    };
    // Past every VLAN tag.
    let mut ip = ethernet::HEADER_LEN;
    let mut et = eth.ethertype();
    while et == eth_type::VLAN || et == eth_type::QINQ {
        let Ok(tag) = VlanHeader::new_checked(&frame[ip..]) else {
            return false;
        };
        et = tag.ethertype();
        ip += ethernet::VLAN_HEADER_LEN;
    }
    // (pseudo-header sum, protocol, L4 start, L4 length); the headers' lengths are checked
    // here, their versions are not looked at.
    let (pseudo, proto, l4, l4_len) = match et {
        eth_type::IPV4 if frame.len() >= ip + ipv4::HEADER_LEN => {
            let h = Ipv4Packet::new_unchecked(&frame[ip..]);
            let (ihl, total) = (h.header_len(), usize::from(h.total_len()));
            if ihl < ipv4::HEADER_LEN || total < ihl || frame.len() < ip + total || h.is_fragment()
            {
                return false;
            }
            let pseudo =
                checksum::pseudo_header_v4(h.src_addr(), h.dst_addr(), h.protocol(), total - ihl);
            (pseudo, h.protocol(), ip + ihl, total - ihl)
        }
        eth_type::IPV6 if frame.len() >= ip + ipv6::HEADER_LEN => {
            let h = Ipv6Packet::new_unchecked(&frame[ip..]);
            let len = usize::from(h.payload_len());
            if frame.len() < ip + ipv6::HEADER_LEN + len {
                return false;
            }
            let pseudo =
                checksum::pseudo_header_v6(h.src_addr(), h.dst_addr(), h.next_header(), len);
            (pseudo, h.next_header(), ip + ipv6::HEADER_LEN, len)
        }
        _ => return false,
    };
    let csum_at = match proto {
        ip_proto::TCP if l4_len >= tcp::HEADER_LEN => tcp::field::CHECKSUM.start,
        ip_proto::UDP if l4_len >= udp::HEADER_LEN => udp::field::CHECKSUM.start,
        _ => return false,
    };
    // Over the segment as the IP header bounds it, the partial sum in the field ignored.
    let seg = &mut frame[l4..l4 + l4_len];
    let mut c = checksum::finish(checksum::sum16_skipping(seg, csum_at, pseudo));
    if proto == ip_proto::UDP && c == 0 {
        c = 0xffff;
    }
    if proto == ip_proto::TCP {
        TcpPacket::new_unchecked(seg).set_checksum(c);
    } else {
        UdpPacket::new_unchecked(seg).set_checksum(c);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_are_checked() {
        assert!(valid_ifname("eth0").is_ok());
        assert!(valid_ifname("coredns--3e3abf").is_ok());
        assert!(valid_ifname("").is_err());
        assert!(valid_ifname("a-name-of-16-byt").is_err());
        assert!(valid_ifname("a/b").is_err());
    }

    #[test]
    fn partial_checksums_are_completed() {
        // A UDP/IPv4 frame built with a correct checksum, then the field set to a partial
        // value as a CHECKSUM_PARTIAL sender leaves it.
        let mut f = vec![0u8; 14 + 20 + 8 + 5];
        f[12] = 0x08;
        f[14] = 0x45;
        f[16..18].copy_from_slice(&33u16.to_be_bytes());
        f[23] = 17;
        f[26..30].copy_from_slice(&[10, 0, 0, 1]);
        f[30..34].copy_from_slice(&[10, 0, 0, 2]);
        f[34..36].copy_from_slice(&1234u16.to_be_bytes());
        f[36..38].copy_from_slice(&53u16.to_be_bytes());
        f[38..40].copy_from_slice(&13u16.to_be_bytes());
        f[42..].copy_from_slice(b"hello");
        assert!(fill_l4_checksum(&mut f));
        let good = [f[40], f[41]];
        // Verify: the sum over pseudo-header and segment, checksum included, is 0xffff.
        let mut sum = 0u32;
        for c in f[26..34].chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        sum += 17 + 13;
        let seg = &f[34..];
        for c in seg.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff);
        f[40] = 0x12;
        f[41] = 0x34;
        assert!(fill_l4_checksum(&mut f));
        assert_eq!([f[40], f[41]], good);
        // IPv6: the same datagram, checked with the IPv6 pseudo-header.
        let mut v6 = vec![0u8; 14 + 40 + 13];
        v6[12..14].copy_from_slice(&[0x86, 0xdd]);
        v6[14] = 0x60;
        v6[18..20].copy_from_slice(&13u16.to_be_bytes());
        v6[20] = 17;
        v6[21] = 64;
        v6[22..38].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        v6[38..54].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        v6[54..67].copy_from_slice(&f[34..47]);
        assert!(fill_l4_checksum(&mut v6));
        let mut sum = 0u32;
        for c in v6[22..54].chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        sum += 17 + 13;
        for c in v6[54..].chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff, "IPv6 UDP checksum");
        // A fragment is left alone.
        f[20] = 0x20;
        f[40] = 0;
        assert!(!fill_l4_checksum(&mut f));
        assert_eq!(f[40], 0);
    }
}
