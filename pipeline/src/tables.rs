//! The OpenFlow tables of a bridge as an immutable, versioned snapshot.
//!
//! A flow-mod batch builds a new [`OfTables`] from the old one (copying only the tables it
//! touches) and the switch swaps it in atomically: a packet sees either the old tables or
//! the new ones, never a mix. Rules are shared between versions through `Arc`, so a rule that
//! survives a change keeps its counters.

use crate::classifier::{hash_finish, hash_word, Classifier, ConjClause, LookupResult};
use crate::field::Field;
use crate::flow::{eth_type, ip_proto, Flow};
use crate::ofctl::{Action, FlowEntry, GroupEntry, Match, Selection};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Number of OpenFlow tables (0..=254).
pub const N_TABLES: usize = 255;

/// Counters of one rule, updated from the datapath without locks.
#[derive(Debug, Default)]
pub struct RuleStats {
    /// Packets that matched.
    pub n_packets: AtomicU64,
    /// Bytes that matched.
    pub n_bytes: AtomicU64,
    /// Last time (ms, caller's clock) a packet matched; 0 if never.
    pub used_ms: AtomicU64,
}

/// An installed flow entry.
#[derive(Debug)]
pub struct Rule {
    /// The flow as added.
    pub entry: FlowEntry,
    /// Unique id (insertion order), for stable dumps.
    pub id: u64,
    /// When it was added (ms, caller's clock).
    pub created_ms: u64,
    /// Counters.
    pub stats: RuleStats,
    /// Conjunction clauses it contributes (empty for ordinary rules).
    pub conj: Vec<ConjClause>,
}

impl Rule {
    /// Adds `packets`/`bytes` to the counters.
    pub fn credit(&self, packets: u64, bytes: u64, now_ms: u64) {
        self.stats.n_packets.fetch_add(packets, Ordering::Relaxed);
        self.stats.n_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.stats.used_ms.fetch_max(now_ms, Ordering::Relaxed);
    }
}

/// Credits the rules and group buckets a translation hit with `packets`/`bytes` (the slow
/// path per packet, the fast path per megaflow when it folds its counters).
pub fn credit_hits(
    rules: &[Arc<Rule>],
    groups: &[(Arc<Group>, u16)],
    packets: u64,
    bytes: u64,
    now_ms: u64,
) {
    for r in rules {
        r.credit(packets, bytes, now_ms);
    }
    for (g, b) in groups {
        g.credit(usize::from(*b), packets, bytes, now_ms);
    }
}

/// One table: the classifier plus the rules in a stable order for dumps.
#[derive(Clone, Default)]
pub struct Table {
    cls: Classifier<Arc<Rule>>,
    /// Rules by (priority desc, id) for dumps.
    rules: BTreeMap<(std::cmp::Reverse<u16>, u64), Arc<Rule>>,
}

impl Table {
    /// Looks up `flow`, recording consulted bits in `wc`.
    pub fn lookup(
        &self,
        flow: &Flow,
        wc: Option<&mut Flow>,
    ) -> Option<LookupResult<'_, Arc<Rule>>> {
        self.cls.lookup(flow, wc)
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Rules by priority (desc), oldest first within a priority.
    pub fn rules(&self) -> impl Iterator<Item = &Arc<Rule>> {
        self.rules.values()
    }

    /// Number of distinct masks.
    pub fn n_masks(&self) -> usize {
        self.cls.n_subtables()
    }

    fn insert(&mut self, rule: Arc<Rule>) -> Option<Arc<Rule>> {
        let m = &rule.entry.matches;
        let old = self.cls.insert(
            &m.value,
            &m.mask,
            rule.entry.priority,
            &rule.conj,
            rule.clone(),
        );
        if let Some(o) = &old {
            self.rules
                .remove(&(std::cmp::Reverse(o.entry.priority), o.id));
        }
        self.rules
            .insert((std::cmp::Reverse(rule.entry.priority), rule.id), rule);
        old
    }

    fn remove(&mut self, m: &Match, priority: u16) -> Option<Arc<Rule>> {
        let old = self.cls.remove(&m.value, &m.mask, priority)?;
        self.rules
            .remove(&(std::cmp::Reverse(old.entry.priority), old.id));
        Some(old)
    }

    fn get(&self, m: &Match, priority: u16) -> Option<&Arc<Rule>> {
        self.cls.get(&m.value, &m.mask, priority)
    }
}

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
    pub fn credit(&self, bucket: usize, packets: u64, bytes: u64, now_ms: u64) {
        self.stats.n_packets.fetch_add(packets, Ordering::Relaxed);
        self.stats.n_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.stats.used_ms.fetch_max(now_ms, Ordering::Relaxed);
        if let Some(b) = self.bucket_stats.get(bucket) {
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
}

/// A change to the tables, as `ovs-ofctl` commands express them.
#[derive(Clone, Debug)]
pub enum FlowMod {
    /// `add-flow`: adds, or replaces a flow with the same table, match and priority (keeping
    /// its counters unless `reset_counts`).
    Add(FlowEntry),
    /// `del-flows`: `strict` deletes only the flow with exactly this match and priority;
    /// otherwise every flow whose match is at least as specific. Cookie mask and `out_port`
    /// restrict further; no table means all tables.
    Delete {
        /// Match, table, cookie/mask and `out_port` to delete by.
        filter: FlowEntry,
        /// Strict matching.
        strict: bool,
    },
}

/// What a batch of flow-mods did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModSummary {
    /// Flows added.
    pub added: usize,
    /// Flows replaced in place (same match and priority).
    pub modified: usize,
    /// Flows deleted.
    pub deleted: usize,
    /// Flows left untouched by a `replace` because they were identical.
    pub unchanged: usize,
}

/// Why a flow-mod batch was refused (the tables are then unchanged).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlowModError {
    /// A flow uses a group that does not exist.
    #[error("table {table}: group {group} does not exist (add it first)")]
    NoSuchGroup {
        /// Table of the flow.
        table: u8,
        /// Group id.
        group: u32,
    },
    /// `add-group` of an id in use.
    #[error("group {0} already exists (use mod-group)")]
    GroupExists(u32),
    /// `mod-group` of an id not in use.
    #[error("group {0} does not exist (add-group, or mod-group --may-create)")]
    GroupMissing(u32),
    /// The group table would exceed its capacity.
    #[error("the group table is full ({0} groups)")]
    GroupTableFull(usize),
    /// A table would exceed its capacity.
    #[error("table {table} is full ({limit} flows)")]
    TableFull {
        /// Table id.
        table: u8,
        /// Configured limit.
        limit: usize,
    },
    /// A group whose buckets lead back to itself (OpenFlow's `OFPGMFC_LOOP`).
    #[error("group {group}: refused, its buckets lead back to it ({}) (OFPGMFC_LOOP)", chain.iter().map(|g| format!("group {g}")).collect::<Vec<_>>().join(" -> "))]
    GroupLoop {
        /// The group added or modified.
        group: u32,
        /// The chain of group actions from it back to itself.
        chain: Vec<u32>,
    },
    /// `goto_table` to a table that is not later than the current one.
    #[error("table {table}: goto_table:{target} must go to a later table")]
    BadGoto {
        /// Table of the flow.
        table: u8,
        /// Target.
        target: u8,
    },
}

/// All tables of a bridge, one immutable version.
#[derive(Clone)]
pub struct OfTables {
    tables: Vec<Option<Arc<Table>>>,
    groups: Arc<BTreeMap<u32, Arc<Group>>>,
    /// Version number, increasing with every change.
    pub version: u64,
    next_id: u64,
    /// Maximum flows per table.
    pub max_flows_per_table: usize,
}

impl Default for OfTables {
    fn default() -> Self {
        Self::new(1_000_000)
    }
}

fn conj_of(e: &FlowEntry) -> Vec<ConjClause> {
    e.actions
        .iter()
        .filter_map(|a| match a {
            Action::Conjunction {
                id,
                clause,
                n_clauses,
            } => Some(ConjClause {
                id: *id,
                clause: clause - 1,
                n_clauses: *n_clauses,
            }),
            _ => None,
        })
        .collect()
}

impl OfTables {
    /// Empty tables with a per-table flow limit.
    pub fn new(max_flows_per_table: usize) -> Self {
        OfTables {
            tables: vec![None; N_TABLES],
            groups: Arc::new(BTreeMap::new()),
            version: 0,
            next_id: 1,
            max_flows_per_table,
        }
    }

    /// Table `id`, if it has any flows.
    pub fn table(&self, id: u8) -> Option<&Table> {
        self.tables.get(usize::from(id))?.as_deref()
    }

    /// Tables that have flows, by id.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &Table)> {
        self.tables
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_deref().map(|t| (i as u8, t)))
    }

    /// Total flows.
    pub fn n_flows(&self) -> usize {
        self.iter().map(|(_, t)| t.len()).sum()
    }

    fn table_mut(&mut self, id: u8) -> &mut Table {
        let slot = &mut self.tables[usize::from(id)];
        if slot.is_none() {
            *slot = Some(Arc::new(Table::default()));
        }
        Arc::make_mut(slot.as_mut().expect("just set"))
    }

    /// Group `id`.
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
            .flat_map(|(_, t)| t.rules())
            .filter(|r| uses_group(&r.entry, Some(id)))
            .count()
    }

    fn check(&self, e: &FlowEntry) -> Result<(), FlowModError> {
        let t = e.table_id();
        for a in &e.actions {
            match a {
                Action::GotoTable(g) if *g <= t => {
                    return Err(FlowModError::BadGoto {
                        table: t,
                        target: *g,
                    });
                }
                Action::Group(g) if !self.groups.contains_key(g) => {
                    return Err(FlowModError::NoSuchGroup {
                        table: t,
                        group: *g,
                    });
                }
                _ => {}
            }
        }
        Ok(())
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
                GroupMod::Delete(_) => None,
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
        let victims: Vec<(u8, Match, u16)> = self
            .iter()
            .flat_map(|(tid, t)| {
                t.rules()
                    .filter(|r| uses_group(&r.entry, id))
                    .map(move |r| (tid, r.entry.matches, r.entry.priority))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (tid, m, p) in victims {
            self.table_mut(tid).remove(&m, p);
        }
        for t in self.tables.iter_mut() {
            if t.as_ref().is_some_and(|t| t.is_empty()) {
                *t = None;
            }
        }
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

    /// Applies a batch atomically: returns the new version, or an error and no change.
    pub fn apply(
        &self,
        mods: &[FlowMod],
        now_ms: u64,
    ) -> Result<(OfTables, ModSummary), FlowModError> {
        let mut next = self.clone();
        next.version += 1;
        let mut sum = ModSummary::default();
        for m in mods {
            match m {
                FlowMod::Add(e) => {
                    next.check(e)?;
                    next.add(e, now_ms, &mut sum)?;
                }
                FlowMod::Delete { filter, strict } => {
                    sum.deleted += next.delete(filter, *strict);
                }
            }
        }
        // Drop tables left empty.
        for t in next.tables.iter_mut() {
            if t.as_ref().is_some_and(|t| t.is_empty()) {
                *t = None;
            }
        }
        Ok((next, sum))
    }

    fn add(
        &mut self,
        e: &FlowEntry,
        now_ms: u64,
        sum: &mut ModSummary,
    ) -> Result<(), FlowModError> {
        let id = self.next_id;
        self.next_id += 1;
        let limit = self.max_flows_per_table;
        let tid = e.table_id();
        let table = self.table_mut(tid);
        let existing = table.get(&e.matches, e.priority).cloned();
        if existing.is_none() && table.len() >= limit {
            return Err(FlowModError::TableFull { table: tid, limit });
        }
        let rule = Arc::new(Rule {
            entry: FlowEntry {
                table: Some(tid),
                ..e.clone()
            },
            id: existing.as_ref().map_or(id, |o| o.id),
            created_ms: now_ms,
            stats: RuleStats::default(),
            conj: conj_of(e),
        });
        if let Some(old) = &existing {
            if !e.flags.reset_counts {
                let s = &old.stats;
                rule.stats
                    .n_packets
                    .store(s.n_packets.load(Ordering::Relaxed), Ordering::Relaxed);
                rule.stats
                    .n_bytes
                    .store(s.n_bytes.load(Ordering::Relaxed), Ordering::Relaxed);
                rule.stats
                    .used_ms
                    .store(s.used_ms.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            sum.modified += 1;
        } else {
            sum.added += 1;
        }
        table.insert(rule);
        Ok(())
    }

    fn delete_matches(r: &Rule, f: &FlowEntry, strict: bool) -> bool {
        if strict {
            if r.entry.priority != f.priority || r.entry.matches != f.matches {
                return false;
            }
        } else if !r.entry.matches.is_within(&f.matches) {
            return false;
        }
        if (r.entry.cookie ^ f.cookie) & f.cookie_mask != 0 {
            return false;
        }
        if let Some(p) = f.out_port {
            if !r.entry.outputs_to(p) {
                return false;
            }
        }
        true
    }

    fn delete(&mut self, f: &FlowEntry, strict: bool) -> usize {
        let ids: Vec<u8> = match f.table {
            Some(t) => vec![t],
            None => self.iter().map(|(i, _)| i).collect(),
        };
        let mut n = 0;
        for tid in ids {
            let Some(t) = self.table(tid) else { continue };
            let victims: Vec<(Match, u16)> = t
                .rules()
                .filter(|r| Self::delete_matches(r, f, strict))
                .map(|r| (r.entry.matches, r.entry.priority))
                .collect();
            if victims.is_empty() {
                continue;
            }
            let table = self.table_mut(tid);
            for (m, p) in victims {
                if table.remove(&m, p).is_some() {
                    n += 1;
                }
            }
        }
        n
    }

    /// Computes the new version that holds exactly `flows` (`replace-flows`): identical flows
    /// are kept as they are (same rule, same counters), flows whose actions or cookie changed
    /// are replaced keeping counters, others added, and flows not in `flows` deleted — in one
    /// version, so no packet sees a mix.
    pub fn replace_all(
        &self,
        flows: &[FlowEntry],
        now_ms: u64,
    ) -> Result<(OfTables, ModSummary), FlowModError> {
        let mut next = self.clone();
        next.version += 1;
        let mut sum = ModSummary::default();
        // Keys of the desired set.
        let mut want: std::collections::HashSet<(u8, u16, Match)> =
            std::collections::HashSet::new();
        for e in flows {
            next.check(e)?;
            let key = (e.table_id(), e.priority, e.matches);
            want.insert(key);
            let same = self
                .table(e.table_id())
                .and_then(|t| t.get(&e.matches, e.priority))
                .is_some_and(|r| {
                    r.entry.actions == e.actions
                        && r.entry.cookie == e.cookie
                        && r.entry.idle_timeout == e.idle_timeout
                        && r.entry.hard_timeout == e.hard_timeout
                        && r.entry.flags == e.flags
                        && r.entry.importance == e.importance
                });
            if same {
                sum.unchanged += 1;
            } else {
                next.add(e, now_ms, &mut sum)?;
            }
        }
        // Delete what is not wanted.
        let stale: Vec<(u8, Match, u16)> = self
            .iter()
            .flat_map(|(tid, t)| {
                t.rules()
                    .filter(|r| !want.contains(&(tid, r.entry.priority, r.entry.matches)))
                    .map(move |r| (tid, r.entry.matches, r.entry.priority))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (tid, m, p) in stale {
            if next.table_mut(tid).remove(&m, p).is_some() {
                sum.deleted += 1;
            }
        }
        for t in next.tables.iter_mut() {
            if t.as_ref().is_some_and(|t| t.is_empty()) {
                *t = None;
            }
        }
        Ok((next, sum))
    }
}

/// Whether a flow's actions use group `id` (any group for `None`).
fn uses_group(e: &FlowEntry, id: Option<u32>) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofctl::{parse_flow, Mode, PortMap};

    fn fe(s: &str) -> FlowEntry {
        parse_flow(s, Mode::Add, &PortMap::new()).unwrap()
    }
    fn del(s: &str, strict: bool) -> FlowMod {
        FlowMod::Delete {
            filter: parse_flow(s, Mode::Delete, &PortMap::new()).unwrap(),
            strict,
        }
    }

    #[test]
    fn add_modify_delete() {
        let t = OfTables::default();
        let (t, s) = t
            .apply(
                &[
                    FlowMod::Add(fe("table=0,priority=10,ip actions=output:1")),
                    FlowMod::Add(fe("table=0,priority=20,tcp,tp_dst=80 actions=output:2")),
                    FlowMod::Add(fe("table=5,priority=0,cookie=0x7 actions=drop")),
                ],
                0,
            )
            .unwrap();
        assert_eq!(s.added, 3);
        assert_eq!(t.n_flows(), 3);
        let r = t.table(0).unwrap().rules().next().unwrap().clone();
        r.credit(3, 300, 5);
        // Re-adding the same match+priority modifies, keeping counters.
        let (t2, s) = t
            .apply(
                &[FlowMod::Add(fe(
                    "table=0,priority=20,tcp,tp_dst=80 actions=output:3",
                ))],
                1,
            )
            .unwrap();
        assert_eq!(s.modified, 1);
        let r2 = t2.table(0).unwrap().rules().next().unwrap();
        assert_eq!(r2.stats.n_packets.load(Ordering::Relaxed), 3);
        assert_eq!(r2.entry.actions, vec![Action::Output(3)]);
        // The old version is untouched.
        assert_eq!(
            t.table(0).unwrap().rules().next().unwrap().entry.actions,
            vec![Action::Output(2)]
        );
        // Non-strict delete of `ip` removes both table-0 flows.
        let (t3, s) = t2.apply(&[del("table=0,ip", false)], 2).unwrap();
        assert_eq!(s.deleted, 2);
        assert!(t3.table(0).is_none());
        // Strict delete needs exact priority.
        let (t4, s) = t2.apply(&[del("table=0,priority=11,ip", true)], 2).unwrap();
        assert_eq!(s.deleted, 0);
        assert_eq!(t4.n_flows(), 3);
        // Cookie mask.
        let (t5, s) = t2.apply(&[del("cookie=0x7/0xff", false)], 2).unwrap();
        assert_eq!(s.deleted, 1);
        assert_eq!(t5.n_flows(), 2);
        // out_port.
        let (t6, s) = t2.apply(&[del("out_port=3", false)], 2).unwrap();
        assert_eq!(s.deleted, 1);
        assert_eq!(t6.n_flows(), 2);
    }

    #[test]
    fn full_table_refuses_batch_atomically() {
        let t = OfTables::new(2);
        let r = t.apply(
            &[
                FlowMod::Add(fe("priority=1,ip actions=drop")),
                FlowMod::Add(fe("priority=2,ip actions=drop")),
                FlowMod::Add(fe("priority=3,ip actions=drop")),
            ],
            0,
        );
        assert_eq!(
            r.err(),
            Some(FlowModError::TableFull { table: 0, limit: 2 })
        );
        assert_eq!(t.n_flows(), 0);
    }

    #[test]
    fn goto_must_go_forward() {
        let t = OfTables::default();
        assert!(t
            .apply(&[FlowMod::Add(fe("table=3 actions=goto_table:2"))], 0)
            .is_err());
    }

    #[test]
    fn replace_keeps_identical_and_their_counters() {
        let t = OfTables::default();
        let a = fe("table=0,priority=10,ip actions=output:1");
        let b = fe("table=0,priority=20,arp actions=NORMAL");
        let c = fe("table=1,priority=5 actions=drop");
        let (t, _) = t.replace_all(&[a.clone(), b.clone(), c], 0).unwrap();
        t.table(0).unwrap().rules().for_each(|r| r.credit(1, 64, 1));
        let b2 = fe("table=0,priority=20,arp actions=FLOOD");
        let d = fe("table=2,priority=1 actions=drop");
        let (t2, s) = t.replace_all(&[a, b2, d], 2).unwrap();
        assert_eq!(
            s,
            ModSummary {
                added: 1,
                modified: 1,
                deleted: 1,
                unchanged: 1
            }
        );
        for r in t2.table(0).unwrap().rules() {
            assert_eq!(
                r.stats.n_packets.load(Ordering::Relaxed),
                1,
                "{:?}",
                r.entry
            );
        }
        assert!(t2.table(1).is_none());
        assert_eq!(t2.n_flows(), 3);
    }
}
