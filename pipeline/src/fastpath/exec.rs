//! The execute stage: pending slots grouped by megaflow, each megaflow's datapath actions
//! run once over its group of packets (its counters updated once), then the uncached ones.
//! Returns the slots that recirculate (`ct` with a table) for the next pass.

use super::upcall::Uncached;
use super::{FastPath, NONE, SLOTS};
use crate::dpaction::{exec_group, CloneFrame, ExecEnv, Sink};
use smallvec::SmallVec;

impl<F: CloneFrame> FastPath<F> {
    /// Runs the actions of every pending slot; returns the slots to recirculate.
    pub(super) fn exec_stage<S: Sink<F>>(
        &mut self,
        pending: u64,
        uncached: Uncached,
        env: &ExecEnv<'_>,
        now_ms: u64,
        sink: &mut S,
    ) -> u64 {
        let mut order: SmallVec<[u8; SLOTS]> = SmallVec::new();
        let mut bits = pending;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if self.found[i] != NONE {
                order.push(i as u8);
            }
        }
        // Grouped by megaflow (a group runs in slot order: `exec_group` walks a bitmap).
        // With fragments of a reassembled datagram among them, runs in slot order instead,
        // so that a first fragment and the later ones (two megaflows) leave as they came.
        if pending & self.ordered == 0 {
            order.sort_unstable_by_key(|&i| self.found[i as usize]);
        }
        let mut next = 0u64;
        let mut g = 0;
        while g < order.len() {
            let mf_idx = self.found[order[g] as usize];
            let mut e = g + 1;
            while e < order.len() && self.found[order[e] as usize] == mf_idx {
                e += 1;
            }
            let members = &order[g..e];
            let mut bytes = 0u64;
            for &i in members {
                bytes += self.batch.frames[i as usize]
                    .as_ref()
                    .map_or(0, |f| f.len() as u64);
            }
            let mf = &mut self.mfs[mf_idx as usize];
            mf.packets += members.len() as u64;
            mf.bytes += bytes;
            mf.used_ms = now_ms;
            next |= exec_group(&mf.actions, &mut self.batch, members, env, sink);
            g = e;
        }
        for (i, acts) in uncached {
            next |= exec_group(&acts, &mut self.batch, &[i], env, sink);
        }
        next
    }
}
