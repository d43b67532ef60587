//! The walk through the tables: lookups, actions in order, groups and their buckets, all
//! within one translation budget.

use super::{ct_fields_mask, field_mask, Ctx, TraceEvent, XlateError};
use crate::dpaction::DpAction;
use crate::field::Field;
use crate::flow::{w, Flow, KEY_WORDS, VLAN_CFI};
use crate::ofctl::{format_subfield_now, Action, GroupType, SetField};
use crate::tables::{selection_fields, Group};
use std::sync::Arc;

impl Ctx<'_> {
    /// The translation budget, as OVS's: resubmits, `goto_table` and group buckets share one
    /// nesting limit and one count per translation, so no table or group loop (and no
    /// fan-out of `all` groups) can recurse without bound. Over budget, the packet is dropped
    /// (`resubmit_limit`).
    fn within_budget(&mut self) -> bool {
        if self.depth >= self.bridge.limits.max_depth
            || self.n_resubmits >= self.bridge.limits.max_resubmits
        {
            let (depth, resubmits, limits) = (self.depth, self.n_resubmits, self.bridge.limits);
            self.note(format_args!(
                "over the translation budget (depth {depth} of {}, {resubmits} of {} resubmits and group buckets): dropping",
                limits.max_depth, limits.max_resubmits
            ));
            self.error = Some(XlateError::ResubmitLimit);
            self.exit = true;
            return false;
        }
        self.n_resubmits += 1;
        true
    }

    pub(super) fn lookup_table(&mut self, table: u8) {
        self.lookup_table_as(table, None)
    }

    /// A lookup in `table`; with `restore`, the input port a `resubmit(port,table)` set for
    /// the lookup is put back (value, written bits) before the rule's actions run, as OVS's
    /// `xlate_table_action` does ("otherwise OFPP_NORMAL and OFPP_IN_PORT will have
    /// surprising behavior").
    fn lookup_table_as(&mut self, table: u8, restore: Option<(u128, u64)>) {
        if !self.within_budget() {
            if let Some((v, w)) = restore {
                Field::InPort.set(&mut self.flow, v);
                self.written.w[w::PORT] = w;
            }
            return;
        }
        let saved_table = self.table;
        self.table = table;
        self.consulted[usize::from(table >> 6)] |= 1u64 << (table & 63);
        let tables = self.tables;
        let mut lwc = Flow::ZERO;
        let found = tables
            .table(table)
            .and_then(|t| t.lookup(&self.flow, Some(&mut lwc)))
            .map(|r| r.payload.clone());
        self.read_bits(&lwc);
        if let Some((v, w)) = restore {
            Field::InPort.set(&mut self.flow, v);
            self.written.w[w::PORT] = w;
        }
        let depth = self.depth;
        if self.trace.is_some() {
            self.trace_event(TraceEvent::Table {
                table,
                depth,
                rule: found.clone(),
            });
        }
        match found {
            Some(rule) => {
                if std::mem::take(&mut self.first_lookup) {
                    self.top_cookie = rule.entry.cookie;
                }
                self.rules.push(rule.clone());
                // A rule's actions are the bucket's only when written in it (OVS's
                // `group_bucket_action`): a table a bucket resubmits to is no bucket.
                let saved = (self.cookie, self.table_miss, self.in_group);
                let saved_rule = self.rule.replace(rule.clone());
                self.in_group = 0;
                self.cookie = rule.entry.cookie;
                self.table_miss = rule.entry.priority == 0 && rule.entry.matches.mask.is_zero();
                self.depth += 1;
                self.do_actions(&rule.entry.actions);
                self.depth -= 1;
                (self.cookie, self.table_miss, self.in_group) = saved;
                self.rule = saved_rule;
            }
            // A miss drops (OpenFlow 1.3's table-miss, and what `fail_mode=secure` asks).
            None => self.trace_event(TraceEvent::Drop { depth: depth + 1 }),
        }
        self.table = saved_table;
    }

    pub(super) fn do_actions(&mut self, actions: &[Action]) {
        if actions.is_empty() {
            let depth = self.depth;
            self.trace_event(TraceEvent::Drop { depth });
        }
        for (i, a) in actions.iter().enumerate() {
            if self.exit {
                // Pausing: what this level has left waits for NXT_RESUME.
                self.unroll(&actions[i..]);
                break;
            }
            if self.trace.is_some() {
                let depth = self.depth;
                self.trace_event(TraceEvent::Action {
                    depth,
                    action: a.clone(),
                });
            }
            match a {
                Action::Output(p) => self.output(*p),
                Action::Controller { max_len } => self.output_controller(*max_len),
                Action::Controller2(c) => self.controller2(c),
                Action::Meter(id) => match self.tables.meter(*id) {
                    Some(m) => {
                        self.commit();
                        self.acts
                            .push(DpAction::Meter(crate::meter::MeterRef(m.clone())));
                    }
                    None => {
                        // The tables refuse such flows; a packet-out's may still name one.
                        self.warn(format_args!("no meter {id}: dropping"));
                        self.error = Some(XlateError::Unsupported);
                        self.exit = true;
                    }
                },
                Action::OutputReg(sf) => {
                    let p = self.read_sf(sf);
                    if p <= u128::from(u16::MAX) {
                        self.note(format_args!("output port is {p}"));
                    }
                    self.output(p as u32);
                }
                Action::Resubmit { in_port, table, .. } => {
                    let t = table.unwrap_or(self.table);
                    match in_port {
                        Some(p) => {
                            let old_v = Field::InPort.get(&self.flow);
                            let old_w = self.written.w[w::PORT];
                            Field::InPort.set(&mut self.flow, u128::from(*p));
                            self.written.w[w::PORT] |= 0xffff_ffff;
                            self.lookup_table_as(t, Some((old_v, old_w)));
                        }
                        None => self.lookup_table(t),
                    }
                }
                Action::GotoTable(t) => self.lookup_table(*t),
                Action::Set(s) => self.do_set(s),
                Action::Move { src, dst } => {
                    let v = self.read_sf(src);
                    let s = SetField {
                        field: dst.field,
                        value: v << dst.ofs,
                        mask: dst.mask(),
                        form: crate::ofctl::SetForm::Load,
                    };
                    self.do_set(&s);
                    if self.trace.is_some() {
                        let text = format_subfield_now(dst, &self.flow, self.ports.names());
                        self.note(text);
                    }
                }
                Action::DecTtl => self.dec_ttl(),
                Action::Conjunction { .. } | Action::Note(_) => {}
                Action::Ct(ct) => self.ct(ct),
                Action::CtClear => {
                    let m = ct_fields_mask();
                    for i in 0..crate::flow::FLOW_WORDS {
                        self.flow.w[i] &= !m.w[i];
                    }
                    self.written.or_with(&m);
                    self.acts.push(DpAction::CtClear);
                }
                Action::Group(g) => self.group(*g),
                Action::PushVlan(_) => {
                    let tci = self.read(Field::VlanTci) as u16;
                    if tci & VLAN_CFI != 0 {
                        self.note("a second VLAN tag is not supported: dropping");
                        self.error = Some(XlateError::Unsupported);
                        self.exit = true;
                    } else {
                        self.do_set(&SetField {
                            field: Field::VlanTci,
                            value: u128::from(VLAN_CFI),
                            mask: 0xffff,
                            form: crate::ofctl::SetForm::SetField,
                        });
                    }
                }
                Action::Learn(l) => self.learn(l),
                Action::FinTimeout { idle, hard } => self.fin_timeout(*idle, *hard),
                Action::PopVlan { .. } => {
                    self.do_set(&SetField {
                        field: Field::VlanTci,
                        value: 0,
                        mask: 0xffff,
                        form: crate::ofctl::SetForm::SetField,
                    });
                }
            }
        }
    }

    /// Runs group `id`. Each bucket works on its own copy of the packet, as in OVS: what
    /// it changed is rolled back after it, even when nothing follows in this action list
    /// (a table that resubmitted here may still have actions to run).
    fn group(&mut self, id: u32) {
        let Some(g) = self.tables.group(id).cloned() else {
            self.warn(format_args!("output to nonexistent group {id}"));
            self.error = Some(XlateError::Unsupported);
            self.exit = true;
            return;
        };
        let e = &g.entry;
        match e.kind {
            GroupType::Select => {
                let fields = selection_fields(&e.selection, &self.flow);
                let mut m = Flow::ZERO;
                for &f in &fields {
                    m.or_with(&field_mask(f));
                }
                self.read_bits(&m);
                let h = g.hash(&self.flow, &fields);
                match g.select(h) {
                    Some(i) => {
                        if self.trace.is_some() {
                            self.note(format_args!("using bucket {}", e.buckets[i].id));
                        }
                        self.run_bucket(&g, i);
                    }
                    None => self.note("no live bucket"),
                }
            }
            GroupType::Indirect => self.run_bucket(&g, 0),
            GroupType::All => {
                let n = e.buckets.len();
                for i in 0..n {
                    // The group counts the packet once, each bucket once (as OVS).
                    let at = self.groups.len();
                    self.run_bucket(&g, i);
                    if i > 0 {
                        if let Some(entry) = self.groups.get_mut(at) {
                            entry.1 |= crate::tables::BUCKET_ONLY;
                        }
                    }
                    if self.error.is_some() {
                        break;
                    }
                }
            }
        }
    }

    fn run_bucket(&mut self, g: &Arc<Group>, i: usize) {
        let Some(b) = g.entry.buckets.get(i) else {
            return;
        };
        if !self.within_budget() {
            return;
        }
        self.groups.push((g.clone(), i as u16));
        let depth = self.depth;
        self.trace_event(TraceEvent::Bucket { depth, id: b.id });
        let saved = self.flow;
        self.depth += 1;
        self.in_group += 1;
        self.do_actions(&b.actions);
        self.in_group -= 1;
        self.depth -= 1;
        // A pause in a bucket ends with the bucket (OVS): the group's caller goes on.
        self.finish_pause(self.cookie);
        // A bucket that stopped its own actions does not stop the caller's (OVS), unless
        // the translation failed.
        if self.error.is_none() {
            self.exit = false;
        }
        // Roll back what the bucket changed; header bits it committed are set back at the
        // next commit.
        for i in 0..crate::flow::FLOW_WORDS {
            let diff = saved.w[i] ^ self.flow.w[i];
            if i < KEY_WORDS {
                self.dirty.w[i] |= diff;
            }
        }
        self.flow = saved;
    }
}
