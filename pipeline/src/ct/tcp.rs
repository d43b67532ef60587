//! TCP state and sequence-window tracking (the pf-derived algorithm OVS uses, after Guido
//! van Rooij's "Real stateful TCP packet filtering"): each side's highest sequence sent,
//! the highest it may send, its largest window and window scale. A segment outside what
//! the peer could have allowed is invalid.

use super::CtPacket;

const FIN: u16 = 0x001;
const SYN: u16 = 0x002;
const RST: u16 = 0x004;
const PSH: u16 = 0x008;
const ACK: u16 = 0x010;
const URG: u16 = 0x020;

const MAX_WSCALE: u8 = 14;
const WSCALE_FLAG: u8 = 0x80;
const WSCALE_UNKNOWN: u8 = 0x40;
const WSCALE_MASK: u8 = 0x0f;
const MAXACKWINDOW: i64 = 0xffff + 1500;

/// TCP states, ordered as OVS's `CT_DPIF_TCPS_*` (the order matters: comparisons below).
/// Some states exist only to keep that order.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum St {
    Closed = 0,
    Listen,
    SynSent,
    SynRecv,
    Established,
    CloseWait,
    FinWait1,
    Closing,
    LastAck,
    FinWait2,
    TimeWait,
}

#[derive(Clone, Copy, Debug)]
struct Peer {
    seqlo: u32,
    seqhi: u32,
    max_win: u32,
    wscale: u8,
    state: St,
}

/// Which timeout applies after a valid update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    Opening,
    Established,
    Closing,
    FinWait,
    Closed,
    /// Packet accepted by the loose check: do not refresh.
    Unchanged,
}

/// Result of running a segment through the tracker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TcpUpdate {
    Invalid,
    /// The connection is over and this SYN starts a new one.
    New,
    /// A SYN (re)transmission in SYN_SENT.
    ValidNew,
    Valid(Timer),
}

/// Per-connection TCP tracking state.
#[derive(Clone, Debug)]
pub(crate) struct TcpConn {
    peer: [Peer; 2],
}

/// OVS's invalid flag combinations.
pub(crate) fn invalid_flags(f: u16) -> bool {
    if f & SYN != 0 {
        if f & (RST | FIN) != 0 {
            return true;
        }
    } else if f & (ACK | RST) == 0 {
        return true;
    }
    if f & ACK == 0 && f & (FIN | PSH | URG) != 0 {
        return true;
    }
    false
}

struct Seg {
    flags: u16,
    seq: u32,
    ack: u32,
    win: u32,
    hlen: usize,
    payload: u32,
}

fn seg(pkt: &CtPacket<'_>) -> Option<Seg> {
    let b = pkt.l4;
    if b.len() < 20 {
        return None;
    }
    let hlen = usize::from(b[12] >> 4) * 4;
    if hlen < 20 || hlen > b.len() || hlen > pkt.l4_len {
        return None;
    }
    Some(Seg {
        flags: u16::from_be_bytes([b[12], b[13]]) & 0x0fff,
        seq: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        ack: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        win: u32::from(u16::from_be_bytes([b[14], b[15]])),
        hlen,
        payload: (pkt.l4_len - hlen) as u32,
    })
}

fn wscale(b: &[u8], hlen: usize) -> u8 {
    let mut opt = &b[20..hlen.min(b.len())];
    let mut ws = 0u8;
    while opt.len() >= 3 {
        match opt[0] {
            0 => return ws,
            1 => opt = &opt[1..],
            k => {
                if k == 3 {
                    ws = opt[2].min(MAX_WSCALE) | WSCALE_FLAG;
                }
                let l = usize::from(opt[1]).max(2);
                if l > opt.len() {
                    return ws;
                }
                opt = &opt[l..];
            }
        }
    }
    ws
}

/// Sequence number just past the segment (SYN and FIN count one each).
#[inline(always)]
fn seg_end(s: &Seg) -> u32 {
    let mut end = s.seq.wrapping_add(s.payload);
    if s.flags & SYN != 0 {
        end = end.wrapping_add(1);
    }
    if s.flags & FIN != 0 {
        end = end.wrapping_add(1);
    }
    end
}

/// Window scales of the sender (`sws`) and receiver (`dws`), the sender's window, and
/// whether the ACK can be judged, as the first segment from an end leaves them.
#[derive(Clone, Copy)]
struct Window {
    sws: u8,
    dws: u8,
    win: u32,
    check_ackskew: bool,
}

fn seq_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}
fn seq_geq(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) >= 0
}

impl TcpConn {
    /// Starts tracking from the first segment (validity checked by the caller).
    pub(crate) fn new(pkt: &CtPacket<'_>) -> Option<Self> {
        let s = seg(pkt)?;
        let mut src = Peer {
            seqlo: s.seq,
            seqhi: s.seq.wrapping_add(s.payload).wrapping_add(1),
            max_win: s.win.max(1),
            wscale: 0,
            state: St::SynSent,
        };
        let mut dst = Peer {
            seqlo: 0,
            seqhi: 1,
            max_win: 1,
            wscale: 0,
            state: St::Closed,
        };
        if s.flags & SYN != 0 {
            src.seqhi = src.seqhi.wrapping_add(1);
            src.wscale = wscale(pkt.l4, s.hlen);
        } else {
            src.wscale = WSCALE_UNKNOWN;
            dst.wscale = WSCALE_UNKNOWN;
        }
        if src.wscale & WSCALE_MASK != 0 {
            let sws = src.wscale & WSCALE_MASK;
            src.max_win = src.max_win.div_ceil(1 << sws);
        }
        if s.flags & FIN != 0 {
            src.seqhi = src.seqhi.wrapping_add(1);
        }
        Some(TcpConn { peer: [src, dst] })
    }

    /// `ovs-appctl dpctl/dump-conntrack` state name of the connection.
    pub(crate) fn state_name(&self) -> &'static str {
        let (a, b) = (self.peer[0].state, self.peer[1].state);
        if a >= St::FinWait2 && b >= St::FinWait2 {
            "TIME_WAIT"
        } else if a >= St::Closing || b >= St::Closing {
            "FIN_WAIT_1"
        } else if a >= St::Established && b >= St::Established {
            "ESTABLISHED"
        } else if b == St::Closed || a == St::Closed {
            if a == St::Closed && b == St::Closed {
                "CLOSED"
            } else {
                "SYN_SENT"
            }
        } else {
            "SYN_RECV"
        }
    }

    /// Runs a segment through the tracker.
    pub(crate) fn update(&mut self, pkt: &CtPacket<'_>, reply: bool) -> TcpUpdate {
        let Some(s) = seg(pkt) else {
            return TcpUpdate::Invalid;
        };
        let flags = s.flags;
        if invalid_flags(flags) {
            return TcpUpdate::Invalid;
        }
        let (si, di) = if reply { (1, 0) } else { (0, 1) };
        if flags & (SYN | ACK) == SYN {
            if let Some(verdict) = self.bare_syn(si, di) {
                return verdict;
            }
        }
        let mut sws = 0u8;
        let mut dws = 0u8;
        let (sw, dw) = (self.peer[si].wscale, self.peer[di].wscale);
        if sw & WSCALE_FLAG != 0 && dw & WSCALE_FLAG != 0 && flags & SYN == 0 {
            sws = sw & WSCALE_MASK;
            dws = dw & WSCALE_MASK;
        } else if sw & WSCALE_UNKNOWN != 0 && dw & WSCALE_UNKNOWN != 0 && flags & SYN == 0 {
            sws = MAX_WSCALE;
            dws = MAX_WSCALE;
        }
        let mut win = s.win;
        let orig_seq = s.seq;
        let mut seq = s.seq;
        let mut ack = s.ack;
        let mut end = seg_end(&s);
        let mut check_ackskew = true;
        if self.peer[si].state < St::SynSent {
            // First packet from this end (the SYN-ACK).
            let w = Window {
                sws,
                dws,
                win,
                check_ackskew: true,
            };
            let w = self.first_from_sender(pkt, &s, end, (si, di), w);
            (sws, dws, win) = (w.sws, w.dws, w.win);
            check_ackskew = w.check_ackskew;
        }
        if flags & ACK == 0 || (ack == 0 && flags & (ACK | RST) == (ACK | RST)) {
            ack = self.peer[di].seqlo;
        }
        if seq == end {
            seq = self.peer[si].seqlo;
            end = seq;
        }
        let (src, dst) = (self.peer[si], self.peer[di]);
        let ackskew: i64 = if check_ackskew {
            i64::from(dst.seqlo.wrapping_sub(ack) as i32)
        } else {
            0
        };
        let strict_ok = seq_geq(src.seqhi, end)
            && seq_geq(seq, src.seqlo.wrapping_sub(dst.max_win << dws))
            && ackskew >= -MAXACKWINDOW
            && ackskew <= (MAXACKWINDOW << sws)
            && (flags & RST == 0
                || orig_seq == src.seqlo
                || orig_seq == src.seqlo.wrapping_add(1)
                || orig_seq.wrapping_add(1) == src.seqlo);
        let loose_ok = !strict_ok
            && (dst.state < St::SynSent || dst.state >= St::FinWait2 || src.state >= St::FinWait2)
            && seq_geq(src.seqhi.wrapping_add(MAXACKWINDOW as u32), end)
            && seq_geq(seq, src.seqlo.wrapping_sub(MAXACKWINDOW as u32));
        if !strict_ok && !loose_ok {
            return TcpUpdate::Invalid;
        }
        {
            let src = &mut self.peer[si];
            if src.max_win < win {
                src.max_win = win;
            }
            if seq_gt(end, src.seqlo) {
                src.seqlo = end;
            }
        }
        let reach = ack.wrapping_add(win << sws);
        if seq_geq(reach, self.peer[di].seqhi) {
            self.peer[di].seqhi = ack.wrapping_add((win << sws).max(1));
        }
        if loose_ok {
            return self.loose_states(flags, si, di);
        }
        TcpUpdate::Valid(self.strict_states(flags, si, di))
    }

    /// A SYN without ACK: either a new connection over a closed one, or a SYN
    /// (re)transmission while opening. `None` to track it as any other segment.
    #[inline(always)]
    fn bare_syn(&mut self, si: usize, di: usize) -> Option<TcpUpdate> {
        let (src, dst) = (self.peer[si].state, self.peer[di].state);
        if dst >= St::FinWait2 && src >= St::FinWait2 {
            self.peer[si].state = St::Closed;
            self.peer[di].state = St::Closed;
            Some(TcpUpdate::New)
        } else if src <= St::SynSent {
            self.peer[si].state = St::SynSent;
            Some(TcpUpdate::ValidNew)
        } else {
            None
        }
    }

    /// The first segment from this end (the SYN-ACK): takes its window scale, opens its
    /// sequence space and says whether its ACK can be checked yet.
    #[inline(always)]
    fn first_from_sender(
        &mut self,
        pkt: &CtPacket<'_>,
        s: &Seg,
        end: u32,
        (si, di): (usize, usize),
        mut w: Window,
    ) -> Window {
        if s.flags & SYN != 0 && self.peer[di].wscale & WSCALE_FLAG != 0 {
            let ws = wscale(pkt.l4, s.hlen);
            self.peer[si].wscale = ws;
            if ws & WSCALE_FLAG != 0 {
                w.sws = ws & WSCALE_MASK;
                w.win = w.win.div_ceil(1 << w.sws);
                w.dws = self.peer[di].wscale & WSCALE_MASK;
            } else {
                let d = &mut self.peer[di];
                d.max_win <<= d.wscale & WSCALE_MASK;
                d.wscale = 0;
            }
        }
        let dmax = self.peer[di].max_win;
        let src = &mut self.peer[si];
        src.seqlo = s.seq;
        src.state = St::SynSent;
        let reach = end.wrapping_add((dmax << w.dws).max(1));
        if src.seqhi == 1 || seq_geq(reach, src.seqhi) {
            src.seqhi = reach;
            w.check_ackskew = false;
        }
        if w.win > src.max_win {
            src.max_win = w.win;
        }
        w
    }

    /// State changes for a segment accepted only by the loose check: FIN and RST count,
    /// the timer is not refreshed.
    #[inline(always)]
    fn loose_states(&mut self, flags: u16, si: usize, di: usize) -> TcpUpdate {
        if flags & FIN != 0 && self.peer[si].state < St::Closing {
            self.peer[si].state = St::Closing;
        }
        if flags & RST != 0 {
            self.peer[si].state = St::TimeWait;
            self.peer[di].state = St::TimeWait;
        }
        TcpUpdate::Valid(Timer::Unchanged)
    }

    /// State changes for a segment within the window, and the timer that then applies.
    #[inline(always)]
    fn strict_states(&mut self, flags: u16, si: usize, di: usize) -> Timer {
        if flags & SYN != 0 && self.peer[si].state < St::SynSent {
            self.peer[si].state = St::SynSent;
        }
        if flags & FIN != 0 && self.peer[si].state < St::Closing {
            self.peer[si].state = St::Closing;
        }
        if flags & ACK != 0 {
            if self.peer[di].state == St::SynSent {
                self.peer[di].state = St::Established;
            } else if self.peer[di].state == St::Closing {
                self.peer[di].state = St::FinWait2;
            }
        }
        if flags & RST != 0 {
            self.peer[si].state = St::TimeWait;
            self.peer[di].state = St::TimeWait;
        }
        let (a, b) = (self.peer[si].state, self.peer[di].state);
        if a >= St::FinWait2 && b >= St::FinWait2 {
            Timer::Closed
        } else if a >= St::Closing && b >= St::Closing {
            Timer::FinWait
        } else if a < St::Established || b < St::Established {
            Timer::Opening
        } else if a >= St::Closing || b >= St::Closing {
            Timer::Closing
        } else {
            Timer::Established
        }
    }
}
