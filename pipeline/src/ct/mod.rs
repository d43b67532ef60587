//! Connection tracking with the semantics of Open vSwitch's userspace conntrack.
//!
//! Design:
//! - A connection is stored once (`Arc<Conn>`) and indexed under two keys: its original
//!   tuple and its reply tuple (the reverse of the *translated* tuple when NAT applies), so
//!   a packet from either side finds it with one hash lookup.
//! - The index is sharded by key hash; each shard is a table of cache-line buckets
//!   (`index.rs`) under a parking_lot mutex held only for the index operation; a burst's
//!   buckets are prefetched before its lookups run. Per-connection state has its own small mutex,
//!   held only while one packet updates it; a packet of a connection whose protocol state
//!   is final (UDP both ways, ICMP answered) takes no lock at all (`hot.rs`). No lock is
//!   held across other packet work and there is no global lock on the fast path.
//! - Time is the caller's (milliseconds), so tests and benchmarks are deterministic; an
//!   expired connection is treated as absent even before a sweep removes it.
//! - Hashing is seeded per instance, so hostile traffic cannot aim at buckets it has not
//!   observed.
//!
//! Differences from OVS, on purpose:
//! - TCP connections are only picked up from a SYN (OVS also creates them from mid-stream
//!   ACKs). A non-SYN packet for an unknown connection is `+inv`. `tcp_midstream_pickup`
//!   restores OVS's behaviour.
//! - IP fragments are reassembled by the worker that meets them (`crate::ipf`), as OVS's
//!   `ipf` does, but a later fragment then carries the datagram's ports (as the kernel
//!   datapath's reassembled packet); without a reassembler (traces, tools) it is `+inv`.
//! - The table limit refuses new commits (`refused`) instead of passing them uncommitted.

pub mod csum;
mod dump;
mod execute;
mod filter;
mod hot;
mod index;
mod nat;
mod related;
mod tcp;
pub mod zone;

pub use dump::ConnSnapshot;
pub use filter::{TupleError, TupleFilter};

use crate::flow::{ct_state as cs, ip_proto};
use crate::ofctl::{Nat, NatKind};
use hot::Hot;
use index::Shard;
use related::icmp_reply_type;
use spin::mutex::SpinMutex;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tcp::TcpConn;

/// Timeouts in milliseconds, per protocol state. Defaults are OVS's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP after the first SYN.
    pub tcp_syn_sent: u64,
    /// TCP while opening (SYN received).
    pub tcp_syn_recv: u64,
    /// TCP established.
    pub tcp_established: u64,
    /// TCP after FIN in one or both directions.
    pub tcp_fin_wait: u64,
    /// TCP after both sides closed.
    pub tcp_time_wait: u64,
    /// TCP closing.
    pub tcp_close: u64,
    /// UDP (and other protocols) after the first packet.
    pub udp_first: u64,
    /// UDP with packets in one direction only.
    pub udp_single: u64,
    /// UDP with packets both ways.
    pub udp_multiple: u64,
    /// ICMP query before the reply.
    pub icmp_first: u64,
    /// ICMP query after the reply.
    pub icmp_reply: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_syn_sent: 30_000,
            tcp_syn_recv: 30_000,
            tcp_established: 24 * 3600 * 1000,
            tcp_fin_wait: 15 * 60 * 1000,
            tcp_time_wait: 45_000,
            tcp_close: 30_000,
            udp_first: 60_000,
            udp_single: 60_000,
            udp_multiple: 30_000,
            icmp_first: 60_000,
            icmp_reply: 30_000,
        }
    }
}

/// Conntrack configuration.
#[derive(Clone, Debug)]
pub struct ConntrackConfig {
    /// Maximum connections; commits beyond it are refused.
    pub max_connections: usize,
    /// Number of index shards (rounded up to a power of two).
    pub shards: usize,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Accept TCP connections first seen mid-stream (OVS's behaviour).
    pub tcp_midstream_pickup: bool,
    /// Hash seed (random by default).
    pub seed: u64,
    /// Serve packets of connections whose state is final without their lock (`hot.rs`).
    /// Off: every packet takes the lock (the differential tests' reference).
    pub lock_free_steady: bool,
}

impl Default for ConntrackConfig {
    fn default() -> Self {
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64);
        ConntrackConfig {
            max_connections: 1 << 20,
            shards: 64,
            timeouts: Timeouts::default(),
            tcp_midstream_pickup: false,
            seed,
            lock_free_steady: true,
        }
    }
}

/// A packet as conntrack sees it.
#[derive(Clone, Copy, Debug)]
pub struct CtPacket<'a> {
    /// 0x0800 or 0x86dd; anything else is `+inv`.
    pub eth_type: u16,
    /// Source address (IPv4 in the low 32 bits).
    pub src: u128,
    /// Destination address.
    pub dst: u128,
    /// IP protocol.
    pub proto: u8,
    /// L4 source port (ICMP: type).
    pub src_port: u16,
    /// L4 destination port (ICMP: code).
    pub dst_port: u16,
    /// TCP flags.
    pub tcp_flags: u16,
    /// L4 header and payload present in the frame.
    pub l4: &'a [u8],
    /// L4 length per the IP header.
    pub l4_len: usize,
    /// IP fragment.
    pub is_fragment: bool,
    /// No checksum found wrong ([`csum::verify`]): false makes the packet `+inv`.
    pub csum_ok: bool,
}

/// What the `ct` action asks.
#[derive(Clone, Copy, Debug, Default)]
pub struct CtCommand<'a> {
    /// Zone.
    pub zone: u16,
    /// Commit.
    pub commit: bool,
    /// Force commit.
    pub force: bool,
    /// NAT, if the action has `nat`.
    pub nat: Option<&'a Nat>,
    /// Mark to write on commit (value, mask).
    pub set_mark: Option<(u32, u32)>,
    /// Label to write on commit (value, mask).
    pub set_label: Option<(u128, u128)>,
}

/// A rewrite the caller must apply to the packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NatRewrite {
    /// New source (address, port/ICMP id).
    pub src: Option<(u128, u16)>,
    /// New destination (address, port).
    pub dst: Option<(u128, u16)>,
}

/// The result of running a packet through conntrack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtVerdict {
    /// `ct_state` bits.
    pub state: u8,
    /// Zone.
    pub zone: u16,
    /// Connection mark.
    pub mark: u32,
    /// Connection label.
    pub label: u128,
    /// NAT rewrite to apply.
    pub nat: Option<NatRewrite>,
    /// A commit was refused: the table is full.
    pub refused: bool,
    /// The packet is an ICMP error of a NATed connection: `nat` rewrites its outer
    /// addresses (no ports), and the packet it quotes, which went the other way, takes the
    /// same endpoints swapped (`dst` as its source, `src` as its destination). Beside
    /// `refused`, not in the rewrite: the verdict stays the size it was.
    pub nat_quoted: bool,
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtStats {
    /// Connections now.
    pub connections: usize,
    /// Connections committed since start.
    pub committed: u64,
    /// Connections expired since start.
    pub expired: u64,
    /// Commits refused because the table was full.
    pub refused_full: u64,
    /// Packets found invalid.
    pub invalid: u64,
    /// Of those, packets with a wrong IPv4, TCP, UDP, ICMP or ICMPv6 checksum.
    pub bad_checksum: u64,
    /// NAT allocations that failed (no free tuple).
    pub nat_exhausted: u64,
    /// Commits refused because their zone held its limit of connections.
    pub zone_limited: u64,
    /// Connections by protocol now: TCP, UDP, ICMP, other.
    pub by_proto: [usize; 4],
}

/// A connection tuple in one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    zone: u16,
    v6: bool,
    proto: u8,
    src: u128,
    dst: u128,
    /// TCP/UDP: ports. ICMP query: (id, type<<8|code).
    sport: u16,
    dport: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Tcp,
    Udp,
    Icmp,
    Other,
}

#[derive(Debug)]
enum PState {
    Tcp(TcpConn),
    /// First / multiple (one direction) / bidir.
    Other(u8),
    /// First / reply.
    Icmp(bool),
}

/// What only a packet holding the connection's lock may change.
#[derive(Debug)]
struct ConnState {
    p: PState,
}

#[derive(Debug)]
struct Conn {
    orig: Key,
    reply: Key,
    proto: Proto,
    /// NAT applied in the original direction, if any.
    nat: Option<NatKind>,
    /// Expiry, counters, mark and label: read and written without the lock (`hot.rs`).
    hot: Hot,
    /// Held while one packet updates the protocol state (a TCP segment, a packet that
    /// makes the state final): a spin lock, whose release is a plain store, so a hold costs
    /// one locked instruction (a parking_lot mutex's release is a second compare-and-swap).
    /// Holds are a few dozen instructions and never span other work.
    st: SpinMutex<ConnState>,
}

/// A packet's tuple hash, from [`Conntrack::prefetch`] to [`Conntrack::prefetch_conn`]
/// and [`Conntrack::execute_hinted`].
#[derive(Clone, Copy, Debug)]
pub struct CtHash(u64);

/// A connection, held by the fast path as the hint of where a cached flow's packets
/// belong ([`Conntrack::execute_hinted`]). Holding one keeps the connection's memory, not
/// its entry in the table.
#[derive(Clone)]
pub struct ConnRef(Arc<Conn>);

impl std::fmt::Debug for ConnRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnRef({:?} -> {:?})", self.0.orig, self.0.reply)
    }
}

/// The connection tracker.
pub struct Conntrack {
    shards: Box<[Shard]>,
    shard_mask: usize,
    /// Per-instance hash seed (hash flooding needs the seed).
    seed: u64,
    cfg: ConntrackConfig,
    /// The limit in force (`cfg.max_connections` at start; `dpctl/ct-set-maxconns` moves it).
    max_conns: AtomicUsize,
    n_conns: AtomicUsize,
    by_proto: [AtomicUsize; 4],
    committed: AtomicU64,
    expired: AtomicU64,
    refused: AtomicU64,
    invalid: AtomicU64,
    bad_checksum: AtomicU64,
    nat_exhausted: AtomicU64,
    /// Fragment reassembly's settings and counters (the fragments are the workers').
    pub ipf: Arc<crate::ipf::IpfShared>,
    /// Per-zone connection limits and counts.
    pub zones: zone::ZoneLimits,
    zone_limited: AtomicU64,
    /// No connection expires before this time (ms): the sweep has nothing to do until
    /// then (`Conntrack::expire`).
    next_sweep_ms: AtomicU64,
}

fn proto_of(p: u8) -> Proto {
    match p {
        ip_proto::TCP => Proto::Tcp,
        ip_proto::UDP | ip_proto::SCTP => Proto::Udp,
        ip_proto::ICMP | ip_proto::ICMPV6 => Proto::Icmp,
        _ => Proto::Other,
    }
}

fn proto_idx(p: Proto) -> usize {
    match p {
        Proto::Tcp => 0,
        Proto::Udp => 1,
        Proto::Icmp => 2,
        Proto::Other => 3,
    }
}

/// The reply-direction key of a (translated) original key.
fn reply_key(t: &Key, proto: Proto) -> Key {
    let mut r = reverse(t);
    if proto == Proto::Icmp {
        let ty = (t.dport >> 8) as u8;
        let rt = icmp_reply_type(t.v6, ty).unwrap_or(ty);
        r.sport = t.sport;
        r.dport = (u16::from(rt) << 8) | (t.dport & 0xff);
    }
    r
}

fn reverse(k: &Key) -> Key {
    Key {
        zone: k.zone,
        v6: k.v6,
        proto: k.proto,
        src: k.dst,
        dst: k.src,
        sport: k.dport,
        dport: k.sport,
    }
}

impl Conntrack {
    /// A tracker with `cfg`.
    pub fn new(cfg: ConntrackConfig) -> Self {
        let n = cfg.shards.max(1).next_power_of_two();
        let shards = (0..n).map(|_| Shard::new()).collect();
        Conntrack {
            shards,
            shard_mask: n - 1,
            seed: cfg.seed,
            max_conns: AtomicUsize::new(cfg.max_connections),
            cfg,
            n_conns: AtomicUsize::new(0),
            by_proto: Default::default(),
            committed: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            bad_checksum: AtomicU64::new(0),
            nat_exhausted: AtomicU64::new(0),
            ipf: Arc::default(),
            zones: zone::ZoneLimits::default(),
            zone_limited: AtomicU64::new(0),
            next_sweep_ms: AtomicU64::new(0),
        }
    }

    /// The shortest timeout of any state: a connection whose expiry is set at time `t`
    /// (committed, or moved to another state) expires no earlier than `t` plus this.
    fn min_timeout_ms(&self) -> u64 {
        let t = &self.cfg.timeouts;
        [
            t.tcp_syn_sent,
            t.tcp_syn_recv,
            t.tcp_established,
            t.tcp_fin_wait,
            t.tcp_time_wait,
            t.tcp_close,
            t.udp_first,
            t.udp_single,
            t.udp_multiple,
            t.icmp_first,
            t.icmp_reply,
        ]
        .into_iter()
        .min()
        .unwrap_or(0)
    }

    /// The configuration (as started: [`Conntrack::max_connections`] is the limit now).
    pub fn config(&self) -> &ConntrackConfig {
        &self.cfg
    }

    /// The connection limit in force: commits beyond it are refused.
    pub fn max_connections(&self) -> usize {
        self.max_conns.load(Ordering::Relaxed)
    }

    /// Moves the connection limit (OVS's `dpctl/ct-set-maxconns`): connections already
    /// tracked stay; new ones are refused while there are as many as the limit.
    pub fn set_max_connections(&self, n: usize) {
        self.max_conns.store(n, Ordering::Relaxed);
    }

    /// The key's hash: five 64-bit words (two for IPv4) through the classifier's mixer.
    #[inline]
    fn key_hash(&self, k: &Key) -> u64 {
        use crate::classifier::{hash_finish, hash_word};
        let w0 = u64::from(k.zone)
            | u64::from(k.v6) << 16
            | u64::from(k.proto) << 24
            | u64::from(k.sport) << 32
            | u64::from(k.dport) << 48;
        let mut h = hash_word(self.seed, w0);
        h = hash_word(h, k.src as u64);
        h = hash_word(h, k.dst as u64);
        if k.v6 {
            h = hash_word(h, (k.src >> 64) as u64);
            h = hash_word(h, (k.dst >> 64) as u64);
        }
        hash_finish(h)
    }

    #[inline]
    fn shard(&self, hash: u64) -> &Shard {
        // The index takes its signature and home bucket from the top 32 bits; the shard
        // takes the low bits, which neither uses.
        &self.shards[hash as usize & self.shard_mask]
    }

    /// Starts fetching the index bucket in which `pkt`'s connection in `zone` would be
    /// found, so that the cache misses of a burst's lookups overlap: the caller runs this
    /// over the burst, then [`Conntrack::prefetch_conn`] over it, then conntrack over each
    /// packet. Without the shard's lock; it changes nothing. None for a packet that takes
    /// no lookup (not trackable, an ICMP error).
    #[inline]
    pub fn prefetch(&self, pkt: &CtPacket<'_>, zone: u16) -> Option<CtHash> {
        match execute::packet_key(pkt, zone) {
            execute::KeyOf::Key(key, ..) => {
                let h = self.key_hash(&key);
                self.shard(h).prefetch(h);
                Some(CtHash(h))
            }
            _ => None,
        }
    }

    /// Second step of [`Conntrack::prefetch`], once the bucket has had time to arrive:
    /// starts fetching the connection its signature points at.
    #[inline]
    pub fn prefetch_conn(&self, h: CtHash) {
        self.shard(h.0).prefetch_conns(h.0);
    }

    fn get(&self, k: &Key) -> Option<Arc<Conn>> {
        let h = self.key_hash(k);
        self.shard(h).map.lock().find(h, k).map(|(c, _)| c.arc())
    }

    /// Number of connections.
    pub fn len(&self) -> usize {
        self.n_conns.load(Ordering::Relaxed)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counters.
    pub fn stats(&self) -> CtStats {
        CtStats {
            connections: self.len(),
            committed: self.committed.load(Ordering::Relaxed),
            expired: self.expired.load(Ordering::Relaxed),
            refused_full: self.refused.load(Ordering::Relaxed),
            invalid: self.invalid.load(Ordering::Relaxed),
            bad_checksum: self.bad_checksum.load(Ordering::Relaxed),
            nat_exhausted: self.nat_exhausted.load(Ordering::Relaxed),
            zone_limited: self.zone_limited.load(Ordering::Relaxed),
            by_proto: [0, 1, 2, 3].map(|i| self.by_proto[i].load(Ordering::Relaxed)),
        }
    }

    fn invalid(&self, zone: u16) -> CtVerdict {
        self.invalid.fetch_add(1, Ordering::Relaxed);
        CtVerdict {
            state: cs::TRK | cs::INV,
            zone,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod hint_tests;
#[cfg(test)]
mod tests;
