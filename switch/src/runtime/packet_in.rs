//! Packet-ins on their way from the datapath to the OpenFlow connections.
//!
//! Each worker (and the control thread, whose packet-outs and resumes can send packets
//! up too) has its own bounded queue: a worker never waits for a controller, and a full
//! queue costs the packet-in (counted), never the worker's time. A dispatcher thread
//! takes what the queues hold and hands it to every connection that wants packet-ins
//! (sharing one copy), each through a bounded queue of its own: a slow controller loses
//! its own packet-ins (counted per connection), not another's. The worker wakes the
//! dispatcher (an eventfd) only when its queue was empty; the dispatcher wakes each
//! connection it gave something to.

use crossbeam_queue::ArrayQueue;
use parking_lot::Mutex;
use pipeline::dpaction::PacketIn;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Packet-ins a worker's queue holds.
pub const SOURCE_CAPACITY: usize = 1024;
/// Packet-ins waiting for one connection to send them (OVS's default per-connection
/// packet-in queue is 100; brisk keeps more because it batches writes).
pub const CONN_CAPACITY: usize = 1024;
/// The dispatcher looks at the queues at least this often (a wakeup lost to a race with
/// its draining costs at most this long).
const DISPATCH_POLL: Duration = Duration::from_millis(20);

/// An eventfd: wakes a thread blocked in [`wait`].
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    /// A new eventfd (non-blocking).
    pub fn new() -> std::io::Result<Waker> {
        // SAFETY: eventfd has no memory preconditions; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor this process owns and nothing else holds.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Waker { fd })
    }

    /// Wakes the waiter (never blocks).
    pub fn wake(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer to our own eventfd.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), one.as_ptr().cast(), 8) };
    }

    /// Clears pending wakeups.
    pub fn drain(&self) {
        let mut b = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live buffer from our own non-blocking eventfd.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), b.as_mut_ptr().cast(), 8) };
    }

    /// The descriptor, for [`wait`].
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Waits until one of `fds` is readable or `timeout` passes; returns which are readable.
pub fn wait(fds: &[RawFd], timeout: Duration) -> Vec<bool> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `p` is a live array of `p.len()` pollfd structures.
    let n = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
    if n <= 0 {
        return vec![false; fds.len()];
    }
    p.iter()
        .map(|x| x.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0)
        .collect()
}

/// One producer's queue (a worker's, or the control thread's).
pub struct Source {
    queue: ArrayQueue<PacketIn>,
    /// Packet-ins queued.
    pub queued: AtomicU64,
    /// Packet-ins lost because the queue was full.
    pub overflow: AtomicU64,
}

/// One connection's packet-ins.
pub struct Subscriber {
    queue: ArrayQueue<Arc<PacketIn>>,
    waker: Waker,
    /// The connection's controller id (NXT_SET_CONTROLLER_ID): it receives the packet-ins
    /// of `controller(id=...)` actions with that id only, as in OVS.
    pub controller_id: AtomicU16,
    /// Packet-ins lost because the connection did not keep up.
    pub dropped: AtomicU64,
}

impl Subscriber {
    /// The next packet-in for this connection.
    pub fn pop(&self) -> Option<Arc<PacketIn>> {
        self.queue.pop()
    }

    /// The descriptor that becomes readable when packet-ins arrive.
    pub fn fd(&self) -> RawFd {
        self.waker.fd()
    }

    /// Clears the wakeup (before popping, so a later arrival wakes again).
    pub fn drain_wakeups(&self) {
        self.waker.drain();
    }
}

/// The bridge's packet-in queues.
pub struct PacketIns {
    sources: Vec<Source>,
    wake: Waker,
    subs: Mutex<Vec<Arc<Subscriber>>>,
    n_subs: AtomicUsize,
    /// Packet-ins handed to connections (once per connection).
    pub delivered: AtomicU64,
    /// Packet-ins no connection wanted when they were made (none connected, or none
    /// with the action's controller id).
    pub unclaimed: AtomicU64,
}

impl PacketIns {
    /// Queues for `n_sources` producers (workers, then the control thread).
    pub fn new(n_sources: usize) -> std::io::Result<PacketIns> {
        Ok(PacketIns {
            sources: (0..n_sources)
                .map(|_| Source {
                    queue: ArrayQueue::new(SOURCE_CAPACITY),
                    queued: AtomicU64::new(0),
                    overflow: AtomicU64::new(0),
                })
                .collect(),
            wake: Waker::new()?,
            subs: Mutex::new(Vec::new()),
            n_subs: AtomicUsize::new(0),
            delivered: AtomicU64::new(0),
            unclaimed: AtomicU64::new(0),
        })
    }

    /// The producers' queues (index = worker id; the last is the control thread's).
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// Queues the packet-in `make` builds, from producer `src`. False (and `make` not
    /// called: no copy is made) when nobody takes packet-ins or the queue is full.
    pub fn offer(&self, src: usize, make: impl FnOnce() -> PacketIn) -> bool {
        let Some(s) = self.sources.get(src) else {
            return false;
        };
        if self.n_subs.load(Ordering::Relaxed) == 0 {
            self.unclaimed.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if s.queue.is_full() {
            s.overflow.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let was_empty = s.queue.is_empty();
        if s.queue.push(make()).is_err() {
            s.overflow.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        s.queued.fetch_add(1, Ordering::Relaxed);
        if was_empty {
            self.wake.wake();
        }
        true
    }

    /// A connection starts receiving packet-ins.
    pub fn subscribe(&self, controller_id: u16) -> std::io::Result<Arc<Subscriber>> {
        let s = Arc::new(Subscriber {
            queue: ArrayQueue::new(CONN_CAPACITY),
            waker: Waker::new()?,
            controller_id: AtomicU16::new(controller_id),
            dropped: AtomicU64::new(0),
        });
        let mut subs = self.subs.lock();
        subs.push(s.clone());
        self.n_subs.store(subs.len(), Ordering::Relaxed);
        Ok(s)
    }

    /// A connection stops receiving them.
    pub fn unsubscribe(&self, s: &Arc<Subscriber>) {
        let mut subs = self.subs.lock();
        subs.retain(|x| !Arc::ptr_eq(x, s));
        self.n_subs.store(subs.len(), Ordering::Relaxed);
    }

    /// Packet-ins lost by connections that did not keep up, over those connected now.
    pub fn conn_dropped(&self) -> u64 {
        self.subs
            .lock()
            .iter()
            .map(|s| s.dropped.load(Ordering::Relaxed))
            .sum()
    }

    /// Moves what the producers queued to the connections; returns how many it took.
    pub fn dispatch(&self) -> usize {
        let subs: Vec<Arc<Subscriber>> = self.subs.lock().clone();
        let mut woken = vec![false; subs.len()];
        let mut n = 0;
        for s in &self.sources {
            while let Some(pin) = s.queue.pop() {
                n += 1;
                let pin = Arc::new(pin);
                let mut taken = false;
                for (k, sub) in subs.iter().enumerate() {
                    if sub.controller_id.load(Ordering::Relaxed) != pin.controller_id {
                        continue;
                    }
                    taken = true;
                    if sub.queue.push(pin.clone()).is_err() {
                        sub.dropped.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.delivered.fetch_add(1, Ordering::Relaxed);
                        woken[k] = true;
                    }
                }
                if !taken {
                    self.unclaimed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        for (k, sub) in subs.iter().enumerate() {
            if woken[k] {
                sub.waker.wake();
            }
        }
        n
    }

    /// The dispatcher's loop, until `stop` says so.
    pub fn run(&self, stop: &dyn Fn() -> bool) {
        while !stop() {
            wait(&[self.wake.fd()], DISPATCH_POLL);
            self.wake.drain();
            self.dispatch();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::flow::Flow;

    fn pin(id: u16, byte: u8) -> PacketIn {
        PacketIn {
            reason: 1,
            table_id: 0,
            cookie: 0,
            controller_id: id,
            userdata: Vec::new(),
            data: vec![byte; 60],
            metadata: Flow::ZERO,
            continuation: None,
        }
    }

    #[test]
    fn packet_ins_reach_every_connection_of_their_controller_id_and_overflow_is_counted() {
        let h = PacketIns::new(2).unwrap();
        // Nobody listens: nothing is copied, the loss is counted.
        assert!(!h.offer(0, || panic!("no copy without a connection")));
        assert_eq!(h.unclaimed.load(Ordering::Relaxed), 1);
        let a = h.subscribe(0).unwrap();
        let b = h.subscribe(0).unwrap();
        let c = h.subscribe(7).unwrap();
        assert!(h.offer(0, || pin(0, 1)));
        assert!(h.offer(1, || pin(7, 2)));
        assert_eq!(h.dispatch(), 2);
        assert_eq!(a.pop().unwrap().data[0], 1);
        assert_eq!(b.pop().unwrap().data[0], 1);
        assert!(a.pop().is_none());
        assert_eq!(c.pop().unwrap().data[0], 2);
        // The dispatcher woke the connections.
        assert_eq!(wait(&[a.fd(), c.fd()], Duration::ZERO), vec![true, true]);
        // A full worker queue refuses without copying.
        for i in 0..SOURCE_CAPACITY {
            assert!(h.offer(0, || pin(0, i as u8)));
        }
        assert!(!h.offer(0, || panic!("no copy into a full queue")));
        assert_eq!(h.sources()[0].overflow.load(Ordering::Relaxed), 1);
        // A connection that reads nothing loses what does not fit; the others do not.
        h.dispatch();
        for _ in 0..CONN_CAPACITY {
            assert!(b.pop().is_some());
        }
        assert!(h.offer(0, || pin(0, 9)));
        h.dispatch();
        assert_eq!(a.dropped.load(Ordering::Relaxed), 1);
        assert_eq!(b.dropped.load(Ordering::Relaxed), 0);
        assert_eq!(b.pop().unwrap().data[0], 9);
        h.unsubscribe(&a);
        h.unsubscribe(&b);
        h.unsubscribe(&c);
        assert!(!h.offer(1, || panic!("nobody left")));
    }
}
