//! One OpenFlow table's classifier: prioritised wildcard rules, tuple-space search, staged
//! lookup, and conjunctive matches with OVS's semantics.
//!
//! Rules with the same mask share a *subtable*: a hash table over the masked key. A lookup
//! visits subtables in decreasing order of the highest priority they hold and stops as soon
//! as no remaining subtable can beat the best match found. Each lookup records in a wildcard
//! mask every bit it depended on, which is what makes megaflows correct: a subtable that was
//! consulted contributes its mask bits, a subtable that was skipped contributes nothing.
//!
//! *Prefix tracking* (`prefix.rs`, the idea of OVS's prefix tries): in the L3 stage, a
//! subtable none of whose rules has the packet's IPv4 source or destination prefix is
//! skipped un-wildcarding only the leading address bits (whole octets) that prove it.
//!
//! *Staged lookup* (as OVS's): a subtable's mask is split into four stages — metadata, L2,
//! L3, L4 — and each stage has an index of the hashes of the masked key up to that stage. A
//! packet that already fails at an early stage un-wildcards only the bits of the stages up to
//! there, so e.g. a rule on `tcp,tp_dst=80` does not make every megaflow of a UDP packet
//! depend on the L4 ports.

use crate::flow::{w, Flow, FLOW_WORDS};
use hashbrown::HashTable;
use prefix::PrefixIndex;
use smallvec::SmallVec;
use std::sync::Arc;

/// One clause of a conjunctive match that a rule contributes (`conjunction(id,k/n)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConjClause {
    /// Conjunction id.
    pub id: u32,
    /// Clause index, 0-based.
    pub clause: u8,
    /// Number of clauses.
    pub n_clauses: u8,
}

/// Bits of the flow in each lookup stage: metadata, L2, L3, L4.
fn stage_masks() -> [Flow; 4] {
    let mut s = [Flow::ZERO; 4];
    // Stage 0: metadata (port, recirculation, conntrack, marks, tunnel, registers).
    for i in [w::PORT, w::CT_MARK, w::CT_LABEL, w::CT_LABEL + 1] {
        s[0].w[i] = u64::MAX;
    }
    s[0].w[w::CT] = 0xffff_ffff_0000_ffff; // everything but tcp_flags
    for i in w::TUN_ID..FLOW_WORDS {
        s[0].w[i] = u64::MAX;
    }
    // Stage 1: L2.
    s[1].w[w::ETH_DST] = u64::MAX;
    s[1].w[w::ETH_SRC] = u64::MAX;
    // Stage 2: L3.
    s[2].w[w::NW_ADDR] = u64::MAX;
    s[2].w[w::NW_L4] = 0xffff_ffff;
    for i in w::ARP_SHA..=w::IPV6_LABEL {
        s[2].w[i] = u64::MAX;
    }
    // Stage 3: L4.
    s[3].w[w::NW_L4] = 0xffff_ffff_0000_0000;
    s[3].w[w::CT] = 0x0000_0000_ffff_0000;
    s
}

/// Mixes one word into a running hash (a fast non-cryptographic mix; collisions only cost
/// a comparison, never correctness).
#[inline]
pub fn hash_word(h: u64, x: u64) -> u64 {
    (h.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
}

/// Final avalanche so that low bits are usable for bucket selection.
#[inline]
pub fn hash_finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

#[derive(Clone)]
struct RuleRef<T> {
    priority: u16,
    seq: u64,
    conj: SmallVec<[ConjClause; 2]>,
    payload: T,
}

#[derive(Clone)]
struct Entry<T> {
    hash: u64,
    key: SmallVec<[u64; 6]>,
    /// Rules with this exact match, by priority (desc) then insertion order.
    rules: SmallVec<[RuleRef<T>; 1]>,
}

/// The words one stage of a subtable hashes: `(word index, mask)`.
type StageWords = SmallVec<[(u8, u64); 4]>;

struct Subtable<T> {
    seq: u64,
    mask: Flow,
    /// Per non-empty stage, the masked words to hash.
    stages: SmallVec<[StageWords; 4]>,
    /// Per stage but the last: hashes of the cumulative masked key, with reference counts.
    indices: SmallVec<[HashTable<(u64, u32)>; 3]>,
    /// For un-wildcarding: the subtable mask restricted to stages `0..=k`.
    cumulative: SmallVec<[Flow; 4]>,
    /// The IPv4 address fields the mask matches as prefixes, and the stage that holds
    /// them (`usize::MAX`: none).
    prefixes: SmallVec<[PrefixIndex; 2]>,
    prefix_stage: usize,
    /// The entries, in `2^chunk_bits` chunks by bits of their hash, each of about
    /// [`CHUNK_MAX`] / 2 to [`CHUNK_MAX`] entries: a version of the tables that changes a
    /// few rules copies their small chunks, not the subtable (learned flows add to big
    /// subtables in batches; a copy in big pieces is also memory fresh from the kernel).
    table: Vec<Arc<HashTable<Entry<T>>>>,
    chunk_bits: u32,
    max_priority: u16,
    /// Rules per priority: a removal finds the new maximum without scanning the table
    /// (removing many rules from a big subtable, as expiring learned flows do, stays
    /// linear).
    priorities: std::collections::BTreeMap<u16, u32>,
    n_rules: usize,
}

impl<T> Subtable<T> {
    fn new(seq: u64, mask: Flow) -> Self {
        let sm = stage_masks();
        let mut stages: SmallVec<[StageWords; 4]> = SmallVec::new();
        let mut cumulative: SmallVec<[Flow; 4]> = SmallVec::new();
        let mut acc = Flow::ZERO;
        for st in &sm {
            let mut words = StageWords::new();
            for i in 0..FLOW_WORDS {
                let m = mask.w[i] & st.w[i];
                if m != 0 {
                    words.push((i as u8, m));
                    acc.w[i] |= m;
                }
            }
            if !words.is_empty() {
                stages.push(words);
                cumulative.push(acc);
            }
        }
        if stages.is_empty() {
            // Catch-all subtable: one empty stage.
            stages.push(StageWords::new());
            cumulative.push(Flow::ZERO);
        }
        let n_idx = stages.len() - 1;
        let prefixes = PrefixIndex::of_mask(&mask);
        let prefix_stage = stages
            .iter()
            .position(|st| st.iter().any(|&(i, _)| usize::from(i) == w::NW_ADDR))
            .filter(|_| !prefixes.is_empty())
            .unwrap_or(usize::MAX);
        Subtable {
            seq,
            mask,
            stages,
            indices: (0..n_idx).map(|_| HashTable::new()).collect(),
            cumulative,
            prefixes,
            prefix_stage,
            table: vec![Arc::new(HashTable::new())],
            chunk_bits: 0,
            max_priority: 0,
            priorities: std::collections::BTreeMap::new(),
            n_rules: 0,
        }
    }

    /// Hash of stages `0..=k` of `flow` under this subtable's mask.
    fn stage_hashes(&self, flow: &Flow, out: &mut SmallVec<[u64; 4]>) -> SmallVec<[u64; 6]> {
        let mut key = SmallVec::new();
        let mut h = 0x9e37_79b9_7f4a_7c15u64;
        for st in &self.stages {
            for &(i, m) in st {
                let v = flow.w[i as usize] & m;
                h = hash_word(h, v);
                key.push(v);
            }
            out.push(hash_finish(h));
        }
        key
    }

    /// The chunk an entry of `hash` lives in.
    #[inline]
    fn ci(&self, hash: u64) -> usize {
        (hash >> CHUNK_SHIFT) as usize & (self.table.len() - 1)
    }

    fn find(&self, hash: u64, key: &[u64]) -> Option<&Entry<T>> {
        self.table[self.ci(hash)].find(hash, |e| e.hash == hash && e.key[..] == key[..])
    }

    /// Every entry.
    fn entries(&self) -> impl Iterator<Item = &Entry<T>> {
        self.table.iter().flat_map(|c| c.iter())
    }
}

impl<T: Clone> Subtable<T> {
    /// The chunk of `hash`, to change (copied first if another version shares it).
    fn chunk_mut(&mut self, hash: u64) -> &mut HashTable<Entry<T>> {
        let i = self.ci(hash);
        Arc::make_mut(&mut self.table[i])
    }

    /// Doubles the chunks once they hold more than [`CHUNK_MAX`] rules on average: chunk
    /// `i` splits into `i` and `i + n` by the next bit of the hash above [`CHUNK_SHIFT`].
    fn maybe_split(&mut self) {
        if self.n_rules <= self.table.len() * CHUNK_MAX {
            return;
        }
        let bits = self.chunk_bits + 1;
        let n = self.table.len();
        let mut chunks: Vec<HashTable<Entry<T>>> = (0..2 * n).map(|_| HashTable::new()).collect();
        for (i, c) in self.table.iter().enumerate() {
            let (lo, hi) = chunks.split_at_mut(n);
            let (lo, hi) = (&mut lo[i], &mut hi[i]);
            for e in c.iter() {
                let half = if (e.hash >> (CHUNK_SHIFT + bits - 1)) & 1 == 0 {
                    &mut *lo
                } else {
                    &mut *hi
                };
                half.insert_unique(e.hash, e.clone(), |x| x.hash);
            }
        }
        self.table = chunks.into_iter().map(Arc::new).collect();
        self.chunk_bits = bits;
    }
}

/// Rules a chunk holds on average before the chunks double (tens of entries: a batch of
/// a thousand learned flows into a table of a hundred thousand copies a fraction of it,
/// and a version copies the chunk pointers, a few thousand).
const CHUNK_MAX: usize = 64;
/// The chunk is chosen by the hash's bits from here up: the hash table in a chunk places
/// entries by the low bits and tags them with the top seven, which must not be the same
/// for every entry of a chunk (then every probe compares every key of a group).
const CHUNK_SHIFT: u32 = 24;

/// A classifier over rules carrying a payload `T` (the switch stores its rule handle).
pub struct Classifier<T> {
    subtables: Vec<Subtable<T>>,
    /// Indexes into `subtables`, by max priority (desc) then age.
    order: Vec<usize>,
    next_seq: u64,
    n_rules: usize,
}

impl<T: Clone> Default for Classifier<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Result of a conjunction-aware lookup.
pub struct LookupResult<'a, T> {
    /// The winning rule's payload.
    pub payload: &'a T,
    /// Its priority.
    pub priority: u16,
}

impl<T: Clone> Classifier<T> {
    /// An empty classifier.
    pub fn new() -> Self {
        Classifier {
            subtables: Vec::new(),
            order: Vec::new(),
            next_seq: 0,
            n_rules: 0,
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.n_rules
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.n_rules == 0
    }

    /// Number of distinct masks (subtables).
    pub fn n_subtables(&self) -> usize {
        self.subtables.iter().filter(|s| s.n_rules > 0).count()
    }

    fn reorder(&mut self) {
        let subs = &self.subtables;
        let mut order: Vec<usize> = (0..subs.len()).filter(|&i| subs[i].n_rules > 0).collect();
        order.sort_by(|&a, &b| {
            subs[b]
                .max_priority
                .cmp(&subs[a].max_priority)
                .then(subs[a].seq.cmp(&subs[b].seq))
        });
        self.order = order;
    }

    /// Inserts a rule. A rule with the same match and priority is replaced and its payload
    /// returned.
    pub fn insert(
        &mut self,
        value: &Flow,
        mask: &Flow,
        priority: u16,
        conj: &[ConjClause],
        payload: T,
    ) -> Option<T> {
        let (si, new_sub) = match self.subtables.iter().position(|s| s.mask == *mask) {
            Some(i) => (i, false),
            None => {
                self.next_seq += 1;
                self.subtables.push(Subtable::new(self.next_seq, *mask));
                (self.subtables.len() - 1, true)
            }
        };
        self.next_seq += 1;
        let seq = self.next_seq;
        let sub = &mut self.subtables[si];
        let v = value.masked(mask);
        let mut hashes = SmallVec::new();
        let key = sub.stage_hashes(&v, &mut hashes);
        let hash = *hashes.last().expect("at least one stage");
        let rule = RuleRef {
            priority,
            seq,
            conj: conj.iter().copied().collect(),
            payload,
        };
        let mut replaced = None;
        let chunk = sub.chunk_mut(hash);
        match chunk.find_mut(hash, |e| e.hash == hash && e.key[..] == key[..]) {
            Some(e) => {
                if let Some(pos) = e.rules.iter().position(|r| r.priority == priority) {
                    // Same match and priority: replace in place, keeping its age.
                    let old = std::mem::replace(&mut e.rules[pos], rule);
                    e.rules[pos].seq = old.seq;
                    replaced = Some(old.payload);
                } else {
                    let pos = e
                        .rules
                        .iter()
                        .position(|r| r.priority < priority)
                        .unwrap_or(e.rules.len());
                    e.rules.insert(pos, rule);
                }
            }
            None => {
                let mut rules = SmallVec::new();
                rules.push(rule);
                chunk.insert_unique(hash, Entry { hash, key, rules }, |e| e.hash);
                for p in sub.prefixes.iter_mut() {
                    p.add(v.w[w::NW_ADDR]);
                }
                for (k, idx) in sub.indices.iter_mut().enumerate() {
                    let h = hashes[k];
                    match idx.find_mut(h, |&(x, _)| x == h) {
                        Some(c) => c.1 += 1,
                        None => {
                            idx.insert_unique(h, (h, 1), |&(x, _)| x);
                        }
                    }
                }
            }
        }
        if replaced.is_none() {
            sub.n_rules += 1;
            self.n_rules += 1;
            *sub.priorities.entry(priority).or_insert(0) += 1;
        }
        let raised = priority > sub.max_priority;
        sub.max_priority = sub.max_priority.max(priority);
        sub.maybe_split();
        // The order moves only with a new subtable or a higher maximum priority.
        if new_sub || raised {
            self.reorder();
        }
        replaced
    }

    /// Removes the rule with exactly this match and priority, returning its payload.
    pub fn remove(&mut self, value: &Flow, mask: &Flow, priority: u16) -> Option<T> {
        let si = self.subtables.iter().position(|s| s.mask == *mask)?;
        let sub = &mut self.subtables[si];
        let v = value.masked(mask);
        let mut hashes = SmallVec::new();
        let key = sub.stage_hashes(&v, &mut hashes);
        let hash = *hashes.last().expect("at least one stage");
        sub.find(hash, &key)?;
        let entry = sub
            .chunk_mut(hash)
            .find_entry(hash, |e| e.hash == hash && e.key[..] == key[..])
            .ok()?;
        let pos = entry
            .get()
            .rules
            .iter()
            .position(|r| r.priority == priority)?;
        let (payload, now_empty) = {
            let mut entry = entry;
            let r = entry.get_mut().rules.remove(pos);
            if entry.get().rules.is_empty() {
                entry.remove();
                (r.payload, true)
            } else {
                (r.payload, false)
            }
        };
        if now_empty {
            for p in sub.prefixes.iter_mut() {
                p.remove(v.w[w::NW_ADDR]);
            }
            for (k, idx) in sub.indices.iter_mut().enumerate() {
                let h = hashes[k];
                if let Ok(mut e) = idx.find_entry(h, |&(x, _)| x == h) {
                    e.get_mut().1 -= 1;
                    if e.get().1 == 0 {
                        e.remove();
                    }
                }
            }
        }
        sub.n_rules -= 1;
        self.n_rules -= 1;
        if let Some(n) = sub.priorities.get_mut(&priority) {
            *n -= 1;
            if *n == 0 {
                sub.priorities.remove(&priority);
            }
        }
        let reorder = if sub.n_rules == 0 {
            self.subtables.swap_remove(si);
            true
        } else {
            let was = sub.max_priority;
            sub.max_priority = sub.priorities.keys().next_back().copied().unwrap_or(0);
            sub.max_priority != was
        };
        if reorder {
            self.reorder();
        }
        Some(payload)
    }

    /// The rule with exactly this match and priority.
    pub fn get(&self, value: &Flow, mask: &Flow, priority: u16) -> Option<&T> {
        let sub = self.subtables.iter().find(|s| s.mask == *mask)?;
        let v = value.masked(mask);
        let mut hashes = SmallVec::new();
        let key = sub.stage_hashes(&v, &mut hashes);
        let hash = *hashes.last()?;
        sub.find(hash, &key)?
            .rules
            .iter()
            .find(|r| r.priority == priority)
            .map(|r| &r.payload)
    }

    /// The highest-priority rule list in `sub` matching `flow`, un-wildcarding in `wc` the
    /// stages consulted.
    fn find_match_wc<'a>(
        sub: &'a Subtable<T>,
        flow: &Flow,
        wc: &mut Option<&mut Flow>,
    ) -> Option<&'a Entry<T>> {
        let mut h = 0x9e37_79b9_7f4a_7c15u64;
        let mut key: SmallVec<[u64; 6]> = SmallVec::new();
        let last = sub.stages.len() - 1;
        for (k, st) in sub.stages.iter().enumerate() {
            for &(i, m) in st {
                let v = flow.w[i as usize] & m;
                h = hash_word(h, v);
                key.push(v);
            }
            let hk = hash_finish(h);
            if k < last {
                if sub.indices[k].find(hk, |&(x, _)| x == hk).is_none() {
                    if let Some(wc) = wc.as_deref_mut() {
                        Self::unwildcard_miss(sub, k, flow, wc, &sub.cumulative[k]);
                    }
                    return None;
                }
            } else {
                let found = sub.find(hk, &key);
                if let Some(wc) = wc.as_deref_mut() {
                    if found.is_none() {
                        Self::unwildcard_miss(sub, k, flow, wc, &sub.mask);
                    } else {
                        wc.or_with(&sub.mask);
                    }
                }
                return found;
            }
        }
        None
    }

    /// Un-wildcards what proves that `sub` has no rule for `flow`, which missed at stage
    /// `k`: `consulted` (the stages up to `k`), or, when the stage holds an address field
    /// none of whose rules' prefixes the packet has, only that address's leading bits
    /// (`prefix.rs`). Run on misses only: a hit, and a lookup without wildcards, never pay
    /// for the prefix search.
    #[cold]
    fn unwildcard_miss(sub: &Subtable<T>, k: usize, flow: &Flow, wc: &mut Flow, consulted: &Flow) {
        if k == sub.prefix_stage {
            for p in &sub.prefixes {
                if let Some(bits) = p.rejects(flow.w[w::NW_ADDR]) {
                    p.unwildcard(bits, wc);
                    return;
                }
            }
        }
        wc.or_with(consulted);
    }

    /// Looks up the highest-priority rule matching `flow`, with conjunctive matches resolved
    /// as OVS does. Every bit the answer depended on is set in `wc`.
    pub fn lookup(&self, flow: &Flow, mut wc: Option<&mut Flow>) -> Option<LookupResult<'_, T>> {
        self.lookup_inner(flow, &mut wc, true)
    }

    fn lookup_inner(
        &self,
        flow: &Flow,
        wc: &mut Option<&mut Flow>,
        allow_conj: bool,
    ) -> Option<LookupResult<'_, T>> {
        let mut hard: Option<&RuleRef<T>> = None;
        let mut hard_pri: i32 = -1;
        // Soft matches: (entry, index of the rule within the entry).
        let mut soft: SmallVec<[(&Entry<T>, usize); 16]> = SmallVec::new();
        for &si in &self.order {
            let sub = &self.subtables[si];
            if i32::from(sub.max_priority) <= hard_pri {
                break;
            }
            let Some(e) = Self::find_match_wc(sub, flow, wc) else {
                continue;
            };
            let r = &e.rules[0];
            if i32::from(r.priority) <= hard_pri {
                continue;
            }
            if r.conj.is_empty() {
                hard = Some(r);
                hard_pri = i32::from(r.priority);
            } else if allow_conj {
                soft.push((e, 0));
            }
        }
        fn result<T>(r: &RuleRef<T>) -> LookupResult<'_, T> {
            LookupResult {
                payload: &r.payload,
                priority: r.priority,
            }
        }
        let soft_max = soft
            .iter()
            .map(|(e, i)| i32::from(e.rules[*i].priority))
            .max()
            .unwrap_or(-1);
        if hard_pri >= soft_max {
            return hard.map(result::<T>);
        }
        loop {
            soft.retain(|(e, i)| *i < e.rules.len() && i32::from(e.rules[*i].priority) > hard_pri);
            if soft.is_empty() {
                break;
            }
            let soft_pri = soft
                .iter()
                .map(|(e, i)| e.rules[*i].priority)
                .max()
                .unwrap_or(0);
            let n_soft_pri = soft
                .iter()
                .filter(|(e, i)| e.rules[*i].priority == soft_pri)
                .count();
            // Conjunction id -> clauses seen (bit set = seen or not required).
            let mut seen: SmallVec<[(u32, u64); 16]> = SmallVec::new();
            for (e, i) in soft.iter() {
                let r = &e.rules[*i];
                if r.priority != soft_pri {
                    continue;
                }
                for c in &r.conj {
                    if usize::from(c.n_clauses) > n_soft_pri {
                        continue;
                    }
                    let slot = match seen.iter().position(|(id, _)| *id == c.id) {
                        Some(p) => p,
                        None => {
                            let init = if c.n_clauses >= 64 {
                                0
                            } else {
                                u64::MAX << c.n_clauses
                            };
                            seen.push((c.id, init));
                            seen.len() - 1
                        }
                    };
                    seen[slot].1 |= 1u64 << (c.clause & 63);
                    if seen[slot].1 == u64::MAX {
                        let mut f2 = *flow;
                        f2.w[w::CONJ] = (f2.w[w::CONJ] & !0xffff_ffff) | u64::from(c.id);
                        if let Some(found) = self.lookup_inner(&f2, wc, false) {
                            return Some(found);
                        }
                    }
                }
            }
            // No complete conjunction at this priority: fall back to lower-priority rules
            // with the same match.
            for k in 0..soft.len() {
                let (e, i) = soft[k];
                if e.rules[i].priority != soft_pri {
                    continue;
                }
                let ni = i + 1;
                soft[k].1 = ni;
                if let Some(r) = e.rules.get(ni) {
                    if r.conj.is_empty() {
                        if i32::from(r.priority) > hard_pri {
                            hard = Some(r);
                            hard_pri = i32::from(r.priority);
                        }
                        soft[k].1 = e.rules.len(); // no longer soft
                    }
                }
            }
        }
        hard.map(result::<T>)
    }

    /// Calls `f` with every rule's payload.
    pub fn for_each(&self, mut f: impl FnMut(&T)) {
        for s in &self.subtables {
            for e in s.entries() {
                for r in &e.rules {
                    f(&r.payload);
                }
            }
        }
    }
}

impl<T: Clone> Clone for Classifier<T> {
    fn clone(&self) -> Self {
        Classifier {
            subtables: self
                .subtables
                .iter()
                .map(|s| Subtable {
                    seq: s.seq,
                    mask: s.mask,
                    stages: s.stages.clone(),
                    indices: s.indices.clone(),
                    cumulative: s.cumulative.clone(),
                    prefixes: s.prefixes.clone(),
                    prefix_stage: s.prefix_stage,
                    // The hash table's own clone copies its layout: no rehashing.
                    table: s.table.clone(),
                    chunk_bits: s.chunk_bits,
                    max_priority: s.max_priority,
                    priorities: s.priorities.clone(),
                    n_rules: s.n_rules,
                })
                .collect(),
            order: self.order.clone(),
            next_seq: self.next_seq,
            n_rules: self.n_rules,
        }
    }
}

mod prefix;
#[cfg(test)]
mod tests;
