//! A bridge: its ports, OpenFlow tables, MAC-learning table, recirculation states and
//! connection tracker — the state the slow path translates against.
//!
//! Everything here is shared between worker cores. The tables are an immutable snapshot
//! behind a lock that is only taken to clone an `Arc`; the fast path never touches this
//! state except conntrack.

use crate::conntrack::{Conntrack, ConntrackConfig};
use crate::flow::{w, Flow};
use crate::ofctl::GroupEntry;
use crate::ofctl::{parse_flow_file, parse_group_file, FileError, FlowEntry, Mode, PortMap};
use crate::tables::{FlowMod, FlowModError, GroupMod, ModSummary, OfTables};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A Geneve tunnel port's options, as OVS's `options:` column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelPort {
    /// `remote_ip`: `None` means `flow` (taken from `tun_dst`).
    pub remote_ip: Option<u32>,
    /// `local_ip`: outer source; `None` means the uplink's address.
    pub local_ip: Option<u32>,
    /// `key`: `None` means `flow` (taken from `tun_id`).
    pub key: Option<u64>,
    /// Outer UDP checksum.
    pub csum: bool,
    /// UDP destination port.
    pub dst_port: u16,
}

impl Default for TunnelPort {
    fn default() -> Self {
        TunnelPort {
            remote_ip: None,
            local_ip: None,
            key: None,
            csum: false,
            dst_port: 6081,
        }
    }
}

/// What kind of port a port number is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortKind {
    /// An ordinary port (NIC, vhost-user, TAP, ...).
    Normal,
    /// The bridge's internal/gateway port.
    Internal,
    /// A Geneve tunnel port.
    Tunnel(TunnelPort),
}

/// One port of the bridge.
#[derive(Clone, Debug)]
pub struct PortInfo {
    /// OpenFlow port number.
    pub ofport: u32,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: PortKind,
    /// Whether FLOOD and NORMAL flooding include it.
    pub flood: bool,
    /// Built-in proxy ARP (as Linux `proxy_arp`): every ARP request arriving on the port is
    /// answered with this MAC, before the OpenFlow tables.
    pub proxy_arp: Option<u64>,
    /// OpenFlow port configuration a controller set with port-mod ([`port_config`] bits;
    /// no-flood is [`PortInfo::flood`]).
    pub config: u32,
}

/// OpenFlow port configuration bits (OFPPC_*), as port-mod sets them.
pub mod port_config {
    /// Administratively down: nothing is received from or sent to it.
    pub const PORT_DOWN: u32 = 1 << 0;
    /// Packets received on it are dropped.
    pub const NO_RECV: u32 = 1 << 2;
    /// Excluded from flooding (OpenFlow 1.0's bit; [`super::PortInfo::flood`]).
    pub const NO_FLOOD: u32 = 1 << 4;
    /// Packets forwarded to it are dropped.
    pub const NO_FWD: u32 = 1 << 5;
    /// No packet-in for its packets.
    pub const NO_PACKET_IN: u32 = 1 << 6;
    /// The bits a port-mod may change.
    pub const ALL: u32 = PORT_DOWN | NO_RECV | NO_FLOOD | NO_FWD | NO_PACKET_IN;
}

impl PortInfo {
    /// An ordinary port that floods and has no proxy ARP.
    pub fn new(ofport: u32, name: &str, kind: PortKind) -> Self {
        PortInfo {
            ofport,
            name: name.to_string(),
            kind,
            flood: true,
            proxy_arp: None,
            config: 0,
        }
    }

    /// The OFPPC_* configuration bits, no-flood included.
    pub fn config_bits(&self) -> u32 {
        self.config | if self.flood { 0 } else { port_config::NO_FLOOD }
    }
}

/// The set of ports, immutable once published.
#[derive(Clone, Debug, Default)]
pub struct PortTable {
    by_number: BTreeMap<u32, PortInfo>,
    names: PortMap,
}

impl PortTable {
    /// Port by number.
    pub fn get(&self, ofport: u32) -> Option<&PortInfo> {
        self.by_number.get(&ofport)
    }

    /// All ports by number.
    pub fn iter(&self) -> impl Iterator<Item = &PortInfo> {
        self.by_number.values()
    }

    /// The name map for the flow language.
    pub fn names(&self) -> &PortMap {
        &self.names
    }
}

/// Why a port change was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// The number is taken.
    #[error("port number {0} is already in use")]
    NumberInUse(u32),
    /// The name is taken.
    #[error("port name {0:?} is already in use")]
    NameInUse(String),
    /// Numbers must be 1..65279.
    #[error("port number {0} is outside 1..65279 (and not LOCAL, 65534)")]
    BadNumber(u32),
    /// No such port.
    #[error("no port {0}")]
    NoSuchPort(String),
}

/// Why [`Bridge::load_text`] loaded nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Lines of the groups text that do not parse (every one, with its place).
    #[error("groups: {}", lines(.0))]
    Groups(Vec<FileError>),
    /// Lines of the flows text that do not parse.
    #[error("flows: {}", lines(.0))]
    Flows(Vec<FileError>),
    /// The groups or flows parse but the tables refuse them.
    #[error(transparent)]
    Refused(#[from] FlowModError),
}

fn lines(errs: &[FileError]) -> String {
    errs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// MAC learning for the NORMAL action.
#[derive(Debug)]
pub struct MacTable {
    map: HashMap<(u64, u16), (u32, u64)>,
    /// Seconds-equivalent ageing in ms.
    pub ageing_ms: u64,
    /// Maximum entries (oldest evicted).
    pub max_entries: usize,
    /// Bumped on every change that could alter a NORMAL decision.
    pub version: u64,
}

impl MacTable {
    fn new() -> Self {
        MacTable {
            map: HashMap::new(),
            ageing_ms: 300_000,
            max_entries: 8192,
            version: 0,
        }
    }

    /// Learns `mac` on `port`; returns true if the table changed in a way that matters.
    pub fn learn(&mut self, mac: u64, vlan: u16, port: u32, now_ms: u64) -> bool {
        if mac & 0x0100_0000_0000 != 0 {
            return false; // never learn multicast sources
        }
        match self.map.get_mut(&(mac, vlan)) {
            Some(e) if e.0 == port => {
                e.1 = now_ms;
                false
            }
            Some(e) => {
                *e = (port, now_ms);
                self.version += 1;
                true
            }
            None => {
                if self.map.len() >= self.max_entries {
                    if let Some(oldest) = self.map.iter().min_by_key(|(_, v)| v.1).map(|(k, _)| *k)
                    {
                        self.map.remove(&oldest);
                    }
                }
                self.map.insert((mac, vlan), (port, now_ms));
                self.version += 1;
                true
            }
        }
    }

    /// Port a MAC was learned on, if fresh.
    pub fn lookup(&self, mac: u64, vlan: u16, now_ms: u64) -> Option<u32> {
        self.map
            .get(&(mac, vlan))
            .filter(|e| now_ms.saturating_sub(e.1) < self.ageing_ms)
            .map(|e| e.0)
    }

    /// Drops stale entries and entries on `port` (when a port goes away).
    pub fn expire(&mut self, now_ms: u64, gone_port: Option<u32>) {
        let ageing = self.ageing_ms;
        let before = self.map.len();
        self.map
            .retain(|_, e| now_ms.saturating_sub(e.1) < ageing && Some(e.0) != gone_port);
        if self.map.len() != before {
            self.version += 1;
        }
    }

    /// Entries: (mac, vlan, port, age ms).
    pub fn entries(&self, now_ms: u64) -> Vec<(u64, u16, u32, u64)> {
        let mut v: Vec<_> = self
            .map
            .iter()
            .map(|(&(m, vl), &(p, t))| (m, vl, p, now_ms.saturating_sub(t)))
            .collect();
        v.sort();
        v
    }
}

/// The pipeline state a recirculation resumes with (OVS's "frozen state"): the table, and
/// every value the pipeline wrote that the recirculated packet does not carry itself —
/// registers and `metadata` always, and the bits of `in_port`, `pkt_mark` and the tunnel
/// fields that the pipeline changed. Bits it did not change come from the packet's own key
/// on the next pass (and are matched there if read), so the recirculation id depends only
/// on bits the first pass's megaflow already matches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FrozenState {
    /// Table to resume in.
    pub table: u8,
    /// Saved values, one per entry of `FROZEN_WORDS`.
    pub words: [u64; 22],
    /// Which bits of each saved word are frozen.
    pub masks: [u64; 22],
}

/// Word indexes saved in a [`FrozenState`] (with the mask applied to each).
pub(crate) const FROZEN_WORDS: [(usize, u64); 22] = [
    (w::PORT, 0xffff_ffff),
    (w::CT_MARK, 0xffff_ffff_0000_0000),
    (w::TUN_ID, u64::MAX),
    (w::TUN_ADDR, u64::MAX),
    (w::TUN_FLAGS, u64::MAX),
    (w::TUN_MD, u64::MAX),
    (w::TUN_MD + 1, u64::MAX),
    (w::TUN_MD + 2, u64::MAX),
    (w::TUN_MD + 3, u64::MAX),
    (w::TUN_MD + 4, u64::MAX),
    (w::TUN_MD + 5, u64::MAX),
    (w::TUN_MD + 6, u64::MAX),
    (w::TUN_MD + 7, u64::MAX),
    (w::REGS, u64::MAX),
    (w::REGS + 1, u64::MAX),
    (w::REGS + 2, u64::MAX),
    (w::REGS + 3, u64::MAX),
    (w::REGS + 4, u64::MAX),
    (w::REGS + 5, u64::MAX),
    (w::REGS + 6, u64::MAX),
    (w::REGS + 7, u64::MAX),
    (w::METADATA, u64::MAX),
];

impl FrozenState {
    /// Captures the state of `flow` to resume in `table`; `written` says which key bits the
    /// pipeline wrote (only those are frozen).
    pub fn capture(flow: &Flow, written: &Flow, table: u8) -> Self {
        let mut words = [0u64; 22];
        let mut masks = [0u64; 22];
        for (k, (i, m)) in FROZEN_WORDS.iter().enumerate() {
            let mask = if *i >= crate::flow::KEY_WORDS {
                *m
            } else {
                m & written.w[*i]
            };
            masks[k] = mask;
            words[k] = flow.w[*i] & mask;
        }
        FrozenState {
            table,
            words,
            masks,
        }
    }

    /// Writes the frozen bits into `flow` and returns a mask of them.
    pub fn restore(&self, flow: &mut Flow) -> Flow {
        let mut mask = Flow::ZERO;
        for (k, (i, _)) in FROZEN_WORDS.iter().enumerate() {
            let m = self.masks[k];
            flow.w[*i] = (flow.w[*i] & !m) | self.words[k];
            mask.w[*i] |= m;
        }
        mask
    }
}

#[derive(Default)]
struct RecircRegistry {
    ids: HashMap<FrozenState, u32>,
    states: Vec<FrozenState>,
}

/// Resource limits of translation.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Maximum nesting of resubmits.
    pub max_depth: u32,
    /// Maximum resubmits in one translation.
    pub max_resubmits: u32,
    /// Maximum recirculations of one packet.
    pub max_recirc: u32,
    /// Maximum recirculation states (ids).
    pub max_recirc_ids: usize,
    /// Maximum groups.
    pub max_groups: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_resubmits: 4096,
            max_recirc: 6,
            max_recirc_ids: 1 << 20,
            max_groups: 65_536,
        }
    }
}

/// A bridge.
pub struct Bridge {
    /// Name (`br-int`).
    pub name: String,
    tables: RwLock<Arc<OfTables>>,
    ports: RwLock<Arc<PortTable>>,
    pub(crate) macs: Mutex<MacTable>,
    recirc: Mutex<RecircRegistry>,
    /// Connection tracker.
    pub conntrack: Arc<Conntrack>,
    /// Translation limits.
    pub limits: Limits,
    /// Bumped whenever a change may alter a translation (tables, ports, MAC moves).
    generation: AtomicU64,
    /// Bumped whenever the MAC-learning table changes in a way NORMAL could see.
    mac_generation: AtomicU64,
    /// Bumped by changes confined to some tables (learned flows, timeouts), which stamp
    /// the tables they changed in `table_changed`: a megaflow is stale only if one of the
    /// tables its walk looked up changed since its translation.
    table_generation: AtomicU64,
    table_changed: Box<[AtomicU64]>,
    /// Set once a flow with an idle or hard timeout has been added.
    timed_flows: std::sync::atomic::AtomicBool,
    /// The tunnel's underlay: uplink, routes, TLV map, neighbours.
    pub(crate) underlay: crate::tunnel::Underlay,
}

impl Bridge {
    /// A bridge with no ports and no flows.
    pub fn new(name: &str, ct: ConntrackConfig) -> Self {
        Bridge {
            name: name.to_string(),
            tables: RwLock::new(Arc::new(OfTables::default())),
            ports: RwLock::new(Arc::new(PortTable::default())),
            macs: Mutex::new(MacTable::new()),
            recirc: Mutex::new(RecircRegistry::default()),
            conntrack: Arc::new(Conntrack::new(ct)),
            limits: Limits::default(),
            generation: AtomicU64::new(1),
            mac_generation: AtomicU64::new(1),
            table_generation: AtomicU64::new(1),
            table_changed: (0..crate::tables::N_TABLES)
                .map(|_| AtomicU64::new(0))
                .collect(),
            timed_flows: std::sync::atomic::AtomicBool::new(false),
            underlay: crate::tunnel::Underlay::default(),
        }
    }

    /// Current tables snapshot.
    pub fn tables(&self) -> Arc<OfTables> {
        self.tables.read().clone()
    }

    /// Current ports snapshot.
    pub fn ports(&self) -> Arc<PortTable> {
        self.ports.read().clone()
    }

    /// A counter that changes whenever cached translations may have become stale.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The generation of changes confined to some tables.
    pub fn table_generation(&self) -> u64 {
        self.table_generation.load(Ordering::Acquire)
    }

    /// True when one of `tables` (bit per table) changed after table generation `since`.
    pub fn tables_changed_since(&self, tables: &[u64; 4], since: u64) -> bool {
        for (wi, &word) in tables.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let t = wi * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if self
                    .table_changed
                    .get(t)
                    .is_some_and(|c| c.load(Ordering::Acquire) > since)
                {
                    return true;
                }
            }
        }
        false
    }

    /// After a version that changed only the tables in `changed`: stamps them, then moves
    /// the table generation (a megaflow that sees the new generation sees the stamps).
    fn bump_tables(&self, changed: &[u64; 4]) {
        let g = self.table_generation.load(Ordering::Acquire) + 1;
        for (wi, &word) in changed.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let t = wi * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(c) = self.table_changed.get(t) {
                    c.store(g, Ordering::Release);
                }
            }
        }
        self.table_generation.store(g, Ordering::Release);
    }

    /// A counter that changes whenever the MAC-learning table changes (only translations
    /// that used NORMAL depend on it).
    pub fn mac_generation(&self) -> u64 {
        self.mac_generation.load(Ordering::Acquire)
    }

    fn bump_macs(&self) {
        self.mac_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Applies flow-mods atomically.
    pub fn apply(&self, mods: &[FlowMod], now_ms: u64) -> Result<ModSummary, FlowModError> {
        self.note_timeouts(mods.iter().filter_map(|m| match m {
            FlowMod::Add(e) => Some(e),
            _ => None,
        }));
        let mut t = self.tables.write();
        let (next, sum) = t.apply(mods, now_ms)?;
        *t = Arc::new(next);
        drop(t);
        self.bump();
        Ok(sum)
    }

    /// Removes the flows whose idle or hard timeout has passed (one new version); returns
    /// them with `true` for a hard timeout. Cheap when no flow ever had a timeout.
    pub fn expire_flows(&self, now_ms: u64) -> Vec<crate::tables::Expired> {
        if !self.timed_flows.load(Ordering::Relaxed) {
            return Vec::new();
        }
        // Scan a snapshot: the write lock (which upcalls wait for) only when a flow goes.
        if self.tables().expired(now_ms).is_empty() {
            return Vec::new();
        }
        let mut t = self.tables.write();
        let Some((next, gone)) = t.expire(now_ms) else {
            return Vec::new();
        };
        let changed = next.changed_tables(&t);
        *t = Arc::new(next);
        self.bump_tables(&changed);
        drop(t);
        gone
    }

    /// Applies flows `learn` actions learned, in one version when any is new or changed
    /// (identical ones only restart their hard timeout, with no new version: megaflows
    /// stay valid).
    pub fn learn(
        &self,
        flows: &[Arc<crate::dpaction::LearnedFlow>],
        now_ms: u64,
    ) -> crate::tables::LearnSummary {
        let mut sum = crate::tables::LearnSummary::default();
        let rest: Vec<_> = self.refresh_learned(flows, now_ms, &mut sum);
        self.install_learned(&rest, now_ms, &mut sum);
        sum
    }

    /// The first half of [`Bridge::learn`]: restarts the hard timeout of the flows already
    /// installed exactly so (cheap: lookups in the current version); returns the others.
    pub fn refresh_learned(
        &self,
        flows: &[Arc<crate::dpaction::LearnedFlow>],
        now_ms: u64,
        sum: &mut crate::tables::LearnSummary,
    ) -> Vec<Arc<crate::dpaction::LearnedFlow>> {
        self.tables()
            .refresh_learned(flows, now_ms, sum)
            .into_iter()
            .cloned()
            .collect()
    }

    /// The second half: installs new or changed learned flows as one version.
    pub fn install_learned(
        &self,
        rest: &[Arc<crate::dpaction::LearnedFlow>],
        now_ms: u64,
        sum: &mut crate::tables::LearnSummary,
    ) {
        if rest.is_empty() {
            return;
        }
        let rest: Vec<&Arc<crate::dpaction::LearnedFlow>> = rest.iter().collect();
        self.note_timeouts(rest.iter().map(|l| &l.entry));
        // The new version is built outside the lock (copying a table of many learned
        // flows takes a while, and translations read the tables meanwhile); it is swapped
        // in only if nothing else changed the tables since, else built again under it.
        let cur = self.tables();
        let mut s = *sum;
        let next = cur.install_learned(&rest, now_ms, &mut s);
        let mut t = self.tables.write();
        let next = if t.version == cur.version {
            *sum = s;
            next
        } else {
            t.install_learned(&rest, now_ms, sum)
        };
        if sum.added + sum.modified > 0 || next.n_flows() != t.n_flows() {
            let changed = next.changed_tables(&t);
            let old = std::mem::replace(&mut *t, Arc::new(next));
            // Under the lock: stamps and generation move in the order of the versions.
            self.bump_tables(&changed);
            drop(t);
            // The old version is freed here, after the lock (it may be big).
            drop(old);
        }
    }

    /// Notes that a flow with a timeout may be in the tables (so expiry scans them).
    fn note_timeouts<'a>(&self, flows: impl IntoIterator<Item = &'a FlowEntry>) {
        if flows.into_iter().any(|f| {
            f.idle_timeout != 0
                || f.hard_timeout != 0
                || f.actions.iter().any(|a| {
                    matches!(a, crate::ofctl::Action::FinTimeout { .. })
                        || matches!(a, crate::ofctl::Action::Learn(l)
                            if l.fin_idle_timeout != 0 || l.fin_hard_timeout != 0)
                })
        }) {
            self.timed_flows.store(true, Ordering::Relaxed);
        }
    }

    /// Applies runs of flow-mods and group-mods as one version (an OpenFlow bundle commit).
    pub fn apply_runs(
        &self,
        runs: &[crate::tables::ModRun],
        now_ms: u64,
    ) -> Result<ModSummary, FlowModError> {
        for run in runs {
            if let crate::tables::ModRun::Flows(m) = run {
                self.note_timeouts(m.iter().filter_map(|m| match m {
                    FlowMod::Add(e) => Some(e),
                    _ => None,
                }));
            }
        }
        let mut t = self.tables.write();
        let (next, sum) = t.apply_runs(runs, self.limits.max_groups, now_ms)?;
        *t = Arc::new(next);
        drop(t);
        self.bump();
        Ok(sum)
    }

    /// Replaces every flow atomically (`replace-flows`).
    pub fn replace_flows(
        &self,
        flows: &[FlowEntry],
        now_ms: u64,
    ) -> Result<ModSummary, FlowModError> {
        self.note_timeouts(flows);
        let mut t = self.tables.write();
        let (next, sum) = t.replace_all(flows, now_ms)?;
        *t = Arc::new(next);
        drop(t);
        self.bump();
        Ok(sum)
    }

    /// Applies meter-mods atomically (`add-meter`, `mod-meter`, `del-meter`).
    pub fn apply_meters(
        &self,
        mods: &[crate::tables::MeterMod],
        now_ms: u64,
    ) -> Result<ModSummary, FlowModError> {
        let mut t = self.tables.write();
        let (next, sum) = t.apply_meters(mods, now_ms)?;
        *t = Arc::new(next);
        drop(t);
        self.bump();
        Ok(sum)
    }

    /// Applies group-mods atomically (`add-group`, `mod-group`, `del-groups`).
    pub fn apply_groups(&self, mods: &[GroupMod], now_ms: u64) -> Result<ModSummary, FlowModError> {
        let mut t = self.tables.write();
        let (next, sum) = t.apply_groups(mods, self.limits.max_groups, now_ms)?;
        *t = Arc::new(next);
        drop(t);
        self.bump();
        Ok(sum)
    }

    /// Makes the groups and flows exactly these, in one version (a node reload). Returns
    /// what changed in the groups, then in the flows.
    pub fn replace_groups_and_flows(
        &self,
        groups: &[GroupEntry],
        flows: &[FlowEntry],
        now_ms: u64,
    ) -> Result<(ModSummary, ModSummary), FlowModError> {
        if groups.len() > self.limits.max_groups {
            return Err(FlowModError::GroupTableFull(self.limits.max_groups));
        }
        self.note_timeouts(flows);
        let mut t = self.tables.write();
        let (next, gs, fs) = t.replace_groups_and_flows(groups, flows, now_ms)?;
        *t = Arc::new(next);
        drop(t);
        self.bump();
        Ok((gs, fs))
    }

    /// Adds groups, then the flows that may use them, from the text of an `add-groups` and
    /// an `add-flows` file (port names from this bridge). Nothing is added when a line does
    /// not parse; when the tables refuse the flows, the groups stay added.
    pub fn load_text(&self, groups: &str, flows: &str, now_ms: u64) -> Result<(), LoadError> {
        let ports = self.ports();
        let (groups, errs) = parse_group_file(groups, ports.names());
        if !errs.is_empty() {
            return Err(LoadError::Groups(errs));
        }
        let (flows, errs) = parse_flow_file(flows, Mode::Add, ports.names());
        if !errs.is_empty() {
            return Err(LoadError::Flows(errs));
        }
        let mods: Vec<GroupMod> = groups.into_iter().map(|(_, g)| GroupMod::Add(g)).collect();
        if !mods.is_empty() {
            self.apply_groups(&mods, now_ms)?;
        }
        let flows: Vec<FlowEntry> = flows.into_iter().map(|(_, f)| f).collect();
        self.add_flows(&flows, now_ms)?;
        Ok(())
    }

    /// Adds flows (`add-flows`).
    pub fn add_flows(&self, flows: &[FlowEntry], now_ms: u64) -> Result<ModSummary, FlowModError> {
        let mods: Vec<FlowMod> = flows.iter().cloned().map(FlowMod::Add).collect();
        self.apply(&mods, now_ms)
    }

    /// Sets what an unknown port name in this bridge's flows, groups and traces is told
    /// (where the command in use takes its ports: [`PortMap::set_unknown_hint`]).
    pub fn set_unknown_port_hint(&self, hint: &str) {
        let mut p = self.ports.write();
        let mut next = (**p).clone();
        next.names.set_unknown_hint(hint);
        *p = Arc::new(next);
    }

    /// Adds a port.
    pub fn add_port(&self, info: PortInfo) -> Result<(), PortError> {
        // LOCAL is the bridge's own internal port, as OVS numbers it.
        let local = info.ofport == crate::ofctl::port::LOCAL;
        if info.ofport == 0 || (info.ofport >= crate::ofctl::port::MAX && !local) {
            return Err(PortError::BadNumber(info.ofport));
        }
        let mut p = self.ports.write();
        if p.by_number.contains_key(&info.ofport) {
            return Err(PortError::NumberInUse(info.ofport));
        }
        if p.names.number(&info.name).is_some() {
            return Err(PortError::NameInUse(info.name));
        }
        let mut next = (**p).clone();
        next.names.insert(&info.name, info.ofport);
        next.by_number.insert(info.ofport, info);
        *p = Arc::new(next);
        drop(p);
        self.bump();
        Ok(())
    }

    /// A port-mod: sets the configuration bits under `mask` (OFPPC_*; unknown bits are the
    /// caller's to refuse) and returns the port as it was. Cached translations are redone.
    pub fn mod_port(&self, ofport: u32, config: u32, mask: u32) -> Result<PortInfo, PortError> {
        let mut p = self.ports.write();
        let old = p
            .by_number
            .get(&ofport)
            .cloned()
            .ok_or_else(|| PortError::NoSuchPort(ofport.to_string()))?;
        let bits = (old.config_bits() & !mask) | (config & mask);
        let mut next = (**p).clone();
        let info = next.by_number.get_mut(&ofport).expect("present");
        info.flood = bits & port_config::NO_FLOOD == 0;
        info.config = bits & port_config::ALL & !port_config::NO_FLOOD;
        *p = Arc::new(next);
        drop(p);
        self.bump();
        Ok(old)
    }

    /// Removes a port by name; MACs learned on it are forgotten.
    pub fn del_port(&self, name: &str, now_ms: u64) -> Result<PortInfo, PortError> {
        let mut p = self.ports.write();
        let num = p
            .names
            .number(name)
            .ok_or_else(|| PortError::NoSuchPort(name.to_string()))?;
        let mut next = (**p).clone();
        let info = next.by_number.remove(&num).expect("name map in sync");
        next.names.remove(num);
        *p = Arc::new(next);
        drop(p);
        self.macs.lock().expire(now_ms, Some(num));
        self.bump();
        self.bump_macs();
        Ok(info)
    }

    /// Learns a MAC (slow path); bumps the generation when a NORMAL decision could change.
    pub(crate) fn learn_mac(&self, mac: u64, vlan: u16, port: u32, now_ms: u64) {
        if self.macs.lock().learn(mac, vlan, port, now_ms) {
            self.bump_macs();
        }
    }

    /// Looks up a learned MAC.
    pub(crate) fn lookup_mac(&self, mac: u64, vlan: u16, now_ms: u64) -> Option<u32> {
        self.macs.lock().lookup(mac, vlan, now_ms)
    }

    /// MAC table entries (mac, vlan, port, age ms), for `fdb/show`.
    pub fn mac_entries(&self, now_ms: u64) -> Vec<(u64, u16, u32, u64)> {
        self.macs.lock().entries(now_ms)
    }

    /// Ages out MAC entries.
    pub fn expire_macs(&self, now_ms: u64) {
        let mut m = self.macs.lock();
        let v = m.version;
        m.expire(now_ms, None);
        if m.version != v {
            drop(m);
            self.bump_macs();
        }
    }

    /// The recirculation id for a frozen state (allocated on first use). `None` when the
    /// id space is exhausted.
    pub fn recirc_id(&self, st: &FrozenState) -> Option<u32> {
        let mut r = self.recirc.lock();
        if let Some(&id) = r.ids.get(st) {
            return Some(id);
        }
        if r.states.len() >= self.limits.max_recirc_ids {
            return None;
        }
        r.states.push(st.clone());
        let id = r.states.len() as u32;
        r.ids.insert(st.clone(), id);
        Some(id)
    }

    /// The frozen state of a recirculation id.
    pub fn frozen(&self, id: u32) -> Option<FrozenState> {
        let r = self.recirc.lock();
        r.states.get((id as usize).checked_sub(1)?).cloned()
    }

    /// Number of recirculation ids in use.
    pub fn n_recirc_ids(&self) -> usize {
        self.recirc.lock().states.len()
    }

    /// The tunnel metadata of a tunnel port for a flow (`None` for other ports).
    pub fn tunnel_port(&self, ofport: u32) -> Option<TunnelPort> {
        match &self.ports.read().get(ofport)?.kind {
            PortKind::Tunnel(t) => Some(t.clone()),
            _ => None,
        }
    }
}
