//! Flows that `learn` actions install, as OVS's ofproto does them: a learned flow is a
//! strict modify (added when missing; an identical one only has its hard timeout
//! restarted, with no new version; a different one gets the new actions and cookie and
//! keeps its timeouts and age), applied in batches of one version each so the learner
//! keeps up with many workers; and `delete_learned`, which deletes a table's flows with a
//! learn action's cookie once no flow holding that action is left.

use super::{FlowModError, OfTables, Rule, RuleStats, Table};
use crate::dpaction::LearnedFlow;
use crate::ofctl::{Action, FlowEntry};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What a batch of learned flows did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LearnSummary {
    /// Flows added.
    pub added: usize,
    /// Existing flows given new actions or a new cookie.
    pub modified: usize,
    /// Identical flows whose hard timeout restarted.
    pub refreshed: usize,
    /// Flows refused (the table is full).
    pub refused: usize,
}

/// The (table, cookie) pairs whose learned flows a rule's `learn(delete_learned)` actions
/// own.
pub(super) fn learn_refs(e: &FlowEntry) -> impl Iterator<Item = (u8, u64)> + '_ {
    e.actions.iter().filter_map(|a| match a {
        Action::Learn(l) if l.delete_learned() => Some((l.table_id, l.cookie)),
        _ => None,
    })
}

/// True when `rule` already is what `e` would install (OVS compares timeouts, importance,
/// flags, cookie and actions).
fn identical(rule: &Rule, e: &FlowEntry) -> bool {
    let r = &rule.entry;
    r.actions == e.actions
        && r.cookie == e.cookie
        && r.idle_timeout == e.idle_timeout
        && r.hard_timeout == e.hard_timeout
        && r.importance == e.importance
        && r.flags.send_flow_rem == e.flags.send_flow_rem
}

impl OfTables {
    /// The tables (bit per table) whose contents differ from `before`'s.
    pub fn changed_tables(&self, before: &OfTables) -> [u64; 4] {
        let mut out = [0u64; 4];
        for (i, (a, b)) in before.tables.iter().zip(&self.tables).enumerate() {
            let same = match (a, b) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if !same {
                out[i / 64] |= 1u64 << (i % 64);
            }
        }
        out
    }

    /// Restarts the hard timeout of the flows in `flows` that are already installed
    /// exactly so (no new version); returns those that need a change of the tables.
    pub fn refresh_learned<'a>(
        &self,
        flows: &'a [Arc<LearnedFlow>],
        now_ms: u64,
        sum: &mut LearnSummary,
    ) -> Vec<&'a Arc<LearnedFlow>> {
        let mut rest = Vec::new();
        for l in flows {
            let e = &l.entry;
            match self
                .table(e.table_id())
                .and_then(|t| t.get(&e.matches, e.priority))
            {
                Some(r) if identical(r, e) => {
                    r.stats.modified_ms.fetch_max(now_ms, Ordering::Relaxed);
                    sum.refreshed += 1;
                }
                _ => rest.push(l),
            }
        }
        rest
    }

    /// Installs learned flows as one new version (see the module doc). A full table
    /// refuses the flow (counted), not the batch.
    pub fn install_learned(
        &self,
        flows: &[&Arc<LearnedFlow>],
        now_ms: u64,
        sum: &mut LearnSummary,
    ) -> OfTables {
        let mut next = self.clone();
        next.version += 1;
        for l in flows {
            let e = &l.entry;
            let tid = e.table_id();
            let existing = next
                .table(tid)
                .and_then(|t| t.get(&e.matches, e.priority))
                .cloned();
            let Some(old) = existing else {
                let mut s = super::ModSummary::default();
                match next.add(e, now_ms, &mut s, true) {
                    Ok(()) => sum.added += 1,
                    Err(FlowModError::TableFull { .. }) | Err(_) => sum.refused += 1,
                }
                continue;
            };
            if identical(&old, e) {
                old.stats.modified_ms.fetch_max(now_ms, Ordering::Relaxed);
                sum.refreshed += 1;
                continue;
            }
            // A modify: the old flow's timeouts, flags, importance and age stay.
            let entry = FlowEntry {
                actions: e.actions.clone(),
                cookie: e.cookie,
                ..old.entry.clone()
            };
            let rule = Arc::new(Rule {
                conj: super::conj_of(&entry),
                entry,
                id: old.id,
                created_ms: old.created_ms,
                stats: RuleStats::carried(&old.stats, now_ms),
                learned: true,
            });
            next.table_mut(tid).insert(rule);
            sum.modified += 1;
        }
        next.flush_learned(self);
        next
    }

    /// `delete_learned`: the (table, cookie) pairs some flow's `learn(delete_learned)`
    /// owned in `before` and no flow owns here lose their flows. Returns the flows
    /// removed (repeats until no flow removed owned any).
    pub(super) fn flush_learned(&mut self, before: &OfTables) -> Vec<Arc<Rule>> {
        let mut gone = Vec::new();
        let mut prev = before.clone();
        loop {
            let mut dead: BTreeSet<(u8, u64)> = BTreeSet::new();
            for i in 0..super::N_TABLES {
                let (a, b) = (&prev.tables[i], &self.tables[i]);
                let same = match (a, b) {
                    (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                    (None, None) => true,
                    _ => false,
                };
                if same {
                    continue;
                }
                if let Some(a) = a {
                    for k in a.learn_refs.keys() {
                        if !b.as_ref().is_some_and(|b| b.learn_refs.contains_key(k)) {
                            dead.insert(*k);
                        }
                    }
                }
            }
            dead.retain(|k| !self.iter().any(|(_, t)| t.learn_refs.contains_key(k)));
            if dead.is_empty() {
                return gone;
            }
            prev = self.clone();
            for (tid, cookie) in dead {
                let Some(t) = self.table(tid) else { continue };
                let victims: Vec<Arc<Rule>> = t
                    .rules_any_order()
                    .filter(|r| r.entry.cookie == cookie)
                    .cloned()
                    .collect();
                if victims.is_empty() {
                    continue;
                }
                let table = self.table_mut(tid);
                for r in victims {
                    table.remove(&r.entry.matches, r.entry.priority);
                    gone.push(r);
                }
            }
            for t in self.tables.iter_mut() {
                if t.as_ref().is_some_and(|t| t.is_empty()) {
                    *t = None;
                }
            }
        }
    }
}

impl Table {
    /// Counts the delete_learned owners `rule` adds (`add`) or takes away.
    pub(super) fn note_learn_refs(&mut self, rule: &Rule, add: bool) {
        for k in learn_refs(&rule.entry) {
            if add {
                *self.learn_refs.entry(k).or_insert(0) += 1;
            } else if let Some(n) = self.learn_refs.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    self.learn_refs.remove(&k);
                }
            }
        }
    }
}

impl RuleStats {
    /// Counters carried from `old` into a replacing rule, modified now.
    pub(super) fn carried(old: &RuleStats, now_ms: u64) -> RuleStats {
        let s = RuleStats::default();
        for (d, o) in [
            (&s.n_packets, &old.n_packets),
            (&s.n_bytes, &old.n_bytes),
            (&s.used_ms, &old.used_ms),
        ] {
            d.store(o.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        s.modified_ms.store(now_ms, Ordering::Relaxed);
        s
    }
}
