//! Prefix tracking for the IPv4 address fields (the idea of OVS's prefix tries): when no
//! rule of a subtable can match a packet's source or destination address, say so with as
//! few leading address bits as that needs, not with the subtable's whole mask.
//!
//! Why: without it, a miss in a subtable whose rules match `nw_src=10.222.1.48` makes the
//! megaflow depend on all 32 bits of the packet's source, so a flood from random sources
//! (every SYN of a DDoS through the gateway) gets a megaflow, an upcall and a translation
//! *per packet*. With it, a source that differs from every rule in its first octet
//! un-wildcards that octet only, and the whole flood shares a handful of megaflows.
//!
//! The bits are rounded up to whole octets ([`PREFIX_QUANTUM`]). OVS keeps the exact count
//! (up to and including the first differing bit), and that is what Tuple Space Explosion
//! feeds on: packets that differ from a rule's address in bit 0, 1, ... 31 (times the same
//! for a second field) each leave a megaflow with a mask of its own, and the datapath's
//! tuple-space search then probes every mask. Rounded, one address field can give at most
//! four masks (8, 16, 24, 32 bits), whatever the attacker sends (`docs/attacks.md`).

use crate::flow::{w, Flow};
use std::sync::Arc;

/// Address bits are un-wildcarded in multiples of this many (see the module's comment).
pub const PREFIX_QUANTUM: u32 = 8;

/// A subtable with more distinct addresses than this is not tracked: its misses
/// un-wildcard its whole mask, as without tracking (the index is copied with every version
/// of the table that changes the subtable; learned-flow subtables grow to millions).
pub const PREFIX_MAX_VALUES: usize = 4096;

/// One address field (bits `shift..shift + 32` of the address word) of one subtable whose
/// mask on it is a prefix of `plen` bits: the distinct prefixes its rules have.
#[derive(Clone)]
pub(super) struct PrefixIndex {
    shift: u32,
    plen: u32,
    /// Sorted (prefix, number of entries with it); None once there are too many.
    values: Option<Arc<Vec<(u32, u32)>>>,
}

impl PrefixIndex {
    /// The address fields `mask` matches as a prefix (none for a mask with holes: such a
    /// subtable is looked up whole, as before).
    pub(super) fn of_mask(mask: &Flow) -> smallvec::SmallVec<[PrefixIndex; 2]> {
        let mut out = smallvec::SmallVec::new();
        for shift in [0u32, 32] {
            let m = (mask.w[w::NW_ADDR] >> shift) as u32;
            let plen = m.leading_ones();
            if plen > 0 && m.trailing_zeros() == 32 - plen {
                out.push(PrefixIndex {
                    shift,
                    plen,
                    values: Some(Arc::new(Vec::new())),
                });
            }
        }
        out
    }

    fn field(&self, word: u64) -> u32 {
        let v = (word >> self.shift) as u32;
        // `plen` is 1..=32 here.
        v & (u32::MAX << (32 - self.plen))
    }

    /// A new entry whose masked address word is `word`.
    pub(super) fn add(&mut self, word: u64) {
        let x = self.field(word);
        let Some(vals) = self.values.as_mut() else {
            return;
        };
        let vals = Arc::make_mut(vals);
        match vals.binary_search_by_key(&x, |&(v, _)| v) {
            Ok(i) => vals[i].1 += 1,
            Err(i) if vals.len() < PREFIX_MAX_VALUES => vals.insert(i, (x, 1)),
            Err(_) => self.values = None,
        }
    }

    /// An entry whose masked address word is `word` is gone.
    pub(super) fn remove(&mut self, word: u64) {
        let x = self.field(word);
        let Some(vals) = self.values.as_mut() else {
            return;
        };
        let vals = Arc::make_mut(vals);
        if let Ok(i) = vals.binary_search_by_key(&x, |&(v, _)| v) {
            vals[i].1 -= 1;
            if vals[i].1 == 0 {
                vals.remove(i);
            }
        }
    }

    /// When no entry can match the packet's address word `word`: how many leading bits of
    /// the address prove it (every address that shares them misses too), rounded up to
    /// [`PREFIX_QUANTUM`] and at most the subtable's prefix. None: some entry may match
    /// (or the subtable is not tracked), so the subtable must be looked up.
    pub(super) fn rejects(&self, word: u64) -> Option<u32> {
        let vals = self.values.as_deref()?;
        let x = self.field(word);
        let i = match vals.binary_search_by_key(&x, |&(v, _)| v) {
            Ok(_) => return None,
            Err(i) => i,
        };
        // The longest common prefix with any entry is with a sorted neighbour; the address
        // leaves every entry's path at the bit after it.
        let lcp = |j: usize| vals.get(j).map_or(0, |&(v, _)| (v ^ x).leading_zeros());
        let common = lcp(i).max(i.checked_sub(1).map_or(0, lcp));
        let needed = (common + 1).min(self.plen);
        Some((needed.div_ceil(PREFIX_QUANTUM) * PREFIX_QUANTUM).min(self.plen))
    }

    /// Un-wildcards the `bits` leading bits of this address field in `wc`.
    pub(super) fn unwildcard(&self, bits: u32, wc: &mut Flow) {
        let m = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
        wc.w[w::NW_ADDR] |= u64::from(m) << self.shift;
    }
}
