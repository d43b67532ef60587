//! What the switch answers OpenFlow requests with: its description, ports, tables and
//! flows, read from the same bridge, port list and counter registry as `brisk ctl`.

use crate::runtime::counters::{collect, family};
use crate::runtime::state::{RtKind, Shared};
use openflow::errors as e;
use openflow::flow_mod::{
    encode_flow_stats, Command, FlowModMsg, FlowStatsEntry, FlowStatsRequest,
};
use openflow::multipart::{self as mp, MpRequest, PortDesc, PortStats, ReplyWriter};
use openflow::OfError;
use pipeline::bridge::port_config as pc;
use pipeline::ofctl::Match;
use pipeline::tables::Rule;
use std::sync::atomic::Ordering;

/// The tables' names, as controllers set them with table-features requests (kept for the
/// switch's life, shared by every connection).
pub struct TableNames(parking_lot::Mutex<Vec<String>>);

impl Default for TableNames {
    fn default() -> Self {
        TableNames(parking_lot::Mutex::new(vec![String::new(); 255]))
    }
}

/// The datapath id: the bridge name's hash (stable across restarts), as 16 hex digits.
pub(crate) fn datapath_id(sh: &Shared) -> u64 {
    let set = sh.datapath_id.load(std::sync::atomic::Ordering::Relaxed);
    if set != 0 {
        return set;
    }
    // FNV-1a over the name; the top 16 bits zero, as OVS's MAC-derived ids are 48-bit.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in sh.bridge.name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h & 0x0000_ffff_ffff_ffff
}

fn overlaps(a: &Match, b: &Match) -> bool {
    (0..pipeline::flow::FLOW_WORDS)
        .all(|i| (a.value.w[i] ^ b.value.w[i]) & a.mask.w[i] & b.mask.w[i] == 0)
}

/// The checks OVS makes of a flow-mod before it reaches the tables. `earlier`: the
/// flow-mods of the same batch before it, which `check_overlap` sees as if each had been
/// applied on its own (only their adds: an earlier delete is not taken into account).
pub(super) fn check_flow_mod<'a>(
    sh: &Shared,
    fm: &FlowModMsg,
    earlier: impl IntoIterator<Item = &'a FlowModMsg>,
) -> Result<(), OfError> {
    if matches!(fm.command, Command::Delete | Command::DeleteStrict) {
        return Ok(());
    }
    openflow::check::check_actions(&fm.entry)?;
    let f = &fm.entry;
    if fm.command == Command::Add && f.flags.check_overlap {
        let clash = |e: &pipeline::ofctl::FlowEntry| {
            e.table_id() == f.table_id()
                && e.priority == f.priority
                && overlaps(&e.matches, &f.matches)
        };
        let tables = sh.bridge.tables();
        let in_table = tables
            .table(f.table_id())
            .is_some_and(|t| t.rules_any_order().any(|r| clash(&r.entry)));
        let in_batch = || {
            earlier
                .into_iter()
                .any(|p| p.command == Command::Add && clash(&p.entry))
        };
        if in_table || in_batch() {
            return Err(OfError::new(
                (e::FLOW_MOD_FAILED, e::FLOW_MOD_OVERLAP),
                format!(
                    "table {}: a flow of priority {} overlaps (check_overlap)",
                    f.table_id(),
                    f.priority
                ),
            ));
        }
    }
    Ok(())
}

fn selected(r: &Rule, q: &FlowStatsRequest) -> bool {
    r.entry.matches.is_within(&q.matches)
        && (r.entry.cookie ^ q.cookie) & q.cookie_mask == 0
        && q.out_port.is_none_or(|p| r.entry.outputs_to(p))
        && q.out_group.is_none_or(|g| {
            r.entry
                .actions
                .iter()
                .any(|a| matches!(a, pipeline::ofctl::Action::Group(x) if *x == g))
        })
}

/// Answers a multipart request.
pub(super) fn multipart(
    sh: &Shared,
    sh_names: &TableNames,
    v: u8,
    xid: u32,
    req: MpRequest,
    out: &mut Vec<u8>,
) -> Result<(), OfError> {
    let nx_aggregate = matches!(req, MpRequest::NxAggregate(_));
    match req {
        MpRequest::Desc => out.extend_from_slice(&mp::desc_reply(
            v,
            xid,
            &mp::Desc {
                mfr: "brisk".into(),
                hw: "brisk userspace switch (DPDK)".into(),
                sw: env!("CARGO_PKG_VERSION").into(),
                serial: "None".into(),
                dp: sh.bridge.name.clone(),
            },
        )),
        MpRequest::PortDesc(only) => {
            let ports: Vec<PortDesc> = port_descs(sh)
                .into_iter()
                .filter(|p| only.is_none_or(|o| o == p.port_no))
                .collect();
            out.extend_from_slice(&mp::port_desc_reply(v, xid, &ports));
        }
        MpRequest::PortStats(only) => {
            let ports: Vec<PortStats> = port_stats(sh)
                .into_iter()
                .filter(|p| only.is_none_or(|o| o == p.port_no))
                .collect();
            out.extend_from_slice(&mp::port_stats_reply(v, xid, &ports));
        }
        MpRequest::Flow(q) => flow_stats(sh, v, xid, &q, false, out),
        MpRequest::NxFlow(q) => flow_stats(sh, v, xid, &q, true, out),
        MpRequest::Aggregate(q) | MpRequest::NxAggregate(q) => {
            crate::runtime::ctl::request_all(sh, 0);
            let tables = sh.bridge.tables();
            let (mut p, mut b, mut n) = (0u64, 0u64, 0u32);
            for (tid, t) in tables.iter() {
                if q.table.is_some_and(|x| x != tid) {
                    continue;
                }
                for r in t.rules().filter(|r| selected(r, &q)) {
                    p += r.stats.n_packets.load(Ordering::Relaxed);
                    b += r.stats.n_bytes.load(Ordering::Relaxed);
                    n += 1;
                }
            }
            out.extend_from_slice(&if nx_aggregate {
                openflow::of10::nx_aggregate_reply(xid, p, b, n)
            } else {
                mp::aggregate_reply(v, xid, p, b, n)
            });
        }
        MpRequest::Table => {
            crate::runtime::ctl::request_all(sh, 0);
            let tables = sh.bridge.tables();
            let mut rows = Vec::with_capacity(254);
            for id in 0..254u8 {
                let (active, matched) = tables.table(id).map_or((0, 0), |t| {
                    (
                        t.len() as u32,
                        t.rules()
                            .map(|r| r.stats.n_packets.load(Ordering::Relaxed))
                            .sum::<u64>(),
                    )
                });
                rows.push((id, active, matched, matched));
            }
            out.extend_from_slice(&mp::table_stats_reply(v, xid, &rows));
        }
        MpRequest::MeterFeatures => {
            out.extend_from_slice(&openflow::meter::meter_features_reply(v, xid))
        }
        MpRequest::MeterStats(id) => {
            let tables = sh.bridge.tables();
            let now = sh.now_ms();
            let refs = tables.meter_ref_counts();
            let meters: Vec<_> = tables
                .meters()
                .filter(|m| id.is_none_or(|i| i == m.config.id))
                .map(|m| {
                    let n = refs.get(&m.config.id).copied().unwrap_or(0);
                    (m.config.id, n, m.stats(), m.created_ms)
                })
                .collect();
            let entries: Vec<openflow::meter::MeterStatsEntry<'_>> = meters
                .iter()
                .map(
                    |(id, flows, st, created)| openflow::meter::MeterStatsEntry {
                        id: *id,
                        flow_count: *flows as u32,
                        stats: st,
                        age_ms: now.saturating_sub(*created),
                    },
                )
                .collect();
            out.extend_from_slice(&openflow::meter::meter_stats_reply(v, xid, &entries));
        }
        MpRequest::MeterConfig(id) => {
            let tables = sh.bridge.tables();
            let configs: Vec<&pipeline::meter::MeterConfig> = tables
                .meters()
                .map(|m| &m.config)
                .filter(|c| id.is_none_or(|i| i == c.id))
                .collect();
            out.extend_from_slice(&openflow::meter::meter_config_reply(v, xid, &configs));
        }
        MpRequest::TableFeatures(body) => {
            let mut names = sh_names.0.lock();
            if !body.is_empty() {
                for (id, name) in mp::decode_table_features(&body)? {
                    names[usize::from(id)] = name;
                }
            }
            let limit = sh.bridge.tables().max_flows_per_table as u32;
            let tables: Vec<mp::TableFeatures> = (0..254u8)
                .map(|id| mp::TableFeatures {
                    id,
                    name: names[usize::from(id)].clone(),
                    max_entries: limit,
                })
                .collect();
            out.extend_from_slice(&mp::table_features_reply(v, xid, &tables));
        }
        MpRequest::GroupDesc(_) | MpRequest::GroupStats(_) | MpRequest::GroupFeatures => {
            group_multipart(sh, v, xid, req, out)
        }
        MpRequest::Other(_) => {
            return Err(OfError::new(
                (e::BAD_REQUEST, e::BAD_REQUEST_MULTIPART),
                "this multipart request is not supported by brisk yet",
            ))
        }
    }
    Ok(())
}

/// The group multipart requests.
fn group_multipart(sh: &Shared, v: u8, xid: u32, req: MpRequest, out: &mut Vec<u8>) {
    match req {
        MpRequest::GroupDesc(only) => {
            let tables = sh.bridge.tables();
            let groups: Vec<&pipeline::ofctl::GroupEntry> = tables
                .groups()
                .filter(|g| only.is_none_or(|o| o == g.entry.id))
                .map(|g| &g.entry)
                .collect();
            out.extend_from_slice(&openflow::group::group_desc_reply(v, xid, &groups));
        }
        MpRequest::GroupStats(only) => {
            crate::runtime::ctl::request_all(sh, 0);
            let now = sh.now_ms();
            let tables = sh.bridge.tables();
            let stats: Vec<openflow::group::GroupStats> = tables
                .groups()
                .filter(|g| only.is_none_or(|o| o == g.entry.id))
                .map(|g| {
                    let age = now.saturating_sub(g.created_ms);
                    let l = |s: &pipeline::tables::RuleStats| {
                        (
                            s.n_packets.load(Ordering::Relaxed),
                            s.n_bytes.load(Ordering::Relaxed),
                        )
                    };
                    let (packets, bytes) = l(&g.stats);
                    openflow::group::GroupStats {
                        id: g.entry.id,
                        ref_count: tables.group_refs(g.entry.id) as u32,
                        packets,
                        bytes,
                        duration: ((age / 1000) as u32, ((age % 1000) * 1_000_000) as u32),
                        buckets: g.bucket_stats.iter().map(l).collect(),
                    }
                })
                .collect();
            out.extend_from_slice(&openflow::group::group_stats_reply(v, xid, &stats));
        }
        MpRequest::GroupFeatures => out.extend_from_slice(&openflow::group::group_features_reply(
            v,
            xid,
            sh.bridge.limits.max_groups as u32,
        )),
        _ => {}
    }
}

/// Flow statistics; `nx`: OpenFlow 1.0's NXST_FLOW (NXM matches).
fn flow_stats(sh: &Shared, v: u8, xid: u32, q: &FlowStatsRequest, nx: bool, out: &mut Vec<u8>) {
    crate::runtime::ctl::request_all(sh, 0);
    let now = sh.now_ms();
    let tables = sh.bridge.tables();
    let mut w = if nx {
        ReplyWriter::nx(xid, openflow::of10::NXST_FLOW)
    } else {
        ReplyWriter::new(v, xid, mp::mp::FLOW)
    };
    let encode = |s: &FlowStatsEntry<'_>, buf: &mut Vec<u8>| match (nx, v) {
        (true, _) => openflow::of10::encode_nx_flow_stats(s, buf),
        (false, openflow::OFP10) => openflow::of10::encode_std_flow_stats(s, buf),
        _ => encode_flow_stats(s, v, buf),
    };
    for (tid, t) in tables.iter() {
        if q.table.is_some_and(|x| x != tid) {
            continue;
        }
        for r in t.rules().filter(|r| selected(r, q)) {
            let age = now.saturating_sub(r.created_ms);
            let used = r.stats.used_ms.load(Ordering::Relaxed);
            let at = w.buf().len();
            encode(
                &FlowStatsEntry {
                    entry: &r.shown(),
                    duration_sec: (age / 1000) as u32,
                    duration_nsec: ((age % 1000) * 1_000_000) as u32,
                    idle_age: (now.saturating_sub(if used == 0 { r.created_ms } else { used })
                        / 1000) as u32,
                    hard_age: (now.saturating_sub(r.modified_ms()) / 1000) as u32,
                    packets: r.stats.n_packets.load(Ordering::Relaxed),
                    bytes: r.stats.n_bytes.load(Ordering::Relaxed),
                },
                w.buf(),
            );
            w.entry_done(at);
        }
    }
    out.extend_from_slice(&w.finish());
}

fn mac_bytes(mac: u64) -> [u8; 6] {
    let b = mac.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// Every port, as OpenFlow describes it.
pub(super) fn port_descs(sh: &Shared) -> Vec<PortDesc> {
    let ports = sh.ports();
    let bridge_ports = sh.bridge.ports();
    ports
        .list
        .iter()
        .map(|p| {
            let (mac, link) = match &p.kind {
                RtKind::Device { dev, mac, .. } => (*mac, Some(dev.link())),
                RtKind::Geneve(_) => (0, None),
            };
            let config = bridge_ports.get(p.ofport).map_or(0, |b| b.config_bits());
            // A port a controller took down sends and receives nothing, as a link down.
            let up = link.is_none_or(|l| l.up) && config & pc::PORT_DOWN == 0;
            let speed = link.map_or(0, |l| l.speed_mbps.saturating_mul(1000));
            PortDesc {
                port_no: p.ofport,
                hw_addr: mac_bytes(mac),
                name: p.name.clone(),
                config,
                state: if up { mp::PS_LIVE } else { mp::PS_LINK_DOWN },
                curr: 0,
                curr_speed: speed,
                max_speed: speed,
            }
        })
        .collect()
}

/// Every port's counters, from the counter registry `dump-ports` reads.
fn port_stats(sh: &Shared) -> Vec<PortStats> {
    let fams = collect(sh);
    let ports = sh.ports();
    let secs = sh.started.elapsed().as_secs() as u32;
    ports
        .list
        .iter()
        .map(|p| {
            let v = |name: &str| family(&fams, name).map_or(0, |f| f.get(&[("port", &p.name)]));
            PortStats {
                port_no: p.ofport,
                rx_packets: v("brisk_port_rx_packets_total"),
                tx_packets: v("brisk_port_tx_packets_total"),
                rx_bytes: v("brisk_port_rx_bytes_total"),
                tx_bytes: v("brisk_port_tx_bytes_total"),
                rx_dropped: v("brisk_port_rx_missed_total"),
                tx_dropped: v("brisk_port_tx_dropped_total"),
                rx_errors: v("brisk_port_rx_errors_total"),
                tx_errors: v("brisk_port_tx_errors_total"),
                duration_sec: secs,
            }
        })
        .collect()
}

/// NXT_TLV_TABLE_MOD on the bridge's TLV map (the one `brisk ctl add-tlv-map` changes),
/// refused with Nicira's NXTTMFC_* codes as OVS refuses it.
pub(super) fn tlv_table_mod(
    sh: &Shared,
    command: u16,
    maps: &[openflow::message::TlvMapping],
) -> Result<(), OfError> {
    use openflow::message::{TLV_ADD, TLV_CLEAR, TLV_DELETE};
    use pipeline::geneve::TlvError;
    let nx = |code: u16, msg: String| OfError::new((e::NX_EXPERIMENTER, code), msg);
    sh.bridge.update_underlay(|u| {
        let mut next = u.tlv;
        match command {
            TLV_CLEAR => next.slots = Default::default(),
            TLV_DELETE => {
                for m in maps {
                    if let Some(s) = next.slots.get_mut(usize::from(m.index)) {
                        *s = None;
                    }
                }
            }
            TLV_ADD => {
                for m in maps {
                    let spec = format!(
                        "{{class={:#x},type={:#x},len={}}}->tun_metadata{}",
                        m.class, m.ty, m.len, m.index
                    );
                    next.add(&spec).map_err(|err| match err {
                        TlvError::BadLength(_) => nx(e::TLV_BAD_OPT_LEN, err.to_string()),
                        TlvError::BadSlot(_) => nx(e::TLV_BAD_FIELD_IDX, err.to_string()),
                        TlvError::Duplicate(ref what) if what.starts_with("tun_metadata") => {
                            nx(e::TLV_ALREADY_MAPPED, err.to_string())
                        }
                        _ => nx(e::TLV_DUP_ENTRY, err.to_string()),
                    })?;
                }
            }
            _ => return Err(nx(e::TLV_BAD_COMMAND, format!("TLV command {command}"))),
        }
        u.tlv = next;
        Ok(())
    })
}
