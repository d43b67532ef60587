//! The `ct` action on one packet: its key, the connection it belongs to (updated), or a new
//! one committed.

use super::nat::{conn_nat_rewrite, nat_state};
use super::related::{icmp_is_error, icmp_reply_type};
use super::tcp::{self, TcpConn, TcpUpdate};
use super::{
    cs, proto_of, reply_key, Conn, ConnRef, ConnState, Conntrack, CtCommand, CtHash, CtPacket,
    CtVerdict, Hot, Key, PState, Proto,
};
use crate::flow::eth_type;
use spin::mutex::SpinMutex;
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl Conntrack {
    /// Runs one packet through conntrack (the datapath `ct` action).
    pub fn execute(&self, pkt: &CtPacket<'_>, cmd: &CtCommand<'_>, now_ms: u64) -> CtVerdict {
        self.execute_hinted(pkt, cmd, now_ms, None, false, None).0
    }

    /// [`Conntrack::execute`] with a connection the caller expects the packet to belong to
    /// (the fast path remembers the connection each cached flow met last time). The hint
    /// is only a shortcut, never an answer: it is used when its tuple in one direction is
    /// exactly the packet's and it is still live (not ended, not expired) — then it is
    /// the entry the index holds for that tuple, so the verdict is the lookup's — and the
    /// packet is served under the connection's lock alone, without hashing the tuple or
    /// taking the shard's lock. Otherwise the packet takes the lookup as usual. With
    /// `learn`, a connection met without the hint is returned, to be the next hint.
    /// `hash`: the tuple's hash as [`Conntrack::prefetch`] computed it for this packet and
    /// `cmd.zone`, so that the lookup does not hash again.
    #[allow(clippy::too_many_arguments)]
    pub fn execute_hinted(
        &self,
        pkt: &CtPacket<'_>,
        cmd: &CtCommand<'_>,
        now_ms: u64,
        hint: Option<&ConnRef>,
        learn: bool,
        hash: Option<CtHash>,
    ) -> (CtVerdict, Option<ConnRef>) {
        let (key, proto, v6) = match packet_key(pkt, cmd.zone) {
            KeyOf::Key(key, proto, v6) => (key, proto, v6),
            KeyOf::Invalid => return (self.invalid(cmd.zone), None),
            KeyOf::BadChecksum => {
                self.bad_checksum.fetch_add(1, Ordering::Relaxed);
                return (self.invalid(cmd.zone), None);
            }
            KeyOf::IcmpError(v6) => return (self.related(pkt, v6, cmd, now_ms), None),
        };
        if let Some(ConnRef(conn)) = hint {
            // Each 48-byte tuple compared once: the match also gives the direction.
            let reply = conn.orig != key;
            if !reply || conn.reply == key {
                if let Some(v) = self.serve_steady(conn, reply, pkt, cmd, now_ms) {
                    return (v, None);
                }
                let served = {
                    let mut st = conn.st.lock();
                    self.serve(conn, &mut st, reply, pkt, cmd, now_ms)
                };
                match served {
                    Served::Verdict(v) => return (v, None),
                    // The hint has ended; the index may hold a newer connection.
                    Served::Ended(expired) => self.remove(conn, expired),
                }
            }
        }
        let h = hash.map_or_else(|| self.key_hash(&key), |h| h.0);
        debug_assert_eq!(h, self.key_hash(&key), "a prefetch hash of another tuple");
        match self.existing(&key, h, pkt, cmd, now_ms, learn) {
            Some(v) => v,
            None => self.start(key, h, proto, v6, pkt, cmd, now_ms, learn),
        }
    }

    /// The verdict of a packet of a connection already tracked, and the connection when
    /// `learn`; None when there is none (a dead or expired one found on the way is
    /// removed).
    #[inline(always)]
    fn existing(
        &self,
        key: &Key,
        h: u64,
        pkt: &CtPacket<'_>,
        cmd: &CtCommand<'_>,
        now_ms: u64,
        learn: bool,
    ) -> Option<(CtVerdict, Option<ConnRef>)> {
        // Look up in either direction. A live connection and a valid packet (nearly every
        // packet) are served under the shard lock; the rest leave with a reference to the
        // connection, to be removed once the lock is released.
        let ended = {
            let map = self.shard(h).map.lock();
            let (conn, reply) = map.find(h, key)?;
            if let Some(v) = self.serve_steady(&conn, reply, pkt, cmd, now_ms) {
                return Some((v, learn.then(|| ConnRef(conn.arc()))));
            }
            let served = {
                let mut st = conn.st.lock();
                self.serve(&conn, &mut st, reply, pkt, cmd, now_ms)
            };
            match served {
                Served::Verdict(v) => return Some((v, learn.then(|| ConnRef(conn.arc())))),
                Served::Ended(expired) => (conn.arc(), expired),
            }
        };
        self.remove(&ended.0, ended.1);
        None
    }

    /// One packet of a connection whose protocol state is final, without its lock
    /// (`hot.rs` says why this is exact); None when the packet must take the lock (the
    /// state is not final, the connection has ended or expired, the `ct` sets the mark or
    /// label or forces a commit).
    #[inline(always)]
    fn serve_steady(
        &self,
        conn: &Conn,
        reply: bool,
        pkt: &CtPacket<'_>,
        cmd: &CtCommand<'_>,
        now_ms: u64,
    ) -> Option<CtVerdict> {
        let hot = &conn.hot;
        let writes = cmd.commit && (cmd.force || cmd.set_mark.is_some() || cmd.set_label.is_some());
        if writes || !self.cfg.lock_free_steady || !hot.steady() || !hot.live(now_ms) {
            return None;
        }
        hot.set_expires(now_ms + self.steady_timeout(conn.proto));
        hot.count(usize::from(reply), pkt.l4_len as u64);
        let (mark, label) = hot.marks();
        Some(self.verdict(conn, reply, Upd::Valid, cmd, mark, label))
    }

    /// The timeout of a connection whose state is final (UDP both ways, ICMP answered),
    /// the same for the locked and the lock-free path.
    #[inline(always)]
    fn steady_timeout(&self, proto: Proto) -> u64 {
        let t = &self.cfg.timeouts;
        if proto == Proto::Icmp {
            t.icmp_reply
        } else {
            t.udp_multiple
        }
    }

    /// The verdict for a packet of `conn` that the connection took (`upd`).
    #[inline(always)]
    fn verdict(
        &self,
        conn: &Conn,
        reply: bool,
        upd: Upd,
        cmd: &CtCommand<'_>,
        mark: u32,
        label: u128,
    ) -> CtVerdict {
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
            state |= nat_state(conn.nat, reply);
        }
        CtVerdict {
            state,
            zone: cmd.zone,
            mark,
            label,
            nat,
            refused: false,
            nat_quoted: false,
        }
    }

    /// A packet its connection refuses (outside the TCP window, bad flags for the state):
    /// `+trk+inv`, yet with the connection's mark, label and NAT, as OVS's userspace
    /// conntrack gives it (`write_ct_md` and `handle_nat` run on it too), so flows that
    /// match the mark before the `+inv` drop see what they see in OVS.
    #[cold]
    #[inline(never)]
    fn invalid_of(&self, conn: &Conn, reply: bool, cmd: &CtCommand<'_>) -> CtVerdict {
        let mut v = self.invalid(cmd.zone);
        (v.mark, v.label) = conn.hot.marks();
        v.nat = cmd.nat.and_then(|_| conn_nat_rewrite(conn, reply));
        if v.nat.is_some() {
            v.state |= nat_state(conn.nat, reply);
        }
        v
    }

    /// One packet of `conn` (in its reply direction when `reply`), under its lock: the
    /// state updated and the verdict, or why the connection cannot take it. Inlined into
    /// both callers: out of line it cost the looked-up path ~10 % (criterion).
    #[inline(always)]
    fn serve(
        &self,
        conn: &Conn,
        st: &mut ConnState,
        reply: bool,
        pkt: &CtPacket<'_>,
        cmd: &CtCommand<'_>,
        now_ms: u64,
    ) -> Served {
        if !conn.hot.live(now_ms) {
            return Served::Ended(true);
        }
        let upd = self.update(conn, st, pkt, reply, now_ms);
        match upd {
            Upd::Invalid => return Served::Verdict(self.invalid_of(conn, reply, cmd)),
            // A new connection on the same tuple, or a forced commit in the reply
            // direction: this one ends, a new one may start.
            Upd::Recreate => {
                conn.hot.kill();
                return Served::Ended(false);
            }
            Upd::Valid | Upd::ValidNew if cmd.force && cmd.commit && reply => {
                conn.hot.kill();
                return Served::Ended(false);
            }
            Upd::Valid | Upd::ValidNew => {}
        }
        conn.hot.count(usize::from(reply), pkt.l4_len as u64);
        let (mut mark, mut label) = conn.hot.marks();
        if cmd.commit && (cmd.set_mark.is_some() || cmd.set_label.is_some()) {
            if let Some((v, m)) = cmd.set_mark {
                mark = (mark & !m) | (v & m);
            }
            if let Some((v, m)) = cmd.set_label {
                label = (label & !m) | (v & m);
            }
            conn.hot.set_marks(mark, label);
        }
        Served::Verdict(self.verdict(conn, reply, upd, cmd, mark, label))
    }

    /// A packet of no connection: whether it may start one, and the commit.
    #[allow(clippy::too_many_arguments)]
    fn start(
        &self,
        key: Key,
        h: u64,
        proto: Proto,
        v6: bool,
        pkt: &CtPacket<'_>,
        cmd: &CtCommand<'_>,
        now_ms: u64,
        learn: bool,
    ) -> (CtVerdict, Option<ConnRef>) {
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
            return (self.invalid(cmd.zone), None);
        }
        let mut v = CtVerdict {
            state: cs::TRK | cs::NEW,
            zone: cmd.zone,
            ..Default::default()
        };
        if !cmd.commit {
            return (v, None);
        }
        if self.len() >= self.max_conns.load(Ordering::Relaxed) {
            self.refused.fetch_add(1, Ordering::Relaxed);
            v.refused = true;
            return (v, None);
        }
        if !self.zones.admits(cmd.zone) {
            self.zone_limited.fetch_add(1, Ordering::Relaxed);
            self.refused.fetch_add(1, Ordering::Relaxed);
            v.refused = true;
            return (v, None);
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
                    return (v, None);
                }
            }
        }
        let reply_key = reply_key(&translated, proto);
        let p = match proto {
            Proto::Tcp => match TcpConn::new(pkt) {
                Some(t) => PState::Tcp(t),
                None => return (self.invalid(cmd.zone), None),
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
            hot: Hot::new(now_ms + timeout, mark, label, pkt.l4_len as u64),
            st: SpinMutex::new(ConnState { p }),
        });
        if !self.insert(&conn, h) {
            // Lost a race with another core committing the same tuple: use theirs.
            let cmd = CtCommand {
                commit: false,
                ..*cmd
            };
            return self.execute_hinted(pkt, &cmd, now_ms, None, learn, Some(CtHash(h)));
        }
        self.committed.fetch_add(1, Ordering::Relaxed);
        v.mark = mark;
        v.label = label;
        if nat_kind.is_some() && cmd.nat.is_some() {
            v.nat = conn_nat_rewrite(&conn, false);
            v.state |= nat_state(nat_kind, false);
        }
        (v, learn.then_some(ConnRef(conn)))
    }

    #[inline(always)]
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
                    conn.hot.set_expires(now_ms + t.tcp_syn_sent);
                    Upd::ValidNew
                }
                TcpUpdate::Valid(tm) => {
                    conn.hot.set_expires(
                        now_ms
                            + match tm {
                                tcp::Timer::Opening => t.tcp_syn_recv,
                                tcp::Timer::Established => t.tcp_established,
                                tcp::Timer::Closing => t.tcp_fin_wait,
                                tcp::Timer::FinWait => t.tcp_time_wait,
                                tcp::Timer::Closed => t.tcp_close,
                                tcp::Timer::Unchanged => return Upd::Valid,
                            },
                    );
                    Upd::Valid
                }
            },
            PState::Other(s) => {
                if reply && *s != 2 {
                    *s = 2;
                } else if *s == 0 {
                    *s = 1;
                }
                conn.hot.set_expires(
                    now_ms
                        + match *s {
                            2 => self.steady_timeout(conn.proto),
                            1 => t.udp_single,
                            _ => t.udp_first,
                        },
                );
                if *s == 2 {
                    // Final: later packets may skip the lock (`serve_steady`).
                    conn.hot.set_steady();
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
                conn.hot.set_expires(
                    now_ms
                        + if *replied {
                            self.steady_timeout(conn.proto)
                        } else {
                            t.icmp_first
                        },
                );
                if *replied {
                    conn.hot.set_steady();
                }
                r
            }
        }
    }
}

/// What a connection made of one packet.
enum Served {
    /// Also an invalid packet's (`+inv`, with the connection's mark, label and NAT).
    Verdict(CtVerdict),
    /// The connection has ended (expired when true): remove it; the packet may start
    /// a new one.
    Ended(bool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Upd {
    Invalid,
    Recreate,
    Valid,
    ValidNew,
}

/// What a packet's headers make of it for conntrack.
pub(super) enum KeyOf {
    /// Its connection key.
    Key(Key, Proto, bool),
    /// Not trackable (not IP, a fragment, a short L4 header): `+inv`.
    Invalid,
    /// A wrong checksum: `+inv`, counted apart.
    BadChecksum,
    /// An ICMP error (IPv6 when true): tracked by the header it carries.
    IcmpError(bool),
}

/// The connection key of a packet, its L4 header checked.
pub(super) fn packet_key(pkt: &CtPacket<'_>, zone: u16) -> KeyOf {
    let v6 = match pkt.eth_type {
        eth_type::IPV4 => false,
        eth_type::IPV6 => true,
        _ => return KeyOf::Invalid,
    };
    if pkt.is_fragment {
        return KeyOf::Invalid;
    }
    if !pkt.csum_ok {
        return KeyOf::BadChecksum;
    }
    let proto = proto_of(pkt.proto);
    // Validate the L4 header and build the key.
    let mut key = Key {
        zone,
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
                return KeyOf::Invalid;
            }
            key.sport = pkt.src_port;
            key.dport = pkt.dst_port;
        }
        Proto::Udp => {
            if pkt.l4.len() < 8 {
                return KeyOf::Invalid;
            }
            key.sport = pkt.src_port;
            key.dport = pkt.dst_port;
        }
        Proto::Icmp => {
            if pkt.l4.len() < 8 {
                return KeyOf::Invalid;
            }
            let ty = pkt.l4[0];
            let code = pkt.l4[1];
            if icmp_is_error(v6, ty) {
                return KeyOf::IcmpError(v6);
            }
            let id = u16::from_be_bytes([pkt.l4[4], pkt.l4[5]]);
            key.sport = id;
            key.dport = (u16::from(ty) << 8) | u16::from(code);
        }
        Proto::Other => {}
    }
    KeyOf::Key(key, proto, v6)
}
