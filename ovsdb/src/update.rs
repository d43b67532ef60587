//! A client's copy of the tables it monitors (RFC 7047 §4.1.5–4.1.6): the initial contents
//! and every `update` notification applied to it, as ovs-vswitchd's IDL keeps one.

use crate::datum::Datum;
use crate::schema::{ColumnKind, Schema};
use crate::RpcError;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A row: its columns by name.
pub type Row = BTreeMap<String, Datum>;

/// The rows of the monitored tables: table name → row UUID → row.
#[derive(Debug, Default, Clone)]
pub struct Mirror {
    /// Tables by name.
    pub tables: BTreeMap<String, BTreeMap<String, Row>>,
}

/// What one `update` changed, for logs and counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UpdateStats {
    /// Rows inserted (or seen in the initial contents).
    pub inserted: usize,
    /// Rows modified.
    pub modified: usize,
    /// Rows deleted.
    pub deleted: usize,
}

fn row_from_json(v: &Value, table: &str) -> Result<Row, RpcError> {
    let Value::Object(o) = v else {
        return Err(RpcError::Schema(format!("{table}: a row is not an object")));
    };
    let mut row = Row::new();
    for (col, val) in o {
        row.insert(
            col.clone(),
            Datum::from_json(val, &format!("{table}.{col}"))?,
        );
    }
    Ok(row)
}

impl Mirror {
    /// Applies a `<table-updates>` object: the reply to `monitor` (the initial contents) or
    /// the second parameter of an `update` notification. Nothing is applied if any part is
    /// malformed.
    pub fn apply(&mut self, updates: &Value) -> Result<UpdateStats, RpcError> {
        let Value::Object(tables) = updates else {
            return Err(RpcError::Schema("table updates are not an object".into()));
        };
        // Decoded first, applied after: a malformed update leaves the copy as it was.
        let mut staged = Vec::new();
        for (table, rows) in tables {
            let Value::Object(rows) = rows else {
                return Err(RpcError::Schema(format!(
                    "{table}: updates are not an object"
                )));
            };
            for (uuid, ru) in rows {
                let Value::Object(ru) = ru else {
                    return Err(RpcError::Schema(format!(
                        "{table} {uuid}: not a row update"
                    )));
                };
                let new = match ru.get("new") {
                    Some(n) => Some(row_from_json(n, table)?),
                    None => None,
                };
                if new.is_none() && !ru.contains_key("old") {
                    return Err(RpcError::Schema(format!(
                        "{table} {uuid}: a row update with neither \"old\" nor \"new\""
                    )));
                }
                staged.push((table.clone(), uuid.clone(), new));
            }
        }
        let mut st = UpdateStats::default();
        for (table, uuid, new) in staged {
            let t = self.tables.entry(table).or_default();
            match new {
                None => {
                    if t.remove(&uuid).is_some() {
                        st.deleted += 1;
                    }
                }
                Some(new) => match t.get_mut(&uuid) {
                    // "new" carries every monitored column; merged in case a server sends
                    // only the changed ones.
                    Some(row) => {
                        row.extend(new);
                        st.modified += 1;
                    }
                    None => {
                        t.insert(uuid, new);
                        st.inserted += 1;
                    }
                },
            }
        }
        Ok(st)
    }

    /// Applies a `<table-updates2>` object (ovsdb-server(7) §4.1.14): the reply to
    /// `monitor_cond` (or the third element of `monitor_cond_since`'s) and the updates of
    /// `update2`/`update3` notifications. `schema` holds the monitored columns: an `initial`
    /// or `insert` row gets their defaults where it leaves them out, and a `modify` is a
    /// diff read by each column's kind. Nothing is applied if any part is malformed.
    pub fn apply2(&mut self, updates: &Value, schema: &Schema) -> Result<UpdateStats, RpcError> {
        let Value::Object(tables) = updates else {
            return Err(RpcError::Schema("table updates are not an object".into()));
        };
        let mut staged: Vec<(String, String, Option<Row>, bool)> = Vec::new();
        for (table, rows) in tables {
            let Value::Object(rows) = rows else {
                return Err(RpcError::Schema(format!(
                    "{table}: updates are not an object"
                )));
            };
            let Some(cols) = schema.tables.get(table) else {
                return Err(RpcError::Schema(format!("{table}: not a monitored table")));
            };
            for (uuid, ru) in rows {
                let one = match ru {
                    Value::Object(o) if o.len() == 1 => o.iter().next(),
                    _ => None,
                };
                let Some((how, row)) = one else {
                    return Err(RpcError::Schema(format!(
                        "{table} {uuid}: a row update2 is not an object of one member"
                    )));
                };
                let (new, inserted) = match how.as_str() {
                    "initial" | "insert" => {
                        let mut r: Row = cols
                            .iter()
                            .map(|(c, col)| (c.clone(), col.default.clone()))
                            .collect();
                        r.extend(row_from_json(row, table)?);
                        (Some(r), true)
                    }
                    "delete" => (None, false),
                    "modify" => {
                        // Several updates of one row in one message apply in turn.
                        let staged_row = staged
                            .iter()
                            .rev()
                            .find(|(t, u, _, _)| t == table && u == uuid)
                            .map(|(_, _, r, _)| r.clone());
                        let mut r = match staged_row {
                            Some(r) => r,
                            None => self.row(table, uuid).cloned(),
                        }
                        .ok_or_else(|| {
                            RpcError::Schema(format!("{table} {uuid}: modify of an unknown row"))
                        })?;
                        for (c, d) in row_from_json(row, table)? {
                            let kind = cols.get(&c).map_or(ColumnKind::Scalar, |x| x.kind);
                            let cur = r.remove(&c).unwrap_or_default();
                            r.insert(
                                c.clone(),
                                apply_diff(cur, d, kind, &format!("{table}.{c}"))?,
                            );
                        }
                        (Some(r), false)
                    }
                    other => {
                        return Err(RpcError::Schema(format!(
                            "{table} {uuid}: \"{other}\" is not initial, insert, delete or modify"
                        )))
                    }
                };
                staged.push((table.clone(), uuid.clone(), new, inserted));
            }
        }
        let mut st = UpdateStats::default();
        for (table, uuid, new, inserted) in staged {
            let t = self.tables.entry(table).or_default();
            match new {
                None => {
                    if t.remove(&uuid).is_some() {
                        st.deleted += 1;
                    }
                }
                Some(new) => {
                    let was = t.insert(uuid, new).is_some();
                    if inserted && !was {
                        st.inserted += 1;
                    } else {
                        st.modified += 1;
                    }
                }
            }
        }
        Ok(st)
    }

    /// The rows of a table.
    pub fn rows(&self, table: &str) -> impl Iterator<Item = (&String, &Row)> {
        self.tables.get(table).into_iter().flat_map(|t| t.iter())
    }

    /// One row by UUID.
    pub fn row(&self, table: &str, uuid: &str) -> Option<&Row> {
        self.tables.get(table)?.get(uuid)
    }
}

/// `cur` changed by an `update2` diff `d` (ovsdb-server(7) §4.1.14): a column of at most
/// one element takes the new value; a set's elements in `d` are toggled; a map's pairs in `d` are removed when
/// `cur` has that pair, replace the value when it has the key, are added otherwise.
pub fn apply_diff(cur: Datum, d: Datum, kind: ColumnKind, place: &str) -> Result<Datum, RpcError> {
    match (kind, cur, d) {
        (ColumnKind::Scalar, _, d) => Ok(d),
        (ColumnKind::Set, Datum::Set(mut have), Datum::Set(toggle)) => {
            for a in toggle {
                match have.iter().position(|x| *x == a) {
                    Some(i) => {
                        have.remove(i);
                    }
                    None => have.push(a),
                }
            }
            Ok(Datum::Set(have))
        }
        // An empty map may have been read as an empty set.
        (ColumnKind::Map, Datum::Set(s), d) if s.is_empty() => {
            apply_diff(Datum::Map(Vec::new()), d, kind, place)
        }
        (ColumnKind::Map, Datum::Map(mut have), Datum::Map(pairs)) => {
            for (k, v) in pairs {
                match have.iter().position(|(x, _)| *x == k) {
                    Some(i) if have[i].1 == v => {
                        have.remove(i);
                    }
                    Some(i) => have[i].1 = v,
                    None => have.push((k, v)),
                }
            }
            Ok(Datum::Map(have))
        }
        (ColumnKind::Map, _, Datum::Set(s)) if s.is_empty() => Ok(Datum::Map(Vec::new())),
        (kind, _, _) => Err(RpcError::Schema(format!(
            "{place}: a diff that does not fit a {} column",
            match kind {
                ColumnKind::Scalar => "scalar",
                ColumnKind::Set => "set",
                ColumnKind::Map => "map",
            }
        ))),
    }
}

/// The `<monitor-cond-requests>` of `monitor_cond`/`monitor_cond_since`: every row of each
/// table (no `where`), the columns asked for, every kind of change.
pub fn monitor_cond_requests(tables: &[(&str, &[&str])]) -> Value {
    let mut req = serde_json::Map::new();
    for (t, cols) in tables {
        req.insert(
            t.to_string(),
            json!([{"columns": cols, "select": {"initial": true, "insert": true, "delete": true, "modify": true}}]),
        );
    }
    Value::Object(req)
}

/// The parameters of a `monitor` request for `db`: every table with the columns asked for
/// (initial contents and every kind of change).
pub fn monitor_params(db: &str, id: &str, tables: &[(&str, &[&str])]) -> Vec<Value> {
    let mut req = serde_json::Map::new();
    for (t, cols) in tables {
        req.insert(
            t.to_string(),
            json!({"columns": cols, "select": {"initial": true, "insert": true, "delete": true, "modify": true}}),
        );
    }
    vec![json!(db), json!(id), Value::Object(req)]
}

/// A `transact` operation updating one row's columns (by UUID).
pub fn update_row(table: &str, uuid: &str, row: &Row) -> Value {
    let cols: serde_json::Map<String, Value> =
        row.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
    json!({"op": "update", "table": table, "where": [["_uuid", "==", ["uuid", uuid]]], "row": cols})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datum::Atom;

    fn schema() -> Schema {
        Schema::from_json(&json!({"name": "Open_vSwitch", "tables": {
            "Interface": {"columns": {
                "name": {"type": "string"},
                "ofport": {"type": {"key": "integer", "min": 0, "max": 1}},
                "options": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
                "mtu_request": {"type": {"key": "integer", "min": 0, "max": 1}},
                "bond_active_slave": {"type": {"key": "string", "min": 0, "max": 1}}
            }},
            "Bridge": {"columns": {
                "name": {"type": "string"},
                "ports": {"type": {"key": "uuid", "min": 0, "max": "unlimited"}}
            }}
        }}))
        .unwrap()
        .restrict(&[("Interface", &["name", "ofport", "options", "mtu_request"]), ("Bridge", &["name", "ports"])])
        .unwrap()
    }

    #[test]
    fn update2_as_ovsdb_server_sends_it() {
        let s = schema();
        let mut m = Mirror::default();
        // Defaults left out of "initial"/"insert" rows are filled in.
        let st = m
            .apply2(&json!({"Interface": {"u1": {"initial": {"name": "p1"}}},
                             "Bridge": {"b": {"initial": {"name": "br-int", "ports": ["uuid", "p"]}}}}), &s)
            .unwrap();
        assert_eq!(st.inserted, 2);
        let r = m.row("Interface", "u1").unwrap();
        assert_eq!(r["ofport"], Datum::Set(vec![]));
        assert_eq!(r["options"], Datum::Map(vec![]));
        assert!(!r.contains_key("bond_active_slave"));
        // A scalar's diff is its value, a set's toggles, a map's adds, changes, removes.
        m.apply2(
            &json!({"Interface": {"u1": {"modify": {
            "ofport": 3, "options": ["map", [["remote_ip", "flow"], ["key", "7"]]]}}}}),
            &s,
        )
        .unwrap();
        let r = m.row("Interface", "u1").unwrap();
        assert_eq!(r["ofport"].int(), Some(3));
        assert_eq!(r["options"].get_str("key"), Some("7"));
        m.apply2(
            &json!({"Interface": {"u1": {"modify": {
            "ofport": 5, "options": ["map", [["remote_ip", "flow"], ["key", "flow"]]]}}},
            "Bridge": {"b": {"modify": {"ports": ["set", [["uuid", "p"], ["uuid", "q"]]]}}}}),
            &s,
        )
        .unwrap();
        let r = m.row("Interface", "u1").unwrap();
        assert_eq!(r["ofport"].int(), Some(5));
        assert!(r["options"].same(&Datum::str_map([("key", "flow")])));
        assert_eq!(
            m.row("Bridge", "b").unwrap()["ports"].atoms(),
            &[Atom::Uuid("q".into())]
        );
        let st = m
            .apply2(&json!({"Interface": {"u1": {"delete": null}}}), &s)
            .unwrap();
        assert_eq!(st.deleted, 1);
        assert!(m.row("Interface", "u1").is_none());
        // An optional column cleared: its new (empty) value, as ovsdb-server sends it.
        m.apply2(
            &json!({"Interface": {"u2": {"insert": {"name": "p2", "ofport": 4}}}}),
            &s,
        )
        .unwrap();
        m.apply2(
            &json!({"Interface": {"u2": {"modify": {"ofport": ["set", []]}}}}),
            &s,
        )
        .unwrap();
        assert_eq!(
            m.row("Interface", "u2").unwrap()["ofport"],
            Datum::Set(vec![])
        );
    }

    #[test]
    fn malformed_update2_changes_nothing() {
        let s = schema();
        let mut m = Mirror::default();
        m.apply2(
            &json!({"Interface": {"u1": {"insert": {"name": "p1", "ofport": 1}}}}),
            &s,
        )
        .unwrap();
        let before = format!("{:?}", m.tables);
        for bad in [
            json!({"Interface": {"u1": {"modify": {"ofport": 2}}, "u2": {"modify": {"ofport": 1}}}}),
            json!({"Interface": {"u1": {"modify": {"options": 3}}}}),
            json!({"Interface": {"u1": {"modify": {}, "insert": {}}}}),
            json!({"Interface": {"u1": {"replace": {}}}}),
            json!({"Port": {"u1": {"insert": {}}}}),
            json!({"Interface": {"u1": {"insert": {"name": {"x": 1}}}}}),
            json!([]),
        ] {
            assert!(m.apply2(&bad, &s).is_err(), "{bad}");
            assert_eq!(before, format!("{:?}", m.tables), "{bad}");
        }
    }

    #[test]
    fn initial_insert_modify_delete() {
        let mut m = Mirror::default();
        let init = json!({"Interface": {"u1": {"new": {"name": "p1", "ofport": ["set", []]}}}});
        assert_eq!(m.apply(&init).unwrap().inserted, 1);
        let modi = json!({"Interface": {"u1": {"old": {"ofport": ["set", []]}, "new": {"name": "p1", "ofport": 3}}}});
        assert_eq!(m.apply(&modi).unwrap().modified, 1);
        assert_eq!(m.row("Interface", "u1").unwrap()["ofport"].int(), Some(3));
        let del = json!({"Interface": {"u1": {"old": {"name": "p1"}}}});
        assert_eq!(m.apply(&del).unwrap().deleted, 1);
        assert!(m.row("Interface", "u1").is_none());
    }

    #[test]
    fn malformed_update_changes_nothing() {
        let mut m = Mirror::default();
        m.apply(&json!({"Bridge": {"b": {"new": {"name": "br-int"}}}}))
            .unwrap();
        let bad = json!({"Bridge": {"b": {"new": {"name": "br-x"}}, "c": {}}});
        assert!(m.apply(&bad).is_err());
        assert_eq!(m.row("Bridge", "b").unwrap()["name"].str(), Some("br-int"));
        assert!(m.apply(&json!([1])).is_err());
        assert!(m
            .apply(&json!({"Bridge": {"b": {"new": {"name": {"x": 1}}}}}))
            .is_err());
    }
}
