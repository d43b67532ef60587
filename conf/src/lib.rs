//! Configuration in YAML: the bridge a `brisk run` starts ([`bridge`]), and node
//! descriptions in Antrea's shape ([`node`]) that compile into Antrea's flows
//! ([`antrea`]) and into a bridge.
//!
//! YAML is read with `serde_norway`, the maintained successor of the archived `serde_yaml`
//! (`serde_yml` is flagged unsound, RUSTSEC-2025-0068). Unknown keys are errors. Every text
//! passes [`yaml::check`] (size, nesting depth, alias expansion) before a parser sees it.

pub mod antrea;
pub mod bridge;
pub mod limits;
pub mod locate;
pub mod net;
pub mod node;
pub mod yaml;
