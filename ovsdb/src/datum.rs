//! OVSDB values (RFC 7047 §5.1): atoms, and the sets and maps every column holds. An
//! optional column (`ofport`, `error`) is a set of zero or one atom; a bare atom on the
//! wire is a set of one.

use crate::RpcError;
use serde_json::{json, Value};

/// One scalar value.
#[derive(Debug, Clone, PartialEq)]
pub enum Atom {
    /// An integer.
    Integer(i64),
    /// A real.
    Real(f64),
    /// A boolean.
    Boolean(bool),
    /// A string.
    String(String),
    /// A row's UUID (`["uuid", "…"]`), or a row named in the same transaction
    /// (`["named-uuid", "…"]`, kept with its name).
    Uuid(String),
}

impl Atom {
    fn from_json(v: &Value, place: &str) -> Result<Atom, RpcError> {
        Ok(match v {
            Value::Bool(b) => Atom::Boolean(*b),
            Value::String(s) => Atom::String(s.clone()),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Atom::Integer(i),
                None => Atom::Real(n.as_f64().unwrap_or(0.0)),
            },
            Value::Array(a)
                if a.len() == 2 && matches!(a[0].as_str(), Some("uuid" | "named-uuid")) =>
            {
                Atom::Uuid(
                    a[1].as_str()
                        .ok_or_else(|| {
                            RpcError::Schema(format!("{place}: a UUID is not a string"))
                        })?
                        .to_string(),
                )
            }
            other => {
                let t: String = other.to_string().chars().take(60).collect();
                return Err(RpcError::Schema(format!("{place}: {t} is not an atom")));
            }
        })
    }

    /// The atom as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Atom::Integer(i) => json!(i),
            Atom::Real(r) => json!(r),
            Atom::Boolean(b) => json!(b),
            Atom::String(s) => json!(s),
            Atom::Uuid(u) => json!(["uuid", u]),
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::String(s) => Some(s),
            _ => None,
        }
    }

    /// The UUID, if this is one.
    pub fn as_uuid(&self) -> Option<&str> {
        match self {
            Atom::Uuid(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Atom::Integer(i) => Some(*i),
            _ => None,
        }
    }
}

impl From<&str> for Atom {
    fn from(s: &str) -> Atom {
        Atom::String(s.to_string())
    }
}

impl From<String> for Atom {
    fn from(s: String) -> Atom {
        Atom::String(s)
    }
}

impl From<i64> for Atom {
    fn from(i: i64) -> Atom {
        Atom::Integer(i)
    }
}

/// A column's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
    /// A set (a scalar column is a set of one; an optional one, of zero or one).
    Set(Vec<Atom>),
    /// A map, in the order received.
    Map(Vec<(Atom, Atom)>),
}

impl Default for Datum {
    fn default() -> Datum {
        Datum::Set(Vec::new())
    }
}

impl Datum {
    /// Decodes a column value; `place` names it in errors (`Interface.options`).
    pub fn from_json(v: &Value, place: &str) -> Result<Datum, RpcError> {
        if let Value::Array(a) = v {
            match (a.first().and_then(Value::as_str), a.get(1), a.len()) {
                (Some("set"), Some(Value::Array(items)), 2) => {
                    return items
                        .iter()
                        .map(|x| Atom::from_json(x, place))
                        .collect::<Result<_, _>>()
                        .map(Datum::Set)
                }
                (Some("map"), Some(Value::Array(pairs)), 2) => {
                    let mut out = Vec::with_capacity(pairs.len());
                    for p in pairs {
                        match p {
                            Value::Array(kv) if kv.len() == 2 => out.push((
                                Atom::from_json(&kv[0], place)?,
                                Atom::from_json(&kv[1], place)?,
                            )),
                            _ => {
                                return Err(RpcError::Schema(format!(
                                    "{place}: a map entry is not a [key, value] pair"
                                )))
                            }
                        }
                    }
                    return Ok(Datum::Map(out));
                }
                (Some("set" | "map"), _, _) => {
                    return Err(RpcError::Schema(format!(
                        "{place}: malformed {}",
                        a[0].as_str().unwrap_or("")
                    )))
                }
                _ => {}
            }
        }
        Ok(Datum::Set(vec![Atom::from_json(v, place)?]))
    }

    /// The value as JSON (a set of one as a bare atom, as OVS writes it).
    pub fn to_json(&self) -> Value {
        match self {
            Datum::Set(a) if a.len() == 1 => a[0].to_json(),
            Datum::Set(a) => json!(["set", a.iter().map(Atom::to_json).collect::<Vec<_>>()]),
            Datum::Map(m) => json!([
                "map",
                m.iter()
                    .map(|(k, v)| json!([k.to_json(), v.to_json()]))
                    .collect::<Vec<_>>()
            ]),
        }
    }

    /// A scalar or optional column's one value.
    pub fn atom(&self) -> Option<&Atom> {
        match self {
            Datum::Set(a) => a.first(),
            Datum::Map(_) => None,
        }
    }

    /// The set's atoms (empty for a map).
    pub fn atoms(&self) -> &[Atom] {
        match self {
            Datum::Set(a) => a,
            Datum::Map(_) => &[],
        }
    }

    /// A string column's value.
    pub fn str(&self) -> Option<&str> {
        self.atom().and_then(Atom::as_str)
    }

    /// An integer column's value.
    pub fn int(&self) -> Option<i64> {
        self.atom().and_then(Atom::as_i64)
    }

    /// A map's value for a string key.
    pub fn get(&self, key: &str) -> Option<&Atom> {
        match self {
            Datum::Map(m) => m
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            Datum::Set(_) => None,
        }
    }

    /// A string-to-string map's value for a key.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Atom::as_str)
    }

    /// An optional column: empty, or one atom.
    pub fn optional(a: Option<Atom>) -> Datum {
        Datum::Set(a.into_iter().collect())
    }

    /// A string-to-string map.
    pub fn str_map<K: Into<String>, V: Into<String>>(
        kv: impl IntoIterator<Item = (K, V)>,
    ) -> Datum {
        Datum::Map(
            kv.into_iter()
                .map(|(k, v)| (Atom::String(k.into()), Atom::String(v.into())))
                .collect(),
        )
    }

    /// The same value up to order (OVSDB sets and maps are unordered).
    pub fn same(&self, other: &Datum) -> bool {
        fn key(a: &Atom) -> String {
            a.to_json().to_string()
        }
        match (self, other) {
            (Datum::Set(a), Datum::Set(b)) => {
                let mut x: Vec<_> = a.iter().map(key).collect();
                let mut y: Vec<_> = b.iter().map(key).collect();
                x.sort();
                y.sort();
                x == y
            }
            (Datum::Map(a), Datum::Map(b)) => {
                let mut x: Vec<_> = a.iter().map(|(k, v)| (key(k), key(v))).collect();
                let mut y: Vec<_> = b.iter().map(|(k, v)| (key(k), key(v))).collect();
                x.sort();
                y.sort();
                x == y
            }
            // An empty map and an empty set are the same empty column.
            (Datum::Set(a), Datum::Map(b)) | (Datum::Map(b), Datum::Set(a)) => {
                a.is_empty() && b.is_empty()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_shape() {
        let d = |s: &str| Datum::from_json(&serde_json::from_str(s).unwrap(), "t.c");
        assert_eq!(d("5").unwrap().int(), Some(5));
        assert_eq!(d(r#"["set",[]]"#).unwrap(), Datum::Set(vec![]));
        assert_eq!(
            d(r#"["uuid","0b7f0d3a-1111-2222-3333-444455556666"]"#)
                .unwrap()
                .atom()
                .and_then(Atom::as_uuid),
            Some("0b7f0d3a-1111-2222-3333-444455556666")
        );
        let m = d(r#"["map",[["remote_ip","flow"],["key","flow"]]]"#).unwrap();
        assert_eq!(m.get_str("key"), Some("flow"));
        assert!(m.same(&Datum::str_map([("key", "flow"), ("remote_ip", "flow")])));
        for bad in [
            r#"["map",[["a"]]]"#,
            r#"["set",{}]"#,
            r#"{"a":1}"#,
            r#"["uuid",3]"#,
        ] {
            assert!(d(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn encodes_as_ovs_does() {
        assert_eq!(Datum::optional(Some(Atom::Integer(3))).to_json(), json!(3));
        assert_eq!(Datum::optional(None).to_json(), json!(["set", []]));
        assert_eq!(
            Datum::str_map([("a", "b")]).to_json(),
            json!(["map", [["a", "b"]]])
        );
    }
}
