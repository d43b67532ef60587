//! The group table: groups with their buckets and counters, select-bucket choice, group
//! mods (flows that use a deleted group go with it), and the check that refuses group loops.

use super::{FlowModError, ModSummary, OfTables, RuleStats};
use crate::classifier::{hash_finish, hash_word};
use crate::field::Field;
use crate::flow::{eth_type, ip_proto, Flow};
use crate::ofctl::{Action, Bucket, FlowEntry, GroupEntry, Selection};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// An installed group.
#[derive(Debug)]
pub struct Group {
    /// The group as added.
    pub entry: GroupEntry,
    /// When it was added (ms, caller's clock).
    pub created_ms: u64,
    /// Packets and bytes that executed the group.
    pub stats: RuleStats,
    /// Per bucket, in `entry.buckets` order.
    pub bucket_stats: Box<[RuleStats]>,
}

/// The fields a select group's hash reads for `key` (only those present in the packet), so
/// translation can un-wildcard exactly them.
pub fn selection_fields(sel: &Selection, key: &Flow) -> Vec<Field> {
    use crate::field::Field as F;
    match sel {
        Selection::Hash(f) => f.clone(),
        Selection::Default | Selection::DpHash => {
            let mut v = Vec::with_capacity(9);
            if *sel == Selection::Default {
                v.extend([F::EthSrc, F::EthDst, F::VlanTci]);
            }
            v.push(F::EthType);
            let ty = F::EthType.get(key) as u16;
            let l3 = match ty {
                eth_type::IPV4 => Some((F::NwSrc, F::NwDst)),
                eth_type::IPV6 => Some((F::Ipv6Src, F::Ipv6Dst)),
                _ => None,
            };
            if let Some((s, d)) = l3 {
                v.extend([s, d, F::NwProto]);
                let proto = F::NwProto.get(key) as u8;
                if matches!(proto, ip_proto::TCP | ip_proto::UDP | ip_proto::SCTP) {
                    v.extend([F::TpSrc, F::TpDst]);
                }
            }
            v
        }
    }
}

impl Group {
    /// A new group with zeroed counters.
    pub fn new(entry: GroupEntry, now_ms: u64) -> Self {
        let n = entry.buckets.len();
        Group {
            entry,
            created_ms: now_ms,
            stats: RuleStats::default(),
            bucket_stats: (0..n).map(|_| RuleStats::default()).collect(),
        }
    }

    /// The hash a select group picks a bucket with, over `fields` (what
    /// [`selection_fields`] gives for `key`: the caller needs them for the megaflow mask
    /// too). Source and destination of each pair (MACs, addresses, ports) are combined
    /// order-independently for the default method, so a connection's two directions hash
    /// alike.
    pub fn hash(&self, key: &Flow, fields: &[Field]) -> u64 {
        let e = &self.entry;
        let mut h = hash_word(0x5bd1_e995, e.selection_param);
        match e.selection {
            Selection::Hash(_) => {
                for f in fields {
                    let v = f.get(key);
                    h = hash_word(hash_word(h, v as u64), (v >> 64) as u64);
                }
            }
            Selection::Default | Selection::DpHash => {
                use crate::field::Field as F;
                let pair = |a: F, b: F| {
                    let (x, y) = (a.get(key), b.get(key));
                    (x ^ y, x.wrapping_add(y))
                };
                for &f in fields {
                    let v = match f {
                        F::EthSrc | F::NwSrc | F::Ipv6Src | F::TpSrc => continue,
                        F::EthDst => pair(F::EthSrc, F::EthDst),
                        F::NwDst => pair(F::NwSrc, F::NwDst),
                        F::Ipv6Dst => pair(F::Ipv6Src, F::Ipv6Dst),
                        F::TpDst => pair(F::TpSrc, F::TpDst),
                        f => (f.get(key), 0),
                    };
                    h = hash_word(
                        hash_word(hash_word(h, v.0 as u64), (v.0 >> 64) as u64),
                        v.1 as u64,
                    );
                }
            }
        }
        hash_finish(hash_word(h, 0x2545_f491_4f6c_dd1d))
    }

    /// The bucket a select group runs for hash `h`: weighted rendezvous hashing (each
    /// bucket with weight draws `u` in (0,1) from `hash(h, bucket_id)` and scores
    /// `weight / -ln(u)`; the best wins), which gives each bucket its weight's share and
    /// moves only a removed bucket's connections. `None` when no bucket has weight.
    pub fn select(&self, h: u64) -> Option<usize> {
        let mut best: Option<(f64, usize)> = None;
        for (i, b) in self.entry.buckets.iter().enumerate() {
            if b.weight == 0 {
                continue;
            }
            let r = hash_finish(hash_word(h, u64::from(b.id) + 1));
            let u = ((r >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            let score = f64::from(b.weight) / -u.ln();
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, i));
            }
        }
        best.map(|(_, i)| i)
    }

    /// Credits one bucket and the group.
    pub fn credit(&self, bucket: u16, packets: u64, bytes: u64, now_ms: u64) {
        if bucket & super::BUCKET_ONLY == 0 {
            self.stats.n_packets.fetch_add(packets, Ordering::Relaxed);
            self.stats.n_bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        self.stats.used_ms.fetch_max(now_ms, Ordering::Relaxed);
        if let Some(b) = self
            .bucket_stats
            .get(usize::from(bucket & !super::BUCKET_ONLY))
        {
            b.n_packets.fetch_add(packets, Ordering::Relaxed);
            b.n_bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Whether a group type and its buckets are what `e` says (counters are kept then).
    fn same(&self, e: &GroupEntry) -> bool {
        self.entry == *e
    }
}

/// A change to the group table, as `ovs-ofctl add-group`/`mod-group`/`del-groups` express it.
#[derive(Clone, Debug)]
pub enum GroupMod {
    /// `add-group`: refused if the id exists.
    Add(GroupEntry),
    /// `mod-group`: refused if the id does not exist, unless `may_create`.
    Modify {
        /// The new group.
        entry: GroupEntry,
        /// `--may-create`.
        may_create: bool,
    },
    /// `del-groups`: one id, or every group (`None`). Flows that use a deleted group are
    /// deleted with it, as in OVS.
    Delete(Option<u32>),
    /// `insert-buckets` (OpenFlow 1.5's OFPGC15_INSERT_BUCKET): new buckets before the
    /// first, after the last, or after the bucket with an id. Antrea grows Service groups
    /// of more buckets than one message holds this way.
    InsertBuckets {
        /// The group.
        id: u32,
        /// Where.
        at: BucketPosition,
        /// The buckets, their ids distinct from the group's.
        buckets: Vec<Bucket>,
    },
    /// `remove-buckets` (OFPGC15_REMOVE_BUCKET): the first, the last, all, or one by id.
    RemoveBuckets {
        /// The group.
        id: u32,
        /// Which.
        at: BucketPosition,
    },
}

/// A bucket position in an insert or remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BucketPosition {
    /// Before the first bucket / the first bucket.
    First,
    /// After the last bucket / the last bucket.
    Last,
    /// Every bucket (remove only).
    All,
    /// After the bucket with this id / the bucket with this id.
    Id(u32),
}

/// The group's buckets after an insert or remove, as OVS computes them.
fn edit_buckets(
    g: &GroupEntry,
    insert: Option<&[Bucket]>,
    at: BucketPosition,
) -> Result<Vec<Bucket>, FlowModError> {
    let old = &g.buckets;
    let unknown = |b| FlowModError::UnknownBucket {
        group: g.id,
        bucket: b,
    };
    let Some(new) = insert else {
        let mut out = old.clone();
        match at {
            BucketPosition::All => out.clear(),
            BucketPosition::First => {
                if !out.is_empty() {
                    out.remove(0);
                }
            }
            BucketPosition::Last => {
                out.pop();
            }
            BucketPosition::Id(b) => {
                let i = out
                    .iter()
                    .position(|x| x.id == b)
                    .ok_or_else(|| unknown(b))?;
                out.remove(i);
            }
        }
        return Ok(out);
    };
    for b in new {
        if old.iter().any(|x| x.id == b.id) || new.iter().filter(|x| x.id == b.id).count() > 1 {
            return Err(FlowModError::BucketExists {
                group: g.id,
                bucket: b.id,
            });
        }
    }
    let split = match at {
        BucketPosition::First | BucketPosition::All => 0,
        BucketPosition::Last => old.len(),
        BucketPosition::Id(b) => {
            old.iter()
                .position(|x| x.id == b)
                .ok_or_else(|| unknown(b))?
                + 1
        }
    };
    let mut out = old[..split].to_vec();
    out.extend_from_slice(new);
    out.extend_from_slice(&old[split..]);
    Ok(out)
}

impl OfTables {
    pub fn group(&self, id: u32) -> Option<&Arc<Group>> {
        self.groups.get(&id)
    }

    /// Groups by id.
    pub fn groups(&self) -> impl Iterator<Item = &Arc<Group>> {
        self.groups.values()
    }

    /// How many flows use group `id` (`ref_count` of `dump-group-stats`).
    pub fn group_refs(&self, id: u32) -> usize {
        self.iter()
            .flat_map(|(_, t)| t.rules_any_order())
            .filter(|r| uses_group(&r.entry, Some(id)))
            .count()
    }

    /// Applies group changes atomically (flows that use a deleted group go with it).
    pub fn apply_groups(
        &self,
        mods: &[GroupMod],
        max_groups: usize,
        now_ms: u64,
    ) -> Result<(OfTables, ModSummary), FlowModError> {
        let mut next = self.clone();
        next.version += 1;
        let mut sum = ModSummary::default();
        let mut groups = (*self.groups).clone();
        let mut gone = Vec::new();
        for m in mods {
            match m {
                GroupMod::Add(e) => {
                    if groups.contains_key(&e.id) {
                        return Err(FlowModError::GroupExists(e.id));
                    }
                    if groups.len() >= max_groups {
                        return Err(FlowModError::GroupTableFull(max_groups));
                    }
                    groups.insert(e.id, Arc::new(Group::new(e.clone(), now_ms)));
                    sum.added += 1;
                }
                GroupMod::Modify { entry, may_create } => {
                    match groups.get(&entry.id) {
                        None if !may_create => return Err(FlowModError::GroupMissing(entry.id)),
                        None if groups.len() >= max_groups => {
                            return Err(FlowModError::GroupTableFull(max_groups))
                        }
                        None => sum.added += 1,
                        Some(g) if g.same(entry) => {
                            sum.unchanged += 1;
                            continue;
                        }
                        Some(_) => sum.modified += 1,
                    }
                    groups.insert(entry.id, Arc::new(Group::new(entry.clone(), now_ms)));
                }
                GroupMod::InsertBuckets { id, at, buckets } => {
                    let g = groups.get(id).ok_or(FlowModError::GroupMissing(*id))?;
                    let entry = GroupEntry {
                        buckets: edit_buckets(&g.entry, Some(buckets), *at)?,
                        ..g.entry.clone()
                    };
                    groups.insert(*id, Arc::new(Group::new(entry, now_ms)));
                    sum.modified += 1;
                }
                GroupMod::RemoveBuckets { id, at } => {
                    let g = groups.get(id).ok_or(FlowModError::GroupMissing(*id))?;
                    let entry = GroupEntry {
                        buckets: edit_buckets(&g.entry, None, *at)?,
                        ..g.entry.clone()
                    };
                    groups.insert(*id, Arc::new(Group::new(entry, now_ms)));
                    sum.modified += 1;
                }
                GroupMod::Delete(id) => match id {
                    Some(id) => {
                        if groups.remove(id).is_some() {
                            sum.deleted += 1;
                            gone.push(Some(*id));
                        }
                    }
                    None => {
                        sum.deleted += groups.len();
                        groups.clear();
                        gone.push(None);
                    }
                },
            }
        }
        let changed: Vec<u32> = mods
            .iter()
            .filter_map(|m| match m {
                GroupMod::Add(e) | GroupMod::Modify { entry: e, .. } => Some(e.id),
                GroupMod::InsertBuckets { id, .. } => Some(*id),
                GroupMod::Delete(_) | GroupMod::RemoveBuckets { .. } => None,
            })
            .collect();
        check_group_loops(&groups, &changed)?;
        next.groups = Arc::new(groups);
        for id in gone {
            next.delete_group_users(id);
        }
        Ok((next, sum))
    }

    /// Deletes the flows that use group `id` (any group for `None`).
    fn delete_group_users(&mut self, id: Option<u32>) {
        self.delete_where(|e| uses_group(e, id));
    }

    /// The version holding exactly `groups` and `flows` (a node reload): groups that stay
    /// identical keep their counters, and flows are replaced as [`OfTables::replace_all`]
    /// does — one version, so no packet sees new flows with old groups or the reverse.
    pub fn replace_groups_and_flows(
        &self,
        groups: &[GroupEntry],
        flows: &[FlowEntry],
        now_ms: u64,
    ) -> Result<(OfTables, ModSummary, ModSummary), FlowModError> {
        let mut gsum = ModSummary::default();
        let mut next_groups = BTreeMap::new();
        for e in groups {
            match self.groups.get(&e.id) {
                Some(g) if g.same(e) => {
                    gsum.unchanged += 1;
                    next_groups.insert(e.id, g.clone());
                }
                old => {
                    if old.is_some() {
                        gsum.modified += 1;
                    } else {
                        gsum.added += 1;
                    }
                    next_groups.insert(e.id, Arc::new(Group::new(e.clone(), now_ms)));
                }
            }
        }
        gsum.deleted = self
            .groups
            .keys()
            .filter(|k| !next_groups.contains_key(k))
            .count();
        let all: Vec<u32> = next_groups.keys().copied().collect();
        check_group_loops(&next_groups, &all)?;
        let mut base = self.clone();
        base.groups = Arc::new(next_groups);
        let (mut next, fsum) = base.replace_all(flows, now_ms)?;
        next.version = self.version + 1;
        Ok((next, gsum, fsum))
    }
}

/// Whether a flow's actions use group `id` (any group for `None`).
pub(super) fn uses_group(e: &FlowEntry, id: Option<u32>) -> bool {
    e.actions
        .iter()
        .any(|a| matches!(a, Action::Group(g) if id.is_none_or(|i| i == *g)))
}

/// The groups a group's buckets chain to (`group:N` actions).
fn chained_groups(g: &Group) -> impl Iterator<Item = u32> + '_ {
    g.entry.buckets.iter().flat_map(|b| {
        b.actions.iter().filter_map(|a| match a {
            Action::Group(n) => Some(*n),
            _ => None,
        })
    })
}

/// Refuses a group table in which one of `start` reaches itself through `group:N` bucket
/// actions. Iterative depth-first search (no recursion whose depth depends on input), each
/// group visited once: linear in groups plus bucket actions.
fn check_group_loops(
    groups: &BTreeMap<u32, Arc<Group>>,
    start: &[u32],
) -> Result<(), FlowModError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    let mut mark: HashMap<u32, Mark> = HashMap::new();
    for &root in start {
        if mark.contains_key(&root) {
            continue;
        }
        // The path from `root`: (group, its chained groups not yet followed).
        let mut path: Vec<(u32, Vec<u32>)> = Vec::new();
        let Some(g) = groups.get(&root) else { continue };
        mark.insert(root, Mark::OnPath);
        path.push((root, chained_groups(g).collect()));
        while let Some((_, next)) = path.last_mut() {
            let Some(n) = next.pop() else {
                if let Some((id, _)) = path.pop() {
                    mark.insert(id, Mark::Done);
                }
                continue;
            };
            match mark.get(&n) {
                Some(Mark::Done) => {}
                Some(Mark::OnPath) => {
                    let from = path.iter().position(|(id, _)| *id == n).unwrap_or(0);
                    let mut chain: Vec<u32> = path[from..].iter().map(|(id, _)| *id).collect();
                    chain.push(n);
                    return Err(FlowModError::GroupLoop { group: n, chain });
                }
                None => {
                    if let Some(g) = groups.get(&n) {
                        mark.insert(n, Mark::OnPath);
                        path.push((n, chained_groups(g).collect()));
                    }
                }
            }
        }
    }
    Ok(())
}
