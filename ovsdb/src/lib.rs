//! OVSDB (RFC 7047) and OVS unixctl codecs: what brisk needs to follow an `ovsdb-server`
//! as ovs-vswitchd does and to answer `ovs-appctl`. Pure: bytes in, values out, no
//! sockets (those live in `switch`), so every decoder is fuzzed on its own.

pub mod datum;
pub mod rpc;
pub mod schema;
pub mod stream;
pub mod unixctl;
pub mod update;

pub use datum::{Atom, Datum};
pub use rpc::Message;
pub use schema::Schema;
pub use stream::Splitter;
pub use update::{Mirror, Row};

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// The byte stream is not a sequence of JSON objects (the connection is unusable).
    #[error("framing: {0}")]
    Framing(String),
    /// A message is not JSON-RPC.
    #[error("JSON-RPC: {0}")]
    Json(String),
    /// A value does not have the shape OVSDB gives it.
    #[error("OVSDB: {0}")]
    Schema(String),
}
