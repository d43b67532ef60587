//! The `ct` datapath action over a group: conntrack's view of a packet, the prefetch of a
//! group's index buckets, and the verdict written back into the key (and headers, for NAT).

use super::exec::{Batch, ExecEnv, PktMut, LEARN_ONLY, NO_HINT};
use super::DpCt;
use crate::conntrack::{ConnRef, CtHash};
use crate::field::{fget, fset};
use crate::flow::{eth_type, ip_proto, nw_frag, Flow};
use crate::packet::{self, Frame, Layout};

/// What conntrack sees of a packet. A borrow of its key, not a copy of the 320 bytes (ct
/// runs twice per packet in Antrea).
#[inline(always)]
pub(super) fn ct_packet<'a>(
    data: &'a [u8],
    key: &Flow,
    lay: &Layout,
) -> crate::conntrack::CtPacket<'a> {
    let ty = fget!(EthType, key) as u16;
    let l3_bad = lay.err & packet::parse_err::L3_BAD != 0;
    let (src, dst) = if ty == eth_type::IPV6 {
        (fget!(Ipv6Src, key), fget!(Ipv6Dst, key))
    } else {
        (fget!(NwSrc, key), fget!(NwDst, key))
    };
    let l4s = usize::from(lay.l4).min(data.len());
    let l4e = (l4s + usize::from(lay.l4_len)).min(data.len());
    crate::conntrack::CtPacket {
        eth_type: if l3_bad { 0 } else { ty },
        src,
        dst,
        proto: fget!(NwProto, key) as u8,
        src_port: fget!(TpSrc, key) as u16,
        dst_port: fget!(TpDst, key) as u16,
        tcp_flags: fget!(TcpFlags, key) as u16,
        l4: if lay.l4 == 0 { &[] } else { &data[l4s..l4e] },
        l4_len: usize::from(lay.l4_len),
        is_fragment: (fget!(NwFrag, key) as u8) & nw_frag::ANY != 0,
        csum_ok: lay.csum & packet::csum::BAD == 0,
    }
}

/// Before a `ct` runs over a group: starts fetching the conntrack index bucket each of
/// `lookups` (the group's packets without a connection hint) will read first, so that a
/// burst's cache misses overlap instead of queueing one per packet; then the connection
/// each bucket points at. Out of line, so that
/// the executor's loop keeps its registers for the packets that need no lookup.
#[inline(never)]
pub(super) fn prefetch_ct<F: Frame, const N: usize>(
    batch: &mut Batch<F, N>,
    lookups: u64,
    ct: &DpCt,
    env: &ExecEnv<'_>,
) {
    // First every bucket, then (each bucket having had the others' time to arrive) the
    // connection its matching signature points at. The hashes stay for the lookups.
    let mut bits = lookups;
    while bits != 0 {
        let i = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        batch.ct_hash[i] = batch.frames[i].as_ref().and_then(|f| {
            let cp = ct_packet(f.data(), &batch.keys[i], &batch.layouts[i]);
            env.conntrack.prefetch(&cp, ct.zone)
        });
    }
    let mut bits = lookups;
    while bits != 0 {
        let i = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        if let Some(h) = batch.ct_hash[i] {
            env.conntrack.prefetch_conn(h);
        }
    }
}

/// Runs conntrack for the packet, updating its key (and headers, for NAT), with the
/// connection hint at `hint` in `env`. Returns false if a commit was refused because the
/// table is full, and the connection to remember as the hint when it was met without it.
pub(super) fn run_ct<F: Frame>(
    pkt: &mut PktMut<'_, F>,
    ct: &DpCt,
    env: &ExecEnv<'_>,
    hint: u32,
    hash: Option<CtHash>,
) -> (bool, Option<ConnRef>) {
    let data = pkt.frame.data();
    let mut cp = ct_packet(data, pkt.key, pkt.layout);
    // The checksums, once per packet: the bits stay in its layout for the next `ct`.
    if pkt.layout.csum & packet::csum::CHECKED == 0 {
        let l3 = data.get(usize::from(pkt.layout.l3)..).unwrap_or(&[]);
        pkt.layout.csum = crate::conntrack::csum::verify(&cp, l3, pkt.layout.csum);
        cp.csum_ok = pkt.layout.csum & packet::csum::BAD == 0;
    }
    let cmd = ct_command(ct);
    let slot = (hint != NO_HINT)
        .then(|| env.conn_hints.get((hint & !LEARN_ONLY) as usize))
        .flatten();
    let (v, learned) = match slot {
        Some(h) => {
            let h = if hint & LEARN_ONLY == 0 {
                h.as_ref()
            } else {
                None
            };
            env.conntrack
                .execute_hinted(&cp, &cmd, env.now_ms, h, true, hash)
        }
        None => env
            .conntrack
            .execute_hinted(&cp, &cmd, env.now_ms, None, false, hash),
    };
    if v.refused {
        return (false, learned);
    }
    if let Some(n) = &v.nat {
        apply_nat(pkt, n);
        if v.nat_quoted {
            let v6 = pkt.is_v6();
            packet::nat_icmp_inner(pkt.frame.data_mut(), pkt.layout, v6, n.dst, n.src);
        }
    }
    let k = &mut *pkt.key;
    fset!(CtState, k, u128::from(v.state));
    fset!(CtZone, k, u128::from(v.zone));
    fset!(CtMark, k, u128::from(v.mark));
    fset!(CtLabel, k, v.label);
    (true, learned)
}

/// Conntrack's command for the datapath `ct` action.
#[inline(always)]
pub(super) fn ct_command(ct: &DpCt) -> crate::conntrack::CtCommand<'_> {
    crate::conntrack::CtCommand {
        zone: ct.zone,
        commit: ct.commit,
        force: ct.force,
        nat: ct.nat.as_ref(),
        set_mark: ct.mark,
        set_label: ct.label,
    }
}

pub(super) fn apply_nat<F: Frame>(pkt: &mut PktMut<'_, F>, n: &crate::conntrack::NatRewrite) {
    let v6 = pkt.is_v6();
    let lay = *pkt.layout;
    let ports = matches!(
        fget!(NwProto, pkt.key) as u8,
        ip_proto::TCP | ip_proto::UDP | ip_proto::SCTP
    );
    for (is_src, ep) in [(true, n.src), (false, n.dst)] {
        let Some((addr, port)) = ep else { continue };
        // The frame and the key are separate borrows: no copy of the key per rewrite.
        let d = pkt.frame.data_mut();
        if v6 {
            packet::set_ipv6_addr(d, &lay, pkt.key, is_src, addr);
        } else {
            packet::set_ipv4_addr(d, &lay, pkt.key, is_src, addr as u32);
        }
        if ports {
            packet::set_l4_port(d, &lay, pkt.key, is_src, port);
        }
        let k = &mut *pkt.key;
        match (v6, is_src) {
            (false, true) => fset!(NwSrc, k, addr),
            (false, false) => fset!(NwDst, k, addr),
            (true, true) => fset!(Ipv6Src, k, addr),
            (true, false) => fset!(Ipv6Dst, k, addr),
        }
        if ports {
            if is_src {
                fset!(TpSrc, k, u128::from(port));
            } else {
                fset!(TpDst, k, u128::from(port));
            }
        }
    }
}
