//! The counter registry: every counter the switch keeps — ports, worker stages, drops by
//! reason (encapsulation's among them), decapsulation errors, ARP input, conntrack, upcalls, the
//! control and metrics listeners — declared here once with its name, help text and labels.
//! Every view reads it: `pmd-stats`, `drop-stats`, `dump-ports`, the Prometheus endpoint and
//! the stats line. Per-worker counters stay the worker's own (published every 100 ms);
//! this module only reads snapshots.

use super::state::{Shared, WorkerStats};
use pipeline::dpaction::DropReason;
use pipeline::geneve::DecapError;
use std::sync::atomic::{AtomicU64, Ordering};

/// Prometheus metric type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only grows (until cleared).
    Counter,
    /// A level.
    Gauge,
}

/// One value of a family, with its labels and, when `drop-stats` shows it, where.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Label pairs.
    pub labels: Vec<(&'static str, String)>,
    /// Value.
    pub value: u64,
    /// `drop-stats` section and row name, if it shows there.
    pub drop_stats: Option<(&'static str, &'static str)>,
}

/// A metric family: one counter declared once, with its samples now.
#[derive(Clone, Debug)]
pub struct Family {
    /// Metric name (Prometheus).
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Type.
    pub kind: Kind,
    /// Samples.
    pub samples: Vec<Sample>,
}

impl Family {
    fn new(name: &'static str, help: &'static str, kind: Kind) -> Family {
        Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    fn push(&mut self, labels: Vec<(&'static str, String)>, value: u64) {
        self.samples.push(Sample {
            labels,
            value,
            drop_stats: None,
        });
    }

    fn push_shown(
        &mut self,
        labels: Vec<(&'static str, String)>,
        value: u64,
        section: &'static str,
        row: &'static str,
    ) {
        self.samples.push(Sample {
            labels,
            value,
            drop_stats: Some((section, row)),
        });
    }

    /// The value of the sample whose labels include every `(key, value)` of `want`.
    pub fn get(&self, want: &[(&str, &str)]) -> u64 {
        self.samples
            .iter()
            .find(|s| {
                want.iter()
                    .all(|(wk, wv)| s.labels.iter().any(|(k, v)| k == wk && v == wv))
            })
            .map_or(0, |s| s.value)
    }
}

/// A port's counters: (metric, help, value of its software counters / NIC counters).
type PortRead = fn(&super::state::PortCounters, &crate::netdev::PortStats) -> u64;

const PORT_COUNTERS: &[(&str, &str, PortRead)] = &[
    ("brisk_port_rx_packets_total", "Packets received", |c, _| {
        ld(&c.rx_packets)
    }),
    ("brisk_port_rx_bytes_total", "Bytes received", |c, _| {
        ld(&c.rx_bytes)
    }),
    ("brisk_port_tx_packets_total", "Packets sent", |c, _| {
        ld(&c.tx_packets)
    }),
    ("brisk_port_tx_bytes_total", "Bytes sent", |c, _| {
        ld(&c.tx_bytes)
    }),
    (
        "brisk_port_tx_dropped_total",
        "Packets the driver did not take",
        |c, _| ld(&c.tx_dropped),
    ),
    (
        "brisk_port_rx_missed_total",
        "Packets the NIC dropped (rx ring full)",
        |_, h| h.imissed,
    ),
    (
        "brisk_port_rx_errors_total",
        "Receive errors the device counted",
        |_, h| h.ierrors,
    ),
    (
        "brisk_port_rx_nombuf_total",
        "Receives that found no packet buffer",
        |_, h| h.rx_nombuf,
    ),
    (
        "brisk_port_tx_errors_total",
        "Transmit errors the device counted",
        |_, h| h.oerrors,
    ),
];

/// A worker's counters: (metric, help, kind, value).
type WorkerRead = fn(&WorkerStats) -> u64;

const WORKER_COUNTERS: &[(&str, &str, Kind, WorkerRead)] = &[
    (
        "brisk_worker_packets_total",
        "Packets received",
        Kind::Counter,
        |s| s.fp.packets,
    ),
    (
        "brisk_worker_passes_total",
        "Datapath passes (lookups, including after recirculation)",
        Kind::Counter,
        |s| s.fp.passes,
    ),
    (
        "brisk_worker_recirculations_total",
        "Recirculations",
        Kind::Counter,
        |s| s.fp.recirculations,
    ),
    (
        "brisk_worker_emc_hits_total",
        "EMC hits",
        Kind::Counter,
        |s| s.fp.emc_hits,
    ),
    (
        "brisk_worker_chain_hits_total",
        "Later passes resolved by their first pass's chain (no hash, no EMC probe)",
        Kind::Counter,
        |s| s.fp.chain_hits,
    ),
    (
        "brisk_worker_ct_hints_learned_total",
        "Connections a ct met without its chain's hint (hint misses; each becomes the hint)",
        Kind::Counter,
        |s| s.fp.ct_hints_learned,
    ),
    (
        "brisk_worker_megaflow_hits_total",
        "Megaflow classifier hits",
        Kind::Counter,
        |s| s.fp.megaflow_hits,
    ),
    (
        "brisk_worker_emc_bypassed_total",
        "Lookups made with the EMC bypassed (its hit rate was too low to pay)",
        Kind::Counter,
        |s| s.fp.emc_bypassed,
    ),
    (
        "brisk_worker_subtable_lookups_total",
        "Megaflow classifier subtables probed (per hit: OVS's avg. subtable lookups per megaflow hit)",
        Kind::Counter,
        |s| s.fp.subtable_lookups,
    ),
    (
        "brisk_worker_upcalls_total",
        "Slow-path translations",
        Kind::Counter,
        |s| s.fp.upcalls,
    ),
    (
        "brisk_worker_upcall_drops_total",
        "Packets dropped over the upcall budget",
        Kind::Counter,
        |s| s.fp.upcall_drops,
    ),
    (
        "brisk_worker_revalidations_total",
        "Hits on stale megaflows translated again",
        Kind::Counter,
        |s| s.fp.revalidations,
    ),
    (
        "brisk_worker_megaflows_installed_total",
        "Megaflows installed",
        Kind::Counter,
        |s| s.fp.megaflows_installed,
    ),
    (
        "brisk_worker_megaflows_removed_total",
        "Megaflows removed (idle, stale or replaced)",
        Kind::Counter,
        |s| s.fp.megaflows_removed,
    ),
    (
        "brisk_worker_parse_errors_total",
        "Packets whose headers could not all be parsed",
        Kind::Counter,
        |s| s.fp.parse_errors,
    ),
    (
        "brisk_worker_busy_cycles_total",
        "TSC cycles in iterations with packets",
        Kind::Counter,
        |s| s.busy_cycles,
    ),
    (
        "brisk_worker_idle_cycles_total",
        "TSC cycles in empty iterations",
        Kind::Counter,
        |s| s.idle_cycles,
    ),
    (
        "brisk_worker_iterations_total",
        "Poll iterations",
        Kind::Counter,
        |s| s.iterations,
    ),
    (
        "brisk_worker_tx_batches_total",
        "Output batches sent",
        Kind::Counter,
        |s| s.tx_batches,
    ),
    (
        "brisk_worker_tx_batch_packets_total",
        "Packets in output batches",
        Kind::Counter,
        |s| s.tx_packets,
    ),
    (
        "brisk_worker_megaflows",
        "Megaflows cached now",
        Kind::Gauge,
        |s| s.megaflows as u64,
    ),
    (
        "brisk_worker_masks",
        "Megaflow masks now",
        Kind::Gauge,
        |s| s.masks as u64,
    ),
    (
        "brisk_worker_tunnel_parked",
        "Packets waiting now for a tunnel next hop to answer ARP",
        Kind::Gauge,
        |s| s.parked as u64,
    ),
    (
        "brisk_worker_tunnel_parked_total",
        "Packets that waited for a tunnel next hop",
        Kind::Counter,
        |s| s.fp.tunnel.parked,
    ),
];

/// Stage cycles of the fast path: (stage, value).
const STAGE_CYCLES: &[(&str, WorkerRead)] = &[
    ("decap", |s| s.fp.tunnel.cycles_decap),
    ("parse", |s| s.fp.cycles_parse),
    ("lookup", |s| s.fp.cycles_lookup),
    ("upcall", |s| s.fp.cycles_upcall),
    ("actions", |s| s.fp.cycles_actions),
];

fn ld(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Every family, now. Worker snapshots are read once each.
pub fn collect(shared: &Shared) -> Vec<Family> {
    let workers: Vec<WorkerStats> = shared.workers.iter().map(|w| *w.stats.lock()).collect();
    let mut out = ports(shared);
    out.extend(worker_families(&workers));
    out.extend(drops(&workers));
    out.push(arp(&workers));
    out.extend(listeners(shared));
    out.extend(ovsdb(shared));
    out.extend(conntrack(shared));
    out.extend(ipf(shared));
    out.extend(packet_ins(shared));
    out.extend(learned(shared));
    let mut f = Family::new("brisk_flows", "Flows installed", Kind::Gauge);
    f.push(vec![], shared.bridge.tables().n_flows() as u64);
    out.push(f);
    out
}

fn ports(shared: &Shared) -> Vec<Family> {
    let ports = shared.ports();
    let stats: Vec<_> = ports
        .list
        .iter()
        .map(|p| p.dev().and_then(|d| d.stats()).unwrap_or_default())
        .collect();
    PORT_COUNTERS
        .iter()
        .map(|(name, help, read)| {
            let mut f = Family::new(name, help, Kind::Counter);
            for (p, hw) in ports.list.iter().zip(&stats) {
                f.push(
                    vec![("port", p.name.clone()), ("ofport", p.ofport.to_string())],
                    read(&p.counters, hw),
                );
            }
            f
        })
        .collect()
}

fn worker_families(workers: &[WorkerStats]) -> Vec<Family> {
    let mut out: Vec<Family> = WORKER_COUNTERS
        .iter()
        .map(|(name, help, kind, read)| {
            let mut f = Family::new(name, help, *kind);
            for (i, s) in workers.iter().enumerate() {
                f.push(vec![("worker", i.to_string())], read(s));
            }
            f
        })
        .collect();
    let mut f = Family::new(
        "brisk_worker_stage_cycles_total",
        "TSC cycles per fast-path stage",
        Kind::Counter,
    );
    for (i, s) in workers.iter().enumerate() {
        for (stage, read) in STAGE_CYCLES {
            f.push(
                vec![("worker", i.to_string()), ("stage", (*stage).to_string())],
                read(s),
            );
        }
    }
    out.push(f);
    out
}

/// Drops by reason, summed over workers: the datapath's (encapsulation's included:
/// `tunnel_*`) and decapsulation's (in `drop-stats` sections of those names).
fn drops(workers: &[WorkerStats]) -> Vec<Family> {
    let sum = |read: &dyn Fn(&WorkerStats) -> u64| workers.iter().map(read).sum::<u64>();
    let mut f = Family::new(
        "brisk_drops_total",
        "Packets dropped by the datapath, by reason",
        Kind::Counter,
    );
    for r in DropReason::ALL {
        let v = sum(&|s| s.fp.drops[r.index()]);
        f.push_shown(vec![("reason", r.name().into())], v, "datapath", r.name());
    }
    for e in DecapError::ALL {
        let v = sum(&|s| s.fp.tunnel.decap[e.index()]);
        let label = format!("decap_{}", e.name());
        f.push_shown(vec![("reason", label)], v, "decapsulation", e.name());
    }
    let mut p = Family::new(
        "brisk_parse_errors_total",
        "Packets whose headers could not all be parsed (processed anyway, as OVS does)",
        Kind::Counter,
    );
    p.push_shown(
        vec![],
        sum(&|s| s.fp.parse_errors),
        "datapath",
        "parse_errors",
    );
    vec![f, p]
}

fn arp(workers: &[WorkerStats]) -> Family {
    let mut f = Family::new(
        "brisk_underlay_arp_total",
        "ARP on the uplink: requests for the node's address answered, neighbours learned, requests sent for tunnel next hops",
        Kind::Counter,
    );
    let answered = workers.iter().map(|s| s.fp.tunnel.arp_answered).sum();
    let learned = workers.iter().map(|s| s.fp.tunnel.arp_learned).sum();
    let requested = workers.iter().map(|s| s.fp.tunnel.arp_requests).sum();
    f.push_shown(
        vec![("what", "answered".into())],
        answered,
        "arp input",
        "answered",
    );
    f.push_shown(
        vec![("what", "learned".into())],
        learned,
        "arp input",
        "learned",
    );
    f.push_shown(
        vec![("what", "requested".into())],
        requested,
        "arp input",
        "requested",
    );
    f
}

/// The database connection of `brisk run --ovsdb`.
fn ovsdb(shared: &Shared) -> Vec<Family> {
    let Some(st) = shared.ovsdb.lock().clone() else {
        return Vec::new();
    };
    st.rows()
        .iter()
        .map(|(row, v)| {
            let (name, help, kind) = match *row {
                "connected" => (
                    "brisk_ovsdb_connected",
                    "Whether the database is connected (0/1)",
                    Kind::Gauge,
                ),
                "connects" => (
                    "brisk_ovsdb_connects_total",
                    "Connections made to the database",
                    Kind::Counter,
                ),
                "disconnects" => (
                    "brisk_ovsdb_disconnects_total",
                    "Database connections lost",
                    Kind::Counter,
                ),
                "updates" => (
                    "brisk_ovsdb_updates_total",
                    "Database updates applied",
                    Kind::Counter,
                ),
                "bad_messages" => (
                    "brisk_ovsdb_bad_messages_total",
                    "Database messages refused as malformed",
                    Kind::Counter,
                ),
                "transactions" => (
                    "brisk_ovsdb_transactions_total",
                    "Write-back transactions sent",
                    Kind::Counter,
                ),
                "transaction_errors" => (
                    "brisk_ovsdb_transaction_errors_total",
                    "Write-back transactions the database refused",
                    Kind::Counter,
                ),
                "ports_added" => (
                    "brisk_ovsdb_ports_added_total",
                    "Ports started because the database added them",
                    Kind::Counter,
                ),
                "ports_removed" => (
                    "brisk_ovsdb_ports_removed_total",
                    "Ports stopped because the database removed or changed them",
                    Kind::Counter,
                ),
                _ => (
                    "brisk_ovsdb_resumes_total",
                    "Reconnections resumed from the last transaction seen (monitor_cond_since)",
                    Kind::Counter,
                ),
            };
            let mut f = Family::new(name, help, kind);
            f.push(vec![], *v);
            f
        })
        .collect()
}

fn listeners(shared: &Shared) -> Vec<Family> {
    let list = shared.listeners.lock().clone();
    let Some((_, first)) = list.first() else {
        return Vec::new();
    };
    first
        .rows()
        .iter()
        .enumerate()
        .map(|(k, (row, _))| {
            let kind = if *row == "open" {
                Kind::Gauge
            } else {
                Kind::Counter
            };
            let (name, help) = super::serve::ServeStats::metric(row);
            let mut f = Family::new(name, help, kind);
            for (listener, st) in &list {
                let section: &'static str = match *listener {
                    "control" => "control listener",
                    "openflow" => "openflow listeners",
                    "appctl" => "unixctl listener",
                    _ => "metrics listener",
                };
                f.push_shown(
                    vec![("listener", (*listener).to_string())],
                    st.rows()[k].1,
                    section,
                    row,
                );
            }
            f
        })
        .collect()
}

/// Packet-ins on their way to the controllers (`packet_in.rs`): queued by the workers
/// and the control thread (packet-outs, resumes), lost to a full queue, handed to
/// connections, lost by connections that did not keep up, and made while no connection
/// wanted them. A full queue and an unwanted packet-in are also the datapath's
/// `controller` drops.
fn packet_ins(shared: &Shared) -> Vec<Family> {
    let p = &shared.packet_ins;
    let sum = |f: &dyn Fn(&super::packet_in::Source) -> u64| p.sources().iter().map(f).sum::<u64>();
    let rows: [(&'static str, &'static str, &'static str, u64); 5] = [
        (
            "brisk_packet_in_queued_total",
            "Packet-ins queued for the controllers (workers and control thread)",
            "queued",
            sum(&|s| ld(&s.queued)),
        ),
        (
            "brisk_packet_in_overflow_total",
            "Packet-ins lost because a worker's queue to the controllers was full",
            "worker queue full",
            sum(&|s| ld(&s.overflow)),
        ),
        (
            "brisk_packet_in_delivered_total",
            "Packet-ins handed to OpenFlow connections (once per connection)",
            "delivered",
            ld(&p.delivered),
        ),
        (
            "brisk_packet_in_connection_drops_total",
            "Packet-ins lost by connections that did not keep up (those connected now)",
            "slow connection",
            p.conn_dropped(),
        ),
        (
            "brisk_packet_in_unclaimed_total",
            "Packet-ins no connection wanted (none connected, or none with the controller id)",
            "unclaimed",
            ld(&p.unclaimed),
        ),
    ];
    section_counters("packet-ins", rows)
}

/// Flows `learn` actions learned: queued by the workers (and lost to a full queue), and
/// what the learner made of them.
fn learned(shared: &Shared) -> Vec<Family> {
    let l = &shared.learner;
    let sum = |f: &dyn Fn(&super::learner::Source) -> u64| l.sources().iter().map(f).sum::<u64>();
    let st = &l.stats;
    let rows: [(&'static str, &'static str, &'static str, u64); 7] = [
        (
            "brisk_learn_queued_total",
            "Learned flows queued for the learner (workers and control thread)",
            "queued",
            sum(&|s| ld(&s.queued)),
        ),
        (
            "brisk_learn_overflow_total",
            "Learned flows lost because a worker's queue to the learner was full",
            "queue full",
            sum(&|s| ld(&s.overflow)),
        ),
        (
            "brisk_learn_added_total",
            "Learned flows added to the tables",
            "added",
            ld(&st.added),
        ),
        (
            "brisk_learn_modified_total",
            "Learned flows that changed an existing flow's actions or cookie",
            "modified",
            ld(&st.modified),
        ),
        (
            "brisk_learn_refreshed_total",
            "Learned flows already installed: their hard timeout restarted",
            "refreshed",
            ld(&st.refreshed),
        ),
        (
            "brisk_learn_refused_total",
            "Learned flows refused because their table was full",
            "refused (table full)",
            ld(&st.refused),
        ),
        (
            "brisk_learn_batches_total",
            "Batches of learned flows applied (one table version each at most)",
            "batches",
            ld(&st.batches),
        ),
    ];
    section_counters("learn", rows)
}

/// Unlabelled counters shown as rows of one `drop-stats` section: (metric, help, row, value).
fn section_counters<const N: usize>(
    section: &'static str,
    rows: [(&'static str, &'static str, &'static str, u64); N],
) -> Vec<Family> {
    rows.into_iter()
        .map(|(name, help, row, v)| {
            let mut f = Family::new(name, help, Kind::Counter);
            f.push_shown(vec![], v, section, row);
            f
        })
        .collect()
}

fn conntrack(shared: &Shared) -> Vec<Family> {
    let ct = shared.bridge.conntrack.stats();
    let rows: [(&'static str, &'static str, &'static str, Kind, u64); 8] = [
        (
            "brisk_conntrack_connections",
            "connections",
            "Connections tracked now",
            Kind::Gauge,
            ct.connections as u64,
        ),
        (
            "brisk_conntrack_committed_total",
            "committed",
            "Connections committed",
            Kind::Counter,
            ct.committed,
        ),
        (
            "brisk_conntrack_expired_total",
            "expired",
            "Connections expired",
            Kind::Counter,
            ct.expired,
        ),
        (
            "brisk_conntrack_refused_total",
            "refused_full",
            "Commits refused because the table was full",
            Kind::Counter,
            ct.refused_full,
        ),
        (
            "brisk_conntrack_invalid_total",
            "invalid",
            "Packets conntrack found invalid",
            Kind::Counter,
            ct.invalid,
        ),
        (
            "brisk_conntrack_bad_checksum_total",
            "bad_checksum",
            "Packets conntrack found invalid for a wrong IPv4, TCP, UDP, ICMP or ICMPv6 checksum",
            Kind::Counter,
            ct.bad_checksum,
        ),
        (
            "brisk_conntrack_nat_exhausted_total",
            "nat_exhausted",
            "NAT allocations that found no free tuple",
            Kind::Counter,
            ct.nat_exhausted,
        ),
        (
            "brisk_conntrack_zone_limited_total",
            "zone_limited",
            "Commits refused because their zone held its limit of connections (ct-set-limits)",
            Kind::Counter,
            ct.zone_limited,
        ),
    ];
    rows.into_iter()
        .map(|(name, row, help, kind, v)| {
            let mut f = Family::new(name, help, kind);
            f.push_shown(vec![], v, "conntrack", row);
            f
        })
        .collect()
}

/// Fragment reassembly: what became of each fragment `ct` met (sections `ipf_v4` and
/// `ipf_v6` of `drop-stats`), and what is held now (section `ipf`).
fn ipf(shared: &Shared) -> Vec<Family> {
    use pipeline::ipf::IpfEvent;
    let st = shared.bridge.conntrack.ipf.status();
    let mut f = Family::new(
        "brisk_ipf_fragments_total",
        "IP fragments conntrack met, by IP version and by what became of them",
        Kind::Counter,
    );
    for (v6, ip, section) in [(false, "v4", "ipf_v4"), (true, "v6", "ipf_v6")] {
        for e in IpfEvent::ALL {
            f.push_shown(
                vec![("ip", ip.into()), ("outcome", e.name().into())],
                st.get(v6, e),
                section,
                e.name(),
            );
        }
    }
    let mut held = Family::new(
        "brisk_ipf_fragments_held",
        "IP fragments held for reassembly now",
        Kind::Gauge,
    );
    held.push_shown(vec![], st.nfrag as u64, "ipf", "held");
    let mut bytes = Family::new(
        "brisk_ipf_bytes_held",
        "Bytes of IP fragments held for reassembly now",
        Kind::Gauge,
    );
    bytes.push_shown(vec![], st.bytes, "ipf", "bytes_held");
    vec![f, held, bytes]
}

/// The family named `name`.
pub fn family<'a>(families: &'a [Family], name: &str) -> Option<&'a Family> {
    families.iter().find(|f| f.name == name)
}

/// The Prometheus text of every family.
pub fn prometheus(families: &[Family]) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    for f in families {
        let kind = match f.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(o, "# HELP {} {}.\n# TYPE {} {kind}", f.name, f.help, f.name);
        for s in &f.samples {
            let labels: Vec<String> = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            if labels.is_empty() {
                let _ = writeln!(o, "{} {}", f.name, s.value);
            } else {
                let _ = writeln!(o, "{}{{{}}} {}", f.name, labels.join(","), s.value);
            }
        }
    }
    o
}

/// `drop-stats`: every sample shown there, by section in registry order.
pub fn drop_stats(families: &[Family]) -> String {
    use std::fmt::Write;
    let mut sections: Vec<(&'static str, Vec<(&'static str, u64)>)> = Vec::new();
    for s in families.iter().flat_map(|f| &f.samples) {
        let Some((section, row)) = s.drop_stats else {
            continue;
        };
        match sections.iter_mut().find(|(t, _)| *t == section) {
            Some((_, rows)) => rows.push((row, s.value)),
            None => sections.push((section, vec![(row, s.value)])),
        }
    }
    let mut o = String::new();
    for (title, rows) in sections {
        let _ = writeln!(o, "{title}:");
        for (row, v) in rows {
            let _ = writeln!(o, "  {row:<24} {v}");
        }
    }
    o
}
