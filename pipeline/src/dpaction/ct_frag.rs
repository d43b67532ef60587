//! `ct` on an IP fragment: held by the worker's reassembler until its datagram is whole;
//! then conntrack tracks the datagram once and every fragment goes on with its verdict
//! (OVS's `ipf_postprocess_conntrack`), in the order the fragments arrived.

use super::ct::{apply_nat, ct_command, ct_packet};
use super::exec::{fork_into, Batch, CloneFrame, ExecEnv, Packet, PktMut, Sink, Step};
use super::{DpCt, DropReason};
use crate::conntrack::CtVerdict;
use crate::field::fset;
use crate::flow::Flow;
use crate::ipf::{IpfEvent, Push};
use crate::packet::{self, csum};

/// Runs `ct` for the fragment in slot `i` through the sink's reassembler. `None` when the
/// sink has none, or the fragment is not held (a limit, a bad or overlapping fragment):
/// the caller then tracks it alone, which makes it `+inv`. Cold and out of line: the
/// executor's loop stays as small as it was for the packets that are not fragments.
#[cold]
#[inline(never)]
pub(super) fn ct_fragment<F: CloneFrame, S: Sink<F>, const N: usize>(
    batch: &mut Batch<F, N>,
    i: usize,
    ct: &DpCt,
    is_last: bool,
    env: &ExecEnv<'_>,
    sink: &mut S,
) -> Option<Step> {
    let r = sink.reassembler()?;
    let frame = batch.frames[i].take()?;
    let pkt = Packet {
        frame,
        key: batch.keys[i],
        layout: batch.layouts[i],
    };
    let (frags, v) = match r.push(&env.conntrack.ipf, pkt, i, ct.zone, env.now_ms) {
        Push::Held => return Some(Step::Gone),
        Push::Alone(p) => {
            batch.frames[i] = Some(p.frame);
            return None;
        }
        Push::Complete(frags) => {
            // A `ct` before this one checked the datagram's checksum: its fragments carry
            // the verdict (kept right by NAT and rewrites since), so it is not summed again.
            let lay = &frags[0].layout;
            let known = if lay.csum & csum::CHECKED != 0 {
                lay.csum & (csum::L4_GOOD | csum::L4_BAD)
            } else {
                0
            };
            (frags, track_datagram(r.datagram(), known, ct, env))
        }
    };
    if v.verdict.refused {
        for p in frags {
            sink.drop_packet(DropReason::CtFull, p.frame);
        }
        return Some(Step::Gone);
    }
    Some(place(frags, &v, ct, is_last, batch, sink))
}

/// What conntrack made of a whole datagram.
struct Datagram {
    verdict: CtVerdict,
    /// Its L4 source and destination (ports, or ICMP type and code) as they leave it.
    ports: [u16; 2],
    /// What is known of its L4 checksum ([`csum`] bits), for the next `ct`.
    l4_csum: u8,
}

/// Conntrack's verdict on a whole datagram, its checksums checked over all of it unless
/// `known` (L4 bits from an earlier `ct`) says.
fn track_datagram(data: &[u8], known: u8, ct: &DpCt, env: &ExecEnv<'_>) -> Datagram {
    let mut key = Flow::ZERO;
    let lay = packet::extract(data, 0, &mut key);
    let mut cp = ct_packet(data, &key, &lay);
    let l3 = data.get(usize::from(lay.l3)..).unwrap_or(&[]);
    let bits = crate::conntrack::csum::verify(&cp, l3, known);
    cp.csum_ok = bits & csum::BAD == 0;
    let cmd = ct_command(ct);
    let v = env
        .conntrack
        .execute_hinted(&cp, &cmd, env.now_ms, None, false, None)
        .0;
    let mut ports = [cp.src_port, cp.dst_port];
    if let Some(n) = &v.nat {
        if let Some((_, p)) = n.src {
            ports[0] = p;
        }
        if let Some((_, p)) = n.dst {
            ports[1] = p;
        }
    }
    Datagram {
        verdict: v,
        ports,
        l4_csum: bits & (csum::L4_GOOD | csum::L4_BAD),
    }
}

/// Gives each fragment the datagram's verdict and puts it, in arrival order, into the
/// free slots from the lowest up; fragments without a slot wait in the reassembler for a
/// later burst when they recirculate (and are dropped otherwise).
fn place<F: CloneFrame, S: Sink<F>, const N: usize>(
    frags: Vec<Packet<F>>,
    d: &Datagram,
    ct: &DpCt,
    is_last: bool,
    batch: &mut Batch<F, N>,
    sink: &mut S,
) -> Step {
    let (mut alive, mut recirc) = (0u64, 0u64);
    let mut free: u64 = (0..N)
        .filter(|&j| batch.frames[j].is_none())
        .fold(0, |m, j| m | 1u64 << j);
    let waits = ct.recirc.is_some() && is_last;
    for mut p in frags {
        with_verdict(&mut p, d, ct);
        if free == 0 {
            let p = match sink.reassembler() {
                Some(r) if waits => match r.stash(p) {
                    None => continue,
                    Some(p) => p,
                },
                _ => p,
            };
            let v6 = crate::field::fget!(EthType, &p.key) as u16 == crate::flow::eth_type::IPV6;
            if let Some(r) = sink.reassembler() {
                r.count(v6, IpfEvent::Purged);
            }
            sink.drop_packet(DropReason::IpfPurged, p.frame);
            continue;
        }
        let j = free.trailing_zeros() as usize;
        free &= free - 1;
        batch.put(j, p);
        batch.injected |= 1u64 << j;
        if ct.recirc.is_none() {
            alive |= 1u64 << j;
        } else if is_last {
            recirc |= 1u64 << j;
        } else {
            // The fragment goes on here and a copy recirculates, as any packet's would.
            alive |= 1u64 << j;
            let k = free.trailing_zeros() as usize;
            if free != 0 && fork_into(batch, j, k) {
                free &= free - 1;
                batch.injected |= 1u64 << k;
                recirc |= 1u64 << k;
            } else {
                sink.note_drop(DropReason::CloneFailed);
            }
        }
    }
    batch.placed = (alive, recirc);
    Step::Many
}

/// The datagram's verdict on one of its fragments: conntrack's fields in the key, NAT's
/// addresses in every fragment and its ports in the first (the parser left a later
/// fragment's L4 alone, so the rewrite does too). A later fragment's key takes the
/// datagram's ports: the tables after `ct` then judge every fragment as the datagram, as
/// OVS's kernel datapath does with the reassembled packet (Antrea's policies match ports;
/// OVS's userspace datapath leaves them 0 and its port rules miss later fragments).
fn with_verdict<F: CloneFrame>(p: &mut Packet<F>, d: &Datagram, ct: &DpCt) {
    let (v, ports) = (&d.verdict, d.ports);
    let mut m = PktMut {
        frame: &mut p.frame,
        key: &mut p.key,
        layout: &mut p.layout,
    };
    if let Some(n) = &v.nat {
        apply_nat(&mut m, n);
    }
    m.layout.csum |= csum::CHECKED | d.l4_csum;
    let k = &mut *m.key;
    fset!(CtState, k, u128::from(v.state));
    fset!(CtZone, k, u128::from(v.zone));
    fset!(CtMark, k, u128::from(v.mark));
    fset!(CtLabel, k, v.label);
    if crate::field::fget!(NwFrag, k) as u8 & crate::flow::nw_frag::LATER != 0 {
        fset!(TpSrc, k, u128::from(ports[0]));
        fset!(TpDst, k, u128::from(ports[1]));
    }
    if let Some(id) = ct.recirc {
        fset!(RecircId, k, u128::from(id));
    }
}
