//! Configuration in YAML: the bridge a `brisk run` starts, and (later) node descriptions in
//! Antrea's shape that compile into one.
//!
//! YAML is read with `serde_norway`, the maintained successor of the archived `serde_yaml`
//! (`serde_yml` is flagged unsound, RUSTSEC-2025-0068). Unknown keys are errors.

pub mod bridge;
pub mod locate;
