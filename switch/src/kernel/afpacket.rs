//! An AF_PACKET port with memory-mapped rings (TPACKET_V2): a receive ring per receive
//! queue, and a transmit ring per transmit queue (one per worker, plus the control
//! thread's), so no two threads share a ring. Receiving costs no system call (the worker
//! reads the ring's status words); sending costs one `sendto` per burst to kick the
//! transmit ring.
//!
//! Several receive queues form a fanout group by flow hash, but never with
//! `PACKET_FANOUT_FLAG_DEFRAG` (DPDK's `net_af_packet` always sets it), so the kernel does
//! not reassemble IPv4 fragments before brisk sees them.

use super::{fill_l4_checksum, ifindex, set_up, sys, valid_ifname, KernelPortError, Netdev};
use crate::pkt::{Pkt, PktBatch, PktPool, BURST};
use parking_lot::Mutex;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// Bytes per ring frame (header, address, data). Frames longer than fits are counted as
/// receive errors (jumbo frames need a larger frame; brisk's buffers hold 2,048 bytes).
const FRAME_SIZE: u32 = 2048;
/// Bytes per ring block (frames never straddle blocks).
const BLOCK_SIZE: u32 = 1 << 16;
/// Receive ring: 1,024 frames.
const RX_BLOCKS: u32 = 32;
/// Each transmit ring: 256 frames.
const TX_BLOCKS: u32 = 8;

/// `tpacket2_hdr` offsets.
const H_STATUS: usize = 0;
const H_LEN: usize = 4;
const H_SNAPLEN: usize = 8;
const H_MAC: usize = 12;
const H_VLAN_TCI: usize = 24;
const H_VLAN_TPID: usize = 26;
/// Where transmitted data starts: TPACKET_ALIGN(sizeof(tpacket2_hdr)).
const TX_DATA: usize = 32;

const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_CSUMNOTREADY: u32 = 1 << 3;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
const TP_STATUS_AVAILABLE: u32 = 0;
const TP_STATUS_SEND_REQUEST: u32 = 1;
const TP_STATUS_WRONG_FORMAT: u32 = 1 << 2;

const SOL_PACKET: i32 = 263;
const PACKET_ADD_MEMBERSHIP: i32 = 1;
const PACKET_RX_RING: i32 = 5;
const PACKET_STATISTICS: i32 = 6;
const PACKET_VERSION: i32 = 10;
const PACKET_TX_RING: i32 = 13;
const PACKET_FANOUT: i32 = 18;
/// Fanout by flow hash, without `PACKET_FANOUT_FLAG_DEFRAG`.
const PACKET_FANOUT_HASH: u32 = 0;
const PACKET_LOSS: i32 = 14;
const PACKET_QDISC_BYPASS: i32 = 20;
const PACKET_IGNORE_OUTGOING: i32 = 23;
const TPACKET_V2: i32 = 1;
const PACKET_MR_PROMISC: u16 = 1;
const ETH_P_ALL: u16 = 0x0003;

/// A memory-mapped ring of one packet socket.
struct Ring {
    fd: OwnedFd,
    base: *mut u8,
    len: usize,
    frames: u32,
}

// SAFETY: the mapping is plain shared memory; which thread touches which frame is governed
// by the status words (kernel/user ownership) and the port's per-ring cursor locks.
unsafe impl Send for Ring {}
// SAFETY: as above.
unsafe impl Sync for Ring {}

impl Ring {
    fn open(iface: &str, idx: i32, rx: bool, blocks: u32) -> Result<Ring, KernelPortError> {
        // Protocol 0: the socket receives nothing until bind names the interface (no
        // window in which it sees every interface's traffic).
        // SAFETY: plain socket(2); the fd is owned immediately.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(sys("socket(AF_PACKET)", iface)(io::Error::last_os_error()));
        }
        // SAFETY: fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        setsockopt(&fd, PACKET_VERSION, &TPACKET_V2).map_err(sys("PACKET_VERSION", iface))?;
        if rx {
            // What brisk itself sends must not come back (older kernels lack the option;
            // their sockets do not see their own ring's frames either).
            let _ = setsockopt(&fd, PACKET_IGNORE_OUTGOING, &1i32);
        } else {
            let _ = setsockopt(&fd, PACKET_QDISC_BYPASS, &1i32);
            // A frame the kernel refuses is skipped, not left blocking the ring.
            setsockopt(&fd, PACKET_LOSS, &1i32).map_err(sys("PACKET_LOSS", iface))?;
        }
        let req = [
            BLOCK_SIZE,
            blocks,
            FRAME_SIZE,
            blocks * (BLOCK_SIZE / FRAME_SIZE),
        ];
        setsockopt(&fd, if rx { PACKET_RX_RING } else { PACKET_TX_RING }, &req).map_err(sys(
            if rx {
                "PACKET_RX_RING"
            } else {
                "PACKET_TX_RING"
            },
            iface,
        ))?;
        let len = (BLOCK_SIZE * blocks) as usize;
        // SAFETY: maps the ring the kernel just allocated for this socket.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(sys("mmap of the packet ring", iface)(
                io::Error::last_os_error(),
            ));
        }
        let ring = Ring {
            fd,
            base: base as *mut u8,
            len,
            frames: req[3],
        };
        // SAFETY: sockaddr_ll is plain data; zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = if rx { ETH_P_ALL.to_be() } else { 0 };
        sll.sll_ifindex = idx;
        // SAFETY: sll is a valid sockaddr_ll of the given size.
        let rc = unsafe {
            libc::bind(
                ring.fd.as_raw_fd(),
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc < 0 {
            return Err(sys("bind", iface)(io::Error::last_os_error()));
        }
        if rx {
            // packet_mreq: ifindex, type, alen, address[8]. Promiscuity ends with the socket.
            let mut mreq = [0u8; 16];
            mreq[..4].copy_from_slice(&idx.to_ne_bytes());
            mreq[4..6].copy_from_slice(&PACKET_MR_PROMISC.to_ne_bytes());
            setsockopt(&ring.fd, PACKET_ADD_MEMBERSHIP, &mreq)
                .map_err(sys("PACKET_ADD_MEMBERSHIP (promiscuous)", iface))?;
        }
        Ok(ring)
    }

    fn frame(&self, i: u32) -> *mut u8 {
        // Frames are FRAME_SIZE apart and blocks hold a whole number of them.
        // SAFETY: i < frames, so the offset is inside the mapping.
        unsafe { self.base.add(i as usize * FRAME_SIZE as usize) }
    }

    fn status(&self, i: u32) -> &AtomicU32 {
        // SAFETY: the status word is the frame's first, 4-byte aligned u32; the kernel and
        // brisk hand the frame to each other through it, so it is accessed atomically.
        unsafe { &*(self.frame(i).add(H_STATUS) as *const AtomicU32) }
    }

    fn read_u32(&self, i: u32, off: usize) -> u32 {
        // SAFETY: off + 4 is inside the frame header; the frame belongs to user space
        // (its status was read with acquire ordering before this).
        unsafe { std::ptr::read_volatile(self.frame(i).add(off) as *const u32) }
    }

    fn read_u16(&self, i: u32, off: usize) -> u16 {
        // SAFETY: as read_u32.
        unsafe { std::ptr::read_volatile(self.frame(i).add(off) as *const u16) }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: base/len are this ring's mapping, unmapped once; the fd closes after.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) };
    }
}

/// Puts the receive sockets in one fanout group that hashes flows over them. Group ids are
/// per network namespace: one derived from the process and interface, the next free one
/// when another group has it.
fn join_fanout(iface: &str, idx: i32, rx: &[(Ring, Mutex<u32>)]) -> Result<(), KernelPortError> {
    let base = (std::process::id() ^ (idx as u32).wrapping_mul(0x9e37_79b1)) & 0xffff;
    let mut last = None;
    for attempt in 0..64u32 {
        let id = (base + attempt) & 0xffff;
        let arg = id | (PACKET_FANOUT_HASH << 16);
        match setsockopt(&rx[0].0.fd, PACKET_FANOUT, &arg) {
            Ok(()) => {
                for (r, _) in &rx[1..] {
                    setsockopt(&r.fd, PACKET_FANOUT, &arg)
                        .map_err(sys("PACKET_FANOUT (joining the group)", iface))?;
                }
                // Before the group existed every socket saw every frame: give those back,
                // so no frame is received twice.
                for (r, _) in rx {
                    for i in 0..r.frames {
                        if r.status(i).load(Ordering::Acquire) & TP_STATUS_USER != 0 {
                            r.status(i).store(TP_STATUS_KERNEL, Ordering::Release);
                        }
                    }
                }
                return Ok(());
            }
            Err(e) => last = Some(e),
        }
    }
    Err(sys("PACKET_FANOUT (no free group id)", iface)(
        last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EBUSY)),
    ))
}

fn setsockopt<T: ?Sized>(fd: &OwnedFd, opt: i32, v: &T) -> io::Result<()> {
    // SAFETY: v points at size_of_val(v) readable bytes for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            SOL_PACKET,
            opt,
            v as *const T as *const libc::c_void,
            std::mem::size_of_val(v) as u32,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// One AF_PACKET port.
pub struct AfPacketPort {
    dev: Netdev,
    /// Receive queues: a ring each and its next frame (a lock rather than a bare index so
    /// two pollers of one queue could never share a frame; uncontended, one worker owns
    /// the queue). With more than one, the sockets form a fanout group that spreads flows
    /// over them by the kernel's flow hash, as RSS spreads them over a NIC's queues.
    rx: Vec<(Ring, Mutex<u32>)>,
    tx: Vec<(Ring, Mutex<u32>)>,
    /// Frames the kernel dropped because the ring was full (PACKET_STATISTICS, which
    /// resets on every read, summed here).
    missed: AtomicU64,
}

impl std::fmt::Debug for AfPacketPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AfPacketPort({})", self.dev.iface())
    }
}

impl AfPacketPort {
    /// Opens `iface` with `rx_queues` receive rings (a fanout group by flow hash when more
    /// than one; never with the kernel's defragmentation) and `tx_queues` transmit rings,
    /// in promiscuous mode, and sets the interface up.
    pub fn open(
        iface: &str,
        rx_queues: u16,
        tx_queues: u16,
    ) -> Result<AfPacketPort, KernelPortError> {
        valid_ifname(iface)?;
        let idx = ifindex(iface)?;
        set_up(iface)?;
        let rx = (0..rx_queues.max(1))
            .map(|_| Ring::open(iface, idx, true, RX_BLOCKS).map(|r| (r, Mutex::new(0))))
            .collect::<Result<Vec<_>, _>>()?;
        if rx.len() > 1 {
            join_fanout(iface, idx, &rx)?;
        }
        let tx = (0..tx_queues.max(1))
            .map(|_| Ring::open(iface, idx, false, TX_BLOCKS).map(|r| (r, Mutex::new(0))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AfPacketPort {
            dev: Netdev::new(iface)?,
            rx,
            tx,
            missed: AtomicU64::new(0),
        })
    }

    /// The interface: name, MAC, link.
    pub fn netdev(&self) -> &Netdev {
        &self.dev
    }

    /// Receive queues.
    pub fn rx_queues(&self) -> u16 {
        self.rx.len() as u16
    }

    /// Receives up to `BURST - batch.len()` frames of receive queue `queue` into `batch`,
    /// copying each from the ring into a buffer of `pool`; returns how many.
    pub fn rx_burst(&self, queue: u16, batch: &mut PktBatch, pool: &PktPool) -> usize {
        let Some((r, cursor)) = self.rx.get(usize::from(queue)) else {
            return 0;
        };
        let Some(mut next) = cursor.try_lock() else {
            return 0;
        };
        let mut n = 0;
        while batch.len() < BURST {
            let i = *next;
            let st = r.status(i).load(Ordering::Acquire);
            if st & TP_STATUS_USER == 0 {
                break;
            }
            let len = r.read_u32(i, H_LEN) as usize;
            let snap = r.read_u32(i, H_SNAPLEN) as usize;
            let mac = usize::from(r.read_u16(i, H_MAC));
            let vlan = (st & TP_STATUS_VLAN_VALID != 0).then(|| {
                let tpid = if st & TP_STATUS_VLAN_TPID_VALID != 0 {
                    r.read_u16(i, H_VLAN_TPID)
                } else {
                    0x8100
                };
                (tpid, r.read_u16(i, H_VLAN_TCI))
            });
            let total = snap + if vlan.is_some() { 4 } else { 0 };
            if snap != len
                || snap < 14
                || mac + snap > FRAME_SIZE as usize
                || total > crate::pkt::DATA_ROOM
            {
                self.dev.rx_errors.fetch_add(1, Ordering::Relaxed);
            } else {
                // SAFETY: [mac, mac + snap) lies inside this frame (checked above), and the
                // frame is user-owned until its status is handed back below.
                let data = unsafe { std::slice::from_raw_parts(r.frame(i).add(mac), snap) };
                match Pkt::alloc(pool) {
                    Some(mut p) => {
                        if let Some(buf) = p.append(total as u16) {
                            match vlan {
                                // The kernel took the tag out (VLAN acceleration): put it
                                // back where the wire had it.
                                Some((tpid, tci)) => {
                                    buf[..12].copy_from_slice(&data[..12]);
                                    buf[12..14].copy_from_slice(&tpid.to_be_bytes());
                                    buf[14..16].copy_from_slice(&tci.to_be_bytes());
                                    buf[16..].copy_from_slice(&data[12..]);
                                }
                                None => buf.copy_from_slice(data),
                            }
                            if st & TP_STATUS_CSUMNOTREADY != 0 {
                                fill_l4_checksum(buf);
                            }
                            let _ = batch.push(p);
                            n += 1;
                        }
                    }
                    None => {
                        self.dev.rx_nombuf.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            r.status(i).store(TP_STATUS_KERNEL, Ordering::Release);
            *next = (i + 1) % r.frames;
        }
        n
    }

    /// Copies the frames of `batch` into transmit ring `queue` and asks the kernel to send
    /// them. The ones placed in the ring, and the ones too long for it (counted as errors),
    /// leave the batch (freed); the rest stay when the ring is full. Returns how many were
    /// placed.
    pub fn tx_burst(&self, queue: u16, batch: &mut PktBatch) -> usize {
        let Some((r, cursor)) = self.tx.get(usize::from(queue)).or_else(|| self.tx.last()) else {
            return 0;
        };
        let mut next = cursor.lock();
        let (mut done, mut placed) = (0, 0);
        // Kick when frames were placed, and also when the ring is full: frames a kick left
        // behind (EAGAIN, ENOBUFS) go only with the next one.
        let mut kick = false;
        let max = (self.dev.mtu() + 18).min(FRAME_SIZE as usize - TX_DATA);
        while let Some(p) = batch.get(done) {
            let i = *next;
            let st = r.status(i).load(Ordering::Acquire);
            if st & TP_STATUS_WRONG_FORMAT != 0 {
                self.dev.tx_errors.fetch_add(1, Ordering::Relaxed);
            } else if st != TP_STATUS_AVAILABLE {
                kick = true;
                break; // the kernel has not sent this frame yet: ring full
            }
            let d = p.data();
            // What the kernel would refuse (shorter than Ethernet, longer than the MTU with
            // Ethernet and a VLAN tag) is counted here, not placed.
            if d.len() < 14 || d.len() > max {
                self.dev.tx_errors.fetch_add(1, Ordering::Relaxed);
                r.status(i).store(TP_STATUS_AVAILABLE, Ordering::Release);
                done += 1;
                continue;
            }
            // SAFETY: the frame is user-owned (status AVAILABLE) and d fits after the header.
            unsafe {
                std::ptr::copy_nonoverlapping(d.as_ptr(), r.frame(i).add(TX_DATA), d.len());
                std::ptr::write_volatile(r.frame(i).add(H_LEN) as *mut u32, d.len() as u32);
            }
            r.status(i).store(TP_STATUS_SEND_REQUEST, Ordering::Release);
            *next = (i + 1) % r.frames;
            placed += 1;
            done += 1;
        }
        if placed > 0 || kick {
            fence(Ordering::SeqCst);
            // SAFETY: a send with no buffer kicks the socket's transmit ring.
            let rc = unsafe {
                libc::sendto(
                    r.fd.as_raw_fd(),
                    std::ptr::null(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null(),
                    0,
                )
            };
            // EAGAIN/ENOBUFS: the frames stay queued in the ring and go with the next kick.
            let _ = rc;
        }
        batch.free_front(done);
        placed
    }

    /// Counters: the kernel's ring drops and the port's own errors.
    pub fn stats(&self) -> crate::netdev::PortStats {
        for (r, _) in &self.rx {
            // tpacket_stats: packets, drops (both reset by the read).
            let mut st = [0u32; 2];
            let mut len = std::mem::size_of_val(&st) as u32;
            // SAFETY: st is a writable tpacket_stats-sized buffer and len its size.
            let rc = unsafe {
                libc::getsockopt(
                    r.fd.as_raw_fd(),
                    SOL_PACKET,
                    PACKET_STATISTICS,
                    st.as_mut_ptr() as *mut libc::c_void,
                    &mut len,
                )
            };
            if rc == 0 {
                self.missed.fetch_add(u64::from(st[1]), Ordering::Relaxed);
            }
        }
        self.dev.stats(self.missed.load(Ordering::Relaxed))
    }
}
