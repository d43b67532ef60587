//! A node description made, once, into everything brisk does with it.

use super::check::Checked;
use super::NodeConfig;
use crate::antrea::Generated;
use crate::bridge::{BridgeConfig, ConfError};
use std::path::Path;

/// A checked node description with the Antrea pipeline generated from it, and the values
/// its checks parsed: what `brisk run --config` starts, `brisk ctl reload` applies and
/// `brisk conf` prints. Made by one function ([`Plan::parse`] or [`Plan::load`]), so that
/// the switch gets flows, groups and a typed bridge and never reads the YAML itself; the
/// parts are read-only, so they cannot disagree.
#[derive(Clone, Debug)]
pub struct Plan {
    node: NodeConfig,
    generated: Generated,
    checked: Checked,
    /// The file it was read from, for errors.
    file: String,
}

impl Plan {
    /// Reads a node file ([`NodeConfig::load`]) and generates its pipeline.
    pub fn load(path: &Path) -> Result<Plan, ConfError> {
        let (node, checked) = NodeConfig::load_checked(path)?;
        Ok(Self::made(node, checked, path.display().to_string()))
    }

    /// Parses and checks YAML text ([`NodeConfig::parse`]: every problem, placed) and
    /// generates its pipeline; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Plan, ConfError> {
        let (node, checked) = NodeConfig::parse_checked(text, file)?;
        Ok(Self::made(node, checked, file.to_string()))
    }

    fn made(node: NodeConfig, checked: Checked, file: String) -> Plan {
        Plan {
            generated: crate::antrea::generate(&node),
            node,
            checked,
            file,
        }
    }

    /// The description, as read.
    pub fn node(&self) -> &NodeConfig {
        &self.node
    }

    /// The description, for keeping as the running one.
    pub fn into_node(self) -> NodeConfig {
        self.node
    }

    /// The flows and groups the description generates, with its policy rules' ids.
    pub fn generated(&self) -> &Generated {
        &self.generated
    }

    /// The flows, one per line, in `ovs-ofctl` syntax.
    pub fn flows(&self) -> String {
        self.generated.text()
    }

    /// The groups, one per line, in `ovs-ofctl add-groups` syntax.
    pub fn groups(&self) -> String {
        self.generated.groups_text()
    }

    /// The bridge that runs the node: gateway, tunnel, uplink and pod ports, the TLV map,
    /// the sizing. An error when a port has no devargs (or devargs that name no
    /// interface): a description without them generates flows but does not run.
    pub fn bridge(&self) -> Result<BridgeConfig, ConfError> {
        self.node.bridge(&self.checked, &self.file)
    }

    /// A one-line summary for `brisk conf check`.
    pub fn summary(&self) -> String {
        self.node.summary(&self.generated)
    }
}
