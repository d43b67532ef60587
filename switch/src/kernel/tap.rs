//! A TAP port: brisk creates (or attaches to) the TAP interface and exchanges frames with
//! the kernel's stack through `/dev/net/tun`, one `read`/`write` per frame (as DPDK's
//! `net_tap` does; TAP has no ring to map), and one `read` that finds nothing per poll of
//! an idle port. Typical use: the node's gateway interface, whose traffic is light.

use super::{ctl_socket, ioctl, set_up, sys, valid_ifname, IfReq, KernelPortError, Netdev};
use crate::pkt::{Pkt, PktBatch, PktPool, BURST};
use parking_lot::Mutex;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;

const IFF_TAP: i16 = 0x0002;
const IFF_NO_PI: i16 = 0x1000;
/// `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

/// One TAP port.
pub struct TapPort {
    dev: Netdev,
    fd: OwnedFd,
    /// Receive scratch space (a frame is read whole; longer than a buffer is an error). The
    /// lock is the queue's owner token, uncontended.
    scratch: Mutex<Box<[u8]>>,
}

impl std::fmt::Debug for TapPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TapPort({})", self.dev.iface())
    }
}

impl TapPort {
    /// Creates the TAP interface `iface` (or attaches to an existing persistent one) and
    /// sets it up.
    pub fn open(iface: &str) -> Result<TapPort, KernelPortError> {
        Self::open_with(iface, None, None, None)
    }

    /// [`TapPort::open`], giving the interface a MAC, an IPv4 address (with its prefix
    /// length) and an MTU before it is set up (each when given; see [`TapPort::configure`]).
    pub fn open_with(
        iface: &str,
        mac: Option<[u8; 6]>,
        addr: Option<(Ipv4Addr, u8)>,
        mtu: Option<u16>,
    ) -> Result<TapPort, KernelPortError> {
        valid_ifname(iface)?;
        // SAFETY: open(2) of a constant NUL-terminated path; the fd is owned below.
        let fd = unsafe {
            libc::open(
                c"/dev/net/tun".as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(sys("open /dev/net/tun", iface)(io::Error::last_os_error()));
        }
        // SAFETY: fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut r = IfReq::new(iface);
        r.set_flags(IFF_TAP | IFF_NO_PI);
        // SAFETY: TUNSETIFF reads (and writes back) an ifreq.
        #[allow(clippy::useless_conversion)]
        let rc = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                TUNSETIFF.try_into().unwrap_or_default(),
                &mut r,
            )
        };
        if rc < 0 {
            return Err(sys("TUNSETIFF", iface)(io::Error::last_os_error()));
        }
        Self::configure(iface, mac, addr, mtu)?;
        set_up(iface)?;
        Ok(TapPort {
            dev: Netdev::new(iface)?,
            fd,
            scratch: Mutex::new(vec![0u8; 65536].into_boxed_slice()),
        })
    }

    /// Sets the MAC, the IPv4 address with its prefix length (netmask) and the MTU of the
    /// interface `iface` of this network namespace, as `ip link set IFACE address MAC mtu
    /// MTU` and `ip addr add ADDR/LEN dev IFACE` would (each when given). For the TAP
    /// interfaces brisk creates, its own or DPDK's `net_tap` (after its port started: the PMD
    /// sets the MAC then).
    pub fn configure(
        iface: &str,
        mac: Option<[u8; 6]>,
        addr: Option<(Ipv4Addr, u8)>,
        mtu: Option<u16>,
    ) -> Result<(), KernelPortError> {
        valid_ifname(iface)?;
        let s = ctl_socket(iface)?;
        if let Some(mac) = mac {
            // struct sockaddr: the hardware type, then the address.
            let mut r = IfReq::new(iface);
            r.data[..2].copy_from_slice(&libc::ARPHRD_ETHER.to_ne_bytes());
            r.data[2..8].copy_from_slice(&mac);
            ioctl(&s, libc::SIOCSIFHWADDR as _, &mut r).map_err(sys("SIOCSIFHWADDR", iface))?;
        }
        if let Some(mtu) = mtu {
            let mut r = IfReq::new(iface);
            r.data[..4].copy_from_slice(&i32::from(mtu).to_ne_bytes());
            ioctl(&s, libc::SIOCSIFMTU as _, &mut r).map_err(sys("SIOCSIFMTU", iface))?;
        }
        if let Some((ip, len)) = addr {
            // struct sockaddr_in: family, port 0, the address in network order.
            let sockaddr_in = |a: Ipv4Addr| {
                let mut r = IfReq::new(iface);
                r.data[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
                r.data[4..8].copy_from_slice(&a.octets());
                r
            };
            let mask = Ipv4Addr::from(
                u32::MAX
                    .checked_shl(32 - u32::from(len.min(32)))
                    .unwrap_or(0),
            );
            ioctl(&s, libc::SIOCSIFADDR as _, &mut sockaddr_in(ip))
                .map_err(sys("SIOCSIFADDR", iface))?;
            ioctl(&s, libc::SIOCSIFNETMASK as _, &mut sockaddr_in(mask))
                .map_err(sys("SIOCSIFNETMASK", iface))?;
        }
        Ok(())
    }

    /// The interface: name, MAC, link.
    pub fn netdev(&self) -> &Netdev {
        &self.dev
    }

    /// Reads up to `BURST - batch.len()` frames the kernel sent out of the interface.
    pub fn rx_burst(&self, batch: &mut PktBatch, pool: &PktPool) -> usize {
        let Some(mut buf) = self.scratch.try_lock() else {
            return 0;
        };
        let mut n = 0;
        while batch.len() < BURST {
            // SAFETY: buf is writable for its whole length.
            let got = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                )
            };
            if got <= 0 {
                break; // EAGAIN: nothing more now
            }
            let got = got as usize;
            if !(14..=crate::pkt::DATA_ROOM).contains(&got) {
                self.dev.rx_errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            match Pkt::from_bytes(pool, &buf[..got]) {
                Some(p) => {
                    let _ = batch.push(p);
                    n += 1;
                }
                None => {
                    self.dev.rx_nombuf.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        n
    }

    /// Writes the frames of `batch` to the kernel. The ones it took, and the ones it
    /// refused (counted as errors), leave the batch; the rest stay when it would block.
    /// Returns how many were written.
    pub fn tx_burst(&self, batch: &mut PktBatch) -> usize {
        let (mut done, mut written) = (0, 0);
        while let Some(p) = batch.get(done) {
            let d = p.data();
            // SAFETY: d is readable for its length.
            let rc = unsafe {
                libc::write(
                    self.fd.as_raw_fd(),
                    d.as_ptr() as *const libc::c_void,
                    d.len(),
                )
            };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::WouldBlock {
                    break;
                }
                // EIO while the interface is down, EINVAL for a frame it refuses: counted.
                self.dev.tx_errors.fetch_add(1, Ordering::Relaxed);
            } else {
                written += 1;
            }
            done += 1;
        }
        batch.free_front(done);
        written
    }

    /// Counters: the port's own errors.
    pub fn stats(&self) -> crate::netdev::PortStats {
        self.dev.stats(0)
    }
}
