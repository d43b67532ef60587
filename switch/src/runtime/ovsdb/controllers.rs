//! A bridge's `controller` column followed live: each Controller row an OpenFlow
//! connection brisk makes (`tcp:`/`unix:`) or a listener it opens (`ptcp:`/`punix:`), with
//! the row's `inactivity_probe` and `max_backoff`, as ovs-vswitchd's connection manager.

use super::super::openflow::{ControllerOptions, OfConnect, OfListen, OfServer, OfShared};
use super::super::serve::ServeStats;
use super::super::state::Shared;
use ovsdb::{Datum, Mirror};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// One wanted controller: its target and options.
#[derive(Clone, Debug, PartialEq)]
pub enum Wanted {
    /// Connect to it.
    Active(OfConnect, ControllerOptions),
    /// Listen for it.
    Passive(OfListen),
}

/// The controllers bridge `bridge_uuid` names, keyed by what identifies a connection;
/// rows whose target does not parse are logged and skipped.
pub fn wanted(m: &Mirror, bridge_uuid: &str) -> BTreeMap<String, Wanted> {
    rows(m, bridge_uuid)
        .into_iter()
        .map(|(_, k, w)| (k, w))
        .collect()
}

/// The bridge's Controller rows that parse: (row UUID, connection key, what it wants).
pub fn rows(m: &Mirror, bridge_uuid: &str) -> Vec<(String, String, Wanted)> {
    let mut out = Vec::new();
    let Some(b) = m.row("Bridge", bridge_uuid) else {
        return out;
    };
    for u in b.get("controller").map(Datum::atoms).unwrap_or(&[]) {
        let Some(uuid) = u.as_uuid() else { continue };
        let Some(row) = m.row("Controller", uuid) else {
            continue;
        };
        let Some(target) = row.get("target").and_then(Datum::str) else {
            continue;
        };
        let ms = |c: &str| row.get(c).and_then(Datum::int);
        let w = if target.starts_with("ptcp:") || target.starts_with("punix:") {
            OfListen::parse(target).map(Wanted::Passive)
        } else {
            let d = ControllerOptions::default();
            let opts = ControllerOptions {
                inactivity_probe: match ms("inactivity_probe") {
                    Some(0) => None,
                    Some(n) if n > 0 => Some(Duration::from_millis(n as u64)),
                    _ => d.inactivity_probe,
                },
                max_backoff: ms("max_backoff")
                    .filter(|&n| n >= 1000)
                    .map_or(d.max_backoff, |n| Duration::from_millis(n as u64)),
            };
            OfConnect::parse(target).map(|t| Wanted::Active(t, opts))
        };
        match w {
            Ok(w) => out.push((uuid.to_string(), format!("{target} {w:?}"), w)),
            Err(e) => tracing::warn!(target, "Controller row refused: {e}"),
        }
    }
    out
}

/// The running controller connections and listeners.
pub struct Controllers {
    shared: Arc<Shared>,
    of: Arc<OfShared>,
    stats: Arc<ServeStats>,
    running: BTreeMap<String, OfServer>,
}

impl Controllers {
    /// None running yet.
    pub fn new(shared: Arc<Shared>, of: Arc<OfShared>, stats: Arc<ServeStats>) -> Controllers {
        Controllers {
            shared,
            of,
            stats,
            running: BTreeMap::new(),
        }
    }

    /// What `Controller.is_connected` and `status` say of the connection `key`, as
    /// ovs-vswitchd reports them: `state` ACTIVE or BACKOFF and the seconds since it
    /// connected or disconnected (an active controller only; a listener reports nothing).
    pub fn report(&self, key: &str, rw: &Wanted) -> Option<(bool, Vec<(String, String)>)> {
        let Wanted::Active(..) = rw else { return None };
        let (up, since) = *self.running.get(key)?.link.lock();
        let secs = since.elapsed().as_secs().to_string();
        let status = if up {
            vec![
                ("state".into(), "ACTIVE".into()),
                ("sec_since_connect".into(), secs),
            ]
        } else {
            vec![
                ("state".into(), "BACKOFF".into()),
                ("sec_since_disconnect".into(), secs),
            ]
        };
        Some((up, status))
    }

    /// Stops those no longer wanted, starts the new ones.
    pub fn apply(&mut self, want: BTreeMap<String, Wanted>) {
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|k| !want.contains_key(*k))
            .cloned()
            .collect();
        for k in gone {
            if let Some(mut s) = self.running.remove(&k) {
                s.stop();
                tracing::info!(controller = %k, "controller removed (database)");
            }
        }
        for (k, w) in want {
            if self.running.contains_key(&k) {
                continue;
            }
            let (sh, of, st) = (self.shared.clone(), self.of.clone(), self.stats.clone());
            let started = match &w {
                Wanted::Active(t, o) => OfServer::connect(sh, t, *o, st, of),
                Wanted::Passive(l) => OfServer::start(sh, l, st, of),
            };
            match started {
                Ok(s) => {
                    tracing::info!(controller = %k, "controller added (database)");
                    self.running.insert(k, s);
                }
                Err(e) => tracing::warn!(controller = %k, "cannot start controller: {e}"),
            }
        }
    }
}
