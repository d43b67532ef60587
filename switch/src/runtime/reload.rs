//! `brisk ctl reload FILE`: a node description applied to the running switch.

use super::ports::{add_port, port_del};
use super::state::Shared;
use conf::bridge::ConfError;
use conf::node::Plan;

/// `brisk ctl reload FILE`: makes the switch what a node description now says, or refuses
/// and changes nothing. `plan` is the description made into flows, groups and a bridge
/// (`conf::node::Plan`), or why it could not be. What it applies live: pods added, removed
/// or changed (a pod whose devargs or number changed is restarted), and everything that
/// only changes flows and groups (addresses, labels, peers, remote pods, services,
/// policies, the proxy mode...): new pod ports are started, the generated flows and groups
/// replace the tables atomically (flows that stay keep their counters, conntrack is
/// untouched, so other pods' connections carry on), then ports no longer described are
/// stopped. Everything the switch uses only when it starts must be as it is running: each
/// difference is named in the error (`NodeConfig::restart_changes`). A switch started from
/// a bridge file (`--bridge`) has no node description to reload.
pub(crate) fn reload(
    shared: &Shared,
    file: &str,
    plan: Result<Plan, ConfError>,
) -> Result<String, String> {
    // Held to the end: one reload at a time, and the description updated with the switch.
    let mut running = shared.node.lock();
    let Some(old) = running.as_ref() else {
        return Err(format!(
            "{file}: reload needs a switch started from a node description (brisk run --config); this one runs a bridge file (--bridge): restart it to change its configuration"
        ));
    };
    let plan = plan.map_err(|e| e.to_string())?;
    let node = plan.node();
    let changes = old.restart_changes(node);
    if !changes.is_empty() {
        return Err(format!(
            "{file}: cannot apply without a restart: {}",
            changes.join(", ")
        ));
    }
    let want = plan.bridge().map_err(|e| e.to_string())?;
    let mut added = Vec::new();
    let mut restarted = Vec::new();
    let pods = want
        .ports
        .iter()
        .filter(|p| node.pods.iter().any(|q| q.name == p.name));
    for p in pods {
        let existing = shared
            .ports()
            .list
            .iter()
            .find(|r| r.name == p.name)
            .cloned();
        match existing {
            Some(r) if r.ofport == p.ofport && p.devargs() == Some(r.desc.as_str()) => {}
            Some(_) => {
                port_del(shared, &p.name)?;
                add_port(shared, p)?;
                restarted.push(p.name.clone());
            }
            None => {
                add_port(shared, p)?;
                added.push(p.name.clone());
            }
        }
    }
    let ports = shared.bridge.ports();
    let (flows, errs) =
        pipeline::ofctl::parse_flow_file(&plan.flows(), pipeline::ofctl::Mode::Add, ports.names());
    let (groups, gerrs) = pipeline::ofctl::parse_group_file(&plan.groups(), ports.names());
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
    let gone: Vec<String> = shared
        .ports()
        .list
        .iter()
        .map(|r| r.name.clone())
        .filter(|n| !want.ports.iter().any(|p| &p.name == n))
        .collect();
    for n in &gone {
        port_del(shared, n)?;
    }
    let summary = format!(
        "node {}: ports added {:?}, removed {:?}, restarted {:?}; flows {} added, {} modified, {} deleted, {} unchanged; groups {} added, {} modified, {} deleted, {} unchanged\n",
        node.node, added, gone, restarted, st.added, st.modified, st.deleted, st.unchanged,
        gs.added, gs.modified, gs.deleted, gs.unchanged
    );
    let base_dir = old.base_dir.clone();
    let mut node = plan.into_node();
    node.base_dir = base_dir;
    *running = Some(node);
    Ok(summary)
}
