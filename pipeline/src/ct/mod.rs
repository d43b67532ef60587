//! Connection tracking with the semantics of Open vSwitch's userspace conntrack.
//!
//! Design:
//! - A connection is stored once (`Arc<Conn>`) and indexed under two keys: its original
//!   tuple and its reply tuple (the reverse of the *translated* tuple when NAT applies), so
//!   a packet from either side finds it with one hash lookup.
//! - The index is sharded by key hash; each shard is a hashbrown map under a parking_lot
//!   mutex held only for the map operation. Per-connection state has its own small mutex,
//!   held only while one packet updates it. No lock is held across other packet work and
//!   there is no global lock on the fast path.
//! - Time is the caller's (milliseconds), so tests and benchmarks are deterministic; an
//!   expired connection is treated as absent even before a sweep removes it.
//! - Hashing is seeded per instance, so hostile traffic cannot aim at buckets it has not
//!   observed.
//!
//! Differences from OVS, on purpose:
//! - TCP connections are only picked up from a SYN (OVS also creates them from mid-stream
//!   ACKs). A non-SYN packet for an unknown connection is `+inv`. `tcp_midstream_pickup`
//!   restores OVS's behaviour.
//! - IP fragments are not reassembled: a fragment is `+inv`.
//! - The table limit refuses new commits (`refused`) instead of passing them uncommitted.
//! - ICMP errors for NATed connections get `+rel` but their embedded header is not
//!   rewritten.

mod tcp;

use crate::flow::{ct_state as cs, eth_type, ip_proto};
use crate::ofctl::{IpRange, Nat, NatKind};
use parking_lot::Mutex;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tcp::{TcpConn, TcpUpdate};

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
    /// NAT allocations that failed (no free tuple).
    pub nat_exhausted: u64,
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

#[derive(Debug)]
struct ConnState {
    p: PState,
    expires_ms: u64,
    mark: u32,
    label: u128,
    packets: [u64; 2],
    bytes: [u64; 2],
    dead: bool,
}

#[derive(Debug)]
struct Conn {
    orig: Key,
    reply: Key,
    proto: Proto,
    /// NAT applied in the original direction, if any.
    nat: Option<NatKind>,
    st: Mutex<ConnState>,
}

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

/// One lock's worth of the connection index: both directions' keys of each connection,
/// stored with the hash computed once per lookup (the shard choice and the bucket use
/// different bits of it).
struct Shard {
    map: Mutex<hashbrown::HashTable<(Key, Arc<Conn>)>>,
}

/// The connection tracker.
pub struct Conntrack {
    shards: Box<[Shard]>,
    shard_mask: usize,
    /// Per-instance hash seed (hash flooding needs the seed).
    seed: u64,
    cfg: ConntrackConfig,
    n_conns: AtomicUsize,
    by_proto: [AtomicUsize; 4],
    committed: AtomicU64,
    expired: AtomicU64,
    refused: AtomicU64,
    invalid: AtomicU64,
    nat_exhausted: AtomicU64,
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

/// ICMP query types and their replies (v4 and v6).
fn icmp_reply_type(v6: bool, ty: u8) -> Option<u8> {
    if v6 {
        match ty {
            128 => Some(129),
            _ => None,
        }
    } else {
        match ty {
            8 => Some(0),
            13 => Some(14),
            15 => Some(16),
            17 => Some(18),
            _ => None,
        }
    }
}

fn icmp_is_error(v6: bool, ty: u8) -> bool {
    if v6 {
        matches!(ty, 1..=4)
    } else {
        matches!(ty, 3 | 4 | 5 | 11 | 12)
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
        let shards = (0..n)
            .map(|_| Shard {
                map: Mutex::new(hashbrown::HashTable::new()),
            })
            .collect();
        Conntrack {
            shards,
            shard_mask: n - 1,
            seed: cfg.seed,
            cfg,
            n_conns: AtomicUsize::new(0),
            by_proto: Default::default(),
            committed: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            nat_exhausted: AtomicU64::new(0),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ConntrackConfig {
        &self.cfg
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
        // hashbrown takes the bucket from the low bits and its tag from the top 7;
        // the shard must come from bits neither uses, or every key in a shard
        // would share bucket bits and probe chains would grow with the shard count.
        &self.shards[(hash >> 40) as usize & self.shard_mask]
    }

    fn get(&self, k: &Key) -> Option<Arc<Conn>> {
        let h = self.key_hash(k);
        self.shard(h)
            .map
            .lock()
            .find(h, |(kk, _)| kk == k)
            .map(|(_, c)| c.clone())
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
            nat_exhausted: self.nat_exhausted.load(Ordering::Relaxed),
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

    /// Runs one packet through conntrack (the datapath `ct` action).
    pub fn execute(&self, pkt: &CtPacket<'_>, cmd: &CtCommand<'_>, now_ms: u64) -> CtVerdict {
        let v6 = match pkt.eth_type {
            eth_type::IPV4 => false,
            eth_type::IPV6 => true,
            _ => return self.invalid(cmd.zone),
        };
        if pkt.is_fragment {
            return self.invalid(cmd.zone);
        }
        let proto = proto_of(pkt.proto);
        // Validate the L4 header and build the key.
        let mut key = Key {
            zone: cmd.zone,
            v6,
            proto: pkt.proto,
            src: pkt.src,
            dst: pkt.dst,
            sport: 0,
            dport: 0,
        };
        match proto {
            Proto::Tcp => {
                if pkt.l4.len() < 20 || usize::from(pkt.l4[12] >> 4) * 4 < 20 {
                    return self.invalid(cmd.zone);
                }
                key.sport = pkt.src_port;
                key.dport = pkt.dst_port;
            }
            Proto::Udp => {
                if pkt.l4.len() < 8 {
                    return self.invalid(cmd.zone);
                }
                key.sport = pkt.src_port;
                key.dport = pkt.dst_port;
            }
            Proto::Icmp => {
                if pkt.l4.len() < 8 {
                    return self.invalid(cmd.zone);
                }
                let ty = pkt.l4[0];
                let code = pkt.l4[1];
                if icmp_is_error(v6, ty) {
                    return self.related(pkt, v6, cmd, now_ms);
                }
                let id = u16::from_be_bytes([pkt.l4[4], pkt.l4[5]]);
                key.sport = id;
                key.dport = (u16::from(ty) << 8) | u16::from(code);
            }
            Proto::Other => {}
        }
        // Look up in either direction. A live connection and a valid packet (nearly every
        // packet) are served under the shard lock without taking a reference to the
        // connection; the rest leave with one, to be removed once the lock is released.
        let h = self.key_hash(&key);
        let ended = {
            let map = self.shard(h).map.lock();
            match map.find(h, |e| e.0 == key) {
                None => None,
                Some((_, conn)) => {
                    let reply = conn.reply == key && conn.orig != key;
                    let mut st = conn.st.lock();
                    if st.dead || st.expires_ms <= now_ms {
                        Some((conn.clone(), true))
                    } else {
                        match self.update(conn, &mut st, pkt, reply, now_ms) {
                            Upd::Invalid => {
                                drop(st);
                                drop(map);
                                return self.invalid(cmd.zone);
                            }
                            // A new connection on the same tuple, or a forced commit in
                            // the reply direction: this one ends, a new one may start.
                            Upd::Recreate => {
                                st.dead = true;
                                Some((conn.clone(), false))
                            }
                            Upd::Valid | Upd::ValidNew if cmd.force && cmd.commit && reply => {
                                st.dead = true;
                                Some((conn.clone(), false))
                            }
                            upd @ (Upd::Valid | Upd::ValidNew) => {
                                let d = usize::from(reply);
                                st.packets[d] += 1;
                                st.bytes[d] += pkt.l4_len as u64;
                                if cmd.commit {
                                    if let Some((v, m)) = cmd.set_mark {
                                        st.mark = (st.mark & !m) | (v & m);
                                    }
                                    if let Some((v, m)) = cmd.set_label {
                                        st.label = (st.label & !m) | (v & m);
                                    }
                                }
                                let mut state = cs::TRK
                                    | if upd == Upd::ValidNew {
                                        cs::NEW
                                    } else {
                                        cs::EST
                                    };
                                if reply {
                                    state |= cs::RPL;
                                }
                                let nat = cmd.nat.and_then(|_| conn_nat_rewrite(conn, reply));
                                if nat.is_some() {
                                    state |= match conn.nat {
                                        Some(NatKind::Src) => cs::SNAT,
                                        Some(NatKind::Dst) => cs::DNAT,
                                        None => 0,
                                    };
                                }
                                return CtVerdict {
                                    state,
                                    zone: cmd.zone,
                                    mark: st.mark,
                                    label: st.label,
                                    nat,
                                    refused: false,
                                };
                            }
                        }
                    }
                }
            }
        };
        if let Some((conn, expired)) = ended {
            self.remove(&conn, expired);
        }
        // No connection: may this packet start one?
        let valid_new = match proto {
            Proto::Tcp => {
                let f = pkt.tcp_flags;
                !tcp::invalid_flags(f)
                    && if self.cfg.tcp_midstream_pickup {
                        !(f & 0x002 != 0 && f & 0x010 != 0)
                    } else {
                        f & 0x002 != 0 && f & 0x010 == 0
                    }
            }
            Proto::Icmp => icmp_reply_type(v6, (key.dport >> 8) as u8).is_some(),
            _ => true,
        };
        if !valid_new {
            return self.invalid(cmd.zone);
        }
        let mut v = CtVerdict {
            state: cs::TRK | cs::NEW,
            zone: cmd.zone,
            ..Default::default()
        };
        if !cmd.commit {
            return v;
        }
        if self.len() >= self.cfg.max_connections {
            self.refused.fetch_add(1, Ordering::Relaxed);
            v.refused = true;
            return v;
        }
        let mark = cmd.set_mark.map_or(0, |(val, m)| val & m);
        let label = cmd.set_label.map_or(0, |(val, m)| val & m);
        // The reply tuple, with NAT if asked.
        let mut translated = key;
        let mut nat_kind = None;
        if let Some(n) = cmd.nat.filter(|n| n.kind.is_some()) {
            match self.nat_select(&key, n, proto) {
                Some(t) => {
                    translated = t;
                    nat_kind = n.kind;
                }
                None => {
                    self.nat_exhausted.fetch_add(1, Ordering::Relaxed);
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    v.refused = true;
                    return v;
                }
            }
        }
        let reply_key = reply_key(&translated, proto);
        let p = match proto {
            Proto::Tcp => match TcpConn::new(pkt) {
                Some(t) => PState::Tcp(t),
                None => return self.invalid(cmd.zone),
            },
            Proto::Icmp => PState::Icmp(false),
            _ => PState::Other(0),
        };
        let timeout = match proto {
            Proto::Tcp => self.cfg.timeouts.tcp_syn_sent,
            Proto::Icmp => self.cfg.timeouts.icmp_first,
            _ => self.cfg.timeouts.udp_first,
        };
        let conn = Arc::new(Conn {
            orig: key,
            reply: reply_key,
            proto,
            nat: nat_kind,
            st: Mutex::new(ConnState {
                p,
                expires_ms: now_ms + timeout,
                mark,
                label,
                packets: [1, 0],
                bytes: [pkt.l4_len as u64, 0],
                dead: false,
            }),
        });
        if !self.insert(&conn) {
            // Lost a race with another core committing the same tuple: use theirs.
            return self.execute(
                pkt,
                &CtCommand {
                    commit: false,
                    ..*cmd
                },
                now_ms,
            );
        }
        self.committed.fetch_add(1, Ordering::Relaxed);
        v.mark = mark;
        v.label = label;
        if nat_kind.is_some() && cmd.nat.is_some() {
            v.nat = conn_nat_rewrite(&conn, false);
            v.state |= if nat_kind == Some(NatKind::Src) {
                cs::SNAT
            } else {
                cs::DNAT
            };
        }
        v
    }

    /// Inserts both keys; false if either is taken by a live connection.
    fn insert(&self, conn: &Arc<Conn>) -> bool {
        let (ha, hb) = (self.key_hash(&conn.orig), self.key_hash(&conn.reply));
        let a = self.shard(ha);
        let b = self.shard(hb);
        let rehash = |e: &(Key, Arc<Conn>)| self.key_hash(&e.0);
        let same = std::ptr::eq(a, b);
        if same {
            let mut m = a.map.lock();
            if m.find(ha, |e| e.0 == conn.orig).is_some()
                || m.find(hb, |e| e.0 == conn.reply).is_some()
            {
                return false;
            }
            m.insert_unique(ha, (conn.orig, conn.clone()), rehash);
            m.insert_unique(hb, (conn.reply, conn.clone()), rehash);
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
            if ma.find(ha, |e| e.0 == conn.orig).is_some()
                || mb.find(hb, |e| e.0 == conn.reply).is_some()
            {
                return false;
            }
            ma.insert_unique(ha, (conn.orig, conn.clone()), rehash);
            mb.insert_unique(hb, (conn.reply, conn.clone()), rehash);
        }
        self.n_conns.fetch_add(1, Ordering::Relaxed);
        self.by_proto[proto_idx(conn.proto)].fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Removes a connection's keys (if they still point at it).
    fn remove(&self, conn: &Arc<Conn>, expired: bool) {
        let mut removed = false;
        for k in [conn.orig, conn.reply] {
            let h = self.key_hash(&k);
            let mut m = self.shard(h).map.lock();
            if let Ok(e) = m.find_entry(h, |e| e.0 == k && Arc::ptr_eq(&e.1, conn)) {
                e.remove();
                removed = true;
            }
        }
        if removed {
            self.n_conns.fetch_sub(1, Ordering::Relaxed);
            self.by_proto[proto_idx(conn.proto)].fetch_sub(1, Ordering::Relaxed);
            if expired {
                self.expired.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn update(
        &self,
        conn: &Conn,
        st: &mut ConnState,
        pkt: &CtPacket<'_>,
        reply: bool,
        now_ms: u64,
    ) -> Upd {
        let t = &self.cfg.timeouts;
        match &mut st.p {
            PState::Tcp(tc) => match tc.update(pkt, reply) {
                TcpUpdate::Invalid => Upd::Invalid,
                TcpUpdate::New => Upd::Recreate,
                TcpUpdate::ValidNew => {
                    st.expires_ms = now_ms + t.tcp_syn_sent;
                    Upd::ValidNew
                }
                TcpUpdate::Valid(tm) => {
                    st.expires_ms = now_ms
                        + match tm {
                            tcp::Timer::Opening => t.tcp_syn_recv,
                            tcp::Timer::Established => t.tcp_established,
                            tcp::Timer::Closing => t.tcp_fin_wait,
                            tcp::Timer::FinWait => t.tcp_time_wait,
                            tcp::Timer::Closed => t.tcp_close,
                            tcp::Timer::Unchanged => return Upd::Valid,
                        };
                    Upd::Valid
                }
            },
            PState::Other(s) => {
                if reply && *s != 2 {
                    *s = 2;
                } else if *s == 0 {
                    *s = 1;
                }
                st.expires_ms = now_ms
                    + match *s {
                        2 => t.udp_multiple,
                        1 => t.udp_single,
                        _ => t.udp_first,
                    };
                let _ = conn;
                if *s == 2 {
                    Upd::Valid
                } else {
                    Upd::ValidNew
                }
            }
            PState::Icmp(replied) => {
                let r = if reply && !*replied {
                    *replied = true;
                    Upd::Valid
                } else if !*replied {
                    Upd::ValidNew
                } else {
                    Upd::Valid
                };
                st.expires_ms = now_ms + if *replied { t.icmp_reply } else { t.icmp_first };
                r
            }
        }
    }

    /// ICMP errors: `+rel` if the embedded packet belongs to a connection.
    fn related(&self, pkt: &CtPacket<'_>, v6: bool, cmd: &CtCommand<'_>, now_ms: u64) -> CtVerdict {
        let inner = &pkt.l4[8..];
        let (src, dst, proto, l4) = if v6 {
            if inner.len() < 40 {
                return self.invalid(cmd.zone);
            }
            let mut s = [0u8; 16];
            s.copy_from_slice(&inner[8..24]);
            let mut d = [0u8; 16];
            d.copy_from_slice(&inner[24..40]);
            (
                u128::from_be_bytes(s),
                u128::from_be_bytes(d),
                inner[6],
                &inner[40..],
            )
        } else {
            if inner.len() < 20 || inner[0] >> 4 != 4 {
                return self.invalid(cmd.zone);
            }
            let ihl = usize::from(inner[0] & 0xf) * 4;
            if ihl < 20 || inner.len() < ihl {
                return self.invalid(cmd.zone);
            }
            (
                u128::from(u32::from_be_bytes([
                    inner[12], inner[13], inner[14], inner[15],
                ])),
                u128::from(u32::from_be_bytes([
                    inner[16], inner[17], inner[18], inner[19],
                ])),
                inner[9],
                &inner[ihl..],
            )
        };
        if l4.len() < 8 {
            return self.invalid(cmd.zone);
        }
        let (sport, dport) = match proto_of(proto) {
            Proto::Icmp => {
                let id = u16::from_be_bytes([l4[4], l4[5]]);
                (id, (u16::from(l4[0]) << 8) | u16::from(l4[1]))
            }
            Proto::Other => (0, 0),
            _ => (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
            ),
        };
        // The embedded packet went the other way: it was sent by the error's destination.
        let k = Key {
            zone: cmd.zone,
            v6,
            proto,
            src,
            dst,
            sport,
            dport,
        };
        let Some(conn) = self.get(&k) else {
            return self.invalid(cmd.zone);
        };
        let st = conn.st.lock();
        if st.dead || st.expires_ms <= now_ms {
            return self.invalid(cmd.zone);
        }
        // The error travels opposite to the embedded packet.
        let embedded_is_orig = conn.orig == k;
        let mut state = cs::TRK | cs::REL;
        if embedded_is_orig {
            state |= cs::RPL;
        }
        CtVerdict {
            state,
            zone: cmd.zone,
            mark: st.mark,
            label: st.label,
            nat: None,
            refused: false,
        }
    }

    /// Picks a translated tuple for a new NATed connection, avoiding collisions.
    fn nat_select(&self, key: &Key, n: &Nat, proto: Proto) -> Option<Key> {
        let kind = n.kind?;
        let (lo, hi) = match n.addr {
            Some((IpRange::V4(a), IpRange::V4(b))) => (u128::from(a), u128::from(b)),
            Some((IpRange::V6(a), IpRange::V6(b))) => (a, b),
            Some(_) => return None,
            None => match kind {
                NatKind::Src => (key.src, key.src),
                NatKind::Dst => (key.dst, key.dst),
            },
        };
        let has_ports = matches!(proto, Proto::Tcp | Proto::Udp)
            || (proto == Proto::Icmp && kind == NatKind::Src);
        let cur_port = match kind {
            NatKind::Src => key.sport,
            NatKind::Dst => key.dport,
        };
        let (plo, phi) = match (n.ports, has_ports) {
            (Some(r), true) => r,
            (None, true) if kind == NatKind::Src => {
                // Keep the port if free, else pick from the ephemeral range.
                (cur_port, cur_port)
            }
            _ => (cur_port, cur_port),
        };
        let n_addr = (hi - lo).saturating_add(1).min(1 << 20);
        let n_port = u128::from(phi - plo) + 1;
        let kh = self.key_hash(key);
        let h = if n.random {
            // Per-connection randomness derived from the tuple and a counter.
            crate::classifier::hash_finish(kh ^ self.committed.load(Ordering::Relaxed))
        } else {
            kh
        };
        let base_a = u128::from(h) % n_addr;
        let base_p = u128::from(h >> 20) % n_port;
        let attempts = (n_addr * n_port).min(4096);
        let port_fallback = kind == NatKind::Src && n.ports.is_none() && has_ports;
        for i in 0..attempts {
            let ai = (base_a + i / n_port) % n_addr;
            let pi = (base_p + i) % n_port;
            let addr = lo + ai;
            let port = plo.wrapping_add(pi as u16);
            let mut t = *key;
            match kind {
                NatKind::Src => {
                    t.src = addr;
                    if has_ports {
                        t.sport = port;
                    }
                }
                NatKind::Dst => {
                    t.dst = addr;
                    if has_ports {
                        t.dport = port;
                    }
                }
            }
            if self.get(&reply_key(&t, proto)).is_none() {
                return Some(t);
            }
        }
        if !port_fallback {
            return None;
        }
        // Source port taken: search the ephemeral range.
        self.nat_select(
            key,
            &Nat {
                ports: Some((1024, 65535)),
                ..*n
            },
            proto,
        )
    }

    /// Removes expired connections; returns how many.
    pub fn expire(&self, now_ms: u64) -> usize {
        let mut victims = Vec::new();
        for s in self.shards.iter() {
            let m = s.map.lock();
            for (_, c) in m.iter() {
                let st = c.st.lock();
                if st.dead || st.expires_ms <= now_ms {
                    victims.push(c.clone());
                }
            }
        }
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
        let mut victims = Vec::new();
        for s in self.shards.iter() {
            let m = s.map.lock();
            for (k, c) in m.iter() {
                if *k == c.orig && zone.is_none_or(|z| z == k.zone) {
                    victims.push(c.clone());
                }
            }
        }
        let n = victims.len();
        for c in victims {
            c.st.lock().dead = true;
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
            for (k, c) in m.iter() {
                if *k != c.orig || zone.is_some_and(|z| z != k.zone) {
                    continue;
                }
                let st = c.st.lock();
                if st.dead || (now_ms != 0 && st.expires_ms <= now_ms) {
                    continue;
                }
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
                    mark: st.mark,
                    label: st.label,
                    tcp_state: match &st.p {
                        PState::Tcp(t) => Some(t.state_name()),
                        _ => None,
                    },
                    expires_in_ms: st.expires_ms.saturating_sub(now_ms),
                    packets: st.packets,
                });
            }
        }
        out.sort_by_key(|a| (a.zone, a.proto_num, a.orig));
        out
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Upd {
    Invalid,
    Recreate,
    Valid,
    ValidNew,
}

/// The rewrite a packet of `conn` needs in its direction.
fn conn_nat_rewrite(conn: &Conn, reply: bool) -> Option<NatRewrite> {
    let kind = conn.nat?;
    // The translated original tuple is the reverse of the reply tuple.
    let mut t = reverse(&conn.reply);
    if conn.proto == Proto::Icmp {
        t.sport = conn.reply.sport;
    }
    let o = &conn.orig;
    Some(match (kind, reply) {
        (NatKind::Dst, false) => NatRewrite {
            src: None,
            dst: Some((t.dst, t.dport)),
        },
        (NatKind::Dst, true) => NatRewrite {
            src: Some((o.dst, o.dport)),
            dst: None,
        },
        (NatKind::Src, false) => NatRewrite {
            src: Some((t.src, t.sport)),
            dst: None,
        },
        (NatKind::Src, true) => NatRewrite {
            src: None,
            dst: Some((o.src, o.sport)),
        },
    })
}

#[cfg(test)]
mod tests;
