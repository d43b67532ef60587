//! What a client needs of a database schema (RFC 7047 §3.2, `get_schema`): each column's
//! kind, because a `modify` in `update2`/`update3` notifications (ovsdb-server(7),
//! `monitor_cond`) carries a *diff* whose meaning depends on it: a scalar column's new
//! value, the elements of a set to toggle, or the pairs of a map to add, remove or change.

use crate::datum::{Atom, Datum};
use crate::RpcError;
use serde_json::Value;
use std::collections::BTreeMap;

/// How a column's values combine with a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// At most one element (`max` = 1: `"type": "string"`, and optional columns such as
    /// `ofport`): the diff is the new value.
    Scalar,
    /// A set of more than one element: the diff's elements are toggled.
    Set,
    /// A map: the diff's pairs are added, removed (same value) or replaced (other value).
    Map,
}

/// What a client needs of one column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// How a diff applies to it.
    pub kind: ColumnKind,
    /// Its type's default value, which `initial` and `insert` rows leave out.
    pub default: Datum,
}

/// The columns of every table of one database.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    /// The database's name.
    pub name: String,
    /// table → column.
    pub tables: BTreeMap<String, BTreeMap<String, Column>>,
}

impl Schema {
    /// Reads the reply to `get_schema`.
    pub fn from_json(v: &Value) -> Result<Schema, RpcError> {
        let bad = |m: String| RpcError::Schema(format!("schema: {m}"));
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no \"name\"".into()))?
            .to_string();
        let Some(Value::Object(tables)) = v.get("tables") else {
            return Err(bad("no \"tables\" object".into()));
        };
        let mut out = BTreeMap::new();
        for (t, tv) in tables {
            let Some(Value::Object(cols)) = tv.get("columns") else {
                return Err(bad(format!("table {t} has no \"columns\" object")));
            };
            let mut kinds = BTreeMap::new();
            for (c, cv) in cols {
                let ty = cv
                    .get("type")
                    .ok_or_else(|| bad(format!("{t}.{c} has no \"type\"")))?;
                let col = column_of(ty).map_err(|m| bad(format!("{t}.{c}: {m}")))?;
                kinds.insert(c.clone(), col);
            }
            out.insert(t.clone(), kinds);
        }
        Ok(Schema { name, tables: out })
    }

    /// `table.column`; `None` if the schema does not have it.
    pub fn column(&self, table: &str, column: &str) -> Option<&Column> {
        self.tables.get(table)?.get(column)
    }

    /// The kind of `table.column`; `None` if the schema does not have it.
    pub fn kind(&self, table: &str, column: &str) -> Option<ColumnKind> {
        self.column(table, column).map(|c| c.kind)
    }

    /// The schema of only the columns a client monitors (so the rows it keeps have those
    /// columns and no others); a table or column the database lacks is named.
    pub fn restrict(&self, monitored: &[(&str, &[&str])]) -> Result<Schema, RpcError> {
        let mut tables = BTreeMap::new();
        for (t, cols) in monitored {
            let mut kept = BTreeMap::new();
            for c in *cols {
                let col = self.column(t, c).ok_or_else(|| {
                    RpcError::Schema(format!("database {} has no column {t}.{c}", self.name))
                })?;
                kept.insert(c.to_string(), col.clone());
            }
            tables.insert(t.to_string(), kept);
        }
        Ok(Schema {
            name: self.name.clone(),
            tables,
        })
    }
}

/// The default of an atomic type (RFC 7047 §5.1 and ovsdb(7): 0, 0.0, false, "", the
/// all-zero UUID).
fn default_atom(ty: &Value) -> Result<Atom, String> {
    let name = match ty {
        Value::String(s) => s.as_str(),
        Value::Object(o) => o
            .get("type")
            .and_then(Value::as_str)
            .ok_or("a base type without \"type\"")?,
        other => return Err(format!("{other} is not a base type")),
    };
    Ok(match name {
        "integer" => Atom::Integer(0),
        "real" => Atom::Real(0.0),
        "boolean" => Atom::Boolean(false),
        "string" => Atom::String(String::new()),
        "uuid" => Atom::Uuid("00000000-0000-0000-0000-000000000000".into()),
        other => return Err(format!("unknown atomic type {other}")),
    })
}

/// A column of `<type>` (RFC 7047 §3.2: an atomic type's name, or an object with `key`,
/// optional `value`, `min` (default 1) and `max` (default 1, or `"unlimited"`)).
fn column_of(ty: &Value) -> Result<Column, String> {
    let (key, value, min, max) = match ty {
        Value::String(_) => (ty, None, 1, 1),
        Value::Object(o) => {
            let key = o.get("key").ok_or("a type object without \"key\"")?;
            let bound = |k: &str| match o.get(k) {
                None => Ok(1),
                Some(Value::Number(n)) => n.as_u64().ok_or(format!("\"{k}\" is not a count")),
                Some(Value::String(s)) if s == "unlimited" && k == "max" => Ok(u64::MAX),
                Some(other) => Err(format!("\"{k}\" is {other}")),
            };
            (key, o.get("value"), bound("min")?, bound("max")?)
        }
        other => return Err(format!("{other} is not a type")),
    };
    let k = default_atom(key)?;
    let v = value.map(default_atom).transpose()?;
    // OVS's ovsdb_datum_diff: a column of at most one element is not "composite", its diff
    // is its new value.
    let kind = match (&v, max) {
        (_, 1) => ColumnKind::Scalar,
        (Some(_), _) => ColumnKind::Map,
        (None, _) => ColumnKind::Set,
    };
    let default = match (v, min) {
        (None, 0) => Datum::Set(Vec::new()),
        (None, _) => Datum::Set(vec![k]),
        (Some(_), 0) => Datum::Map(Vec::new()),
        (Some(v), _) => Datum::Map(vec![(k, v)]),
    };
    Ok(Column { kind, default })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_as_ovs_vswitch_schema_writes_them() {
        let s = Schema::from_json(&json!({"name": "Open_vSwitch", "version": "8.3.1", "tables": {
            "Interface": {"columns": {
                "name": {"type": "string", "mutable": false},
                "ofport": {"type": {"key": "integer", "min": 0, "max": 1}},
                "options": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
                "admin_state": {"type": {"key": {"type": "string", "enum": ["set", ["up", "down"]]}, "min": 0, "max": 1}},
                "mtu_request": {"type": {"key": {"type": "integer", "minInteger": 1}}}
            }},
            "Bridge": {"columns": {"ports": {"type": {"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": "unlimited"}}}}
        }}))
        .unwrap();
        assert_eq!(s.kind("Interface", "name"), Some(ColumnKind::Scalar));
        assert_eq!(s.kind("Interface", "ofport"), Some(ColumnKind::Scalar));
        assert_eq!(s.kind("Interface", "options"), Some(ColumnKind::Map));
        assert_eq!(s.kind("Interface", "admin_state"), Some(ColumnKind::Scalar));
        assert_eq!(s.kind("Interface", "mtu_request"), Some(ColumnKind::Scalar));
        assert_eq!(s.kind("Bridge", "ports"), Some(ColumnKind::Set));
        assert_eq!(s.kind("Bridge", "nope"), None);
        let d = |t, c| s.column(t, c).unwrap().default.clone();
        assert_eq!(
            d("Interface", "name"),
            Datum::Set(vec![Atom::String(String::new())])
        );
        assert_eq!(
            d("Interface", "mtu_request"),
            Datum::Set(vec![Atom::Integer(0)])
        );
        assert_eq!(d("Interface", "ofport"), Datum::Set(vec![]));
        assert_eq!(d("Interface", "options"), Datum::Map(vec![]));
        let r = s.restrict(&[("Interface", &["name", "ofport"])]).unwrap();
        assert_eq!(r.tables["Interface"].len(), 2);
        assert!(!r.tables.contains_key("Bridge"));
        let e = s.restrict(&[("Interface", &["nope"])]).unwrap_err();
        assert!(e.to_string().contains("Interface.nope"), "{e}");
    }

    #[test]
    fn malformed_schemas_are_refused_with_the_place() {
        let e = Schema::from_json(
            &json!({"name": "x", "tables": {"T": {"columns": {"c": {"type": 3}}}}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("T.c"), "{e}");
        assert!(Schema::from_json(&json!({"tables": {}})).is_err());
        let e = Schema::from_json(
            &json!({"name": "x", "tables": {"T": {"columns": {"c": {"type": {"key": "integer", "max": -1}}}}}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("max"), "{e}");
    }
}
