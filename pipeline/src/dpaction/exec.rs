//! Executing datapath actions on packets: one action list over a group of packets that
//! share a megaflow (copies made only where actions fork), or on one packet; the header
//! rewrites and the ARP responder's reply (conntrack and NAT are in `ct.rs`). The release
//! profile builds one codegen unit with fat LTO, so generic helpers inline across modules;
//! with several codegen units, splitting the rewrites out cost ~60 cycles a packet on the
//! Antrea pipeline (criterion `antrea_pipeline_established/flows/1`).

use super::ct::{prefetch_ct, run_ct};
use super::{DpAction, DropReason, HdrField, TnlPending, TunnelMeta};
use crate::conntrack::{ConnRef, CtHash};
use crate::field::{fget, fset, Field};
use crate::flow::{eth_type, w, Flow, VLAN_CFI};
use crate::packet::{self, Frame, Layout};
use crate::tunnel::{Parked, TnlPush};
use smallvec::SmallVec;

/// A packet moving through the datapath: its frame, key and header offsets.
pub struct Packet<F: Frame> {
    /// The bytes.
    pub frame: F,
    /// Its flow key (kept in step with header rewrites).
    pub key: Flow,
    /// Header offsets.
    pub layout: Layout,
}

impl<F: Frame> Packet<F> {
    /// Parses `frame` received on `in_port`, with tunnel metadata if it came from a tunnel.
    pub fn new(frame: F, in_port: u32, tun: Option<&TunnelMeta>) -> Self {
        let mut key = Flow::ZERO;
        let mut layout = packet::extract(frame.data(), in_port, &mut key);
        layout.csum = rx_csum(&frame, tun);
        if let Some(t) = tun {
            t.to_flow(&mut key);
        }
        Packet { frame, key, layout }
    }
}

/// The receiving NIC's checksum verdict for a frame, unless it came out of a tunnel (then
/// the verdict was about the outer packet).
#[inline(always)]
fn rx_csum<F: Frame>(frame: &F, tun: Option<&TunnelMeta>) -> u8 {
    if tun.is_some() {
        0
    } else {
        frame.rx_csum()
    }
}

/// Mutable views of one packet's frame, key and layout, wherever they are stored.
pub struct PktMut<'a, F: Frame> {
    /// The bytes.
    pub frame: &'a mut F,
    /// The key.
    pub key: &'a mut Flow,
    /// Header offsets.
    pub layout: &'a mut Layout,
}

impl<F: Frame> PktMut<'_, F> {
    pub(super) fn is_v6(&self) -> bool {
        fget!(EthType, self.key) as u16 == eth_type::IPV6
    }

    /// Re-parses the headers after a change of layout (VLAN push/pop), keeping the
    /// metadata part of the key (port, tunnel, conntrack, recirculation, marks).
    pub fn reparse(&mut self) {
        let old = *self.key;
        let in_port = fget!(InPort, &old) as u32;
        let csum = self.layout.csum;
        *self.layout = packet::extract(self.frame.data(), in_port, self.key);
        // A tag pushed or popped changes no checksum: what is known of them stays.
        self.layout.csum = csum;
        for i in [w::PORT, w::CT_MARK, w::CT_LABEL, w::CT_LABEL + 1] {
            self.key.w[i] = old.w[i];
        }
        self.key.w[w::CT] = (self.key.w[w::CT] & 0xffff_0000) | (old.w[w::CT] & !0xffff_0000);
        self.key.w[w::TUN_ID..crate::flow::KEY_WORDS]
            .copy_from_slice(&old.w[w::TUN_ID..crate::flow::KEY_WORDS]);
    }
}

/// A copy of a packet for an extra output (multicast-like actions).
pub trait CloneFrame: Frame + Sized {
    /// A deep copy, or `None` if no buffer is available.
    fn try_clone(&self) -> Option<Self>;
}

impl CloneFrame for packet::VecFrame {
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// Where executed packets go.
pub trait Sink<F: Frame> {
    /// The packet leaves on `port`. `tun` is the tunnel metadata of a packet output to a
    /// tunnel: encapsulated by `tnl_push` (`port` is then the uplink), or, on a bridge
    /// without an underlay, handed over as is on the tunnel port. `key` is its (inner) flow
    /// key as it leaves (for traces and checks; the datapath needs only the frame).
    fn output(&mut self, port: u32, tun: Option<&TunnelMeta>, frame: F, key: &Flow);
    /// The packet is dropped.
    fn drop_packet(&mut self, reason: DropReason, frame: F);
    /// A copy that should have existed was not made (no buffer): count it.
    fn note_drop(&mut self, reason: DropReason);
    /// The packet waits for its tunnel next hop. The fast path parks it in its worker's
    /// queue; elsewhere (traces, tools) it is dropped as unresolved.
    fn park(&mut self, p: Parked<F>) {
        self.drop_packet(DropReason::TunnelUnresolved, p.frame);
    }
    /// A copy of the packet goes to the controllers (`frame` and `key` as the packet is at
    /// the action). Returns false when it could not be queued (counted as a
    /// `controller` drop); this default, for sinks without controllers, takes none.
    fn packet_in(&mut self, ctl: &super::DpController, frame: &F, key: &Flow) -> bool {
        let _ = (ctl, frame, key);
        false
    }
    /// A flow a `learn` action learned goes to the learner. Returns false when it could
    /// not be queued (the sink counts it); this default, for sinks that learn nothing
    /// (traces, tools), takes none.
    fn learn(&mut self, flow: &std::sync::Arc<super::LearnedFlow>) -> bool {
        let _ = flow;
        false
    }
    /// A new frame holding `bytes` (an ARP request the datapath originates), if the sink
    /// has buffers.
    fn alloc(&mut self, bytes: &[u8]) -> Option<F> {
        let _ = bytes;
        None
    }
    /// The worker's fragment reassembler, where fragments may be held across bursts (the
    /// fast path's). Elsewhere (traces, tools) none: a fragment meets conntrack alone and
    /// is `+inv`.
    fn reassembler(&mut self) -> Option<&mut crate::ipf::Reassembler<F>> {
        None
    }
}

/// What execution needs from the outside world.
pub struct ExecEnv<'a> {
    /// Connection tracker.
    pub conntrack: &'a crate::conntrack::Conntrack,
    /// Current time in milliseconds.
    pub now_ms: u64,
    /// The fast path's connection hints, indexed by [`Batch::ct_hint`] (empty for the slow
    /// path).
    pub conn_hints: &'a [Option<ConnRef>],
    /// Side effects happen: meters take tokens and drop, learned flows go to the learner
    /// (false for a trace: `ofproto/trace` runs no meter and learns nothing).
    pub side_effects: bool,
}

impl<'a> ExecEnv<'a> {
    /// An environment without connection hints (the slow path, tools, tests).
    pub fn new(conntrack: &'a crate::conntrack::Conntrack, now_ms: u64) -> Self {
        ExecEnv {
            conntrack,
            now_ms,
            conn_hints: &[],
            side_effects: true,
        }
    }
}

/// A slot without a connection hint.
pub const NO_HINT: u32 = u32::MAX;
/// With this bit, a hint index says where a connection met would be remembered, not a
/// hint to use (a chain without one yet).
pub const LEARN_ONLY: u32 = 1 << 31;

fn consumes(a: &DpAction) -> bool {
    matches!(
        a,
        DpAction::Output(_)
            | DpAction::TunnelOutput { .. }
            | DpAction::TnlPush(_)
            | DpAction::TnlPending(_)
            | DpAction::OutputDrop(_)
            | DpAction::Drop(_)
            | DpAction::ArpReply(_)
            | DpAction::Controller(_)
    ) || matches!(a, DpAction::Ct(c) if c.recirc.is_some())
}

/// Packets held in fixed slots so that actions run over a group of them without moving
/// keys around. A slot whose frame is `None` is free (or its packet has left).
pub struct Batch<F: Frame, const N: usize> {
    /// Frames.
    pub frames: [Option<F>; N],
    /// Keys.
    pub keys: [Flow; N],
    /// Header offsets.
    pub layouts: [Layout; N],
    /// Flow hashes (the lookup's, reused for the tunnel's UDP source port).
    pub hashes: [u32; N],
    /// Where the `ct` of this pass finds its connection hint in
    /// [`ExecEnv::conn_hints`] ([`NO_HINT`]: none).
    pub ct_hint: [u32; N],
    /// A connection met without the hint, for the fast path to remember (only for slots
    /// with a hint index).
    pub ct_learned: [Option<ConnRef>; N],
    /// Slots whose `ct_hint` names a connection to use (their `ct` looks nothing up).
    pub ct_hinted: u64,
    /// The tuple hash the current `ct` action's prefetch computed for each slot, taken by
    /// that same action's lookup (never left for another `ct`, whose zone may differ).
    pub ct_hash: [Option<CtHash>; N],
    /// Slots that took fragments of a reassembled datagram: packets other than those the
    /// pass started with (the fast path keeps their order and gives them no chain).
    pub injected: u64,
    /// The slots a reassembled datagram's fragments were just placed in: (going on,
    /// recirculating), taken by the executor at once.
    pub placed: (u64, u64),
}

impl<F: Frame, const N: usize> Default for Batch<F, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Frame, const N: usize> Batch<F, N> {
    /// Empty slots.
    pub fn new() -> Self {
        Batch {
            frames: std::array::from_fn(|_| None),
            keys: [Flow::ZERO; N],
            layouts: [Layout::default(); N],
            hashes: [0; N],
            ct_hint: [NO_HINT; N],
            ct_learned: std::array::from_fn(|_| None),
            ct_hinted: 0,
            ct_hash: [None; N],
            injected: 0,
            placed: (0, 0),
        }
    }

    /// Parses `frame` into slot `i`.
    pub fn load(&mut self, i: usize, frame: F, in_port: u32, tun: Option<&TunnelMeta>) {
        self.layouts[i] = packet::extract(frame.data(), in_port, &mut self.keys[i]);
        self.layouts[i].csum = rx_csum(&frame, tun);
        if let Some(t) = tun {
            t.to_flow(&mut self.keys[i]);
        }
        self.frames[i] = Some(frame);
    }

    /// Puts a packet into slot `j`, with no connection hint (a fork's copy, a fragment of
    /// a reassembled datagram, one that waited for a later burst).
    pub fn put(&mut self, j: usize, p: Packet<F>) {
        self.frames[j] = Some(p.frame);
        self.keys[j] = p.key;
        self.layouts[j] = p.layout;
        self.ct_hint[j] = NO_HINT;
        self.ct_hinted &= !(1u64 << j);
        self.ct_hash[j] = None;
        self.ct_learned[j] = None;
    }

    /// A free slot, if any.
    pub fn free_slot(&self) -> Option<usize> {
        self.frames.iter().position(Option::is_none)
    }

    fn view(&mut self, i: usize) -> Option<PktMut<'_, F>> {
        Some(PktMut {
            frame: self.frames[i].as_mut()?,
            key: &mut self.keys[i],
            layout: &mut self.layouts[i],
        })
    }
}

/// Runs `acts` on the packets in `members` (slots of `batch`), action by action over the
/// whole group. Packets that leave (output, drop) free their slot; the return value has a
/// bit set for every slot whose packet recirculates (its key carries the new `recirc_id`).
/// Copies for non-final outputs and forked recirculations go to free slots of `batch`
/// (recirculations) or straight to the sink (outputs).
pub fn exec_group<F: CloneFrame, S: Sink<F>, const N: usize>(
    acts: &[DpAction],
    batch: &mut Batch<F, N>,
    members: &[u8],
    env: &ExecEnv<'_>,
    sink: &mut S,
) -> u64 {
    debug_assert!(N <= 64);
    let last = acts.iter().rposition(consumes);
    let mut recirc = 0u64;
    let mut alive: u64 = members.iter().fold(0, |m, &i| m | (1u64 << i));
    for (ai, a) in acts.iter().enumerate() {
        if alive == 0 {
            return recirc;
        }
        let is_last = Some(ai) == last;
        if let DpAction::Meter(m) = a {
            if env.side_effects {
                alive = meter_group(m, batch, alive, env.now_ms, sink);
            }
            continue;
        }
        if let DpAction::FinTimeout(t) = a {
            if env.side_effects {
                let mut bits = alive;
                while bits != 0 {
                    let i = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let fin_rst = crate::flow::tcp_flags::FIN | crate::flow::tcp_flags::RST;
                    if fget!(TcpFlags, &batch.keys[i]) as u16 & fin_rst != 0 {
                        t.rule.reduce_timeouts(t.idle, t.hard);
                        break;
                    }
                }
            }
            continue;
        }
        if let DpAction::Learn(l) = a {
            // Once per group: every packet of a megaflow learns the same flow.
            if env.side_effects && l.due(env.now_ms) {
                sink.learn(l);
            }
            continue;
        }
        if let DpAction::Ct(ct) = a {
            let lookups = alive & !batch.ct_hinted;
            if lookups & lookups.wrapping_sub(1) != 0 {
                prefetch_ct(batch, lookups, ct, env);
            }
        }
        let mut bits = alive;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            match exec_one(a, is_last, batch, i, env, sink) {
                Step::Continue => {}
                Step::Gone => alive &= !(1u64 << i),
                Step::Recirc => {
                    alive &= !(1u64 << i);
                    recirc |= 1u64 << i;
                }
                Step::Fork(j) => recirc |= 1u64 << j,
                // A datagram made whole: its fragments go on from the next action.
                Step::Many => {
                    let (a, r) = std::mem::take(&mut batch.placed);
                    alive = (alive & !(1u64 << i)) | a;
                    recirc |= r;
                }
            }
        }
    }
    // Whatever is left produced no output.
    let mut bits = alive;
    while bits != 0 {
        let i = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        if let Some(f) = batch.frames[i].take() {
            sink.drop_packet(DropReason::NoOutput, f);
        }
    }
    recirc
}

/// A meter over the group's live packets at once (one atomic operation per band unless
/// a band runs short); what it drops leaves here.
fn meter_group<F: Frame, S: Sink<F>, const N: usize>(
    m: &crate::meter::MeterRef,
    batch: &mut Batch<F, N>,
    alive: u64,
    now_ms: u64,
    sink: &mut S,
) -> u64 {
    let mut sizes = [0u32; 64];
    let mut slots = [0u8; 64];
    let mut n = 0;
    let mut bits = alive;
    while bits != 0 {
        let i = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        if let Some(f) = batch.frames[i].as_ref() {
            sizes[n] = f.len() as u32;
            slots[n] = i as u8;
            n += 1;
        }
    }
    let mut dropped = m.0.run(now_ms, &sizes[..n]);
    let mut alive = alive;
    while dropped != 0 {
        let k = dropped.trailing_zeros() as usize;
        dropped &= dropped - 1;
        let i = usize::from(slots[k]);
        take_drop(batch, i, DropReason::Meter, sink);
        alive &= !(1u64 << i);
    }
    alive
}

pub(super) enum Step {
    Continue,
    Gone,
    Recirc,
    /// A copy recirculates from slot j; the original continues.
    Fork(usize),
    /// The slot's packet is gone; the slots in [`Batch::placed`] go on (its first mask)
    /// or recirculate (its second). Kept out of the variant: a `Step` stays two words,
    /// returned in registers for every action of every packet.
    Many,
}

fn take_drop<F: Frame, S: Sink<F>, const N: usize>(
    batch: &mut Batch<F, N>,
    i: usize,
    r: DropReason,
    sink: &mut S,
) -> Step {
    if let Some(f) = batch.frames[i].take() {
        sink.drop_packet(r, f);
    }
    Step::Gone
}

fn send<F: CloneFrame, S: Sink<F>, const N: usize>(
    batch: &mut Batch<F, N>,
    i: usize,
    port: u32,
    is_last: bool,
    sink: &mut S,
) -> Step {
    if is_last {
        if let Some(f) = batch.frames[i].take() {
            sink.output(port, None, f, &batch.keys[i]);
        }
        return Step::Gone;
    }
    match batch.frames[i].as_ref().and_then(CloneFrame::try_clone) {
        Some(c) => sink.output(port, None, c, &batch.keys[i]),
        None => sink.note_drop(DropReason::CloneFailed),
    }
    Step::Continue
}

/// A tunnel output on a bridge without an underlay: handed to the sink as is.
fn send_tunnel<F: CloneFrame, S: Sink<F>, const N: usize>(
    batch: &mut Batch<F, N>,
    i: usize,
    port: u32,
    meta: &TunnelMeta,
    is_last: bool,
    sink: &mut S,
) -> Step {
    if let Some(f) = take_or_copy(batch, i, is_last, sink) {
        sink.output(port, Some(meta), f, &batch.keys[i]);
    }
    if is_last {
        Step::Gone
    } else {
        Step::Continue
    }
}

/// The packet itself when this is its last output, else a copy (`None`: no buffer for the
/// copy, counted).
#[inline]
fn take_or_copy<F: CloneFrame, S: Sink<F>, const N: usize>(
    batch: &mut Batch<F, N>,
    i: usize,
    is_last: bool,
    sink: &mut S,
) -> Option<F> {
    if is_last {
        return batch.frames[i].take();
    }
    let c = batch.frames[i].as_ref().and_then(CloneFrame::try_clone);
    if c.is_none() {
        sink.note_drop(DropReason::CloneFailed);
    }
    c
}

/// `tnl_push`: encapsulates (the packet or a copy) with the cached outer header and sends
/// it out of the uplink; the UDP source port comes from the lookup's flow hash.
#[inline]
fn push_out<F: CloneFrame, S: Sink<F>, const N: usize>(
    batch: &mut Batch<F, N>,
    i: usize,
    t: &TnlPush,
    is_last: bool,
    sink: &mut S,
) -> Step {
    if let Some(mut f) = take_or_copy(batch, i, is_last, sink) {
        match t.push(&mut f, batch.hashes[i]) {
            Ok(()) => sink.output(t.uplink, Some(&t.meta), f, &batch.keys[i]),
            Err(e) => sink.drop_packet(e.into(), f),
        }
    }
    if is_last {
        Step::Gone
    } else {
        Step::Continue
    }
}

/// A tunnel output whose next hop is unresolved: the packet (or a copy) parks.
#[cold]
fn park<F: CloneFrame, S: Sink<F>, const N: usize>(
    batch: &mut Batch<F, N>,
    i: usize,
    p: &TnlPending,
    is_last: bool,
    now_ms: u64,
    sink: &mut S,
) -> Step {
    if let Some(frame) = take_or_copy(batch, i, is_last, sink) {
        sink.park(Parked {
            frame,
            tunnel: p.tunnel,
            meta: p.meta,
            nexthop: p.nexthop,
            hash: batch.hashes[i],
            since_ms: now_ms,
        });
    }
    if is_last {
        Step::Gone
    } else {
        Step::Continue
    }
}

fn exec_one<F: CloneFrame, S: Sink<F>, const N: usize>(
    a: &DpAction,
    is_last: bool,
    batch: &mut Batch<F, N>,
    i: usize,
    env: &ExecEnv<'_>,
    sink: &mut S,
) -> Step {
    match a {
        DpAction::Set { field, value, mask } => {
            if let Some(mut p) = batch.view(i) {
                set_field(&mut p, *field, *value, *mask);
            }
            Step::Continue
        }
        DpAction::DecTtl => {
            let Some(p) = batch.view(i) else {
                return Step::Gone;
            };
            let v6 = p.is_v6();
            if !v6 && fget!(EthType, p.key) as u16 != eth_type::IPV4 {
                return Step::Continue;
            }
            match packet::ttl(p.frame.data(), p.layout, v6) {
                Some(t) if t > 1 => {
                    packet::set_ttl(p.frame.data_mut(), p.layout, v6, t - 1);
                    fset!(NwTtl, p.key, u128::from(t - 1));
                    Step::Continue
                }
                _ => take_drop(batch, i, DropReason::TtlExpired, sink),
            }
        }
        DpAction::PushVlan(tci) => {
            let Some(mut p) = batch.view(i) else {
                return Step::Gone;
            };
            if fget!(VlanTci, p.key) as u16 & VLAN_CFI != 0
                || !packet::push_vlan(p.frame, eth_type::VLAN, *tci)
            {
                return take_drop(batch, i, DropReason::Unsupported, sink);
            }
            p.reparse();
            Step::Continue
        }
        DpAction::PopVlan => {
            if let Some(mut p) = batch.view(i) {
                if packet::pop_vlan(p.frame) {
                    p.reparse();
                }
            }
            Step::Continue
        }
        DpAction::Output(port) => send(batch, i, *port, is_last, sink),
        DpAction::TunnelOutput { port, meta } => send_tunnel(batch, i, *port, meta, is_last, sink),
        DpAction::TnlPush(t) => push_out(batch, i, t, is_last, sink),
        DpAction::TnlPending(p) => park(batch, i, p, is_last, env.now_ms, sink),
        DpAction::OutputDrop(r) if is_last => take_drop(batch, i, *r, sink),
        DpAction::OutputDrop(r) => {
            sink.note_drop(*r);
            Step::Continue
        }
        DpAction::Ct(ct) => {
            if fget!(NwFrag, &batch.keys[i]) as u8 & crate::flow::nw_frag::ANY != 0 {
                if let Some(step) = super::ct_frag::ct_fragment(batch, i, ct, is_last, env, sink) {
                    return step;
                }
            }
            let hint = batch.ct_hint[i];
            let hash = batch.ct_hash[i].take();
            let Some(mut p) = batch.view(i) else {
                return Step::Gone;
            };
            let (admitted, learned) = run_ct(&mut p, ct, env, hint, hash);
            if learned.is_some() {
                batch.ct_learned[i] = learned;
            }
            if !admitted {
                return take_drop(batch, i, DropReason::CtFull, sink);
            }
            let Some(p) = batch.view(i) else {
                return Step::Gone;
            };
            let Some(id) = ct.recirc else {
                return Step::Continue;
            };
            fset!(RecircId, p.key, u128::from(id));
            if is_last {
                return Step::Recirc;
            }
            match batch.free_slot() {
                Some(j) if fork_into(batch, i, j) => Step::Fork(j),
                _ => {
                    sink.note_drop(DropReason::CloneFailed);
                    Step::Continue
                }
            }
        }
        // Run over the whole group in `exec_group`.
        DpAction::Meter(_) | DpAction::Learn(_) | DpAction::FinTimeout(_) => Step::Continue,
        DpAction::CtClear => {
            if let Some(p) = batch.view(i) {
                p.key.w[w::CT] &= 0x0000_0000_ffff_0000; // keep tcp_flags only
                fset!(CtMark, p.key, 0);
                fset!(CtLabel, p.key, 0);
            }
            Step::Continue
        }
        DpAction::Controller(c) => {
            if let Some(f) = batch.frames[i].as_ref() {
                // `controller(meter_id=N)` meters the packet-ins, not the packet.
                let metered = env.side_effects
                    && c.meter
                        .as_ref()
                        .is_some_and(|m| m.0.run(env.now_ms, &[f.len() as u32]) != 0);
                if metered {
                    sink.note_drop(DropReason::Meter);
                } else if !sink.packet_in(c, f, &batch.keys[i]) {
                    sink.note_drop(DropReason::Controller);
                }
            }
            if !is_last {
                return Step::Continue;
            }
            // The packet's last use: it went up as a packet-in (freed here, not a drop).
            drop(batch.frames[i].take());
            Step::Gone
        }
        DpAction::ArpReply(m) => {
            let Some(mut p) = batch.view(i) else {
                return Step::Gone;
            };
            if !arp_reply(&mut p, *m) {
                return take_drop(batch, i, DropReason::NoOutput, sink);
            }
            let port = fget!(InPort, p.key) as u32;
            send(batch, i, port, is_last, sink)
        }
        DpAction::Drop(r) => take_drop(batch, i, *r, sink),
    }
}

/// Copies the packet of slot `i` into the free slot `j` (a recirculation forked off a
/// packet that goes on); false when no buffer is left for the copy.
pub(super) fn fork_into<F: CloneFrame, const N: usize>(
    batch: &mut Batch<F, N>,
    i: usize,
    j: usize,
) -> bool {
    let Some(frame) = batch.frames[i].as_ref().and_then(CloneFrame::try_clone) else {
        return false;
    };
    let (key, layout) = (batch.keys[i], batch.layouts[i]);
    batch.put(j, Packet { frame, key, layout });
    true
}

/// Runs `acts` on one packet; returns it if it recirculates.
pub fn execute<F: CloneFrame, S: Sink<F>>(
    acts: &[DpAction],
    pkt: Packet<F>,
    env: &ExecEnv<'_>,
    sink: &mut S,
) -> Vec<Packet<F>> {
    let mut b: Batch<F, 4> = Batch::new();
    b.frames[0] = Some(pkt.frame);
    b.keys[0] = pkt.key;
    b.layouts[0] = pkt.layout;
    b.hashes[0] = crate::fastpath::key_hash(&b.keys[0]);
    let mut rec = exec_group(acts, &mut b, &[0], env, sink);
    let mut out = Vec::new();
    while rec != 0 {
        let i = rec.trailing_zeros() as usize;
        rec &= rec - 1;
        if let Some(f) = b.frames[i].take() {
            out.push(Packet {
                frame: f,
                key: b.keys[i],
                layout: b.layouts[i],
            });
        }
    }
    out
}

/// A sink that records what happened, for tests, traces and tools.
#[derive(Default)]
pub struct Collect<F: Frame> {
    /// Outputs in order: port, tunnel metadata, packet.
    pub outputs: Vec<(u32, Option<TunnelMeta>, Packet<F>)>,
    /// Drops with reasons.
    pub drops: SmallVec<[DropReason; 2]>,
    /// Packet-ins in order.
    pub packet_ins: Vec<super::PacketIn>,
    /// Flows `learn` actions sent to the learner, in order.
    pub learned: Vec<std::sync::Arc<super::LearnedFlow>>,
}

impl<F: Frame> Collect<F> {
    /// An empty collector.
    pub fn new() -> Self {
        Collect {
            outputs: Vec::new(),
            drops: SmallVec::new(),
            packet_ins: Vec::new(),
            learned: Vec::new(),
        }
    }
}

impl<F: Frame> Sink<F> for Collect<F> {
    fn output(&mut self, port: u32, tun: Option<&TunnelMeta>, frame: F, key: &Flow) {
        let mut scratch = Flow::ZERO;
        let layout = packet::extract(frame.data(), fget!(InPort, key) as u32, &mut scratch);
        self.outputs.push((
            port,
            tun.copied(),
            Packet {
                frame,
                key: *key,
                layout,
            },
        ));
    }
    fn drop_packet(&mut self, reason: DropReason, _frame: F) {
        self.drops.push(reason);
    }
    fn note_drop(&mut self, reason: DropReason) {
        self.drops.push(reason);
    }
    fn packet_in(&mut self, ctl: &super::DpController, frame: &F, key: &Flow) -> bool {
        self.packet_ins.push(ctl.packet_in(frame.data(), key));
        true
    }
    fn learn(&mut self, flow: &std::sync::Arc<super::LearnedFlow>) -> bool {
        self.learned.push(flow.clone());
        true
    }
}

pub(super) fn set_field<F: Frame>(
    pkt: &mut PktMut<'_, F>,
    field: HdrField,
    value: u128,
    mask: u128,
) {
    let lay = *pkt.layout;
    let d = pkt.frame.data_mut();
    let merge = |old: u128| (old & !mask) | (value & mask);
    let k = &mut *pkt.key;
    match field {
        HdrField::EthSrc => {
            let v = merge(fget!(EthSrc, &*k));
            packet::set_eth(d, Some(v as u64), None);
            fset!(EthSrc, k, v);
        }
        HdrField::EthDst => {
            let v = merge(fget!(EthDst, &*k));
            packet::set_eth(d, None, Some(v as u64));
            fset!(EthDst, k, v);
        }
        HdrField::VlanTci => {
            if fget!(VlanTci, &*k) as u16 & VLAN_CFI != 0 {
                let v = merge(fget!(VlanTci, &*k)) as u16 | VLAN_CFI;
                packet::set_vlan_tci(d, v);
                fset!(VlanTci, k, u128::from(v));
            }
        }
        HdrField::Ipv4Src | HdrField::Ipv4Dst => {
            if fget!(EthType, &*k) as u16 == eth_type::IPV4 {
                let src = field == HdrField::Ipv4Src;
                let v = merge(if src {
                    fget!(NwSrc, &*k)
                } else {
                    fget!(NwDst, &*k)
                });
                packet::set_ipv4_addr(d, &lay, &*k, src, v as u32);
                if src {
                    fset!(NwSrc, k, v);
                } else {
                    fset!(NwDst, k, v);
                }
            }
        }
        HdrField::Ipv6Src | HdrField::Ipv6Dst => {
            let f = if field == HdrField::Ipv6Src {
                Field::Ipv6Src
            } else {
                Field::Ipv6Dst
            };
            if fget!(EthType, &*k) as u16 == eth_type::IPV6 {
                let v = merge(f.get(&*k));
                packet::set_ipv6_addr(d, &lay, &*k, field == HdrField::Ipv6Src, v);
                f.set(k, v);
            }
        }
        HdrField::IpTos => {
            let v6 = fget!(EthType, &*k) as u16 == eth_type::IPV6;
            packet::set_tos(d, &lay, v6, value as u8, mask as u8);
            let old = (k.w[w::NW_L4] >> 8) as u8;
            let nv = (old & !(mask as u8)) | (value as u8 & mask as u8);
            k.w[w::NW_L4] = (k.w[w::NW_L4] & !(0xff << 8)) | (u64::from(nv) << 8);
        }
        HdrField::IpTtl => {
            let v6 = fget!(EthType, &*k) as u16 == eth_type::IPV6;
            let v = merge(fget!(NwTtl, &*k)) as u8;
            packet::set_ttl(d, &lay, v6, v);
            fset!(NwTtl, k, u128::from(v));
        }
        HdrField::TpSrc | HdrField::TpDst => {
            let src = field == HdrField::TpSrc;
            let v = merge(if src {
                fget!(TpSrc, &*k)
            } else {
                fget!(TpDst, &*k)
            }) as u16;
            packet::set_l4_port(d, &lay, &*k, src, v);
            if src {
                fset!(TpSrc, k, u128::from(v));
            } else {
                fset!(TpDst, k, u128::from(v));
            }
        }
        HdrField::ArpOp => {
            let v = merge(fget!(ArpOp, &*k)) as u16;
            packet::set_arp(d, &lay, Some(v), None, None, None, None);
            fset!(ArpOp, k, u128::from(v));
        }
        HdrField::ArpSpa => {
            let v = merge(fget!(ArpSpa, &*k)) as u32;
            packet::set_arp(d, &lay, None, None, Some(v), None, None);
            fset!(ArpSpa, k, u128::from(v));
        }
        HdrField::ArpTpa => {
            let v = merge(fget!(ArpTpa, &*k)) as u32;
            packet::set_arp(d, &lay, None, None, None, None, Some(v));
            fset!(ArpTpa, k, u128::from(v));
        }
        HdrField::ArpSha => {
            let v = merge(fget!(ArpSha, &*k)) as u64;
            packet::set_arp(d, &lay, None, Some(v), None, None, None);
            fset!(ArpSha, k, u128::from(v));
        }
        HdrField::ArpTha => {
            let v = merge(fget!(ArpTha, &*k)) as u64;
            packet::set_arp(d, &lay, None, None, None, Some(v), None);
            fset!(ArpTha, k, u128::from(v));
        }
    }
}

/// Rewrites an ARP request into the reply `mac` gives. False for anything that is not a
/// non-gratuitous Ethernet/IPv4 ARP request.
pub(super) fn arp_reply<F: Frame>(pkt: &mut PktMut<'_, F>, mac: u64) -> bool {
    let key = *pkt.key;
    if fget!(EthType, &key) as u16 != eth_type::ARP
        || fget!(ArpOp, &key) != 1
        || pkt.layout.err & packet::parse_err::ARP_BAD != 0
    {
        return false;
    }
    let spa = fget!(ArpSpa, &key) as u32;
    let tpa = fget!(ArpTpa, &key) as u32;
    if spa == tpa || spa == 0 {
        return false; // gratuitous ARP or probe: nothing to answer
    }
    let sha = fget!(ArpSha, &key) as u64;
    let src = fget!(EthSrc, &key) as u64;
    let lay = *pkt.layout;
    let d = pkt.frame.data_mut();
    packet::set_eth(d, Some(mac), Some(src));
    packet::set_arp(d, &lay, Some(2), Some(mac), Some(tpa), Some(sha), Some(spa));
    let k = &mut *pkt.key;
    fset!(EthDst, k, u128::from(src));
    fset!(EthSrc, k, u128::from(mac));
    fset!(ArpOp, k, 2);
    fset!(ArpSha, k, u128::from(mac));
    fset!(ArpTha, k, u128::from(sha));
    fset!(ArpSpa, k, u128::from(tpa));
    fset!(ArpTpa, k, u128::from(spa));
    true
}
