//! A client's copy of the tables it monitors (RFC 7047 §4.1.5–4.1.6): the initial contents
//! and every `update` notification applied to it, as ovs-vswitchd's IDL keeps one.

use crate::datum::Datum;
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

    /// The rows of a table.
    pub fn rows(&self, table: &str) -> impl Iterator<Item = (&String, &Row)> {
        self.tables.get(table).into_iter().flat_map(|t| t.iter())
    }

    /// One row by UUID.
    pub fn row(&self, table: &str, uuid: &str) -> Option<&Row> {
        self.tables.get(table)?.get(uuid)
    }
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
