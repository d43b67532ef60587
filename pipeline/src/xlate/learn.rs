//! `learn` in a walk: the flow it learns from the packet as the pipeline has it now, and
//! the megaflow's dependence on every bit that flow is made of (OVS's `learn_mask`), so
//! one megaflow always learns one flow.

use super::Ctx;
use crate::dpaction::{DpAction, DpFinTimeout, LearnedFlow};
use crate::ofctl::Learn;
use std::sync::Arc;

impl Ctx<'_> {
    /// Runs `learn`: the learned flow rides in the datapath actions; the sink hands it to
    /// the learner when the actions run (never during a trace).
    pub(super) fn learn(&mut self, l: &Learn) {
        for sf in l.source_bits() {
            self.read_sf(sf);
        }
        let entry = l.execute(&self.flow);
        if self.trace.is_some() {
            let text = crate::ofctl::format_flow(&entry, self.ports.names(), None);
            self.note(format_args!("learned: {text}"));
        }
        self.acts
            .push(DpAction::Learn(Arc::new(LearnedFlow::new(entry))));
    }

    /// Runs `fin_timeout`: the flow whose actions run has its timeouts lowered when a
    /// packet of this megaflow carries a TCP FIN or RST (checked per packet where the
    /// actions run, as OVS checks the flags its datapath flow saw). Nothing for a
    /// packet-out's own actions, which belong to no flow.
    pub(super) fn fin_timeout(&mut self, idle: u16, hard: u16) {
        let Some(rule) = self.rule.clone() else {
            return;
        };
        if idle == 0 && hard == 0 {
            return;
        }
        self.acts.push(DpAction::FinTimeout(Box::new(DpFinTimeout {
            rule,
            idle,
            hard,
        })));
    }
}
