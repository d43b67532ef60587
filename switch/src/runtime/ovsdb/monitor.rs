//! How brisk asks to follow the database, as ovs-vswitchd's IDL does: the schema first
//! (`get_schema`), then `monitor_cond_since` (resumable from the last transaction seen),
//! `monitor_cond` or RFC 7047's `monitor`, whichever the server takes; and the
//! notifications each of them brings.

use super::conn::{Conn, ConnError};
use super::{vswitch, DB, REPLY_TIMEOUT};
use ovsdb::Mirror;
use serde_json::{json, Value};

/// How the server sends the database's changes: the newest monitor method it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    /// `monitor_cond_since` (OVS ≥ 2.12): `update3`, resumable from a transaction.
    CondSince,
    /// `monitor_cond` (OVS ≥ 2.6): `update2`, modifications as diffs.
    Cond,
    /// RFC 7047's `monitor`: `update`, whole rows.
    Plain,
}

/// What is followed of the database, kept across connections so a reconnection can ask
/// only for what changed since (`monitor_cond_since`, as ovs-vswitchd's IDL does).
#[derive(Default)]
pub(super) struct Following {
    pub(super) mirror: Mirror,
    /// The monitored columns' schema (kinds for diffs, defaults for left-out columns).
    pub(super) schema: Option<ovsdb::Schema>,
    /// The last transaction the mirror holds, from `monitor_cond_since`/`update3`.
    pub(super) last_txn: Option<String>,
}

const ZERO_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// Asks to monitor the database with the newest method the server takes
/// (`monitor_cond_since`, then `monitor_cond`, then `monitor`) and applies the initial
/// contents, or only the changes since the mirror's last transaction when the server
/// still has it. Returns the method and whether the mirror was resumed.
pub(super) fn monitor(c: &mut Conn, f: &mut Following) -> Result<(Method, bool), ConnError> {
    let schema = match c
        .request("get_schema", vec![json!(DB)])
        .and_then(|id| c.wait_reply(&id, REPLY_TIMEOUT, |_| {}))?
    {
        Ok(v) => Some(
            ovsdb::Schema::from_json(&v)
                .and_then(|s| s.restrict(vswitch::MONITORED))
                .map_err(|e| std::io::Error::other(format!("the database's schema: {e}")))?,
        ),
        Err(e) => {
            tracing::warn!("the database refused get_schema ({e}); using monitor");
            None
        }
    };
    f.schema = schema;
    let Some(schema) = f.schema.as_ref() else {
        return monitor_plain(c, f).map(|()| (Method::Plain, false));
    };
    let reqs = ovsdb::update::monitor_cond_requests(vswitch::MONITORED);
    let since = f.last_txn.clone().unwrap_or_else(|| ZERO_UUID.into());
    let id = c.request(
        "monitor_cond_since",
        vec![json!(DB), json!("brisk"), reqs.clone(), json!(since)],
    )?;
    if let Ok(r) = c.wait_reply(&id, REPLY_TIMEOUT, |_| {})? {
        let (Some(found), Some(last), Some(updates)) = (
            r.get(0).and_then(Value::as_bool),
            r.get(1).and_then(Value::as_str),
            r.get(2),
        ) else {
            return Err(std::io::Error::other(
                "a monitor_cond_since reply is not [found, last-txn-id, updates]",
            )
            .into());
        };
        let resumed = found && f.last_txn.is_some();
        if resumed {
            f.mirror.apply2(updates, schema)?;
        } else {
            let mut m = Mirror::default();
            m.apply2(updates, schema)?;
            f.mirror = m;
        }
        f.last_txn = Some(last.to_string());
        return Ok((Method::CondSince, resumed));
    }
    let id = c.request("monitor_cond", vec![json!(DB), json!("brisk"), reqs])?;
    if let Ok(updates) = c.wait_reply(&id, REPLY_TIMEOUT, |_| {})? {
        let mut m = Mirror::default();
        m.apply2(&updates, schema)?;
        f.mirror = m;
        f.last_txn = None;
        return Ok((Method::Cond, false));
    }
    monitor_plain(c, f).map(|()| (Method::Plain, false))
}

/// RFC 7047's `monitor`: the whole initial contents.
fn monitor_plain(c: &mut Conn, f: &mut Following) -> Result<(), ConnError> {
    let params = ovsdb::update::monitor_params(DB, "brisk", vswitch::MONITORED);
    let id = c.request("monitor", params)?;
    let initial = c.wait_reply(&id, REPLY_TIMEOUT, |_| {})?;
    let initial =
        initial.map_err(|e| std::io::Error::other(format!("the database refused monitor: {e}")))?;
    let mut m = Mirror::default();
    m.apply(&initial)?;
    f.mirror = m;
    f.last_txn = None;
    Ok(())
}

/// Applies a notification of the monitor; `Ok(false)` for one that is not an update.
pub(super) fn notified(
    f: &mut Following,
    method: &str,
    params: &[Value],
) -> Result<bool, ovsdb::RpcError> {
    let missing = || ovsdb::RpcError::Schema(format!("{method} without table updates"));
    match (method, f.schema.as_ref()) {
        ("update", _) => f
            .mirror
            .apply(params.get(1).ok_or_else(missing)?)
            .map(|_| true),
        ("update2", Some(s)) => f
            .mirror
            .apply2(params.get(1).ok_or_else(missing)?, s)
            .map(|_| true),
        ("update3", Some(s)) => {
            let last = params.get(1).and_then(Value::as_str).ok_or_else(|| {
                ovsdb::RpcError::Schema("update3 without a last transaction id".into())
            })?;
            f.mirror.apply2(params.get(2).ok_or_else(missing)?, s)?;
            f.last_txn = Some(last.to_string());
            Ok(true)
        }
        _ => Ok(false),
    }
}
