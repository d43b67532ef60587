//! `brisk ctl reload FILE`: a node description applied to the running switch.

use super::ports::{port_add, port_del};
use super::state::Shared;
use conf::bridge::PortType;

/// `brisk ctl reload FILE`: makes the switch what a node description now says. New pod
/// ports are started, the generated flows replace the tables atomically (flows that stay
/// keep their counters, conntrack is untouched, so other pods' connections carry on), then
/// ports no longer described are stopped. A pod whose devargs or number changed is
/// restarted. The gateway, tunnel and uplink must stay as they are (that needs a restart).
pub(crate) fn reload(shared: &Shared, file: &str, text: &str) -> Result<String, String> {
    let node = conf::node::NodeConfig::parse(text, file).map_err(|e| e.to_string())?;
    let want = node.bridge_config(file).map_err(|e| e.to_string())?;
    let cur = shared.ports();
    for p in want
        .ports
        .iter()
        .filter(|p| p.kind == PortType::Geneve || p.uplink.is_some() || p.name == node.gateway.name)
    {
        let same = cur
            .list
            .iter()
            .any(|r| r.name == p.name && r.ofport == p.ofport);
        if !same {
            return Err(format!(
                "{file}: port {} ({}) is not running as described; the gateway, tunnel and uplink change only with a restart",
                p.name, p.ofport
            ));
        }
    }
    let pods: Vec<&conf::bridge::PortConfig> = want
        .ports
        .iter()
        .filter(|p| node.pods.iter().any(|q| q.name == p.name))
        .collect();
    drop(cur);
    let mut added = Vec::new();
    let mut restarted = Vec::new();
    for p in &pods {
        let devargs = p.devargs.clone().unwrap_or_default();
        let cur = shared.ports();
        let existing = cur.list.iter().find(|r| r.name == p.name).cloned();
        drop(cur);
        match existing {
            Some(r) if r.ofport == p.ofport && r.desc == devargs => {}
            Some(_) => {
                port_del(shared, &p.name)?;
                port_add(shared, &p.name, &p.ofport.to_string(), &devargs)?;
                restarted.push(p.name.clone());
            }
            None => {
                port_add(shared, &p.name, &p.ofport.to_string(), &devargs)?;
                added.push(p.name.clone());
            }
        }
    }
    let generated = conf::antrea::generate(&node);
    let ports = shared.bridge.ports();
    let (flows, errs) = pipeline::ofctl::parse_flow_file(
        &generated.text(),
        pipeline::ofctl::Mode::Add,
        ports.names(),
    );
    let (groups, gerrs) =
        pipeline::ofctl::parse_group_file(&generated.groups_text(), ports.names());
    drop(ports);
    if let Some(e) = errs.first() {
        return Err(format!(
            "{file}: a generated flow does not load (a brisk bug): {e}"
        ));
    }
    if let Some(e) = gerrs.first() {
        return Err(format!(
            "{file}: a generated group does not load (a brisk bug): {e}"
        ));
    }
    let flows: Vec<_> = flows.into_iter().map(|(_, f)| f).collect();
    let groups: Vec<_> = groups.into_iter().map(|(_, g)| g).collect();
    let (gs, st) = shared
        .bridge
        .replace_groups_and_flows(&groups, &flows, shared.now_ms())
        .map_err(|e| e.to_string())?;
    let keep: Vec<String> = want.ports.iter().map(|p| p.name.clone()).collect();
    let cur = shared.ports();
    let gone: Vec<String> = cur
        .list
        .iter()
        .map(|r| r.name.clone())
        .filter(|n| !keep.contains(n))
        .collect();
    drop(cur);
    for n in &gone {
        port_del(shared, n)?;
    }
    Ok(format!(
        "node {}: ports added {:?}, removed {:?}, restarted {:?}; flows {} added, {} modified, {} deleted, {} unchanged; groups {} added, {} modified, {} deleted, {} unchanged\n",
        node.node, added, gone, restarted, st.added, st.modified, st.deleted, st.unchanged,
        gs.added, gs.modified, gs.deleted, gs.unchanged
    ))
}
