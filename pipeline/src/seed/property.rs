//! The megaflow property as a reusable check: a translation's mask is wide enough that every
//! key agreeing with it on the masked bits gets exactly the same datapath actions. Run on
//! the seed's nodes (`pipeline/tests/megaflow_property.rs`) and on generated pipelines
//! (`conf/tests/antrea_proxy.rs`, with select groups).

use crate::bridge::Bridge;
use crate::build::{ip, mac};
use crate::dpaction::{DpAction, DropReason};
use crate::field::Field;
use crate::flow::{Flow, KEY_WORDS};
use crate::xlate::translate;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[(self.next() % v.len() as u64) as usize]
    }
}

/// A random key from the seed topology's vocabulary (and some noise).
fn random_key(r: &mut Rng, recirc_ids: u32) -> Flow {
    let macs = [
        mac("4e:99:08:c1:53:be"),
        mac("aa:bb:cc:dd:ee:ff"),
        mac("be:2c:bf:e4:ec:c5"),
        mac("f2:32:d8:07:e2:a6"),
        mac("f2:82:cc:96:da:bd"),
        mac("6e:9e:5a:3e:3f:e8"),
        r.next() & 0xffff_ffff_ffff,
    ];
    let ips = [
        ip("10.222.1.1"),
        ip("10.222.1.2"),
        ip("10.222.1.3"),
        ip("10.222.1.47"),
        ip("10.222.1.48"),
        ip("10.222.2.34"),
        ip("10.222.2.1"),
        ip("10.222.2.2"),
        ip("10.222.0.9"),
        ip("10.104.65.133"),
        ip("10.96.0.10"),
        r.next() as u32,
    ];
    let mut f = Flow::ZERO;
    Field::InPort.set(&mut f, u128::from(r.pick(&[1u32, 2, 3, 4, 35, 48, 49, 7])));
    Field::EthSrc.set(&mut f, u128::from(r.pick(&macs)));
    Field::EthDst.set(&mut f, u128::from(r.pick(&macs)));
    let ty = r.pick(&[0x0800u16, 0x0800, 0x0800, 0x0806, 0x86dd, 0x88cc]);
    Field::EthType.set(&mut f, u128::from(ty));
    match ty {
        0x0800 => {
            Field::NwSrc.set(&mut f, u128::from(r.pick(&ips)));
            Field::NwDst.set(&mut f, u128::from(r.pick(&ips)));
            let proto = r.pick(&[6u8, 6, 17, 1, 47]);
            Field::NwProto.set(&mut f, u128::from(proto));
            Field::NwTtl.set(&mut f, u128::from(r.pick(&[0u8, 1, 2, 63, 64])));
            Field::NwFrag.set(&mut f, u128::from(r.pick(&[0u8, 0, 0, 1, 3])));
            if matches!(proto, 6 | 17) {
                Field::TpSrc.set(&mut f, u128::from(r.next() as u16));
                let any = r.next() as u16;
                Field::TpDst.set(&mut f, u128::from(r.pick(&[80u16, 53, 22, any])));
            }
            if proto == 6 {
                Field::TcpFlags.set(&mut f, u128::from(r.pick(&[0x002u16, 0x012, 0x010, 0x011])));
            }
        }
        0x0806 => {
            Field::ArpOp.set(&mut f, u128::from(r.pick(&[1u8, 2])));
            Field::ArpSpa.set(&mut f, u128::from(r.pick(&ips)));
            Field::ArpTpa.set(&mut f, u128::from(r.pick(&ips)));
            Field::ArpSha.set(&mut f, u128::from(r.pick(&macs)));
        }
        _ => {}
    }
    if recirc_ids > 0 && r.next().is_multiple_of(2) {
        Field::RecircId.set(
            &mut f,
            u128::from(1 + (r.next() % u64::from(recirc_ids)) as u32),
        );
        let st = r.pick(&[0x21u8, 0x22, 0x2a, 0x30, 0x31, 0x00]);
        Field::CtState.set(&mut f, u128::from(st));
        Field::CtZone.set(&mut f, 65520);
        Field::CtMark.set(&mut f, u128::from(r.pick(&[0u32, 0x20, 0x21, 7])));
    }
    if Field::InPort.get(&f) == 1 {
        Field::TunSrc.set(&mut f, u128::from(ip("10.79.1.202")));
        Field::TunDst.set(&mut f, u128::from(ip("10.79.1.201")));
    }
    f
}

/// The actions as the datapath would execute them on a packet with `key`: `dec_ttl` is a
/// relative datapath action that drops a packet whose TTL is 0 or 1, so on such a packet a
/// list `[.., DecTtl, ..]` behaves as `[.., Drop(TtlExpired)]`. Header rewrites that nothing
/// sends, and a TTL drop that ends the list, change nothing anyone sees (translation leaves
/// trailing rewrites out): they are dropped from both sides.
fn as_executed(acts: &[DpAction], key: &Flow) -> Vec<DpAction> {
    let ttl = Field::NwTtl.get(key);
    let mut out = Vec::new();
    for a in acts {
        if *a == DpAction::DecTtl && ttl <= 1 {
            out.push(DpAction::Drop(DropReason::TtlExpired));
            break;
        }
        out.push(a.clone());
    }
    while matches!(
        out.last(),
        Some(
            DpAction::Set { .. }
                | DpAction::DecTtl
                | DpAction::PushVlan(_)
                | DpAction::PopVlan
                | DpAction::Drop(DropReason::TtlExpired)
        )
    ) {
        out.pop();
    }
    out
}

/// What a property run compared.
#[derive(Clone, Copy, Debug, Default)]
pub struct PropertyRun {
    /// Perturbed keys compared.
    pub compared: u64,
    /// Keys skipped because they used NORMAL (MAC learning changes under them).
    pub skipped: u64,
    /// Keys whose translation ran a group.
    pub grouped: u64,
    /// Keys whose translation output to the tunnel (`tnl_push`, waiting for ARP, or no
    /// route): the outer header template is part of what must match.
    pub tunnelled: u64,
}

/// Checks the property on `b` with `rounds` random keys, each compared with 4 perturbed
/// keys. Returns what was compared, or the first mismatch.
pub fn megaflow_property(b: &Bridge, rounds: usize) -> Result<PropertyRun, String> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    // Warm up: create the recirculation states the pipeline uses.
    for _ in 0..2000 {
        let k = random_key(&mut r, 0);
        translate(b, &k, 1, None);
    }
    let ids = b.n_recirc_ids() as u32;
    if ids < 2 {
        return Err(format!(
            "the pipeline made {ids} recirculation states, expected >= 2"
        ));
    }
    let (mut compared, mut skipped, mut grouped, mut tunnelled) = (0u64, 0u64, 0u64, 0u64);
    for _ in 0..rounds {
        let a = random_key(&mut r, ids);
        let ta = translate(b, &a, 1, None);
        if !ta.groups.is_empty() {
            grouped += 1;
        }
        if ta.actions.iter().any(|a| {
            matches!(
                a,
                DpAction::TnlPush(_) | DpAction::TnlPending(_) | DpAction::OutputDrop(_)
            )
        }) {
            tunnelled += 1;
        }
        if ta.uses_mac_learning {
            skipped += 1;
            continue;
        }
        for _ in 0..4 {
            let noise = random_key(&mut r, ids);
            let mut bk = Flow::ZERO;
            for i in 0..KEY_WORDS {
                bk.w[i] = (a.w[i] & ta.mask.w[i]) | (noise.w[i] & !ta.mask.w[i]);
            }
            let tb = translate(b, &bk, 1, None);
            if as_executed(&ta.actions, &bk) != as_executed(&tb.actions, &bk) {
                return Err(format!(
                    "key {a:?} mask {:?} vs {bk:?}: {:?} vs {:?}",
                    ta.mask, ta.actions, tb.actions
                ));
            }
            compared += 1;
        }
    }
    Ok(PropertyRun {
        compared,
        skipped,
        grouped,
        tunnelled,
    })
}
