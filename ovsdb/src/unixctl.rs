//! OVS's unixctl protocol, as `ovs-appctl` speaks it to a daemon's control socket: one
//! JSON-RPC request whose params are strings (the command's arguments), answered by a
//! reply whose result (success) or error (failure) is the command's text.

use crate::rpc::Message;
use crate::RpcError;
use serde_json::Value;

/// A command sent by `ovs-appctl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The command (`dpif/show`).
    pub name: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The request id, echoed in the reply.
    pub id: Value,
}

impl Command {
    /// Decodes one framed request.
    pub fn decode(bytes: &[u8]) -> Result<Command, RpcError> {
        match Message::decode(bytes)? {
            Message::Request { method, params, id } => {
                let args = params
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| match p {
                        Value::String(s) => Ok(s),
                        _ => Err(RpcError::Json(format!(
                            "{method}: argument {} is not a string",
                            i + 1
                        ))),
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Command {
                    name: method,
                    args,
                    id,
                })
            }
            _ => Err(RpcError::Json(
                "a unixctl message must be a request with an id".into(),
            )),
        }
    }

    /// The reply: `Ok(text)` is printed by ovs-appctl on stdout (exit 0), `Err(text)` on
    /// stderr (exit 2).
    pub fn reply(&self, outcome: Result<String, String>) -> Vec<u8> {
        Message::Reply {
            outcome: outcome.map(Value::String).map_err(Value::String),
            id: self.id.clone(),
        }
        .encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appctl_request_and_reply() {
        let c = Command::decode(br#"{"id":0,"method":"dpctl/dump-conntrack","params":["zone=5"]}"#)
            .unwrap();
        assert_eq!(c.name, "dpctl/dump-conntrack");
        assert_eq!(c.args, vec!["zone=5".to_string()]);
        let r = Message::decode(&c.reply(Err("no".into()))).unwrap();
        assert_eq!(
            r,
            Message::Reply {
                outcome: Err(Value::String("no".into())),
                id: serde_json::json!(0)
            }
        );
        assert!(Command::decode(br#"{"id":0,"method":"x","params":[1]}"#).is_err());
        assert!(Command::decode(br#"{"id":null,"method":"x","params":[]}"#).is_err());
    }
}
