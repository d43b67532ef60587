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
    let mut out = BTreeMap::new();
    let Some(b) = m.row("Bridge", bridge_uuid) else {
        return out;
    };
    for u in b.get("controller").map(Datum::atoms).unwrap_or(&[]) {
        let Some(row) = u.as_uuid().and_then(|u| m.row("Controller", u)) else {
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
            Ok(w) => {
                out.insert(format!("{target} {w:?}"), w);
            }
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
