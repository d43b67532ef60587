//! Connections as `dump-conntrack` shows them, and the sweeps of the table (expiry,
//! flush).

use super::index::Found;
use super::{proto_idx, Conn, Conntrack, PState, Shard};
use crate::flow::ip_proto;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Index buckets (of five ways) a walk of the connections visits per hold of a shard's
/// lock: at most 160 connections, fetched together (a few microseconds).
const VISIT_BUCKETS: usize = 32;

/// A connection as `dump-conntrack` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnSnapshot {
    /// Protocol name.
    pub proto: &'static str,
    /// Protocol number.
    pub proto_num: u8,
    /// IPv6.
    pub v6: bool,
    /// Original tuple (src, dst, sport, dport).
    pub orig: (u128, u128, u16, u16),
    /// Reply tuple.
    pub reply: (u128, u128, u16, u16),
    /// Zone.
    pub zone: u16,
    /// Mark.
    pub mark: u32,
    /// Label.
    pub label: u128,
    /// TCP state name, if TCP.
    pub tcp_state: Option<&'static str>,
    /// Milliseconds until expiry.
    pub expires_in_ms: u64,
    /// Packets (orig, reply).
    pub packets: [u64; 2],
}

fn addr_str(a: u128, v6: bool) -> String {
    if v6 {
        std::net::Ipv6Addr::from(a).to_string()
    } else {
        std::net::Ipv4Addr::from(a as u32).to_string()
    }
}

impl fmt::Display for ConnSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let icmp = matches!(self.proto_num, 1 | 58);
        let tuple = |t: (u128, u128, u16, u16)| {
            if icmp {
                format!(
                    "src={},dst={},id={},type={},code={}",
                    addr_str(t.0, self.v6),
                    addr_str(t.1, self.v6),
                    t.2,
                    t.3 >> 8,
                    t.3 & 0xff
                )
            } else if matches!(self.proto_num, 6 | 17 | 132) {
                format!(
                    "src={},dst={},sport={},dport={}",
                    addr_str(t.0, self.v6),
                    addr_str(t.1, self.v6),
                    t.2,
                    t.3
                )
            } else {
                format!(
                    "src={},dst={}",
                    addr_str(t.0, self.v6),
                    addr_str(t.1, self.v6)
                )
            }
        };
        write!(
            f,
            "{},orig=({}),reply=({})",
            self.proto,
            tuple(self.orig),
            tuple(self.reply)
        )?;
        if self.zone != 0 {
            write!(f, ",zone={}", self.zone)?;
        }
        if self.mark != 0 {
            write!(f, ",mark={}", self.mark)?;
        }
        if self.label != 0 {
            write!(f, ",labels={:#x}", self.label)?;
        }
        if let Some(s) = self.tcp_state {
            write!(f, ",protoinfo=(state={s})")?;
        }
        Ok(())
    }
}

impl Conntrack {
    /// Inserts both keys; false if either is taken by a live connection. `ha` is the
    /// original tuple's hash, which the lookup that found no connection has computed. A
    /// connection whose two tuples are the same (a host talking to itself on one port) is
    /// indexed once, as original.
    pub(super) fn insert(&self, conn: &Arc<Conn>, ha: u64) -> bool {
        debug_assert_eq!(ha, self.key_hash(&conn.orig));
        let hb = self.key_hash(&conn.reply);
        let both = conn.orig != conn.reply;
        let a = self.shard(ha);
        let b = self.shard(hb);
        if std::ptr::eq(a, b) {
            let mut m = a.map.lock();
            if m.find(ha, &conn.orig).is_some() || (both && m.find(hb, &conn.reply).is_some()) {
                return false;
            }
            m.insert(ha, conn.clone(), false);
            if both {
                m.insert(hb, conn.clone(), true);
            }
            a.publish(&m);
        } else {
            // Lock in address order to avoid deadlock.
            let (first, second) = if (a as *const Shard) < (b as *const Shard) {
                (a, b)
            } else {
                (b, a)
            };
            let mut m1 = first.map.lock();
            let mut m2 = second.map.lock();
            let (ma, mb) = if std::ptr::eq(first, a) {
                (&mut *m1, &mut *m2)
            } else {
                (&mut *m2, &mut *m1)
            };
            if ma.find(ha, &conn.orig).is_some() || mb.find(hb, &conn.reply).is_some() {
                return false;
            }
            ma.insert(ha, conn.clone(), false);
            mb.insert(hb, conn.clone(), true);
            a.publish(ma);
            b.publish(mb);
        }
        self.n_conns.fetch_add(1, Ordering::Relaxed);
        self.by_proto[proto_idx(conn.proto)].fetch_add(1, Ordering::Relaxed);
        self.zones.added(conn.orig.zone);
        true
    }

    /// Removes a connection's keys (if they still point at it). The connection is marked
    /// dead first, so a fast path holding it as a hint never serves it once it has left
    /// the index.
    pub(super) fn remove(&self, conn: &Arc<Conn>, expired: bool) {
        {
            // Under the lock, so that no locked packet is being served as it ends.
            let _st = conn.st.lock();
            conn.hot.kill();
        }
        let mut removed = false;
        for (k, reply) in [(&conn.orig, false), (&conn.reply, true)] {
            let h = self.key_hash(k);
            // Dropped once the lock is released.
            let gone = self.shard(h).map.lock().remove(h, conn, reply);
            removed |= gone.is_some();
        }
        if removed {
            self.n_conns.fetch_sub(1, Ordering::Relaxed);
            self.by_proto[proto_idx(conn.proto)].fetch_sub(1, Ordering::Relaxed);
            self.zones.removed(conn.orig.zone);
            if expired {
                self.expired.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Calls `f` with every index entry (whether it is the reply tuple's, the connection),
    /// holding a shard's lock for at most [`VISIT_BUCKETS`] buckets at a time. Why: a walk
    /// reads every connection (a cache miss each), and with millions of them one walk held
    /// each shard for milliseconds, while a worker whose packet needed that shard (a
    /// commit, a lookup without a hint) waited; during a flood of new connections the
    /// worker's core sat idle 16 % of the time. If the index grows between two holds an
    /// entry may be seen twice or not at all: removals are idempotent, and an expiry missed
    /// is found by the next sweep.
    fn visit_chunked(&self, mut f: impl FnMut(bool, &Found<'_>)) {
        for s in self.shards.iter() {
            let mut at = 0;
            loop {
                let m = s.map.lock();
                if at >= m.n_buckets() {
                    break;
                }
                // The chunk's connections are fetched together: their misses overlap, and
                // the hold is a few of them long, not one per connection.
                m.prefetch_range(at, VISIT_BUCKETS);
                for (reply, c) in m.iter_range(at, VISIT_BUCKETS) {
                    f(reply, &c);
                }
                at += VISIT_BUCKETS;
            }
        }
    }

    /// Removes expired connections; returns how many. A sweep walks every connection (a
    /// cache miss each, under shard locks a worker may need), so it runs only when one
    /// can have expired: not before the earliest expiry the last sweep left, nor before
    /// its time plus the shortest timeout (every expiry set since is at least that).
    /// During a flood of new connections nothing can expire for the first 30 s, and a
    /// walk of millions of them every second took the worker's core idle 8 % of the time
    /// (its shard locks held while the sweeping thread was preempted).
    pub fn expire(&self, now_ms: u64) -> usize {
        if now_ms < self.next_sweep_ms.load(Ordering::Relaxed) {
            return 0;
        }
        let mut victims = Vec::new();
        let mut earliest = u64::MAX;
        self.visit_chunked(|_, c| {
            if !c.hot.live(now_ms) {
                victims.push(c.arc());
            } else {
                earliest = earliest.min(c.hot.expires_ms());
            }
        });
        let next = earliest.min(now_ms.saturating_add(self.min_timeout_ms()));
        self.next_sweep_ms.store(next, Ordering::Relaxed);
        let mut n = 0;
        for c in victims {
            let before = self.len();
            self.remove(&c, true);
            if self.len() < before {
                n += 1;
            }
        }
        n
    }

    /// Deletes connections (of one zone, or all); returns how many.
    pub fn flush(&self, zone: Option<u16>) -> usize {
        self.flush_where(zone, |_| true)
    }

    /// Deletes the connections of `zone` (or all) that `pick` chooses; returns how many.
    pub(super) fn flush_where(&self, zone: Option<u16>, pick: impl Fn(&Conn) -> bool) -> usize {
        let mut victims = Vec::new();
        self.visit_chunked(|reply, c| {
            if !reply && zone.is_none_or(|z| z == c.orig.zone) && pick(c) {
                victims.push(c.arc());
            }
        });
        // A connection seen twice (the index grew between two holds) is counted once.
        victims.sort_unstable_by_key(|c| Arc::as_ptr(c) as usize);
        victims.dedup_by_key(|c| Arc::as_ptr(c) as usize);
        let n = victims.len();
        for c in victims {
            self.remove(&c, false);
        }
        n
    }

    /// Live connections (of one zone, or all), sorted for stable output.
    pub fn dump(&self, zone: Option<u16>) -> Vec<ConnSnapshot> {
        self.dump_at(zone, 0)
    }

    /// Like [`Conntrack::dump`], with expiry computed against `now_ms`.
    pub fn dump_at(&self, zone: Option<u16>, now_ms: u64) -> Vec<ConnSnapshot> {
        let mut out = Vec::new();
        for s in self.shards.iter() {
            let m = s.map.lock();
            for (reply, c) in m.iter() {
                let k = &c.orig;
                if reply || zone.is_some_and(|z| z != k.zone) {
                    continue;
                }
                let st = c.st.lock();
                if c.hot.dead() || (now_ms != 0 && c.hot.expires_ms() <= now_ms) {
                    continue;
                }
                let (mark, label) = c.hot.marks();
                out.push(ConnSnapshot {
                    proto: match k.proto {
                        ip_proto::TCP => "tcp",
                        ip_proto::UDP => "udp",
                        ip_proto::SCTP => "sctp",
                        ip_proto::ICMP => "icmp",
                        ip_proto::ICMPV6 => "icmpv6",
                        _ => "other",
                    },
                    proto_num: k.proto,
                    v6: k.v6,
                    orig: (c.orig.src, c.orig.dst, c.orig.sport, c.orig.dport),
                    reply: (c.reply.src, c.reply.dst, c.reply.sport, c.reply.dport),
                    zone: k.zone,
                    mark,
                    label,
                    tcp_state: match &st.p {
                        PState::Tcp(t) => Some(t.state_name()),
                        _ => None,
                    },
                    expires_in_ms: c.hot.expires_ms().saturating_sub(now_ms),
                    packets: c.hot.packets(),
                });
            }
        }
        out.sort_by_key(|a| (a.zone, a.proto_num, a.orig));
        out
    }
}
