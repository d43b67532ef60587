//! brisk as the vswitchd of an `ovsdb-server` (`brisk run --ovsdb`): it monitors the
//! Open_vSwitch database as ovs-vswitchd does, starts and stops ports as `ovs-vsctl` (or
//! Antrea's agent) changes them, and writes back what ovs-vswitchd writes (`ofport`,
//! `error`, `mac_in_use`, `link_state`, `statistics`, `cur_cfg`...), so `ovs-vsctl`
//! returns once a change is applied and sees why an interface failed.
//!
//! One thread per switch follows the database: it reconnects with a backoff when the
//! server goes away and, on reconnecting, compares the fresh contents with the running
//! ports, so a server restart touches no port whose row did not change.

mod bootstrap;
pub mod conn;
pub mod controllers;
mod monitor;
mod report;
pub mod underlay;
pub mod vswitch;

use super::ports::{add_port, port_desc, port_remove};
use super::state::{RtKind, Shared};
use conf::bridge::PortConfig;
pub use conn::Target;
use conn::{Conn, ConnError};
use ovsdb::{Atom, Datum, Message, Mirror, Row};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use vswitch::Iface;

pub use bootstrap::{bootstrap, eal_from_config, Bootstrap};
use monitor::{monitor, notified, Following};

/// The database brisk follows.
pub const DB: &str = "Open_vSwitch";
/// How often `Interface.statistics` is written (ovs-vswitchd's default `stats-update-interval`).
const STATS_EVERY: Duration = Duration::from_secs(5);
/// How long a request to the database may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the tunnel's underlay is read again from the kernel.
const UNDERLAY_EVERY: Duration = Duration::from_secs(1);

/// How to follow the database.
#[derive(Clone, Debug)]
pub struct OvsdbOptions {
    /// Where it is.
    pub target: Target,
    /// The directory of `dpdkvhostuser` sockets (ovs-vswitchd's run directory).
    pub rundir: String,
}

/// Counters of the database connection, for every view.
#[derive(Debug, Default)]
pub struct OvsdbStats {
    /// Connections made.
    pub connects: AtomicU64,
    /// Connections lost (the server went away, or sent what is not JSON-RPC).
    pub disconnects: AtomicU64,
    /// `update` notifications applied.
    pub updates: AtomicU64,
    /// Messages refused (malformed JSON-RPC or table updates).
    pub bad_messages: AtomicU64,
    /// Transactions sent (write-backs).
    pub transactions: AtomicU64,
    /// Transactions the server refused.
    pub transaction_errors: AtomicU64,
    /// Ports started because the database added them.
    pub ports_added: AtomicU64,
    /// Ports stopped because the database removed or changed them.
    pub ports_removed: AtomicU64,
    /// Whether connected now (0/1).
    pub connected: AtomicU64,
    /// Reconnections that resumed from the last transaction seen (`monitor_cond_since`
    /// found it): only what changed meanwhile was sent.
    pub resumes: AtomicU64,
}

impl OvsdbStats {
    /// (name, value) of every counter, for views.
    pub fn rows(&self) -> [(&'static str, u64); 10] {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        [
            ("connected", l(&self.connected)),
            ("connects", l(&self.connects)),
            ("resumes", l(&self.resumes)),
            ("disconnects", l(&self.disconnects)),
            ("updates", l(&self.updates)),
            ("bad_messages", l(&self.bad_messages)),
            ("transactions", l(&self.transactions)),
            ("transaction_errors", l(&self.transaction_errors)),
            ("ports_added", l(&self.ports_added)),
            ("ports_removed", l(&self.ports_removed)),
        ]
    }
}

/// The thread following the database.
pub struct Client {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Client {
    /// Starts following the database for `shared`'s bridge.
    /// `of`/`of_stats`: the OpenFlow state and counters its controllers share with the
    /// bridge's other OpenFlow connections.
    pub fn start(
        shared: Arc<Shared>,
        opts: OvsdbOptions,
        stats: Arc<OvsdbStats>,
        of: Arc<super::openflow::OfShared>,
        of_stats: Arc<super::serve::ServeStats>,
    ) -> std::io::Result<Client> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ovsdb".into())
            .spawn(move || {
                let mut kept = Kept {
                    ctrl: controllers::Controllers::new(shared.clone(), of, of_stats),
                    under: underlay::Follow::default(),
                    applied_cfg: None,
                };
                follow(&shared, &opts, &stats, &s, &mut kept);
            })?;
        Ok(Client {
            thread: Some(thread),
            stop,
        })
    }

    /// Stops following (ports stay as they are).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What outlives a database connection: controllers (a database restart drops none) and
/// the tunnel's underlay as last applied.
struct Kept {
    ctrl: controllers::Controllers,
    under: underlay::Follow,
    /// `next_cfg` when the configuration was last applied to the flow tables (standalone's
    /// NORMAL flow is added on a configuration change, as OVS, not on brisk's own writes).
    applied_cfg: Option<i64>,
}

/// Sleeps up to `d`, waking early for a stop.
fn nap(d: Duration, stop: &dyn Fn() -> bool) {
    let end = Instant::now() + d;
    while Instant::now() < end && !stop() {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Connects, retrying with a backoff of 1 s doubling to 8 s (OVS's) until `stop`.
fn connect(
    t: &Target,
    stop: &dyn Fn() -> bool,
    backoff: &mut Duration,
    logged: &mut bool,
) -> Option<Conn> {
    while !stop() {
        match Conn::open(t, Duration::from_secs(5)) {
            Ok(c) => {
                *backoff = Duration::from_secs(1);
                *logged = false;
                return Some(c);
            }
            Err(e) => {
                if !*logged {
                    tracing::warn!(db = %t, "cannot connect to the database: {e}; retrying");
                    *logged = true;
                }
                nap(*backoff, stop);
                *backoff = (*backoff * 2).min(Duration::from_secs(8));
            }
        }
    }
    None
}

fn follow(
    shared: &Shared,
    opts: &OvsdbOptions,
    stats: &OvsdbStats,
    stop: &AtomicBool,
    kept: &mut Kept,
) {
    let stop_fn = || stop.load(Ordering::Relaxed) || crate::signal::stop_requested();
    let mut backoff = Duration::from_secs(1);
    let mut logged = false;
    let mut f = Following::default();
    while let Some(mut c) = connect(&opts.target, &stop_fn, &mut backoff, &mut logged) {
        stats.connects.fetch_add(1, Ordering::Relaxed);
        let r = monitor(&mut c, &mut f).and_then(|(method, resumed)| {
            stats.connected.store(1, Ordering::Relaxed);
            if resumed {
                stats.resumes.fetch_add(1, Ordering::Relaxed);
                tracing::info!(db = %opts.target, ?method, "following the database again from transaction {}: only what changed meanwhile was sent", f.last_txn.as_deref().unwrap_or(""));
            } else {
                tracing::info!(db = %opts.target, ?method, "following the database");
            }
            session(shared, opts, stats, &mut c, &mut f, &stop_fn, kept)
        });
        stats.connected.store(0, Ordering::Relaxed);
        match r {
            Ok(()) => return,
            Err(e) => {
                stats.disconnects.fetch_add(1, Ordering::Relaxed);
                if matches!(e, ConnError::Rpc(_)) {
                    stats.bad_messages.fetch_add(1, Ordering::Relaxed);
                    // What the mirror holds is no longer known to be the server's.
                    f.last_txn = None;
                }
                tracing::warn!(db = %opts.target, "database connection lost: {e}; ports keep running, reconnecting");
                nap(backoff, &stop_fn);
            }
        }
    }
}

/// One connection's life: apply, write back, follow updates.
fn session(
    shared: &Shared,
    opts: &OvsdbOptions,
    stats: &OvsdbStats,
    c: &mut Conn,
    f: &mut Following,
    stop: &dyn Fn() -> bool,
    kept: &mut Kept,
) -> Result<(), ConnError> {
    let mut dirty = true;
    let mut next_stats = Instant::now();
    // Ports that failed to start, with their configuration: tried again when it changes
    // (or on the next connection), not at every update.
    let mut failed = Failed::new();
    let mut next_underlay = Instant::now() + UNDERLAY_EVERY;
    while !stop() {
        if Instant::now() >= next_underlay {
            next_underlay = Instant::now() + UNDERLAY_EVERY;
            // The kernel's address may have moved: the uplink follows it, and the tunnel's
            // status says so.
            let before = shared.bridge.underlay().uplink;
            follow_underlay(shared, opts, &f.mirror, &mut kept.under);
            dirty |= shared.bridge.underlay().uplink != before;
        }
        if dirty {
            dirty = false;
            let ops = reconcile(shared, opts, &f.mirror, stats, &mut failed, kept);
            transact(c, ops, stats)?;
        }
        if Instant::now() >= next_stats {
            next_stats = Instant::now() + STATS_EVERY;
            let mirror = &f.mirror;
            let mut ops = report::statistics(shared, mirror);
            if let Some((b, _, _)) = vswitch::bridges(mirror)
                .into_iter()
                .find(|(_, n, t)| *n == shared.bridge.name && t == "netdev")
            {
                ops.extend(report::controllers(mirror, &b, &kept.ctrl));
            }
            transact(c, ops, stats)?;
        }
        match c.recv(Duration::from_millis(100))? {
            Some(Message::Notification { method, .. }) if method == "monitor_canceled" => {
                return Err(std::io::Error::other("the server canceled the monitor").into());
            }
            Some(Message::Notification { method, params }) => {
                match notified(f, &method, &params) {
                    Ok(true) => {
                        stats.updates.fetch_add(1, Ordering::Relaxed);
                        dirty = true;
                    }
                    Ok(false) => {}
                    Err(e) => {
                        stats.bad_messages.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!("database {method} refused: {e}");
                        // A diff applies to what the mirror held: after a refused one, the
                        // next connection starts over.
                        if method != "update" {
                            return Err(e.into());
                        }
                    }
                }
            }
            Some(Message::Reply {
                outcome: Ok(Value::Array(results)),
                ..
            }) => {
                for r in results.iter().filter(|r| r.get("error").is_some()) {
                    stats.transaction_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("the database refused a write: {r}");
                }
            }
            Some(Message::Reply {
                outcome: Err(e), ..
            }) => {
                stats.transaction_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("the database refused a write: {e}");
            }
            Some(Message::Request { method, id, .. }) => {
                c.send(&Message::Reply {
                    outcome: Err(json!(format!("unknown method {method}"))),
                    id,
                })?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Sends a transaction of `ops` (nothing when empty); its reply is read by the session.
fn transact(c: &mut Conn, ops: Vec<Value>, stats: &OvsdbStats) -> Result<(), ConnError> {
    if ops.is_empty() {
        return Ok(());
    }
    let mut params = vec![json!(DB)];
    params.extend(ops);
    c.request("transact", params)?;
    stats.transactions.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

fn mac_text(m: u64) -> String {
    (0..6)
        .map(|i| format!("{:02x}", (m >> (40 - 8 * i)) as u8))
        .collect::<Vec<_>>()
        .join(":")
}

/// The MTU of a kernel interface, if it has one.
pub(crate) fn kernel_mtu(name: &str) -> Option<i64> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/mtu"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// An update op for the columns of `want` that differ from `row`.
fn diff_op(table: &str, uuid: &str, row: Option<&Row>, want: Row) -> Option<Value> {
    let changed: Row = want
        .into_iter()
        .filter(|(k, v)| !row.and_then(|r| r.get(k)).is_some_and(|d| d.same(v)))
        .collect();
    (!changed.is_empty()).then(|| ovsdb::update::update_row(table, uuid, &changed))
}

fn opt_str(s: Option<String>) -> Datum {
    Datum::optional(s.map(Atom::String))
}

/// Ports that could not start: name → (configuration tried, why).
type Failed = BTreeMap<String, (PortConfig, String)>;

/// Makes the running ports what the database says and returns the writes that tell it.
fn reconcile(
    shared: &Shared,
    opts: &OvsdbOptions,
    m: &Mirror,
    stats: &OvsdbStats,
    failed: &mut Failed,
    kept: &mut Kept,
) -> Vec<Value> {
    let mut ops = Vec::new();
    let me = shared.bridge.name.clone();
    let mut ours: Vec<Iface> = Vec::new();
    let mut ours_uuid = None;
    for (uuid, name, dtype) in vswitch::bridges(m) {
        let why = if name != me {
            Some(format!(
                "bridge {name} is not served: this brisk runs bridge {me} (one bridge per process)"
            ))
        } else if dtype != "netdev" {
            Some(format!(
                "bridge {name} has datapath_type {dtype:?}: brisk serves \"netdev\" bridges only"
            ))
        } else {
            None
        };
        let ifaces = vswitch::bridge_ifaces(m, &uuid, &opts.rundir);
        match why {
            Some(why) => {
                for i in ifaces {
                    let want = Row::from([
                        ("ofport".into(), Datum::optional(Some(Atom::Integer(-1)))),
                        ("error".into(), opt_str(Some(why.clone()))),
                    ]);
                    ops.extend(diff_op(
                        "Interface",
                        &i.uuid,
                        m.row("Interface", &i.uuid),
                        want,
                    ));
                }
            }
            None => {
                ours = ifaces;
                ours_uuid = Some(uuid);
            }
        }
    }
    kept.ctrl.apply(match &ours_uuid {
        Some(b) => controllers::wanted(m, b),
        None => Default::default(),
    });
    let errors = apply_ports(shared, &ours, stats, failed);
    apply_mtus(shared, &ours);
    kept.under
        .apply(shared, underlay::wanted(shared, &ours, &me));
    let running = shared.ports();
    for i in &ours {
        let rt = running.list.iter().find(|p| p.name == i.name);
        let mut want = Row::new();
        match (errors.get(&i.name), rt) {
            (None, Some(p)) => {
                want.insert(
                    "ofport".into(),
                    Datum::optional(Some(Atom::Integer(i64::from(p.ofport)))),
                );
                want.insert("error".into(), Datum::optional(None));
                if let RtKind::Device { dev, mac, .. } = &p.kind {
                    let up = dev.link().up;
                    want.insert("mac_in_use".into(), opt_str(Some(mac_text(*mac))));
                    want.insert(
                        "link_state".into(),
                        opt_str(Some(if up { "up" } else { "down" }.into())),
                    );
                    want.insert("admin_state".into(), opt_str(Some("up".into())));
                    let mtu = dev
                        .dpdk_mtu()
                        .map(i64::from)
                        .or_else(|| kernel_mtu(&i.name))
                        .unwrap_or(1500);
                    want.insert("mtu".into(), Datum::optional(Some(Atom::Integer(mtu))));
                }
                want.insert("status".into(), report::status(shared, &running, p));
            }
            (why, _) => {
                want.insert("ofport".into(), Datum::optional(Some(Atom::Integer(-1))));
                let why = why.cloned().unwrap_or_else(|| "not started".into());
                want.insert("error".into(), opt_str(Some(why)));
                want.insert("status".into(), Datum::Map(Vec::new()));
                for col in ["mac_in_use", "link_state", "admin_state", "mtu"] {
                    want.insert(col.into(), Datum::optional(None));
                }
            }
        }
        ops.extend(diff_op(
            "Interface",
            &i.uuid,
            m.row("Interface", &i.uuid),
            want,
        ));
    }
    if let Some(b) = &ours_uuid {
        datapath_id_from(shared, m.row("Bridge", b));
        protocols_from(shared, m.row("Bridge", b));
        let next_cfg = vswitch::root(m).and_then(|(_, r)| r.get("next_cfg").and_then(|d| d.int()));
        if kept.applied_cfg != next_cfg || next_cfg.is_none() {
            kept.applied_cfg = next_cfg;
            standalone_flow(shared, m.row("Bridge", b));
        }
        let dpid = format!("{:016x}", super::openflow::datapath_id(shared));
        let want = Row::from([("datapath_id".into(), opt_str(Some(dpid)))]);
        ops.extend(diff_op("Bridge", b, m.row("Bridge", b), want));
    }
    if let Some((uuid, root)) = vswitch::root(m) {
        ops.extend(diff_op(
            "Open_vSwitch",
            uuid,
            Some(root),
            report::root_columns(root),
        ));
    }
    ops
}

/// `Bridge:other_config:datapath-id` (exactly 16 hexadecimal digits, `0x` allowed, not zero, as
/// ovs-vswitchd takes it; anything else is logged and the name-derived id kept).
fn datapath_id_from(shared: &Shared, bridge: Option<&Row>) {
    let v = bridge
        .and_then(|r| r.get("other_config"))
        .and_then(|d| d.get_str("datapath-id"));
    let id = match v {
        None => 0,
        Some(s) => {
            match u64::from_str_radix(s.trim_start_matches("0x"), 16) {
                Ok(n) if s.trim_start_matches("0x").len() == 16 && n != 0 => n,
                _ => {
                    // Once per value, not at every reconciliation.
                    static WARNED: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
                    let mut w = WARNED.lock().unwrap_or_else(|p| p.into_inner());
                    if w.as_deref() != Some(s) {
                        tracing::warn!(value = s, "other_config:datapath-id is not 16 hexadecimal digits (not all zero): ignored");
                        *w = Some(s.to_string());
                    }
                    0
                }
            }
        }
    };
    let old = shared.datapath_id.swap(id, Ordering::Relaxed);
    if old != id {
        tracing::info!(
            datapath_id = format!("{:016x}", super::openflow::datapath_id(shared)),
            "datapath id set (database)"
        );
    }
}

/// `Bridge:protocols`: the OpenFlow versions new connections may negotiate (all brisk
/// speaks when empty, as OVS enables every version then). OpenFlow 1.1 and 1.2, which
/// brisk does not speak, are left out.
fn protocols_from(shared: &Shared, bridge: Option<&Row>) {
    let names: Vec<&str> = bridge
        .and_then(|r| r.get("protocols"))
        .map(|d| d.atoms().iter().filter_map(|a| a.as_str()).collect())
        .unwrap_or_default();
    let all = openflow::message::all_versions();
    let mut bitmap = 0u32;
    for n in &names {
        match n
            .strip_prefix("OpenFlow1")
            .and_then(|v| v.parse::<u32>().ok())
        {
            Some(minor @ 0..=5) => bitmap |= 1 << (minor + 1),
            _ => tracing::warn!(protocol = n, "Bridge protocols: unknown protocol ignored"),
        }
    }
    let allowed = if names.is_empty() { all } else { bitmap & all };
    let old = shared.of_versions.swap(allowed, Ordering::Relaxed);
    if old != allowed {
        tracing::info!(
            protocols = names.join(","),
            "OpenFlow versions for new connections: {allowed:#x}"
        );
    }
}

/// `fail_mode`: a bridge in standalone mode (OVS's default, an empty column) without
/// controllers gets the flow `priority=0 actions=NORMAL` in table 0 each time the
/// configuration is applied, as ovs-vswitchd adds it (`bridge_configure_remotes`): a new
/// bridge switches like a learning switch, and a change in the database puts the flow back
/// if it was deleted. `secure` (Antrea's) adds nothing.
fn standalone_flow(shared: &Shared, bridge: Option<&Row>) {
    use pipeline::ofctl::{port, Action};
    let Some(r) = bridge else {
        return;
    };
    let mode = r.get("fail_mode").and_then(|d| d.str()).unwrap_or("");
    let controllers = r.get("controller").is_some_and(|d| !d.atoms().is_empty());
    if mode == "secure" || controllers {
        return;
    }
    let tables = shared.bridge.tables();
    let present = tables.table(0).is_some_and(|t| {
        t.rules_any_order().any(|r| {
            r.entry.priority == 0
                && r.entry.matches.mask.w.iter().all(|w| *w == 0)
                && r.entry.actions == [Action::Output(port::NORMAL)]
        })
    });
    if present {
        return;
    }
    let names = shared.bridge.ports();
    let flow = pipeline::ofctl::parse_flow(
        "priority=0 actions=NORMAL",
        pipeline::ofctl::Mode::Add,
        names.names(),
    )
    .expect("a fixed flow");
    match shared
        .bridge
        .apply(&[pipeline::tables::FlowMod::Add(flow)], shared.now_ms())
    {
        Ok(_) => {
            tracing::info!("fail_mode standalone, no controller: priority=0 actions=NORMAL added")
        }
        Err(e) => tracing::warn!("fail_mode standalone: the NORMAL flow was refused: {e}"),
    }
}

/// Reads the tunnel's underlay again (the kernel's address of the bridge's internal port)
/// for the bridge this brisk serves.
fn follow_underlay(shared: &Shared, opts: &OvsdbOptions, m: &Mirror, under: &mut underlay::Follow) {
    let me = &shared.bridge.name;
    let Some((uuid, _, _)) = vswitch::bridges(m)
        .into_iter()
        .find(|(_, n, t)| n == me && t == "netdev")
    else {
        return;
    };
    let ifaces = vswitch::bridge_ifaces(m, &uuid, &opts.rundir);
    under.apply(shared, underlay::wanted(shared, &ifaces, me));
}

/// Starts, restarts and stops ports so the running set is `want`'s; returns the
/// interfaces that could not run, with why.
fn apply_ports(
    shared: &Shared,
    want: &[Iface],
    stats: &OvsdbStats,
    failed: &mut Failed,
) -> BTreeMap<String, String> {
    let running = shared.ports();
    let existing = |name: &str| {
        running
            .list
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.ofport)
    };
    let numbers = vswitch::assign_ofports(want, &existing);
    let mut errors = BTreeMap::new();
    let mut target = Vec::new();
    for (i, n) in want.iter().zip(numbers) {
        match (&i.port, n) {
            (Ok(p), Ok(n)) => {
                let mut p = p.clone();
                p.ofport = n;
                target.push(p);
            }
            (Err(e), _) => {
                errors.insert(i.name.clone(), e.clone());
            }
            (Ok(_), Err(e)) => {
                errors.insert(i.name.clone(), e);
            }
        }
    }
    // Gone or changed: stopped first, so a number or a device moves freely.
    let stale: Vec<String> = running
        .list
        .iter()
        .filter(|r| {
            !target
                .iter()
                .any(|p| p.name == r.name && p.ofport == r.ofport && port_desc(p) == r.desc)
        })
        .map(|r| r.name.clone())
        .collect();
    drop(running);
    for name in stale {
        match port_remove(shared, &name) {
            Ok(_) => {
                stats.ports_removed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(port = %name, "port removed (database)");
            }
            Err(e) => tracing::warn!(port = %name, "cannot remove port: {e}"),
        }
    }
    let running = shared.ports();
    failed.retain(|name, (cfg, _)| target.iter().any(|p| &p.name == name && p == cfg));
    for p in target {
        if running.list.iter().any(|r| r.name == p.name) {
            continue;
        }
        if let Some((_, why)) = failed.get(&p.name) {
            errors.insert(p.name.clone(), why.clone());
            continue;
        }
        let t = Instant::now();
        match add_port(shared, &p) {
            Ok(()) => {
                stats.ports_added.fetch_add(1, Ordering::Relaxed);
                tracing::info!(port = %p.name, ofport = p.ofport, ms = t.elapsed().as_millis() as u64, "port added (database)");
            }
            Err(e) => {
                tracing::warn!(port = %p.name, "cannot add port: {e}");
                errors.insert(p.name.clone(), e.clone());
                failed.insert(p.name.clone(), (p, e));
            }
        }
    }
    errors
}

/// `mtu_request` on the kernel interfaces of running AF_PACKET and TAP ports, set live as
/// ovs-vswitchd sets it (DPDK ports keep their MTU).
fn apply_mtus(shared: &Shared, ifaces: &[Iface]) {
    let running = shared.ports();
    for i in ifaces {
        let Some(mtu) = i.mtu_request else { continue };
        let Some(p) = running.list.iter().find(|p| p.name == i.name) else {
            continue;
        };
        let Some(dev) = p.dev() else { continue };
        if dev.type_name() == "dpdk" {
            if dev.dpdk_mtu() != Some(mtu) {
                match dev.set_dpdk_mtu(mtu) {
                    Ok(()) => tracing::info!(port = %i.name, mtu, "MTU set (database)"),
                    Err(e) => tracing::warn!(port = %i.name, mtu, "cannot set the MTU: {e}"),
                }
            }
            continue;
        }
        let kernel = matches!(dev.type_name(), "afpacket" | "tap");
        if !kernel || kernel_mtu(&i.name) == Some(i64::from(mtu)) {
            continue;
        }
        match crate::kernel::TapPort::configure(&i.name, None, None, Some(mtu)) {
            Ok(()) => tracing::info!(port = %i.name, mtu, "MTU set (database)"),
            Err(e) => tracing::warn!(port = %i.name, mtu, "cannot set the MTU: {e}"),
        }
    }
}
