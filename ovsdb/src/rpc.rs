//! JSON-RPC 1.0 messages as OVSDB (RFC 7047 §4) and OVS's unixctl use them: requests,
//! notifications (a request whose id is null) and replies (a result or an error).

use crate::RpcError;
use serde_json::{json, Map, Value};

/// One JSON-RPC message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A request: the peer wants a reply with the same id.
    Request {
        /// Method name.
        method: String,
        /// Parameters (always an array in JSON-RPC 1.0).
        params: Vec<Value>,
        /// The request's id (never null).
        id: Value,
    },
    /// A notification: a request without an id (OVSDB's `update`).
    Notification {
        /// Method name.
        method: String,
        /// Parameters.
        params: Vec<Value>,
    },
    /// A reply to one of our requests.
    Reply {
        /// `Ok(result)` or `Err(error)`.
        outcome: Result<Value, Value>,
        /// The id of the request it answers.
        id: Value,
    },
}

fn obj_field<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
    o.get(k)
}

impl Message {
    /// Decodes one framed message (the bytes a [`crate::Splitter`] delimited).
    pub fn decode(bytes: &[u8]) -> Result<Message, RpcError> {
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| RpcError::Json(format!("not JSON: {e}")))?;
        Message::from_value(v)
    }

    /// Decodes a message from its JSON value.
    pub fn from_value(v: Value) -> Result<Message, RpcError> {
        let Value::Object(o) = v else {
            return Err(RpcError::Json("a message must be a JSON object".into()));
        };
        let id = obj_field(&o, "id").cloned().unwrap_or(Value::Null);
        if let Some(m) = obj_field(&o, "method") {
            let method = m
                .as_str()
                .ok_or_else(|| RpcError::Json("\"method\" is not a string".into()))?
                .to_string();
            let params = match obj_field(&o, "params") {
                Some(Value::Array(a)) => a.clone(),
                Some(_) => {
                    return Err(RpcError::Json(format!(
                        "{method}: \"params\" is not an array"
                    )))
                }
                None => Vec::new(),
            };
            return Ok(if id.is_null() {
                Message::Notification { method, params }
            } else {
                Message::Request { method, params, id }
            });
        }
        if !o.contains_key("result") && !o.contains_key("error") {
            return Err(RpcError::Json(
                "neither a request (\"method\") nor a reply (\"result\"/\"error\")".into(),
            ));
        }
        let error = obj_field(&o, "error").cloned().unwrap_or(Value::Null);
        let outcome = if error.is_null() {
            Ok(obj_field(&o, "result").cloned().unwrap_or(Value::Null))
        } else {
            Err(error)
        };
        Ok(Message::Reply { outcome, id })
    }

    /// The message as JSON.
    pub fn to_value(&self) -> Value {
        match self {
            Message::Request { method, params, id } => {
                json!({"method": method, "params": params, "id": id})
            }
            Message::Notification { method, params } => {
                json!({"method": method, "params": params, "id": null})
            }
            Message::Reply { outcome: Ok(r), id } => json!({"result": r, "error": null, "id": id}),
            Message::Reply {
                outcome: Err(e),
                id,
            } => json!({"result": null, "error": e, "id": id}),
        }
    }

    /// The message's bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_value()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_classifies() {
        for text in [
            r#"{"method":"echo","params":[],"id":"echo"}"#,
            r#"{"method":"update","params":[null,{}],"id":null}"#,
            r#"{"result":{"a":1},"error":null,"id":3}"#,
            r#"{"result":null,"error":"unknown method","id":3}"#,
        ] {
            let m = Message::decode(text.as_bytes()).unwrap();
            assert_eq!(Message::decode(&m.encode()).unwrap(), m, "{text}");
        }
        assert!(matches!(
            Message::decode(br#"{"method":"update","params":[],"id":null}"#),
            Ok(Message::Notification { .. })
        ));
        assert!(matches!(
            Message::decode(br#"{"result":null,"error":{"error":"x"},"id":1}"#),
            Ok(Message::Reply {
                outcome: Err(_),
                ..
            })
        ));
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            &b"[]"[..],
            b"{}",
            br#"{"method":3}"#,
            br#"{"method":"x","params":{}}"#,
            b"{\"method\":\"x\"",
        ] {
            assert!(
                Message::decode(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
