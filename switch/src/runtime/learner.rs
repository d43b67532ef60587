//! Learned flows on their way from the datapath to the tables.
//!
//! A `learn` action runs where the packet is (a worker, or the control thread for
//! packet-outs and resumes): it queues the flow it learned on its thread's own bounded
//! queue and goes on. A learner thread takes everything queued: flows already installed
//! are refreshed at once, new ones go to an installer thread as one table version per
//! batch ([`pipeline::bridge::Bridge::install_learned`]): workers never take the tables'
//! lock, and batching is what lets one version's copy of a table's chunks serve many
//! learned flows. A full queue loses the flow (counted); the megaflow's next refresh
//! brings it again. The learner sleeps on an eventfd that a producer writes only when its
//! queue was empty.

use super::packet_in::{wait, Waker};
use crossbeam_queue::ArrayQueue;
use pipeline::bridge::Bridge;
use pipeline::dpaction::LearnedFlow;
use pipeline::tables::LearnSummary;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Learned flows one producer's queue holds (a megaflow with a `learn` action queues its
/// flow about twice a second while it has traffic: this many busy learning megaflows per
/// worker are refreshed without loss).
pub const SOURCE_CAPACITY: usize = 65_536;
/// The learner looks at the queues at least this often.
const POLL: Duration = Duration::from_millis(20);
/// Longest the installer rests after a version (as long as the version took, up to
/// this): small batches gather into bigger ones, and a storm of learned flows into a big
/// table, whose batches take longer than this, keeps the installer busy instead of idle
/// half the time.
const MAX_REST: Duration = Duration::from_millis(10);
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

/// Learned flows waiting for the installer, each once: a megaflow queues the same flow
/// at every refresh, and while a big batch installs, the flows of the next one come
/// again and again (by the same `Arc`, so its address tells them apart).
#[derive(Default)]
pub struct Pending {
    flows: Vec<Arc<LearnedFlow>>,
    seen: hashbrown::HashSet<usize>,
}

impl Pending {
    fn push(&mut self, f: Arc<LearnedFlow>) {
        if self.seen.insert(Arc::as_ptr(&f) as usize) {
            self.flows.push(f);
        }
    }

    fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// The flows, leaving this empty.
    fn take(&mut self) -> Vec<Arc<LearnedFlow>> {
        self.seen.clear();
        std::mem::take(&mut self.flows)
    }
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

    /// Takes what the producers queued (at most [`MAX_BATCH`]): refreshes the flows
    /// already installed at once, and adds the others to `pending`. Returns how many it
    /// took.
    pub fn drain(
        &self,
        bridge: &Bridge,
        now_ms: u64,
        batch: &mut Vec<Arc<LearnedFlow>>,
        pending: &mut Pending,
    ) -> usize {
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
        let mut sum = LearnSummary::default();
        for f in bridge.refresh_learned(batch, now_ms, &mut sum) {
            pending.push(f);
        }
        self.stats
            .refreshed
            .fetch_add(sum.refreshed as u64, Ordering::Relaxed);
        batch.len()
    }

    /// Installs `pending` as one version (and empties it).
    pub fn install(&self, bridge: &Bridge, now_ms: u64, pending: &mut Vec<Arc<LearnedFlow>>) {
        if pending.is_empty() {
            return;
        }
        let mut sum = LearnSummary::default();
        bridge.install_learned(pending, now_ms, &mut sum);
        pending.clear();
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
    }

    /// Everything queued now, refreshed or installed (one version), for tests and tools.
    pub fn apply(&self, bridge: &Bridge, now_ms: u64) -> usize {
        let (mut batch, mut pending) = (Vec::new(), Pending::default());
        let mut n = 0;
        loop {
            let k = self.drain(bridge, now_ms, &mut batch, &mut pending);
            if k == 0 {
                break;
            }
            n += k;
        }
        self.install(bridge, now_ms, &mut pending.take());
        n
    }

    /// The learner's loop, until `stop` says so: this thread drains the queues and
    /// applies refreshes at once (no version); new flows gather in a batch that an
    /// installer thread makes into one version when it is free and its last version is
    /// older than twice what making it took (it rests as long as it worked, up to
    /// [`MAX_REST`]). A version copies the parts of the tables it changes, so while flows
    /// pour in, batches grow instead of versions multiplying, small versions come at most
    /// half the time, and the queues keep draining meanwhile; a quiet switch installs a
    /// learned flow at once.
    pub fn run(
        &self,
        bridge: &Bridge,
        now_ms: &(dyn Fn() -> u64 + Sync),
        stop: &(dyn Fn() -> bool + Sync),
    ) {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Arc<LearnedFlow>>>(1);
        let idle = std::sync::atomic::AtomicBool::new(true);
        std::thread::scope(|sc| {
            let installer = std::thread::Builder::new()
                .name("learner-install".into())
                .spawn_scoped(sc, {
                    let idle = &idle;
                    move || {
                        while let Ok(mut batch) = rx.recv() {
                            let t = std::time::Instant::now();
                            self.install(bridge, now_ms(), &mut batch);
                            std::thread::sleep(t.elapsed().min(MAX_REST));
                            idle.store(true, Ordering::Release);
                        }
                    }
                });
            let (mut batch, mut pending) = (Vec::new(), Pending::default());
            while !stop() {
                let wait_for = if pending.is_empty() {
                    POLL
                } else {
                    Duration::from_millis(1)
                };
                wait(&[self.wake.fd()], wait_for);
                self.wake.drain();
                while self.drain(bridge, now_ms(), &mut batch, &mut pending) > 0 {}
                if !pending.is_empty() && idle.load(Ordering::Acquire) {
                    idle.store(false, Ordering::Release);
                    if tx.send(pending.take()).is_err() {
                        break;
                    }
                }
            }
            drop(tx);
            if let Ok(h) = installer {
                let _ = h.join();
            }
        });
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
        for i in 0..100 {
            let f = learned(&format!(
                "table=5,priority=7,hard_timeout=10,ip,nw_src=10.0.0.{i} actions=load:0x1->NXM_NX_REG0[]"
            ));
            assert!(l.offer(i % 2, &f));
        }
        let v0 = b.tables().version;
        assert_eq!(l.apply(&b, 1_000), 100);
        assert_eq!(b.tables().version, v0 + 1, "one version for the batch");
        assert_eq!(b.tables().n_flows(), 100);
        let g = b.generation();
        // The same flows again: refreshed, no version, megaflows stay valid.
        for i in 0..100 {
            l.offer(0, &learned(&format!(
                "table=5,priority=7,hard_timeout=10,ip,nw_src=10.0.0.{i} actions=load:0x1->NXM_NX_REG0[]"
            )));
        }
        assert_eq!(l.apply(&b, 5_000), 100);
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

    #[test]
    fn a_flow_queued_again_before_its_version_waits_once() {
        let b = Bridge::new("br", Default::default());
        let l = Learner::new(1).unwrap();
        let f = learned("table=5,priority=7,hard_timeout=10,ip,nw_src=10.0.0.1 actions=drop");
        let twin = learned("table=5,priority=7,hard_timeout=10,ip,nw_src=10.0.0.1 actions=drop");
        let (mut batch, mut pending) = (Vec::new(), Pending::default());
        for _ in 0..3 {
            // A megaflow's refreshes while the installer is busy: the same `Arc` again.
            for _ in 0..50 {
                l.offer(0, &f);
            }
            l.offer(0, &twin);
            assert_eq!(l.drain(&b, 1_000, &mut batch, &mut pending), 51);
        }
        let mut flows = pending.take();
        assert_eq!(flows.len(), 2, "one per megaflow");
        l.install(&b, 1_000, &mut flows);
        assert_eq!(l.stats.added.load(Ordering::Relaxed), 1);
        assert_eq!(l.stats.refreshed.load(Ordering::Relaxed), 1);
        assert!(pending.is_empty() && pending.seen.is_empty());
    }
}
