//! The OpenFlow tables of a bridge as an immutable, versioned snapshot.
//!
//! A flow-mod batch builds a new [`OfTables`] from the old one (copying only the tables it
//! touches) and the switch swaps it in atomically: a packet sees either the old tables or
//! the new ones, never a mix. Rules are shared between versions through `Arc`, so a rule that
//! survives a change keeps its counters.

mod cls_rule;
mod group;
mod learned;
mod meter;

pub use group::{selection_fields, BucketPosition, Group, GroupMod};
pub use learned::LearnSummary;
pub use meter::MeterMod;

use crate::classifier::{Classifier, ConjClause, LookupResult};
use crate::flow::Flow;
use crate::ofctl::{Action, FlowEntry, Match};
use cls_rule::ClsRule;
use std::collections::BTreeMap;
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
    /// Last time the flow was modified or, learned, relearned (its hard timeout counts
    /// from here, as OVS's `rule->modified`); 0: when it was created.
    pub modified_ms: AtomicU64,
    /// Idle and hard timeouts a `fin_timeout` lowered them to (0: not lowered).
    pub fin_idle: std::sync::atomic::AtomicU16,
    /// See `fin_idle`.
    pub fin_hard: std::sync::atomic::AtomicU16,
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
    /// A `learn` action installed it: `replace-flows` (a configuration reload) keeps it,
    /// as the agent that owns the other flows does not know it.
    pub learned: bool,
}

/// OVS's `reduce_timeout`: `max` when set and lower than `cur` (or `cur` is none).
fn reduced(cur: u16, max: u16) -> u16 {
    if max != 0 && (cur == 0 || cur > max) {
        max
    } else {
        cur
    }
}

impl Rule {
    /// `fin_timeout`: lowers the flow's idle and hard timeouts to these (0: unchanged).
    pub fn reduce_timeouts(&self, idle: u16, hard: u16) {
        for (a, v) in [(&self.stats.fin_idle, idle), (&self.stats.fin_hard, hard)] {
            if v != 0 {
                let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                    (c == 0 || c > v).then_some(v)
                });
            }
        }
    }

    /// The idle timeout in force (a `fin_timeout` may have lowered it).
    pub fn idle_timeout(&self) -> u16 {
        reduced(
            self.entry.idle_timeout,
            self.stats.fin_idle.load(Ordering::Relaxed),
        )
    }

    /// The hard timeout in force.
    pub fn hard_timeout(&self) -> u16 {
        reduced(
            self.entry.hard_timeout,
            self.stats.fin_hard.load(Ordering::Relaxed),
        )
    }

    /// The flow as dumps show it: with the timeouts in force.
    pub fn shown(&self) -> std::borrow::Cow<'_, FlowEntry> {
        let (i, h) = (self.idle_timeout(), self.hard_timeout());
        if (i, h) == (self.entry.idle_timeout, self.entry.hard_timeout) {
            std::borrow::Cow::Borrowed(&self.entry)
        } else {
            std::borrow::Cow::Owned(FlowEntry {
                idle_timeout: i,
                hard_timeout: h,
                ..self.entry.clone()
            })
        }
    }

    /// When the flow was last modified or relearned (its hard timeout counts from here).
    pub fn modified_ms(&self) -> u64 {
        self.stats
            .modified_ms
            .load(Ordering::Relaxed)
            .max(self.created_ms)
    }

    /// Adds `packets`/`bytes` to the counters.
    pub fn credit(&self, packets: u64, bytes: u64, now_ms: u64) {
        self.stats.n_packets.fetch_add(packets, Ordering::Relaxed);
        self.stats.n_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.stats.used_ms.fetch_max(now_ms, Ordering::Relaxed);
    }
}

/// Set in a translation's group hit (the bucket index) when the hit counts for the bucket
/// only: the second and later buckets of an `all` group, whose packet the group counted
/// once already.
pub const BUCKET_ONLY: u16 = 0x8000;

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
        g.credit(*b, packets, bytes, now_ms);
    }
}

/// One table: the classifier plus the rules in a stable order for dumps.
#[derive(Clone, Default)]
pub struct Table {
    cls: Classifier<ClsRule>,
    /// Rules by (priority desc, id) for dumps, in chunks of [`RULE_CHUNK`] ids: a version
    /// that adds rules (ids only grow) or removes a few copies only their chunks.
    rules: BTreeMap<u64, Arc<RuleChunk>>,
    n_rules: usize,
    /// (table, cookie) of the learned flows this table's `learn(delete_learned)` actions
    /// own, with how many rules hold such an action.
    learn_refs: BTreeMap<(u8, u64), u32>,
}

type RuleChunk = BTreeMap<(std::cmp::Reverse<u16>, u64), Arc<Rule>>;

/// Rule ids per chunk of a table's rule list.
const RULE_CHUNK: u64 = 4096;

impl Table {
    /// Looks up `flow`, recording consulted bits in `wc`.
    pub fn lookup(
        &self,
        flow: &Flow,
        wc: Option<&mut Flow>,
    ) -> Option<LookupResult<'_, Arc<Rule>>> {
        self.cls.lookup(flow, wc).map(|r| LookupResult {
            payload: &**r.payload,
            priority: r.priority,
        })
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.n_rules
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.n_rules == 0
    }

    /// Rules by priority (desc), oldest first within a priority (for dumps).
    pub fn rules(&self) -> impl Iterator<Item = &Arc<Rule>> {
        let mut v: Vec<&Arc<Rule>> = self.rules_any_order().collect();
        if self.rules.len() > 1 {
            v.sort_unstable_by_key(|r| (std::cmp::Reverse(r.entry.priority), r.id));
        }
        v.into_iter()
    }

    /// Every rule, in no particular order (for scans: expiry, deletes).
    pub fn rules_any_order(&self) -> impl Iterator<Item = &Arc<Rule>> {
        self.rules.values().flat_map(|c| c.values())
    }

    fn list_insert(&mut self, rule: Arc<Rule>) {
        let c = self.rules.entry(rule.id / RULE_CHUNK).or_default();
        let key = (std::cmp::Reverse(rule.entry.priority), rule.id);
        if Arc::make_mut(c).insert(key, rule).is_none() {
            self.n_rules += 1;
        }
    }

    fn list_remove(&mut self, rule: &Rule) {
        let chunk = rule.id / RULE_CHUNK;
        if let Some(c) = self.rules.get_mut(&chunk) {
            let key = (std::cmp::Reverse(rule.entry.priority), rule.id);
            if Arc::make_mut(c).remove(&key).is_some() {
                self.n_rules -= 1;
            }
            if c.is_empty() {
                self.rules.remove(&chunk);
            }
        }
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
            ClsRule::borrow(&rule),
        );
        // An owned reference before the list lets go of the replaced rule.
        let old = old.map(|o| Arc::clone(&o));
        if let Some(o) = &old {
            self.list_remove(o);
            self.note_learn_refs(o, false);
        }
        self.note_learn_refs(&rule, true);
        self.list_insert(rule);
        old
    }

    fn remove(&mut self, m: &Match, priority: u16) -> Option<Arc<Rule>> {
        let old: Arc<Rule> = Arc::clone(&*self.cls.remove(&m.value, &m.mask, priority)?);
        self.list_remove(&old);
        self.note_learn_refs(&old, false);
        Some(old)
    }

    fn get(&self, m: &Match, priority: u16) -> Option<&Arc<Rule>> {
        self.cls.get(&m.value, &m.mask, priority).map(|r| &**r)
    }
}

/// A change to the tables, as `ovs-ofctl` commands express them.
#[derive(Clone, Debug)]
pub enum FlowMod {
    /// `add-flow`: adds, or replaces a flow with the same table, match and priority (keeping
    /// its counters unless `reset_counts`).
    Add(FlowEntry),
    /// `del-flows`: `strict` deletes only the flow with exactly this match and priority;
    /// otherwise every flow whose match is at least as specific. Cookie mask, `out_port`
    /// and `out_group` restrict further; no table means all tables.
    Delete {
        /// Match, table, cookie/mask and `out_port` to delete by.
        filter: FlowEntry,
        /// Strict matching.
        strict: bool,
        /// Only flows that output to this group (OpenFlow's `out_group`).
        out_group: Option<u32>,
    },
    /// OpenFlow's modify: every flow the filter selects (as [`FlowMod::Delete`] selects,
    /// without `out_port`) gets the filter's actions, keeping its cookie, and its counters
    /// unless `reset_counts`. Nothing is added when nothing matches (OpenFlow 1.2+ and OVS).
    Modify {
        /// Match, table, cookie/mask, and the new actions.
        filter: FlowEntry,
        /// Strict matching.
        strict: bool,
        /// A new cookie for the flows (OpenFlow 1.0's modify sets it; later versions keep
        /// each flow's).
        new_cookie: Option<u64>,
    },
}

/// Why a flow left the tables by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// Its idle timeout passed.
    Idle,
    /// Its hard timeout passed.
    Hard,
    /// It was learned, and the last flow whose `learn(delete_learned)` owned it went.
    DeleteLearned,
}

/// A flow that left the tables by itself, and why.
pub type Expired = (Arc<Rule>, Removal);

/// A run of changes of one kind, in a sequence of runs applied as one version (an
/// OpenFlow bundle that mixes group-mods and flow-mods).
#[derive(Clone, Debug)]
pub enum ModRun {
    /// Flow-mods.
    Flows(Vec<FlowMod>),
    /// Group-mods.
    Groups(Vec<GroupMod>),
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
    /// An insert or remove of buckets names a bucket the group does not have.
    #[error("group {group} has no bucket {bucket} (OFPGMFC_UNKNOWN_BUCKET)")]
    UnknownBucket {
        /// Group id.
        group: u32,
        /// Bucket id.
        bucket: u32,
    },
    /// An insert of buckets brings a bucket id the group already has.
    #[error("group {group} already has a bucket {bucket} (OFPGMFC_BUCKET_EXISTS)")]
    BucketExists {
        /// Group id.
        group: u32,
        /// Bucket id.
        bucket: u32,
    },
    /// `goto_table` to a table that is not later than the current one.
    #[error("table {table}: goto_table:{target} must go to a later table")]
    BadGoto {
        /// Table of the flow.
        table: u8,
        /// Target.
        target: u8,
    },
    /// A flow uses a meter that does not exist (OpenFlow's `OFPMMFC_INVALID_METER`, as OVS
    /// answers a flow-mod).
    #[error("table {table}: meter {meter} does not exist (add it first)")]
    NoSuchMeter {
        /// Table of the flow.
        table: u8,
        /// Meter id.
        meter: u32,
    },
    /// A meter-mod refused, and why.
    #[error("meter {id}: {why}")]
    Meter {
        /// Meter id.
        id: u32,
        /// What was wrong.
        why: MeterRefusal,
    },
}

/// Why a meter-mod was refused (each is an `OFPMMFC_*` code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MeterRefusal {
    /// `add-meter` of an id in use (`OFPMMFC_METER_EXISTS`).
    #[error("already exists (use mod-meter)")]
    Exists,
    /// `mod-meter` of an id not in use (`OFPMMFC_UNKNOWN_METER`).
    #[error("does not exist")]
    Unknown,
    /// Id 0 or above `OFPM_MAX` (`OFPMMFC_INVALID_METER`).
    #[error("not a meter id a controller may use (1..=0xffff0000)")]
    InvalidId,
    /// Neither or both of kbps and pktps, or an unknown flag (`OFPMMFC_BAD_FLAGS`).
    #[error("flags must say exactly one of kbps and pktps")]
    BadFlags,
    /// A band type other than drop (`OFPMMFC_BAD_BAND`).
    #[error("only drop bands are supported")]
    BadBand,
    /// A band without a rate (`OFPMMFC_BAD_RATE`).
    #[error("a band needs a rate above 0")]
    BadRate,
    /// More bands than a meter may have (`OFPMMFC_OUT_OF_BANDS`).
    #[error("more than 8 bands")]
    OutOfBands,
    /// The meter table is full (`OFPMMFC_OUT_OF_METERS`).
    #[error("the meter table is full")]
    OutOfMeters,
}

/// All tables of a bridge, one immutable version.
#[derive(Clone)]
pub struct OfTables {
    tables: Vec<Option<Arc<Table>>>,
    groups: Arc<BTreeMap<u32, Arc<Group>>>,
    meters: Arc<BTreeMap<u32, Arc<crate::meter::Meter>>>,
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
            meters: Arc::new(BTreeMap::new()),
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

    /// Deletes every flow `doomed` picks (and the tables it leaves empty): the flows of a
    /// deleted group or meter.
    fn delete_where(&mut self, doomed: impl Fn(&FlowEntry) -> bool) {
        let before = self.clone();
        let victims: Vec<(u8, Match, u16)> = self
            .iter()
            .flat_map(|(tid, t)| {
                t.rules_any_order()
                    .filter(|r| doomed(&r.entry))
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
        self.flush_learned(&before);
    }

    /// Group `id`.
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
                Action::Meter(m) if !self.meters.contains_key(m) => {
                    return Err(FlowModError::NoSuchMeter {
                        table: t,
                        meter: *m,
                    });
                }
                _ => {}
            }
        }
        Ok(())
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
                    next.add(e, now_ms, &mut sum, false)?;
                }
                FlowMod::Delete {
                    filter,
                    strict,
                    out_group,
                } => {
                    sum.deleted += next.delete(filter, *strict, *out_group);
                }
                FlowMod::Modify {
                    filter,
                    strict,
                    new_cookie,
                } => {
                    for tid in next.selected_tables(filter) {
                        next.check(&FlowEntry {
                            table: Some(tid),
                            ..filter.clone()
                        })?;
                    }
                    sum.modified += next.modify(filter, *strict, *new_cookie, now_ms);
                }
            }
        }
        // Drop tables left empty.
        for t in next.tables.iter_mut() {
            if t.as_ref().is_some_and(|t| t.is_empty()) {
                *t = None;
            }
        }
        sum.deleted += next.flush_learned(self).len();
        Ok((next, sum))
    }

    fn add(
        &mut self,
        e: &FlowEntry,
        now_ms: u64,
        sum: &mut ModSummary,
        learned: bool,
    ) -> Result<(), FlowModError> {
        let id = self.next_id;
        self.next_id += 1;
        let limit = self.max_flows_per_table;
        let tid = e.table_id();
        let table = self.table_mut(tid);
        // A learned flow comes here only when its caller found it missing.
        let existing = match learned {
            true => None,
            false => table.get(&e.matches, e.priority).cloned(),
        };
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
            learned,
        });
        rule.stats.modified_ms.store(now_ms, Ordering::Relaxed);
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

    fn selected_tables(&self, f: &FlowEntry) -> Vec<u8> {
        match f.table {
            Some(t) => vec![t],
            None => self.iter().map(|(i, _)| i).collect(),
        }
    }

    fn modify(
        &mut self,
        f: &FlowEntry,
        strict: bool,
        new_cookie: Option<u64>,
        now_ms: u64,
    ) -> usize {
        let mut n = 0;
        let selector = FlowEntry {
            out_port: None,
            ..f.clone()
        };
        for tid in self.selected_tables(f) {
            let Some(t) = self.table(tid) else { continue };
            let victims: Vec<Arc<Rule>> = t
                .rules_any_order()
                .filter(|r| Self::delete_matches(r, &selector, strict))
                .cloned()
                .collect();
            if victims.is_empty() {
                continue;
            }
            let table = self.table_mut(tid);
            for old in victims {
                let entry = FlowEntry {
                    actions: f.actions.clone(),
                    cookie: new_cookie.unwrap_or(old.entry.cookie),
                    ..old.entry.clone()
                };
                let stats = if f.flags.reset_counts {
                    let s = RuleStats::default();
                    s.modified_ms.store(now_ms, Ordering::Relaxed);
                    s
                } else {
                    RuleStats::carried(&old.stats, now_ms)
                };
                let rule = Arc::new(Rule {
                    conj: conj_of(&entry),
                    entry,
                    id: old.id,
                    created_ms: old.created_ms,
                    stats,
                    learned: old.learned,
                });
                table.insert(rule);
                n += 1;
            }
        }
        n
    }

    fn delete(&mut self, f: &FlowEntry, strict: bool, out_group: Option<u32>) -> usize {
        let ids = self.selected_tables(f);
        let mut n = 0;
        for tid in ids {
            let Some(t) = self.table(tid) else { continue };
            let victims: Vec<(Match, u16)> = t
                .rules_any_order()
                .filter(|r| Self::delete_matches(r, f, strict))
                .filter(|r| out_group.is_none_or(|g| group::uses_group(&r.entry, Some(g))))
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

    /// The flows added with `send_flow_rem` that were in `before` and are gone from this
    /// version (deleted, or removed with a deleted group), for OFPT_FLOW_REMOVED. A flow
    /// replaced by one with the same match and priority is not gone.
    pub fn removed_since(&self, before: &OfTables) -> Vec<Arc<Rule>> {
        let mut gone = Vec::new();
        for (tid, t) in before.iter() {
            for r in t.rules_any_order().filter(|r| r.entry.flags.send_flow_rem) {
                let kept = self
                    .table(tid)
                    .and_then(|n| n.get(&r.entry.matches, r.entry.priority))
                    .is_some();
                if !kept {
                    gone.push(r.clone());
                }
            }
        }
        gone
    }

    /// The flows whose idle or hard timeout has passed at `now_ms` (`true`: hard), without
    /// changing anything.
    pub fn expired(&self, now_ms: u64) -> Vec<Expired> {
        let mut gone = Vec::new();
        for (_, t) in self.iter() {
            for r in t.rules_any_order() {
                let (idle, hard) = (r.idle_timeout(), r.hard_timeout());
                let modified = r.modified_ms();
                if hard != 0 && now_ms.saturating_sub(modified) >= u64::from(hard) * 1000 {
                    gone.push((r.clone(), Removal::Hard));
                } else if idle != 0 {
                    let used = r.stats.used_ms.load(Ordering::Relaxed).max(r.created_ms);
                    if now_ms.saturating_sub(used) >= u64::from(idle) * 1000 {
                        gone.push((r.clone(), Removal::Idle));
                    }
                }
            }
        }
        gone
    }

    /// Removes the flows whose idle or hard timeout has passed at `now_ms`, in one new
    /// version; returns it with each removed rule and why (`true`: hard timeout). A flow's
    /// idle time counts from its last packet (or its creation).
    pub fn expire(&self, now_ms: u64) -> Option<(OfTables, Vec<Expired>)> {
        let mut gone = self.expired(now_ms);
        if gone.is_empty() {
            return None;
        }
        let mut next = self.clone();
        next.version += 1;
        for (r, _) in &gone {
            next.table_mut(r.entry.table_id())
                .remove(&r.entry.matches, r.entry.priority);
        }
        for t in next.tables.iter_mut() {
            if t.as_ref().is_some_and(|t| t.is_empty()) {
                *t = None;
            }
        }
        let flushed = next.flush_learned(self);
        gone.extend(flushed.into_iter().map(|r| (r, Removal::DeleteLearned)));
        Some((next, gone))
    }

    /// Applies runs of flow-mods and group-mods in order, all or nothing: the result is one
    /// version to publish (no packet sees part of it).
    pub fn apply_runs(
        &self,
        runs: &[ModRun],
        max_groups: usize,
        now_ms: u64,
    ) -> Result<(OfTables, ModSummary), FlowModError> {
        let mut cur = self.clone();
        let mut sum = ModSummary::default();
        for run in runs {
            let (next, s) = match run {
                ModRun::Flows(m) => cur.apply(m, now_ms)?,
                ModRun::Groups(m) => cur.apply_groups(m, max_groups, now_ms)?,
            };
            cur = next;
            sum.added += s.added;
            sum.modified += s.modified;
            sum.deleted += s.deleted;
            sum.unchanged += s.unchanged;
        }
        Ok((cur, sum))
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
                next.add(e, now_ms, &mut sum, false)?;
            }
        }
        // Delete what is not wanted.
        let stale: Vec<(u8, Match, u16)> = self
            .iter()
            .flat_map(|(tid, t)| {
                t.rules_any_order()
                    .filter(|r| {
                        !r.learned && !want.contains(&(tid, r.entry.priority, r.entry.matches))
                    })
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
        sum.deleted += next.flush_learned(self).len();
        Ok((next, sum))
    }
}

#[cfg(test)]
mod tests;
