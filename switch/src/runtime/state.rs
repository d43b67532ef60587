//! State shared by the control thread and the poll-mode workers.

#[cfg(feature = "dpdk")]
use crate::dpdk::EthPort;
use crate::kernel::{AfPacketPort, TapPort};
use crate::netdev::{LinkInfo, PortStats};
use crate::pkt::{PktBatch, PktPool, Pools};

use parking_lot::{Mutex, RwLock};
use pipeline::bridge::Bridge;
use pipeline::fastpath::{FastPathStats, MegaflowInfo};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// Software counters of one port (the NIC's own counters come from `rte_eth_stats`).
#[derive(Debug, Default)]
pub struct PortCounters {
    /// Packets received (as the workers saw them).
    pub rx_packets: AtomicU64,
    /// Bytes received.
    pub rx_bytes: AtomicU64,
    /// Packets handed to the driver.
    pub tx_packets: AtomicU64,
    /// Bytes handed to the driver.
    pub tx_bytes: AtomicU64,
    /// Packets the driver did not take (tx ring full), freed.
    pub tx_dropped: AtomicU64,
}

impl PortCounters {
    /// Adds `n` to a counter.
    #[inline]
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// The device behind a port.
pub enum Device {
    /// A DPDK ethdev.
    #[cfg(feature = "dpdk")]
    Eth(EthPort),
    /// brisk's AF_PACKET port (memory-mapped rings).
    AfPacket(AfPacketPort),
    /// brisk's TAP port.
    Tap(TapPort),
}

impl Device {
    /// Receives a burst from receive queue `q` into `batch`.
    #[inline]
    pub fn rx_burst(&self, q: u16, batch: &mut PktBatch, pool: &PktPool) -> usize {
        match self {
            #[cfg(feature = "dpdk")]
            Device::Eth(e) => {
                let _ = pool;
                e.rx_burst(q, batch)
            }
            Device::AfPacket(a) => a.rx_burst(q, batch, pool),
            Device::Tap(t) => t.rx_burst(batch, pool),
        }
    }

    /// Sends `batch` on transmit queue `q`; what was sent leaves the batch.
    #[inline]
    pub fn tx_burst(&self, q: u16, batch: &mut PktBatch) -> usize {
        match self {
            #[cfg(feature = "dpdk")]
            Device::Eth(e) => e.tx_burst(q, batch),
            Device::AfPacket(a) => a.tx_burst(q, batch),
            Device::Tap(t) => t.tx_burst(batch),
        }
    }

    /// Link state.
    pub fn link(&self) -> LinkInfo {
        match self {
            #[cfg(feature = "dpdk")]
            Device::Eth(e) => e.link(),
            Device::AfPacket(a) => a.netdev().link(),
            Device::Tap(t) => t.netdev().link(),
        }
    }

    /// Device counters, where the device keeps them.
    pub fn stats(&self) -> Option<PortStats> {
        match self {
            #[cfg(feature = "dpdk")]
            Device::Eth(e) => e.stats().ok(),
            Device::AfPacket(a) => Some(a.stats()),
            Device::Tap(t) => Some(t.stats()),
        }
    }

    /// A DPDK port's MTU (kernel ports: read from the kernel by name).
    pub fn dpdk_mtu(&self) -> Option<u16> {
        match self {
            #[cfg(feature = "dpdk")]
            Device::Eth(e) => e.mtu(),
            _ => None,
        }
    }

    /// Sets a DPDK port's MTU; kernel ports are set through the kernel by name.
    pub fn set_dpdk_mtu(&self, mtu: u16) -> Result<(), String> {
        match self {
            #[cfg(feature = "dpdk")]
            Device::Eth(e) => e.set_mtu(mtu),
            _ => {
                let _ = mtu;
                Err("not a DPDK port".into())
            }
        }
    }

    /// The port type as `show` prints it.
    pub fn type_name(&self) -> &'static str {
        match self {
            #[cfg(feature = "dpdk")]
            Device::Eth(_) => "dpdk",
            Device::AfPacket(_) => "afpacket",
            Device::Tap(_) => "tap",
        }
    }
}

/// A port of the running switch.
pub enum RtKind {
    /// A device: DPDK ethdev or kernel socket.
    Device {
        /// The device.
        dev: Device,
        /// Receive queues.
        rxq: u16,
        /// MAC address.
        mac: u64,
        /// Underlay address if this is the tunnel's uplink: (ip, prefix length, mtu).
        uplink: Option<(u32, u8, u16)>,
    },
    /// The Geneve tunnel port.
    Geneve(pipeline::bridge::TunnelPort),
}

/// One port.
pub struct RtPort {
    /// OpenFlow number.
    pub ofport: u32,
    /// Name.
    pub name: String,
    /// Kind and device.
    pub kind: RtKind,
    /// Counters.
    pub counters: Arc<PortCounters>,
    /// Configuration text (devargs or tunnel options) for `show`.
    pub desc: String,
}

impl RtPort {
    /// The device, if any.
    pub fn dev(&self) -> Option<&Device> {
        match &self.kind {
            RtKind::Device { dev, .. } => Some(dev),
            RtKind::Geneve(_) => None,
        }
    }
}

/// The set of ports, immutable once published (workers hold a snapshot).
#[derive(Default)]
pub struct RtPorts {
    /// Ports.
    pub list: Vec<Arc<RtPort>>,
    /// Index into `list` of the uplink, if any.
    pub uplink: Option<usize>,
    /// Index into `list` of the tunnel port, if any.
    pub tunnel: Option<usize>,
}

impl RtPorts {
    /// Index of the port with OpenFlow number `ofport`.
    pub fn index_of(&self, ofport: u32) -> Option<usize> {
        self.list.iter().position(|p| p.ofport == ofport)
    }
}

/// Per-worker published state.
#[derive(Default)]
pub struct WorkerShared {
    /// lcore (CPU without DPDK) the worker runs on.
    pub lcore: AtomicU32,
    /// Counters (published every ~100 ms).
    pub stats: Mutex<WorkerStats>,
    /// Requests from the control thread (bit flags, see `REQ_*`).
    pub requests: AtomicU32,
    /// Megaflow dump answering `REQ_DUMP_MEGAFLOWS`.
    pub megaflows: Mutex<Option<Vec<MegaflowInfo>>>,
    /// Port generation the worker is using.
    pub ports_gen: AtomicU64,
}

/// Dump megaflows.
pub const REQ_DUMP_MEGAFLOWS: u32 = 1;
/// Clear counters.
pub const REQ_CLEAR_STATS: u32 = 2;
/// Flush megaflows and EMC.
pub const REQ_FLUSH: u32 = 4;

/// What a worker reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct WorkerStats {
    /// Fast-path counters.
    pub fp: FastPathStats,
    /// TSC cycles in iterations that received packets.
    pub busy_cycles: u64,
    /// TSC cycles in iterations that received nothing.
    pub idle_cycles: u64,
    /// Poll iterations.
    pub iterations: u64,
    /// Poll iterations that received nothing.
    pub idle_iterations: u64,
    /// When these counters started (`Shared::now_ms`): the worker's start or the last
    /// `pmd-stats-clear`.
    pub since_ms: u64,
    /// Output batches sent.
    pub tx_batches: u64,
    /// Packets in output batches.
    pub tx_packets: u64,
    /// Megaflows cached now.
    pub megaflows: usize,
    /// Megaflow masks now.
    pub masks: usize,
    /// Packets waiting for a tunnel next hop now.
    pub parked: usize,
}

/// Everything the threads share.
pub struct Shared {
    /// The OpenFlow bridge.
    pub bridge: Arc<Bridge>,
    /// Ports snapshot.
    pub ports: RwLock<Arc<RtPorts>>,
    /// Bumped when `ports` changes.
    pub ports_gen: AtomicU64,
    /// Workers.
    pub workers: Vec<WorkerShared>,
    /// Stop request.
    pub stop: AtomicBool,
    /// Start time.
    pub started: std::time::Instant,
    /// TSC ticks per second.
    pub tsc_hz: u64,
    /// The vector unit of the workers' lookup kernels.
    pub simd: pipeline::fastpath::SimdPath,
    /// The node description the switch runs (`brisk run --config`; `None` with a bridge
    /// file): what `brisk ctl reload` compares a new one with, replaced when it succeeds.
    pub node: Mutex<Option<conf::node::NodeConfig>>,
    /// The packet buffer pools (last, so they are freed after everything holding buffers).
    pub pools: Pools,
    /// Held while a control-plane thread sends on the control transmit queue (queue
    /// number `workers.len()` of every port): ARP for next hops, packet-outs.
    pub control_tx: Mutex<()>,
    /// Counters of the control socket and metrics listeners (name, counters), for views.
    pub listeners: Mutex<Vec<(&'static str, Arc<super::serve::ServeStats>)>>,
    /// Counters of the database connection (`brisk run --ovsdb`), for views.
    pub ovsdb: Mutex<Option<Arc<super::ovsdb::OvsdbStats>>>,
    /// The datapath id `Bridge:other_config:datapath-id` sets (0: derived from the name).
    pub datapath_id: std::sync::atomic::AtomicU64,
    /// The OpenFlow versions a new connection may negotiate, as a hello bitmap (the
    /// bridge's `protocols`; every version brisk speaks by default).
    pub of_versions: std::sync::atomic::AtomicU32,
    /// Packet-ins on their way to the OpenFlow connections: one queue per worker, the
    /// last for the control thread (queue index = transmit queue number).
    pub packet_ins: Arc<super::packet_in::PacketIns>,
    /// Flows `learn` actions learned, on their way to the tables (queues numbered as
    /// `packet_ins`').
    pub learner: Arc<super::learner::Learner>,
}

impl Shared {
    /// Milliseconds since start.
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The current ports snapshot.
    pub fn ports(&self) -> Arc<RtPorts> {
        self.ports.read().clone()
    }

    /// Publishes a new ports snapshot.
    pub fn set_ports(&self, p: RtPorts) {
        *self.ports.write() = Arc::new(p);
        self.ports_gen.fetch_add(1, Ordering::AcqRel);
    }
}
