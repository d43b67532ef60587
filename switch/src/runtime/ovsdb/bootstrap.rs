//! Before the datapath exists: `brisk run --ovsdb` waits for a `netdev` bridge and reads
//! EAL's arguments and the workers' cores from `Open_vSwitch:other_config`, as
//! ovs-vswitchd maps them.

use super::conn::{ConnError, Target};
use super::monitor::{monitor, notified, Following};
use super::{connect, diff_op, nap, vswitch, DB};
use ovsdb::{Atom, Datum, Message, Row};
use serde_json::json;
use std::time::Duration;

/// What `brisk run --ovsdb` starts with, read from the database before the datapath
/// exists.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    /// The bridge to run: the first `netdev` bridge by name.
    pub bridge: String,
    /// `Open_vSwitch:other_config`.
    pub other_config: Vec<(String, String)>,
}

/// Waits for the database to hold a `netdev` bridge (Antrea's agent creates br-int after
/// the vswitchd is up), keeping `cur_cfg` caught up meanwhile so `ovs-vsctl` does not
/// hang. `None` if a stop came first.
pub fn bootstrap(t: &Target, stop: &dyn Fn() -> bool) -> Option<Bootstrap> {
    let mut backoff = Duration::from_secs(1);
    let mut logged = false;
    let mut waiting_logged = false;
    while let Some(mut c) = connect(t, stop, &mut backoff, &mut logged) {
        let mut f = Following::default();
        let r: Result<Option<Bootstrap>, ConnError> = (|| {
            monitor(&mut c, &mut f)?;
            loop {
                let mirror = &f.mirror;
                let netdev = vswitch::bridges(mirror)
                    .into_iter()
                    .find(|(_, _, ty)| ty == "netdev");
                if let Some((_, name, _)) = netdev {
                    let other_config = vswitch::root(mirror)
                        .and_then(|(_, r)| r.get("other_config"))
                        .map(|d| match d {
                            Datum::Map(kv) => kv
                                .iter()
                                .filter_map(|(k, v)| {
                                    Some((k.as_str()?.to_string(), v.as_str()?.to_string()))
                                })
                                .collect(),
                            Datum::Set(_) => Vec::new(),
                        })
                        .unwrap_or_default();
                    return Ok(Some(Bootstrap {
                        bridge: name,
                        other_config,
                    }));
                }
                if !waiting_logged {
                    tracing::info!(db = %t, "waiting for a bridge with datapath_type=netdev");
                    waiting_logged = true;
                }
                if let Some((uuid, root)) = vswitch::root(mirror) {
                    let want = Row::from([(
                        "cur_cfg".to_string(),
                        Datum::Set(vec![Atom::Integer(
                            root.get("next_cfg").and_then(Datum::int).unwrap_or(0),
                        )]),
                    )]);
                    if let Some(op) = diff_op("Open_vSwitch", uuid, Some(root), want) {
                        c.request("transact", vec![json!(DB), op])?;
                    }
                }
                if stop() {
                    return Ok(None);
                }
                if let Some(Message::Notification { method, params }) =
                    c.recv(Duration::from_millis(100))?
                {
                    if let Err(e) = notified(&mut f, &method, &params) {
                        tracing::warn!("database {method} refused: {e}");
                        return Err(e.into());
                    }
                }
            }
        })();
        match r {
            Ok(b) => return b,
            Err(e) => {
                tracing::warn!(db = %t, "database connection lost: {e}; reconnecting");
                nap(backoff, stop);
            }
        }
    }
    None
}

/// EAL arguments and worker lcores from `Open_vSwitch:other_config`, as ovs-vswitchd
/// maps `dpdk-lcore-mask`, `dpdk-socket-mem`, `dpdk-extra` and `pmd-cpu-mask`: the main
/// lcore from `dpdk-lcore-mask` (its lowest CPU; CPU 0 by default), workers on the CPUs of
/// `pmd-cpu-mask`. Errors name the key.
pub fn eal_from_config(
    other: &[(String, String)],
) -> Result<(Vec<String>, Option<Vec<u32>>), String> {
    let get = |k: &str| other.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
    let mask = |k: &str| -> Result<Option<Vec<u32>>, String> {
        let Some(v) = get(k) else { return Ok(None) };
        let hex = v.trim_start_matches("0x").trim_start_matches("0X");
        let n = u128::from_str_radix(hex, 16)
            .map_err(|_| format!("other_config:{k}={v:?} is not a hexadecimal CPU mask"))?;
        if n == 0 {
            return Err(format!("other_config:{k}={v:?} names no CPU"));
        }
        Ok(Some((0..128).filter(|b| n >> b & 1 == 1).collect()))
    };
    let main = mask("dpdk-lcore-mask")?.map_or(0, |v| v[0]);
    let pmds = mask("pmd-cpu-mask")?;
    let mut cores = vec![main];
    if let Some(p) = &pmds {
        if p.contains(&main) {
            return Err(format!(
                "other_config:pmd-cpu-mask includes CPU {main}, the main lcore (dpdk-lcore-mask): brisk's control thread runs there"
            ));
        }
        cores.extend(p);
    }
    let list: Vec<String> = cores.iter().map(u32::to_string).collect();
    let mut eal = vec!["-l".to_string(), list.join(",")];
    if let Some(m) = get("dpdk-socket-mem") {
        eal.push(format!("--socket-mem={m}"));
    }
    if let Some(x) = get("dpdk-extra") {
        eal.extend(x.split_whitespace().map(String::from));
    }
    Ok((eal, pmds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eal_as_ovs_maps_other_config() {
        let oc = |kv: &[(&str, &str)]| -> Vec<(String, String)> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let (eal, w) = eal_from_config(&oc(&[
            ("pmd-cpu-mask", "0x6"),
            ("dpdk-extra", "--no-huge -m 512"),
        ]))
        .unwrap();
        assert_eq!(eal, ["-l", "0,1,2", "--no-huge", "-m", "512"]);
        assert_eq!(w, Some(vec![1, 2]));
        let (eal, w) = eal_from_config(&oc(&[
            ("dpdk-lcore-mask", "2"),
            ("dpdk-socket-mem", "1024"),
        ]))
        .unwrap();
        assert_eq!(eal, ["-l", "1", "--socket-mem=1024"]);
        assert_eq!(w, None);
        assert!(eal_from_config(&oc(&[("pmd-cpu-mask", "zz")]))
            .unwrap_err()
            .contains("pmd-cpu-mask"));
        assert!(eal_from_config(&oc(&[("pmd-cpu-mask", "1")]))
            .unwrap_err()
            .contains("main lcore"));
    }
}
