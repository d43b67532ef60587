//! Learned flows on their way from the datapath to the tables.
//!
//! A `learn` action runs where the packet is (a worker, or the control thread for
//! packet-outs and resumes): it queues the flow it learned on its thread's own bounded
//! queue and goes on. A learner thread takes everything queued and applies it as one
//! table version per batch ([`pipeline::bridge::Bridge::learn`]): workers never take the
//! tables' lock, and batching is what lets one version's copy of a table serve many
//! learned flows. A full queue loses the flow (counted); the megaflow's next refresh
//! brings it again. The learner sleeps on an eventfd that a producer writes only when its
//! queue was empty.

use super::packet_in::{wait, Waker};
use crossbeam_queue::ArrayQueue;
use pipeline::bridge::Bridge;
use pipeline::dpaction::LearnedFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Learned flows one producer's queue holds (a megaflow with a `learn` action queues its
/// flow about twice a second while it has traffic: this many busy learning megaflows per
/// worker are refreshed without loss).
pub const SOURCE_CAPACITY: usize = 65_536;
/// The learner looks at the queues at least this often.
const POLL: Duration = Duration::from_millis(20);
/// Most flows applied as one version.
const MAX_BATCH: usize = 65_536;

/// One producer's queue.
pub struct Source {
    queue: ArrayQueue<Arc<LearnedFlow>>,
    /// Learned flows queued.
    pub queued: AtomicU64,
    /// Learned flows lost because the queue was full.
    pub overflow: AtomicU64,
}

/// What the learner did, for the counters.
#[derive(Default)]
pub struct LearnerStats {
    /// Flows added to the tables.
    pub added: AtomicU64,
    /// Flows changed (new actions or cookie).
    pub modified: AtomicU64,
    /// Identical flows whose hard timeout restarted.
    pub refreshed: AtomicU64,
    /// Flows refused (a full table).
    pub refused: AtomicU64,
    /// Batches applied (table versions made, or refresh-only passes).
    pub batches: AtomicU64,
}

/// The bridge's learned-flow queues.
pub struct Learner {
    sources: Vec<Source>,
    wake: Waker,
    /// What applying them did.
    pub stats: LearnerStats,
}

impl Learner {
    /// Queues for `n_sources` producers (workers, then the control thread).
    pub fn new(n_sources: usize) -> std::io::Result<Learner> {
        Ok(Learner {
            sources: (0..n_sources)
                .map(|_| Source {
                    queue: ArrayQueue::new(SOURCE_CAPACITY),
                    queued: AtomicU64::new(0),
                    overflow: AtomicU64::new(0),
                })
                .collect(),
            wake: Waker::new()?,
            stats: LearnerStats::default(),
        })
    }

    /// The producers' queues (index = worker id; the last is the control thread's).
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// Queues `flow` from producer `src`; false when the queue is full (counted).
    pub fn offer(&self, src: usize, flow: &Arc<LearnedFlow>) -> bool {
        let Some(s) = self.sources.get(src) else {
            return false;
        };
        let was_empty = s.queue.is_empty();
        if s.queue.push(flow.clone()).is_err() {
            s.overflow.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        s.queued.fetch_add(1, Ordering::Relaxed);
        if was_empty {
            self.wake.wake();
        }
        true
    }

    /// Applies what the producers queued (one version per batch); returns how many flows
    /// it took.
    pub fn apply(&self, bridge: &Bridge, now_ms: u64, batch: &mut Vec<Arc<LearnedFlow>>) -> usize {
        batch.clear();
        for s in &self.sources {
            while batch.len() < MAX_BATCH {
                match s.queue.pop() {
                    Some(f) => batch.push(f),
                    None => break,
                }
            }
        }
        if batch.is_empty() {
            return 0;
        }
        let sum = bridge.learn(batch, now_ms);
        let st = &self.stats;
        st.added.fetch_add(sum.added as u64, Ordering::Relaxed);
        st.modified
            .fetch_add(sum.modified as u64, Ordering::Relaxed);
        st.refreshed
            .fetch_add(sum.refreshed as u64, Ordering::Relaxed);
        st.refused.fetch_add(sum.refused as u64, Ordering::Relaxed);
        st.batches.fetch_add(1, Ordering::Relaxed);
        if sum.refused > 0 {
            tracing::warn!(refused = sum.refused, "learned flows refused: table full");
        }
        batch.len()
    }

    /// The learner's loop, until `stop` says so. After each batch it rests twice as long
    /// as the batch took: a version copies the tables it changes, so while flows pour in,
    /// batches grow instead of versions multiplying, and the learner keeps to about a
    /// third of a core.
    pub fn run(&self, bridge: &Bridge, now_ms: &dyn Fn() -> u64, stop: &dyn Fn() -> bool) {
        let mut batch = Vec::new();
        while !stop() {
            wait(&[self.wake.fd()], POLL);
            self.wake.drain();
            loop {
                let t = std::time::Instant::now();
                if self.apply(bridge, now_ms(), &mut batch) == 0 {
                    break;
                }
                // No rest when a queue fills up faster than that.
                let filling = self
                    .sources
                    .iter()
                    .any(|s| s.queue.len() > SOURCE_CAPACITY / 4);
                if !filling {
                    std::thread::sleep(t.elapsed() * 2);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::ofctl::{parse_flow, Mode, PortMap};

    fn learned(s: &str) -> Arc<LearnedFlow> {
        Arc::new(LearnedFlow::new(
            parse_flow(s, Mode::Add, &PortMap::default()).unwrap(),
        ))
    }

    #[test]
    fn a_batch_is_one_version_refreshes_make_none_and_a_full_queue_is_counted() {
        let b = Bridge::new("br", Default::default());
        let l = Learner::new(2).unwrap();
        let mut batch = Vec::new();
        for i in 0..100 {
            let f = learned(&format!(
                "table=5,priority=7,hard_timeout=10,ip,nw_src=10.0.0.{i} actions=load:0x1->NXM_NX_REG0[]"
            ));
            assert!(l.offer(i % 2, &f));
        }
        let v0 = b.tables().version;
        assert_eq!(l.apply(&b, 1_000, &mut batch), 100);
        assert_eq!(b.tables().version, v0 + 1, "one version for the batch");
        assert_eq!(b.tables().n_flows(), 100);
        let g = b.generation();
        // The same flows again: refreshed, no version, megaflows stay valid.
        for i in 0..100 {
            l.offer(0, &learned(&format!(
                "table=5,priority=7,hard_timeout=10,ip,nw_src=10.0.0.{i} actions=load:0x1->NXM_NX_REG0[]"
            )));
        }
        assert_eq!(l.apply(&b, 5_000, &mut batch), 100);
        assert_eq!(b.tables().version, v0 + 1);
        assert_eq!(b.generation(), g);
        assert_eq!(l.stats.refreshed.load(Ordering::Relaxed), 100);
        // The refresh restarted the hard timeout: nothing expires at 11 s, all at 15 s.
        assert!(b.expire_flows(11_000).is_empty());
        assert_eq!(b.expire_flows(15_000).len(), 100);
        // A full queue refuses and counts.
        let f = learned("table=5,ip actions=drop");
        for _ in 0..SOURCE_CAPACITY {
            assert!(l.offer(1, &f));
        }
        assert!(!l.offer(1, &f));
        assert_eq!(l.sources()[1].overflow.load(Ordering::Relaxed), 1);
    }
}
