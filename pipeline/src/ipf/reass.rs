//! One worker's fragment lists: fragments held per datagram until it is whole (or its
//! time is up), and the datagram built once, into a buffer of the worker's, for
//! conntrack to track.

use super::{IpfEvent, IpfShared};
use crate::dpaction::Packet;
use crate::field::fget;
use crate::flow::eth_type;
use crate::packet::{csum, parse_err, Frame};
use crate::wire::be16;
use crate::wire::checksum::checksum;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// What makes fragments one datagram's (OVS's `ipf_list_key`): the addresses, the IP
/// identification, the protocol (v4), and where in the pipeline they met `ct` (zone and
/// recirculation id), so each `ct` of a walk reassembles on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ListKey {
    src: u128,
    dst: u128,
    id: u32,
    recirc: u32,
    zone: u16,
    v6: bool,
    proto: u8,
}

/// Where a fragment's pieces are in its frame, and where its data goes in the datagram.
#[derive(Clone, Copy, Debug)]
struct Piece {
    key: ListKey,
    /// Data offset in the datagram and its end (exclusive).
    start: usize,
    end: usize,
    /// More fragments follow (not the last).
    more: bool,
    /// In the frame: the headers end (the fragment header too, for v6) and the data ends.
    hdr_end: usize,
    data_end: usize,
    /// v6: the fragment header's offset, the next-header byte that names it, and the
    /// protocol it announces.
    frag_hdr: usize,
    nh_at: usize,
    next: u8,
}

struct Held<F: Frame> {
    pkt: Packet<F>,
    piece: Piece,
    /// Arrival: the pass (`Reassembler::next_pass`) and the slot in it.
    seq: u64,
}

struct FragList<F: Frame> {
    frags: Vec<Held<F>>,
    /// The datagram's data length, once its last fragment arrived.
    total: Option<usize>,
    have_first: bool,
    /// Which entry of the expiry queue is this list's.
    born: u64,
}

/// What [`Reassembler::push`] did with a fragment.
// The packet moves through once, by value: boxing it would allocate per fragment.
#[allow(clippy::large_enum_variant)]
pub enum Push<F: Frame> {
    /// Held: its datagram is not whole yet.
    Held,
    /// Not held ([`IpfEvent`] counted why): conntrack tracks it alone.
    Alone(Packet<F>),
    /// Its datagram is whole ([`Reassembler::datagram`]): every fragment, in the order
    /// they arrived.
    Complete(Vec<Packet<F>>),
}

/// Fragments a worker holds: lists per datagram, their expiry, and fragments of whole
/// datagrams waiting for room in a burst.
pub struct Reassembler<F: Frame> {
    lists: HashMap<ListKey, FragList<F>>,
    /// (expiry ms, list, born) in arrival order (the timeout is the same for all).
    expiry: VecDeque<(u64, ListKey, u64)>,
    ready: VecDeque<Packet<F>>,
    scratch: Vec<u8>,
    born: u64,
    shared: Option<Arc<IpfShared>>,
    /// The fast path's passes: a burst's slots are in arrival order, but its megaflow
    /// groups run `ct` in another.
    pass: u64,
}

/// Fragments of whole datagrams that may wait for room in a later burst.
const READY_MAX: usize = 256;

impl<F: Frame> Default for Reassembler<F> {
    fn default() -> Self {
        Reassembler {
            lists: HashMap::new(),
            expiry: VecDeque::new(),
            ready: VecDeque::new(),
            scratch: Vec::new(),
            born: 0,
            shared: None,
            pass: 0,
        }
    }
}

impl<F: Frame> Drop for Reassembler<F> {
    fn drop(&mut self) {
        if let Some(s) = &self.shared {
            for l in self.lists.values() {
                let bytes = l.frags.iter().map(|h| h.pkt.frame.len()).sum();
                s.release(l.frags.len(), bytes);
            }
        }
    }
}

/// Reads a fragment's headers, or says why it cannot be held.
fn piece(
    d: &[u8],
    l3: usize,
    v6: bool,
    shared: &IpfShared,
    l3_good: bool,
) -> Result<Piece, IpfEvent> {
    let min = shared.min_frag[usize::from(v6)].load(std::sync::atomic::Ordering::Relaxed) as usize;
    if v6 {
        piece_v6(d, l3, min)
    } else {
        piece_v4(d, l3, min, l3_good)
    }
}

fn piece_v4(d: &[u8], l3: usize, min: usize, l3_good: bool) -> Result<Piece, IpfEvent> {
    let h = d.get(l3..l3 + 20).ok_or(IpfEvent::Invalid)?;
    let ihl = usize::from(h[0] & 0x0f) * 4;
    let tot = usize::from(be16(h, 2));
    if h[0] >> 4 != 4 || ihl < 20 || tot < ihl || l3 + tot > d.len() {
        return Err(IpfEvent::Invalid);
    }
    if !l3_good && checksum(&d[l3..l3 + ihl]) != 0 {
        return Err(IpfEvent::Invalid);
    }
    let fo = be16(h, 6);
    let start = usize::from(fo & 0x1fff) * 8;
    let len = tot - ihl;
    let more = fo & 0x2000 != 0;
    check_sizes(start, len, more, tot, min, 65_535 - ihl)?;
    let a = |o: usize| u128::from(u32::from_be_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]));
    Ok(Piece {
        key: ListKey {
            src: a(12),
            dst: a(16),
            id: u32::from(be16(h, 4)),
            recirc: 0,
            zone: 0,
            v6: false,
            proto: h[9],
        },
        start,
        end: start + len,
        more,
        hdr_end: l3 + ihl,
        data_end: l3 + tot,
        frag_hdr: 0,
        nh_at: 0,
        next: h[9],
    })
}

fn piece_v6(d: &[u8], l3: usize, min: usize) -> Result<Piece, IpfEvent> {
    let h = d.get(l3..l3 + 40).ok_or(IpfEvent::Invalid)?;
    let end = l3 + 40 + usize::from(be16(h, 4));
    if h[0] >> 4 != 6 || end > d.len() {
        return Err(IpfEvent::Invalid);
    }
    // The unfragmentable part: hop-by-hop, routing and destination options before the
    // fragment header.
    let (mut nh, mut nh_at, mut o) = (h[6], l3 + 6, l3 + 40);
    let frag_hdr = loop {
        match nh {
            44 if o + 8 <= end => break o,
            0 | 43 | 60 if o + 8 <= end => {
                nh_at = o;
                nh = d[o];
                o += (usize::from(d[o + 1]) + 1) * 8;
            }
            _ => return Err(IpfEvent::Invalid),
        }
    };
    let offlg = be16(d, frag_hdr + 2);
    let start = usize::from(offlg & 0xfff8);
    let more = offlg & 1 != 0;
    let hdr_end = frag_hdr + 8;
    let len = end - hdr_end;
    // The datagram's payload: the unfragmentable extension headers and the data.
    let unfrag = frag_hdr - (l3 + 40);
    check_sizes(start, len, more, end - l3, min, 65_535 - unfrag)?;
    let a = |o: usize| u128::from_be_bytes(h[o..o + 16].try_into().unwrap_or([0; 16]));
    Ok(Piece {
        key: ListKey {
            src: a(8),
            dst: a(24),
            id: u32::from_be_bytes([
                d[frag_hdr + 4],
                d[frag_hdr + 5],
                d[frag_hdr + 6],
                d[frag_hdr + 7],
            ]),
            recirc: 0,
            zone: 0,
            v6: true,
            proto: 0,
        },
        start,
        end: start + len,
        more,
        hdr_end,
        data_end: end,
        frag_hdr,
        nh_at,
        next: d[frag_hdr],
    })
}

/// The size rules every fragment meets: some data; all but the last a multiple of 8 bytes
/// long and at least `min` bytes of IP packet; nothing past `max` bytes of data.
fn check_sizes(
    start: usize,
    len: usize,
    more: bool,
    ip_len: usize,
    min: usize,
    max: usize,
) -> Result<(), IpfEvent> {
    if len == 0 || (more && !len.is_multiple_of(8)) {
        return Err(IpfEvent::Invalid);
    }
    if more && ip_len < min {
        return Err(IpfEvent::TooSmall);
    }
    if start + len > max {
        return Err(IpfEvent::Oversize);
    }
    Ok(())
}

impl<F: Frame> FragList<F> {
    /// Whether `p` can join: it overlaps nothing held and agrees with the datagram's end.
    fn admits(&self, p: &Piece) -> Result<(), IpfEvent> {
        if self
            .frags
            .iter()
            .any(|h| p.start < h.piece.end && h.piece.start < p.end)
        {
            return Err(IpfEvent::Overlap);
        }
        let past_end = |total: usize| {
            p.end > total || (!p.more && self.frags.iter().any(|h| h.piece.end > p.end))
        };
        match self.total {
            Some(t) if past_end(t) || !p.more => Err(IpfEvent::Invalid),
            None if !p.more && past_end(p.end) => Err(IpfEvent::Invalid),
            _ => Ok(()),
        }
    }

    fn whole(&self) -> bool {
        self.have_first
            && self.total.is_some_and(|t| {
                self.frags
                    .iter()
                    .map(|h| h.piece.end - h.piece.start)
                    .sum::<usize>()
                    == t
            })
    }
}

impl<F: Frame> Reassembler<F> {
    /// A reassembler holding nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fragments held, in every list.
    pub fn held(&self) -> usize {
        self.lists.values().map(|l| l.frags.len()).sum()
    }

    /// Datagrams being reassembled.
    pub fn n_lists(&self) -> usize {
        self.lists.len()
    }

    /// The last datagram made whole: L2 header, IP header (no fragment fields) and all
    /// the data.
    pub fn datagram(&self) -> &[u8] {
        &self.scratch
    }

    /// A new pass of the fast path begins: fragments pushed from now on came after those
    /// pushed before, whatever their slots.
    #[inline]
    pub fn next_pass(&mut self) {
        self.pass += 1;
    }

    /// Takes a fragment that met `ct` in `zone` at `now_ms`, from `slot` of the pass.
    pub fn push(
        &mut self,
        shared: &Arc<IpfShared>,
        pkt: Packet<F>,
        slot: usize,
        zone: u16,
        now_ms: u64,
    ) -> Push<F> {
        let seq = (self.pass << 8) | (slot as u64 & 0xff);
        let v6 = fget!(EthType, &pkt.key) as u16 == eth_type::IPV6;
        if !shared.enabled(v6) {
            shared.count(v6, IpfEvent::Disabled, 1);
            return Push::Alone(pkt);
        }
        let lay = &pkt.layout;
        let mut p = match (
            lay.l3,
            lay.err & (parse_err::L3_BAD | parse_err::L2_TRUNCATED),
        ) {
            (l3, 0) if l3 != 0 => {
                let l3_good = lay.csum & csum::L3_GOOD != 0;
                match piece(pkt.frame.data(), usize::from(l3), v6, shared, l3_good) {
                    Ok(p) => p,
                    Err(e) => {
                        shared.count(v6, e, 1);
                        return Push::Alone(pkt);
                    }
                }
            }
            _ => {
                shared.count(v6, IpfEvent::Invalid, 1);
                return Push::Alone(pkt);
            }
        };
        p.key.zone = zone;
        p.key.recirc = fget!(RecircId, &pkt.key) as u32;
        let per = shared
            .per_datagram
            .load(std::sync::atomic::Ordering::Relaxed) as usize;
        if let Some(l) = self.lists.get(&p.key) {
            let verdict = if l.frags.len() >= per {
                Err(IpfEvent::TooMany)
            } else {
                l.admits(&p)
            };
            if let Err(e) = verdict {
                shared.count(v6, e, 1);
                return Push::Alone(pkt);
            }
        } else if !p.more && p.start == 0 {
            // An atomic fragment (IPv6: offset 0, no more): the whole datagram already.
            shared.count(v6, IpfEvent::Accepted, 1);
            shared.count(v6, IpfEvent::Completed, 1);
            let frags = [Held { pkt, piece: p, seq }];
            self.build(&frags);
            let [h] = frags;
            return Push::Complete(vec![h.pkt]);
        }
        if !shared.reserve(pkt.frame.len()) {
            shared.count(v6, IpfEvent::Full, 1);
            return Push::Alone(pkt);
        }
        if self.shared.is_none() {
            self.shared = Some(shared.clone());
        }
        shared.count(v6, IpfEvent::Accepted, 1);
        let list = self.list(p.key, shared, now_ms);
        if !p.more {
            list.total = Some(p.end);
        }
        list.have_first |= p.start == 0;
        list.frags.push(Held { pkt, piece: p, seq });
        if !list.whole() {
            return Push::Held;
        }
        let mut list = self.lists.remove(&p.key).expect("the list just filled");
        list.frags.sort_by_key(|h| h.seq);
        let bytes = list.frags.iter().map(|h| h.pkt.frame.len()).sum();
        shared.release(list.frags.len(), bytes);
        shared.count(v6, IpfEvent::Completed, list.frags.len() as u64);
        self.build(&list.frags);
        self.compact();
        Push::Complete(list.frags.into_iter().map(|h| h.pkt).collect())
    }

    /// The list of `key`, started (with its expiry) if new.
    fn list(&mut self, key: ListKey, shared: &IpfShared, now_ms: u64) -> &mut FragList<F> {
        let (born, expiry) = (&mut self.born, &mut self.expiry);
        self.lists.entry(key).or_insert_with(|| {
            *born += 1;
            let t = shared.timeout_ms.load(std::sync::atomic::Ordering::Relaxed);
            expiry.push_back((now_ms + u64::from(t), key, *born));
            FragList {
                frags: Vec::with_capacity(4),
                total: None,
                have_first: false,
                born: *born,
            }
        })
    }

    /// Writes the datagram of a whole list into the scratch buffer.
    fn build(&mut self, frags: &[Held<F>]) {
        let mut order: Vec<&Held<F>> = frags.iter().collect();
        order.sort_unstable_by_key(|h| h.piece.start);
        let first = order[0];
        let d0 = first.pkt.frame.data();
        let l3 = usize::from(first.pkt.layout.l3);
        let v6 = first.piece.key.v6;
        self.scratch.clear();
        let head = if v6 {
            first.piece.frag_hdr
        } else {
            first.piece.hdr_end
        };
        self.scratch.extend_from_slice(&d0[..head]);
        for h in &order {
            let d = h.pkt.frame.data();
            self.scratch
                .extend_from_slice(&d[h.piece.hdr_end..h.piece.data_end]);
        }
        let s = &mut self.scratch;
        let ip_len = s.len() - l3;
        if v6 {
            s[first.piece.nh_at] = first.piece.next;
            s[l3 + 4..l3 + 6].copy_from_slice(&((ip_len - 40) as u16).to_be_bytes());
        } else {
            let ihl = first.piece.hdr_end - l3;
            s[l3 + 2..l3 + 4].copy_from_slice(&(ip_len as u16).to_be_bytes());
            // Keep DF; clear MF and the offset.
            s[l3 + 6] &= 0x40;
            s[l3 + 7] = 0;
            s[l3 + 10..l3 + 12].copy_from_slice(&[0, 0]);
            let c = checksum(&s[l3..l3 + ihl]);
            s[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
        }
    }

    /// Drops the expiry entries of lists that completed once they outnumber the lists.
    fn compact(&mut self) {
        if self.expiry.len() > 2 * self.lists.len() + 64 {
            let lists = &self.lists;
            self.expiry
                .retain(|(_, k, b)| lists.get(k).is_some_and(|l| l.born == *b));
        }
    }

    /// Whether a list's time is up (cheap: call it every poll).
    #[inline]
    pub fn due(&self, now_ms: u64) -> bool {
        self.expiry.front().is_some_and(|e| e.0 <= now_ms)
    }

    /// Drops the fragments of datagrams whose time is up, handing each frame to `drop`.
    pub fn expire(&mut self, now_ms: u64, mut drop: impl FnMut(F)) {
        while let Some(&(t, key, born)) = self.expiry.front() {
            if t > now_ms {
                break;
            }
            self.expiry.pop_front();
            if self.lists.get(&key).is_none_or(|l| l.born != born) {
                continue;
            }
            let Some(list) = self.lists.remove(&key) else {
                continue;
            };
            let bytes = list.frags.iter().map(|h| h.pkt.frame.len()).sum();
            if let Some(s) = &self.shared {
                s.release(list.frags.len(), bytes);
                s.count(key.v6, IpfEvent::Expired, list.frags.len() as u64);
            }
            for h in list.frags {
                drop(h.pkt.frame);
            }
        }
    }

    /// Counts `e` for a fragment of this worker's.
    pub fn count(&self, v6: bool, e: IpfEvent) {
        if let Some(s) = &self.shared {
            s.count(v6, e, 1);
        }
    }

    /// Keeps a fragment of a whole datagram, its `ct` done, for a later burst; gives it
    /// back when too many wait already.
    pub fn stash(&mut self, pkt: Packet<F>) -> Option<Packet<F>> {
        if self.ready.len() >= READY_MAX {
            return Some(pkt);
        }
        self.ready.push_back(pkt);
        None
    }

    /// Whether fragments wait for room.
    #[inline]
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The next fragment waiting for room.
    pub fn take_ready(&mut self) -> Option<Packet<F>> {
        self.ready.pop_front()
    }

    /// Gives a fragment back to the front of the waiting ones (no room after all).
    pub fn unready(&mut self, pkt: Packet<F>) {
        self.ready.push_front(pkt);
    }
}
